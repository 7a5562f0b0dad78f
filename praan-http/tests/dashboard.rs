//! The operator dashboard (feature `dashboard`): a browser gets the page at `/` while API clients
//! keep the JSON route index; every file the page references is embedded and served with its
//! type and a strict Content-Security-Policy; nothing points off the origin; the page and its
//! files need no API key (they hold no data), the API behind them still does.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use axum::http::{Method, StatusCode, header};
use praan_http::{ApiKey, HttpConfig, Scope};
use support::{App, Resp};

/// What a browser sends when it navigates to a page.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn page(app: &App) -> Resp {
    app.call(Method::GET, "/", None, &[("accept", BROWSER_ACCEPT)])
        .await
}

/// The `/dashboard/...` paths a text references: quoted `/dashboard/<file>` (attributes) and
/// quoted `./<file>.js` (module imports).
fn references(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for quote in ['"', '\''] {
        for prefix in ["/dashboard/", "./"] {
            let opening = format!("{quote}{prefix}");
            for (at, _) in text.match_indices(&opening) {
                let rest = &text[at + opening.len()..];
                let Some(name) = rest.split(quote).next() else {
                    continue;
                };
                if !name.contains('/') && (prefix == "/dashboard/" || name.ends_with(".js")) {
                    found.push(format!("/dashboard/{name}"));
                }
            }
        }
    }
    found
}

/// Every file reachable from the page, following references; each fetched once.
async fn every_file(app: &App) -> Vec<(String, Resp)> {
    let mut pending = references(&page(app).await.text);
    let mut seen: Vec<(String, Resp)> = Vec::new();
    while let Some(path) = pending.pop() {
        if seen.iter().any(|(p, _)| *p == path) {
            continue;
        }
        let r = app.get(&path).await;
        pending.extend(references(&r.text));
        seen.push((path, r));
    }
    seen
}

fn assert_hardened(r: &Resp, what: &str) {
    let csp = r.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(!csp.contains("unsafe"), "{what}: {csp}");
    assert_eq!(
        r.headers[header::X_CONTENT_TYPE_OPTIONS],
        "nosniff",
        "{what}"
    );
}

#[tokio::test]
async fn a_browser_gets_the_page_at_the_root_and_api_clients_the_route_index() {
    let app = App::new(&[]).await;
    let r = page(&app).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(r.text.contains("<!doctype html") || r.text.contains("<!DOCTYPE html"));
    assert_hardened(&r, "/");

    for accept in [
        None,
        Some("application/json"),
        Some("*/*"),
        Some("text/html;q=0"),
    ] {
        let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("accept", *a)).collect();
        let r = app.call(Method::GET, "/", None, &headers).await;
        assert_eq!(r.status, StatusCode::OK, "{accept:?}: {}", r.text);
        assert_eq!(r.data()["name"], "praan", "{accept:?}");
        assert!(r.data()["routes"].is_array(), "{accept:?}");
    }
}

#[tokio::test]
async fn every_file_the_page_references_is_embedded_and_served_with_its_type() {
    let app = App::new(&[]).await;
    let files = every_file(&app).await;
    assert!(
        files.iter().any(|(p, _)| p.ends_with(".js"))
            && files.iter().any(|(p, _)| p.ends_with(".css")),
        "the page references its script and its style sheet: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    for (path, r) in &files {
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        let expected = if path.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else if path.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/html; charset=utf-8"
        };
        assert_eq!(r.headers[header::CONTENT_TYPE], expected, "{path}");
        assert_hardened(r, path);
    }
}

#[tokio::test]
async fn nothing_the_dashboard_serves_points_off_the_origin() {
    let app = App::new(&[]).await;
    let mut texts = vec![("/".to_owned(), page(&app).await.text)];
    texts.extend(every_file(&app).await.into_iter().map(|(p, r)| (p, r.text)));
    for (path, text) in texts {
        for scheme in ["http://", "https://", "ws://", "wss://", "//cdn", "//fonts"] {
            for (at, _) in text.match_indices(scheme) {
                let rest = &text[at..];
                assert!(
                    rest.starts_with("http://www.w3.org/2000/svg"),
                    "{path} refers off the origin: {}",
                    &rest[..rest.len().min(60)]
                );
            }
        }
    }
}

#[tokio::test]
async fn a_current_copy_gets_304_and_an_unknown_file_the_api_404() {
    let app = App::new(&[]).await;
    let r = app.get("/dashboard/app.js").await;
    assert_eq!(r.status, StatusCode::OK);
    let etag = r.headers[header::ETAG].to_str().unwrap().to_owned();
    let again = app
        .call(
            Method::GET,
            "/dashboard/app.js",
            None,
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.text.is_empty());
    let stale = app
        .call(
            Method::GET,
            "/dashboard/app.js",
            None,
            &[("if-none-match", "\"0\"")],
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);

    for path in [
        "/dashboard/missing.js",
        "/dashboard/..%2Fsrc%2Flib.rs",
        "/dashboard/",
    ] {
        app.get(path)
            .await
            .assert_error(StatusCode::NOT_FOUND, "route_not_found");
    }
}

#[tokio::test]
async fn with_api_keys_the_page_is_open_and_the_api_behind_it_is_not() {
    let config = HttpConfig {
        api_keys: vec![ApiKey::new("reader-key", Scope::Read).unwrap()],
        ..HttpConfig::default()
    };
    let app = App::with_config(&["AIR_PURIFIER_001"], config, |s| s).await;
    assert_eq!(page(&app).await.status, StatusCode::OK);
    for (path, r) in every_file(&app).await {
        assert_eq!(r.status, StatusCode::OK, "{path}");
    }
    app.get("/api/devices")
        .await
        .assert_error(StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn every_file_of_the_dashboard_directory_is_embedded_and_used() {
    let app = App::new(&[]).await;
    let reachable: Vec<String> = every_file(&app).await.into_iter().map(|(p, _)| p).collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.iter().any(|n| n == "index.html"), "{names:?}");
    for name in names {
        let r = app.get(&format!("/dashboard/{name}")).await;
        assert_eq!(r.status, StatusCode::OK, "dashboard/{name} is not embedded");
        let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap();
        assert_eq!(
            r.text, on_disk,
            "dashboard/{name} is served as it is on disk"
        );
        assert!(
            name == "index.html" || reachable.contains(&format!("/dashboard/{name}")),
            "dashboard/{name} is not referenced from the page: {reachable:?}"
        );
    }
}
