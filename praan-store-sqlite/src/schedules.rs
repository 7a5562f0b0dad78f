//! [`ScheduleRepo`]: schedules (the rule as the JSON of the domain's `RuleSpec`) and their runs.

use async_trait::async_trait;
use praan_core::{
    domain::{DeviceId, RuleSpec, Schedule, ScheduleId, ScheduleRun, Timezone},
    store::{Limit, ScheduleRepo, StoreError, StoreResult},
};
use sqlx::sqlite::SqliteRow;

use crate::{
    SqliteStore,
    columns::{
        get, get_device_id, get_json, get_opt_parsed, get_parsed, get_ts, invalid_row, ms, text,
        to_json,
    },
    connections::ExecuteOn,
    error::{db, write},
};

fn schedule_from_row(row: &SqliteRow) -> StoreResult<Schedule> {
    let spec: RuleSpec = get_json(row, "rule")?;
    if spec.timezone.is_none() {
        return Err(invalid_row("schedule", "the rule has no time zone"));
    }
    Ok(Schedule {
        schedule_id: get_parsed(row, "schedule_id")?,
        device_id: get_device_id(row, "device_id")?,
        rule: spec
            .build(Timezone::UTC)
            .map_err(|e| invalid_row("schedule", e))?,
        is_active: get(row, "is_active")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

fn run_from_row(row: &SqliteRow) -> StoreResult<ScheduleRun> {
    Ok(ScheduleRun {
        run_id: get_parsed(row, "run_id")?,
        schedule_id: get_parsed(row, "schedule_id")?,
        device_id: get_device_id(row, "device_id")?,
        boundary: get_parsed(row, "boundary")?,
        at: get_ts(row, "at")?,
        outcome: get_parsed(row, "outcome")?,
        command_id: get_opt_parsed(row, "command_id")?,
    })
}

fn schedules_from_rows(rows: &[SqliteRow]) -> StoreResult<Vec<Schedule>> {
    rows.iter().map(schedule_from_row).collect()
}

/// A device's schedules, oldest first: `?1` device.
pub(crate) const BY_DEVICE_SQL: &str =
    "SELECT * FROM schedules WHERE device_id = ?1 ORDER BY created_at, schedule_id";
/// Every enabled schedule (the partial index `schedules_active`).
pub(crate) const ACTIVE_SQL: &str =
    "SELECT * FROM schedules WHERE is_active = 1 ORDER BY created_at, schedule_id";
/// A schedule's runs, newest first: `?1` schedule, `?2` limit.
pub(crate) const RUNS_SQL: &str = "SELECT * FROM schedule_runs WHERE schedule_id = ?1 \
     ORDER BY at DESC, run_id DESC LIMIT ?2";

#[async_trait]
impl ScheduleRepo for SqliteStore {
    async fn insert_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO schedules (schedule_id, device_id, rule, is_active, created_at, \
             updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(schedule.schedule_id.to_string())
        .bind(schedule.device_id.as_str())
        .bind(to_json(&RuleSpec::of_rule(&schedule.rule))?)
        .bind(schedule.is_active)
        .bind(ms(schedule.created_at))
        .bind(ms(schedule.updated_at))
        .execute_on(&self.writer)
        .await
        .map_err(write(
            "schedule",
            schedule.schedule_id,
            "inserting a schedule",
        ))?;
        Ok(())
    }

    async fn update_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE schedules SET device_id = ?, rule = ?, is_active = ?, created_at = ?, \
             updated_at = ? WHERE schedule_id = ?",
        )
        .bind(schedule.device_id.as_str())
        .bind(to_json(&RuleSpec::of_rule(&schedule.rule))?)
        .bind(schedule.is_active)
        .bind(ms(schedule.created_at))
        .bind(ms(schedule.updated_at))
        .bind(schedule.schedule_id.to_string())
        .execute_on(&self.writer)
        .await
        .map_err(db("updating a schedule"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("schedule", schedule.schedule_id));
        }
        Ok(())
    }

    async fn delete_schedule(&self, id: ScheduleId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM schedules WHERE schedule_id = ?")
            .bind(id.to_string())
            .execute_on(&self.writer)
            .await
            .map_err(db("deleting a schedule"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("schedule", id));
        }
        Ok(())
    }

    async fn get_schedule(&self, id: ScheduleId) -> StoreResult<Option<Schedule>> {
        let row = self
            .reader
            .run("reading a schedule", async |c| {
                sqlx::query("SELECT * FROM schedules WHERE schedule_id = ?")
                    .bind(id.to_string())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(schedule_from_row).transpose()
    }

    async fn schedules_for_device(&self, id: &DeviceId) -> StoreResult<Vec<Schedule>> {
        let rows = self
            .reader
            .run("listing a device's schedules", async |c| {
                sqlx::query(BY_DEVICE_SQL)
                    .bind(id.as_str())
                    .fetch_all(c)
                    .await
            })
            .await?;
        schedules_from_rows(&rows)
    }

    async fn active_schedules(&self) -> StoreResult<Vec<Schedule>> {
        let rows = self
            .reader
            .run("listing active schedules", async |c| {
                sqlx::query(ACTIVE_SQL).fetch_all(c).await
            })
            .await?;
        schedules_from_rows(&rows)
    }

    async fn insert_run(&self, run: &ScheduleRun) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO schedule_runs (run_id, schedule_id, device_id, boundary, at, outcome, \
             command_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(run.run_id.to_string())
        .bind(run.schedule_id.to_string())
        .bind(run.device_id.as_str())
        .bind(text(&run.boundary)?)
        .bind(ms(run.at))
        .bind(text(&run.outcome)?)
        .bind(run.command_id.map(|c| c.to_string()))
        .execute_on(&self.writer)
        .await
        .map_err(write("run", run.run_id, "recording a schedule run"))?;
        Ok(())
    }

    async fn runs_for_schedule(
        &self,
        id: ScheduleId,
        limit: Limit,
    ) -> StoreResult<Vec<ScheduleRun>> {
        let rows = self
            .reader
            .run("listing a schedule's runs", async |c| {
                sqlx::query(RUNS_SQL)
                    .bind(id.to_string())
                    .bind(i64::from(limit.get()))
                    .fetch_all(c)
                    .await
            })
            .await?;
        rows.iter().map(run_from_row).collect()
    }
}
