//! `api_keys`, shared by both environments (a key names its environment).

use async_trait::async_trait;
use custody_core::api_key::{ApiKey, KeyHash};
use custody_core::id::{ApiKeyId, TenantId};
use custody_core::ports::{
    ApiKeyStore, KeyLookup, KeyWithTenant, MasterKeyCheck, SignatureSeen, SignatureUse, StoreError,
    StoredApiKey, ED25519_BINDING,
};
use custody_core::secret::Secret;
use time::OffsetDateTime;

use crate::codec::{self, allowed_ips_text, scopes_text, seal_hmac_secret, Columns as _};
use crate::seal::MasterKey;
use crate::statement::{Lock, Statement};
use crate::store::{self, Database, SharedStore, Transaction};
use crate::tables::request_signatures;

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

/// The name an Ed25519 public key is bound by: the base64 of its DER encoding, i.e. the PEM
/// without its armour lines and whitespace. The PEM was parsed at mint, so this is canonical
/// for the key (an SPKI Ed25519 DER has one encoding); the migration that created the binding
/// table computes the same text in SQL for keys minted before it.
pub fn public_key_name(pem: &str) -> String {
    pem.replace("-----BEGIN PUBLIC KEY-----", "")
        .replace("-----END PUBLIC KEY-----", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Binds an Ed25519 public key to a tenant and environment unless it is bound already (then
/// nothing changes; [`bound_here`] tells whether it is bound here). In PostgreSQL a concurrent
/// binding of the same key waits for the first to commit.
pub fn bind_public_key(key: &ApiKey, public_key: &str) -> Statement {
    Statement::new(
        "INSERT INTO ed25519_public_keys (public_key, tenant_id, environment) \
         VALUES (:public_key, :tenant, :environment) ON CONFLICT (public_key) DO NOTHING",
    )
    .bind("public_key", public_key_name(public_key))
    .bind("tenant", key.tenant_id.to_string())
    .bind("environment", key.environment.as_str())
}

/// Some row when the public key is bound to the key's tenant and environment.
pub fn bound_here(key: &ApiKey, public_key: &str) -> Statement {
    Statement::new(
        "SELECT 1 AS found FROM ed25519_public_keys WHERE public_key = :public_key \
         AND tenant_id = :tenant AND environment = :environment",
    )
    .bind("public_key", public_key_name(public_key))
    .bind("tenant", key.tenant_id.to_string())
    .bind("environment", key.environment.as_str())
}

/// Inserts a key in `tx`, binding its Ed25519 public key first (refused when bound to another
/// tenant or environment).
async fn insert_in<T: Transaction>(
    tx: &mut T,
    key: &ApiKey,
    hmac_secret: Option<&Secret>,
    master: &MasterKey,
) -> Result<(), StoreError> {
    if let Some(public_key) = &key.ed25519_public_key {
        tx.execute(bind_public_key(key, public_key)).await?;
        if tx
            .fetch_optional(bound_here(key, public_key))
            .await?
            .is_none()
        {
            return Err(StoreError::Conflict {
                constraint: ED25519_BINDING.to_owned(),
            });
        }
    }
    tx.execute(insert(key, hmac_secret, master)?).await?;
    Ok(())
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

/// A key with its tenant, by hash or id: the one read of an authenticated request. The key's
/// columns keep their names; the tenant's are `tenant_name`, `tenant_status` and
/// `tenant_created_at` (read by [`codec::key_tenant`]).
pub fn with_tenant(lookup: &KeyLookup) -> Statement {
    let key_columns = COLUMNS
        .split(", ")
        .map(|c| format!("k.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let select = format!(
        "SELECT {key_columns}, t.name AS tenant_name, t.status AS tenant_status, \
         t.created_at AS tenant_created_at \
         FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
    );
    match lookup {
        KeyLookup::Hash(hash) => Statement::new(format!("{select} WHERE k.key_hash = :key_hash"))
            .bind("key_hash", hash.as_bytes().to_vec()),
        KeyLookup::Id(id) => {
            Statement::new(format!("{select} WHERE k.id = :id")).bind("id", id.to_string())
        }
    }
}

/// Some row when a key matches `lookup` (revoked and expired keys too).
pub fn exists(lookup: &KeyLookup) -> Statement {
    match lookup {
        KeyLookup::Hash(hash) => {
            Statement::new("SELECT 1 AS found FROM api_keys WHERE key_hash = :key_hash")
                .bind("key_hash", hash.as_bytes().to_vec())
        }
        KeyLookup::Id(id) => Statement::new("SELECT 1 AS found FROM api_keys WHERE id = :id")
            .bind("id", id.to_string()),
    }
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
        let mut tx = self.db.begin().await?;
        insert_in(&mut tx, key, hmac_secret.as_ref(), &self.master).await?;
        tx.commit().await
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<StoredApiKey, StoreError> {
        store::one(&self.db, by_hash(hash), |r| codec::api_key(r, &self.master)).await
    }

    async fn get(&self, id: ApiKeyId) -> Result<StoredApiKey, StoreError> {
        store::one(&self.db, get(id), |r| codec::api_key(r, &self.master)).await
    }

    async fn find_with_tenant(&self, lookup: &KeyLookup) -> Result<KeyWithTenant, StoreError> {
        store::one(&self.db, with_tenant(lookup), |r| {
            Ok(KeyWithTenant {
                stored: codec::api_key(r, &self.master)?,
                tenant: codec::key_tenant(r)?,
            })
        })
        .await
    }

    async fn exists(&self, lookup: &KeyLookup) -> Result<bool, StoreError> {
        Ok(self.db.fetch_optional(exists(lookup)).await?.is_some())
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
        insert_in(&mut tx, successor, hmac_secret.as_ref(), &self.master).await?;
        tx.execute(update(rotated)).await?;
        tx.commit().await
    }

    async fn update(&self, key: &ApiKey) -> Result<(), StoreError> {
        if self.db.write(update(key)).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn record_signature(&self, used: &SignatureUse) -> Result<SignatureSeen, StoreError> {
        // The row vanishes between the two statements only when it expired and was purged:
        // then this use is the first (the retry records it).
        for _ in 0..2 {
            if !self
                .db
                .write_all(request_signatures::record(used))
                .await?
                .is_empty()
            {
                return Ok(SignatureSeen::First);
            }
            if let Some(row) = self
                .db
                .fetch_optional(request_signatures::earlier(used))
                .await?
            {
                return Ok(request_signatures::seen(
                    false,
                    row.opt_text("idempotency_key")?,
                ));
            }
        }
        Err(StoreError::Unavailable(
            "a replay-cache row kept changing while being recorded".into(),
        ))
    }

    async fn ed25519_binding_holds(&self, key: &ApiKey) -> Result<bool, StoreError> {
        let Some(public_key) = &key.ed25519_public_key else {
            return Ok(true);
        };
        Ok(self
            .db
            .fetch_optional(bound_here(key, public_key))
            .await?
            .is_some())
    }

    async fn check_master_key(&self, now: OffsetDateTime) -> Result<MasterKeyCheck, StoreError> {
        crate::tables::master_key_check::check(&self.db, &self.master, now).await
    }

    async fn purge_signatures(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.db.write(request_signatures::purge_expired(now)).await
    }

    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError> {
        store::all(&self.db, of_tenant(tenant), |r| {
            codec::api_key(r, &self.master).map(|stored| stored.key)
        })
        .await
    }
}
