#![doc = include_str!("../README.md")]
//!
//! # Crate layout
//!
//! - [`router`] builds the whole API over an [`AppState`]; the library never binds a socket.
//! - `config` ([`HttpConfig`]): keys, rate limit, body limit, timeouts, CORS.
//! - `state` ([`AppState`]): the store, the engine handle, the clock, readiness probes.
//! - `registry_cache`: registered devices as last read, for the device routes' registry lookup.
//! - `error` ([`ApiError`], [`ErrorBody`]) and `envelope` ([`Envelope`], [`ListEnvelope`]): the
//!   response shapes of PRODUCT.md §7.
//! - `extract`: strict JSON, query and path extractors whose rejections are [`ApiError`]s.
//! - `layers`: request ids, tracing, panics, CORS, timeout, rate limit, API keys, body limit.
//! - `routes`: the handlers, one module per area, each with its OpenAPI description.
//! - `dto`: the JSON the API answers with.
//! - `dashboard` (feature `dashboard`): the operator dashboard's embedded page and files.

mod config;
#[cfg(feature = "dashboard")]
mod dashboard;
mod dto;
mod envelope;
mod error;
mod extract;
mod layers;
mod registry_cache;
mod routes;
mod state;

use axum::{Router, http::Uri, response::IntoResponse};

pub use config::{ApiKey, Cors, HttpConfig, RateLimit, Scope};
pub use envelope::{Envelope, ListEnvelope};
pub use error::{ApiError, ErrorBody};
pub use state::AppState;

/// The whole REST API of PRODUCT.md §7 over `state`, with every layer applied. Serve it with
/// `axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())` so rate
/// limiting without API keys can tell clients apart by IP.
pub fn router(state: AppState) -> Router {
    let (routes, openapi) = routes::split();
    let document = routes::Document::new(&openapi);
    #[cfg(feature = "dashboard")]
    let routes = routes.merge(dashboard::routes());
    let routes = routes
        .fallback(|uri: Uri| async move { ApiError::no_route(uri.path()).into_response() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed().into_response() });
    layers::apply(routes, &state, document).with_state(state)
}

/// The OpenAPI document (3.1) of [`router`], as JSON.
pub fn openapi_json() -> String {
    let (_, openapi) = routes::split();
    routes::Document::new(&openapi).json.clone()
}
