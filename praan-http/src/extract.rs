//! Strict extractors whose every rejection is an [`ApiError`] in the JSON error shape:
//! [`JsonBody`] (malformed JSON → 400 `invalid_json`; a wrong type or value → 400
//! `invalid_field` naming the field by its path; too large → 413), [`QueryParams`] and
//! [`PathParam`]. Nothing is coerced: `"3"` is not a number and `"false"` is not a bool.

use axum::{
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Path, Request, rejection::BytesRejection},
    http::{StatusCode, header, request::Parts},
};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::{error::ApiError, state::AppState};

/// A JSON request body of type `T`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let json = content_type
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .map(|v| v.trim().to_ascii_lowercase())
                .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
            if !json {
                return Err(ApiError::unsupported_media_type());
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| match e {
            BytesRejection::FailedToBufferBody(_)
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ApiError::payload_too_large(state.config().body_limit)
            }
            other => ApiError::invalid_json(other.body_text()),
        })?;
        parse_json(&bytes).map(Self)
    }
}

/// Parses a JSON object of type `T`, with errors naming the field. Every request body of the API
/// is an object; serde would also read a struct from an array, which is refused here.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Err(e) => ApiError::invalid_json(e.to_string()),
                Ok(_) => ApiError::invalid_json("expected a JSON object"),
            },
        );
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            Category::Data => field_error(&path, &without_location(&inner.to_string())),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::invalid_json(inner.to_string())
            }
        }
    })?;
    de.end()
        .map_err(|e| ApiError::invalid_json(e.to_string()))?;
    Ok(value)
}

/// Query string parameters of type `T` (unknown parameters are ignored).
#[derive(Debug)]
pub(crate) struct QueryParams<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de).map(Self).map_err(|e| {
            let path = e.path().to_string();
            field_error(&path, &e.into_inner().to_string())
        })
    }
}

/// A path parameter (or a tuple of them); a rejection (e.g. invalid percent-encoding) is a 400.
#[derive(Debug)]
pub(crate) struct PathParam<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Self(v))
            .map_err(|e| ApiError::invalid_field("path", e.body_text()))
    }
}

/// An `invalid_field` error for a serde error at `path` (`.` is the whole document: the field
/// is then named by serde's message, e.g. "missing field `deviceId`").
fn field_error(path: &str, message: &str) -> ApiError {
    if path != "." && !path.is_empty() {
        return ApiError::invalid_field(path, message);
    }
    if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        return ApiError::invalid_field(field, "is required");
    }
    if let Some(field) = message
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split('`').next())
    {
        return ApiError::invalid_field(field, "is given more than once");
    }
    if message.starts_with("invalid type") {
        return ApiError::invalid_json(format!("expected a JSON object ({message})"));
    }
    ApiError::invalid_field("body", message)
}

/// serde_json's message without its " at line L column C" suffix.
fn without_location(message: &str) -> String {
    match message.rsplit_once(" at line ") {
        Some((head, _)) => head.to_owned(),
        None => message.to_owned(),
    }
}
