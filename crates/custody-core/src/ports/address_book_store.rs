use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use time::OffsetDateTime;

use crate::address_book::{AddressBookEntry, EntryState};
use crate::asset::{AssetId, Network};
use crate::chain_address::ChainAddress;
use crate::id::{AddressBookEntryId, TenantId};
use crate::page::{Page, PageRequest};

/// What an address-book listing matches (`GET /v1/address-book`); `None` matches everything.
/// Without a state, deleted entries are left out (ask for `Deleted` to see them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressBookFilter {
    /// Only entries on this network.
    pub network: Option<Network>,
    /// Only the entry holding this address (with `network`).
    pub address: Option<ChainAddress>,
    /// Only entries restricted to this asset.
    pub asset: Option<AssetId>,
    /// Only entries in this state at the listing's `now` (see [`AddressBookEntry::state_at`]).
    pub state: Option<EntryState>,
}

impl AddressBookFilter {
    /// Does `entry` match at `now`? What the store's query selects, for tests and fakes.
    #[must_use]
    pub fn matches(&self, entry: &AddressBookEntry, now: OffsetDateTime) -> bool {
        self.network.is_none_or(|n| entry.network == n)
            && self.address.as_ref().is_none_or(|a| entry.address == *a)
            && self.asset.is_none_or(|a| entry.asset == Some(a))
            && match self.state {
                Some(state) => entry.state_at(now) == state,
                None => entry.state_at(now) != EntryState::Deleted,
            }
    }
}

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

    /// Lists the entries matching `filter` at `now`, in id order: the filter is part of the
    /// query, so a page is full whenever enough entries match.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list(
        &self,
        tenant: TenantId,
        filter: &AddressBookFilter,
        now: OffsetDateTime,
        page: PageRequest,
    ) -> Result<Page<AddressBookEntry>, StoreError>;
}

/// Shared handle.
pub type DynAddressBookStore = Arc<dyn AddressBookStore>;
