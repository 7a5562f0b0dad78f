//! [`PreClean`]: a temporary override of a device's fan, and what it restores.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    CommandId, DeviceId, FanSpeed, FanState, IntentSource, PreCleanId, Timestamp, ValidationError,
};

/// The longest pre-clean by default (the maximum is configurable): 60 minutes.
pub const DEFAULT_MAX_PRE_CLEAN: Duration = Duration::from_secs(60 * 60);

/// What a pre-clean asks for (the old clients' `fanMode`): a name or a speed 1–5.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum FanMode {
    /// `OFF`: off.
    Off,
    /// `AUTO`: speed 3.
    Auto,
    /// `MANUAL`: the request's `fanSpeed` (1–5).
    Manual(FanSpeed),
    /// `PRE_CLEAN`: speed 5.
    PreClean,
    /// A number 1–5: that speed.
    Speed(FanSpeed),
}

impl FanMode {
    /// The state the device runs in while the pre-clean is active.
    pub fn target(self) -> FanState {
        match self {
            Self::Off => FanState::OFF,
            Self::Auto => FanState::at_speed(FanSpeed::new(3).unwrap_or(FanSpeed::MAX)),
            Self::PreClean => FanState::at_speed(FanSpeed::MAX),
            Self::Manual(s) | Self::Speed(s) => FanState::at_speed(s),
        }
    }

    /// The mode from the old clients' fields: `fanMode` as a JSON string or number, and `fanSpeed`
    /// (required with `MANUAL`, refused otherwise). Strict: `"3"` is not a number.
    pub fn from_request(
        fan_mode: &serde_json::Value,
        fan_speed: Option<&serde_json::Value>,
    ) -> Result<Self, ValidationError> {
        let mode = match fan_mode {
            serde_json::Value::String(s) => match s.as_str() {
                "OFF" => Self::Off,
                "AUTO" => Self::Auto,
                "PRE_CLEAN" => Self::PreClean,
                "MANUAL" => {
                    let speed = fan_speed
                        .ok_or_else(|| {
                            ValidationError::new("fanSpeed", "is required with fanMode \"MANUAL\"")
                        })?
                        .as_u64()
                        .and_then(|n| u8::try_from(n).ok())
                        .ok_or_else(|| {
                            ValidationError::new("fanSpeed", "must be an integer from 1 to 5")
                        })?;
                    return Ok(Self::Manual(FanSpeed::running(speed)?));
                }
                other => {
                    return Err(ValidationError::new(
                        "fanMode",
                        format!(
                            "{other:?} is not one of OFF, AUTO, MANUAL, PRE_CLEAN or a speed 1-5"
                        ),
                    ));
                }
            },
            serde_json::Value::Number(n) => {
                let speed = n
                    .as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or_else(|| {
                        ValidationError::new("fanMode", "must be a speed from 1 to 5")
                    })?;
                Self::Speed(FanSpeed::running(speed).map_err(|e| e.in_field("fanMode"))?)
            }
            _ => {
                return Err(ValidationError::new(
                    "fanMode",
                    "must be OFF, AUTO, MANUAL, PRE_CLEAN or a number 1-5",
                ));
            }
        };
        if fan_speed.is_some() {
            return Err(ValidationError::new(
                "fanSpeed",
                "is only used with fanMode \"MANUAL\"",
            ));
        }
        Ok(mode)
    }

    /// The old clients' name of the mode (`targetFanMode`): `OFF`, `AUTO`, `MANUAL`, `PRE_CLEAN`,
    /// or the speed as text.
    pub fn label(self) -> String {
        match self {
            Self::Off => "OFF".into(),
            Self::Auto => "AUTO".into(),
            Self::Manual(_) => "MANUAL".into(),
            Self::PreClean => "PRE_CLEAN".into(),
            Self::Speed(s) => s.to_string(),
        }
    }
}

/// The stored shape of a [`FanMode`]: `{"fanMode": "MANUAL", "fanSpeed": 4}`, or a number.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FanModeRepr {
    fan_mode: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fan_speed: Option<serde_json::Value>,
}

impl Serialize for FanMode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let repr = match self {
            Self::Speed(n) => FanModeRepr {
                fan_mode: n.get().into(),
                fan_speed: None,
            },
            Self::Manual(n) => FanModeRepr {
                fan_mode: "MANUAL".into(),
                fan_speed: Some(n.get().into()),
            },
            other => FanModeRepr {
                fan_mode: other.label().into(),
                fan_speed: None,
            },
        };
        repr.serialize(s)
    }
}

impl<'de> Deserialize<'de> for FanMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = FanModeRepr::deserialize(d)?;
        Self::from_request(&r.fan_mode, r.fan_speed.as_ref()).map_err(serde::de::Error::custom)
    }
}

/// A pre-clean's duration: 1 s up to a configurable maximum (default 60 min), whole seconds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PreCleanDuration(u32);

impl PreCleanDuration {
    /// `seconds`, if it is from 1 to `max`.
    pub fn new(seconds: u64, max: Duration) -> Result<Self, ValidationError> {
        if seconds == 0 || seconds > max.as_secs() {
            return Err(ValidationError::new(
                "duration",
                format!("must total from 1 second to {} minutes", max.as_secs() / 60),
            ));
        }
        u32::try_from(seconds)
            .map(Self)
            .map_err(|_| ValidationError::new("duration", "is too long"))
    }

    /// In seconds.
    pub const fn seconds(self) -> u32 {
        self.0
    }

    /// As a std duration.
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0 as u64)
    }
}

/// Where a pre-clean is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreCleanStatus {
    /// Overriding the device now.
    Active,
    /// Ran to `endsAt` and restored.
    Completed,
    /// Cancelled (through the API, or by a manual command).
    Cancelled,
    /// A newer pre-clean for the device replaced it.
    Replaced,
}

/// What a pre-clean restored (or will restore) when it ended.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreInfo {
    /// The state restored; `None` when the device was unmanaged (nothing sent).
    pub target: Option<FanState>,
    /// Where that state came from (a schedule, a manual command, the reported state).
    pub source: Option<IntentSource>,
    /// The command sent to restore it.
    pub command_id: Option<CommandId>,
    /// When it was restored.
    pub at: Timestamp,
}

/// A temporary override: run at `target` until `endsAt`, then restore the base intent.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PreClean {
    /// Its id.
    pub pre_clean_id: PreCleanId,
    /// The device.
    pub device_id: DeviceId,
    /// What was asked for.
    #[serde(flatten)]
    pub mode: FanMode,
    /// The state while active.
    pub target: FanState,
    /// How long.
    pub duration_seconds: PreCleanDuration,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ends (or ended, if it ran to the end).
    pub ends_at: Timestamp,
    /// Where it is in its life.
    pub status: PreCleanStatus,
    /// When it stopped overriding (end, cancel or replace).
    pub ended_at: Option<Timestamp>,
    /// The command that applied the target.
    pub command_id: Option<CommandId>,
    /// What it restored.
    pub restore: Option<RestoreInfo>,
    /// The pre-clean that replaced it.
    pub replaced_by: Option<PreCleanId>,
}

impl PreClean {
    /// Seconds until it ends, never negative; 0 once it is not active.
    pub fn remaining_seconds(&self, now: Timestamp) -> u64 {
        if self.status == PreCleanStatus::Active {
            self.ends_at
                .saturating_duration_since(now)
                .as_secs_f64()
                .ceil() as u64
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fan_modes_map_to_targets() {
        let speed = |n| FanSpeed::new(n).unwrap();
        let cases = [
            (json!("OFF"), None, FanState::OFF),
            (json!("AUTO"), None, FanState::at_speed(speed(3))),
            (json!("PRE_CLEAN"), None, FanState::at_speed(speed(5))),
            (
                json!("MANUAL"),
                Some(json!(4)),
                FanState::at_speed(speed(4)),
            ),
            (json!(2), None, FanState::at_speed(speed(2))),
        ];
        for (mode, fan, target) in cases {
            let m = FanMode::from_request(&mode, fan.as_ref()).unwrap();
            assert_eq!(m.target(), target, "{mode}");
            let back: FanMode = serde_json::from_value(serde_json::to_value(m).unwrap()).unwrap();
            assert_eq!(back, m);
        }
    }

    #[test]
    fn fan_modes_are_strict() {
        let cases = [
            (json!("3"), None, "fanMode"),
            (json!(0), None, "fanMode"),
            (json!(6), None, "fanMode"),
            (json!(2.5), None, "fanMode"),
            (json!("turbo"), None, "fanMode"),
            (json!(null), None, "fanMode"),
            (json!("MANUAL"), None, "fanSpeed"),
            (json!("MANUAL"), Some(json!("4")), "fanSpeed"),
            (json!("MANUAL"), Some(json!(0)), "fanSpeed"),
            (json!("AUTO"), Some(json!(4)), "fanSpeed"),
        ];
        for (mode, fan, field) in cases {
            let err = FanMode::from_request(&mode, fan.as_ref()).unwrap_err();
            assert_eq!(err.field, field, "{mode} {fan:?}");
        }
    }

    #[test]
    fn durations_are_bounded() {
        assert!(PreCleanDuration::new(0, DEFAULT_MAX_PRE_CLEAN).is_err());
        assert_eq!(
            PreCleanDuration::new(1, DEFAULT_MAX_PRE_CLEAN)
                .unwrap()
                .seconds(),
            1
        );
        assert!(PreCleanDuration::new(3600, DEFAULT_MAX_PRE_CLEAN).is_ok());
        assert!(PreCleanDuration::new(3601, DEFAULT_MAX_PRE_CLEAN).is_err());
    }

    #[test]
    fn remaining_seconds_never_negative() {
        let start = Timestamp::from_unix_millis(0).unwrap();
        let p = PreClean {
            pre_clean_id: PreCleanId::generate(start),
            device_id: crate::domain::DeviceId::new("d").unwrap(),
            mode: FanMode::PreClean,
            target: FanMode::PreClean.target(),
            duration_seconds: PreCleanDuration::new(90, DEFAULT_MAX_PRE_CLEAN).unwrap(),
            started_at: start,
            ends_at: start.saturating_add(Duration::from_secs(90)),
            status: PreCleanStatus::Active,
            ended_at: None,
            command_id: None,
            restore: None,
            replaced_by: None,
        };
        assert_eq!(
            p.remaining_seconds(start.saturating_add(Duration::from_millis(500))),
            90
        );
        assert_eq!(
            p.remaining_seconds(start.saturating_add(Duration::from_secs(100))),
            0
        );
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["fanMode"], "PRE_CLEAN");
        assert_eq!(v["durationSeconds"], 90);
        assert_eq!(serde_json::from_value::<PreClean>(v).unwrap(), p);
    }
}
