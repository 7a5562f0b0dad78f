//! [`Handle`]: the cloneable way to talk to a running engine.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    codec::TopicPrefix,
    domain::{
        Ack, Command, CommandId, CommandSource, ControlState, DeviceId, FanMode, IdempotencyKey,
        Instruction, Intent, PreClean, PreCleanDuration, PreCleanId, PresenceReason, Schedule,
        ScheduleId, ScheduleRule, Timestamp, Timezone,
    },
    schedule::PlannedInterval,
};

use super::{EngineError, EngineEvent};

/// A command to send.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CommandRequest {
    /// The device.
    pub device_id: DeviceId,
    /// What to do.
    pub instruction: Instruction,
    /// Who asks (`manual` for the control API, `api` for other programs).
    pub source: CommandSource,
    /// Makes the request idempotent per device within 24 h.
    pub idempotency_key: Option<IdempotencyKey>,
    /// Not delivered after this long (no expiry when `None`).
    pub expires_in: Option<Duration>,
}

/// A pre-clean to start.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PreCleanRequest {
    /// The device.
    pub device_id: DeviceId,
    /// The mode (its target).
    pub mode: FanMode,
    /// How long.
    pub duration: PreCleanDuration,
}

/// A started pre-clean.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PreCleanStarted {
    /// The pre-clean as stored (with the command that applies its target, if one was needed).
    pub pre_clean: PreClean,
    /// What the device returns to when it ends, as of now (`None`: unmanaged, nothing is sent).
    pub restore_target: Option<Intent>,
}

/// A created or updated schedule.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ScheduleSaved {
    /// The schedule as stored.
    pub schedule: Schedule,
    /// The device's other schedules whose windows overlap it in the next two weeks (allowed: the
    /// highest speed wins; reported as warnings).
    pub overlaps: Vec<ScheduleId>,
}

/// Something a device said that the engine acts on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DeviceEvent {
    /// A command acknowledgement (already decoded and checked against the topic).
    Ack(Ack),
    /// Presence from the status topic, the Last Will or a shutdown notice.
    Presence {
        /// The device.
        device_id: DeviceId,
        /// Online or not.
        online: bool,
        /// Why.
        reason: PresenceReason,
        /// When.
        at: Timestamp,
    },
    /// A valid message from the device was received at `at` (it is online). The sender has
    /// already stored `lastSeen` (ingestion does, in the same transaction as the readings); acks
    /// and presence events record it themselves.
    Seen {
        /// The device.
        device_id: DeviceId,
        /// When.
        at: Timestamp,
    },
}

type Reply<T> = oneshot::Sender<Result<T, EngineError>>;

/// A request to the engine actor.
#[derive(Debug)]
pub(super) enum Request {
    SendCommand(CommandRequest, Reply<Command>),
    CancelCommand(CommandId, Reply<Command>),
    WaitTerminal(CommandId, Reply<Command>),
    StartPreClean(PreCleanRequest, Reply<PreCleanStarted>),
    CancelPreClean(DeviceId, Reply<Option<PreClean>>),
    DeletePreClean(PreCleanId, Reply<PreClean>),
    CreateSchedule(DeviceId, ScheduleRule, bool, Reply<ScheduleSaved>),
    UpdateSchedule(ScheduleId, ScheduleRule, bool, Reply<ScheduleSaved>),
    DeleteSchedule(ScheduleId, Reply<Schedule>),
    TestSchedule(ScheduleId, Reply<Command>),
    Control(DeviceId, Reply<Option<ControlState>>),
    Timeline(DeviceId, Timestamp, Timestamp, Reply<Vec<PlannedInterval>>),
    Device(DeviceEvent),
    ForgetDevice(DeviceId, Reply<()>),
}

/// A cloneable handle to a running [`Engine`](super::Engine). Every method waits for the engine to
/// have carried the request out (stored it, and published what it publishes); the engine stops
/// when every handle is dropped.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(super) requests: mpsc::Sender<Request>,
    pub(super) events: broadcast::Sender<EngineEvent>,
    pub(super) default_timezone: Timezone,
    pub(super) topic_prefix: TopicPrefix,
    /// Bumped every time a device is forgotten, so caches of registered devices (ingestion's)
    /// know to drop what they hold.
    pub(super) registry_epoch: Arc<AtomicU64>,
}

impl Handle {
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send(make(tx))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// Sends a command (stored, then published). With an idempotency key already used for the
    /// device within 24 h, returns that command instead.
    pub async fn send_command(&self, request: CommandRequest) -> Result<Command, EngineError> {
        self.ask(|r| Request::SendCommand(request, r)).await
    }

    /// Cancels a command that has not reached a terminal status.
    pub async fn cancel_command(&self, id: CommandId) -> Result<Command, EngineError> {
        self.ask(|r| Request::CancelCommand(id, r)).await
    }

    /// Waits until the command reaches a terminal status, and returns it then.
    pub async fn wait_terminal(&self, id: CommandId) -> Result<Command, EngineError> {
        self.ask(|r| Request::WaitTerminal(id, r)).await
    }

    /// Starts a pre-clean, replacing the device's active one.
    pub async fn start_pre_clean(
        &self,
        request: PreCleanRequest,
    ) -> Result<PreCleanStarted, EngineError> {
        self.ask(|r| Request::StartPreClean(request, r)).await
    }

    /// Cancels the device's active pre-clean (restoring at once); `None` if it had none.
    pub async fn cancel_pre_clean(
        &self,
        device: DeviceId,
    ) -> Result<Option<PreClean>, EngineError> {
        self.ask(|r| Request::CancelPreClean(device, r)).await
    }

    /// Deletes a pre-clean: an active one is cancelled first (restoring), a finished one removed.
    pub async fn delete_pre_clean(&self, id: PreCleanId) -> Result<PreClean, EngineError> {
        self.ask(|r| Request::DeletePreClean(id, r)).await
    }

    /// Creates a schedule and applies it at once if one of its windows is active now.
    pub async fn create_schedule(
        &self,
        device: DeviceId,
        rule: ScheduleRule,
        is_active: bool,
    ) -> Result<ScheduleSaved, EngineError> {
        self.ask(|r| Request::CreateSchedule(device, rule, is_active, r))
            .await
    }

    /// Replaces a schedule's rule and enabled flag, and re-evaluates the device now.
    pub async fn update_schedule(
        &self,
        id: ScheduleId,
        rule: ScheduleRule,
        is_active: bool,
    ) -> Result<ScheduleSaved, EngineError> {
        self.ask(|r| Request::UpdateSchedule(id, rule, is_active, r))
            .await
    }

    /// Deletes a schedule; if its window was active, it ends now.
    pub async fn delete_schedule(&self, id: ScheduleId) -> Result<Schedule, EngineError> {
        self.ask(|r| Request::DeleteSchedule(id, r)).await
    }

    /// Sends the schedule's start command now (a test trigger) and returns it without waiting
    /// for the ack. It counts as a manual change of the base intent until the next boundary.
    pub async fn test_schedule(&self, id: ScheduleId) -> Result<Command, EngineError> {
        self.ask(|r| Request::TestSchedule(id, r)).await
    }

    /// The device's control state (base intent, effective state, active pre-clean and windows).
    pub async fn control(&self, device: DeviceId) -> Result<Option<ControlState>, EngineError> {
        self.ask(|r| Request::Control(device, r)).await
    }

    /// What the device's enabled schedules will make it do in `[from, until)`.
    pub async fn timeline(
        &self,
        device: DeviceId,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<Vec<PlannedInterval>, EngineError> {
        self.ask(|r| Request::Timeline(device, from, until, r))
            .await
    }

    /// Hands the engine something a device said. Waits only for room in the engine's queue.
    pub async fn device_event(&self, event: DeviceEvent) -> Result<(), EngineError> {
        self.requests
            .send(Request::Device(event))
            .await
            .map_err(|_| EngineError::Stopped)
    }

    /// The zone of schedules that name none: the engine's
    /// [`EngineConfig::default_timezone`](super::EngineConfig::default_timezone). Callers that
    /// build a [`ScheduleRule`] from a request (e.g. with
    /// [`RuleSpec::build`](crate::domain::RuleSpec::build)) use it so a schedule without a
    /// `timezone` gets the same zone whoever creates it.
    pub fn default_timezone(&self) -> Timezone {
        self.default_timezone
    }

    /// Forgets a device that was deleted from the registry: its control state, presence
    /// tracking and timers in memory, so nothing more is written for it; then tells caches of
    /// registered devices ([`Handle::registry_epoch`]) to refresh. Delete the device's schedules
    /// and cancel its pre-clean through the engine first; its unfinished commands end by
    /// themselves (timeout).
    pub async fn forget_device(&self, device: DeviceId) -> Result<(), EngineError> {
        let r = self.ask(|r| Request::ForgetDevice(device, r)).await;
        self.registry_epoch.fetch_add(1, Ordering::SeqCst);
        r
    }

    /// A counter that grows whenever a device is forgotten ([`Handle::forget_device`]): a cache
    /// of registered devices compares it with the value it last saw and empties itself when it
    /// changed.
    pub fn registry_epoch(&self) -> u64 {
        self.registry_epoch.load(Ordering::SeqCst)
    }

    /// The MQTT topic prefix the engine publishes commands under
    /// ([`EngineConfig::topic_prefix`](super::EngineConfig::topic_prefix)).
    pub fn topic_prefix(&self) -> &TopicPrefix {
        &self.topic_prefix
    }

    /// A live stream of engine events.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.events.subscribe()
    }

    /// The sender of the event stream, so other parts (ingestion) can publish on it too.
    pub fn event_sender(&self) -> broadcast::Sender<EngineEvent> {
        self.events.clone()
    }
}
