//! Hourly rollups of readings: per (device, hour) the count and, per metric, count, min, max and
//! sum, so statistics whose buckets are whole hours read one row per hour instead of every reading.
//!
//! Each device's `device_state` row names the span `[rollup_from, rollup_until)` of hours (epoch
//! milliseconds, hour-aligned) that are rolled up. The invariant, kept by every write in the same
//! transaction: for every hour in that span, `reading_rollups` holds exactly the aggregates of the
//! readings stored for that hour (no row when there are none), computed by SQL over the stored
//! rows — so a duplicate is never counted twice — and no row exists outside the span.
//!
//! - `append_readings` (see [`maintain`]) extends the span to the hour of the device's newest
//!   reading (exclusive: the newest hour is still filling and stays raw), rolling up the hours it
//!   passes, and recomputes an hour inside the span that receives a late reading. Most batches
//!   change nothing: the span moves only when a device's readings enter a new hour.
//! - A retention purge recomputes the hours it deleted from ([`recompute`]).
//! - Deleting a device's state drops its rollups ([`FORGET_DEVICE`]).
//!
//! Readings older than the span (a database upgraded from schema 1 keeps its history raw) and
//! the hours after it are read from `readings`.

use std::{
    collections::{BTreeSet, HashMap},
    fmt::Write as _,
    sync::{Arc, Mutex, PoisonError},
};

use praan_core::{
    domain::{Metric, Reading},
    store::StoreResult,
};
use sqlx::{AssertSqlSafe, SqliteConnection, sqlite::SqliteRow};

use crate::{
    columns::{get, invalid_row, ms},
    error::db,
};

/// An hour in milliseconds.
pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The start of the hour holding `ts` (floored, also before 1970).
pub(crate) const fn hour_of(ts: i64) -> i64 {
    ts - ts.rem_euclid(HOUR_MS)
}

/// The first hour start at or after `ts`.
pub(crate) const fn hour_at_or_after(ts: i64) -> i64 {
    let h = hour_of(ts);
    if h == ts {
        h
    } else {
        h.saturating_add(HOUR_MS)
    }
}

/// Ranges per statement of the roll-up (3 placeholders each).
const CHUNK: usize = 300;
/// Rollup rows per insert (4 placeholders each).
const INSERT_CHUNK: usize = 500;

/// Drops a device's rollups when its state row is deleted (the span goes with it).
pub(crate) const FORGET_DEVICE: &str = "DELETE FROM reading_rollups WHERE device_id = ?";

/// `(?, ?, …)` repeated.
fn values(rows: usize, vars: usize) -> String {
    let one = format!("({})", vec!["?"; vars].join(", "));
    vec![one.as_str(); rows].join(", ")
}

/// Aggregates every stored reading of each `(device, from, until)` range by hour: `device_id`,
/// `hour`, `n`, then per metric count, min, max and sum.
pub(crate) fn aggregate_sql(rows: usize) -> String {
    let mut aggregates = String::from("COUNT(*)");
    for m in Metric::ALL {
        let c = m.column();
        let _ = write!(aggregates, ", COUNT({c}), MIN({c}), MAX({c}), SUM({c})");
    }
    format!(
        "WITH v(d, f, u) AS (VALUES {}) SELECT readings.device_id, readings.ts - (((readings.ts \
         % {HOUR_MS}) + {HOUR_MS}) % {HOUR_MS}) AS hour, {aggregates} FROM v JOIN readings \
         ON readings.device_id = v.d AND readings.ts >= v.f AND readings.ts < v.u \
         GROUP BY readings.device_id, hour",
        values(rows, 3)
    )
}

/// Writes rollup rows (replacing those of the same hours).
fn insert_sql(rows: usize) -> String {
    format!(
        "INSERT OR REPLACE INTO reading_rollups (device_id, hour, n, data) VALUES {}",
        values(rows, 4)
    )
}

/// The length of a rollup's `data`: per metric four 8-byte values.
pub(crate) const DATA_LEN: usize = 8 * 4 * Metric::ALL.len();

/// One metric's aggregates in an hour.
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub(crate) struct Aggregate {
    /// Readings that carried the metric.
    pub(crate) count: i64,
    /// Their smallest value (`None` when `count` is 0).
    pub(crate) min: Option<f64>,
    /// Their largest value.
    pub(crate) max: Option<f64>,
    /// Their sum (0 when `count` is 0).
    pub(crate) sum: f64,
}

/// `data` of a rollup row.
pub(crate) fn encode(aggregates: &[Aggregate; 8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DATA_LEN);
    for a in aggregates {
        out.extend_from_slice(&a.count.to_le_bytes());
        out.extend_from_slice(&a.min.unwrap_or(0.0).to_le_bytes());
        out.extend_from_slice(&a.max.unwrap_or(0.0).to_le_bytes());
        out.extend_from_slice(&a.sum.to_le_bytes());
    }
    out
}

/// The aggregates in `data`, or `None` when it is not [`DATA_LEN`] bytes.
pub(crate) fn decode(data: &[u8]) -> Option<[Aggregate; 8]> {
    if data.len() != DATA_LEN {
        return None;
    }
    let word = |i: usize| -> [u8; 8] {
        let mut w = [0; 8];
        w.copy_from_slice(&data[i * 8..i * 8 + 8]);
        w
    };
    Some(std::array::from_fn(|m| {
        let count = i64::from_le_bytes(word(4 * m));
        let value = |k| (count > 0).then(|| f64::from_le_bytes(word(4 * m + k)));
        Aggregate {
            count,
            min: value(1),
            max: value(2),
            sum: value(3).unwrap_or(0.0),
        }
    }))
}

pub(crate) fn forget_hours_sql(rows: usize) -> String {
    format!(
        "DELETE FROM reading_rollups WHERE (device_id, hour) IN (VALUES {})",
        values(rows, 2)
    )
}

pub(crate) fn set_span_sql(rows: usize) -> String {
    format!(
        "UPDATE device_state SET rollup_from = v.column2, rollup_until = v.column3 \
         FROM (VALUES {}) AS v WHERE device_state.device_id = v.column1",
        values(rows, 3)
    )
}

/// A device's rolled-up span of hours, `[from, until)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Span {
    pub(crate) from: i64,
    pub(crate) until: i64,
}

impl Span {
    /// The span stored in a row's `rollup_from`/`rollup_until`, if any.
    pub(crate) fn from_row(row: &SqliteRow) -> StoreResult<Option<Self>> {
        let from: Option<i64> = get(row, "rollup_from")?;
        let until: Option<i64> = get(row, "rollup_until")?;
        Ok(from.zip(until).map(|(from, until)| Self { from, until }))
    }

    fn contains(self, hour: i64) -> bool {
        self.from <= hour && hour < self.until
    }
}

/// Rolls up every `(device, from, until)` range (hour-aligned): aggregates by SQL, packed here.
async fn roll(conn: &mut SqliteConnection, ranges: &[(&str, i64, i64)]) -> StoreResult<()> {
    let context = "rolling up readings by hour";
    for chunk in ranges.chunks(CHUNK) {
        let mut q = sqlx::query(AssertSqlSafe(aggregate_sql(chunk.len())));
        for &(d, f, u) in chunk {
            q = q.bind(d).bind(f).bind(u);
        }
        let rows = q.fetch_all(&mut *conn).await.map_err(db(context))?;
        let mut packed: Vec<(String, i64, i64, Vec<u8>)> = Vec::with_capacity(rows.len());
        for row in &rows {
            packed.push((
                at(row, 0)?,
                at(row, 1)?,
                at(row, 2)?,
                encode(&aggregates(row)?),
            ));
        }
        for part in packed.chunks(INSERT_CHUNK) {
            let mut q = sqlx::query(AssertSqlSafe(insert_sql(part.len())));
            for (d, h, n, data) in part {
                q = q.bind(d.as_str()).bind(*h).bind(*n).bind(data.as_slice());
            }
            q.execute(&mut *conn).await.map_err(db(context))?;
        }
    }
    Ok(())
}

/// Column `i` of a row.
fn at<'r, T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>>(
    row: &'r SqliteRow,
    i: usize,
) -> StoreResult<T> {
    sqlx::Row::try_get(row, i).map_err(|e| invalid_row("hourly aggregate", e))
}

/// The per-metric aggregates of a row of [`aggregate_sql`].
fn aggregates(row: &SqliteRow) -> StoreResult<[Aggregate; 8]> {
    let mut out = [Aggregate::default(); 8];
    for (i, a) in out.iter_mut().enumerate() {
        let c = 3 + 4 * i;
        *a = Aggregate {
            count: at(row, c)?,
            min: at(row, c + 1)?,
            max: at(row, c + 2)?,
            sum: at::<Option<f64>>(row, c + 3)?.unwrap_or(0.0),
        };
    }
    Ok(out)
}

/// Stores each device's new span.
async fn set_spans(conn: &mut SqliteConnection, spans: &[(&str, Span)]) -> StoreResult<()> {
    for chunk in spans.chunks(CHUNK) {
        let mut q = sqlx::query(AssertSqlSafe(set_span_sql(chunk.len())));
        for &(d, s) in chunk {
            q = q.bind(d).bind(s.from).bind(s.until);
        }
        q.execute(&mut *conn)
            .await
            .map_err(db("recording the rolled-up hours"))?;
    }
    Ok(())
}

/// The spans of the devices an append saw, as committed by this store's writer connection, and
/// the connection's `PRAGMA data_version` when they were read: when another connection (another
/// store or process) commits, the version changes and the cache is dropped.
#[derive(Debug, Default)]
pub(crate) struct SpanCache {
    version: Option<i64>,
    spans: HashMap<String, Known>,
}

/// What the cache knows of a device.
#[derive(Clone, Copy, Debug)]
enum Known {
    /// Its stored span.
    Span(Span),
    /// No span is stored; while its readings stay within one hour none is needed, and this is
    /// that hour (the span will start there).
    Unrolled(Option<i64>),
}

/// Drops one device's cached span (its state row is being deleted).
pub(crate) fn forget_cached(cache: &Mutex<SpanCache>, device: &str) {
    lock(cache).spans.remove(device);
}

fn lock(cache: &Mutex<SpanCache>) -> std::sync::MutexGuard<'_, SpanCache> {
    cache.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Drops the whole cache unless [`Cached::keep`] is called: the cache already holds the spans of
/// a transaction that might not commit.
#[must_use = "call keep() once the transaction committed"]
pub(crate) struct Cached(Option<Arc<Mutex<SpanCache>>>);

impl Cached {
    /// The transaction committed: the cached spans are the stored ones.
    pub(crate) fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Cached {
    fn drop(&mut self) {
        if let Some(cache) = self.0.take() {
            let mut c = lock(&cache);
            c.version = None;
            c.spans.clear();
        }
    }
}

/// The stored spans of `devices` (absent: none).
async fn load_spans(
    conn: &mut SqliteConnection,
    devices: &[&str],
) -> StoreResult<HashMap<String, Span>> {
    let mut spans = HashMap::new();
    for chunk in devices.chunks(CHUNK) {
        let sql = format!(
            "SELECT device_id, rollup_from, rollup_until FROM device_state WHERE device_id IN ({})",
            vec!["?"; chunk.len()].join(", ")
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for d in chunk {
            q = q.bind(*d);
        }
        let rows = q
            .fetch_all(&mut *conn)
            .await
            .map_err(db("reading the rolled-up hours"))?;
        for row in &rows {
            if let Some(s) = Span::from_row(row)? {
                spans.insert(get(row, "device_id")?, s);
            }
        }
    }
    Ok(spans)
}

/// Keeps the rollups of the devices of an append in step, inside its transaction (after the
/// readings and states are written): `stored` are the readings stored now, `version` the writer
/// connection's `PRAGMA data_version` read in this transaction. Most batches find every span in
/// the cache and have nothing to do. Call [`Cached::keep`] on the result after the commit.
pub(crate) async fn maintain(
    conn: &mut SqliteConnection,
    cache: &Arc<Mutex<SpanCache>>,
    stored: &[&Reading],
    version: i64,
) -> StoreResult<Cached> {
    // The common case: every reading falls in its device's newest hour, not rolled up yet.
    {
        let mut c = lock(cache);
        if c.version != Some(version) {
            c.spans.clear();
            c.version = Some(version);
        }
        let current = |r: &&Reading| {
            let h = hour_of(ms(r.timestamp()));
            match c.spans.get(r.device_id().as_str()) {
                Some(Known::Span(s)) => h == s.until,
                Some(Known::Unrolled(Some(p))) => h == *p,
                _ => false,
            }
        };
        if stored.iter().all(current) {
            return Ok(Cached(None));
        }
    }
    // Per device: the oldest and newest hour of its new readings.
    let mut hours: HashMap<&str, (i64, i64)> = HashMap::new();
    for r in stored {
        let h = hour_of(ms(r.timestamp()));
        hours
            .entry(r.device_id().as_str())
            .and_modify(|(lo, hi)| {
                *lo = (*lo).min(h);
                *hi = (*hi).max(h);
            })
            .or_insert((h, h));
    }
    let mut known: HashMap<&str, Known> = HashMap::with_capacity(hours.len());
    let mut missing: Vec<&str> = Vec::new();
    {
        let c = lock(cache);
        for &device in hours.keys() {
            match c.spans.get(device) {
                Some(&k) => {
                    known.insert(device, k);
                }
                None => missing.push(device),
            }
        }
    }
    let mut updates: Vec<(&str, Known)> = Vec::new();
    if !missing.is_empty() {
        let loaded = load_spans(conn, &missing).await?;
        for device in missing {
            let k = loaded
                .get(device)
                .map_or(Known::Unrolled(None), |&s| Known::Span(s));
            known.insert(device, k);
            updates.push((device, k));
        }
    }

    let mut ranges: Vec<(&str, i64, i64)> = Vec::new();
    let mut late: HashMap<&str, Span> = HashMap::new();
    let mut new_spans: Vec<(&str, Span)> = Vec::new();
    for (&device, &(first, newest)) in &hours {
        let Some(&old) = known.get(device) else {
            continue;
        };
        match old {
            Known::Unrolled(seen) => {
                let from = seen.map_or(first, |h| h.min(first));
                if from < newest {
                    let span = Span {
                        from,
                        until: newest,
                    };
                    ranges.push((device, from, newest));
                    new_spans.push((device, span));
                    updates.push((device, Known::Span(span)));
                } else if seen != Some(from) {
                    updates.push((device, Known::Unrolled(Some(from))));
                }
            }
            Known::Span(s) => {
                if first < s.until && newest >= s.from {
                    late.insert(device, s);
                }
                if newest > s.until {
                    let span = Span {
                        from: s.from,
                        until: newest,
                    };
                    ranges.push((device, s.until, newest));
                    new_spans.push((device, span));
                    updates.push((device, Known::Span(span)));
                }
            }
        }
    }
    if !late.is_empty() {
        // Late readings into hours already rolled up (rare): recompute those hours.
        let mut hours: BTreeSet<(&str, i64)> = BTreeSet::new();
        for r in stored {
            let device = r.device_id().as_str();
            let h = hour_of(ms(r.timestamp()));
            if late.get(device).is_some_and(|s| s.contains(h)) {
                hours.insert((device, h));
            }
        }
        ranges.extend(hours.into_iter().map(|(d, h)| (d, h, h + HOUR_MS)));
    }
    roll(conn, &ranges).await?;
    set_spans(conn, &new_spans).await?;

    // Later updates of a device override its loaded entry.
    let mut c = lock(cache);
    for (device, k) in updates {
        c.spans.insert(device.to_owned(), k);
    }
    Ok(Cached(Some(Arc::clone(cache))))
}

/// After readings were deleted: recomputes the hours they were in that are rolled up (`deleted`:
/// each deleted reading's device and timestamp).
pub(crate) async fn recompute(
    conn: &mut SqliteConnection,
    deleted: &[(String, i64)],
) -> StoreResult<()> {
    let mut hours: BTreeSet<(&str, i64)> = BTreeSet::new();
    for (d, ts) in deleted {
        hours.insert((d.as_str(), hour_of(*ts)));
    }
    if hours.is_empty() {
        return Ok(());
    }
    let devices: BTreeSet<&str> = hours.iter().map(|&(d, _)| d).collect();
    let devices: Vec<&str> = devices.into_iter().collect();
    let spans = load_spans(conn, &devices).await?;
    let affected: Vec<(&str, i64)> = hours
        .into_iter()
        .filter(|&(d, h)| spans.get(d).is_some_and(|s| s.contains(h)))
        .collect();
    for chunk in affected.chunks(CHUNK) {
        let mut q = sqlx::query(AssertSqlSafe(forget_hours_sql(chunk.len())));
        for &(d, h) in chunk {
            q = q.bind(d).bind(h);
        }
        q.execute(&mut *conn)
            .await
            .map_err(db("recomputing rolled-up hours"))?;
    }
    let ranges: Vec<(&str, i64, i64)> = affected
        .into_iter()
        .map(|(d, h)| (d, h, h + HOUR_MS))
        .collect();
    roll(conn, &ranges).await
}

/// The rolled-up hours of `?1` in `[?2, ?3)`, oldest first, each with the start of its bucket of
/// `?4` ms (a whole number of hours): `bucket`, `n`, `data`. Not grouped: SQLite's sorter would
/// cost more than the caller merging consecutive hours of a bucket (primary-key order, no sort).
pub(crate) const BUCKETS_SQL: &str = "SELECT hour - (((hour % ?4) + ?4) % ?4) AS bucket, n, data \
     FROM reading_rollups WHERE device_id = ?1 AND hour >= ?2 AND hour < ?3 ORDER BY hour";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_align_before_and_after_the_epoch() {
        assert_eq!(hour_of(0), 0);
        assert_eq!(hour_of(HOUR_MS - 1), 0);
        assert_eq!(hour_of(-1), -HOUR_MS);
        assert_eq!(hour_at_or_after(1), HOUR_MS);
        assert_eq!(hour_at_or_after(HOUR_MS), HOUR_MS);
        assert_eq!(hour_at_or_after(-1), 0);
        assert_eq!(aggregate_sql(2).matches('?').count(), 6);
        assert_eq!(insert_sql(2).matches('?').count(), 8);
        let a = [Aggregate {
            count: 2,
            min: Some(-1.5),
            max: Some(7.25),
            sum: 5.75,
        }; 8];
        let mut b = a;
        b[3] = Aggregate::default();
        for x in [a, b] {
            assert_eq!(decode(&encode(&x)), Some(x));
        }
        assert_eq!(decode(&[0; 3]), None);
        assert_eq!(forget_hours_sql(3).matches('?').count(), 6);
        assert_eq!(set_span_sql(1).matches('?').count(), 3);
    }
}
