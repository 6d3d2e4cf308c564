//! What the SQLite store's test files share: the master key, opening a migrated store on a
//! file, its handles, and a plain connection to the file.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use custody_conformance::StoreHandles;
use custody_core::environment::Environment;
use custody_sql::MasterKey;
use custody_sqlite::{SqliteOptions, SqliteStore};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};

pub fn master() -> MasterKey {
    MasterKey::from_bytes([0xAB; 32])
}

/// `custody.db` in `dir`.
pub fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("custody.db")
}

/// The store on `path` (created if missing), migrated, with the default options.
pub async fn open_migrated(path: &Path) -> SqliteStore {
    open_migrated_with(path, SqliteOptions::default()).await
}

/// [`open_migrated`] with `options`.
pub async fn open_migrated_with(path: &Path, options: SqliteOptions) -> SqliteStore {
    let store = SqliteStore::open_with(path, master(), options)
        .await
        .expect("open");
    store.migrate().await.expect("migrate");
    store
}

/// The store's handles, the store itself as the guard.
pub fn handles(store: &SqliteStore) -> StoreHandles {
    StoreHandles {
        shared: store.shared(),
        sandbox: store.environment(Environment::Sandbox),
        live: store.environment(Environment::Live),
        guard: Box::new(store.clone()),
    }
}

/// A plain connection to the file, as a tool outside the store would open it.
pub async fn raw(path: &Path) -> SqliteConnection {
    raw_with(SqliteConnectOptions::new().filename(path)).await
}

/// A plain connection with `options`.
pub async fn raw_with(options: SqliteConnectOptions) -> SqliteConnection {
    SqliteConnection::connect_with(&options)
        .await
        .expect("raw connection")
}
