//! P8: the engine's memory per managed device. A `MemoryStore` is filled (through a first engine)
//! with N devices, each registered, seen (online, so it has a silence timer), with a weekly
//! schedule (a boundary timer) and the control state it leads to; then a second engine starts on
//! that store and rebuilds its in-memory state from it. The bytes the second engine holds —
//! allocated and not freed between before its start and after its recovery, while its handle is
//! alive — divided by N are the figure. The allocation counter is the caller's (the report binary
//! installs a counting global allocator), so this library needs no global state.

use std::{sync::Arc, time::Duration};

use praan_core::{
    clock::FakeClock,
    domain::{Device, DeviceId, RuleSpec, ScheduleRule, Timestamp, Timezone},
    engine::{DeviceEvent, Engine, EngineConfig, EngineError, Handle},
    store::{DeviceRepo, MemoryStore, ScheduleRepo, StateRepo, Store},
    transport::MemoryTransport,
};

use tokio::task::JoinHandle;

use crate::sqlite::BoxError;

/// What [`engine_memory`] measured.
#[derive(Clone, Copy, Debug)]
pub struct EngineMemory {
    /// Managed devices.
    pub devices: usize,
    /// Bytes the recovered engine holds in all.
    pub bytes: i128,
    /// Enabled schedules it holds.
    pub schedules: usize,
}

impl EngineMemory {
    /// Bytes per managed device.
    pub fn per_device(&self) -> f64 {
        self.bytes as f64 / self.devices.max(1) as f64
    }
}

/// A `MemoryStore` of managed devices, as [`managed_fleet`] leaves it.
#[derive(Debug)]
pub struct ManagedFleet {
    /// The store: every device registered, seen, with its schedule and control state.
    pub store: Arc<MemoryStore>,
    /// The clock, at [`ManagedFleet::start`] (a Saturday, 08:00 UTC).
    pub clock: FakeClock,
    /// The devices (`MEM_000000`, …).
    pub ids: Vec<DeviceId>,
    /// Every device's schedule: Monday to Friday, 09:00–17:00 UTC, fan speed 3.
    pub rule: ScheduleRule,
    /// When the devices were registered and seen.
    pub start: Timestamp,
}

/// Fills a `MemoryStore` through a first engine (stopped again before this returns) with
/// `devices` devices, each registered, seen (online) and with an enabled Mon–Fri schedule.
pub async fn managed_fleet(devices: usize) -> Result<ManagedFleet, BoxError> {
    // A Saturday morning: the Mon–Fri windows are not active, so each device has a boundary
    // timer for Monday 09:00 and no command to send.
    let start = Timestamp::parse_rfc3339("2026-11-28T08:00:00Z")?;
    let clock = FakeClock::new(start);
    let store = Arc::new(MemoryStore::new());
    let rule = RuleSpec {
        days: Some(
            ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
                .map(String::from)
                .to_vec(),
        ),
        start_time: Some("09:00".to_owned()),
        end_time: Some("17:00".to_owned()),
        fan_speed: 3,
        ..RuleSpec::default()
    }
    .build(Timezone::UTC)?;
    let ids: Vec<DeviceId> = (0..devices)
        .map(|n| DeviceId::new(&format!("MEM_{n:06}")))
        .collect::<Result<_, _>>()?;

    let (engine, task) = start_engine(&store, &clock).await?;
    for id in &ids {
        store
            .insert_device(&Device::auto_registered(id.clone(), start))
            .await?;
        store.record_seen(id, start).await?;
        engine
            .device_event(DeviceEvent::Seen {
                device_id: id.clone(),
                at: start,
            })
            .await?;
        engine
            .create_schedule(id.clone(), rule.clone(), true)
            .await?;
    }
    drop(engine);
    task.await??;
    Ok(ManagedFleet {
        store,
        clock,
        ids,
        rule,
        start,
    })
}

/// An engine with default settings on `store` and `clock`, publishing into a `MemoryTransport`
/// nobody reads; its task spawned.
async fn start_engine(
    store: &Arc<MemoryStore>,
    clock: &FakeClock,
) -> Result<(Handle, JoinHandle<Result<(), EngineError>>), BoxError> {
    let (transport, _inbound) = MemoryTransport::new(16);
    let (engine, task) = Engine::start(
        EngineConfig::default(),
        store.clone() as Arc<dyn Store>,
        Arc::new(transport),
        Arc::new(clock.clone()),
    )
    .await?;
    Ok((engine, tokio::spawn(task)))
}

/// Measures the engine's memory per device over `devices` devices; `allocated()` returns the
/// bytes currently allocated in the process (allocations minus deallocations).
pub async fn engine_memory(
    devices: usize,
    allocated: impl Fn() -> i128,
) -> Result<EngineMemory, BoxError> {
    let ManagedFleet {
        store, clock, ids, ..
    } = managed_fleet(devices).await?;

    clock.advance(Duration::from_secs(60));
    let before = allocated();
    let (engine, task) = start_engine(&store, &clock).await?;
    // A round trip: the recovered engine is running and has handled its first due timers.
    engine.control(ids[0].clone()).await?;
    let bytes = allocated() - before;
    let schedules = store.active_schedules().await?.len();
    drop(engine);
    task.await??;
    Ok(EngineMemory {
        devices,
        bytes,
        schedules,
    })
}
