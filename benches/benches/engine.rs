//! The engine's steps with 100,000 managed devices (each registered, with a Mon–Fri 09:00–17:00
//! schedule, as PERFORMANCE.md P8 fills them) on `MemoryStore`, `MemoryTransport` and a
//! `FakeClock`, per element:
//!
//! - `commands`: `Handle::send_command` (a manual fan speed, the devices in turn, each newer
//!   command superseding the device's pending one): stored, published, answered.
//! - `schedule_boundary`: the clock jumps to the next boundary of every device's schedule at once
//!   (09:00 and 17:00 in turn: each window starts or ends); the time until the engine has handled
//!   all 100,000 boundaries (each a command, stored and published), per boundary. Between
//!   measurements, outside the timing, the clock moves on until the commands sent at the last
//!   boundary have finished (timed out).
//!
//! Filling the store (and the engine's recovery from it) happens once, before any measurement.

use std::{sync::Arc, time::Duration};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use praan_benches::{
    engine::{ManagedFleet, managed_fleet},
    sqlite::{BoxError, runtime},
};
use praan_core::{
    clock::{Clock, Stopwatch},
    domain::{CommandSource, FanSpeed, Instruction},
    engine::{CommandRequest, Engine, EngineConfig, EngineError, Handle},
    schedule::next_boundary,
    store::Store,
    transport::MemoryTransport,
};
use tokio::{runtime::Runtime, task::JoinHandle};

/// Managed devices.
const DEVICES: usize = 100_000;
/// Longer than a command takes to finish unacknowledged (4 attempts × 30 s by default).
const SETTLE: Duration = Duration::from_secs(5 * 60);

/// An engine recovered from the filled store.
struct Rig {
    fleet: ManagedFleet,
    transport: MemoryTransport,
    engine: Handle,
    task: JoinHandle<Result<(), EngineError>>,
    /// Commands sent by the `commands` bench so far.
    commands: u64,
}

impl Rig {
    async fn start() -> Result<Self, BoxError> {
        let fleet = managed_fleet(DEVICES).await?;
        let (transport, _inbound) = MemoryTransport::new(16);
        let (engine, task) = Engine::start(
            EngineConfig::default(),
            fleet.store.clone() as Arc<dyn Store>,
            Arc::new(transport.clone()),
            Arc::new(fleet.clock.clone()),
        )
        .await?;
        Ok(Self {
            fleet,
            transport,
            engine,
            task: tokio::spawn(task),
            commands: 0,
        })
    }

    /// A request round trip: the engine has handled every timer due by now.
    async fn round_trip(&self) -> Result<(), BoxError> {
        self.engine.control(self.fleet.ids[0].clone()).await?;
        Ok(())
    }

    /// Moves the clock on (untimed) until the commands of the last boundary have finished, then
    /// to the next boundary; returns the time the engine took to handle the boundaries there.
    async fn boundary(&self) -> Result<Duration, BoxError> {
        let clock = &self.fleet.clock;
        clock.advance(SETTLE);
        self.round_trip().await?;
        self.transport.take_published();
        let (at, kind) = next_boundary(&self.fleet.rule, clock.now())
            .ok_or("the schedule has no next boundary")?;
        let started = Stopwatch::start();
        clock.set(at);
        self.round_trip().await?;
        let took = started.elapsed();
        let published = self.transport.take_published().len();
        if published != DEVICES {
            return Err(
                format!("{published} commands at a {kind:?} boundary, expected {DEVICES}").into(),
            );
        }
        Ok(took)
    }

    /// Sends `n` manual commands, the devices in turn; returns the time they took.
    async fn commands(&mut self, n: u64) -> Result<Duration, BoxError> {
        let speeds = (1..=5).map(FanSpeed::new).collect::<Result<Vec<_>, _>>()?;
        let ids = &self.fleet.ids;
        let requests = (self.commands..self.commands + n)
            .map(|k| {
                let k = usize::try_from(k)?;
                Ok(CommandRequest {
                    device_id: ids[k % ids.len()].clone(),
                    // A different speed each round, so no command repeats the last.
                    instruction: Instruction::set_fan_speed(speeds[k / ids.len() % speeds.len()]),
                    source: CommandSource::Manual,
                    idempotency_key: None,
                    expires_in: None,
                })
            })
            .collect::<Result<Vec<_>, BoxError>>()?;
        self.commands += n;
        let started = Stopwatch::start();
        for request in requests {
            self.engine.send_command(request).await?;
        }
        let took = started.elapsed();
        self.transport.take_published();
        Ok(took)
    }

    async fn stop(self) -> Result<(), BoxError> {
        drop(self.engine);
        self.task.await??;
        Ok(())
    }
}

fn engine(c: &mut Criterion) {
    let rt: Runtime = runtime().expect("a tokio runtime");
    let mut rig = rt.block_on(Rig::start()).expect("fill the store");

    let mut group = c.benchmark_group("engine_100k");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(DEVICES as u64));
    group.bench_function("schedule_boundary", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| rt.block_on(rig.boundary()).expect("a boundary step"))
                .sum()
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("commands", |b| {
        b.iter_custom(|n| rt.block_on(rig.commands(n)).expect("commands"))
    });
    group.finish();
    rt.block_on(rig.stop()).expect("stop the engine");
}

criterion_group!(benches, engine);
criterion_main!(benches);
