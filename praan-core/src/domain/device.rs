//! The device registry record and the observed state of a device (reported state, presence).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{DeviceId, FanSpeed, Reading, ReportedState, Timestamp, ValidationError};

/// The longest name, type, location, model or firmware text accepted, in characters.
pub const MAX_LABEL_CHARS: usize = 128;

/// A short free-text label (name, type, location…): 1–128 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Label(String);

impl Label {
    /// Checks `s`, naming `field` in the error.
    pub fn new(field: &'static str, s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        if s.trim().is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if s.chars().count() > MAX_LABEL_CHARS {
            return Err(ValidationError::new(
                field,
                "must be at most 128 characters",
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(s))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Label {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new("label", s)
    }
}

impl From<Label> for String {
    fn from(l: Label) -> Self {
        l.0
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Administrative status of a registered device.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// In service (the default).
    #[default]
    Active,
    /// Taken out of service.
    Inactive,
    /// Being serviced.
    Maintenance,
}

/// What the hardware can do.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Specifications {
    /// The highest fan speed the model supports (1–5, default 5); commands above it are refused.
    #[serde(default = "default_max_fan_speed", deserialize_with = "running_speed")]
    pub max_fan_speed: FanSpeed,
    /// The hardware model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<Label>,
    /// The firmware version last known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firmware_version: Option<Label>,
}

fn default_max_fan_speed() -> FanSpeed {
    FanSpeed::MAX
}

fn running_speed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<FanSpeed, D::Error> {
    let n = u8::deserialize(d)?;
    FanSpeed::running(n)
        .map_err(|e| serde::de::Error::custom(e.in_field("specifications.maxFanSpeed")))
}

impl Default for Specifications {
    fn default() -> Self {
        Self {
            max_fan_speed: FanSpeed::MAX,
            model: None,
            firmware_version: None,
        }
    }
}

/// A device in the registry.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Its id.
    pub device_id: DeviceId,
    /// A human name.
    pub name: Label,
    /// The kind of device (`air_purifier` for purifiers).
    #[serde(rename = "type")]
    pub device_type: Label,
    /// Where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Label>,
    /// What it can do.
    #[serde(default)]
    pub specifications: Specifications,
    /// Administrative status.
    #[serde(default)]
    pub status: DeviceStatus,
    /// Whether praan registered it on its first message rather than through the API.
    #[serde(default)]
    pub auto_registered: bool,
    /// When it was registered.
    pub registered_at: Timestamp,
    /// When the record last changed.
    pub updated_at: Timestamp,
}

impl Device {
    /// The type given to devices registered automatically.
    pub const DEFAULT_TYPE: &'static str = "air_purifier";

    /// The record praan creates for a device seen for the first time on MQTT.
    pub fn auto_registered(device_id: DeviceId, at: Timestamp) -> Self {
        Self {
            name: Label(device_id.as_str().to_owned()),
            device_id,
            device_type: Label(Self::DEFAULT_TYPE.to_owned()),
            location: None,
            specifications: Specifications::default(),
            status: DeviceStatus::Active,
            auto_registered: true,
            registered_at: at,
            updated_at: at,
        }
    }
}

/// Why praan thinks a device is online or offline.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceReason {
    /// The device published `online`/`offline` on its status topic.
    StatusTopic,
    /// The broker published the device's Last Will (the connection was lost).
    LastWill,
    /// Any message from the device (it is evidently online).
    Message,
    /// Nothing heard for `offlineAfter`.
    Silence,
    /// The device announced a graceful shutdown on its data topic.
    ShutdownNotice,
}

/// Whether a device is reachable, since when and why.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Presence {
    /// Online or not.
    pub online: bool,
    /// When this presence began.
    pub since: Timestamp,
    /// What told praan.
    pub reason: PresenceReason,
}

/// What praan has observed of a device: reported state, presence, last message, latest reading.
///
/// Written by ingestion and presence tracking; the control layer's intent lives in
/// [`ControlState`](super::ControlState), so the two never contend for one record.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeviceState {
    /// The device.
    pub device_id: DeviceId,
    /// The newest power/speed the device reported (reading or ack `currentState`).
    pub reported: Option<ReportedState>,
    /// Online/offline with reason; `None` until anything is known.
    pub presence: Option<Presence>,
    /// When any message from it was last received.
    pub last_seen: Option<Timestamp>,
    /// Its newest reading by device timestamp.
    pub latest_reading: Option<Reading>,
}

impl DeviceState {
    /// A state with nothing observed yet.
    pub fn empty(device_id: DeviceId) -> Self {
        Self {
            device_id,
            reported: None,
            presence: None,
            last_seen: None,
            latest_reading: None,
        }
    }

    /// Whether the device is online as far as praan knows.
    pub fn is_online(&self) -> bool {
        self.presence.is_some_and(|p| p.online)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert!(Label::new("name", "Living room").is_ok());
        assert!(Label::new("name", " ").is_err());
        assert!(Label::new("name", "a".repeat(129)).is_err());
        assert!(Label::new("name", "a\u{7}").is_err());
    }

    #[test]
    fn device_json_uses_type_and_camel_case() {
        let d = Device::auto_registered(DeviceId::new("d1").unwrap(), Timestamp::UNIX_EPOCH);
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["type"], "air_purifier");
        assert_eq!(v["specifications"]["maxFanSpeed"], 5);
        assert_eq!(v["autoRegistered"], true);
        let back: Device = serde_json::from_value(v).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn max_fan_speed_must_be_a_running_speed() {
        let err = serde_json::from_str::<Specifications>(r#"{"maxFanSpeed":0}"#).unwrap_err();
        assert!(err.to_string().contains("maxFanSpeed"), "{err}");
        assert!(serde_json::from_str::<Specifications>(r#"{"maxFanSpeed":4}"#).is_ok());
        assert!(serde_json::from_str::<Specifications>(r#"{"colour":"red"}"#).is_err());
    }
}
