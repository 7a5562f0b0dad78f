//! Pre-clean over HTTP (PRODUCT.md §5, §7): the three body shapes of the old clients, status
//! with a remaining time that follows the (fake) clock and is never negative, the end and the
//! restore, cancel, delete, history, the interplay with schedules, strict validation naming the
//! field, and 404s. The clock starts at 2026-11-28T09:00:00Z, a Saturday.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use praan_http::HttpConfig;
use serde_json::{Value, json};
use support::App;

/// Acks every command published since the last call (as the devices would) and returns them as
/// (device, action, value, commandId).
async fn ack_new(app: &mut App) -> Vec<(String, String, u8, String)> {
    let n = app.ack_published().await;
    let all = app.transport.published();
    all[all.len() - n..]
        .iter()
        .map(|o| {
            let v: Value = serde_json::from_slice(&o.payload).unwrap();
            (
                o.topic.split('/').nth(1).unwrap().to_owned(),
                v["action"].as_str().unwrap().to_owned(),
                u8::try_from(v["value"].as_u64().unwrap()).unwrap(),
                v["commandId"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The actions of [`ack_new`], without the ids.
async fn acked_actions(app: &mut App) -> Vec<(String, String, u8)> {
    ack_new(app)
        .await
        .into_iter()
        .map(|(d, a, v, _)| (d, a, v))
        .collect()
}

fn cmd(device: &str, action: &str, value: u8) -> (String, String, u8) {
    (device.to_owned(), action.to_owned(), value)
}

/// Sets the device's base intent with a manual fan command, acked.
async fn manual_fan(app: &mut App, device: &str, speed: u8) {
    let r = app
        .post(
            "/api/control/fan",
            &json!({"deviceId": device, "fanSpeed": speed}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(
        acked_actions(app).await,
        [cmd(device, "setFanSpeed", speed)]
    );
}

async fn start(app: &App, body: &str) -> Value {
    let r = app.post("/api/preclean", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.data().clone()
}

async fn status(app: &App, device: &str) -> Value {
    let r = app.get(&format!("/api/preclean/status/{device}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.data().clone()
}

#[tokio::test]
async fn the_three_body_shapes_of_the_old_clients_are_accepted() {
    let mut app = App::new(&["d-a", "d-b", "d-c", "d-d"]).await;
    let a = start(
        &app,
        r#"{"deviceId":"d-a","fanMode":"PRE_CLEAN","minutes":1,"seconds":30}"#,
    )
    .await;
    assert_eq!(a["targetFanMode"], "PRE_CLEAN");
    assert_eq!(a["target"], json!({"powerOn": true, "fanSpeed": 5}));
    assert_eq!(a["durationSeconds"], 90);
    assert_eq!(a["startedAt"], "2026-11-28T09:00:00.000Z");
    assert_eq!(a["willEndAt"], "2026-11-28T09:01:30.000Z");
    assert_eq!(a["deviceId"], "d-a");
    assert_eq!(a["preCleanId"].as_str().unwrap().len(), 36);
    assert!(a["commandId"].is_string());
    assert_eq!(
        a["restoreTarget"],
        Value::Null,
        "unmanaged, nothing reported"
    );

    let b = start(
        &app,
        r#"{"deviceId":"d-b","fanMode":"MANUAL","fanSpeed":4,"minutes":10}"#,
    )
    .await;
    assert_eq!(b["targetFanMode"], "MANUAL");
    assert_eq!(b["target"]["fanSpeed"], 4);
    assert_eq!(b["durationSeconds"], 600);
    assert_eq!(b["willEndAt"], "2026-11-28T09:10:00.000Z");

    let c = start(&app, r#"{"deviceId":"d-c","fanMode":5,"duration":10}"#).await;
    assert_eq!(c["targetFanMode"], "5");
    assert_eq!(c["target"]["fanSpeed"], 5);
    assert_eq!(c["durationSeconds"], 600);

    // The other names: OFF and AUTO; seconds alone.
    let d = start(&app, r#"{"deviceId":"d-d","fanMode":"AUTO","seconds":45}"#).await;
    assert_eq!(d["target"], json!({"powerOn": true, "fanSpeed": 3}));
    assert_eq!(d["durationSeconds"], 45);
    let d = start(&app, r#"{"deviceId":"d-d","fanMode":"OFF","minutes":2}"#).await;
    assert_eq!(d["target"], json!({"powerOn": false, "fanSpeed": 0}));

    let mut sent = acked_actions(&mut app).await;
    sent.sort();
    assert_eq!(
        sent,
        [
            cmd("d-a", "setFanSpeed", 5),
            cmd("d-b", "setFanSpeed", 4),
            cmd("d-c", "setFanSpeed", 5),
            cmd("d-d", "setFanSpeed", 3),
            cmd("d-d", "turnOff", 0),
        ]
    );
}

#[tokio::test]
async fn a_90_s_pre_clean_ends_after_91_s_and_restores_the_manual_state() {
    let mut app = App::new(&["dev-1"]).await;
    manual_fan(&mut app, "dev-1", 2).await;
    let started = start(
        &app,
        r#"{"deviceId":"dev-1","fanMode":"PRE_CLEAN","minutes":1,"seconds":30}"#,
    )
    .await;
    let restore = &started["restoreTarget"];
    assert_eq!(restore["powerOn"], true);
    assert_eq!(restore["fanSpeed"], 2);
    assert_eq!(restore["source"]["kind"], "manual");
    assert!(restore["source"]["commandId"].is_string());
    let applied = ack_new(&mut app).await;
    assert_eq!(applied.len(), 1);
    assert_eq!((applied[0].1.as_str(), applied[0].2), ("setFanSpeed", 5));
    assert_eq!(applied[0].3, started["commandId"]);

    let active = status(&app, "dev-1").await;
    assert_eq!(active["isActive"], true);
    assert_eq!(active["remainingSeconds"], 90);
    assert_eq!(active["preCleanId"], started["preCleanId"]);
    assert_eq!(active["targetFanMode"], "PRE_CLEAN");
    assert_eq!(active["willEndAt"], "2026-11-28T09:01:30.000Z");
    assert_eq!(active["startedAt"], "2026-11-28T09:00:00.000Z");
    assert_eq!(active["restoreTarget"]["fanSpeed"], 2);
    assert_eq!(active["preClean"]["status"], "active");

    app.advance(Duration::from_secs(91)).await;
    let restored = ack_new(&mut app).await;
    assert_eq!(restored.len(), 1, "{restored:?}");
    assert_eq!((restored[0].1.as_str(), restored[0].2), ("setFanSpeed", 2));

    let ended = status(&app, "dev-1").await;
    assert_eq!(ended["isActive"], false);
    assert_eq!(ended["remainingSeconds"], 0);
    assert_eq!(ended["willEndAt"], Value::Null);
    assert_eq!(ended["targetFanMode"], Value::Null);
    let last = &ended["preClean"];
    assert_eq!(last["preCleanId"], started["preCleanId"]);
    assert_eq!(last["status"], "completed");
    assert_eq!(last["endedAt"], "2026-11-28T09:01:31.000Z");
    assert_eq!(last["restore"]["commandId"], restored[0].3.as_str());
    assert_eq!(last["restore"]["target"]["fanSpeed"], 2);
}

#[tokio::test]
async fn remaining_seconds_count_down_with_the_clock_and_never_go_negative() {
    let mut app = App::new(&["dev-1"]).await;
    start(&app, r#"{"deviceId":"dev-1","fanMode":3,"seconds":90}"#).await;
    ack_new(&mut app).await;
    assert_eq!(status(&app, "dev-1").await["remainingSeconds"], 90);
    app.advance(Duration::from_millis(500)).await;
    assert_eq!(
        status(&app, "dev-1").await["remainingSeconds"],
        90,
        "rounded up"
    );
    app.advance(Duration::from_millis(29_500)).await;
    assert_eq!(status(&app, "dev-1").await["remainingSeconds"], 60);
    app.advance(Duration::from_secs(59)).await;
    let s = status(&app, "dev-1").await;
    assert_eq!(
        (s["isActive"].clone(), s["remainingSeconds"].clone()),
        (json!(true), json!(1))
    );
    for _ in 0..3 {
        app.advance(Duration::from_secs(1)).await;
        let s = status(&app, "dev-1").await;
        assert_eq!(s["isActive"], false);
        assert_eq!(s["remainingSeconds"], 0);
        let history = app.get("/api/preclean/history/dev-1").await;
        assert_eq!(history.data()[0]["remainingSeconds"], 0);
        assert_eq!(history.data()[0]["isActive"], false);
    }
}

#[tokio::test]
async fn an_unmanaged_device_returns_to_the_state_it_reported() {
    let mut app = App::new(&["dev-1", "dev-2"]).await;
    app.reading(
        "dev-1",
        r#"{"timestamp":"2026-11-28T08:59:00Z","fanSpeed":1,"powerOn":true,"pm25":12.5}"#,
    )
    .await;
    let started = start(&app, r#"{"deviceId":"dev-1","fanMode":4,"minutes":1}"#).await;
    assert_eq!(started["restoreTarget"]["fanSpeed"], 1);
    assert_eq!(started["restoreTarget"]["source"]["kind"], "reported");
    // A device that reported nothing is left alone at the end.
    let other = start(&app, r#"{"deviceId":"dev-2","fanMode":4,"minutes":1}"#).await;
    assert_eq!(other["restoreTarget"], Value::Null);
    ack_new(&mut app).await;
    app.advance(Duration::from_secs(61)).await;
    assert_eq!(
        acked_actions(&mut app).await,
        [cmd("dev-1", "setFanSpeed", 1)]
    );
    let ended = status(&app, "dev-2").await;
    assert_eq!(ended["preClean"]["status"], "completed");
    assert_eq!(ended["preClean"]["restore"]["target"], Value::Null);
    assert_eq!(ended["preClean"]["restore"]["commandId"], Value::Null);
}

#[tokio::test]
async fn cancel_restores_at_once() {
    let mut app = App::new(&["dev-1", "dev-2"]).await;
    manual_fan(&mut app, "dev-1", 2).await;
    let started = start(
        &app,
        r#"{"deviceId":"dev-1","fanMode":"PRE_CLEAN","minutes":10}"#,
    )
    .await;
    ack_new(&mut app).await;
    app.advance(Duration::from_secs(30)).await;

    let r = app
        .post("/api/preclean/cancel", r#"{"deviceId":"dev-1"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let data = r.data();
    assert_eq!(data["preCleanId"], started["preCleanId"]);
    assert_eq!(data["status"], "cancelled");
    assert_eq!(data["isActive"], false);
    assert_eq!(data["remainingSeconds"], 0);
    assert_eq!(data["endedAt"], "2026-11-28T09:00:30.000Z");
    let restored = ack_new(&mut app).await;
    assert_eq!(restored.len(), 1);
    assert_eq!((restored[0].1.as_str(), restored[0].2), ("setFanSpeed", 2));
    assert_eq!(data["restore"]["commandId"], restored[0].3.as_str());
    assert_eq!(status(&app, "dev-1").await["isActive"], false);

    // Nothing left to cancel: a conflict, not a 404 (the device exists).
    app.post("/api/preclean/cancel", r#"{"deviceId":"dev-1"}"#)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    app.post("/api/preclean/cancel", r#"{"deviceId":"dev-2"}"#)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    app.post("/api/preclean/cancel", r#"{"deviceId":"ghost"}"#)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    for (body, field) in [
        (r#"{"deviceId":"bad id"}"#, "deviceId"),
        (r#"{"deviceId":7}"#, "deviceId"),
        (r"{}", "deviceId"),
    ] {
        let r = app.post("/api/preclean/cancel", body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{body}");
    }
    app.post("/api/preclean/cancel", "{")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    // The end timer of the cancelled pre-clean does nothing.
    app.advance(Duration::from_secs(15 * 60)).await;
    assert!(ack_new(&mut app).await.is_empty());
}

#[tokio::test]
async fn delete_cancels_an_active_pre_clean_and_removes_a_finished_one() {
    let mut app = App::new(&["dev-1"]).await;
    manual_fan(&mut app, "dev-1", 1).await;
    let first = start(
        &app,
        r#"{"deviceId":"dev-1","fanMode":"AUTO","seconds":30}"#,
    )
    .await;
    ack_new(&mut app).await;
    app.advance(Duration::from_secs(31)).await;
    assert_eq!(
        acked_actions(&mut app).await,
        [cmd("dev-1", "setFanSpeed", 1)]
    );
    let second = start(&app, r#"{"deviceId":"dev-1","fanMode":"AUTO","minutes":5}"#).await;
    ack_new(&mut app).await;

    // Active: cancelled, and the device restored at once.
    let id = second["preCleanId"].as_str().unwrap();
    let r = app.delete(&format!("/api/preclean/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.data()["status"], "cancelled");
    assert_eq!(
        acked_actions(&mut app).await,
        [cmd("dev-1", "setFanSpeed", 1)]
    );
    assert_eq!(status(&app, "dev-1").await["isActive"], false);

    // Finished: removed from the history.
    let id = first["preCleanId"].as_str().unwrap();
    let r = app.delete(&format!("/api/preclean/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.data()["status"], "completed");
    assert!(ack_new(&mut app).await.is_empty(), "nothing to restore");
    let history = app.get("/api/preclean/history/dev-1").await;
    assert_eq!(history.json["count"], 1);
    assert_eq!(history.data()[0]["preCleanId"], second["preCleanId"]);
    app.delete(&format!("/api/preclean/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn history_is_newest_first_and_a_new_pre_clean_replaces_the_active_one() {
    let mut app = App::new(&["dev-1", "dev-2"]).await;
    let first = start(&app, r#"{"deviceId":"dev-1","fanMode":2,"minutes":5}"#).await;
    app.advance(Duration::from_secs(10)).await;
    let second = start(&app, r#"{"deviceId":"dev-1","fanMode":4,"minutes":5}"#).await;
    ack_new(&mut app).await;

    let history = app.get("/api/preclean/history/dev-1").await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text);
    assert_eq!(history.json["count"], 2);
    let items = history.data().as_array().unwrap();
    assert_eq!(items[0]["preCleanId"], second["preCleanId"], "newest first");
    assert_eq!(items[0]["status"], "active");
    assert_eq!(items[0]["isActive"], true);
    assert_eq!(items[0]["remainingSeconds"], 300);
    assert_eq!(items[1]["preCleanId"], first["preCleanId"]);
    assert_eq!(items[1]["status"], "replaced");
    assert_eq!(items[1]["replacedBy"], second["preCleanId"]);
    assert_eq!(items[1]["endedAt"], "2026-11-28T09:00:10.000Z");

    let one = app.get("/api/preclean/history/dev-1?limit=1").await;
    assert_eq!(one.json["count"], 1);
    assert_eq!(one.data()[0]["preCleanId"], second["preCleanId"]);
    let none = app.get("/api/preclean/history/dev-2").await;
    assert_eq!(none.json["count"], 0);
    assert_eq!(status(&app, "dev-2").await["preClean"], Value::Null);
    for bad in ["0", "1001", "x", "1.5"] {
        let r = app
            .get(&format!("/api/preclean/history/dev-1?limit={bad}"))
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "limit");
    }
}

#[tokio::test]
async fn a_schedule_that_ends_during_the_pre_clean_leads_to_off() {
    let mut app = App::new(&["dev-1"]).await;
    let schedule = app
        .post(
            "/api/schedule",
            r#"{"deviceId":"dev-1","days":["Saturday"],"startTime":"08:00","endTime":"09:01","fanSpeed":2}"#,
        )
        .await;
    assert_eq!(schedule.status, StatusCode::CREATED, "{}", schedule.text);
    assert_eq!(
        acked_actions(&mut app).await,
        [cmd("dev-1", "setFanSpeed", 2)]
    );
    let started = start(
        &app,
        r#"{"deviceId":"dev-1","fanMode":"PRE_CLEAN","minutes":2}"#,
    )
    .await;
    assert_eq!(started["restoreTarget"]["fanSpeed"], 2);
    assert_eq!(started["restoreTarget"]["source"]["kind"], "schedule");
    ack_new(&mut app).await;

    // 09:01: the window ends under the pre-clean (masked, recorded); the restore target is now
    // off.
    app.advance(Duration::from_secs(60)).await;
    assert!(
        ack_new(&mut app).await.is_empty(),
        "masked by the pre-clean"
    );
    let now = status(&app, "dev-1").await;
    assert_eq!(now["isActive"], true);
    assert_eq!(now["remainingSeconds"], 60);
    assert_eq!(now["restoreTarget"]["powerOn"], false);
    let id = schedule.data()["scheduleId"].as_str().unwrap();
    let runs = app.get(&format!("/api/schedule/{id}/runs")).await;
    assert_eq!(runs.data()[0]["boundary"], "end");
    assert_eq!(runs.data()[0]["outcome"], "masked_by_preclean");

    app.advance(Duration::from_secs(60)).await;
    assert_eq!(acked_actions(&mut app).await, [cmd("dev-1", "turnOff", 0)]);
}

#[tokio::test]
async fn invalid_bodies_are_400s_naming_the_field_and_nothing_is_coerced() {
    let mut app = App::new(&["dev-1"]).await;
    let cases = [
        (
            r#"{"deviceId":"dev-1","fanMode":"3","minutes":1}"#,
            "fanMode",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":"turbo","minutes":1}"#,
            "fanMode",
        ),
        (r#"{"deviceId":"dev-1","fanMode":0,"minutes":1}"#, "fanMode"),
        (r#"{"deviceId":"dev-1","fanMode":6,"minutes":1}"#, "fanMode"),
        (
            r#"{"deviceId":"dev-1","fanMode":2.5,"minutes":1}"#,
            "fanMode",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":null,"minutes":1}"#,
            "fanMode",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":true,"minutes":1}"#,
            "fanMode",
        ),
        (r#"{"deviceId":"dev-1","minutes":1}"#, "fanMode"),
        (
            r#"{"deviceId":"dev-1","fanMode":"MANUAL","minutes":1}"#,
            "fanSpeed",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":"MANUAL","fanSpeed":"4","minutes":1}"#,
            "fanSpeed",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":"MANUAL","fanSpeed":0,"minutes":1}"#,
            "fanSpeed",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":"MANUAL","fanSpeed":6,"minutes":1}"#,
            "fanSpeed",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":"AUTO","fanSpeed":4,"minutes":1}"#,
            "fanSpeed",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"minutes":"1"}"#,
            "minutes",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"minutes":1.5}"#,
            "minutes",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"minutes":-1}"#,
            "minutes",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"seconds":"30"}"#,
            "seconds",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"duration":"10"}"#,
            "duration",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"duration":10,"minutes":1}"#,
            "duration",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"duration":10,"seconds":1}"#,
            "duration",
        ),
        (r#"{"deviceId":"dev-1","fanMode":5}"#, "duration"),
        (r#"{"deviceId":"dev-1","fanMode":5,"seconds":0}"#, "seconds"),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"minutes":0,"seconds":0}"#,
            "minutes",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"minutes":60,"seconds":1}"#,
            "minutes",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"seconds":3601}"#,
            "seconds",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"duration":61}"#,
            "duration",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"duration":0}"#,
            "duration",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"duration":18446744073709551615}"#,
            "duration",
        ),
        (
            r#"{"deviceId":"dev-1","fanMode":5,"minutes":18446744073709551615}"#,
            "minutes",
        ),
        (r#"{"fanMode":5,"minutes":1}"#, "deviceId"),
        (
            r#"{"deviceId":"bad id!","fanMode":5,"minutes":1}"#,
            "deviceId",
        ),
        (r#"{"deviceId":5,"fanMode":5,"minutes":1}"#, "deviceId"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/preclean", body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{body}: {}", r.text);
    }
    for body in [
        "{",
        "not json",
        "[]",
        "",
        r#"{"deviceId":"dev-1","fanMode":5,"minutes":1}}"#,
    ] {
        app.post("/api/preclean", body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    }
    assert!(ack_new(&mut app).await.is_empty(), "nothing was started");
    // The bounds themselves are accepted: 1 s and 60 min.
    start(&app, r#"{"deviceId":"dev-1","fanMode":5,"seconds":1}"#).await;
    start(&app, r#"{"deviceId":"dev-1","fanMode":5,"minutes":60}"#).await;
    start(
        &app,
        r#"{"deviceId":"dev-1","fanMode":5,"minutes":59,"seconds":60}"#,
    )
    .await;
}

#[tokio::test]
async fn the_maximum_duration_is_configurable() {
    let app = App::with_config(
        &["dev-1"],
        HttpConfig {
            max_pre_clean: Duration::from_secs(5 * 60),
            ..HttpConfig::default()
        },
        |s| s,
    )
    .await;
    let r = app
        .post(
            "/api/preclean",
            r#"{"deviceId":"dev-1","fanMode":5,"duration":6}"#,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "duration");
    assert!(r.text.contains("5 minutes"), "{}", r.text);
    start(&app, r#"{"deviceId":"dev-1","fanMode":5,"duration":5}"#).await;
}

#[tokio::test]
async fn unknown_devices_and_pre_cleans_are_404s_and_bad_ids_400s() {
    let app = App::new(&["dev-1"]).await;
    let r = app
        .post(
            "/api/preclean",
            r#"{"deviceId":"ghost","fanMode":5,"minutes":1}"#,
        )
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(r.json["details"]["entity"], "device");
    for path in ["/api/preclean/status/ghost", "/api/preclean/history/ghost"] {
        let r = app.get(path).await;
        r.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(r.json["details"]["entity"], "device", "{path}");
    }
    app.delete("/api/preclean/0193f1c2-0000-7000-8000-000000000000")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    for bad in ["not-a-uuid", "0193f1c2000070008000000000000000", "%24%24"] {
        let r = app.delete(&format!("/api/preclean/{bad}")).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "preCleanId", "{bad}");
    }
    for path in [
        "/api/preclean/status/bad%20id",
        "/api/preclean/history/a%2Fb",
        "/api/preclean/status/%23x",
    ] {
        let r = app.get(path).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "deviceId", "{path}");
    }
}

#[tokio::test]
async fn every_pre_clean_route_is_in_the_openapi_document() {
    let app = App::new(&[]).await;
    let doc = app.get("/api/openapi.json").await;
    let paths = &doc.json["paths"];
    let operations = [
        ("/api/preclean", "post", "201"),
        ("/api/preclean/cancel", "post", "409"),
        ("/api/preclean/status/{deviceId}", "get", "200"),
        ("/api/preclean/{preCleanId}", "delete", "200"),
        ("/api/preclean/history/{deviceId}", "get", "200"),
    ];
    for (path, method, status) in operations {
        let op = &paths[path][method];
        assert_eq!(op["tags"], json!(["preclean"]), "{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        for code in [status, "400", "404"] {
            assert!(responses.contains_key(code), "{method} {path} {code}");
        }
    }
    let schemas = &doc.json["components"]["schemas"];
    for field in ["isActive", "remainingSeconds", "willEndAt", "targetFanMode"] {
        assert!(
            schemas["PreCleanStatusDto"]["properties"]
                .get(field)
                .is_some(),
            "{field}"
        );
    }
    for field in ["preCleanId", "willEndAt", "commandId", "restoreTarget"] {
        assert!(
            schemas["PreCleanStartedDto"]["properties"]
                .get(field)
                .is_some(),
            "{field}"
        );
    }
    let fan_mode = &schemas["StartPreCleanRequest"]["properties"]["fanMode"];
    assert_eq!(fan_mode["oneOf"].as_array().unwrap().len(), 2, "{fan_mode}");
}
