#![doc = include_str!("../README.md")]

use praan_core::domain::Timestamp;

pub mod engine;
pub mod http;
pub mod latency;
pub mod mongo;
pub mod mqtt;
pub mod soak;
pub mod sqlite;

/// The median of `values` (the upper one of the middle two for an even count; NaN when empty).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The reading of PRODUCT.md §1, as a device publishes it.
pub const READING: &[u8] = br#"{"deviceId":"AIR_PURIFIER_001","timestamp":"2025-12-27T10:00:00.000Z","networkStrength":84.12,"fanSpeed":3,"powerOn":true,"temperature":25.4,"humidity":61.02,"pm1":14.7,"pm25":36.1,"pm10":48.9,"sound":44.3,"voc":31.5}"#;

/// The data topic [`READING`] is published on.
pub const TOPIC: &str = "device/AIR_PURIFIER_001/data";

/// A backlog array of `n` distinct readings (one minute apart), as a device uploads it.
pub fn backlog(n: usize) -> Vec<u8> {
    let items: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"deviceId":"AIR_PURIFIER_001","timestamp":"2025-12-27T{:02}:{:02}:00.000Z","pm25":{}.5,"pm10":48.9,"fanSpeed":3,"powerOn":true}}"#,
                i / 60 % 24,
                i % 60,
                i % 500
            )
        })
        .collect();
    format!("[{}]", items.join(",")).into_bytes()
}

/// The receive time used by the benches.
pub fn received_at() -> Timestamp {
    Timestamp::from_unix_millis(1_766_829_600_050).unwrap_or(Timestamp::UNIX_EPOCH)
}
