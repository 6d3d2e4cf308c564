//! The store ports, implemented once for any database an adapter provides.
//!
//! An adapter implements [`Database`] (reads outside a transaction, single-statement writes,
//! and opening a write transaction) and [`Transaction`] (statements inside it, the minting lock,
//! commit) for its driver: rendering each [`Statement`] in its dialect, binding each
//! [`Value`](crate::Value) its own way, and binding `:environment` when its handle is bound to
//! one. Every port of custody-core is then implemented here, by aggregate in
//! [`tables`](crate::tables), over [`EnvStore`] (every environment-bound port, the unit of work
//! included), [`SqlTx`] (the [`StoreTx`]) and [`SharedStore`] (tenants and API keys).

use std::sync::Arc;

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::event::Event;
use custody_core::id::VaultId;
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{EnvironmentStores, SharedStores, StoreError, StoreTx, UnitOfWork};

use crate::codec::Columns;
use crate::seal::MasterKey;
use crate::statement::{Dialect, Rendered, Statement};
use crate::tables::{version_conflict, Versioned};

/// A connection pool, bound to an environment or shared: what an adapter provides. A clone is
/// another handle on the same pool (the coalesced reads' drivers own one).
#[async_trait]
pub trait Database: Clone + Send + Sync + 'static {
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

    /// Opens a read-only transaction over one consistent snapshot (PostgreSQL `REPEATABLE
    /// READ READ ONLY`; SQLite a deferred read transaction on a reader connection): every
    /// statement in it sees the database as of its first read, whatever commits meanwhile.
    /// Ended by `rollback`.
    async fn begin_snapshot(&self) -> Result<Self::Tx, StoreError>;
}

/// A write transaction: what an adapter provides. Dropping it rolls back.
#[async_trait]
pub trait Transaction: Send + 'static {
    type Row: Columns + Send;

    /// Whether [`lock_address_minting`](Transaction::lock_address_minting) sends a statement
    /// (PostgreSQL's advisory lock) or is free (SQLite's writer lock is already held); for
    /// [`Counted`](crate::counted::Counted).
    const MINTING_LOCK_IS_A_STATEMENT: bool = true;

    /// Whether the database adds two decimal amounts exactly in SQL (PostgreSQL's `numeric`),
    /// so a total's slot is changed by one atomic `+`; SQLite's text amounts would add through
    /// a float, so its slots are read and written back (under its single writer lock). No
    /// default: a wrapper that forgot to forward it would make SQLite's totals inexact
    /// without an error.
    const ADDS_DECIMALS_IN_SQL: bool;

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

    async fn rollback(self) -> Result<(), StoreError>;
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

/// Every environment-bound port over one database handle, and its reads by id coalesced under
/// load ([`coalesce`](crate::coalesce)).
pub struct EnvStore<D>(pub D, pub(crate) ByIdReads);

/// The reads by id that go in batches under load, one queue per kind of read.
#[derive(Default)]
pub(crate) struct ByIdReads {
    pub(crate) vaults: crate::coalesce::Coalesced<custody_core::vault::Vault>,
    pub(crate) wallets: crate::coalesce::Coalesced<custody_core::wallet::Wallet>,
    pub(crate) addresses: crate::coalesce::Coalesced<custody_core::deposit_address::DepositAddress>,
    pub(crate) referenced_addresses: crate::coalesce::Coalesced<(
        custody_core::deposit_address::DepositAddress,
        Option<custody_core::text::ExternalRef>,
    )>,
    pub(crate) transactions: crate::coalesce::Coalesced<custody_core::transaction::Transaction>,
}

impl<D> EnvStore<D> {
    /// The ports over `db`, reads by id not yet queued.
    pub fn new(db: D) -> EnvStore<D> {
        EnvStore(db, ByIdReads::default())
    }
}

/// The unit of work's transaction: the adapter's, ended by its first error.
///
/// After a statement fails, `commit` rolls back and fails (`Internal`) instead of committing:
/// PostgreSQL has aborted the transaction (every further statement fails, and a `COMMIT` would
/// quietly roll back), and SQLite undid only the failed statement, so a `COMMIT` would publish
/// the unit of work's earlier writes without it (half a ledger, a transaction row without its
/// balances). Either way the [`StoreTx`] contract holds: an error ends the unit of work.
///
/// Events appended through it ([`EventTx::append_event`](custody_core::ports::EventTx)) are
/// kept until the transaction next reads or changes `events`, or commits, and then written
/// in one multi-row insert: a request's events cost one statement however many it emits
/// (issue 18). They commit with the change they describe, as before; a failure writing them
/// fails the commit, which then rolls back. (An event that is its transaction's first
/// statement is written at once, so the transaction's place in PostgreSQL's event log, drawn
/// at its first write, does not move.)
pub struct SqlTx<T> {
    tx: T,
    pub(crate) failed: bool,
    /// Whether a statement was sent in this transaction yet.
    sent: bool,
    events: Vec<Event>,
    /// The wallets locked so far, and their primary addresses once one was asked for: the
    /// first [`find_primary_address`](custody_core::ports::AddressTx::find_primary_address)
    /// of a locked wallet reads them all in one statement (a transfer books two wallets and
    /// renders each with its address).
    pub(crate) locked_wallets: Vec<custody_core::id::WalletId>,
    /// The tenant-wide totals' changes, per (tenant, asset, slot), written at commit
    /// ([`flush_totals`](SqlTx::flush_totals)).
    pub(crate) totals: std::collections::BTreeMap<
        (custody_core::id::TenantId, AssetId, u8),
        custody_core::totals::SignedAmount,
    >,
    pub(crate) primaries: Option<
        std::collections::HashMap<
            custody_core::id::WalletId,
            custody_core::deposit_address::DepositAddress,
        >,
    >,
}

/// Tenants and API keys, with HMAC secrets sealed under the master key.
pub struct SharedStore<D> {
    pub db: D,
    pub master: MasterKey,
}

impl<D: Database> EnvStore<D> {
    /// Every port of `env` over `db`, which binds `:environment` to `env`.
    pub fn ports(db: D, env: Environment) -> EnvironmentStores {
        let store = Arc::new(EnvStore::new(db));
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
            webhooks: store.clone(),
            reconcile: store.clone(),
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
            api_keys: store.clone(),
            sealer: Arc::new(store.master.clone()),
            instances: store,
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
    /// Remembers wallets this transaction locked (for their primary addresses).
    pub(crate) fn note_locked(
        &mut self,
        wallets: impl IntoIterator<Item = custody_core::id::WalletId>,
    ) {
        for wallet in wallets {
            if !self.locked_wallets.contains(&wallet) {
                self.locked_wallets.push(wallet);
                self.primaries = None;
            }
        }
    }

    /// Keeps `event` for the next [`flush_events`](SqlTx::flush_events); written at once when
    /// it is the transaction's first statement, so that its place in PostgreSQL's log (the
    /// writing transaction's id, drawn at its first write) is what it was.
    pub(crate) async fn append_deferred(&mut self, event: &Event) -> Result<(), StoreError> {
        self.events.push(event.clone());
        if self.sent {
            return Ok(());
        }
        self.flush_events().await
    }

    /// Writes the events kept so far, in the order they were appended, in one statement.
    pub(crate) async fn flush_events(&mut self) -> Result<(), StoreError> {
        let events = std::mem::take(&mut self.events);
        match crate::tables::events::insert(&events) {
            Ok(Some(stmt)) => self.execute(stmt).await,
            Ok(None) => Ok(()),
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }

    /// Runs a statement; its error ends the unit of work.
    pub(crate) async fn rows(&mut self, stmt: Statement) -> Result<Vec<T::Row>, StoreError> {
        self.sent = true;
        let rows = self.tx.fetch_all(stmt).await;
        self.failed |= rows.is_err();
        rows
    }

    /// Runs a write; how many rows it changed. Its error ends the unit of work.
    pub(crate) async fn changed(&mut self, stmt: Statement) -> Result<u64, StoreError> {
        self.sent = true;
        let changed = self.tx.execute(stmt).await;
        self.failed |= changed.is_err();
        changed
    }

    pub(crate) async fn execute(&mut self, stmt: Statement) -> Result<(), StoreError> {
        self.changed(stmt).await.map(|_| ())
    }

    /// Whether the statement returns a row.
    pub(crate) async fn found(&mut self, stmt: Statement) -> Result<bool, StoreError> {
        Ok(!self.rows(stmt).await?.is_empty())
    }

    /// The one row, decoded; `NotFound` when there is none (which does not end the unit of
    /// work: it is an answer, not a failed statement).
    pub(crate) async fn one<V>(
        &mut self,
        stmt: Statement,
        decode: impl Fn(&T::Row) -> Result<V, StoreError> + Send,
    ) -> Result<V, StoreError> {
        let row = self.rows(stmt).await?.into_iter().next();
        decode(&row.ok_or(StoreError::NotFound)?)
    }

    pub(crate) async fn all<V>(
        &mut self,
        stmt: Statement,
        decode: impl Fn(&T::Row) -> Result<V, StoreError> + Send,
    ) -> Result<Vec<V>, StoreError> {
        self.rows(stmt).await?.iter().map(decode).collect()
    }

    /// Runs a versioned update: one row changed, or `NotFound`, or a version conflict.
    pub(crate) async fn versioned(&mut self, versioned: Versioned) -> Result<(), StoreError> {
        if self.changed(versioned.update).await? > 0 {
            return Ok(());
        }
        let exists = self.found(versioned.exists).await?;
        Err(version_conflict(exists))
    }
}

#[async_trait]
impl<D: Database> UnitOfWork for EnvStore<D> {
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        Ok(Box::new(SqlTx {
            tx: self.0.begin().await?,
            failed: false,
            sent: false,
            events: Vec::new(),
            locked_wallets: Vec::new(),
            totals: std::collections::BTreeMap::new(),
            primaries: None,
        }))
    }
}

#[async_trait]
impl<T: Transaction> StoreTx for SqlTx<T> {
    async fn lock_address_minting(
        &mut self,
        vault: VaultId,
        asset: AssetId,
    ) -> Result<(), StoreError> {
        self.sent = true;
        let locked = self.tx.lock_address_minting(vault, asset).await;
        self.failed |= locked.is_err();
        locked
    }

    async fn commit(mut self: Box<Self>) -> Result<(), StoreError> {
        if !self.failed {
            // The events still kept; their failure rolls back and is the commit's answer.
            if let Err(e) = self.flush_events().await {
                self.tx.rollback().await?;
                return Err(e);
            }
            // Last: the totals' slots, the last row locks of the unit of work.
            if let Err(e) = self.flush_totals().await {
                self.tx.rollback().await?;
                return Err(e);
            }
        }
        if self.failed {
            self.tx.rollback().await?;
            return Err(StoreError::Internal(
                "commit after a failed statement: the transaction was rolled back".into(),
            ));
        }
        self.tx.commit().await
    }
}
