//! The device registry: register (`POST /api/devices/register`, 201; a known id is 409), list
//! (`GET /api/devices?status&type`, `GET /api/devices/status/active`), read, change and remove one
//! device (`GET|PUT|DELETE /api/devices/{deviceId}`), and its configuration
//! (`GET /api/devices/{deviceId}/config`). Devices are also registered automatically on their
//! first valid MQTT message.

use axum::{extract::State, http::StatusCode, response::Response};
use praan_core::{
    domain::{Device, DeviceStatus, FanSpeed, Label, Specifications},
    store::DeviceFilter,
};
use serde::{Deserialize, Deserializer};
use utoipa::{IntoParams, ToSchema};

use crate::{
    dto::{DeviceConfigDto, DeviceDto},
    envelope::{self, Envelope, ListEnvelope},
    error::{ApiError, ErrorBody},
    extract::{JsonBody, PathParam, QueryParams},
    routes::{
        control::device_id,
        devices::{registered, registered_in_store},
    },
    state::AppState,
};

/// Administrative status of a device.
#[derive(Clone, Copy, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StatusBody {
    /// In service (the default).
    Active,
    /// Taken out of service.
    Inactive,
    /// Being serviced.
    Maintenance,
}

impl From<StatusBody> for DeviceStatus {
    fn from(s: StatusBody) -> Self {
        match s {
            StatusBody::Active => Self::Active,
            StatusBody::Inactive => Self::Inactive,
            StatusBody::Maintenance => Self::Maintenance,
        }
    }
}

/// What the hardware can do. Fields left out keep their value (on registration: `maxFanSpeed`
/// 5, no model, no firmware version); `null` clears `model` or `firmwareVersion`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct SpecificationsBody {
    /// The highest fan speed the model supports, 1–5.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = u8, required = false, minimum = 1, maximum = 5)]
    max_fan_speed: Option<Option<u8>>,
    /// The hardware model (1–128 characters).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    model: Option<Option<String>>,
    /// The firmware version (1–128 characters).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    firmware_version: Option<Option<String>>,
}

/// `POST /api/devices/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegisterRequest {
    /// The device's id: `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`.
    device_id: String,
    /// A human name, 1–128 characters (default: the id).
    name: Option<String>,
    /// The kind of device, 1–128 characters (default `air_purifier`).
    #[serde(rename = "type")]
    device_type: Option<String>,
    /// Where it is, 1–128 characters.
    location: Option<String>,
    /// What the hardware can do.
    specifications: Option<SpecificationsBody>,
    /// `active` (default), `inactive` or `maintenance`.
    status: Option<StatusBody>,
}

/// `PUT /api/devices/{deviceId}`: fields left out keep their value; `null` clears `location`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UpdateRequest {
    /// If given, it must be the path's id (the id cannot change).
    device_id: Option<String>,
    /// A human name, 1–128 characters.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = String, required = false)]
    name: Option<Option<String>>,
    /// The kind of device, 1–128 characters.
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    #[schema(value_type = String, required = false)]
    device_type: Option<Option<String>>,
    /// Where it is, 1–128 characters; `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    location: Option<Option<String>>,
    /// What the hardware can do (merged field by field).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = SpecificationsBody, required = false)]
    specifications: Option<Option<SpecificationsBody>>,
    /// `active`, `inactive` or `maintenance`.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = StatusBody, required = false)]
    status: Option<Option<StatusBody>>,
}

/// Query parameters of `GET /api/devices`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DevicesQuery {
    /// Only devices in this status: `active`, `inactive` or `maintenance`.
    status: Option<String>,
    /// Only devices of this type (exact match, e.g. `air_purifier`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    device_type: Option<String>,
}

/// Registers a device.
#[utoipa::path(post, path = "/api/devices/register", tag = "registry",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Registered", body = Envelope<DeviceDto>),
        (status = 400, description = "Malformed JSON or an invalid field", body = ErrorBody),
        (status = 409, description = "A device with this id is already registered (also when it \
            registered itself on its first message; change it with PUT)", body = ErrorBody)))]
pub(crate) async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<Response, ApiError> {
    let id = device_id(&body.device_id)?;
    let mut device = Device::auto_registered(id.clone(), state.clock().now());
    device.auto_registered = false;
    if let Some(name) = body.name {
        device.name = Label::new("name", name)?;
    }
    if let Some(device_type) = body.device_type {
        device.device_type = Label::new("type", device_type)?;
    }
    device.location = body
        .location
        .map(|l| Label::new("location", l))
        .transpose()?;
    if let Some(specifications) = body.specifications {
        apply_specifications(&mut device.specifications, specifications)?;
    }
    if let Some(status) = body.status {
        device.status = status.into();
    }
    if state.store().get_device(&id).await?.is_some() {
        return Err(already_registered(id.as_str()));
    }
    let inserted = state.store().insert_device(&device).await;
    state.registry().invalidate(&id);
    inserted.map_err(|e| match e {
        praan_core::store::StoreError::Conflict { .. } => already_registered(id.as_str()),
        other => other.into(),
    })?;
    Ok(envelope::ok(StatusCode::CREATED, DeviceDto::from(&device)))
}

/// Registered devices, by id, optionally of one status and type.
#[utoipa::path(get, path = "/api/devices", tag = "registry",
    params(DevicesQuery),
    responses(
        (status = 200, description = "The devices, by id", body = ListEnvelope<DeviceDto>),
        (status = 400, description = "An invalid status", body = ErrorBody)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<DevicesQuery>,
) -> Result<Response, ApiError> {
    let filter = DeviceFilter {
        status: query.status.as_deref().map(device_status).transpose()?,
        device_type: query.device_type,
    };
    let devices = state.store().list_devices(&filter).await?;
    Ok(envelope::list(
        devices.iter().map(DeviceDto::from).collect(),
    ))
}

/// Devices whose registry status is `active` (in service), by id.
#[utoipa::path(get, path = "/api/devices/status/active", tag = "registry",
    responses(
        (status = 200, description = "The active devices, by id", body = ListEnvelope<DeviceDto>)))]
pub(crate) async fn active(State(state): State<AppState>) -> Result<Response, ApiError> {
    let filter = DeviceFilter {
        status: Some(DeviceStatus::Active),
        device_type: None,
    };
    let devices = state.store().list_devices(&filter).await?;
    Ok(envelope::list(
        devices.iter().map(DeviceDto::from).collect(),
    ))
}

/// One registered device.
#[utoipa::path(get, path = "/api/devices/{deviceId}", tag = "registry",
    params(("deviceId" = String, Path, description = "The device")),
    responses(
        (status = 200, description = "The device", body = Envelope<DeviceDto>),
        (status = 400, description = "An invalid deviceId", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn get_device(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
) -> Result<Response, ApiError> {
    let device = registered(&state, &raw).await?;
    Ok(envelope::ok(StatusCode::OK, DeviceDto::from(&*device)))
}

/// Changes a registered device: the fields given replace the stored ones.
#[utoipa::path(put, path = "/api/devices/{deviceId}", tag = "registry",
    params(("deviceId" = String, Path, description = "The device")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "The device as stored now", body = Envelope<DeviceDto>),
        (status = 400, description = "Malformed JSON, an invalid field, or a body deviceId that is \
            not the path's", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn update_device(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
    JsonBody(body): JsonBody<UpdateRequest>,
) -> Result<Response, ApiError> {
    let id = device_id(&raw)?;
    if let Some(other) = body.device_id.as_deref()
        && other != id.as_str()
    {
        return Err(ApiError::invalid_field(
            "deviceId",
            "must be the device id of the path (ids cannot change)",
        ));
    }
    let mut device = registered_in_store(&state, &raw).await?;
    if let Some(name) = not_null("name", body.name)? {
        device.name = Label::new("name", name)?;
    }
    if let Some(device_type) = not_null("type", body.device_type)? {
        device.device_type = Label::new("type", device_type)?;
    }
    if let Some(location) = body.location {
        device.location = location.map(|l| Label::new("location", l)).transpose()?;
    }
    if let Some(specifications) = not_null("specifications", body.specifications)? {
        apply_specifications(&mut device.specifications, specifications)?;
    }
    if let Some(status) = not_null("status", body.status)? {
        device.status = status.into();
    }
    device.updated_at = state.clock().now();
    let updated = state.store().update_device(&device).await;
    state.registry().invalidate(&id);
    updated?;
    Ok(envelope::ok(StatusCode::OK, DeviceDto::from(&device)))
}

/// Removes a device from the registry.
///
/// Its active pre-clean is cancelled and its schedules are
/// deleted first (so nothing keeps driving it); its readings, commands and histories stay until
/// retention. A device that is still connected registers itself again on its next message
/// (unless unknown devices are refused).
#[utoipa::path(delete, path = "/api/devices/{deviceId}", tag = "registry",
    params(("deviceId" = String, Path, description = "The device")),
    responses(
        (status = 200, description = "The removed device", body = Envelope<DeviceDto>),
        (status = 400, description = "An invalid deviceId", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn delete_device(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
) -> Result<Response, ApiError> {
    let device = registered_in_store(&state, &raw).await?;
    let id = &device.device_id;
    state.engine().cancel_pre_clean(id.clone()).await?;
    for schedule in state.store().schedules_for_device(id).await? {
        match state.engine().delete_schedule(schedule.schedule_id).await {
            Ok(_) | Err(praan_core::engine::EngineError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let deleted = state.store().delete_device(id).await;
    state.registry().invalidate(id);
    deleted?;
    // Nothing more is written for it; ingestion registers it afresh if it speaks again.
    state.engine().forget_device(id.clone()).await?;
    Ok(envelope::ok(StatusCode::OK, DeviceDto::from(&device)))
}

/// What a device (or a client configuring it) needs to know: its type, status, specifications,
/// the fan speeds and the command actions it receives.
#[utoipa::path(get, path = "/api/devices/{deviceId}/config", tag = "registry",
    params(("deviceId" = String, Path, description = "The device")),
    responses(
        (status = 200, description = "The device's configuration", body = Envelope<DeviceConfigDto>),
        (status = 400, description = "An invalid deviceId", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn config(
    State(state): State<AppState>,
    PathParam(raw): PathParam<String>,
) -> Result<Response, ApiError> {
    let device = registered(&state, &raw).await?;
    let config = DeviceConfigDto::new(&device, state.engine().topic_prefix());
    Ok(envelope::ok(StatusCode::OK, config))
}

/// Merges `body` into `specs`, naming `specifications.<field>` in errors.
fn apply_specifications(
    specs: &mut Specifications,
    body: SpecificationsBody,
) -> Result<(), ApiError> {
    if let Some(max) = not_null("specifications.maxFanSpeed", body.max_fan_speed)? {
        specs.max_fan_speed =
            FanSpeed::running(max).map_err(|e| e.in_field("specifications.maxFanSpeed"))?;
    }
    if let Some(model) = body.model {
        specs.model = model
            .map(|m| Label::new("specifications.model", m))
            .transpose()?;
    }
    if let Some(firmware) = body.firmware_version {
        specs.firmware_version = firmware
            .map(|f| Label::new("specifications.firmwareVersion", f))
            .transpose()?;
    }
    Ok(())
}

/// A registry status from a query parameter, or a 400 naming `status`.
fn device_status(raw: &str) -> Result<DeviceStatus, ApiError> {
    match raw {
        "active" => Ok(DeviceStatus::Active),
        "inactive" => Ok(DeviceStatus::Inactive),
        "maintenance" => Ok(DeviceStatus::Maintenance),
        other => Err(ApiError::invalid_field(
            "status",
            format!("{other:?} is not one of active, inactive, maintenance"),
        )),
    }
}

fn already_registered(id: &str) -> ApiError {
    ApiError::conflict(format!(
        "device {id} is already registered (change it with PUT /api/devices/{id})"
    ))
}

/// A field that may be left out but not set to `null` (it cannot be cleared).
fn not_null<T>(field: &'static str, value: Option<Option<T>>) -> Result<Option<T>, ApiError> {
    match value {
        Some(None) => Err(ApiError::invalid_field(field, "must not be null")),
        Some(Some(v)) => Ok(Some(v)),
        None => Ok(None),
    }
}

/// Reads a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}
