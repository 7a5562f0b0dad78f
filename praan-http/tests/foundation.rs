//! The API's common behaviour, on the control routes: the envelope, strict validation with the
//! JSON error shape, 404/405/413/415, API keys (401 vs 403), rate limiting with `Retry-After`,
//! request ids, health and readiness.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use praan_http::{ApiKey, HttpConfig, RateLimit, Scope};
use support::App;

#[tokio::test]
async fn a_fan_command_answers_202_with_the_command_in_the_envelope() {
    let mut app = App::new(&["AIR_PURIFIER_001"]).await;
    let r = app
        .post(
            "/api/control/fan",
            r#"{"deviceId":"AIR_PURIFIER_001","fanSpeed":3}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let data = r.data();
    assert_eq!(data["deviceId"], "AIR_PURIFIER_001");
    assert_eq!(data["action"], "setFanSpeed");
    assert_eq!(data["value"], 3);
    assert_eq!(data["source"], "manual");
    assert_eq!(data["status"], "sent");
    assert_eq!(data["retryCount"], 0);
    assert!(data["commandId"].is_string());
    let published = app.take_published();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].1.to_string(), data["commandId"]);
}

#[tokio::test]
async fn power_on_and_off_become_turn_on_and_turn_off() {
    let mut app = App::new(&["dev-1"]).await;
    let on = app
        .post(
            "/api/control/power",
            r#"{"deviceId":"dev-1","powerOn":true}"#,
        )
        .await;
    assert_eq!(on.data()["action"], "turnOn");
    let off = app
        .post(
            "/api/control/power",
            r#"{"deviceId":"dev-1","powerOn":false}"#,
        )
        .await;
    assert_eq!(off.data()["action"], "turnOff");
    assert_eq!(off.data()["value"], 0);
    assert_eq!(app.take_published().len(), 2);
}

/// Sends `POST /api/control/fan?wait=true` for dev-1 on a task and returns once the command is
/// published (the request is then waiting for its terminal status).
async fn fan_and_wait(app: &App) -> tokio::task::JoinHandle<axum::response::Response> {
    let router = app.router.clone();
    let request = axum::http::Request::post("/api/control/fan?wait=true")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            r#"{"deviceId":"dev-1","fanSpeed":2}"#,
        ))
        .unwrap();
    let pending = tokio::spawn(async move {
        use tower::ServiceExt;
        router.oneshot(request).await.unwrap()
    });
    for _ in 0..1000 {
        if !app.transport.published().is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(
        !app.transport.published().is_empty(),
        "the command was published"
    );
    pending
}

#[tokio::test]
async fn wait_true_answers_200_once_the_device_acknowledged() {
    let mut app = App::new(&["dev-1"]).await;
    let pending = fan_and_wait(&app).await;
    assert_eq!(app.ack_published().await, 1);
    let response = pending.await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn wait_true_is_bounded_by_the_wait_timeout() {
    let app = App::new(&["dev-1"]).await;
    let pending = fan_and_wait(&app).await;
    // The device never answers; the wait gives up at 25 s (before the command's own timeout).
    for _ in 0..26 {
        app.advance(Duration::from_secs(1)).await;
        if pending.is_finished() {
            break;
        }
    }
    let response = pending.await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_command() {
    let mut app = App::new(&["dev-1"]).await;
    let body = r#"{"deviceId":"dev-1","fanSpeed":4}"#;
    let headers = [("idempotency-key", "k-123")];
    let first = app
        .call(Method::POST, "/api/control/fan", Some(body), &headers)
        .await;
    let second = app
        .call(Method::POST, "/api/control/fan", Some(body), &headers)
        .await;
    assert_eq!(first.data()["commandId"], second.data()["commandId"]);
    assert_eq!(app.take_published().len(), 1, "published once");
}

#[tokio::test]
async fn validation_errors_name_the_field_and_never_coerce() {
    let app = App::new(&["dev-1"]).await;
    let cases = [
        (r#"{"deviceId":"dev-1","fanSpeed":"3"}"#, "fanSpeed"),
        (r#"{"deviceId":"dev-1","fanSpeed":6}"#, "fanSpeed"),
        (r#"{"deviceId":"dev-1","fanSpeed":-1}"#, "fanSpeed"),
        (r#"{"deviceId":"dev-1","fanSpeed":2.5}"#, "fanSpeed"),
        (r#"{"deviceId":"dev-1"}"#, "fanSpeed"),
        (r#"{"fanSpeed":2}"#, "deviceId"),
        (r#"{"deviceId":"bad id!","fanSpeed":2}"#, "deviceId"),
        (r#"{"deviceId":7,"fanSpeed":2}"#, "deviceId"),
    ];
    for (body, field) in cases {
        let r = app.post("/api/control/fan", body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
        assert_eq!(r.json["details"]["field"], field, "{body}: {}", r.text);
    }
    let r = app
        .post(
            "/api/control/power",
            r#"{"deviceId":"dev-1","powerOn":"false"}"#,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "powerOn");
    let r = app
        .post(
            "/api/control/fan?wait=yes",
            r#"{"deviceId":"dev-1","fanSpeed":2}"#,
        )
        .await;
    r.assert_error(StatusCode::BAD_REQUEST, "invalid_field");
    assert_eq!(r.json["details"]["field"], "wait");
}

#[tokio::test]
async fn malformed_json_is_a_400_and_other_bodies_are_refused() {
    let app = App::new(&["dev-1"]).await;
    for body in [
        "{",
        "not json",
        r#"{"deviceId":"dev-1","fanSpeed":2} trailing"#,
        "[1,2]",
        "",
        &format!("{}{}", "[".repeat(200), "]".repeat(200)),
    ] {
        let r = app.post("/api/control/fan", body).await;
        r.assert_error(StatusCode::BAD_REQUEST, "invalid_json");
    }
    let request = axum::http::Request::post("/api/control/fan")
        .header("content-type", "text/plain")
        .body(axum::body::Body::from(
            r#"{"deviceId":"dev-1","fanSpeed":2}"#,
        ))
        .unwrap();
    app.send(request)
        .await
        .assert_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    // Without a Content-Type the body is read as JSON (the old clients' curl examples omit it).
    let request = axum::http::Request::post("/api/control/fan")
        .body(axum::body::Body::from(
            r#"{"deviceId":"dev-1","fanSpeed":2}"#,
        ))
        .unwrap();
    assert_eq!(app.send(request).await.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = App::with_config(
        &["dev-1"],
        HttpConfig {
            body_limit: 1024,
            ..HttpConfig::default()
        },
        |s| s,
    )
    .await;
    let big = format!(
        r#"{{"deviceId":"dev-1","fanSpeed":2,"pad":"{}"}}"#,
        "x".repeat(2048)
    );
    let r = app.post("/api/control/fan", &big).await;
    r.assert_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(r.text.contains("1024"), "{}", r.text);
}

/// Abusive JSON within the body limit: nesting far past serde_json's recursion limit (no stack
/// overflow), a huge number, a huge string, and tens of thousands of keys — each a 400 naming the
/// problem, and the API keeps answering.
#[tokio::test]
async fn deeply_nested_and_huge_json_within_the_limit_is_a_400() {
    let app = App::new(&["dev-1"]).await;
    let limit = HttpConfig::default().body_limit;
    let depth = limit / 2 - 8;
    let nested_array = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let nested_object = format!(
        r#"{{"deviceId":"dev-1","fanSpeed":{}1{}}}"#,
        r#"{"a":"#.repeat(limit / 8),
        "}".repeat(limit / 8)
    );
    let huge_number = format!(
        r#"{{"deviceId":"dev-1","fanSpeed":1{}}}"#,
        "0".repeat(limit - 64)
    );
    let huge_string = format!(
        r#"{{"deviceId":"{}","fanSpeed":2}}"#,
        "A".repeat(limit - 64)
    );
    let many_keys = format!(
        r#"{{"deviceId":"dev-1","fanSpeed":2,{}"z":0}}"#,
        (0..limit / 16)
            .map(|i| format!(r#""k{i}":0,"#))
            .collect::<String>()
    );
    for (name, body) in [
        ("nested arrays", &nested_array),
        ("nested objects", &nested_object),
        ("a huge number", &huge_number),
        ("a huge device id", &huge_string),
    ] {
        assert!(body.len() <= limit, "{name}: {} bytes", body.len());
        let r = app.post("/api/control/fan", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.text);
        let code = r.json["code"].as_str().unwrap_or_default();
        assert!(
            code == "invalid_json" || code == "invalid_field",
            "{name}: {}",
            r.text
        );
    }
    // Unknown keys are ignored (the old clients send extra fields), however many there are.
    assert!(many_keys.len() <= limit, "{} bytes", many_keys.len());
    let r = app.post("/api/control/fan", &many_keys).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    assert_eq!(app.get("/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn unknown_devices_routes_and_methods_have_their_own_errors() {
    let app = App::new(&["dev-1"]).await;
    app.post("/api/control/fan", r#"{"deviceId":"ghost","fanSpeed":2}"#)
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    app.get("/api/nothing/here")
        .await
        .assert_error(StatusCode::NOT_FOUND, "route_not_found");
    app.get("/api/control/fan")
        .await
        .assert_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

fn keys() -> HttpConfig {
    HttpConfig {
        api_keys: vec![
            ApiKey::new("reader-key", Scope::Read).unwrap(),
            ApiKey::new("writer-key", Scope::Write).unwrap(),
        ],
        ..HttpConfig::default()
    }
}

#[tokio::test]
async fn api_keys_401_without_or_with_a_bad_key_403_for_a_read_key_on_a_write_route() {
    let app = App::with_config(&["dev-1"], keys(), |s| s).await;
    let body = Some(r#"{"deviceId":"dev-1","fanSpeed":2}"#);
    let no_key = app.call(Method::POST, "/api/control/fan", body, &[]).await;
    no_key.assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(no_key.headers.contains_key("www-authenticate"));
    app.call(
        Method::POST,
        "/api/control/fan",
        body,
        &[("authorization", "Bearer nope")],
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.call(
        Method::POST,
        "/api/control/fan",
        body,
        &[("authorization", "Basic writer-key")],
    )
    .await
    .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
    app.call(
        Method::POST,
        "/api/control/fan",
        body,
        &[("authorization", "Bearer reader-key")],
    )
    .await
    .assert_error(StatusCode::FORBIDDEN, "forbidden");
    let ok = app
        .call(
            Method::POST,
            "/api/control/fan",
            body,
            &[("authorization", "Bearer writer-key")],
        )
        .await;
    assert_eq!(ok.status, StatusCode::ACCEPTED, "{}", ok.text);
    // Health, readiness and the OpenAPI document stay open.
    for path in ["/health", "/livez", "/readyz", "/api/openapi.json", "/"] {
        assert_eq!(app.get(path).await.status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn rate_limiting_answers_429_with_retry_after_and_refills_with_time() {
    let app = App::with_config(
        &["dev-1"],
        HttpConfig {
            rate_limit: Some(RateLimit {
                per_second: 1.0,
                burst: 2,
            }),
            ..HttpConfig::default()
        },
        |s| s,
    )
    .await;
    assert_eq!(app.get("/livez").await.status, StatusCode::OK);
    assert_eq!(app.get("/livez").await.status, StatusCode::OK);
    let limited = app.get("/livez").await;
    limited.assert_error(StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(limited.headers["retry-after"], "1");
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(app.get("/livez").await.status, StatusCode::OK);
}

#[tokio::test]
async fn keys_have_their_own_buckets() {
    let mut config = keys();
    config.rate_limit = Some(RateLimit {
        per_second: 0.1,
        burst: 1,
    });
    let app = App::with_config(&["dev-1"], config, |s| s).await;
    const READER: &[(&str, &str)] = &[("authorization", "Bearer reader-key")];
    const WRITER: &[(&str, &str)] = &[("authorization", "Bearer writer-key")];
    let get = |h| app.call(Method::GET, "/readyz", None, h);
    assert_eq!(get(READER).await.status, StatusCode::OK);
    assert_eq!(get(READER).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(get(WRITER).await.status, StatusCode::OK);
}

#[tokio::test]
async fn request_ids_are_made_or_kept() {
    let app = App::new(&[]).await;
    let made = app.get("/livez").await;
    assert!(
        made.headers["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("praan-")
    );
    let kept = app
        .call(Method::GET, "/livez", None, &[("x-request-id", "abc-1")])
        .await;
    assert_eq!(kept.headers["x-request-id"], "abc-1");
}

#[tokio::test]
async fn health_has_the_old_shape_and_readiness_follows_mqtt_and_shutdown() {
    let connected = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let probe = connected.clone();
    let app = App::with_config(&[], HttpConfig::default(), move |s| {
        s.with_mqtt_probe(move || probe.load(std::sync::atomic::Ordering::SeqCst))
    })
    .await;
    let health = app.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json["status"], "ok");
    assert_eq!(health.json["services"]["store"], "connected");
    assert_eq!(health.json["services"]["mqtt"], "connected");
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);

    connected.store(false, std::sync::atomic::Ordering::SeqCst);
    let health = app.get("/health").await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(health.json["services"]["mqtt"], "disconnected");
    app.get("/readyz")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "not_ready");

    connected.store(true, std::sync::atomic::Ordering::SeqCst);
    app.state.begin_shutdown();
    app.get("/readyz")
        .await
        .assert_error(StatusCode::SERVICE_UNAVAILABLE, "not_ready");
    assert_eq!(app.get("/livez").await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_serve_the_embedders_recorder() {
    let without = App::new(&[]).await;
    without
        .get("/metrics")
        .await
        .assert_error(StatusCode::NOT_FOUND, "not_found");
    let with = App::with_config(&[], HttpConfig::default(), |s| {
        s.with_metrics(|| "praan_up 1\n".to_owned())
    })
    .await;
    let r = with.get("/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, "praan_up 1\n");
    assert!(
        r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
}

#[tokio::test]
async fn the_index_lists_the_routes_of_the_openapi_document() {
    let app = App::new(&[]).await;
    let index = app.get("/").await;
    let routes = index.data()["routes"].as_array().unwrap().clone();
    assert!(
        routes
            .iter()
            .any(|r| r["method"] == "POST" && r["path"] == "/api/control/fan")
    );
    let doc = app.get("/api/openapi.json").await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.json["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.json["paths"].as_object().unwrap();
    let operations: usize = paths
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(routes.len(), operations, "every operation is in the index");
}

#[tokio::test]
async fn a_request_over_the_timeout_is_a_503_on_the_clock() {
    let app = App::with_config(
        &["dev-1"],
        HttpConfig {
            request_timeout: Duration::from_secs(5),
            wait_timeout: Duration::from_secs(60),
            ..HttpConfig::default()
        },
        |s| s,
    )
    .await;
    let pending = fan_and_wait(&app).await;
    assert!(!pending.is_finished());
    assert_times_out(&app, pending).await;
}

/// Advances the clock a second at a time (6 s at most) until `pending` is answered, and asserts
/// the answer is the request timeout's 503 `timeout`.
async fn assert_times_out(app: &App, pending: tokio::task::JoinHandle<axum::response::Response>) {
    for _ in 0..6 {
        app.advance(Duration::from_secs(1)).await;
        if pending.is_finished() {
            break;
        }
    }
    assert!(pending.is_finished(), "no answer after the request timeout");
    let response = pending.await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["code"], "timeout");
}

/// A client that sends part of its body and then nothing (a slow trickle) is cut off by the
/// request timeout, on the clock, with a 503 `timeout`: it cannot hold a request open.
#[tokio::test]
async fn a_body_that_stops_arriving_is_cut_off_by_the_request_timeout() {
    use futures_util::StreamExt;
    use tower::ServiceExt;

    let app = App::with_config(
        &["dev-1"],
        HttpConfig {
            request_timeout: Duration::from_secs(5),
            ..HttpConfig::default()
        },
        |s| s,
    )
    .await;
    let first = futures_util::stream::iter([Ok::<_, std::convert::Infallible>(
        axum::body::Bytes::from_static(br#"{"deviceId":"dev-1","#),
    )]);
    let trickle = first.chain(futures_util::stream::pending());
    let request = axum::http::Request::post("/api/control/fan")
        .header("content-type", "application/json")
        .body(axum::body::Body::from_stream(trickle))
        .unwrap();
    let router = app.router.clone();
    let pending = tokio::spawn(async move { router.oneshot(request).await.unwrap() });
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(!pending.is_finished(), "answered before the body ended");
    assert_times_out(&app, pending).await;
    assert!(
        app.transport.published().is_empty(),
        "no command from half a body"
    );
}

#[tokio::test]
async fn cors_answers_the_configured_origins_only() {
    let app = App::with_config(
        &[],
        HttpConfig {
            cors: praan_http::Cors::Origins(vec!["https://ops.example.com".to_owned()]),
            ..HttpConfig::default()
        },
        |s| s,
    )
    .await;
    let preflight = |origin: &str| {
        axum::http::Request::builder()
            .method(Method::OPTIONS)
            .uri("/api/control/fan")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .body(axum::body::Body::empty())
            .unwrap()
    };
    let allowed = app.send(preflight("https://ops.example.com")).await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://ops.example.com"
    );
    let other = app.send(preflight("https://evil.example.com")).await;
    assert!(!other.headers.contains_key("access-control-allow-origin"));
    let off = App::new(&[]).await;
    let r = off
        .call(
            Method::GET,
            "/livez",
            None,
            &[("origin", "https://ops.example.com")],
        )
        .await;
    assert!(
        !r.headers.contains_key("access-control-allow-origin"),
        "off by default"
    );
}

#[tokio::test]
async fn internal_errors_never_leak_details() {
    let error = praan_http::ApiError::internal(&"connection to /var/lib/secret.db refused");
    let body = serde_json::to_value(error.body()).unwrap();
    assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"], "internal error");
    assert_eq!(body["code"], "internal");
    assert!(!body.to_string().contains("secret"));
}
