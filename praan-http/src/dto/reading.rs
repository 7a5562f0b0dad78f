//! [`ReadingDto`]: a reading as the API shows it, with the wire field names of PRODUCT.md §1 plus
//! `receivedAt`; [`ReadingPageDto`]: a page of them with the cursor of the next page.

use praan_core::domain::{Metric, Reading};
use serde::Serialize;
use utoipa::ToSchema;

/// One telemetry sample. Metrics the device did not send are left out.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadingDto {
    /// The device.
    pub(crate) device_id: String,
    /// The device's time of the sample (RFC 3339; the receive time when the device sent none).
    pub(crate) timestamp: String,
    /// When praan received it (RFC 3339).
    pub(crate) received_at: String,
    /// Wi-Fi signal strength, 0–100 %.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub(crate) network_strength: Option<f64>,
    /// The fan speed the device reported, 0–5.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 5)]
    pub(crate) fan_speed: Option<u8>,
    /// Whether the device reported itself on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) power_on: Option<bool>,
    /// Temperature, −50–100 °C.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -50, maximum = 100)]
    pub(crate) temperature: Option<f64>,
    /// Relative humidity, 0–100 %.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 100)]
    pub(crate) humidity: Option<f64>,
    /// PM1, µg/m³.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub(crate) pm1: Option<f64>,
    /// PM2.5, µg/m³.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub(crate) pm25: Option<f64>,
    /// PM10, µg/m³.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub(crate) pm10: Option<f64>,
    /// Sound level, dB.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub(crate) sound: Option<f64>,
    /// Volatile organic compounds, ppb.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub(crate) voc: Option<f64>,
}

impl From<&Reading> for ReadingDto {
    fn from(r: &Reading) -> Self {
        Self {
            device_id: r.device_id().to_string(),
            timestamp: r.timestamp().to_rfc3339(),
            received_at: r.received_at().to_rfc3339(),
            network_strength: r.metric(Metric::NetworkStrength),
            fan_speed: r.fan_speed().map(|s| s.get()),
            power_on: r.power_on(),
            temperature: r.metric(Metric::Temperature),
            humidity: r.metric(Metric::Humidity),
            pm1: r.metric(Metric::Pm1),
            pm25: r.metric(Metric::Pm25),
            pm10: r.metric(Metric::Pm10),
            sound: r.metric(Metric::Sound),
            voc: r.metric(Metric::Voc),
        }
    }
}

/// A page of readings, newest first: the list envelope plus the cursor of the next page.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadingPageDto {
    /// Always `true`.
    pub(crate) success: bool,
    /// How many readings `data` holds.
    pub(crate) count: usize,
    /// The readings, newest first.
    pub(crate) data: Vec<ReadingDto>,
    /// Pass it as `cursor` (with the same `startDate`/`endDate`) for the next, older page;
    /// `null` on the last page. Opaque.
    pub(crate) next_cursor: Option<String>,
}
