//! [`MaintenanceRepo`]: bounded purges (MongoDB's TTL indexes normally expire records on their
//! own; `purge` serves callers that want a cutoff now) and the health check.

use async_trait::async_trait;
use mongodb::{
    Collection,
    bson::{Bson, Document, doc},
};
use praan_core::store::{MaintenanceRepo, PurgeOutcome, RetentionCutoffs, StoreResult};

use crate::{MongoStore, collections, error, records};

impl MongoStore {
    /// Deletes at most `batch` documents of `collection` whose `field` is before `cutoff`.
    async fn purge_before(
        &self,
        collection: &'static str,
        field: &'static str,
        cutoff: praan_core::domain::Timestamp,
        batch: u32,
    ) -> StoreResult<u64> {
        if batch == 0 {
            return Ok(0);
        }
        let coll: Collection<Document> = self.db.collection(collection);
        let expired = doc! { field: { "$lt": records::to_bson(cutoff) } };
        let context = || format!("purging {collection}");
        let mut cursor = coll
            .find(expired.clone())
            .projection(doc! { "_id": 1 })
            .limit(i64::from(batch))
            .await
            .map_err(|e| error::failed(e, context()))?;
        let mut ids: Vec<Bson> = Vec::new();
        while cursor
            .advance()
            .await
            .map_err(|e| error::failed(e, context()))?
        {
            let d = cursor
                .deserialize_current()
                .map_err(|e| error::failed(e, context()))?;
            if let Some(id) = d.get("_id") {
                ids.push(id.clone());
            }
        }
        if ids.is_empty() {
            return Ok(0);
        }
        let mut filter = expired;
        filter.insert("_id", doc! { "$in": ids });
        let deleted = coll
            .delete_many(filter)
            .await
            .map_err(|e| error::failed(e, context()))?;
        Ok(deleted.deleted_count)
    }
}

#[async_trait]
impl MaintenanceRepo for MongoStore {
    async fn purge(&self, cutoffs: &RetentionCutoffs, batch: u32) -> StoreResult<PurgeOutcome> {
        use collections::*;
        let mut out = PurgeOutcome::default();
        if let Some(cut) = cutoffs.readings_before {
            out.readings = self.purge_before(READINGS, "timestamp", cut, batch).await?;
        }
        if let Some(cut) = cutoffs.commands_before {
            // `retentionStart` is set only on terminal commands (to `createdAt`) and finished
            // pre-cleans (to `endedAt`, or `endsAt`): the purge rule, shared with the TTL indexes.
            out.commands = self
                .purge_before(COMMANDS, "retentionStart", cut, batch)
                .await?;
            out.pre_cleans = self
                .purge_before(PRE_CLEANS, "retentionStart", cut, batch)
                .await?;
        }
        if let Some(cut) = cutoffs.runs_before {
            out.runs = self.purge_before(SCHEDULE_RUNS, "at", cut, batch).await?;
        }
        Ok(out)
    }

    async fn ping(&self) -> StoreResult<()> {
        self.ping_database()
            .await
            .map_err(|e| error::failed(e, "pinging MongoDB"))
    }
}
