//! The authentication cache: a bounded, short-lived, in-process memory of the keys (with their
//! tenants) that authenticated requests found, so a busy key does not read the store on every
//! request.
//!
//! It is a decorator of the key and tenant stores, applied at the composition root
//! ([`CustodyBuilder::auth_cache`](crate::CustodyBuilder::auth_cache)); core does not know it
//! exists. What it caches, and what it never does:
//!
//! - only [`ApiKeyStore::find_with_tenant`]'s **found** records (the key, revoked and expired
//!   ones included, and its tenant), for at most the TTL; core still judges every request
//!   against the record (expiry at the request's time, the IP allow-list, the signature, the
//!   single-use record of a signed request, which stays in the database);
//! - never an unknown key (`NotFound`) nor a failure: random keys sprayed by an attacker cost a
//!   read each and take no memory;
//! - at most `max_entries` records: when full, expired records are dropped, and if it is still
//!   full the new record is simply not cached;
//! - nothing past its TTL: an expired record is dropped when it is next looked up, by a sweep
//!   of the whole cache at most once per TTL on the request path, and, on a cache made by
//!   [`AuthCache::new`], by a background sweep every TTL (at least every 250 ms apart) that
//!   also runs while no request comes. A dropped record's HMAC secret is wiped from memory
//!   ([`Secret`] zeroizes on drop).
//!
//! **Eviction.** A write through this process's handles (a key revoked, rotated; a tenant
//! approved or suspended) empties the cache when it returns, and a read that began before such
//! a write is not cached after it (a generation count). A change made by another process (the
//! `custody admin` CLI while `custody serve` runs, another instance) is seen once the record's
//! TTL has passed: that bound is the security trade-off of a TTL above zero
//! (docs/operations.md, `[auth]`).

use std::collections::HashMap;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use custody_core::api_key::{ApiKey, KeyHash};
use custody_core::asset::EnabledAssets;
use custody_core::environment::Environment;
use custody_core::id::{ApiKeyId, TenantId};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{
    ApiKeyStore, DynApiKeyStore, DynTenantStore, KeyLookup, KeyWithTenant, MasterKeyCheck,
    SharedStores, SignatureSeen, SignatureUse, StoreError, StoredApiKey, TenantStore,
};
use custody_core::secret::Secret;
use custody_core::tenant::{Tenant, TenantPolicy};
use time::OffsetDateTime;

/// How long a found key is remembered, and how many at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthCacheSettings {
    /// How long a record is served from memory (zero: no cache).
    pub ttl: Duration,
    /// The most records held at once (zero: no cache).
    pub max_entries: usize,
}

impl AuthCacheSettings {
    /// No cache: every request reads its key from the store.
    pub const DISABLED: AuthCacheSettings = AuthCacheSettings {
        ttl: Duration::ZERO,
        max_entries: 0,
    };

    /// Whether anything is cached.
    pub const fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max_entries > 0
    }
}

/// A monotonic time source (tests hand a manual one).
pub type MonotonicNow = Arc<dyn Fn() -> Instant + Send + Sync>;

struct Entries {
    records: HashMap<KeyLookup, (Instant, KeyWithTenant)>,
    /// Bumped by every eviction: a record read before it is not cached after it.
    generation: u64,
    /// When the request path next sweeps out expired records.
    next_sweep: Option<Instant>,
}

/// The shortest pause of the background sweep, whatever the TTL.
const MIN_SWEEP_INTERVAL: Duration = Duration::from_millis(250);

/// The shared memory of the two decorators.
pub struct AuthCache {
    settings: AuthCacheSettings,
    now: MonotonicNow,
    entries: Mutex<Entries>,
    /// Held only to be dropped with the cache: the background sweep then stops at once.
    _stop_sweeping: Option<mpsc::Sender<()>>,
}

impl AuthCache {
    /// A cache on the process's monotonic clock, with a background sweep of expired records
    /// (a thread that ends when the cache is dropped).
    pub fn new(settings: AuthCacheSettings) -> Arc<AuthCache> {
        let (stop, stopped) = mpsc::channel();
        let cache = AuthCache::build(settings, Arc::new(Instant::now), Some(stop));
        let weak = Arc::downgrade(&cache);
        let interval = settings.ttl.max(MIN_SWEEP_INTERVAL);
        let spawned = std::thread::Builder::new()
            .name("custody-auth-cache-sweep".into())
            .spawn(move || AuthCache::sweep_until_dropped(&weak, &stopped, interval));
        if let Err(e) = spawned {
            // The request path still sweeps; only an idle process keeps expired records longer.
            tracing::warn!(error = %e, "the authentication cache's background sweep did not start");
        }
        cache
    }

    /// A cache on `now` (tests), swept on the request path only.
    pub fn with_time(settings: AuthCacheSettings, now: MonotonicNow) -> Arc<AuthCache> {
        AuthCache::build(settings, now, None)
    }

    fn build(
        settings: AuthCacheSettings,
        now: MonotonicNow,
        stop: Option<mpsc::Sender<()>>,
    ) -> Arc<AuthCache> {
        Arc::new(AuthCache {
            settings,
            now,
            entries: Mutex::new(Entries {
                records: HashMap::new(),
                generation: 0,
                next_sweep: None,
            }),
            _stop_sweeping: stop,
        })
    }

    /// The background sweep: every `interval` until the cache is gone (its sender dropped).
    fn sweep_until_dropped(
        cache: &Weak<AuthCache>,
        stopped: &mpsc::Receiver<()>,
        interval: Duration,
    ) {
        while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
            let Some(cache) = cache.upgrade() else { return };
            cache.sweep();
        }
    }

    /// Drops every expired record now (their secrets are wiped as they drop).
    pub fn sweep(&self) {
        let now = (self.now)();
        let mut entries = self.lock();
        AuthCache::drop_expired(&mut entries, now, self.settings.ttl);
    }

    fn drop_expired(entries: &mut Entries, now: Instant, ttl: Duration) {
        entries.records.retain(|_, (until, _)| now < *until);
        entries.next_sweep = Some(now + ttl);
    }

    /// The request path's sweep, at most once per TTL.
    fn sweep_if_due(&self, entries: &mut Entries, now: Instant) {
        if entries.next_sweep.is_none_or(|due| now >= due) {
            AuthCache::drop_expired(entries, now, self.settings.ttl);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the map half-written in a way that
        // matters (each operation is one insert, remove or clear): keep using it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The generation a read starts in.
    fn generation(&self) -> u64 {
        self.lock().generation
    }

    fn get(&self, lookup: &KeyLookup) -> Option<KeyWithTenant> {
        let now = (self.now)();
        let mut entries = self.lock();
        self.sweep_if_due(&mut entries, now);
        match entries.records.get(lookup) {
            Some((until, found)) if now < *until => Some(found.clone()),
            Some(_) => {
                entries.records.remove(lookup);
                None
            }
            None => None,
        }
    }

    /// Keeps `found` until `ttl` after `read_at`, the moment just before the store was asked
    /// (not after it answered: a slow read must not stretch the bound).
    fn put(&self, lookup: KeyLookup, found: &KeyWithTenant, read_in: u64, read_at: Instant) {
        let now = (self.now)();
        let mut entries = self.lock();
        if entries.generation != read_in {
            return;
        }
        self.sweep_if_due(&mut entries, now);
        if entries.records.len() >= self.settings.max_entries
            && !entries.records.contains_key(&lookup)
        {
            AuthCache::drop_expired(&mut entries, now, self.settings.ttl);
            if entries.records.len() >= self.settings.max_entries {
                return;
            }
        }
        entries
            .records
            .insert(lookup, (read_at + self.settings.ttl, found.clone()));
    }

    /// Forgets everything (after a write that may change what authentication decides).
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.records.clear();
        entries.generation += 1;
    }

    /// How many records are held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `shared` with its key and tenant stores behind one cache, or unchanged when `settings`
/// disable it.
pub fn cached(shared: SharedStores, settings: AuthCacheSettings) -> SharedStores {
    if !settings.enabled() {
        return shared;
    }
    let cache = AuthCache::new(settings);
    with_cache(shared, &cache)
}

/// `shared` with its key and tenant stores behind `cache`.
pub fn with_cache(shared: SharedStores, cache: &Arc<AuthCache>) -> SharedStores {
    SharedStores {
        api_keys: Arc::new(CachedApiKeys {
            inner: shared.api_keys,
            cache: cache.clone(),
        }),
        tenants: Arc::new(CachedTenants {
            inner: shared.tenants,
            cache: cache.clone(),
        }),
        ..shared
    }
}

/// The key store behind the cache: [`find_with_tenant`](ApiKeyStore::find_with_tenant) is
/// served from it; revocation and rotation empty it; everything else is forwarded.
pub struct CachedApiKeys {
    inner: DynApiKeyStore,
    cache: Arc<AuthCache>,
}

impl CachedApiKeys {
    /// `inner` behind `cache`.
    pub fn new(inner: DynApiKeyStore, cache: Arc<AuthCache>) -> CachedApiKeys {
        CachedApiKeys { inner, cache }
    }
}

#[async_trait]
impl ApiKeyStore for CachedApiKeys {
    async fn insert(&self, key: &ApiKey, hmac_secret: Option<Secret>) -> Result<(), StoreError> {
        // A new key is unknown to the cache (unknown keys are never cached): nothing to evict.
        self.inner.insert(key, hmac_secret).await
    }

    async fn find_by_hash(&self, hash: &KeyHash) -> Result<StoredApiKey, StoreError> {
        self.inner.find_by_hash(hash).await
    }

    async fn get(&self, id: ApiKeyId) -> Result<StoredApiKey, StoreError> {
        self.inner.get(id).await
    }

    async fn find_with_tenant(&self, lookup: &KeyLookup) -> Result<KeyWithTenant, StoreError> {
        if let Some(found) = self.cache.get(lookup) {
            return Ok(found);
        }
        let read_in = self.cache.generation();
        let read_at = (self.cache.now)();
        let found = self.inner.find_with_tenant(lookup).await?;
        self.cache.put(*lookup, &found, read_in, read_at);
        Ok(found)
    }

    /// Served as [`find_with_tenant`](ApiKeyStore::find_with_tenant) (from the cache, or read
    /// and cached): a key found here is about to be authenticated, which reads the same record.
    async fn exists(&self, lookup: &KeyLookup) -> Result<bool, StoreError> {
        match self.find_with_tenant(lookup).await {
            Ok(_) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn insert_rotation(
        &self,
        rotated: &ApiKey,
        successor: &ApiKey,
        hmac_secret: Option<Secret>,
    ) -> Result<(), StoreError> {
        let result = self
            .inner
            .insert_rotation(rotated, successor, hmac_secret)
            .await;
        self.cache.clear();
        result
    }

    async fn update(&self, key: &ApiKey) -> Result<(), StoreError> {
        let result = self.inner.update(key).await;
        self.cache.clear();
        result
    }

    async fn record_signature(&self, used: &SignatureUse) -> Result<SignatureSeen, StoreError> {
        self.inner.record_signature(used).await
    }

    async fn ed25519_binding_holds(&self, key: &ApiKey) -> Result<bool, StoreError> {
        self.inner.ed25519_binding_holds(key).await
    }

    async fn check_master_key(&self, now: OffsetDateTime) -> Result<MasterKeyCheck, StoreError> {
        self.inner.check_master_key(now).await
    }

    async fn purge_signatures(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.inner.purge_signatures(now).await
    }

    async fn list_for_tenant(&self, tenant: TenantId) -> Result<Vec<ApiKey>, StoreError> {
        self.inner.list_for_tenant(tenant).await
    }
}

/// The tenant store beside the cache: a status change empties it; everything is forwarded.
pub struct CachedTenants {
    inner: DynTenantStore,
    cache: Arc<AuthCache>,
}

impl CachedTenants {
    /// `inner`, evicting `cache` on a status change.
    pub fn new(inner: DynTenantStore, cache: Arc<AuthCache>) -> CachedTenants {
        CachedTenants { inner, cache }
    }
}

#[async_trait]
impl TenantStore for CachedTenants {
    async fn insert(
        &self,
        tenant: &Tenant,
        sandbox: &EnabledAssets,
        live: &EnabledAssets,
    ) -> Result<(), StoreError> {
        self.inner.insert(tenant, sandbox, live).await
    }

    async fn get(&self, id: TenantId) -> Result<Tenant, StoreError> {
        self.inner.get(id).await
    }

    async fn update(&self, tenant: &Tenant) -> Result<(), StoreError> {
        let result = self.inner.update(tenant).await;
        self.cache.clear();
        result
    }

    async fn policy(&self, id: TenantId) -> Result<TenantPolicy, StoreError> {
        self.inner.policy(id).await
    }

    async fn set_address_book_cooling_off(
        &self,
        id: TenantId,
        cooling_off: Option<time::Duration>,
    ) -> Result<(), StoreError> {
        self.inner
            .set_address_book_cooling_off(id, cooling_off)
            .await
    }

    async fn list(&self, page: PageRequest) -> Result<Page<Tenant>, StoreError> {
        self.inner.list(page).await
    }

    async fn enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
    ) -> Result<EnabledAssets, StoreError> {
        self.inner.enabled_assets(id, env).await
    }

    async fn set_enabled_assets(
        &self,
        id: TenantId,
        env: Environment,
        assets: &EnabledAssets,
    ) -> Result<(), StoreError> {
        self.inner.set_enabled_assets(id, env, assets).await
    }
}

#[cfg(test)]
mod tests;
