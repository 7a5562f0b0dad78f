//! The collections a [`MongoStore`](crate::MongoStore) keeps in its database, by name, for tools
//! that read them directly. Every instant in them is a BSON datetime.

/// The device registry: one document per device, `_id` = device id.
pub const DEVICES: &str = "devices";
/// What praan observed of each device (reported state, presence, last seen, latest reading): one
/// document per device, `_id` = device id.
pub const DEVICE_STATES: &str = "device_states";
/// Telemetry: one document per reading (`deviceId`, `timestamp`, `receivedAt`, each metric under
/// its wire name, `fanSpeed`, `powerOn`), unique on `(deviceId, timestamp)`.
pub const READINGS: &str = "readings";
/// The durable command outbox: one document per command, `_id` = command id.
pub const COMMANDS: &str = "commands";
/// Schedules: one document per schedule, `_id` = schedule id.
pub const SCHEDULES: &str = "schedules";
/// Schedule boundary history: one document per run, `_id` = run id.
pub const SCHEDULE_RUNS: &str = "schedule_runs";
/// Pre-cleans: one document per pre-clean, `_id` = pre-clean id.
pub const PRE_CLEANS: &str = "pre_cleans";
/// The control layers' intent: one document per device, `_id` = device id.
pub const CONTROL_STATES: &str = "control_states";
/// The store's own bookkeeping: each praan instance's write-behind watermark (`_id`
/// `deviceStates/{instance}`, `replayFrom`:
/// the reading timestamp from which `device_states` may lag the readings; see
/// [`write_behind`](crate::write_behind)).
pub const STORE_META: &str = "store_meta";
