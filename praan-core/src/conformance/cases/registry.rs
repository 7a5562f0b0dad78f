//! [`DeviceRepo`](crate::store::DeviceRepo): the device registry.

use crate::{
    conformance::{
        checks::{assert_conflict, assert_not_found},
        fixtures::{at, command, control, device, device_of, id, label, reading, reported},
    },
    domain::{Device, DeviceStatus, Specifications},
    store::{DeviceFilter, ReadingQuery, Store},
};

/// `insert_device` stores a new device, and `get_device` reads it back equal, every field and
/// millisecond included (a full record and an auto-registered minimal one).
pub async fn insert_device_then_get_device_reads_it_back_equal(store: &dyn Store) {
    let full = device("AIR_PURIFIER_001");
    let minimal = Device::auto_registered(id("dev-2"), at(5_432));
    store.insert_device(&full).await.expect("insert_device");
    store.insert_device(&minimal).await.expect("insert_device");

    let got = store.get_device(&full.device_id).await.expect("get_device");
    assert_eq!(got, Some(full));
    let got = store
        .get_device(&minimal.device_id)
        .await
        .expect("get_device");
    assert_eq!(got, Some(minimal));
}

/// `insert_device` of an id already registered is `Conflict`, and the stored record is unchanged.
pub async fn insert_device_with_a_known_id_is_conflict(store: &dyn Store) {
    let original = device("dev-1");
    store.insert_device(&original).await.expect("insert_device");
    let again = Device {
        name: label("Another name"),
        ..device("dev-1")
    };

    assert_conflict(
        store.insert_device(&again).await,
        "insert_device of a known id",
    );
    let got = store
        .get_device(&original.device_id)
        .await
        .expect("get_device");
    assert_eq!(got, Some(original));
}

/// `ensure_device` stores the device only if its id is unknown, returns whether it did, and never
/// changes an existing record (whether it came from `ensure_device` or `insert_device`).
pub async fn ensure_device_registers_only_an_unknown_id(store: &dyn Store) {
    let first = Device::auto_registered(id("dev-1"), at(1_000));
    let later = Device::auto_registered(id("dev-1"), at(9_000));
    assert!(store.ensure_device(&first).await.expect("ensure_device"));
    assert!(!store.ensure_device(&later).await.expect("ensure_device"));
    let got = store
        .get_device(&first.device_id)
        .await
        .expect("get_device");
    assert_eq!(got, Some(first), "ensure_device must not overwrite");

    let registered = device("dev-2");
    store
        .insert_device(&registered)
        .await
        .expect("insert_device");
    let auto = Device::auto_registered(id("dev-2"), at(9_000));
    assert!(!store.ensure_device(&auto).await.expect("ensure_device"));
    let got = store
        .get_device(&registered.device_id)
        .await
        .expect("get_device");
    assert_eq!(got, Some(registered), "ensure_device must not overwrite");
}

/// `ensure_device` is race-free: of two concurrent calls for one unknown id, exactly one
/// registers, and the stored record is the one whose call returned `true`.
pub async fn concurrent_ensure_device_registers_exactly_once(store: &dyn Store) {
    for i in 0..20 {
        let a = Device::auto_registered(id(&format!("race-{i}")), at(1_000));
        let b = Device {
            name: label("the other one"),
            ..a.clone()
        };
        let (ra, rb) = if i % 2 == 0 {
            tokio::join!(store.ensure_device(&a), store.ensure_device(&b))
        } else {
            let (rb, ra) = tokio::join!(store.ensure_device(&b), store.ensure_device(&a));
            (ra, rb)
        };
        let (ra, rb) = (ra.expect("ensure_device"), rb.expect("ensure_device"));
        assert!(
            ra != rb,
            "iteration {i}: exactly one call registers, got {ra} and {rb}"
        );
        let winner = if ra { a.clone() } else { b };
        let got = store.get_device(&a.device_id).await.expect("get_device");
        assert_eq!(got, Some(winner), "iteration {i}");
    }
}

/// `update_device` replaces an existing record with the new one, every field included.
pub async fn update_device_replaces_the_record(store: &dyn Store) {
    let original = device("dev-1");
    store.insert_device(&original).await.expect("insert_device");
    let updated = Device {
        name: label("Bedroom"),
        device_type: label("air_purifier_pro"),
        location: None,
        specifications: Specifications::default(),
        status: DeviceStatus::Maintenance,
        auto_registered: true,
        updated_at: at(99_999),
        ..original.clone()
    };

    store.update_device(&updated).await.expect("update_device");
    let got = store
        .get_device(&original.device_id)
        .await
        .expect("get_device");
    assert_eq!(got, Some(updated));
}

/// `update_device` of an unknown id is `NotFound`, and creates nothing.
pub async fn update_missing_device_is_not_found(store: &dyn Store) {
    let missing = device("dev-404");
    assert_not_found(
        store.update_device(&missing).await,
        "update_device of an unknown id",
    );
    let got = store
        .get_device(&missing.device_id)
        .await
        .expect("get_device");
    assert_eq!(got, None);
}

/// `delete_device` removes the record, the device's observed state and its control state; its
/// readings and commands stay (until retention), and other devices are untouched.
pub async fn delete_device_removes_its_record_state_and_control_only(store: &dyn Store) {
    for name in ["dev-1", "dev-2"] {
        let d = id(name);
        store
            .insert_device(&device(name))
            .await
            .expect("insert_device");
        store
            .record_reported(&d, reported(3, 1_000))
            .await
            .expect("record_reported");
        store
            .append_readings(&[reading(name, 2_000, 12.5)])
            .await
            .expect("append_readings");
        store
            .put_control(&control(name, 3_000))
            .await
            .expect("put_control");
    }
    let kept_command = command(1, "dev-1", 4_000);
    store
        .insert_command(&kept_command)
        .await
        .expect("insert_command");

    let gone = id("dev-1");
    store.delete_device(&gone).await.expect("delete_device");

    assert_eq!(store.get_device(&gone).await.expect("get_device"), None);
    assert_eq!(store.device_state(&gone).await.expect("device_state"), None);
    assert_eq!(store.get_control(&gone).await.expect("get_control"), None);
    let page = store
        .readings(&gone, &ReadingQuery::default())
        .await
        .expect("readings");
    assert_eq!(
        page.items,
        vec![reading("dev-1", 2_000, 12.5)],
        "readings stay"
    );
    let got = store
        .get_command(kept_command.command_id)
        .await
        .expect("get_command");
    assert_eq!(got, Some(kept_command), "commands stay");

    let other = id("dev-2");
    assert_eq!(
        store.get_device(&other).await.expect("get_device"),
        Some(device("dev-2"))
    );
    let states = store.device_states().await.expect("device_states");
    let ids: Vec<_> = states.iter().map(|s| s.device_id.clone()).collect();
    assert_eq!(ids, vec![other.clone()]);
    let controls = store.control_states().await.expect("control_states");
    let ids: Vec<_> = controls.iter().map(|c| c.device_id.clone()).collect();
    assert_eq!(ids, vec![other]);
}

/// `delete_device` of an unknown id is `NotFound`.
pub async fn delete_missing_device_is_not_found(store: &dyn Store) {
    assert_not_found(
        store.delete_device(&id("dev-404")).await,
        "delete_device of an unknown id",
    );
}

/// `list_devices` returns the devices matching the status and type filters, ordered by id (byte
/// order: upper case before lower case), whatever the order of registration.
pub async fn list_devices_filters_by_status_and_type_ordered_by_id(store: &dyn Store) {
    let b2 = device_of("b-2", DeviceStatus::Active, "air_purifier");
    let a10 = device_of("a-10", DeviceStatus::Inactive, "air_purifier");
    let upper = device_of("A-1", DeviceStatus::Active, "sensor");
    let a9 = device_of("a-9", DeviceStatus::Active, "air_purifier");
    let c1 = device_of("c-1", DeviceStatus::Maintenance, "sensor");
    for d in [&b2, &a10, &upper, &a9, &c1] {
        store.insert_device(d).await.expect("insert_device");
    }

    let list = |status: Option<DeviceStatus>, device_type: Option<&str>| DeviceFilter {
        status,
        device_type: device_type.map(str::to_owned),
    };
    let all = store
        .list_devices(&list(None, None))
        .await
        .expect("list_devices");
    assert_eq!(
        all,
        vec![
            upper.clone(),
            a10.clone(),
            a9.clone(),
            b2.clone(),
            c1.clone()
        ]
    );
    let active = store
        .list_devices(&list(Some(DeviceStatus::Active), None))
        .await
        .expect("list_devices");
    assert_eq!(active, vec![upper.clone(), a9.clone(), b2.clone()]);
    let sensors = store
        .list_devices(&list(None, Some("sensor")))
        .await
        .expect("list_devices");
    assert_eq!(sensors, vec![upper.clone(), c1.clone()]);
    let active_purifiers = store
        .list_devices(&list(Some(DeviceStatus::Active), Some("air_purifier")))
        .await
        .expect("list_devices");
    assert_eq!(active_purifiers, vec![a9, b2]);
    let none = store
        .list_devices(&list(Some(DeviceStatus::Inactive), Some("sensor")))
        .await
        .expect("list_devices");
    assert_eq!(none, Vec::<Device>::new());
    let prefix_only = store
        .list_devices(&list(None, Some("air")))
        .await
        .expect("list_devices");
    assert_eq!(
        prefix_only,
        Vec::<Device>::new(),
        "the type filter is an exact match"
    );
}
