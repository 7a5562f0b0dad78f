//! [`ApiError`]: every failure the API reports, as the JSON error of PRODUCT.md §7
//! (`{"success":false,"error","code","details"}`) with its status code. A 500 never carries
//! internals: the cause is logged with the request's span, the client reads "internal error".

use std::time::Duration;

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use praan_core::{domain::ValidationError, engine::EngineError, store::StoreError};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The error body of every failed request.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    /// A message for people.
    pub error: String,
    /// A stable machine-readable code, e.g. `invalid_field`, `not_found`.
    pub code: String,
    /// More about it, e.g. `{"field":"fanSpeed","reason":"…"}` for an invalid field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// A failed request: status, code, message and details.
#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Option<Value>,
    retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// 400 `invalid_json`: the body is not JSON (or not the JSON object expected).
    pub fn invalid_json(why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("malformed JSON: {}", why.into()),
        )
    }

    /// 400 `invalid_field`: `field` (as the client spelled it, camelCase) is missing or refused.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        let (field, reason) = (field.into(), reason.into());
        let mut error = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_field",
            format!("{field}: {reason}"),
        );
        error.details = Some(json!({ "field": field, "reason": reason }));
        error
    }

    /// 404 `not_found`: no `entity` with this `id`.
    pub fn not_found(entity: &str, id: impl Into<String>) -> Self {
        let id = id.into();
        let mut error = Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{entity} {id} not found"),
        );
        error.details = Some(json!({ "entity": entity, "id": id }));
        error
    }

    /// 404 `route_not_found`: no route has this path.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("no route for {path} (GET / lists the routes)"),
        )
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this route does not take this method",
        )
    }

    /// 409 `conflict`.
    pub fn conflict(why: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", why)
    }

    /// 401 `unauthorized`: no key, or a key that is not configured.
    pub fn unauthorized(why: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", why)
    }

    /// 403 `forbidden`: a valid key whose scope does not allow the request.
    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", why)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 415 `unsupported_media_type`: a body that says it is not JSON.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON (Content-Type: application/json)",
        )
    }

    /// 429 `rate_limited`, with `Retry-After` (whole seconds, rounded up).
    pub fn rate_limited(retry_after: Duration) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; retry later",
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// 503 `not_ready`: the service cannot serve this now (store or MQTT down, shutting down,
    /// engine stopped).
    pub fn unavailable(why: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why)
    }

    /// 503 `timeout`: the request took longer than the configured request timeout.
    pub fn timeout(after: Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!("the request did not complete within {after:?}"),
        )
    }

    /// 500 `internal`: logs `cause` and tells the client nothing more than "internal error".
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The error body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            success: false,
            error: self.message.clone(),
            code: self.code.to_owned(),
            details: self.details.clone(),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::invalid_field(e.field, e.reason)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, id } => Self::not_found(entity, id),
            StoreError::Conflict { .. } => Self::conflict(e.to_string()),
            StoreError::Unavailable { .. } | StoreError::ReadOnly { .. } => {
                tracing::warn!(error = %e, "store unavailable");
                Self::unavailable("the store is unavailable; retry later")
            }
            other => Self::internal(&other),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::UnknownDevice(id) => Self::not_found("device", id.as_str()),
            EngineError::NotFound { entity, id } => Self::not_found(entity, id),
            EngineError::Invalid(v) => v.into(),
            EngineError::Store(s) => s.into(),
            EngineError::Stopped => Self::unavailable("the control engine has stopped"),
            other => Self::internal(&other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(after) = self.retry_after {
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"praan\""),
            );
        }
        response
    }
}
