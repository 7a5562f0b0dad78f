//! The live event stream: Server-Sent Events carrying readings and commands as they happen,
//! filtered by device, with event ids; a lagging client is told what it missed.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::time::Duration;

use axum::{body::Body, http::StatusCode};
use http_body_util::BodyExt;
use praan_core::clock::{Clock, SystemClock};
use support::App;

/// One parsed SSE event.
#[derive(Debug)]
struct Sse {
    name: String,
    id: String,
    data: serde_json::Value,
}

/// Reads the stream until `n` events (comments skipped) arrived; fails after 10 s.
async fn next_events(body: &mut Body, n: usize) -> Vec<Sse> {
    let deadline = SystemClock.now().saturating_add(Duration::from_secs(10));
    let mut text = String::new();
    let mut events = Vec::new();
    while events.len() < n {
        let frame = tokio::select! {
            f = body.frame() => f.expect("the stream ended").unwrap(),
            () = SystemClock.sleep_until(deadline) => panic!("no event within 10 s; got {events:?}"),
        };
        if let Ok(bytes) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let field = |name: &str| {
                block
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::to_owned)
            };
            if let Some(data) = field("data: ") {
                events.push(Sse {
                    name: field("event: ").unwrap_or_default(),
                    id: field("id: ").unwrap_or_default(),
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
        }
    }
    events
}

async fn open(app: &App, query: &str) -> Body {
    use tower::ServiceExt;
    let request = axum::http::Request::get(format!("/api/events{query}"))
        .body(Body::empty())
        .unwrap();
    let response = app.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response.into_body()
}

#[tokio::test]
async fn a_client_receives_a_reading_and_a_command_event() {
    let app = App::new(&["dev-1"]).await;
    let mut body = open(&app, "").await;
    app.reading(
        "dev-1",
        r#"{"timestamp":"2026-11-28T08:59:00Z","pm25":12.5,"temperature":21.0}"#,
    )
    .await;
    let r = app
        .post("/api/control/fan", r#"{"deviceId":"dev-1","fanSpeed":4}"#)
        .await;
    let command_id = r.data()["commandId"].clone();
    let events = next_events(&mut body, 2).await;
    assert_eq!(events[0].name, "reading");
    assert_eq!(events[0].id, "1");
    assert_eq!(events[0].data["deviceId"], "dev-1");
    assert_eq!(events[0].data["pm25"], 12.5);
    assert_eq!(events[1].id, "2");
    let command = events
        .iter()
        .chain(next_events(&mut body, 2).await.iter())
        .find(|e| e.name == "command")
        .map(|e| e.data.clone())
        .expect("a command event");
    assert_eq!(command["commandId"], command_id);
    assert_eq!(command["action"], "setFanSpeed");
}

#[tokio::test]
async fn the_device_filter_keeps_one_devices_events() {
    let app = App::new(&["dev-1", "dev-2"]).await;
    let mut body = open(&app, "?deviceId=dev-2").await;
    app.reading(
        "dev-1",
        r#"{"timestamp":"2026-11-28T08:59:00Z","pm25":1.0}"#,
    )
    .await;
    app.reading(
        "dev-2",
        r#"{"timestamp":"2026-11-28T08:59:00Z","pm25":2.0}"#,
    )
    .await;
    let events = next_events(&mut body, 1).await;
    assert_eq!(events[0].name, "reading");
    assert_eq!(events[0].data["deviceId"], "dev-2");
}

#[tokio::test]
async fn a_bad_or_unknown_filter_is_refused() {
    let app = App::new(&["dev-1"]).await;
    app.get("/api/events?deviceId=bad%20id")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    app.get("/api/events?deviceId=ghost")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    for types in ["readings", "state,", "", "state,lagged"] {
        let r = app.get(&format!("/api/events?types={types}")).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "types", "{types:?}");
    }
}

#[tokio::test]
async fn the_types_filter_keeps_only_the_kinds_asked_for() {
    let app = App::new(&["dev-1"]).await;
    let mut body = open(&app, "?types=command,%20preclean").await;
    app.reading(
        "dev-1",
        r#"{"timestamp":"2026-11-28T08:59:00Z","pm25":1.0}"#,
    )
    .await;
    let r = app
        .post("/api/control/fan", r#"{"deviceId":"dev-1","fanSpeed":2}"#)
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let r = app
        .post(
            "/api/preclean",
            r#"{"deviceId":"dev-1","fanMode":"PRE_CLEAN","minutes":1}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut names = Vec::new();
    while !names.contains(&"preclean".to_owned()) {
        for event in next_events(&mut body, 1).await {
            names.push(event.name);
        }
    }
    assert!(
        names.iter().all(|n| n == "command" || n == "preclean"),
        "only commands and pre-cleans: {names:?}"
    );
    assert_eq!(names[0], "command", "{names:?}");
}

#[tokio::test]
async fn a_lagging_client_is_told_what_it_missed() {
    let app = App::new(&["dev-1"]).await;
    let mut body = open(&app, "").await;
    // More readings than the engine's event buffer before the client reads.
    let capacity = praan_core::engine::EngineConfig::default().event_capacity;
    for n in 0..capacity + 100 {
        let payload = format!(
            r#"{{"timestamp":"2026-11-27T{:02}:{:02}:{:02}Z","pm25":3.0}}"#,
            n / 3600,
            (n / 60) % 60,
            n % 60
        );
        app.reading("dev-1", &payload).await;
    }
    let events = next_events(&mut body, 1).await;
    assert_eq!(events[0].name, "lagged", "{events:?}");
    assert!(events[0].data["missed"].as_u64().unwrap() > 0);
    let after = next_events(&mut body, 1).await;
    assert_eq!(after[0].name, "reading", "the stream carries on");
}

/// Every object key in `v`, recursively, with its path.
fn keys(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                out.push(format!("{path}.{k}"));
                keys(v, &format!("{path}.{k}"), out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| keys(v, path, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_event_kind_carries_its_rest_shape_in_camel_case() {
    use praan_core::{domain::PresenceReason, engine::DeviceEvent};

    let app = App::new(&["dev-1"]).await;
    let mut body = open(&app, "?deviceId=dev-1").await;
    let r = app
        .post(
            "/api/preclean",
            r#"{"deviceId":"dev-1","fanMode":"PRE_CLEAN","minutes":5}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = app
        .post(
            "/api/schedule",
            r#"{"deviceId":"dev-1","recurrenceType":"daily","startTime":"22:00","endTime":"23:00","fanSpeed":2}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let schedule_id = r.data()["scheduleId"].clone();
    app.engine
        .device_event(DeviceEvent::Presence {
            device_id: support::dev("dev-1"),
            online: false,
            reason: PresenceReason::LastWill,
            at: app.clock.now(),
        })
        .await
        .unwrap();
    app.reading(
        "dev-1",
        r#"{"timestamp":"2026-11-28T09:00:01Z","pm25":3.0}"#,
    )
    .await;

    let mut seen = std::collections::HashMap::new();
    while seen.len() < 6 {
        for event in next_events(&mut body, 1).await {
            seen.entry(event.name.clone()).or_insert(event.data);
        }
    }
    for (name, data) in &seen {
        let mut found = Vec::new();
        keys(data, name, &mut found);
        assert!(
            found.iter().all(|k| !k.contains('_')),
            "{name}: keys must be camelCase: {found:?}"
        );
        assert_eq!(data["deviceId"], "dev-1", "{name}: {data}");
    }
    let preclean = &seen["preclean"];
    assert_eq!(preclean["isActive"], true, "{preclean}");
    assert_eq!(preclean["remainingSeconds"], 300, "{preclean}");
    assert!(preclean["willEndAt"].is_string(), "{preclean}");
    let state = &seen["state"];
    assert_eq!(state["preCleanActive"], true, "{state}");
    assert_eq!(state["effective"]["fanSpeed"], 5, "{state}");
    let schedule = &seen["schedule"];
    assert_eq!(schedule["scheduleId"], schedule_id, "{schedule}");
    assert_eq!(schedule["change"], "created", "{schedule}");
    let presence = &seen["presence"];
    assert_eq!(presence["presence"]["online"], false, "{presence}");
    assert_eq!(presence["presence"]["reason"], "last_will", "{presence}");
    assert_eq!(seen["reading"]["pm25"], 3.0);
    assert!(seen["command"]["commandId"].is_string());
}
