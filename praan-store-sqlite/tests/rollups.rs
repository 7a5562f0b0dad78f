//! Hourly rollups: statistics answered from them equal statistics computed from the raw readings
//! (random data with late readings, duplicates, purges and partial-hour edges), they are what
//! whole-hour statistics read, and a schema-1 database upgrades to them.

use std::path::Path;

use praan_core::{
    domain::{DeviceId, Metrics, PerMetric, Reading, Timestamp},
    store::{
        BucketWidth, MaintenanceRepo, MetricStats, RetentionCutoffs, Statistics, StatsQuery,
        TelemetryRepo,
    },
};
use praan_store_sqlite::SqliteStore;
use sqlx::{Connection, SqliteConnection};

/// 2025-12-27T10:00:00Z.
const T0: i64 = 1_766_829_600_000;
const HOUR: i64 = 3_600_000;
const DEVICES: [&str; 2] = ["dev-a", "dev-b"];

/// A small deterministic generator (xorshift64*), so a failure names its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo) as u64) as i64
    }

    fn value(&mut self) -> Option<f64> {
        (self.below(5) != 0).then(|| self.below(100_000) as f64 / 1000.0)
    }
}

fn id(s: &str) -> DeviceId {
    DeviceId::new(s).expect("a valid device id")
}

fn ts(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(ms).expect("a representable instant")
}

fn reading(rng: &mut Rng, device: &str, at: i64) -> Reading {
    let metrics: Metrics = PerMetric(std::array::from_fn(|_| rng.value()));
    Reading::new(id(device), ts(at), ts(at + 30), metrics, None, None).expect("a valid reading")
}

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// The same database without rollups: a copy whose spans are cleared, so every statistics query
/// of a store on it takes the raw path (what statistics were before rollups).
async fn raw_copy(store_path: &Path, dir: &Path, n: usize) -> SqliteStore {
    let copy = dir.join(format!("raw-{n}.db"));
    let mut conn = SqliteConnection::connect(&url(store_path))
        .await
        .expect("open the store's file");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "VACUUM INTO '{}'",
        copy.display()
    )))
    .execute(&mut conn)
    .await
    .expect("copy the database");
    conn.close().await.expect("close");
    let mut conn = SqliteConnection::connect(&url(&copy))
        .await
        .expect("open the copy");
    sqlx::query("UPDATE device_state SET rollup_from = NULL, rollup_until = NULL")
        .execute(&mut conn)
        .await
        .expect("clear the spans");
    sqlx::query("DELETE FROM reading_rollups")
        .execute(&mut conn)
        .await
        .expect("drop the rollups");
    conn.close().await.expect("close");
    SqliteStore::connect(&url(&copy))
        .await
        .expect("open the copy")
}

/// Asserts `got` equals `want`: exactly for 1h buckets, no buckets and sub-hour buckets (the
/// same sums in the same order); for wider buckets the averages to within rounding (a sum of
/// hourly sums is not bit for bit the sum of the readings).
fn assert_same(got: &Statistics, want: &Statistics, exact: bool, what: &str) {
    if exact {
        assert_eq!(got, want, "{what}");
        return;
    }
    assert_eq!(got.count, want.count, "{what}");
    let close = |a: &MetricStats, b: &MetricStats| {
        assert_eq!((a.count, a.min, a.max), (b.count, b.min, b.max), "{what}");
        match (a.avg, b.avg) {
            (Some(x), Some(y)) => assert!((x - y).abs() <= 1e-9 * y.abs().max(1.0), "{what}"),
            (x, y) => assert_eq!(x, y, "{what}"),
        }
    };
    for (a, b) in got.metrics.0.iter().zip(&want.metrics.0) {
        close(a, b);
    }
    let (g, w) = (got.buckets.as_deref(), want.buckets.as_deref());
    assert_eq!(g.map(<[_]>::len), w.map(<[_]>::len), "{what}");
    for (a, b) in g.unwrap_or_default().iter().zip(w.unwrap_or_default()) {
        assert_eq!((a.start, a.count), (b.start, b.count), "{what}");
        for (x, y) in a.metrics.0.iter().zip(&b.metrics.0) {
            close(x, y);
        }
    }
}

/// Compares the store with its raw copy on random ranges and every kind of bucket.
async fn check(store: &SqliteStore, path: &Path, dir: &Path, n: usize, rng: &mut Rng) {
    let raw = raw_copy(path, dir, n).await;
    let widths = [None, Some("1h"), Some("5m"), Some("2h"), Some("1d")];
    for q in 0..12 {
        let (start, end) = if q == 0 {
            (T0 - 48 * HOUR, T0 + 48 * HOUR)
        } else if q == 1 {
            (T0, T0 + 10 * HOUR)
        } else {
            let a = rng.range(T0 - 4 * HOUR, T0 + 40 * HOUR);
            (a, a + rng.range(1, 30 * HOUR))
        };
        for device in DEVICES {
            for width in widths {
                let query = StatsQuery {
                    start: ts(start),
                    end: ts(end),
                    bucket: width.map(|w| w.parse::<BucketWidth>().expect("a width")),
                };
                let got = store.statistics(&id(device), &query).await.expect("stats");
                let want = raw
                    .statistics(&id(device), &query)
                    .await
                    .expect("raw stats");
                let exact = !matches!(width, Some("2h" | "1d"));
                let what = format!("check {n}, {device}, {width:?}, [{start}, {end})");
                assert_same(&got, &want, exact, &what);
            }
        }
    }
    raw.close().await;
}

#[tokio::test]
async fn rollups_answer_like_the_raw_readings() {
    for seed in [1_u64, 7, 42] {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("store.db");
        let store = SqliteStore::connect(&url(&path)).await.expect("connect");
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut sent: Vec<Reading> = Vec::new();
        // The devices' clock moves forward batch by batch, mostly a few minutes, sometimes hours.
        let mut now = T0 - 2 * HOUR;
        for step in 0..24 {
            let mut batch = Vec::new();
            for _ in 0..rng.range(1, 60) {
                let step = if rng.below(8) == 0 { 3 * HOUR } else { 240_000 };
                now += rng.range(0, step);
                let device = DEVICES[rng.below(2) as usize];
                batch.push(reading(&mut rng, device, now));
            }
            // Late readings (into hours already rolled up, or older than any), and duplicates
            // of earlier readings and within the batch.
            for _ in 0..rng.below(4) {
                let device = DEVICES[rng.below(2) as usize];
                let at = rng.range(T0 - 4 * HOUR, now);
                batch.push(reading(&mut rng, device, at));
            }
            for _ in 0..rng.below(4) {
                if !sent.is_empty() {
                    let old = sent[rng.below(sent.len() as u64) as usize].clone();
                    batch.push(old);
                }
            }
            if let Some(first) = batch.first().cloned() {
                batch.push(first);
            }
            store.append_readings(&batch).await.expect("append");
            sent.extend(batch);
            if rng.below(5) == 0 {
                let cutoff = RetentionCutoffs {
                    readings_before: Some(ts(rng.range(T0 - 3 * HOUR, now))),
                    ..RetentionCutoffs::default()
                };
                let limit = rng.range(1, 40) as u32;
                store.purge(&cutoff, limit).await.expect("purge");
            }
            if step % 6 == 5 {
                check(&store, &path, dir.path(), step, &mut rng).await;
            }
        }
        store.close().await;
    }
}

fn hourly(start: i64, end: i64) -> StatsQuery {
    StatsQuery {
        start: ts(start),
        end: ts(end),
        bucket: Some("1h".parse().expect("1h")),
    }
}

#[tokio::test]
async fn whole_hour_statistics_read_the_rollups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let store = SqliteStore::connect(&url(&path)).await.expect("connect");
    let mut rng = Rng(99);
    // One reading a minute for five hours: four complete hours are rolled up.
    let batch: Vec<Reading> = (0..300)
        .map(|i| reading(&mut rng, "dev-a", T0 + i * 60_000))
        .collect();
    store.append_readings(&batch).await.expect("append");
    let before = store
        .statistics(&id("dev-a"), &hourly(T0, T0 + 5 * HOUR))
        .await
        .expect("stats");
    assert_eq!(before.count, 300);

    // Tamper with one rolled-up hour: whole-hour statistics show it, 5m buckets do not.
    let mut conn = SqliteConnection::connect(&url(&path)).await.expect("open");
    let rows: Vec<(i64, i64)> =
        sqlx::query_as("SELECT hour, n FROM reading_rollups WHERE device_id = 'dev-a'")
            .fetch_all(&mut conn)
            .await
            .expect("rollups");
    assert_eq!(
        rows,
        (0..4).map(|h| (T0 + h * HOUR, 60)).collect::<Vec<_>>()
    );
    sqlx::query("UPDATE reading_rollups SET n = n + 1000 WHERE hour = ?")
        .bind(T0 + HOUR)
        .execute(&mut conn)
        .await
        .expect("tamper");
    let after = store
        .statistics(&id("dev-a"), &hourly(T0, T0 + 5 * HOUR))
        .await
        .expect("stats");
    assert_eq!(after.count, 1300, "the rollup was read");
    // A range that cuts the hour reads that hour's readings instead.
    let cut = store
        .statistics(&id("dev-a"), &hourly(T0 + HOUR + 1, T0 + 2 * HOUR))
        .await
        .expect("stats");
    assert_eq!(cut.count, 59);
    let fine = StatsQuery {
        bucket: Some("5m".parse().expect("5m")),
        ..hourly(T0, T0 + 5 * HOUR)
    };
    assert_eq!(
        store
            .statistics(&id("dev-a"), &fine)
            .await
            .expect("stats")
            .count,
        300
    );
    conn.close().await.expect("close");
    store.close().await;
}

#[tokio::test]
async fn a_schema_1_database_upgrades_and_fills_its_rollups() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    let mut rng = Rng(5);
    let old: Vec<Reading> = (0..180)
        .map(|i| reading(&mut rng, "dev-a", T0 + i * 60_000))
        .collect();
    let store = SqliteStore::connect(&url(&path)).await.expect("connect");
    store.append_readings(&old).await.expect("append");
    store.close().await;
    // Back to schema 1: no rollups, no spans, migration 2 not recorded.
    let mut conn = SqliteConnection::connect(&url(&path)).await.expect("open");
    for sql in [
        "DROP TABLE reading_rollups",
        "ALTER TABLE device_state DROP COLUMN rollup_from",
        "ALTER TABLE device_state DROP COLUMN rollup_until",
        "DELETE FROM _praan_migrations WHERE version = 2",
    ] {
        sqlx::query(sql).execute(&mut conn).await.expect(sql);
    }
    conn.close().await.expect("close");

    let store = SqliteStore::connect(&url(&path)).await.expect("upgrade");
    let whole = hourly(T0, T0 + 6 * HOUR);
    let first = store.statistics(&id("dev-a"), &whole).await.expect("stats");
    assert_eq!(first.count, 180);
    let new: Vec<Reading> = (180..300)
        .map(|i| reading(&mut rng, "dev-a", T0 + i * 60_000))
        .collect();
    store.append_readings(&new).await.expect("append");
    let raw = raw_copy(&path, dir.path(), 0).await;
    let got = store.statistics(&id("dev-a"), &whole).await.expect("stats");
    let want = raw.statistics(&id("dev-a"), &whole).await.expect("raw");
    assert_eq!(got, want);
    assert_eq!(got.count, 300);
    let mut conn = SqliteConnection::connect(&url(&path)).await.expect("open");
    let hours: Vec<(i64,)> = sqlx::query_as("SELECT hour FROM reading_rollups ORDER BY hour")
        .fetch_all(&mut conn)
        .await
        .expect("rollups");
    // Hour 4 is still filling (its newest reading is the newest): it stays raw.
    assert_eq!(hours, [(T0 + 3 * HOUR,)], "filled from then on");
    conn.close().await.expect("close");
    raw.close().await;
    store.close().await;
}
