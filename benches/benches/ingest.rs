//! The ingest pipeline (`praan_core::ingest`) into SQLite on a temporary file, in readings per
//! second: pre-encoded readings injected through `MemoryTransport`, decoded, batched, committed
//! with one `append_readings` per batch, acknowledged, and handed (one `Seen` per device and
//! batch) to an engine on the same store. Batches of 100, 1000 and 5000 readings from 100 and from
//! 10,000 devices.
//!
//! The pipeline runs on a `FakeClock` that never moves and with `commit_when_idle` off, so every
//! batch is committed at exactly `max_batch` readings: one iteration is one full batch. Before the
//! measurements, whole batches covering every device register them (as on a server that has been
//! up for a while).

use std::{sync::Arc, time::Duration};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use praan_benches::{
    mqtt::{Message, encode, wait_for},
    sqlite::{BoxError, Workload, runtime},
};
use praan_core::{
    clock::{Clock, FakeClock, Stopwatch},
    codec::Codec,
    domain::Timestamp,
    engine::{Engine, EngineConfig, Handle},
    ingest::{Ingest, IngestConfig, IngestError, IngestHandle},
    store::Store,
    transport::MemoryTransport,
};
use praan_store_sqlite::SqliteStore;
use tokio::{runtime::Runtime, task::JoinHandle};

/// Messages the transport's inbound channel holds.
const INBOUND_CAPACITY: usize = 8_192;
/// The longest a measured stretch may take.
const TIMEOUT: Duration = Duration::from_secs(600);

/// A running pipeline over a fresh database, and the readings still to come.
struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<SqliteStore>,
    transport: MemoryTransport,
    monitor: IngestHandle,
    ingest: JoinHandle<Result<(), IngestError>>,
    engine: Handle,
    engine_task: JoinHandle<Result<(), praan_core::engine::EngineError>>,
    workload: Workload,
    /// Readings injected so far.
    sent: u64,
}

impl Rig {
    /// Starts the pipeline and engine on a new database, and registers `devices` devices.
    async fn start(devices: usize, max_batch: usize) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("ingest.db").display());
        let store = Arc::new(SqliteStore::connect(&url).await?);
        // Later than every reading the workload makes (so none is "in the future"); never moves.
        let clock: Arc<dyn Clock> = Arc::new(FakeClock::new(Timestamp::parse_rfc3339(
            "2030-01-01T00:00:00Z",
        )?));
        let (transport, inbound) = MemoryTransport::new(INBOUND_CAPACITY);
        let (engine, engine_task) = Engine::start(
            EngineConfig::default(),
            Arc::clone(&store) as Arc<dyn Store>,
            Arc::new(transport.clone()),
            Arc::clone(&clock),
        )
        .await?;
        let engine_task = tokio::spawn(engine_task);
        let (monitor, ingest) = Ingest::start(
            IngestConfig {
                max_batch,
                commit_when_idle: false,
                ..IngestConfig::default()
            },
            Codec::default(),
            Arc::clone(&store) as Arc<dyn Store>,
            Arc::new(transport.clone()),
            engine.clone(),
            clock,
            inbound,
        );
        let mut rig = Self {
            _dir: dir,
            store,
            transport,
            monitor,
            ingest: tokio::spawn(ingest),
            engine,
            engine_task,
            workload: Workload::new(devices, 120_000)?,
            sent: 0,
        };
        // Whole batches, so none waits for a deadline; the workload takes the devices in turn.
        let warm_up = encode(&mut rig.workload, devices.div_ceil(max_batch) * max_batch)?;
        rig.run(warm_up).await?;
        Ok(rig)
    }

    /// Injects `messages` and waits until all are stored; returns the time from the first inject.
    async fn run(&mut self, messages: Arc<[Message]>) -> Result<Duration, BoxError> {
        self.sent += messages.len() as u64;
        let target = self.sent;
        let transport = self.transport.clone();
        let started = Stopwatch::start();
        let injecting = tokio::spawn(async move {
            for m in messages.iter() {
                transport.inject(&m.topic, m.payload.clone()).await?;
            }
            Ok::<_, BoxError>(())
        });
        wait_for("the readings stored", TIMEOUT, || {
            if self.ingest.is_finished() || self.engine_task.is_finished() {
                return Err("the pipeline stopped".into());
            }
            Ok(self.monitor.stats().readings_stored >= target)
        })
        .await?;
        let took = started.elapsed();
        injecting.await??;
        let stats = self.monitor.stats();
        if stats.readings_stored != target || stats.rejected_total() != 0 {
            return Err(format!("the pipeline stored unexpected readings: {stats:?}").into());
        }
        Ok(took)
    }

    /// Drains and stops the pipeline, the engine and the store.
    async fn stop(self) -> Result<(), BoxError> {
        self.transport.close_inbound();
        self.ingest.await??;
        drop(self.engine);
        self.engine_task.await??;
        self.store.close().await;
        Ok(())
    }
}

fn ingest(c: &mut Criterion) {
    let rt: Runtime = runtime().expect("a tokio runtime");
    let mut group = c.benchmark_group("ingest");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for devices in [100, 10_000] {
        for max_batch in [100, 1000, 5000] {
            let mut rig = rt
                .block_on(Rig::start(devices, max_batch))
                .expect("start the pipeline");
            group.throughput(Throughput::Elements(max_batch as u64));
            group.bench_function(
                BenchmarkId::new(format!("{devices}_devices"), max_batch),
                |b| {
                    b.iter_custom(|batches| {
                        let n = usize::try_from(batches).expect("a batch count") * max_batch;
                        let messages = encode(&mut rig.workload, n).expect("encode readings");
                        rt.block_on(rig.run(messages)).expect("a measured run")
                    })
                },
            );
            rt.block_on(rig.stop()).expect("stop the pipeline");
        }
    }
    group.finish();
}

criterion_group!(benches, ingest);
criterion_main!(benches);
