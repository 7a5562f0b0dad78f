// Schedules card: the weekly timeline, the device's schedules (enable/disable, edit, delete)
// and the create/edit form. Every write goes through the API; the list reloads from it (and on
// the stream's `schedule` events).

import { del, get, post, put } from './api.js';
import { serverNow } from './clock.js';
import { card, field, h, replace } from './dom.js';
import { shortId } from './format.js';
import { errorText, notify, notifyError } from './notify.js';
import { createTimeline, rawWindows } from './timeline.js';
import { allZones, DAY_NAMES, parseHhMm } from './tz.js';

const WEEKDAYS = DAY_NAMES.slice(0, 5);
const WEEKEND = DAY_NAMES.slice(5);

export function createSchedules({ deviceId }) {
  let schedules = [];
  let editing = null; // the schedule being edited, or null when creating
  let seq = 0;

  const timeline = createTimeline({ deviceId });
  const listEl = h('ul', { class: 'schedule-list', dataset: { testid: 'schedule-list' } });
  const form = createForm();

  const el = card('Schedules', { class: 'card-wide', dataset: { testid: 'schedules' } },
    h('h3', { class: 'subhead', text: 'Weekly timeline' }),
    timeline.el,
    h('h3', { class: 'subhead', text: 'Schedules' }),
    listEl,
    h('h3', { class: 'subhead', id: 'schedule-form-title', text: 'New schedule' }),
    form.el);

  async function load() {
    const mine = ++seq;
    try {
      const list = await get(`/api/schedule/${encodeURIComponent(deviceId)}`);
      if (mine !== seq) return;
      schedules = list;
      renderList();
      timeline.setSchedules(schedules);
    } catch (err) {
      if (mine !== seq || err.name === 'AbortError') return;
      replace(listEl, h('li', { class: 'error-box', text: `Could not load the schedules: ${errorText(err)}` }));
    }
  }

  function renderList() {
    const now = serverNow();
    const overlapping = new Set(rawWindows(schedules, now, now + 14 * 86_400_000)
      .filter((w) => w.overlap).map((w) => w.schedule.scheduleId));
    if (!schedules.length) {
      replace(listEl, h('li', { class: 'empty', dataset: { testid: 'schedule-empty' }, text: 'No schedules: praan changes this device only on manual commands and pre-cleans.' }));
      return;
    }
    replace(listEl, schedules.map((s) => scheduleRow(s, overlapping.has(s.scheduleId))));
  }

  function scheduleRow(s, overlaps) {
    const actions = h('div', { class: 'row-actions' });
    const toggle = h('button', {
      type: 'button', class: 'btn btn-small', text: s.isActive ? 'Disable' : 'Enable',
      dataset: { testid: 'schedule-toggle' }, 'aria-label': `${s.isActive ? 'Disable' : 'Enable'} schedule ${describe(s)}`,
    });
    const edit = h('button', { type: 'button', class: 'btn btn-small', text: 'Edit', dataset: { testid: 'schedule-edit' }, 'aria-label': `Edit schedule ${describe(s)}` });
    const remove = h('button', { type: 'button', class: 'btn btn-small btn-danger-ghost', text: 'Delete', dataset: { testid: 'schedule-delete' }, 'aria-label': `Delete schedule ${describe(s)}` });
    actions.append(toggle, edit, remove);
    toggle.addEventListener('click', () => save(s, { ...toBody(s), isActive: !s.isActive }, toggle));
    edit.addEventListener('click', () => startEditing(s));
    remove.addEventListener('click', () => confirmDelete(s, actions));
    return h('li', {
      class: ['schedule-row', !s.isActive && 'is-disabled', editing?.scheduleId === s.scheduleId && 'is-editing'],
      dataset: { testid: 'schedule-row', scheduleId: s.scheduleId, active: String(s.isActive) },
    },
    h('div', { class: 'schedule-main' },
      h('span', { class: ['swatch-block', `speed-${s.fanSpeed}`], 'aria-hidden': 'true' }),
      h('div', {},
        h('p', { class: 'schedule-when', dataset: { testid: 'schedule-summary' }, text: describe(s) }),
        h('p', { class: 'muted schedule-meta' },
          `Speed ${s.fanSpeed} · ${s.timezone} · `,
          h('span', { class: ['status-pill', s.isActive ? 'tone-ok' : 'tone-muted'], text: s.isActive ? 'Enabled' : 'Disabled' }),
          overlaps && s.isActive ? h('span', { class: 'status-pill tone-warn', dataset: { testid: 'schedule-overlap' }, text: 'Overlaps another schedule' }) : null,
          h('span', { class: 'schedule-id', title: s.scheduleId, text: ` · id ${shortId(s.scheduleId)}` })))),
    actions);
  }

  function confirmDelete(s, actions) {
    const yes = h('button', { type: 'button', class: 'btn btn-small btn-danger', text: 'Delete', dataset: { testid: 'schedule-delete-confirm' } });
    const no = h('button', { type: 'button', class: 'btn btn-small', text: 'Keep', dataset: { testid: 'schedule-delete-cancel' } });
    replace(actions, h('span', { class: 'confirm-text', text: 'Delete this schedule?' }), yes, no);
    no.addEventListener('click', renderList);
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        await del(`/api/schedule/${encodeURIComponent(s.scheduleId)}`);
        if (editing?.scheduleId === s.scheduleId) form.reset();
        notify('Schedule deleted.', 'success');
        await load();
      } catch (err) {
        notifyError('Deleting the schedule', err);
        renderList();
      }
    });
    yes.focus();
  }

  /** PUT (toggle) a whole schedule. */
  async function save(s, body, button) {
    button.disabled = true;
    try {
      const saved = await put(`/api/schedule/${encodeURIComponent(s.scheduleId)}`, body);
      showWarnings(saved.warnings);
      await load();
    } catch (err) {
      notifyError('Saving the schedule', err);
      button.disabled = false;
    }
  }

  function showWarnings(warnings) {
    for (const w of warnings || []) notify(`Overlap: ${w.message}`, 'warning');
  }

  function startEditing(s) {
    editing = s;
    form.fill(s);
    document.getElementById('schedule-form-title').textContent = `Edit schedule ${shortId(s.scheduleId)}`;
    renderList();
    form.el.scrollIntoView({ behavior: 'smooth', block: 'center' });
  }

  /** The create/edit form. */
  function createForm() {
    const recurrence = h('select', { dataset: { testid: 'schedule-recurrence' } },
      h('option', { value: 'weekly', text: 'Weekly (chosen days)' }),
      h('option', { value: 'daily', text: 'Every day' }),
      h('option', { value: 'custom', text: 'Custom (cron expression)' }));
    const dayBoxes = DAY_NAMES.map((day) => h('input', { type: 'checkbox', value: day, dataset: { testid: `schedule-day-${day}` } }));
    const quick = (label, days) => {
      const b = h('button', { type: 'button', class: 'btn btn-small btn-ghost', text: label });
      b.addEventListener('click', () => dayBoxes.forEach((box) => { box.checked = days.includes(box.value); }));
      return b;
    };
    const daysField = h('fieldset', { class: 'days-field' },
      h('legend', { text: 'Days' }),
      h('div', { class: 'day-boxes' }, dayBoxes.map((box) => h('label', { class: 'day-box' }, box, h('span', { text: box.value.slice(0, 3) })))),
      h('div', { class: 'quick-days' }, quick('Weekdays', WEEKDAYS), quick('Weekend', WEEKEND), quick('All', DAY_NAMES), quick('None', [])));
    const start = h('input', { type: 'time', step: 60, value: '09:00', required: true, dataset: { testid: 'schedule-start' } });
    const endMode = h('select', { dataset: { testid: 'schedule-end-mode' } },
      h('option', { value: 'end', text: 'End time' }), h('option', { value: 'duration', text: 'Duration' }));
    const end = h('input', { type: 'time', step: 60, value: '17:00', dataset: { testid: 'schedule-end' } });
    const duration = h('input', { type: 'number', min: 1, max: 1440, step: 1, value: '60', inputMode: 'numeric', dataset: { testid: 'schedule-duration' } });
    const cron = h('input', { type: 'text', placeholder: '30 9 * * Mon-Fri', spellcheck: 'false', autocomplete: 'off', dataset: { testid: 'schedule-cron' } });
    const speed = h('select', { dataset: { testid: 'schedule-speed' } }, [1, 2, 3, 4, 5].map((s) => h('option', { value: String(s), text: String(s) })));
    speed.value = '3';
    const zoneList = h('datalist', { id: 'zone-list' }, allZones().map((z) => h('option', { value: z })));
    const zone = h('input', { type: 'text', placeholder: 'Server default', autocomplete: 'off', spellcheck: 'false', dataset: { testid: 'schedule-timezone' } });
    zone.setAttribute('list', 'zone-list');
    const enabled = h('input', { type: 'checkbox', checked: true, dataset: { testid: 'schedule-enabled' } });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Create schedule', dataset: { testid: 'schedule-submit' } });
    const cancel = h('button', { type: 'button', class: 'btn btn-ghost', text: 'Cancel editing', hidden: true, dataset: { testid: 'schedule-cancel-edit' } });
    const error = h('p', { class: 'form-error', role: 'alert', hidden: true, dataset: { testid: 'schedule-error' } });
    const saved = h('p', { class: 'form-ok', role: 'status', hidden: true, dataset: { testid: 'schedule-saved' } });

    const startField = field('Start', start);
    const endField = field('End', end, 'Before the start: ends the next day.');
    const durationField = field('Duration (minutes)', duration);
    const cronField = field('Cron expression', cron, '5 fields (minute hour day month weekday) or 6 with seconds first, in the schedule’s zone.');
    const fieldsByName = { days: daysField, day: daysField, startTime: start, endTime: end, durationMinutes: duration, cron, fanSpeed: speed, timezone: zone, recurrenceType: recurrence };

    const el = h('form', { class: 'schedule-form', dataset: { testid: 'schedule-form' }, novalidate: true, 'aria-labelledby': 'schedule-form-title' },
      h('div', { class: 'form-row' }, field('Repeats', recurrence), field('Fan speed', speed)),
      daysField,
      cronField,
      h('div', { class: 'form-row' }, startField, field('Ends by', endMode), endField, durationField),
      h('div', { class: 'form-row' }, field('Time zone (IANA)', zone, 'e.g. Europe/London; empty: the server’s default zone.'), zoneList,
        h('label', { class: 'check' }, enabled, h('span', { text: 'Enabled' }))),
      h('div', { class: 'form-actions' }, cancel, submit),
      error, saved);

    const sync = () => {
      const kind = recurrence.value;
      daysField.hidden = kind !== 'weekly';
      cronField.hidden = kind !== 'custom';
      startField.hidden = kind === 'custom';
      endField.hidden = endMode.value !== 'end';
      durationField.hidden = endMode.value !== 'duration';
    };
    recurrence.addEventListener('change', sync);
    endMode.addEventListener('change', sync);

    function body() {
      const kind = recurrence.value;
      const b = { deviceId, recurrenceType: kind, fanSpeed: Number(speed.value), isActive: enabled.checked };
      if (kind === 'weekly') b.days = dayBoxes.filter((box) => box.checked).map((box) => box.value);
      if (kind === 'custom') b.cron = cron.value.trim();
      else b.startTime = start.value;
      if (endMode.value === 'end') b.endTime = end.value;
      else b.durationMinutes = Number(duration.value);
      if (zone.value.trim()) b.timezone = zone.value.trim();
      return b;
    }

    /** Client-side checks of what the server would otherwise reject; the server has the last word. */
    function check(b) {
      if (b.recurrenceType === 'weekly' && !b.days.length) return ['days', 'Choose at least one day.'];
      if (b.recurrenceType === 'custom' && !b.cron) return ['cron', 'Enter a cron expression.'];
      if (b.startTime !== undefined && parseHhMm(b.startTime) === null) return ['startTime', 'Enter a start time (HH:MM).'];
      if (b.endTime !== undefined && parseHhMm(b.endTime) === null) return ['endTime', 'Enter an end time (HH:MM).'];
      if (b.endTime !== undefined && b.endTime === b.startTime) return ['endTime', 'The end time must differ from the start time.'];
      if (b.durationMinutes !== undefined && !(Number.isInteger(b.durationMinutes) && b.durationMinutes >= 1 && b.durationMinutes <= 1440)) {
        return ['durationMinutes', 'The duration must be 1 to 1440 minutes.'];
      }
      return null;
    }

    function showError(fieldName, message) {
      error.textContent = message;
      error.hidden = false;
      const target = fieldsByName[fieldName];
      if (target) {
        target.setAttribute('aria-invalid', 'true');
        (target.querySelector?.('input') || target).focus?.();
      }
    }

    function clearMessages() {
      error.hidden = true;
      saved.hidden = true;
      el.querySelectorAll('[aria-invalid]').forEach((x) => x.removeAttribute('aria-invalid'));
    }

    el.addEventListener('submit', async (event) => {
      event.preventDefault();
      clearMessages();
      const b = body();
      const problem = check(b);
      if (problem) return showError(...problem);
      submit.disabled = true;
      try {
        const result = editing
          ? await put(`/api/schedule/${encodeURIComponent(editing.scheduleId)}`, b)
          : await post('/api/schedule', b);
        const verb = editing ? 'Saved' : 'Created';
        reset();
        saved.textContent = `${verb} schedule ${shortId(result.scheduleId)}: ${describe(result)}.`
          + (result.warnings?.length ? ` ${result.warnings.length} overlap warning(s).` : '');
        saved.dataset.scheduleId = result.scheduleId;
        saved.hidden = false;
        showWarnings(result.warnings);
        await load();
      } catch (err) {
        showError(err.details?.field, `Could not save the schedule: ${errorText(err)}`);
      } finally {
        submit.disabled = false;
      }
    });
    cancel.addEventListener('click', () => { reset(); clearMessages(); renderList(); });

    /** Back to an empty "create" form. */
    function reset() {
      editing = null;
      recurrence.value = 'weekly';
      dayBoxes.forEach((box) => { box.checked = false; });
      start.value = '09:00';
      end.value = '17:00';
      endMode.value = 'end';
      duration.value = '60';
      cron.value = '';
      speed.value = '3';
      enabled.checked = true;
      submit.textContent = 'Create schedule';
      cancel.hidden = true;
      const title = document.getElementById('schedule-form-title');
      if (title) title.textContent = 'New schedule';
      sync();
    }

    /** Loads schedule `s` into the form for editing. */
    function fill(s) {
      clearMessages();
      recurrence.value = s.recurrenceType;
      dayBoxes.forEach((box) => { box.checked = s.days.includes(box.value); });
      start.value = s.startTime || '09:00';
      endMode.value = s.endTime ? 'end' : 'duration';
      end.value = s.endTime || '17:00';
      duration.value = String(s.durationMinutes || 60);
      cron.value = s.cron || '';
      speed.value = String(s.fanSpeed);
      zone.value = s.timezone;
      enabled.checked = s.isActive;
      submit.textContent = 'Save changes';
      cancel.hidden = false;
      sync();
    }

    reset();
    return { el, fill, reset };
  }

  return {
    el,
    refresh: load,
    /** A `schedule` event: the list (and so the plan) changed. */
    onEvent: load,
    dispose() {
      timeline.dispose();
      seq++;
    },
  };
}

/** The body that re-creates schedule `s` as it is (PUT replaces the whole schedule). */
function toBody(s) {
  const b = { recurrenceType: s.recurrenceType, fanSpeed: s.fanSpeed, timezone: s.timezone, isActive: s.isActive };
  if (s.recurrenceType === 'weekly') b.days = s.days;
  if (s.cron) b.cron = s.cron;
  if (s.startTime) b.startTime = s.startTime;
  if (s.endTime) b.endTime = s.endTime;
  if (s.durationMinutes) b.durationMinutes = s.durationMinutes;
  return b;
}

/** "Mon, Wed · 22:00–02:00 (next day)", "Every day · 09:00 for 90 min", "cron 30 9 * * Mon-Fri · 90 min". */
export function describe(s) {
  const when = s.recurrenceType === 'custom'
    ? `cron “${s.cron}”`
    : s.recurrenceType === 'daily' || s.days.length === 7
      ? 'Every day'
      : sameDays(s.days, WEEKDAYS) ? 'Weekdays' : sameDays(s.days, WEEKEND) ? 'Weekends' : s.days.map((d) => d.slice(0, 3)).join(', ');
  let span;
  if (s.endTime && s.startTime) {
    span = `${s.startTime}–${s.endTime}${parseHhMm(s.endTime) < parseHhMm(s.startTime) ? ' (next day)' : ''}`;
  } else if (s.endTime) {
    span = `until ${s.endTime}`;
  } else {
    span = `${s.startTime ? `${s.startTime} ` : ''}for ${s.durationMinutes} min`;
  }
  return `${when} · ${span}`;
}

function sameDays(a, b) {
  return a.length === b.length && b.every((d) => a.includes(d));
}
