//! Support for the end-to-end tests ("devices on the wire"): the whole backend as an embedder
//! wires it — [`Engine`], [`Ingest`], [`MqttTransport`] and a [`SqliteStore`] on a temporary
//! file ([`Backend`]) — plus plain rumqttc clients where a test needs exact control of what a
//! device receives and answers ([`Peer`]) or of which publishes the broker acknowledged
//! ([`Burst`]), the reading payloads they send, and bounded waits.
//!
//! Brokers come from `praan_simulator::brokers` (embedded rumqttd, Mosquitto child processes on
//! free loopback ports). Mosquitto comes from `PRAAN_TEST_MOSQUITTO_BIN`: without it
//! [`mosquitto_bin`] says why the test skips — or fails it when `PRAAN_REQUIRE_BACKENDS=1`.
//!
//! Every wait sleeps through `SystemClock::sleep_until` and is bounded in time.

#![allow(
    dead_code,
    reason = "each test binary uses the part of the support it needs"
)]
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "test support: a failed unwrap is a failed test, and a skip says why on stdout"
)]

use std::{
    collections::{BTreeSet, HashMap},
    future::Future,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use praan_core::{
    clock::{Clock, SystemClock},
    codec::Codec,
    domain::{DeviceId, Timestamp},
    engine::{Engine, EngineConfig, EngineError, Handle},
    ingest::{Ingest, IngestConfig, IngestError, IngestHandle, IngestStats},
    store::{Limit, ReadingQuery, Store, TelemetryRepo},
    transport::{MqttConfig, MqttTransport, ReconnectBackoff, Transport},
};
#[allow(unused_imports, reason = "each test binary uses the brokers it needs")]
pub use praan_simulator::brokers::{
    Mosquitto, MosquittoOptions, Rumqttd, RumqttdOptions, mosquitto_from_env,
};
use praan_store_sqlite::{SqliteOptions, SqliteStore};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter};
use tokio::task::JoinHandle;

// ---- waits -------------------------------------------------------------------------------------

/// Sleeps `d` of real time (through the clock).
pub async fn pause(d: Duration) {
    SystemClock
        .sleep_until(SystemClock.now().saturating_add(d))
        .await;
}

/// Waits until `condition` holds, checking every 10 ms; panics after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = SystemClock.now().saturating_add(timeout);
    loop {
        if condition() {
            return;
        }
        assert!(
            SystemClock.now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        pause(Duration::from_millis(10)).await;
    }
}

/// `future`'s output, or `None` once `timeout` has passed.
pub async fn within<T>(timeout: Duration, future: impl Future<Output = T>) -> Option<T> {
    let deadline = SystemClock.now().saturating_add(timeout);
    tokio::select! {
        out = future => Some(out),
        () = SystemClock.sleep_until(deadline) => None,
    }
}

/// The Mosquitto binary for `test`, or `None` after saying why it skips (fails instead when
/// `PRAAN_REQUIRE_BACKENDS=1`).
pub fn mosquitto_bin(test: &str) -> Option<PathBuf> {
    praan_simulator::brokers::mosquitto_for_test(test)
}

// ---- the store ---------------------------------------------------------------------------------

/// A SQLite database file in its own temporary directory (removed on drop).
pub struct TempDb {
    dir: tempfile::TempDir,
}

impl TempDb {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("praan.db")
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }

    /// Opens (creating and migrating) the database with `busy_timeout`.
    pub async fn open(&self, busy_timeout: Duration) -> Arc<SqliteStore> {
        Arc::new(
            SqliteStore::connect_with(&self.url(), SqliteOptions::new().busy_timeout(busy_timeout))
                .await
                .unwrap(),
        )
    }
}

/// Every stored reading timestamp of `device`, through the store's paged query.
pub async fn stored_timestamps(store: &SqliteStore, device: &DeviceId) -> Vec<Timestamp> {
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..1_000 {
        let query = ReadingQuery {
            limit: Limit::new(1000).unwrap(),
            cursor,
            ..ReadingQuery::default()
        };
        let page = store.readings(device, &query).await.unwrap();
        out.extend(page.items.iter().map(|r| r.timestamp()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return out,
        }
    }
    panic!("more than a million readings for {device}");
}

/// Asserts that `device`'s stored readings are exactly `expected`, each once.
pub async fn assert_stored_exactly(
    store: &SqliteStore,
    device: &DeviceId,
    expected: &BTreeSet<Timestamp>,
) {
    let stored = stored_timestamps(store, device).await;
    let distinct: BTreeSet<Timestamp> = stored.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        stored.len(),
        "{device}: a reading stored twice"
    );
    let missing: Vec<_> = expected.difference(&distinct).take(5).collect();
    let extra: Vec<_> = distinct.difference(expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{device}: {} stored, {} expected; missing {missing:?}…, unexpected {extra:?}…",
        distinct.len(),
        expected.len()
    );
}

// ---- payloads ----------------------------------------------------------------------------------

/// A reading payload (no `deviceId`: the topic names the device) whose `pm25` encodes `n`.
pub fn reading(at: Timestamp, n: u64) -> String {
    format!(
        r#"{{"timestamp":"{}","pm25":{}.25,"temperature":21.5,"humidity":40,"fanSpeed":2,"powerOn":true}}"#,
        at.to_rfc3339(),
        n % 1000
    )
}

/// The `pm25` value [`reading`] sends for `n`.
pub fn pm25_of(n: u64) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "n % 1000 is exact in f64")]
    let whole = (n % 1000) as f64;
    whole + 0.25
}

// ---- the backend -------------------------------------------------------------------------------

/// A transport configuration for the backend: the codec's subscriptions, a persistent session
/// under `client_id`, and a quick reconnection (the brokers are local).
pub fn mqtt_config(url: &str, client_id: &str) -> MqttConfig {
    let mut config = MqttConfig::new(url, client_id);
    config.subscriptions = Codec::default().subscriptions();
    config.reconnect = ReconnectBackoff {
        initial: Duration::from_millis(50),
        max: Duration::from_millis(500),
    };
    config
}

/// The whole backend, wired as an embedder wires it: the MQTT transport (on `SystemClock`), the
/// engine and the ingestion pipeline (on the given clock), one SQLite store.
pub struct Backend {
    pub store: Arc<SqliteStore>,
    pub engine: Handle,
    pub ingest: IngestHandle,
    pub transport: MqttTransport,
    engine_task: JoinHandle<Result<(), EngineError>>,
    pipeline: JoinHandle<Result<(), IngestError>>,
    driver: JoinHandle<()>,
}

impl Backend {
    pub async fn start(
        store: Arc<SqliteStore>,
        mqtt: MqttConfig,
        engine: EngineConfig,
        ingest: IngestConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let (transport, inbound, driver) =
            MqttTransport::connect(mqtt, Arc::new(SystemClock)).unwrap();
        let driver = tokio::spawn(driver);
        let (handle, engine_task) = Engine::start(
            engine,
            store.clone() as Arc<dyn Store>,
            Arc::new(transport.clone()),
            clock.clone(),
        )
        .await
        .unwrap();
        let engine_task = tokio::spawn(engine_task);
        let (monitor, pipeline) = Ingest::start(
            ingest,
            Codec::default(),
            store.clone() as Arc<dyn Store>,
            Arc::new(transport.clone()),
            handle.clone(),
            clock,
            inbound,
        );
        let pipeline = tokio::spawn(pipeline);
        Self {
            store,
            engine: handle,
            ingest: monitor,
            transport,
            engine_task,
            pipeline,
            driver,
        }
    }

    /// Waits until the `connection`-th connection is up and its subscriptions acknowledged.
    pub async fn wait_subscribed(&self, connection: u64) {
        wait_for(
            &format!("backend connection {connection} subscribed"),
            Duration::from_secs(15),
            || {
                let stats = self.transport.stats();
                self.transport.is_connected()
                    && stats.connections == connection
                    && stats.subscribed >= connection
            },
        )
        .await;
    }

    /// Stops gracefully: the transport disconnects (the session stays at the broker), the
    /// pipeline drains and ends, then the engine. Returns the pipeline's final counters.
    pub async fn stop(self) -> IngestStats {
        let Self {
            engine,
            ingest,
            transport,
            engine_task,
            pipeline,
            driver,
            ..
        } = self;
        transport.disconnect();
        within(Duration::from_secs(10), pipeline)
            .await
            .expect("the pipeline ends once the transport stopped")
            .unwrap()
            .unwrap();
        drop(engine);
        within(Duration::from_secs(10), engine_task)
            .await
            .expect("the engine ends once every handle is dropped")
            .unwrap()
            .unwrap();
        within(Duration::from_secs(10), driver)
            .await
            .expect("the transport driver ends after disconnect")
            .unwrap();
        ingest.stats()
    }
}

// ---- a plain MQTT client -------------------------------------------------------------------------

#[derive(Default)]
struct PeerState {
    received: Mutex<Vec<(String, Bytes)>>,
    connacks: AtomicU64,
    subacks: AtomicU64,
    errors: AtomicU64,
    answer: AtomicBool,
}

/// A plain rumqttc client on 127.0.0.1: subscribes to its filters on every connection (QoS 1),
/// records every message it receives, reconnects on its own, and — while answering — acks every
/// command it receives (`status: success`) on the device's ack topic, like a purifier would.
pub struct Peer {
    client: AsyncClient,
    state: Arc<PeerState>,
    task: JoinHandle<()>,
}

impl Peer {
    pub fn start(port: u16, client_id: &str, filters: &[&str], clean_session: bool) -> Self {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(clean_session);
        let (client, mut eventloop) = AsyncClient::new(options, 256);
        let state = Arc::new(PeerState::default());
        let filters: Vec<SubscribeFilter> = filters
            .iter()
            .map(|f| SubscribeFilter::new((*f).to_owned(), QoS::AtLeastOnce))
            .collect();
        let task = {
            let (client, state) = (client.clone(), state.clone());
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            state.connacks.fetch_add(1, Ordering::SeqCst);
                            if !filters.is_empty() {
                                client.try_subscribe_many(filters.clone()).unwrap();
                            }
                        }
                        Ok(Event::Incoming(Packet::SubAck(_))) => {
                            state.subacks.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Event::Incoming(Packet::Publish(p))) => {
                            if state.answer.load(Ordering::SeqCst)
                                && let Some((topic, ack)) = ack_for(&p.topic, &p.payload)
                            {
                                let _ = client.try_publish(topic, QoS::AtLeastOnce, false, ack);
                            }
                            state.received.lock().unwrap().push((p.topic, p.payload));
                        }
                        Ok(_) => {}
                        Err(_) => {
                            state.errors.fetch_add(1, Ordering::SeqCst);
                            pause(Duration::from_millis(50)).await;
                        }
                    }
                }
            })
        };
        Self {
            client,
            state,
            task,
        }
    }

    /// Waits until `n` subscriptions (one per connection) are acknowledged.
    pub async fn wait_subscribed(&self, n: u64) {
        wait_for("a peer's subscription", Duration::from_secs(15), || {
            self.state.subacks.load(Ordering::SeqCst) >= n
        })
        .await;
    }

    /// Whether it acks the commands it receives from now on.
    pub fn answer(&self, on: bool) {
        self.state.answer.store(on, Ordering::SeqCst);
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<(String, Bytes)> {
        self.state.received.lock().unwrap().clone()
    }

    /// The payloads received so far whose JSON `commandId` is `id`.
    pub fn commands(&self, id: &str) -> Vec<Bytes> {
        self.received()
            .into_iter()
            .filter(|(_, p)| command_id(p).as_deref() == Some(id))
            .map(|(_, p)| p)
            .collect()
    }

    pub fn connacks(&self) -> u64 {
        self.state.connacks.load(Ordering::SeqCst)
    }

    pub fn subacks(&self) -> u64 {
        self.state.subacks.load(Ordering::SeqCst)
    }

    /// Publishes at QoS 1 (queued to the client; the broker's PUBACK is not awaited).
    pub async fn publish(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .unwrap();
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `commandId` of a command payload.
pub fn command_id(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    v.get("commandId")?.as_str().map(str::to_owned)
}

/// The ack topic and payload a device sends for a command received on `topic`.
fn ack_for(topic: &str, payload: &[u8]) -> Option<(String, String)> {
    let base = topic.strip_suffix("/command")?;
    let device = base.rsplit('/').next()?;
    let id = command_id(payload)?;
    Some((
        format!("{base}/ack"),
        format!(r#"{{"deviceId":"{device}","commandId":"{id}","status":"success"}}"#),
    ))
}

// ---- a publisher that knows which publishes the broker acknowledged ----------------------------

#[derive(Default)]
struct BurstInner {
    /// Publishes written to the connection so far (the next one's index).
    written: usize,
    /// Packet id → index of the publish it carries, until its PUBACK.
    in_flight: HashMap<u16, usize>,
    acked: Vec<bool>,
    acked_count: usize,
}

#[derive(Default)]
struct BurstState {
    inner: Mutex<BurstInner>,
    connected: AtomicBool,
    errors: AtomicU64,
}

/// A rumqttc publisher (QoS 1, one connection, no reconnection) that records which of its
/// publishes the broker acknowledged: the n-th PUBLISH written carries the n-th `publish` call
/// (rumqttc writes requests in order and retransmits only after a reconnect, which this
/// publisher never does — a connection error ends it and is counted).
pub struct Burst {
    client: AsyncClient,
    state: Arc<BurstState>,
    requested: usize,
    task: JoinHandle<()>,
}

impl Burst {
    pub async fn connect(port: u16, client_id: &str) -> Self {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options
            .set_keep_alive(Duration::from_secs(30))
            .set_clean_session(true)
            .set_inflight(100);
        let (client, mut eventloop) = AsyncClient::new(options, 1024);
        let state = Arc::new(BurstState::default());
        let task = {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    match eventloop.poll().await {
                        Ok(Event::Incoming(Packet::ConnAck(_))) => {
                            state.connected.store(true, Ordering::SeqCst);
                        }
                        Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                            let mut inner = state.inner.lock().unwrap();
                            let index = inner.written;
                            inner.written += 1;
                            inner.in_flight.insert(pkid, index);
                        }
                        Ok(Event::Incoming(Packet::PubAck(ack))) => {
                            let mut inner = state.inner.lock().unwrap();
                            if let Some(index) = inner.in_flight.remove(&ack.pkid) {
                                if inner.acked.len() <= index {
                                    inner.acked.resize(index + 1, false);
                                }
                                if !inner.acked[index] {
                                    inner.acked[index] = true;
                                    inner.acked_count += 1;
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(_) => {
                            state.connected.store(false, Ordering::SeqCst);
                            state.errors.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                }
            })
        };
        let burst = Self {
            client,
            state,
            requested: 0,
            task,
        };
        wait_for("the publisher to connect", Duration::from_secs(10), || {
            burst.state.connected.load(Ordering::SeqCst)
        })
        .await;
        burst
    }

    /// Publishes at QoS 1; returns the publish's index (0, 1, 2, … in call order).
    pub async fn publish(&mut self, topic: &str, payload: impl Into<Vec<u8>>) -> usize {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.into())
            .await
            .unwrap();
        self.requested += 1;
        self.requested - 1
    }

    /// How many publishes were requested.
    pub fn requested(&self) -> usize {
        self.requested
    }

    /// How many publishes the broker acknowledged so far.
    pub fn acked_count(&self) -> usize {
        self.state.inner.lock().unwrap().acked_count
    }

    /// Whether publish `index` was acknowledged by the broker.
    pub fn acked(&self) -> Vec<bool> {
        let mut acked = self.state.inner.lock().unwrap().acked.clone();
        acked.resize(self.requested, false);
        acked
    }

    /// Connection errors (each ends the publisher).
    pub fn errors(&self) -> u64 {
        self.state.errors.load(Ordering::SeqCst)
    }

    /// Waits until every publish so far is acknowledged (or panics after `timeout`).
    pub async fn wait_all_acked(&self, timeout: Duration) {
        wait_for("PUBACKs for every publish", timeout, || {
            self.acked_count() >= self.requested || self.errors() > 0
        })
        .await;
        assert_eq!(self.errors(), 0, "the publisher lost its connection");
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.task.abort();
    }
}
