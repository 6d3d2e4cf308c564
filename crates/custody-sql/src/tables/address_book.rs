//! `address_book_entries`.

use async_trait::async_trait;
use custody_core::address_book::{AddressBookEntry, EntryStatus};
use custody_core::id::{AddressBookEntryId, TenantId};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{AddressBookStore, AddressBookTx, StoreError};

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

pub fn list(tenant: TenantId, include_deleted: bool, page: &PageRequest) -> Statement {
    let active = (!include_deleted).then(|| names::entry_status(EntryStatus::Active));
    let stmt = scoped(COLUMNS, "address_book_entries", tenant).filter("status", "status", active);
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
        include_deleted: bool,
        page: PageRequest,
    ) -> Result<Page<AddressBookEntry>, StoreError> {
        let stmt = list(tenant, include_deleted, &page);
        store::page(&self.0, stmt, &page, codec::address_book_entry).await
    }
}
