//! [`MqttTransport`]: the [`Transport`] on a real MQTT 3.1.1 broker, through rumqttc.
//!
//! This module is the only place in praan-core that knows rumqttc; nothing of it shows in the
//! public API.
//!
//! ```no_run
//! use std::sync::Arc;
//! use praan_core::{
//!     clock::SystemClock,
//!     codec::Codec,
//!     transport::{MqttConfig, MqttTransport, Transport},
//! };
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let codec = Codec::default();
//! let mut config = MqttConfig::new("mqtt://127.0.0.1:1883", "praan-1");
//! config.subscriptions = codec.subscriptions();
//! config.share_group = Some("praan".to_owned()); // only when several instances share the load
//! let (transport, mut inbound, driver) = MqttTransport::connect(config, Arc::new(SystemClock))?;
//! let driver = tokio::spawn(driver);
//! while let Some(message) = inbound.recv().await {
//!     // … store it, then:
//!     transport.ack(message.delivery).await?;
//! }
//! transport.disconnect();
//! driver.await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Connection
//! - **Broker URL**: `mqtt://[user[:password]@]host[:port]` (port 1883 by default) or `mqtts://…`
//!   (8883; TLS with rustls and the ring provider, trusting the certificates of
//!   [`MqttConfig::tls`]). User and password are percent-decoded.
//! - **Persistent session**: `clean_session = false` with a client id that must be stable per
//!   instance ([`MqttConfig::client_id`]), so the broker keeps the subscriptions and the
//!   un-acknowledged QoS 1 messages while praan is down, and redelivers them when it is back.
//! - **Subscriptions** ([`MqttConfig::subscriptions`], e.g. [`Codec::subscriptions`]) at QoS 1,
//!   as a shared subscription `$share/{group}/{filter}` when [`MqttConfig::share_group`] is set.
//!   They are sent again on **every** ConnAck (before anything else the client has queued), so a
//!   broker that lost the session still delivers. MQTT 3.1.1 resends retained messages on every
//!   subscribe, so the retained presence messages arrive again after each reconnect.
//! - **Reconnection** with capped exponential backoff ([`ReconnectBackoff`]), timed through the
//!   [`Clock`]. The delay starts over after a connection that stayed up for a keep-alive period.
//!
//! # The driver
//! [`MqttTransport::connect`] returns, besides the transport and its inbound channel, the driver:
//! a future the embedder spawns (nothing is spawned for you). It polls rumqttc's event loop all
//! the time — that is what sends publishes and acknowledgements, answers keep-alives and
//! reconnects. It ends after [`MqttTransport::disconnect`] or when every clone of the transport is
//! dropped (sending MQTT DISCONNECT if connected), and then the inbound channel closes.
//!
//! # Acknowledgements
//! Incoming QoS 1 messages are acknowledged **only** by [`Transport::ack`] (rumqttc's manual
//! acks). MQTT 3.1.1 (§4.6) requires PUBACKs in the order the PUBLISHes arrived, so acks may be
//! requested in any order but are released in arrival order: an ack for a later message waits
//! until every earlier message of the same connection is acknowledged too. **Every delivery must
//! be acknowledged**, unusable ones included, or the ones after it are never released (the broker
//! then stops sending once its in-flight window is full).
//!
//! When the connection drops, the deliveries not yet acknowledged on it are forgotten: acking them
//! later does nothing, because the broker redelivers them on the new connection (persistent
//! session), with new [`Delivery`] tokens. A packet id from the old connection is never sent on
//! the new one, where it could name a different message. The consumer therefore sees such
//! messages twice; praan deduplicates readings on `(deviceId, timestamp)`.
//!
//! # Backpressure
//! Messages go to a bounded channel ([`MqttConfig::inbound_capacity`]). When it is full the
//! driver keeps up to as many again in a local buffer while it goes on polling; with the buffer
//! full too it stops reading from the broker until the consumer takes a message, and the broker
//! holds the backlog (un-acknowledged QoS 1 messages stay in the persistent session). At most
//! `2 × inbound_capacity` messages are held in memory. Normally the broker stops first: it sends
//! no more than its in-flight window (Mosquitto's `max_inflight_messages`, 20 by default;
//! rumqttd's `max_inflight_count`) of un-acknowledged QoS 1 messages. While the driver does not
//! poll it sends no keep-alives either; a pause longer than 1.5 × keep-alive makes the broker
//! drop the connection, and the un-acknowledged messages come again after the reconnect.
//!
//! # Packet size
//! rumqttc's default maximum packet size is 10 KiB, and an incoming packet above the maximum is a
//! connection error — on a persistent session the broker redelivers that packet after every
//! reconnect, forever. [`MqttConfig::max_packet_size`] is therefore 1 MiB by default (above the
//! codec's 512 KiB payload limit, so an oversized payload reaches the codec, which rejects and
//! acknowledges it), and **the broker must not forward larger packets**: set Mosquitto's
//! `message_size_limit` (or rumqttd's `max_payload_size`) below it. Mosquitto drops (and
//! acknowledges to the sender) a publish above its limit, so the subscriber never sees it.
//! Outgoing, [`Transport::publish`] refuses a message whose packet would exceed the maximum with
//! [`TransportError::TooLarge`] instead of handing it to rumqttc, whose connection would fail on
//! it (and retransmit it after every reconnect). A broker may also close the connection on a publish
//! above its own limit (rumqttd does; Mosquitto drops the message): so the broker's limit must lie
//! between the largest packet praan publishes (commands are well under 1 KiB) and our maximum.

use std::{
    borrow::Cow,
    collections::VecDeque,
    fmt,
    future::Future,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, MqttOptions, NetworkOptions, Outgoing, Packet,
    Publish, Request, StateError, Subscribe, SubscribeFilter, SubscribeReasonCode,
    TlsConfiguration, mqttbytes,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio::sync::{mpsc, watch};

use super::{Delivery, Inbound, Outbound, QoS, Transport, TransportError};
#[cfg(doc)]
use crate::codec::Codec;
use crate::{clock::Clock, domain::Timestamp};

/// The largest packet MQTT can express (its remaining-length field tops out at 256 MiB − 1).
const MQTT_MAX_PACKET: usize = 268_435_455;

/// Requests (publishes, acks, subscribes) queued for rumqttc's event loop before `publish` waits.
const REQUEST_CAPACITY: usize = 1024;

/// How long a graceful shutdown waits for the DISCONNECT to be written.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Where and how to connect; see the [module documentation](self) for what each part means.
///
/// Build it with [`MqttConfig::new`], then set the fields. Its `Debug` output hides the URL's
/// password.
#[derive(Clone)]
#[non_exhaustive]
pub struct MqttConfig {
    /// `mqtt://[user[:password]@]host[:port]` or `mqtts://…` (percent-encoded user and password).
    pub url: String,
    /// The MQTT client id: stable per instance (the persistent session is keyed on it), unique
    /// among the broker's clients.
    pub client_id: String,
    /// Topic filters to subscribe to at QoS 1 on every connection, e.g.
    /// [`Codec::subscriptions`]. Empty for a publish-only transport.
    pub subscriptions: Vec<String>,
    /// Subscribe as the shared-subscription group `$share/{group}/{filter}`, so that several
    /// instances split the messages between them. `None` (the default) for a plain subscription.
    pub share_group: Option<String>,
    /// Keep-alive interval: 0 (off) or at least 1 s, whole seconds. 30 s by default.
    pub keep_alive: Duration,
    /// Whether the broker forgets the session on disconnect. `false` by default (a persistent
    /// session: un-acknowledged messages are kept and redelivered).
    pub clean_session: bool,
    /// The largest MQTT packet sent or accepted, in bytes. 1 MiB by default; keep the broker's
    /// message size limit below it (see [Packet size](self#packet-size)).
    pub max_packet_size: usize,
    /// Capacity of the inbound channel the consumer reads (and of the driver's local buffer).
    /// 1024 by default.
    pub inbound_capacity: usize,
    /// The most QoS 1 publishes of ours awaiting the broker's PUBACK. 100 by default.
    pub max_inflight: u16,
    /// How long to wait for the TCP (and TLS) connection and the ConnAck; whole seconds, at least
    /// 1 s. 10 s by default.
    pub connect_timeout: Duration,
    /// Delays between reconnection attempts.
    pub reconnect: ReconnectBackoff,
    /// The certificates to trust (and present) for `mqtts://`. Required for `mqtts://`.
    pub tls: Option<TlsConfig>,
}

impl MqttConfig {
    /// A configuration for `url` and `client_id`, with the defaults documented on each field and
    /// no subscriptions.
    pub fn new(url: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client_id: client_id.into(),
            subscriptions: Vec::new(),
            share_group: None,
            keep_alive: Duration::from_secs(30),
            clean_session: false,
            max_packet_size: 1024 * 1024,
            inbound_capacity: 1024,
            max_inflight: 100,
            connect_timeout: Duration::from_secs(10),
            reconnect: ReconnectBackoff::default(),
            tls: None,
        }
    }

    /// The filters actually subscribed to: [`MqttConfig::subscriptions`], with the
    /// shared-subscription prefix when [`MqttConfig::share_group`] is set.
    pub fn subscription_filters(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .map(|filter| match &self.share_group {
                Some(group) => format!("$share/{group}/{filter}"),
                None => filter.clone(),
            })
            .collect()
    }
}

impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &redact_url(&self.url))
            .field("client_id", &self.client_id)
            .field("subscriptions", &self.subscriptions)
            .field("share_group", &self.share_group)
            .field("keep_alive", &self.keep_alive)
            .field("clean_session", &self.clean_session)
            .field("max_packet_size", &self.max_packet_size)
            .field("inbound_capacity", &self.inbound_capacity)
            .field("max_inflight", &self.max_inflight)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect", &self.reconnect)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Capped exponential backoff between reconnection attempts: `initial`, then doubling up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconnectBackoff {
    /// The first delay. 100 ms by default.
    pub initial: Duration,
    /// The longest delay. 30 s by default.
    pub max: Duration,
}

impl Default for ReconnectBackoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

/// TLS settings for `mqtts://` (rustls with the ring provider). The library reads no files: the
/// embedder passes the certificates' contents.
#[derive(Clone)]
#[non_exhaustive]
pub enum TlsConfig {
    /// Trust the CA certificates of a PEM bundle, and optionally authenticate with a client
    /// certificate.
    Pem {
        /// One or more PEM `CERTIFICATE` blocks: the CAs that may sign the broker's certificate.
        ca: Vec<u8>,
        /// A client certificate to present (mutual TLS), if the broker asks for one.
        client_auth: Option<ClientAuth>,
    },
    /// A complete rustls client configuration, for anything else (ALPN, custom verifiers, …).
    Rustls(Arc<rustls::ClientConfig>),
}

impl TlsConfig {
    /// Trust the CA certificates in `ca_pem`; no client certificate.
    pub fn ca_pem(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self::Pem {
            ca: ca_pem.into(),
            client_auth: None,
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem { ca, client_auth } => f
                .debug_struct("Pem")
                .field("ca_bytes", &ca.len())
                .field("client_auth", client_auth)
                .finish(),
            Self::Rustls(_) => f.write_str("Rustls(..)"),
        }
    }
}

/// A client certificate for mutual TLS, PEM-encoded.
#[derive(Clone)]
pub struct ClientAuth {
    /// The certificate chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert_chain_pem: Vec<u8>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("ClientAuth")
            .field("cert_chain_bytes", &self.cert_chain_pem.len())
            .finish_non_exhaustive()
    }
}

/// Counters of a transport's life, for tests, metrics and readiness checks.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub struct MqttStats {
    /// Connections established (ConnAcks received).
    pub connections: u64,
    /// Connection attempts that failed plus connections that were lost.
    pub connection_errors: u64,
    /// Connections after the first on which the broker had no session for us although ours is
    /// persistent (the broker lost it: messages it held for us are gone).
    pub sessions_lost: u64,
    /// Publishes received from the broker.
    pub received: u64,
    /// Acknowledgements (PUBACK) handed to the event loop.
    pub acks_sent: u64,
    /// Times the driver stopped reading from the broker because the consumer fell behind (the
    /// inbound channel and the local buffer were full).
    pub backpressure_pauses: u64,
    /// Packets the broker sent that exceeded [`MqttConfig::max_packet_size`] (each one cost the
    /// connection: see [Packet size](self#packet-size)).
    pub oversized_incoming: u64,
    /// SubAcks received: one per connection when [`MqttConfig::subscriptions`] is not empty, so
    /// `subscribed == connections` means the current connection's subscriptions are in place.
    pub subscribed: u64,
    /// Subscriptions the broker refused (SubAck failure codes).
    pub subscribe_failures: u64,
}

/// The MQTT transport. Clones share one connection.
///
/// See the [module documentation](self) for the connection, acknowledgement and backpressure
/// rules.
#[derive(Clone)]
pub struct MqttTransport {
    handle: Arc<Handle>,
}

/// What the transport's clones share; dropping the last one stops the driver.
struct Handle {
    shared: Arc<Shared>,
    max_packet_size: usize,
    stop: watch::Sender<bool>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Nobody can publish or acknowledge any more: let the driver disconnect and end.
        self.stop.send_replace(true);
    }
}

/// State shared by the transport and its driver.
struct Shared {
    client: AsyncClient,
    connected: AtomicBool,
    /// Set once the driver has ended.
    closed: AtomicBool,
    acks: Mutex<AckQueue>,
    stats: Counters,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    connection_errors: AtomicU64,
    sessions_lost: AtomicU64,
    received: AtomicU64,
    acks_sent: AtomicU64,
    backpressure_pauses: AtomicU64,
    oversized_incoming: AtomicU64,
    subscribed: AtomicU64,
    subscribe_failures: AtomicU64,
}

impl Shared {
    fn lock_acks(&self) -> MutexGuard<'_, AckQueue> {
        // Every update is a push, a pop, a flag or a clear: a poisoned lock still holds a usable
        // queue.
        self.acks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands rumqttc the acknowledgements that may go out now (see [`AckQueue::release`]).
    fn release_acks(&self) {
        let sent = self.lock_acks().release(&self.client);
        if sent > 0 {
            self.stats.acks_sent.fetch_add(sent, Ordering::Relaxed);
        }
    }
}

/// The QoS 1/2 deliveries of the current connection not yet acknowledged to the broker, in
/// arrival order. MQTT wants PUBACKs in that order, so an ack is recorded here and released only
/// when every earlier delivery is acknowledged too.
///
/// Invariant: `entries` is sorted by `seq` (deliveries are numbered in arrival order).
#[derive(Default)]
struct AckQueue {
    entries: VecDeque<AckEntry>,
}

struct AckEntry {
    seq: u64,
    pkid: u16,
    qos: rumqttc::QoS,
    acked: bool,
}

impl AckQueue {
    /// Records that `seq` was acknowledged; false when it is not (or no longer) waiting.
    fn mark(&mut self, seq: u64) -> bool {
        match self.entries.binary_search_by_key(&seq, |e| e.seq) {
            Ok(i) => {
                self.entries[i].acked = true;
                true
            }
            Err(_) => false,
        }
    }

    /// Hands rumqttc the acknowledged prefix of the queue, in order; returns how many. Stops early
    /// when rumqttc's request queue is full: the driver calls this again after every event.
    ///
    /// Called with the lock held, so that a connection loss (which clears the queue under the same
    /// lock, then drops the queued PUBACKs from rumqttc's request queue) cannot interleave: no
    /// packet id of an old connection reaches a new one.
    fn release(&mut self, client: &AsyncClient) -> u64 {
        let mut sent = 0;
        while let Some(front) = self.entries.front() {
            if !front.acked {
                break;
            }
            let mut publish = Publish::new("", front.qos, Vec::new());
            publish.pkid = front.pkid;
            if client.try_ack(&publish).is_err() {
                break;
            }
            self.entries.pop_front();
            sent += 1;
        }
        sent
    }
}

impl MqttTransport {
    /// Checks `config` and prepares the connection; returns the transport, the channel inbound
    /// messages arrive on, and the driver future, which the embedder spawns (for instance with
    /// `tokio::spawn`) and which does all the network work: nothing connects until it runs.
    ///
    /// Fails with [`TransportError::Config`] on an unusable configuration (bad URL, filter or
    /// certificate, `mqtts://` without [`MqttConfig::tls`], …).
    pub fn connect(
        config: MqttConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<
        (
            Self,
            mpsc::Receiver<Inbound>,
            impl Future<Output = ()> + Send + 'static,
        ),
        TransportError,
    > {
        let options = mqtt_options(&config)?;
        let filters = config
            .subscription_filters()
            .into_iter()
            .map(|path| SubscribeFilter::new(path, rumqttc::QoS::AtLeastOnce))
            .collect();
        let (client, mut eventloop) = AsyncClient::new(options, REQUEST_CAPACITY);
        let mut network = NetworkOptions::new();
        network.set_tcp_nodelay(true);
        network.set_connection_timeout(config.connect_timeout.as_secs().max(1));
        eventloop.set_network_options(network);

        let shared = Arc::new(Shared {
            client,
            connected: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            acks: Mutex::new(AckQueue::default()),
            stats: Counters::default(),
        });
        let capacity = config.inbound_capacity.max(1);
        let (inbound, receiver) = mpsc::channel(capacity);
        let (stop, stop_rx) = watch::channel(false);
        let driver = Driver {
            eventloop,
            shared: shared.clone(),
            clock,
            inbound,
            overflow: VecDeque::new(),
            overflow_limit: capacity,
            consumer_alive: true,
            filters,
            stop: stop_rx,
            backoff: config.reconnect,
            stable_after: config.keep_alive.max(Duration::from_secs(1)),
            persistent: !config.clean_session,
            next_seq: 0,
        };
        let transport = Self {
            handle: Arc::new(Handle {
                shared,
                max_packet_size: config.max_packet_size,
                stop,
            }),
        };
        Ok((transport, receiver, driver.run()))
    }

    /// Stops the transport: the driver hands the broker the acknowledgements already requested,
    /// sends DISCONNECT (the persistent session stays at the broker), and ends; the inbound
    /// channel then closes. Later publishes and acks fail with [`TransportError::Closed`].
    pub fn disconnect(&self) {
        self.handle.stop.send_replace(true);
    }

    /// The transport's counters so far.
    pub fn stats(&self) -> MqttStats {
        let c = &self.handle.shared.stats;
        MqttStats {
            connections: c.connections.load(Ordering::Relaxed),
            connection_errors: c.connection_errors.load(Ordering::Relaxed),
            sessions_lost: c.sessions_lost.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            acks_sent: c.acks_sent.load(Ordering::Relaxed),
            backpressure_pauses: c.backpressure_pauses.load(Ordering::Relaxed),
            oversized_incoming: c.oversized_incoming.load(Ordering::Relaxed),
            subscribed: c.subscribed.load(Ordering::Relaxed),
            subscribe_failures: c.subscribe_failures.load(Ordering::Relaxed),
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }
}

impl fmt::Debug for MqttTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttTransport")
            .field("connected", &self.is_connected())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transport for MqttTransport {
    /// Hands the message to rumqttc (waiting while its request queue is full). Fails with
    /// [`TransportError::Disconnected`] while the connection is down, and with
    /// [`TransportError::TooLarge`] when the packet would exceed [`MqttConfig::max_packet_size`].
    async fn publish(&self, message: Outbound) -> Result<(), TransportError> {
        let shared = self.shared();
        if shared.closed.load(Ordering::SeqCst) {
            return Err(TransportError::Closed);
        }
        let qos = to_rumqttc_qos(message.qos);
        let size = publish_packet_size(message.topic.len(), message.payload.len(), qos);
        if size > self.handle.max_packet_size {
            return Err(TransportError::TooLarge {
                size,
                max: self.handle.max_packet_size,
            });
        }
        if !self.is_connected() {
            return Err(TransportError::Disconnected {
                context: format!("publishing to {}", message.topic).into(),
            });
        }
        let topic = message.topic;
        shared
            .client
            .publish_bytes(topic.clone(), qos, message.retain, message.payload)
            .await
            .map_err(|e| {
                if shared.closed.load(Ordering::SeqCst) {
                    TransportError::Closed
                } else {
                    TransportError::Backend {
                        context: format!("publishing to {topic}").into(),
                        source: Box::new(e),
                    }
                }
            })
    }

    /// Records the acknowledgement and releases, in arrival order, every acknowledgement that
    /// may go out now (see [Acknowledgements](self#acknowledgements)). Acknowledging a delivery
    /// twice, a QoS 0 delivery, or one from a connection that has since dropped does nothing.
    async fn ack(&self, delivery: Delivery) -> Result<(), TransportError> {
        let shared = self.shared();
        if shared.closed.load(Ordering::SeqCst) {
            return Err(TransportError::Closed);
        }
        let sent = {
            let mut acks = shared.lock_acks();
            if !acks.mark(delivery.get()) {
                tracing::trace!(
                    delivery = delivery.get(),
                    "ack of a delivery that is not waiting (QoS 0, already acknowledged, or from a lost connection)"
                );
                return Ok(());
            }
            acks.release(&shared.client)
        };
        if sent > 0 {
            shared.stats.acks_sent.fetch_add(sent, Ordering::Relaxed);
        }
        Ok(())
    }

    fn is_connected(&self) -> bool {
        self.shared().connected.load(Ordering::SeqCst)
    }
}

/// The size of the PUBLISH packet rumqttc would write (its own check counts the whole packet).
fn publish_packet_size(topic_len: usize, payload_len: usize, qos: rumqttc::QoS) -> usize {
    let pkid = if qos == rumqttc::QoS::AtMostOnce {
        0
    } else {
        2
    };
    let remaining = 2 + topic_len + pkid + payload_len;
    let length_bytes = match remaining {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    };
    1 + length_bytes + remaining
}

fn to_rumqttc_qos(qos: QoS) -> rumqttc::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

fn config_error(reason: impl Into<Cow<'static, str>>) -> TransportError {
    TransportError::Config {
        reason: reason.into(),
    }
}

/// rumqttc's options for `config`, every value checked first (rumqttc panics on some).
fn mqtt_options(config: &MqttConfig) -> Result<MqttOptions, TransportError> {
    let url = BrokerUrl::parse(&config.url)?;
    if config.client_id.is_empty() || config.client_id.len() > 65_535 {
        return Err(config_error("client_id must be 1 to 65535 bytes"));
    }
    if config.client_id.chars().any(char::is_control) {
        return Err(config_error(
            "client_id must not contain control characters",
        ));
    }
    let keep_alive = config.keep_alive;
    if !(keep_alive.is_zero()
        || (keep_alive >= Duration::from_secs(1) && keep_alive.as_secs() <= u64::from(u16::MAX)))
    {
        return Err(config_error("keep_alive must be 0 or 1 s to 65535 s"));
    }
    if !(128..=MQTT_MAX_PACKET).contains(&config.max_packet_size) {
        return Err(config_error(
            "max_packet_size must be 128 bytes to 256 MiB - 1",
        ));
    }
    if config.max_inflight == 0 {
        return Err(config_error("max_inflight must be at least 1"));
    }
    if let Some(group) = &config.share_group
        && (group.is_empty()
            || group
                .chars()
                .any(|c| matches!(c, '/' | '+' | '#' | '\0') || c.is_control()))
    {
        return Err(config_error(
            "share_group must be non-empty, without '/', '+', '#' or control characters",
        ));
    }
    for filter in &config.subscriptions {
        check_filter(filter)?;
    }

    let mut options = MqttOptions::new(config.client_id.clone(), url.host, url.port);
    options
        .set_keep_alive(Duration::from_secs(keep_alive.as_secs()))
        .set_clean_session(config.clean_session)
        .set_max_packet_size(config.max_packet_size, config.max_packet_size)
        .set_inflight(config.max_inflight)
        .set_manual_acks(true);
    if let Some((user, password)) = url.credentials {
        options.set_credentials(user, password);
    }
    match (url.tls, &config.tls) {
        (true, Some(tls)) => {
            options.set_transport(rumqttc::Transport::Tls(TlsConfiguration::Rustls(
                rustls_config(tls)?,
            )));
        }
        (true, None) => {
            return Err(config_error(
                "an mqtts:// broker needs MqttConfig::tls (the CA certificates to trust)",
            ));
        }
        (false, Some(_)) => {
            return Err(config_error(
                "MqttConfig::tls is set but the URL is mqtt:// (use mqtts://)",
            ));
        }
        (false, None) => {}
    }
    Ok(options)
}

/// Checks an MQTT topic filter: non-empty, `+` only as a whole level, `#` only as the whole last
/// level, no NUL.
fn check_filter(filter: &str) -> Result<(), TransportError> {
    let bad = |why: &str| Err(config_error(format!("subscription {filter:?}: {why}")));
    if filter.is_empty() || filter.len() > 65_535 {
        return bad("must be 1 to 65535 bytes");
    }
    if filter.contains('\0') {
        return bad("must not contain NUL");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('+') && *level != "+" {
            return bad("'+' must be a whole level");
        }
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return bad("'#' must be the whole last level");
        }
    }
    Ok(())
}

/// A rustls client configuration (ring provider) from [`TlsConfig`].
fn rustls_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let (ca, client_auth) = match tls {
        TlsConfig::Rustls(config) => return Ok(config.clone()),
        TlsConfig::Pem { ca, client_auth } => (ca, client_auth),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        let cert = cert.map_err(|e| config_error(format!("reading the CA certificates: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| config_error(format!("adding a CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(config_error("the CA PEM holds no certificate"));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| config_error(format!("TLS protocol versions: {e}")))?
    .with_root_certificates(roots);
    let config = match client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let chain = CertificateDer::pem_slice_iter(&auth.cert_chain_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| config_error(format!("reading the client certificate: {e}")))?;
            if chain.is_empty() {
                return Err(config_error(
                    "the client certificate PEM holds no certificate",
                ));
            }
            let key = PrivateKeyDer::from_pem_slice(&auth.key_pem)
                .map_err(|e| config_error(format!("reading the client key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_error(format!("the client certificate: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

/// A parsed broker URL.
#[derive(Debug, PartialEq, Eq)]
struct BrokerUrl {
    tls: bool,
    /// A host name, an IPv4 address, or a bracketed IPv6 address (`[::1]`).
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl BrokerUrl {
    fn parse(url: &str) -> Result<Self, TransportError> {
        let bad = |why: &str| {
            Err(config_error(format!(
                "broker URL {:?}: {why}",
                redact_url(url)
            )))
        };
        let Some((scheme, rest)) = url.split_once("://") else {
            return bad("expected mqtt://host[:port] or mqtts://host[:port]");
        };
        let (tls, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "mqtt" | "tcp" => (false, 1883),
            "mqtts" | "ssl" => (true, 8883),
            _ => return bad("the scheme must be mqtt or mqtts"),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#']) {
            return bad("a broker URL has no path, query or fragment");
        }
        let (credentials, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let (Some(user), Some(password)) = (percent_decode(user), percent_decode(password))
                else {
                    return bad("bad percent-encoding in the user or password");
                };
                if user.is_empty() {
                    return bad("empty user name");
                }
                (Some((user, password)), hostport)
            }
            None => (None, authority),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let Some((addr, after)) = v6.split_once(']') else {
                return bad("unclosed '[' in the host");
            };
            let port = match after {
                "" => None,
                p => match p.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return bad("junk after the IPv6 address"),
                },
            };
            (format!("[{addr}]"), port)
        } else {
            match hostport.split_once(':') {
                Some((host, port)) => (host.to_owned(), Some(port)),
                None => (hostport.to_owned(), None),
            }
        };
        if host.is_empty() || host == "[]" {
            return bad("no host");
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return bad("whitespace in the host");
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return bad("the port must be 1 to 65535"),
            },
        };
        Ok(Self {
            tls,
            host,
            port,
            credentials,
        })
    }
}

/// `url` without its password, for error messages.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => {
                    format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..])
                }
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Decodes `%XX` escapes (RFC 3986); `None` on a bad escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The task behind [`MqttTransport`]: polls rumqttc's event loop, forwards publishes, keeps the
/// acknowledgement queue, re-subscribes and reconnects.
struct Driver {
    eventloop: EventLoop,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    inbound: mpsc::Sender<Inbound>,
    /// Messages received while the inbound channel was full, oldest first.
    overflow: VecDeque<Inbound>,
    overflow_limit: usize,
    /// False once the inbound receiver is dropped: messages are then neither forwarded nor
    /// acknowledged (the broker keeps them for the next session).
    consumer_alive: bool,
    filters: Vec<SubscribeFilter>,
    stop: watch::Receiver<bool>,
    backoff: ReconnectBackoff,
    /// A connection that lasted this long resets the reconnection delay.
    stable_after: Duration,
    /// Whether the session is persistent (`clean_session = false`).
    persistent: bool,
    next_seq: u64,
}

/// What one turn of the driver produced.
enum Step {
    Event(Result<Event, ConnectionError>),
    Stop,
}

impl Driver {
    async fn run(mut self) {
        let mut delay = self.backoff.initial;
        let mut connected_since: Option<Timestamp> = None;
        let mut graceful = false;
        loop {
            match self.next_step().await {
                Step::Stop => {
                    graceful = connected_since.is_some();
                    break;
                }
                Step::Event(Ok(event)) => {
                    if let Event::Incoming(Packet::ConnAck(ack)) = &event {
                        connected_since = Some(self.clock.now());
                        self.on_connected(ack.session_present);
                    } else {
                        self.on_event(event);
                    }
                }
                Step::Event(Err(error)) => {
                    self.on_connection_error(&error, connected_since.is_some());
                    if let Some(since) = connected_since.take()
                        && self.clock.now().saturating_duration_since(since) >= self.stable_after
                    {
                        delay = self.backoff.initial;
                    }
                    tracing::debug!(?delay, "MQTT: reconnecting after the backoff delay");
                    let deadline = self.clock.now().saturating_add(delay);
                    if !self.wait_until(deadline).await {
                        break;
                    }
                    delay = delay.saturating_mul(2).min(self.backoff.max);
                }
            }
            self.shared.release_acks();
        }
        self.shared.connected.store(false, Ordering::SeqCst);
        if graceful {
            self.disconnect().await;
        }
        self.shared.closed.store(true, Ordering::SeqCst);
        tracing::info!("MQTT transport stopped");
    }

    /// Polls the event loop for its next event while forwarding buffered messages to the
    /// consumer; stops polling (backpressure) while the buffer is full.
    async fn next_step(&mut self) -> Step {
        // The poll future is kept across the select's turns (never dropped half-way, which could
        // lose a packet rumqttc was writing); only a stop abandons it.
        let poll = self.eventloop.poll();
        tokio::pin!(poll);
        let mut paused = false;
        loop {
            if self.overflow.len() >= self.overflow_limit {
                // Backpressure: the broker holds the backlog until the consumer takes a message.
                if !paused {
                    paused = true;
                    self.shared
                        .stats
                        .backpressure_pauses
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("MQTT: the consumer is behind; reading paused");
                }
                tokio::select! {
                    biased;
                    () = stopped(&mut self.stop) => return Step::Stop,
                    permit = self.inbound.reserve() => {
                        if !forward_one(permit, &mut self.overflow) {
                            consumer_gone(&mut self.consumer_alive, &mut self.overflow, &self.shared);
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return Step::Stop,
                permit = self.inbound.reserve(), if !self.overflow.is_empty() => {
                    if !forward_one(permit, &mut self.overflow) {
                        consumer_gone(&mut self.consumer_alive, &mut self.overflow, &self.shared);
                    }
                }
                event = &mut poll => return Step::Event(event),
            }
        }
    }

    /// Waits until `deadline` (through the clock) while forwarding buffered messages; false when
    /// the transport was stopped meanwhile.
    async fn wait_until(&mut self, deadline: Timestamp) -> bool {
        let clock = self.clock.clone();
        let sleep = clock.sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return false,
                permit = self.inbound.reserve(), if !self.overflow.is_empty() => {
                    if !forward_one(permit, &mut self.overflow) {
                        consumer_gone(&mut self.consumer_alive, &mut self.overflow, &self.shared);
                    }
                }
                () = &mut sleep => return true,
            }
        }
    }

    fn on_connected(&mut self, session_present: bool) {
        let stats = &self.shared.stats;
        let n = stats.connections.fetch_add(1, Ordering::Relaxed) + 1;
        if n > 1 && !session_present && self.persistent {
            stats.sessions_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "MQTT: the broker had no session for us; messages it held for us may be lost"
            );
        }
        tracing::info!(session_present, connection = n, "MQTT connected");
        // Subscribe before anything else rumqttc has queued (it takes `pending` first).
        if !self.filters.is_empty() {
            self.eventloop
                .pending
                .push_front(Request::Subscribe(Subscribe::new_many(
                    self.filters.iter().cloned(),
                )));
        }
        self.shared.connected.store(true, Ordering::SeqCst);
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::Publish(publish)) => self.on_publish(publish),
            Event::Incoming(Packet::SubAck(suback)) => {
                self.shared.stats.subscribed.fetch_add(1, Ordering::Relaxed);
                let refused = suback
                    .return_codes
                    .iter()
                    .filter(|c| matches!(c, SubscribeReasonCode::Failure))
                    .count();
                if refused > 0 {
                    self.shared
                        .stats
                        .subscribe_failures
                        .fetch_add(refused as u64, Ordering::Relaxed);
                    tracing::error!(
                        refused,
                        filters = ?self.filters.iter().map(|f| &f.path).collect::<Vec<_>>(),
                        "MQTT: the broker refused subscriptions"
                    );
                } else {
                    tracing::debug!("MQTT subscribed");
                }
            }
            Event::Incoming(_) | Event::Outgoing(_) => {}
        }
    }

    fn on_publish(&mut self, publish: Publish) {
        self.shared.stats.received.fetch_add(1, Ordering::Relaxed);
        if !self.consumer_alive {
            return;
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        if publish.qos != rumqttc::QoS::AtMostOnce {
            self.shared.lock_acks().entries.push_back(AckEntry {
                seq,
                pkid: publish.pkid,
                qos: publish.qos,
                acked: false,
            });
        }
        let message = Inbound {
            topic: publish.topic,
            payload: publish.payload,
            delivery: Delivery::new(seq),
        };
        if !self.overflow.is_empty() {
            self.overflow.push_back(message);
            return;
        }
        match self.inbound.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => self.overflow.push_back(message),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                consumer_gone(&mut self.consumer_alive, &mut self.overflow, &self.shared);
            }
        }
    }

    fn on_connection_error(&mut self, error: &ConnectionError, was_connected: bool) {
        self.shared.connected.store(false, Ordering::SeqCst);
        let stats = &self.shared.stats;
        stats.connection_errors.fetch_add(1, Ordering::Relaxed);
        // The deliveries of the lost connection will be redelivered: forget them (their acks
        // become no-ops) and drop any PUBACK of theirs still queued in rumqttc, under the lock the
        // ack path holds while it queues one, so none reaches the next connection.
        {
            let mut acks = self.shared.lock_acks();
            acks.entries.clear();
            self.eventloop.clean();
        }
        match error {
            ConnectionError::MqttState(StateError::Deserialization(
                mqttbytes::Error::PayloadSizeLimitExceeded(size),
            )) => {
                stats.oversized_incoming.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    size,
                    "MQTT: the broker sent a packet larger than max_packet_size, which costs the \
                     connection (and comes again after the reconnect); set the broker's message \
                     size limit below max_packet_size"
                );
            }
            ConnectionError::ConnectionRefused(code) => {
                tracing::error!(?code, "MQTT: the broker refused the connection");
            }
            error if was_connected => tracing::warn!(%error, "MQTT connection lost"),
            error => tracing::warn!(%error, "MQTT: cannot connect to the broker"),
        }
    }

    /// Sends DISCONNECT after the acknowledgements already queued, waiting at most
    /// [`SHUTDOWN_GRACE`].
    async fn disconnect(&mut self) {
        self.shared.release_acks();
        if self.shared.client.try_disconnect().is_err() {
            return;
        }
        let deadline = self.clock.now().saturating_add(SHUTDOWN_GRACE);
        let clock = self.clock.clone();
        let sleep = clock.sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                event = self.eventloop.poll() => match event {
                    Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                    Ok(_) => {}
                },
                () = &mut sleep => {
                    tracing::warn!("MQTT: DISCONNECT not sent within the grace period");
                    return;
                }
            }
        }
    }
}

/// Sends the oldest buffered message with `permit`; false when the consumer has gone.
fn forward_one(
    permit: Result<mpsc::Permit<'_, Inbound>, mpsc::error::SendError<()>>,
    overflow: &mut VecDeque<Inbound>,
) -> bool {
    match permit {
        Ok(permit) => {
            if let Some(message) = overflow.pop_front() {
                permit.send(message);
            }
            true
        }
        Err(_) => false,
    }
}

/// The inbound receiver was dropped: stop forwarding and acknowledging (the broker keeps the
/// messages for the next session).
fn consumer_gone(alive: &mut bool, overflow: &mut VecDeque<Inbound>, shared: &Shared) {
    if *alive {
        tracing::info!("MQTT: the inbound receiver was dropped; messages are left to the broker");
    }
    *alive = false;
    overflow.clear();
    shared.lock_acks().entries.clear();
}

/// Completes when the transport is told to stop, or when every transport handle is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<BrokerUrl, TransportError> {
        BrokerUrl::parse(url)
    }

    #[test]
    fn parses_broker_urls() {
        assert_eq!(
            parse("mqtt://127.0.0.1:1884").unwrap(),
            BrokerUrl {
                tls: false,
                host: "127.0.0.1".into(),
                port: 1884,
                credentials: None
            }
        );
        let u = parse("mqtts://praan:s%40cret%3A1@broker.example.com/").unwrap();
        assert!(u.tls);
        assert_eq!((u.host.as_str(), u.port), ("broker.example.com", 8883));
        assert_eq!(
            u.credentials,
            Some(("praan".to_owned(), "s@cret:1".to_owned()))
        );
        let u = parse("mqtt://user@[::1]:1999").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 1999));
        assert_eq!(u.credentials, Some(("user".to_owned(), String::new())));
        assert_eq!(parse("MQTT://h").unwrap().port, 1883);
        for bad in [
            "127.0.0.1:1883",
            "http://h",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:70000",
            "mqtt://h:x",
            "mqtt://h/topic",
            "mqtt://h?x=1",
            "mqtt://:pw@h",
            "mqtt://u:%zz@h",
            "mqtt://[::1",
            "mqtt://[::1]x",
            "mqtt://a b",
        ] {
            assert!(
                matches!(parse(bad), Err(TransportError::Config { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn errors_and_debug_output_do_not_show_the_password() {
        let err = parse("mqtt://user:hunter2@h/x").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("user:***@h"), "{err}");
        let config = MqttConfig::new("mqtts://user:hunter2@h", "c");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("user:***@h"), "{debug}");
    }

    #[test]
    fn checks_filters_and_share_groups() {
        for ok in ["device/+/data", "#", "a/#", "+", "+/+/ack"] {
            assert!(check_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b+", "a/#/b", "a#", "a/\0"] {
            assert!(check_filter(bad).is_err(), "{bad:?}");
        }
        let mut config = MqttConfig::new("mqtt://h", "c");
        config.subscriptions = vec!["device/+/data".into(), "device/+/ack".into()];
        assert_eq!(config.subscription_filters(), config.subscriptions);
        config.share_group = Some("praan".into());
        assert_eq!(
            config.subscription_filters(),
            vec!["$share/praan/device/+/data", "$share/praan/device/+/ack"]
        );
        assert!(mqtt_options(&config).is_ok());
        config.share_group = Some("a/b".into());
        assert!(matches!(
            mqtt_options(&config),
            Err(TransportError::Config { .. })
        ));
    }

    #[test]
    fn refuses_unusable_configurations_instead_of_panicking() {
        let base = MqttConfig::new("mqtt://h", "c");
        type Change = Box<dyn Fn(&mut MqttConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("empty client id", Box::new(|c| c.client_id.clear())),
            (
                "sub-second keep-alive",
                Box::new(|c| c.keep_alive = Duration::from_millis(500)),
            ),
            ("tiny packets", Box::new(|c| c.max_packet_size = 10)),
            ("no in-flight", Box::new(|c| c.max_inflight = 0)),
            (
                "mqtts without roots",
                Box::new(|c| c.url = "mqtts://h".into()),
            ),
            (
                "roots without mqtts",
                Box::new(|c| c.tls = Some(TlsConfig::ca_pem("x"))),
            ),
            (
                "no certificate in the PEM",
                Box::new(|c| {
                    c.url = "mqtts://h".into();
                    c.tls = Some(TlsConfig::ca_pem("not a pem"));
                }),
            ),
        ];
        for (what, change) in cases {
            let mut config = base.clone();
            change(&mut config);
            assert!(
                matches!(mqtt_options(&config), Err(TransportError::Config { .. })),
                "{what}"
            );
        }
        let mut config = base;
        config.keep_alive = Duration::ZERO;
        config.clean_session = true;
        assert!(mqtt_options(&config).is_ok());
    }

    #[test]
    fn publish_size_matches_rumqttc() {
        for (topic, payload, qos) in [
            (10, 0, rumqttc::QoS::AtMostOnce),
            (10, 100, rumqttc::QoS::AtLeastOnce),
            (20, 200_000, rumqttc::QoS::AtLeastOnce),
            (20, 3_000_000, rumqttc::QoS::ExactlyOnce),
        ] {
            let mut publish = Publish::new("t".repeat(topic), qos, vec![0; payload]);
            if qos != rumqttc::QoS::AtMostOnce {
                publish.pkid = 1;
            }
            assert_eq!(publish_packet_size(topic, payload, qos), publish.size());
        }
    }

    #[test]
    fn acks_are_released_in_arrival_order() {
        let (client, _eventloop) = AsyncClient::new(MqttOptions::new("c", "h", 1883), 16);
        let mut queue = AckQueue::default();
        for (seq, pkid) in [(1, 10), (2, 11), (3, 12)] {
            queue.entries.push_back(AckEntry {
                seq,
                pkid,
                qos: rumqttc::QoS::AtLeastOnce,
                acked: false,
            });
        }
        assert!(queue.mark(3));
        assert_eq!(queue.release(&client), 0, "3 waits for 1 and 2");
        assert!(queue.mark(1));
        assert_eq!(queue.release(&client), 1, "1 goes, 3 still waits for 2");
        assert!(!queue.mark(1), "1 is no longer waiting");
        assert!(queue.mark(2));
        assert_eq!(queue.release(&client), 2);
        assert!(queue.entries.is_empty());
        assert!(!queue.mark(99));
    }
}
