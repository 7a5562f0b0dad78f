//! Request ids: a client's `x-request-id` is kept; otherwise `praan-{n}`, counted per router.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use axum::http::{HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// Makes `praan-1`, `praan-2`, … (no randomness needed: ids only have to be unique per process).
#[derive(Clone, Debug, Default)]
pub(crate) struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        HeaderValue::from_str(&format!("praan-{n}"))
            .ok()
            .map(RequestId::new)
    }
}
