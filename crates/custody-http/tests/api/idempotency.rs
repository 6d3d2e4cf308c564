//! Idempotency (ARCHITECTURE §6) on Connect's `POST /connect/v1/addresses`: the header is
//! required and parsed before authentication; same key and same request (canonical JSON)
//! replays byte for byte with `Idempotency-Replayed: true`; a different request is 409
//! `idempotency_conflict`; records are scoped to (environment, tenant, key); requests that
//! never ran store nothing; concurrent duplicates either replay or get 409
//! `idempotency_key_in_flight` with `Retry-After`, and the change happens once.
//!
//! Not covered: "a 5xx stores nothing and releases the key". The harness has no way to make
//! the live provider or the store fail on demand (the `CountingProvider` always mints), and
//! this suite adds no server hooks.

use std::sync::atomic::{AtomicUsize, Ordering};

use custody_core::api_key::{KeyMode, Scope};
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::tenant::TenantStatus;
use futures::future::join_all;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, parts, spawn_app, Engine, Key, KeySpec, TestApp};
use crate::on_both_stores;

const ADDRESSES: &str = "/connect/v1/addresses";
const BODY: &str = r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#;

fn idem() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("idem-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

type Parts = (u16, HeaderMap, Vec<u8>, Value);

async fn post_with(app: &TestApp, key: &Key, body: &str, idempotency_key: &str) -> Parts {
    parts(
        app.request(key, Method::POST, ADDRESSES, Some(body))
            .idempotency_key(idempotency_key)
            .send()
            .await,
    )
    .await
}

fn replayed(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("idempotency-replayed")
        .and_then(|v| v.to_str().ok())
}

async fn address_count(app: &TestApp, key: &Key) -> usize {
    let (status, _, _, body) = parts(
        app.request(key, Method::GET, &format!("{ADDRESSES}?limit=200"), None)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().map_or(0, Vec::len)
}

/// Sends a Connect POST through the raw client with an arbitrary header value, for bytes the
/// request builder's `&str` header cannot carry.
async fn post_raw_key(app: &TestApp, key: &Key, value: HeaderValue) -> reqwest::Response {
    app.client
        .post(format!("{}{ADDRESSES}", app.address))
        .header("Authorization", format!("Bearer {}", key.key()))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", value)
        .body(BODY)
        .send()
        .await
        .expect("sent")
}

/// An approved tenant with sandbox and live bearer keys and `USDT_ETHEREUM` enabled live.
async fn approved_tenant_keys(app: &TestApp) -> (Key, Key) {
    let tenant = app.tenant(TenantStatus::Approved).await;
    app.admin
        .set_asset(
            tenant,
            Environment::Live,
            AssetId::parse("USDT_ETHEREUM").expect("asset"),
            true,
        )
        .await
        .expect("enable live asset");
    let sandbox = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    (sandbox, live)
}

// ---------------------------------------------------------------------------------------------
// The header
// ---------------------------------------------------------------------------------------------

async fn a_missing_key_is_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(BODY))
        .send()
        .await;
    let body = assert_error(
        response,
        400,
        "invalid_request_error",
        "idempotency_key_required",
    )
    .await;
    assert_eq!(body["error"]["fieldErrors"][0]["field"], "Idempotency-Key");
    assert_eq!(address_count(&app, &key).await, 0);
}

async fn a_malformed_key_is_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let too_long = "k".repeat(256);
    for bad in ["", too_long.as_str(), "tab\there"] {
        let (status, _, _, body) = post_with(&app, &key, BODY, bad).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_idempotency_key", "{bad:?}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    // Bytes outside printable ASCII (UTF-8 "é", DEL-free obs-text).
    for raw in [&b"caf\xc3\xa9"[..], &b"\xff\xfe"[..]] {
        let value = HeaderValue::from_bytes(raw).expect("obs-text header value");
        let response = post_raw_key(&app, &key, value).await;
        assert_error(
            response,
            400,
            "invalid_request_error",
            "invalid_idempotency_key",
        )
        .await;
    }
    assert_eq!(address_count(&app, &key).await, 0, "nothing ran");

    // The edges that are valid: 1 and 255 characters, printable punctuation and inner spaces.
    let max = "k".repeat(255);
    for (good, user) in [
        ("k", "a"),
        (max.as_str(), "b"),
        ("a b~!@#$%^&*()_+{}|:\"<>?`-=[]\\;',./", "c"),
    ] {
        let body =
            json!({"asset": "USDT", "network": "ethereum", "external_ref": user}).to_string();
        let (status, _, _, body) = post_with(&app, &key, &body, good).await;
        assert_eq!(status, 201, "{good:?}: {body}");
    }
}

async fn the_header_is_checked_before_authentication(engine: Engine) {
    let app = spawn_app(engine).await;
    let bogus = "Bearer sk_test_doesnotexist";
    // Malformed key + bad credentials: the header's 400, not a 401.
    let response = app
        .anonymous(Method::POST, ADDRESSES, Some(BODY))
        .header("Authorization", bogus)
        .idempotency_key("")
        .send()
        .await;
    assert_error(
        response,
        400,
        "invalid_request_error",
        "invalid_idempotency_key",
    )
    .await;
    // Missing key + bad credentials, and + no credentials at all.
    let response = app
        .anonymous(Method::POST, ADDRESSES, Some(BODY))
        .header("Authorization", bogus)
        .send()
        .await;
    assert_error(
        response,
        400,
        "invalid_request_error",
        "idempotency_key_required",
    )
    .await;
    let response = app
        .anonymous(Method::POST, ADDRESSES, Some(BODY))
        .send()
        .await;
    assert_error(
        response,
        400,
        "invalid_request_error",
        "idempotency_key_required",
    )
    .await;
    // A valid key + bad credentials: now authentication answers.
    let response = app
        .anonymous(Method::POST, ADDRESSES, Some(BODY))
        .header("Authorization", bogus)
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(
        response,
        401,
        "authentication_error",
        "authentication_failed",
    )
    .await;

    // …and before the approval gate: a pending tenant's live key with no header is a 400,
    // with a header a 403.
    let tenant = app.tenant(TenantStatus::Pending).await;
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let response = app
        .request(&live, Method::POST, ADDRESSES, Some(BODY))
        .send()
        .await;
    assert_error(
        response,
        400,
        "invalid_request_error",
        "idempotency_key_required",
    )
    .await;
    let response = app
        .request(&live, Method::POST, ADDRESSES, Some(BODY))
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "tenant_not_approved").await;
    // …and before the body is read: a malformed body with no header is still the header's 400.
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some("{not json"))
        .send()
        .await;
    assert_error(
        response,
        400,
        "invalid_request_error",
        "idempotency_key_required",
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Replay and conflict
// ---------------------------------------------------------------------------------------------

async fn same_key_same_body_replays_byte_for_byte(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let k = idem();
    let (status, headers, raw, first) = post_with(&app, &key, BODY, &k).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        replayed(&headers),
        None,
        "the original response is not marked as a replay"
    );
    for _ in 0..3 {
        let (again, again_headers, again_raw, _) = post_with(&app, &key, BODY, &k).await;
        assert_eq!(again, 201, "the original status");
        assert_eq!(again_raw, raw, "byte-identical body");
        assert_eq!(replayed(&again_headers), Some("true"));
        assert_eq!(
            again_headers.get("content-type"),
            headers.get("content-type"),
            "stored headers are replayed"
        );
        assert_ne!(
            again_headers.get("x-request-id"),
            headers.get("x-request-id"),
            "a replay is still a new request"
        );
    }
    assert_eq!(address_count(&app, &key).await, 1);

    // Records belong to the tenant, not to the API key: a second key of the same tenant (e.g.
    // after a rotation) is served the same record.
    let second_key = app
        .key(
            key.minted.record.tenant_id,
            KeySpec::sandbox(KeyMode::Bearer),
        )
        .await;
    let (status, headers, again, _) = post_with(&app, &second_key, BODY, &k).await;
    assert_eq!(status, 201);
    assert_eq!(replayed(&headers), Some("true"));
    assert_eq!(again, raw);

    // A 200 (the address already existed) replays as a 200.
    let k2 = idem();
    let (status, _, raw200, _) = post_with(&app, &key, BODY, &k2).await;
    assert_eq!(status, 200);
    let (status, headers, again, _) = post_with(&app, &key, BODY, &k2).await;
    assert_eq!(status, 200);
    assert_eq!(replayed(&headers), Some("true"));
    assert_eq!(again, raw200);
}

async fn reordered_and_reformatted_json_is_the_same_request(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let k = idem();
    let (status, _, raw, _) = post_with(&app, &key, BODY, &k).await;
    assert_eq!(status, 201);
    for variant in [
        r#"{"external_ref":"user-1","network":"ethereum","asset":"USDT"}"#,
        "{\n  \"network\" : \"ethereum\",\n\t\"asset\":\"USDT\" ,  \"external_ref\": \"user-1\"\n}\n",
        r#"{"asset":"\u0055SDT","network":"ethereum","external_ref":"user-1"}"#,
    ] {
        let (status, headers, again, body) = post_with(&app, &key, variant, &k).await;
        assert_eq!(status, 201, "{variant}: {body}");
        assert_eq!(replayed(&headers), Some("true"), "{variant}");
        assert_eq!(again, raw, "{variant}");
    }
}

async fn same_key_different_request_is_409(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let k = idem();
    let (status, _, raw, _) = post_with(&app, &key, BODY, &k).await;
    assert_eq!(status, 201);
    for different in [
        r#"{"asset":"USDT","network":"ethereum","external_ref":"user-2"}"#,
        r#"{"asset":"USDC","network":"ethereum","external_ref":"user-1"}"#,
        r#"{"asset":"USDT","network":"ethereum"}"#,
        r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1","label":"x"}"#,
        // Semantically the same asset, but a different value: a different request.
        r#"{"asset":"usdt","network":"ethereum","external_ref":"user-1"}"#,
    ] {
        let response = app
            .request(&key, Method::POST, ADDRESSES, Some(different))
            .idempotency_key(&k)
            .send()
            .await;
        let body = assert_error(response, 409, "conflict_error", "idempotency_conflict").await;
        assert_eq!(body["error"]["retryable"], false, "{different}");
    }
    // Another endpoint of the same tenant and environment with the same key: a different
    // request too (records are per tenant, not per endpoint).
    let tenant = key.minted.record.tenant_id;
    let hmac = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    let response = app
        .request(
            &hmac,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"v1"}"#),
        )
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "idempotency_conflict").await;
    // The conflicts changed nothing: the original still replays, and only its address exists.
    let (status, headers, again, _) = post_with(&app, &key, BODY, &k).await;
    assert_eq!(status, 201);
    assert_eq!(replayed(&headers), Some("true"));
    assert_eq!(again, raw);
    assert_eq!(address_count(&app, &key).await, 1);
}

// ---------------------------------------------------------------------------------------------
// Scope of records
// ---------------------------------------------------------------------------------------------

async fn another_tenant_has_its_own_keys(engine: Engine) {
    let app = spawn_app(engine).await;
    let a = app.sandbox_key(KeyMode::Bearer).await;
    let b = app.sandbox_key(KeyMode::Bearer).await;
    let k = "shared-key-1";
    let (status_a, headers_a, _, body_a) = post_with(&app, &a, BODY, k).await;
    let (status_b, headers_b, _, body_b) = post_with(&app, &b, BODY, k).await;
    assert_eq!((status_a, status_b), (201, 201), "{body_a} {body_b}");
    assert_eq!(replayed(&headers_a), None);
    assert_eq!(
        replayed(&headers_b),
        None,
        "tenant B is not served tenant A's response"
    );
    assert_ne!(body_a["id"], body_b["id"]);
    assert_ne!(body_a["address"], body_b["address"]);
    // A different body under the same key in tenant B is not a conflict with tenant A.
    let c = app.sandbox_key(KeyMode::Bearer).await;
    let other = r#"{"asset":"USDC","network":"solana"}"#;
    let (status, _, _, body) = post_with(&app, &c, other, k).await;
    assert_eq!(status, 201, "{body}");
    // Each tenant's record replays its own response.
    let (_, headers, _, again_b) = post_with(&app, &b, BODY, k).await;
    assert_eq!(replayed(&headers), Some("true"));
    assert_eq!(again_b, body_b);
}

async fn sandbox_and_live_have_their_own_keys(engine: Engine) {
    let app = spawn_app(engine).await;
    let (sandbox, live) = approved_tenant_keys(&app).await;
    let k = "same-key-both-environments";
    let (status_s, headers_s, _, body_s) = post_with(&app, &sandbox, BODY, k).await;
    assert_eq!(status_s, 201, "{body_s}");
    assert_eq!(replayed(&headers_s), None);
    assert_eq!(app.live_provider.mints(), 0);
    let (status_l, headers_l, _, body_l) = post_with(&app, &live, BODY, k).await;
    assert_eq!(status_l, 201, "{body_l}");
    assert_eq!(
        replayed(&headers_l),
        None,
        "live is not served the sandbox's record"
    );
    assert_eq!(app.live_provider.mints(), 1, "live really ran");
    assert_ne!(body_s["id"], body_l["id"]);
    // And a different body under that key in live is not a conflict with the sandbox record
    // (nor is the sandbox one with live's).
    let other = r#"{"asset":"USDT","network":"ethereum"}"#;
    let k2 = "second-shared";
    let (status, _, _, body) = post_with(&app, &sandbox, BODY, k2).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, _, body) = post_with(&app, &live, other, k2).await;
    assert_eq!(status, 201, "{body}");
    // Each environment replays its own.
    let (_, headers, _, again) = post_with(&app, &sandbox, BODY, k).await;
    assert_eq!(replayed(&headers), Some("true"));
    assert_eq!(again, body_s);
    let (_, headers, _, again) = post_with(&app, &live, BODY, k).await;
    assert_eq!(replayed(&headers), Some("true"));
    assert_eq!(again, body_l);
}

// ---------------------------------------------------------------------------------------------
// Requests that did not run store nothing
// ---------------------------------------------------------------------------------------------

async fn a_refused_request_stores_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;

    // Refused while reading the body (unknown field, 422), then corrected under the same key.
    let k = idem();
    let typo = r#"{"asset":"USDT","netwrok":"ethereum","external_ref":"user-1"}"#;
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(typo))
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "unknown_field").await;
    let (status, headers, _, body) = post_with(&app, &key, BODY, &k).await;
    assert_eq!(status, 201, "the corrected request runs: {body}");
    assert_eq!(replayed(&headers), None);

    // Malformed JSON (400), then a valid body.
    let k = idem();
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some("{\"asset\":"))
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(response, 400, "invalid_request_error", "malformed_json").await;
    let second = r#"{"asset":"USDC","network":"ethereum","external_ref":"user-1"}"#;
    let (status, _, _, body) = post_with(&app, &key, second, &k).await;
    assert_eq!(status, 201, "{body}");

    // Refused by the service (asset not enabled, 422), then the same body once enabled.
    let tenant = key.minted.record.tenant_id;
    let usdc_sol = AssetId::parse("USDC_SOLANA").expect("asset");
    app.admin
        .set_asset(tenant, Environment::Sandbox, usdc_sol, false)
        .await
        .expect("disable");
    let k = idem();
    let disabled = r#"{"asset":"USDC","network":"solana","external_ref":"user-1"}"#;
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(disabled))
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "asset_not_enabled").await;
    // Retried at once with the same body: refused again (not replayed, not in flight).
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(disabled))
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "asset_not_enabled").await;
    app.admin
        .set_asset(tenant, Environment::Sandbox, usdc_sol, true)
        .await
        .expect("enable");
    let (status, headers, _, body) = post_with(&app, &key, disabled, &k).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(replayed(&headers), None);

    // Refused for a missing scope (403), then a different body under the same key with a
    // key of the same tenant that has the scope: the 403 left no record to conflict with.
    let read_only = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).scopes(&[Scope::AddressesRead]),
        )
        .await;
    let k = idem();
    let response = app
        .request(&read_only, Method::POST, ADDRESSES, Some(BODY))
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let third = r#"{"asset":"XAUT","network":"ethereum","external_ref":"user-1"}"#;
    let (status, _, _, body) = post_with(&app, &key, third, &k).await;
    assert_eq!(status, 201, "{body}");

    // A failed authentication under a key leaves nothing either.
    let k = idem();
    let response = app
        .anonymous(Method::POST, ADDRESSES, Some(BODY))
        .header("Authorization", "Bearer sk_test_nobody")
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(
        response,
        401,
        "authentication_error",
        "authentication_failed",
    )
    .await;
    let fourth = r#"{"asset":"USDT","network":"solana","external_ref":"user-1"}"#;
    let (status, _, _, body) = post_with(&app, &key, fourth, &k).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(address_count(&app, &key).await, 5);
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

async fn concurrent_duplicates_run_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let k = idem();
    let responses = join_all((0..20).map(|_| post_with(&app, &key, BODY, &k))).await;

    let mut created: Option<Vec<u8>> = None;
    let mut originals = 0;
    let mut replays = 0;
    let mut in_flight = 0;
    for (status, headers, raw, body) in &responses {
        match status {
            201 => {
                match &created {
                    None => created = Some(raw.clone()),
                    Some(first) => assert_eq!(raw, first, "every 201 is the same bytes"),
                }
                if replayed(headers) == Some("true") {
                    replays += 1;
                } else {
                    originals += 1;
                }
            }
            409 => {
                assert_eq!(body["error"]["code"], "idempotency_key_in_flight", "{body}");
                assert_eq!(body["error"]["type"], "conflict_error");
                assert_eq!(body["error"]["retryable"], true);
                let retry_after = headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .expect("Retry-After on an in-flight 409");
                assert!(
                    retry_after.parse::<u32>().is_ok_and(|s| s >= 1),
                    "{retry_after}"
                );
                in_flight += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        originals, 1,
        "exactly one request ran ({replays} replays, {in_flight} in flight)"
    );
    assert_eq!(originals + replays + in_flight, 20);
    assert_eq!(address_count(&app, &key).await, 1);
    // Afterwards the key replays for everyone.
    let (status, headers, raw, _) = post_with(&app, &key, BODY, &k).await;
    assert_eq!(status, 201);
    assert_eq!(replayed(&headers), Some("true"));
    assert_eq!(Some(raw), created);
}

async fn concurrent_conflicting_bodies_under_one_key(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let k = idem();
    let bodies: Vec<String> = (0..10)
        .map(|i| {
            json!({"asset": "USDT", "network": "ethereum", "external_ref": format!("u{i}")})
                .to_string()
        })
        .collect();
    let responses = join_all(bodies.iter().map(|b| post_with(&app, &key, b, &k))).await;
    let mut ran = 0;
    for (status, _, _, body) in &responses {
        match status {
            201 => ran += 1,
            409 => assert!(
                body["error"]["code"] == "idempotency_conflict"
                    || body["error"]["code"] == "idempotency_key_in_flight",
                "{body}"
            ),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ran, 1, "one key runs one request");
    assert_eq!(address_count(&app, &key).await, 1);
}

/// A replay answers from the record without running the use case, so the endpoint's scope is
/// checked first: a second key of the tenant without `addresses:write` (or `vaults:write`)
/// cannot read what another key created by replaying its Idempotency-Key.
async fn a_replay_still_needs_the_scope(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let writer = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).scopes(&[Scope::AddressesRead, Scope::VaultsRead]),
        )
        .await;
    let body = r#"{"asset":"USDT","network":"ethereum","external_ref":"scoped"}"#;
    let first = app
        .request(&writer, Method::POST, ADDRESSES, Some(body))
        .idempotency_key("scoped-replay")
        .send()
        .await;
    assert_eq!(first.status().as_u16(), 201);
    let replay = app
        .request(&reader, Method::POST, ADDRESSES, Some(body))
        .idempotency_key("scoped-replay")
        .send()
        .await;
    assert_error(replay, 403, "authorization_error", "missing_scope").await;

    let hmac_writer = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    let hmac_reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::VaultsRead]),
        )
        .await;
    let vault = r#"{"externalId":"scoped-vault"}"#;
    let created = app
        .request(&hmac_writer, Method::POST, "/v1/vaults", Some(vault))
        .idempotency_key("scoped-vault")
        .send()
        .await;
    assert_eq!(created.status().as_u16(), 201);
    let replay = app
        .request(&hmac_reader, Method::POST, "/v1/vaults", Some(vault))
        .idempotency_key("scoped-vault")
        .send()
        .await;
    assert_error(replay, 403, "authorization_error", "missing_scope").await;
}

/// A reservation left in flight by a process that died is taken over after the lease (5 min),
/// not after the 24 h retention; a younger one still answers 409 in flight.
async fn an_abandoned_reservation_is_taken_over_after_the_lease(engine: Engine) {
    use custody_core::idempotency::{Fingerprint, IdempotencyKey, RETENTION};
    use custody_core::ports::Clock as _;
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let tenant = key.minted.record.tenant_id;
    let store = app.store.environment(Environment::Sandbox).idempotency;
    let now = custody_http::system::SystemClock.now();
    let body = r#"{"asset":"USDT","network":"ethereum","external_ref":"crashed"}"#;
    let fingerprint = Fingerprint::of("POST", ADDRESSES, body.as_bytes());
    for (name, age_minutes) in [("crashed-long-ago", 6), ("still-running", 1)] {
        let started = now - time::Duration::minutes(age_minutes);
        store
            .reserve(
                tenant,
                &IdempotencyKey::parse(name.as_bytes()).expect("key"),
                &fingerprint,
                started,
                started + RETENTION,
                None,
            )
            .await
            .expect("reserve");
    }
    let taken_over = app
        .request(&key, Method::POST, ADDRESSES, Some(body))
        .idempotency_key("crashed-long-ago")
        .send()
        .await;
    assert_eq!(taken_over.status().as_u16(), 201);
    let young = app
        .request(&key, Method::POST, ADDRESSES, Some(body))
        .idempotency_key("still-running")
        .send()
        .await;
    assert_error(young, 409, "conflict_error", "idempotency_key_in_flight").await;
}

/// The crash drill's defect (issue 14): a request cut by a SIGKILL left its key in flight,
/// and the partner's retry got 409 `idempotency_key_in_flight` for the 5-minute lease. A
/// reservation names the instance that made it; once that instance has stopped heartbeating
/// (`instance::HEARTBEAT_TIMEOUT`) the retry runs at once. A live instance's reservation of
/// the same age still answers 409 in flight.
async fn a_dead_instances_reservation_is_taken_by_the_retry_within_seconds(engine: Engine) {
    use custody_core::idempotency::{Fingerprint, IdempotencyKey, RETENTION};
    use custody_core::instance::{InstanceId, HEARTBEAT_TIMEOUT};
    use custody_core::ports::Clock as _;
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let tenant = key.minted.record.tenant_id;
    let store = app.store.environment(Environment::Sandbox).idempotency;
    let instances = app.store.shared().instances;
    let now = custody_http::system::SystemClock.now();
    let body = r#"{"asset":"USDT","network":"ethereum","external_ref":"killed"}"#;
    let fingerprint = Fingerprint::of("POST", ADDRESSES, body.as_bytes());
    // Both requests started seconds ago; the instance of one was killed then (its last
    // heartbeat), the other's is still beating.
    let started = now - HEARTBEAT_TIMEOUT - time::Duration::seconds(1);
    let killed = InstanceId::parse("serve-1-killed").expect("id");
    let alive = InstanceId::parse("serve-2-alive").expect("id");
    instances.heartbeat(&killed, started).await.expect("beat");
    instances.heartbeat(&alive, started).await.expect("beat");
    instances.heartbeat(&alive, now).await.expect("beat");
    for (name, owner) in [("cut-by-the-kill", &killed), ("still-running", &alive)] {
        store
            .reserve(
                tenant,
                &IdempotencyKey::parse(name.as_bytes()).expect("key"),
                &fingerprint,
                started,
                started + RETENTION,
                Some(owner.clone()),
            )
            .await
            .expect("reserve");
    }
    let retried = app
        .request(&key, Method::POST, ADDRESSES, Some(body))
        .idempotency_key("cut-by-the-kill")
        .send()
        .await;
    assert_eq!(retried.status().as_u16(), 201, "the retry runs");
    let replayed = app
        .request(&key, Method::POST, ADDRESSES, Some(body))
        .idempotency_key("cut-by-the-kill")
        .send()
        .await;
    assert_eq!(replayed.status().as_u16(), 201);
    assert_eq!(replayed.headers()["idempotency-replayed"], "true");
    let young = app
        .request(&key, Method::POST, ADDRESSES, Some(body))
        .idempotency_key("still-running")
        .send()
        .await;
    assert_error(young, 409, "conflict_error", "idempotency_key_in_flight").await;
}

on_both_stores!(
    a_replay_still_needs_the_scope,
    an_abandoned_reservation_is_taken_over_after_the_lease,
    a_dead_instances_reservation_is_taken_by_the_retry_within_seconds,
    a_missing_key_is_400,
    a_malformed_key_is_400,
    the_header_is_checked_before_authentication,
    same_key_same_body_replays_byte_for_byte,
    reordered_and_reformatted_json_is_the_same_request,
    same_key_different_request_is_409,
    another_tenant_has_its_own_keys,
    sandbox_and_live_have_their_own_keys,
    a_refused_request_stores_nothing,
    concurrent_duplicates_run_once,
    concurrent_conflicting_bodies_under_one_key,
);
