//! Authentication over HTTP (ARCHITECTURE §5) with real signing: bearer keys, HMAC-SHA256
//! (Platform) and Ed25519 (Accounts), their timestamp windows, the sandbox signature debugger,
//! scopes, IP allow-lists and trusted proxies, on both stores.
//!
//! Tampered requests are built by hand here (`raw`): the harness's `Request::header` appends,
//! so it cannot replace a signing header.

use std::time::Duration;

use base64::Engine as _;
use custody_core::api_key::{KeyMode, Scope};
use custody_core::tenant::TenantStatus;
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::{Method, Response};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{
    assert_error, ed25519_signature, hmac_signature, now, parts, spawn_app, spawn_app_with, Engine,
    Key, KeySpec, Options, TestApp,
};
use crate::on_both_stores;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A request built by hand: exactly these headers, this body.
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
) -> Response {
    let mut builder = app
        .client
        .request(method, format!("{}{}", app.address, path));
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    if let Some(body) = body {
        builder = builder
            .header("Content-Type", "application/json")
            .body(body.to_owned());
    }
    builder
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"))
}

fn secret(key: &Key) -> &str {
    key.minted
        .hmac_secret
        .as_deref()
        .unwrap_or_else(|| panic!("not an hmac key"))
}

/// HMAC headers signing `signed_path` and `signed_body` (which may differ from what is sent).
fn hmac_headers(
    key: &str,
    secret: &str,
    ts: i64,
    method: &str,
    signed_path: &str,
    signed_body: &str,
) -> Vec<(&'static str, String)> {
    let ts = ts.to_string();
    vec![
        ("X-API-Key", key.to_owned()),
        ("X-Timestamp", ts.clone()),
        (
            "X-Signature",
            hmac_signature(secret, &ts, method, signed_path, signed_body.as_bytes()),
        ),
    ]
}

/// Ed25519 headers with `signature` as given.
fn ed_headers(key: &Key, ts: i64, signature: String) -> Vec<(&'static str, String)> {
    vec![
        ("Authorization", format!("Bearer {}", key.key())),
        ("X-Timestamp", ts.to_string()),
        ("X-Signature", signature),
    ]
}

fn signing_key(key: &Key) -> &SigningKey {
    key.signing
        .as_ref()
        .unwrap_or_else(|| panic!("not an ed25519 key"))
}

/// Asserts the one 401 every authentication failure gets; returns the error object.
async fn assert_unauthenticated(response: Response) -> Value {
    let body = assert_error(
        response,
        401,
        "authentication_error",
        "authentication_failed",
    )
    .await;
    let error = body["error"].clone();
    assert_eq!(
        error["message"], "the request could not be authenticated",
        "{body}"
    );
    assert_eq!(error["retryable"], false, "{body}");
    assert!(
        error.get("fieldErrors").is_none(),
        "no hint which part failed: {body}"
    );
    error
}

/// Waits until just after a second boundary when the current second is well under way.
async fn start_of_second() {
    let nanos = {
        use custody_core::ports::Clock as _;
        custody_http::system::SystemClock.now().nanosecond()
    };
    if nanos > 300_000_000 {
        tokio::time::sleep(Duration::from_nanos(
            u64::from(1_000_000_000 - nanos) + 20_000_000,
        ))
        .await;
    }
}

/// Sends a GET signed `offset` seconds away from now and returns (status, body), judged within
/// one unix second: a request during which the clock ticked over is sent again, so window
/// edges are exact even on a loaded machine.
async fn at_offset(app: &TestApp, key: &Key, path: &str, offset: i64) -> (u16, Value) {
    for _ in 0..10 {
        start_of_second().await;
        let before = now();
        let response = app
            .request(key, Method::GET, path, None)
            .at(before + offset)
            .send()
            .await;
        let (status, _, _, body) = parts(response).await;
        if now() == before {
            return (status, body);
        }
    }
    panic!("could not send a request within one second");
}

/// A USDC_ETHEREUM account of `platform`'s tenant; returns its id.
async fn account(app: &TestApp, platform: &Key) -> String {
    let (status, _, _, vault) = parts(
        app.request(
            platform,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"acct"}"#),
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    let (status, _, _, wallet) = parts(
        app.request(
            platform,
            Method::POST,
            &format!(
                "/v1/vaults/{}/wallets",
                vault["id"].as_str().unwrap_or_default()
            ),
            Some(r#"{"assetId":"USDC_ETHEREUM"}"#),
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{wallet}");
    wallet["id"].as_str().unwrap_or_default().to_owned()
}

fn sha256_hex(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// Bearer
// ---------------------------------------------------------------------------------------------

async fn bearer_with_or_without_the_scheme(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for value in [
        format!("Bearer {}", key.key()),
        format!("bearer {}", key.key()),
        key.key().to_owned(),
        format!("  Bearer   {}  ", key.key()),
    ] {
        let response = raw(
            &app,
            Method::GET,
            "/connect/v1/addresses",
            &[("Authorization", value.clone())],
            None,
        )
        .await;
        let (status, headers, _, body) = parts(response).await;
        assert_eq!(status, 200, "{value:?}: {body}");
        assert!(headers.contains_key("x-request-id"));
    }
    for value in [
        format!("Basic {}", key.key()),
        format!("Bearer{}", key.key()),
        String::new(),
        "Bearer".to_owned(),
    ] {
        let response = raw(
            &app,
            Method::GET,
            "/connect/v1/addresses",
            &[("Authorization", value)],
            None,
        )
        .await;
        assert_unauthenticated(response).await;
    }
    let response = raw(&app, Method::GET, "/connect/v1/addresses", &[], None).await;
    assert_unauthenticated(response).await;
}

/// Unknown, revoked, expired and wrong-environment keys are one and the same 401.
async fn every_bad_key_is_the_same_401(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Approved).await;
    let mut errors = Vec::new();
    let mut check = |error: Value| {
        assert!(error.get("signatureDebug").is_none(), "{error}");
        errors.push((
            error["code"].clone(),
            error["message"].clone(),
            error["type"].clone(),
        ));
    };

    // Unknown keys, of both environments, and garbage.
    for unknown in [
        "sk_test_11111111111111111111111111111111".to_owned(),
        "sk_live_11111111111111111111111111111111".to_owned(),
        "sk_test_".to_owned(),
        "hello".to_owned(),
    ] {
        let response = app
            .anonymous(Method::GET, "/connect/v1/addresses", None)
            .header("Authorization", &format!("Bearer {unknown}"))
            .send()
            .await;
        check(assert_unauthenticated(response).await);
    }

    // Revoked.
    let revoked = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let ok = app
        .request(&revoked, Method::GET, "/connect/v1/addresses", None)
        .send()
        .await;
    assert_eq!(ok.status(), 200);
    app.admin
        .revoke_key(revoked.minted.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = app
        .request(&revoked, Method::GET, "/connect/v1/addresses", None)
        .send()
        .await;
    check(assert_unauthenticated(response).await);
    let response = app
        .request(
            &revoked,
            Method::POST,
            "/connect/v1/addresses",
            Some(r#"{"asset":"USDT","network":"ethereum"}"#),
        )
        .idempotency_key("revoked-1")
        .send()
        .await;
    check(assert_unauthenticated(response).await);

    // The right key under the other environment's prefix, both ways.
    for (spec, from, to) in [
        (KeySpec::sandbox(KeyMode::Bearer), "sk_test_", "sk_live_"),
        (KeySpec::live(KeyMode::Bearer), "sk_live_", "sk_test_"),
    ] {
        let key = app.key(tenant, spec).await;
        let ok = app
            .request(&key, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await;
        assert_eq!(ok.status(), 200, "{from} key works as minted");
        let swapped = key.key().replacen(from, to, 1);
        let response = app
            .anonymous(Method::GET, "/connect/v1/addresses", None)
            .header("Authorization", &format!("Bearer {swapped}"))
            .send()
            .await;
        check(assert_unauthenticated(response).await);
    }

    // Expired: rotated with no grace.
    let expired = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    app.admin
        .rotate_key(expired.minted.record.id, time::Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = app
        .request(&expired, Method::GET, "/connect/v1/addresses", None)
        .send()
        .await;
    check(assert_unauthenticated(response).await);

    // A revoked signing key with a perfect signature.
    let hmac = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    app.admin
        .revoke_key(hmac.minted.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let response = app
        .request(&hmac, Method::GET, "/v1/assets", None)
        .send()
        .await;
    check(assert_unauthenticated(response).await);

    let first = errors[0].clone();
    assert!(
        errors.iter().all(|e| *e == first),
        "no hint which part failed: {errors:?}"
    );
}

async fn rotated_keys_overlap_for_the_grace_period(engine: Engine) {
    let app = spawn_app(engine).await;
    let old = app.sandbox_key(KeyMode::Bearer).await;
    let minted = app
        .admin
        .rotate_key(old.minted.record.id, time::Duration::hours(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let new = Key {
        minted,
        signing: None,
    };
    assert_ne!(new.key(), old.key());
    for key in [&old, &new] {
        let (status, _, _, body) = parts(
            app.request(key, Method::GET, "/connect/v1/addresses", None)
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    // Both act for the same tenant: what one creates, the other sees.
    let (status, _, _, created) = parts(
        app.request(
            &old,
            Method::POST,
            "/connect/v1/addresses",
            Some(r#"{"asset":"USDT","network":"ethereum","external_ref":"rot"}"#),
        )
        .idempotency_key("rot-1")
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (_, _, _, list) = parts(
        app.request(&new, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(list["items"][0]["id"], created["id"], "{list}");
    // Revoking the old one ends the overlap early; the successor keeps working.
    app.admin
        .revoke_key(old.minted.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_unauthenticated(
        app.request(&old, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(
        app.request(&new, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await
            .status(),
        200
    );

    // An HMAC key's successor has its own secret; the old secret does not sign for it.
    let hmac = app.sandbox_key(KeyMode::Hmac).await;
    let minted = app
        .admin
        .rotate_key(hmac.minted.record.id, time::Duration::hours(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let successor = Key {
        minted,
        signing: None,
    };
    assert_ne!(secret(&successor), secret(&hmac));
    for key in [&hmac, &successor] {
        let (status, _, _, body) = parts(
            app.request(key, Method::GET, "/v1/assets", None)
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let headers = hmac_headers(
        successor.key(),
        secret(&hmac),
        now(),
        "GET",
        "/v1/assets",
        "",
    );
    assert_unauthenticated(raw(&app, Method::GET, "/v1/assets", &headers, None).await).await;

    // An Ed25519 key's successor keeps the registered public key.
    let ed = app.sandbox_key(KeyMode::Ed25519).await;
    let minted = app
        .admin
        .rotate_key(ed.minted.record.id, time::Duration::hours(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let ed_successor = Key {
        minted,
        signing: ed.signing.clone(),
    };
    for key in [&ed, &ed_successor] {
        let (status, _, _, body) = parts(
            app.request(
                key,
                Method::GET,
                "/v1/accounts/acc_01J00000000000000000000000/balances",
                None,
            )
            .send()
            .await,
        )
        .await;
        assert_eq!(status, 404, "authenticated, then not found: {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// HMAC
// ---------------------------------------------------------------------------------------------

async fn hmac_signatures(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let body = r#"{"externalId":"h1","name":"H"}"#;

    // Correct signatures, with and without a query string (which is signed as `path?query`).
    let (status, _, _, vault) = parts(
        app.request(&key, Method::POST, "/v1/vaults", Some(body))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    let path = "/v1/vaults?limit=1&externalId=h1";
    let headers = hmac_headers(key.key(), secret(&key), now(), "GET", path, "");
    let (status, _, _, list) = parts(raw(&app, Method::GET, path, &headers, None).await).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"][0]["id"], vault["id"]);
    // The key may also come in Authorization.
    let mut headers = hmac_headers(key.key(), secret(&key), now(), "GET", "/v1/assets", "");
    headers[0] = ("Authorization", format!("Bearer {}", key.key()));
    assert_eq!(
        raw(&app, Method::GET, "/v1/assets", &headers, None)
            .await
            .status(),
        200
    );

    // The query string is part of what is signed.
    let headers = hmac_headers(key.key(), secret(&key), now(), "GET", "/v1/vaults", "");
    assert_unauthenticated(raw(&app, Method::GET, path, &headers, None).await).await;
    let headers = hmac_headers(
        key.key(),
        secret(&key),
        now(),
        "GET",
        "/v1/vaults?limit=2&externalId=h1",
        "",
    );
    assert_unauthenticated(raw(&app, Method::GET, path, &headers, None).await).await;

    // A tampered body, a wrong secret, another method, a signature for another key.
    let tampered = r#"{"externalId":"h2","name":"H"}"#;
    let headers = hmac_headers(key.key(), secret(&key), now(), "POST", "/v1/vaults", body);
    assert_unauthenticated(raw(&app, Method::POST, "/v1/vaults", &headers, Some(tampered)).await)
        .await;
    let headers = hmac_headers(
        key.key(),
        "not-the-secret",
        now(),
        "POST",
        "/v1/vaults",
        tampered,
    );
    assert_unauthenticated(raw(&app, Method::POST, "/v1/vaults", &headers, Some(tampered)).await)
        .await;
    let headers = hmac_headers(
        key.key(),
        secret(&key),
        now(),
        "PUT",
        "/v1/vaults",
        tampered,
    );
    assert_unauthenticated(raw(&app, Method::POST, "/v1/vaults", &headers, Some(tampered)).await)
        .await;
    let other = app.sandbox_key(KeyMode::Hmac).await;
    let headers = hmac_headers(
        key.key(),
        secret(&other),
        now(),
        "POST",
        "/v1/vaults",
        tampered,
    );
    assert_unauthenticated(raw(&app, Method::POST, "/v1/vaults", &headers, Some(tampered)).await)
        .await;
    // The signature as base64 instead of hex.
    let ts = now().to_string();
    let hex_sig = hmac_signature(secret(&key), &ts, "POST", "/v1/vaults", tampered.as_bytes());
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(hex::decode(&hex_sig).unwrap_or_default());
    let headers = vec![
        ("X-API-Key", key.key().to_owned()),
        ("X-Timestamp", ts.clone()),
        ("X-Signature", b64),
    ];
    assert_unauthenticated(raw(&app, Method::POST, "/v1/vaults", &headers, Some(tampered)).await)
        .await;
    // Missing either signing header.
    for missing in ["X-Timestamp", "X-Signature"] {
        let headers: Vec<_> = hmac_headers(
            key.key(),
            secret(&key),
            now(),
            "POST",
            "/v1/vaults",
            tampered,
        )
        .into_iter()
        .filter(|(name, _)| *name != missing)
        .collect();
        assert_unauthenticated(
            raw(&app, Method::POST, "/v1/vaults", &headers, Some(tampered)).await,
        )
        .await;
    }
    // Malformed timestamps (milliseconds, signs, text), correctly signed.
    for ts in [
        format!("{}000", now()),
        format!("+{}", now()),
        "yesterday".to_owned(),
    ] {
        let headers = vec![
            ("X-API-Key", key.key().to_owned()),
            ("X-Timestamp", ts.clone()),
            (
                "X-Signature",
                hmac_signature(secret(&key), &ts, "GET", "/v1/assets", b""),
            ),
        ];
        assert_unauthenticated(raw(&app, Method::GET, "/v1/assets", &headers, None).await).await;
    }

    // None of the refused requests created anything.
    let (_, _, _, list) = parts(
        app.request(&key, Method::GET, "/v1/vaults", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}

async fn hmac_timestamp_window_is_30_seconds(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    for offset in [-30, -29, 0, 29, 30] {
        let (status, body) = at_offset(&app, &key, "/v1/assets", offset).await;
        assert_eq!(status, 200, "{offset} s: {body}");
    }
    for offset in [-31, 31, -3600, 3600] {
        let (status, body) = at_offset(&app, &key, "/v1/assets", offset).await;
        assert_eq!(status, 401, "{offset} s: {body}");
        assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    }
    assert_unauthenticated(
        app.request(&key, Method::GET, "/v1/assets", None)
            .at(now() - 31)
            .send()
            .await,
    )
    .await;
    // On a write too: nothing is created by a stale request.
    assert_unauthenticated(
        app.request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"stale"}"#),
        )
        .at(now() - 31)
        .send()
        .await,
    )
    .await;
    let (_, _, _, list) = parts(
        app.request(&key, Method::GET, "/v1/vaults", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(list["items"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Ed25519
// ---------------------------------------------------------------------------------------------

async fn ed25519_signatures(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let platform = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    let key = app.key(tenant, KeySpec::sandbox(KeyMode::Ed25519)).await;
    let signer = signing_key(&key);
    let account = account(&app, &platform).await;
    let path = format!("/v1/accounts/{account}/blockchain-addresses?limit=1");

    // Signed over METHOD\npath?query\nts\nbody, standard base64.
    let ts = now();
    let good = ed25519_signature(signer, "GET", &path, &ts.to_string(), b"");
    let (status, _, _, list) = parts(
        raw(
            &app,
            Method::GET,
            &path,
            &ed_headers(&key, ts, good.clone()),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    // POST with a body.
    let post_path = format!("/v1/accounts/{account}/blockchain-addresses");
    let body = r#"{"chain":"ethereum","asset":"USDC"}"#;
    let sig = ed25519_signature(signer, "POST", &post_path, &ts.to_string(), body.as_bytes());
    let mut headers = ed_headers(&key, ts, sig);
    headers.push(("Idempotency-Key", "ed-1".to_owned()));
    let (status, _, _, created) =
        parts(raw(&app, Method::POST, &post_path, &headers, Some(body)).await).await;
    assert!(status == 200 || status == 201, "{created}");
    // The same signature with another body.
    headers[3].1 = "ed-2".to_owned();
    let tampered = r#"{"chain":"ethereum","asset":"USDT"}"#;
    assert_unauthenticated(raw(&app, Method::POST, &post_path, &headers, Some(tampered)).await)
        .await;

    let raw_sig = |payload: &[u8]| signer.sign(payload).to_bytes();
    let ts_s = ts.to_string();
    let payload = format!("GET\n{path}\n{ts_s}\n");
    let bytes = raw_sig(payload.as_bytes());
    let url_safe = base64::engine::general_purpose::URL_SAFE.encode(bytes);
    let mut wrong = vec![
        // Without the query string.
        ed25519_signature(
            signer,
            "GET",
            &format!("/v1/accounts/{account}/blockchain-addresses"),
            &ts_s,
            b"",
        ),
        // In the HMAC field order.
        base64::engine::general_purpose::STANDARD
            .encode(raw_sig(format!("{ts_s}\nGET\n{path}\n").as_bytes())),
        // Without the trailing newline of an empty body.
        base64::engine::general_purpose::STANDARD
            .encode(raw_sig(format!("GET\n{path}\n{ts_s}").as_bytes())),
        // Another timestamp.
        ed25519_signature(signer, "GET", &path, &(ts - 1).to_string(), b""),
        // Another method.
        ed25519_signature(signer, "POST", &path, &ts_s, b""),
        // Another key.
        ed25519_signature(
            &SigningKey::from_bytes(&[9u8; 32]),
            "GET",
            &path,
            &ts_s,
            b"",
        ),
        // Other encodings of the right bytes.
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes),
        hex::encode(bytes),
        String::new(),
    ];
    if url_safe != good {
        wrong.push(url_safe);
    }
    for signature in wrong {
        let response = raw(
            &app,
            Method::GET,
            &path,
            &ed_headers(&key, ts, signature.clone()),
            None,
        )
        .await;
        let (status, _, _, body) = parts(response).await;
        assert_eq!(status, 401, "{signature:?}: {body}");
        assert_eq!(body["error"]["type"], "authentication_error");
    }
    // The key only in X-API-Key is the same key: still needs its signature.
    let headers = vec![("X-API-Key", key.key().to_owned())];
    assert_unauthenticated(raw(&app, Method::GET, &path, &headers, None).await).await;
}

async fn ed25519_timestamp_window_is_60_seconds(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Ed25519).await;
    let path = "/v1/accounts/acc_01J00000000000000000000000/balances";
    for offset in [-60, -59, -31, 31, 59, 60] {
        let (status, body) = at_offset(&app, &key, path, offset).await;
        assert_eq!(
            status, 404,
            "{offset} s: authenticated, then not found: {body}"
        );
    }
    for offset in [-61, 61, -600, 600] {
        let (status, body) = at_offset(&app, &key, path, offset).await;
        assert_eq!(status, 401, "{offset} s: {body}");
        assert_eq!(body["error"]["type"], "authentication_error", "{body}");
    }
    assert_unauthenticated(
        app.request(&key, Method::GET, path, None)
            .at(now() - 61)
            .send()
            .await,
    )
    .await;
}

/// A key of a signing mode presented as a bare bearer token is refused.
async fn signing_keys_are_not_bearer_tokens(engine: Engine) {
    let app = spawn_app(engine).await;
    for mode in [KeyMode::Hmac, KeyMode::Ed25519] {
        let key = app.sandbox_key(mode).await;
        for path in [
            "/v1/assets",
            "/connect/v1/addresses",
            "/v1/accounts/acc_01J00000000000000000000000/balances",
        ] {
            for header in ["Authorization", "X-API-Key"] {
                let value = if header == "Authorization" {
                    format!("Bearer {}", key.key())
                } else {
                    key.key().to_owned()
                };
                let response = raw(&app, Method::GET, path, &[(header, value)], None).await;
                assert_unauthenticated(response).await;
            }
        }
        // A timestamp without a signature, or a signature without a timestamp.
        let response = raw(
            &app,
            Method::GET,
            "/v1/assets",
            &[
                ("Authorization", format!("Bearer {}", key.key())),
                ("X-Timestamp", now().to_string()),
            ],
            None,
        )
        .await;
        assert_unauthenticated(response).await;
    }
}

// ---------------------------------------------------------------------------------------------
// The sandbox signature debugger
// ---------------------------------------------------------------------------------------------

async fn sandbox_signature_debugger(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let body = r#"{"externalId":"dbg"}"#;

    // A bad signature: the string the server signed and the skew.
    let ts = now();
    let headers = hmac_headers(key.key(), "wrong-secret", ts, "POST", "/v1/vaults", body);
    let error = assert_unauthenticated(
        raw(&app, Method::POST, "/v1/vaults?x=1", &headers, Some(body)).await,
    )
    .await;
    let debug = &error["signatureDebug"];
    assert_eq!(
        debug["signedString"],
        format!("{ts}\nPOST\n/v1/vaults?x=1\n{}", sha256_hex(body)),
        "{error}"
    );
    let skew = debug["clockSkewSeconds"].as_i64().unwrap_or(i64::MAX);
    assert!((0..=2).contains(&skew), "{error}");
    assert!(
        !error.to_string().contains(secret(&key)),
        "never the secret"
    );
    assert!(
        !error.to_string().contains(&hmac_signature(
            secret(&key),
            &ts.to_string(),
            "POST",
            "/v1/vaults?x=1",
            body.as_bytes()
        )),
        "never the expected signature"
    );

    // A stale but correct request: the skew says how stale.
    let ts = now() - 100;
    let headers = hmac_headers(key.key(), secret(&key), ts, "GET", "/v1/assets", "");
    let error =
        assert_unauthenticated(raw(&app, Method::GET, "/v1/assets", &headers, None).await).await;
    let debug = &error["signatureDebug"];
    assert_eq!(
        debug["signedString"],
        format!("{ts}\nGET\n/v1/assets\n{}", sha256_hex("")),
        "{error}"
    );
    let skew = debug["clockSkewSeconds"].as_i64().unwrap_or(i64::MAX);
    assert!((100..=102).contains(&skew), "{error}");
    // From the future: a negative skew.
    let ts = now() + 100;
    let headers = hmac_headers(key.key(), secret(&key), ts, "GET", "/v1/assets", "");
    let error =
        assert_unauthenticated(raw(&app, Method::GET, "/v1/assets", &headers, None).await).await;
    let skew = error["signatureDebug"]["clockSkewSeconds"]
        .as_i64()
        .unwrap_or(i64::MAX);
    assert!((-100..=-98).contains(&skew), "{error}");

    // A malformed timestamp: the signed string, no skew.
    let headers = vec![
        ("X-API-Key", key.key().to_owned()),
        ("X-Timestamp", "soon".to_owned()),
        ("X-Signature", "00".repeat(32)),
    ];
    let error =
        assert_unauthenticated(raw(&app, Method::GET, "/v1/assets", &headers, None).await).await;
    assert_eq!(
        error["signatureDebug"]["signedString"],
        format!("soon\nGET\n/v1/assets\n{}", sha256_hex("")),
        "{error}"
    );
    assert_eq!(
        error["signatureDebug"]["clockSkewSeconds"],
        Value::Null,
        "{error}"
    );

    // Ed25519: the payload as text.
    let ed = app.sandbox_key(KeyMode::Ed25519).await;
    let path = "/v1/accounts/acc_01J00000000000000000000000/blockchain-addresses?limit=5";
    let ts = now();
    let other = SigningKey::from_bytes(&[5u8; 32]);
    let signature = ed25519_signature(&other, "GET", path, &ts.to_string(), b"");
    let error = assert_unauthenticated(
        raw(
            &app,
            Method::GET,
            path,
            &ed_headers(&ed, ts, signature),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        error["signatureDebug"]["signedString"],
        format!("GET\n{path}\n{ts}\n"),
        "{error}"
    );
    assert!(
        error["signatureDebug"]["clockSkewSeconds"].is_i64(),
        "{error}"
    );
    let post = "/v1/accounts/acc_01J00000000000000000000000/blockchain-addresses";
    let body = r#"{"chain":"ethereum","asset":"USDC"}"#;
    let signature = ed25519_signature(&other, "POST", post, &ts.to_string(), body.as_bytes());
    let mut headers = ed_headers(&ed, ts, signature);
    headers.push(("Idempotency-Key", "dbg-1".to_owned()));
    let error =
        assert_unauthenticated(raw(&app, Method::POST, post, &headers, Some(body)).await).await;
    assert_eq!(
        error["signatureDebug"]["signedString"],
        format!("POST\n{post}\n{ts}\n{body}"),
        "{error}"
    );

    // No debugger when there is no signature to debug (unknown key, bearer key).
    let response = raw(
        &app,
        Method::GET,
        "/v1/assets",
        &hmac_headers(
            "sk_test_unknownunknownunknown",
            "s",
            now(),
            "GET",
            "/v1/assets",
            "",
        ),
        None,
    )
    .await;
    let error = assert_unauthenticated(response).await;
    assert!(error.get("signatureDebug").is_none(), "{error}");
}

async fn live_keys_get_no_debugger(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Approved).await;
    let key = app.key(tenant, KeySpec::live(KeyMode::Hmac)).await;
    assert!(key.key().starts_with("sk_live_"));
    let (status, _, _, body) = parts(
        app.request(&key, Method::GET, "/v1/assets", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    let mut errors = Vec::new();
    let bad_signature = hmac_headers(key.key(), "wrong-secret", now(), "GET", "/v1/assets", "");
    errors.push(
        assert_unauthenticated(raw(&app, Method::GET, "/v1/assets", &bad_signature, None).await)
            .await,
    );
    let stale = hmac_headers(
        key.key(),
        secret(&key),
        now() - 100,
        "GET",
        "/v1/assets",
        "",
    );
    errors.push(
        assert_unauthenticated(raw(&app, Method::GET, "/v1/assets", &stale, None).await).await,
    );
    let ed = app.key(tenant, KeySpec::live(KeyMode::Ed25519)).await;
    let path = "/v1/accounts/acc_01J00000000000000000000000/balances";
    let (status, _, _, body) = parts(app.request(&ed, Method::GET, path, None).send().await).await;
    assert_eq!(status, 404, "authenticated, then not found: {body}");
    let ts = now();
    let forged = ed25519_signature(
        &SigningKey::from_bytes(&[5u8; 32]),
        "GET",
        path,
        &ts.to_string(),
        b"",
    );
    errors.push(
        assert_unauthenticated(
            raw(&app, Method::GET, path, &ed_headers(&ed, ts, forged), None).await,
        )
        .await,
    );
    for error in &errors {
        assert!(
            error.get("signatureDebug").is_none(),
            "live never debugs: {error}"
        );
        assert!(
            !error.to_string().contains("/v1/"),
            "no signed text: {error}"
        );
    }

    // A live key of a tenant not yet approved: authenticated, then the approval gate.
    let pending = app.tenant(TenantStatus::Pending).await;
    let key = app.key(pending, KeySpec::live(KeyMode::Hmac)).await;
    let response = app
        .request(&key, Method::GET, "/v1/assets", None)
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "tenant_not_approved").await;
    // Its sandbox works meanwhile.
    let sandbox = app.key(pending, KeySpec::sandbox(KeyMode::Hmac)).await;
    assert_eq!(
        app.request(&sandbox, Method::GET, "/v1/assets", None)
            .send()
            .await
            .status(),
        200
    );

    // A suspended tenant is cut off in both environments, then reinstated.
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let sandbox = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    app.admin
        .set_tenant_status(tenant, TenantStatus::Suspended)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for key in [&live, &sandbox] {
        let response = app
            .request(key, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await;
        assert_error(response, 403, "authorization_error", "tenant_suspended").await;
    }
    app.admin
        .set_tenant_status(tenant, TenantStatus::Approved)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for key in [&live, &sandbox] {
        let response = app
            .request(key, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await;
        assert_eq!(response.status(), 200);
    }
}

// ---------------------------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------------------------

async fn a_missing_scope_is_403_and_changes_nothing(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).scopes(&[Scope::AddressesRead, Scope::WalletsRead]),
        )
        .await;
    let full_platform = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;

    for (n, body) in [
        r#"{"asset":"USDT","network":"ethereum","external_ref":"scoped"}"#,
        r#"{"asset":"USDT","network":"ethereum"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let response = app
            .request(&reader, Method::POST, "/connect/v1/addresses", Some(body))
            .idempotency_key(&format!("scope-{n}"))
            .send()
            .await;
        let error = assert_error(response, 403, "authorization_error", "missing_scope").await;
        assert!(
            error["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("addresses:write")),
            "names the scope: {error}"
        );
    }
    // Nothing was created: no address, no lazily created vault (customer or treasury).
    let (status, _, _, list) = parts(
        app.request(&reader, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"], json!([]));
    let (_, _, _, vaults) = parts(
        app.request(&full_platform, Method::GET, "/v1/vaults", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(vaults["items"], json!([]), "{vaults}");
    let (_, _, _, balances) = parts(
        app.request(&reader, Method::GET, "/connect/v1/balances", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(balances["balances"], json!([]), "{balances}");

    // A writer without addresses:read can create but not list.
    let writer = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).scopes(&[Scope::AddressesWrite]),
        )
        .await;
    let (status, _, _, created) = parts(
        app.request(
            &writer,
            Method::POST,
            "/connect/v1/addresses",
            Some(r#"{"asset":"USDT","network":"ethereum"}"#),
        )
        .idempotency_key("scope-w")
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let response = app
        .request(&writer, Method::GET, "/connect/v1/addresses", None)
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    // The reader's key with the same Idempotency-Key as its refused attempt: still refused
    // (nothing was stored for it).
    let response = app
        .request(
            &reader,
            Method::POST,
            "/connect/v1/addresses",
            Some(r#"{"asset":"USDT","network":"ethereum"}"#),
        )
        .idempotency_key("scope-1")
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
}

// ---------------------------------------------------------------------------------------------
// IP allow-lists and proxies
// ---------------------------------------------------------------------------------------------

async fn ip_allow_lists(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let elsewhere = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).allow_ips(&["10.0.0.0/8"]),
        )
        .await;
    assert_unauthenticated(
        app.request(&elsewhere, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await,
    )
    .await;
    // A signing key with a perfect signature from the wrong place: the same 401.
    let hmac_elsewhere = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).allow_ips(&["10.0.0.0/8", "192.168.1.1"]),
        )
        .await;
    let error = assert_unauthenticated(
        app.request(&hmac_elsewhere, Method::GET, "/v1/assets", None)
            .send()
            .await,
    )
    .await;
    assert!(error.get("signatureDebug").is_none(), "{error}");

    for allowed in [
        &["127.0.0.1"][..],
        &["127.0.0.0/8"],
        &["10.0.0.0/8", "127.0.0.1/32"],
    ] {
        let key = app
            .key(tenant, KeySpec::sandbox(KeyMode::Bearer).allow_ips(allowed))
            .await;
        let (status, _, _, body) = parts(
            app.request(&key, Method::GET, "/connect/v1/addresses", None)
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 200, "{allowed:?}: {body}");
    }

    // Without trusted proxies, X-Forwarded-For is ignored: the socket peer decides.
    let forwarded = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).allow_ips(&["203.0.113.9/32"]),
        )
        .await;
    assert_unauthenticated(
        app.request(&forwarded, Method::GET, "/connect/v1/addresses", None)
            .header("X-Forwarded-For", "203.0.113.9")
            .send()
            .await,
    )
    .await;
    let local = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).allow_ips(&["127.0.0.1"]),
        )
        .await;
    let response = app
        .request(&local, Method::GET, "/connect/v1/addresses", None)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await;
    assert_eq!(response.status(), 200);
}

async fn trusted_proxies_forward_the_client_address(engine: Engine) {
    let trusted: ipnet::IpNet = "127.0.0.0/8".parse().unwrap_or_else(|e| panic!("{e}"));
    let app = spawn_app_with(
        engine,
        Options {
            trusted_proxies: vec![trusted],
            ..Options::default()
        },
    )
    .await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let client = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).allow_ips(&["203.0.113.9/32"]),
        )
        .await;
    let local = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).allow_ips(&["127.0.0.1"]),
        )
        .await;

    let send = |key: &Key, xff: Option<&str>| {
        let mut request = app.request(key, Method::GET, "/connect/v1/addresses", None);
        if let Some(xff) = xff {
            request = request.header("X-Forwarded-For", xff);
        }
        request.send()
    };
    // The forwarded client is who the allow-list judges.
    for xff in ["203.0.113.9", "203.0.113.9, 127.0.0.5", " 203.0.113.9 "] {
        let (status, _, _, body) = parts(send(&client, Some(xff)).await).await;
        assert_eq!(status, 200, "{xff}: {body}");
    }
    // A spoofed left-most entry does not help; nor does the proxy's own address.
    for xff in [Some("203.0.113.9, 198.51.100.1"), None, Some("not-an-ip")] {
        assert_unauthenticated(send(&client, xff).await).await;
    }
    // The proxy's own address is no longer the client once it forwards one.
    assert_unauthenticated(send(&local, Some("203.0.113.9")).await).await;
    assert_eq!(send(&local, None).await.status(), 200);

    // HMAC through the proxy: the signature is unaffected by the forwarding header.
    let hmac = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).allow_ips(&["203.0.113.0/24"]),
        )
        .await;
    let response = app
        .request(&hmac, Method::GET, "/v1/assets", None)
        .header("X-Forwarded-For", "203.0.113.77")
        .send()
        .await;
    assert_eq!(response.status(), 200);
}

/// ARCHITECTURE §5: `X-API-Key: <keyId>` — an HMAC key may be named by its public id
/// (`key_…`) as well as by its key string; the signature proves possession either way. A
/// bearer key's id is public and never authenticates.
async fn hmac_keys_are_named_by_their_id(engine: Engine) {
    let app = spawn_app(engine).await;
    let hmac = app.sandbox_key(KeyMode::Hmac).await;
    let secret = hmac.minted.hmac_secret.clone().expect("secret");
    let send = |key_header: String, signature: String, ts: String| {
        let url = format!("{}/v1/vaults?limit=5", app.address);
        let client = app.client.clone();
        async move {
            client
                .get(url)
                .header("X-API-Key", key_header)
                .header("X-Timestamp", ts)
                .header("X-Signature", signature)
                .send()
                .await
                .expect("send")
        }
    };
    let ts = now().to_string();
    let good = hmac_signature(&secret, &ts, "GET", "/v1/vaults?limit=5", b"");
    let (status, _, _, body) = parts(send(hmac.id(), good.clone(), ts.clone()).await).await;
    assert_eq!(status, 200, "{body}");
    // The key string works too.
    let (status, _, _, _) = parts(send(hmac.key().to_owned(), good, ts.clone()).await).await;
    assert_eq!(status, 200);
    // The id with a wrong signature: 401.
    let bad = hmac_signature("not-the-secret", &ts, "GET", "/v1/vaults?limit=5", b"");
    assert_error(
        send(hmac.id(), bad, ts).await,
        401,
        "authentication_error",
        "authentication_failed",
    )
    .await;
    // A bearer key's id is not a credential.
    let bearer = app.sandbox_key(KeyMode::Bearer).await;
    let response = app
        .client
        .get(format!("{}/v1/vaults", app.address))
        .header("Authorization", format!("Bearer {}", bearer.id()))
        .send()
        .await
        .expect("send");
    assert_error(
        response,
        401,
        "authentication_error",
        "authentication_failed",
    )
    .await;
}

on_both_stores!(
    hmac_keys_are_named_by_their_id,
    bearer_with_or_without_the_scheme,
    every_bad_key_is_the_same_401,
    rotated_keys_overlap_for_the_grace_period,
    hmac_signatures,
    hmac_timestamp_window_is_30_seconds,
    ed25519_signatures,
    ed25519_timestamp_window_is_60_seconds,
    signing_keys_are_not_bearer_tokens,
    sandbox_signature_debugger,
    live_keys_get_no_debugger,
    a_missing_scope_is_403_and_changes_nothing,
    ip_allow_lists,
    trusted_proxies_forward_the_client_address,
);
