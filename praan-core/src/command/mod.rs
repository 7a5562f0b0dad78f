//! Command delivery (PRODUCT.md §2) as a sans-IO state machine: [`Deliveries`].
//!
//! It owns every unfinished command, decides when to publish, retry, time out, expire or
//! supersede, and tells its driver what to do through [`DeliveryEffect`]s. It performs no I/O and
//! never reads a clock: every method that depends on time takes `now`, [`Deliveries::poll_timeout`]
//! says when it next needs [`Deliveries::handle_timeout`], and effects are drained with
//! [`Deliveries::poll_effect`] after every call (quinn-proto's shape).
//!
//! The lifecycle, per command:
//! - [`Deliveries::submit`]: the new command supersedes the device's unfinished older ones, is
//!   stored (`Insert`, status `pending`) and then published (`Publish`) — the outbox order.
//! - [`Deliveries::handle_published`]: the driver reports the publish; the attempt is recorded and
//!   the command waits `ackTimeout` for its ack (`sent`), or, if publishing failed, waits as long
//!   before trying again.
//! - [`Deliveries::handle_timeout`]: a wait ended without an ack: republish the byte-identical
//!   payload, or — after `maxRetries` resends — end in `timeout` (or `failed` if the last publish
//!   failed); past `expiresAt`, end in `expired`.
//! - [`Deliveries::handle_ack`]: `success` → `acknowledged`, `error` → `failed`. Acks for commands
//!   not in flight are the driver's to look up ([`record_late_ack`]).

mod late;

use std::{
    collections::{BTreeSet, HashMap, VecDeque},
    time::Duration,
};

use crate::domain::{
    Ack, AckStatus, Attempt, Command, CommandId, CommandStatus, DeviceId, Timestamp,
};

pub use late::{LateAck, record_late_ack};

/// Delivery settings.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DeliveryConfig {
    /// How long to wait for an ack after each publish (default 30 s).
    pub ack_timeout: Duration,
    /// How many times to republish after the first publish (default 3; 0 allowed).
    pub max_retries: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(30),
            max_retries: 3,
        }
    }
}

/// Something the driver must do, in the order given.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DeliveryEffect {
    /// Store this new command (before it is published).
    Insert(Command),
    /// Store this changed command.
    Update(Command),
    /// Publish this command's payload, then report with [`Deliveries::handle_published`].
    Publish(Command),
    /// The command reached a terminal status (already in an `Update` or `Insert` before this).
    Finished(Command),
}

/// What an ack meant.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum AckOutcome {
    /// It decided an in-flight command (now terminal; see the effects).
    Decided(Box<Command>),
    /// No command with that id is in flight here: look it up in the store
    /// ([`record_late_ack`]) or count it as unknown.
    NotInFlight,
    /// A command with that id is in flight, but for another device: ignored as spoofed.
    WrongDevice,
}

/// The delivery state machine for every unfinished command.
#[derive(Debug, Default)]
pub struct Deliveries {
    config: DeliveryConfig,
    inflight: HashMap<CommandId, Command>,
    by_device: HashMap<DeviceId, CommandId>,
    timers: BTreeSet<(Timestamp, CommandId)>,
    effects: VecDeque<DeliveryEffect>,
}

impl Deliveries {
    /// An empty machine.
    pub fn new(config: DeliveryConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The settings.
    pub fn config(&self) -> DeliveryConfig {
        self.config
    }

    /// Resumes unfinished commands read from the store after a restart: timers are re-armed from
    /// their stored deadlines (a passed deadline fires at the next `handle_timeout`), commands
    /// never published are published now, and if a device has several, the newest supersedes
    /// the others.
    pub fn recover(&mut self, now: Timestamp, mut commands: Vec<Command>) {
        commands.sort_by_key(|c| (c.created_at, c.command_id));
        for cmd in commands {
            if cmd.status.is_terminal() || self.inflight.contains_key(&cmd.command_id) {
                continue;
            }
            self.supersede_older(now, &cmd);
            self.by_device.insert(cmd.device_id.clone(), cmd.command_id);
            self.inflight.insert(cmd.command_id, cmd);
        }
        // Only the survivors (the newest per device) are armed or published, so a device that
        // comes back gets one current command, never a burst of stale ones.
        let mut survivors: Vec<Command> = self.inflight.values().cloned().collect();
        survivors.sort_by_key(|c| (c.created_at, c.command_id));
        for mut cmd in survivors {
            let id = cmd.command_id;
            match cmd.next_deadline {
                Some(deadline) => {
                    self.timers.insert((deadline, id));
                }
                None if cmd.expires_at.is_some_and(|e| e <= now) => {
                    self.take(id);
                    finish(
                        &mut cmd,
                        now,
                        CommandStatus::Expired,
                        "expired before it was sent",
                    );
                    self.effects.push_back(DeliveryEffect::Update(cmd.clone()));
                    self.effects.push_back(DeliveryEffect::Finished(cmd));
                }
                None => self.effects.push_back(DeliveryEffect::Publish(cmd)),
            }
        }
    }

    /// Takes a new `pending` command: supersedes the device's unfinished commands, then asks for it
    /// to be stored and published (or, if it has already expired, stored as `expired`).
    pub fn submit(&mut self, now: Timestamp, mut cmd: Command) {
        self.supersede_older(now, &cmd);
        cmd.status = CommandStatus::Pending;
        if cmd.expires_at.is_some_and(|e| e <= now) {
            finish(
                &mut cmd,
                now,
                CommandStatus::Expired,
                "expired before it was sent",
            );
            self.effects.push_back(DeliveryEffect::Insert(cmd.clone()));
            self.effects.push_back(DeliveryEffect::Finished(cmd));
            return;
        }
        self.effects.push_back(DeliveryEffect::Insert(cmd.clone()));
        self.effects.push_back(DeliveryEffect::Publish(cmd.clone()));
        self.by_device.insert(cmd.device_id.clone(), cmd.command_id);
        self.inflight.insert(cmd.command_id, cmd);
    }

    fn supersede_older(&mut self, now: Timestamp, newer: &Command) {
        let Some(old_id) = self.by_device.remove(&newer.device_id) else {
            return;
        };
        if let Some(mut old) = self.take(old_id) {
            old.superseded_by = Some(newer.command_id);
            finish(
                &mut old,
                now,
                CommandStatus::Superseded,
                "a newer command for the device replaced it",
            );
            self.effects.push_back(DeliveryEffect::Update(old.clone()));
            self.effects.push_back(DeliveryEffect::Finished(old));
        }
    }

    /// Removes an in-flight command and its timer.
    fn take(&mut self, id: CommandId) -> Option<Command> {
        let cmd = self.inflight.remove(&id)?;
        if let Some(d) = cmd.next_deadline {
            self.timers.remove(&(d, id));
        }
        if self.by_device.get(&cmd.device_id) == Some(&id) {
            self.by_device.remove(&cmd.device_id);
        }
        Some(cmd)
    }

    /// The driver published (or failed to publish) the command's payload at `now`.
    pub fn handle_published(&mut self, now: Timestamp, id: CommandId, result: Result<(), String>) {
        let Some(mut cmd) = self.take(id) else {
            return; // finished meanwhile (acked, superseded, cancelled)
        };
        let number = u32::try_from(cmd.attempts.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1);
        let failed = result.is_err();
        cmd.attempts.push(Attempt {
            number,
            at: now,
            error: result.err(),
        });
        if !failed {
            cmd.status = CommandStatus::Sent;
            cmd.sent_at.get_or_insert(now);
        }
        let deadline = self.next_wait(&cmd, now);
        cmd.next_deadline = Some(deadline);
        self.timers.insert((deadline, id));
        self.by_device.insert(cmd.device_id.clone(), id);
        self.effects.push_back(DeliveryEffect::Update(cmd.clone()));
        self.inflight.insert(id, cmd);
    }

    /// An ack arrived (already checked to come from the device on the topic).
    pub fn handle_ack(&mut self, now: Timestamp, ack: &Ack) -> AckOutcome {
        match self.inflight.get(&ack.command_id) {
            None => return AckOutcome::NotInFlight,
            Some(cmd) if cmd.device_id != ack.device_id => return AckOutcome::WrongDevice,
            Some(_) => {}
        }
        let Some(mut cmd) = self.take(ack.command_id) else {
            return AckOutcome::NotInFlight;
        };
        cmd.acknowledged_at = Some(now);
        cmd.device_response = Some(ack.clone());
        match ack.status {
            AckStatus::Success => {
                cmd.status = CommandStatus::Acknowledged;
                cmd.completed_at = Some(now);
                cmd.next_deadline = None;
            }
            AckStatus::Error => {
                let why = ack
                    .message
                    .as_deref()
                    .unwrap_or("the device reported an error");
                finish(&mut cmd, now, CommandStatus::Failed, why);
            }
        }
        self.effects.push_back(DeliveryEffect::Update(cmd.clone()));
        self.effects
            .push_back(DeliveryEffect::Finished(cmd.clone()));
        AckOutcome::Decided(Box::new(cmd))
    }

    /// Cancels an in-flight command for the reason `why`; returns it, or `None` if it is not in
    /// flight.
    pub fn cancel(&mut self, now: Timestamp, id: CommandId, why: &str) -> Option<Command> {
        let mut cmd = self.take(id)?;
        finish(&mut cmd, now, CommandStatus::Cancelled, why);
        self.effects.push_back(DeliveryEffect::Update(cmd.clone()));
        self.effects
            .push_back(DeliveryEffect::Finished(cmd.clone()));
        Some(cmd)
    }

    /// Handles every wait that ended at or before `now` (idempotent: calling again does nothing).
    pub fn handle_timeout(&mut self, now: Timestamp) {
        while let Some(&(deadline, id)) = self.timers.first() {
            if deadline > now {
                break;
            }
            let Some(mut cmd) = self.take(id) else {
                self.timers.remove(&(deadline, id));
                continue;
            };
            cmd.next_deadline = None;
            let sent = u32::try_from(cmd.attempts.len()).unwrap_or(u32::MAX);
            if cmd.expires_at.is_some_and(|e| e <= now) {
                finish(
                    &mut cmd,
                    now,
                    CommandStatus::Expired,
                    "expiresAt passed before an ack",
                );
            } else if sent > self.config.max_retries || now >= self.final_deadline(&cmd) {
                match cmd.attempts.last().and_then(|a| a.error.clone()) {
                    Some(e) => {
                        let why = format!("publishing failed after {sent} attempts: {e}");
                        finish(&mut cmd, now, CommandStatus::Failed, &why);
                    }
                    None => {
                        let why = format!("no ack after {sent} attempts");
                        finish(&mut cmd, now, CommandStatus::Timeout, &why);
                    }
                }
            } else {
                // Retry: the driver republishes the byte-identical payload, then reports it.
                self.by_device.insert(cmd.device_id.clone(), id);
                self.effects.push_back(DeliveryEffect::Publish(cmd.clone()));
                self.inflight.insert(id, cmd);
                continue;
            }
            self.effects.push_back(DeliveryEffect::Update(cmd.clone()));
            self.effects.push_back(DeliveryEffect::Finished(cmd));
        }
    }

    /// When the command's last wait ends: the attempts are on a fixed grid from the first
    /// publish (`ackTimeout` apart), so a command is terminal `(maxRetries + 1) × ackTimeout` after
    /// its first publish at the latest, even if praan was stopped or the clock jumped meanwhile
    /// (missed attempts are skipped, never replayed one by one).
    pub fn final_deadline(&self, cmd: &Command) -> Timestamp {
        let first = cmd.attempts.first().map_or(cmd.created_at, |a| a.at);
        first.saturating_add(
            self.config
                .ack_timeout
                .saturating_mul(self.config.max_retries.saturating_add(1)),
        )
    }

    /// When the wait after the attempt just made (at `now`) ends: the next grid point, or, if
    /// that already passed, one ack timeout from now — never past the final deadline or
    /// `expiresAt`.
    fn next_wait(&self, cmd: &Command, now: Timestamp) -> Timestamp {
        let first = cmd.attempts.first().map_or(now, |a| a.at);
        let n = u32::try_from(cmd.attempts.len()).unwrap_or(u32::MAX);
        let grid = first.saturating_add(self.config.ack_timeout.saturating_mul(n));
        let wait = if grid > now {
            grid
        } else {
            now.saturating_add(self.config.ack_timeout)
                .min(self.final_deadline(cmd).max(now))
        };
        cmd.expires_at.map_or(wait, |e| wait.min(e))
    }

    /// When [`Deliveries::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.timers.first().map(|(t, _)| *t)
    }

    /// The next effect to carry out.
    pub fn poll_effect(&mut self) -> Option<DeliveryEffect> {
        self.effects.pop_front()
    }

    /// An in-flight command.
    pub fn get(&self, id: CommandId) -> Option<&Command> {
        self.inflight.get(&id)
    }

    /// The device's in-flight command, if any (at most one).
    pub fn in_flight_for(&self, device: &DeviceId) -> Option<&Command> {
        self.by_device
            .get(device)
            .and_then(|id| self.inflight.get(id))
    }

    /// How many commands are in flight.
    pub fn len(&self) -> usize {
        self.inflight.len()
    }

    /// Whether no command is in flight.
    pub fn is_empty(&self) -> bool {
        self.inflight.is_empty()
    }
}

fn finish(cmd: &mut Command, now: Timestamp, status: CommandStatus, why: &str) {
    cmd.status = status;
    cmd.completed_at = Some(now);
    cmd.next_deadline = None;
    if status != CommandStatus::Acknowledged {
        cmd.error = Some(why.to_owned());
    }
}

#[cfg(test)]
mod tests;
