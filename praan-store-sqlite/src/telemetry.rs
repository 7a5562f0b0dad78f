//! [`TelemetryRepo`]: batched, deduplicating ingest with one latest-state upsert per device, range
//! queries on the primary key, and statistics computed by SQL aggregates.

use std::{
    collections::{HashMap, HashSet, hash_map::Entry},
    fmt::Write as _,
    sync::{Arc, LazyLock},
};

use async_trait::async_trait;
use praan_core::{
    domain::{DeviceId, FanSpeed, Metric, Metrics, PerMetric, Reading, ReportedState, Timestamp},
    store::{
        AppendOutcome, BucketStats, Cursor, MetricStats, Page, ReadingQuery, Statistics,
        StatsQuery, StoreError, StoreResult, TelemetryRepo,
    },
};
use sqlx::{
    AssertSqlSafe, Connection, SqliteConnection,
    sqlite::{SqliteArguments, SqliteRow},
};

use crate::{
    SqliteStore,
    columns::{get, get_opt_ts, get_ts, invalid_row, ms},
    connect::begin_write,
    error::db,
    rollups::{self, HOUR_MS, Span, hour_at_or_after, hour_of},
};

/// Columns of a reading row, in bind order.
const READING_COLUMNS: &str = "device_id, ts, received_at, network_strength, temperature, \
     humidity, pm1, pm25, pm10, sound, voc, fan_speed, power_on";
/// Placeholders per reading row.
const READING_VARS: usize = 13;
/// Placeholders per device-state row of the batch upsert: the id, the latest reading's 12
/// columns, the reported state's 3, and last seen.
const STATE_VARS: usize = 17;
/// Rows per multi-row statement: 500 readings are 6,500 placeholders, well under SQLite's limit
/// of 32,766, and large enough that a batch of 1000 is two statements.
const CHUNK_ROWS: usize = 500;
const _: () = assert!(CHUNK_ROWS * READING_VARS < 32_766 && CHUNK_ROWS * STATE_VARS < 32_766);

/// `(?, ?, …)` repeated `rows` times, `vars` placeholders each.
fn values_list(rows: usize, vars: usize) -> String {
    let mut one = String::with_capacity(vars * 3 + 2);
    one.push('(');
    for i in 0..vars {
        one.push_str(if i == 0 { "?" } else { ", ?" });
    }
    one.push(')');
    let mut out = String::with_capacity(rows * (one.len() + 2));
    for i in 0..rows {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&one);
    }
    out
}

fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT INTO readings ({READING_COLUMNS}) VALUES {} ON CONFLICT DO NOTHING",
        values_list(rows, READING_VARS)
    )
}

pub(crate) fn existing_sql(rows: usize) -> String {
    format!(
        "SELECT device_id, ts FROM readings WHERE (device_id, ts) IN (VALUES {})",
        values_list(rows, 2)
    )
}

/// The batch's latest-state upsert: each rule ("newest wins", "never lowered") is decided against
/// the stored row by the statement itself, so concurrent appends cannot lose an update.
fn upsert_state_sql(rows: usize) -> String {
    const NEWER_LATEST: &str =
        "device_state.latest_ts IS NULL OR excluded.latest_ts > device_state.latest_ts";
    const NEWER_REPORT: &str = "excluded.reported_at IS NOT NULL AND \
         (device_state.reported_at IS NULL OR excluded.reported_at > device_state.reported_at)";
    const LATER_SEEN: &str =
        "device_state.last_seen IS NULL OR excluded.last_seen > device_state.last_seen";
    let pick = |cond: &str, column: &str| {
        format!("{column} = CASE WHEN {cond} THEN excluded.{column} ELSE device_state.{column} END")
    };
    let mut sets: Vec<String> = LATEST.names().map(|c| pick(NEWER_LATEST, c)).collect();
    for c in ["reported_power", "reported_speed", "reported_at"] {
        sets.push(pick(NEWER_REPORT, c));
    }
    sets.push(pick(LATER_SEEN, "last_seen"));
    format!(
        "INSERT INTO device_state (device_id, {}, reported_power, reported_speed, reported_at, \
         last_seen) VALUES {} ON CONFLICT (device_id) DO UPDATE SET {}",
        LATEST.names().collect::<Vec<_>>().join(", "),
        values_list(rows, STATE_VARS),
        sets.join(", "),
    )
}

/// The column names of a reading's values in a row: a reading row, or the latest reading of a
/// device-state row.
pub(crate) struct ReadingColumns {
    ts: &'static str,
    received_at: &'static str,
    metrics: [&'static str; 8],
    fan_speed: &'static str,
    power_on: &'static str,
}

impl ReadingColumns {
    /// Every name, in bind order.
    fn names(&self) -> impl Iterator<Item = &'static str> {
        [self.ts, self.received_at]
            .into_iter()
            .chain(self.metrics)
            .chain([self.fan_speed, self.power_on])
    }
}

/// The columns of the `readings` table.
const READING: ReadingColumns = ReadingColumns {
    ts: "ts",
    received_at: "received_at",
    metrics: [
        "network_strength",
        "temperature",
        "humidity",
        "pm1",
        "pm25",
        "pm10",
        "sound",
        "voc",
    ],
    fan_speed: "fan_speed",
    power_on: "power_on",
};

/// The latest reading's columns in `device_state`.
pub(crate) const LATEST: ReadingColumns = ReadingColumns {
    ts: "latest_ts",
    received_at: "latest_received_at",
    metrics: [
        "latest_network_strength",
        "latest_temperature",
        "latest_humidity",
        "latest_pm1",
        "latest_pm25",
        "latest_pm10",
        "latest_sound",
        "latest_voc",
    ],
    fan_speed: "latest_fan_speed",
    power_on: "latest_power_on",
};

/// Binds a reading's 12 values (all but its device id).
fn bind_values(args: &mut Args, r: &Reading) -> StoreResult<()> {
    args.add(ms(r.timestamp()))?;
    args.add(ms(r.received_at()))?;
    for m in Metric::ALL {
        args.add(r.metric(m))?;
    }
    args.add(r.fan_speed().map(|s| i64::from(s.get())))?;
    args.add(r.power_on())?;
    Ok(())
}

/// Binds one reading's 13 values.
fn bind_reading(args: &mut Args, device: &Arc<str>, r: &Reading) -> StoreResult<()> {
    args.add(Arc::clone(device))?;
    bind_values(args, r)
}

/// A page of a device's readings, newest first: `?1` device, `?2` inclusive start, `?3`
/// exclusive end, `?4` limit.
pub(crate) const PAGE_SQL: &str = "SELECT * FROM readings WHERE device_id = ?1 AND ts >= ?2 \
     AND ts < ?3 ORDER BY ts DESC LIMIT ?4";
/// A device's newest reading.
pub(crate) const LATEST_SQL: &str =
    "SELECT * FROM readings WHERE device_id = ?1 ORDER BY ts DESC LIMIT 1";

/// sqlx arguments with encoding errors mapped (they cannot happen for these types).
struct Args(SqliteArguments);

impl Args {
    fn with_capacity(n: usize) -> Self {
        let mut a = SqliteArguments::default();
        sqlx::Arguments::reserve(&mut a, n, 0);
        Self(a)
    }

    fn add<'q, T: sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
        &mut self,
        v: T,
    ) -> StoreResult<()> {
        sqlx::Arguments::add(&mut self.0, v).map_err(|e| crate::error::encode("binding a value", e))
    }
}

/// One shared `Arc<str>` per device of a batch, so binding a row does not copy its id.
#[derive(Default)]
struct Interned<'a>(HashMap<&'a str, Arc<str>>);

impl<'a> Interned<'a> {
    fn get(&mut self, id: &'a DeviceId) -> &Arc<str> {
        self.0
            .entry(id.as_str())
            .or_insert_with(|| Arc::from(id.as_str()))
    }
}

/// Inserts `rows` with `ON CONFLICT DO NOTHING`, in chunks; returns how many were stored.
async fn insert_readings<'a>(
    conn: &mut SqliteConnection,
    rows: &[&'a Reading],
    ids: &mut Interned<'a>,
) -> StoreResult<u64> {
    let mut inserted = 0;
    for chunk in rows.chunks(CHUNK_ROWS) {
        let mut args = Args::with_capacity(chunk.len() * READING_VARS);
        for r in chunk {
            let id = Arc::clone(ids.get(r.device_id()));
            bind_reading(&mut args, &id, r)?;
        }
        let done = sqlx::query_with(AssertSqlSafe(insert_sql(chunk.len())), args.0)
            .execute(&mut *conn)
            .await
            .map_err(db("appending readings"))?;
        inserted += done.rows_affected();
    }
    Ok(inserted)
}

/// The keys among `rows` that are already stored.
async fn existing_keys(
    conn: &mut SqliteConnection,
    rows: &[&Reading],
) -> StoreResult<HashSet<(String, i64)>> {
    let mut found = HashSet::new();
    for chunk in rows.chunks(CHUNK_ROWS) {
        let mut args = Args::with_capacity(chunk.len() * 2);
        for r in chunk {
            args.add(r.device_id().as_str())?;
            args.add(ms(r.timestamp()))?;
        }
        let stored = sqlx::query_with(AssertSqlSafe(existing_sql(chunk.len())), args.0)
            .fetch_all(&mut *conn)
            .await
            .map_err(db("looking up stored readings"))?;
        for row in &stored {
            found.insert((get::<String>(row, "device_id")?, get::<i64>(row, "ts")?));
        }
    }
    Ok(found)
}

/// What one batch changes in one device's state.
struct StateDelta<'a> {
    latest: &'a Reading,
    reported: Option<ReportedState>,
    seen: Timestamp,
}

/// One delta per device, from the readings stored now (never from a skipped duplicate).
fn state_deltas<'a>(stored: &[&'a Reading]) -> Vec<StateDelta<'a>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut deltas: Vec<StateDelta<'a>> = Vec::new();
    for &r in stored {
        match index.entry(r.device_id().as_str()) {
            Entry::Vacant(slot) => {
                slot.insert(deltas.len());
                deltas.push(StateDelta {
                    latest: r,
                    reported: r.reported_state(),
                    seen: r.received_at(),
                });
            }
            Entry::Occupied(slot) => {
                let d = &mut deltas[*slot.get()];
                if r.timestamp() > d.latest.timestamp() {
                    d.latest = r;
                }
                if let Some(rep) = r.reported_state()
                    && d.reported.is_none_or(|e| rep.at > e.at)
                {
                    d.reported = Some(rep);
                }
                d.seen = d.seen.max(r.received_at());
            }
        }
    }
    deltas
}

/// Upserts the batch's device states, and returns the connection's `PRAGMA data_version` (for
/// the rollups' cache), read by the first statement in the same round trip; `None` when there
/// is nothing to upsert.
async fn upsert_states<'a>(
    conn: &mut SqliteConnection,
    deltas: &[StateDelta<'a>],
    ids: &mut Interned<'a>,
) -> StoreResult<Option<i64>> {
    let mut version = None;
    for chunk in deltas.chunks(CHUNK_ROWS) {
        let mut args = Args::with_capacity(chunk.len() * STATE_VARS);
        for d in chunk {
            args.add(Arc::clone(ids.get(d.latest.device_id())))?;
            bind_values(&mut args, d.latest)?;
            args.add(d.reported.map(|r| r.state.power_on))?;
            args.add(d.reported.map(|r| i64::from(r.state.fan_speed.get())))?;
            args.add(d.reported.map(|r| ms(r.at)))?;
            args.add(ms(d.seen))?;
        }
        let context = "updating device states after an append";
        let sql = upsert_state_sql(chunk.len());
        if version.is_none() {
            // Two statements, one round trip: the pragma's row is the only row.
            let sql = format!("PRAGMA data_version; {sql}");
            let rows = sqlx::query_with(AssertSqlSafe(sql), args.0)
                .fetch_all(&mut *conn)
                .await
                .map_err(db(context))?;
            let row = rows
                .first()
                .ok_or_else(|| invalid_row("data version", "no row"))?;
            version = Some(
                sqlx::Row::try_get::<i64, _>(row, 0).map_err(|e| invalid_row("data version", e))?,
            );
        } else {
            sqlx::query_with(AssertSqlSafe(sql), args.0)
                .execute(&mut *conn)
                .await
                .map_err(db(context))?;
        }
    }
    Ok(version)
}

/// The reading whose values are in `columns` of `row`, or `None` when its timestamp is NULL (a
/// device state without a reading yet).
pub(crate) fn reading_from_columns(
    row: &SqliteRow,
    columns: &ReadingColumns,
    device: &DeviceId,
) -> StoreResult<Option<Reading>> {
    let Some(ts) = get_opt_ts(row, columns.ts)? else {
        return Ok(None);
    };
    let mut metrics = Metrics::default();
    for (m, column) in Metric::ALL.into_iter().zip(columns.metrics) {
        metrics[m] = get(row, column)?;
    }
    let fan_speed = get::<Option<i64>>(row, columns.fan_speed)?
        .map(|n| {
            u8::try_from(n)
                .map_err(|e| invalid_row("reading", e))
                .and_then(|n| FanSpeed::new(n).map_err(|e| invalid_row("reading", e)))
        })
        .transpose()?;
    Reading::new(
        device.clone(),
        ts,
        get_ts(row, columns.received_at)?,
        metrics,
        fan_speed,
        get(row, columns.power_on)?,
    )
    .map(Some)
    .map_err(|e| invalid_row("reading", e))
}

fn reading_from_row(row: &SqliteRow, device: &DeviceId) -> StoreResult<Reading> {
    reading_from_columns(row, &READING, device)?
        .ok_or_else(|| invalid_row("reading", "the timestamp is NULL"))
}

/// The aggregate columns of a statistics query: `n`, and per metric `c{i}`, `mn{i}`, `mx{i}`,
/// `s{i}` (count, min, max, sum).
static AGGREGATES: LazyLock<String> = LazyLock::new(|| {
    let mut s = String::from("COUNT(*) AS n");
    for (i, m) in Metric::ALL.iter().enumerate() {
        let c = m.column();
        let _ = write!(
            s,
            ", COUNT({c}) AS c{i}, MIN({c}) AS mn{i}, MAX({c}) AS mx{i}, SUM({c}) AS s{i}"
        );
    }
    s
});

pub(crate) static STATS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM readings WHERE device_id = ?1 AND ts >= ?2 AND ts < ?3",
        *AGGREGATES
    )
});

/// Buckets aligned to the epoch: `ts - (ts mod w)` with a floored modulo, so instants before 1970
/// fall in the bucket that starts before them.
pub(crate) static BUCKETS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT ts - (((ts % ?4) + ?4) % ?4) AS bucket, {} FROM readings \
         WHERE device_id = ?1 AND ts >= ?2 AND ts < ?3 GROUP BY bucket ORDER BY bucket",
        *AGGREGATES
    )
});

/// Count, min, max and sum of every metric, as one row holds them.
#[derive(Clone, Copy, Default)]
struct Sums {
    count: u64,
    min: Option<f64>,
    max: Option<f64>,
    sum: f64,
}

impl Sums {
    fn merge(&mut self, o: Sums) {
        self.count += o.count;
        self.min = match (self.min, o.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, o.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.sum += o.sum;
    }

    fn stats(self) -> MetricStats {
        if self.count == 0 {
            return MetricStats::default();
        }
        MetricStats {
            count: self.count,
            min: self.min,
            max: self.max,
            avg: Some(self.sum / self.count as f64),
        }
    }
}

const COUNT_COLUMNS: [&str; 8] = ["c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"];
const MIN_COLUMNS: [&str; 8] = ["mn0", "mn1", "mn2", "mn3", "mn4", "mn5", "mn6", "mn7"];
const MAX_COLUMNS: [&str; 8] = ["mx0", "mx1", "mx2", "mx3", "mx4", "mx5", "mx6", "mx7"];
const SUM_COLUMNS: [&str; 8] = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"];

fn count(row: &SqliteRow, column: &'static str) -> StoreResult<u64> {
    let n: i64 = get(row, column)?;
    u64::try_from(n).map_err(|e| invalid_row("statistics row", e))
}

fn sums_from_row(row: &SqliteRow) -> StoreResult<(u64, PerMetric<Sums>)> {
    let mut out = PerMetric::<Sums>::default();
    for m in Metric::ALL {
        let i = m.index();
        out[m] = Sums {
            count: count(row, COUNT_COLUMNS[i])?,
            min: get(row, MIN_COLUMNS[i])?,
            max: get(row, MAX_COLUMNS[i])?,
            sum: get::<Option<f64>>(row, SUM_COLUMNS[i])?.unwrap_or(0.0),
        };
    }
    Ok((count(row, "n")?, out))
}

/// A bucket row of [`BUCKETS_SQL`], read by position (`bucket`, `n`, then per metric count, min,
/// max, sum): tens of thousands of rows per query.
fn bucket_from_row(row: &SqliteRow) -> StoreResult<BucketRow> {
    fn at<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
        row: &'r SqliteRow,
        i: usize,
    ) -> StoreResult<T> {
        sqlx::Row::try_get(row, i).map_err(|e| invalid_row("statistics row", e))
    }
    let n = |i| -> StoreResult<u64> {
        u64::try_from(at::<i64>(row, i)?).map_err(|e| invalid_row("statistics row", e))
    };
    let mut out = PerMetric::<Sums>::default();
    for m in Metric::ALL {
        let i = 2 + 4 * m.index();
        out[m] = Sums {
            count: n(i)?,
            min: at(row, i + 1)?,
            max: at(row, i + 2)?,
            sum: at::<Option<f64>>(row, i + 3)?.unwrap_or(0.0),
        };
    }
    Ok((at(row, 0)?, n(1)?, out))
}

/// An hour of [`rollups::BUCKETS_SQL`]: `bucket`, `n`, `data`.
fn rollup_bucket_from_row(row: &SqliteRow) -> StoreResult<BucketRow> {
    let bucket: i64 = sqlx::Row::try_get(row, 0).map_err(|e| invalid_row("rollup", e))?;
    let n: i64 = sqlx::Row::try_get(row, 1).map_err(|e| invalid_row("rollup", e))?;
    let data: &[u8] = sqlx::Row::try_get(row, 2).map_err(|e| invalid_row("rollup", e))?;
    let aggregates = rollups::decode(data)
        .ok_or_else(|| invalid_row("rollup", "its data has a wrong length"))?;
    let sums = PerMetric::from_fn(|m| {
        let a = aggregates[m.index()];
        Sums {
            count: u64::try_from(a.count).unwrap_or(0),
            min: a.min,
            max: a.max,
            sum: a.sum,
        }
    });
    let n = u64::try_from(n).map_err(|e| invalid_row("rollup", e))?;
    Ok((bucket, n, sums))
}

fn to_stats(sums: &PerMetric<Sums>) -> PerMetric<MetricStats> {
    PerMetric::from_fn(|m| sums[m].stats())
}

/// One bucket's start, readings and per-metric sums.
type BucketRow = (i64, u64, PerMetric<Sums>);

/// The device's rolled-up span.
pub(crate) const SPAN_SQL: &str =
    "SELECT rollup_from, rollup_until FROM device_state WHERE device_id = ?1";

/// Appends the buckets of `sql` (raw or rolled-up rows) over `[from, until)` to `out`, merging a
/// bucket that continues the last one (a bucket wider than an hour split between raw edges and
/// rolled-up hours).
async fn fetch_buckets(
    conn: &mut SqliteConnection,
    sql: &'static str,
    decode: fn(&SqliteRow) -> StoreResult<BucketRow>,
    (device, from, until, width): (&str, i64, i64, i64),
    out: &mut Vec<BucketRow>,
) -> StoreResult<()> {
    if from >= until {
        return Ok(());
    }
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(device)
        .bind(from)
        .bind(until)
        .bind(width)
        .fetch_all(&mut *conn)
        .await
        .map_err(db("computing statistics"))?;
    out.reserve(rows.len());
    for row in &rows {
        let (bucket, n, sums) = decode(row)?;
        match out.last_mut() {
            Some((last, count, acc)) if *last == bucket => {
                *count += n;
                for m in Metric::ALL {
                    acc[m].merge(sums[m]);
                }
            }
            _ => out.push((bucket, n, sums)),
        }
    }
    Ok(())
}

/// The non-empty buckets of `width` ms over `[start, end)`, oldest first. When the width is a
/// whole number of hours, the whole hours inside the range that are rolled up come from
/// `reading_rollups` and only the edges from `readings`; all in one read transaction, so one
/// snapshot.
async fn bucket_rows(
    conn: &mut SqliteConnection,
    device: &str,
    start: i64,
    end: i64,
    width: i64,
) -> StoreResult<Vec<BucketRow>> {
    let context = "computing statistics";
    let mut tx = conn.begin().await.map_err(db(context))?;
    let span = if width % HOUR_MS == 0 {
        sqlx::query(SPAN_SQL)
            .bind(device)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db(context))?
            .as_ref()
            .map(Span::from_row)
            .transpose()?
            .flatten()
    } else {
        None
    };
    let full = span
        .map(|s| {
            (
                hour_at_or_after(start).max(s.from),
                hour_of(end).min(s.until),
            )
        })
        .filter(|(a, b)| a < b);
    let mut out = Vec::new();
    let raw = BUCKETS_SQL.as_str();
    match full {
        Some((a, b)) => {
            fetch_buckets(
                &mut tx,
                raw,
                bucket_from_row,
                (device, start, a, width),
                &mut out,
            )
            .await?;
            let rolled = rollups::BUCKETS_SQL;
            let decode = rollup_bucket_from_row;
            fetch_buckets(&mut tx, rolled, decode, (device, a, b, width), &mut out).await?;
            fetch_buckets(
                &mut tx,
                raw,
                bucket_from_row,
                (device, b, end, width),
                &mut out,
            )
            .await?;
        }
        None => {
            fetch_buckets(
                &mut tx,
                raw,
                bucket_from_row,
                (device, start, end, width),
                &mut out,
            )
            .await?
        }
    }
    tx.commit().await.map_err(db(context))?;
    Ok(out)
}

#[async_trait]
impl TelemetryRepo for SqliteStore {
    async fn append_readings(&self, readings: &[Reading]) -> StoreResult<AppendOutcome> {
        if readings.is_empty() {
            return Ok(AppendOutcome::default());
        }
        // The first of each (device, timestamp) in the batch; the others are duplicates.
        let mut keys: HashSet<(&str, i64)> = HashSet::with_capacity(readings.len());
        let fresh: Vec<&Reading> = readings
            .iter()
            .filter(|r| keys.insert((r.device_id().as_str(), ms(r.timestamp()))))
            .collect();
        let mut ids = Interned::default();

        let context = "appending readings";
        let spans = &self.spans;
        let inserted = self
            .writer
            .run_store(context, async |c| {
                let mut tx = begin_write(c, context).await?;
                let inserted = insert_readings(&mut tx, &fresh, &mut ids).await?;
                let stored: Vec<&Reading> = if inserted == fresh.len() as u64 {
                    fresh
                } else {
                    // Some were stored before (a redelivery): redo the batch knowing which, so that a
                    // skipped duplicate changes no state. We hold the write lock from the lookup on.
                    tx.rollback().await.map_err(db(context))?;
                    tx = begin_write(c, context).await?;
                    let existing = existing_keys(&mut tx, &fresh).await?;
                    let new: Vec<&Reading> = fresh
                        .into_iter()
                        .filter(|r| {
                            !existing
                                .contains(&(r.device_id().as_str().to_owned(), ms(r.timestamp())))
                        })
                        .collect();
                    let inserted = insert_readings(&mut tx, &new, &mut ids).await?;
                    if inserted != new.len() as u64 {
                        return Err(StoreError::Backend {
                            context: context.into(),
                            source: format!(
                                "{inserted} of {} readings looked up as new were stored",
                                new.len()
                            )
                            .into(),
                        });
                    }
                    new
                };
                let version = upsert_states(&mut tx, &state_deltas(&stored), &mut ids).await?;
                let cached = match version {
                    Some(v) => Some(rollups::maintain(&mut tx, spans, &stored, v).await?),
                    None => None,
                };
                tx.commit().await.map_err(db(context))?;
                if let Some(cached) = cached {
                    cached.keep();
                }
                Ok(stored.len() as u64)
            })
            .await?;
        Ok(AppendOutcome {
            inserted,
            duplicates: readings.len() as u64 - inserted,
        })
    }

    async fn readings(&self, id: &DeviceId, query: &ReadingQuery) -> StoreResult<Page<Reading>> {
        let start = query.range.start.map_or(i64::MIN, ms);
        let upper = match (query.range.end, query.cursor.map(Cursor::timestamp)) {
            (Some(e), Some(c)) => Some(e.min(c)),
            (e, c) => e.or(c),
        };
        let limit = query.limit.get() as usize;
        let rows = self
            .reader
            .run("reading a page of readings", async |c| {
                sqlx::query(PAGE_SQL)
                    .bind(id.as_str())
                    .bind(start)
                    .bind(upper.map_or(i64::MAX, ms))
                    .bind(limit as i64 + 1)
                    .fetch_all(c)
                    .await
            })
            .await?;
        let mut items = rows
            .iter()
            .map(|row| reading_from_row(row, id))
            .collect::<StoreResult<Vec<_>>>()?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| Cursor::before(r.timestamp()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn latest_reading(&self, id: &DeviceId) -> StoreResult<Option<Reading>> {
        let row = self
            .reader
            .run("reading the latest reading", async |c| {
                sqlx::query(LATEST_SQL)
                    .bind(id.as_str())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(|r| reading_from_row(r, id)).transpose()
    }

    async fn statistics(&self, id: &DeviceId, query: &StatsQuery) -> StoreResult<Statistics> {
        let context = "computing statistics";
        let (start, end) = (ms(query.start), ms(query.end));
        let (count, sums, buckets) = match query.bucket {
            None => {
                let row = self
                    .reader
                    .run(context, async |c| {
                        sqlx::query(AssertSqlSafe(STATS_SQL.as_str()))
                            .bind(id.as_str())
                            .bind(start)
                            .bind(end)
                            .fetch_one(c)
                            .await
                    })
                    .await?;
                let (count, sums) = sums_from_row(&row)?;
                (count, sums, None)
            }
            Some(width) => {
                let rows = self
                    .reader
                    .run_store(context, async |c| {
                        bucket_rows(c, id.as_str(), start, end, width.millis()).await
                    })
                    .await?;
                let mut total = 0;
                let mut all = PerMetric::<Sums>::default();
                let mut buckets = Vec::with_capacity(rows.len());
                for (bucket, n, sums) in rows {
                    total += n;
                    for m in Metric::ALL {
                        all[m].merge(sums[m]);
                    }
                    buckets.push(BucketStats {
                        start: Timestamp::from_unix_millis(bucket)
                            .map_err(|e| invalid_row("statistics row", e))?,
                        count: n,
                        metrics: to_stats(&sums),
                    });
                }
                (total, all, Some(buckets))
            }
        };
        Ok(Statistics {
            start: query.start,
            end: query.end,
            count,
            metrics: to_stats(&sums),
            buckets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_have_the_placeholders_they_bind() {
        assert_eq!(insert_sql(3).matches('?').count(), 3 * READING_VARS);
        assert_eq!(upsert_state_sql(2).matches('?').count(), 2 * STATE_VARS);
        assert_eq!(existing_sql(4).matches('?').count(), 8);
        assert_eq!(READING_COLUMNS.split(',').count(), READING_VARS);
        let names: Vec<&str> = READING.names().collect();
        assert_eq!(
            names.join(", "),
            READING_COLUMNS.trim_start_matches("device_id, ")
        );
        assert_eq!(LATEST.names().count() + 5, STATE_VARS);
        for (m, c) in Metric::ALL.iter().zip(READING.metrics) {
            assert_eq!(m.column(), c);
        }
    }
}
