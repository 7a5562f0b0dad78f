//! [`PreCleanRepo`]: pre-cleans; the one-active-per-device rule is a partial unique index.

use async_trait::async_trait;
use praan_core::{
    domain::{DeviceId, FanState, PreClean, PreCleanDuration, PreCleanId},
    store::{Limit, PreCleanRepo, StoreError, StoreResult},
};
use sqlx::{Sqlite, query::Query, sqlite::SqliteArguments, sqlite::SqliteRow};

use crate::{
    SqliteStore,
    columns::{
        get, get_device_id, get_json, get_opt_json, get_opt_parsed, get_opt_ts, get_parsed,
        get_speed, get_ts, invalid_row, ms, opt_json, opt_ms, text, to_json,
    },
    connections::ExecuteOn,
    error::{db, write},
};

/// Binds the 13 columns `pre_clean_id, device_id, mode, target_power, target_speed,
/// duration_seconds, started_at, ends_at, status, ended_at, command_id, restore, replaced_by`.
fn bind_pre_clean<'q>(
    q: Query<'q, Sqlite, SqliteArguments>,
    p: &'q PreClean,
) -> StoreResult<Query<'q, Sqlite, SqliteArguments>> {
    Ok(q.bind(p.pre_clean_id.to_string())
        .bind(p.device_id.as_str())
        .bind(to_json(&p.mode)?)
        .bind(p.target.power_on)
        .bind(i64::from(p.target.fan_speed.get()))
        .bind(i64::from(p.duration_seconds.seconds()))
        .bind(ms(p.started_at))
        .bind(ms(p.ends_at))
        .bind(text(&p.status)?)
        .bind(opt_ms(p.ended_at))
        .bind(p.command_id.map(|c| c.to_string()))
        .bind(opt_json(p.restore.as_ref())?)
        .bind(p.replaced_by.map(|c| c.to_string())))
}

fn pre_clean_from_row(row: &SqliteRow) -> StoreResult<PreClean> {
    let seconds: i64 = get(row, "duration_seconds")?;
    // The stored duration was valid when written; the configurable maximum may have shrunk since,
    // so it is read back against the widest possible bound.
    let duration_seconds = u64::try_from(seconds)
        .map_err(|e| invalid_row("pre-clean", e))
        .and_then(|s| {
            PreCleanDuration::new(s, std::time::Duration::from_secs(u64::from(u32::MAX)))
                .map_err(|e| invalid_row("pre-clean", e))
        })?;
    Ok(PreClean {
        pre_clean_id: get_parsed(row, "pre_clean_id")?,
        device_id: get_device_id(row, "device_id")?,
        mode: get_json(row, "mode")?,
        target: FanState {
            power_on: get(row, "target_power")?,
            fan_speed: get_speed(row, "target_speed")?,
        },
        duration_seconds,
        started_at: get_ts(row, "started_at")?,
        ends_at: get_ts(row, "ends_at")?,
        status: get_parsed(row, "status")?,
        ended_at: get_opt_ts(row, "ended_at")?,
        command_id: get_opt_parsed(row, "command_id")?,
        restore: get_opt_json(row, "restore")?,
        replaced_by: get_opt_parsed(row, "replaced_by")?,
    })
}

fn pre_cleans_from_rows(rows: &[SqliteRow]) -> StoreResult<Vec<PreClean>> {
    rows.iter().map(pre_clean_from_row).collect()
}

/// A device's active pre-clean (the partial unique index `pre_cleans_one_active`): `?1` device.
pub(crate) const ACTIVE_OF_DEVICE_SQL: &str =
    "SELECT * FROM pre_cleans WHERE device_id = ?1 AND status = 'active'";
/// Every active pre-clean, soonest end first (the partial index `pre_cleans_active_by_end`).
pub(crate) const ACTIVE_SQL: &str =
    "SELECT * FROM pre_cleans WHERE status = 'active' ORDER BY ends_at, pre_clean_id";
/// A device's pre-cleans, newest first: `?1` device, `?2` limit.
pub(crate) const HISTORY_SQL: &str = "SELECT * FROM pre_cleans WHERE device_id = ?1 \
     ORDER BY started_at DESC, pre_clean_id DESC LIMIT ?2";

#[async_trait]
impl PreCleanRepo for SqliteStore {
    async fn insert_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO pre_cleans (pre_clean_id, device_id, mode, target_power, target_speed, \
             duration_seconds, started_at, ends_at, status, ended_at, command_id, restore, \
             replaced_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        bind_pre_clean(q, pre_clean)?
            .execute_on(&self.writer)
            .await
            .map_err(write(
                "preClean",
                pre_clean.pre_clean_id,
                "inserting a pre-clean",
            ))?;
        Ok(())
    }

    async fn update_pre_clean(&self, pre_clean: &PreClean) -> StoreResult<()> {
        let q = sqlx::query(
            "UPDATE pre_cleans SET (pre_clean_id, device_id, mode, target_power, target_speed, \
             duration_seconds, started_at, ends_at, status, ended_at, command_id, restore, \
             replaced_by) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE pre_clean_id = ?",
        );
        let done = bind_pre_clean(q, pre_clean)?
            .bind(pre_clean.pre_clean_id.to_string())
            .execute_on(&self.writer)
            .await
            .map_err(write(
                "preClean",
                pre_clean.pre_clean_id,
                "updating a pre-clean",
            ))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("preClean", pre_clean.pre_clean_id));
        }
        Ok(())
    }

    async fn delete_pre_clean(&self, id: PreCleanId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM pre_cleans WHERE pre_clean_id = ?")
            .bind(id.to_string())
            .execute_on(&self.writer)
            .await
            .map_err(db("deleting a pre-clean"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("preClean", id));
        }
        Ok(())
    }

    async fn get_pre_clean(&self, id: PreCleanId) -> StoreResult<Option<PreClean>> {
        let row = self
            .reader
            .run("reading a pre-clean", async |c| {
                sqlx::query("SELECT * FROM pre_cleans WHERE pre_clean_id = ?")
                    .bind(id.to_string())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(pre_clean_from_row).transpose()
    }

    async fn active_pre_clean(&self, id: &DeviceId) -> StoreResult<Option<PreClean>> {
        let row = self
            .reader
            .run("reading the active pre-clean", async |c| {
                sqlx::query(ACTIVE_OF_DEVICE_SQL)
                    .bind(id.as_str())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(pre_clean_from_row).transpose()
    }

    async fn active_pre_cleans(&self) -> StoreResult<Vec<PreClean>> {
        let rows = self
            .reader
            .run("listing active pre-cleans", async |c| {
                sqlx::query(ACTIVE_SQL).fetch_all(c).await
            })
            .await?;
        pre_cleans_from_rows(&rows)
    }

    async fn pre_clean_history(&self, id: &DeviceId, limit: Limit) -> StoreResult<Vec<PreClean>> {
        let rows = self
            .reader
            .run("listing a device's pre-cleans", async |c| {
                sqlx::query(HISTORY_SQL)
                    .bind(id.as_str())
                    .bind(i64::from(limit.get()))
                    .fetch_all(c)
                    .await
            })
            .await?;
        pre_cleans_from_rows(&rows)
    }
}
