// The device page (`#/device/<id>`): state, controls, pre-clean, live readings, history charts,
// schedules with the weekly timeline, and command history, all fed by one event stream of the
// device (`/api/events?deviceId=`) plus periodic reloads as a safety net.

import { ApiError, devicePath, get } from './api.js';
import { createHistory } from './charts.js';
import { observeServerNow } from './clock.js';
import { createCommands } from './commands.js';
import { createControls } from './controls.js';
import { card, debounce, h, replace } from './dom.js';
import { presenceBadge } from './fleet.js';
import { fmtFanMode, fmtFanState, fmtIntentSource, fmtPower, fmtPresenceReason, fmtTime, shortId } from './format.js';
import { notifyError } from './notify.js';
import { createPreClean } from './preclean.js';
import { createReadings } from './readings.js';
import { createSchedules } from './schedules.js';
import { openEventStream } from './sse.js';
import { countdown, relativeTime } from './ticker.js';

const STATE_POLL_MS = 15000;

/** Renders the page of device `deviceId` into `root`; returns its dispose function. */
export function deviceView(root, deviceId) {
  let state = null; // DeviceStateDto
  let disposed = false;

  const title = h('h1', { class: 'device-title', text: deviceId });
  const subtitle = h('div', { class: 'device-subtitle' });
  const stateBody = h('dl', { class: 'facts', dataset: { testid: 'device-state' } });

  const controls = createControls({ deviceId, onSettled: () => reloadState() });
  const preclean = createPreClean({ deviceId, onChanged: () => reloadState() });
  const readings = createReadings();
  const history = createHistory({ deviceId });
  const schedules = createSchedules({ deviceId });
  const commands = createCommands({ deviceId });

  replace(root,
    h('nav', { class: 'breadcrumb', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/', text: '← Fleet' })),
    h('div', { class: 'page-head device-head' }, title, subtitle),
    h('div', { class: 'grid' },
      card('State', { dataset: { testid: 'state-card' } }, stateBody),
      controls.el,
      preclean.el,
      readings.el,
      history.el,
      schedules.el,
      commands.el));

  async function loadState() {
    try {
      state = await get(devicePath(deviceId, '/state'));
      if (disposed) return;
      renderState();
    } catch (err) {
      if (disposed || err.name === 'AbortError') return;
      if (err instanceof ApiError && err.status === 404) return showUnknown();
      notifyError('Loading the device state', err);
    }
  }
  const reloadState = debounce(loadState, 300);

  function showUnknown() {
    dispose();
    replace(root, h('div', { class: 'card', dataset: { testid: 'unknown-device' } },
      h('h1', { text: 'Unknown device' }),
      h('p', {}, 'No device ', h('code', { text: deviceId }), ' is registered.'),
      h('p', {}, h('a', { href: '#/', text: 'Back to the fleet' }))));
  }

  function renderState() {
    const s = state;
    const name = s.device?.name || deviceId;
    title.textContent = name;
    replace(subtitle,
      presenceBadge(s),
      name !== deviceId ? h('span', { class: 'muted', text: deviceId }) : null,
      s.device?.location ? h('span', { class: 'muted', text: s.device.location }) : null,
      h('span', { class: 'muted' }, 'Last seen ', s.lastSeen ? relativeTime(s.lastSeen) : 'never'));
    replace(stateBody,
      fact('Presence', s.presence
        ? [h('span', { dataset: { testid: 'device-presence' }, text: s.isOnline ? 'Online' : 'Offline' }),
          h('span', { class: 'muted', text: ` · ${fmtPresenceReason(s.presence.reason)}, since ${fmtTime(s.presence.since)}` })]
        : h('span', { dataset: { testid: 'device-presence' }, text: s.isOnline ? 'Online' : 'Unknown' })),
      fact('Power', h('span', { class: 'fact-big', dataset: { testid: 'current-power' }, text: fmtPower(s.powerOn) })),
      fact('Fan speed', h('span', { class: 'fact-big', dataset: { testid: 'current-fan-speed', speed: s.currentFanSpeed ?? '' }, text: s.currentFanSpeed ?? '—' }),
        s.reported ? h('span', { class: 'muted', text: ` reported ${fmtTime(s.reported.at)}` }) : null),
      fact('Desired', s.effective
        ? h('span', { dataset: { testid: 'effective-state' } }, `${fmtFanState(s.effective)} `,
          h('span', { class: 'muted', text: `· ${fmtIntentSource(s.effective.source)}` }))
        : h('span', { class: 'muted', dataset: { testid: 'effective-state' }, text: 'Unmanaged — praan sends nothing on its own' })),
      s.activePreClean
        ? fact('Pre-clean', h('span', { dataset: { testid: 'state-preclean' } },
          `${fmtFanMode(s.activePreClean.targetFanMode, s.activePreClean.target)} · `, countdown(s.activePreClean.endsAt), ' left'))
        : null,
      s.base && s.activePreClean
        ? fact('Restores to', h('span', { text: `${fmtFanState(s.base)} · ${fmtIntentSource(s.base.source)}` }))
        : null,
      s.activeWindows?.length
        ? fact('Schedule windows', h('span', { text: s.activeWindows.map((w) => `speed ${w.fanSpeed} (${shortId(w.scheduleId)}, since ${fmtTime(w.start)})`).join('; ') }))
        : null,
      s.device?.specifications?.model ? fact('Model', s.device.specifications.model) : null);
    controls.setState(s);
    preclean.setDeviceState(s);
    if (s.latestReading) readings.show(s.latestReading);
  }

  /** A live reading: the readings card, and the reported power/speed it carries. */
  function onReading(reading) {
    observeServerNow(reading.receivedAt);
    readings.show(reading);
    if (!state) return;
    state.lastSeen = reading.receivedAt || state.lastSeen;
    const newer = !state.reported || Date.parse(reading.timestamp) >= Date.parse(state.reported.at);
    if (newer && reading.fanSpeed !== undefined && reading.powerOn !== undefined) {
      const changed = state.currentFanSpeed !== reading.fanSpeed || state.powerOn !== reading.powerOn;
      state.reported = { powerOn: reading.powerOn, fanSpeed: reading.fanSpeed, at: reading.timestamp };
      state.currentFanSpeed = reading.fanSpeed;
      state.powerOn = reading.powerOn;
      if (changed) renderState();
    }
  }

  const refreshAll = () => {
    loadState();
    preclean.refresh();
    history.refresh();
    schedules.refresh();
    commands.refresh();
  };

  // Event shapes differ: reading/command are the REST DTOs; state/preclean are the engine's
  // records (reloaded through REST rather than interpreted); presence/schedule are tagged.
  let opens = 0;
  const stream = openEventStream(`/api/events?deviceId=${encodeURIComponent(deviceId)}`, {
    // Events are not replayed: after a reconnection reload everything. The first connection
    // follows the initial load closely; reload only what changes often.
    onOpen: () => {
      if (opens++ > 0) return refreshAll();
      loadState();
      preclean.refresh();
      commands.refresh();
    },
    onEvent(name, data) {
      switch (name) {
        case 'reading': onReading(data); break;
        case 'command':
          controls.onCommand(data);
          commands.onCommand(data);
          if (data.status === 'acknowledged') reloadState();
          break;
        case 'state': case 'presence': reloadState(); break;
        case 'preclean': preclean.onEvent(data); reloadState(); break;
        case 'schedule': schedules.onEvent(data); reloadState(); break;
        case 'lagged': refreshAll(); break;
        default: break;
      }
    },
  });
  const poll = setInterval(loadState, STATE_POLL_MS);
  refreshAll();

  function dispose() {
    if (disposed) return;
    disposed = true;
    stream.close();
    clearInterval(poll);
    reloadState.cancel();
    for (const part of [controls, preclean, history, schedules, commands]) part.dispose();
  }
  return dispose;
}

function fact(label, ...value) {
  return h('div', { class: 'fact' }, h('dt', { text: label }), h('dd', {}, value));
}
