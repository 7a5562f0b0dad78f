//! Pre-clean (PRODUCT.md §5): a temporary override of a device's fan under `/api/preclean` —
//! start, cancel, status, delete and history.
//!
//! A pre-clean runs the device at its target until it ends, then restores what the device would
//! be doing had it never happened (its schedule windows, or the last manual command, or the
//! state it reported when the pre-clean started). Starting one while another is active replaces
//! it. Both body shapes of the old clients are accepted: `fanMode` as a name or a speed, the
//! duration as `minutes`/`seconds` or as `duration` (minutes). Remaining times are computed with
//! the server's clock and are never negative.

use axum::{extract::State, http::StatusCode, response::Response};
use praan_core::{
    domain::{FanMode, PreCleanDuration, PreCleanId},
    engine::PreCleanRequest,
    store::Limit,
};
use serde::Deserialize;
use serde_json::Value;
use utoipa::{
    IntoParams, ToSchema,
    openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type},
};

use crate::{
    dto::{PreCleanDto, PreCleanStartedDto, PreCleanStatusDto},
    envelope::{self, Envelope, ListEnvelope},
    error::{ApiError, ErrorBody},
    extract::{JsonBody, PathParam, QueryParams},
    routes::{control::device_id, schedules::registered_device},
    state::AppState,
};

/// `POST /api/preclean`. The duration is `minutes` and/or `seconds`, or `duration` (minutes),
/// all whole numbers, totalling 1 s to the configured maximum (60 min by default). Examples:
/// `{"deviceId":"AIR_PURIFIER_001","fanMode":"PRE_CLEAN","minutes":1,"seconds":30}`,
/// `{"deviceId":"AIR_PURIFIER_001","fanMode":"MANUAL","fanSpeed":4,"minutes":10}`,
/// `{"deviceId":"AIR_PURIFIER_001","fanMode":5,"duration":10}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StartPreCleanRequest {
    /// The device.
    device_id: String,
    /// `OFF` (off), `AUTO` (speed 3), `MANUAL` (needs `fanSpeed`), `PRE_CLEAN` (speed 5), or a
    /// number 1–5 (that speed). A string of digits is not a number.
    #[schema(schema_with = fan_mode_schema)]
    fan_mode: Value,
    /// With `MANUAL` only: the speed, 1–5.
    #[schema(minimum = 1, maximum = 5, value_type = Option<u8>)]
    fan_speed: Option<Value>,
    /// Minutes (with `seconds`, optional).
    minutes: Option<u64>,
    /// Seconds (with `minutes`, optional; may exceed 59).
    seconds: Option<u64>,
    /// The old clients' duration in minutes (instead of `minutes`/`seconds`).
    duration: Option<u64>,
}

/// `fanMode`: one of the names or a speed 1–5.
fn fan_mode_schema() -> Schema {
    Schema::OneOf(
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["OFF", "AUTO", "MANUAL", "PRE_CLEAN"])),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1))
                    .maximum(Some(5)),
            )
            .build(),
    )
}

/// `POST /api/preclean/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CancelPreCleanRequest {
    /// The device whose active pre-clean ends now.
    device_id: String,
}

/// Query parameters of the pre-clean history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HistoryQuery {
    /// How many pre-cleans, newest first (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Starts a pre-clean (replacing the device's active one). An offline device is accepted: the
/// command retries and times out like any other.
#[utoipa::path(post, path = "/api/preclean", tag = "preclean",
    request_body = StartPreCleanRequest,
    responses(
        (status = 201, description = "Started; `restoreTarget` is what the device returns to, as of now", body = Envelope<PreCleanStartedDto>),
        (status = 400, description = "Malformed JSON or an invalid field (named in `details.field`)", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn start(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<StartPreCleanRequest>,
) -> Result<Response, ApiError> {
    let device = device_id(&body.device_id)?;
    let mode = FanMode::from_request(&body.fan_mode, body.fan_speed.as_ref())?;
    let duration = duration(&body, &state)?;
    let started = state
        .engine()
        .start_pre_clean(PreCleanRequest {
            device_id: device,
            mode,
            duration,
        })
        .await?;
    Ok(envelope::ok(
        StatusCode::CREATED,
        PreCleanStartedDto::from(&started),
    ))
}

/// The request's duration, checked against the configured maximum; errors name the field the
/// client used.
fn duration(body: &StartPreCleanRequest, state: &AppState) -> Result<PreCleanDuration, ApiError> {
    let too_long = |field: &str| ApiError::invalid_field(field, "is too long");
    let (seconds, field) = match (body.duration, body.minutes, body.seconds) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(ApiError::invalid_field(
                "duration",
                "give either duration (minutes) or minutes/seconds, not both",
            ));
        }
        (Some(minutes), None, None) => (
            minutes
                .checked_mul(60)
                .ok_or_else(|| too_long("duration"))?,
            "duration",
        ),
        (None, None, None) => {
            return Err(ApiError::invalid_field(
                "duration",
                "is required: minutes and/or seconds, or duration (minutes)",
            ));
        }
        (None, minutes, seconds) => {
            let field = if minutes.is_some() {
                "minutes"
            } else {
                "seconds"
            };
            let total = minutes
                .unwrap_or(0)
                .checked_mul(60)
                .and_then(|m| m.checked_add(seconds.unwrap_or(0)))
                .ok_or_else(|| too_long(field))?;
            (total, field)
        }
    };
    Ok(PreCleanDuration::new(seconds, state.config().max_pre_clean)
        .map_err(|e| e.in_field(field))?)
}

/// Cancels the device's active pre-clean and restores it at once.
#[utoipa::path(post, path = "/api/preclean/cancel", tag = "preclean",
    request_body = CancelPreCleanRequest,
    responses(
        (status = 200, description = "Cancelled; `restore` says what was restored and with which command", body = Envelope<PreCleanDto>),
        (status = 400, description = "Malformed JSON or an invalid deviceId", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody),
        (status = 409, description = "The device has no active pre-clean", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CancelPreCleanRequest>,
) -> Result<Response, ApiError> {
    let device = device_id(&body.device_id)?;
    let cancelled = state.engine().cancel_pre_clean(device.clone()).await?;
    let Some(pre_clean) = cancelled else {
        return Err(ApiError::conflict(format!(
            "device {device} has no active pre-clean"
        )));
    };
    Ok(envelope::ok(
        StatusCode::OK,
        PreCleanDto::new(&pre_clean, state.clock().now()),
    ))
}

/// The device's pre-clean status: whether one is active, how long it has left, its target and
/// what the device returns to.
#[utoipa::path(get, path = "/api/preclean/status/{deviceId}", tag = "preclean",
    params(("deviceId" = String, Path, description = "The device's id")),
    responses(
        (status = 200, description = "The status (`isActive: false` and `remainingSeconds: 0` without an active pre-clean)", body = Envelope<PreCleanStatusDto>),
        (status = 400, description = "An invalid device id", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn status(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let device = registered_device(&state, &id).await?;
    let latest = match state.store().active_pre_clean(&device).await? {
        Some(active) => Some(active),
        None => state
            .store()
            .pre_clean_history(&device, Limit::new(1)?)
            .await?
            .into_iter()
            .next(),
    };
    let base = state
        .store()
        .get_control(&device)
        .await?
        .and_then(|c| c.base);
    Ok(envelope::ok(
        StatusCode::OK,
        PreCleanStatusDto::new(
            device.to_string(),
            latest.as_ref(),
            base.as_ref(),
            state.clock().now(),
        ),
    ))
}

/// Deletes a pre-clean: an active one is cancelled (restoring the device at once), a finished
/// one is removed from the history.
#[utoipa::path(delete, path = "/api/preclean/{preCleanId}", tag = "preclean",
    params(("preCleanId" = String, Path, description = "The pre-clean's id (a UUID)")),
    responses(
        (status = 200, description = "Cancelled or removed; the pre-clean as it was last", body = Envelope<PreCleanDto>),
        (status = 400, description = "An invalid pre-clean id", body = ErrorBody),
        (status = 404, description = "Unknown pre-clean", body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = PreCleanId::parse(&id)?;
    let pre_clean = state.engine().delete_pre_clean(id).await?;
    Ok(envelope::ok(
        StatusCode::OK,
        PreCleanDto::new(&pre_clean, state.clock().now()),
    ))
}

/// The device's pre-cleans, newest first.
#[utoipa::path(get, path = "/api/preclean/history/{deviceId}", tag = "preclean",
    params(("deviceId" = String, Path, description = "The device's id"), HistoryQuery),
    responses(
        (status = 200, description = "Its pre-cleans, newest first", body = ListEnvelope<PreCleanDto>),
        (status = 400, description = "An invalid device id or limit", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn history(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(query): QueryParams<HistoryQuery>,
) -> Result<Response, ApiError> {
    let device = registered_device(&state, &id).await?;
    let limit = query.limit.map(Limit::new).transpose()?.unwrap_or_default();
    let now = state.clock().now();
    let history = state.store().pre_clean_history(&device, limit).await?;
    Ok(envelope::list(
        history.iter().map(|p| PreCleanDto::new(p, now)).collect(),
    ))
}
