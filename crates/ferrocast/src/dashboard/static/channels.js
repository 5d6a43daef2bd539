// Channels of one app: every occupied channel in the cluster with its subscription count, the
// members of presence channels, the last event of cache channels and, on channels the app keeps
// history for, the stream position with the newest stored messages; refreshed every 2 s.

import { api, appPicker, el, fmtNum, listApps } from './util.js';

function historyCell(h) {
  if (!h) return '–';
  if (h.error) return el('span', { class: 'error-text' }, h.error);
  return [
    el('span', {}, 'offset ', el('code', {}, String(h.offset)), ' · epoch ', el('code', {}, h.epoch)),
    h.messages.length ? el('ol', { class: 'history' }, h.messages.map((m) => el('li', {},
      el('code', {}, `#${m.offset}`), ' ', el('code', {}, m.event), ' ', el('code', {}, m.data + (m.truncated ? ' …' : '')),
      el('time', { class: 'muted', datetime: new Date(m.time).toISOString() }, ` ${new Date(m.time).toLocaleTimeString()}`)))) : el('span', { class: 'muted' }, ' (nothing stored)'),
  ];
}

export async function render(main, id) {
  const apps = await listApps();
  if (!id && apps.length) {
    window.location.replace(`#/channels/${encodeURIComponent(apps[0].id)}`);
    return undefined;
  }
  main.append(el('h1', {}, id ? `Channels · ${id}` : 'Channels'));
  if (!id) {
    main.append(el('p', {}, 'No app yet.'));
    return undefined;
  }
  const tbody = el('tbody');
  const summary = el('p', { class: 'muted', id: 'channels-summary', role: 'status' });
  const auto = el('input', { type: 'checkbox', id: 'auto-refresh', checked: true });
  const refreshButton = el('button', { type: 'button', class: 'secondary', id: 'refresh' }, 'Refresh');
  main.append(
    el('div', { class: 'toolbar' }, appPicker(apps, id, 'channels'),
      el('div', { class: 'field check' }, auto, el('label', { for: 'auto-refresh' }, 'Refresh every 2 s')),
      refreshButton),
    summary,
    el('div', { class: 'table-wrap' }, el('table', { id: 'channels-table' },
      el('thead', {}, el('tr', {}, ['Channel', 'Subscriptions', 'Presence members', 'Last cached event', 'History (newest first)'].map((h) => el('th', { scope: 'col' }, h)))),
      tbody)));

  let stopped = false;
  async function refresh() {
    const r = await api(`/apps/${encodeURIComponent(id)}/channels`);
    if (stopped) return;
    if (!r.ok) {
      summary.textContent = (r.body && r.body.error) || `HTTP ${r.status}`;
      return;
    }
    const { channels, total, history } = r.body;
    summary.textContent = `${fmtNum(total)} occupied channel${total === 1 ? '' : 's'}${total > channels.length ? ` (first ${channels.length} shown)` : ''}${history ? '' : ' · this app keeps no message history'}`;
    tbody.replaceChildren(...channels.map((c) => el('tr', {},
      el('th', { scope: 'row', class: 'mono' }, c.name),
      el('td', {}, fmtNum(c.subscription_count)),
      el('td', {}, c.members ? [`${fmtNum(c.user_count)}: `, el('span', { class: 'mono' }, c.members.join(', '))] : '–'),
      el('td', {}, c.cached ? [el('code', {}, c.cached.event), ' ', el('code', {}, c.cached.data + (c.cached.truncated ? ' …' : '')), el('span', { class: 'muted' }, ` (expires in ${c.cached.ttl_left} s)`)] : '–'),
      el('td', {}, historyCell(c.history)))));
    if (!channels.length) tbody.append(el('tr', {}, el('td', { colspan: 5, class: 'muted' }, 'No occupied channel.')));
  }
  refreshButton.addEventListener('click', refresh);
  await refresh();
  const timer = setInterval(() => {
    if (auto.checked) refresh();
  }, 2000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
