//! The locked-down Mosquitto deployment of `deploy/mosquitto`, as provisioned by its own script,
//! with `praan-server` connected over `mqtts://` with its credentials: devices cannot publish as
//! another device, cannot read another device's commands, cannot write commands at all, and
//! clients without a provisioned user — a user name with `+` or `#` among them — are refused.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use praan_core::{
    clock::{Clock, SystemClock},
    transport::{Inbound, MqttConfig, MqttTransport, Outbound, TlsConfig, Transport},
};
use praan_simulator::brokers::{free_port, mosquitto_for_test};
use support::{Server, wait_until};
use tokio::sync::mpsc::Receiver;

/// How long any one step may take.
const STEP: Duration = Duration::from_secs(20);

/// Mosquitto started from the provisioned directory; killed on drop.
struct Broker {
    child: Child,
    dir: PathBuf,
    port: u16,
    credentials: HashMap<String, String>,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// Runs `deploy/mosquitto/provision.sh` into `dir` for `devices`, then starts Mosquitto with
    /// the configuration it wrote, and waits until it accepts connections.
    async fn provision_and_start(bin: &Path, dir: &Path, devices: &[&str]) -> Self {
        let port = free_port().unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/mosquitto/provision.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(dir)
            .args(["--port", &port.to_string()])
            .args(devices)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "provision.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Started as root (as in CI), Mosquitto drops to the `mosquitto` user, which cannot read
        // a test's private directory; a deployment chowns the directory instead (see its README).
        let conf = dir.join("mosquitto.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\nuser root\n");
        std::fs::write(&conf, text).unwrap();
        let log = std::fs::File::create(dir.join("mosquitto.log")).unwrap();
        let child = Command::new(bin)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let credentials = std::fs::read_to_string(dir.join("credentials"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(u, p)| (u.to_owned(), p.trim().to_owned()))
            .collect();
        let broker = Self {
            child,
            dir: dir.to_owned(),
            port,
            credentials,
        };
        wait_until("Mosquitto accepts connections", STEP, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        broker
    }

    fn password(&self, user: &str) -> &str {
        self.credentials
            .get(user)
            .unwrap_or_else(|| panic!("no password for {user}"))
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    /// `mqtts://user:password@localhost:port` (the certificate names `localhost`); no
    /// credentials at all for an empty `user`.
    fn url(&self, user: &str, password: &str) -> String {
        if user.is_empty() {
            format!("mqtts://localhost:{}", self.port)
        } else {
            format!("mqtts://{user}:{password}@localhost:{}", self.port)
        }
    }

    /// A client logged in as `user` with `password`, subscribed to `subscriptions`.
    fn client(&self, user: &str, password: &str, subscriptions: &[&str]) -> Client {
        let mut config = MqttConfig::new(self.url(user, password), "anyone");
        config.subscriptions = subscriptions.iter().map(|s| (*s).to_owned()).collect();
        config.clean_session = true;
        config.tls = Some(TlsConfig::ca_pem(std::fs::read(self.ca()).unwrap()));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let (transport, inbound, driver) = MqttTransport::connect(config, clock).unwrap();
        Client {
            transport,
            inbound,
            driver: tokio::spawn(driver),
        }
    }

    /// A provisioned device's client, subscribed to `subscriptions`, once subscribed.
    async fn device(&self, id: &str, subscriptions: &[&str]) -> Client {
        let client = self.client(id, self.password(id), subscriptions);
        wait_until(&format!("{id} subscribed"), STEP, || async {
            let s = client.transport.stats();
            s.connections >= 1 && s.subscribed >= 1
        })
        .await;
        client
    }
}

/// An MQTT client (praan's own transport, used here as a device would use any client).
struct Client {
    transport: MqttTransport,
    inbound: Receiver<Inbound>,
    driver: tokio::task::JoinHandle<()>,
}

impl Client {
    async fn publish(&self, topic: &str, payload: &str) {
        self.transport
            .publish(Outbound::new(topic.to_owned(), payload.as_bytes().to_vec()))
            .await
            .unwrap();
    }

    /// The next message delivered to this client (acknowledged), within [`STEP`].
    async fn next(&mut self) -> Inbound {
        let message = tokio::select! {
            m = self.inbound.recv() => m.unwrap(),
            () = SystemClock.sleep_until(SystemClock.now().saturating_add(STEP)) => {
                panic!("no message within {STEP:?}")
            }
        };
        self.transport.ack(message.delivery).await.unwrap();
        message
    }

    fn stop(self) {
        self.transport.disconnect();
        self.driver.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_locked_down_deployment_keeps_devices_apart() {
    let Some(bin) = mosquitto_for_test("the_locked_down_deployment_keeps_devices_apart") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::provision_and_start(&bin, &dir.path().join("broker"), &["A1", "B2"]).await;

    // praan connects over TLS, trusting the deployment's CA, with its own credentials (ready =
    // connected and subscribed).
    let server = Server::start(
        dir.path(),
        &[
            &format!(
                "--mqtt-url={}",
                broker.url("praan", broker.password("praan"))
            ),
            &format!("--mqtt-ca-file={}", broker.ca().display()),
        ],
    )
    .await;

    let mut a1 = broker
        .device("A1", &["device/A1/command", "device/B2/command"])
        .await;
    let mut b2 = broker.device("B2", &["device/B2/command"]).await;

    // A1 publishes as B2, then as itself: praan stores only its own reading.
    a1.publish("device/B2/data", r#"{"pm25":66.6}"#).await;
    a1.publish("device/A1/data", r#"{"pm25":11.1}"#).await;
    wait_until("A1's reading stored", STEP, || async {
        server.get("/api/device/A1/latest").await.status == 200
    })
    .await;
    let b2_latest = server.get("/api/device/B2/latest").await;
    assert_eq!(
        b2_latest.status, 404,
        "A1 published as B2: {}",
        b2_latest.body
    );

    // B2 reports (and so is registered); praan's command to B2 reaches B2 and not A1, which
    // subscribed to B2's commands: the first command A1 sees is its own.
    b2.publish("device/B2/data", r#"{"pm25":22.2}"#).await;
    wait_until("B2's reading stored", STEP, || async {
        server.get("/api/device/B2/latest").await.status == 200
    })
    .await;
    let to_b2 = server.command_fan("B2", 2).await;
    let got = b2.next().await;
    assert_eq!(got.topic, "device/B2/command");
    assert!(String::from_utf8_lossy(&got.payload).contains(&to_b2));
    let to_a1 = server.command_fan("A1", 3).await;
    let got = a1.next().await;
    assert_eq!(
        got.topic, "device/A1/command",
        "A1 read another device's command"
    );
    assert!(String::from_utf8_lossy(&got.payload).contains(&to_a1));

    // Only praan writes commands: B2's forged command to A1 never arrives; the next message A1
    // gets is praan's next command.
    b2.publish(
        "device/A1/command",
        r#"{"commandId":"0193f1c2-7a3b-7c4d-8e5f-0123456789ab","action":"turnOff","value":0}"#,
    )
    .await;
    let next_to_a1 = server.command_fan("A1", 4).await;
    loop {
        let got = a1.next().await;
        assert_eq!(got.topic, "device/A1/command");
        let payload = String::from_utf8_lossy(&got.payload).into_owned();
        assert!(
            !payload.contains("0193f1c2-7a3b-7c4d-8e5f-0123456789ab"),
            "B2 wrote a command to A1: {payload}"
        );
        // Retries of the earlier command may come first (A1 does not ack here).
        if payload.contains(&next_to_a1) {
            break;
        }
    }

    // No provisioned user, no connection: anonymous clients, a wrong password, and user names
    // with `+` or `#` (never provisioned: provision.sh refuses them).
    for (user, password) in [
        ("", ""),
        ("A1", "wrong"),
        ("A%2B1", "anything"),
        ("A%231", "anything"),
        ("%2B", "anything"),
    ] {
        let client = broker.client(user, password, &["device/+/data"]);
        wait_until(&format!("user {user:?} refused"), STEP, || async {
            client.transport.stats().connection_errors >= 2
        })
        .await;
        assert_eq!(
            client.transport.stats().connections,
            0,
            "user {user:?} connected"
        );
        client.stop();
    }
    for id in ["A+1", "#", "praan", "a/b"] {
        let out = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/mosquitto/provision.sh"))
            .arg(dir.path().join(format!("refused-{}", id.len())))
            .arg(id)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "provision.sh accepted {id:?}");
    }

    a1.stop();
    b2.stop();
    drop(server);
    drop(broker);
}
