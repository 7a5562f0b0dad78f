//! `commands`: the durable outbox, one document per command, `_id` = command id.

use mongodb::bson::DateTime;
use praan_core::domain::{
    Ack, AckStatus, Attempt, Command, CommandAction, CommandId, CommandSource, CommandStatus,
    DeviceId, FanSpeed, FanState, IdempotencyKey, Instruction, ValidationError,
};
use serde::{Deserialize, Serialize};

use super::{to_bson, to_timestamp, to_timestamp_opt};

/// A command and its audit trail.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommandRecord {
    #[serde(rename = "_id")]
    command_id: CommandId,
    device_id: DeviceId,
    action: CommandAction,
    value: FanSpeed,
    source: CommandSource,
    status: CommandStatus,
    created_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sent_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acknowledged_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    completed_at: Option<DateTime>,
    #[serde(default)]
    attempts: Vec<AttemptRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_deadline: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    device_response: Option<AckRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    late_ack: Option<AckRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    idempotency_key: Option<IdempotencyKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    superseded_by: Option<CommandId>,
    /// Where retention counts from: `createdAt` once the command is terminal (the purge rule);
    /// absent while it is pending or sent, so the TTL index never removes an unfinished command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retention_start: Option<DateTime>,
}

impl From<&Command> for CommandRecord {
    fn from(c: &Command) -> Self {
        Self {
            command_id: c.command_id,
            device_id: c.device_id.clone(),
            action: c.instruction.action(),
            value: c.instruction.value(),
            source: c.source,
            status: c.status,
            created_at: to_bson(c.created_at),
            sent_at: c.sent_at.map(to_bson),
            acknowledged_at: c.acknowledged_at.map(to_bson),
            completed_at: c.completed_at.map(to_bson),
            attempts: c.attempts.iter().map(AttemptRecord::from).collect(),
            next_deadline: c.next_deadline.map(to_bson),
            expires_at: c.expires_at.map(to_bson),
            error: c.error.clone(),
            device_response: c.device_response.as_ref().map(AckRecord::from),
            late_ack: c.late_ack.as_ref().map(AckRecord::from),
            idempotency_key: c.idempotency_key.clone(),
            superseded_by: c.superseded_by,
            retention_start: c.status.is_terminal().then(|| to_bson(c.created_at)),
        }
    }
}

impl TryFrom<CommandRecord> for Command {
    type Error = ValidationError;
    fn try_from(r: CommandRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            command_id: r.command_id,
            device_id: r.device_id,
            instruction: Instruction::new(r.action, r.value)?,
            source: r.source,
            status: r.status,
            created_at: to_timestamp(r.created_at)?,
            sent_at: to_timestamp_opt(r.sent_at)?,
            acknowledged_at: to_timestamp_opt(r.acknowledged_at)?,
            completed_at: to_timestamp_opt(r.completed_at)?,
            attempts: r
                .attempts
                .into_iter()
                .map(Attempt::try_from)
                .collect::<Result<_, _>>()?,
            next_deadline: to_timestamp_opt(r.next_deadline)?,
            expires_at: to_timestamp_opt(r.expires_at)?,
            error: r.error,
            device_response: r.device_response.map(Ack::try_from).transpose()?,
            late_ack: r.late_ack.map(Ack::try_from).transpose()?,
            idempotency_key: r.idempotency_key,
            superseded_by: r.superseded_by,
        })
    }
}

/// One publish of a command.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttemptRecord {
    number: u32,
    at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl From<&Attempt> for AttemptRecord {
    fn from(a: &Attempt) -> Self {
        Self {
            number: a.number,
            at: to_bson(a.at),
            error: a.error.clone(),
        }
    }
}

impl TryFrom<AttemptRecord> for Attempt {
    type Error = ValidationError;
    fn try_from(a: AttemptRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            number: a.number,
            at: to_timestamp(a.at)?,
            error: a.error,
        })
    }
}

/// An ack a device sent for the command.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AckRecord {
    device_id: DeviceId,
    command_id: CommandId,
    status: AckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    timestamp: DateTime,
    received_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current_state: Option<FanState>,
}

impl From<&Ack> for AckRecord {
    fn from(a: &Ack) -> Self {
        Self {
            device_id: a.device_id.clone(),
            command_id: a.command_id,
            status: a.status,
            message: a.message.clone(),
            timestamp: to_bson(a.timestamp),
            received_at: to_bson(a.received_at),
            current_state: a.current_state,
        }
    }
}

impl TryFrom<AckRecord> for Ack {
    type Error = ValidationError;
    fn try_from(a: AckRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            device_id: a.device_id,
            command_id: a.command_id,
            status: a.status,
            message: a.message,
            timestamp: to_timestamp(a.timestamp)?,
            received_at: to_timestamp(a.received_at)?,
            current_state: a.current_state,
        })
    }
}
