//! `acme-air`: runs the embedding service — a SQLite store of its choice, praan's engine and
//! ingestion on an MQTT broker, and [`acme_air::app`] on 127.0.0.1:8080.

#![doc = include_str!("../README.md")]

use std::{error::Error, sync::Arc};

use praan_core::{
    clock::{Clock, SystemClock},
    codec::Codec,
    engine::{Engine, EngineConfig},
    ingest::{Ingest, IngestConfig},
    store::Store,
    transport::{MqttConfig, MqttTransport, Transport},
};
use praan_http::{AppState, HttpConfig};
use praan_store_sqlite::SqliteStore;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mqtt_url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "mqtt://127.0.0.1:1883".to_owned());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect("sqlite://acme-air.db").await?);

    let codec = Codec::default();
    let mut mqtt = MqttConfig::new(mqtt_url, "acme-air");
    mqtt.subscriptions = codec.subscriptions();
    let (transport, inbound, driver) = MqttTransport::connect(mqtt, clock.clone())?;
    tokio::spawn(driver);
    let transport: Arc<dyn Transport> = Arc::new(transport);

    let (engine, engine_task) = Engine::start(
        EngineConfig::default(),
        store.clone(),
        transport.clone(),
        clock.clone(),
    )
    .await?;
    tokio::spawn(engine_task);
    let (_stats, ingest) = Ingest::start(
        IngestConfig::default(),
        codec,
        store.clone(),
        transport.clone(),
        engine.clone(),
        clock.clone(),
        inbound,
    );
    tokio::spawn(ingest);

    let praan = AppState::new(store, engine.clone(), clock, HttpConfig::default())
        .with_mqtt_probe(move || transport.is_connected());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    axum::serve(listener, acme_air::app(praan, engine))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
