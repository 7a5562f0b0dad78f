//! Schedules as the API shows them: [`ScheduleDto`], the create/update answer
//! [`ScheduleSavedDto`] with its overlap warnings, run history [`ScheduleRunDto`] and the test
//! trigger's answer [`ScheduleTestDto`].

use praan_core::{
    domain::{Command, DaySet, Recurrence, Schedule, ScheduleId, ScheduleRun, WindowEnd},
    engine::ScheduleSaved,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::CommandDto;

/// A schedule (PRODUCT.md §4), with the field names the existing clients read.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleDto {
    /// Its id (a UUID v7).
    pub(crate) schedule_id: String,
    /// The device it drives.
    pub(crate) device_id: String,
    /// `weekly`, `daily` or `custom`.
    pub(crate) recurrence_type: String,
    /// The weekdays its windows start on, Monday first (all seven for `daily`; empty for
    /// `custom`, whose days come from `cron`).
    pub(crate) days: Vec<String>,
    /// The first of `days` (the old clients' single-day field); `null` for `custom`.
    pub(crate) day: Option<String>,
    /// Local start time `HH:MM` (`null` for `custom`: the cron expression sets the start).
    pub(crate) start_time: Option<String>,
    /// Local end time `HH:MM`; before `startTime` means the next day. `null` when the window is
    /// given by `durationMinutes`.
    pub(crate) end_time: Option<String>,
    /// Window length in minutes, when given instead of `endTime`.
    pub(crate) duration_minutes: Option<u32>,
    /// The start expression of a `custom` schedule.
    pub(crate) cron: Option<String>,
    /// The speed during its windows, 1–5.
    pub(crate) fan_speed: u8,
    /// The IANA zone its wall-clock times are in.
    pub(crate) timezone: String,
    /// Whether it is enabled.
    pub(crate) is_active: bool,
    /// When it was created (RFC 3339).
    pub(crate) created_at: String,
    /// When it last changed (RFC 3339).
    pub(crate) updated_at: String,
}

impl From<&Schedule> for ScheduleDto {
    fn from(s: &Schedule) -> Self {
        let rule = &s.rule;
        let (days, cron) = match rule.recurrence() {
            Recurrence::Weekly(days) => (days.names(), None),
            Recurrence::Daily => (DaySet::ALL.names(), None),
            Recurrence::Custom(expr) => (Vec::new(), Some(expr.as_str().to_owned())),
        };
        let (end_time, duration_minutes) = match rule.end() {
            WindowEnd::At(t) => (Some(t.to_string()), None),
            WindowEnd::After(m) => (None, Some(m)),
        };
        Self {
            schedule_id: s.schedule_id.to_string(),
            device_id: s.device_id.to_string(),
            recurrence_type: rule.recurrence().kind().to_owned(),
            day: days.first().map(|d| (*d).to_owned()),
            days: days.into_iter().map(str::to_owned).collect(),
            start_time: rule.start_time().map(|t| t.to_string()),
            end_time,
            duration_minutes,
            cron,
            fan_speed: rule.fan_speed().get(),
            timezone: rule.timezone().name().to_owned(),
            is_active: s.is_active,
            created_at: s.created_at.to_rfc3339(),
            updated_at: s.updated_at.to_rfc3339(),
        }
    }
}

/// A created or updated schedule, with warnings about the device's other schedules whose
/// windows overlap it (allowed: the highest speed wins while both are active).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleSavedDto {
    /// The schedule as stored.
    #[serde(flatten)]
    pub(crate) schedule: ScheduleDto,
    /// One warning per overlapping schedule (empty when none overlaps in the next two weeks).
    pub(crate) warnings: Vec<ScheduleWarningDto>,
}

/// A warning about a schedule that overlaps the saved one.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleWarningDto {
    /// The other schedule.
    pub(crate) schedule_id: String,
    /// What it means.
    pub(crate) message: String,
}

impl From<&ScheduleSaved> for ScheduleSavedDto {
    fn from(saved: &ScheduleSaved) -> Self {
        Self {
            schedule: ScheduleDto::from(&saved.schedule),
            warnings: saved.overlaps.iter().map(overlap_warning).collect(),
        }
    }
}

fn overlap_warning(other: &ScheduleId) -> ScheduleWarningDto {
    ScheduleWarningDto {
        schedule_id: other.to_string(),
        message: format!(
            "overlaps schedule {other} in the next two weeks; while both are active the higher \
             fan speed wins"
        ),
    }
}

/// One schedule boundary and what praan did about it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleRunDto {
    /// Its id.
    pub(crate) run_id: String,
    /// The schedule.
    pub(crate) schedule_id: String,
    /// The device.
    pub(crate) device_id: String,
    /// `start` or `end` of a window.
    pub(crate) boundary: String,
    /// When the boundary was applied (RFC 3339).
    pub(crate) at: String,
    /// `applied`, `masked_by_preclean`, `masked_by_higher_schedule` or `failed`.
    pub(crate) outcome: String,
    /// The command sent for it, if one was.
    pub(crate) command_id: Option<String>,
}

impl From<&ScheduleRun> for ScheduleRunDto {
    fn from(r: &ScheduleRun) -> Self {
        Self {
            run_id: r.run_id.to_string(),
            schedule_id: r.schedule_id.to_string(),
            device_id: r.device_id.to_string(),
            boundary: super::wire_name(&r.boundary),
            at: r.at.to_rfc3339(),
            outcome: super::wire_name(&r.outcome),
            command_id: r.command_id.map(|id| id.to_string()),
        }
    }
}

/// The answer of a test trigger: the start command, sent but not yet acknowledged.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScheduleTestDto {
    /// The schedule tested.
    pub(crate) schedule_id: String,
    /// The device.
    pub(crate) device_id: String,
    /// The start command's id (follow it at `GET /api/commands/{commandId}`).
    pub(crate) command_id: String,
    /// The command's status now (usually `sent`).
    pub(crate) status: String,
    /// The command.
    pub(crate) command: CommandDto,
}

impl ScheduleTestDto {
    pub(crate) fn new(schedule_id: ScheduleId, command: &Command) -> Self {
        Self {
            schedule_id: schedule_id.to_string(),
            device_id: command.device_id.to_string(),
            command_id: command.command_id.to_string(),
            status: command.status.as_str().to_owned(),
            command: CommandDto::from(command),
        }
    }
}
