//! The middleware around the routes, outermost first: request ids, tracing spans, panics caught
//! as 500s, CORS, the request timeout, rate limiting, API keys, and the body limit.

pub(crate) mod auth;
pub(crate) mod rate_limit;
pub(crate) mod request_id;
pub(crate) mod timeout;

use std::sync::Arc;

use axum::{
    Extension, Router,
    extract::{DefaultBodyLimit, Request, State},
    middleware::{self, Next},
    response::Response,
};
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    request_id::{PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{error::ApiError, routes::Document, state::AppState};

/// Wraps `router` in every layer, and hands the handlers `document`.
///
/// The layers are stacked into one before axum applies them: axum boxes a route again for every
/// `Router::layer` call, and clones every box for every request.
pub(crate) fn apply(
    router: Router<AppState>,
    state: &AppState,
    document: Arc<Document>,
) -> Router<AppState> {
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::x_request_id(
                request_id::Counter::default(),
            ))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "http",
                        method = %request.method(),
                        path = %request.uri().path(),
                        request_id = %id,
                    )
                }),
            )
            .layer(CatchPanicLayer::custom(
                |_: Box<dyn std::any::Any + Send>| {
                    axum::response::IntoResponse::into_response(ApiError::internal(
                        &"a handler panicked",
                    ))
                },
            ))
            .layer(cors_layer(state))
            .layer(middleware::from_fn_with_state(state.clone(), guard))
            .layer(DefaultBodyLimit::max(state.config().body_limit))
            .layer(Extension(document)),
    )
}

/// The request timeout around rate limiting around API keys, in one middleware (each
/// `from_fn` layer costs boxed futures and services on every request).
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    timeout::deadline(&state, async {
        if let Some(refused) = rate_limit::refusal(&state, &request) {
            return refused;
        }
        if let Some(refused) = auth::refusal(&state, &request) {
            return refused;
        }
        next.run(request).await
    })
    .await
}

fn cors_layer(state: &AppState) -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, HeaderValue, Method, header};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    use crate::config::Cors;

    let origin = match &state.config().cors {
        Cors::Off => return CorsLayer::new(),
        Cors::Any => AllowOrigin::any(),
        Cors::Origins(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|o| HeaderValue::from_str(o).ok())
                .collect::<Vec<_>>(),
        ),
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
}
