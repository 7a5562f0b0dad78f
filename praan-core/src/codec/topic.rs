//! Strict MQTT topic parsing and building: `prefix/{deviceId}/{kind}`.

use std::fmt;

use crate::domain::{DeviceId, ValidationError};

use super::{RejectReason, Rejection};

/// The kind of a device topic (its last level).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TopicKind {
    /// `data`: readings, device → backend.
    Data,
    /// `ack`: command acknowledgements, device → backend.
    Ack,
    /// `command`: commands, backend → device.
    Command,
    /// `status`: presence (retained, Last Will), device → backend.
    Status,
}

impl TopicKind {
    /// The topic level.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Data => "data",
            Self::Ack => "ack",
            Self::Command => "command",
            Self::Status => "status",
        }
    }

    /// The kinds devices publish (praan subscribes to these).
    pub const INBOUND: [Self; 3] = [Self::Data, Self::Ack, Self::Status];

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "data" => Self::Data,
            "ack" => Self::Ack,
            "command" => Self::Command,
            "status" => Self::Status,
            _ => return None,
        })
    }
}

/// A validated topic prefix: one or more non-empty levels without wildcards, NUL or a leading `$`
/// (default `device`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TopicPrefix(String);

impl TopicPrefix {
    /// Checks `s`.
    pub fn new(s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        let err = |reason: &str| Err(ValidationError::new("topicPrefix", reason));
        if s.is_empty() || s.len() > 1024 {
            return err("must be 1 to 1024 bytes");
        }
        if s.starts_with('$') {
            return err("must not start with '$' (reserved for broker topics)");
        }
        if s.split('/').any(str::is_empty) {
            return err("must not have empty levels (leading, trailing or double '/')");
        }
        if s.chars()
            .any(|c| matches!(c, '+' | '#' | '\0') || c.is_whitespace() || c.is_control())
        {
            return err("must not contain '+', '#', NUL, whitespace or control characters");
        }
        Ok(Self(s))
    }

    /// The prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TopicPrefix {
    fn default() -> Self {
        Self("device".to_owned())
    }
}

impl fmt::Debug for TopicPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TopicPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A parsed device topic.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Topic {
    /// The device, from the topic's id level.
    pub device_id: DeviceId,
    /// The kind.
    pub kind: TopicKind,
}

impl TopicPrefix {
    /// Parses `topic` strictly: exactly `prefix/{id}/{kind}`, a valid id, a known kind.
    pub fn parse(&self, topic: &str) -> Result<Topic, Rejection> {
        let rest = topic
            .strip_prefix(self.0.as_str())
            .and_then(|r| r.strip_prefix('/'))
            .ok_or_else(|| {
                Rejection::new(RejectReason::Topic, "topic does not start with the prefix")
            })?;
        let (id, kind) = rest
            .split_once('/')
            .ok_or_else(|| Rejection::new(RejectReason::Topic, "topic has too few levels"))?;
        let kind = TopicKind::parse(kind).ok_or_else(|| {
            Rejection::new(
                RejectReason::Topic,
                "topic kind is not data, ack, status or command",
            )
        })?;
        let device_id = DeviceId::new(id)
            .map_err(|e| Rejection::new(RejectReason::DeviceId, e.reason).with_field("deviceId"))?;
        Ok(Topic { device_id, kind })
    }

    /// `prefix/{id}/{kind}`.
    pub fn topic(&self, device_id: &DeviceId, kind: TopicKind) -> String {
        let mut t = String::with_capacity(self.0.len() + device_id.as_str().len() + 10);
        t.push_str(&self.0);
        t.push('/');
        t.push_str(device_id.as_str());
        t.push('/');
        t.push_str(kind.as_str());
        t
    }

    /// The subscription filter for every device's topics of `kind`: `prefix/+/{kind}`.
    pub fn filter(&self, kind: TopicKind) -> String {
        format!("{}/+/{}", self.0, kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_checked() {
        for ok in ["device", "acme/devices", "a-b_c.d"] {
            assert!(TopicPrefix::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/device", "device/", "a//b", "$SYS", "dev+", "dev#", "a b", "a\0",
        ] {
            assert!(TopicPrefix::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn builds_topics_and_filters() {
        let p = TopicPrefix::default();
        let id = DeviceId::new("AIR_PURIFIER_001").unwrap();
        assert_eq!(
            p.topic(&id, TopicKind::Command),
            "device/AIR_PURIFIER_001/command"
        );
        assert_eq!(p.filter(TopicKind::Data), "device/+/data");
        let p = TopicPrefix::new("acme/fleet").unwrap();
        let t = p.parse("acme/fleet/AIR_PURIFIER_001/ack").unwrap();
        assert_eq!(
            (t.device_id.as_str(), t.kind),
            ("AIR_PURIFIER_001", TopicKind::Ack)
        );
        assert!(p.parse("device/AIR_PURIFIER_001/ack").is_err());
    }
}
