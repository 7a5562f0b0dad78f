//! What only a real mongod shows: retention through the TTL indexes, the error mapping for a
//! server that is down, unreachable or refuses the credentials, recovery once the server is back,
//! refusing documents praan did not write, and datetimes stored as BSON datetimes.
//!
//! Needs `PRAAN_TEST_MONGODB_URI` (`scripts/test-services.sh start && source .services/env`),
//! whose server runs the TTL monitor every second (`ttlMonitorSleepSecs=1`); without it the tests
//! that need a server say they were skipped (or fail, under `PRAAN_REQUIRE_BACKENDS=1`). Waits are
//! real time through `SystemClock::sleep_until`, each bounded by a deadline.

mod support;

use std::time::Duration;

use mongodb::bson::{Bson, DateTime, Document, doc};
use praan_core::{
    clock::{Clock, SystemClock},
    domain::{
        Ack, AckStatus, Attempt, Boundary, Command, CommandId, CommandSource, CommandStatus,
        ControlState, Device, DeviceId, DeviceState, FanMode, FanState, IdempotencyKey,
        Instruction, Intent, IntentSource, PerMetric, PreClean, PreCleanDuration, PreCleanId,
        PreCleanStatus, Presence, PresenceReason, Reading, RestoreInfo, RunId, RunOutcome,
        Schedule, ScheduleId, ScheduleRun, Timestamp, WindowKey,
    },
    store::{
        CommandRepo, ControlRepo, DeviceFilter, DeviceRepo, Limit, MaintenanceRepo, PreCleanRepo,
        ReadingQuery, ScheduleRepo, StateRepo, StoreError, TelemetryRepo,
    },
};
use praan_store_mongo::{MongoStore, RetentionConfig, collections};
use support::{
    KEEP_EVERYTHING, MongoFixture, Proxy, id, mongo_uri, reading, server_addr, speed, via_proxy,
};

const SECOND: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn command(device: &str, created: Timestamp, status: CommandStatus) -> Command {
    Command {
        status,
        ..Command::new(
            CommandId::generate(created),
            id(device),
            Instruction::set_fan_speed(speed(3)),
            CommandSource::Manual,
            created,
        )
    }
}

fn pre_clean(device: &str, started: Timestamp, status: PreCleanStatus) -> PreClean {
    let mode = FanMode::Manual(speed(4));
    let ends_at = started.saturating_add(60 * SECOND);
    let finished = status != PreCleanStatus::Active;
    PreClean {
        pre_clean_id: PreCleanId::generate(started),
        device_id: id(device),
        mode,
        target: mode.target(),
        duration_seconds: PreCleanDuration::new(60, 3600 * SECOND).expect("a valid duration"),
        started_at: started,
        ends_at,
        status,
        ended_at: finished.then_some(ends_at),
        command_id: Some(CommandId::generate(started)),
        restore: finished.then_some(RestoreInfo {
            target: Some(FanState::at_speed(speed(2))),
            source: Some(IntentSource::Reported),
            command_id: None,
            at: ends_at,
        }),
        replaced_by: None,
    }
}

fn run(device: &str, at: Timestamp) -> ScheduleRun {
    ScheduleRun {
        run_id: RunId::generate(at),
        schedule_id: ScheduleId::generate(at),
        device_id: id(device),
        boundary: Boundary::Start,
        at,
        outcome: RunOutcome::Applied,
        command_id: None,
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Waits in real time, in steps of `step`, until `done` holds; panics with `what` after
/// `timeout`.
async fn wait_until<F, Fut>(timeout: Duration, step: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(timeout);
    loop {
        if done().await {
            return;
        }
        assert!(
            clock.now() < deadline,
            "{what}: not done within {timeout:?}"
        );
        clock.sleep_until(clock.now().saturating_add(step)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_indexes_expire_old_records_and_keep_the_rest() {
    let Some(uri) = mongo_uri("server") else {
        return;
    };
    let hour = Duration::from_secs(3600);
    let retention = RetentionConfig {
        readings: hour,
        commands: hour,
        runs: hour,
    };
    let fixture = MongoFixture::new(&uri, &retention).await;
    let store = &fixture.store;
    let now = SystemClock.now();
    let old = now.saturating_sub(2 * DAY);
    let recent = now.saturating_sub(Duration::from_secs(60));

    let old_readings: Vec<Reading> = (0..3)
        .map(|i| reading("dev-1", old.saturating_add(i * SECOND), 1.0))
        .collect();
    let fresh = reading("dev-1", recent, 2.0);
    let mut batch = old_readings.clone();
    batch.push(fresh.clone());
    store.append_readings(&batch).await.unwrap();

    let expired_command = command("dev-1", old, CommandStatus::Acknowledged);
    let pending_command = command("dev-1", old.saturating_add(SECOND), CommandStatus::Pending);
    let fresh_command = command("dev-1", recent, CommandStatus::Failed);
    for c in [&expired_command, &pending_command, &fresh_command] {
        store.insert_command(c).await.unwrap();
    }
    let finished = pre_clean("dev-1", old, PreCleanStatus::Completed);
    let active = pre_clean("dev-2", old, PreCleanStatus::Active);
    for p in [&finished, &active] {
        store.insert_pre_clean(p).await.unwrap();
    }
    let old_run = run("dev-1", old);
    let fresh_run = run("dev-1", recent);
    for r in [&old_run, &fresh_run] {
        store.insert_run(r).await.unwrap();
    }

    // The TTL monitor runs every second on the test server; one pass removes everything expired.
    wait_until(
        Duration::from_secs(90),
        Duration::from_millis(250),
        "TTL expiry",
        || async {
            let readings = store
                .readings(&id("dev-1"), &ReadingQuery::default())
                .await
                .unwrap()
                .items;
            let command = store.get_command(expired_command.command_id).await.unwrap();
            let pre_clean = store.get_pre_clean(finished.pre_clean_id).await.unwrap();
            let runs = store
                .runs_for_schedule(old_run.schedule_id, Limit::default())
                .await
                .unwrap();
            readings.len() == 1 && command.is_none() && pre_clean.is_none() && runs.is_empty()
        },
    )
    .await;

    let readings = store
        .readings(&id("dev-1"), &ReadingQuery::default())
        .await
        .unwrap();
    assert_eq!(readings.items, vec![fresh], "the recent reading stays");
    assert_eq!(
        store.get_command(pending_command.command_id).await.unwrap(),
        Some(pending_command),
        "an unfinished command never expires, however old"
    );
    assert_eq!(
        store.get_command(fresh_command.command_id).await.unwrap(),
        Some(fresh_command)
    );
    assert_eq!(
        store.get_pre_clean(active.pre_clean_id).await.unwrap(),
        Some(active),
        "an active pre-clean never expires"
    );
    assert_eq!(
        store
            .runs_for_schedule(fresh_run.schedule_id, Limit::default())
            .await
            .unwrap(),
        vec![fresh_run]
    );
}

/// `expireAfterSeconds` of each TTL index, by collection and index name.
async fn ttls(store: &MongoStore) -> Vec<(String, String, i64)> {
    let mut out = Vec::new();
    for collection in [
        collections::READINGS,
        collections::COMMANDS,
        collections::PRE_CLEANS,
        collections::SCHEDULE_RUNS,
    ] {
        let reply = store
            .database()
            .run_command(doc! { "listIndexes": collection })
            .await
            .expect("listIndexes");
        let batch = reply
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .expect("listIndexes returns a first batch");
        for index in batch.iter().filter_map(Bson::as_document) {
            let seconds = match index.get("expireAfterSeconds") {
                Some(Bson::Int32(s)) => i64::from(*s),
                Some(Bson::Int64(s)) => *s,
                _ => continue,
            };
            let name = index
                .get_str("name")
                .expect("an index has a name")
                .to_owned();
            out.push((collection.to_owned(), name, seconds));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_indexes_is_idempotent_and_follows_a_retention_change() {
    let Some(uri) = mongo_uri("server") else {
        return;
    };
    let fixture = MongoFixture::new(&uri, &RetentionConfig::default()).await;
    let store = &fixture.store;
    let days = |d: i64| d * 86_400;
    let expected = |r: i64, c: i64, s: i64| {
        vec![
            ("readings".to_owned(), "timestamp_ttl".to_owned(), r),
            ("commands".to_owned(), "retention_ttl".to_owned(), c),
            ("pre_cleans".to_owned(), "retention_ttl".to_owned(), c),
            ("schedule_runs".to_owned(), "at_ttl".to_owned(), s),
        ]
    };
    assert_eq!(ttls(store).await, expected(days(90), days(30), days(30)));

    store
        .ensure_indexes(&RetentionConfig::default())
        .await
        .expect("ensure_indexes again changes nothing");
    assert_eq!(ttls(store).await, expected(days(90), days(30), days(30)));

    let changed = RetentionConfig {
        readings: 7 * DAY,
        commands: 14 * DAY,
        runs: Duration::from_millis(1_500),
    };
    store.ensure_indexes(&changed).await.unwrap();
    assert_eq!(ttls(store).await, expected(days(7), days(14), 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_is_unavailable_and_the_same_store_recovers_when_it_is_back() {
    let Some(uri) = mongo_uri("server") else {
        return;
    };
    let mut proxy = Proxy::start(server_addr(&uri).await).await;
    let fixture = MongoFixture::new(&via_proxy(&proxy), &KEEP_EVERYTHING).await;
    let store = &fixture.store;
    let device = Device::auto_registered(id("dev-1"), Timestamp::UNIX_EPOCH);
    store.insert_device(&device).await.unwrap();

    proxy.cut().await;
    let err = store.get_device(&device.device_id).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable { .. }) && err.is_transient(),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "store unavailable while reading device dev-1"
    );
    let err = store
        .append_readings(&[reading("dev-1", Timestamp::UNIX_EPOCH, 1.0)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "store unavailable while inserting 1 readings (writing the device-state watermark)"
    );
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");

    proxy.restore().await;
    wait_until(
        Duration::from_secs(30),
        Duration::from_millis(200),
        "recovery",
        || async {
            match store.ping().await {
                Ok(()) => true,
                Err(e) => {
                    assert!(
                        e.is_transient(),
                        "only Unavailable while reconnecting: {e:?}"
                    );
                    false
                }
            }
        },
    )
    .await;
    assert_eq!(
        store.get_device(&device.device_id).await.unwrap(),
        Some(device)
    );
    let outcome = store
        .append_readings(&[reading("dev-1", Timestamp::UNIX_EPOCH, 1.0)])
        .await
        .unwrap();
    assert_eq!(outcome.inserted, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_dead_port_is_unavailable_naming_the_server() {
    let port = dead_port();
    let uri = format!(
        "mongodb://127.0.0.1:{port}/?directConnection=true&serverSelectionTimeoutMS=500\
         &connectTimeoutMS=500"
    );
    let err = MongoStore::connect(&uri, "praan_unreachable")
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Unavailable { .. }) && err.is_transient(),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "store unavailable while connecting to MongoDB at 127.0.0.1:{port} \
             (database praan_unreachable)"
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_string_the_driver_refuses_is_a_backend_error() {
    let err = MongoStore::connect("postgres://127.0.0.1/praan", "praan")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "store failed while parsing the MongoDB connection string"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_a_backend_error_that_says_so() {
    let Some(uri) = mongo_uri("server") else {
        return;
    };
    let addr = server_addr(&uri).await;
    let with_bad_password = format!(
        "mongodb://praan-nobody:wrong-password@{addr}/?directConnection=true&authSource=admin\
         &serverSelectionTimeoutMS=2000"
    );
    let err = MongoStore::connect(&with_bad_password, "praan")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(
        err.to_string()
            .contains("MongoDB refused the credentials or the permission"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_name_the_rule_that_refused_the_write() {
    let Some(uri) = mongo_uri("server") else {
        return;
    };
    let fixture = MongoFixture::new(&uri, &KEEP_EVERYTHING).await;
    let store = &fixture.store;
    let t = Timestamp::from_unix_millis(1_766_829_600_000).unwrap();
    let key = IdempotencyKey::new("req-1").unwrap();
    let first = Command {
        idempotency_key: Some(key.clone()),
        ..command("dev-1", t, CommandStatus::Pending)
    };
    store.insert_command(&first).await.unwrap();
    let reason = |err: StoreError| match err {
        StoreError::Conflict { reason, .. } => reason.into_owned(),
        other => panic!("expected Conflict, got {other:?}"),
    };
    let again = store.insert_command(&first).await.unwrap_err();
    assert_eq!(reason(again), "id already used");
    let same_key = Command {
        idempotency_key: Some(key),
        ..command("dev-1", t.saturating_add(SECOND), CommandStatus::Pending)
    };
    let err = store.insert_command(&same_key).await.unwrap_err();
    assert_eq!(reason(err), "idempotency key already used for this device");

    store
        .insert_pre_clean(&pre_clean("dev-1", t, PreCleanStatus::Active))
        .await
        .unwrap();
    let second = pre_clean("dev-1", t.saturating_add(SECOND), PreCleanStatus::Active);
    let err = store.insert_pre_clean(&second).await.unwrap_err();
    assert_eq!(reason(err), "the device already has an active pre-clean");
}

/// `append_readings` raises the state with `$max` (MongoDB compares embedded documents field by
/// field; the write-behind's merge must agree, see `state_both_ways`): a reading's timestamp
/// decides, whatever other fields either reading carries, and a
/// report from a reading never replaces a stored report with the same `at` (the first wins), in
/// either order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_rises_by_timestamp_and_the_first_report_of_an_instant_wins() {
    let Some(uri) = mongo_uri("server") else {
        return;
    };
    let fixture = MongoFixture::new(&uri, &KEEP_EVERYTHING).await;
    let store = &fixture.store;
    let t = |ms: i64| Timestamp::from_unix_millis(1_766_829_600_000 + ms).expect("an instant");
    let report = |n: u8, at: Timestamp| praan_core::domain::ReportedState {
        state: FanState::at_speed(speed(n)),
        at,
    };
    let d = id("dev-1");

    // A stored report (an ack's currentState), then a reading of the same instant.
    assert!(
        store
            .record_reported(&d, report(1, t(1_000)))
            .await
            .unwrap()
    );
    store
        .append_readings(&[reading("dev-1", t(1_000), 1.0)])
        .await
        .unwrap();
    let state = state_both_ways(store, &d).await;
    assert_eq!(
        state.reported,
        Some(report(1, t(1_000))),
        "the stored report wins"
    );

    // A report from a reading, then an ack's report of the same instant.
    store
        .append_readings(&[reading("dev-1", t(2_000), 1.0)])
        .await
        .unwrap();
    assert!(
        !store
            .record_reported(&d, report(5, t(2_000)))
            .await
            .unwrap()
    );
    let state = state_both_ways(store, &d).await;
    assert_eq!(
        state.reported,
        Some(report(3, t(2_000))),
        "the reading's report wins"
    );

    // An older reading carrying more fields never replaces the latest one.
    let full = Reading::new(
        d.clone(),
        t(1_500),
        t(9_000),
        PerMetric::from_fn(|_| Some(50.0)),
        Some(speed(5)),
        Some(true),
    )
    .unwrap();
    store.append_readings(&[full]).await.unwrap();
    let state = state_both_ways(store, &d).await;
    assert_eq!(state.latest_reading, Some(reading("dev-1", t(2_000), 1.0)));
    assert_eq!(state.reported, Some(report(3, t(2_000))));
    assert_eq!(state.last_seen, Some(t(9_000)), "its receipt still counts");
}

/// The device's state as read while the write-behind keeps it, checked against the same state
/// read again once written with MongoDB's `$max`: the two must agree.
async fn state_both_ways(store: &MongoStore, d: &DeviceId) -> DeviceState {
    let read = || async {
        store
            .device_state(d)
            .await
            .expect("reading the state")
            .expect("a state")
    };
    let kept = read().await;
    store.flush_states().await.expect("writing the kept states");
    let written = read().await;
    assert_eq!(kept, written, "the kept state and the written one differ");
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_praan_did_not_write_are_corrupt_not_half_read() {
    let Some(uri) = mongo_uri("server") else {
        return;
    };
    let fixture = MongoFixture::new(&uri, &KEEP_EVERYTHING).await;
    let store = &fixture.store;
    let db = store.database();
    // A registry entry written with a string date, as a JSON-minded writer would.
    db.collection::<Document>(collections::DEVICES)
        .insert_one(doc! {
            "_id": "dev-1", "name": "Purifier", "type": "air_purifier",
            "specifications": { "maxFanSpeed": 5 }, "status": "active", "autoRegistered": false,
            "registeredAt": "2025-12-27T10:00:00.000Z", "updatedAt": DateTime::from_millis(0),
        })
        .await
        .unwrap();
    let err = store.get_device(&id("dev-1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let err = store
        .list_devices(&DeviceFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");

    // A reading whose value no device can send.
    db.collection::<Document>(collections::READINGS)
        .insert_one(doc! {
            "deviceId": "dev-2", "timestamp": DateTime::from_millis(1_000),
            "receivedAt": DateTime::from_millis(1_050), "pm25": -5.0,
        })
        .await
        .unwrap();
    let err = store
        .readings(&id("dev-2"), &ReadingQuery::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("decoding a reading"), "{err}");
}

/// Every string value in `value`, with its path.
fn strings(path: &str, value: &Bson, out: &mut Vec<(String, String)>) {
    match value {
        Bson::String(s) => out.push((path.to_owned(), s.clone())),
        Bson::Document(d) => {
            for (k, v) in d {
                strings(&format!("{path}.{k}"), v, out);
            }
        }
        Bson::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                strings(&format!("{path}.{i}"), v, out);
            }
        }
        _ => {}
    }
}

/// How many datetimes `value` holds.
fn datetimes(value: &Bson) -> usize {
    match value {
        Bson::DateTime(_) => 1,
        Bson::Document(d) => d.values().map(datetimes).sum(),
        Bson::Array(a) => a.iter().map(datetimes).sum(),
        _ => 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instant_is_stored_as_a_bson_datetime() {
    let Some(uri) = mongo_uri("server") else {
        return;
    };
    let fixture = MongoFixture::new(&uri, &KEEP_EVERYTHING).await;
    let store = &fixture.store;
    let t = Timestamp::from_unix_millis(1_766_829_600_123).unwrap();
    let later = |ms: u64| t.saturating_add(Duration::from_millis(ms));
    let d = id("dev-1");

    store
        .insert_device(&Device::auto_registered(d.clone(), t))
        .await
        .unwrap();
    store
        .append_readings(&[reading("dev-1", t, 1.0)])
        .await
        .unwrap();
    store
        .record_presence(
            &d,
            Presence {
                online: true,
                since: t,
                reason: PresenceReason::Message,
            },
        )
        .await
        .unwrap();
    let ack = Ack {
        device_id: d.clone(),
        command_id: CommandId::generate(t),
        status: AckStatus::Success,
        message: None,
        timestamp: later(900),
        received_at: later(950),
        current_state: Some(FanState::at_speed(speed(3))),
    };
    let full = Command {
        sent_at: Some(later(1)),
        acknowledged_at: Some(later(950)),
        completed_at: Some(later(951)),
        attempts: vec![Attempt {
            number: 1,
            at: later(1),
            error: None,
        }],
        next_deadline: Some(later(5_000)),
        expires_at: Some(later(60_000)),
        device_response: Some(ack.clone()),
        late_ack: Some(ack),
        ..command("dev-1", t, CommandStatus::Acknowledged)
    };
    store.insert_command(&full).await.unwrap();
    let rule = praan_core::domain::RuleSpec {
        recurrence_type: Some("daily".into()),
        start_time: Some("09:00".into()),
        duration_minutes: Some(30),
        fan_speed: 3,
        timezone: Some("Europe/London".into()),
        ..Default::default()
    }
    .build(praan_core::domain::Timezone::UTC)
    .unwrap();
    store
        .insert_schedule(&Schedule {
            schedule_id: ScheduleId::generate(t),
            device_id: d.clone(),
            rule,
            is_active: true,
            created_at: t,
            updated_at: t,
        })
        .await
        .unwrap();
    store.insert_run(&run("dev-1", t)).await.unwrap();
    store
        .insert_pre_clean(&pre_clean("dev-1", t, PreCleanStatus::Completed))
        .await
        .unwrap();
    let intent = Intent {
        state: FanState::at_speed(speed(2)),
        source: IntentSource::Reported,
        since: t,
    };
    store
        .put_control(&ControlState {
            device_id: d.clone(),
            base: Some(intent),
            applied_windows: vec![WindowKey {
                schedule_id: ScheduleId::generate(t),
                start: t,
                fan_speed: speed(2),
            }],
            active_pre_clean: None,
            effective: Some(intent),
            updated_at: t,
        })
        .await
        .unwrap();

    // Instants per collection: registered/updated; timestamp/receivedAt; lastSeen, presence and
    // the latest reading (2), reported; created, sent, acknowledged, completed, attempt, deadline,
    // expiry, two acks (2 each), retention start; created/updated; at; started, ends, ended,
    // restore, retention start; base, window, effective, updated.
    store.flush_states().await.unwrap();
    let expected = [
        (collections::DEVICES, 2),
        (collections::READINGS, 2),
        (collections::DEVICE_STATES, 5),
        (collections::COMMANDS, 12),
        (collections::SCHEDULES, 2),
        (collections::SCHEDULE_RUNS, 1),
        (collections::PRE_CLEANS, 5),
        (collections::CONTROL_STATES, 4),
    ];
    for (collection, instants) in expected {
        let stored = store
            .database()
            .collection::<Document>(collection)
            .find_one(doc! {})
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{collection} holds a document"));
        let stored = Bson::Document(stored);
        assert_eq!(datetimes(&stored), instants, "{collection}: {stored}");
        let mut texts = Vec::new();
        strings(collection, &stored, &mut texts);
        for (path, text) in texts {
            assert!(
                text.parse::<Timestamp>().is_err(),
                "{path} holds an instant as a string: {text}"
            );
        }
    }
}
