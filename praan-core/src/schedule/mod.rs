//! Schedule expansion, pure: which windows a [`ScheduleRule`] produces, which are active at an
//! instant, and when its next boundary is. No clock, no I/O — every instant is an argument.
//!
//! # Time zones and DST (PRODUCT.md §4)
//!
//! Start and end times are wall-clock times in the rule's IANA zone, resolved per local date:
//! - a local time that does not exist (spring forward) happens at the first valid instant after
//!   the gap (the transition itself);
//! - an ambiguous local time (fall back) resolves to its first occurrence, and only that one;
//! - so a 09:00–17:00 window stays 09:00–17:00 on the wall, and is an hour shorter or longer in
//!   absolute time on the days the clocks change. A window that falls wholly inside a gap is empty
//!   and has no boundaries.
//!
//! `durationMinutes` windows last that many minutes of absolute time. Cron starts are matched on
//! the wall clock too, with the same resolution (starts that collapse onto one instant in a gap
//! count once).

mod resolve;
mod timeline;

use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, TimeZone, Utc};

use crate::domain::{Boundary, Recurrence, ScheduleRule, Timestamp, WindowEnd};

pub use resolve::resolve_local;
pub use timeline::{OVERLAP_HORIZON, PlannedInterval, overlapping, timeline};

/// One window of a schedule: `[start, end)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Window {
    /// When it starts (inclusive).
    pub start: Timestamp,
    /// When it ends (exclusive).
    pub end: Timestamp,
}

impl Window {
    /// Whether `t` is inside the window.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

/// How far back a window that is still active can have started: the longest window (24 h of
/// duration, or a wall-clock window just under a day plus a DST shift) with room to spare.
const LOOKBACK: Duration = Duration::from_secs(27 * 60 * 60);

/// The most windows [`expand`] returns for one call (cron starts are at most once a minute).
pub const MAX_WINDOWS: usize = 100_000;

/// Every window of `rule` that intersects `[from, until)`, ordered by start, without duplicates.
///
/// At most [`MAX_WINDOWS`] windows are returned (the earliest ones).
pub fn expand(rule: &ScheduleRule, from: Timestamp, until: Timestamp) -> Vec<Window> {
    if from >= until {
        return Vec::new();
    }
    let mut out = Vec::new();
    let keep = |w: &Window| w.end > w.start && w.end > from && w.start < until;
    match rule.recurrence() {
        Recurrence::Weekly(_) | Recurrence::Daily => {
            let tz = rule.timezone().tz();
            let first = tz
                .from_utc_datetime(&from.saturating_sub(LOOKBACK).to_datetime().naive_utc())
                .date_naive();
            let last = tz
                .from_utc_datetime(&until.to_datetime().naive_utc())
                .date_naive();
            let mut date = first;
            while date <= last {
                if let Some(w) = window_on(rule, date).filter(keep) {
                    out.push(w);
                }
                match date.checked_add_days(Days::new(1)) {
                    Some(next) => date = next,
                    None => break,
                }
            }
        }
        Recurrence::Custom(cron) => {
            let tz = rule.timezone().tz();
            let start_local =
                local_naive(rule, from.saturating_sub(LOOKBACK)) - chrono::Duration::hours(3);
            let mut last_start = None;
            for fake_utc in cron.schedule().after(&Utc.from_utc_datetime(&start_local)) {
                let start = resolve_local(tz, fake_utc.naive_utc());
                if start >= until || out.len() >= MAX_WINDOWS {
                    break;
                }
                if last_start == Some(start) {
                    continue; // several wall-clock starts collapsed onto one instant in a gap
                }
                last_start = Some(start);
                let w = Window {
                    start,
                    end: end_of(rule, start, fake_utc.naive_utc()),
                };
                if keep(&w) {
                    out.push(w);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out.truncate(MAX_WINDOWS);
    out
}

/// The windows of `rule` active at `t` (`start <= t < end`); several only with overlapping
/// `durationMinutes` cron windows.
pub fn active_at(rule: &ScheduleRule, t: Timestamp) -> Vec<Window> {
    expand(rule, t, t.saturating_add(Duration::from_millis(1)))
        .into_iter()
        .filter(|w| w.contains(t))
        .collect()
}

/// The first boundary of `rule` strictly after `after`, and which kind it is. `None` if the rule
/// has no boundary in the next 400 days (e.g. a cron expression for a date that never comes).
pub fn next_boundary(rule: &ScheduleRule, after: Timestamp) -> Option<(Timestamp, Boundary)> {
    // Ordered by time, an end before a start at the same instant.
    let key = |(t, b): (Timestamp, Boundary)| (t, b == Boundary::Start);
    let mut best: Option<(Timestamp, Boundary)> = None;
    let horizon = match rule.recurrence() {
        // One week of dates plus the longest window is always enough for a weekly rule.
        Recurrence::Weekly(_) | Recurrence::Daily => Duration::from_secs(9 * 24 * 60 * 60),
        Recurrence::Custom(_) => Duration::from_secs(400 * 24 * 60 * 60),
    };
    // Windows already running end after `after`; the first window starting after it starts.
    let mut from = after;
    let until = after.saturating_add(horizon);
    // Expand in steps so a frequent cron rule does not expand its whole horizon.
    let mut step = Duration::from_secs(2 * 24 * 60 * 60);
    while from < until {
        let to = from.saturating_add(step).min(until);
        for w in expand(rule, from, to) {
            for candidate in [(w.start, Boundary::Start), (w.end, Boundary::End)] {
                if candidate.0 > after && best.is_none_or(|b| key(candidate) < key(b)) {
                    best = Some(candidate);
                }
            }
        }
        if best.is_some_and(|(t, _)| t < to) {
            break;
        }
        from = to;
        step = step.saturating_mul(4);
    }
    best
}

/// The window starting on local `date`, if the rule has one that day.
fn window_on(rule: &ScheduleRule, date: NaiveDate) -> Option<Window> {
    let runs = match rule.recurrence() {
        Recurrence::Weekly(days) => days.contains(date.weekday()),
        Recurrence::Daily => true,
        Recurrence::Custom(_) => false,
    };
    if !runs {
        return None;
    }
    let start_local = date.and_time(rule.start_time()?.to_naive());
    let start = resolve_local(rule.timezone().tz(), start_local);
    Some(Window {
        start,
        end: end_of(rule, start, start_local),
    })
}

/// The end of the window that starts at `start` (wall clock `start_local`).
fn end_of(rule: &ScheduleRule, start: Timestamp, start_local: NaiveDateTime) -> Timestamp {
    match rule.end() {
        WindowEnd::After(minutes) => {
            start.saturating_add(Duration::from_secs(u64::from(minutes) * 60))
        }
        WindowEnd::At(end) => {
            let mut end_local = start_local.date().and_time(end.to_naive());
            if end_local <= start_local {
                end_local += chrono::Duration::days(1);
            }
            resolve_local(rule.timezone().tz(), end_local)
        }
    }
}

fn local_naive(rule: &ScheduleRule, t: Timestamp) -> NaiveDateTime {
    rule.timezone()
        .tz()
        .from_utc_datetime(&t.to_datetime().naive_utc())
        .naive_local()
}

#[cfg(test)]
mod tests;
