//! End to end, in readings per second: one rumqttc publisher (QoS 1) → a real broker →
//! praan's MQTT transport → the ingest pipeline (acknowledging after the commit) → SQLite on a
//! temporary file, with the engine behind it; readings of 1,000 devices. The pipeline of P2
//! and P3 of PERFORMANCE.md (`praan_benches::mqtt::pipeline`), with their brokers and settings:
//!
//! - `rumqttd`: the embedded broker, with `PipelineSettings::P3`;
//! - `mosquitto`: Mosquitto from `PRAAN_TEST_MOSQUITTO_BIN`, with `PipelineSettings::P2`;
//!   without it, that benchmark is skipped with a message.
//!
//! One iteration is 10,000 readings. Each criterion sample is one pipeline run on a fresh database:
//! connecting and a warm-up of one reading per device (devices registered and online) happen
//! before the timing starts, which runs from the first publish until the last reading is stored.

use std::{path::PathBuf, time::Duration};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use praan_benches::{
    mqtt::{Messages, PUBLISHER_INFLIGHT, PipelineSettings, p2_broker, p3_broker, pipeline},
    sqlite::{BoxError, runtime},
};
use tokio::runtime::Runtime;

/// Devices the readings come from.
const DEVICES: usize = 1_000;
/// Readings per iteration.
const READINGS: usize = 10_000;

/// Times `iters` × [`READINGS`] readings through a new pipeline on the broker at `port`.
async fn measure(
    port: u16,
    run: &mut usize,
    iters: u64,
    settings: PipelineSettings,
) -> Result<Duration, BoxError> {
    let messages = Messages::new(DEVICES, usize::try_from(iters)? * READINGS)?;
    *run += 1;
    Ok(
        pipeline(port, *run, &messages, PUBLISHER_INFLIGHT, settings)
            .await?
            .took,
    )
}

fn end_to_end(c: &mut Criterion) {
    let rt: Runtime = runtime().expect("a tokio runtime");
    let mut run = 0;
    let mut group = c.benchmark_group("end_to_end");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(READINGS as u64));

    let rumqttd = rt.block_on(p3_broker()).expect("start rumqttd");
    group.bench_function("rumqttd", |b| {
        b.iter_custom(|iters| {
            rt.block_on(measure(
                rumqttd.port(),
                &mut run,
                iters,
                PipelineSettings::P3,
            ))
            .expect("a pipeline run on rumqttd")
        })
    });

    match std::env::var_os("PRAAN_TEST_MOSQUITTO_BIN") {
        Some(bin) => {
            let mosquitto = rt
                .block_on(p2_broker(PathBuf::from(bin)))
                .expect("start Mosquitto");
            group.bench_function("mosquitto", |b| {
                b.iter_custom(|iters| {
                    rt.block_on(measure(
                        mosquitto.port(),
                        &mut run,
                        iters,
                        PipelineSettings::P2,
                    ))
                    .expect("a pipeline run on Mosquitto")
                })
            });
        }
        None => eprintln!(
            "end_to_end/mosquitto: SKIPPED (PRAAN_TEST_MOSQUITTO_BIN is not set; run \
             `scripts/test-services.sh start && source .services/env` first)"
        ),
    }
    group.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
