//! [`TelemetryRepo`]: readings in `readings`; the latest state each batch implies goes to the
//! write-behind ([`crate::write_behind`]), which writes it to `device_states` in bulk.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use mongodb::{
    bson::{RawArrayBuf, RawDocumentBuf, doc, rawdoc},
    error::ErrorKind,
};
use praan_core::{
    domain::{DeviceId, Reading},
    store::{
        AppendOutcome, Cursor, Page, ReadingQuery, Statistics, StatsQuery, StoreResult,
        TelemetryRepo,
    },
};

use super::{all, decode, states::UPSERT_ATTEMPTS};
use crate::{
    MongoStore, collections, error, reading_document, records,
    write_behind::{self, Latest},
};

/// The most state updates sent in one `update` command (well under MongoDB's 16 MiB command and
/// 100,000-statement limits).
const STATE_UPDATES_PER_COMMAND: usize = 1_000;

impl MongoStore {
    /// Inserts `docs` unordered; returns which were stored (`false`: a duplicate of a stored
    /// reading). Any error but a duplicate key fails the whole call.
    async fn insert_readings(&self, docs: &[RawDocumentBuf]) -> StoreResult<Vec<bool>> {
        let mut stored = vec![true; docs.len()];
        let Err(err) = self.reading_docs.insert_many(docs).ordered(false).await else {
            return Ok(stored);
        };
        let context = || format!("inserting {} readings", docs.len());
        let ErrorKind::InsertMany(failure) = err.kind.as_ref() else {
            return Err(error::failed(err, context()));
        };
        let only_duplicates = failure.write_concern_error.is_none()
            && failure
                .write_errors
                .iter()
                .flatten()
                .all(|w| w.code == error::DUPLICATE_KEY);
        if !only_duplicates {
            return Err(error::failed(err, context()));
        }
        for w in failure.write_errors.iter().flatten() {
            if let Some(slot) = stored.get_mut(w.index) {
                *slot = false;
            }
        }
        Ok(stored)
    }

    /// Applies the state updates in bulk `update` commands of at most
    /// `STATE_UPDATES_PER_COMMAND` statements; statements that lost an upsert race to a
    /// concurrent writer are sent again.
    pub(crate) async fn update_states(
        &self,
        mut updates: Vec<(DeviceId, RawDocumentBuf)>,
    ) -> StoreResult<()> {
        for attempt in 1..=UPSERT_ATTEMPTS {
            let mut retry = Vec::new();
            for chunk in updates.chunks(STATE_UPDATES_PER_COMMAND) {
                let statements: RawArrayBuf = chunk.iter().map(|(_, u)| u.clone()).collect();
                let command = rawdoc! {
                    "update": collections::DEVICE_STATES,
                    "updates": statements,
                    "ordered": false,
                };
                let reply = self.db.run_raw_command(command).await.map_err(|e| {
                    error::failed(e, format!("updating the state of {} devices", chunk.len()))
                })?;
                if let Ok(wce) = reply.get_document("writeConcernError") {
                    let message = wce.get_str("errmsg").unwrap_or("unknown");
                    return Err(error::write_concern(message, "updating device states"));
                }
                for w in reply.get_array("writeErrors").into_iter().flatten() {
                    let w = w.as_document();
                    let code = w.and_then(|w| w.get_i32("code").ok()).unwrap_or(0);
                    let message = w.and_then(|w| w.get_str("errmsg").ok()).unwrap_or("");
                    let index = w
                        .and_then(|w| w.get_i32("index").ok())
                        .and_then(|i| usize::try_from(i).ok());
                    let Some(statement) = index.and_then(|i| chunk.get(i)) else {
                        return Err(error::from_write_error(
                            code,
                            message,
                            "device state",
                            "(unknown)",
                            "updating",
                        ));
                    };
                    if code == error::DUPLICATE_KEY && attempt < UPSERT_ATTEMPTS {
                        retry.push(statement.clone());
                    } else {
                        return Err(error::from_write_error(
                            code,
                            message,
                            "device state",
                            &statement.0,
                            "updating",
                        ));
                    }
                }
            }
            if retry.is_empty() {
                return Ok(());
            }
            updates = retry;
        }
        Ok(())
    }
}

#[async_trait]
impl TelemetryRepo for MongoStore {
    async fn append_readings(&self, readings: &[Reading]) -> StoreResult<AppendOutcome> {
        // Repeats within the batch are skipped here, so the first one is the one stored.
        let mut keys = HashSet::with_capacity(readings.len());
        let batch: Vec<&Reading> = readings
            .iter()
            .filter(|r| keys.insert((r.device_id(), r.timestamp())))
            .collect();
        let docs = batch
            .iter()
            .map(|r| reading_document(r))
            .collect::<StoreResult<Vec<_>>>()?;
        self.states_ready().await?;
        let Some(ticket) = self.begin_append(&batch).await? else {
            return Ok(AppendOutcome {
                inserted: 0,
                duplicates: readings.len() as u64,
            });
        };
        let stored = self.insert_readings(&docs).await?;

        // Once per device, from the readings stored now only: a skipped duplicate changes no
        // state.
        let mut latest: HashMap<&DeviceId, Latest<'_>> = HashMap::new();
        for ((r, doc), _) in batch.iter().zip(docs).zip(&stored).filter(|(_, s)| **s) {
            write_behind::combine(&mut latest, r.device_id(), Latest::new(r, doc));
        }
        let inserted = stored.iter().filter(|s| **s).count();
        self.finish_append(ticket, latest, inserted).await;

        let inserted = inserted as u64;
        Ok(AppendOutcome {
            inserted,
            duplicates: readings.len() as u64 - inserted,
        })
    }

    async fn readings(&self, id: &DeviceId, query: &ReadingQuery) -> StoreResult<Page<Reading>> {
        let upper = match (query.range.end, query.cursor.map(Cursor::timestamp)) {
            (Some(e), Some(c)) => Some(e.min(c)),
            (e, c) => e.or(c),
        };
        let mut timestamp = doc! {};
        if let Some(start) = query.range.start {
            timestamp.insert("$gte", records::to_bson(start));
        }
        if let Some(upper) = upper {
            timestamp.insert("$lt", records::to_bson(upper));
        }
        let mut filter = doc! { "deviceId": id.as_str() };
        if !timestamp.is_empty() {
            filter.insert("timestamp", timestamp);
        }
        let limit = query.limit.get() as usize;
        let doing = format!("reading the readings of device {id}");
        let cursor = self
            .readings
            .find(filter)
            .sort(doc! { "timestamp": -1 })
            .limit(limit as i64 + 1)
            .await
            .map_err(|e| error::failed(e, doing.clone()))?;
        let mut items: Vec<Reading> = all(cursor, "reading", &doing).await?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|r| Cursor::before(r.timestamp()))
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn latest_reading(&self, id: &DeviceId) -> StoreResult<Option<Reading>> {
        let doing = format!("reading the latest reading of device {id}");
        self.readings
            .find_one(doc! { "deviceId": id.as_str() })
            .sort(doc! { "timestamp": -1 })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "reading", &doing))
            .transpose()
    }

    async fn statistics(&self, id: &DeviceId, query: &StatsQuery) -> StoreResult<Statistics> {
        self.compute_statistics(id, query).await
    }
}
