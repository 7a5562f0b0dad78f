//! The running system: [`Server::start`] wires the store, the broker (embedded rumqttd unless an
//! external URL is given), the MQTT transport, the control engine, the ingestion pipeline, the
//! retention purge, the REST API and the optional simulated devices; [`Server::run_until`] serves
//! until a shutdown signal and then shuts down in order:
//!
//! 1. readiness goes 503 and the HTTP server stops accepting (in-flight requests finish);
//! 2. the simulated devices say goodbye;
//! 3. ingestion drains: the server waits (bounded) until every message taken has been committed
//!    and acknowledged, then disconnects from the broker (the persistent session keeps anything
//!    newer for the next start) and lets the pipeline finish;
//! 4. the engine, whose state is already persisted at every step, stops when the last handle is
//!    dropped; the store is closed.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use praan_core::{
    clock::{Clock, SystemClock},
    codec::{Codec, CodecLimits},
    command::DeliveryConfig,
    engine::{Engine, EngineConfig, Handle},
    ingest::{Ingest, IngestConfig, IngestHandle},
    store::{RetentionCutoffs, Store},
    transport::{MqttConfig, MqttPool, TlsConfig, Transport},
};
use praan_http::{AppState, HttpConfig};
use praan_simulator::{
    BrokerUrl, Fleet, FleetConfig,
    brokers::{Rumqttd, RumqttdOptions},
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tracing::{info, warn};

use crate::config::{Config, DatabaseUrl, redact_url_password};

/// Why the server could not start: one line for the operator.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StartError(pub String);

/// How often retention runs (SQLite; MongoDB expires by TTL index as well).
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How often the server logs what it ingested (when something happened).
const ACTIVITY_EVERY: Duration = Duration::from_secs(10);
/// How long shutdown waits for ingestion to commit and acknowledge what it took.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A started server.
pub struct Server {
    config: Config,
    clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    closer: StoreCloser,
    state: AppState,
    listener: TcpListener,
    transport: MqttPool,
    driver: JoinHandle<()>,
    engine: Handle,
    engine_task: JoinHandle<()>,
    ingest: IngestHandle,
    ingest_task: JoinHandle<()>,
    broker_url: String,
}

/// Closes the store at the end (SQLite checkpoints its WAL; MongoDB writes the kept states).
enum StoreCloser {
    Sqlite(Arc<praan_store_sqlite::SqliteStore>),
    /// Its write-behind's kept device states are written on shutdown, so the next start has
    /// nothing to replay.
    Mongo(praan_store_mongo::MongoStore),
}

impl Server {
    /// Connects and starts everything but the HTTP accept loop and the simulated devices.
    /// `metrics` renders the Prometheus text of the recorder the binary installed.
    pub async fn start(
        config: Config,
        metrics: Option<Arc<dyn Fn() -> String + Send + Sync>>,
    ) -> Result<Self, StartError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);

        let listener = TcpListener::bind(config.http_addr).await.map_err(|e| {
            StartError(format!(
                "cannot listen for HTTP on {}: {e} (is another server running? use --http-addr)",
                config.http_addr
            ))
        })?;

        let (store, closer) = open_store(&config).await?;

        let broker_url = match &config.mqtt_url {
            Some(url) => url.clone(),
            None => start_broker(config.broker_addr, config.simulate).await?,
        };
        let codec = Codec::new(config.topic_prefix.clone(), CodecLimits::default());
        let mut mqtt = MqttConfig::new(broker_url.clone(), config.client_id.clone());
        mqtt.subscriptions = codec.subscriptions();
        if let Some(path) = &config.mqtt_ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| StartError(format!("--mqtt-ca-file {}: {e}", path.display())))?;
            mqtt.tls = Some(TlsConfig::ca_pem(pem));
        }
        let (transport, inbound, driver) = MqttPool::connect(
            mqtt,
            &[codec.data_subscription()],
            usize::from(config.mqtt_data_sessions),
            clock.clone(),
        )
        .map_err(|e| StartError(format!("--mqtt-url: {e}")))?;
        let driver = tokio::spawn(driver);

        let engine_config = EngineConfig {
            delivery: DeliveryConfig {
                ack_timeout: config.ack_timeout,
                max_retries: config.max_retries,
            },
            offline_after: config.offline_after,
            topic_prefix: config.topic_prefix.clone(),
            default_timezone: config.timezone,
            ..EngineConfig::default()
        };
        let (engine, engine_future) = Engine::start(
            engine_config,
            store.clone(),
            Arc::new(transport.clone()) as Arc<dyn Transport>,
            clock.clone(),
        )
        .await
        .map_err(|e| StartError(format!("the control engine could not start: {e}")))?;
        let engine_task = tokio::spawn(async move {
            if let Err(e) = engine_future.await {
                warn!("the control engine stopped: {e}");
            }
        });

        let (ingest, ingest_future) = Ingest::start(
            IngestConfig::default(),
            codec,
            store.clone(),
            Arc::new(transport.clone()) as Arc<dyn Transport>,
            engine.clone(),
            clock.clone(),
            inbound,
        );
        let ingest_task = tokio::spawn(async move {
            if let Err(e) = ingest_future.await {
                warn!("ingestion stopped: {e}");
            }
        });

        let http = HttpConfig {
            api_keys: config.api_keys.clone(),
            rate_limit: config.rate_limit,
            cors: config.cors.clone(),
            ..HttpConfig::default()
        };
        if http.api_keys.is_empty() {
            warn!("no API keys configured: the REST API is open to anyone who can reach it");
        }
        let probe = transport.clone();
        let mut state = AppState::new(store.clone(), engine.clone(), clock.clone(), http)
            .with_mqtt_probe(move || probe.is_connected());
        if let Some(render) = metrics {
            state = state.with_metrics(move || render());
        }

        Ok(Self {
            config,
            clock,
            store,
            closer,
            state,
            listener,
            transport,
            driver,
            engine,
            engine_task,
            ingest,
            ingest_task,
            broker_url,
        })
    }

    /// The address the REST API listens on.
    pub fn http_addr(&self) -> Result<SocketAddr, StartError> {
        self.listener
            .local_addr()
            .map_err(|e| StartError(format!("the HTTP listener has no address: {e}")))
    }

    /// Serves until `shutdown` completes, then shuts down in order (see the module docs).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let Self {
            config,
            clock,
            store,
            closer,
            state,
            listener,
            transport,
            driver,
            engine,
            engine_task,
            ingest,
            ingest_task,
            broker_url,
        } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };

        let purge = tokio::spawn(purge_loop(
            store.clone(),
            clock.clone(),
            config.retention_readings,
            config.retention_commands,
            stopped(stop_rx.clone()),
        ));

        let activity = tokio::spawn(activity_loop(
            ingest.clone(),
            clock.clone(),
            stopped(stop_rx.clone()),
        ));

        let simulation = (config.simulate > 0).then(|| {
            let fleet = simulated_fleet(&config, &broker_url, clock.clone());
            let stop = stopped(stop_rx.clone());
            tokio::spawn(async move {
                match fleet {
                    Ok(fleet) => {
                        let counters = fleet.run(stop).await;
                        info!(?counters, "simulated devices stopped");
                    }
                    Err(e) => warn!("the simulated devices could not start: {e}"),
                }
            })
        });

        let router = praan_http::router(state.clone());
        let http_state = state.clone();
        let http_stop = stopped(stop_rx.clone());
        let header_timeout = config.http_header_timeout;
        let http_clock = clock.clone();
        let http = tokio::spawn(async move {
            crate::serve::serve(listener, router, header_timeout, http_clock, async move {
                http_stop.await;
                http_state.begin_shutdown();
            })
            .await;
        });

        shutdown.await;
        info!("shutting down");
        state.begin_shutdown();
        let _ = stop_tx.send(true);
        let _ = http.await;
        if let Some(simulation) = simulation {
            let _ = simulation.await;
        }
        let _ = purge.await;
        let _ = activity.await;

        drain(&ingest, clock.as_ref()).await;
        transport.disconnect();
        let _ = ingest_task.await;
        let _ = driver.await;
        drop(state);
        drop(engine);
        let _ = engine_task.await;
        match closer {
            StoreCloser::Sqlite(sqlite) => sqlite.close().await,
            StoreCloser::Mongo(mongo) => {
                if let Err(e) = mongo.flush_states().await {
                    warn!(error = %e, "writing the kept device states failed; the next start replays them");
                }
            }
        }
        let stats = ingest.stats();
        info!(
            readings_stored = stats.readings_stored,
            acked = stats.acked,
            "stopped cleanly"
        );
    }
}

/// Waits (bounded) until ingestion has acknowledged everything it took from the broker.
async fn drain(ingest: &IngestHandle, clock: &dyn Clock) {
    let deadline = clock.now().saturating_add(DRAIN_TIMEOUT);
    loop {
        let s = ingest.stats();
        if s.acked + s.ack_failures >= s.received {
            return;
        }
        if clock.now() >= deadline {
            warn!(
                received = s.received,
                acked = s.acked,
                "ingestion did not drain in time; the broker redelivers the rest on the next start"
            );
            return;
        }
        clock
            .sleep_until(clock.now().saturating_add(Duration::from_millis(20)))
            .await;
    }
}

async fn open_store(config: &Config) -> Result<(Arc<dyn Store>, StoreCloser), StartError> {
    match &config.database_url {
        DatabaseUrl::Sqlite(url) => {
            let store = praan_store_sqlite::SqliteStore::connect(url)
                .await
                .map_err(|e| StartError(format!("--database-url {url}: {e}")))?;
            let store = Arc::new(store);
            Ok((store.clone(), StoreCloser::Sqlite(store)))
        }
        DatabaseUrl::Mongo(url) => {
            let shown = redact_url_password(url);
            let store = praan_store_mongo::MongoStore::connect(url, mongo_database(url))
                .await
                .map_err(|e| StartError(format!("--database-url {shown}: {e}")))?
                .with_instance(&config.client_id);
            let retention = praan_store_mongo::RetentionConfig {
                readings: config.retention_readings,
                commands: config.retention_commands,
                runs: config.retention_commands,
            };
            store
                .ensure_indexes(&retention)
                .await
                .map_err(|e| StartError(format!("--database-url {shown}: {e}")))?;
            Ok((Arc::new(store.clone()), StoreCloser::Mongo(store)))
        }
    }
}

/// The database a `mongodb://` URL names in its path (as MongoDB's drivers read it), else
/// `praan`.
fn mongo_database(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = rest.split_once('/').map_or("", |(_, path)| path);
    match path.split('?').next() {
        Some(name) if !name.is_empty() => name,
        _ => "praan",
    }
}

/// Starts the embedded broker on `addr`; its URL.
async fn start_broker(addr: SocketAddr, simulate: usize) -> Result<String, StartError> {
    let options = RumqttdOptions {
        max_connections: 1_000.max(simulate + 100),
        ..RumqttdOptions::default()
    };
    let broker = Rumqttd::start_at(addr, options).await.map_err(|e| {
        StartError(format!(
            "cannot start the embedded MQTT broker on {addr}: {e} (use --broker-addr, or \
             --mqtt-url for an external broker)"
        ))
    })?;
    info!(%addr, "embedded MQTT broker listening");
    Ok(broker.url())
}

fn simulated_fleet(
    config: &Config,
    broker_url: &str,
    clock: Arc<dyn Clock>,
) -> Result<Fleet, praan_simulator::ConfigError> {
    let mut fleet = FleetConfig::new(BrokerUrl::parse(broker_url)?, clock);
    fleet.devices = config.simulate;
    fleet.interval = config.simulate_interval;
    fleet.topic_prefix = config.topic_prefix.clone();
    Fleet::new(fleet)
}

/// Logs, every [`ACTIVITY_EVERY`] in which something arrived, how many readings were stored,
/// so someone watching a demo sees the system at work.
async fn activity_loop(
    ingest: IngestHandle,
    clock: Arc<dyn Clock>,
    stop: impl Future<Output = ()>,
) {
    let work = async {
        let mut last = ingest.stats();
        loop {
            clock
                .sleep_until(clock.now().saturating_add(ACTIVITY_EVERY))
                .await;
            let now = ingest.stats();
            if now.received != last.received {
                info!(
                    readings = now.readings_stored - last.readings_stored,
                    messages = now.received - last.received,
                    rejected = now.rejected_total() - last.rejected_total(),
                    total_readings = now.readings_stored,
                    devices_registered = now.devices_registered,
                    "ingested in the last {}s",
                    ACTIVITY_EVERY.as_secs()
                );
            }
            last = now;
        }
    };
    tokio::select! {
        () = work => {}
        () = stop => {}
    }
}

/// Deletes what is older than the retention periods, at start and then every hour.
async fn purge_loop(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    readings: Duration,
    commands: Duration,
    stop: impl Future<Output = ()>,
) {
    let work = async {
        loop {
            let now = clock.now();
            let cutoffs = RetentionCutoffs {
                readings_before: Some(now.saturating_sub(readings)),
                commands_before: Some(now.saturating_sub(commands)),
                runs_before: Some(now.saturating_sub(commands)),
            };
            match store.purge(&cutoffs, 10_000).await {
                Ok(outcome) => info!(?outcome, "retention purge"),
                Err(e) => warn!("retention purge failed: {e}"),
            }
            clock.sleep_until(now.saturating_add(PURGE_EVERY)).await;
        }
    };
    tokio::select! {
        () = work => {}
        () = stop => {}
    }
}

#[cfg(test)]
mod tests {
    use super::mongo_database;

    #[test]
    fn a_mongodb_url_names_its_database_in_its_path() {
        let cases = [
            ("mongodb://db:27017", "praan"),
            ("mongodb://db:27017/", "praan"),
            ("mongodb://db:27017/?replicaSet=rs0", "praan"),
            ("mongodb://u:p@a:1,b:2/fleet?replicaSet=rs0", "fleet"),
            ("mongodb+srv://cluster.example.com/fleet", "fleet"),
        ];
        for (url, database) in cases {
            assert_eq!(mongo_database(url), database, "{url}");
        }
    }
}
