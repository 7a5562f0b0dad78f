//! The built `praan-server` binary as a child process (temp SQLite, free loopback ports for HTTP
//! and the embedded broker, short timeouts via flags), a minimal HTTP/1.1 client, simulated
//! devices in the test process, and bounded waits (sleeping only through `SystemClock`).

#![allow(
    dead_code,
    reason = "each test binary uses the part of the support it needs"
)]
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    reason = "test support: a failed unwrap is a failed test"
)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::Arc,
    time::Duration,
};

use praan_core::{
    clock::{Clock, SystemClock},
    domain::{FanSpeed, FanState},
};
use praan_simulator::{
    BrokerUrl, Fleet, FleetConfig, brokers::free_port, config::Backoff, fleet::CountersSnapshot,
};
use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
};

/// Waits until `cond` (async) holds, polling every 50 ms; panics after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = SystemClock.now().saturating_add(timeout);
    loop {
        if cond().await {
            return;
        }
        assert!(
            SystemClock.now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        SystemClock
            .sleep_until(SystemClock.now().saturating_add(Duration::from_millis(50)))
            .await;
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Http {
    pub status: u16,
    pub body: String,
    pub json: Value,
}

/// The server process.
pub struct Server {
    pub dir: PathBuf,
    pub http_port: u16,
    pub broker_port: u16,
    args: Vec<String>,
    child: Option<Child>,
    starts: usize,
}

impl Server {
    /// Starts `praan-server` in `dir` with the test defaults (ack timeout 500 ms, 2 retries)
    /// plus `extra` flags, and waits until `/readyz` answers 200.
    pub async fn start(dir: &Path, extra: &[&str]) -> Self {
        let http_port = free_port().unwrap();
        let broker_port = free_port().unwrap();
        let mut args = vec![
            format!("--database-url=sqlite://{}", dir.join("praan.db").display()),
            format!("--http-addr=127.0.0.1:{http_port}"),
            format!("--broker-addr=127.0.0.1:{broker_port}"),
            "--ack-timeout=500ms".to_owned(),
            "--max-retries=2".to_owned(),
            "--log=info".to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut server = Self {
            dir: dir.to_owned(),
            http_port,
            broker_port,
            args,
            child: None,
            starts: 0,
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        self.starts += 1;
        let log =
            std::fs::File::create(self.dir.join(format!("server-{}.log", self.starts))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_praan-server"))
            .args(&self.args)
            .env_remove("PRAAN_API_KEYS")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = SystemClock.now().saturating_add(Duration::from_secs(30));
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("praan-server exited at start ({status}):\n{}", self.log());
            }
            if let Ok(r) = self.try_request("GET", "/readyz", None).await
                && r.status == 200
            {
                return;
            }
            assert!(
                SystemClock.now() < deadline,
                "praan-server not ready within 30 s:\n{}",
                self.log()
            );
            SystemClock
                .sleep_until(SystemClock.now().saturating_add(Duration::from_millis(50)))
                .await;
        }
    }

    /// Every log of this server so far.
    pub fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.dir.join(format!("server-{n}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---- restart ----\n")
    }

    /// `mqtt://127.0.0.1:{broker}`.
    pub fn broker_url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.broker_port)
    }

    /// Kills the server with SIGKILL (no shutdown at all).
    pub fn kill9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends SIGTERM and waits (20 s at most) for the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let mut child = self.child.take().unwrap();
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = SystemClock.now().saturating_add(Duration::from_secs(20));
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if SystemClock.now() >= deadline {
                child.kill().ok();
                child.wait().ok();
                panic!(
                    "praan-server did not exit within 20 s of SIGTERM:\n{}",
                    self.log()
                );
            }
            SystemClock
                .sleep_until(SystemClock.now().saturating_add(Duration::from_millis(50)))
                .await;
        }
    }

    /// Starts the server again with the same flags, ports and database.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.spawn().await;
    }

    async fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<Http> {
        self.try_request_with(method, path, body, "").await
    }

    /// Sends a request with `headers` (`Name: value\r\n` lines) added.
    pub async fn try_request_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &str,
    ) -> std::io::Result<Http> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.http_port)).await?;
        let body = body.unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        };
        let json = serde_json::from_str(&body).unwrap_or(Value::Null);
        Ok(Http { status, body, json })
    }

    /// Sends a request (JSON body when given) and returns the answer; panics if the server
    /// does not answer within 30 s.
    pub async fn request(&self, method: &str, path: &str, body: Option<&str>) -> Http {
        let deadline = SystemClock.now().saturating_add(Duration::from_secs(30));
        tokio::select! {
            r = self.try_request(method, path, body) => r.unwrap_or_else(|e| panic!("{method} {path}: {e}")),
            () = SystemClock.sleep_until(deadline) => panic!("{method} {path}: no answer within 30 s"),
        }
    }

    pub async fn get(&self, path: &str) -> Http {
        self.request("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Http {
        self.request("POST", path, Some(body)).await
    }

    /// `POST /api/control/fan` for `device` at `speed`; asserts the 202 and returns the command id.
    pub async fn command_fan(&self, device: &str, speed: u8) -> String {
        let body = format!(r#"{{"deviceId":"{device}","fanSpeed":{speed}}}"#);
        let sent = self.post("/api/control/fan", &body).await;
        assert_eq!(sent.status, 202, "{}", sent.body);
        sent.json["data"]["commandId"].as_str().unwrap().to_owned()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}

/// Simulated devices in the test process, on the server's broker.
pub struct Devices {
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<CountersSnapshot>>,
}

impl Devices {
    /// `n` devices `{prefix}0001…` starting at speed `speed`, a reading every 300 ms.
    pub fn start(broker_url: &str, n: usize, prefix: &str, speed: u8) -> Self {
        let mut c = FleetConfig::new(BrokerUrl::parse(broker_url).unwrap(), Arc::new(SystemClock));
        c.devices = n;
        c.id_prefix = prefix.to_owned();
        c.interval = Duration::from_millis(300);
        c.initial = Some(if speed == 0 {
            FanState::OFF
        } else {
            FanState::at_speed(FanSpeed::new(speed).unwrap())
        });
        c.connect_rate = 1000;
        c.backoff = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(500),
        };
        c.shutdown_timeout = Duration::from_secs(5);
        let fleet = Fleet::new(c).unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(fleet.run(async move {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            done: Some(done),
        }
    }

    /// Shuts the devices down gracefully; their counters.
    pub async fn stop(mut self) -> CountersSnapshot {
        let _ = self.stop.take().unwrap().send(());
        self.done.take().unwrap().await.unwrap()
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done.abort();
        }
    }
}
