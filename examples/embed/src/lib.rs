//! `acme_air`: a made-up company's service that embeds praan. It keeps its own routes (a
//! "boost" button for its app, built on the engine handle) next to praan's whole REST API, and
//! chooses its own store. [`app`] is the whole HTTP surface; `main.rs` wires the rest.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::post,
};
use praan_core::{
    domain::{DeviceId, FanMode, PreCleanDuration},
    engine::{EngineError, Handle, PreCleanRequest},
};
use praan_http::AppState;
use serde::Serialize;

/// How long the boost button runs the purifier at full speed.
pub const BOOST: Duration = Duration::from_secs(15 * 60);

/// What the boost button answers.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Boosted {
    /// The device.
    pub device_id: String,
    /// When the boost ends (RFC 3339); the purifier then returns to what it would be doing.
    pub until: String,
}

/// The service's own routes (under `/acme`) merged with praan's REST API (everything else).
pub fn app(praan: AppState, engine: Handle) -> Router {
    let own = Router::new()
        .route("/acme/boost/{device_id}", post(boost))
        .with_state(engine);
    own.merge(praan_http::router(praan))
}

/// `POST /acme/boost/{deviceId}`: full speed for 15 minutes, as a praan pre-clean (so the
/// device returns to its schedule or manual state afterwards, even across restarts).
async fn boost(
    State(engine): State<Handle>,
    Path(device_id): Path<String>,
) -> Result<Json<Boosted>, (StatusCode, String)> {
    let device_id =
        DeviceId::new(&device_id).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let duration = PreCleanDuration::new(BOOST.as_secs(), BOOST)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let started = engine
        .start_pre_clean(PreCleanRequest {
            device_id,
            mode: FanMode::PreClean,
            duration,
        })
        .await
        .map_err(|e| match e {
            EngineError::UnknownDevice(_) => (StatusCode::NOT_FOUND, e.to_string()),
            other => (StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
        })?;
    Ok(Json(Boosted {
        device_id: started.pre_clean.device_id.to_string(),
        until: started.pre_clean.ends_at.to_rfc3339(),
    }))
}
