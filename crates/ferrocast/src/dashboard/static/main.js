// The page router: `#/overview`, `#/apps`, `#/apps/{id}`, `#/console/{id}`, `#/channels/{id}`.
// Each page module exports render(main, param) and returns a function that stops its timers
// and streams when the page is left.

import * as overview from './overview.js';
import * as apps from './apps.js';
import * as consolePage from './console.js';
import * as channels from './channels.js';

const PAGES = { overview, apps, console: consolePage, channels };
let leave = null;

async function route() {
  const [, page = 'overview', param] = (window.location.hash || '#/overview').split('/');
  const mod = PAGES[page] || overview;
  if (leave) leave();
  leave = null;
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const main = document.getElementById('main');
  main.replaceChildren();
  const stop = await mod.render(main, param ? decodeURIComponent(param) : undefined);
  leave = typeof stop === 'function' ? stop : null;
  const heading = main.querySelector('h1');
  document.title = `${heading ? heading.textContent : 'Dashboard'} · Ferrocast`;
}

window.addEventListener('hashchange', () => {
  route().then(() => document.getElementById('main').focus({ preventScroll: true }));
});
route();
