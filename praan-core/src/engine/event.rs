//! What the engine tells the world: [`EngineEvent`]s on a broadcast channel (the SSE stream).

use serde::Serialize;

use crate::domain::{
    Command, ControlState, DeviceId, PreClean, Presence, Reading, ScheduleId, ScheduleRun,
};

/// Something that happened, for live subscribers. Lagging subscribers lose events (tokio's
/// broadcast semantics); they never slow the engine down.
#[derive(Clone, PartialEq, Debug, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EngineEvent {
    /// A reading was stored (published by the ingestion pipeline through
    /// [`Handle::event_sender`](super::Handle::event_sender)).
    Reading {
        /// The reading.
        reading: Box<Reading>,
    },
    /// A command was created or changed status.
    Command {
        /// The command as stored.
        command: Box<Command>,
    },
    /// A pre-clean started, ended, was cancelled or replaced.
    PreClean {
        /// The pre-clean as stored.
        pre_clean: Box<PreClean>,
    },
    /// A schedule was created, updated, enabled, disabled or deleted, or one of its boundaries
    /// was applied.
    Schedule {
        /// The schedule.
        schedule_id: ScheduleId,
        /// The device.
        device_id: DeviceId,
        /// What happened: `created`, `updated`, `deleted`, `boundary`.
        change: &'static str,
        /// The run, for a boundary.
        run: Option<Box<ScheduleRun>>,
    },
    /// A device's control state (base intent, effective state, pre-clean) changed.
    State {
        /// The new control state.
        control: Box<ControlState>,
    },
    /// A device went online or offline.
    Presence {
        /// The device.
        device_id: DeviceId,
        /// Its presence.
        presence: Presence,
    },
}

impl EngineEvent {
    /// The device the event is about.
    pub fn device_id(&self) -> &DeviceId {
        match self {
            Self::Reading { reading } => reading.device_id(),
            Self::Command { command } => &command.device_id,
            Self::PreClean { pre_clean } => &pre_clean.device_id,
            Self::Schedule { device_id, .. } | Self::Presence { device_id, .. } => device_id,
            Self::State { control } => &control.device_id,
        }
    }
}
