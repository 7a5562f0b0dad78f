//! [`MaintenanceRepo`](crate::store::MaintenanceRepo): retention in bounded batches, and health.

use crate::{
    conformance::{
        checks::timestamps,
        fixtures::{
            MIN, SEC, at, command_in, command_keyed, id, key, pre_clean, pre_clean_ended, reading,
            schedule_id, schedule_run,
        },
    },
    domain::{Command, CommandStatus, PreCleanStatus, Reading},
    store::{Limit, PurgeOutcome, ReadingQuery, RetentionCutoffs, Store},
};

const HOUR: i64 = 60 * MIN;

fn purged(readings: u64, commands: u64, pre_cleans: u64, runs: u64) -> PurgeOutcome {
    PurgeOutcome {
        readings,
        commands,
        pre_cleans,
        runs,
    }
}

async fn readings_of(store: &dyn Store, device: &str) -> Vec<Reading> {
    let query = ReadingQuery {
        limit: Limit::new(1000).expect("valid limit"),
        ..ReadingQuery::default()
    };
    store
        .readings(&id(device), &query)
        .await
        .expect("readings")
        .items
}

/// `purge` deletes readings whose timestamp is before the cutoff (one at the cutoff stays), at
/// most `batch` per call counted across devices: 10 old readings of two devices in batches of 4
/// go 4, 4, 2, then 0; 7 old readings in batches of 3 go 3, 3, 1, then 0.
pub async fn purge_deletes_old_readings_in_bounded_batches(store: &dyn Store) {
    let mut batch: Vec<Reading> = (0..7).map(|s| reading("dev-1", s * SEC, 1.0)).collect();
    batch.push(reading("dev-1", 10 * SEC, 1.0));
    batch.push(reading("dev-1", 11 * SEC, 1.0));
    batch.extend((0..3).map(|s| reading("dev-2", s * SEC, 2.0)));
    batch.push(reading("dev-2", 10 * SEC + 1, 2.0));
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");
    // dev-1: 7 readings before 10 s; dev-2: 3 — 10 old readings in all.
    let cutoffs = RetentionCutoffs {
        readings_before: Some(at(10 * SEC)),
        ..RetentionCutoffs::default()
    };

    let mut deleted = Vec::new();
    for _ in 0..5 {
        let outcome = store.purge(&cutoffs, 4).await.expect("purge");
        assert_eq!(
            outcome,
            purged(outcome.readings, 0, 0, 0),
            "only readings have a cutoff"
        );
        deleted.push(outcome.readings);
    }
    assert_eq!(deleted, [4, 4, 2, 0, 0]);
    assert_eq!(
        timestamps(&readings_of(store, "dev-1").await),
        [at(11 * SEC), at(10 * SEC)]
    );
    assert_eq!(
        timestamps(&readings_of(store, "dev-2").await),
        [at(10 * SEC + 1)]
    );

    let more: Vec<Reading> = (0..7).map(|s| reading("dev-3", s * SEC, 3.0)).collect();
    store.append_readings(&more).await.expect("append_readings");
    let mut deleted = Vec::new();
    for _ in 0..4 {
        deleted.push(store.purge(&cutoffs, 3).await.expect("purge").readings);
    }
    assert_eq!(deleted, [3, 3, 1, 0]);
    assert_eq!(readings_of(store, "dev-3").await, Vec::new());
}

/// `purge` deletes terminal commands created before the cutoff, never a pending or sent one
/// however old, nor one created at or after the cutoff.
pub async fn purge_deletes_terminal_commands_and_never_unfinished_ones(store: &dyn Store) {
    let rows = [
        (1, 0, CommandStatus::Acknowledged),
        (2, 0, CommandStatus::Pending),
        (3, 0, CommandStatus::Sent),
        (4, 10 * SEC, CommandStatus::Failed),
        (5, 5 * SEC, CommandStatus::Expired),
        (6, 9_999, CommandStatus::Cancelled),
        (7, 11 * SEC, CommandStatus::Timeout),
        (8, SEC, CommandStatus::Superseded),
    ];
    for (n, created, status) in rows {
        let c = command_in(n, "dev-1", created, status);
        store.insert_command(&c).await.expect("insert_command");
    }
    let cutoffs = RetentionCutoffs {
        commands_before: Some(at(10 * SEC)),
        ..RetentionCutoffs::default()
    };

    assert_eq!(
        store.purge(&cutoffs, 100).await.expect("purge"),
        purged(0, 4, 0, 0)
    );
    assert_eq!(
        store.purge(&cutoffs, 100).await.expect("purge"),
        purged(0, 0, 0, 0)
    );
    for (n, created, status) in rows {
        let c = command_in(n, "dev-1", created, status);
        let got = store.get_command(c.command_id).await.expect("get_command");
        let kept = !status.is_terminal() || created >= 10 * SEC;
        assert_eq!(
            got,
            kept.then_some(c),
            "command {n} ({status}, created {created} ms)"
        );
    }
    let unfinished = store
        .unfinished_commands()
        .await
        .expect("unfinished_commands");
    assert_eq!(unfinished.len(), 2);
}

/// Purging a command frees its idempotency key: a new command of the device may use it, and the
/// key then finds the new command.
pub async fn purge_frees_the_idempotency_key_of_a_purged_command(store: &dyn Store) {
    let old = Command {
        status: CommandStatus::Acknowledged,
        ..command_keyed(1, "dev-1", 0, "req-1")
    };
    store.insert_command(&old).await.expect("insert_command");
    let cutoffs = RetentionCutoffs {
        commands_before: Some(at(HOUR)),
        ..RetentionCutoffs::default()
    };
    assert_eq!(
        store.purge(&cutoffs, 10).await.expect("purge"),
        purged(0, 1, 0, 0)
    );
    let found = store
        .command_by_idempotency_key(&id("dev-1"), &key("req-1"))
        .await
        .expect("command_by_idempotency_key");
    assert_eq!(found, None);

    let reuse = command_keyed(2, "dev-1", 2 * HOUR, "req-1");
    store
        .insert_command(&reuse)
        .await
        .expect("the key is free again");
    let found = store
        .command_by_idempotency_key(&id("dev-1"), &key("req-1"))
        .await
        .expect("command_by_idempotency_key");
    assert_eq!(found, Some(reuse));
}

/// `purge` deletes finished pre-cleans that ended before the commands cutoff, never an active one
/// (even one whose `endsAt` has passed), nor one that ended at or after the cutoff.
pub async fn purge_deletes_finished_pre_cleans_and_never_active_ones(store: &dyn Store) {
    let overdue_active = pre_clean(1, "dev-1", -3 * HOUR, 60, PreCleanStatus::Active);
    let completed = pre_clean_ended(2, "dev-1", 10 * MIN, PreCleanStatus::Completed);
    let cancelled_late = pre_clean_ended(3, "dev-1", 2 * HOUR, PreCleanStatus::Cancelled);
    let replaced = pre_clean_ended(4, "dev-2", HOUR - 1, PreCleanStatus::Replaced);
    let at_cutoff = pre_clean_ended(5, "dev-2", HOUR, PreCleanStatus::Completed);
    for p in [
        &overdue_active,
        &completed,
        &cancelled_late,
        &replaced,
        &at_cutoff,
    ] {
        store.insert_pre_clean(p).await.expect("insert_pre_clean");
    }
    let cutoffs = RetentionCutoffs {
        commands_before: Some(at(HOUR)),
        ..RetentionCutoffs::default()
    };

    assert_eq!(
        store.purge(&cutoffs, 100).await.expect("purge"),
        purged(0, 0, 2, 0)
    );
    assert_eq!(
        store.purge(&cutoffs, 100).await.expect("purge"),
        purged(0, 0, 0, 0)
    );
    for (p, kept) in [
        (overdue_active, true),
        (completed, false),
        (cancelled_late, true),
        (replaced, false),
        (at_cutoff, true),
    ] {
        let got = store
            .get_pre_clean(p.pre_clean_id)
            .await
            .expect("get_pre_clean");
        assert_eq!(got.is_some(), kept, "{:?} ended {:?}", p.status, p.ended_at);
    }
}

/// `purge` deletes schedule runs before the runs cutoff (one at the cutoff stays), also runs of
/// deleted schedules.
pub async fn purge_deletes_old_schedule_runs(store: &dyn Store) {
    let runs = [
        schedule_run(1, 1, "dev-1", 0),
        schedule_run(2, 1, "dev-1", 5 * MIN),
        schedule_run(3, 1, "dev-1", 10 * MIN),
        schedule_run(4, 1, "dev-1", 20 * MIN),
        schedule_run(5, 2, "dev-2", MIN),
    ];
    for r in &runs {
        store.insert_run(r).await.expect("insert_run");
    }
    let cutoffs = RetentionCutoffs {
        runs_before: Some(at(10 * MIN)),
        ..RetentionCutoffs::default()
    };
    assert_eq!(
        store.purge(&cutoffs, 100).await.expect("purge"),
        purged(0, 0, 0, 3)
    );
    assert_eq!(
        store.purge(&cutoffs, 100).await.expect("purge"),
        purged(0, 0, 0, 0)
    );
    let limit = Limit::default();
    let left = store
        .runs_for_schedule(schedule_id(1), limit)
        .await
        .expect("runs_for_schedule");
    assert_eq!(left, [runs[3].clone(), runs[2].clone()]);
    let other = store
        .runs_for_schedule(schedule_id(2), limit)
        .await
        .expect("runs_for_schedule");
    assert_eq!(other, Vec::new());
}

/// `batch` bounds each kind separately: with 4 expired records of every kind and a batch of 2,
/// each call deletes 2 of each kind until none is left, and newer records stay.
pub async fn purge_bounds_each_kind_separately(store: &dyn Store) {
    for n in 0..4_i64 {
        let k = n as u128;
        store
            .append_readings(&[reading("dev-1", n * SEC, 1.0)])
            .await
            .expect("append_readings");
        let c = command_in(k + 1, "dev-1", n * SEC, CommandStatus::Acknowledged);
        store.insert_command(&c).await.expect("insert_command");
        let p = pre_clean_ended(k + 1, "dev-1", n * SEC, PreCleanStatus::Completed);
        store.insert_pre_clean(&p).await.expect("insert_pre_clean");
        store
            .insert_run(&schedule_run(k + 1, 1, "dev-1", n * SEC))
            .await
            .expect("insert_run");
    }
    let fresh = 2 * HOUR;
    store
        .append_readings(&[reading("dev-1", fresh, 1.0)])
        .await
        .expect("append_readings");
    let c = command_in(10, "dev-1", fresh, CommandStatus::Acknowledged);
    store.insert_command(&c).await.expect("insert_command");
    let p = pre_clean_ended(10, "dev-1", fresh, PreCleanStatus::Completed);
    store.insert_pre_clean(&p).await.expect("insert_pre_clean");
    store
        .insert_run(&schedule_run(10, 1, "dev-1", fresh))
        .await
        .expect("insert_run");

    let cutoffs = RetentionCutoffs {
        readings_before: Some(at(HOUR)),
        commands_before: Some(at(HOUR)),
        runs_before: Some(at(HOUR)),
    };
    assert_eq!(
        store.purge(&cutoffs, 2).await.expect("purge"),
        purged(2, 2, 2, 2)
    );
    assert_eq!(
        store.purge(&cutoffs, 2).await.expect("purge"),
        purged(2, 2, 2, 2)
    );
    assert_eq!(
        store.purge(&cutoffs, 2).await.expect("purge"),
        purged(0, 0, 0, 0)
    );

    assert_eq!(timestamps(&readings_of(store, "dev-1").await), [at(fresh)]);
    let commands = store
        .commands_for_device(&id("dev-1"), &Default::default())
        .await
        .expect("commands_for_device");
    assert_eq!(commands, vec![c]);
    let history = store
        .pre_clean_history(&id("dev-1"), Limit::default())
        .await
        .expect("pre_clean_history");
    assert_eq!(history, vec![p]);
    let runs = store
        .runs_for_schedule(schedule_id(1), Limit::default())
        .await
        .expect("runs_for_schedule");
    assert_eq!(runs, vec![schedule_run(10, 1, "dev-1", fresh)]);
}

/// A kind whose cutoff is `None` is kept: `purge` without cutoffs deletes nothing.
pub async fn purge_without_cutoffs_deletes_nothing(store: &dyn Store) {
    store
        .append_readings(&[reading("dev-1", 0, 1.0)])
        .await
        .expect("append_readings");
    let c = command_in(1, "dev-1", 0, CommandStatus::Acknowledged);
    store.insert_command(&c).await.expect("insert_command");
    let p = pre_clean_ended(1, "dev-1", 0, PreCleanStatus::Completed);
    store.insert_pre_clean(&p).await.expect("insert_pre_clean");
    let r = schedule_run(1, 1, "dev-1", 0);
    store.insert_run(&r).await.expect("insert_run");

    let none = RetentionCutoffs::default();
    assert_eq!(
        store.purge(&none, 100).await.expect("purge"),
        purged(0, 0, 0, 0)
    );
    assert_eq!(readings_of(store, "dev-1").await.len(), 1);
    assert_eq!(
        store.get_command(c.command_id).await.expect("get_command"),
        Some(c)
    );
    assert_eq!(
        store
            .get_pre_clean(p.pre_clean_id)
            .await
            .expect("get_pre_clean"),
        Some(p)
    );
    let runs = store
        .runs_for_schedule(schedule_id(1), Limit::default())
        .await
        .expect("runs_for_schedule");
    assert_eq!(runs, vec![r]);
}

/// `ping` succeeds when the backend answers, on an empty store and on one holding data.
pub async fn ping_succeeds(store: &dyn Store) {
    store.ping().await.expect("ping on an empty store");
    store
        .append_readings(&[reading("dev-1", 0, 1.0)])
        .await
        .expect("append_readings");
    store.ping().await.expect("ping");
}
