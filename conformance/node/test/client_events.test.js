'use strict';
// Client events (client-*): relayed to other subscribers of private/presence channels, never echoed.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Env, DEFAULT_APP, nextEvent, publishBarrier, unique } = require('./harness');

const NO_CLIENT_EVENTS_APP = {
  ...DEFAULT_APP,
  id: '334455',
  key: 'quiet-key',
  secret: 'quiet-secret',
  client_events: false,
};

describe('client events', () => {
  let env;
  let sdk;
  before(async () => {
    env = await Env.start({ apps: [{ ...DEFAULT_APP }, NO_CLIENT_EVENTS_APP] });
    sdk = env.sdk();
  });
  after(async () => {
    if (env) await env.stop();
  });
  afterEach(async () => {
    await env.closeClients();
  });

  it('private channel: delivered to the other subscribers, not echoed to the sender, no user_id', async () => {
    const name = unique('private-chat-');
    const a = await env.connectedClient({ label: 'a' });
    const b = await env.connectedClient({ label: 'b' });
    const c = await env.connectedClient({ label: 'c' });
    const chA = await a.subscribe(name);
    const chB = await b.subscribe(name);
    const chC = await c.subscribe(name);
    const gotB = nextEvent(chB, 'client-typing');
    const gotC = nextEvent(chC, 'client-typing');
    const since = a.mark();
    assert.equal(chA.trigger('client-typing', { who: 'a', text: 'hé ✓' }), true);
    const b1 = await gotB;
    assert.deepEqual(b1.data, { who: 'a', text: 'hé ✓' });
    assert.deepEqual((await gotC).data, { who: 'a', text: 'hé ✓' });
    const frame = b.frames.find((f) => f.event === 'client-typing');
    assert.equal(frame.channel, name);
    assert.equal(frame.user_id, undefined, 'user_id is only added on presence channels');

    await publishBarrier(sdk, name, [a]);
    assert.deepEqual(a.framesSince(since, (f) => f.event === 'client-typing'), [], 'never echoed to the sender');
  });

  it('presence channel: relayed with user_id (pusher-js metadata.user_id), not echoed', async () => {
    const name = unique('presence-chat-');
    const a = await env.connectedClient({ label: 'a', userId: 'u1', userInfo: { name: 'Alice' } });
    const b = await env.connectedClient({ label: 'b', userId: 'u2', userInfo: { name: 'Bob' } });
    const chA = await a.subscribe(name);
    const chB = await b.subscribe(name);
    const got = nextEvent(chB, 'client-hello');
    const since = a.mark();
    chA.trigger('client-hello', { x: 1 });
    const { data, metadata } = await got;
    assert.deepEqual(data, { x: 1 });
    assert.deepEqual(metadata, { user_id: 'u1' });

    // and the other way round
    const back = nextEvent(chA, 'client-reply');
    chB.trigger('client-reply', { y: 2 });
    const r = await back;
    assert.deepEqual(r.data, { y: 2 });
    assert.equal(r.metadata.user_id, 'u2');

    await publishBarrier(sdk, name, [a, b]);
    assert.deepEqual(a.framesSince(since, (f) => f.event === 'client-hello'), []);
    assert.equal(b.frames.filter((f) => f.event === 'client-reply').length, 0);
  });

  it('the sender’s other sockets (same user) do receive it on presence channels', async () => {
    const name = unique('presence-multi-');
    const a1 = await env.connectedClient({ label: 'a1', userId: 'u1', userInfo: {} });
    const a2 = await env.connectedClient({ label: 'a2', userId: 'u1', userInfo: {} });
    const ch1 = await a1.subscribe(name);
    const ch2 = await a2.subscribe(name);
    const got = nextEvent(ch2, 'client-sync');
    ch1.trigger('client-sync', { tab: 1 });
    const { data, metadata } = await got;
    assert.deepEqual(data, { tab: 1 });
    assert.equal(metadata.user_id, 'u1');
  });

  it('public channel: client events are not delivered', async () => {
    const name = unique('pub-');
    const a = await env.connectedClient({ label: 'a' });
    const b = await env.connectedClient({ label: 'b' });
    const chA = await a.subscribe(name);
    await b.subscribe(name);
    const since = b.mark();
    chA.trigger('client-public', { no: true });
    await a.pingBarrier(); // the server has processed the client event
    await publishBarrier(sdk, name, [b]);
    assert.deepEqual(b.framesSince(since, (f) => f.event === 'client-public'), []);
  });

  it('a socket not subscribed to the channel cannot send client events to it', async () => {
    const name = unique('private-');
    const b = await env.connectedClient({ label: 'b' });
    await b.subscribe(name);
    const { sock } = await env.rawConnected();
    const since = b.mark();
    sock.send({ event: 'client-sneaky', channel: name, data: { x: 1 } });
    await sock.pingBarrier();
    await publishBarrier(sdk, name, [b]);
    assert.deepEqual(b.framesSince(since, (f) => f.event === 'client-sneaky'), []);
  });

  it('events not prefixed client- sent by a client are not relayed', async () => {
    const name = unique('private-');
    const b = await env.connectedClient({ label: 'b' });
    await b.subscribe(name);
    const { sock, socketId } = await env.rawConnected();
    await env.rawSubscribe(sock, socketId, name);
    const since = b.mark();
    sock.send({ event: 'my-event', channel: name, data: { x: 1 } });
    sock.send({ event: 'pusher_internal:member_added', channel: name, data: { user_id: 'fake' } });
    await sock.pingBarrier();
    await publishBarrier(sdk, name, [b]);
    assert.deepEqual(b.framesSince(since, (f) => f.event !== 'conformance-barrier'), []);
  });

  it('client data sent as a JSON string is relayed too (Pysher style)', async () => {
    const name = unique('private-');
    const b = await env.connectedClient({ label: 'b' });
    const chB = await b.subscribe(name);
    const { sock, socketId } = await env.rawConnected();
    await env.rawSubscribe(sock, socketId, name);
    const got = nextEvent(chB, 'client-str');
    sock.send({ event: 'client-str', channel: name, data: JSON.stringify({ s: 'x' }) });
    assert.deepEqual((await got).data, { s: 'x' });
  });

  it('a client event whose data is over max_payload_kb (10 KB) is rejected with 4301, not relayed', async () => {
    const name = unique('private-');
    const b = await env.connectedClient({ label: 'b' });
    await b.subscribe(name);
    const { sock, socketId } = await env.rawConnected();
    await env.rawSubscribe(sock, socketId, name);
    const sinceB = b.mark();
    const since = sock.mark();
    sock.send({ event: 'client-huge', channel: name, data: { blob: 'x'.repeat(11 * 1024) } });
    const err = await sock.waitEvent('pusher:error', { since });
    assert.equal(err.msg.data.code, 4301, err.raw);
    await sock.pingBarrier();
    await publishBarrier(sdk, name, [b]);
    assert.deepEqual(b.framesSince(sinceB, (f) => f.event === 'client-huge'), []);
    assert.equal(sock.closed, null, '4301 does not close the connection');
  });

  it('more than 10 client events per second from one connection: 4301, excess dropped, still connected', async () => {
    const name = unique('private-');
    const b = await env.connectedClient({ label: 'b' });
    await b.subscribe(name);
    const { sock, socketId } = await env.rawConnected();
    await env.rawSubscribe(sock, socketId, name);
    const sinceB = b.mark();
    const since = sock.mark();
    for (let i = 0; i < 30; i += 1) sock.send({ event: 'client-burst', channel: name, data: { i } });
    const err = await sock.waitEvent('pusher:error', { since });
    assert.equal(err.msg.data.code, 4301, err.raw);
    await sock.pingBarrier();
    await publishBarrier(sdk, name, [b]);
    const got = b.framesSince(sinceB, (f) => f.event === 'client-burst');
    assert.ok(got.length >= 1, 'the first events of the burst are relayed');
    assert.ok(got.length <= 12, `a burst of 30 must be limited to ~10/s, ${got.length} were relayed`);
    // relayed ones keep their order
    const seq = got.map((f) => f.data.i);
    assert.deepEqual(seq, [...seq].sort((x, y) => x - y));
    assert.equal(sock.closed, null);
  });

  it('client_events = false: not delivered, the sender gets pusher:error 4301 and stays connected', async () => {
    const name = unique('private-');
    const a = await env.connectedClient({ label: 'a', app: NO_CLIENT_EVENTS_APP });
    const b = await env.connectedClient({ label: 'b', app: NO_CLIENT_EVENTS_APP });
    const chA = await a.subscribe(name);
    await b.subscribe(name);
    const sinceA = a.mark();
    const sinceB = b.mark();
    chA.trigger('client-blocked', { x: 1 });
    const err = await a.waitFrame((f) => f.event === 'pusher:error', { since: sinceA, what: 'pusher:error' });
    assert.equal(err.data.code, 4301, JSON.stringify(err));
    await a.pingBarrier();
    await publishBarrier(env.sdk(NO_CLIENT_EVENTS_APP), name, [b]);
    assert.deepEqual(b.framesSince(sinceB, (f) => f.event === 'client-blocked'), []);
    assert.equal(a.state, 'connected');
  });
});
