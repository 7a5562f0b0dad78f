//! Real MQTT brokers to run devices and praan against (feature `brokers`): an embedded rumqttd on
//! its own thread, and Mosquitto child processes with their own config and directory, both on
//! free loopback ports (QUALITY.md, "Real components"). The tests and the performance report of
//! the workspace start their brokers from here.
//!
//! Mosquitto comes from the binary named by `PRAAN_TEST_MOSQUITTO_BIN`, which
//! `scripts/test-services.sh` installs and exports ([`mosquitto_from_env`]).

use std::{
    collections::HashMap,
    fmt::Write as _,
    fs, io,
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use praan_core::clock::{Clock, SystemClock};

/// Why a broker could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// An operating-system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The broker process exited while starting.
    #[error("the broker exited at start ({status}); log:\n{log}")]
    Exited {
        /// Its exit status.
        status: ExitStatus,
        /// Its log so far.
        log: String,
    },
    /// Nothing listened on the broker's port in time (or the process did not stop in time).
    #[error("{what} within {timeout:?}; log:\n{log}")]
    Timeout {
        /// What did not happen.
        what: String,
        /// How long it was given.
        timeout: Duration,
        /// The broker's log so far (empty for rumqttd).
        log: String,
    },
}

fn io_error(what: impl Into<String>) -> impl FnOnce(io::Error) -> BrokerError {
    let what = what.into();
    move |source| BrokerError::Io { what, source }
}

/// How long a broker may take to listen or to exit.
const STARTUP: Duration = Duration::from_secs(10);
/// How often a start or stop is checked.
const POLL: Duration = Duration::from_millis(20);

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> Result<u16, BrokerError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io_error("find a free loopback port"))
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port`, for `timeout` at most.
pub async fn wait_listening(port: u16, timeout: Duration) -> Result<(), BrokerError> {
    wait_listening_on(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout).await
}

/// Waits until something accepts TCP connections on `addr` (a wildcard address is tried on
/// loopback), for `timeout` at most.
pub async fn wait_listening_on(addr: SocketAddr, timeout: Duration) -> Result<(), BrokerError> {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(timeout);
    loop {
        if tokio::net::TcpStream::connect(target).await.is_ok() {
            return Ok(());
        }
        if clock.now() >= deadline {
            return Err(BrokerError::Timeout {
                what: format!("nothing listened on {target}"),
                timeout,
                log: String::new(),
            });
        }
        clock.sleep_until(clock.now().saturating_add(POLL)).await;
    }
}

// ---- rumqttd -----------------------------------------------------------------------------------

/// How to configure a [`Rumqttd`].
#[derive(Clone, Copy, Debug)]
pub struct RumqttdOptions {
    /// The largest payload a connection may publish.
    pub max_payload_size: usize,
    /// The most clients at once.
    pub max_connections: usize,
    /// Unacknowledged QoS 1 publishes in flight per connection.
    pub max_inflight_count: usize,
    /// Packets queued per connection before the router holds back.
    pub max_outgoing_packet_count: u64,
}

impl Default for RumqttdOptions {
    /// 1 MiB payloads, 1,000 connections, 100 in flight, 200 queued.
    fn default() -> Self {
        Self {
            max_payload_size: 1024 * 1024,
            max_connections: 1_000,
            max_inflight_count: 100,
            max_outgoing_packet_count: 200,
        }
    }
}

/// An embedded rumqttd (MQTT 3.1.1, console off) listening on 127.0.0.1. Its `start()` blocks,
/// so it runs on its own thread; rumqttd cannot be stopped, so the thread lives as long as the
/// process.
#[derive(Debug)]
pub struct Rumqttd {
    listen: SocketAddr,
}

impl Rumqttd {
    /// Starts a broker on a free loopback port and waits until it accepts connections.
    pub async fn start(options: RumqttdOptions) -> Result<Self, BrokerError> {
        let port = free_port()?;
        Self::start_at(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), options).await
    }

    /// Starts a broker listening on `listen` and waits until it accepts connections. Fails at
    /// once when the address is taken (rumqttd itself would only log it on its thread).
    pub async fn start_at(
        listen: SocketAddr,
        options: RumqttdOptions,
    ) -> Result<Self, BrokerError> {
        drop(TcpListener::bind(listen).map_err(io_error(format!("listen on {listen}")))?);
        let port = listen.port();
        let server = rumqttd::ServerSettings {
            name: format!("v4-{port}"),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections: rumqttd::ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size: options.max_payload_size,
                max_inflight_count: options.max_inflight_count,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = rumqttd::Config {
            id: 0,
            router: rumqttd::RouterConfig {
                max_connections: options.max_connections,
                max_outgoing_packet_count: options.max_outgoing_packet_count,
                max_segment_size: 100 * 1024 * 1024,
                max_segment_count: 10,
                ..Default::default()
            },
            v4: Some(HashMap::from([("v4".to_owned(), server)])),
            console: None,
            ..Default::default()
        };
        std::thread::Builder::new()
            .name(format!("rumqttd-{port}"))
            .spawn(move || {
                let mut broker = rumqttd::Broker::new(config);
                if let Err(e) = broker.start() {
                    tracing::error!(port, "rumqttd stopped: {e}");
                }
            })
            .map_err(io_error("spawn the rumqttd thread"))?;
        wait_listening_on(listen, STARTUP).await?;
        Ok(Self { listen })
    }

    /// `mqtt://{address}` (a wildcard address is reached on loopback).
    pub fn url(&self) -> String {
        let mut addr = self.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(Ipv4Addr::LOCALHOST.into());
        }
        format!("mqtt://{addr}")
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.listen.port()
    }
}

// ---- Mosquitto ---------------------------------------------------------------------------------

/// The Mosquitto binary named by `PRAAN_TEST_MOSQUITTO_BIN`, if set and not empty.
pub fn mosquitto_from_env() -> Option<PathBuf> {
    std::env::var_os("PRAAN_TEST_MOSQUITTO_BIN")
        .filter(|bin| !bin.is_empty())
        .map(PathBuf::from)
}

/// The Mosquitto binary for the test named `test`: from `PRAAN_TEST_MOSQUITTO_BIN`, or `None`
/// after printing `SKIPPED {test}: …` and how to provision it.
///
/// # Panics
///
/// When the variable is unset and `PRAAN_REQUIRE_BACKENDS=1` (as CI sets it): a test suite must
/// never pass by skipping what it was asked to run.
#[allow(
    clippy::print_stdout,
    reason = "a skipped test says so on the test output"
)]
pub fn mosquitto_for_test(test: &str) -> Option<PathBuf> {
    let bin = mosquitto_from_env();
    if bin.is_none() {
        let why = "PRAAN_TEST_MOSQUITTO_BIN is not set (run `scripts/test-services.sh start` \
                   and `source .services/env`)";
        assert!(
            std::env::var("PRAAN_REQUIRE_BACKENDS").as_deref() != Ok("1"),
            "{test}: {why}, and PRAAN_REQUIRE_BACKENDS=1 requires Mosquitto"
        );
        println!("SKIPPED {test}: {why}");
    }
    bin
}

/// How to configure a [`Mosquitto`].
#[derive(Clone, Debug, Default)]
pub struct MosquittoOptions {
    /// Keep sessions and queued messages on disk (saved when the broker is stopped gracefully,
    /// and every second).
    pub persistence: bool,
    /// `message_size_limit`: larger publishes are dropped (and acknowledged to the sender).
    pub message_size_limit: Option<usize>,
    /// TLS listener: (CA, server certificate, server key) file names in the broker's directory.
    pub tls_files: Option<(String, String, String)>,
    /// Refuse anonymous clients and accept only this user and password (a password file made
    /// with `mosquitto_passwd`).
    pub password: Option<(String, String)>,
    /// `max_queued_messages` per client (Mosquitto's default is 1,000; a client that is away or
    /// slow loses what is queued beyond it). 0 means no limit.
    pub max_queued_messages: Option<usize>,
    /// `max_inflight_messages` per client: the most QoS 1 and 2 messages Mosquitto sends a client
    /// before that client acknowledges them (Mosquitto's default is 20). In live flow a
    /// subscriber that acknowledges only after storing (praan's pipeline) has at most this many
    /// pending, so it bounds the batch size (Mosquitto 2.0 sends more while draining a queued
    /// backlog). 0 means no limit.
    pub max_inflight_messages: Option<usize>,
}

/// A Mosquitto child process on 127.0.0.1 with its own config and directory; killed on drop.
#[derive(Debug)]
pub struct Mosquitto {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Mosquitto {
    /// Writes the config into a new temporary directory, starts the broker and waits until it
    /// accepts connections.
    pub async fn start(bin: PathBuf, options: MosquittoOptions) -> Result<Self, BrokerError> {
        let dir = tempfile::tempdir().map_err(io_error("create the broker's directory"))?;
        Self::start_in(bin, dir, options).await
    }

    /// Like [`Mosquitto::start`], in `dir` (which may already hold certificates).
    pub async fn start_in(
        bin: PathBuf,
        dir: tempfile::TempDir,
        options: MosquittoOptions,
    ) -> Result<Self, BrokerError> {
        let port = free_port()?;
        let conf = config(&bin, dir.path(), port, &options)?;
        let file = dir.path().join("mosquitto.conf");
        fs::write(&file, conf).map_err(io_error(format!("write {}", file.display())))?;
        let mut broker = Self {
            bin,
            dir,
            port,
            child: None,
        };
        broker.spawn().await?;
        Ok(broker)
    }

    async fn spawn(&mut self) -> Result<(), BrokerError> {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io_error(format!("start {}", self.bin.display())))?;
        let child = self.child.insert(child);
        let clock = SystemClock;
        let deadline = clock.now().saturating_add(STARTUP);
        loop {
            if let Some(status) = child.try_wait().map_err(io_error("wait for mosquitto"))? {
                self.child = None;
                return Err(BrokerError::Exited {
                    status,
                    log: self.log(),
                });
            }
            if tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port))
                .await
                .is_ok()
            {
                return Ok(());
            }
            if clock.now() >= deadline {
                return Err(BrokerError::Timeout {
                    what: format!("mosquitto did not listen on port {}", self.port),
                    timeout: STARTUP,
                    log: self.log(),
                });
            }
            clock.sleep_until(clock.now().saturating_add(POLL)).await;
        }
    }

    /// `mqtt://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The broker's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The broker's directory (config, log, persistence, certificates).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The broker's log so far (empty when it cannot be read).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Stops the broker, gracefully (SIGTERM, so it saves its persistence file) or with SIGKILL,
    /// and waits until it has exited. Stopping a stopped broker does nothing.
    pub async fn stop(&mut self, graceful: bool) -> Result<(), BrokerError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if graceful {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .map_err(io_error("run kill -TERM"))?;
            if !status.success() {
                return Err(BrokerError::Io {
                    what: "kill -TERM mosquitto".into(),
                    source: io::Error::other(status.to_string()),
                });
            }
        } else {
            child.kill().map_err(io_error("kill mosquitto"))?;
        }
        let clock = SystemClock;
        let deadline = clock.now().saturating_add(STARTUP);
        while child
            .try_wait()
            .map_err(io_error("wait for mosquitto"))?
            .is_none()
        {
            if clock.now() >= deadline {
                child.kill().ok();
                child.wait().ok();
                return Err(BrokerError::Timeout {
                    what: "mosquitto did not exit".into(),
                    timeout: STARTUP,
                    log: self.log(),
                });
            }
            clock.sleep_until(clock.now().saturating_add(POLL)).await;
        }
        Ok(())
    }

    /// Starts a stopped broker again on the same port with the same config (and persistence
    /// file); does nothing while it runs.
    pub async fn restart(&mut self) -> Result<(), BrokerError> {
        if self.child.is_some() {
            return Ok(());
        }
        self.spawn().await
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// The broker's config file: a loopback listener, `user root` (so it can run as root in CI),
/// `set_tcp_nodelay true` (as a deployment should: with Nagle's algorithm every small packet it
/// forwards, a command or an ack, can wait tens of milliseconds), a log file in `dir`, and the
/// options.
fn config(
    bin: &Path,
    dir: &Path,
    port: u16,
    options: &MosquittoOptions,
) -> Result<String, BrokerError> {
    let mut conf = format!(
        "listener {port} 127.0.0.1\n\
         user root\n\
         set_tcp_nodelay true\n\
         log_dest file {log}\n\
         log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
         connection_messages true\n",
        log = dir.join("mosquitto.log").display(),
    );
    // `write!` into a String cannot fail; its Result is dropped explicitly.
    match &options.password {
        None => conf.push_str("allow_anonymous true\n"),
        Some((user, password)) => {
            let file = dir.join("passwd");
            let status = Command::new(mosquitto_passwd(bin))
                .arg("-b")
                .arg("-c")
                .arg(&file)
                .arg(user)
                .arg(password)
                .stdout(Stdio::null())
                .status()
                .map_err(io_error("run mosquitto_passwd"))?;
            if !status.success() {
                return Err(BrokerError::Io {
                    what: "mosquitto_passwd".into(),
                    source: io::Error::other(status.to_string()),
                });
            }
            let _ = writeln!(
                conf,
                "allow_anonymous false\npassword_file {}",
                file.display()
            );
        }
    }
    if options.persistence {
        let _ = writeln!(
            conf,
            "persistence true\npersistence_location {}/\nautosave_interval 1",
            dir.display()
        );
    } else {
        conf.push_str("persistence false\n");
    }
    if let Some(limit) = options.message_size_limit {
        let _ = writeln!(conf, "message_size_limit {limit}");
    }
    if let Some(max) = options.max_queued_messages {
        let _ = writeln!(conf, "max_queued_messages {max}");
    }
    if let Some(max) = options.max_inflight_messages {
        let _ = writeln!(conf, "max_inflight_messages {max}");
    }
    if let Some((ca, cert, key)) = &options.tls_files {
        let p = |f: &str| dir.join(f).display().to_string();
        let _ = writeln!(
            conf,
            "cafile {}\ncertfile {}\nkeyfile {}",
            p(ca),
            p(cert),
            p(key)
        );
    }
    Ok(conf)
}

/// `mosquitto_passwd`: beside the broker binary, or on PATH (Debian puts the broker in
/// /usr/sbin and the tools in /usr/bin).
fn mosquitto_passwd(bin: &Path) -> PathBuf {
    let beside = bin.with_file_name("mosquitto_passwd");
    if beside.exists() {
        beside
    } else {
        PathBuf::from("mosquitto_passwd")
    }
}
