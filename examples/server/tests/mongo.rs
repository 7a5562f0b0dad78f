//! The server on MongoDB. Its store keeps device states back in memory and writes them in bulk
//! every second (`praan_store_mongo::write_behind`). On SIGTERM the server writes what is left.
//! After SIGKILL the next start replays it from the stored readings before it is ready. Either
//! way the stored states are those of the newest readings. (Which of the flushes wrote them
//! depends on timing here; the store's own tests, on a `FakeClock`, pin each one down.)
//!
//! Needs `PRAAN_TEST_MONGODB_URI` (`scripts/test-services.sh start && source .services/env`);
//! without it the test says it was skipped (or fails, under `PRAAN_REQUIRE_BACKENDS=1`).

mod support;

use std::time::Duration;

use mongodb::bson::{DateTime, Document, doc};
use support::{Devices, Server, wait_until};

const WAIT: Duration = Duration::from_secs(30);
const DEVICES: [&str; 2] = ["MONGO_0001", "MONGO_0002"];

fn mongo_uri() -> Option<String> {
    const VAR: &str = "PRAAN_TEST_MONGODB_URI";
    if let Ok(uri) = std::env::var(VAR)
        && !uri.trim().is_empty()
    {
        return Some(uri);
    }
    assert!(
        std::env::var("PRAAN_REQUIRE_BACKENDS").as_deref() != Ok("1"),
        "{VAR} is not set, and PRAAN_REQUIRE_BACKENDS=1 forbids skipping the server's MongoDB \
         test: run `scripts/test-services.sh start && source .services/env` first"
    );
    eprintln!(
        "SKIPPED: the server's MongoDB test did not run, because {VAR} is not set; run \
         `scripts/test-services.sh start && source .services/env` first"
    );
    None
}

/// `uri` with `database` as its path (its options kept).
fn with_database(uri: &str, database: &str) -> String {
    let (scheme, rest) = uri.split_once("://").expect("a mongodb:// URI");
    let (hosts, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match tail.split_once('?') {
        Some((_, query)) => format!("{scheme}://{hosts}/{database}?{query}"),
        None => format!("{scheme}://{hosts}/{database}"),
    }
}

/// What the server has of the devices: how many readings, and each device's newest reading
/// timestamp as `/latest` reports it.
#[derive(Clone, Debug, Default)]
struct Seen {
    stored: u64,
    newest: Vec<DateTime>,
}

async fn seen(server: &Server) -> Seen {
    let mut out = Seen::default();
    for d in DEVICES {
        let page = server
            .get(&format!("/api/device/{d}/data?limit=1000"))
            .await;
        out.stored += page.json["data"].as_array().map_or(0, Vec::len) as u64;
        let latest = server.get(&format!("/api/device/{d}/latest")).await;
        if let Some(at) = latest.json["data"]["timestamp"].as_str() {
            let at = chrono::DateTime::parse_from_rfc3339(at).expect("an RFC 3339 timestamp");
            out.newest
                .push(DateTime::from_millis(at.timestamp_millis()));
        }
    }
    out
}

/// Runs the simulated devices until every device has a reading newer than `before`, stops them,
/// and waits until the server has stored every reading they published; then what it has.
async fn readings_from_devices(server: &Server, before: &Seen) -> Seen {
    let devices = Devices::start(&server.broker_url(), DEVICES.len(), "MONGO_", 2);
    wait_until("a new reading from every device", WAIT, || async {
        let now = seen(server).await;
        now.newest.len() == DEVICES.len()
            && (before.newest.is_empty()
                || now.newest.iter().zip(&before.newest).all(|(n, b)| n > b))
    })
    .await;
    let counters = devices.stop().await;
    let expected = before.stored + counters.readings_published;
    wait_until("every published reading stored", WAIT, || async {
        seen(server).await.stored == expected
    })
    .await;
    seen(server).await
}

/// Each device's `latestReading.timestamp` in `device_states`, as MongoDB holds it.
async fn stored_latest(states: &mongodb::Collection<Document>) -> Vec<Option<DateTime>> {
    let mut out = Vec::new();
    for d in DEVICES {
        let state = states.find_one(doc! { "_id": d }).await.expect("a query");
        out.push(state.and_then(|s| {
            s.get_document("latestReading")
                .and_then(|r| r.get_datetime("timestamp"))
                .ok()
                .copied()
        }));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_states_follow_the_newest_readings_across_sigterm_and_sigkill() {
    let Some(uri) = mongo_uri() else {
        return;
    };
    let database = format!("praan_server_test_{}", std::process::id());
    let client = mongodb::Client::with_uri_str(&uri).await.expect("a client");
    let db = client.database(&database);
    db.drop().await.expect("a fresh database");
    let states = db.collection::<Document>("device_states");
    let dir = tempfile::tempdir().unwrap();
    let url = format!("--database-url={}", with_database(&uri, &database));
    let mut server = Server::start(dir.path(), &[&url]).await;

    // SIGTERM: the kept states are written before the server exits.
    let first = readings_from_devices(&server, &Seen::default()).await;
    let newest = first.newest.clone();
    let status = server.terminate().await;
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    assert_eq!(
        stored_latest(&states).await,
        newest.iter().copied().map(Some).collect::<Vec<_>>(),
        "written on shutdown"
    );

    // SIGKILL: what was still kept is replayed from the readings before the next start is ready.
    server.restart().await;
    let newest = readings_from_devices(&server, &first).await.newest;
    server.kill9();
    server.restart().await;
    assert_eq!(
        stored_latest(&states).await,
        newest.iter().copied().map(Some).collect::<Vec<_>>(),
        "after SIGKILL and a restart:\n{}",
        server.log()
    );
    let status = server.terminate().await;
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    db.drop().await.expect("dropping the test database");
}
