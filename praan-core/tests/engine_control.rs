//! The control layers of PRODUCT.md §3–§5 as named scenarios, in simulated time, through the
//! engine's `Handle`: schedules, manual commands, pre-cleans, their interplay, and a simulated week
//! in Europe/London across the autumn DST change (plus the spring one).

mod support;
use support::*;

use std::time::Duration;

use praan_core::{
    domain::{
        Boundary, CommandSource, CommandStatus, DEFAULT_MAX_PRE_CLEAN, FanMode, FanState,
        Instruction, Intent, IntentSource, PreClean, PreCleanDuration, PreCleanId, PreCleanStatus,
        ReportedState, RunOutcome, ScheduleId, ScheduleRun, Timestamp,
    },
    engine::{CommandRequest, EngineError, PreCleanRequest, PreCleanStarted, ScheduleSaved},
    store::{Limit, PreCleanRepo, ScheduleRepo, StateRepo},
};

// ---- small helpers (this file only) ----

const MASKED_PRECLEAN: RunOutcome = RunOutcome::MaskedByPreclean;
const MASKED_HIGHER: RunOutcome = RunOutcome::MaskedByHigherSchedule;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn pre_clean_request(device: &str, mode: FanMode, seconds: u64) -> PreCleanRequest {
    PreCleanRequest {
        device_id: dev(device),
        mode,
        duration: PreCleanDuration::new(seconds, DEFAULT_MAX_PRE_CLEAN).expect("a valid duration"),
    }
}

async fn start_pre_clean(sim: &Sim, device: &str, mode: FanMode, seconds: u64) -> PreCleanStarted {
    sim.handle
        .start_pre_clean(pre_clean_request(device, mode, seconds))
        .await
        .expect("the pre-clean starts")
}

async fn stored_pre_clean(sim: &Sim, id: PreCleanId) -> Option<PreClean> {
    sim.store
        .get_pre_clean(id)
        .await
        .expect("the store answers")
}

async fn create(sim: &Sim, device: &str, json: &str) -> ScheduleSaved {
    sim.handle
        .create_schedule(dev(device), rule(json), true)
        .await
        .expect("the schedule is created")
}

/// A schedule's runs, oldest first.
async fn raw_runs(sim: &Sim, id: ScheduleId) -> Vec<ScheduleRun> {
    let mut runs = sim
        .store
        .runs_for_schedule(id, Limit::new(1000).expect("a valid limit"))
        .await
        .expect("the store answers");
    runs.reverse();
    runs
}

/// A schedule's runs, oldest first, as (time, boundary, outcome).
async fn runs(sim: &Sim, id: ScheduleId) -> Vec<(Timestamp, Boundary, RunOutcome)> {
    raw_runs(sim, id)
        .await
        .into_iter()
        .map(|r| (r.at, r.boundary, r.outcome))
        .collect()
}

/// Records a state the device reported (as a reading or an ack would).
async fn report(sim: &Sim, device: &str, state: FanState) {
    sim.store
        .record_reported(
            &dev(device),
            ReportedState {
                state,
                at: sim.now(),
            },
        )
        .await
        .expect("the store answers");
}

// ---- schedules ----

/// Old bug: a schedule created in the middle of its window waited for the next week.
#[tokio::test]
async fn schedule_created_mid_window_applies_immediately() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let saved = create(
        &sim,
        "d1",
        r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
    )
    .await;
    assert!(saved.overlaps.is_empty());
    let id = saved.schedule.schedule_id;
    let sent = sim.take_sent();
    assert_eq!(
        logged(&sim, &sent).await,
        expected(&[("2026-06-01T10:00:00Z", "setFanSpeed", 3, SCHEDULE)])
    );
    sim.ack(&sent[0], praan_core::domain::AckStatus::Success)
        .await;
    assert_eq!(sim.effective("d1").await, Some(on(3)));
    let control = sim.control("d1").await.unwrap();
    assert_eq!(
        control.base.map(|b| b.source),
        Some(IntentSource::Schedule { schedule_id: id })
    );
    let run = raw_runs(&sim, id).await;
    assert_eq!(run.len(), 1);
    assert_eq!(
        (
            run[0].at,
            run[0].boundary,
            run[0].outcome,
            run[0].command_id
        ),
        (
            ts("2026-06-01T10:00:00Z"),
            START,
            APPLIED,
            Some(sent[0].command_id)
        )
    );

    // The rest of the window is quiet, and its end turns the device off.
    let sent = run_acking_to(&mut sim, "2026-06-01T18:00:00Z").await;
    assert_eq!(
        logged(&sim, &sent).await,
        expected(&[("2026-06-01T17:00:00Z", "turnOff", 0, SCHEDULE)])
    );
}

#[tokio::test]
async fn window_start_sets_its_speed_and_window_end_turns_off() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":2}"#,
        )
        .await
        .schedule_id;
    assert!(sim.take_sent().is_empty(), "nothing is active at 08:00");
    assert_eq!(
        sim.effective("d1").await,
        None,
        "unmanaged until the window"
    );

    let sent = run_acking_to(&mut sim, "2026-06-01T12:00:00Z").await;
    assert_eq!(
        logged(&sim, &sent).await,
        expected(&[("2026-06-01T09:00:00Z", "setFanSpeed", 2, SCHEDULE)])
    );
    assert_eq!(sim.effective("d1").await, Some(on(2)));
    let start_cmd = sent[0].command_id;
    assert_eq!(
        sim.stored(start_cmd).await.status,
        CommandStatus::Acknowledged
    );

    let sent = run_acking_to(&mut sim, "2026-06-01T20:00:00Z").await;
    assert_eq!(
        logged(&sim, &sent).await,
        expected(&[("2026-06-01T17:00:00Z", "turnOff", 0, SCHEDULE)])
    );
    assert_eq!(sim.effective("d1").await, Some(FanState::OFF));
    let recorded: Vec<_> = raw_runs(&sim, id)
        .await
        .into_iter()
        .map(|r| (r.at, r.boundary, r.outcome, r.command_id))
        .collect();
    assert_eq!(
        recorded,
        [
            (ts("2026-06-01T09:00:00Z"), START, APPLIED, Some(start_cmd)),
            (
                ts("2026-06-01T17:00:00Z"),
                END,
                APPLIED,
                Some(sent[0].command_id)
            ),
        ]
    );
}

#[tokio::test]
async fn overlapping_schedules_highest_speed_wins_and_runs_say_why() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let a = create(
        &sim,
        "d1",
        r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"12:00","fanSpeed":2}"#,
    )
    .await;
    let b = create(
        &sim,
        "d1",
        r#"{"recurrenceType":"daily","startTime":"10:00","endTime":"11:00","fanSpeed":4}"#,
    )
    .await;
    let c = create(
        &sim,
        "d1",
        r#"{"recurrenceType":"daily","startTime":"10:30","endTime":"11:30","fanSpeed":1}"#,
    )
    .await;
    let (a_id, b_id, c_id) = (
        a.schedule.schedule_id,
        b.schedule.schedule_id,
        c.schedule.schedule_id,
    );
    assert_eq!(a.overlaps, Vec::<ScheduleId>::new());
    assert_eq!(b.overlaps, [a_id]);
    let mut c_overlaps = c.overlaps.clone();
    c_overlaps.sort();
    let mut ab = vec![a_id, b_id];
    ab.sort();
    assert_eq!(c_overlaps, ab);

    let sent = run_acking_to(&mut sim, "2026-06-01T13:00:00Z").await;
    assert_eq!(
        logged(&sim, &sent).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 2, SCHEDULE),
            ("2026-06-01T10:00:00Z", "setFanSpeed", 4, SCHEDULE),
            // 10:30: C (speed 1) starts under B (speed 4): nothing to send.
            ("2026-06-01T11:00:00Z", "setFanSpeed", 2, SCHEDULE),
            // 11:30: C ends under A (speed 2): nothing to send.
            ("2026-06-01T12:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(
        runs(&sim, a_id).await,
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, APPLIED),
            ("2026-06-01T12:00:00Z", END, APPLIED),
        ])
    );
    assert_eq!(
        runs(&sim, b_id).await,
        expected_runs(&[
            ("2026-06-01T10:00:00Z", START, APPLIED),
            ("2026-06-01T11:00:00Z", END, APPLIED),
        ])
    );
    assert_eq!(
        runs(&sim, c_id).await,
        expected_runs(&[
            ("2026-06-01T10:30:00Z", START, MASKED_HIGHER),
            ("2026-06-01T11:30:00Z", END, MASKED_HIGHER),
        ])
    );
    // Masked boundaries carry no command.
    assert!(
        raw_runs(&sim, c_id)
            .await
            .iter()
            .all(|r| r.command_id.is_none())
    );
}

#[tokio::test]
async fn overlap_warnings_on_create_and_update() {
    let sim = Sim::new("2026-06-01T06:00:00Z", &["d1", "d2"]).await;
    let mon = create(
        &sim,
        "d1",
        r#"{"days":["Monday"],"startTime":"09:00","endTime":"17:00","fanSpeed":2}"#,
    )
    .await;
    assert!(mon.overlaps.is_empty());
    let mon_id = mon.schedule.schedule_id;
    let late = create(
        &sim,
        "d1",
        r#"{"days":["Monday"],"startTime":"16:00","endTime":"18:00","fanSpeed":3}"#,
    )
    .await;
    assert_eq!(late.overlaps, [mon_id], "Monday 16:00-17:00 overlaps");
    let tue = create(
        &sim,
        "d1",
        r#"{"days":["Tuesday"],"startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
    )
    .await;
    assert!(tue.overlaps.is_empty(), "Tuesday overlaps nothing");
    let other_device = create(
        &sim,
        "d2",
        r#"{"days":["Monday"],"startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
    )
    .await;
    assert!(
        other_device.overlaps.is_empty(),
        "another device's schedules never overlap"
    );

    let moved = sim
        .handle
        .update_schedule(
            tue.schedule.schedule_id,
            rule(r#"{"days":["Monday"],"startTime":"08:00","endTime":"10:00","fanSpeed":3}"#),
            true,
        )
        .await
        .unwrap();
    assert_eq!(moved.overlaps, [mon_id]);
}

/// Old bug: an update changed the record but the running job kept the old speed.
#[tokio::test]
async fn update_of_speed_during_a_window_takes_effect_now() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let json = |speed: u8| {
        format!(
            r#"{{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":{speed}}}"#
        )
    };
    let id = sim.schedule("d1", &json(2)).await.schedule_id;
    let sent = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    assert_eq!(
        logged(&sim, &sent).await,
        expected(&[("2026-06-01T09:00:00Z", "setFanSpeed", 2, SCHEDULE)])
    );

    let saved = sim
        .handle
        .update_schedule(id, rule(&json(4)), true)
        .await
        .unwrap();
    assert_eq!(saved.schedule.rule.fan_speed(), speed(4));
    let stored = sim.store.get_schedule(id).await.unwrap().unwrap();
    assert_eq!(stored.rule.fan_speed(), speed(4));
    assert_eq!(stored.updated_at, ts("2026-06-01T10:00:00Z"));
    let sent = sim.ack_new().await;
    assert_eq!(
        logged(&sim, &sent).await,
        expected(&[("2026-06-01T10:00:00Z", "setFanSpeed", 4, SCHEDULE)]),
        "the new speed applies at once in the running window"
    );
    assert_eq!(sim.effective("d1").await, Some(on(4)));

    let sent = run_acking_to(&mut sim, "2026-06-02T10:00:00Z").await;
    assert_eq!(
        logged(&sim, &sent).await,
        expected(&[
            ("2026-06-01T17:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-06-02T09:00:00Z", "setFanSpeed", 4, SCHEDULE),
        ])
    );
}

/// Old bug: an update stopped the schedule's job, so it never fired again.
#[tokio::test]
async fn update_of_time_keeps_the_schedule_firing_next_week() {
    // 2026-06-01 is a Monday.
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"days":["Monday"],"startTime":"09:00","endTime":"10:00","fanSpeed":2}"#,
        )
        .await
        .schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await;
    let saved = sim
        .handle
        .update_schedule(
            id,
            rule(r#"{"days":["Monday"],"startTime":"12:00","endTime":"13:00","fanSpeed":4}"#),
            true,
        )
        .await
        .unwrap();
    assert!(saved.schedule.is_active);
    assert!(sim.take_sent().is_empty(), "no window is active at 11:00");
    all.extend(run_acking_to(&mut sim, "2026-06-08T14:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 2, SCHEDULE),
            ("2026-06-01T10:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-06-01T12:00:00Z", "setFanSpeed", 4, SCHEDULE),
            ("2026-06-01T13:00:00Z", "turnOff", 0, SCHEDULE),
            // Next Monday: the new time, and nothing at the old one.
            ("2026-06-08T12:00:00Z", "setFanSpeed", 4, SCHEDULE),
            ("2026-06-08T13:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(
        runs(&sim, id).await,
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, APPLIED),
            ("2026-06-01T10:00:00Z", END, APPLIED),
            ("2026-06-01T12:00:00Z", START, APPLIED),
            ("2026-06-01T13:00:00Z", END, APPLIED),
            ("2026-06-08T12:00:00Z", START, APPLIED),
            ("2026-06-08T13:00:00Z", END, APPLIED),
        ])
    );
}

#[tokio::test]
async fn update_moving_the_active_window_away_ends_it_now() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
        )
        .await
        .schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    sim.handle
        .update_schedule(
            id,
            rule(
                r#"{"recurrenceType":"daily","startTime":"11:00","endTime":"17:00","fanSpeed":3}"#,
            ),
            true,
        )
        .await
        .unwrap();
    all.extend(run_acking_to(&mut sim, "2026-06-01T18:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T10:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-06-01T11:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T17:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(
        runs(&sim, id).await,
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, APPLIED),
            ("2026-06-01T10:00:00Z", END, APPLIED),
            ("2026-06-01T11:00:00Z", START, APPLIED),
            ("2026-06-01T17:00:00Z", END, APPLIED),
        ])
    );
}

/// Old bug: deleting a schedule left its job running.
#[tokio::test]
async fn delete_during_a_window_turns_off_now_and_never_fires_again() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
        )
        .await
        .schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    let deleted = sim.handle.delete_schedule(id).await.unwrap();
    assert_eq!(deleted.schedule_id, id);
    let off = sim.ack_new().await;
    all.extend(off.clone());
    all.extend(run_acking_to(&mut sim, "2026-06-09T10:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T10:00:00Z", "turnOff", 0, SCHEDULE),
            // A week and a day later: nothing more.
        ])
    );
    assert_eq!(sim.store.get_schedule(id).await.unwrap(), None);
    let recorded = raw_runs(&sim, id).await;
    assert_eq!(
        recorded
            .iter()
            .map(|r| (r.at, r.boundary, r.outcome))
            .collect::<Vec<_>>(),
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, APPLIED),
            ("2026-06-01T10:00:00Z", END, APPLIED),
        ]),
        "the history stays; the end is recorded when the delete ended the window"
    );
    assert_eq!(recorded[1].command_id, Some(off[0].command_id));
    assert_eq!(sim.effective("d1").await, Some(FanState::OFF));
    assert!(matches!(
        sim.handle.delete_schedule(id).await,
        Err(EngineError::NotFound { .. })
    ));
}

#[tokio::test]
async fn disable_during_a_window_turns_off_now_and_enable_applies_again_at_once() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let json = r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#;
    let id = sim.schedule("d1", json).await.schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    let saved = sim
        .handle
        .update_schedule(id, rule(json), false)
        .await
        .unwrap();
    assert!(!saved.schedule.is_active);
    assert!(!sim.store.get_schedule(id).await.unwrap().unwrap().is_active);
    all.extend(run_acking_to(&mut sim, "2026-06-09T10:00:00Z").await);
    // Enabled again in the middle of a window: it applies at once.
    sim.handle
        .update_schedule(id, rule(json), true)
        .await
        .unwrap();
    all.extend(run_acking_to(&mut sim, "2026-06-09T18:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T10:00:00Z", "turnOff", 0, SCHEDULE),
            // Disabled for eight days: nothing.
            ("2026-06-09T10:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-09T17:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(
        runs(&sim, id).await,
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, APPLIED),
            ("2026-06-01T10:00:00Z", END, APPLIED),
            ("2026-06-09T10:00:00Z", START, APPLIED),
            ("2026-06-09T17:00:00Z", END, APPLIED),
        ])
    );
}

// ---- manual commands ----

#[tokio::test]
async fn manual_command_holds_until_the_next_boundary() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
        )
        .await
        .schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    // In the window: the manual speed holds until the window's end.
    let manual = sim.fan("d1", 1).await;
    assert_eq!(manual.source, MANUAL);
    all.extend(sim.ack_new().await);
    let control = sim.control("d1").await.unwrap();
    assert_eq!(
        control.base,
        Some(Intent {
            state: on(1),
            source: IntentSource::Manual {
                command_id: manual.command_id
            },
            since: ts("2026-06-01T10:00:00Z"),
        })
    );
    all.extend(run_acking_to(&mut sim, "2026-06-01T16:59:59Z").await);
    assert_eq!(
        sim.effective("d1").await,
        Some(on(1)),
        "held until the boundary"
    );
    all.extend(run_acking_to(&mut sim, "2026-06-02T08:00:00Z").await);
    // Before a window: the manual speed holds until the window's start.
    sim.fan("d1", 5).await;
    all.extend(sim.ack_new().await);
    all.extend(run_acking_to(&mut sim, "2026-06-02T12:00:00Z").await);
    // A manual turnOff in a window: the window's end finds the device off, and sends nothing.
    sim.command("d1", Instruction::turn_off()).await;
    all.extend(sim.ack_new().await);
    all.extend(run_acking_to(&mut sim, "2026-06-02T18:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T10:00:00Z", "setFanSpeed", 1, MANUAL),
            ("2026-06-01T17:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-06-02T08:00:00Z", "setFanSpeed", 5, MANUAL),
            ("2026-06-02T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-02T12:00:00Z", "turnOff", 0, MANUAL),
        ])
    );
    let recorded = raw_runs(&sim, id).await;
    assert_eq!(
        recorded
            .iter()
            .map(|r| (r.at, r.boundary, r.outcome))
            .collect::<Vec<_>>(),
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, APPLIED),
            ("2026-06-01T17:00:00Z", END, APPLIED),
            ("2026-06-02T09:00:00Z", START, APPLIED),
            ("2026-06-02T17:00:00Z", END, APPLIED),
        ]),
        "the last end is recorded though it sent nothing"
    );
    assert_eq!(recorded[3].command_id, None);
}

/// Old bug: a manual command during a pre-clean was overwritten by the pre-clean's restore.
#[tokio::test]
async fn manual_command_during_a_pre_clean_cancels_it_and_is_applied() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    sim.schedule(
        "d1",
        r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":2}"#,
    )
    .await;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    let started = start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    let id = started.pre_clean.pre_clean_id;
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:03:00Z").await);
    let manual = sim.fan("d1", 1).await;
    all.extend(sim.ack_new().await);

    let p = stored_pre_clean(&sim, id).await.unwrap();
    assert_eq!(p.status, PreCleanStatus::Cancelled);
    assert_eq!(p.ended_at, Some(ts("2026-06-01T10:03:00Z")));
    assert_eq!(sim.store.active_pre_clean(&dev("d1")).await.unwrap(), None);
    let control = sim.control("d1").await.unwrap();
    assert_eq!(control.active_pre_clean, None);
    assert_eq!(
        control.effective.map(|e| (e.state, e.source)),
        Some((
            on(1),
            IntentSource::Manual {
                command_id: manual.command_id
            }
        ))
    );

    // The pre-clean's end time passes without a restore; the window's end still turns it off.
    all.extend(run_acking_to(&mut sim, "2026-06-01T18:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 2, SCHEDULE),
            ("2026-06-01T10:00:00Z", "setFanSpeed", 5, PRECLEAN),
            ("2026-06-01T10:03:00Z", "setFanSpeed", 1, MANUAL),
            ("2026-06-01T17:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
}

// ---- pre-cleans ----

#[tokio::test]
async fn pre_clean_modes_and_durations_then_restore_to_the_base() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let manual = sim.fan("d1", 1).await;
    sim.ack_new().await;
    let cases = [
        (FanMode::Off, 90, "turnOff", 0, FanState::OFF),
        (FanMode::Auto, 600, "setFanSpeed", 3, on(3)),
        (FanMode::Manual(speed(4)), 1, "setFanSpeed", 4, on(4)),
        (FanMode::PreClean, 3600, "setFanSpeed", 5, on(5)),
        (FanMode::Speed(speed(2)), 300, "setFanSpeed", 2, on(2)),
    ];
    for (mode, seconds, action, value, target) in cases {
        let at = sim.now();
        let started = start_pre_clean(&sim, "d1", mode, seconds).await;
        let p = &started.pre_clean;
        assert_eq!((p.mode, p.target), (mode, target), "{mode:?}");
        assert_eq!(p.status, PreCleanStatus::Active);
        assert_eq!(p.started_at, at);
        assert_eq!(p.ends_at, at.saturating_add(secs(seconds)), "{mode:?}");
        assert_eq!(
            p.duration_seconds.seconds(),
            u32::try_from(seconds).unwrap()
        );
        assert_eq!(
            started.restore_target.map(|r| (r.state, r.source)),
            Some((
                on(1),
                IntentSource::Manual {
                    command_id: manual.command_id
                }
            )),
            "{mode:?}"
        );
        let sent = sim.ack_new().await;
        assert_eq!(
            logged(&sim, &sent).await,
            vec![(at, action.to_owned(), value, PRECLEAN)],
            "{mode:?}"
        );
        assert_eq!(p.command_id, Some(sent[0].command_id));
        assert_eq!(sim.effective("d1").await, Some(target));
        if seconds > 1 {
            run_acking(&mut sim, p.ends_at.saturating_sub(secs(1))).await;
            let status = stored_pre_clean(&sim, p.pre_clean_id).await.unwrap();
            assert_eq!(status.status, PreCleanStatus::Active);
            assert_eq!(status.remaining_seconds(sim.now()), 1);
            assert!(sim.take_sent().is_empty());
        }
        let sent = run_acking(&mut sim, p.ends_at).await;
        assert_eq!(
            logged(&sim, &sent).await,
            vec![(p.ends_at, "setFanSpeed".to_owned(), 1, RESTORE)],
            "{mode:?} restores to the manual speed at its end"
        );
        let done = stored_pre_clean(&sim, p.pre_clean_id).await.unwrap();
        assert_eq!(done.status, PreCleanStatus::Completed);
        assert_eq!(done.ended_at, Some(p.ends_at));
        let restore = done.restore.unwrap();
        assert_eq!(restore.target, Some(on(1)));
        assert_eq!(
            restore.source,
            Some(IntentSource::Manual {
                command_id: manual.command_id
            })
        );
        assert_eq!(restore.command_id, Some(sent[0].command_id));
        assert_eq!(restore.at, p.ends_at);
        assert_eq!(sim.effective("d1").await, Some(on(1)));
        let next = sim.now().saturating_add(secs(60));
        run_acking(&mut sim, next).await;
    }
    let history = sim
        .store
        .pre_clean_history(&dev("d1"), Limit::new(100).unwrap())
        .await
        .unwrap();
    assert_eq!(history.len(), 5);
    assert!(
        history
            .iter()
            .all(|p| p.status == PreCleanStatus::Completed)
    );
}

/// Old bug: the pre-clean "restored" an unmanaged device to a stale or made-up speed.
#[tokio::test]
async fn pre_clean_on_an_unmanaged_device_restores_its_reported_state() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["on2", "off", "unknown"]).await;
    report(&sim, "on2", on(2)).await;
    report(&sim, "off", FanState::OFF).await;

    let started = start_pre_clean(&sim, "on2", FanMode::PreClean, 600).await;
    let restore = started.restore_target.unwrap();
    assert_eq!(
        (restore.state, restore.source),
        (on(2), IntentSource::Reported)
    );
    let off_started = start_pre_clean(&sim, "off", FanMode::Auto, 600).await;
    let off_restore = off_started.restore_target.unwrap();
    assert_eq!(
        (off_restore.state, off_restore.source),
        (FanState::OFF, IntentSource::Reported)
    );
    let unknown = start_pre_clean(&sim, "unknown", FanMode::PreClean, 600).await;
    assert_eq!(unknown.restore_target, None, "no base and nothing reported");

    let mut sent = sim.ack_new().await;
    sent.extend(run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await);
    // (device, time, action, value, source), by device then time: the three devices' timers
    // fire in no particular order among themselves at the same instant.
    let mut got = Vec::new();
    for (s, (at, action, value, source)) in sent.iter().zip(logged(&sim, &sent).await) {
        got.push((s.device.clone(), at, action, value, source));
    }
    got.sort_by_key(|(d, at, ..)| (d.clone(), *at));
    let row = |d: &str, t: &str, a: &str, v: u8, s: CommandSource| {
        (d.to_owned(), ts(t), a.to_owned(), v, s)
    };
    assert_eq!(
        got,
        [
            row("off", "2026-06-01T10:00:00Z", "setFanSpeed", 3, PRECLEAN),
            row("off", "2026-06-01T10:10:00Z", "turnOff", 0, RESTORE),
            row("on2", "2026-06-01T10:00:00Z", "setFanSpeed", 5, PRECLEAN),
            row("on2", "2026-06-01T10:10:00Z", "setFanSpeed", 2, RESTORE),
            // The device nobody manages and that reported nothing: nothing is restored.
            row(
                "unknown",
                "2026-06-01T10:00:00Z",
                "setFanSpeed",
                5,
                PRECLEAN
            ),
        ]
    );
    let done = stored_pre_clean(&sim, unknown.pre_clean.pre_clean_id)
        .await
        .unwrap();
    assert_eq!(done.status, PreCleanStatus::Completed);
    let restore = done.restore.unwrap();
    assert_eq!((restore.target, restore.command_id), (None, None));
    let done = stored_pre_clean(&sim, started.pre_clean.pre_clean_id)
        .await
        .unwrap();
    assert_eq!(done.restore.unwrap().target, Some(on(2)));
}

#[tokio::test]
async fn cancel_pre_clean_restores_immediately() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    sim.schedule(
        "d1",
        r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":2}"#,
    )
    .await;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    let started = start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:04:00Z").await);
    let cancelled = sim
        .handle
        .cancel_pre_clean(dev("d1"))
        .await
        .unwrap()
        .unwrap();
    let restore_cmd = sim.ack_new().await;
    all.extend(restore_cmd.clone());
    assert_eq!(cancelled.pre_clean_id, started.pre_clean.pre_clean_id);
    assert_eq!(cancelled.status, PreCleanStatus::Cancelled);
    assert_eq!(cancelled.ended_at, Some(ts("2026-06-01T10:04:00Z")));
    let restore = cancelled.restore.unwrap();
    assert_eq!(restore.target, Some(on(2)));
    assert_eq!(restore.command_id, Some(restore_cmd[0].command_id));
    assert_eq!(restore.at, ts("2026-06-01T10:04:00Z"));
    assert_eq!(
        sim.handle.cancel_pre_clean(dev("d1")).await.unwrap(),
        None,
        "nothing left to cancel"
    );
    all.extend(run_acking_to(&mut sim, "2026-06-01T12:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 2, SCHEDULE),
            ("2026-06-01T10:00:00Z", "setFanSpeed", 5, PRECLEAN),
            ("2026-06-01T10:04:00Z", "setFanSpeed", 2, RESTORE),
            // 10:10, the original end: nothing.
        ])
    );
}

#[tokio::test]
async fn delete_of_an_active_pre_clean_cancels_it_and_of_a_finished_one_removes_it() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    sim.fan("d1", 2).await;
    let mut all = sim.ack_new().await;
    let first = start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    let first_id = first.pre_clean.pre_clean_id;
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:02:00Z").await);
    let deleted = sim.handle.delete_pre_clean(first_id).await.unwrap();
    all.extend(sim.ack_new().await);
    assert_eq!(deleted.status, PreCleanStatus::Cancelled);
    assert_eq!(deleted.ended_at, Some(ts("2026-06-01T10:02:00Z")));
    assert_eq!(
        stored_pre_clean(&sim, first_id).await.unwrap().status,
        PreCleanStatus::Cancelled,
        "an active pre-clean is cancelled (kept as history), not removed"
    );

    let second = start_pre_clean(&sim, "d1", FanMode::Speed(speed(4)), 60).await;
    let second_id = second.pre_clean.pre_clean_id;
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:05:00Z").await);
    assert_eq!(
        stored_pre_clean(&sim, second_id).await.unwrap().status,
        PreCleanStatus::Completed
    );
    let removed = sim.handle.delete_pre_clean(second_id).await.unwrap();
    assert_eq!(removed.pre_clean_id, second_id);
    assert_eq!(removed.status, PreCleanStatus::Completed);
    assert_eq!(
        stored_pre_clean(&sim, second_id).await,
        None,
        "a finished one is removed"
    );
    assert!(matches!(
        sim.handle.delete_pre_clean(second_id).await,
        Err(EngineError::NotFound { .. })
    ));
    assert!(
        sim.take_sent().is_empty(),
        "removing a finished pre-clean sends nothing"
    );
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T10:00:00Z", "setFanSpeed", 2, MANUAL),
            ("2026-06-01T10:00:00Z", "setFanSpeed", 5, PRECLEAN),
            ("2026-06-01T10:02:00Z", "setFanSpeed", 2, RESTORE),
            ("2026-06-01T10:02:00Z", "setFanSpeed", 4, PRECLEAN),
            ("2026-06-01T10:03:00Z", "setFanSpeed", 2, RESTORE),
        ])
    );
}

/// Old bug: a schedule's end during a pre-clean was lost, and the restore turned the device back
/// on at the old speed after its window was over.
#[tokio::test]
async fn schedule_ending_during_a_pre_clean_restores_to_off() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"10:00","fanSpeed":2}"#,
        )
        .await
        .schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-06-01T09:50:00Z").await;
    let started = start_pre_clean(&sim, "d1", FanMode::PreClean, 1200).await;
    assert_eq!(started.restore_target.map(|r| r.state), Some(on(2)));
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:05:00Z").await);
    assert_eq!(sim.effective("d1").await, Some(on(5)), "still overridden");
    let base = sim.control("d1").await.unwrap().base.unwrap();
    assert_eq!(
        (base.state, base.source),
        (
            FanState::OFF,
            IntentSource::ScheduleEnded { schedule_id: id }
        ),
        "the base followed the schedule underneath"
    );
    all.extend(run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 2, SCHEDULE),
            ("2026-06-01T09:50:00Z", "setFanSpeed", 5, PRECLEAN),
            ("2026-06-01T10:10:00Z", "turnOff", 0, RESTORE),
        ])
    );
    let recorded = raw_runs(&sim, id).await;
    assert_eq!(
        recorded
            .iter()
            .map(|r| (r.at, r.boundary, r.outcome))
            .collect::<Vec<_>>(),
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, APPLIED),
            ("2026-06-01T10:00:00Z", END, MASKED_PRECLEAN),
        ])
    );
    assert_eq!(recorded[1].command_id, None);
    let done = stored_pre_clean(&sim, started.pre_clean.pre_clean_id)
        .await
        .unwrap();
    assert_eq!(done.restore.unwrap().target, Some(FanState::OFF));
}

#[tokio::test]
async fn schedule_starting_during_a_pre_clean_restores_to_its_speed() {
    let mut sim = Sim::new("2026-06-01T09:50:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"10:00","endTime":"12:00","fanSpeed":2}"#,
        )
        .await
        .schedule_id;
    report(&sim, "d1", FanState::OFF).await;
    let started = start_pre_clean(&sim, "d1", FanMode::Auto, 1200).await;
    assert_eq!(
        started.restore_target.map(|r| r.state),
        Some(FanState::OFF),
        "as of now: the reported state"
    );
    let all = run_acking_to(&mut sim, "2026-06-01T12:30:00Z").await;
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:50:00Z", "setFanSpeed", 3, PRECLEAN),
            // 10:00: the window starts under the pre-clean: nothing sent.
            ("2026-06-01T10:10:00Z", "setFanSpeed", 2, RESTORE),
            ("2026-06-01T12:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    let done = stored_pre_clean(&sim, started.pre_clean.pre_clean_id)
        .await
        .unwrap();
    let restore = done.restore.unwrap();
    assert_eq!(
        (restore.target, restore.source),
        (
            Some(on(2)),
            Some(IntentSource::Schedule { schedule_id: id })
        )
    );
    assert_eq!(
        runs(&sim, id).await,
        expected_runs(&[
            ("2026-06-01T10:00:00Z", START, MASKED_PRECLEAN),
            ("2026-06-01T12:00:00Z", END, APPLIED),
        ])
    );
}

#[tokio::test]
async fn pre_clean_ending_exactly_at_a_window_boundary_sends_one_command() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"10:00","endTime":"11:00","fanSpeed":2}"#,
        )
        .await
        .schedule_id;
    report(&sim, "d1", FanState::OFF).await;
    let mut all = run_acking_to(&mut sim, "2026-06-01T09:50:00Z").await;
    // Ends exactly when the window starts.
    start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:50:00Z").await);
    // Ends exactly when the window ends.
    start_pre_clean(&sim, "d1", FanMode::Speed(speed(4)), 600).await;
    all.extend(run_acking_to(&mut sim, "2026-06-01T12:00:00Z").await);
    let got: Vec<_> = all
        .iter()
        .map(|s| (s.at, s.action.clone(), s.value))
        .collect();
    assert_eq!(
        got,
        [
            (ts("2026-06-01T09:50:00Z"), "setFanSpeed".to_owned(), 5),
            (ts("2026-06-01T10:00:00Z"), "setFanSpeed".to_owned(), 2),
            (ts("2026-06-01T10:50:00Z"), "setFanSpeed".to_owned(), 4),
            (ts("2026-06-01T11:00:00Z"), "turnOff".to_owned(), 0),
        ],
        "one command per instant: never the stale state first"
    );
    let recorded = runs(&sim, id).await;
    assert_eq!(recorded.len(), 2, "each boundary once: {recorded:?}");
    for (i, (at, boundary, outcome)) in recorded.into_iter().enumerate() {
        let (want_at, want_boundary) = [
            (ts("2026-06-01T10:00:00Z"), START),
            (ts("2026-06-01T11:00:00Z"), END),
        ][i];
        assert_eq!((at, boundary), (want_at, want_boundary));
        // At the very instant the pre-clean ends, either reading of the tie is right.
        assert!(matches!(
            outcome,
            RunOutcome::Applied | RunOutcome::MaskedByPreclean
        ));
    }
}

#[tokio::test]
async fn stacked_pre_cleans_replace_and_restore_to_the_untouched_base() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":2}"#,
        )
        .await
        .schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    let base_before = sim.control("d1").await.unwrap().base;
    let p1 = start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:05:00Z").await);
    let p2 = start_pre_clean(&sim, "d1", FanMode::Manual(speed(3)), 600).await;
    all.extend(sim.ack_new().await);
    let (p1_id, p2_id) = (p1.pre_clean.pre_clean_id, p2.pre_clean.pre_clean_id);

    let old = stored_pre_clean(&sim, p1_id).await.unwrap();
    assert_eq!(old.status, PreCleanStatus::Replaced);
    assert_eq!(old.replaced_by, Some(p2_id));
    assert_eq!(old.ended_at, Some(ts("2026-06-01T10:05:00Z")));
    let control = sim.control("d1").await.unwrap();
    assert_eq!(control.base, base_before, "the base is untouched");
    assert_eq!(control.active_pre_clean, Some(p2_id));
    assert_eq!(
        p2.restore_target.map(|r| (r.state, r.source)),
        Some((on(2), IntentSource::Schedule { schedule_id: id }))
    );
    assert_eq!(
        sim.store
            .active_pre_clean(&dev("d1"))
            .await
            .unwrap()
            .map(|p| p.pre_clean_id),
        Some(p2_id)
    );

    // A third and a fourth with the same target: the fourth sends nothing.
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:20:00Z").await);
    start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:22:00Z").await);
    let p4 = start_pre_clean(&sim, "d1", FanMode::Speed(speed(5)), 600).await;
    assert_eq!(p4.pre_clean.command_id, None, "already at speed 5");
    all.extend(run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 2, SCHEDULE),
            ("2026-06-01T10:00:00Z", "setFanSpeed", 5, PRECLEAN),
            ("2026-06-01T10:05:00Z", "setFanSpeed", 3, PRECLEAN),
            // 10:10, the first one's end: nothing.
            ("2026-06-01T10:15:00Z", "setFanSpeed", 2, RESTORE),
            ("2026-06-01T10:20:00Z", "setFanSpeed", 5, PRECLEAN),
            // 10:22: replaced by the same target: nothing. 10:30: nothing.
            ("2026-06-01T10:32:00Z", "setFanSpeed", 2, RESTORE),
        ])
    );
    let history = sim
        .store
        .pre_clean_history(&dev("d1"), Limit::new(100).unwrap())
        .await
        .unwrap();
    let statuses: Vec<PreCleanStatus> = history.iter().rev().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        [
            PreCleanStatus::Replaced,
            PreCleanStatus::Completed,
            PreCleanStatus::Replaced,
            PreCleanStatus::Completed,
        ]
    );
}

#[tokio::test]
async fn stacked_pre_cleans_on_an_unmanaged_device_restore_the_state_before_the_first() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    report(&sim, "d1", on(1)).await;
    start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    // The device acks and reports speed 5 now.
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:05:00Z").await;
    let p2 = start_pre_clean(&sim, "d1", FanMode::Speed(speed(4)), 600).await;
    assert_eq!(
        p2.restore_target.map(|r| (r.state, r.source)),
        Some((on(1), IntentSource::Reported)),
        "the state before the first pre-clean, not the first pre-clean's speed"
    );
    all.extend(run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T10:00:00Z", "setFanSpeed", 5, PRECLEAN),
            ("2026-06-01T10:05:00Z", "setFanSpeed", 4, PRECLEAN),
            ("2026-06-01T10:15:00Z", "setFanSpeed", 1, RESTORE),
        ])
    );
}

/// "Starting a pre-clean while one is active replaces the active one; the base is untouched, so
/// the restore target is still right" — also when the device had no base and reported nothing
/// before the first pre-clean: then nothing is restored, rather than the first pre-clean's speed.
#[tokio::test]
async fn stacked_pre_cleans_on_a_device_that_reported_nothing_restore_nothing() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let p1 = start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    assert_eq!(p1.restore_target, None);
    // The device acks the pre-clean's command, reporting speed 5.
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:05:00Z").await;
    let p2 = start_pre_clean(&sim, "d1", FanMode::Speed(speed(4)), 600).await;
    assert_eq!(
        p2.restore_target, None,
        "the base is untouched by a replacing pre-clean: still none"
    );
    all.extend(run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T10:00:00Z", "setFanSpeed", 5, PRECLEAN),
            ("2026-06-01T10:05:00Z", "setFanSpeed", 4, PRECLEAN),
            // 10:15: nothing to restore to (never the first pre-clean's speed 5).
        ])
    );
    let done = stored_pre_clean(&sim, p2.pre_clean.pre_clean_id)
        .await
        .unwrap();
    assert_eq!(done.restore.unwrap().target, None);
}

/// An override with nothing to restore must not go on pushing its speed after it ended: its
/// unacknowledged command stops retrying (the old system retried commands into stale state).
#[tokio::test]
async fn a_pre_clean_command_stops_retrying_when_the_pre_clean_ends() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let started = start_pre_clean(&sim, "d1", FanMode::PreClean, 45).await;
    let command_id = started.pre_clean.command_id.unwrap();
    // The device never answers: one publish at 10:00, a retry at 10:00:30, then the end at :45.
    sim.advance_to(ts("2026-06-01T10:05:00Z")).await;
    let sent = sim.take_sent();
    assert_eq!(
        actions(&sent),
        [act("setFanSpeed", 5), act("setFanSpeed", 5)]
    );
    let cmd = sim.stored(command_id).await;
    assert_eq!(cmd.status, CommandStatus::Cancelled);
    assert_eq!(cmd.completed_at, Some(ts("2026-06-01T10:00:45Z")));
    assert_eq!(
        cmd.error.as_deref(),
        Some("the pre-clean it applied has ended")
    );
    let done = stored_pre_clean(&sim, started.pre_clean.pre_clean_id)
        .await
        .unwrap();
    assert_eq!(done.status, PreCleanStatus::Completed);
    assert_eq!(done.restore.unwrap().command_id, None);
}

#[tokio::test]
async fn a_command_is_sent_only_when_the_effective_state_changes() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    sim.schedule(
        "d1",
        r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
    )
    .await;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    // A pre-clean to the current speed: nothing to send, at its start or its end.
    let same = start_pre_clean(&sim, "d1", FanMode::Manual(speed(3)), 600).await;
    assert_eq!(same.pre_clean.command_id, None);
    assert!(sim.take_sent().is_empty());
    let control = sim.control("d1").await.unwrap();
    assert_eq!(
        control.effective.map(|e| (e.state, e.source)),
        Some((
            on(3),
            IntentSource::PreClean {
                pre_clean_id: same.pre_clean.pre_clean_id
            }
        ))
    );
    all.extend(run_acking_to(&mut sim, "2026-06-01T10:30:00Z").await);
    let done = stored_pre_clean(&sim, same.pre_clean.pre_clean_id)
        .await
        .unwrap();
    assert_eq!(done.status, PreCleanStatus::Completed);
    let restore = done.restore.unwrap();
    assert_eq!((restore.target, restore.command_id), (Some(on(3)), None));
    // AUTO is speed 3 too.
    let auto = start_pre_clean(&sim, "d1", FanMode::Auto, 60).await;
    assert_eq!(auto.pre_clean.command_id, None);
    all.extend(run_acking_to(&mut sim, "2026-06-01T18:00:00Z").await);
    // OFF while the device is already off: nothing either.
    let off = start_pre_clean(&sim, "d1", FanMode::Off, 60).await;
    assert_eq!(off.pre_clean.command_id, None);
    all.extend(run_acking_to(&mut sim, "2026-06-01T18:30:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T17:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
}

#[tokio::test]
async fn test_schedule_sends_the_start_command_at_once_and_returns_it() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let id = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"20:00","endTime":"21:00","fanSpeed":4}"#,
        )
        .await
        .schedule_id;
    let cmd = sim.handle.test_schedule(id).await.unwrap();
    assert_eq!(cmd.source, SCHEDULE);
    assert_eq!(cmd.instruction, Instruction::set_fan_speed(speed(4)));
    assert_eq!(
        cmd.status,
        CommandStatus::Sent,
        "returned without waiting for the ack"
    );
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].command_id, cmd.command_id);
    assert_eq!(
        (sent[0].at, sent[0].action.as_str(), sent[0].value),
        (ts("2026-06-01T10:00:00Z"), "setFanSpeed", 4)
    );
    sim.ack(&sent[0], praan_core::domain::AckStatus::Success)
        .await;
    assert_eq!(
        sim.stored(cmd.command_id).await.status,
        CommandStatus::Acknowledged
    );
    assert_eq!(sim.effective("d1").await, Some(on(4)));
    assert!(
        runs(&sim, id).await.is_empty(),
        "a test trigger is not a boundary"
    );
    let all = run_acking_to(&mut sim, "2026-06-01T22:00:00Z").await;
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            // 20:00: the window starts at speed 4, already the effective state: nothing sent.
            ("2026-06-01T21:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(
        runs(&sim, id).await,
        expected_runs(&[
            ("2026-06-01T20:00:00Z", START, APPLIED),
            ("2026-06-01T21:00:00Z", END, APPLIED),
        ])
    );
    assert!(matches!(
        sim.handle
            .test_schedule(ScheduleId::generate(sim.now()))
            .await,
        Err(EngineError::NotFound { .. })
    ));
}

#[tokio::test]
async fn timeline_preview_shows_intervals_with_their_sources() {
    let sim = Sim::new("2026-06-01T06:00:00Z", &["d1"]).await;
    let a = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"12:00","fanSpeed":2}"#,
        )
        .await
        .schedule_id;
    let b = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"10:00","endTime":"11:00","fanSpeed":4}"#,
        )
        .await
        .schedule_id;
    // A disabled schedule is not in the plan.
    sim.handle
        .create_schedule(
            dev("d1"),
            rule(
                r#"{"recurrenceType":"daily","startTime":"11:30","endTime":"12:30","fanSpeed":5}"#,
            ),
            false,
        )
        .await
        .unwrap();
    let plan = sim
        .handle
        .timeline(
            dev("d1"),
            ts("2026-06-01T08:00:00Z"),
            ts("2026-06-02T09:30:00Z"),
        )
        .await
        .unwrap();
    let got: Vec<_> = plan
        .iter()
        .map(|i| {
            (
                i.start,
                i.end,
                i.fan_speed.get(),
                i.schedule_id,
                i.overlapping,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                ts("2026-06-01T09:00:00Z"),
                ts("2026-06-01T10:00:00Z"),
                2,
                a,
                1
            ),
            (
                ts("2026-06-01T10:00:00Z"),
                ts("2026-06-01T11:00:00Z"),
                4,
                b,
                2
            ),
            (
                ts("2026-06-01T11:00:00Z"),
                ts("2026-06-01T12:00:00Z"),
                2,
                a,
                1
            ),
            (
                ts("2026-06-02T09:00:00Z"),
                ts("2026-06-02T09:30:00Z"),
                2,
                a,
                1
            ),
        ]
    );
    assert!(
        sim.handle
            .timeline(
                dev("nobody"),
                ts("2026-06-01T08:00:00Z"),
                ts("2026-06-02T08:00:00Z")
            )
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn unknown_device_or_record_is_an_error_and_sends_nothing() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let ghost = dev("ghost");
    let is_unknown =
        |e: &EngineError| matches!(e, EngineError::UnknownDevice(d) if *d == dev("ghost"));
    let e = sim
        .handle
        .create_schedule(
            ghost.clone(),
            rule(
                r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
            ),
            true,
        )
        .await
        .unwrap_err();
    assert!(is_unknown(&e), "{e:?}");
    let e = sim
        .handle
        .start_pre_clean(pre_clean_request("ghost", FanMode::PreClean, 60))
        .await
        .unwrap_err();
    assert!(is_unknown(&e), "{e:?}");
    let e = sim
        .handle
        .send_command(CommandRequest {
            device_id: ghost.clone(),
            instruction: Instruction::set_fan_speed(speed(3)),
            source: MANUAL,
            idempotency_key: None,
            expires_in: None,
        })
        .await
        .unwrap_err();
    assert!(is_unknown(&e), "{e:?}");
    let e = sim
        .handle
        .cancel_pre_clean(ghost.clone())
        .await
        .unwrap_err();
    assert!(is_unknown(&e), "{e:?}");

    let now = sim.now();
    let missing_schedule = ScheduleId::generate(now);
    for e in [
        sim.handle
            .update_schedule(
                missing_schedule,
                rule(r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#),
                true,
            )
            .await
            .map(|_| ())
            .unwrap_err(),
        sim.handle
            .delete_schedule(missing_schedule)
            .await
            .map(|_| ())
            .unwrap_err(),
        sim.handle
            .test_schedule(missing_schedule)
            .await
            .map(|_| ())
            .unwrap_err(),
        sim.handle
            .delete_pre_clean(PreCleanId::generate(now))
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(matches!(e, EngineError::NotFound { .. }), "{e:?}");
    }
    assert!(sim.take_sent().is_empty());
    assert!(
        sim.store
            .schedules_for_device(&ghost)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(sim.store.active_pre_clean(&ghost).await.unwrap(), None);
}

/// Old bug: a schedule command "blocked" by a pre-clean vanished without a trace.
#[tokio::test]
async fn every_boundary_is_recorded_exactly_once_never_silently_blocked() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let a = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"10:00","fanSpeed":3}"#,
        )
        .await
        .schedule_id;
    let b = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"10:00","fanSpeed":2}"#,
        )
        .await
        .schedule_id;
    let c = sim
        .schedule(
            "d1",
            r#"{"recurrenceType":"daily","startTime":"09:30","endTime":"09:45","fanSpeed":1}"#,
        )
        .await
        .schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-06-01T09:40:00Z").await;
    start_pre_clean(&sim, "d1", FanMode::PreClean, 1500).await;
    all.extend(run_acking_to(&mut sim, "2026-06-02T12:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T09:40:00Z", "setFanSpeed", 5, PRECLEAN),
            ("2026-06-01T10:05:00Z", "turnOff", 0, RESTORE),
            ("2026-06-02T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-02T10:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(
        runs(&sim, a).await,
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, APPLIED),
            ("2026-06-01T10:00:00Z", END, MASKED_PRECLEAN),
            ("2026-06-02T09:00:00Z", START, APPLIED),
            ("2026-06-02T10:00:00Z", END, APPLIED),
        ])
    );
    let b_runs = runs(&sim, b).await;
    assert_eq!(
        b_runs[..3],
        expected_runs(&[
            ("2026-06-01T09:00:00Z", START, MASKED_HIGHER),
            ("2026-06-01T10:00:00Z", END, MASKED_PRECLEAN),
            ("2026-06-02T09:00:00Z", START, MASKED_HIGHER),
        ])[..]
    );
    assert_eq!(b_runs.len(), 4);
    assert_eq!(
        (b_runs[3].0, b_runs[3].1),
        (ts("2026-06-02T10:00:00Z"), END),
        "B's last end is recorded once (both windows ended together)"
    );
    // A and B end at the same instant: B's end turned the device off as much as A's did.
    assert!(matches!(
        b_runs[3].2,
        RunOutcome::Applied | RunOutcome::MaskedByHigherSchedule
    ));
    assert_eq!(
        runs(&sim, c).await,
        expected_runs(&[
            ("2026-06-01T09:30:00Z", START, MASKED_HIGHER),
            ("2026-06-01T09:45:00Z", END, MASKED_PRECLEAN),
            ("2026-06-02T09:30:00Z", START, MASKED_HIGHER),
            ("2026-06-02T09:45:00Z", END, MASKED_HIGHER),
        ])
    );
}

// ---- simulated weeks across DST (QUALITY.md vectors) ----

/// A device in Europe/London from Monday 2026-10-19 to Monday 2026-10-26: four schedules (two
/// overlapping pairs, one crossing midnight into the change), a manual command and four
/// pre-cleans, across the fall-back at 2026-10-25 01:00 UTC (02:00 BST → 01:00 GMT). Every command
/// is acked at once. BST is UTC+1 until the change, GMT (UTC+0) after.
#[tokio::test]
async fn simulated_week_in_london_across_the_fall_back() {
    let mut sim = Sim::new("2026-10-19T06:00:00Z", &["lon"]).await; // Monday 07:00 BST
    // S1: every night 01:00-03:00 at 1. On Sunday 25th 01:00 is ambiguous: the first (BST) one.
    let s1 = create(
        &sim,
        "lon",
        r#"{"recurrenceType":"daily","startTime":"01:00","endTime":"03:00","fanSpeed":1,"timezone":"Europe/London"}"#,
    )
    .await;
    // S2: Saturday 22:00 until Sunday 01:30 at 4 (01:30 is ambiguous on the 25th: the first one).
    let s2 = create(
        &sim,
        "lon",
        r#"{"days":["Saturday"],"startTime":"22:00","endTime":"01:30","fanSpeed":4,"timezone":"Europe/London"}"#,
    )
    .await;
    // S3: weekdays 08:00-18:00 at 3.
    let s3 = create(
        &sim,
        "lon",
        r#"{"days":["Monday","Tuesday","Wednesday","Thursday","Friday"],"startTime":"08:00","endTime":"18:00","fanSpeed":3,"timezone":"Europe/London"}"#,
    )
    .await;
    // S4: Wednesday 12:00-14:00 at 5, inside S3.
    let s4 = create(
        &sim,
        "lon",
        r#"{"day":"Wednesday","startTime":"12:00","endTime":"14:00","fanSpeed":5,"timezone":"Europe/London"}"#,
    )
    .await;
    let (s1, s2, s3, s4) = (
        s1.schedule.schedule_id,
        (s2.schedule.schedule_id, s2.overlaps),
        (s3.schedule.schedule_id, s3.overlaps),
        (s4.schedule.schedule_id, s4.overlaps),
    );
    assert_eq!(s2.1, [s1], "Sunday 00:00-00:30 UTC");
    assert!(s3.1.is_empty());
    assert_eq!(s4.1, [s3.0]);
    let (s2, s3, s4) = (s2.0, s3.0, s4.0);
    assert!(
        sim.take_sent().is_empty(),
        "nothing active at Monday 07:00 BST"
    );

    // The plan of the DST night.
    let plan: Vec<_> = sim
        .handle
        .timeline(
            dev("lon"),
            ts("2026-10-24T20:00:00Z"),
            ts("2026-10-25T04:00:00Z"),
        )
        .await
        .unwrap()
        .iter()
        .map(|i| {
            (
                i.start,
                i.end,
                i.fan_speed.get(),
                i.schedule_id,
                i.overlapping,
            )
        })
        .collect();
    assert_eq!(
        plan,
        [
            (
                ts("2026-10-24T21:00:00Z"),
                ts("2026-10-25T00:00:00Z"),
                4,
                s2,
                1
            ),
            (
                ts("2026-10-25T00:00:00Z"),
                ts("2026-10-25T00:30:00Z"),
                4,
                s2,
                2
            ),
            (
                ts("2026-10-25T00:30:00Z"),
                ts("2026-10-25T03:00:00Z"),
                1,
                s1,
                1
            ),
        ]
    );

    let mut all = run_acking_to(&mut sim, "2026-10-20T11:00:00Z").await;
    let p1 = start_pre_clean(&sim, "lon", FanMode::PreClean, 30 * 60).await; // Tue 12:00 BST
    all.extend(sim.ack_new().await);
    all.extend(run_acking_to(&mut sim, "2026-10-20T19:00:00Z").await);
    sim.fan("lon", 2).await; // Tue 20:00 BST, manual
    all.extend(sim.ack_new().await);
    all.extend(run_acking_to(&mut sim, "2026-10-22T16:50:00Z").await);
    let p2 = start_pre_clean(&sim, "lon", FanMode::Manual(speed(4)), 20 * 60).await; // Thu 17:50
    all.extend(sim.ack_new().await);
    all.extend(run_acking_to(&mut sim, "2026-10-25T01:30:00Z").await);
    // Sunday 01:30 GMT: the second 01:30 of the night.
    let p3 = start_pre_clean(&sim, "lon", FanMode::Speed(speed(2)), 10 * 60).await;
    all.extend(sim.ack_new().await);
    all.extend(run_acking_to(&mut sim, "2026-10-26T09:00:00Z").await);
    let p4 = start_pre_clean(&sim, "lon", FanMode::Auto, 5 * 60).await; // Mon 09:00 GMT, at 3
    all.extend(sim.ack_new().await);
    all.extend(run_acking_to(&mut sim, "2026-10-26T12:00:00Z").await);

    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            // Monday 19th (BST)
            ("2026-10-19T07:00:00Z", "setFanSpeed", 3, SCHEDULE), // S3 08:00
            ("2026-10-19T17:00:00Z", "turnOff", 0, SCHEDULE),     // S3 18:00
            // Tuesday 20th
            ("2026-10-20T00:00:00Z", "setFanSpeed", 1, SCHEDULE), // S1 01:00
            ("2026-10-20T02:00:00Z", "turnOff", 0, SCHEDULE),     // S1 03:00
            ("2026-10-20T07:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-10-20T11:00:00Z", "setFanSpeed", 5, PRECLEAN), // P1 12:00
            ("2026-10-20T11:30:00Z", "setFanSpeed", 3, RESTORE),  // back to S3
            ("2026-10-20T17:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-10-20T19:00:00Z", "setFanSpeed", 2, MANUAL), // held until S1 starts
            // Wednesday 21st
            ("2026-10-21T00:00:00Z", "setFanSpeed", 1, SCHEDULE),
            ("2026-10-21T02:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-10-21T07:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-10-21T11:00:00Z", "setFanSpeed", 5, SCHEDULE), // S4 12:00 wins
            ("2026-10-21T13:00:00Z", "setFanSpeed", 3, SCHEDULE), // S4 14:00, S3 again
            ("2026-10-21T17:00:00Z", "turnOff", 0, SCHEDULE),
            // Thursday 22nd
            ("2026-10-22T00:00:00Z", "setFanSpeed", 1, SCHEDULE),
            ("2026-10-22T02:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-10-22T07:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-10-22T16:50:00Z", "setFanSpeed", 4, PRECLEAN), // P2 17:50
            // 17:00 UTC: S3 ends under P2, masked.
            ("2026-10-22T17:10:00Z", "turnOff", 0, RESTORE), // to what S3's end left: off
            // Friday 23rd
            ("2026-10-23T00:00:00Z", "setFanSpeed", 1, SCHEDULE),
            ("2026-10-23T02:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-10-23T07:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-10-23T17:00:00Z", "turnOff", 0, SCHEDULE),
            // Saturday 24th
            ("2026-10-24T00:00:00Z", "setFanSpeed", 1, SCHEDULE),
            ("2026-10-24T02:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-10-24T21:00:00Z", "setFanSpeed", 4, SCHEDULE), // S2 22:00 BST
            // Sunday 25th: 00:00 UTC S1 starts (01:00 BST) under S2, masked.
            ("2026-10-25T00:30:00Z", "setFanSpeed", 1, SCHEDULE), // S2 ends 01:30 BST
            // 01:00 UTC: the clocks go back; 01:00 GMT does not start S1 again.
            ("2026-10-25T01:30:00Z", "setFanSpeed", 2, PRECLEAN), // P3 01:30 GMT
            ("2026-10-25T01:40:00Z", "setFanSpeed", 1, RESTORE),
            ("2026-10-25T03:00:00Z", "turnOff", 0, SCHEDULE), // S1 03:00 GMT
            // Monday 26th (GMT)
            ("2026-10-26T01:00:00Z", "setFanSpeed", 1, SCHEDULE),
            ("2026-10-26T03:00:00Z", "turnOff", 0, SCHEDULE),
            ("2026-10-26T08:00:00Z", "setFanSpeed", 3, SCHEDULE),
            // 09:00 P4 (AUTO = 3) and 09:05 its end: already at 3, nothing sent.
        ])
    );

    assert_eq!(
        runs(&sim, s1).await,
        expected_runs(&[
            ("2026-10-20T00:00:00Z", START, APPLIED),
            ("2026-10-20T02:00:00Z", END, APPLIED),
            ("2026-10-21T00:00:00Z", START, APPLIED),
            ("2026-10-21T02:00:00Z", END, APPLIED),
            ("2026-10-22T00:00:00Z", START, APPLIED),
            ("2026-10-22T02:00:00Z", END, APPLIED),
            ("2026-10-23T00:00:00Z", START, APPLIED),
            ("2026-10-23T02:00:00Z", END, APPLIED),
            ("2026-10-24T00:00:00Z", START, APPLIED),
            ("2026-10-24T02:00:00Z", END, APPLIED),
            ("2026-10-25T00:00:00Z", START, MASKED_HIGHER),
            ("2026-10-25T03:00:00Z", END, APPLIED),
            ("2026-10-26T01:00:00Z", START, APPLIED),
            ("2026-10-26T03:00:00Z", END, APPLIED),
        ])
    );
    assert_eq!(
        runs(&sim, s2).await,
        expected_runs(&[
            ("2026-10-24T21:00:00Z", START, APPLIED),
            ("2026-10-25T00:30:00Z", END, APPLIED),
        ])
    );
    assert_eq!(
        runs(&sim, s3).await,
        expected_runs(&[
            ("2026-10-19T07:00:00Z", START, APPLIED),
            ("2026-10-19T17:00:00Z", END, APPLIED),
            ("2026-10-20T07:00:00Z", START, APPLIED),
            ("2026-10-20T17:00:00Z", END, APPLIED),
            ("2026-10-21T07:00:00Z", START, APPLIED),
            ("2026-10-21T17:00:00Z", END, APPLIED),
            ("2026-10-22T07:00:00Z", START, APPLIED),
            ("2026-10-22T17:00:00Z", END, MASKED_PRECLEAN),
            ("2026-10-23T07:00:00Z", START, APPLIED),
            ("2026-10-23T17:00:00Z", END, APPLIED),
            ("2026-10-26T08:00:00Z", START, APPLIED),
        ])
    );
    assert_eq!(
        runs(&sim, s4).await,
        expected_runs(&[
            ("2026-10-21T11:00:00Z", START, APPLIED),
            ("2026-10-21T13:00:00Z", END, APPLIED),
        ])
    );

    // The pre-cleans' records: what each restored, and when.
    let restored = |p: &PreClean| {
        let r = p.restore.expect("restored");
        (p.status, r.at, r.target, r.source, r.command_id.is_some())
    };
    let got = [
        stored_pre_clean(&sim, p1.pre_clean.pre_clean_id)
            .await
            .unwrap(),
        stored_pre_clean(&sim, p2.pre_clean.pre_clean_id)
            .await
            .unwrap(),
        stored_pre_clean(&sim, p3.pre_clean.pre_clean_id)
            .await
            .unwrap(),
        stored_pre_clean(&sim, p4.pre_clean.pre_clean_id)
            .await
            .unwrap(),
    ];
    let completed = PreCleanStatus::Completed;
    assert_eq!(
        got.iter().map(restored).collect::<Vec<_>>(),
        [
            (
                completed,
                ts("2026-10-20T11:30:00Z"),
                Some(on(3)),
                Some(IntentSource::Schedule { schedule_id: s3 }),
                true
            ),
            (
                completed,
                ts("2026-10-22T17:10:00Z"),
                Some(FanState::OFF),
                Some(IntentSource::ScheduleEnded { schedule_id: s3 }),
                true
            ),
            (
                completed,
                ts("2026-10-25T01:40:00Z"),
                Some(on(1)),
                Some(IntentSource::Schedule { schedule_id: s1 }),
                true
            ),
            (
                completed,
                ts("2026-10-26T09:05:00Z"),
                Some(on(3)),
                Some(IntentSource::Schedule { schedule_id: s3 }),
                false
            ),
        ]
    );
    assert_eq!(p4.pre_clean.command_id, None);
    // Every command the week produced was acknowledged, once.
    for s in &all {
        let c = sim.stored(s.command_id).await;
        assert_eq!(c.status, CommandStatus::Acknowledged, "{s:?}");
        assert_eq!(c.attempts.len(), 1, "{s:?}");
    }
}

/// Europe/London springs forward at 2026-03-29 01:00 UTC (01:00 GMT → 02:00 BST). A window
/// starting in the gap (01:30) starts at the first valid instant after it (02:00 BST); a window
/// wholly inside the gap (01:10-01:50) does not exist that day. A pre-clean spans the change.
#[tokio::test]
async fn spring_forward_in_london() {
    let mut sim = Sim::new("2026-03-28T00:00:00Z", &["lon"]).await; // Saturday 00:00 GMT
    let a = create(
        &sim,
        "lon",
        r#"{"recurrenceType":"daily","startTime":"01:30","endTime":"03:00","fanSpeed":2,"timezone":"Europe/London"}"#,
    )
    .await
    .schedule
    .schedule_id;
    let b = create(
        &sim,
        "lon",
        r#"{"recurrenceType":"daily","startTime":"01:10","endTime":"01:50","fanSpeed":5,"timezone":"Europe/London"}"#,
    )
    .await;
    assert_eq!(b.overlaps, [a]);
    let b = b.schedule.schedule_id;
    let mut all = run_acking_to(&mut sim, "2026-03-29T00:50:00Z").await;
    let p = start_pre_clean(&sim, "lon", FanMode::Speed(speed(4)), 20 * 60).await;
    assert_eq!(
        p.restore_target,
        Some(Intent {
            state: FanState::OFF,
            source: IntentSource::ScheduleEnded { schedule_id: a },
            since: ts("2026-03-28T03:00:00Z")
        })
    );
    all.extend(sim.ack_new().await);
    all.extend(run_acking_to(&mut sim, "2026-03-30T12:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            // Saturday 28th (GMT = UTC)
            ("2026-03-28T01:10:00Z", "setFanSpeed", 5, SCHEDULE), // B
            // 01:30: A starts under B, masked.
            ("2026-03-28T01:50:00Z", "setFanSpeed", 2, SCHEDULE), // B ends: A
            ("2026-03-28T03:00:00Z", "turnOff", 0, SCHEDULE),
            // Sunday 29th: the pre-clean at 00:50 GMT; A's 01:30 is in the gap: 02:00 BST (01:00
            // UTC), masked by the pre-clean; B's window is wholly in the gap: none.
            ("2026-03-29T00:50:00Z", "setFanSpeed", 4, PRECLEAN),
            ("2026-03-29T01:10:00Z", "setFanSpeed", 2, RESTORE), // to A
            ("2026-03-29T02:00:00Z", "turnOff", 0, SCHEDULE),    // A ends 03:00 BST
            // Monday 30th (BST = UTC+1)
            ("2026-03-30T00:10:00Z", "setFanSpeed", 5, SCHEDULE), // B 01:10 BST
            ("2026-03-30T00:50:00Z", "setFanSpeed", 2, SCHEDULE), // B ends, A (since 00:30)
            ("2026-03-30T02:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(
        runs(&sim, a).await,
        expected_runs(&[
            ("2026-03-28T01:30:00Z", START, MASKED_HIGHER),
            ("2026-03-28T03:00:00Z", END, APPLIED),
            ("2026-03-29T01:00:00Z", START, MASKED_PRECLEAN),
            ("2026-03-29T02:00:00Z", END, APPLIED),
            ("2026-03-30T00:30:00Z", START, MASKED_HIGHER),
            ("2026-03-30T02:00:00Z", END, APPLIED),
        ])
    );
    assert_eq!(
        runs(&sim, b).await,
        expected_runs(&[
            ("2026-03-28T01:10:00Z", START, APPLIED),
            ("2026-03-28T01:50:00Z", END, APPLIED),
            ("2026-03-30T00:10:00Z", START, APPLIED),
            ("2026-03-30T00:50:00Z", END, APPLIED),
        ])
    );
}
