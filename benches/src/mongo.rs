//! PERFORMANCE.md P10: [`MongoStore::append_readings`] in batches of 1000 ÷ a raw `insert_many`
//! of the same documents into the same schema, measured side by side in one run.
//!
//! Both sides write the same readings (1,000 devices, every metric, power and speed, as PRODUCT.md
//! §1's example) into their own fresh database on the same server, indexed alike by
//! [`MongoStore::ensure_indexes`]. The store side is everything `append_readings` does: encoding,
//! deduplication (unordered `insert_many`, duplicate keys counted), keeping the latest state each
//! batch implies per device and writing those states in bulk (the write-behind of
//! [`praan_store_mongo::write_behind`]). Each round ends with [`MongoStore::flush_states`] inside
//! the store's time, so every state the round's readings imply is written in its time. The raw
//! side is the driver's unordered `insert_many` of the documents the store writes ([`praan_store_mongo::reading_document`]), encoded before the clock starts: the
//! least work that stores them. Rounds alternate which side goes first, and the figure is the
//! median of the per-round ratios.

use std::time::Duration;

use mongodb::{Collection, bson::RawDocumentBuf};
use praan_core::{
    clock::Stopwatch,
    domain::{DeviceId, FanSpeed, Metrics, PerMetric, Reading, Timestamp},
    store::TelemetryRepo,
};

use crate::median;
use praan_store_mongo::{
    MongoStore, RetentionConfig, collections, reading_document, write_behind::FLUSH_AFTER_READINGS,
};

/// A boxed error, for bench setup.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// P10's target: the store keeps at least this share of the raw rate.
pub const P10_TARGET: f64 = 0.8;

/// 2025-12-27T10:00:00Z, where the workload starts.
const T0_MS: i64 = 1_766_829_600_000;

/// Retention long enough that the server's TTL monitor never deletes the workload's 2025
/// readings while it runs (which would add deletes to the measurement).
const KEEP: RetentionConfig = {
    let sixty_years = Duration::from_secs(60 * 365 * 24 * 60 * 60);
    RetentionConfig {
        readings: sixty_years,
        commands: sixty_years,
        runs: sixty_years,
    }
};

/// How much P10 measures. A round holds [`FLUSH_AFTER_READINGS`] readings (about 1.5 s of the
/// store's time here), so its store side includes the write-behind's interval flush (every
/// second) and ends with a flush of the rest: it writes the states at least as often as a
/// server does.
#[derive(Clone, Copy, Debug)]
struct Plan {
    devices: usize,
    batch: usize,
    batches_per_round: usize,
    rounds: usize,
}

impl Plan {
    const FULL: Self = Self {
        devices: 1_000,
        batch: 1_000,
        batches_per_round: FLUSH_AFTER_READINGS / 1_000,
        rounds: 7,
    };
    const QUICK: Self = Self {
        devices: 1_000,
        batch: 1_000,
        batches_per_round: FLUSH_AFTER_READINGS / 1_000,
        rounds: 3,
    };
}

/// P10 as measured: both rates, their ratio, and what was measured.
#[derive(Clone, Copy, Debug)]
pub struct P10 {
    /// Devices the readings come from (each batch holds readings of all of them).
    pub devices: usize,
    /// Readings per `append_readings` call and per `insert_many` call.
    pub batch: usize,
    /// Readings each side wrote per round.
    pub readings_per_round: usize,
    /// Rounds (each side once per round, the order alternating).
    pub rounds: usize,
    /// Median rate of `MongoStore::append_readings`, readings per second.
    pub store_per_sec: f64,
    /// Median rate of the raw `insert_many`, readings per second.
    pub raw_per_sec: f64,
    /// Median of the per-round ratios store rate ÷ raw rate.
    pub ratio: f64,
}

impl P10 {
    /// Whether the ratio meets [`P10_TARGET`].
    pub fn passes(&self) -> bool {
        self.ratio >= P10_TARGET
    }
}

/// `count` full readings, reading `n` (from `first`) being device `n % devices`'s reading number
/// `n / devices`, one second after its previous one.
fn readings(devices: &[DeviceId], first: usize, count: usize) -> Result<Vec<Reading>, BoxError> {
    let speed = FanSpeed::new(3)?;
    (first..first + count)
        .map(|n| {
            let device = devices[n % devices.len()].clone();
            let at =
                Timestamp::from_unix_millis(T0_MS + i64::try_from(n / devices.len())? * 1_000)?;
            let wobble = (n % 97) as f64 / 10.0;
            let metrics: Metrics = PerMetric([
                Some(84.12),
                Some(25.4 + wobble / 10.0),
                Some(61.02),
                Some(14.7 + wobble),
                Some(36.1 + wobble),
                Some(48.9 + wobble),
                Some(44.3),
                Some(31.5 + wobble),
            ]);
            let received = at.saturating_add(Duration::from_millis(50));
            Ok(Reading::new(
                device,
                at,
                received,
                metrics,
                Some(speed),
                Some(true),
            )?)
        })
        .collect()
}

/// A store on a new database `name`, indexed as praan runs it (the database is dropped first).
async fn fresh_store(uri: &str, name: &str) -> Result<MongoStore, BoxError> {
    let store = MongoStore::connect(uri, name).await?;
    store.database().drop().await?;
    store.ensure_indexes(&KEEP).await?;
    Ok(store)
}

async fn measure(uri: &str, plan: Plan) -> Result<P10, BoxError> {
    let pid = std::process::id();
    let store = fresh_store(uri, &format!("praan_p10_store_{pid}")).await?;
    let raw_db = fresh_store(uri, &format!("praan_p10_raw_{pid}")).await?;
    let raw: Collection<RawDocumentBuf> = raw_db.database().collection(collections::READINGS);
    let devices = (0..plan.devices.max(1))
        .map(|i| DeviceId::new(&format!("AIR_PURIFIER_{i:06}")))
        .collect::<Result<Vec<_>, _>>()?;
    let per_round = plan.batch * plan.batches_per_round;

    let result = async {
        // Warm-up (connections, the first documents of each index), not measured.
        let warm = readings(&devices, 0, plan.batch)?;
        store.append_readings(&warm).await?;
        let docs = warm
            .iter()
            .map(reading_document)
            .collect::<Result<Vec<_>, _>>()?;
        raw.insert_many(&docs).ordered(false).await?;

        let (mut store_rates, mut raw_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..plan.rounds {
            let batch = readings(&devices, plan.batch + round * per_round, per_round)?;
            let docs = batch
                .iter()
                .map(reading_document)
                .collect::<Result<Vec<_>, _>>()?;
            let mut store_time = Duration::ZERO;
            let mut raw_time = Duration::ZERO;
            for first in [round % 2 == 0, round % 2 == 1] {
                let started = Stopwatch::start();
                if first {
                    for chunk in batch.chunks(plan.batch) {
                        let outcome = store.append_readings(chunk).await?;
                        if outcome.inserted != chunk.len() as u64 {
                            return Err(format!("the store skipped readings: {outcome:?}").into());
                        }
                    }
                    store.flush_states().await?;
                    store_time = started.elapsed();
                } else {
                    for chunk in docs.chunks(plan.batch) {
                        raw.insert_many(chunk).ordered(false).await?;
                    }
                    raw_time = started.elapsed();
                }
            }
            let store_rate = per_round as f64 / store_time.as_secs_f64();
            let raw_rate = per_round as f64 / raw_time.as_secs_f64();
            store_rates.push(store_rate);
            raw_rates.push(raw_rate);
            ratios.push(store_rate / raw_rate);
        }
        Ok(P10 {
            devices: plan.devices,
            batch: plan.batch,
            readings_per_round: per_round,
            rounds: plan.rounds,
            store_per_sec: median(&mut store_rates),
            raw_per_sec: median(&mut raw_rates),
            ratio: median(&mut ratios),
        })
    }
    .await;
    // Best effort: a failed drop leaves two databases the next run drops first.
    let _ = store.database().drop().await;
    let _ = raw_db.database().drop().await;
    result
}

/// Measures P10 against the MongoDB deployment at `uri` (a `mongodb://` URI, e.g.
/// `PRAAN_TEST_MONGODB_URI` from `scripts/test-services.sh start`), in two scratch databases it
/// creates and drops (`praan_p10_store_<pid>`, `praan_p10_raw_<pid>`).
///
/// Full: 7 rounds of 20 batches of 1000 readings per side (about 30 s on the 2-core reference
/// machine); `quick`: 3 rounds of 10 batches.
pub async fn p10(uri: &str, quick: bool) -> Result<P10, BoxError> {
    measure(uri, if quick { Plan::QUICK } else { Plan::FULL }).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    }

    /// The test server, or `None` (after saying so) without one; a failure under
    /// `PRAAN_REQUIRE_BACKENDS=1`.
    fn uri() -> Option<String> {
        let uri = std::env::var("PRAAN_TEST_MONGODB_URI").ok();
        let required = std::env::var("PRAAN_REQUIRE_BACKENDS").is_ok_and(|v| v == "1");
        assert!(
            uri.is_some() || !required,
            "PRAAN_TEST_MONGODB_URI is not set: run `scripts/test-services.sh start && source \
             .services/env` first"
        );
        if uri.is_none() {
            eprintln!(
                "skipped: PRAAN_TEST_MONGODB_URI is not set; run `scripts/test-services.sh start \
                 && source .services/env` first"
            );
        }
        uri
    }

    #[test]
    fn p10_measures_both_sides_on_a_real_server() {
        let Some(uri) = uri() else { return };
        let tiny = Plan {
            devices: 10,
            batch: 50,
            batches_per_round: 2,
            rounds: 2,
        };
        let p10 = runtime().block_on(measure(&uri, tiny)).expect("P10 runs");
        assert_eq!((p10.readings_per_round, p10.rounds), (100, 2));
        assert!(p10.store_per_sec > 0.0 && p10.raw_per_sec > 0.0, "{p10:?}");
        assert!(p10.ratio.is_finite() && p10.ratio > 0.0, "{p10:?}");
    }
}
