//! [`ControlRepo`]: the control layers' intent, one JSON record per device.

use async_trait::async_trait;
use praan_core::{
    domain::{ControlState, DeviceId},
    store::{ControlRepo, StoreResult},
};

use crate::{
    SqliteStore,
    columns::{get_json, to_json},
    connections::ExecuteOn,
    error::db,
};

#[async_trait]
impl ControlRepo for SqliteStore {
    async fn get_control(&self, id: &DeviceId) -> StoreResult<Option<ControlState>> {
        let row = self
            .reader
            .run("reading a control state", async |c| {
                sqlx::query("SELECT record FROM control_states WHERE device_id = ?")
                    .bind(id.as_str())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(|r| get_json(r, "record")).transpose()
    }

    async fn put_control(&self, state: &ControlState) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO control_states (device_id, record) VALUES (?, ?) \
             ON CONFLICT (device_id) DO UPDATE SET record = excluded.record",
        )
        .bind(state.device_id.as_str())
        .bind(to_json(state)?)
        .execute_on(&self.writer)
        .await
        .map_err(db("storing a control state"))?;
        Ok(())
    }

    async fn control_states(&self) -> StoreResult<Vec<ControlState>> {
        let rows = self
            .reader
            .run("listing control states", async |c| {
                sqlx::query("SELECT record FROM control_states ORDER BY device_id")
                    .fetch_all(c)
                    .await
            })
            .await?;
        rows.iter().map(|r| get_json(r, "record")).collect()
    }
}
