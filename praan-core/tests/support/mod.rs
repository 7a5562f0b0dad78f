//! A simulated installation for engine tests: `FakeClock`, `MemoryStore`, `MemoryTransport`, the
//! engine on a spawned task, and helpers that act as the devices.
//!
//! Time moves only through [`Sim::advance`] / [`Sim::advance_to`]; each call waits (by a round
//! trip through the engine's queue) until the engine has handled every timer due at the new time.
//! Nothing here sleeps.

#![allow(
    dead_code,
    reason = "each test binary uses the part of the harness it needs"
)]
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    reason = "test support: items are shared by test binaries, and a failed unwrap is a failed test"
)]

use std::{sync::Arc, time::Duration};

use praan_core::{
    clock::{Clock, FakeClock},
    codec::{Codec, TopicKind},
    domain::{
        Ack, AckStatus, Boundary, Command, CommandId, CommandSource, ControlState, Device,
        DeviceId, FanSpeed, FanState, Instruction, RuleSpec, RunOutcome, Schedule, Timestamp,
        Timezone,
    },
    engine::{CommandRequest, DeviceEvent, Engine, EngineConfig, Handle},
    store::{DeviceRepo, MemoryStore, Store},
    transport::{MemoryTransport, Outbound},
};
use tokio::task::JoinHandle;

/// What a published command said, decoded the way a device decodes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub device: String,
    pub command_id: CommandId,
    pub action: String,
    pub value: u8,
    pub at: Timestamp,
    pub raw: Vec<u8>,
}

pub struct Sim {
    pub clock: FakeClock,
    pub store: Arc<MemoryStore>,
    pub transport: MemoryTransport,
    pub config: EngineConfig,
    pub handle: Handle,
    engine: Option<JoinHandle<Result<(), praan_core::engine::EngineError>>>,
    /// Publishes already returned by `take_sent`.
    seen_publishes: usize,
    /// When each publish happened: the clock when the engine was last settled after it.
    publish_times: std::sync::Mutex<Vec<Timestamp>>,
}

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

pub fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

pub fn speed(n: u8) -> FanSpeed {
    FanSpeed::new(n).unwrap()
}

pub fn on(n: u8) -> FanState {
    FanState::at_speed(speed(n))
}

/// A schedule rule from its JSON spec (UTC unless the spec names a zone).
pub fn rule(json: &str) -> praan_core::domain::ScheduleRule {
    serde_json::from_str::<RuleSpec>(json)
        .unwrap()
        .build(Timezone::UTC)
        .unwrap()
}

impl Sim {
    /// A running engine at `start` with default settings and the given devices registered.
    pub async fn new(start: &str, devices: &[&str]) -> Self {
        Self::with_config(start, devices, EngineConfig::default()).await
    }

    pub async fn with_config(start: &str, devices: &[&str], config: EngineConfig) -> Self {
        let clock = FakeClock::new(ts(start));
        let store = Arc::new(MemoryStore::new());
        for d in devices {
            store
                .insert_device(&Device::auto_registered(dev(d), clock.now()))
                .await
                .unwrap();
        }
        let (transport, _inbound) = MemoryTransport::new(16);
        let (handle, engine) = Self::boot(&config, &store, &transport, &clock).await;
        Self {
            clock,
            store,
            transport,
            config,
            handle,
            engine: Some(engine),
            seen_publishes: 0,
            publish_times: std::sync::Mutex::new(Vec::new()),
        }
    }

    async fn boot(
        config: &EngineConfig,
        store: &Arc<MemoryStore>,
        transport: &MemoryTransport,
        clock: &FakeClock,
    ) -> (
        Handle,
        JoinHandle<Result<(), praan_core::engine::EngineError>>,
    ) {
        let (handle, engine) = Engine::start(
            config.clone(),
            store.clone() as Arc<dyn Store>,
            Arc::new(transport.clone()),
            Arc::new(clock.clone()),
        )
        .await
        .unwrap();
        (handle, tokio::spawn(engine))
    }

    /// Kills the engine where it stands (a crash: nothing more is written), without restarting.
    pub async fn crash(&mut self) {
        if let Some(engine) = self.engine.take() {
            engine.abort();
            let _ = engine.await;
        }
    }

    /// A crash followed by a start from the same store at the current (simulated) time.
    pub async fn restart(&mut self) {
        self.crash().await;
        let (handle, engine) =
            Self::boot(&self.config, &self.store, &self.transport, &self.clock).await;
        self.handle = handle;
        self.engine = Some(engine);
        self.settle().await;
    }

    /// Waits until the engine has handled everything due at the current time and is waiting
    /// again (two round trips through its queue: the second is answered only after the engine
    /// finished the loop turn in which it answered the first).
    pub async fn settle(&self) {
        for _ in 0..2 {
            self.handle.control(dev("settle-probe")).await.unwrap();
        }
        self.note_publishes();
    }

    pub async fn advance(&mut self, by: Duration) {
        self.clock.advance(by);
        self.settle().await;
    }

    /// Moves time to `t` in steps, so every timer fires at its own deadline.
    pub async fn advance_to(&mut self, t: Timestamp) {
        while let Some(next) = self.clock.next_deadline().filter(|d| *d <= t) {
            self.clock.set(next);
            self.settle().await;
        }
        if self.clock.now() < t {
            self.clock.set(t);
            self.settle().await;
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn note_publishes(&self) {
        let n = self.transport.published().len();
        let mut times = self.publish_times.lock().unwrap();
        while times.len() < n {
            times.push(self.clock.now());
        }
    }

    /// Every command published so far, decoded.
    pub fn all_sent(&mut self) -> Vec<Sent> {
        self.note_publishes();
        self.transport
            .published()
            .iter()
            .zip(self.publish_times.lock().unwrap().iter())
            .map(|(o, at)| decode_command(o, *at))
            .collect()
    }

    /// The commands published since the last call.
    pub fn take_sent(&mut self) -> Vec<Sent> {
        let all = self.all_sent();
        let new = all[self.seen_publishes..].to_vec();
        self.seen_publishes = all.len();
        new
    }

    pub async fn command(&self, device: &str, instruction: Instruction) -> Command {
        let cmd = self
            .handle
            .send_command(CommandRequest {
                device_id: dev(device),
                instruction,
                source: CommandSource::Manual,
                idempotency_key: None,
                expires_in: None,
            })
            .await
            .unwrap();
        self.note_publishes();
        cmd
    }

    pub async fn fan(&self, device: &str, n: u8) -> Command {
        self.command(device, Instruction::set_fan_speed(speed(n)))
            .await
    }

    /// The device acks `sent` with `status`, reporting the state the command asked for.
    pub async fn ack(&self, sent: &Sent, status: AckStatus) {
        let state = match sent.action.as_str() {
            "turnOff" => FanState::OFF,
            _ => on(sent.value.max(1)),
        };
        self.ack_with(sent, status, Some(state), self.now()).await;
    }

    pub async fn ack_with(
        &self,
        sent: &Sent,
        status: AckStatus,
        current_state: Option<FanState>,
        device_time: Timestamp,
    ) {
        self.handle
            .device_event(DeviceEvent::Ack(Ack {
                device_id: dev(&sent.device),
                command_id: sent.command_id,
                status,
                message: None,
                timestamp: device_time,
                received_at: self.now(),
                current_state,
            }))
            .await
            .unwrap();
        self.settle().await;
    }

    /// Acks every command published since the last `take_sent`, as a well-behaved device does.
    pub async fn ack_new(&mut self) -> Vec<Sent> {
        let sent = self.take_sent();
        for s in &sent {
            self.ack(s, AckStatus::Success).await;
        }
        sent
    }

    pub async fn stored(&self, id: CommandId) -> Command {
        praan_core::store::CommandRepo::get_command(&*self.store, id)
            .await
            .unwrap()
            .unwrap()
    }

    pub async fn control(&self, device: &str) -> Option<ControlState> {
        self.handle.control(dev(device)).await.unwrap()
    }

    /// The effective state the engine holds for the device.
    pub async fn effective(&self, device: &str) -> Option<FanState> {
        self.control(device)
            .await
            .and_then(|c| c.effective)
            .map(|e| e.state)
    }

    pub async fn schedule(&self, device: &str, json: &str) -> Schedule {
        self.handle
            .create_schedule(dev(device), rule(json), true)
            .await
            .unwrap()
            .schedule
    }
}

/// Runs the simulation to `until`, stopping at every deadline on the way and acking every command
/// as soon as it is published (a well-behaved device): no retries. Returns what was sent.
pub async fn run_acking(sim: &mut Sim, until: Timestamp) -> Vec<Sent> {
    let mut out = sim.ack_new().await;
    for _ in 0..100_000 {
        match sim
            .clock
            .next_deadline()
            .filter(|d| *d <= until && *d > sim.now())
        {
            Some(deadline) => sim.advance_to(deadline).await,
            None => {
                sim.advance_to(until).await;
                out.extend(sim.ack_new().await);
                return out;
            }
        }
        out.extend(sim.ack_new().await);
    }
    panic!("the simulation did not reach {until}");
}

/// [`run_acking`] to an RFC 3339 instant.
pub async fn run_acking_to(sim: &mut Sim, until: &str) -> Vec<Sent> {
    run_acking(sim, ts(until)).await
}

/// Decodes a published command payload as a device would.
pub fn decode_command(o: &Outbound, at: Timestamp) -> Sent {
    let codec = Codec::default();
    let topic = codec.parse_topic(&o.topic).unwrap();
    assert_eq!(topic.kind, TopicKind::Command);
    let v: serde_json::Value = serde_json::from_slice(&o.payload).unwrap();
    Sent {
        device: topic.device_id.to_string(),
        command_id: v["commandId"].as_str().unwrap().parse().unwrap(),
        action: v["action"].as_str().unwrap().to_owned(),
        value: u8::try_from(v["value"].as_u64().unwrap()).unwrap(),
        at,
        raw: o.payload.to_vec(),
    }
}

/// Command sources, short, for expectation tables.
pub const SCHEDULE: CommandSource = CommandSource::Schedule;
pub const MANUAL: CommandSource = CommandSource::Manual;
pub const PRECLEAN: CommandSource = CommandSource::Preclean;
pub const RESTORE: CommandSource = CommandSource::Restore;

/// Run outcomes and boundaries, short, for expectation tables.
pub const APPLIED: RunOutcome = RunOutcome::Applied;
pub const START: Boundary = Boundary::Start;
pub const END: Boundary = Boundary::End;

/// Expected schedule runs, from literals: (RFC 3339 time, boundary, outcome).
pub fn expected_runs(
    list: &[(&str, Boundary, RunOutcome)],
) -> Vec<(Timestamp, Boundary, RunOutcome)> {
    list.iter().map(|(t, b, o)| (ts(t), *b, *o)).collect()
}

/// One published command as a log line: when, action, value, and the stored command's source.
pub type Logged = (Timestamp, String, u8, CommandSource);

/// The expected command log, from literals: (RFC 3339 time, action, value, source).
pub fn expected(list: &[(&str, &str, u8, CommandSource)]) -> Vec<Logged> {
    list.iter()
        .map(|(t, a, v, s)| (ts(t), (*a).to_owned(), *v, *s))
        .collect()
}

/// The log of `sent`, with each command's source read from the store.
pub async fn logged(sim: &Sim, sent: &[Sent]) -> Vec<Logged> {
    let mut out = Vec::new();
    for s in sent {
        out.push((
            s.at,
            s.action.clone(),
            s.value,
            sim.stored(s.command_id).await.source,
        ));
    }
    out
}

/// `(action, value)` pairs, for compact expectations.
pub fn actions(sent: &[Sent]) -> Vec<(String, u8)> {
    sent.iter().map(|s| (s.action.clone(), s.value)).collect()
}

pub fn act(action: &str, value: u8) -> (String, u8) {
    (action.to_owned(), value)
}
