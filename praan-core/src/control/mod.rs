//! The control layers of PRODUCT.md §3, pure: who decides what a device's fan should do.
//!
//! Three sources of intent, highest priority first: an active pre-clean (override), the base
//! intent (the latest of a manual command and a schedule boundary), and nothing (unmanaged). The
//! effective state is the override's target while a pre-clean is active, else the base. A command
//! is due only when the effective state changes — so praan never fights a person who changed the
//! device by hand while nothing is scheduled.
//!
//! [`apply`] takes a device's [`ControlState`] and one [`ControlEvent`] at `now`, updates the
//! state in place and returns a [`Decision`]: the command to send (if any), the schedule
//! boundaries applied with their outcomes, and a pre-clean the event cancelled. It does no I/O.

#[cfg(test)]
mod tests;

use crate::domain::{
    Boundary, CommandId, CommandSource, ControlState, FanSpeed, FanState, Intent, IntentSource,
    PreCleanId, RunOutcome, Timestamp, WindowKey,
};

/// A schedule window that is active now, with the speed its schedule asks for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ActiveWindow {
    /// The schedule and the window's start.
    pub key: WindowKey,
    /// When the window ends.
    pub end: Timestamp,
    /// The schedule's speed.
    pub fan_speed: FanSpeed,
}

/// The window that decides when several are active: the highest speed; on a tie the earliest
/// start, then the smallest schedule id (so the choice never flips between evaluations).
pub fn winner(active: &[ActiveWindow]) -> Option<&ActiveWindow> {
    active.iter().min_by(|a, b| {
        b.fan_speed
            .cmp(&a.fan_speed)
            .then(a.key.start.cmp(&b.key.start))
            .then(a.key.schedule_id.cmp(&b.key.schedule_id))
    })
}

/// Something that changes a device's intent.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ControlEvent<'a> {
    /// The schedule windows active now (level-triggered: applied only if they differ from the
    /// windows last applied).
    Windows(&'a [ActiveWindow]),
    /// A manual control command (the caller sends that command itself).
    Manual {
        /// The state asked for.
        state: FanState,
        /// The command that carries it.
        command_id: CommandId,
    },
    /// A pre-clean starts (replacing any active one).
    PreCleanStarted {
        /// The new pre-clean.
        pre_clean_id: PreCleanId,
        /// Its target.
        target: FanState,
        /// The device's reported state now: the base to restore if the device is unmanaged.
        reported: Option<FanState>,
    },
    /// A pre-clean ended (ran out, or was cancelled).
    PreCleanEnded {
        /// The pre-clean.
        pre_clean_id: PreCleanId,
    },
}

/// What an event means for the device.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Decision {
    /// Send a command to reach this state, for this reason: the effective state changed.
    pub command: Option<(FanState, CommandSource)>,
    /// Schedule boundaries applied by the event, with their outcomes (for the run history).
    pub runs: Vec<(WindowKey, Boundary, RunOutcome)>,
    /// The pre-clean this event ended early: a manual command cancels it; a new pre-clean
    /// replaces it.
    pub ended_pre_clean: Option<PreCleanId>,
    /// Whether the control state changed (and must be stored).
    pub changed: bool,
}

/// Applies `event` to `state` at `now`.
pub fn apply(state: &mut ControlState, now: Timestamp, event: ControlEvent<'_>) -> Decision {
    let mut decision = Decision::default();
    let source = match event {
        ControlEvent::Windows(active) => {
            let mut keys: Vec<WindowKey> = active.iter().map(|w| w.key).collect();
            keys.sort_unstable();
            keys.dedup();
            if keys == state.applied_windows {
                return decision;
            }
            let old_base = state.base;
            let top = winner(active);
            state.base = Some(match (top, state.applied_windows.first()) {
                (Some(w), _) => Intent {
                    state: FanState::at_speed(w.fan_speed),
                    source: IntentSource::Schedule {
                        schedule_id: w.key.schedule_id,
                    },
                    since: now,
                },
                (None, Some(ended)) => Intent {
                    state: FanState::OFF,
                    source: IntentSource::ScheduleEnded {
                        schedule_id: ended.schedule_id,
                    },
                    since: now,
                },
                // No window before and none now: the early return above already covered it.
                (None, None) => return decision,
            });
            let masked = state.active_pre_clean.is_some();
            for k in keys.iter().filter(|k| !state.applied_windows.contains(k)) {
                let outcome = if masked {
                    RunOutcome::MaskedByPreclean
                } else if top.is_some_and(|w| w.key == *k) {
                    RunOutcome::Applied
                } else {
                    RunOutcome::MaskedByHigherSchedule
                };
                decision.runs.push((*k, Boundary::Start, outcome));
            }
            for k in state.applied_windows.iter().filter(|k| !keys.contains(k)) {
                let other_decided = matches!(
                    old_base.map(|b| b.source),
                    Some(IntentSource::Schedule { schedule_id })
                        if schedule_id != k.schedule_id && keys.iter().any(|n| n.schedule_id == schedule_id)
                );
                let outcome = if masked {
                    RunOutcome::MaskedByPreclean
                } else if other_decided {
                    RunOutcome::MaskedByHigherSchedule
                } else {
                    RunOutcome::Applied
                };
                decision.runs.push((*k, Boundary::End, outcome));
            }
            state.applied_windows = keys;
            CommandSource::Schedule
        }
        ControlEvent::Manual {
            state: wanted,
            command_id,
        } => {
            decision.ended_pre_clean = state.active_pre_clean.take();
            let intent = Intent {
                state: wanted,
                source: IntentSource::Manual { command_id },
                since: now,
            };
            state.base = Some(intent);
            // The caller sends the manual command itself, whatever the previous state was.
            state.effective = Some(intent);
            state.updated_at = now;
            decision.changed = true;
            return decision;
        }
        ControlEvent::PreCleanStarted {
            pre_clean_id,
            target: _,
            reported,
        } => {
            decision.ended_pre_clean = state.active_pre_clean.replace(pre_clean_id);
            // Only an unmanaged device's own state is captured: while a pre-clean is being
            // replaced, the reported state is that pre-clean's target, not the device's.
            if state.base.is_none() && decision.ended_pre_clean.is_none() {
                state.base = reported.map(|r| Intent {
                    state: normalise(r),
                    source: IntentSource::Reported,
                    since: now,
                });
            }
            CommandSource::Preclean
        }
        ControlEvent::PreCleanEnded { pre_clean_id } => {
            if state.active_pre_clean != Some(pre_clean_id) {
                return decision;
            }
            state.active_pre_clean = None;
            CommandSource::Restore
        }
    };
    let next = match (event, state.active_pre_clean) {
        (
            ControlEvent::PreCleanStarted {
                pre_clean_id,
                target,
                ..
            },
            _,
        ) => Some(Intent {
            state: target,
            source: IntentSource::PreClean { pre_clean_id },
            since: now,
        }),
        // Still overridden: the base changed underneath, the effective state did not.
        (_, Some(_)) => state.effective,
        (_, None) => state.base,
    };
    if next.map(|i| i.state) != state.effective.map(|i| i.state)
        && let Some(intent) = next
    {
        decision.command = Some((intent.state, source));
    }
    state.effective = next;
    state.updated_at = now;
    decision.changed = true;
    decision
}

/// A reported state as a desired one: off is `powerOn: false, fanSpeed: 0`.
fn normalise(s: FanState) -> FanState {
    if s.is_off() { FanState::OFF } else { s }
}
