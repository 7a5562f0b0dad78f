//! [`HttpConfig`]: what the embedder chooses about the API — keys, rate limit, body limit,
//! timeouts, CORS. The library reads no environment and no files; the example server builds this
//! from its own configuration.

use std::{fmt, time::Duration};

use praan_core::domain::DEFAULT_MAX_PRE_CLEAN;

/// The API's settings. [`HttpConfig::default`] is the open, zero-setup configuration: no keys,
/// no rate limit, 64 KiB bodies, 30 s requests, pre-cleans up to 60 minutes, no CORS headers, a
/// registry cache whose entries live 1 s.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// API keys. Empty: every route is open (the example server logs a warning). Otherwise every
    /// `/api` route needs `Authorization: Bearer <key>` of a sufficient [`Scope`]; health,
    /// readiness, metrics, the route index and the OpenAPI document stay open.
    pub api_keys: Vec<ApiKey>,
    /// Requests per client (per key, or per client IP without keys); `None` for no limit.
    pub rate_limit: Option<RateLimit>,
    /// The largest request body, in bytes (64 KiB by default); larger bodies get 413.
    pub body_limit: usize,
    /// How long a request may take, body included (30 s by default); then 503 `timeout`.
    pub request_timeout: Duration,
    /// How long `?wait=true` on a control route waits for the command's terminal status at most
    /// (25 s by default, below the request timeout); then it answers 202 with the command as it
    /// is.
    pub wait_timeout: Duration,
    /// How often an idle event stream sends a keep-alive comment (15 s by default).
    pub sse_keep_alive: Duration,
    /// The longest pre-clean `POST /api/preclean` accepts (PRODUCT.md §5; by default
    /// [`DEFAULT_MAX_PRE_CLEAN`], 60 minutes). Longer requests are refused with 400.
    pub max_pre_clean: Duration,
    /// Origins allowed to call the API from a browser.
    pub cors: Cors,
    /// How long a registered device read from the store may answer the device routes' registry
    /// lookup again (1 s by default; zero turns the cache off). Registry changes made through
    /// the API, and devices the engine forgets, show at once whatever this is; it bounds how long
    /// a change made behind the API's back (another process on the same database) goes unseen.
    pub registry_cache_ttl: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            api_keys: Vec::new(),
            rate_limit: None,
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            wait_timeout: Duration::from_secs(25),
            sse_keep_alive: Duration::from_secs(15),
            max_pre_clean: DEFAULT_MAX_PRE_CLEAN,
            cors: Cors::Off,
            registry_cache_ttl: Duration::from_secs(1),
        }
    }
}

/// What an API key may do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scope {
    /// GET routes only.
    Read,
    /// Every route (write implies read).
    Write,
}

impl Scope {
    /// Whether a key of this scope may do what `needed` asks.
    pub fn allows(self, needed: Scope) -> bool {
        self == Scope::Write || needed == Scope::Read
    }
}

/// An API key and its scope. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    key: String,
    scope: Scope,
}

impl ApiKey {
    /// A key of `scope`; `None` for an empty key.
    pub fn new(key: impl Into<String>, scope: Scope) -> Option<Self> {
        let key = key.into();
        (!key.is_empty()).then_some(Self { key, scope })
    }

    /// The key's scope.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    pub(crate) fn secret(&self) -> &[u8] {
        self.key.as_bytes()
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("key", &"[redacted]")
            .field("scope", &self.scope)
            .finish()
    }
}

/// A token bucket per client: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, PartialEq, Debug)]
pub struct RateLimit {
    /// Sustained requests per second (more than 0).
    pub per_second: f64,
    /// Requests allowed at once (at least 1).
    pub burst: u32,
}

/// Cross-origin requests from browsers.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Cors {
    /// No CORS headers: browsers on other origins are refused by the browser itself.
    Off,
    /// Any origin (`Access-Control-Allow-Origin: *`; no credentials).
    Any,
    /// These origins exactly (e.g. `https://ops.example.com`).
    Origins(Vec<String>),
}
