// Self-updating time displays: "5 s ago" and countdowns, refreshed once a second by one timer
// for the whole page (elements that left the page are simply no longer found).

import { fmtAgo, fmtClock, fmtFull } from './format.js';
import { serverNow } from './clock.js';
import { setText } from './dom.js';

/** A `<time>` showing how long ago `iso` was, kept up to date. */
export function relativeTime(iso) {
  const el = document.createElement('time');
  el.dateTime = iso;
  el.dataset.relTime = iso;
  el.title = fmtFull(iso);
  el.textContent = fmtAgo(iso);
  return el;
}

/**
 * A `<span>` counting down to `endIso` as "m:ss", kept up to date; `0:00` once passed. With
 * `maxSeconds` (the total duration) it never shows more, whatever the clock estimate.
 */
export function countdown(endIso, maxSeconds) {
  const el = document.createElement('span');
  el.className = 'countdown';
  el.dataset.countdownEnd = endIso;
  if (maxSeconds) el.dataset.countdownMax = String(maxSeconds);
  el.textContent = fmtClock(remaining(el));
  return el;
}

function remaining(el) {
  const left = secondsUntil(el.dataset.countdownEnd);
  return el.dataset.countdownMax ? Math.min(left, Number(el.dataset.countdownMax)) : left;
}

/** Seconds from now (server clock) until `iso`, never negative. */
export function secondsUntil(iso) {
  return Math.max(0, (Date.parse(iso) - serverNow()) / 1000);
}

const hooks = new Set();

/** Calls `fn` on every tick until the returned function is called. */
export function onTick(fn) {
  hooks.add(fn);
  return () => hooks.delete(fn);
}

function tick() {
  for (const el of document.querySelectorAll('[data-rel-time]')) setText(el, fmtAgo(el.dataset.relTime));
  for (const el of document.querySelectorAll('[data-countdown-end]')) setText(el, fmtClock(remaining(el)));
  for (const fn of hooks) {
    try {
      fn();
    } catch (err) {
      console.error(err);
    }
  }
}

/** Starts the page's ticker (once). */
export function startTicker() {
  setInterval(tick, 1000);
}
