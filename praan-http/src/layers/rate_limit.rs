//! Rate limiting: a token bucket per client — per API key when the request carries a configured
//! key, else per client IP (from axum's `ConnectInfo`, when the server provides it). An empty
//! bucket answers 429 with `Retry-After`. Buckets run on the state's clock; full buckets are
//! forgotten when the table grows, so memory stays bounded.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request},
    response::{IntoResponse, Response},
};
use praan_core::domain::Timestamp;

use super::auth::{bearer, find_key};
use crate::{config::RateLimit, error::ApiError, state::AppState};

/// Buckets kept before full ones are pruned.
const PRUNE_AT: usize = 10_000;

/// Who a bucket belongs to.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Client {
    Key(Vec<u8>),
    Ip(IpAddr),
    Unknown,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Timestamp,
}

/// The buckets of every client.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: Option<RateLimit>,
    buckets: Mutex<HashMap<Client, Bucket>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: Option<RateLimit>) -> Self {
        Self {
            limit: limit.filter(|l| l.per_second > 0.0 && l.burst > 0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a limit is configured (without one every request passes).
    fn is_on(&self) -> bool {
        self.limit.is_some()
    }

    /// Takes a token for `client` at `now`; when none is left, how long until one is.
    fn take(&self, client: Client, now: Timestamp) -> Result<(), Duration> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let burst = f64::from(limit.burst);
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, b| refill(b, now, limit) < burst);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(bucket, now, limit);
        *bucket = Bucket { tokens, at: now };
        if tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - tokens) / limit.per_second))
        }
    }
}

/// The bucket's tokens at `now` (never above the burst; a clock going back adds nothing).
fn refill(bucket: &Bucket, now: Timestamp, limit: RateLimit) -> f64 {
    let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
    (bucket.tokens + elapsed * limit.per_second).min(f64::from(limit.burst))
}

/// Takes a token from the bucket of `request`'s client; when none is left, the 429 it gets.
pub(crate) fn refusal(state: &AppState, request: &Request) -> Option<Response> {
    if !state.limiter().is_on() {
        return None;
    }
    let client = client_of(state, request);
    state
        .limiter()
        .take(client, state.clock().now())
        .err()
        .map(|retry_after| ApiError::rate_limited(retry_after).into_response())
}

fn client_of(state: &AppState, request: &Request) -> Client {
    if let Some(key) = bearer(request.headers()).and_then(|t| find_key(&state.config().api_keys, t))
    {
        return Client::Key(key.secret().to_vec());
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(Client::Unknown, |ConnectInfo(addr)| Client::Ip(addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_800_000_000_000 + ms).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::new(Some(RateLimit {
            per_second: 2.0,
            burst: 3,
        }));
        for _ in 0..3 {
            assert!(limiter.take(Client::Unknown, at(0)).is_ok());
        }
        assert_eq!(
            limiter.take(Client::Unknown, at(0)),
            Err(Duration::from_millis(500))
        );
        assert_eq!(
            limiter.take(Client::Unknown, at(250)),
            Err(Duration::from_millis(250))
        );
        assert!(limiter.take(Client::Unknown, at(500)).is_ok());
        assert!(
            limiter
                .take(Client::Ip([127, 0, 0, 1].into()), at(500))
                .is_ok()
        );
    }

    #[test]
    fn no_limit_allows_everything() {
        let limiter = RateLimiter::new(None);
        for _ in 0..1000 {
            assert!(limiter.take(Client::Unknown, at(0)).is_ok());
        }
    }

    #[test]
    fn the_table_stays_bounded() {
        let limiter = RateLimiter::new(Some(RateLimit {
            per_second: 1000.0,
            burst: 1,
        }));
        for n in 0..(PRUNE_AT as u32 * 3) {
            let ip = IpAddr::from(n.to_be_bytes());
            assert!(limiter.take(Client::Ip(ip), at(i64::from(n))).is_ok());
        }
        let len = limiter.buckets.lock().map(|b| b.len()).unwrap_or_default();
        assert!(len <= PRUNE_AT + 1, "{len} buckets");
    }
}
