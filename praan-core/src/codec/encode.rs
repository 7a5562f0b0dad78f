//! Encoding of wire payloads: commands (backend → device), and readings, acks and status for
//! device simulators. Hand-written JSON: infallible, allocation-light, and byte-stable.

use std::fmt::Write as _;

use crate::domain::{Ack, AckStatus, Command, Metric, Reading};

use super::Codec;

/// A tiny JSON object writer for values whose text needs no escaping except explicit strings.
struct Obj(String);

impl Obj {
    fn new() -> Self {
        Self(String::with_capacity(160))
    }

    fn key(&mut self, k: &str) -> &mut String {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        self.0.push('"');
        self.0.push_str(k);
        self.0.push_str("\":");
        &mut self.0
    }

    /// A string value that is known to need no escaping (ids, timestamps, enum names).
    fn plain(&mut self, k: &str, v: impl std::fmt::Display) {
        let out = self.key(k);
        let _ = write!(out, "\"{v}\"");
    }

    /// Any string value, escaped.
    fn text(&mut self, k: &str, v: &str) {
        let out = self.key(k);
        out.push('"');
        for c in v.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if u32::from(c) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }

    /// A number or boolean.
    fn raw(&mut self, k: &str, v: impl std::fmt::Display) {
        let out = self.key(k);
        let _ = write!(out, "{v}");
    }

    fn finish(mut self) -> Vec<u8> {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0.into_bytes()
    }
}

impl Codec {
    /// The command payload: `{"commandId","action","value","timestamp","expiresAt"}`.
    ///
    /// A function of the stored command only (its `timestamp` is `createdAt`), so every retry
    /// publishes the byte-identical payload.
    pub fn encode_command(&self, cmd: &Command) -> Vec<u8> {
        let mut o = Obj::new();
        o.plain("commandId", cmd.command_id);
        o.plain("action", cmd.instruction.action().as_str());
        o.raw("value", cmd.instruction.value());
        o.plain("timestamp", cmd.created_at);
        if let Some(exp) = cmd.expires_at {
            o.plain("expiresAt", exp);
        }
        o.finish()
    }

    /// A reading as a device publishes it (no `receivedAt`).
    pub fn encode_reading(&self, r: &Reading) -> Vec<u8> {
        let mut o = Obj::new();
        o.plain("deviceId", r.device_id());
        o.plain("timestamp", r.timestamp());
        if let Some(v) = r.metric(Metric::NetworkStrength) {
            o.raw("networkStrength", v);
        }
        if let Some(v) = r.fan_speed() {
            o.raw("fanSpeed", v);
        }
        if let Some(v) = r.power_on() {
            o.raw("powerOn", v);
        }
        for m in &Metric::ALL[1..] {
            if let Some(v) = r.metric(*m) {
                // Reading guarantees finite values, whose Display form is valid JSON.
                o.raw(m.name(), v);
            }
        }
        o.finish()
    }

    /// An ack as a device publishes it.
    pub fn encode_ack(&self, ack: &Ack) -> Vec<u8> {
        let mut o = Obj::new();
        o.plain("deviceId", &ack.device_id);
        o.plain("commandId", ack.command_id);
        o.plain(
            "status",
            match ack.status {
                AckStatus::Success => "success",
                AckStatus::Error => "error",
            },
        );
        if let Some(m) = &ack.message {
            o.text("message", m);
        }
        o.plain("timestamp", ack.timestamp);
        if let Some(s) = ack.current_state {
            let out = o.key("currentState");
            let _ = write!(
                out,
                "{{\"powerOn\":{},\"fanSpeed\":{}}}",
                s.power_on, s.fan_speed
            );
        }
        o.finish()
    }

    /// A status payload: `online` or `offline`, as devices publish it (retained, and as Last Will).
    pub fn encode_status(online: bool) -> &'static [u8] {
        if online { b"online" } else { b"offline" }
    }
}
