//! Inputs of the SQLite benches, and the raw sqlx baseline of PERFORMANCE.md P1.

use std::{path::Path, str::FromStr, sync::Arc};

use praan_core::domain::{DeviceId, FanSpeed, Metrics, PerMetric, Reading, Timestamp};
use praan_store_sqlite::SqliteStore;
use sqlx::{
    Arguments, AssertSqlSafe, SqlitePool,
    sqlite::{
        SqliteArguments, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
        SqliteSynchronous,
    },
};

/// A boxed error, for bench setup.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// 2025-12-27T10:00:00Z, where every workload starts.
const T0_MS: i64 = 1_766_829_600_000;

/// An endless stream of distinct, full readings (every metric, power and speed, as PRODUCT.md
/// §1's example) from `devices` devices in turn: reading `n` is device `n % devices`'s reading
/// number `n / devices`, `interval_ms` after its previous one.
#[derive(Debug)]
pub struct Workload {
    devices: Vec<DeviceId>,
    interval_ms: i64,
    next: i64,
}

impl Workload {
    /// Readings of `devices` devices (`AIR_PURIFIER_000000`, …), one per device every
    /// `interval_ms`.
    pub fn new(devices: usize, interval_ms: i64) -> Result<Self, BoxError> {
        let devices = (0..devices.max(1))
            .map(|i| DeviceId::new(&format!("AIR_PURIFIER_{i:06}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            devices,
            interval_ms,
            next: 0,
        })
    }

    /// The next `size` readings.
    pub fn next_batch(&mut self, size: usize) -> Result<Vec<Reading>, BoxError> {
        let n = i64::try_from(self.devices.len())?;
        (0..size)
            .map(|_| {
                let seq = self.next;
                self.next += 1;
                let device = self.devices[usize::try_from(seq % n)?].clone();
                let ts = T0_MS + (seq / n) * self.interval_ms;
                let wobble = (seq % 97) as f64 / 10.0;
                let metrics: Metrics = PerMetric([
                    Some(84.12),
                    Some(25.4 + wobble / 10.0),
                    Some(61.02),
                    Some(14.7 + wobble),
                    Some(36.1 + wobble),
                    Some(48.9 + wobble),
                    Some(44.3),
                    Some(31.5),
                ]);
                Ok(Reading::new(
                    device,
                    Timestamp::from_unix_millis(ts)?,
                    Timestamp::from_unix_millis(ts + 50)?,
                    metrics,
                    Some(FanSpeed::new(3)?),
                    Some(true),
                )?)
            })
            .collect()
    }
}

/// Columns of a reading row, as praan-store-sqlite's schema has them.
const READING_COLUMNS: &str = "device_id, ts, received_at, network_strength, temperature, \
     humidity, pm1, pm25, pm10, sound, voc, fan_speed, power_on";
/// Rows per statement: the same chunking as praan-store-sqlite's append.
const CHUNK_ROWS: usize = 500;

/// The P1 baseline: the same rows into the same schema with a plain batched sqlx INSERT (one
/// `BEGIN IMMEDIATE` transaction per batch, multi-row statements of 500 rows, the same pragmas
/// as praan-store-sqlite's defaults), without deduplication bookkeeping or state upserts.
#[derive(Debug)]
pub struct RawSqlite {
    pool: SqlitePool,
}

impl RawSqlite {
    /// Creates the database at `path` with praan's schema (by opening it once with
    /// [`SqliteStore`]), then opens one connection to it with the same pragmas.
    pub async fn create(path: &Path) -> Result<Self, BoxError> {
        let url = format!("sqlite://{}", path.display());
        SqliteStore::connect(&url).await?.close().await;
        let options = SqliteConnectOptions::from_str(&url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Inserts `batch` in one transaction; returns the rows inserted.
    pub async fn insert(&self, batch: &[Reading]) -> Result<u64, BoxError> {
        let mut ids: std::collections::HashMap<&str, Arc<str>> = Default::default();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut inserted = 0;
        for chunk in batch.chunks(CHUNK_ROWS) {
            let mut args = SqliteArguments::default();
            for r in chunk {
                let id = ids
                    .entry(r.device_id().as_str())
                    .or_insert_with(|| Arc::from(r.device_id().as_str()));
                args.add(Arc::clone(id))?;
                args.add(r.timestamp().unix_millis())?;
                args.add(r.received_at().unix_millis())?;
                for v in r.metrics().0 {
                    args.add(v)?;
                }
                args.add(r.fan_speed().map(|s| i64::from(s.get())))?;
                args.add(r.power_on())?;
            }
            let row = format!("({})", vec!["?"; 13].join(", "));
            let sql = format!(
                "INSERT INTO readings ({READING_COLUMNS}) VALUES {}",
                vec![row.as_str(); chunk.len()].join(", ")
            );
            inserted += sqlx::query_with(AssertSqlSafe(sql), args)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Closes the connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A multi-thread tokio runtime with two workers (the machine has two cores).
pub fn runtime() -> Result<tokio::runtime::Runtime, BoxError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}
