//! A device as the API shows it: its registry record ([`DeviceDto`], [`DeviceConfigDto`]) and its
//! state ([`DeviceStateDto`]: reported, presence, effective with source, active pre-clean).

use praan_core::codec::{TopicKind, TopicPrefix};
use praan_core::domain::{
    CommandAction, ControlState, Device, DeviceState, FanState, Intent, IntentSource, PreClean,
    Presence, ReportedState, Specifications, Timestamp, WindowKey,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::{ReadingDto, wire_name};

/// A device in the registry.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceDto {
    /// Its id.
    pub(crate) device_id: String,
    /// A human name.
    pub(crate) name: String,
    /// The kind of device (`air_purifier` by default).
    #[serde(rename = "type")]
    pub(crate) device_type: String,
    /// Where it is.
    pub(crate) location: Option<String>,
    /// What the hardware can do.
    pub(crate) specifications: SpecificationsDto,
    /// `active`, `inactive` or `maintenance`.
    pub(crate) status: String,
    /// Whether praan registered it on its first message rather than through the API.
    pub(crate) auto_registered: bool,
    /// When it was registered (RFC 3339).
    pub(crate) registered_at: String,
    /// When the record last changed (RFC 3339).
    pub(crate) updated_at: String,
}

/// What the hardware can do.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SpecificationsDto {
    /// The highest fan speed the model supports (1–5); commands above it are refused.
    #[schema(minimum = 1, maximum = 5)]
    pub(crate) max_fan_speed: u8,
    /// The hardware model.
    pub(crate) model: Option<String>,
    /// The firmware version last known.
    pub(crate) firmware_version: Option<String>,
}

impl From<&Specifications> for SpecificationsDto {
    fn from(s: &Specifications) -> Self {
        Self {
            max_fan_speed: s.max_fan_speed.get(),
            model: s.model.as_ref().map(|l| l.as_str().to_owned()),
            firmware_version: s.firmware_version.as_ref().map(|l| l.as_str().to_owned()),
        }
    }
}

impl From<&Device> for DeviceDto {
    fn from(d: &Device) -> Self {
        Self {
            device_id: d.device_id.to_string(),
            name: d.name.as_str().to_owned(),
            device_type: d.device_type.as_str().to_owned(),
            location: d.location.as_ref().map(|l| l.as_str().to_owned()),
            specifications: SpecificationsDto::from(&d.specifications),
            status: wire_name(&d.status),
            auto_registered: d.auto_registered,
            registered_at: d.registered_at.to_rfc3339(),
            updated_at: d.updated_at.to_rfc3339(),
        }
    }
}

/// What a device (or a client configuring it) needs to know to be driven by praan.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceConfigDto {
    /// Its id.
    pub(crate) device_id: String,
    /// The kind of device.
    #[serde(rename = "type")]
    pub(crate) device_type: String,
    /// `active`, `inactive` or `maintenance`.
    pub(crate) status: String,
    /// What the hardware can do.
    pub(crate) specifications: SpecificationsDto,
    /// The lowest fan speed a command may ask for (0: off).
    pub(crate) min_fan_speed: u8,
    /// The highest fan speed a command may ask for (the model's maximum).
    pub(crate) max_fan_speed: u8,
    /// The command actions the device receives: `setFanSpeed`, `turnOn`, `turnOff`.
    pub(crate) actions: Vec<String>,
    /// Its MQTT topics (with the configured prefix).
    pub(crate) topics: TopicsDto,
}

/// A device's MQTT topics.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct TopicsDto {
    /// Where it publishes readings (QoS 1).
    pub(crate) data: String,
    /// Where it acknowledges commands (QoS 1).
    pub(crate) ack: String,
    /// Where it keeps its retained presence and Last Will.
    pub(crate) status: String,
    /// Where it receives commands (QoS 1).
    pub(crate) command: String,
}

impl DeviceConfigDto {
    /// The configuration of `d`, whose topics start with `prefix`.
    pub(crate) fn new(d: &Device, prefix: &TopicPrefix) -> Self {
        let topic = |kind| prefix.topic(&d.device_id, kind);
        Self {
            topics: TopicsDto {
                data: topic(TopicKind::Data),
                ack: topic(TopicKind::Ack),
                status: topic(TopicKind::Status),
                command: topic(TopicKind::Command),
            },
            device_id: d.device_id.to_string(),
            device_type: d.device_type.as_str().to_owned(),
            status: wire_name(&d.status),
            specifications: SpecificationsDto::from(&d.specifications),
            min_fan_speed: 0,
            max_fan_speed: d.specifications.max_fan_speed.get(),
            actions: [
                CommandAction::SetFanSpeed,
                CommandAction::TurnOn,
                CommandAction::TurnOff,
            ]
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        }
    }
}

/// Power and fan speed.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FanStateDto {
    /// Whether the purifier is on.
    pub(crate) power_on: bool,
    /// Its fan speed, 0–5.
    #[schema(minimum = 0, maximum = 5)]
    pub(crate) fan_speed: u8,
}

impl From<FanState> for FanStateDto {
    fn from(s: FanState) -> Self {
        Self {
            power_on: s.power_on,
            fan_speed: s.fan_speed.get(),
        }
    }
}

/// The power and speed the device itself last reported, and when.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReportedDto {
    /// Whether it is on.
    pub(crate) power_on: bool,
    /// Its fan speed, 0–5.
    pub(crate) fan_speed: u8,
    /// The device's time of the report (RFC 3339).
    pub(crate) at: String,
}

impl From<ReportedState> for ReportedDto {
    fn from(r: ReportedState) -> Self {
        Self {
            power_on: r.state.power_on,
            fan_speed: r.state.fan_speed.get(),
            at: r.at.to_rfc3339(),
        }
    }
}

/// Whether the device is reachable, since when and why.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PresenceDto {
    /// Online or not.
    pub(crate) online: bool,
    /// When this presence began (RFC 3339).
    pub(crate) since: String,
    /// What told praan: `status_topic`, `last_will`, `message`, `silence` or `shutdown_notice`.
    pub(crate) reason: String,
}

impl From<Presence> for PresenceDto {
    fn from(p: Presence) -> Self {
        Self {
            online: p.online,
            since: p.since.to_rfc3339(),
            reason: wire_name(&p.reason),
        }
    }
}

/// Where an intended state came from.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntentSourceDto {
    /// `manual`, `schedule`, `pre_clean`, `reported` (captured when a pre-clean started on an
    /// unmanaged device) or `schedule_ended` (the last window ended: off).
    pub(crate) kind: String,
    /// The manual command, for `manual`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) command_id: Option<String>,
    /// The schedule, for `schedule` and `schedule_ended`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) schedule_id: Option<String>,
    /// The pre-clean, for `pre_clean`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pre_clean_id: Option<String>,
}

impl From<IntentSource> for IntentSourceDto {
    fn from(s: IntentSource) -> Self {
        let mut dto = Self {
            kind: String::new(),
            command_id: None,
            schedule_id: None,
            pre_clean_id: None,
        };
        dto.kind = match s {
            IntentSource::Manual { command_id } => {
                dto.command_id = Some(command_id.to_string());
                "manual"
            }
            IntentSource::Schedule { schedule_id } => {
                dto.schedule_id = Some(schedule_id.to_string());
                "schedule"
            }
            IntentSource::PreClean { pre_clean_id } => {
                dto.pre_clean_id = Some(pre_clean_id.to_string());
                "pre_clean"
            }
            IntentSource::Reported => "reported",
            IntentSource::ScheduleEnded { schedule_id } => {
                dto.schedule_id = Some(schedule_id.to_string());
                "schedule_ended"
            }
        }
        .to_owned();
        dto
    }
}

/// A state praan intends, with the source that decided it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IntentDto {
    /// Whether the purifier should be on.
    pub(crate) power_on: bool,
    /// The fan speed it should run at, 0–5.
    pub(crate) fan_speed: u8,
    /// Why.
    pub(crate) source: IntentSourceDto,
    /// Since when (RFC 3339).
    pub(crate) since: String,
}

impl From<Intent> for IntentDto {
    fn from(i: Intent) -> Self {
        Self {
            power_on: i.state.power_on,
            fan_speed: i.state.fan_speed.get(),
            source: IntentSourceDto::from(i.source),
            since: i.since.to_rfc3339(),
        }
    }
}

/// A schedule window praan applied and still considers active.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActiveWindowDto {
    /// The schedule.
    pub(crate) schedule_id: String,
    /// The window's start (RFC 3339).
    pub(crate) start: String,
    /// The schedule's speed.
    pub(crate) fan_speed: u8,
}

impl From<&WindowKey> for ActiveWindowDto {
    fn from(w: &WindowKey) -> Self {
        Self {
            schedule_id: w.schedule_id.to_string(),
            start: w.start.to_rfc3339(),
            fan_speed: w.fan_speed.get(),
        }
    }
}

/// The pre-clean overriding the device now.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ActivePreCleanDto {
    /// Its id.
    pub(crate) pre_clean_id: String,
    /// The mode asked for: `OFF`, `AUTO`, `MANUAL`, `PRE_CLEAN` or a speed.
    pub(crate) target_fan_mode: String,
    /// The state while it is active.
    pub(crate) target: FanStateDto,
    /// When it started (RFC 3339).
    pub(crate) started_at: String,
    /// When it ends (RFC 3339).
    pub(crate) ends_at: String,
    /// Seconds until it ends (never negative).
    pub(crate) remaining_seconds: u64,
    /// The command that applied its target.
    pub(crate) command_id: Option<String>,
}

impl ActivePreCleanDto {
    /// The pre-clean `p` as of `now`.
    pub(crate) fn new(p: &PreClean, now: Timestamp) -> Self {
        Self {
            pre_clean_id: p.pre_clean_id.to_string(),
            target_fan_mode: p.mode.label(),
            target: FanStateDto::from(p.target),
            started_at: p.started_at.to_rfc3339(),
            ends_at: p.ends_at.to_rfc3339(),
            remaining_seconds: p.remaining_seconds(now),
            command_id: p.command_id.map(|c| c.to_string()),
        }
    }
}

/// A device's state: the old clients' flat fields (`deviceId, currentFanSpeed, powerOn, isOnline,
/// lastSeen`) plus what praan knows in detail.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceStateDto {
    /// The device.
    pub(crate) device_id: String,
    /// The fan speed the device last reported (`null` until it reported one).
    pub(crate) current_fan_speed: Option<u8>,
    /// Whether the device last reported itself on (`null` until it reported).
    pub(crate) power_on: Option<bool>,
    /// Whether praan considers it online.
    pub(crate) is_online: bool,
    /// When any message from it was last received (RFC 3339).
    pub(crate) last_seen: Option<String>,
    /// Whether a pre-clean overrides it now.
    pub(crate) pre_clean_active: bool,
    /// The newest power/speed it reported (from a reading or an ack), and when.
    pub(crate) reported: Option<ReportedDto>,
    /// Online or offline, since when and why.
    pub(crate) presence: Option<PresenceDto>,
    /// What praan makes it do now, and why (`null`: unmanaged, praan sends nothing on its own).
    pub(crate) effective: Option<IntentDto>,
    /// The base intent (latest manual command or schedule boundary) the device returns to when a
    /// pre-clean ends.
    pub(crate) base: Option<IntentDto>,
    /// The pre-clean overriding it now.
    pub(crate) active_pre_clean: Option<ActivePreCleanDto>,
    /// The schedule windows active now.
    pub(crate) active_windows: Vec<ActiveWindowDto>,
    /// Its newest reading.
    pub(crate) latest_reading: Option<ReadingDto>,
    /// Its registry record.
    pub(crate) device: DeviceDto,
}

impl DeviceStateDto {
    /// The state of `device` from what the store observed, the control layers' state and the
    /// active pre-clean's record, as of `now`.
    pub(crate) fn new(
        device: &Device,
        observed: Option<&DeviceState>,
        control: Option<&ControlState>,
        pre_clean: Option<&PreClean>,
        now: Timestamp,
    ) -> Self {
        let reported = observed.and_then(|s| s.reported);
        Self {
            device_id: device.device_id.to_string(),
            current_fan_speed: reported.map(|r| r.state.fan_speed.get()),
            power_on: reported.map(|r| r.state.power_on),
            is_online: observed.is_some_and(DeviceState::is_online),
            last_seen: observed.and_then(|s| s.last_seen).map(|t| t.to_rfc3339()),
            pre_clean_active: control.is_some_and(|c| c.active_pre_clean.is_some()),
            reported: reported.map(ReportedDto::from),
            presence: observed.and_then(|s| s.presence).map(PresenceDto::from),
            effective: control.and_then(|c| c.effective).map(IntentDto::from),
            base: control.and_then(|c| c.base).map(IntentDto::from),
            active_pre_clean: pre_clean
                .filter(|p| control.and_then(|c| c.active_pre_clean) == Some(p.pre_clean_id))
                .map(|p| ActivePreCleanDto::new(p, now)),
            active_windows: control
                .map(|c| {
                    c.applied_windows
                        .iter()
                        .map(ActiveWindowDto::from)
                        .collect()
                })
                .unwrap_or_default(),
            latest_reading: observed
                .and_then(|s| s.latest_reading.as_ref())
                .map(ReadingDto::from),
            device: DeviceDto::from(device),
        }
    }
}
