//! `device_states`: what praan observed of each device, one document per device, `_id` = device
//! id. Written only with conditional update operators (the newest wins), never replaced whole.

use mongodb::bson::{
    Bson, DateTime, RawBson, RawDocumentBuf,
    raw::{CStr, cstr},
    rawdoc,
};
use praan_core::domain::{
    DeviceId, DeviceState, FanSpeed, FanState, Presence, PresenceReason, Reading, ReportedState,
    ValidationError,
};
use serde::{Deserialize, Serialize};

use super::{ReadingRecord, to_bson, to_timestamp, to_timestamp_opt};

/// Field names, shared by the conditional updates.
pub(crate) const REPORTED: &CStr = cstr!("reported");
pub(crate) const PRESENCE: &CStr = cstr!("presence");
pub(crate) const LAST_SEEN: &CStr = cstr!("lastSeen");
pub(crate) const LATEST_READING: &CStr = cstr!("latestReading");

/// A device's observed state.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StateRecord {
    #[serde(rename = "_id")]
    device_id: DeviceId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reported: Option<ReportedRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    presence: Option<PresenceRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latest_reading: Option<ReadingRecord>,
}

impl TryFrom<StateRecord> for DeviceState {
    type Error = ValidationError;
    fn try_from(r: StateRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            device_id: r.device_id,
            reported: r.reported.map(ReportedState::try_from).transpose()?,
            presence: r.presence.map(Presence::try_from).transpose()?,
            last_seen: to_timestamp_opt(r.last_seen)?,
            latest_reading: r.latest_reading.map(Reading::try_from).transpose()?,
        })
    }
}

/// A reported power and speed, and the device's time of the report.
///
/// The field order is part of the format: `appendReadings` raises the report with MongoDB's `$max`,
/// which compares embedded documents field by field, so `at` comes first, then `rank`, which
/// breaks a tie of `at` in favour of the stored report (the first wins): a report from
/// [`record_reported`](praan_core::store::StateRepo::record_reported) ranks `0`, one from a reading
/// `MinKey`, below every value (and two readings of a device never share a timestamp).
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportedRecord {
    at: DateTime,
    #[serde(default)]
    rank: Bson,
    power_on: bool,
    fan_speed: FanSpeed,
}

impl ReportedRecord {
    /// The `rank` of a report from `record_reported`.
    const RECORDED: Bson = Bson::Int32(0);

    /// A report from a reading, as `appendReadings` raises it with `$max`.
    pub(crate) fn from_reading(r: ReportedState) -> RawDocumentBuf {
        rawdoc! {
            "at": to_bson(r.at),
            "rank": RawBson::MinKey,
            "powerOn": r.state.power_on,
            "fanSpeed": i32::from(r.state.fan_speed.get()),
        }
    }
}

impl From<ReportedState> for ReportedRecord {
    fn from(r: ReportedState) -> Self {
        Self {
            at: to_bson(r.at),
            rank: Self::RECORDED,
            power_on: r.state.power_on,
            fan_speed: r.state.fan_speed,
        }
    }
}

impl TryFrom<ReportedRecord> for ReportedState {
    type Error = ValidationError;
    fn try_from(r: ReportedRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            state: FanState {
                power_on: r.power_on,
                fan_speed: r.fan_speed,
            },
            at: to_timestamp(r.at)?,
        })
    }
}

/// Online or not, since when (`since`, compared by the conditional update) and why.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PresenceRecord {
    online: bool,
    since: DateTime,
    reason: PresenceReason,
}

impl From<Presence> for PresenceRecord {
    fn from(p: Presence) -> Self {
        Self {
            online: p.online,
            since: to_bson(p.since),
            reason: p.reason,
        }
    }
}

impl TryFrom<PresenceRecord> for Presence {
    type Error = ValidationError;
    fn try_from(p: PresenceRecord) -> Result<Self, Self::Error> {
        Ok(Self {
            online: p.online,
            since: to_timestamp(p.since)?,
            reason: p.reason,
        })
    }
}
