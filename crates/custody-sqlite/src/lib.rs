//! # custody-sqlite: the embedded default store
//!
//! Every store port of [`custody_core::ports`] on an embedded SQLite database with sqlx: the
//! schema in `migrations/sqlite/` (the same logical schema as PostgreSQL's), rows decoded by the
//! shared codec of `custody-sql`, and the same conformance suite as `custody-postgres`. It is
//! what `custody serve` uses when no `DATABASE_URL` is given, so a partner can try the product
//! with nothing installed.
//!
//! ## The single writer
//! SQLite allows one writer at a time per database file. This store embraces that instead of
//! fighting it:
//! - **Every write** (units of work, tenant and key writes, idempotency reserve / release /
//!   purge, outbox claims and attempts) goes through one *writer* pool holding exactly one
//!   connection, and every write transaction starts with `BEGIN IMMEDIATE`, which takes the
//!   database's write lock before the first read. A read-then-write transaction therefore never
//!   fails on a lock upgrade, and a second process on the same file (`custody admin` beside
//!   `custody serve`) waits for the lock (`busy_timeout`) rather than failing or corrupting
//!   anything.
//! - Because a [`StoreTx`](custody_core::ports::StoreTx) holds that lock from its first
//!   statement to its end, the `lock_*` / `share_*` methods are plain reads: nobody else can
//!   write in between. [`lock_address_minting`](custody_core::ports::StoreTx::lock_address_minting)
//!   is a no-op for the same reason: two `ensure_primary_address` calls for one (vault, asset)
//!   cannot both be inside their transactions at once, in this process (one connection) or in
//!   another (the file's write lock), so the second finds the first's address.
//! - A write outside a unit of work is one statement (a request's single-use signature, its
//!   idempotency reservation, a heartbeat, an outbox claim). Those are queued and committed
//!   in groups by one task on the writer: whatever queued while the writer was busy commits
//!   together, with one `fsync`, and each caller is answered after that commit (see `group`).
//! - Reads outside units of work use a separate *reader* pool of several connections; WAL mode
//!   lets them run while a write is in progress and see every committed write.
//! - An in-memory database (tests, [`SqliteStore::in_memory`]) lives in one connection, so
//!   readers and the writer share that single connection.
//!
//! The services' "one handle at a time" rule (see
//! [`StoreTx`](custody_core::ports::StoreTx)) is what keeps this deadlock-free: a service never
//! waits for the writer while holding it.
//!
//! ## A failed statement ends the unit of work
//! SQLite undoes only the statement that failed (a unique rule, a CHECK) and keeps the
//! transaction open. The `StoreTx` contract ends a unit of work at its first error, as
//! PostgreSQL does, so committing it anyway rolls back and returns
//! [`StoreError::Internal`] instead of publishing the writes made before the failure.
//! (`NotFound` from a lookup or from an `update_*` that matched nothing is not such a failure.)
//!
//! ## Values
//! Timestamps are stored as whole microseconds since the Unix epoch (an INTEGER, so comparisons
//! and ordering are numeric); finer precision handed to the store is dropped, as PostgreSQL's
//! `timestamptz` drops it. Amounts are canonical base-unit decimal strings (a `u128` does not fit
//! an INTEGER). Every query of an environment-bound handle filters on its environment.
//!
//! ## The write-ahead log
//! SQLite's automatic checkpoints are passive and, when reads overlap every commit, may never
//! let the log start over, so a connection of its own checkpoints it every second
//! ([`SqliteOptions::checkpoint_every`]): a passive copy, then a `TRUNCATE` that empties the log
//! when it holds [`TRUNCATE_ABOVE_FRAMES`] frames or more, waiting at most [`CHECKPOINT_BUSY`]
//! for the write lock and for readers, and retried at the next interval when it could not
//! finish, backing off (see [`SqliteStore::checkpoint`]). No checkpoint can copy past a
//! snapshot that a connection keeps open (the benchmark's soak had one until the webhook claim
//! was bounded: docs/performance.md, change 21).
//!
//! ## Layout
//! Every statement, and every port over them, is written once in `custody-sql` (by aggregate,
//! shared with the PostgreSQL store). This crate holds what is SQLite's own: `db` (placeholders,
//! binding each value as stored, the reader and writer pools and `BEGIN IMMEDIATE`
//! transactions), `row` (reading a column), `error` (unique rules named as PostgreSQL names them)
//! and opening a database here.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use custody_core::environment::Environment;
use custody_core::ports::{EnvironmentStores, SharedStores, StoreError};
use custody_sql::{DatabaseUrl, MasterKey};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Sqlite;

mod checkpoint;
mod db;
mod error;
pub mod files;
mod group;
mod row;

pub use checkpoint::{WalCheckpoint, CHECKPOINT_BUSY, JOURNAL_SIZE_LIMIT, TRUNCATE_ABOVE_FRAMES};
use custody_sql::{Counted, EnvStore, SharedStore, StatementCounter, StatementCounts};
use db::SqliteDb;
use error::db_err;

/// How long a connection waits for another process's write lock before giving up
/// (`Unavailable`).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a caller waits for the writer connection (or a reader) of this process.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(60);
/// Reader connections for a database file.
const READERS: u32 = 4;

/// How a database file is kept (the defaults are what `custody serve` uses unless configured).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// How often a connection of its own checkpoints the write-ahead log (see
    /// [`SqliteStore::checkpoint`]); `None`: never (only SQLite's passive automatic
    /// checkpoints run, and under steady load the log grows without bound). Default 1 s.
    pub checkpoint_every: Option<Duration>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            checkpoint_every: Some(Duration::from_secs(1)),
        }
    }
}

/// The embedded SQLite store. Cheap to clone (all clones share the pools). `Debug` shows where
/// the database is, never the master key.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

/// What every handle shares.
pub(crate) struct Inner {
    /// Exactly one connection: every write goes through it.
    pub(crate) writer: SqlitePool,
    /// Reads outside units of work (the same pool as `writer` for an in-memory database).
    pub(crate) reader: SqlitePool,
    /// Seals and opens HMAC signing secrets.
    pub(crate) master: MasterKey,
    /// The database file, or `:memory:`; for `Debug` and error messages.
    location: String,
    /// What every handle sends ([`SqliteStore::statement_counts`]).
    pub(crate) counter: Arc<StatementCounter>,
    /// Single-statement writes, committed in groups on the writer (`group`).
    pub(crate) group: group::GroupCommit,
    /// The write-ahead log's checkpoints (`checkpoint`); none for an in-memory database.
    checkpoints: Option<checkpoint::Checkpoints>,
}

impl Inner {
    /// Starts a write transaction on the writer connection with `BEGIN IMMEDIATE`: the write
    /// lock is taken now, so a read-then-write sequence never fails on a lock upgrade, and
    /// another process waits (`busy_timeout`) instead of interleaving.
    pub(crate) async fn begin_write(
        &self,
    ) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_err)
    }
}

/// Why a database could not be opened, with the place it was looked for.
#[derive(Debug)]
struct OpenError {
    location: String,
    reason: String,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open the SQLite database at {}: {}",
            self.location, self.reason
        )
    }
}

impl std::error::Error for OpenError {}

fn open_error(location: &str, reason: impl fmt::Display) -> StoreError {
    StoreError::Unavailable(Box::new(OpenError {
        location: location.to_owned(),
        reason: reason.to_string(),
    }))
}

impl SqliteStore {
    /// Opens (creating it, and its parent directory, if missing) the database file at `path`
    /// in WAL mode, with foreign keys enforced, `busy_timeout` and `synchronous=FULL`. Run
    /// [`migrate`](SqliteStore::migrate) before use.
    ///
    /// # Errors
    /// `Unavailable` (naming the path) when the directory cannot be created or the file cannot
    /// be opened or written.
    pub async fn open(path: &Path, master: MasterKey) -> Result<SqliteStore, StoreError> {
        Self::open_with(path, master, SqliteOptions::default()).await
    }

    /// [`open`](SqliteStore::open) with `options`.
    ///
    /// # Errors
    /// As [`open`](SqliteStore::open).
    pub async fn open_with(
        path: &Path,
        master: MasterKey,
        options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let connect = SqliteConnectOptions::new().filename(path);
        Self::open_file(connect, master, options).await
    }

    /// Opens the database a `sqlite:` URL names: `sqlite://path/to/file.db` (created if
    /// missing, like [`open`](SqliteStore::open)) or `sqlite::memory:` (a private in-memory
    /// database, like [`in_memory`](SqliteStore::in_memory)).
    ///
    /// # Errors
    /// `Internal` for a URL that is not an SQLite URL; otherwise as [`open`](SqliteStore::open).
    pub async fn connect(url: &DatabaseUrl, master: MasterKey) -> Result<SqliteStore, StoreError> {
        Self::connect_with(url, master, SqliteOptions::default()).await
    }

    /// [`connect`](SqliteStore::connect) with `options` (which an in-memory database ignores).
    ///
    /// # Errors
    /// As [`connect`](SqliteStore::connect).
    pub async fn connect_with(
        url: &DatabaseUrl,
        master: MasterKey,
        store_options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let raw = url.expose();
        if !raw.starts_with("sqlite:") {
            return Err(StoreError::Internal(
                format!("not an SQLite URL: {url} (expected sqlite://path or sqlite::memory:)")
                    .into(),
            ));
        }
        let options = SqliteConnectOptions::from_str(raw)
            .map_err(|e| StoreError::Internal(format!("invalid SQLite URL {url}: {e}").into()))?;
        if raw.contains(":memory:") || raw.contains("mode=memory") {
            Self::open_memory(options, master).await
        } else {
            Self::open_file(options, master, store_options).await
        }
    }

    /// A new private in-memory database (gone when the last clone is dropped).
    ///
    /// # Errors
    /// `Unavailable` if SQLite cannot allocate it.
    pub async fn in_memory(master: MasterKey) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .in_memory(true)
            .shared_cache(false);
        Self::open_memory(options, master).await
    }

    /// The database file a `sqlite:` URL names; `None` for an in-memory database or a URL
    /// that is not SQLite's.
    pub fn file_of(url: &DatabaseUrl) -> Option<PathBuf> {
        let raw = url.expose();
        if !raw.starts_with("sqlite:") || raw.contains(":memory:") || raw.contains("mode=memory") {
            return None;
        }
        SqliteConnectOptions::from_str(raw)
            .ok()
            .map(|o| o.get_filename().to_path_buf())
    }

    async fn open_file(
        options: SqliteConnectOptions,
        master: MasterKey,
        store_options: SqliteOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = options.get_filename().to_path_buf();
        let location = path.display().to_string();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            files::create_private_dir(parent).map_err(|e| {
                open_error(
                    &location,
                    format_args!("cannot create directory {}: {e}", parent.display()),
                )
            })?;
        }
        // Created here, owner-only, before SQLite opens it: SQLite gives the -wal and -shm
        // files the database file's permissions, so they are owner-only too.
        files::create_private_file(&path)
            .map_err(|e| open_error(&location, format_args!("cannot create the file: {e}")))?;
        let base = options
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // A log started over is cut back to this size (`checkpoint`).
            .pragma("journal_size_limit", JOURNAL_SIZE_LIMIT.to_string())
            // FULL: a committed transaction survives a power loss, not only a crash of the
            // process (NORMAL in WAL mode may lose the last commits). Nothing committed is lost.
            .synchronous(SqliteSynchronous::Full);
        // The writer first: it creates the file and switches it to WAL, which is a persistent
        // property of the file, so readers (opened afterwards) need not set it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(base.clone().journal_mode(SqliteJournalMode::Wal))
            .await
            .map_err(|e| open_error(&location, e))?;
        // A write, rolled back, proves the file is writable now rather than at the first
        // request (SQLite opens a write-protected file read-only without complaint).
        let mut probe = writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| open_error(&location, e))?;
        sqlx::query("CREATE TABLE _custody_open_check (x INTEGER)")
            .execute(&mut *probe)
            .await
            .map_err(|e| open_error(&location, e))?;
        probe
            .rollback()
            .await
            .map_err(|e| open_error(&location, e))?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(base.clone().pragma("query_only", "ON"))
            .await
            .map_err(|e| open_error(&location, e))?;
        // The checkpoints' own connection, with a short busy timeout: it never holds the
        // writer connection, and gives up rather than keep the write lock waiting.
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(base.busy_timeout(CHECKPOINT_BUSY))
            .await
            .map_err(|e| open_error(&location, e))?;
        let checkpoints =
            checkpoint::Checkpoints::start(checkpointer, store_options.checkpoint_every)?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                group: group::GroupCommit::new(writer.clone()),
                writer,
                reader,
                master,
                location,
                counter: Arc::default(),
                checkpoints: Some(checkpoints),
            }),
        })
    }

    async fn open_memory(
        options: SqliteConnectOptions,
        master: MasterKey,
    ) -> Result<SqliteStore, StoreError> {
        // One connection that is never closed while the store lives: an in-memory database
        // exists only as long as a connection to it does.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(false)
            .connect_with(options.foreign_keys(true))
            .await
            .map_err(|e| open_error(":memory:", e))?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                group: group::GroupCommit::new(pool.clone()),
                writer: pool.clone(),
                reader: pool,
                master,
                location: ":memory:".to_owned(),
                counter: Arc::default(),
                checkpoints: None,
            }),
        })
    }

    /// Applies the embedded migrations (`migrations/sqlite/`) that have not run yet.
    ///
    /// Two processes migrating a new database at the same moment may collide on any file (the
    /// loser finds the objects the winner just created; SQLite's migrator takes no lock). Each
    /// collision means the other process applied that file, so the loser retries, at most once
    /// per embedded file, and finds it applied; a migration that is really broken fails every
    /// time and its error is returned.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Internal` when a migration fails or
    /// an applied one differs from the embedded one.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = sqlx::migrate!("../../migrations/sqlite");
        let mut retries = migrator.iter().count();
        loop {
            match migrator.run(&self.inner.writer).await {
                Ok(()) => return Ok(()),
                Err(_) if retries > 0 => retries -= 1,
                Err(e) => return Err(migrate_error(e)),
            }
        }
    }

    /// Checks that the database answers (for `/readyz`).
    ///
    /// # Errors
    /// `Unavailable` when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.inner.reader)
            .await
            .map(|_| ())
            .map_err(db_err)
    }

    /// Closes both pools: every later query fails as unavailable (tests of what the server
    /// does while its store is down).
    pub async fn close(&self) {
        self.inner.writer.close().await;
        self.inner.reader.close().await;
        if let Some(checkpoints) = &self.inner.checkpoints {
            checkpoints.close().await;
        }
    }

    /// One checkpoint of the write-ahead log now, on the checkpoint connection: a passive copy,
    /// then, when the log holds [`TRUNCATE_ABOVE_FRAMES`] frames or more, a `TRUNCATE` that
    /// empties it unless the write lock or a reader of an older snapshot is held past
    /// [`CHECKPOINT_BUSY`] (then `busy`, and the next one retries). A file-backed store does
    /// this by itself every [`SqliteOptions::checkpoint_every`]. `None` for an in-memory
    /// database, which has no log.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached.
    pub async fn checkpoint(&self) -> Result<Option<WalCheckpoint>, StoreError> {
        match &self.inner.checkpoints {
            Some(checkpoints) => checkpoints.run().await.map(Some),
            None => Ok(None),
        }
    }

    /// The usage of the writer and reader pools (the pool metrics). An in-memory store has one
    /// pool, reported as the writer.
    pub fn pool_usage(&self) -> Vec<custody_sql::PoolUsage> {
        let writer = custody_sql::pool::of("sqlite_writer", &self.inner.writer);
        if self.inner.location == ":memory:" {
            return vec![writer];
        }
        vec![
            writer,
            custody_sql::pool::of("sqlite_reader", &self.inner.reader),
        ]
    }

    /// The handles shared by both environments: tenants and API keys.
    pub fn shared(&self) -> SharedStores {
        let db = SqliteDb {
            inner: self.inner.clone(),
            env: None,
        };
        let db = Counted::new(db, self.inner.counter.clone());
        SharedStore::ports(db, self.inner.master.clone())
    }

    /// Every store handle bound to `env`: none of them can see or change the other
    /// environment's rows.
    pub fn environment(&self, env: Environment) -> EnvironmentStores {
        let db = SqliteDb {
            inner: self.inner.clone(),
            env: Some(env),
        };
        EnvStore::ports(Counted::new(db, self.inner.counter.clone()), env)
    }

    /// Statements, transactions and commits sent through this store's handles since it was
    /// opened (every handle of every clone): the durable work of a request is the difference
    /// of two snapshots (see [`custody_sql::counted`]).
    pub fn statement_counts(&self) -> StatementCounts {
        self.inner.counter.snapshot()
    }
}

fn migrate_error(err: sqlx::migrate::MigrateError) -> StoreError {
    match err {
        sqlx::migrate::MigrateError::Execute(e) => match db_err(e) {
            StoreError::Unavailable(e) => StoreError::Unavailable(e),
            other => StoreError::Internal(Box::new(other)),
        },
        other => StoreError::Internal(Box::new(other)),
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("location", &self.inner.location)
            .field("writer_connections", &1)
            .field(
                "reader_connections",
                &self.inner.reader.options().get_max_connections(),
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::collections::BTreeSet;

    use super::*;

    /// SQLite reports a unique violation by its columns; every unique index of the schema must
    /// map back to a name, and a named index to its own name.
    #[tokio::test]
    async fn every_unique_index_of_the_schema_has_its_postgres_name() {
        let store = SqliteStore::in_memory(MasterKey::from_bytes([0; 32]))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let pool = &store.inner.writer;
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_sqlx%'",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        assert!(tables.len() >= 12, "{tables:?}");
        let mut names = BTreeSet::new();
        for table in &tables {
            let indexes: Vec<(String, i64)> =
                sqlx::query_as("SELECT name, \"unique\" FROM pragma_index_list(?1)")
                    .bind(table)
                    .fetch_all(pool)
                    .await
                    .unwrap();
            for (index, unique) in indexes {
                if unique == 0 {
                    continue;
                }
                let columns: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_index_info(?1) ORDER BY seqno")
                        .bind(&index)
                        .fetch_all(pool)
                        .await
                        .unwrap();
                let message = format!(
                    "UNIQUE constraint failed: {}",
                    columns
                        .iter()
                        .map(|c| format!("{table}.{c}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let name = error::constraint_for_message(&message)
                    .unwrap_or_else(|| panic!("no name for {index}: {message}"));
                if !index.starts_with("sqlite_autoindex_") {
                    assert_eq!(name, index, "{message}");
                }
                if columns.len() > 1 && columns[0] == "id" {
                    // A key child foreign keys point at: only a duplicate id violates it.
                    assert_eq!(name, format!("{table}_pkey"), "{message}");
                    continue;
                }
                assert!(names.insert(name.clone()), "{name} named twice");
            }
        }
        for expected in [
            "tenants_pkey",
            "tenant_assets_pkey",
            "api_keys_pkey",
            "api_keys_key_hash_key",
            "vaults_pkey",
            "vaults_tenant_external_ref_key",
            "vaults_one_treasury_key",
            "wallets_pkey",
            "wallets_vault_asset_key",
            "deposit_addresses_pkey",
            "deposit_addresses_network_address_key",
            "deposit_addresses_one_primary_key",
            "deposit_addresses_wallet_index_key",
            "address_book_entries_pkey",
            "address_book_entries_active_address_key",
            "transactions_pkey",
            "transactions_kind_provider_ref_key",
            "events_pkey",
            "webhook_delivery_attempts_pkey",
            "idempotency_records_pkey",
            "unattributed_deposits_pkey",
            "instances_pkey",
            "asset_totals_pkey",
        ] {
            assert!(
                names.contains(expected),
                "{expected} missing from {names:?}"
            );
        }
    }
}
