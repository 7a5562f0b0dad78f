//! [`StatisticsDto`]: min/max/avg/count of every metric over a range, optionally as a series of
//! buckets; [`TimelineDto`]: what a device's schedules will make it do.

use praan_core::{
    domain::{DeviceId, Metric, PerMetric},
    schedule::PlannedInterval,
    store::{BucketStats, BucketWidth, MetricStats, Statistics},
};
use serde::Serialize;
use utoipa::ToSchema;

/// Aggregates of one metric; `min`, `max` and `avg` are `null` when `count` is 0.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MetricStatsDto {
    /// Readings that carried the metric.
    pub(crate) count: u64,
    /// Smallest value.
    pub(crate) min: Option<f64>,
    /// Largest value.
    pub(crate) max: Option<f64>,
    /// Mean value.
    pub(crate) avg: Option<f64>,
}

impl From<MetricStats> for MetricStatsDto {
    fn from(m: MetricStats) -> Self {
        Self {
            count: m.count,
            min: m.min,
            max: m.max,
            avg: m.avg,
        }
    }
}

/// Aggregates of every metric, by its wire name.
#[derive(Clone, Copy, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct MetricsStatsDto {
    /// Wi-Fi signal strength, %.
    pub(crate) network_strength: MetricStatsDto,
    /// Temperature, °C.
    pub(crate) temperature: MetricStatsDto,
    /// Relative humidity, %.
    pub(crate) humidity: MetricStatsDto,
    /// PM1, µg/m³.
    pub(crate) pm1: MetricStatsDto,
    /// PM2.5, µg/m³.
    pub(crate) pm25: MetricStatsDto,
    /// PM10, µg/m³.
    pub(crate) pm10: MetricStatsDto,
    /// Sound level, dB.
    pub(crate) sound: MetricStatsDto,
    /// Volatile organic compounds, ppb.
    pub(crate) voc: MetricStatsDto,
}

impl From<&PerMetric<MetricStats>> for MetricsStatsDto {
    fn from(m: &PerMetric<MetricStats>) -> Self {
        let of = |metric: Metric| MetricStatsDto::from(m[metric]);
        Self {
            network_strength: of(Metric::NetworkStrength),
            temperature: of(Metric::Temperature),
            humidity: of(Metric::Humidity),
            pm1: of(Metric::Pm1),
            pm25: of(Metric::Pm25),
            pm10: of(Metric::Pm10),
            sound: of(Metric::Sound),
            voc: of(Metric::Voc),
        }
    }
}

/// One bucket of the series.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BucketDto {
    /// The bucket's start, aligned to its width from the Unix epoch (RFC 3339).
    pub(crate) start: String,
    /// Its exclusive end (RFC 3339).
    pub(crate) end: String,
    /// Readings in the bucket.
    pub(crate) count: u64,
    /// Per metric.
    pub(crate) metrics: MetricsStatsDto,
}

impl BucketDto {
    fn new(b: &BucketStats, width: BucketWidth) -> Self {
        Self {
            start: b.start.to_rfc3339(),
            end: b.start.saturating_add(width.duration()).to_rfc3339(),
            count: b.count,
            metrics: MetricsStatsDto::from(&b.metrics),
        }
    }
}

/// Statistics of a device's readings over `[start, end)`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatisticsDto {
    /// The device.
    pub(crate) device_id: String,
    /// Inclusive start of the range (RFC 3339).
    pub(crate) start: String,
    /// Exclusive end of the range (RFC 3339).
    pub(crate) end: String,
    /// Readings in the range.
    pub(crate) count: u64,
    /// Per metric over the whole range.
    pub(crate) metrics: MetricsStatsDto,
    /// The bucket width asked for (`5m`, `1h`, `1d`, …).
    pub(crate) bucket: Option<String>,
    /// With `bucket`: the non-empty buckets, oldest first (`null` without `bucket`).
    pub(crate) buckets: Option<Vec<BucketDto>>,
}

impl StatisticsDto {
    /// The statistics `s` of `device`, with the series of `bucket`-wide buckets if one was asked.
    pub(crate) fn new(device: &DeviceId, s: &Statistics, bucket: Option<BucketWidth>) -> Self {
        Self {
            device_id: device.to_string(),
            start: s.start.to_rfc3339(),
            end: s.end.to_rfc3339(),
            count: s.count,
            metrics: MetricsStatsDto::from(&s.metrics),
            bucket: bucket.map(|b| b.to_string()),
            buckets: bucket.map(|width| {
                s.buckets
                    .iter()
                    .flatten()
                    .map(|b| BucketDto::new(b, width))
                    .collect()
            }),
        }
    }
}

/// One interval of the planned timeline.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlannedIntervalDto {
    /// Inclusive start (RFC 3339).
    pub(crate) start: String,
    /// Exclusive end (RFC 3339).
    pub(crate) end: String,
    /// Whether the device is on (always `true`: outside windows there is no interval).
    pub(crate) power_on: bool,
    /// The fan speed (the highest of the windows active then).
    pub(crate) fan_speed: u8,
    /// Always `schedule`.
    pub(crate) source: String,
    /// The schedule whose window decides it.
    pub(crate) schedule_id: String,
    /// How many windows are active in the interval (more than one: an overlap).
    pub(crate) overlapping: usize,
}

impl From<&PlannedInterval> for PlannedIntervalDto {
    fn from(p: &PlannedInterval) -> Self {
        Self {
            start: p.start.to_rfc3339(),
            end: p.end.to_rfc3339(),
            power_on: !p.fan_speed.is_off(),
            fan_speed: p.fan_speed.get(),
            source: "schedule".to_owned(),
            schedule_id: p.schedule_id.to_string(),
            overlapping: p.overlapping,
        }
    }
}

/// What a device's enabled schedules will make it do in `[from, to)`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TimelineDto {
    /// The device.
    pub(crate) device_id: String,
    /// Inclusive start (RFC 3339).
    pub(crate) from: String,
    /// Exclusive end (RFC 3339).
    pub(crate) to: String,
    /// The intervals in which a schedule decides, in order; gaps are unscheduled.
    pub(crate) intervals: Vec<PlannedIntervalDto>,
}
