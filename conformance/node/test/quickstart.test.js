'use strict';
// The README's quick start, run as a new user would: against a server with the embedded
// defaults (no config file), the pusher-js client snippet receives what the CLI snippet and the
// SDK snippet publish. The snippets are read from README.md, so the README stays true.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const { FERROCAST_BIN, PusherServer, TIMEOUT, startServer, waitUntil } = require('./harness');

const README = fs.readFileSync(path.resolve(__dirname, '..', '..', '..', 'README.md'), 'utf8');
const NODE_DIR = path.resolve(__dirname, '..');

/** The code block that follows `<!-- quickstart:NAME -->` in the README. */
function snippet(name) {
  const m = new RegExp(`<!-- quickstart:${name} -->\\s*\`\`\`\\w*\\n([\\s\\S]*?)\`\`\``).exec(README);
  assert.ok(m, `README.md has no quickstart:${name} block`);
  return m[1];
}

/** Runs a process, collecting its stdout; resolves with {code, out} when it exits. */
function run(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { cwd: NODE_DIR, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const out = { text: '', err: '' };
  child.stdout.setEncoding('utf8').on('data', (c) => (out.text += c));
  child.stderr.setEncoding('utf8').on('data', (c) => (out.err += c));
  const done = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, out, done };
}

test('the README quick start works as written', async (t) => {
  const server = await startServer({});
  t.after(() => server.stop());
  const port = String(server.port);
  const withPort = (code) => code.replaceAll('6001', port);

  // The embedded defaults: the app the README names.
  const sdk = new PusherServer({
    appId: 'app-id', key: 'app-key', secret: 'app-secret', host: '127.0.0.1', port, useTLS: false,
  });

  const client = run(process.execPath, ['-e', withPort(snippet('client'))]);
  t.after(() => client.child.kill('SIGKILL'));
  await waitUntil(
    async () => (await (await sdk.get({ path: '/channels/my-channel' })).json()).occupied === true,
    { what: 'the README client to subscribe to my-channel' },
  );

  const received = () => client.out.text.split('\n').filter((l) => l === "received { hello: 'world' }");

  const cli = withPort(snippet('publish-cli')).trim().replace(/^cargo run --release --/, JSON.stringify(FERROCAST_BIN));
  const published = run('bash', ['-c', cli]);
  assert.equal(await published.done, 0, `CLI publish failed: ${published.out.text} ${published.out.err}`);
  assert.equal(published.out.text.trim(), '{}');
  await waitUntil(() => received().length === 1, { what: 'the client to print the CLI event', timeout: TIMEOUT });

  const viaSdk = run(process.execPath, ['-e', withPort(snippet('publish-sdk'))]);
  assert.equal(await viaSdk.done, 0, `SDK snippet failed: ${viaSdk.out.err}`);
  await waitUntil(() => received().length === 2, { what: 'the client to print the SDK event', timeout: TIMEOUT });
  assert.equal(client.out.err, '', 'the client snippet logs no errors');
});
