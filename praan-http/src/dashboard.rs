//! The operator dashboard (feature `dashboard`): a single page of plain HTML, CSS and JavaScript
//! embedded in the binary, that talks only to this API. A browser asking for `/` gets its page
//! (content negotiation on `Accept: text/html`; everyone else still gets the JSON route index)
//! and `/dashboard/<file>` serves its files. No build step, no third-party code, no request
//! leaves the origin: every response carries a Content-Security-Policy that forbids it.

use std::sync::LazyLock;

use axum::{
    Router,
    extract::Path,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::{error::ApiError, state::AppState};

/// The dashboard's policy: its own files, its own API, nothing inline, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    /// Its name under `/dashboard/`.
    name: &'static str,
    /// Its bytes.
    body: &'static [u8],
}

/// Embeds `dashboard/<name>`.
macro_rules! asset {
    ($name:literal) => {
        Asset {
            name: $name,
            body: include_bytes!(concat!("../dashboard/", $name)),
        }
    };
}

/// Every file of the dashboard.
const ASSETS: &[Asset] = &[
    asset!("index.html"),
    asset!("app.css"),
    asset!("api.js"),
    asset!("app.js"),
    asset!("auth.js"),
    asset!("charts.js"),
    asset!("clock.js"),
    asset!("commands.js"),
    asset!("controls.js"),
    asset!("device.js"),
    asset!("dom.js"),
    asset!("fleet.js"),
    asset!("format.js"),
    asset!("notify.js"),
    asset!("preclean.js"),
    asset!("readings.js"),
    asset!("schedules.js"),
    asset!("sse.js"),
    asset!("ticker.js"),
    asset!("timeline.js"),
    asset!("tz.js"),
];

/// The `Content-Type` of the file `name`, from its extension (the dashboard has no other kinds).
fn content_type(name: &str) -> &'static str {
    if name.ends_with(".html") {
        "text/html; charset=utf-8"
    } else if name.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    }
}

/// The page a browser gets at `/`.
const INDEX: &str = "index.html";

/// The routes of the dashboard's files.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/dashboard/{file}", get(file))
}

/// Whether the request at `/` comes from a browser that wants a page: its `Accept` names
/// `text/html` with a non-zero quality.
pub(crate) fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let html = parts
                .next()
                .is_some_and(|media| media.eq_ignore_ascii_case("text/html"));
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            html && !refused
        })
}

/// The dashboard's page.
pub(crate) fn page(headers: &HeaderMap) -> Response {
    serve(INDEX, headers)
}

/// `GET /dashboard/{file}`.
async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve(&name, &headers)
}

/// `name` with its headers, 304 when the client's copy is current, or the API's 404.
fn serve(name: &str, headers: &HeaderMap) -> Response {
    let Some((asset, etag)) = ASSETS
        .iter()
        .zip(ETAGS.iter())
        .find(|(a, _)| a.name == name)
    else {
        return ApiError::no_route(&format!("/dashboard/{name}")).into_response();
    };
    let current = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|sent| sent.as_bytes() == etag.as_bytes());
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(asset.name))],
            asset.body,
        )
            .into_response()
    };
    let set = response.headers_mut();
    set.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    set.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    set.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    set.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(etag) {
        set.insert(header::ETAG, etag);
    }
    response
}

/// Each asset's validator, in the order of [`ASSETS`], computed once.
static ETAGS: LazyLock<Vec<String>> =
    LazyLock::new(|| ASSETS.iter().map(|a| etag(a.body)).collect());

/// A strong validator for `body`: its FNV-1a hash, the same for the same bytes in every build.
fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}
