//! [`ScheduleRepo`](crate::store::ScheduleRepo): schedules and their run history.

use crate::{
    conformance::{
        checks::{assert_conflict, assert_not_found},
        fixtures::{
            MIN, at, custom_schedule, daily_schedule, id, schedule_id, schedule_run,
            weekly_schedule,
        },
    },
    domain::{Boundary, RunOutcome, Schedule, ScheduleRun},
    store::{Limit, Store},
};

fn schedule_numbers(schedules: &[Schedule]) -> Vec<u128> {
    schedules
        .iter()
        .map(|s| s.schedule_id.as_uuid().as_u128() & 0xffff)
        .collect()
}

fn run_numbers(runs: &[ScheduleRun]) -> Vec<u128> {
    runs.iter()
        .map(|r| r.run_id.as_uuid().as_u128() & 0xffff)
        .collect()
}

fn limit(n: u32) -> Limit {
    Limit::new(n).expect("valid limit")
}

/// `insert_schedule` stores a new schedule, and `get_schedule` reads it back equal for every
/// recurrence: weekly crossing midnight, daily with a duration, custom with a 5- and a 6-field
/// cron expression, active or not, in several time zones.
pub async fn insert_schedule_then_get_schedule_reads_it_back_equal(store: &dyn Store) {
    let inactive = Schedule {
        is_active: false,
        ..custom_schedule(4, "dev-2", 4_004, "0 0 */2 * * *")
    };
    let schedules = [
        weekly_schedule(1, "dev-1", 1_001),
        daily_schedule(2, "dev-1", 2_002),
        custom_schedule(3, "dev-1", 3_003, "30 9 * * Mon-Fri"),
        inactive,
    ];
    for s in &schedules {
        store.insert_schedule(s).await.expect("insert_schedule");
    }
    for s in schedules {
        let got = store
            .get_schedule(s.schedule_id)
            .await
            .expect("get_schedule");
        assert_eq!(got, Some(s));
    }
}

/// `insert_schedule` with an id already stored is `Conflict`, and the stored one is unchanged.
pub async fn insert_schedule_with_a_known_id_is_conflict(store: &dyn Store) {
    let original = weekly_schedule(1, "dev-1", 1_000);
    store
        .insert_schedule(&original)
        .await
        .expect("insert_schedule");
    let same_id = daily_schedule(1, "dev-2", 2_000);
    assert_conflict(
        store.insert_schedule(&same_id).await,
        "insert_schedule of a known id",
    );
    let got = store
        .get_schedule(original.schedule_id)
        .await
        .expect("get_schedule");
    assert_eq!(got, Some(original));
}

/// `update_schedule` replaces a stored schedule, rule included.
pub async fn update_schedule_replaces_it(store: &dyn Store) {
    let original = weekly_schedule(1, "dev-1", 1_000);
    store
        .insert_schedule(&original)
        .await
        .expect("insert_schedule");
    let updated = Schedule {
        is_active: false,
        updated_at: at(77_777),
        ..custom_schedule(1, "dev-1", 1_000, "15 7 1 * *")
    };
    store
        .update_schedule(&updated)
        .await
        .expect("update_schedule");
    let got = store
        .get_schedule(original.schedule_id)
        .await
        .expect("get_schedule");
    assert_eq!(got, Some(updated));
}

/// `update_schedule` of an unknown id is `NotFound`, and creates nothing.
pub async fn update_missing_schedule_is_not_found(store: &dyn Store) {
    let missing = weekly_schedule(404, "dev-1", 1_000);
    assert_not_found(
        store.update_schedule(&missing).await,
        "update_schedule of an unknown id",
    );
    assert_eq!(
        store
            .get_schedule(missing.schedule_id)
            .await
            .expect("get_schedule"),
        None
    );
}

/// `delete_schedule` removes the schedule from every read, and its runs stay as history.
pub async fn delete_schedule_removes_it_and_keeps_its_runs(store: &dyn Store) {
    let gone = weekly_schedule(1, "dev-1", 1_000);
    let kept = daily_schedule(2, "dev-1", 2_000);
    store.insert_schedule(&gone).await.expect("insert_schedule");
    store.insert_schedule(&kept).await.expect("insert_schedule");
    let runs = [
        schedule_run(11, 1, "dev-1", 2 * MIN),
        schedule_run(10, 1, "dev-1", MIN),
    ];
    for r in &runs {
        store.insert_run(r).await.expect("insert_run");
    }

    store
        .delete_schedule(gone.schedule_id)
        .await
        .expect("delete_schedule");
    assert_eq!(
        store
            .get_schedule(gone.schedule_id)
            .await
            .expect("get_schedule"),
        None
    );
    let listed = store
        .schedules_for_device(&id("dev-1"))
        .await
        .expect("schedules_for_device");
    assert_eq!(listed, vec![kept.clone()]);
    assert_eq!(
        store.active_schedules().await.expect("active_schedules"),
        vec![kept]
    );
    let history = store
        .runs_for_schedule(gone.schedule_id, limit(100))
        .await
        .expect("runs_for_schedule");
    assert_eq!(history, runs);
}

/// `delete_schedule` of an unknown id is `NotFound`.
pub async fn delete_missing_schedule_is_not_found(store: &dyn Store) {
    assert_not_found(
        store.delete_schedule(schedule_id(404)).await,
        "delete_schedule of an unknown id",
    );
}

/// `schedules_for_device` returns only the device's schedules, oldest `createdAt` first.
pub async fn schedules_for_device_are_oldest_created_first(store: &dyn Store) {
    let inactive = Schedule {
        is_active: false,
        ..daily_schedule(4, "dev-1", 1_000)
    };
    let schedules = [
        weekly_schedule(1, "dev-1", 2_000),
        daily_schedule(2, "dev-1", 0),
        weekly_schedule(3, "dev-10", 1_500),
        inactive,
    ];
    for s in &schedules {
        store.insert_schedule(s).await.expect("insert_schedule");
    }
    let listed = store
        .schedules_for_device(&id("dev-1"))
        .await
        .expect("schedules_for_device");
    assert_eq!(schedule_numbers(&listed), [2, 4, 1]);
    assert_eq!(listed[0], schedules[1]);
    let none = store
        .schedules_for_device(&id("dev-2"))
        .await
        .expect("schedules_for_device");
    assert_eq!(none, Vec::new());
}

/// `active_schedules` returns every schedule with `isActive`, of every device, by `createdAt`;
/// an update that deactivates one removes it.
pub async fn active_schedules_are_the_active_ones_by_created_at(store: &dyn Store) {
    let off = |s: Schedule| Schedule {
        is_active: false,
        ..s
    };
    let schedules = [
        weekly_schedule(1, "dev-1", 2_000),
        off(daily_schedule(2, "dev-1", 0)),
        weekly_schedule(3, "dev-2", 1_500),
        custom_schedule(4, "dev-3", 1_000, "0 8 * * *"),
        off(weekly_schedule(5, "dev-3", 500)),
    ];
    for s in &schedules {
        store.insert_schedule(s).await.expect("insert_schedule");
    }
    let active = store.active_schedules().await.expect("active_schedules");
    assert_eq!(schedule_numbers(&active), [4, 3, 1]);
    assert_eq!(active[0], schedules[3]);

    store
        .update_schedule(&off(weekly_schedule(1, "dev-1", 2_000)))
        .await
        .expect("update_schedule");
    let active = store.active_schedules().await.expect("active_schedules");
    assert_eq!(schedule_numbers(&active), [4, 3]);
}

/// `insert_run` stores a run and `runs_for_schedule` returns the schedule's runs equal to what
/// was written, newest `at` first (equal `at`: greater id first), at most `limit`.
pub async fn runs_for_schedule_are_newest_first_and_limited(store: &dyn Store) {
    let masked = ScheduleRun {
        boundary: Boundary::End,
        outcome: RunOutcome::MaskedByPreclean,
        command_id: None,
        ..schedule_run(3, 1, "dev-1", MIN)
    };
    let runs = [
        schedule_run(1, 1, "dev-1", 0),
        schedule_run(2, 1, "dev-1", MIN),
        masked,
        schedule_run(4, 1, "dev-1", 2 * MIN + 7),
        schedule_run(5, 2, "dev-1", 5 * MIN),
    ];
    for r in &runs {
        store.insert_run(r).await.expect("insert_run");
    }

    let all = store
        .runs_for_schedule(schedule_id(1), limit(100))
        .await
        .expect("runs_for_schedule");
    assert_eq!(
        all,
        [
            runs[3].clone(),
            runs[2].clone(),
            runs[1].clone(),
            runs[0].clone()
        ]
    );
    let two = store
        .runs_for_schedule(schedule_id(1), limit(2))
        .await
        .expect("runs_for_schedule");
    assert_eq!(run_numbers(&two), [4, 3]);
    let other = store
        .runs_for_schedule(schedule_id(2), limit(100))
        .await
        .expect("runs_for_schedule");
    assert_eq!(other, [runs[4].clone()]);
    let none = store
        .runs_for_schedule(schedule_id(404), limit(100))
        .await
        .expect("runs_for_schedule");
    assert_eq!(none, Vec::new());
}

/// `insert_run` with an id already stored is `Conflict`, and the stored run is unchanged.
pub async fn insert_run_with_a_known_id_is_conflict(store: &dyn Store) {
    let original = schedule_run(1, 1, "dev-1", MIN);
    store.insert_run(&original).await.expect("insert_run");
    let same_id = ScheduleRun {
        outcome: RunOutcome::Failed,
        ..schedule_run(1, 1, "dev-1", 2 * MIN)
    };
    assert_conflict(store.insert_run(&same_id).await, "insert_run of a known id");
    let runs = store
        .runs_for_schedule(schedule_id(1), limit(100))
        .await
        .expect("runs_for_schedule");
    assert_eq!(runs, vec![original]);
}
