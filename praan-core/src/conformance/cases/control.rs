//! [`ControlRepo`](crate::store::ControlRepo): the control layers' persisted intent per device.

use crate::{
    conformance::fixtures::{at, command_id, control, id, schedule_id, speed},
    domain::{ControlState, FanState, Intent, IntentSource},
    store::Store,
};

/// `put_control` inserts a device's control state and `get_control` reads it back equal, for
/// every intent source and for an unmanaged device with nothing set.
pub async fn put_control_then_get_control_reads_it_back_equal(store: &dyn Store) {
    let scheduled = control("dev-1", 10_001);
    let manual = ControlState {
        base: Some(Intent {
            state: FanState::at_speed(speed(4)),
            source: IntentSource::Manual {
                command_id: command_id(9),
            },
            since: at(5_005),
        }),
        applied_windows: Vec::new(),
        active_pre_clean: None,
        effective: Some(Intent {
            state: FanState::OFF,
            source: IntentSource::ScheduleEnded {
                schedule_id: schedule_id(8),
            },
            since: at(6_006),
        }),
        ..control("dev-2", 7_007)
    };
    let reported = ControlState {
        base: Some(Intent {
            state: FanState::at_speed(speed(1)),
            source: IntentSource::Reported,
            since: at(8_008),
        }),
        ..control("dev-3", 9_009)
    };
    let unmanaged = ControlState::new(id("dev-4"), at(123));
    let all = [scheduled, manual, reported, unmanaged];
    for c in &all {
        store.put_control(c).await.expect("put_control");
    }
    for c in all {
        assert_eq!(
            store.get_control(&c.device_id).await.expect("get_control"),
            Some(c)
        );
    }
}

/// `put_control` of a device that has a control state replaces it entirely (fields set before and
/// absent now read back absent).
pub async fn put_control_replaces_the_stored_state(store: &dyn Store) {
    let full = control("dev-1", 10_000);
    store.put_control(&full).await.expect("put_control");
    let cleared = ControlState::new(id("dev-1"), at(20_000));
    store.put_control(&cleared).await.expect("put_control");
    assert_eq!(
        store.get_control(&id("dev-1")).await.expect("get_control"),
        Some(cleared)
    );
    let again = control("dev-1", 30_000);
    store.put_control(&again).await.expect("put_control");
    assert_eq!(
        store.get_control(&id("dev-1")).await.expect("get_control"),
        Some(again.clone())
    );
    assert_eq!(
        store.control_states().await.expect("control_states"),
        vec![again]
    );
}

/// `control_states` returns every control state, ordered by device id whatever the order of
/// writing.
pub async fn control_states_are_ordered_by_device_id(store: &dyn Store) {
    for (name, ms) in [
        ("dev-3", 3_000),
        ("Dev-9", 9_000),
        ("dev-1", 1_000),
        ("dev-10", 10_000),
    ] {
        store
            .put_control(&control(name, ms))
            .await
            .expect("put_control");
    }
    let states = store.control_states().await.expect("control_states");
    let expected = [
        ("Dev-9", 9_000),
        ("dev-1", 1_000),
        ("dev-10", 10_000),
        ("dev-3", 3_000),
    ]
    .map(|(name, ms)| control(name, ms));
    assert_eq!(states, expected);
}
