//! Command routes: a device's history (newest first, by status, limited), one command by id, and
//! cancelling one — with their 400/404/409 errors.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::Value;
use support::App;

/// Sends fan speeds 1, 2 and then power off to dev-1, one second apart; returns their ids in
/// order.
async fn three_commands(app: &App) -> Vec<String> {
    let mut ids = Vec::new();
    for body in [
        r#"{"deviceId":"dev-1","fanSpeed":1}"#,
        r#"{"deviceId":"dev-1","fanSpeed":2}"#,
    ] {
        let r = app.post("/api/control/fan", body).await;
        ids.push(r.data()["commandId"].as_str().unwrap().to_owned());
        app.advance(Duration::from_secs(1)).await;
    }
    let r = app
        .post(
            "/api/control/power",
            r#"{"deviceId":"dev-1","powerOn":false}"#,
        )
        .await;
    ids.push(r.data()["commandId"].as_str().unwrap().to_owned());
    ids
}

fn ids_of(r: &support::Resp) -> Vec<String> {
    r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["commandId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_devices_commands_are_listed_newest_first_by_status_and_limited() {
    let app = App::new(&["dev-1", "dev-2"]).await;
    let ids = three_commands(&app).await;
    app.post("/api/control/fan", r#"{"deviceId":"dev-2","fanSpeed":4}"#)
        .await;

    let r = app.get("/api/device/dev-1/commands").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["success"], true);
    assert_eq!(r.json["count"], 3);
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(ids_of(&r), newest_first, "only dev-1's, newest first");
    let newest = &r.json["data"][0];
    assert_eq!(newest["action"], "turnOff");
    assert_eq!(newest["status"], "sent");
    assert_eq!(r.json["data"][1]["status"], "superseded");

    let r = app
        .get("/api/device/dev-1/commands?status=superseded")
        .await;
    assert_eq!(ids_of(&r), [ids[1].clone(), ids[0].clone()]);
    let r = app.get("/api/device/dev-1/commands?status=sent").await;
    assert_eq!(ids_of(&r), [ids[2].clone()]);
    let r = app
        .get("/api/device/dev-1/commands?status=acknowledged")
        .await;
    assert_eq!(r.json["count"], 0);
    let r = app.get("/api/device/dev-1/commands?limit=2").await;
    assert_eq!(ids_of(&r), [ids[2].clone(), ids[1].clone()]);
    let r = app
        .get("/api/device/dev-1/commands?limit=1&status=superseded")
        .await;
    assert_eq!(ids_of(&r), [ids[1].clone()]);
}

#[tokio::test]
async fn one_command_has_the_fields_the_old_clients_read_and_follows_its_lifecycle() {
    let mut app = App::new(&["dev-1"]).await;
    let sent = app
        .post("/api/control/fan", r#"{"deviceId":"dev-1","fanSpeed":3}"#)
        .await;
    let id = sent.data()["commandId"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/api/commands/{id}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let data = r.data();
    assert_eq!(data["commandId"], id);
    assert_eq!(data["deviceId"], "dev-1");
    assert_eq!(data["action"], "setFanSpeed");
    assert_eq!(data["value"], 3);
    assert_eq!(data["source"], "manual");
    assert_eq!(data["status"], "sent");
    assert_eq!(data["sentAt"], "2026-11-28T09:00:00.000Z");
    assert_eq!(data["acknowledgedAt"], Value::Null);
    assert_eq!(data["retryCount"], 0);
    assert_eq!(data["attempts"].as_array().unwrap().len(), 1);

    // A retry after the ack timeout is recorded.
    app.advance(Duration::from_secs(30)).await;
    let r = app.get(&format!("/api/commands/{id}")).await;
    assert_eq!(r.data()["retryCount"], 1);
    assert_eq!(r.data()["attempts"][1]["number"], 2);

    app.ack_published().await;
    let r = app.get(&format!("/api/commands/{id}")).await;
    let data = r.data();
    assert_eq!(data["status"], "acknowledged");
    assert_eq!(data["acknowledgedAt"], "2026-11-28T09:00:30.000Z");
    assert_eq!(data["deviceResponse"]["status"], "success");
}

#[tokio::test]
async fn command_errors_name_the_field_and_unknown_ids_are_404() {
    let app = App::new(&["dev-1"]).await;
    let cases = [
        ("status=bogus", "status"),
        ("status=SENT", "status"),
        ("status=", "status"),
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("limit=-3", "limit"),
    ];
    for (query, field) in cases {
        let r = app
            .get(&format!("/api/device/dev-1/commands?{query}"))
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{query}: {}", r.text);
    }
    app.get("/api/device/ghost/commands")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");

    for bad in [
        "not-a-uuid",
        "0193f1c2",
        "%7B0193f1c2-0000-7000-8000-000000000000%7D",
        "0193f1c200007000800000000000000",
    ] {
        let r = app.get(&format!("/api/commands/{bad}")).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "commandId", "{bad}");
    }
    let r = app
        .get("/api/commands/0193f1c2-0000-7000-8000-000000000000")
        .await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(r.json["details"]["entity"], "command");
}

#[tokio::test]
async fn cancelling_stops_delivery_and_a_finished_command_cannot_be_cancelled() {
    let mut app = App::new(&["dev-1"]).await;
    let sent = app
        .post("/api/control/fan", r#"{"deviceId":"dev-1","fanSpeed":3}"#)
        .await;
    let id = sent.data()["commandId"].as_str().unwrap().to_owned();
    assert_eq!(app.take_published().len(), 1);
    let r = app.post(&format!("/api/commands/{id}/cancel"), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.data()["status"], "cancelled");
    // No retry after the ack timeout.
    app.advance(Duration::from_secs(31)).await;
    assert_eq!(app.take_published().len(), 0);
    // Cancelling again answers it as it is.
    let again = app.post(&format!("/api/commands/{id}/cancel"), "").await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.data()["status"], "cancelled");

    let acked = app
        .post("/api/control/fan", r#"{"deviceId":"dev-1","fanSpeed":2}"#)
        .await;
    let acked_id = acked.data()["commandId"].as_str().unwrap().to_owned();
    app.ack_published().await;
    app.post(&format!("/api/commands/{acked_id}/cancel"), "")
        .await
        .assert_error(StatusCode::CONFLICT, "conflict");

    app.post(
        "/api/commands/0193f1c2-0000-7000-8000-000000000000/cancel",
        "",
    )
    .await
    .assert_error(StatusCode::NOT_FOUND, "not_found");
    let r = app.post("/api/commands/nope/cancel", "").await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "commandId");
}
