//! The write-behind of device states (`praan_store_mongo::write_behind`) on a real mongod: states
//! are kept back and read exactly, written in bulk every `FLUSH_INTERVAL` (on a `FakeClock`
//! here), after `FLUSH_AFTER_READINGS` readings or on `flush_states`, and a process that stops
//! without flushing loses nothing: the next store on the database replays the readings from the
//! watermark, which a batch older than it lowers before it is inserted.
//!
//! Needs `PRAAN_TEST_MONGODB_URI` (`scripts/test-services.sh start && source .services/env`);
//! without it the tests say they were skipped (or fail, under `PRAAN_REQUIRE_BACKENDS=1`).

mod support;

use std::{sync::Arc, time::Duration};

use mongodb::bson::{DateTime, Document, RawDocumentBuf, doc};
use praan_core::{
    clock::{Clock, FakeClock, SystemClock},
    domain::{Device, DeviceId, DeviceState, Reading, Timestamp},
    store::{DeviceRepo, MaintenanceRepo, StateRepo, TelemetryRepo},
};
use praan_store_mongo::{
    MongoStore, collections, reading_document,
    write_behind::{FLUSH_AFTER_READINGS, FLUSH_INTERVAL},
};
use support::{
    KEEP_EVERYTHING, MongoFixture, Proxy, id, mongo_uri, reading, server_addr, via_proxy,
};

/// 2025-12-27 10:00 UTC plus `ms`.
fn t(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(1_766_829_600_000 + ms).expect("an instant")
}

async fn register(store: &MongoStore, device: &str) {
    store
        .insert_device(&Device::auto_registered(id(device), t(0)))
        .await
        .expect("registering the device");
}

/// The device's document in `device_states` as MongoDB holds it.
async fn stored_state(store: &MongoStore, device: &str) -> Option<Document> {
    store
        .database()
        .collection::<Document>(collections::DEVICE_STATES)
        .find_one(doc! { "_id": device })
        .await
        .expect("reading device_states")
}

/// The stored watermark of the default instance, if any.
async fn watermark(store: &MongoStore) -> Option<DateTime> {
    watermark_of(store, "praan").await
}

/// The stored watermark of `instance`, if any.
async fn watermark_of(store: &MongoStore, instance: &str) -> Option<DateTime> {
    store
        .database()
        .collection::<Document>(collections::STORE_META)
        .find_one(doc! { "_id": format!("deviceStates/{instance}") })
        .await
        .expect("reading store_meta")
        .and_then(|d| d.get_datetime("replayFrom").ok().copied())
}

/// A fresh database, and a store on it whose interval flushes wait for `FakeClock::advance`;
/// `None` when no server is configured (see `mongo_uri`).
async fn set_up() -> Option<(MongoFixture, MongoStore, FakeClock)> {
    let uri = mongo_uri("write-behind")?;
    let fixture = MongoFixture::new(&uri, &KEEP_EVERYTHING).await;
    let (store, clock) = on_fake_clock(&fixture);
    Some((fixture, store, clock))
}

/// Appends one reading of `device` at `t(ms)`.
async fn append(store: &MongoStore, device: &str, ms: i64) {
    store
        .append_readings(&[reading(device, t(ms), 1.0)])
        .await
        .expect("appending a reading");
}

/// `latestReading.timestamp` of a stored state document.
fn latest_timestamp(state: &Document) -> Option<DateTime> {
    state
        .get_document("latestReading")
        .and_then(|r| r.get_datetime("timestamp"))
        .ok()
        .copied()
}

/// A store on the fixture's database whose interval flushes wait for `FakeClock::advance`.
fn on_fake_clock(fixture: &MongoFixture) -> (MongoStore, FakeClock) {
    let clock = FakeClock::new(t(0));
    let store = MongoStore::from_database(fixture.store.database().clone())
        .with_clock(Arc::new(clock.clone()));
    (store, clock)
}

/// Waits (real time, bounded) until `done` holds.
async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = SystemClock.now().saturating_add(Duration::from_secs(10));
    while !done().await {
        assert!(SystemClock.now() < deadline, "timed out waiting for {what}");
        SystemClock
            .sleep_until(SystemClock.now().saturating_add(Duration::from_millis(20)))
            .await;
    }
}

/// A second store on the same database: what the next process sees after this one stopped
/// without flushing (the first store is simply never used again).
async fn restarted(store: &MongoStore) -> MongoStore {
    let next = MongoStore::from_database(store.database().clone());
    next.ensure_indexes(&KEEP_EVERYTHING)
        .await
        .expect("the next store starts (and replays)");
    next
}

fn state(store_state: Option<DeviceState>) -> DeviceState {
    store_state.expect("a state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_states_are_read_exactly_and_replayed_after_a_stop_without_flushing() {
    let Some((_fixture, store, _clock)) = set_up().await else {
        return;
    };
    let store = &store;
    register(store, "dev-1").await;
    register(store, "dev-2").await;
    let batch: Vec<Reading> = vec![
        reading("dev-1", t(1_000), 1.0),
        reading("dev-1", t(2_000), 2.0),
        reading("dev-2", t(1_500), 3.0),
        reading("dev-9", t(1_700), 4.0),
    ];
    store.append_readings(&batch).await.unwrap();

    // Kept back, yet read exactly.
    assert_eq!(stored_state(store, "dev-1").await, None, "not written yet");
    let dev1 = state(store.device_state(&id("dev-1")).await.unwrap());
    assert_eq!(dev1.latest_reading, Some(reading("dev-1", t(2_000), 2.0)));
    assert_eq!(dev1.last_seen, Some(t(2_050)));
    let listed: Vec<String> = store
        .device_states()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.device_id.to_string())
        .collect();
    assert_eq!(listed, ["dev-1", "dev-2", "dev-9"]);
    assert_eq!(
        watermark(store).await,
        Some(DateTime::from_millis(t(1_000).unix_millis())),
        "the oldest reading kept back"
    );
    let dev2 = state(store.device_state(&id("dev-2")).await.unwrap());

    // The process stops without flushing; the next one replays the readings from the watermark,
    // for registered devices only.
    let next = restarted(store).await;
    assert!(
        stored_state(&next, "dev-1").await.is_some(),
        "dev-1 was replayed"
    );
    assert_eq!(
        stored_state(&next, "dev-9").await,
        None,
        "an unregistered device gets no state"
    );
    assert_eq!(state(next.device_state(&id("dev-1")).await.unwrap()), dev1);
    assert_eq!(state(next.device_state(&id("dev-2")).await.unwrap()), dev2);
    assert_eq!(
        watermark(&next).await,
        None,
        "nothing is kept back any more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_older_than_the_watermark_lowers_it_before_it_is_inserted() {
    let Some((_fixture, store, _clock)) = set_up().await else {
        return;
    };
    let store = &store;
    register(store, "dev-1").await;
    append(store, "dev-1", 10_000).await;
    store.flush_states().await.unwrap();
    assert_eq!(
        watermark(store).await,
        Some(DateTime::from_millis(t(10_000).unix_millis())),
        "after a flush: the newest reading, so that newer batches need no new watermark"
    );
    append(store, "dev-1", 11_000).await;
    assert_eq!(
        watermark(store).await,
        Some(DateTime::from_millis(t(10_000).unix_millis())),
        "a newer batch leaves it"
    );

    // A late reading (older timestamp, received last) still raises the last-seen time.
    let late = Reading::new(
        id("dev-1"),
        t(5_000),
        t(60_000),
        *reading("dev-1", t(5_000), 9.0).metrics(),
        None,
        None,
    )
    .unwrap();
    store.append_readings(&[late]).await.unwrap();
    assert_eq!(
        watermark(store).await,
        Some(DateTime::from_millis(t(5_000).unix_millis())),
        "lowered to the late reading"
    );
    let kept = state(store.device_state(&id("dev-1")).await.unwrap());
    assert_eq!(kept.last_seen, Some(t(60_000)));
    assert_eq!(
        kept.latest_reading.as_ref().map(Reading::timestamp),
        Some(t(11_000))
    );

    let next = restarted(store).await;
    assert_eq!(state(next.device_state(&id("dev-1")).await.unwrap()), kept);
    let written = stored_state(&next, "dev-1").await.expect("a stored state");
    assert_eq!(
        written.get_datetime("lastSeen").ok().copied(),
        Some(DateTime::from_millis(t(60_000).unix_millis())),
        "the late reading's receipt was replayed: {written}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_write_the_kept_states_once_enough_readings_arrived() {
    let Some((_fixture, store, _clock)) = set_up().await else {
        return;
    };
    let store = &store;
    let devices = 100;
    let per_batch = 5_000;
    let batches = FLUSH_AFTER_READINGS.div_ceil(per_batch);
    let states = store
        .database()
        .collection::<Document>(collections::DEVICE_STATES);
    for b in 0..batches {
        let batch: Vec<Reading> = (0..per_batch)
            .map(|i| {
                let n = b * per_batch + i;
                let at = t(i64::try_from(n / devices).unwrap() * 1_000);
                reading(&format!("dev-{}", n % devices), at, 1.0)
            })
            .collect();
        assert_eq!(
            states.count_documents(doc! {}).await.unwrap(),
            0,
            "nothing written before batch {b}"
        );
        store.append_readings(&batch).await.unwrap();
    }
    assert_eq!(
        states.count_documents(doc! {}).await.unwrap(),
        devices as u64,
        "the append that reached {FLUSH_AFTER_READINGS} readings wrote every state"
    );
    let newest = t(i64::try_from((batches * per_batch - 1) / devices).unwrap() * 1_000);
    let written = stored_state(store, "dev-99").await.expect("a stored state");
    assert_eq!(
        latest_timestamp(&written),
        Some(DateTime::from_millis(newest.unix_millis()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_device_drops_its_kept_state() {
    let Some((_fixture, store, _clock)) = set_up().await else {
        return;
    };
    let store = &store;
    register(store, "dev-1").await;
    append(store, "dev-1", 1_000).await;
    store.delete_device(&id("dev-1")).await.unwrap();
    assert_eq!(store.device_state(&id("dev-1")).await.unwrap(), None);
    store.flush_states().await.unwrap();
    assert_eq!(stored_state(store, "dev-1").await, None);
    // Nor does a restart bring it back from its readings.
    let next = restarted(store).await;
    assert_eq!(next.device_state(&id("dev-1")).await.unwrap(), None);
}

/// The state the store reports for a device is the same however much of it is kept back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_reported_compares_with_what_the_readings_kept_back_imply() {
    let Some((_fixture, store, _clock)) = set_up().await else {
        return;
    };
    let store = &store;
    let d: DeviceId = id("dev-1");
    append(store, "dev-1", 2_000).await;
    let older = praan_core::domain::ReportedState {
        state: praan_core::domain::FanState::at_speed(support::speed(5)),
        at: t(1_000),
    };
    assert!(
        !store.record_reported(&d, older).await.unwrap(),
        "the kept reading's report (at 2 s) is newer than one at 1 s"
    );
    let kept = state(store.device_state(&d).await.unwrap());
    assert_eq!(kept.reported.map(|r| r.at), Some(t(2_000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_states_are_written_every_interval_and_once_more_when_the_store_is_dropped() {
    let Some((fixture, store, clock)) = set_up().await else {
        return;
    };
    let latest = |store: &MongoStore| {
        let store = store.clone();
        async move {
            stored_state(&store, "dev-1")
                .await
                .and_then(|s| latest_timestamp(&s))
        }
    };
    append(&store, "dev-1", 1_000).await;
    assert_eq!(latest(&fixture.store).await, None, "kept back");
    clock.advance(FLUSH_INTERVAL);
    wait_until("the interval flush", || async {
        latest(&fixture.store).await == Some(DateTime::from_millis(t(1_000).unix_millis()))
    })
    .await;

    // The task ends with a last flush once the store is gone.
    append(&store, "dev-1", 2_000).await;
    drop(store);
    wait_until("the interval task asleep", || async {
        clock.sleepers() == 1
    })
    .await;
    clock.advance(FLUSH_INTERVAL);
    wait_until("the last flush", || async {
        latest(&fixture.store).await == Some(DateTime::from_millis(t(2_000).unix_millis()))
    })
    .await;
    wait_until("the interval task ended", || async {
        clock.sleepers() == 0
    })
    .await;
}

/// Two praan instances on one database: each keeps its own watermark, so one's flush never
/// raises the other's, and each replays its own when it starts again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_keeps_and_replays_its_own_watermark() {
    let Some(uri) = mongo_uri("write-behind") else {
        return;
    };
    let fixture = MongoFixture::new(&uri, &KEEP_EVERYTHING).await;
    register(&fixture.store, "dev-a").await;
    register(&fixture.store, "dev-b").await;
    let (a, _clock_a) = on_fake_clock(&fixture);
    let a = a.with_instance("a");
    let (b, _clock_b) = on_fake_clock(&fixture);
    let b = b.with_instance("b");
    append(&a, "dev-a", 1_000).await;
    append(&b, "dev-b", 5_000).await;
    b.flush_states().await.unwrap();
    let at = |ms| Some(DateTime::from_millis(t(ms).unix_millis()));
    assert_eq!(watermark_of(&a, "a").await, at(1_000), "a's own, kept");
    assert_eq!(
        watermark_of(&a, "b").await,
        at(5_000),
        "b's, after its flush"
    );
    assert_eq!(
        stored_state(&a, "dev-a").await,
        None,
        "a kept its state back"
    );

    // Instance a stops without flushing and starts again: it replays its own readings.
    let a_again = MongoStore::from_database(a.database().clone()).with_instance("a");
    a_again.ensure_indexes(&KEEP_EVERYTHING).await.unwrap();
    assert!(stored_state(&a_again, "dev-a").await.is_some(), "replayed");
    assert_eq!(
        watermark_of(&a_again, "b").await,
        at(5_000),
        "b's untouched"
    );
}

/// An append whose insert fails marks its devices unsure. Part of such an insert may have landed,
/// and a retry then sees those readings as duplicates and keeps nothing of them; the next flush
/// reads the unsure devices' stored readings again and keeps what they imply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_a_failed_append_stored_get_their_state_at_the_next_flush() {
    let Some(uri) = mongo_uri("write-behind") else {
        return;
    };
    let mut proxy = Proxy::start(server_addr(&uri).await).await;
    let fixture = MongoFixture::new(&via_proxy(&proxy), &KEEP_EVERYTHING).await;
    let (store, _clock) = on_fake_clock(&fixture);
    register(&store, "dev-1").await;
    assert!(store.device_states().await.unwrap().is_empty());

    proxy.cut().await;
    let lost = reading("dev-1", t(3_000), 1.0);
    assert!(
        store
            .append_readings(std::slice::from_ref(&lost))
            .await
            .is_err()
    );
    proxy.restore().await;
    wait_until("the server back", || async { store.ping().await.is_ok() }).await;

    // As if that insert had landed after all: the reading is stored, its state is not kept.
    store
        .database()
        .collection::<RawDocumentBuf>(collections::READINGS)
        .insert_one(reading_document(&lost).unwrap())
        .await
        .unwrap();
    let retry = store
        .append_readings(std::slice::from_ref(&lost))
        .await
        .unwrap();
    assert_eq!((retry.inserted, retry.duplicates), (0, 1));
    let before = store.device_state(&id("dev-1")).await.unwrap();
    assert_eq!(
        before.and_then(|s| s.latest_reading),
        None,
        "nothing kept yet"
    );

    store.flush_states().await.unwrap();
    let after = state(store.device_state(&id("dev-1")).await.unwrap());
    assert_eq!(after.latest_reading, Some(lost));
    let written = stored_state(&store, "dev-1").await.expect("a stored state");
    assert_eq!(
        latest_timestamp(&written),
        Some(DateTime::from_millis(t(3_000).unix_millis()))
    );
}
