'use strict';
// Laravel Echo 2.x (broadcaster 'pusher') on top of pusher-js against Ferrocast: a presence room
// with here/joining/leaving, server events via listen(), whispers, and a private channel.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Env, DEFAULT_APP, HOST, PusherJs, json, unique, waitUntil, withDeadline, TIMEOUT } = require('./harness');

/** Resolves with the first value passed to the callback that `register(cb)` installs. */
function once(register, what) {
  return withDeadline(new Promise((resolve) => register(resolve)), TIMEOUT, what);
}

describe('Laravel Echo', () => {
  let env;
  let sdk;
  const echos = [];
  let Echo;
  before(async () => {
    // laravel-echo is "type": "module"; require() yields an empty namespace on Node 20, so import().
    ({ default: Echo } = await import('laravel-echo'));
    env = await Env.start({ apps: [{ ...DEFAULT_APP }] });
    sdk = env.sdk();
  });
  after(async () => {
    if (env) await env.stop();
  });
  afterEach(async () => {
    for (const e of echos.splice(0)) e.disconnect();
    await env.closeClients();
  });

  /** Echo the way a Laravel app configures it; the user is identified by headers to the auth endpoint. */
  function makeEcho(user) {
    const echo = new Echo({
      broadcaster: 'pusher',
      key: DEFAULT_APP.key,
      cluster: 'mt1',
      wsHost: HOST,
      wsPort: env.port,
      wssPort: env.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      Pusher: PusherJs,
      authEndpoint: env.auth.channelEndpoint,
      auth: {
        headers: {
          'X-User-Id': user.id,
          'X-User-Info': JSON.stringify(user),
        },
      },
    });
    echos.push(echo);
    return echo;
  }

  async function connected(echo) {
    await waitUntil(() => echo.connectionStatus() === 'connected', { what: 'Echo to connect' });
    return echo;
  }

  const alice = { id: 'u1', name: 'Alice' };
  const bob = { id: 'u2', name: 'Bob' };
  const byId = (a, b) => a.id.localeCompare(b.id);

  it('join(): here / joining / leaving across two clients', async () => {
    const room = unique('room-');
    const channelName = `presence-${room}`;
    const echoA = await connected(makeEcho(alice));
    const joiningA = [];
    const leavingA = [];
    const hereA = once((cb) => {
      echoA
        .join(room)
        .here(cb)
        .joining((m) => joiningA.push(m))
        .leaving((m) => leavingA.push(m));
    }, 'here() for Alice');
    assert.deepEqual(await hereA, [alice]);

    const echoB = await connected(makeEcho(bob));
    const hereB = once((cb) => echoB.join(room).here(cb), 'here() for Bob');
    assert.deepEqual([...(await hereB)].sort(byId), [alice, bob]);
    await waitUntil(() => joiningA.length === 1, { what: 'joining() on Alice' });
    assert.deepEqual(joiningA, [bob]);

    const users = await json(sdk.get({ path: `/channels/${channelName}/users` }));
    assert.deepEqual([...users.users].sort(byId), [{ id: 'u1' }, { id: 'u2' }]);

    echoB.leave(room);
    await waitUntil(() => leavingA.length === 1, { what: 'leaving() on Alice' });
    assert.deepEqual(leavingA, [bob]);
    assert.deepEqual(joiningA, [bob]);
    assert.equal(echoB.connectionStatus(), 'connected', 'leave() keeps the connection');
  });

  it('listen(".my-event") receives an SDK event on presence-room; listen("OrderShipped") a namespaced one', async () => {
    const room = unique('room-');
    const channelName = `presence-${room}`;
    const echoA = await connected(makeEcho(alice));
    const echoB = await connected(makeEcho(bob));
    const chA = echoA.join(room);
    const chB = echoB.join(room);
    await once((cb) => chA.here(cb), 'Alice here');
    await once((cb) => chB.here(cb), 'Bob here');

    const gotA = once((cb) => chA.listen('.my-event', cb), 'my-event on Alice');
    const gotB = once((cb) => chB.listen('.my-event', cb), 'my-event on Bob');
    const shipped = once((cb) => chB.listen('OrderShipped', cb), 'App\\Events\\OrderShipped on Bob');
    await sdk.trigger(channelName, 'my-event', { msg: 'hello room' });
    assert.deepEqual(await gotA, { msg: 'hello room' });
    assert.deepEqual(await gotB, { msg: 'hello room' });

    await sdk.trigger(channelName, 'App\\Events\\OrderShipped', { order: { id: 7 } });
    assert.deepEqual(await shipped, { order: { id: 7 } });
  });

  it('whisper() reaches the other member via listenForWhisper(), not the sender', async () => {
    const room = unique('room-');
    const echoA = await connected(makeEcho(alice));
    const echoB = await connected(makeEcho(bob));
    const chA = echoA.join(room);
    const chB = echoB.join(room);
    await once((cb) => chA.here(cb), 'Alice here');
    await once((cb) => chB.here(cb), 'Bob here');

    const echoed = [];
    chA.listenForWhisper('typing', (d) => echoed.push(d));
    const got = once((cb) => chB.listenForWhisper('typing', cb), 'whisper on Bob');
    chA.whisper('typing', { name: 'Alice', typing: true });
    assert.deepEqual(await got, { name: 'Alice', typing: true });

    // barrier: an SDK event Alice must receive after the whisper would have been echoed
    const marker = once((cb) => chA.listen('.after-whisper', cb), 'marker on Alice');
    await sdk.trigger(`presence-${room}`, 'after-whisper', {});
    await marker;
    assert.deepEqual(echoed, []);
  });

  it('private() channel with listen() and a failed authorization reported through error()', async () => {
    const name = unique('orders-');
    const echo = await connected(makeEcho(alice));
    const ch = echo.private(name);
    await once((cb) => ch.subscribed(cb), 'private subscribed');
    const got = once((cb) => ch.listen('.status', cb), 'status event');
    await sdk.trigger(`private-${name}`, 'status', { state: 'paid' });
    assert.deepEqual(await got, { state: 'paid' });

    // Echo whose backend returns a bad signature: the server's subscription_error reaches error()
    const evil = new Echo({
      broadcaster: 'pusher',
      key: DEFAULT_APP.key,
      cluster: 'mt1',
      wsHost: HOST,
      wsPort: env.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      Pusher: PusherJs,
      authEndpoint: env.auth.channelEndpoint,
      auth: { headers: { 'X-Auth-Mode': 'bad-signature' } },
    });
    echos.push(evil);
    await connected(evil);
    const status = await once((cb) => evil.private(name).error(cb), 'error() callback');
    assert.equal(status.type, 'AuthError', JSON.stringify(status));
    assert.equal(status.status, 401, JSON.stringify(status));
  });
});
