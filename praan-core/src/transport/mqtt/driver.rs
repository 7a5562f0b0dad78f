//! [`Driver`]: the task behind [`MqttTransport`](super::MqttTransport), which does all the
//! network work.

use std::{
    collections::VecDeque,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use rumqttc::{
    ConnectionError, Event, EventLoop, Packet, Publish, Request, StateError, Subscribe,
    SubscribeFilter, SubscribeReasonCode, mqttbytes,
};
use tokio::sync::{mpsc, watch};

use super::{MqttConfig, ReconnectBackoff, SHUTDOWN_GRACE, Shared, acks::AckEntry};
use crate::{
    clock::Clock,
    domain::Timestamp,
    transport::{Delivery, Inbound},
};

/// The task behind [`MqttTransport`]: polls rumqttc's event loop, forwards publishes, keeps the
/// acknowledgement queue, re-subscribes and reconnects.
pub(super) struct Driver {
    eventloop: EventLoop,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock>,
    inbound: mpsc::Sender<Inbound>,
    /// Messages received while the inbound channel was full, oldest first.
    overflow: VecDeque<Inbound>,
    overflow_limit: usize,
    /// False once the inbound receiver is dropped: messages are then neither forwarded nor
    /// acknowledged (the broker keeps them for the next session).
    consumer_alive: bool,
    filters: Vec<SubscribeFilter>,
    stop: watch::Receiver<bool>,
    backoff: ReconnectBackoff,
    /// A connection that lasted this long resets the reconnection delay.
    stable_after: Duration,
    /// Whether the session is persistent (`clean_session = false`).
    persistent: bool,
    next_seq: u64,
}

/// What one turn of the driver produced.
enum Step {
    Event(Result<Event, ConnectionError>),
    Stop,
}

impl Driver {
    /// The driver of a connection made with `config`, on `eventloop`, forwarding to `inbound`
    /// (holding as many again when it is full) until `stop`.
    pub(super) fn new(
        eventloop: EventLoop,
        shared: Arc<Shared>,
        clock: Arc<dyn Clock>,
        inbound: mpsc::Sender<Inbound>,
        filters: Vec<SubscribeFilter>,
        stop: watch::Receiver<bool>,
        config: &MqttConfig,
    ) -> Self {
        Self {
            eventloop,
            shared,
            clock,
            overflow_limit: inbound.max_capacity(),
            inbound,
            overflow: VecDeque::new(),
            consumer_alive: true,
            filters,
            stop,
            backoff: config.reconnect,
            stable_after: config.keep_alive.max(Duration::from_secs(1)),
            persistent: !config.clean_session,
            next_seq: 0,
        }
    }

    pub(super) async fn run(mut self) {
        let mut delay = self.backoff.initial;
        let mut connected_since: Option<Timestamp> = None;
        let mut graceful = false;
        loop {
            match self.next_step().await {
                Step::Stop => {
                    graceful = connected_since.is_some();
                    break;
                }
                Step::Event(Ok(event)) => {
                    if let Event::Incoming(Packet::ConnAck(ack)) = &event {
                        connected_since = Some(self.clock.now());
                        self.on_connected(ack.session_present);
                    } else {
                        self.on_event(event);
                    }
                }
                Step::Event(Err(error)) => {
                    self.on_connection_error(&error, connected_since.is_some());
                    if let Some(since) = connected_since.take()
                        && self.clock.now().saturating_duration_since(since) >= self.stable_after
                    {
                        delay = self.backoff.initial;
                    }
                    tracing::debug!(?delay, "MQTT: reconnecting after the backoff delay");
                    let deadline = self.clock.now().saturating_add(delay);
                    if !self.wait_until(deadline).await {
                        break;
                    }
                    delay = delay.saturating_mul(2).min(self.backoff.max);
                }
            }
            self.shared.release_acks();
        }
        self.shared.connected.store(false, Ordering::SeqCst);
        if graceful {
            self.disconnect().await;
        }
        self.shared.closed.store(true, Ordering::SeqCst);
        tracing::info!("MQTT transport stopped");
    }

    /// Polls the event loop for its next event while forwarding buffered messages to the
    /// consumer; stops polling (backpressure) while the buffer is full.
    async fn next_step(&mut self) -> Step {
        // The poll future is kept across the select's turns (never dropped half-way, which could
        // lose a packet rumqttc was writing); only a stop abandons it.
        let poll = self.eventloop.poll();
        tokio::pin!(poll);
        let mut paused = false;
        loop {
            if self.overflow.len() >= self.overflow_limit {
                // Backpressure: the broker holds the backlog until the consumer takes a message.
                if !paused {
                    paused = true;
                    self.shared
                        .stats
                        .backpressure_pauses
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::debug!("MQTT: the consumer is behind; reading paused");
                }
                tokio::select! {
                    biased;
                    () = stopped(&mut self.stop) => return Step::Stop,
                    permit = self.inbound.reserve() => {
                        if !forward_one(permit, &mut self.overflow) {
                            consumer_gone(&mut self.consumer_alive, &mut self.overflow, &self.shared);
                        }
                    }
                }
                continue;
            }
            tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return Step::Stop,
                permit = self.inbound.reserve(), if !self.overflow.is_empty() => {
                    if !forward_one(permit, &mut self.overflow) {
                        consumer_gone(&mut self.consumer_alive, &mut self.overflow, &self.shared);
                    }
                }
                event = &mut poll => return Step::Event(event),
            }
        }
    }

    /// Waits until `deadline` (through the clock) while forwarding buffered messages; false when
    /// the transport was stopped meanwhile.
    async fn wait_until(&mut self, deadline: Timestamp) -> bool {
        let clock = self.clock.clone();
        let sleep = clock.sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                () = stopped(&mut self.stop) => return false,
                permit = self.inbound.reserve(), if !self.overflow.is_empty() => {
                    if !forward_one(permit, &mut self.overflow) {
                        consumer_gone(&mut self.consumer_alive, &mut self.overflow, &self.shared);
                    }
                }
                () = &mut sleep => return true,
            }
        }
    }

    fn on_connected(&mut self, session_present: bool) {
        let stats = &self.shared.stats;
        let n = stats.connections.fetch_add(1, Ordering::Relaxed) + 1;
        if n > 1 && !session_present && self.persistent {
            stats.sessions_lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                "MQTT: the broker had no session for us; messages it held for us may be lost"
            );
        }
        tracing::info!(session_present, connection = n, "MQTT connected");
        // Subscribe before anything else rumqttc has queued (it takes `pending` first).
        if !self.filters.is_empty() {
            self.eventloop
                .pending
                .push_front(Request::Subscribe(Subscribe::new_many(
                    self.filters.iter().cloned(),
                )));
        }
        self.shared.connected.store(true, Ordering::SeqCst);
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::Publish(publish)) => self.on_publish(publish),
            Event::Incoming(Packet::SubAck(suback)) => {
                self.shared.stats.subscribed.fetch_add(1, Ordering::Relaxed);
                let refused = suback
                    .return_codes
                    .iter()
                    .filter(|c| matches!(c, SubscribeReasonCode::Failure))
                    .count();
                if refused > 0 {
                    self.shared
                        .stats
                        .subscribe_failures
                        .fetch_add(refused as u64, Ordering::Relaxed);
                    tracing::error!(
                        refused,
                        filters = ?self.filters.iter().map(|f| &f.path).collect::<Vec<_>>(),
                        "MQTT: the broker refused subscriptions"
                    );
                } else {
                    tracing::debug!("MQTT subscribed");
                }
            }
            Event::Incoming(_) | Event::Outgoing(_) => {}
        }
    }

    fn on_publish(&mut self, publish: Publish) {
        self.shared.stats.received.fetch_add(1, Ordering::Relaxed);
        if !self.consumer_alive {
            return;
        }
        self.next_seq += 1;
        let seq = self.next_seq;
        if publish.qos != rumqttc::QoS::AtMostOnce {
            self.shared.lock_acks().entries.push_back(AckEntry {
                seq,
                pkid: publish.pkid,
                qos: publish.qos,
                acked: false,
            });
        }
        let message = Inbound {
            topic: publish.topic,
            payload: publish.payload,
            delivery: Delivery::new(seq),
        };
        if !self.overflow.is_empty() {
            self.overflow.push_back(message);
            return;
        }
        match self.inbound.try_send(message) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(message)) => self.overflow.push_back(message),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                consumer_gone(&mut self.consumer_alive, &mut self.overflow, &self.shared);
            }
        }
    }

    fn on_connection_error(&mut self, error: &ConnectionError, was_connected: bool) {
        self.shared.connected.store(false, Ordering::SeqCst);
        let stats = &self.shared.stats;
        stats.connection_errors.fetch_add(1, Ordering::Relaxed);
        // The deliveries of the lost connection will be redelivered: forget them (their acks
        // become no-ops) and drop any PUBACK of theirs still queued in rumqttc, under the lock the
        // ack path holds while it queues one, so none reaches the next connection.
        {
            let mut acks = self.shared.lock_acks();
            acks.entries.clear();
            self.eventloop.clean();
        }
        match error {
            ConnectionError::MqttState(StateError::Deserialization(
                mqttbytes::Error::PayloadSizeLimitExceeded(size),
            )) => {
                stats.oversized_incoming.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    size,
                    "MQTT: the broker sent a packet larger than max_packet_size, which costs the \
                     connection (and comes again after the reconnect); set the broker's message \
                     size limit below max_packet_size"
                );
            }
            ConnectionError::ConnectionRefused(code) => {
                tracing::error!(?code, "MQTT: the broker refused the connection");
            }
            error if was_connected => tracing::warn!(%error, "MQTT connection lost"),
            error => tracing::warn!(%error, "MQTT: cannot connect to the broker"),
        }
    }

    /// Sends DISCONNECT after the acknowledgements already queued, then waits for the broker to
    /// close the connection, at most [`SHUTDOWN_GRACE`] in all. Closing it ourselves as soon as
    /// DISCONNECT is written could reset it (the kernel sends RST when unread data is left), and a
    /// broker that had not read our last PUBACKs yet drops them with the connection: those
    /// messages would come again in the next session (seen on Mosquitto under CPU load).
    async fn disconnect(&mut self) {
        self.shared.release_acks();
        if self.shared.client.try_disconnect().is_err() {
            return;
        }
        let deadline = self.clock.now().saturating_add(SHUTDOWN_GRACE);
        let clock = self.clock.clone();
        let sleep = clock.sleep_until(deadline);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                event = self.eventloop.poll() => {
                    if event.is_err() {
                        return;
                    }
                }
                () = &mut sleep => {
                    tracing::warn!(
                        "MQTT: the broker did not close the connection within the grace period"
                    );
                    return;
                }
            }
        }
    }
}

/// Sends the oldest buffered message with `permit`; false when the consumer has gone.
fn forward_one(
    permit: Result<mpsc::Permit<'_, Inbound>, mpsc::error::SendError<()>>,
    overflow: &mut VecDeque<Inbound>,
) -> bool {
    match permit {
        Ok(permit) => {
            if let Some(message) = overflow.pop_front() {
                permit.send(message);
            }
            true
        }
        Err(_) => false,
    }
}

/// The inbound receiver was dropped: stop forwarding and acknowledging (the broker keeps the
/// messages for the next session).
fn consumer_gone(alive: &mut bool, overflow: &mut VecDeque<Inbound>, shared: &Shared) {
    if *alive {
        tracing::info!("MQTT: the inbound receiver was dropped; messages are left to the broker");
    }
    *alive = false;
    overflow.clear();
    shared.lock_acks().entries.clear();
}

/// Completes when the transport is told to stop, or when every transport handle is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}
