// Apps: the list, a create form, and per app an edit form (limits and switches), secret
// rotation, disable/enable and delete — all through the admin API. Its validation errors name
// the field, and are shown next to that field.

import { api, el, fmtNum, status } from './util.js';

/** Settings not edited in the form (credentials, rotation state, the on/off switch). */
const NOT_EDITED = new Set(['id', 'secret', 'previous_secret', 'previous_secret_expires_at', 'enabled']);

function label(name) {
  return name.replace(/_/g, ' ').replace(/\bkb\b/, 'KiB').replace(/\bsec\b/, 's');
}

/** A form field for one setting, typed by its current value. */
function input(name, value) {
  const id = `f-${name}`;
  const err = el('p', { class: 'error', id: `${id}-error` });
  const common = { id, name, 'aria-describedby': `${id}-error` };
  if (typeof value === 'boolean') {
    return el('div', { class: 'field check' },
      el('input', { ...common, type: 'checkbox', checked: value, defaultChecked: value }), el('label', { for: id }, label(name)), err);
  }
  let control;
  if (Array.isArray(value)) {
    control = el('textarea', { ...common, rows: 3, 'data-kind': 'list' });
    control.value = value.join('\n');
  } else if (typeof value === 'number') {
    control = el('input', { ...common, type: 'number', min: 0, step: 1, inputmode: 'numeric', 'data-kind': 'number' });
    control.value = String(value);
  } else {
    control = el('input', { ...common, type: 'text', 'data-kind': 'text', autocomplete: 'off' });
    control.value = value ?? '';
  }
  control.defaultValue = control.value;
  const hint = Array.isArray(value) ? el('span', { class: 'hint' }, 'one per line') : null;
  return el('div', { class: 'field' }, el('label', { for: id }, label(name), hint ? ' ' : '', hint), control, err);
}

/** The value a control holds, in the JSON type of the setting (left as text when it does not parse). */
function read(control) {
  if (control.type === 'checkbox') return control.checked;
  const kind = control.dataset.kind;
  if (kind === 'list') return control.value.split('\n').map((s) => s.trim()).filter(Boolean);
  if (kind === 'number') {
    const n = Number(control.value);
    return control.value.trim() !== '' && Number.isInteger(n) ? n : control.value;
  }
  return control.value;
}

function clearErrors(form) {
  for (const e of form.querySelectorAll('.error')) e.textContent = '';
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
}

/** Shows an API error next to the field it names, or in the form's own error line. */
function showError(form, body, fallback) {
  const field = body && body.field ? String(body.field).split(/[[.]/)[0] : null;
  const message = (body && body.error) || fallback;
  const control = field ? form.querySelector(`[name="${CSS.escape(field)}"]`) : null;
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    form.querySelector(`#f-${CSS.escape(field)}-error`).textContent = message;
    control.focus();
  } else {
    form.querySelector('.form-error').textContent = message;
  }
}

function secretBox(title, secret, extra) {
  return el('div', { class: 'secret', role: 'alert', id: 'secret-box' },
    el('strong', {}, title), ' ', el('code', { id: 'shown-secret' }, secret), extra ? ` ${extra}` : '',
    el('p', { class: 'hint' }, 'Copy it now: it is not shown again.'));
}


function appRow(a, conns) {
  return el('tr', {},
    el('th', { scope: 'row' }, el('a', { href: `#/apps/${encodeURIComponent(a.id)}` }, a.id)),
    el('td', { class: 'mono' }, a.key),
    el('td', {}, el('span', { class: `badge ${a.enabled ? 'on' : 'off'}` }, a.enabled ? 'enabled' : 'disabled')),
    el('td', {}, fmtNum(conns.get(a.id) ?? 0)),
    el('td', {}, el('a', { href: `#/console/${encodeURIComponent(a.id)}` }, 'Debug console'), ' · ',
      el('a', { href: `#/channels/${encodeURIComponent(a.id)}` }, 'Channels')));
}

async function list(main) {
  const tbody = el('tbody');
  const listError = el('p', { class: 'error', role: 'alert' });
  async function refresh() {
    const [r, stats] = await Promise.all([api('/admin/apps'), api('/stats')]);
    const conns = new Map(stats.ok ? stats.body.apps.map((a) => [a.id, a.connections]) : []);
    listError.textContent = r.ok ? '' : (r.body && r.body.error) || 'Could not list the apps';
    tbody.replaceChildren(...(r.ok ? r.body.apps : []).map((a) => appRow(a, conns)));
  }

  const created = el('div', { id: 'created' });
  const form = el('form', { id: 'create-form', class: 'card', novalidate: true },
    el('div', { class: 'form' },
      input('id', ''), input('key', ''), input('max_connections', 0), input('client_events', true)),
    el('p', { class: 'hint' }, 'Id and key are generated when left empty. Every other setting can be changed after.'),
    el('p', { class: 'error form-error', role: 'alert' }),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Create app')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const body = {};
    for (const c of form.querySelectorAll('[name]')) {
      const v = read(c);
      if (v !== '') body[c.name] = v;
    }
    const res = await api('/admin/apps', { method: 'POST', body });
    if (!res.ok) return showError(form, res.body, `Could not create the app (HTTP ${res.status})`);
    status(`App ${res.body.id} created`);
    created.replaceChildren(el('div', { class: 'secret', role: 'alert' },
      el('p', {}, el('strong', {}, `App ${res.body.id} created.`), ' ',
        el('a', { href: `#/apps/${encodeURIComponent(res.body.id)}`, id: 'created-link' }, 'Edit its settings')),
      el('p', {}, 'Id ', el('code', { id: 'created-id' }, res.body.id),
        ' · key ', el('code', { id: 'created-key' }, res.body.key),
        ' · secret ', el('code', { id: 'created-secret' }, res.body.secret)),
      el('p', { class: 'hint' }, 'Copy the secret now: it is not shown again.')));
    form.reset();
    await refresh();
  });

  main.append(
    el('h1', {}, 'Apps'),
    listError,
    el('div', { class: 'table-wrap' }, el('table', { id: 'apps-table' },
      el('thead', {}, el('tr', {}, ['Id', 'Key', 'State', 'Connections', 'Pages'].map((h) => el('th', { scope: 'col' }, h)))),
      tbody)),
    el('h2', {}, 'Create an app'),
    created,
    form,
  );
  await refresh();
}

async function edit(main, id) {
  const r = await api(`/admin/apps/${encodeURIComponent(id)}`);
  main.append(el('p', {}, el('a', { href: '#/apps' }, '← All apps')));
  if (!r.ok) {
    main.append(el('h1', {}, `App ${id}`), el('p', { class: 'error' }, (r.body && r.body.error) || 'Not found'));
    return;
  }
  const app = r.body;
  const notice = el('div', { id: 'notice' });
  const state = el('span', { class: `badge ${app.enabled ? 'on' : 'off'}`, id: 'app-state' }, app.enabled ? 'enabled' : 'disabled');
  const fields = Object.keys(app).filter((k) => !NOT_EDITED.has(k));
  const form = el('form', { id: 'edit-form', class: 'card', novalidate: true },
    el('div', { class: 'form' }, fields.map((k) => input(k, app[k]))),
    el('p', { class: 'error form-error', role: 'alert' }),
    el('div', { class: 'actions' }, el('button', { type: 'submit' }, 'Save changes')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors(form);
    const patch = {};
    for (const c of form.querySelectorAll('[name]')) {
      const v = read(c);
      if (JSON.stringify(v) !== JSON.stringify(app[c.name])) patch[c.name] = v;
    }
    if (!Object.keys(patch).length) return status('Nothing changed');
    const res = await api(`/admin/apps/${encodeURIComponent(id)}`, { method: 'PATCH', body: patch });
    if (!res.ok) return showError(form, res.body, `Could not save (HTTP ${res.status})`);
    Object.assign(app, res.body);
    status('Saved');
  });

  const toggle = el('button', { type: 'button', id: 'toggle-enabled', class: app.enabled ? 'danger' : '' }, app.enabled ? 'Disable app' : 'Enable app');
  toggle.addEventListener('click', async () => {
    const res = await api(`/admin/apps/${encodeURIComponent(id)}/${app.enabled ? 'disable' : 'enable'}`, { method: 'POST' });
    if (!res.ok) return status((res.body && res.body.error) || `HTTP ${res.status}`);
    app.enabled = res.body.enabled;
    state.textContent = app.enabled ? 'enabled' : 'disabled';
    state.className = `badge ${app.enabled ? 'on' : 'off'}`;
    toggle.textContent = app.enabled ? 'Disable app' : 'Enable app';
    toggle.className = app.enabled ? 'danger' : '';
    status(app.enabled ? 'App enabled' : 'App disabled: its connections were closed (4003)');
  });

  const grace = el('input', { id: 'grace', type: 'number', min: 0, value: '3600', 'aria-describedby': 'grace-hint' });
  const rotate = el('button', { type: 'button', id: 'rotate', class: 'secondary' }, 'Rotate secret');
  rotate.addEventListener('click', async () => {
    const res = await api(`/admin/apps/${encodeURIComponent(id)}/rotate-secret`, { method: 'POST', body: { grace_secs: Number(grace.value) || 0 } });
    if (!res.ok) return status((res.body && res.body.error) || `HTTP ${res.status}`);
    const until = new Date(res.body.previous_secret_expires_at * 1000).toLocaleString();
    notice.replaceChildren(secretBox('New secret:', res.body.secret, `(the old one works until ${until})`));
  });

  let armed = false;
  const del = el('button', { type: 'button', id: 'delete', class: 'danger' }, 'Delete app');
  del.addEventListener('click', async () => {
    if (!armed) {
      armed = true;
      del.textContent = 'Click again to delete for good';
      return;
    }
    const res = await api(`/admin/apps/${encodeURIComponent(id)}`, { method: 'DELETE' });
    if (!res.ok) return status((res.body && res.body.error) || `HTTP ${res.status}`);
    status(`App ${id} deleted`);
    window.location.assign('#/apps');
  });

  main.append(
    el('h1', {}, `App ${id} `, state),
    el('p', { class: 'muted' }, 'Key ', el('code', {}, app.key), ' · ',
      el('a', { href: `#/console/${encodeURIComponent(id)}` }, 'Debug console'), ' · ',
      el('a', { href: `#/channels/${encodeURIComponent(id)}` }, 'Channels')),
    notice,
    el('div', { class: 'actions card' },
      toggle,
      el('span', { class: 'field' }, el('label', { for: 'grace' }, 'Old secret valid for (s)'), grace),
      rotate,
      del,
      el('span', { id: 'grace-hint', class: 'hint' }, 'After a rotation both secrets are accepted for this long.')),
    el('h2', {}, 'Settings'),
    form,
  );
}

export async function render(main, id) {
  if (id) await edit(main, id);
  else await list(main);
}
