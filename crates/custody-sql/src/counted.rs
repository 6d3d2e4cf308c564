//! Counting the durable work the application asks of its database (issue 18).
//!
//! [`Counted`] wraps an adapter's [`Database`] and counts, at the one boundary every statement
//! crosses, what was sent: SQL statements (reads, writes, the minting lock), transactions begun
//! and commits (an explicit `COMMIT`, or a single-statement write that commits by itself). Both
//! adapters wrap every handle they hand out, so a test reads exactly what one request cost by
//! taking [`StatementCounter::snapshot`] before and after it, on an application that runs no
//! background workers. Counting is two relaxed atomic additions per statement; it is not a
//! timing, so the figures are deterministic and a test can assert them exactly.
//!
//! What is not counted: the round trips a driver makes on its own (sqlx's connection health
//! check when a pooled connection is acquired, `ROLLBACK` of a dropped transaction), and the
//! database's internal work (a foreign key's `FOR KEY SHARE` lookup of the parent row).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::id::VaultId;
use custody_core::ports::StoreError;

use crate::statement::Statement;
use crate::store::{Database, Transaction};

/// Totals since the store was opened (or the difference of two, see [`StatementCounts::since`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatementCounts {
    /// SQL statements sent, inside a transaction or alone (the minting lock included;
    /// `BEGIN` and `COMMIT` not).
    pub statements: u64,
    /// Explicit transactions begun (`BEGIN`), committed or not.
    pub transactions: u64,
    /// Commits: of an explicit transaction, or of a single-statement write outside one.
    pub commits: u64,
}

impl StatementCounts {
    /// What happened between `earlier` and `self`.
    #[must_use]
    pub fn since(self, earlier: StatementCounts) -> StatementCounts {
        StatementCounts {
            statements: self.statements - earlier.statements,
            transactions: self.transactions - earlier.transactions,
            commits: self.commits - earlier.commits,
        }
    }
}

/// The shared counters of one store.
#[derive(Debug, Default)]
pub struct StatementCounter {
    statements: AtomicU64,
    transactions: AtomicU64,
    commits: AtomicU64,
}

impl StatementCounter {
    /// The totals now.
    pub fn snapshot(&self) -> StatementCounts {
        StatementCounts {
            statements: self.statements.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
        }
    }

    fn statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    fn transaction(&self) {
        self.transactions.fetch_add(1, Ordering::Relaxed);
    }

    fn commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
}

/// A [`Database`] whose statements, transactions and commits are counted.
#[derive(Clone)]
pub struct Counted<D> {
    db: D,
    counter: Arc<StatementCounter>,
}

impl<D> Counted<D> {
    /// Wraps `db`, counting into `counter`.
    pub fn new(db: D, counter: Arc<StatementCounter>) -> Counted<D> {
        Counted { db, counter }
    }
}

#[async_trait]
impl<D: Database> Database for Counted<D> {
    type Row = D::Row;
    type Tx = CountedTx<D::Tx>;

    async fn fetch_all(&self, stmt: Statement) -> Result<Vec<Self::Row>, StoreError> {
        self.counter.statement();
        self.db.fetch_all(stmt).await
    }

    async fn fetch_optional(&self, stmt: Statement) -> Result<Option<Self::Row>, StoreError> {
        self.counter.statement();
        self.db.fetch_optional(stmt).await
    }

    async fn write_all(&self, stmt: Statement) -> Result<Vec<Self::Row>, StoreError> {
        self.counter.statement();
        let rows = self.db.write_all(stmt).await?;
        self.counter.commit();
        Ok(rows)
    }

    async fn write(&self, stmt: Statement) -> Result<u64, StoreError> {
        self.counter.statement();
        let changed = self.db.write(stmt).await?;
        self.counter.commit();
        Ok(changed)
    }

    async fn begin(&self) -> Result<Self::Tx, StoreError> {
        self.counter.transaction();
        Ok(CountedTx {
            tx: self.db.begin().await?,
            counter: self.counter.clone(),
        })
    }

    async fn begin_snapshot(&self) -> Result<Self::Tx, StoreError> {
        self.counter.transaction();
        Ok(CountedTx {
            tx: self.db.begin_snapshot().await?,
            counter: self.counter.clone(),
        })
    }
}

/// A [`Transaction`] of a [`Counted`] database.
pub struct CountedTx<T> {
    tx: T,
    counter: Arc<StatementCounter>,
}

#[async_trait]
impl<T: Transaction> Transaction for CountedTx<T> {
    type Row = T::Row;

    const ADDS_DECIMALS_IN_SQL: bool = T::ADDS_DECIMALS_IN_SQL;

    async fn fetch_all(&mut self, stmt: Statement) -> Result<Vec<Self::Row>, StoreError> {
        self.counter.statement();
        self.tx.fetch_all(stmt).await
    }

    async fn fetch_optional(&mut self, stmt: Statement) -> Result<Option<Self::Row>, StoreError> {
        self.counter.statement();
        self.tx.fetch_optional(stmt).await
    }

    async fn execute(&mut self, stmt: Statement) -> Result<u64, StoreError> {
        self.counter.statement();
        self.tx.execute(stmt).await
    }

    async fn lock_address_minting(
        &mut self,
        vault: VaultId,
        asset: AssetId,
    ) -> Result<(), StoreError> {
        if T::MINTING_LOCK_IS_A_STATEMENT {
            self.counter.statement();
        }
        self.tx.lock_address_minting(vault, asset).await
    }

    async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        self.counter.commit();
        Ok(())
    }

    async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await
    }
}
