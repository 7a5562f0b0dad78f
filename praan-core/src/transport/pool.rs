//! [`TransportPool`]: several transports used as one — their inbound messages merged into one
//! channel, each acknowledgement routed back to the transport that delivered the message, and
//! publishes sent through the first.
//!
//! Why: praan acknowledges a QoS 1 reading only after the store committed it, and a broker sends
//! one subscriber connection at most its in-flight window of un-acknowledged messages (rumqttd
//! 0.20: 100, fixed; Mosquitto: `max_inflight_messages`). One connection therefore ingests at
//! most one window per commit. Several sessions in one shared-subscription group split the
//! readings between them, and the pool hands them to one pipeline, whose batches then hold up to
//! one window per session. `MqttPool` (feature `mqtt`) is such a pool of MQTT sessions.
//!
//! ```
//! use std::sync::Arc;
//! use praan_core::transport::{MemoryTransport, Transport, TransportPool};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (first, first_inbound) = MemoryTransport::new(16);
//! let (second, second_inbound) = MemoryTransport::new(16);
//! let (pool, mut inbound, driver) = TransportPool::new(
//!     vec![
//!         (Arc::new(first.clone()) as Arc<dyn Transport>, first_inbound),
//!         (Arc::new(second.clone()) as Arc<dyn Transport>, second_inbound),
//!     ],
//!     16,
//! )?;
//! let driver = tokio::spawn(driver);
//! let delivered = second.inject("device/a/data", r#"{"pm25":1}"#).await?;
//! let message = inbound.recv().await.ok_or("closed")?;
//! pool.ack(message.delivery).await?;
//! assert_eq!(second.acked(), vec![delivered]);
//! # first.close_inbound();
//! # second.close_inbound();
//! # driver.await?;
//! # Ok(())
//! # }
//! ```

use std::{future::Future, sync::Arc};

use async_trait::async_trait;
use futures_util::future::join_all;
use tokio::sync::mpsc;

use super::{Delivery, Inbound, Outbound, Transport, TransportError};

/// Low bits of a pool's [`Delivery`] token that name the member; the member's own token is
/// shifted above them.
const MEMBER_BITS: u32 = 8;

/// The most transports one pool holds.
pub const MAX_MEMBERS: usize = 1 << MEMBER_BITS;

/// Several transports used as one; see the [module documentation](self).
///
/// - **Inbound**: every member's messages arrive on the pool's one channel, each member's in its
///   own order (nothing orders messages of different members).
/// - **Acknowledgements** go to the member that delivered the message.
/// - **Publishes** go through the first member (commands, presence: one connection keeps their
///   order).
/// - **Connected** when every member is: a member that is down holds back its share of messages.
#[derive(Clone, Debug)]
pub struct TransportPool {
    members: Arc<[Arc<dyn Transport>]>,
}

impl TransportPool {
    /// Pools `members` (each transport with the receiving end of its inbound channel, as its
    /// constructor returned them; the first one publishes). Returns the pool, the merged inbound
    /// channel (`capacity` messages, at least 1) and the future that forwards the members'
    /// messages into it, which the embedder spawns; it ends, closing the merged channel, once
    /// every member's channel is closed or the merged receiver is dropped.
    ///
    /// Fails with [`TransportError::Config`] for no members or more than [`MAX_MEMBERS`].
    pub fn new(
        members: Vec<(Arc<dyn Transport>, mpsc::Receiver<Inbound>)>,
        capacity: usize,
    ) -> Result<
        (
            Self,
            mpsc::Receiver<Inbound>,
            impl Future<Output = ()> + Send + 'static,
        ),
        TransportError,
    > {
        if members.is_empty() || members.len() > MAX_MEMBERS {
            return Err(TransportError::Config {
                reason: format!(
                    "a transport pool holds 1 to {MAX_MEMBERS} transports, not {}",
                    members.len()
                )
                .into(),
            });
        }
        let (merged, receiver) = mpsc::channel(capacity.max(1));
        let mut transports = Vec::with_capacity(members.len());
        let mut forwarders = Vec::with_capacity(members.len());
        for (index, (transport, inbound)) in (0u64..).zip(members) {
            transports.push(transport);
            forwarders.push(forward(index, inbound, merged.clone()));
        }
        drop(merged);
        let pool = Self {
            members: transports.into(),
        };
        let driver = async move {
            join_all(forwarders).await;
        };
        Ok((pool, receiver, driver))
    }

    /// How many transports the pool holds.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Always false: a pool holds at least one transport.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The pooled transports, the publishing one first.
    pub fn members(&self) -> &[Arc<dyn Transport>] {
        &self.members
    }
}

/// Moves `member`'s messages into the pool's channel, re-numbering their delivery tokens so that
/// [`TransportPool::ack`] can route them back.
async fn forward(member: u64, mut from: mpsc::Receiver<Inbound>, to: mpsc::Sender<Inbound>) {
    while let Some(mut message) = from.recv().await {
        let own = message.delivery.get();
        if own >> (u64::BITS - MEMBER_BITS) != 0 {
            // 2^56 deliveries on one connection: centuries at any rate a broker sustains. Left
            // un-acknowledged, the message comes again on the member's next connection.
            tracing::error!(
                member,
                delivery = own,
                "a pooled transport's delivery token is too large to route; message left unacknowledged"
            );
            continue;
        }
        message.delivery = Delivery::new(own << MEMBER_BITS | member);
        if to.send(message).await.is_err() {
            return;
        }
    }
}

#[async_trait]
impl Transport for TransportPool {
    /// Publishes through the first member.
    async fn publish(&self, message: Outbound) -> Result<(), TransportError> {
        match self.members.first() {
            Some(first) => first.publish(message).await,
            None => Err(TransportError::Closed),
        }
    }

    /// Acknowledges through the member that delivered the message. A token no member issued is
    /// ignored, like an ack of a delivery that is no longer waiting.
    async fn ack(&self, delivery: Delivery) -> Result<(), TransportError> {
        let token = delivery.get();
        let index = token & ((1 << MEMBER_BITS) - 1);
        match usize::try_from(index)
            .ok()
            .and_then(|i| self.members.get(i))
        {
            Some(member) => member.ack(Delivery::new(token >> MEMBER_BITS)).await,
            None => {
                tracing::trace!(
                    delivery = token,
                    "ack of a token no pooled transport issued"
                );
                Ok(())
            }
        }
    }

    fn is_connected(&self) -> bool {
        self.members.iter().all(|m| m.is_connected())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::transport::MemoryTransport;

    type Members = Vec<(Arc<dyn Transport>, mpsc::Receiver<Inbound>)>;

    fn members(n: usize) -> (Vec<MemoryTransport>, Members) {
        (0..n)
            .map(|_| {
                let (transport, inbound) = MemoryTransport::new(8);
                (
                    transport.clone(),
                    (Arc::new(transport) as Arc<dyn Transport>, inbound),
                )
            })
            .unzip()
    }

    #[test]
    fn refuses_no_members_and_too_many() {
        assert!(matches!(
            TransportPool::new(Vec::new(), 8),
            Err(TransportError::Config { .. })
        ));
        let (_keep, too_many) = members(MAX_MEMBERS + 1);
        assert!(matches!(
            TransportPool::new(too_many, 8),
            Err(TransportError::Config { .. })
        ));
    }

    #[tokio::test]
    async fn merges_inbound_and_routes_each_ack_to_its_member() -> Result<(), TransportError> {
        let (transports, pooled) = members(3);
        let (pool, mut inbound, driver) = TransportPool::new(pooled, 4)?;
        let driver = tokio::spawn(driver);
        let mut sent = Vec::new();
        for round in 0..5 {
            for (i, t) in transports.iter().enumerate() {
                let topic = format!("device/d{i}/data");
                let delivery = t.inject(&topic, format!("{round}")).await?;
                sent.push((i, delivery));
            }
        }
        let mut tokens = BTreeSet::new();
        for _ in 0..sent.len() {
            let message = inbound.recv().await.ok_or(TransportError::Closed)?;
            assert!(tokens.insert(message.delivery), "tokens are distinct");
            pool.ack(message.delivery).await?;
        }
        for (i, t) in transports.iter().enumerate() {
            let mine: BTreeSet<_> = sent
                .iter()
                .filter(|(member, _)| *member == i)
                .map(|(_, d)| *d)
                .collect();
            assert_eq!(t.acked().into_iter().collect::<BTreeSet<_>>(), mine);
            assert!(t.unacked().is_empty());
        }
        // A token no member issued is ignored.
        pool.ack(Delivery::new(7)).await?;
        for t in &transports {
            t.close_inbound();
        }
        assert!(
            inbound.recv().await.is_none(),
            "closes once every member closed"
        );
        driver.await.map_err(|e| TransportError::Backend {
            context: "joining the driver".into(),
            source: Box::new(e),
        })?;
        Ok(())
    }

    #[tokio::test]
    async fn publishes_through_the_first_and_is_connected_only_when_all_are()
    -> Result<(), TransportError> {
        let (transports, pooled) = members(2);
        let (pool, _inbound, _driver) = TransportPool::new(pooled, 4)?;
        pool.publish(Outbound::new("device/a/command", "x")).await?;
        assert_eq!(transports[0].published().len(), 1);
        assert!(transports[1].published().is_empty());
        assert!(pool.is_connected());
        transports[1].set_connected(false);
        assert!(!pool.is_connected());
        Ok(())
    }
}
