use std::sync::{Arc, Mutex};

use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::SigningKey;

use super::*;
use crate::api_key::{Scope, MAX_ROTATION_GRACE};
use crate::ports::{MockApiKeyStore, MockTenantStore, StoreError, StoredApiKey};
use crate::services::test_support::*;
use crate::signing;

fn service(tenants: MockTenantStore, keys: MockApiKeyStore) -> AdminService {
    AdminService::new(Arc::new(tenants), Arc::new(keys), clock(), ids())
}

fn a_tenant(status: TenantStatus) -> Tenant {
    Tenant {
        id: tenant(),
        name: "Acme".into(),
        status,
        created_at: T0,
    }
}

/// A tenant store in which the fixture tenant exists.
fn tenants_with(status: TenantStatus) -> MockTenantStore {
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_get()
        .withf(|id| *id == tenant())
        .returning(move |_| Ok(a_tenant(status)));
    tenants
}

fn untouched_keys() -> MockApiKeyStore {
    let mut keys = MockApiKeyStore::new();
    keys.expect_insert().never();
    keys.expect_update().never();
    keys.expect_insert_rotation().never();
    keys
}

fn public_pem() -> String {
    SigningKey::from_bytes(&[7u8; 32])
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

fn some_scopes() -> ScopeSet {
    [Scope::VaultsRead, Scope::TransfersWrite]
        .into_iter()
        .collect()
}

fn new_key(environment: Environment, mode: KeyMode, pem: Option<String>) -> NewKey {
    NewKey {
        tenant_id: tenant(),
        environment,
        mode,
        scopes: some_scopes(),
        allowed_ips: IpAllowList::parse(["203.0.113.0/24"]).unwrap(),
        ed25519_public_key: pem,
    }
}

type Inserted = Arc<Mutex<Vec<(ApiKey, Option<Secret>)>>>;

/// A key store that records every insert.
fn recording_keys() -> (MockApiKeyStore, Inserted) {
    let inserted: Inserted = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&inserted);
    let mut keys = MockApiKeyStore::new();
    keys.expect_insert().returning(move |key, secret| {
        sink.lock().unwrap().push((key.clone(), secret.clone()));
        Ok(())
    });
    (keys, inserted)
}

fn field_code(err: &Error) -> Option<(&'static str, &'static str)> {
    match err {
        Error::InvalidField { field, code, .. } => Some((field, code)),
        _ => None,
    }
}

// ---- tenants ---------------------------------------------------------------------------

#[tokio::test]
async fn create_tenant_is_pending_with_every_sandbox_asset_and_no_live_one() {
    let mut tenants = MockTenantStore::new();
    let inserted = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&inserted);
    tenants
        .expect_insert()
        .withf(|_, sandbox, live| {
            *sandbox == EnabledAssets::all() && *live == EnabledAssets::none()
        })
        .times(1)
        .returning(move |t, _, _| {
            sink.lock().unwrap().push(t.clone());
            Ok(())
        });
    let svc = service(tenants, untouched_keys());
    let tenant = svc.create_tenant("  Acme Payments  ").await.unwrap();
    assert_eq!(tenant.name, "Acme Payments");
    assert_eq!(tenant.status, TenantStatus::Pending);
    assert_eq!(tenant.created_at, T0);
    assert_eq!(inserted.lock().unwrap().clone(), vec![tenant]);
}

#[tokio::test]
async fn create_tenant_rejects_empty_and_over_long_names() {
    let mut tenants = MockTenantStore::new();
    tenants.expect_insert().never();
    let svc = service(tenants, untouched_keys());
    let too_long = "x".repeat(crate::text::MAX_TEXT_CHARS + 1);
    for name in ["", "   ", "\t\n", too_long.as_str()] {
        let err = svc.create_tenant(name).await.unwrap_err();
        assert_eq!(field_code(&err), Some(("name", "invalid_text")), "{name:?}");
    }
}

#[tokio::test]
async fn create_tenant_accepts_a_name_of_exactly_the_limit() {
    let mut tenants = MockTenantStore::new();
    tenants.expect_insert().times(1).returning(|_, _, _| Ok(()));
    let svc = service(tenants, untouched_keys());
    let name = "é".repeat(crate::text::MAX_TEXT_CHARS);
    assert_eq!(svc.create_tenant(&name).await.unwrap().name, name);
}

#[tokio::test]
async fn set_tenant_status_saves_a_legal_change() {
    let mut tenants = tenants_with(TenantStatus::Pending);
    tenants
        .expect_update()
        .withf(|t| t.id == tenant() && t.status == TenantStatus::Approved)
        .times(1)
        .returning(|_| Ok(()));
    let svc = service(tenants, untouched_keys());
    let approved = svc
        .set_tenant_status(tenant(), TenantStatus::Approved)
        .await
        .unwrap();
    assert_eq!(approved.status, TenantStatus::Approved);
}

#[tokio::test]
async fn set_tenant_status_refuses_an_illegal_change_and_saves_nothing() {
    for (from, to) in [
        (TenantStatus::Approved, TenantStatus::Pending),
        (TenantStatus::Suspended, TenantStatus::Pending),
        (TenantStatus::Approved, TenantStatus::Approved),
    ] {
        let mut tenants = tenants_with(from);
        tenants.expect_update().never();
        let svc = service(tenants, untouched_keys());
        let err = svc.set_tenant_status(tenant(), to).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidTransition {
                    machine: "tenant",
                    ..
                }
            ),
            "{from} -> {to}: {err:?}"
        );
    }
}

#[tokio::test]
async fn set_tenant_status_of_an_unknown_tenant_is_not_found() {
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_get()
        .returning(|_| Err(StoreError::NotFound));
    tenants.expect_update().never();
    let svc = service(tenants, untouched_keys());
    let err = svc
        .set_tenant_status(tenant(), TenantStatus::Approved)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Tenant)),
        "{err:?}"
    );
}

#[tokio::test]
async fn list_tenants_passes_the_page_through() {
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_list()
        .withf(|p| p.limit() == 2)
        .times(1)
        .returning(|_| {
            Ok(Page {
                items: vec![a_tenant(TenantStatus::Approved)],
                has_more: true,
            })
        });
    let svc = service(tenants, untouched_keys());
    let page = svc
        .list_tenants(PageRequest::new(Some(2), None, None).unwrap())
        .await
        .unwrap();
    assert_eq!(page.items, vec![a_tenant(TenantStatus::Approved)]);
    assert!(page.has_more);
}

// ---- assets ----------------------------------------------------------------------------

/// A tenant store whose live assets are `current`, expecting `writes` saves.
fn asset_store(
    current: EnabledAssets,
    writes: usize,
) -> (MockTenantStore, Arc<Mutex<Vec<EnabledAssets>>>) {
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_enabled_assets()
        .withf(|id, env| *id == tenant() && *env == Environment::Live)
        .times(1)
        .returning(move |_, _| Ok(current.clone()));
    let saved = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&saved);
    tenants
        .expect_set_enabled_assets()
        .withf(|id, env, _| *id == tenant() && *env == Environment::Live)
        .times(writes)
        .returning(move |_, _, assets| {
            sink.lock().unwrap().push(assets.clone());
            Ok(())
        });
    (tenants, saved)
}

#[tokio::test]
async fn set_asset_writes_a_newly_enabled_asset() {
    let (tenants, saved) = asset_store(EnabledAssets::none(), 1);
    let svc = service(tenants, untouched_keys());
    let assets = svc
        .set_asset(tenant(), Environment::Live, usdt_eth(), true)
        .await
        .unwrap();
    assert!(assets.contains(usdt_eth()));
    assert_eq!(saved.lock().unwrap().clone(), vec![assets]);
}

#[tokio::test]
async fn set_asset_writes_a_newly_disabled_asset() {
    let current: EnabledAssets = [usdt_eth(), usdc_sol()].into_iter().collect();
    let (tenants, saved) = asset_store(current, 1);
    let svc = service(tenants, untouched_keys());
    let assets = svc
        .set_asset(tenant(), Environment::Live, usdt_eth(), false)
        .await
        .unwrap();
    assert_eq!(assets, [usdc_sol()].into_iter().collect());
    assert_eq!(saved.lock().unwrap().clone(), vec![assets]);
}

#[tokio::test]
async fn set_asset_writes_nothing_when_nothing_changes() {
    let current: EnabledAssets = [usdt_eth()].into_iter().collect();
    for (asset, enabled) in [(usdt_eth(), true), (usdc_sol(), false)] {
        let (tenants, _) = asset_store(current.clone(), 0);
        let svc = service(tenants, untouched_keys());
        let assets = svc
            .set_asset(tenant(), Environment::Live, asset, enabled)
            .await
            .unwrap();
        assert_eq!(assets, current);
    }
}

#[tokio::test]
async fn set_asset_of_an_unknown_tenant_is_not_found() {
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_enabled_assets()
        .returning(|_, _| Err(StoreError::NotFound));
    tenants.expect_set_enabled_assets().never();
    let svc = service(tenants, untouched_keys());
    let err = svc
        .set_asset(tenant(), Environment::Sandbox, usdt_eth(), true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Tenant)),
        "{err:?}"
    );
}

// ---- mint_key --------------------------------------------------------------------------

#[tokio::test]
async fn minting_an_hmac_key_returns_and_stores_its_secret() {
    let (keys, inserted) = recording_keys();
    let svc = service(tenants_with(TenantStatus::Pending), keys);
    let minted = svc
        .mint_key(new_key(Environment::Sandbox, KeyMode::Hmac, None))
        .await
        .unwrap();

    assert!(minted.key.starts_with("sk_test_"), "{}", minted.key);
    assert_eq!(minted.record.key_hash, hash_key(&minted.key));
    assert_eq!(minted.record.key_hint, key_hint(&minted.key));
    assert!(!minted.record.key_hint.contains(&minted.key[8..]));
    assert_eq!(minted.record.mode, KeyMode::Hmac);
    assert_eq!(minted.record.environment, Environment::Sandbox);
    assert_eq!(minted.record.tenant_id, tenant());
    assert_eq!(minted.record.scopes, some_scopes());
    assert_eq!(
        minted.record.allowed_ips,
        IpAllowList::parse(["203.0.113.0/24"]).unwrap()
    );
    assert_eq!(minted.record.created_at, T0);
    assert_eq!(minted.record.expires_at, None);
    assert_eq!(minted.record.revoked_at, None);
    assert_eq!(minted.record.ed25519_public_key, None);
    let secret = minted.hmac_secret.clone().expect("hmac keys get a secret");
    assert_eq!(secret.len(), 64);
    assert_ne!(secret, minted.key);

    let inserted = inserted.lock().unwrap().clone();
    assert_eq!(inserted.len(), 1);
    let (record, stored_secret) = &inserted[0];
    assert_eq!(*record, minted.record);
    let stored_secret = stored_secret.clone().expect("the secret is stored");
    assert_eq!(stored_secret.expose(), secret.as_bytes());
    // What the partner signs with the secret shown verifies with the secret stored.
    let canonical = signing::hmac_canonical_string("1714564800", "GET", "/v1/vaults", b"");
    assert!(signing::verify_hmac(
        stored_secret.expose(),
        &canonical,
        &signing::hmac_sign(secret.as_bytes(), &canonical)
    ));
}

#[tokio::test]
async fn minting_a_bearer_key_has_no_secret() {
    let (keys, inserted) = recording_keys();
    let svc = service(tenants_with(TenantStatus::Approved), keys);
    let minted = svc
        .mint_key(NewKey {
            // Issue 16: bearer keys never hold money-moving scopes.
            scopes: [Scope::VaultsRead].into_iter().collect(),
            ..new_key(Environment::Live, KeyMode::Bearer, None)
        })
        .await
        .unwrap();
    assert!(minted.key.starts_with("sk_live_"), "{}", minted.key);
    assert_eq!(Environment::of_key(&minted.key), Some(Environment::Live));
    assert_eq!(minted.hmac_secret, None);
    assert_eq!(minted.record.key_hash, hash_key(&minted.key));
    let inserted = inserted.lock().unwrap().clone();
    assert_eq!(inserted, vec![(minted.record, None)]);
}

#[tokio::test]
async fn minting_an_ed25519_key_stores_its_public_key_only() {
    let (keys, inserted) = recording_keys();
    let svc = service(tenants_with(TenantStatus::Pending), keys);
    let minted = svc
        .mint_key(new_key(
            Environment::Sandbox,
            KeyMode::Ed25519,
            Some(public_pem()),
        ))
        .await
        .unwrap();
    assert!(minted.key.starts_with("sk_test_"));
    assert_eq!(minted.hmac_secret, None);
    assert_eq!(minted.record.ed25519_public_key, Some(public_pem()));
    let inserted = inserted.lock().unwrap().clone();
    assert_eq!(inserted, vec![(minted.record, None)]);
}

#[tokio::test]
async fn minting_an_ed25519_key_needs_a_valid_public_key() {
    let svc = service(tenants_with(TenantStatus::Pending), untouched_keys());
    let err = svc
        .mint_key(new_key(Environment::Sandbox, KeyMode::Ed25519, None))
        .await
        .unwrap_err();
    assert_eq!(
        field_code(&err),
        Some(("public_key", "public_key_required"))
    );
    for garbage in [
        "not a pem",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
    ] {
        let err = svc
            .mint_key(new_key(
                Environment::Sandbox,
                KeyMode::Ed25519,
                Some(garbage.to_owned()),
            ))
            .await
            .unwrap_err();
        assert_eq!(
            field_code(&err),
            Some(("public_key", "invalid_public_key")),
            "{garbage:?}"
        );
    }
}

#[tokio::test]
async fn other_modes_refuse_a_public_key() {
    let svc = service(tenants_with(TenantStatus::Pending), untouched_keys());
    for mode in [KeyMode::Bearer, KeyMode::Hmac] {
        let err = svc
            .mint_key(new_key(Environment::Sandbox, mode, Some(public_pem())))
            .await
            .unwrap_err();
        assert_eq!(
            field_code(&err),
            Some(("public_key", "public_key_unexpected")),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn minting_for_an_unknown_tenant_is_not_found() {
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_get()
        .returning(|_| Err(StoreError::NotFound));
    let svc = service(tenants, untouched_keys());
    let err = svc
        .mint_key(new_key(Environment::Sandbox, KeyMode::Bearer, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Tenant)),
        "{err:?}"
    );
}

#[tokio::test]
async fn minting_with_no_scopes_named_grants_every_scope() {
    let (keys, inserted) = recording_keys();
    let svc = service(tenants_with(TenantStatus::Pending), keys);
    let minted = svc
        .mint_key(NewKey {
            scopes: ScopeSet::empty(),
            // Issue 16: a signed key (a bearer key gets every scope but the money-moving ones,
            // see below).
            ..new_key(Environment::Sandbox, KeyMode::Hmac, None)
        })
        .await
        .unwrap();
    assert_eq!(minted.record.scopes, ScopeSet::all());
    let inserted = inserted.lock().unwrap().clone();
    assert_eq!(inserted.len(), 1);
    assert_eq!(inserted[0].0.scopes.len(), 13);
    assert!(Scope::ALL
        .into_iter()
        .all(|scope| inserted[0].0.scopes.contains(scope)));
}

#[tokio::test]
async fn two_mints_give_two_different_keys() {
    let (keys, inserted) = recording_keys();
    let svc = service(tenants_with(TenantStatus::Pending), keys);
    let a = svc
        .mint_key(new_key(Environment::Sandbox, KeyMode::Hmac, None))
        .await
        .unwrap();
    let b = svc
        .mint_key(new_key(Environment::Sandbox, KeyMode::Hmac, None))
        .await
        .unwrap();
    assert_ne!(a.key, b.key);
    assert_ne!(a.record.id, b.record.id);
    assert_ne!(a.hmac_secret, b.hmac_secret);
    assert_ne!(a.hmac_secret.as_deref(), Some(a.key.as_str()));
    assert_eq!(inserted.lock().unwrap().len(), 2);
}

// ---- rotate / revoke -------------------------------------------------------------------

/// An existing key record of the fixture tenant.
fn existing_key(mode: KeyMode) -> ApiKey {
    let key = format_key(Environment::Sandbox, &[42u8; 32]);
    ApiKey {
        id: key_id(),
        tenant_id: tenant(),
        environment: Environment::Sandbox,
        mode,
        scopes: some_scopes(),
        allowed_ips: IpAllowList::parse(["198.51.100.7"]).unwrap(),
        key_hash: hash_key(&key),
        key_hint: key_hint(&key),
        ed25519_public_key: (mode == KeyMode::Ed25519).then(public_pem),
        created_at: T0 - Duration::days(30),
        expires_at: None,
        revoked_at: None,
        replaced_by: None,
    }
}

type Rotations = Arc<Mutex<Vec<(ApiKey, ApiKey, Option<Secret>)>>>;

/// A key store holding one key in memory: `get` reads it, `update` and `insert_rotation`
/// replace it (the latter recording the rotation); `insert` must never be called.
struct KeyFake {
    current: Arc<Mutex<ApiKey>>,
    rotations: Rotations,
    updates: Arc<Mutex<usize>>,
}

fn key_fake(key: ApiKey) -> (MockApiKeyStore, KeyFake) {
    let current = Arc::new(Mutex::new(key.clone()));
    let rotations: Rotations = Arc::new(Mutex::new(Vec::new()));
    let updates = Arc::new(Mutex::new(0));
    let mut keys = MockApiKeyStore::new();
    let read = Arc::clone(&current);
    keys.expect_get()
        .withf(move |id| *id == key.id)
        .returning(move |_| {
            Ok(StoredApiKey {
                key: read.lock().unwrap().clone(),
                hmac_secret: None,
            })
        });
    let write = Arc::clone(&current);
    let count = Arc::clone(&updates);
    keys.expect_update().returning(move |k| {
        *write.lock().unwrap() = k.clone();
        *count.lock().unwrap() += 1;
        Ok(())
    });
    let write = Arc::clone(&current);
    let sink = Arc::clone(&rotations);
    keys.expect_insert_rotation()
        .returning(move |rotated, successor, secret| {
            *write.lock().unwrap() = rotated.clone();
            sink.lock()
                .unwrap()
                .push((rotated.clone(), successor.clone(), secret));
            Ok(())
        });
    // A successor is only ever saved together with the old key's rotation.
    keys.expect_insert().never();
    (
        keys,
        KeyFake {
            current,
            rotations,
            updates,
        },
    )
}

#[tokio::test]
async fn rotating_mints_a_like_successor_and_gives_the_old_key_a_grace_period() {
    for mode in KeyMode::ALL {
        let mut old = existing_key(mode);
        if mode == KeyMode::Bearer {
            // Issue 16: a bearer key holds no money-moving scope (see the test below).
            old.scopes = old.scopes.without_signed_only();
        }
        let (keys, fake) = key_fake(old.clone());
        let svc = service(tenants_with(TenantStatus::Approved), keys);
        let grace = Duration::hours(24);

        let minted = svc.rotate_key(old.id, grace).await.unwrap();

        let successor = &minted.record;
        assert_ne!(successor.id, old.id);
        assert_eq!(successor.tenant_id, old.tenant_id);
        assert_eq!(successor.environment, old.environment);
        assert_eq!(successor.mode, mode);
        assert_eq!(successor.scopes, old.scopes);
        assert_eq!(successor.allowed_ips, old.allowed_ips);
        assert_eq!(successor.ed25519_public_key, old.ed25519_public_key);
        assert_ne!(successor.key_hash, old.key_hash);
        assert_eq!(successor.key_hash, hash_key(&minted.key));
        assert_eq!(minted.hmac_secret.is_some(), mode == KeyMode::Hmac);

        // One atomic store call: the old key's new state and its successor together.
        let rotations = fake.rotations.lock().unwrap().clone();
        assert_eq!(rotations.len(), 1, "{mode}");
        let (rotated, saved_successor, secret) = &rotations[0];
        assert_eq!(saved_successor, successor);
        assert_eq!(
            secret.as_ref().map(|s| s.expose().to_vec()),
            minted.hmac_secret.as_ref().map(|s| s.as_bytes().to_vec())
        );
        assert_eq!(rotated.id, old.id);
        assert_eq!(rotated.expires_at, Some(T0 + grace));
        assert_eq!(rotated.replaced_by, Some(successor.id));
        assert_eq!(rotated.revoked_at, None);
        assert_eq!(*fake.current.lock().unwrap(), *rotated);
        assert_eq!(*fake.updates.lock().unwrap(), 0, "no separate update");
    }
}

#[tokio::test]
async fn rotating_never_widens_a_key_without_scopes() {
    // "All scopes when none are named" is a minting rule: a successor copies its
    // predecessor's scopes exactly.
    let old = ApiKey {
        scopes: ScopeSet::empty(),
        ..existing_key(KeyMode::Bearer)
    };
    let (keys, fake) = key_fake(old.clone());
    let svc = service(tenants_with(TenantStatus::Approved), keys);
    let minted = svc.rotate_key(old.id, Duration::hours(1)).await.unwrap();
    assert!(minted.record.scopes.is_empty());
    assert!(fake.rotations.lock().unwrap()[0].1.scopes.is_empty());
}

#[tokio::test]
async fn rotating_a_revoked_key_is_refused_and_mints_nothing() {
    let old = ApiKey {
        revoked_at: Some(T0 - Duration::hours(1)),
        ..existing_key(KeyMode::Hmac)
    };
    let mut keys = MockApiKeyStore::new();
    let found = old.clone();
    keys.expect_get().returning(move |_| {
        Ok(StoredApiKey {
            key: found.clone(),
            hmac_secret: None,
        })
    });
    keys.expect_insert().never();
    keys.expect_update().never();
    keys.expect_insert_rotation().never();
    let mut tenants = MockTenantStore::new();
    tenants.expect_get().never();
    let svc = service(tenants, keys);
    let err = svc
        .rotate_key(old.id, Duration::hours(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "key_not_rotatable",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn rotating_twice_or_with_a_bad_grace_is_refused_and_mints_nothing() {
    let old = existing_key(KeyMode::Bearer);
    let (keys, fake) = key_fake(old.clone());
    let svc = service(tenants_with(TenantStatus::Approved), keys);

    for grace in [
        MAX_ROTATION_GRACE + Duration::seconds(1),
        Duration::seconds(-1),
    ] {
        let err = svc.rotate_key(old.id, grace).await.unwrap_err();
        assert!(
            matches!(
                err,
                Error::Refused {
                    code: "key_not_rotatable",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    assert!(fake.rotations.lock().unwrap().is_empty());

    svc.rotate_key(old.id, Duration::ZERO).await.unwrap();
    let err = svc
        .rotate_key(old.id, Duration::hours(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "key_not_rotatable",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(fake.rotations.lock().unwrap().len(), 1);
    assert_eq!(*fake.updates.lock().unwrap(), 0);
}

#[tokio::test]
async fn rotating_an_unknown_key_is_not_found() {
    let mut keys = MockApiKeyStore::new();
    keys.expect_get().returning(|_| Err(StoreError::NotFound));
    keys.expect_insert().never();
    keys.expect_insert_rotation().never();
    let svc = service(MockTenantStore::new(), keys);
    let err = svc
        .rotate_key(key_id(), Duration::hours(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::ApiKey)),
        "{err:?}"
    );
}

#[tokio::test]
async fn revoking_twice_is_refused_the_second_time() {
    let old = existing_key(KeyMode::Ed25519);
    let (keys, fake) = key_fake(old.clone());
    let svc = service(MockTenantStore::new(), keys);

    let revoked = svc.revoke_key(old.id).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(T0));
    assert_eq!(*fake.current.lock().unwrap(), revoked);

    let err = svc.revoke_key(old.id).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "key_already_revoked",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(*fake.updates.lock().unwrap(), 1);
    assert!(fake.rotations.lock().unwrap().is_empty());
}

#[tokio::test]
async fn revoking_an_unknown_key_is_not_found() {
    let mut keys = MockApiKeyStore::new();
    keys.expect_get().returning(|_| Err(StoreError::NotFound));
    keys.expect_update().never();
    let svc = service(MockTenantStore::new(), keys);
    let err = svc.revoke_key(key_id()).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::ApiKey)),
        "{err:?}"
    );
}

// ---- issue 16: bearer keys and money-moving scopes, Ed25519 bindings ----------------------

#[tokio::test]
async fn a_bearer_key_is_refused_money_moving_scopes_and_gets_the_others_by_default() {
    for scope in Scope::SIGNED_ONLY {
        let svc = service(tenants_with(TenantStatus::Approved), untouched_keys());
        let err = svc
            .mint_key(NewKey {
                scopes: [Scope::VaultsRead, scope].into_iter().collect(),
                ..new_key(Environment::Sandbox, KeyMode::Bearer, None)
            })
            .await
            .unwrap_err();
        assert_eq!(
            field_code(&err),
            Some(("scopes", "scope_requires_signed_key"))
        );
        assert!(err.to_string().contains(scope.as_str()), "{err}");
    }
    let (keys, inserted) = recording_keys();
    let svc = service(tenants_with(TenantStatus::Pending), keys);
    let minted = svc
        .mint_key(NewKey {
            scopes: ScopeSet::empty(),
            ..new_key(Environment::Sandbox, KeyMode::Bearer, None)
        })
        .await
        .unwrap();
    assert_eq!(minted.record.scopes, ScopeSet::bearer_default());
    assert_eq!(minted.record.scopes.len(), 13 - Scope::SIGNED_ONLY.len());
    assert_eq!(
        inserted.lock().unwrap()[0].0.scopes,
        ScopeSet::bearer_default()
    );
}

#[tokio::test]
async fn rotating_a_bearer_key_minted_before_the_rule_drops_its_money_moving_scopes() {
    let old = ApiKey {
        scopes: ScopeSet::all(),
        ..existing_key(KeyMode::Bearer)
    };
    let (keys, fake) = key_fake(old.clone());
    let svc = service(tenants_with(TenantStatus::Approved), keys);
    let minted = svc.rotate_key(old.id, Duration::hours(1)).await.unwrap();
    assert_eq!(minted.record.scopes, ScopeSet::bearer_default());
    assert_eq!(
        fake.rotations.lock().unwrap()[0].1.scopes,
        ScopeSet::bearer_default()
    );
}

#[tokio::test]
async fn a_public_key_bound_elsewhere_is_a_conflict_naming_it() {
    let mut keys = MockApiKeyStore::new();
    keys.expect_insert().returning(|_, _| {
        Err(StoreError::Conflict {
            constraint: crate::ports::ED25519_BINDING.to_owned(),
        })
    });
    let svc = service(tenants_with(TenantStatus::Approved), keys);
    let err = svc
        .mint_key(new_key(
            Environment::Live,
            KeyMode::Ed25519,
            Some(public_pem()),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "public_key_in_use");
    assert_eq!(err.kind(), crate::error::ErrorKind::Conflict);
}
