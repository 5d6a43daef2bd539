'use strict';
// The per-address connection cap with the real pusher-js: a client over
// `clients.max_connections_per_ip` is told 4100, backs off and retries (it does not give up as it
// would on a 40xx code), and gets in once a place frees.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { Env, waitUntil } = require('./harness');

describe('per-address cap (max_connections_per_ip = 1)', () => {
  let env;
  before(async () => {
    env = await Env.start({ clients: { max_connections_per_ip: 1, trusted_proxies: [] } });
  });
  after(async () => {
    if (env) await env.stop();
  });

  it('the second client gets 4100, keeps retrying, and connects when the first leaves', async () => {
    const first = await env.connectedClient({ label: 'first' });
    const second = env.client({ label: 'second' });
    const codeOf = (e) => (e && e.data && e.data.code) || (e && e.error && e.error.data && e.error.data.code);
    await waitUntil(() => second.errors.filter((e) => codeOf(e) === 4100).length >= 2, {
      timeout: 8000,
      what: `two 4100 refusals, i.e. pusher-js retried (errors: ${JSON.stringify(second.errors)})`,
    });
    assert.ok(!['disconnected', 'failed'].includes(second.state), `gave up: ${second.state}`);
    first.disconnect();
    await second.connected(8000);
    assert.equal(second.state, 'connected');
    second.disconnect();
  });
});
