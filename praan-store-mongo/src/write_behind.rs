//! Write-behind of the device states that readings imply.
//!
//! Each stored reading may raise its device's latest reading, reported state and last-seen time
//! in `device_states`. Updating those documents on every `append_readings` costs MongoDB more
//! than inserting the readings themselves (one document update per device per batch: 1,000
//! updates take about twice as long as inserting 1,000 readings, measured on mongod 6.0). So the
//! store keeps what the readings imply here, one entry per device, and writes the entries in
//! bulk, one update per device however many readings it sent:
//!
//! - every [`FLUSH_INTERVAL`] (a task the store starts with its first append, on its
//!   [`Clock`]; it ends, after a last flush, when every clone of the
//!   store is dropped);
//! - once [`FLUSH_AFTER_READINGS`] readings were appended since the last flush (by the
//!   `append_readings` call that crosses it), which bounds the memory kept;
//! - when the embedder calls [`MongoStore::flush_states`] (the example server does on shutdown);
//! - for one device, before `record_reported` compares a report with the stored one.
//!
//! The gain is the readings a device sends per interval: a fleet reporting once a second gains
//! little, one reporting faster (or a backlog after an outage) gains that many times.
//!
//! The entries are combined with the rules of the bulk update (`$max`): the newest reading by
//! timestamp, the newest report by its time (a recorded report wins a tie), the latest receipt.
//! Applying them twice, or in any order, gives the same state.
//!
//! **Reads are exact:** `device_state` and `device_states` apply the entries to what they read.
//!
//! **A crash loses nothing:** readings are stored (and acknowledged) before their entry exists,
//! and a watermark in [`STORE_META`](collections::STORE_META) gives the reading timestamp from
//! which the stored states may lag: every reading older than it is in `device_states`. Each praan
//! instance on a database keeps its own, named by [`MongoStore::with_instance`], and replays its
//! own when it starts again. It is
//! lowered (written) before a batch with an older reading is inserted, and raised or removed
//! after a flush. The first operation on states after a start replays the readings from the
//! watermark on (through the `timestamp` index) into `device_states`, for the registered devices
//! only, so a deleted device's readings do not bring its state back.
//!
//! **Several processes on one database** (praan instances behind a load balancer) see each
//! other's states at most [`FLUSH_INTERVAL`] late; each one's own reads are exact.

use std::{
    borrow::Cow,
    collections::{HashMap, HashSet, hash_map::Entry},
    hash::Hash,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use mongodb::bson::{Document, RawDocumentBuf, doc, rawdoc};
use praan_core::{
    clock::{Clock, SystemClock},
    domain::{DeviceId, DeviceState, Reading, ReportedState, Timestamp},
    store::StoreResult,
};

use crate::{
    MongoStore, collections, error, reading_document,
    records::{self, ReadingRecord, ReportedRecord},
};

/// How often the kept states are written: the longest another process reading the same
/// database sees a state late.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Readings appended since the last flush that make the `append_readings` call that reaches them
/// flush at once (a bound on what is kept in memory between two intervals).
pub const FLUSH_AFTER_READINGS: usize = 50_000;

/// The watermark's document in [`collections::STORE_META`] is `deviceStates/{instance}`; its field.
const WATERMARK_PREFIX: &str = "deviceStates/";
const REPLAY_FROM: &str = "replayFrom";

/// Device ids per `$in` when the replay looks up registered devices or the repair reads unsure
/// devices' readings (well under MongoDB's 16 MiB command limit at 64 bytes an id).
const IDS_PER_QUERY: usize = 10_000;

/// The instance name of a store that was given none (see [`MongoStore::with_instance`]).
pub const DEFAULT_INSTANCE: &str = "praan";

/// What stored readings imply for one device's state. Borrowed while a batch is combined, owned
/// once kept.
#[derive(Clone, Debug)]
pub(crate) struct Latest<'a> {
    /// The newest reading by timestamp, and its document.
    reading: Cow<'a, Reading>,
    document: Cow<'a, RawDocumentBuf>,
    /// The newest report (power and speed) among the readings.
    reported: Option<ReportedState>,
    /// The latest receipt among the readings.
    seen: Timestamp,
}

impl<'a> Latest<'a> {
    /// What one stored reading implies (`document`: the reading as stored).
    pub(crate) fn new(reading: &'a Reading, document: RawDocumentBuf) -> Self {
        Self::from_cows(Cow::Borrowed(reading), Cow::Owned(document))
    }

    fn from_cows(reading: Cow<'a, Reading>, document: Cow<'a, RawDocumentBuf>) -> Self {
        Self {
            reported: reading.reported_state(),
            seen: reading.received_at(),
            reading,
            document,
        }
    }

    /// Combines `other` into this, as the bulk update combines them in the collection.
    pub(crate) fn absorb(&mut self, other: Latest<'a>) {
        if other.reading.timestamp() > self.reading.timestamp() {
            self.reading = other.reading;
            self.document = other.document;
        }
        if let Some(rep) = other.reported
            && self.reported.is_none_or(|e| rep.at > e.at)
        {
            self.reported = Some(rep);
        }
        self.seen = self.seen.max(other.seen);
    }

    fn into_owned(self) -> Latest<'static> {
        Latest {
            reading: Cow::Owned(self.reading.into_owned()),
            document: Cow::Owned(self.document.into_owned()),
            reported: self.reported,
            seen: self.seen,
        }
    }

    /// The upsert of the device's state: one `$max` per field, so each only rises, atomically
    /// (MongoDB compares embedded documents field by field: a reading document's `deviceId` is
    /// the state's own, so its `timestamp` decides; a report's `at` comes first, and its `rank`
    /// keeps a stored report on a tie, see [`ReportedRecord`]).
    pub(crate) fn update(&self, id: &DeviceId) -> RawDocumentBuf {
        use records::state::{LAST_SEEN, LATEST_READING, REPORTED};
        let seen = records::to_bson(self.seen);
        let latest = self.document.as_ref().clone();
        let max = match self.reported {
            Some(rep) => rawdoc! {
                LAST_SEEN: seen,
                LATEST_READING: latest,
                REPORTED: ReportedRecord::from_reading(rep),
            },
            None => rawdoc! { LAST_SEEN: seen, LATEST_READING: latest },
        };
        rawdoc! {
            "q": { "_id": id.as_str() },
            "u": { "$max": max },
            "upsert": true,
        }
    }

    /// `state` (as read from the collection) as the update would leave it.
    fn apply_to(&self, state: &mut DeviceState) {
        if state
            .latest_reading
            .as_ref()
            .is_none_or(|r| self.reading.timestamp() > r.timestamp())
        {
            state.latest_reading = Some(self.reading.as_ref().clone());
        }
        if let Some(rep) = self.reported
            && state.reported.is_none_or(|s| rep.at > s.at)
        {
            state.reported = Some(rep);
        }
        state.last_seen = Some(state.last_seen.map_or(self.seen, |s| s.max(self.seen)));
    }
}

/// Clears the interval task's flag when the task ends or is dropped (its runtime shut down), so
/// the next append starts another.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The states not yet written, the appends under way, and the watermark as last written.
#[derive(Debug)]
pub(crate) struct WriteBehind {
    inner: Mutex<Inner>,
    /// Times the interval flushes.
    clock: Arc<dyn Clock>,
    /// The `_id` of this process's watermark document.
    watermark_id: String,
    /// Whether the interval task runs (reset when it ends, also with its runtime).
    ticking: Arc<AtomicBool>,
    /// One bulk flush at a time.
    flushing: tokio::sync::Mutex<()>,
    /// The watermark as last written (`None`: no document); held while it is written.
    watermark: tokio::sync::Mutex<Option<Timestamp>>,
    /// Set once the readings from a previous process's watermark were replayed.
    replayed: tokio::sync::OnceCell<()>,
}

#[derive(Debug, Default)]
struct Inner {
    devices: HashMap<DeviceId, Unflushed>,
    /// Appends under way (inserting): ticket → the batch's oldest reading timestamp.
    appending: HashMap<u64, Timestamp>,
    next_ticket: u64,
    /// Raised by every flush; an entry changed after a flush began carries a higher one.
    generation: u64,
    /// Readings kept since the last bulk flush began.
    since_flush: usize,
    /// The newest timestamp of every reading kept.
    newest: Option<Timestamp>,
    /// Per device, the oldest reading of appends that ended without keeping their states (a
    /// failed or cancelled insert may still have stored some of them, and a retry sees those as
    /// duplicates): the next flush keeps what that device's stored readings from there imply
    /// (see [`MongoStore::repair`]), and the watermark stays at or below them until then.
    unsure: HashMap<DeviceId, Timestamp>,
}

#[derive(Debug)]
struct Unflushed {
    latest: Latest<'static>,
    /// The oldest timestamp of the readings combined into it.
    oldest: Timestamp,
    generation: u64,
}

/// An append under way: keeps the watermark at or below its oldest reading until its readings
/// are kept as states. Dropped without that, it marks its devices unsure.
pub(crate) struct AppendTicket<'a> {
    write_behind: &'a WriteBehind,
    batch: &'a [&'a Reading],
    /// The batch's oldest reading timestamp.
    oldest: Timestamp,
    id: u64,
}

impl Drop for AppendTicket<'_> {
    fn drop(&mut self) {
        let mut inner = self.write_behind.lock();
        if inner.appending.remove(&self.id).is_some() {
            for r in self.batch {
                let at = r.timestamp();
                inner
                    .unsure
                    .entry(r.device_id().clone())
                    .and_modify(|t| *t = (*t).min(at))
                    .or_insert(at);
            }
        }
    }
}

impl Default for WriteBehind {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock), DEFAULT_INSTANCE)
    }
}

impl WriteBehind {
    /// A write-behind whose interval flushes follow `clock`, for the praan instance `instance`.
    pub(crate) fn new(clock: Arc<dyn Clock>, instance: &str) -> Self {
        Self {
            inner: Mutex::default(),
            clock,
            watermark_id: format!("{WATERMARK_PREFIX}{instance}"),
            ticking: Arc::default(),
            flushing: tokio::sync::Mutex::default(),
            watermark: tokio::sync::Mutex::default(),
            replayed: tokio::sync::OnceCell::default(),
        }
    }

    /// The clock its interval flushes follow.
    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// The instance it keeps the watermark of.
    pub(crate) fn instance(&self) -> &str {
        self.watermark_id
            .strip_prefix(WATERMARK_PREFIX)
            .unwrap_or(&self.watermark_id)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers an append of `batch` (not empty: else `None`).
    fn begin<'a>(&'a self, batch: &'a [&'a Reading]) -> Option<AppendTicket<'a>> {
        let timestamps = batch.iter().map(|r| r.timestamp());
        let (oldest, newest) = (timestamps.clone().min()?, timestamps.max()?);
        let mut inner = self.lock();
        inner.newest = Some(inner.newest.map_or(newest, |n| n.max(newest)));
        let id = inner.next_ticket;
        inner.next_ticket += 1;
        inner.appending.insert(id, oldest);
        Some(AppendTicket {
            write_behind: self,
            batch,
            oldest,
            id,
        })
    }

    /// Keeps what a batch's stored readings imply (`readings` of them); ends its ticket. Returns
    /// whether a bulk flush is due.
    fn keep<'b>(
        &self,
        ticket: AppendTicket<'_>,
        latest: impl IntoIterator<Item = (&'b DeviceId, Latest<'b>)>,
        readings: usize,
    ) -> bool {
        let mut inner = self.lock();
        let Some(oldest) = inner.appending.get(&ticket.id).copied() else {
            return false;
        };
        Self::keep_entries(&mut inner, latest, oldest);
        inner.since_flush += readings;
        inner.appending.remove(&ticket.id);
        let due = inner.since_flush >= FLUSH_AFTER_READINGS;
        drop(inner);
        drop(ticket);
        due
    }

    /// Combines `latest` into the entries, as readings from `oldest` on.
    fn keep_entries<'b>(
        inner: &mut Inner,
        latest: impl IntoIterator<Item = (&'b DeviceId, Latest<'b>)>,
        oldest: Timestamp,
    ) {
        let generation = inner.generation;
        for (id, l) in latest {
            match inner.devices.get_mut(id) {
                Some(entry) => {
                    entry.latest.absorb(l.into_owned());
                    entry.oldest = entry.oldest.min(oldest);
                    entry.generation = generation;
                }
                None => {
                    let latest = l.into_owned();
                    let entry = Unflushed {
                        latest,
                        oldest,
                        generation,
                    };
                    inner.devices.insert(id.clone(), entry);
                }
            }
        }
    }

    /// The unsure devices, each with the oldest reading to look at again.
    fn unsure(&self) -> Vec<(DeviceId, Timestamp)> {
        let inner = self.lock();
        inner.unsure.iter().map(|(d, t)| (d.clone(), *t)).collect()
    }

    /// Keeps what the stored readings of the `unsure` devices imply (`latest`, read from
    /// `oldest` on), and clears those devices unless a newer failure marked them again.
    fn repaired(
        &self,
        unsure: &[(DeviceId, Timestamp)],
        latest: &HashMap<DeviceId, Latest<'static>>,
        oldest: Timestamp,
    ) {
        let mut inner = self.lock();
        let found = latest.iter().map(|(id, l)| (id, l.clone()));
        Self::keep_entries(&mut inner, found, oldest);
        for (id, at) in unsure {
            if inner.unsure.get(id) == Some(at) {
                inner.unsure.remove(id);
            }
        }
    }

    /// Every entry's update, and the generation they belong to (see [`Self::forget`]).
    fn snapshot(&self) -> (u64, Vec<(DeviceId, RawDocumentBuf)>) {
        let mut inner = self.lock();
        let generation = inner.generation;
        inner.generation += 1;
        inner.since_flush = 0;
        let updates = inner
            .devices
            .iter()
            .map(|(id, e)| (id.clone(), e.latest.update(id)))
            .collect();
        (generation, updates)
    }

    /// One device's update and its generation, if it has an entry.
    fn snapshot_device(&self, id: &DeviceId) -> Option<(u64, RawDocumentBuf)> {
        let mut inner = self.lock();
        let generation = inner.generation;
        let update = inner.devices.get(id)?.latest.update(id);
        inner.generation += 1;
        Some((generation, update))
    }

    /// Drops the entries (of `only` that device) written by a flush of `generation` and not
    /// changed since.
    fn forget(&self, generation: u64, only: Option<&DeviceId>) {
        let mut inner = self.lock();
        match only {
            Some(id) => {
                if inner
                    .devices
                    .get(id)
                    .is_some_and(|e| e.generation <= generation)
                {
                    inner.devices.remove(id);
                }
            }
            None => inner.devices.retain(|_, e| e.generation > generation),
        }
    }

    fn discard(&self, id: &DeviceId) {
        self.lock().devices.remove(id);
    }

    /// The watermark the entries and appends under way need: their oldest reading timestamp.
    /// With none, the newest reading timestamp kept so far: the states of all readings are
    /// written, and a later batch (newer, as a rule) then needs no new watermark.
    fn replay_from(&self) -> Option<Timestamp> {
        let inner = self.lock();
        let appending = inner.appending.values().copied();
        let kept = inner.devices.values().map(|e| e.oldest);
        let unsure = inner.unsure.values().copied();
        let needed = appending.chain(kept).chain(unsure).min();
        needed.or(inner.newest)
    }

    /// A copy of the device's entry, to apply to its state read *after* taking it: an entry a
    /// flush writes and forgets meanwhile is then in the state read or in the copy.
    pub(crate) fn kept(&self, id: &DeviceId) -> Option<Latest<'static>> {
        self.lock().devices.get(id).map(|e| e.latest.clone())
    }

    /// Copies of every entry, as [`Self::kept`] for all devices.
    pub(crate) fn all_kept(&self) -> Vec<(DeviceId, Latest<'static>)> {
        let inner = self.lock();
        inner
            .devices
            .iter()
            .map(|(id, e)| (id.clone(), e.latest.clone()))
            .collect()
    }
}

/// Combines `l` into what `latest` holds for device `id`.
pub(crate) fn combine<'a, K: Eq + Hash>(latest: &mut HashMap<K, Latest<'a>>, id: K, l: Latest<'a>) {
    match latest.entry(id) {
        Entry::Occupied(kept) => kept.into_mut().absorb(l),
        Entry::Vacant(slot) => {
            slot.insert(l);
        }
    }
}

/// What the readings of `cursor` imply, per device.
async fn latest_of(
    cursor: &mut mongodb::Cursor<ReadingRecord>,
    doing: &str,
) -> StoreResult<HashMap<DeviceId, Latest<'static>>> {
    let mut latest: HashMap<DeviceId, Latest<'static>> = HashMap::new();
    while cursor
        .advance()
        .await
        .map_err(|e| error::failed(e, doing.to_owned()))?
    {
        let record: ReadingRecord = cursor
            .deserialize_current()
            .map_err(|e| error::failed(e, format!("decoding a reading while {doing}")))?;
        let reading = Reading::try_from(record)
            .map_err(|e| error::corrupt(e, format!("decoding a reading while {doing}")))?;
        let document = reading_document(&reading)?;
        let id = reading.device_id().clone();
        combine(
            &mut latest,
            id,
            Latest::from_cows(Cow::Owned(reading), Cow::Owned(document)),
        );
    }
    Ok(latest)
}

/// `stored` (a device's state as read) with `kept` (its entry, copied before the read) applied.
pub(crate) fn apply(
    id: &DeviceId,
    stored: Option<DeviceState>,
    kept: Option<Latest<'static>>,
) -> Option<DeviceState> {
    let Some(kept) = kept else {
        return stored;
    };
    let mut state = stored.unwrap_or_else(|| DeviceState::empty(id.clone()));
    kept.apply_to(&mut state);
    Some(state)
}

/// `states` (every stored state, by device id) with `kept` (copied before the read) applied;
/// devices with only an entry join in id order.
pub(crate) fn apply_all(states: &mut Vec<DeviceState>, kept: Vec<(DeviceId, Latest<'static>)>) {
    let stored = states.len();
    for (id, latest) in kept {
        let found = states.get(..stored).and_then(|s| {
            s.binary_search_by(|s| s.device_id.as_str().cmp(id.as_str()))
                .ok()
        });
        match found.and_then(|i| states.get_mut(i)) {
            Some(state) => latest.apply_to(state),
            None => {
                let mut state = DeviceState::empty(id);
                latest.apply_to(&mut state);
                states.push(state);
            }
        }
    }
    if states.len() > stored {
        states.sort_by(|a, b| a.device_id.as_str().cmp(b.device_id.as_str()));
    }
}

impl MongoStore {
    /// Writes every device state kept back by the write-behind (see the
    /// [module documentation](crate::write_behind)) to `device_states`, then updates the
    /// watermark. `append_readings` does this itself every
    /// [`FLUSH_AFTER_READINGS`] readings; call it before a clean shutdown so the next start
    /// has nothing to replay.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`](praan_core::store::StoreError::Unavailable) or
    /// [`StoreError::Backend`](praan_core::store::StoreError::Backend) when MongoDB fails; the
    /// states stay kept and a later flush writes them.
    pub async fn flush_states(&self) -> StoreResult<()> {
        self.states_ready().await?;
        let _one = self.write_behind.flushing.lock().await;
        self.repair().await?;
        let (generation, updates) = self.write_behind.snapshot();
        if !updates.is_empty() {
            self.update_states(updates).await?;
            self.write_behind.forget(generation, None);
        }
        self.sync_watermark().await
    }

    /// Writes one device's kept state, if it has one.
    pub(crate) async fn flush_device(&self, id: &DeviceId) -> StoreResult<()> {
        let _one = self.write_behind.flushing.lock().await;
        let Some((generation, update)) = self.write_behind.snapshot_device(id) else {
            return Ok(());
        };
        self.update_states(vec![(id.clone(), update)]).await?;
        self.write_behind.forget(generation, Some(id));
        Ok(())
    }

    /// Runs `delete` (removing a device's stored state) with the device's kept entry dropped and
    /// no flush under way, so that no flush writes the state back after it.
    pub(crate) async fn without_kept_state<T>(
        &self,
        id: &DeviceId,
        delete: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        self.states_ready().await?;
        let _no_flush = self.write_behind.flushing.lock().await;
        self.write_behind.discard(id);
        delete.await
    }

    /// Replays the readings a previous process left unflushed, once per store, before the first
    /// operation on states.
    pub(crate) async fn states_ready(&self) -> StoreResult<()> {
        self.write_behind
            .replayed
            .get_or_try_init(|| self.replay())
            .await
            .map(drop)
    }

    /// Registers an append of `batch` (`None` when it is empty), first lowering the stored
    /// watermark if it is above the batch's oldest reading.
    pub(crate) async fn begin_append<'a>(
        &'a self,
        batch: &'a [&'a Reading],
    ) -> StoreResult<Option<AppendTicket<'a>>> {
        let Some(ticket) = self.write_behind.begin(batch) else {
            return Ok(None);
        };
        let mut written = self.write_behind.watermark.lock().await;
        if written.is_none_or(|w| ticket.oldest < w) {
            let doing = format!(
                "inserting {} readings (writing the device-state watermark)",
                batch.len()
            );
            self.write_watermark(&mut written, &doing).await?;
        }
        Ok(Some(ticket))
    }

    /// Keeps what an append's stored readings imply, and flushes when that is due. A failed
    /// flush does not fail the append (its readings are stored): the states stay kept, the
    /// failure is logged, and the next flush writes them.
    pub(crate) async fn finish_append<'b>(
        &self,
        ticket: AppendTicket<'_>,
        latest: impl IntoIterator<Item = (&'b DeviceId, Latest<'b>)>,
        readings: usize,
    ) {
        let due = self.write_behind.keep(ticket, latest, readings);
        self.start_interval_flushes();
        if due {
            self.flush_logged().await;
        }
    }

    async fn flush_logged(&self) {
        if let Err(e) = self.flush_states().await {
            tracing::warn!(error = %e, "writing the kept device states failed; they stay kept");
        }
    }

    /// Starts the task that flushes every [`FLUSH_INTERVAL`], once per store (on the current
    /// Tokio runtime; without one, only the other flushes happen). It holds a clone of the
    /// store, and ends after a last flush once that clone is the only one left.
    fn start_interval_flushes(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.write_behind.ticking.swap(true, Ordering::AcqRel) {
            return;
        }
        let store = self.clone();
        let running = Running(Arc::clone(&self.write_behind.ticking));
        runtime.spawn(async move {
            let _running = running;
            loop {
                let clock = &store.write_behind.clock;
                clock
                    .sleep_until(clock.now().saturating_add(FLUSH_INTERVAL))
                    .await;
                let last = Arc::strong_count(&store.write_behind) == 1;
                store.flush_logged().await;
                if last {
                    return;
                }
            }
        });
    }

    async fn sync_watermark(&self) -> StoreResult<()> {
        let mut written = self.write_behind.watermark.lock().await;
        self.write_watermark(&mut written, "writing the device-state watermark")
            .await
    }

    /// Writes the watermark the write-behind needs now, unless it is the one `written`.
    async fn write_watermark(
        &self,
        written: &mut Option<Timestamp>,
        doing: &str,
    ) -> StoreResult<()> {
        let wanted = self.write_behind.replay_from();
        if wanted == *written {
            return Ok(());
        }
        // Until the write is known to have landed, believe the higher of the two (none is
        // highest): a failed or cancelled write may still have been applied, and a later batch
        // must then lower it again.
        *written = match (*written, wanted) {
            (Some(old), Some(new)) => Some(old.max(new)),
            _ => None,
        };
        let meta = self.db.collection::<Document>(collections::STORE_META);
        let key = doc! { "_id": &self.write_behind.watermark_id };
        let done = match wanted {
            Some(at) => meta
                .update_one(key, doc! { "$set": { REPLAY_FROM: records::to_bson(at) } })
                .upsert(true)
                .await
                .map(drop),
            None => meta.delete_one(key).await.map(drop),
        };
        done.map_err(|e| error::failed(e, doing.to_owned()))?;
        *written = wanted;
        Ok(())
    }

    /// Keeps what the stored readings of the unsure devices imply (see `Inner::unsure`).
    async fn repair(&self) -> StoreResult<()> {
        let unsure = self.write_behind.unsure();
        let Some(oldest) = unsure.iter().map(|(_, t)| *t).min() else {
            return Ok(());
        };
        let doing = format!("reading again the readings of {} devices", unsure.len());
        let mut latest = HashMap::new();
        for chunk in unsure.chunks(IDS_PER_QUERY) {
            let ids: Vec<&str> = chunk.iter().map(|(d, _)| d.as_str()).collect();
            let from = chunk.iter().map(|(_, t)| *t).min().unwrap_or(oldest);
            let filter = doc! {
                "deviceId": { "$in": ids },
                "timestamp": { "$gte": records::to_bson(from) },
            };
            let mut cursor = self
                .readings
                .find(filter)
                .await
                .map_err(|e| error::failed(e, doing.clone()))?;
            latest.extend(latest_of(&mut cursor, &doing).await?);
        }
        self.write_behind.repaired(&unsure, &latest, oldest);
        Ok(())
    }

    /// Brings `device_states` up to date with the readings at or after the stored watermark.
    async fn replay(&self) -> StoreResult<()> {
        let meta = self.db.collection::<Document>(collections::STORE_META);
        let doing = "reading the device-state watermark";
        let stored = meta
            .find_one(doc! { "_id": &self.write_behind.watermark_id })
            .await
            .map_err(|e| error::failed(e, doing))?;
        let Some(from) = stored.and_then(|d| d.get_datetime(REPLAY_FROM).ok().copied()) else {
            return Ok(());
        };
        let from_ts =
            records::to_timestamp(from).map_err(|e| error::corrupt(e, doing.to_owned()))?;
        *self.write_behind.watermark.lock().await = Some(from_ts);

        let doing = format!("replaying the readings from {from_ts} into the device states");
        let mut cursor = self
            .readings
            .find(doc! { "timestamp": { "$gte": from } })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?;
        let latest = latest_of(&mut cursor, &doing).await?;

        let ids: Vec<&str> = latest.keys().map(DeviceId::as_str).collect();
        let devices = self.db.collection::<Document>(collections::DEVICES);
        let mut registered: HashSet<String> = HashSet::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let found = devices
                .distinct("_id", doc! { "_id": { "$in": chunk } })
                .await
                .map_err(|e| error::failed(e, doing.clone()))?;
            registered.extend(
                found
                    .into_iter()
                    .filter_map(|id| id.as_str().map(str::to_owned)),
            );
        }
        let updates: Vec<_> = latest
            .iter()
            .filter(|(id, _)| registered.contains(id.as_str()))
            .map(|(id, l)| (id.clone(), l.update(id)))
            .collect();
        if !updates.is_empty() {
            self.update_states(updates).await?;
        }
        self.sync_watermark().await
    }
}

#[cfg(test)]
mod tests {
    use praan_core::domain::{FanSpeed, PerMetric};

    use super::*;

    fn id(s: &str) -> DeviceId {
        DeviceId::new(s).expect("a device id")
    }

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(1_766_829_600_000 + ms).expect("an instant")
    }

    /// A reading at `at`, received at `received`, reporting `speed`.
    fn reading(device: &str, at: i64, received: i64, speed: Option<u8>) -> Reading {
        Reading::new(
            id(device),
            t(at),
            t(received),
            PerMetric::default(),
            speed.map(|s| FanSpeed::new(s).expect("a speed")),
            speed.map(|_| true),
        )
        .expect("a reading")
    }

    /// Keeps `readings` as one append would.
    fn keep(wb: &WriteBehind, readings: &[Reading]) -> bool {
        let batch: Vec<&Reading> = readings.iter().collect();
        let ticket = wb.begin(&batch).expect("readings");
        let latest = readings.iter().map(|r| {
            let doc = reading_document(r).expect("a document");
            (r.device_id(), Latest::new(r, doc))
        });
        wb.keep(ticket, latest, readings.len())
    }

    fn state(wb: &WriteBehind, device: &str) -> DeviceState {
        apply(&id(device), None, wb.kept(&id(device))).expect("a kept state")
    }

    #[test]
    fn combining_keeps_the_newest_reading_and_report_and_the_latest_receipt() {
        let wb = WriteBehind::default();
        keep(&wb, &[reading("a", 2_000, 2_100, Some(2))]);
        keep(&wb, &[reading("a", 1_000, 9_000, Some(5))]);
        let s = state(&wb, "a");
        assert_eq!(s.latest_reading.map(|r| r.timestamp()), Some(t(2_000)));
        assert_eq!(s.reported.map(|r| r.at), Some(t(2_000)));
        assert_eq!(s.last_seen, Some(t(9_000)));

        // A stored state that is newer stays as it is, except for a later receipt.
        let mut stored = DeviceState::empty(id("a"));
        stored.latest_reading = Some(reading("a", 3_000, 3_100, None));
        stored.last_seen = Some(t(3_100));
        let merged = apply(&id("a"), Some(stored), wb.kept(&id("a"))).expect("a state");
        assert_eq!(merged.latest_reading.map(|r| r.timestamp()), Some(t(3_000)));
        assert_eq!(merged.last_seen, Some(t(9_000)));
        assert_eq!(merged.reported.map(|r| r.at), Some(t(2_000)));
    }

    #[test]
    fn a_flush_forgets_only_the_entries_not_changed_since_it_began() {
        let wb = WriteBehind::default();
        keep(
            &wb,
            &[
                reading("a", 1_000, 1_000, None),
                reading("b", 1_000, 1_000, None),
            ],
        );
        let (generation, updates) = wb.snapshot();
        assert_eq!(updates.len(), 2);
        keep(&wb, &[reading("b", 2_000, 2_000, None)]);
        wb.forget(generation, None);
        assert!(wb.kept(&id("a")).is_none(), "a was written");
        assert_eq!(
            state(&wb, "b").latest_reading.map(|r| r.timestamp()),
            Some(t(2_000)),
            "b changed during the flush and stays kept"
        );
    }

    #[test]
    fn an_append_that_ends_without_keeping_marks_its_devices_unsure_until_repaired() {
        let wb = WriteBehind::default();
        keep(&wb, &[reading("a", 5_000, 5_000, None)]);
        let failed = [
            reading("b", 2_000, 2_000, None),
            reading("b", 3_000, 3_000, None),
        ];
        let batch: Vec<&Reading> = failed.iter().collect();
        drop(wb.begin(&batch));
        let (generation, _) = wb.snapshot();
        wb.forget(generation, None);
        assert_eq!(wb.unsure(), [(id("b"), t(2_000))]);
        assert_eq!(wb.replay_from(), Some(t(2_000)), "held until repaired");

        let found = HashMap::from([(
            id("b"),
            Latest::from_cows(
                Cow::Owned(failed[0].clone()),
                Cow::Owned(reading_document(&failed[0]).expect("a document")),
            ),
        )]);
        wb.repaired(&wb.unsure(), &found, t(2_000));
        assert!(wb.unsure().is_empty());
        assert!(
            wb.kept(&id("b")).is_some(),
            "its stored reading is kept now"
        );
    }

    #[test]
    fn the_watermark_covers_appends_under_way_and_kept_entries() {
        let wb = WriteBehind::default();
        assert_eq!(wb.replay_from(), None, "nothing appended yet");
        keep(&wb, &[reading("a", 5_000, 5_000, None)]);
        assert_eq!(wb.replay_from(), Some(t(5_000)));
        let readings = [reading("a", 1_000, 1_000, None)];
        let batch: Vec<&Reading> = readings.iter().collect();
        let late = wb.begin(&batch).expect("a reading");
        assert_eq!(wb.replay_from(), Some(t(1_000)), "an append under way");
        assert!(!wb.keep(late, [], 0));
        assert_eq!(wb.replay_from(), Some(t(5_000)), "a kept append ends");
        let (generation, _) = wb.snapshot();
        wb.forget(generation, None);
        assert_eq!(
            wb.replay_from(),
            Some(t(5_000)),
            "all written: the newest reading, which later batches are not older than"
        );
    }

    #[test]
    fn kept_devices_join_the_listing_in_id_order() {
        let wb = WriteBehind::default();
        keep(
            &wb,
            &[
                reading("b", 1_000, 1_000, None),
                reading("d", 1_000, 1_000, None),
            ],
        );
        let mut states = vec![DeviceState::empty(id("a")), DeviceState::empty(id("c"))];
        apply_all(&mut states, wb.all_kept());
        let ids: Vec<&str> = states.iter().map(|s| s.device_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
        wb.discard(&id("b"));
        assert!(wb.kept(&id("b")).is_none(), "discarded");
    }

    #[test]
    fn a_flush_is_due_after_enough_readings() {
        let wb = WriteBehind::default();
        let batch: Vec<Reading> = (0..FLUSH_AFTER_READINGS / 2)
            .map(|i| reading("a", i64::try_from(i).expect("small"), 0, None))
            .collect();
        assert!(!keep(&wb, &batch));
        assert!(keep(&wb, &batch), "the second half reaches the threshold");
        let _ = wb.snapshot();
        assert!(!keep(&wb, &batch[..1]), "a snapshot starts the count again");
    }
}
