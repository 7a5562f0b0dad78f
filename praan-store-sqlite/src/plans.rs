//! `EXPLAIN QUERY PLAN` of the store's queries: each searches an index, none scans a table.

use sqlx::AssertSqlSafe;

use crate::{
    SqliteStore, commands, devices, maintenance, pre_cleans, rollups, schedules, telemetry,
};

/// The plan SQLite chooses for `sql`, one detail line per step.
async fn plan(store: &SqliteStore, sql: &str) -> Vec<String> {
    let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
        .fetch_all(store.reader.pool())
        .await
        .expect("explain");
    rows.iter()
        .map(|r| crate::columns::get::<String>(r, "detail").expect("detail"))
        .collect()
}

/// Asserts that the plan of `sql` searches `index` and scans no table.
async fn assert_uses(store: &SqliteStore, what: &str, sql: &str, index: &str) {
    let steps = plan(store, sql).await;
    let text = steps.join(" | ");
    assert!(
        steps
            .iter()
            .any(|s| s.starts_with("SEARCH") && s.contains(index)),
        "{what}: expected a SEARCH using {index}, got {text}"
    );
    assert!(
        !steps.iter().any(|s| s.starts_with("SCAN")),
        "{what}: the plan scans: {text}"
    );
}

#[tokio::test]
async fn telemetry_and_purge_queries_use_an_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("plans.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect");
    let pk = "USING PRIMARY KEY (device_id=? AND ts>? AND ts<?)";
    assert_uses(&store, "range query", telemetry::PAGE_SQL, pk).await;
    assert_uses(
        &store,
        "latest reading",
        telemetry::LATEST_SQL,
        "USING PRIMARY KEY (device_id=?)",
    )
    .await;
    assert_uses(&store, "statistics", &telemetry::STATS_SQL, pk).await;
    assert_uses(&store, "bucketed statistics", &telemetry::BUCKETS_SQL, pk).await;
    // Rollups: read, written and recomputed by primary key.
    let rk = "USING PRIMARY KEY (device_id=? AND hour>? AND hour<?)";
    assert_uses(&store, "rolled-up statistics", rollups::BUCKETS_SQL, rk).await;
    // The roll-up walks only its list of ranges, and searches readings for each.
    let roll = plan(&store, &rollups::aggregate_sql(2)).await.join(" | ");
    assert!(roll.contains(&format!("SEARCH readings {pk}")), "{roll}");
    assert!(!roll.contains("SCAN readings"), "{roll}");
    let by_device = "USING PRIMARY KEY (device_id=?)";
    assert_uses(&store, "rolled-up span", telemetry::SPAN_SQL, by_device).await;
    let update = plan(&store, &rollups::set_span_sql(2)).await.join(" | ");
    assert!(
        update.contains("device_state") && !update.contains("SCAN device_state"),
        "{update}"
    );
    assert_indexed(&store, &rollups::forget_hours_sql(2)).await;
    assert_uses(&store, "forget a device", rollups::FORGET_DEVICE, by_device).await;
    // The readings purge finds the oldest readings through their timestamp index.
    assert_uses(
        &store,
        "purge of readings",
        maintenance::PURGE_READINGS,
        "readings_by_ts",
    )
    .await;
    assert_uses(
        &store,
        "purge of commands",
        maintenance::PURGE_COMMANDS,
        "commands_finished",
    )
    .await;
    assert_uses(
        &store,
        "purge of pre-cleans",
        maintenance::PURGE_PRE_CLEANS,
        "pre_cleans_finished",
    )
    .await;
    assert_uses(
        &store,
        "purge of runs",
        maintenance::PURGE_RUNS,
        "schedule_runs_by_at",
    )
    .await;
}

/// Asserts that the plan of `sql` reads through an index: a search, or a walk of a partial index
/// that holds only the rows asked for; never a scan of a whole table.
async fn assert_indexed(store: &SqliteStore, sql: &str) {
    let steps = plan(store, sql).await;
    let text = steps.join(" | ");
    let indexed = |s: &String| {
        (s.starts_with("SEARCH") && s.contains(" USING "))
            || (s.starts_with("SCAN") && s.contains(" USING INDEX "))
            || !(s.starts_with("SEARCH") || s.starts_with("SCAN"))
            || s.contains("VALUES CLAUSE")
    };
    assert!(steps.iter().all(indexed), "{sql}: {text}");
    assert!(
        !text.contains("USE TEMP B-TREE FOR ORDER BY"),
        "{sql} sorts: {text}"
    );
}

#[tokio::test]
async fn every_other_query_uses_an_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("plans.db").display());
    let store = SqliteStore::connect(&url).await.expect("connect");
    for sql in [
        commands::BY_DEVICE_SQL,
        commands::BY_DEVICE_STATUS_SQL,
        commands::UNFINISHED_SQL,
        commands::BY_KEY_SQL,
        schedules::BY_DEVICE_SQL,
        schedules::ACTIVE_SQL,
        schedules::RUNS_SQL,
        pre_cleans::ACTIVE_OF_DEVICE_SQL,
        pre_cleans::ACTIVE_SQL,
        pre_cleans::HISTORY_SQL,
        devices::BY_STATUS_SQL,
        devices::BY_TYPE_SQL,
        devices::BY_STATUS_AND_TYPE_SQL,
        &telemetry::existing_sql(3),
    ] {
        assert_indexed(&store, sql).await;
    }
    // The partial indexes are the ones walked.
    let unfinished = plan(&store, commands::UNFINISHED_SQL).await.join(" ");
    assert!(unfinished.contains("commands_unfinished"), "{unfinished}");
    let active = plan(&store, pre_cleans::ACTIVE_SQL).await.join(" ");
    assert!(active.contains("pre_cleans_active_by_end"), "{active}");
}
