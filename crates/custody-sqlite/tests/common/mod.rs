//! What the SQLite store's test files share: the master key, opening a migrated store on a
//! file, its handles, and a plain connection to the file.

// Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use custody_conformance::StoreHandles;
use custody_core::environment::Environment;
use custody_sql::{MasterKey, SqliteDialect, Statement, Value};
use custody_sqlite::{SqliteOptions, SqliteStore};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Row, SqliteConnection};

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

/// `EXPLAIN QUERY PLAN` of `stmt` in the live environment, one line per step.
pub async fn plan(conn: &mut SqliteConnection, stmt: Statement) -> Vec<String> {
    let rendered = stmt
        .bind("environment", Environment::Live.as_str())
        .render(&SqliteDialect)
        .expect("render");
    let sql = format!("EXPLAIN QUERY PLAN {}", rendered.sql);
    let mut query = sqlx::query(&sql);
    for value in rendered.values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
            Value::Bool(v) => query.bind(v),
            Value::Time(v) => {
                query.bind(v.map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000).unwrap()))
            }
            other => panic!("unexpected value {other:?}"),
        };
    }
    query
        .fetch_all(conn)
        .await
        .expect("explain")
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect()
}
