//! [`StateRepo`](crate::store::StateRepo): what praan observed of each device.

use crate::{
    conformance::fixtures::{at, device, id, presence, reported},
    domain::{DeviceState, PresenceReason},
    store::Store,
};

/// A device's state is `None` until anything is recorded for it (registering the device records
/// nothing); the first record creates it with only that field set.
pub async fn device_state_is_none_until_something_is_recorded(store: &dyn Store) {
    let d = id("dev-1");
    assert_eq!(store.device_state(&d).await.expect("device_state"), None);
    store
        .insert_device(&device("dev-1"))
        .await
        .expect("insert_device");
    assert_eq!(store.device_state(&d).await.expect("device_state"), None);
    assert_eq!(
        store.device_states().await.expect("device_states"),
        Vec::new()
    );

    store.record_seen(&d, at(1_234)).await.expect("record_seen");
    let expected = DeviceState {
        last_seen: Some(at(1_234)),
        ..DeviceState::empty(d.clone())
    };
    assert_eq!(
        store.device_state(&d).await.expect("device_state"),
        Some(expected.clone())
    );
    assert_eq!(
        store.device_states().await.expect("device_states"),
        vec![expected]
    );
}

/// `record_reported` keeps a report only if its `at` is newer than the stored one's, returns
/// whether it did, and the newest wins whatever the arrival order; an equal `at` is not newer.
pub async fn record_reported_keeps_the_newest_in_either_arrival_order(store: &dyn Store) {
    let (older, newer) = (reported(2, 1_000), reported(4, 2_000));

    let d1 = id("newest-first");
    assert!(
        store
            .record_reported(&d1, newer)
            .await
            .expect("record_reported")
    );
    assert!(
        !store
            .record_reported(&d1, older)
            .await
            .expect("record_reported")
    );
    let state = store.device_state(&d1).await.expect("device_state");
    assert_eq!(state.and_then(|s| s.reported), Some(newer));

    let d2 = id("oldest-first");
    assert!(
        store
            .record_reported(&d2, older)
            .await
            .expect("record_reported")
    );
    assert!(
        store
            .record_reported(&d2, newer)
            .await
            .expect("record_reported")
    );
    let state = store.device_state(&d2).await.expect("device_state");
    assert_eq!(state.and_then(|s| s.reported), Some(newer));

    let same_time = reported(1, 2_000);
    assert!(
        !store
            .record_reported(&d2, same_time)
            .await
            .expect("record_reported")
    );
    let state = store.device_state(&d2).await.expect("device_state");
    assert_eq!(
        state.and_then(|s| s.reported),
        Some(newer),
        "an equal `at` is not newer"
    );
}

/// `record_presence` keeps a presence whose `since` is not older than the stored one's (an equal
/// `since` replaces it), returns whether it did, and refuses an older one.
pub async fn record_presence_keeps_a_presence_not_older_than_the_stored_one(store: &dyn Store) {
    let d = id("dev-1");
    let online = presence(true, 1_000, PresenceReason::StatusTopic);
    let will = presence(false, 1_000, PresenceReason::LastWill);
    let stale = presence(true, 999, PresenceReason::Message);
    let silence = presence(false, 61_000, PresenceReason::Silence);

    assert!(
        store
            .record_presence(&d, online)
            .await
            .expect("record_presence")
    );
    assert!(
        store
            .record_presence(&d, will)
            .await
            .expect("record_presence"),
        "equal since"
    );
    let state = store.device_state(&d).await.expect("device_state");
    assert_eq!(state.and_then(|s| s.presence), Some(will));

    assert!(
        !store
            .record_presence(&d, stale)
            .await
            .expect("record_presence"),
        "older since"
    );
    let state = store.device_state(&d).await.expect("device_state");
    assert_eq!(state.and_then(|s| s.presence), Some(will));

    assert!(
        store
            .record_presence(&d, silence)
            .await
            .expect("record_presence")
    );
    let state = store.device_state(&d).await.expect("device_state");
    assert_eq!(state.and_then(|s| s.presence), Some(silence));
}

/// `record_seen` raises `lastSeen` to a later instant and never lowers it.
pub async fn record_seen_raises_last_seen_and_never_lowers_it(store: &dyn Store) {
    let d = id("dev-1");
    let last_seen = async || {
        store
            .device_state(&d)
            .await
            .expect("device_state")
            .and_then(|s| s.last_seen)
    };
    store.record_seen(&d, at(5_005)).await.expect("record_seen");
    assert_eq!(last_seen().await, Some(at(5_005)));
    store.record_seen(&d, at(4_999)).await.expect("record_seen");
    assert_eq!(last_seen().await, Some(at(5_005)), "never lowered");
    store.record_seen(&d, at(5_005)).await.expect("record_seen");
    assert_eq!(last_seen().await, Some(at(5_005)));
    store.record_seen(&d, at(5_006)).await.expect("record_seen");
    assert_eq!(last_seen().await, Some(at(5_006)));
}

/// Each `record_*` method changes only its own field of the state: the others read back as they
/// were, to the millisecond.
pub async fn state_updates_leave_the_other_fields_alone(store: &dyn Store) {
    let d = id("dev-1");
    let rep = reported(3, 1_111);
    let pres = presence(true, 2_222, PresenceReason::Message);
    store
        .record_reported(&d, rep)
        .await
        .expect("record_reported");
    store
        .record_presence(&d, pres)
        .await
        .expect("record_presence");
    store.record_seen(&d, at(3_333)).await.expect("record_seen");

    let expected = DeviceState {
        device_id: d.clone(),
        reported: Some(rep),
        presence: Some(pres),
        last_seen: Some(at(3_333)),
        latest_reading: None,
    };
    assert_eq!(
        store.device_state(&d).await.expect("device_state"),
        Some(expected.clone())
    );

    let rep2 = reported(5, 4_444);
    store
        .record_reported(&d, rep2)
        .await
        .expect("record_reported");
    let expected = DeviceState {
        reported: Some(rep2),
        ..expected
    };
    assert_eq!(
        store.device_state(&d).await.expect("device_state"),
        Some(expected)
    );
}

/// `device_states` returns every state, ordered by device id whatever the order of recording.
pub async fn device_states_are_ordered_by_device_id(store: &dyn Store) {
    for name in ["dev-3", "Dev-9", "dev-1", "dev-10"] {
        store
            .record_seen(&id(name), at(1_000))
            .await
            .expect("record_seen");
    }
    let states = store.device_states().await.expect("device_states");
    let ids: Vec<&str> = states.iter().map(|s| s.device_id.as_str()).collect();
    assert_eq!(ids, ["Dev-9", "dev-1", "dev-10", "dev-3"]);
    for s in &states {
        let expected = DeviceState {
            last_seen: Some(at(1_000)),
            ..DeviceState::empty(s.device_id.clone())
        };
        assert_eq!(s, &expected);
    }
}

/// `record_reported` keeps the newest also for concurrent calls: two concurrent reports of one
/// device, in either order, on a device without state (the first insert races) and again on the
/// existing state (the update races), always leave the newer one, and the newer call returns
/// `true`.
pub async fn concurrent_record_reported_keeps_the_newest(store: &dyn Store) {
    for i in 0..50_i64 {
        let d = id(&format!("race-{i}"));
        let mut base = 0;
        for round in ["first insert", "update"] {
            let older = reported(2, base + 1_000);
            let newer = reported(4, base + 2_000);
            let (older_kept, newer_kept) = if i % 2 == 0 {
                tokio::join!(
                    store.record_reported(&d, older),
                    store.record_reported(&d, newer)
                )
            } else {
                let (n, o) = tokio::join!(
                    store.record_reported(&d, newer),
                    store.record_reported(&d, older)
                );
                (o, n)
            };
            older_kept.expect("record_reported");
            assert!(
                newer_kept.expect("record_reported"),
                "iteration {i}, {round}: newer kept"
            );
            let state = store.device_state(&d).await.expect("device_state");
            assert_eq!(
                state.and_then(|s| s.reported),
                Some(newer),
                "iteration {i}, {round}: the newest wins"
            );
            base += 10_000;
        }
    }
}

/// `record_seen` never lowers `lastSeen`, also for concurrent calls: two concurrent calls in
/// either order leave the later instant.
pub async fn concurrent_record_seen_keeps_the_latest(store: &dyn Store) {
    for i in 0..50_i64 {
        let d = id(&format!("race-{i}"));
        for base in [0, 10_000] {
            let (early, late) = (at(base + 1_000), at(base + 2_000));
            let (a, b) = if i % 2 == 0 {
                tokio::join!(store.record_seen(&d, early), store.record_seen(&d, late))
            } else {
                tokio::join!(store.record_seen(&d, late), store.record_seen(&d, early))
            };
            a.expect("record_seen");
            b.expect("record_seen");
            let state = store.device_state(&d).await.expect("device_state");
            assert_eq!(state.and_then(|s| s.last_seen), Some(late), "iteration {i}");
        }
    }
}
