use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::id::{TenantId, TransactionId, VaultId, WalletId};
use crate::ledger::LedgerEntry;
use crate::page::{Page, PageRequest};
use crate::transaction::{Transaction, TransactionKind, TransactionStatus};
use crate::work::{StuckWithdrawal, UnattributedDeposit, WithdrawalQueue};
use time::OffsetDateTime;

/// Filters for listing transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransactionFilter {
    /// Only transactions debiting or crediting this wallet.
    pub wallet_id: Option<WalletId>,
    /// Only transactions debiting or crediting a wallet of this vault (a vault of another
    /// tenant matches nothing).
    pub vault_id: Option<VaultId>,
    /// Only this kind.
    pub kind: Option<TransactionKind>,
    /// Only this status.
    pub status: Option<TransactionStatus>,
}

/// Reads of transactions and the ledger, scoped to the handle's environment.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TransactionStore: Send + Sync {
    /// Reads one transaction of the tenant.
    ///
    /// # Errors
    /// `NotFound` when absent or owned by another tenant.
    async fn get(&self, tenant: TenantId, id: TransactionId) -> Result<Transaction, StoreError>;

    /// Lists transactions in id order.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list(
        &self,
        tenant: TenantId,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<Transaction>, StoreError>;

    /// Every ledger entry touching the wallet, in the order written (for reconciliation).
    ///
    /// # Errors
    /// Store trouble only.
    async fn ledger_for_wallet(&self, wallet: WalletId) -> Result<Vec<LedgerEntry>, StoreError>;

    /// Withdrawals that were recorded but not yet handed to the provider or not yet final,
    /// oldest first, for the dispatch worker.
    ///
    /// # Errors
    /// Store trouble only.
    async fn open_withdrawals(&self, limit: u32) -> Result<Vec<Transaction>, StoreError>;

    /// Open withdrawals of every tenant that are flagged for reconciliation, or whose status
    /// has not changed since before `unchanged_since`, oldest first, with the worker's
    /// bookkeeping (`custody admin withdrawals stuck`).
    ///
    /// # Errors
    /// Store trouble only.
    async fn stuck_withdrawals(
        &self,
        unchanged_since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<StuckWithdrawal>, StoreError>;

    /// Deposits recorded without crediting any wallet (the suspense list), first seen first
    /// (`custody admin deposits unattributed`): the open ones, or every one with `all`
    /// (assigned and returned too).
    ///
    /// # Errors
    /// Store trouble only.
    async fn unattributed_deposits(
        &self,
        all: bool,
        limit: u32,
    ) -> Result<Vec<UnattributedDeposit>, StoreError>;

    /// The open withdrawals of every tenant, counted per open status (statuses without any are
    /// left out), in lifecycle order: the queue-depth metrics. One aggregate query over the
    /// open-withdrawals index.
    ///
    /// # Errors
    /// Store trouble only.
    async fn withdrawal_queue(&self) -> Result<Vec<WithdrawalQueue>, StoreError>;
}

/// Shared handle.
pub type DynTransactionStore = Arc<dyn TransactionStore>;
