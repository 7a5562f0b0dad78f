//! [`CommandRepo`](crate::store::CommandRepo): durable commands (the outbox).

use crate::{
    conformance::{
        checks::{assert_conflict, assert_not_found},
        fixtures::{at, command, command_in, command_keyed, full_command, id, key},
    },
    domain::{Attempt, Command, CommandStatus, Instruction},
    store::{CommandFilter, Limit, Store},
};

fn ids(commands: &[Command]) -> Vec<u128> {
    commands
        .iter()
        .map(|c| c.command_id.as_uuid().as_u128() & 0xffff)
        .collect()
}

fn filter(status: Option<CommandStatus>, limit: u32) -> CommandFilter {
    CommandFilter {
        status,
        limit: Limit::new(limit).expect("valid limit"),
    }
}

/// `insert_command` stores a new command, and `get_command` reads it back equal: attempts,
/// deadlines, acks, idempotency key and every instant to the millisecond (a full command and a
/// fresh pending one).
pub async fn insert_command_then_get_command_reads_it_back_equal(store: &dyn Store) {
    let full = full_command(1, "dev-1");
    let fresh = command(3, "dev-1", 2_345);
    store.insert_command(&full).await.expect("insert_command");
    store.insert_command(&fresh).await.expect("insert_command");

    assert_eq!(
        store
            .get_command(full.command_id)
            .await
            .expect("get_command"),
        Some(full)
    );
    assert_eq!(
        store
            .get_command(fresh.command_id)
            .await
            .expect("get_command"),
        Some(fresh)
    );
}

/// `insert_command` with an id already stored is `Conflict`, and the stored command is unchanged.
pub async fn insert_command_with_a_known_id_is_conflict(store: &dyn Store) {
    let original = command(1, "dev-1", 1_000);
    store
        .insert_command(&original)
        .await
        .expect("insert_command");
    let same_id = Command {
        instruction: Instruction::turn_off(),
        ..command(1, "dev-2", 2_000)
    };
    assert_conflict(
        store.insert_command(&same_id).await,
        "insert_command of a known id",
    );
    let got = store
        .get_command(original.command_id)
        .await
        .expect("get_command");
    assert_eq!(got, Some(original));
}

/// `insert_command` with an idempotency key already used by another command of the same device is
/// `Conflict` (and stores nothing); the same key on another device, and commands without a key,
/// are fine.
pub async fn idempotency_key_is_unique_per_device(store: &dyn Store) {
    let first = command_keyed(1, "dev-1", 1_000, "req-1");
    store.insert_command(&first).await.expect("insert_command");

    let clash = command_keyed(2, "dev-1", 2_000, "req-1");
    assert_conflict(store.insert_command(&clash).await, "same key, same device");
    assert_eq!(
        store
            .get_command(clash.command_id)
            .await
            .expect("get_command"),
        None
    );

    let other_device = command_keyed(3, "dev-2", 3_000, "req-1");
    store
        .insert_command(&other_device)
        .await
        .expect("same key, other device");
    let other_key = command_keyed(4, "dev-1", 4_000, "req-2");
    store
        .insert_command(&other_key)
        .await
        .expect("other key, same device");
    store
        .insert_command(&command(5, "dev-1", 5_000))
        .await
        .expect("no key");
    store
        .insert_command(&command(6, "dev-1", 6_000))
        .await
        .expect("no key");

    let listed = store
        .commands_for_device(&id("dev-1"), &CommandFilter::default())
        .await
        .expect("commands_for_device");
    assert_eq!(ids(&listed), [6, 5, 4, 1]);
}

/// `update_command` replaces a stored command: status, attempts, deadlines, ack and every other
/// field read back as written.
pub async fn update_command_replaces_it(store: &dyn Store) {
    let pending = command_keyed(1, "dev-1", 1_000, "req-1");
    store
        .insert_command(&pending)
        .await
        .expect("insert_command");

    let sent = Command {
        status: CommandStatus::Sent,
        sent_at: Some(at(1_017)),
        attempts: vec![Attempt {
            number: 1,
            at: at(1_017),
            error: None,
        }],
        next_deadline: Some(at(6_017)),
        ..pending.clone()
    };
    store.update_command(&sent).await.expect("update_command");
    assert_eq!(
        store
            .get_command(sent.command_id)
            .await
            .expect("get_command"),
        Some(sent)
    );

    let done = Command {
        next_deadline: None,
        ..full_command(1, "dev-1")
    };
    store.update_command(&done).await.expect("update_command");
    assert_eq!(
        store
            .get_command(done.command_id)
            .await
            .expect("get_command"),
        Some(done.clone())
    );
    let by_key = store
        .command_by_idempotency_key(&id("dev-1"), done.idempotency_key.as_ref().expect("a key"))
        .await
        .expect("command_by_idempotency_key");
    assert_eq!(by_key, Some(done));
}

/// `update_command` of an unknown id is `NotFound`, and creates nothing.
pub async fn update_missing_command_is_not_found(store: &dyn Store) {
    let missing = command(404, "dev-1", 1_000);
    assert_not_found(
        store.update_command(&missing).await,
        "update_command of an unknown id",
    );
    assert_eq!(
        store
            .get_command(missing.command_id)
            .await
            .expect("get_command"),
        None
    );
}

/// `commands_for_device` returns only the device's commands, optionally of one status, newest
/// `createdAt` first (equal `createdAt`: greater id first), at most `limit`.
pub async fn commands_for_device_are_newest_first_filtered_and_limited(store: &dyn Store) {
    let rows = [
        (1, "dev-1", 0, CommandStatus::Pending),
        (2, "dev-1", 1_000, CommandStatus::Sent),
        (4, "dev-1", 2_000, CommandStatus::Acknowledged),
        (3, "dev-1", 2_000, CommandStatus::Acknowledged),
        (5, "dev-1", 3_000, CommandStatus::Failed),
        (6, "dev-10", 5_000, CommandStatus::Acknowledged),
        (7, "dev-2", 4_000, CommandStatus::Pending),
    ];
    for (n, device, created, status) in rows {
        let c = command_in(n, device, created, status);
        store.insert_command(&c).await.expect("insert_command");
    }
    let d = id("dev-1");
    let list = async |status, limit| {
        store
            .commands_for_device(&d, &filter(status, limit))
            .await
            .expect("commands_for_device")
    };

    let all = list(None, 100).await;
    assert_eq!(ids(&all), [5, 4, 3, 2, 1]);
    assert_eq!(all[0], command_in(5, "dev-1", 3_000, CommandStatus::Failed));
    assert_eq!(
        ids(&list(Some(CommandStatus::Acknowledged), 100).await),
        [4, 3]
    );
    assert_eq!(ids(&list(None, 2).await), [5, 4]);
    assert_eq!(ids(&list(Some(CommandStatus::Acknowledged), 1).await), [4]);
    assert_eq!(ids(&list(Some(CommandStatus::Pending), 1).await), [1]);
    assert_eq!(
        ids(&list(Some(CommandStatus::Cancelled), 100).await),
        Vec::<u128>::new()
    );
    let unknown = store
        .commands_for_device(&id("dev-404"), &CommandFilter::default())
        .await
        .expect("commands_for_device");
    assert_eq!(unknown, Vec::new());
}

/// `unfinished_commands` returns every command whose status is not terminal (pending or sent), of
/// every device, oldest `createdAt` first; a command leaves it once updated to a terminal status.
pub async fn unfinished_commands_are_pending_or_sent_oldest_first(store: &dyn Store) {
    let rows = [
        (1, "dev-1", 3_000, CommandStatus::Pending),
        (2, "dev-2", 1_000, CommandStatus::Sent),
        (3, "dev-1", 0, CommandStatus::Acknowledged),
        (4, "dev-3", 2_000, CommandStatus::Pending),
        (5, "dev-1", 500, CommandStatus::Failed),
        (6, "dev-1", 600, CommandStatus::Timeout),
        (7, "dev-1", 700, CommandStatus::Expired),
        (8, "dev-1", 800, CommandStatus::Superseded),
        (9, "dev-1", 900, CommandStatus::Cancelled),
        (10, "dev-4", 4_000, CommandStatus::Sent),
    ];
    for (n, device, created, status) in rows {
        let c = command_in(n, device, created, status);
        store.insert_command(&c).await.expect("insert_command");
    }

    let unfinished = store
        .unfinished_commands()
        .await
        .expect("unfinished_commands");
    assert_eq!(ids(&unfinished), [2, 4, 1, 10]);
    assert_eq!(
        unfinished[0],
        command_in(2, "dev-2", 1_000, CommandStatus::Sent)
    );

    let acked = Command {
        acknowledged_at: Some(at(1_500)),
        completed_at: Some(at(1_500)),
        ..command_in(2, "dev-2", 1_000, CommandStatus::Acknowledged)
    };
    store.update_command(&acked).await.expect("update_command");
    let unfinished = store
        .unfinished_commands()
        .await
        .expect("unfinished_commands");
    assert_eq!(ids(&unfinished), [4, 1, 10]);
}

/// `command_by_idempotency_key` finds the device's command carrying the key, and nothing for an
/// unknown key or for the same key asked of another device.
pub async fn command_by_idempotency_key_finds_only_that_devices_command(store: &dyn Store) {
    let one = command_keyed(1, "dev-1", 1_000, "req-1");
    let two = command_keyed(2, "dev-2", 2_000, "req-1");
    let other = command_keyed(3, "dev-1", 3_000, "req-10");
    for c in [&one, &two, &other] {
        store.insert_command(c).await.expect("insert_command");
    }
    let find = async |device: &str, k: &str| {
        store
            .command_by_idempotency_key(&id(device), &key(k))
            .await
            .expect("command_by_idempotency_key")
    };
    assert_eq!(find("dev-1", "req-1").await, Some(one));
    assert_eq!(find("dev-2", "req-1").await, Some(two));
    assert_eq!(find("dev-1", "req-10").await, Some(other));
    assert_eq!(find("dev-3", "req-1").await, None);
    assert_eq!(find("dev-1", "req-2").await, None);
    assert_eq!(find("dev-2", "req-10").await, None);
}
