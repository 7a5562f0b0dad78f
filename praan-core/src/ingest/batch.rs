//! [`Batch`]: the readings waiting for the next commit, and every delivery taken since the last
//! one, in arrival order, with what to do once the commit is done.

use std::collections::VecDeque;

use crate::{domain::Reading, engine::DeviceEvent, transport::Delivery};

/// What to do for a delivery once the readings before it are committed (then it is acked).
#[derive(Debug)]
pub(super) enum Then {
    /// Nothing (a rejected message).
    Nothing,
    /// Its readings start at this index of [`Batch::readings`] (the device is seen).
    Readings(usize),
    /// Hand this to the engine.
    Engine(DeviceEvent),
}

/// One delivery taken from the channel and not yet acknowledged.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) delivery: Delivery,
    pub(super) then: Then,
}

/// The pending readings and the deliveries in arrival order. Invariant: readings are pending iff
/// the queue holds a `Then::Readings` entry; when none are pending, the queue is settled at once.
#[derive(Debug)]
pub(super) struct Batch {
    pub(super) readings: Vec<Reading>,
    pub(super) queue: VecDeque<Queued>,
    max: usize,
}

impl Batch {
    /// An empty batch that is full at `max` readings or messages.
    pub(super) fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            readings: Vec::with_capacity(max),
            queue: VecDeque::with_capacity(max),
            max,
        }
    }

    /// Queues a delivery whose message adds no reading.
    pub(super) fn push(&mut self, delivery: Delivery, then: Then) {
        self.queue.push_back(Queued { delivery, then });
    }

    /// Queues a delivery and its readings (at least one).
    pub(super) fn push_readings(&mut self, delivery: Delivery, readings: Vec<Reading>) {
        let first = self.readings.len();
        if self.readings.is_empty() && readings.len() >= self.readings.capacity() {
            // A backlog as large as the batch: take its buffer instead of copying it.
            self.readings = readings;
        } else {
            self.readings.extend(readings);
        }
        self.queue.push_back(Queued {
            delivery,
            then: Then::Readings(first),
        });
    }

    /// Whether readings wait for a commit.
    pub(super) fn has_readings(&self) -> bool {
        !self.readings.is_empty()
    }

    /// Whether `more` readings would make a non-empty batch exceed its size: commit first.
    pub(super) fn would_overflow(&self, more: usize) -> bool {
        self.has_readings() && self.readings.len().saturating_add(more) > self.max
    }

    /// Whether the batch should be committed now.
    pub(super) fn is_full(&self) -> bool {
        self.readings.len() >= self.max || self.queue.len() >= self.max
    }
}
