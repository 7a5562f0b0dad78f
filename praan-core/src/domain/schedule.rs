//! [`Schedule`]: a recurring window in which a device runs at a fan speed, and its run history.

use std::{fmt, str::FromStr};

use chrono::{NaiveTime, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::{CommandId, DeviceId, FanSpeed, RunId, ScheduleId, Timestamp, ValidationError};

/// A wall-clock time of day, `HH:MM` (24 h, two digits each).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalTime {
    hour: u8,
    minute: u8,
}

impl LocalTime {
    /// `hour:minute`, if it is a time of day.
    pub fn new(hour: u8, minute: u8) -> Result<Self, ValidationError> {
        if hour < 24 && minute < 60 {
            Ok(Self { hour, minute })
        } else {
            Err(ValidationError::new(
                "time",
                "must be a time of day, HH:MM from 00:00 to 23:59",
            ))
        }
    }

    /// Parses `HH:MM` strictly, naming `field` in the error.
    pub fn parse(field: &'static str, s: &str) -> Result<Self, ValidationError> {
        let err = || ValidationError::new(field, "must be HH:MM (24 h), from 00:00 to 23:59");
        let b = s.as_bytes();
        if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
            return Err(err());
        }
        let hour = (b[0] - b'0') * 10 + (b[1] - b'0');
        let minute = (b[3] - b'0') * 10 + (b[4] - b'0');
        Self::new(hour, minute).map_err(|_| err())
    }

    /// The hour, 0–23.
    pub const fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, 0–59.
    pub const fn minute(self) -> u8 {
        self.minute
    }

    /// Minutes after midnight.
    pub const fn minutes_of_day(self) -> u16 {
        self.hour as u16 * 60 + self.minute as u16
    }

    /// As a chrono time.
    pub fn to_naive(self) -> NaiveTime {
        NaiveTime::from_hms_opt(u32::from(self.hour), u32::from(self.minute), 0)
            .unwrap_or(NaiveTime::MIN)
    }
}

impl FromStr for LocalTime {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse("time", s)
    }
}

impl TryFrom<String> for LocalTime {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse("time", &s)
    }
}

impl From<LocalTime> for String {
    fn from(t: LocalTime) -> Self {
        t.to_string()
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl fmt::Debug for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocalTime({self})")
    }
}

/// A set of weekdays.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DaySet(u8);

impl DaySet {
    /// Every day.
    pub const ALL: Self = Self(0x7f);

    /// The English names, Monday first, as written on the wire.
    pub const NAMES: [&'static str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];

    /// The set holding `days`.
    pub fn of(days: impl IntoIterator<Item = Weekday>) -> Self {
        Self(
            days.into_iter()
                .fold(0, |acc, d| acc | 1 << d.num_days_from_monday()),
        )
    }

    /// Whether `day` is in the set.
    pub const fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The days in the set, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        (0u8..7)
            .filter(move |i| self.0 & (1 << i) != 0)
            .filter_map(|i| Weekday::try_from(i).ok())
    }

    /// The wire names of the days, Monday first.
    pub fn names(self) -> Vec<&'static str> {
        self.iter()
            .map(|d| Self::NAMES[d.num_days_from_monday() as usize])
            .collect()
    }

    /// Parses one English weekday name (any letter case), naming `field` in the error.
    pub fn parse_day(field: &'static str, s: &str) -> Result<Weekday, ValidationError> {
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s))
            .and_then(|i| Weekday::try_from(i as u8).ok())
            .ok_or_else(|| {
                ValidationError::new(field, format!("{s:?} is not a weekday (Monday … Sunday)"))
            })
    }
}

impl fmt::Debug for DaySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// An IANA time zone (never a fixed offset), e.g. `Asia/Kolkata`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timezone(Tz);

impl Timezone {
    /// UTC.
    pub const UTC: Self = Self(Tz::UTC);

    /// Parses an IANA zone name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        s.parse::<Tz>().map(Self).map_err(|_| {
            ValidationError::new(
                "timezone",
                format!("{s:?} is not an IANA time zone name (e.g. \"Europe/London\")"),
            )
        })
    }

    /// The chrono-tz zone.
    pub const fn tz(self) -> Tz {
        self.0
    }

    /// The IANA name.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for Timezone {
    fn default() -> Self {
        Self::UTC
    }
}

impl FromStr for Timezone {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Timezone {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Timezone> for String {
    fn from(t: Timezone) -> Self {
        t.name().to_owned()
    }
}

impl fmt::Debug for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timezone({})", self.name())
    }
}

impl fmt::Display for Timezone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A cron expression for window starts: 5 fields (minute first) or 6 (seconds first, one fixed
/// second, so windows start at most once a minute), evaluated on the schedule's wall clock. Kept with its source text, which is what it serialises as.
#[derive(Clone)]
pub struct CronExpr {
    source: String,
    schedule: cron::Schedule,
}

impl CronExpr {
    /// Parses a 5- or 6-field expression.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let fields = s.split_whitespace().count();
        let full = match fields {
            5 => format!("0 {}", s.trim()),
            6 => {
                // Windows start at most once a minute: the seconds field is one fixed second.
                let seconds = s.split_whitespace().next().unwrap_or_default();
                if seconds.is_empty() || !seconds.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ValidationError::new(
                        "cron",
                        "the seconds field must be a single second (0-59): windows start at most once a minute",
                    ));
                }
                s.trim().to_owned()
            }
            _ => {
                return Err(ValidationError::new(
                    "cron",
                    "must have 5 fields (minute hour day month weekday) or 6 (with seconds first)",
                ));
            }
        };
        let schedule = cron::Schedule::from_str(&full)
            .map_err(|e| ValidationError::new("cron", format!("is not a cron expression: {e}")))?;
        Ok(Self {
            source: s.trim().to_owned(),
            schedule,
        })
    }

    /// The expression as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed schedule (6 fields, seconds first). Iterate it with `after`, never `upcoming`,
    /// which reads the system clock.
    pub fn schedule(&self) -> &cron::Schedule {
        &self.schedule
    }
}

impl PartialEq for CronExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for CronExpr {}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.source)
    }
}

/// How a schedule's windows recur.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Recurrence {
    /// On the given weekdays, from `startTime`.
    Weekly(DaySet),
    /// Every day, from `startTime`.
    Daily,
    /// Windows start at each time the cron expression matches.
    Custom(Box<CronExpr>),
}

impl Recurrence {
    /// The wire name of the kind: `weekly`, `daily` or `custom`.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Weekly(_) => "weekly",
            Self::Daily => "daily",
            Self::Custom(_) => "custom",
        }
    }
}

/// How a window ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WindowEnd {
    /// At this local time; before the start time means the next day (crossing midnight).
    At(LocalTime),
    /// After this many minutes (1–1440).
    After(u32),
}

/// The longest window given by `durationMinutes`: one day.
pub const MAX_WINDOW_MINUTES: u32 = 24 * 60;

/// The validated timing and target of a schedule: everything that decides its windows.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ScheduleRule {
    recurrence: Recurrence,
    start_time: Option<LocalTime>,
    end: WindowEnd,
    fan_speed: FanSpeed,
    timezone: Timezone,
}

impl ScheduleRule {
    /// Checks the combination: weekly/daily need `start_time`, custom needs none; an end time
    /// equal to the start time is refused; durations are 1–1440 minutes; speed is 1–5.
    pub fn new(
        recurrence: Recurrence,
        start_time: Option<LocalTime>,
        end: WindowEnd,
        fan_speed: FanSpeed,
        timezone: Timezone,
    ) -> Result<Self, ValidationError> {
        match (&recurrence, start_time) {
            (Recurrence::Custom(_), Some(_)) => {
                return Err(ValidationError::new(
                    "startTime",
                    "must not be given with recurrenceType \"custom\" (the cron expression sets the start)",
                ));
            }
            (Recurrence::Weekly(_) | Recurrence::Daily, None) => {
                return Err(ValidationError::new("startTime", "is required"));
            }
            (Recurrence::Weekly(days), _) if days.is_empty() => {
                return Err(ValidationError::new(
                    "days",
                    "must name at least one weekday",
                ));
            }
            _ => {}
        }
        match end {
            WindowEnd::At(end) if Some(end) == start_time => {
                return Err(ValidationError::new(
                    "endTime",
                    "must differ from startTime",
                ));
            }
            WindowEnd::After(m) if !(1..=MAX_WINDOW_MINUTES).contains(&m) => {
                return Err(ValidationError::new(
                    "durationMinutes",
                    "must be an integer from 1 to 1440",
                ));
            }
            _ => {}
        }
        if fan_speed.is_off() {
            return Err(ValidationError::new(
                "fanSpeed",
                "must be an integer from 1 to 5",
            ));
        }
        Ok(Self {
            recurrence,
            start_time,
            end,
            fan_speed,
            timezone,
        })
    }

    /// How windows recur.
    pub fn recurrence(&self) -> &Recurrence {
        &self.recurrence
    }

    /// The local start time (weekly and daily).
    pub fn start_time(&self) -> Option<LocalTime> {
        self.start_time
    }

    /// How windows end.
    pub fn end(&self) -> WindowEnd {
        self.end
    }

    /// Whether a window ends on the day after it starts (`endTime` before `startTime`).
    pub fn crosses_midnight(&self) -> bool {
        matches!((self.start_time, self.end), (Some(s), WindowEnd::At(e)) if e < s)
    }

    /// The speed during a window.
    pub fn fan_speed(&self) -> FanSpeed {
        self.fan_speed
    }

    /// The zone the wall-clock times are in.
    pub fn timezone(&self) -> Timezone {
        self.timezone
    }
}

/// A schedule as stored and as the API shows it.
///
/// JSON (compatible with the old clients): `scheduleId, deviceId, recurrenceType, days, day,
/// startTime, endTime, durationMinutes, cron, fanSpeed, timezone, isActive, createdAt, updatedAt`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "ScheduleRepr", into = "ScheduleRepr")]
pub struct Schedule {
    /// Its id.
    pub schedule_id: ScheduleId,
    /// The device it drives.
    pub device_id: DeviceId,
    /// When and how fast.
    pub rule: ScheduleRule,
    /// Whether it is enabled.
    pub is_active: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// The loose input shape of a schedule's rule, as clients send it; [`RuleSpec::build`] checks it.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleSpec {
    /// `weekly` (default), `daily` or `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurrence_type: Option<String>,
    /// Weekday names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
    /// One weekday name (the old clients' field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    /// `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// `HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// Window length in minutes (instead of `endTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_minutes: Option<u32>,
    /// Start expression for `custom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// 1–5.
    pub fan_speed: u8,
    /// IANA zone name; the configured default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

impl RuleSpec {
    /// Validates the spec into a rule; `default_tz` applies when no zone is given.
    pub fn build(&self, default_tz: Timezone) -> Result<ScheduleRule, ValidationError> {
        let kind = self.recurrence_type.as_deref().unwrap_or("weekly");
        let recurrence = match kind {
            "weekly" => Recurrence::Weekly(self.weekdays()?),
            "daily" => {
                if self.days.is_some() || self.day.is_some() {
                    let days = self.weekdays()?;
                    if days != DaySet::ALL {
                        return Err(ValidationError::new(
                            "days",
                            "must be absent or all seven days with recurrenceType \"daily\"",
                        ));
                    }
                }
                Recurrence::Daily
            }
            "custom" => {
                if self.days.is_some() || self.day.is_some() {
                    return Err(ValidationError::new(
                        "days",
                        "must not be given with recurrenceType \"custom\" (use the cron expression)",
                    ));
                }
                let cron = self.cron.as_deref().ok_or_else(|| {
                    ValidationError::new("cron", "is required with recurrenceType \"custom\"")
                })?;
                Recurrence::Custom(Box::new(CronExpr::parse(cron)?))
            }
            other => {
                return Err(ValidationError::new(
                    "recurrenceType",
                    format!("{other:?} is not one of \"weekly\", \"daily\", \"custom\""),
                ));
            }
        };
        if kind != "custom" && self.cron.is_some() {
            return Err(ValidationError::new(
                "cron",
                "is only used with recurrenceType \"custom\"",
            ));
        }
        let start_time = self
            .start_time
            .as_deref()
            .map(|s| LocalTime::parse("startTime", s))
            .transpose()?;
        let end = match (self.end_time.as_deref(), self.duration_minutes) {
            (Some(e), None) => WindowEnd::At(LocalTime::parse("endTime", e)?),
            (None, Some(m)) => WindowEnd::After(m),
            (Some(_), Some(_)) => {
                return Err(ValidationError::new(
                    "durationMinutes",
                    "give either endTime or durationMinutes, not both",
                ));
            }
            (None, None) => {
                return Err(ValidationError::new(
                    "endTime",
                    "is required (or durationMinutes)",
                ));
            }
        };
        let fan_speed = FanSpeed::running(self.fan_speed)?;
        let timezone = match self.timezone.as_deref() {
            Some(name) => Timezone::parse(name)?,
            None => default_tz,
        };
        ScheduleRule::new(recurrence, start_time, end, fan_speed, timezone)
    }

    fn weekdays(&self) -> Result<DaySet, ValidationError> {
        let mut set = match &self.days {
            Some(days) => DaySet::of(
                days.iter()
                    .map(|d| DaySet::parse_day("days", d))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => DaySet::default(),
        };
        if let Some(day) = &self.day {
            let day = DaySet::parse_day("day", day)?;
            if self.days.is_some() && !set.contains(day) {
                return Err(ValidationError::new(
                    "day",
                    "must be one of days when both are given",
                ));
            }
            set = DaySet::of(set.iter().chain([day]));
        }
        if set.is_empty() {
            return Err(ValidationError::new(
                "days",
                "must name at least one weekday (or give day)",
            ));
        }
        Ok(set)
    }

    /// The spec that builds `rule` back (the inverse of [`RuleSpec::build`]).
    pub fn of_rule(rule: &ScheduleRule) -> Self {
        let days = match rule.recurrence() {
            Recurrence::Weekly(d) => Some(*d),
            Recurrence::Daily => Some(DaySet::ALL),
            Recurrence::Custom(_) => None,
        };
        let (end_time, duration_minutes) = match rule.end() {
            WindowEnd::At(t) => (Some(t.to_string()), None),
            WindowEnd::After(m) => (None, Some(m)),
        };
        Self {
            recurrence_type: Some(rule.recurrence().kind().to_owned()),
            day: days.and_then(|d| d.names().first().map(|s| (*s).to_owned())),
            days: days.map(|d| d.names().into_iter().map(str::to_owned).collect()),
            start_time: rule.start_time().map(|t| t.to_string()),
            end_time,
            duration_minutes,
            cron: match rule.recurrence() {
                Recurrence::Custom(c) => Some(c.as_str().to_owned()),
                _ => None,
            },
            fan_speed: rule.fan_speed().get(),
            timezone: Some(rule.timezone().name().to_owned()),
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ScheduleRepr {
    schedule_id: ScheduleId,
    device_id: DeviceId,
    #[serde(flatten)]
    spec: RuleSpec,
    is_active: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl TryFrom<ScheduleRepr> for Schedule {
    type Error = ValidationError;
    fn try_from(r: ScheduleRepr) -> Result<Self, Self::Error> {
        if r.spec.timezone.is_none() {
            return Err(ValidationError::new(
                "timezone",
                "is required in a stored schedule",
            ));
        }
        Ok(Self {
            schedule_id: r.schedule_id,
            device_id: r.device_id,
            rule: r.spec.build(Timezone::UTC)?,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

impl From<Schedule> for ScheduleRepr {
    fn from(s: Schedule) -> Self {
        Self {
            spec: RuleSpec::of_rule(&s.rule),
            schedule_id: s.schedule_id,
            device_id: s.device_id,
            is_active: s.is_active,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Which edge of a window a run is for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    /// The window started.
    Start,
    /// The window ended.
    End,
}

/// What happened at a boundary. Never silent: a boundary that changed nothing says why.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// The base intent changed and (unless masked) a command was sent.
    Applied,
    /// The base intent changed but an active pre-clean masks it until it ends.
    MaskedByPreclean,
    /// Another active window with a higher speed decides the state.
    MaskedByHigherSchedule,
    /// Applying it failed (e.g. the command could not be stored).
    Failed,
}

/// One schedule boundary and what praan did about it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRun {
    /// Its id.
    pub run_id: RunId,
    /// The schedule.
    pub schedule_id: ScheduleId,
    /// The device.
    pub device_id: DeviceId,
    /// Start or end.
    pub boundary: Boundary,
    /// When the boundary was applied.
    pub at: Timestamp,
    /// What happened.
    pub outcome: RunOutcome,
    /// The command sent for it, if one was.
    pub command_id: Option<CommandId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Result<ScheduleRule, ValidationError> {
        serde_json::from_str::<RuleSpec>(json)
            .unwrap()
            .build(Timezone::UTC)
    }

    #[test]
    fn local_time_is_strict_hh_mm() {
        assert_eq!(
            LocalTime::parse("t", "09:05").unwrap().minutes_of_day(),
            545
        );
        for bad in [
            "9:00",
            "24:00",
            "12:60",
            "12:5",
            "12-00",
            " 12:00",
            "１２:00",
            "",
        ] {
            assert!(LocalTime::parse("t", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn weekly_with_days_or_day() {
        let r = spec(r#"{"days":["Monday","tuesday"],"startTime":"09:00","endTime":"17:00","fanSpeed":3,"timezone":"Asia/Kolkata"}"#).unwrap();
        assert_eq!(
            r.recurrence(),
            &Recurrence::Weekly(DaySet::of([Weekday::Mon, Weekday::Tue]))
        );
        assert_eq!(r.timezone().name(), "Asia/Kolkata");
        let r =
            spec(r#"{"day":"Friday","startTime":"22:00","endTime":"06:00","fanSpeed":1}"#).unwrap();
        assert!(r.crosses_midnight());
        assert_eq!(r.timezone(), Timezone::UTC);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                r#"{"days":["Funday"],"startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
                "days",
            ),
            (
                r#"{"days":[],"startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
                "days",
            ),
            (
                r#"{"days":["Monday"],"startTime":"09:00","endTime":"09:00","fanSpeed":3}"#,
                "endTime",
            ),
            (
                r#"{"days":["Monday"],"startTime":"09:00","endTime":"10:00","fanSpeed":0}"#,
                "fanSpeed",
            ),
            (
                r#"{"days":["Monday"],"startTime":"09:00","endTime":"10:00","fanSpeed":6}"#,
                "fanSpeed",
            ),
            (
                r#"{"days":["Monday"],"startTime":"09:00","fanSpeed":3}"#,
                "endTime",
            ),
            (
                r#"{"days":["Monday"],"endTime":"10:00","fanSpeed":3}"#,
                "startTime",
            ),
            (
                r#"{"days":["Monday"],"startTime":"09:00","endTime":"10:00","fanSpeed":3,"timezone":"+05:30"}"#,
                "timezone",
            ),
            (
                r#"{"days":["Monday"],"startTime":"09:00","endTime":"10:00","fanSpeed":3,"timezone":"Mars/Base"}"#,
                "timezone",
            ),
            (
                r#"{"recurrenceType":"hourly","startTime":"09:00","endTime":"10:00","fanSpeed":3}"#,
                "recurrenceType",
            ),
            (
                r#"{"recurrenceType":"custom","cron":"0 9 * *","durationMinutes":30,"fanSpeed":3}"#,
                "cron",
            ),
            (
                r#"{"recurrenceType":"custom","durationMinutes":30,"fanSpeed":3}"#,
                "cron",
            ),
            (
                r#"{"recurrenceType":"custom","cron":"0 9 * * *","startTime":"09:00","durationMinutes":30,"fanSpeed":3}"#,
                "startTime",
            ),
            (
                r#"{"recurrenceType":"custom","cron":"0 9 * * *","durationMinutes":0,"fanSpeed":3}"#,
                "durationMinutes",
            ),
            (
                r#"{"recurrenceType":"custom","cron":"0 9 * * *","durationMinutes":1441,"fanSpeed":3}"#,
                "durationMinutes",
            ),
            (
                r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"10:00","durationMinutes":5,"fanSpeed":3}"#,
                "durationMinutes",
            ),
        ];
        for (json, field) in cases {
            let err = spec(json).unwrap_err();
            assert_eq!(err.field, field, "{json}: {err}");
        }
    }

    #[test]
    fn cron_takes_five_or_six_fields() {
        let five = CronExpr::parse("30 9 * * Mon-Fri").unwrap();
        assert_eq!(five.as_str(), "30 9 * * Mon-Fri");
        assert!(CronExpr::parse("0 30 9 * * Mon-Fri").is_ok());
        assert!(
            CronExpr::parse("*/5 30 9 * * Mon-Fri").is_err(),
            "sub-minute starts"
        );
        assert!(CronExpr::parse("* * * * * *").is_err(), "sub-minute starts");
        assert!(CronExpr::parse("61 30 9 * * *").is_err());
        assert!(CronExpr::parse("0 30 9 * * Mon-Fri 2030").is_err());
        assert!(CronExpr::parse("@daily").is_err());
        assert!(CronExpr::parse("99 9 * * *").is_err());
    }

    #[test]
    fn schedule_json_round_trip_keeps_old_field_names() {
        let at = Timestamp::UNIX_EPOCH;
        let rule = spec(r#"{"recurrenceType":"daily","startTime":"09:00","endTime":"17:00","fanSpeed":3,"timezone":"Europe/London"}"#).unwrap();
        let s = Schedule {
            schedule_id: ScheduleId::generate(at),
            device_id: DeviceId::new("d1").unwrap(),
            rule,
            is_active: true,
            created_at: at,
            updated_at: at,
        };
        let v = serde_json::to_value(&s).unwrap();
        for field in [
            "scheduleId",
            "deviceId",
            "days",
            "day",
            "startTime",
            "endTime",
            "fanSpeed",
            "isActive",
            "timezone",
        ] {
            assert!(v.get(field).is_some(), "{field} missing in {v}");
        }
        assert_eq!(v["days"].as_array().unwrap().len(), 7);
        assert_eq!(v["day"], "Monday");
        assert_eq!(serde_json::from_value::<Schedule>(v).unwrap(), s);
        let custom = spec(r#"{"recurrenceType":"custom","cron":"0 9 * * 1","durationMinutes":45,"fanSpeed":2,"timezone":"UTC"}"#).unwrap();
        let s = Schedule { rule: custom, ..s };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["cron"], "0 9 * * 1");
        assert_eq!(serde_json::from_value::<Schedule>(v).unwrap(), s);
    }
}
