//! The OpenAPI document: a snapshot of the whole document (a change to any route, parameter or
//! schema shows up in review), and every route the router serves is described in it.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use serde_json::Value;
use support::App;

#[test]
fn the_openapi_document_matches_its_snapshot() {
    let doc: Value = serde_json::from_str(&praan_http::openapi_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    insta::assert_json_snapshot!("openapi", doc);
}

#[tokio::test]
async fn every_operation_has_a_summary_a_tag_and_documented_errors() {
    let app = App::new(&[]).await;
    let doc = app.get("/api/openapi.json").await.json;
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let name = format!("{method} {path}");
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: summary"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{name}: tag"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|code| code.starts_with('2')),
                "{name}: a success response"
            );
            let takes_input = op.get("requestBody").is_some()
                || op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            if takes_input && path.starts_with("/api/") {
                assert!(responses.contains_key("400"), "{name}: documents its 400");
            }
        }
    }
    assert_eq!(
        operations, 37,
        "every route of PRODUCT.md §7 (and the command cancel)"
    );
}
