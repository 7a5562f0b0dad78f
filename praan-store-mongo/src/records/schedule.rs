//! `schedules` (one document per schedule, `_id` = schedule id) and `schedule_runs` (one per
//! applied boundary, `_id` = run id).

use mongodb::bson::DateTime;
use praan_core::domain::{
    Boundary, CommandId, DeviceId, RuleSpec, RunId, RunOutcome, Schedule, ScheduleId, ScheduleRun,
    Timezone, ValidationError,
};
use serde::{Deserialize, Serialize};

use super::{to_bson, to_timestamp};

/// A schedule; its rule in the API's field names (`recurrenceType`, `days`, `startTime`, …,
/// always with its `timezone`) under `rule`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleRecord {
    #[serde(rename = "_id")]
    schedule_id: ScheduleId,
    device_id: DeviceId,
    rule: RuleSpec,
    is_active: bool,
    created_at: DateTime,
    updated_at: DateTime,
}

impl From<&Schedule> for ScheduleRecord {
    fn from(s: &Schedule) -> Self {
        Self {
            schedule_id: s.schedule_id,
            device_id: s.device_id.clone(),
            rule: RuleSpec::of_rule(&s.rule),
            is_active: s.is_active,
            created_at: to_bson(s.created_at),
            updated_at: to_bson(s.updated_at),
        }
    }
}

impl TryFrom<ScheduleRecord> for Schedule {
    type Error = ValidationError;
    fn try_from(r: ScheduleRecord) -> Result<Self, Self::Error> {
        if r.rule.timezone.is_none() {
            return Err(ValidationError::new(
                "timezone",
                "is required in a stored schedule",
            ));
        }
        Ok(Self {
            schedule_id: r.schedule_id,
            device_id: r.device_id,
            // The zone is stored, so the default zone passed here never applies.
            rule: r.rule.build(Timezone::UTC)?,
            is_active: r.is_active,
            created_at: to_timestamp(r.created_at)?,
            updated_at: to_timestamp(r.updated_at)?,
        })
    }
}

/// One applied (or masked) schedule boundary.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunRecord {
    #[serde(rename = "_id")]
    run_id: RunId,
    schedule_id: ScheduleId,
    device_id: DeviceId,
    boundary: Boundary,
    at: DateTime,
    outcome: RunOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command_id: Option<CommandId>,
}

impl From<&ScheduleRun> for RunRecord {
    fn from(r: &ScheduleRun) -> Self {
        Self {
            run_id: r.run_id,
            schedule_id: r.schedule_id,
            device_id: r.device_id.clone(),
            boundary: r.boundary,
            at: to_bson(r.at),
            outcome: r.outcome,
            command_id: r.command_id,
        }
    }
}

impl TryFrom<RunRecord> for ScheduleRun {
    type Error = ValidationError;
    fn try_from(r: RunRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            run_id: r.run_id,
            schedule_id: r.schedule_id,
            device_id: r.device_id,
            boundary: r.boundary,
            at: to_timestamp(r.at)?,
            outcome: r.outcome,
            command_id: r.command_id,
        })
    }
}
