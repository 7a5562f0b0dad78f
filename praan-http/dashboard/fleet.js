// The fleet list (`#/`): every device with presence, power, fan speed, last seen and active
// pre-clean, a filter, live updates from the event stream (state changes, not readings) and a
// periodic refresh.

import { get } from './api.js';
import { observeServerNow } from './clock.js';
import { debounce, h, replace } from './dom.js';
import { fmtFanMode, fmtFull, fmtPower, fmtPresenceReason } from './format.js';
import { errorText, notifyError } from './notify.js';
import { openEventStream } from './sse.js';
import { countdown, relativeTime } from './ticker.js';

const POLL_MS = 15000;

/** Renders the fleet list into `root`; returns the view's dispose function. */
export function fleetView(root) {
  const devices = new Map(); // deviceId → DeviceStateDto
  let loadError = null;
  let loaded = false;

  const filterInput = h('input', {
    type: 'search', id: 'fleet-filter', placeholder: 'id, name, online, offline, pre-clean…',
    autocomplete: 'off', dataset: { testid: 'fleet-filter' },
  });
  const statusSelect = h('select', { id: 'fleet-status', dataset: { testid: 'fleet-status-filter' } },
    h('option', { value: '', text: 'All devices' }),
    h('option', { value: 'online', text: 'Online' }),
    h('option', { value: 'offline', text: 'Offline' }),
    h('option', { value: 'preclean', text: 'Pre-cleaning' }));
  const summary = h('p', { class: 'fleet-summary muted', dataset: { testid: 'fleet-summary' }, 'aria-live': 'polite' });
  const body = h('tbody');
  const table = h('table', { class: 'data-table cards fleet-table', dataset: { testid: 'fleet-table' } },
    h('caption', { class: 'visually-hidden', text: 'Devices' }),
    h('thead', {}, h('tr', {},
      ['Device', 'Status', 'Power', 'Fan', 'Last seen', 'Pre-clean'].map((t) => h('th', { scope: 'col', text: t })))),
    body);
  const empty = h('div', { class: 'empty', dataset: { testid: 'fleet-empty' }, hidden: true });

  replace(root,
    h('div', { class: 'page-head' },
      h('h1', { text: 'Fleet' }),
      summary),
    h('div', { class: 'toolbar' },
      h('label', { class: 'field field-grow' },
        h('span', { class: 'field-label', text: 'Filter devices' }), filterInput),
      h('label', { class: 'field' },
        h('span', { class: 'field-label', text: 'Show' }), statusSelect)),
    h('div', { class: 'table-wrap' }, table),
    empty);

  // Rows are rebuilt only when what they show changes (not for every reading's "last seen"), and
  // kept in place otherwise, so a focused link is not lost under a keyboard user every second.
  const rows = new Map(); // deviceId → { sig, el }
  const rowFor = (d) => {
    const sig = JSON.stringify([d.device?.name, d.device?.location, d.isOnline, d.presence, d.powerOn, d.currentFanSpeed, d.activePreClean]);
    let row = rows.get(d.deviceId);
    if (!row || row.sig !== sig) {
      row = { sig, el: deviceRow(d) };
      rows.set(d.deviceId, row);
    }
    updateLastSeen(row.el, d.lastSeen);
    return row.el;
  };

  const render = () => {
    const all = [...devices.values()].sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    const shown = all.filter((d) => matches(d, filterInput.value, statusSelect.value));
    const wanted = shown.map(rowFor);
    if (wanted.length !== body.children.length || wanted.some((el, i) => body.children[i] !== el)) {
      body.replaceChildren(...wanted);
    }
    for (const id of rows.keys()) if (!devices.has(id)) rows.delete(id);
    const online = all.filter((d) => d.isOnline).length;
    table.hidden = shown.length === 0;
    summary.textContent = loadError && !all.length ? '' : loaded
      ? `${all.length} device${all.length === 1 ? '' : 's'} · ${online} online · ${all.length - online} offline`
        + (shown.length !== all.length ? ` · ${shown.length} shown` : '')
      : 'Loading…';
    empty.hidden = !(loaded && shown.length === 0) && !loadError;
    if (loadError) replace(empty, h('p', { class: 'error-box', text: `Could not load the devices: ${loadError}` }));
    else if (all.length === 0) replace(empty, h('p', { text: 'No devices yet. Devices appear when they send their first MQTT message or are registered through the API.' }));
    else replace(empty, h('p', { text: 'No device matches the filter.' }));
  };

  const load = async () => {
    try {
      const list = await get('/api/device/list/all');
      devices.clear();
      for (const d of list) devices.set(d.deviceId, d);
      loadError = null;
    } catch (err) {
      if (loaded && !loadError) notifyError('Refreshing the fleet', err); // once, not every poll
      loadError = errorText(err);
    }
    loaded = true;
    render();
  };
  const reload = debounce(load, 400);

  filterInput.addEventListener('input', render);
  statusSelect.addEventListener('change', render);

  // Not `reading`: a fleet of thousands would send this page thousands of readings a second.
  // State, presence, pre-cleans and acknowledged commands reload the list; "last seen" and
  // readings' reported states come with the periodic refresh.
  const stream = openEventStream('/api/events?types=state,presence,preclean,command', {
    onOpen: reload,
    onEvent(name, data) {
      if (['state', 'presence', 'preclean', 'lagged'].includes(name)) {
        reload();
      } else if (name === 'command' && data.status === 'acknowledged') {
        observeServerNow(data.createdAt);
        reload(); // the ack's currentState updated the reported state
      }
    },
  });
  const poll = setInterval(load, POLL_MS);
  load();

  return () => {
    stream.close();
    clearInterval(poll);
    reload.cancel();
  };
}

/** Whether device `d` matches the filter text (id, name, location, status words) and status. */
function matches(d, text, status) {
  if (status === 'online' && !d.isOnline) return false;
  if (status === 'offline' && d.isOnline) return false;
  if (status === 'preclean' && !d.preCleanActive) return false;
  const terms = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length) return true;
  const haystack = [
    d.deviceId, d.device?.name, d.device?.location, d.device?.status,
    d.isOnline ? 'online' : 'offline', d.presence?.reason, fmtPresenceReason(d.presence?.reason),
    d.preCleanActive ? 'pre-clean preclean active' : '',
    d.powerOn === true ? 'on' : d.powerOn === false ? 'off' : '',
  ].filter(Boolean).join(' ').toLowerCase();
  return terms.every((t) => haystack.includes(t));
}

function deviceRow(d) {
  const name = d.device?.name || d.deviceId;
  const href = `#/device/${encodeURIComponent(d.deviceId)}`;
  return h('tr', { dataset: { testid: 'device-row', deviceId: d.deviceId, online: d.isOnline } },
    h('td', { dataset: { label: 'Device' }, class: 'cell-device' },
      h('a', { href, class: 'device-link', dataset: { testid: 'device-link' } },
        h('span', { class: 'device-name', text: name })),
      name !== d.deviceId ? h('span', { class: 'device-id muted', text: d.deviceId }) : null,
      d.device?.location ? h('span', { class: 'device-id muted', text: d.device.location }) : null),
    h('td', { dataset: { label: 'Status' } }, presenceBadge(d)),
    h('td', { dataset: { label: 'Power', testid: 'device-power' }, text: fmtPower(d.powerOn) }),
    h('td', { dataset: { label: 'Fan', testid: 'device-fan' }, text: d.currentFanSpeed ?? '—' }),
    h('td', { dataset: { label: 'Last seen', testid: 'device-last-seen' } }),
    h('td', { dataset: { label: 'Pre-clean', testid: 'device-preclean' } }, precleanCell(d)));
}

/** Sets a row's "last seen" cell (a self-updating relative time). */
function updateLastSeen(row, iso) {
  const cell = row.querySelector('[data-testid="device-last-seen"]');
  const time = cell.querySelector('time');
  if (!iso) {
    if (!cell.textContent) cell.replaceChildren(h('span', { class: 'muted', text: 'never' }));
  } else if (!time) {
    cell.replaceChildren(relativeTime(iso));
  } else if (time.dataset.relTime !== iso) {
    time.dateTime = iso;
    time.dataset.relTime = iso;
    time.title = fmtFull(iso);
  }
}

/** "● Online" / "● Offline · silent for too long", with the reason and since in the tooltip. */
export function presenceBadge(d) {
  const online = Boolean(d.isOnline);
  const reason = d.presence ? fmtPresenceReason(d.presence.reason) : '';
  const state = d.presence || d.lastSeen ? (online ? 'online' : 'offline') : 'unknown';
  const label = state === 'unknown' ? 'Unknown' : online ? 'Online' : 'Offline';
  const title = d.presence ? `${label} since ${fmtFull(d.presence.since)} (${reason})` : label;
  return h('span', { class: ['badge', `badge-${state}`], title, dataset: { testid: 'device-status', status: state } },
    h('span', { class: 'dot', 'aria-hidden': 'true' }),
    label,
    !online && reason ? h('span', { class: 'badge-detail', text: ` · ${reason}` }) : null);
}

function precleanCell(d) {
  const p = d.activePreClean;
  if (!p) return h('span', { class: 'muted', text: '—' });
  return h('span', { class: 'preclean-chip' },
    h('span', { text: fmtFanMode(p.targetFanMode, p.target) }),
    ' · ', countdown(p.endsAt), ' left');
}
