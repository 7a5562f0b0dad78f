//! The request timeout, on the state's clock: a request (its body included) that takes longer
//! than [`HttpConfig::request_timeout`](crate::HttpConfig::request_timeout) gets 503 `timeout`.
//! A streaming response (the event stream) is only timed until its headers.

use axum::response::{IntoResponse, Response};

use crate::{error::ApiError, state::AppState};

/// `response`, or 503 `timeout` if it is not ready within the request timeout.
pub(crate) async fn deadline(
    state: &AppState,
    response: impl Future<Output = Response>,
) -> Response {
    let after = state.config().request_timeout;
    let until = state.clock().now().saturating_add(after);
    tokio::select! {
        response = response => response,
        () = state.clock().sleep_until(until) => ApiError::timeout(after).into_response(),
    }
}
