//! Schedules over HTTP (PRODUCT.md §4, §7): create (old and new body shapes), list, detail,
//! full update and delete that the engine re-evaluates at once, the test trigger, run history,
//! overlap warnings, strict validation naming the field, and 404s. The clock starts at
//! 2026-11-28T09:00:00Z, a Saturday.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::{sync::Arc, time::Duration};

use axum::http::StatusCode;
use praan_core::{
    clock::{Clock, FakeClock},
    domain::{Device, Timezone},
    engine::{Engine, EngineConfig},
    store::{DeviceRepo, MemoryStore, Store},
    transport::MemoryTransport,
};
use praan_http::{AppState, HttpConfig};
use serde_json::{Value, json};
use support::{App, START, dev, ts};

/// A Saturday window around now (09:00 UTC): 08:00–10:00 at `speed`.
fn around_now(device: &str, speed: u8) -> String {
    json!({"deviceId": device, "days": ["Saturday"], "startTime": "08:00",
           "endTime": "10:00", "fanSpeed": speed, "timezone": "UTC"})
    .to_string()
}

/// The published commands since the last call, as (device, action, value).
fn published(app: &mut App) -> Vec<(String, String, u8)> {
    app.take_published()
        .into_iter()
        .map(|(d, _, action, value)| (d, action, value))
        .collect()
}

/// Acks every command published since the last call (as the devices would) and returns them as
/// (device, action, value).
async fn ack_new(app: &mut App) -> Vec<(String, String, u8)> {
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
            )
        })
        .collect()
}

fn cmd(device: &str, action: &str, value: u8) -> (String, String, u8) {
    (device.to_owned(), action.to_owned(), value)
}

async fn create(app: &App, body: &str) -> Value {
    let r = app.post("/api/schedule", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.data().clone()
}

#[tokio::test]
async fn a_schedule_covering_now_is_created_201_and_applied_at_once() {
    let mut app = App::new(&["AIR_PURIFIER_001"]).await;
    let data = create(&app, &around_now("AIR_PURIFIER_001", 3)).await;
    let id = data["scheduleId"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(data["deviceId"], "AIR_PURIFIER_001");
    assert_eq!(data["days"], json!(["Saturday"]));
    assert_eq!(data["day"], "Saturday");
    assert_eq!(data["startTime"], "08:00");
    assert_eq!(data["endTime"], "10:00");
    assert_eq!(data["fanSpeed"], 3);
    assert_eq!(data["isActive"], true, "isActive defaults to true");
    assert_eq!(data["timezone"], "UTC");
    assert_eq!(data["recurrenceType"], "weekly");
    assert_eq!(data["durationMinutes"], Value::Null);
    assert_eq!(data["createdAt"], "2026-11-28T09:00:00.000Z");
    assert_eq!(data["updatedAt"], data["createdAt"]);
    assert_eq!(data["warnings"], json!([]));

    assert_eq!(
        published(&mut app),
        [cmd("AIR_PURIFIER_001", "setFanSpeed", 3)],
        "the window is active now: applied at once"
    );
    let runs = app.get(&format!("/api/schedule/{id}/runs")).await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.text);
    assert_eq!(runs.json["count"], 1);
    let run = &runs.data()[0];
    assert_eq!(run["boundary"], "start");
    assert_eq!(run["outcome"], "applied");
    assert_eq!(run["scheduleId"], id);
    assert!(run["commandId"].is_string());
}

#[tokio::test]
async fn old_and_new_body_shapes_are_accepted() {
    let mut app = App::new(&["dev-1"]).await;
    // `day` alone (the old clients' field), a schedule that is not active now.
    let d = create(
        &app,
        r#"{"deviceId":"dev-1","day":"monday","startTime":"22:00","endTime":"06:00","fanSpeed":1}"#,
    )
    .await;
    assert_eq!(d["days"], json!(["Monday"]));
    assert_eq!(d["day"], "Monday");
    assert_eq!(d["timezone"], "UTC", "the engine's default zone");
    // `days` and `day` together: day must be one of days.
    let d = create(
        &app,
        r#"{"deviceId":"dev-1","days":["Tuesday","Wednesday"],"day":"Wednesday","startTime":"12:00","endTime":"13:00","fanSpeed":2,"timezone":"Asia/Kolkata","isActive":false}"#,
    )
    .await;
    assert_eq!(d["days"], json!(["Tuesday", "Wednesday"]));
    assert_eq!(d["day"], "Tuesday", "the first of days");
    assert_eq!(d["timezone"], "Asia/Kolkata");
    assert_eq!(d["isActive"], false);
    // daily: all days.
    let d = create(
        &app,
        r#"{"deviceId":"dev-1","recurrenceType":"daily","startTime":"01:00","endTime":"02:00","fanSpeed":2}"#,
    )
    .await;
    assert_eq!(d["recurrenceType"], "daily");
    assert_eq!(d["days"].as_array().unwrap().len(), 7);
    // custom: a cron start and a duration; no startTime.
    let d = create(
        &app,
        r#"{"deviceId":"dev-1","recurrenceType":"custom","cron":"30 3 * * Mon-Fri","durationMinutes":45,"fanSpeed":4,"timezone":"Europe/London"}"#,
    )
    .await;
    assert_eq!(d["recurrenceType"], "custom");
    assert_eq!(d["cron"], "30 3 * * Mon-Fri");
    assert_eq!(d["durationMinutes"], 45);
    assert_eq!(d["endTime"], Value::Null);
    assert_eq!(d["startTime"], Value::Null);
    assert_eq!(d["days"], json!([]));
    assert_eq!(d["day"], Value::Null);
    // custom with an endTime instead of a duration, 6-field cron.
    let d = create(
        &app,
        r#"{"deviceId":"dev-1","recurrenceType":"custom","cron":"0 0 4 * * *","endTime":"05:00","fanSpeed":1}"#,
    )
    .await;
    assert_eq!(d["endTime"], "05:00");
    // Unknown fields (e.g. the old clients' `_id`) are ignored.
    create(
        &app,
        r#"{"deviceId":"dev-1","day":"Sunday","startTime":"10:00","endTime":"11:00","fanSpeed":1,"_id":"x"}"#,
    )
    .await;
    assert!(published(&mut app).is_empty(), "none covers now");
}

#[tokio::test]
async fn a_schedule_without_a_zone_takes_the_engines_default_zone() {
    let clock = FakeClock::new(ts(START));
    let store = Arc::new(MemoryStore::new());
    store
        .insert_device(&Device::auto_registered(dev("dev-1"), clock.now()))
        .await
        .unwrap();
    let (transport, _inbound) = MemoryTransport::new(16);
    let (engine, task) = Engine::start(
        EngineConfig {
            default_timezone: Timezone::parse("Asia/Kolkata").unwrap(),
            ..EngineConfig::default()
        },
        store.clone() as Arc<dyn Store>,
        Arc::new(transport.clone()),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    tokio::spawn(task);
    let router = praan_http::router(AppState::new(
        store as Arc<dyn Store>,
        engine,
        Arc::new(clock),
        HttpConfig::default(),
    ));
    let request = axum::http::Request::post("/api/schedule")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            r#"{"deviceId":"dev-1","day":"Monday","startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
        ))
        .unwrap();
    let response = tower::ServiceExt::oneshot(router, request).await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["data"]["timezone"], "Asia/Kolkata");
}

#[tokio::test]
async fn list_and_detail_show_the_stored_schedules() {
    let app = App::new(&["dev-1", "dev-2"]).await;
    let a = create(&app, &around_now("dev-1", 2)).await;
    let b = create(
        &app,
        r#"{"deviceId":"dev-1","day":"Sunday","startTime":"10:00","endTime":"11:00","fanSpeed":1}"#,
    )
    .await;
    let list = app.get("/api/schedule/dev-1").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.json["count"], 2);
    let ids: Vec<&Value> = list
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["scheduleId"])
        .collect();
    assert_eq!(ids, [&a["scheduleId"], &b["scheduleId"]], "oldest first");
    for s in list.data().as_array().unwrap() {
        for field in [
            "scheduleId",
            "deviceId",
            "days",
            "day",
            "startTime",
            "endTime",
            "fanSpeed",
            "isActive",
            "timezone",
        ] {
            assert!(s.get(field).is_some(), "{field} missing in {s}");
        }
    }
    let empty = app.get("/api/schedule/dev-2").await;
    assert_eq!(empty.json["count"], 0);
    assert_eq!(empty.data(), &json!([]));

    let id = a["scheduleId"].as_str().unwrap();
    let detail = app.get(&format!("/api/schedule/detail/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    let mut expected = a.clone();
    expected.as_object_mut().unwrap().remove("warnings");
    assert_eq!(detail.data(), &expected);
}

#[tokio::test]
async fn update_replaces_the_rule_and_is_re_evaluated_at_once() {
    let mut app = App::new(&["dev-1"]).await;
    let created = create(&app, &around_now("dev-1", 3)).await;
    let id = created["scheduleId"].as_str().unwrap().to_owned();
    assert_eq!(app.ack_published().await, 1);
    app.advance(Duration::from_secs(60)).await;

    // Moved out of now: the active window ends now — the device is turned off.
    let r = app
        .put(
            &format!("/api/schedule/{id}"),
            r#"{"deviceId":"dev-1","days":["Saturday"],"startTime":"11:00","endTime":"12:00","fanSpeed":3}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.data()["scheduleId"], id.as_str());
    assert_eq!(r.data()["startTime"], "11:00");
    assert_eq!(r.data()["updatedAt"], "2026-11-28T09:01:00.000Z");
    assert_eq!(r.data()["createdAt"], "2026-11-28T09:00:00.000Z");
    assert_eq!(r.data()["warnings"], json!([]));
    assert_eq!(published(&mut app), [cmd("dev-1", "turnOff", 0)]);

    // Back over now at another speed (deviceId may be left out): started now at speed 5.
    let r = app
        .put(
            &format!("/api/schedule/{id}"),
            r#"{"recurrenceType":"daily","startTime":"08:30","durationMinutes":120,"fanSpeed":5}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.data()["recurrenceType"], "daily");
    assert_eq!(r.data()["durationMinutes"], 120);
    assert_eq!(r.data()["endTime"], Value::Null);
    assert_eq!(published(&mut app), [cmd("dev-1", "setFanSpeed", 5)]);

    // Disabled: its window ends now.
    let r = app
        .put(
            &format!("/api/schedule/{id}"),
            r#"{"recurrenceType":"daily","startTime":"08:30","durationMinutes":120,"fanSpeed":5,"isActive":false}"#,
        )
        .await;
    assert_eq!(r.data()["isActive"], false);
    assert_eq!(published(&mut app), [cmd("dev-1", "turnOff", 0)]);

    let detail = app.get(&format!("/api/schedule/detail/{id}")).await;
    assert_eq!(detail.data()["isActive"], false);
    assert_eq!(detail.data()["fanSpeed"], 5);
    assert_eq!(detail.data()["durationMinutes"], 120);
}

#[tokio::test]
async fn update_cannot_move_a_schedule_to_another_device() {
    let mut app = App::new(&["dev-1", "dev-2"]).await;
    let created = create(&app, &around_now("dev-1", 3)).await;
    let id = created["scheduleId"].as_str().unwrap();
    published(&mut app);
    let r = app
        .put(&format!("/api/schedule/{id}"), &around_now("dev-2", 4))
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "deviceId");
    assert!(published(&mut app).is_empty());
    let detail = app.get(&format!("/api/schedule/detail/{id}")).await;
    assert_eq!(detail.data()["fanSpeed"], 3, "unchanged");
}

#[tokio::test]
async fn delete_stops_the_schedule_and_turns_the_device_off() {
    let mut app = App::new(&["dev-1"]).await;
    let created = create(&app, &around_now("dev-1", 3)).await;
    let id = created["scheduleId"].as_str().unwrap();
    assert_eq!(app.ack_published().await, 1);
    // A minute later (runs at the same millisecond have no defined order).
    app.advance(Duration::from_secs(60)).await;

    let r = app.delete(&format!("/api/schedule/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.data()["scheduleId"], id);
    assert_eq!(ack_new(&mut app).await, [cmd("dev-1", "turnOff", 0)]);

    app.get(&format!("/api/schedule/detail/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get("/api/schedule/dev-1").await.json["count"], 0);
    app.delete(&format!("/api/schedule/{id}"))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    // Its history stays: the start and the end the delete applied.
    let runs = app.get(&format!("/api/schedule/{id}/runs")).await;
    assert_eq!(runs.status, StatusCode::OK, "{}", runs.text);
    let boundaries: Vec<&Value> = runs
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["boundary"])
        .collect();
    assert_eq!(boundaries, ["end", "start"], "newest first");

    // Nothing fires later.
    app.advance(Duration::from_secs(2 * 60 * 60)).await;
    assert!(published(&mut app).is_empty());
}

#[tokio::test]
async fn the_test_trigger_answers_at_once_with_the_command() {
    let mut app = App::new(&["dev-1"]).await;
    let created = create(
        &app,
        r#"{"deviceId":"dev-1","day":"Monday","startTime":"09:00","endTime":"17:00","fanSpeed":4}"#,
    )
    .await;
    let id = created["scheduleId"].as_str().unwrap();
    assert!(published(&mut app).is_empty(), "not active now");

    let r = app.post(&format!("/api/schedule/{id}/test"), "").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let data = r.data();
    assert_eq!(data["scheduleId"], id);
    assert_eq!(data["deviceId"], "dev-1");
    assert_eq!(data["status"], "sent", "not waiting for the ack");
    assert_eq!(data["command"]["source"], "schedule");
    assert_eq!(data["command"]["action"], "setFanSpeed");
    assert_eq!(data["command"]["value"], 4);
    let sent = app.take_published();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].1.to_string(), data["commandId"]);
    // Without a body at all, too.
    let r = app
        .call(
            axum::http::Method::POST,
            &format!("/api/schedule/{id}/test"),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
}

#[tokio::test]
async fn run_history_is_newest_first_and_limited() {
    let mut app = App::new(&["dev-1"]).await;
    // 09:00–09:01 every day: one start now, one end a minute later, the next start tomorrow.
    let created = create(
        &app,
        r#"{"deviceId":"dev-1","recurrenceType":"daily","startTime":"09:00","endTime":"09:01","fanSpeed":2}"#,
    )
    .await;
    let id = created["scheduleId"].as_str().unwrap();
    app.ack_published().await;
    app.advance(Duration::from_secs(60)).await;
    assert_eq!(ack_new(&mut app).await, [cmd("dev-1", "turnOff", 0)]);
    app.advance(Duration::from_secs(24 * 60 * 60 - 60)).await;
    assert_eq!(ack_new(&mut app).await, [cmd("dev-1", "setFanSpeed", 2)]);
    let all = app.get(&format!("/api/schedule/{id}/runs")).await;
    assert_eq!(all.json["count"], 3, "{}", all.text);
    let ats: Vec<&str> = all
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["at"].as_str().unwrap())
        .collect();
    assert_eq!(
        ats,
        [
            "2026-11-29T09:00:00.000Z",
            "2026-11-28T09:01:00.000Z",
            "2026-11-28T09:00:00.000Z"
        ]
    );
    let one = app.get(&format!("/api/schedule/{id}/runs?limit=1")).await;
    assert_eq!(one.json["count"], 1);
    assert_eq!(one.data()[0]["at"], "2026-11-29T09:00:00.000Z");
    for bad in ["0", "1001", "abc", "2.5", "-1"] {
        let r = app
            .get(&format!("/api/schedule/{id}/runs?limit={bad}"))
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "limit", "{bad}");
    }
}

#[tokio::test]
async fn overlapping_schedules_are_allowed_and_reported_as_warnings() {
    let app = App::new(&["dev-1"]).await;
    let a = create(&app, &around_now("dev-1", 2)).await;
    assert_eq!(a["warnings"], json!([]));
    let b = create(
        &app,
        r#"{"deviceId":"dev-1","days":["Saturday"],"startTime":"09:30","endTime":"11:00","fanSpeed":4}"#,
    )
    .await;
    let warnings = b["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{b}");
    assert_eq!(warnings[0]["scheduleId"], a["scheduleId"]);
    assert!(
        warnings[0]["message"]
            .as_str()
            .unwrap()
            .contains("overlaps")
    );
    // A schedule on another day overlaps nothing.
    let c = create(
        &app,
        r#"{"deviceId":"dev-1","days":["Sunday"],"startTime":"09:30","endTime":"11:00","fanSpeed":4}"#,
    )
    .await;
    assert_eq!(c["warnings"], json!([]));
    // An update that makes it overlap reports it too.
    let id = c["scheduleId"].as_str().unwrap();
    let r = app
        .put(
            &format!("/api/schedule/{id}"),
            r#"{"deviceId":"dev-1","days":["Saturday"],"startTime":"07:00","endTime":"08:30","fanSpeed":1}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let warned: Vec<&Value> = r.data()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["scheduleId"])
        .collect();
    assert_eq!(warned, [&a["scheduleId"]]);
    // Highest speed wins while both are active: b (4) over a (2).
    let mut app = app;
    assert_eq!(
        ack_new(&mut app).await,
        [cmd("dev-1", "setFanSpeed", 2)],
        "only a is active at 09:00"
    );
    app.advance(Duration::from_secs(30 * 60)).await;
    assert_eq!(published(&mut app), [cmd("dev-1", "setFanSpeed", 4)]);
}

#[tokio::test]
async fn invalid_fields_are_400s_naming_the_field_and_nothing_is_coerced() {
    let mut app = App::new(&["dev-1"]).await;
    let base = json!({"deviceId":"dev-1","days":["Monday"],"startTime":"09:00",
                      "endTime":"17:00","fanSpeed":3});
    let with = |key: &str, value: Value| {
        let mut b = base.clone();
        b[key] = value;
        b.to_string()
    };
    let without = |key: &str| {
        let mut b = base.clone();
        b.as_object_mut().unwrap().remove(key);
        b.to_string()
    };
    let cases = [
        (with("fanSpeed", json!("3")), "fanSpeed"),
        (with("fanSpeed", json!(0)), "fanSpeed"),
        (with("fanSpeed", json!(6)), "fanSpeed"),
        (with("fanSpeed", json!(2.5)), "fanSpeed"),
        (with("fanSpeed", json!(300)), "fanSpeed"),
        (without("fanSpeed"), "fanSpeed"),
        (with("isActive", json!("true")), "isActive"),
        (with("isActive", json!(1)), "isActive"),
        (with("deviceId", json!(7)), "deviceId"),
        (with("deviceId", json!("bad id!")), "deviceId"),
        (without("deviceId"), "deviceId"),
        (with("days", json!("Monday")), "days"),
        (with("days", json!(["Funday"])), "days"),
        (with("days", json!([])), "days"),
        (with("day", json!("Friday")), "day"),
        (without("days"), "days"),
        (with("startTime", json!("9:00")), "startTime"),
        (with("startTime", json!(900)), "startTime"),
        (without("startTime"), "startTime"),
        (with("endTime", json!("24:00")), "endTime"),
        (with("endTime", json!("09:00")), "endTime"),
        (without("endTime"), "endTime"),
        (with("durationMinutes", json!(30)), "durationMinutes"),
        (with("durationMinutes", json!("30")), "durationMinutes"),
        (with("timezone", json!("+05:30")), "timezone"),
        (with("timezone", json!("Mars/Base")), "timezone"),
        (with("recurrenceType", json!("hourly")), "recurrenceType"),
        (with("cron", json!("0 9 * * *")), "cron"),
        (
            json!({"deviceId":"dev-1","recurrenceType":"custom","cron":"0 9 * *",
                   "durationMinutes":30,"fanSpeed":3})
            .to_string(),
            "cron",
        ),
        (
            json!({"deviceId":"dev-1","recurrenceType":"custom","durationMinutes":30,
                   "fanSpeed":3})
            .to_string(),
            "cron",
        ),
        (
            json!({"deviceId":"dev-1","recurrenceType":"custom","cron":"0 9 * * *",
                   "durationMinutes":1441,"fanSpeed":3})
            .to_string(),
            "durationMinutes",
        ),
    ];
    for (body, field) in &cases {
        let r = app.post("/api/schedule", body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], *field, "{body}: {}", r.text);
    }
    // The same checks on update.
    let created = create(&app, &base.to_string()).await;
    let id = created["scheduleId"].as_str().unwrap();
    for (body, field) in &cases {
        if *field == "deviceId" {
            continue; // optional on update
        }
        let r = app.put(&format!("/api/schedule/{id}"), body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], *field, "{body}: {}", r.text);
    }
    let trailing = format!("{base} x");
    for body in ["{", "not json", "[1]", "", "null", &trailing] {
        app.post("/api/schedule", body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
        app.put(&format!("/api/schedule/{id}"), body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    }
    assert!(published(&mut app).is_empty(), "nothing was applied");
    let detail = app.get(&format!("/api/schedule/detail/{id}")).await;
    assert_eq!(detail.data()["startTime"], "09:00", "unchanged");
}

#[tokio::test]
async fn unknown_devices_and_schedules_are_404s_and_bad_ids_400s() {
    let app = App::new(&["dev-1"]).await;
    app.post("/api/schedule", &around_now("ghost", 3))
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app.get("/api/schedule/ghost").await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(r.json["details"]["entity"], "device");

    let unknown = "0193f1c2-0000-7000-8000-000000000000";
    let body = around_now("dev-1", 3);
    for r in [
        app.get(&format!("/api/schedule/detail/{unknown}")).await,
        app.put(&format!("/api/schedule/{unknown}"), &body).await,
        app.delete(&format!("/api/schedule/{unknown}")).await,
        app.post(&format!("/api/schedule/{unknown}/test"), "").await,
        app.get(&format!("/api/schedule/{unknown}/runs")).await,
    ] {
        r.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(r.json["details"]["entity"], "schedule", "{}", r.text);
    }
    for bad in [
        "not-a-uuid",
        "0193F1C2000070008000000000000000",
        "{0193f1c2-0000-7000-8000-000000000000}",
    ] {
        let encoded = bad.replace('{', "%7B").replace('}', "%7D");
        for r in [
            app.get(&format!("/api/schedule/detail/{encoded}")).await,
            app.put(&format!("/api/schedule/{encoded}"), &body).await,
            app.delete(&format!("/api/schedule/{encoded}")).await,
            app.post(&format!("/api/schedule/{encoded}/test"), "").await,
            app.get(&format!("/api/schedule/{encoded}/runs")).await,
        ] {
            r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
            assert_eq!(
                r.json["details"]["field"], "scheduleId",
                "{bad}: {}",
                r.text
            );
        }
    }
    for bad in ["bad%20id", "a%2Fb", "%24SYS"] {
        let r = app.get(&format!("/api/schedule/{bad}")).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "deviceId", "{bad}: {}", r.text);
    }
}

#[tokio::test]
async fn every_schedule_route_is_in_the_openapi_document() {
    let app = App::new(&[]).await;
    let doc = app.get("/api/openapi.json").await;
    let paths = &doc.json["paths"];
    let operations = [
        ("/api/schedule", "post"),
        ("/api/schedule/{id}", "get"),
        ("/api/schedule/{id}", "put"),
        ("/api/schedule/{id}", "delete"),
        ("/api/schedule/detail/{scheduleId}", "get"),
        ("/api/schedule/{id}/test", "post"),
        ("/api/schedule/{id}/runs", "get"),
    ];
    for (path, method) in operations {
        let op = &paths[path][method];
        assert_eq!(op["tags"], json!(["schedules"]), "{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        assert!(responses.contains_key("400"), "{method} {path}");
        assert!(responses.contains_key("404"), "{method} {path}");
    }
    assert!(
        doc.json["tags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "schedules")
    );
    let schemas = &doc.json["components"]["schemas"];
    for field in ["scheduleId", "days", "day", "isActive", "timezone"] {
        assert!(
            schemas["ScheduleDto"]["properties"].get(field).is_some(),
            "{field}"
        );
    }
}
