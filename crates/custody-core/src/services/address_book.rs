//! The address book: adding, deleting and reading allow-listed withdrawal destinations.

use time::OffsetDateTime;

use super::booking::emit;
use super::{commit_with, IdempotentWrite};
use crate::address_book::{AddressBookEntry, EntryStatus};
use crate::api_key::Scope;
use crate::asset::{AssetId, Network};
use crate::caller::Caller;
use crate::chain_address::ChainAddress;
use crate::error::{address_error, Error, ResourceKind};
use crate::event::{EventType, Subject};
use crate::id::AddressBookEntryId;
use crate::page::{Page, PageRequest};
use crate::ports::{DynAddressBookStore, DynClock, DynIdGenerator, DynUnitOfWork, StoreError};
use crate::text::Label;

/// An entry to add.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAddressBookEntry {
    pub network: Network,
    /// The address as the partner wrote it; validated and canonicalised here.
    pub address: String,
    /// A label a human will recognise in a withdrawal review.
    pub label: Label,
    /// Restricts the entry to one asset (which must be on `network`).
    pub asset: Option<AssetId>,
}

pub use crate::ports::AddressBookFilter;

/// Address-book use cases.
#[derive(Clone)]
pub struct AddressBookService {
    uow: DynUnitOfWork,
    entries: DynAddressBookStore,
    clock: DynClock,
    ids: DynIdGenerator,
    renderer: crate::event::DynSnapshotRenderer,
}

impl AddressBookService {
    /// Wires the service.
    pub fn new(
        uow: DynUnitOfWork,
        entries: DynAddressBookStore,
        clock: DynClock,
        ids: DynIdGenerator,
        renderer: crate::event::DynSnapshotRenderer,
    ) -> AddressBookService {
        AddressBookService {
            uow,
            entries,
            clock,
            ids,
            renderer,
        }
    }

    fn events(&self) -> super::booking::Emitter<'_> {
        super::booking::Emitter {
            ids: self.ids.as_ref(),
            renderer: self.renderer.as_ref(),
        }
    }

    /// Adds an entry after validating the address for its network. When the tenant has an
    /// address-book cooling-off period, the entry is `Pending` until `activates_at`
    /// (`created_at` + the period); withdrawals to it are refused until then.
    ///
    /// # Errors
    /// `MissingScope(address_book:write)`; address field errors; `Refused(asset_network_mismatch)`;
    /// `Conflict(address_book_entry_exists)` for an address already active in the book.
    pub async fn add(
        &self,
        caller: &Caller,
        new: NewAddressBookEntry,
        idempotency: Option<IdempotentWrite<'_, AddressBookEntry>>,
    ) -> Result<AddressBookEntry, Error> {
        caller.require(Scope::AddressBookWrite)?;
        let address = ChainAddress::parse(new.network, &new.address)
            .map_err(|e| address_error("address", e))?;
        if let Some(asset) = new.asset.filter(|a| a.network() != new.network) {
            return Err(Error::Refused {
                code: "asset_network_mismatch",
                message: format!("{asset} is not on {}", new.network),
            });
        }
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        // The tenant's cooling-off period, read in this transaction: an entry made now is
        // usable from `activates_at`.
        let policy = tx.share_tenant_policy(caller.tenant_id).await?;
        let activates_at = match policy.address_book_cooling_off {
            Some(cooling_off) if cooling_off.is_positive() => now
                .checked_add(cooling_off)
                .ok_or_else(|| Error::Internal(format!("cooling-off {cooling_off} overflows")))?,
            _ => now,
        };
        let entry = AddressBookEntry {
            id: AddressBookEntryId::from_ulid(self.ids.ulid()),
            tenant_id: caller.tenant_id,
            network: new.network,
            address,
            label: new.label,
            asset: new.asset,
            status: EntryStatus::Active,
            version: 1,
            created_at: now,
            deleted_at: None,
            activates_at,
        };
        match tx.insert_address_book_entry(&entry).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => {
                return Err(Error::Conflict {
                    code: "address_book_entry_exists",
                    message: format!("{} is already in the address book", entry.address),
                })
            }
            Err(e) => return Err(e.into()),
        }
        emit(
            tx.as_mut(),
            self.events(),
            caller.tenant_id,
            EventType::AddressBookEntryCreated,
            Subject::AddressBookEntry(&entry),
            None,
            now,
        )
        .await?;
        commit_with(tx, caller.tenant_id, idempotency, &entry).await?;
        Ok(entry)
    }

    /// Deletes an entry: withdrawals can no longer target it; past ones keep pointing at it.
    ///
    /// # Errors
    /// `MissingScope(address_book:write)`; `NotFound`; `Destination(Inactive)` when already deleted.
    pub async fn delete(
        &self,
        caller: &Caller,
        id: AddressBookEntryId,
        idempotency: Option<IdempotentWrite<'_, AddressBookEntry>>,
    ) -> Result<AddressBookEntry, Error> {
        caller.require(Scope::AddressBookWrite)?;
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let mut entry = tx
            .lock_address_book_entry(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::AddressBookEntry))?;
        let before = entry.clone();
        entry.delete(now)?;
        tx.update_address_book_entry(&entry).await?;
        emit(
            tx.as_mut(),
            self.events(),
            caller.tenant_id,
            EventType::AddressBookEntryDeleted,
            Subject::AddressBookEntry(&entry),
            Some(Subject::AddressBookEntry(&before)),
            now,
        )
        .await?;
        commit_with(tx, caller.tenant_id, idempotency, &entry).await?;
        Ok(entry)
    }

    /// Reads an entry.
    ///
    /// # Errors
    /// `MissingScope(address_book:read)`; `NotFound`.
    pub async fn get(
        &self,
        caller: &Caller,
        id: AddressBookEntryId,
    ) -> Result<AddressBookEntry, Error> {
        caller.require(Scope::AddressBookRead)?;
        self.entries
            .get(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::AddressBookEntry))
    }

    /// [`add`](AddressBookService::add) for the partner API: a duplicate names the entry that
    /// already holds the address (`Conflict(address_book_entry_exists)`, "… as abe_…").
    ///
    /// # Errors
    /// As [`add`](AddressBookService::add).
    pub async fn create(
        &self,
        caller: &Caller,
        new: NewAddressBookEntry,
        idempotency: Option<IdempotentWrite<'_, AddressBookEntry>>,
    ) -> Result<AddressBookEntry, Error> {
        let network = new.network;
        let raw = new.address.clone();
        match self.add(caller, new, idempotency).await {
            Err(Error::Conflict {
                code: "address_book_entry_exists",
                message,
            }) => {
                let address =
                    ChainAddress::parse(network, &raw).map_err(|e| address_error("address", e))?;
                let existing = self.find_active(caller, network, &address).await?;
                Err(Error::Conflict {
                    code: "address_book_entry_exists",
                    message: match existing {
                        Some(entry) => {
                            format!("{address} is already in the address book as {}", entry.id)
                        }
                        None => message,
                    },
                })
            }
            other => other,
        }
    }

    /// The non-deleted entry holding `address` on `network`, if any.
    ///
    /// # Errors
    /// `MissingScope(address_book:read)`; store errors.
    pub async fn find_active(
        &self,
        caller: &Caller,
        network: Network,
        address: &ChainAddress,
    ) -> Result<Option<AddressBookEntry>, Error> {
        let filter = AddressBookFilter {
            network: Some(network),
            address: Some(address.clone()),
            ..AddressBookFilter::default()
        };
        let page =
            PageRequest::new(Some(1), None, None).map_err(|e| Error::Internal(e.to_string()))?;
        let found = self
            .list_filtered(caller, &filter, self.clock.now(), page)
            .await?;
        Ok(found.items.into_iter().next())
    }

    /// Lists the entries matching `filter` at `now` (Platform `GET /v1/address-book`; `now`
    /// decides `Pending` from `Active`, so pass the time the response is rendered at).
    ///
    /// # Errors
    /// `MissingScope(address_book:read)`; store errors.
    pub async fn list_filtered(
        &self,
        caller: &Caller,
        filter: &AddressBookFilter,
        now: OffsetDateTime,
        page: PageRequest,
    ) -> Result<Page<AddressBookEntry>, Error> {
        caller.require(Scope::AddressBookRead)?;
        Ok(self
            .entries
            .list(caller.tenant_id, filter, now, page)
            .await?)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod http_use_case_tests;
