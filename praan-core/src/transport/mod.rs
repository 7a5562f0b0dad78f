//! The MQTT side as a trait: publish, acknowledge, and inbound messages on a channel.
//!
//! A transport's constructor returns the transport and the receiving end of its inbound channel
//! (rumqttc's own client/event-loop split), so the consumer owns the stream and the transport can
//! be shared (`Arc<dyn Transport>`). Inbound messages carry a [`Delivery`] token: the transport
//! acknowledges the message to the broker only when [`Transport::ack`] is called with it, which is
//! how a reading is acknowledged only after the store committed it.
//!
//! [`MemoryTransport`] is the in-process reference; `MqttTransport` (feature `mqtt`; its module
//! `mqtt` tells how it connects, acknowledges and applies backpressure) talks to a real broker
//! through rumqttc. [`TransportPool`] (module `pool`) uses several transports as one, to take more
//! than one connection's in-flight window of messages at a time; `MqttPool` (module `mqtt_pool`) is
//! such a pool of MQTT sessions.

mod memory;
#[cfg(feature = "mqtt")]
pub mod mqtt;
#[cfg(feature = "mqtt")]
pub mod mqtt_pool;
pub mod pool;

use std::{borrow::Cow, fmt};

use async_trait::async_trait;
use bytes::Bytes;

pub use memory::{Faults, MemoryTransport};
#[cfg(feature = "mqtt")]
pub use mqtt::{ClientAuth, MqttConfig, MqttStats, MqttTransport, ReconnectBackoff, TlsConfig};
#[cfg(feature = "mqtt")]
pub use mqtt_pool::MqttPool;
pub use pool::TransportPool;

/// MQTT quality of service.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum QoS {
    /// At most once (0).
    AtMostOnce,
    /// At least once (1): what praan uses for every topic.
    #[default]
    AtLeastOnce,
    /// Exactly once (2).
    ExactlyOnce,
}

/// A message to publish.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Outbound {
    /// The topic.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// The QoS.
    pub qos: QoS,
    /// Whether the broker should retain it.
    pub retain: bool,
}

impl Outbound {
    /// A QoS 1, non-retained message.
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            topic: topic.into(),
            payload: payload.into(),
            qos: QoS::AtLeastOnce,
            retain: false,
        }
    }
}

/// Identifies one inbound message for [`Transport::ack`]; opaque.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Delivery(u64);

impl Delivery {
    /// A token from a transport's own numbering.
    pub const fn new(n: u64) -> Self {
        Self(n)
    }

    /// The transport's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A message received from the broker.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Inbound {
    /// The topic it was published on.
    pub topic: String,
    /// The payload.
    pub payload: Bytes,
    /// Pass to [`Transport::ack`] once the message is handled.
    pub delivery: Delivery,
}

/// A transport failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Not connected to the broker (the message was not sent; retry later).
    #[error("not connected to the broker while {context}")]
    Disconnected {
        /// What praan was doing.
        context: Cow<'static, str>,
    },
    /// The transport has shut down.
    #[error("transport closed")]
    Closed,
    /// The message is larger than the transport's maximum packet size (it was not sent; sending it
    /// again will not help).
    #[error("a packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    TooLarge {
        /// The packet's size in bytes.
        size: usize,
        /// The largest packet the transport sends.
        max: usize,
    },
    /// The transport's configuration is unusable.
    #[error("invalid transport configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: Cow<'static, str>,
    },
    /// Any other failure.
    #[error("transport failed while {context}")]
    Backend {
        /// What praan was doing.
        context: Cow<'static, str>,
        /// The client's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

/// The broker connection, as praan uses it.
#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug {
    /// Publishes a message. Success means the client accepted it for delivery (for QoS 1, the
    /// broker's PUBACK is the client's business: it resends on reconnect).
    async fn publish(&self, message: Outbound) -> Result<(), TransportError>;

    /// Acknowledges an inbound message to the broker, which then will not redeliver it.
    async fn ack(&self, delivery: Delivery) -> Result<(), TransportError>;

    /// Whether the transport is connected to the broker now (for readiness).
    fn is_connected(&self) -> bool;
}
