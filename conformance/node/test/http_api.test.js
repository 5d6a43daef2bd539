'use strict';
// The HTTP API through the official `pusher` SDK: publish, batch, channel queries, users,
// socket_id exclusion, info attributes and error statuses.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Env, DEFAULT_APP, expectHttpError, json, nextEvent, publishBarrier, unique, waitUntil } = require('./harness');

describe('HTTP API', () => {
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

  describe('POST /apps/{id}/events', () => {
    it('publishes to one channel; success body is {}', async () => {
      const name = unique('pub-');
      const c = await env.connectedClient();
      const ch = await c.subscribe(name);
      const got = nextEvent(ch, 'ev');
      const body = await json(sdk.trigger(name, 'ev', { a: 1 }));
      assert.deepEqual(body, {});
      assert.deepEqual((await got).data, { a: 1 });
    });

    it('publishes to several channels at once (each subscriber gets it exactly once)', async () => {
      const names = [unique('multi-a-'), unique('multi-b-'), unique('multi-c-')];
      const c = await env.connectedClient();
      const chans = [];
      for (const n of names) chans.push(await c.subscribe(n));
      const gots = chans.map((ch) => nextEvent(ch, 'fan'));
      const since = c.mark();
      assert.deepEqual(await json(sdk.trigger(names, 'fan', { m: 1 })), {});
      for (const g of gots) assert.deepEqual((await g).data, { m: 1 });
      await c.pingBarrier();
      assert.deepEqual(
        c.framesSince(since, (f) => f.event === 'fan').map((f) => f.channel).sort(),
        [...names].sort(),
      );
    });

    it('socket_id excludes that connection only', async () => {
      const name = unique('pub-');
      const a = await env.connectedClient({ label: 'a' });
      const b = await env.connectedClient({ label: 'b' });
      await a.subscribe(name);
      const chB = await b.subscribe(name);
      const sinceA = a.mark();
      const got = nextEvent(chB, 'excl');
      await sdk.trigger(name, 'excl', { n: 1 }, { socket_id: a.socketId });
      assert.deepEqual((await got).data, { n: 1 });
      await publishBarrier(sdk, name, [a]);
      assert.deepEqual(a.framesSince(sinceA, (f) => f.event === 'excl'), []);
    });

    it('info=subscription_count,user_count on a presence channel', async () => {
      const name = unique('presence-info-');
      const a = await env.connectedClient({ userId: 'u1', userInfo: {} });
      const b1 = await env.connectedClient({ userId: 'u2', userInfo: {} });
      const b2 = await env.connectedClient({ userId: 'u2', userInfo: {} });
      await a.subscribe(name);
      await b1.subscribe(name);
      await b2.subscribe(name);
      const body = await json(sdk.trigger(name, 'ev', {}, { info: 'subscription_count,user_count' }));
      assert.deepEqual(body, { channels: { [name]: { subscription_count: 3, user_count: 2 } } });
    });

    it('info=subscription_count on public channels, including an empty one', async () => {
      const busy = unique('pub-info-');
      const empty = unique('pub-empty-');
      for (let i = 0; i < 3; i += 1) await (await env.connectedClient()).subscribe(busy);
      const body = await json(sdk.trigger([busy, empty], 'ev', {}, { info: 'subscription_count' }));
      assert.deepEqual(body, {
        channels: { [busy]: { subscription_count: 3 }, [empty]: { subscription_count: 0 } },
      });
    });

    it('a ~9 KB payload is accepted and delivered intact', async () => {
      const name = unique('pub-');
      const c = await env.connectedClient();
      const ch = await c.subscribe(name);
      const big = 'x'.repeat(9 * 1024);
      const got = nextEvent(ch, 'big');
      await sdk.trigger(name, 'big', big);
      assert.equal((await got).data, big);
    });
  });

  describe('POST /apps/{id}/batch_events', () => {
    it('publishes every event of the batch; success body is {}', async () => {
      const n1 = unique('batch-a-');
      const n2 = unique('batch-b-');
      const c = await env.connectedClient();
      await c.subscribe(n1);
      await c.subscribe(n2);
      const since = c.mark();
      const body = await json(
        sdk.triggerBatch([
          { channel: n1, name: 'b1', data: { i: 1 } },
          { channel: n2, name: 'b2', data: { i: 2 } },
          { channel: n1, name: 'b3', data: 'three' },
        ]),
      );
      assert.deepEqual(body, {});
      await c.waitFrame((f) => f.event === 'b3', { since });
      await c.waitFrame((f) => f.event === 'b2', { since });
      const got = c.framesSince(since, (f) => ['b1', 'b2', 'b3'].includes(f.event));
      assert.deepEqual(
        got.map((f) => [f.channel, f.event, f.data]).sort((x, y) => x[1].localeCompare(y[1])),
        [
          [n1, 'b1', { i: 1 }],
          [n2, 'b2', { i: 2 }],
          [n1, 'b3', 'three'],
        ],
      );
      // events on one channel keep their order
      assert.deepEqual(
        got.filter((f) => f.channel === n1).map((f) => f.event),
        ['b1', 'b3'],
      );
    });

    it('socket_id per batch item excludes that connection', async () => {
      const name = unique('batch-');
      const a = await env.connectedClient({ label: 'a' });
      const b = await env.connectedClient({ label: 'b' });
      await a.subscribe(name);
      const chB = await b.subscribe(name);
      const sinceA = a.mark();
      const got = nextEvent(chB, 'bx');
      await sdk.triggerBatch([{ channel: name, name: 'bx', data: {}, socket_id: a.socketId }]);
      await got;
      await publishBarrier(sdk, name, [a]);
      assert.deepEqual(a.framesSince(sinceA, (f) => f.event === 'bx'), []);
    });

    it('info per batch item gives an index-aligned {"batch":[...]}', async () => {
      const name = unique('batch-info-');
      await (await env.connectedClient()).subscribe(name);
      await (await env.connectedClient()).subscribe(name);
      const body = await json(
        sdk.triggerBatch([
          { channel: name, name: 'i1', data: {}, info: 'subscription_count' },
          { channel: name, name: 'i2', data: {} },
        ]),
      );
      assert.deepEqual(body, { batch: [{ subscription_count: 2 }, {}] });
    });
  });

  describe('GET /apps/{id}/channels', () => {
    it('lists only occupied channels, filtered by prefix', async () => {
      const prefix = unique('ls-');
      const names = [`${prefix}-a`, `${prefix}-b`];
      const c = await env.connectedClient();
      for (const n of names) await c.subscribe(n);
      await sdk.trigger(`${prefix}-unoccupied`, 'ev', {});
      const body = await json(sdk.get({ path: '/channels', params: { filter_by_prefix: prefix } }));
      assert.deepEqual(body, { channels: { [names[0]]: {}, [names[1]]: {} } });
    });

    it('the unfiltered list contains our channels', async () => {
      const name = unique('all-');
      await (await env.connectedClient()).subscribe(name);
      const body = await json(sdk.get({ path: '/channels' }));
      assert.deepEqual(body.channels[name], {});
    });

    it('info=user_count with filter_by_prefix=presence-', async () => {
      const prefix = unique('presence-ls-');
      const a = `${prefix}-a`;
      const b = `${prefix}-b`;
      await (await env.connectedClient({ userId: 'u1', userInfo: {} })).subscribe(a);
      await (await env.connectedClient({ userId: 'u2', userInfo: {} })).subscribe(a);
      await (await env.connectedClient({ userId: 'u2', userInfo: {} })).subscribe(a);
      await (await env.connectedClient({ userId: 'u3', userInfo: {} })).subscribe(b);
      const body = await json(sdk.get({ path: '/channels', params: { filter_by_prefix: prefix, info: 'user_count' } }));
      assert.deepEqual(body, { channels: { [a]: { user_count: 2 }, [b]: { user_count: 1 } } });
    });

    it('info=user_count without a presence- prefix filter is a 400', async () => {
      await expectHttpError(sdk.get({ path: '/channels', params: { info: 'user_count' } }), 400, 'user_count without prefix');
      await expectHttpError(
        sdk.get({ path: '/channels', params: { info: 'user_count', filter_by_prefix: 'private-' } }),
        400,
        'user_count with private- prefix',
      );
    });

    it('a channel disappears from the list once vacated', async () => {
      const prefix = unique('vac-');
      const c = await env.connectedClient();
      await c.subscribe(`${prefix}-x`);
      c.disconnect();
      await waitUntil(
        async () => {
          const body = await json(sdk.get({ path: '/channels', params: { filter_by_prefix: prefix } }));
          return Object.keys(body.channels).length === 0;
        },
        { what: 'vacated channel to leave the list' },
      );
    });
  });

  describe('GET /apps/{id}/channels/{channel}', () => {
    it('presence channel with info=subscription_count,user_count', async () => {
      const name = unique('presence-one-');
      await (await env.connectedClient({ userId: 'u1', userInfo: {} })).subscribe(name);
      await (await env.connectedClient({ userId: 'u1', userInfo: {} })).subscribe(name);
      await (await env.connectedClient({ userId: 'u2', userInfo: {} })).subscribe(name);
      const body = await json(
        sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count,user_count' } }),
      );
      assert.deepEqual(body, { occupied: true, subscription_count: 3, user_count: 2 });
      assert.deepEqual(await json(sdk.get({ path: `/channels/${name}`, params: { info: 'user_count' } })), {
        occupied: true,
        user_count: 2,
      });
    });

    it('public channel: occupied, and subscription_count when asked', async () => {
      const name = unique('pub-one-');
      await (await env.connectedClient()).subscribe(name);
      await (await env.connectedClient()).subscribe(name);
      assert.deepEqual(await json(sdk.get({ path: `/channels/${name}` })), { occupied: true });
      assert.deepEqual(
        await json(sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })),
        { occupied: true, subscription_count: 2 },
      );
    });

    it('an unknown channel is simply unoccupied', async () => {
      assert.deepEqual(await json(sdk.get({ path: `/channels/${unique('nobody-')}` })), { occupied: false });
    });

    it('user_count on a non-presence channel is a 400', async () => {
      await expectHttpError(
        sdk.get({ path: `/channels/${unique('pub-')}`, params: { info: 'user_count' } }),
        400,
        'user_count on public channel',
      );
    });

    it('counts drop when members leave', async () => {
      const name = unique('presence-drop-');
      const a = await env.connectedClient({ userId: 'u1', userInfo: {} });
      const b = await env.connectedClient({ userId: 'u2', userInfo: {} });
      await a.subscribe(name);
      await b.subscribe(name);
      b.disconnect();
      await waitUntil(
        async () => {
          const body = await json(
            sdk.get({ path: `/channels/${name}`, params: { info: 'subscription_count,user_count' } }),
          );
          return body.user_count === 1 && body.subscription_count === 1 && body.occupied === true;
        },
        { what: 'counts 1/1 after a member left' },
      );
    });
  });

  describe('GET /apps/{id}/channels/{channel}/users', () => {
    it('lists each user id once', async () => {
      const name = unique('presence-users-');
      await (await env.connectedClient({ userId: 'alice', userInfo: { secret: 'not listed' } })).subscribe(name);
      await (await env.connectedClient({ userId: 'bob', userInfo: {} })).subscribe(name);
      await (await env.connectedClient({ userId: 'bob', userInfo: {} })).subscribe(name);
      const body = await json(sdk.get({ path: `/channels/${name}/users` }));
      assert.deepEqual(Object.keys(body), ['users']);
      assert.deepEqual(
        [...body.users].sort((x, y) => x.id.localeCompare(y.id)),
        [{ id: 'alice' }, { id: 'bob' }],
      );
    });

    it('an empty presence channel has no users', async () => {
      assert.deepEqual(await json(sdk.get({ path: `/channels/${unique('presence-empty-')}/users` })), { users: [] });
    });

    it('a non-presence channel is a 400', async () => {
      await expectHttpError(sdk.get({ path: `/channels/${unique('pub-')}/users` }), 400, 'users of a public channel');
    });
  });

  describe('POST /apps/{id}/users/{user}/terminate_connections', () => {
    it('returns 200 with a JSON object body', async () => {
      const body = await json(sdk.terminateUserConnections(unique('nobody-')));
      assert.equal(typeof body, 'object');
      assert.ok(body !== null && !Array.isArray(body));
    });
  });

  describe('errors', () => {
    it('wrong secret: 401 for POST and GET, nothing delivered', async () => {
      const name = unique('pub-');
      const c = await env.connectedClient();
      await c.subscribe(name);
      const since = c.mark();
      const bad = env.sdk(DEFAULT_APP, { secret: 'wrong-secret' });
      await expectHttpError(bad.trigger(name, 'forged', {}), 401, 'trigger with wrong secret');
      await expectHttpError(bad.get({ path: '/channels' }), 401, 'GET with wrong secret');
      await expectHttpError(bad.triggerBatch([{ channel: name, name: 'forged', data: {} }]), 401, 'batch wrong secret');
      await publishBarrier(sdk, name, [c]);
      assert.deepEqual(c.framesSince(since, (f) => f.event === 'forged'), []);
    });

    it('wrong key (valid app id): 401', async () => {
      const bad = env.sdk(DEFAULT_APP, { key: 'not-the-key' });
      await expectHttpError(bad.trigger(unique('pub-'), 'x', {}), 401, 'wrong key');
    });

    it('unknown app id: 404 (or 401)', async () => {
      const bad = env.sdk(DEFAULT_APP, { appId: '999999' });
      await expectHttpError(bad.trigger(unique('pub-'), 'x', {}), [404, 401], 'unknown app id');
      await expectHttpError(bad.get({ path: '/channels' }), [404, 401], 'unknown app id GET');
    });

    it('more than 100 channels: 400', async () => {
      const channels = Array.from({ length: 101 }, (_, i) => `many-${i}`);
      await expectHttpError(
        sdk.post({ path: '/events', body: { name: 'x', data: '{}', channels } }),
        400,
        '101 channels',
      );
      // exactly 100 is fine
      assert.deepEqual(await json(sdk.trigger(channels.slice(0, 100), 'x', {})), {});
    });

    it('more than 10 events in a batch: 400', async () => {
      const batch = Array.from({ length: 11 }, (_, i) => ({ channel: `batch-${i}`, name: 'x', data: {} }));
      await expectHttpError(sdk.triggerBatch(batch), 400, '11 batch events');
      assert.deepEqual(await json(sdk.triggerBatch(batch.slice(0, 10))), {});
    });

    it('invalid channel names: 400', async () => {
      for (const bad of ['bad channel', 'bad$name', 'x'.repeat(201), '']) {
        await expectHttpError(
          sdk.post({ path: '/events', body: { name: 'x', data: '{}', channels: [bad] } }),
          400,
          `channel ${JSON.stringify(bad.slice(0, 20))}`,
        );
      }
      await expectHttpError(
        sdk.triggerBatch([{ channel: 'bad channel', name: 'x', data: {} }]),
        400,
        'batch with bad channel',
      );
    });

    it('missing name or data, or an event name over 200 chars: 400', async () => {
      await expectHttpError(sdk.post({ path: '/events', body: { data: '{}', channels: ['a'] } }), 400, 'no name');
      await expectHttpError(sdk.post({ path: '/events', body: { name: 'x', channels: ['a'] } }), 400, 'no data');
      await expectHttpError(
        sdk.post({ path: '/events', body: { name: 'e'.repeat(201), data: '{}', channels: ['a'] } }),
        400,
        'long event name',
      );
    });

    it('no channels at all: 400', async () => {
      await expectHttpError(sdk.post({ path: '/events', body: { name: 'x', data: '{}' } }), 400, 'no channels');
    });

    it('payload over 10 KB: 413, and nothing is delivered', async () => {
      const name = unique('pub-');
      const c = await env.connectedClient();
      await c.subscribe(name);
      const since = c.mark();
      await expectHttpError(sdk.trigger(name, 'huge', 'x'.repeat(11 * 1024)), 413, '11 KB trigger');
      await expectHttpError(
        sdk.triggerBatch([
          { channel: name, name: 'huge', data: 'small' },
          { channel: name, name: 'huge', data: 'x'.repeat(11 * 1024) },
        ]),
        413,
        '11 KB batch item',
      );
      await publishBarrier(sdk, name, [c]);
      assert.deepEqual(c.framesSince(since, (f) => f.event === 'huge'), []);
    });

    it('invalid JSON body: 400', async () => {
      // still properly signed by the SDK: post() JSON-encodes, so send a JSON string literal body
      await expectHttpError(sdk.post({ path: '/events', body: 'not an object' }), 400, 'string body');
    });
  });
});
