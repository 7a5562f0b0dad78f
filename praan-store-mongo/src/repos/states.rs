//! [`StateRepo`]: observed state in `device_states`, written only by conditional, atomic
//! updates, so the newest report wins whatever the order of arrival, also for concurrent calls.
//! Reads apply what the write-behind keeps ([`crate::write_behind`]).

use async_trait::async_trait;
use mongodb::{
    bson::{Bson, DateTime, Document, doc},
    options::ReturnDocument,
};
use praan_core::{
    domain::{DeviceId, DeviceState, Presence, ReportedState, Timestamp},
    store::{StateRepo, StoreResult},
};

use super::{all, decode, to_bson};
use crate::{
    MongoStore, error,
    records::{self, PresenceRecord, ReportedRecord},
    write_behind,
};

/// How many times a write that lost an upsert race (a duplicate `_id`) is tried again. The server
/// retries such upserts itself; this covers the rest.
pub(super) const UPSERT_ATTEMPTS: usize = 3;

/// Whether a conditional update replaces the stored value: when the new instant is `Later` than
/// the stored one's, or `NotEarlier` (later or equal).
#[derive(Clone, Copy)]
enum Newer {
    Later,
    NotEarlier,
}

/// An aggregation expression: `value` if the document has no `field` or its `field.key` is older
/// than `at` (as `newer` says), else the stored `field` unchanged.
fn newest(field: &str, key: &str, at: DateTime, newer: Newer, value: Bson) -> Document {
    let stored = format!("${field}.{key}");
    let op = match newer {
        Newer::Later => "$gt",
        Newer::NotEarlier => "$gte",
    };
    doc! {
        "$cond": [
            { "$or": [
                { "$eq": [{ "$type": &stored }, "missing"] },
                { op: [at, &stored] },
            ] },
            { "$literal": value },
            format!("${field}"),
        ]
    }
}

impl MongoStore {
    /// Sets `field` of the device's state to `value` if `at` is newer than the stored
    /// `field.key` (creating the state if needed), atomically; returns whether it did.
    async fn keep_if_newer(
        &self,
        id: &DeviceId,
        field: &str,
        key: &str,
        at: Timestamp,
        newer: Newer,
        value: Bson,
    ) -> StoreResult<bool> {
        let at = records::to_bson(at);
        let update = vec![doc! { "$set": { field: newest(field, key, at, newer, value) } }];
        let mut attempt = 0;
        loop {
            attempt += 1;
            let before = self
                .state_docs
                .find_one_and_update(doc! { "_id": id.as_str() }, update.clone())
                .upsert(true)
                .return_document(ReturnDocument::Before)
                .projection(doc! { format!("{field}.{key}"): 1 })
                .await;
            match before {
                Ok(before) => {
                    let stored = before
                        .as_ref()
                        .and_then(|d| d.get_document(field).ok())
                        .and_then(|d| d.get_datetime(key).ok())
                        .copied();
                    return Ok(match (stored, newer) {
                        (None, _) => true,
                        (Some(s), Newer::Later) => at > s,
                        (Some(s), Newer::NotEarlier) => at >= s,
                    });
                }
                Err(e) if error::is_duplicate_key(&e) && attempt < UPSERT_ATTEMPTS => continue,
                Err(e) => return Err(error::on_record(e, "updating", "device state", id)),
            }
        }
    }
}

#[async_trait]
impl StateRepo for MongoStore {
    async fn device_state(&self, id: &DeviceId) -> StoreResult<Option<DeviceState>> {
        self.states_ready().await?;
        let kept = self.write_behind.kept(id);
        let doing = format!("reading the state of device {id}");
        let stored = self
            .states
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "device state", &doing))
            .transpose()?;
        Ok(write_behind::apply(id, stored, kept))
    }

    async fn device_states(&self) -> StoreResult<Vec<DeviceState>> {
        self.states_ready().await?;
        let kept = self.write_behind.all_kept();
        let doing = "listing device states";
        let cursor = self
            .states
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| error::failed(e, doing))?;
        let mut states = all(cursor, "device state", doing).await?;
        write_behind::apply_all(&mut states, kept);
        Ok(states)
    }

    async fn record_reported(&self, id: &DeviceId, reported: ReportedState) -> StoreResult<bool> {
        // Compared with the stored report, so what the device's readings imply must be there.
        self.states_ready().await?;
        self.flush_device(id).await?;
        let value = to_bson(&ReportedRecord::from(reported), "a reported state")?;
        self.keep_if_newer(
            id,
            records::state::REPORTED.as_str(),
            "at",
            reported.at,
            Newer::Later,
            value,
        )
        .await
    }

    async fn record_presence(&self, id: &DeviceId, presence: Presence) -> StoreResult<bool> {
        let value = to_bson(&PresenceRecord::from(presence), "a presence")?;
        self.keep_if_newer(
            id,
            records::state::PRESENCE.as_str(),
            "since",
            presence.since,
            Newer::NotEarlier,
            value,
        )
        .await
    }

    async fn record_seen(&self, id: &DeviceId, at: Timestamp) -> StoreResult<()> {
        let update = doc! { "$max": { records::state::LAST_SEEN.as_str(): records::to_bson(at) } };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .states
                .update_one(doc! { "_id": id.as_str() }, update.clone())
                .upsert(true)
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(e) if error::is_duplicate_key(&e) && attempt < UPSERT_ATTEMPTS => continue,
                Err(e) => return Err(error::on_record(e, "updating", "device state", id)),
            }
        }
    }
}
