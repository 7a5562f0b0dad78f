//! [`AppState`]: what every handler reaches — the store, the engine handle, the clock, the
//! configuration, and the readiness probes the embedder provides.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use praan_core::{clock::Clock, engine::Handle, store::Store};

use crate::{config::HttpConfig, layers::rate_limit::RateLimiter};

type Probe = Arc<dyn Fn() -> bool + Send + Sync>;
type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// The shared state of the router: cheap to clone (every field is shared).
#[derive(Clone)]
pub struct AppState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) engine: Handle,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) config: Arc<HttpConfig>,
    pub(crate) mqtt_connected: Option<Probe>,
    pub(crate) metrics: Option<Render>,
    pub(crate) shutting_down: Arc<AtomicBool>,
    pub(crate) limiter: Arc<RateLimiter>,
}

impl AppState {
    /// The state for a router over `store` and the running engine behind `engine`. Timeouts,
    /// rate limits and remaining times are read from `clock`.
    pub fn new(
        store: Arc<dyn Store>,
        engine: Handle,
        clock: Arc<dyn Clock>,
        config: HttpConfig,
    ) -> Self {
        Self {
            store,
            engine,
            limiter: Arc::new(RateLimiter::new(config.rate_limit)),
            clock,
            config: Arc::new(config),
            mqtt_connected: None,
            metrics: None,
            shutting_down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Reports the MQTT connection through `probe` in `/health` and `/readyz` (without one, MQTT
    /// is reported as `not_configured` and does not hold readiness back).
    #[must_use]
    pub fn with_mqtt_probe(mut self, probe: impl Fn() -> bool + Send + Sync + 'static) -> Self {
        self.mqtt_connected = Some(Arc::new(probe));
        self
    }

    /// Serves `render()` (Prometheus text, from the recorder the embedder installed) at
    /// `/metrics`. Without it `/metrics` answers 404 `metrics_disabled`.
    #[must_use]
    pub fn with_metrics(mut self, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        self.metrics = Some(Arc::new(render));
        self
    }

    /// Marks the service as shutting down: `/readyz` answers 503 from now on, so load balancers
    /// stop sending traffic while the embedder drains.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether [`AppState::begin_shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .field("mqtt_probe", &self.mqtt_connected.is_some())
            .field("metrics", &self.metrics.is_some())
            .field("shutting_down", &self.is_shutting_down())
            .finish_non_exhaustive()
    }
}
