//! The indexes every query relies on, the unique indexes that enforce the store's rules, and the
//! TTL indexes that enforce retention: [`MongoStore::ensure_indexes`].

use std::time::Duration;

use mongodb::{
    IndexModel,
    bson::{Document, doc},
    options::IndexOptions,
};
use praan_core::{
    domain::PreCleanStatus,
    store::{StoreError, StoreResult},
};

use crate::{MongoStore, RetentionConfig, collections, error};

/// Unique `(deviceId, timestamp)` on readings: deduplication, and every reading query.
pub(crate) const READING_KEY: &str = "device_timestamp_unique";
/// Unique `(deviceId, idempotencyKey)` on commands that carry a key.
pub(crate) const IDEMPOTENCY_KEY: &str = "one_idempotency_key_per_device";
/// Unique `deviceId` on active pre-cleans.
pub(crate) const ONE_ACTIVE_PRE_CLEAN: &str = "one_active_pre_clean_per_device";

/// MongoDB's longest TTL, in seconds.
const MAX_TTL_SECONDS: u64 = i32::MAX as u64;

/// `IndexOptionsConflict`, `IndexKeySpecsConflict`: an index of that name exists with other
/// options (here: another TTL).
const INDEX_CONFLICT_CODES: &[i32] = &[85, 86];

/// A secondary index.
struct Index {
    collection: &'static str,
    name: &'static str,
    keys: Document,
    unique: bool,
    partial: Option<Document>,
}

impl Index {
    fn new(collection: &'static str, name: &'static str, keys: Document) -> Self {
        Self {
            collection,
            name,
            keys,
            unique: false,
            partial: None,
        }
    }

    fn unique(mut self, partial: Option<Document>) -> Self {
        self.unique = true;
        self.partial = partial;
        self
    }

    fn model(&self) -> IndexModel {
        let options = IndexOptions::builder()
            .name(self.name.to_owned())
            .unique(self.unique.then_some(true))
            .partial_filter_expression(self.partial.clone())
            .build();
        IndexModel::builder()
            .keys(self.keys.clone())
            .options(options)
            .build()
    }
}

/// Every secondary index but the TTL ones. Ids (`_id`) are the records' own ids.
fn indexes() -> Vec<Index> {
    use collections::*;
    let active = PreCleanStatus::Active;
    vec![
        Index::new(
            READINGS,
            READING_KEY,
            doc! { "deviceId": 1, "timestamp": 1 },
        )
        .unique(None),
        Index::new(
            COMMANDS,
            "device_created",
            doc! { "deviceId": 1, "createdAt": 1, "_id": 1 },
        ),
        // Unfinished commands: `status` in (pending, sent), by `createdAt`.
        Index::new(
            COMMANDS,
            "status_created",
            doc! { "status": 1, "createdAt": 1, "_id": 1 },
        ),
        Index::new(
            COMMANDS,
            IDEMPOTENCY_KEY,
            doc! { "deviceId": 1, "idempotencyKey": 1 },
        )
        .unique(Some(doc! { "idempotencyKey": { "$type": "string" } })),
        Index::new(
            SCHEDULES,
            "device_created",
            doc! { "deviceId": 1, "createdAt": 1, "_id": 1 },
        ),
        Index::new(
            SCHEDULES,
            "active_created",
            doc! { "isActive": 1, "createdAt": 1, "_id": 1 },
        ),
        Index::new(
            SCHEDULE_RUNS,
            "schedule_at",
            doc! { "scheduleId": 1, "at": 1, "_id": 1 },
        ),
        Index::new(PRE_CLEANS, ONE_ACTIVE_PRE_CLEAN, doc! { "deviceId": 1 })
            .unique(Some(doc! { "status": status_name(active) })),
        Index::new(
            PRE_CLEANS,
            "device_started",
            doc! { "deviceId": 1, "startedAt": 1, "_id": 1 },
        ),
        Index::new(
            PRE_CLEANS,
            "status_ends",
            doc! { "status": 1, "endsAt": 1, "_id": 1 },
        ),
    ]
}

/// How a pre-clean status is stored.
pub(crate) fn status_name(status: PreCleanStatus) -> &'static str {
    match status {
        PreCleanStatus::Active => "active",
        PreCleanStatus::Completed => "completed",
        PreCleanStatus::Cancelled => "cancelled",
        PreCleanStatus::Replaced => "replaced",
    }
}

/// A TTL index: documents expire `retention` after the datetime in `field` (documents without
/// it never expire).
struct Ttl {
    collection: &'static str,
    name: &'static str,
    field: &'static str,
    what: &'static str,
    retention: Duration,
}

fn ttls(retention: &RetentionConfig) -> [Ttl; 4] {
    use collections::*;
    [
        Ttl {
            collection: READINGS,
            name: "timestamp_ttl",
            field: "timestamp",
            what: "readings",
            retention: retention.readings,
        },
        Ttl {
            collection: COMMANDS,
            name: "retention_ttl",
            field: "retentionStart",
            what: "commands",
            retention: retention.commands,
        },
        Ttl {
            collection: PRE_CLEANS,
            name: "retention_ttl",
            field: "retentionStart",
            what: "pre-cleans (the commands period)",
            retention: retention.commands,
        },
        Ttl {
            collection: SCHEDULE_RUNS,
            name: "at_ttl",
            field: "at",
            what: "schedule runs",
            retention: retention.runs,
        },
    ]
}

impl Ttl {
    /// The period in whole seconds (rounded up), if MongoDB accepts it.
    fn seconds(&self) -> StoreResult<u64> {
        let secs = self.retention.as_secs() + u64::from(self.retention.subsec_nanos() > 0);
        if secs > MAX_TTL_SECONDS {
            return Err(StoreError::Backend {
                context: format!(
                    "creating the TTL index of {}: the retention of {secs} s is longer than \
                     MongoDB's longest TTL ({MAX_TTL_SECONDS} s)",
                    self.what
                )
                .into(),
                source: "retention too long for a TTL index".into(),
            });
        }
        Ok(secs)
    }

    fn model(&self, seconds: u64) -> IndexModel {
        let options = IndexOptions::builder()
            .name(self.name.to_owned())
            .expire_after(Duration::from_secs(seconds))
            // Only the records that can expire carry the field; the others stay out of the index.
            .sparse(true)
            .build();
        IndexModel::builder()
            .keys(doc! { self.field: 1 })
            .options(options)
            .build()
    }
}

impl MongoStore {
    /// Creates every index the store relies on, and the TTL indexes for `retention`; updates the
    /// TTL of existing ones when `retention` changed. Idempotent: call it at every start.
    ///
    /// - `readings`: unique `{deviceId, timestamp}` (deduplication and every reading query);
    ///   TTL on `timestamp`.
    /// - `commands`: `{deviceId, createdAt, _id}` (a device's commands); `{status, createdAt,
    ///   _id}` (unfinished commands); unique `{deviceId, idempotencyKey}` where `idempotencyKey`
    ///   is a string; TTL on `retentionStart` (set only on terminal commands).
    /// - `schedules`: `{deviceId, createdAt, _id}`; `{isActive, createdAt, _id}`.
    /// - `schedule_runs`: `{scheduleId, at, _id}`; TTL on `at`.
    /// - `pre_cleans`: unique `{deviceId}` where `status` is `active` (one active per device);
    ///   `{deviceId, startedAt, _id}`; `{status, endsAt, _id}`; TTL on `retentionStart` (set only
    ///   once finished) with the commands period.
    /// - `devices`, `device_states`, `control_states`: keyed by device id (`_id`).
    ///
    /// Builds on a large existing collection take a while; MongoDB builds them without blocking
    /// reads and writes.
    ///
    /// Then, after a process stopped without [`flush_states`](Self::flush_states), it replays
    /// the readings whose states that process kept back into `device_states` (see
    /// [`write_behind`](crate::write_behind)); otherwise the first operation on states would.
    pub async fn ensure_indexes(&self, retention: &RetentionConfig) -> StoreResult<()> {
        let ttls = ttls(retention);
        let seconds = ttls
            .iter()
            .map(Ttl::seconds)
            .collect::<StoreResult<Vec<u64>>>()?;
        let all = indexes();
        let mut names: Vec<&'static str> = all.iter().map(|i| i.collection).collect();
        names.dedup();
        for collection in names {
            let models: Vec<IndexModel> = all
                .iter()
                .filter(|i| i.collection == collection)
                .map(Index::model)
                .collect();
            self.database()
                .collection::<Document>(collection)
                .create_indexes(models)
                .await
                .map_err(|e| error::failed(e, format!("creating the indexes of {collection}")))?;
        }
        for (ttl, seconds) in ttls.iter().zip(seconds) {
            self.ensure_ttl(ttl, seconds).await?;
        }
        self.states_ready().await
    }

    /// Creates a TTL index, or changes the period of the existing one.
    async fn ensure_ttl(&self, ttl: &Ttl, seconds: u64) -> StoreResult<()> {
        let context = || format!("creating the TTL index of {}", ttl.what);
        let created = self
            .database()
            .collection::<Document>(ttl.collection)
            .create_index(ttl.model(seconds))
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(e) if error::code(&e).is_some_and(|c| INDEX_CONFLICT_CODES.contains(&c)) => {
                let command = doc! {
                    "collMod": ttl.collection,
                    "index": { "name": ttl.name, "expireAfterSeconds": seconds as i64 },
                };
                self.database()
                    .run_command(command)
                    .await
                    .map(drop)
                    .map_err(|e| error::failed(e, context()))
            }
            Err(e) => Err(error::failed(e, context())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_periods_are_whole_seconds_within_mongodbs_limit() {
        let mut config = RetentionConfig {
            readings: Duration::from_millis(1_500),
            ..RetentionConfig::default()
        };
        let [readings, commands, pre_cleans, runs] = ttls(&config);
        assert_eq!(readings.seconds().unwrap(), 2);
        assert_eq!(commands.seconds().unwrap(), 30 * 86_400);
        assert_eq!(pre_cleans.seconds().unwrap(), 30 * 86_400);
        assert_eq!(runs.seconds().unwrap(), 30 * 86_400);
        config.runs = Duration::from_secs(MAX_TTL_SECONDS + 1);
        let [.., runs] = ttls(&config);
        assert!(matches!(runs.seconds(), Err(StoreError::Backend { .. })));
    }

    #[test]
    fn pre_clean_status_names_are_the_stored_ones() {
        for status in [
            PreCleanStatus::Active,
            PreCleanStatus::Completed,
            PreCleanStatus::Cancelled,
            PreCleanStatus::Replaced,
        ] {
            let stored = mongodb::bson::serialize_to_bson(&status).unwrap();
            assert_eq!(stored.as_str(), Some(status_name(status)));
        }
    }

    #[test]
    fn index_names_are_unique_per_collection() {
        let all = indexes();
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert!(
                    a.collection != b.collection || a.name != b.name,
                    "{} {}",
                    a.collection,
                    a.name
                );
            }
        }
        // Collections are grouped, so one createIndexes call per collection holds all of its.
        let mut seen: Vec<&str> = Vec::new();
        for i in &all {
            if seen.last() != Some(&i.collection) {
                assert!(
                    !seen.contains(&i.collection),
                    "{} not grouped",
                    i.collection
                );
                seen.push(i.collection);
            }
        }
    }
}
