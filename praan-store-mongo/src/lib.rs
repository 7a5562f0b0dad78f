#![doc = include_str!("../README.md")]

pub mod collections;
mod config;
mod error;
mod indexes;
mod records;
mod repos;
pub mod write_behind;

pub use config::RetentionConfig;

use std::sync::Arc;

use mongodb::{
    Client, Collection, Database,
    bson::{Document, RawDocumentBuf, doc},
    options::ClientOptions,
};
use praan_core::{clock::Clock, domain::Reading, store::StoreResult};

use records::{
    CommandRecord, ControlRecord, DeviceRecord, PreCleanRecord, ReadingRecord, RunRecord,
    ScheduleRecord, StateRecord,
};

/// praan's store on MongoDB: every repository trait of [`praan_core::store`], on one database.
///
/// Cheap to clone (the driver's client is a handle to one connection pool), `Send + Sync`, and
/// usable as an `Arc<dyn Store>`. Create it with [`MongoStore::connect`], then call
/// [`MongoStore::ensure_indexes`] once at start: deduplication, the one-active-pre-clean rule,
/// idempotency keys and retention rely on its indexes.
///
/// ```no_run
/// # async fn demo() -> praan_core::store::StoreResult<()> {
/// use praan_store_mongo::{MongoStore, RetentionConfig};
///
/// let store = MongoStore::connect("mongodb://127.0.0.1:27017/?replicaSet=rs0", "praan").await?;
/// store.ensure_indexes(&RetentionConfig::default()).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MongoStore {
    db: Database,
    devices: Collection<DeviceRecord>,
    states: Collection<StateRecord>,
    state_docs: Collection<Document>,
    readings: Collection<ReadingRecord>,
    reading_docs: Collection<RawDocumentBuf>,
    commands: Collection<CommandRecord>,
    schedules: Collection<ScheduleRecord>,
    runs: Collection<RunRecord>,
    pre_cleans: Collection<PreCleanRecord>,
    controls: Collection<ControlRecord>,
    write_behind: Arc<write_behind::WriteBehind>,
}

impl MongoStore {
    /// Connects to the deployment at `uri` (a `mongodb://` connection string: hosts,
    /// `replicaSet`, credentials, TLS and timeouts such as `serverSelectionTimeoutMS` as the
    /// driver documents them) and uses database `database`, then pings it.
    ///
    /// Fails with [`StoreError::Unavailable`](praan_core::store::StoreError::Unavailable) when no server answers within the server selection
    /// timeout (30 s unless the URI says otherwise), and with [`StoreError::Backend`](praan_core::store::StoreError::Backend) for a
    /// connection string the driver refuses or credentials the server refuses.
    pub async fn connect(uri: &str, database: &str) -> StoreResult<Self> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| error::failed(e, "parsing the MongoDB connection string"))?;
        if options.app_name.is_none() {
            options.app_name = Some("praan".to_owned());
        }
        let hosts = options
            .hosts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let client = Client::with_options(options)
            .map_err(|e| error::failed(e, "configuring the MongoDB client"))?;
        let store = Self::from_database(client.database(database));
        store.ping_database().await.map_err(|e| {
            error::failed(
                e,
                format!("connecting to MongoDB at {hosts} (database {database})"),
            )
        })?;
        Ok(store)
    }

    /// A store on a database of a client the caller configured (e.g. shared with the rest of an
    /// application). Does no I/O.
    pub fn from_database(db: Database) -> Self {
        use collections::*;
        Self {
            devices: db.collection(DEVICES),
            states: db.collection(DEVICE_STATES),
            state_docs: db.collection(DEVICE_STATES),
            readings: db.collection(READINGS),
            reading_docs: db.collection(READINGS),
            commands: db.collection(COMMANDS),
            schedules: db.collection(SCHEDULES),
            runs: db.collection(SCHEDULE_RUNS),
            pre_cleans: db.collection(PRE_CLEANS),
            controls: db.collection(CONTROL_STATES),
            write_behind: Arc::default(),
            db,
        }
    }

    /// The store with `clock` timing its write-behind's interval flushes (see
    /// [`write_behind`]; the default is the system clock), e.g. a `FakeClock` in tests. Call it
    /// before the store is used: what the previous write-behind kept is not carried over.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        let instance = self.write_behind.instance().to_owned();
        self.write_behind = Arc::new(write_behind::WriteBehind::new(clock, &instance));
        self
    }

    /// The store as the praan instance `name` among those sharing the database (default
    /// [`DEFAULT_INSTANCE`](write_behind::DEFAULT_INSTANCE)). Each instance keeps its own
    /// write-behind watermark and replays only its own when it starts again, so give each a
    /// stable name of its own (the example server uses its MQTT client id). Call it before the
    /// store is used, like [`with_clock`](Self::with_clock).
    #[must_use]
    pub fn with_instance(mut self, name: &str) -> Self {
        let clock = self.write_behind.clock();
        self.write_behind = Arc::new(write_behind::WriteBehind::new(clock, name));
        self
    }

    /// The database the store uses.
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn ping_database(&self) -> mongodb::error::Result<()> {
        self.db.run_command(doc! { "ping": 1 }).await.map(drop)
    }
}

/// The document `reading` is stored as in the [`readings`](collections::READINGS) collection
/// (without `_id`, which the driver adds): what [`TelemetryRepo::append_readings`] inserts. Public
/// for tools that write or compare the collection directly, such as the benchmark of
/// `append_readings` against a raw `insert_many` of the same documents.
///
/// [`TelemetryRepo::append_readings`]: praan_core::store::TelemetryRepo::append_readings
pub fn reading_document(reading: &Reading) -> StoreResult<RawDocumentBuf> {
    mongodb::bson::serialize_to_raw_document_buf(&ReadingRecord::from(reading)).map_err(|e| {
        let context = format!(
            "encoding the reading of {} at {}",
            reading.device_id(),
            reading.timestamp()
        );
        error::encode(e, context)
    })
}
