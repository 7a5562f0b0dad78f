//! The telemetry pipeline (PRODUCT.md §1, §3, §8): inbound MQTT messages → decoded readings →
//! one `append_readings` transaction per batch → only then the MQTT acknowledgements → small
//! deltas to the engine.
//!
//! Separate from the control [`Engine`](crate::engine::Engine), so ingestion throughput never
//! depends on the control loop. One task ([`Ingest::start`]'s future) owns everything: it takes
//! messages from the transport's bounded inbound channel in chunks, decodes them with the
//! [`Codec`], and keeps the readings of a batch and the deliveries taken since the last commit in
//! arrival order. It commits when [`IngestConfig::max_batch`] readings (or messages) are pending,
//! when no more messages are waiting ([`IngestConfig::commit_when_idle`]: group commit, so the
//! broker's in-flight window never throttles it), at the latest [`IngestConfig::max_delay`] after
//! the first pending reading, or when the channel closes. After
//! the commit it acknowledges every delivery of the batch to the broker **in arrival order** (MQTT
//! requires PUBACKs in the order of the PUBLISHes), and hands the engine, in the same order, the
//! command acks and presence reports that arrived meanwhile and one `Seen` per device.
//!
//! # Guarantees
//! - **A reading is acknowledged only after its batch is committed.** While the store fails, the
//!   batch is kept and retried with capped exponential backoff (through the [`Clock`]) and nothing
//!   is acknowledged; the pipeline stops taking messages, so the bounded inbound channel fills, the
//!   transport stops reading from the broker, and the broker holds the backlog. The pipeline holds
//!   at most `max_batch` messages plus one received chunk ([`CHUNK`] messages). Redeliveries are
//!   deduplicated by the store on `(deviceId, timestamp)`.
//! - **Unusable messages are acknowledged and dropped** (never redelivered forever): a
//!   [`Rejection`](crate::codec::Rejection), or a message from an unregistered device when
//!   [`IngestConfig::accept_unknown_devices`] is off. Each is logged (`tracing::warn!`, with a
//!   truncated payload sample) and counted per reason, as `praan_mqtt_rejected_total{reason}` on the
//!   `metrics` facade and in [`IngestStats`]. A backlog array keeps its good readings; each bad
//!   element is counted.
//! - **Graceful drain**: when the inbound channel closes, the pipeline commits and acknowledges
//!   what it holds, then ends. Dropping its future instead is safe too: what was not acknowledged is
//!   redelivered by the broker (persistent session) and deduplicated.
//!
//! Devices are auto-registered ([`Device::auto_registered`](crate::domain::Device)) on their first
//! valid message; the ids known to be registered are cached, so a known device costs no store call.
//!
//! # Metrics
//! Emitted on the `metrics` facade (the embedder installs a recorder, or none):
//! `praan_mqtt_rejected_total{reason}`, `praan_ingest_readings_total{outcome="stored"|"duplicate"}`,
//! `praan_ingest_batches_total`, `praan_ingest_batch_size` (histogram),
//! `praan_ingest_store_failures_total`, `praan_ingest_devices_registered_total`,
//! `praan_mqtt_ack_failures_total`. [`describe_metrics`] describes them to the recorder.
//!
//! ```
//! use std::sync::Arc;
//! use praan_core::{
//!     clock::FakeClock,
//!     codec::Codec,
//!     domain::{DeviceId, Timestamp},
//!     engine::{Engine, EngineConfig},
//!     ingest::{Ingest, IngestConfig},
//!     store::{MemoryStore, Store, TelemetryRepo},
//!     transport::MemoryTransport,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let clock = Arc::new(FakeClock::new(Timestamp::parse_rfc3339("2026-11-28T09:00:00Z")?));
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let (transport, inbound) = MemoryTransport::new(64);
//! let (engine, engine_task) = Engine::start(
//!     EngineConfig::default(),
//!     store.clone(),
//!     Arc::new(transport.clone()),
//!     clock.clone(),
//! )
//! .await?;
//! let engine_task = tokio::spawn(engine_task);
//!
//! let (monitor, ingest) = Ingest::start(
//!     IngestConfig::default(),
//!     Codec::default(),
//!     store.clone(),
//!     Arc::new(transport.clone()),
//!     engine.clone(),
//!     clock.clone(),
//!     inbound,
//! );
//! let ingest = tokio::spawn(ingest);
//!
//! let delivery = transport.inject("device/d1/data", r#"{"pm25":12.5}"#).await?;
//! // The transport shuts down: the pipeline commits what it holds, acknowledges it, and ends.
//! transport.close_inbound();
//! ingest.await??;
//! assert_eq!(transport.acked(), [delivery]);
//! assert_eq!(monitor.stats().readings_stored, 1);
//! let d1 = DeviceId::new("d1")?;
//! assert!(store.latest_reading(&d1).await?.is_some());
//!
//! drop(engine);
//! engine_task.await??;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod batch;
mod pipeline;
mod retry;
mod stats;

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::mpsc;

use crate::{
    clock::Clock,
    codec::Codec,
    engine::Handle,
    store::Store,
    transport::{Inbound, Transport},
};

pub use stats::{IngestHandle, IngestStats, describe_metrics};

/// How many messages the pipeline takes from the inbound channel at once (at most).
pub const CHUNK: usize = 64;

/// Pipeline settings.
///
/// The decoding limits (payload size, backlog length, future skew) are the [`Codec`]'s, given to
/// [`Ingest::start`] with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestConfig {
    /// Commit once this many readings (or messages) are pending (default 1000, at least 1).
    pub max_batch: usize,
    /// Commit at the latest this long after the first pending reading arrived (default 50 ms).
    pub max_delay: Duration,
    /// Commit as soon as no more messages are waiting in the inbound channel, instead of waiting
    /// up to `max_delay` for more (default `true`: group commit). Brokers cap the messages a
    /// subscriber has not acknowledged (Mosquitto's `max_inflight_messages`, 20 by default;
    /// rumqttd's 100), and praan acknowledges only after the commit, so a pipeline that lingers
    /// would take at most that many messages per `max_delay`. Under load messages keep waiting
    /// and batches still grow up to `max_batch`.
    pub commit_when_idle: bool,
    /// The first wait before retrying a failed store call (default 100 ms); it doubles per failure.
    pub store_retry_min: Duration,
    /// The longest wait between retries of a failed store call (default 5 s).
    pub store_retry_max: Duration,
    /// Whether a message from an unregistered device registers it (default `true`); when `false`,
    /// such messages are rejected with reason `unknown_device`.
    pub accept_unknown_devices: bool,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_batch: 1000,
            max_delay: Duration::from_millis(50),
            commit_when_idle: true,
            store_retry_min: Duration::from_millis(100),
            store_retry_max: Duration::from_secs(5),
            accept_unknown_devices: true,
        }
    }
}

/// Why the pipeline stopped before its inbound channel closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The engine stopped, so command acks and presence can no longer be handed over. The message
    /// that could not be handed over, and every later one, was not acknowledged (the broker
    /// redelivers them after a restart).
    #[error("the engine has stopped")]
    EngineStopped,
}

/// The ingestion pipeline. See the module docs.
#[derive(Debug)]
pub struct Ingest;

impl Ingest {
    /// Builds the pipeline over `inbound` (the transport's channel) and returns a handle to its
    /// statistics and the pipeline's future, which the embedder spawns.
    ///
    /// The future ends with `Ok` once `inbound` is closed and everything taken from it was
    /// committed and acknowledged; store failures are retried, never returned. It holds a clone
    /// of `engine`, so the engine keeps running until the pipeline has ended.
    pub fn start(
        config: IngestConfig,
        codec: Codec,
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        engine: Handle,
        clock: Arc<dyn Clock>,
        inbound: mpsc::Receiver<Inbound>,
    ) -> (
        IngestHandle,
        impl Future<Output = Result<(), IngestError>> + Send + 'static,
    ) {
        let handle = IngestHandle::new();
        let pipeline = pipeline::Pipeline::new(
            config,
            codec,
            store,
            transport,
            engine,
            clock,
            handle.counters(),
        );
        (handle, pipeline.run(inbound))
    }
}
