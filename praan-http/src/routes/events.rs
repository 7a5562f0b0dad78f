//! `GET /api/events`: the live event stream as Server-Sent Events. Each event is named after what
//! happened (`reading`, `state`, `presence`, `command`, `preclean`, `schedule`), carries a
//! per-stream sequence number as its id and the record as JSON, in the shape the REST API gives it
//! (`dto::event`: a reading as `/latest`, a command as `/api/commands/{id}`, a pre-clean as its
//! history, `state` as the control part of `/state`). `?deviceId=` keeps one device's events and
//! `?types=` some kinds (a fleet view wants state changes, not every reading of every device).
//! Idle streams get a keep-alive comment. A client that falls behind the engine's broadcast
//! buffer gets a `lagged` event saying how many events it missed and carries on: it never slows
//! ingestion or the engine down. Events are live only (no replay on reconnect).

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
    dto::{EVENT_NAMES, event_data, event_kind},
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
    /// Only these events: a comma-separated list of `reading`, `state`, `presence`, `command`,
    /// `preclean` and `schedule` (all of them when absent). `lagged` always comes.
    types: Option<String>,
}

/// The event names a stream keeps.
#[derive(Clone, Debug)]
struct Kinds(Option<Vec<&'static str>>);

impl Kinds {
    /// The kinds `?types=` names; every kind when absent.
    fn parse(types: Option<&str>) -> Result<Self, ApiError> {
        let Some(types) = types else {
            return Ok(Self(None));
        };
        let mut kept = Vec::new();
        for name in types.split(',').map(str::trim) {
            let Some(known) = EVENT_NAMES.iter().find(|known| **known == name) else {
                return Err(ApiError::invalid_field(
                    "types",
                    format!(
                        "unknown event type {name:?}: expected a comma-separated list of {}",
                        EVENT_NAMES.join(", ")
                    ),
                ));
            };
            kept.push(*known);
        }
        Ok(Self(Some(kept)))
    }

    fn keeps(&self, kind: &str) -> bool {
        self.0.as_ref().is_none_or(|kept| kept.contains(&kind))
    }
}

/// Live events (Server-Sent Events).
#[utoipa::path(get, path = "/api/events", tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "An endless `text/event-stream`: events `reading`, `state`, \
            `presence`, `command`, `preclean`, `schedule`, and `lagged` (`{\"missed\": n}`) when \
            the client fell behind", content_type = "text/event-stream", body = String),
        (status = 400, description = "An invalid deviceId or an unknown event type", body = ErrorBody),
        (status = 404, description = "Unknown device", body = ErrorBody)))]
pub(crate) async fn events(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Response, ApiError> {
    let kinds = Kinds::parse(query.types.as_deref())?;
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
    let stream = live(state.clone(), filter, kinds);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(state.config().sse_keep_alive))
        .into_response())
}

/// The engine's events of `kinds` (and of `filter`'s device only, when given) as SSE events.
fn live(
    state: AppState,
    filter: Option<DeviceId>,
    kinds: Kinds,
) -> impl Stream<Item = Result<Event, Infallible>> + Send {
    let rx = state.engine().subscribe();
    stream::unfold(
        (rx, state, filter, kinds, 0_u64),
        |(mut rx, state, filter, kinds, mut seq)| async move {
            loop {
                let (name, data) = match rx.recv().await {
                    Ok(event) => {
                        if filter.as_ref().is_some_and(|id| id != event.device_id())
                            || !kinds.keeps(event_kind(&event))
                        {
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
                return Some((Ok(event), (rx, state, filter, kinds, seq)));
            }
        },
    )
}
