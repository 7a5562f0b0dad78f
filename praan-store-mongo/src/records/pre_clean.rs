//! `pre_cleans`: one document per pre-clean, `_id` = pre-clean id; at most one `active` per
//! device (a unique partial index).

use mongodb::bson::DateTime;
use praan_core::domain::{
    CommandId, DeviceId, FanMode, FanState, IntentSource, PreClean, PreCleanDuration, PreCleanId,
    PreCleanStatus, RestoreInfo, ValidationError,
};
use serde::{Deserialize, Serialize};

use super::{to_bson, to_timestamp, to_timestamp_opt};

/// A pre-clean; its mode as the API writes it (`{"fanMode": "MANUAL", "fanSpeed": 4}`) under
/// `mode`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PreCleanRecord {
    #[serde(rename = "_id")]
    pre_clean_id: PreCleanId,
    device_id: DeviceId,
    mode: FanMode,
    target: FanState,
    duration_seconds: PreCleanDuration,
    started_at: DateTime,
    ends_at: DateTime,
    status: PreCleanStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ended_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command_id: Option<CommandId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restore: Option<RestoreRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaced_by: Option<PreCleanId>,
    /// Where retention counts from: `endedAt` (or `endsAt` if unset) once the pre-clean is not
    /// active (the purge rule); absent while active, so the TTL index never removes an active one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_start: Option<DateTime>,
}

impl From<&PreClean> for PreCleanRecord {
    fn from(p: &PreClean) -> Self {
        let finished = p.status != PreCleanStatus::Active;
        Self {
            pre_clean_id: p.pre_clean_id,
            device_id: p.device_id.clone(),
            mode: p.mode,
            target: p.target,
            duration_seconds: p.duration_seconds,
            started_at: to_bson(p.started_at),
            ends_at: to_bson(p.ends_at),
            status: p.status,
            ended_at: p.ended_at.map(to_bson),
            command_id: p.command_id,
            restore: p.restore.map(RestoreRecord::from),
            replaced_by: p.replaced_by,
            retention_start: finished.then(|| to_bson(p.ended_at.unwrap_or(p.ends_at))),
        }
    }
}

impl TryFrom<PreCleanRecord> for PreClean {
    type Error = ValidationError;
    fn try_from(r: PreCleanRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            pre_clean_id: r.pre_clean_id,
            device_id: r.device_id,
            mode: r.mode,
            target: r.target,
            duration_seconds: r.duration_seconds,
            started_at: to_timestamp(r.started_at)?,
            ends_at: to_timestamp(r.ends_at)?,
            status: r.status,
            ended_at: to_timestamp_opt(r.ended_at)?,
            command_id: r.command_id,
            restore: r.restore.map(RestoreInfo::try_from).transpose()?,
            replaced_by: r.replaced_by,
        })
    }
}

/// What a pre-clean restored when it ended.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestoreRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<FanState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<IntentSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    command_id: Option<CommandId>,
    at: DateTime,
}

impl From<RestoreInfo> for RestoreRecord {
    fn from(r: RestoreInfo) -> Self {
        Self {
            target: r.target,
            source: r.source,
            command_id: r.command_id,
            at: to_bson(r.at),
        }
    }
}

impl TryFrom<RestoreRecord> for RestoreInfo {
    type Error = ValidationError;
    fn try_from(r: RestoreRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            target: r.target,
            source: r.source,
            command_id: r.command_id,
            at: to_timestamp(r.at)?,
        })
    }
}
