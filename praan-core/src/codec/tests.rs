//! Codec tests: the documented examples, a table of hostile input, and properties.

use proptest::prelude::*;

use super::*;
use crate::domain::{
    AckStatus, Command, CommandId, CommandSource, FanSpeed, FanState, Instruction, Metric,
    PerMetric,
};

fn codec() -> Codec {
    Codec::default()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

const RECEIVED: &str = "2025-12-27T10:00:00.050Z";

fn decode(topic: &str, payload: &str) -> Result<DeviceMessage, Rejection> {
    codec().decode(topic, payload.as_bytes(), ts(RECEIVED))
}

fn reason(topic: &str, payload: &str) -> RejectReason {
    match decode(topic, payload) {
        Err(r) => r.reason,
        Ok(m) => panic!("{topic} {payload} decoded as {m:?}"),
    }
}

fn one_reading(payload: &str) -> Reading {
    match decode("device/AIR_PURIFIER_001/data", payload) {
        Ok(DeviceMessage::Readings {
            mut readings,
            rejected,
            ..
        }) if readings.len() == 1 && rejected.is_empty() => readings.remove(0),
        other => panic!("expected one reading, got {other:?}"),
    }
}

/// PRODUCT.md §1, the reading example, verbatim.
#[test]
fn product_reading_example_decodes() {
    let r = one_reading(
        r#"{"deviceId":"AIR_PURIFIER_001","timestamp":"2025-12-27T10:00:00.000Z","networkStrength":84.12,
 "fanSpeed":3,"powerOn":true,"temperature":25.4,"humidity":61.02,"pm1":14.7,"pm25":36.1,
 "pm10":48.9,"sound":44.3,"voc":31.5}"#,
    );
    assert_eq!(r.device_id().as_str(), "AIR_PURIFIER_001");
    assert_eq!(r.timestamp(), ts("2025-12-27T10:00:00.000Z"));
    assert_eq!(r.received_at(), ts(RECEIVED));
    let expected = [84.12, 25.4, 61.02, 14.7, 36.1, 48.9, 44.3, 31.5];
    for (m, v) in Metric::ALL.into_iter().zip(expected) {
        assert_eq!(r.metric(m), Some(v), "{m}");
    }
    assert_eq!(r.fan_speed(), Some(FanSpeed::new(3).unwrap()));
    assert_eq!(r.power_on(), Some(true));
}

/// PRODUCT.md §1, the ack example (its elided commandId filled in with a real UUID).
#[test]
fn product_ack_example_decodes() {
    let id = "0193f1c2-7a3b-7c4d-8e5f-0123456789ab";
    let payload = format!(
        r#"{{"deviceId":"AIR_PURIFIER_001","commandId":"{id}","status":"success",
 "message":"Fan speed set to 3","timestamp":"2025-12-27T10:00:00.120Z",
 "currentState":{{"powerOn":true,"fanSpeed":3}}}}"#
    );
    let Ok(DeviceMessage::Ack(ack)) = decode("device/AIR_PURIFIER_001/ack", &payload) else {
        panic!("ack did not decode");
    };
    assert_eq!(ack.command_id, id.parse::<CommandId>().unwrap());
    assert_eq!(ack.status, AckStatus::Success);
    assert_eq!(ack.message.as_deref(), Some("Fan speed set to 3"));
    assert_eq!(ack.timestamp, ts("2025-12-27T10:00:00.120Z"));
    assert_eq!(ack.received_at, ts(RECEIVED));
    assert_eq!(
        ack.current_state,
        Some(FanState::at_speed(FanSpeed::new(3).unwrap()))
    );
}

/// PRODUCT.md §1, the command example's shape: field order, RFC 3339 with millis, and a retry is
/// byte-identical.
#[test]
fn product_command_example_encodes() {
    let created = ts("2025-12-27T10:00:00.000Z");
    let id: CommandId = "0193f1c2-7a3b-7c4d-8e5f-0123456789ab".parse().unwrap();
    let mut cmd = Command::new(
        id,
        DeviceId::new("AIR_PURIFIER_001").unwrap(),
        Instruction::set_fan_speed(FanSpeed::new(3).unwrap()),
        CommandSource::Manual,
        created,
    );
    cmd.expires_at = Some(ts("2025-12-27T10:05:00.000Z"));
    let first = codec().encode_command(&cmd);
    assert_eq!(
        std::str::from_utf8(&first).unwrap(),
        r#"{"commandId":"0193f1c2-7a3b-7c4d-8e5f-0123456789ab","action":"setFanSpeed","value":3,"timestamp":"2025-12-27T10:00:00.000Z","expiresAt":"2025-12-27T10:05:00.000Z"}"#
    );
    cmd.attempts.push(crate::domain::Attempt {
        number: 1,
        at: created,
        error: None,
    });
    cmd.status = crate::domain::CommandStatus::Sent;
    assert_eq!(
        codec().encode_command(&cmd),
        first,
        "resends are byte-identical"
    );
    cmd.expires_at = None;
    cmd.instruction = Instruction::turn_off();
    let v: serde_json::Value = serde_json::from_slice(&codec().encode_command(&cmd)).unwrap();
    assert_eq!(v["action"], "turnOff");
    assert_eq!(v["value"], 0);
    assert!(v.get("expiresAt").is_none());
}

#[test]
fn status_payloads() {
    let cases = [
        ("online", true, PresenceReason::StatusTopic),
        (" offline\n", false, PresenceReason::LastWill),
        (r#"{"online":true}"#, true, PresenceReason::StatusTopic),
        (
            r#"{"online":false,"extra":1}"#,
            false,
            PresenceReason::StatusTopic,
        ),
    ];
    for (payload, want_online, want_reason) in cases {
        match decode("device/d1/status", payload) {
            Ok(DeviceMessage::Status {
                online, reason, at, ..
            }) => {
                assert_eq!(
                    (online, reason, at),
                    (want_online, want_reason, ts(RECEIVED))
                );
            }
            other => panic!("{payload:?}: {other:?}"),
        }
    }
    for bad in ["", "on", "1", r#"{"online":"true"}"#, r#"{}"#, "\u{ff}"] {
        assert_eq!(
            reason("device/d1/status", bad),
            RejectReason::BadStatus,
            "{bad:?}"
        );
    }
}

#[test]
fn shutdown_notice_is_presence_not_a_bad_reading() {
    match decode(
        "device/AIR_PURIFIER_001/data",
        r#"{"deviceId":"AIR_PURIFIER_001","status":"offline","message":"Device shutting down"}"#,
    ) {
        Ok(DeviceMessage::ShutdownNotice {
            device_id,
            message,
            at,
        }) => {
            assert_eq!(device_id.as_str(), "AIR_PURIFIER_001");
            assert_eq!(message.as_deref(), Some("Device shutting down"));
            assert_eq!(at, ts(RECEIVED));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reason(
            "device/AIR_PURIFIER_001/data",
            r#"{"deviceId":"OTHER","status":"offline"}"#
        ),
        RejectReason::SpoofedDeviceId
    );
}

#[test]
fn auto_off_is_a_power_off_report() {
    let r = one_reading(r#"{"deviceId":"AIR_PURIFIER_001","autoOff":true}"#);
    assert_eq!(r.power_on(), Some(false));
    assert_eq!(r.fan_speed(), Some(FanSpeed::OFF));
    assert_eq!(
        r.timestamp(),
        ts(RECEIVED),
        "no timestamp: the receive time is used"
    );
    let r = one_reading(r#"{"autoOff":true,"powerOn":true,"fanSpeed":2,"pm25":3}"#);
    assert_eq!(
        (r.power_on(), r.fan_speed()),
        (Some(false), Some(FanSpeed::new(2).unwrap()))
    );
}

#[test]
fn extra_fields_are_ignored_and_null_metrics_absent() {
    let r = one_reading(r#"{"pm25":1.5,"firmware":"1.2.3","nested":{"a":[1,2]},"pm10":null}"#);
    assert_eq!(r.metric(Metric::Pm25), Some(1.5));
    assert_eq!(r.metric(Metric::Pm10), None);
}

#[test]
fn backlog_array_keeps_good_elements_and_counts_bad_ones() {
    let payload = r#"[{"timestamp":"2025-12-27T09:58:00.000Z","pm25":10},
                      {"timestamp":"2025-12-27T09:56:00.000Z","pm25":-1},
                      {"timestamp":"2025-12-27T09:54:00.000Z","pm25":"x"},
                      {"timestamp":"2025-12-27T09:52:00.000Z","pm25":12}]"#;
    match decode("device/d1/data", payload) {
        Ok(DeviceMessage::Readings {
            readings, rejected, ..
        }) => {
            let stamps: Vec<_> = readings.iter().map(|r| r.timestamp()).collect();
            assert_eq!(
                stamps,
                [
                    ts("2025-12-27T09:58:00.000Z"),
                    ts("2025-12-27T09:52:00.000Z")
                ]
            );
            let reasons: Vec<_> = rejected.iter().map(|r| r.reason).collect();
            assert_eq!(reasons, [RejectReason::OutOfRange, RejectReason::WrongType]);
            assert!(
                rejected[0].detail.starts_with("element 1:"),
                "{}",
                rejected[0].detail
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(reason("device/d1/data", "[]"), RejectReason::EmptyBatch);
    let many = format!("[{}]", vec![r#"{"pm25":1}"#; 1001].join(","));
    assert_eq!(reason("device/d1/data", &many), RejectReason::BatchTooLarge);
}

#[test]
fn ack_without_or_with_bad_timestamp_is_kept() {
    let id = CommandId::generate(ts(RECEIVED));
    for extra in [
        "",
        r#","timestamp":"yesterday""#,
        r#","timestamp":12"#,
        r#","timestamp":"2099-01-01T00:00:00Z""#,
    ] {
        let payload = format!(
            r#"{{"commandId":"{id}","status":"error"{extra},"currentState":{{"powerOn":"yes"}}}}"#
        );
        match decode("device/d1/ack", &payload) {
            Ok(DeviceMessage::Ack(ack)) => {
                assert_eq!(ack.timestamp, ts(RECEIVED), "{extra}");
                assert_eq!(ack.status, AckStatus::Error);
                assert_eq!(
                    ack.current_state, None,
                    "a bad currentState is dropped, the ack kept"
                );
            }
            other => panic!("{extra}: {other:?}"),
        }
    }
}

#[test]
fn ack_message_is_truncated() {
    let id = CommandId::generate(ts(RECEIVED));
    let long = "é".repeat(5000);
    let payload = format!(r#"{{"commandId":"{id}","status":"success","message":"{long}"}}"#);
    let Ok(DeviceMessage::Ack(ack)) = decode("device/d1/ack", &payload) else {
        panic!("ack did not decode")
    };
    assert_eq!(ack.message.unwrap().chars().count(), 1024);
}

/// Every class of bad input, with the reason metrics will count it under.
#[test]
fn rejections_carry_their_reason() {
    let id = CommandId::generate(ts(RECEIVED));
    let big = format!(r#"{{"pm25":1,"pad":"{}"}}"#, "x".repeat(600 * 1024));
    let cases: Vec<(&str, String, RejectReason)> = vec![
        ("device/d1/data", "{".into(), RejectReason::MalformedJson),
        ("device/d1/data", "NaN".into(), RejectReason::MalformedJson),
        (
            "device/d1/data",
            r#"{"pm25":NaN}"#.into(),
            RejectReason::MalformedJson,
        ),
        (
            "device/d1/data",
            r#"{"pm25":1e999}"#.into(),
            RejectReason::MalformedJson,
        ),
        (
            "device/d1/data",
            "\u{ff}\u{fe}".into(),
            RejectReason::MalformedJson,
        ),
        ("device/d1/data", "42".into(), RejectReason::WrongType),
        (
            "device/d1/data",
            r#""reading""#.into(),
            RejectReason::WrongType,
        ),
        ("device/d1/data", "{}".into(), RejectReason::WrongType),
        (
            "device/d1/data",
            r#"{"pm25":"36.1"}"#.into(),
            RejectReason::WrongType,
        ),
        (
            "device/d1/data",
            r#"{"powerOn":"false"}"#.into(),
            RejectReason::WrongType,
        ),
        (
            "device/d1/data",
            r#"{"fanSpeed":3.0}"#.into(),
            RejectReason::WrongType,
        ),
        (
            "device/d1/data",
            r#"{"pm25":1,"pm25":2}"#.into(),
            RejectReason::WrongType,
        ),
        (
            "device/d1/data",
            r#"{"fanSpeed":6}"#.into(),
            RejectReason::OutOfRange,
        ),
        (
            "device/d1/data",
            r#"{"fanSpeed":-1}"#.into(),
            RejectReason::OutOfRange,
        ),
        (
            "device/d1/data",
            r#"{"fanSpeed":300}"#.into(),
            RejectReason::OutOfRange,
        ),
        (
            "device/d1/data",
            r#"{"humidity":100.5}"#.into(),
            RejectReason::OutOfRange,
        ),
        (
            "device/d1/data",
            r#"{"temperature":-51}"#.into(),
            RejectReason::OutOfRange,
        ),
        (
            "device/d1/data",
            r#"{"networkStrength":-0.01}"#.into(),
            RejectReason::OutOfRange,
        ),
        (
            "device/d1/data",
            r#"{"voc":-3}"#.into(),
            RejectReason::OutOfRange,
        ),
        (
            "device/d1/data",
            r#"{"deviceId":"d2","pm25":1}"#.into(),
            RejectReason::SpoofedDeviceId,
        ),
        (
            "device/d1/data",
            r#"{"deviceId":"a/+/#","pm25":1}"#.into(),
            RejectReason::SpoofedDeviceId,
        ),
        (
            "device/d1/data",
            r#"{"timestamp":"2025-12-28T10:00:00.051Z","pm25":1}"#.into(),
            RejectReason::FutureTimestamp,
        ),
        (
            "device/d1/data",
            r#"{"timestamp":"27/12/2025","pm25":1}"#.into(),
            RejectReason::BadTimestamp,
        ),
        (
            "device/d1/data",
            r#"{"timestamp":1766829600000,"pm25":1}"#.into(),
            RejectReason::WrongType,
        ),
        ("device/d1/data", big, RejectReason::Oversized),
        (
            "device/d1/ack",
            r#"{"status":"success"}"#.into(),
            RejectReason::WrongType,
        ),
        (
            "device/d1/ack",
            format!(r#"{{"commandId":"{id}"}}"#),
            RejectReason::WrongType,
        ),
        (
            "device/d1/ack",
            format!(r#"{{"commandId":"{id}","status":"ok"}}"#),
            RejectReason::WrongType,
        ),
        (
            "device/d1/ack",
            r#"{"commandId":"0193f1c2-...","status":"success"}"#.into(),
            RejectReason::WrongType,
        ),
        (
            "device/d1/ack",
            format!(r#"{{"deviceId":"d2","commandId":"{id}","status":"success"}}"#),
            RejectReason::SpoofedDeviceId,
        ),
        ("device/d1/ack", "[]".into(), RejectReason::WrongType),
        (
            "device/d1/command",
            "{}".into(),
            RejectReason::UnexpectedTopic,
        ),
        ("device/d1/telemetry", "{}".into(), RejectReason::Topic),
        ("device/a b/data", "{}".into(), RejectReason::DeviceId),
    ];
    for (topic, payload, want) in cases {
        let got = reason(topic, &payload);
        assert_eq!(
            got,
            want,
            "{topic} {}",
            payload_sample(payload.as_bytes(), 80)
        );
    }
}

/// Hostile topics and ids: never accepted, never confused with another device.
#[test]
fn nasty_topics_are_rejected() {
    let long = format!("device/{}/data", "a".repeat(65));
    let nasty = [
        "a/+/#",
        "$SYS/x",
        "$SYS/broker/uptime",
        "",
        "/",
        "device",
        "device/",
        "device//data",
        "device/d1",
        "device/d1/",
        "device/d1/data/",
        "device/d1/data/extra",
        "device/+/data",
        "device/#",
        "device/d1/#",
        "device/d1/+",
        "device/d\0/data",
        "device/\0/data",
        &long,
        "device/d1%2Fx/data",
        "device/d1%2F/data",
        "device/АIR/data",
        "device/AIR\u{200b}/data",
        "device/ＡＩＲ/data",
        "device/d1\u{0338}/data",
        "Device/d1/data",
        "device/d1/DATA",
        " device/d1/data",
        "device/d1/data ",
        "device/ d1/data",
        "device/.d1/data",
        "device/-d1/data",
        "device/_d1/data",
        "devices/d1/data",
        "device/d1/data\n",
        "$share/praan/device/d1/data",
    ];
    for topic in nasty {
        assert!(
            codec().parse_topic(topic).is_err(),
            "{topic:?} must be rejected"
        );
        assert!(
            decode(topic, r#"{"pm25":1}"#).is_err(),
            "{topic:?} must not decode"
        );
    }
}

#[test]
fn custom_prefix_and_subscriptions() {
    let codec = Codec::new(
        TopicPrefix::new("acme/air").unwrap(),
        CodecLimits::default(),
    );
    assert_eq!(
        codec.subscriptions(),
        ["acme/air/+/data", "acme/air/+/ack", "acme/air/+/status"]
    );
    let msg = codec
        .decode("acme/air/d1/data", br#"{"pm25":1}"#, ts(RECEIVED))
        .unwrap();
    assert_eq!(msg.device_id().as_str(), "d1");
    assert!(
        codec
            .decode("device/d1/data", br#"{"pm25":1}"#, ts(RECEIVED))
            .is_err()
    );
}

#[test]
fn limits_are_configurable() {
    let strict = |max_payload_bytes| {
        Codec::new(
            TopicPrefix::default(),
            CodecLimits {
                max_payload_bytes,
                max_batch: 2,
                max_future_skew: std::time::Duration::ZERO,
            },
        )
    };
    let at = ts(RECEIVED);
    let err = strict(16)
        .decode("device/d1/data", br#"{"pm25":1,"pm10":2}"#, at)
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::Oversized);
    let three = br#"[{"pm1":1},{"pm1":2},{"pm1":3}]"#;
    let err = strict(1024)
        .decode("device/d1/data", three, at)
        .unwrap_err();
    assert_eq!(err.reason, RejectReason::BatchTooLarge);
    let future = br#"{"timestamp":"2025-12-27T10:00:00.051Z","pm1":1}"#;
    let err = strict(1024)
        .decode("device/d1/data", future, at)
        .unwrap_err();
    assert_eq!(
        err.reason,
        RejectReason::FutureTimestamp,
        "zero skew allowed"
    );
    let now = br#"{"timestamp":"2025-12-27T10:00:00.050Z","pm1":1}"#;
    assert!(strict(1024).decode("device/d1/data", now, at).is_ok());
}

fn valid_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
}

fn kind() -> impl Strategy<Value = TopicKind> {
    prop_oneof![
        Just(TopicKind::Data),
        Just(TopicKind::Ack),
        Just(TopicKind::Command),
        Just(TopicKind::Status),
    ]
}

fn metric_value(m: Metric) -> impl Strategy<Value = Option<f64>> {
    let (lo, hi) = m.range();
    let hi = if hi.is_finite() { hi } else { 1e6 };
    proptest::option::of(lo..=hi)
}

prop_compose! {
    fn reading()(
        id in valid_id(),
        ms in 0i64..4_102_444_800_000,
        m in (
            metric_value(Metric::NetworkStrength), metric_value(Metric::Temperature),
            metric_value(Metric::Humidity), metric_value(Metric::Pm1), metric_value(Metric::Pm25),
            metric_value(Metric::Pm10), metric_value(Metric::Sound), metric_value(Metric::Voc),
        ),
        fan in proptest::option::of(0u8..=5),
        power in proptest::option::of(any::<bool>()),
    ) -> Reading {
        let at = Timestamp::from_unix_millis(ms).unwrap();
        let fan = fan.map(|n| FanSpeed::new(n).unwrap());
        let metrics = PerMetric([m.0, m.1, m.2, m.3, m.4, m.5, m.6, m.7]);
        let (metrics, fan) = if metrics.0.iter().all(Option::is_none) && fan.is_none() && power.is_none() {
            (PerMetric([Some(1.0), None, None, None, None, None, None, None]), fan)
        } else {
            (metrics, fan)
        };
        Reading::new(DeviceId::new(&id).unwrap(), at, at, metrics, fan, power).unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every valid id survives build → parse, for every kind and a few prefixes.
    #[test]
    fn topic_round_trip(id in valid_id(), kind in kind(), prefix in "[a-z]{1,8}(/[a-z0-9_-]{1,8}){0,2}") {
        let codec = Codec::new(TopicPrefix::new(prefix).unwrap(), CodecLimits::default());
        let device_id = DeviceId::new(&id).unwrap();
        let topic = codec.topic(&device_id, kind);
        let parsed = codec.parse_topic(&topic).unwrap();
        prop_assert_eq!(parsed.device_id, device_id);
        prop_assert_eq!(parsed.kind, kind);
    }

    /// A reading encoded as a device would send it decodes back equal.
    #[test]
    fn reading_round_trip(r in reading()) {
        let codec = codec();
        let topic = codec.topic(r.device_id(), TopicKind::Data);
        let payload = codec.encode_reading(&r);
        match codec.decode(&topic, &payload, r.received_at()) {
            Ok(DeviceMessage::Readings { readings, rejected, .. }) => {
                prop_assert!(rejected.is_empty());
                prop_assert_eq!(&readings[..], std::slice::from_ref(&r));
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    /// An ack encoded as a device would send it decodes back equal.
    #[test]
    fn ack_round_trip(id in valid_id(), ms in 0i64..4_102_444_800_000, ok in any::<bool>(),
                      msg in proptest::option::of(".{0,40}"), state in proptest::option::of((any::<bool>(), 0u8..=5))) {
        let at = Timestamp::from_unix_millis(ms).unwrap();
        let ack = Ack {
            device_id: DeviceId::new(&id).unwrap(),
            command_id: CommandId::generate(at),
            status: if ok { AckStatus::Success } else { AckStatus::Error },
            message: msg,
            timestamp: at,
            received_at: at,
            current_state: state.map(|(p, f)| FanState { power_on: p, fan_speed: FanSpeed::new(f).unwrap() }),
        };
        let codec = codec();
        let topic = codec.topic(&ack.device_id, TopicKind::Ack);
        let decoded = codec.decode(&topic, &codec.encode_ack(&ack), at);
        prop_assert_eq!(decoded, Ok(DeviceMessage::Ack(ack)));
    }

    /// Arbitrary topics and payloads never panic.
    #[test]
    fn arbitrary_input_never_panics(topic in ".{0,80}", payload in proptest::collection::vec(any::<u8>(), 0..512)) {
        let codec = codec();
        let _ = codec.decode(&topic, &payload, Timestamp::UNIX_EPOCH);
        for kind in ["data", "ack", "status"] {
            let _ = codec.decode(&format!("device/d1/{kind}"), &payload, Timestamp::MAX);
        }
    }

    /// Arbitrary JSON-ish payloads (the shape devices use, with random values) never panic.
    #[test]
    fn json_shaped_input_never_panics(
        fields in proptest::collection::vec(("[a-zA-Z0-9]{1,16}", prop_oneof![
            Just("null".to_owned()), Just("true".to_owned()), any::<f64>().prop_map(|f| f.to_string()),
            any::<i64>().prop_map(|i| i.to_string()), "\"[^\"\\\\]{0,20}\"".prop_map(|s| s),
            Just("{}".to_owned()), Just("[]".to_owned()),
        ]), 0..12),
        array in any::<bool>(),
    ) {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        let obj = format!("{{{}}}", body.join(","));
        let payload = if array { format!("[{obj},{obj}]") } else { obj };
        let codec = codec();
        for kind in ["data", "ack", "status"] {
            let _ = codec.decode(&format!("device/d1/{kind}"), payload.as_bytes(), Timestamp::UNIX_EPOCH);
        }
    }
}
