'use strict';
// Public, private, private-encrypted and cache channels.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Env, DEFAULT_APP, nextEvent, publishBarrier, json, unique, waitUntil } = require('./harness');

describe('channels', () => {
  let env;
  let sdk;
  before(async () => {
    env = await Env.start({ apps: [{ ...DEFAULT_APP }] });
    sdk = env.sdk();
  });
  after(async () => {
    if (env) await env.stop();
  });
  afterEach(async () => {
    await env.closeClients();
  });

  async function channelInfo(name, info) {
    return json(sdk.get({ path: `/channels/${name}`, params: info ? { info } : {} }));
  }

  describe('public', () => {
    it('subscription_succeeded frame names the channel; server events arrive with their data', async () => {
      const c = await env.connectedClient();
      const name = unique('pub-');
      const since = c.mark();
      const ch = await c.subscribe(name);
      const ok = await c.waitFrame((f) => f.event === 'pusher_internal:subscription_succeeded', { since });
      assert.equal(ok.channel, name);

      const got = nextEvent(ch, 'my-event');
      const res = await sdk.trigger(name, 'my-event', { hello: 'world', n: 1, nested: { a: [1, 2] } });
      assert.equal(res.status, 200);
      const { data } = await got;
      assert.deepEqual(data, { hello: 'world', n: 1, nested: { a: [1, 2] } });
      const frame = c.frames.find((f) => f.event === 'my-event');
      assert.equal(frame.channel, name);
      assert.equal(frame.user_id, undefined, 'server events carry no user_id');
    });

    it('string data is relayed verbatim', async () => {
      const c = await env.connectedClient();
      const name = unique('pub-');
      const ch = await c.subscribe(name);
      const got = nextEvent(ch, 'text');
      await sdk.trigger(name, 'text', 'just a plain string, not JSON');
      assert.equal((await got).data, 'just a plain string, not JSON');
    });

    it('every subscriber receives the event; non-subscribers do not', async () => {
      const name = unique('pub-');
      const other = unique('pub-other-');
      const a = await env.connectedClient({ label: 'a' });
      const b = await env.connectedClient({ label: 'b' });
      const outsider = await env.connectedClient({ label: 'outsider' });
      const chA = await a.subscribe(name);
      const chB = await b.subscribe(name);
      await outsider.subscribe(other);
      const gotA = nextEvent(chA, 'ev');
      const gotB = nextEvent(chB, 'ev');
      await sdk.trigger(name, 'ev', { x: 1 });
      assert.deepEqual((await gotA).data, { x: 1 });
      assert.deepEqual((await gotB).data, { x: 1 });
      await publishBarrier(sdk, other, [outsider]);
      assert.equal(outsider.frames.filter((f) => f.event === 'ev').length, 0);
    });

    it('after unsubscribe no more events arrive and the channel becomes unoccupied', async () => {
      const name = unique('pub-');
      const keep = unique('pub-keep-');
      const c = await env.connectedClient();
      await c.subscribe(name);
      await c.subscribe(keep);
      assert.deepEqual(await channelInfo(name), { occupied: true });
      c.pusher.unsubscribe(name);
      await waitUntil(async () => (await channelInfo(name)).occupied === false, {
        what: `${name} to become unoccupied after unsubscribe`,
      });
      const since = c.mark();
      await sdk.trigger(name, 'late', {});
      await publishBarrier(sdk, keep, [c]);
      assert.deepEqual(c.framesSince(since, (f) => f.channel === name), []);
    });

    it('subscribing twice to the same channel is harmless (one subscription counted)', async () => {
      const name = unique('pub-');
      const { sock, socketId } = await env.rawConnected();
      await env.rawSubscribe(sock, socketId, name);
      await env.rawSubscribe(sock, socketId, name);
      assert.deepEqual(await channelInfo(name, 'subscription_count'), { occupied: true, subscription_count: 1 });
      const since = sock.mark();
      await sdk.trigger(name, 'once', { n: 1 });
      await sock.waitEvent('once', { since });
      await sock.pingBarrier();
      assert.equal(sock.frames.slice(since).filter((f) => f.msg.event === 'once').length, 1, 'delivered once');
    });

    it('server event frames keep data as a JSON string (double encoding)', async () => {
      const name = unique('pub-');
      const { sock, socketId } = await env.rawConnected();
      await env.rawSubscribe(sock, socketId, name);
      const since = sock.mark();
      await sdk.trigger(name, 'raw-check', { a: 1 });
      const f = await sock.waitEvent('raw-check', { since });
      assert.deepEqual(f.msg, { event: 'raw-check', channel: name, data: '{"a":1}' });
    });
  });

  describe('private', () => {
    it('authorizes through the auth endpoint with this socket_id and delivers events', async () => {
      const c = await env.connectedClient();
      const name = unique('private-');
      const before = env.auth.requests.length;
      const ch = await c.subscribe(name);
      const reqs = env.auth.requests.slice(before).filter((r) => r.channel === name);
      assert.equal(reqs.length, 1);
      assert.equal(reqs[0].socketId, c.socketId);
      assert.equal(reqs[0].path, '/pusher/auth');
      const got = nextEvent(ch, 'secret-event');
      await sdk.trigger(name, 'secret-event', { ok: true });
      assert.deepEqual((await got).data, { ok: true });
    });

    it('a bad signature gives pusher:subscription_error on the channel and no events', async () => {
      const c = await env.connectedClient({ authMode: 'bad-signature' });
      const name = unique('private-');
      const keep = unique('pub-keep-');
      await c.subscribe(keep);
      const ch = c.pusher.subscribe(name);
      const succeeded = [];
      ch.bind('pusher:subscription_succeeded', () => succeeded.push(true));
      const { data } = await nextEvent(ch, 'pusher:subscription_error', { what: 'subscription_error' });
      assert.equal(typeof data, 'object', `subscription_error data: ${JSON.stringify(data)}`);
      assert.equal(data.type, 'AuthError', JSON.stringify(data));
      assert.equal(data.status, 401, JSON.stringify(data));
      // the error came from the server, not from pusher-js' own auth failure
      const frame = c.frames.find((f) => f.channel === name && f.event === 'pusher:subscription_error');
      assert.ok(frame, `the server must send pusher:subscription_error with channel ${name}`);
      assert.equal(ch.subscribed, false);

      const since = c.mark();
      await sdk.trigger(name, 'should-not-arrive', {});
      await publishBarrier(sdk, keep, [c]);
      assert.deepEqual(c.framesSince(since, (f) => f.channel === name), []);
      assert.deepEqual(succeeded, []);
      assert.deepEqual(await channelInfo(name), { occupied: false });
      assert.equal(c.state, 'connected', 'a failed subscription does not close the connection');
    });

    it('a signature for another socket_id is rejected', async () => {
      const name = unique('private-');
      const { sock } = await env.rawConnected();
      const { socketId: otherSocketId } = await env.rawConnected();
      const auth = sdk.authorizeChannel(otherSocketId, name).auth;
      const since = sock.mark();
      sock.send({ event: 'pusher:subscribe', data: { channel: name, auth } });
      const f = await sock.waitFrame((m) => m.channel === name || m.event === 'pusher:error', { since });
      assert.notEqual(f.msg.event, 'pusher_internal:subscription_succeeded', f.raw);
      assert.deepEqual(await channelInfo(name), { occupied: false });
    });

    it('a private subscription without auth is rejected', async () => {
      const name = unique('private-');
      const { sock } = await env.rawConnected();
      const since = sock.mark();
      sock.send({ event: 'pusher:subscribe', data: { channel: name, auth: '' } });
      const f = await sock.waitFrame((m) => m.channel === name || m.event === 'pusher:error', { since });
      assert.notEqual(f.msg.event, 'pusher_internal:subscription_succeeded', f.raw);
      assert.deepEqual(await channelInfo(name), { occupied: false });
    });
  });

  describe('private-encrypted', () => {
    it('the node pusher-js build decrypts SDK-encrypted events; the server relays ciphertext only', async () => {
      const c = await env.connectedClient();
      const name = unique('private-encrypted-');
      const ch = await c.subscribe(name);

      // A raw observer on the same channel sees exactly what the server relays.
      const { sock, socketId } = await env.rawConnected();
      await env.rawSubscribe(sock, socketId, name);

      const got = nextEvent(ch, 'sealed');
      const since = sock.mark();
      await sdk.trigger(name, 'sealed', { secret: 'attack at dawn' });
      assert.deepEqual((await got).data, { secret: 'attack at dawn' });

      const f = await sock.waitEvent('sealed', { since });
      assert.equal(f.msg.channel, name);
      assert.ok(!f.raw.includes('attack at dawn'), 'plaintext must never cross the server');
      const payload = JSON.parse(f.msg.data);
      assert.deepEqual(Object.keys(payload).sort(), ['ciphertext', 'nonce']);
      assert.equal(Buffer.from(payload.nonce, 'base64').length, 24);
    });
  });

  describe('cache channels', () => {
    for (const prefix of ['cache-', 'private-cache-', 'private-encrypted-cache-', 'presence-cache-']) {
      it(`${prefix}: pusher:cache_miss when nothing was published`, async () => {
        const c = await env.connectedClient({ userId: 'cache-user', userInfo: {} });
        const name = unique(prefix);
        const ch = c.pusher.subscribe(name);
        const miss = nextEvent(ch, 'pusher:cache_miss', { what: `cache_miss on ${name}` });
        await nextEvent(ch, 'pusher:subscription_succeeded');
        await miss;
        const frames = c.frames.filter((f) => f.channel === name);
        assert.deepEqual(
          frames.map((f) => f.event),
          ['pusher_internal:subscription_succeeded', 'pusher:cache_miss'],
          JSON.stringify(frames),
        );
      });

      it(`${prefix}: a new subscriber gets the last HTTP event right after subscription_succeeded`, async () => {
        const name = unique(prefix);
        const first = await env.connectedClient({ label: 'first', userId: 'c1', userInfo: {} });
        await first.subscribe(name);
        await sdk.trigger(name, 'e1', { n: 1 });
        await sdk.trigger(name, 'e2', { n: 2 });
        await first.waitFrame((f) => f.channel === name && f.event === 'e2');

        const late = await env.connectedClient({ label: 'late', userId: 'c2', userInfo: {} });
        const ch = late.pusher.subscribe(name);
        const misses = [];
        ch.bind('pusher:cache_miss', () => misses.push(1));
        const cached = nextEvent(ch, 'e2', { what: 'cached e2' });
        await nextEvent(ch, 'pusher:subscription_succeeded');
        assert.deepEqual((await cached).data, { n: 2 });
        await late.pingBarrier();
        const frames = late.frames.filter((f) => f.channel === name);
        const events = frames.map((f) => f.event);
        assert.deepEqual(events, ['pusher_internal:subscription_succeeded', 'e2'], JSON.stringify(frames));
        assert.deepEqual(misses, []);
      });
    }

    it('the cached event is per channel and replaced by the next publish', async () => {
      const a = unique('cache-');
      const b = unique('cache-');
      await sdk.trigger(a, 'first', { v: 'a1' });
      await sdk.trigger(a, 'second', { v: 'a2' });
      await sdk.trigger(b, 'only', { v: 'b1' });
      const c = await env.connectedClient();
      const chA = c.pusher.subscribe(a);
      const gotA = nextEvent(chA, 'second');
      const chB = c.pusher.subscribe(b);
      const gotB = nextEvent(chB, 'only');
      assert.deepEqual((await gotA).data, { v: 'a2' });
      assert.deepEqual((await gotB).data, { v: 'b1' });
      await c.pingBarrier();
      assert.deepEqual(
        c.frames.filter((f) => f.channel === a).map((f) => f.event),
        ['pusher_internal:subscription_succeeded', 'second'],
      );
    });

    it('a non-cache channel never sends cache_miss or replays', async () => {
      const name = unique('pub-');
      await sdk.trigger(name, 'old', {});
      const c = await env.connectedClient();
      await c.subscribe(name);
      await c.pingBarrier();
      assert.deepEqual(
        c.frames.filter((f) => f.channel === name).map((f) => f.event),
        ['pusher_internal:subscription_succeeded'],
      );
    });
  });
});
