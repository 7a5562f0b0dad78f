//! `GET /api/events`: the live event stream as Server-Sent Events. Each event is named after what
//! happened (`reading`, `state`, `presence`, `command`, `preclean`, `schedule`), carries a
//! per-stream sequence number as its id and the record as JSON. `?deviceId=` keeps one device's
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
use praan_core::{domain::DeviceId, engine::EngineEvent};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::{Receiver, error::RecvError};
use utoipa::IntoParams;

use crate::{
    dto::CommandDto,
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
    let stream = live(state.engine().subscribe(), filter);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(state.config().sse_keep_alive))
        .into_response())
}

/// The events of `rx` (those of `filter`'s device only, when given) as SSE events.
fn live(
    rx: Receiver<EngineEvent>,
    filter: Option<DeviceId>,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    stream::unfold(
        (rx, filter, 0_u64),
        |(mut rx, filter, mut seq)| async move {
            loop {
                let (name, data) = match rx.recv().await {
                    Ok(event) => {
                        if filter.as_ref().is_some_and(|id| id != event.device_id()) {
                            continue;
                        }
                        named(&event)
                    }
                    Err(RecvError::Lagged(missed)) => ("lagged", json!({ "missed": missed })),
                    Err(RecvError::Closed) => return None,
                };
                seq += 1;
                let event = Event::default()
                    .event(name)
                    .id(seq.to_string())
                    .data(data.to_string());
                return Some((Ok(event), (rx, filter, seq)));
            }
        },
    )
}

/// `v` as JSON (`null` if it cannot be: every event type serializes).
fn value<T: serde::Serialize + ?Sized>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The event's SSE name and JSON data.
fn named(event: &EngineEvent) -> (&'static str, Value) {
    match event {
        EngineEvent::Reading { reading } => ("reading", value(reading.as_ref())),
        EngineEvent::Command { command } => ("command", value(&CommandDto::from(command.as_ref()))),
        EngineEvent::PreClean { pre_clean } => ("preclean", value(pre_clean.as_ref())),
        EngineEvent::Schedule { .. } => ("schedule", value(event)),
        EngineEvent::State { control } => ("state", value(control.as_ref())),
        EngineEvent::Presence { .. } => ("presence", value(event)),
    }
}
