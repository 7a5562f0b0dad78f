// The dashboard's entry point: the hash router (`#/` fleet list, `#/device/<id>` device page),
// the top bar (live status, "forget key") and the page-wide ticker.

import { forgetKey, getKey, initKeyDialog, onKeyChange, promptForKey } from './auth.js';
import { deviceView } from './device.js';
import { h, replace } from './dom.js';
import { fleetView } from './fleet.js';
import { notify } from './notify.js';
import { setStreamStatusListener } from './sse.js';
import { startTicker } from './ticker.js';

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

let disposeView = null;

/** The route of a location hash: {name: 'fleet'} or {name: 'device', id}. */
function parseRoute(hash) {
  const match = /^#\/device\/([^/?#]+)\/?$/.exec(hash);
  if (match) {
    let id;
    try {
      id = decodeURIComponent(match[1]);
    } catch {
      id = null;
    }
    return DEVICE_ID.test(id || '') ? { name: 'device', id } : { name: 'invalid', raw: match[1] };
  }
  return { name: 'fleet' };
}

/** Shows the view of the current hash, disposing of the previous one (streams, timers). */
function route() {
  if (disposeView) disposeView();
  disposeView = null;
  const root = document.getElementById('view');
  const r = parseRoute(location.hash);
  document.querySelectorAll('.topnav a').forEach((a) => {
    a.toggleAttribute('aria-current', r.name === 'fleet' && a.getAttribute('href') === '#/');
  });
  if (r.name === 'device') {
    document.title = `${r.id} — praan`;
    disposeView = deviceView(root, r.id);
  } else if (r.name === 'invalid') {
    document.title = 'Not found — praan';
    replace(root, h('div', { class: 'card' },
      h('h1', { text: 'Not a device id' }),
      h('p', { text: 'Device ids are 1–64 letters, digits, “_”, “.” or “-”, starting with a letter or digit.' }),
      h('p', {}, h('a', { href: '#/', text: 'Back to the fleet' }))));
  } else {
    document.title = 'Fleet — praan';
    disposeView = fleetView(root);
  }
  root.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

const LIVE_TEXT = {
  connecting: 'Connecting…', open: 'Live', retrying: 'Reconnecting…', auth: 'Needs API key', closed: 'Not connected',
};

function showStreamStatus(state, message) {
  const el = document.querySelector('[data-testid="live-status"]');
  el.dataset.state = state;
  el.querySelector('.live-text').textContent = LIVE_TEXT[state] || state;
  el.title = message ? `Live updates: ${LIVE_TEXT[state]} (${message})` : `Live updates: ${LIVE_TEXT[state] || state}`;
}

function initKeyButtons() {
  const button = document.querySelector('[data-testid="forget-key"]');
  const enter = document.querySelector('[data-testid="enter-key"]');
  const sync = () => {
    button.hidden = !getKey();
    if (getKey()) enter.hidden = true;
  };
  document.addEventListener('praan:key-declined', () => { enter.hidden = Boolean(getKey()); });
  enter.addEventListener('click', () => {
    promptForKey(undefined, { ask: true }).then(() => { enter.hidden = true; route(); }, () => {});
  });
  button.addEventListener('click', () => {
    forgetKey();
    notify('API key forgotten.', 'info');
    route(); // reload the view: requests now go without a key, and a 401 asks for one
  });
  onKeyChange(sync);
  sync();
}

function start() {
  initKeyDialog();
  initKeyButtons();
  setStreamStatusListener(showStreamStatus);
  startTicker();
  window.addEventListener('hashchange', route);
  route();
}

start();
