//! The ingestion pipeline on `MemoryTransport`, a `MemoryStore` (wrapped to fail on demand), the
//! engine and `FakeClock`: acks only after the commit and in arrival order, batching by size and
//! by delay, duplicates, every reject reason, unknown devices, a store outage with bounded memory,
//! acks and presence reaching the engine, and the graceful drain. Nothing sleeps: time moves only
//! through the fake clock, and the tests wait for conditions by yielding (with a cap).

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use praan_core::{
    clock::{Clock, FakeClock},
    codec::{Codec, CodecLimits, RejectReason, TopicPrefix},
    domain::{
        Command, CommandId, CommandSource, CommandStatus, ControlState, Device, DeviceId,
        DeviceState, FanSpeed, IdempotencyKey, Instruction, Metric, PreClean, PreCleanId, Presence,
        PresenceReason, Reading, ReportedState, Schedule, ScheduleId, ScheduleRun, Timestamp,
    },
    engine::{CommandRequest, DeviceEvent, Engine, EngineConfig, EngineEvent, Handle},
    ingest::{CHUNK, Ingest, IngestConfig, IngestError, IngestHandle},
    store::{
        AppendOutcome, CommandFilter, CommandRepo, ControlRepo, DeviceFilter, DeviceRepo, Limit,
        MaintenanceRepo, MemoryStore, Page, PreCleanRepo, PurgeOutcome, ReadingQuery,
        RetentionCutoffs, ScheduleRepo, StateRepo, Statistics, StatsQuery, Store, StoreError,
        StoreResult, TelemetryRepo,
    },
    transport::{Delivery, Faults, MemoryTransport},
};
use tokio::task::JoinHandle;

// ---- a store that fails on demand ----

/// A `MemoryStore` whose `append_readings` fails while `failing` is set; it counts its calls and
/// records, at each commit, how many deliveries the transport had acknowledged before it.
#[derive(Debug)]
struct FlakyStore {
    inner: MemoryStore,
    transport: MemoryTransport,
    failing: AtomicBool,
    /// While set, presence and last-seen writes fail too (an outage the engine meets).
    failing_state: AtomicBool,
    append_failures: AtomicU64,
    ensure_calls: AtomicU64,
    /// Per successful append: (readings in the batch, deliveries acked before it).
    commits: Mutex<Vec<(usize, usize)>>,
}

impl FlakyStore {
    fn new(transport: MemoryTransport) -> Self {
        Self {
            inner: MemoryStore::new(),
            transport,
            failing: AtomicBool::new(false),
            failing_state: AtomicBool::new(false),
            append_failures: AtomicU64::new(0),
            ensure_calls: AtomicU64::new(0),
            commits: Mutex::new(Vec::new()),
        }
    }

    fn fail(&self, on: bool) {
        self.failing.store(on, Ordering::SeqCst);
    }

    fn state_outage(&self) -> StoreResult<()> {
        if self.failing_state.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                context: "recording presence (injected outage)".into(),
                source: "database is locked".into(),
            });
        }
        Ok(())
    }

    fn failures(&self) -> u64 {
        self.append_failures.load(Ordering::SeqCst)
    }

    fn commits(&self) -> Vec<(usize, usize)> {
        self.commits.lock().unwrap().clone()
    }

    fn batch_sizes(&self) -> Vec<usize> {
        self.commits().into_iter().map(|(n, _)| n).collect()
    }
}

#[async_trait]
impl TelemetryRepo for FlakyStore {
    async fn append_readings(&self, readings: &[Reading]) -> StoreResult<AppendOutcome> {
        if self.failing.load(Ordering::SeqCst) {
            self.append_failures.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Unavailable {
                context: "appending readings (injected outage)".into(),
                source: "database is locked".into(),
            });
        }
        let acked = self.transport.acked().len();
        let outcome = self.inner.append_readings(readings).await?;
        self.commits.lock().unwrap().push((readings.len(), acked));
        Ok(outcome)
    }
    async fn readings(&self, id: &DeviceId, query: &ReadingQuery) -> StoreResult<Page<Reading>> {
        self.inner.readings(id, query).await
    }
    async fn latest_reading(&self, id: &DeviceId) -> StoreResult<Option<Reading>> {
        self.inner.latest_reading(id).await
    }
    async fn statistics(&self, id: &DeviceId, query: &StatsQuery) -> StoreResult<Statistics> {
        self.inner.statistics(id, query).await
    }
}

#[async_trait]
impl DeviceRepo for FlakyStore {
    async fn insert_device(&self, device: &Device) -> StoreResult<()> {
        self.inner.insert_device(device).await
    }
    async fn ensure_device(&self, device: &Device) -> StoreResult<bool> {
        self.ensure_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.ensure_device(device).await
    }
    async fn update_device(&self, device: &Device) -> StoreResult<()> {
        self.inner.update_device(device).await
    }
    async fn delete_device(&self, id: &DeviceId) -> StoreResult<()> {
        self.inner.delete_device(id).await
    }
    async fn get_device(&self, id: &DeviceId) -> StoreResult<Option<Device>> {
        self.inner.get_device(id).await
    }
    async fn list_devices(&self, filter: &DeviceFilter) -> StoreResult<Vec<Device>> {
        self.inner.list_devices(filter).await
    }
}

#[async_trait]
impl StateRepo for FlakyStore {
    async fn device_state(&self, id: &DeviceId) -> StoreResult<Option<DeviceState>> {
        self.inner.device_state(id).await
    }
    async fn device_states(&self) -> StoreResult<Vec<DeviceState>> {
        self.inner.device_states().await
    }
    async fn record_reported(&self, id: &DeviceId, reported: ReportedState) -> StoreResult<bool> {
        self.inner.record_reported(id, reported).await
    }
    async fn record_presence(&self, id: &DeviceId, presence: Presence) -> StoreResult<bool> {
        self.state_outage()?;
        self.inner.record_presence(id, presence).await
    }
    async fn record_seen(&self, id: &DeviceId, at: Timestamp) -> StoreResult<()> {
        self.state_outage()?;
        self.inner.record_seen(id, at).await
    }
}

#[async_trait]
impl CommandRepo for FlakyStore {
    async fn insert_command(&self, command: &Command) -> StoreResult<()> {
        self.inner.insert_command(command).await
    }
    async fn update_command(&self, command: &Command) -> StoreResult<()> {
        self.inner.update_command(command).await
    }
    async fn get_command(&self, id: CommandId) -> StoreResult<Option<Command>> {
        self.inner.get_command(id).await
    }
    async fn commands_for_device(
        &self,
        id: &DeviceId,
        filter: &CommandFilter,
    ) -> StoreResult<Vec<Command>> {
        self.inner.commands_for_device(id, filter).await
    }
    async fn unfinished_commands(&self) -> StoreResult<Vec<Command>> {
        self.inner.unfinished_commands().await
    }
    async fn command_by_idempotency_key(
        &self,
        id: &DeviceId,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<Command>> {
        self.inner.command_by_idempotency_key(id, key).await
    }
}

#[async_trait]
impl ScheduleRepo for FlakyStore {
    async fn insert_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        self.inner.insert_schedule(schedule).await
    }
    async fn update_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        self.inner.update_schedule(schedule).await
    }
    async fn delete_schedule(&self, id: ScheduleId) -> StoreResult<()> {
        self.inner.delete_schedule(id).await
    }
    async fn get_schedule(&self, id: ScheduleId) -> StoreResult<Option<Schedule>> {
        self.inner.get_schedule(id).await
    }
    async fn schedules_for_device(&self, id: &DeviceId) -> StoreResult<Vec<Schedule>> {
        self.inner.schedules_for_device(id).await
    }
    async fn active_schedules(&self) -> StoreResult<Vec<Schedule>> {
        self.inner.active_schedules().await
    }
    async fn insert_run(&self, run: &ScheduleRun) -> StoreResult<()> {
        self.inner.insert_run(run).await
    }
    async fn runs_for_schedule(
        &self,
        id: ScheduleId,
        limit: Limit,
    ) -> StoreResult<Vec<ScheduleRun>> {
        self.inner.runs_for_schedule(id, limit).await
    }
}

#[async_trait]
impl PreCleanRepo for FlakyStore {
    async fn insert_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()> {
        self.inner.insert_pre_clean(pre_clean).await
    }
    async fn update_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()> {
        self.inner.update_pre_clean(pre_clean).await
    }
    async fn delete_pre_clean(&self, id: PreCleanId) -> StoreResult<()> {
        self.inner.delete_pre_clean(id).await
    }
    async fn get_pre_clean(&self, id: PreCleanId) -> StoreResult<Option<PreClean>> {
        self.inner.get_pre_clean(id).await
    }
    async fn active_pre_clean(&self, id: &DeviceId) -> StoreResult<Option<PreClean>> {
        self.inner.active_pre_clean(id).await
    }
    async fn active_pre_cleans(&self) -> StoreResult<Vec<PreClean>> {
        self.inner.active_pre_cleans().await
    }
    async fn pre_clean_history(&self, id: &DeviceId, limit: Limit) -> StoreResult<Vec<PreClean>> {
        self.inner.pre_clean_history(id, limit).await
    }
}

#[async_trait]
impl ControlRepo for FlakyStore {
    async fn get_control(&self, id: &DeviceId) -> StoreResult<Option<ControlState>> {
        self.inner.get_control(id).await
    }
    async fn put_control(&self, state: &ControlState) -> StoreResult<()> {
        self.inner.put_control(state).await
    }
    async fn control_states(&self) -> StoreResult<Vec<ControlState>> {
        self.inner.control_states().await
    }
}

#[async_trait]
impl MaintenanceRepo for FlakyStore {
    async fn purge(&self, cutoffs: &RetentionCutoffs, batch: u32) -> StoreResult<PurgeOutcome> {
        self.inner.purge(cutoffs, batch).await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
}

// ---- the rig: engine + pipeline on a fake clock ----

const START: &str = "2026-11-28T09:00:00Z";
const DELAY: Duration = Duration::from_millis(50);

struct Rig {
    clock: FakeClock,
    store: Arc<FlakyStore>,
    transport: MemoryTransport,
    engine: Handle,
    monitor: IngestHandle,
    ingest: Option<JoinHandle<Result<(), IngestError>>>,
    capacity: usize,
}

fn config(max_batch: usize) -> IngestConfig {
    IngestConfig {
        max_batch,
        max_delay: DELAY,
        // These tests follow batches by the clock; `commit_when_idle` has its own tests.
        commit_when_idle: false,
        store_retry_min: Duration::from_millis(100),
        store_retry_max: Duration::from_millis(500),
        accept_unknown_devices: true,
    }
}

fn codec() -> Codec {
    Codec::new(
        TopicPrefix::default(),
        CodecLimits {
            max_payload_bytes: 1024,
            max_batch: 3,
            ..CodecLimits::default()
        },
    )
}

impl Rig {
    /// Starts the engine and the pipeline, the inbound channel holding `capacity` messages.
    async fn start(config: IngestConfig, capacity: usize) -> Self {
        let clock = FakeClock::new(ts(START));
        let (transport, inbound) = MemoryTransport::new(capacity);
        let store = Arc::new(FlakyStore::new(transport.clone()));
        let (engine, engine_task) = Engine::start(
            EngineConfig::default(),
            store.clone() as Arc<dyn Store>,
            Arc::new(transport.clone()),
            Arc::new(clock.clone()),
        )
        .await
        .unwrap();
        tokio::spawn(engine_task);
        let (monitor, pipeline) = Ingest::start(
            config,
            codec(),
            store.clone() as Arc<dyn Store>,
            Arc::new(transport.clone()),
            engine.clone(),
            Arc::new(clock.clone()),
            inbound,
        );
        Self {
            clock,
            store,
            transport,
            engine,
            monitor,
            ingest: Some(tokio::spawn(pipeline)),
            capacity,
        }
    }

    async fn inject(&self, topic: &str, payload: &str) -> Delivery {
        self.transport
            .inject(topic, payload.to_owned())
            .await
            .unwrap()
    }

    /// Injects a reading of `device` with a device timestamp `n` seconds before the start.
    async fn reading(&self, device: &str, n: i64) -> Delivery {
        self.inject(&format!("device/{device}/data"), &reading_json(n))
            .await
    }

    /// Waits until the pipeline has taken `n` messages in all.
    async fn taken(&self, n: u64) {
        until(&format!("{n} messages taken"), || {
            self.monitor.stats().received >= n
        })
        .await;
    }

    /// Waits until `n` deliveries are acknowledged in all.
    async fn acked(&self, n: usize) {
        until(&format!("{n} acks"), || self.transport.acked().len() >= n).await;
    }

    /// Closes the inbound channel and waits for the pipeline to end.
    async fn drain(&mut self) {
        self.transport.close_inbound();
        let task = self.ingest.take().expect("the pipeline runs");
        task.await.unwrap().unwrap();
    }

    async fn stored(&self, device: &str) -> Vec<Reading> {
        let query = ReadingQuery {
            limit: Limit::new(1000).unwrap(),
            ..ReadingQuery::default()
        };
        self.store
            .readings(&dev(device), &query)
            .await
            .unwrap()
            .items
    }
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn reading_json(n: i64) -> String {
    let t = ts(START)
        .saturating_sub(Duration::from_secs(1000))
        .saturating_add(Duration::from_secs(n as u64));
    format!(
        r#"{{"timestamp":"{}","pm25":{}.5,"fanSpeed":2,"powerOn":true}}"#,
        t.to_rfc3339(),
        n
    )
}

/// Yields until `cond` holds (the pipeline and the engine run meanwhile); panics after a cap.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..20_000 {
        if cond() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("gave up waiting for {what}");
}

/// Lets every task run until nothing is left to do (for "nothing happened" assertions).
async fn idle() {
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
}

// ---- tests ----

#[tokio::test]
async fn readings_are_acknowledged_only_after_the_commit_in_arrival_order() {
    let rig = Rig::start(config(10), 64).await;
    let r1 = rig.reading("d1", 1).await;
    let online = rig.inject("device/d1/status", "online").await;
    let r2 = rig.reading("d2", 2).await;
    let bad = rig.inject("device/d1/data", "{not json").await;
    let r3 = rig.reading("d1", 3).await;
    rig.taken(5).await;
    idle().await;
    assert!(
        rig.transport.acked().is_empty(),
        "nothing acked while readings before it are uncommitted, not even a status or a reject"
    );
    assert!(rig.store.commits().is_empty());
    assert_eq!(rig.monitor.stats().rejected(RejectReason::MalformedJson), 1);
    assert_eq!(rig.monitor.stats().in_flight(), 5);

    rig.clock.advance(DELAY);
    rig.acked(5).await;
    assert_eq!(rig.transport.acked(), [r1, online, r2, bad, r3]);
    assert_eq!(
        rig.store.commits(),
        [(3, 0)],
        "one batch of three, committed before any of its deliveries was acked"
    );
    assert_eq!(rig.stored("d1").await.len(), 2);
    assert_eq!(rig.stored("d2").await.len(), 1);
    let stats = rig.monitor.stats();
    assert_eq!(
        (stats.readings_stored, stats.batches, stats.acked),
        (3, 1, 5)
    );
    assert_eq!(stats.in_flight(), 0);
}

#[tokio::test]
async fn messages_queued_behind_a_reading_are_bounded_by_max_batch_too() {
    let rig = Rig::start(config(4), 64).await;
    let mut sent = vec![rig.reading("d1", 1).await];
    for _ in 0..3 {
        sent.push(rig.inject("device/d1/status", "online").await);
    }
    rig.acked(4).await;
    assert_eq!(
        rig.transport.acked(),
        sent,
        "four messages: committed without waiting"
    );
    assert_eq!(rig.store.batch_sizes(), [1]);
}

#[tokio::test]
async fn a_batch_leaves_after_max_delay_on_the_clock() {
    let rig = Rig::start(config(100), 64).await;
    let mut events = rig.engine.subscribe();
    let first = [rig.reading("d1", 1).await, rig.reading("d1", 2).await];
    rig.taken(2).await;
    rig.clock.advance(DELAY - Duration::from_millis(1));
    idle().await;
    assert!(rig.transport.acked().is_empty(), "not before max_delay");
    rig.clock.advance(Duration::from_millis(1));
    rig.acked(2).await;
    assert_eq!(rig.transport.acked(), first);
    assert_eq!(rig.store.batch_sizes(), [2]);

    // The next batch's delay counts from its own first reading.
    rig.clock.advance(Duration::from_secs(1));
    let third = rig.reading("d1", 3).await;
    rig.taken(3).await;
    rig.clock.advance(DELAY / 2);
    idle().await;
    assert_eq!(rig.transport.acked().len(), 2);
    rig.clock.advance(DELAY / 2);
    rig.acked(3).await;
    assert_eq!(rig.transport.acked()[2], third);
    assert_eq!(rig.store.batch_sizes(), [2, 1]);

    // Each stored reading is announced on the engine's event stream.
    let mut announced = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let EngineEvent::Reading { reading } = event {
            announced.push(reading.metric(Metric::Pm25));
        }
    }
    assert_eq!(announced, [Some(1.5), Some(2.5), Some(3.5)]);
}

#[tokio::test]
async fn with_commit_when_idle_a_batch_leaves_as_soon_as_nothing_more_waits() {
    let config = IngestConfig {
        commit_when_idle: true,
        ..config(100)
    };
    let rig = Rig::start(config, 64).await;
    let first = rig.reading("d1", 1).await;
    // No clock movement at all: the channel is empty after the first message.
    rig.acked(1).await;
    assert_eq!(rig.transport.acked(), [first]);
    assert_eq!(rig.store.batch_sizes(), [1]);
}

#[tokio::test]
async fn with_commit_when_idle_what_waits_during_a_commit_forms_the_next_batch() {
    let config = IngestConfig {
        commit_when_idle: true,
        ..config(100)
    };
    let rig = Rig::start(config, 64).await;
    // The store holds the first commit back while more readings queue up behind it.
    rig.store.fail(true);
    rig.reading("d1", 0).await;
    until("a failed commit", || rig.store.failures() > 0).await;
    for n in 1..=20 {
        rig.reading("d1", n).await;
    }
    rig.store.fail(false);
    rig.clock.advance(Duration::from_secs(1)); // the retry backoff
    rig.acked(21).await;
    let sizes = rig.store.batch_sizes();
    assert_eq!(sizes.iter().sum::<usize>(), 21, "{sizes:?}");
    assert!(
        sizes.len() < 21 && sizes.iter().any(|&n| n > 1),
        "group commit: what queued during the outage left together, {sizes:?}"
    );
}

#[tokio::test]
async fn a_batch_leaves_when_full_and_a_backlog_that_does_not_fit_starts_the_next() {
    let rig = Rig::start(config(4), 64).await;
    let mut sent = Vec::new();
    for n in 0..10 {
        sent.push(rig.reading("d1", n).await);
    }
    rig.acked(8).await;
    assert_eq!(rig.store.batch_sizes(), [4, 4]);
    assert_eq!(rig.transport.acked(), sent[..8]);

    // Two pending; a backlog of three does not fit: the two leave first.
    let backlog = format!(
        "[{},{},{}]",
        reading_json(20),
        reading_json(21),
        reading_json(22)
    );
    sent.push(rig.inject("device/d1/data", &backlog).await);
    rig.acked(10).await;
    assert_eq!(rig.store.batch_sizes(), [4, 4, 2]);
    rig.clock.advance(DELAY);
    rig.acked(11).await;
    assert_eq!(rig.store.batch_sizes(), [4, 4, 2, 3]);
    assert_eq!(rig.transport.acked(), sent);
    assert_eq!(rig.stored("d1").await.len(), 13);
}

#[tokio::test]
async fn a_backlog_keeps_its_good_readings_and_counts_each_bad_one() {
    let rig = Rig::start(config(100), 64).await;
    let backlog = format!(r#"[{},{{"pm25":-1}},{{"pm25":"x"}}]"#, reading_json(1));
    let d = rig.inject("device/d1/data", &backlog).await;
    let all_bad = rig.inject("device/d2/data", r#"[{"pm25":-1}]"#).await;
    rig.taken(2).await;
    rig.clock.advance(DELAY);
    rig.acked(2).await;
    assert_eq!(rig.transport.acked(), [d, all_bad]);
    let stats = rig.monitor.stats();
    assert_eq!(stats.readings_stored, 1);
    assert_eq!(stats.rejected(RejectReason::OutOfRange), 2);
    assert_eq!(stats.rejected(RejectReason::WrongType), 1);
    assert_eq!(stats.rejected_total(), 3);
    assert_eq!(rig.stored("d1").await.len(), 1);
    assert!(
        rig.store.get_device(&dev("d2")).await.unwrap().is_none(),
        "a message with nothing valid registers no device"
    );
}

#[tokio::test]
async fn redelivered_readings_are_stored_once_and_every_delivery_acked() {
    let mut rig = Rig::start(config(1000), 64).await;
    rig.transport.set_faults(Faults {
        duplicate_inbound: true,
        ..Faults::default()
    });
    for n in 0..5 {
        rig.reading("d1", n).await;
    }
    rig.taken(10).await;
    // A redelivery in a later batch too.
    rig.clock.advance(DELAY);
    rig.acked(10).await;
    rig.transport.set_faults(Faults::default());
    rig.reading("d1", 4).await;
    rig.drain().await;

    let acked = rig.transport.acked();
    assert_eq!(acked, (0..11).map(Delivery::new).collect::<Vec<_>>());
    assert!(rig.transport.unacked().is_empty());
    let stats = rig.monitor.stats();
    assert_eq!((stats.readings_stored, stats.readings_duplicate), (5, 6));
    assert_eq!(rig.stored("d1").await.len(), 5);
}

#[tokio::test]
async fn every_reject_reason_is_acknowledged_dropped_and_counted() {
    let rig = Rig::start(config(1000), 64).await;
    let future = ts(START)
        .saturating_add(Duration::from_secs(2 * 24 * 3600))
        .to_rfc3339();
    let huge = format!(r#"{{"pm25":1,"pad":"{}"}}"#, "x".repeat(2000));
    let too_many = format!(
        "[{},{},{},{}]",
        reading_json(1),
        reading_json(2),
        reading_json(3),
        reading_json(4)
    );
    let cases: Vec<(&str, String, RejectReason)> = vec![
        (
            "elsewhere/d1/data",
            r#"{"pm25":1}"#.into(),
            RejectReason::Topic,
        ),
        (
            "device/d1/data/extra",
            r#"{"pm25":1}"#.into(),
            RejectReason::Topic,
        ),
        (
            "device/bad id/data",
            r#"{"pm25":1}"#.into(),
            RejectReason::DeviceId,
        ),
        (
            "device/d1/command",
            "{}".into(),
            RejectReason::UnexpectedTopic,
        ),
        ("device/d1/data", huge, RejectReason::Oversized),
        (
            "device/d1/data",
            "{not json".into(),
            RejectReason::MalformedJson,
        ),
        (
            "device/d1/data",
            r#"{"pm25":"high"}"#.into(),
            RejectReason::WrongType,
        ),
        (
            "device/d1/data",
            r#"{"humidity":140}"#.into(),
            RejectReason::OutOfRange,
        ),
        (
            "device/d1/data",
            r#"{"deviceId":"d2","pm25":1}"#.into(),
            RejectReason::SpoofedDeviceId,
        ),
        (
            "device/d1/data",
            format!(r#"{{"timestamp":"{future}","pm25":1}}"#),
            RejectReason::FutureTimestamp,
        ),
        (
            "device/d1/data",
            r#"{"timestamp":"yesterday","pm25":1}"#.into(),
            RejectReason::BadTimestamp,
        ),
        ("device/d1/data", "[]".into(), RejectReason::EmptyBatch),
        ("device/d1/data", too_many, RejectReason::BatchTooLarge),
        ("device/d1/status", "maybe".into(), RejectReason::BadStatus),
    ];
    let mut sent = Vec::new();
    for (topic, payload, _) in &cases {
        sent.push(rig.inject(topic, payload).await);
    }
    // Nothing is pending, so each is acknowledged at once, in order; no clock movement needed.
    rig.acked(cases.len()).await;
    assert_eq!(rig.transport.acked(), sent);

    let stats = rig.monitor.stats();
    for (topic, _, reason) in &cases {
        let expected = cases.iter().filter(|(_, _, r)| r == reason).count() as u64;
        assert_eq!(stats.rejected(*reason), expected, "{reason} ({topic})");
    }
    let covered: std::collections::BTreeSet<_> = cases.iter().map(|(_, _, r)| *r).collect();
    let missing: Vec<_> = RejectReason::ALL
        .into_iter()
        .filter(|r| !covered.contains(r) && *r != RejectReason::UnknownDevice)
        .collect();
    assert!(missing.is_empty(), "not exercised here: {missing:?}");
    assert_eq!(stats.rejected_total(), cases.len() as u64);
    assert_eq!((stats.readings_stored, stats.batches), (0, 0));
    assert!(rig.stored("d1").await.is_empty());
    assert!(
        rig.store
            .list_devices(&DeviceFilter::default())
            .await
            .unwrap()
            .is_empty(),
        "no rejected message registers a device"
    );
}

#[tokio::test]
async fn unknown_devices_are_refused_when_not_accepted() {
    let config = IngestConfig {
        accept_unknown_devices: false,
        ..config(1000)
    };
    let mut rig = Rig::start(config, 64).await;
    let known = Device::auto_registered(dev("known"), ts(START));
    rig.store.insert_device(&known).await.unwrap();
    let sent = [
        rig.reading("stranger", 1).await,
        rig.inject("device/stranger/status", "online").await,
        rig.inject(
            "device/stranger/ack",
            r#"{"commandId":"0193f1c2-0000-7000-8000-000000000000","status":"success"}"#,
        )
        .await,
        rig.reading("known", 1).await,
    ];
    rig.drain().await;
    assert_eq!(rig.transport.acked(), sent);
    let stats = rig.monitor.stats();
    assert_eq!(stats.rejected(RejectReason::UnknownDevice), 3);
    assert_eq!((stats.readings_stored, stats.devices_registered), (1, 0));
    assert!(
        rig.store
            .get_device(&dev("stranger"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(rig.stored("stranger").await.is_empty());
    assert!(
        rig.store
            .device_state(&dev("stranger"))
            .await
            .unwrap()
            .is_none(),
        "nothing reached the engine either"
    );
}

#[tokio::test]
async fn devices_register_on_their_first_message_once() {
    let rig = Rig::start(config(2), 64).await;
    for n in 0..6 {
        rig.reading("d1", n).await;
    }
    rig.acked(6).await;
    let device = rig.store.get_device(&dev("d1")).await.unwrap().unwrap();
    assert!(device.auto_registered);
    assert_eq!(
        rig.store.ensure_calls.load(Ordering::SeqCst),
        1,
        "known ids are cached"
    );
    assert_eq!(rig.monitor.stats().devices_registered, 1);
    let state = rig.store.device_state(&dev("d1")).await.unwrap().unwrap();
    assert_eq!(state.last_seen, Some(ts(START)));
    rig.engine.control(dev("d1")).await.unwrap(); // a round trip: the engine handled `Seen`
    let state = rig.store.device_state(&dev("d1")).await.unwrap().unwrap();
    assert!(state.is_online(), "the engine was told the device is seen");
}

#[tokio::test]
async fn a_deleted_and_forgotten_device_registers_again_on_its_next_message() {
    let rig = Rig::start(config(1), 64).await;
    rig.reading("d1", 0).await;
    rig.acked(1).await;
    assert_eq!(rig.monitor.stats().devices_registered, 1);

    rig.store.delete_device(&dev("d1")).await.unwrap();
    rig.engine.forget_device(dev("d1")).await.unwrap();
    rig.reading("d1", 1).await;
    rig.acked(2).await;
    assert_eq!(
        rig.monitor.stats().devices_registered,
        2,
        "the cache of known devices was dropped"
    );
    assert!(rig.store.get_device(&dev("d1")).await.unwrap().is_some());
}

#[tokio::test]
async fn a_store_outage_stalls_without_acknowledging_then_loses_nothing() {
    const CAPACITY: usize = 8;
    const BATCH: usize = 4;
    const TOTAL: i64 = 100;
    let rig = Rig::start(config(BATCH), CAPACITY).await;
    rig.store.fail(true);
    let injector = {
        let transport = rig.transport.clone();
        tokio::spawn(async move {
            let mut sent = Vec::new();
            for n in 0..TOTAL {
                let topic = format!("device/d{}/data", n % 5);
                sent.push(transport.inject(&topic, reading_json(n)).await.unwrap());
            }
            sent
        })
    };
    let bound = rig.capacity + BATCH + CHUNK.min(rig.capacity) + 1;

    until("the first failed commit", || rig.store.failures() >= 1).await;
    idle().await;
    let taken = rig.monitor.stats().received;
    let mut waits = Vec::new();
    for attempt in 2..=7 {
        // The pipeline does not read while it retries: the channel fills, the injector blocks.
        assert!(
            !injector.is_finished(),
            "backpressure reached the publisher"
        );
        assert_eq!(
            rig.monitor.stats().received,
            taken,
            "nothing taken while failing"
        );
        assert!(
            rig.transport.acked().is_empty(),
            "nothing acked while failing"
        );
        let unacked = rig.transport.unacked().len();
        assert!(unacked <= bound, "{unacked} unacknowledged > {bound}");
        let now = rig.clock.now();
        let next = rig.clock.next_deadline().expect("a retry is scheduled");
        waits.push(next.saturating_duration_since(now).as_millis());
        rig.clock.advance_to_next();
        until("another failed commit", || rig.store.failures() >= attempt).await;
        idle().await;
    }
    assert_eq!(
        waits,
        [100, 200, 400, 500, 500, 500],
        "capped exponential backoff"
    );
    assert_eq!(rig.monitor.stats().store_failures, 7);
    assert!(rig.store.commits().is_empty());

    rig.store.fail(false);
    rig.clock.advance_to_next();
    for _ in 0..100 {
        if injector.is_finished() && rig.transport.acked().len() == TOTAL as usize {
            break;
        }
        rig.clock.advance(DELAY);
        idle().await;
        assert!(rig.transport.unacked().len() <= bound);
    }
    let sent = injector.await.unwrap();
    assert_eq!(rig.transport.acked(), sent, "all acked, in order");
    let stats = rig.monitor.stats();
    assert_eq!(
        (stats.readings_stored, stats.readings_duplicate),
        (TOTAL as u64, 0)
    );
    let mut stored = 0;
    for d in 0..5 {
        stored += rig.stored(&format!("d{d}")).await.len();
    }
    assert_eq!(stored, TOTAL as usize, "every reading stored exactly once");
    assert!(
        rig.store.commits().iter().all(|&(n, _)| n <= BATCH),
        "batches stay bounded: {:?}",
        rig.store.batch_sizes()
    );
}

#[tokio::test]
async fn acks_status_and_shutdown_notices_reach_the_engine() {
    let rig = Rig::start(config(1000), 64).await;
    let d1 = dev("d1");
    rig.store
        .insert_device(&Device::auto_registered(d1.clone(), ts(START)))
        .await
        .unwrap();
    let mut events = rig.engine.subscribe();

    let command = rig
        .engine
        .send_command(CommandRequest {
            device_id: d1.clone(),
            instruction: Instruction::set_fan_speed(FanSpeed::new(3).unwrap()),
            source: CommandSource::Manual,
            idempotency_key: None,
            expires_in: None,
        })
        .await
        .unwrap();
    rig.inject(
        "device/d1/ack",
        &format!(
            r#"{{"deviceId":"d1","commandId":"{}","status":"success","currentState":{{"powerOn":true,"fanSpeed":3}}}}"#,
            command.command_id
        ),
    )
    .await;
    let done = rig.engine.wait_terminal(command.command_id).await.unwrap();
    assert_eq!(done.status, CommandStatus::Acknowledged);
    assert_eq!(
        next_presence(&mut events).await,
        (true, PresenceReason::Message),
        "the ack is a message from the device"
    );

    rig.inject("device/d1/status", "offline").await;
    assert_eq!(
        next_presence(&mut events).await,
        (false, PresenceReason::LastWill)
    );
    rig.inject("device/d1/status", r#"{"online":true}"#).await;
    assert_eq!(
        next_presence(&mut events).await,
        (true, PresenceReason::StatusTopic)
    );
    rig.inject(
        "device/d1/data",
        r#"{"deviceId":"d1","status":"offline","message":"powering down"}"#,
    )
    .await;
    assert_eq!(
        next_presence(&mut events).await,
        (false, PresenceReason::ShutdownNotice)
    );
    let state = rig.store.device_state(&d1).await.unwrap().unwrap();
    let presence = state.presence.unwrap();
    assert_eq!(
        (presence.online, presence.reason),
        (false, PresenceReason::ShutdownNotice)
    );
    assert_eq!(state.reported.map(|r| r.state.fan_speed.get()), Some(3));
    rig.acked(4).await;
}

/// Awaits the next presence event (skipping others).
async fn next_presence(
    events: &mut tokio::sync::broadcast::Receiver<EngineEvent>,
) -> (bool, PresenceReason) {
    loop {
        match events.recv().await.unwrap() {
            EngineEvent::Presence { presence, .. } => return (presence.online, presence.reason),
            _ => continue,
        }
    }
}

#[tokio::test]
async fn the_engine_hears_a_device_in_arrival_order() {
    // A reading, then the broker's Last Will, in one batch: the engine must see the reading
    // first, or the device would end up online.
    let rig = Rig::start(config(1000), 64).await;
    rig.reading("d1", 1).await;
    rig.inject("device/d1/status", "offline").await;
    rig.taken(2).await;
    rig.clock.advance(DELAY);
    rig.acked(2).await;
    // A round trip through the engine: it has handled what ingestion handed it.
    rig.engine.control(dev("d1")).await.unwrap();
    let state = rig.store.device_state(&dev("d1")).await.unwrap().unwrap();
    let presence = state.presence.unwrap();
    assert_eq!(
        (presence.online, presence.reason),
        (false, PresenceReason::LastWill)
    );
}

#[tokio::test]
async fn closing_the_channel_commits_and_acknowledges_what_is_pending() {
    let mut rig = Rig::start(config(1000), 64).await;
    let mut sent = Vec::new();
    for n in 0..10 {
        sent.push(rig.reading("d1", n).await);
    }
    sent.push(rig.inject("device/d1/status", "online").await);
    sent.push(rig.reading("d2", 0).await);
    let before = rig.clock.now();
    rig.drain().await;
    assert_eq!(rig.clock.now(), before, "no clock movement needed");
    assert_eq!(rig.transport.acked(), sent);
    assert_eq!(rig.store.batch_sizes(), [11]);
    assert_eq!(rig.stored("d1").await.len(), 10);
    assert_eq!(rig.stored("d2").await.len(), 1);
}

/// A store failure while the engine handles a device event is logged, and the engine carries on:
/// an outage must not stop command delivery for good.
#[tokio::test]
async fn engine_carries_on_after_a_store_failure_on_a_device_event() {
    let rig = Rig::start(config(10), 16).await;
    rig.store.failing_state.store(true, Ordering::SeqCst);
    rig.engine
        .device_event(DeviceEvent::Presence {
            device_id: DeviceId::new("d1").unwrap(),
            online: false,
            reason: PresenceReason::StatusTopic,
            at: rig.clock.now(),
        })
        .await
        .unwrap();
    // Still running: a request queued after the failed event is answered (the event is handled
    // first, while the store still fails).
    assert!(
        rig.engine
            .control(DeviceId::new("d1").unwrap())
            .await
            .is_ok()
    );
    rig.store.failing_state.store(false, Ordering::SeqCst);
    rig.engine
        .device_event(DeviceEvent::Presence {
            device_id: DeviceId::new("d1").unwrap(),
            online: true,
            reason: PresenceReason::StatusTopic,
            at: rig.clock.now(),
        })
        .await
        .unwrap();
    rig.engine
        .control(DeviceId::new("d1").unwrap())
        .await
        .unwrap();
    let state = rig
        .store
        .device_state(&DeviceId::new("d1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.presence.map(|p| p.online), Some(true));
}
