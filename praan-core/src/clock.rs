//! Time as an input: the [`Clock`] trait, the real [`SystemClock`] and the test [`FakeClock`].
//!
//! This is the only module allowed to read the real clock or sleep on tokio's timer; clippy's
//! `disallowed-methods` (see `clippy.toml`) rejects those calls everywhere else, and CI runs clippy
//! with `-D warnings`. Everything that depends on time takes a `Clock` (or a `now` argument), so
//! timers are tested in simulated milliseconds, never with real waits.

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    fmt,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::oneshot;

use crate::domain::Timestamp;

/// A source of the current time and of timed waits.
///
/// Object-safe: the engine holds an `Arc<dyn Clock>`.
#[async_trait]
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant, truncated to the millisecond.
    fn now(&self) -> Timestamp;

    /// Completes once [`Clock::now`] has reached `deadline` (at once if it already has).
    async fn sleep_until(&self, deadline: Timestamp);
}

/// The real clock: `chrono::Utc::now` and tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The longest single timer wait: a wall-clock jump is noticed within this long.
    pub const MAX_SLICE: Duration = Duration::from_secs(1);
}

#[async_trait]
impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the real clock
    fn now(&self) -> Timestamp {
        Timestamp::from(chrono::Utc::now())
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        // Sleep in slices and re-read the wall clock, so a clock step (NTP, suspend) neither makes
        // a deadline fire hours late nor early.
        loop {
            let now = self.now();
            if now >= deadline {
                return;
            }
            let wait = deadline.saturating_duration_since(now).min(Self::MAX_SLICE);
            #[allow(clippy::disallowed_methods)] // the one place that sleeps on tokio's timer
            tokio::time::sleep(wait).await;
        }
    }
}

/// A monotonic stopwatch, for measuring how long something took (benchmarks, latency figures).
/// It is not a source of "now": use a [`Clock`] for that. With [`SystemClock`], the only code
/// allowed to read a real clock.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    /// Starts measuring.
    #[allow(clippy::disallowed_methods)] // the monotonic clock, read here and only here
    pub fn start() -> Self {
        Self(std::time::Instant::now())
    }

    /// How long since [`Stopwatch::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A clock that moves only when told to: for deterministic tests of everything timed.
///
/// Clones share one time. [`FakeClock::advance`] and [`FakeClock::set`] wake every sleeper whose
/// deadline has been reached, in deadline order (ties in the order they started sleeping). Time may
/// also be set backwards (a wall-clock step); sleepers then keep waiting.
///
/// ```
/// use std::time::Duration;
/// use praan_core::{clock::{Clock, FakeClock}, domain::Timestamp};
///
/// let clock = FakeClock::new(Timestamp::UNIX_EPOCH);
/// clock.advance(Duration::from_millis(1500));
/// assert_eq!(clock.now().unix_millis(), 1500);
/// ```
#[derive(Clone, Default)]
pub struct FakeClock {
    inner: Arc<Mutex<FakeInner>>,
}

#[derive(Default)]
struct FakeInner {
    now: Timestamp,
    next_seq: u64,
    sleepers: BinaryHeap<Reverse<Sleeper>>,
}

struct Sleeper {
    deadline: Timestamp,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Sleeper {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl Eq for Sleeper {}

impl PartialOrd for Sleeper {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Sleeper {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

impl FakeClock {
    /// A clock that reads `start`.
    pub fn new(start: Timestamp) -> Self {
        let clock = Self::default();
        clock.lock().now = start;
        clock
    }

    fn lock(&self) -> MutexGuard<'_, FakeInner> {
        // A panic while holding this lock cannot leave the state inconsistent (every update is a
        // single assignment or heap operation), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Moves time forward by `by`; returns how many sleepers were woken.
    pub fn advance(&self, by: Duration) -> usize {
        let target = self.lock().now.saturating_add(by);
        self.set(target)
    }

    /// Sets the time (forwards or backwards); returns how many sleepers were woken.
    pub fn set(&self, to: Timestamp) -> usize {
        let mut inner = self.lock();
        inner.now = to;
        let mut woken = 0;
        while inner
            .sleepers
            .peek()
            .is_some_and(|Reverse(s)| s.deadline <= to)
        {
            if let Some(Reverse(sleeper)) = inner.sleepers.pop()
                && sleeper.wake.send(()).is_ok()
            {
                woken += 1;
            }
        }
        woken
    }

    /// The earliest deadline anyone is still sleeping until.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let mut inner = self.lock();
        // Sleeps that were cancelled (their future dropped) are discarded here.
        while inner
            .sleepers
            .peek()
            .is_some_and(|Reverse(s)| s.wake.is_closed())
        {
            inner.sleepers.pop();
        }
        inner.sleepers.peek().map(|Reverse(s)| s.deadline)
    }

    /// Jumps to the earliest pending deadline and wakes its sleepers; returns that deadline.
    pub fn advance_to_next(&self) -> Option<Timestamp> {
        let next = self.next_deadline()?;
        if next > self.now() {
            self.set(next);
        } else {
            let now = self.now();
            self.set(now);
        }
        Some(next)
    }

    /// How many sleeps are pending (cancelled ones excluded).
    pub fn sleepers(&self) -> usize {
        self.lock()
            .sleepers
            .iter()
            .filter(|Reverse(s)| !s.wake.is_closed())
            .count()
    }
}

impl fmt::Debug for FakeClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("FakeClock")
            .field("now", &inner.now)
            .field("sleepers", &inner.sleepers.len())
            .finish()
    }
}

#[async_trait]
impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        self.lock().now
    }

    async fn sleep_until(&self, deadline: Timestamp) {
        let woken = {
            let mut inner = self.lock();
            if inner.now >= deadline {
                return;
            }
            let (wake, woken) = oneshot::channel();
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.sleepers.push(Reverse(Sleeper {
                deadline,
                seq,
                wake,
            }));
            woken
        };
        // The sender lives in the heap until the deadline is reached; it is never dropped early.
        let _ = woken.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ts(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    #[test]
    fn now_is_truncated_to_milliseconds() {
        let dt = chrono::Utc
            .timestamp_opt(1_766_829_600, 999_999_999)
            .unwrap();
        let clock = FakeClock::new(Timestamp::from(dt));
        assert_eq!(clock.now().unix_millis(), 1_766_829_600_999);
        let real = SystemClock.now();
        assert_eq!(real.to_datetime().timestamp_subsec_nanos() % 1_000_000, 0);
    }

    #[test]
    fn advance_and_set_move_time_both_ways() {
        let clock = FakeClock::new(ts(1_000));
        clock.advance(Duration::from_millis(250));
        assert_eq!(clock.now(), ts(1_250));
        clock.set(ts(500));
        assert_eq!(clock.now(), ts(500), "a backwards step is allowed");
        let other = clock.clone();
        other.advance(Duration::from_secs(1));
        assert_eq!(clock.now(), ts(1_500), "clones share one time");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn sleepers_wake_in_deadline_order_once_reached() {
        let clock = FakeClock::new(ts(0));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Registered out of order, with a tie at 30 broken by registration order.
        for (name, deadline) in [("c", 30), ("a", 10), ("d", 30), ("b", 20), ("late", 1_000)] {
            let (clock, order) = (clock.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                clock.sleep_until(ts(deadline)).await;
                order
                    .lock()
                    .unwrap()
                    .push((name, clock.now().unix_millis()));
            }));
        }
        while clock.sleepers() < 5 {
            tokio::task::yield_now().await;
        }
        assert_eq!(clock.next_deadline(), Some(ts(10)));
        assert_eq!(
            clock.advance(Duration::from_millis(9)),
            0,
            "nothing due at 9 ms"
        );
        assert_eq!(clock.advance(Duration::from_millis(21)), 4);
        for t in tasks.drain(..4) {
            t.await.unwrap();
        }
        let got: Vec<_> = order.lock().unwrap().iter().map(|(n, _)| *n).collect();
        assert_eq!(got, ["a", "b", "c", "d"]);
        assert!(order.lock().unwrap().iter().all(|&(_, at)| at == 30));
        assert_eq!(clock.sleepers(), 1);
        assert_eq!(clock.advance_to_next(), Some(ts(1_000)));
        tasks.pop().unwrap().await.unwrap();
        assert_eq!(clock.now(), ts(1_000));
        assert_eq!(clock.next_deadline(), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn past_deadlines_return_at_once_and_cancelled_sleeps_are_forgotten() {
        let clock = FakeClock::new(ts(100));
        clock.sleep_until(ts(100)).await;
        clock.sleep_until(ts(5)).await;
        {
            let sleep = clock.sleep_until(ts(200));
            tokio::pin!(sleep);
            assert!(futures_poll_once(sleep.as_mut()).await.is_none());
            assert_eq!(clock.sleepers(), 1);
        }
        assert_eq!(clock.sleepers(), 0, "a dropped sleep is not pending");
        assert_eq!(clock.next_deadline(), None);
        assert_eq!(clock.advance(Duration::from_millis(500)), 0);
    }

    async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
                std::task::Poll::Ready(v) => Some(v),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[test]
    fn stopwatch_measures_forward() {
        let watch = Stopwatch::start();
        let first = watch.elapsed();
        assert!(watch.elapsed() >= first, "monotonic");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn system_clock_sleeps_until_the_deadline() {
        let clock = SystemClock;
        let start = clock.now();
        let deadline = start.saturating_add(Duration::from_millis(20));
        clock.sleep_until(deadline).await;
        assert!(clock.now() >= deadline);
    }
}
