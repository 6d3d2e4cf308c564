use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::api_key::{ApiKey, KeyHash};
use crate::id::{ApiKeyId, TenantId};
use crate::secret::Secret;

/// A key record with the HMAC secret, decrypted by the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApiKey {
    /// The record.
    pub key: ApiKey,
    /// The HMAC signing secret (hmac mode only). Stored encrypted at rest; the adapter holds the
    /// master key and hands core the plaintext only here.
    pub hmac_secret: Option<Secret>,
}

/// API keys. Shared by both environments (the environment is a field of the key).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key. The key string itself is never stored, only its hash.
    ///
    /// # Errors
    /// `Conflict` if the id or hash exists; `NotFound` if the tenant does not.
    async fn insert(&self, key: &ApiKey, hmac_secret: Option<Secret>) -> Result<(), StoreError>;

    /// Finds a key by the hash of the presented key string. Revoked and expired keys are
    /// returned too: deciding is core's job.
    ///
    /// # Errors
    /// `NotFound` when no key has this hash.
    async fn find_by_hash(&self, hash: &KeyHash) -> Result<StoredApiKey, StoreError>;

    /// Reads a key by id.
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn get(&self, id: ApiKeyId) -> Result<StoredApiKey, StoreError>;

    /// Saves the old key's rotation state (`rotated`: its `expires_at` and `replaced_by`) and
    /// inserts its successor in one database transaction: both or neither. A rotation that half
    /// happened would either leave the old key working forever with no successor recorded, or
    /// mint a successor the old key does not point to.
    ///
    /// # Errors
    /// `NotFound` when the rotated key is absent; `Conflict` if the successor's id or hash
    /// exists. Nothing is written on any error.
    async fn insert_rotation(
        &self,
        rotated: &ApiKey,
        successor: &ApiKey,
        hmac_secret: Option<Secret>,
    ) -> Result<(), StoreError>;

    /// Saves a key's revocation state. (A rotation is saved with
    /// [`insert_rotation`](ApiKeyStore::insert_rotation), together with the successor.)
    ///
    /// # Errors
    /// `NotFound` when absent.
    async fn update(&self, key: &ApiKey) -> Result<(), StoreError>;

    /// A tenant's keys, newest last.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError>;
}

/// Shared handle.
pub type DynApiKeyStore = Arc<dyn ApiKeyStore>;
