//! `api_keys`, shared by both environments (a key names its environment).

use async_trait::async_trait;
use custody_core::api_key::{ApiKey, KeyHash};
use custody_core::id::{ApiKeyId, TenantId};
use custody_core::ports::{ApiKeyStore, StoreError, StoredApiKey};
use custody_core::secret::Secret;

use crate::codec::{self, allowed_ips_text, scopes_text, seal_hmac_secret};
use crate::seal::MasterKey;
use crate::statement::{Lock, Statement};
use crate::store::{self, Database, SharedStore, Transaction};

pub const COLUMNS: &str = "id, tenant_id, environment, mode, scopes, allowed_ips, key_hash, \
     key_hint, ed25519_public_key, hmac_secret_sealed, created_at, expires_at, revoked_at, \
     replaced_by";

/// Inserts a key, its HMAC secret (if any) sealed under `master`.
///
/// # Errors
/// `Internal` if sealing fails.
pub fn insert(
    key: &ApiKey,
    hmac_secret: Option<&Secret>,
    master: &MasterKey,
) -> Result<Statement, StoreError> {
    let sealed = hmac_secret
        .map(|secret| seal_hmac_secret(master, key.id, secret))
        .transpose()?;
    let insert = Statement::new(
        "INSERT INTO api_keys (id, tenant_id, environment, mode, scopes, allowed_ips, \
         key_hash, key_hint, ed25519_public_key, hmac_secret_sealed, created_at, expires_at, \
         revoked_at, replaced_by) \
         VALUES (:id, :tenant, :environment, :mode, :scopes, :allowed_ips, :key_hash, \
         :key_hint, :ed25519_public_key, :hmac_secret_sealed, :created_at, :expires_at, \
         :revoked_at, :replaced_by)",
    )
    .bind("tenant", key.tenant_id.to_string())
    .bind("environment", key.environment.as_str())
    .bind("mode", key.mode.as_str())
    .bind("scopes", scopes_text(&key.scopes))
    .bind("allowed_ips", allowed_ips_text(&key.allowed_ips))
    .bind("key_hash", key.key_hash.as_bytes().to_vec())
    .bind("key_hint", key.key_hint.as_str())
    .bind("ed25519_public_key", key.ed25519_public_key.as_deref())
    .bind("hmac_secret_sealed", sealed)
    .bind("created_at", key.created_at);
    Ok(changes(insert, key))
}

/// Saves expiry, revocation and successor, the only things that change.
pub fn update(key: &ApiKey) -> Statement {
    let update = Statement::new(
        "UPDATE api_keys SET expires_at = :expires_at, revoked_at = :revoked_at, \
         replaced_by = :replaced_by WHERE id = :id",
    );
    changes(update, key)
}

fn changes(stmt: Statement, key: &ApiKey) -> Statement {
    stmt.bind("id", key.id.to_string())
        .bind("expires_at", key.expires_at)
        .bind("revoked_at", key.revoked_at)
        .bind("replaced_by", key.replaced_by.map(|id| id.to_string()))
}

/// Some row when the key exists, locked so a concurrent revocation or rotation of it waits.
pub fn lock(id: ApiKeyId) -> Statement {
    Statement::new("SELECT 1 AS found FROM api_keys WHERE id = :id")
        .bind("id", id.to_string())
        .lock(Lock::Update)
}

pub fn by_hash(hash: &KeyHash) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM api_keys WHERE key_hash = :key_hash"
    ))
    .bind("key_hash", hash.as_bytes().to_vec())
}

pub fn get(id: ApiKeyId) -> Statement {
    Statement::new(format!("SELECT {COLUMNS} FROM api_keys WHERE id = :id"))
        .bind("id", id.to_string())
}

pub fn of_tenant(tenant: TenantId) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM api_keys WHERE tenant_id = :tenant ORDER BY id"
    ))
    .bind("tenant", tenant.to_string())
}

#[async_trait]
impl<D: Database> ApiKeyStore for SharedStore<D> {
    async fn insert(&self, key: &ApiKey, hmac_secret: Option<Secret>) -> Result<(), StoreError> {
        self.db
            .write(insert(key, hmac_secret.as_ref(), &self.master)?)
            .await
            .map(|_| ())
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<StoredApiKey, StoreError> {
        store::one(&self.db, by_hash(hash), |r| codec::api_key(r, &self.master)).await
    }

    async fn get(&self, id: ApiKeyId) -> Result<StoredApiKey, StoreError> {
        store::one(&self.db, get(id), |r| codec::api_key(r, &self.master)).await
    }

    async fn insert_rotation(
        &self,
        rotated: &ApiKey,
        successor: &ApiKey,
        hmac_secret: Option<Secret>,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin().await?;
        // The rotated key first (NotFound wins over a successor conflict), locked so a
        // concurrent revocation or rotation of it waits for this one.
        if tx.fetch_optional(lock(rotated.id)).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        // The successor before the pointer to it (`replaced_by` is a foreign key).
        tx.execute(insert(successor, hmac_secret.as_ref(), &self.master)?)
            .await?;
        tx.execute(update(rotated)).await?;
        tx.commit().await
    }

    async fn update(&self, key: &ApiKey) -> Result<(), StoreError> {
        if self.db.write(update(key)).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError> {
        store::all(&self.db, of_tenant(tenant), |r| {
            codec::api_key(r, &self.master).map(|stored| stored.key)
        })
        .await
    }
}
