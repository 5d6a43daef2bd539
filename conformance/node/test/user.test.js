'use strict';
// User authentication (pusher:signin), server-to-user events, watchlist, terminate_connections,
// and apps that require sign-in.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Env, DEFAULT_APP, json, nextEvent, record, unique, waitUntil, TIMEOUT } = require('./harness');

// Sign-in must happen within user_auth_timeout seconds on this app.
const AUTH_REQUIRED_APP = {
  ...DEFAULT_APP,
  id: '445566',
  key: 'strict-key',
  secret: 'strict-secret',
  user_auth_required: true,
  user_auth_timeout: 2,
};

describe('user authentication', () => {
  let env;
  let sdk;
  before(async () => {
    env = await Env.start({ apps: [{ ...DEFAULT_APP }, AUTH_REQUIRED_APP] });
    sdk = env.sdk();
  });
  after(async () => {
    if (env) await env.stop();
  });
  afterEach(async () => {
    await env.closeClients();
  });

  describe('signin', () => {
    it('pusher.signin(): signin_success echoes user_data; pusher-js joins #server-to-user-{id}', async () => {
      const id = unique('user-');
      const c = await env.connectedClient({ userId: id, userInfo: { name: 'Ann' } });
      const ok = await c.signin();
      assert.equal(typeof ok.data, 'object');
      // pusher-js decodes the outer frame; user_data must be the exact JSON string the app signed.
      const req = env.auth.requests.filter((r) => r.path === '/pusher/user-auth' && r.socketId === c.socketId);
      assert.equal(req.length, 1);
      assert.equal(typeof ok.data.user_data, 'string');
      assert.deepEqual(JSON.parse(ok.data.user_data), { id, user_info: { name: 'Ann' } });
      assert.equal(c.pusher.user.user_data.id, id);
      const sub = c.frames.find((f) => f.event === 'pusher_internal:subscription_succeeded');
      assert.equal(sub.channel, `#server-to-user-${id}`);
    });

    it('raw: signin_success data is an object whose user_data is the signed string', async () => {
      const { sock, socketId } = await env.rawConnected();
      const userData = { id: 'raw-user', user_info: { a: 1 }, watchlist: [] };
      const f = await env.rawSignin(sock, socketId, userData);
      assert.equal(typeof f.msg.data, 'object', `signin_success data must be an object: ${f.raw}`);
      assert.equal(f.msg.data.user_data, JSON.stringify(userData));
      assert.equal(f.msg.channel, undefined);
    });

    it('a bad signin signature: pusher:error 4009 and close 4009', async () => {
      const { sock, socketId } = await env.rawConnected();
      const good = sdk.authenticateUser(socketId, { id: 'mallory' });
      const forged = env.sdk({ ...DEFAULT_APP, secret: 'wrong-secret' }).authenticateUser(socketId, { id: 'mallory' });
      assert.notEqual(good.auth, forged.auth);
      sock.send({ event: 'pusher:signin', data: { auth: forged.auth, user_data: forged.user_data } });
      const close = await sock.waitClose();
      assert.equal(close.code, 4009);
      const err = sock.frames.find((f) => f.msg.event === 'pusher:error');
      assert.ok(err, 'a pusher:error precedes the close');
      assert.equal(err.msg.data.code, 4009);
      assert.ok(!sock.frames.some((f) => f.msg.event === 'pusher:signin_success'));
    });

    it('a signin for another socket_id is refused', async () => {
      const { sock } = await env.rawConnected();
      const { socketId: other } = await env.rawConnected();
      const stolen = sdk.authenticateUser(other, { id: 'thief' });
      sock.send({ event: 'pusher:signin', data: stolen });
      const close = await sock.waitClose();
      assert.equal(close.code, 4009);
      assert.ok(!sock.frames.some((f) => f.msg.event === 'pusher:signin_success'));
    });

    it('#server-to-user-{id} cannot be subscribed without signing in as that user', async () => {
      const victim = await env.connectedClient({ userId: 'victim' });
      await victim.signin();
      const { sock, socketId } = await env.rawConnected();
      await env.rawSignin(sock, socketId, { id: 'someone-else' });
      const since = sock.mark();
      sock.send({ event: 'pusher:subscribe', data: { channel: '#server-to-user-victim', auth: '' } });
      await sock.pingBarrier();
      const got = nextEvent(victim.pusher.user, 'private-note');
      await sdk.sendToUser('victim', 'private-note', { secret: 1 });
      await got;
      await sock.pingBarrier();
      const leaked = sock.frames.slice(since).filter((f) => f.msg.event === 'private-note');
      assert.deepEqual(leaked, [], 'server-to-user events leaked to another user');
      assert.ok(
        !sock.frames
          .slice(since)
          .some((f) => f.msg.event === 'pusher_internal:subscription_succeeded' && f.msg.channel === '#server-to-user-victim'),
      );
    });
  });

  describe('sendToUser', () => {
    it('reaches every connection of that user and nobody else', async () => {
      const u1 = unique('u1-');
      const u2 = unique('u2-');
      const a1 = await env.connectedClient({ label: 'a1', userId: u1 });
      const a2 = await env.connectedClient({ label: 'a2', userId: u1 });
      const b = await env.connectedClient({ label: 'b', userId: u2 });
      const notSignedIn = await env.connectedClient({ label: 'anon', userId: u1 });
      await Promise.all([a1.signin(), a2.signin(), b.signin()]);

      const got1 = nextEvent(a1.pusher.user, 'notice');
      const got2 = nextEvent(a2.pusher.user, 'notice');
      const sinceB = b.mark();
      const sinceAnon = notSignedIn.mark();
      const res = await sdk.sendToUser(u1, 'notice', { n: 1 });
      assert.equal(res.status, 200);
      assert.deepEqual((await got1).data, { n: 1 });
      assert.deepEqual((await got2).data, { n: 1 });
      const frame = a1.frames.find((f) => f.event === 'notice');
      assert.equal(frame.channel, `#server-to-user-${u1}`);

      // barrier for b: an event to b itself
      const gotB = nextEvent(b.pusher.user, 'notice');
      await sdk.sendToUser(u2, 'notice', { n: 2 });
      assert.deepEqual((await gotB).data, { n: 2 });
      assert.equal(b.framesSince(sinceB, (f) => f.event === 'notice').length, 1);
      await notSignedIn.pingBarrier();
      assert.deepEqual(notSignedIn.framesSince(sinceAnon, (f) => f.event === 'notice'), []);
    });
  });

  describe('watchlist', () => {
    it('online when a watched user signs in, offline when its last connection leaves', async () => {
      const watcherId = unique('watcher-');
      const watched = unique('watched-');
      const w = await env.connectedClient({ label: 'watcher', userId: watcherId, watchlist: [watched] });
      const events = record(w.pusher.user.watchlist, ['online', 'offline']);
      await w.signin();
      await w.pingBarrier();
      assert.deepEqual(
        events.filter((e) => e.event === 'online' && e.data.user_ids.includes(watched)),
        [],
        'watched user is not online yet',
      );
      const initial = events.length;

      const online = nextEvent(w.pusher.user.watchlist, 'online', {
        filter: (e) => e.user_ids.includes(watched),
        what: `online for ${watched}`,
      });
      const t1 = await env.connectedClient({ label: 'watched-1', userId: watched });
      await t1.signin();
      const { data } = await online;
      assert.deepEqual(data, { name: 'online', user_ids: [watched] });
      const frame = w.frames.find((f) => f.event === 'pusher_internal:watchlist_events');
      assert.ok(frame, 'watchlist events arrive as pusher_internal:watchlist_events');
      assert.equal(frame.channel, undefined);

      // A second connection of the watched user: no second online.
      const t2 = await env.connectedClient({ label: 'watched-2', userId: watched });
      await t2.signin();
      await t2.pingBarrier();
      await w.pingBarrier();
      assert.equal(events.slice(initial).filter((e) => e.event === 'online').length, 1);

      // First connection leaves: still online.
      const probe = unique('probe-');
      await t1.subscribe(probe);
      t1.disconnect();
      await waitUntil(
        async () => (await json(sdk.get({ path: `/channels/${probe}` }))).occupied === false,
        { what: 'the server to drop watched-1' },
      );
      await w.pingBarrier();
      assert.deepEqual(events.slice(initial).filter((e) => e.event === 'offline'), []);

      const offline = nextEvent(w.pusher.user.watchlist, 'offline', {
        filter: (e) => e.user_ids.includes(watched),
        what: `offline for ${watched}`,
      });
      t2.disconnect();
      assert.deepEqual((await offline).data, { name: 'offline', user_ids: [watched] });
    });

    it('signing in while a watched user is already online reports it online', async () => {
      const watched = unique('present-');
      const t = await env.connectedClient({ label: 'watched', userId: watched });
      await t.signin();
      const w = await env.connectedClient({ label: 'watcher', userId: unique('w-'), watchlist: [watched, 'nobody-xyz'] });
      const online = nextEvent(w.pusher.user.watchlist, 'online', {
        filter: (e) => e.user_ids.includes(watched),
        what: 'initial online',
      });
      await w.signin();
      const { data } = await online;
      assert.deepEqual(data.user_ids, [watched], 'only the online user is reported online');
    });

    it('a user not on the watchlist does not trigger events', async () => {
      const w = await env.connectedClient({ label: 'watcher', userId: unique('w-'), watchlist: ['someone'] });
      const events = record(w.pusher.user.watchlist, ['online', 'offline']);
      await w.signin();
      const stranger = await env.connectedClient({ userId: unique('stranger-') });
      await stranger.signin();
      await w.pingBarrier();
      assert.deepEqual(
        events.filter((e) => e.data.user_ids.some((id) => id.startsWith('stranger-'))),
        [],
      );
    });
  });

  describe('terminateUserConnections', () => {
    it('closes every connection of the user; other users stay connected', async () => {
      const victim = unique('victim-');
      const bystander = unique('bystander-');
      const v1 = await env.connectedClient({ label: 'v1', userId: victim });
      const v2 = await env.connectedClient({ label: 'v2', userId: victim });
      const other = await env.connectedClient({ label: 'other', userId: bystander });
      await Promise.all([v1.signin(), v2.signin(), other.signin()]);
      const left1 = v1.leftConnected();
      const left2 = v2.leftConnected();

      const res = await sdk.terminateUserConnections(victim);
      assert.equal(res.status, 200);
      await left1;
      await left2;

      const got = nextEvent(other.pusher.user, 'still-here');
      await sdk.sendToUser(bystander, 'still-here', {});
      await got;
      assert.equal(other.state, 'connected');
    });

    it('raw: the terminated socket gets close code 4009', async () => {
      const victim = unique('victim-');
      const { sock, socketId } = await env.rawConnected();
      await env.rawSignin(sock, socketId, { id: victim });
      await sdk.terminateUserConnections(victim);
      const close = await sock.waitClose();
      assert.equal(close.code, 4009);
    });

    it('terminating a user without connections succeeds', async () => {
      const res = await sdk.terminateUserConnections(unique('ghost-'));
      assert.equal(res.status, 200);
    });
  });

  describe('user_auth_required app', () => {
    it('a connection that never signs in is closed with 4009 after user_auth_timeout', async () => {
      const { sock } = await env.rawConnected({ key: AUTH_REQUIRED_APP.key });
      const close = await sock.waitClose({ timeout: AUTH_REQUIRED_APP.user_auth_timeout * 1000 + TIMEOUT });
      assert.equal(close.code, 4009);
    });

    it('a connection that signs in in time stays open', async () => {
      // signed-in socket opens first, so its deadline passes before the unsigned one is closed
      const { sock: good, socketId } = await env.rawConnected({ key: AUTH_REQUIRED_APP.key });
      await env.rawSignin(good, socketId, { id: 'strict-user' }, { app: AUTH_REQUIRED_APP });
      const { sock: lazy } = await env.rawConnected({ key: AUTH_REQUIRED_APP.key });
      const close = await lazy.waitClose({ timeout: AUTH_REQUIRED_APP.user_auth_timeout * 1000 + TIMEOUT });
      assert.equal(close.code, 4009);
      await good.pingBarrier();
      assert.equal(good.closed, null);
    });

    it('pusher-js with signin() works on the strict app', async () => {
      const c = await env.connectedClient({ app: AUTH_REQUIRED_APP, userId: 'strict-js' });
      await c.signin();
      const { sock: lazy } = await env.rawConnected({ key: AUTH_REQUIRED_APP.key });
      await lazy.waitClose({ timeout: AUTH_REQUIRED_APP.user_auth_timeout * 1000 + TIMEOUT });
      const got = nextEvent(c.pusher.user, 'hi');
      await env.sdk(AUTH_REQUIRED_APP).sendToUser('strict-js', 'hi', { ok: 1 });
      assert.deepEqual((await got).data, { ok: 1 });
      assert.deepEqual(
        c.states.map((s) => s.current).filter((s) => s !== 'connecting'),
        ['connected'],
        'pusher-js must not have been disconnected',
      );
    });
  });
});
