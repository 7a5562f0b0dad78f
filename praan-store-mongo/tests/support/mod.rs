//! What the tests against a real mongod share: the server's address from the environment (or a
//! clear skip, or a loud failure under `PRAAN_REQUIRE_BACKENDS=1`), a fresh database per test,
//! and a TCP proxy that can cut the connection to the server and restore it.
#![allow(dead_code)] // each test binary uses a part

use std::{
    io::Write as _,
    net::SocketAddr,
    sync::{
        Once,
        atomic::{AtomicU64, Ordering},
    },
};

use mongodb::options::{ClientOptions, ServerAddress};
use praan_core::{
    conformance::Fixture,
    domain::{DeviceId, FanSpeed, PerMetric, Reading, Timestamp},
    store::Store,
};
use praan_store_mongo::{MongoStore, RetentionConfig};
use tokio::{
    net::{TcpListener, TcpStream},
    task::JoinSet,
};

/// The variable that names the test server (written by `scripts/test-services.sh start` into
/// `.services/env`).
pub(crate) const URI_VAR: &str = "PRAAN_TEST_MONGODB_URI";

/// How to get a test server.
const HOW: &str = "run `scripts/test-services.sh start && source .services/env` first";

/// The test server's URI; `None` (after saying so) when it is not configured. With
/// `PRAAN_REQUIRE_BACKENDS=1` a missing server is a failure, never a skip.
pub(crate) fn mongo_uri(suite: &str) -> Option<String> {
    if let Ok(uri) = std::env::var(URI_VAR)
        && !uri.trim().is_empty()
    {
        return Some(uri);
    }
    let required = std::env::var("PRAAN_REQUIRE_BACKENDS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{URI_VAR} is not set, and PRAAN_REQUIRE_BACKENDS=1 forbids skipping the MongoDB \
         {suite} tests: {HOW}"
    );
    // Once per test binary, past the test harness's output capture, so a plain `cargo test`
    // shows it; and for every test, in its captured output.
    static ANNOUNCE: Once = Once::new();
    ANNOUNCE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED: the MongoDB {suite} tests of praan-store-mongo did not run, because \
             {URI_VAR} is not set; to run them, {HOW}.\n"
        );
    });
    eprintln!("skipped: {URI_VAR} is not set; to run the MongoDB {suite} tests, {HOW}");
    None
}

/// Retention long enough that the TTL monitor (every second on the test server) never removes
/// the fixed 2025 instants of the conformance cases while they run: 60 years.
pub(crate) const KEEP_EVERYTHING: RetentionConfig = {
    let sixty_years = std::time::Duration::from_secs(60 * 365 * 24 * 60 * 60);
    RetentionConfig {
        readings: sixty_years,
        commands: sixty_years,
        runs: sixty_years,
    }
};

/// A database name no other test uses: this process, a counter, and the test's name (the test
/// harness names each test's thread after the test).
pub(crate) fn fresh_database_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let test = std::thread::current()
        .name()
        .unwrap_or("test")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>();
    let mut name = format!("t{}_{n}_{test}", std::process::id());
    name.truncate(63);
    name
}

/// A store on a fresh database, indexed for `retention`; the database is dropped when the test
/// passes, and kept (and named) for inspection when it fails.
pub(crate) struct MongoFixture {
    pub(crate) store: MongoStore,
}

impl MongoFixture {
    pub(crate) async fn new(uri: &str, retention: &RetentionConfig) -> Self {
        let name = fresh_database_name();
        let store = MongoStore::connect(uri, &name)
            .await
            .unwrap_or_else(|e| panic!("connecting to {URI_VAR}={uri}: {e:?}"));
        store
            .ensure_indexes(retention)
            .await
            .unwrap_or_else(|e| panic!("ensure_indexes on database {name}: {e:?}"));
        Self { store }
    }
}

impl Fixture for MongoFixture {
    fn store(&self) -> &dyn Store {
        &self.store
    }
}

impl Drop for MongoFixture {
    fn drop(&mut self) {
        let db = self.store.database().clone();
        if std::thread::panicking() {
            eprintln!("kept database {} of the failed test", db.name());
            return;
        }
        // Dropped at the end of the test, inside its multi-thread runtime.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            tokio::task::block_in_place(|| {
                if let Err(e) = runtime.block_on(async { db.drop().await }) {
                    eprintln!("could not drop database {}: {e}", db.name());
                }
            });
        }
    }
}

/// A TCP proxy on 127.0.0.1 in front of the test server: `cut` closes every connection and stops
/// listening (the server is unreachable, connections are refused); `restore` listens again on
/// the same port.
pub(crate) struct Proxy {
    addr: SocketAddr,
    target: SocketAddr,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    pub(crate) async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a proxy port");
        let addr = listener.local_addr().expect("the proxy's address");
        let mut proxy = Self {
            addr,
            target,
            running: None,
        };
        proxy.serve(listener);
        proxy
    }

    /// Where clients connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target;
        self.running = Some(tokio::spawn(async move {
            // Aborting this task drops the set, which aborts (closes) every connection.
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Closes every connection and the listener.
    pub(crate) async fn cut(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port.
    pub(crate) async fn restore(&mut self) {
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("rebind the proxy's port");
        self.serve(listener);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.running.take() {
            task.abort();
        }
    }
}

/// A device id.
pub(crate) fn id(s: &str) -> DeviceId {
    DeviceId::new(s).expect("a valid device id")
}

/// A fan speed.
pub(crate) fn speed(n: u8) -> FanSpeed {
    FanSpeed::new(n).expect("a speed 0-5")
}

/// A reading of `device` at `at` with PM2.5 `pm25`, speed 3 and power on, received 50 ms
/// later.
pub(crate) fn reading(device: &str, at: Timestamp, pm25: f64) -> Reading {
    let mut metrics = PerMetric::default();
    metrics.0[4] = Some(pm25);
    Reading::new(
        id(device),
        at,
        at.saturating_add(std::time::Duration::from_millis(50)),
        metrics,
        Some(speed(3)),
        Some(true),
    )
    .expect("a valid reading")
}

/// The test server's address, for a proxy in front of it.
pub(crate) async fn server_addr(uri: &str) -> SocketAddr {
    let options = ClientOptions::parse(uri)
        .await
        .expect("the test server's URI parses");
    match options.hosts.first() {
        Some(ServerAddress::Tcp { host, port }) => format!("{host}:{}", port.unwrap_or(27017))
            .parse()
            .unwrap_or_else(|e| panic!("{URI} must name an IP address: {e}", URI = URI_VAR)),
        other => panic!("{} names no TCP host: {other:?}", URI_VAR),
    }
}

/// A URI that reaches the test server through `proxy`, with short timeouts, so a cut
/// connection fails calls within about a second.
pub(crate) fn via_proxy(proxy: &Proxy) -> String {
    format!(
        "mongodb://{}/?directConnection=true&serverSelectionTimeoutMS=1000&connectTimeoutMS=1000\
         &heartbeatFrequencyMS=500",
        proxy.addr()
    )
}
