// Time-zone arithmetic with Intl only: wall-clock parts of an instant in an IANA zone, and the
// instant of a wall-clock time in a zone, following praan's DST policy (PRODUCT.md §4): a local
// time that does not exist (spring forward) maps to the first valid instant after the gap; an
// ambiguous one (fall back) to its first occurrence.

const formatters = new Map();
const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
export const DAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MINUTE = 60_000;
const DAY = 86_400_000;

function formatter(tz) {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz, hourCycle: 'h23', weekday: 'long',
      year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The browser's zone. */
export function browserZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** Whether `tz` is a zone this browser knows. */
export function isKnownZone(tz) {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** Every IANA zone the browser knows (for the zone pickers), or a short fallback list. */
export function allZones() {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
}

/** Wall-clock parts of instant `ms` in `tz`: {year, month (1-12), day, hour, minute, second, weekday}. */
export function zonedParts(ms, tz) {
  const parts = {};
  for (const p of formatter(tz).formatToParts(new Date(ms))) parts[p.type] = p.value;
  return {
    year: Number(parts.year), month: Number(parts.month), day: Number(parts.day),
    hour: Number(parts.hour), minute: Number(parts.minute), second: Number(parts.second),
    weekday: parts.weekday, // English name, Sunday..Saturday
  };
}

/** The zone's offset from UTC at instant `ms`, in ms (whole seconds). */
export function offsetAt(ms, tz) {
  const p = zonedParts(ms, tz);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The instant of a local wall-clock time in `tz` (see the DST policy above). */
export function zonedToInstant({ year, month, day, hour = 0, minute = 0 }, tz) {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  // The offsets in force half a day before and after: all a transition can switch between.
  const candidates = [...new Set([offsetAt(wall - DAY / 2, tz), offsetAt(wall + DAY / 2, tz)])]
    .map((offset) => wall - offset)
    .filter((t) => matchesWall(t, wall, tz))
    .sort((a, b) => a - b);
  if (candidates.length) return candidates[0]; // ambiguous: the first occurrence
  // In a gap: the transition instant, between the two readings of the wall time.
  let lo = wall - offsetAt(wall + DAY / 2, tz);
  let hi = wall - offsetAt(wall - DAY / 2, tz);
  if (lo > hi) [lo, hi] = [hi, lo];
  while (hi - lo > MINUTE) {
    const mid = Math.floor((lo + hi) / 2 / MINUTE) * MINUTE;
    if (mid <= lo || mid >= hi) break;
    if (offsetAt(mid, tz) === offsetAt(lo, tz)) lo = mid;
    else hi = mid;
  }
  return hi;
}

function matchesWall(t, wall, tz) {
  const p = zonedParts(t, tz);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) === wall;
}

/** The calendar date `days` after {year, month, day} (plain calendar arithmetic). */
export function addDays({ year, month, day }, days) {
  const d = new Date(Date.UTC(year, month - 1, day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The weekday name of a calendar date. */
export function weekdayOf({ year, month, day }) {
  return WEEKDAYS[new Date(Date.UTC(year, month - 1, day)).getUTCDay()];
}

/** The Monday (calendar date) of the week that contains instant `ms` in `tz`. */
export function mondayOf(ms, tz) {
  const p = zonedParts(ms, tz);
  const back = (WEEKDAYS.indexOf(p.weekday) + 6) % 7; // days since Monday
  return addDays(p, -back);
}

/** "HH:MM" → minutes since midnight, or null. */
export function parseHhMm(text) {
  const m = /^(\d{2}):(\d{2})$/.exec(text || '');
  if (!m) return null;
  const minutes = Number(m[1]) * 60 + Number(m[2]);
  return Number(m[1]) < 24 && Number(m[2]) < 60 ? minutes : null;
}
