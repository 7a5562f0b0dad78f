//! [`Readers`]: the connections reads go through.
//!
//! sqlx's pool tests every connection given back to it with a ping, from a task it spawns: a
//! round trip to the connection's worker thread, as costly as a point read itself. The readers of
//! a database file therefore keep their idle connections in a stack of their own: taking one is a
//! pop and giving it back a push. sqlx's pool still opens them (lazily, at most `max_readers`,
//! within the acquire timeout), and gets back — and tests — a connection whose operation failed
//! or was abandoned half-way (its future dropped), so a broken or interrupted one is never reused
//! untested. A semaphore of `max_readers` permits makes readers wait their turn, in arrival order.
//!
//! An in-memory database has one connection for everything: reads go through the writer's pool.

use std::sync::{Mutex, MutexGuard, PoisonError};

use praan_core::store::StoreResult;
use sqlx::{Sqlite, SqliteConnection, SqlitePool, pool::PoolConnection};
use tokio::sync::Semaphore;

use crate::error::db;

/// The connections reads go through.
#[derive(Debug)]
pub(crate) enum Readers {
    /// A database file: up to `max_readers` connections kept idle between reads.
    File {
        /// Opens the connections (and tests those given back after a failure).
        pool: SqlitePool,
        /// One permit per connection.
        permits: Semaphore,
        idle: Mutex<Idle>,
    },
    /// An in-memory database: the writer's pool and its one connection.
    Memory(SqlitePool),
}

/// The idle connections of [`Readers::File`].
#[derive(Debug, Default)]
pub(crate) struct Idle {
    connections: Vec<PoolConnection<Sqlite>>,
    closed: bool,
}

impl Readers {
    /// Readers of a database file, through connections `pool` opens (its maximum is theirs).
    pub(crate) fn file(pool: SqlitePool) -> Self {
        let max = pool.options().get_max_connections() as usize;
        Self::File {
            pool,
            permits: Semaphore::new(max),
            idle: Mutex::default(),
        }
    }

    /// Runs `read` on a reader connection; sqlx errors (also taking a connection) become
    /// [`StoreError`](praan_core::store::StoreError)s saying `context`.
    pub(crate) async fn run<T>(
        &self,
        context: &'static str,
        read: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> StoreResult<T> {
        self.run_store(context, async |c| read(c).await.map_err(db(context)))
            .await
    }

    /// Runs `read` on a reader connection: a read whose errors are already
    /// [`StoreError`](praan_core::store::StoreError)s (several statements, a read transaction).
    pub(crate) async fn run_store<T>(
        &self,
        context: &'static str,
        read: impl AsyncFnOnce(&mut SqliteConnection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let (pool, permits, idle) = match self {
            Self::Memory(pool) => {
                let mut connection = pool.acquire().await.map_err(db(context))?;
                return read(&mut connection).await;
            }
            Self::File {
                pool,
                permits,
                idle,
            } => (pool, permits, idle),
        };
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| db(context)(sqlx::Error::PoolClosed))?;
        let popped = lock(idle).connections.pop();
        let mut connection = match popped {
            Some(c) => c,
            None => pool.acquire().await.map_err(db(context))?,
        };
        let result = read(&mut connection).await;
        if result.is_ok() {
            let mut idle = lock(idle);
            if !idle.closed {
                idle.connections.push(connection);
            }
        }
        // Otherwise (and when the readers are closed) the connection goes back to sqlx's pool.
        result
    }

    /// Closes every connection; reads after it fail with `Unavailable`.
    pub(crate) async fn close(&self) {
        match self {
            Self::Memory(pool) => pool.close().await,
            Self::File {
                pool,
                permits,
                idle,
            } => {
                permits.close();
                let connections = {
                    let mut idle = lock(idle);
                    idle.closed = true;
                    std::mem::take(&mut idle.connections)
                };
                drop(connections);
                pool.close().await;
            }
        }
    }

    /// The pool the connections come from (for tests that inspect the database directly).
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        match self {
            Self::File { pool, .. } | Self::Memory(pool) => pool,
        }
    }
}

fn lock(idle: &Mutex<Idle>) -> MutexGuard<'_, Idle> {
    idle.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::{future::Future, pin::pin, task::Poll};

    use praan_core::store::StoreError;
    use tokio::sync::oneshot;

    use crate::{SqliteOptions, SqliteStore};

    /// A long read: counting to a million.
    const SLOW: &str = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n \
                        WHERE i < 1000000) SELECT count(*) FROM n";

    async fn store(dir: &tempfile::TempDir, readers: u32) -> SqliteStore {
        let url = format!("sqlite://{}", dir.path().join("r.db").display());
        SqliteStore::connect_with(&url, SqliteOptions::new().max_readers(readers))
            .await
            .expect("open")
    }

    async fn select_one(store: &SqliteStore) -> Result<i64, StoreError> {
        store
            .reader
            .run("selecting 1", async |c| {
                sqlx::query_scalar::<_, i64>("SELECT 1").fetch_one(c).await
            })
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn more_reads_than_connections_wait_their_turn_on_at_most_max_readers() {
        let dir = tempfile::tempdir().expect("dir");
        let store = store(&dir, 2).await;
        let reads: Vec<_> = (0..64)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { select_one(&store).await })
            })
            .collect();
        for read in reads {
            assert_eq!(read.await.expect("join").expect("read"), 1);
        }
        assert!(
            store.reader.pool().size() <= 2,
            "{}",
            store.reader.pool().size()
        );
    }

    #[tokio::test]
    async fn a_failed_read_leaves_the_readers_working() {
        let dir = tempfile::tempdir().expect("dir");
        let store = store(&dir, 1).await;
        let failed = store
            .reader
            .run("a bad statement", async |c| {
                sqlx::query("SELECT * FROM no_such_table")
                    .fetch_all(c)
                    .await
            })
            .await;
        assert!(
            matches!(failed, Err(StoreError::Backend { .. })),
            "{failed:?}"
        );
        for _ in 0..3 {
            assert_eq!(select_one(&store).await.expect("read"), 1);
        }
    }

    #[tokio::test]
    async fn an_abandoned_read_gives_back_its_turn() {
        let dir = tempfile::tempdir().expect("dir");
        let store = store(&dir, 1).await;
        // The connection is open and idle, so the slow read sends its statement at once.
        assert_eq!(select_one(&store).await.expect("read"), 1);
        {
            let mut slow = pin!(store.reader.run("a slow read", async |c| {
                sqlx::query_scalar::<_, i64>(SLOW).fetch_one(c).await
            }));
            std::future::poll_fn(|cx| {
                assert!(slow.as_mut().poll(cx).is_pending(), "not started");
                Poll::Ready(())
            })
            .await;
        }
        assert_eq!(select_one(&store).await.expect("read"), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_waits_for_reads_under_way_and_later_reads_are_unavailable() {
        let dir = tempfile::tempdir().expect("dir");
        let store = store(&dir, 2).await;
        assert_eq!(select_one(&store).await.expect("read"), 1);
        let (started, on_start) = oneshot::channel();
        let (go, on_go) = oneshot::channel::<()>();
        let reading = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reader
                    .run("a read under way", async |c| {
                        let _ = started.send(());
                        let _ = on_go.await;
                        sqlx::query_scalar::<_, i64>("SELECT 2").fetch_one(c).await
                    })
                    .await
            })
        };
        on_start.await.expect("started");
        let closing = {
            let store = store.clone();
            tokio::spawn(async move { store.close().await })
        };
        let _ = go.send(());
        assert_eq!(reading.await.expect("join").expect("read"), 2);
        closing.await.expect("closed");
        let err = select_one(&store).await.expect_err("closed");
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    }
}
