//! A store outage under the ingestion pipeline on a real SQLite file: another connection holds
//! `BEGIN EXCLUSIVE` for a few seconds in the middle of a burst of readings. Nothing is
//! acknowledged while the database is locked, the pipeline stops taking messages (bounded memory,
//! backpressure on the publisher), and after the lock is released every reading is stored exactly
//! once and every delivery acknowledged, in order.
//!
//! The pipeline and the engine run on a `FakeClock` (its retry backoff and batch deadlines move
//! only when the test advances it); SQLite's busy timeout is real time, so the test polls in short
//! real waits through `SystemClock::sleep_until`, bounded by a cap.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::{sync::Arc, time::Duration};

use praan_core::{
    clock::{Clock, FakeClock, SystemClock},
    codec::Codec,
    domain::{Device, DeviceId, Timestamp},
    engine::{Engine, EngineConfig},
    ingest::{CHUNK, Ingest, IngestConfig},
    store::{DeviceRepo, Limit, ReadingQuery, Store, TelemetryRepo},
    transport::MemoryTransport,
};
use praan_store_sqlite::{SqliteOptions, SqliteStore};
use sqlx::{Connection, SqliteConnection};

const DEVICES: i64 = 20;
const TOTAL: i64 = 2_000;
const CAPACITY: usize = 64;
const BATCH: usize = 50;
/// Simulated time per polling step: small next to the engine's 5 min silence timeout, so no
/// device goes offline during the test.
const STEP: Duration = Duration::from_millis(20);
/// How long the database stays locked, in real time.
const OUTAGE: Duration = Duration::from_secs(2);

fn dev(n: i64) -> DeviceId {
    DeviceId::new(&format!("dev-{}", n % DEVICES)).unwrap()
}

/// Waits a few real milliseconds (the only real wait: SQLite's busy timeout runs in real time).
async fn pause() {
    SystemClock
        .sleep_until(SystemClock.now().saturating_add(Duration::from_millis(5)))
        .await;
}

/// Advances the fake clock a step and waits a little real time until `cond` holds; panics after
/// a cap (about 20 s of real time).
async fn until(what: &str, clock: &FakeClock, mut cond: impl FnMut() -> bool) {
    for _ in 0..4_000 {
        if cond() {
            return;
        }
        clock.advance(STEP);
        pause().await;
    }
    panic!("gave up waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_during_a_burst_loses_nothing_and_bounds_memory() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("outage.db").display());
    let store = Arc::new(
        SqliteStore::connect_with(
            &url,
            SqliteOptions::new().busy_timeout(Duration::from_millis(50)),
        )
        .await
        .unwrap(),
    );
    let clock = FakeClock::new(Timestamp::parse_rfc3339("2026-11-28T09:00:00Z").unwrap());
    let base = clock.now().saturating_sub(Duration::from_secs(3_600));
    for n in 0..DEVICES {
        store
            .insert_device(&Device::auto_registered(dev(n), base))
            .await
            .unwrap();
    }

    let (transport, inbound) = MemoryTransport::new(CAPACITY);
    let (engine, engine_task) = Engine::start(
        EngineConfig::default(),
        store.clone() as Arc<dyn Store>,
        Arc::new(transport.clone()),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let engine_task = tokio::spawn(engine_task);
    let config = IngestConfig {
        max_batch: BATCH,
        max_delay: Duration::from_millis(50),
        commit_when_idle: false,
        store_retry_min: Duration::from_millis(20),
        store_retry_max: Duration::from_millis(200),
        accept_unknown_devices: true,
    };
    let (monitor, pipeline) = Ingest::start(
        config,
        Codec::default(),
        store.clone() as Arc<dyn Store>,
        Arc::new(transport.clone()),
        engine.clone(),
        Arc::new(clock.clone()),
        inbound,
    );
    let pipeline = tokio::spawn(pipeline);

    // The burst, in two halves: the second starts only once the database is locked, so the
    // outage always meets readings still to be stored (whatever the machine's speed).
    let inject = |from: i64, to: i64| {
        let transport = transport.clone();
        tokio::spawn(async move {
            let mut sent = Vec::with_capacity((to - from) as usize);
            for n in from..to {
                let at = base.saturating_add(Duration::from_secs(n as u64));
                let payload = format!(
                    r#"{{"timestamp":"{}","pm25":{}.25,"temperature":21.5,"fanSpeed":2,"powerOn":true}}"#,
                    at.to_rfc3339(),
                    n % 500
                );
                let topic = format!("device/{}/data", dev(n));
                sent.push(transport.inject(&topic, payload).await.unwrap());
            }
            sent
        })
    };
    let half = TOTAL / 2;
    let first_half = inject(0, half);
    until("the first half stored", &clock, || {
        first_half.is_finished() && monitor.stats().readings_stored >= half as u64
    })
    .await;
    let mut sent = first_half.await.unwrap();
    // A round trip: the engine has handled every `Seen` so far (no engine write during the lock).
    engine.control(dev(0)).await.unwrap();

    // Another process locks the database; then the second half arrives.
    let mut other = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .unwrap();
    let failures = monitor.stats().store_failures;
    let injector = inject(half, TOTAL);
    until("a failed commit", &clock, || {
        monitor.stats().store_failures > failures
    })
    .await;
    let acked_at_lock = transport.acked().len();
    let taken_at_lock = monitor.stats().received;
    let bound = CAPACITY + BATCH + CHUNK.min(CAPACITY) + 1;
    let locked_at = SystemClock.now();
    let mut max_unacked = 0;
    while SystemClock.now() < locked_at.saturating_add(OUTAGE) {
        clock.advance(STEP);
        pause().await;
        let unacked = transport.unacked().len();
        max_unacked = max_unacked.max(unacked);
        assert!(
            unacked <= bound,
            "{unacked} unacknowledged deliveries > {bound}"
        );
        assert_eq!(
            transport.acked().len(),
            acked_at_lock,
            "nothing acknowledged while locked"
        );
        assert_eq!(
            monitor.stats().received,
            taken_at_lock,
            "nothing taken from the channel while the store fails"
        );
    }
    assert!(
        !injector.is_finished(),
        "the publisher was held back by backpressure"
    );
    let during = monitor.stats();
    assert!(
        during.store_failures >= failures + 3,
        "retried with backoff: {during:?}"
    );
    assert!(
        max_unacked > CAPACITY,
        "the channel was full: {max_unacked}"
    );

    // The lock goes away: everything flows again.
    sqlx::query("COMMIT").execute(&mut other).await.unwrap();
    other.close().await.unwrap();
    until("every delivery acknowledged", &clock, || {
        injector.is_finished() && transport.acked().len() == TOTAL as usize
    })
    .await;
    sent.extend(injector.await.unwrap());
    assert_eq!(
        transport.acked(),
        sent,
        "every delivery acknowledged, in order"
    );
    assert!(transport.unacked().is_empty());

    let stats = monitor.stats();
    assert_eq!(
        (stats.readings_stored, stats.readings_duplicate),
        (TOTAL as u64, 0),
        "{stats:?}"
    );
    let query = ReadingQuery {
        limit: Limit::new(1000).unwrap(),
        ..ReadingQuery::default()
    };
    let mut stored = 0;
    for n in 0..DEVICES {
        let page = store.readings(&dev(n), &query).await.unwrap();
        assert!(
            page.next_cursor.is_none(),
            "one page holds a device's readings"
        );
        let mut stamps: Vec<_> = page.items.iter().map(|r| r.timestamp()).collect();
        stamps.dedup();
        assert_eq!(stamps.len(), page.items.len(), "no reading stored twice");
        stored += page.items.len();
    }
    assert_eq!(stored, TOTAL as usize, "every reading stored exactly once");

    transport.close_inbound();
    pipeline.await.unwrap().unwrap();
    drop(engine);
    engine_task.await.unwrap().unwrap();
}
