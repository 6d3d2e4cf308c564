//! `address_book_entries`.

use async_trait::async_trait;
use custody_core::address_book::{AddressBookEntry, EntryState, EntryStatus};
use custody_core::id::{AddressBookEntryId, TenantId};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{AddressBookFilter, AddressBookStore, AddressBookTx, StoreError};
use time::OffsetDateTime;

use super::{by_id, exists, int, scoped, Versioned};
use crate::codec;
use crate::names;
use crate::page::paged;
use crate::statement::{Lock, Statement};
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

pub const COLUMNS: &str = "id, environment, tenant_id, network, address, label, asset_id, \
     status, version, created_at, deleted_at, activates_at";

pub fn get(tenant: TenantId, id: AddressBookEntryId) -> Statement {
    by_id(COLUMNS, "address_book_entries", tenant, id.to_string())
}

/// The entries matching `filter` at `now`. `Active` and `Pending` are both stored `active`;
/// `activates_at` (NULL on rows written before cooling-off existed: usable since creation)
/// against `now` tells them apart.
pub fn list(
    tenant: TenantId,
    filter: &AddressBookFilter,
    now: OffsetDateTime,
    page: &PageRequest,
) -> Statement {
    let (status, activation) = match filter.state {
        None => (EntryStatus::Active, None),
        Some(EntryState::Deleted) => (EntryStatus::Deleted, None),
        Some(EntryState::Active) => (EntryStatus::Active, Some("<=")),
        Some(EntryState::Pending) => (EntryStatus::Active, Some(">")),
    };
    let mut stmt = scoped(COLUMNS, "address_book_entries", tenant)
        .filter("status", "status", Some(names::entry_status(status)))
        .filter("network", "network", filter.network.map(|n| n.as_str()))
        .filter(
            "address",
            "address",
            filter.address.as_ref().map(|a| a.as_str().to_owned()),
        )
        .filter("asset_id", "asset", filter.asset.map(|a| a.to_string()));
    if let Some(op) = activation {
        stmt = stmt
            .push(&format!(
                " AND COALESCE(activates_at, created_at) {op} :now"
            ))
            .bind("now", now);
    }
    paged(stmt, AddressBookEntryId::PREFIX, page)
}

/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn insert(entry: &AddressBookEntry) -> Result<Statement, StoreError> {
    let insert = Statement::new(
        "INSERT INTO address_book_entries (id, environment, tenant_id, network, address, \
         label, asset_id, status, version, created_at, deleted_at, activates_at) \
         VALUES (:id, :environment, :tenant, :network, :address, :label, :asset, :status, \
         :version, :created_at, :deleted_at, :activates_at)",
    )
    .bind("activates_at", entry.activates_at)
    .bind("network", entry.address.network().as_str())
    .bind("address", entry.address.as_str())
    .bind("created_at", entry.created_at);
    changes(insert, entry)
}

/// Saves label, asset, status and deletion.
///
/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn update(entry: &AddressBookEntry) -> Result<Versioned, StoreError> {
    let update = Statement::new(
        "UPDATE address_book_entries SET label = :label, asset_id = :asset, status = :status, \
         version = :version, deleted_at = :deleted_at \
         WHERE id = :id AND environment = :environment AND tenant_id = :tenant \
         AND version < :version",
    );
    Ok(Versioned {
        update: changes(update, entry)?,
        exists: exists(
            "address_book_entries",
            entry.tenant_id,
            entry.id.to_string(),
        ),
    })
}

fn changes(stmt: Statement, entry: &AddressBookEntry) -> Result<Statement, StoreError> {
    Ok(stmt
        .bind("id", entry.id.to_string())
        .bind("tenant", entry.tenant_id.to_string())
        .bind("label", entry.label.as_str())
        .bind("asset", entry.asset.map(|a| a.to_string()))
        .bind("status", names::entry_status(entry.status))
        .bind("version", int(entry.version, "version")?)
        .bind("deleted_at", entry.deleted_at))
}

#[async_trait]
impl<T: Transaction> AddressBookTx for SqlTx<T> {
    async fn insert_address_book_entry(
        &mut self,
        entry: &AddressBookEntry,
    ) -> Result<(), StoreError> {
        self.execute(insert(entry)?).await
    }

    async fn lock_address_book_entry(
        &mut self,
        tenant: TenantId,
        id: AddressBookEntryId,
    ) -> Result<AddressBookEntry, StoreError> {
        self.one(
            get(tenant, id).lock(Lock::Update),
            codec::address_book_entry,
        )
        .await
    }

    async fn update_address_book_entry(
        &mut self,
        entry: &AddressBookEntry,
    ) -> Result<(), StoreError> {
        self.versioned(update(entry)?).await
    }
}

#[async_trait]
impl<D: Database> AddressBookStore for EnvStore<D> {
    async fn get(
        &self,
        tenant: TenantId,
        id: AddressBookEntryId,
    ) -> Result<AddressBookEntry, StoreError> {
        store::one(&self.0, get(tenant, id), codec::address_book_entry).await
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &AddressBookFilter,
        now: OffsetDateTime,
        page: PageRequest,
    ) -> Result<Page<AddressBookEntry>, StoreError> {
        let stmt = list(tenant, filter, now, &page);
        store::page(&self.0, stmt, &page, codec::address_book_entry).await
    }
}
