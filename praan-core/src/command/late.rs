//! Acks for commands that are no longer in flight.

use crate::domain::{Ack, Command};

/// What to do with an ack for a command that is not in flight.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum LateAck {
    /// Store this command: the ack is recorded as its `lateAck`; the status is unchanged.
    Record(Box<Command>),
    /// The same ack was already recorded (a redelivery): nothing to do.
    Duplicate,
    /// The command belongs to another device: ignore the ack as spoofed.
    WrongDevice,
}

/// Records `ack` on the terminal command `cmd` (read from the store): a duplicate of the ack that
/// decided it, or of the late ack already recorded, is a no-op; any other ack becomes `lateAck`.
pub fn record_late_ack(mut cmd: Command, ack: &Ack) -> LateAck {
    if cmd.device_id != ack.device_id {
        return LateAck::WrongDevice;
    }
    let same = |a: &Ack| {
        a.status == ack.status && a.message == ack.message && a.timestamp == ack.timestamp
    };
    if cmd.device_response.as_ref().is_some_and(same) || cmd.late_ack.as_ref().is_some_and(same) {
        return LateAck::Duplicate;
    }
    cmd.late_ack = Some(ack.clone());
    LateAck::Record(Box::new(cmd))
}
