//! The engine actor: state, the run loop, and one method per request or timer.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::{
    clock::Clock,
    codec::{Codec, CodecLimits, TopicKind},
    command::{AckOutcome, Deliveries, DeliveryEffect, LateAck, record_late_ack},
    control::{self, ActiveWindow, ControlEvent, Decision},
    domain::{
        Ack, Command, CommandAction, CommandId, CommandSource, ControlState, DeviceId, FanSpeed,
        FanState, Instruction, PreClean, PreCleanId, PreCleanStatus, Presence, PresenceReason,
        ReportedState, RestoreInfo, RunId, Schedule, ScheduleId, ScheduleRule, ScheduleRun,
        Timestamp, ValidationError, WindowKey,
    },
    schedule,
    store::Store,
    transport::{Outbound, Transport},
};

use super::{
    EngineConfig, EngineError, EngineEvent,
    handle::{
        CommandRequest, DeviceEvent, PreCleanRequest, PreCleanStarted, Request, ScheduleSaved,
    },
};

type Reply<T> = oneshot::Sender<Result<T, EngineError>>;

/// What a timer is for. At most one `Boundary` and one `Silence` timer per device.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Timer {
    Boundary(DeviceId),
    PreCleanEnd(PreCleanId, DeviceId),
    Silence(DeviceId),
}

/// A device the control layers manage: its control state and its enabled schedules.
#[derive(Debug, Default)]
struct Managed {
    control: Option<ControlState>,
    schedules: Vec<Schedule>,
    boundary: Option<Timestamp>,
}

impl Managed {
    /// Adds an enabled schedule. Most devices have one or two, so the list grows one slot at a
    /// time instead of reserving four (Vec's first allocation): memory per managed device is a
    /// target (PERFORMANCE.md P8).
    fn add_schedule(&mut self, schedule: Schedule) {
        self.schedules.reserve_exact(1);
        self.schedules.push(schedule);
    }
}

/// What presence tracking keeps per device.
#[derive(Clone, Copy, Debug)]
struct Liveness {
    online: bool,
    silence_at: Option<Timestamp>,
}

pub(super) struct Actor {
    config: EngineConfig,
    store: Arc<dyn Store>,
    transport: Arc<dyn Transport>,
    clock: Arc<dyn Clock>,
    codec: Codec,
    deliveries: Deliveries,
    devices: HashMap<DeviceId, Managed>,
    liveness: HashMap<DeviceId, Liveness>,
    timers: BTreeSet<(Timestamp, Timer)>,
    waiters: HashMap<CommandId, Vec<Reply<Command>>>,
    events: broadcast::Sender<EngineEvent>,
    /// The latest time the loop saw, to notice the clock stepping backwards.
    last_now: Timestamp,
}

impl Actor {
    pub(super) fn new(
        config: EngineConfig,
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
        events: broadcast::Sender<EngineEvent>,
    ) -> Self {
        Self {
            codec: Codec::new(config.topic_prefix.clone(), CodecLimits::default()),
            deliveries: Deliveries::new(config.delivery),
            config,
            store,
            transport,
            clock,
            devices: HashMap::new(),
            liveness: HashMap::new(),
            timers: BTreeSet::new(),
            waiters: HashMap::new(),
            events,
            last_now: Timestamp::MIN,
        }
    }

    fn emit(&self, event: EngineEvent) {
        // No subscriber is fine: events are for live watchers only.
        let _ = self.events.send(event);
    }

    // ---- start and catch-up ----

    /// Rebuilds everything from the store and catches up level-triggered (PRODUCT.md §3).
    pub(super) async fn recover(&mut self) -> Result<(), EngineError> {
        let now = self.clock.now();
        self.last_now = now;
        let unfinished = self.store.unfinished_commands().await?;
        self.deliveries.recover(now, unfinished);
        for control in self.store.control_states().await? {
            let device = control.device_id.clone();
            self.devices.entry(device).or_default().control = Some(control);
        }
        for schedule in self.store.active_schedules().await? {
            self.devices
                .entry(schedule.device_id.clone())
                .or_default()
                .add_schedule(schedule);
        }
        for state in self.store.device_states().await? {
            if let (Some(p), Some(seen)) = (state.presence, state.last_seen)
                && p.online
            {
                self.arm_silence(&state.device_id, seen);
            }
        }
        // The windows active now first (an overdue pre-clean still masks them), so that ending
        // the pre-clean below restores to the state the schedules want now, in one command.
        let devices: Vec<DeviceId> = self.devices.keys().cloned().collect();
        for device in devices {
            self.evaluate(&device, now).await?;
        }
        let active = self.store.active_pre_cleans().await?;
        let active_ids: Vec<PreCleanId> = active.iter().map(|p| p.pre_clean_id).collect();
        for p in active {
            if p.ends_at <= now {
                // It ended while praan was down: end it now, restoring the right state.
                self.end_pre_clean(p.pre_clean_id, now, PreCleanStatus::Completed)
                    .await?;
            } else {
                self.timers
                    .insert((p.ends_at, Timer::PreCleanEnd(p.pre_clean_id, p.device_id)));
            }
        }
        // A control state pointing at a pre-clean that is no longer active (a crash between the
        // two writes) is released the same way.
        let dangling: Vec<(DeviceId, PreCleanId)> = self
            .devices
            .iter()
            .filter_map(|(d, m)| {
                let id = m.control.as_ref()?.active_pre_clean?;
                (!active_ids.contains(&id)).then(|| (d.clone(), id))
            })
            .collect();
        for (device, id) in dangling {
            self.release_pre_clean(&device, id, now).await?;
        }
        self.drain(now).await?;
        Ok(())
    }

    // ---- the loop ----

    pub(super) async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Request>,
    ) -> Result<(), EngineError> {
        loop {
            self.step_timers().await;
            let next = [
                self.timers.first().map(|(t, _)| *t),
                self.deliveries.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let clock = self.clock.clone();
            let sleep = async move {
                match next {
                    Some(t) => clock.sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                request = inbox.recv() => match request {
                    Some(request) => {
                        // Timers due by now come first, so a request sees their effects.
                        self.step_timers().await;
                        if let Err(e) = self.handle(request).await {
                            tracing::error!(error = %e, "engine step failed; carrying on");
                        }
                    }
                    None => return Ok(()),
                },
                () = sleep => {}
            }
        }
    }

    /// Runs the due timers; a failure (the store is down) is logged and the engine carries on —
    /// an outage must not stop command delivery, schedules and presence for good.
    async fn step_timers(&mut self) {
        if let Err(e) = self.fire_due().await {
            tracing::error!(error = %e, "engine timers failed; carrying on");
        }
    }

    /// Runs every timer due at the clock's current time (idempotent). If the clock stepped
    /// backwards, every managed device is re-evaluated at the new time first: its schedule timers
    /// were armed for a future that is now further away.
    async fn fire_due(&mut self) -> Result<(), EngineError> {
        let now = self.clock.now();
        if now < self.last_now {
            tracing::warn!(from = %self.last_now, to = %now, "the clock stepped backwards; re-evaluating schedules");
            let devices: Vec<DeviceId> = self.devices.keys().cloned().collect();
            for device in devices {
                self.evaluate(&device, now).await?;
            }
        }
        self.last_now = now;
        loop {
            let now = self.clock.now();
            self.deliveries.handle_timeout(now);
            self.drain(now).await?;
            let Some((at, timer)) = self.timers.first().cloned() else {
                return Ok(());
            };
            if at > now {
                return Ok(());
            }
            self.timers.remove(&(at, timer.clone()));
            match timer {
                Timer::Boundary(device) => {
                    if let Some(m) = self.devices.get_mut(&device) {
                        m.boundary = None;
                    }
                    self.evaluate(&device, now).await?;
                }
                Timer::PreCleanEnd(id, _) => {
                    self.end_pre_clean(id, now, PreCleanStatus::Completed)
                        .await?;
                }
                Timer::Silence(device) => self.silence(&device, at).await?,
            }
            self.drain(now).await?;
        }
    }

    /// Handles one request. Only a failure of the engine itself (never a bad request) is returned.
    async fn handle(&mut self, request: Request) -> Result<(), EngineError> {
        let now = self.clock.now();
        match request {
            Request::SendCommand(req, reply) => {
                let r = self.send_command(req, now).await;
                let _ = reply.send(r);
            }
            Request::CancelCommand(id, reply) => {
                let r = match self.deliveries.cancel(now, id, "cancelled through the API") {
                    Some(cmd) => Ok(cmd),
                    None => self.terminal_or_missing(id).await,
                };
                self.drain(now).await?;
                let _ = reply.send(r);
            }
            Request::WaitTerminal(id, reply) => {
                if self.deliveries.get(id).is_some() {
                    self.waiters.entry(id).or_default().push(reply);
                } else {
                    let _ = reply.send(self.terminal_or_missing(id).await);
                }
            }
            Request::StartPreClean(req, reply) => {
                let r = self.start_pre_clean(req, now).await;
                let _ = reply.send(r);
            }
            Request::CancelPreClean(device, reply) => {
                let r = self.cancel_pre_clean(&device, now).await;
                let _ = reply.send(r);
            }
            Request::DeletePreClean(id, reply) => {
                let r = self.delete_pre_clean(id, now).await;
                let _ = reply.send(r);
            }
            Request::CreateSchedule(device, rule, active, reply) => {
                let r = self.create_schedule(device, rule, active, now).await;
                let _ = reply.send(r);
            }
            Request::UpdateSchedule(id, rule, active, reply) => {
                let r = self.update_schedule(id, rule, active, now).await;
                let _ = reply.send(r);
            }
            Request::DeleteSchedule(id, reply) => {
                let r = self.delete_schedule(id, now).await;
                let _ = reply.send(r);
            }
            Request::TestSchedule(id, reply) => {
                let r = self.test_schedule(id, now).await;
                let _ = reply.send(r);
            }
            Request::Control(device, reply) => {
                let control = self.devices.get(&device).and_then(|m| m.control.clone());
                let _ = reply.send(Ok(control));
            }
            Request::Timeline(device, from, until, reply) => {
                let plan = self.devices.get(&device).map_or_else(Vec::new, |m| {
                    let rules: Vec<(ScheduleId, &ScheduleRule)> = m
                        .schedules
                        .iter()
                        .map(|s| (s.schedule_id, &s.rule))
                        .collect();
                    schedule::timeline(&rules, from, until)
                });
                let _ = reply.send(Ok(plan));
            }
            Request::Device(event) => self.device_event(event, now).await?,
            Request::ForgetDevice(device, reply) => {
                self.devices.remove(&device);
                self.liveness.remove(&device);
                self.timers.retain(|(_, timer)| match timer {
                    Timer::Boundary(d) | Timer::Silence(d) | Timer::PreCleanEnd(_, d) => {
                        *d != device
                    }
                });
                let _ = reply.send(Ok(()));
            }
        }
        Ok(())
    }

    async fn terminal_or_missing(&self, id: CommandId) -> Result<Command, EngineError> {
        self.store
            .get_command(id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                entity: "command",
                id: id.to_string(),
            })
    }

    // ---- delivery effects ----

    /// Carries out the delivery machine's effects. Returns the ids of commands that could not be
    /// stored (they are dropped from the machine and never published).
    async fn drain(&mut self, now: Timestamp) -> Result<Vec<CommandId>, EngineError> {
        let mut unstored = Vec::new();
        while let Some(effect) = self.deliveries.poll_effect() {
            match effect {
                DeliveryEffect::Insert(cmd) => match self.store.insert_command(&cmd).await {
                    Ok(()) => self.emit(EngineEvent::Command {
                        command: Box::new(cmd),
                    }),
                    Err(e) => {
                        tracing::error!(command_id = %cmd.command_id, error = %e, "command not stored, not sent");
                        self.deliveries.cancel(
                            now,
                            cmd.command_id,
                            "the command could not be stored",
                        );
                        // The cancel's own effects concern a command that was never stored.
                        while self.deliveries.poll_effect().is_some() {}
                        unstored.push(cmd.command_id);
                    }
                },
                DeliveryEffect::Update(cmd) => {
                    if let Err(e) = self.store.update_command(&cmd).await {
                        tracing::error!(command_id = %cmd.command_id, error = %e, "command update not stored");
                    }
                    self.emit(EngineEvent::Command {
                        command: Box::new(cmd),
                    });
                }
                DeliveryEffect::Publish(cmd) => {
                    if self.deliveries.get(cmd.command_id).is_none() {
                        continue; // finished (superseded, cancelled) since the publish was asked
                    }
                    let topic = self.codec.topic(&cmd.device_id, TopicKind::Command);
                    let payload = self.codec.encode_command(&cmd);
                    let result = self
                        .transport
                        .publish(Outbound::new(topic, payload))
                        .await
                        .map_err(|e| e.to_string());
                    self.deliveries
                        .handle_published(self.clock.now(), cmd.command_id, result);
                }
                DeliveryEffect::Finished(cmd) => {
                    for waiter in self.waiters.remove(&cmd.command_id).unwrap_or_default() {
                        let _ = waiter.send(Ok(cmd.clone()));
                    }
                }
            }
        }
        Ok(unstored)
    }

    /// Creates, stores and publishes a command; `Err` if it could not be stored.
    async fn submit(
        &mut self,
        device: &DeviceId,
        instruction: Instruction,
        source: CommandSource,
        now: Timestamp,
        prepare: impl FnOnce(&mut Command),
    ) -> Result<Command, EngineError> {
        let mut cmd = Command::new(
            CommandId::generate(now),
            device.clone(),
            instruction,
            source,
            now,
        );
        prepare(&mut cmd);
        let id = cmd.command_id;
        self.deliveries.submit(now, cmd.clone());
        let unstored = self.drain(now).await?;
        if unstored.contains(&id) {
            return Err(EngineError::Store(crate::store::StoreError::Backend {
                context: "storing a new command".into(),
                source: "the command could not be stored; see the log".into(),
            }));
        }
        match self.deliveries.get(id) {
            Some(in_flight) => Ok(in_flight.clone()),
            // Finished already (e.g. expired before it was sent): as stored.
            None => Ok(self.store.get_command(id).await?.unwrap_or(cmd)),
        }
    }

    // ---- commands ----

    async fn registered(&self, device: &DeviceId) -> Result<crate::domain::Device, EngineError> {
        self.store
            .get_device(device)
            .await?
            .ok_or_else(|| EngineError::UnknownDevice(device.clone()))
    }

    async fn send_command(
        &mut self,
        req: CommandRequest,
        now: Timestamp,
    ) -> Result<Command, EngineError> {
        let device = self.registered(&req.device_id).await?;
        let max = device.specifications.max_fan_speed;
        if req.instruction.value() > max {
            return Err(ValidationError::new(
                "fanSpeed",
                format!("must be at most {max}, the device's maximum"),
            )
            .into());
        }
        if let Some(key) = &req.idempotency_key
            && let Some(mut existing) = self
                .store
                .command_by_idempotency_key(&req.device_id, key)
                .await?
        {
            let fresh_until = existing
                .created_at
                .saturating_add(self.config.idempotency_window);
            if now < fresh_until {
                return Ok(self
                    .deliveries
                    .get(existing.command_id)
                    .cloned()
                    .unwrap_or(existing));
            }
            // The key is free again after the window: release it from the old command.
            existing.idempotency_key = None;
            self.store.update_command(&existing).await?;
        }
        let state = self.manual_state(&req.device_id, req.instruction).await?;
        let key = req.idempotency_key.clone();
        let expires = req.expires_in.map(|d| now.saturating_add(d));
        let cmd = self
            .submit(&req.device_id, req.instruction, req.source, now, |c| {
                c.idempotency_key = key;
                c.expires_at = expires;
            })
            .await?;
        self.apply_manual(&req.device_id, state, cmd.command_id, now)
            .await?;
        Ok(cmd)
    }

    /// The state a manual instruction asks for. `turnOn` keeps the speed the device last
    /// reported (or speed 3, the AUTO speed, when it reported none or 0).
    async fn manual_state(
        &self,
        device: &DeviceId,
        instruction: Instruction,
    ) -> Result<FanState, EngineError> {
        Ok(match instruction.action() {
            CommandAction::SetFanSpeed => FanState::at_speed(instruction.value()),
            CommandAction::TurnOff => FanState::OFF,
            CommandAction::TurnOn => {
                let speed = if instruction.value().is_off() {
                    let reported = self
                        .store
                        .device_state(device)
                        .await?
                        .and_then(|s| s.reported)
                        .map(|r| r.state.fan_speed)
                        .filter(|s| !s.is_off());
                    reported.unwrap_or(FanSpeed::new(3)?)
                } else {
                    instruction.value()
                };
                FanState::at_speed(speed)
            }
        })
    }

    /// A manual command changes the base intent and cancels an active pre-clean.
    async fn apply_manual(
        &mut self,
        device: &DeviceId,
        state: FanState,
        command_id: CommandId,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let control = self.control_mut(device, now);
        let decision = control::apply(control, now, ControlEvent::Manual { state, command_id });
        if let Some(id) = decision.ended_pre_clean {
            self.close_pre_clean(id, now, PreCleanStatus::Cancelled, None)
                .await?;
        }
        self.save_control(device).await
    }

    fn control_mut(&mut self, device: &DeviceId, now: Timestamp) -> &mut ControlState {
        self.devices
            .entry(device.clone())
            .or_default()
            .control
            .get_or_insert_with(|| ControlState::new(device.clone(), now))
    }

    async fn save_control(&mut self, device: &DeviceId) -> Result<(), EngineError> {
        if let Some(control) = self.devices.get(device).and_then(|m| m.control.clone()) {
            self.store.put_control(&control).await?;
            self.emit(EngineEvent::State {
                control: Box::new(control),
            });
        }
        Ok(())
    }

    /// Sends what a control decision asks for; returns the command, if one was sent.
    async fn carry_out(
        &mut self,
        device: &DeviceId,
        decision: &Decision,
        now: Timestamp,
    ) -> Result<Option<Command>, EngineError> {
        let Some((state, source)) = decision.command else {
            return Ok(None);
        };
        self.submit(device, Instruction::reach(state), source, now, |_| {})
            .await
            .map(Some)
    }

    // ---- device events ----

    async fn device_event(
        &mut self,
        event: DeviceEvent,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        match event {
            DeviceEvent::Ack(ack) => self.ack(ack, now).await,
            DeviceEvent::Presence {
                device_id,
                online,
                reason,
                at,
            } => self.presence(&device_id, online, reason, at).await,
            DeviceEvent::Seen { device_id, at } => self.seen(&device_id, at).await,
        }
    }

    async fn ack(&mut self, ack: Ack, now: Timestamp) -> Result<(), EngineError> {
        self.store
            .record_seen(&ack.device_id, ack.received_at)
            .await?;
        self.seen(&ack.device_id, ack.received_at).await?;
        let genuine = match self.deliveries.handle_ack(now, &ack) {
            AckOutcome::Decided(_) => true,
            AckOutcome::WrongDevice => false,
            AckOutcome::NotInFlight => match self.store.get_command(ack.command_id).await? {
                None => {
                    tracing::warn!(command_id = %ack.command_id, device_id = %ack.device_id, "ack for an unknown command ignored");
                    false
                }
                Some(cmd) => match record_late_ack(cmd, &ack) {
                    LateAck::Record(cmd) => {
                        self.store.update_command(&cmd).await?;
                        self.emit(EngineEvent::Command { command: cmd });
                        true
                    }
                    LateAck::Duplicate => true,
                    LateAck::WrongDevice => false,
                },
            },
        };
        if !genuine {
            tracing::warn!(command_id = %ack.command_id, device_id = %ack.device_id, "ack from a device the command is not for ignored");
        }
        if let (true, Some(state)) = (genuine, ack.current_state) {
            let reported = ReportedState {
                state,
                at: ack.timestamp,
            };
            self.store.record_reported(&ack.device_id, reported).await?;
        }
        self.drain(now).await?;
        Ok(())
    }

    fn arm_silence(&mut self, device: &DeviceId, seen: Timestamp) {
        let deadline = seen.saturating_add(self.config.offline_after);
        let entry = self.liveness.entry(device.clone()).or_insert(Liveness {
            online: true,
            silence_at: None,
        });
        if let Some(old) = entry.silence_at.replace(deadline) {
            self.timers.remove(&(old, Timer::Silence(device.clone())));
        }
        entry.online = true;
        self.timers
            .insert((deadline, Timer::Silence(device.clone())));
    }

    async fn seen(&mut self, device: &DeviceId, at: Timestamp) -> Result<(), EngineError> {
        let was_online = self.liveness.get(device).is_some_and(|l| l.online);
        let current = self.liveness.get(device).and_then(|l| l.silence_at);
        if current.is_some_and(|d| at.saturating_add(self.config.offline_after) <= d) {
            return Ok(()); // an older message than the one that armed the timer
        }
        self.arm_silence(device, at);
        if !was_online {
            self.record_presence(device, true, PresenceReason::Message, at)
                .await?;
        }
        Ok(())
    }

    async fn presence(
        &mut self,
        device: &DeviceId,
        online: bool,
        reason: PresenceReason,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        if reason != PresenceReason::LastWill {
            // The status topic and the shutdown notice are messages from the device itself (the
            // Last Will is the broker's).
            self.store.record_seen(device, at).await?;
        }
        if online {
            self.arm_silence(device, at);
        } else if let Some(l) = self.liveness.get_mut(device) {
            l.online = false;
            if let Some(old) = l.silence_at.take() {
                self.timers.remove(&(old, Timer::Silence(device.clone())));
            }
        } else {
            self.liveness.insert(
                device.clone(),
                Liveness {
                    online: false,
                    silence_at: None,
                },
            );
        }
        self.record_presence(device, online, reason, at).await
    }

    async fn silence(&mut self, device: &DeviceId, at: Timestamp) -> Result<(), EngineError> {
        if let Some(l) = self.liveness.get_mut(device) {
            if l.silence_at != Some(at) {
                return Ok(());
            }
            l.online = false;
            l.silence_at = None;
        }
        self.record_presence(device, false, PresenceReason::Silence, at)
            .await
    }

    async fn record_presence(
        &mut self,
        device: &DeviceId,
        online: bool,
        reason: PresenceReason,
        at: Timestamp,
    ) -> Result<(), EngineError> {
        let presence = Presence {
            online,
            since: at,
            reason,
        };
        if self.store.record_presence(device, presence).await? {
            self.emit(EngineEvent::Presence {
                device_id: device.clone(),
                presence,
            });
        }
        Ok(())
    }

    // ---- pre-cleans ----

    async fn start_pre_clean(
        &mut self,
        req: PreCleanRequest,
        now: Timestamp,
    ) -> Result<PreCleanStarted, EngineError> {
        let device = self.registered(&req.device_id).await?;
        let target = req.mode.target();
        if target.fan_speed > device.specifications.max_fan_speed {
            return Err(ValidationError::new(
                "fanSpeed",
                format!(
                    "must be at most {}, the device's maximum",
                    device.specifications.max_fan_speed
                ),
            )
            .into());
        }
        let id = PreCleanId::generate(now);
        // The replaced pre-clean is closed first: a device has one active pre-clean at most.
        if let Some(old) = self.store.active_pre_clean(&req.device_id).await? {
            self.close_pre_clean(old.pre_clean_id, now, PreCleanStatus::Replaced, Some(id))
                .await?;
        }
        let reported = self
            .store
            .device_state(&req.device_id)
            .await?
            .and_then(|s| s.reported)
            .map(|r| r.state);
        let control = self.control_mut(&req.device_id, now);
        let decision = control::apply(
            control,
            now,
            ControlEvent::PreCleanStarted {
                pre_clean_id: id,
                target,
                reported,
            },
        );
        let restore_target = control.base;
        let mut pre_clean = PreClean {
            pre_clean_id: id,
            device_id: req.device_id.clone(),
            mode: req.mode,
            target,
            duration_seconds: req.duration,
            started_at: now,
            ends_at: now.saturating_add(req.duration.as_duration()),
            status: PreCleanStatus::Active,
            ended_at: None,
            command_id: None,
            restore: None,
            replaced_by: None,
        };
        self.store.insert_pre_clean(&pre_clean).await?;
        self.save_control(&req.device_id).await?;
        if let Some(cmd) = self.carry_out(&req.device_id, &decision, now).await? {
            pre_clean.command_id = Some(cmd.command_id);
            self.store.update_pre_clean(&pre_clean).await?;
        }
        self.timers.insert((
            pre_clean.ends_at,
            Timer::PreCleanEnd(id, req.device_id.clone()),
        ));
        self.emit(EngineEvent::PreClean {
            pre_clean: Box::new(pre_clean.clone()),
        });
        Ok(PreCleanStarted {
            pre_clean,
            restore_target,
        })
    }

    /// Ends the active pre-clean `id` now (ran out or cancelled), restoring the base intent.
    async fn end_pre_clean(
        &mut self,
        id: PreCleanId,
        now: Timestamp,
        status: PreCleanStatus,
    ) -> Result<Option<PreClean>, EngineError> {
        let Some(p) = self.store.get_pre_clean(id).await? else {
            return Ok(None);
        };
        if p.status != PreCleanStatus::Active {
            return Ok(Some(p));
        }
        let cmd = self.release_pre_clean(&p.device_id, id, now).await?;
        if cmd.is_none() {
            // Nothing to restore (unmanaged, or the state does not change): the override's own
            // command must not go on retrying after the override ended.
            if let Some(start) = p.command_id {
                self.deliveries
                    .cancel(now, start, "the pre-clean it applied has ended");
                self.drain(now).await?;
            }
        }
        let restore = self
            .devices
            .get(&p.device_id)
            .and_then(|m| m.control.as_ref())
            .and_then(|c| c.base)
            .map_or(
                RestoreInfo {
                    target: None,
                    source: None,
                    command_id: cmd,
                    at: now,
                },
                |base| RestoreInfo {
                    target: Some(base.state),
                    source: Some(base.source),
                    command_id: cmd,
                    at: now,
                },
            );
        self.close_pre_clean(id, now, status, None).await?;
        let Some(mut p) = self.store.get_pre_clean(id).await? else {
            return Ok(None);
        };
        p.restore = Some(restore);
        self.store.update_pre_clean(&p).await?;
        self.emit(EngineEvent::PreClean {
            pre_clean: Box::new(p.clone()),
        });
        Ok(Some(p))
    }

    /// Removes the override from the device's control state and sends the restore command if
    /// the effective state changes; returns that command's id.
    async fn release_pre_clean(
        &mut self,
        device: &DeviceId,
        id: PreCleanId,
        now: Timestamp,
    ) -> Result<Option<CommandId>, EngineError> {
        let control = self.control_mut(device, now);
        let decision = control::apply(
            control,
            now,
            ControlEvent::PreCleanEnded { pre_clean_id: id },
        );
        if !decision.changed {
            return Ok(None);
        }
        self.save_control(device).await?;
        Ok(self
            .carry_out(device, &decision, now)
            .await?
            .map(|c| c.command_id))
    }

    /// Marks a pre-clean as no longer active (status, end time) and drops its timer.
    async fn close_pre_clean(
        &mut self,
        id: PreCleanId,
        now: Timestamp,
        status: PreCleanStatus,
        replaced_by: Option<PreCleanId>,
    ) -> Result<(), EngineError> {
        let Some(mut p) = self.store.get_pre_clean(id).await? else {
            return Ok(());
        };
        self.timers
            .remove(&(p.ends_at, Timer::PreCleanEnd(id, p.device_id.clone())));
        if p.status != PreCleanStatus::Active {
            return Ok(());
        }
        p.status = status;
        p.ended_at = Some(now);
        p.replaced_by = replaced_by;
        self.store.update_pre_clean(&p).await?;
        self.emit(EngineEvent::PreClean {
            pre_clean: Box::new(p),
        });
        Ok(())
    }

    async fn cancel_pre_clean(
        &mut self,
        device: &DeviceId,
        now: Timestamp,
    ) -> Result<Option<PreClean>, EngineError> {
        self.registered(device).await?;
        match self.store.active_pre_clean(device).await? {
            Some(p) => {
                self.end_pre_clean(p.pre_clean_id, now, PreCleanStatus::Cancelled)
                    .await
            }
            None => Ok(None),
        }
    }

    async fn delete_pre_clean(
        &mut self,
        id: PreCleanId,
        now: Timestamp,
    ) -> Result<PreClean, EngineError> {
        let not_found = || EngineError::NotFound {
            entity: "preClean",
            id: id.to_string(),
        };
        let p = self.store.get_pre_clean(id).await?.ok_or_else(not_found)?;
        let p = if p.status == PreCleanStatus::Active {
            self.end_pre_clean(id, now, PreCleanStatus::Cancelled)
                .await?
                .ok_or_else(not_found)?
        } else {
            self.store.delete_pre_clean(id).await?;
            p
        };
        Ok(p)
    }

    // ---- schedules ----

    async fn create_schedule(
        &mut self,
        device: DeviceId,
        rule: ScheduleRule,
        is_active: bool,
        now: Timestamp,
    ) -> Result<ScheduleSaved, EngineError> {
        let registered = self.registered(&device).await?;
        check_speed(&rule, registered.specifications.max_fan_speed)?;
        let schedule = Schedule {
            schedule_id: ScheduleId::generate(now),
            device_id: device.clone(),
            rule,
            is_active,
            created_at: now,
            updated_at: now,
        };
        self.store.insert_schedule(&schedule).await?;
        self.saved(schedule, "created", now).await
    }

    async fn update_schedule(
        &mut self,
        id: ScheduleId,
        rule: ScheduleRule,
        is_active: bool,
        now: Timestamp,
    ) -> Result<ScheduleSaved, EngineError> {
        let mut schedule = self.schedule(id).await?;
        let registered = self.registered(&schedule.device_id).await?;
        check_speed(&rule, registered.specifications.max_fan_speed)?;
        schedule.rule = rule;
        schedule.is_active = is_active;
        schedule.updated_at = now;
        self.store.update_schedule(&schedule).await?;
        self.saved(schedule, "updated", now).await
    }

    /// After a create or update: the in-memory set, re-evaluation now, overlaps, event.
    async fn saved(
        &mut self,
        schedule: Schedule,
        change: &'static str,
        now: Timestamp,
    ) -> Result<ScheduleSaved, EngineError> {
        let device = schedule.device_id.clone();
        let managed = self.devices.entry(device.clone()).or_default();
        managed
            .schedules
            .retain(|s| s.schedule_id != schedule.schedule_id);
        if schedule.is_active {
            managed.add_schedule(schedule.clone());
        }
        let others: Vec<(ScheduleId, &ScheduleRule)> = managed
            .schedules
            .iter()
            .filter(|s| s.schedule_id != schedule.schedule_id)
            .map(|s| (s.schedule_id, &s.rule))
            .collect();
        let overlaps = schedule::overlapping(&schedule.rule, &others, now);
        self.evaluate(&device, now).await?;
        self.emit(EngineEvent::Schedule {
            schedule_id: schedule.schedule_id,
            device_id: device,
            change,
            run: None,
        });
        Ok(ScheduleSaved { schedule, overlaps })
    }

    async fn schedule(&self, id: ScheduleId) -> Result<Schedule, EngineError> {
        self.store
            .get_schedule(id)
            .await?
            .ok_or_else(|| EngineError::NotFound {
                entity: "schedule",
                id: id.to_string(),
            })
    }

    async fn delete_schedule(
        &mut self,
        id: ScheduleId,
        now: Timestamp,
    ) -> Result<Schedule, EngineError> {
        let schedule = self.schedule(id).await?;
        self.store.delete_schedule(id).await?;
        if let Some(m) = self.devices.get_mut(&schedule.device_id) {
            m.schedules.retain(|s| s.schedule_id != id);
        }
        // A window of the deleted schedule that was active ends now.
        self.evaluate(&schedule.device_id, now).await?;
        self.emit(EngineEvent::Schedule {
            schedule_id: id,
            device_id: schedule.device_id.clone(),
            change: "deleted",
            run: None,
        });
        Ok(schedule)
    }

    async fn test_schedule(
        &mut self,
        id: ScheduleId,
        now: Timestamp,
    ) -> Result<Command, EngineError> {
        let schedule = self.schedule(id).await?;
        let speed = schedule.rule.fan_speed();
        let device = schedule.device_id.clone();
        let cmd = self
            .submit(
                &device,
                Instruction::set_fan_speed(speed),
                CommandSource::Schedule,
                now,
                |_| {},
            )
            .await?;
        self.apply_manual(&device, FanState::at_speed(speed), cmd.command_id, now)
            .await?;
        Ok(cmd)
    }

    /// Applies the device's schedule windows active now, if they differ from the applied ones,
    /// and arms its next boundary.
    async fn evaluate(&mut self, device: &DeviceId, now: Timestamp) -> Result<(), EngineError> {
        let Some(managed) = self.devices.get_mut(device) else {
            return Ok(());
        };
        let active: Vec<ActiveWindow> = managed
            .schedules
            .iter()
            .flat_map(|s| {
                schedule::active_at(&s.rule, now)
                    .into_iter()
                    .map(move |w| ActiveWindow {
                        key: WindowKey {
                            schedule_id: s.schedule_id,
                            start: w.start,
                            fan_speed: s.rule.fan_speed(),
                        },
                        end: w.end,
                        fan_speed: s.rule.fan_speed(),
                    })
            })
            .collect();
        let next = managed
            .schedules
            .iter()
            .filter_map(|s| schedule::next_boundary(&s.rule, now).map(|(t, _)| t))
            .min();
        if let Some(old) = std::mem::replace(&mut managed.boundary, next) {
            self.timers.remove(&(old, Timer::Boundary(device.clone())));
        }
        if let Some(next) = next {
            self.timers.insert((next, Timer::Boundary(device.clone())));
        }
        let untouched = active.is_empty()
            && managed
                .control
                .as_ref()
                .is_none_or(|c| c.applied_windows.is_empty());
        if untouched {
            return Ok(());
        }
        let control = self.control_mut(device, now);
        let decision = control::apply(control, now, ControlEvent::Windows(&active));
        if !decision.changed {
            return Ok(());
        }
        self.save_control(device).await?;
        let sent = self.carry_out(device, &decision, now).await;
        let (command_id, failed) = match sent {
            Ok(cmd) => (cmd.map(|c| c.command_id), false),
            Err(e) => {
                tracing::error!(device_id = %device, error = %e, "schedule boundary command failed");
                (None, true)
            }
        };
        for (key, boundary, outcome) in decision.runs {
            let outcome = match outcome {
                crate::domain::RunOutcome::Applied if failed => crate::domain::RunOutcome::Failed,
                o => o,
            };
            let run = ScheduleRun {
                run_id: RunId::generate(now),
                schedule_id: key.schedule_id,
                device_id: device.clone(),
                boundary,
                at: now,
                outcome,
                command_id: match outcome {
                    crate::domain::RunOutcome::Applied => command_id,
                    _ => None,
                },
            };
            self.store.insert_run(&run).await?;
            self.emit(EngineEvent::Schedule {
                schedule_id: key.schedule_id,
                device_id: device.clone(),
                change: "boundary",
                run: Some(Box::new(run)),
            });
        }
        Ok(())
    }
}

fn check_speed(rule: &ScheduleRule, max: FanSpeed) -> Result<(), EngineError> {
    if rule.fan_speed() > max {
        return Err(ValidationError::new(
            "fanSpeed",
            format!("must be at most {max}, the device's maximum"),
        )
        .into());
    }
    Ok(())
}
