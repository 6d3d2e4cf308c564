use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::id::{TenantId, VaultId};
use crate::page::{Page, PageRequest};
use crate::text::ExternalRef;
use crate::vault::Vault;

/// Filters for listing vaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VaultFilter {
    /// Only the vault with this external reference.
    pub external_ref: Option<ExternalRef>,
}

/// Reads of vaults, scoped to the handle's environment and the given tenant.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait VaultStore: Send + Sync {
    /// Reads one vault of the tenant.
    ///
    /// # Errors
    /// `NotFound` when absent or owned by another tenant.
    async fn get(&self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError>;

    /// Finds a customer vault by the partner's reference.
    ///
    /// # Errors
    /// `NotFound` when no vault has it.
    async fn find_by_external_ref(
        &self,
        tenant: TenantId,
        external_ref: &ExternalRef,
    ) -> Result<Vault, StoreError>;

    /// Lists the tenant's vaults in id order.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list(
        &self,
        tenant: TenantId,
        filter: &VaultFilter,
        page: PageRequest,
    ) -> Result<Page<Vault>, StoreError>;
}

/// Shared handle.
pub type DynVaultStore = Arc<dyn VaultStore>;
