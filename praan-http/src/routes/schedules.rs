//! Schedules (PRODUCT.md §4): create, list per device, detail, full update, delete, test
//! trigger and run history under `/api/schedule`.
//!
//! Writes go through the engine, which re-evaluates the device at once: a schedule created in
//! the middle of its window starts it now, and an update or delete that ends the active window
//! applies the end now. Create and update answers carry warnings about overlapping schedules
//! (allowed; the highest speed wins).
//!
//! `GET /api/schedule/{id}` lists a *device's* schedules while `PUT`/`DELETE` on the same path
//! take a *schedule* id (the old clients' paths); the router needs one parameter name per path
//! position, so both are `{id}` and each operation says which id it is.

use axum::{extract::State, http::StatusCode, response::Response};
use praan_core::{
    domain::{DeviceId, RuleSpec, ScheduleId, ScheduleRule},
    store::Limit,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::{
    dto::{ScheduleDto, ScheduleRunDto, ScheduleSavedDto, ScheduleTestDto},
    envelope::{self, Envelope, ListEnvelope},
    error::{ApiError, ErrorBody},
    extract::{JsonBody, PathParam, QueryParams},
    routes::control::device_id,
    state::AppState,
};

/// Declares a schedule request body: the given `deviceId` field followed by the rule fields
/// (one list for create and update, without `#[serde(flatten)]`, which would lose the field
/// names of type errors).
macro_rules! schedule_body {
    ($(#[$meta:meta])* $name:ident { $(#[$device_meta:meta])* device_id: $device:ty }) => {
        $(#[$meta])*
        #[derive(Debug, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub(crate) struct $name {
            $(#[$device_meta])*
            device_id: $device,
            /// `weekly` (default: needs `days` or `day`), `daily` (every day) or `custom` (needs
            /// `cron`).
            #[schema(example = "weekly")]
            recurrence_type: Option<String>,
            /// English weekday names, e.g. `["Monday","Tuesday"]` (any letter case).
            days: Option<Vec<String>>,
            /// One weekday name (the old clients' field); with `days` it must be one of them.
            day: Option<String>,
            /// Local start time `HH:MM` (24 h); not with `custom`.
            #[schema(example = "09:00")]
            start_time: Option<String>,
            /// Local end time `HH:MM`; before `startTime` means the window crosses midnight;
            /// never equal to it. Give `endTime` or `durationMinutes`.
            #[schema(example = "17:00")]
            end_time: Option<String>,
            /// Window length in minutes (1–1440), instead of `endTime`.
            #[schema(minimum = 1, maximum = 1440)]
            duration_minutes: Option<u32>,
            /// With `custom`: the window start as a cron expression, 5 fields (minute first) or
            /// 6 (seconds first), evaluated in the schedule's zone.
            #[schema(example = "30 9 * * Mon-Fri")]
            cron: Option<String>,
            /// The speed during its windows, 1–5.
            #[schema(minimum = 1, maximum = 5)]
            fan_speed: u8,
            /// IANA zone name (never a fixed offset); default: the server's configured zone.
            #[schema(example = "Asia/Kolkata")]
            timezone: Option<String>,
            /// Whether it is enabled (default `true`).
            #[serde(default = "enabled")]
            #[schema(default = true)]
            is_active: bool,
        }

        impl $name {
            /// The validated rule (in the engine's default zone when none is given) and
            /// `isActive`.
            fn rule(self, state: &AppState) -> Result<(ScheduleRule, bool), ApiError> {
                let spec = RuleSpec {
                    recurrence_type: self.recurrence_type,
                    days: self.days,
                    day: self.day,
                    start_time: self.start_time,
                    end_time: self.end_time,
                    duration_minutes: self.duration_minutes,
                    cron: self.cron,
                    fan_speed: self.fan_speed,
                    timezone: self.timezone,
                };
                let rule = spec.build(state.engine().default_timezone())?;
                Ok((rule, self.is_active))
            }
        }
    };
}

schedule_body! {
    /// `POST /api/schedule`: a schedule (PRODUCT.md §4). Unknown fields are ignored; no value is
    /// coerced (`"3"` is not a number, `"true"` not a bool).
    CreateScheduleRequest {
        /// The device it drives.
        device_id: String
    }
}

schedule_body! {
    /// `PUT /api/schedule/{id}`: the whole schedule again — its rule and `isActive` are
    /// replaced (absent optional fields take their defaults, as on create: `isActive` true).
    /// `deviceId` may be repeated but not changed.
    UpdateScheduleRequest {
        /// The schedule's device, if given; it must be the one the schedule already drives.
        device_id: Option<String>
    }
}

fn enabled() -> bool {
    true
}

/// Query parameters of the run history.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RunsQuery {
    /// How many runs, newest first (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// Creates a schedule; it takes effect at once (a window active now starts now).
#[utoipa::path(post, path = "/api/schedule", tag = "schedules",
    request_body = CreateScheduleRequest,
    responses(
        (status = 201, description = "Created; `warnings` names overlapping schedules", body = Envelope<ScheduleSavedDto>),
        (status = 400, description = "Malformed JSON or an invalid field (named in `details.field`)", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateScheduleRequest>,
) -> Result<Response, ApiError> {
    let device = device_id(&body.device_id)?;
    let (rule, is_active) = body.rule(&state)?;
    let saved = state
        .engine()
        .create_schedule(device, rule, is_active)
        .await?;
    Ok(envelope::ok(
        StatusCode::CREATED,
        ScheduleSavedDto::from(&saved),
    ))
}

/// Lists a device's schedules, oldest first. (`id` is a **device** id on this route.)
#[utoipa::path(get, path = "/api/schedule/{id}", tag = "schedules",
    params(("id" = String, Path, description = "The device's id (on GET; PUT and DELETE on this path take a schedule id)")),
    responses(
        (status = 200, description = "The device's schedules", body = ListEnvelope<ScheduleDto>),
        (status = 400, description = "An invalid device id", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let device = registered_device(&state, &id).await?;
    let schedules = state.store().schedules_for_device(&device).await?;
    Ok(envelope::list(
        schedules.iter().map(ScheduleDto::from).collect(),
    ))
}

/// One schedule.
#[utoipa::path(get, path = "/api/schedule/detail/{scheduleId}", tag = "schedules",
    params(("scheduleId" = String, Path, description = "The schedule's id (a UUID)")),
    responses(
        (status = 200, description = "The schedule", body = Envelope<ScheduleDto>),
        (status = 400, description = "An invalid schedule id", body = ErrorBody),
        (status = 404, description = "Unknown schedule", body = ErrorBody)))]
pub(crate) async fn detail(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = schedule_id(&id)?;
    let schedule = state
        .store()
        .get_schedule(id)
        .await?
        .ok_or_else(|| ApiError::not_found("schedule", id.to_string()))?;
    Ok(envelope::ok(StatusCode::OK, ScheduleDto::from(&schedule)))
}

/// Replaces a schedule's rule and `isActive`, and re-evaluates the device now (a window that
/// no longer covers now ends now; one that does starts now). (`id` is a **schedule** id here.)
#[utoipa::path(put, path = "/api/schedule/{id}", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id (a UUID)")),
    request_body = UpdateScheduleRequest,
    responses(
        (status = 200, description = "Updated; `warnings` names overlapping schedules", body = Envelope<ScheduleSavedDto>),
        (status = 400, description = "Malformed JSON, an invalid field or schedule id, or a `deviceId` other than the schedule's", body = ErrorBody),
        (status = 404, description = "Unknown schedule", body = ErrorBody)))]
pub(crate) async fn update(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    JsonBody(body): JsonBody<UpdateScheduleRequest>,
) -> Result<Response, ApiError> {
    let id = schedule_id(&id)?;
    let device = body.device_id.as_deref().map(device_id).transpose()?;
    let (rule, is_active) = body.rule(&state)?;
    if let Some(device) = device {
        let current = state
            .store()
            .get_schedule(id)
            .await?
            .ok_or_else(|| ApiError::not_found("schedule", id.to_string()))?;
        if current.device_id != device {
            return Err(ApiError::invalid_field(
                "deviceId",
                format!(
                    "the schedule drives {}; a schedule cannot move to another device",
                    current.device_id
                ),
            ));
        }
    }
    let saved = state.engine().update_schedule(id, rule, is_active).await?;
    Ok(envelope::ok(StatusCode::OK, ScheduleSavedDto::from(&saved)))
}

/// Deletes a schedule; if one of its windows is active, it ends now. Its run history stays.
/// (`id` is a **schedule** id here.)
#[utoipa::path(delete, path = "/api/schedule/{id}", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id (a UUID)")),
    responses(
        (status = 200, description = "Deleted; the schedule as it was", body = Envelope<ScheduleDto>),
        (status = 400, description = "An invalid schedule id", body = ErrorBody),
        (status = 404, description = "Unknown schedule", body = ErrorBody)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = schedule_id(&id)?;
    let schedule = state.engine().delete_schedule(id).await?;
    Ok(envelope::ok(StatusCode::OK, ScheduleDto::from(&schedule)))
}

/// Sends the schedule's start command now and answers at once with it (without waiting for the
/// device). It counts as a manual change until the device's next schedule boundary.
#[utoipa::path(post, path = "/api/schedule/{id}/test", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id (a UUID)")),
    responses(
        (status = 202, description = "The start command, stored and published", body = Envelope<ScheduleTestDto>),
        (status = 400, description = "An invalid schedule id", body = ErrorBody),
        (status = 404, description = "Unknown schedule", body = ErrorBody)))]
pub(crate) async fn test(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
) -> Result<Response, ApiError> {
    let id = schedule_id(&id)?;
    let command = state.engine().test_schedule(id).await?;
    Ok(envelope::ok(
        StatusCode::ACCEPTED,
        ScheduleTestDto::new(id, &command),
    ))
}

/// A schedule's run history (each window start and end and what praan did), newest first. The
/// runs of a deleted schedule stay readable.
#[utoipa::path(get, path = "/api/schedule/{id}/runs", tag = "schedules",
    params(("id" = String, Path, description = "The schedule's id (a UUID)"), RunsQuery),
    responses(
        (status = 200, description = "Its runs, newest first", body = ListEnvelope<ScheduleRunDto>),
        (status = 400, description = "An invalid schedule id or limit", body = ErrorBody),
        (status = 404, description = "Unknown schedule (and no runs of a deleted one)", body = ErrorBody)))]
pub(crate) async fn runs(
    State(state): State<AppState>,
    PathParam(id): PathParam<String>,
    QueryParams(query): QueryParams<RunsQuery>,
) -> Result<Response, ApiError> {
    let id = schedule_id(&id)?;
    let limit = query.limit.map(Limit::new).transpose()?.unwrap_or_default();
    let runs = state.store().runs_for_schedule(id, limit).await?;
    if runs.is_empty() && state.store().get_schedule(id).await?.is_none() {
        return Err(ApiError::not_found("schedule", id.to_string()));
    }
    Ok(envelope::list(
        runs.iter().map(ScheduleRunDto::from).collect(),
    ))
}

/// `scheduleId` parsed, or a 400 naming it.
fn schedule_id(raw: &str) -> Result<ScheduleId, ApiError> {
    Ok(ScheduleId::parse(raw)?)
}

/// `raw` as a registered device's id: 400 if it is not a device id, 404 if no such device.
pub(crate) async fn registered_device(state: &AppState, raw: &str) -> Result<DeviceId, ApiError> {
    let id = device_id(raw)?;
    if state.store().get_device(&id).await?.is_none() {
        return Err(ApiError::not_found("device", id.as_str()));
    }
    Ok(id)
}
