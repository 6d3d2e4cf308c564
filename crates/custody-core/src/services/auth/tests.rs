use std::sync::Arc;

use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::{Signer as _, SigningKey};
use time::Duration;

use super::*;
use crate::api_key::{format_key, key_hint, ApiKey, IpAllowList, Scope, ScopeSet};
use crate::error::ErrorKind;
use crate::ports::{MockApiKeyStore, StoredApiKey};
use crate::secret::Secret;
use crate::services::test_support::*;
use crate::tenant::{AccessDenied, Tenant, TenantStatus};

const HMAC_SECRET: &str = "4f1c0e5a9b7d3c2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e";
const METHOD: &str = "POST";
const PATH: &str = "/v1/vaults?expand=wallets";
const BODY: &[u8] = br#"{"externalId":"cust-42","name":"Alice"}"#;

fn client() -> IpAddr {
    "203.0.113.7".parse().unwrap()
}

fn request() -> PresentedRequest<'static> {
    PresentedRequest {
        method: METHOD,
        path_and_query: PATH,
        body: BODY,
        client_ip: client(),
    }
}

fn now_unix() -> i64 {
    T0.unix_timestamp()
}

/// The timestamp header of a client whose clock is `behind` seconds behind ours.
fn timestamp(behind: i64) -> String {
    (now_unix() - behind).to_string()
}

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn public_pem() -> String {
    signing_key()
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap()
}

fn key_string(env: Environment) -> String {
    format_key(env, &[3u8; 32])
}

fn scopes() -> ScopeSet {
    [Scope::VaultsRead, Scope::WalletsRead]
        .into_iter()
        .collect()
}

/// A usable key record for `key` (created yesterday, no expiry).
fn record(env: Environment, mode: KeyMode, key: &str) -> ApiKey {
    ApiKey {
        id: key_id(),
        tenant_id: tenant(),
        environment: env,
        mode,
        scopes: scopes(),
        allowed_ips: IpAllowList::allow_all(),
        key_hash: hash_key(key),
        key_hint: key_hint(key),
        ed25519_public_key: (mode == KeyMode::Ed25519).then(public_pem),
        created_at: T0 - Duration::days(1),
        expires_at: None,
        revoked_at: None,
        replaced_by: None,
    }
}

fn stored(key: ApiKey) -> StoredApiKey {
    let hmac_secret = (key.mode == KeyMode::Hmac).then(|| Secret::new(HMAC_SECRET));
    StoredApiKey { key, hmac_secret }
}

fn acme(status: TenantStatus) -> Tenant {
    Tenant {
        id: tenant(),
        name: "Acme".into(),
        status,
        created_at: T0,
    }
}

/// A key store answering only `find_with_tenant` for `lookup`, once, with `found` and a tenant
/// of `status` (any other read fails the test: the mock expects none).
fn keys_with_tenant(
    lookup: KeyLookup,
    found: StoredApiKey,
    status: TenantStatus,
) -> MockApiKeyStore {
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .withf(move |asked| *asked == lookup)
        .times(1)
        .returning(move |_| {
            Ok(KeyWithTenant {
                stored: found.clone(),
                tenant: acme(status),
            })
        });
    keys.expect_record_signature()
        .returning(|_| Ok(SignatureSeen::First));
    keys.expect_ed25519_binding_holds().returning(|_| Ok(true));
    keys
}

/// A key store that finds exactly `found` (with its approved tenant) by the hash of `key`,
/// once.
fn keys_finding(key: &str, found: StoredApiKey) -> MockApiKeyStore {
    keys_with_tenant(
        KeyLookup::Hash(hash_key(key)),
        found,
        TenantStatus::Approved,
    )
}

/// `found` as the store reads it with its tenant (approved: the gate is tested on its own).
fn with_tenant(found: &StoredApiKey) -> KeyWithTenant {
    KeyWithTenant {
        stored: found.clone(),
        tenant: acme(TenantStatus::Approved),
    }
}

fn service(keys: MockApiKeyStore) -> AuthService {
    AuthService::new(Arc::new(keys), clock())
}

fn hmac_credentials(key: &str, ts: &str, body: &[u8]) -> Credentials {
    let canonical = signing::hmac_canonical_string(ts, METHOD, PATH, body);
    Credentials {
        key: key.to_owned(),
        timestamp: Some(ts.to_owned()),
        signature: Some(signing::hmac_sign(HMAC_SECRET.as_bytes(), &canonical)),
        idempotency_key: None,
    }
}

fn ed25519_credentials(key: &str, ts: &str, body: &[u8]) -> Credentials {
    let payload = signing::ed25519_signing_payload(METHOD, PATH, ts, body);
    let signature = signing_key().sign(&payload);
    Credentials {
        key: key.to_owned(),
        timestamp: Some(ts.to_owned()),
        signature: Some(base64::engine::general_purpose::STANDARD.encode(signature.to_bytes())),
        idempotency_key: None,
    }
}

fn bearer_credentials(key: &str) -> Credentials {
    Credentials {
        key: key.to_owned(),
        timestamp: None,
        signature: None,
        idempotency_key: None,
    }
}

fn expected_caller(env: Environment) -> Caller {
    Caller {
        tenant_id: tenant(),
        environment: env,
        key_id: key_id(),
        scopes: scopes(),
    }
}

/// A plain denial: not a store outage and no debugger.
fn assert_denied_without_hint(failure: &AuthFailure) {
    assert!(!failure.unavailable, "{failure:?}");
    assert_eq!(failure.debug, None, "{failure:?}");
}

// ---- success per mode ------------------------------------------------------------------

#[tokio::test]
async fn a_correct_hmac_request_authenticates_as_its_key() {
    let key = key_string(Environment::Sandbox);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Sandbox, KeyMode::Hmac, &key)),
    ));
    let (caller, _) = svc
        .authenticate_with_tenant(&hmac_credentials(&key, &timestamp(5), BODY), &request())
        .await
        .unwrap();
    assert_eq!(caller, expected_caller(Environment::Sandbox));
}

/// A key store that finds exactly `found` (with its approved tenant) by its id, once.
fn keys_getting(found: StoredApiKey) -> MockApiKeyStore {
    keys_with_tenant(KeyLookup::Id(found.key.id), found, TenantStatus::Approved)
}

#[tokio::test]
async fn an_hmac_key_may_be_named_by_its_id_in_either_environment() {
    for env in [Environment::Sandbox, Environment::Live] {
        let key = key_string(env);
        let svc = service(keys_getting(stored(record(env, KeyMode::Hmac, &key))));
        let (caller, _) = svc
            .authenticate_with_tenant(
                &hmac_credentials(&key_id().to_string(), &timestamp(5), BODY),
                &request(),
            )
            .await
            .unwrap();
        assert_eq!(caller, expected_caller(env));
    }
}

#[tokio::test]
async fn a_key_id_without_a_valid_signature_or_for_another_mode_is_refused() {
    let key = key_string(Environment::Sandbox);
    let svc = service(keys_getting(stored(record(
        Environment::Sandbox,
        KeyMode::Hmac,
        &key,
    ))));
    let mut credentials = hmac_credentials(&key_id().to_string(), &timestamp(5), BODY);
    credentials.signature = Some("00".repeat(32));
    let failure = svc
        .authenticate_with_tenant(&credentials, &request())
        .await
        .unwrap_err();
    assert_eq!(failure.reason, "bad signature");

    // A bearer key's id is public: it must never work as the key itself.
    let svc = service(keys_getting(stored(record(
        Environment::Sandbox,
        KeyMode::Bearer,
        &key,
    ))));
    let failure = svc
        .authenticate_with_tenant(&bearer_credentials(&key_id().to_string()), &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
}

#[tokio::test]
async fn a_bearer_key_authenticates_without_signature_headers() {
    let key = key_string(Environment::Live);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Live, KeyMode::Bearer, &key)),
    ));
    let (caller, _) = svc
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap();
    assert_eq!(caller, expected_caller(Environment::Live));
}

#[tokio::test]
async fn a_correct_ed25519_request_authenticates_within_its_wider_window() {
    let key = key_string(Environment::Live);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Live, KeyMode::Ed25519, &key)),
    ));
    // 60 s is inside the Ed25519 window (and outside the HMAC one).
    let (caller, _) = svc
        .authenticate_with_tenant(&ed25519_credentials(&key, &timestamp(60), BODY), &request())
        .await
        .unwrap();
    assert_eq!(caller, expected_caller(Environment::Live));
}

#[tokio::test]
async fn an_ed25519_request_61_seconds_off_fails() {
    let key = key_string(Environment::Sandbox);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Sandbox, KeyMode::Ed25519, &key)),
    ));
    let failure = svc
        .authenticate_with_tenant(
            &ed25519_credentials(&key, &timestamp(-61), BODY),
            &request(),
        )
        .await
        .unwrap_err();
    let debug = failure.debug.expect("sandbox keys get the debugger");
    assert_eq!(debug.clock_skew_seconds, Some(-61));
    let payload = signing::ed25519_signing_payload(METHOD, PATH, &timestamp(-61), BODY);
    assert_eq!(debug.signed_string.as_bytes(), payload.as_slice());
}

// ---- key lookup and key state ----------------------------------------------------------

#[tokio::test]
async fn an_unknown_key_is_denied() {
    let key = key_string(Environment::Sandbox);
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .times(1)
        .returning(|_| Err(StoreError::NotFound));
    let failure = service(keys)
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
}

#[tokio::test]
async fn a_key_without_an_environment_prefix_is_denied_without_a_lookup() {
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant().never();
    let svc = service(keys);
    for key in [
        "pk_live_abc",
        "abc",
        "",
        "SK_TEST_abc",
        "Bearer sk_test_abc",
    ] {
        let failure = svc
            .authenticate_with_tenant(&bearer_credentials(key), &request())
            .await
            .unwrap_err();
        assert_denied_without_hint(&failure);
    }
}

#[tokio::test]
async fn a_key_whose_record_is_of_the_other_environment_is_denied() {
    let key = key_string(Environment::Sandbox);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Live, KeyMode::Bearer, &key)),
    ));
    let failure = svc
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
}

#[tokio::test]
async fn a_revoked_key_is_denied() {
    let key = key_string(Environment::Sandbox);
    let revoked = ApiKey {
        revoked_at: Some(T0 - Duration::minutes(1)),
        ..record(Environment::Sandbox, KeyMode::Hmac, &key)
    };
    let svc = service(keys_finding(&key, stored(revoked)));
    let failure = svc
        .authenticate_with_tenant(&hmac_credentials(&key, &timestamp(0), BODY), &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
}

#[tokio::test]
async fn a_rotated_key_works_during_its_grace_and_not_after() {
    let key = key_string(Environment::Live);
    let rotated = |expires_at| ApiKey {
        expires_at: Some(expires_at),
        replaced_by: Some(crate::id::ApiKeyId::from_ulid(ulid::Ulid::from_parts(9, 9))),
        ..record(Environment::Live, KeyMode::Bearer, &key)
    };

    let svc = service(keys_finding(&key, stored(rotated(T0 + Duration::hours(1)))));
    assert!(svc
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .is_ok());

    // The end of the grace period itself is already expired.
    for expired_at in [T0 - Duration::seconds(1), T0] {
        let svc = service(keys_finding(&key, stored(rotated(expired_at))));
        let failure = svc
            .authenticate_with_tenant(&bearer_credentials(&key), &request())
            .await
            .unwrap_err();
        assert_denied_without_hint(&failure);
    }
}

#[tokio::test]
async fn a_client_outside_the_allow_list_is_denied() {
    let key = key_string(Environment::Sandbox);
    let restricted = ApiKey {
        allowed_ips: IpAllowList::parse(["198.51.100.0/24"]).unwrap(),
        ..record(Environment::Sandbox, KeyMode::Bearer, &key)
    };
    let svc = service(keys_finding(&key, stored(restricted)));
    let failure = svc
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
}

#[tokio::test]
async fn a_client_inside_the_allow_list_is_admitted() {
    let key = key_string(Environment::Sandbox);
    let restricted = ApiKey {
        allowed_ips: IpAllowList::parse(["198.51.100.0/24", "203.0.113.7"]).unwrap(),
        ..record(Environment::Sandbox, KeyMode::Bearer, &key)
    };
    let svc = service(keys_finding(&key, stored(restricted)));
    assert!(svc
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .is_ok());
}

#[tokio::test]
async fn a_store_outage_is_unavailable_not_a_denial() {
    let key = key_string(Environment::Live);
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable("pool timeout".into())));
    let failure = service(keys)
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap_err();
    assert!(failure.unavailable);
    assert_eq!(failure.debug, None);
}

// ---- signatures and timestamps ---------------------------------------------------------

#[tokio::test]
async fn an_hmac_timestamp_31_seconds_off_fails_with_the_sandbox_debugger() {
    let key = key_string(Environment::Sandbox);
    for behind in [31, -31] {
        let svc = service(keys_finding(
            &key,
            stored(record(Environment::Sandbox, KeyMode::Hmac, &key)),
        ));
        let ts = timestamp(behind);
        // Correctly signed: only the clock is wrong.
        let failure = svc
            .authenticate_with_tenant(&hmac_credentials(&key, &ts, BODY), &request())
            .await
            .unwrap_err();
        assert!(!failure.unavailable);
        let debug = failure.debug.expect("sandbox keys get the debugger");
        assert_eq!(debug.clock_skew_seconds, Some(behind));
        assert_eq!(
            debug.signed_string,
            signing::hmac_canonical_string(&ts, METHOD, PATH, BODY)
        );
    }
}

#[tokio::test]
async fn an_hmac_timestamp_30_seconds_off_is_accepted() {
    let key = key_string(Environment::Sandbox);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Sandbox, KeyMode::Hmac, &key)),
    ));
    assert!(svc
        .authenticate_with_tenant(&hmac_credentials(&key, &timestamp(30), BODY), &request())
        .await
        .is_ok());
}

#[tokio::test]
async fn a_live_key_never_gets_the_debugger() {
    let key = key_string(Environment::Live);
    // Timestamp outside the window.
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Live, KeyMode::Hmac, &key)),
    ));
    let failure = svc
        .authenticate_with_tenant(&hmac_credentials(&key, &timestamp(31), BODY), &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);

    // Bad signature.
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Live, KeyMode::Hmac, &key)),
    ));
    let mut credentials = hmac_credentials(&key, &timestamp(0), BODY);
    credentials.signature = Some("0".repeat(64));
    let failure = svc
        .authenticate_with_tenant(&credentials, &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
}

#[tokio::test]
async fn a_bad_hmac_signature_fails_with_the_string_the_server_signed() {
    let key = key_string(Environment::Sandbox);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Sandbox, KeyMode::Hmac, &key)),
    ));
    let ts = timestamp(2);
    // Signed over another body than the one sent.
    let credentials = hmac_credentials(&key, &ts, b"{}");
    let failure = svc
        .authenticate_with_tenant(&credentials, &request())
        .await
        .unwrap_err();
    assert!(!failure.unavailable);
    let debug = failure.debug.expect("sandbox keys get the debugger");
    assert_eq!(debug.clock_skew_seconds, Some(2));
    assert_eq!(
        debug.signed_string,
        signing::hmac_canonical_string(&ts, METHOD, PATH, BODY)
    );
}

#[tokio::test]
async fn a_bad_ed25519_signature_fails() {
    let key = key_string(Environment::Live);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Live, KeyMode::Ed25519, &key)),
    ));
    let ts = timestamp(0);
    // Signed with another key.
    let payload = signing::ed25519_signing_payload(METHOD, PATH, &ts, BODY);
    let other = SigningKey::from_bytes(&[8u8; 32]).sign(&payload);
    let credentials = Credentials {
        key: key.clone(),
        timestamp: Some(ts),
        signature: Some(base64::engine::general_purpose::STANDARD.encode(other.to_bytes())),
        idempotency_key: None,
    };
    let failure = svc
        .authenticate_with_tenant(&credentials, &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
}

#[tokio::test]
async fn a_malformed_timestamp_fails_with_no_skew() {
    let key = key_string(Environment::Sandbox);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Sandbox, KeyMode::Hmac, &key)),
    ));
    let credentials = hmac_credentials(&key, "17e8", BODY);
    let failure = svc
        .authenticate_with_tenant(&credentials, &request())
        .await
        .unwrap_err();
    let debug = failure.debug.expect("sandbox keys get the debugger");
    assert_eq!(debug.clock_skew_seconds, None);
}

#[tokio::test]
async fn a_signing_key_without_signature_headers_is_denied() {
    let key = key_string(Environment::Sandbox);
    let full = hmac_credentials(&key, &timestamp(0), BODY);
    let partial = [
        Credentials {
            timestamp: None,
            signature: None,
            ..full.clone()
        },
        Credentials {
            timestamp: None,
            ..full.clone()
        },
        Credentials {
            signature: None,
            ..full.clone()
        },
    ];
    for mode in [KeyMode::Hmac, KeyMode::Ed25519] {
        for credentials in &partial {
            let svc = service(keys_finding(
                &key,
                stored(record(Environment::Sandbox, mode, &key)),
            ));
            let failure = svc
                .authenticate_with_tenant(credentials, &request())
                .await
                .unwrap_err();
            assert_denied_without_hint(&failure);
        }
    }
}

#[tokio::test]
async fn an_ed25519_key_presented_with_a_valid_hmac_header_set_fails() {
    let key = key_string(Environment::Sandbox);
    // Even if the store also held an HMAC secret for it, the key's mode decides.
    let found = StoredApiKey {
        key: record(Environment::Sandbox, KeyMode::Ed25519, &key),
        hmac_secret: Some(Secret::new(HMAC_SECRET)),
    };
    let svc = service(keys_finding(&key, found));
    let failure = svc
        .authenticate_with_tenant(&hmac_credentials(&key, &timestamp(0), BODY), &request())
        .await
        .unwrap_err();
    assert!(!failure.unavailable);
    // The debugger shows the Ed25519 payload, not the HMAC canonical string.
    let debug = failure.debug.expect("sandbox keys get the debugger");
    let payload = signing::ed25519_signing_payload(METHOD, PATH, &timestamp(0), BODY);
    assert_eq!(debug.signed_string.as_bytes(), payload.as_slice());
}

#[tokio::test]
async fn an_hmac_key_presented_with_a_valid_ed25519_header_set_fails() {
    let key = key_string(Environment::Live);
    let svc = service(keys_finding(
        &key,
        stored(record(Environment::Live, KeyMode::Hmac, &key)),
    ));
    let failure = svc
        .authenticate_with_tenant(&ed25519_credentials(&key, &timestamp(0), BODY), &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
}

// ---- the approval gate -----------------------------------------------------------------

fn caller_in(env: Environment) -> Caller {
    Caller {
        environment: env,
        ..caller()
    }
}

#[test]
fn a_pending_tenant_is_refused_live_but_works_in_the_sandbox() {
    let pending = acme(TenantStatus::Pending);
    let err = AuthService::gate(&caller_in(Environment::Live), &pending).unwrap_err();
    assert!(
        matches!(err, Error::Access(AccessDenied::NotApproved)),
        "{err:?}"
    );
    assert_eq!(err.code(), "tenant_not_approved");
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    AuthService::gate(&caller_in(Environment::Sandbox), &pending).unwrap();
}

#[test]
fn an_approved_tenant_may_use_both_environments() {
    for env in Environment::ALL {
        AuthService::gate(&caller_in(env), &acme(TenantStatus::Approved)).unwrap();
    }
}

#[test]
fn a_suspended_tenant_is_refused_everywhere() {
    for env in Environment::ALL {
        let err = AuthService::gate(&caller_in(env), &acme(TenantStatus::Suspended)).unwrap_err();
        assert!(
            matches!(err, Error::Access(AccessDenied::Suspended)),
            "{err:?}"
        );
        assert_eq!(err.code(), "tenant_suspended");
    }
}

// ---- issue 16: replay cache, bearer keys -------------------------------------------------

/// A key store that finds `found` by hash and answers every replay-cache record with `seen`,
/// checking what is recorded.
fn keys_seeing(key: &str, found: StoredApiKey, seen: SignatureSeen) -> MockApiKeyStore {
    let lookup = KeyLookup::Hash(hash_key(key));
    let id = found.key.id;
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .withf(move |asked| *asked == lookup)
        .returning(move |_| Ok(with_tenant(&found)));
    keys.expect_record_signature()
        .withf(move |used| {
            used.key_id == id
                && used.now == T0
                // The window passed (30 s for HMAC) and a second.
                && used.expires_at.unix_timestamp() == now_unix() + 31
        })
        .returning(move |_| Ok(seen.clone()));
    keys
}

#[tokio::test]
async fn a_signature_used_before_is_refused_unless_the_idempotency_key_is_the_same() {
    let key = key_string(Environment::Sandbox);
    let record = stored(record(Environment::Sandbox, KeyMode::Hmac, &key));
    let first_use_key = Some("idem-1".to_owned());
    let mut credentials = hmac_credentials(&key, &timestamp(0), BODY);
    credentials.idempotency_key = Some("idem-1".to_owned());
    // The partner's retry: the same key as the first use.
    let svc = service(keys_seeing(
        &key,
        record.clone(),
        SignatureSeen::Again {
            idempotency_key: first_use_key.clone(),
        },
    ));
    assert!(svc
        .authenticate_with_tenant(&credentials, &request())
        .await
        .is_ok());
    // A replay: another key, none now, or none the first time.
    for (now_key, first_key) in [
        (Some("idem-2"), first_use_key.clone()),
        (None, first_use_key.clone()),
        (None, None),
    ] {
        let svc = service(keys_seeing(
            &key,
            record.clone(),
            SignatureSeen::Again {
                idempotency_key: first_key,
            },
        ));
        credentials.idempotency_key = now_key.map(str::to_owned);
        let failure = svc
            .authenticate_with_tenant(&credentials, &request())
            .await
            .unwrap_err();
        assert!(failure.replayed);
        assert_eq!(failure.reason, AuthFailure::REPLAYED);
        assert!(!failure.unavailable);
    }
}

#[tokio::test]
async fn reads_are_not_recorded_and_a_cache_outage_is_unavailable() {
    let key = key_string(Environment::Live);
    let found = stored(record(Environment::Live, KeyMode::Hmac, &key));
    let mut keys = MockApiKeyStore::new();
    let f = found.clone();
    keys.expect_find_with_tenant()
        .returning(move |_| Ok(with_tenant(&f)));
    keys.expect_record_signature().never();
    let svc = service(keys);
    let ts = timestamp(0);
    let canonical = signing::hmac_canonical_string(&ts, "GET", PATH, b"");
    let credentials = Credentials {
        key: key.clone(),
        timestamp: Some(ts),
        signature: Some(signing::hmac_sign(HMAC_SECRET.as_bytes(), &canonical)),
        idempotency_key: None,
    };
    let get = PresentedRequest {
        method: "GET",
        body: b"",
        ..request()
    };
    assert!(svc
        .authenticate_with_tenant(&credentials, &get)
        .await
        .is_ok());

    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .returning(move |_| Ok(with_tenant(&found)));
    keys.expect_record_signature()
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    let failure = service(keys)
        .authenticate_with_tenant(&hmac_credentials(&key, &timestamp(0), BODY), &request())
        .await
        .unwrap_err();
    assert!(failure.unavailable);
}

#[tokio::test]
async fn a_bearer_key_with_a_signature_is_denied_and_never_holds_money_scopes() {
    let key = key_string(Environment::Sandbox);
    let mut bearer = record(Environment::Sandbox, KeyMode::Bearer, &key);
    // Minted before the rule: every scope.
    bearer.scopes = ScopeSet::all();
    let mut credentials = bearer_credentials(&key);
    credentials.signature = Some("00".repeat(32));
    let mut keys = MockApiKeyStore::new();
    let found = stored(bearer);
    let f = found.clone();
    keys.expect_find_with_tenant()
        .returning(move |_| Ok(with_tenant(&f)));
    keys.expect_record_signature().never();
    let svc = service(keys);
    let failure = svc
        .authenticate_with_tenant(&credentials, &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
    assert_eq!(failure.reason, "signature sent with a bearer key");

    let (caller, _) = svc
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap();
    assert_eq!(caller.scopes, ScopeSet::bearer_default());
    for scope in Scope::SIGNED_ONLY {
        let refused = caller.require(scope).unwrap_err();
        assert!(refused.to_string().contains("bearer keys never move money"));
    }
}

#[tokio::test]
async fn an_ed25519_key_whose_public_key_is_bound_elsewhere_is_denied() {
    let key = key_string(Environment::Live);
    let found = stored(record(Environment::Live, KeyMode::Ed25519, &key));
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .returning(move |_| Ok(with_tenant(&found)));
    keys.expect_ed25519_binding_holds().returning(|_| Ok(false));
    keys.expect_record_signature().never();
    let failure = service(keys)
        .authenticate_with_tenant(&ed25519_credentials(&key, &timestamp(0), BODY), &request())
        .await
        .unwrap_err();
    assert_denied_without_hint(&failure);
    assert_eq!(
        failure.reason,
        "ed25519 public key bound to another environment or tenant"
    );
}

// ---- the key and its tenant in one read ------------------------------------------

#[tokio::test]
async fn one_read_finds_a_bearer_key_by_hash_with_its_tenant() {
    let key = key_string(Environment::Live);
    let svc = service(keys_with_tenant(
        KeyLookup::Hash(hash_key(&key)),
        stored(record(Environment::Live, KeyMode::Bearer, &key)),
        TenantStatus::Approved,
    ));
    let (caller, tenant) = svc
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap();
    assert_eq!(caller, expected_caller(Environment::Live));
    assert_eq!(tenant, acme(TenantStatus::Approved));
    AuthService::gate(&caller, &tenant).unwrap();
}

#[tokio::test]
async fn one_read_finds_an_hmac_key_by_id_with_its_tenant() {
    let key = key_string(Environment::Sandbox);
    let found = stored(record(Environment::Sandbox, KeyMode::Hmac, &key));
    let svc = service(keys_with_tenant(
        KeyLookup::Id(key_id()),
        found.clone(),
        TenantStatus::Pending,
    ));
    let credentials = hmac_credentials(&key_id().to_string(), &timestamp(5), BODY);
    let (caller, tenant) = svc
        .authenticate_with_tenant(&credentials, &request())
        .await
        .unwrap();
    assert_eq!(caller, expected_caller(Environment::Sandbox));
    // Pending: the sandbox is open.
    AuthService::gate(&caller, &tenant).unwrap();

    // The signature is still checked: a bad one is refused.
    let svc = service(keys_with_tenant(
        KeyLookup::Id(key_id()),
        found,
        TenantStatus::Pending,
    ));
    let mut forged = credentials;
    forged.signature = Some("00".repeat(32));
    let failure = svc
        .authenticate_with_tenant(&forged, &request())
        .await
        .unwrap_err();
    assert_eq!(failure.reason, "bad signature");
}

#[tokio::test]
async fn one_read_refuses_unknown_keys_and_reports_store_trouble() {
    let key = key_string(Environment::Live);
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .times(1)
        .returning(|_| Err(StoreError::NotFound));
    let failure = service(keys)
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap_err();
    assert_eq!(failure.reason, "unknown key");
    assert!(!failure.unavailable);

    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant()
        .times(1)
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    let failure = service(keys)
        .authenticate_with_tenant(&bearer_credentials(&key), &request())
        .await
        .unwrap_err();
    assert!(failure.unavailable);

    // No environment prefix: refused before any read.
    let mut keys = MockApiKeyStore::new();
    keys.expect_find_with_tenant().never();
    let failure = service(keys)
        .authenticate_with_tenant(&bearer_credentials("nokey"), &request())
        .await
        .unwrap_err();
    assert_eq!(failure.reason, "key has no environment prefix");
}

#[test]
fn the_gate_over_a_tenant_read_with_the_key_is_the_approval_gate() {
    let live = caller_in(Environment::Live);
    let sandbox = caller_in(Environment::Sandbox);
    let err = AuthService::gate(&live, &acme(TenantStatus::Pending)).unwrap_err();
    assert_eq!(err.code(), "tenant_not_approved");
    AuthService::gate(&sandbox, &acme(TenantStatus::Pending)).unwrap();
    for caller in [&live, &sandbox] {
        AuthService::gate(caller, &acme(TenantStatus::Approved)).unwrap();
        let err = AuthService::gate(caller, &acme(TenantStatus::Suspended)).unwrap_err();
        assert_eq!(err.code(), "tenant_suspended");
        assert_eq!(err.kind(), ErrorKind::Forbidden);
    }
}
