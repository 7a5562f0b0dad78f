//! A whole API over a simulated installation: `FakeClock`, `MemoryStore`, `MemoryTransport`, the
//! engine on a spawned task, and `praan_http::router` called with `oneshot` (no socket). The
//! helpers speak HTTP the way a client does and act as the devices.

#![allow(
    dead_code,
    reason = "each test binary uses the part of the harness it needs"
)]
#![allow(
    unreachable_pub,
    clippy::unwrap_used,
    reason = "test support: items are shared by test binaries, and a failed unwrap is a failed test"
)]

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode},
};
use http_body_util::BodyExt;
use praan_core::{
    clock::{Clock, FakeClock},
    codec::{Codec, DeviceMessage},
    domain::{Ack, AckStatus, CommandId, Device, DeviceId, FanState, Timestamp},
    engine::{DeviceEvent, Engine, EngineConfig, EngineEvent, Handle},
    store::{DeviceRepo, MemoryStore, Store, TelemetryRepo},
    transport::MemoryTransport,
};
use praan_http::{AppState, HttpConfig, router};
use serde_json::Value;
use tower::ServiceExt;

/// An answer: status, headers, and the body as JSON (`Value::Null` when it is not JSON; the raw
/// text is kept too).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// `data` of a success envelope (asserting the envelope).
    pub fn data(&self) -> &Value {
        assert_eq!(
            self.json["success"], true,
            "expected a success envelope, got {} {}",
            self.status, self.text
        );
        &self.json["data"]
    }

    /// The error `code` of an error body (asserting the error shape).
    pub fn code(&self) -> &str {
        assert_eq!(
            self.json["success"], false,
            "expected an error: {}",
            self.text
        );
        assert!(
            self.json["error"].is_string(),
            "error message: {}",
            self.text
        );
        self.json["code"].as_str().unwrap()
    }

    /// Asserts the status and the error code.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(self.code(), code, "{}", self.text);
    }
}

/// The API over a fake installation.
pub struct App {
    pub clock: FakeClock,
    pub store: Arc<MemoryStore>,
    pub transport: MemoryTransport,
    pub engine: Handle,
    pub state: AppState,
    pub router: Router,
    acked: usize,
}

pub fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

pub fn dev(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

/// 2026-11-28T09:00:00Z, a Saturday.
pub const START: &str = "2026-11-28T09:00:00Z";

impl App {
    /// The API with the default configuration and these registered devices.
    pub async fn new(devices: &[&str]) -> Self {
        Self::with_config(devices, HttpConfig::default(), |s| s).await
    }

    /// The API with `config`, these devices, and `customise` applied to the state.
    pub async fn with_config(
        devices: &[&str],
        config: HttpConfig,
        customise: impl FnOnce(AppState) -> AppState,
    ) -> Self {
        let clock = FakeClock::new(ts(START));
        let store = Arc::new(MemoryStore::new());
        for d in devices {
            store
                .insert_device(&Device::auto_registered(dev(d), clock.now()))
                .await
                .unwrap();
        }
        let (transport, _inbound) = MemoryTransport::new(16);
        let (engine, task) = Engine::start(
            EngineConfig::default(),
            store.clone() as Arc<dyn Store>,
            Arc::new(transport.clone()),
            Arc::new(clock.clone()),
        )
        .await
        .unwrap();
        tokio::spawn(task);
        let state = customise(AppState::new(
            store.clone() as Arc<dyn Store>,
            engine.clone(),
            Arc::new(clock.clone()),
            config,
        ));
        let router = router(state.clone());
        Self {
            clock,
            store,
            transport,
            engine,
            state,
            router,
            acked: 0,
        }
    }

    /// Sends a request: `body` is sent as-is with `Content-Type: application/json` when given.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut request = Request::builder().method(method).uri(path);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
            .unwrap();
        self.send(request).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, request: Request<Body>) -> Resp {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Resp {
        self.call(Method::POST, path, Some(body), &[]).await
    }

    pub async fn put(&self, path: &str, body: &str) -> Resp {
        self.call(Method::PUT, path, Some(body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None, &[]).await
    }

    /// Waits until the engine has handled everything sent to it so far (a round trip).
    pub async fn settle(&self) {
        let _ = self.engine.control(dev("settle-probe")).await;
    }

    /// Moves the fake clock and lets the engine handle what fell due.
    pub async fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.settle().await;
    }

    /// The commands published since the last call, as (device, commandId, action, value).
    pub fn take_published(&mut self) -> Vec<(String, CommandId, String, u8)> {
        let all = self.transport.published();
        let new = all[self.acked..]
            .iter()
            .map(|o| {
                let v: Value = serde_json::from_slice(&o.payload).unwrap();
                let device = o.topic.split('/').nth(1).unwrap().to_owned();
                (
                    device,
                    CommandId::parse(v["commandId"].as_str().unwrap()).unwrap(),
                    v["action"].as_str().unwrap().to_owned(),
                    u8::try_from(v["value"].as_u64().unwrap()).unwrap(),
                )
            })
            .collect();
        self.acked = all.len();
        new
    }

    /// Every device acks every command published since the last call, reporting the state asked
    /// for.
    pub async fn ack_published(&mut self) -> usize {
        let published = self.take_published();
        for (device, command_id, action, value) in &published {
            let state = if action == "turnOff" {
                FanState::OFF
            } else {
                FanState::at_speed(praan_core::domain::FanSpeed::running(*value.max(&1)).unwrap())
            };
            self.engine
                .device_event(DeviceEvent::Ack(Ack {
                    device_id: dev(device),
                    command_id: *command_id,
                    status: AckStatus::Success,
                    message: None,
                    timestamp: self.clock.now(),
                    received_at: self.clock.now(),
                    current_state: Some(state),
                }))
                .await
                .unwrap();
        }
        self.settle().await;
        published.len()
    }

    /// Stores a reading from a device's wire payload (as ingestion would) and announces it.
    pub async fn reading(&self, device: &str, payload: &str) {
        let topic = format!("device/{device}/data");
        let Ok(DeviceMessage::Readings {
            readings, rejected, ..
        }) = Codec::default().decode(&topic, payload.as_bytes(), self.clock.now())
        else {
            panic!("not a reading: {payload}");
        };
        assert!(rejected.is_empty(), "rejected: {rejected:?}");
        self.store.append_readings(&readings).await.unwrap();
        for reading in readings {
            let _ = self.engine.event_sender().send(EngineEvent::Reading {
                reading: Box::new(reading),
            });
        }
    }
}
