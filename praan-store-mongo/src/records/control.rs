//! `control_states`: the control layers' intent, one document per device, `_id` = device id.

use mongodb::bson::DateTime;
use praan_core::domain::{
    ControlState, DeviceId, FanSpeed, FanState, Intent, IntentSource, PreCleanId, ScheduleId,
    ValidationError, WindowKey,
};
use serde::{Deserialize, Serialize};

use super::{to_bson, to_timestamp};

/// A device's control state.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ControlRecord {
    #[serde(rename = "_id")]
    device_id: DeviceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    base: Option<IntentRecord>,
    #[serde(default)]
    applied_windows: Vec<WindowRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    active_pre_clean: Option<PreCleanId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    effective: Option<IntentRecord>,
    updated_at: DateTime,
}

impl From<&ControlState> for ControlRecord {
    fn from(c: &ControlState) -> Self {
        Self {
            device_id: c.device_id.clone(),
            base: c.base.map(IntentRecord::from),
            applied_windows: c.applied_windows.iter().map(WindowRecord::from).collect(),
            active_pre_clean: c.active_pre_clean,
            effective: c.effective.map(IntentRecord::from),
            updated_at: to_bson(c.updated_at),
        }
    }
}

impl TryFrom<ControlRecord> for ControlState {
    type Error = ValidationError;
    fn try_from(r: ControlRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            device_id: r.device_id,
            base: r.base.map(Intent::try_from).transpose()?,
            applied_windows: r
                .applied_windows
                .into_iter()
                .map(WindowKey::try_from)
                .collect::<Result<_, _>>()?,
            active_pre_clean: r.active_pre_clean,
            effective: r.effective.map(Intent::try_from).transpose()?,
            updated_at: to_timestamp(r.updated_at)?,
        })
    }
}

/// An intended state, its source and since when.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntentRecord {
    state: FanState,
    source: IntentSource,
    since: DateTime,
}

impl From<Intent> for IntentRecord {
    fn from(i: Intent) -> Self {
        Self {
            state: i.state,
            source: i.source,
            since: to_bson(i.since),
        }
    }
}

impl TryFrom<IntentRecord> for Intent {
    type Error = ValidationError;
    fn try_from(i: IntentRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            state: i.state,
            source: i.source,
            since: to_timestamp(i.since)?,
        })
    }
}

/// An applied schedule window.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WindowRecord {
    schedule_id: ScheduleId,
    start: DateTime,
    fan_speed: FanSpeed,
}

impl From<&WindowKey> for WindowRecord {
    fn from(w: &WindowKey) -> Self {
        Self {
            schedule_id: w.schedule_id,
            start: to_bson(w.start),
            fan_speed: w.fan_speed,
        }
    }
}

impl TryFrom<WindowRecord> for WindowKey {
    type Error = ValidationError;
    fn try_from(w: WindowRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            schedule_id: w.schedule_id,
            start: to_timestamp(w.start)?,
            fan_speed: w.fan_speed,
        })
    }
}
