//! Test support: an embedded rumqttd (from `praan_simulator::brokers`), a plain rumqttc probe client,
//! a killable TCP proxy, and bounded waits (sleeping only through `SystemClock::sleep_until`).

#![allow(
    dead_code,
    reason = "each test binary uses the part of the support it needs"
)]
#![allow(
    clippy::unwrap_used,
    reason = "test support: a failed unwrap is a failed test"
)]

use std::{
    future::Future,
    net::Ipv4Addr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use praan_core::{
    clock::{Clock, SystemClock},
    domain::Timestamp,
};
use praan_simulator::brokers::{Rumqttd, RumqttdOptions};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};

/// A deadline `d` from now.
pub(crate) fn deadline(d: Duration) -> Timestamp {
    SystemClock.now().saturating_add(d)
}

/// `fut`'s output, or `None` once `until` has passed.
pub(crate) async fn before<T>(until: Timestamp, fut: impl Future<Output = T>) -> Option<T> {
    tokio::select! {
        v = fut => Some(v),
        () = SystemClock.sleep_until(until) => None,
    }
}

/// Sleeps `d` (through the clock).
pub(crate) async fn pause(d: Duration) {
    SystemClock.sleep_until(deadline(d)).await;
}

/// Starts rumqttd on a free 127.0.0.1 port and waits until it accepts connections; its port.
/// The broker lives until the test process ends.
pub(crate) async fn start_broker(max_connections: usize) -> u16 {
    let options = RumqttdOptions {
        max_payload_size: 256 * 1024,
        max_connections,
        max_inflight_count: 500,
        max_outgoing_packet_count: 1000,
    };
    Rumqttd::start(options).await.unwrap().port()
}

/// A message a probe received.
#[derive(Clone, Debug)]
pub(crate) struct Msg {
    pub(crate) topic: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) retain: bool,
}

impl Msg {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// A plain rumqttc client subscribed to some filters: what it receives arrives on `rx`.
pub(crate) struct Probe {
    pub(crate) client: AsyncClient,
    pub(crate) rx: mpsc::UnboundedReceiver<Msg>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    /// Connects as `id` to the broker on `port`, subscribes to `filters` (QoS 1) and waits for
    /// the SubAck.
    pub(crate) async fn connect(id: &str, port: u16, filters: &[&str]) -> Self {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_max_packet_size(256 * 1024, 256 * 1024);
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        for f in filters {
            client.subscribe(*f, QoS::AtLeastOnce).await.unwrap();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let (subacked_tx, mut subacked) = watch::channel(0usize);
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let _ = tx.send(Msg {
                            topic: p.topic.clone(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        });
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        subacked_tx.send_modify(|n| *n += 1);
                    }
                    Ok(_) => {}
                    Err(_) => pause(Duration::from_millis(50)).await,
                }
            }
        });
        let n = filters.len();
        before(
            deadline(Duration::from_secs(10)),
            subacked.wait_for(|k| *k >= n),
        )
        .await
        .expect("the probe's subscriptions were acknowledged")
        .unwrap();
        Self { client, rx, task }
    }

    /// The next message, or `None` once `until` has passed.
    pub(crate) async fn next(&mut self, until: Timestamp) -> Option<Msg> {
        before(until, self.rx.recv()).await.flatten()
    }

    /// Receives until `done` says so (given each message); panics with `what` at `until`.
    pub(crate) async fn until(
        &mut self,
        until: Timestamp,
        what: &str,
        mut done: impl FnMut(&Msg) -> bool,
    ) {
        loop {
            let Some(m) = self.next(until).await else {
                panic!("timed out waiting for {what}");
            };
            if done(&m) {
                return;
            }
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A TCP proxy on a free loopback port in front of the broker: it can refuse sessions (accept
/// and close at once) and cut every open one abruptly (no MQTT DISCONNECT, as a network failure).
pub(crate) struct Proxy {
    pub(crate) port: u16,
    accepting: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub(crate) async fn start(broker_port: u16, accepting: bool) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepting = Arc::new(AtomicBool::new(accepting));
        let (cut, cut_rx) = watch::channel(0u64);
        let flag = Arc::clone(&accepting);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut down, _)) = listener.accept().await else {
                    continue;
                };
                if !flag.load(Ordering::SeqCst) {
                    drop(down);
                    continue;
                }
                let mut cut_rx = cut_rx.clone();
                cut_rx.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut up) = TcpStream::connect((Ipv4Addr::LOCALHOST, broker_port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                        _ = cut_rx.changed() => {}
                    }
                });
            }
        });
        Self {
            port,
            accepting,
            cut,
            task,
        }
    }

    pub(crate) fn set_accepting(&self, on: bool) {
        self.accepting.store(on, Ordering::SeqCst);
    }

    /// Closes every proxied connection at once.
    pub(crate) fn cut_all(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
