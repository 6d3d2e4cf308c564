//! Issue 16 (auth): the replay cache of signed requests, the binding of Ed25519 public keys to
//! one tenant and environment, and the master key's check value — all in the store, so
//! instances sharing a database agree.

use custody_core::api_key::KeyMode;
use custody_core::environment::Environment;
use custody_core::ports::{
    MasterKeyCheck, SignatureSeen, SignatureUse, StoreError, ED25519_BINDING,
};
use time::Duration;

use crate::fixtures::*;
use crate::StoreHandles;

fn used(key: u64, digest: u8, idempotency_key: Option<&str>, now: i64) -> SignatureUse {
    SignatureUse {
        key_id: api_key_id(key),
        digest: [digest; 32],
        idempotency_key: idempotency_key.map(str::to_owned),
        now: at(now),
        expires_at: at(now) + Duration::seconds(31),
    }
}

/// The first use of a signature is recorded; a second use reports the first's
/// `Idempotency-Key`; another key's or another digest's use is a first use; a row expired at
/// the time of use is replaced; the purge deletes expired rows only.
pub async fn request_signatures_record_replay_purge(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let first = used(1, 7, Some("idem-1"), 0);
    assert_eq!(
        keys.record_signature(&first).await.expect("record"),
        SignatureSeen::First
    );
    // Again, with whatever key: the first use's key comes back.
    for again in [
        used(1, 7, Some("idem-2"), 1),
        used(1, 7, None, 1),
        used(1, 7, Some("idem-1"), 1),
    ] {
        assert_eq!(
            keys.record_signature(&again).await.expect("record again"),
            SignatureSeen::Again {
                idempotency_key: Some("idem-1".to_owned())
            }
        );
    }
    // Another key, another digest: first uses.
    assert_eq!(
        keys.record_signature(&used(2, 7, None, 1)).await.unwrap(),
        SignatureSeen::First
    );
    assert_eq!(
        keys.record_signature(&used(1, 8, None, 1)).await.unwrap(),
        SignatureSeen::First
    );
    assert_eq!(
        keys.record_signature(&used(2, 7, Some("x"), 2))
            .await
            .unwrap(),
        SignatureSeen::Again {
            idempotency_key: None
        }
    );
    // Past its expiry the row counts as absent (replaced), even before a purge.
    assert_eq!(
        keys.record_signature(&used(1, 7, Some("idem-3"), 40))
            .await
            .unwrap(),
        SignatureSeen::First
    );
    // The purge: at 35 s the rows of t=1 (expiring at 32 s) go, the renewed one stays.
    assert_eq!(keys.purge_signatures(at(35)).await.expect("purge"), 2);
    assert_eq!(
        keys.record_signature(&used(1, 7, None, 41)).await.unwrap(),
        SignatureSeen::Again {
            idempotency_key: Some("idem-3".to_owned())
        }
    );
    assert_eq!(keys.purge_signatures(at(35)).await.unwrap(), 0);
    assert_eq!(keys.purge_signatures(at(100)).await.unwrap(), 1);
}

/// Two concurrent first uses of one signature: exactly one is first.
pub async fn request_signatures_concurrent_uses(stores: StoreHandles) {
    let keys = stores.shared.api_keys.clone();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let keys = keys.clone();
            tokio::spawn(async move {
                keys.record_signature(&used(1, 9, Some(&format!("k{i}")), 0))
                    .await
                    .expect("record")
            })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        if task.await.expect("task") == SignatureSeen::First {
            firsts += 1;
        }
    }
    assert_eq!(firsts, 1, "one first use among concurrent ones");
}

fn is_binding_conflict(result: Result<(), StoreError>) -> bool {
    matches!(result, Err(StoreError::Conflict { constraint }) if constraint == ED25519_BINDING)
}

/// One Ed25519 public key belongs to one tenant and environment: another key of the same
/// tenant and environment (and a rotation's successor) may carry it, a key of another
/// environment or tenant may not, and a refused insert leaves nothing behind.
pub async fn api_keys_ed25519_public_key_binding(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let first = api_key(a, 10, Environment::Sandbox, KeyMode::Ed25519);
    keys.insert(&first, None).await.expect("first registration");
    let same_place = api_key(a, 11, Environment::Sandbox, KeyMode::Ed25519);
    keys.insert(&same_place, None)
        .await
        .expect("same tenant and environment");
    // The same public key, spelled with CRLF line ends: still the same key.
    let mut live = api_key(a, 12, Environment::Live, KeyMode::Ed25519);
    live.ed25519_public_key = live.ed25519_public_key.map(|p| p.replace('\n', "\r\n"));
    assert!(is_binding_conflict(keys.insert(&live, None).await));
    let other_tenant = api_key(b, 13, Environment::Sandbox, KeyMode::Ed25519);
    assert!(is_binding_conflict(keys.insert(&other_tenant, None).await));
    assert!(matches!(keys.get(live.id).await, Err(StoreError::NotFound)));
    assert!(matches!(
        keys.get(other_tenant.id).await,
        Err(StoreError::NotFound)
    ));
    // Authentication asks whether a key's public key is bound to its own place: a key from
    // before the binding that shares another place's public key is not.
    assert!(keys.ed25519_binding_holds(&first).await.expect("holds"));
    assert!(!keys.ed25519_binding_holds(&live).await.expect("holds"));
    assert!(!keys
        .ed25519_binding_holds(&other_tenant)
        .await
        .expect("holds"));
    // A rotation's successor carries the key in its own place.
    let mut rotated = first.clone();
    rotated.expires_at = Some(at(100));
    rotated.replaced_by = Some(api_key_id(14));
    let successor = api_key(a, 14, Environment::Sandbox, KeyMode::Ed25519);
    keys.insert_rotation(&rotated, &successor, None)
        .await
        .expect("rotation");
}

/// Two concurrent registrations of one public key in two environments: exactly one wins.
pub async fn api_keys_ed25519_concurrent_bindings(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let keys = stores.shared.api_keys.clone();
    let sandbox = api_key(a, 10, Environment::Sandbox, KeyMode::Ed25519);
    let live = api_key(a, 11, Environment::Live, KeyMode::Ed25519);
    let (k1, k2) = (keys.clone(), keys.clone());
    let (r1, r2) = tokio::join!(
        tokio::spawn(async move { k1.insert(&sandbox, None).await }),
        tokio::spawn(async move { k2.insert(&live, None).await }),
    );
    let results = [r1.expect("task"), r2.expect("task")];
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    let failed = results
        .into_iter()
        .find(Result::is_err)
        .expect("one failed");
    assert!(is_binding_conflict(failed));
}

/// The master key's check value: recorded on first use, matching afterwards.
pub async fn master_key_check_recorded_then_matches(stores: StoreHandles) {
    let keys = &stores.shared.api_keys;
    assert_eq!(
        keys.check_master_key(at(0)).await.expect("check"),
        MasterKeyCheck::Recorded
    );
    assert_eq!(
        keys.check_master_key(at(1)).await.expect("check again"),
        MasterKeyCheck::Matches
    );
}
