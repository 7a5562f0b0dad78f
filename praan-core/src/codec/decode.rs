//! Decoding of the device → backend payloads: readings, shutdown notices, acks, status.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::domain::{
    Ack, AckStatus, CommandId, DeviceId, FanSpeed, FanState, PerMetric, PresenceReason, Reading,
    Timestamp,
};

use super::{CodecLimits, DeviceMessage, RejectReason, Rejection};

/// The longest ack message kept, in characters.
const MAX_ACK_MESSAGE_CHARS: usize = 1024;

/// A reading (or the shutdown notice) as devices send it. Unknown fields are ignored; the fields
/// that are only looked at when they have the expected type are kept as raw JSON values.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReading<'a> {
    #[serde(default, borrow)]
    device_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(default)]
    network_strength: Option<f64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    humidity: Option<f64>,
    #[serde(default)]
    pm1: Option<f64>,
    #[serde(default)]
    pm25: Option<f64>,
    #[serde(default)]
    pm10: Option<f64>,
    #[serde(default)]
    sound: Option<f64>,
    #[serde(default)]
    voc: Option<f64>,
    #[serde(default)]
    fan_speed: Option<i64>,
    #[serde(default)]
    power_on: Option<bool>,
    #[serde(default)]
    auto_off: Option<bool>,
    #[serde(default, borrow)]
    status: Option<&'a RawValue>,
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
}

/// An ack as devices send it. Only `commandId` and `status` are required; a bad `timestamp`,
/// `message` or `currentState` never loses the ack (they are dropped, the ack kept).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireAck<'a> {
    #[serde(default, borrow)]
    device_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    command_id: Cow<'a, str>,
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(default, borrow)]
    message: Option<&'a RawValue>,
    #[serde(default, borrow)]
    timestamp: Option<&'a RawValue>,
    #[serde(default, borrow)]
    current_state: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireState {
    power_on: bool,
    fan_speed: u8,
}

#[derive(Deserialize)]
struct WireStatus {
    online: bool,
}

fn json_error(e: &serde_json::Error) -> Rejection {
    let reason = match e.classify() {
        serde_json::error::Category::Data => RejectReason::WrongType,
        _ => RejectReason::MalformedJson,
    };
    Rejection::new(reason, e.to_string())
}

fn check_sender(claimed: Option<&str>, topic_id: &DeviceId) -> Result<(), Rejection> {
    match claimed {
        Some(id) if id != topic_id.as_str() => Err(Rejection::new(
            RejectReason::SpoofedDeviceId,
            "payload deviceId differs from the topic's",
        )
        .with_field("deviceId")),
        _ => Ok(()),
    }
}

fn raw_str<'a>(raw: Option<&'a RawValue>) -> Option<Cow<'a, str>> {
    raw.and_then(|r| serde_json::from_str::<Cow<'a, str>>(r.get()).ok())
}

/// Decodes a data-topic payload: one reading object, a backlog array, or a shutdown notice.
pub(super) fn data(
    device_id: DeviceId,
    payload: &[u8],
    received_at: Timestamp,
    limits: &CodecLimits,
) -> Result<DeviceMessage, Rejection> {
    match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let items: Vec<&RawValue> =
                serde_json::from_slice(payload).map_err(|e| json_error(&e))?;
            if items.is_empty() {
                return Err(Rejection::new(
                    RejectReason::EmptyBatch,
                    "empty array of readings",
                ));
            }
            if items.len() > limits.max_batch {
                return Err(Rejection::new(
                    RejectReason::BatchTooLarge,
                    format!(
                        "{} readings in one array; the maximum is {}",
                        items.len(),
                        limits.max_batch
                    ),
                ));
            }
            let mut readings = Vec::with_capacity(items.len());
            let mut rejected = Vec::new();
            for (i, item) in items.into_iter().enumerate() {
                let decoded = serde_json::from_str::<WireReading<'_>>(item.get())
                    .map_err(|e| json_error(&e))
                    .and_then(|w| {
                        if is_shutdown(&w) {
                            Err(Rejection::new(
                                RejectReason::WrongType,
                                "a shutdown notice inside a backlog array",
                            ))
                        } else {
                            reading(w, &device_id, received_at, limits)
                        }
                    });
                match decoded {
                    Ok(r) => readings.push(r),
                    Err(mut e) => {
                        e.detail = format!("element {i}: {}", e.detail);
                        rejected.push(e);
                    }
                }
            }
            Ok(DeviceMessage::Readings {
                device_id,
                readings,
                rejected,
            })
        }
        Some(b'{') => {
            let w: WireReading<'_> = serde_json::from_slice(payload).map_err(|e| json_error(&e))?;
            if is_shutdown(&w) {
                check_sender(w.device_id.as_deref(), &device_id)?;
                return Ok(DeviceMessage::ShutdownNotice {
                    message: raw_str(w.message).map(|m| truncate(&m)),
                    device_id,
                    at: received_at,
                });
            }
            let r = reading(w, &device_id, received_at, limits)?;
            Ok(DeviceMessage::Readings {
                device_id,
                readings: vec![r],
                rejected: Vec::new(),
            })
        }
        _ => match serde_json::from_slice::<serde::de::IgnoredAny>(payload) {
            Ok(_) => Err(Rejection::new(
                RejectReason::WrongType,
                "expected a reading object or an array of readings",
            )),
            Err(e) => Err(Rejection::new(RejectReason::MalformedJson, e.to_string())),
        },
    }
}

fn is_shutdown(w: &WireReading<'_>) -> bool {
    raw_str(w.status).is_some_and(|s| s == "offline")
}

fn reading(
    w: WireReading<'_>,
    device_id: &DeviceId,
    received_at: Timestamp,
    limits: &CodecLimits,
) -> Result<Reading, Rejection> {
    check_sender(w.device_id.as_deref(), device_id)?;
    let timestamp = match w.timestamp.as_deref() {
        None => received_at,
        Some(s) => Timestamp::parse_rfc3339(s).map_err(|e| {
            Rejection::new(RejectReason::BadTimestamp, e.reason).with_field("timestamp")
        })?,
    };
    if timestamp > received_at.saturating_add(limits.max_future_skew) {
        return Err(Rejection::new(
            RejectReason::FutureTimestamp,
            format!("timestamp {timestamp} is too far after the receive time {received_at}"),
        )
        .with_field("timestamp"));
    }
    let metrics = PerMetric([
        w.network_strength,
        w.temperature,
        w.humidity,
        w.pm1,
        w.pm25,
        w.pm10,
        w.sound,
        w.voc,
    ]);
    let mut fan_speed = w
        .fan_speed
        .map(|n| {
            u8::try_from(n)
                .ok()
                .and_then(|n| FanSpeed::new(n).ok())
                .ok_or_else(|| {
                    Rejection::new(RejectReason::OutOfRange, "must be an integer from 0 to 5")
                        .with_field("fanSpeed")
                })
        })
        .transpose()?;
    let mut power_on = w.power_on;
    if w.auto_off == Some(true) {
        // The old devices' "I switched myself off" report.
        power_on = Some(false);
        fan_speed = fan_speed.or(Some(FanSpeed::OFF));
    }
    if metrics.0.iter().all(Option::is_none) && power_on.is_none() && fan_speed.is_none() {
        return Err(Rejection::new(
            RejectReason::WrongType,
            "a reading must carry at least one metric, powerOn or fanSpeed",
        ));
    }
    Reading::new(
        device_id.clone(),
        timestamp,
        received_at,
        metrics,
        fan_speed,
        power_on,
    )
    .map_err(|e| {
        let field = e.field.clone();
        Rejection::new(RejectReason::OutOfRange, e.reason).with_field(field)
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_ACK_MESSAGE_CHARS).collect()
}

/// Decodes an ack-topic payload.
pub(super) fn ack(
    device_id: DeviceId,
    payload: &[u8],
    received_at: Timestamp,
    limits: &CodecLimits,
) -> Result<Ack, Rejection> {
    let w: WireAck<'_> = serde_json::from_slice(payload).map_err(|e| json_error(&e))?;
    check_sender(w.device_id.as_deref(), &device_id)?;
    let command_id = CommandId::parse(&w.command_id)
        .map_err(|e| Rejection::new(RejectReason::WrongType, e.reason).with_field("commandId"))?;
    let status = match &*w.status {
        "success" => AckStatus::Success,
        "error" => AckStatus::Error,
        _ => {
            return Err(Rejection::new(
                RejectReason::WrongType,
                "must be \"success\" or \"error\"",
            )
            .with_field("status"));
        }
    };
    let latest = received_at.saturating_add(limits.max_future_skew);
    let timestamp = raw_str(w.timestamp)
        .and_then(|s| Timestamp::parse_rfc3339(&s).ok())
        .filter(|t| *t <= latest)
        .unwrap_or(received_at);
    let current_state = w
        .current_state
        .and_then(|r| serde_json::from_str::<WireState>(r.get()).ok())
        .and_then(|s| {
            Some(FanState {
                power_on: s.power_on,
                fan_speed: FanSpeed::new(s.fan_speed).ok()?,
            })
        });
    Ok(Ack {
        device_id,
        command_id,
        status,
        message: raw_str(w.message).map(|m| truncate(&m)),
        timestamp,
        received_at,
        current_state,
    })
}

/// Decodes a status-topic payload: `online`/`offline` as plain text, or `{"online":bool}`.
pub(super) fn status(
    device_id: DeviceId,
    payload: &[u8],
    received_at: Timestamp,
) -> Result<DeviceMessage, Rejection> {
    let text = std::str::from_utf8(payload)
        .map_err(|_| Rejection::new(RejectReason::BadStatus, "status payload is not UTF-8"))?
        .trim_ascii();
    let (online, reason) = if text.eq_ignore_ascii_case("online") {
        (true, PresenceReason::StatusTopic)
    } else if text.eq_ignore_ascii_case("offline") {
        // The plain `offline` is what devices register as their Last Will.
        (false, PresenceReason::LastWill)
    } else {
        let s: WireStatus = serde_json::from_str(text).map_err(|e| {
            Rejection::new(
                RejectReason::BadStatus,
                format!("expected online, offline or {{\"online\":bool}}: {e}"),
            )
        })?;
        (s.online, PresenceReason::StatusTopic)
    };
    Ok(DeviceMessage::Status {
        device_id,
        online,
        reason,
        at: received_at,
    })
}
