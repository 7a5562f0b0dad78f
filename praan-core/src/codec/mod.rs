//! The wire protocol of PRODUCT.md §1, pure: topic parsing and JSON decoding/encoding, no broker.
//!
//! [`Codec::decode`] turns one inbound MQTT message into a [`DeviceMessage`] or a [`Rejection`]
//! whose [`RejectReason`] metrics count by; [`Codec::encode_command`] writes the command payload
//! (a function of the stored command only, so every resend is byte-identical).

mod decode;
mod encode;
mod reject;
mod topic;

use std::time::Duration;

use crate::domain::{Ack, DeviceId, PresenceReason, Reading, Timestamp};

pub use reject::{RejectReason, Rejection, payload_sample};
pub use topic::{Topic, TopicKind, TopicPrefix};

/// Limits applied while decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecLimits {
    /// The largest payload decoded (larger ones are rejected as `oversized` before parsing).
    pub max_payload_bytes: usize,
    /// The most readings in one backlog array.
    pub max_batch: usize,
    /// How far in the future (after the receive time) a reading's timestamp may be.
    pub max_future_skew: Duration,
}

impl Default for CodecLimits {
    /// 512 KiB payloads, 1000 readings per array, 24 h of future skew.
    fn default() -> Self {
        Self {
            max_payload_bytes: 512 * 1024,
            max_batch: 1000,
            max_future_skew: Duration::from_secs(24 * 60 * 60),
        }
    }
}

/// Encodes and decodes the wire protocol for one topic prefix.
#[derive(Clone, Debug, Default)]
pub struct Codec {
    prefix: TopicPrefix,
    limits: CodecLimits,
}

/// What a device told praan in one message.
#[derive(Clone, PartialEq, Debug)]
pub enum DeviceMessage {
    /// Readings from the data topic (one object, or a backlog array).
    Readings {
        /// The device (from the topic).
        device_id: DeviceId,
        /// The readings that decoded.
        readings: Vec<Reading>,
        /// Array elements that did not (a backlog is not thrown away for one bad element).
        rejected: Vec<Rejection>,
    },
    /// The old devices' graceful shutdown notice on the data topic.
    ShutdownNotice {
        /// The device.
        device_id: DeviceId,
        /// Its message, if any.
        message: Option<String>,
        /// When it was received.
        at: Timestamp,
    },
    /// A command acknowledgement.
    Ack(Ack),
    /// A presence report from the status topic.
    Status {
        /// The device.
        device_id: DeviceId,
        /// Online or not.
        online: bool,
        /// `status_topic`, or `last_will` for the plain `offline` devices set as their Last Will.
        reason: PresenceReason,
        /// When it was received.
        at: Timestamp,
    },
}

impl DeviceMessage {
    /// The device the message is from.
    pub fn device_id(&self) -> &DeviceId {
        match self {
            Self::Readings { device_id, .. }
            | Self::ShutdownNotice { device_id, .. }
            | Self::Status { device_id, .. } => device_id,
            Self::Ack(ack) => &ack.device_id,
        }
    }
}

impl Codec {
    /// A codec for `prefix` with `limits`.
    pub fn new(prefix: TopicPrefix, limits: CodecLimits) -> Self {
        Self { prefix, limits }
    }

    /// The topic prefix.
    pub fn prefix(&self) -> &TopicPrefix {
        &self.prefix
    }

    /// The decoding limits.
    pub fn limits(&self) -> &CodecLimits {
        &self.limits
    }

    /// Parses a topic strictly (see [`TopicPrefix::parse`]).
    pub fn parse_topic(&self, topic: &str) -> Result<Topic, Rejection> {
        self.prefix.parse(topic)
    }

    /// Builds `prefix/{id}/{kind}`.
    pub fn topic(&self, device_id: &DeviceId, kind: TopicKind) -> String {
        self.prefix.topic(device_id, kind)
    }

    /// The subscription filters for everything devices publish: `prefix/+/data|ack|status`.
    pub fn subscriptions(&self) -> Vec<String> {
        TopicKind::INBOUND
            .iter()
            .map(|k| self.prefix.filter(*k))
            .collect()
    }

    /// The subscription filter for the readings alone: `prefix/+/data` (one of
    /// [`Codec::subscriptions`]).
    pub fn data_subscription(&self) -> String {
        self.prefix.filter(TopicKind::Data)
    }

    /// Decodes one inbound message received at `received_at`.
    pub fn decode(
        &self,
        topic: &str,
        payload: &[u8],
        received_at: Timestamp,
    ) -> Result<DeviceMessage, Rejection> {
        let topic = self.parse_topic(topic)?;
        if payload.len() > self.limits.max_payload_bytes {
            return Err(Rejection::new(
                RejectReason::Oversized,
                format!(
                    "payload of {} bytes exceeds the maximum of {}",
                    payload.len(),
                    self.limits.max_payload_bytes
                ),
            ));
        }
        match topic.kind {
            TopicKind::Data => self.decode_data(topic.device_id, payload, received_at),
            TopicKind::Ack => decode::ack(topic.device_id, payload, received_at, &self.limits)
                .map(DeviceMessage::Ack),
            TopicKind::Status => decode::status(topic.device_id, payload, received_at),
            TopicKind::Command => Err(Rejection::new(
                RejectReason::UnexpectedTopic,
                "devices do not publish on the command topic",
            )),
        }
    }

    fn decode_data(
        &self,
        device_id: DeviceId,
        payload: &[u8],
        received_at: Timestamp,
    ) -> Result<DeviceMessage, Rejection> {
        decode::data(device_id, payload, received_at, &self.limits)
    }
}

#[cfg(test)]
mod tests;
