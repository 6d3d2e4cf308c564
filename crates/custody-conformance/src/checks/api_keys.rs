//! API keys (shared by both environments): insert with and without an HMAC secret, lookups,
//! revocation, listing, atomic rotation, uniqueness.

use custody_core::api_key::{hash_key, ApiKey, KeyMode};
use custody_core::environment::Environment;
use custody_core::ports::{KeyLookup, StoredApiKey};
use custody_core::secret::Secret;
use custody_core::tenant::TenantStatus;
use time::Duration;

use crate::fixtures::*;
use crate::StoreHandles;

fn secret(n: u8) -> Secret {
    // Not UTF-8, with a zero byte: the secret is bytes.
    Secret::new(vec![n, 0, 0xff, 0x80, b'k', b'e', b'y', n])
}

/// Keys of every mode round-trip; the HMAC secret comes back decrypted and equal; lookups by
/// hash and id; unknown hash or id is `NotFound`.
pub async fn api_keys_insert_find_get(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let t = seed_tenant(&stores, 1).await;
    let bearer = api_key(t, 10, Environment::Live, KeyMode::Bearer);
    let hmac = api_key(t, 11, Environment::Sandbox, KeyMode::Hmac);
    let ed = api_key(t, 12, Environment::Live, KeyMode::Ed25519);
    keys.insert(&bearer, None).await.expect("insert bearer key");
    keys.insert(&hmac, Some(secret(7)))
        .await
        .expect("insert hmac key");
    keys.insert(&ed, None).await.expect("insert ed25519 key");
    // No scope and no IP restriction: empty sets round-trip as empty, not as "everything".
    let mut bare = api_key(t, 13, Environment::Sandbox, KeyMode::Bearer);
    bare.scopes = custody_core::api_key::ScopeSet::empty();
    bare.allowed_ips = custody_core::api_key::IpAllowList::allow_all();
    keys.insert(&bare, None).await.expect("insert bare key");

    for (key, secret) in [
        (&bearer, None),
        (&hmac, Some(secret(7))),
        (&ed, None),
        (&bare, None),
    ] {
        let expected = StoredApiKey {
            key: key.clone(),
            hmac_secret: secret,
        };
        assert_eq!(
            keys.find_by_hash(&key.key_hash)
                .await
                .expect("find_by_hash"),
            expected,
            "find_by_hash {}",
            key.id
        );
        assert_eq!(
            keys.get(key.id).await.expect("get"),
            expected,
            "get {}",
            key.id
        );
    }
    let stored = keys.get(hmac.id).await.expect("get");
    assert_eq!(
        stored.hmac_secret.as_ref().map(Secret::expose),
        Some(secret(7).expose()),
        "the HMAC secret is handed back as the plaintext bytes"
    );

    assert_not_found(
        keys.find_by_hash(&hash_key("sk_live_unknown")).await,
        "find_by_hash of an unknown key",
    );
    assert_not_found(keys.get(api_key_id(99)).await, "get of an unknown key");
}

/// `find_with_tenant` reads a key, by hash or by id, with its tenant in one round trip: the
/// key as `find_by_hash`/`get` return it (the HMAC secret opened), the tenant as `get` returns
/// it, its status after an update included; a revoked key is still found; unknown is
/// `NotFound`.
pub async fn api_keys_find_with_tenant(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let tenants = &stores.shared.tenants;
    let t = seed_tenant(&stores, 1).await;
    let other = seed_tenant(&stores, 2).await;
    let bearer = api_key(t, 10, Environment::Live, KeyMode::Bearer);
    let hmac = api_key(other, 11, Environment::Sandbox, KeyMode::Hmac);
    keys.insert(&bearer, None).await.expect("insert bearer key");
    keys.insert(&hmac, Some(secret(3)))
        .await
        .expect("insert hmac key");

    for key in [&bearer, &hmac] {
        let stored = keys.get(key.id).await.expect("get");
        let tenant = tenants.get(key.tenant_id).await.expect("tenant");
        for lookup in [KeyLookup::Hash(key.key_hash), KeyLookup::Id(key.id)] {
            let found = keys
                .find_with_tenant(&lookup)
                .await
                .expect("find_with_tenant");
            assert_eq!(found.stored, stored, "{lookup:?}: the key");
            assert_eq!(found.tenant, tenant, "{lookup:?}: its own tenant");
        }
    }
    let found = keys
        .find_with_tenant(&KeyLookup::Id(hmac.id))
        .await
        .expect("find hmac");
    assert_eq!(
        found.stored.hmac_secret.as_ref().map(Secret::expose),
        Some(secret(3).expose()),
        "the HMAC secret is opened"
    );

    // The tenant's status as it is now, and a revoked key is still found.
    let mut suspended = tenants.get(t).await.expect("tenant");
    suspended.status = TenantStatus::Suspended;
    tenants.update(&suspended).await.expect("suspend");
    let mut revoked = bearer.clone();
    revoked.revoked_at = Some(revoked.created_at + Duration::hours(1));
    keys.update(&revoked).await.expect("revoke");
    let found = keys
        .find_with_tenant(&KeyLookup::Hash(bearer.key_hash))
        .await
        .expect("a revoked key is found");
    assert_eq!(found.stored.key, revoked);
    assert_eq!(found.tenant.status, TenantStatus::Suspended);

    assert_not_found(
        keys.find_with_tenant(&KeyLookup::Hash(hash_key("sk_live_unknown")))
            .await,
        "find_with_tenant of an unknown hash",
    );
    assert_not_found(
        keys.find_with_tenant(&KeyLookup::Id(api_key_id(99))).await,
        "find_with_tenant of an unknown id",
    );
}

/// `exists` answers whether a key matches, by hash or by id, revoked and expired keys
/// included, without reading the record: `false` for an unknown hash or id, and for a key's id
/// presented as a hash.
pub async fn api_keys_exists(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let t = seed_tenant(&stores, 1).await;
    let bearer = api_key(t, 10, Environment::Live, KeyMode::Bearer);
    let hmac = api_key(t, 11, Environment::Sandbox, KeyMode::Hmac);
    let mut expired = api_key(t, 12, Environment::Sandbox, KeyMode::Bearer);
    expired.expires_at = Some(at(-5));
    keys.insert(&bearer, None).await.expect("insert bearer key");
    keys.insert(&hmac, Some(secret(4)))
        .await
        .expect("insert hmac key");
    keys.insert(&expired, None)
        .await
        .expect("insert expired key");
    let mut revoked = bearer.clone();
    revoked.revoked_at = Some(revoked.created_at + Duration::hours(1));
    keys.update(&revoked).await.expect("revoke");

    for key in [&bearer, &hmac, &expired] {
        for lookup in [KeyLookup::Hash(key.key_hash), KeyLookup::Id(key.id)] {
            assert!(
                keys.exists(&lookup).await.expect("exists"),
                "{lookup:?} exists"
            );
        }
    }
    for unknown in [
        KeyLookup::Hash(hash_key("sk_live_unknown")),
        KeyLookup::Id(api_key_id(99)),
        KeyLookup::Hash(hash_key(&bearer.id.to_string())),
    ] {
        assert!(
            !keys.exists(&unknown).await.expect("exists"),
            "{unknown:?} is unknown"
        );
    }
}

/// Revocation is saved by `update`; an unknown key is `NotFound`; revoked and expired keys are
/// still found (deciding is core's job).
pub async fn api_keys_update_revocation(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let t = seed_tenant(&stores, 1).await;
    let key = api_key(t, 10, Environment::Sandbox, KeyMode::Hmac);
    keys.insert(&key, Some(secret(1))).await.expect("insert");
    // An expired key (a rotated one past its grace) is still found.
    let mut other = api_key(t, 11, Environment::Sandbox, KeyMode::Bearer);
    other.expires_at = Some(at(-5));
    keys.insert(&other, None).await.expect("insert");
    assert_eq!(
        keys.find_by_hash(&other.key_hash)
            .await
            .expect("find expired")
            .key,
        other
    );

    let mut revoked = key.clone();
    revoked.revoke(at(500)).expect("revoke");
    keys.update(&revoked).await.expect("update");
    let stored = keys
        .find_by_hash(&key.key_hash)
        .await
        .expect("find revoked");
    assert_eq!(stored.key, revoked);
    assert_eq!(stored.key.revoked_at, Some(at(500)));
    assert_eq!(
        stored.hmac_secret,
        Some(secret(1)),
        "update keeps the HMAC secret"
    );
    assert_eq!(keys.get(other.id).await.expect("get").key, other);

    // Revoking the expired key too.
    let mut revoked_other = other.clone();
    revoked_other.revoke(at(600)).expect("revoke");
    keys.update(&revoked_other).await.expect("update");
    assert_eq!(keys.get(other.id).await.expect("get").key, revoked_other);
    assert_eq!(keys.get(key.id).await.expect("get").key, revoked);

    let unknown = api_key(t, 99, Environment::Sandbox, KeyMode::Bearer);
    assert_not_found(keys.update(&unknown).await, "update of an unknown key");
    assert_not_found(keys.get(unknown.id).await, "update must not insert");
}

/// `list_for_tenant`: the tenant's keys of both environments, newest last, nobody else's.
pub async fn api_keys_list_for_tenant(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    // Inserted out of order.
    let k13 = api_key(a, 13, Environment::Live, KeyMode::Bearer);
    let k11 = api_key(a, 11, Environment::Sandbox, KeyMode::Hmac);
    let k12 = api_key(b, 12, Environment::Sandbox, KeyMode::Bearer);
    let k14 = api_key(a, 14, Environment::Sandbox, KeyMode::Ed25519);
    keys.insert(&k13, None).await.expect("insert");
    keys.insert(&k11, Some(secret(3))).await.expect("insert");
    keys.insert(&k12, None).await.expect("insert");
    keys.insert(&k14, None).await.expect("insert");

    assert_eq!(
        keys.list_for_tenant(a).await.expect("list"),
        vec![k11, k13, k14],
        "tenant a's keys, oldest first"
    );
    assert_eq!(keys.list_for_tenant(b).await.expect("list"), vec![k12]);
    assert_eq!(
        keys.list_for_tenant(tenant_id(9)).await.expect("list"),
        Vec::<ApiKey>::new()
    );
}

/// `insert_rotation` saves the rotated key's new state and inserts the successor with its
/// secret.
pub async fn api_keys_rotation_writes_both(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let t = seed_tenant(&stores, 1).await;
    let old = api_key(t, 10, Environment::Live, KeyMode::Hmac);
    keys.insert(&old, Some(secret(1))).await.expect("insert");

    let successor = api_key(t, 11, Environment::Live, KeyMode::Hmac);
    let mut rotated = old.clone();
    rotated
        .rotate(at(100), Duration::hours(24), successor.id)
        .expect("rotate");
    keys.insert_rotation(&rotated, &successor, Some(secret(2)))
        .await
        .expect("insert_rotation");

    let stored_old = keys.get(old.id).await.expect("get rotated");
    assert_eq!(stored_old.key, rotated);
    assert_eq!(stored_old.key.replaced_by, Some(successor.id));
    assert_eq!(stored_old.key.expires_at, Some(at(100 + 24 * 3600)));
    assert_eq!(stored_old.hmac_secret, Some(secret(1)));
    let stored_new = keys
        .find_by_hash(&successor.key_hash)
        .await
        .expect("find successor");
    assert_eq!(
        stored_new,
        StoredApiKey {
            key: successor.clone(),
            hmac_secret: Some(secret(2)),
        }
    );
    assert_eq!(
        keys.list_for_tenant(t).await.expect("list"),
        vec![rotated, successor]
    );
}

/// `insert_rotation` is atomic: a successor whose hash or id exists is a `Conflict` and the
/// rotated key is left exactly as it was; a missing rotated key is `NotFound` and no successor
/// is written.
pub async fn api_keys_rotation_is_atomic(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let t = seed_tenant(&stores, 1).await;
    let old = api_key(t, 10, Environment::Live, KeyMode::Bearer);
    let bystander = api_key(t, 20, Environment::Live, KeyMode::Bearer);
    keys.insert(&old, None).await.expect("insert");
    keys.insert(&bystander, None).await.expect("insert");

    // The successor's hash collides with an existing key.
    let mut colliding = api_key(t, 11, Environment::Live, KeyMode::Bearer);
    colliding.key_hash = bystander.key_hash;
    let mut rotated = old.clone();
    rotated
        .rotate(at(100), Duration::hours(1), colliding.id)
        .expect("rotate");
    assert_conflict(
        keys.insert_rotation(&rotated, &colliding, None).await,
        "api_keys_key_hash_key",
        "rotation to a successor with an existing hash",
    );
    assert_eq!(
        keys.get(old.id).await.expect("get").key,
        old,
        "a failed rotation leaves the rotated key unchanged"
    );
    assert_not_found(
        keys.get(colliding.id).await,
        "no successor after a failed rotation",
    );

    // The successor's id collides with an existing key.
    let mut same_id = api_key(t, 12, Environment::Live, KeyMode::Bearer);
    same_id.id = bystander.id;
    let mut rotated = old.clone();
    rotated
        .rotate(at(100), Duration::hours(1), same_id.id)
        .expect("rotate");
    assert_any_conflict(
        keys.insert_rotation(&rotated, &same_id, None).await,
        "rotation to a successor with an existing id",
    );
    assert_eq!(keys.get(old.id).await.expect("get").key, old);
    assert_eq!(keys.get(bystander.id).await.expect("get").key, bystander);
    assert_not_found(
        keys.find_by_hash(&same_id.key_hash).await,
        "no successor after a failed rotation",
    );

    // The rotated key does not exist.
    let ghost = api_key(t, 30, Environment::Live, KeyMode::Bearer);
    let successor = api_key(t, 31, Environment::Live, KeyMode::Hmac);
    let mut rotated_ghost = ghost.clone();
    rotated_ghost
        .rotate(at(100), Duration::hours(1), successor.id)
        .expect("rotate");
    assert_not_found(
        keys.insert_rotation(&rotated_ghost, &successor, Some(secret(9)))
            .await,
        "rotation of an unknown key",
    );
    assert_not_found(
        keys.get(successor.id).await,
        "no successor of an unknown key",
    );
    assert_not_found(
        keys.find_by_hash(&successor.key_hash).await,
        "no successor of an unknown key",
    );
    assert_eq!(
        keys.list_for_tenant(t).await.expect("list"),
        vec![old, bystander]
    );
}

/// `insert`: a duplicate hash or id is a `Conflict` (`api_keys_key_hash_key` for the hash); a
/// key of an unknown tenant is `NotFound`.
pub async fn api_keys_conflicts_and_unknown_tenant(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let t = seed_tenant(&stores, 1).await;
    let key = api_key(t, 10, Environment::Live, KeyMode::Bearer);
    keys.insert(&key, None).await.expect("insert");

    let mut same_hash = api_key(t, 11, Environment::Sandbox, KeyMode::Bearer);
    same_hash.key_hash = key.key_hash;
    assert_conflict(
        keys.insert(&same_hash, None).await,
        "api_keys_key_hash_key",
        "key with an existing hash",
    );
    assert_not_found(keys.get(same_hash.id).await, "refused key is absent");

    let mut same_id = api_key(t, 12, Environment::Sandbox, KeyMode::Bearer);
    same_id.id = key.id;
    assert_any_conflict(keys.insert(&same_id, None).await, "key with an existing id");
    assert_eq!(keys.get(key.id).await.expect("get").key, key);

    let orphan = api_key(tenant_id(9), 13, Environment::Live, KeyMode::Hmac);
    assert_not_found(
        keys.insert(&orphan, Some(secret(1))).await,
        "key of an unknown tenant",
    );
    assert_not_found(keys.get(orphan.id).await, "refused key is absent");
    assert_eq!(keys.list_for_tenant(t).await.expect("list"), vec![key]);
}
