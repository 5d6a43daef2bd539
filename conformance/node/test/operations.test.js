'use strict';
// Operations with the real clients: a draining node hands pusher-js over to the next node behind
// a load balancer (which follows /ready), and pusher-js connects over TLS with forceTLS.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { DEFAULT_APP, Env, PusherServer, TIMEOUT, startServer, waitUntil, withDeadline } = require('./harness');

const NODE_DIR = path.resolve(__dirname, '..');

/**
 * A TCP load balancer like the ones in front of real deployments: each new connection goes to
 * the first backend whose GET /ready answers 200.
 */
async function readinessBalancer(backendPorts) {
  const chosen = [];
  const sockets = new Set();
  const server = net.createServer(async (socket) => {
    socket.pause();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let target;
    for (const port of backendPorts) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/ready`);
        if (r.status === 200) {
          target = port;
          break;
        }
      } catch {
        // not listening: try the next backend
      }
    }
    if (!target) return socket.destroy();
    chosen.push(target);
    const upstream = net.connect(target, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.pipe(upstream).pipe(socket);
    socket.resume();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: server.address().port,
    chosen,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function exited(child) {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

test('a draining node sends pusher-js to the next node, which delivers everything published after', async (t) => {
  const a = await Env.start({ drain_grace: 3, shutdown_timeout: 5 });
  t.after(() => a.stop());
  const b = await startServer({ apps: [{ ...DEFAULT_APP }] });
  t.after(() => b.stop());
  const lb = await readinessBalancer([a.port, b.port]);
  t.after(() => lb.close());

  const client = a.client({ label: 'drained', options: { wsPort: lb.port } });
  await client.subscribe('drain-ch');
  const firstSocket = client.socketId;
  assert.deepEqual(lb.chosen, [a.port]);

  a.server.child.kill('SIGTERM');
  await waitUntil(() => client.state === 'connected' && client.socketId !== firstSocket, {
    what: 'pusher-js to reconnect after 4200',
  });
  assert.ok(
    client.frames.some((f) => f.event === 'pusher:error' && f.data && f.data.code === 4200),
    'the client was told 4200',
  );
  assert.equal(lb.chosen.at(-1), b.port, 'the balancer skipped the draining node');

  const sdkB = new PusherServer({
    appId: DEFAULT_APP.id, key: DEFAULT_APP.key, secret: DEFAULT_APP.secret,
    host: '127.0.0.1', port: String(b.port), useTLS: false,
  });
  await waitUntil(async () => (await (await sdkB.get({ path: '/channels/drain-ch' })).json()).occupied, {
    what: 'pusher-js to resubscribe on the second node',
  });
  const mark = client.mark();
  for (let i = 0; i < 5; i += 1) await sdkB.trigger('drain-ch', 'after', { i });
  await waitUntil(() => client.framesSince(mark, (f) => f.event === 'after').length === 5, {
    what: 'the five events published after the reconnect',
  });
  assert.deepEqual(client.framesSince(mark, (f) => f.event === 'after').map((f) => f.data.i), [0, 1, 2, 3, 4]);
  assert.equal(await withDeadline(exited(a.server.child), 15000, 'the drained node to exit'), 0);
});

function selfSigned(dir) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** Runs pusher-js (forceTLS) and the SDK (useTLS) in a child process that trusts `ca`. */
function runTlsClient(port, ca) {
  const app = DEFAULT_APP;
  const script = `
    const Pusher = require('pusher-js');
    const PusherServer = require('pusher');
    const p = new Pusher(${JSON.stringify(app.key)}, { cluster: 'mt1', wsHost: 'localhost', wssPort: ${port},
      forceTLS: true, enabledTransports: ['ws'], disableStats: true });
    const sdk = new PusherServer({ appId: ${JSON.stringify(app.id)}, key: ${JSON.stringify(app.key)},
      secret: ${JSON.stringify(app.secret)}, host: 'localhost', port: '${port}', useTLS: true });
    const ch = p.subscribe('tls-ch');
    ch.bind('pusher:subscription_succeeded', () => sdk.trigger('tls-ch', 'secure', { ok: true }));
    ch.bind('secure', (d) => { console.log('received ' + JSON.stringify(d)); process.exit(0); });
    setTimeout(() => { console.log('gave up in state ' + p.connection.state); process.exit(2); }, 4000);
  `;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (ca) env.NODE_EXTRA_CA_CERTS = ca;
  const child = spawn(process.execPath, ['-e', script], { cwd: NODE_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (out += c));
  return withDeadline(exited(child), TIMEOUT * 2, 'the TLS client').then((code) => ({ code, out }));
}

test('pusher-js with forceTLS connects over wss:// to a certificate its CA set trusts', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrocast-tls-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { cert, key } = selfSigned(dir);
  const server = await startServer({ tls: { cert_file: cert, key_file: key }, apps: [{ ...DEFAULT_APP }] });
  t.after(() => server.stop());

  const trusted = await runTlsClient(server.port, cert);
  assert.equal(trusted.code, 0, trusted.out);
  assert.equal(trusted.out.trim(), 'received {"ok":true}');

  const untrusted = await runTlsClient(server.port, null);
  assert.equal(untrusted.code, 2, 'without the CA the certificate is refused');
  assert.match(untrusted.out, /gave up in state (connecting|unavailable|failed)/);
});
