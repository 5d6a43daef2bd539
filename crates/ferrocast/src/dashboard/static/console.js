// Debug console of one app: the live feed from the server (server-sent events), filtered by
// channel prefix and event type on the server, pausable, with the count of events the server
// dropped for this viewer ("sampling active"); and a form that publishes a test event. Webhook
// deliveries (accepted, failed and retried, dead-lettered) belong to no channel: a channel filter
// hides them.

import { api, appPicker, el, listApps, status } from './util.js';

const TYPES = ['connected', 'disconnected', 'subscribed', 'unsubscribed', 'member_added', 'member_removed', 'api_event', 'client_event',
  'webhook_delivered', 'webhook_failed', 'webhook_dead_lettered'];
const label = (t) => t.replaceAll('_', ' ');
const SHOWN = 500;

function describe(e) {
  const parts = [];
  if (e.socket_id) parts.push(el('span', {}, 'socket ', el('code', {}, e.socket_id)));
  if (e.channel) parts.push(el('span', {}, 'channel ', el('code', {}, e.channel)));
  if (e.event) parts.push(el('span', {}, 'event ', el('code', {}, e.event)));
  if (e.user_id) parts.push(el('span', {}, 'user ', el('code', {}, e.user_id)));
  if (e.type === 'connected') parts.push(el('span', {}, 'origin ', el('code', {}, e.origin || '(none)')));
  if (e.code) parts.push(el('span', {}, `code ${e.code}`, e.reason ? ` (${e.reason})` : ''));
  if (e.except) parts.push(el('span', {}, 'except ', el('code', {}, e.except)));
  // Webhook requests: the endpoint (credentials redacted by the server) and how the attempt went.
  if (e.url) parts.push(el('span', {}, 'endpoint ', el('code', {}, e.url)));
  if (typeof e.events === 'number') parts.push(el('span', {}, `${e.events} event${e.events === 1 ? '' : 's'}`));
  if (e.attempt) parts.push(el('span', {}, `attempt ${e.attempt}`));
  if (e.status) parts.push(el('span', {}, `HTTP ${e.status}`));
  if (e.error) parts.push(el('span', { class: 'error-text' }, e.error));
  if (typeof e.retry_in_ms === 'number') parts.push(el('span', {}, `retry in ${e.retry_in_ms} ms`));
  if (e.type === 'webhook_dead_lettered') parts.push(el('span', { class: 'muted' }, 'kept as a dead letter'));
  // Fields of event kinds this page does not know yet are shown as they come.
  const known = new Set(['at', 'type', 'socket_id', 'channel', 'event', 'user_id', 'origin', 'code', 'reason', 'except', 'data', 'truncated',
    'url', 'events', 'attempt', 'status', 'error', 'retry_in_ms']);
  for (const [k, v] of Object.entries(e)) {
    if (!known.has(k) && v !== null) parts.push(el('span', {}, `${k} `, el('code', {}, typeof v === 'string' ? v : JSON.stringify(v))));
  }
  if (e.data !== undefined) parts.push(el('code', { class: 'data' }, e.data + (e.truncated ? ' …(cut)' : '')));
  return parts;
}

export async function render(main, id) {
  const apps = await listApps();
  if (!id && apps.length) {
    window.location.replace(`#/console/${encodeURIComponent(apps[0].id)}`);
    return undefined;
  }
  main.append(el('h1', {}, id ? `Debug console · ${id}` : 'Debug console'));
  if (!id) {
    main.append(el('p', {}, 'No app yet.'));
    return undefined;
  }

  const channel = el('input', { id: 'filter-channel', type: 'search', placeholder: 'e.g. presence-', autocomplete: 'off' });
  const boxes = TYPES.map((t) => el('input', { type: 'checkbox', name: 'type', value: t, checked: true, id: `type-${t}` }));
  const pause = el('button', { type: 'button', id: 'pause', 'aria-pressed': 'false', class: 'secondary' }, 'Pause');
  const clear = el('button', { type: 'button', id: 'clear', class: 'secondary' }, 'Clear');
  const state = el('span', { id: 'feed-state', class: 'muted', role: 'status' }, 'Connecting…');
  const sampling = el('span', { id: 'sampling', class: 'sampling', role: 'status' });
  const feed = el('ol', { id: 'feed', class: 'feed', role: 'log', 'aria-label': 'Live events, newest first' });
  const filters = el('form', { class: 'toolbar', id: 'filters' },
    appPicker(apps, id, 'console'),
    el('div', { class: 'field' }, el('label', { for: 'filter-channel' }, 'Channel starts with'), channel),
    el('fieldset', {}, el('legend', {}, 'Event types'),
      TYPES.map((t, i) => el('label', { for: `type-${t}` }, boxes[i], label(t)))),
    el('button', { type: 'submit' }, 'Apply filter'),
    pause, clear);

  let paused = false;
  let held = [];
  let source = null;

  function show(e) {
    const li = el('li', { 'data-type': e.type },
      el('time', { datetime: new Date(e.at).toISOString() }, new Date(e.at).toLocaleTimeString()),
      el('span', { class: `badge${e.type === 'webhook_failed' || e.type === 'webhook_dead_lettered' ? ' off' : ''}` }, label(e.type)),
      describe(e));
    feed.prepend(li);
    while (feed.children.length > SHOWN) feed.lastElementChild.remove();
  }

  function connect() {
    if (source) source.close();
    const q = new URLSearchParams();
    if (channel.value.trim()) q.set('channel', channel.value.trim());
    const types = boxes.filter((b) => b.checked).map((b) => b.value);
    if (types.length < TYPES.length) q.set('types', types.join(','));
    source = new EventSource(`/dashboard/api/apps/${encodeURIComponent(id)}/feed?${q}`);
    source.addEventListener('ready', (m) => {
      const r = JSON.parse(m.data);
      state.textContent = `Live from node ${r.node} (at most ${r.events_per_sec} events/s shown)`;
    });
    source.addEventListener('debug', (m) => {
      const e = JSON.parse(m.data);
      if (paused) {
        held.push(e);
        if (held.length > SHOWN) held.shift();
        pause.textContent = `Resume (${held.length} waiting)`;
      } else {
        show(e);
      }
    });
    source.addEventListener('dropped', (m) => {
      sampling.textContent = `Sampling active: ${JSON.parse(m.data).dropped} dropped`;
    });
    source.addEventListener('error', () => {
      state.textContent = 'Disconnected; reconnecting…';
    });
  }

  filters.addEventListener('submit', (e) => {
    e.preventDefault();
    feed.replaceChildren();
    sampling.textContent = '';
    connect();
  });
  pause.addEventListener('click', () => {
    paused = !paused;
    pause.setAttribute('aria-pressed', String(paused));
    pause.textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      for (const e of held) show(e);
      held = [];
    }
  });
  clear.addEventListener('click', () => feed.replaceChildren());

  // The test event form.
  const fChannel = el('input', { id: 'f-channel', name: 'channel', required: true, value: 'my-channel', 'aria-describedby': 'f-channel-error', autocomplete: 'off' });
  const fEvent = el('input', { id: 'f-event', name: 'event', required: true, value: 'test-event', 'aria-describedby': 'f-event-error', autocomplete: 'off' });
  const fData = el('textarea', { id: 'f-data', name: 'data', rows: 4, 'aria-describedby': 'f-data-error' });
  fData.value = '{"hello":"world"}';
  const errors = {
    channel: el('p', { class: 'error', id: 'f-channel-error' }),
    event: el('p', { class: 'error', id: 'f-event-error' }),
    data: el('p', { class: 'error', id: 'f-data-error' }),
  };
  const formError = el('p', { class: 'error', role: 'alert' });
  const send = el('form', { id: 'test-event', class: 'card', novalidate: true },
    el('h2', {}, 'Send a test event'),
    el('div', { class: 'field' }, el('label', { for: 'f-channel' }, 'Channel'), fChannel, errors.channel),
    el('div', { class: 'field' }, el('label', { for: 'f-event' }, 'Event'), fEvent, errors.event),
    el('div', { class: 'field' }, el('label', { for: 'f-data' }, 'Data (sent as the event\'s data string)'), fData, errors.data),
    formError,
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Send event')));
  const FIELD_OF = { invalid_channel: 'channel', missing_channels: 'channel', invalid_event_name: 'event', payload_too_large: 'data' };
  send.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const p of [...Object.values(errors), formError]) p.textContent = '';
    for (const c of [fChannel, fEvent, fData]) c.removeAttribute('aria-invalid');
    const res = await api(`/apps/${encodeURIComponent(id)}/events`, {
      method: 'POST',
      body: { channel: fChannel.value.trim(), event: fEvent.value.trim(), data: fData.value },
    });
    if (res.ok) return status(`Sent ${fEvent.value} to ${fChannel.value}`);
    const field = res.body && FIELD_OF[res.body.code];
    const message = (res.body && res.body.error) || `HTTP ${res.status}`;
    if (field) {
      errors[field].textContent = message;
      send.querySelector(`[name="${field}"]`).setAttribute('aria-invalid', 'true');
    } else {
      formError.textContent = message;
    }
  });

  main.append(filters,
    el('p', {}, state, ' ', sampling),
    el('div', { class: 'two' }, el('section', { 'aria-label': 'Live events' }, feed), send));
  connect();
  return () => {
    if (source) source.close();
  };
}
