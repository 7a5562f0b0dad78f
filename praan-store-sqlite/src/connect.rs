//! [`SqliteStore`], its [`SqliteOptions`], and opening a database: pragmas, pools, migrations.

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
    time::Duration,
};

use praan_core::store::StoreResult;
use sqlx::{
    Connection, Sqlite, SqliteConnection, SqlitePool, Transaction,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

use crate::{
    checkpoint::{Checkpointer, WRITER_CHECKPOINT_FRAMES},
    connections::Connections,
    error::db,
    rollups::SpanCache,
};

/// The table where praan records which of its migrations ran, so it never collides with a host
/// application's own `_sqlx_migrations` in the same database.
pub const MIGRATIONS_TABLE: &str = "_praan_migrations";

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `NORMAL` (the default): with WAL, a commit survives a crash of the process; a power loss
    /// may roll back the last transactions, never corrupt the database.
    #[default]
    Normal,
    /// `FULL`: a commit also survives a power loss, at the price of an fsync per commit.
    Full,
}

impl Synchronous {
    fn to_sqlx(self) -> SqliteSynchronous {
        match self {
            Self::Normal => SqliteSynchronous::Normal,
            Self::Full => SqliteSynchronous::Full,
        }
    }
}

/// How [`SqliteStore::connect_with`] opens a database. [`Default`] is what
/// [`SqliteStore::connect`] uses.
///
/// ```
/// use std::time::Duration;
/// use praan_store_sqlite::{SqliteOptions, Synchronous};
///
/// let options = SqliteOptions::new()
///     .synchronous(Synchronous::Full)
///     .busy_timeout(Duration::from_secs(2))
///     .max_readers(8);
/// assert_eq!(options.get_synchronous(), Synchronous::Full);
/// ```
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    synchronous: Synchronous,
    busy_timeout: Duration,
    acquire_timeout: Duration,
    max_readers: u32,
    create_if_missing: bool,
    pragmas: Vec<(String, String)>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Normal,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(30),
            max_readers: 4,
            create_if_missing: true,
            pragmas: Vec::new(),
        }
    }
}

impl SqliteOptions {
    /// The defaults: `synchronous = NORMAL`, a 5 s busy timeout, a 30 s pool acquire timeout, 4
    /// reader connections, and a database file created if missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// `PRAGMA synchronous` (default [`Synchronous::Normal`]).
    #[must_use]
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// How long a statement waits for a lock held by another connection (another process) before
    /// it fails with [`StoreError::Unavailable`](praan_core::store::StoreError::Unavailable)
    /// (default 5 s).
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How long opening a connection may take before the operation that needed it fails with
    /// [`StoreError::Unavailable`](praan_core::store::StoreError::Unavailable) (default 30 s).
    /// Once open, writes wait for the writer connection and reads for a free reader connection
    /// in arrival order, each holding one only for one statement or one transaction.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How many connections serve reads concurrently (default 4, at least 1; each opened on the
    /// first read that needs it, and kept). Writes always go through one connection of their
    /// own: SQLite has one writer at a time anyway, and queueing for it is fairer and cheaper
    /// than spinning on `SQLITE_BUSY`. An in-memory database uses a single connection for
    /// everything.
    #[must_use]
    pub fn max_readers(mut self, n: u32) -> Self {
        self.max_readers = n.max(1);
        self
    }

    /// Whether a missing database file is created (default `true`).
    #[must_use]
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create_if_missing = create;
        self
    }

    /// Another `PRAGMA name = value` run on every connection as it opens (e.g. `cache_size`,
    /// `max_page_count`). praan sets `journal_mode = WAL`, `synchronous`, `foreign_keys = ON`,
    /// `busy_timeout` and `temp_store = MEMORY` itself; a pragma given here runs after those.
    #[must_use]
    pub fn pragma(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.pragmas.push((name.into(), value.into()));
        self
    }

    /// The `synchronous` level.
    pub fn get_synchronous(&self) -> Synchronous {
        self.synchronous
    }

    /// The busy timeout.
    pub fn get_busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// The number of reader connections.
    pub fn get_max_readers(&self) -> u32 {
        self.max_readers
    }
}

/// Every repository of `praan_core::store` on one SQLite database.
///
/// Writes go through one dedicated connection, reads through [`SqliteOptions::max_readers`]
/// connections; with WAL, readers never block the writer nor the reverse. Cloning is cheap and
/// shares the connections.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The one connection writes take turns on.
    pub(crate) writer: Arc<Connections>,
    /// The connections reads take turns on (for an in-memory database, the writer's).
    pub(crate) reader: Arc<Connections>,
    /// The rolled-up spans of the devices appended to, as the writer last committed them.
    pub(crate) spans: Arc<Mutex<SpanCache>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` with the default [`SqliteOptions`] and
    /// brings its schema up to date.
    ///
    /// `url` is a sqlx SQLite URL: `sqlite://praan.db`, `sqlite:///abs/path.db`,
    /// `sqlite://praan.db?mode=ro` (read-only), or `sqlite::memory:` (an in-memory database that
    /// lives as long as the store).
    ///
    /// # Errors
    /// A bad URL is `Backend`; a file that is not a database is `Corrupt`; a file that cannot be
    /// opened or written is `ReadOnly`; a database locked by another process past the busy
    /// timeout is `Unavailable`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, SqliteOptions::default()).await
    }

    /// Opens the database at `url` with `options` and brings its schema up to date. See
    /// [`SqliteStore::connect`].
    ///
    /// # Errors
    /// As [`SqliteStore::connect`].
    pub async fn connect_with(url: &str, options: SqliteOptions) -> StoreResult<Self> {
        let in_memory = is_in_memory(url);
        let connect = connect_options(url, &options)?;
        // A file database's log is checkpointed off the write path (see `checkpoint`); an
        // in-memory one has no log.
        let (checkpointer, writer_connect) = if in_memory {
            (None, connect.clone())
        } else {
            let checkpointer = Checkpointer::start(&connect).await?;
            let writer_connect = connect
                .clone()
                .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_FRAMES.to_string());
            (Some(checkpointer), writer_connect)
        };
        // Connections come back to these pools only when an operation on them failed or was
        // abandoned, and are tested then (see `Connections`): testing them when they leave it
        // again would only cost another round trip.
        let writer = pool_options(1, &options)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(writer_connect)
            .await
            .map_err(db(format!("opening the SQLite database {}", redact(url))))?;
        migrate(&writer).await?;
        let mut writer = Connections::new(writer);
        if let Some(checkpointer) = checkpointer {
            writer = writer.checkpointed_by(checkpointer);
        }
        let writer = Arc::new(writer);
        let reader = if in_memory {
            // An in-memory database exists only on the one connection that holds it.
            Arc::clone(&writer)
        } else {
            Arc::new(Connections::new(
                pool_options(options.max_readers, &options)
                    .test_before_acquire(false)
                    .connect_lazy_with(connect),
            ))
        };
        Ok(Self {
            writer,
            reader,
            spans: Arc::default(),
        })
    }

    /// Closes every connection (checkpointing the WAL); operations after it fail with
    /// `Unavailable`.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

/// Begins a write transaction on the writer connection `conn`, taking SQLite's write lock at once
/// (`BEGIN IMMEDIATE`), so it never fails half-way for a lock another process took meanwhile.
pub(crate) async fn begin_write<'c>(
    conn: &'c mut SqliteConnection,
    context: &'static str,
) -> StoreResult<Transaction<'c, Sqlite>> {
    conn.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(db(context))
}

fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The URL without any query string (which may carry a key or other settings) for messages.
fn redact(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}

fn connect_options(url: &str, options: &SqliteOptions) -> StoreResult<SqliteConnectOptions> {
    let mut connect = SqliteConnectOptions::from_str(url)
        .map_err(db(format!("parsing the SQLite URL {}", redact(url))))?
        .create_if_missing(options.create_if_missing)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(options.synchronous.to_sqlx())
        .foreign_keys(true)
        .busy_timeout(options.busy_timeout)
        // Sorters of GROUP BY (statistics buckets) stay in memory instead of temporary files.
        .pragma("temp_store", "MEMORY");
    for (name, value) in &options.pragmas {
        connect = connect.pragma(name.clone(), value.clone());
    }
    Ok(connect)
}

fn pool_options(max: u32, options: &SqliteOptions) -> SqlitePoolOptions {
    // Connections live as long as the store: an in-memory database dies with its last
    // connection, and reopening a file costs the pragmas again for nothing.
    SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(options.acquire_timeout)
        .idle_timeout(None)
        .max_lifetime(None)
}

/// Runs praan's embedded migrations, recorded in [`MIGRATIONS_TABLE`].
async fn migrate(pool: &SqlitePool) -> StoreResult<()> {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
        .run(pool)
        .await
        .map_err(|e| db("migrating the schema")(sqlx::Error::Migrate(Box::new(e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_urls_are_recognised() {
        assert!(is_in_memory("sqlite::memory:"));
        assert!(is_in_memory("sqlite://?mode=memory"));
        assert!(!is_in_memory("sqlite://praan.db"));
        assert_eq!(redact("sqlite://a.db?mode=ro"), "sqlite://a.db");
    }

    #[test]
    fn options_are_clamped_and_kept() {
        let o = SqliteOptions::new()
            .max_readers(0)
            .busy_timeout(Duration::ZERO);
        assert_eq!(o.get_max_readers(), 1);
        assert_eq!(o.get_busy_timeout(), Duration::ZERO);
        assert_eq!(
            SqliteOptions::default().get_synchronous(),
            Synchronous::Normal
        );
    }
}
