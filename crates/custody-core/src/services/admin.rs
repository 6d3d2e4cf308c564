//! Operator use cases: tenants, their enabled assets, and API keys (mint, rotate, revoke).
//!
//! These back `custody admin …`; they are not reachable with a partner key. Secrets are
//! returned exactly once, from [`AdminService::mint_key`] and [`AdminService::rotate_key`].

use time::Duration;

use crate::api_key::{
    format_key, generate_hmac_secret, hash_key, key_hint, ApiKey, IpAllowList, KeyMode, Scope,
    ScopeSet,
};
use crate::asset::{AssetId, EnabledAssets};
use crate::environment::Environment;
use crate::error::{Error, ResourceKind};
use crate::id::{ApiKeyId, TenantId};
use crate::page::{Page, PageRequest};
use crate::ports::{
    DynApiKeyStore, DynClock, DynIdGenerator, DynTenantStore, StoreError, ED25519_BINDING,
};
use crate::secret::Secret;
use crate::signing::Ed25519PublicKey;
use crate::tenant::{Tenant, TenantPolicy, TenantStatus};

/// A key to mint.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub tenant_id: TenantId,
    pub environment: Environment,
    /// Its one authentication scheme.
    pub mode: KeyMode,
    /// What it may do. Empty means *every* scope the mode may hold (bearer keys never hold
    /// [`Scope::SIGNED_ONLY`]): "all scopes when none are named" is a
    /// domain rule, applied by [`AdminService::mint_key`] so that every front end (CLI, API)
    /// mints the same key for the same request.
    pub scopes: ScopeSet,
    /// Where it may be used from (empty: anywhere).
    pub allowed_ips: IpAllowList,
    /// The partner's Ed25519 public key (PEM), required for `ed25519` keys.
    pub ed25519_public_key: Option<String>,
}

/// A freshly minted key: the only time its secrets are visible. `Debug` redacts them.
#[allow(missing_docs)]
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MintedKey {
    pub record: ApiKey,
    /// The key string (`sk_test_…` / `sk_live_…`).
    pub key: String,
    /// The HMAC signing secret, for `hmac` keys.
    pub hmac_secret: Option<String>,
}

impl std::fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedKey")
            .field("record", &self.record)
            .field("key", &"[redacted]")
            .field(
                "hmac_secret",
                &self.hmac_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Operator use cases.
#[derive(Clone)]
pub struct AdminService {
    tenants: DynTenantStore,
    keys: DynApiKeyStore,
    clock: DynClock,
    ids: DynIdGenerator,
}

impl AdminService {
    /// Wires the service.
    pub fn new(
        tenants: DynTenantStore,
        keys: DynApiKeyStore,
        clock: DynClock,
        ids: DynIdGenerator,
    ) -> AdminService {
        AdminService {
            tenants,
            keys,
            clock,
            ids,
        }
    }

    /// Creates a tenant: `pending`, every asset enabled in the sandbox, none live (live assets
    /// are enabled once a provider serves them and the tenant is approved).
    ///
    /// # Errors
    /// `InvalidField(name)` for an empty or over-long name; store errors.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, Error> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > crate::text::MAX_TEXT_CHARS {
            return Err(Error::field(
                "name",
                "invalid_text",
                "tenant name must be 1 to 255 characters",
            ));
        }
        let tenant = Tenant {
            id: TenantId::from_ulid(self.ids.ulid()),
            name: name.to_owned(),
            status: TenantStatus::Pending,
            created_at: self.clock.now(),
        };
        self.tenants
            .insert(&tenant, &EnabledAssets::all(), &EnabledAssets::none())
            .await?;
        Ok(tenant)
    }

    /// Moves a tenant through its state machine (approve, suspend, reinstate).
    ///
    /// # Errors
    /// `NotFound`; `InvalidTransition`.
    pub async fn set_tenant_status(&self, id: TenantId, to: TenantStatus) -> Result<Tenant, Error> {
        let mut tenant = self
            .tenants
            .get(id)
            .await
            .map_err(Error::from_store(ResourceKind::Tenant))?;
        tenant.set_status(to)?;
        self.tenants.update(&tenant).await?;
        Ok(tenant)
    }

    /// Sets how long a tenant's new address-book entries stay `Pending` (`None` or zero:
    /// usable at once); entries that exist keep their `activates_at`. Returns the tenant and
    /// its policy.
    ///
    /// # Errors
    /// `NotFound`; `Refused(invalid_cooling_off)` for a negative period; store errors.
    pub async fn set_address_book_cooling_off(
        &self,
        id: TenantId,
        cooling_off: Option<Duration>,
    ) -> Result<(Tenant, TenantPolicy), Error> {
        if cooling_off.is_some_and(Duration::is_negative) {
            return Err(Error::Refused {
                code: "invalid_cooling_off",
                message: "the cooling-off period cannot be negative".into(),
            });
        }
        let cooling_off = cooling_off.filter(|d| d.is_positive());
        self.tenants
            .set_address_book_cooling_off(id, cooling_off)
            .await
            .map_err(Error::from_store(ResourceKind::Tenant))?;
        let tenant = self
            .tenants
            .get(id)
            .await
            .map_err(Error::from_store(ResourceKind::Tenant))?;
        let policy = self
            .tenants
            .policy(id)
            .await
            .map_err(Error::from_store(ResourceKind::Tenant))?;
        Ok((tenant, policy))
    }

    /// A tenant's enforced settings.
    ///
    /// # Errors
    /// `NotFound`; store errors.
    pub async fn tenant_policy(&self, id: TenantId) -> Result<TenantPolicy, Error> {
        self.tenants
            .policy(id)
            .await
            .map_err(Error::from_store(ResourceKind::Tenant))
    }

    /// Lists tenants.
    ///
    /// # Errors
    /// Store errors.
    pub async fn list_tenants(&self, page: PageRequest) -> Result<Page<Tenant>, Error> {
        Ok(self.tenants.list(page).await?)
    }

    /// Enables or disables an asset for a tenant in one environment; returns the new set.
    ///
    /// # Errors
    /// `NotFound` tenant; store errors.
    pub async fn set_asset(
        &self,
        id: TenantId,
        environment: Environment,
        asset: AssetId,
        enabled: bool,
    ) -> Result<EnabledAssets, Error> {
        let mut assets = self
            .tenants
            .enabled_assets(id, environment)
            .await
            .map_err(Error::from_store(ResourceKind::Tenant))?;
        let changed = if enabled {
            assets.enable(asset)
        } else {
            assets.disable(asset)
        };
        if changed {
            self.tenants
                .set_enabled_assets(id, environment, &assets)
                .await?;
        }
        Ok(assets)
    }

    /// Mints a key. An empty `scopes` set mints a key with every scope its mode may hold (see
    /// [`NewKey::scopes`]): every scope for HMAC and Ed25519 keys, every scope but the
    /// money-moving ones ([`Scope::SIGNED_ONLY`]) for bearer keys.
    ///
    /// # Errors
    /// `NotFound` tenant; `InvalidField(scopes, scope_requires_signed_key)` when a bearer key
    /// asks for a scope of [`Scope::SIGNED_ONLY`]; `InvalidField(public_key)` when an ed25519
    /// key lacks a valid public key or another mode has one; `Conflict(public_key_in_use)` when
    /// the public key is registered on a key of another tenant or environment; store errors.
    pub async fn mint_key(&self, mut new: NewKey) -> Result<MintedKey, Error> {
        // The rule lives here, not in `build_key`: a rotation copies the old key's scopes
        // exactly and must never widen them.
        if new.scopes.is_empty() {
            new.scopes = match new.mode {
                KeyMode::Bearer => ScopeSet::bearer_default(),
                KeyMode::Hmac | KeyMode::Ed25519 => ScopeSet::all(),
            };
        }
        let (minted, secret) = self
            .build_key(ApiKeyId::from_ulid(self.ids.ulid()), new)
            .await?;
        self.keys
            .insert(&minted.record, secret)
            .await
            .map_err(|e| match e {
                StoreError::Conflict { constraint } if constraint == ED25519_BINDING => {
                    Error::Conflict {
                        code: "public_key_in_use",
                        message: "this Ed25519 public key is registered on a key of another \
                                  environment or tenant: a signature made for one must never \
                                  authenticate the other, so register a separate key pair \
                                  per environment"
                            .to_owned(),
                    }
                }
                e => e.into(),
            })?;
        Ok(minted)
    }

    /// Rotates a key: mints a successor with the same tenant, environment, mode, scopes, IP
    /// allow-list and public key, and lets the old key work for `grace` (at most 7 days). The
    /// old key's new state and its successor are saved atomically
    /// ([`insert_rotation`](crate::ports::ApiKeyStore::insert_rotation)): both or neither.
    ///
    /// # Errors
    /// `NotFound`; `Refused(key_not_rotatable)` for a revoked, expired or already rotated key or
    /// an invalid grace; store errors.
    pub async fn rotate_key(&self, id: ApiKeyId, grace: Duration) -> Result<MintedKey, Error> {
        let stored = self
            .keys
            .get(id)
            .await
            .map_err(Error::from_store(ResourceKind::ApiKey))?;
        let mut old = stored.key;
        let successor_id = ApiKeyId::from_ulid(self.ids.ulid());
        // Check the rotation is legal before minting anything (`old` is only saved below).
        old.rotate(self.clock.now(), grace, successor_id)
            .map_err(|e| Error::Refused {
                code: "key_not_rotatable",
                message: e.to_string(),
            })?;
        let (minted, secret) = self
            .build_key(
                successor_id,
                NewKey {
                    tenant_id: old.tenant_id,
                    environment: old.environment,
                    mode: old.mode,
                    // A bearer key minted before signed-only scopes existed loses them here:
                    // narrowing, never widening.
                    scopes: if old.mode == KeyMode::Bearer {
                        old.scopes.without_signed_only()
                    } else {
                        old.scopes.clone()
                    },
                    allowed_ips: old.allowed_ips.clone(),
                    ed25519_public_key: old.ed25519_public_key.clone(),
                },
            )
            .await?;
        // One store transaction: a crash cannot leave a successor the old key does not point
        // to, nor an old key expiring with no successor saved.
        self.keys
            .insert_rotation(&old, &minted.record, secret)
            .await?;
        Ok(minted)
    }

    /// Checks `new` and builds the key `id` with fresh secrets, storing nothing: the part of
    /// minting shared by [`mint_key`](AdminService::mint_key) and
    /// [`rotate_key`](AdminService::rotate_key), which save it differently. Returns the minted
    /// key and the HMAC secret to store (hmac keys only).
    async fn build_key(
        &self,
        id: ApiKeyId,
        new: NewKey,
    ) -> Result<(MintedKey, Option<Secret>), Error> {
        self.tenants
            .get(new.tenant_id)
            .await
            .map_err(Error::from_store(ResourceKind::Tenant))?;
        match (new.mode, &new.ed25519_public_key) {
            (KeyMode::Ed25519, Some(pem)) => {
                Ed25519PublicKey::from_pem(pem)
                    .map_err(|e| Error::field("public_key", "invalid_public_key", e))?;
            }
            (KeyMode::Ed25519, None) => {
                return Err(Error::field(
                    "public_key",
                    "public_key_required",
                    "ed25519 keys need the partner's public key (PEM)",
                ))
            }
            (_, Some(_)) => {
                return Err(Error::field(
                    "public_key",
                    "public_key_unexpected",
                    "only ed25519 keys take a public key",
                ))
            }
            (_, None) => {}
        }
        if new.mode == KeyMode::Bearer {
            let signed_only: Vec<&str> = new
                .scopes
                .iter()
                .filter(|s| s.requires_signed_key())
                .map(Scope::as_str)
                .collect();
            if !signed_only.is_empty() {
                return Err(Error::field(
                    "scopes",
                    "scope_requires_signed_key",
                    format!(
                        "a bearer key cannot hold {}: these scopes move money or change where \
                         it may go, so only signed keys (mode hmac or ed25519) may hold them, \
                         and a leaked bearer string must never be enough to move money",
                        signed_only.join(", ")
                    ),
                ));
            }
        }
        let key = format_key(new.environment, &self.ids.secret_bytes());
        let hmac_secret =
            (new.mode == KeyMode::Hmac).then(|| generate_hmac_secret(&self.ids.secret_bytes()));
        let record = ApiKey {
            id,
            tenant_id: new.tenant_id,
            environment: new.environment,
            mode: new.mode,
            scopes: new.scopes,
            allowed_ips: new.allowed_ips,
            key_hash: hash_key(&key),
            key_hint: key_hint(&key),
            ed25519_public_key: new.ed25519_public_key,
            created_at: self.clock.now(),
            expires_at: None,
            revoked_at: None,
            replaced_by: None,
        };
        let stored_secret = hmac_secret.as_ref().map(|s| Secret::new(s.as_bytes()));
        Ok((
            MintedKey {
                record,
                key,
                hmac_secret,
            },
            stored_secret,
        ))
    }

    /// Revokes a key at once.
    ///
    /// # Errors
    /// `NotFound`; `Refused(key_already_revoked)`.
    pub async fn revoke_key(&self, id: ApiKeyId) -> Result<ApiKey, Error> {
        let mut key = self
            .keys
            .get(id)
            .await
            .map_err(Error::from_store(ResourceKind::ApiKey))?
            .key;
        key.revoke(self.clock.now()).map_err(|e| Error::Refused {
            code: "key_already_revoked",
            message: e.to_string(),
        })?;
        self.keys.update(&key).await?;
        Ok(key)
    }
}

#[cfg(test)]
mod tests;
