//! [`PreCleanRepo`]: `pre_cleans`; at most one active per device, enforced by a unique partial
//! index so two concurrent starts cannot both succeed.

use async_trait::async_trait;
use mongodb::bson::doc;
use praan_core::{
    domain::{DeviceId, PreClean, PreCleanId, PreCleanStatus},
    store::{Limit, PreCleanRepo, StoreError, StoreResult},
};

use super::{all, decode};
use crate::{MongoStore, error, indexes::status_name, records::PreCleanRecord};

#[async_trait]
impl PreCleanRepo for MongoStore {
    async fn insert_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()> {
        self.pre_cleans
            .insert_one(PreCleanRecord::from(pre_clean))
            .await
            .map(drop)
            .map_err(|e| error::on_record(e, "inserting", "preClean", pre_clean.pre_clean_id))
    }

    async fn update_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()> {
        let id = pre_clean.pre_clean_id;
        let result = self
            .pre_cleans
            .replace_one(
                doc! { "_id": id.to_string() },
                PreCleanRecord::from(pre_clean),
            )
            .await
            .map_err(|e| error::on_record(e, "updating", "preClean", id))?;
        if result.matched_count == 0 {
            return Err(StoreError::not_found("preClean", id));
        }
        Ok(())
    }

    async fn delete_pre_clean(&self, id: PreCleanId) -> StoreResult<()> {
        let result = self
            .pre_cleans
            .delete_one(doc! { "_id": id.to_string() })
            .await
            .map_err(|e| error::on_record(e, "deleting", "preClean", id))?;
        if result.deleted_count == 0 {
            return Err(StoreError::not_found("preClean", id));
        }
        Ok(())
    }

    async fn get_pre_clean(&self, id: PreCleanId) -> StoreResult<Option<PreClean>> {
        let doing = format!("reading pre-clean {id}");
        self.pre_cleans
            .find_one(doc! { "_id": id.to_string() })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "pre-clean", &doing))
            .transpose()
    }

    async fn active_pre_clean(&self, id: &DeviceId) -> StoreResult<Option<PreClean>> {
        let doing = format!("reading the active pre-clean of device {id}");
        let active = status_name(PreCleanStatus::Active);
        self.pre_cleans
            .find_one(doc! { "deviceId": id.as_str(), "status": active })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "pre-clean", &doing))
            .transpose()
    }

    async fn active_pre_cleans(&self) -> StoreResult<Vec<PreClean>> {
        let doing = "listing active pre-cleans";
        let cursor = self
            .pre_cleans
            .find(doc! { "status": status_name(PreCleanStatus::Active) })
            .sort(doc! { "endsAt": 1, "_id": 1 })
            .await
            .map_err(|e| error::failed(e, doing))?;
        all(cursor, "pre-clean", doing).await
    }

    async fn pre_clean_history(&self, id: &DeviceId, limit: Limit) -> StoreResult<Vec<PreClean>> {
        let doing = format!("listing the pre-cleans of device {id}");
        let cursor = self
            .pre_cleans
            .find(doc! { "deviceId": id.as_str() })
            .sort(doc! { "startedAt": -1, "_id": -1 })
            .limit(i64::from(limit.get()))
            .await
            .map_err(|e| error::failed(e, doing.clone()))?;
        all(cursor, "pre-clean", &doing).await
    }
}
