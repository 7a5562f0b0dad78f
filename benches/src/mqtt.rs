//! PERFORMANCE.md P2, P3 and P9: praan's ingestion end to end on real MQTT brokers, and the
//! device simulator at fleet scale.
//!
//! **The pipeline** (P2, P3) is what a server runs: [`MqttPool`] (persistent session, QoS 1
//! subscriptions of [`Codec::subscriptions`], manual acks) → [`Ingest`] (decode, batch, one
//! `append_readings` per batch, acknowledge after the commit, hand the engine one `Seen` per
//! device) → [`SqliteStore`] on a temporary file, with an [`Engine`] behind it, all on
//! [`SystemClock`]. **The pass-through** is the least a subscriber can do with the same messages:
//! a plain rumqttc client subscribed at QoS 1 that counts them (rumqttc acknowledges each on
//! receipt). Both sides get the same pre-encoded readings ([`Codec::encode_reading`] of
//! [`Workload`]'s readings, 1,000 devices in turn) from the same publisher code (one rumqttc client
//! publishing at QoS 1), on the same broker, in the same run, runs alternating.
//!
//! Each run first sends a warm-up of one reading per device and waits until it is through (for
//! the pipeline: stored, and every device registered and marked online by the engine, as on a
//! server that has been up for a while); then the clock starts at the first publish of the
//! measured readings and stops when the last one is stored (the pipeline's
//! `IngestStats::readings_stored`) or counted (the pass-through), both polled every millisecond.
//!
//! **Broker settings**, the same for both sides. Mosquitto (P2): `max_queued_messages 0` (no
//! limit: by default it drops what exceeds 1,000 queued messages per client) and
//! `max_inflight_messages 20000`: a subscriber that acknowledges only after the commit never has
//! more un-acknowledged messages than that window, so at Mosquitto's default of 20 a batch would
//! hold 20 readings. rumqttd (P3) has the same window fixed at 100 ([`RUMQTTD_INFLIGHT`]), so
//! P3's batches are 50 readings at most; its line shows `append_readings` alone at that batch size
//! for comparison.
//!
//! **P9** runs a [`Fleet`] of 10,000 simulated devices, each its own MQTT session, against
//! Mosquitto at a 1 s interval, and counts what the broker forwards with the same counting
//! subscriber (on `device/+/data`) over a window that starts once every device is connected.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use praan_core::{
    clock::{Clock, Stopwatch, SystemClock},
    codec::{Codec, TopicKind},
    engine::{Engine, EngineConfig, EngineEvent},
    ingest::{Ingest, IngestConfig},
    store::Store,
    transport::{MqttConfig, MqttPool, Transport},
};
use praan_simulator::{
    BrokerUrl, Fleet, FleetConfig,
    brokers::{Mosquitto, MosquittoOptions, Rumqttd, RumqttdOptions},
};
use praan_store_sqlite::SqliteStore;
use rumqttc::{AsyncClient, Event, MqttOptions, NetworkOptions, Outgoing, Packet, QoS};
use tokio::{sync::broadcast::error::RecvError, task::JoinHandle};

use crate::{
    median,
    sqlite::{BoxError, Workload},
};

/// P2's target: the pipeline keeps at least this share of the pass-through rate.
pub const P2_TARGET: f64 = 0.7;
/// P3's target, readings per second.
pub const P3_TARGET: f64 = 100_000.0;
/// P9's target: the share of the expected readings the broker must forward in the window.
pub const P9_TARGET: f64 = 0.95;

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(1);
/// The longest any one step (a connection, a drain, a measured run) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);
/// The filter the counting subscribers use: every reading (and nothing else devices publish).
const DATA_FILTER: &str = "device/+/data";

// ---- shared plumbing ---------------------------------------------------------------------------

/// Polls `cond` every millisecond until it returns true; an error naming `what` after `timeout`
/// (or as soon as `cond` fails).
pub async fn wait_for(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> Result<bool, BoxError>,
) -> Result<(), BoxError> {
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(timeout);
    loop {
        if cond()? {
            return Ok(());
        }
        if clock.now() >= deadline {
            return Err(format!("gave up waiting for {what} after {timeout:?}").into());
        }
        clock.sleep_until(clock.now().saturating_add(POLL)).await;
    }
}

/// `fut`, or an error naming `what` after `timeout`.
pub async fn within<T>(
    what: &str,
    timeout: Duration,
    fut: impl Future<Output = T>,
) -> Result<T, BoxError> {
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(timeout);
    tokio::select! {
        out = fut => Ok(out),
        () = clock.sleep_until(deadline) => {
            Err(format!("gave up waiting for {what} after {timeout:?}").into())
        }
    }
}

/// One pre-encoded publish.
#[derive(Clone, Debug)]
pub struct Message {
    /// The data topic of the reading's device.
    pub topic: String,
    /// The reading as the device publishes it.
    pub payload: Bytes,
}

/// The next `n` readings of `workload`, encoded as their devices publish them.
pub fn encode(workload: &mut Workload, n: usize) -> Result<Arc<[Message]>, BoxError> {
    let codec = Codec::default();
    Ok(workload
        .next_batch(n)?
        .iter()
        .map(|r| Message {
            topic: codec.topic(r.device_id(), TopicKind::Data),
            payload: Bytes::from(codec.encode_reading(r)),
        })
        .collect())
}

/// The readings of a run: a warm-up of one per device, then the measured ones.
#[derive(Debug)]
pub struct Messages {
    warm_up: Arc<[Message]>,
    measured: Arc<[Message]>,
}

impl Messages {
    /// `devices` devices' readings as they publish them (a warm-up of one per device, then
    /// `measured` more), encoded before any clock starts.
    pub fn new(devices: usize, measured: usize) -> Result<Self, BoxError> {
        let mut workload = Workload::new(devices, 120_000)?;
        Ok(Self {
            warm_up: encode(&mut workload, devices)?,
            measured: encode(&mut workload, measured)?,
        })
    }

    fn total(&self) -> u64 {
        (self.warm_up.len() + self.measured.len()) as u64
    }
}

/// What a [`Client`]'s event loop has seen.
#[derive(Debug, Default)]
struct Seen {
    connected: AtomicBool,
    subscribed: AtomicBool,
    pubacks: AtomicU64,
    publishes: AtomicU64,
}

/// A plain rumqttc client (clean session, QoS 1, automatic acks) with its event loop polled by
/// its own task: the publisher of P2/P3/P4, and the counting subscriber of the pass-through and P9.
pub(crate) struct Client {
    client: AsyncClient,
    seen: Arc<Seen>,
    published: u64,
    events: JoinHandle<Result<(), rumqttc::ConnectionError>>,
}

impl Client {
    /// Connects as `id` to 127.0.0.1:`port` and waits for the ConnAck. `inflight`: our QoS 1
    /// publishes awaiting a PUBACK, at most.
    async fn connect(port: u16, id: &str, inflight: u16) -> Result<Self, BoxError> {
        Self::connect_with(port, id, inflight, false).await
    }

    /// [`Client::connect`], with `TCP_NODELAY` when `nodelay` (one packet per publish, as each
    /// device's own session sends it, instead of Nagle's coalescing).
    pub(crate) async fn connect_with(
        port: u16,
        id: &str,
        inflight: u16,
        nodelay: bool,
    ) -> Result<Self, BoxError> {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_max_packet_size(64 * 1024, 64 * 1024)
            .set_inflight(inflight.max(1));
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(nodelay);
        eventloop.set_network_options(network);
        let seen = Arc::new(Seen::default());
        let counts = Arc::clone(&seen);
        let events = tokio::spawn(async move {
            loop {
                match eventloop.poll().await? {
                    Event::Incoming(Packet::ConnAck(_)) => {
                        counts.connected.store(true, Ordering::SeqCst);
                    }
                    Event::Incoming(Packet::SubAck(_)) => {
                        counts.subscribed.store(true, Ordering::SeqCst);
                    }
                    Event::Incoming(Packet::PubAck(_)) => {
                        counts.pubacks.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::Incoming(Packet::Publish(_)) => {
                        counts.publishes.fetch_add(1, Ordering::Relaxed);
                    }
                    Event::Outgoing(Outgoing::Disconnect) => return Ok(()),
                    _ => {}
                }
            }
        });
        let this = Self {
            client,
            seen,
            published: 0,
            events,
        };
        wait_for("an MQTT ConnAck", STEP_TIMEOUT, || {
            this.alive()?;
            Ok(this.seen.connected.load(Ordering::SeqCst))
        })
        .await?;
        Ok(this)
    }

    /// An error once the event loop has ended (the connection failed).
    pub(crate) fn alive(&self) -> Result<(), BoxError> {
        if self.events.is_finished() {
            return Err("an MQTT client's connection ended".into());
        }
        Ok(())
    }

    /// Subscribes to `filter` at QoS 1 and waits for the SubAck.
    async fn subscribe(&self, filter: &str) -> Result<(), BoxError> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await?;
        wait_for("a SubAck", STEP_TIMEOUT, || {
            self.alive()?;
            Ok(self.seen.subscribed.load(Ordering::SeqCst))
        })
        .await
    }

    /// Publishes every message at QoS 1, in order, from a task of its own.
    fn publish(&mut self, messages: &Arc<[Message]>) -> JoinHandle<Result<(), BoxError>> {
        self.published += messages.len() as u64;
        let (client, messages) = (self.client.clone(), Arc::clone(messages));
        tokio::spawn(async move {
            for m in messages.iter() {
                client
                    .publish_bytes(m.topic.clone(), QoS::AtLeastOnce, false, m.payload.clone())
                    .await?;
            }
            Ok(())
        })
    }

    /// Hands one QoS 1 publish to the client.
    pub(crate) async fn publish_one(
        &mut self,
        topic: String,
        payload: Bytes,
    ) -> Result<(), BoxError> {
        self.published += 1;
        self.client
            .publish_bytes(topic, QoS::AtLeastOnce, false, payload)
            .await?;
        Ok(())
    }

    /// Publishes received so far.
    fn received(&self) -> u64 {
        self.seen.publishes.load(Ordering::Relaxed)
    }

    /// Waits until the broker acknowledged everything published, then disconnects.
    pub(crate) async fn close(self) -> Result<(), BoxError> {
        wait_for("the broker's PUBACKs", STEP_TIMEOUT, || {
            self.alive()?;
            Ok(self.seen.pubacks.load(Ordering::Relaxed) >= self.published)
        })
        .await?;
        self.client.disconnect().await?;
        within("an MQTT disconnect", STEP_TIMEOUT, self.events).await???;
        Ok(())
    }
}

/// Publishes `messages` from `publisher` and waits until `through()` says they are all through;
/// returns the time from the first publish.
async fn timed(
    what: &str,
    publisher: &mut Client,
    messages: &Arc<[Message]>,
    mut through: impl FnMut() -> Result<bool, BoxError>,
) -> Result<Duration, BoxError> {
    let started = Stopwatch::start();
    let publishing = publisher.publish(messages);
    wait_for(what, STEP_TIMEOUT, || {
        publisher.alive()?;
        through()
    })
    .await?;
    let took = started.elapsed();
    within("the publisher", STEP_TIMEOUT, publishing).await???;
    Ok(took)
}

/// A fresh client id for each connection of a run.
fn client_id(kind: &str, run: usize, side: &str) -> String {
    format!("praan-bench-{kind}-{run}-{side}")
}

// ---- the two sides of P2 and P3 ----------------------------------------------------------------

/// How the pipeline is set up.
#[derive(Clone, Copy, Debug)]
pub struct PipelineSettings {
    /// The pipeline's `IngestConfig::max_batch`.
    pub max_batch: usize,
    /// The pipeline's `IngestConfig::max_delay`.
    pub max_delay: Duration,
    /// The transport's `MqttConfig::inbound_capacity`.
    pub inbound_capacity: usize,
    /// Data sessions besides the control session (`MqttPool`): each adds one broker in-flight
    /// window of readings the pipeline can hold at once.
    pub data_sessions: usize,
}

impl PipelineSettings {
    /// P2's settings, for Mosquitto (see [`p2_broker`]).
    pub const P2: Self = Self {
        max_batch: 5_000,
        max_delay: Duration::from_millis(50),
        inbound_capacity: 8_192,
        data_sessions: 0,
    };

    /// P3's settings, for rumqttd (see [`p3_broker`]).
    ///
    /// rumqttd 0.20 sends a subscriber at most 100 un-acknowledged QoS 1 messages (a constant of
    /// its router), and the pipeline acknowledges only after the commit, so a batch can never hold
    /// more than 100 readings. Committing at half the window lets the other half arrive during the
    /// commit; a short deadline keeps a partial batch from waiting for messages the broker will
    /// not send. Data sessions (`MqttPool`, 4 × 100 in flight, batches up to 5,000) were measured
    /// too, alternating with this in one run: 15.6k and 12.0k readings/s against 17.4k and 16.8k —
    /// the pipeline is bound by the two cores, not by the window (its mean batch stayed near 100).
    pub const P3: Self = Self {
        max_batch: RUMQTTD_INFLIGHT / 2,
        max_delay: Duration::from_millis(2),
        inbound_capacity: 2_048,
        data_sessions: 0,
    };
}

/// The publisher's in-flight window (QoS 1 publishes awaiting a PUBACK) in P2 and P3.
pub const PUBLISHER_INFLIGHT: u16 = 1_000;

/// The pass-through: a counting subscriber; returns the measured time.
async fn pass_through(
    port: u16,
    run: usize,
    messages: &Messages,
    publisher_inflight: u16,
) -> Result<Duration, BoxError> {
    let counter = Client::connect(port, &client_id("pt", run, "sub"), 1).await?;
    counter.subscribe(DATA_FILTER).await?;
    let mut publisher =
        Client::connect(port, &client_id("pt", run, "pub"), publisher_inflight).await?;
    let warm = messages.warm_up.len() as u64;
    let warming = publisher.publish(&messages.warm_up);
    wait_for("the pass-through warm-up", STEP_TIMEOUT, || {
        counter.alive()?;
        publisher.alive()?;
        Ok(counter.received() >= warm)
    })
    .await?;
    within("the publisher", STEP_TIMEOUT, warming).await???;
    let total = messages.total();
    let took = timed(
        "the pass-through's readings",
        &mut publisher,
        &messages.measured,
        || {
            counter.alive()?;
            Ok(counter.received() >= total)
        },
    )
    .await?;
    publisher.close().await?;
    counter.close().await?;
    Ok(took)
}

/// A measured pipeline run.
#[derive(Clone, Copy, Debug)]
pub struct PipelineRun {
    /// From the first measured publish until the last measured reading was stored.
    pub took: Duration,
    /// Batches committed while measured.
    pub batches: u64,
}

/// The pipeline into a fresh SQLite file, on the broker at 127.0.0.1:`port`, with the engine
/// behind it: connects, sends the warm-up and waits until it is through, then times the measured
/// readings, and shuts everything down; returns the measured time and batch count. `run` numbers
/// the MQTT client ids (distinct runs on one broker need distinct numbers).
pub async fn pipeline(
    port: u16,
    run: usize,
    messages: &Messages,
    publisher_inflight: u16,
    settings: PipelineSettings,
) -> Result<PipelineRun, BoxError> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("ingest.db").display());
    let store = Arc::new(SqliteStore::connect(&url).await?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let codec = Codec::default();
    let id = client_id("praan", run, "ingest");
    let mut config = MqttConfig::new(format!("mqtt://127.0.0.1:{port}"), id.clone());
    config.subscriptions = codec.subscriptions();
    config.inbound_capacity = settings.inbound_capacity;
    let (transport, inbound, driver) = MqttPool::connect(
        config,
        &[codec.data_subscription()],
        settings.data_sessions,
        Arc::clone(&clock),
    )?;
    let driver = tokio::spawn(driver);
    let outbound: Arc<dyn Transport> = Arc::new(transport.clone());
    let (engine, engine_task) = Engine::start(
        EngineConfig::default(),
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&outbound),
        Arc::clone(&clock),
    )
    .await?;
    let engine_task = tokio::spawn(engine_task);
    let mut events = engine.subscribe();
    let (monitor, ingest) = Ingest::start(
        IngestConfig {
            max_batch: settings.max_batch,
            max_delay: settings.max_delay,
            ..IngestConfig::default()
        },
        codec,
        Arc::clone(&store) as Arc<dyn Store>,
        outbound,
        engine.clone(),
        clock,
        inbound,
    );
    let ingest = tokio::spawn(ingest);
    let running = || -> Result<(), BoxError> {
        if ingest.is_finished() || driver.is_finished() || engine_task.is_finished() {
            return Err("the pipeline stopped during a run".into());
        }
        Ok(())
    };
    wait_for("the transport's subscriptions", STEP_TIMEOUT, || {
        running()?;
        let stats = transport.stats();
        Ok(stats.subscribed >= 1 && stats.subscribed == stats.connections)
    })
    .await?;

    // Warm-up: every device registered and marked online, as on a server that has been up.
    let mut publisher =
        Client::connect(port, &client_id("praan", run, "pub"), publisher_inflight).await?;
    let warm = messages.warm_up.len();
    let warming = publisher.publish(&messages.warm_up);
    let mut online = 0;
    within("the engine's presence events", STEP_TIMEOUT, async {
        while online < warm {
            match events.recv().await {
                Ok(EngineEvent::Presence { .. }) => online += 1,
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    return Err::<(), BoxError>(format!("missed {n} engine events").into());
                }
                Err(RecvError::Closed) => return Err("the engine stopped".into()),
            }
        }
        Ok(())
    })
    .await??;
    drop(events);
    wait_for("the warm-up stored", STEP_TIMEOUT, || {
        running()?;
        Ok(monitor.stats().readings_stored >= warm as u64)
    })
    .await?;
    within("the publisher", STEP_TIMEOUT, warming).await???;

    let total = messages.total();
    let batches_before = monitor.stats().batches;
    let took = timed(
        "the pipeline's readings",
        &mut publisher,
        &messages.measured,
        || {
            running()?;
            Ok(monitor.stats().readings_stored >= total)
        },
    )
    .await?;
    let stats = monitor.stats();
    if stats.readings_stored != total || stats.rejected_total() != 0 {
        return Err(format!("the pipeline stored unexpected readings: {stats:?}").into());
    }
    publisher.close().await?;

    // Shutdown: the transport disconnects, the pipeline drains and ends, then the engine.
    transport.disconnect();
    within("the transport's driver", STEP_TIMEOUT, driver).await??;
    within("the pipeline", STEP_TIMEOUT, ingest).await???;
    drop(engine);
    within("the engine", STEP_TIMEOUT, engine_task).await???;
    store.close().await;
    // The session was persistent: end it, so the broker stops keeping messages for it.
    let forget = Client::connect(port, &id, 1).await?;
    forget.close().await?;
    Ok(PipelineRun {
        took,
        batches: stats.batches - batches_before,
    })
}

/// Rates of the runs of both sides, in readings per second.
#[derive(Debug, Default)]
struct Rates {
    pipeline: Vec<f64>,
    pass_through: Vec<f64>,
    ratios: Vec<f64>,
    /// Batches the pipeline committed while measured, over all runs.
    batches: u64,
}

impl Rates {
    /// The pipeline's mean batch size while measured.
    fn mean_batch(&self, readings_per_run: usize) -> usize {
        let readings = (readings_per_run * self.pipeline.len()) as u64;
        usize::try_from(readings / self.batches.max(1)).unwrap_or(usize::MAX)
    }
}

/// `runs` pairs of runs on the broker at `port`, the order alternating.
async fn pairs(port: u16, plan: &FlowPlan, messages: &Messages) -> Result<Rates, BoxError> {
    let n = messages.measured.len() as f64;
    let mut rates = Rates::default();
    for run in 0..plan.runs {
        let pipeline_first = run % 2 == 0;
        let mut pass = None;
        if !pipeline_first {
            pass = Some(pass_through(port, run, messages, plan.publisher_inflight).await?);
        }
        let pipe = pipeline(port, run, messages, plan.publisher_inflight, plan.settings).await?;
        if pipeline_first {
            pass = Some(pass_through(port, run, messages, plan.publisher_inflight).await?);
        }
        let p = n / pipe.took.as_secs_f64();
        rates.pipeline.push(p);
        rates.batches += pipe.batches;
        if let Some(pass) = pass {
            let t = n / pass.as_secs_f64();
            rates.pass_through.push(t);
            rates.ratios.push(p / t);
        }
    }
    Ok(rates)
}

/// How much P2 or P3 measures.
#[derive(Clone, Copy, Debug)]
struct FlowPlan {
    devices: usize,
    readings: usize,
    runs: usize,
    publisher_inflight: u16,
    settings: PipelineSettings,
}

/// Mosquitto's `max_inflight_messages` for P2, both sides: room for a whole batch being
/// committed plus what the transport buffers meanwhile (at Mosquitto's default of 20, a pipeline
/// that acknowledges after the commit would hold at most 20 readings per batch).
pub const P2_BROKER_INFLIGHT: usize = 20_000;

impl FlowPlan {
    fn p2(quick: bool) -> Self {
        Self {
            devices: 1_000,
            readings: if quick { 50_000 } else { 100_000 },
            runs: if quick { 5 } else { 9 },
            publisher_inflight: PUBLISHER_INFLIGHT,
            settings: PipelineSettings::P2,
        }
    }

    fn p3(quick: bool) -> Self {
        Self {
            devices: 1_000,
            readings: if quick { 50_000 } else { 200_000 },
            runs: if quick { 3 } else { 5 },
            publisher_inflight: PUBLISHER_INFLIGHT,
            settings: PipelineSettings::P3,
        }
    }
}

/// rumqttd 0.20's fixed in-flight window per subscriber (`router::iobufs::MAX_INFLIGHT`; its
/// `max_inflight_count` setting does not change it).
pub const RUMQTTD_INFLIGHT: usize = 100;

// ---- P2 ----------------------------------------------------------------------------------------

/// P2 as measured.
#[derive(Clone, Copy, Debug)]
pub struct P2 {
    /// Devices the readings come from.
    pub devices: usize,
    /// Readings measured per run (after a warm-up of one per device).
    pub readings: usize,
    /// Runs of each side.
    pub runs: usize,
    /// Mosquitto's `max_inflight_messages`, both sides.
    pub broker_inflight: usize,
    /// The pipeline's `IngestConfig::max_batch`.
    pub max_batch: usize,
    /// Median rate of the pipeline, readings per second.
    pub pipeline_per_sec: f64,
    /// Median rate of the pass-through, readings per second.
    pub pass_through_per_sec: f64,
    /// Median of the runs' ratios.
    pub ratio: f64,
    /// The pipeline's mean batch size while measured (batches also leave at `max_delay`).
    pub mean_batch: usize,
    /// `append_readings` alone in batches of `mean_batch` of the same devices, rows per second
    /// (context: the store's own rate at the batch size the pipeline committed).
    pub store_alone_per_sec: f64,
}

impl P2 {
    /// Whether the ratio meets [`P2_TARGET`].
    pub fn passes(&self) -> bool {
        self.ratio >= P2_TARGET
    }
}

/// Measures P2 on a Mosquitto started from `bin`.
pub async fn p2(bin: PathBuf, quick: bool) -> Result<P2, BoxError> {
    let plan = FlowPlan::p2(quick);
    let broker = p2_broker(bin).await?;
    let messages = Messages::new(plan.devices, plan.readings)?;
    let mut rates = pairs(broker.port(), &plan, &messages).await?;
    drop(broker);
    let mean_batch = rates.mean_batch(plan.readings);
    Ok(P2 {
        devices: plan.devices,
        readings: plan.readings,
        runs: plan.runs,
        broker_inflight: P2_BROKER_INFLIGHT,
        max_batch: plan.settings.max_batch,
        pipeline_per_sec: median(&mut rates.pipeline),
        pass_through_per_sec: median(&mut rates.pass_through),
        ratio: median(&mut rates.ratios),
        mean_batch,
        store_alone_per_sec: store_alone(plan.devices, mean_batch, plan.readings).await?,
    })
}

/// Starts Mosquitto from `bin` as P2 runs it: no queue limit, an in-flight window of
/// [`P2_BROKER_INFLIGHT`] messages per client.
pub async fn p2_broker(bin: PathBuf) -> Result<Mosquitto, BoxError> {
    Ok(Mosquitto::start(
        bin,
        MosquittoOptions {
            max_queued_messages: Some(0),
            max_inflight_messages: Some(P2_BROKER_INFLIGHT),
            ..MosquittoOptions::default()
        },
    )
    .await?)
}

/// `append_readings` alone, in batches of `batch` readings of `devices` devices (the workload of
/// the pipeline runs) into a fresh file: the store's ceiling at that batch size, rows per second.
async fn store_alone(devices: usize, batch: usize, rows: usize) -> Result<f64, BoxError> {
    use praan_core::store::TelemetryRepo as _;
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("alone.db").display());
    let store = SqliteStore::connect(&url).await?;
    let mut workload = Workload::new(devices, 120_000)?;
    // The same warm-up: every device's first reading (and state row) is there before the clock.
    store
        .append_readings(&workload.next_batch(devices)?)
        .await?;
    let batches = (0..rows.div_ceil(batch))
        .map(|_| workload.next_batch(batch))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Stopwatch::start();
    let mut stored = 0;
    for b in &batches {
        stored += store.append_readings(b).await?.inserted;
    }
    let took = started.elapsed();
    store.close().await;
    Ok(stored as f64 / took.as_secs_f64())
}

// ---- P3 ----------------------------------------------------------------------------------------

/// P3 as measured.
#[derive(Clone, Copy, Debug)]
pub struct P3 {
    /// Devices the readings come from.
    pub devices: usize,
    /// Readings measured per run (after a warm-up of one per device).
    pub readings: usize,
    /// Runs of each side.
    pub runs: usize,
    /// The pipeline's `IngestConfig::max_batch`.
    pub max_batch: usize,
    /// Median rate of the pipeline, readings per second.
    pub pipeline_per_sec: f64,
    /// Median rate of rumqttd's pass-through, readings per second (context).
    pub pass_through_per_sec: f64,
    /// The pipeline's mean batch size while measured.
    pub mean_batch: usize,
    /// `append_readings` alone in batches of `mean_batch` of the same devices, rows per second
    /// (context: the store's own rate at the batch size the broker's window allows).
    pub store_alone_per_sec: f64,
    /// `append_readings` alone in batches of [`P3_LARGE_BATCH`] of the same devices (the same
    /// number of rows into a fresh file), rows per second: what the store takes when batches
    /// are large, beside what the pipeline reaches through the broker's window.
    pub store_large_batches_per_sec: f64,
}

/// The batch size of [`P3::store_large_batches_per_sec`].
pub const P3_LARGE_BATCH: usize = 10_000;

impl P3 {
    /// Whether the pipeline's rate meets [`P3_TARGET`].
    pub fn passes(&self) -> bool {
        self.pipeline_per_sec >= P3_TARGET
    }
}

/// Measures P3 on an embedded rumqttd (which lives as long as the process).
pub async fn p3(quick: bool) -> Result<P3, BoxError> {
    let plan = FlowPlan::p3(quick);
    let broker = p3_broker().await?;
    let messages = Messages::new(plan.devices, plan.readings)?;
    let mut rates = pairs(broker.port(), &plan, &messages).await?;
    let mean_batch = rates.mean_batch(plan.readings);
    Ok(P3 {
        devices: plan.devices,
        readings: plan.readings,
        runs: plan.runs,
        max_batch: plan.settings.max_batch,
        pipeline_per_sec: median(&mut rates.pipeline),
        pass_through_per_sec: median(&mut rates.pass_through),
        mean_batch,
        store_alone_per_sec: store_alone(plan.devices, mean_batch, plan.readings).await?,
        store_large_batches_per_sec: store_alone(plan.devices, P3_LARGE_BATCH, plan.readings)
            .await?,
    })
}

/// Starts the embedded rumqttd as P3 runs it (it lives as long as the process).
pub async fn p3_broker() -> Result<Rumqttd, BoxError> {
    Ok(Rumqttd::start(RumqttdOptions {
        max_inflight_count: 1_000,
        max_outgoing_packet_count: 1_000,
        ..RumqttdOptions::default()
    })
    .await?)
}

// ---- P9 ----------------------------------------------------------------------------------------

/// P9 as measured.
#[derive(Clone, Copy, Debug)]
pub struct P9 {
    /// Simulated devices, each its own MQTT session.
    pub devices: usize,
    /// Each device's interval between readings.
    pub interval: Duration,
    /// Sessions opened per second at start.
    pub connect_rate: u32,
    /// How long until every device was connected.
    pub connected_in: Duration,
    /// The measuring window (from the moment all were connected).
    pub window: Duration,
    /// Readings expected in the window: devices × window ÷ interval.
    pub expected: f64,
    /// Readings the counting subscriber received in the window (what the broker forwarded).
    pub received: u64,
    /// PUBACKs the fleet received in the window (what the broker accepted).
    pub pubacks: u64,
    /// Reconnections over the whole run.
    pub reconnects: u64,
    /// Connection errors over the whole run.
    pub connection_errors: u64,
    /// Readings the fleet dropped (client queue full) over the whole run.
    pub dropped: u64,
    /// CPU time of this process (the fleet and the counting subscriber) in the window, as a share
    /// of one core; `None` when it cannot be read.
    pub cpu_share: Option<f64>,
}

impl P9 {
    /// The share of the expected readings the subscriber received.
    pub fn share(&self) -> f64 {
        self.received as f64 / self.expected
    }

    /// Whether the rate held (at least [`P9_TARGET`] of the expected readings) without a
    /// reconnect or a connection error.
    pub fn passes(&self) -> bool {
        self.share() >= P9_TARGET && self.reconnects == 0 && self.connection_errors == 0
    }
}

/// P9's fleet size.
pub const P9_DEVICES: usize = 10_000;

/// Why P9 cannot run here, if it cannot: each session is a socket in this process and one in the
/// broker (which inherits this process's limits), so the soft limit of open files must leave room
/// for them.
pub fn p9_shortfall() -> Option<String> {
    let needed = P9_DEVICES as u64 + 256;
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))?
        .split_whitespace()
        .nth(3)?
        .parse::<u64>()
        .ok()?;
    (soft < needed).then(|| {
        format!(
            "the open-files soft limit is {soft}, {P9_DEVICES} sessions need {needed} (run \
             `ulimit -n {needed}` first)"
        )
    })
}

/// This process's CPU time so far (user + system), from `/proc/self/stat`.
fn process_cpu(ticks_per_sec: Option<f64>) -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime = fields.next()?.parse::<f64>().ok()?;
    let stime = fields.next()?.parse::<f64>().ok()?;
    Some(Duration::from_secs_f64((utime + stime) / ticks_per_sec?))
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`).
fn clock_ticks() -> Option<f64> {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// Measures P9 on a Mosquitto started from `bin`: the fleet connects at `connect_rate` per
/// second, then the window runs.
pub async fn p9(bin: PathBuf, quick: bool) -> Result<P9, BoxError> {
    const INTERVAL: Duration = Duration::from_secs(1);
    const CONNECT_RATE: u32 = 1_000;
    let window = Duration::from_secs(if quick { 20 } else { 60 });
    let broker = Mosquitto::start(
        bin,
        MosquittoOptions {
            max_queued_messages: Some(0),
            max_inflight_messages: Some(1_000),
            ..MosquittoOptions::default()
        },
    )
    .await?;
    let counter = Client::connect(broker.port(), "praan-bench-p9-sub", 1).await?;
    counter.subscribe(DATA_FILTER).await?;

    let mut config = FleetConfig::new(BrokerUrl::parse(&broker.url())?, Arc::new(SystemClock));
    config.devices = P9_DEVICES;
    config.id_prefix = "P9_".to_owned();
    config.interval = INTERVAL;
    config.connect_rate = CONNECT_RATE;
    config.shutdown_timeout = Duration::from_secs(10);
    let shutdown_timeout = config.shutdown_timeout;
    let fleet = Fleet::new(config)?;
    let counters = fleet.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let connecting = Stopwatch::start();
    let run = tokio::spawn(fleet.run(async move {
        let _ = stopped.await;
    }));
    let ramp = Duration::from_secs((P9_DEVICES as u64).div_ceil(u64::from(CONNECT_RATE)));
    wait_for("every device connected", ramp + STEP_TIMEOUT, || {
        if run.is_finished() {
            return Err("the fleet stopped".into());
        }
        counter.alive()?;
        Ok(counters.snapshot().connected >= P9_DEVICES as u64)
    })
    .await?;
    let connected_in = connecting.elapsed();

    let ticks = clock_ticks();
    let (received0, pubacks0, cpu0) = (
        counter.received(),
        counters.snapshot().pubacks,
        process_cpu(ticks),
    );
    let measuring = Stopwatch::start();
    let clock = SystemClock;
    clock.sleep_until(clock.now().saturating_add(window)).await;
    let (received1, pubacks1, cpu1) = (
        counter.received(),
        counters.snapshot().pubacks,
        process_cpu(ticks),
    );
    let window = measuring.elapsed();

    let _ = stop.send(());
    let end = within("the fleet's shutdown", shutdown_timeout + STEP_TIMEOUT, run).await??;
    counter.close().await?;
    drop(broker);
    let cpu_share = match (cpu0, cpu1) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a).as_secs_f64() / window.as_secs_f64()),
        _ => None,
    };
    Ok(P9 {
        devices: P9_DEVICES,
        interval: INTERVAL,
        connect_rate: CONNECT_RATE,
        connected_in,
        window,
        expected: P9_DEVICES as f64 * window.as_secs_f64() / INTERVAL.as_secs_f64(),
        received: received1 - received0,
        pubacks: pubacks1 - pubacks0,
        reconnects: end.reconnects,
        connection_errors: end.connection_errors,
        dropped: end.readings_dropped,
        cpu_share,
    })
}
