//! Crash tests in simulated time: the engine is dropped where it stands (`sim.crash()`), the clock
//! moves on while it is down, and a new engine starts from the same store (`sim.restart()`).
//! PRODUCT.md §2, §3 "Restart and catch-up", §8: no command forgotten, no override stuck, every
//! schedule boundary at most once, missed boundaries never replayed one by one.

mod support;
use support::*;

use praan_core::{
    domain::{
        AckStatus, Boundary, Command, CommandSource, CommandStatus, DEFAULT_MAX_PRE_CLEAN, FanMode,
        FanState, IntentSource, PreClean, PreCleanDuration, PreCleanId, PreCleanStatus,
        ReportedState, RunOutcome, ScheduleId, ScheduleRun, Timestamp,
    },
    engine::{PreCleanRequest, PreCleanStarted},
    store::{CommandFilter, CommandRepo, Limit, PreCleanRepo, ScheduleRepo, StateRepo},
};

// ---- small helpers (this file only) ----

async fn start_pre_clean(sim: &Sim, device: &str, mode: FanMode, seconds: u64) -> PreCleanStarted {
    sim.handle
        .start_pre_clean(PreCleanRequest {
            device_id: dev(device),
            mode,
            duration: PreCleanDuration::new(seconds, DEFAULT_MAX_PRE_CLEAN)
                .expect("a valid duration"),
        })
        .await
        .expect("the pre-clean starts")
}

async fn stored_pre_clean(sim: &Sim, id: PreCleanId) -> PreClean {
    sim.store
        .get_pre_clean(id)
        .await
        .expect("the store answers")
        .expect("the pre-clean is stored")
}

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

async fn raw_runs(sim: &Sim, id: ScheduleId) -> Vec<ScheduleRun> {
    let mut runs = sim
        .store
        .runs_for_schedule(id, Limit::new(1000).expect("a valid limit"))
        .await
        .expect("the store answers");
    runs.reverse();
    runs
}

async fn runs(sim: &Sim, id: ScheduleId) -> Vec<(Timestamp, Boundary, RunOutcome)> {
    raw_runs(sim, id)
        .await
        .into_iter()
        .map(|r| (r.at, r.boundary, r.outcome))
        .collect()
}

/// Every command of the device, oldest first.
async fn commands(sim: &Sim, device: &str) -> Vec<Command> {
    let mut all = sim
        .store
        .commands_for_device(
            &dev(device),
            &CommandFilter {
                status: None,
                limit: Limit::new(1000).expect("a valid limit"),
            },
        )
        .await
        .expect("the store answers");
    all.reverse();
    all
}

/// Every command of the device ended in one terminal status, with its completion time; returns
/// (source, status, number of publishes) per command, in the order they were first published
/// (commands created in the same millisecond have no other order).
async fn outcomes(sim: &mut Sim, device: &str) -> Vec<(CommandSource, CommandStatus, usize)> {
    let published = sim.all_sent();
    let first_publish = |c: &Command| {
        published
            .iter()
            .position(|s| s.command_id == c.command_id)
            .unwrap_or(usize::MAX)
    };
    let mut all = commands(sim, device).await;
    all.sort_by_key(|c| first_publish(c));
    for c in &all {
        assert!(
            c.status.is_terminal(),
            "{} is still {}",
            c.command_id,
            c.status
        );
        assert!(
            c.completed_at.is_some(),
            "{} has no completion time",
            c.command_id
        );
        assert_eq!(
            c.next_deadline, None,
            "{} still has a deadline",
            c.command_id
        );
    }
    all.iter()
        .map(|c| (c.source, c.status, c.attempts.len()))
        .collect()
}

/// The engine dies now; the clock reaches `at` while it is down; a new engine starts from the
/// same store. Returns what the new engine published as it started.
async fn down_until(sim: &mut Sim, at: &str) -> Vec<Sent> {
    sim.crash().await;
    sim.clock.set(ts(at));
    sim.restart().await;
    sim.take_sent()
}

const DAILY_9_TO_10_AT_2: &str =
    r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"10:00","fanSpeed":2}"#;
const DAILY_10_TO_12_AT_3: &str =
    r#"{"recurrenceType":"daily","startTime":"10:00","endTime":"12:00","fanSpeed":3}"#;

/// A device at manual speed 2 (acked) and a 10-minute PRE_CLEAN started at 10:00 whose command
/// is published but not acked yet.
async fn manual_then_pre_clean() -> (Sim, PreCleanStarted, Sent) {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    sim.fan("d1", 2).await;
    sim.ack_new().await;
    let started = start_pre_clean(&sim, "d1", FanMode::PreClean, 600).await;
    let sent = sim.take_sent();
    assert_eq!(actions(&sent), [act("setFanSpeed", 5)]);
    assert_eq!(started.pre_clean.command_id, Some(sent[0].command_id));
    let start = sent[0].clone();
    (sim, started, start)
}

// ---- a pre-clean, crashed at each step ----

#[tokio::test]
async fn pre_clean_crash_before_its_start_is_acked_restart_mid_pre_clean() {
    let (mut sim, started, start) = manual_then_pre_clean().await;
    // Down from 10:00 to 10:00:45: the start command's first 30 s wait ended while down.
    let at_restart = down_until(&mut sim, "2026-06-01T10:00:45Z").await;
    assert_eq!(
        at_restart.len(),
        1,
        "the unacked start is retried once, at restart"
    );
    assert_eq!(at_restart[0].command_id, start.command_id);
    assert_eq!(at_restart[0].raw, start.raw, "byte-identical");
    assert_eq!(at_restart[0].at, ts("2026-06-01T10:00:45Z"));
    assert!(
        down_until(&mut sim, "2026-06-01T10:00:45Z")
            .await
            .is_empty()
    );
    sim.ack(&at_restart[0], AckStatus::Success).await;
    let cmd = sim.stored(start.command_id).await;
    assert_eq!(cmd.status, CommandStatus::Acknowledged);
    assert_eq!(
        cmd.attempts
            .iter()
            .map(|a| (a.number, a.at))
            .collect::<Vec<_>>(),
        [
            (1, ts("2026-06-01T10:00:00Z")),
            (2, ts("2026-06-01T10:00:45Z"))
        ]
    );

    let after = run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await;
    assert_eq!(
        logged(&sim, &after).await,
        expected(&[("2026-06-01T10:10:00Z", "setFanSpeed", 2, RESTORE)])
    );
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(p.restore.unwrap().at, ts("2026-06-01T10:10:00Z"));
    assert_eq!(sim.all_sent().len(), 4, "manual, start, its retry, restore");
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (MANUAL, CommandStatus::Acknowledged, 1),
            (PRECLEAN, CommandStatus::Acknowledged, 2),
            (RESTORE, CommandStatus::Acknowledged, 1),
        ]
    );
}

#[tokio::test]
async fn pre_clean_crash_before_its_start_is_acked_down_past_its_end() {
    let (mut sim, started, start) = manual_then_pre_clean().await;
    let at_restart = down_until(&mut sim, "2026-06-01T10:30:00Z").await;
    assert_eq!(
        logged(&sim, &at_restart).await,
        expected(&[("2026-06-01T10:30:00Z", "setFanSpeed", 2, RESTORE)]),
        "restored once at restart; the stale start is not resent"
    );
    sim.ack(&at_restart[0], AckStatus::Success).await;
    let start_cmd = sim.stored(start.command_id).await;
    assert_eq!(start_cmd.status, CommandStatus::Superseded);
    assert_eq!(start_cmd.superseded_by, Some(at_restart[0].command_id));
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(p.ended_at, Some(ts("2026-06-01T10:30:00Z")));
    let restore = p.restore.unwrap();
    assert_eq!(restore.target, Some(on(2)));
    assert_eq!(restore.command_id, Some(at_restart[0].command_id));

    assert!(
        run_acking_to(&mut sim, "2026-06-01T12:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(sim.all_sent().len(), 3, "manual, start, restore");
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (MANUAL, CommandStatus::Acknowledged, 1),
            (PRECLEAN, CommandStatus::Superseded, 1),
            (RESTORE, CommandStatus::Acknowledged, 1),
        ]
    );
}

#[tokio::test]
async fn pre_clean_crash_mid_pre_clean_restart_before_its_end() {
    let (mut sim, started, start) = manual_then_pre_clean().await;
    sim.ack(&start, AckStatus::Success).await;
    run_acking_to(&mut sim, "2026-06-01T10:04:00Z").await;
    assert!(
        down_until(&mut sim, "2026-06-01T10:06:00Z")
            .await
            .is_empty()
    );
    assert_eq!(sim.effective("d1").await, Some(on(5)), "still overridden");
    // A second restart at the same time changes nothing.
    assert!(
        down_until(&mut sim, "2026-06-01T10:06:00Z")
            .await
            .is_empty()
    );
    let after = run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await;
    assert_eq!(
        logged(&sim, &after).await,
        expected(&[("2026-06-01T10:10:00Z", "setFanSpeed", 2, RESTORE)])
    );
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(sim.all_sent().len(), 3);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (MANUAL, CommandStatus::Acknowledged, 1),
            (PRECLEAN, CommandStatus::Acknowledged, 1),
            (RESTORE, CommandStatus::Acknowledged, 1),
        ]
    );
}

#[tokio::test]
async fn pre_clean_down_until_exactly_its_end_restores_once() {
    let (mut sim, started, start) = manual_then_pre_clean().await;
    sim.ack(&start, AckStatus::Success).await;
    run_acking_to(&mut sim, "2026-06-01T10:04:00Z").await;
    let at_restart = down_until(&mut sim, "2026-06-01T10:10:00Z").await;
    assert_eq!(
        logged(&sim, &at_restart).await,
        expected(&[("2026-06-01T10:10:00Z", "setFanSpeed", 2, RESTORE)])
    );
    // Restarted again at the same instant, before the device acked: nothing twice.
    assert!(
        down_until(&mut sim, "2026-06-01T10:10:00Z")
            .await
            .is_empty()
    );
    sim.ack(&at_restart[0], AckStatus::Success).await;
    assert!(
        down_until(&mut sim, "2026-06-01T10:10:00Z")
            .await
            .is_empty()
    );
    assert!(
        run_acking_to(&mut sim, "2026-06-01T11:00:00Z")
            .await
            .is_empty()
    );
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(p.ended_at, Some(ts("2026-06-01T10:10:00Z")));
    assert_eq!(sim.all_sent().len(), 3);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (MANUAL, CommandStatus::Acknowledged, 1),
            (PRECLEAN, CommandStatus::Acknowledged, 1),
            (RESTORE, CommandStatus::Acknowledged, 1),
        ]
    );
}

#[tokio::test]
async fn pre_clean_crash_right_after_its_restore_is_published_never_a_second_restore() {
    let (mut sim, started, start) = manual_then_pre_clean().await;
    sim.ack(&start, AckStatus::Success).await;
    run_acking_to(&mut sim, "2026-06-01T10:04:00Z").await;
    sim.advance_to(ts("2026-06-01T10:10:00Z")).await;
    let restore = sim.take_sent();
    assert_eq!(
        logged(&sim, &restore).await,
        expected(&[("2026-06-01T10:10:00Z", "setFanSpeed", 2, RESTORE)])
    );
    // Crash before the ack; restarts at the same instant and before the first ack deadline.
    assert!(
        down_until(&mut sim, "2026-06-01T10:10:00Z")
            .await
            .is_empty()
    );
    assert!(
        down_until(&mut sim, "2026-06-01T10:10:20Z")
            .await
            .is_empty()
    );
    // The deadline passes while down: the same command is retried at restart, nothing new.
    let retry = down_until(&mut sim, "2026-06-01T10:10:45Z").await;
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].command_id, restore[0].command_id);
    assert_eq!(retry[0].raw, restore[0].raw);
    // The device stays silent: the rest of the grid, then timeout, 2 min after the first publish.
    sim.advance_to(ts("2026-06-01T10:20:00Z")).await;
    let more = sim.take_sent();
    assert_eq!(
        more.iter()
            .map(|s| (s.command_id, s.at))
            .collect::<Vec<_>>(),
        [
            (restore[0].command_id, ts("2026-06-01T10:11:00Z")),
            (restore[0].command_id, ts("2026-06-01T10:11:30Z")),
        ]
    );
    let cmd = sim.stored(restore[0].command_id).await;
    assert_eq!(cmd.status, CommandStatus::Timeout);
    assert_eq!(cmd.completed_at, Some(ts("2026-06-01T10:12:00Z")));
    assert!(
        down_until(&mut sim, "2026-06-01T12:00:00Z")
            .await
            .is_empty()
    );
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(p.restore.unwrap().command_id, Some(restore[0].command_id));
    assert_eq!(sim.all_sent().len(), 6, "manual, start, restore × 4");
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (MANUAL, CommandStatus::Acknowledged, 1),
            (PRECLEAN, CommandStatus::Acknowledged, 1),
            (RESTORE, CommandStatus::Timeout, 4),
        ]
    );
}

/// Down for an hour right after the restore was published: its whole retry grid passed while
/// down, so it times out at restart (missed attempts are not replayed) — and no second restore
/// command is made.
#[tokio::test]
async fn pre_clean_restore_published_then_down_past_its_retries_times_out_without_a_second_restore()
{
    let (mut sim, started, start) = manual_then_pre_clean().await;
    sim.ack(&start, AckStatus::Success).await;
    sim.advance_to(ts("2026-06-01T10:10:00Z")).await;
    let restore = sim.take_sent();
    assert_eq!(actions(&restore), [act("setFanSpeed", 2)]);
    assert!(
        down_until(&mut sim, "2026-06-01T11:10:00Z")
            .await
            .is_empty()
    );
    let cmd = sim.stored(restore[0].command_id).await;
    assert_eq!(cmd.status, CommandStatus::Timeout);
    assert_eq!(cmd.completed_at, Some(ts("2026-06-01T11:10:00Z")));
    assert!(
        down_until(&mut sim, "2026-06-01T11:10:00Z")
            .await
            .is_empty()
    );
    sim.advance_to(ts("2026-06-01T12:00:00Z")).await;
    assert!(sim.take_sent().is_empty());
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(p.restore.unwrap().command_id, Some(restore[0].command_id));
    assert_eq!(sim.all_sent().len(), 3, "manual, start, restore");
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (MANUAL, CommandStatus::Acknowledged, 1),
            (PRECLEAN, CommandStatus::Acknowledged, 1),
            (RESTORE, CommandStatus::Timeout, 1),
        ]
    );
}

/// The start command is never acked and its retries run out while praan is down: it times out at
/// restart, the pre-clean stays active until its end, and restores once then.
#[tokio::test]
async fn pre_clean_start_never_acked_times_out_across_a_restart_and_still_restores_once() {
    let (mut sim, started, start) = manual_then_pre_clean().await;
    assert!(
        down_until(&mut sim, "2026-06-01T10:03:00Z")
            .await
            .is_empty()
    );
    let cmd = sim.stored(start.command_id).await;
    assert_eq!(cmd.status, CommandStatus::Timeout);
    assert_eq!(cmd.attempts.len(), 1);
    assert_eq!(
        sim.store
            .active_pre_clean(&dev("d1"))
            .await
            .unwrap()
            .map(|p| p.pre_clean_id),
        Some(started.pre_clean.pre_clean_id)
    );
    let after = run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await;
    assert_eq!(
        logged(&sim, &after).await,
        expected(&[("2026-06-01T10:10:00Z", "setFanSpeed", 2, RESTORE)])
    );
    assert_eq!(sim.all_sent().len(), 3);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (MANUAL, CommandStatus::Acknowledged, 1),
            (PRECLEAN, CommandStatus::Timeout, 1),
            (RESTORE, CommandStatus::Acknowledged, 1),
        ]
    );
}

/// "No override is stuck": a pre-clean whose end passed long ago while praan was down is ended at
/// restart and the device restored once, to the state it reported before the pre-clean.
#[tokio::test]
async fn pre_clean_whose_end_passed_long_ago_is_restored_once_at_restart() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    report(&sim, "d1", on(2)).await;
    let started = start_pre_clean(&sim, "d1", FanMode::Auto, 600).await;
    run_acking_to(&mut sim, "2026-06-01T10:05:00Z").await;
    let at_restart = down_until(&mut sim, "2026-06-02T09:00:00Z").await;
    assert_eq!(
        logged(&sim, &at_restart).await,
        expected(&[("2026-06-02T09:00:00Z", "setFanSpeed", 2, RESTORE)])
    );
    for _ in 0..3 {
        assert!(
            down_until(&mut sim, "2026-06-02T09:00:00Z")
                .await
                .is_empty()
        );
    }
    sim.ack(&at_restart[0], AckStatus::Success).await;
    assert!(
        run_acking_to(&mut sim, "2026-06-03T09:00:00Z")
            .await
            .is_empty()
    );
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(p.ended_at, Some(ts("2026-06-02T09:00:00Z")));
    let restore = p.restore.unwrap();
    assert_eq!(
        (restore.target, restore.source, restore.command_id),
        (
            Some(on(2)),
            Some(IntentSource::Reported),
            Some(at_restart[0].command_id)
        )
    );
    assert_eq!(sim.store.active_pre_clean(&dev("d1")).await.unwrap(), None);
    assert_eq!(sim.control("d1").await.unwrap().active_pre_clean, None);
    assert_eq!(sim.all_sent().len(), 2);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (PRECLEAN, CommandStatus::Acknowledged, 1),
            (RESTORE, CommandStatus::Acknowledged, 1),
        ]
    );
}

/// The state to restore is the one the device would be in now: a schedule window that ended while
/// praan was down (during the pre-clean) means off — one command, never the stale speed first.
#[tokio::test]
async fn pre_clean_and_its_window_both_ended_while_down_restore_once_to_off() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim.schedule("d1", DAILY_9_TO_10_AT_2).await.schedule_id;
    run_acking_to(&mut sim, "2026-06-01T09:50:00Z").await;
    let started = start_pre_clean(&sim, "d1", FanMode::PreClean, 1200).await;
    run_acking_to(&mut sim, "2026-06-01T09:55:00Z").await;
    let at_restart = down_until(&mut sim, "2026-06-01T13:00:00Z").await;
    let got: Vec<_> = at_restart
        .iter()
        .map(|s| (s.at, s.action.clone(), s.value))
        .collect();
    assert_eq!(
        got,
        [(ts("2026-06-01T13:00:00Z"), "turnOff".to_owned(), 0)],
        "one command at restart: off"
    );
    sim.ack_with(
        &at_restart[0],
        AckStatus::Success,
        Some(FanState::OFF),
        sim.now(),
    )
    .await;
    assert!(
        down_until(&mut sim, "2026-06-01T13:00:00Z")
            .await
            .is_empty()
    );
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(p.restore.unwrap().target, Some(FanState::OFF));
    let ends: Vec<_> = runs(&sim, id)
        .await
        .into_iter()
        .filter(|(_, b, _)| *b == END)
        .collect();
    assert_eq!(ends.len(), 1, "the window's end is recorded once: {ends:?}");
    assert_eq!(ends[0].0, ts("2026-06-01T13:00:00Z"));
    assert!(
        run_acking_to(&mut sim, "2026-06-01T20:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(sim.all_sent().len(), 3, "start, pre-clean, off");
    let all = outcomes(&mut sim, "d1").await;
    assert_eq!(all.len(), 3, "{all:?}");
}

/// Likewise a window that started while praan was down (during the pre-clean) and is still active
/// at restart: the restore goes straight to its speed, once.
#[tokio::test]
async fn pre_clean_ended_and_a_window_started_while_down_restore_once_to_its_speed() {
    let mut sim = Sim::new("2026-06-01T09:00:00Z", &["d1"]).await;
    let id = sim.schedule("d1", DAILY_10_TO_12_AT_3).await.schedule_id;
    report(&sim, "d1", FanState::OFF).await;
    let started = start_pre_clean(&sim, "d1", FanMode::PreClean, 1200).await;
    run_acking_to(&mut sim, "2026-06-01T09:05:00Z").await;
    let at_restart = down_until(&mut sim, "2026-06-01T10:30:00Z").await;
    let got: Vec<_> = at_restart
        .iter()
        .map(|s| (s.at, s.action.clone(), s.value))
        .collect();
    assert_eq!(
        got,
        [(ts("2026-06-01T10:30:00Z"), "setFanSpeed".to_owned(), 3)],
        "one command at restart: the window's speed"
    );
    sim.ack(&at_restart[0], AckStatus::Success).await;
    assert!(
        down_until(&mut sim, "2026-06-01T10:30:00Z")
            .await
            .is_empty()
    );
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.restore.unwrap().target, Some(on(3)));
    let starts: Vec<_> = runs(&sim, id)
        .await
        .into_iter()
        .filter(|(_, b, _)| *b == START)
        .collect();
    assert_eq!(starts.len(), 1, "{starts:?}");
    let after = run_acking_to(&mut sim, "2026-06-01T13:00:00Z").await;
    assert_eq!(
        logged(&sim, &after).await,
        expected(&[("2026-06-01T12:00:00Z", "turnOff", 0, SCHEDULE)])
    );
    assert_eq!(sim.all_sent().len(), 3, "pre-clean, window speed, off");
}

// ---- a retry cycle, crashed after each publish ----

#[tokio::test]
async fn retry_cycle_crashed_after_each_publish_with_deadlines_passing_while_down() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    let first = sim.take_sent();
    assert_eq!(first.len(), 1);
    let mut publishes = first.clone();
    // Each wait (on the grid 10:00:30, 10:01:00, 10:01:30, 10:02:00) ends while down.
    for at in [
        "2026-06-01T10:00:45Z",
        "2026-06-01T10:01:15Z",
        "2026-06-01T10:01:45Z",
    ] {
        let sent = down_until(&mut sim, at).await;
        assert_eq!(sent.len(), 1, "one retry at the restart at {at}");
        assert_eq!(sent[0].at, ts(at));
        publishes.extend(sent);
    }
    // After the fourth publish: down past its deadline, and nothing is published any more.
    assert!(
        down_until(&mut sim, "2026-06-01T10:02:15Z")
            .await
            .is_empty()
    );
    assert!(
        publishes.iter().all(|s| s.raw == first[0].raw),
        "byte-identical"
    );
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Timeout);
    assert_eq!(stored.completed_at, Some(ts("2026-06-01T10:02:15Z")));
    assert_eq!(
        stored
            .attempts
            .iter()
            .map(|a| (a.number, a.at))
            .collect::<Vec<_>>(),
        [
            (1, ts("2026-06-01T10:00:00Z")),
            (2, ts("2026-06-01T10:00:45Z")),
            (3, ts("2026-06-01T10:01:15Z")),
            (4, ts("2026-06-01T10:01:45Z")),
        ]
    );
    assert_eq!(stored.retry_count(), 3);
    // More restarts, later: still one terminal status, no publish.
    assert!(
        down_until(&mut sim, "2026-06-01T10:02:15Z")
            .await
            .is_empty()
    );
    assert!(
        down_until(&mut sim, "2026-06-01T11:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(sim.stored(cmd.command_id).await, stored);
    assert_eq!(sim.all_sent().len(), 4);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [(MANUAL, CommandStatus::Timeout, 4)]
    );
}

/// Down from just after the second publish until past the last grid point: the missed attempts
/// are not replayed; the command times out at restart after two publishes.
#[tokio::test]
async fn retry_cycle_down_past_its_last_attempt_times_out_at_restart_without_replaying() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance_to(ts("2026-06-01T10:00:30Z")).await;
    assert_eq!(sim.take_sent().len(), 2);
    assert!(
        down_until(&mut sim, "2026-06-01T10:30:00Z")
            .await
            .is_empty()
    );
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Timeout);
    assert_eq!(stored.completed_at, Some(ts("2026-06-01T10:30:00Z")));
    assert_eq!(stored.attempts.len(), 2);
    assert!(
        down_until(&mut sim, "2026-06-01T10:30:00Z")
            .await
            .is_empty()
    );
    sim.advance_to(ts("2026-06-01T11:00:00Z")).await;
    assert!(sim.take_sent().is_empty());
    assert_eq!(sim.all_sent().len(), 2);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [(MANUAL, CommandStatus::Timeout, 2)]
    );
}

#[tokio::test]
async fn retry_cycle_crashed_after_each_publish_restarting_before_each_deadline() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    let mut publishes = sim.take_sent();
    for (restart_at, deadline) in [
        ("2026-06-01T10:00:10Z", "2026-06-01T10:00:30Z"),
        ("2026-06-01T10:00:40Z", "2026-06-01T10:01:00Z"),
        ("2026-06-01T10:01:10Z", "2026-06-01T10:01:30Z"),
    ] {
        assert!(
            down_until(&mut sim, restart_at).await.is_empty(),
            "nothing before the stored deadline"
        );
        sim.advance_to(ts(deadline)).await;
        let sent = sim.take_sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0].at,
            ts(deadline),
            "retried exactly at the stored deadline"
        );
        publishes.extend(sent);
    }
    assert!(
        down_until(&mut sim, "2026-06-01T10:01:40Z")
            .await
            .is_empty()
    );
    sim.advance_to(ts("2026-06-01T10:05:00Z")).await;
    assert!(sim.take_sent().is_empty());
    assert_eq!(publishes.len(), 4);
    assert!(publishes.iter().all(|s| s.raw == publishes[0].raw));
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Timeout);
    assert_eq!(stored.completed_at, Some(ts("2026-06-01T10:02:00Z")));
    assert_eq!(sim.all_sent().len(), 4);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [(MANUAL, CommandStatus::Timeout, 4)]
    );
}

#[tokio::test]
async fn ack_after_a_restart_completes_the_recovered_command_and_a_newer_one_supersedes() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let first = sim.fan("d1", 3).await;
    let sent = sim.take_sent();
    // Retried once before the crash, then the crash; the device's ack arrives after the restart.
    sim.advance_to(ts("2026-06-01T10:00:30Z")).await;
    assert_eq!(sim.take_sent().len(), 1);
    assert!(
        down_until(&mut sim, "2026-06-01T10:00:40Z")
            .await
            .is_empty()
    );
    sim.ack(&sent[0], AckStatus::Success).await;
    let acked = sim.stored(first.command_id).await;
    assert_eq!(acked.status, CommandStatus::Acknowledged);
    // A duplicate ack after yet another restart changes nothing.
    assert!(
        down_until(&mut sim, "2026-06-01T10:00:50Z")
            .await
            .is_empty()
    );
    sim.ack(&sent[0], AckStatus::Success).await;
    assert_eq!(
        sim.stored(first.command_id).await.status,
        CommandStatus::Acknowledged
    );
    assert_eq!(
        sim.stored(first.command_id).await.completed_at,
        acked.completed_at
    );

    // An unacked command recovered at restart is superseded by a newer one.
    let second = sim.fan("d1", 4).await;
    sim.take_sent();
    assert!(
        down_until(&mut sim, "2026-06-01T10:01:00Z")
            .await
            .is_empty()
    );
    let third = sim.fan("d1", 1).await;
    let sent = sim.ack_new().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].command_id, third.command_id);
    let superseded = sim.stored(second.command_id).await;
    assert_eq!(superseded.status, CommandStatus::Superseded);
    assert_eq!(superseded.superseded_by, Some(third.command_id));
    sim.advance_to(ts("2026-06-01T10:10:00Z")).await;
    assert!(
        sim.take_sent().is_empty(),
        "the superseded command is never retried"
    );
    assert_eq!(sim.all_sent().len(), 4);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (MANUAL, CommandStatus::Acknowledged, 2),
            (MANUAL, CommandStatus::Superseded, 1),
            (MANUAL, CommandStatus::Acknowledged, 1),
        ]
    );
}

// ---- schedule windows across restarts ----

#[tokio::test]
async fn a_window_that_started_and_ended_while_down_is_not_replayed() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim.schedule("d1", DAILY_10_TO_12_AT_3).await.schedule_id;
    let day1 = run_acking_to(&mut sim, "2026-06-02T09:00:00Z").await;
    assert_eq!(
        logged(&sim, &day1).await,
        expected(&[
            ("2026-06-01T10:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T12:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    // Down over the whole of the second day's window.
    assert!(
        down_until(&mut sim, "2026-06-02T13:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        down_until(&mut sim, "2026-06-02T13:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(sim.effective("d1").await, Some(FanState::OFF));
    // The schedule survives the restarts: the third day fires normally.
    let day3 = run_acking_to(&mut sim, "2026-06-03T13:00:00Z").await;
    assert_eq!(
        logged(&sim, &day3).await,
        expected(&[
            ("2026-06-03T10:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-03T12:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(
        runs(&sim, id).await,
        expected_runs(&[
            ("2026-06-01T10:00:00Z", START, APPLIED),
            ("2026-06-01T12:00:00Z", END, APPLIED),
            ("2026-06-03T10:00:00Z", START, APPLIED),
            ("2026-06-03T12:00:00Z", END, APPLIED),
        ]),
        "the missed window is not replayed"
    );
    assert_eq!(sim.all_sent().len(), 4);
}

#[tokio::test]
async fn a_window_that_started_while_down_and_is_active_is_applied_once_at_restart() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim.schedule("d1", DAILY_10_TO_12_AT_3).await.schedule_id;
    run_acking_to(&mut sim, "2026-06-01T09:00:00Z").await;
    let at_restart = down_until(&mut sim, "2026-06-01T11:00:00Z").await;
    assert_eq!(
        logged(&sim, &at_restart).await,
        expected(&[("2026-06-01T11:00:00Z", "setFanSpeed", 3, SCHEDULE)])
    );
    // Restarting again at the same time, before and after the ack, and later: nothing twice.
    assert!(
        down_until(&mut sim, "2026-06-01T11:00:00Z")
            .await
            .is_empty()
    );
    sim.ack(&at_restart[0], AckStatus::Success).await;
    assert!(
        down_until(&mut sim, "2026-06-01T11:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        down_until(&mut sim, "2026-06-01T11:30:00Z")
            .await
            .is_empty()
    );
    let after = run_acking_to(&mut sim, "2026-06-01T13:00:00Z").await;
    assert_eq!(
        logged(&sim, &after).await,
        expected(&[("2026-06-01T12:00:00Z", "turnOff", 0, SCHEDULE)])
    );
    let recorded = raw_runs(&sim, id).await;
    assert_eq!(
        recorded
            .iter()
            .map(|r| (r.at, r.boundary, r.outcome))
            .collect::<Vec<_>>(),
        expected_runs(&[
            ("2026-06-01T11:00:00Z", START, APPLIED),
            ("2026-06-01T12:00:00Z", END, APPLIED),
        ])
    );
    assert_eq!(recorded[0].command_id, Some(at_restart[0].command_id));
    assert_eq!(sim.all_sent().len(), 2);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (SCHEDULE, CommandStatus::Acknowledged, 1),
            (SCHEDULE, CommandStatus::Acknowledged, 1),
        ]
    );
}

#[tokio::test]
async fn an_applied_window_that_ended_while_down_turns_off_once_at_restart() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim.schedule("d1", DAILY_10_TO_12_AT_3).await.schedule_id;
    run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await;
    let at_restart = down_until(&mut sim, "2026-06-01T14:00:00Z").await;
    assert_eq!(
        logged(&sim, &at_restart).await,
        expected(&[("2026-06-01T14:00:00Z", "turnOff", 0, SCHEDULE)])
    );
    sim.ack(&at_restart[0], AckStatus::Success).await;
    assert!(
        down_until(&mut sim, "2026-06-01T14:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        run_acking_to(&mut sim, "2026-06-01T20:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(
        runs(&sim, id).await,
        expected_runs(&[
            ("2026-06-01T10:00:00Z", START, APPLIED),
            ("2026-06-01T14:00:00Z", END, APPLIED),
        ])
    );
    assert_eq!(sim.all_sent().len(), 2);
}

#[tokio::test]
async fn down_from_one_window_into_the_next_sends_nothing_and_records_each_boundary_once() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim.schedule("d1", DAILY_10_TO_12_AT_3).await.schedule_id;
    run_acking_to(&mut sim, "2026-06-01T11:00:00Z").await;
    // Down from inside the first day's window into the second day's: already at its speed.
    assert!(
        down_until(&mut sim, "2026-06-02T11:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        down_until(&mut sim, "2026-06-02T11:00:00Z")
            .await
            .is_empty()
    );
    let after = run_acking_to(&mut sim, "2026-06-02T13:00:00Z").await;
    assert_eq!(
        logged(&sim, &after).await,
        expected(&[("2026-06-02T12:00:00Z", "turnOff", 0, SCHEDULE)])
    );
    let recorded = raw_runs(&sim, id).await;
    let mut keyed: Vec<_> = recorded
        .iter()
        .map(|r| (r.at, r.boundary == START))
        .collect();
    keyed.dedup();
    assert_eq!(
        keyed.len(),
        recorded.len(),
        "no boundary twice: {recorded:?}"
    );
    assert_eq!(recorded.len(), 4, "{recorded:?}");
    assert_eq!(
        (recorded[0].at, recorded[0].boundary),
        (ts("2026-06-01T10:00:00Z"), START)
    );
    // At the restart: the first window's end and the second's start, once each, with no command.
    let mut at_restart: Vec<_> = recorded[1..3]
        .iter()
        .map(|r| (r.at, r.boundary == START, r.command_id))
        .collect();
    at_restart.sort();
    assert_eq!(
        at_restart,
        [
            (ts("2026-06-02T11:00:00Z"), false, None),
            (ts("2026-06-02T11:00:00Z"), true, None),
        ]
    );
    assert_eq!(
        (recorded[3].at, recorded[3].boundary, recorded[3].outcome),
        (ts("2026-06-02T12:00:00Z"), END, APPLIED)
    );
    assert_eq!(sim.all_sent().len(), 2);
}

#[tokio::test]
async fn a_manual_override_in_a_window_survives_restarts_until_the_next_boundary() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    sim.schedule(
        "d1",
        r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
    )
    .await;
    let mut all = run_acking_to(&mut sim, "2026-06-01T10:00:00Z").await;
    sim.fan("d1", 1).await;
    all.extend(sim.ack_new().await);
    assert!(
        down_until(&mut sim, "2026-06-01T11:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        down_until(&mut sim, "2026-06-01T12:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(sim.effective("d1").await, Some(on(1)));
    all.extend(run_acking_to(&mut sim, "2026-06-01T18:00:00Z").await);
    assert_eq!(
        logged(&sim, &all).await,
        expected(&[
            ("2026-06-01T09:00:00Z", "setFanSpeed", 3, SCHEDULE),
            ("2026-06-01T10:00:00Z", "setFanSpeed", 1, MANUAL),
            ("2026-06-01T17:00:00Z", "turnOff", 0, SCHEDULE),
        ])
    );
    assert_eq!(sim.all_sent().len(), 3);
}

#[tokio::test]
async fn a_boundary_fired_just_before_a_crash_is_not_fired_again() {
    let mut sim = Sim::new("2026-06-01T08:00:00Z", &["d1"]).await;
    let id = sim.schedule("d1", DAILY_10_TO_12_AT_3).await.schedule_id;
    sim.advance_to(ts("2026-06-01T10:00:00Z")).await;
    let start = sim.take_sent();
    assert_eq!(actions(&start), [act("setFanSpeed", 3)]);
    for _ in 0..3 {
        assert!(
            down_until(&mut sim, "2026-06-01T10:00:00Z")
                .await
                .is_empty()
        );
    }
    // Its ack deadline: the same command again, never a new one.
    sim.advance_to(ts("2026-06-01T10:00:30Z")).await;
    let retry = sim.take_sent();
    assert_eq!(retry.len(), 1);
    assert_eq!(retry[0].command_id, start[0].command_id);
    sim.ack(&retry[0], AckStatus::Success).await;
    let after = run_acking_to(&mut sim, "2026-06-01T13:00:00Z").await;
    assert_eq!(
        logged(&sim, &after).await,
        expected(&[("2026-06-01T12:00:00Z", "turnOff", 0, SCHEDULE)])
    );
    assert_eq!(
        runs(&sim, id).await,
        expected_runs(&[
            ("2026-06-01T10:00:00Z", START, APPLIED),
            ("2026-06-01T12:00:00Z", END, APPLIED),
        ])
    );
    assert_eq!(sim.all_sent().len(), 3);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [
            (SCHEDULE, CommandStatus::Acknowledged, 2),
            (SCHEDULE, CommandStatus::Acknowledged, 1),
        ]
    );
    assert_eq!(
        sim.store
            .get_schedule(id)
            .await
            .unwrap()
            .map(|s| s.is_active),
        Some(true)
    );
}

/// A pre-clean whose end passes while down on a device nobody manages and that reported nothing:
/// it ends at restart and nothing is sent (there is nothing to restore to).
#[tokio::test]
async fn an_unmanaged_pre_clean_ended_while_down_ends_and_sends_nothing() {
    let mut sim = Sim::new("2026-06-01T10:00:00Z", &["d1"]).await;
    let started = start_pre_clean(&sim, "d1", FanMode::PreClean, 60).await;
    assert_eq!(started.restore_target, None);
    sim.ack_new().await;
    assert!(
        down_until(&mut sim, "2026-06-01T12:00:00Z")
            .await
            .is_empty()
    );
    let p = stored_pre_clean(&sim, started.pre_clean.pre_clean_id).await;
    assert_eq!(p.status, PreCleanStatus::Completed);
    assert_eq!(p.ended_at, Some(ts("2026-06-01T12:00:00Z")));
    let restore = p.restore.unwrap();
    assert_eq!((restore.target, restore.command_id), (None, None));
    assert_eq!(sim.store.active_pre_clean(&dev("d1")).await.unwrap(), None);
    assert!(
        down_until(&mut sim, "2026-06-01T12:00:00Z")
            .await
            .is_empty()
    );
    assert!(
        run_acking_to(&mut sim, "2026-06-01T13:00:00Z")
            .await
            .is_empty()
    );
    assert_eq!(sim.all_sent().len(), 1);
    assert_eq!(
        outcomes(&mut sim, "d1").await,
        [(PRECLEAN, CommandStatus::Acknowledged, 1)]
    );
}
