use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::api_key::{ApiKey, KeyHash};
use crate::id::{ApiKeyId, TenantId};
use crate::secret::Secret;
use crate::tenant::Tenant;
use time::OffsetDateTime;

/// One use of a signed request, for the replay cache: each signature is single-use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureUse {
    /// The key that signed.
    pub key_id: ApiKeyId,
    /// SHA-256 of what was signed (the canonical string or payload), so the same signed
    /// message is recognised however its signature is encoded.
    pub digest: [u8; 32],
    /// The request's `Idempotency-Key`, when sent: a retry with the same key is the partner's
    /// own retry, answered from the idempotency record rather than refused.
    pub idempotency_key: Option<String>,
    /// When it was used (a row expired at this time may be replaced).
    pub now: OffsetDateTime,
    /// When the signature can no longer pass the timestamp check, so the row may go.
    pub expires_at: OffsetDateTime,
}

/// Whether the store's master key is the one its database was created with
/// ([`ApiKeyStore::check_master_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterKeyCheck {
    /// No check value was recorded: this key's is now (a new database, or one from before the
    /// check value whose sealed secrets open with this key).
    Recorded,
    /// The recorded check value opens with this key.
    Matches,
    /// It does not (or, before the check value, a sealed secret does not): another key.
    Mismatch,
}

/// What [`ApiKeyStore::record_signature`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureSeen {
    /// The first use: recorded.
    First,
    /// Used before, with this `Idempotency-Key` (or none).
    Again {
        /// The first use's `Idempotency-Key`.
        idempotency_key: Option<String>,
    },
}

/// The constraint a `Conflict` names when an Ed25519 public key is already registered on a
/// key of another tenant or environment.
pub const ED25519_BINDING: &str = "ed25519_public_keys_binding";

/// A key record with the HMAC secret, decrypted by the adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApiKey {
    /// The record.
    pub key: ApiKey,
    /// The HMAC signing secret (hmac mode only). Stored encrypted at rest; the adapter holds the
    /// master key and hands core the plaintext only here.
    pub hmac_secret: Option<Secret>,
}

/// How a presented key is looked up for authentication: by the hash of the key string
/// (bearer and Ed25519 keys, which are presented whole), or by the public id a Platform HMAC
/// key is named by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyLookup {
    /// The hash of the presented key string.
    Hash(KeyHash),
    /// The key's public id.
    Id(ApiKeyId),
}

/// A key record and its tenant as they were read together
/// ([`ApiKeyStore::find_with_tenant`]): what authentication and the approval gate need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyWithTenant {
    /// The key record (revoked and expired keys too: deciding is core's job).
    pub stored: StoredApiKey,
    /// The key's tenant (its status decides the approval gate).
    pub tenant: Tenant,
}

/// API keys. Shared by both environments (the environment is a field of the key).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key. The key string itself is never stored, only its hash. An Ed25519
    /// public key is bound to the key's tenant and environment in the same transaction: a
    /// public key registered on a key of another tenant or environment is refused, also when
    /// two such mints race.
    ///
    /// # Errors
    /// `Conflict` if the id or hash exists, or `Conflict { constraint:
    /// "`[`ED25519_BINDING`]`" }` for a public key bound elsewhere; `NotFound` if the tenant
    /// does not.
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

    /// Finds a key (by hash or id) together with its tenant, in one round trip: what one
    /// authenticated request reads ([`AuthService::authenticate_with_tenant`]). Revoked and
    /// expired keys are returned too.
    ///
    /// [`AuthService::authenticate_with_tenant`]: crate::services::AuthService::authenticate_with_tenant
    ///
    /// # Errors
    /// `NotFound` when no key matches.
    async fn find_with_tenant(&self, lookup: &KeyLookup) -> Result<KeyWithTenant, StoreError>;

    /// Whether a key (revoked and expired ones too) matches `lookup`: the edge's check before
    /// it reads a request's body, which needs neither the record nor its tenant.
    ///
    /// # Errors
    /// Store trouble only.
    async fn exists(&self, lookup: &KeyLookup) -> Result<bool, StoreError>;

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

    /// Records a use of a signed request, or reports the earlier use: insert-or-conflict on
    /// (key, digest), so every instance sharing the database agrees on which use came first.
    /// A row that expired at `used.now` is replaced, as if absent.
    ///
    /// # Errors
    /// Store trouble only.
    async fn record_signature(&self, used: &SignatureUse) -> Result<SignatureSeen, StoreError>;

    /// Whether an ed25519 key's public key is bound to the key's own tenant and environment.
    /// `false` only for a key minted before the binding existed whose public key was first
    /// registered elsewhere: such a key is refused at use.
    ///
    /// # Errors
    /// Store trouble only.
    async fn ed25519_binding_holds(&self, key: &ApiKey) -> Result<bool, StoreError>;

    /// Compares the store's master key with the check value kept in the database (a value
    /// sealed under the key, never the key), recording it when there is none yet.
    ///
    /// # Errors
    /// Store trouble only.
    async fn check_master_key(&self, now: OffsetDateTime) -> Result<MasterKeyCheck, StoreError>;

    /// Deletes replay-cache rows expired at `now`; returns how many.
    ///
    /// # Errors
    /// Store trouble only.
    async fn purge_signatures(&self, now: OffsetDateTime) -> Result<u64, StoreError>;

    /// A tenant's keys, newest last.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError>;
}

/// Shared handle.
pub type DynApiKeyStore = Arc<dyn ApiKeyStore>;
