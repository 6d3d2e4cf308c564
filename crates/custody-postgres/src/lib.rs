//! # custody-postgres: the production store
//!
//! Every store port of [`custody_core::ports`] on PostgreSQL with sqlx: the schema in
//! `migrations/postgres/` (applied by [`PgStore::migrate`]), the unit of work with row locks,
//! the advisory lock that serialises address minting, the outbox claimed with
//! `FOR UPDATE SKIP LOCKED`, and the translation of database errors into
//! [`StoreError`].
//!
//! It owns I/O only. Every custody rule lives in `custody-core`; nothing here decides whether a
//! transfer is allowed, it only applies what a service asked for, atomically.
//!
//! ## Handles
//! [`PgStore`] owns the connection pool and the master key that seals HMAC secrets.
//! [`PgStore::shared`] hands out the stores both environments share (tenants, API keys);
//! [`PgStore::environment`] hands out every other port bound to one environment. Every query
//! such a handle runs filters on its environment (lookups by id, row locks, the outbox and the
//! idempotency records included), so a sandbox handle can never read, lock or change a live
//! row. Reads that name a tenant also filter on it.
//!
//! ## Locking
//! - [`lock_vault`](custody_core::ports::VaultTx::lock_vault): `FOR UPDATE`;
//!   [`share_vault`](custody_core::ports::VaultTx::share_vault): `FOR SHARE`;
//!   [`lock_wallets`](custody_core::ports::WalletTx::lock_wallets): `FOR UPDATE` in ascending id
//!   order. The lock order services follow is the `StoreTx` contract's.
//! - [`lock_address_minting`](custody_core::ports::StoreTx::lock_address_minting): a
//!   transaction-scoped advisory lock (`pg_advisory_xact_lock`) on a stable 64-bit key, the
//!   first 8 bytes of SHA-256 over `custody:address-minting:{vault}:{asset}`.
//! - `update_*` writes only when the stored version is lower than the new one
//!   (`… AND version < $new`); otherwise `Conflict { constraint: "version" }`.
//! - Lock waits are bounded by `lock_timeout` ([`PgOptions::lock_timeout`]); a timeout is
//!   [`StoreError::Unavailable`].
//!
//! ## A failed statement ends the unit of work
//! When a statement inside a [`StoreTx`](custody_core::ports::StoreTx) fails in the database (a
//! `Conflict` from a unique constraint, say), PostgreSQL aborts the whole transaction: drop it
//! and start again, as the services do. Committing it anyway returns
//! [`StoreError::Internal`] after rolling back, rather than PostgreSQL's silent rollback.
//! (`NotFound` from a lookup or from an `update_*` that matched nothing is not such a failure.)
//!
//! ## Values
//! Amounts are `numeric(39,0)`: bound as decimal text (`$n::numeric`) and selected as
//! `CAST(col AS TEXT)`, so no float ever touches money. Times are `timestamptz`, which keeps
//! **microseconds**: a time with finer precision handed to the store comes back truncated to
//! the microsecond.
//!
//! ## Layout
//! Every statement, and every port over them, is written once in `custody-sql` (by aggregate,
//! shared with the SQLite store). This crate holds what is PostgreSQL's own: `db` (placeholders,
//! locking clauses, binding each value with its sqlx type, the pool and its transactions, the
//! minting advisory lock), `row` (reading a column), `error` and the connection settings here.
//!
//! ## Tests
//! With the `testing` feature, the `testing` module starts a throwaway PostgreSQL cluster (or uses
//! `DATABASE_URL`) and hands each test its own migrated database.

#![warn(missing_docs)]

mod db;
mod error;
mod row;

#[cfg(feature = "testing")]
pub mod testing;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use custody_core::environment::Environment;
use custody_core::ports::{EnvironmentStores, SharedStores, StoreError};
use custody_sql::{Counted, EnvStore, SharedStore, StatementCounter, StatementCounts};
pub use custody_sql::{DatabaseUrl, MasterKey};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::db::PgDb;

/// A pooled connection idle for at least this long is pinged before it is handed out.
const IDLE_PING_AFTER: Duration = Duration::from_secs(5);
use crate::error::db_err;

/// Connection pool and session settings. `Default` suits a small production instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Most connections the pool opens (default 20).
    pub max_connections: u32,
    /// Connections kept open even when idle (default 0).
    pub min_connections: u32,
    /// How long a caller waits for a free connection (or for the server to accept one) before
    /// [`StoreError::Unavailable`] (default 10 s).
    pub acquire_timeout: Duration,
    /// `statement_timeout` of every session; `None` keeps the server's (default 30 s).
    pub statement_timeout: Option<Duration>,
    /// `lock_timeout` of every session: how long a row or advisory lock is waited for; `None`
    /// keeps the server's (default 15 s). Address minting holds its advisory lock across the
    /// provider call, so this must exceed a provider call's worst case.
    pub lock_timeout: Option<Duration>,
    /// `idle_in_transaction_session_timeout`: a transaction left idle this long is ended by the
    /// server; `None` keeps the server's (default 120 s).
    pub idle_in_transaction_timeout: Option<Duration>,
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            max_connections: 20,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
            statement_timeout: Some(Duration::from_secs(30)),
            lock_timeout: Some(Duration::from_secs(15)),
            idle_in_transaction_timeout: Some(Duration::from_secs(120)),
        }
    }
}

/// The PostgreSQL store: a connection pool and the master key that seals HMAC secrets.
/// Cheap to clone (the pool is shared). `Debug` shows neither the URL nor the key.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    master: MasterKey,
    counter: Arc<StatementCounter>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.pool.size())
            .field("idle", &self.pool.num_idle())
            .field("closed", &self.pool.is_closed())
            .field("master", &self.master)
            .finish()
    }
}

impl PgStore {
    /// Opens a pool on `url` with `options` and checks that one connection can be made.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the server cannot be reached within
    /// [`PgOptions::acquire_timeout`] (refused, unreachable, TLS trouble);
    /// [`StoreError::Internal`] for a malformed URL or a refused login.
    pub async fn connect(
        url: &DatabaseUrl,
        master: MasterKey,
        options: PgOptions,
    ) -> Result<PgStore, StoreError> {
        let mut session: Vec<(&str, String)> = Vec::new();
        let millis = |d: Duration| d.as_millis().to_string();
        if let Some(d) = options.statement_timeout {
            session.push(("statement_timeout", millis(d)));
        }
        if let Some(d) = options.lock_timeout {
            session.push(("lock_timeout", millis(d)));
        }
        if let Some(d) = options.idle_in_transaction_timeout {
            session.push(("idle_in_transaction_session_timeout", millis(d)));
        }
        let mut connect = PgConnectOptions::from_str(url.expose()).map_err(db_err)?;
        if !session.is_empty() {
            connect = connect.options(session);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            // sqlx pings every connection it hands out by default: one more round trip per
            // statement outside a transaction (a GET by id sent four statements and four
            // pings). A connection that has just been used is known to be alive, so only one
            // idle for longer than IDLE_PING_AFTER is pinged (after a database restart the
            // pooled connections are idle and get tested, as before); a connection that dies
            // mid-burst fails its one statement with 503, which the partner retries.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= IDLE_PING_AFTER {
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(db_err)?;
        Ok(PgStore {
            pool,
            master,
            counter: Arc::default(),
        })
    }

    /// Applies the schema migrations in `migrations/postgres/` that have not run yet. Safe to
    /// call from several instances at once (sqlx serialises them with an advisory lock).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] on connection trouble; [`StoreError::Internal`] when a
    /// migration fails or the database holds a migration this build does not know.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../../migrations/postgres")
            .run(&self.pool)
            .await
            .map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(err) => db_err(err),
                other => StoreError::Internal(Box::new(other)),
            })
    }

    /// Checks that the database answers (`SELECT 1`), for `/readyz`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    /// The pool's usage (the pool metrics).
    pub fn pool_usage(&self) -> Vec<custody_sql::PoolUsage> {
        vec![custody_sql::pool::of("postgres", &self.pool)]
    }

    /// The stores both environments share: tenants (with their enabled assets) and API keys.
    pub fn shared(&self) -> SharedStores {
        let db = PgDb {
            pool: self.pool.clone(),
            env: None,
        };
        SharedStore::ports(Counted::new(db, self.counter.clone()), self.master.clone())
    }

    /// Every environment-bound port, bound to `env`: no handle here can see the other
    /// environment's rows.
    pub fn environment(&self, env: Environment) -> EnvironmentStores {
        let db = PgDb {
            pool: self.pool.clone(),
            env: Some(env),
        };
        EnvStore::ports(Counted::new(db, self.counter.clone()), env)
    }

    /// Statements, transactions and commits sent through this store's handles since it was
    /// connected (every handle of every clone): the durable work of a request is the
    /// difference of two snapshots (see [`custody_sql::counted`]).
    pub fn statement_counts(&self) -> StatementCounts {
        self.counter.snapshot()
    }

    /// Closes the pool: waits for checked-out connections to be returned, then closes them.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
