//! The reads of `custody admin reconcile`: the ledger summed per wallet and bucket beside the
//! materialised balances, the transactions whose postings do not add up, and what explains a
//! custody provider's balance, all from ONE read snapshot of the environment, so traffic
//! committing meanwhile can never show as drift.

use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::amount::Amount;
use crate::asset::AssetId;
use crate::id::{TenantId, TransactionId, WalletId};
use crate::totals::SignedAmount;
use crate::transaction::{TransactionKind, TransactionStatus};
use crate::wallet::{Balances, Bucket};

/// The sum of a wallet's ledger entries for one (asset, bucket). The asset is the entries'
/// own: a wallet's entries all carry its asset, and a sum under another asset is drift.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerSum {
    pub asset: AssetId,
    pub bucket: Bucket,
    /// Exact, in base units (signed: a negative sum is drift too).
    pub sum: i128,
}

/// One wallet: its materialised balances and the sums of its ledger entries.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletSums {
    pub wallet_id: WalletId,
    pub tenant_id: TenantId,
    pub asset: AssetId,
    /// The balance row as stored.
    pub balances: Balances,
    /// Per (asset, bucket) with at least one entry; a missing bucket sums to zero.
    pub ledger: Vec<LedgerSum>,
}

/// A transaction whose postings leave something behind: all of them not summing to zero
/// (`bucket: None`), or, for a final transaction, its postings to a `pending` or `held`
/// bucket not summing to zero (a hold or an incoming amount left on a finished transaction).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionResidue {
    pub transaction_id: TransactionId,
    pub tenant_id: TenantId,
    pub kind: TransactionKind,
    pub status: TransactionStatus,
    pub asset: AssetId,
    pub bucket: Option<Bucket>,
    /// The non-zero sum, in base units.
    pub sum: i128,
}

/// Money on its way that a provider's balance may or may not show yet.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlightItem {
    /// `tx_…` for a withdrawal, the provider's reference for an unattributed deposit.
    pub reference: String,
    pub asset: AssetId,
    pub amount: Amount,
    pub status: TransactionStatus,
}

/// A tenant's maintained total of one asset ([`crate::totals`]): its slots summed.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssetTotal {
    pub tenant_id: TenantId,
    pub asset: AssetId,
    /// Exact and signed as stored (a negative sum is drift).
    pub total: SignedAmount,
}

/// One (tenant, asset) total [`ReconcileStore::rebuild_totals`] recomputed from the wallets.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotalRebuilt {
    pub tenant_id: TenantId,
    pub asset: AssetId,
    /// The maintained total before, exact and signed; `None` beyond ±`u128::MAX` (a corrupt
    /// total spread over slots).
    pub before: Option<SignedAmount>,
    /// The wallets' available balances summed: the total now.
    pub after: Amount,
}

impl TotalRebuilt {
    /// Whether the rebuild changed the total (it was drift).
    #[must_use]
    pub fn changed(&self) -> bool {
        self.before != Some(SignedAmount::positive(self.after))
    }
}

/// Everything reconciliation reads, from one snapshot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerSnapshot {
    /// Every wallet (of the tenant, when one is asked for), in id order.
    pub wallets: Vec<WalletSums>,
    /// The maintained tenant-wide totals per (tenant, asset) (of the tenant, when one is asked
    /// for), which must equal the wallets' available balances summed.
    pub totals: Vec<AssetTotal>,
    /// Transactions whose postings do not sum to zero.
    pub unbalanced: Vec<TransactionResidue>,
    /// Final transactions leaving a `pending` or `held` residue.
    pub final_residues: Vec<TransactionResidue>,
    /// Open withdrawals already handed to the provider (past `submitted`): their funds are
    /// still `held` in the ledger but may have left the provider's wallet.
    pub handed_over: Vec<InFlightItem>,
    /// Deposits recorded without crediting any wallet (suspense), not failed: the provider
    /// holds them, the ledger does not.
    pub suspense: Vec<InFlightItem>,
}

/// Reconciliation reads, scoped to the handle's environment.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ReconcileStore: Send + Sync {
    /// Reads the whole [`LedgerSnapshot`] in one read-only snapshot (PostgreSQL: a
    /// `REPEATABLE READ READ ONLY` transaction; SQLite: one read transaction), summing ledger
    /// entries exactly (never through floating point). With `tenant`, only that tenant's
    /// wallets, transactions and suspense items.
    ///
    /// # Errors
    /// Store trouble; `Internal` for a sum beyond 128 bits (a corrupt ledger).
    async fn ledger_snapshot(&self, tenant: Option<TenantId>)
        -> Result<LedgerSnapshot, StoreError>;

    /// `custody admin totals rebuild`: sets every maintained tenant-wide total
    /// ([`crate::totals`]) of the handle's environment (one tenant's, with `tenant`) to its
    /// wallets' available balances summed exactly, whatever drift it had; safe while movements
    /// book (one transaction per (tenant, asset); see storage.md, "The tenant-wide totals").
    /// Returns every (tenant, asset) it looked at, in (tenant, asset) order, with its total
    /// before and after.
    ///
    /// # Errors
    /// Store trouble; `Internal` for a wallet sum beyond `u128`.
    async fn rebuild_totals(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Vec<TotalRebuilt>, StoreError>;
}

/// Shared handle.
pub type DynReconcileStore = Arc<dyn ReconcileStore>;
