//! [`MemoryTransport`]: an in-process transport for simulation tests, with fault knobs.

use std::{
    collections::BTreeSet,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use super::{Delivery, Inbound, Outbound, Transport, TransportError};

/// Faults to inject; each counter is consumed one publish at a time.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Faults {
    /// The next this many publishes fail with [`TransportError::Disconnected`].
    pub fail_publishes: u32,
    /// The next this many publishes succeed but are lost on the way (recorded as dropped).
    pub drop_publishes: u32,
    /// Every injected inbound message is delivered twice (a broker redelivery).
    pub duplicate_inbound: bool,
    /// Publishes are held (delayed) until [`MemoryTransport::release_held`].
    pub hold_outbound: bool,
}

/// An in-memory transport: the test injects inbound messages and inspects what was published and
/// acknowledged. Clones share one state.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use praan_core::transport::{MemoryTransport, Outbound, Transport};
///
/// let (transport, mut inbound) = MemoryTransport::new(16);
/// let delivery = transport.inject("device/d1/data", r#"{"pm25":1}"#).await.unwrap();
/// let msg = inbound.recv().await.unwrap();
/// assert_eq!(msg.topic, "device/d1/data");
/// transport.ack(msg.delivery).await.unwrap();
/// assert_eq!(transport.acked(), vec![delivery]);
///
/// transport.publish(Outbound::new("device/d1/command", "{}")).await.unwrap();
/// assert_eq!(transport.published().len(), 1);
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct MemoryTransport {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    /// `None` once [`MemoryTransport::close_inbound`] was called.
    inbound: Mutex<Option<mpsc::Sender<Inbound>>>,
    outbound_watch: broadcast::Sender<Outbound>,
    connected: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next_delivery: u64,
    faults: Faults,
    published: Vec<Outbound>,
    dropped: Vec<Outbound>,
    held: Vec<Outbound>,
    acked: Vec<Delivery>,
    unacked: BTreeSet<Delivery>,
}

impl MemoryTransport {
    /// A connected transport whose inbound channel holds `capacity` messages.
    pub fn new(capacity: usize) -> (Self, mpsc::Receiver<Inbound>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (outbound_watch, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            inbound: Mutex::new(Some(tx)),
            outbound_watch,
            connected: AtomicBool::new(true),
            state: Mutex::new(State::default()),
        });
        (Self { shared }, rx)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Each update is a push or a counter change; a poisoned lock still holds usable data.
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Delivers a message as if a device had published it; returns its delivery token (the first,
    /// when [`Faults::duplicate_inbound`] delivers it twice). Waits while the channel is full.
    pub async fn inject(
        &self,
        topic: &str,
        payload: impl Into<Bytes>,
    ) -> Result<Delivery, TransportError> {
        let payload = payload.into();
        let copies = if self.lock().faults.duplicate_inbound {
            2
        } else {
            1
        };
        let mut first = None;
        for _ in 0..copies {
            let sender = self
                .shared
                .inbound
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .ok_or(TransportError::Closed)?;
            let delivery = {
                let mut st = self.lock();
                let d = Delivery::new(st.next_delivery);
                st.next_delivery += 1;
                st.unacked.insert(d);
                d
            };
            first.get_or_insert(delivery);
            let msg = Inbound {
                topic: topic.to_owned(),
                payload: payload.clone(),
                delivery,
            };
            sender.send(msg).await.map_err(|_| TransportError::Closed)?;
        }
        first.ok_or(TransportError::Closed)
    }

    /// Closes the inbound channel, as a real transport does when it shuts down: the consumer
    /// receives what was already sent, then `None`; later [`MemoryTransport::inject`]s fail with
    /// [`TransportError::Closed`].
    pub fn close_inbound(&self) {
        self.shared
            .inbound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Sets the fault plan.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults = faults;
    }

    /// Connects or disconnects; publishes fail while disconnected.
    pub fn set_connected(&self, connected: bool) {
        self.shared.connected.store(connected, Ordering::SeqCst);
    }

    /// Delivers every held publish, in order; returns how many.
    pub fn release_held(&self) -> usize {
        let held = std::mem::take(&mut self.lock().held);
        let n = held.len();
        for msg in held {
            self.deliver(msg);
        }
        n
    }

    fn deliver(&self, msg: Outbound) {
        self.lock().published.push(msg.clone());
        // Nobody listening is fine: published() keeps the record.
        let _ = self.shared.outbound_watch.send(msg);
    }

    /// Every publish that reached the broker, in order.
    pub fn published(&self) -> Vec<Outbound> {
        self.lock().published.clone()
    }

    /// Publishes lost by [`Faults::drop_publishes`].
    pub fn dropped(&self) -> Vec<Outbound> {
        self.lock().dropped.clone()
    }

    /// Publishes held by [`Faults::hold_outbound`].
    pub fn held(&self) -> Vec<Outbound> {
        self.lock().held.clone()
    }

    /// Clears the record of publishes (reached and dropped); returns what had reached the broker.
    pub fn take_published(&self) -> Vec<Outbound> {
        let mut st = self.lock();
        st.dropped.clear();
        std::mem::take(&mut st.published)
    }

    /// A stream of publishes as they reach the broker (for simulated devices).
    pub fn subscribe(&self) -> broadcast::Receiver<Outbound> {
        self.shared.outbound_watch.subscribe()
    }

    /// Deliveries acknowledged, in order.
    pub fn acked(&self) -> Vec<Delivery> {
        self.lock().acked.clone()
    }

    /// Deliveries not yet acknowledged, in delivery order.
    pub fn unacked(&self) -> Vec<Delivery> {
        self.lock().unacked.iter().copied().collect()
    }
}

#[async_trait]
impl Transport for MemoryTransport {
    async fn publish(&self, message: Outbound) -> Result<(), TransportError> {
        if !self.is_connected() {
            return Err(TransportError::Disconnected {
                context: "publishing".into(),
            });
        }
        {
            let mut st = self.lock();
            if st.faults.fail_publishes > 0 {
                st.faults.fail_publishes -= 1;
                return Err(TransportError::Disconnected {
                    context: "publishing (injected fault)".into(),
                });
            }
            if st.faults.drop_publishes > 0 {
                st.faults.drop_publishes -= 1;
                st.dropped.push(message);
                return Ok(());
            }
            if st.faults.hold_outbound {
                st.held.push(message);
                return Ok(());
            }
        }
        self.deliver(message);
        Ok(())
    }

    async fn ack(&self, delivery: Delivery) -> Result<(), TransportError> {
        let mut st = self.lock();
        if st.unacked.remove(&delivery) {
            st.acked.push(delivery);
        }
        Ok(())
    }

    fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_publishes_and_acks_in_order() {
        let (t, mut rx) = MemoryTransport::new(8);
        let mut watch = t.subscribe();
        let d1 = t.inject("a", "1").await.unwrap();
        let d2 = t.inject("b", "2").await.unwrap();
        assert_eq!(t.unacked(), vec![d1, d2]);
        assert_eq!(rx.recv().await.unwrap().payload, Bytes::from("1"));
        t.ack(d2).await.unwrap();
        t.ack(d2).await.unwrap();
        assert_eq!(
            t.acked(),
            vec![d2],
            "a second ack of one delivery is a no-op"
        );
        assert_eq!(t.unacked(), vec![d1]);
        t.publish(Outbound::new("c", "x")).await.unwrap();
        assert_eq!(watch.recv().await.unwrap().topic, "c");
        assert_eq!(t.take_published().len(), 1);
        assert!(t.published().is_empty());
    }

    #[tokio::test]
    async fn fault_knobs() {
        let (t, mut rx) = MemoryTransport::new(8);
        t.set_faults(Faults {
            fail_publishes: 1,
            drop_publishes: 1,
            duplicate_inbound: true,
            hold_outbound: false,
        });
        assert!(matches!(
            t.publish(Outbound::new("t", "1")).await,
            Err(TransportError::Disconnected { .. })
        ));
        t.publish(Outbound::new("t", "2")).await.unwrap();
        assert_eq!(t.dropped().len(), 1);
        assert!(t.published().is_empty());
        t.publish(Outbound::new("t", "3")).await.unwrap();
        assert_eq!(t.published()[0].payload, Bytes::from("3"));

        t.inject("t", "dup").await.unwrap();
        let (a, b) = (rx.recv().await.unwrap(), rx.recv().await.unwrap());
        assert_eq!(a.payload, b.payload);
        assert_ne!(a.delivery, b.delivery, "a redelivery is a new delivery");

        t.set_faults(Faults {
            hold_outbound: true,
            ..Faults::default()
        });
        t.publish(Outbound::new("t", "held")).await.unwrap();
        assert_eq!(t.held().len(), 1);
        assert_eq!(t.published().len(), 1);
        assert_eq!(t.release_held(), 1);
        assert_eq!(t.published().len(), 2);

        t.close_inbound();
        assert!(matches!(
            t.inject("t", "late").await,
            Err(TransportError::Closed)
        ));
        assert!(
            rx.recv().await.is_none(),
            "the consumer sees the channel close"
        );

        t.set_connected(false);
        assert!(!t.is_connected());
        assert!(t.publish(Outbound::new("t", "x")).await.is_err());
    }
}
