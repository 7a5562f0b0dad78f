//! The rules common to every repository (see [`crate::store`]).

use crate::{
    conformance::fixtures::{at, command_id, id, key, pre_clean_id, schedule_id},
    store::{CommandFilter, Limit, ReadingQuery, StatsQuery, Store},
};

/// Reads of records that do not exist return `None` or an empty list, never `NotFound`: on an
/// empty store, every read of every repository.
pub async fn reads_of_missing_records_are_none_or_empty(store: &dyn Store) {
    let d = id("dev-404");
    assert_eq!(store.get_device(&d).await.expect("get_device"), None);
    let devices = store
        .list_devices(&Default::default())
        .await
        .expect("list_devices");
    assert_eq!(devices, Vec::new());

    assert_eq!(store.device_state(&d).await.expect("device_state"), None);
    assert_eq!(
        store.device_states().await.expect("device_states"),
        Vec::new()
    );

    let page = store
        .readings(&d, &ReadingQuery::default())
        .await
        .expect("readings");
    assert_eq!((page.items, page.next_cursor), (Vec::new(), None));
    assert_eq!(
        store.latest_reading(&d).await.expect("latest_reading"),
        None
    );
    let query = StatsQuery {
        start: at(0),
        end: at(1_000),
        bucket: None,
    };
    let stats = store.statistics(&d, &query).await.expect("statistics");
    assert_eq!(stats.count, 0);

    assert_eq!(
        store
            .get_command(command_id(404))
            .await
            .expect("get_command"),
        None
    );
    let commands = store
        .commands_for_device(&d, &CommandFilter::default())
        .await
        .expect("commands_for_device");
    assert_eq!(commands, Vec::new());
    assert_eq!(
        store
            .unfinished_commands()
            .await
            .expect("unfinished_commands"),
        Vec::new()
    );
    let by_key = store
        .command_by_idempotency_key(&d, &key("req-404"))
        .await
        .expect("command_by_idempotency_key");
    assert_eq!(by_key, None);

    assert_eq!(
        store
            .get_schedule(schedule_id(404))
            .await
            .expect("get_schedule"),
        None
    );
    let schedules = store
        .schedules_for_device(&d)
        .await
        .expect("schedules_for_device");
    assert_eq!(schedules, Vec::new());
    assert_eq!(
        store.active_schedules().await.expect("active_schedules"),
        Vec::new()
    );
    let runs = store
        .runs_for_schedule(schedule_id(404), Limit::default())
        .await
        .expect("runs_for_schedule");
    assert_eq!(runs, Vec::new());

    assert_eq!(
        store
            .get_pre_clean(pre_clean_id(404))
            .await
            .expect("get_pre_clean"),
        None
    );
    assert_eq!(
        store.active_pre_clean(&d).await.expect("active_pre_clean"),
        None
    );
    assert_eq!(
        store.active_pre_cleans().await.expect("active_pre_cleans"),
        Vec::new()
    );
    let history = store
        .pre_clean_history(&d, Limit::default())
        .await
        .expect("pre_clean_history");
    assert_eq!(history, Vec::new());

    assert_eq!(store.get_control(&d).await.expect("get_control"), None);
    assert_eq!(
        store.control_states().await.expect("control_states"),
        Vec::new()
    );
}
