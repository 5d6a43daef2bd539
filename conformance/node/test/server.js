'use strict';
// Server side of the conformance harness (harness.js re-exports all of it): the ferrocast
// process, the app backend that signs channel auth and sign-ins with the `pusher` SDK, and the
// wait utilities. Shared harness for the Ferrocast Node.js conformance suite.
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
  // Plain objects become inline tables (e.g. an app's `webhooks = [{url = …}]`).
  if (v !== null && typeof v === 'object') {
    return `{ ${Object.entries(v).map(([k, x]) => `${k} = ${tomlValue(x)}`).join(', ')} }`;
  }
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

module.exports = {
  ENCRYPTION_MASTER_KEY_BASE64,
  DEFAULT_APP,
  FERROCAST_BIN,
  HOST,
  LISTEN_RE,
  PusherJs,
  PusherServer,
  REPO_ROOT,
  START_TIMEOUT,
  TIMEOUT,
  WebSocket,
  makeSdk,
  nextEvent,
  readBody,
  record,
  renderToml,
  startAuthServer,
  startServer,
  tomlValue,
  unique,
  waitUntil,
  withDeadline,
};
