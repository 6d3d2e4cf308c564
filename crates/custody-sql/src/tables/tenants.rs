//! `tenants` and `tenant_assets`, shared by both environments.

use async_trait::async_trait;
use custody_core::asset::{AssetId, EnabledAssets};
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{StoreError, TenantStore, TenantTx};
use custody_core::tenant::{Tenant, TenantPolicy};

use crate::codec::{self, Columns};
use crate::errors::corrupt;
use crate::page::paged;
use crate::statement::{Lock, Statement};
use crate::store::{self, Database, SharedStore, SqlTx, Transaction};

pub const COLUMNS: &str = "id, name, status, created_at";

pub fn insert(tenant: &Tenant) -> Statement {
    Statement::new(
        "INSERT INTO tenants (id, name, status, created_at) \
         VALUES (:id, :name, :status, :created_at)",
    )
    .bind("id", tenant.id.to_string())
    .bind("name", tenant.name.as_str())
    .bind("status", tenant.status.as_str())
    .bind("created_at", tenant.created_at)
}

pub fn get(id: TenantId) -> Statement {
    Statement::new(format!("SELECT {COLUMNS} FROM tenants WHERE id = :id"))
        .bind("id", id.to_string())
}

/// Some row when the tenant exists, locked so two replacements of its assets do not
/// interleave.
pub fn lock(id: TenantId) -> Statement {
    Statement::new("SELECT 1 AS found FROM tenants WHERE id = :id")
        .bind("id", id.to_string())
        .lock(Lock::Update)
}

/// Saves the status, the only thing that changes.
pub fn update(tenant: &Tenant) -> Statement {
    Statement::new("UPDATE tenants SET status = :status WHERE id = :id")
        .bind("id", tenant.id.to_string())
        .bind("status", tenant.status.as_str())
}

pub const POLICY: &str = "status, address_book_cooling_off_secs";

pub fn policy(id: TenantId) -> Statement {
    Statement::new(format!("SELECT {POLICY} FROM tenants WHERE id = :id"))
        .bind("id", id.to_string())
}

/// [`policy`] from inside an environment-bound unit of work, under a shared row lock. Tenants
/// are shared by both environments; the environment is named only because every statement of
/// an environment-bound handle binds it.
pub fn share_policy(id: TenantId) -> Statement {
    Statement::new(format!(
        "SELECT {POLICY} FROM tenants WHERE id = :id AND :environment IN ('live', 'sandbox')"
    ))
    .bind("id", id.to_string())
    .lock(Lock::Share)
}

/// `None` clears the setting.
pub fn set_cooling_off(id: TenantId, secs: Option<i64>) -> Statement {
    Statement::new("UPDATE tenants SET address_book_cooling_off_secs = :secs WHERE id = :id")
        .bind("id", id.to_string())
        .bind("secs", secs)
}

pub fn list(page: &PageRequest) -> Statement {
    let stmt = Statement::new(format!("SELECT {COLUMNS} FROM tenants WHERE 1 = 1"));
    paged(stmt, TenantId::PREFIX, page)
}

/// `asset_id` of every asset the tenant enabled in `env`; one row with a null `asset_id` for
/// a tenant with none, no row for a tenant that does not exist. One statement, so the
/// tenant's existence and its assets come from one snapshot.
pub fn assets(id: TenantId, env: Environment) -> Statement {
    Statement::new(
        "SELECT ta.asset_id AS asset_id FROM tenants t \
         LEFT JOIN tenant_assets ta ON ta.tenant_id = t.id AND ta.environment = :environment \
         WHERE t.id = :id ORDER BY ta.asset_id",
    )
    .bind("id", id.to_string())
    .bind("environment", env.as_str())
}

pub fn delete_assets(id: TenantId, env: Environment) -> Statement {
    Statement::new("DELETE FROM tenant_assets WHERE tenant_id = :id AND environment = :environment")
        .bind("id", id.to_string())
        .bind("environment", env.as_str())
}

pub fn insert_asset(id: TenantId, env: Environment, asset: AssetId) -> Statement {
    Statement::new(
        "INSERT INTO tenant_assets (tenant_id, environment, asset_id) \
         VALUES (:id, :environment, :asset)",
    )
    .bind("id", id.to_string())
    .bind("environment", env.as_str())
    .bind("asset", asset.to_string())
}

async fn write_assets<T: Transaction>(
    tx: &mut T,
    id: TenantId,
    env: Environment,
    assets: &EnabledAssets,
) -> Result<(), StoreError> {
    tx.execute(delete_assets(id, env)).await?;
    for asset in assets.iter() {
        tx.execute(insert_asset(id, env, asset)).await?;
    }
    Ok(())
}

#[async_trait]
impl<T: Transaction> TenantTx for SqlTx<T> {
    async fn share_tenant_policy(&mut self, tenant: TenantId) -> Result<TenantPolicy, StoreError> {
        self.one(share_policy(tenant), codec::tenant_policy).await
    }
}

#[async_trait]
impl<D: Database> TenantStore for SharedStore<D> {
    async fn policy(&self, id: TenantId) -> Result<TenantPolicy, StoreError> {
        store::one(&self.db, policy(id), codec::tenant_policy).await
    }

    async fn set_address_book_cooling_off(
        &self,
        id: TenantId,
        cooling_off: Option<time::Duration>,
    ) -> Result<(), StoreError> {
        let secs = cooling_off.map(|d| d.whole_seconds().max(0));
        if self.db.write(set_cooling_off(id, secs)).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn insert(
        &self,
        tenant: &Tenant,
        sandbox: &EnabledAssets,
        live: &EnabledAssets,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        tx.execute(insert(tenant)).await?;
        write_assets(&mut tx, tenant.id, Environment::Sandbox, sandbox).await?;
        write_assets(&mut tx, tenant.id, Environment::Live, live).await?;
        tx.commit().await
    }

    async fn get(&self, id: TenantId) -> Result<Tenant, StoreError> {
        store::one(&self.db, get(id), codec::tenant).await
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), StoreError> {
        if self.db.write(update(tenant)).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StoreError> {
        store::page(&self.db, list(&page), &page, codec::tenant).await
    }

    async fn enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
    ) -> Result<EnabledAssets, StoreError> {
        let rows = self.db.fetch_all(assets(id, env)).await?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        let mut enabled = EnabledAssets::none();
        for row in &rows {
            if let Some(raw) = row.opt_text("asset_id")? {
                let asset = AssetId::parse(&raw)
                    .map_err(|e| corrupt(format_args!("tenant_assets.asset_id {raw:?}: {e}")))?;
                enabled.enable(asset);
            }
        }
        Ok(enabled)
    }

    async fn set_enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
        assets: &EnabledAssets,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        if tx.fetch_optional(lock(id)).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        write_assets(&mut tx, id, env, assets).await?;
        tx.commit().await
    }
}
