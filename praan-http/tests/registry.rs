//! Registry routes: register (201, 409 on a known id), list with filters, the active list, read,
//! change, remove, config — with strict validation naming the field.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use praan_core::{
    clock::Clock,
    domain::{Device, Label, RuleSpec, Timezone},
    store::{DeviceRepo, ScheduleRepo},
};
use serde_json::{Value, json};
use support::{App, dev};

const FULL: &str = r#"{"deviceId":"AIR_PURIFIER_009","name":"Lobby purifier","type":"air_purifier",
    "location":"Lobby, floor 1","specifications":{"maxFanSpeed":4,"model":"PR-200",
    "firmwareVersion":"1.4.2"},"status":"maintenance"}"#;

#[tokio::test]
async fn registering_answers_201_with_the_device_and_a_known_id_is_409() {
    let app = App::new(&["auto-1"]).await;
    let r = app.post("/api/devices/register", FULL).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let expected = json!({
        "deviceId": "AIR_PURIFIER_009", "name": "Lobby purifier", "type": "air_purifier",
        "location": "Lobby, floor 1",
        "specifications": {"maxFanSpeed": 4, "model": "PR-200", "firmwareVersion": "1.4.2"},
        "status": "maintenance", "autoRegistered": false,
        "registeredAt": "2026-11-28T09:00:00.000Z", "updatedAt": "2026-11-28T09:00:00.000Z"
    });
    assert_eq!(r.data(), &expected);
    let stored = app
        .store
        .get_device(&dev("AIR_PURIFIER_009"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.specifications.max_fan_speed.get(), 4);
    let got = app.get("/api/devices/AIR_PURIFIER_009").await;
    assert_eq!(got.data(), &expected);

    app.post("/api/devices/register", FULL)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
    // Also a device that registered itself on its first message.
    app.post("/api/devices/register", r#"{"deviceId":"auto-1"}"#)
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");
}

#[tokio::test]
async fn only_the_id_is_required_and_the_rest_has_defaults() {
    let app = App::new(&[]).await;
    let r = app
        .post("/api/devices/register", r#"{"deviceId":"dev-1"}"#)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let data = r.data();
    assert_eq!(data["name"], "dev-1");
    assert_eq!(data["type"], "air_purifier");
    assert_eq!(data["location"], Value::Null);
    assert_eq!(data["status"], "active");
    assert_eq!(data["specifications"]["maxFanSpeed"], 5);
    assert_eq!(data["autoRegistered"], false);
    // A registered device can be controlled at once.
    let sent = app
        .post("/api/control/fan", r#"{"deviceId":"dev-1","fanSpeed":5}"#)
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
}

#[tokio::test]
async fn registration_is_strict_and_errors_name_the_field() {
    let app = App::new(&[]).await;
    let cases = [
        (r#"{"name":"x"}"#, "deviceId"),
        (r#"{"deviceId":"bad id!"}"#, "deviceId"),
        (r#"{"deviceId":"a/b"}"#, "deviceId"),
        (r#"{"deviceId":7}"#, "deviceId"),
        (r#"{"deviceId":"d","name":""}"#, "name"),
        (r#"{"deviceId":"d","name":"   "}"#, "name"),
        (r#"{"deviceId":"d","name":5}"#, "name"),
        (r#"{"deviceId":"d","type":""}"#, "type"),
        (r#"{"deviceId":"d","location":"a\u0007b"}"#, "location"),
        (
            &format!(r#"{{"deviceId":"d","name":"{}"}}"#, "n".repeat(129)),
            "name",
        ),
        (
            r#"{"deviceId":"d","specifications":{"maxFanSpeed":0}}"#,
            "specifications.maxFanSpeed",
        ),
        (
            r#"{"deviceId":"d","specifications":{"maxFanSpeed":6}}"#,
            "specifications.maxFanSpeed",
        ),
        (
            r#"{"deviceId":"d","specifications":{"maxFanSpeed":"3"}}"#,
            "specifications.maxFanSpeed",
        ),
        (
            r#"{"deviceId":"d","specifications":{"maxFanSpeed":300}}"#,
            "specifications.maxFanSpeed",
        ),
        (
            r#"{"deviceId":"d","specifications":{"model":""}}"#,
            "specifications.model",
        ),
        (
            r#"{"deviceId":"d","specifications":{"colour":"red"}}"#,
            "specifications.colour",
        ),
        (r#"{"deviceId":"d","specifications":5}"#, "specifications"),
        (r#"{"deviceId":"d","status":"broken"}"#, "status"),
        (r#"{"deviceId":"d","status":"ACTIVE"}"#, "status"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/devices/register", body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{body}: {}", r.text);
    }
    for body in ["{", "[]", "not json", r#"{"deviceId":"d"} x"#, ""] {
        app.post("/api/devices/register", body)
            .await
            .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    }
    // Nothing was stored by any of them.
    assert_eq!(app.get("/api/devices").await.json["count"], 0);
}

#[tokio::test]
async fn devices_are_listed_by_id_and_filtered_by_status_and_type() {
    let app = App::new(&["auto-1"]).await;
    for body in [
        r#"{"deviceId":"b-2","type":"air_purifier","status":"inactive"}"#,
        r#"{"deviceId":"c-3","type":"fan"}"#,
        r#"{"deviceId":"a-0","type":"fan","status":"maintenance"}"#,
    ] {
        assert_eq!(
            app.post("/api/devices/register", body).await.status,
            StatusCode::CREATED
        );
    }
    let ids = |r: &support::Resp| -> Vec<String> {
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let data = r.json["data"].as_array().unwrap();
        assert_eq!(r.json["count"], data.len());
        data.iter()
            .map(|d| d["deviceId"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(&app.get("/api/devices").await),
        ["a-0", "auto-1", "b-2", "c-3"]
    );
    assert_eq!(ids(&app.get("/api/devices?type=fan").await), ["a-0", "c-3"]);
    assert_eq!(
        ids(&app.get("/api/devices?status=active").await),
        ["auto-1", "c-3"]
    );
    assert_eq!(
        ids(&app.get("/api/devices?status=active&type=fan").await),
        ["c-3"]
    );
    assert_eq!(
        ids(&app.get("/api/devices?type=kettle").await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&app.get("/api/devices/status/active").await),
        ["auto-1", "c-3"]
    );
    for query in ["status=broken", "status=Active", "status="] {
        let r = app.get(&format!("/api/devices?{query}")).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "status", "{query}");
    }
}

#[tokio::test]
async fn put_changes_the_fields_given_and_keeps_the_others() {
    let app = App::new(&[]).await;
    app.post("/api/devices/register", FULL).await;
    app.clock.advance(Duration::from_secs(60));
    let r = app
        .put(
            "/api/devices/AIR_PURIFIER_009",
            r#"{"name":"Reception","location":null,"specifications":{"maxFanSpeed":3,
                "firmwareVersion":null},"status":"active"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let data = r.data();
    assert_eq!(data["name"], "Reception");
    assert_eq!(data["type"], "air_purifier", "kept");
    assert_eq!(data["location"], Value::Null, "cleared");
    assert_eq!(data["specifications"]["maxFanSpeed"], 3);
    assert_eq!(data["specifications"]["model"], "PR-200", "kept");
    assert_eq!(data["specifications"]["firmwareVersion"], Value::Null);
    assert_eq!(data["status"], "active");
    assert_eq!(data["registeredAt"], "2026-11-28T09:00:00.000Z");
    assert_eq!(data["updatedAt"], "2026-11-28T09:01:00.000Z");
    assert_eq!(app.get("/api/devices/AIR_PURIFIER_009").await.data(), data);

    // The new maximum is enforced on commands.
    let r = app
        .post(
            "/api/control/fan",
            r#"{"deviceId":"AIR_PURIFIER_009","fanSpeed":4}"#,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");

    // A GET answer can be sent back as it is.
    let round_trip = serde_json::to_string(data).unwrap();
    let r = app.put("/api/devices/AIR_PURIFIER_009", &round_trip).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.data()["name"], "Reception");
}

#[tokio::test]
async fn put_errors_400_404() {
    let app = App::new(&["dev-1"]).await;
    let cases = [
        (r#"{"deviceId":"dev-2"}"#, "deviceId"),
        (r#"{"name":""}"#, "name"),
        (r#"{"name":null}"#, "name"),
        (r#"{"type":3}"#, "type"),
        (r#"{"location":""}"#, "location"),
        (
            r#"{"specifications":{"maxFanSpeed":9}}"#,
            "specifications.maxFanSpeed",
        ),
        (r#"{"status":"gone"}"#, "status"),
    ];
    for (body, field) in cases {
        let r = app.put("/api/devices/dev-1", body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{body}: {}", r.text);
    }
    app.put("/api/devices/dev-1", "{")
        .await
        .assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    app.put("/api/devices/ghost", r#"{"name":"x"}"#)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app.put("/api/devices/bad%20id", r#"{"name":"x"}"#).await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "deviceId");
}

#[tokio::test]
async fn delete_removes_the_device_and_stops_its_schedules() {
    let app = App::new(&["dev-1", "dev-2"]).await;
    let rule = serde_json::from_str::<RuleSpec>(
        r#"{"days":["Monday"],"startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
    )
    .unwrap()
    .build(Timezone::UTC)
    .unwrap();
    app.engine
        .create_schedule(dev("dev-1"), rule, true)
        .await
        .unwrap();
    let r = app.delete("/api/devices/dev-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.data()["deviceId"], "dev-1");
    let epoch = app.engine.registry_epoch();
    assert!(epoch > 0, "the engine forgot it and told ingestion's cache");
    assert_eq!(app.engine.control(dev("dev-1")).await.unwrap(), None);
    assert!(
        app.store
            .schedules_for_device(&dev("dev-1"))
            .await
            .unwrap()
            .is_empty(),
        "its schedules are gone"
    );
    app.get("/api/devices/dev-1")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/device/dev-1/state")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.delete("/api/devices/dev-1")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app.delete("/api/devices/bad%20id").await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "deviceId");
    assert_eq!(app.get("/api/devices").await.json["count"], 1);
    // Its former Monday window sends nothing.
    let published = app.transport.published().len();
    app.advance(Duration::from_secs(2 * 24 * 3600 + 1)).await;
    assert_eq!(app.transport.published().len(), published);
    // It can be registered again.
    assert_eq!(
        app.post("/api/devices/register", r#"{"deviceId":"dev-1"}"#)
            .await
            .status,
        StatusCode::CREATED
    );
}

/// The device routes answer their registry lookup from a cache: what the API registers, changes
/// or removes, and a device the engine forgets, shows at once; a change made behind the API's
/// back shows once the cached entry expires (after `registry_cache_ttl`, 1 s by default).
#[tokio::test]
async fn device_reads_never_answer_with_a_registry_entry_changed_since() {
    let app = App::new(&["dev-1"]).await;
    let state_name = async |id: &str| {
        let r = app.get(&format!("/api/device/{id}/state")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.data()["device"]["name"].clone()
    };
    let first = state_name("dev-1").await;
    assert_eq!(app.get("/api/devices/dev-1").await.data()["name"], first);

    let r = app.put("/api/devices/dev-1", r#"{"name":"Lobby"}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(state_name("dev-1").await, "Lobby");
    assert_eq!(app.get("/api/devices/dev-1").await.data()["name"], "Lobby");

    let r = app.delete("/api/devices/dev-1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for path in [
        "/api/device/dev-1/state",
        "/api/device/dev-1/latest",
        "/api/devices/dev-1",
    ] {
        app.get(path)
            .await
            .assert_error(StatusCode::NOT_FOUND, "not_found");
    }

    let r = app
        .post(
            "/api/devices/register",
            r#"{"deviceId":"dev-1","name":"Again"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(state_name("dev-1").await, "Again");

    // Removed without the API, then forgotten by the engine (as an embedder would).
    app.store.delete_device(&dev("dev-1")).await.unwrap();
    app.engine.forget_device(dev("dev-1")).await.unwrap();
    app.get("/api/device/dev-1/state")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    // Changed behind the API's back (another process on the same database).
    let mut device = Device::auto_registered(dev("dev-2"), app.clock.now());
    app.store.insert_device(&device).await.unwrap();
    let before = state_name("dev-2").await;
    device.name = Label::new("name", "Elsewhere").unwrap();
    app.store.update_device(&device).await.unwrap();
    assert_eq!(state_name("dev-2").await, before, "cached");
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(state_name("dev-2").await, "Elsewhere");
}

#[tokio::test]
async fn config_describes_what_the_device_can_do() {
    let app = App::new(&[]).await;
    app.post("/api/devices/register", FULL).await;
    let r = app.get("/api/devices/AIR_PURIFIER_009/config").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let data = r.data();
    assert_eq!(data["deviceId"], "AIR_PURIFIER_009");
    assert_eq!(data["type"], "air_purifier");
    assert_eq!(data["status"], "maintenance");
    assert_eq!(data["minFanSpeed"], 0);
    assert_eq!(data["maxFanSpeed"], 4);
    assert_eq!(data["specifications"]["model"], "PR-200");
    assert_eq!(data["actions"], json!(["setFanSpeed", "turnOn", "turnOff"]));
    assert_eq!(
        data["topics"]["command"],
        format!("device/{}/command", data["deviceId"].as_str().unwrap())
    );
    assert_eq!(
        data["topics"]["data"],
        format!("device/{}/data", data["deviceId"].as_str().unwrap())
    );
    app.get("/api/devices/ghost/config")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app.get("/api/devices/bad%20id/config").await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "deviceId");
    app.get("/api/devices/ghost")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
}
