//! [`Reading`]: one telemetry sample, and the [`Metric`]s it carries.

use std::{
    fmt,
    ops::{Index, IndexMut},
};

use serde::{Deserialize, Serialize, Serializer, ser::SerializeMap};

use super::{DeviceId, FanSpeed, FanState, ReportedState, Timestamp, ValidationError};

/// A sensor metric a reading may carry; statistics are computed for each of them.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub enum Metric {
    /// Wi-Fi signal strength, 0–100 %.
    NetworkStrength,
    /// Temperature, −50–100 °C.
    Temperature,
    /// Relative humidity, 0–100 %.
    Humidity,
    /// PM1 particulate matter, ≥ 0 µg/m³.
    Pm1,
    /// PM2.5 particulate matter, ≥ 0 µg/m³.
    Pm25,
    /// PM10 particulate matter, ≥ 0 µg/m³.
    Pm10,
    /// Sound level, ≥ 0 dB.
    Sound,
    /// Volatile organic compounds, ≥ 0 ppb.
    Voc,
}

impl Metric {
    /// Every metric, in wire order.
    pub const ALL: [Self; 8] = [
        Self::NetworkStrength,
        Self::Temperature,
        Self::Humidity,
        Self::Pm1,
        Self::Pm25,
        Self::Pm10,
        Self::Sound,
        Self::Voc,
    ];

    /// The wire (and JSON, and column) name: `networkStrength`, `pm25`, ….
    pub const fn name(self) -> &'static str {
        match self {
            Self::NetworkStrength => "networkStrength",
            Self::Temperature => "temperature",
            Self::Humidity => "humidity",
            Self::Pm1 => "pm1",
            Self::Pm25 => "pm25",
            Self::Pm10 => "pm10",
            Self::Sound => "sound",
            Self::Voc => "voc",
        }
    }

    /// The snake_case name, for database columns and metric labels.
    pub const fn column(self) -> &'static str {
        match self {
            Self::NetworkStrength => "network_strength",
            other => other.name(),
        }
    }

    /// The inclusive range of valid values (`f64::INFINITY` for "no upper bound").
    pub const fn range(self) -> (f64, f64) {
        match self {
            Self::NetworkStrength | Self::Humidity => (0.0, 100.0),
            Self::Temperature => (-50.0, 100.0),
            Self::Pm1 | Self::Pm25 | Self::Pm10 | Self::Sound | Self::Voc => (0.0, f64::INFINITY),
        }
    }

    /// This metric's position in [`Metric::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Checks a value: finite and within [`Metric::range`].
    pub fn check(self, value: f64) -> Result<f64, ValidationError> {
        let (lo, hi) = self.range();
        if !value.is_finite() {
            return Err(ValidationError::new(self.name(), "must be a finite number"));
        }
        if value < lo || value > hi {
            let reason = if hi.is_finite() {
                format!("must be between {lo} and {hi}")
            } else {
                format!("must be at least {lo}")
            };
            return Err(ValidationError::new(self.name(), reason));
        }
        Ok(value)
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One value of `T` per [`Metric`], indexed by metric; serialises as a map keyed by metric name.
#[derive(Clone, Copy, PartialEq, Debug, Default, Deserialize)]
#[serde(try_from = "std::collections::BTreeMap<String, T>")]
#[serde(bound(deserialize = "T: Deserialize<'de> + Default + Copy"))]
pub struct PerMetric<T>(pub [T; 8]);

impl<T> PerMetric<T> {
    /// Builds one value per metric with `f`.
    pub fn from_fn(mut f: impl FnMut(Metric) -> T) -> Self {
        Self(Metric::ALL.map(&mut f))
    }

    /// Pairs of (metric, value), in [`Metric::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Metric, &T)> {
        Metric::ALL.into_iter().zip(self.0.iter())
    }
}

impl<T> Index<Metric> for PerMetric<T> {
    type Output = T;
    fn index(&self, m: Metric) -> &T {
        &self.0[m.index()]
    }
}

impl<T> IndexMut<Metric> for PerMetric<T> {
    fn index_mut(&mut self, m: Metric) -> &mut T {
        &mut self.0[m.index()]
    }
}

impl<T: Serialize> Serialize for PerMetric<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(8))?;
        for (m, v) in self.iter() {
            map.serialize_entry(m.name(), v)?;
        }
        map.end()
    }
}

impl<T: Default + Copy> TryFrom<std::collections::BTreeMap<String, T>> for PerMetric<T> {
    type Error = ValidationError;
    fn try_from(map: std::collections::BTreeMap<String, T>) -> Result<Self, Self::Error> {
        let mut out = Self::default();
        for (k, v) in map {
            let m = Metric::ALL
                .into_iter()
                .find(|m| m.name() == k)
                .ok_or_else(|| ValidationError::new(k.clone(), "is not a metric"))?;
            out[m] = v;
        }
        Ok(out)
    }
}

/// The sensor values of a reading; a device may omit any of them.
pub type Metrics = PerMetric<Option<f64>>;

/// One telemetry sample from a device, identified by `(deviceId, timestamp)`.
///
/// Every metric value is finite and within [`Metric::range`]: [`Reading::new`] and serde check
/// it. JSON uses the wire field names plus `receivedAt`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(
    rename_all = "camelCase",
    try_from = "ReadingRepr",
    into = "ReadingRepr"
)]
pub struct Reading {
    device_id: DeviceId,
    timestamp: Timestamp,
    received_at: Timestamp,
    metrics: Metrics,
    fan_speed: Option<FanSpeed>,
    power_on: Option<bool>,
}

impl Reading {
    /// A reading, if every metric value is finite and within [`Metric::range`].
    pub fn new(
        device_id: DeviceId,
        timestamp: Timestamp,
        received_at: Timestamp,
        metrics: Metrics,
        fan_speed: Option<FanSpeed>,
        power_on: Option<bool>,
    ) -> Result<Self, ValidationError> {
        for (m, v) in metrics.iter() {
            if let Some(v) = *v {
                m.check(v)?;
            }
        }
        Ok(Self {
            device_id,
            timestamp,
            received_at,
            metrics,
            fan_speed,
            power_on,
        })
    }

    /// The device (from the topic).
    pub fn device_id(&self) -> &DeviceId {
        &self.device_id
    }

    /// The device's time of the sample (the receive time when the device sent none).
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// When praan received it.
    pub fn received_at(&self) -> Timestamp {
        self.received_at
    }

    /// The sensor values.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// One sensor value.
    pub fn metric(&self, m: Metric) -> Option<f64> {
        self.metrics[m]
    }

    /// The fan speed the device reported.
    pub fn fan_speed(&self) -> Option<FanSpeed> {
        self.fan_speed
    }

    /// Whether the device reported itself on.
    pub fn power_on(&self) -> Option<bool> {
        self.power_on
    }

    /// The power and speed this reading reports, when it carries both.
    pub fn reported_state(&self) -> Option<ReportedState> {
        Some(ReportedState {
            state: FanState {
                power_on: self.power_on?,
                fan_speed: self.fan_speed?,
            },
            at: self.timestamp,
        })
    }
}

/// The flat JSON shape of a [`Reading`].
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadingRepr {
    device_id: DeviceId,
    timestamp: Timestamp,
    received_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    network_strength: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fan_speed: Option<FanSpeed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    power_on: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    humidity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pm1: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pm25: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pm10: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sound: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    voc: Option<f64>,
}

impl TryFrom<ReadingRepr> for Reading {
    type Error = ValidationError;
    fn try_from(r: ReadingRepr) -> Result<Self, Self::Error> {
        let metrics = PerMetric([
            r.network_strength,
            r.temperature,
            r.humidity,
            r.pm1,
            r.pm25,
            r.pm10,
            r.sound,
            r.voc,
        ]);
        Self::new(
            r.device_id,
            r.timestamp,
            r.received_at,
            metrics,
            r.fan_speed,
            r.power_on,
        )
    }
}

impl From<Reading> for ReadingRepr {
    fn from(r: Reading) -> Self {
        let [
            network_strength,
            temperature,
            humidity,
            pm1,
            pm25,
            pm10,
            sound,
            voc,
        ] = r.metrics.0;
        Self {
            device_id: r.device_id,
            timestamp: r.timestamp,
            received_at: r.received_at,
            network_strength,
            fan_speed: r.fan_speed,
            power_on: r.power_on,
            temperature,
            humidity,
            pm1,
            pm25,
            pm10,
            sound,
            voc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_table_matches_the_wire_names() {
        let names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(
            names,
            [
                "networkStrength",
                "temperature",
                "humidity",
                "pm1",
                "pm25",
                "pm10",
                "sound",
                "voc"
            ]
        );
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(m.index(), i);
        }
    }

    #[test]
    fn ranges_are_inclusive_and_finite_only() {
        assert!(Metric::Temperature.check(-50.0).is_ok());
        assert!(Metric::Temperature.check(-50.1).is_err());
        assert!(Metric::Humidity.check(100.0).is_ok());
        assert!(Metric::Humidity.check(100.01).is_err());
        assert!(Metric::Pm25.check(1e9).is_ok());
        assert!(Metric::Pm25.check(-0.1).is_err());
        assert!(Metric::Voc.check(f64::NAN).is_err());
        assert!(Metric::Sound.check(f64::INFINITY).is_err());
    }

    #[test]
    fn json_round_trip_and_validation() {
        let json = r#"{"deviceId":"d1","timestamp":"2025-12-27T10:00:00.000Z","receivedAt":"2025-12-27T10:00:00.050Z","pm25":36.1,"fanSpeed":3,"powerOn":true}"#;
        let r: Reading = serde_json::from_str(json).unwrap();
        assert_eq!(r.metric(Metric::Pm25), Some(36.1));
        assert_eq!(
            r.reported_state().unwrap().state,
            FanState::at_speed(FanSpeed::new(3).unwrap())
        );
        let out = serde_json::to_string(&r).unwrap();
        assert_eq!(
            out,
            r#"{"deviceId":"d1","timestamp":"2025-12-27T10:00:00.000Z","receivedAt":"2025-12-27T10:00:00.050Z","fanSpeed":3,"powerOn":true,"pm25":36.1}"#
        );
        assert_eq!(serde_json::from_str::<Reading>(&out).unwrap(), r);
        let bad = json.replace("36.1", "-1");
        let err = serde_json::from_str::<Reading>(&bad).unwrap_err();
        assert!(err.to_string().contains("pm25"), "{err}");
    }

    #[test]
    fn per_metric_serialises_as_a_map() {
        let m = PerMetric::from_fn(|m| m.index());
        let json = serde_json::to_string(&m).unwrap();
        assert!(
            json.starts_with(r#"{"networkStrength":0,"temperature":1"#),
            "{json}"
        );
        let back: PerMetric<usize> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
    }
}
