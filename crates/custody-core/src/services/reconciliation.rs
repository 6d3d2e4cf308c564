//! What operators reconcile by hand (`custody admin withdrawals stuck`,
//! `custody admin deposits unattributed`): read-only, one environment at a time.

use time::Duration;

use crate::error::Error;
use crate::ports::{DynClock, DynTransactionStore};
use crate::work::{StuckWithdrawal, UnattributedDeposit};

/// Operator reads over one environment's transactions.
#[derive(Clone)]
pub struct ReconciliationService {
    transactions: DynTransactionStore,
    clock: DynClock,
}

impl ReconciliationService {
    /// Wires the service.
    pub fn new(transactions: DynTransactionStore, clock: DynClock) -> ReconciliationService {
        ReconciliationService {
            transactions,
            clock,
        }
    }

    /// Open withdrawals needing an operator: flagged for reconciliation (their outcome at the
    /// provider is unknown and their funds are held), or without any status change for longer
    /// than `threshold`. Oldest first, at most `limit`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn stuck_withdrawals(
        &self,
        threshold: Duration,
        limit: u32,
    ) -> Result<Vec<StuckWithdrawal>, Error> {
        let since = self.clock.now() - threshold;
        Ok(self.transactions.stuck_withdrawals(since, limit).await?)
    }

    /// Deposits recorded without crediting a wallet (the suspense list), first seen first, at
    /// most `limit`: the open ones, or every one (assigned and returned too) with `all`.
    ///
    /// # Errors
    /// Store errors.
    pub async fn unattributed_deposits(
        &self,
        all: bool,
        limit: u32,
    ) -> Result<Vec<UnattributedDeposit>, Error> {
        Ok(self.transactions.unattributed_deposits(all, limit).await?)
    }
}
