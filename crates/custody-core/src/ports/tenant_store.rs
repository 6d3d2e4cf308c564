use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::asset::EnabledAssets;
use crate::environment::Environment;
use crate::id::TenantId;
use crate::page::{Page, PageRequest};
use crate::tenant::{Tenant, TenantPolicy};

/// Tenants and their enabled assets. Shared by both environments.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Stores a new tenant with its enabled assets per environment.
    ///
    /// # Errors
    /// `Conflict` if the id exists; `Unavailable`/`Internal` on store trouble.
    async fn insert(
        &self,
        tenant: &Tenant,
        sandbox: &EnabledAssets,
        live: &EnabledAssets,
    ) -> Result<(), StoreError>;

    /// Reads a tenant.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn get(&self, id: TenantId) -> Result<Tenant, StoreError>;

    /// Saves a tenant's new status.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn update(&self, tenant: &Tenant) -> Result<(), StoreError>;

    /// A tenant's enforced settings (status, address-book cooling-off).
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn policy(&self, id: TenantId) -> Result<TenantPolicy, StoreError>;

    /// Sets how long a tenant's new address-book entries stay `Pending` (`None`: usable at
    /// once). Entries that exist keep their `activates_at`.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn set_address_book_cooling_off(
        &self,
        id: TenantId,
        cooling_off: Option<time::Duration>,
    ) -> Result<(), StoreError>;

    /// Lists tenants by id.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StoreError>;

    /// The assets the tenant may use in `env`.
    ///
    /// # Errors
    /// `NotFound` when the tenant does not exist.
    async fn enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
    ) -> Result<EnabledAssets, StoreError>;

    /// Replaces the tenant's enabled assets in `env`.
    ///
    /// # Errors
    /// `NotFound` when the tenant does not exist.
    async fn set_enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
        assets: &EnabledAssets,
    ) -> Result<(), StoreError>;
}

/// Shared handle.
pub type DynTenantStore = Arc<dyn TenantStore>;
