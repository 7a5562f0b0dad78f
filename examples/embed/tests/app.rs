//! The embedding service's HTTP surface: its own boost route drives praan's engine, and praan's
//! routes answer beside it (on an in-memory installation: MemoryStore, MemoryTransport).

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::sync::Arc;

use axum::{body::Body, http::Request};
use http_body_util::BodyExt;
use praan_core::{
    clock::{Clock, SystemClock},
    domain::{Device, DeviceId},
    engine::{Engine, EngineConfig},
    store::{MemoryStore, Store},
    transport::MemoryTransport,
};
use praan_http::{AppState, HttpConfig};
use tower::ServiceExt;

async fn call(app: &axum::Router, method: &str, path: &str) -> (u16, serde_json::Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[tokio::test]
async fn the_boost_route_starts_a_pre_clean_that_praans_own_routes_report() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = Arc::new(MemoryStore::new());
    let id = DeviceId::new("HALL_1").unwrap();
    praan_core::store::DeviceRepo::insert_device(
        &*store,
        &Device::auto_registered(id, clock.now()),
    )
    .await
    .unwrap();
    let store: Arc<dyn Store> = store;
    let (transport, _inbound) = MemoryTransport::new(16);
    let (engine, task) = Engine::start(
        EngineConfig::default(),
        store.clone(),
        Arc::new(transport.clone()),
        clock.clone(),
    )
    .await
    .unwrap();
    tokio::spawn(task);
    let app = acme_air::app(
        AppState::new(store, engine.clone(), clock, HttpConfig::default()),
        engine,
    );

    let (status, boosted) = call(&app, "POST", "/acme/boost/HALL_1").await;
    assert_eq!(status, 200, "{boosted}");
    assert_eq!(boosted["deviceId"], "HALL_1");
    assert_eq!(
        transport.published().len(),
        1,
        "the full-speed command went out"
    );

    let (status, pre_clean) = call(&app, "GET", "/api/preclean/status/HALL_1").await;
    assert_eq!(status, 200);
    assert_eq!(pre_clean["data"]["isActive"], true);
    assert_eq!(pre_clean["data"]["willEndAt"], boosted["until"]);

    let (status, _) = call(&app, "POST", "/acme/boost/NOBODY").await;
    assert_eq!(status, 404);
    let (status, health) = call(&app, "GET", "/health").await;
    assert_eq!((status, &health["status"]), (200, &serde_json::json!("ok")));
}
