'use strict';
// Connection handshake, ping/pong, refusal codes and server-side keep-alive.

const { describe, it, before, after, afterEach } = require('node:test');
const assert = require('node:assert/strict');
const { Env, DEFAULT_APP, waitUntil, TIMEOUT } = require('./harness');

const SOCKET_ID_RE = /^\d+\.\d+$/;

describe('connection (activity_timeout = 77)', () => {
  let env;
  before(async () => {
    env = await Env.start({ activity_timeout: 77, apps: [{ ...DEFAULT_APP }] });
  });
  after(async () => {
    if (env) await env.stop();
  });
  afterEach(async () => {
    await env.closeClients();
  });

  it('pusher-js connects and gets a socket_id of the form \\d+.\\d+', async () => {
    const c = await env.connectedClient();
    assert.equal(c.state, 'connected');
    assert.match(c.socketId, SOCKET_ID_RE);
  });

  it('two connections get different socket_ids', async () => {
    const a = await env.connectedClient();
    const b = await env.connectedClient();
    assert.match(a.socketId, SOCKET_ID_RE);
    assert.match(b.socketId, SOCKET_ID_RE);
    assert.notEqual(a.socketId, b.socketId);
  });

  it('pusher-js adopts the advertised activity_timeout (min of 120 s and the server value)', async () => {
    const c = await env.connectedClient();
    assert.equal(c.pusher.connection.activityTimeout, 77000);
  });

  it('first frame is pusher:connection_established with double-encoded {socket_id, activity_timeout}', async () => {
    const sock = await env.raw();
    const f = await sock.waitFrame(() => true, { what: 'first frame' });
    assert.equal(sock.frames[0], f);
    assert.equal(f.isBinary, false, 'frames must be text');
    assert.equal(f.msg.event, 'pusher:connection_established', f.raw);
    assert.equal(f.msg.channel, undefined, 'connection_established must not carry a channel');
    assert.equal(typeof f.msg.data, 'string', `data must be a JSON string (double encoded): ${f.raw}`);
    const data = JSON.parse(f.msg.data);
    assert.deepEqual(Object.keys(data).sort(), ['activity_timeout', 'socket_id'], f.raw);
    assert.match(data.socket_id, SOCKET_ID_RE);
    assert.equal(data.activity_timeout, 77);
  });

  it('answers pusher:ping (data {} as pusher-js sends, and data "" as Pysher sends) with pusher:pong', async () => {
    const { sock } = await env.rawConnected();
    for (const data of [{}, '']) {
      const since = sock.mark();
      sock.send({ event: 'pusher:ping', data });
      const f = await sock.waitFrame(() => true, { since, what: 'reply to pusher:ping' });
      assert.equal(f.msg.event, 'pusher:pong', f.raw);
      assert.equal(f.msg.channel, undefined);
    }
    assert.equal(sock.closed, null);
  });

  it('accepts protocol 6 and 5 as well (Pysher speaks 6)', async () => {
    for (const protocol of [5, 6]) {
      const sock = await env.raw({ query: `client=Pysher&version=1.0.7&protocol=${protocol}` });
      const f = await sock.waitFrame(() => true, { what: 'first frame' });
      assert.equal(f.msg.event, 'pusher:connection_established', `protocol=${protocol}: ${f.raw}`);
      sock.close();
    }
  });

  it('unknown app key: pusher:error {code 4001} then close 4001', async () => {
    const sock = await env.raw({ key: 'no-such-key' });
    const close = await sock.waitClose();
    assert.equal(close.code, 4001);
    const errors = sock.frames.filter((f) => f.msg.event === 'pusher:error');
    assert.equal(errors.length, 1, `expected one pusher:error frame, got ${JSON.stringify(sock.frames.map((f) => f.raw))}`);
    const data = errors[0].msg.data;
    assert.equal(typeof data, 'object', 'pusher:error data must be an object');
    assert.equal(data.code, 4001);
    assert.equal(typeof data.message, 'string');
    assert.ok(
      !sock.frames.some((f) => f.msg.event === 'pusher:connection_established'),
      'no connection_established for an unknown key',
    );
  });

  it('unknown app key through pusher-js: error code 4001 and the connection is refused (no reconnect)', async () => {
    const c = env.client({ app: { ...DEFAULT_APP, key: 'no-such-key' } });
    // pusher-js wraps it: {type:'WebSocketError', error:{type:'PusherError', data:{code, message}}}
    const codeOf = (e) => (e && e.data && e.data.code) || (e && e.error && e.error.data && e.error.data.code);
    await waitUntil(() => c.errors.some((e) => codeOf(e) === 4001), {
      what: `a pusher-js error with code 4001 (errors so far: ${JSON.stringify(c.errors)})`,
    });
    // 'refused' (4000-4099) makes pusher-js go to 'disconnected' and never reconnect.
    await waitUntil(() => ['disconnected', 'failed'].includes(c.state), { what: 'pusher-js to give up' });
    assert.ok(!c.states.some((s) => s.current === 'connected'), 'must never reach connected');
  });

  it('unsupported protocol version (protocol=99): close 4007', async () => {
    const sock = await env.raw({ query: 'protocol=99&client=js&version=8.6.0' });
    const close = await sock.waitClose();
    assert.equal(close.code, 4007);
    assert.ok(!sock.frames.some((f) => f.msg.event === 'pusher:connection_established'));
  });

  it('non-/app/ path is not upgraded to a Pusher connection', async () => {
    let sock;
    try {
      sock = await env.raw({ path: '/not-an-app/conf-key' });
    } catch (e) {
      return; // handshake rejected with an HTTP error: fine
    }
    // If upgraded at all, it must be refused (Pusher: 4005 path not found), never established.
    const close = await sock.waitClose();
    assert.ok(!sock.frames.some((f) => f.msg.event === 'pusher:connection_established'));
    assert.equal(close.code, 4005);
  });

  it('the connection stays open while idle for less than activity_timeout', async () => {
    const { sock } = await env.rawConnected();
    await sock.pingBarrier();
    await sock.pingBarrier();
    assert.equal(sock.closed, null);
  });
});

describe('server keep-alive (activity_timeout = 1, pong_timeout = 1)', () => {
  let env;
  before(async () => {
    env = await Env.start({ activity_timeout: 1, pong_timeout: 1, apps: [{ ...DEFAULT_APP }] });
  });
  after(async () => {
    if (env) await env.stop();
  });
  afterEach(async () => {
    await env.closeClients();
  });

  it('advertises activity_timeout 1', async () => {
    const sock = await env.raw();
    const f = await sock.waitEvent('pusher:connection_established');
    assert.equal(JSON.parse(f.msg.data).activity_timeout, 1);
  });

  it('a silent client gets pusher:ping, then close 4201 when it never answers', async () => {
    const { sock } = await env.rawConnected();
    const since = sock.mark();
    const ping = await sock.waitEvent('pusher:ping', { since, timeout: TIMEOUT + 3000 });
    assert.equal(ping.msg.channel, undefined);
    const close = await sock.waitClose({ timeout: TIMEOUT + 3000 });
    assert.equal(close.code, 4201);
  });

  it('a client that answers pings stays connected past the pong timeout', async () => {
    // The responsive socket opens first, so its deadlines fall before the silent one's.
    const { sock: good } = await env.rawConnected();
    good.ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.event === 'pusher:ping') good.send({ event: 'pusher:pong', data: {} });
    });
    const { sock: silent } = await env.rawConnected();
    const close = await silent.waitClose({ timeout: TIMEOUT + 3000 });
    assert.equal(close.code, 4201);
    assert.ok(good.frames.some((f) => f.msg.event === 'pusher:ping'), 'the good socket was pinged too');
    await good.pingBarrier();
    assert.equal(good.closed, null, `responsive socket was closed: ${JSON.stringify(good.closed)}`);
  });

  it('pusher-js (which answers pings and pings itself) stays connected', async () => {
    const c = await env.connectedClient();
    const s = await env.rawConnected();
    await s.sock.waitClose({ timeout: TIMEOUT + 3000 }); // > activity + pong timeout elapsed
    assert.equal(c.state, 'connected');
    assert.deepEqual(
      c.states.map((s) => s.current).filter((s) => s !== 'connecting'),
      ['connected'],
      'pusher-js must not have reconnected',
    );
  });
});
