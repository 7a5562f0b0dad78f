//! The checks behind praan's fuzz targets. Each takes arbitrary bytes, feeds them to one of
//! praan's parsers and panics only if a property of PRODUCT.md §8 breaks: untrusted input gets a
//! clear rejection, never a panic, and what is accepted means exactly what it says.
//!
//! `fuzz/libfuzzer` runs them under cargo-fuzz (one target per function, same name); the tests
//! in `fuzz/tests/corpus.rs` replay the committed corpora and crash reproducers through them, so
//! every input the fuzzers found interesting stays a regression test of `cargo test`.

use std::sync::{Arc, OnceLock};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use http_body_util::BodyExt;
use praan_core::{
    clock::{Clock, FakeClock},
    codec::{Codec, DeviceMessage},
    domain::{DEVICE_ID_MAX_LEN, Device, DeviceId, Timestamp},
    engine::{Engine, EngineConfig},
    store::{DeviceRepo, MemoryStore, Store},
    transport::{MemoryTransport, Transport},
};
use serde_json::Value;
use tower::ServiceExt;

/// The device every fuzzed message and request is about (registered in the HTTP harness).
pub const DEVICE: &str = "AIR_PURIFIER_001";

/// When fuzzed messages are received (2026-11-28T09:00:00Z).
const RECEIVED_MS: i64 = 1_796_806_800_000;

fn received_at() -> Timestamp {
    Timestamp::from_unix_millis(RECEIVED_MS).expect("a constant in range")
}

fn device() -> DeviceId {
    DeviceId::new(DEVICE).expect("a constant valid id")
}

/// A reading payload on `device/AIR_PURIFIER_001/data`: decoding never panics, every accepted
/// reading is the topic's device's, and re-encoding an accepted reading decodes to it again.
pub fn reading(data: &[u8]) {
    let codec = Codec::default();
    let topic = format!("device/{DEVICE}/data");
    let Ok(DeviceMessage::Readings { readings, .. }) = codec.decode(&topic, data, received_at())
    else {
        return;
    };
    for r in readings {
        assert_eq!(
            r.device_id().as_str(),
            DEVICE,
            "a reading of another device"
        );
        let again = codec.decode(&topic, &codec.encode_reading(&r), r.received_at());
        match again {
            Ok(DeviceMessage::Readings { readings, .. }) => {
                assert_eq!(
                    readings,
                    vec![r],
                    "the re-encoded reading decodes differently"
                );
            }
            other => panic!("the re-encoded reading {r:?} does not decode: {other:?}"),
        }
    }
}

/// An ack payload on `device/AIR_PURIFIER_001/ack`: decoding never panics, an accepted ack is the
/// topic's device's, and re-encoding it decodes to the same ack.
pub fn ack(data: &[u8]) {
    let codec = Codec::default();
    let topic = format!("device/{DEVICE}/ack");
    let Ok(DeviceMessage::Ack(ack)) = codec.decode(&topic, data, received_at()) else {
        return;
    };
    assert_eq!(ack.device_id.as_str(), DEVICE, "an ack of another device");
    match codec.decode(&topic, &codec.encode_ack(&ack), ack.received_at) {
        Ok(DeviceMessage::Ack(again)) => {
            assert_eq!(again, ack, "the re-encoded ack decodes differently");
        }
        other => panic!("the re-encoded ack {ack:?} does not decode: {other:?}"),
    }
}

/// A topic: parsing never panics, and an accepted topic is exactly the one praan would build for
/// the device and kind it names (so no two topics mean the same thing).
pub fn topic(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let codec = Codec::default();
    if let Ok(topic) = codec.parse_topic(text) {
        assert_eq!(codec.topic(&topic.device_id, topic.kind), text);
    }
}

/// A device id: accepted exactly when it matches `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$` (checked
/// here independently of praan's parser), the same way by `DeviceId::new`, `FromStr` and serde,
/// and kept byte for byte.
pub fn device_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let expected = grammar(text);
    let parsed = DeviceId::new(text);
    assert_eq!(parsed.is_ok(), expected, "DeviceId::new({text:?})");
    assert_eq!(
        text.parse::<DeviceId>().is_ok(),
        expected,
        "FromStr {text:?}"
    );
    let from_json = serde_json::from_value::<DeviceId>(Value::String(text.to_owned()));
    assert_eq!(from_json.is_ok(), expected, "serde {text:?}");
    if let Ok(id) = parsed {
        assert_eq!(id.as_str(), text);
    }
}

/// The device-id grammar, written out.
fn grammar(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= DEVICE_ID_MAX_LEN
        && b[0].is_ascii_alphanumeric()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A body for `POST /api/schedule`: see [`post`].
pub fn schedule_body(data: &[u8]) {
    post("/api/schedule", data);
}

/// A body for `POST /api/preclean`: see [`post`].
pub fn pre_clean_body(data: &[u8]) {
    post("/api/preclean", data);
}

/// Posts `body` as JSON to `path` of the whole API (over a simulated installation with one
/// registered device) and returns the status: never a 5xx, always the envelope of PRODUCT.md §7 —
/// `success` true with a 2xx, or false with a 4xx, a machine `code` and a human `error`.
pub fn post(path: &str, body: &[u8]) -> StatusCode {
    let harness = harness();
    let request = Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a valid request");
    let (status, bytes) = harness.runtime.block_on(async {
        let response = harness
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router is infallible");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("an in-memory body")
            .to_bytes();
        (status, bytes)
    });
    let text = String::from_utf8_lossy(&bytes);
    assert!(!status.is_server_error(), "{path}: {status} {text}");
    let json: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{path}: {status}, not JSON ({e}): {text}"));
    let success = json["success"].as_bool();
    if status.is_success() {
        assert_eq!(success, Some(true), "{path}: {status} {text}");
    } else {
        assert!(status.is_client_error(), "{path}: {status} {text}");
        assert_eq!(success, Some(false), "{path}: {status} {text}");
        assert!(json["code"].is_string(), "{path}: no code: {text}");
        assert!(json["error"].is_string(), "{path}: no error: {text}");
    }
    status
}

/// One simulated installation for every request of a process: `MemoryStore`, `FakeClock`,
/// `MemoryTransport`, the engine, and the router, on a single-threaded runtime.
struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let router = runtime.block_on(async {
            let clock = FakeClock::new(received_at());
            let store = Arc::new(MemoryStore::new());
            store
                .insert_device(&Device::auto_registered(device(), clock.now()))
                .await
                .expect("register the device");
            let (transport, _inbound) = MemoryTransport::new(1024);
            let clock: Arc<dyn Clock> = Arc::new(clock);
            let outbound: Arc<dyn Transport> = Arc::new(transport);
            let (handle, engine) = Engine::start(
                EngineConfig::default(),
                Arc::clone(&store) as Arc<dyn Store>,
                outbound,
                Arc::clone(&clock),
            )
            .await
            .expect("start the engine");
            tokio::spawn(engine);
            praan_http::router(praan_http::AppState::new(
                store,
                handle,
                clock,
                praan_http::HttpConfig::default(),
            ))
        });
        Harness { runtime, router }
    })
}
