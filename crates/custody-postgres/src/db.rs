//! The PostgreSQL side of the shared statements: values bound with their natural sqlx types
//! (amounts as decimal text, which [`PgDialect`] casts to `numeric`), the pool and its
//! transactions, and the advisory lock that serialises address minting.
//!
//! Dropping a [`PgTx`] without committing rolls it back (sqlx issues the `ROLLBACK` when the
//! connection returns to the pool).

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::id::VaultId;
use custody_core::ports::StoreError;
use custody_sql::{Database, PgDialect, Rendered, Statement, Transaction, Value};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{PgPool, Postgres};

use crate::error::db_err;
use crate::row::Row;

/// A statement rendered for PostgreSQL, ready to bind.
struct Bound(Rendered);

impl Bound {
    fn new(stmt: Statement, env: Option<Environment>) -> Result<Bound, StoreError> {
        stmt.render_in(env, &PgDialect).map(Bound)
    }

    fn query(&self) -> sqlx::query::Query<'_, Postgres, PgArguments> {
        self.0
            .values
            .iter()
            .fold(sqlx::query(&self.0.sql), |q, value| match value.clone() {
                Value::Text(v) => q.bind(v),
                Value::Int(v) => q.bind(v),
                Value::Bool(v) => q.bind(v),
                Value::Bytes(v) => q.bind(v),
                Value::Time(v) => q.bind(v),
                Value::Decimal(v) => q.bind(v),
                Value::Json(v) => q.bind(v),
            })
    }
}

fn rows(rows: Vec<PgRow>) -> Vec<Row> {
    rows.into_iter().map(Row).collect()
}

/// The pool, bound to an environment (whose name it binds as `:environment`) or shared.
#[derive(Clone)]
pub(crate) struct PgDb {
    pub(crate) pool: PgPool,
    pub(crate) env: Option<Environment>,
}

#[async_trait]
impl Database for PgDb {
    type Row = Row;
    type Tx = PgTx;

    async fn fetch_all(&self, stmt: Statement) -> Result<Vec<Row>, StoreError> {
        let bound = Bound::new(stmt, self.env)?;
        let fetched = bound.query().fetch_all(&self.pool).await;
        fetched.map(rows).map_err(db_err)
    }

    async fn write_all(&self, stmt: Statement) -> Result<Vec<Row>, StoreError> {
        self.fetch_all(stmt).await
    }

    async fn write(&self, stmt: Statement) -> Result<u64, StoreError> {
        let bound = Bound::new(stmt, self.env)?;
        let done = bound.query().execute(&self.pool).await;
        done.map(|d| d.rows_affected()).map_err(db_err)
    }

    async fn begin(&self) -> Result<PgTx, StoreError> {
        Ok(PgTx {
            tx: self.pool.begin().await.map_err(db_err)?,
            env: self.env,
        })
    }

    async fn begin_snapshot(&self) -> Result<PgTx, StoreError> {
        let tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db_err)?;
        Ok(PgTx { tx, env: self.env })
    }
}

/// One database transaction.
pub(crate) struct PgTx {
    tx: sqlx::Transaction<'static, Postgres>,
    env: Option<Environment>,
}

#[async_trait]
impl Transaction for PgTx {
    type Row = Row;

    /// `numeric` adds exactly: a slot changes by one atomic `+`.
    const ADDS_DECIMALS_IN_SQL: bool = true;

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

    /// A transaction-scoped advisory lock on [`minting_lock_key`].
    async fn lock_address_minting(
        &mut self,
        vault: VaultId,
        asset: AssetId,
    ) -> Result<(), StoreError> {
        let locked = sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(minting_lock_key(vault, asset))
            .execute(&mut *self.tx)
            .await;
        locked.map(|_| ()).map_err(db_err)
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await.map_err(db_err)
    }

    async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await.map_err(db_err)
    }
}

/// The advisory-lock key of address minting for (vault, asset): the first 8 bytes of SHA-256
/// over a namespaced text, so it is stable across versions, builds and machines, and unlikely
/// to collide with another application's advisory locks on the same database.
pub(crate) fn minting_lock_key(vault: VaultId, asset: AssetId) -> i64 {
    let digest = Sha256::digest(format!("custody:address-minting:{vault}:{asset}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minting_lock_keys_are_stable_and_distinct() {
        let vault = VaultId::parse("vlt_01JD0000000000000000000000").unwrap();
        let other = VaultId::parse("vlt_01JD0000000000000000000001").unwrap();
        let usdc = AssetId::parse("USDC_ETHEREUM").unwrap();
        let usdt = AssetId::parse("USDT_ETHEREUM").unwrap();
        let key = minting_lock_key(vault, usdc);
        // Pinned: instances of different builds running side by side must take the same lock.
        // (Python: int.from_bytes(sha256(b"custody:address-minting:vlt_01JD…0:USDC_ETHEREUM")
        // .digest()[:8], "big", signed=True).)
        assert_eq!(key, -2_158_823_733_967_585_881);
        assert_ne!(key, minting_lock_key(vault, usdt));
        assert_ne!(key, minting_lock_key(other, usdc));
    }
}
