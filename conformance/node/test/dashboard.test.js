'use strict';
// The dashboard end to end, in real headless Chromium (Debian's `chromium`, driven by
// playwright-core) against the real binary, with a real pusher-js client: wrong token refused;
// log in; create an app (a validation error shown next to its field first); connect pusher-js
// with the new key and see it in the debug console; send a test event from the form and see
// pusher-js receive it; see the channel on the Channels page; disable the app and see the client
// disconnected. No console errors on the way. Screenshots of each page go to docs/images/ with
// UPDATE_SCREENSHOTS=1 (to a temporary directory otherwise).

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const fsp = require('node:fs/promises');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const { PusherJs, REPO_ROOT, makeSdk, nextEvent, startServer, waitUntil } = require('./harness');

const TOKEN = 'dashboard-e2e-token';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// The committed screenshots are refreshed with UPDATE_SCREENSHOTS=1; other runs still take every
// screenshot, into a temporary directory, so a test run leaves the work tree clean.
const IMAGES = process.env.UPDATE_SCREENSHOTS === '1'
  ? path.join(REPO_ROOT, 'docs', 'images')
  : path.join(require('os').tmpdir(), 'ferrocast-dashboard-screenshots');
const UI_TIMEOUT = 10000;

async function launch(t) {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium (scripts/services.sh does)`);
  const profile = await fsp.mkdtemp(path.join(os.tmpdir(), 'ferrocast-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
      '--no-first-run', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    ],
  });
  t.after(async () => {
    await context.close();
    await fsp.rm(profile, { recursive: true, force: true });
  });
  return context;
}

/**
 * Every console error and uncaught exception of `page`. Chromium logs each HTTP error answer as
 * "Failed to load resource"; those of the requests the test makes invalid on purpose (listed in
 * `expected`, a test of the path) are counted in `expectedSeen` instead.
 */
function watchErrors(page, expected) {
  const errors = [];
  const expectedSeen = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const url = m.location() && m.location().url;
    const pathname = url ? new URL(url).pathname : '';
    if (/status of 400/.test(m.text()) && expected(pathname)) expectedSeen.push(pathname);
    else errors.push(`console: ${m.text()} (${url})`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return { errors, expectedSeen };
}

async function screenshot(page, name) {
  await fsp.mkdir(IMAGES, { recursive: true });
  await page.screenshot({ path: path.join(IMAGES, `dashboard-${name}.png`) });
}

test('the dashboard in Chromium: login, apps, debug console, test event, channels, disable', async (t) => {
  const server = await startServer({ app_store: 'sqlite', admin_token: TOKEN, dashboard: { feed_events_per_sec: 50 } });
  t.after(() => server.stop());
  const base = `http://127.0.0.1:${server.port}`;
  const context = await launch(t);

  // A wrong token is refused, and no session cookie is set.
  const other = await context.newPage();
  await other.goto(`${base}/dashboard`);
  assert.equal(new URL(other.url()).pathname, '/dashboard/login');
  await other.fill('#token', 'not-the-token');
  const [refused] = await Promise.all([other.waitForNavigation(), other.click('button[type=submit]')]);
  assert.equal(refused.status(), 401);
  assert.match(await other.textContent('#login-error'), /Wrong admin token/);
  assert.deepEqual(await context.cookies(`${base}/dashboard/`), []);
  await other.close();

  const page = await context.newPage();
  page.setDefaultTimeout(UI_TIMEOUT);
  const { errors, expectedSeen } = watchErrors(page, (p) => p === '/dashboard/api/admin/apps' || /^\/dashboard\/api\/apps\/\d+\/events$/.test(p));

  // Log in: the login page is keyboard-usable (the token field has focus, Enter submits).
  await page.goto(`${base}/dashboard/`);
  assert.equal(new URL(page.url()).pathname, '/dashboard/login');
  await screenshot(page, 'login');
  await page.keyboard.type(TOKEN);
  await Promise.all([page.waitForURL(`${base}/dashboard/`), page.keyboard.press('Enter')]);
  const [cookie] = await context.cookies(`${base}/dashboard/`);
  assert.equal(cookie.name, 'ferrocast_dashboard');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.ok(cookie.expires > Date.now() / 1000, 'the session cookie expires');
  await page.waitForSelector('h1:text("Overview")');

  // The first Tab reaches the skip link; every form control has a label.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');

  // Apps: a validation error is shown next to its field, then an app is created.
  await page.click('nav a:text("Apps")');
  await page.waitForSelector('#create-form');
  await page.fill('#f-key', 'not a valid key!');
  await page.click('#create-form button[type=submit]');
  await page.waitForSelector('#f-key-error:not(:empty)');
  assert.match(await page.textContent('#f-key-error'), /key/i);
  assert.equal(await page.getAttribute('#f-key', 'aria-invalid'), 'true');
  await page.fill('#f-key', '');
  await page.click('#create-form button[type=submit]');
  await page.waitForSelector('#created-key');
  const app = {
    id: await page.textContent('#created-id'),
    key: await page.textContent('#created-key'),
    secret: await page.textContent('#created-secret'),
  };
  assert.match(app.id, /^\d+$/);
  await page.waitForSelector(`#apps-table a:has-text("${app.id}")`);
  await screenshot(page, 'apps');

  // Debug console: a pusher-js client with the new key appears with its socket id.
  await page.goto(`${base}/dashboard/#/console/${app.id}`);
  await page.waitForSelector('#feed-state:text("Live from node")');
  const client = new PusherJs(app.key, {
    cluster: 'mt1', wsHost: '127.0.0.1', wsPort: server.port, forceTLS: false,
    enabledTransports: ['ws'], disableStats: true,
  });
  t.after(() => client.disconnect());
  const channel = client.subscribe('dash-channel');
  await nextEvent(channel, 'pusher:subscription_succeeded', { what: 'subscription on the new app' });
  const socketId = client.connection.socket_id;
  const sdk = makeSdk(server.port, app);
  await page.waitForSelector(`#feed li[data-type="connected"]:has-text("${socketId}")`);
  await page.waitForSelector('#feed li[data-type="subscribed"]:has-text("dash-channel")');

  // The test event form publishes; pusher-js receives it; the console shows the publish.
  const received = nextEvent(channel, 'from-dashboard', { what: 'the test event' });
  await page.fill('#f-channel', 'dash-channel');
  await page.fill('#f-event', 'from-dashboard');
  await page.fill('#f-data', '{"hello":"dashboard"}');
  await page.click('#test-event button[type=submit]');
  assert.deepEqual((await received).data, { hello: 'dashboard' });
  await page.waitForSelector('#feed li[data-type="api_event"]:has-text("from-dashboard")');

  // A burst beyond the viewer's cap (50 events/s here) is sampled, and the page says how much
  // was dropped.
  await Promise.all(Array.from({ length: 10 }, (_, b) => sdk.triggerBatch(
    Array.from({ length: 10 }, (_, i) => ({ channel: 'dash-channel', name: 'burst', data: { n: b * 10 + i } })))));
  await page.waitForFunction(() => {
    const m = /Sampling active: (\d+) dropped/.exec(document.querySelector('#sampling').textContent);
    return m && Number(m[1]) >= 30;
  }, null, { timeout: UI_TIMEOUT });

  // Filter and pause work on the live stream.
  await page.click('#pause');
  assert.equal(await page.getAttribute('#pause', 'aria-pressed'), 'true');
  await page.click('#pause');
  await page.fill('#f-channel', 'bad channel!');
  await page.click('#test-event button[type=submit]');
  await page.waitForSelector('#f-channel-error:not(:empty)');
  await screenshot(page, 'console');

  // Controls are labelled (on the busiest page).
  const unlabelled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((c) => c.labels.length === 0 && !c.getAttribute('aria-label'))
      .map((c) => c.id || c.name));
  assert.deepEqual(unlabelled, []);

  // Channels: the occupied channels with their subscriptions, and a cache channel's last event.
  const cache = client.subscribe('cache-dash');
  await nextEvent(cache, 'pusher:subscription_succeeded', { what: 'subscription to the cache channel' });
  await sdk.trigger('cache-dash', 'last-word', { kept: true });
  // A history rule set through the admin API: the history channel shows its position and its
  // newest stored messages.
  const patched = await page.evaluate(async (id) => (await fetch(`/dashboard/api/admin/apps/${id}`, {
    method: 'PATCH',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ history: [{ pattern: 'history-*', size: 100, ttl: 600 }] }),
  })).status, app.id);
  assert.equal(patched, 200);
  const hist = client.subscribe('history-dash');
  await nextEvent(hist, 'pusher:subscription_succeeded', { what: 'subscription to the history channel' });
  await sdk.trigger('history-dash', 'note', { n: 1 });
  await sdk.trigger('history-dash', 'note', { n: 2 });
  await page.goto(`${base}/dashboard/#/channels/${app.id}`);
  await page.waitForSelector('#channels-table th:text("history-dash")');
  const rows = await page.$$eval('#channels-table tbody tr', (trs) => trs.map((tr) => tr.textContent));
  assert.ok(rows.some((r) => /^dash-channel\s*1/.test(r)), rows.join(' | '));
  assert.ok(rows.some((r) => /^cache-dash\s*1.*last-word.*"kept":true/.test(r)), rows.join(' | '));
  assert.ok(rows.some((r) => /^history-dash\s*1.*offset 2 · epoch \w+#2 note \{"n":2\}.*#1 note \{"n":1\}/.test(r)), rows.join(' | '));
  await screenshot(page, 'channels');

  // Overview: live figures, updated every second without reloading. A backend publishes
  // meanwhile, and "messages in / s" follows it.
  await page.goto(`${base}/dashboard/#/overview`);
  await page.waitForSelector('#metric-connections:text("1")');
  let publishing = true;
  const traffic = (async () => {
    for (let i = 0; publishing; i += 1) {
      await sdk.trigger('dash-channel', 'tick', { i });
      await new Promise((r) => setTimeout(r, 100 + (i % 7) * 30));
    }
  })();
  await page.waitForFunction(() => Number(document.querySelector('#metric-in').textContent) > 0, null, { timeout: UI_TIMEOUT });
  await page.waitForTimeout(4000);
  publishing = false;
  await traffic;
  await screenshot(page, 'overview');

  // Phone width: the console still fits.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${base}/dashboard/#/console/${app.id}`);
  await page.waitForSelector('#feed-state:text("Live from node")');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `no horizontal scrolling at phone width (${overflow}px too wide)`);
  await screenshot(page, 'phone');
  await page.setViewportSize({ width: 1280, height: 800 });

  // Disable the app from its page: pusher-js is disconnected for good (4003).
  const states = [];
  client.connection.bind('state_change', (s) => states.push(s.current));
  await page.goto(`${base}/dashboard/#/apps/${app.id}`);
  await page.click('#toggle-enabled');
  await page.waitForSelector('#app-state:text("disabled")');
  await waitUntil(() => states.includes('failed') || states.includes('disconnected'), {
    what: 'pusher-js to be disconnected by the disable',
  });

  // Logging out ends the session.
  await Promise.all([page.waitForURL(`${base}/dashboard/login`), page.click('.logout button')]);
  const after = await page.request.get(`${base}/dashboard/api/stats`);
  assert.equal(after.status(), 401);

  assert.deepEqual(errors, [], 'no console errors');
  assert.deepEqual(expectedSeen, ['/dashboard/api/admin/apps', `/dashboard/api/apps/${app.id}/events`],
    'the two invalid requests made on purpose were answered 400');
});
