//! [`MemoryStore`]: the reference implementation of every repository, in memory.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Mutex, MutexGuard, PoisonError},
};

use async_trait::async_trait;

use crate::domain::{
    Command, CommandId, ControlState, Device, DeviceId, DeviceState, IdempotencyKey, Metric,
    PerMetric, PreClean, PreCleanId, PreCleanStatus, Presence, Reading, ReportedState, RunId,
    Schedule, ScheduleId, ScheduleRun, Timestamp,
};

use super::{
    AppendOutcome, BucketStats, CommandFilter, CommandRepo, ControlRepo, Cursor, DeviceFilter,
    DeviceRepo, Limit, MaintenanceRepo, MetricStats, Page, PreCleanRepo, PurgeOutcome,
    ReadingQuery, RetentionCutoffs, ScheduleRepo, StateRepo, Statistics, StatsQuery, StoreError,
    StoreResult, TelemetryRepo,
};

/// Every repository in memory, behind one mutex (never held across an await).
///
/// The reference implementation of the contracts, and the store of the fast simulation tests.
/// Cloning is not offered: share it in an `Arc`.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    devices: BTreeMap<DeviceId, Device>,
    states: BTreeMap<DeviceId, DeviceState>,
    readings: HashMap<DeviceId, BTreeMap<Timestamp, Reading>>,
    commands: HashMap<CommandId, Command>,
    idempotency: HashMap<(DeviceId, IdempotencyKey), CommandId>,
    schedules: HashMap<ScheduleId, Schedule>,
    runs: HashMap<RunId, ScheduleRun>,
    pre_cleans: HashMap<PreCleanId, PreClean>,
    controls: BTreeMap<DeviceId, ControlState>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation below completes before the guard drops, without panicking paths in
        // between, so a poisoned lock still guards consistent data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    fn state_mut(&mut self, id: &DeviceId) -> &mut DeviceState {
        self.states
            .entry(id.clone())
            .or_insert_with(|| DeviceState::empty(id.clone()))
    }
}

fn newer_reported(stored: Option<ReportedState>, new: ReportedState) -> bool {
    stored.is_none_or(|s| new.at > s.at)
}

#[async_trait]
impl DeviceRepo for MemoryStore {
    async fn insert_device(&self, device: &Device) -> StoreResult<()> {
        let mut inner = self.lock();
        if inner.devices.contains_key(&device.device_id) {
            return Err(StoreError::conflict(
                "device",
                &device.device_id,
                "already registered",
            ));
        }
        inner
            .devices
            .insert(device.device_id.clone(), device.clone());
        Ok(())
    }

    async fn ensure_device(&self, device: &Device) -> StoreResult<bool> {
        let mut inner = self.lock();
        if inner.devices.contains_key(&device.device_id) {
            return Ok(false);
        }
        inner
            .devices
            .insert(device.device_id.clone(), device.clone());
        Ok(true)
    }

    async fn update_device(&self, device: &Device) -> StoreResult<()> {
        let mut inner = self.lock();
        let slot = inner
            .devices
            .get_mut(&device.device_id)
            .ok_or_else(|| StoreError::not_found("device", &device.device_id))?;
        *slot = device.clone();
        Ok(())
    }

    async fn delete_device(&self, id: &DeviceId) -> StoreResult<()> {
        let mut inner = self.lock();
        inner
            .devices
            .remove(id)
            .ok_or_else(|| StoreError::not_found("device", id))?;
        inner.states.remove(id);
        inner.controls.remove(id);
        Ok(())
    }

    async fn get_device(&self, id: &DeviceId) -> StoreResult<Option<Device>> {
        Ok(self.lock().devices.get(id).cloned())
    }

    async fn list_devices(&self, filter: &DeviceFilter) -> StoreResult<Vec<Device>> {
        Ok(self
            .lock()
            .devices
            .values()
            .filter(|d| filter.status.is_none_or(|s| d.status == s))
            .filter(|d| {
                filter
                    .device_type
                    .as_deref()
                    .is_none_or(|t| d.device_type.as_str() == t)
            })
            .cloned()
            .collect())
    }
}

#[async_trait]
impl StateRepo for MemoryStore {
    async fn device_state(&self, id: &DeviceId) -> StoreResult<Option<DeviceState>> {
        Ok(self.lock().states.get(id).cloned())
    }

    async fn device_states(&self) -> StoreResult<Vec<DeviceState>> {
        Ok(self.lock().states.values().cloned().collect())
    }

    async fn record_reported(&self, id: &DeviceId, reported: ReportedState) -> StoreResult<bool> {
        let mut inner = self.lock();
        let state = inner.state_mut(id);
        if newer_reported(state.reported, reported) {
            state.reported = Some(reported);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn record_presence(&self, id: &DeviceId, presence: Presence) -> StoreResult<bool> {
        let mut inner = self.lock();
        let state = inner.state_mut(id);
        if state.presence.is_none_or(|p| presence.since >= p.since) {
            state.presence = Some(presence);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    async fn record_seen(&self, id: &DeviceId, at: Timestamp) -> StoreResult<()> {
        let mut inner = self.lock();
        let state = inner.state_mut(id);
        state.last_seen = state.last_seen.max(Some(at));
        Ok(())
    }
}

/// Running aggregates of one metric.
#[derive(Clone, Copy, Default)]
struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Acc {
    fn add(&mut self, v: f64) {
        if self.count == 0 {
            (self.min, self.max) = (v, v);
        } else {
            self.min = self.min.min(v);
            self.max = self.max.max(v);
        }
        self.count += 1;
        self.sum += v;
    }

    fn stats(self) -> MetricStats {
        if self.count == 0 {
            return MetricStats::default();
        }
        MetricStats {
            count: self.count,
            min: Some(self.min),
            max: Some(self.max),
            avg: Some(self.sum / self.count as f64),
        }
    }
}

#[derive(Default)]
struct GroupAcc {
    count: u64,
    metrics: PerMetric<Acc>,
}

impl GroupAcc {
    fn add(&mut self, r: &Reading) {
        self.count += 1;
        for m in Metric::ALL {
            if let Some(v) = r.metric(m) {
                self.metrics[m].add(v);
            }
        }
    }

    fn stats(&self) -> PerMetric<MetricStats> {
        PerMetric::from_fn(|m| self.metrics[m].stats())
    }
}

#[async_trait]
impl TelemetryRepo for MemoryStore {
    async fn append_readings(&self, readings: &[Reading]) -> StoreResult<AppendOutcome> {
        let mut inner = self.lock();
        let mut outcome = AppendOutcome::default();
        // Once per device: the newest reading, the newest with a reported state, the last receipt.
        let mut newest: HashMap<&DeviceId, (&Reading, Option<ReportedState>, Timestamp)> =
            HashMap::new();
        for r in readings {
            let series = inner.readings.entry(r.device_id().clone()).or_default();
            if series.contains_key(&r.timestamp()) {
                outcome.duplicates += 1;
                continue;
            }
            series.insert(r.timestamp(), r.clone());
            outcome.inserted += 1;
            let entry =
                newest
                    .entry(r.device_id())
                    .or_insert((r, r.reported_state(), r.received_at()));
            if r.timestamp() > entry.0.timestamp() {
                entry.0 = r;
            }
            if let Some(rep) = r.reported_state()
                && entry.1.is_none_or(|e| rep.at > e.at)
            {
                entry.1 = Some(rep);
            }
            entry.2 = entry.2.max(r.received_at());
        }
        for (id, (latest, reported, seen)) in newest {
            let state = inner.state_mut(id);
            if state
                .latest_reading
                .as_ref()
                .is_none_or(|l| latest.timestamp() > l.timestamp())
            {
                state.latest_reading = Some(latest.clone());
            }
            if let Some(rep) = reported
                && newer_reported(state.reported, rep)
            {
                state.reported = Some(rep);
            }
            state.last_seen = state.last_seen.max(Some(seen));
        }
        Ok(outcome)
    }

    async fn readings(&self, id: &DeviceId, query: &ReadingQuery) -> StoreResult<Page<Reading>> {
        let inner = self.lock();
        let Some(series) = inner.readings.get(id) else {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        };
        let upper = match (query.range.end, query.cursor.map(Cursor::timestamp)) {
            (Some(e), Some(c)) => Some(e.min(c)),
            (e, c) => e.or(c),
        };
        let limit = query.limit.get() as usize;
        let mut items: Vec<Reading> = series
            .range(query.range.start.unwrap_or(Timestamp::MIN)..)
            .rev()
            .filter(|(t, _)| upper.is_none_or(|u| **t < u))
            .take(limit + 1)
            .map(|(_, r)| r.clone())
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| Cursor::before(r.timestamp()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn latest_reading(&self, id: &DeviceId) -> StoreResult<Option<Reading>> {
        Ok(self
            .lock()
            .readings
            .get(id)
            .and_then(|s| s.last_key_value())
            .map(|(_, r)| r.clone()))
    }

    async fn statistics(&self, id: &DeviceId, query: &StatsQuery) -> StoreResult<Statistics> {
        let inner = self.lock();
        let mut overall = GroupAcc::default();
        let mut buckets: BTreeMap<Timestamp, GroupAcc> = BTreeMap::new();
        if let Some(series) = inner.readings.get(id) {
            for r in series
                .range(query.start..query.end.max(query.start))
                .map(|(_, r)| r)
            {
                overall.add(r);
                if let Some(width) = query.bucket {
                    buckets
                        .entry(width.bucket_start(r.timestamp()))
                        .or_default()
                        .add(r);
                }
            }
        }
        Ok(Statistics {
            start: query.start,
            end: query.end,
            count: overall.count,
            metrics: overall.stats(),
            buckets: query.bucket.map(|_| {
                buckets
                    .iter()
                    .map(|(start, acc)| BucketStats {
                        start: *start,
                        count: acc.count,
                        metrics: acc.stats(),
                    })
                    .collect()
            }),
        })
    }
}

#[async_trait]
impl CommandRepo for MemoryStore {
    async fn insert_command(&self, command: &Command) -> StoreResult<()> {
        let mut inner = self.lock();
        if inner.commands.contains_key(&command.command_id) {
            return Err(StoreError::conflict(
                "command",
                command.command_id,
                "id already used",
            ));
        }
        if let Some(key) = &command.idempotency_key {
            let k = (command.device_id.clone(), key.clone());
            if inner.idempotency.contains_key(&k) {
                return Err(StoreError::conflict(
                    "command",
                    command.command_id,
                    "idempotency key already used for this device",
                ));
            }
            inner.idempotency.insert(k, command.command_id);
        }
        inner.commands.insert(command.command_id, command.clone());
        Ok(())
    }

    async fn update_command(&self, command: &Command) -> StoreResult<()> {
        let mut inner = self.lock();
        let Some(old) = inner.commands.get(&command.command_id) else {
            return Err(StoreError::not_found("command", command.command_id));
        };
        let old_key = old
            .idempotency_key
            .clone()
            .map(|k| (old.device_id.clone(), k));
        let new_key = command
            .idempotency_key
            .clone()
            .map(|k| (command.device_id.clone(), k));
        if old_key != new_key {
            if let Some(k) = &new_key
                && inner.idempotency.contains_key(k)
            {
                return Err(StoreError::conflict(
                    "command",
                    command.command_id,
                    "idempotency key already used for this device",
                ));
            }
            if let Some(k) = old_key {
                inner.idempotency.remove(&k);
            }
            if let Some(k) = new_key {
                inner.idempotency.insert(k, command.command_id);
            }
        }
        inner.commands.insert(command.command_id, command.clone());
        Ok(())
    }

    async fn get_command(&self, id: CommandId) -> StoreResult<Option<Command>> {
        Ok(self.lock().commands.get(&id).cloned())
    }

    async fn commands_for_device(
        &self,
        id: &DeviceId,
        filter: &CommandFilter,
    ) -> StoreResult<Vec<Command>> {
        let inner = self.lock();
        let mut out: Vec<Command> = inner
            .commands
            .values()
            .filter(|c| &c.device_id == id && filter.status.is_none_or(|s| c.status == s))
            .cloned()
            .collect();
        out.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.command_id)));
        out.truncate(filter.limit.get() as usize);
        Ok(out)
    }

    async fn unfinished_commands(&self) -> StoreResult<Vec<Command>> {
        let inner = self.lock();
        let mut out: Vec<Command> = inner
            .commands
            .values()
            .filter(|c| !c.status.is_terminal())
            .cloned()
            .collect();
        out.sort_by_key(|c| (c.created_at, c.command_id));
        Ok(out)
    }

    async fn command_by_idempotency_key(
        &self,
        id: &DeviceId,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<Command>> {
        let inner = self.lock();
        Ok(inner
            .idempotency
            .get(&(id.clone(), key.clone()))
            .and_then(|cid| inner.commands.get(cid))
            .cloned())
    }
}

#[async_trait]
impl ScheduleRepo for MemoryStore {
    async fn insert_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        let mut inner = self.lock();
        if inner.schedules.contains_key(&schedule.schedule_id) {
            return Err(StoreError::conflict(
                "schedule",
                schedule.schedule_id,
                "id already used",
            ));
        }
        inner
            .schedules
            .insert(schedule.schedule_id, schedule.clone());
        Ok(())
    }

    async fn update_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        let mut inner = self.lock();
        let slot = inner
            .schedules
            .get_mut(&schedule.schedule_id)
            .ok_or_else(|| StoreError::not_found("schedule", schedule.schedule_id))?;
        *slot = schedule.clone();
        Ok(())
    }

    async fn delete_schedule(&self, id: ScheduleId) -> StoreResult<()> {
        self.lock()
            .schedules
            .remove(&id)
            .map(drop)
            .ok_or_else(|| StoreError::not_found("schedule", id))
    }

    async fn get_schedule(&self, id: ScheduleId) -> StoreResult<Option<Schedule>> {
        Ok(self.lock().schedules.get(&id).cloned())
    }

    async fn schedules_for_device(&self, id: &DeviceId) -> StoreResult<Vec<Schedule>> {
        let inner = self.lock();
        let mut out: Vec<Schedule> = inner
            .schedules
            .values()
            .filter(|s| &s.device_id == id)
            .cloned()
            .collect();
        out.sort_by_key(|s| (s.created_at, s.schedule_id));
        Ok(out)
    }

    async fn active_schedules(&self) -> StoreResult<Vec<Schedule>> {
        let inner = self.lock();
        let mut out: Vec<Schedule> = inner
            .schedules
            .values()
            .filter(|s| s.is_active)
            .cloned()
            .collect();
        out.sort_by_key(|s| (s.created_at, s.schedule_id));
        Ok(out)
    }

    async fn insert_run(&self, run: &ScheduleRun) -> StoreResult<()> {
        let mut inner = self.lock();
        if inner.runs.contains_key(&run.run_id) {
            return Err(StoreError::conflict("run", run.run_id, "id already used"));
        }
        inner.runs.insert(run.run_id, run.clone());
        Ok(())
    }

    async fn runs_for_schedule(
        &self,
        id: ScheduleId,
        limit: Limit,
    ) -> StoreResult<Vec<ScheduleRun>> {
        let inner = self.lock();
        let mut out: Vec<ScheduleRun> = inner
            .runs
            .values()
            .filter(|r| r.schedule_id == id)
            .cloned()
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse((r.at, r.run_id)));
        out.truncate(limit.get() as usize);
        Ok(out)
    }
}

impl Inner {
    fn check_one_active(&self, p: &PreClean) -> StoreResult<()> {
        let clash = p.status == PreCleanStatus::Active
            && self.pre_cleans.values().any(|o| {
                o.device_id == p.device_id
                    && o.status == PreCleanStatus::Active
                    && o.pre_clean_id != p.pre_clean_id
            });
        if clash {
            return Err(StoreError::conflict(
                "preClean",
                p.pre_clean_id,
                "the device already has an active pre-clean",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl PreCleanRepo for MemoryStore {
    async fn insert_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()> {
        let mut inner = self.lock();
        if inner.pre_cleans.contains_key(&pre_clean.pre_clean_id) {
            return Err(StoreError::conflict(
                "preClean",
                pre_clean.pre_clean_id,
                "id already used",
            ));
        }
        inner.check_one_active(pre_clean)?;
        inner
            .pre_cleans
            .insert(pre_clean.pre_clean_id, pre_clean.clone());
        Ok(())
    }

    async fn update_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()> {
        let mut inner = self.lock();
        if !inner.pre_cleans.contains_key(&pre_clean.pre_clean_id) {
            return Err(StoreError::not_found("preClean", pre_clean.pre_clean_id));
        }
        inner.check_one_active(pre_clean)?;
        inner
            .pre_cleans
            .insert(pre_clean.pre_clean_id, pre_clean.clone());
        Ok(())
    }

    async fn delete_pre_clean(&self, id: PreCleanId) -> StoreResult<()> {
        self.lock()
            .pre_cleans
            .remove(&id)
            .map(drop)
            .ok_or_else(|| StoreError::not_found("preClean", id))
    }

    async fn get_pre_clean(&self, id: PreCleanId) -> StoreResult<Option<PreClean>> {
        Ok(self.lock().pre_cleans.get(&id).cloned())
    }

    async fn active_pre_clean(&self, id: &DeviceId) -> StoreResult<Option<PreClean>> {
        Ok(self
            .lock()
            .pre_cleans
            .values()
            .find(|p| &p.device_id == id && p.status == PreCleanStatus::Active)
            .cloned())
    }

    async fn active_pre_cleans(&self) -> StoreResult<Vec<PreClean>> {
        let inner = self.lock();
        let mut out: Vec<PreClean> = inner
            .pre_cleans
            .values()
            .filter(|p| p.status == PreCleanStatus::Active)
            .cloned()
            .collect();
        out.sort_by_key(|p| (p.ends_at, p.pre_clean_id));
        Ok(out)
    }

    async fn pre_clean_history(&self, id: &DeviceId, limit: Limit) -> StoreResult<Vec<PreClean>> {
        let inner = self.lock();
        let mut out: Vec<PreClean> = inner
            .pre_cleans
            .values()
            .filter(|p| &p.device_id == id)
            .cloned()
            .collect();
        out.sort_by_key(|p| std::cmp::Reverse((p.started_at, p.pre_clean_id)));
        out.truncate(limit.get() as usize);
        Ok(out)
    }
}

#[async_trait]
impl ControlRepo for MemoryStore {
    async fn get_control(&self, id: &DeviceId) -> StoreResult<Option<ControlState>> {
        Ok(self.lock().controls.get(id).cloned())
    }

    async fn put_control(&self, state: &ControlState) -> StoreResult<()> {
        self.lock()
            .controls
            .insert(state.device_id.clone(), state.clone());
        Ok(())
    }

    async fn control_states(&self) -> StoreResult<Vec<ControlState>> {
        Ok(self.lock().controls.values().cloned().collect())
    }
}

/// Removes at most `batch` entries of `map` whose value matches `expired`; returns how many.
fn purge_map<K: Clone + Eq + std::hash::Hash, V>(
    map: &mut HashMap<K, V>,
    batch: u32,
    expired: impl Fn(&V) -> bool,
) -> Vec<(K, V)> {
    let keys: Vec<K> = map
        .iter()
        .filter(|(_, v)| expired(v))
        .take(batch as usize)
        .map(|(k, _)| k.clone())
        .collect();
    keys.into_iter()
        .filter_map(|k| map.remove(&k).map(|v| (k, v)))
        .collect()
}

#[async_trait]
impl MaintenanceRepo for MemoryStore {
    async fn purge(&self, cutoffs: &RetentionCutoffs, batch: u32) -> StoreResult<PurgeOutcome> {
        let mut inner = self.lock();
        let mut out = PurgeOutcome::default();
        if let Some(cut) = cutoffs.readings_before {
            let mut left = u64::from(batch);
            for series in inner.readings.values_mut() {
                while left > 0 {
                    match series.first_key_value() {
                        Some((t, _)) if *t < cut => {
                            let t = *t;
                            series.remove(&t);
                            left -= 1;
                            out.readings += 1;
                        }
                        _ => break,
                    }
                }
            }
        }
        if let Some(cut) = cutoffs.commands_before {
            let gone = purge_map(&mut inner.commands, batch, |c| {
                c.status.is_terminal() && c.created_at < cut
            });
            out.commands = gone.len() as u64;
            for (_, c) in gone {
                if let Some(k) = c.idempotency_key {
                    inner.idempotency.remove(&(c.device_id, k));
                }
            }
            out.pre_cleans = purge_map(&mut inner.pre_cleans, batch, |p| {
                p.status != PreCleanStatus::Active && p.ended_at.unwrap_or(p.ends_at) < cut
            })
            .len() as u64;
        }
        if let Some(cut) = cutoffs.runs_before {
            out.runs = purge_map(&mut inner.runs, batch, |r| r.at < cut).len() as u64;
        }
        Ok(out)
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }
}
