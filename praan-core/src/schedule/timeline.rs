//! What a device's schedules will make it do: the timeline preview and overlap warnings.

use std::time::Duration;

use serde::Serialize;

use crate::domain::{FanSpeed, ScheduleId, ScheduleRule, Timestamp};

use super::{Window, expand};

/// One interval of a device's planned state: from `start` to `end` the schedule `scheduleId`
/// decides, at `fanSpeed` (the highest of the windows active then).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedInterval {
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// The speed.
    pub fan_speed: FanSpeed,
    /// The schedule whose window decides it.
    pub schedule_id: ScheduleId,
    /// How many windows are active in the interval (more than one: an overlap).
    pub overlapping: usize,
}

/// The plan of `schedules` over `[from, until)`: consecutive intervals in which the deciding
/// window (highest speed; ties by earliest start, then smallest id) stays the same. Gaps, where no
/// window is active, have no interval.
pub fn timeline(
    schedules: &[(ScheduleId, &ScheduleRule)],
    from: Timestamp,
    until: Timestamp,
) -> Vec<PlannedInterval> {
    let windows: Vec<(ScheduleId, FanSpeed, Window)> = schedules
        .iter()
        .flat_map(|(id, rule)| {
            expand(rule, from, until)
                .into_iter()
                .map(move |w| (*id, rule.fan_speed(), w))
        })
        .collect();
    let mut cuts: Vec<Timestamp> = windows
        .iter()
        .flat_map(|(_, _, w)| [w.start.max(from), w.end.min(until)])
        .chain([from, until])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut out: Vec<PlannedInterval> = Vec::new();
    for pair in cuts.windows(2) {
        let (start, end) = (pair[0], pair[1]);
        let active: Vec<_> = windows
            .iter()
            .filter(|(_, _, w)| w.contains(start))
            .collect();
        let Some((id, speed, _)) = active.iter().min_by(|a, b| {
            b.1.cmp(&a.1)
                .then(a.2.start.cmp(&b.2.start))
                .then(a.0.cmp(&b.0))
        }) else {
            continue;
        };
        match out.last_mut() {
            Some(last)
                if last.end == start
                    && last.schedule_id == *id
                    && last.fan_speed == *speed
                    && last.overlapping == active.len() =>
            {
                last.end = end;
            }
            _ => out.push(PlannedInterval {
                start,
                end,
                fan_speed: *speed,
                schedule_id: *id,
                overlapping: active.len(),
            }),
        }
    }
    out
}

/// How far ahead overlaps are looked for: two weeks covers every weekly pattern.
pub const OVERLAP_HORIZON: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// The schedules among `others` with a window overlapping one of `rule`'s in the
/// [`OVERLAP_HORIZON`] after `from` (for the warnings of a create or update).
pub fn overlapping(
    rule: &ScheduleRule,
    others: &[(ScheduleId, &ScheduleRule)],
    from: Timestamp,
) -> Vec<ScheduleId> {
    let until = from.saturating_add(OVERLAP_HORIZON);
    let mine = expand(rule, from, until);
    others
        .iter()
        .filter(|(_, other)| {
            let theirs = expand(other, from, until);
            mine.iter()
                .any(|a| theirs.iter().any(|b| a.start < b.end && b.start < a.end))
        })
        .map(|(id, _)| *id)
        .collect()
}
