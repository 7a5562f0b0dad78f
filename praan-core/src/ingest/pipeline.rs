//! [`Pipeline`]: the one task that decodes, batches, commits, acknowledges and hands over.

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    pin::Pin,
    sync::Arc,
};

use tokio::sync::{broadcast, mpsc};

use crate::{
    clock::Clock,
    codec::{Codec, DeviceMessage, RejectReason, Rejection, payload_sample},
    domain::{Device, DeviceId, PresenceReason, Reading, Timestamp},
    engine::{DeviceEvent, EngineEvent, Handle},
    store::Store,
    transport::{Delivery, Inbound, Transport},
};

use super::{
    CHUNK, IngestConfig, IngestError,
    batch::{Batch, Queued, Then},
    retry::{self, Backoff},
    stats::Counters,
};

/// How many bytes of a refused payload (or topic) a log line shows.
const SAMPLE_BYTES: usize = 200;

type Deadline = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The pipeline's state; [`Pipeline::run`] is the task.
pub(super) struct Pipeline {
    config: IngestConfig,
    codec: Codec,
    store: Arc<dyn Store>,
    transport: Arc<dyn Transport>,
    engine: Handle,
    events: broadcast::Sender<EngineEvent>,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    backoff: Backoff,
    /// Devices known to be registered (no store call for their messages).
    known: HashSet<DeviceId>,
    /// The engine's registry epoch when `known` was last valid (see [`Handle::registry_epoch`]).
    known_epoch: u64,
    batch: Batch,
    /// When the pending readings must be committed at the latest; set with the first of them.
    deadline: Option<Deadline>,
}

impl Pipeline {
    pub(super) fn new(
        config: IngestConfig,
        codec: Codec,
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        engine: Handle,
        clock: Arc<dyn Clock>,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            backoff: Backoff {
                min: config.store_retry_min,
                max: config.store_retry_max,
            },
            batch: Batch::new(config.max_batch),
            events: engine.event_sender(),
            config,
            codec,
            store,
            transport,
            engine,
            clock,
            counters,
            known: HashSet::new(),
            known_epoch: 0,
            deadline: None,
        }
    }

    /// Takes messages until the channel closes, then commits what is pending and ends.
    pub(super) async fn run(
        mut self,
        mut inbound: mpsc::Receiver<Inbound>,
    ) -> Result<(), IngestError> {
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            // The deadline first: under a steady stream the batch still leaves on time.
            let taken = match self.deadline.as_mut() {
                Some(deadline) => tokio::select! {
                    biased;
                    () = deadline.as_mut() => None,
                    n = inbound.recv_many(&mut chunk, CHUNK) => Some(n),
                },
                None => Some(inbound.recv_many(&mut chunk, CHUNK).await),
            };
            match taken {
                None => self.commit().await?,
                Some(0) => {
                    // Closed and empty: the graceful drain.
                    self.commit().await?;
                    return Ok(());
                }
                Some(n) => {
                    self.counters.received(n);
                    let received_at = self.clock.now();
                    for message in chunk.drain(..) {
                        self.take(message, received_at).await?;
                    }
                    if self.config.commit_when_idle
                        && self.batch.has_readings()
                        && inbound.is_empty()
                    {
                        self.commit().await?;
                    }
                }
            }
        }
    }

    /// Decodes one message and queues its delivery with what to do after the next commit.
    async fn take(&mut self, message: Inbound, received_at: Timestamp) -> Result<(), IngestError> {
        let Inbound {
            topic,
            payload,
            delivery,
        } = message;
        let then = match self.codec.decode(&topic, &payload, received_at) {
            Err(rejection) => {
                self.reject(&topic, &payload, &rejection);
                Then::Nothing
            }
            Ok(DeviceMessage::Readings {
                device_id,
                readings,
                rejected,
            }) => {
                if readings.is_empty() {
                    self.reject_elements(&topic, &payload, &rejected);
                    Then::Nothing
                } else if !self.admit(&device_id, received_at).await {
                    self.reject(&topic, &payload, &unknown(&device_id));
                    Then::Nothing
                } else {
                    self.reject_elements(&topic, &payload, &rejected);
                    return self.add_readings(delivery, readings).await;
                }
            }
            Ok(message) => {
                if self.admit(message.device_id(), received_at).await {
                    device_event(message).map_or(Then::Nothing, Then::Engine)
                } else {
                    self.reject(&topic, &payload, &unknown(message.device_id()));
                    Then::Nothing
                }
            }
        };
        self.batch.push(delivery, then);
        if self.batch.has_readings() {
            self.commit_if_full().await
        } else {
            // Nothing to commit before it: acknowledge (and hand over) now.
            self.settle(0).await
        }
    }

    async fn add_readings(
        &mut self,
        delivery: Delivery,
        readings: Vec<Reading>,
    ) -> Result<(), IngestError> {
        if self.batch.would_overflow(readings.len()) {
            self.commit().await?;
        }
        if !self.batch.has_readings() {
            let deadline = self.clock.now().saturating_add(self.config.max_delay);
            let clock = Arc::clone(&self.clock);
            self.deadline = Some(Box::pin(async move { clock.sleep_until(deadline).await }));
        }
        self.batch.push_readings(delivery, readings);
        self.commit_if_full().await
    }

    async fn commit_if_full(&mut self) -> Result<(), IngestError> {
        if self.batch.is_full() {
            self.commit().await
        } else {
            Ok(())
        }
    }

    /// Whether messages from `device` are accepted: registers it on its first message (or, when
    /// unknown devices are not accepted, checks that it is registered).
    async fn admit(&mut self, device: &DeviceId, received_at: Timestamp) -> bool {
        let epoch = self.engine.registry_epoch();
        if epoch != self.known_epoch {
            // A device was deleted: what was known may be stale.
            self.known.clear();
            self.known_epoch = epoch;
        }
        if self.known.contains(device) {
            return true;
        }
        let store = &self.store;
        let registered = if self.config.accept_unknown_devices {
            let fresh = Device::auto_registered(device.clone(), received_at);
            let new = retry::until_ok(
                &*self.clock,
                self.backoff,
                &self.counters,
                "registering a device",
                || store.ensure_device(&fresh),
            )
            .await;
            if new {
                self.counters.registered();
                tracing::info!(device_id = %device, "registered a device on its first message");
            }
            true
        } else {
            retry::until_ok(
                &*self.clock,
                self.backoff,
                &self.counters,
                "looking up a device",
                || store.get_device(device),
            )
            .await
            .is_some()
        };
        if registered {
            self.known.insert(device.clone());
        }
        registered
    }

    /// Commits the pending readings (retrying until the store takes them), then settles.
    async fn commit(&mut self) -> Result<(), IngestError> {
        self.deadline = None;
        let mut duplicates = 0;
        if self.batch.has_readings() {
            let (store, readings) = (&self.store, &self.batch.readings);
            let outcome = retry::until_ok(
                &*self.clock,
                self.backoff,
                &self.counters,
                "storing a batch of readings",
                || store.append_readings(readings),
            )
            .await;
            self.counters.committed(readings.len(), outcome);
            tracing::debug!(
                readings = readings.len(),
                stored = outcome.inserted,
                duplicates = outcome.duplicates,
                "committed a batch"
            );
            duplicates = outcome.duplicates;
        }
        self.settle(duplicates).await
    }

    /// Once the pending readings (if any) are committed: walks the queued deliveries in arrival
    /// order, handing the engine each one's event (a device's `Seen` before its later presence or
    /// ack) and acknowledging it; then the remaining `Seen`s (once per device, newest receive
    /// time) and the stored readings on the event stream.
    async fn settle(&mut self, duplicates: u64) -> Result<(), IngestError> {
        let Self {
            batch,
            engine,
            transport,
            counters,
            events,
            ..
        } = self;
        let readings = &batch.readings;
        // Devices whose readings were committed, in first-seen order, with their newest receive
        // time (`None` once handed over before a later event of the device).
        let mut seen: Vec<(&DeviceId, Option<Timestamp>)> = Vec::new();
        let mut index: HashMap<&DeviceId, usize> = HashMap::new();
        while let Some(Queued { delivery, then }) = batch.queue.pop_front() {
            match then {
                Then::Nothing => {}
                Then::Readings(first) => {
                    if let Some(r) = readings.get(first) {
                        let at = r.received_at();
                        match index.get(r.device_id()) {
                            Some(&i) => {
                                let newest = &mut seen[i].1;
                                *newest = Some(newest.map_or(at, |t| t.max(at)));
                            }
                            None => {
                                index.insert(r.device_id(), seen.len());
                                seen.push((r.device_id(), Some(at)));
                            }
                        }
                    }
                }
                Then::Engine(event) => {
                    if let Some(i) = index.remove(event_device(&event))
                        && let Some(at) = seen[i].1.take()
                    {
                        hand_over(engine, seen_event(seen[i].0, at)).await?;
                    }
                    hand_over(engine, event).await?;
                }
            }
            match transport.ack(delivery).await {
                Ok(()) => counters.acked(),
                Err(error) => {
                    counters.ack_failed();
                    tracing::warn!(%error, "acknowledging a message failed; the broker will redeliver it");
                }
            }
        }
        for (device, at) in seen {
            if let Some(at) = at {
                hand_over(engine, seen_event(device, at)).await?;
            }
        }
        announce(events, readings, duplicates);
        batch.readings.clear();
        Ok(())
    }

    fn reject(&self, topic: &str, payload: &[u8], rejection: &Rejection) {
        self.counters.rejected(rejection.reason);
        tracing::warn!(
            topic = %payload_sample(topic.as_bytes(), SAMPLE_BYTES),
            reason = rejection.reason.as_str(),
            %rejection,
            sample = %payload_sample(payload, SAMPLE_BYTES),
            "unusable MQTT message acknowledged and dropped"
        );
    }

    /// Counts each refused element of a backlog array; logs one line for them all.
    fn reject_elements(&self, topic: &str, payload: &[u8], rejected: &[Rejection]) {
        let Some(first) = rejected.first() else {
            return;
        };
        for r in rejected {
            self.counters.rejected(r.reason);
        }
        tracing::warn!(
            topic = %payload_sample(topic.as_bytes(), SAMPLE_BYTES),
            rejected = rejected.len(),
            reason = first.reason.as_str(),
            first = %first,
            sample = %payload_sample(payload, SAMPLE_BYTES),
            "backlog elements dropped (the valid ones are kept)"
        );
    }
}

fn unknown(device: &DeviceId) -> Rejection {
    Rejection::new(
        RejectReason::UnknownDevice,
        format!("device {device} is not registered and unknown devices are not accepted"),
    )
}

/// What the engine is told of a non-reading message.
fn device_event(message: DeviceMessage) -> Option<DeviceEvent> {
    Some(match message {
        DeviceMessage::Ack(ack) => DeviceEvent::Ack(ack),
        DeviceMessage::Status {
            device_id,
            online,
            reason,
            at,
        } => DeviceEvent::Presence {
            device_id,
            online,
            reason,
            at,
        },
        DeviceMessage::ShutdownNotice {
            device_id,
            message,
            at,
        } => {
            tracing::debug!(%device_id, message = message.as_deref(), "shutdown notice");
            DeviceEvent::Presence {
                device_id,
                online: false,
                reason: PresenceReason::ShutdownNotice,
                at,
            }
        }
        // Batched instead: the engine gets one `Seen` per device after the commit.
        DeviceMessage::Readings { .. } => return None,
    })
}

fn event_device(event: &DeviceEvent) -> &DeviceId {
    match event {
        DeviceEvent::Ack(ack) => &ack.device_id,
        DeviceEvent::Presence { device_id, .. } | DeviceEvent::Seen { device_id, .. } => device_id,
    }
}

fn seen_event(device: &DeviceId, at: Timestamp) -> DeviceEvent {
    DeviceEvent::Seen {
        device_id: device.clone(),
        at,
    }
}

async fn hand_over(engine: &Handle, event: DeviceEvent) -> Result<(), IngestError> {
    engine.device_event(event).await.map_err(|_| {
        tracing::error!(
            "the engine has stopped; the ingestion pipeline stops without acknowledging"
        );
        IngestError::EngineStopped
    })
}

/// Publishes the committed readings on the engine's event stream, if anyone listens. A batch with
/// duplicates announces each `(device, timestamp)` once (a reading already stored by an earlier
/// batch, i.e. a broker redelivery, may be announced again).
fn announce(events: &broadcast::Sender<EngineEvent>, readings: &[Reading], duplicates: u64) {
    if events.receiver_count() == 0 {
        return;
    }
    let mut keys = HashSet::new();
    for r in readings {
        if duplicates > 0 && !keys.insert((r.device_id(), r.timestamp())) {
            continue;
        }
        // No subscriber left is fine: events are for live watchers only.
        let _ = events.send(EngineEvent::Reading {
            reading: Box::new(r.clone()),
        });
    }
}
