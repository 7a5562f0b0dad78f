//! [`ControlRepo`]: the control layers' intent in `control_states`.

use async_trait::async_trait;
use mongodb::bson::doc;
use praan_core::{
    domain::{ControlState, DeviceId},
    store::{ControlRepo, StoreResult},
};

use super::{all, decode, states::UPSERT_ATTEMPTS};
use crate::{MongoStore, error, records::ControlRecord};

#[async_trait]
impl ControlRepo for MongoStore {
    async fn get_control(&self, id: &DeviceId) -> StoreResult<Option<ControlState>> {
        let doing = format!("reading the control state of device {id}");
        self.controls
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "control state", &doing))
            .transpose()
    }

    async fn put_control(&self, state: &ControlState) -> StoreResult<()> {
        let id = state.device_id.as_str();
        let record = ControlRecord::from(state);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .controls
                .replace_one(doc! { "_id": id }, &record)
                .upsert(true)
                .await;
            match result {
                Ok(_) => return Ok(()),
                // Lost an upsert race to a concurrent first write: replace what it wrote.
                Err(e) if error::is_duplicate_key(&e) && attempt < UPSERT_ATTEMPTS => continue,
                Err(e) => return Err(error::on_record(e, "writing", "control state", id)),
            }
        }
    }

    async fn control_states(&self) -> StoreResult<Vec<ControlState>> {
        let doing = "listing control states";
        let cursor = self
            .controls
            .find(doc! {})
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| error::failed(e, doing))?;
        all(cursor, "control state", doing).await
    }
}
