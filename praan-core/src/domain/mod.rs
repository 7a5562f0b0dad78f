//! Plain data and newtypes that parse, not validate: an invalid value cannot be constructed, and
//! serde goes through the same constructors (`try_from`). JSON is camelCase, as on the wire.

mod command;
mod control;
mod device;
mod device_id;
mod error;
mod fan;
mod ids;
mod preclean;
mod reading;
mod schedule;
mod timestamp;

pub use command::{
    Ack, AckStatus, Attempt, Command, CommandAction, CommandSource, CommandStatus, IdempotencyKey,
    Instruction,
};
pub use control::{ControlState, Intent, IntentSource, WindowKey};
pub use device::{
    Device, DeviceState, DeviceStatus, Label, MAX_LABEL_CHARS, Presence, PresenceReason,
    Specifications,
};
pub use device_id::{DEVICE_ID_MAX_LEN, DeviceId};
pub use error::ValidationError;
pub use fan::{FanSpeed, FanState, ReportedState};
pub use ids::{CommandId, PreCleanId, RunId, ScheduleId};
pub use preclean::{
    DEFAULT_MAX_PRE_CLEAN, FanMode, PreClean, PreCleanDuration, PreCleanStatus, RestoreInfo,
};
pub use reading::{Metric, Metrics, PerMetric, Reading};
pub use schedule::{
    Boundary, CronExpr, DaySet, LocalTime, MAX_WINDOW_MINUTES, Recurrence, RuleSpec, RunOutcome,
    Schedule, ScheduleRule, ScheduleRun, Timezone, WindowEnd,
};
pub use timestamp::Timestamp;
