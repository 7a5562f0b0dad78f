//! The device model, pure and with explicit time: purification, drift within the wire ranges,
//! readings that praan's codec accepts, command handling with de-duplication, and the
//! seed-compat quirks.

#![allow(
    clippy::unwrap_used,
    reason = "test helpers: a failed unwrap is a failed test"
)]

use std::time::Duration;

use praan_core::{
    codec::{Codec, DeviceMessage},
    domain::{AckStatus, CommandId, DeviceId, FanSpeed, FanState, Metric, Reading, Timestamp},
};
use praan_simulator::{
    DeviceModel, DeviceSpec, Mode,
    command::{RECENT_COMMANDS, Request, parse_command},
};
use proptest::prelude::*;

const T0: i64 = 1_766_829_600_000; // 2025-12-27T10:00:00Z

fn at(ms: i64) -> Timestamp {
    Timestamp::from_unix_millis(T0 + ms).unwrap()
}

fn device(seed: u64, mode: Mode, initial: FanState) -> DeviceModel {
    DeviceModel::new(DeviceSpec {
        id: DeviceId::new("AIR_PURIFIER_001").unwrap(),
        seed,
        mode,
        initial: Some(initial),
    })
}

fn speed(n: u8) -> FanState {
    FanState::at_speed(FanSpeed::new(n).unwrap())
}

fn cmd(id: CommandId, action: &str, value: u8) -> Vec<u8> {
    format!(
        r#"{{"commandId":"{id}","action":"{action}","value":{value},"timestamp":"2025-12-27T10:00:00.000Z","expiresAt":"2099-01-01T00:00:00.000Z"}}"#
    )
    .into_bytes()
}

fn new_id(n: i64) -> CommandId {
    CommandId::generate(at(n))
}

/// Runs `minutes` of 2-minute steps from `start_min`; the last reading.
fn run(model: &mut DeviceModel, start_min: i64, minutes: i64) -> Reading {
    let mut last = None;
    let step = 2;
    for m in (start_min + step..=start_min + minutes).step_by(step as usize) {
        let r = model.step(at(m * 60_000), Duration::from_secs(120));
        last = Some(r.expect("a standard device always reports").reading);
    }
    last.unwrap()
}

fn pm25(r: &Reading) -> f64 {
    r.metric(Metric::Pm25).unwrap()
}

/// Three purifiers in identical rooms (same seed: same outdoor air, same cooking, same sensor
/// noise), off, at speed 1 and at speed 5.
#[test]
fn pm_falls_faster_at_speed_5_than_at_speed_1() {
    for seed in 0..20 {
        let mut off = device(seed, Mode::Standard, FanState::OFF);
        let mut slow = device(seed, Mode::Standard, speed(1));
        let mut fast = device(seed, Mode::Standard, speed(5));
        let start: Vec<_> = [&mut off, &mut slow, &mut fast]
            .map(|d| pm25(&d.step(at(0), Duration::ZERO).unwrap().reading))
            .into();
        assert!(
            start.windows(2).all(|w| w[0] == w[1]),
            "same room at the start"
        );
        for minutes in [20, 40, 60] {
            let o = run(&mut off, minutes - 20, 20);
            let s = run(&mut slow, minutes - 20, 20);
            let f = run(&mut fast, minutes - 20, 20);
            assert!(
                pm25(&f) < pm25(&s) && pm25(&s) < pm25(&o),
                "seed {seed}, {minutes} min: speed 5 → {}, speed 1 → {}, off → {}",
                pm25(&f),
                pm25(&s),
                pm25(&o)
            );
            if minutes == 60 {
                for m in [Metric::Pm1, Metric::Pm10, Metric::Voc] {
                    let (f, s, o) = (f.metric(m), s.metric(m), o.metric(m));
                    assert!(f < s && s < o, "seed {seed}: {m}: {f:?} {s:?} {o:?}");
                }
                // At speed 5 an hour takes most of the particles out.
                assert!(pm25(&f) < 0.3 * pm25(&o), "seed {seed}");
            }
        }
    }
}

/// Two purifiers in identical rooms run at speed 5 for 2 hours; then one is turned off.
#[test]
fn pm_rises_again_when_off() {
    for seed in 0..20 {
        let mut on = device(seed, Mode::Standard, speed(5));
        let mut switched = device(seed, Mode::Standard, speed(5));
        let clean = run(&mut on, 0, 120);
        assert_eq!(run(&mut switched, 0, 120), clean);
        let off = switched.handle_command(at(120 * 60_000), &cmd(new_id(1), "turnOff", 0));
        assert!(off.unwrap().applied);
        let still_on = run(&mut on, 120, 120);
        let later = run(&mut switched, 120, 120);
        assert_eq!(later.power_on(), Some(false));
        for m in [Metric::Pm1, Metric::Pm25, Metric::Pm10, Metric::Voc] {
            let (l, o) = (later.metric(m).unwrap(), still_on.metric(m).unwrap());
            assert!(
                l > 2.0 * o,
                "seed {seed}: {m}: {l} after 2 h off vs {o} still on"
            );
        }
    }
}

#[test]
fn sound_follows_the_fan() {
    let mut quiet = device(3, Mode::Standard, FanState::OFF);
    let mut loud = device(3, Mode::Standard, speed(5));
    let q = quiet.step(at(0), Duration::ZERO).unwrap().reading;
    let l = loud.step(at(0), Duration::ZERO).unwrap().reading;
    let (q, l) = (
        q.metric(Metric::Sound).unwrap(),
        l.metric(Metric::Sound).unwrap(),
    );
    assert!(l > q + 15.0, "speed 5: {l} dB, off: {q} dB");
}

#[test]
fn same_seed_same_readings_different_seed_different_readings() {
    let trace = |seed| {
        let mut d = device(seed, Mode::Standard, speed(2));
        (1..=30)
            .map(|i| {
                d.step(at(i * 1000), Duration::from_secs(1))
                    .unwrap()
                    .reading
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(trace(42), trace(42));
    assert_ne!(trace(42), trace(43));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the seed, speeds and step lengths (from 1 ms to days), every reading lies within
    /// PRODUCT.md §1's ranges, keeps PM1 ≤ PM2.5 ≤ PM10, and praan's codec accepts its payload
    /// unchanged.
    #[test]
    fn readings_stay_in_range_and_decode(
        seed in any::<u64>(),
        steps in prop::collection::vec((0u8..=5, 1u64..=3 * 86_400_000), 1..60),
        compat in any::<bool>(),
    ) {
        let mode = if compat { Mode::SeedCompat } else { Mode::Standard };
        let mut d = DeviceModel::new(DeviceSpec {
            id: DeviceId::new("SIM_0001").unwrap(),
            seed,
            mode,
            initial: None,
        });
        let codec = Codec::default();
        let mut now = 0i64;
        for (i, (s, ms)) in steps.into_iter().enumerate() {
            now += i64::try_from(ms).unwrap();
            let id = CommandId::generate(at(now));
            d.handle_command(at(now), &cmd(id, "setFanSpeed", s)).unwrap();
            if i % 7 == 3 {
                d.handle_command(at(now), &cmd(new_id(now + 1), "turnOn", 0)).unwrap();
            }
            let Some(report) = d.step(at(now), Duration::from_millis(ms)) else { continue };
            let r = &report.reading;
            for m in Metric::ALL {
                let v = r.metric(m).unwrap();
                let (lo, hi) = m.range();
                prop_assert!(v.is_finite() && v >= lo && v <= hi, "{m} = {v}");
            }
            let pm1 = r.metric(Metric::Pm1).unwrap();
            let pm10 = r.metric(Metric::Pm10).unwrap();
            prop_assert!(pm1 <= pm25(r) && pm25(r) <= pm10);
            prop_assert!(r.metric(Metric::Temperature).unwrap() > 0.0);
            let payload = report.encode(&codec);
            let decoded = codec
                .decode("device/SIM_0001/data", &payload, at(now))
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&payload))))?;
            match decoded {
                DeviceMessage::Readings { readings, rejected, .. } => {
                    prop_assert!(rejected.is_empty());
                    prop_assert_eq!(&readings[0], r);
                }
                other => prop_assert!(false, "not readings: {other:?}"),
            }
        }
    }
}

#[test]
fn commands_set_the_state_and_ack_with_current_state() {
    let mut d = device(1, Mode::Standard, speed(2));
    let h = d
        .handle_command(at(0), &cmd(new_id(1), "setFanSpeed", 4))
        .unwrap();
    assert!(h.applied && !h.duplicate);
    assert_eq!(h.ack.status, AckStatus::Success);
    assert_eq!(h.ack.message.as_deref(), Some("Fan speed set to 4"));
    assert_eq!(h.ack.current_state, Some(speed(4)));
    assert_eq!(h.ack.timestamp, at(0));
    assert_eq!(d.state(), speed(4));

    let h = d
        .handle_command(at(1), &cmd(new_id(2), "turnOff", 0))
        .unwrap();
    assert_eq!(h.ack.current_state, Some(FanState::OFF));
    // Standard turnOn with value 0 resumes the last running speed.
    let h = d
        .handle_command(at(2), &cmd(new_id(3), "turnOn", 0))
        .unwrap();
    assert_eq!(h.ack.current_state, Some(speed(4)));
    assert_eq!(d.poll_timeout(), None, "no auto-off in standard mode");
    let h = d
        .handle_command(at(3), &cmd(new_id(4), "turnOn", 2))
        .unwrap();
    assert_eq!(h.ack.current_state, Some(speed(2)));
    let h = d
        .handle_command(at(4), &cmd(new_id(5), "setFanSpeed", 0))
        .unwrap();
    assert_eq!(h.ack.current_state, Some(FanState::OFF));

    // The ack payload is one praan decodes, currentState included.
    let codec = Codec::default();
    let payload = codec.encode_ack(&h.ack);
    match codec
        .decode("device/AIR_PURIFIER_001/ack", &payload, at(5))
        .unwrap()
    {
        DeviceMessage::Ack(ack) => {
            assert_eq!(ack.command_id, h.ack.command_id);
            assert_eq!(ack.current_state, Some(FanState::OFF));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_commands_are_acked_as_errors_and_change_nothing() {
    let mut d = device(1, Mode::Standard, speed(3));
    let id = new_id(1);
    for (payload, why) in [
        (
            format!(r#"{{"commandId":"{id}","action":"setFanSpeed","value":6}}"#),
            "Invalid fan speed",
        ),
        (
            format!(
                r#"{{"commandId":"{}","action":"setFanSpeed","value":2.5}}"#,
                new_id(2)
            ),
            "Invalid fan speed",
        ),
        (
            format!(
                r#"{{"commandId":"{}","action":"dance","value":1}}"#,
                new_id(3)
            ),
            "Unknown action",
        ),
        (
            format!(
                r#"{{"commandId":"{}","action":"setFanSpeed","value":1,"expiresAt":"2025-12-27T09:00:00.000Z"}}"#,
                new_id(4)
            ),
            "Command expired",
        ),
    ] {
        let h = d.handle_command(at(0), payload.as_bytes()).unwrap();
        assert_eq!(h.ack.status, AckStatus::Error, "{payload}");
        assert!(!h.applied);
        assert!(
            h.ack.message.as_deref().unwrap().starts_with(why),
            "{:?}",
            h.ack.message
        );
        assert_eq!(h.ack.current_state, Some(speed(3)));
    }
    assert_eq!(d.state(), speed(3));
    // No usable commandId: nothing to ack.
    for bad in [
        &b"not json"[..],
        br#"{"action":"turnOff","value":0}"#,
        br#"{"commandId":"nope","action":"turnOff","value":0}"#,
        br#"{"commandId":7,"action":"turnOff","value":0}"#,
    ] {
        assert!(d.handle_command(at(0), bad).is_err());
    }
    assert_eq!(d.state(), speed(3));
}

#[test]
fn a_duplicate_command_is_acked_again_but_not_reapplied() {
    let mut d = device(1, Mode::Standard, speed(1));
    let first = new_id(1);
    let h1 = d
        .handle_command(at(0), &cmd(first, "setFanSpeed", 5))
        .unwrap();
    assert!(h1.applied);
    // A newer command changes the state …
    d.handle_command(at(10), &cmd(new_id(2), "setFanSpeed", 2))
        .unwrap();
    // … and the broker redelivers the first: same result, not re-applied, current state.
    let h2 = d
        .handle_command(at(20), &cmd(first, "setFanSpeed", 5))
        .unwrap();
    assert!(h2.duplicate && !h2.applied);
    assert_eq!(
        (h2.ack.status, &h2.ack.message),
        (h1.ack.status, &h1.ack.message)
    );
    assert_eq!(h2.ack.command_id, first);
    assert_eq!(h2.ack.current_state, Some(speed(2)));
    assert_eq!(d.state(), speed(2));

    // A refused command's duplicate is refused again the same way.
    let bad = new_id(3);
    let payload = format!(r#"{{"commandId":"{bad}","action":"setFanSpeed","value":9}}"#);
    let e1 = d.handle_command(at(30), payload.as_bytes()).unwrap();
    let e2 = d.handle_command(at(40), payload.as_bytes()).unwrap();
    assert_eq!((e2.ack.status, e2.duplicate), (AckStatus::Error, true));
    assert_eq!(e1.ack.message, e2.ack.message);

    // The memory is bounded: an id older than the last RECENT_COMMANDS is applied again.
    for i in 0..RECENT_COMMANDS {
        let n = i64::try_from(i).unwrap();
        d.handle_command(at(100 + n), &cmd(new_id(100 + n), "setFanSpeed", 3))
            .unwrap();
    }
    let h3 = d
        .handle_command(at(10_000), &cmd(first, "setFanSpeed", 5))
        .unwrap();
    assert!(h3.applied && !h3.duplicate);
    assert_eq!(d.state(), speed(5));
}

#[test]
fn command_payloads_parse_like_a_device() {
    let id = new_id(1);
    let c = parse_command(&cmd(id, "turnOn", 3)).unwrap();
    assert_eq!(c.command_id, id);
    assert_eq!(c.request, Request::TurnOn(FanSpeed::new(3).unwrap()));
    assert_eq!(
        c.expires_at,
        Some(Timestamp::parse_rfc3339("2099-01-01T00:00:00.000Z").unwrap())
    );
    let c =
        parse_command(format!(r#"{{"commandId":"{id}","action":"turnOn","extra":1}}"#).as_bytes())
            .unwrap();
    assert_eq!(c.request, Request::TurnOn(FanSpeed::OFF));
    assert_eq!(c.expires_at, None);
    let c =
        parse_command(format!(r#"{{"commandId":"{id}","action":"turnOff","value":4}}"#).as_bytes())
            .unwrap();
    assert_eq!(c.request, Request::TurnOff);
}

#[test]
fn seed_compat_is_silent_while_off() {
    let mut d = device(9, Mode::SeedCompat, FanState::OFF);
    for i in 1..=10 {
        assert!(d.step(at(i * 120_000), Duration::from_secs(120)).is_none());
    }
    d.handle_command(at(1_300_000), &cmd(new_id(1), "setFanSpeed", 2))
        .unwrap();
    let r = d.step(at(1_320_000), Duration::from_secs(120)).unwrap();
    assert!(!r.auto_off);
    assert_eq!(r.reading.reported_state().unwrap().state, speed(2));
    d.handle_command(at(1_330_000), &cmd(new_id(2), "turnOff", 0))
        .unwrap();
    assert!(d.step(at(1_440_000), Duration::from_secs(120)).is_none());
    // The standard device reports while off.
    let mut s = device(9, Mode::Standard, FanState::OFF);
    let r = s.step(at(120_000), Duration::from_secs(120)).unwrap();
    assert_eq!(r.reading.power_on(), Some(false));
}

#[test]
fn seed_compat_turn_on_at_speed_0_switches_itself_off_after_10_s() {
    let codec = Codec::default();
    let mut d = device(9, Mode::SeedCompat, FanState::OFF);
    let h = d
        .handle_command(at(0), &cmd(new_id(1), "turnOn", 0))
        .unwrap();
    assert_eq!(h.ack.status, AckStatus::Success);
    let on_at_0 = FanState {
        power_on: true,
        fan_speed: FanSpeed::OFF,
    };
    assert_eq!(h.ack.current_state, Some(on_at_0));
    assert_eq!(d.poll_timeout(), Some(at(10_000)));
    assert_eq!(d.handle_timeout(at(9_999)), None);
    assert_eq!(d.state(), on_at_0);
    // On at speed 0: it still reports (it is on).
    assert!(
        d.step(at(5_000), Duration::from_secs(5))
            .is_some_and(|r| !r.auto_off)
    );

    let report = d
        .handle_timeout(at(10_000))
        .expect("auto-off fires at 10 s");
    assert!(report.auto_off);
    assert_eq!(d.state(), FanState::OFF);
    assert_eq!(d.poll_timeout(), None);
    assert_eq!(d.handle_timeout(at(10_001)), None, "fires once");
    let payload = report.encode(&codec);
    let text = String::from_utf8(payload.clone()).unwrap();
    assert!(text.ends_with(r#","autoOff":true}"#), "{text}");
    assert!(
        text.contains(r#""powerOn":false"#) && text.contains(r#""fanSpeed":0"#),
        "{text}"
    );
    match codec
        .decode("device/AIR_PURIFIER_001/data", &payload, at(10_000))
        .unwrap()
    {
        DeviceMessage::Readings { readings, .. } => {
            assert_eq!(readings[0].reported_state().unwrap().state, FanState::OFF);
            assert_eq!(readings[0].timestamp(), at(10_000));
        }
        other => panic!("{other:?}"),
    }
    // Then silent, as it is off.
    assert!(d.step(at(120_000), Duration::from_secs(110)).is_none());

    // A step that finds the auto-off due reports it (in place of the periodic sample).
    d.handle_command(at(200_000), &cmd(new_id(2), "turnOn", 0))
        .unwrap();
    let r = d.step(at(240_000), Duration::from_secs(40)).unwrap();
    assert!(r.auto_off && r.reading.power_on() == Some(false));

    // A command within the 10 s cancels the auto-off; turnOn with a speed never arms it.
    d.handle_command(at(300_000), &cmd(new_id(3), "turnOn", 0))
        .unwrap();
    d.handle_command(at(305_000), &cmd(new_id(4), "setFanSpeed", 3))
        .unwrap();
    assert_eq!(d.poll_timeout(), None);
    assert_eq!(d.handle_timeout(at(400_000)), None);
    assert_eq!(d.state(), speed(3));
    d.handle_command(at(500_000), &cmd(new_id(5), "turnOn", 4))
        .unwrap();
    assert_eq!(d.poll_timeout(), None);
    // Seed-compat ignores expiresAt (the old devices never read it).
    let stale = format!(
        r#"{{"commandId":"{}","action":"setFanSpeed","value":1,"expiresAt":"2025-12-27T09:00:00.000Z"}}"#,
        new_id(6)
    );
    assert!(
        d.handle_command(at(600_000), stale.as_bytes())
            .unwrap()
            .applied
    );
}
