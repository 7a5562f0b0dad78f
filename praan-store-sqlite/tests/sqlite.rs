//! What only SQLite has: connecting (in memory, migrations table), retention while ingesting, and
//! bad databases (corrupt, read-only, locked, full) mapped onto `StoreError` without a panic.

use std::{path::Path, time::Duration};

use praan_core::{
    domain::{Device, DeviceId, Metrics, PerMetric, Reading, Timestamp},
    store::{
        CommandRepo, DeviceRepo, MaintenanceRepo, ReadingQuery, RetentionCutoffs, StateRepo,
        StatsQuery, StoreError, TelemetryRepo,
    },
};
use praan_store_sqlite::{MIGRATIONS_TABLE, SqliteOptions, SqliteStore};
use sqlx::{Connection, SqliteConnection};

const T0: i64 = 1_766_829_600_000;

fn id(s: &str) -> DeviceId {
    DeviceId::new(s).expect("a valid device id")
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + ms).expect("a representable instant")
}

fn reading(device: &str, ms: i64) -> Reading {
    let metrics: Metrics = PerMetric([None, Some(21.5), None, None, Some(12.0), None, None, None]);
    Reading::new(id(device), at(ms), at(ms + 40), metrics, None, None).expect("a valid reading")
}

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A database file in `dir` holding `n` readings of `dev-1`, closed again.
async fn seeded(dir: &Path, n: i64) -> std::path::PathBuf {
    let path = dir.join("seeded.db");
    let store = SqliteStore::connect(&url(&path))
        .await
        .expect("create the database");
    let batch: Vec<Reading> = (0..n).map(|i| reading("dev-1", i * 1_000)).collect();
    store.append_readings(&batch).await.expect("seed readings");
    store.close().await;
    path
}

#[tokio::test]
async fn an_in_memory_database_lives_as_long_as_the_store() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let other = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let device = Device::auto_registered(id("dev-1"), at(0));
    store.insert_device(&device).await.unwrap();
    let batch: Vec<Reading> = (0..100).map(|i| reading("dev-1", i * 1_000)).collect();
    let (a, b) = tokio::join!(
        store.append_readings(&batch[..50]),
        store.append_readings(&batch[50..])
    );
    assert_eq!(a.unwrap().inserted + b.unwrap().inserted, 100);
    assert_eq!(
        store.get_device(&device.device_id).await.unwrap(),
        Some(device)
    );
    let latest = store.latest_reading(&id("dev-1")).await.unwrap();
    assert_eq!(latest, Some(batch[99].clone()));
    assert_eq!(
        other.get_device(&id("dev-1")).await.unwrap(),
        None,
        "each in-memory store is its own database"
    );
}

#[tokio::test]
async fn migrations_are_recorded_in_praans_own_table_and_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("host.db");
    // A host application's own sqlx migrations table is already there, and stays untouched.
    let mut host = SqliteConnection::connect(&format!("{}?mode=rwc", url(&path)))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT)")
        .execute(&mut host)
        .await
        .unwrap();
    sqlx::query("INSERT INTO _sqlx_migrations VALUES (1, 'the host app')")
        .execute(&mut host)
        .await
        .unwrap();

    for _ in 0..2 {
        let store = SqliteStore::connect(&url(&path)).await.unwrap();
        store.ping().await.unwrap();
        store.close().await;
    }
    let praan: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM {MIGRATIONS_TABLE} WHERE success"
    )))
    .fetch_one(&mut host)
    .await
    .unwrap();
    assert_eq!(praan, 2, "both migrations, each applied once");
    let hosts: Vec<(i64, String)> = sqlx::query_as("SELECT * FROM _sqlx_migrations")
        .fetch_all(&mut host)
        .await
        .unwrap();
    assert_eq!(hosts, [(1, "the host app".to_owned())]);
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut host)
        .await
        .unwrap();
    assert_eq!(journal, "wal");
}

/// 50,000 old readings purged in batches of 1000 by one task while another appends new batches:
/// both finish, the purge deletes exactly the old readings, and every new one is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingestion_continues_while_a_big_purge_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::connect(&url(&dir.path().join("purge.db")))
        .await
        .unwrap();
    const OLD: i64 = 50_000;
    for chunk in (0..OLD).collect::<Vec<_>>().chunks(5_000) {
        let batch: Vec<Reading> = chunk
            .iter()
            .map(|i| reading(&format!("old-{}", i % 100), i * 1_000))
            .collect();
        store.append_readings(&batch).await.unwrap();
    }
    let cutoff = RetentionCutoffs {
        readings_before: Some(at(OLD * 1_000)),
        ..RetentionCutoffs::default()
    };

    let purger = {
        let store = store.clone();
        tokio::spawn(async move {
            let (mut deleted, mut calls) = (0, 0);
            // Bounded: 50 batches are needed; a purge that stops deleting ends the loop.
            for _ in 0..200 {
                let n = store.purge(&cutoff, 1_000).await.unwrap().readings;
                calls += 1;
                assert!(n <= 1_000, "a call deletes at most one batch");
                if n == 0 {
                    break;
                }
                deleted += n;
            }
            (deleted, calls)
        })
    };
    let ingester = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut inserted = 0;
            for b in 0..100_i64 {
                let batch: Vec<Reading> = (0..100)
                    .map(|i| reading(&format!("new-{i}"), (OLD + b) * 1_000 + i))
                    .collect();
                inserted += store.append_readings(&batch).await.unwrap().inserted;
            }
            inserted
        })
    };
    let (purged, ingested) = tokio::join!(purger, ingester);
    let (deleted, calls) = purged.unwrap();
    assert_eq!(deleted, OLD as u64);
    assert!(calls >= 51, "{calls} calls");
    assert_eq!(ingested.unwrap(), 10_000);
    let stats = store
        .statistics(
            &id("new-7"),
            &StatsQuery {
                start: at(0),
                end: at(OLD * 2_000),
                bucket: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(stats.count, 100);
    let old = store
        .readings(&id("old-7"), &ReadingQuery::default())
        .await
        .unwrap();
    assert_eq!(old.items, Vec::new());
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("garbage.db");
    let garbage: Vec<u8> = (0..16_384_u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&path, garbage).unwrap();
    let err = SqliteStore::connect(&url(&path)).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("opening"), "{err}");
}

#[tokio::test]
async fn damaged_pages_are_corrupt_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(dir.path(), 5_000).await;
    // Keep the header page, overwrite every other page with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8 * 4096, "the seeded file spans pages");
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i % 251) as u8;
    }
    std::fs::write(&path, bytes).unwrap();
    let result = async {
        let store = SqliteStore::connect(&url(&path)).await?;
        store
            .readings(&id("dev-1"), &ReadingQuery::default())
            .await
            .map(drop)
    }
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[tokio::test]
async fn a_stored_value_praan_cannot_read_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("values.db");
    let store = SqliteStore::connect(&url(&path)).await.unwrap();
    let device = Device::auto_registered(id("dev-1"), at(0));
    store.insert_device(&device).await.unwrap();
    let mut raw = SqliteConnection::connect(&url(&path)).await.unwrap();
    sqlx::query("UPDATE devices SET status = 'exploded', name = ''")
        .execute(&mut raw)
        .await
        .unwrap();
    let err = store.get_device(&device.device_id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    sqlx::query(
        "INSERT INTO commands (command_id, device_id, action, value, source, status, created_at, \
         attempts) VALUES ('0190ffff-0000-7000-8000-000000000001', 'dev-1', 'setFanSpeed', 9, \
         'manual', 'pending', 0, '[]')",
    )
    .execute(&mut raw)
    .await
    .unwrap();
    let err = store.unfinished_commands().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[tokio::test]
async fn a_read_only_database_reads_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(dir.path(), 10).await;
    // Tests run as root, which ignores file permissions: open read-only through the URL.
    let store = SqliteStore::connect(&format!("{}?mode=ro", url(&path)))
        .await
        .unwrap();
    let page = store
        .readings(&id("dev-1"), &ReadingQuery::default())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 10);
    let err = store
        .append_readings(&[reading("dev-1", 99_000)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    assert!(!err.is_transient());
    let err = store
        .insert_device(&Device::auto_registered(id("dev-2"), at(0)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    let err = store.record_seen(&id("dev-1"), at(5)).await.unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
}

#[tokio::test]
async fn a_database_locked_by_another_connection_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(dir.path(), 1).await;
    let options = SqliteOptions::new().busy_timeout(Duration::from_millis(20));
    let store = SqliteStore::connect_with(&url(&path), options)
        .await
        .unwrap();
    let mut other = SqliteConnection::connect(&url(&path)).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();

    let err = store
        .append_readings(&[reading("dev-1", 5_000)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(err.is_transient());
    let err = store.record_seen(&id("dev-1"), at(1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    // Readers are not blocked by a writer in WAL mode.
    assert!(store.latest_reading(&id("dev-1")).await.unwrap().is_some());

    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    let done = store
        .append_readings(&[reading("dev-1", 5_000)])
        .await
        .unwrap();
    assert_eq!(
        done.inserted, 1,
        "the same write succeeds once the lock is gone"
    );
}

/// A full disk, simulated by capping the file at a few pages more than it has (`max_page_count`):
/// SQLITE_FULL is `ReadOnly` (retrying soon will not help), and the failed batch stores nothing.
#[tokio::test]
async fn a_full_disk_is_read_only_and_loses_no_committed_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = seeded(dir.path(), 10).await;
    let pages = std::fs::metadata(&path).unwrap().len() / 4096;
    let options = SqliteOptions::new().pragma("max_page_count", (pages + 4).to_string());
    let store = SqliteStore::connect_with(&url(&path), options)
        .await
        .unwrap();
    let mut failure = None;
    let mut stored = 10;
    for b in 0..200_i64 {
        let batch: Vec<Reading> = (0..500)
            .map(|i| {
                reading(
                    &format!("dev-{}", i % 50),
                    100_000 + b * 1_000_000 + i * 1_000,
                )
            })
            .collect();
        match store.append_readings(&batch).await {
            Ok(done) => stored += done.inserted,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("the capped database fills up within 100,000 readings");
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err:?}");
    let mut counted = 0;
    for d in 0..50 {
        let q = StatsQuery {
            start: at(-1_000_000),
            end: at(1_000_000_000),
            bucket: None,
        };
        counted += store
            .statistics(&id(&format!("dev-{d}")), &q)
            .await
            .unwrap()
            .count;
    }
    assert_eq!(
        counted, stored,
        "every committed batch is there, the failed one is not"
    );
}
