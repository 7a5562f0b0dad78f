//! Storage: the repository traits every backend implements, combined into [`Store`].
//!
//! All methods take `&self`, are `async` (via `async_trait`) and object-safe, so an engine holds an
//! `Arc<dyn Store>`. Every trait documents its `# Contract`; the conformance suite (feature
//! `conformance`) checks each point against every backend. [`MemoryStore`] is the reference
//! implementation.
//!
//! Common rules for every trait:
//! - Timestamps round-trip to the millisecond; records read back equal to what was written.
//! - "Newest first" orders by the named time descending, then by id descending; "oldest first"
//!   by the named time ascending, then by id ascending. Ids order as their text does, byte by
//!   byte (never a case-insensitive collation).
//! - `NotFound` is returned only by updates and deletes of a missing record; reads return `None`
//!   or an empty list.

mod error;
mod memory;
mod query;

use async_trait::async_trait;

use crate::domain::{
    Command, CommandId, ControlState, Device, DeviceId, DeviceState, IdempotencyKey, PreClean,
    PreCleanId, Presence, Reading, ReportedState, Schedule, ScheduleId, ScheduleRun, Timestamp,
};

pub use error::{BoxError, StoreError, StoreResult};
pub use memory::MemoryStore;
pub use query::{
    AppendOutcome, BucketStats, BucketWidth, CommandFilter, Cursor, DEFAULT_PAGE_LIMIT,
    DeviceFilter, Limit, MAX_BUCKET, MAX_PAGE_LIMIT, MetricStats, Page, PurgeOutcome, ReadingQuery,
    RetentionCutoffs, Statistics, StatsQuery, TimeRange,
};

/// The device registry.
///
/// # Contract
/// - `insert_device` stores a new device; an existing id is `Conflict`.
/// - `ensure_device` stores the device only if its id is unknown and returns whether it did; it
///   never changes an existing record (auto-registration on a first message, race-free).
/// - `update_device` replaces an existing record; a missing one is `NotFound`.
/// - `delete_device` removes the record and the device's observed state and control state (its
///   readings, commands and history stay until retention); a missing one is `NotFound`.
/// - `list_devices` returns the devices matching the filter, ordered by id.
#[async_trait]
pub trait DeviceRepo: Send + Sync {
    /// Registers a new device.
    async fn insert_device(&self, device: &Device) -> StoreResult<()>;
    /// Registers the device unless its id is known; returns whether it was registered now.
    async fn ensure_device(&self, device: &Device) -> StoreResult<bool>;
    /// Replaces a device's record.
    async fn update_device(&self, device: &Device) -> StoreResult<()>;
    /// Removes a device, its observed state and its control state.
    async fn delete_device(&self, id: &DeviceId) -> StoreResult<()>;
    /// One device.
    async fn get_device(&self, id: &DeviceId) -> StoreResult<Option<Device>>;
    /// Devices matching `filter`, by id.
    async fn list_devices(&self, filter: &DeviceFilter) -> StoreResult<Vec<Device>>;
}

/// What praan observed of each device: reported state, presence, last seen, latest reading.
///
/// # Contract
/// - A device's state exists once anything was recorded for it (here or by
///   [`TelemetryRepo::append_readings`]); before that `device_state` is `None`.
/// - `record_reported` keeps the report only if it is newer (`at`) than the stored one, and returns
///   whether it did: the newest wins whatever the order of arrival, also for concurrent calls.
/// - A report with the same `at` as the stored one is not kept (the first wins); a presence with
///   the same `since` as the stored one replaces it.
/// - `record_presence` keeps the presence only if its `since` is not older than the stored one's,
///   and returns whether it did.
/// - `record_seen` raises `lastSeen` to `at` if that is later; it never lowers it.
/// - `device_states` returns every state, ordered by device id.
#[async_trait]
pub trait StateRepo: Send + Sync {
    /// One device's observed state.
    async fn device_state(&self, id: &DeviceId) -> StoreResult<Option<DeviceState>>;
    /// Every device's observed state, by id.
    async fn device_states(&self) -> StoreResult<Vec<DeviceState>>;
    /// Records a reported power/speed if it is the newest; returns whether it was kept.
    async fn record_reported(&self, id: &DeviceId, reported: ReportedState) -> StoreResult<bool>;
    /// Records a presence change if it is not older than the stored one; returns whether it was
    /// kept.
    async fn record_presence(&self, id: &DeviceId, presence: Presence) -> StoreResult<bool>;
    /// Raises `lastSeen`.
    async fn record_seen(&self, id: &DeviceId, at: Timestamp) -> StoreResult<()>;
}

/// Telemetry: readings and their statistics.
///
/// # Contract
/// - `append_readings` stores a batch atomically (all or nothing), deduplicating on
///   `(deviceId, timestamp)`: a reading whose key is already stored, or repeated within the batch,
///   is skipped and counted as a duplicate. Once per device in the batch it raises the device's
///   state: `latestReading` to the newest reading by timestamp (never replacing a newer one),
///   `reported` as [`StateRepo::record_reported`] would from the newest reading carrying both power
///   and speed, and `lastSeen` to the latest `receivedAt` of the readings stored now (a skipped
///   duplicate changes no state).
/// - `readings` returns the device's readings in the query's range, newest first, at most `limit`,
///   and a cursor exactly when more readings follow (the last page has none); following cursors
///   visit every reading exactly once.
/// - `latest_reading` is the reading with the greatest timestamp.
/// - `statistics` computes count, min, max and avg of every metric over `[start, end)`, and, with a
///   bucket width, the same per non-empty bucket (aligned to the epoch, oldest first; an empty
///   list when no reading matches).
#[async_trait]
pub trait TelemetryRepo: Send + Sync {
    /// Stores a batch of readings; returns how many were new and how many duplicates.
    async fn append_readings(&self, readings: &[Reading]) -> StoreResult<AppendOutcome>;
    /// A page of a device's readings, newest first.
    async fn readings(&self, id: &DeviceId, query: &ReadingQuery) -> StoreResult<Page<Reading>>;
    /// A device's newest reading.
    async fn latest_reading(&self, id: &DeviceId) -> StoreResult<Option<Reading>>;
    /// Statistics of a device's readings.
    async fn statistics(&self, id: &DeviceId, query: &StatsQuery) -> StoreResult<Statistics>;
}

/// Durable commands (the outbox).
///
/// # Contract
/// - `insert_command` stores a new command; an existing id is `Conflict`, and so is an idempotency
///   key already used by another command of the same device.
/// - `update_command` replaces a stored command; a missing one is `NotFound`.
/// - `commands_for_device` returns the device's commands, optionally of one status, newest
///   `createdAt` first, at most `limit`.
/// - `unfinished_commands` returns every command whose status is not terminal, oldest
///   `createdAt` first.
/// - `command_by_idempotency_key` finds the device's command carrying that key.
#[async_trait]
pub trait CommandRepo: Send + Sync {
    /// Stores a new command.
    async fn insert_command(&self, command: &Command) -> StoreResult<()>;
    /// Replaces a stored command.
    async fn update_command(&self, command: &Command) -> StoreResult<()>;
    /// One command.
    async fn get_command(&self, id: CommandId) -> StoreResult<Option<Command>>;
    /// A device's commands, newest first.
    async fn commands_for_device(
        &self,
        id: &DeviceId,
        filter: &CommandFilter,
    ) -> StoreResult<Vec<Command>>;
    /// Every non-terminal command, oldest first.
    async fn unfinished_commands(&self) -> StoreResult<Vec<Command>>;
    /// The device's command with this idempotency key.
    async fn command_by_idempotency_key(
        &self,
        id: &DeviceId,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<Command>>;
}

/// Schedules and their run history.
///
/// # Contract
/// - `insert_schedule` stores a new schedule; an existing id is `Conflict`.
/// - `update_schedule` replaces a stored schedule; a missing one is `NotFound`.
/// - `delete_schedule` removes it (its runs stay as history); a missing one is `NotFound`.
/// - `schedules_for_device` returns the device's schedules, oldest `createdAt` first;
///   `active_schedules` every schedule with `isActive`, by `createdAt`.
/// - `insert_run` stores a run (an existing id is `Conflict`); `runs_for_schedule` returns a
///   schedule's runs newest `at` first, at most `limit`.
#[async_trait]
pub trait ScheduleRepo: Send + Sync {
    /// Stores a new schedule.
    async fn insert_schedule(&self, schedule: &Schedule) -> StoreResult<()>;
    /// Replaces a stored schedule.
    async fn update_schedule(&self, schedule: &Schedule) -> StoreResult<()>;
    /// Removes a schedule.
    async fn delete_schedule(&self, id: ScheduleId) -> StoreResult<()>;
    /// One schedule.
    async fn get_schedule(&self, id: ScheduleId) -> StoreResult<Option<Schedule>>;
    /// A device's schedules.
    async fn schedules_for_device(&self, id: &DeviceId) -> StoreResult<Vec<Schedule>>;
    /// Every enabled schedule.
    async fn active_schedules(&self) -> StoreResult<Vec<Schedule>>;
    /// Records a boundary run.
    async fn insert_run(&self, run: &ScheduleRun) -> StoreResult<()>;
    /// A schedule's runs, newest first.
    async fn runs_for_schedule(
        &self,
        id: ScheduleId,
        limit: Limit,
    ) -> StoreResult<Vec<ScheduleRun>>;
}

/// Pre-cleans.
///
/// # Contract
/// - `insert_pre_clean` stores a new pre-clean; an existing id is `Conflict`, and so is a second
///   `active` pre-clean for a device that has one.
/// - `update_pre_clean` replaces a stored pre-clean (the same one-active rule applies); a missing
///   one is `NotFound`.
/// - `delete_pre_clean` removes it; a missing one is `NotFound`.
/// - `active_pre_clean` is the device's `active` pre-clean; `active_pre_cleans` every one, by
///   `endsAt`.
/// - `pre_clean_history` returns the device's pre-cleans, newest `startedAt` first, at most
///   `limit`.
#[async_trait]
pub trait PreCleanRepo: Send + Sync {
    /// Stores a new pre-clean.
    async fn insert_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()>;
    /// Replaces a stored pre-clean.
    async fn update_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()>;
    /// Removes a pre-clean.
    async fn delete_pre_clean(&self, id: PreCleanId) -> StoreResult<()>;
    /// One pre-clean.
    async fn get_pre_clean(&self, id: PreCleanId) -> StoreResult<Option<PreClean>>;
    /// The device's active pre-clean.
    async fn active_pre_clean(&self, id: &DeviceId) -> StoreResult<Option<PreClean>>;
    /// Every active pre-clean, soonest end first.
    async fn active_pre_cleans(&self) -> StoreResult<Vec<PreClean>>;
    /// The device's pre-cleans, newest first.
    async fn pre_clean_history(&self, id: &DeviceId, limit: Limit) -> StoreResult<Vec<PreClean>>;
}

/// The control layers' persisted intent per device.
///
/// # Contract
/// - `put_control` inserts or replaces the device's control state; `get_control` reads it back
///   equal; `control_states` returns every one, by device id.
#[async_trait]
pub trait ControlRepo: Send + Sync {
    /// One device's control state.
    async fn get_control(&self, id: &DeviceId) -> StoreResult<Option<ControlState>>;
    /// Inserts or replaces a device's control state.
    async fn put_control(&self, state: &ControlState) -> StoreResult<()>;
    /// Every control state, by device id.
    async fn control_states(&self) -> StoreResult<Vec<ControlState>>;
}

/// Retention and health.
///
/// # Contract
/// - `purge` deletes at most `batch` records of each kind (readings across all devices, commands,
///   pre-cleans, runs) older than the cutoffs — readings by timestamp; terminal commands by
///   `createdAt`, never unfinished ones; finished pre-cleans by `endedAt` (or `endsAt` if unset)
///   against the commands cutoff, never active ones; runs by `at` — and reports how many. A purged
///   command's idempotency key is free again. Callers repeat until it deletes nothing, so no call
///   holds a long write lock.
/// - `ping` succeeds when the backend answers.
#[async_trait]
pub trait MaintenanceRepo: Send + Sync {
    /// Deletes one bounded batch of expired records.
    async fn purge(&self, cutoffs: &RetentionCutoffs, batch: u32) -> StoreResult<PurgeOutcome>;
    /// Checks that the backend answers.
    async fn ping(&self) -> StoreResult<()>;
}

/// Everything praan stores: implemented automatically for any type implementing every repository.
pub trait Store:
    DeviceRepo
    + StateRepo
    + TelemetryRepo
    + CommandRepo
    + ScheduleRepo
    + PreCleanRepo
    + ControlRepo
    + MaintenanceRepo
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: DeviceRepo
        + StateRepo
        + TelemetryRepo
        + CommandRepo
        + ScheduleRepo
        + PreCleanRepo
        + ControlRepo
        + MaintenanceRepo
        + std::fmt::Debug
{
}
