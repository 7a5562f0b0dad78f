//! [`MaintenanceRepo`]: retention in bounded batches, and the health check.

use async_trait::async_trait;
use praan_core::store::{MaintenanceRepo, PurgeOutcome, RetentionCutoffs, StoreResult};
use sqlx::SqliteConnection;

use crate::{
    SqliteStore,
    columns::{get, ms},
    connect::begin_write,
    error::db,
    rollups,
};

/// Deletes at most `?2` readings older than `?1` (found through the `ts` index) and returns their
/// keys, so the rolled-up hours they were in can be recomputed in the same transaction.
pub(crate) const PURGE_READINGS: &str = "DELETE FROM readings WHERE (device_id, ts) IN \
     (SELECT device_id, ts FROM readings WHERE ts < ?1 LIMIT ?2) RETURNING device_id, ts";

/// Each statement deletes at most `?2` records older than `?1`, found through an index (the
/// subquery), so one call holds the write lock for a bounded time however much has expired.
pub(crate) const PURGE_COMMANDS: &str = "DELETE FROM commands WHERE command_id IN \
     (SELECT command_id FROM commands WHERE status NOT IN ('pending', 'sent') \
     AND created_at < ?1 LIMIT ?2)";
pub(crate) const PURGE_PRE_CLEANS: &str = "DELETE FROM pre_cleans WHERE pre_clean_id IN \
     (SELECT pre_clean_id FROM pre_cleans WHERE status <> 'active' \
     AND coalesce(ended_at, ends_at) < ?1 LIMIT ?2)";
pub(crate) const PURGE_RUNS: &str = "DELETE FROM schedule_runs WHERE run_id IN \
     (SELECT run_id FROM schedule_runs WHERE at < ?1 LIMIT ?2)";

/// What a purge says it was doing when it fails.
const CONTEXT: &str = "purging expired records";

async fn purge_one(
    conn: &mut SqliteConnection,
    sql: &'static str,
    cutoff: i64,
    batch: u32,
) -> StoreResult<u64> {
    let done = sqlx::query(sql)
        .bind(cutoff)
        .bind(i64::from(batch))
        .execute(conn)
        .await
        .map_err(db(CONTEXT))?;
    Ok(done.rows_affected())
}

#[async_trait]
impl MaintenanceRepo for SqliteStore {
    async fn purge(&self, cutoffs: &RetentionCutoffs, batch: u32) -> StoreResult<PurgeOutcome> {
        let mut out = PurgeOutcome::default();
        if cutoffs == &RetentionCutoffs::default() || batch == 0 {
            return Ok(out);
        }
        self.writer
            .run_store(CONTEXT, async |c| {
                let mut tx = begin_write(c, CONTEXT).await?;
                if let Some(cut) = cutoffs.readings_before {
                    let deleted = sqlx::query(PURGE_READINGS)
                        .bind(ms(cut))
                        .bind(i64::from(batch))
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(db(CONTEXT))?;
                    let keys = deleted
                        .iter()
                        .map(|row| Ok((get::<String>(row, "device_id")?, get::<i64>(row, "ts")?)))
                        .collect::<StoreResult<Vec<_>>>()?;
                    rollups::recompute(&mut tx, &keys).await?;
                    out.readings = keys.len() as u64;
                }
                if let Some(cut) = cutoffs.commands_before {
                    out.commands = purge_one(&mut tx, PURGE_COMMANDS, ms(cut), batch).await?;
                    out.pre_cleans = purge_one(&mut tx, PURGE_PRE_CLEANS, ms(cut), batch).await?;
                }
                if let Some(cut) = cutoffs.runs_before {
                    out.runs = purge_one(&mut tx, PURGE_RUNS, ms(cut), batch).await?;
                }
                tx.commit().await.map_err(db(CONTEXT))?;
                Ok(out)
            })
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.reader
            .run("pinging the database", async |c| {
                sqlx::query("SELECT 1").execute(c).await
            })
            .await?;
        Ok(())
    }
}
