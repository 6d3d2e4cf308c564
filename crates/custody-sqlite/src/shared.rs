//! Tenants and API keys: shared by both environments.

use std::sync::Arc;

use async_trait::async_trait;
use custody_core::api_key::{ApiKey, KeyHash};
use custody_core::asset::{AssetId, EnabledAssets};
use custody_core::environment::Environment;
use custody_core::id::{ApiKeyId, TenantId};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{ApiKeyStore, StoreError, StoredApiKey, TenantStore};
use custody_core::secret::Secret;
use custody_core::tenant::Tenant;
use custody_sql::{codec, corrupt, Columns};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use crate::page::fetch_page;
use crate::row::{db, decode_all, micros, opt_micros, Row};
use crate::Inner;

/// The shared handles over one database.
pub(crate) struct SharedStore {
    db: Arc<Inner>,
}

impl SharedStore {
    pub(crate) fn new(db: Arc<Inner>) -> SharedStore {
        SharedStore { db }
    }

    async fn insert_key(
        &self,
        conn: &mut SqliteConnection,
        key: &ApiKey,
        hmac_secret: Option<&Secret>,
    ) -> Result<(), StoreError> {
        let sealed = hmac_secret
            .map(|s| codec::seal_hmac_secret(&self.db.master, key.id, s))
            .transpose()?;
        sqlx::query(
            "INSERT INTO api_keys (id, tenant_id, environment, mode, scopes, allowed_ips, \
                 key_hash, key_hint, ed25519_public_key, hmac_secret_sealed, created_at, \
                 expires_at, revoked_at, replaced_by) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .bind(key.id.to_string())
        .bind(key.tenant_id.to_string())
        .bind(key.environment.as_str())
        .bind(key.mode.as_str())
        .bind(codec::scopes_text(&key.scopes))
        .bind(codec::allowed_ips_text(&key.allowed_ips))
        .bind(key.key_hash.as_bytes().to_vec())
        .bind(key.key_hint.clone())
        .bind(key.ed25519_public_key.clone())
        .bind(sealed)
        .bind(micros(key.created_at))
        .bind(opt_micros(key.expires_at))
        .bind(opt_micros(key.revoked_at))
        .bind(key.replaced_by.map(|k| k.to_string()))
        .execute(conn)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Saves the mutable state of a key: expiry, revocation, successor.
    async fn update_key_state(conn: &mut SqliteConnection, key: &ApiKey) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET expires_at = ?1, revoked_at = ?2, replaced_by = ?3 WHERE id = ?4",
        )
        .bind(opt_micros(key.expires_at))
        .bind(opt_micros(key.revoked_at))
        .bind(key.replaced_by.map(|k| k.to_string()))
        .bind(key.id.to_string())
        .execute(conn)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn tenant_exists(conn: &mut SqliteConnection, id: TenantId) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, i64>("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)")
            .bind(id.to_string())
            .fetch_one(conn)
            .await
            .map(|n| n != 0)
            .map_err(db)
    }

    async fn insert_assets(
        conn: &mut SqliteConnection,
        id: TenantId,
        env: Environment,
        assets: &EnabledAssets,
    ) -> Result<(), StoreError> {
        for asset in assets.iter() {
            sqlx::query(
                "INSERT INTO tenant_assets (tenant_id, environment, asset_id) VALUES (?1, ?2, ?3)",
            )
            .bind(id.to_string())
            .bind(env.as_str())
            .bind(asset.to_string())
            .execute(&mut *conn)
            .await
            .map_err(db)?;
        }
        Ok(())
    }
}

#[async_trait]
impl TenantStore for SharedStore {
    async fn insert(
        &self,
        tenant: &Tenant,
        sandbox: &EnabledAssets,
        live: &EnabledAssets,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query("INSERT INTO tenants (id, name, status, created_at) VALUES (?1, ?2, ?3, ?4)")
            .bind(tenant.id.to_string())
            .bind(tenant.name.clone())
            .bind(tenant.status.as_str())
            .bind(micros(tenant.created_at))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Self::insert_assets(&mut tx, tenant.id, Environment::Sandbox, sandbox).await?;
        Self::insert_assets(&mut tx, tenant.id, Environment::Live, live).await?;
        tx.commit().await.map_err(db)
    }

    async fn get(&self, id: TenantId) -> Result<Tenant, StoreError> {
        let row = sqlx::query("SELECT * FROM tenants WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&self.db.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        codec::tenant(&Row(&row))
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        // The port saves the status only (as PostgreSQL does).
        let done = sqlx::query("UPDATE tenants SET status = ?1 WHERE id = ?2")
            .bind(tenant.status.as_str())
            .bind(tenant.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db)
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StoreError> {
        let q = QueryBuilder::<Sqlite>::new("SELECT * FROM tenants WHERE 1 = 1");
        fetch_page(q, &page, TenantId::PREFIX, &self.db.reader, |r| {
            codec::tenant(r)
        })
        .await
    }

    async fn enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
    ) -> Result<EnabledAssets, StoreError> {
        // One read transaction, so the tenant check and the assets are one snapshot.
        let mut conn = self.db.reader.acquire().await.map_err(db)?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(db)?;
        if !Self::tenant_exists(&mut tx, id).await? {
            return Err(StoreError::NotFound);
        }
        let rows = sqlx::query(
            "SELECT asset_id FROM tenant_assets WHERE tenant_id = ?1 AND environment = ?2",
        )
        .bind(id.to_string())
        .bind(env.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        let assets = decode_all(&rows, |r| {
            let raw = r.text("asset_id")?;
            AssetId::parse(&raw).map_err(|e| corrupt(format_args!("asset_id: {e}")))
        })?;
        Ok(assets.into_iter().collect())
    }

    async fn set_enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
        assets: &EnabledAssets,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        if !Self::tenant_exists(&mut tx, id).await? {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM tenant_assets WHERE tenant_id = ?1 AND environment = ?2")
            .bind(id.to_string())
            .bind(env.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Self::insert_assets(&mut tx, id, env, assets).await?;
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl ApiKeyStore for SharedStore {
    async fn insert(&self, key: &ApiKey, hmac_secret: Option<Secret>) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        self.insert_key(&mut tx, key, hmac_secret.as_ref()).await?;
        tx.commit().await.map_err(db)
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<StoredApiKey, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE key_hash = ?1")
            .bind(hash.as_bytes().to_vec())
            .fetch_optional(&self.db.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        codec::api_key(&Row(&row), &self.db.master)
    }

    async fn get(&self, id: ApiKeyId) -> Result<StoredApiKey, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = ?1")
            .bind(id.to_string())
            .fetch_optional(&self.db.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        codec::api_key(&Row(&row), &self.db.master)
    }

    async fn insert_rotation(
        &self,
        rotated: &ApiKey,
        successor: &ApiKey,
        hmac_secret: Option<Secret>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let exists =
            sqlx::query_scalar::<_, i64>("SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?1)")
                .bind(rotated.id.to_string())
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        if exists == 0 {
            return Err(StoreError::NotFound);
        }
        // The successor first: the rotated key's `replaced_by` references it.
        self.insert_key(&mut tx, successor, hmac_secret.as_ref())
            .await?;
        Self::update_key_state(&mut tx, rotated).await?;
        tx.commit().await.map_err(db)
    }

    async fn update(&self, key: &ApiKey) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        Self::update_key_state(&mut tx, key).await?;
        tx.commit().await.map_err(db)
    }

    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_keys WHERE tenant_id = ?1 ORDER BY id")
            .bind(tenant.to_string())
            .fetch_all(&self.db.reader)
            .await
            .map_err(db)?;
        decode_all(&rows, |r| {
            codec::api_key(r, &self.db.master).map(|stored| stored.key)
        })
    }
}
