//! [`AckQueue`]: the deliveries not yet acknowledged to the broker, released in arrival order.

use std::collections::VecDeque;

use rumqttc::{AsyncClient, Publish};

/// The QoS 1/2 deliveries of the current connection not yet acknowledged to the broker, in
/// arrival order. MQTT wants PUBACKs in that order, so an ack is recorded here and released only
/// when every earlier delivery is acknowledged too.
///
/// Invariant: `entries` is sorted by `seq` (deliveries are numbered in arrival order).
#[derive(Default)]
pub(super) struct AckQueue {
    pub(super) entries: VecDeque<AckEntry>,
}

pub(super) struct AckEntry {
    pub(super) seq: u64,
    pub(super) pkid: u16,
    pub(super) qos: rumqttc::QoS,
    pub(super) acked: bool,
}

impl AckQueue {
    /// Records that `seq` was acknowledged; false when it is not (or no longer) waiting.
    pub(super) fn mark(&mut self, seq: u64) -> bool {
        match self.entries.binary_search_by_key(&seq, |e| e.seq) {
            Ok(i) => {
                self.entries[i].acked = true;
                true
            }
            Err(_) => false,
        }
    }

    /// Hands rumqttc the acknowledged prefix of the queue, in order; returns how many. Stops early
    /// when rumqttc's request queue is full: the driver calls this again after every event.
    ///
    /// Called with the lock held, so that a connection loss (which clears the queue under the same
    /// lock, then drops the queued PUBACKs from rumqttc's request queue) cannot interleave: no
    /// packet id of an old connection reaches a new one.
    pub(super) fn release(&mut self, client: &AsyncClient) -> u64 {
        let mut sent = 0;
        while let Some(front) = self.entries.front() {
            if !front.acked {
                break;
            }
            let mut publish = Publish::new("", front.qos, Vec::new());
            publish.pkid = front.pkid;
            if client.try_ack(&publish).is_err() {
                break;
            }
            self.entries.pop_front();
            sent += 1;
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use rumqttc::MqttOptions;

    use super::*;

    #[test]
    fn acks_are_released_in_arrival_order() {
        let (client, _eventloop) = AsyncClient::new(MqttOptions::new("c", "h", 1883), 16);
        let mut queue = AckQueue::default();
        for (seq, pkid) in [(1, 10), (2, 11), (3, 12)] {
            queue.entries.push_back(AckEntry {
                seq,
                pkid,
                qos: rumqttc::QoS::AtLeastOnce,
                acked: false,
            });
        }
        assert!(queue.mark(3));
        assert_eq!(queue.release(&client), 0, "3 waits for 1 and 2");
        assert!(queue.mark(1));
        assert_eq!(queue.release(&client), 1, "1 goes, 3 still waits for 2");
        assert!(!queue.mark(1), "1 is no longer waiting");
        assert!(queue.mark(2));
        assert_eq!(queue.release(&client), 2);
        assert!(queue.entries.is_empty());
        assert!(!queue.mark(99));
    }
}
