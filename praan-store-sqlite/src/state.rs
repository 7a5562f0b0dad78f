//! [`StateRepo`]: each device's observed state, one row, every rule "newest wins" decided in SQL
//! by the upsert itself, so concurrent writers cannot lose an update.

use async_trait::async_trait;
use praan_core::{
    domain::{DeviceId, DeviceState, FanState, Presence, ReportedState, Timestamp},
    store::{StateRepo, StoreResult},
};
use sqlx::sqlite::SqliteRow;

use crate::{
    SqliteStore,
    columns::{get, get_device_id, get_opt_parsed, get_opt_ts, get_speed, invalid_row, ms, text},
    connections::ExecuteOn,
    error::db,
    telemetry::{LATEST, reading_from_columns},
};

fn state_from_row(row: &SqliteRow) -> StoreResult<DeviceState> {
    let reported = match get_opt_ts(row, "reported_at")? {
        Some(at) => Some(ReportedState {
            state: FanState {
                power_on: get(row, "reported_power")?,
                fan_speed: get_speed(row, "reported_speed")?,
            },
            at,
        }),
        None => None,
    };
    let presence = match get_opt_ts(row, "presence_since")? {
        Some(since) => Some(Presence {
            online: get(row, "presence_online")?,
            since,
            reason: get_opt_parsed(row, "presence_reason")?
                .ok_or_else(|| invalid_row("device state", "presence without a reason"))?,
        }),
        None => None,
    };
    let device_id = get_device_id(row, "device_id")?;
    let latest_reading = reading_from_columns(row, &LATEST, &device_id)?;
    Ok(DeviceState {
        device_id,
        reported,
        presence,
        last_seen: get_opt_ts(row, "last_seen")?,
        latest_reading,
    })
}

#[async_trait]
impl StateRepo for SqliteStore {
    async fn device_state(&self, id: &DeviceId) -> StoreResult<Option<DeviceState>> {
        let row = self
            .reader
            .run("reading a device state", async |c| {
                sqlx::query("SELECT * FROM device_state WHERE device_id = ?")
                    .bind(id.as_str())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(state_from_row).transpose()
    }

    async fn device_states(&self) -> StoreResult<Vec<DeviceState>> {
        let rows = self
            .reader
            .run("listing device states", async |c| {
                sqlx::query("SELECT * FROM device_state ORDER BY device_id")
                    .fetch_all(c)
                    .await
            })
            .await?;
        rows.iter().map(state_from_row).collect()
    }

    async fn record_reported(&self, id: &DeviceId, reported: ReportedState) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO device_state (device_id, reported_power, reported_speed, reported_at) \
             VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET \
             reported_power = excluded.reported_power, \
             reported_speed = excluded.reported_speed, \
             reported_at = excluded.reported_at \
             WHERE device_state.reported_at IS NULL \
             OR excluded.reported_at > device_state.reported_at",
        )
        .bind(id.as_str())
        .bind(reported.state.power_on)
        .bind(i64::from(reported.state.fan_speed.get()))
        .bind(ms(reported.at))
        .execute_on(&self.writer)
        .await
        .map_err(db("recording a reported state"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_presence(&self, id: &DeviceId, presence: Presence) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO device_state (device_id, presence_online, presence_since, presence_reason) \
             VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET \
             presence_online = excluded.presence_online, \
             presence_since = excluded.presence_since, \
             presence_reason = excluded.presence_reason \
             WHERE device_state.presence_since IS NULL \
             OR excluded.presence_since >= device_state.presence_since",
        )
        .bind(id.as_str())
        .bind(presence.online)
        .bind(ms(presence.since))
        .bind(text(&presence.reason)?)
        .execute_on(&self.writer)
        .await
        .map_err(db("recording a presence"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_seen(&self, id: &DeviceId, at: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO device_state (device_id, last_seen) VALUES (?, ?) \
             ON CONFLICT (device_id) DO UPDATE SET last_seen = excluded.last_seen \
             WHERE device_state.last_seen IS NULL OR excluded.last_seen > device_state.last_seen",
        )
        .bind(id.as_str())
        .bind(ms(at))
        .execute_on(&self.writer)
        .await
        .map_err(db("recording last seen"))?;
        Ok(())
    }
}
