//! SIGKILL of the backend during a QoS 1 burst, then a restart: every reading the broker
//! acknowledged to its publisher is stored exactly once (PRODUCT.md §8, "telemetry is not lost on
//! a backend crash").
//!
//! The backend is a separate process: this test binary (`harness = false`) runs as the backend
//! when `PRAAN_E2E_BACKEND` is set — `MqttTransport` with a persistent session under a stable
//! client id, `Ingest` and the `Engine` on a `SqliteStore` file, in real time, until it is killed
//! — and as the test otherwise. The test starts Mosquitto (with an unlimited per-client queue: by
//! default Mosquitto silently drops what exceeds 1,000 messages queued for a client that is
//! away), starts the backend, publishes half a burst from a rumqttc publisher that records which
//! publishes got a PUBACK, kills the backend with SIGKILL once part (not all) of it is in the
//! database, publishes the rest while the backend is dead, restarts it on the same file and
//! client id, and waits (bounded) until every acknowledged reading is stored. It then checks the
//! database row by row: the stored `(device, timestamp)` keys are exactly the published ones, and
//! each row holds the values that reading carried.
//!
//! Every child process is killed when its guard is dropped (also when the test panics).

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a test: a failed unwrap is a failed test; the child reports readiness on stdout"
)]

mod wire;

use std::{
    collections::BTreeMap,
    io::Write as _,
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use praan_core::{
    clock::{Clock, SystemClock},
    domain::Timestamp,
    engine::EngineConfig,
    ingest::IngestConfig,
    transport::Transport,
};
use praan_store_sqlite::SqliteStore;
use sqlx::{Connection, Row, SqliteConnection};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};
use wire::{
    Backend, Burst, Mosquitto, MosquittoOptions, mosquitto_bin, mqtt_config, pause, pm25_of,
    reading, within,
};

const NAME: &str =
    "sigkill_of_the_backend_mid_burst_then_restart_stores_every_acknowledged_reading_once";
/// `{broker url}|{client id}|{database path}`: run as the backend.
const CHILD_ENV: &str = "PRAAN_E2E_BACKEND";
const CLIENT_ID: &str = "praan-crash-backend";
const DEVICES: u64 = 25;
const TOTAL: u64 = 10_000;
/// The backend is killed once this many readings are in the database.
const KILL_AFTER: i64 = 1_000;

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        backend(&spec);
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        println!("{NAME}: test");
        return;
    }
    if !selected(std::env::args().skip(1)) {
        println!("running 0 tests");
        return;
    }
    println!("running 1 test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(crash_and_restart());
    println!("test {NAME} ... ok");
}

/// Whether libtest-style arguments select this test: a name filter must match, `--skip` must
/// not.
fn selected(args: impl Iterator<Item = String>) -> bool {
    let (mut filters, mut skips) = (Vec::new(), Vec::new());
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--skip" => skips.extend(args.next()),
            // Options that take a value: the value is not a filter.
            "--test-threads" | "--format" | "--color" | "--logfile" | "--shuffle-seed" | "-Z" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            _ => filters.push(arg),
        }
    }
    (filters.is_empty() || filters.iter().any(|f| NAME.contains(f.as_str())))
        && !skips.iter().any(|s| NAME.contains(s.as_str()))
}

// ---- the backend process -------------------------------------------------------------------------

/// Runs the backend until the process is killed; prints `ready` once its session is subscribed.
fn backend(spec: &str) {
    let mut parts = spec.splitn(3, '|');
    let (Some(url), Some(client_id), Some(db)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("{CHILD_ENV}={spec:?}: expected url|client id|database path");
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Arc::new(
            SqliteStore::connect(&format!("sqlite://{db}"))
                .await
                .unwrap(),
        );
        // `mqtt_config`: a persistent session (`clean_session = false`) under `client_id`.
        let backend = Backend::start(
            store,
            mqtt_config(url, client_id),
            EngineConfig::default(),
            IngestConfig {
                max_batch: 200,
                max_delay: Duration::from_millis(5),
                ..IngestConfig::default()
            },
            Arc::new(SystemClock),
        )
        .await;
        wire::wait_for(
            "the backend's session subscribed",
            Duration::from_secs(15),
            || {
                let stats = backend.transport.stats();
                backend.transport.is_connected()
                    && stats.connections >= 1
                    && stats.subscribed == stats.connections
            },
        )
        .await;
        let mut out = std::io::stdout();
        writeln!(out, "ready").unwrap();
        out.flush().unwrap();
        // Then the pipeline's counters, for the test's log, until killed.
        loop {
            pause(Duration::from_millis(50)).await;
            let s = backend.ingest.stats();
            let t = backend.transport.stats();
            writeln!(
                out,
                "received {} stored {} duplicate {} acked {} (transport: received {} acks sent {})",
                s.received,
                s.readings_stored,
                s.readings_duplicate,
                s.acked,
                t.received,
                t.acks_sent
            )
            .unwrap();
            out.flush().unwrap();
        }
    });
}

/// The backend child process; SIGKILLed when dropped.
struct BackendProcess {
    child: Child,
    /// The last line it printed.
    last: Arc<Mutex<String>>,
}

impl BackendProcess {
    /// Starts this binary as the backend and waits until it says it is subscribed.
    async fn start(url: &str, db: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ENV, format!("{url}|{CLIENT_ID}|{}", db.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = within(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the backend says it is ready within 30 s")
            .unwrap();
        assert_eq!(line.as_deref(), Some("ready"), "the backend's first line");
        let last = Arc::new(Mutex::new(String::new()));
        let keep = last.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                *keep.lock().unwrap() = line;
            }
        });
        Self { child, last }
    }

    /// The pipeline's counters, as it last printed them.
    fn last_stats(&self) -> String {
        self.last.lock().unwrap().clone()
    }

    /// `kill -9`, and waits until the process is gone.
    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        let status = within(Duration::from_secs(10), self.child.wait())
            .await
            .expect("a killed process exits")
            .unwrap();
        assert!(!status.success(), "killed, not exited: {status}");
    }
}

// ---- the test ----------------------------------------------------------------------------------

async fn count(db: &mut SqliteConnection) -> i64 {
    sqlx::query("SELECT COUNT(*) FROM readings")
        .fetch_one(&mut *db)
        .await
        .unwrap()
        .get(0)
}

async fn crash_and_restart() {
    let Some(bin) = mosquitto_bin(NAME) else {
        return;
    };
    let broker = Mosquitto::start(
        bin,
        MosquittoOptions {
            max_queued_messages: Some(0),
            ..MosquittoOptions::default()
        },
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let backend = BackendProcess::start(&broker.url(), &path).await;
    let mut db = SqliteConnection::connect(&format!("sqlite://{}?mode=ro", path.display()))
        .await
        .unwrap();
    assert_eq!(count(&mut db).await, 0);

    // Reading n: device `CRASH_{n % DEVICES}`, a distinct timestamp, pm25 from n.
    let base = SystemClock
        .now()
        .saturating_sub(Duration::from_secs(3 * 3600));
    let key = |n: u64| {
        (
            format!("CRASH_{}", n % DEVICES),
            base.saturating_add(Duration::from_millis(n)),
        )
    };
    let mut burst = Burst::connect(broker.port(), "crash-publisher").await;

    // The first half; the backend is killed once part of it is stored.
    let half = TOTAL / 2;
    for n in 0..half {
        let (device, at) = key(n);
        burst
            .publish(&format!("device/{device}/data"), reading(at, n).as_bytes())
            .await;
    }
    let deadline = SystemClock.now().saturating_add(Duration::from_secs(30));
    loop {
        let stored = count(&mut db).await;
        if stored >= KILL_AFTER {
            break;
        }
        assert!(
            SystemClock.now() < deadline,
            "only {stored} readings stored after 30 s"
        );
        pause(Duration::from_millis(5)).await;
    }
    let before_kill = backend.last_stats();
    backend.kill().await;
    let at_kill = count(&mut db).await;
    println!("killed: {at_kill} readings in the database; the backend last said: {before_kill}");
    assert!(
        (KILL_AFTER..TOTAL as i64).contains(&at_kill),
        "killed with some but not all stored: {at_kill}"
    );

    // The rest of the burst while the backend is dead: the broker queues it for the session.
    for n in half..TOTAL {
        let (device, at) = key(n);
        burst
            .publish(&format!("device/{device}/data"), reading(at, n).as_bytes())
            .await;
    }
    burst.wait_all_acked(Duration::from_secs(30)).await;
    let acked = burst.acked();
    assert_eq!(
        acked.iter().filter(|a| **a).count(),
        TOTAL as usize,
        "the broker acknowledged every publish"
    );
    assert_eq!(
        count(&mut db).await,
        at_kill,
        "nothing stored while the backend is dead"
    );

    // The backend again, on the same file and client id: the broker redelivers what was not
    // acknowledged (the crash's in-flight deliveries) and everything queued.
    let backend = BackendProcess::start(&broker.url(), &path).await;
    let deadline = SystemClock.now().saturating_add(Duration::from_secs(60));
    loop {
        let stored = count(&mut db).await;
        if stored >= TOTAL as i64 {
            break;
        }
        assert!(
            SystemClock.now() < deadline,
            "only {stored} of {TOTAL} readings stored after the restart"
        );
        pause(Duration::from_millis(20)).await;
    }
    println!(
        "after the restart the backend said: {}",
        backend.last_stats()
    );
    backend.kill().await;

    let mut expected: BTreeMap<(String, Timestamp), f64> = BTreeMap::new();
    for (n, acked) in acked.iter().enumerate() {
        assert!(*acked);
        let n = n as u64;
        expected.insert(key(n), pm25_of(n));
    }
    let rows = sqlx::query("SELECT device_id, ts, pm25 FROM readings")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let mut stored: BTreeMap<(String, Timestamp), f64> = BTreeMap::new();
    for row in &rows {
        let device: String = row.get(0);
        let ts = Timestamp::from_unix_millis(row.get(1)).unwrap();
        let pm25: f64 = row.get(2);
        assert!(
            stored.insert((device.clone(), ts), pm25).is_none(),
            "({device}, {ts:?}) stored twice"
        );
    }
    assert_eq!(rows.len(), TOTAL as usize, "one row per reading");
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !stored.contains_key(*k))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}…"
    );
    assert_eq!(stored, expected, "each row holds its reading's values");
    db.close().await.unwrap();
    drop(broker);
}
