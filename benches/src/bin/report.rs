//! The performance report of PERFORMANCE.md: each target measured side by side in one run, one
//! line per target with its inputs, the figure, the target and PASS or FAIL.
//!
//! ```text
//! cargo run --release -p praan-benches --bin report -- [--quick] [p1] [p2] [p3] [p4] [p5] [p6] [p7] [p8] [p9] [p10]
//! ```
//!
//! `--quick` takes fewer runs (under two minutes on the 2-core reference machine); naming targets
//! measures only those (default: all). P2, P4, P5 and P9 need Mosquitto and P10 a MongoDB
//! (`scripts/test-services.sh start && source .services/env`); without
//! `PRAAN_TEST_MOSQUITTO_BIN` or `PRAAN_TEST_MONGODB_URI` their lines say SKIPPED and why. The
//! exit code is 0 when every target that ran passes, 1 when one fails, 2 when the report could
//! not run.

use std::{alloc::System, io::Write as _, process::ExitCode, time::Duration};

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

/// Counts every allocation, for P8 (the engine's memory per device).
#[global_allocator]
static ALLOCATOR: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

use praan_benches::{
    latency, median, mqtt,
    sqlite::{BoxError, RawSqlite, Workload, runtime},
};
use praan_core::{
    clock::Stopwatch,
    domain::{Reading, Timestamp},
    store::{BucketWidth, StatsQuery, TelemetryRepo},
};
use praan_store_sqlite::SqliteStore;

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "FAIL" }
}

/// `12345.6` as `12,346`.
fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Line {
    text: String,
    pass: bool,
}

/// P1: `append_readings` ÷ a raw batched INSERT of the same rows into the same schema, batch by
/// batch in alternating order, so both sides see the same machine at the same moment.
async fn p1(quick: bool) -> Result<Line, BoxError> {
    const DEVICES: usize = 1_000;
    const BATCH: usize = 1_000;
    let (runs, batches) = if quick { (3, 30) } else { (5, 100) };
    let (mut store_rates, mut raw_rates, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = SqliteStore::connect(&url).await?;
        let raw = RawSqlite::create(&dir.path().join("raw.db")).await?;
        let mut workload = Workload::new(DEVICES, 120_000)?;
        let (mut store_time, mut raw_time) = (Duration::ZERO, Duration::ZERO);
        for i in 0..batches {
            let batch = workload.next_batch(BATCH)?;
            let store_first = (run + i) % 2 == 0;
            if store_first {
                store_time += time_store(&store, &batch).await?;
                raw_time += time_raw(&raw, &batch).await?;
            } else {
                raw_time += time_raw(&raw, &batch).await?;
                store_time += time_store(&store, &batch).await?;
            }
        }
        store.close().await;
        raw.close().await;
        let rows = (batches * BATCH) as f64;
        let (s, r) = (
            rows / store_time.as_secs_f64(),
            rows / raw_time.as_secs_f64(),
        );
        store_rates.push(s);
        raw_rates.push(r);
        ratios.push(s / r);
    }
    let ratio = median(&mut ratios);
    let pass = ratio >= 0.8;
    Ok(Line {
        text: format!(
            "P1  SQLite append_readings (dedup + latest-state upsert) / raw sqlx batched INSERT, \
             batches of {BATCH}, {} devices, {runs} runs x {batches} batches: store {} rows/s, \
             raw {} rows/s (medians), ratio {ratio:.2} (median of runs; target >= 0.80) {}",
            thousands(DEVICES as f64),
            thousands(median(&mut store_rates)),
            thousands(median(&mut raw_rates)),
            verdict(pass)
        ),
        pass,
    })
}

async fn time_store(store: &SqliteStore, batch: &[Reading]) -> Result<Duration, BoxError> {
    let start = Stopwatch::start();
    let done = store.append_readings(batch).await?;
    let took = start.elapsed();
    if done.inserted != batch.len() as u64 {
        return Err(format!("store stored {} of {}", done.inserted, batch.len()).into());
    }
    Ok(took)
}

async fn time_raw(raw: &RawSqlite, batch: &[Reading]) -> Result<Duration, BoxError> {
    let start = Stopwatch::start();
    let inserted = raw.insert(batch).await?;
    let took = start.elapsed();
    if inserted != batch.len() as u64 {
        return Err(format!("raw stored {inserted} of {}", batch.len()).into());
    }
    Ok(took)
}

/// Why a Mosquitto target is skipped: no broker binary named.
const NO_MOSQUITTO: &str = "SKIPPED (PRAAN_TEST_MOSQUITTO_BIN is not set; run \
     `scripts/test-services.sh start && source .services/env` first)";

/// P2: Mosquitto QoS 1 → MqttTransport → ingest pipeline (ack after commit) → SQLite ÷ a
/// counting QoS 1 subscriber on the same broker, runs alternating (see `praan_benches::mqtt`).
async fn p2(quick: bool) -> Result<Line, BoxError> {
    let Some(bin) = praan_simulator::brokers::mosquitto_from_env() else {
        return Ok(Line {
            text: format!("P2  Mosquitto -> pipeline -> SQLite / pass-through: {NO_MOSQUITTO}"),
            pass: true,
        });
    };
    let r = mqtt::p2(bin, quick).await?;
    Ok(Line {
        text: format!(
            "P2  Mosquitto QoS 1 -> MqttTransport -> ingest (ack after commit, max_batch {}) -> \
             SQLite / Mosquitto QoS 1 pass-through (counting subscriber), {} readings of {} \
             devices per run, {} runs each alternating, broker max_inflight_messages {}: \
             pipeline {} readings/s, pass-through {} msg/s (medians), ratio {:.2} (median of \
             pairs; target >= {:.2}; for context: mean batch {}, SQLite append_readings alone in \
             such batches {} rows/s) {}",
            thousands(r.max_batch as f64),
            thousands(r.readings as f64),
            thousands(r.devices as f64),
            r.runs,
            thousands(r.broker_inflight as f64),
            thousands(r.pipeline_per_sec),
            thousands(r.pass_through_per_sec),
            r.ratio,
            mqtt::P2_TARGET,
            thousands(r.mean_batch as f64),
            thousands(r.store_alone_per_sec),
            verdict(r.passes())
        ),
        pass: r.passes(),
    })
}

/// P3: the same pipeline on the embedded rumqttd, readings per second.
async fn p3(quick: bool) -> Result<Line, BoxError> {
    let r = mqtt::p3(quick).await?;
    Ok(Line {
        text: format!(
            "P3  rumqttd QoS 1 -> MqttTransport -> ingest (ack after commit, max_batch {}) -> \
             SQLite, {} readings of {} devices per run, {} runs: median {} readings/s (target \
             >= {}/s; for context: rumqttd pass-through {} msg/s, mean batch {}, SQLite \
             append_readings alone in such batches {} rows/s, in batches of {} {} rows/s) {}",
            thousands(r.max_batch as f64),
            thousands(r.readings as f64),
            thousands(r.devices as f64),
            r.runs,
            thousands(r.pipeline_per_sec),
            thousands(mqtt::P3_TARGET),
            thousands(r.pass_through_per_sec),
            thousands(r.mean_batch as f64),
            thousands(r.store_alone_per_sec),
            thousands(mqtt::P3_LARGE_BATCH as f64),
            thousands(r.store_large_batches_per_sec),
            verdict(r.passes())
        ),
        pass: r.passes(),
    })
}

/// How an open-loop sender kept to its schedule, for a report line.
fn pacing(p: &latency::Pacing, what: &str) -> String {
    let held = if p.held() { "held" } else { "FELL BEHIND" };
    format!(
        "{what} {held} the schedule: {}/s of {}/s, lag p99 {:.1} ms, max {:.1} ms",
        thousands(p.achieved),
        thousands(p.rate),
        millis(p.lag.p99),
        millis(p.lag.max)
    )
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// P4: reading published → visible through `GET /api/device/{id}/latest`, at 10,000 readings
/// a second (see `praan_benches::latency`).
async fn p4(quick: bool) -> Result<Line, BoxError> {
    let Some(bin) = praan_simulator::brokers::mosquitto_from_env() else {
        return Ok(Line {
            text: format!("P4  ingest latency publish -> /latest: {NO_MOSQUITTO}"),
            pass: true,
        });
    };
    let r = latency::p4(bin, quick).await?;
    Ok(Line {
        text: format!(
            "P4  ingest latency: Mosquitto QoS 1 (max_inflight_messages {}) -> MqttTransport -> \
             ingest (defaults) -> SQLite, visible through GET /api/device/{{id}}/latest, \
             {}/s open-loop over {} devices for {:?} after {:?} warm-up ({}; {} of {} stored; \
             mean batch {:.0}): {} samples (1 in {}, {} probers), {} lost, p50 {:.1} \
             ms, p99 {:.1} ms, max {:.1} ms (target p99 <= {} ms) {}",
            thousands(latency::BROKER_INFLIGHT as f64),
            thousands(latency::P4_RATE),
            thousands(r.devices as f64),
            r.window,
            latency::WARM_UP,
            pacing(&r.pacing, "publisher"),
            thousands(r.stored as f64),
            thousands(r.published as f64),
            r.mean_batch,
            thousands(r.samples as f64),
            latency::P4_SAMPLE_EVERY,
            latency::P4_PROBERS,
            r.lost,
            millis(r.latency.p50),
            millis(r.latency.p99),
            millis(r.latency.max),
            latency::P4_TARGET.as_millis(),
            verdict(r.passes())
        ),
        pass: r.passes(),
    })
}

/// P5: `POST /api/control/fan?wait=true` → the device's ack recorded, 500 commands a second
/// across 1,000 simulated devices (see `praan_benches::latency`).
async fn p5(quick: bool) -> Result<Line, BoxError> {
    let Some(bin) = praan_simulator::brokers::mosquitto_from_env() else {
        return Ok(Line {
            text: format!("P5  command round trip: {NO_MOSQUITTO}"),
            pass: true,
        });
    };
    let r = latency::p5(bin, quick).await?;
    Ok(Line {
        text: format!(
            "P5  command round trip: POST /api/control/fan?wait=true -> engine -> SQLite -> \
             Mosquitto -> simulated device -> ack -> ingest -> engine (recorded) -> 200, {}/s \
             open-loop over {} devices (own MQTT sessions) for {:?} after {:?} warm-up ({}; {} \
             HTTP connections): {} of {} acknowledged, {} reconnects, p50 {:.1} ms, p99 {:.1} \
             ms, max {:.1} ms (target p99 <= {} ms) {}",
            thousands(latency::P5_RATE),
            thousands(r.devices as f64),
            r.window,
            latency::WARM_UP,
            pacing(&r.pacing, "sender"),
            r.connections,
            thousands(r.acknowledged as f64),
            thousands(r.commands as f64),
            r.reconnects,
            millis(r.latency.p50),
            millis(r.latency.p99),
            millis(r.latency.max),
            latency::P5_TARGET.as_millis(),
            verdict(r.passes())
        ),
        pass: r.passes(),
    })
}

/// P9: the simulator's `Fleet`, 10,000 devices with their own sessions at a 1 s interval
/// against Mosquitto; what a counting subscriber receives over a window after all connected.
async fn p9(quick: bool) -> Result<Line, BoxError> {
    let Some(bin) = praan_simulator::brokers::mosquitto_from_env() else {
        return Ok(Line {
            text: format!("P9  simulator fleet of 10,000 sessions: {NO_MOSQUITTO}"),
            pass: true,
        });
    };
    if let Some(why) = mqtt::p9_shortfall() {
        return Ok(Line {
            text: format!("P9  simulator fleet of 10,000 sessions: SKIPPED ({why})"),
            pass: true,
        });
    }
    let r = mqtt::p9(bin, quick).await?;
    let cpu = r.cpu_share.map_or_else(String::new, |c| {
        format!(
            ", this process (fleet + subscriber) {:.0}% of one core",
            c * 100.0
        )
    });
    Ok(Line {
        text: format!(
            "P9  simulator Fleet: {} devices (own MQTT sessions) every {:?} -> Mosquitto, all \
             connected in {:.1} s at {}/s, then {:.1} s measured: subscriber counted {} \
             readings = {:.1}% of {} expected ({}/s; fleet PUBACKs {}/s), {} reconnects, {} \
             connection errors, {} dropped{cpu} (target: >= {:.0}% and no reconnects) {}",
            thousands(r.devices as f64),
            r.interval,
            r.connected_in.as_secs_f64(),
            thousands(f64::from(r.connect_rate)),
            r.window.as_secs_f64(),
            thousands(r.received as f64),
            r.share() * 100.0,
            thousands(r.expected),
            thousands(r.received as f64 / r.window.as_secs_f64()),
            thousands(r.pubacks as f64 / r.window.as_secs_f64()),
            r.reconnects,
            r.connection_errors,
            r.dropped,
            mqtt::P9_TARGET * 100.0,
            verdict(r.passes())
        ),
        pass: r.passes(),
    })
}

/// P7: statistics with hourly buckets over 1,000,000 readings of one device (one every two
/// minutes, the devices' cadence: about 3.8 years, 33,334 buckets).
async fn p7(quick: bool) -> Result<Line, BoxError> {
    const READINGS: usize = 1_000_000;
    const INTERVAL_MS: i64 = 120_000;
    let runs = if quick { 3 } else { 7 };
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("p7.db").display());
    let store = SqliteStore::connect(&url).await?;
    let mut workload = Workload::new(1, INTERVAL_MS)?;
    let mut first = None;
    let mut last = None;
    for _ in 0..READINGS / 10_000 {
        let batch = workload.next_batch(10_000)?;
        first = first.or_else(|| batch.first().map(Reading::timestamp));
        last = batch.last().map(Reading::timestamp).or(last);
        store.append_readings(&batch).await?;
    }
    let (Some(start), Some(last)) = (first, last) else {
        return Err("no readings were generated".into());
    };
    let end = Timestamp::from_unix_millis(last.unix_millis() + 1)?;
    let Some(device) = workload
        .next_batch(1)?
        .first()
        .map(|r| r.device_id().clone())
    else {
        return Err("no device".into());
    };
    let query = StatsQuery {
        start,
        end,
        bucket: Some("1h".parse::<BucketWidth>()?),
    };
    // One query to warm the page cache, as a server that answers charts all day has it. The
    // hourly rollups are built while appending, so this first query reads them too: it is timed
    // and shown (not judged).
    let started = Stopwatch::start();
    let warm = store.statistics(&device, &query).await?;
    let first_ms = started.elapsed().as_secs_f64() * 1e3;
    if warm.count != READINGS as u64 {
        return Err(format!("statistics counted {} readings", warm.count).into());
    }
    let buckets = warm.buckets.as_ref().map_or(0, Vec::len);
    let mut millis = Vec::new();
    for _ in 0..runs {
        let started = Stopwatch::start();
        let stats = store.statistics(&device, &query).await?;
        millis.push(started.elapsed().as_secs_f64() * 1e3);
        if stats.count != READINGS as u64 {
            return Err(format!("statistics counted {} readings", stats.count).into());
        }
    }
    store.close().await;
    let ms = median(&mut millis);
    let pass = ms <= 200.0;
    Ok(Line {
        text: format!(
            "P7  SQLite statistics with 1h buckets over {} readings of one device ({} buckets, \
             every metric), {runs} runs: median {ms:.1} ms (target <= 200 ms; first query after \
             ingest {first_ms:.1} ms) {}",
            thousands(READINGS as f64),
            thousands(buckets as f64),
            verdict(pass)
        ),
        pass,
    })
}

/// P8: the engine's memory per managed device (each with a schedule, control state, presence
/// and timers), counted by the global allocator around a second engine's recovery.
async fn p8(quick: bool) -> Result<Line, BoxError> {
    const TARGET: f64 = 1024.0;
    let devices = if quick { 20_000 } else { 100_000 };
    let region = Region::new(ALLOCATOR);
    let m = praan_benches::engine::engine_memory(devices, || {
        let c = region.change();
        c.bytes_allocated as i128 - c.bytes_deallocated as i128 + c.bytes_reallocated as i128
    })
    .await?;
    let per_device = m.per_device();
    let pass = per_device <= TARGET;
    Ok(Line {
        text: format!(
            "P8  engine memory: {} devices (each registered, online, a Mon-Fri schedule with its \
             boundary timer; {} schedules), recovered engine holds {} bytes = {:.0} bytes per \
             device (target <= {TARGET:.0}) {}",
            thousands(m.devices as f64),
            thousands(m.schedules as f64),
            thousands(m.bytes as f64),
            per_device,
            verdict(pass)
        ),
        pass,
    })
}

/// P6: HTTP reads (`/state`, `/latest`) on loopback: requests per second and p99.
async fn p6(quick: bool) -> Result<Line, BoxError> {
    let window = Duration::from_secs(if quick { 5 } else { 20 });
    let r = praan_benches::http::p6(32, window).await?;
    let pass = r.per_sec >= 20_000.0 && r.p99 <= Duration::from_millis(5);
    Ok(Line {
        text: format!(
            "P6  HTTP reads /state and /latest over 1,000 devices (SQLite), {} keep-alive \
             connections on loopback for {:?}: {} req/s, p50 {:.2} ms, p99 {:.2} ms (target >= \
             20,000 req/s and p99 <= 5 ms) {}",
            r.connections,
            window,
            thousands(r.per_sec),
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            verdict(pass)
        ),
        pass,
    })
}

/// P10: MongoDB `append_readings` ÷ a raw `insert_many` of the same documents (see
/// `praan_benches::mongo`). Skipped, and said so, without a server.
async fn p10(quick: bool) -> Result<Line, BoxError> {
    let Ok(uri) = std::env::var("PRAAN_TEST_MONGODB_URI") else {
        return Ok(Line {
            text: "P10 MongoDB append ÷ raw insert_many: SKIPPED (PRAAN_TEST_MONGODB_URI is not \
                   set; run `scripts/test-services.sh start && source .services/env` first)"
                .to_owned(),
            pass: true,
        });
    };
    let r = praan_benches::mongo::p10(&uri, quick).await?;
    Ok(Line {
        text: format!(
            "P10 MongoDB append_readings ÷ raw insert_many, batches of {} over {} devices, {} \
             rounds: {} ÷ {} readings/s = {:.2} (target >= {}) {}",
            r.batch,
            r.devices,
            r.rounds,
            thousands(r.store_per_sec),
            thousands(r.raw_per_sec),
            r.ratio,
            praan_benches::mongo::P10_TARGET,
            verdict(r.passes())
        ),
        pass: r.passes(),
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let named: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |target: &str| named.is_empty() || named.contains(&target);
    let result = runtime().and_then(|rt| {
        rt.block_on(async {
            let mut all = true;
            for target in ["p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10"] {
                if !wanted(target) {
                    continue;
                }
                let line = match target {
                    "p1" => p1(quick).await?,
                    "p2" => p2(quick).await?,
                    "p3" => p3(quick).await?,
                    "p4" => p4(quick).await?,
                    "p5" => p5(quick).await?,
                    "p6" => p6(quick).await?,
                    "p7" => p7(quick).await?,
                    "p8" => p8(quick).await?,
                    "p9" => p9(quick).await?,
                    _ => p10(quick).await?,
                };
                writeln!(std::io::stdout(), "{}", line.text)?;
                all &= line.pass;
            }
            Ok::<bool, BoxError>(all)
        })
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("report: {e}");
            ExitCode::from(2)
        }
    }
}
