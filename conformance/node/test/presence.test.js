'use strict';
// Presence channels: member list, member_added/removed, one member per user_id, limits.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Env, DEFAULT_APP, nextEvent, publishBarrier, json, unique, waitUntil } = require('./harness');

const SMALL_APP = { ...DEFAULT_APP, id: '223344', key: 'small-key', secret: 'small-secret', max_presence_members: 2 };

function membersOf(channel) {
  const out = {};
  channel.members.each((m) => {
    out[m.id] = m.info;
  });
  return out;
}

describe('presence channels', () => {
  let env;
  let sdk;
  before(async () => {
    env = await Env.start({ apps: [{ ...DEFAULT_APP }, SMALL_APP] });
    sdk = env.sdk();
  });
  after(async () => {
    if (env) await env.stop();
  });
  afterEach(async () => {
    await env.closeClients();
  });

  async function users(name, app) {
    const body = await json(env.sdk(app).get({ path: `/channels/${name}/users` }));
    return body.users.map((u) => u.id).sort();
  }

  it('first member: members.count 1, members.me is this user with its user_info', async () => {
    const name = unique('presence-');
    const a = await env.connectedClient({ userId: 'u1', userInfo: { name: 'Alice' } });
    const ch = await a.subscribe(name);
    assert.equal(ch.members.count, 1);
    assert.deepEqual(ch.members.me, { id: 'u1', info: { name: 'Alice' } });
    assert.deepEqual(membersOf(ch), { u1: { name: 'Alice' } });
  });

  it('subscription_succeeded carries {presence:{ids,hash,count}} as a JSON string', async () => {
    const name = unique('presence-');
    await (await env.connectedClient({ userId: 'u1', userInfo: { name: 'Alice' } })).subscribe(name);
    await (await env.connectedClient({ userId: 'u2', userInfo: { name: 'Bob' } })).subscribe(name);
    const { sock, socketId } = await env.rawConnected();
    const f = await env.rawSubscribe(sock, socketId, name, {
      presenceData: { user_id: 'u3', user_info: { name: 'Carol', tags: ['x'] } },
    });
    assert.equal(typeof f.msg.data, 'string', `data must be a JSON string: ${f.raw}`);
    const { presence } = JSON.parse(f.msg.data);
    assert.equal(presence.count, 3);
    assert.deepEqual([...presence.ids].sort(), ['u1', 'u2', 'u3']);
    assert.deepEqual(presence.hash, {
      u1: { name: 'Alice' },
      u2: { name: 'Bob' },
      u3: { name: 'Carol', tags: ['x'] },
    });
  });

  it('member_added to existing members (not to the joiner); member_removed when it disconnects', async () => {
    const name = unique('presence-');
    const a = await env.connectedClient({ label: 'a', userId: 'u1', userInfo: { name: 'Alice' } });
    const chA = await a.subscribe(name);
    const added = nextEvent(chA, 'pusher:member_added');
    const b = await env.connectedClient({ label: 'b', userId: 'u2', userInfo: { name: 'Bob' } });
    const chB = await b.subscribe(name);

    assert.deepEqual((await added).data, { id: 'u2', info: { name: 'Bob' } });
    assert.equal(chA.members.count, 2);
    assert.equal(chB.members.count, 2);
    assert.deepEqual(chB.members.me, { id: 'u2', info: { name: 'Bob' } });
    assert.deepEqual(membersOf(chB), { u1: { name: 'Alice' }, u2: { name: 'Bob' } });

    const addedFrame = a.frames.find((f) => f.event === 'pusher_internal:member_added');
    assert.equal(addedFrame.channel, name);
    assert.deepEqual(addedFrame.data, { user_id: 'u2', user_info: { name: 'Bob' } });

    await publishBarrier(sdk, name, [a, b]);
    assert.deepEqual(
      b.frames.filter((f) => f.channel === name && f.event.startsWith('pusher_internal:member')),
      [],
      'the joiner gets no member_added about anyone (incl. itself)',
    );

    const removed = nextEvent(chA, 'pusher:member_removed');
    b.disconnect();
    assert.deepEqual((await removed).data, { id: 'u2', info: { name: 'Bob' } });
    assert.equal(chA.members.count, 1);
    const removedFrame = a.frames.find((f) => f.event === 'pusher_internal:member_removed');
    assert.equal(removedFrame.channel, name);
    assert.deepEqual(removedFrame.data, { user_id: 'u2' });
  });

  it('unsubscribing (without disconnecting) also removes the member', async () => {
    const name = unique('presence-');
    const a = await env.connectedClient({ userId: 'u1', userInfo: {} });
    const chA = await a.subscribe(name);
    const b = await env.connectedClient({ userId: 'u2', userInfo: {} });
    const added = nextEvent(chA, 'pusher:member_added');
    await b.subscribe(name);
    await added;
    const removed = nextEvent(chA, 'pusher:member_removed');
    b.pusher.unsubscribe(name);
    assert.equal((await removed).data.id, 'u2');
    assert.deepEqual(await users(name), ['u1']);
    assert.equal(b.state, 'connected');
  });

  it('the same user_id on two sockets is ONE member', async () => {
    const name = unique('presence-');
    const a = await env.connectedClient({ label: 'observer', userId: 'u1', userInfo: { n: 1 } });
    const chA = await a.subscribe(name);
    const addedLog = [];
    const removedLog = [];
    chA.bind('pusher:member_added', (m) => addedLog.push(m));
    chA.bind('pusher:member_removed', (m) => removedLog.push(m));

    const b1 = await env.connectedClient({ label: 'b1', userId: 'u2', userInfo: { n: 2 } });
    await b1.subscribe(name);
    await waitUntil(() => addedLog.length === 1, { what: 'member_added for u2' });
    const b2 = await env.connectedClient({ label: 'b2', userId: 'u2', userInfo: { n: 2 } });
    const chB2 = await b2.subscribe(name);
    assert.equal(chB2.members.count, 2, 'second socket sees 2 members, not 3');
    assert.deepEqual(membersOf(chB2), { u1: { n: 1 }, u2: { n: 2 } });

    await publishBarrier(sdk, name, [a, b1, b2]);
    assert.equal(
      a.frames.filter((f) => f.event === 'pusher_internal:member_added').length,
      1,
      'no member_added for the second socket of u2',
    );
    assert.equal(
      b1.frames.filter((f) => f.event === 'pusher_internal:member_added').length,
      0,
      'u2 gets no member_added about its own second socket',
    );
    assert.deepEqual(await users(name), ['u1', 'u2']);
    assert.deepEqual(
      await json(sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count,user_count' } })),
      { occupied: true, subscription_count: 3, user_count: 2 },
    );

    b1.disconnect();
    // Wait until the server saw b1 go, then prove no member_removed was sent.
    await waitUntil(
      async () =>
        (await json(sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })))
          .subscription_count === 2,
      { what: 'subscription_count 2 after b1 left' },
    );
    await publishBarrier(sdk, name, [a, b2]);
    assert.deepEqual(removedLog, [], 'no member_removed while u2 still has a socket');
    assert.deepEqual(await users(name), ['u1', 'u2']);

    const removed = nextEvent(chA, 'pusher:member_removed');
    b2.disconnect();
    assert.deepEqual((await removed).data, { id: 'u2', info: { n: 2 } });
    assert.equal(removedLog.length, 1);
    assert.deepEqual(await users(name), ['u1']);
  });

  it('numbers as user_id in channel_data are accepted (channel_data user_id may be an integer)', async () => {
    const name = unique('presence-');
    const { sock, socketId } = await env.rawConnected();
    const f = await env.rawSubscribe(sock, socketId, name, { presenceData: { user_id: 42, user_info: {} } });
    const { presence } = JSON.parse(f.msg.data);
    assert.equal(presence.count, 1);
    assert.deepEqual(presence.ids.map(String), ['42']);
  });

  it('a bad presence signature gives subscription_error and no member_added to others', async () => {
    const name = unique('presence-');
    const a = await env.connectedClient({ userId: 'u1', userInfo: {} });
    const chA = await a.subscribe(name);
    const bad = await env.connectedClient({ userId: 'intruder', userInfo: {}, authMode: 'bad-signature' });
    const ch = bad.pusher.subscribe(name);
    const { data } = await nextEvent(ch, 'pusher:subscription_error');
    assert.equal(data.type, 'AuthError', JSON.stringify(data));
    assert.equal(data.status, 401, JSON.stringify(data));
    await publishBarrier(sdk, name, [a]);
    assert.equal(a.frames.filter((f) => f.event === 'pusher_internal:member_added').length, 0);
    assert.equal(chA.members.count, 1);
    assert.deepEqual(await users(name), ['u1']);
  });

  it('presence subscribe without channel_data (and not signed in) is rejected', async () => {
    const name = unique('presence-');
    const { sock, socketId } = await env.rawConnected();
    const auth = sdk.authorizeChannel(socketId, name).auth; // signature over socket:channel only
    const since = sock.mark();
    sock.send({ event: 'pusher:subscribe', data: { channel: name, auth } });
    const f = await sock.waitFrame((m) => m.channel === name || m.event === 'pusher:error', { since });
    assert.notEqual(f.msg.event, 'pusher_internal:subscription_succeeded', f.raw);
    assert.deepEqual(await json(sdk.get({ path: `/channels/${name}` })), { occupied: false });
  });

  it('max_presence_members = 2: a third user is refused, the existing members see nothing', async () => {
    const name = unique('presence-');
    const a = await env.connectedClient({ app: SMALL_APP, userId: 'u1', userInfo: {} });
    const chA = await a.subscribe(name);
    const b = await env.connectedClient({ app: SMALL_APP, userId: 'u2', userInfo: {} });
    await b.subscribe(name);
    await waitUntil(() => chA.members.count === 2, { what: 'two members' });

    const c = await env.connectedClient({ app: SMALL_APP, userId: 'u3', userInfo: {} });
    const ch = c.pusher.subscribe(name);
    const { data } = await nextEvent(ch, 'pusher:subscription_error', { what: 'subscription_error for member #3' });
    assert.ok(c.frames.some((f) => f.channel === name && f.event === 'pusher:subscription_error'), 'sent by the server');
    assert.equal(typeof data, 'object');
    assert.equal(ch.subscribed, false);

    await publishBarrier(env.sdk(SMALL_APP), name, [a, b]);
    assert.equal(a.frames.filter((f) => f.event === 'pusher_internal:member_added').length, 1, 'only u2 was added');
    assert.deepEqual(await users(name, SMALL_APP), ['u1', 'u2']);
    assert.equal(c.state, 'connected');
  });
});
