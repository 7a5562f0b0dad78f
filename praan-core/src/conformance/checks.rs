//! Assertions shared by the cases: error variants, floating-point aggregates, and reading paging.

use std::fmt::Debug;

use crate::{
    domain::{DeviceId, Metric, PerMetric, Reading, Timestamp},
    store::{Limit, MetricStats, ReadingQuery, Store, StoreError, StoreResult, TimeRange},
};

/// Asserts that `result` is a [`StoreError::Conflict`].
pub(crate) fn assert_conflict<T: Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict { .. })),
        "{what}: expected StoreError::Conflict, got {result:?}"
    );
}

/// Asserts that `result` is a [`StoreError::NotFound`].
pub(crate) fn assert_not_found<T: Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::NotFound { .. })),
        "{what}: expected StoreError::NotFound, got {result:?}"
    );
}

/// Asserts that `actual` is within a relative 1e-9 of `expected`.
pub(crate) fn assert_close(actual: f64, expected: f64, what: &str) {
    let tolerance = 1e-9 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: expected {expected}, got {actual}"
    );
}

/// Asserts a metric's aggregates: `None` means count 0 and no min/max/avg, `Some((count, min,
/// max, avg))` exact count, min and max, and avg within a relative 1e-9.
pub(crate) fn assert_metric(
    stats: &PerMetric<MetricStats>,
    metric: Metric,
    expected: Option<(u64, f64, f64, f64)>,
    what: &str,
) {
    let s = stats[metric];
    match expected {
        None => assert_eq!(
            s,
            MetricStats::default(),
            "{what}: {metric} must have no values"
        ),
        Some((count, min, max, avg)) => {
            assert_eq!(s.count, count, "{what}: {metric} count");
            assert_eq!(s.min, Some(min), "{what}: {metric} min");
            assert_eq!(s.max, Some(max), "{what}: {metric} max");
            let Some(actual_avg) = s.avg else {
                panic!("{what}: {metric} avg is None with count {count}");
            };
            assert_close(actual_avg, avg, &format!("{what}: {metric} avg"));
        }
    }
}

/// Asserts that every metric but the listed ones has no values.
pub(crate) fn assert_only_metrics(stats: &PerMetric<MetricStats>, present: &[Metric], what: &str) {
    for m in Metric::ALL {
        if !present.contains(&m) {
            assert_metric(stats, m, None, what);
        }
    }
}

/// The timestamps of `readings`, in order.
pub(crate) fn timestamps(readings: &[Reading]) -> Vec<Timestamp> {
    readings.iter().map(Reading::timestamp).collect()
}

/// Follows cursors from the first page of `range` with page size `limit` until a page has no
/// cursor, and returns every page; panics after 1000 pages (a cursor that never ends).
pub(crate) async fn all_pages(
    store: &dyn Store,
    device: &DeviceId,
    range: TimeRange,
    limit: u32,
) -> Vec<Vec<Reading>> {
    let limit = Limit::new(limit).expect("a page size from 1 to 1000");
    let mut pages = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let query = ReadingQuery {
            range,
            limit,
            cursor,
        };
        let page = store.readings(device, &query).await.expect("readings");
        pages.push(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
    panic!("readings of {device}: the cursor did not end after 1000 pages");
}
