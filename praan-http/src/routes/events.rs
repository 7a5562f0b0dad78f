//! `GET /api/events`: the live event stream as Server-Sent Events. Each event is named after what
//! happened (`reading`, `state`, `presence`, `command`, `preclean`, `schedule`), carries a
//! per-stream sequence number as its id and the record as JSON, in the shape the REST API gives it
//! (`dto::event`: a reading as `/latest`, a command as `/api/commands/{id}`, a pre-clean as its
//! history, `state` as the control part of `/state`). `?deviceId=` keeps one device's
//! events. Idle streams get a keep-alive comment. A client that falls behind the engine's
//! broadcast buffer gets a `lagged` event saying how many events it missed and carries on: it
//! never slows ingestion or the engine down. Events are live only (no replay on reconnect).

use std::convert::Infallible;

use axum::{
    extract::State,
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use futures_util::stream::{self, Stream};
use praan_core::domain::DeviceId;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use crate::{
    dto::event_data,
    error::{ApiError, ErrorBody},
    extract::QueryParams,
    routes::control::device_id,
    state::AppState,
};

/// Query parameters of the event stream.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Only this device's events.
    device_id: Option<String>,
}

/// Live events (Server-Sent Events).
#[utoipa::path(get, path = "/api/events", tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "An endless `text/event-stream`: events `reading`, `state`, \
            `presence`, `command`, `preclean`, `schedule`, and `lagged` (`{\"missed\": n}`) when \
            the client fell behind", content_type = "text/event-stream", body = String),
        (status = 400, description = "An invalid deviceId", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn events(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Response, ApiError> {
    let filter = match query.device_id {
        None => None,
        Some(raw) => {
            let id = device_id(&raw)?;
            if state.store().get_device(&id).await?.is_none() {
                return Err(ApiError::not_found("device", id.as_str()));
            }
            Some(id)
        }
    };
    let stream = live(state.clone(), filter);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(state.config().sse_keep_alive))
        .into_response())
}

/// The engine's events (those of `filter`'s device only, when given) as SSE events.
fn live(
    state: AppState,
    filter: Option<DeviceId>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let rx = state.engine().subscribe();
    stream::unfold(
        (rx, state, filter, 0_u64),
        |(mut rx, state, filter, mut seq)| async move {
            loop {
                let (name, data) = match rx.recv().await {
                    Ok(event) => {
                        if filter.as_ref().is_some_and(|id| id != event.device_id()) {
                            continue;
                        }
                        event_data(&event, state.clock().now())
                    }
                    Err(RecvError::Lagged(missed)) => ("lagged", json!({ "missed": missed })),
                    Err(RecvError::Closed) => return None,
                };
                seq += 1;
                let event = Event::default()
                    .event(name)
                    .id(seq.to_string())
                    .data(data.to_string());
                return Some((Ok(event), (rx, state, filter, seq)));
            }
        },
    )
}
