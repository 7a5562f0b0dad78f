//! [`CommandDto`]: a command as the API shows it.

use praan_core::domain::{Attempt, Command};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A command and its lifecycle (PRODUCT.md §2).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommandDto {
    /// Its id (a UUID v7), sent to the device and echoed in the ack.
    pub(crate) command_id: String,
    /// The device.
    pub(crate) device_id: String,
    /// `setFanSpeed`, `turnOn` or `turnOff`.
    pub(crate) action: String,
    /// The fan speed (0–5; 0 for `turnOff`, and for `turnOn` "the device's last speed").
    pub(crate) value: u8,
    /// Who asked: `manual`, `schedule`, `preclean`, `restore` or `api`.
    pub(crate) source: String,
    /// `pending`, `sent`, `acknowledged`, `failed`, `timeout`, `expired`, `superseded` or
    /// `cancelled`.
    pub(crate) status: String,
    /// When it was created (RFC 3339).
    pub(crate) created_at: String,
    /// When it was first published.
    pub(crate) sent_at: Option<String>,
    /// When the device acked it.
    pub(crate) acknowledged_at: Option<String>,
    /// When it reached its terminal status.
    pub(crate) completed_at: Option<String>,
    /// Publishes after the first one.
    pub(crate) retry_count: usize,
    /// Every publish, in order.
    pub(crate) attempts: Vec<AttemptDto>,
    /// When it stops being delivered.
    pub(crate) expires_at: Option<String>,
    /// Why it failed, timed out, expired or was superseded.
    pub(crate) error: Option<String>,
    /// The ack that decided it, as the device sent it.
    #[schema(value_type = Option<Object>)]
    pub(crate) device_response: Option<Value>,
    /// An ack that arrived after it was already terminal.
    #[schema(value_type = Option<Object>)]
    pub(crate) late_ack: Option<Value>,
    /// The caller's `Idempotency-Key`.
    pub(crate) idempotency_key: Option<String>,
    /// The newer command that superseded it.
    pub(crate) superseded_by: Option<String>,
}

/// One publish of a command.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AttemptDto {
    /// 1 for the first publish, 2 for the first retry, ….
    pub(crate) number: u32,
    /// When (RFC 3339).
    pub(crate) at: String,
    /// Why publishing failed, if it did.
    pub(crate) error: Option<String>,
}

impl From<&Attempt> for AttemptDto {
    fn from(a: &Attempt) -> Self {
        Self {
            number: a.number,
            at: a.at.to_rfc3339(),
            error: a.error.clone(),
        }
    }
}

impl From<&Command> for CommandDto {
    fn from(c: &Command) -> Self {
        Self {
            command_id: c.command_id.to_string(),
            device_id: c.device_id.to_string(),
            action: c.instruction.action().as_str().to_owned(),
            value: c.instruction.value().get(),
            source: super::wire_name(&c.source),
            status: c.status.as_str().to_owned(),
            created_at: c.created_at.to_rfc3339(),
            sent_at: c.sent_at.map(|t| t.to_rfc3339()),
            acknowledged_at: c.acknowledged_at.map(|t| t.to_rfc3339()),
            completed_at: c.completed_at.map(|t| t.to_rfc3339()),
            retry_count: c.attempts.len().saturating_sub(1),
            attempts: c.attempts.iter().map(AttemptDto::from).collect(),
            expires_at: c.expires_at.map(|t| t.to_rfc3339()),
            error: c.error.clone(),
            device_response: c
                .device_response
                .as_ref()
                .and_then(|a| serde_json::to_value(a).ok()),
            late_ack: c
                .late_ack
                .as_ref()
                .and_then(|a| serde_json::to_value(a).ok()),
            idempotency_key: c.idempotency_key.as_ref().map(|k| k.as_str().to_owned()),
            superseded_by: c.superseded_by.map(|id| id.to_string()),
        }
    }
}
