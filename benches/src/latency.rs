//! PERFORMANCE.md P4 and P5: latencies through the whole server, as a client of the REST API sees
//! them.
//!
//! **The server** is what `praan-server` runs, with its defaults: [`MqttTransport`] (persistent
//! session, QoS 1 subscriptions of [`Codec::subscriptions`], manual acks) → [`Ingest`]
//! ([`IngestConfig::default`]: batches of up to 1,000, committed when the inbound channel is idle
//! or 50 ms after the first pending reading) → [`SqliteStore`] on a temporary file, an [`Engine`]
//! ([`EngineConfig::default`]), and `praan_http::router` ([`HttpConfig::default`]) served by axum
//! on 127.0.0.1 in this process, all on [`SystemClock`]. The broker is a Mosquitto child process
//! configured as for P2 (`max_queued_messages 0`, `max_inflight_messages 20000`, see
//! [`crate::mqtt`]). The HTTP clients are minimal keep-alive HTTP/1.1 connections, opened before
//! the clock starts, so no client library is in the way.
//!
//! **P4**, ingest latency: one rumqttc client publishes readings of 1,000 devices in turn at QoS 1
//! on an open-loop schedule of 10,000 a second (reading `i` is due `i / rate` after the start;
//! every millisecond the publisher sends all that are due, so it catches up instead of slowing
//! down, and its lag behind the schedule is reported). Each device's readings are 100 ms apart
//! in device time, so every reading has its own timestamp. After a warm-up (one reading per
//! device, then one second at the full rate), one reading in [`P4_SAMPLE_EVERY`] (coprime with
//! the device count, so every device is sampled) goes to a queue that [`P4_PROBERS`] probers
//! share; each follows one sample at a time on its own connection, polling
//! `GET /api/device/{id}/latest` until the stored timestamp is at least the published one, every
//! millisecond, or every 5% of the time since the publish once that is longer. The latency runs
//! from just before the publish call to the end of the first response that shows the reading (an
//! upper bound: it may have been visible up to one poll earlier, at most 1 ms or 5%). The probers'
//! load stays bounded when the pipeline falls behind (at most 32 samples followed at once, each
//! polled less often as it ages); a sample then waits in the queue, which only lengthens latencies
//! that are already far above the target (with 32 probers and about 100 samples a second, queueing
//! starts above about 300 ms).
//!
//! **P5**, command round trip: a [`Fleet`] of 1,000 simulated devices (each its own MQTT session,
//! acknowledging every command at once) on the same broker; `POST /api/control/fan?wait=true`
//! from a pool of connections (a request finding none idle opens one more, so the load stays
//! open-loop) on a schedule of 500 a second, device after device (each gets one every 2 s, the
//! speed changing each time). The server answers once the command is terminal, i.e. after the
//! device's ack came back through the broker and the ingest pipeline and the engine stored it;
//! the latency of that POST is the round trip, and its body must say `acknowledged`. One second
//! at the full rate comes before the measured window.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use praan_core::{
    clock::{Clock, Stopwatch, SystemClock},
    codec::{Codec, TopicKind},
    domain::{DeviceId, FanSpeed, FanState, Timestamp},
    engine::{Engine, EngineConfig, EngineError},
    ingest::{Ingest, IngestConfig, IngestError, IngestHandle},
    store::Store,
    transport::{MqttConfig, MqttTransport, Transport},
};
use praan_http::{AppState, HttpConfig};
use praan_simulator::{
    BrokerUrl, Fleet, FleetConfig,
    brokers::{Mosquitto, MosquittoOptions},
};
use praan_store_sqlite::SqliteStore;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::mpsc,
    task::JoinHandle,
};

use crate::{
    mqtt::{Client, wait_for, within},
    sqlite::{BoxError, Workload},
};

/// P4's publish rate, readings per second.
pub const P4_RATE: f64 = 10_000.0;
/// P4's target: the 99th percentile of publish → visible.
pub const P4_TARGET: Duration = Duration::from_millis(50);
/// P4's probers, each with its own keep-alive connection, following one sample at a time.
pub const P4_PROBERS: usize = 32;
/// P4 follows one reading in this many (97: coprime with [`DEVICES`], so the samples visit every
/// device).
pub const P4_SAMPLE_EVERY: usize = 97;
/// P5's command rate, requests per second.
pub const P5_RATE: f64 = 500.0;
/// P5's target: the 99th percentile of the round trip.
pub const P5_TARGET: Duration = Duration::from_millis(20);
/// Devices in P4 and P5.
pub const DEVICES: usize = 1_000;
/// Mosquitto's `max_inflight_messages` (as for P2).
pub const BROKER_INFLIGHT: usize = 20_000;
/// A schedule counts as not held when the sender's 99th-percentile lag exceeds this, or when it
/// reached less than [`HELD_SHARE`] of the rate.
pub const MAX_LAG: Duration = Duration::from_millis(10);
/// The share of the rate a sender must reach for its schedule to count as held.
pub const HELD_SHARE: f64 = 0.98;

/// The full-rate period before the measured window (P4 and P5).
pub const WARM_UP: Duration = Duration::from_secs(1);
/// How often the senders wake, and how often a prober polls.
const POLL: Duration = Duration::from_millis(1);
/// The longest any one step (a connection, a drain, a shutdown) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// A sampled reading not visible after this long counts as lost.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A prober waits a millisecond between polls, or this fraction of the time since the publish
/// when that is longer: a late reading costs fewer requests, and is timed within 5%.
const PROBE_BACKOFF: u32 = 20;
/// Device time between two readings of a device in P4.
const P4_INTERVAL_MS: i64 = 100;
/// Keep-alive HTTP connections P5 opens before the clock starts.
const PRE_OPENED: usize = 32;

// ---- shared plumbing ---------------------------------------------------------------------------

/// Sleeps one [`POLL`].
async fn nap() {
    let clock = SystemClock;
    clock.sleep_until(clock.now().saturating_add(POLL)).await;
}

/// The `q` quantile of sorted `values` (zero when empty).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default()
}

/// Median, 99th percentile and maximum of `values`.
pub(crate) fn spread(mut values: Vec<Duration>) -> Spread {
    values.sort_unstable();
    Spread {
        p50: quantile(&values, 0.50),
        p99: quantile(&values, 0.99),
        max: values.last().copied().unwrap_or_default(),
    }
}

/// A distribution, summarized.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spread {
    /// Median.
    pub p50: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Maximum.
    pub max: Duration,
}

/// How an open-loop sender kept to its schedule.
#[derive(Clone, Copy, Debug)]
pub struct Pacing {
    /// The scheduled rate, per second.
    pub rate: f64,
    /// The rate reached over the measured window, per second.
    pub achieved: f64,
    /// How late sends were against the schedule.
    pub lag: Spread,
}

impl Pacing {
    /// Whether the sender kept to its schedule: at least [`HELD_SHARE`] of the rate, and a 99th
    /// percentile lag of at most [`MAX_LAG`].
    pub fn held(&self) -> bool {
        self.achieved >= self.rate * HELD_SHARE && self.lag.p99 <= MAX_LAG
    }

    /// From the measured sends' scheduled and actual times (offsets from one stopwatch).
    fn of(rate: f64, sends: &[(Duration, Duration)]) -> Self {
        let first = sends.iter().map(|s| s.1).min().unwrap_or_default();
        let last = sends.iter().map(|s| s.1).max().unwrap_or_default();
        let span = (last.saturating_sub(first)).as_secs_f64() + 1.0 / rate;
        Self {
            rate,
            achieved: sends.len() as f64 / span,
            lag: spread(
                sends
                    .iter()
                    .map(|(due, at)| at.saturating_sub(*due))
                    .collect(),
            ),
        }
    }
}

/// When send `i` is due on a schedule of `rate` per second.
fn due(i: usize, rate: f64) -> Duration {
    Duration::from_secs_f64(i as f64 / rate)
}

/// The broker of P4 and P5: Mosquitto as P2 has it.
pub(crate) async fn broker(bin: PathBuf) -> Result<Mosquitto, BoxError> {
    Ok(Mosquitto::start(
        bin,
        MosquittoOptions {
            max_queued_messages: Some(0),
            max_inflight_messages: Some(BROKER_INFLIGHT),
            ..MosquittoOptions::default()
        },
    )
    .await?)
}

/// The server: transport, engine, ingest, SQLite and the HTTP API, with their defaults.
struct Server {
    addr: SocketAddr,
    store: Arc<SqliteStore>,
    transport: MqttTransport,
    ingest_stats: IngestHandle,
    driver: JoinHandle<()>,
    ingest: JoinHandle<Result<(), IngestError>>,
    engine: JoinHandle<Result<(), EngineError>>,
    http: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    /// Starts everything against the broker at 127.0.0.1:`port` and waits for the subscriptions.
    async fn start(port: u16, client_id: &str) -> Result<Self, BoxError> {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}", dir.path().join("server.db").display());
        let store = Arc::new(SqliteStore::connect(&url).await?);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let codec = Codec::default();
        let mut config = MqttConfig::new(format!("mqtt://127.0.0.1:{port}"), client_id);
        config.subscriptions = codec.subscriptions();
        let (transport, inbound, driver) = MqttTransport::connect(config, Arc::clone(&clock))?;
        let driver = tokio::spawn(driver);
        let outbound: Arc<dyn Transport> = Arc::new(transport.clone());
        let (handle, engine) = Engine::start(
            EngineConfig::default(),
            Arc::clone(&store) as Arc<dyn Store>,
            Arc::clone(&outbound),
            Arc::clone(&clock),
        )
        .await?;
        let engine = tokio::spawn(engine);
        let (ingest_stats, ingest) = Ingest::start(
            IngestConfig::default(),
            codec,
            Arc::clone(&store) as Arc<dyn Store>,
            outbound,
            handle.clone(),
            Arc::clone(&clock),
            inbound,
        );
        let ingest = tokio::spawn(ingest);
        let state = AppState::new(
            Arc::clone(&store) as Arc<dyn Store>,
            handle,
            clock,
            HttpConfig::default(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let http = tokio::spawn(async move {
            let _ = axum::serve(listener, praan_http::router(state)).await;
        });
        let server = Self {
            addr,
            store,
            transport,
            ingest_stats,
            driver,
            ingest,
            engine,
            http,
            _dir: dir,
        };
        wait_for("the transport's subscriptions", STEP_TIMEOUT, || {
            server.running()?;
            let stats = server.transport.stats();
            Ok(stats.subscribed >= 1 && stats.subscribed == stats.connections)
        })
        .await?;
        Ok(server)
    }

    /// An error once a part has stopped.
    fn running(&self) -> Result<(), BoxError> {
        if self.ingest.is_finished()
            || self.driver.is_finished()
            || self.engine.is_finished()
            || self.http.is_finished()
        {
            return Err("the server stopped during a run".into());
        }
        Ok(())
    }

    /// Waits until the pipeline has stored `n` readings.
    async fn stored(&self, what: &str, n: u64) -> Result<(), BoxError> {
        wait_for(what, STEP_TIMEOUT, || {
            self.running()?;
            Ok(self.ingest_stats.stats().readings_stored >= n)
        })
        .await
    }

    /// Stops in order: HTTP, the transport, the pipeline (drained), the engine, the store. The
    /// HTTP clients must be gone first (their connections hold the router, and so the engine).
    async fn stop(self) -> Result<(), BoxError> {
        self.http.abort();
        let _ = self.http.await;
        self.transport.disconnect();
        within("the transport's driver", STEP_TIMEOUT, self.driver).await??;
        within("the pipeline", STEP_TIMEOUT, self.ingest).await???;
        within("the engine", STEP_TIMEOUT, self.engine).await???;
        self.store.close().await;
        Ok(())
    }
}

// ---- a minimal HTTP/1.1 client -----------------------------------------------------------------

/// One keep-alive HTTP/1.1 connection.
pub(crate) struct Conn {
    read: BufReader<OwnedReadHalf>,
    write: OwnedWriteHalf,
    line: String,
}

/// A response: status code and body.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

impl Conn {
    pub(crate) async fn open(addr: SocketAddr) -> Result<Self, BoxError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, write) = stream.into_split();
        Ok(Self {
            read: BufReader::new(read),
            write,
            line: String::new(),
        })
    }

    /// Sends `request` (a whole HTTP/1.1 request) and reads the response (the server always sends
    /// a `content-length`).
    pub(crate) async fn send(&mut self, request: &[u8]) -> Result<Response, BoxError> {
        self.write.write_all(request).await?;
        let mut status = 0;
        let mut length = 0usize;
        loop {
            self.line.clear();
            if self.read.read_line(&mut self.line).await? == 0 {
                return Err("the server closed the connection".into());
            }
            if let Some(rest) = self.line.strip_prefix("HTTP/1.1 ") {
                status = rest.get(..3).unwrap_or_default().parse()?;
            } else if let Some((name, value)) = self.line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse()?;
            }
            if self.line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; length];
        self.read.read_exact(&mut body).await?;
        Ok(Response { status, body })
    }
}

/// Idle keep-alive connections to the server; a request finding none opens another.
struct Pool {
    addr: SocketAddr,
    idle: Mutex<Vec<Conn>>,
    opened: AtomicU64,
}

impl Pool {
    /// A pool with `n` connections already open.
    async fn open(addr: SocketAddr, n: usize) -> Result<Arc<Self>, BoxError> {
        let mut idle = Vec::with_capacity(n);
        for _ in 0..n {
            idle.push(Conn::open(addr).await?);
        }
        Ok(Arc::new(Self {
            addr,
            idle: Mutex::new(idle),
            opened: AtomicU64::new(n as u64),
        }))
    }

    async fn take(&self) -> Result<Conn, BoxError> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                Conn::open(self.addr).await
            }
        }
    }

    fn give(&self, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
    }

    /// Connections opened so far.
    fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }
}

// ---- P4 ----------------------------------------------------------------------------------------

/// P4 as measured.
#[derive(Clone, Copy, Debug)]
pub struct P4 {
    /// Devices the readings come from.
    pub devices: usize,
    /// The measured window (after the warm-up).
    pub window: Duration,
    /// How the publisher kept to its schedule in the window.
    pub pacing: Pacing,
    /// Readings followed to visibility.
    pub samples: usize,
    /// Sampled readings not visible within 10 s (counted, not in the latencies).
    pub lost: usize,
    /// Publish → visible through `/latest`.
    pub latency: Spread,
    /// Readings published in all (warm-up included) and stored by the end.
    pub published: u64,
    /// Readings stored once the publisher had finished and the pipeline drained.
    pub stored: u64,
    /// The pipeline's mean batch in the window (context).
    pub mean_batch: f64,
}

impl P4 {
    /// Whether the publisher held 10,000 a second, nothing was lost and the p99 meets
    /// [`P4_TARGET`].
    pub fn passes(&self) -> bool {
        self.pacing.held() && self.lost == 0 && self.latency.p99 <= P4_TARGET
    }
}

/// A reading to follow until `/latest` shows it.
struct Sample {
    device: DeviceId,
    timestamp: Timestamp,
    /// The run's stopwatch.
    started: Stopwatch,
    /// When it was published, on `started`.
    at: Duration,
}

/// Measures P4 on a Mosquitto started from `bin`: `quick` measures 5 s, otherwise 30 s.
pub async fn p4(bin: PathBuf, quick: bool) -> Result<P4, BoxError> {
    let window = Duration::from_secs(if quick { 5 } else { 30 });
    let broker = broker(bin).await?;
    let server = Server::start(broker.port(), "praan-bench-p4").await?;
    let mut publisher =
        Client::connect_with(broker.port(), "praan-bench-p4-pub", 1_000, true).await?;
    let codec = Codec::default();
    let mut workload = Workload::new(DEVICES, P4_INTERVAL_MS)?;

    // Warm-up: every device registered, with a reading, before the clock starts.
    for r in workload.next_batch(DEVICES)? {
        publisher
            .publish_one(
                codec.topic(r.device_id(), TopicKind::Data),
                Bytes::from(codec.encode_reading(&r)),
            )
            .await?;
    }
    server.stored("the warm-up stored", DEVICES as u64).await?;
    let (queue, samples_rx) = mpsc::unbounded_channel::<Sample>();
    let samples_rx = Arc::new(tokio::sync::Mutex::new(samples_rx));
    let mut probers = Vec::with_capacity(P4_PROBERS);
    for _ in 0..P4_PROBERS {
        let conn = Conn::open(server.addr).await?;
        probers.push(tokio::spawn(prober(conn, Arc::clone(&samples_rx))));
    }

    let warm = (P4_RATE * WARM_UP.as_secs_f64()) as usize;
    let total = warm + (P4_RATE * window.as_secs_f64()) as usize;
    let started = Stopwatch::start();
    let mut sends = Vec::with_capacity(total - warm);
    let mut samples = 0;
    let mut batches_at_window = 0;
    let mut sent = 0;
    while sent < total {
        let now = started.elapsed();
        let due_now = ((now.as_secs_f64() * P4_RATE) as usize + 1).min(total);
        for r in workload.next_batch(due_now.saturating_sub(sent))? {
            if sent == warm {
                batches_at_window = server.ingest_stats.stats().batches;
            }
            let (topic, payload) = (
                codec.topic(r.device_id(), TopicKind::Data),
                codec.encode_reading(&r),
            );
            let at = started.elapsed();
            publisher.publish_one(topic, Bytes::from(payload)).await?;
            if sent >= warm {
                sends.push((due(sent, P4_RATE), at));
                if (sent - warm).is_multiple_of(P4_SAMPLE_EVERY) {
                    let sample = Sample {
                        device: r.device_id().clone(),
                        timestamp: r.timestamp(),
                        started,
                        at,
                    };
                    queue.send(sample)?;
                    samples += 1;
                }
            }
            sent += 1;
        }
        server.running()?;
        publisher.alive()?;
        if sent < total {
            nap().await;
        }
    }
    let batches = server.ingest_stats.stats().batches - batches_at_window;

    drop(queue);
    let mut latencies = Vec::with_capacity(samples);
    for p in probers {
        latencies.extend(p.await??.into_iter().flatten());
    }
    let lost = samples - latencies.len();
    let published = (DEVICES + total) as u64;
    server.stored("every reading stored", published).await?;
    let stats = server.ingest_stats.stats();
    if stats.rejected_total() != 0 {
        return Err(format!("the pipeline rejected readings: {stats:?}").into());
    }
    publisher.close().await?;
    server.stop().await?;
    drop(broker);
    Ok(P4 {
        devices: DEVICES,
        window,
        pacing: Pacing::of(P4_RATE, &sends),
        samples,
        lost,
        latency: spread(latencies),
        published,
        stored: stats.readings_stored,
        mean_batch: (total - warm) as f64 / batches.max(1) as f64,
    })
}

/// One of P4's probers: follows the samples it takes from the shared queue, one at a time, on
/// its own connection, until the queue closes; the latencies (`None`: lost).
async fn prober(
    mut conn: Conn,
    samples: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Sample>>>,
) -> Result<Vec<Option<Duration>>, BoxError> {
    let mut latencies = Vec::new();
    loop {
        let next = samples.lock().await.recv().await;
        let Some(sample) = next else {
            return Ok(latencies);
        };
        latencies.push(follow(&mut conn, sample).await?);
    }
}

/// Polls `/latest` of the sample's device until it shows the sample (or a later reading); the
/// latency, or `None` after [`VISIBLE_TIMEOUT`].
async fn follow(conn: &mut Conn, sample: Sample) -> Result<Option<Duration>, BoxError> {
    let request = format!(
        "GET /api/device/{}/latest HTTP/1.1\r\nHost: praan\r\n\r\n",
        sample.device
    );
    loop {
        let response = conn.send(request.as_bytes()).await?;
        let seen = sample.started.elapsed();
        if response.status != 200 {
            return Err(format!(
                "GET /latest of {}: {} {}",
                sample.device,
                response.status,
                String::from_utf8_lossy(&response.body)
            )
            .into());
        }
        if stored_timestamp(&response.body)? >= sample.timestamp {
            return Ok(Some(seen.saturating_sub(sample.at)));
        }
        let age = seen.saturating_sub(sample.at);
        if age > VISIBLE_TIMEOUT {
            return Ok(None);
        }
        let clock = SystemClock;
        let wait = POLL.max(age / PROBE_BACKOFF);
        clock.sleep_until(clock.now().saturating_add(wait)).await;
    }
}

/// The reading's `timestamp` in a `/latest` body (the first `"timestamp"` field: the envelope
/// has none of its own).
pub(crate) fn stored_timestamp(body: &[u8]) -> Result<Timestamp, BoxError> {
    const FIELD: &str = "\"timestamp\":\"";
    let text = std::str::from_utf8(body)?;
    let value = text
        .find(FIELD)
        .and_then(|at| text.get(at + FIELD.len()..))
        .and_then(|rest| rest.split('"').next())
        .ok_or_else(|| format!("no timestamp in {text}"))?;
    Ok(Timestamp::parse_rfc3339(value)?)
}

// ---- P5 ----------------------------------------------------------------------------------------

/// P5 as measured.
#[derive(Clone, Copy, Debug)]
pub struct P5 {
    /// Simulated devices, each its own MQTT session.
    pub devices: usize,
    /// The measured window (after the warm-up).
    pub window: Duration,
    /// How the sender kept to its schedule in the window.
    pub pacing: Pacing,
    /// Commands sent in the window.
    pub commands: usize,
    /// Of those, answered 200 with status `acknowledged` (the others got another status, a 202
    /// after the 25 s wait, or an error).
    pub acknowledged: usize,
    /// `POST /api/control/fan?wait=true` → answered (the round trip), over the acknowledged.
    pub latency: Spread,
    /// HTTP connections used (open-loop: a request finding none idle opens one).
    pub connections: u64,
    /// Reconnections of the fleet's sessions over the run.
    pub reconnects: u64,
}

impl P5 {
    /// Whether the sender held 500 a second, every command was acknowledged and the p99 meets
    /// [`P5_TARGET`].
    pub fn passes(&self) -> bool {
        self.pacing.held()
            && self.acknowledged == self.commands
            && self.reconnects == 0
            && self.latency.p99 <= P5_TARGET
    }
}

/// One command's outcome: when it was due and sent, how long it took, whether it was acked.
struct Sent {
    due: Duration,
    at: Duration,
    took: Duration,
    acknowledged: bool,
}

/// Measures P5 on a Mosquitto started from `bin`: `quick` measures 10 s, otherwise 30 s.
pub async fn p5(bin: PathBuf, quick: bool) -> Result<P5, BoxError> {
    let window = Duration::from_secs(if quick { 10 } else { 30 });
    let broker = broker(bin).await?;
    let server = Server::start(broker.port(), "praan-bench-p5").await?;

    let mut config = FleetConfig::new(BrokerUrl::parse(&broker.url())?, Arc::new(SystemClock));
    config.devices = DEVICES;
    config.id_prefix = "P5_".to_owned();
    config.connect_rate = 1_000;
    config.initial = Some(FanState::at_speed(FanSpeed::running(1)?));
    let shutdown_timeout = config.shutdown_timeout;
    let fleet = Fleet::new(config)?;
    let ids: Vec<DeviceId> = fleet.device_ids().to_vec();
    let counters = fleet.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(fleet.run(async move {
        let _ = stopped.await;
    }));
    // Each device subscribes to its commands, then reports once: once every first reading is
    // stored, every device is registered and listening.
    wait_for(
        "every device connected and registered",
        STEP_TIMEOUT,
        || {
            if run.is_finished() {
                return Err("the fleet stopped".into());
            }
            server.running()?;
            Ok(counters.snapshot().connected >= DEVICES as u64
                && server.ingest_stats.stats().readings_stored >= DEVICES as u64)
        },
    )
    .await?;
    let pool = Pool::open(server.addr, PRE_OPENED).await?;

    let warm = (P5_RATE * WARM_UP.as_secs_f64()) as usize;
    let total = warm + (P5_RATE * window.as_secs_f64()) as usize;
    let started = Stopwatch::start();
    let mut requests = Vec::with_capacity(total);
    let mut sent = 0;
    while sent < total {
        let now = started.elapsed();
        let due_now = ((now.as_secs_f64() * P5_RATE) as usize + 1).min(total);
        while sent < due_now {
            let device = &ids[sent % ids.len()];
            // 2, 3, 4, 5, 1, 2, …: each command to a device changes its speed.
            let speed = (sent / ids.len() + 1) % 5 + 1;
            let body = format!(r#"{{"deviceId":"{device}","fanSpeed":{speed}}}"#);
            let request = format!(
                "POST /api/control/fan?wait=true HTTP/1.1\r\nHost: praan\r\nContent-Type: \
                 application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            requests.push(tokio::spawn(command(
                Arc::clone(&pool),
                started,
                due(sent, P5_RATE),
                request,
            )));
            sent += 1;
        }
        server.running()?;
        if sent < total {
            nap().await;
        }
    }
    let mut outcomes = Vec::with_capacity(total - warm);
    for (i, r) in requests.into_iter().enumerate() {
        let outcome = r.await??;
        if i >= warm {
            outcomes.push(outcome);
        }
    }

    let _ = stop.send(());
    let end = within("the fleet's shutdown", shutdown_timeout + STEP_TIMEOUT, run).await??;
    let connections = pool.opened();
    drop(pool);
    server.stop().await?;
    drop(broker);
    let sends: Vec<_> = outcomes.iter().map(|o| (o.due, o.at)).collect();
    Ok(P5 {
        devices: DEVICES,
        window,
        pacing: Pacing::of(P5_RATE, &sends),
        commands: outcomes.len(),
        acknowledged: outcomes.iter().filter(|o| o.acknowledged).count(),
        latency: spread(
            outcomes
                .iter()
                .filter(|o| o.acknowledged)
                .map(|o| o.took)
                .collect(),
        ),
        connections,
        reconnects: end.reconnects,
    })
}

/// Sends one command request and reads the answer (any answer but 200 `acknowledged` counts as
/// not acknowledged: 202 when the wait timed out, or an error status).
async fn command(
    pool: Arc<Pool>,
    started: Stopwatch,
    due: Duration,
    request: String,
) -> Result<Sent, BoxError> {
    let mut conn = pool.take().await?;
    let at = started.elapsed();
    let response = conn.send(request.as_bytes()).await?;
    let took = started.elapsed().saturating_sub(at);
    pool.give(conn);
    let body = String::from_utf8_lossy(&response.body);
    Ok(Sent {
        due,
        at,
        took,
        acknowledged: response.status == 200 && body.contains(r#""status":"acknowledged""#),
    })
}
