// Power and fan controls of the device page, with the progress of the command they send
// (pending → sent → acknowledged / failed / timeout …) followed over the event stream, and by
// polling the command while the stream is down.

import { get, post } from './api.js';
import { observeServerNow } from './clock.js';
import { card, h, replace } from './dom.js';
import { fmtCommand, fmtTime, statusTone, TERMINAL_STATUSES } from './format.js';
import { errorText, notifyError } from './notify.js';

const POLL_MS = 1500;
const MAX_SPEED = 5;

/**
 * The controls card. `onSettled(command)` is called when a tracked command reaches its terminal
 * status (the page then reloads the device state).
 */
export function createControls({ deviceId, onSettled }) {
  let tracked = null; // the command whose progress is shown
  // Commands seen on the stream, by id: the device may ack before the POST's answer arrives.
  const seen = new Map();
  let pollTimer = null;
  let maxSpeed = MAX_SPEED;

  const powerOn = h('button', { type: 'button', class: 'btn btn-toggle', dataset: { testid: 'power-on' }, text: 'On' });
  const powerOff = h('button', { type: 'button', class: 'btn btn-toggle', dataset: { testid: 'power-off' }, text: 'Off' });
  const fanButtons = Array.from({ length: MAX_SPEED + 1 }, (_, speed) => h('button', {
    type: 'button', class: 'btn btn-toggle btn-speed', text: String(speed),
    'aria-label': speed === 0 ? 'Fan speed 0 (off)' : `Fan speed ${speed}`,
    dataset: { testid: `fan-btn-${speed}`, speed },
  }));
  const status = h('div', { class: 'command-status', dataset: { testid: 'command-status', status: 'none' }, role: 'status', 'aria-live': 'polite' },
    h('span', { class: 'muted', text: 'No command sent from this page yet.' }));
  const error = h('p', { class: 'form-error', dataset: { testid: 'control-error' }, role: 'alert', hidden: true });

  const el = card('Controls', { dataset: { testid: 'controls' } },
    h('div', { class: 'control-group', role: 'group', 'aria-labelledby': 'power-label' },
      h('span', { class: 'control-label', id: 'power-label', text: 'Power' }),
      h('div', { class: 'segmented' }, powerOn, powerOff)),
    h('div', { class: 'control-group', role: 'group', 'aria-labelledby': 'fan-label' },
      h('span', { class: 'control-label', id: 'fan-label', text: 'Fan speed' }),
      h('div', { class: 'segmented segmented-6' }, fanButtons)),
    status,
    error);

  powerOn.addEventListener('click', () => send('/api/control/power', { deviceId, powerOn: true }, powerOn));
  powerOff.addEventListener('click', () => send('/api/control/power', { deviceId, powerOn: false }, powerOff));
  for (const button of fanButtons) {
    button.addEventListener('click', () => send('/api/control/fan', { deviceId, fanSpeed: Number(button.dataset.speed) }, button));
  }

  async function send(path, body, button) {
    error.hidden = true;
    button.classList.add('is-busy');
    button.setAttribute('aria-busy', 'true');
    try {
      const command = await post(path, body);
      observeServerNow(command.createdAt);
      track(command);
    } catch (err) {
      error.textContent = `The command was not sent: ${errorText(err)}`;
      error.hidden = false;
      notifyError('Sending the command', err);
    } finally {
      button.classList.remove('is-busy');
      button.removeAttribute('aria-busy');
    }
  }

  function track(command) {
    const streamed = seen.get(command.commandId);
    tracked = streamed && TERMINAL_STATUSES.has(streamed.status) ? streamed : command;
    renderStatus();
    clearTimeout(pollTimer);
    if (!TERMINAL_STATUSES.has(tracked.status)) pollTimer = setTimeout(poll, POLL_MS);
    else onSettled?.(tracked);
  }

  // The stream normally brings the updates; polling covers a stream that is reconnecting.
  async function poll() {
    if (!tracked || TERMINAL_STATUSES.has(tracked.status)) return;
    try {
      update(await get(`/api/commands/${encodeURIComponent(tracked.commandId)}`));
    } catch (err) {
      if (err.name === 'AbortError') return;
    }
    if (tracked && !TERMINAL_STATUSES.has(tracked.status)) pollTimer = setTimeout(poll, POLL_MS);
  }

  /** A newer version of a command (from the stream or a poll). */
  function update(command) {
    seen.set(command.commandId, command);
    if (seen.size > 50) seen.delete(seen.keys().next().value);
    if (!tracked || command.commandId !== tracked.commandId) return;
    const wasTerminal = TERMINAL_STATUSES.has(tracked.status);
    tracked = command;
    renderStatus();
    if (!wasTerminal && TERMINAL_STATUSES.has(command.status)) {
      clearTimeout(pollTimer);
      onSettled?.(command);
    }
  }

  function renderStatus() {
    const c = tracked;
    status.dataset.status = c.status;
    status.dataset.commandId = c.commandId;
    status.dataset.tone = statusTone(c.status);
    const attempts = c.attempts?.length || 0;
    const detail = [];
    if (c.status === 'sent' || c.status === 'pending') detail.push(attempts > 1 ? `attempt ${attempts}, waiting for the device…` : 'waiting for the device…');
    if (c.status === 'acknowledged') detail.push(`by the device at ${fmtTime(c.acknowledgedAt)}`);
    if (c.error) detail.push(c.error);
    const message = c.deviceResponse?.message;
    replace(status,
      h('span', { class: 'command-name', text: fmtCommand(c) }),
      h('span', { class: ['status-pill', `tone-${statusTone(c.status)}`], dataset: { testid: 'command-status-text' }, text: c.status }),
      detail.length ? h('span', { class: 'muted', text: detail.join(' · ') }) : null,
      message ? h('span', { class: 'muted', text: `“${message}”` }) : null);
  }

  /** Shows the device's reported power and speed on the buttons. */
  function setState(state) {
    maxSpeed = state.device?.specifications?.maxFanSpeed ?? MAX_SPEED;
    const on = state.powerOn;
    powerOn.setAttribute('aria-pressed', String(on === true));
    powerOff.setAttribute('aria-pressed', String(on === false));
    for (const button of fanButtons) {
      const speed = Number(button.dataset.speed);
      button.setAttribute('aria-pressed', String(state.currentFanSpeed === speed));
      button.disabled = speed > maxSpeed;
      button.title = speed > maxSpeed ? `This model's highest speed is ${maxSpeed}` : '';
    }
  }

  return {
    el,
    setState,
    onCommand: update,
    dispose() {
      clearTimeout(pollTimer);
      tracked = null;
    },
  };
}
