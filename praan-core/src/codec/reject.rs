//! Why a message was refused: [`Rejection`] and its [`RejectReason`] (a metric label).

use std::{borrow::Cow, fmt};

/// The class of a refused message; metrics count rejections by [`RejectReason::as_str`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
#[non_exhaustive]
pub enum RejectReason {
    /// The topic is not `prefix/{id}/{kind}` with a known kind.
    Topic,
    /// The topic's device id breaks the DeviceId grammar.
    DeviceId,
    /// A topic devices must not publish on (e.g. `command`).
    UnexpectedTopic,
    /// The payload is larger than the configured maximum.
    Oversized,
    /// Not UTF-8 JSON, or not JSON at all.
    MalformedJson,
    /// A field has the wrong JSON type, or a required field is missing.
    WrongType,
    /// A value is outside its range (or not finite).
    OutOfRange,
    /// The payload's `deviceId` differs from the topic's.
    SpoofedDeviceId,
    /// A reading more than the allowed skew in the future.
    FutureTimestamp,
    /// A reading's timestamp is not RFC 3339.
    BadTimestamp,
    /// A backlog array with no readings.
    EmptyBatch,
    /// A backlog array with more readings than allowed.
    BatchTooLarge,
    /// A status payload that is neither `online`/`offline` nor `{"online":bool}`.
    BadStatus,
    /// A message from an unregistered device while unknown devices are not accepted.
    UnknownDevice,
}

impl RejectReason {
    /// Every reason, for pre-registering metric series.
    pub const ALL: [Self; 14] = [
        Self::Topic,
        Self::DeviceId,
        Self::UnexpectedTopic,
        Self::Oversized,
        Self::MalformedJson,
        Self::WrongType,
        Self::OutOfRange,
        Self::SpoofedDeviceId,
        Self::FutureTimestamp,
        Self::BadTimestamp,
        Self::EmptyBatch,
        Self::BatchTooLarge,
        Self::BadStatus,
        Self::UnknownDevice,
    ];

    /// The snake_case label used in metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Topic => "topic",
            Self::DeviceId => "device_id",
            Self::UnexpectedTopic => "unexpected_topic",
            Self::Oversized => "oversized",
            Self::MalformedJson => "malformed_json",
            Self::WrongType => "wrong_type",
            Self::OutOfRange => "out_of_range",
            Self::SpoofedDeviceId => "spoofed_device_id",
            Self::FutureTimestamp => "future_timestamp",
            Self::BadTimestamp => "bad_timestamp",
            Self::EmptyBatch => "empty_batch",
            Self::BatchTooLarge => "batch_too_large",
            Self::BadStatus => "bad_status",
            Self::UnknownDevice => "unknown_device",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused message: the reason class, the field at fault (if one is), and a description.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{reason}{}: {detail}", field.as_ref().map(|f| format!(" ({f})")).unwrap_or_default())]
pub struct Rejection {
    /// The class, for metrics.
    pub reason: RejectReason,
    /// The field at fault (wire name), if one is.
    pub field: Option<Cow<'static, str>>,
    /// What was wrong, for logs.
    pub detail: String,
}

impl Rejection {
    /// A rejection of class `reason`.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Self {
            reason,
            field: None,
            detail: detail.into(),
        }
    }

    /// The same rejection, blaming `field`.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = Some(field.into());
        self
    }
}

/// At most `max` bytes of a payload as printable text, for a log line: invalid UTF-8 and control
/// characters are escaped, and a cut is marked with `…`.
pub fn payload_sample(payload: &[u8], max: usize) -> String {
    let cut = payload.len() > max;
    let text = String::from_utf8_lossy(&payload[..payload.len().min(max)]);
    let mut out: String = text.chars().flat_map(char::escape_debug).collect();
    if cut {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_snake_case() {
        let mut labels: Vec<_> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
        assert!(
            labels
                .iter()
                .all(|l| l.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), RejectReason::ALL.len());
    }

    #[test]
    fn samples_are_short_and_printable() {
        assert_eq!(payload_sample(b"abc", 10), "abc");
        assert_eq!(payload_sample(b"abcdef", 3), "abc…");
        assert_eq!(payload_sample(b"a\0\n\xff", 10), "a\\0\\n\u{fffd}");
        let r = Rejection::new(RejectReason::OutOfRange, "must be at least 0").with_field("pm25");
        assert_eq!(r.to_string(), "out_of_range (pm25): must be at least 0");
    }
}
