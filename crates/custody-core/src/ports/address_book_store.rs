use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::address_book::AddressBookEntry;
use crate::id::{AddressBookEntryId, TenantId};
use crate::page::{Page, PageRequest};

/// Reads of the address book, scoped to the handle's environment and the given tenant.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait AddressBookStore: Send + Sync {
    /// Reads one entry, deleted ones included.
    ///
    /// # Errors
    /// `NotFound` when absent or owned by another tenant.
    async fn get(
        &self,
        tenant: TenantId,
        id: AddressBookEntryId,
    ) -> Result<AddressBookEntry, StoreError>;

    /// Lists entries in id order; `include_deleted` adds deleted ones.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list(
        &self,
        tenant: TenantId,
        include_deleted: bool,
        page: PageRequest,
    ) -> Result<Page<AddressBookEntry>, StoreError>;
}

/// Shared handle.
pub type DynAddressBookStore = Arc<dyn AddressBookStore>;
