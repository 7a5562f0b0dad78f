//! [`ControlState`]: the control layers' persisted intent for one device (PRODUCT.md §3).

use serde::{Deserialize, Serialize};

use super::{CommandId, DeviceId, FanSpeed, FanState, PreCleanId, ScheduleId, Timestamp};

/// Where an intended state came from.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum IntentSource {
    /// A manual control command.
    Manual {
        /// The command that set it.
        command_id: CommandId,
    },
    /// A schedule window boundary.
    Schedule {
        /// The schedule whose window decides it.
        schedule_id: ScheduleId,
    },
    /// An active pre-clean (effective state only).
    PreClean {
        /// The pre-clean.
        pre_clean_id: PreCleanId,
    },
    /// The device's reported state, captured when a pre-clean started on an unmanaged device.
    Reported,
    /// The schedule windows ended and none is active: off.
    ScheduleEnded {
        /// The schedule whose end turned the device off.
        schedule_id: ScheduleId,
    },
}

/// A state with the source that decided it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Intent {
    /// The state.
    #[serde(flatten)]
    pub state: FanState,
    /// Why.
    pub source: IntentSource,
    /// Since when.
    pub since: Timestamp,
}

/// One schedule window as applied: its schedule, start and speed — the unit of "applied
/// windows".
///
/// Keyed by start as well as schedule, so that a window that ends exactly when the same schedule's
/// next one starts is still a new boundary; and by speed, so that updating a running schedule's
/// speed takes effect at once.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WindowKey {
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The window's start.
    pub start: Timestamp,
    /// The schedule's speed when the window was applied.
    pub fan_speed: FanSpeed,
}

/// Everything the control layers keep per device; persisted so a restart resumes exactly.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ControlState {
    /// The device.
    pub device_id: DeviceId,
    /// The base intent: the latest of a manual command and a schedule boundary; `None` when
    /// unmanaged.
    pub base: Option<Intent>,
    /// The schedule windows last applied (sorted), for level-triggered catch-up.
    pub applied_windows: Vec<WindowKey>,
    /// The active pre-clean, if any (it overrides the base).
    pub active_pre_clean: Option<PreCleanId>,
    /// The effective state last acted upon and its source; a command is sent only when it changes.
    pub effective: Option<Intent>,
    /// When this record last changed.
    pub updated_at: Timestamp,
}

impl ControlState {
    /// An unmanaged device with nothing applied.
    pub fn new(device_id: DeviceId, at: Timestamp) -> Self {
        Self {
            device_id,
            base: None,
            applied_windows: Vec::new(),
            active_pre_clean: None,
            effective: None,
            updated_at: at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::FanSpeed;

    #[test]
    fn intent_json_is_tagged() {
        let at = Timestamp::UNIX_EPOCH;
        let intent = Intent {
            state: FanState::at_speed(FanSpeed::new(3).unwrap()),
            source: IntentSource::Schedule {
                schedule_id: ScheduleId::generate(at),
            },
            since: at,
        };
        let v = serde_json::to_value(intent).unwrap();
        assert_eq!(v["fanSpeed"], 3);
        assert_eq!(v["source"]["kind"], "schedule");
        assert!(v["source"]["scheduleId"].is_string());
        assert_eq!(serde_json::from_value::<Intent>(v).unwrap(), intent);
    }
}
