//! The data of the live events (`GET /api/events`): each one in the shape the REST API gives the
//! same record, camelCase like every other body.

use praan_core::{
    domain::{ControlState, DeviceId, ScheduleId, ScheduleRun, Timestamp},
    engine::EngineEvent,
};
use serde::Serialize;
use serde_json::Value;

use super::{
    CommandDto, PreCleanDto, ReadingDto, ScheduleRunDto,
    device::{ActiveWindowDto, IntentDto, PresenceDto},
};

/// `state`: the control layers of a device changed (what `/state` gives as `effective`, `base`,
/// `activeWindows` and `preCleanActive`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ControlEventDto {
    device_id: String,
    effective: Option<IntentDto>,
    base: Option<IntentDto>,
    pre_clean_active: bool,
    active_pre_clean_id: Option<String>,
    active_windows: Vec<ActiveWindowDto>,
    updated_at: String,
}

impl From<&ControlState> for ControlEventDto {
    fn from(c: &ControlState) -> Self {
        Self {
            device_id: c.device_id.to_string(),
            effective: c.effective.map(IntentDto::from),
            base: c.base.map(IntentDto::from),
            pre_clean_active: c.active_pre_clean.is_some(),
            active_pre_clean_id: c.active_pre_clean.map(|id| id.to_string()),
            active_windows: c
                .applied_windows
                .iter()
                .map(ActiveWindowDto::from)
                .collect(),
            updated_at: c.updated_at.to_rfc3339(),
        }
    }
}

/// `schedule`: a schedule changed (`created`, `updated`, `deleted`) or one of its boundaries was
/// applied (`boundary`, with the run).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleEventDto {
    schedule_id: String,
    device_id: String,
    change: &'static str,
    run: Option<ScheduleRunDto>,
}

impl ScheduleEventDto {
    fn new(
        schedule_id: ScheduleId,
        device_id: &DeviceId,
        change: &'static str,
        run: Option<&ScheduleRun>,
    ) -> Self {
        Self {
            schedule_id: schedule_id.to_string(),
            device_id: device_id.to_string(),
            change,
            run: run.map(ScheduleRunDto::from),
        }
    }
}

/// `presence`: a device went online or offline.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PresenceEventDto {
    device_id: String,
    presence: PresenceDto,
}

/// Every event's SSE name.
pub(crate) const EVENT_NAMES: [&str; 6] = [
    "reading", "state", "presence", "command", "preclean", "schedule",
];

/// The event's SSE name.
pub(crate) fn kind(event: &EngineEvent) -> &'static str {
    match event {
        EngineEvent::Reading { .. } => "reading",
        EngineEvent::State { .. } => "state",
        EngineEvent::Presence { .. } => "presence",
        EngineEvent::Command { .. } => "command",
        EngineEvent::PreClean { .. } => "preclean",
        EngineEvent::Schedule { .. } => "schedule",
    }
}

/// The event's SSE name and JSON data, as of `now` (a pre-clean's `isActive` and
/// `remainingSeconds`).
pub(crate) fn named(event: &EngineEvent, now: Timestamp) -> (&'static str, Value) {
    (kind(event), data(event, now))
}

/// The event's JSON data, as of `now`.
fn data(event: &EngineEvent, now: Timestamp) -> Value {
    match event {
        EngineEvent::Reading { reading } => json(&ReadingDto::from(reading.as_ref())),
        EngineEvent::Command { command } => json(&CommandDto::from(command.as_ref())),
        EngineEvent::PreClean { pre_clean } => json(&PreCleanDto::new(pre_clean, now)),
        EngineEvent::Schedule {
            schedule_id,
            device_id,
            change,
            run,
        } => json(&ScheduleEventDto::new(
            *schedule_id,
            device_id,
            change,
            run.as_deref(),
        )),
        EngineEvent::State { control } => json(&ControlEventDto::from(control.as_ref())),
        EngineEvent::Presence {
            device_id,
            presence,
        } => json(&PresenceEventDto {
            device_id: device_id.to_string(),
            presence: PresenceDto::from(*presence),
        }),
    }
}

/// `v` as JSON (`null` if it cannot be: every DTO serializes).
fn json<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}
