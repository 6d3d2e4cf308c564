use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::deposit_address::DepositAddress;
use crate::id::{AddressId, TenantId, VaultId, WalletId};
use crate::page::{Page, PageRequest};
use crate::text::ExternalRef;

/// Filters for listing deposit addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressFilter {
    /// Only addresses of this wallet.
    pub wallet_id: Option<WalletId>,
    /// Only addresses of this vault.
    pub vault_id: Option<VaultId>,
}

/// Reads of deposit addresses, scoped to the handle's environment and the given tenant.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AddressStore: Send + Sync {
    /// Reads one address.
    ///
    /// # Errors
    /// `NotFound` when absent or owned by another tenant.
    async fn get(&self, tenant: TenantId, id: AddressId) -> Result<DepositAddress, StoreError>;

    /// Reads one address with its vault's `external_ref` (`None` for the treasury and for a
    /// vault created without one), in one read: Connect renders every address with it.
    ///
    /// # Errors
    /// `NotFound` when absent or owned by another tenant.
    async fn get_with_reference(
        &self,
        tenant: TenantId,
        id: AddressId,
    ) -> Result<(DepositAddress, Option<ExternalRef>), StoreError>;

    /// The wallet's primary address.
    ///
    /// # Errors
    /// `NotFound` when the wallet has none yet.
    async fn primary_for_wallet(
        &self,
        tenant: TenantId,
        wallet: WalletId,
    ) -> Result<DepositAddress, StoreError>;

    /// Lists addresses in id order.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list(
        &self,
        tenant: TenantId,
        filter: &AddressFilter,
        page: PageRequest,
    ) -> Result<Page<DepositAddress>, StoreError>;
}

/// Shared handle.
pub type DynAddressStore = Arc<dyn AddressStore>;
