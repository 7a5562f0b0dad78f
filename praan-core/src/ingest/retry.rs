//! Retrying a store call until it succeeds: capped exponential backoff through the [`Clock`].

use std::{future::Future, time::Duration};

use crate::{clock::Clock, store::StoreResult};

use super::stats::Counters;

/// The waits between attempts: `min`, doubling, at most `max`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Backoff {
    pub(super) min: Duration,
    pub(super) max: Duration,
}

impl Backoff {
    /// The wait after `failures` consecutive failures (1 or more).
    fn delay(self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(20);
        self.min.saturating_mul(factor).min(self.max.max(self.min))
    }
}

/// Runs `op` until it succeeds, waiting per [`Backoff`] after each failure and logging it. Never
/// gives up: the pipeline loses nothing, it stalls (and so applies backpressure) instead.
pub(super) async fn until_ok<T, F, Fut>(
    clock: &dyn Clock,
    backoff: Backoff,
    counters: &Counters,
    what: &'static str,
    mut op: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut failures: u32 = 0;
    loop {
        match op().await {
            Ok(value) => {
                if failures > 0 {
                    tracing::info!(failures, "{what}: the store answers again");
                }
                return value;
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                counters.store_failed();
                let wait = backoff.delay(failures);
                tracing::warn!(
                    %error,
                    failures,
                    retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "{what} failed; nothing is acknowledged until it succeeds"
                );
                clock.sleep_until(clock.now().saturating_add(wait)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let waits: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(waits, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1), "no overflow");
        let inverted = Backoff {
            min: Duration::from_secs(2),
            max: Duration::from_secs(1),
        };
        assert_eq!(inverted.delay(3), Duration::from_secs(2), "min wins");
    }
}
