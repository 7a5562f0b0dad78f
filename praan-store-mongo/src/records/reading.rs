//! `readings`: one document per reading, unique on `(deviceId, timestamp)`.

use mongodb::bson::DateTime;
use praan_core::domain::{DeviceId, FanSpeed, PerMetric, Reading, ValidationError};
use serde::{Deserialize, Serialize};

use super::{to_bson, to_timestamp};

/// A reading: the wire's field names, instants as datetimes, absent metrics left out. The
/// collection's `_id` is a driver-generated ObjectId (ignored when reading back); the same shape,
/// without `_id`, is a device state's `latestReading`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReadingRecord {
    device_id: DeviceId,
    timestamp: DateTime,
    received_at: DateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    network_strength: Option<f64>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fan_speed: Option<FanSpeed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    power_on: Option<bool>,
}

impl From<&Reading> for ReadingRecord {
    fn from(r: &Reading) -> Self {
        let [
            network_strength,
            temperature,
            humidity,
            pm1,
            pm25,
            pm10,
            sound,
            voc,
        ] = r.metrics().0;
        Self {
            device_id: r.device_id().clone(),
            timestamp: to_bson(r.timestamp()),
            received_at: to_bson(r.received_at()),
            network_strength,
            temperature,
            humidity,
            pm1,
            pm25,
            pm10,
            sound,
            voc,
            fan_speed: r.fan_speed(),
            power_on: r.power_on(),
        }
    }
}

impl TryFrom<ReadingRecord> for Reading {
    type Error = ValidationError;
    fn try_from(r: ReadingRecord) -> Result<Self, Self::Error> {
        // In `Metric::ALL` order, as `PerMetric` is indexed.
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
        Reading::new(
            r.device_id,
            to_timestamp(r.timestamp)?,
            to_timestamp(r.received_at)?,
            metrics,
            r.fan_speed,
            r.power_on,
        )
    }
}

#[cfg(test)]
mod tests {
    use praan_core::domain::{Metric, Timestamp};

    use super::*;

    #[test]
    fn field_names_are_the_metric_names() {
        let values = PerMetric::from_fn(|m| Some(m.index() as f64));
        let reading = Reading::new(
            DeviceId::new("d1").unwrap(),
            Timestamp::from_unix_millis(1_766_829_600_123).unwrap(),
            Timestamp::from_unix_millis(1_766_829_600_456).unwrap(),
            values,
            Some(FanSpeed::new(3).unwrap()),
            Some(true),
        )
        .unwrap();
        let doc = mongodb::bson::serialize_to_document(&ReadingRecord::from(&reading)).unwrap();
        for m in Metric::ALL {
            assert_eq!(doc.get_f64(m.name()).unwrap(), m.index() as f64, "{m}");
        }
        assert_eq!(
            doc.get_datetime("timestamp").unwrap().timestamp_millis(),
            1_766_829_600_123
        );
        assert_eq!(
            doc.get_datetime("receivedAt").unwrap().timestamp_millis(),
            1_766_829_600_456
        );
        assert_eq!(doc.get_i32("fanSpeed").unwrap(), 3);
        let back: ReadingRecord = mongodb::bson::deserialize_from_document(doc).unwrap();
        assert_eq!(Reading::try_from(back).unwrap(), reading);
    }
}
