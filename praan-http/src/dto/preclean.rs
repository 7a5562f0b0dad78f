//! Pre-cleans as the API shows them: [`PreCleanDto`] (history, cancel, delete), the start
//! answer [`PreCleanStartedDto`] and the status [`PreCleanStatusDto`] (PRODUCT.md §5).

use praan_core::{
    domain::{Intent, IntentSource, PreClean, PreCleanStatus, RestoreInfo, Timestamp},
    engine::PreCleanStarted,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::device::FanStateDto;

/// What the device returns to when the pre-clean ends, as of now: the base intent (a schedule
/// window, a manual command, or the state it reported when the pre-clean started).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RestoreTargetDto {
    /// Whether it will be on.
    pub(crate) power_on: bool,
    /// Its fan speed, 0–5.
    pub(crate) fan_speed: u8,
    /// Where that state comes from, e.g. `{"kind":"schedule","scheduleId":"…"}`, `{"kind":
    /// "manual","commandId":"…"}`, `{"kind":"reported"}`, `{"kind":"schedule_ended",…}`.
    #[schema(value_type = Object)]
    pub(crate) source: Value,
    /// Since when (RFC 3339).
    pub(crate) since: String,
}

impl From<&Intent> for RestoreTargetDto {
    fn from(i: &Intent) -> Self {
        Self {
            power_on: i.state.power_on,
            fan_speed: i.state.fan_speed.get(),
            source: source_json(&i.source),
            since: i.since.to_rfc3339(),
        }
    }
}

fn source_json(source: &IntentSource) -> Value {
    serde_json::to_value(source).unwrap_or(Value::Null)
}

/// What an ended pre-clean restored.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreCleanRestoreDto {
    /// The state restored; `null` when the device was unmanaged (nothing was sent).
    pub(crate) target: Option<FanStateDto>,
    /// Where that state came from (see `restoreTarget.source`).
    #[schema(value_type = Option<Object>)]
    pub(crate) source: Option<Value>,
    /// The command that restored it (`null` when none was needed).
    pub(crate) command_id: Option<String>,
    /// When it was restored (RFC 3339).
    pub(crate) at: String,
}

impl From<&RestoreInfo> for PreCleanRestoreDto {
    fn from(r: &RestoreInfo) -> Self {
        Self {
            target: r.target.map(FanStateDto::from),
            source: r.source.as_ref().map(source_json),
            command_id: r.command_id.map(|id| id.to_string()),
            at: r.at.to_rfc3339(),
        }
    }
}

/// A pre-clean, active or finished.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreCleanDto {
    /// Its id (a UUID v7).
    pub(crate) pre_clean_id: String,
    /// The device.
    pub(crate) device_id: String,
    /// The mode asked for: `OFF`, `AUTO`, `MANUAL`, `PRE_CLEAN`, or a speed `"1"`–`"5"`.
    pub(crate) target_fan_mode: String,
    /// The state while it is active.
    pub(crate) target: FanStateDto,
    /// How long it was asked to run, in seconds.
    pub(crate) duration_seconds: u32,
    /// `active`, `completed`, `cancelled` or `replaced`.
    pub(crate) status: String,
    /// Whether it overrides the device now.
    pub(crate) is_active: bool,
    /// Seconds until it ends (0 once it is not active; never negative).
    pub(crate) remaining_seconds: u64,
    /// When it started (RFC 3339).
    pub(crate) started_at: String,
    /// When it ends, or was due to end (RFC 3339).
    pub(crate) will_end_at: String,
    /// When it stopped overriding (end, cancel or replace).
    pub(crate) ended_at: Option<String>,
    /// The command that applied its target (`null` when the device was already there).
    pub(crate) command_id: Option<String>,
    /// What it restored, once it ended.
    pub(crate) restore: Option<PreCleanRestoreDto>,
    /// The pre-clean that replaced it.
    pub(crate) replaced_by: Option<String>,
}

impl PreCleanDto {
    /// `p` as of `now` (for `isActive` and `remainingSeconds`).
    pub(crate) fn new(p: &PreClean, now: Timestamp) -> Self {
        let remaining_seconds = p.remaining_seconds(now);
        Self {
            pre_clean_id: p.pre_clean_id.to_string(),
            device_id: p.device_id.to_string(),
            target_fan_mode: p.mode.label(),
            target: p.target.into(),
            duration_seconds: p.duration_seconds.seconds(),
            status: super::wire_name(&p.status),
            is_active: p.status == PreCleanStatus::Active && remaining_seconds > 0,
            remaining_seconds,
            started_at: p.started_at.to_rfc3339(),
            will_end_at: p.ends_at.to_rfc3339(),
            ended_at: p.ended_at.map(|t| t.to_rfc3339()),
            command_id: p.command_id.map(|id| id.to_string()),
            restore: p.restore.as_ref().map(PreCleanRestoreDto::from),
            replaced_by: p.replaced_by.map(|id| id.to_string()),
        }
    }
}

/// A started pre-clean.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreCleanStartedDto {
    /// Its id.
    pub(crate) pre_clean_id: String,
    /// The device.
    pub(crate) device_id: String,
    /// The mode asked for: `OFF`, `AUTO`, `MANUAL`, `PRE_CLEAN`, or a speed `"1"`–`"5"`.
    pub(crate) target_fan_mode: String,
    /// The state while it is active.
    pub(crate) target: FanStateDto,
    /// How long, in seconds.
    pub(crate) duration_seconds: u32,
    /// When it started (RFC 3339).
    pub(crate) started_at: String,
    /// When it ends (RFC 3339).
    pub(crate) will_end_at: String,
    /// The command that applies its target (`null` when the device is already there).
    pub(crate) command_id: Option<String>,
    /// What the device returns to when it ends, as of now (`null`: the device is unmanaged and
    /// reported no state, so nothing will be sent at the end).
    pub(crate) restore_target: Option<RestoreTargetDto>,
}

impl From<&PreCleanStarted> for PreCleanStartedDto {
    fn from(s: &PreCleanStarted) -> Self {
        let p = &s.pre_clean;
        Self {
            pre_clean_id: p.pre_clean_id.to_string(),
            device_id: p.device_id.to_string(),
            target_fan_mode: p.mode.label(),
            target: p.target.into(),
            duration_seconds: p.duration_seconds.seconds(),
            started_at: p.started_at.to_rfc3339(),
            will_end_at: p.ends_at.to_rfc3339(),
            command_id: p.command_id.map(|id| id.to_string()),
            restore_target: s.restore_target.as_ref().map(RestoreTargetDto::from),
        }
    }
}

/// A device's pre-clean status. The top-level fields describe the active pre-clean and are
/// `null` (with `isActive: false`, `remainingSeconds: 0`) when there is none.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreCleanStatusDto {
    /// The device.
    pub(crate) device_id: String,
    /// Whether a pre-clean overrides the device now.
    pub(crate) is_active: bool,
    /// Seconds until it ends; never negative, 0 when none is active.
    pub(crate) remaining_seconds: u64,
    /// The active pre-clean's id.
    pub(crate) pre_clean_id: Option<String>,
    /// The active pre-clean's mode: `OFF`, `AUTO`, `MANUAL`, `PRE_CLEAN`, or `"1"`–`"5"`.
    pub(crate) target_fan_mode: Option<String>,
    /// The state while it is active.
    pub(crate) target: Option<FanStateDto>,
    /// When it started (RFC 3339).
    pub(crate) started_at: Option<String>,
    /// When it ends (RFC 3339).
    pub(crate) will_end_at: Option<String>,
    /// What the device returns to when it ends, as of now.
    pub(crate) restore_target: Option<RestoreTargetDto>,
    /// The active pre-clean, or else the device's most recent one (with what it restored);
    /// `null` if the device never had one.
    pub(crate) pre_clean: Option<PreCleanDto>,
}

impl PreCleanStatusDto {
    /// The status of `device`: `latest` is its active pre-clean or else its most recent one,
    /// `restore` its base intent now.
    pub(crate) fn new(
        device: String,
        latest: Option<&PreClean>,
        restore: Option<&Intent>,
        now: Timestamp,
    ) -> Self {
        let pre_clean = latest.map(|p| PreCleanDto::new(p, now));
        match pre_clean {
            Some(p) if p.is_active => Self {
                device_id: device,
                is_active: true,
                remaining_seconds: p.remaining_seconds,
                pre_clean_id: Some(p.pre_clean_id.clone()),
                target_fan_mode: Some(p.target_fan_mode.clone()),
                target: Some(p.target),
                started_at: Some(p.started_at.clone()),
                will_end_at: Some(p.will_end_at.clone()),
                restore_target: restore.map(RestoreTargetDto::from),
                pre_clean: Some(p),
            },
            other => Self {
                device_id: device,
                is_active: false,
                remaining_seconds: 0,
                pre_clean_id: None,
                target_fan_mode: None,
                target: None,
                started_at: None,
                will_end_at: None,
                restore_target: None,
                pre_clean: other,
            },
        }
    }
}
