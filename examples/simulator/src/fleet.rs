//! The MQTT side: a [`Fleet`] of simulated devices, each with its own MQTT session.
//!
//! Every device is two tokio tasks: a *driver* that owns the rumqttc event loop and polls it
//! continuously (it subscribes and publishes the retained `online` status on every ConnAck, and
//! waits with capped exponential backoff between failed connection attempts), and the *device*
//! that owns the [`DeviceModel`], sleeps on the [`Clock`] until its next reading or timeout, and
//! handles the commands the driver hands it. The device publishes with `try_publish`, so it never
//! blocks on the network: a reading that finds the client's request queue full is counted as
//! dropped.
//!
//! Each session registers the retained `offline` status as its Last Will. A graceful shutdown
//! publishes the old devices' notice `{"deviceId","status":"offline","message"}` on the data
//! topic, then the retained `offline` status, then disconnects (so the broker discards the will).

use std::{
    future::Future,
    panic,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use praan_core::{
    clock::Clock,
    codec::{Codec, CodecLimits, TopicKind},
    domain::{DeviceId, Timestamp},
};
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, LastWill, MqttOptions, NetworkOptions,
    Outgoing, Packet, QoS,
};
use tokio::{
    sync::{mpsc, watch},
    task::JoinSet,
};
use tracing::{debug, warn};

use crate::{
    config::{ConfigError, FleetConfig},
    model::{DeviceModel, DeviceSpec, Report},
};

/// The message of the graceful shutdown notice.
pub const SHUTDOWN_MESSAGE: &str = "Device shutting down";

/// The largest MQTT packet a simulated device sends or accepts.
const MAX_PACKET: usize = 64 * 1024;
/// Requests a device may queue in its client while the connection is busy or down.
const REQUEST_QUEUE: usize = 64;

/// The old devices' graceful shutdown notice, sent on the data topic.
pub fn encode_shutdown_notice(device_id: &DeviceId) -> Vec<u8> {
    // A DeviceId never needs JSON escaping (its grammar is [A-Za-z0-9_.-]).
    format!(r#"{{"deviceId":"{device_id}","status":"offline","message":"{SHUTDOWN_MESSAGE}"}}"#)
        .into_bytes()
}

/// Live counters of a running fleet (shared, lock-free).
#[derive(Debug, Default)]
pub struct Counters {
    connects: AtomicU64,
    reconnects: AtomicU64,
    connection_errors: AtomicU64,
    connected: AtomicU64,
    readings_published: AtomicU64,
    readings_dropped: AtomicU64,
    auto_offs: AtomicU64,
    pubacks: AtomicU64,
    commands_received: AtomicU64,
    commands_duplicate: AtomicU64,
    commands_unusable: AtomicU64,
    acks_published: AtomicU64,
    ticks_skipped: AtomicU64,
    shutdown_notices: AtomicU64,
    shutdown_timeouts: AtomicU64,
}

/// A copy of the [`Counters`] at one moment.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CountersSnapshot {
    /// Successful MQTT connections (ConnAcks), first ones included.
    pub connects: u64,
    /// Successful connections after a device's first one.
    pub reconnects: u64,
    /// Failed connection attempts and dropped connections.
    pub connection_errors: u64,
    /// Sessions connected now.
    pub connected: u64,
    /// Readings handed to the MQTT client (QoS 1), `autoOff` reports included.
    pub readings_published: u64,
    /// Readings dropped because the client's request queue was full.
    pub readings_dropped: u64,
    /// Seed-compat auto-offs (each reported with `"autoOff": true`).
    pub auto_offs: u64,
    /// PUBACKs received from the broker (for readings, acks and status).
    pub pubacks: u64,
    /// Command payloads received on the command topics.
    pub commands_received: u64,
    /// Commands whose `commandId` a device had already handled (acked again, not re-applied).
    pub commands_duplicate: u64,
    /// Command payloads without a usable `commandId` (dropped, no ack possible).
    pub commands_unusable: u64,
    /// Acks handed to the MQTT client.
    pub acks_published: u64,
    /// Reading ticks skipped because a device fell more than one interval behind.
    pub ticks_skipped: u64,
    /// Shutdown notices published.
    pub shutdown_notices: u64,
    /// Devices whose graceful shutdown did not finish within the shutdown timeout.
    pub shutdown_timeouts: u64,
}

impl Counters {
    /// The values now.
    pub fn snapshot(&self) -> CountersSnapshot {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CountersSnapshot {
            connects: g(&self.connects),
            reconnects: g(&self.reconnects),
            connection_errors: g(&self.connection_errors),
            connected: g(&self.connected),
            readings_published: g(&self.readings_published),
            readings_dropped: g(&self.readings_dropped),
            auto_offs: g(&self.auto_offs),
            pubacks: g(&self.pubacks),
            commands_received: g(&self.commands_received),
            commands_duplicate: g(&self.commands_duplicate),
            commands_unusable: g(&self.commands_unusable),
            acks_published: g(&self.acks_published),
            ticks_skipped: g(&self.ticks_skipped),
            shutdown_notices: g(&self.shutdown_notices),
            shutdown_timeouts: g(&self.shutdown_timeouts),
        }
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One session's share of the `connected` gauge, given back when it disconnects or is dropped.
struct ConnectedGauge<'a> {
    gauge: &'a AtomicU64,
    on: bool,
}

impl ConnectedGauge<'_> {
    /// Sets this session's state; whether it changed.
    fn set(&mut self, on: bool) -> bool {
        if self.on == on {
            return false;
        }
        self.on = on;
        if on {
            self.gauge.fetch_add(1, Ordering::Relaxed);
        } else {
            self.gauge.fetch_sub(1, Ordering::Relaxed);
        }
        true
    }
}

impl Drop for ConnectedGauge<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// N simulated purifiers, each with its own MQTT session, in this process.
#[derive(Debug)]
pub struct Fleet {
    config: FleetConfig,
    ids: Vec<DeviceId>,
    counters: Arc<Counters>,
}

impl Fleet {
    /// A fleet for `config` (checked; nothing connects before [`Fleet::run`]).
    pub fn new(config: FleetConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        let ids = config.device_ids()?;
        Ok(Self {
            config,
            ids,
            counters: Arc::default(),
        })
    }

    /// The device ids, in order.
    pub fn device_ids(&self) -> &[DeviceId] {
        &self.ids
    }

    /// The live counters (they keep counting while [`Fleet::run`] runs).
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Runs every device until `shutdown` completes, then shuts each down gracefully (bounded by
    /// the configured shutdown timeout) and returns the final counters.
    ///
    /// Must be called within a tokio runtime; one task pair per device is spawned on it.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> CountersSnapshot {
        let Self {
            config,
            ids,
            counters,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let start = config.clock.now();
        let n = ids.len();
        let shared = Arc::new(Shared {
            codec: Codec::new(config.topic_prefix.clone(), CodecLimits::default()),
            counters: Arc::clone(&counters),
            config,
        });
        let mut tasks = JoinSet::new();
        for (i, id) in ids.into_iter().enumerate() {
            let slot = Slot {
                index: i,
                fleet_size: n,
                connect_at: start.saturating_add(nanos(
                    i as u128 * 1_000_000_000 / u128::from(shared.config.connect_rate),
                )),
            };
            tasks.spawn(run_device(Arc::clone(&shared), id, slot, stop_rx.clone()));
        }
        shutdown.await;
        debug!("simulator: shutting down {n} devices");
        let _ = stop_tx.send(true);
        let mut panicked = None;
        while let Some(done) = tasks.join_next().await {
            if let Err(e) = done
                && e.is_panic()
            {
                panicked.get_or_insert(e.into_panic());
            }
        }
        if let Some(p) = panicked {
            panic::resume_unwind(p);
        }
        counters.snapshot()
    }
}

struct Shared {
    config: FleetConfig,
    codec: Codec,
    counters: Arc<Counters>,
}

#[derive(Clone, Copy)]
struct Slot {
    index: usize,
    fleet_size: usize,
    connect_at: Timestamp,
}

fn nanos(n: u128) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(u64::MAX))
}

#[derive(Clone)]
struct Topics {
    data: String,
    ack: String,
    status: String,
    command: String,
}

/// What the driver tells its device.
enum NetEvent {
    Connected,
    Disconnected,
    Command(Vec<u8>),
}

async fn sleep_until_opt(clock: &dyn Clock, at: Option<Timestamp>) {
    match at {
        Some(t) => clock.sleep_until(t).await,
        None => std::future::pending().await,
    }
}

async fn run_device(
    shared: Arc<Shared>,
    id: DeviceId,
    slot: Slot,
    mut stop: watch::Receiver<bool>,
) {
    let cfg = &shared.config;
    let clock = cfg.clock.as_ref();
    tokio::select! {
        biased;
        _ = stop.wait_for(|s| *s) => return,
        () = clock.sleep_until(slot.connect_at) => {}
    }
    let codec = &shared.codec;
    let counters = &shared.counters;
    let topics = Topics {
        data: codec.topic(&id, TopicKind::Data),
        ack: codec.topic(&id, TopicKind::Ack),
        status: codec.topic(&id, TopicKind::Status),
        command: codec.topic(&id, TopicKind::Command),
    };
    let mut options = MqttOptions::new(id.as_str(), cfg.broker.host.clone(), cfg.broker.port);
    options
        .set_keep_alive(cfg.keep_alive)
        .set_clean_session(!cfg.persistent_session)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET)
        .set_last_will(LastWill::new(
            topics.status.clone(),
            Codec::encode_status(false),
            QoS::AtLeastOnce,
            true,
        ));
    if let Some((user, password)) = &cfg.broker.credentials {
        options.set_credentials(user.clone(), password.clone());
    }
    let (client, mut eventloop) = AsyncClient::new(options, REQUEST_QUEUE);
    let mut network = NetworkOptions::new();
    // Without it a command's ack waits for Nagle's algorithm and the broker's delayed ACK
    // (tens of milliseconds per hop): devices answer at once.
    network.set_tcp_nodelay(true);
    network.set_connection_timeout(cfg.connect_timeout.as_secs().max(1));
    eventloop.set_network_options(network);
    let (net_tx, mut net_rx) = mpsc::unbounded_channel();
    let mut driver = tokio::spawn(drive(
        Arc::clone(&shared),
        eventloop,
        client.clone(),
        topics.clone(),
        net_tx,
        stop.clone(),
    ));

    let mut model = DeviceModel::new(DeviceSpec {
        seed: cfg.device_seed(cfg.first + slot.index),
        id: id.clone(),
        mode: cfg.mode,
        initial: cfg.initial,
    });
    let publish_report = |report: Report| {
        let payload = report.encode(codec);
        if report.auto_off {
            bump(&counters.auto_offs);
        }
        match client.try_publish(topics.data.clone(), QoS::AtLeastOnce, false, payload) {
            Ok(()) => bump(&counters.readings_published),
            Err(_) => bump(&counters.readings_dropped),
        }
    };
    let interval = cfg.interval;
    // Spread the fleet's readings evenly over the interval.
    let phase = nanos(interval.as_nanos() * slot.index as u128 / slot.fleet_size as u128);
    let mut connected = false;
    let mut next_tick: Option<Timestamp> = None;
    let mut last_step = clock.now();
    loop {
        let wake = [next_tick, model.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            ev = net_rx.recv() => match ev {
                None => break, // the driver ended (it only does when stopping)
                Some(NetEvent::Connected) => {
                    connected = true;
                    if next_tick.is_none() {
                        // A device reports once when it comes up, then on its phase.
                        let now = clock.now();
                        if let Some(r) = model.step(now, now.saturating_duration_since(last_step)) {
                            publish_report(r);
                        }
                        last_step = now;
                        let first = if phase.is_zero() { interval } else { phase };
                        next_tick = Some(now.saturating_add(first));
                    }
                }
                Some(NetEvent::Disconnected) => connected = false,
                Some(NetEvent::Command(payload)) => {
                    bump(&counters.commands_received);
                    match model.handle_command(clock.now(), &payload) {
                        Ok(handled) => {
                            if handled.duplicate {
                                bump(&counters.commands_duplicate);
                            }
                            debug!(device = %id, ack = ?handled.ack, "simulator: command handled");
                            let ack = codec.encode_ack(&handled.ack);
                            if client
                                .try_publish(topics.ack.clone(), QoS::AtLeastOnce, false, ack)
                                .is_ok()
                            {
                                bump(&counters.acks_published);
                            }
                        }
                        Err(e) => {
                            bump(&counters.commands_unusable);
                            debug!(device = %id, error = %e, "simulator: command dropped");
                        }
                    }
                }
            },
            () = sleep_until_opt(clock, wake) => {
                let now = clock.now();
                if let Some(r) = model.handle_timeout(now) {
                    publish_report(r);
                }
                if let Some(tick) = next_tick.filter(|t| *t <= now) {
                    if let Some(r) = model.step(now, now.saturating_duration_since(last_step)) {
                        publish_report(r);
                    }
                    last_step = now;
                    let mut next = tick.saturating_add(interval);
                    if next <= now {
                        bump(&counters.ticks_skipped);
                        next = now.saturating_add(interval);
                    }
                    next_tick = Some(next);
                }
            }
        }
    }

    // Graceful shutdown: notice, retained offline, disconnect — bounded in time.
    if connected {
        let deadline = clock.now().saturating_add(cfg.shutdown_timeout);
        let goodbye = async {
            let notice = encode_shutdown_notice(&id);
            if client
                .publish(topics.data.clone(), QoS::AtLeastOnce, false, notice)
                .await
                .is_ok()
            {
                bump(&counters.shutdown_notices);
            }
            let offline = Codec::encode_status(false);
            let _ = client
                .publish(topics.status.clone(), QoS::AtLeastOnce, true, offline)
                .await;
            let _ = client.disconnect().await;
            // The driver returns once the DISCONNECT is written (after the publishes before it).
            let _ = (&mut driver).await;
        };
        tokio::select! {
            () = goodbye => return,
            () = clock.sleep_until(deadline) => {
                bump(&counters.shutdown_timeouts);
                warn!(device = %id, "simulator: graceful shutdown timed out");
            }
        }
    }
    driver.abort();
    let _ = driver.await;
}

/// Polls the event loop continuously; reconnects with backoff.
async fn drive(
    shared: Arc<Shared>,
    mut eventloop: EventLoop,
    client: AsyncClient,
    topics: Topics,
    net: mpsc::UnboundedSender<NetEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let cfg = &shared.config;
    let counters = &shared.counters;
    let clock = cfg.clock.as_ref();
    let mut backoff = cfg.backoff.initial;
    let mut ever_connected = false;
    let mut connected = ConnectedGauge {
        gauge: &counters.connected,
        on: false,
    };
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                bump(&counters.connects);
                if ever_connected {
                    bump(&counters.reconnects);
                }
                ever_connected = true;
                connected.set(true);
                backoff = cfg.backoff.initial;
                // Subscribe on every ConnAck (a clean session forgets subscriptions), then say
                // we are online (retained, so a late subscriber learns it too).
                let _ = client.try_subscribe(topics.command.clone(), QoS::AtLeastOnce);
                let _ = client.try_publish(
                    topics.status.clone(),
                    QoS::AtLeastOnce,
                    true,
                    Codec::encode_status(true),
                );
                let _ = net.send(NetEvent::Connected);
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                if p.topic == topics.command {
                    let _ = net.send(NetEvent::Command(p.payload.to_vec()));
                }
            }
            Ok(Event::Incoming(Packet::PubAck(_))) => bump(&counters.pubacks),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => return,
            Ok(_) => {}
            Err(e) => {
                if connected.set(false) {
                    let _ = net.send(NetEvent::Disconnected);
                }
                if *stop.borrow() {
                    return;
                }
                bump(&counters.connection_errors);
                log_connection_error(&topics.status, &e, backoff);
                let until = clock.now().saturating_add(backoff);
                tokio::select! {
                    biased;
                    _ = stop.wait_for(|s| *s) => return,
                    () = clock.sleep_until(until) => {}
                }
                backoff = (backoff * 2).min(cfg.backoff.max);
            }
        }
    }
}

fn log_connection_error(status_topic: &str, e: &ConnectionError, backoff: Duration) {
    debug!(
        topic = status_topic,
        error = %e,
        retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        "simulator: connection lost or refused; reconnecting"
    );
}
