//! [`DeviceRepo`]: the device registry, one row per device.

use async_trait::async_trait;
use praan_core::{
    domain::{Device, DeviceId, Specifications},
    store::{DeviceFilter, DeviceRepo, StoreError, StoreResult},
};
use sqlx::{Sqlite, query::Query, sqlite::SqliteArguments, sqlite::SqliteRow};

use crate::{
    SqliteStore,
    columns::{
        get, get_device_id, get_opt_parsed, get_parsed, get_speed, get_ts, invalid_row, ms, text,
    },
    connect::begin_write,
    connections::ExecuteOn,
    error::{db, write},
};

/// The values of `device` for the 11 columns `device_id, name, device_type, location,
/// max_fan_speed, model, firmware_version, status, auto_registered, registered_at, updated_at`,
/// in order.
fn bind_device<'q>(
    q: Query<'q, Sqlite, SqliteArguments>,
    d: &'q Device,
) -> StoreResult<Query<'q, Sqlite, SqliteArguments>> {
    Ok(q.bind(d.device_id.as_str())
        .bind(d.name.as_str())
        .bind(d.device_type.as_str())
        .bind(d.location.as_ref().map(|l| l.as_str()))
        .bind(i64::from(d.specifications.max_fan_speed.get()))
        .bind(d.specifications.model.as_ref().map(|l| l.as_str()))
        .bind(
            d.specifications
                .firmware_version
                .as_ref()
                .map(|l| l.as_str()),
        )
        .bind(text(&d.status)?)
        .bind(d.auto_registered)
        .bind(ms(d.registered_at))
        .bind(ms(d.updated_at)))
}

fn device_from_row(row: &SqliteRow) -> StoreResult<Device> {
    let max_fan_speed = get_speed(row, "max_fan_speed")?;
    if max_fan_speed.is_off() {
        return Err(invalid_row("device", "max_fan_speed is 0"));
    }
    Ok(Device {
        device_id: get_device_id(row, "device_id")?,
        name: get_parsed(row, "name")?,
        device_type: get_parsed(row, "device_type")?,
        location: get_opt_parsed(row, "location")?,
        specifications: Specifications {
            max_fan_speed,
            model: get_opt_parsed(row, "model")?,
            firmware_version: get_opt_parsed(row, "firmware_version")?,
        },
        status: get_parsed(row, "status")?,
        auto_registered: get(row, "auto_registered")?,
        registered_at: get_ts(row, "registered_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

/// Devices of one status, by id: `?1` status.
pub(crate) const BY_STATUS_SQL: &str = "SELECT * FROM devices WHERE status = ?1 ORDER BY device_id";
/// Devices of one type, by id: `?1` type.
pub(crate) const BY_TYPE_SQL: &str =
    "SELECT * FROM devices WHERE device_type = ?1 ORDER BY device_id";
/// Devices of one status and type, by id: `?1` status, `?2` type.
pub(crate) const BY_STATUS_AND_TYPE_SQL: &str =
    "SELECT * FROM devices WHERE status = ?1 AND device_type = ?2 ORDER BY device_id";

#[async_trait]
impl DeviceRepo for SqliteStore {
    async fn insert_device(&self, device: &Device) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO devices (device_id, name, device_type, location, max_fan_speed, model, \
             firmware_version, status, auto_registered, registered_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        bind_device(q, device)?
            .execute_on(&self.writer)
            .await
            .map_err(write("device", &device.device_id, "inserting a device"))?;
        Ok(())
    }

    async fn ensure_device(&self, device: &Device) -> StoreResult<bool> {
        let q = sqlx::query(
            "INSERT INTO devices (device_id, name, device_type, location, max_fan_speed, model, \
             firmware_version, status, auto_registered, registered_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO NOTHING",
        );
        let done = bind_device(q, device)?
            .execute_on(&self.writer)
            .await
            .map_err(db("registering a device"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn update_device(&self, device: &Device) -> StoreResult<()> {
        let q = sqlx::query(
            "UPDATE devices SET (device_id, name, device_type, location, max_fan_speed, model, \
             firmware_version, status, auto_registered, registered_at, updated_at) = \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE device_id = ?",
        );
        let done = bind_device(q, device)?
            .bind(device.device_id.as_str())
            .execute_on(&self.writer)
            .await
            .map_err(db("updating a device"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("device", &device.device_id));
        }
        Ok(())
    }

    async fn delete_device(&self, id: &DeviceId) -> StoreResult<()> {
        let context = "deleting a device";
        let spans = &self.spans;
        self.writer
            .run_store(context, async |c| {
                let mut tx = begin_write(c, context).await?;
                let done = sqlx::query("DELETE FROM devices WHERE device_id = ?")
                    .bind(id.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db(context))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::not_found("device", id));
                }
                for sql in [
                    "DELETE FROM device_state WHERE device_id = ?",
                    "DELETE FROM control_states WHERE device_id = ?",
                    // The rolled-up span went with the state row: its rollups go too.
                    crate::rollups::FORGET_DEVICE,
                ] {
                    sqlx::query(sql)
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(db(context))?;
                }
                // A miss reloads the (now empty) span from the database.
                crate::rollups::forget_cached(spans, id.as_str());
                tx.commit().await.map_err(db(context))
            })
            .await
    }

    async fn get_device(&self, id: &DeviceId) -> StoreResult<Option<Device>> {
        let row = self
            .reader
            .run("reading a device", async |c| {
                sqlx::query("SELECT * FROM devices WHERE device_id = ?")
                    .bind(id.as_str())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(device_from_row).transpose()
    }

    async fn list_devices(&self, filter: &DeviceFilter) -> StoreResult<Vec<Device>> {
        let status = filter.status.as_ref().map(text).transpose()?;
        // One statement per filter shape, so each uses its index.
        let q = match (status, filter.device_type.as_deref()) {
            (None, None) => sqlx::query("SELECT * FROM devices ORDER BY device_id"),
            (Some(s), None) => sqlx::query(BY_STATUS_SQL).bind(s),
            (None, Some(t)) => sqlx::query(BY_TYPE_SQL).bind(t),
            (Some(s), Some(t)) => sqlx::query(BY_STATUS_AND_TYPE_SQL).bind(s).bind(t),
        };
        let rows = self
            .reader
            .run("listing devices", async |c| q.fetch_all(c).await)
            .await?;
        rows.iter().map(device_from_row).collect()
    }
}
