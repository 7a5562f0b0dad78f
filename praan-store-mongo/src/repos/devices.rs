//! [`DeviceRepo`]: the registry in `devices`.

use async_trait::async_trait;
use mongodb::bson::doc;
use praan_core::{
    domain::{Device, DeviceId},
    store::{DeviceFilter, DeviceRepo, StoreError, StoreResult},
};

use super::{all, decode, to_bson, to_document};
use crate::{MongoStore, error, records::DeviceRecord};

#[async_trait]
impl DeviceRepo for MongoStore {
    async fn insert_device(&self, device: &Device) -> StoreResult<()> {
        self.devices
            .insert_one(DeviceRecord::from(device))
            .await
            .map(drop)
            .map_err(|e| error::on_record(e, "inserting", "device", &device.device_id))
    }

    async fn ensure_device(&self, device: &Device) -> StoreResult<bool> {
        let id = device.device_id.as_str();
        let mut record = to_document(&DeviceRecord::from(device), "a device")?;
        record.remove("_id");
        let upsert = self
            .devices
            .update_one(doc! { "_id": id }, doc! { "$setOnInsert": record })
            .upsert(true)
            .await;
        match upsert {
            Ok(result) => Ok(result.upserted_id.is_some()),
            // A concurrent registration of the same id won the insert.
            Err(e) if error::is_duplicate_key(&e) => Ok(false),
            Err(e) => Err(error::on_record(e, "registering", "device", id)),
        }
    }

    async fn update_device(&self, device: &Device) -> StoreResult<()> {
        let id = device.device_id.as_str();
        let result = self
            .devices
            .replace_one(doc! { "_id": id }, DeviceRecord::from(device))
            .await
            .map_err(|e| error::on_record(e, "updating", "device", id))?;
        if result.matched_count == 0 {
            return Err(StoreError::not_found("device", id));
        }
        Ok(())
    }

    async fn delete_device(&self, id: &DeviceId) -> StoreResult<()> {
        let key = doc! { "_id": id.as_str() };
        let fail = |e| error::on_record(e, "deleting", "device", id);
        // The state goes first and the record last, so a failure part-way leaves the device
        // registered and a retry finishes the job.
        let registered = self
            .devices
            .count_documents(key.clone())
            .limit(1)
            .await
            .map_err(fail)?;
        if registered == 0 {
            return Err(StoreError::not_found("device", id));
        }
        self.without_kept_state(id, async {
            self.states.delete_one(key.clone()).await.map_err(fail)
        })
        .await?;
        self.controls.delete_one(key.clone()).await.map_err(fail)?;
        let deleted = self.devices.delete_one(key).await.map_err(fail)?;
        if deleted.deleted_count == 0 {
            return Err(StoreError::not_found("device", id));
        }
        Ok(())
    }

    async fn get_device(&self, id: &DeviceId) -> StoreResult<Option<Device>> {
        let doing = format!("reading device {id}");
        self.devices
            .find_one(doc! { "_id": id.as_str() })
            .await
            .map_err(|e| error::failed(e, doing.clone()))?
            .map(|r| decode(r, "device", &doing))
            .transpose()
    }

    async fn list_devices(&self, filter: &DeviceFilter) -> StoreResult<Vec<Device>> {
        let mut query = doc! {};
        if let Some(status) = filter.status {
            query.insert("status", to_bson(&status, "a device status")?);
        }
        if let Some(device_type) = &filter.device_type {
            query.insert("type", device_type.as_str());
        }
        let doing = "listing devices";
        let cursor = self
            .devices
            .find(query)
            .sort(doc! { "_id": 1 })
            .await
            .map_err(|e| error::failed(e, doing))?;
        all(cursor, "device", doing).await
    }
}
