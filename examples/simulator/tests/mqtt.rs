//! The simulator on a real broker (embedded rumqttd on 127.0.0.1): readings a plain subscriber
//! decodes with praan's codec, commands acked with `currentState` (duplicates too), the retained
//! status, the Last Will, reconnection with backoff, and the graceful shutdown notice.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

mod support;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use praan_core::{
    clock::{Clock, SystemClock},
    codec::{Codec, DeviceMessage},
    domain::{AckStatus, CommandId, FanSpeed, FanState, PresenceReason},
};
use praan_simulator::{
    BrokerUrl, Fleet, FleetConfig,
    config::Backoff,
    fleet::{CountersSnapshot, SHUTDOWN_MESSAGE},
};
use rumqttc::QoS;
use support::{Msg, Probe, Proxy, before, deadline, start_broker};
use tokio::sync::oneshot;

fn config(port: u16, devices: usize, id_prefix: &str) -> FleetConfig {
    let mut c = FleetConfig::new(
        BrokerUrl::parse(&format!("mqtt://127.0.0.1:{port}")).unwrap(),
        Arc::new(SystemClock),
    );
    c.devices = devices;
    c.id_prefix = id_prefix.to_owned();
    c.interval = Duration::from_millis(250);
    c.initial = Some(FanState::at_speed(FanSpeed::new(2).unwrap()));
    c.connect_rate = 1000;
    c.backoff = Backoff {
        initial: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    c.shutdown_timeout = Duration::from_secs(5);
    c
}

/// A running fleet: stop it with [`Running::stop`].
struct Running {
    stop: oneshot::Sender<()>,
    done: tokio::task::JoinHandle<CountersSnapshot>,
}

fn spawn(fleet: Fleet) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(fleet.run(async move {
        let _ = stopped.await;
    }));
    Running { stop, done }
}

impl Running {
    async fn stop(self) -> CountersSnapshot {
        let _ = self.stop.send(());
        before(deadline(Duration::from_secs(15)), self.done)
            .await
            .expect("the fleet shut down in time")
            .expect("the fleet did not panic")
    }
}

fn status_text(m: &Msg) -> Option<(String, String)> {
    let id = m.topic.strip_prefix("device/")?.strip_suffix("/status")?;
    Some((id.to_owned(), m.text()))
}

/// Retained statuses a fresh subscriber gets for `ids`.
async fn retained_statuses(port: u16, probe_id: &str, ids: &[String]) -> BTreeMap<String, String> {
    let mut probe = Probe::connect(probe_id, port, &["device/+/status"]).await;
    let until = deadline(Duration::from_secs(10));
    let mut seen = BTreeMap::new();
    while seen.len() < ids.len() {
        let m = probe
            .next(until)
            .await
            .unwrap_or_else(|| panic!("retained statuses: only {seen:?}"));
        assert!(
            m.retain,
            "a status delivered on subscribe is retained: {m:?}"
        );
        if let Some((id, text)) = status_text(&m) {
            seen.insert(id, text);
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_devices_publish_ack_commands_and_shut_down_gracefully() {
    let port = start_broker(100).await;
    let codec = Codec::default();
    let mut probe = Probe::connect(
        "probe-main",
        port,
        &["device/+/data", "device/+/ack", "device/+/status"],
    )
    .await;
    let fleet = Fleet::new(config(port, 5, "MQ_")).unwrap();
    let ids: Vec<String> = fleet
        .device_ids()
        .iter()
        .map(|d| d.as_str().to_owned())
        .collect();
    let counters = fleet.counters();
    let running = spawn(fleet);

    // Every device: online, then readings that praan's codec decodes (≥ 3 each).
    let mut readings: BTreeMap<String, usize> = BTreeMap::new();
    let mut online = BTreeSet::new();
    probe
        .until(
            deadline(Duration::from_secs(15)),
            "readings from 5 devices",
            |m| {
                let now = SystemClock.now();
                match codec.decode(&m.topic, &m.payload, now) {
                    Ok(DeviceMessage::Readings {
                        device_id,
                        readings: rs,
                        rejected,
                    }) => {
                        assert!(rejected.is_empty());
                        let r = &rs[0];
                        assert_eq!(r.device_id(), &device_id);
                        assert_eq!(r.power_on(), Some(true));
                        assert_eq!(r.fan_speed(), FanSpeed::new(2).ok());
                        *readings.entry(device_id.as_str().to_owned()).or_default() += 1;
                    }
                    Ok(DeviceMessage::Status {
                        device_id,
                        online: true,
                        ..
                    }) => {
                        online.insert(device_id.as_str().to_owned());
                    }
                    other => panic!("unexpected {other:?} from {m:?}"),
                }
                online.len() == 5 && readings.len() == 5 && readings.values().all(|n| *n >= 3)
            },
        )
        .await;
    assert_eq!(online.iter().cloned().collect::<Vec<_>>(), ids);

    // A command to MQ_0003: acked with currentState; the same command again is acked again.
    let command_id = CommandId::generate(SystemClock.now());
    let command = format!(
        r#"{{"commandId":"{command_id}","action":"setFanSpeed","value":5,"timestamp":"{}","expiresAt":"{}"}}"#,
        SystemClock.now(),
        deadline(Duration::from_secs(300)),
    );
    let mut acks = Vec::new();
    for _ in 0..2 {
        probe
            .client
            .publish(
                "device/MQ_0003/command",
                QoS::AtLeastOnce,
                false,
                command.clone(),
            )
            .await
            .unwrap();
        probe
            .until(deadline(Duration::from_secs(10)), "the ack", |m| {
                if !m.topic.ends_with("/ack") {
                    return false;
                }
                assert_eq!(m.topic, "device/MQ_0003/ack");
                match codec.decode(&m.topic, &m.payload, SystemClock.now()) {
                    Ok(DeviceMessage::Ack(ack)) => acks.push(ack),
                    other => panic!("not an ack: {other:?}"),
                }
                true
            })
            .await;
    }
    for ack in &acks {
        assert_eq!(ack.device_id.as_str(), "MQ_0003");
        assert_eq!(ack.command_id, command_id);
        assert_eq!(ack.status, AckStatus::Success);
        assert_eq!(ack.message.as_deref(), Some("Fan speed set to 5"));
        assert_eq!(ack.current_state, Some(FanState::at_speed(FanSpeed::MAX)));
    }
    // The new speed shows in MQ_0003's next readings; the others keep theirs.
    probe
        .until(
            deadline(Duration::from_secs(10)),
            "a reading at speed 5",
            |m| match codec.decode(&m.topic, &m.payload, SystemClock.now()) {
                Ok(DeviceMessage::Readings {
                    device_id,
                    readings,
                    ..
                }) => {
                    let speed = readings[0].fan_speed().unwrap().get();
                    if device_id.as_str() == "MQ_0003" {
                        speed == 5
                    } else {
                        assert_eq!(speed, 2);
                        false
                    }
                }
                _ => false,
            },
        )
        .await;
    let live = counters.snapshot();
    assert_eq!(
        (
            live.commands_received,
            live.commands_duplicate,
            live.acks_published
        ),
        (2, 1, 2)
    );
    assert_eq!(live.connected, 5);

    // The retained status is "online" for every device while it runs.
    let statuses = retained_statuses(port, "probe-online", &ids).await;
    assert!(statuses.values().all(|s| s == "online"), "{statuses:?}");

    // Graceful shutdown: each device's notice on its data topic, then its retained "offline".
    let last = running.stop().await;
    assert_eq!(last.shutdown_notices, 5);
    assert_eq!(last.shutdown_timeouts, 0);
    assert_eq!((last.reconnects, last.connection_errors), (0, 0));
    assert_eq!(last.readings_dropped, 0);
    assert!(last.readings_published >= 15, "{last:?}");
    assert_eq!(last.connected, 0);
    let mut noticed = BTreeSet::new();
    let mut offline = BTreeSet::new();
    probe
        .until(
            deadline(Duration::from_secs(10)),
            "5 notices and 5 offline statuses",
            |m| {
                match codec.decode(&m.topic, &m.payload, SystemClock.now()) {
                    Ok(DeviceMessage::ShutdownNotice {
                        device_id, message, ..
                    }) => {
                        assert_eq!(message.as_deref(), Some(SHUTDOWN_MESSAGE));
                        noticed.insert(device_id.as_str().to_owned());
                    }
                    Ok(DeviceMessage::Status {
                        device_id,
                        online: false,
                        reason,
                        ..
                    }) => {
                        assert_eq!(reason, PresenceReason::LastWill, "plain \"offline\"");
                        offline.insert(device_id.as_str().to_owned());
                    }
                    Ok(_) => {}
                    Err(e) => panic!("{e}: {m:?}"),
                }
                // Each device publishes its notice before its status, but a broker keeps order
                // per topic only (rumqttd routes each filter's messages on its own), so the probe
                // may see them in either order.
                offline.len() == 5 && noticed.len() == 5
            },
        )
        .await;
    assert_eq!(noticed.into_iter().collect::<Vec<_>>(), ids);
    let statuses = retained_statuses(port, "probe-offline", &ids).await;
    assert!(statuses.values().all(|s| s == "offline"), "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_retry_with_backoff_reconnect_and_leave_a_last_will() {
    let port = start_broker(100).await;
    // The devices reach the broker through a proxy that refuses sessions at first.
    let proxy = Proxy::start(port, false).await;
    let mut probe = Probe::connect("probe-will", port, &["device/+/status"]).await;
    let fleet = Fleet::new(config(proxy.port, 3, "RC_")).unwrap();
    let ids: BTreeSet<String> = fleet
        .device_ids()
        .iter()
        .map(|d| d.as_str().to_owned())
        .collect();
    let counters = fleet.counters();
    let running = spawn(fleet);

    // Refused: each device keeps retrying, with backoff.
    let until = deadline(Duration::from_secs(10));
    while counters.snapshot().connection_errors < 6 {
        assert!(SystemClock.now() < until, "{:?}", counters.snapshot());
        support::pause(Duration::from_millis(20)).await;
    }
    assert_eq!(counters.snapshot().connects, 0);
    proxy.set_accepting(true);
    let statuses = |want: &'static str| {
        let ids = ids.clone();
        let mut seen = BTreeSet::new();
        move |m: &Msg| {
            if let Some((id, text)) = status_text(m)
                && text == want
            {
                seen.insert(id);
            }
            seen == ids
        }
    };
    probe
        .until(
            deadline(Duration::from_secs(10)),
            "online after the refusals",
            statuses("online"),
        )
        .await;
    let first = counters.snapshot();
    assert_eq!(
        (first.connects, first.reconnects, first.connected),
        (3, 0, 3)
    );

    // The network drops every session (no DISCONNECT): the broker publishes each Last Will
    // ("offline"), and each device reconnects and says "online" again.
    proxy.cut_all();
    probe
        .until(
            deadline(Duration::from_secs(10)),
            "the Last Wills",
            statuses("offline"),
        )
        .await;
    probe
        .until(
            deadline(Duration::from_secs(10)),
            "online again",
            statuses("online"),
        )
        .await;
    let until = deadline(Duration::from_secs(10));
    while counters.snapshot().reconnects < 3 {
        assert!(SystemClock.now() < until, "{:?}", counters.snapshot());
        support::pause(Duration::from_millis(20)).await;
    }

    // Still working after the reconnect: readings flow, and a command is acked.
    let mut data = Probe::connect(
        "probe-data",
        port,
        &["device/RC_0002/data", "device/RC_0002/ack"],
    )
    .await;
    data.until(
        deadline(Duration::from_secs(10)),
        "a reading after reconnecting",
        |m| m.topic.ends_with("/data"),
    )
    .await;
    let id = CommandId::generate(SystemClock.now());
    data.client
        .publish(
            "device/RC_0002/command",
            QoS::AtLeastOnce,
            false,
            format!(r#"{{"commandId":"{id}","action":"turnOff","value":0}}"#),
        )
        .await
        .unwrap();
    let codec = Codec::default();
    data.until(deadline(Duration::from_secs(10)), "the ack after reconnecting", |m| {
        m.topic.ends_with("/ack")
            && matches!(
                codec.decode(&m.topic, &m.payload, SystemClock.now()),
                Ok(DeviceMessage::Ack(a)) if a.command_id == id && a.current_state == Some(FanState::OFF)
            )
    })
    .await;

    let last = running.stop().await;
    assert_eq!(last.shutdown_notices, 3);
    assert!(last.reconnects >= 3, "{last:?}");
}
