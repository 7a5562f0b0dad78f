// Pre-clean card: start one (mode + duration), a live countdown while it runs, cancel, and once
// it has ended, what it restored.

import { get, post } from './api.js';
import { observeServerNow, serverNow } from './clock.js';
import { card, field, h, replace } from './dom.js';
import { fmtDuration, fmtFanMode, fmtFanState, fmtIntentSource, fmtTime } from './format.js';
import { errorText, notifyError } from './notify.js';
import { countdown, onTick, secondsUntil } from './ticker.js';

const RECENT_MS = 5 * 60_000;

const MODES = [
  ['PRE_CLEAN', 'Pre-clean (speed 5)'],
  ['AUTO', 'Auto (speed 3)'],
  ['MANUAL', 'Manual (choose a speed)'],
  ['OFF', 'Off'],
  ['1', 'Speed 1'], ['2', 'Speed 2'], ['3', 'Speed 3'], ['4', 'Speed 4'], ['5', 'Speed 5'],
];

/** The pre-clean card. `onChanged()` asks the page to reload the device state. */
export function createPreClean({ deviceId, onChanged }) {
  let status = null; // the last PreCleanStatusDto
  let deviceState = null; // the last DeviceStateDto, for "the device now reports …"
  let endPoll = null;

  const mode = h('select', { id: 'preclean-mode', dataset: { testid: 'preclean-mode' } },
    MODES.map(([value, label]) => h('option', { value, text: label })));
  const speed = h('select', { id: 'preclean-speed', dataset: { testid: 'preclean-speed' } },
    [1, 2, 3, 4, 5].map((s) => h('option', { value: String(s), text: String(s) })));
  speed.value = '4';
  const speedField = field('Speed', speed);
  const minutes = h('input', { type: 'number', min: 0, max: 60, step: 1, value: '10', inputMode: 'numeric', dataset: { testid: 'preclean-minutes' } });
  const seconds = h('input', { type: 'number', min: 0, max: 3599, step: 1, value: '0', inputMode: 'numeric', dataset: { testid: 'preclean-seconds' } });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', dataset: { testid: 'preclean-start' }, text: 'Start pre-clean' });
  const formError = h('p', { class: 'form-error', dataset: { testid: 'preclean-error' }, role: 'alert', hidden: true });
  const form = h('form', { class: 'preclean-form', dataset: { testid: 'preclean-form' }, novalidate: true },
    h('div', { class: 'form-row' }, field('Mode', mode), speedField),
    h('div', { class: 'form-row' }, field('Minutes', minutes), field('Seconds', seconds)),
    h('div', { class: 'form-actions' }, submit),
    formError);
  const active = h('div', { class: 'preclean-active', dataset: { testid: 'preclean-active' }, hidden: true, 'aria-live': 'polite' });
  const result = h('div', { class: 'preclean-result', dataset: { testid: 'preclean-result' }, hidden: true, 'aria-live': 'polite' });

  const el = card('Pre-clean', { dataset: { testid: 'preclean' } },
    h('p', { class: 'hint', text: 'Runs the fan at a temporary setting, then restores what the device would be doing now (its schedule, last manual command or previous state).' }),
    active, result, form);

  const syncSpeed = () => { speedField.hidden = mode.value !== 'MANUAL'; };
  mode.addEventListener('change', syncSpeed);
  syncSpeed();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.hidden = true;
    const body = requestBody();
    if (typeof body === 'string') return showFormError(body);
    submit.disabled = true;
    try {
      const started = await post('/api/preclean', body);
      observeServerNow(started.startedAt);
      await refresh();
      onChanged?.();
    } catch (err) {
      showFormError(`Could not start the pre-clean: ${errorText(err)}`);
    } finally {
      submit.disabled = false;
    }
  });

  /** The POST body from the form, or an error message. */
  function requestBody() {
    const m = Number(minutes.value || 0);
    const s = Number(seconds.value || 0);
    if (!Number.isInteger(m) || !Number.isInteger(s) || m < 0 || s < 0) return 'Minutes and seconds must be whole numbers, 0 or more.';
    if (m * 60 + s < 1) return 'The duration must be at least 1 second.';
    const fanMode = /^[1-5]$/.test(mode.value) ? Number(mode.value) : mode.value;
    const body = { deviceId, fanMode, minutes: m, seconds: s };
    if (fanMode === 'MANUAL') body.fanSpeed = Number(speed.value);
    return body;
  }

  function showFormError(message) {
    formError.textContent = message;
    formError.hidden = false;
  }

  async function cancel(button) {
    button.disabled = true;
    try {
      await post('/api/preclean/cancel', { deviceId });
      await refresh();
      onChanged?.();
    } catch (err) {
      notifyError('Cancelling the pre-clean', err);
      button.disabled = false;
    }
  }

  /** Reloads the status from the server and redraws. */
  async function refresh() {
    try {
      status = await get(`/api/preclean/status/${encodeURIComponent(deviceId)}`);
      render();
    } catch (err) {
      notifyError('Loading the pre-clean status', err);
    }
  }

  function render() {
    const s = status;
    active.hidden = !s?.isActive;
    form.hidden = false;
    if (s?.isActive) {
      const total = s.preClean?.durationSeconds || 1;
      const bar = h('progress', { max: total, value: total - secondsUntil(s.willEndAt), 'aria-label': 'Pre-clean progress' });
      const cancelButton = h('button', { type: 'button', class: 'btn btn-danger', dataset: { testid: 'preclean-cancel' }, text: 'Cancel pre-clean' });
      cancelButton.addEventListener('click', () => cancel(cancelButton));
      replace(active,
        h('div', { class: 'preclean-head' },
          h('span', { class: 'status-pill tone-busy', text: 'Active' }),
          h('span', { text: fmtFanMode(s.targetFanMode, s.target) })),
        h('p', { class: 'countdown-line' },
          h('span', { class: 'countdown-big', dataset: { testid: 'preclean-countdown' } }, countdown(s.willEndAt, s.preClean?.durationSeconds)),
          h('span', { class: 'muted', text: ` remaining · ends at ${fmtTime(s.willEndAt)}` })),
        bar,
        h('p', { class: 'muted', dataset: { testid: 'preclean-restore-target' } },
          'Then restores: ', restoreText(s.restoreTarget)),
        h('div', { class: 'form-actions' }, cancelButton));
      active.dataset.endsAt = s.willEndAt;
      active.dataset.preCleanId = s.preCleanId;
      submit.textContent = 'Replace pre-clean';
    } else {
      submit.textContent = 'Start pre-clean';
      delete active.dataset.endsAt;
      delete active.dataset.preCleanId;
    }
    renderResult(s?.isActive ? null : s?.preClean);
  }

  /** What the last finished pre-clean restored. */
  function renderResult(p) {
    result.hidden = !p || !p.endedAt;
    if (result.hidden) return;
    const how = p.status === 'cancelled' ? 'Cancelled' : p.status === 'replaced' ? 'Replaced' : 'Completed';
    const restore = p.restore;
    result.dataset.status = p.status;
    result.dataset.preCleanId = p.preCleanId;
    replace(result,
      h('p', {},
        h('strong', { text: `Last pre-clean: ${how.toLowerCase()} at ${fmtTime(p.endedAt)}` }),
        ` · ${fmtFanMode(p.targetFanMode, p.target)} for ${fmtDuration(p.durationSeconds)}`),
      restore
        ? h('p', { dataset: { testid: 'preclean-restored' } },
          'Restored to ', h('strong', { dataset: { testid: 'preclean-restored-state' }, text: restore.target ? fmtFanState(restore.target) : 'nothing (the device was unmanaged)' }),
          restore.source ? ` (${fmtIntentSource(restore.source)})` : '',
          restore.commandId ? '' : ' — no command needed')
        : h('p', { class: 'muted', text: p.status === 'replaced' ? 'A newer pre-clean took over.' : 'Restoring…' }),
      // Right after the end, show the device's state next to what was restored.
      deviceState?.reported && serverNow() - Date.parse(p.endedAt) < RECENT_MS
        ? h('p', { class: 'muted' }, 'The device now reports: ',
          h('span', { dataset: { testid: 'preclean-device-now' }, text: fmtFanState(deviceState.reported) }))
        : null);
  }

  // When the countdown runs out, the server ends the pre-clean; the stream tells us, but poll
  // briefly in case it is reconnecting.
  const offTick = onTick(() => {
    if (!status?.isActive) return;
    const progress = active.querySelector('progress');
    const left = secondsUntil(status.willEndAt);
    if (progress) progress.value = Number(progress.max) - left;
    if (left <= 0 && !endPoll) {
      endPoll = setTimeout(async () => { endPoll = null; await refresh(); }, 1500);
    }
  });

  return {
    el,
    refresh,
    /** The device's state changed: shown under a finished pre-clean's result. */
    setDeviceState(state) {
      deviceState = state;
      if (!status?.isActive) renderResult(status?.preClean);
    },
    /** A `preclean` event from the stream. */
    onEvent() {
      refresh();
    },
    dispose() {
      offTick();
      clearTimeout(endPoll);
    },
  };
}

function restoreText(target) {
  if (!target) return 'nothing (the device is unmanaged: praan sends no command at the end)';
  return `${fmtFanState(target)} (${fmtIntentSource(target.source)})`;
}
