//! End to end: the built `praan-server` binary as a child process (embedded broker, temp SQLite,
//! short timeouts via flags), driven over real MQTT by simulated devices and over real HTTP.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::time::Duration;

use support::{Devices, Server, wait_until};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let health = server.get("/health").await;
    assert_eq!(health.status, 200, "{}", health.body);
    assert_eq!(health.json["status"], "ok");
    assert_eq!(health.json["services"]["store"], "connected");
    assert_eq!(health.json["services"]["mqtt"], "connected");
    assert_eq!(server.get("/readyz").await.status, 200);
    let devices = Devices::start(&server.broker_url(), 1, "METRIC_", 2);
    wait_until("a reading counted in /metrics", WAIT, || async {
        let m = server.get("/metrics").await;
        m.status == 200 && m.body.contains("praan_ingest_readings_total")
    })
    .await;
    devices.stop().await;
    let index = server.get("/").await;
    assert_eq!(index.status, 200);
    assert!(index.json["data"]["routes"].as_array().unwrap().len() > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reading_is_stored_and_visible_through_latest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let devices = Devices::start(&server.broker_url(), 1, "LATEST_", 2);
    wait_until("the device's latest reading", WAIT, || async {
        let r = server.get("/api/device/LATEST_0001/latest").await;
        r.status == 200 && r.json["data"]["deviceId"] == "LATEST_0001"
    })
    .await;
    let r = server.get("/api/device/LATEST_0001/latest").await;
    assert!(r.json["data"]["pm25"].is_number(), "{}", r.body);
    assert!(r.json["data"]["receivedAt"].is_string(), "{}", r.body);
    devices.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_and_fan_commands_are_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let devices = Devices::start(&server.broker_url(), 1, "CMD_", 2);
    wait_until("the device registered", WAIT, || async {
        server.get("/api/device/CMD_0001/latest").await.status == 200
    })
    .await;
    let fan = server
        .post(
            "/api/control/fan?wait=true",
            r#"{"deviceId":"CMD_0001","fanSpeed":4}"#,
        )
        .await;
    assert_eq!(fan.status, 200, "{}", fan.body);
    assert_eq!(fan.json["data"]["status"], "acknowledged");
    let off = server
        .post(
            "/api/control/power?wait=true",
            r#"{"deviceId":"CMD_0001","powerOn":false}"#,
        )
        .await;
    assert_eq!(off.json["data"]["status"], "acknowledged", "{}", off.body);
    let on = server
        .post(
            "/api/control/power?wait=true",
            r#"{"deviceId":"CMD_0001","powerOn":true}"#,
        )
        .await;
    assert_eq!(on.json["data"]["status"], "acknowledged", "{}", on.body);
    wait_until("the state shows the device on at speed 4", WAIT, || async {
        let s = server.get("/api/device/CMD_0001/state").await;
        s.json["data"]["powerOn"] == true && s.json["data"]["currentFanSpeed"] == 4
    })
    .await;
    devices.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_command_times_out_after_max_retries_plus_one_publishes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    // Registered by one reading, then gone: nobody answers its commands.
    let devices = Devices::start(&server.broker_url(), 1, "SILENT_", 2);
    wait_until("the device registered", WAIT, || async {
        server.get("/api/device/SILENT_0001/latest").await.status == 200
    })
    .await;
    devices.stop().await;
    let id = server.command_fan("SILENT_0001", 3).await;
    wait_until("the command timed out", WAIT, || async {
        server.get(&format!("/api/commands/{id}")).await.json["data"]["status"] == "timeout"
    })
    .await;
    let command = server.get(&format!("/api/commands/{id}")).await;
    // --max-retries=2: three publishes.
    assert_eq!(
        command.json["data"]["attempts"].as_array().unwrap().len(),
        3,
        "{}",
        command.body
    );
    assert_eq!(command.json["data"]["retryCount"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly_with_nothing_lost() {
    shuts_down_cleanly_with_nothing_lost(&[]).await;
}

/// The same through two data sessions besides the control session (`MqttPool`): every reading
/// is stored once, whichever session delivered it, and the shutdown drains them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_data_sessions_shuts_down_cleanly_with_nothing_lost() {
    shuts_down_cleanly_with_nothing_lost(&["--mqtt-data-sessions", "2"]).await;
}

async fn shuts_down_cleanly_with_nothing_lost(args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), args).await;
    let devices = Devices::start(&server.broker_url(), 3, "TERM_", 2);
    wait_until("readings from every device", WAIT, || async {
        let mut all = true;
        for n in 1..=3 {
            all &= server
                .get(&format!("/api/device/TERM_000{n}/latest"))
                .await
                .status
                == 200;
        }
        all
    })
    .await;
    let counters = devices.stop().await;
    assert_eq!(counters.readings_dropped, 0, "{counters:?}");
    // The embedded broker keeps nothing across a stop (rumqttd has no persistence), so wait
    // until the server has taken everything the devices published, then stop it.
    wait_until("every published reading stored", WAIT, || async {
        stored(&server).await == counters.readings_published
    })
    .await;
    let status = server.terminate().await;
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    assert!(server.log().contains("stopped cleanly"), "{}", server.log());

    // After a restart every reading is still there, once.
    server.restart().await;
    assert_eq!(stored(&server).await, counters.readings_published);
}

/// How many readings of TERM_0001…3 the server has stored.
async fn stored(server: &Server) -> u64 {
    let mut n = 0;
    for d in 1..=3 {
        let page = server
            .get(&format!("/api/device/TERM_000{d}/data?limit=1000"))
            .await;
        n += page.json["data"].as_array().map_or(0, Vec::len) as u64;
    }
    n
}

/// The commands of `device` whose source is `source`.
async fn commands_from(server: &Server, device: &str, source: &str) -> Vec<serde_json::Value> {
    let list = server
        .get(&format!("/api/device/{device}/commands?limit=100"))
        .await;
    list.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", list.body))
        .iter()
        .filter(|c| c["source"] == source)
        .cloned()
        .collect()
}

async fn wait_for_speed(server: &Server, device: &str, speed: u8, what: &str) {
    wait_until(what, WAIT, || async {
        let s = server.get(&format!("/api/device/{device}/state")).await;
        s.json["data"]["currentFanSpeed"] == speed
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_second_pre_clean_restores_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let devices = Devices::start(&server.broker_url(), 1, "PRE_", 2);
    wait_for_speed(&server, "PRE_0001", 2, "the device reported speed 2").await;
    let started = server
        .post(
            "/api/preclean",
            r#"{"deviceId":"PRE_0001","fanMode":"PRE_CLEAN","minutes":0,"seconds":2}"#,
        )
        .await;
    assert!(
        started.status == 200 || started.status == 201,
        "{}",
        started.body
    );
    assert!(started.json["data"]["preCleanId"].is_string());
    wait_for_speed(&server, "PRE_0001", 5, "the pre-clean's speed 5").await;
    wait_for_speed(&server, "PRE_0001", 2, "speed 2 restored").await;
    let status = server.get("/api/preclean/status/PRE_0001").await;
    assert_eq!(status.json["data"]["isActive"], false, "{}", status.body);
    assert_eq!(commands_from(&server, "PRE_0001", "restore").await.len(), 1);
    devices.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_covering_now_applies_at_once_and_deleting_it_turns_the_device_off() {
    use praan_core::clock::{Clock, SystemClock};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]).await;
    let devices = Devices::start(&server.broker_url(), 1, "SCHED_", 1);
    wait_for_speed(&server, "SCHED_0001", 1, "the device reported speed 1").await;
    let now = SystemClock.now().to_datetime();
    let hhmm = |d: chrono::DateTime<chrono::Utc>| d.format("%H:%M").to_string();
    let body = format!(
        r#"{{"deviceId":"SCHED_0001","recurrenceType":"daily","startTime":"{}","endTime":"{}","fanSpeed":4,"timezone":"UTC"}}"#,
        hhmm(now - chrono::Duration::hours(1)),
        hhmm(now + chrono::Duration::hours(1)),
    );
    let created = server.post("/api/schedule", &body).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json["data"]["scheduleId"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_for_speed(
        &server,
        "SCHED_0001",
        4,
        "the schedule's speed 4 applied at once",
    )
    .await;
    let deleted = server
        .request("DELETE", &format!("/api/schedule/{id}"), None)
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    wait_until("the device turned off", WAIT, || async {
        let s = server.get("/api/device/SCHED_0001/state").await;
        s.json["data"]["powerOn"] == false
    })
    .await;
    devices.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_pre_clean_and_restart_after_its_end_restores_exactly_once() {
    use praan_core::clock::{Clock, SystemClock};
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &[]).await;
    let devices = Devices::start(&server.broker_url(), 1, "KILL_", 2);
    wait_for_speed(&server, "KILL_0001", 2, "the device reported speed 2").await;
    let started = server
        .post(
            "/api/preclean",
            r#"{"deviceId":"KILL_0001","fanMode":5,"minutes":0,"seconds":2}"#,
        )
        .await;
    let ends = praan_core::domain::Timestamp::parse_rfc3339(
        started.json["data"]["willEndAt"]
            .as_str()
            .unwrap_or_else(|| panic!("{}", started.body)),
    )
    .unwrap();
    wait_for_speed(&server, "KILL_0001", 5, "the pre-clean's speed 5").await;

    server.kill9();
    wait_until("the pre-clean's end time passed", WAIT, || async {
        SystemClock.now() > ends.saturating_add(Duration::from_millis(500))
    })
    .await;
    server.restart().await;
    wait_for_speed(
        &server,
        "KILL_0001",
        2,
        "speed 2 restored after the restart",
    )
    .await;
    let restores = commands_from(&server, "KILL_0001", "restore").await;
    assert_eq!(restores.len(), 1, "{restores:?}");
    assert_eq!(restores[0]["status"], "acknowledged");
    let status = server.get("/api/preclean/status/KILL_0001").await;
    assert_eq!(status.json["data"]["isActive"], false, "{}", status.body);
    devices.stop().await;
}
