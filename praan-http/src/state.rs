//! [`AppState`]: what every handler reaches — the store, the engine handle, the clock, the
//! configuration, the registry cache, and the readiness probes the embedder provides.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use praan_core::{clock::Clock, engine::Handle, store::Store};

use crate::{config::HttpConfig, layers::rate_limit::RateLimiter, registry_cache::RegistryCache};

type Probe = Arc<dyn Fn() -> bool + Send + Sync>;
type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// The shared state of the router. Cloning it costs one reference count (axum clones it for
/// every layer and the handler of every request); clones share everything, the probes included.
#[derive(Clone)]
pub struct AppState {
    shared: Arc<Shared>,
}

/// What the clones of an [`AppState`] share.
#[derive(Clone)]
struct Shared {
    store: Arc<dyn Store>,
    engine: Handle,
    clock: Arc<dyn Clock>,
    config: HttpConfig,
    mqtt_connected: Option<Probe>,
    metrics: Option<Render>,
    shutting_down: Arc<AtomicBool>,
    limiter: Arc<RateLimiter>,
    registry: Arc<RegistryCache>,
}

impl AppState {
    /// The state for a router over `store` and the running engine behind `engine`. Timeouts,
    /// rate limits, remaining times and the registry cache's expiry are read from `clock`.
    pub fn new(
        store: Arc<dyn Store>,
        engine: Handle,
        clock: Arc<dyn Clock>,
        config: HttpConfig,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                engine,
                limiter: Arc::new(RateLimiter::new(config.rate_limit)),
                registry: Arc::new(RegistryCache::new(config.registry_cache_ttl)),
                clock,
                config,
                mqtt_connected: None,
                metrics: None,
                shutting_down: Arc::new(AtomicBool::new(false)),
            }),
        }
    }

    /// Reports the MQTT connection through `probe` in `/health` and `/readyz` (without one, MQTT
    /// is reported as `not_configured` and does not hold readiness back).
    #[must_use]
    pub fn with_mqtt_probe(mut self, probe: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.shared).mqtt_connected = Some(Arc::new(probe));
        self
    }

    /// Serves `render()` (Prometheus text, from the recorder the embedder installed) at
    /// `/metrics`. Without it `/metrics` answers 404 `metrics_disabled`.
    #[must_use]
    pub fn with_metrics(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Arc::make_mut(&mut self.shared).metrics = Some(Arc::new(render));
        self
    }

    /// Marks the service as shutting down: `/readyz` answers 503 from now on, so load balancers
    /// stop sending traffic while the embedder drains.
    pub fn begin_shutdown(&self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether [`AppState::begin_shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shared.shutting_down.load(Ordering::SeqCst)
    }

    /// The store.
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The engine.
    pub(crate) fn engine(&self) -> &Handle {
        &self.shared.engine
    }

    /// The clock.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &HttpConfig {
        &self.shared.config
    }

    /// The embedder's MQTT probe, if any.
    pub(crate) fn mqtt_connected(&self) -> Option<&Probe> {
        self.shared.mqtt_connected.as_ref()
    }

    /// The embedder's metrics renderer, if any.
    pub(crate) fn metrics(&self) -> Option<&Render> {
        self.shared.metrics.as_ref()
    }

    /// The rate limiter's buckets.
    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.shared.limiter
    }

    /// The registered devices as last read from the store.
    pub(crate) fn registry(&self) -> &RegistryCache {
        &self.shared.registry
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("config", self.config())
            .field("mqtt_probe", &self.shared.mqtt_connected.is_some())
            .field("metrics", &self.shared.metrics.is_some())
            .field("shutting_down", &self.is_shutting_down())
            .finish_non_exhaustive()
    }
}
