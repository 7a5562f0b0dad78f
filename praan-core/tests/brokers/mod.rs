//! Real MQTT brokers for tests (`praan_simulator::brokers`: an embedded rumqttd, Mosquitto child
//! processes, both on free loopback ports), started or failing the test; plus bounded
//! wait-for-condition helpers that sleep only through `SystemClock`.
//!
//! Mosquitto comes from `PRAAN_TEST_MOSQUITTO_BIN` (exported by `scripts/test-services.sh`). When
//! it is unset, [`mosquitto_bin`] says why the test skips — or fails the test when
//! `PRAAN_REQUIRE_BACKENDS=1` (as CI sets it), so CI never passes by skipping.

#![allow(
    dead_code,
    reason = "each test binary uses the part of the support it needs"
)]
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "test support: a failed unwrap is a failed test, and a skip says why on stdout"
)]

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use praan_core::{
    clock::{Clock, SystemClock},
    transport::{Inbound, MqttConfig, MqttTransport},
};
pub use praan_simulator::brokers::{
    Mosquitto, MosquittoOptions, Rumqttd, RumqttdOptions, free_port,
};
use tokio::sync::mpsc;

/// Waits until `condition` holds, checking every 20 ms; panics after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(timeout);
    loop {
        if condition() {
            return;
        }
        assert!(
            clock.now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        clock
            .sleep_until(clock.now().saturating_add(Duration::from_millis(20)))
            .await;
    }
}

/// `future`'s output, or `None` once `timeout` has passed.
pub async fn within<T>(timeout: Duration, future: impl Future<Output = T>) -> Option<T> {
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(timeout);
    tokio::select! {
        out = future => Some(out),
        () = clock.sleep_until(deadline) => None,
    }
}

/// The next inbound message; panics when none arrives within `timeout` or the channel closed.
pub async fn recv(rx: &mut mpsc::Receiver<Inbound>, timeout: Duration) -> Inbound {
    within(timeout, rx.recv())
        .await
        .unwrap_or_else(|| panic!("no message within {timeout:?}"))
        .expect("the inbound channel closed")
}

/// Asserts that no message arrives within `quiet`.
pub async fn assert_silent(rx: &mut mpsc::Receiver<Inbound>, quiet: Duration) {
    if let Some(Some(m)) = within(quiet, rx.recv()).await {
        panic!("unexpected message on {}: {:?}", m.topic, m.payload);
    }
}

/// Waits until the transport is connected (10 s at most).
pub async fn wait_connected(transport: &MqttTransport) {
    use praan_core::transport::Transport;
    wait_for("the transport to connect", Duration::from_secs(10), || {
        transport.is_connected()
    })
    .await;
}

/// Waits until the transport is connected for the `connection`-th time and that connection's
/// subscriptions are acknowledged by the broker (10 s at most).
pub async fn wait_subscribed(transport: &MqttTransport, connection: u64) {
    use praan_core::transport::Transport;
    wait_for(
        &format!("connection {connection} to be subscribed"),
        Duration::from_secs(10),
        || {
            let stats = transport.stats();
            transport.is_connected()
                && stats.connections == connection
                && stats.subscribed >= connection
        },
    )
    .await;
}

/// Connects a transport with `config` and spawns its driver on the current runtime.
pub fn start_transport(
    config: MqttConfig,
) -> (
    MqttTransport,
    mpsc::Receiver<Inbound>,
    tokio::task::JoinHandle<()>,
) {
    let (transport, inbound, driver) = MqttTransport::connect(config, Arc::new(SystemClock))
        .expect("a valid transport configuration");
    (transport, inbound, tokio::spawn(driver))
}

// ---- brokers ----------------------------------------------------------------------------------

/// Starts an embedded rumqttd whose connections accept payloads of up to `max_payload_size`
/// bytes.
pub async fn rumqttd(max_payload_size: usize) -> Rumqttd {
    Rumqttd::start(RumqttdOptions {
        max_payload_size,
        ..RumqttdOptions::default()
    })
    .await
    .unwrap()
}

/// Starts a Mosquitto child process with `options`.
pub async fn mosquitto(bin: PathBuf, options: MosquittoOptions) -> Mosquitto {
    Mosquitto::start(bin, options).await.unwrap()
}

/// The Mosquitto binary for `test`, or `None` after saying why it skips (fails instead when
/// `PRAAN_REQUIRE_BACKENDS=1`).
pub fn mosquitto_bin(test: &str) -> Option<PathBuf> {
    praan_simulator::brokers::mosquitto_for_test(test)
}
