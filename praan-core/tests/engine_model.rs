//! A property test of the engine against a reference model: random sequences of commands, acks
//! (fresh, duplicate, late, unknown), pre-cleans, schedule edits, clock jumps both ways and
//! restarts, with invariants checked after every step:
//! - the effective state of every device equals the model's;
//! - at most one command is in flight per device;
//! - every command is terminal by its deadline (all attempts and ack timeouts);
//! - every pre-clean whose end has passed has ended, and restored at most once;
//! - each schedule boundary is applied at most once (while the clock only moves forward).
//!
//! The model is written independently of `praan_core::control`: it recomputes the layers from
//! the rules of PRODUCT.md §3 in the simplest way.

#![allow(
    clippy::unwrap_used,
    reason = "a test: a failed unwrap is a failed test"
)]

mod support;

use std::{collections::BTreeSet, time::Duration};

use praan_core::{
    domain::{
        Ack, AckStatus, CommandId, FanMode, FanState, PreCleanDuration, PreCleanStatus, Schedule,
        Timestamp,
    },
    engine::{DeviceEvent, PreCleanRequest},
    store::{CommandFilter, CommandRepo, Limit, PreCleanRepo, ScheduleRepo},
};
use proptest::prelude::*;
use support::*;

const DEVICES: [&str; 2] = ["d0", "d1"];
const START: &str = "2026-10-24T22:00:00Z";
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug)]
enum Op {
    Manual {
        dev: usize,
        speed: u8,
    },
    PreClean {
        dev: usize,
        speed: u8,
        secs: u64,
    },
    CancelPreClean {
        dev: usize,
    },
    CreateSchedule {
        dev: usize,
        start_min: u16,
        minutes: u16,
        speed: u8,
    },
    DeleteSchedule {
        dev: usize,
        index: usize,
    },
    AckLatest {
        dev: usize,
        ok: bool,
    },
    AckAgain {
        dev: usize,
    },
    AckUnknown {
        dev: usize,
    },
    Advance {
        ms: u64,
    },
    JumpForward {
        ms: u64,
    },
    JumpBack {
        ms: u64,
    },
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let dev = 0..DEVICES.len();
    prop_oneof![
        3 => (dev.clone(), 0u8..=5).prop_map(|(dev, speed)| Op::Manual { dev, speed }),
        3 => (dev.clone(), 1u8..=5, 1u64..1800).prop_map(|(dev, speed, secs)| Op::PreClean { dev, speed, secs }),
        1 => dev.clone().prop_map(|dev| Op::CancelPreClean { dev }),
        3 => (dev.clone(), 0u16..1440, 1u16..240, 1u8..=5)
            .prop_map(|(dev, start_min, minutes, speed)| Op::CreateSchedule { dev, start_min, minutes, speed }),
        1 => (dev.clone(), 0usize..4).prop_map(|(dev, index)| Op::DeleteSchedule { dev, index }),
        3 => (dev.clone(), any::<bool>()).prop_map(|(dev, ok)| Op::AckLatest { dev, ok }),
        1 => dev.clone().prop_map(|dev| Op::AckAgain { dev }),
        1 => dev.prop_map(|dev| Op::AckUnknown { dev }),
        6 => (0u64..3 * 3_600_000).prop_map(|ms| Op::Advance { ms }),
        1 => (0u64..DAY_MS as u64).prop_map(|ms| Op::JumpForward { ms }),
        1 => (1u64..2 * 3_600_000).prop_map(|ms| Op::JumpBack { ms }),
        1 => Just(Op::Restart),
    ]
}

/// One daily UTC window rule of the model.
#[derive(Clone, Debug)]
struct ModelSchedule {
    schedule: Schedule,
    start_min: i64,
    minutes: i64,
    speed: u8,
}

impl ModelSchedule {
    /// The windows active at `t` (by start).
    fn active_at(&self, t: Timestamp) -> Option<Timestamp> {
        let day = t.unix_millis().div_euclid(DAY_MS) * DAY_MS;
        [day - DAY_MS, day].into_iter().find_map(|d| {
            let start = d + self.start_min * 60_000;
            let end = start + self.minutes * 60_000;
            (start <= t.unix_millis() && t.unix_millis() < end)
                .then(|| Timestamp::from_unix_millis(start).unwrap())
        })
    }

    /// Window boundaries in `(after, until]`.
    fn boundaries(&self, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let first_day = after.unix_millis().div_euclid(DAY_MS) - 1;
        let last_day = until.unix_millis().div_euclid(DAY_MS);
        (first_day..=last_day)
            .flat_map(|d| {
                let start = d * DAY_MS + self.start_min * 60_000;
                [start, start + self.minutes * 60_000]
            })
            .filter(|t| *t > after.unix_millis() && *t <= until.unix_millis())
            .map(|t| Timestamp::from_unix_millis(t).unwrap())
            .collect()
    }
}

#[derive(Clone, Debug, Default)]
struct ModelDevice {
    schedules: Vec<ModelSchedule>,
    applied: BTreeSet<(praan_core::domain::ScheduleId, Timestamp)>,
    base: Option<FanState>,
    pre_clean: Option<(FanState, Timestamp)>,
    reported: Option<(FanState, Timestamp)>,
}

impl ModelDevice {
    fn effective(&self) -> Option<FanState> {
        self.pre_clean.map(|(target, _)| target).or(self.base)
    }

    /// Applies the schedule windows active at `t`, if they differ from the applied ones.
    fn evaluate(&mut self, t: Timestamp) {
        let active: BTreeSet<_> = self
            .schedules
            .iter()
            .filter_map(|s| {
                s.active_at(t)
                    .map(|start| (s.schedule.schedule_id, start, s.speed))
            })
            .collect();
        let keys: BTreeSet<_> = active.iter().map(|(id, start, _)| (*id, *start)).collect();
        if keys == self.applied {
            return;
        }
        self.base = Some(
            active
                .iter()
                .map(|(_, _, speed)| *speed)
                .max()
                .map_or(FanState::OFF, on),
        );
        self.applied = keys;
    }

    fn end_pre_clean_by(&mut self, t: Timestamp) {
        if self.pre_clean.is_some_and(|(_, ends)| ends <= t) {
            self.pre_clean = None;
        }
    }

    /// Every model event in `(after, until]`, in order: boundaries and the pre-clean's end.
    fn events(&self, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let mut ts: Vec<Timestamp> = self
            .schedules
            .iter()
            .flat_map(|s| s.boundaries(after, until))
            .chain(
                self.pre_clean
                    .map(|(_, e)| e)
                    .filter(|e| *e > after && *e <= until),
            )
            .collect();
        ts.sort_unstable();
        ts.dedup();
        ts
    }
}

fn state_of(action: &str, value: u8) -> FanState {
    if action == "turnOff" || value == 0 {
        FanState::OFF
    } else {
        on(value)
    }
}

async fn run_case(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(START, &DEVICES).await;
    let mut model: Vec<ModelDevice> = vec![ModelDevice::default(); DEVICES.len()];
    let mut stepped_back = false;
    let config = sim.config.clone();
    let lifetime = config.delivery.ack_timeout * (config.delivery.max_retries + 1);
    for (step, op) in ops.into_iter().enumerate() {
        let now = sim.now();
        match op.clone() {
            Op::Manual { dev, speed: n } => {
                let instruction = if n == 0 {
                    praan_core::domain::Instruction::turn_off()
                } else {
                    praan_core::domain::Instruction::set_fan_speed(speed(n))
                };
                sim.command(DEVICES[dev], instruction).await;
                let m = &mut model[dev];
                m.base = Some(if n == 0 { FanState::OFF } else { on(n) });
                m.pre_clean = None;
            }
            Op::PreClean {
                dev,
                speed: n,
                secs,
            } => {
                sim.handle
                    .start_pre_clean(PreCleanRequest {
                        device_id: dev_id(dev),
                        mode: FanMode::Speed(speed(n)),
                        duration: PreCleanDuration::new(secs, Duration::from_secs(3600)).unwrap(),
                    })
                    .await
                    .unwrap();
                let m = &mut model[dev];
                // The device's own state is captured only when no pre-clean is being replaced.
                if m.base.is_none() && m.pre_clean.is_none() {
                    m.base = m
                        .reported
                        .map(|(s, _)| if s.is_off() { FanState::OFF } else { s });
                }
                m.pre_clean = Some((on(n), now.saturating_add(Duration::from_secs(secs))));
            }
            Op::CancelPreClean { dev } => {
                sim.handle.cancel_pre_clean(dev_id(dev)).await.unwrap();
                model[dev].pre_clean = None;
            }
            Op::CreateSchedule {
                dev,
                start_min,
                minutes,
                speed: n,
            } => {
                if model[dev].schedules.len() < 3 {
                    let json = format!(
                        r#"{{"recurrenceType":"custom","cron":"{} {} * * *","durationMinutes":{minutes},"fanSpeed":{n}}}"#,
                        start_min % 60,
                        start_min / 60
                    );
                    let schedule = sim.schedule(DEVICES[dev], &json).await;
                    let m = &mut model[dev];
                    m.schedules.push(ModelSchedule {
                        schedule,
                        start_min: i64::from(start_min),
                        minutes: i64::from(minutes),
                        speed: n,
                    });
                    m.evaluate(now);
                }
            }
            Op::DeleteSchedule { dev, index } => {
                let m = &mut model[dev];
                if index < m.schedules.len() {
                    let s = m.schedules.remove(index);
                    sim.handle
                        .delete_schedule(s.schedule.schedule_id)
                        .await
                        .unwrap();
                    m.evaluate(now);
                }
            }
            Op::AckLatest { dev, ok } => {
                let sent: Vec<Sent> = sim
                    .all_sent()
                    .into_iter()
                    .filter(|s| s.device == DEVICES[dev])
                    .collect();
                if let Some(last) = sent.last() {
                    let status = if ok {
                        AckStatus::Success
                    } else {
                        AckStatus::Error
                    };
                    let state = state_of(&last.action, last.value);
                    sim.ack_with(last, status, Some(state), now).await;
                    report(&mut model[dev], state, now);
                }
            }
            Op::AckAgain { dev } => {
                let sent: Vec<Sent> = sim
                    .all_sent()
                    .into_iter()
                    .filter(|s| s.device == DEVICES[dev])
                    .collect();
                if let Some(first) = sent.first() {
                    let state = state_of(&first.action, first.value);
                    sim.ack_with(first, AckStatus::Success, Some(state), now)
                        .await;
                    report(&mut model[dev], state, now);
                }
            }
            Op::AckUnknown { dev } => {
                sim.handle
                    .device_event(DeviceEvent::Ack(Ack {
                        device_id: dev_id(dev),
                        command_id: CommandId::generate(now),
                        status: AckStatus::Success,
                        message: None,
                        timestamp: now,
                        received_at: now,
                        current_state: Some(on(5)),
                    }))
                    .await
                    .unwrap();
                sim.settle().await;
            }
            Op::Advance { ms } => {
                let until = now.saturating_add(Duration::from_millis(ms));
                for m in &mut model {
                    for t in m.events(now, until) {
                        m.evaluate(t);
                        m.end_pre_clean_by(t);
                    }
                }
                sim.advance_to(until).await;
            }
            Op::JumpForward { ms } => {
                let until = now.saturating_add(Duration::from_millis(ms));
                sim.clock.set(until);
                sim.settle().await;
                for m in &mut model {
                    m.end_pre_clean_by(until);
                    m.evaluate(until);
                }
            }
            Op::JumpBack { ms } => {
                let to = now.saturating_sub(Duration::from_millis(ms));
                sim.clock.set(to);
                sim.settle().await;
                stepped_back = true;
                for m in &mut model {
                    m.evaluate(to);
                }
            }
            Op::Restart => sim.restart().await,
        }
        check(&sim, &model, step, &op, lifetime, stepped_back).await?;
    }
    Ok(())
}

fn report(m: &mut ModelDevice, state: FanState, at: Timestamp) {
    if m.reported.is_none_or(|(_, t)| at > t) {
        m.reported = Some((state, at));
    }
}

fn dev_id(i: usize) -> praan_core::domain::DeviceId {
    dev(DEVICES[i])
}

async fn check(
    sim: &Sim,
    model: &[ModelDevice],
    step: usize,
    op: &Op,
    lifetime: Duration,
    stepped_back: bool,
) -> Result<(), TestCaseError> {
    let now = sim.now();
    for (i, m) in model.iter().enumerate() {
        let engine = sim.effective(DEVICES[i]).await;
        prop_assert_eq!(
            engine,
            m.effective(),
            "effective state of {} after step {} ({:?})",
            DEVICES[i],
            step,
            op
        );
        let all = sim
            .store
            .commands_for_device(
                &dev_id(i),
                &CommandFilter {
                    status: None,
                    limit: Limit::new(1000).unwrap(),
                },
            )
            .await
            .unwrap();
        let open: Vec<_> = all.iter().filter(|c| !c.status.is_terminal()).collect();
        prop_assert!(
            open.len() <= 1,
            "{} commands in flight for {}",
            open.len(),
            DEVICES[i]
        );
        if !stepped_back {
            for c in &open {
                let first = c.attempts.first().map_or(c.created_at, |a| a.at);
                let deadline = first.saturating_add(lifetime);
                prop_assert!(
                    now <= deadline,
                    "command {} still {:?} past its deadline",
                    c.command_id,
                    c.status
                );
            }
        }
        let history = sim
            .store
            .pre_clean_history(&dev_id(i), Limit::new(1000).unwrap())
            .await
            .unwrap();
        let mut restores = BTreeSet::new();
        for p in &history {
            if p.status == PreCleanStatus::Active {
                prop_assert!(
                    p.ends_at > now || stepped_back,
                    "pre-clean past its end still active"
                );
            }
            if let Some(id) = p.restore.and_then(|r| r.command_id) {
                prop_assert!(
                    restores.insert(id),
                    "one restore command for two pre-cleans"
                );
            }
        }
        let restore_commands = all
            .iter()
            .filter(|c| c.source == praan_core::domain::CommandSource::Restore)
            .count();
        prop_assert_eq!(
            restore_commands,
            restores.len(),
            "every restore command belongs to exactly one pre-clean end"
        );
        if !stepped_back {
            for s in &m.schedules {
                let runs = sim
                    .store
                    .runs_for_schedule(s.schedule.schedule_id, Limit::new(1000).unwrap())
                    .await
                    .unwrap();
                let keys: BTreeSet<_> = runs.iter().map(|r| (r.boundary, r.at)).collect();
                prop_assert_eq!(keys.len(), runs.len(), "a boundary applied twice");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference_model(ops in proptest::collection::vec(op(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(run_case(ops))?;
    }
}
