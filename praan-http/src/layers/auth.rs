//! API keys (PRODUCT.md §7): when keys are configured, every `/api` route needs
//! `Authorization: Bearer <key>`; GET needs scope `read`, everything else `write`. No key or an
//! unknown key → 401; a read key on a write route → 403. Keys are compared in constant time,
//! every configured key every time. The OpenAPI document stays open.

use axum::{
    extract::Request,
    http::{HeaderMap, Method, header},
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;

use crate::{
    config::{ApiKey, Scope},
    error::ApiError,
    state::AppState,
};

/// The path of the OpenAPI document, open to everyone.
pub(crate) const OPENAPI_PATH: &str = "/api/openapi.json";

/// The 401 or 403 `request` gets: none when no keys are configured, when its path is open, or
/// when it carries a key of sufficient scope.
pub(crate) fn refusal(state: &AppState, request: &Request) -> Option<Response> {
    let keys = &state.config().api_keys;
    if keys.is_empty() || !protected(request.uri().path()) {
        return None;
    }
    let needed = if matches!(*request.method(), Method::GET | Method::HEAD) {
        Scope::Read
    } else {
        Scope::Write
    };
    let Some(presented) = bearer(request.headers()) else {
        return Some(
            ApiError::unauthorized("an API key is required: Authorization: Bearer <key>")
                .into_response(),
        );
    };
    match find_key(keys, presented) {
        None => Some(ApiError::unauthorized("unknown API key").into_response()),
        Some(key) if !key.scope().allows(needed) => {
            Some(ApiError::forbidden("this API key may only read").into_response())
        }
        Some(_) => None,
    }
}

/// Whether `path` needs a key.
fn protected(path: &str) -> bool {
    path.starts_with("/api/") && path != OPENAPI_PATH
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(header::AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| token.trim_ascii())
        .filter(|t| !t.is_empty())
}

/// The configured key equal to `presented`, comparing with every key in constant time.
pub(crate) fn find_key<'a>(keys: &'a [ApiKey], presented: &[u8]) -> Option<&'a ApiKey> {
    let mut found = None;
    for key in keys {
        if bool::from(key.secret().ct_eq(presented)) {
            found = Some(key);
        }
    }
    found
}
