//! P6: HTTP reads (`/state`, `/latest`) on loopback. The whole API (`praan_http::router` over a
//! SQLite store with 1,000 devices, each with a reading) is served by axum on 127.0.0.1 in this
//! process; `connections` keep-alive HTTP/1.1 clients (a minimal client, so the measurement has
//! no client library in the way) alternate `GET /api/device/{id}/state` and `/latest` over random
//! devices for the measuring window. Server and clients share the machine's cores, as with wrk.

use std::{sync::Arc, time::Duration};

use praan_core::{
    clock::{Clock, Stopwatch, SystemClock},
    codec::{Codec, DeviceMessage},
    engine::{Engine, EngineConfig},
    store::Store,
    transport::MemoryTransport,
};
use praan_http::{AppState, HttpConfig};
use praan_store_sqlite::SqliteStore;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
};

use crate::sqlite::BoxError;

/// What [`p6`] measured.
#[derive(Clone, Debug)]
pub struct HttpReads {
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// Requests answered in the window.
    pub requests: u64,
    /// Requests per second.
    pub per_sec: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th percentile latency.
    pub p99: Duration,
}

const DEVICES: usize = 1_000;

/// Serves the API and measures reads for `window` with `connections` clients.
pub async fn p6(connections: usize, window: Duration) -> Result<HttpReads, BoxError> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("p6.db").display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let codec = Codec::default();
    let now = clock.now();
    let mut readings = Vec::with_capacity(DEVICES);
    for n in 0..DEVICES {
        let topic = format!("device/P6_{n:04}/data");
        let payload = br#"{"pm25":36.1,"pm10":48.9,"temperature":25.4,"humidity":61,"fanSpeed":3,"powerOn":true}"#;
        if let Ok(DeviceMessage::Readings { readings: r, .. }) = codec.decode(&topic, payload, now)
        {
            for reading in &r {
                store
                    .ensure_device(&praan_core::domain::Device::auto_registered(
                        reading.device_id().clone(),
                        now,
                    ))
                    .await?;
            }
            readings.extend(r);
        }
    }
    store.append_readings(&readings).await?;
    let (transport, _inbound) = MemoryTransport::new(16);
    let (engine, engine_task) = Engine::start(
        EngineConfig::default(),
        store.clone(),
        Arc::new(transport),
        clock.clone(),
    )
    .await?;
    let engine_task = tokio::spawn(engine_task);
    let state = AppState::new(store, engine, clock, HttpConfig::default());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, praan_http::router(state)).await;
    });

    let mut clients = Vec::with_capacity(connections);
    for c in 0..connections {
        clients.push(tokio::spawn(client(addr, c, window)));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await??);
    }
    server.abort();
    drop(engine_task);
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let requests = latencies.len() as u64;
    Ok(HttpReads {
        connections,
        requests,
        per_sec: requests as f64 / window.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    })
}

/// One keep-alive connection sending reads for `window`; the latency of each.
async fn client(
    addr: std::net::SocketAddr,
    seed: usize,
    window: Duration,
) -> Result<Vec<Duration>, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut latencies = Vec::new();
    let started = Stopwatch::start();
    let mut n = seed.wrapping_mul(7919);
    let mut line = String::new();
    let mut body = Vec::new();
    while started.elapsed() < window {
        n = n.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let device = (n >> 8) % DEVICES;
        let tail = if n.is_multiple_of(2) {
            "state"
        } else {
            "latest"
        };
        let request =
            format!("GET /api/device/P6_{device:04}/{tail} HTTP/1.1\r\nHost: praan\r\n\r\n");
        let sent = Stopwatch::start();
        write.write_all(request.as_bytes()).await?;
        let mut length = 0usize;
        let mut status_ok = false;
        loop {
            line.clear();
            if read.read_line(&mut line).await? == 0 {
                return Err("the server closed the connection".into());
            }
            if line.starts_with("HTTP/1.1 ") {
                status_ok = line.starts_with("HTTP/1.1 200");
            }
            if let Some(v) = line
                .strip_prefix("content-length: ")
                .or_else(|| line.strip_prefix("Content-Length: "))
            {
                length = v.trim().parse()?;
            }
            if line == "\r\n" {
                break;
            }
        }
        body.resize(length, 0);
        read.read_exact(&mut body).await?;
        if !status_ok {
            return Err(format!("GET {tail}: {}", String::from_utf8_lossy(&body)).into());
        }
        latencies.push(sent.elapsed());
    }
    Ok(latencies)
}
