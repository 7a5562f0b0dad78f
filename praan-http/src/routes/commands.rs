//! Commands: a device's command history (`GET /api/device/{deviceId}/commands`, newest first,
//! optionally of one status), one command by id (`GET /api/commands/{commandId}`), and
//! cancelling a command that is still being delivered (`POST /api/commands/{commandId}/cancel`).

use axum::{extract::State, http::StatusCode, response::Response};
use praan_core::{
    domain::{CommandId, CommandStatus},
    store::CommandFilter,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{
    dto::CommandDto,
    envelope::{self, Envelope, ListEnvelope},
    error::{ApiError, ErrorBody},
    extract::{PathParam, QueryParams},
    routes::devices::{limit, registered},
    state::AppState,
};

/// Query parameters of `GET /api/device/{deviceId}/commands`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct CommandsQuery {
    /// At most this many, an integer from 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only commands in this status: `pending`, `sent`, `acknowledged`, `failed`, `timeout`,
    /// `expired`, `superseded` or `cancelled`.
    status: Option<String>,
}

/// A device's commands, newest first.
#[utoipa::path(get, path = "/api/device/{deviceId}/commands", tag = "commands",
    params(("deviceId" = String, Path, description = "The device"), CommandsQuery),
    responses(
        (status = 200, description = "The commands, newest first", body = ListEnvelope<CommandDto>),
        (status = 400, description = "An invalid deviceId, limit or status", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn device_commands(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
    QueryParams(query): QueryParams<CommandsQuery>,
) -> Result<Response, ApiError> {
    let device = registered(&state, &raw).await?;
    let filter = CommandFilter {
        status: query
            .status
            .as_deref()
            .map(CommandStatus::parse)
            .transpose()?,
        limit: limit(query.limit)?,
    };
    let commands = state
        .store()
        .commands_for_device(&device.device_id, &filter)
        .await?;
    Ok(envelope::list(
        commands.iter().map(CommandDto::from).collect(),
    ))
}

/// One command with its delivery history.
#[utoipa::path(get, path = "/api/commands/{commandId}", tag = "commands",
    params(("commandId" = String, Path, description = "The command's id (a UUID)")),
    responses(
        (status = 200, description = "The command", body = Envelope<CommandDto>),
        (status = 400, description = "An invalid commandId", body = ErrorBody),
        (status = 404, description = "Unknown command", body = ErrorBody)))]
pub(crate) async fn command(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = command_id(&raw)?;
    let command = state
        .store()
        .get_command(id)
        .await?
        .ok_or_else(|| ApiError::not_found("command", id.to_string()))?;
    Ok(envelope::ok(StatusCode::OK, CommandDto::from(&command)))
}

/// Cancels a command that is still being delivered.
///
/// It stops being retried and becomes `cancelled`. Cancelling a cancelled command again answers it as it is.
#[utoipa::path(post, path = "/api/commands/{commandId}/cancel", tag = "commands",
    params(("commandId" = String, Path, description = "The command's id (a UUID)")),
    responses(
        (status = 200, description = "The cancelled command", body = Envelope<CommandDto>),
        (status = 400, description = "An invalid commandId", body = ErrorBody),
        (status = 404, description = "Unknown command", body = ErrorBody),
        (status = 409, description = "The command already reached another terminal status", body = ErrorBody)))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = command_id(&raw)?;
    let command = state.engine().cancel_command(id).await?;
    if command.status != CommandStatus::Cancelled {
        return Err(ApiError::conflict(format!(
            "command {id} is already {}",
            command.status
        )));
    }
    Ok(envelope::ok(StatusCode::OK, CommandDto::from(&command)))
}

/// `commandId` parsed, or a 400 naming it.
fn command_id(raw: &str) -> Result<CommandId, ApiError> {
    CommandId::parse(raw).map_err(|e| e.in_field("commandId").into())
}
