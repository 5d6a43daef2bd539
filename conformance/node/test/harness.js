'use strict';
// The conformance harness: pusher-js clients with frame recording and deadline waits (Client), and
// a per-file environment of server + auth backend + clients (Env). The process and backend side
// is in server.js; every name of both is exported from here.

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');

const server = require('./server');
const {
  DEFAULT_APP,
  HOST,
  PusherJs,
  TIMEOUT,
  WebSocket,
  makeSdk,
  nextEvent,
  startAuthServer,
  startServer,
  unique,
  withDeadline,
} = server;
// ---------------------------------------------------------------------------------------------
// pusher-js client wrapper

class Client {
  /**
   * @param {Env} env
   * @param {object} o  app, userId, userInfo, watchlist, authMode, PusherClass, options (merged
   *                    into the pusher-js options)
   */
  constructor(env, o = {}) {
    this.env = env;
    this.app = o.app || env.app;
    this.label = o.label || o.userId || 'client';
    const params = {};
    if (this.app.key !== env.app.key) params.app_key = this.app.key;
    if (o.userId !== undefined) params.user_id = o.userId;
    if (o.userInfo !== undefined) params.user_info = JSON.stringify(o.userInfo);
    if (o.watchlist !== undefined) params.watchlist = o.watchlist.join(',');
    if (o.authMode !== undefined) params.auth_mode = o.authMode;
    const PusherClass = o.PusherClass || PusherJs;
    this.pusher = new PusherClass(this.app.key, {
      cluster: 'mt1',
      wsHost: HOST,
      wsPort: env.port,
      wssPort: env.port,
      forceTLS: false,
      enabledTransports: ['ws'],
      disableStats: true,
      channelAuthorization: { endpoint: env.auth.channelEndpoint, transport: 'ajax', params },
      userAuthentication: { endpoint: env.auth.userEndpoint, transport: 'ajax', params },
      ...(o.options || {}),
    });
    /** Every decoded frame received: {event, channel?, data, user_id?} (data JSON-decoded). */
    this.frames = [];
    this.states = [];
    this.errors = [];
    this._waiters = new Set();
    this.pusher.connection.bind('message', (frame) => {
      this.frames.push(frame);
      for (const w of [...this._waiters]) w();
    });
    this.pusher.connection.bind('state_change', (s) => this.states.push(s));
    this.pusher.connection.bind('error', (e) => this.errors.push(e));
    env.clients.add(this);
  }

  get socketId() {
    return this.pusher.connection.socket_id;
  }

  get state() {
    return this.pusher.connection.state;
  }

  async connected(timeout = TIMEOUT) {
    if (this.state !== 'connected') {
      await nextEvent(this.pusher.connection, 'connected', { timeout, what: `${this.label} to connect` });
    }
    return this;
  }

  /** Index into `frames`: pass to waitFrame/framesSince to look only at later frames. */
  mark() {
    return this.frames.length;
  }

  framesSince(mark, pred = () => true) {
    return this.frames.slice(mark).filter(pred);
  }

  /** Waits for a frame matching `pred` at index >= since; resolves with it. */
  waitFrame(pred, { since = 0, timeout = TIMEOUT, what = 'frame' } = {}) {
    const find = () => this.frames.slice(since).find(pred);
    const hit = find();
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const check = () => {
        const f = find();
        if (f) {
          done();
          resolve(f);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out after ${timeout} ms: ${this.label} waiting for ${what}; frames since mark: ` +
              JSON.stringify(this.frames.slice(since)).slice(0, 2000),
          ),
        );
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this._waiters.delete(check);
      };
      this._waiters.add(check);
    });
  }

  /**
   * Per-socket barrier: sends pusher:ping and waits for the pong. Anything the server queued for
   * this socket before handling the ping arrives before the pong.
   */
  async pingBarrier() {
    const since = this.mark();
    this.pusher.connection.send_event('pusher:ping', {});
    await this.waitFrame((f) => f.event === 'pusher:pong', { since, what: 'pusher:pong (barrier)' });
  }

  /** Subscribes and resolves with the channel on pusher:subscription_succeeded. */
  async subscribe(name, { timeout = TIMEOUT } = {}) {
    await this.connected();
    const channel = this.pusher.subscribe(name);
    if (channel.subscribed) return channel;
    await new Promise((resolve, reject) => {
      const ok = () => {
        cleanup();
        resolve();
      };
      const fail = (status) => {
        cleanup();
        reject(new Error(`${this.label}: pusher:subscription_error on ${name}: ${JSON.stringify(status)}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.label}: timed out after ${timeout} ms subscribing to ${name}`));
      }, timeout);
      const cleanup = () => {
        clearTimeout(timer);
        channel.unbind('pusher:subscription_succeeded', ok);
        channel.unbind('pusher:subscription_error', fail);
      };
      channel.bind('pusher:subscription_succeeded', ok);
      channel.bind('pusher:subscription_error', fail);
    });
    return channel;
  }

  /** Signs in and resolves with the pusher:signin_success frame once #server-to-user-{id} is subscribed. */
  async signin({ timeout = TIMEOUT } = {}) {
    await this.connected();
    const since = this.mark();
    this.pusher.signin();
    const ok = await this.waitFrame((f) => f.event === 'pusher:signin_success' || f.event === 'pusher:error', {
      since,
      timeout,
      what: 'pusher:signin_success',
    });
    if (ok.event !== 'pusher:signin_success') {
      throw new Error(`${this.label}: signin failed: ${JSON.stringify(ok)}`);
    }
    const userChannel = `#server-to-user-${this.pusher.user.user_data && this.pusher.user.user_data.id}`;
    await this.waitFrame(
      (f) => f.channel === userChannel && f.event === 'pusher_internal:subscription_succeeded',
      { since, timeout, what: `subscription_succeeded on ${userChannel}` },
    );
    return ok;
  }

  /** Resolves when the connection leaves 'connected' (or is already not connected). */
  async leftConnected(timeout = TIMEOUT) {
    if (this.state !== 'connected') return this.state;
    const { data } = await nextEvent(this.pusher.connection, 'state_change', {
      timeout,
      filter: (s) => s.previous === 'connected' && s.current !== 'connected',
      what: `${this.label} to leave 'connected'`,
    });
    return data.current;
  }

  disconnect() {
    this.pusher.disconnect();
    this.env.clients.delete(this);
  }
}

// ---------------------------------------------------------------------------------------------
// Raw WebSocket client (exact frame checks)

class RawSocket {
  constructor(ws) {
    this.ws = ws;
    /** [{raw, msg}] where msg is the parsed outer JSON (data left as sent). */
    this.frames = [];
    this.closed = null;
    this._waiters = new Set();
    const notify = () => {
      for (const w of [...this._waiters]) w();
    };
    ws.on('message', (data, isBinary) => {
      const raw = isBinary ? data : data.toString('utf8');
      let msg;
      try {
        msg = JSON.parse(raw);
      } catch (e) {
        msg = { unparseable: String(raw) };
      }
      this.frames.push({ raw, msg, isBinary });
      notify();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      notify();
    });
    ws.on('error', (err) => {
      this.error = err;
      notify();
    });
  }

  mark() {
    return this.frames.length;
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  _wait(find, timeout, what) {
    const hit = find();
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = find();
        if (v) {
          done();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `timed out after ${timeout} ms waiting for ${what}; raw frames: ` +
              JSON.stringify(this.frames.map((f) => f.raw)).slice(0, 2000) +
              (this.closed ? `; closed ${JSON.stringify(this.closed)}` : ''),
          ),
        );
      }, timeout);
      const done = () => {
        clearTimeout(timer);
        this._waiters.delete(check);
      };
      this._waiters.add(check);
    });
  }

  /** Resolves with the first frame (index >= since) whose parsed message matches `pred`. */
  waitFrame(pred, { since = 0, timeout = TIMEOUT, what = 'frame' } = {}) {
    return this._wait(() => this.frames.slice(since).find((f) => pred(f.msg)), timeout, what);
  }

  waitEvent(event, opts = {}) {
    return this.waitFrame((m) => m.event === event && (!opts.channel || m.channel === opts.channel), {
      what: `event ${event}${opts.channel ? ` on ${opts.channel}` : ''}`,
      ...opts,
    });
  }

  /** Resolves with {code, reason} once the server closed the socket. */
  waitClose({ timeout = TIMEOUT } = {}) {
    return this._wait(() => this.closed, timeout, 'the socket to close');
  }

  /** Per-socket barrier: ping/pong. */
  async pingBarrier() {
    const since = this.mark();
    this.send({ event: 'pusher:ping', data: {} });
    await this.waitEvent('pusher:pong', { since, what: 'pusher:pong (barrier)' });
  }

  /** socket_id from pusher:connection_established. */
  async socketId() {
    const f = await this.waitEvent('pusher:connection_established');
    return JSON.parse(f.msg.data).socket_id;
  }

  close() {
    try {
      this.ws.terminate();
    } catch (e) {
      /* ignore */
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Environment: one server + auth backend per test file

class Env {
  constructor() {
    this.clients = new Set();
    this.raws = new Set();
  }

  /**
   * @param {object} config  TOML config object; `apps` defaults to [DEFAULT_APP]. The first app is
   *                         the default one for clients and `sdk()`.
   */
  static async start(config = {}) {
    const env = new Env();
    const full = { ...config, apps: config.apps || [{ ...DEFAULT_APP }] };
    env.server = await startServer(full);
    env.port = env.server.port;
    env.apps = full.apps;
    env.app = full.apps[0];
    const sdks = new Map(full.apps.map((a) => [a.key, makeSdk(env.port, a)]));
    env.auth = await startAuthServer((key) => {
      const sdk = sdks.get(key);
      if (!sdk) throw new Error(`no app with key ${key}`);
      return sdk;
    }, env.app.key);
    return env;
  }

  appByKey(key) {
    const app = this.apps.find((a) => a.key === key);
    if (!app) throw new Error(`no app ${key}`);
    return app;
  }

  /** A `pusher` SDK instance for `app` (default app unless given), with optional overrides. */
  sdk(app = this.app, overrides = {}) {
    return makeSdk(this.port, app, overrides);
  }

  /** A new pusher-js client (connecting immediately). */
  client(opts = {}) {
    return new Client(this, opts);
  }

  async connectedClient(opts = {}) {
    return this.client(opts).connected();
  }

  /** Opens a raw WebSocket to /app/{key}; resolves once open (or closed by the server first). */
  async raw({ key = this.app.key, query = 'protocol=7&client=js&version=8.6.0&flash=false', path: p } = {}) {
    const url = `ws://${HOST}:${this.port}${p || `/app/${encodeURIComponent(key)}`}${query ? `?${query}` : ''}`;
    const ws = new WebSocket(url);
    const sock = new RawSocket(ws);
    this.raws.add(sock);
    await withDeadline(
      new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('close', resolve);
        ws.once('error', reject);
      }),
      TIMEOUT,
      `WebSocket ${url} to open`,
    );
    return sock;
  }

  /** Raw socket that has received connection_established; resolves {sock, socketId}. */
  async rawConnected(opts) {
    const sock = await this.raw(opts);
    const socketId = await sock.socketId();
    return { sock, socketId };
  }

  /** Raw subscribe (auth computed with the SDK); resolves with the subscription_succeeded frame. */
  async rawSubscribe(sock, socketId, channel, { presenceData, app = this.app } = {}) {
    const data = { channel };
    if (channel.startsWith('private-') || channel.startsWith('presence-')) {
      const a = this.sdk(app).authorizeChannel(socketId, channel, presenceData);
      data.auth = a.auth;
      if (a.channel_data) data.channel_data = a.channel_data;
    } else {
      data.auth = '';
    }
    const since = sock.mark();
    sock.send({ event: 'pusher:subscribe', data });
    const f = await sock.waitFrame(
      (m) =>
        m.channel === channel &&
        (m.event === 'pusher_internal:subscription_succeeded' ||
          m.event === 'pusher:subscription_error' ||
          m.event === 'pusher:error'),
      { since, what: `subscription reply on ${channel}` },
    );
    assert.equal(f.msg.event, 'pusher_internal:subscription_succeeded', `raw subscribe ${channel}: ${f.raw}`);
    return f;
  }

  /** Raw signin (signature from the SDK); resolves with the pusher:signin_success frame. */
  async rawSignin(sock, socketId, userData, { app = this.app } = {}) {
    const a = this.sdk(app).authenticateUser(socketId, userData);
    const since = sock.mark();
    sock.send({ event: 'pusher:signin', data: { auth: a.auth, user_data: a.user_data } });
    const f = await sock.waitFrame((m) => m.event === 'pusher:signin_success' || m.event === 'pusher:error', {
      since,
      what: 'pusher:signin_success',
    });
    assert.equal(f.msg.event, 'pusher:signin_success', `raw signin: ${f.raw}`);
    return f;
  }

  /** Disconnects every client and raw socket (use in afterEach). */
  async closeClients() {
    for (const c of [...this.clients]) c.disconnect();
    for (const s of [...this.raws]) s.close();
    this.raws.clear();
  }

  async stop() {
    await this.closeClients();
    if (this.auth) await this.auth.stop();
    if (this.server) await this.server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP API helpers

/** Awaits an SDK promise expected to fail; checks status and the JSON error body; returns the error. */
async function expectHttpError(promise, statuses, what) {
  const allowed = Array.isArray(statuses) ? statuses : [statuses];
  let err;
  try {
    const res = await promise;
    const text = await res.text().catch(() => '');
    assert.fail(`${what}: expected HTTP ${allowed.join('/')} but got ${res.status} ${text}`);
  } catch (e) {
    if (e && e.code === 'ERR_ASSERTION') throw e;
    err = e;
  }
  assert.equal(err.name, 'PusherRequestError', `${what}: unexpected error ${err && err.stack}`);
  assert.ok(
    allowed.includes(err.status),
    `${what}: expected HTTP ${allowed.join('/')} but got ${err.status} (body ${err.body})`,
  );
  let body;
  try {
    body = JSON.parse(err.body);
  } catch (e) {
    assert.fail(`${what}: error body is not JSON: ${JSON.stringify(err.body)}`);
  }
  assert.equal(typeof body.error, 'string', `${what}: body.error must be a string: ${err.body}`);
  assert.ok(body.error.length > 0, `${what}: body.error must not be empty`);
  assert.match(String(body.code), /^[a-z][a-z0-9_]*$/, `${what}: body.code must be snake_case: ${err.body}`);
  return { status: err.status, body };
}

async function json(resPromise) {
  const res = await resPromise;
  assert.equal(res.status, 200, `HTTP status ${res.status}`);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch (e) {
    assert.fail(`response body is not JSON: ${JSON.stringify(text)}`);
  }
}

/** Publishes a unique marker to `channel` and waits until every client in `clients` received it. */
async function publishBarrier(sdk, channel, clients) {
  const id = crypto.randomBytes(6).toString('hex');
  const marks = clients.map((c) => c.mark());
  await sdk.trigger(channel, 'conformance-barrier', { id });
  await Promise.all(
    clients.map((c, i) =>
      c.waitFrame((f) => f.channel === channel && f.event === 'conformance-barrier' && f.data && f.data.id === id, {
        since: marks[i],
        what: `barrier event on ${channel}`,
      }),
    ),
  );
}

module.exports = {
  ...server,
  Env,
  expectHttpError,
  json,
  publishBarrier,
};
