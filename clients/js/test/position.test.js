'use strict';
// The wrapper's position rules, on frames as the server sends them (no server needed): the
// position never passes an offset that has not arrived yet, unless the gap is older than 2 s;
// duplicates are dropped by id; a new epoch starts over. The wrapper with the real pusher-js and
// server is tested in conformance/node/test/history.test.js.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const { RecoverableChannel } = require('..');

function channel() {
  const ch = new RecoverableChannel('history-c', null, 100, { epoch: 'e', offset: 0 });
  const got = [];
  ch.bind('n', (data, meta) => got.push(meta.offset));
  const send = (offset, epoch = 'e', id = `${epoch}${offset}`) =>
    ch.onEvent({ event: 'n', channel: 'history-c', data: '{}', id, epoch, offset });
  return { ch, got, send };
}

test('the position waits below an offset that has not arrived', () => {
  const { ch, got, send } = channel();
  send(1);
  send(3);
  assert.deepEqual(ch.recoverFrom(Date.now()), { epoch: 'e', offset: 1 });
  send(2);
  assert.deepEqual(ch.recoverFrom(Date.now()), { epoch: 'e', offset: 3 });
  assert.deepEqual(got, [1, 3, 2], 'events are delivered as they come');
});

test('a gap older than two seconds is passed (an event this client was never sent)', () => {
  const { ch, send } = channel();
  send(1);
  send(4);
  const now = Date.now();
  assert.equal(ch.recoverFrom(now).offset, 1);
  assert.equal(ch.recoverFrom(now + 2500).offset, 4);
});

test('duplicates are dropped by id, and a new epoch starts the position over', () => {
  const { ch, got, send } = channel();
  send(1);
  send(1);
  send(2, 'e', 'e1');
  assert.deepEqual(got, [1], 'same id, dropped');
  send(1, 'f');
  assert.deepEqual(ch.recoverFrom(Date.now()), { epoch: 'f', offset: 1 });
});

test('subscription data sets the start, and reports a gap that could not be filled', () => {
  const ch = new RecoverableChannel('history-c', null, 100, { epoch: 'e', offset: 5 });
  const resets = [];
  ch.bind('ferrocast:reset', (p) => resets.push(p));
  ch.asked = true;
  ch.onSucceeded({ recovered: false, epoch: 'g', offset: 9 });
  assert.deepEqual(resets, [{ epoch: 'g', offset: 9 }]);
  assert.deepEqual(ch.position, { epoch: 'g', offset: 9 });
  ch.asked = true;
  ch.onSucceeded({ recovered: true, epoch: 'g', offset: 12 });
  assert.deepEqual(ch.position, { epoch: 'g', offset: 9 }, 'the replay moves it, not the data');
});
