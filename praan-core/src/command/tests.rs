//! The delivery machine, state by event, in simulated milliseconds.

use super::*;
use crate::domain::{CommandSource, FanSpeed, FanState, Instruction};

const T0: i64 = 1_766_829_600_000;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + ms).unwrap()
}

fn device(n: u8) -> DeviceId {
    DeviceId::new(&format!("d{n}")).unwrap()
}

fn command(dev: u8, created: i64) -> Command {
    Command::new(
        CommandId::generate(at(created)),
        device(dev),
        Instruction::set_fan_speed(FanSpeed::new(3).unwrap()),
        CommandSource::Manual,
        at(created),
    )
}

fn ack(cmd: &Command, status: AckStatus, ms: i64) -> Ack {
    Ack {
        device_id: cmd.device_id.clone(),
        command_id: cmd.command_id,
        status,
        message: Some(format!("{status:?}")),
        timestamp: at(ms),
        received_at: at(ms),
        current_state: Some(FanState::at_speed(FanSpeed::new(3).unwrap())),
    }
}

fn machine(max_retries: u32) -> Deliveries {
    Deliveries::new(DeliveryConfig {
        ack_timeout: Duration::from_secs(30),
        max_retries,
    })
}

fn drain(m: &mut Deliveries) -> Vec<DeliveryEffect> {
    std::iter::from_fn(|| m.poll_effect()).collect()
}

/// Short names of effects, for readable expectations.
fn names(effects: &[DeliveryEffect]) -> Vec<String> {
    effects
        .iter()
        .map(|e| match e {
            DeliveryEffect::Insert(c) => format!("insert {}", c.status),
            DeliveryEffect::Update(c) => format!("update {}", c.status),
            DeliveryEffect::Publish(c) => format!("publish #{}", c.attempts.len() + 1),
            DeliveryEffect::Finished(c) => format!("finished {}", c.status),
        })
        .collect()
}

/// Submits and publishes successfully; returns the command as stored after the first publish.
fn sent(m: &mut Deliveries, cmd: Command, now: i64) -> Command {
    m.submit(at(now), cmd.clone());
    assert_eq!(names(&drain(m)), ["insert pending", "publish #1"]);
    m.handle_published(at(now), cmd.command_id, Ok(()));
    let eff = drain(m);
    assert_eq!(names(&eff), ["update sent"]);
    match eff.into_iter().next() {
        Some(DeliveryEffect::Update(c)) => c,
        other => panic!("{other:?}"),
    }
}

#[test]
fn stored_before_published_then_sent_with_a_deadline() {
    let mut m = machine(3);
    let c = sent(&mut m, command(1, 0), 0);
    assert_eq!(c.status, CommandStatus::Sent);
    assert_eq!(c.sent_at, Some(at(0)));
    assert_eq!(
        c.attempts,
        [Attempt {
            number: 1,
            at: at(0),
            error: None
        }]
    );
    assert_eq!(c.next_deadline, Some(at(30_000)));
    assert_eq!(m.poll_timeout(), Some(at(30_000)));
}

#[test]
fn silence_retries_max_retries_times_then_times_out() {
    let mut m = machine(3);
    let c = sent(&mut m, command(1, 0), 0);
    let mut publishes = 1;
    let mut now = 0;
    loop {
        now += 30_000;
        m.handle_timeout(at(now - 1));
        assert!(drain(&mut m).is_empty(), "nothing before the deadline");
        m.handle_timeout(at(now));
        let eff = drain(&mut m);
        if publishes == 4 {
            assert_eq!(names(&eff), ["update timeout", "finished timeout"]);
            let DeliveryEffect::Update(done) = &eff[0] else {
                panic!()
            };
            assert_eq!(done.attempts.len(), 4);
            assert_eq!(done.completed_at, Some(at(now)));
            assert_eq!(done.error.as_deref(), Some("no ack after 4 attempts"));
            break;
        }
        assert_eq!(names(&eff), [format!("publish #{}", publishes + 1)]);
        let DeliveryEffect::Publish(p) = &eff[0] else {
            panic!()
        };
        assert_eq!(p.command_id, c.command_id, "a retry is the same command");
        m.handle_published(at(now), c.command_id, Ok(()));
        drain(&mut m);
        publishes += 1;
    }
    assert!(m.is_empty());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn zero_retries_means_one_publish() {
    let mut m = machine(0);
    sent(&mut m, command(1, 0), 0);
    m.handle_timeout(at(30_000));
    assert_eq!(
        names(&drain(&mut m)),
        ["update timeout", "finished timeout"]
    );
}

#[test]
fn ack_success_and_error() {
    for (status, want) in [
        (AckStatus::Success, CommandStatus::Acknowledged),
        (AckStatus::Error, CommandStatus::Failed),
    ] {
        let mut m = machine(3);
        let c = sent(&mut m, command(1, 0), 0);
        let outcome = m.handle_ack(at(120), &ack(&c, status, 120));
        let AckOutcome::Decided(done) = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(done.status, want);
        assert_eq!(done.acknowledged_at, Some(at(120)));
        assert_eq!(
            done.device_response.as_ref().map(|a| a.status),
            Some(status)
        );
        assert_eq!(
            names(&drain(&mut m)),
            [format!("update {want}"), format!("finished {want}")]
        );
        assert_eq!(m.poll_timeout(), None, "no retry after an ack");
        m.handle_timeout(at(1_000_000));
        assert!(drain(&mut m).is_empty());
    }
}

#[test]
fn duplicate_and_late_acks() {
    let mut m = machine(3);
    let c = sent(&mut m, command(1, 0), 0);
    let first = ack(&c, AckStatus::Success, 100);
    let AckOutcome::Decided(done) = m.handle_ack(at(100), &first) else {
        panic!()
    };
    drain(&mut m);
    // A redelivery of the deciding ack: not in flight, and a no-op on the stored command.
    assert_eq!(m.handle_ack(at(200), &first), AckOutcome::NotInFlight);
    assert_eq!(record_late_ack(*done.clone(), &first), LateAck::Duplicate);
    // A different ack after the terminal status: recorded, status unchanged.
    let late = ack(&c, AckStatus::Error, 5_000);
    let LateAck::Record(with_late) = record_late_ack(*done.clone(), &late) else {
        panic!()
    };
    assert_eq!(with_late.status, CommandStatus::Acknowledged);
    assert_eq!(with_late.late_ack.as_ref(), Some(&late));
    assert_eq!(record_late_ack(*with_late, &late), LateAck::Duplicate);
    // From another device: spoofed.
    let mut spoof = late.clone();
    spoof.device_id = device(9);
    assert_eq!(record_late_ack(*done, &spoof), LateAck::WrongDevice);
}

#[test]
fn ack_for_timed_out_command_is_late() {
    let mut m = machine(0);
    let c = sent(&mut m, command(1, 0), 0);
    m.handle_timeout(at(30_000));
    let eff = drain(&mut m);
    let DeliveryEffect::Update(done) = &eff[0] else {
        panic!()
    };
    let late = ack(&c, AckStatus::Success, 31_000);
    assert_eq!(m.handle_ack(at(31_000), &late), AckOutcome::NotInFlight);
    let LateAck::Record(rec) = record_late_ack(done.clone(), &late) else {
        panic!()
    };
    assert_eq!(
        rec.status,
        CommandStatus::Timeout,
        "a late ack never changes the status"
    );
}

#[test]
fn unknown_and_spoofed_acks_change_nothing() {
    let mut m = machine(3);
    let c = sent(&mut m, command(1, 0), 0);
    let other = command(1, 5);
    assert_eq!(
        m.handle_ack(at(10), &ack(&other, AckStatus::Success, 10)),
        AckOutcome::NotInFlight
    );
    let mut spoof = ack(&c, AckStatus::Success, 10);
    spoof.device_id = device(2);
    assert_eq!(m.handle_ack(at(10), &spoof), AckOutcome::WrongDevice);
    assert!(drain(&mut m).is_empty());
    assert_eq!(
        m.get(c.command_id).map(|c| c.status),
        Some(CommandStatus::Sent)
    );
}

#[test]
fn newer_command_supersedes_and_stops_the_older_retries() {
    let mut m = machine(3);
    let old = sent(&mut m, command(1, 0), 0);
    let other_device = sent(&mut m, command(2, 1), 1);
    let new = command(1, 10_000);
    m.submit(at(10_000), new.clone());
    let eff = drain(&mut m);
    assert_eq!(
        names(&eff),
        [
            "update superseded",
            "finished superseded",
            "insert pending",
            "publish #1"
        ]
    );
    let DeliveryEffect::Update(sup) = &eff[0] else {
        panic!()
    };
    assert_eq!(sup.command_id, old.command_id);
    assert_eq!(sup.superseded_by, Some(new.command_id));
    assert_eq!(m.len(), 2, "the other device's command is untouched");
    assert_eq!(
        m.in_flight_for(&device(1)).map(|c| c.command_id),
        Some(new.command_id)
    );
    assert_eq!(
        m.in_flight_for(&device(2)).map(|c| c.command_id),
        Some(other_device.command_id)
    );
    // The old command's deadline no longer fires.
    m.handle_published(at(10_000), new.command_id, Ok(()));
    drain(&mut m);
    m.handle_timeout(at(30_000));
    let eff = drain(&mut m);
    assert!(
        eff.iter()
            .all(|e| !matches!(e, DeliveryEffect::Publish(c) if c.command_id == old.command_id))
    );
    // The in-flight retry of the old command racing the new one: its publish report is ignored.
    m.handle_published(at(30_001), old.command_id, Ok(()));
    assert!(drain(&mut m).is_empty());
}

#[test]
fn expiry_before_send_and_while_waiting() {
    let mut m = machine(3);
    let mut c = command(1, 0);
    c.expires_at = Some(at(0));
    m.submit(at(0), c);
    assert_eq!(
        names(&drain(&mut m)),
        ["insert expired", "finished expired"]
    );

    let mut c = command(1, 0);
    c.expires_at = Some(at(45_000));
    let c = sent(&mut m, c, 0);
    assert_eq!(c.next_deadline, Some(at(30_000)));
    m.handle_timeout(at(30_000));
    assert_eq!(names(&drain(&mut m)), ["publish #2"]);
    m.handle_published(at(30_000), c.command_id, Ok(()));
    let eff = drain(&mut m);
    let DeliveryEffect::Update(u) = &eff[0] else {
        panic!()
    };
    assert_eq!(
        u.next_deadline,
        Some(at(45_000)),
        "the wait is cut at expiresAt"
    );
    m.handle_timeout(at(45_000));
    assert_eq!(
        names(&drain(&mut m)),
        ["update expired", "finished expired"]
    );
}

#[test]
fn failed_publishes_are_retried_then_fail() {
    let mut m = machine(1);
    let c = command(1, 0);
    m.submit(at(0), c.clone());
    drain(&mut m);
    m.handle_published(at(0), c.command_id, Err("not connected".into()));
    let eff = drain(&mut m);
    let DeliveryEffect::Update(u) = &eff[0] else {
        panic!()
    };
    assert_eq!(
        u.status,
        CommandStatus::Pending,
        "never published: still pending"
    );
    assert_eq!(u.attempts[0].error.as_deref(), Some("not connected"));
    m.handle_timeout(at(30_000));
    assert_eq!(names(&drain(&mut m)), ["publish #2"]);
    m.handle_published(at(30_000), c.command_id, Err("not connected".into()));
    drain(&mut m);
    m.handle_timeout(at(60_000));
    let eff = drain(&mut m);
    assert_eq!(names(&eff), ["update failed", "finished failed"]);
    let DeliveryEffect::Update(f) = &eff[0] else {
        panic!()
    };
    assert_eq!(
        f.error.as_deref(),
        Some("publishing failed after 2 attempts: not connected")
    );
}

#[test]
fn cancel_only_in_flight() {
    let mut m = machine(3);
    let c = sent(&mut m, command(1, 0), 0);
    let done = m
        .cancel(at(5), c.command_id, "cancelled through the API")
        .unwrap();
    assert_eq!(done.status, CommandStatus::Cancelled);
    assert_eq!(done.error.as_deref(), Some("cancelled through the API"));
    assert_eq!(
        names(&drain(&mut m)),
        ["update cancelled", "finished cancelled"]
    );
    assert!(m.cancel(at(6), c.command_id, "again").is_none());
    assert_eq!(m.poll_timeout(), None);
}

#[test]
fn recover_rearms_from_stored_deadlines() {
    let mut m = machine(3);
    let c = sent(&mut m, command(1, 0), 0);
    let never_published = command(2, 0);
    let mut older = command(3, 0);
    older.status = CommandStatus::Sent;
    older.next_deadline = Some(at(10_000));
    let newer = {
        let mut n = command(3, 5);
        n.status = CommandStatus::Sent;
        n.attempts.push(Attempt {
            number: 1,
            at: at(5),
            error: None,
        });
        n.next_deadline = Some(at(20_000));
        n
    };
    let mut done = command(4, 0);
    done.status = CommandStatus::Acknowledged;

    let mut r = machine(3);
    r.recover(
        at(40_000),
        vec![
            newer.clone(),
            c.clone(),
            never_published.clone(),
            older.clone(),
            done,
        ],
    );
    let eff = drain(&mut r);
    assert_eq!(
        names(&eff),
        ["update superseded", "finished superseded", "publish #1"],
        "stale commands are superseded before anything is published"
    );
    assert_eq!(r.len(), 3);
    assert_eq!(r.poll_timeout(), Some(at(20_000)));
    // Deadlines that passed while down fire at once: retries of the sent ones.
    r.handle_timeout(at(40_000));
    let eff = drain(&mut r);
    assert_eq!(names(&eff), ["publish #2", "publish #2"]);
}

#[test]
fn handle_timeout_is_idempotent() {
    let mut m = machine(3);
    sent(&mut m, command(1, 0), 0);
    m.handle_timeout(at(30_000));
    assert_eq!(drain(&mut m).len(), 1);
    m.handle_timeout(at(30_000));
    m.handle_timeout(at(29_000));
    assert!(drain(&mut m).is_empty());
}
