//! Device data routes: readings paged with a cursor, the latest reading, the device's state
//! (reported, presence, effective with source, pre-clean), every device's state, statistics with
//! buckets, the schedule timeline — and their 400/404 errors.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::{collections::BTreeSet, time::Duration};

use axum::http::StatusCode;
use praan_core::{
    domain::{DEFAULT_MAX_PRE_CLEAN, FanMode, PreCleanDuration, RuleSpec, Timezone},
    engine::PreCleanRequest,
    store::TelemetryRepo,
};
use serde_json::Value;
use support::{App, START, dev, ts};

/// A reading's wire payload at `at` with `pm25`.
fn payload(device: &str, at: &str, pm25: f64) -> String {
    format!(
        r#"{{"deviceId":"{device}","timestamp":"{at}","networkStrength":84.12,"fanSpeed":3,
        "powerOn":true,"temperature":25.4,"humidity":61.02,"pm1":14.7,"pm25":{pm25},"pm10":48.9,
        "sound":44.3}}"#
    )
}

/// The instant `minutes` before START, as RFC 3339 with milliseconds.
fn minutes_before_start(minutes: u64) -> String {
    ts(START)
        .saturating_sub(Duration::from_secs(minutes * 60))
        .to_rfc3339()
}

/// Stores readings 1..=n minutes before START.
async fn readings(app: &App, device: &str, n: u64) {
    for i in 1..=n {
        app.reading(device, &payload(device, &minutes_before_start(i), i as f64))
            .await;
    }
}

/// Follows `nextCursor` from `first` (a path without a cursor) and returns every timestamp seen,
/// in order, asserting each page's envelope.
async fn all_pages(app: &App, first: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut path = first.to_owned();
    for _ in 0..100 {
        let r = app.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["success"], true);
        let data = r.json["data"].as_array().unwrap();
        assert_eq!(r.json["count"], data.len());
        seen.extend(
            data.iter()
                .map(|d| d["timestamp"].as_str().unwrap().to_owned()),
        );
        match &r.json["nextCursor"] {
            Value::Null => return seen,
            Value::String(c) => {
                let sep = if first.contains('?') { '&' } else { '?' };
                path = format!("{first}{sep}cursor={c}");
            }
            other => panic!("nextCursor: {other}"),
        }
    }
    panic!("more than 100 pages");
}

#[tokio::test]
async fn paging_with_the_cursor_returns_every_reading_exactly_once_newest_first() {
    let app = App::new(&["dev-1"]).await;
    readings(&app, "dev-1", 25).await;
    let seen = all_pages(&app, "/api/device/dev-1/data?limit=10").await;
    assert_eq!(seen.len(), 25, "{seen:?}");
    let distinct: BTreeSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 25, "no reading twice");
    let expected: Vec<String> = (1..=25).map(minutes_before_start).collect();
    assert_eq!(seen, expected, "newest first");

    // The same inside a range: [START-20m, START-5m) holds 15 readings.
    let first = format!(
        "/api/device/dev-1/data?limit=4&startDate={}&endDate={}",
        minutes_before_start(20),
        minutes_before_start(5)
    );
    let seen = all_pages(&app, &first).await;
    let expected: Vec<String> = (6..=20).map(minutes_before_start).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn data_defaults_to_100_readings_and_says_where_the_next_page_starts() {
    let app = App::new(&["dev-1"]).await;
    readings(&app, "dev-1", 120).await;
    let r = app.get("/api/device/dev-1/data").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["count"], 100);
    assert_eq!(r.json["data"].as_array().unwrap().len(), 100);
    assert!(r.json["nextCursor"].is_string());
    let r = app.get("/api/device/dev-1/data?limit=1000").await;
    assert_eq!(r.json["count"], 120);
    assert_eq!(r.json["nextCursor"], Value::Null);
    // A device without readings: an empty list.
    let app = App::new(&["quiet"]).await;
    let r = app.get("/api/device/quiet/data").await;
    assert_eq!(r.json["count"], 0);
    assert_eq!(r.json["data"], serde_json::json!([]));
}

#[tokio::test]
async fn readings_use_the_wire_field_names_plus_received_at() {
    let app = App::new(&["AIR_PURIFIER_001"]).await;
    app.reading(
        "AIR_PURIFIER_001",
        r#"{"deviceId":"AIR_PURIFIER_001","timestamp":"2026-11-28T08:00:00.000Z","networkStrength":84.12,
         "fanSpeed":3,"powerOn":true,"temperature":25.4,"humidity":61.02,"pm1":14.7,"pm25":36.1,
         "pm10":48.9,"sound":44.3,"voc":31.5}"#,
    )
    .await;
    let latest = app.get("/api/device/AIR_PURIFIER_001/latest").await;
    assert_eq!(latest.status, StatusCode::OK, "{}", latest.text);
    let data = latest.data();
    let expected = serde_json::json!({
        "deviceId": "AIR_PURIFIER_001", "timestamp": "2026-11-28T08:00:00.000Z",
        "receivedAt": "2026-11-28T09:00:00.000Z", "networkStrength": 84.12, "fanSpeed": 3,
        "powerOn": true, "temperature": 25.4, "humidity": 61.02, "pm1": 14.7, "pm25": 36.1,
        "pm10": 48.9, "sound": 44.3, "voc": 31.5
    });
    assert_eq!(data, &expected);
    // The same as the domain's own JSON of the stored reading.
    let stored = app
        .store
        .latest_reading(&dev("AIR_PURIFIER_001"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data, &serde_json::to_value(&stored).unwrap());
    let page = app.get("/api/device/AIR_PURIFIER_001/data").await;
    assert_eq!(page.json["data"][0], expected);

    // Metrics a device left out are left out.
    app.reading(
        "AIR_PURIFIER_001",
        r#"{"timestamp":"2026-11-28T08:30:00Z","pm25":5}"#,
    )
    .await;
    let latest = app.get("/api/device/AIR_PURIFIER_001/latest").await;
    let keys: BTreeSet<&str> = latest
        .data()
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["deviceId", "timestamp", "receivedAt", "pm25"])
    );
}

#[tokio::test]
async fn latest_is_404_before_the_first_reading() {
    let app = App::new(&["dev-1"]).await;
    let r = app.get("/api/device/dev-1/latest").await;
    r.assert_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(r.json["details"]["entity"], "reading");
}

#[tokio::test]
async fn dates_are_rfc3339_with_any_offset_and_the_range_is_half_open() {
    let app = App::new(&["dev-1"]).await;
    readings(&app, "dev-1", 10).await;
    // START-6m .. START-2m in +05:30: `+` encoded, and unencoded (decoded as a space).
    let start = "2026-11-28T14:24:00%2B05:30";
    let end = "2026-11-28T14:28:00+05:30";
    let r = app
        .get(&format!(
            "/api/device/dev-1/data?startDate={start}&endDate={end}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let got: Vec<&str> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["timestamp"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (3..=6).map(minutes_before_start).collect();
    assert_eq!(got, expected, "startDate inclusive, endDate exclusive");
}

#[tokio::test]
async fn data_parameters_are_strict_and_errors_name_the_field() {
    let app = App::new(&["dev-1"]).await;
    let cases = [
        ("limit=abc", "limit"),
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("limit=1001", "limit"),
        ("limit=-1", "limit"),
        ("limit=2.5", "limit"),
        ("limit=", "limit"),
        ("startDate=yesterday", "startDate"),
        ("startDate=2026-11-28", "startDate"),
        ("endDate=2026-11-28T25:00:00Z", "endDate"),
        (
            "startDate=2026-11-28T09:00:00Z&endDate=2026-11-28T08:00:00Z",
            "endDate",
        ),
        (
            "startDate=2026-11-28T09:00:00Z&endDate=2026-11-28T09:00:00Z",
            "endDate",
        ),
        ("cursor=abc", "cursor"),
        ("cursor=r1.", "cursor"),
    ];
    for (query, field) in cases {
        let r = app.get(&format!("/api/device/dev-1/data?{query}")).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{query}: {}", r.text);
    }
    // A repeated parameter is refused too, by name.
    let r = app.get("/api/device/dev-1/data?limit=5&limit=6").await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "limit", "{}", r.text);
}

#[tokio::test]
async fn every_device_route_answers_400_for_a_bad_id_and_404_for_an_unknown_device() {
    let app = App::new(&["dev-1"]).await;
    for tail in [
        "data",
        "latest",
        "state",
        "statistics",
        "timeline",
        "commands",
    ] {
        let r = app.get(&format!("/api/device/bad%20id!/{tail}")).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], "deviceId", "{tail}");
        let r = app.get(&format!("/api/device/ghost/{tail}")).await;
        r.assert_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(r.json["details"]["entity"], "device", "{tail}");
        assert_eq!(r.json["details"]["id"], "ghost", "{tail}");
    }
}

#[tokio::test]
async fn state_reflects_an_acked_fan_command_presence_and_silence() {
    let mut app = App::new(&["dev-1"]).await;
    let before = app.get("/api/device/dev-1/state").await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.text);
    let data = before.data();
    assert_eq!(data["deviceId"], "dev-1");
    assert_eq!(data["currentFanSpeed"], Value::Null);
    assert_eq!(data["powerOn"], Value::Null);
    assert_eq!(data["isOnline"], false);
    assert_eq!(data["lastSeen"], Value::Null);
    assert_eq!(data["effective"], Value::Null, "unmanaged");
    assert_eq!(data["device"]["type"], "air_purifier");

    let sent = app
        .post("/api/control/fan", r#"{"deviceId":"dev-1","fanSpeed":3}"#)
        .await;
    let command_id = sent.data()["commandId"].as_str().unwrap().to_owned();
    assert_eq!(app.ack_published().await, 1);

    let after = app.get("/api/device/dev-1/state").await;
    let data = after.data();
    assert_eq!(data["currentFanSpeed"], 3);
    assert_eq!(data["powerOn"], true);
    assert_eq!(data["isOnline"], true);
    assert_eq!(data["lastSeen"], "2026-11-28T09:00:00.000Z");
    assert_eq!(data["reported"]["fanSpeed"], 3);
    assert_eq!(data["reported"]["powerOn"], true);
    assert_eq!(data["presence"]["online"], true);
    assert_eq!(data["presence"]["reason"], "message");
    assert_eq!(data["effective"]["fanSpeed"], 3);
    assert_eq!(data["effective"]["powerOn"], true);
    assert_eq!(data["effective"]["source"]["kind"], "manual");
    assert_eq!(data["effective"]["source"]["commandId"], command_id);
    assert_eq!(data["base"]["source"]["kind"], "manual");
    assert_eq!(data["preCleanActive"], false);
    assert_eq!(data["activePreClean"], Value::Null);

    // Silent for longer than offlineAfter (5 min): offline, by silence.
    app.advance(Duration::from_secs(5 * 60 + 1)).await;
    let silent = app.get("/api/device/dev-1/state").await;
    let data = silent.data();
    assert_eq!(data["isOnline"], false);
    assert_eq!(data["presence"]["reason"], "silence");
    assert_eq!(data["currentFanSpeed"], 3, "the last report is kept");
}

#[tokio::test]
async fn state_shows_an_active_pre_clean_as_the_effective_source_and_its_restore_base() {
    let mut app = App::new(&["dev-1"]).await;
    app.post("/api/control/fan", r#"{"deviceId":"dev-1","fanSpeed":2}"#)
        .await;
    app.ack_published().await;
    // (a second later, so the pre-clean's ack is a newer report than the first one's)
    app.advance(Duration::from_secs(1)).await;
    let started = app
        .engine
        .start_pre_clean(PreCleanRequest {
            device_id: dev("dev-1"),
            mode: FanMode::PreClean,
            duration: PreCleanDuration::new(600, DEFAULT_MAX_PRE_CLEAN).unwrap(),
        })
        .await
        .unwrap();
    app.ack_published().await;
    app.advance(Duration::from_secs(60)).await;

    let r = app.get("/api/device/dev-1/state").await;
    let data = r.data();
    assert_eq!(data["preCleanActive"], true);
    assert_eq!(data["effective"]["fanSpeed"], 5);
    assert_eq!(data["effective"]["source"]["kind"], "pre_clean");
    assert_eq!(
        data["effective"]["source"]["preCleanId"],
        started.pre_clean.pre_clean_id.to_string()
    );
    assert_eq!(data["base"]["fanSpeed"], 2, "what it restores to");
    let active = &data["activePreClean"];
    assert_eq!(
        active["preCleanId"],
        started.pre_clean.pre_clean_id.to_string()
    );
    assert_eq!(active["targetFanMode"], "PRE_CLEAN");
    assert_eq!(active["target"]["fanSpeed"], 5);
    assert_eq!(active["remainingSeconds"], 540);
    assert_eq!(data["currentFanSpeed"], 5);

    app.advance(Duration::from_secs(541)).await;
    app.ack_published().await;
    let r = app.get("/api/device/dev-1/state").await;
    let data = r.data();
    assert_eq!(data["preCleanActive"], false);
    assert_eq!(data["activePreClean"], Value::Null);
    assert_eq!(data["effective"]["fanSpeed"], 2);
    assert_eq!(data["currentFanSpeed"], 2);
}

#[tokio::test]
async fn list_all_returns_every_device_with_its_state() {
    let mut app = App::new(&["a-1", "b-2", "c-3"]).await;
    app.reading("b-2", &payload("b-2", "2026-11-28T08:00:00Z", 12.0))
        .await;
    app.post(
        "/api/control/power",
        r#"{"deviceId":"c-3","powerOn":false}"#,
    )
    .await;
    app.ack_published().await;
    let r = app.get("/api/device/list/all").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json["count"], 3);
    let data = r.json["data"].as_array().unwrap();
    let ids: Vec<&str> = data
        .iter()
        .map(|d| d["deviceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a-1", "b-2", "c-3"]);
    assert_eq!(data[0]["currentFanSpeed"], Value::Null);
    assert_eq!(data[0]["latestReading"], Value::Null);
    assert_eq!(data[1]["latestReading"]["pm25"], 12.0);
    assert_eq!(data[1]["currentFanSpeed"], 3, "reported by the reading");
    assert_eq!(data[1]["powerOn"], true);
    assert_eq!(data[2]["powerOn"], false);
    assert_eq!(data[2]["isOnline"], true);
    assert_eq!(data[2]["effective"]["powerOn"], false);
    assert_eq!(data[2]["effective"]["source"]["kind"], "manual");
    // The same object as the single-device route.
    let one = app.get("/api/device/c-3/state").await;
    assert_eq!(one.data(), &data[2]);
}

#[tokio::test]
async fn statistics_cover_every_metric_over_a_range_with_a_bucketed_series() {
    let app = App::new(&["dev-1"]).await;
    for (at, pm25) in [
        ("2026-11-28T07:10:00Z", 10.0),
        ("2026-11-28T07:20:00Z", 20.0),
        ("2026-11-28T08:10:00Z", 30.0),
        ("2026-11-28T08:50:00Z", 50.0),
        ("2026-11-27T08:50:00Z", 1000.0), // outside every range below
    ] {
        app.reading("dev-1", &payload("dev-1", at, pm25)).await;
    }
    let r = app
        .get(
            "/api/device/dev-1/statistics?startDate=2026-11-28T07:00:00Z\
             &endDate=2026-11-28T09:00:00Z&bucket=1h",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let data = r.data();
    assert_eq!(data["deviceId"], "dev-1");
    assert_eq!(data["start"], "2026-11-28T07:00:00.000Z");
    assert_eq!(data["end"], "2026-11-28T09:00:00.000Z");
    assert_eq!(data["count"], 4);
    assert_eq!(data["bucket"], "1h");
    let pm25 = &data["metrics"]["pm25"];
    assert_eq!(pm25["count"], 4);
    assert_eq!(pm25["min"], 10.0);
    assert_eq!(pm25["max"], 50.0);
    assert_eq!(pm25["avg"], 27.5);
    for metric in [
        "networkStrength",
        "temperature",
        "humidity",
        "pm1",
        "pm25",
        "pm10",
        "sound",
        "voc",
    ] {
        assert!(data["metrics"][metric].is_object(), "{metric}");
    }
    assert_eq!(data["metrics"]["temperature"]["avg"], 25.4);
    assert_eq!(data["metrics"]["voc"]["count"], 0, "no reading carried voc");
    assert_eq!(data["metrics"]["voc"]["avg"], Value::Null);
    let buckets = data["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2);
    assert_eq!(buckets[0]["start"], "2026-11-28T07:00:00.000Z");
    assert_eq!(buckets[0]["end"], "2026-11-28T08:00:00.000Z");
    assert_eq!(buckets[0]["count"], 2);
    assert_eq!(buckets[0]["metrics"]["pm25"]["avg"], 15.0);
    assert_eq!(buckets[1]["start"], "2026-11-28T08:00:00.000Z");
    assert_eq!(buckets[1]["metrics"]["pm25"]["min"], 30.0);
    assert_eq!(buckets[1]["metrics"]["pm25"]["max"], 50.0);

    // 5-minute buckets: only the non-empty ones, oldest first.
    let r = app
        .get("/api/device/dev-1/statistics?startDate=2026-11-28T07:00:00Z&bucket=5m")
        .await;
    let starts: Vec<&str> = r.data()["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2026-11-28T07:10:00.000Z",
            "2026-11-28T07:20:00.000Z",
            "2026-11-28T08:10:00.000Z",
            "2026-11-28T08:50:00.000Z"
        ]
    );
    assert_eq!(r.data()["end"], "2026-11-28T09:00:00.000Z", "endDate: now");

    // `hours`: the last hours up to now (09:00); no bucket, no series.
    let r = app.get("/api/device/dev-1/statistics?hours=1").await;
    assert_eq!(r.data()["count"], 2);
    assert_eq!(r.data()["start"], "2026-11-28T08:00:00.000Z");
    assert_eq!(r.data()["buckets"], Value::Null);
    // Default: the last 24 hours.
    let r = app.get("/api/device/dev-1/statistics").await;
    assert_eq!(r.data()["count"], 4);
    let r = app.get("/api/device/dev-1/statistics?hours=48").await;
    assert_eq!(r.data()["count"], 5);
}

#[tokio::test]
async fn statistics_parameters_are_strict_and_bounded() {
    let app = App::new(&["dev-1"]).await;
    let cases = [
        ("hours=abc", "hours"),
        ("hours=0", "hours"),
        ("hours=1.5", "hours"),
        ("hours=8785", "hours"),
        ("hours=2&startDate=2026-11-28T07:00:00Z", "hours"),
        ("hours=2&endDate=2026-11-28T07:00:00Z", "hours"),
        ("endDate=2026-11-28T07:00:00Z", "startDate"),
        ("startDate=nope", "startDate"),
        (
            "startDate=2026-11-28T08:00:00Z&endDate=2026-11-28T07:00:00Z",
            "endDate",
        ),
        (
            "startDate=2025-01-01T00:00:00Z&endDate=2026-11-28T07:00:00Z",
            "endDate",
        ),
        ("bucket=5x", "bucket"),
        ("bucket=0m", "bucket"),
        ("bucket=32d", "bucket"),
        ("bucket=1.5h", "bucket"),
        ("hours=24&bucket=1s", "bucket"),
    ];
    for (query, field) in cases {
        let r = app
            .get(&format!("/api/device/dev-1/statistics?{query}"))
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{query}: {}", r.text);
    }
    // The bounds themselves are accepted.
    for query in [
        "hours=8784",
        "hours=24&bucket=10s",
        "startDate=2025-11-28T09:00:00Z&endDate=2026-11-28T09:00:00Z&bucket=1h",
    ] {
        let r = app
            .get(&format!("/api/device/dev-1/statistics?{query}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
    }
}

#[tokio::test]
async fn the_timeline_previews_what_the_schedules_will_do() {
    let app = App::new(&["dev-1"]).await;
    let rule = serde_json::from_str::<RuleSpec>(
        r#"{"days":["Monday"],"startTime":"09:00","endTime":"17:00","fanSpeed":3}"#,
    )
    .unwrap()
    .build(Timezone::UTC)
    .unwrap();
    let saved = app
        .engine
        .create_schedule(dev("dev-1"), rule, true)
        .await
        .unwrap();
    let r = app
        .get("/api/device/dev-1/timeline?from=2026-11-28T00:00:00Z&to=2026-12-05T00:00:00Z")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let data = r.data();
    assert_eq!(data["deviceId"], "dev-1");
    assert_eq!(data["from"], "2026-11-28T00:00:00.000Z");
    assert_eq!(data["to"], "2026-12-05T00:00:00.000Z");
    let intervals = data["intervals"].as_array().unwrap();
    assert_eq!(intervals.len(), 1, "{intervals:?}");
    assert_eq!(intervals[0]["start"], "2026-11-30T09:00:00.000Z");
    assert_eq!(intervals[0]["end"], "2026-11-30T17:00:00.000Z");
    assert_eq!(intervals[0]["fanSpeed"], 3);
    assert_eq!(intervals[0]["powerOn"], true);
    assert_eq!(intervals[0]["source"], "schedule");
    assert_eq!(
        intervals[0]["scheduleId"],
        saved.schedule.schedule_id.to_string()
    );
    assert_eq!(intervals[0]["overlapping"], 1);

    // Defaults: from now, for 7 days.
    let r = app.get("/api/device/dev-1/timeline").await;
    assert_eq!(r.data()["from"], "2026-11-28T09:00:00.000Z");
    assert_eq!(r.data()["to"], "2026-12-05T09:00:00.000Z");
    assert_eq!(r.data()["intervals"].as_array().unwrap().len(), 1);
    // Nothing scheduled in range: no interval.
    let r = app
        .get("/api/device/dev-1/timeline?from=2026-12-01T00:00:00Z&to=2026-12-06T00:00:00Z")
        .await;
    assert_eq!(r.data()["intervals"], serde_json::json!([]));
}

#[tokio::test]
async fn the_timeline_span_is_bounded_and_its_dates_strict() {
    let app = App::new(&["dev-1"]).await;
    let cases = [
        ("from=tomorrow", "from"),
        ("to=2026-11-28", "to"),
        ("from=2026-12-01T00:00:00Z&to=2026-12-01T00:00:00Z", "to"),
        ("from=2026-12-01T00:00:00Z&to=2026-11-30T00:00:00Z", "to"),
        ("from=2026-12-01T00:00:00Z&to=2027-01-02T00:00:00Z", "to"),
        ("to=2026-11-28T08:00:00Z", "to"),
    ];
    for (query, field) in cases {
        let r = app
            .get(&format!("/api/device/dev-1/timeline?{query}"))
            .await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{query}: {}", r.text);
    }
    let r = app
        .get("/api/device/dev-1/timeline?from=2026-12-01T00:00:00Z&to=2027-01-01T00:00:00Z")
        .await;
    assert_eq!(r.status, StatusCode::OK, "31 days exactly: {}", r.text);
}

#[tokio::test]
async fn a_device_named_like_a_static_segment_is_still_reachable() {
    let app = App::new(&["list", "status"]).await;
    assert_eq!(
        app.get("/api/device/list/state").await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/api/devices/status").await.status, StatusCode::OK);
    assert_eq!(
        app.get("/api/devices/status/config").await.status,
        StatusCode::OK
    );
    assert_eq!(app.get("/api/device/list/all").await.json["count"], 2);
}

#[tokio::test]
async fn every_route_of_this_area_is_in_the_openapi_document_with_its_tag() {
    let app = App::new(&[]).await;
    let doc = app.get("/api/openapi.json").await;
    let expected = [
        ("get", "/api/device/{deviceId}/data", "devices"),
        ("get", "/api/device/{deviceId}/latest", "devices"),
        ("get", "/api/device/{deviceId}/state", "devices"),
        ("get", "/api/device/{deviceId}/statistics", "devices"),
        ("get", "/api/device/{deviceId}/timeline", "devices"),
        ("get", "/api/device/list/all", "devices"),
        ("get", "/api/device/{deviceId}/commands", "commands"),
        ("get", "/api/commands/{commandId}", "commands"),
        ("post", "/api/commands/{commandId}/cancel", "commands"),
        ("post", "/api/devices/register", "registry"),
        ("get", "/api/devices", "registry"),
        ("get", "/api/devices/status/active", "registry"),
        ("get", "/api/devices/{deviceId}", "registry"),
        ("put", "/api/devices/{deviceId}", "registry"),
        ("delete", "/api/devices/{deviceId}", "registry"),
        ("get", "/api/devices/{deviceId}/config", "registry"),
    ];
    for (method, path, tag) in expected {
        let op = &doc.json["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert_eq!(op["tags"][0], tag, "{method} {path}");
        assert!(op["summary"].is_string(), "{method} {path} has a summary");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}"
        );
        if path.contains('{') {
            assert!(responses.contains_key("400"), "{method} {path}: 400");
            assert!(responses.contains_key("404"), "{method} {path}: 404");
        }
    }
    let tags: Vec<&str> = doc.json["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for tag in ["devices", "commands", "registry"] {
        assert!(tags.contains(&tag), "{tag} in {tags:?}");
    }
    // The reading schema lists the wire field names.
    let reading = &doc.json["components"]["schemas"]["ReadingDto"]["properties"];
    for field in [
        "deviceId",
        "timestamp",
        "receivedAt",
        "networkStrength",
        "fanSpeed",
        "powerOn",
        "temperature",
        "humidity",
        "pm1",
        "pm25",
        "pm10",
        "sound",
        "voc",
    ] {
        assert!(reading[field].is_object(), "ReadingDto.{field}");
    }
    // Query parameters are documented with their wire names.
    let params: Vec<&str> = doc.json["paths"]["/api/device/{deviceId}/data"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        params,
        ["deviceId", "limit", "startDate", "endDate", "cursor"]
    );
}
