use std::sync::atomic::{AtomicU64, Ordering};

use custody_core::api_key::{hash_key, key_hint, IpAllowList, KeyMode, ScopeSet};
use custody_core::ports::{MockApiKeyStore, MockTenantStore};
use custody_core::tenant::TenantStatus;
use ulid::Ulid;

use super::*;

const KEY: &str = "sk_test_cached";

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

fn tenant_id() -> TenantId {
    TenantId::from_ulid(Ulid::from_parts(1, 1))
}

fn key_id() -> ApiKeyId {
    ApiKeyId::from_ulid(Ulid::from_parts(1, 2))
}

fn api_key() -> ApiKey {
    ApiKey {
        id: key_id(),
        tenant_id: tenant_id(),
        environment: Environment::Sandbox,
        mode: KeyMode::Bearer,
        scopes: ScopeSet::all(),
        allowed_ips: IpAllowList::allow_all(),
        key_hash: hash_key(KEY),
        key_hint: key_hint(KEY),
        ed25519_public_key: None,
        created_at: t0(),
        expires_at: None,
        revoked_at: None,
        replaced_by: None,
    }
}

fn tenant() -> Tenant {
    Tenant {
        id: tenant_id(),
        name: "Acme".into(),
        status: TenantStatus::Approved,
        created_at: t0(),
    }
}

fn found() -> KeyWithTenant {
    KeyWithTenant {
        stored: StoredApiKey {
            key: api_key(),
            hmac_secret: None,
        },
        tenant: tenant(),
    }
}

fn by_hash() -> KeyLookup {
    KeyLookup::Hash(hash_key(KEY))
}

/// A manual monotonic clock: milliseconds past a fixed instant.
fn manual_time() -> (MonotonicNow, Arc<AtomicU64>) {
    let base = Instant::now();
    let millis = Arc::new(AtomicU64::new(0));
    let read = millis.clone();
    let now: MonotonicNow =
        Arc::new(move || base + Duration::from_millis(read.load(Ordering::SeqCst)));
    (now, millis)
}

fn settings(ttl_ms: u64, max_entries: usize) -> AuthCacheSettings {
    AuthCacheSettings {
        ttl: Duration::from_millis(ttl_ms),
        max_entries,
    }
}

/// A key store answering `find_with_tenant` exactly `reads` times.
fn keys_read(reads: usize) -> MockApiKeyStore {
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .times(reads)
        .returning(|_| Ok(found()));
    keys
}

#[tokio::test]
async fn a_found_key_is_served_from_memory_until_its_ttl() {
    let (now, millis) = manual_time();
    let cache = AuthCache::with_time(settings(1_000, 10), now);
    // Two reads of the store: the first request, and the first after the TTL.
    let keys = CachedApiKeys::new(Arc::new(keys_read(2)), cache.clone());
    assert_eq!(keys.find_with_tenant(&by_hash()).await.unwrap(), found());
    millis.store(999, Ordering::SeqCst);
    assert_eq!(keys.find_with_tenant(&by_hash()).await.unwrap(), found());
    millis.store(1_000, Ordering::SeqCst);
    assert_eq!(keys.find_with_tenant(&by_hash()).await.unwrap(), found());
    assert_eq!(cache.len(), 1);
}

fn lookup_of(n: u64) -> KeyLookup {
    KeyLookup::Id(ApiKeyId::from_ulid(Ulid::from_parts(n, 9)))
}

/// Review follow-up: expired records (with their opened HMAC secrets) were kept until the cache
/// filled up. Now the request path drops every expired record at most one TTL after it expired,
/// whichever key is asked for.
#[tokio::test]
async fn expired_records_are_dropped_without_being_looked_up_again() {
    let (now, millis) = manual_time();
    let cache = AuthCache::with_time(settings(1_000, 10), now);
    let mut inner = MockApiKeyStore::new();
    inner.expect_find_with_tenant().returning(|_| Ok(found()));
    let keys = CachedApiKeys::new(Arc::new(inner), cache.clone());
    for n in 0..3 {
        keys.find_with_tenant(&lookup_of(n)).await.unwrap();
    }
    assert_eq!(cache.len(), 3);
    millis.store(1_000, Ordering::SeqCst);
    // Another key's request: the three expired records go, the new one stays.
    keys.find_with_tenant(&lookup_of(7)).await.unwrap();
    assert_eq!(cache.len(), 1);
    millis.store(2_500, Ordering::SeqCst);
    // A hit-free lookup of an unknown key (not cached) sweeps too.
    cache.get(&lookup_of(8));
    assert!(cache.is_empty());
}

#[test]
fn sweep_drops_only_expired_records() {
    let (now, millis) = manual_time();
    let cache = AuthCache::with_time(settings(1_000, 10), now);
    cache.put(lookup_of(1), &found(), cache.generation(), (cache.now)());
    millis.store(500, Ordering::SeqCst);
    cache.put(lookup_of(2), &found(), cache.generation(), (cache.now)());
    millis.store(1_000, Ordering::SeqCst);
    cache.sweep();
    assert_eq!(cache.len(), 1);
    assert!(cache.get(&lookup_of(2)).is_some());
    millis.store(1_500, Ordering::SeqCst);
    cache.sweep();
    assert!(cache.is_empty());
}

/// A cache made by `new` also sweeps while no request comes (an idle server keeps no expired
/// secrets). The loop only waits for the sweep; it asserts no duration.
#[test]
fn a_cache_made_by_new_sweeps_in_the_background() {
    let cache = AuthCache::new(settings(1, 10));
    cache.put(lookup_of(1), &found(), cache.generation(), (cache.now)());
    let give_up = Instant::now() + Duration::from_secs(30);
    while !cache.is_empty() && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(cache.is_empty(), "the background sweep dropped the record");
}

#[tokio::test]
async fn unknown_keys_and_failures_are_never_cached() {
    let (now, _) = manual_time();
    let cache = AuthCache::with_time(settings(60_000, 10), now);
    let mut inner = MockApiKeyStore::new();
    inner
        .expect_find_with_tenant()
        .times(3)
        .returning(|_| Err(StoreError::NotFound));
    inner
        .expect_find_with_tenant()
        .times(2)
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    let keys = CachedApiKeys::new(Arc::new(inner), cache.clone());
    for n in 0..3u8 {
        let random = KeyLookup::Hash(hash_key(&format!("sk_test_random{n}")));
        assert!(matches!(
            keys.find_with_tenant(&random).await,
            Err(StoreError::NotFound)
        ));
    }
    for _ in 0..2 {
        assert!(matches!(
            keys.find_with_tenant(&by_hash()).await,
            Err(StoreError::Unavailable(_))
        ));
    }
    assert!(cache.is_empty(), "nothing remembered");
}

#[tokio::test]
async fn the_cache_holds_at_most_its_cap() {
    let (now, millis) = manual_time();
    let cache = AuthCache::with_time(settings(1_000, 2), now);
    let mut inner = MockApiKeyStore::new();
    inner.expect_find_with_tenant().returning(|_| Ok(found()));
    let keys = CachedApiKeys::new(Arc::new(inner), cache.clone());
    for id in 0..5u64 {
        let lookup = KeyLookup::Id(ApiKeyId::from_ulid(Ulid::from_parts(id, 9)));
        keys.find_with_tenant(&lookup).await.unwrap();
    }
    assert_eq!(cache.len(), 2, "full: later keys are read, not remembered");
    // Once the held ones expire, room is made.
    millis.store(1_000, Ordering::SeqCst);
    keys.find_with_tenant(&by_hash()).await.unwrap();
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn an_in_process_revocation_rotation_or_tenant_change_evicts_at_once() {
    let (now, _) = manual_time();
    let cache = AuthCache::with_time(settings(60_000, 10), now);
    // One read per eviction plus the first.
    let mut inner = keys_read(4);
    inner.expect_update().times(1).returning(|_| Ok(()));
    inner
        .expect_insert_rotation()
        .times(1)
        .returning(|_, _, _| Err(StoreError::NotFound));
    let keys = CachedApiKeys::new(Arc::new(inner), cache.clone());
    let mut tenant_store = MockTenantStore::new();
    tenant_store.expect_update().times(1).returning(|_| Ok(()));
    let tenants = CachedTenants::new(Arc::new(tenant_store), cache.clone());

    keys.find_with_tenant(&by_hash()).await.unwrap();
    keys.find_with_tenant(&by_hash()).await.unwrap();
    keys.update(&api_key()).await.unwrap();
    assert!(cache.is_empty(), "revocation evicts");
    keys.find_with_tenant(&by_hash()).await.unwrap();
    // Even a failed rotation evicts: whatever it did is re-read.
    assert!(keys
        .insert_rotation(&api_key(), &api_key(), None)
        .await
        .is_err());
    assert!(cache.is_empty(), "rotation evicts");
    keys.find_with_tenant(&by_hash()).await.unwrap();
    tenants.update(&tenant()).await.unwrap();
    assert!(cache.is_empty(), "a tenant's status change evicts");
    keys.find_with_tenant(&by_hash()).await.unwrap();
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn a_read_that_began_before_an_eviction_is_not_cached_after_it() {
    let (now, _) = manual_time();
    let cache = AuthCache::with_time(settings(60_000, 10), now);
    let read_in = cache.generation();
    cache.clear();
    cache.put(by_hash(), &found(), read_in, (cache.now)());
    assert!(cache.is_empty());
    cache.put(by_hash(), &found(), cache.generation(), (cache.now)());
    assert_eq!(cache.len(), 1);
}

/// Review finding: the TTL counted from the store's answer, so a slow read stretched the
/// bound by its own duration. It counts from just before the read.
#[tokio::test]
async fn the_ttl_counts_from_before_the_read() {
    let (now, millis) = manual_time();
    let cache = AuthCache::with_time(settings(1_000, 10), now);
    let read_in = cache.generation();
    let read_at = (cache.now)();
    millis.store(600, Ordering::SeqCst); // the store took 600 ms to answer
    cache.put(by_hash(), &found(), read_in, read_at);
    assert!(
        cache.get(&by_hash()).is_some(),
        "fresh: 600 ms after the read"
    );
    millis.store(1_000, Ordering::SeqCst);
    assert!(
        cache.get(&by_hash()).is_none(),
        "expired one TTL after the read began, not after its answer"
    );
}

/// The edge's existence check goes through the cached read: a found key is remembered for the
/// authentication that follows; unknown keys and failures are not.
#[tokio::test]
async fn exists_is_answered_by_the_cached_read() {
    let (now, _) = manual_time();
    let cache = AuthCache::with_time(settings(60_000, 10), now);
    let unknown = KeyLookup::Hash(hash_key("sk_test_unknown"));
    let mut inner = MockApiKeyStore::new();
    inner.expect_exists().never();
    inner
        .expect_find_with_tenant()
        .withf(|l| *l == by_hash())
        .times(1)
        .returning(|_| Ok(found()));
    inner
        .expect_find_with_tenant()
        .withf(move |l| *l == unknown)
        .times(2)
        .returning(|_| Err(StoreError::NotFound));
    inner
        .expect_find_with_tenant()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    let keys = CachedApiKeys::new(Arc::new(inner), cache.clone());
    assert!(keys.exists(&by_hash()).await.unwrap());
    assert_eq!(cache.len(), 1);
    // Authentication then reads from memory (the mock allows one read).
    assert_eq!(keys.find_with_tenant(&by_hash()).await.unwrap(), found());
    for _ in 0..2 {
        assert!(!keys.exists(&unknown).await.unwrap());
    }
    let down = KeyLookup::Id(key_id());
    assert!(matches!(
        keys.exists(&down).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(cache.len(), 1);
}

#[test]
fn disabled_settings_leave_the_stores_undecorated() {
    assert!(!AuthCacheSettings::DISABLED.enabled());
    assert!(!settings(0, 10).enabled());
    assert!(!settings(1_000, 0).enabled());
    assert!(settings(1_000, 1).enabled());
}

/// Every method of both ports reaches the store exactly once through the decorators (the
/// metrics decorator once silently dropped four): a forward that is missing, or that answers
/// from somewhere else, fails its `times(1)`. (`exists` is answered by `find_with_tenant`: see
/// `exists_is_answered_by_the_cached_read`.)
#[tokio::test]
async fn every_port_method_is_forwarded() {
    let (now, _) = manual_time();
    let cache = AuthCache::with_time(settings(60_000, 10), now);
    let mut k = MockApiKeyStore::new();
    k.expect_insert().times(1).returning(|_, _| Ok(()));
    k.expect_find_by_hash()
        .withf(|h| *h == hash_key(KEY))
        .times(1)
        .returning(|_| Ok(found().stored));
    k.expect_get()
        .withf(|id| *id == key_id())
        .times(1)
        .returning(|_| Ok(found().stored));
    k.expect_find_with_tenant()
        .withf(|l| *l == by_hash())
        .times(1)
        .returning(|_| Ok(found()));
    k.expect_insert_rotation()
        .times(1)
        .returning(|_, _, _| Ok(()));
    k.expect_update().times(1).returning(|_| Ok(()));
    k.expect_record_signature()
        .times(1)
        .returning(|_| Ok(SignatureSeen::First));
    k.expect_ed25519_binding_holds()
        .times(1)
        .returning(|_| Ok(false));
    k.expect_check_master_key()
        .times(1)
        .returning(|_| Ok(MasterKeyCheck::Matches));
    k.expect_purge_signatures().times(1).returning(|_| Ok(7));
    k.expect_list_for_tenant()
        .withf(|t| *t == tenant_id())
        .times(1)
        .returning(|_| Ok(vec![api_key()]));
    let keys = CachedApiKeys::new(Arc::new(k), cache.clone());
    keys.insert(&api_key(), None).await.unwrap();
    assert_eq!(
        keys.find_by_hash(&hash_key(KEY)).await.unwrap(),
        found().stored
    );
    assert_eq!(keys.get(key_id()).await.unwrap(), found().stored);
    assert_eq!(keys.find_with_tenant(&by_hash()).await.unwrap(), found());
    keys.insert_rotation(&api_key(), &api_key(), None)
        .await
        .unwrap();
    keys.update(&api_key()).await.unwrap();
    let used = SignatureUse {
        key_id: key_id(),
        digest: [1; 32],
        idempotency_key: None,
        now: t0(),
        expires_at: t0(),
    };
    assert_eq!(
        keys.record_signature(&used).await.unwrap(),
        SignatureSeen::First
    );
    assert!(!keys.ed25519_binding_holds(&api_key()).await.unwrap());
    assert_eq!(
        keys.check_master_key(t0()).await.unwrap(),
        MasterKeyCheck::Matches
    );
    assert_eq!(keys.purge_signatures(t0()).await.unwrap(), 7);
    assert_eq!(
        keys.list_for_tenant(tenant_id()).await.unwrap(),
        vec![api_key()]
    );

    let mut t = MockTenantStore::new();
    t.expect_insert().times(1).returning(|_, _, _| Ok(()));
    t.expect_get()
        .withf(|id| *id == tenant_id())
        .times(1)
        .returning(|_| Ok(tenant()));
    t.expect_update().times(1).returning(|_| Ok(()));
    t.expect_policy().times(1).returning(|_| {
        Ok(TenantPolicy {
            status: TenantStatus::Approved,
            address_book_cooling_off: None,
        })
    });
    t.expect_set_address_book_cooling_off()
        .withf(|_, c| *c == Some(time::Duration::hours(1)))
        .times(1)
        .returning(|_, _| Ok(()));
    t.expect_list().times(1).returning(|_| {
        Ok(Page {
            items: vec![tenant()],
            has_more: false,
        })
    });
    t.expect_enabled_assets()
        .times(1)
        .returning(|_, _| Ok(EnabledAssets::all()));
    t.expect_set_enabled_assets()
        .times(1)
        .returning(|_, _, _| Ok(()));
    let tenants = CachedTenants::new(Arc::new(t), cache);
    let none = EnabledAssets::default();
    tenants.insert(&tenant(), &none, &none).await.unwrap();
    assert_eq!(tenants.get(tenant_id()).await.unwrap(), tenant());
    tenants.update(&tenant()).await.unwrap();
    assert_eq!(
        tenants.policy(tenant_id()).await.unwrap().status,
        TenantStatus::Approved
    );
    tenants
        .set_address_book_cooling_off(tenant_id(), Some(time::Duration::hours(1)))
        .await
        .unwrap();
    assert_eq!(
        tenants.list(PageRequest::default()).await.unwrap().items,
        vec![tenant()]
    );
    assert_eq!(
        tenants
            .enabled_assets(tenant_id(), Environment::Sandbox)
            .await
            .unwrap(),
        EnabledAssets::all()
    );
    tenants
        .set_enabled_assets(tenant_id(), Environment::Live, &none)
        .await
        .unwrap();
}
