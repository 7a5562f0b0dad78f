//! [`Command`]: a durable command to a device, with its delivery history.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{CommandId, DeviceId, FanSpeed, FanState, Timestamp, ValidationError};

/// What a command asks the device to do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandAction {
    /// Set the fan speed to `value` (0 means off).
    SetFanSpeed,
    /// Turn on (at `value`, or the device's own last speed when `value` is 0).
    TurnOn,
    /// Turn off (`value` is 0).
    TurnOff,
}

impl CommandAction {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SetFanSpeed => "setFanSpeed",
            Self::TurnOn => "turnOn",
            Self::TurnOff => "turnOff",
        }
    }
}

/// An absolute instruction: an action and its value. Never relative ("+1").
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "InstructionRepr")]
pub struct Instruction {
    action: CommandAction,
    value: FanSpeed,
}

#[derive(Deserialize)]
struct InstructionRepr {
    action: CommandAction,
    value: FanSpeed,
}

impl TryFrom<InstructionRepr> for Instruction {
    type Error = ValidationError;
    fn try_from(r: InstructionRepr) -> Result<Self, Self::Error> {
        Self::new(r.action, r.value)
    }
}

impl Instruction {
    /// `action` with `value`; `turnOff` must carry 0.
    pub fn new(action: CommandAction, value: FanSpeed) -> Result<Self, ValidationError> {
        if action == CommandAction::TurnOff && !value.is_off() {
            return Err(ValidationError::new("value", "must be 0 for turnOff"));
        }
        Ok(Self { action, value })
    }

    /// `setFanSpeed` to `speed`.
    pub const fn set_fan_speed(speed: FanSpeed) -> Self {
        Self {
            action: CommandAction::SetFanSpeed,
            value: speed,
        }
    }

    /// `turnOn` (at the device's own last speed).
    pub const fn turn_on() -> Self {
        Self {
            action: CommandAction::TurnOn,
            value: FanSpeed::OFF,
        }
    }

    /// `turnOff`.
    pub const fn turn_off() -> Self {
        Self {
            action: CommandAction::TurnOff,
            value: FanSpeed::OFF,
        }
    }

    /// The instruction that brings a device to `state`: `turnOff` for off, else `setFanSpeed`.
    pub const fn reach(state: FanState) -> Self {
        if state.is_off() {
            Self::turn_off()
        } else {
            Self::set_fan_speed(state.fan_speed)
        }
    }

    /// The action.
    pub const fn action(self) -> CommandAction {
        self.action
    }

    /// The value.
    pub const fn value(self) -> FanSpeed {
        self.value
    }
}

/// Who asked for a command.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandSource {
    /// A person through the control API.
    Manual,
    /// A schedule boundary.
    Schedule,
    /// The start of a pre-clean.
    Preclean,
    /// The end of a pre-clean, restoring the base intent.
    Restore,
    /// Another program through the API.
    Api,
}

/// Where a command is in its lifecycle (PRODUCT.md §2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    /// Stored, not yet published.
    Pending,
    /// Published; waiting for the ack.
    Sent,
    /// The device acked `success`.
    Acknowledged,
    /// The device acked `error`, or publishing failed after all retries.
    Failed,
    /// No ack after all attempts.
    Timeout,
    /// `expiresAt` passed before an ack.
    Expired,
    /// A newer command for the device replaced it before its ack.
    Superseded,
    /// Cancelled through the API.
    Cancelled,
}

impl CommandStatus {
    /// Every status.
    pub const ALL: [Self; 8] = [
        Self::Pending,
        Self::Sent,
        Self::Acknowledged,
        Self::Failed,
        Self::Timeout,
        Self::Expired,
        Self::Superseded,
        Self::Cancelled,
    ];

    /// Whether the status is final.
    pub const fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Sent)
    }

    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Acknowledged => "acknowledged",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Expired => "expired",
            Self::Superseded => "superseded",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| ValidationError::new("status", format!("unknown command status {s:?}")))
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a device said in an ack.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckStatus {
    /// Done.
    Success,
    /// The device could not do it.
    Error,
}

/// An acknowledgement from a device, as decoded from its ack topic.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ack {
    /// The device (from the topic).
    pub device_id: DeviceId,
    /// The command acknowledged.
    pub command_id: CommandId,
    /// Success or error.
    pub status: AckStatus,
    /// The device's message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The device's time of the ack (the receive time when it sent none or a bad one).
    pub timestamp: Timestamp,
    /// When praan received it.
    pub received_at: Timestamp,
    /// The state the device reports after acting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_state: Option<FanState>,
}

/// One publish of a command.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// 1 for the first publish, 2 for the first retry, ….
    pub number: u32,
    /// When it was published (or publishing was tried).
    pub at: Timestamp,
    /// Why publishing failed, if it did (the broker connection was down, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A client-chosen key that makes a command request idempotent (per device, within 24 h):
/// 1–255 visible ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Checks `s`.
    pub fn new(s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ValidationError::new(
                "idempotencyKey",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(Self(s))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdempotencyKey {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl From<IdempotencyKey> for String {
    fn from(k: IdempotencyKey) -> Self {
        k.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A durable command and its audit trail.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    /// Its id, sent to the device and echoed in the ack.
    pub command_id: CommandId,
    /// The device it is for.
    pub device_id: DeviceId,
    /// What it asks.
    #[serde(flatten)]
    pub instruction: Instruction,
    /// Who asked.
    pub source: CommandSource,
    /// Where it is in its lifecycle.
    pub status: CommandStatus,
    /// When it was created (and stored, before any publish).
    pub created_at: Timestamp,
    /// When it was first published.
    pub sent_at: Option<Timestamp>,
    /// When the device acked it (success or error).
    pub acknowledged_at: Option<Timestamp>,
    /// When it reached its terminal status.
    pub completed_at: Option<Timestamp>,
    /// Every publish, in order.
    pub attempts: Vec<Attempt>,
    /// When the current wait ends (the next retry or the timeout); `None` when terminal.
    pub next_deadline: Option<Timestamp>,
    /// After this instant it is not delivered any more.
    pub expires_at: Option<Timestamp>,
    /// Why it failed, timed out, expired or was superseded.
    pub error: Option<String>,
    /// The ack that decided it.
    pub device_response: Option<Ack>,
    /// An ack that arrived after it was already terminal (recorded, status unchanged).
    pub late_ack: Option<Ack>,
    /// The caller's idempotency key.
    pub idempotency_key: Option<IdempotencyKey>,
    /// The newer command that superseded it.
    pub superseded_by: Option<CommandId>,
}

impl Command {
    /// A new `pending` command with no attempts.
    pub fn new(
        command_id: CommandId,
        device_id: DeviceId,
        instruction: Instruction,
        source: CommandSource,
        created_at: Timestamp,
    ) -> Self {
        Self {
            command_id,
            device_id,
            instruction,
            source,
            status: CommandStatus::Pending,
            created_at,
            sent_at: None,
            acknowledged_at: None,
            completed_at: None,
            attempts: Vec::new(),
            next_deadline: None,
            expires_at: None,
            error: None,
            device_response: None,
            late_ack: None,
            idempotency_key: None,
            superseded_by: None,
        }
    }

    /// How many times it was re-published after the first publish (the old `retryCount`).
    pub fn retry_count(&self) -> u32 {
        u32::try_from(self.attempts.len().saturating_sub(1)).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turn_off_carries_zero() {
        assert!(Instruction::new(CommandAction::TurnOff, FanSpeed::MAX).is_err());
        assert_eq!(Instruction::reach(FanState::OFF), Instruction::turn_off());
        let speed = FanSpeed::new(3).unwrap();
        assert_eq!(
            Instruction::reach(FanState::at_speed(speed)),
            Instruction::set_fan_speed(speed)
        );
        let json = r#"{"action":"turnOff","value":2}"#;
        assert!(serde_json::from_str::<Instruction>(json).is_err());
    }

    #[test]
    fn terminal_statuses() {
        let open: Vec<_> = CommandStatus::ALL
            .into_iter()
            .filter(|s| !s.is_terminal())
            .collect();
        assert_eq!(open, [CommandStatus::Pending, CommandStatus::Sent]);
        for s in CommandStatus::ALL {
            assert_eq!(CommandStatus::parse(s.as_str()).unwrap(), s);
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }

    #[test]
    fn command_json_is_flat_camel_case() {
        let at = Timestamp::UNIX_EPOCH;
        let cmd = Command::new(
            CommandId::generate(at),
            DeviceId::new("d1").unwrap(),
            Instruction::set_fan_speed(FanSpeed::new(3).unwrap()),
            CommandSource::Manual,
            at,
        );
        let v = serde_json::to_value(&cmd).unwrap();
        assert_eq!(v["action"], "setFanSpeed");
        assert_eq!(v["value"], 3);
        assert_eq!(v["status"], "pending");
        assert_eq!(v["source"], "manual");
        assert_eq!(serde_json::from_value::<Command>(v).unwrap(), cmd);
        assert_eq!(cmd.retry_count(), 0);
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(IdempotencyKey::new("req-1").is_ok());
        assert!(IdempotencyKey::new("").is_err());
        assert!(IdempotencyKey::new("a b").is_err());
        assert!(IdempotencyKey::new("é").is_err());
        assert!(IdempotencyKey::new("a".repeat(256)).is_err());
    }
}
