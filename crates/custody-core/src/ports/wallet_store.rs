use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::amount::Amount;
use crate::asset::AssetId;
use crate::id::{TenantId, VaultId, WalletId};
use crate::page::{Page, PageRequest};
use crate::wallet::Wallet;

/// Filters for listing wallets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalletFilter {
    /// Only wallets of this vault.
    pub vault_id: Option<VaultId>,
    /// Only wallets of this asset.
    pub asset: Option<AssetId>,
}

/// Reads of wallets, scoped to the handle's environment and the given tenant.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WalletStore: Send + Sync {
    /// Reads one wallet with its materialised balances.
    ///
    /// # Errors
    /// `NotFound` when absent or owned by another tenant.
    async fn get(&self, tenant: TenantId, id: WalletId) -> Result<Wallet, StoreError>;

    /// Lists wallets in id order.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list(
        &self,
        tenant: TenantId,
        filter: &WalletFilter,
        page: PageRequest,
    ) -> Result<Page<Wallet>, StoreError>;

    /// The available balances of the tenant's wallets (only `vault`'s, when given), summed per
    /// asset, in [`AssetId`] order. Read in one statement, so from one snapshot, and exact:
    /// amounts are summed as integers in base units, never through a float.
    ///
    /// One line per asset the vault (or tenant) has a wallet for, zero included. With `vault`,
    /// summed from its wallets. Without, the tenant's maintained totals ([`crate::totals`], what
    /// every balance change adds to through [`AssetTotalTx`](super::AssetTotalTx)): a bounded
    /// number of rows whatever the tenant's number of wallets.
    ///
    /// # Errors
    /// `Internal` when a sum exceeds what an [`Amount`] can hold (`u128`), or a total is
    /// negative (drift); store trouble.
    async fn available_by_asset(
        &self,
        tenant: TenantId,
        vault: Option<VaultId>,
    ) -> Result<Vec<(AssetId, Amount)>, StoreError>;
}

/// Shared handle.
pub type DynWalletStore = Arc<dyn WalletStore>;
