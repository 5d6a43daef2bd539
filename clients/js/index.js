'use strict';
// @ferrocast/recovery: gap-free delivery for pusher-js on Ferrocast history channels.
//
// pusher-js decodes frames into {event, channel, data, user_id} and drops Ferrocast's position
// fields (id, epoch, offset), so this wrapper reads the raw frames of the connection's
// transport instead, and delivers the events of the channels it manages itself, with their
// position. It remembers each channel's last position and, whenever pusher-js (re)subscribes
// (after any reconnect), adds `recover: {epoch, offset}` to the pusher:subscribe data, so the
// server replays what was missed before the live stream. Events are de-duplicated by id.
// Everything else (auth, presence, reconnects, other channels) is plain pusher-js.

/** How many recent message ids each channel remembers for de-duplication. */
const DEFAULT_MAX_IDS = 10000;

/** How long a missing offset is waited for before the position moves past it, in ms. */
const GAP_MS = 2000;

class Emitter {
  constructor() {
    this.handlers = new Map();
  }

  bind(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return this;
  }

  unbind(event, fn) {
    const set = this.handlers.get(event);
    if (set) {
      if (fn) set.delete(fn);
      else set.clear();
    }
    return this;
  }

  emit(event, ...args) {
    for (const fn of [...(this.handlers.get(event) || [])]) fn(...args);
  }
}

/** Parses `data` as pusher-js does: a JSON string is decoded, anything else is kept. */
function decodeData(data) {
  if (typeof data !== 'string') return data;
  try {
    return JSON.parse(data);
  } catch (e) {
    return data;
  }
}

/** One history channel: its pusher-js channel, its position and the handlers of its events. */
class RecoverableChannel extends Emitter {
  constructor(name, pusherChannel, maxIds, position) {
    super();
    this.name = name;
    /** The pusher-js channel (members, trigger, subscription events). */
    this.channel = pusherChannel;
    /** {epoch, offset} of the last message seen, or null before the first subscription. */
    this.position = position || null;
    this.maxIds = maxIds;
    this.ids = new Set();
    /** Offsets that arrived before an earlier one, with when they arrived. */
    this.ahead = new Map();
    /** Whether the pending subscribe asked to recover. */
    this.asked = false;
  }

  /**
   * Moves the position to `offset` once every offset before it has arrived. In a cluster, an
   * event published through another node can arrive after a later one; recovering from the
   * later one would skip it. So an offset that arrives early waits in `ahead`, and the position
   * stays below the gap until the missing event arrives, or for GAP_MS (a gap that stays is an
   * event this client was never sent, e.g. its own client event). Recovering from below a gap
   * replays what came after it; the ids already seen are dropped.
   */
  advance(epoch, offset, now) {
    const p = this.position;
    if (!p || p.epoch !== epoch) {
      this.position = { epoch, offset };
      this.ahead.clear();
      return;
    }
    if (offset <= p.offset) return;
    this.ahead.set(offset, now);
    this.settle(now);
  }

  /** Advances over arrived offsets, and over gaps older than GAP_MS. */
  settle(now) {
    const p = this.position;
    if (!p) return;
    let offset = p.offset;
    for (;;) {
      if (this.ahead.has(offset + 1)) {
        offset += 1;
        this.ahead.delete(offset);
        continue;
      }
      if (this.ahead.size === 0) break;
      const next = Math.min(...this.ahead.keys());
      if (now - this.ahead.get(next) < GAP_MS) break;
      offset = next;
      this.ahead.delete(next);
    }
    this.position = { epoch: p.epoch, offset };
  }

  /** The position to recover from now. */
  recoverFrom(now) {
    this.settle(now);
    return this.position;
  }

  /** Subscription data from the server: where the stream is, and whether the gap was filled. */
  onSucceeded(data) {
    if (!data || typeof data.epoch !== 'string' || typeof data.offset !== 'number') return;
    const asked = this.asked;
    this.asked = false;
    if (asked && data.recovered === true) {
      this.emit('ferrocast:recovered', { epoch: data.epoch, offset: data.offset });
      return;
    }
    const lost = asked && data.recovered === false;
    this.position = { epoch: data.epoch, offset: data.offset };
    this.ahead.clear();
    this.ids.clear();
    if (lost) this.emit('ferrocast:reset', { ...this.position });
  }

  /** A raw event frame with a position; drops one already delivered. */
  onEvent(frame) {
    if (typeof frame.id === 'string') {
      if (this.ids.has(frame.id)) return;
      this.ids.add(frame.id);
      if (this.ids.size > this.maxIds) this.ids.delete(this.ids.values().next().value);
    }
    if (typeof frame.epoch === 'string' && typeof frame.offset === 'number') {
      this.advance(frame.epoch, frame.offset, Date.now());
    }
    const meta = { id: frame.id, epoch: frame.epoch, offset: frame.offset };
    if (frame.user_id !== undefined) meta.user_id = frame.user_id;
    this.emit(frame.event, decodeData(frame.data), meta);
  }
}

class Recovery {
  /**
   * @param {import('pusher-js').default} pusher  a pusher-js client
   * @param {{maxIds?: number, positions?: Record<string, {epoch: string, offset: number}>}} options
   *   `positions` starts channels from positions saved earlier (e.g. across a page reload).
   */
  constructor(pusher, options = {}) {
    this.pusher = pusher;
    this.maxIds = options.maxIds || DEFAULT_MAX_IDS;
    this.saved = { ...(options.positions || {}) };
    /** @type {Map<string, RecoverableChannel>} */
    this.channels = new Map();
    this.transport = null;
    this.onRaw = (message) => this.handleRaw(message);

    // Every pusher:subscribe of a managed channel carries its last position.
    const sendEvent = pusher.send_event.bind(pusher);
    pusher.send_event = (name, data, channel) => {
      if (name === 'pusher:subscribe' && data && this.channels.has(data.channel)) {
        const ch = this.channels.get(data.channel);
        const from = ch.recoverFrom(Date.now());
        ch.asked = Boolean(from);
        if (from) data = { ...data, recover: { ...from } };
      }
      return sendEvent(name, data, channel);
    };
    const attach = () => this.attach();
    pusher.connection.bind('connected', attach);
    attach();
  }

  /** Listens to the raw frames of the current transport (a new one after each reconnect). */
  attach() {
    const connection = this.pusher.connection.connection;
    const transport = connection && connection.transport;
    if (!transport || transport === this.transport) return;
    if (this.transport) this.transport.unbind('message', this.onRaw);
    this.transport = transport;
    transport.bind('message', this.onRaw);
  }

  handleRaw(message) {
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    const ch = frame && this.channels.get(frame.channel);
    if (!ch) return;
    if (frame.event === 'pusher_internal:subscription_succeeded') {
      ch.onSucceeded(decodeData(frame.data));
    } else if (typeof frame.event === 'string' && !frame.event.startsWith('pusher')) {
      ch.onEvent(frame);
    }
  }

  /** Subscribes through pusher-js and returns the channel whose events arrive gap-free. */
  subscribe(name) {
    let ch = this.channels.get(name);
    if (ch) return ch;
    // Registered before pusher-js sends the subscribe, so that one carries the position.
    ch = new RecoverableChannel(name, null, this.maxIds, this.saved[name]);
    this.channels.set(name, ch);
    ch.channel = this.pusher.subscribe(name);
    return ch;
  }

  unsubscribe(name) {
    this.channels.delete(name);
    this.pusher.unsubscribe(name);
  }

  /** Every managed channel's last position, to save and pass back as `positions` later. */
  positions() {
    const out = {};
    for (const [name, ch] of this.channels) if (ch.position) out[name] = { ...ch.position };
    return out;
  }
}

/** Wraps a pusher-js client: `withRecovery(pusher).subscribe('history-chat').bind(...)`. */
function withRecovery(pusher, options) {
  return new Recovery(pusher, options);
}

module.exports = { withRecovery, Recovery, RecoverableChannel };
