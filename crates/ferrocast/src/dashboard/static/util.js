// Shared helpers: the JSON client (the session cookie authenticates; a 401 sends the browser
// back to the login), a small DOM builder (text is always set as text, never parsed as HTML),
// formatting and the status line.

/** Calls the dashboard API; resolves {ok, status, body}. */
export async function api(path, { method = 'GET', body } = {}) {
  const init = { method, credentials: 'same-origin', headers: {} };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`/dashboard/api${path}`, init);
  if (res.status === 401) {
    window.location.assign('/dashboard/login');
    return new Promise(() => {});
  }
  let parsed = null;
  try {
    parsed = await res.json();
  } catch (e) {
    parsed = null;
  }
  return { ok: res.ok, status: res.status, body: parsed };
}

/** el('p', {class: 'x', onclick: f}, 'text', child, …) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function fmtNum(n, digits = 0) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function fmtBytes(b) {
  if (!b) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) {
    b /= 1024;
    i += 1;
  }
  return `${b.toFixed(i ? 1 : 0)} ${units[i]}`;
}

let statusTimer;
/** Announces a short message (also to screen readers). */
export function status(message) {
  const s = document.getElementById('status');
  s.textContent = message;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => {
    s.textContent = '';
  }, 4000);
}

/** The apps, for the pickers; [] when the list cannot be read. */
export async function listApps() {
  const r = await api('/admin/apps');
  return r.ok ? r.body.apps : [];
}

/** A labelled <select> of apps that navigates to `#/{page}/{id}` when changed. */
export function appPicker(apps, current, page) {
  const select = el(
    'select',
    { id: 'app-picker', onchange: (e) => window.location.assign(`#/${page}/${encodeURIComponent(e.target.value)}`) },
    apps.map((a) => el('option', { value: a.id, selected: a.id === current }, `${a.id} (${a.key})`)),
  );
  return el('div', { class: 'field' }, el('label', { for: 'app-picker' }, 'App'), select);
}
