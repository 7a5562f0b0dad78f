//! Domain values for the cases: fixed instants, deterministic ids, and records with every field
//! set, so a round trip that drops or truncates a field shows up as an inequality.

use std::time::Duration;

use chrono::Weekday;
use uuid::Uuid;

use crate::domain::{
    Ack, AckStatus, Attempt, Boundary, Command, CommandId, CommandSource, CommandStatus,
    ControlState, CronExpr, DEFAULT_MAX_PRE_CLEAN, DaySet, Device, DeviceId, DeviceStatus, FanMode,
    FanSpeed, FanState, IdempotencyKey, Instruction, Intent, IntentSource, Label, LocalTime,
    Metrics, PerMetric, PreClean, PreCleanDuration, PreCleanId, PreCleanStatus, Presence,
    PresenceReason, Reading, Recurrence, ReportedState, RestoreInfo, RunId, RunOutcome, Schedule,
    ScheduleId, ScheduleRule, ScheduleRun, Specifications, Timestamp, Timezone, WindowEnd,
    WindowKey,
};

/// 2025-12-27T10:00:00.000Z: the instant every case counts from. A whole hour, so it is aligned
/// to 5-minute and 1-hour buckets.
pub(crate) const T0_MS: i64 = 1_766_829_600_000;
/// One second, in milliseconds.
pub(crate) const SEC: i64 = 1_000;
/// One minute, in milliseconds.
pub(crate) const MIN: i64 = 60 * SEC;

/// The instant `offset_ms` after [`T0_MS`].
pub(crate) fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0_MS + offset_ms).expect("fixture instants are representable")
}

/// A device id.
pub(crate) fn id(s: &str) -> DeviceId {
    DeviceId::new(s).expect("fixture device ids follow the grammar")
}

/// A label.
pub(crate) fn label(s: &str) -> Label {
    Label::new("label", s).expect("fixture labels are valid")
}

/// A fan speed 0–5.
pub(crate) fn speed(n: u8) -> FanSpeed {
    FanSpeed::new(n).expect("fixture speeds are 0-5")
}

/// An idempotency key.
pub(crate) fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).expect("fixture keys are visible ASCII")
}

/// A UUID shaped like a v7 one whose order is the order of `n`.
fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

/// Command id number `n` (ids sort by `n`).
pub(crate) fn command_id(n: u128) -> CommandId {
    CommandId::from_uuid(uuid(n))
}

/// Schedule id number `n` (ids sort by `n`).
pub(crate) fn schedule_id(n: u128) -> ScheduleId {
    ScheduleId::from_uuid(uuid(n))
}

/// Pre-clean id number `n` (ids sort by `n`).
pub(crate) fn pre_clean_id(n: u128) -> PreCleanId {
    PreCleanId::from_uuid(uuid(n))
}

/// Run id number `n` (ids sort by `n`).
pub(crate) fn run_id(n: u128) -> RunId {
    RunId::from_uuid(uuid(n))
}

// ---- registry and observed state ----

/// A registered device with every optional field set.
pub(crate) fn device(device_id: &str) -> Device {
    Device {
        device_id: id(device_id),
        name: label(&format!("Purifier {device_id}")),
        device_type: label(Device::DEFAULT_TYPE),
        location: Some(label("Lab 2, north wall")),
        specifications: Specifications {
            max_fan_speed: speed(4),
            model: Some(label("P-400")),
            firmware_version: Some(label("2.1.7")),
        },
        status: DeviceStatus::Active,
        auto_registered: false,
        registered_at: at(123),
        updated_at: at(45_678),
    }
}

/// A device with a given status and type.
pub(crate) fn device_of(device_id: &str, status: DeviceStatus, device_type: &str) -> Device {
    Device {
        status,
        device_type: label(device_type),
        ..device(device_id)
    }
}

/// A reported power-on state at `speed`, reported at `offset_ms`.
pub(crate) fn reported(fan_speed: u8, offset_ms: i64) -> ReportedState {
    ReportedState {
        state: FanState::at_speed(speed(fan_speed)),
        at: at(offset_ms),
    }
}

/// A presence since `offset_ms`.
pub(crate) fn presence(online: bool, offset_ms: i64, reason: PresenceReason) -> Presence {
    Presence {
        online,
        since: at(offset_ms),
        reason,
    }
}

// ---- readings ----

/// Metric values in [`crate::domain::Metric::ALL`] order: network strength, temperature,
/// humidity, pm1, pm25, pm10, sound, voc.
pub(crate) fn metrics(values: [Option<f64>; 8]) -> Metrics {
    PerMetric(values)
}

/// Only pm2.5.
pub(crate) fn pm25_only(pm25: f64) -> Metrics {
    metrics([None, None, None, None, Some(pm25), None, None, None])
}

/// A reading with any fields.
pub(crate) fn reading_with(
    device_id: &str,
    offset_ms: i64,
    received_offset_ms: i64,
    values: Metrics,
    fan_speed: Option<u8>,
    power_on: Option<bool>,
) -> Reading {
    Reading::new(
        id(device_id),
        at(offset_ms),
        at(received_offset_ms),
        values,
        fan_speed.map(speed),
        power_on,
    )
    .expect("fixture readings are valid")
}

/// A reading carrying only pm2.5, received 50 ms after its timestamp.
pub(crate) fn reading(device_id: &str, offset_ms: i64, pm25: f64) -> Reading {
    reading_with(
        device_id,
        offset_ms,
        offset_ms + 50,
        pm25_only(pm25),
        None,
        None,
    )
}

/// A reading carrying power on and `fan_speed` (and pm2.5 1.0), received 50 ms after its
/// timestamp.
pub(crate) fn reading_reporting(device_id: &str, offset_ms: i64, fan_speed: u8) -> Reading {
    reading_with(
        device_id,
        offset_ms,
        offset_ms + 50,
        pm25_only(1.0),
        Some(fan_speed),
        Some(true),
    )
}

// ---- commands ----

/// A pending `setFanSpeed 3` command from the API, created at `created_ms`.
pub(crate) fn command(n: u128, device_id: &str, created_ms: i64) -> Command {
    Command::new(
        command_id(n),
        id(device_id),
        Instruction::set_fan_speed(speed(3)),
        CommandSource::Manual,
        at(created_ms),
    )
}

/// A command with a given status.
pub(crate) fn command_in(
    n: u128,
    device_id: &str,
    created_ms: i64,
    status: CommandStatus,
) -> Command {
    Command {
        status,
        ..command(n, device_id, created_ms)
    }
}

/// A command with a given idempotency key.
pub(crate) fn command_keyed(n: u128, device_id: &str, created_ms: i64, k: &str) -> Command {
    Command {
        idempotency_key: Some(key(k)),
        ..command(n, device_id, created_ms)
    }
}

/// An ack with every optional field set.
pub(crate) fn ack(device_id: &str, n: u128, offset_ms: i64) -> Ack {
    Ack {
        device_id: id(device_id),
        command_id: command_id(n),
        status: AckStatus::Success,
        message: Some("fan set to 4".to_owned()),
        timestamp: at(offset_ms),
        received_at: at(offset_ms + 37),
        current_state: Some(FanState::at_speed(speed(4))),
    }
}

/// A finished command with every optional field set, at instants with non-zero milliseconds.
pub(crate) fn full_command(n: u128, device_id: &str) -> Command {
    Command {
        command_id: command_id(n),
        device_id: id(device_id),
        instruction: Instruction::set_fan_speed(speed(4)),
        source: CommandSource::Schedule,
        status: CommandStatus::Acknowledged,
        created_at: at(1_001),
        sent_at: Some(at(1_002)),
        acknowledged_at: Some(at(7_123)),
        completed_at: Some(at(7_124)),
        attempts: vec![
            Attempt {
                number: 1,
                at: at(1_002),
                error: Some("not connected to the broker".to_owned()),
            },
            Attempt {
                number: 2,
                at: at(6_003),
                error: None,
            },
        ],
        next_deadline: Some(at(11_003)),
        expires_at: Some(at(60_999)),
        error: Some("first attempt timed out".to_owned()),
        device_response: Some(ack(device_id, n, 7_100)),
        late_ack: Some(Ack {
            status: AckStatus::Error,
            message: None,
            current_state: None,
            ..ack(device_id, n, 9_999)
        }),
        idempotency_key: Some(key("req-7f3a")),
        superseded_by: Some(command_id(n + 1)),
    }
}

// ---- schedules ----

/// A weekly schedule, Monday/Wednesday/Friday 22:30–06:15 (crossing midnight) in Kolkata, speed 3.
pub(crate) fn weekly_schedule(n: u128, device_id: &str, created_ms: i64) -> Schedule {
    let rule = ScheduleRule::new(
        Recurrence::Weekly(DaySet::of([Weekday::Mon, Weekday::Wed, Weekday::Fri])),
        Some(LocalTime::new(22, 30).expect("valid time")),
        WindowEnd::At(LocalTime::new(6, 15).expect("valid time")),
        speed(3),
        Timezone::parse("Asia/Kolkata").expect("valid zone"),
    )
    .expect("valid weekly rule");
    schedule(n, device_id, created_ms, rule)
}

/// A daily schedule at 09:00 for 90 minutes in London, speed 5.
pub(crate) fn daily_schedule(n: u128, device_id: &str, created_ms: i64) -> Schedule {
    let rule = ScheduleRule::new(
        Recurrence::Daily,
        Some(LocalTime::new(9, 0).expect("valid time")),
        WindowEnd::After(90),
        speed(5),
        Timezone::parse("Europe/London").expect("valid zone"),
    )
    .expect("valid daily rule");
    schedule(n, device_id, created_ms, rule)
}

/// A custom (cron) schedule for 45 minutes in UTC, speed 2.
pub(crate) fn custom_schedule(n: u128, device_id: &str, created_ms: i64, cron: &str) -> Schedule {
    let rule = ScheduleRule::new(
        Recurrence::Custom(Box::new(CronExpr::parse(cron).expect("valid cron"))),
        None,
        WindowEnd::After(45),
        speed(2),
        Timezone::UTC,
    )
    .expect("valid custom rule");
    schedule(n, device_id, created_ms, rule)
}

fn schedule(n: u128, device_id: &str, created_ms: i64, rule: ScheduleRule) -> Schedule {
    Schedule {
        schedule_id: schedule_id(n),
        device_id: id(device_id),
        rule,
        is_active: true,
        created_at: at(created_ms),
        updated_at: at(created_ms + 999),
    }
}

/// Run number `n` of schedule number `schedule`, applied at `at_ms`.
pub(crate) fn schedule_run(n: u128, schedule: u128, device_id: &str, at_ms: i64) -> ScheduleRun {
    ScheduleRun {
        run_id: run_id(n),
        schedule_id: schedule_id(schedule),
        device_id: id(device_id),
        boundary: Boundary::Start,
        at: at(at_ms),
        outcome: RunOutcome::Applied,
        command_id: Some(command_id(n)),
    }
}

// ---- pre-cleans ----

/// A `MANUAL 4` pre-clean of `seconds`, started at `started_ms`, with `status`. A finished one
/// ended at its `endsAt` and carries what it restored.
pub(crate) fn pre_clean(
    n: u128,
    device_id: &str,
    started_ms: i64,
    seconds: u64,
    status: PreCleanStatus,
) -> PreClean {
    let mode = FanMode::Manual(speed(4));
    let started_at = at(started_ms);
    let ends_at = started_at.saturating_add(Duration::from_secs(seconds));
    let finished = status != PreCleanStatus::Active;
    PreClean {
        pre_clean_id: pre_clean_id(n),
        device_id: id(device_id),
        mode,
        target: mode.target(),
        duration_seconds: PreCleanDuration::new(seconds, DEFAULT_MAX_PRE_CLEAN)
            .expect("fixture durations are at most an hour"),
        started_at,
        ends_at,
        status,
        ended_at: finished.then_some(ends_at),
        command_id: Some(command_id(n)),
        restore: finished.then_some(RestoreInfo {
            target: Some(FanState::at_speed(speed(2))),
            source: Some(IntentSource::Schedule {
                schedule_id: schedule_id(n),
            }),
            command_id: Some(command_id(n + 1)),
            at: ends_at,
        }),
        replaced_by: None,
    }
}

/// A finished pre-clean that ended at `ended_ms`.
pub(crate) fn pre_clean_ended(
    n: u128,
    device_id: &str,
    ended_ms: i64,
    status: PreCleanStatus,
) -> PreClean {
    let mut p = pre_clean(n, device_id, ended_ms - 60 * SEC, 600, status);
    p.ended_at = Some(at(ended_ms));
    p
}

// ---- control ----

/// A control state with every field set: a schedule base, a pre-clean effective state.
pub(crate) fn control(device_id: &str, updated_ms: i64) -> ControlState {
    ControlState {
        device_id: id(device_id),
        base: Some(Intent {
            state: FanState::at_speed(speed(2)),
            source: IntentSource::Schedule {
                schedule_id: schedule_id(1),
            },
            since: at(updated_ms - 1_234),
        }),
        applied_windows: vec![
            WindowKey {
                schedule_id: schedule_id(1),
                start: at(updated_ms - 3_600_123),
                fan_speed: speed(2),
            },
            WindowKey {
                schedule_id: schedule_id(2),
                start: at(updated_ms - 1_800_456),
                fan_speed: speed(4),
            },
        ],
        active_pre_clean: Some(pre_clean_id(3)),
        effective: Some(Intent {
            state: FanState::at_speed(speed(5)),
            source: IntentSource::PreClean {
                pre_clean_id: pre_clean_id(3),
            },
            since: at(updated_ms - 7),
        }),
        updated_at: at(updated_ms),
    }
}
