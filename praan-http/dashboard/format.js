// Formatting of times, durations, numbers and the API's enumerations for people.

import { serverNow } from './clock.js';

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'long' });

/** "14:03:07" today, "Nov 27, 14:03:07" on another day; "—" without a time. */
export function fmtTime(iso) {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t)) return '—';
  const d = new Date(t);
  return sameDay(d, new Date(serverNow())) ? timeFmt.format(d) : dateTimeFmt.format(d);
}

/** The full date and time, for tooltips. */
export function fmtFull(iso) {
  const t = Date.parse(iso);
  return !iso || Number.isNaN(t) ? '' : fullFmt.format(new Date(t));
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function fmtAgo(iso) {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t)) return 'never';
  const s = Math.round((serverNow() - t) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** Seconds as "0:07", "12:30", "1:02:03". */
export function fmtClock(totalSeconds) {
  const s = Math.max(0, Math.ceil(totalSeconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = String(s % 60).padStart(2, '0');
  return hours > 0 ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

/** Seconds as "90 s", "10 min", "1 min 30 s". */
export function fmtDuration(totalSeconds) {
  const s = Math.round(totalSeconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  const rest = s % 60;
  return rest ? `${m} min ${rest} s` : `${m} min`;
}

/** A number with at most `digits` decimals, or "—". */
export function fmtNumber(value, digits = 1) {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** "On" / "Off" / "—". */
export function fmtPower(powerOn) {
  if (powerOn === true) return 'On';
  if (powerOn === false) return 'Off';
  return '—';
}

/** A fan state as "On · speed 3" / "Off". */
export function fmtFanState(state) {
  if (!state) return '—';
  if (!state.powerOn) return 'Off';
  return `On · speed ${state.fanSpeed}`;
}

const PRESENCE_REASONS = {
  status_topic: 'reported on its status topic',
  last_will: 'connection lost (last will)',
  message: 'sent a message',
  silence: 'silent for too long',
  shutdown_notice: 'shut down',
};

/** Why a device is online/offline, in words. */
export function fmtPresenceReason(reason) {
  return PRESENCE_REASONS[reason] || (reason ? String(reason).replaceAll('_', ' ') : '');
}

const INTENT_SOURCES = {
  manual: 'manual command',
  schedule: 'schedule',
  pre_clean: 'pre-clean',
  reported: 'device state when the pre-clean started',
  schedule_ended: 'schedule ended',
};

/** Where an intended state came from, in words. */
export function fmtIntentSource(source) {
  if (!source) return '';
  return INTENT_SOURCES[source.kind] || String(source.kind || '').replaceAll('_', ' ');
}

const ACTIONS = { setFanSpeed: 'Set fan speed', turnOn: 'Turn on', turnOff: 'Turn off' };

/** A command as "Set fan speed 4", "Turn on", "Turn off". */
export function fmtCommand(command) {
  const name = ACTIONS[command.action] || command.action;
  return command.action === 'setFanSpeed' ? `${name} ${command.value}` : name;
}

/** Terminal command statuses (PRODUCT.md §2). */
export const TERMINAL_STATUSES = new Set(['acknowledged', 'failed', 'timeout', 'expired', 'superseded', 'cancelled']);

/** The visual tone of a command status: ok, bad, warn or busy. */
export function statusTone(status) {
  if (status === 'acknowledged') return 'ok';
  if (status === 'failed' || status === 'timeout' || status === 'expired') return 'bad';
  if (status === 'superseded' || status === 'cancelled') return 'warn';
  return 'busy';
}

/** A short form of a UUID for display: its last 8 characters. */
export function shortId(id) {
  return id ? `…${String(id).slice(-8)}` : '';
}

/** A pre-clean mode label: "PRE_CLEAN" → "Pre-clean (speed 5)" etc. */
export function fmtFanMode(mode, target) {
  const names = { OFF: 'Off', AUTO: 'Auto', MANUAL: 'Manual', PRE_CLEAN: 'Pre-clean' };
  const name = names[mode] || `Speed ${mode}`;
  return target ? `${name} (${fmtFanState(target).toLowerCase()})` : name;
}
