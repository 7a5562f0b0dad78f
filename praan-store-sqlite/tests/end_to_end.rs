//! Devices on the wire, end to end: the real backend — `Engine` + `Ingest` + `MqttTransport` +
//! `SqliteStore` on a temporary file — against real brokers (an embedded rumqttd, Mosquitto child
//! processes) and simulated devices (`praan_simulator::Fleet`, or a plain rumqttc client where a
//! test needs exact control). What they prove:
//!
//! - a fleet of 50 devices, then a graceful fleet shutdown: every reading the broker accepted is
//!   stored exactly once, and every device ends offline (rumqttd and Mosquitto);
//! - a command reaches a simulated device, which acks it: status `acknowledged`, reported state
//!   updated;
//! - a device that never answers gets exactly `maxRetries + 1` byte-identical publishes on the
//!   broker, then the command times out;
//! - spoofed payload ids and malformed topics are rejected, acknowledged to the broker (nothing
//!   comes back on the persistent session) and counted per reason, and nothing of them is stored
//!   while the good readings around them are;
//! - a store outage of seconds (`BEGIN EXCLUSIVE` from another connection) during a broker burst
//!   loses nothing, acknowledges nothing while it lasts, and holds a bounded number of deliveries;
//! - a broker restart while commands await their acks: every command still reaches a terminal
//!   status (`acknowledged` for the device that answers after the restart, `timeout` for the one
//!   that never does), none is left pending.
//!
//! The SIGKILL-and-restart of the backend process is `crash_restart.rs`.
//!
//! Where a test depends on ack timeouts and retries, the engine and the pipeline run on a
//! `FakeClock` the test advances (the transport keeps `SystemClock`, for keep-alives and
//! reconnection); elsewhere everything runs in real time, and every wait is on a condition with
//! a deadline.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod wire;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use praan_core::{
    clock::{Clock, FakeClock, SystemClock},
    codec::{Codec, DeviceMessage, RejectReason},
    command::DeliveryConfig,
    domain::{
        AckStatus, CommandSource, CommandStatus, Device, DeviceId, FanSpeed, FanState, Instruction,
        Timestamp,
    },
    engine::{CommandRequest, EngineConfig},
    ingest::{CHUNK, IngestConfig},
    store::{CommandRepo, DeviceRepo, StateRepo},
    transport::{MqttTransport, Transport},
};
use praan_simulator::{BrokerUrl, Fleet, FleetConfig};
use sqlx::{Connection, SqliteConnection};
use wire::{
    Backend, Burst, Mosquitto, MosquittoOptions, Peer, Rumqttd, RumqttdOptions, TempDb,
    assert_stored_exactly, mosquitto_bin, mqtt_config, pause, reading, wait_for, within,
};

const BUSY: Duration = Duration::from_secs(5);

fn id(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

fn fake_clock() -> FakeClock {
    FakeClock::new(Timestamp::parse_rfc3339("2026-11-28T09:00:00Z").unwrap())
}

fn command(device: &DeviceId, speed: u8) -> CommandRequest {
    CommandRequest {
        device_id: device.clone(),
        instruction: Instruction::set_fan_speed(FanSpeed::new(speed).unwrap()),
        source: CommandSource::Manual,
        idempotency_key: None,
        expires_in: None,
    }
}

// ---- 1. a fleet, then a graceful shutdown -----------------------------------------------------

const FLEET: usize = 50;

/// 50 simulated devices publish a reading every 250 ms until the backend has stored 10 per
/// device, then shut down gracefully. An observer subscribed to `device/+/data` witnesses what
/// the broker accepted and forwarded; the store must hold exactly that, each reading once.
async fn fleet_to_store(url: &str, port: u16, tag: &str) {
    let db = TempDb::new();
    let store = db.open(BUSY).await;
    let backend = Backend::start(
        store.clone(),
        mqtt_config(url, &format!("praan-{tag}")),
        EngineConfig::default(),
        IngestConfig::default(),
        Arc::new(SystemClock),
    )
    .await;
    backend.wait_subscribed(1).await;
    let observer = Peer::start(port, &format!("observer-{tag}"), &["device/+/data"], true);
    observer.wait_subscribed(1).await;

    let mut config = FleetConfig::new(BrokerUrl::parse(url).unwrap(), Arc::new(SystemClock));
    config.devices = FLEET;
    config.interval = Duration::from_millis(250);
    config.id_prefix = "E2E_".into();
    config.seed = 7;
    let fleet = Fleet::new(config).unwrap();
    let ids = fleet.device_ids().to_vec();
    let ingest = backend.ingest.clone();
    let target = 10 * FLEET as u64;
    let shutdown = async move {
        wait_for(
            "10 readings per device stored",
            Duration::from_secs(30),
            || ingest.stats().readings_stored >= target,
        )
        .await;
    };
    let counters = within(Duration::from_secs(60), fleet.run(shutdown))
        .await
        .expect("the fleet runs and shuts down in time");
    assert_eq!(counters.readings_dropped, 0, "{counters:?}");
    assert_eq!(counters.shutdown_timeouts, 0, "{counters:?}");
    assert_eq!(counters.shutdown_notices, FLEET as u64, "{counters:?}");
    assert_eq!(
        counters.connects, FLEET as u64,
        "no reconnection: {counters:?}"
    );
    let published = counters.readings_published;
    assert!(published >= target, "{counters:?}");

    // What the broker accepted: every reading it forwarded to the observer.
    let codec = Codec::default();
    let observed = || {
        let mut by_device: BTreeMap<DeviceId, BTreeSet<Timestamp>> = BTreeMap::new();
        let mut n = 0;
        for (topic, payload) in observer.received() {
            if let Ok(DeviceMessage::Readings {
                device_id,
                readings,
                ..
            }) = codec.decode(&topic, &payload, SystemClock.now())
            {
                n += readings.len() as u64;
                by_device
                    .entry(device_id)
                    .or_default()
                    .extend(readings.iter().map(|r| r.timestamp()));
            }
        }
        (n, by_device)
    };
    wait_for(
        "the observer to see every reading published",
        Duration::from_secs(10),
        || observed().0 >= published,
    )
    .await;
    let (n, observed) = observed();
    assert_eq!(n, published, "the broker forwarded each reading once");
    assert_eq!(
        observed.values().map(BTreeSet::len).sum::<usize>() as u64,
        published,
        "readings have distinct (device, timestamp) keys"
    );
    // Everything stored, then the last messages of the shutdown: per device one `online` status,
    // the shutdown notice and the `offline` status.
    wait_for("every reading stored", Duration::from_secs(10), || {
        backend.ingest.stats().readings_stored >= published
    })
    .await;
    wait_for("the shutdown messages", Duration::from_secs(10), || {
        backend.ingest.stats().received >= published + 3 * FLEET as u64
    })
    .await;
    wait_for(
        "every message acknowledged",
        Duration::from_secs(10),
        || backend.ingest.stats().in_flight() == 0,
    )
    .await;
    let stats = backend.stop().await;
    assert_eq!(stats.readings_stored, published, "{stats:?}");
    assert_eq!(stats.rejected_total(), 0, "{stats:?}");
    assert_eq!(stats.devices_registered, FLEET as u64, "{stats:?}");

    assert_eq!(observed.len(), FLEET, "every device published");
    for device in &ids {
        assert_stored_exactly(&store, device, &observed[device]).await;
        let state = store.device_state(device).await.unwrap().unwrap();
        let presence = state.presence.unwrap();
        assert!(!presence.online, "{device} ends offline: {presence:?}");
    }
}

/// The command delivery of the command tests: 30 s for each of up to 4 publishes.
const DELIVERY: DeliveryConfig = DeliveryConfig {
    ack_timeout: Duration::from_secs(30),
    max_retries: 3,
};

/// A backend whose engine runs on `clock` (a `FakeClock` the test moves) with [`DELIVERY`].
async fn commanding_backend(
    store: &Arc<praan_store_sqlite::SqliteStore>,
    url: &str,
    client_id: &str,
    clock: &FakeClock,
) -> Backend {
    Backend::start(
        store.clone(),
        mqtt_config(url, client_id),
        EngineConfig {
            delivery: DELIVERY,
            ..EngineConfig::default()
        },
        IngestConfig::default(),
        Arc::new(clock.clone()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_shut_down_gracefully_has_every_broker_accepted_reading_stored_once_on_rumqttd() {
    let broker = Rumqttd::start(RumqttdOptions::default()).await.unwrap();
    fleet_to_store(&broker.url(), broker.port(), "rumqttd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_shut_down_gracefully_has_every_broker_accepted_reading_stored_once_on_mosquitto() {
    let test =
        "a_fleet_shut_down_gracefully_has_every_broker_accepted_reading_stored_once_on_mosquitto";
    let Some(bin) = mosquitto_bin(test) else {
        return;
    };
    let broker = Mosquitto::start(bin, MosquittoOptions::default())
        .await
        .unwrap();
    fleet_to_store(&broker.url(), broker.port(), "mosquitto").await;
}

// ---- 2. a command acknowledged by a simulated device ------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_to_a_simulated_device_is_acknowledged() {
    let broker = Rumqttd::start(RumqttdOptions::default()).await.unwrap();
    let db = TempDb::new();
    let store = db.open(BUSY).await;
    let backend = Backend::start(
        store.clone(),
        mqtt_config(&broker.url(), "praan-command"),
        EngineConfig::default(),
        IngestConfig::default(),
        Arc::new(SystemClock),
    )
    .await;
    backend.wait_subscribed(1).await;

    let mut config = FleetConfig::new(
        BrokerUrl::parse(&broker.url()).unwrap(),
        Arc::new(SystemClock),
    );
    config.id_prefix = "CMD_".into();
    config.initial = Some(FanState::OFF);
    let fleet = Fleet::new(config).unwrap();
    let device = fleet.device_ids()[0].clone();
    let counters = fleet.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let fleet = tokio::spawn(fleet.run(async move {
        let _ = stopped.await;
    }));
    // The device subscribes to its command topic before it publishes its first reading (on the
    // same connection, in order): once that reading is stored, a command reaches it.
    wait_for(
        "the device's first reading",
        Duration::from_secs(15),
        || backend.ingest.stats().readings_stored >= 1,
    )
    .await;

    let sent = backend
        .engine
        .send_command(command(&device, 4))
        .await
        .unwrap();
    assert_eq!(sent.status, CommandStatus::Sent);
    let done = within(
        Duration::from_secs(15),
        backend.engine.wait_terminal(sent.command_id),
    )
    .await
    .expect("the ack arrives well within the ack timeout")
    .unwrap();
    assert_eq!(done.status, CommandStatus::Acknowledged, "{done:?}");
    assert_eq!(done.attempts.len(), 1, "acked at the first attempt");
    let response = done.device_response.clone().unwrap();
    assert_eq!(response.status, AckStatus::Success);
    assert_eq!(response.device_id, device);
    let stored = store.get_command(sent.command_id).await.unwrap().unwrap();
    assert_eq!(stored, done, "the terminal record is the stored one");
    // A round trip: the engine has finished handling the ack (its `currentState`).
    backend.engine.control(device.clone()).await.unwrap();
    let reported = store
        .device_state(&device)
        .await
        .unwrap()
        .unwrap()
        .reported
        .unwrap();
    assert_eq!(
        reported.state,
        FanState {
            power_on: true,
            fan_speed: FanSpeed::new(4).unwrap()
        }
    );
    let c = counters.snapshot();
    assert_eq!((c.commands_received, c.acks_published), (1, 1), "{c:?}");

    stop.send(()).unwrap();
    within(Duration::from_secs(15), fleet)
        .await
        .unwrap()
        .unwrap();
    backend.stop().await;
}

// ---- 3. a device that never answers -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_device_gets_max_retries_plus_one_identical_publishes_then_timeout() {
    let broker = Rumqttd::start(RumqttdOptions::default()).await.unwrap();
    let clock = fake_clock();
    let db = TempDb::new();
    let store = db.open(BUSY).await;
    let device = id("SILENT_1");
    store
        .insert_device(&Device::auto_registered(device.clone(), clock.now()))
        .await
        .unwrap();
    let backend = commanding_backend(&store, &broker.url(), "praan-silent", &clock).await;
    backend.wait_subscribed(1).await;
    let silent = Peer::start(
        broker.port(),
        "SILENT_1",
        &["device/SILENT_1/command"],
        true,
    );
    silent.wait_subscribed(1).await;

    let sent = backend
        .engine
        .send_command(command(&device, 3))
        .await
        .unwrap();
    let cid = sent.command_id.to_string();
    let publishes = DELIVERY.max_retries as usize + 1;
    for n in 1..=publishes {
        wait_for(
            &format!("publish {n} on the broker"),
            Duration::from_secs(10),
            || silent.commands(&cid).len() >= n,
        )
        .await;
        // A round trip: the engine has recorded the publish (its next deadline) before simulated
        // time moves on; then the attempt's ack timeout passes (a retry, or after the last one
        // the timeout).
        backend.engine.control(device.clone()).await.unwrap();
        clock.advance(DELIVERY.ack_timeout);
    }
    let done = within(
        Duration::from_secs(10),
        backend.engine.wait_terminal(sent.command_id),
    )
    .await
    .expect("terminal once the last attempt's timeout passed")
    .unwrap();
    assert_eq!(done.status, CommandStatus::Timeout, "{done:?}");
    assert_eq!(done.attempts.len(), publishes);
    assert!(done.attempts.iter().all(|a| a.error.is_none()));
    assert_eq!(
        store.get_command(sent.command_id).await.unwrap().unwrap(),
        done
    );

    // A later command to the same device is published after every earlier publish of the
    // engine's session, and the broker keeps their order: once it arrives, the count is final.
    let marker = backend
        .engine
        .send_command(command(&device, 1))
        .await
        .unwrap();
    let marker_id = marker.command_id.to_string();
    wait_for("the marker command", Duration::from_secs(10), || {
        !silent.commands(&marker_id).is_empty()
    })
    .await;
    let seen = silent.commands(&cid);
    assert_eq!(seen.len(), publishes, "exactly maxRetries + 1 publishes");
    assert!(
        seen.iter().all(|p| *p == seen[0]),
        "every retry is byte-identical"
    );
    backend.stop().await;
}

// ---- 4. spoofed ids and malformed topics ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_ids_and_malformed_topics_are_rejected_acknowledged_and_counted() {
    let test = "spoofed_ids_and_malformed_topics_are_rejected_acknowledged_and_counted";
    let Some(bin) = mosquitto_bin(test) else {
        return;
    };
    let broker = Mosquitto::start(bin, MosquittoOptions::default())
        .await
        .unwrap();
    let db = TempDb::new();
    let store = db.open(BUSY).await;
    // Everything under the prefix, so that malformed topics reach the codec too (the codec's own
    // filters, `device/+/data|ack|status`, leave `device/a/b/data` or `device/x/foo` at the
    // broker).
    let mut mqtt = mqtt_config(&broker.url(), "praan-bad-input");
    mqtt.subscriptions = vec!["device/#".into()];
    let backend = Backend::start(
        store.clone(),
        mqtt.clone(),
        EngineConfig::default(),
        IngestConfig::default(),
        Arc::new(SystemClock),
    )
    .await;
    backend.wait_subscribed(1).await;

    let base = SystemClock.now().saturating_sub(Duration::from_secs(3600));
    let t = |n: u64| base.saturating_add(Duration::from_secs(n));
    let with_id = |device: &str, n: u64| {
        format!(
            r#"{{"deviceId":"{device}","timestamp":"{}","pm25":{n}.5}}"#,
            t(n).to_rfc3339()
        )
    };
    let ack = r#"{"deviceId":"GOOD_2","commandId":"0193f1c2-5c4e-7b7a-9b1e-3f6c2a1d4e5f","status":"success"}"#;
    let messages: Vec<(String, String)> = vec![
        ("device/GOOD_1/data".into(), reading(t(0), 0)),
        ("device/GOOD_1/data".into(), with_id("GOOD_2", 1)), // spoofed
        ("device/a/b/data".into(), reading(t(2), 2)),        // topic: too many levels
        ("device//data".into(), reading(t(3), 3)),           // device_id: empty
        ("device/bad id!/data".into(), reading(t(4), 4)),    // device_id: bad characters
        (format!("device/{}/data", "x".repeat(65)), reading(t(5), 5)), // device_id: too long
        ("device/GOOD_1/foo".into(), reading(t(6), 6)),      // topic: unknown suffix
        ("device/GOOD_1/ack".into(), ack.into()),            // spoofed ack
        ("device/GOOD_1/command".into(), reading(t(7), 7)),  // unexpected topic
        ("device/GOOD_1/data".into(), reading(t(8), 8)),
        ("device/GOOD_2/data".into(), reading(t(9), 9)),
        (
            // A backlog with one good and one spoofed element: the good one is kept.
            "device/GOOD_2/data".into(),
            format!("[{},{}]", with_id("GOOD_2", 10), with_id("GOOD_1", 11)),
        ),
    ];
    let tester = Peer::start(broker.port(), "bad-input-tester", &[], true);
    wait_for("the tester to connect", Duration::from_secs(10), || {
        tester.connacks() >= 1
    })
    .await;
    for (topic, payload) in &messages {
        tester.publish(topic, payload.as_bytes()).await;
    }
    let n = messages.len() as u64;
    wait_for(
        "every message taken and acknowledged",
        Duration::from_secs(15),
        || {
            let s = backend.ingest.stats();
            s.received >= n && s.acked >= n
        },
    )
    .await;
    let stats = backend.ingest.stats();
    let transport_stats = backend.transport.stats();
    assert_eq!((stats.received, stats.acked, stats.ack_failures), (n, n, 0));
    assert_eq!(
        transport_stats.acks_sent, n,
        "a PUBACK for every message: {transport_stats:?}"
    );
    let counts: Vec<(RejectReason, u64)> = RejectReason::ALL
        .into_iter()
        .map(|r| (r, stats.rejected(r)))
        .filter(|(_, c)| *c > 0)
        .collect();
    assert_eq!(
        counts,
        [
            (RejectReason::Topic, 2),
            (RejectReason::DeviceId, 3),
            (RejectReason::UnexpectedTopic, 1),
            (RejectReason::SpoofedDeviceId, 3),
        ],
        "{stats:?}"
    );
    assert_eq!(stats.readings_stored, 4, "{stats:?}");
    let stats = backend.stop().await;
    assert_eq!(stats.ack_failures, 0);

    let (good_1, good_2) = (id("GOOD_1"), id("GOOD_2"));
    assert_stored_exactly(&store, &good_1, &BTreeSet::from([t(0), t(8)])).await;
    assert_stored_exactly(&store, &good_2, &BTreeSet::from([t(9), t(10)])).await;
    assert!(
        store.get_device(&id("a")).await.unwrap().is_none(),
        "a malformed topic registers nothing"
    );
    let mut devices: Vec<String> = store
        .list_devices(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.device_id.to_string())
        .collect();
    devices.sort();
    assert_eq!(devices, ["GOOD_1", "GOOD_2"]);

    // Acknowledged to the broker: the persistent session holds nothing for us. Back on it, the
    // first message is one published after the reconnect, not a redelivery.
    let (again, mut inbound, driver) = MqttTransport::connect(mqtt, Arc::new(SystemClock)).unwrap();
    let driver = tokio::spawn(driver);
    wait_for("the session back", Duration::from_secs(10), || {
        let s = again.stats();
        again.is_connected() && s.subscribed >= 1
    })
    .await;
    tester
        .publish("device/MARKER/data", reading(t(12), 12).as_bytes())
        .await;
    let first = within(Duration::from_secs(10), inbound.recv())
        .await
        .expect("the marker arrives")
        .unwrap();
    assert_eq!(first.topic, "device/MARKER/data", "no redelivery");
    again.ack(first.delivery).await.unwrap();
    again.disconnect();
    within(Duration::from_secs(10), driver)
        .await
        .unwrap()
        .unwrap();
}

// ---- 6. a store outage during a broker burst --------------------------------------------------

const OUTAGE_DEVICES: u64 = 20;
const OUTAGE_TOTAL: u64 = 3_000;
const CAPACITY: usize = 64;
const BATCH: usize = 50;
const OUTAGE: Duration = Duration::from_secs(2);

/// Publishes reading `n` for every `n` of `range`, on the device and at the time `key(n)` says.
async fn publish_readings(
    burst: &mut Burst,
    range: std::ops::Range<u64>,
    key: impl Fn(u64) -> (DeviceId, Timestamp),
) {
    for n in range {
        let (device, at) = key(n);
        burst
            .publish(&format!("device/{device}/data"), reading(at, n).as_bytes())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_during_a_broker_burst_loses_nothing_and_bounds_memory() {
    let test = "a_store_outage_during_a_broker_burst_loses_nothing_and_bounds_memory";
    let Some(bin) = mosquitto_bin(test) else {
        return;
    };
    // Unlimited queue: by default Mosquitto drops what exceeds 1,000 messages queued for us.
    let broker = Mosquitto::start(
        bin,
        MosquittoOptions {
            max_queued_messages: Some(0),
            ..MosquittoOptions::default()
        },
    )
    .await
    .unwrap();
    let db = TempDb::new();
    let store = db.open(Duration::from_millis(50)).await;
    let mut mqtt = mqtt_config(&broker.url(), "praan-outage");
    mqtt.inbound_capacity = CAPACITY;
    let backend = Backend::start(
        store.clone(),
        mqtt,
        EngineConfig::default(),
        IngestConfig {
            max_batch: BATCH,
            max_delay: Duration::from_millis(10),
            commit_when_idle: true,
            store_retry_min: Duration::from_millis(20),
            store_retry_max: Duration::from_millis(200),
            accept_unknown_devices: true,
        },
        Arc::new(SystemClock),
    )
    .await;
    backend.wait_subscribed(1).await;
    let mut burst = Burst::connect(broker.port(), "outage-publisher").await;

    let base = SystemClock
        .now()
        .saturating_sub(Duration::from_secs(86_000));
    let key = |n: u64| {
        (
            id(&format!("OUT_{}", n % OUTAGE_DEVICES)),
            base.saturating_add(Duration::from_millis(n * 10)),
        )
    };
    let half = OUTAGE_TOTAL / 2;
    publish_readings(&mut burst, 0..half, key).await;
    wait_for("the first half stored", Duration::from_secs(30), || {
        backend.ingest.stats().readings_stored >= half
    })
    .await;

    // Another connection locks the database; the second half arrives through the broker.
    let mut other = SqliteConnection::connect(&db.url()).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    let failures = backend.ingest.stats().store_failures;
    publish_readings(&mut burst, half..OUTAGE_TOTAL, key).await;
    wait_for("a failed commit", Duration::from_secs(10), || {
        backend.ingest.stats().store_failures > failures
    })
    .await;
    let at_lock = backend.ingest.stats();
    // What the backend may hold in memory: the transport's channel and local buffer
    // (2 × capacity), and the pipeline's batch plus the rest of one chunk.
    let transport_bound = 2 * CAPACITY as u64;
    let pipeline_bound = (BATCH + CHUNK.min(CAPACITY)) as u64;
    // One look at the backend; the transport's counters are read first and the pipeline's after
    // (newer), so the bounds cannot fail on the moment between the two reads.
    let look = || {
        let transport = backend.transport.stats();
        let ingest = backend.ingest.stats();
        let in_transport = transport.received.saturating_sub(ingest.received);
        assert!(
            in_transport <= transport_bound,
            "the transport holds {in_transport} > {transport_bound}"
        );
        assert!(
            ingest.in_flight() <= pipeline_bound,
            "the pipeline holds {} > {pipeline_bound}",
            ingest.in_flight()
        );
        // The transport counts a PUBACK inside `Transport::ack`, the pipeline counts the ack once
        // that call returned: one ack (the pipeline acks in arrival order, so each call releases
        // one PUBACK) may be in between.
        assert!(
            transport.acks_sent <= ingest.acked + 1,
            "a PUBACK only for what the pipeline acknowledged after its commit: {} sent, {} acked",
            transport.acks_sent,
            ingest.acked
        );
        (in_transport + ingest.in_flight(), ingest)
    };
    let locked_at = SystemClock.now();
    let mut max_held = 0;
    while SystemClock.now() < locked_at.saturating_add(OUTAGE) {
        pause(Duration::from_millis(20)).await;
        let (held, ingest) = look();
        max_held = max_held.max(held);
        assert_eq!(ingest.readings_stored, at_lock.readings_stored);
        assert_eq!(
            ingest.acked, at_lock.acked,
            "nothing acknowledged while locked"
        );
    }
    let during = backend.ingest.stats();
    assert!(
        during.store_failures >= failures + 3,
        "retried with backoff: {during:?}"
    );
    assert!(max_held > 0, "the outage met readings to store");
    assert!(during.readings_stored < OUTAGE_TOTAL);

    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    // The backlog drains; the bounds hold meanwhile too (Mosquitto may now send well beyond its
    // in-flight window at once: then the transport's backpressure is what bounds memory).
    wait_for("every reading stored", Duration::from_secs(30), || {
        look().1.readings_stored >= OUTAGE_TOTAL
    })
    .await;
    burst.wait_all_acked(Duration::from_secs(10)).await;
    assert!(
        burst.acked().iter().all(|a| *a),
        "the broker acknowledged every publish"
    );
    wait_for(
        "every delivery acknowledged",
        Duration::from_secs(10),
        || backend.ingest.stats().in_flight() == 0,
    )
    .await;
    let transport = backend.transport.stats();
    assert_eq!(
        transport.connections, 1,
        "the connection held: {transport:?}"
    );
    let stats = backend.stop().await;
    assert_eq!(
        (stats.readings_stored, stats.readings_duplicate),
        (OUTAGE_TOTAL, 0),
        "{stats:?}"
    );

    let mut expected: BTreeMap<DeviceId, BTreeSet<Timestamp>> = BTreeMap::new();
    for n in 0..OUTAGE_TOTAL {
        let (device, at) = key(n);
        expected.entry(device).or_default().insert(at);
    }
    for (device, stamps) in &expected {
        assert_stored_exactly(&store, device, stamps).await;
    }
}

// ---- 7. a broker restart while commands await their acks --------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_command_still_ends_every_command() {
    let test = "a_broker_restart_mid_command_still_ends_every_command";
    let Some(bin) = mosquitto_bin(test) else {
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
    let clock = fake_clock();
    let db = TempDb::new();
    let store = db.open(BUSY).await;
    let (answers, silent) = (id("ANSWERS_1"), id("SILENT_2"));
    for d in [&answers, &silent] {
        store
            .insert_device(&Device::auto_registered(d.clone(), clock.now()))
            .await
            .unwrap();
    }
    let backend = commanding_backend(&store, &broker.url(), "praan-restart", &clock).await;
    backend.wait_subscribed(1).await;
    let peer_a = Peer::start(
        broker.port(),
        "ANSWERS_1",
        &["device/ANSWERS_1/command"],
        true,
    );
    let peer_s = Peer::start(
        broker.port(),
        "SILENT_2",
        &["device/SILENT_2/command"],
        true,
    );
    peer_a.wait_subscribed(1).await;
    peer_s.wait_subscribed(1).await;

    let cmd_a = backend
        .engine
        .send_command(command(&answers, 3))
        .await
        .unwrap();
    let cmd_s = backend
        .engine
        .send_command(command(&silent, 2))
        .await
        .unwrap();
    let (id_a, id_s) = (cmd_a.command_id.to_string(), cmd_s.command_id.to_string());
    wait_for(
        "the first attempts delivered",
        Duration::from_secs(10),
        || !peer_a.commands(&id_a).is_empty() && !peer_s.commands(&id_s).is_empty(),
    )
    .await;

    // The broker goes away while both commands wait for their acks; a retry falls due meanwhile.
    broker.stop(true).await.unwrap();
    wait_for("the backend to notice", Duration::from_secs(10), || {
        !backend.transport.is_connected()
    })
    .await;
    clock.advance(DELIVERY.ack_timeout);
    backend.engine.control(answers.clone()).await.unwrap(); // a round trip: timers handled
    for cid in [cmd_a.command_id, cmd_s.command_id] {
        let c = store.get_command(cid).await.unwrap().unwrap();
        assert_eq!(c.status, CommandStatus::Sent, "{c:?}");
        assert_eq!(c.attempts.len(), 2, "{c:?}");
        assert!(
            c.attempts[1].error.is_some(),
            "the retry failed to publish: {c:?}"
        );
    }

    // The broker is back (with its persisted sessions); the answering device acks what it gets.
    broker.restart().await.unwrap();
    backend.wait_subscribed(2).await;
    peer_a.wait_subscribed(2).await;
    peer_s.wait_subscribed(2).await;
    assert_eq!(backend.transport.stats().sessions_lost, 0);
    peer_a.answer(true);
    clock.advance(DELIVERY.ack_timeout);
    let done_a = within(
        Duration::from_secs(15),
        backend.engine.wait_terminal(cmd_a.command_id),
    )
    .await
    .expect("the answering device's command ends")
    .unwrap();
    assert_eq!(done_a.status, CommandStatus::Acknowledged, "{done_a:?}");

    // The silent device's command runs out of attempts.
    for _ in 0..DELIVERY.max_retries {
        if store
            .get_command(cmd_s.command_id)
            .await
            .unwrap()
            .unwrap()
            .status
            .is_terminal()
        {
            break;
        }
        clock.advance(DELIVERY.ack_timeout);
        backend.engine.control(silent.clone()).await.unwrap();
    }
    let done_s = within(
        Duration::from_secs(10),
        backend.engine.wait_terminal(cmd_s.command_id),
    )
    .await
    .expect("the silent device's command ends")
    .unwrap();
    assert_eq!(done_s.status, CommandStatus::Timeout, "{done_s:?}");
    assert_eq!(done_s.attempts.len(), DELIVERY.max_retries as usize + 1);
    assert!(
        done_s.attempts[2..].iter().all(|a| a.error.is_none()),
        "published again after the restart: {done_s:?}"
    );
    assert!(
        store.unfinished_commands().await.unwrap().is_empty(),
        "no command left pending or sent"
    );
    backend.stop().await;
}
