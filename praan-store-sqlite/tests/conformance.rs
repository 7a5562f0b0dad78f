//! The store conformance suite against [`SqliteStore`], on a fresh database file per case.

use praan_core::{conformance::Fixture, store::Store};
use praan_store_sqlite::SqliteStore;

/// A store on a database file in a temporary directory, deleted when the case ends.
struct TempDb {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Fixture for TempDb {
    fn store(&self) -> &dyn Store {
        &self.store
    }
}

async fn temp_db() -> TempDb {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("praan.db").display());
    let store = SqliteStore::connect(&url)
        .await
        .expect("open a fresh SQLite database");
    TempDb { store, _dir: dir }
}

praan_core::store_conformance_tests!(temp_db);
