//! The soak: `devices` simulated purifiers, each with its own MQTT session, reporting every
//! second through Mosquitto to the `praan-server` binary (SQLite) for a while. It watches what a
//! long run breaks: the server's resident memory (sampled every few seconds, start after the
//! warm-up against the end), reconnects and connection errors, readings dropped or not stored,
//! errors in the server's log, and the ingest lag — a probe device publishes a reading every
//! 250 ms and the time until `GET /api/device/{id}/latest` shows it is recorded (PERFORMANCE.md
//! P4's measure: p99 ≤ 50 ms).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use bytes::Bytes;
use praan_core::clock::{Clock, Stopwatch, SystemClock};
use praan_simulator::{BrokerUrl, Fleet, FleetConfig, brokers::free_port, config::Backoff};

use crate::{
    latency::{self, Conn, P4_TARGET, Spread},
    mqtt::{Client, wait_for},
    sqlite::BoxError,
};

/// The probe device's id.
const PROBE: &str = "SOAK_PROBE";
/// Time between two probe readings.
const PROBE_EVERY: Duration = Duration::from_millis(250);
/// A probe reading not visible after this long is lost.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server's memory is sampled.
const RSS_EVERY: Duration = Duration::from_secs(5);
/// How long starting, connecting and draining may take.
const STEP: Duration = Duration::from_secs(60);
/// Memory growth still called flat: a fifth of the start, plus 16 MiB for SQLite's page caches
/// and the allocator's arenas filling up.
const RSS_SLACK: (f64, u64) = (0.2, 16 * 1024 * 1024);

/// What to run.
#[derive(Clone, Debug)]
pub struct SoakConfig {
    /// The `praan-server` binary.
    pub server: PathBuf,
    /// The `mosquitto` binary.
    pub mosquitto: PathBuf,
    /// Simulated devices (each its own MQTT session).
    pub devices: usize,
    /// How long the measured part runs.
    pub duration: Duration,
    /// How long the devices run before memory is first measured.
    pub warm_up: Duration,
}

/// What a soak measured.
#[derive(Clone, Debug)]
pub struct SoakReport {
    /// The configuration.
    pub config: SoakConfig,
    /// The server's resident memory after the warm-up, in bytes.
    pub rss_start: u64,
    /// At the end of the measured part.
    pub rss_end: u64,
    /// The largest sample.
    pub rss_max: u64,
    /// Reconnections of the devices' sessions.
    pub reconnects: u64,
    /// Failed connection attempts of the devices.
    pub connection_errors: u64,
    /// Readings the devices published (the probe's included).
    pub published: u64,
    /// Readings the devices dropped (their request queue full).
    pub dropped: u64,
    /// Readings the server stored.
    pub stored: u64,
    /// Readings the server skipped as already stored (a device that sent two readings with the
    /// same timestamp, or a redelivery).
    pub duplicates: u64,
    /// Messages the server rejected.
    pub rejected: u64,
    /// `ERROR` lines in the server's log.
    pub log_errors: usize,
    /// Probe latencies: published → visible at `/latest`.
    pub lag: Spread,
    /// Probe readings followed.
    pub probes: usize,
    /// Probe readings not visible within 10 s.
    pub lost_probes: usize,
}

impl SoakReport {
    /// The largest end-of-run memory still called flat.
    pub fn rss_limit(&self) -> u64 {
        (self.rss_start as f64 * (1.0 + RSS_SLACK.0)) as u64 + RSS_SLACK.1
    }

    /// Flat memory, no reconnects or errors, every reading stored, and the lag within P4.
    pub fn passes(&self) -> bool {
        self.rss_end <= self.rss_limit()
            && self.reconnects == 0
            && self.connection_errors == 0
            && self.dropped == 0
            && self.stored + self.duplicates == self.published
            && self.rejected == 0
            && self.log_errors == 0
            && self.lost_probes == 0
            && self.probes > 0
            && self.lag.p99 <= P4_TARGET
    }
}

/// The server child: killed on drop if it is still running.
struct ServerProcess {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    fn start(bin: &Path, dir: &Path, broker_url: &str) -> Result<Self, BoxError> {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new(bin)
            .arg(format!("--http-addr={addr}"))
            .arg(format!("--mqtt-url={broker_url}"))
            .arg(format!(
                "--database-url=sqlite://{}",
                dir.join("soak.db").display()
            ))
            .arg("--client-id=praan-soak")
            .arg("--log=warn")
            .env_remove("PRAAN_API_KEYS")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        Ok(Self { child, addr, log })
    }

    /// The resident set size from `/proc/{pid}/status`, in bytes.
    fn rss(&self) -> Result<u64, BoxError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .ok_or("no VmRSS in /proc/{pid}/status")?
            .parse::<u64>()?;
        Ok(kib * 1024)
    }

    fn running(&mut self) -> Result<(), BoxError> {
        if let Some(status) = self.child.try_wait()? {
            return Err(format!("praan-server exited ({status}):\n{}", self.log_tail()).into());
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Sends SIGTERM and waits for a clean exit.
    async fn stop(mut self) -> Result<usize, BoxError> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        wait_for("praan-server's exit", STEP, || {
            Ok(self.child.try_wait()?.is_some())
        })
        .await?;
        let text = std::fs::read_to_string(&self.log)?;
        Ok(text.lines().filter(|l| l.contains(" ERROR ")).count())
    }
}

/// A keep-alive HTTP connection to the server, opened again when the server closed it (it closes
/// connections idle past its header timeout).
struct Http {
    addr: SocketAddr,
    conn: Option<Conn>,
}

impl Http {
    /// One GET; the status and body.
    async fn get(&mut self, path: &str) -> Result<(u16, Vec<u8>), BoxError> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: praan\r\n\r\n");
        if let Some(conn) = self.conn.as_mut()
            && let Ok(response) = conn.send(request.as_bytes()).await
        {
            return Ok((response.status, response.body));
        }
        let mut conn = Conn::open(self.addr).await?;
        let response = conn.send(request.as_bytes()).await?;
        self.conn = Some(conn);
        Ok((response.status, response.body))
    }
}

/// A counter of the server's `/metrics` (`name` with its labels, exactly as printed).
async fn metric(http: &mut Http, name: &str) -> Result<u64, BoxError> {
    let (_, body) = http.get("/metrics").await?;
    let text = String::from_utf8(body)?;
    Ok(text
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0, |v| v as u64))
}

/// Publishes one probe reading stamped now and follows it until `/latest` shows it; the lag, or
/// `None` when it was not seen within [`PROBE_TIMEOUT`].
async fn probe(client: &mut Client, http: &mut Http) -> Result<Option<Duration>, BoxError> {
    let clock = SystemClock;
    let stamp = clock.now();
    let payload = format!(r#"{{"timestamp":"{}","pm25":12.5}}"#, stamp.to_rfc3339());
    let started = Stopwatch::start();
    client
        .publish_one(format!("device/{PROBE}/data"), Bytes::from(payload))
        .await?;
    loop {
        let (status, body) = http.get(&format!("/api/device/{PROBE}/latest")).await?;
        if status == 200 && latency::stored_timestamp(&body)? >= stamp {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() > PROBE_TIMEOUT {
            return Ok(None);
        }
        clock
            .sleep_until(clock.now().saturating_add(Duration::from_millis(1)))
            .await;
    }
}

/// Runs the soak.
///
/// # Errors
/// A part that cannot start or stops on its own (the broker, the server, the devices).
pub async fn soak(config: SoakConfig) -> Result<SoakReport, BoxError> {
    let clock = SystemClock;
    let broker = latency::broker(config.mosquitto.clone()).await?;
    let dir = tempfile::tempdir()?;
    let mut server = ServerProcess::start(&config.server, dir.path(), &broker.url())?;
    wait_for("praan-server ready", STEP, || {
        server.running()?;
        Ok(std::net::TcpStream::connect(server.addr).is_ok())
    })
    .await?;
    let mut conn = Http {
        addr: server.addr,
        conn: None,
    };
    while conn.get("/readyz").await?.0 != 200 {
        server.running()?;
        clock
            .sleep_until(clock.now().saturating_add(Duration::from_millis(50)))
            .await;
    }

    let mut fleet_config =
        FleetConfig::new(BrokerUrl::parse(&broker.url())?, Arc::new(SystemClock));
    fleet_config.devices = config.devices;
    fleet_config.id_prefix = "SOAK_".to_owned();
    fleet_config.interval = Duration::from_secs(1);
    fleet_config.connect_rate = 2_000;
    fleet_config.backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(5),
    };
    let fleet = Fleet::new(fleet_config)?;
    let counters = fleet.counters();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(fleet.run(async move {
        let _ = stopped.await;
    }));
    wait_for("every device connected", STEP, || {
        server.running()?;
        Ok(counters.snapshot().connected >= config.devices as u64)
    })
    .await?;

    let mut probe_client =
        Client::connect_with(broker.port(), "praan-soak-probe", 16, true).await?;
    // The probe's first reading registers it.
    let mut probe_published = 1;
    if probe(&mut probe_client, &mut conn).await?.is_none() {
        return Err("the probe device's first reading never became visible".into());
    }
    clock
        .sleep_until(clock.now().saturating_add(config.warm_up))
        .await;
    server.running()?;
    let rss_start = server.rss()?;
    let mut rss_max = rss_start;

    let measuring = Stopwatch::start();
    let mut lags = Vec::new();
    let mut lost_probes = 0;
    let mut next_rss = RSS_EVERY;
    while measuring.elapsed() < config.duration {
        server.running()?;
        let tick = measuring.elapsed();
        probe_published += 1;
        match probe(&mut probe_client, &mut conn).await? {
            Some(lag) => lags.push(lag),
            None => lost_probes += 1,
        }
        if measuring.elapsed() >= next_rss {
            rss_max = rss_max.max(server.rss()?);
            next_rss += RSS_EVERY;
        }
        let wait = (tick + PROBE_EVERY).saturating_sub(measuring.elapsed());
        clock.sleep_until(clock.now().saturating_add(wait)).await;
    }
    let rss_end = server.rss()?;
    rss_max = rss_max.max(rss_end);
    let probes = lags.len() + lost_probes;

    let _ = stop.send(());
    let end = run.await?;
    probe_client.close().await?;
    let published = end.readings_published + probe_published;
    let stored_name = "praan_ingest_readings_total{outcome=\"stored\"}";
    let duplicate_name = "praan_ingest_readings_total{outcome=\"duplicate\"}";
    let deadline = Stopwatch::start();
    let (mut stored, mut duplicates) = (0, 0);
    while deadline.elapsed() < STEP {
        stored = metric(&mut conn, stored_name).await?;
        duplicates = metric(&mut conn, duplicate_name).await?;
        if stored + duplicates >= published {
            break;
        }
        clock
            .sleep_until(clock.now().saturating_add(Duration::from_millis(100)))
            .await;
    }
    let mut rejected = 0;
    let (_, body) = conn.get("/metrics").await?;
    for line in String::from_utf8(body)?.lines() {
        if line.starts_with("praan_mqtt_rejected_total") {
            rejected += line
                .split_whitespace()
                .last()
                .and_then(|v| v.parse::<f64>().ok())
                .map_or(0, |v| v as u64);
        }
    }
    drop(conn);
    let log_errors = server.stop().await?;
    drop(broker);
    Ok(SoakReport {
        config,
        rss_start,
        rss_end,
        rss_max,
        reconnects: end.reconnects,
        connection_errors: end.connection_errors,
        published,
        dropped: end.readings_dropped,
        stored,
        duplicates,
        rejected,
        log_errors,
        lag: latency::spread(lags),
        probes,
        lost_probes,
    })
}
