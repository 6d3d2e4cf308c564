//! `vaults`.

use async_trait::async_trait;
use custody_core::id::{TenantId, VaultId};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{StoreError, VaultFilter, VaultStore, VaultTx};
use custody_core::text::ExternalRef;
use custody_core::vault::{Vault, VaultKind};

use super::{by_id, exists, int, scoped, Versioned};
use crate::codec::{self, metadata_json};
use crate::names;
use crate::page::paged;
use crate::statement::{Lock, Statement};
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

pub const COLUMNS: &str = "id, environment, tenant_id, kind, external_ref, name, metadata, \
     status, version, created_at, updated_at";

pub fn get(tenant: TenantId, id: VaultId) -> Statement {
    by_id(COLUMNS, "vaults", tenant, id.to_string())
}

pub fn by_external_ref(tenant: TenantId, external_ref: &ExternalRef) -> Statement {
    scoped(COLUMNS, "vaults", tenant).filter(
        "external_ref",
        "external_ref",
        Some(external_ref.as_str()),
    )
}

pub fn treasury(tenant: TenantId) -> Statement {
    scoped(COLUMNS, "vaults", tenant)
        .push(" AND kind = :kind")
        .bind("kind", names::vault_kind(VaultKind::Treasury))
}

pub fn list(tenant: TenantId, filter: &VaultFilter, page: &PageRequest) -> Statement {
    let external_ref = filter.external_ref.as_ref().map(ExternalRef::as_str);
    let stmt =
        scoped(COLUMNS, "vaults", tenant).filter("external_ref", "external_ref", external_ref);
    paged(stmt, VaultId::PREFIX, page)
}

/// Whether any wallet of the vault holds funds. Amounts are canonical decimals (`numeric(39,0)`
/// or CHECKed text), so zero is exactly `'0'` in both databases.
pub fn has_funds(vault: VaultId) -> Statement {
    Statement::new(
        "SELECT 1 AS found FROM wallets WHERE environment = :environment AND vault_id = :vault \
         AND (available <> '0' OR pending <> '0' OR held <> '0') LIMIT 1",
    )
    .bind("vault", vault.to_string())
}

/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn insert(vault: &Vault) -> Result<Statement, StoreError> {
    let insert = Statement::new(
        "INSERT INTO vaults (id, environment, tenant_id, kind, external_ref, name, metadata, \
         status, version, created_at, updated_at) \
         VALUES (:id, :environment, :tenant, :kind, :external_ref, :name, :metadata, :status, \
         :version, :created_at, :updated_at)",
    )
    .bind("kind", names::vault_kind(vault.kind))
    .bind(
        "external_ref",
        vault.external_ref.as_ref().map(ExternalRef::as_str),
    )
    .bind("created_at", vault.created_at);
    changes(insert, vault)
}

/// Saves name, metadata and status.
///
/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn update(vault: &Vault) -> Result<Versioned, StoreError> {
    let update = Statement::new(
        "UPDATE vaults SET name = :name, metadata = :metadata, status = :status, \
         version = :version, updated_at = :updated_at \
         WHERE id = :id AND environment = :environment AND tenant_id = :tenant \
         AND version < :version",
    );
    Ok(Versioned {
        update: changes(update, vault)?,
        exists: exists("vaults", vault.tenant_id, vault.id.to_string()),
    })
}

/// The row's key and what an update may change, shared with the insert.
fn changes(stmt: Statement, vault: &Vault) -> Result<Statement, StoreError> {
    Ok(stmt
        .bind("id", vault.id.to_string())
        .bind("tenant", vault.tenant_id.to_string())
        .bind("name", vault.name.as_str())
        .bind("metadata", metadata_json(&vault.metadata))
        .bind("status", names::vault_status(vault.status))
        .bind("version", int(vault.version, "version")?)
        .bind("updated_at", vault.updated_at))
}

#[async_trait]
impl<T: Transaction> VaultTx for SqlTx<T> {
    async fn find_vault_by_external_ref(
        &mut self,
        tenant: TenantId,
        external_ref: &ExternalRef,
    ) -> Result<Vault, StoreError> {
        self.one(by_external_ref(tenant, external_ref), codec::vault)
            .await
    }

    async fn find_treasury_vault(&mut self, tenant: TenantId) -> Result<Vault, StoreError> {
        self.one(treasury(tenant), codec::vault).await
    }

    async fn lock_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        self.one(get(tenant, id).lock(Lock::Update), codec::vault)
            .await
    }

    async fn share_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        self.one(get(tenant, id).lock(Lock::Share), codec::vault)
            .await
    }

    async fn insert_vault(&mut self, vault: &Vault) -> Result<(), StoreError> {
        self.execute(insert(vault)?).await
    }

    async fn update_vault(&mut self, vault: &Vault) -> Result<(), StoreError> {
        self.versioned(update(vault)?).await
    }

    async fn vault_has_funds(&mut self, vault: VaultId) -> Result<bool, StoreError> {
        self.found(has_funds(vault)).await
    }
}

#[async_trait]
impl<D: Database> VaultStore for EnvStore<D> {
    async fn get(&self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        let read = super::read_by_id!(COLUMNS, "vaults", codec::vault);
        self.1
            .vaults
            .get(&self.0, read, tenant, id.to_string())
            .await
    }

    async fn find_by_external_ref(
        &self,
        tenant: TenantId,
        external_ref: &ExternalRef,
    ) -> Result<Vault, StoreError> {
        store::one(&self.0, by_external_ref(tenant, external_ref), codec::vault).await
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &VaultFilter,
        page: PageRequest,
    ) -> Result<Page<Vault>, StoreError> {
        let stmt = list(tenant, filter, &page);
        store::page(&self.0, stmt, &page, codec::vault).await
    }
}
