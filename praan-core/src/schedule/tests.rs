//! Golden tests of schedule expansion: the DST vectors of QUALITY.md, midnight crossings, cron.

use super::*;
use crate::domain::{RuleSpec, Timezone};

fn rule(json: &str) -> ScheduleRule {
    serde_json::from_str::<RuleSpec>(json)
        .unwrap()
        .build(Timezone::UTC)
        .unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn windows(r: &ScheduleRule, from: &str, until: &str) -> Vec<(String, String)> {
    expand(r, ts(from), ts(until))
        .into_iter()
        .map(|w| (w.start.to_string(), w.end.to_string()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn kolkata_has_no_dst_control() {
    let r = rule(
        r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3,"timezone":"Asia/Kolkata"}"#,
    );
    assert_eq!(
        windows(&r, "2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z"),
        pairs(&[
            ("2026-03-28T03:30:00.000Z", "2026-03-28T11:30:00.000Z"),
            ("2026-03-29T03:30:00.000Z", "2026-03-29T11:30:00.000Z"),
        ])
    );
}

/// Europe/London springs forward at 2026-03-29 01:00 UTC (01:00 GMT → 02:00 BST).
#[test]
fn london_gap_start_moves_to_the_first_valid_instant() {
    let r = rule(
        r#"{"recurrenceType":"daily","startTime":"01:30","endTime":"03:00","fanSpeed":3,"timezone":"Europe/London"}"#,
    );
    assert_eq!(
        windows(&r, "2026-03-28T00:00:00Z", "2026-03-30T00:00:00Z"),
        pairs(&[
            // The day before: GMT.
            ("2026-03-28T01:30:00.000Z", "2026-03-28T03:00:00.000Z"),
            // 01:30 does not exist: the window starts at the transition, 02:00 BST.
            ("2026-03-29T01:00:00.000Z", "2026-03-29T02:00:00.000Z"),
        ])
    );
    // A window wholly inside the gap is empty: no boundaries at all that day.
    let inside = rule(
        r#"{"recurrenceType":"daily","startTime":"01:10","endTime":"01:50","fanSpeed":3,"timezone":"Europe/London"}"#,
    );
    assert_eq!(
        windows(&inside, "2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"),
        pairs(&[])
    );
}

/// Europe/London falls back at 2026-10-25 01:00 UTC (02:00 BST → 01:00 GMT).
#[test]
fn london_overlap_resolves_to_the_first_occurrence_once() {
    let r = rule(
        r#"{"recurrenceType":"daily","startTime":"01:30","endTime":"02:30","fanSpeed":3,"timezone":"Europe/London"}"#,
    );
    assert_eq!(
        windows(&r, "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z"),
        // 01:30 BST (first occurrence) to 02:30 GMT: two hours of absolute time, one window.
        pairs(&[("2026-10-25T00:30:00.000Z", "2026-10-25T02:30:00.000Z")])
    );
    let at = rule(
        r#"{"recurrenceType":"daily","startTime":"01:00","endTime":"01:45","fanSpeed":3,"timezone":"Europe/London"}"#,
    );
    assert_eq!(
        windows(&at, "2026-10-25T00:00:00Z", "2026-10-26T00:00:00Z"),
        pairs(&[("2026-10-25T00:00:00.000Z", "2026-10-25T00:45:00.000Z")])
    );
}

/// America/New_York springs forward at 2026-03-08 07:00 UTC (02:00 EST → 03:00 EDT).
#[test]
fn new_york_gap() {
    let r = rule(
        r#"{"days":["Sunday"],"startTime":"02:30","endTime":"04:00","fanSpeed":2,"timezone":"America/New_York"}"#,
    );
    assert_eq!(
        windows(&r, "2026-03-01T00:00:00Z", "2026-03-16T00:00:00Z"),
        pairs(&[
            ("2026-03-01T07:30:00.000Z", "2026-03-01T09:00:00.000Z"),
            ("2026-03-08T07:00:00.000Z", "2026-03-08T08:00:00.000Z"),
            ("2026-03-15T06:30:00.000Z", "2026-03-15T08:00:00.000Z"),
        ])
    );
}

/// America/New_York falls back at 2026-11-01 06:00 UTC (02:00 EDT → 01:00 EST).
#[test]
fn new_york_overlap() {
    let r = rule(
        r#"{"days":["Sunday"],"startTime":"01:15","endTime":"03:00","fanSpeed":2,"timezone":"America/New_York"}"#,
    );
    assert_eq!(
        windows(&r, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
        // 01:15 EDT (05:15 UTC) to 03:00 EST (08:00 UTC).
        pairs(&[("2026-11-01T05:15:00.000Z", "2026-11-01T08:00:00.000Z")])
    );
}

/// Australia/Lord_Howe shifts by 30 minutes: back at 2026-04-04 15:00 UTC (02:00 → 01:30 local),
/// forward at 2026-10-03 15:30 UTC (02:00 → 02:30 local).
#[test]
fn lord_howe_half_hour_shifts() {
    let back = rule(
        r#"{"recurrenceType":"daily","startTime":"01:45","endTime":"03:00","fanSpeed":4,"timezone":"Australia/Lord_Howe"}"#,
    );
    assert_eq!(
        windows(&back, "2026-04-04T12:00:00Z", "2026-04-05T12:00:00Z"),
        // 01:45 first occurrence (+11:00) = 14:45 UTC; 03:00 at +10:30 = 16:30 UTC.
        pairs(&[("2026-04-04T14:45:00.000Z", "2026-04-04T16:30:00.000Z")])
    );
    let forward = rule(
        r#"{"recurrenceType":"daily","startTime":"02:15","endTime":"04:00","fanSpeed":4,"timezone":"Australia/Lord_Howe"}"#,
    );
    assert_eq!(
        windows(&forward, "2026-10-03T12:00:00Z", "2026-10-04T12:00:00Z"),
        // 02:15 does not exist: 02:30 (+11:00) = 15:30 UTC; 04:00 at +11:00 = 17:00 UTC.
        pairs(&[("2026-10-03T15:30:00.000Z", "2026-10-03T17:00:00.000Z")])
    );
}

/// A window that crosses midnight into the spring-forward day is an hour shorter, not moved.
#[test]
fn window_crossing_midnight_into_a_dst_change() {
    let r = rule(
        r#"{"days":["Saturday"],"startTime":"23:00","endTime":"03:00","fanSpeed":3,"timezone":"America/New_York"}"#,
    );
    assert!(r.crosses_midnight());
    assert_eq!(
        windows(&r, "2026-03-07T00:00:00Z", "2026-03-09T00:00:00Z"),
        // Sat 23:00 EST (04:00 UTC Sun) to Sun 03:00 EDT (07:00 UTC): three hours, not four.
        pairs(&[("2026-03-08T04:00:00.000Z", "2026-03-08T07:00:00.000Z")])
    );
    let london = rule(
        r#"{"days":["Saturday"],"startTime":"22:00","endTime":"01:30","fanSpeed":3,"timezone":"Europe/London"}"#,
    );
    assert_eq!(
        windows(&london, "2026-10-24T00:00:00Z", "2026-10-26T00:00:00Z"),
        // Sat 22:00 BST to Sun 01:30 BST (first occurrence).
        pairs(&[("2026-10-24T21:00:00.000Z", "2026-10-25T00:30:00.000Z")])
    );
}

#[test]
fn monday_only_window_across_a_year() {
    let r = rule(
        r#"{"days":["Monday"],"startTime":"09:00","endTime":"10:00","fanSpeed":3,"timezone":"Europe/London"}"#,
    );
    let all = expand(&r, ts("2026-01-01T00:00:00Z"), ts("2027-01-01T00:00:00Z"));
    assert_eq!(all.len(), 52, "2026 has 52 Mondays");
    let tz = r.timezone().tz();
    for w in &all {
        let local = tz.from_utc_datetime(&w.start.to_datetime().naive_utc());
        assert_eq!(local.weekday(), chrono::Weekday::Mon);
        assert_eq!(local.format("%H:%M").to_string(), "09:00", "{w:?}");
        assert_eq!(
            w.end.saturating_duration_since(w.start),
            Duration::from_secs(3600)
        );
    }
    assert_eq!(all[0].start, ts("2026-01-05T09:00:00Z"));
    assert_eq!(all[13].start, ts("2026-04-06T08:00:00Z"), "BST");
    assert_eq!(all[51].start, ts("2026-12-28T09:00:00Z"));
}

#[test]
fn active_windows_and_next_boundary() {
    let r = rule(
        r#"{"days":["Monday","Tuesday"],"startTime":"22:00","endTime":"02:00","fanSpeed":3,"timezone":"UTC"}"#,
    );
    // Tuesday 2026-12-01 01:00 UTC: inside Monday's window.
    let t = ts("2026-12-01T01:00:00Z");
    let active = active_at(&r, t);
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].start, ts("2026-11-30T22:00:00Z"));
    assert_eq!(
        next_boundary(&r, t),
        Some((ts("2026-12-01T02:00:00Z"), Boundary::End))
    );
    assert_eq!(
        next_boundary(&r, ts("2026-12-01T02:00:00Z")),
        Some((ts("2026-12-01T22:00:00Z"), Boundary::Start))
    );
    // Wednesday: the next start is the following Monday.
    assert_eq!(
        next_boundary(&r, ts("2026-12-02T03:00:00Z")),
        Some((ts("2026-12-07T22:00:00Z"), Boundary::Start))
    );
    // Boundaries are half-open: at the end instant the window is no longer active.
    assert!(active_at(&r, ts("2026-12-01T02:00:00Z")).is_empty());
    assert_eq!(active_at(&r, ts("2026-11-30T22:00:00Z")).len(), 1);
}

#[test]
fn cron_windows_with_duration_and_end_time() {
    let r = rule(
        r#"{"recurrenceType":"custom","cron":"30 9 * * Mon-Fri","durationMinutes":45,"fanSpeed":2,"timezone":"Asia/Kolkata"}"#,
    );
    assert_eq!(
        windows(&r, "2026-11-27T00:00:00Z", "2026-12-01T00:00:00Z"),
        pairs(&[
            ("2026-11-27T04:00:00.000Z", "2026-11-27T04:45:00.000Z"),
            ("2026-11-30T04:00:00.000Z", "2026-11-30T04:45:00.000Z"),
        ])
    );
    let overnight = rule(
        r#"{"recurrenceType":"custom","cron":"0 0 22 * * Fri","endTime":"06:00","fanSpeed":2,"timezone":"UTC"}"#,
    );
    assert_eq!(
        windows(&overnight, "2026-11-27T00:00:00Z", "2026-11-29T00:00:00Z"),
        pairs(&[("2026-11-27T22:00:00.000Z", "2026-11-28T06:00:00.000Z")])
    );
    // A start inside the London gap happens once, at the transition.
    let gap = rule(
        r#"{"recurrenceType":"custom","cron":"*/15 1 * * *","durationMinutes":5,"fanSpeed":1,"timezone":"Europe/London"}"#,
    );
    let got = windows(&gap, "2026-03-29T00:00:00Z", "2026-03-29T03:00:00Z");
    assert_eq!(
        got,
        pairs(&[("2026-03-29T01:00:00.000Z", "2026-03-29T01:05:00.000Z")])
    );
    // In the overlap, each wall-clock start fires once (first occurrence).
    let got = windows(&gap, "2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z");
    assert_eq!(
        got.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(),
        [
            "2026-10-25T00:00:00.000Z",
            "2026-10-25T00:15:00.000Z",
            "2026-10-25T00:30:00.000Z",
            "2026-10-25T00:45:00.000Z"
        ]
    );
}

#[test]
fn cron_next_boundary_far_away() {
    let r = rule(
        r#"{"recurrenceType":"custom","cron":"0 9 1 1 *","durationMinutes":60,"fanSpeed":2,"timezone":"UTC"}"#,
    );
    assert_eq!(
        next_boundary(&r, ts("2026-11-28T00:00:00Z")),
        Some((ts("2027-01-01T09:00:00Z"), Boundary::Start))
    );
    let never = rule(
        r#"{"recurrenceType":"custom","cron":"0 9 31 2 *","durationMinutes":60,"fanSpeed":2,"timezone":"UTC"}"#,
    );
    assert_eq!(next_boundary(&never, ts("2026-11-28T00:00:00Z")), None);
}

#[test]
fn empty_or_reversed_ranges_expand_to_nothing() {
    let r =
        rule(r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#);
    assert!(expand(&r, ts("2026-01-02T00:00:00Z"), ts("2026-01-01T00:00:00Z")).is_empty());
    assert!(expand(&r, Timestamp::MAX, Timestamp::MAX).is_empty());
    let _ = expand(
        &r,
        Timestamp::MIN,
        Timestamp::MIN.saturating_add(Duration::from_secs(86_400 * 3)),
    );
}

#[test]
fn timeline_shows_who_decides_and_where_windows_overlap() {
    let low = rule(
        r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":2,"timezone":"UTC"}"#,
    );
    let high = rule(
        r#"{"recurrenceType":"daily","startTime":"12:00","endTime":"13:00","fanSpeed":4,"timezone":"UTC"}"#,
    );
    let other = rule(
        r#"{"recurrenceType":"daily","startTime":"20:00","endTime":"21:00","fanSpeed":1,"timezone":"UTC"}"#,
    );
    let ids = [1u128, 2, 3].map(|n| crate::domain::ScheduleId::from_uuid(uuid::Uuid::from_u128(n)));
    let plan = timeline(
        &[(ids[0], &low), (ids[1], &high)],
        ts("2026-12-01T10:00:00Z"),
        ts("2026-12-01T18:00:00Z"),
    );
    let got: Vec<_> = plan
        .iter()
        .map(|p| {
            (
                p.start.to_string(),
                p.end.to_string(),
                p.fan_speed.get(),
                p.overlapping,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "2026-12-01T10:00:00.000Z".to_owned(),
                "2026-12-01T12:00:00.000Z".to_owned(),
                2,
                1
            ),
            (
                "2026-12-01T12:00:00.000Z".to_owned(),
                "2026-12-01T13:00:00.000Z".to_owned(),
                4,
                2
            ),
            (
                "2026-12-01T13:00:00.000Z".to_owned(),
                "2026-12-01T17:00:00.000Z".to_owned(),
                2,
                1
            ),
        ]
    );
    assert_eq!(plan[1].schedule_id, ids[1]);
    let from = ts("2026-12-01T00:00:00Z");
    assert_eq!(
        overlapping(&high, &[(ids[0], &low), (ids[2], &other)], from),
        [ids[0]]
    );
    assert!(overlapping(&other, &[(ids[0], &low), (ids[1], &high)], from).is_empty());
}
