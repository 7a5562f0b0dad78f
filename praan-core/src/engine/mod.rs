//! The engine: the one async driver of the control machines (PRODUCT.md §2–§5).
//!
//! An actor that owns the [`Deliveries`](crate::command::Deliveries) machine, every managed
//! device's [`ControlState`](crate::domain::ControlState) and schedules, and one timer queue. It
//! waits on requests from [`Handle`]s (commands, pre-cleans, schedule changes, device events) and
//! on `clock.sleep_until(next deadline)`, runs one step, then writes the effects to the
//! [`Store`] and the [`Transport`]. All control state is persisted before it is acted on; the
//! in-memory timer queue is only a cache of the store, rebuilt by [`Engine::start`], which also
//! catches up level-triggered: a pre-clean that ended while praan was down is ended now, and the
//! schedule windows active now are applied once if they differ from the last applied ones (missed
//! boundaries are never replayed one by one).
//!
//! No per-device task and no scan of all devices per tick: each device has at most one schedule
//! timer (its next boundary), one silence timer and its pre-clean's end in one ordered queue.
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use praan_core::{
//!     clock::{Clock, FakeClock},
//!     domain::{CommandSource, Device, DeviceId, FanSpeed, Instruction, Timestamp},
//!     engine::{CommandRequest, Engine, EngineConfig},
//!     store::{DeviceRepo, MemoryStore, Store},
//!     transport::MemoryTransport,
//! };
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let clock = FakeClock::new(Timestamp::parse_rfc3339("2026-11-28T09:00:00Z")?);
//! let store = Arc::new(MemoryStore::new());
//! let (transport, _inbound) = MemoryTransport::new(64);
//! let device = DeviceId::new("AIR_PURIFIER_001")?;
//! store.insert_device(&Device::auto_registered(device.clone(), clock.now())).await?;
//!
//! let (handle, engine) = Engine::start(
//!     EngineConfig::default(),
//!     store.clone() as Arc<dyn Store>,
//!     Arc::new(transport.clone()),
//!     Arc::new(clock.clone()),
//! )
//! .await?;
//! let running = tokio::spawn(engine);
//!
//! let command = handle
//!     .send_command(CommandRequest {
//!         device_id: device.clone(),
//!         instruction: Instruction::set_fan_speed(FanSpeed::new(3)?),
//!         source: CommandSource::Manual,
//!         idempotency_key: None,
//!         expires_in: None,
//!     })
//!     .await?;
//! // Stored, then published on `device/AIR_PURIFIER_001/command`.
//! assert_eq!(transport.published()[0].topic, "device/AIR_PURIFIER_001/command");
//!
//! // Nobody acks: after 4 publishes (maxRetries 3) and 4 × 30 s of simulated time, `timeout`.
//! for _ in 0..4 {
//!     clock.advance(Duration::from_secs(30));
//!     handle.control(device.clone()).await?; // a round trip: the engine has run its timers
//! }
//! let done = handle.wait_terminal(command.command_id).await?;
//! assert_eq!(done.status.as_str(), "timeout");
//! assert_eq!(transport.published().len(), 4);
//!
//! drop(handle);
//! running.await??;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod actor;
mod event;
mod handle;

use std::{future::Future, sync::Arc, time::Duration};

use tokio::sync::{broadcast, mpsc};

use crate::{
    clock::Clock,
    codec::TopicPrefix,
    command::DeliveryConfig,
    domain::{DeviceId, Timezone, ValidationError},
    store::{Store, StoreError},
    transport::Transport,
};

pub use event::EngineEvent;
pub use handle::{
    CommandRequest, DeviceEvent, Handle, PreCleanRequest, PreCleanStarted, ScheduleSaved,
};

/// Engine settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// Ack timeout and retries.
    pub delivery: DeliveryConfig,
    /// Silence after which a device is offline (default 5 min).
    pub offline_after: Duration,
    /// The MQTT topic prefix commands are published under.
    pub topic_prefix: TopicPrefix,
    /// The zone of schedules that name none (default UTC).
    pub default_timezone: Timezone,
    /// How long an idempotency key returns the same command (default 24 h).
    pub idempotency_window: Duration,
    /// How many requests may wait for the engine (backpressure beyond).
    pub queue_capacity: usize,
    /// How many events a slow subscriber may fall behind before it loses some.
    pub event_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            delivery: DeliveryConfig::default(),
            offline_after: Duration::from_secs(5 * 60),
            topic_prefix: TopicPrefix::default(),
            default_timezone: Timezone::UTC,
            idempotency_window: Duration::from_secs(24 * 60 * 60),
            queue_capacity: 4096,
            event_capacity: 4096,
        }
    }
}

/// Why an engine request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The device is not registered.
    #[error("device {0} is not registered")]
    UnknownDevice(DeviceId),
    /// The command, schedule or pre-clean does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What kind of record.
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The request is not valid (e.g. a speed above the device's maximum).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine has stopped.
    #[error("the engine has stopped")]
    Stopped,
}

/// The control engine. See the module docs.
#[derive(Debug)]
pub struct Engine;

impl Engine {
    /// Loads the control state from `store`, catches up on what happened while praan was down,
    /// and returns a [`Handle`] and the engine's future, which the embedder spawns. The future
    /// completes when every handle is dropped.
    pub async fn start(
        config: EngineConfig,
        store: Arc<dyn Store>,
        transport: Arc<dyn Transport>,
        clock: Arc<dyn Clock>,
    ) -> Result<(Handle, impl Future<Output = Result<(), EngineError>> + Send), EngineError> {
        let (requests, inbox) = mpsc::channel(config.queue_capacity.max(1));
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let default_timezone = config.default_timezone;
        let topic_prefix = config.topic_prefix.clone();
        let mut actor = actor::Actor::new(config, store, transport, clock, events.clone());
        actor.recover().await?;
        let handle = Handle {
            requests,
            events,
            default_timezone,
            registry_epoch: Arc::default(),
            topic_prefix,
        };
        Ok((handle, actor.run(inbox)))
    }
}
