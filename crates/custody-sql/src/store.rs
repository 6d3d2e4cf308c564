//! The store ports, implemented once for any database an adapter provides.
//!
//! An adapter implements [`Database`] (reads outside a transaction, single-statement writes,
//! and opening a write transaction) and [`Transaction`] (statements inside it, the minting lock,
//! commit) for its driver: rendering each [`Statement`] in its dialect, binding each
//! [`Value`](crate::Value) its own way, and binding `:environment` when its handle is bound to
//! one. Every port of custody-core is then implemented here, by aggregate in
//! [`tables`](crate::tables), over [`EnvStore`] (every environment-bound port, the unit of work included),
//! [`SqlTx`] (the [`StoreTx`]) and [`SharedStore`] (tenants and API keys).

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::id::VaultId;
use custody_core::page::{Page, PageRequest};
use std::sync::Arc;

use custody_core::ports::{EnvironmentStores, SharedStores, StoreError, StoreTx, UnitOfWork};

use crate::codec::Columns;
use crate::seal::MasterKey;
use crate::statement::{Dialect, Rendered, Statement};
use crate::tables::{version_conflict, Versioned};

/// A connection pool, bound to an environment or shared: what an adapter provides.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    type Row: Columns + Send;
    type Tx: Transaction<Row = Self::Row>;

    /// Runs a read outside any transaction.
    async fn fetch_all(&self, stmt: Statement) -> Result<Vec<Self::Row>, StoreError>;

    /// The first row of a read outside any transaction (statements here ask for one).
    async fn fetch_optional(&self, stmt: Statement) -> Result<Option<Self::Row>, StoreError> {
        Ok(self.fetch_all(stmt).await?.into_iter().next())
    }

    /// Runs one write statement and commits it, returning its rows (`RETURNING`).
    async fn write_all(&self, stmt: Statement) -> Result<Vec<Self::Row>, StoreError>;

    /// Runs one write statement and commits it, returning how many rows it changed.
    async fn write(&self, stmt: Statement) -> Result<u64, StoreError>;

    /// Opens a write transaction.
    async fn begin(&self) -> Result<Self::Tx, StoreError>;
}

/// A write transaction: what an adapter provides. Dropping it rolls back. After a statement
/// failed in the database, `commit` must roll back and fail (`Internal`): the [`StoreTx`]
/// contract ends a unit of work at its first error.
#[async_trait]
pub trait Transaction: Send + 'static {
    type Row: Columns + Send;

    async fn fetch_all(&mut self, stmt: Statement) -> Result<Vec<Self::Row>, StoreError>;

    /// The first row (statements here ask for one).
    async fn fetch_optional(&mut self, stmt: Statement) -> Result<Option<Self::Row>, StoreError> {
        Ok(self.fetch_all(stmt).await?.into_iter().next())
    }

    /// Rows changed.
    async fn execute(&mut self, stmt: Statement) -> Result<u64, StoreError>;

    /// See [`StoreTx::lock_address_minting`].
    async fn lock_address_minting(
        &mut self,
        vault: VaultId,
        asset: AssetId,
    ) -> Result<(), StoreError>;

    async fn commit(self) -> Result<(), StoreError>;
}

impl Statement {
    /// Renders for `dialect`, binding `:environment` to `env` when the handle has one.
    ///
    /// # Errors
    /// As [`Statement::render`].
    pub fn render_in(
        self,
        env: Option<Environment>,
        dialect: &impl Dialect,
    ) -> Result<Rendered, StoreError> {
        match env {
            Some(env) => self.bind("environment", env.as_str()).render(dialect),
            None => self.render(dialect),
        }
    }
}

/// Every environment-bound port over one database handle.
pub struct EnvStore<D>(pub D);

/// The unit of work's transaction.
pub struct SqlTx<T>(pub T);

/// Tenants and API keys, with HMAC secrets sealed under the master key.
pub struct SharedStore<D> {
    pub db: D,
    pub master: MasterKey,
}

impl<D: Database> EnvStore<D> {
    /// Every port of `env` over `db`, which binds `:environment` to `env`.
    pub fn ports(db: D, env: Environment) -> EnvironmentStores {
        let store = Arc::new(EnvStore(db));
        EnvironmentStores {
            environment: env,
            uow: store.clone(),
            vaults: store.clone(),
            wallets: store.clone(),
            addresses: store.clone(),
            transactions: store.clone(),
            address_book: store.clone(),
            events: store.clone(),
            outbox: store.clone(),
            idempotency: store,
        }
    }
}

impl<D: Database> SharedStore<D> {
    /// The ports both environments share, over `db`, which binds no environment.
    pub fn ports(db: D, master: MasterKey) -> SharedStores {
        let store = Arc::new(SharedStore { db, master });
        SharedStores {
            tenants: store.clone(),
            api_keys: store,
        }
    }
}

/// The reads of [`EnvStore`] and [`SharedStore`].
pub(crate) async fn one<D: Database, T>(
    db: &D,
    stmt: Statement,
    decode: impl Fn(&D::Row) -> Result<T, StoreError> + Send,
) -> Result<T, StoreError> {
    let row = db.fetch_optional(stmt).await?.ok_or(StoreError::NotFound)?;
    decode(&row)
}

pub(crate) async fn all<D: Database, T>(
    db: &D,
    stmt: Statement,
    decode: impl Fn(&D::Row) -> Result<T, StoreError> + Send,
) -> Result<Vec<T>, StoreError> {
    db.fetch_all(stmt).await?.iter().map(decode).collect()
}

/// A list statement built with [`paged`](crate::page::paged), as one page.
pub(crate) async fn page<D: Database, T>(
    db: &D,
    stmt: Statement,
    page: &PageRequest,
    decode: impl Fn(&D::Row) -> Result<T, StoreError> + Send,
) -> Result<Page<T>, StoreError> {
    Ok(Page::from_overfetch(all(db, stmt, decode).await?, page))
}

impl<T: Transaction> SqlTx<T> {
    pub(crate) async fn one<V>(
        &mut self,
        stmt: Statement,
        decode: impl Fn(&T::Row) -> Result<V, StoreError> + Send,
    ) -> Result<V, StoreError> {
        let row = self
            .0
            .fetch_optional(stmt)
            .await?
            .ok_or(StoreError::NotFound)?;
        decode(&row)
    }

    pub(crate) async fn all<V>(
        &mut self,
        stmt: Statement,
        decode: impl Fn(&T::Row) -> Result<V, StoreError> + Send,
    ) -> Result<Vec<V>, StoreError> {
        self.0.fetch_all(stmt).await?.iter().map(decode).collect()
    }

    pub(crate) async fn execute(&mut self, stmt: Statement) -> Result<(), StoreError> {
        self.0.execute(stmt).await.map(|_| ())
    }

    /// Runs a versioned update: one row changed, or `NotFound`, or a version conflict.
    pub(crate) async fn versioned(&mut self, versioned: Versioned) -> Result<(), StoreError> {
        if self.0.execute(versioned.update).await? > 0 {
            return Ok(());
        }
        let exists = self.0.fetch_optional(versioned.exists).await?.is_some();
        Err(version_conflict(exists))
    }
}

#[async_trait]
impl<D: Database> UnitOfWork for EnvStore<D> {
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        Ok(Box::new(SqlTx(self.0.begin().await?)))
    }
}

#[async_trait]
impl<T: Transaction> StoreTx for SqlTx<T> {
    async fn lock_address_minting(
        &mut self,
        vault: VaultId,
        asset: AssetId,
    ) -> Result<(), StoreError> {
        self.0.lock_address_minting(vault, asset).await
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.0.commit().await
    }
}
