//! A minimal service that embeds praan-core: decode a device message, store it, read it back.

#![doc = include_str!("../README.md")]
#![allow(
    clippy::print_stdout,
    reason = "an example program reports to its user on stdout"
)]

use std::{error::Error, sync::Arc};

use praan_core::{
    clock::{Clock, SystemClock},
    codec::{Codec, DeviceMessage},
    domain::{DeviceId, Metric},
    store::{MemoryStore, Store},
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let clock = SystemClock;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let codec = Codec::default();

    // What a purifier publishes on `device/AIR_PURIFIER_001/data`.
    let payload = br#"{"deviceId":"AIR_PURIFIER_001","pm25":36.1,"fanSpeed":3,"powerOn":true}"#;
    match codec.decode("device/AIR_PURIFIER_001/data", payload, clock.now()) {
        Ok(DeviceMessage::Readings { readings, .. }) => {
            let outcome = store.append_readings(&readings).await?;
            println!("stored {} new reading(s)", outcome.inserted);
        }
        Ok(other) => println!("not a reading: {other:?}"),
        Err(rejection) => println!("rejected: {rejection}"),
    }

    let id = DeviceId::new("AIR_PURIFIER_001")?;
    if let Some(state) = store.device_state(&id).await? {
        let pm25 = state
            .latest_reading
            .as_ref()
            .and_then(|r| r.metric(Metric::Pm25));
        println!(
            "{id}: pm2.5 {pm25:?}, reported {:?}, last seen {:?}",
            state.reported.map(|r| r.state),
            state.last_seen.map(|t| t.to_string())
        );
    }
    Ok(())
}
