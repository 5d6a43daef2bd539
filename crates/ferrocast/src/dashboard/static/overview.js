// Overview: this node and the cluster's other nodes, live. Polls /stats every second and turns
// the running totals into per-second rates and a mean publish-to-delivery latency.

import { api, el, fmtBytes, fmtNum } from './util.js';
import { Spark } from './chart.js';

const METRICS = [
  { id: 'connections', label: 'Connections', color: '#0b5cad', fmt: (v) => fmtNum(v) },
  { id: 'in', label: 'Messages in / s', color: '#116329', fmt: (v) => fmtNum(v, 1) },
  { id: 'out', label: 'Messages out / s', color: '#8250df', fmt: (v) => fmtNum(v, 1) },
  { id: 'latency', label: 'Delivery latency (mean, ms)', color: '#bc4c00', fmt: (v) => fmtNum(v, 2) },
  { id: 'memory', label: 'Memory (resident)', color: '#57606a', fmt: (v) => fmtBytes(v) },
];

/** Rates between two load snapshots taken `secs` apart. */
function rates(prev, cur, secs) {
  if (!prev || !cur || secs <= 0) return { in: 0, out: 0, latency: null };
  const samples = cur.latency_samples - prev.latency_samples;
  return {
    in: Math.max(0, cur.messages_in - prev.messages_in) / secs,
    out: Math.max(0, cur.messages_out - prev.messages_out) / secs,
    latency: samples > 0 ? (cur.latency_micros - prev.latency_micros) / samples / 1000 : null,
  };
}

export async function render(main) {
  const cards = {};
  const grid = el('div', { class: 'grid' });
  for (const m of METRICS) {
    const value = el('div', { class: 'value', id: `metric-${m.id}` }, '–');
    const canvas = el('canvas', { role: 'img', 'aria-label': `${m.label}, last 60 seconds` });
    grid.append(el('section', { class: 'card metric', 'aria-labelledby': `h-${m.id}` },
      el('h3', { id: `h-${m.id}` }, m.label), value, canvas));
    cards[m.id] = { value, spark: new Spark(canvas, { color: m.color }), fmt: m.fmt };
  }
  const nodeInfo = el('p', { class: 'muted', id: 'node-info' });
  const peersBody = el('tbody');
  const appsBody = el('tbody');
  main.append(
    el('h1', {}, 'Overview'),
    nodeInfo,
    el('h2', {}, 'This node'),
    grid,
    el('h2', {}, 'Cluster nodes'),
    el('div', { class: 'table-wrap' }, el('table', {},
      el('caption', { class: 'muted' }, 'Every node of the cluster, as its heartbeats report it'),
      el('thead', {}, el('tr', {}, ['Node', 'Connections', 'In / s', 'Out / s', 'Latency (ms)', 'Memory'].map((h) => el('th', { scope: 'col' }, h)))),
      peersBody)),
    el('h2', {}, 'Apps on this node'),
    el('div', { class: 'table-wrap' }, el('table', {},
      el('thead', {}, el('tr', {}, ['App', 'Key', 'State', 'Connections', 'Channels', 'Subscriptions', 'Presence members'].map((h) => el('th', { scope: 'col' }, h)))),
      appsBody)),
  );

  let prev = null;
  let prevAt = 0;
  const prevPeers = new Map();
  let stopped = false;

  async function tick() {
    const r = await api('/stats');
    if (stopped || !r.ok) return;
    const s = r.body;
    const now = performance.now();
    const secs = prevAt ? (now - prevAt) / 1000 : 0;
    const rate = rates(prev, s.node.load, secs);
    prev = s.node.load;
    prevAt = now;
    const values = {
      connections: s.node.connections,
      in: rate.in,
      out: rate.out,
      latency: rate.latency,
      memory: s.node.load.rss_bytes,
    };
    for (const [id, card] of Object.entries(cards)) {
      card.value.textContent = card.fmt(values[id]);
      card.spark.push(values[id] || 0);
    }
    const c = s.cluster;
    nodeInfo.textContent = `Node ${s.node.id} · adapter ${c.adapter}${c.adapter === 'local' ? '' : c.connected ? ' (connected)' : ' (broker unreachable)'} · up ${fmtNum(s.node.uptime_secs)} s${s.node.draining ? ' · draining' : ''}`;

    const rows = [{ node: s.node.id, connections: s.node.connections, stats: s.node.load, self: true }, ...c.peers];
    peersBody.replaceChildren(...rows.map((p) => {
      const before = prevPeers.get(p.node);
      const pr = p.stats && before ? rates(before.stats, p.stats, (now - before.at) / 1000) : { in: null, out: null, latency: null };
      if (p.stats) prevPeers.set(p.node, { stats: p.stats, at: now });
      return el('tr', {},
        el('th', { scope: 'row' }, `${p.node}${p.self ? ' (this node)' : ''}`),
        el('td', {}, fmtNum(p.connections)),
        el('td', {}, fmtNum(pr.in, 1)),
        el('td', {}, fmtNum(pr.out, 1)),
        el('td', {}, fmtNum(pr.latency, 2)),
        el('td', {}, p.stats ? fmtBytes(p.stats.rss_bytes) : '–'));
    }));
    appsBody.replaceChildren(...s.apps.map((a) => el('tr', {},
      el('th', { scope: 'row' }, el('a', { href: `#/apps/${encodeURIComponent(a.id)}` }, a.id)),
      el('td', { class: 'mono' }, a.key),
      el('td', {}, el('span', { class: `badge ${a.enabled ? 'on' : 'off'}` }, a.enabled ? 'enabled' : 'disabled')),
      el('td', {}, fmtNum(a.connections)),
      el('td', {}, fmtNum(a.channels)),
      el('td', {}, fmtNum(a.subscriptions)),
      el('td', {}, fmtNum(a.presence_members)))));
  }

  await tick();
  const timer = setInterval(tick, 1000);
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
