//! Devices that will not stay connected: one device reconnecting 100 times in a few seconds
//! (bounded presence changes, no command sent twice by praan), and 1,000 devices reconnecting at
//! once after a broker restart (every session recovers, no reading lost).

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use praan_core::{
    clock::{Clock, SystemClock},
    domain::{FanSpeed, FanState},
};
use praan_simulator::{
    BrokerUrl, Fleet, FleetConfig,
    brokers::{Mosquitto, MosquittoOptions, mosquitto_for_test},
    config::Backoff,
};
use rumqttc::{AsyncClient, Event, LastWill, MqttOptions, Packet, QoS};
use support::{Server, wait_until};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long any one step may take.
const STEP: Duration = Duration::from_secs(60);

/// Counts the `presence` events of one (registered) device's SSE stream
/// (`/api/events?deviceId=`), from now on.
async fn count_presence_events(server: &Server, device: &str) -> Arc<AtomicU64> {
    let count = Arc::new(AtomicU64::new(0));
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.http_port))
        .await
        .unwrap();
    let request = format!(
        "GET /api/events?deviceId={device} HTTP/1.1\r\nHost: praan\r\nAccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let counter = Arc::clone(&count);
    let (opened, on_open) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut opened = Some(opened);
        let mut pending = String::new();
        let mut buf = vec![0_u8; 16 * 1024];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            pending.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(tx) = opened.take() {
                let _ = tx.send(pending.clone());
            }
            while let Some(end) = pending.find('\n') {
                let line: String = pending.drain(..=end).collect();
                if line
                    .strip_prefix("event:")
                    .is_some_and(|name| name.trim() == "presence")
                {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    let head = on_open.await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "the event stream: {head}");
    count
}

/// One connection of the flapping device: connects with its Last Will (retained `offline`),
/// subscribes to its commands, reports `online` (retained) and a reading, waits for the broker's
/// acknowledgements, then drops the connection without a DISCONNECT (so the broker publishes the
/// Will). Returns the commands it received.
async fn flap_once(port: u16, device: &str, reading: u64) -> u64 {
    let mut options = MqttOptions::new(device, "127.0.0.1", port);
    options
        .set_clean_session(false)
        .set_keep_alive(Duration::from_secs(30))
        .set_last_will(LastWill::new(
            format!("device/{device}/status"),
            "offline",
            QoS::AtLeastOnce,
            true,
        ));
    let (client, mut events) = AsyncClient::new(options, 16);
    client
        .subscribe(format!("device/{device}/command"), QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .publish(
            format!("device/{device}/status"),
            QoS::AtLeastOnce,
            true,
            "online",
        )
        .await
        .unwrap();
    let timestamp = format!(
        "2026-11-27T10:00:{:02}.{:03}Z",
        reading / 1000,
        reading % 1000
    );
    client
        .publish(
            format!("device/{device}/data"),
            QoS::AtLeastOnce,
            false,
            format!(r#"{{"timestamp":"{timestamp}","pm25":{reading}}}"#),
        )
        .await
        .unwrap();
    let (mut pubacks, mut commands) = (0, 0);
    let deadline = SystemClock.now().saturating_add(STEP);
    while pubacks < 2 {
        assert!(SystemClock.now() < deadline, "no PUBACKs within {STEP:?}");
        match events.poll().await {
            Ok(Event::Incoming(Packet::PubAck(_))) => pubacks += 1,
            Ok(Event::Incoming(Packet::Publish(_))) => commands += 1,
            Ok(_) => {}
            Err(e) => panic!("flap {reading}: {e}"),
        }
    }
    drop(client);
    drop(events);
    commands
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_reconnecting_100_times_gives_bounded_presence_and_no_repeated_commands() {
    const FLAPS: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let device = "FLAP_1";
    flap_once(server.broker_port, device, 0).await;
    wait_until("the device registered", STEP, || async {
        server
            .get(&format!("/api/device/{device}/latest"))
            .await
            .status
            == 200
    })
    .await;
    let presence = count_presence_events(&server, device).await;
    let command_id = server.command_fan(device, 2).await;

    let started = SystemClock.now();
    let mut received = 0;
    for flap in 1..=FLAPS {
        received += flap_once(server.broker_port, device, flap).await;
    }
    let took = SystemClock.now().saturating_duration_since(started);
    assert!(
        took <= Duration::from_secs(10),
        "{FLAPS} reconnects took {took:?}, not a storm"
    );

    // The device never acks: the command ends `timeout` after its attempts, and reconnecting did
    // not add any (praan retries on its own clock, not on presence).
    wait_until("the command finished", STEP, || async {
        let c = server.get(&format!("/api/commands/{command_id}")).await;
        c.json["data"]["status"] == "timeout"
    })
    .await;
    let command = server.get(&format!("/api/commands/{command_id}")).await;
    let attempts = command.json["data"]["attempts"].as_array().unwrap().len();
    assert!(attempts <= 3, "{attempts} attempts (max-retries is 2)");
    let commands = server.get(&format!("/api/device/{device}/commands")).await;
    assert_eq!(commands.json["count"], 1, "{}", commands.body);

    // Every reading of every connection is stored once; presence changed at most twice per
    // connection (online, then the Will's offline) and ends offline.
    wait_until("every reading stored", STEP, || async {
        let page = server
            .get(&format!("/api/device/{device}/data?limit=1000"))
            .await;
        page.json["count"].as_u64() == Some(FLAPS + 1)
    })
    .await;
    wait_until("the device offline", STEP, || async {
        let state = server.get(&format!("/api/device/{device}/state")).await;
        state.json["data"]["isOnline"] == false
    })
    .await;
    let changes = presence.load(Ordering::Relaxed);
    assert!(
        (2..=2 * (FLAPS + 1)).contains(&changes),
        "{changes} presence events for {} connections",
        FLAPS + 1
    );
    eprintln!(
        "flapping: {} connections in {took:?}, {changes} presence events, command attempts \
         {attempts}, command deliveries seen by the device {received}",
        FLAPS + 1
    );
}

/// The value of `praan_ingest_readings_total{outcome="stored"}` on the server's `/metrics`.
async fn stored(server: &Server) -> u64 {
    let metrics = server.get("/metrics").await;
    metrics
        .body
        .lines()
        .find(|l| l.starts_with("praan_ingest_readings_total{outcome=\"stored\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_devices_reconnecting_after_a_broker_restart_recover_and_lose_nothing() {
    const DEVICES: usize = 1_000;
    let Some(bin) = mosquitto_for_test(
        "a_thousand_devices_reconnecting_after_a_broker_restart_recover_and_lose_nothing",
    ) else {
        return;
    };
    let mut broker = Mosquitto::start(
        bin,
        MosquittoOptions {
            persistence: true,
            max_queued_messages: Some(0),
            max_inflight_messages: Some(1000),
            ..MosquittoOptions::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[&format!("--mqtt-url={}", broker.url())]).await;

    let mut config = FleetConfig::new(
        BrokerUrl::parse(&broker.url()).unwrap(),
        Arc::new(SystemClock),
    );
    config.devices = DEVICES;
    config.id_prefix = "STORM_".to_owned();
    config.interval = Duration::from_secs(1);
    config.initial = Some(FanState::at_speed(FanSpeed::running(2).unwrap()));
    config.connect_rate = 1_000;
    config.persistent_session = true;
    config.backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_secs(1),
    };
    config.shutdown_timeout = Duration::from_secs(10);
    let fleet = Fleet::new(config).unwrap();
    let counters = fleet.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(fleet.run(async move {
        let _ = stopped.await;
    }));
    wait_until("every device connected and reporting", STEP, || async {
        counters.snapshot().connected == DEVICES as u64 && stored(&server).await >= DEVICES as u64
    })
    .await;

    // The broker goes down (saving its sessions) and comes back: every device and praan reconnect
    // at once.
    broker.stop(true).await.unwrap();
    broker.restart().await.unwrap();
    wait_until("every device reconnected", STEP, || async {
        let c = counters.snapshot();
        c.reconnects >= DEVICES as u64 && c.connected == DEVICES as u64
    })
    .await;
    let after_restart = stored(&server).await;
    wait_until("readings flowing again", STEP, || async {
        stored(&server).await >= after_restart + DEVICES as u64
    })
    .await;
    assert_eq!(server.get("/readyz").await.status, 200);

    let _ = stop.send(());
    let end = run.await.unwrap();
    assert_eq!(end.readings_dropped, 0, "{end:?}");
    wait_until("every published reading stored", STEP, || async {
        stored(&server).await >= end.readings_published
    })
    .await;
    let total = stored(&server).await;
    assert_eq!(
        total, end.readings_published,
        "stored vs published: {end:?}"
    );
    eprintln!(
        "storm: {DEVICES} devices, {} reconnects, {} readings published, {total} stored",
        end.reconnects, end.readings_published
    );
}
