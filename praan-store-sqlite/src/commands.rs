//! [`CommandRepo`]: durable commands. Scalar fields are columns (the ones queries filter and
//! order by are indexed); attempts and acks are JSON.

use async_trait::async_trait;
use praan_core::{
    domain::{Command, CommandId, CommandStatus, DeviceId, IdempotencyKey, Instruction},
    store::{CommandFilter, CommandRepo, StoreError, StoreResult},
};
use sqlx::{Sqlite, query::Query, sqlite::SqliteArguments, sqlite::SqliteRow};

use crate::{
    SqliteStore,
    columns::{
        get, get_device_id, get_json, get_opt_json, get_opt_parsed, get_opt_ts, get_parsed,
        get_speed, get_ts, invalid_row, ms, opt_json, opt_ms, text, to_json,
    },
    connections::ExecuteOn,
    error::write,
};

/// Binds the 18 columns `command_id, device_id, action, value, source, status, created_at,
/// sent_at, acknowledged_at, completed_at, attempts, next_deadline, expires_at, error,
/// device_response, late_ack, idempotency_key, superseded_by`, in order.
fn bind_command<'q>(
    q: Query<'q, Sqlite, SqliteArguments>,
    c: &'q Command,
) -> StoreResult<Query<'q, Sqlite, SqliteArguments>> {
    Ok(q.bind(c.command_id.to_string())
        .bind(c.device_id.as_str())
        .bind(c.instruction.action().as_str())
        .bind(i64::from(c.instruction.value().get()))
        .bind(text(&c.source)?)
        .bind(c.status.as_str())
        .bind(ms(c.created_at))
        .bind(opt_ms(c.sent_at))
        .bind(opt_ms(c.acknowledged_at))
        .bind(opt_ms(c.completed_at))
        .bind(to_json(&c.attempts)?)
        .bind(opt_ms(c.next_deadline))
        .bind(opt_ms(c.expires_at))
        .bind(c.error.as_deref())
        .bind(opt_json(c.device_response.as_ref())?)
        .bind(opt_json(c.late_ack.as_ref())?)
        .bind(c.idempotency_key.as_ref().map(IdempotencyKey::as_str))
        .bind(c.superseded_by.map(|id| id.to_string())))
}

fn command_from_row(row: &SqliteRow) -> StoreResult<Command> {
    let instruction = Instruction::new(get_parsed(row, "action")?, get_speed(row, "value")?)
        .map_err(|e| invalid_row("command", e))?;
    let status: String = get(row, "status")?;
    Ok(Command {
        command_id: get_parsed(row, "command_id")?,
        device_id: get_device_id(row, "device_id")?,
        instruction,
        source: get_parsed(row, "source")?,
        status: CommandStatus::parse(&status).map_err(|e| invalid_row("command", e))?,
        created_at: get_ts(row, "created_at")?,
        sent_at: get_opt_ts(row, "sent_at")?,
        acknowledged_at: get_opt_ts(row, "acknowledged_at")?,
        completed_at: get_opt_ts(row, "completed_at")?,
        attempts: get_json(row, "attempts")?,
        next_deadline: get_opt_ts(row, "next_deadline")?,
        expires_at: get_opt_ts(row, "expires_at")?,
        error: get(row, "error")?,
        device_response: get_opt_json(row, "device_response")?,
        late_ack: get_opt_json(row, "late_ack")?,
        idempotency_key: get_opt_parsed(row, "idempotency_key")?,
        superseded_by: get_opt_parsed(row, "superseded_by")?,
    })
}

fn commands_from_rows(rows: &[SqliteRow]) -> StoreResult<Vec<Command>> {
    rows.iter().map(command_from_row).collect()
}

/// A device's commands, newest first: `?1` device, `?2` limit.
pub(crate) const BY_DEVICE_SQL: &str = "SELECT * FROM commands WHERE device_id = ?1 \
     ORDER BY created_at DESC, command_id DESC LIMIT ?2";
/// A device's commands of one status, newest first: `?1` device, `?2` status, `?3` limit.
pub(crate) const BY_DEVICE_STATUS_SQL: &str = "SELECT * FROM commands WHERE device_id = ?1 \
     AND status = ?2 ORDER BY created_at DESC, command_id DESC LIMIT ?3";
/// Every unfinished command, oldest first (the partial index `commands_unfinished`).
pub(crate) const UNFINISHED_SQL: &str = "SELECT * FROM commands \
     WHERE status IN ('pending', 'sent') ORDER BY created_at, command_id";
/// A device's command by idempotency key (the partial unique index `commands_idempotency`).
pub(crate) const BY_KEY_SQL: &str = "SELECT * FROM commands WHERE device_id = ?1 \
     AND idempotency_key = ?2 AND idempotency_key IS NOT NULL";

#[async_trait]
impl CommandRepo for SqliteStore {
    async fn insert_command(&self, command: &Command) -> StoreResult<()> {
        let q = sqlx::query(
            "INSERT INTO commands (command_id, device_id, action, value, source, status, \
             created_at, sent_at, acknowledged_at, completed_at, attempts, next_deadline, \
             expires_at, error, device_response, late_ack, idempotency_key, superseded_by) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        );
        bind_command(q, command)?
            .execute_on(&self.writer)
            .await
            .map_err(write("command", command.command_id, "inserting a command"))?;
        Ok(())
    }

    async fn update_command(&self, command: &Command) -> StoreResult<()> {
        let q = sqlx::query(
            "UPDATE commands SET (command_id, device_id, action, value, source, status, \
             created_at, sent_at, acknowledged_at, completed_at, attempts, next_deadline, \
             expires_at, error, device_response, late_ack, idempotency_key, superseded_by) = \
             (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE command_id = ?",
        );
        let done = bind_command(q, command)?
            .bind(command.command_id.to_string())
            .execute_on(&self.writer)
            .await
            .map_err(write("command", command.command_id, "updating a command"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("command", command.command_id));
        }
        Ok(())
    }

    async fn get_command(&self, id: CommandId) -> StoreResult<Option<Command>> {
        let row = self
            .reader
            .run("reading a command", async |c| {
                sqlx::query("SELECT * FROM commands WHERE command_id = ?")
                    .bind(id.to_string())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(command_from_row).transpose()
    }

    async fn commands_for_device(
        &self,
        id: &DeviceId,
        filter: &CommandFilter,
    ) -> StoreResult<Vec<Command>> {
        let limit = i64::from(filter.limit.get());
        let q = match filter.status {
            None => sqlx::query(BY_DEVICE_SQL).bind(id.as_str()).bind(limit),
            Some(status) => sqlx::query(BY_DEVICE_STATUS_SQL)
                .bind(id.as_str())
                .bind(status.as_str())
                .bind(limit),
        };
        let rows = self
            .reader
            .run("listing a device's commands", async |c| {
                q.fetch_all(c).await
            })
            .await?;
        commands_from_rows(&rows)
    }

    async fn unfinished_commands(&self) -> StoreResult<Vec<Command>> {
        let rows = self
            .reader
            .run("listing unfinished commands", async |c| {
                sqlx::query(UNFINISHED_SQL).fetch_all(c).await
            })
            .await?;
        commands_from_rows(&rows)
    }

    async fn command_by_idempotency_key(
        &self,
        id: &DeviceId,
        key: &IdempotencyKey,
    ) -> StoreResult<Option<Command>> {
        let row = self
            .reader
            .run("finding a command by idempotency key", async |c| {
                sqlx::query(BY_KEY_SQL)
                    .bind(id.as_str())
                    .bind(key.as_str())
                    .fetch_optional(c)
                    .await
            })
            .await?;
        row.as_ref().map(command_from_row).transpose()
    }
}
