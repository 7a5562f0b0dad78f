//! Commands as a device receives them: a lenient parse of the command payload, and the bounded
//! memory of recent `commandId`s that makes a redelivered command an ack, not a second action.

use std::collections::{HashMap, VecDeque};

use praan_core::domain::{AckStatus, CommandId, FanSpeed, Timestamp};
use serde::Deserialize;
use serde_json::Value;

/// How many recent `commandId`s a device remembers (for de-duplication).
pub const RECENT_COMMANDS: usize = 128;

/// A command payload a device could act on or refuse: it carries a usable `commandId`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IncomingCommand {
    /// The id to echo in the ack (and to de-duplicate by).
    pub command_id: CommandId,
    /// What is asked, or why it cannot be done.
    pub request: Request,
    /// When the command stops being valid, if the sender said.
    pub expires_at: Option<Timestamp>,
}

/// The action of a command.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Request {
    /// `setFanSpeed` with a valid value (0 means off).
    SetFanSpeed(FanSpeed),
    /// `turnOn` with its value (0: the device decides — see [`crate::model`]).
    TurnOn(FanSpeed),
    /// `turnOff` (any value is ignored).
    TurnOff,
    /// A command the device refuses, and why (answered with an `error` ack).
    Invalid(String),
}

/// A payload a device cannot even acknowledge (no usable `commandId`): it is dropped.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("unusable command payload: {0}")]
pub struct UnusableCommand(pub String);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCommand {
    command_id: Value,
    #[serde(default)]
    action: Value,
    #[serde(default)]
    value: Value,
    #[serde(default)]
    expires_at: Value,
}

/// Parses a command payload `{"commandId","action","value","timestamp","expiresAt"}`.
///
/// Lenient like a device: unknown fields are ignored, a bad `expiresAt` is ignored; a bad action
/// or value becomes [`Request::Invalid`] (acked as an error). Only a payload without a usable
/// `commandId` is refused, since it cannot be acknowledged.
pub fn parse_command(payload: &[u8]) -> Result<IncomingCommand, UnusableCommand> {
    let wire: WireCommand =
        serde_json::from_slice(payload).map_err(|e| UnusableCommand(e.to_string()))?;
    let command_id = wire
        .command_id
        .as_str()
        .ok_or_else(|| UnusableCommand("commandId is not a string".into()))
        .and_then(|s| CommandId::parse(s).map_err(|e| UnusableCommand(e.to_string())))?;
    let expires_at = wire
        .expires_at
        .as_str()
        .and_then(|s| Timestamp::parse_rfc3339(s).ok());
    let speed = |v: &Value| {
        v.as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .and_then(|n| FanSpeed::new(n).ok())
    };
    let request = match wire.action.as_str() {
        Some("setFanSpeed") => match speed(&wire.value) {
            Some(s) => Request::SetFanSpeed(s),
            None => Request::Invalid(format!(
                "Invalid fan speed {}: must be an integer from 0 to 5",
                wire.value
            )),
        },
        Some("turnOn") if wire.value.is_null() => Request::TurnOn(FanSpeed::OFF),
        Some("turnOn") => match speed(&wire.value) {
            Some(s) => Request::TurnOn(s),
            None => Request::Invalid(format!(
                "Invalid fan speed {}: must be an integer from 0 to 5",
                wire.value
            )),
        },
        Some("turnOff") => Request::TurnOff,
        Some(other) => Request::Invalid(format!("Unknown action {other:?}")),
        None => Request::Invalid("Missing action".into()),
    };
    Ok(IncomingCommand {
        command_id,
        request,
        expires_at,
    })
}

/// The outcome a device reported for a command: what a duplicate is acked with again.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Outcome {
    /// Success or error.
    pub status: AckStatus,
    /// The ack's message.
    pub message: String,
}

/// The last [`RECENT_COMMANDS`] command ids a device handled, with their outcomes; the oldest is
/// forgotten first.
#[derive(Clone, Debug)]
pub struct RecentCommands {
    capacity: usize,
    order: VecDeque<CommandId>,
    outcomes: HashMap<CommandId, Outcome>,
}

impl Default for RecentCommands {
    fn default() -> Self {
        Self::with_capacity(RECENT_COMMANDS)
    }
}

impl RecentCommands {
    /// Remembers at most `capacity` ids (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            order: VecDeque::new(),
            outcomes: HashMap::new(),
        }
    }

    /// The outcome of `id`, if it is remembered.
    pub fn get(&self, id: &CommandId) -> Option<&Outcome> {
        self.outcomes.get(id)
    }

    /// Remembers `id` with its outcome, forgetting the oldest id when full.
    pub fn insert(&mut self, id: CommandId, outcome: Outcome) {
        if self.outcomes.insert(id, outcome).is_some() {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.outcomes.remove(&old);
            }
        }
    }

    /// How many ids are remembered.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}
