//! [`RetentionConfig`]: how long MongoDB keeps each kind of record.

use std::time::Duration;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How long each kind of record is kept (PRODUCT.md §6), enforced by the TTL indexes that
/// [`MongoStore::ensure_indexes`](crate::MongoStore::ensure_indexes) creates (and updates when
/// these change). MongoDB's TTL monitor removes an expired record within about a minute of its
/// expiry; praan never has to purge.
///
/// Periods are whole seconds (a fraction rounds up), at most `i32::MAX` seconds (68 years).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RetentionConfig {
    /// Readings, counted from their device timestamp (default 90 days).
    pub readings: Duration,
    /// Terminal commands, counted from `createdAt` (never a pending or sent one), and finished
    /// pre-cleans, counted from `endedAt` (or `endsAt`) (never an active one) (default 30 days).
    pub commands: Duration,
    /// Schedule runs, counted from `at` (default 30 days).
    pub runs: Duration,
}

impl Default for RetentionConfig {
    /// 90 days of readings, 30 days of commands, pre-cleans and schedule runs.
    fn default() -> Self {
        Self {
            readings: DAY.saturating_mul(90),
            commands: DAY.saturating_mul(30),
            runs: DAY.saturating_mul(30),
        }
    }
}
