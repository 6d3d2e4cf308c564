//! The SQLite side of the shared statements: values bound as stored (times as integer
//! microseconds, booleans as 0/1, JSON as text), reads on the reader pool, and writes on the
//! single writer connection, each in a `BEGIN IMMEDIATE` transaction (so [`SqliteDialect`]
//! needs no row locks).

use std::sync::Arc;

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::id::VaultId;
use custody_core::ports::StoreError;
use custody_sql::{Database, Rendered, SqliteDialect, Statement, Transaction, Value};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::Sqlite;

use crate::error::db_err;
use crate::group::Written;
use crate::row::{micros, Row};
use crate::Inner;

/// A statement rendered for SQLite, ready to bind.
pub(crate) struct Bound(Rendered);

impl Bound {
    pub(crate) fn new(stmt: Statement, env: Option<Environment>) -> Result<Bound, StoreError> {
        stmt.render_in(env, &SqliteDialect).map(Bound)
    }

    pub(crate) fn query(&self) -> sqlx::query::Query<'_, Sqlite, SqliteArguments<'_>> {
        self.0
            .values
            .iter()
            .fold(sqlx::query(&self.0.sql), |q, value| match value.clone() {
                Value::Text(v) => q.bind(v),
                Value::Int(v) => q.bind(v),
                Value::Bool(v) => q.bind(i64::from(v)),
                Value::Bytes(v) => q.bind(v),
                Value::Time(v) => q.bind(v.map(micros)),
                Value::Decimal(v) => q.bind(v),
                Value::Json(v) => q.bind(v.map(|json| json.to_string())),
            })
    }
}

fn rows(rows: Vec<SqliteRow>) -> Vec<Row> {
    rows.into_iter().map(Row).collect()
}

/// The database, bound to an environment (whose name it binds as `:environment`) or shared.
#[derive(Clone)]
pub(crate) struct SqliteDb {
    pub(crate) inner: Arc<Inner>,
    pub(crate) env: Option<Environment>,
}

#[async_trait]
impl Database for SqliteDb {
    type Row = Row;
    type Tx = SqliteTx;

    async fn fetch_all(&self, stmt: Statement) -> Result<Vec<Row>, StoreError> {
        let bound = Bound::new(stmt, self.env)?;
        let fetched = bound.query().fetch_all(&self.inner.reader).await;
        fetched.map(rows).map_err(db_err)
    }

    /// Queued for the writer's next group commit (`group`): answered once committed.
    async fn write_all(&self, stmt: Statement) -> Result<Vec<Row>, StoreError> {
        let bound = Bound::new(stmt, self.env)?;
        match self.inner.group.write(bound, true).await? {
            Written::Rows(written) => Ok(rows(written)),
            Written::Changed(_) => Err(StoreError::Internal("a write returned no rows".into())),
        }
    }

    /// Queued for the writer's next group commit (`group`): answered once committed.
    async fn write(&self, stmt: Statement) -> Result<u64, StoreError> {
        let bound = Bound::new(stmt, self.env)?;
        match self.inner.group.write(bound, false).await? {
            Written::Changed(changed) => Ok(changed),
            Written::Rows(_) => Err(StoreError::Internal("a write returned rows".into())),
        }
    }

    async fn begin(&self) -> Result<SqliteTx, StoreError> {
        Ok(SqliteTx {
            tx: self.inner.begin_write().await?,
            env: self.env,
        })
    }

    /// A deferred transaction on a reader connection: in WAL mode its first read fixes the
    /// snapshot every later statement sees, and writers carry on meanwhile.
    async fn begin_snapshot(&self) -> Result<SqliteTx, StoreError> {
        let tx = self
            .inner
            .reader
            .begin_with("BEGIN DEFERRED")
            .await
            .map_err(db_err)?;
        Ok(SqliteTx { tx, env: self.env })
    }
}

/// A write transaction. It holds the database's write lock from `BEGIN IMMEDIATE` until it
/// commits or is dropped (sqlx rolls a dropped transaction back before the connection is used
/// again).
pub(crate) struct SqliteTx {
    tx: sqlx::Transaction<'static, Sqlite>,
    env: Option<Environment>,
}

#[async_trait]
impl Transaction for SqliteTx {
    type Row = Row;

    const MINTING_LOCK_IS_A_STATEMENT: bool = false;
    const ADDS_DECIMALS_IN_SQL: bool = false;

    async fn fetch_all(&mut self, stmt: Statement) -> Result<Vec<Row>, StoreError> {
        let bound = Bound::new(stmt, self.env)?;
        let fetched = bound.query().fetch_all(&mut *self.tx).await;
        fetched.map(rows).map_err(db_err)
    }

    async fn execute(&mut self, stmt: Statement) -> Result<u64, StoreError> {
        let bound = Bound::new(stmt, self.env)?;
        let done = bound.query().execute(&mut *self.tx).await;
        done.map(|d| d.rows_affected()).map_err(db_err)
    }

    async fn lock_address_minting(
        &mut self,
        _vault: VaultId,
        _asset: AssetId,
    ) -> Result<(), StoreError> {
        // Nothing to do: this transaction began with BEGIN IMMEDIATE and holds the database's
        // single write lock until it ends. Every other unit of work, in this process (one
        // writer connection) or another (the file lock), waits at its own BEGIN, so no second
        // ensure for this (vault, asset), or any other, can run until this one has committed.
        Ok(())
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(db_err)
    }

    async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await.map_err(db_err)
    }
}
