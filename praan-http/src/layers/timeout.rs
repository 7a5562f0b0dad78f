//! The request timeout, on the state's clock: a request (its body included) that takes longer
//! than [`HttpConfig::request_timeout`](crate::HttpConfig::request_timeout) gets 503 `timeout`.
//! A streaming response (the event stream) is only timed until its headers.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{error::ApiError, state::AppState};

pub(crate) async fn deadline(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let after = state.config.request_timeout;
    let until = state.clock.now().saturating_add(after);
    tokio::select! {
        response = next.run(request) => response,
        () = state.clock.sleep_until(until) => ApiError::timeout(after).into_response(),
    }
}
