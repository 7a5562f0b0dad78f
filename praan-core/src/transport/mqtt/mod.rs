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

mod acks;
mod broker_url;
mod config;
mod driver;

pub use config::{ClientAuth, MqttConfig, ReconnectBackoff, TlsConfig};

use acks::AckQueue;
use config::mqtt_options;
use driver::Driver;

use std::{
    borrow::Cow,
    fmt,
    future::Future,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use rumqttc::{AsyncClient, NetworkOptions, SubscribeFilter};
use tokio::sync::{mpsc, watch};

use super::{Delivery, Inbound, Outbound, QoS, Transport, TransportError};
use crate::clock::Clock;
#[cfg(doc)]
use crate::codec::Codec;

/// The largest packet MQTT can express (its remaining-length field tops out at 256 MiB − 1).
const MQTT_MAX_PACKET: usize = 268_435_455;

/// Requests (publishes, acks, subscribes) queued for rumqttc's event loop before `publish` waits.
const REQUEST_CAPACITY: usize = 1024;

/// How long a graceful shutdown waits for the DISCONNECT to be written.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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
        let driver = Driver::new(
            eventloop,
            shared.clone(),
            clock,
            inbound,
            filters,
            stop_rx,
            &config,
        );
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

#[cfg(test)]
mod tests {
    use rumqttc::Publish;

    use super::*;

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
}
