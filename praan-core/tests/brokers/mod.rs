//! Real MQTT brokers for tests: an embedded rumqttd on its own thread, and Mosquitto child
//! processes (QUALITY.md, "Real components"), both on free loopback ports; plus bounded
//! wait-for-condition helpers that sleep only through `SystemClock`.
//!
//! Mosquitto comes from `PRAAN_TEST_MOSQUITTO_BIN` (exported by `scripts/test-services.sh`). When
//! it is unset, [`mosquitto_bin`] says why the test skips — or fails the test when
//! `PRAAN_REQUIRE_BACKENDS=1` (as CI sets it), so CI never passes by skipping.

#![allow(
    dead_code,
    reason = "each test binary uses the part of the support it needs"
)]
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "test support: a failed unwrap is a failed test, and a skip says why on stdout"
)]

use std::{
    collections::HashMap,
    fmt::Write as _,
    fs,
    future::Future,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use praan_core::{
    clock::{Clock, SystemClock},
    transport::{Inbound, MqttConfig, MqttTransport},
};
use tokio::sync::mpsc;

/// A port on 127.0.0.1 that nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until `condition` holds, checking every 20 ms; panics after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(timeout);
    loop {
        if condition() {
            return;
        }
        assert!(
            clock.now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        clock
            .sleep_until(clock.now().saturating_add(Duration::from_millis(20)))
            .await;
    }
}

/// `future`'s output, or `None` once `timeout` has passed.
pub async fn within<T>(timeout: Duration, future: impl Future<Output = T>) -> Option<T> {
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(timeout);
    tokio::select! {
        out = future => Some(out),
        () = clock.sleep_until(deadline) => None,
    }
}

/// The next inbound message; panics when none arrives within `timeout` or the channel closed.
pub async fn recv(rx: &mut mpsc::Receiver<Inbound>, timeout: Duration) -> Inbound {
    within(timeout, rx.recv())
        .await
        .unwrap_or_else(|| panic!("no message within {timeout:?}"))
        .expect("the inbound channel closed")
}

/// Asserts that no message arrives within `quiet`.
pub async fn assert_silent(rx: &mut mpsc::Receiver<Inbound>, quiet: Duration) {
    if let Some(Some(m)) = within(quiet, rx.recv()).await {
        panic!("unexpected message on {}: {:?}", m.topic, m.payload);
    }
}

/// Waits until the transport is connected (10 s at most).
pub async fn wait_connected(transport: &MqttTransport) {
    use praan_core::transport::Transport;
    wait_for("the transport to connect", Duration::from_secs(10), || {
        transport.is_connected()
    })
    .await;
}

/// Waits until the transport is connected for the `connection`-th time and that connection's
/// subscriptions are acknowledged by the broker (10 s at most).
pub async fn wait_subscribed(transport: &MqttTransport, connection: u64) {
    use praan_core::transport::Transport;
    wait_for(
        &format!("connection {connection} to be subscribed"),
        Duration::from_secs(10),
        || {
            let stats = transport.stats();
            transport.is_connected()
                && stats.connections == connection
                && stats.subscribed >= connection
        },
    )
    .await;
}

/// Connects a transport with `config` and spawns its driver on the current runtime.
pub fn start_transport(
    config: MqttConfig,
) -> (
    MqttTransport,
    mpsc::Receiver<Inbound>,
    tokio::task::JoinHandle<()>,
) {
    let (transport, inbound, driver) = MqttTransport::connect(config, Arc::new(SystemClock))
        .expect("a valid transport configuration");
    (transport, inbound, tokio::spawn(driver))
}

// ---- rumqttd -----------------------------------------------------------------------------------

/// An embedded rumqttd listening on 127.0.0.1. Its `start()` blocks, so it runs on its own thread;
/// rumqttd cannot be stopped, so the thread lives as long as the test process.
#[derive(Debug)]
pub struct Rumqttd {
    port: u16,
}

impl Rumqttd {
    /// Starts a broker (MQTT 3.1.1, console off) whose connections accept payloads of up to
    /// `max_payload_size` bytes, and waits until it accepts connections.
    pub async fn start(max_payload_size: usize) -> Self {
        let port = free_port();
        let listen: SocketAddr = ([127, 0, 0, 1], port).into();
        let server = rumqttd::ServerSettings {
            name: format!("v4-{port}"),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections: rumqttd::ConnectionSettings {
                connection_timeout_ms: 60_000,
                max_payload_size,
                max_inflight_count: 100,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        };
        let config = rumqttd::Config {
            id: 0,
            router: rumqttd::RouterConfig {
                max_connections: 1000,
                max_outgoing_packet_count: 200,
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
                    panic!("rumqttd on port {port} failed: {e}");
                }
            })
            .unwrap();
        wait_listening(port).await;
        Self { port }
    }

    /// `mqtt://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }
}

/// Waits until something accepts TCP connections on 127.0.0.1:`port` (10 s at most).
pub async fn wait_listening(port: u16) {
    let clock = SystemClock;
    let deadline = clock.now().saturating_add(Duration::from_secs(10));
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            clock.now() < deadline,
            "nothing listens on 127.0.0.1:{port} after 10 s"
        );
        clock
            .sleep_until(clock.now().saturating_add(Duration::from_millis(20)))
            .await;
    }
}

// ---- Mosquitto ---------------------------------------------------------------------------------

/// The Mosquitto binary from `PRAAN_TEST_MOSQUITTO_BIN`; `None` (after saying why) when it is
/// unset and backends are not required. Panics when it is unset and `PRAAN_REQUIRE_BACKENDS=1`.
pub fn mosquitto_bin(test: &str) -> Option<PathBuf> {
    match std::env::var_os("PRAAN_TEST_MOSQUITTO_BIN") {
        Some(bin) if !bin.is_empty() => Some(PathBuf::from(bin)),
        _ => {
            let why = "PRAAN_TEST_MOSQUITTO_BIN is not set (run `scripts/test-services.sh start` \
                       and `source .services/env`)";
            assert!(
                std::env::var("PRAAN_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "{test}: {why}, and PRAAN_REQUIRE_BACKENDS=1 requires Mosquitto"
            );
            println!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// How to configure a [`Mosquitto`].
#[derive(Clone, Debug, Default)]
pub struct MosquittoOptions {
    /// Keep sessions and queued messages on disk (saved when the broker is stopped gracefully).
    pub persistence: bool,
    /// `message_size_limit`: larger publishes are dropped (and acknowledged to the sender).
    pub message_size_limit: Option<usize>,
    /// TLS listener: (CA, server certificate, server key) file names in the broker's directory.
    pub tls_files: Option<(String, String, String)>,
    /// Refuse anonymous clients and accept only this user and password (a password file made
    /// with `mosquitto_passwd`).
    pub password: Option<(String, String)>,
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
    /// Writes the config, starts the broker and waits until it accepts connections.
    pub async fn start(bin: PathBuf, options: MosquittoOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(bin, dir, options).await
    }

    /// Like [`Mosquitto::start`], in `dir` (which may already hold certificates).
    pub async fn start_in(bin: PathBuf, dir: tempfile::TempDir, options: MosquittoOptions) -> Self {
        let port = free_port();
        let mut conf = format!(
            "listener {port} 127.0.0.1\n\
             user root\n\
             log_dest file {log}\n\
             log_type error\nlog_type warning\nlog_type notice\nlog_type information\n\
             connection_messages true\n",
            log = dir.path().join("mosquitto.log").display(),
        );
        match &options.password {
            None => conf.push_str("allow_anonymous true\n"),
            Some((user, password)) => {
                let file = dir.path().join("passwd");
                let status = Command::new(mosquitto_passwd(&bin))
                    .arg("-b")
                    .arg("-c")
                    .arg(&file)
                    .arg(user)
                    .arg(password)
                    .stdout(Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success(), "mosquitto_passwd failed");
                writeln!(
                    conf,
                    "allow_anonymous false\npassword_file {}",
                    file.display()
                )
                .unwrap();
            }
        }
        if options.persistence {
            writeln!(
                conf,
                "persistence true\npersistence_location {}/\nautosave_interval 1",
                dir.path().display()
            )
            .unwrap();
        } else {
            conf.push_str("persistence false\n");
        }
        if let Some(limit) = options.message_size_limit {
            writeln!(conf, "message_size_limit {limit}").unwrap();
        }
        if let Some((ca, cert, key)) = &options.tls_files {
            let p = |f: &str| dir.path().join(f).display().to_string();
            writeln!(
                conf,
                "cafile {}\ncertfile {}\nkeyfile {}",
                p(ca),
                p(cert),
                p(key)
            )
            .unwrap();
        }
        fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        let mut broker = Self {
            bin,
            dir,
            port,
            child: None,
        };
        broker.spawn().await;
        broker
    }

    async fn spawn(&mut self) {
        let child = Command::new(&self.bin)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let clock = SystemClock;
        let deadline = clock.now().saturating_add(Duration::from_secs(10));
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("mosquitto exited at start ({status}); log:\n{}", self.log());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            assert!(
                clock.now() < deadline,
                "mosquitto did not listen within 10 s; log:\n{}",
                self.log()
            );
            clock
                .sleep_until(clock.now().saturating_add(Duration::from_millis(20)))
                .await;
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

    /// The broker's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    /// Stops the broker: gracefully (SIGTERM, so it saves its persistence file) or with SIGKILL;
    /// waits until it has exited.
    pub async fn stop(&mut self, graceful: bool) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if graceful {
            let status = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status()
                .unwrap();
            assert!(status.success(), "kill -TERM failed");
        } else {
            child.kill().unwrap();
        }
        let clock = SystemClock;
        let deadline = clock.now().saturating_add(Duration::from_secs(10));
        while child.try_wait().unwrap().is_none() {
            if clock.now() >= deadline {
                child.kill().ok();
                child.wait().ok();
                panic!("mosquitto did not exit within 10 s");
            }
            clock
                .sleep_until(clock.now().saturating_add(Duration::from_millis(20)))
                .await;
        }
    }

    /// Starts the broker again on the same port with the same config (and persistence file).
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the broker before restarting it");
        self.spawn().await;
    }
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

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}
