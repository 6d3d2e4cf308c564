use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
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
}

/// Shared handle.
pub type DynWalletStore = Arc<dyn WalletStore>;
