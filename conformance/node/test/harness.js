'use strict';
// Shared harness for the Ferrocast Node.js conformance suite.
//
// - startServer(config)   spawns the real `ferrocast serve` binary on 127.0.0.1:0 with a temp TOML
//                         config and resolves once it prints `Ferrocast listening on http://127.0.0.1:PORT`.
// - startAuthServer(...)  a tiny app backend answering pusher-js' channel-authorization and
//                         user-authentication POSTs with the `pusher` SDK's own signatures.
// - Env                   one server + one auth server per test file; builds pusher-js clients, raw
//                         `ws` sockets and SDK instances, and tears everything down.
// - wait helpers          every wait has a deadline; negative checks use barriers (an event that must
//                         arrive after anything the server could have wrongly sent), never sleeps.

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const PusherJs = require('pusher-js');
const PusherServer = require('pusher');
const WebSocket = require('ws');

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const FERROCAST_BIN = process.env.FERROCAST_BIN || path.join(REPO_ROOT, 'target', 'debug', 'ferrocast');
const HOST = '127.0.0.1';

/** Default deadline for any single wait, in ms. */
const TIMEOUT = Number(process.env.CONFORMANCE_TIMEOUT_MS || 5000);
const START_TIMEOUT = 20000;

const DEFAULT_APP = Object.freeze({
  id: '123456',
  key: 'conf-key',
  secret: 'conf-secret',
  client_events: true,
  user_auth_required: false,
  max_presence_members: 100,
  max_payload_kb: 10,
});

/** 32 random bytes, base64: the SDK's end-to-end encryption master key (never sent to Ferrocast). */
const ENCRYPTION_MASTER_KEY_BASE64 = crypto.randomBytes(32).toString('base64');

// ---------------------------------------------------------------------------------------------
// Small utilities

let uniqueCounter = 0;
/** A channel/user name unique within this process (tests in one file share a server). */
function unique(prefix) {
  uniqueCounter += 1;
  return `${prefix}${process.pid}-${uniqueCounter}-${crypto.randomBytes(3).toString('hex')}`;
}

/** Rejects with a descriptive error if `promise` does not settle within `ms`. */
function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `check()` (every 20 ms) until it returns a truthy value, which is returned. A wait for a
 * condition with a deadline, not a sleep: it returns as soon as the condition holds.
 * `check` may be async; a thrown error counts as "not yet" and is reported on timeout.
 */
async function waitUntil(check, { timeout = TIMEOUT, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  let lastError;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > end) {
      const suffix = lastError ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${suffix}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Resolves with `{data, metadata}` the next time `emitter` (any pusher-js EventsDispatcher: channel,
 * connection, user, watchlist) emits `event` with data accepted by `filter`. Bind BEFORE acting.
 */
function nextEvent(emitter, event, { timeout = TIMEOUT, filter = () => true, what } = {}) {
  return new Promise((resolve, reject) => {
    const cb = (data, metadata) => {
      let ok;
      try {
        ok = filter(data, metadata);
      } catch (err) {
        ok = false;
      }
      if (!ok) return;
      cleanup();
      resolve({ data, metadata });
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeout} ms waiting for '${event}'${what ? ` (${what})` : ''}`));
    }, timeout);
    const cleanup = () => {
      clearTimeout(timer);
      emitter.unbind(event, cb);
    };
    emitter.bind(event, cb);
  });
}

/** Records every emission of `events` on a pusher-js emitter: [{event, data, metadata}]. */
function record(emitter, events) {
  const log = [];
  for (const event of events) {
    emitter.bind(event, (data, metadata) => log.push({ event, data, metadata }));
  }
  return log;
}

// ---------------------------------------------------------------------------------------------
// Ferrocast process

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v); // JSON strings are valid TOML basic strings
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`bad TOML number ${v}`);
    return String(v);
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  throw new Error(`unsupported TOML value ${JSON.stringify(v)}`);
}

/** Renders `{activity_timeout, ..., apps: [{...}]}` as TOML (scalars first, then [[apps]]). */
function renderToml(config) {
  const lines = [];
  const tables = [];
  for (const [k, v] of Object.entries(config)) {
    if (k === 'apps' || v === undefined) continue;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      tables.push([k, v]);
      continue;
    }
    lines.push(`${k} = ${tomlValue(v)}`);
  }
  for (const [name, table] of tables) {
    lines.push('', `[${name}]`);
    for (const [k, v] of Object.entries(table)) lines.push(`${k} = ${tomlValue(v)}`);
  }
  for (const app of config.apps || []) {
    lines.push('', '[[apps]]');
    for (const [k, v] of Object.entries(app)) {
      if (v === undefined) continue;
      lines.push(`${k} = ${tomlValue(v)}`);
    }
  }
  return lines.join('\n') + '\n';
}

const LISTEN_RE = /^Ferrocast listening on https?:\/\/127\.0\.0\.1:(\d+)$/;

/**
 * Starts `ferrocast serve` with `config` (object, rendered to TOML in a fresh temp dir).
 * Resolves `{port, config, logs(), stop()}`.
 */
async function startServer(config) {
  if (!fs.existsSync(FERROCAST_BIN)) {
    throw new Error(`Ferrocast binary not found at ${FERROCAST_BIN} (set FERROCAST_BIN)`);
  }
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ferrocast-node-conf-'));
  const configPath = path.join(dir, 'ferrocast.toml');
  await fsp.writeFile(configPath, renderToml(config));

  const child = spawn(
    FERROCAST_BIN,
    ['serve', '--config', configPath, '--host', HOST, '--port', '0', '--metrics-port', '0'],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);

  const logLines = [];
  const pushLog = (stream, line) => {
    logLines.push(`[${stream}] ${line}`);
    if (logLines.length > 400) logLines.shift();
  };
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  let resolvePort;
  const portPromise = new Promise((resolve) => {
    resolvePort = resolve;
  });
  for (const [name, stream] of [
    ['stdout', child.stdout],
    ['stderr', child.stderr],
  ]) {
    let buf = '';
    stream.setEncoding('utf8');
    // Keep draining both pipes for the whole lifetime, or a chatty server would block on write.
    stream.on('data', (chunk) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        pushLog(name, line);
        if (name === 'stdout') {
          const m = LISTEN_RE.exec(line);
          if (m) resolvePort(Number(m[1]));
        }
      }
    });
  }

  const logs = () => logLines.join('\n');
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await withDeadline(exited, 5000, 'ferrocast to exit').catch(() => {});
    await fsp.rm(dir, { recursive: true, force: true });
  };

  let port;
  try {
    port = await withDeadline(
      Promise.race([
        portPromise,
        exited.then(({ code, signal }) => {
          throw new Error(`ferrocast exited early (code ${code}, signal ${signal})`);
        }),
      ]),
      START_TIMEOUT,
      `"Ferrocast listening on http://127.0.0.1:PORT" on stdout`,
    );
  } catch (err) {
    await stop();
    err.message += `\n--- config ---\n${renderToml(config)}--- server output ---\n${logs()}`;
    throw err;
  }
  assert.ok(port > 0 && port < 65536, `bad port ${port}`);
  return { port, config, configPath, logs, stop, child };
}

// ---------------------------------------------------------------------------------------------
// SDK + auth backend

function makeSdk(port, app, overrides = {}) {
  return new PusherServer({
    appId: app.id,
    key: app.key,
    secret: app.secret,
    host: HOST,
    port: String(port),
    useTLS: false,
    timeout: TIMEOUT,
    encryptionMasterKeyBase64: ENCRYPTION_MASTER_KEY_BASE64,
    ...overrides,
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/**
 * The app's auth backend. `sdkFor(appKey)` returns the SDK for that app. Per-client identity comes
 * from pusher-js' `params` (form fields) or `headers` (Laravel Echo style):
 *   app_key / X-App-Key, user_id / X-User-Id, user_info / X-User-Info (JSON),
 *   watchlist / X-Watchlist (comma separated), auth_mode / X-Auth-Mode ('bad-signature').
 * Every request is recorded in `requests`.
 */
async function startAuthServer(sdkFor, defaultKey) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    try {
      const body = await readBody(req);
      const form = new URLSearchParams(body);
      const field = (name, header) => form.get(name) ?? req.headers[header] ?? undefined;
      const appKey = field('app_key', 'x-app-key') || defaultKey;
      const socketId = form.get('socket_id');
      const channel = form.get('channel_name');
      const userId = field('user_id', 'x-user-id');
      const userInfoRaw = field('user_info', 'x-user-info');
      const userInfo = userInfoRaw ? JSON.parse(userInfoRaw) : undefined;
      const watchlistRaw = field('watchlist', 'x-watchlist');
      const mode = field('auth_mode', 'x-auth-mode');
      const url = new URL(req.url, `http://${HOST}`);
      requests.push({ path: url.pathname, socketId, channel, userId, appKey, mode, body });
      const sdk = sdkFor(appKey);

      let answer;
      if (url.pathname === '/pusher/auth') {
        const isPresence = channel.startsWith('presence-');
        const presenceData = isPresence ? { user_id: userId, user_info: userInfo } : undefined;
        if (mode === 'bad-signature') {
          // The one hand-written signature of the suite: HMAC with the WRONG secret.
          const channelData = presenceData ? JSON.stringify(presenceData) : undefined;
          const toSign = [socketId, channel, channelData].filter((x) => x !== undefined).join(':');
          const sig = crypto.createHmac('sha256', 'definitely-not-the-secret').update(toSign).digest('hex');
          answer = { auth: `${appKey}:${sig}` };
          if (channelData) answer.channel_data = channelData;
        } else {
          answer = sdk.authorizeChannel(socketId, channel, presenceData);
        }
      } else if (url.pathname === '/pusher/user-auth') {
        const userData = { id: userId };
        if (userInfo !== undefined) userData.user_info = userInfo;
        if (watchlistRaw) userData.watchlist = watchlistRaw.split(',');
        answer = sdk.authenticateUser(socketId, userData);
        if (mode === 'bad-signature') answer.auth = `${appKey}:${'0'.repeat(64)}`;
      } else {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(err && err.stack));
    }
  });
  await new Promise((resolve) => server.listen(0, HOST, resolve));
  const { port } = server.address();
  return {
    port,
    requests,
    channelEndpoint: `http://${HOST}:${port}/pusher/auth`,
    userEndpoint: `http://${HOST}:${port}/pusher/user-auth`,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

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
  DEFAULT_APP,
  ENCRYPTION_MASTER_KEY_BASE64,
  Env,
  FERROCAST_BIN,
  HOST,
  PusherJs,
  PusherServer,
  TIMEOUT,
  expectHttpError,
  json,
  nextEvent,
  publishBarrier,
  record,
  renderToml,
  startServer,
  unique,
  waitUntil,
  withDeadline,
};
