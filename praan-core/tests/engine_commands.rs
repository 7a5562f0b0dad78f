//! Commands (PRODUCT.md §2) and presence (§3) through the engine's public `Handle`, in simulated
//! time: outbox order, acks, retries and timeouts, supersession, expiry, duplicate/late/unknown/
//! spoofed acks, reported state from acks, idempotency keys, cancellation, waiting, refusals,
//! transport faults, restarts, and online/offline tracking.

mod support;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use praan_core::{
    clock::{Clock, FakeClock},
    command::DeliveryConfig,
    domain::{
        Ack, AckStatus, Command, CommandId, CommandSource, CommandStatus, Device, DeviceId,
        FanState, IdempotencyKey, Instruction, Presence, PresenceReason, ReportedState, Timestamp,
    },
    engine::{CommandRequest, DeviceEvent, Engine, EngineConfig, EngineError, EngineEvent},
    store::{CommandFilter, CommandRepo, DeviceRepo, MemoryStore, StateRepo, Store},
    transport::{Faults, MemoryTransport, Outbound, Transport, TransportError},
};
use support::*;

// ---- small helpers ----

const T0: &str = "2026-11-28T09:00:00Z";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `T0` plus `d`.
fn t(d: Duration) -> Timestamp {
    ts(T0).saturating_add(d)
}

fn delivery(ack_timeout: Duration, max_retries: u32) -> EngineConfig {
    EngineConfig {
        delivery: DeliveryConfig {
            ack_timeout,
            max_retries,
        },
        ..Default::default()
    }
}

fn with_offline_after(offline_after: Duration) -> EngineConfig {
    EngineConfig {
        offline_after,
        ..Default::default()
    }
}

fn request(device: &str, n: u8) -> CommandRequest {
    CommandRequest {
        device_id: dev(device),
        instruction: Instruction::set_fan_speed(speed(n)),
        source: CommandSource::Manual,
        idempotency_key: None,
        expires_in: None,
    }
}

fn keyed(device: &str, n: u8, key: &str) -> CommandRequest {
    CommandRequest {
        idempotency_key: Some(IdempotencyKey::new(key).expect("valid key")),
        ..request(device, n)
    }
}

/// An ack as the codec would decode it from `device/{device}/ack`.
fn ack_of(
    device: &str,
    id: CommandId,
    status: AckStatus,
    message: Option<&str>,
    device_time: Timestamp,
    received_at: Timestamp,
    current_state: Option<FanState>,
) -> Ack {
    Ack {
        device_id: dev(device),
        command_id: id,
        status,
        message: message.map(str::to_owned),
        timestamp: device_time,
        received_at,
        current_state,
    }
}

/// Hands `ack` to the engine and waits until it has been handled.
async fn deliver(sim: &Sim, ack: Ack) {
    sim.handle
        .device_event(DeviceEvent::Ack(ack))
        .await
        .expect("engine running");
    sim.settle().await;
}

async fn device_event(sim: &Sim, event: DeviceEvent) {
    sim.handle
        .device_event(event)
        .await
        .expect("engine running");
    sim.settle().await;
}

async fn seen(sim: &Sim, device: &str, at: Timestamp) {
    device_event(
        sim,
        DeviceEvent::Seen {
            device_id: dev(device),
            at,
        },
    )
    .await;
}

async fn presence_event(sim: &Sim, device: &str, online: bool, reason: PresenceReason) {
    let at = sim.now();
    device_event(
        sim,
        DeviceEvent::Presence {
            device_id: dev(device),
            online,
            reason,
            at,
        },
    )
    .await;
}

/// Every publish so far of the command `id`.
fn publishes_of(sim: &mut Sim, id: CommandId) -> Vec<Sent> {
    sim.all_sent()
        .into_iter()
        .filter(|s| s.command_id == id)
        .collect()
}

fn publish_times(sent: &[Sent]) -> Vec<Timestamp> {
    sent.iter().map(|s| s.at).collect()
}

/// `(number, at, failed?)` of every recorded attempt.
fn attempts(cmd: &Command) -> Vec<(u32, Timestamp, bool)> {
    cmd.attempts
        .iter()
        .map(|a| (a.number, a.at, a.error.is_some()))
        .collect()
}

async fn reported(sim: &Sim, device: &str) -> Option<ReportedState> {
    sim.store
        .device_state(&dev(device))
        .await
        .expect("store")
        .and_then(|s| s.reported)
}

async fn presence(sim: &Sim, device: &str) -> Option<Presence> {
    sim.store
        .device_state(&dev(device))
        .await
        .expect("store")
        .and_then(|s| s.presence)
}

fn presence_of(online: bool, since: Timestamp, reason: PresenceReason) -> Option<Presence> {
    Some(Presence {
        online,
        since,
        reason,
    })
}

async fn commands_of(sim: &Sim, device: &str) -> Vec<Command> {
    sim.store
        .commands_for_device(&dev(device), &CommandFilter::default())
        .await
        .expect("store")
}

/// Everything on the event stream so far.
fn drain_events(rx: &mut tokio::sync::broadcast::Receiver<EngineEvent>) -> Vec<EngineEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// A transport that, at the moment of each publish, looks the command up in the store: proof of
/// the outbox order (stored before published).
#[derive(Debug)]
struct StoreCheckingTransport {
    inner: MemoryTransport,
    store: Arc<MemoryStore>,
    /// For each publish: the command id and the stored record at the moment of publishing.
    at_publish: Mutex<Vec<(CommandId, Option<Command>)>>,
}

#[async_trait::async_trait]
impl Transport for StoreCheckingTransport {
    async fn publish(&self, message: Outbound) -> Result<(), TransportError> {
        let v: serde_json::Value =
            serde_json::from_slice(&message.payload).expect("command payload is JSON");
        let id: CommandId = v["commandId"]
            .as_str()
            .expect("commandId")
            .parse()
            .expect("a command id");
        let stored = self.store.get_command(id).await.expect("store");
        self.at_publish
            .lock()
            .expect("not poisoned")
            .push((id, stored));
        self.inner.publish(message).await
    }

    async fn ack(&self, delivery: praan_core::transport::Delivery) -> Result<(), TransportError> {
        self.inner.ack(delivery).await
    }

    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }
}

// ---- publish, ack ----

#[tokio::test]
async fn command_is_stored_before_its_first_publish() {
    // Strong form: a transport that reads the store at the instant of publishing.
    let clock = FakeClock::new(ts(T0));
    let store = Arc::new(MemoryStore::new());
    store
        .insert_device(&Device::auto_registered(dev("d1"), clock.now()))
        .await
        .unwrap();
    let (inner, _inbound) = MemoryTransport::new(16);
    let transport = Arc::new(StoreCheckingTransport {
        inner: inner.clone(),
        store: store.clone(),
        at_publish: Mutex::new(Vec::new()),
    });
    let (handle, engine) = Engine::start(
        EngineConfig::default(),
        store.clone() as Arc<dyn Store>,
        transport.clone(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let running = tokio::spawn(engine);
    let mut events = handle.subscribe();

    let cmd = handle.send_command(request("d1", 3)).await.unwrap();
    {
        let seen = transport.at_publish.lock().unwrap();
        assert_eq!(seen.len(), 1);
        let (id, stored) = &seen[0];
        assert_eq!(*id, cmd.command_id);
        let stored = stored
            .as_ref()
            .expect("the command was stored before it was published");
        assert_eq!(stored.status, CommandStatus::Pending);
        assert!(stored.attempts.is_empty());
        assert_eq!(stored.created_at, ts(T0));
    }
    assert_eq!(inner.published().len(), 1);
    // The status history on the event stream: created `pending`, then `sent`.
    let history: Vec<CommandStatus> = drain_events(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::Command { command } if command.command_id == cmd.command_id => {
                Some(command.status)
            }
            _ => None,
        })
        .collect();
    assert_eq!(history, [CommandStatus::Pending, CommandStatus::Sent]);

    // A retry is published with the first attempt already stored.
    clock.set(t(secs(30)));
    handle.control(dev("probe")).await.unwrap();
    handle.control(dev("probe")).await.unwrap();
    {
        let seen = transport.at_publish.lock().unwrap();
        assert_eq!(seen.len(), 2);
        let stored = seen[1].1.as_ref().unwrap();
        assert_eq!(stored.status, CommandStatus::Sent);
        assert_eq!(attempts(stored), [(1, ts(T0), false)]);
    }
    drop(handle);
    running.await.unwrap().unwrap();

    // Weak form through the harness: when a publish is observed, the store has the command.
    let sim = Sim::new(T0, &["d1"]).await;
    let mut watch = sim.transport.subscribe();
    let cmd = sim.fan("d1", 2).await;
    let first = watch.try_recv().expect("one publish");
    assert_eq!(first.topic, "device/d1/command");
    let decoded = decode_command(&first, sim.now());
    assert_eq!(decoded.command_id, cmd.command_id);
    assert_eq!(sim.stored(cmd.command_id).await.status, CommandStatus::Sent);
}

#[tokio::test]
async fn success_ack_acknowledges_with_time_and_device_response() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    assert_eq!(cmd.status, CommandStatus::Sent);
    assert_eq!(cmd.sent_at, Some(ts(T0)));
    assert_eq!(attempts(&cmd), [(1, ts(T0), false)]);
    let sent = sim.take_sent();
    assert_eq!(actions(&sent), [act("setFanSpeed", 3)]);
    assert_eq!(sent[0].command_id, cmd.command_id);
    assert_eq!(sent[0].device, "d1");

    sim.advance(secs(2)).await;
    let ack = ack_of(
        "d1",
        cmd.command_id,
        AckStatus::Success,
        Some("Fan speed set to 3"),
        t(millis(1_500)),
        sim.now(),
        Some(on(3)),
    );
    deliver(&sim, ack.clone()).await;

    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Acknowledged);
    assert_eq!(stored.acknowledged_at, Some(t(secs(2))));
    assert_eq!(stored.completed_at, Some(t(secs(2))));
    assert_eq!(stored.device_response, Some(ack));
    assert_eq!(stored.error, None);
    assert_eq!(stored.late_ack, None);
    assert_eq!(stored.next_deadline, None);
    assert_eq!(stored.sent_at, Some(ts(T0)));
    assert_eq!(stored.retry_count(), 0);

    // Acknowledged: never published again.
    sim.advance_to(t(secs(600))).await;
    assert!(sim.take_sent().is_empty());
    assert_eq!(sim.stored(cmd.command_id).await, stored);
    assert_eq!(
        reported(&sim, "d1").await,
        Some(ReportedState {
            state: on(3),
            at: t(millis(1_500)),
        })
    );
}

#[tokio::test]
async fn error_ack_fails_the_command() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 5).await;
    sim.advance(secs(1)).await;
    let ack = ack_of(
        "d1",
        cmd.command_id,
        AckStatus::Error,
        Some("motor fault"),
        sim.now(),
        sim.now(),
        None,
    );
    deliver(&sim, ack.clone()).await;

    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Failed);
    assert_eq!(stored.acknowledged_at, Some(t(secs(1))));
    assert_eq!(stored.completed_at, Some(t(secs(1))));
    assert_eq!(stored.device_response, Some(ack));
    assert_eq!(stored.error.as_deref(), Some("motor fault"));
    sim.advance_to(t(secs(600))).await;
    assert_eq!(
        publishes_of(&mut sim, cmd.command_id).len(),
        1,
        "no retry after an error ack"
    );
    assert_eq!(sim.stored(cmd.command_id).await, stored);
}

// ---- retries and timeout ----

#[tokio::test]
async fn silent_device_gets_max_retries_plus_one_identical_publishes_then_timeout() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;

    sim.advance_to(t(millis(119_999))).await;
    let sent = publishes_of(&mut sim, cmd.command_id);
    assert_eq!(
        publish_times(&sent),
        [ts(T0), t(secs(30)), t(secs(60)), t(secs(90))]
    );
    assert!(
        sent.windows(2).all(|w| w[0].raw == w[1].raw),
        "byte-identical"
    );
    assert_eq!(sim.stored(cmd.command_id).await.status, CommandStatus::Sent);

    sim.advance_to(t(secs(120))).await;
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Timeout);
    assert_eq!(stored.completed_at, Some(t(secs(120))));
    assert!(
        stored
            .error
            .as_deref()
            .is_some_and(|e| e.contains("no ack")),
        "{:?}",
        stored.error
    );
    assert_eq!(stored.acknowledged_at, None);
    assert_eq!(stored.next_deadline, None);
    assert_eq!(stored.retry_count(), 3);

    sim.advance_to(t(secs(3_600))).await;
    assert_eq!(publishes_of(&mut sim, cmd.command_id).len(), 4);
    let v: serde_json::Value = serde_json::from_slice(&sent[0].raw).unwrap();
    assert_eq!(v["commandId"], cmd.command_id.to_string());
    assert_eq!(v["action"], "setFanSpeed");
    assert_eq!(v["value"], 3);
    assert_eq!(v["timestamp"], ts(T0).to_rfc3339());
}

#[tokio::test]
async fn ack_timeout_500ms_and_zero_retries_publish_once() {
    let mut sim = Sim::with_config(T0, &["d1"], delivery(millis(500), 0)).await;
    let cmd = sim.fan("d1", 2).await;
    sim.advance_to(t(millis(499))).await;
    assert_eq!(sim.stored(cmd.command_id).await.status, CommandStatus::Sent);
    sim.advance_to(t(millis(500))).await;
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Timeout);
    assert_eq!(stored.completed_at, Some(t(millis(500))));
    assert_eq!(stored.retry_count(), 0);
    assert_eq!(attempts(&stored), [(1, ts(T0), false)]);
    sim.advance_to(t(secs(60))).await;
    assert_eq!(
        publish_times(&publishes_of(&mut sim, cmd.command_id)),
        [ts(T0)]
    );
}

#[tokio::test]
async fn two_retries_publish_three_times_then_timeout() {
    let mut sim = Sim::with_config(T0, &["d1"], delivery(secs(2), 2)).await;
    let cmd = sim.fan("d1", 4).await;
    sim.advance_to(t(millis(5_999))).await;
    assert_eq!(sim.stored(cmd.command_id).await.status, CommandStatus::Sent);
    sim.advance_to(t(secs(6))).await;
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Timeout);
    assert_eq!(stored.completed_at, Some(t(secs(6))));
    assert_eq!(stored.retry_count(), 2);
    sim.advance_to(t(secs(60))).await;
    let sent = publishes_of(&mut sim, cmd.command_id);
    assert_eq!(publish_times(&sent), [ts(T0), t(secs(2)), t(secs(4))]);
    assert!(sent.windows(2).all(|w| w[0].raw == w[1].raw));
}

#[tokio::test]
async fn every_attempt_is_recorded_as_it_happens() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    let mut expected = vec![(1, ts(T0), false)];
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(attempts(&s), expected);
    assert_eq!(s.next_deadline, Some(t(secs(30))));
    for n in 2..=4_u32 {
        let at = t(secs(30 * u64::from(n - 1)));
        sim.advance_to(at).await;
        expected.push((n, at, false));
        let s = sim.stored(cmd.command_id).await;
        assert_eq!(attempts(&s), expected);
        assert_eq!(s.retry_count(), n - 1);
        assert_eq!(s.status, CommandStatus::Sent);
        assert_eq!(s.sent_at, Some(ts(T0)), "sentAt is the first publish");
        assert_eq!(s.next_deadline, Some(at.saturating_add(secs(30))));
    }
    sim.advance_to(t(secs(120))).await;
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(attempts(&s), expected);
    assert_eq!(s.status, CommandStatus::Timeout);
}

// ---- latest intent wins ----

#[tokio::test]
async fn newer_command_supersedes_the_older_unacknowledged_one() {
    let mut sim = Sim::new(T0, &["d1", "d2"]).await;
    let old = sim.fan("d1", 3).await;
    let other = sim.fan("d2", 2).await;
    let h = sim.handle.clone();
    let old_id = old.command_id;
    let waiter = tokio::spawn(async move { h.wait_terminal(old_id).await });
    sim.settle().await;
    assert!(!waiter.is_finished());

    sim.advance(secs(10)).await;
    let new = sim.fan("d1", 4).await;
    let stored_old = sim.stored(old.command_id).await;
    assert_eq!(stored_old.status, CommandStatus::Superseded);
    assert_eq!(stored_old.superseded_by, Some(new.command_id));
    assert_eq!(stored_old.completed_at, Some(t(secs(10))));
    assert_eq!(stored_old.next_deadline, None);
    assert_eq!(waiter.await.unwrap().unwrap(), stored_old);

    let stored_other = sim.stored(other.command_id).await;
    assert_eq!(stored_other.status, CommandStatus::Sent);
    assert_eq!(stored_other.superseded_by, None);

    sim.advance_to(t(secs(600))).await;
    assert_eq!(
        publish_times(&publishes_of(&mut sim, old.command_id)),
        [ts(T0)]
    );
    assert_eq!(
        publish_times(&publishes_of(&mut sim, other.command_id)),
        [ts(T0), t(secs(30)), t(secs(60)), t(secs(90))],
        "another device's command keeps its own retries"
    );
    assert_eq!(
        publish_times(&publishes_of(&mut sim, new.command_id)),
        [t(secs(10)), t(secs(40)), t(secs(70)), t(secs(100))]
    );
    assert_eq!(
        sim.stored(other.command_id).await.status,
        CommandStatus::Timeout
    );
    assert_eq!(
        sim.stored(new.command_id).await.status,
        CommandStatus::Timeout
    );
    assert_eq!(
        sim.stored(old.command_id).await,
        stored_old,
        "stays superseded"
    );
}

#[tokio::test]
async fn acknowledged_command_is_not_superseded() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let first = sim.fan("d1", 3).await;
    sim.ack_new().await;
    let acked = sim.stored(first.command_id).await;
    assert_eq!(acked.status, CommandStatus::Acknowledged);
    sim.advance(secs(5)).await;
    let _second = sim.fan("d1", 1).await;
    assert_eq!(sim.stored(first.command_id).await, acked);
}

#[tokio::test]
async fn retry_racing_a_newer_command_is_not_published() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let old = sim.fan("d1", 3).await;
    sim.advance_to(t(millis(29_999))).await;
    let new = sim.fan("d1", 4).await;
    sim.advance_to(t(secs(31))).await;
    assert_eq!(
        publish_times(&publishes_of(&mut sim, old.command_id)),
        [ts(T0)]
    );
    assert_eq!(
        publish_times(&publishes_of(&mut sim, new.command_id)),
        [t(millis(29_999))]
    );
    let stored_old = sim.stored(old.command_id).await;
    assert_eq!(stored_old.status, CommandStatus::Superseded);
    assert_eq!(stored_old.completed_at, Some(t(millis(29_999))));
    assert_eq!(attempts(&stored_old), [(1, ts(T0), false)]);
    sim.advance_to(t(millis(59_999))).await;
    assert_eq!(
        publish_times(&publishes_of(&mut sim, new.command_id)),
        [t(millis(29_999)), t(millis(59_999))]
    );
    assert_eq!(publishes_of(&mut sim, old.command_id).len(), 1);
}

// ---- expiry ----

#[tokio::test]
async fn command_expires_at_its_expires_at() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim
        .handle
        .send_command(CommandRequest {
            expires_in: Some(secs(45)),
            ..request("d1", 3)
        })
        .await
        .unwrap();
    assert_eq!(cmd.expires_at, Some(t(secs(45))));
    let sent = sim.all_sent();
    let v: serde_json::Value = serde_json::from_slice(&sent[0].raw).unwrap();
    assert_eq!(v["expiresAt"], t(secs(45)).to_rfc3339());

    sim.advance_to(t(secs(30))).await;
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(s.status, CommandStatus::Sent);
    assert_eq!(
        s.next_deadline,
        Some(t(secs(45))),
        "the wait ends at expiresAt"
    );
    sim.advance_to(t(millis(44_999))).await;
    assert_eq!(sim.stored(cmd.command_id).await.status, CommandStatus::Sent);
    sim.advance_to(t(secs(45))).await;
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(s.status, CommandStatus::Expired);
    assert_eq!(s.completed_at, Some(t(secs(45))));
    assert!(s.error.is_some());
    sim.advance_to(t(secs(600))).await;
    assert_eq!(
        publish_times(&publishes_of(&mut sim, cmd.command_id)),
        [ts(T0), t(secs(30))]
    );
}

#[tokio::test]
async fn command_already_expired_is_not_sent() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim
        .handle
        .send_command(CommandRequest {
            expires_in: Some(Duration::ZERO),
            ..request("d1", 3)
        })
        .await
        .unwrap();
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Expired);
    assert!(stored.attempts.is_empty());
    assert_eq!(stored.sent_at, None);
    assert_eq!(stored.completed_at, Some(ts(T0)));
    sim.advance_to(t(secs(600))).await;
    assert!(
        sim.all_sent().is_empty(),
        "an expired command is never published"
    );
    assert_eq!(
        cmd.status,
        CommandStatus::Expired,
        "send_command answers with the command as stored"
    );
}

#[tokio::test]
async fn pending_command_expired_while_down_is_expired_not_published() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let mut cmd = Command::new(
        CommandId::generate(ts(T0)),
        dev("d1"),
        Instruction::set_fan_speed(speed(2)),
        CommandSource::Manual,
        ts(T0),
    );
    cmd.expires_at = Some(t(secs(10)));
    sim.store.insert_command(&cmd).await.unwrap();
    sim.crash().await;
    sim.clock.set(t(secs(60)));
    sim.restart().await;
    sim.advance_to(t(secs(600))).await;
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(stored.status, CommandStatus::Expired);
    assert!(
        sim.all_sent().is_empty(),
        "a command past its expiresAt is not delivered after a restart"
    );
    assert!(stored.attempts.is_empty());
}

// ---- acks that decide nothing ----

#[tokio::test]
async fn duplicate_ack_is_a_no_op() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance(secs(1)).await;
    let ack = ack_of(
        "d1",
        cmd.command_id,
        AckStatus::Success,
        Some("ok"),
        sim.now(),
        sim.now(),
        Some(on(3)),
    );
    deliver(&sim, ack.clone()).await;
    let first = sim.stored(cmd.command_id).await;
    assert_eq!(first.status, CommandStatus::Acknowledged);

    // The broker redelivers it a few seconds later.
    sim.advance(secs(5)).await;
    let again = Ack {
        received_at: sim.now(),
        ..ack
    };
    deliver(&sim, again).await;
    assert_eq!(sim.stored(cmd.command_id).await, first);
    sim.advance_to(t(secs(600))).await;
    assert_eq!(publishes_of(&mut sim, cmd.command_id).len(), 1);
}

#[tokio::test]
async fn late_ack_after_timeout_is_recorded_without_changing_status() {
    let mut sim = Sim::with_config(T0, &["d1"], delivery(millis(500), 0)).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance_to(t(secs(2))).await;
    let timed_out = sim.stored(cmd.command_id).await;
    assert_eq!(timed_out.status, CommandStatus::Timeout);

    let late = ack_of(
        "d1",
        cmd.command_id,
        AckStatus::Success,
        Some("Fan speed set to 3"),
        t(millis(1_900)),
        sim.now(),
        Some(on(3)),
    );
    deliver(&sim, late.clone()).await;
    let stored = sim.stored(cmd.command_id).await;
    assert_eq!(
        stored,
        Command {
            late_ack: Some(late.clone()),
            ..timed_out.clone()
        },
        "only lateAck changes"
    );
    assert_eq!(stored.status, CommandStatus::Timeout);
    assert_eq!(stored.acknowledged_at, None);
    assert_eq!(stored.device_response, None);
    // The device's report is still the newest news of its state.
    assert_eq!(
        reported(&sim, "d1").await,
        Some(ReportedState {
            state: on(3),
            at: t(millis(1_900)),
        })
    );

    // The same late ack redelivered: nothing changes.
    sim.advance(secs(3)).await;
    deliver(
        &sim,
        Ack {
            received_at: sim.now(),
            ..late
        },
    )
    .await;
    assert_eq!(sim.stored(cmd.command_id).await, stored);
    assert_eq!(publishes_of(&mut sim, cmd.command_id).len(), 1);
}

#[tokio::test]
async fn late_ack_for_a_superseded_command_is_recorded() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let old = sim.fan("d1", 3).await;
    sim.advance(secs(5)).await;
    let new = sim.fan("d1", 4).await;
    let superseded = sim.stored(old.command_id).await;
    sim.advance(secs(1)).await;
    let late = ack_of(
        "d1",
        old.command_id,
        AckStatus::Success,
        None,
        sim.now(),
        sim.now(),
        Some(on(3)),
    );
    deliver(&sim, late.clone()).await;
    assert_eq!(
        sim.stored(old.command_id).await,
        Command {
            late_ack: Some(late),
            ..superseded
        }
    );
    let stored_new = sim.stored(new.command_id).await;
    assert_eq!(
        stored_new.status,
        CommandStatus::Sent,
        "the newer command still waits"
    );
    assert_eq!(stored_new.late_ack, None);
    sim.advance_to(t(secs(35))).await;
    assert_eq!(publishes_of(&mut sim, new.command_id).len(), 2);
}

#[tokio::test]
async fn ack_for_an_unknown_command_changes_nothing() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance(secs(1)).await;
    let before = sim.stored(cmd.command_id).await;
    let unknown = CommandId::generate(sim.now());
    deliver(
        &sim,
        ack_of(
            "d1",
            unknown,
            AckStatus::Success,
            None,
            sim.now(),
            sim.now(),
            Some(on(5)),
        ),
    )
    .await;
    assert_eq!(sim.stored(cmd.command_id).await, before);
    assert_eq!(sim.store.get_command(unknown).await.unwrap(), None);
    assert_eq!(commands_of(&sim, "d1").await.len(), 1);
    assert_eq!(
        reported(&sim, "d1").await,
        None,
        "an unknown ack reports nothing"
    );
    sim.advance_to(t(secs(30))).await;
    assert_eq!(
        publishes_of(&mut sim, cmd.command_id).len(),
        2,
        "still retried"
    );
}

#[tokio::test]
async fn ack_from_another_device_is_ignored() {
    let mut sim = Sim::with_config(T0, &["d1", "d2"], delivery(secs(30), 1)).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance(secs(1)).await;
    let before = sim.stored(cmd.command_id).await;
    let spoofed = ack_of(
        "d2",
        cmd.command_id,
        AckStatus::Success,
        None,
        sim.now(),
        sim.now(),
        Some(on(3)),
    );
    deliver(&sim, spoofed.clone()).await;
    assert_eq!(
        sim.stored(cmd.command_id).await,
        before,
        "in flight: ignored"
    );
    assert_eq!(reported(&sim, "d1").await, None);
    assert_eq!(reported(&sim, "d2").await, None);
    sim.advance_to(t(secs(30))).await;
    assert_eq!(
        publishes_of(&mut sim, cmd.command_id).len(),
        2,
        "still retried"
    );

    sim.advance_to(t(secs(60))).await;
    let timed_out = sim.stored(cmd.command_id).await;
    assert_eq!(timed_out.status, CommandStatus::Timeout);
    deliver(
        &sim,
        Ack {
            received_at: sim.now(),
            ..spoofed
        },
    )
    .await;
    assert_eq!(
        sim.stored(cmd.command_id).await,
        timed_out,
        "terminal: not recorded as a late ack"
    );
    assert_eq!(reported(&sim, "d2").await, None);
}

#[tokio::test]
async fn ack_current_state_updates_reported_state_only_if_newer() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let a = sim.fan("d1", 3).await;
    sim.advance(secs(5)).await;
    let now = sim.now();
    deliver(
        &sim,
        ack_of(
            "d1",
            a.command_id,
            AckStatus::Success,
            None,
            now,
            now,
            Some(on(3)),
        ),
    )
    .await;
    let newest = Some(ReportedState {
        state: on(3),
        at: t(secs(5)),
    });
    assert_eq!(reported(&sim, "d1").await, newest);

    // An ack whose device time is older (a device clock behind, a delayed ack) does not win.
    sim.advance_to(t(secs(10))).await;
    let b = sim.fan("d1", 4).await;
    deliver(
        &sim,
        ack_of(
            "d1",
            b.command_id,
            AckStatus::Success,
            None,
            t(secs(2)),
            sim.now(),
            Some(on(4)),
        ),
    )
    .await;
    assert_eq!(
        sim.stored(b.command_id).await.status,
        CommandStatus::Acknowledged
    );
    assert_eq!(reported(&sim, "d1").await, newest);

    sim.advance_to(t(secs(20))).await;
    let c = sim.fan("d1", 1).await;
    let now = sim.now();
    deliver(
        &sim,
        ack_of(
            "d1",
            c.command_id,
            AckStatus::Success,
            None,
            now,
            now,
            Some(FanState::OFF),
        ),
    )
    .await;
    assert_eq!(
        reported(&sim, "d1").await,
        Some(ReportedState {
            state: FanState::OFF,
            at: t(secs(20)),
        })
    );
}

// ---- idempotency ----

#[tokio::test]
async fn idempotency_key_returns_the_same_command_within_24h() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let first = sim
        .handle
        .send_command(keyed("d1", 3, "req-1"))
        .await
        .unwrap();
    sim.advance(secs(10)).await;
    let again = sim
        .handle
        .send_command(keyed("d1", 3, "req-1"))
        .await
        .unwrap();
    assert_eq!(again.command_id, first.command_id);
    assert_eq!(again, sim.stored(first.command_id).await);
    assert_eq!(sim.all_sent().len(), 1, "no second publish");
    assert_eq!(commands_of(&sim, "d1").await.len(), 1);

    // Just inside the window (the first one has long timed out by now).
    sim.advance_to(t(Duration::from_secs(24 * 3600) - millis(1)))
        .await;
    let late = sim
        .handle
        .send_command(keyed("d1", 3, "req-1"))
        .await
        .unwrap();
    assert_eq!(late.command_id, first.command_id);
    assert_eq!(late.status, CommandStatus::Timeout);
    assert_eq!(
        sim.all_sent().len(),
        4,
        "only the first command's own publishes"
    );
    assert_eq!(commands_of(&sim, "d1").await.len(), 1);
}

#[tokio::test]
async fn idempotency_key_is_per_device() {
    let mut sim = Sim::new(T0, &["d1", "d2"]).await;
    let one = sim
        .handle
        .send_command(keyed("d1", 3, "shared"))
        .await
        .unwrap();
    let two = sim
        .handle
        .send_command(keyed("d2", 3, "shared"))
        .await
        .unwrap();
    assert_ne!(two.command_id, one.command_id);
    assert_eq!(two.device_id, dev("d2"));
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[1].device.as_str(), sent[1].command_id),
        ("d2", two.command_id)
    );
    // Each device's key still answers with its own command.
    let one_again = sim
        .handle
        .send_command(keyed("d1", 3, "shared"))
        .await
        .unwrap();
    assert_eq!(one_again.command_id, one.command_id);
    assert!(sim.take_sent().is_empty());
    assert_eq!(sim.stored(one.command_id).await.status, CommandStatus::Sent);
}

#[tokio::test]
async fn idempotency_key_is_free_again_after_24h() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let first = sim
        .handle
        .send_command(keyed("d1", 3, "req-9"))
        .await
        .unwrap();
    sim.advance_to(t(Duration::from_secs(24 * 3600 + 1))).await;
    sim.take_sent();
    let fresh = sim
        .handle
        .send_command(keyed("d1", 3, "req-9"))
        .await
        .unwrap();
    assert_ne!(fresh.command_id, first.command_id);
    assert_eq!(fresh.status, CommandStatus::Sent);
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].command_id, fresh.command_id);
    // From now on the key names the new command.
    let again = sim
        .handle
        .send_command(keyed("d1", 3, "req-9"))
        .await
        .unwrap();
    assert_eq!(again.command_id, fresh.command_id);
    assert!(sim.take_sent().is_empty());
    assert_eq!(
        sim.stored(first.command_id).await.status,
        CommandStatus::Timeout
    );
}

// ---- cancel and wait ----

#[tokio::test]
async fn cancel_stops_an_in_flight_command() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance(secs(10)).await;
    let cancelled = sim.handle.cancel_command(cmd.command_id).await.unwrap();
    assert_eq!(cancelled.status, CommandStatus::Cancelled);
    assert_eq!(cancelled.completed_at, Some(t(secs(10))));
    assert_eq!(cancelled.next_deadline, None);
    assert!(cancelled.error.is_some());
    assert_eq!(sim.stored(cmd.command_id).await, cancelled);
    sim.advance_to(t(secs(600))).await;
    assert_eq!(
        publishes_of(&mut sim, cmd.command_id).len(),
        1,
        "no further retries"
    );
    assert_eq!(sim.stored(cmd.command_id).await, cancelled);
}

#[tokio::test]
async fn cancel_leaves_terminal_commands_alone_and_refuses_unknown_ones() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.ack_new().await;
    let acked = sim.stored(cmd.command_id).await;
    assert_eq!(acked.status, CommandStatus::Acknowledged);
    if let Ok(answer) = sim.handle.cancel_command(cmd.command_id).await {
        assert_eq!(answer, acked);
    }
    assert_eq!(sim.stored(cmd.command_id).await, acked);

    let unknown = CommandId::generate(sim.now());
    assert!(matches!(
        sim.handle.cancel_command(unknown).await,
        Err(EngineError::NotFound {
            entity: "command",
            ..
        })
    ));
}

#[tokio::test]
async fn wait_terminal_resolves_when_the_command_times_out() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    let h = sim.handle.clone();
    let id = cmd.command_id;
    let waiter = tokio::spawn(async move { h.wait_terminal(id).await });
    sim.settle().await;
    assert!(!waiter.is_finished());
    sim.advance_to(t(millis(119_999))).await;
    assert!(!waiter.is_finished(), "still in flight");
    sim.advance_to(t(secs(120))).await;
    let done = waiter.await.unwrap().unwrap();
    assert_eq!(done.status, CommandStatus::Timeout);
    assert_eq!(done, sim.stored(cmd.command_id).await);
}

#[tokio::test]
async fn wait_terminal_resolves_at_once_for_a_terminal_command() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.ack_new().await;
    let done = sim.handle.wait_terminal(cmd.command_id).await.unwrap();
    assert_eq!(done.status, CommandStatus::Acknowledged);
    assert_eq!(done, sim.stored(cmd.command_id).await);
    assert!(matches!(
        sim.handle
            .wait_terminal(CommandId::generate(sim.now()))
            .await,
        Err(EngineError::NotFound {
            entity: "command",
            ..
        })
    ));
}

// ---- refusals ----

#[tokio::test]
async fn unknown_device_is_refused() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    match sim.handle.send_command(request("ghost", 3)).await {
        Err(EngineError::UnknownDevice(d)) => assert_eq!(d, dev("ghost")),
        other => panic!("expected UnknownDevice, got {other:?}"),
    }
    assert!(sim.all_sent().is_empty());
    assert!(commands_of(&sim, "ghost").await.is_empty());
}

#[tokio::test]
async fn speed_above_the_device_maximum_is_invalid() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let mut device = sim.store.get_device(&dev("d1")).await.unwrap().unwrap();
    device.specifications.max_fan_speed = speed(3);
    sim.store.update_device(&device).await.unwrap();

    let ok = sim.fan("d1", 3).await;
    match sim.handle.send_command(request("d1", 4)).await {
        Err(EngineError::Invalid(e)) => assert_eq!(e.field, "fanSpeed"),
        other => panic!("expected Invalid, got {other:?}"),
    }
    assert_eq!(sim.all_sent().len(), 1);
    assert_eq!(commands_of(&sim, "d1").await.len(), 1);
    assert_eq!(
        sim.stored(ok.command_id).await.status,
        CommandStatus::Sent,
        "a refused command supersedes nothing"
    );
}

// ---- transport faults ----

#[tokio::test]
async fn failed_publishes_are_recorded_and_a_later_attempt_succeeds() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    sim.transport.set_faults(Faults {
        fail_publishes: 2,
        ..Faults::default()
    });
    let cmd = sim.fan("d1", 3).await;
    assert_eq!(attempts(&cmd), [(1, ts(T0), true)]);
    assert_eq!(cmd.status, CommandStatus::Pending, "not sent yet");
    assert_eq!(cmd.sent_at, None);
    assert!(
        cmd.attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("publishing")),
        "{:?}",
        cmd.attempts[0].error
    );
    assert!(sim.all_sent().is_empty());

    sim.advance_to(t(secs(60))).await;
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(
        attempts(&s),
        [
            (1, ts(T0), true),
            (2, t(secs(30)), true),
            (3, t(secs(60)), false)
        ]
    );
    assert_eq!(s.status, CommandStatus::Sent);
    assert_eq!(s.sent_at, Some(t(secs(60))));
    assert_eq!(
        publish_times(&publishes_of(&mut sim, cmd.command_id)),
        [t(secs(60))]
    );

    sim.ack_new().await;
    assert_eq!(
        sim.stored(cmd.command_id).await.status,
        CommandStatus::Acknowledged
    );
}

#[tokio::test]
async fn all_publishes_failing_ends_failed() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    sim.transport.set_faults(Faults {
        fail_publishes: 100,
        ..Faults::default()
    });
    let cmd = sim.fan("d1", 3).await;
    sim.advance_to(t(millis(119_999))).await;
    assert_eq!(
        sim.stored(cmd.command_id).await.status,
        CommandStatus::Pending
    );
    sim.advance_to(t(secs(120))).await;
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(s.status, CommandStatus::Failed);
    assert_eq!(s.completed_at, Some(t(secs(120))));
    assert!(
        s.error.as_deref().is_some_and(|e| e.contains("publishing")),
        "{:?}",
        s.error
    );
    assert_eq!(
        attempts(&s),
        [
            (1, ts(T0), true),
            (2, t(secs(30)), true),
            (3, t(secs(60)), true),
            (4, t(secs(90)), true)
        ]
    );
    sim.advance_to(t(secs(600))).await;
    assert!(sim.all_sent().is_empty());
    assert_eq!(sim.stored(cmd.command_id).await, s);
}

#[tokio::test]
async fn disconnected_broker_fails_publishes_until_reconnected() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    sim.transport.set_connected(false);
    let cmd = sim.fan("d1", 3).await;
    sim.advance_to(t(secs(45))).await;
    sim.transport.set_connected(true);
    sim.advance_to(t(secs(60))).await;
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(
        attempts(&s),
        [
            (1, ts(T0), true),
            (2, t(secs(30)), true),
            (3, t(secs(60)), false)
        ]
    );
    assert!(
        s.attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("publishing"))
    );
    assert_eq!(s.status, CommandStatus::Sent);
    assert_eq!(
        publish_times(&publishes_of(&mut sim, cmd.command_id)),
        [t(secs(60))]
    );
}

#[tokio::test]
async fn broker_down_for_every_attempt_ends_failed() {
    let mut sim = Sim::with_config(T0, &["d1"], delivery(secs(2), 2)).await;
    sim.transport.set_connected(false);
    let cmd = sim.fan("d1", 3).await;
    sim.advance_to(t(secs(60))).await;
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(s.status, CommandStatus::Failed);
    assert_eq!(s.completed_at, Some(t(secs(6))));
    assert!(
        s.error.as_deref().is_some_and(|e| e.contains("publishing")),
        "{:?}",
        s.error
    );
    assert_eq!(s.attempts.len(), 3);
    assert!(s.attempts.iter().all(|a| a.error.is_some()));
    assert!(sim.all_sent().is_empty());
}

// ---- restarts ----

#[tokio::test]
async fn restart_mid_retry_continues_and_ends_once() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance_to(t(secs(30))).await;
    assert_eq!(publishes_of(&mut sim, cmd.command_id).len(), 2);

    sim.restart().await;
    let mut events = sim.handle.subscribe();
    sim.advance_to(t(secs(600))).await;
    let sent = publishes_of(&mut sim, cmd.command_id);
    assert_eq!(
        publish_times(&sent),
        [ts(T0), t(secs(30)), t(secs(60)), t(secs(90))]
    );
    assert!(
        sent.windows(2).all(|w| w[0].raw == w[1].raw),
        "byte-identical"
    );
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(s.status, CommandStatus::Timeout);
    assert_eq!(s.completed_at, Some(t(secs(120))));
    assert_eq!(
        attempts(&s),
        [
            (1, ts(T0), false),
            (2, t(secs(30)), false),
            (3, t(secs(60)), false),
            (4, t(secs(90)), false)
        ]
    );
    let terminal: Vec<CommandStatus> = drain_events(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::Command { command }
                if command.command_id == cmd.command_id && command.status.is_terminal() =>
            {
                Some(command.status)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        terminal,
        [CommandStatus::Timeout],
        "exactly one terminal status"
    );
    assert!(sim.store.unfinished_commands().await.unwrap().is_empty());
}

#[tokio::test]
async fn restart_after_short_downtime_resumes_on_the_attempt_grid() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance_to(t(secs(30))).await;
    sim.crash().await;
    // Down from T0+30 s to T0+75 s: the attempt due at T0+60 s was missed. It is made on start;
    // the attempts stay on the grid from the first publish (ARCHITECTURE.md, `command/`), so the
    // command is terminal (maxRetries + 1) x ackTimeout after its first publish.
    sim.clock.set(t(secs(75)));
    sim.restart().await;
    sim.advance_to(t(secs(900))).await;
    let sent = publishes_of(&mut sim, cmd.command_id);
    assert_eq!(
        publish_times(&sent),
        [ts(T0), t(secs(30)), t(secs(75)), t(secs(90))]
    );
    assert!(
        sent.windows(2).all(|w| w[0].raw == w[1].raw),
        "byte-identical"
    );
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(s.status, CommandStatus::Timeout);
    assert_eq!(s.completed_at, Some(t(secs(120))));
    assert_eq!(s.retry_count(), 3);
    assert!(sim.store.unfinished_commands().await.unwrap().is_empty());
}

#[tokio::test]
async fn restart_after_the_final_deadline_ends_the_command_at_once() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance_to(t(secs(30))).await;
    sim.crash().await;
    // Down past T0+120 s, when the last wait would have ended: no burst of missed attempts.
    sim.clock.set(t(secs(200)));
    sim.restart().await;
    sim.advance_to(t(secs(900))).await;
    assert_eq!(
        publish_times(&publishes_of(&mut sim, cmd.command_id)),
        [ts(T0), t(secs(30))]
    );
    let s = sim.stored(cmd.command_id).await;
    assert_eq!(s.status, CommandStatus::Timeout);
    assert_eq!(s.completed_at, Some(t(secs(200))));
    assert_eq!(s.next_deadline, None);
    assert!(sim.store.unfinished_commands().await.unwrap().is_empty());
}

#[tokio::test]
async fn restart_publishes_a_stored_pending_command() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let pending = Command::new(
        CommandId::generate(ts(T0)),
        dev("d1"),
        Instruction::set_fan_speed(speed(2)),
        CommandSource::Manual,
        ts(T0),
    );
    sim.store.insert_command(&pending).await.unwrap();
    sim.advance(secs(5)).await;
    assert!(sim.all_sent().is_empty());
    sim.restart().await;

    let sent = publishes_of(&mut sim, pending.command_id);
    assert_eq!(publish_times(&sent), [t(secs(5))]);
    assert_eq!(actions(&sent), [act("setFanSpeed", 2)]);
    let s = sim.stored(pending.command_id).await;
    assert_eq!(s.status, CommandStatus::Sent);
    assert_eq!(attempts(&s), [(1, t(secs(5)), false)]);
    assert_eq!(s.sent_at, Some(t(secs(5))));
    sim.ack(&sent[0], AckStatus::Success).await;
    assert_eq!(
        sim.stored(pending.command_id).await.status,
        CommandStatus::Acknowledged
    );
    sim.advance_to(t(secs(600))).await;
    assert_eq!(sim.all_sent().len(), 1);
}

#[tokio::test]
async fn restart_with_two_unfinished_commands_for_a_device_sends_only_the_newest() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    let older = Command::new(
        CommandId::generate(ts(T0)),
        dev("d1"),
        Instruction::set_fan_speed(speed(2)),
        CommandSource::Manual,
        ts(T0),
    );
    let newer = Command::new(
        CommandId::generate(t(secs(1))),
        dev("d1"),
        Instruction::turn_off(),
        CommandSource::Manual,
        t(secs(1)),
    );
    sim.store.insert_command(&older).await.unwrap();
    sim.store.insert_command(&newer).await.unwrap();
    sim.advance(secs(5)).await;
    sim.restart().await;
    let sent = sim.all_sent();
    assert_eq!(actions(&sent), [act("turnOff", 0)]);
    assert_eq!(sent[0].command_id, newer.command_id);
    let old = sim.stored(older.command_id).await;
    assert_eq!(old.status, CommandStatus::Superseded);
    assert_eq!(old.superseded_by, Some(newer.command_id));
    assert_eq!(
        sim.stored(newer.command_id).await.status,
        CommandStatus::Sent
    );
}

// ---- presence ----

#[tokio::test]
async fn message_makes_device_online_and_silence_makes_it_offline() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    assert_eq!(presence(&sim, "d1").await, None);
    seen(&sim, "d1", ts(T0)).await;
    let online = presence_of(true, ts(T0), PresenceReason::Message);
    assert_eq!(presence(&sim, "d1").await, online);
    sim.advance_to(t(millis(59_999))).await;
    assert_eq!(presence(&sim, "d1").await, online);
    sim.advance_to(t(secs(60))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(60)), PresenceReason::Silence)
    );
}

#[tokio::test]
async fn a_forgotten_device_gets_no_more_writes_from_its_timers() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    seen(&sim, "d1", ts(T0)).await;
    let online = presence_of(true, ts(T0), PresenceReason::Message);
    let epoch = sim.handle.registry_epoch();
    sim.handle.forget_device(dev("d1")).await.unwrap();
    assert!(sim.handle.registry_epoch() > epoch, "caches are told");
    sim.advance_to(t(secs(600))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        online,
        "the silence timer was dropped: no offline write for a deleted device"
    );
    assert_eq!(sim.handle.control(dev("d1")).await.unwrap(), None);
}

#[tokio::test]
async fn default_offline_after_is_five_minutes() {
    let mut sim = Sim::new(T0, &["d1"]).await;
    seen(&sim, "d1", ts(T0)).await;
    sim.advance_to(t(millis(299_999))).await;
    assert!(presence(&sim, "d1").await.is_some_and(|p| p.online));
    sim.advance_to(t(secs(300))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(300)), PresenceReason::Silence)
    );
}

#[tokio::test]
async fn every_message_postpones_the_silence_and_a_later_one_brings_it_back() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    seen(&sim, "d1", ts(T0)).await;
    sim.advance_to(t(secs(20))).await;
    seen(&sim, "d1", t(secs(20))).await;
    // Still online since the first message.
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(true, ts(T0), PresenceReason::Message)
    );
    sim.advance_to(t(millis(79_999))).await;
    assert!(presence(&sim, "d1").await.is_some_and(|p| p.online));
    sim.advance_to(t(secs(80))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(80)), PresenceReason::Silence)
    );

    sim.advance_to(t(secs(100))).await;
    seen(&sim, "d1", t(secs(100))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(true, t(secs(100)), PresenceReason::Message)
    );
    sim.advance_to(t(secs(160))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(160)), PresenceReason::Silence)
    );
}

#[tokio::test]
async fn presence_from_status_topic_last_will_and_shutdown_notice_is_recorded() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    presence_event(&sim, "d1", true, PresenceReason::StatusTopic).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(true, ts(T0), PresenceReason::StatusTopic)
    );
    sim.advance_to(t(secs(10))).await;
    presence_event(&sim, "d1", false, PresenceReason::LastWill).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(10)), PresenceReason::LastWill)
    );
    // Offline already: silence does not rewrite the reason.
    sim.advance_to(t(secs(600))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(10)), PresenceReason::LastWill)
    );

    presence_event(&sim, "d1", true, PresenceReason::StatusTopic).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(true, t(secs(600)), PresenceReason::StatusTopic)
    );
    sim.advance_to(t(secs(620))).await;
    presence_event(&sim, "d1", false, PresenceReason::ShutdownNotice).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(620)), PresenceReason::ShutdownNotice)
    );
    sim.advance_to(t(secs(1_200))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(620)), PresenceReason::ShutdownNotice)
    );

    // An `online` status arms the silence timer like any message.
    presence_event(&sim, "d1", true, PresenceReason::StatusTopic).await;
    sim.advance_to(t(secs(1_260))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(1_260)), PresenceReason::Silence)
    );
}

#[tokio::test]
async fn older_message_does_not_postpone_the_silence_timer() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    sim.advance_to(t(secs(30))).await;
    seen(&sim, "d1", t(secs(30))).await;
    sim.advance_to(t(secs(40))).await;
    // A message from before the one that armed the timer (a delayed delivery).
    seen(&sim, "d1", t(secs(10))).await;
    sim.advance_to(t(millis(89_999))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(true, t(secs(30)), PresenceReason::Message),
        "nor does it bring the timer forward"
    );
    sim.advance_to(t(secs(90))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(90)), PresenceReason::Silence)
    );
}

#[tokio::test]
async fn presence_changes_are_published_on_the_event_stream() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    let mut events = sim.handle.subscribe();
    seen(&sim, "d1", ts(T0)).await;
    seen(&sim, "d1", t(secs(1))).await; // no change: no event
    sim.advance_to(t(secs(61))).await;
    presence_event(&sim, "d1", true, PresenceReason::StatusTopic).await;
    sim.advance_to(t(secs(70))).await;
    presence_event(&sim, "d1", false, PresenceReason::LastWill).await;

    let got: Vec<(DeviceId, Presence)> = drain_events(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            EngineEvent::Presence {
                device_id,
                presence,
            } => Some((device_id, presence)),
            _ => None,
        })
        .collect();
    let p = |online, since, reason| Presence {
        online,
        since,
        reason,
    };
    assert_eq!(
        got,
        [
            (dev("d1"), p(true, ts(T0), PresenceReason::Message)),
            (dev("d1"), p(false, t(secs(61)), PresenceReason::Silence)),
            (dev("d1"), p(true, t(secs(61)), PresenceReason::StatusTopic)),
            (dev("d1"), p(false, t(secs(70)), PresenceReason::LastWill)),
        ]
    );
}

#[tokio::test]
async fn ack_counts_as_a_message_for_presence() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    let cmd = sim.fan("d1", 3).await;
    sim.advance(secs(5)).await;
    let now = sim.now();
    deliver(
        &sim,
        ack_of(
            "d1",
            cmd.command_id,
            AckStatus::Success,
            None,
            now,
            now,
            Some(on(3)),
        ),
    )
    .await;
    let state = sim.store.device_state(&dev("d1")).await.unwrap().unwrap();
    assert_eq!(state.last_seen, Some(t(secs(5))));
    assert_eq!(
        state.presence,
        presence_of(true, t(secs(5)), PresenceReason::Message)
    );
    sim.advance_to(t(secs(65))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(65)), PresenceReason::Silence)
    );
}

#[tokio::test]
async fn silence_timer_survives_a_restart() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    // What ingestion does with any valid message: record lastSeen (ARCHITECTURE.md invariant 7:
    // ingestion writes DeviceState's last seen), then tell the engine.
    sim.store.record_seen(&dev("d1"), ts(T0)).await.unwrap();
    seen(&sim, "d1", ts(T0)).await;
    sim.advance_to(t(secs(30))).await;
    sim.restart().await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(true, ts(T0), PresenceReason::Message)
    );
    sim.advance_to(t(millis(59_999))).await;
    assert!(presence(&sim, "d1").await.is_some_and(|p| p.online));
    sim.advance_to(t(secs(60))).await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(60)), PresenceReason::Silence)
    );
}

#[tokio::test]
async fn silence_after_a_restart_while_down_is_recorded_at_its_deadline() {
    let mut sim = Sim::with_config(T0, &["d1"], with_offline_after(secs(60))).await;
    sim.store.record_seen(&dev("d1"), ts(T0)).await.unwrap();
    seen(&sim, "d1", ts(T0)).await;
    sim.crash().await;
    sim.clock.set(t(secs(300)));
    sim.restart().await;
    assert_eq!(
        presence(&sim, "d1").await,
        presence_of(false, t(secs(60)), PresenceReason::Silence),
        "offline since lastSeen + offlineAfter, not since the restart"
    );
}
