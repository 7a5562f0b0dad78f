//! [`Checkpointer`]: copies the write-ahead log back into the database file on a connection of
//! its own, so that writes rarely wait for it.
//!
//! By default SQLite checkpoints on the connection whose commit takes the log past 1000 pages:
//! that commit copies the log into the database and syncs the file before it returns, and every
//! write queued behind it waits — with `synchronous = NORMAL` this is the only `fsync` on the
//! write path, and on a slow disk it takes tens of milliseconds, every 4 MiB of log. praan's
//! writer leaves the checkpoints to the checkpointer, and tells it after each operation; the
//! checkpointer runs a `PASSIVE` checkpoint (which never blocks the writer or the readers) as
//! soon as it is told, again and again while writes keep coming.
//!
//! A checkpoint running beside the writer never catches up with it under steady writes: commits
//! land while it copies, so the log is never fully copied when the next write begins, and SQLite
//! only starts the log over from its beginning then. The log would grow without end (and with it
//! the time to find a page in it). So once the log is past [`RESTART_AFTER_FRAMES`], the
//! checkpointer asks for a turn of its own: the writer runs one `PASSIVE` checkpoint on its own
//! connection before its next operation — copying only what was committed since the background
//! checkpoint, the rest being done — and that operation starts the log over. Should the
//! checkpointer fall behind (starved of CPU), SQLite's own automatic checkpoint stays on the
//! writer as a backstop, at [`WRITER_CHECKPOINT_FRAMES`] instead of 1000.

use std::sync::{
    Arc, Mutex, PoisonError,
    atomic::{AtomicBool, Ordering},
};

use praan_core::store::StoreResult;
use sqlx::{ConnectOptions, Connection, SqliteConnection, sqlite::SqliteConnectOptions};
use tokio::{sync::Notify, task::JoinHandle};
use tracing::warn;

use crate::error::db;

/// Checkpoints the log of one database in the background; stops when closed or dropped.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// What the checkpointer's task and the writer share.
#[derive(Debug, Default)]
struct Shared {
    /// Raised after writes: there is log to copy.
    written: Notify,
    /// Set when the checkpointer should stop.
    stopping: AtomicBool,
    /// Set when the log is long enough for the writer to checkpoint in its own turn.
    wants_turn: AtomicBool,
}

/// The log length (in frames, i.e. pages) past which the writer checkpoints in its own turn, so
/// that the log starts over: 16 MiB of 4 KiB pages, four times SQLite's automatic threshold.
const RESTART_AFTER_FRAMES: i64 = 4096;

/// The writer's `wal_autocheckpoint`: the log length at which the writer checkpoints on its own
/// commit, as SQLite does by default at 1000 — a backstop that bounds the log (64 MiB) when the
/// checkpointer does not keep up; normally the log starts over long before.
pub(crate) const WRITER_CHECKPOINT_FRAMES: i64 = 4 * RESTART_AFTER_FRAMES;

impl Checkpointer {
    /// Opens a connection with `options` and starts checkpointing on it.
    ///
    /// # Errors
    /// `Unavailable` or `Backend` when the connection cannot be opened.
    pub(crate) async fn start(options: &SqliteConnectOptions) -> StoreResult<Self> {
        let connection = options
            .connect()
            .await
            .map_err(db("opening the checkpoint connection"))?;
        let shared = Arc::new(Shared::default());
        let task = tokio::spawn(run(connection, Arc::clone(&shared)));
        Ok(Self {
            shared,
            task: Mutex::new(Some(task)),
        })
    }

    /// Tells the checkpointer that there are commits to copy.
    pub(crate) fn written(&self) {
        self.shared.written.notify_one();
    }

    /// Runs the checkpoint the writer owes, if the log asked for one, on the writer's `connection`
    /// before its next operation (which then starts the log over). A failure is logged: the
    /// operation goes on, and the next one tries again.
    pub(crate) async fn in_turn(&self, connection: &mut SqliteConnection) {
        if !self.shared.wants_turn.swap(false, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(connection)
            .await
        {
            self.shared.wants_turn.store(true, Ordering::Release);
            warn!(error = %e, "the writer's checkpoint failed; its next operation retries");
        }
    }

    /// Stops checkpointing and closes the connection, once a checkpoint under way is done.
    pub(crate) async fn close(&self) {
        self.stop();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task
            && let Err(e) = task.await
        {
            warn!(error = %e, "the SQLite checkpoint task failed");
        }
    }

    fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Release);
        self.shared.written.notify_one();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Checkpoints each time writes are announced, until told to stop.
async fn run(mut connection: SqliteConnection, shared: Arc<Shared>) {
    loop {
        shared.written.notified().await;
        if shared.stopping.load(Ordering::Acquire) {
            break;
        }
        // (busy, frames in the log, frames copied)
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&mut connection)
            .await
        {
            Ok((_, log, _)) if log >= RESTART_AFTER_FRAMES => {
                shared.wants_turn.store(true, Ordering::Release);
            }
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "checkpointing the SQLite write-ahead log failed; the next write retries");
            }
        }
    }
    if let Err(e) = connection.close().await {
        warn!(error = %e, "closing the SQLite checkpoint connection failed");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use praan_core::clock::{Clock, SystemClock};

    use super::WRITER_CHECKPOINT_FRAMES;
    use crate::{SqliteOptions, SqliteStore};

    /// 1,024 rows of a page each: past SQLite's 1000-page automatic checkpoint.
    const ROWS: i64 = 1024;

    /// `commits` write transactions through the writer, each of 64 rows of a 4000-byte blob (a
    /// page each).
    async fn write_blobs(store: &SqliteStore, commits: i64) {
        for _ in 0..commits {
            store
                .writer
                .run("writing blobs", async |c| {
                    sqlx::query(
                        "CREATE TABLE IF NOT EXISTS blobs (b BLOB); \
                         INSERT INTO blobs SELECT randomblob(4000) \
                         FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                         WHERE i < 64) SELECT i FROM n)",
                    )
                    .execute(c)
                    .await
                })
                .await
                .expect("write");
        }
    }

    async fn pragma(store: &SqliteStore, sql: &'static str) -> i64 {
        store
            .writer
            .run("reading a pragma", async |c| {
                sqlx::query_scalar::<_, i64>(sql).fetch_one(c).await
            })
            .await
            .expect("pragma")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_reaches_the_file_through_the_checkpointer_alone() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("c.db");
        let url = format!("sqlite://{}", path.display());
        let store = SqliteStore::connect_with(&url, SqliteOptions::new())
            .await
            .expect("open");
        let before = std::fs::metadata(&path).expect("file").len();

        write_blobs(&store, ROWS / 64).await;

        // 1024 pages: far below the writer's backstop and the length at which it checkpoints in
        // its turn, so the database file grows only through the checkpointer.
        let deadline = SystemClock.now().saturating_add(Duration::from_secs(30));
        loop {
            let size = std::fs::metadata(&path).expect("file").len();
            if size >= before + 4000 * ROWS as u64 {
                break;
            }
            assert!(
                SystemClock.now() < deadline,
                "the database file is {size} bytes after 30 s ({before} before the writes)"
            );
            SystemClock
                .sleep_until(SystemClock.now().saturating_add(Duration::from_millis(5)))
                .await;
        }
        store.close().await;
        assert!(
            !dir.path().join("c.db-wal").exists(),
            "closing the store checkpoints and removes the log"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_back_to_back_writes_the_log_stays_bounded() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqliteStore::connect_with(&url, SqliteOptions::new())
            .await
            .expect("open");
        assert_eq!(
            pragma(&store, "PRAGMA wal_autocheckpoint").await,
            WRITER_CHECKPOINT_FRAMES
        );
        // Twice the backstop's worth of log (128 MiB) in commits of 64 pages, back to back: the
        // checkpointer runs beside them and never finds the log fully copied when the next one
        // begins, so only a checkpoint in the writer's turn (asked for by the checkpointer, or
        // SQLite's backstop) starts the log over.
        let commits = 2 * WRITER_CHECKPOINT_FRAMES / 64;
        write_blobs(&store, commits).await;
        let wal = std::fs::metadata(dir.path().join("s.db-wal"))
            .expect("log")
            .len();
        // The backstop's length plus the commit that crossed it (with its frame headers).
        let limit = 4120 * (WRITER_CHECKPOINT_FRAMES as u64 + 2 * 64);
        assert!(
            wal <= limit,
            "the log file grew to {wal} bytes over 128 MiB of writes (at most {limit} expected)"
        );
        store.close().await;
    }
}
