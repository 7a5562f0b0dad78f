//! `MqttTransport` against real brokers: an embedded rumqttd and Mosquitto child processes.
//!
//! Covers the round trip, manual acknowledgements on a persistent session (un-acked messages come
//! again after a reconnect, acked ones do not, acks in any order), re-subscription after a broker
//! restart, oversized payloads, shared subscriptions and backpressure. Mosquitto tests skip (and
//! say why) without `PRAAN_TEST_MOSQUITTO_BIN`, and fail instead with `PRAAN_REQUIRE_BACKENDS=1`.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod brokers;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use brokers::{
    Mosquitto, MosquittoOptions, assert_silent, mosquitto_bin, recv, start_transport,
    wait_connected, wait_for, wait_subscribed,
};
use bytes::Bytes;
use praan_core::{
    clock::SystemClock,
    codec::Codec,
    transport::{
        Inbound, MqttConfig, MqttPool, MqttTransport, Outbound, Transport, TransportError,
    },
};
use tokio::{sync::mpsc, task::JoinHandle};

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(500);
/// rumqttd's and Mosquitto's limit in the oversized tests: above the codec's 512 KiB, below the
/// transport's 1 MiB.
const BROKER_LIMIT: usize = 600 * 1024;

/// praan's side: persistent session, the codec's subscriptions.
fn backend_config(url: &str, client_id: &str) -> MqttConfig {
    let mut config = MqttConfig::new(url, client_id);
    config.subscriptions = Codec::default().subscriptions();
    config.keep_alive = Duration::from_secs(5);
    config.reconnect.initial = Duration::from_millis(50);
    config.reconnect.max = Duration::from_millis(500);
    config
}

/// A simulated device: a clean session that subscribes to its command topic.
fn device_config(url: &str, device: &str) -> MqttConfig {
    let mut config = MqttConfig::new(url, format!("dev-{device}"));
    config.clean_session = true;
    config.subscriptions = vec![format!("device/{device}/command")];
    config.reconnect.initial = Duration::from_millis(50);
    config.reconnect.max = Duration::from_millis(500);
    config
}

struct Running {
    transport: MqttTransport,
    inbound: mpsc::Receiver<Inbound>,
    driver: JoinHandle<()>,
}

/// Starts a transport and waits until it is connected and subscribed.
async fn connect(config: MqttConfig) -> Running {
    let subscribes = !config.subscriptions.is_empty();
    let (transport, inbound, driver) = start_transport(config);
    if subscribes {
        wait_subscribed(&transport, 1).await;
    } else {
        wait_connected(&transport).await;
    }
    Running {
        transport,
        inbound,
        driver,
    }
}

impl Running {
    /// Disconnects gracefully (queued acks go out first) and waits for the driver to end.
    async fn stop(self) {
        self.transport.disconnect();
        brokers::within(WAIT, self.driver)
            .await
            .expect("the driver ends after disconnect")
            .unwrap();
    }
}

async fn publish(device: &MqttTransport, topic: &str, payload: impl Into<Bytes>) {
    device.publish(Outbound::new(topic, payload)).await.unwrap();
}

/// Publishes a retained message, as a device's presence status.
async fn publish_retained(device: &MqttTransport, topic: &str, payload: impl Into<Bytes>) {
    device
        .publish(Outbound {
            retain: true,
            ..Outbound::new(topic, payload)
        })
        .await
        .unwrap();
}

// ---- round trip ----------------------------------------------------------------------------------

async fn round_trip(url: &str, tag: &str) {
    let mut backend = connect(backend_config(url, &format!("praan-rt-{tag}"))).await;
    let mut device = connect(device_config(url, &format!("rt-{tag}"))).await;
    let data = format!("device/rt-{tag}/data");

    publish(&device.transport, &data, r#"{"pm25":12.5}"#).await;
    let m = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(m.topic, data);
    assert_eq!(m.payload, Bytes::from_static(br#"{"pm25":12.5}"#));
    backend.transport.ack(m.delivery).await.unwrap();

    // And the other way: a command to the device.
    let command = format!("device/rt-{tag}/command");
    backend
        .transport
        .publish(Outbound::new(&command, "cmd-1"))
        .await
        .unwrap();
    let c = recv(&mut device.inbound, WAIT).await;
    assert_eq!(
        (c.topic.as_str(), &c.payload[..]),
        (command.as_str(), &b"cmd-1"[..])
    );
    device.transport.ack(c.delivery).await.unwrap();

    // A retained presence message reaches the live subscriber and, on subscribing, a later one.
    let status = format!("device/rt-{tag}/status");
    publish_retained(&device.transport, &status, "online").await;
    let s = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(
        (s.topic.as_str(), &s.payload[..]),
        (status.as_str(), &b"online"[..])
    );
    backend.transport.ack(s.delivery).await.unwrap();
    let mut late = connect(backend_config(url, &format!("praan-rt-late-{tag}"))).await;
    let s = recv(&mut late.inbound, WAIT).await;
    assert_eq!(
        (s.topic.as_str(), &s.payload[..]),
        (status.as_str(), &b"online"[..])
    );
    late.transport.ack(s.delivery).await.unwrap();
    late.stop().await;

    let stats = backend.transport.stats();
    assert_eq!(stats.connections, 1, "{stats:?}");
    assert_eq!(stats.connection_errors, 0, "{stats:?}");
    assert_eq!(stats.received, 2, "{stats:?}");
    assert_eq!(stats.acks_sent, 2, "{stats:?}");
    backend.stop().await;
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_rumqttd() {
    let broker = brokers::rumqttd(BROKER_LIMIT).await;
    round_trip(&broker.url(), "rumqttd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_mosquitto() {
    let Some(bin) = mosquitto_bin("round_trip_on_mosquitto") else {
        return;
    };
    let broker = Mosquitto::start(bin, MosquittoOptions::default())
        .await
        .unwrap();
    round_trip(&broker.url(), "mosquitto").await;
}

// ---- manual acks on a persistent session ---------------------------------------------------------

/// Receives the next messages until `marker` arrives; returns the payloads before it, acking all.
async fn payloads_until(running: &mut Running, marker: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let m = recv(&mut running.inbound, WAIT).await;
        running.transport.ack(m.delivery).await.unwrap();
        let p = String::from_utf8(m.payload.to_vec()).unwrap();
        if p == marker {
            return seen;
        }
        seen.push(p);
    }
}

async fn unacked_is_redelivered(url: &str, tag: &str) {
    let client_id = format!("praan-redeliver-{tag}");
    let mut backend = connect(backend_config(url, &client_id)).await;
    let device = connect(device_config(url, &format!("redeliver-{tag}"))).await;
    let data = format!("device/redeliver-{tag}/data");

    publish(&device.transport, &data, "m1").await;
    publish(&device.transport, &data, "m2").await;
    let m1 = recv(&mut backend.inbound, WAIT).await;
    let m2 = recv(&mut backend.inbound, WAIT).await;
    assert_eq!((&m1.payload[..], &m2.payload[..]), (&b"m1"[..], &b"m2"[..]));
    backend.transport.ack(m1.delivery).await.unwrap();
    let acks_before = backend.transport.stats().acks_sent;
    backend.stop().await;
    assert!(acks_before >= 1);

    // The same client id on a persistent session: m2 (never acknowledged) comes again, m1 not.
    let mut again = connect(backend_config(url, &client_id)).await;
    publish(&device.transport, &data, "marker").await;
    let before_marker = payloads_until(&mut again, "marker").await;
    assert_eq!(
        before_marker,
        vec!["m2"],
        "only the un-acked message comes again"
    );

    // Everything is acknowledged now: a third session gets nothing.
    again.stop().await;
    let mut third = connect(backend_config(url, &client_id)).await;
    publish(&device.transport, &data, "marker-2").await;
    assert_eq!(
        payloads_until(&mut third, "marker-2").await,
        Vec::<String>::new()
    );
    third.stop().await;
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_message_is_redelivered_after_reconnect_on_rumqttd() {
    let broker = brokers::rumqttd(BROKER_LIMIT).await;
    unacked_is_redelivered(&broker.url(), "rumqttd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_message_is_redelivered_after_reconnect_on_mosquitto() {
    let Some(bin) = mosquitto_bin("unacked_message_is_redelivered_after_reconnect_on_mosquitto")
    else {
        return;
    };
    let broker = Mosquitto::start(bin, MosquittoOptions::default())
        .await
        .unwrap();
    unacked_is_redelivered(&broker.url(), "mosquitto").await;
}

async fn out_of_order_acks(url: &str, tag: &str) {
    let client_id = format!("praan-ooo-{tag}");
    let mut backend = connect(backend_config(url, &client_id)).await;
    let device = connect(device_config(url, &format!("ooo-{tag}"))).await;
    let data = format!("device/ooo-{tag}/data");
    let base = backend.transport.stats().acks_sent;

    for i in 1..=6 {
        publish(&device.transport, &data, format!("m{i}")).await;
    }
    let mut got = Vec::new();
    for i in 1..=6 {
        let m = recv(&mut backend.inbound, WAIT).await;
        assert_eq!(m.payload, Bytes::from(format!("m{i}")), "arrival order");
        got.push(m.delivery);
    }
    let sent = |t: &MqttTransport| t.stats().acks_sent - base;
    // Acks requested out of order are released in arrival order.
    backend.transport.ack(got[2]).await.unwrap(); // m3
    backend.transport.ack(got[4]).await.unwrap(); // m5
    assert_eq!(sent(&backend.transport), 0, "m3 and m5 wait for m1");
    backend.transport.ack(got[0]).await.unwrap(); // m1 → m1
    assert_eq!(sent(&backend.transport), 1);
    backend.transport.ack(got[1]).await.unwrap(); // m2 → m2, m3
    assert_eq!(sent(&backend.transport), 3);
    backend.transport.ack(got[1]).await.unwrap(); // a second ack of m2: nothing
    assert_eq!(sent(&backend.transport), 3);
    // m4 stays un-acked; m6 is acked but must wait behind it.
    backend.transport.ack(got[5]).await.unwrap();
    assert_eq!(sent(&backend.transport), 3);
    backend.stop().await;

    // The broker got PUBACKs for m1..m3 exactly: m4 and the held-back m5, m6 come again.
    let mut again = connect(backend_config(url, &client_id)).await;
    publish(&device.transport, &data, "marker").await;
    let redelivered: BTreeSet<String> = payloads_until(&mut again, "marker")
        .await
        .into_iter()
        .collect();
    assert_eq!(
        redelivered,
        ["m4", "m5", "m6"].into_iter().map(String::from).collect(),
    );
    again.stop().await;
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_acks_on_rumqttd() {
    let broker = brokers::rumqttd(BROKER_LIMIT).await;
    out_of_order_acks(&broker.url(), "rumqttd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_acks_on_mosquitto() {
    let Some(bin) = mosquitto_bin("out_of_order_acks_on_mosquitto") else {
        return;
    };
    let broker = Mosquitto::start(bin, MosquittoOptions::default())
        .await
        .unwrap();
    out_of_order_acks(&broker.url(), "mosquitto").await;
}

// ---- broker restarts -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribes_after_a_broker_restart_that_lost_the_session() {
    let Some(bin) = mosquitto_bin("resubscribes_after_a_broker_restart_that_lost_the_session")
    else {
        return;
    };
    // No persistence: the restarted broker knows nothing of our session or subscriptions, so only
    // the transport's re-subscription on ConnAck makes messages flow again.
    let mut broker = Mosquitto::start(bin, MosquittoOptions::default())
        .await
        .unwrap();
    let url = broker.url();
    let mut backend = connect(backend_config(&url, "praan-restart")).await;
    let device = connect(device_config(&url, "restart")).await;
    let data = "device/restart/data";

    broker.stop(false).await.unwrap(); // SIGKILL
    wait_for("the transport to notice", WAIT, || {
        !backend.transport.is_connected()
    })
    .await;
    broker.restart().await.unwrap();
    wait_subscribed(&backend.transport, 2).await;
    wait_subscribed(&device.transport, 2).await;
    publish(&device.transport, data, "after-restart").await;
    let m = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(m.payload, Bytes::from_static(b"after-restart"));
    backend.transport.ack(m.delivery).await.unwrap();

    let stats = backend.transport.stats();
    assert_eq!(stats.sessions_lost, 1, "{stats:?}");
    assert!(stats.connection_errors >= 1, "{stats:?}");
    backend.stop().await;
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unacked_message_survives_a_persistent_broker_restart() {
    let Some(bin) = mosquitto_bin("unacked_message_survives_a_persistent_broker_restart") else {
        return;
    };
    let mut broker = Mosquitto::start(
        bin,
        MosquittoOptions {
            persistence: true,
            ..MosquittoOptions::default()
        },
    )
    .await
    .unwrap();
    let url = broker.url();
    let mut backend = connect(backend_config(&url, "praan-persist")).await;
    let device = connect(device_config(&url, "persist")).await;
    let data = "device/persist/data";

    publish(&device.transport, data, "held").await;
    let held = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(held.payload, Bytes::from_static(b"held"));

    // A graceful stop saves the session (subscription and the in-flight message) to disk.
    broker.stop(true).await.unwrap();
    wait_for("the transport to notice", WAIT, || {
        !backend.transport.is_connected()
    })
    .await;
    broker.restart().await.unwrap();
    wait_subscribed(&backend.transport, 2).await;
    assert_eq!(
        backend.transport.stats().sessions_lost,
        0,
        "the session was kept"
    );

    // The broker redelivers the message, with a new delivery token. Its ack goes out at once: the
    // un-acked delivery of the lost connection does not hold it back.
    let again = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(again.payload, Bytes::from_static(b"held"));
    assert_ne!(again.delivery, held.delivery);
    let acks = backend.transport.stats().acks_sent;
    backend.transport.ack(again.delivery).await.unwrap();
    assert_eq!(backend.transport.stats().acks_sent, acks + 1);
    // The old delivery's ack is a no-op: its packet id belongs to the lost connection.
    backend.transport.ack(held.delivery).await.unwrap();
    assert_eq!(backend.transport.stats().acks_sent, acks + 1);

    // Messages flow on the restored session; after a reconnect nothing is pending any more.
    wait_subscribed(&device.transport, 2).await;
    publish(&device.transport, data, "after").await;
    let m = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(m.payload, Bytes::from_static(b"after"));
    backend.transport.ack(m.delivery).await.unwrap();
    backend.stop().await;
    let mut third = connect(backend_config(&url, "praan-persist")).await;
    publish(&device.transport, data, "marker").await;
    assert_eq!(
        payloads_until(&mut third, "marker").await,
        Vec::<String>::new()
    );
    third.stop().await;
    device.stop().await;
}

// ---- oversized payloads --------------------------------------------------------------------------

/// A device publishing big payloads: its own limit is above the broker's.
fn big_device_config(url: &str, device: &str) -> MqttConfig {
    let mut config = device_config(url, device);
    config.max_packet_size = 4 * 1024 * 1024;
    config
}

async fn oversized(url: &str, tag: &str, sender_survives: bool) {
    let mut backend = connect(backend_config(url, &format!("praan-big-{tag}"))).await;
    let big = connect(big_device_config(url, &format!("big-{tag}"))).await;
    let mut device = connect(device_config(url, &format!("small-{tag}"))).await;
    let data = format!("device/big-{tag}/data");

    // Above the broker's limit: the broker drops it (Mosquitto) or the sender's connection
    // (rumqttd); praan never sees it.
    publish(&big.transport, &data, vec![b'x'; BROKER_LIMIT + 200 * 1024]).await;
    // Above the codec's 512 KiB but within the broker's limit and ours: it arrives, for the codec
    // to reject and acknowledge.
    let mid = vec![b'y'; 550 * 1024];
    let sender = if sender_survives {
        &big.transport
    } else {
        &device.transport
    };
    if sender_survives {
        publish(sender, &data, mid.clone()).await;
    } else {
        // rumqttd closed the big device's connection; the 550 KiB goes through a fresh device.
        let mut c = big_device_config(url, &format!("mid-{tag}"));
        c.client_id = format!("dev-mid-{tag}");
        let mid_device = connect(c).await;
        publish(&mid_device.transport, &data, mid.clone()).await;
        mid_device.stop().await;
    }
    let m = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(m.payload.len(), mid.len());
    backend.transport.ack(m.delivery).await.unwrap();

    // And a normal message still arrives, on the same connection.
    publish(&device.transport, &data, "normal").await;
    let m = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(m.payload, Bytes::from_static(b"normal"));
    backend.transport.ack(m.delivery).await.unwrap();
    assert_silent(&mut backend.inbound, QUIET).await;

    // Ours: a publish above our own maximum is refused locally, and the connection is unharmed.
    let too_big = vec![b'z'; 1024 * 1024];
    let err = backend
        .transport
        .publish(Outbound::new("device/big/command", too_big))
        .await
        .unwrap_err();
    assert!(
        matches!(err, TransportError::TooLarge { max, .. } if max == 1024 * 1024),
        "{err}"
    );
    backend
        .transport
        .publish(Outbound::new(format!("device/small-{tag}/command"), "ok"))
        .await
        .unwrap();
    let c = recv(&mut device.inbound, WAIT).await;
    assert_eq!(c.payload, Bytes::from_static(b"ok"));
    device.transport.ack(c.delivery).await.unwrap();

    let stats = backend.transport.stats();
    assert_eq!(stats.connections, 1, "never reconnected: {stats:?}");
    assert_eq!(stats.connection_errors, 0, "{stats:?}");
    assert_eq!(stats.oversized_incoming, 0, "{stats:?}");
    assert!(backend.transport.is_connected());
    let big_stats = big.transport.stats();
    if sender_survives {
        assert_eq!(
            big_stats.connections, 1,
            "Mosquitto drops the message, not the sender: {big_stats:?}"
        );
    } else {
        // rumqttd closes the sender's connection; with a clean session the sender drops the
        // packet instead of retransmitting it forever: its reconnections stay bounded.
        wait_for("the big device to reconnect", WAIT, || {
            big.transport.is_connected()
        })
        .await;
        brokers::within(Duration::from_secs(1), std::future::pending::<()>()).await;
        let later = big.transport.stats();
        assert!(later.connections <= 3, "the sender loops: {later:?}");
    }
    backend.stop().await;
    big.stop().await;
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payloads_on_mosquitto() {
    let Some(bin) = mosquitto_bin("oversized_payloads_on_mosquitto") else {
        return;
    };
    let broker = Mosquitto::start(
        bin,
        MosquittoOptions {
            message_size_limit: Some(BROKER_LIMIT),
            ..MosquittoOptions::default()
        },
    )
    .await
    .unwrap();
    oversized(&broker.url(), "mosquitto", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payloads_on_rumqttd() {
    let broker = brokers::rumqttd(BROKER_LIMIT).await;
    oversized(&broker.url(), "rumqttd", false).await;
}

// ---- shared subscriptions ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_splits_messages_on_mosquitto() {
    let Some(bin) = mosquitto_bin("shared_subscription_splits_messages_on_mosquitto") else {
        return;
    };
    let broker = Mosquitto::start(bin, MosquittoOptions::default())
        .await
        .unwrap();
    let url = broker.url();
    let shared = |id: &str| {
        let mut c = backend_config(&url, id);
        c.share_group = Some("praan".to_owned());
        c
    };
    let mut a = connect(shared("praan-share-a")).await;
    let mut b = connect(shared("praan-share-b")).await;
    let device = connect(device_config(&url, "share")).await;
    let data = "device/share/data";

    let n = 40;
    for i in 0..n {
        publish(&device.transport, data, format!("s{i}")).await;
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    wait_for("every message once", WAIT, || {
        for (r, got) in [(&mut a, &mut got_a), (&mut b, &mut got_b)] {
            while let Ok(m) = r.inbound.try_recv() {
                got.push((m.delivery, String::from_utf8(m.payload.to_vec()).unwrap()));
            }
        }
        got_a.len() + got_b.len() >= n
    })
    .await;
    for (r, got) in [(&a, &got_a), (&b, &got_b)] {
        for (d, _) in got {
            r.transport.ack(*d).await.unwrap();
        }
    }
    assert_silent(&mut a.inbound, QUIET).await;
    assert_silent(&mut b.inbound, QUIET).await;
    let all: Vec<&String> = got_a.iter().chain(&got_b).map(|(_, p)| p).collect();
    let unique: BTreeSet<&String> = all.iter().copied().collect();
    assert_eq!(all.len(), n, "each message exactly once across the group");
    assert_eq!(unique.len(), n);
    assert!(
        !got_a.is_empty() && !got_b.is_empty(),
        "both members get a share: {} / {}",
        got_a.len(),
        got_b.len()
    );
    a.stop().await;
    b.stop().await;
    device.stop().await;
}

// ---- a pool of sessions ---------------------------------------------------------------------------

/// The backend's pool (client id `praan-pool-{tag}`, two data sessions), its driver spawned,
/// once every session is subscribed.
async fn start_pool(url: &str, tag: &str) -> (MqttPool, mpsc::Receiver<Inbound>, JoinHandle<()>) {
    let config = backend_config(url, &format!("praan-pool-{tag}"));
    let data = [Codec::default().data_subscription()];
    let (pool, inbound, driver) =
        MqttPool::connect(config, &data, 2, Arc::new(SystemClock)).unwrap();
    let driver = tokio::spawn(driver);
    for session in pool.sessions() {
        wait_subscribed(session, 1).await;
    }
    (pool, inbound, driver)
}

/// `MqttPool` with two data sessions: more readings in flight than one session's window (`window`:
/// the broker's per-connection limit), each through some data session, all acknowledged through
/// the session that delivered them; the retained status through the control session; commands
/// out through it; after a reconnect nothing comes again (on rumqttd, `rumqttd_resends_last`).
async fn pool(url: &str, tag: &str, window: usize, rumqttd_resends_last: bool) {
    let device_id = format!("pool-{tag}");
    let device = connect(device_config(url, &device_id)).await;
    let status = format!("device/{device_id}/status");
    publish_retained(&device.transport, &status, "online").await;

    let (pool, mut inbound, driver) = start_pool(url, tag).await;
    assert!(pool.is_connected());
    let s = recv(&mut inbound, WAIT).await;
    assert_eq!(
        (s.topic.as_str(), &s.payload[..]),
        (status.as_str(), &b"online"[..])
    );
    pool.ack(s.delivery).await.unwrap();

    // More than one session's window, none acknowledged yet: all arrive.
    let n = window + window / 2;
    let data = format!("device/{device_id}/data");
    for i in 0..n {
        publish(&device.transport, &data, format!("r{i}")).await;
    }
    let mut got = Vec::with_capacity(n);
    for _ in 0..n {
        let m = recv(&mut inbound, WAIT).await;
        assert_eq!(m.topic, data);
        got.push(m);
    }
    let payloads: BTreeSet<Bytes> = got.iter().map(|m| m.payload.clone()).collect();
    assert_eq!(payloads.len(), n, "every reading once");
    for m in got.iter().rev() {
        pool.ack(m.delivery).await.unwrap();
    }
    let sessions: Vec<_> = pool.sessions().iter().map(MqttTransport::stats).collect();
    assert_eq!(
        sessions[0].received, 1,
        "the control session took the status: {sessions:?}"
    );
    assert!(
        sessions[1].received > 0 && sessions[2].received > 0,
        "both data sessions took a share: {sessions:?}"
    );
    wait_for("every ack sent", WAIT, || {
        pool.stats().acks_sent == n as u64 + 1
    })
    .await;

    let command = format!("device/{device_id}/command");
    pool.publish(Outbound::new(&command, "cmd-1"))
        .await
        .unwrap();
    let mut device = device;
    let c = recv(&mut device.inbound, WAIT).await;
    assert_eq!(&c.payload[..], b"cmd-1");
    device.transport.ack(c.delivery).await.unwrap();

    // Acknowledged through the right sessions: nothing comes again after a reconnect.
    pool.disconnect();
    brokers::within(WAIT, driver)
        .await
        .expect("the pool's driver ends")
        .unwrap();
    assert!(inbound.recv().await.is_none(), "the merged channel closes");
    let (again, mut inbound, driver) = start_pool(url, tag).await;
    publish(&device.transport, &data, "marker").await;
    loop {
        let m = recv(&mut inbound, WAIT).await;
        again.ack(m.delivery).await.unwrap();
        match &m.payload[..] {
            b"marker" => break,
            b"online" => {} // the retained status, on every new subscription
            // rumqttd 0.20 forwards a shared group's last-read message once more when the group
            // subscribes again (seen every run): a QoS 1 duplicate, which the store deduplicates.
            // Any other message coming again would be an acknowledgement routed wrongly.
            other if rumqttd_resends_last && other == format!("r{}", n - 1).as_bytes() => {}
            other => panic!(
                "redelivered after it was acknowledged: {:?}",
                String::from_utf8_lossy(other)
            ),
        }
    }
    again.disconnect();
    brokers::within(WAIT, driver)
        .await
        .expect("the pool's driver ends")
        .unwrap();
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_takes_more_than_one_window_on_rumqttd() {
    let broker = brokers::rumqttd(BROKER_LIMIT).await;
    // rumqttd 0.20 sends one connection at most 100 un-acknowledged messages.
    pool(&broker.url(), "rumqttd", 100, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_takes_more_than_one_window_on_mosquitto() {
    let Some(bin) = mosquitto_bin("pool_takes_more_than_one_window_on_mosquitto") else {
        return;
    };
    let broker = Mosquitto::start(bin, MosquittoOptions::default())
        .await
        .unwrap();
    // Mosquitto's default max_inflight_messages.
    pool(&broker.url(), "mosquitto", 20, false).await;
}

// ---- backpressure --------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_loses_nothing_and_keeps_the_connection() {
    let broker = brokers::rumqttd(BROKER_LIMIT).await;
    let url = broker.url();
    let mut config = backend_config(&url, "praan-slow");
    config.inbound_capacity = 2;
    let mut backend = connect(config).await;
    let device = connect(device_config(&url, "slow")).await;
    let data = "device/slow/data";

    let n = 50;
    for i in 0..n {
        publish(&device.transport, data, format!("p{i}")).await;
    }
    // Nobody reads for a while: the channel (2) and the local buffer (2) fill, the driver stops
    // reading, the broker holds the rest.
    brokers::within(Duration::from_millis(700), std::future::pending::<()>()).await;
    assert!(backend.transport.is_connected());
    for i in 0..n {
        let m = recv(&mut backend.inbound, WAIT).await;
        assert_eq!(
            m.payload,
            Bytes::from(format!("p{i}")),
            "in order, none lost"
        );
        backend.transport.ack(m.delivery).await.unwrap();
    }
    assert_silent(&mut backend.inbound, QUIET).await;
    let stats = backend.transport.stats();
    assert_eq!(stats.connections, 1, "{stats:?}");
    assert!(
        stats.backpressure_pauses >= 1,
        "the driver did pause: {stats:?}"
    );
    backend.stop().await;
    device.stop().await;
}

// ---- lifecycle -----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_closes_the_inbound_channel_and_later_calls_fail() {
    let broker = brokers::rumqttd(BROKER_LIMIT).await;
    let Running {
        transport,
        mut inbound,
        driver,
    } = connect(backend_config(&broker.url(), "praan-lifecycle")).await;
    transport.disconnect();
    brokers::within(WAIT, driver).await.unwrap().unwrap();
    assert!(inbound.recv().await.is_none(), "the channel closes");
    assert!(!transport.is_connected());
    assert!(matches!(
        transport
            .publish(Outbound::new("device/x/command", "c"))
            .await,
        Err(TransportError::Closed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_stops_the_driver() {
    let broker = brokers::rumqttd(BROKER_LIMIT).await;
    let Running {
        transport,
        inbound: _inbound,
        driver,
    } = connect(backend_config(&broker.url(), "praan-drop")).await;
    let clone = transport.clone();
    drop(transport);
    assert!(clone.is_connected(), "a clone keeps it running");
    drop(clone);
    brokers::within(WAIT, driver)
        .await
        .expect("the driver ends")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_retried_with_backoff_until_it_appears() {
    let port = brokers::free_port().unwrap();
    let mut config = backend_config(&format!("mqtt://127.0.0.1:{port}"), "praan-late");
    config.reconnect.initial = Duration::from_millis(20);
    config.reconnect.max = Duration::from_millis(200);
    let (transport, _inbound, driver) = start_transport(config);
    brokers::within(Duration::from_millis(1000), std::future::pending::<()>()).await;
    let stats = transport.stats();
    assert!(!transport.is_connected());
    // 20 + 40 + 80 + 160 + 200 + 200 … ms: about 8 attempts in a second, not hundreds.
    assert!(
        (2..=12).contains(&stats.connection_errors),
        "capped backoff: {stats:?}"
    );
    assert!(matches!(
        transport
            .publish(Outbound::new("device/x/command", "c"))
            .await,
        Err(TransportError::Disconnected { .. })
    ));
    transport.disconnect();
    brokers::within(WAIT, driver).await.unwrap().unwrap();
}

// ---- credentials and TLS -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_and_password_from_the_url() {
    let Some(bin) = mosquitto_bin("user_and_password_from_the_url") else {
        return;
    };
    let broker = Mosquitto::start(
        bin,
        MosquittoOptions {
            password: Some(("praan".to_owned(), "p@ss:w/rd".to_owned())),
            ..MosquittoOptions::default()
        },
    )
    .await
    .unwrap();
    let port = broker.port();
    // Percent-encoded in the URL: '@' → %40, ':' → %3A, '/' → %2F.
    let url = format!("mqtt://praan:p%40ss%3Aw%2Frd@127.0.0.1:{port}");
    let mut backend = connect(backend_config(&url, "praan-auth")).await;
    let device_url = format!("mqtt://praan:p%40ss%3Aw%2Frd@127.0.0.1:{port}");
    let device = connect(device_config(&device_url, "auth")).await;
    publish(&device.transport, "device/auth/data", "authenticated").await;
    let m = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(m.payload, Bytes::from_static(b"authenticated"));
    backend.transport.ack(m.delivery).await.unwrap();

    // A wrong password is refused (and retried with backoff), never connected.
    let (wrong, _inbound, driver) = start_transport(backend_config(
        &format!("mqtt://praan:nope@127.0.0.1:{port}"),
        "praan-auth-wrong",
    ));
    wait_for("the refusals", WAIT, || {
        wrong.stats().connection_errors >= 2
    })
    .await;
    assert!(!wrong.is_connected());
    assert_eq!(wrong.stats().connections, 0);
    wrong.disconnect();
    brokers::within(WAIT, driver).await.unwrap().unwrap();
    backend.stop().await;
    device.stop().await;
}

/// Runs `openssl` in `dir`; `None` (after saying why, or failing under
/// `PRAAN_REQUIRE_BACKENDS=1`) when there is no `openssl` to run.
fn openssl(dir: &std::path::Path, args: &[&str]) -> Option<()> {
    match std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
    {
        Ok(status) => {
            assert!(status.success(), "openssl {args:?} failed");
            Some(())
        }
        Err(e) => {
            assert!(
                std::env::var("PRAAN_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "openssl is needed for the TLS test and cannot run: {e}"
            );
            #[allow(clippy::print_stdout, reason = "a skip says why")]
            {
                println!("SKIPPED TLS test: cannot run openssl: {e}");
            }
            None
        }
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it, as `ca.pem`, `server.pem`,
/// `server.key` in `dir`; plus an unrelated CA as `other-ca.pem`.
fn make_certificates(dir: &std::path::Path) -> Option<()> {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca = |name: &str, key: &str| -> Vec<String> {
        ["req", "-x509"]
            .iter()
            .chain(&ec)
            .chain(&[
                "-keyout",
                key,
                "-out",
                name,
                "-days",
                "2",
                "-subj",
                "/CN=praan test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ])
            .map(|s| (*s).to_owned())
            .collect()
    };
    let args = ca("ca.pem", "ca.key");
    openssl(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
    let args = ca("other-ca.pem", "other-ca.key");
    openssl(dir, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr)?;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_with_a_private_ca() {
    let Some(bin) = mosquitto_bin("mqtts_with_a_private_ca") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    if make_certificates(dir.path()).is_none() {
        return;
    }
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let other_ca = std::fs::read(dir.path().join("other-ca.pem")).unwrap();
    let broker = Mosquitto::start_in(
        bin,
        dir,
        MosquittoOptions {
            tls_files: Some(("ca.pem".into(), "server.pem".into(), "server.key".into())),
            ..MosquittoOptions::default()
        },
    )
    .await
    .unwrap();
    let url = format!("mqtts://127.0.0.1:{}", broker.port());
    let tls = |config: &mut MqttConfig, pem: &[u8]| {
        config.tls = Some(praan_core::transport::TlsConfig::ca_pem(pem));
    };

    let mut config = backend_config(&url, "praan-tls");
    tls(&mut config, &ca);
    let mut backend = connect(config).await;
    let mut config = device_config(&url, "tls");
    tls(&mut config, &ca);
    let device = connect(config).await;
    publish(&device.transport, "device/tls/data", "encrypted").await;
    let m = recv(&mut backend.inbound, WAIT).await;
    assert_eq!(m.payload, Bytes::from_static(b"encrypted"));
    backend.transport.ack(m.delivery).await.unwrap();

    // A broker certificate from a CA we do not trust is refused.
    let mut config = backend_config(&url, "praan-tls-untrusted");
    tls(&mut config, &other_ca);
    let (untrusted, _inbound, driver) = start_transport(config);
    wait_for("the failed handshakes", WAIT, || {
        untrusted.stats().connection_errors >= 2
    })
    .await;
    assert_eq!(untrusted.stats().connections, 0);
    untrusted.disconnect();
    brokers::within(WAIT, driver).await.unwrap().unwrap();

    // Plain MQTT to the TLS listener does not connect either.
    let plain = format!("mqtt://127.0.0.1:{}", broker.port());
    let (plain, _inbound, driver) = start_transport(backend_config(&plain, "praan-plain"));
    wait_for("the failed attempts", WAIT, || {
        plain.stats().connection_errors >= 1
    })
    .await;
    assert_eq!(plain.stats().connections, 0);
    plain.disconnect();
    brokers::within(WAIT, driver).await.unwrap().unwrap();

    backend.stop().await;
    device.stop().await;
}
