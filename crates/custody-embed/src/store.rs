//! The store, whichever engine: [`Store::open`] picks it from the URL's scheme.

use std::sync::Arc;

use async_trait::async_trait;
use custody_core::environment::Environment;
use custody_core::ports::{EnvironmentStores, SharedStores, StoreError};
use custody_postgres::{PgOptions, PgStore};
use custody_sql::{DatabaseUrl, MasterKey};
use custody_sqlite::SqliteStore;

/// An opened store, whichever engine. Cloning shares the connection pool.
#[derive(Clone)]
pub enum Store {
    /// The embedded default: an SQLite file (WAL), or a private in-memory database.
    Sqlite(SqliteStore),
    /// PostgreSQL, the production store of several instances.
    Postgres(PgStore),
    /// Another implementation of core's store ports (a third-party adapter that passes the
    /// conformance suite, docs/embedding.md).
    Other(Arc<dyn StoreBackend>),
}

/// A store adapter outside this workspace: the handles of core's store ports over one database,
/// both environments side by side (the shape `custody_conformance::StoreHandles` checks).
#[async_trait]
pub trait StoreBackend: Send + Sync {
    /// Handles shared by both environments (tenants, keys, instances, the sealer).
    fn shared(&self) -> SharedStores;
    /// Handles bound to one environment.
    fn environment(&self, env: Environment) -> EnvironmentStores;
    /// The engine's name, for logs.
    fn engine(&self) -> &'static str;
    /// Applies pending schema migrations.
    ///
    /// # Errors
    /// The adapter's.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// A trivial round trip to the database.
    ///
    /// # Errors
    /// The adapter's.
    async fn ping(&self) -> Result<(), StoreError>;
}

impl Store {
    /// Opens the store a URL names and applies pending migrations: `postgres://` and
    /// `postgresql://` select PostgreSQL, `sqlite:` an SQLite file (`sqlite://custody.db`,
    /// `sqlite:///abs/path.db`, `sqlite::memory:`). `master` seals signing and webhook secrets
    /// at rest: keep it (the same key) for the life of the database.
    ///
    /// # Errors
    /// [`StoreError::Internal`] for another scheme or a failed migration;
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn open(url: &DatabaseUrl, master: MasterKey) -> Result<Store, StoreError> {
        let store = Store::connect(url, master).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// [`Store::open`] without the migrations.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn connect(url: &DatabaseUrl, master: MasterKey) -> Result<Store, StoreError> {
        let raw = url.expose();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            Ok(Store::Postgres(
                PgStore::connect(url, master, PgOptions::default()).await?,
            ))
        } else if raw.starts_with("sqlite:") {
            Ok(Store::Sqlite(SqliteStore::connect(url, master).await?))
        } else {
            Err(StoreError::Internal(
                format!(
                    "{url}: the store URL must start with postgres://, postgresql:// or sqlite:"
                )
                .into(),
            ))
        }
    }

    /// Applies pending migrations (both engines are safe to migrate from several processes).
    ///
    /// # Errors
    /// As the engine's `migrate`.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.migrate().await,
            Store::Postgres(s) => s.migrate().await,
            Store::Other(s) => s.migrate().await,
        }
    }

    /// A trivial round trip to the database (what `/readyz` asks).
    ///
    /// # Errors
    /// The engine's error.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.ping().await,
            Store::Postgres(s) => s.ping().await,
            Store::Other(s) => s.ping().await,
        }
    }

    /// Handles shared by both environments.
    pub fn shared(&self) -> SharedStores {
        match self {
            Store::Sqlite(s) => s.shared(),
            Store::Postgres(s) => s.shared(),
            Store::Other(s) => s.shared(),
        }
    }

    /// Handles bound to one environment.
    pub fn environment(&self, env: Environment) -> EnvironmentStores {
        match self {
            Store::Sqlite(s) => s.environment(env),
            Store::Postgres(s) => s.environment(env),
            Store::Other(s) => s.environment(env),
        }
    }

    /// Statements, transactions and commits sent to the store so far (issue 18: the durable
    /// work of a request is the difference of two snapshots). `None` for an outside adapter,
    /// which is not counted.
    pub fn statement_counts(&self) -> Option<custody_sql::StatementCounts> {
        match self {
            Store::Sqlite(s) => Some(s.statement_counts()),
            Store::Postgres(s) => Some(s.statement_counts()),
            Store::Other(_) => None,
        }
    }

    /// The connection pools' usage (idle, in use, max), for metrics. Empty for an outside
    /// adapter, whose pools are its own.
    pub fn pool_usage(&self) -> Vec<custody_sql::PoolUsage> {
        match self {
            Store::Sqlite(s) => s.pool_usage(),
            Store::Postgres(s) => s.pool_usage(),
            Store::Other(_) => Vec::new(),
        }
    }

    /// The engine's name, for logs.
    pub fn engine(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
            Store::Other(s) => s.engine(),
        }
    }
}
