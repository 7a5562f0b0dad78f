//! What the pipeline counts: atomic counters shared with an [`IngestHandle`], their
//! [`IngestStats`] snapshot, and the same figures on the `metrics` facade.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use crate::{codec::RejectReason, store::AppendOutcome};

const REASONS: usize = RejectReason::ALL.len();

/// The counters the pipeline raises; one set per pipeline, shared with its handles.
#[derive(Debug, Default)]
pub(super) struct Counters {
    received: AtomicU64,
    acked: AtomicU64,
    ack_failures: AtomicU64,
    rejected: [AtomicU64; REASONS],
    readings_stored: AtomicU64,
    readings_duplicate: AtomicU64,
    batches: AtomicU64,
    store_failures: AtomicU64,
    devices_registered: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` messages were taken from the inbound channel.
    pub(super) fn received(&self, n: usize) {
        Self::bump(&self.received, n as u64);
    }

    /// A delivery was acknowledged to the broker.
    pub(super) fn acked(&self) {
        Self::bump(&self.acked, 1);
    }

    /// Acknowledging a delivery failed (the broker will redeliver it).
    pub(super) fn ack_failed(&self) {
        Self::bump(&self.ack_failures, 1);
        metrics::counter!("praan_mqtt_ack_failures_total").increment(1);
    }

    /// A message (or a backlog element) was refused.
    pub(super) fn rejected(&self, reason: RejectReason) {
        if let Some(i) = RejectReason::ALL.iter().position(|r| *r == reason) {
            Self::bump(&self.rejected[i], 1);
        }
        metrics::counter!("praan_mqtt_rejected_total", "reason" => reason.as_str()).increment(1);
    }

    /// A batch of `size` readings was committed.
    pub(super) fn committed(&self, size: usize, outcome: AppendOutcome) {
        Self::bump(&self.batches, 1);
        Self::bump(&self.readings_stored, outcome.inserted);
        Self::bump(&self.readings_duplicate, outcome.duplicates);
        metrics::counter!("praan_ingest_batches_total").increment(1);
        metrics::counter!("praan_ingest_readings_total", "outcome" => "stored")
            .increment(outcome.inserted);
        metrics::counter!("praan_ingest_readings_total", "outcome" => "duplicate")
            .increment(outcome.duplicates);
        #[allow(clippy::cast_precision_loss, reason = "a histogram sample")]
        metrics::histogram!("praan_ingest_batch_size").record(size as f64);
    }

    /// A store call failed (it will be retried).
    pub(super) fn store_failed(&self) {
        Self::bump(&self.store_failures, 1);
        metrics::counter!("praan_ingest_store_failures_total").increment(1);
    }

    /// A device was registered on its first message.
    pub(super) fn registered(&self) {
        Self::bump(&self.devices_registered, 1);
        metrics::counter!("praan_ingest_devices_registered_total").increment(1);
    }

    fn snapshot(&self) -> IngestStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IngestStats {
            received: get(&self.received),
            acked: get(&self.acked),
            ack_failures: get(&self.ack_failures),
            rejected: self.rejected.each_ref().map(get),
            readings_stored: get(&self.readings_stored),
            readings_duplicate: get(&self.readings_duplicate),
            batches: get(&self.batches),
            store_failures: get(&self.store_failures),
            devices_registered: get(&self.devices_registered),
        }
    }
}

/// A cloneable handle to a running pipeline (see [`Ingest::start`](super::Ingest::start)).
#[derive(Clone, Debug)]
pub struct IngestHandle {
    counters: Arc<Counters>,
}

impl IngestHandle {
    pub(super) fn new() -> Self {
        Self {
            counters: Arc::new(Counters::default()),
        }
    }

    pub(super) fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// The pipeline's counters now (each read on its own: a snapshot taken while the pipeline
    /// runs may be a few messages apart between two counters).
    pub fn stats(&self) -> IngestStats {
        self.counters.snapshot()
    }
}

/// A snapshot of a pipeline's counters, all since it started.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct IngestStats {
    /// Messages taken from the inbound channel.
    pub received: u64,
    /// Deliveries acknowledged to the broker.
    pub acked: u64,
    /// Acknowledgements the transport failed to send (the broker redelivers those messages).
    pub ack_failures: u64,
    rejected: [u64; REASONS],
    /// Readings stored.
    pub readings_stored: u64,
    /// Readings skipped as already stored (redeliveries).
    pub readings_duplicate: u64,
    /// Batches committed.
    pub batches: u64,
    /// Failed store calls (each retried).
    pub store_failures: u64,
    /// Devices registered on their first message.
    pub devices_registered: u64,
}

impl IngestStats {
    /// Messages (or backlog elements) refused for `reason`.
    pub fn rejected(&self, reason: RejectReason) -> u64 {
        RejectReason::ALL
            .iter()
            .position(|r| *r == reason)
            .map_or(0, |i| self.rejected[i])
    }

    /// Messages and backlog elements refused, for every reason.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Messages taken from the channel and not yet acknowledged (nor failed to be): what the
    /// pipeline holds now.
    pub fn in_flight(&self) -> u64 {
        self.received
            .saturating_sub(self.acked)
            .saturating_sub(self.ack_failures)
    }
}

/// Describes the pipeline's metrics to the installed `metrics` recorder (call it once after
/// installing one; without a recorder it does nothing).
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(
        "praan_mqtt_rejected_total",
        Unit::Count,
        "MQTT messages (or backlog elements) acknowledged and dropped as unusable, by reason"
    );
    describe_counter!(
        "praan_mqtt_ack_failures_total",
        Unit::Count,
        "MQTT acknowledgements the transport failed to send (the broker redelivers)"
    );
    describe_counter!(
        "praan_ingest_readings_total",
        Unit::Count,
        "Readings committed by the ingestion pipeline: stored, or skipped as duplicates"
    );
    describe_counter!(
        "praan_ingest_batches_total",
        Unit::Count,
        "Batches of readings committed"
    );
    describe_histogram!(
        "praan_ingest_batch_size",
        Unit::Count,
        "Readings per committed batch"
    );
    describe_counter!(
        "praan_ingest_store_failures_total",
        Unit::Count,
        "Failed store calls of the ingestion pipeline (each is retried with backoff)"
    );
    describe_counter!(
        "praan_ingest_devices_registered_total",
        Unit::Count,
        "Devices registered automatically on their first message"
    );
}
