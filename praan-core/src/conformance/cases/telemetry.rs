//! [`TelemetryRepo`](crate::store::TelemetryRepo): readings, their deduplication, the latest-state
//! upserts of a batch, paging, and statistics.

use std::time::Duration;

use crate::{
    conformance::{
        checks::{all_pages, assert_metric, assert_only_metrics, timestamps},
        fixtures::{
            MIN, SEC, at, id, metrics, pm25_only, presence, reading, reading_reporting,
            reading_with, reported,
        },
    },
    domain::{Metric, PresenceReason, Reading, ReportedState, Timestamp},
    store::{AppendOutcome, BucketWidth, Limit, ReadingQuery, StatsQuery, Store, TimeRange},
};

fn outcome(inserted: u64, duplicates: u64) -> AppendOutcome {
    AppendOutcome {
        inserted,
        duplicates,
    }
}

fn range(start: Option<i64>, end: Option<i64>) -> TimeRange {
    TimeRange::new(start.map(at), end.map(at)).expect("start before end")
}

/// Every reading of `device` in `range`, newest first, in one page of up to 1000.
async fn readings_in(store: &dyn Store, device: &str, range: TimeRange) -> Vec<Reading> {
    let query = ReadingQuery {
        range,
        limit: Limit::new(1000).expect("valid limit"),
        cursor: None,
    };
    let page = store.readings(&id(device), &query).await.expect("readings");
    assert_eq!(
        page.next_cursor, None,
        "fewer than 1000 readings fit one page"
    );
    page.items
}

async fn all_readings(store: &dyn Store, device: &str) -> Vec<Reading> {
    readings_in(store, device, TimeRange::default()).await
}

fn stats_query(start: i64, end: i64, bucket: Option<&str>) -> StatsQuery {
    StatsQuery {
        start: at(start),
        end: at(end),
        bucket: bucket.map(|b| b.parse::<BucketWidth>().expect("valid bucket width")),
    }
}

/// Readings read back equal to the millisecond: timestamps and `receivedAt` with non-zero
/// milliseconds, every metric value, fan speed and power, and absent fields as absent.
pub async fn readings_round_trip_to_the_millisecond(store: &dyn Store) {
    let full = reading_with(
        "dev-1",
        123,
        456,
        metrics([
            Some(87.0),
            Some(-12.375),
            Some(41.25),
            Some(3.1),
            Some(36.1),
            Some(1e6 + 0.5),
            Some(0.0),
            Some(123.456_789),
        ]),
        Some(0),
        Some(false),
    );
    let bare = reading_with("dev-1", 1_001, 999, metrics([None; 8]), None, None);
    let power_only = reading_with("dev-1", 2_999, 3_007, pm25_only(0.1), None, Some(true));
    let speed_only = reading_with("dev-1", 3_500, 3_501, pm25_only(7.0), Some(5), None);
    let batch = [
        full.clone(),
        bare.clone(),
        power_only.clone(),
        speed_only.clone(),
    ];
    let appended = store
        .append_readings(&batch)
        .await
        .expect("append_readings");
    assert_eq!(appended, outcome(4, 0));

    let got = all_readings(store, "dev-1").await;
    assert_eq!(got, vec![speed_only.clone(), power_only, bare, full]);
    let latest = store
        .latest_reading(&id("dev-1"))
        .await
        .expect("latest_reading");
    assert_eq!(latest, Some(speed_only));
}

/// `append_readings` deduplicates on `(deviceId, timestamp)`: a reading already stored, or
/// repeated within the batch, is skipped and counted as a duplicate.
pub async fn append_counts_duplicates_across_and_within_batches(store: &dyn Store) {
    let first = [
        reading("dev-1", 1_000, 10.0),
        reading("dev-1", 2_000, 20.0),
        reading("dev-1", 1_000, 10.0),
    ];
    assert_eq!(
        store
            .append_readings(&first)
            .await
            .expect("append_readings"),
        outcome(2, 1)
    );
    let second = [
        reading("dev-1", 2_000, 20.0),
        reading("dev-1", 3_000, 30.0),
        reading("dev-1", 3_000, 30.0),
        reading("dev-1", 3_000, 30.0),
    ];
    assert_eq!(
        store
            .append_readings(&second)
            .await
            .expect("append_readings"),
        outcome(1, 3)
    );
    let replay = [reading("dev-1", 1_000, 10.0), reading("dev-1", 3_000, 30.0)];
    assert_eq!(
        store
            .append_readings(&replay)
            .await
            .expect("append_readings"),
        outcome(0, 2)
    );

    let got = timestamps(&all_readings(store, "dev-1").await);
    assert_eq!(got, vec![at(3_000), at(2_000), at(1_000)]);
}

/// A duplicate is skipped, not merged: when readings share `(deviceId, timestamp)` the first
/// stored one is kept with its values, within a batch and across batches.
pub async fn append_keeps_the_first_stored_of_duplicate_readings(store: &dyn Store) {
    let kept = reading("dev-1", 1_000, 10.0);
    let in_batch = reading_with("dev-1", 1_000, 1_900, pm25_only(99.0), Some(5), Some(true));
    let appended = store
        .append_readings(&[kept.clone(), in_batch])
        .await
        .expect("append_readings");
    assert_eq!(appended, outcome(1, 1));
    let later_batch = reading_with("dev-1", 1_000, 5_000, pm25_only(55.0), Some(1), Some(false));
    let appended = store
        .append_readings(&[later_batch])
        .await
        .expect("append_readings");
    assert_eq!(appended, outcome(0, 1));

    assert_eq!(all_readings(store, "dev-1").await, vec![kept.clone()]);
    let state = store
        .device_state(&id("dev-1"))
        .await
        .expect("device_state");
    let state = state.expect("state exists after an append");
    assert_eq!(state.latest_reading, Some(kept));
    assert_eq!(state.reported, None, "a skipped duplicate reports nothing");
}

/// Deduplication is per device: the same timestamp on two devices is two readings.
pub async fn append_deduplicates_per_device(store: &dyn Store) {
    let batch = [
        reading("dev-1", 1_000, 10.0),
        reading("dev-10", 1_000, 20.0),
        reading("dev-2", 1_000, 30.0),
    ];
    assert_eq!(
        store
            .append_readings(&batch)
            .await
            .expect("append_readings"),
        outcome(3, 0)
    );
    let again = [reading("dev-2", 1_000, 31.0), reading("dev-3", 1_000, 40.0)];
    assert_eq!(
        store
            .append_readings(&again)
            .await
            .expect("append_readings"),
        outcome(1, 1)
    );

    assert_eq!(
        all_readings(store, "dev-1").await,
        vec![reading("dev-1", 1_000, 10.0)]
    );
    assert_eq!(
        all_readings(store, "dev-10").await,
        vec![reading("dev-10", 1_000, 20.0)]
    );
    assert_eq!(
        all_readings(store, "dev-2").await,
        vec![reading("dev-2", 1_000, 30.0)]
    );
    assert_eq!(
        all_readings(store, "dev-3").await,
        vec![reading("dev-3", 1_000, 40.0)]
    );
}

/// An empty batch stores nothing, counts nothing and creates no device state.
pub async fn append_of_an_empty_batch_changes_nothing(store: &dyn Store) {
    assert_eq!(
        store.append_readings(&[]).await.expect("append_readings"),
        outcome(0, 0)
    );
    assert_eq!(
        store.device_states().await.expect("device_states"),
        Vec::new()
    );
}

/// `append_readings` raises `latestReading` to the batch's newest reading by timestamp (not the
/// last in the batch), creating the state; an older reading appended later never replaces it.
pub async fn append_raises_latest_reading_to_the_newest_by_timestamp(store: &dyn Store) {
    let d = id("dev-1");
    let newest = reading("dev-1", 5_000, 50.0);
    let batch = [
        reading("dev-1", 3_000, 30.0),
        newest.clone(),
        reading("dev-1", 4_000, 40.0),
    ];
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state created");
    assert_eq!(state.latest_reading, Some(newest.clone()));

    store
        .append_readings(&[reading("dev-1", 4_500, 45.0)])
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(
        state.latest_reading,
        Some(newest),
        "an older reading never replaces it"
    );

    let newer = reading("dev-1", 5_001, 51.0);
    store
        .append_readings(std::slice::from_ref(&newer))
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(state.latest_reading, Some(newer));
}

/// `append_readings` records `reported` as `record_reported` would, from the batch's newest
/// reading (by timestamp, not batch order) that carries both power and speed: a newer reading
/// with only one of them does not count, and a report older than the stored one is not kept.
pub async fn append_records_reported_from_the_newest_reading_with_power_and_speed(
    store: &dyn Store,
) {
    let d = id("dev-1");
    let batch = [
        reading_reporting("dev-1", 2_000, 3),
        reading_reporting("dev-1", 1_000, 2),
        reading_with("dev-1", 3_000, 3_050, pm25_only(1.0), Some(5), None),
        reading_with("dev-1", 4_000, 4_050, pm25_only(1.0), None, Some(false)),
        reading("dev-1", 5_000, 1.0),
    ];
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(state.reported, Some(reported(3, 2_000)));

    let newer_report = reported(5, 10_000);
    assert!(
        store
            .record_reported(&d, newer_report)
            .await
            .expect("record_reported")
    );
    store
        .append_readings(&[reading_reporting("dev-1", 6_000, 1)])
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(
        state.reported,
        Some(newer_report),
        "an older report is not kept"
    );

    store
        .append_readings(&[reading_reporting("dev-1", 10_001, 4)])
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(state.reported, Some(reported(4, 10_001)));
}

/// `append_readings` raises `lastSeen` to the latest `receivedAt` of the batch (which need not be
/// the newest reading's), and never lowers it.
pub async fn append_raises_last_seen_to_the_latest_received_at(store: &dyn Store) {
    let d = id("dev-1");
    let batch = [
        reading_with("dev-1", 5_000, 5_010, pm25_only(1.0), None, None),
        reading_with("dev-1", 1_000, 9_123, pm25_only(1.0), None, None),
        reading_with("dev-1", 3_000, 3_010, pm25_only(1.0), None, None),
    ];
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(state.last_seen, Some(at(9_123)));

    let late_but_earlier_receipt = reading_with("dev-1", 6_000, 8_000, pm25_only(1.0), None, None);
    store
        .append_readings(&[late_but_earlier_receipt])
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(state.last_seen, Some(at(9_123)), "never lowered");

    store
        .record_seen(&d, at(20_000))
        .await
        .expect("record_seen");
    store
        .append_readings(&[reading("dev-1", 7_000, 1.0)])
        .await
        .expect("append_readings");
    let state = store
        .device_state(&d)
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(
        state.last_seen,
        Some(at(20_000)),
        "never lowered below record_seen"
    );
}

/// A batch spanning devices raises each device's state from that device's readings only, and
/// leaves the other fields of an existing state alone.
pub async fn append_updates_the_state_of_each_device_in_the_batch(store: &dyn Store) {
    let pres = presence(true, 500, PresenceReason::Message);
    store
        .record_presence(&id("dev-2"), pres)
        .await
        .expect("record_presence");
    let batch = [
        reading_reporting("dev-1", 2_000, 2),
        reading_reporting("dev-2", 1_000, 4),
        reading("dev-1", 1_000, 1.0),
        reading("dev-2", 3_000, 3.0),
    ];
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let one = store
        .device_state(&id("dev-1"))
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(
        one.latest_reading,
        Some(reading_reporting("dev-1", 2_000, 2))
    );
    assert_eq!(one.reported, Some(reported(2, 2_000)));
    assert_eq!(one.last_seen, Some(at(2_050)));
    assert_eq!(one.presence, None);

    let two = store
        .device_state(&id("dev-2"))
        .await
        .expect("device_state")
        .expect("state");
    assert_eq!(two.latest_reading, Some(reading("dev-2", 3_000, 3.0)));
    assert_eq!(two.reported, Some(reported(4, 1_000)));
    assert_eq!(two.last_seen, Some(at(3_050)));
    assert_eq!(two.presence, Some(pres), "other fields stay");
}

/// The latest-state upsert keeps the newest also for concurrent appends: two concurrent batches
/// of one device, in either order, on a device without state and again on an existing one, leave
/// the newer batch's reading, report and receipt, and store both readings.
pub async fn concurrent_appends_for_one_device_keep_the_newest_state(store: &dyn Store) {
    for i in 0..50_i64 {
        let name = format!("race-{i}");
        let d = id(&name);
        for base in [0, 10_000] {
            let older = [reading_reporting(&name, base + 1_000, 2)];
            let newer = [reading_reporting(&name, base + 2_000, 4)];
            let (a, b) = if i % 2 == 0 {
                tokio::join!(store.append_readings(&older), store.append_readings(&newer))
            } else {
                tokio::join!(store.append_readings(&newer), store.append_readings(&older))
            };
            assert_eq!(a.expect("append_readings"), outcome(1, 0), "iteration {i}");
            assert_eq!(b.expect("append_readings"), outcome(1, 0), "iteration {i}");
            let state = store
                .device_state(&d)
                .await
                .expect("device_state")
                .expect("state");
            assert_eq!(
                state.latest_reading.as_ref(),
                Some(&newer[0]),
                "iteration {i}"
            );
            let expected: Option<ReportedState> = newer[0].reported_state();
            assert_eq!(state.reported, expected, "iteration {i}");
            assert_eq!(state.last_seen, Some(at(base + 2_050)), "iteration {i}");
        }
        assert_eq!(all_readings(store, &name).await.len(), 4, "iteration {i}");
    }
}

/// Deduplication holds for concurrent appends: two concurrent batches that overlap store each
/// reading once, and together count every overlapping reading once as inserted and once as a
/// duplicate.
pub async fn concurrent_overlapping_appends_store_each_reading_once(store: &dyn Store) {
    for i in 0..20_i64 {
        let name = format!("race-{i}");
        let first: Vec<Reading> = (0..10).map(|s| reading(&name, s * SEC, 1.0)).collect();
        let second: Vec<Reading> = (5..15).map(|s| reading(&name, s * SEC, 1.0)).collect();
        let (a, b) = if i % 2 == 0 {
            tokio::join!(
                store.append_readings(&first),
                store.append_readings(&second)
            )
        } else {
            tokio::join!(
                store.append_readings(&second),
                store.append_readings(&first)
            )
        };
        let (a, b) = (a.expect("append_readings"), b.expect("append_readings"));
        assert_eq!(a.inserted + b.inserted, 15, "iteration {i}: {a:?} {b:?}");
        assert_eq!(a.duplicates + b.duplicates, 5, "iteration {i}: {a:?} {b:?}");
        let expected: Vec<Timestamp> = (0..15).rev().map(|s| at(s * SEC)).collect();
        assert_eq!(
            timestamps(&all_readings(store, &name).await),
            expected,
            "iteration {i}"
        );
    }
}

/// `readings` returns the device's readings newest first, whatever the order they were appended.
pub async fn readings_are_newest_first(store: &dyn Store) {
    store
        .append_readings(&[reading("dev-1", 3_000, 3.0), reading("dev-1", 1_000, 1.0)])
        .await
        .expect("append_readings");
    store
        .append_readings(&[reading("dev-1", 4_000, 4.0), reading("dev-1", 2_000, 2.0)])
        .await
        .expect("append_readings");
    let got = all_readings(store, "dev-1").await;
    let expected = [4_000, 3_000, 2_000, 1_000].map(|t| reading("dev-1", t, (t / 1_000) as f64));
    assert_eq!(got, expected);
}

/// The range of `readings` is half-open `[start, end)`: a reading at `start` is in, one at `end`
/// is out; either side may be open.
pub async fn readings_range_is_half_open(store: &dyn Store) {
    let batch: Vec<Reading> = (0..10).map(|s| reading("dev-1", s * SEC, 1.0)).collect();
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");
    let secs = |r: Vec<Reading>| -> Vec<i64> {
        r.iter()
            .map(|r| (r.timestamp().unix_millis() - at(0).unix_millis()) / SEC)
            .collect()
    };

    let both = readings_in(store, "dev-1", range(Some(2 * SEC), Some(7 * SEC))).await;
    assert_eq!(secs(both), [6, 5, 4, 3, 2]);
    let from = readings_in(store, "dev-1", range(Some(7 * SEC), None)).await;
    assert_eq!(secs(from), [9, 8, 7]);
    let until = readings_in(store, "dev-1", range(None, Some(3 * SEC))).await;
    assert_eq!(secs(until), [2, 1, 0]);
    let one_ms = readings_in(store, "dev-1", range(Some(4 * SEC), Some(4 * SEC + 1))).await;
    assert_eq!(secs(one_ms), [4]);
    let between = readings_in(store, "dev-1", range(Some(4 * SEC + 1), Some(5 * SEC))).await;
    assert_eq!(secs(between), Vec::<i64>::new());
}

/// Following `readings` cursors visits every reading exactly once, newest first: 25 readings in
/// pages of 10 are pages of 10, 10 and 5, the last without a cursor.
pub async fn readings_pages_visit_every_reading_exactly_once(store: &dyn Store) {
    let batch: Vec<Reading> = (0..25)
        .map(|s| reading("dev-1", s * SEC + 7, s as f64))
        .collect();
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let pages = all_pages(store, &id("dev-1"), TimeRange::default(), 10).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
    let visited: Vec<Reading> = pages.into_iter().flatten().collect();
    let expected: Vec<Reading> = batch.into_iter().rev().collect();
    assert_eq!(visited, expected);
}

/// A page that holds the last reading has no cursor (`Page::next_cursor` is `None` when the page
/// is the last), also when the readings fill the pages exactly: 20 readings in pages of 10 are two
/// pages, and a limit above the count is one page.
pub async fn readings_last_full_page_has_no_cursor(store: &dyn Store) {
    let batch: Vec<Reading> = (0..20).map(|s| reading("dev-1", s * SEC, 1.0)).collect();
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let pages = all_pages(store, &id("dev-1"), TimeRange::default(), 10).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10]);
    let pages = all_pages(store, &id("dev-1"), TimeRange::default(), 20).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [20]);
    let pages = all_pages(store, &id("dev-1"), TimeRange::default(), 21).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [20]);
    let pages = all_pages(store, &id("dev-1"), TimeRange::default(), 1).await;
    assert_eq!(pages.len(), 20);
    assert!(pages.iter().all(|p| p.len() == 1));
}

/// Paging within a range visits exactly the range's readings once each: 30 readings, range
/// `[5 s, 25 s)`, pages of 7 are 7, 7 and 6.
pub async fn readings_pages_stay_within_the_range(store: &dyn Store) {
    let batch: Vec<Reading> = (0..30).map(|s| reading("dev-1", s * SEC, 1.0)).collect();
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let pages = all_pages(store, &id("dev-1"), range(Some(5 * SEC), Some(25 * SEC)), 7).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [7, 7, 6]);
    let visited: Vec<Timestamp> = pages.iter().flat_map(|p| timestamps(p)).collect();
    let expected: Vec<Timestamp> = (5..25).rev().map(|s| at(s * SEC)).collect();
    assert_eq!(visited, expected);
}

/// `readings` of a device without readings is an empty page without a cursor, not an error.
pub async fn readings_of_an_unknown_device_are_an_empty_page(store: &dyn Store) {
    store
        .append_readings(&[reading("dev-1", 1_000, 1.0)])
        .await
        .expect("append_readings");
    let page = store
        .readings(&id("dev-404"), &ReadingQuery::default())
        .await
        .expect("readings");
    assert_eq!(page.items, Vec::new());
    assert_eq!(page.next_cursor, None);
}

/// `readings` returns only the asked device's readings, also when ids share a prefix and
/// timestamps interleave, and paging never crosses into another device.
pub async fn readings_never_include_other_devices(store: &dyn Store) {
    let mut batch = Vec::new();
    for s in 0..12 {
        batch.push(reading("dev-1", s * SEC, 1.0));
        batch.push(reading("dev-10", s * SEC + 500, 10.0));
        batch.push(reading("dev-", s * SEC + 1, 0.0));
    }
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let pages = all_pages(store, &id("dev-1"), TimeRange::default(), 5).await;
    let visited: Vec<Reading> = pages.into_iter().flatten().collect();
    let expected: Vec<Reading> = (0..12)
        .rev()
        .map(|s| reading("dev-1", s * SEC, 1.0))
        .collect();
    assert_eq!(visited, expected);
    let latest = store
        .latest_reading(&id("dev-1"))
        .await
        .expect("latest_reading");
    assert_eq!(latest, Some(reading("dev-1", 11 * SEC, 1.0)));
}

/// `latest_reading` is the reading with the greatest timestamp, whatever the order of appends;
/// `None` for a device without readings.
pub async fn latest_reading_is_the_greatest_timestamp(store: &dyn Store) {
    let d = id("dev-1");
    assert_eq!(
        store.latest_reading(&d).await.expect("latest_reading"),
        None
    );
    store
        .append_readings(&[reading("dev-1", 2_000, 2.0), reading("dev-1", 9_000, 9.0)])
        .await
        .expect("append_readings");
    store
        .append_readings(&[reading("dev-1", 5_000, 5.0)])
        .await
        .expect("append_readings");
    let latest = store.latest_reading(&d).await.expect("latest_reading");
    assert_eq!(latest, Some(reading("dev-1", 9_000, 9.0)));
    store
        .append_readings(&[reading("dev-1", 9_001, 9.5)])
        .await
        .expect("append_readings");
    let latest = store.latest_reading(&d).await.expect("latest_reading");
    assert_eq!(latest, Some(reading("dev-1", 9_001, 9.5)));
}

/// `statistics` computes count, min, max and avg of every metric over `[start, end)`: exact
/// count, min and max, avg within a relative 1e-9; readings outside the range and of other
/// devices do not count; `start` and `end` are echoed.
pub async fn statistics_cover_every_metric(store: &dyn Store) {
    let rows: [(i64, [f64; 8]); 4] = [
        (0, [80.0, 21.5, 40.0, 5.0, 10.5, 20.0, 30.0, 100.0]),
        (MIN, [70.0, 22.5, 45.0, 6.0, 12.25, 22.0, 35.0, 120.0]),
        (2 * MIN, [90.0, -3.25, 50.0, 4.0, 8.0, 18.0, 40.0, 80.0]),
        (3 * MIN, [60.0, 25.0, 55.0, 9.0, 30.75, 40.0, 45.0, 300.0]),
    ];
    let mut batch: Vec<Reading> = rows
        .iter()
        .map(|(t, v)| {
            reading_with(
                "dev-1",
                *t,
                *t + 10,
                metrics(v.map(Some)),
                Some(3),
                Some(true),
            )
        })
        .collect();
    batch.push(reading("dev-1", -1, 1_000.0));
    batch.push(reading("dev-1", 4 * MIN, 1_000.0));
    batch.push(reading("dev-2", MIN + 30 * SEC, 1_000.0));
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let stats = store
        .statistics(&id("dev-1"), &stats_query(0, 4 * MIN, None))
        .await
        .expect("statistics");
    assert_eq!(
        (stats.start, stats.end, stats.count),
        (at(0), at(4 * MIN), 4)
    );
    let expected = [
        (Metric::NetworkStrength, 60.0, 90.0, 75.0),
        (Metric::Temperature, -3.25, 25.0, 16.4375),
        (Metric::Humidity, 40.0, 55.0, 47.5),
        (Metric::Pm1, 4.0, 9.0, 6.0),
        (Metric::Pm25, 8.0, 30.75, 15.375),
        (Metric::Pm10, 18.0, 40.0, 25.0),
        (Metric::Sound, 30.0, 45.0, 37.5),
        (Metric::Voc, 80.0, 300.0, 150.0),
    ];
    for (m, min, max, avg) in expected {
        assert_metric(&stats.metrics, m, Some((4, min, max, avg)), "whole range");
    }
    assert_eq!(stats.buckets, None);
}

/// A metric counts only in readings that carry it (the range's `count` counts every reading),
/// and a metric no reading carries has count 0 and no min, max or avg.
pub async fn statistics_count_a_metric_only_where_present(store: &dyn Store) {
    let temp_pm25 =
        |t: Option<f64>, p: Option<f64>| metrics([None, t, None, None, p, None, None, None]);
    let batch = [
        reading_with(
            "dev-1",
            0,
            10,
            temp_pm25(Some(20.0), Some(10.0)),
            None,
            None,
        ),
        reading_with(
            "dev-1",
            SEC,
            SEC + 10,
            temp_pm25(None, Some(20.0)),
            None,
            None,
        ),
        reading_with(
            "dev-1",
            2 * SEC,
            2 * SEC + 10,
            temp_pm25(Some(30.0), None),
            None,
            None,
        ),
        reading_with(
            "dev-1",
            3 * SEC,
            3 * SEC + 10,
            temp_pm25(None, None),
            Some(2),
            Some(true),
        ),
        reading_with(
            "dev-1",
            4 * SEC,
            4 * SEC + 10,
            temp_pm25(None, Some(0.1)),
            None,
            None,
        ),
    ];
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let stats = store
        .statistics(&id("dev-1"), &stats_query(0, MIN, None))
        .await
        .expect("statistics");
    assert_eq!(stats.count, 5);
    assert_metric(
        &stats.metrics,
        Metric::Temperature,
        Some((2, 20.0, 30.0, 25.0)),
        "partial",
    );
    assert_metric(
        &stats.metrics,
        Metric::Pm25,
        Some((3, 0.1, 20.0, (10.0 + 20.0 + 0.1) / 3.0)),
        "partial",
    );
    assert_only_metrics(
        &stats.metrics,
        &[Metric::Temperature, Metric::Pm25],
        "partial",
    );
}

/// Statistics of a range without readings (or of an unknown device) have count 0 and every metric
/// at count 0 without min, max or avg.
pub async fn statistics_of_no_readings_have_zero_counts(store: &dyn Store) {
    store
        .append_readings(&[reading("dev-1", 10 * MIN, 5.0)])
        .await
        .expect("append_readings");
    for device in ["dev-1", "dev-404"] {
        let stats = store
            .statistics(&id(device), &stats_query(0, 10 * MIN, None))
            .await
            .expect("statistics");
        assert_eq!(
            (stats.start, stats.end, stats.count),
            (at(0), at(10 * MIN), 0),
            "{device}"
        );
        assert_only_metrics(&stats.metrics, &[], device);
        assert_eq!(stats.buckets, None, "{device}");
    }
}

/// The range of `statistics` is half-open `[start, end)`, to the millisecond.
pub async fn statistics_range_is_half_open(store: &dyn Store) {
    let batch = [
        reading("dev-1", 999, 1.0),
        reading("dev-1", 1_000, 2.0),
        reading("dev-1", 1_500, 4.0),
        reading("dev-1", 1_999, 8.0),
        reading("dev-1", 2_000, 16.0),
    ];
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let stats = store
        .statistics(&id("dev-1"), &stats_query(1_000, 2_000, None))
        .await
        .expect("statistics");
    assert_eq!(stats.count, 3);
    assert_metric(
        &stats.metrics,
        Metric::Pm25,
        Some((3, 2.0, 8.0, 14.0 / 3.0)),
        "[1s, 2s)",
    );
    let stats = store
        .statistics(&id("dev-1"), &stats_query(1_000, 1_001, None))
        .await
        .expect("statistics");
    assert_eq!(stats.count, 1);
    assert_metric(
        &stats.metrics,
        Metric::Pm25,
        Some((1, 2.0, 2.0, 2.0)),
        "[1s, 1.001s)",
    );
}

/// With a bucket width, `statistics` also returns the same aggregates per non-empty bucket,
/// oldest first, each bucket starting at a multiple of the width since the epoch (also when the
/// range does not), holding only the range's readings.
pub async fn statistics_buckets_are_aligned_non_empty_and_oldest_first(store: &dyn Store) {
    let batch = [
        reading("dev-1", 19 * MIN, 50.0),
        reading("dev-1", 30 * SEC, 1_000.0),
        reading("dev-1", 5 * MIN, 30.0),
        reading("dev-1", MIN, 10.0),
        reading("dev-1", 30 * MIN, 1_000.0),
        reading("dev-1", 15 * MIN, 40.0),
        reading("dev-1", 5 * MIN - 1, 20.0),
        reading("dev-2", 10 * MIN, 1_000.0),
    ];
    store
        .append_readings(&batch)
        .await
        .expect("append_readings");

    let stats = store
        .statistics(&id("dev-1"), &stats_query(MIN, 30 * MIN, Some("5m")))
        .await
        .expect("statistics");
    assert_eq!(stats.count, 5);
    assert_metric(
        &stats.metrics,
        Metric::Pm25,
        Some((5, 10.0, 50.0, 30.0)),
        "overall",
    );
    let buckets = stats.buckets.expect("buckets were asked for");
    let starts: Vec<Timestamp> = buckets.iter().map(|b| b.start).collect();
    assert_eq!(starts, [at(0), at(5 * MIN), at(15 * MIN)]);
    let expected = [
        (2, 10.0, 20.0, 15.0),
        (1, 30.0, 30.0, 30.0),
        (2, 40.0, 50.0, 45.0),
    ];
    for (bucket, (count, min, max, avg)) in buckets.iter().zip(expected) {
        let what = format!("bucket {}", bucket.start);
        assert_eq!(bucket.count, count, "{what}");
        assert_metric(
            &bucket.metrics,
            Metric::Pm25,
            Some((count, min, max, avg)),
            &what,
        );
        assert_only_metrics(&bucket.metrics, &[Metric::Pm25], &what);
    }

    let hourly = store
        .statistics(&id("dev-1"), &stats_query(MIN, 30 * MIN, Some("1h")))
        .await
        .expect("statistics");
    let buckets = hourly.buckets.expect("buckets were asked for");
    assert_eq!(buckets.len(), 1);
    assert_eq!((buckets[0].start, buckets[0].count), (at(0), 5));
    assert_metric(
        &buckets[0].metrics,
        Metric::Pm25,
        Some((5, 10.0, 50.0, 30.0)),
        "1h",
    );
    // The epoch is a multiple of 7 minutes 1 minute before T0 (T0 is 10:00 UTC), so 7-minute
    // buckets start at T0 - 1 min, T0 + 6 min, T0 + 13 min, …
    let width = BucketWidth::new(Duration::from_secs(7 * 60)).expect("valid width");
    let seven = store
        .statistics(
            &id("dev-1"),
            &StatsQuery {
                bucket: Some(width),
                ..stats_query(MIN, 30 * MIN, None)
            },
        )
        .await
        .expect("statistics");
    let buckets = seven.buckets.expect("buckets were asked for");
    let starts: Vec<Timestamp> = buckets.iter().map(|b| b.start).collect();
    assert_eq!(starts, [at(-MIN), at(13 * MIN)]);
    let expected = [(3, 10.0, 30.0, 20.0), (2, 40.0, 50.0, 45.0)];
    for (bucket, (count, min, max, avg)) in buckets.iter().zip(expected) {
        let what = format!("7m bucket {}", bucket.start);
        assert_eq!(bucket.count, count, "{what}");
        assert_metric(
            &bucket.metrics,
            Metric::Pm25,
            Some((count, min, max, avg)),
            &what,
        );
    }
}

/// Without a bucket width there are no buckets; with one and no readings in the range, the series
/// is empty (only non-empty buckets are returned).
pub async fn statistics_have_buckets_only_when_asked(store: &dyn Store) {
    store
        .append_readings(&[reading("dev-1", MIN, 1.0)])
        .await
        .expect("append_readings");
    let without = store
        .statistics(&id("dev-1"), &stats_query(0, 10 * MIN, None))
        .await
        .expect("statistics");
    assert_eq!(without.buckets, None);
    let with = store
        .statistics(&id("dev-1"), &stats_query(0, 10 * MIN, Some("1m")))
        .await
        .expect("statistics");
    let buckets = with.buckets.expect("buckets were asked for");
    assert_eq!(buckets.len(), 1);
    assert_eq!((buckets[0].start, buckets[0].count), (at(MIN), 1));
    let empty = store
        .statistics(&id("dev-1"), &stats_query(2 * MIN, 10 * MIN, Some("1m")))
        .await
        .expect("statistics");
    assert_eq!(empty.count, 0);
    assert_eq!(empty.buckets, Some(Vec::new()));
}
