//! The stores both environments share: tenants (with enabled assets) and API keys.

use async_trait::async_trait;
use custody_core::api_key::{ApiKey, KeyHash};
use custody_core::asset::{AssetId, EnabledAssets};
use custody_core::environment::Environment;
use custody_core::id::{ApiKeyId, TenantId};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{ApiKeyStore, StoreError, StoredApiKey, TenantStore};
use custody_core::secret::Secret;
use custody_core::tenant::Tenant;
use custody_sql::{codec, MasterKey};
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::error::db_err;
use crate::page::{fetch_page, push_page};
use crate::row::{decode_all, decode_one, API_KEY, TENANT};

/// Tenants and their enabled assets.
pub(crate) struct PgTenantStore {
    pool: PgPool,
}

impl PgTenantStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        PgTenantStore { pool }
    }
}

/// Replaces the enabled assets of (tenant, env) inside `conn`'s transaction.
async fn write_assets(
    conn: &mut sqlx::PgConnection,
    tenant: TenantId,
    env: Environment,
    assets: &EnabledAssets,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM tenant_assets WHERE tenant_id = $1 AND environment = $2")
        .bind(tenant.to_string())
        .bind(env.as_str())
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let ids: Vec<String> = assets.iter().map(|a| a.to_string()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO tenant_assets (tenant_id, environment, asset_id) \
         SELECT $1, $2, asset FROM UNNEST($3::text[]) AS asset",
    )
    .bind(tenant.to_string())
    .bind(env.as_str())
    .bind(ids)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl TenantStore for PgTenantStore {
    async fn insert(
        &self,
        tenant: &Tenant,
        sandbox: &EnabledAssets,
        live: &EnabledAssets,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("INSERT INTO tenants (id, name, status, created_at) VALUES ($1, $2, $3, $4)")
            .bind(tenant.id.to_string())
            .bind(&tenant.name)
            .bind(tenant.status.as_str())
            .bind(tenant.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        write_assets(&mut tx, tenant.id, Environment::Sandbox, sandbox).await?;
        write_assets(&mut tx, tenant.id, Environment::Live, live).await?;
        tx.commit().await.map_err(db_err)
    }

    async fn get(&self, id: TenantId) -> Result<Tenant, StoreError> {
        let row = sqlx::query(&format!("SELECT {TENANT} FROM tenants WHERE id = $1"))
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        decode_one(&row, |r| codec::tenant(r))
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE tenants SET status = $2 WHERE id = $1")
            .bind(tenant.id.to_string())
            .bind(tenant.status.as_str())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StoreError> {
        let mut qb =
            QueryBuilder::<Postgres>::new(format!("SELECT {TENANT} FROM tenants WHERE TRUE"));
        push_page(&mut qb, TenantId::PREFIX, &page);
        fetch_page(qb, &self.pool, &page, |r| codec::tenant(r)).await
    }

    async fn enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
    ) -> Result<EnabledAssets, StoreError> {
        // One statement: the tenant's existence and its assets from one snapshot.
        let rows = sqlx::query(
            "SELECT ta.asset_id FROM tenants t \
             LEFT JOIN tenant_assets ta ON ta.tenant_id = t.id AND ta.environment = $2 \
             WHERE t.id = $1 ORDER BY ta.asset_id",
        )
        .bind(id.to_string())
        .bind(env.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        if rows.is_empty() {
            return Err(StoreError::NotFound);
        }
        let mut assets = EnabledAssets::none();
        for row in &rows {
            use custody_sql::Columns;
            if let Some(raw) = crate::row::Cols(row).opt_text("asset_id")? {
                let asset = AssetId::parse(&raw).map_err(|e| {
                    custody_sql::corrupt(format_args!("tenant_assets.asset_id {raw:?}: {e}"))
                })?;
                assets.enable(asset);
            }
        }
        Ok(assets)
    }

    async fn set_enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
        assets: &EnabledAssets,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Locks the tenant row so two replacements of one tenant's assets do not interleave.
        sqlx::query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE")
            .bind(id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        write_assets(&mut tx, id, env, assets).await?;
        tx.commit().await.map_err(db_err)
    }
}

/// API keys, with HMAC secrets sealed under the master key.
pub(crate) struct PgApiKeyStore {
    pool: PgPool,
    master: MasterKey,
}

impl PgApiKeyStore {
    pub(crate) fn new(pool: PgPool, master: MasterKey) -> Self {
        PgApiKeyStore { pool, master }
    }

    async fn insert_in(
        &self,
        conn: &mut sqlx::PgConnection,
        key: &ApiKey,
        hmac_secret: Option<Secret>,
    ) -> Result<(), StoreError> {
        let sealed = hmac_secret
            .map(|secret| codec::seal_hmac_secret(&self.master, key.id, &secret))
            .transpose()?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, environment, mode, scopes, allowed_ips, \
             key_hash, key_hint, ed25519_public_key, hmac_secret_sealed, created_at, expires_at, \
             revoked_at, replaced_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(key.id.to_string())
        .bind(key.tenant_id.to_string())
        .bind(key.environment.as_str())
        .bind(key.mode.as_str())
        .bind(codec::scopes_text(&key.scopes))
        .bind(codec::allowed_ips_text(&key.allowed_ips))
        .bind(key.key_hash.as_bytes().to_vec())
        .bind(&key.key_hint)
        .bind(key.ed25519_public_key.as_deref())
        .bind(sealed)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.revoked_at)
        .bind(key.replaced_by.map(|id| id.to_string()))
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for PgApiKeyStore {
    async fn insert(&self, key: &ApiKey, hmac_secret: Option<Secret>) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(db_err)?;
        self.insert_in(&mut conn, key, hmac_secret).await
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<StoredApiKey, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {API_KEY} FROM api_keys WHERE key_hash = $1"
        ))
        .bind(hash.as_bytes().to_vec())
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        decode_one(&row, |r| codec::api_key(r, &self.master))
    }

    async fn get(&self, id: ApiKeyId) -> Result<StoredApiKey, StoreError> {
        let row = sqlx::query(&format!("SELECT {API_KEY} FROM api_keys WHERE id = $1"))
            .bind(id.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        decode_one(&row, |r| codec::api_key(r, &self.master))
    }

    async fn insert_rotation(
        &self,
        rotated: &ApiKey,
        successor: &ApiKey,
        hmac_secret: Option<Secret>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // The rotated key first (NotFound wins over a successor conflict), locked so a
        // concurrent revocation or rotation of it waits for this one.
        sqlx::query("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE")
            .bind(rotated.id.to_string())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
        // The successor before the pointer to it (`replaced_by` is a foreign key).
        self.insert_in(&mut tx, successor, hmac_secret).await?;
        sqlx::query(
            "UPDATE api_keys SET expires_at = $2, revoked_at = $3, replaced_by = $4 WHERE id = $1",
        )
        .bind(rotated.id.to_string())
        .bind(rotated.expires_at)
        .bind(rotated.revoked_at)
        .bind(rotated.replaced_by.map(|id| id.to_string()))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn update(&self, key: &ApiKey) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET expires_at = $2, revoked_at = $3, replaced_by = $4 WHERE id = $1",
        )
        .bind(key.id.to_string())
        .bind(key.expires_at)
        .bind(key.revoked_at)
        .bind(key.replaced_by.map(|id| id.to_string()))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {API_KEY} FROM api_keys WHERE tenant_id = $1 ORDER BY id"
        ))
        .bind(tenant.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(decode_all(&rows, |r| codec::api_key(r, &self.master))?
            .into_iter()
            .map(|stored| stored.key)
            .collect())
    }
}
