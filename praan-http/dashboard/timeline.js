// The weekly timeline: 7 days × 24 h, Monday first, in a chosen time zone. Each day shows
//   - the effective plan (`GET /api/device/{id}/timeline?from&to`): what the enabled schedules
//     make the device do, highest speed winning; intervals where several windows are active are
//     flagged as overlaps by the server (`overlapping > 1`);
//   - below it, every schedule's own windows, computed here from the schedule list (weekly and
//     daily rules; cron rules are only visible through the plan), with overlapping windows of
//     enabled schedules highlighted.

import { devicePath, get } from './api.js';
import { serverNow } from './clock.js';
import { h, replace } from './dom.js';
import { fmtFull, shortId } from './format.js';
import { errorText } from './notify.js';
import { addDays, browserZone, DAY_NAMES, isKnownZone, mondayOf, parseHhMm, weekdayOf, zonedParts, zonedToInstant } from './tz.js';
import { onTick } from './ticker.js';

const MINUTE = 60_000;

export function createTimeline({ deviceId }) {
  let schedules = [];
  let plan = [];
  let weekOffset = 0; // 0: this week, -1: last week, …
  let chosenZone = null; // null: automatic
  let seq = 0;

  const zoneSelect = h('select', { id: 'timeline-zone', dataset: { testid: 'timeline-zone' } });
  const prev = h('button', { type: 'button', class: 'btn btn-small', text: '‹ Previous', 'aria-label': 'Previous week', dataset: { testid: 'timeline-prev' } });
  const today = h('button', { type: 'button', class: 'btn btn-small', text: 'This week', dataset: { testid: 'timeline-this-week' } });
  const next = h('button', { type: 'button', class: 'btn btn-small', text: 'Next ›', 'aria-label': 'Next week', dataset: { testid: 'timeline-next' } });
  const title = h('p', { class: 'timeline-range', dataset: { testid: 'timeline-range' }, 'aria-live': 'polite' });
  const grid = h('div', { class: 'timeline', dataset: { testid: 'timeline' } });
  const message = h('p', { class: 'muted timeline-message', dataset: { testid: 'timeline-message' } });
  const textList = h('ul', { class: 'plan-text', dataset: { testid: 'timeline-text' } });

  const el = h('div', { class: 'timeline-wrap' },
    h('div', { class: 'timeline-toolbar' },
      h('div', { class: 'segmented' }, prev, today, next),
      h('label', { class: 'field field-inline' }, h('span', { class: 'field-label', text: 'Time zone' }), zoneSelect)),
    title,
    grid,
    legend(),
    message,
    h('details', { class: 'plan-details' }, h('summary', { text: 'Plan as text' }), textList));

  prev.addEventListener('click', () => { weekOffset -= 1; refresh(); });
  next.addEventListener('click', () => { weekOffset += 1; refresh(); });
  today.addEventListener('click', () => { weekOffset = 0; refresh(); });
  zoneSelect.addEventListener('change', () => { chosenZone = zoneSelect.value; refresh(); });

  /** The zone the grid is drawn in: the user's choice, else the schedules' one zone, else the browser's. */
  function zone() {
    if (chosenZone) return chosenZone;
    const zones = [...new Set(schedules.map((s) => s.timezone))].filter(isKnownZone);
    return zones.length === 1 ? zones[0] : browserZone();
  }

  function syncZoneOptions() {
    const options = [...new Set([zone(), browserZone(), 'UTC', ...schedules.map((s) => s.timezone)])].filter(isKnownZone);
    replace(zoneSelect, options.map((z) => h('option', {
      value: z, text: z === browserZone() ? `${z} (this browser)` : z,
    })));
    zoneSelect.value = zone();
  }

  /** The week shown: its zone and the instants at which each of its 7 days (and the next) start. */
  function week() {
    const tz = zone();
    const monday = addDays(mondayOf(serverNow(), tz), 7 * weekOffset);
    const days = Array.from({ length: 8 }, (_, i) => addDays(monday, i));
    return { tz, days, starts: days.map((d) => zonedToInstant({ ...d, hour: 0, minute: 0 }, tz)) };
  }

  /** Reloads the plan for the week shown and redraws. */
  async function refresh() {
    syncZoneOptions();
    const w = week();
    const mine = ++seq;
    render(w); // raw windows at once, the plan when it arrives
    try {
      const data = await get(devicePath(deviceId, '/timeline'), {
        from: new Date(w.starts[0]).toISOString(), to: new Date(w.starts[7]).toISOString(),
      });
      if (mine !== seq) return;
      plan = data.intervals.map((p) => ({ ...p, startMs: Date.parse(p.start), endMs: Date.parse(p.end) }));
      message.textContent = plan.length ? '' : 'No schedule makes this device do anything this week.';
    } catch (err) {
      if (mine !== seq || err.name === 'AbortError') return;
      plan = [];
      message.textContent = `Could not load the plan: ${errorText(err)}`;
    }
    render(w);
  }

  function render(w) {
    const fmtDay = new Intl.DateTimeFormat(undefined, { weekday: 'short', day: 'numeric', month: 'short', timeZone: 'UTC' });
    const dayLabel = (d) => fmtDay.format(Date.UTC(d.year, d.month - 1, d.day));
    title.textContent = `${dayLabel(w.days[0])} – ${dayLabel(w.days[6])} · ${w.tz}`;
    const windows = rawWindows(schedules, w.starts[0], w.starts[7]);
    const now = serverNow();
    const rows = [hourHeader()];
    for (let i = 0; i < 7; i++) {
      const from = w.starts[i];
      const to = w.starts[i + 1];
      const isToday = now >= from && now < to;
      rows.push(h('div', { class: ['tl-row', isToday && 'is-today'], dataset: { testid: 'timeline-day', day: DAY_NAMES[i] } },
        h('div', { class: 'tl-day' }, h('span', { class: 'tl-day-name', text: DAY_NAMES[i].slice(0, 3) }),
          h('span', { class: 'tl-day-date', text: String(w.days[i].day) })),
        h('div', { class: 'tl-track', dataset: { from, to } },
          h('div', { class: 'tl-lane tl-plan', 'aria-hidden': 'true' },
            plan.filter((p) => p.endMs > from && p.startMs < to).map((p) => planBlock(p, from, to, w.tz))),
          windowLanes(windows.filter((win) => win.end > from && win.start < to), from, to, w.tz),
          isToday ? nowMarker(now, from, to) : null)));
    }
    replace(grid, rows);
    replace(textList, plan.length
      ? plan.map((p) => h('li', { text: `${rangeText(p.startMs, p.endMs, w.tz)}: speed ${p.fanSpeed} (schedule ${shortId(p.scheduleId)})${p.overlapping > 1 ? ` — overlap of ${p.overlapping} windows` : ''}` }))
      : [h('li', { text: 'Nothing planned.' })]);
  }

  // Keep the "now" line moving.
  const offTick = onTick(() => {
    const marker = grid.querySelector('.tl-now');
    if (!marker) return;
    const track = marker.parentElement;
    const from = Number(track.dataset.from);
    const to = Number(track.dataset.to);
    marker.style.left = `${pct(serverNow(), from, to)}%`;
  });

  return {
    el,
    refresh,
    /** New schedule list: redraw the raw windows and reload the plan. */
    setSchedules(list) {
      schedules = list;
      refresh();
    },
    dispose() {
      offTick();
      seq++;
    },
  };
}

/** Where instant `t` falls in [from, to), in percent. */
function pct(t, from, to) {
  return Math.min(100, Math.max(0, ((t - from) / (to - from)) * 100));
}

function place(el, start, end, from, to) {
  const left = pct(Math.max(start, from), from, to);
  const right = pct(Math.min(end, to), from, to);
  el.style.left = `${left}%`;
  el.style.width = `${Math.max(right - left, 0.4)}%`;
  return el;
}

const timeFmts = new Map();
function clock(ms, tz) {
  let f = timeFmts.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat(undefined, { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    timeFmts.set(tz, f);
  }
  return f.format(ms);
}

function rangeText(start, end, tz) {
  return `${clock(start, tz)} – ${clock(end, tz)}`;
}

function planBlock(p, from, to, tz) {
  const overlap = p.overlapping > 1;
  const label = `Plan ${rangeText(p.startMs, p.endMs, tz)}: on at speed ${p.fanSpeed}, decided by schedule ${shortId(p.scheduleId)}`
    + (overlap ? ` — ${p.overlapping} windows overlap here (highest speed wins)` : '');
  const block = h('div', {
    class: ['tl-block', `speed-${p.fanSpeed}`, overlap && 'is-overlap'], title: label,
    dataset: { testid: 'timeline-block', scheduleId: p.scheduleId, speed: p.fanSpeed, overlap: overlap ? 'true' : 'false', start: p.start, end: p.end },
  }, h('span', { class: 'tl-label', text: overlap ? `${p.fanSpeed} ×${p.overlapping}` : String(p.fanSpeed) }));
  return place(block, p.startMs, p.endMs, from, to);
}

/** The schedules' own windows in the day, stacked in as many lanes as they need. */
function windowLanes(windows, from, to, tz) {
  const lanes = [];
  for (const win of windows.slice().sort((a, b) => a.start - b.start)) {
    let lane = lanes.find((l) => l[l.length - 1].end <= win.start);
    if (!lane) lanes.push((lane = []));
    lane.push(win);
  }
  return lanes.map((lane) => h('div', { class: 'tl-lane tl-windows', 'aria-hidden': 'true' }, lane.map((win) => {
    const s = win.schedule;
    const label = `Schedule ${shortId(s.scheduleId)}${s.isActive ? '' : ' (disabled)'}: ${rangeText(win.start, win.end, tz)} at speed ${s.fanSpeed}`
      + (win.overlap ? ' — overlaps another schedule' : '');
    return place(h('div', {
      class: ['tl-window', `speed-${s.fanSpeed}`, win.overlap && 'is-overlap', !s.isActive && 'is-disabled'], title: label,
      dataset: { testid: 'timeline-window', scheduleId: s.scheduleId, overlap: win.overlap ? 'true' : 'false', enabled: String(s.isActive) },
    }), win.start, win.end, from, to);
  })));
}

function nowMarker(now, from, to) {
  const marker = h('div', { class: 'tl-now', title: `Now: ${fmtFull(new Date(now).toISOString())}` });
  marker.style.left = `${pct(now, from, to)}%`; // moved on each tick (bounds: the track's data-from/to)
  return marker;
}

function hourHeader() {
  return h('div', { class: 'tl-row tl-hours', 'aria-hidden': 'true' },
    h('div', { class: 'tl-day' }),
    h('div', { class: 'tl-track' }, [0, 3, 6, 9, 12, 15, 18, 21].map((hour) => {
      const tick = h('span', { class: ['tl-hour', hour % 6 && 'tl-hour-minor'], text: `${String(hour).padStart(2, '0')}:00` });
      tick.style.left = `${(hour / 24) * 100}%`;
      return tick;
    })));
}

function legend() {
  return h('ul', { class: 'legend tl-legend' },
    [1, 2, 3, 4, 5].map((s) => h('li', {}, h('span', { class: ['swatch-block', `speed-${s}`], 'aria-hidden': 'true' }), `Speed ${s}`)),
    h('li', {}, h('span', { class: 'swatch-block is-overlap', 'aria-hidden': 'true' }), 'Overlap (highest speed wins)'),
    h('li', {}, h('span', { class: 'swatch-block is-disabled', 'aria-hidden': 'true' }), 'Disabled schedule'),
    h('li', { class: 'muted', text: 'Top bar of each day: the effective plan. Thin bars: each schedule’s own windows.' }));
}

/**
 * The windows of weekly/daily schedules that intersect [from, to), with `overlap` set on the
 * windows of enabled schedules that intersect a window of another enabled schedule.
 */
export function rawWindows(schedules, from, to) {
  const windows = [];
  for (const s of schedules) {
    if (!isKnownZone(s.timezone)) continue;
    const startMin = parseHhMm(s.startTime);
    if (startMin === null) continue; // custom (cron) rule: only the plan shows it
    const endMin = parseHhMm(s.endTime);
    const days = new Set(s.recurrenceType === 'daily' ? DAY_NAMES : s.days);
    // Calendar dates in the schedule's zone from a day before `from` (a window started the
    // evening before may cross midnight) to the day of `to`.
    const first = zonedParts(from - 86_400_000, s.timezone);
    const last = zonedParts(to, s.timezone);
    const lastKey = Date.UTC(last.year, last.month - 1, last.day);
    for (let d = first; Date.UTC(d.year, d.month - 1, d.day) <= lastKey; d = addDays(d, 1)) {
      if (!days.has(weekdayOf(d))) continue;
      const start = zonedToInstant({ ...d, hour: Math.floor(startMin / 60), minute: startMin % 60 }, s.timezone);
      let end;
      if (endMin !== null) {
        const endDay = endMin > startMin ? d : addDays(d, 1);
        end = zonedToInstant({ ...endDay, hour: Math.floor(endMin / 60), minute: endMin % 60 }, s.timezone);
      } else {
        end = start + (s.durationMinutes || 0) * MINUTE;
      }
      if (end > from && start < to && end > start) windows.push({ schedule: s, start, end, overlap: false });
    }
  }
  const enabled = windows.filter((w) => w.schedule.isActive);
  for (const a of enabled) {
    a.overlap = enabled.some((b) => b.schedule.scheduleId !== a.schedule.scheduleId && b.start < a.end && a.start < b.end);
  }
  return windows;
}
