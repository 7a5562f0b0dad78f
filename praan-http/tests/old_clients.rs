//! The existing clients' whole request list, in the order a person uses them (PRODUCT.md §4, §5,
//! §7), as one test: every step succeeds and answers with the field names those clients read.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use axum::http::StatusCode;
use serde_json::Value;
use support::App;

const DEVICE: &str = "AIR_PURIFIER_001";

fn has(value: &Value, fields: &[&str], what: &str) {
    for field in fields {
        assert!(
            value.get(*field).is_some(),
            "{what}: no `{field}` in {value}"
        );
    }
}

#[tokio::test]
async fn the_old_clients_request_list_succeeds_step_by_step() {
    let mut app = App::new(&[DEVICE]).await;
    app.reading(
        DEVICE,
        r#"{"deviceId":"AIR_PURIFIER_001","timestamp":"2026-11-28T08:58:00Z","pm1":8.1,"pm25":12.4,"pm10":20.7,"temperature":22.5,"humidity":45.2,"voc":120,"sound":38.5,"networkStrength":84.12,"fanSpeed":2,"powerOn":true}"#,
    )
    .await;

    // Health.
    let health = app.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json["status"], "ok");
    has(&health.json["services"], &["store", "mqtt"], "health");

    // Create a schedule (PRODUCT.md §4), list, get, update, delete.
    let created = app
        .post(
            "/api/schedule",
            r#"{"deviceId":"AIR_PURIFIER_001","days":["Monday","Tuesday"],"startTime":"09:00","endTime":"17:00","fanSpeed":3,"timezone":"Asia/Kolkata","isActive":true}"#,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let schedule_id = created.data()["scheduleId"].as_str().unwrap().to_owned();
    let schedule_fields = [
        "scheduleId",
        "deviceId",
        "days",
        "day",
        "startTime",
        "endTime",
        "fanSpeed",
        "isActive",
        "timezone",
    ];
    let list = app.get(&format!("/api/schedule/{DEVICE}")).await;
    assert_eq!(list.json["count"], 1, "{}", list.text);
    has(&list.data()[0], &schedule_fields, "schedule list");
    let detail = app
        .get(&format!("/api/schedule/detail/{schedule_id}"))
        .await;
    has(detail.data(), &schedule_fields, "schedule detail");
    let updated = app
        .put(
            &format!("/api/schedule/{schedule_id}"),
            r#"{"day":"Wednesday","startTime":"10:00","endTime":"18:00","fanSpeed":4,"isActive":true}"#,
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.data()["fanSpeed"], 4);
    assert_eq!(updated.data()["day"], "Wednesday");
    let deleted = app.delete(&format!("/api/schedule/{schedule_id}")).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.text);

    // Start a pre-clean in each of the three body shapes of PRODUCT.md §5, then its status.
    for body in [
        r#"{"deviceId":"AIR_PURIFIER_001","fanMode":"PRE_CLEAN","minutes":1,"seconds":30}"#,
        r#"{"deviceId":"AIR_PURIFIER_001","fanMode":"MANUAL","fanSpeed":4,"minutes":10}"#,
        r#"{"deviceId":"AIR_PURIFIER_001","fanMode":5,"duration":10}"#,
    ] {
        let started = app.post("/api/preclean", body).await;
        assert!(started.status.is_success(), "{body}: {}", started.text);
        has(
            started.data(),
            &["preCleanId", "willEndAt"],
            "pre-clean start",
        );
        app.ack_published().await;
    }
    let status = app.get(&format!("/api/preclean/status/{DEVICE}")).await;
    has(
        status.data(),
        &["isActive", "remainingSeconds", "willEndAt", "targetFanMode"],
        "pre-clean status",
    );
    assert_eq!(status.data()["isActive"], true);
    assert_eq!(status.data()["remainingSeconds"], 600);
    app.advance(std::time::Duration::from_secs(1)).await;
    let cancelled = app
        .post("/api/preclean/cancel", r#"{"deviceId":"AIR_PURIFIER_001"}"#)
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.text);
    app.ack_published().await;
    assert_eq!(
        app.get(&format!("/api/preclean/status/{DEVICE}"))
            .await
            .data()["isActive"],
        false
    );

    // Power on and off, fan speed.
    for (path, body) in [
        (
            "/api/control/power",
            r#"{"deviceId":"AIR_PURIFIER_001","powerOn":true}"#,
        ),
        (
            "/api/control/power",
            r#"{"deviceId":"AIR_PURIFIER_001","powerOn":false}"#,
        ),
        (
            "/api/control/fan",
            r#"{"deviceId":"AIR_PURIFIER_001","fanSpeed":3}"#,
        ),
    ] {
        app.advance(std::time::Duration::from_secs(1)).await;
        let sent = app.post(path, body).await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{body}: {}", sent.text);
        has(sent.data(), &["commandId", "status"], "control");
        assert_eq!(app.ack_published().await, 1, "the device acks {body}");
    }

    // Data, latest, state, commands, statistics, list all.
    let data = app
        .get(&format!("/api/device/{DEVICE}/data?limit=10"))
        .await;
    assert_eq!(data.json["count"], 1, "{}", data.text);
    let reading_fields = [
        "deviceId",
        "timestamp",
        "pm1",
        "pm25",
        "pm10",
        "temperature",
        "humidity",
        "voc",
        "sound",
        "networkStrength",
        "fanSpeed",
        "powerOn",
        "receivedAt",
    ];
    has(&data.data()[0], &reading_fields, "data");
    let latest = app.get(&format!("/api/device/{DEVICE}/latest")).await;
    has(latest.data(), &reading_fields, "latest");
    let state = app.get(&format!("/api/device/{DEVICE}/state")).await;
    has(
        state.data(),
        &[
            "deviceId",
            "currentFanSpeed",
            "powerOn",
            "isOnline",
            "lastSeen",
        ],
        "state",
    );
    assert_eq!(state.data()["currentFanSpeed"], 3);
    assert_eq!(state.data()["powerOn"], true);
    let commands = app.get(&format!("/api/device/{DEVICE}/commands")).await;
    assert!(
        commands.json["count"].as_u64().unwrap() >= 3,
        "{}",
        commands.text
    );
    for command in commands.data().as_array().unwrap() {
        has(
            command,
            &[
                "commandId",
                "deviceId",
                "action",
                "value",
                "source",
                "status",
                "sentAt",
                "acknowledgedAt",
                "retryCount",
                "attempts",
            ],
            "command",
        );
    }
    let stats = app
        .get(&format!("/api/device/{DEVICE}/statistics?hours=24"))
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text);
    let all = app.get("/api/device/list/all").await;
    assert_eq!(all.json["count"], 1, "{}", all.text);
    assert_eq!(all.data()[0]["deviceId"], DEVICE);
}
