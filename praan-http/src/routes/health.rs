//! Health and discovery: `/health` (the old shape plus details), `/livez`, `/readyz`,
//! `/metrics`, the route index `/` and the OpenAPI document.

use std::sync::Arc;

use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use super::Document;
use crate::{
    envelope::{self, Envelope},
    error::{ApiError, ErrorBody},
    state::AppState,
};

/// `GET /health`: the old clients' shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Health {
    /// `ok` when the store answers and MQTT is connected (or not configured), else `degraded`.
    status: &'static str,
    /// Each dependency: `connected`, `disconnected` or `not_configured`.
    services: Services,
    /// Whether the service is draining for shutdown.
    shutting_down: bool,
    /// How long the store took to answer its ping, in milliseconds.
    store_latency_ms: Option<u64>,
    /// The store's error, when it failed.
    store_error: Option<String>,
    /// praan's version.
    version: &'static str,
}

/// The dependencies' states.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Services {
    /// The store.
    store: &'static str,
    /// The MQTT broker connection.
    mqtt: &'static str,
}

/// One route of the index.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub(crate) struct RouteEntry {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub(crate) method: String,
    /// The path, with `{parameters}`.
    pub(crate) path: String,
    /// What it does.
    pub(crate) summary: String,
}

/// The route index.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Index {
    /// `praan`.
    name: &'static str,
    /// praan's version.
    version: &'static str,
    /// Where the OpenAPI document is.
    openapi: &'static str,
    /// Every route.
    routes: Vec<RouteEntry>,
}

struct Checks {
    store: Result<u64, String>,
    mqtt: Option<bool>,
}

async fn check(state: &AppState) -> Checks {
    let started = state.clock().now();
    let store = match state.store().ping().await {
        Ok(()) => {
            let took = state.clock().now().saturating_duration_since(started);
            Ok(u64::try_from(took.as_millis()).unwrap_or(u64::MAX))
        }
        Err(e) => Err(e.to_string()),
    };
    Checks {
        store,
        mqtt: state.mqtt_connected().map(|probe| probe()),
    }
}

/// The route index: every route with its summary.
///
/// With the `dashboard` feature, a browser (a request whose `Accept` names `text/html`) gets the
/// operator dashboard's page instead.
#[utoipa::path(get, path = "/", tag = "health",
    responses((status = 200, description = "Every route", body = Envelope<Index>)))]
pub(crate) async fn index(
    Extension(doc): Extension<Arc<Document>>,
    headers: HeaderMap,
) -> Response {
    #[cfg(feature = "dashboard")]
    if crate::dashboard::wants_page(&headers) {
        return crate::dashboard::page(&headers);
    }
    #[cfg(not(feature = "dashboard"))]
    let _ = headers;
    envelope::ok(
        StatusCode::OK,
        Index {
            name: "praan",
            version: env!("CARGO_PKG_VERSION"),
            openapi: crate::layers::auth::OPENAPI_PATH,
            routes: doc.routes.clone(),
        },
    )
}

/// Health of the service and its dependencies (200 `ok`, or 503 `degraded`).
#[utoipa::path(get, path = "/health", tag = "health", responses(
    (status = 200, description = "Store and MQTT are fine", body = Health),
    (status = 503, description = "A dependency is down", body = Health)))]
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let checks = check(&state).await;
    let healthy = checks.store.is_ok() && checks.mqtt != Some(false);
    let body = Health {
        status: if healthy { "ok" } else { "degraded" },
        services: Services {
            store: if checks.store.is_ok() {
                "connected"
            } else {
                "disconnected"
            },
            mqtt: match checks.mqtt {
                Some(true) => "connected",
                Some(false) => "disconnected",
                None => "not_configured",
            },
        },
        shutting_down: state.is_shutting_down(),
        store_latency_ms: checks.store.as_ref().ok().copied(),
        store_error: checks.store.err(),
        version: env!("CARGO_PKG_VERSION"),
    };
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/livez", tag = "health",
    responses((status = 200, description = "Alive", body = Envelope<String>)))]
pub(crate) async fn livez() -> Response {
    envelope::ok(StatusCode::OK, "alive")
}

/// Readiness: the store answers, MQTT is connected and the service is not shutting down.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "Ready", body = Envelope<String>),
    (status = 503, description = "Not ready, and why", body = ErrorBody)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_shutting_down() {
        return ApiError::unavailable("shutting down").into_response();
    }
    let checks = check(&state).await;
    if let Err(e) = checks.store {
        return ApiError::unavailable(format!("the store does not answer: {e}")).into_response();
    }
    if checks.mqtt == Some(false) {
        return ApiError::unavailable("not connected to the MQTT broker").into_response();
    }
    envelope::ok(StatusCode::OK, "ready")
}

/// Prometheus metrics, from the recorder the embedder installed.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
    (status = 404, description = "No recorder installed", body = ErrorBody)))]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics() {
        Some(render) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(),
        )
            .into_response(),
        None => ApiError::not_found("metrics", "recorder").into_response(),
    }
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub(crate) async fn openapi_json(Extension(doc): Extension<Arc<Document>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        doc.json.clone(),
    )
        .into_response()
}
