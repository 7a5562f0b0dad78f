//! The control layers, scenario by scenario (PRODUCT.md §3).

use super::*;
use crate::domain::{DeviceId, ScheduleId};

const T0: i64 = 1_766_829_600_000;

fn at(min: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + min * 60_000).unwrap()
}

fn speed(n: u8) -> FanSpeed {
    FanSpeed::new(n).unwrap()
}

fn on(n: u8) -> FanState {
    FanState::at_speed(speed(n))
}

fn sched(n: u128) -> ScheduleId {
    ScheduleId::from_uuid(uuid::Uuid::from_u128(n))
}

fn window(s: u128, start: i64, end: i64, fan: u8) -> ActiveWindow {
    ActiveWindow {
        key: WindowKey {
            schedule_id: sched(s),
            start: at(start),
            fan_speed: speed(fan),
        },
        end: at(end),
        fan_speed: speed(fan),
    }
}

fn pc(n: u128) -> PreCleanId {
    PreCleanId::from_uuid(uuid::Uuid::from_u128(n))
}

fn cmd(n: u128) -> CommandId {
    CommandId::from_uuid(uuid::Uuid::from_u128(n))
}

fn fresh() -> ControlState {
    ControlState::new(DeviceId::new("d1").unwrap(), at(0))
}

fn windows(state: &mut ControlState, now: i64, active: &[ActiveWindow]) -> Decision {
    apply(state, at(now), ControlEvent::Windows(active))
}

fn start_pc(
    state: &mut ControlState,
    now: i64,
    id: u128,
    target: FanState,
    reported: Option<FanState>,
) -> Decision {
    apply(
        state,
        at(now),
        ControlEvent::PreCleanStarted {
            pre_clean_id: pc(id),
            target,
            reported,
        },
    )
}

fn end_pc(state: &mut ControlState, now: i64, id: u128) -> Decision {
    apply(
        state,
        at(now),
        ControlEvent::PreCleanEnded {
            pre_clean_id: pc(id),
        },
    )
}

#[test]
fn window_start_and_end_drive_an_unmanaged_device() {
    let mut s = fresh();
    let a = window(1, 0, 60, 3);
    let d = windows(&mut s, 0, &[a]);
    assert_eq!(d.command, Some((on(3), CommandSource::Schedule)));
    assert_eq!(d.runs, [(a.key, Boundary::Start, RunOutcome::Applied)]);
    assert!(d.changed);
    // Re-evaluating the same windows changes nothing (level-triggered, at most once).
    let again = windows(&mut s, 30, &[a]);
    assert_eq!(again, Decision::default());
    let d = windows(&mut s, 60, &[]);
    assert_eq!(d.command, Some((FanState::OFF, CommandSource::Schedule)));
    assert_eq!(d.runs, [(a.key, Boundary::End, RunOutcome::Applied)]);
    assert_eq!(
        s.base.map(|b| b.source),
        Some(IntentSource::ScheduleEnded {
            schedule_id: sched(1)
        })
    );
}

#[test]
fn overlapping_windows_highest_speed_wins() {
    let mut s = fresh();
    let low = window(1, 0, 120, 2);
    let high = window(2, 30, 90, 4);
    windows(&mut s, 0, &[low]);
    let d = windows(&mut s, 30, &[low, high]);
    assert_eq!(d.command, Some((on(4), CommandSource::Schedule)));
    assert_eq!(d.runs, [(high.key, Boundary::Start, RunOutcome::Applied)]);
    // The higher one ends: back to the lower one's speed.
    let d = windows(&mut s, 90, &[low]);
    assert_eq!(d.command, Some((on(2), CommandSource::Schedule)));
    assert_eq!(d.runs, [(high.key, Boundary::End, RunOutcome::Applied)]);

    // A lower window starting under a higher one is recorded as masked, and sends nothing.
    let mut s = fresh();
    windows(&mut s, 0, &[high]);
    let d = windows(&mut s, 40, &[high, low]);
    assert_eq!(d.command, None);
    assert_eq!(
        d.runs,
        [(low.key, Boundary::Start, RunOutcome::MaskedByHigherSchedule)]
    );
    // …and its end under the higher one too.
    let d = windows(&mut s, 50, &[high]);
    assert_eq!(d.command, None);
    assert_eq!(
        d.runs,
        [(low.key, Boundary::End, RunOutcome::MaskedByHigherSchedule)]
    );
}

#[test]
fn equal_speeds_tie_break_is_stable() {
    let a = window(7, 10, 60, 3);
    let b = window(3, 0, 60, 3);
    assert_eq!(
        winner(&[a, b]).map(|w| w.key),
        Some(b.key),
        "earliest start"
    );
    let c = window(2, 0, 60, 3);
    assert_eq!(
        winner(&[b, c]).map(|w| w.key),
        Some(c.key),
        "then smallest id"
    );
    assert_eq!(winner(&[]), None);
}

#[test]
fn manual_command_holds_until_the_next_boundary() {
    let mut s = fresh();
    let a = window(1, 0, 60, 3);
    windows(&mut s, 0, &[a]);
    let d = apply(
        &mut s,
        at(10),
        ControlEvent::Manual {
            state: on(1),
            command_id: cmd(1),
        },
    );
    assert_eq!(d.command, None, "the manual command is sent by its caller");
    assert_eq!(s.effective.map(|e| e.state), Some(on(1)));
    assert_eq!(
        windows(&mut s, 20, &[a]),
        Decision::default(),
        "no boundary: manual holds"
    );
    // The same schedule's next window is a new boundary.
    let next = window(1, 60, 120, 3);
    let d = windows(&mut s, 60, &[next]);
    assert_eq!(d.command, Some((on(3), CommandSource::Schedule)));
    assert_eq!(
        d.runs,
        [
            (next.key, Boundary::Start, RunOutcome::Applied),
            (a.key, Boundary::End, RunOutcome::Applied)
        ]
    );
}

#[test]
fn pre_clean_on_an_unmanaged_device_restores_the_reported_state() {
    let mut s = fresh();
    let d = start_pc(&mut s, 0, 1, on(5), Some(on(2)));
    assert_eq!(d.command, Some((on(5), CommandSource::Preclean)));
    assert_eq!(
        s.base.map(|b| (b.state, b.source)),
        Some((on(2), IntentSource::Reported))
    );
    let d = end_pc(&mut s, 10, 1);
    assert_eq!(d.command, Some((on(2), CommandSource::Restore)));
    assert_eq!(s.active_pre_clean, None);
    // A second end of the same pre-clean is a no-op.
    assert_eq!(end_pc(&mut s, 11, 1), Decision::default());
}

#[test]
fn pre_clean_with_nothing_known_restores_nothing() {
    let mut s = fresh();
    start_pc(&mut s, 0, 1, on(5), None);
    let d = end_pc(&mut s, 10, 1);
    assert_eq!(
        d.command, None,
        "unmanaged and never reported: praan sends nothing"
    );
    assert_eq!(s.effective, None);
    // A reported "off" becomes the normalised off.
    let mut s = fresh();
    start_pc(
        &mut s,
        0,
        1,
        on(5),
        Some(FanState {
            power_on: false,
            fan_speed: speed(3),
        }),
    );
    assert_eq!(
        end_pc(&mut s, 10, 1).command,
        Some((FanState::OFF, CommandSource::Restore))
    );
}

#[test]
fn schedule_ending_during_a_pre_clean_restores_to_off() {
    let mut s = fresh();
    let a = window(1, 0, 60, 3);
    windows(&mut s, 0, &[a]);
    start_pc(&mut s, 50, 1, on(5), Some(on(3)));
    let d = windows(&mut s, 60, &[]);
    assert_eq!(d.command, None, "masked: the pre-clean still decides");
    assert_eq!(
        d.runs,
        [(a.key, Boundary::End, RunOutcome::MaskedByPreclean)]
    );
    let d = end_pc(&mut s, 70, 1);
    assert_eq!(d.command, Some((FanState::OFF, CommandSource::Restore)));
}

#[test]
fn schedule_starting_during_a_pre_clean_restores_to_its_speed() {
    let mut s = fresh();
    start_pc(&mut s, 0, 1, on(5), Some(FanState::OFF));
    let a = window(1, 5, 60, 2);
    let d = windows(&mut s, 5, &[a]);
    assert_eq!(d.command, None);
    assert_eq!(
        d.runs,
        [(a.key, Boundary::Start, RunOutcome::MaskedByPreclean)]
    );
    assert_eq!(
        end_pc(&mut s, 10, 1).command,
        Some((on(2), CommandSource::Restore))
    );
}

#[test]
fn stacked_pre_cleans_replace_and_keep_the_restore_target() {
    let mut s = fresh();
    let a = window(1, 0, 600, 2);
    windows(&mut s, 0, &[a]);
    start_pc(&mut s, 10, 1, on(5), Some(on(2)));
    let d = start_pc(&mut s, 12, 2, on(4), Some(on(5)));
    assert_eq!(d.ended_pre_clean, Some(pc(1)), "the active one is replaced");
    assert_eq!(d.command, Some((on(4), CommandSource::Preclean)));
    assert_eq!(
        s.base.map(|b| b.state),
        Some(on(2)),
        "the base is untouched"
    );
    // The replaced pre-clean's end does nothing; the new one's restores the schedule.
    assert_eq!(end_pc(&mut s, 20, 1), Decision::default());
    assert_eq!(
        end_pc(&mut s, 22, 2).command,
        Some((on(2), CommandSource::Restore))
    );
}

#[test]
fn manual_command_during_a_pre_clean_cancels_it() {
    let mut s = fresh();
    start_pc(&mut s, 0, 1, on(5), Some(on(2)));
    let d = apply(
        &mut s,
        at(1),
        ControlEvent::Manual {
            state: on(1),
            command_id: cmd(9),
        },
    );
    assert_eq!(d.ended_pre_clean, Some(pc(1)));
    assert_eq!(s.active_pre_clean, None);
    assert_eq!(s.effective.map(|e| e.state), Some(on(1)));
    assert_eq!(
        end_pc(&mut s, 10, 1),
        Decision::default(),
        "its timer firing later is a no-op"
    );
}

#[test]
fn a_pre_clean_at_the_current_state_sends_nothing() {
    let mut s = fresh();
    let a = window(1, 0, 60, 5);
    windows(&mut s, 0, &[a]);
    let d = start_pc(&mut s, 10, 1, on(5), Some(on(5)));
    assert_eq!(d.command, None, "the effective state did not change");
    assert_eq!(end_pc(&mut s, 20, 1).command, None);
}
