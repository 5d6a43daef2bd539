'use strict';
// History and gap-free recovery with the real pusher-js and @ferrocast/recovery (clients/js).
// The client reaches the server through a TCP proxy the test controls, so its connection can be
// killed, held down while 100 events are published, or made silent (a network cut: the socket
// stays open and nothing arrives, until pusher-js's own ping times out). Afterwards every event
// must arrive exactly once and in order, then the live ones: after a kill, a silent cut, a
// restart of the server (SQLite store), and in a cluster when the client comes back on another
// node (Redis store). Plain pusher-js must not notice history at all.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fsp = require('node:fs/promises');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { Env, DEFAULT_APP, HOST, makeSdk, startServer, unique, waitUntil } = require('./harness');
const { withRecovery } = require('../../../clients/js');

const HISTORY_APP = {
  ...DEFAULT_APP,
  history: [{ pattern: 'history-*', size: 1000, ttl: 600 }],
};

/** A TCP proxy to 127.0.0.1:`port` whose connections can be cut, refused or silenced. */
async function startProxy(port) {
  const proxy = { upstream: port, refusing: false, conns: new Set() };
  const server = net.createServer((client) => {
    if (proxy.refusing) return client.destroy();
    const conn = { client, upstream: net.connect(proxy.upstream, HOST), silent: false };
    proxy.conns.add(conn);
    const forward = (from, to) =>
      from.on('data', (chunk) => {
        if (!conn.silent) to.write(chunk);
      });
    forward(client, conn.upstream);
    forward(conn.upstream, client);
    const end = () => {
      client.destroy();
      conn.upstream.destroy();
      proxy.conns.delete(conn);
    };
    client.on('close', end).on('error', end);
    conn.upstream.on('close', end).on('error', end);
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  proxy.port = server.address().port;
  /** Kills every connection (both sides see it closed). */
  proxy.cut = () => {
    for (const c of proxy.conns) {
      c.client.destroy();
      c.upstream.destroy();
    }
  };
  /** Open connections stop carrying anything, in both directions, and stay open. */
  proxy.silence = () => {
    for (const c of proxy.conns) c.silent = true;
  };
  proxy.close = () => {
    proxy.cut();
    server.close();
  };
  return proxy;
}

let env;
let proxy;

before(async () => {
  env = await Env.start({ apps: [HISTORY_APP] });
  proxy = await startProxy(env.port);
});

after(async () => {
  if (proxy) proxy.close();
  if (env) await env.stop();
});

/** A pusher-js client through the proxy, with the recovery wrapper on `channel`. */
async function recoveringClient(channel, options = {}) {
  const client = env.client({ options: { wsPort: proxy.port, ...options } });
  await client.connected();
  const recovery = withRecovery(client.pusher);
  const ch = recovery.subscribe(channel);
  const got = [];
  const outcomes = [];
  ch.bind('n', (data, meta) => got.push({ n: data.n, offset: meta.offset, id: meta.id }));
  ch.bind('ferrocast:recovered', (p) => outcomes.push({ recovered: true, ...p }));
  ch.bind('ferrocast:reset', (p) => outcomes.push({ recovered: false, ...p }));
  await waitUntil(() => ch.channel.subscribed, { what: `subscribed to ${channel}` });
  return { client, recovery, ch, got, outcomes };
}

async function publish(sdk, channel, from, to) {
  for (let n = from; n <= to; n += 1) await sdk.trigger(channel, 'n', { n });
}

function range(from, to) {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Waits for pusher-js to be connected again after having left 'connected'. */
async function reconnected(client, timeout = 15000) {
  await waitUntil(() => client.state === 'connected' && client.pusher.connection.connection, {
    timeout,
    what: `${client.label} to reconnect`,
  });
}

test('a killed connection: 100 events published while away arrive once, in order, then live ones', async () => {
  const channel = unique('history-kill-');
  const sdk = env.sdk();
  const r = await recoveringClient(channel);
  await publish(sdk, channel, 1, 5);
  await waitUntil(() => r.got.length === 5, { what: 'the first 5 events' });

  proxy.refusing = true;
  proxy.cut();
  await r.client.leftConnected();
  await publish(sdk, channel, 6, 105);
  proxy.refusing = false;
  await reconnected(r.client);
  await waitUntil(() => r.got.length >= 105, { timeout: 15000, what: 'the 100 missed events' });
  await publish(sdk, channel, 106, 110);
  await waitUntil(() => r.got.length >= 110, { what: 'the live events after recovery' });
  await r.client.pingBarrier();

  assert.deepEqual(r.got.map((e) => e.n), range(1, 110));
  assert.deepEqual(r.got.map((e) => e.offset), range(1, 110));
  assert.equal(new Set(r.got.map((e) => e.id)).size, 110, 'ids are unique');
  assert.equal(r.outcomes.length, 1, JSON.stringify(r.outcomes));
  assert.equal(r.outcomes[0].recovered, true);
  r.client.disconnect();
});

test('a silent network cut: pusher-js notices by its ping, reconnects and recovers', async () => {
  const channel = unique('history-silent-');
  const sdk = env.sdk();
  // pusher-js pings after 1 s of silence and gives up 1 s later.
  const r = await recoveringClient(channel, { activityTimeout: 1000, pongTimeout: 1000 });
  await publish(sdk, channel, 1, 3);
  await waitUntil(() => r.got.length === 3, { what: 'the first 3 events' });

  proxy.silence();
  await publish(sdk, channel, 4, 103);
  await r.client.leftConnected(10000);
  await reconnected(r.client);
  await waitUntil(() => r.got.length >= 103, { timeout: 15000, what: 'the events sent into the void' });
  await publish(sdk, channel, 104, 106);
  await waitUntil(() => r.got.length >= 106, { what: 'live events' });
  await r.client.pingBarrier();

  assert.deepEqual(r.got.map((e) => e.n), range(1, 106));
  assert.deepEqual(r.outcomes.map((o) => o.recovered), [true]);
  r.client.disconnect();
});

test('plain pusher-js on a history channel sees ordinary events and subscription data', async () => {
  const channel = unique('history-plain-');
  const sdk = env.sdk();
  const plain = await env.connectedClient();
  const ch = await plain.subscribe(channel);
  const received = [];
  ch.bind('n', (data, metadata) => received.push({ data, metadata }));
  await publish(sdk, channel, 1, 3);
  await waitUntil(() => received.length === 3, { what: 'three events' });
  assert.deepEqual(
    received.map((r) => r.data),
    [{ n: 1 }, { n: 2 }, { n: 3 }],
  );
  // pusher-js keeps only its four fields: the position fields never reach the app.
  for (const f of plain.frames.filter((f) => f.event === 'n')) {
    assert.deepEqual(Object.keys(f).sort(), ['channel', 'data', 'event']);
  }
  // The subscription_succeeded data of a history channel reaches the app as an object with
  // the stream position; a plain app can ignore it.
  let succeeded;
  const second = plain.pusher.subscribe(channel.replace('plain', 'plain-b'));
  second.bind('pusher:subscription_succeeded', (d) => {
    succeeded = d;
  });
  await waitUntil(() => succeeded !== undefined, { what: 'subscription_succeeded data' });
  assert.equal(succeeded.offset, 0);
  assert.equal(typeof succeeded.epoch, 'string');
  assert.equal(succeeded.recovered, undefined);
  plain.disconnect();
});

test('across a restart of the server, the SQLite history lets the client recover', async () => {
  const dataDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ferrocast-history-restart-'));
  const config = { data_dir: dataDir, history: { store: 'sqlite' }, apps: [HISTORY_APP] };
  let server = await startServer(config);
  const local = await startProxy(server.port);
  try {
    const channel = unique('history-restart-');
    let sdk = makeSdk(server.port, HISTORY_APP);
    const client = env.client({ options: { wsPort: local.port } });
    await client.connected();
    const recovery = withRecovery(client.pusher);
    const ch = recovery.subscribe(channel);
    const got = [];
    ch.bind('n', (data) => got.push(data.n));
    await waitUntil(() => ch.channel.subscribed, { what: 'subscribed' });
    await publish(sdk, channel, 1, 2);
    await waitUntil(() => got.length === 2, { what: 'first events' });

    local.refusing = true;
    await server.stop();
    await client.leftConnected();
    server = await startServer(config);
    local.upstream = server.port;
    sdk = makeSdk(server.port, HISTORY_APP);
    await publish(sdk, channel, 3, 102);
    local.refusing = false;
    await reconnected(client, 20000);
    await waitUntil(() => got.length >= 102, { timeout: 15000, what: 'events published after the restart' });
    await publish(sdk, channel, 103, 103);
    await waitUntil(() => got.length >= 103, { what: 'a live event' });
    assert.deepEqual(got, range(1, 103));
    client.disconnect();
  } finally {
    local.close();
    await server.stop();
    await fsp.rm(dataDir, { recursive: true, force: true });
  }
});

test('in a cluster with the Redis store, the client recovers on another node', async () => {
  const prefix = unique('fcnode-');
  const config = {
    cluster: { adapter: 'redis', prefix, heartbeat_ms: 200, node_timeout_ms: 1500 },
    // Short-lived keys: the shared Redis keeps nothing of this test for long.
    history: { store: 'redis', meta_ttl: 600 },
    apps: [HISTORY_APP],
  };
  const a = await startServer(config);
  const b = await startServer(config);
  const local = await startProxy(a.port);
  try {
    const channel = unique('history-cluster-');
    const [sdkA, sdkB] = [makeSdk(a.port, HISTORY_APP), makeSdk(b.port, HISTORY_APP)];
    const client = env.client({ options: { wsPort: local.port } });
    await client.connected();
    const recovery = withRecovery(client.pusher);
    const ch = recovery.subscribe(channel);
    const got = [];
    ch.bind('n', (data, meta) => got.push([data.n, meta.offset]));
    await waitUntil(() => ch.channel.subscribed, { what: 'subscribed on node A' });
    await publish(sdkA, channel, 1, 2);
    await waitUntil(() => got.length === 2, { what: 'first events on node A' });

    // Node A's connections go away; the client comes back through node B.
    local.refusing = true;
    local.cut();
    await client.leftConnected();
    for (let n = 3; n <= 102; n += 1) await (n % 2 ? sdkA : sdkB).trigger(channel, 'n', { n });
    local.upstream = b.port;
    local.refusing = false;
    await reconnected(client);
    await waitUntil(() => got.length >= 102, { timeout: 15000, what: 'the missed events, from node B' });
    await publish(sdkA, channel, 103, 103);
    await waitUntil(() => got.length >= 103, { what: 'a live event published on node A' });
    assert.deepEqual(
      got,
      range(1, 103).map((n) => [n, n]),
      'every event once, in order, numbered by the shared store',
    );
    client.disconnect();
  } finally {
    local.close();
    await a.stop();
    await b.stop();
  }
});
