//! Control: `POST /api/control/power` and `POST /api/control/fan` send a manual command and
//! answer 202 with it; `?wait=true` waits (bounded by
//! [`HttpConfig::wait_timeout`](crate::HttpConfig::wait_timeout)) for its terminal status and
//! then answers 200. An `Idempotency-Key` header makes a retried request return the same command.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use praan_core::{
    domain::{Command, CommandSource, DeviceId, FanSpeed, IdempotencyKey, Instruction},
    engine::CommandRequest,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    dto::CommandDto,
    envelope::{self, Envelope},
    error::{ApiError, ErrorBody},
    extract::{JsonBody, QueryParams},
    state::AppState,
};

/// `POST /api/control/power`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PowerRequest {
    /// The device.
    device_id: String,
    /// `true` turns it on (at its last speed), `false` off.
    power_on: bool,
}

/// `POST /api/control/fan`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct FanRequest {
    /// The device.
    device_id: String,
    /// 0 (off) to 5.
    #[schema(minimum = 0, maximum = 5)]
    fan_speed: u8,
}

/// Query parameters of the control routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ControlQuery {
    /// Wait for the command's terminal status (bounded) before answering.
    #[serde(default)]
    wait: Option<bool>,
}

/// Turns a device on or off.
#[utoipa::path(post, path = "/api/control/power", tag = "control",
    params(ControlQuery, ("Idempotency-Key" = Option<String>, Header,
        description = "Returns the existing command for a key already used for this device within 24 h")),
    request_body = PowerRequest,
    responses(
        (status = 202, description = "Stored and published; the device has not answered yet", body = Envelope<CommandDto>),
        (status = 200, description = "With `wait=true`: the command reached its terminal status", body = Envelope<CommandDto>),
        (status = 400, description = "Malformed JSON or an invalid field", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn power(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<ControlQuery>,
    JsonBody(body): JsonBody<PowerRequest>,
) -> Result<Response, ApiError> {
    let device = device_id(&body.device_id)?;
    let instruction = if body.power_on {
        Instruction::turn_on()
    } else {
        Instruction::turn_off()
    };
    send(&state, &headers, query, device, instruction).await
}

/// Sets a device's fan speed (0 turns it off).
#[utoipa::path(post, path = "/api/control/fan", tag = "control",
    params(ControlQuery, ("Idempotency-Key" = Option<String>, Header,
        description = "Returns the existing command for a key already used for this device within 24 h")),
    request_body = FanRequest,
    responses(
        (status = 202, description = "Stored and published; the device has not answered yet", body = Envelope<CommandDto>),
        (status = 200, description = "With `wait=true`: the command reached its terminal status", body = Envelope<CommandDto>),
        (status = 400, description = "Malformed JSON or an invalid field", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn fan(
    State(state): State<AppState>,
    headers: HeaderMap,
    QueryParams(query): QueryParams<ControlQuery>,
    JsonBody(body): JsonBody<FanRequest>,
) -> Result<Response, ApiError> {
    let device = device_id(&body.device_id)?;
    let speed = FanSpeed::new(body.fan_speed).map_err(|e| e.in_field("fanSpeed"))?;
    send(
        &state,
        &headers,
        query,
        device,
        Instruction::set_fan_speed(speed),
    )
    .await
}

/// `deviceId` parsed, or a 400 naming it.
pub(crate) fn device_id(raw: &str) -> Result<DeviceId, ApiError> {
    DeviceId::new(raw).map_err(|e| e.in_field("deviceId").into())
}

async fn send(
    state: &AppState,
    headers: &HeaderMap,
    query: ControlQuery,
    device_id: DeviceId,
    instruction: Instruction,
) -> Result<Response, ApiError> {
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::invalid_field("Idempotency-Key", "must be visible ASCII"))?;
            Some(IdempotencyKey::new(text).map_err(|e| e.in_field("Idempotency-Key"))?)
        }
    };
    let command = state
        .engine()
        .send_command(CommandRequest {
            device_id,
            instruction,
            source: CommandSource::Manual,
            idempotency_key,
            expires_in: None,
        })
        .await?;
    let command = if query.wait == Some(true) {
        wait_bounded(state, command).await?
    } else {
        command
    };
    let status = if command.status.is_terminal() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(envelope::ok(status, CommandDto::from(&command)))
}

/// The command once terminal, or as it is when the wait timeout passes first.
async fn wait_bounded(state: &AppState, command: Command) -> Result<Command, ApiError> {
    if command.status.is_terminal() {
        return Ok(command);
    }
    let until = state
        .clock()
        .now()
        .saturating_add(state.config().wait_timeout);
    tokio::select! {
        done = state.engine().wait_terminal(command.command_id) => Ok(done?),
        () = state.clock().sleep_until(until) => {
            Ok(state.store().get_command(command.command_id).await?.unwrap_or(command))
        }
    }
}
