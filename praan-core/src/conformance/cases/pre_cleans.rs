//! [`PreCleanRepo`](crate::store::PreCleanRepo): pre-cleans and the one-active-per-device rule.

use crate::{
    conformance::{
        checks::{assert_conflict, assert_not_found},
        fixtures::{MIN, at, id, pre_clean, pre_clean_id, speed},
    },
    domain::{FanMode, FanState, IntentSource, PreClean, PreCleanStatus, RestoreInfo},
    store::{Limit, Store},
};

use PreCleanStatus::{Active, Cancelled, Completed, Replaced};

fn numbers(pre_cleans: &[PreClean]) -> Vec<u128> {
    pre_cleans
        .iter()
        .map(|p| p.pre_clean_id.as_uuid().as_u128() & 0xffff)
        .collect()
}

/// `insert_pre_clean` stores a new pre-clean, and `get_pre_clean` reads it back equal: every mode,
/// restore info with each intent source or none, `replacedBy`, instants to the millisecond.
pub async fn insert_pre_clean_then_get_pre_clean_reads_it_back_equal(store: &dyn Store) {
    let active = pre_clean(1, "dev-1", 1_234, 900, Active);
    let speed_mode = PreClean {
        mode: FanMode::Speed(speed(2)),
        target: FanMode::Speed(speed(2)).target(),
        replaced_by: Some(pre_clean_id(3)),
        ..pre_clean(2, "dev-2", 5_678, 60, Replaced)
    };
    let off_unmanaged = PreClean {
        mode: FanMode::Off,
        target: FanState::OFF,
        restore: Some(RestoreInfo {
            target: None,
            source: None,
            command_id: None,
            at: at(9_999),
        }),
        command_id: None,
        ..pre_clean(3, "dev-2", 3_003, 1, Cancelled)
    };
    let auto_reported = PreClean {
        mode: FanMode::Auto,
        target: FanMode::Auto.target(),
        restore: Some(RestoreInfo {
            target: Some(FanState::at_speed(speed(1))),
            source: Some(IntentSource::Reported),
            command_id: None,
            at: at(7_007),
        }),
        ..pre_clean(4, "dev-3", 1_001, 3_600, Completed)
    };
    let full_blast = PreClean {
        mode: FanMode::PreClean,
        target: FanMode::PreClean.target(),
        ..pre_clean(5, "dev-4", 2_002, 120, Active)
    };
    let all = [active, speed_mode, off_unmanaged, auto_reported, full_blast];
    for p in &all {
        store.insert_pre_clean(p).await.expect("insert_pre_clean");
    }
    for p in all {
        let got = store
            .get_pre_clean(p.pre_clean_id)
            .await
            .expect("get_pre_clean");
        assert_eq!(got, Some(p));
    }
}

/// `insert_pre_clean` with an id already stored is `Conflict`, and the stored one is unchanged.
pub async fn insert_pre_clean_with_a_known_id_is_conflict(store: &dyn Store) {
    let original = pre_clean(1, "dev-1", 0, 900, Completed);
    store
        .insert_pre_clean(&original)
        .await
        .expect("insert_pre_clean");
    let same_id = pre_clean(1, "dev-2", 1_000, 60, Cancelled);
    assert_conflict(
        store.insert_pre_clean(&same_id).await,
        "insert_pre_clean of a known id",
    );
    let got = store
        .get_pre_clean(original.pre_clean_id)
        .await
        .expect("get_pre_clean");
    assert_eq!(got, Some(original));
}

/// A second `active` pre-clean for a device that has one is `Conflict` on insert (and is not
/// stored); finished ones alongside, and an active one on another device, are fine; once the
/// first is finished a new active one is fine.
pub async fn second_active_pre_clean_for_a_device_is_conflict(store: &dyn Store) {
    let first = pre_clean(1, "dev-1", 0, 900, Active);
    store
        .insert_pre_clean(&first)
        .await
        .expect("insert_pre_clean");

    let second = pre_clean(2, "dev-1", MIN, 900, Active);
    assert_conflict(
        store.insert_pre_clean(&second).await,
        "second active pre-clean",
    );
    assert_eq!(
        store
            .get_pre_clean(second.pre_clean_id)
            .await
            .expect("get_pre_clean"),
        None
    );

    for p in [
        pre_clean(3, "dev-1", 2 * MIN, 60, Completed),
        pre_clean(4, "dev-1", 3 * MIN, 60, Cancelled),
        pre_clean(5, "dev-1", 4 * MIN, 60, Replaced),
        pre_clean(6, "dev-2", 0, 900, Active),
    ] {
        store.insert_pre_clean(&p).await.expect("insert_pre_clean");
    }

    let finished = PreClean {
        status: Completed,
        ended_at: Some(first.ends_at),
        ..first.clone()
    };
    store
        .update_pre_clean(&finished)
        .await
        .expect("update_pre_clean");
    store
        .insert_pre_clean(&second)
        .await
        .expect("active after the first finished");
    let active = store
        .active_pre_clean(&id("dev-1"))
        .await
        .expect("active_pre_clean");
    assert_eq!(active, Some(second));
}

/// `update_pre_clean` applies the one-active rule: making a finished pre-clean active while the
/// device has another active one is `Conflict` (and changes nothing); updating the active one
/// itself is fine.
pub async fn update_to_a_second_active_pre_clean_is_conflict(store: &dyn Store) {
    let active = pre_clean(1, "dev-1", 5 * MIN, 900, Active);
    let old = pre_clean(2, "dev-1", 0, 60, Cancelled);
    store
        .insert_pre_clean(&active)
        .await
        .expect("insert_pre_clean");
    store
        .insert_pre_clean(&old)
        .await
        .expect("insert_pre_clean");

    let revived = PreClean {
        status: Active,
        ended_at: None,
        restore: None,
        ..old.clone()
    };
    assert_conflict(
        store.update_pre_clean(&revived).await,
        "update to a second active",
    );
    assert_eq!(
        store
            .get_pre_clean(old.pre_clean_id)
            .await
            .expect("get_pre_clean"),
        Some(old)
    );

    let extended = PreClean {
        command_id: None,
        ..active
    };
    store
        .update_pre_clean(&extended)
        .await
        .expect("updating the active one itself");
    let got = store
        .active_pre_clean(&id("dev-1"))
        .await
        .expect("active_pre_clean");
    assert_eq!(got, Some(extended));
}

/// `update_pre_clean` replaces a stored pre-clean with the new one, every field included.
pub async fn update_pre_clean_replaces_it(store: &dyn Store) {
    let active = pre_clean(1, "dev-1", 0, 900, Active);
    store
        .insert_pre_clean(&active)
        .await
        .expect("insert_pre_clean");
    let replaced = PreClean {
        ended_at: Some(at(123_456)),
        replaced_by: Some(pre_clean_id(2)),
        ..pre_clean(1, "dev-1", 0, 900, Replaced)
    };
    store
        .update_pre_clean(&replaced)
        .await
        .expect("update_pre_clean");
    let got = store
        .get_pre_clean(active.pre_clean_id)
        .await
        .expect("get_pre_clean");
    assert_eq!(got, Some(replaced));
    assert_eq!(
        store
            .active_pre_clean(&id("dev-1"))
            .await
            .expect("active_pre_clean"),
        None
    );
}

/// `update_pre_clean` of an unknown id is `NotFound`, and creates nothing.
pub async fn update_missing_pre_clean_is_not_found(store: &dyn Store) {
    let missing = pre_clean(404, "dev-1", 0, 900, Completed);
    assert_not_found(
        store.update_pre_clean(&missing).await,
        "update_pre_clean of an unknown id",
    );
    let got = store
        .get_pre_clean(missing.pre_clean_id)
        .await
        .expect("get_pre_clean");
    assert_eq!(got, None);
}

/// `delete_pre_clean` removes it from every read (and frees the device for a new active one).
pub async fn delete_pre_clean_removes_it(store: &dyn Store) {
    let gone = pre_clean(1, "dev-1", 0, 900, Active);
    let kept = pre_clean(2, "dev-1", MIN, 60, Completed);
    store
        .insert_pre_clean(&gone)
        .await
        .expect("insert_pre_clean");
    store
        .insert_pre_clean(&kept)
        .await
        .expect("insert_pre_clean");

    store
        .delete_pre_clean(gone.pre_clean_id)
        .await
        .expect("delete_pre_clean");
    assert_eq!(
        store
            .get_pre_clean(gone.pre_clean_id)
            .await
            .expect("get_pre_clean"),
        None
    );
    assert_eq!(
        store
            .active_pre_clean(&id("dev-1"))
            .await
            .expect("active_pre_clean"),
        None
    );
    assert_eq!(
        store.active_pre_cleans().await.expect("active_pre_cleans"),
        Vec::new()
    );
    let history = store
        .pre_clean_history(&id("dev-1"), Limit::default())
        .await
        .expect("pre_clean_history");
    assert_eq!(history, vec![kept]);
    store
        .insert_pre_clean(&pre_clean(3, "dev-1", 2 * MIN, 60, Active))
        .await
        .expect("a new active one after the delete");
}

/// `delete_pre_clean` of an unknown id is `NotFound`.
pub async fn delete_missing_pre_clean_is_not_found(store: &dyn Store) {
    assert_not_found(
        store.delete_pre_clean(pre_clean_id(404)).await,
        "delete_pre_clean of an unknown id",
    );
}

/// `active_pre_clean` is the device's `active` pre-clean (not a finished one, not another
/// device's), `None` when it has none.
pub async fn active_pre_clean_is_the_devices_active_one(store: &dyn Store) {
    let mine = pre_clean(2, "dev-1", MIN, 900, Active);
    for p in [
        pre_clean(1, "dev-1", 0, 60, Completed),
        mine.clone(),
        pre_clean(3, "dev-1", 2 * MIN, 60, Cancelled),
        pre_clean(4, "dev-10", 0, 900, Active),
        pre_clean(5, "dev-2", 0, 60, Completed),
    ] {
        store.insert_pre_clean(&p).await.expect("insert_pre_clean");
    }
    let active = |d: &'static str| async move {
        store
            .active_pre_clean(&id(d))
            .await
            .expect("active_pre_clean")
    };
    assert_eq!(active("dev-1").await, Some(mine));
    assert_eq!(active("dev-2").await, None);
    assert_eq!(active("dev-3").await, None);
}

/// `active_pre_cleans` returns every `active` pre-clean, soonest `endsAt` first (not by start).
pub async fn active_pre_cleans_are_ordered_by_ends_at(store: &dyn Store) {
    for p in [
        pre_clean(1, "dev-1", 0, 900, Active),
        pre_clean(2, "dev-2", MIN, 300, Active),
        pre_clean(3, "dev-3", 30_000, 3_600, Active),
        pre_clean(4, "dev-4", 0, 60, Completed),
        pre_clean(5, "dev-1", 0, 60, Cancelled),
    ] {
        store.insert_pre_clean(&p).await.expect("insert_pre_clean");
    }
    let active = store.active_pre_cleans().await.expect("active_pre_cleans");
    assert_eq!(numbers(&active), [2, 1, 3]);
    assert_eq!(active[0], pre_clean(2, "dev-2", MIN, 300, Active));
}

/// `pre_clean_history` returns only the device's pre-cleans, of any status, newest `startedAt`
/// first (equal `startedAt`: greater id first), at most `limit`.
pub async fn pre_clean_history_is_newest_first_and_limited(store: &dyn Store) {
    for p in [
        pre_clean(1, "dev-1", 0, 60, Replaced),
        pre_clean(2, "dev-1", 10 * MIN, 60, Cancelled),
        pre_clean(3, "dev-1", 20 * MIN, 60, Completed),
        pre_clean(4, "dev-1", 20 * MIN, 120, Completed),
        pre_clean(5, "dev-1", 30 * MIN, 900, Active),
        pre_clean(6, "dev-10", 40 * MIN, 60, Completed),
    ] {
        store.insert_pre_clean(&p).await.expect("insert_pre_clean");
    }
    let history = async |device: &str, n: u32| {
        store
            .pre_clean_history(&id(device), Limit::new(n).expect("valid limit"))
            .await
            .expect("pre_clean_history")
    };
    let all = history("dev-1", 100).await;
    assert_eq!(numbers(&all), [5, 4, 3, 2, 1]);
    assert_eq!(all[4], pre_clean(1, "dev-1", 0, 60, Replaced));
    assert_eq!(numbers(&history("dev-1", 2).await), [5, 4]);
    assert_eq!(history("dev-2", 100).await, Vec::new());
}
