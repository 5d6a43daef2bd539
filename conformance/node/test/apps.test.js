'use strict';
// Apps as data with the real clients: an app created with `ferrocast apps create` (through the
// admin API) is used at once by pusher-js and the `pusher` SDK, and disabling it disconnects
// pusher-js for good (4003 is a "do not reconnect" code).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');

const { FERROCAST_BIN, PusherJs, PusherServer, nextEvent, startServer, waitUntil } = require('./harness');

const TOKEN = 'node-admin-token';

function cli(port, ...args) {
  const out = execFileSync(FERROCAST_BIN, ['apps', '--url', `http://127.0.0.1:${port}`, '--token', TOKEN, '--json', ...args]);
  return JSON.parse(out.toString());
}

test('an app created with the CLI works with pusher-js and the SDK at once, and can be disabled live', async (t) => {
  const server = await startServer({ app_store: 'sqlite', admin_token: TOKEN });
  t.after(() => server.stop());
  const app = cli(server.port, 'create', '--set', 'client_events=false');
  assert.match(app.id, /^\d+$/);
  assert.equal(app.client_events, false);

  const client = new PusherJs(app.key, {
    cluster: 'mt1', wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false,
    enabledTransports: ['ws'], disableStats: true,
  });
  t.after(() => client.disconnect());
  const channel = client.subscribe('fresh');
  await nextEvent(channel, 'pusher:subscription_succeeded', { what: 'subscription on the new app' });
  const sdk = new PusherServer({
    appId: app.id, key: app.key, secret: app.secret, host: '127.0.0.1', port: String(server.port), useTLS: false,
  });
  const got = nextEvent(channel, 'greeting', { what: 'the SDK event' });
  await sdk.trigger('fresh', 'greeting', { hello: 'new app' });
  assert.deepEqual((await got).data, { hello: 'new app' });

  const states = [];
  client.connection.bind('state_change', (s) => states.push(s.current));
  const disabled = cli(server.port, 'disable', app.id);
  assert.equal(disabled.enabled, false);
  await waitUntil(() => states.includes('failed') || states.includes('disconnected'), {
    what: 'pusher-js to be disconnected by the disable',
  });
  await assert.rejects(sdk.trigger('fresh', 'greeting', {}), (err) => err.status === 403);
});
