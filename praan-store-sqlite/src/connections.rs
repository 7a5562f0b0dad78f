//! [`Connections`]: a stack of SQLite connections that operations take turns on — the writer's
//! one, and the readers'.
//!
//! sqlx's pool tests every connection it hands out and every one given back to it with a ping: a
//! round trip to the connection's worker thread, as costly as a point read or a one-row write
//! itself, and the next operation waits for it. A [`Connections`] therefore keeps its idle
//! connections in a stack of its own: taking one is a pop and giving it back a push, so an
//! operation is only its own statements. sqlx's pool still opens them (lazily, at most its
//! maximum, within the acquire timeout), and gets back — and tests — a connection whose operation
//! failed or was abandoned half-way (its future dropped), so a broken or interrupted one, or one
//! with a transaction still to roll back, is never reused untested. A semaphore with one permit
//! per connection makes operations wait their turn, in arrival order.

use std::sync::{Mutex, MutexGuard, PoisonError};

use praan_core::store::StoreResult;
use sqlx::{
    Sqlite, SqliteConnection, SqlitePool,
    pool::PoolConnection,
    query::Query,
    sqlite::{SqliteArguments, SqliteQueryResult},
};
use tokio::sync::Semaphore;

use crate::{checkpoint::Checkpointer, error::db};

/// Connections to one database that operations take turns on.
#[derive(Debug)]
pub(crate) struct Connections {
    /// Opens the connections (and tests those given back after a failure).
    pool: SqlitePool,
    /// One permit per connection.
    permits: Semaphore,
    idle: Mutex<Idle>,
    /// Told after every operation that succeeded, and given the connection before each one when
    /// it asks for a turn (the writer's, on a file database).
    checkpointer: Option<Checkpointer>,
}

/// The idle connections of a [`Connections`].
#[derive(Debug, Default)]
struct Idle {
    connections: Vec<PoolConnection<Sqlite>>,
    closed: bool,
}

impl Connections {
    /// Connections that `pool` opens (its maximum is theirs).
    pub(crate) fn new(pool: SqlitePool) -> Self {
        let max = pool.options().get_max_connections() as usize;
        Self {
            pool,
            permits: Semaphore::new(max),
            idle: Mutex::default(),
            checkpointer: None,
        }
    }

    /// These connections, telling `checkpointer` after each operation that succeeded.
    pub(crate) fn checkpointed_by(mut self, checkpointer: Checkpointer) -> Self {
        self.checkpointer = Some(checkpointer);
        self
    }

    /// Runs `operation` on a connection; sqlx errors (also taking a connection) become
    /// [`StoreError`](praan_core::store::StoreError)s saying `context`.
    pub(crate) async fn run<T>(
        &self,
        context: &'static str,
        operation: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, sqlx::Error>,
    ) -> StoreResult<T> {
        self.run_store(context, async |c| operation(c).await.map_err(db(context)))
            .await
    }

    /// Runs `operation` on a connection: one whose errors are already
    /// [`StoreError`](praan_core::store::StoreError)s (several statements, a transaction).
    pub(crate) async fn run_store<T>(
        &self,
        context: &'static str,
        operation: impl AsyncFnOnce(&mut SqliteConnection) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.with(db(context), operation).await
    }

    /// Runs `operation` on a connection, in turn; `taken` makes failing to take one an `E`.
    async fn with<T, E>(
        &self,
        taken: impl FnOnce(sqlx::Error) -> E,
        operation: impl AsyncFnOnce(&mut SqliteConnection) -> Result<T, E>,
    ) -> Result<T, E> {
        let Ok(_permit) = self.permits.acquire().await else {
            return Err(taken(sqlx::Error::PoolClosed));
        };
        let popped = lock(&self.idle).connections.pop();
        let mut connection = match popped {
            Some(c) => c,
            None => match self.pool.acquire().await {
                Ok(c) => c,
                Err(e) => return Err(taken(e)),
            },
        };
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.in_turn(&mut connection).await;
        }
        let result = operation(&mut connection).await;
        if result.is_ok() {
            let mut idle = lock(&self.idle);
            if !idle.closed {
                idle.connections.push(connection);
            }
            drop(idle);
            if let Some(checkpointer) = &self.checkpointer {
                checkpointer.written();
            }
        }
        // Otherwise (and once closed) the connection goes back to sqlx's pool, which tests it
        // (rolling back a transaction left open) before it is used again.
        result
    }

    /// Closes every connection (and the checkpointer's), once the operations under way are done;
    /// operations after it fail with `Unavailable`.
    pub(crate) async fn close(&self) {
        self.permits.close();
        let connections = {
            let mut idle = lock(&self.idle);
            idle.closed = true;
            std::mem::take(&mut idle.connections)
        };
        drop(connections);
        self.pool.close().await;
        if let Some(checkpointer) = &self.checkpointer {
            checkpointer.close().await;
        }
    }

    /// The pool the connections come from (for tests that inspect the database directly).
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Running one statement on [`Connections`], as sqlx's `execute` runs one on a pool.
pub(crate) trait ExecuteOn {
    /// Runs the statement on one of `connections`, in turn.
    async fn execute_on(self, connections: &Connections) -> Result<SqliteQueryResult, sqlx::Error>;
}

impl ExecuteOn for Query<'_, Sqlite, SqliteArguments> {
    async fn execute_on(self, connections: &Connections) -> Result<SqliteQueryResult, sqlx::Error> {
        connections
            .with(|e| e, async |c| self.execute(c).await)
            .await
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

    use super::*;
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

    /// The rows of the test table `t`.
    async fn rows(store: &SqliteStore) -> i64 {
        store
            .reader
            .run("counting", async |c| {
                sqlx::query_scalar::<_, i64>("SELECT count(*) FROM t")
                    .fetch_one(c)
                    .await
            })
            .await
            .expect("count")
    }

    /// Inserts `x` into the test table `t` on the writer, as one statement.
    async fn insert(store: &SqliteStore, x: i64) -> Result<SqliteQueryResult, sqlx::Error> {
        sqlx::query("INSERT INTO t (x) VALUES (?)")
            .bind(x)
            .execute_on(&store.writer)
            .await
    }

    async fn with_table(dir: &tempfile::TempDir) -> SqliteStore {
        let store = store(dir, 1).await;
        sqlx::query("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            .execute_on(&store.writer)
            .await
            .expect("create");
        store
    }

    #[tokio::test]
    async fn a_failed_write_leaves_the_writer_working() {
        let dir = tempfile::tempdir().expect("dir");
        let store = with_table(&dir).await;
        insert(&store, 1).await.expect("first");
        let err = insert(&store, 1).await.expect_err("a duplicate key");
        assert!(
            matches!(&err, sqlx::Error::Database(e) if e.is_unique_violation()),
            "{err:?}"
        );
        insert(&store, 2).await.expect("after the failure");
        assert_eq!(rows(&store).await, 2);
    }

    #[tokio::test]
    async fn an_abandoned_transaction_is_rolled_back_and_gives_back_the_writer() {
        let dir = tempfile::tempdir().expect("dir");
        let store = with_table(&dir).await;
        let (_never, forever) = oneshot::channel::<()>();
        let (begun, on_begun) = oneshot::channel();
        {
            let mut write = pin!(store.writer.run_store("an abandoned write", async |c| {
                let mut tx = crate::connect::begin_write(c, "writing").await?;
                sqlx::query("INSERT INTO t (x) VALUES (7)")
                    .execute(&mut *tx)
                    .await
                    .map_err(crate::error::db("writing"))?;
                let _ = begun.send(());
                let _ = forever.await;
                tx.commit().await.map_err(crate::error::db("writing"))
            }));
            let mut on_begun = pin!(on_begun);
            std::future::poll_fn(|cx| match write.as_mut().poll(cx) {
                Poll::Ready(r) => panic!("the write finished: {r:?}"),
                Poll::Pending => on_begun.as_mut().poll(cx).map(|r| r.expect("begun")),
            })
            .await;
        }
        insert(&store, 8).await.expect("the writer is free again");
        let kept: Vec<i64> = store
            .reader
            .run("listing", async |c| {
                sqlx::query_scalar("SELECT x FROM t ORDER BY x")
                    .fetch_all(c)
                    .await
            })
            .await
            .expect("list");
        assert_eq!(kept, vec![8], "the abandoned insert was rolled back");
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
