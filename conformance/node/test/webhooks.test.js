'use strict';
// Webhooks: Ferrocast posts Pusher-format webhooks that the official `pusher` SDK's own check
// (`pusher.webhook(req).isValid()`) accepts, with the events pusher-js activity causes.

const { describe, it, before, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const { Env, DEFAULT_APP, unique, waitUntil } = require('./harness');

/** A receiver that validates every request with the SDK and keeps the valid events. */
function startReceiver(sdkRef) {
  const received = { valid: [], invalid: 0, tamperedRejected: 0 };
  const server = http.createServer((req, res) => {
    let rawBody = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      rawBody += c;
    });
    req.on('end', () => {
      const webhook = sdkRef.sdk.webhook({ headers: req.headers, rawBody });
      if (webhook.isValid()) {
        received.valid.push(...webhook.getEvents());
        // The same check fails on a body altered by one byte: the signature is really checked.
        const tampered = sdkRef.sdk.webhook({ headers: req.headers, rawBody: rawBody.replace('"events"', '"Events"') });
        if (!tampered.isValid()) received.tamperedRejected += 1;
        res.writeHead(200);
      } else {
        received.invalid += 1;
        res.writeHead(401);
      }
      res.end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, received, port: server.address().port }));
  });
}

describe('webhooks', () => {
  let env;
  let receiver;
  const sdkRef = {};
  before(async () => {
    receiver = await startReceiver(sdkRef);
    const app = {
      ...DEFAULT_APP,
      webhooks: [{ url: `http://127.0.0.1:${receiver.port}/pusher/webhooks` }],
    };
    env = await Env.start({ webhooks: { batch_ms: 10, vacated_delay_ms: 100 }, apps: [app] });
    sdkRef.sdk = env.sdk();
  });
  after(async () => {
    if (env) await env.stop();
    if (receiver) receiver.server.close();
  });

  it('the pusher SDK validates every webhook; occupancy, members and client events arrive', async () => {
    const name = unique('presence-hooks-');
    const a = await env.connectedClient({ userId: 'alice' });
    const b = await env.connectedClient({ userId: 'bob' });
    const chA = await a.subscribe(name);
    await b.subscribe(name);
    await waitUntil(() => receiver.received.valid.some((e) => e.name === 'member_added' && e.user_id === 'bob'), {
      what: 'member_added for bob',
    });
    assert.equal(chA.trigger('client-wave', { hello: 1 }), true);
    await waitUntil(() => receiver.received.valid.some((e) => e.name === 'client_event'), { what: 'client_event' });
    a.pusher.disconnect();
    b.pusher.disconnect();
    await waitUntil(() => receiver.received.valid.some((e) => e.name === 'channel_vacated' && e.channel === name), {
      what: 'channel_vacated',
    });

    const events = receiver.received.valid.filter((e) => e.channel === name);
    assert.equal(receiver.received.invalid, 0, 'no request failed the SDK check');
    assert.ok(receiver.received.tamperedRejected > 0, 'a tampered body fails the same check');
    assert.deepEqual(events.filter((e) => e.name === 'channel_occupied'), [{ name: 'channel_occupied', channel: name }]);
    assert.deepEqual(
      events.filter((e) => e.name === 'member_added').map((e) => e.user_id),
      ['alice', 'bob'],
    );
    const clientEvent = events.find((e) => e.name === 'client_event');
    assert.deepEqual(clientEvent, {
      name: 'client_event',
      channel: name,
      event: 'client-wave',
      data: JSON.stringify({ hello: 1 }),
      socket_id: a.socketId ?? clientEvent.socket_id,
      user_id: 'alice',
    });
    assert.match(clientEvent.socket_id, /^\d+\.\d+$/);
    assert.deepEqual(
      events.filter((e) => e.name === 'member_removed').map((e) => e.user_id).sort(),
      ['alice', 'bob'],
    );
    assert.equal(events.filter((e) => e.name === 'channel_vacated').length, 1);
  });
});
