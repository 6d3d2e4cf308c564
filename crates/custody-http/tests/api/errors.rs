//! Errors, lists and limits over HTTP (ARCHITECTURE §7): one JSON envelope for every error,
//! never a 500 and never HTML, `requestId == X-Request-Id` on every response; malformed
//! bodies, content types, body limits, unknown routes and methods, bad query strings, and a
//! table of odd requests. On both stores.

use std::collections::BTreeSet;

use reqwest::{Method, Response};
use serde_json::{json, Value};

use crate::helpers::{
    dialect_keys, hmac_signature, now, spawn_app, spawn_app_with, Engine, Key, Options, TestApp,
};
use crate::on_both_stores;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn expected_type(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        403 => "authorization_error",
        404 => "not_found_error",
        409 => "conflict_error",
        429 => "rate_limit_error",
        502 | 503 => "provider_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// Checks any response: JSON (never HTML), `X-Request-Id`, never a 5xx; for an error, the
/// envelope with `requestId == X-Request-Id` and the type matching the status. Returns
/// (status, body).
async fn checked(response: Response, what: &str) -> (u16, Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let raw = response.bytes().await.unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    assert!(status < 500, "{what}: {status} {text}");
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no X-Request-Id"))
        .to_owned();
    assert!(
        request_id
            .strip_prefix("req_")
            .is_some_and(|u| ulid::Ulid::from_string(u).is_ok()),
        "{what}: {request_id}"
    );
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("application/json"),
        "{what}: Content-Type {content_type:?}: {text}"
    );
    assert!(
        text.trim_start().starts_with('{'),
        "{what}: not a JSON object: {text}"
    );
    let body: Value =
        serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
    if status >= 400 {
        let error = &body["error"];
        let keys: BTreeSet<&str> = error
            .as_object()
            .unwrap_or_else(|| panic!("{what}: no error object: {body}"))
            .keys()
            .map(String::as_str)
            .collect();
        let required: BTreeSet<&str> = [
            "type",
            "code",
            "message",
            "status",
            "requestId",
            "retryable",
        ]
        .into_iter()
        .collect();
        let optional: BTreeSet<&str> = ["fieldErrors", "signatureDebug"].into_iter().collect();
        assert!(required.is_subset(&keys), "{what}: {body}");
        assert!(
            keys.difference(&required).all(|k| optional.contains(k)),
            "{what}: {body}"
        );
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(1),
            "{what}: only `error`: {body}"
        );
        assert_eq!(error["status"], status, "{what}: {body}");
        assert_eq!(error["type"], expected_type(status), "{what}: {body}");
        assert_eq!(error["requestId"], request_id.as_str(), "{what}: {body}");
        assert!(
            error["code"].as_str().is_some_and(|c| !c.is_empty()),
            "{what}: {body}"
        );
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {body}"
        );
        assert!(error["retryable"].is_boolean(), "{what}: {body}");
        if let Some(fields) = error.get("fieldErrors") {
            let fields = fields
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {body}"));
            assert!(!fields.is_empty(), "{what}: {body}");
            for field in fields {
                assert!(
                    field["field"].is_string()
                        && field["code"].is_string()
                        && field["message"].is_string(),
                    "{what}: {body}"
                );
            }
        }
    }
    (status, body)
}

/// [`checked`], then the status and code.
async fn expect(response: Response, status: u16, code: &str, what: &str) -> Value {
    let (actual, body) = checked(response, what).await;
    assert_eq!(actual, status, "{what}: {body}");
    assert_eq!(body["error"]["code"], code, "{what}: {body}");
    body
}

/// A bearer request built by hand (any content type, raw bytes).
async fn raw_bearer(
    app: &TestApp,
    key: &Key,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Option<Vec<u8>>,
) -> Response {
    let mut builder = app
        .client
        .request(method, format!("{}{}", app.address, path))
        .header("Authorization", format!("Bearer {}", key.key()))
        .header(
            "Idempotency-Key",
            format!("raw-{}", custody_http::system::fresh_ulid()),
        );
    if let Some(ct) = content_type {
        builder = builder.header("Content-Type", ct);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    builder
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"))
}

/// An HMAC-signed request built by hand (any content type).
async fn raw_hmac(
    app: &TestApp,
    key: &Key,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Response {
    let ts = now().to_string();
    let secret = key.minted.hmac_secret.as_deref().unwrap_or_default();
    let signature = hmac_signature(secret, &ts, method.as_str(), path, body.as_bytes());
    let mut builder = app
        .client
        .request(method, format!("{}{}", app.address, path))
        .header("X-API-Key", key.key())
        .header("X-Timestamp", ts)
        .header("X-Signature", signature)
        .body(body.to_owned());
    if let Some(ct) = content_type {
        builder = builder.header("Content-Type", ct);
    }
    builder
        .send()
        .await
        .unwrap_or_else(|e| panic!("request failed: {e}"))
}

const CONNECT_BODY: &str = r#"{"asset":"USDT","network":"ethereum","external_ref":"e1"}"#;
const UNKNOWN_ACCOUNT: &str = "acc_01J00000000000000000000000";

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

async fn malformed_and_misshapen_bodies(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    let post = |body: &str, idem: &str| {
        app.request(
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(body),
        )
        .idempotency_key(idem)
        .send()
    };

    // Malformed JSON: 400 malformed_json.
    for (n, body) in [
        "{",
        r#"{"asset":"USDT",}"#,
        r#"{"asset":'USDT'}"#,
        "\u{feff}{\"asset\":\"USDT\",\"network\":\"ethereum\"}",
        "not json",
        r#"{"asset":"USDT","network":"ethereum""#,
    ]
    .into_iter()
    .enumerate()
    {
        expect(
            post(body, &format!("mal-{n}")).await,
            400,
            "malformed_json",
            body,
        )
        .await;
    }
    // Well-formed JSON that is not an object, or has wrong types: 422.
    for (n, body) in [
        "[1]",
        "[]",
        "5",
        "\"USDT\"",
        "null",
        "true",
        r#"{"asset":5,"network":"ethereum"}"#,
        r#"{"asset":"USDT","network":null}"#,
        r#"{"asset":"USDT"}"#,
        r#"{"asset":"USDT","network":"ethereum","netwrok":"x"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let (status, body_json) = checked(post(body, &format!("shape-{n}")).await, body).await;
        assert_eq!(status, 422, "{body}: {body_json}");
    }
    // No body, or only whitespace: 400 body_required.
    let response = app
        .request(&k.connect, Method::POST, "/connect/v1/addresses", None)
        .idempotency_key("nobody")
        .send()
        .await;
    expect(response, 400, "body_required", "no body").await;
    expect(
        post("  \n ", "ws").await,
        400,
        "body_required",
        "whitespace body",
    )
    .await;

    // Content types: text/plain and none are 415; JSON with a charset is fine.
    for ct in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
    ] {
        let response = raw_bearer(
            &app,
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            ct,
            Some(CONNECT_BODY.as_bytes().to_vec()),
        )
        .await;
        expect(response, 415, "unsupported_media_type", &format!("{ct:?}")).await;
    }
    let response = raw_bearer(
        &app,
        &k.connect,
        Method::POST,
        "/connect/v1/addresses",
        Some("application/json; charset=utf-8"),
        Some(CONNECT_BODY.as_bytes().to_vec()),
    )
    .await;
    let (status, body) = checked(response, "charset").await;
    assert_eq!(status, 201, "{body}");
    // Bytes that are not UTF-8.
    let response = raw_bearer(
        &app,
        &k.connect,
        Method::POST,
        "/connect/v1/addresses",
        Some("application/json"),
        Some(b"{\"asset\":\"\xff\xfe\",\"network\":\"ethereum\"}".to_vec()),
    )
    .await;
    let (status, body) = checked(response, "invalid utf-8").await;
    assert_eq!(status, 400, "{body}");

    // The same rules in Platform (HMAC-signed, so the content type is the only fault).
    let response = raw_hmac(
        &app,
        &k.platform,
        Method::POST,
        "/v1/vaults",
        Some("text/plain"),
        r#"{"externalId":"p"}"#,
    )
    .await;
    expect(
        response,
        415,
        "unsupported_media_type",
        "platform text/plain",
    )
    .await;
    let response = raw_hmac(
        &app,
        &k.platform,
        Method::POST,
        "/v1/vaults",
        Some("application/json"),
        "{",
    )
    .await;
    expect(response, 400, "malformed_json", "platform {").await;
    let response = raw_hmac(
        &app,
        &k.platform,
        Method::POST,
        "/v1/vaults",
        Some("application/json"),
        "[]",
    )
    .await;
    let (status, _) = checked(response, "platform []").await;
    assert_eq!(status, 422);
    let response = app
        .request(
            &k.platform,
            Method::PATCH,
            "/v1/vaults/vlt_01J00000000000000000000000",
            None,
        )
        .send()
        .await;
    expect(
        response,
        400,
        "body_required",
        "platform PATCH without body",
    )
    .await;

    // And in Accounts.
    let path = format!("/v1/accounts/{UNKNOWN_ACCOUNT}/blockchain-addresses");
    for (n, (body, status)) in [("{", 400), ("[1]", 422), ("7", 422)]
        .into_iter()
        .enumerate()
    {
        let response = app
            .request(&k.accounts, Method::POST, &path, Some(body))
            .idempotency_key(&format!("acc-{n}"))
            .send()
            .await;
        let (actual, json) = checked(response, body).await;
        assert_eq!(actual, status, "{body}: {json}");
    }
    let response = app
        .request(&k.accounts, Method::POST, &path, None)
        .idempotency_key("acc-nobody")
        .send()
        .await;
    expect(response, 400, "body_required", "accounts without body").await;
}

/// A complete JSON object followed by anything else is not JSON: `json_body` must refuse it
/// as `malformed_json`, not act on the leading object.
async fn trailing_characters_after_the_body_are_malformed(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    let mut accepted = Vec::new();
    for (n, body) in [
        r#"{"asset":"USDT","network":"ethereum","external_ref":"t1"}}"#,
        r#"{"asset":"USDT","network":"ethereum","external_ref":"t2"} garbage"#,
        r#"{"asset":"USDT","network":"ethereum","external_ref":"t3"}{"asset":"USDC"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let response = app
            .request(
                &k.connect,
                Method::POST,
                "/connect/v1/addresses",
                Some(body),
            )
            .idempotency_key(&format!("trail-{n}"))
            .send()
            .await;
        let (status, json) = checked(response, body).await;
        if status != 400 || json["error"]["code"] != "malformed_json" {
            accepted.push(format!("{body} -> {status} {json}"));
        }
    }
    let response = app
        .request(
            &k.platform,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"t4"}]"#),
        )
        .send()
        .await;
    let (status, json) = checked(response, "platform trailing").await;
    if status != 400 {
        accepted.push(format!("platform -> {status} {json}"));
    }
    assert!(
        accepted.is_empty(),
        "bodies with trailing characters were accepted:\n{}",
        accepted.join("\n")
    );
}

async fn a_body_over_the_limit_is_413(engine: Engine) {
    let app = spawn_app_with(
        engine,
        Options {
            max_body_bytes: 1024,
            ..Options::default()
        },
    )
    .await;
    let k = dialect_keys(&app).await;
    // 4 KiB of valid JSON.
    let big =
        json!({"asset": "USDT", "network": "ethereum", "label": "x".repeat(4096)}).to_string();
    assert!(big.len() > 4096);
    let response = app
        .request(
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(&big),
        )
        .idempotency_key("big-1")
        .send()
        .await;
    expect(response, 413, "payload_too_large", "connect 4 KiB").await;
    let big_vault = json!({"externalId": "x".repeat(4096)}).to_string();
    let response = app
        .request(&k.platform, Method::POST, "/v1/vaults", Some(&big_vault))
        .send()
        .await;
    expect(response, 413, "payload_too_large", "platform 4 KiB").await;
    // Under the limit works, and the refused request created nothing.
    let response = app
        .request(
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(CONNECT_BODY),
        )
        .idempotency_key("small-1")
        .send()
        .await;
    let (status, body) = checked(response, "small").await;
    assert_eq!(status, 201, "{body}");
    let response = app
        .request(&k.connect, Method::GET, "/connect/v1/addresses", None)
        .send()
        .await;
    let (_, list) = checked(response, "list").await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    // The same key with the small body is not a conflict: the big one stored nothing.
    let small = json!({"asset": "USDT", "network": "ethereum", "label": "x"}).to_string();
    let response = app
        .request(
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(&small),
        )
        .idempotency_key("big-1")
        .send()
        .await;
    let (status, body) = checked(response, "after 413").await;
    assert!(status == 200 || status == 201, "{body}");
}

// ---------------------------------------------------------------------------------------------
// Routes and methods
// ---------------------------------------------------------------------------------------------

async fn unknown_routes_and_wrong_methods(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    for path in [
        "/",
        "/nope",
        "/v1",
        "/v1/nope",
        "/v2/vaults",
        "/connect/v2/addresses",
        "/v1/vaults/",
        "/v1/vaults/x/y/z",
        "/connect/v1/addresses/ba_1/extra",
    ] {
        let response = app.anonymous(Method::GET, path, None).send().await;
        expect(response, 404, "route_not_found", path).await;
        let response = app
            .request(&k.platform, Method::GET, path, None)
            .send()
            .await;
        expect(response, 404, "route_not_found", path).await;
    }
    let response = app
        .anonymous(Method::POST, "/v1/nope", Some("{}"))
        .send()
        .await;
    expect(response, 404, "route_not_found", "POST /v1/nope").await;

    for (method, path) in [
        (Method::DELETE, "/connect/v1/addresses"),
        (Method::PUT, "/connect/v1/addresses"),
        (Method::PATCH, "/connect/v1/addresses"),
        (Method::POST, "/connect/v1/balances"),
        (Method::PUT, "/v1/vaults"),
        (Method::DELETE, "/v1/vaults/vlt_01J00000000000000000000000"),
        (Method::POST, "/v1/assets"),
        (Method::DELETE, "/v1/wallets/acc_01J00000000000000000000000"),
        (
            Method::GET,
            "/v1/wallets/acc_01J00000000000000000000000/addresses",
        ),
        (
            Method::PATCH,
            "/v1/accounts/acc_01J00000000000000000000000/balances",
        ),
        (
            Method::DELETE,
            "/v1/accounts/acc_01J00000000000000000000000/blockchain-addresses",
        ),
    ] {
        let what = format!("{method} {path}");
        let response = app.anonymous(method.clone(), path, None).send().await;
        expect(response, 405, "method_not_allowed", &what).await;
        let response = app
            .request(&k.connect, method, path, Some("{}"))
            .send()
            .await;
        expect(response, 405, "method_not_allowed", &what).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Query strings
// ---------------------------------------------------------------------------------------------

async fn bad_query_values_are_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    let cursor_a = "ba_01J00000000000000000000000";
    let cursor_b = "ba_01J00000000000000000000001";
    let lists: [(&Key, String, &str); 4] = [
        (&k.connect, "/connect/v1/addresses".to_owned(), "ba_"),
        (&k.platform, "/v1/vaults".to_owned(), "vlt_"),
        (
            &k.platform,
            "/v1/vaults/vlt_01J00000000000000000000000/wallets".to_owned(),
            "acc_",
        ),
        (
            &k.accounts,
            format!("/v1/accounts/{UNKNOWN_ACCOUNT}/blockchain-addresses"),
            "ba_",
        ),
    ];
    for (key, path, prefix) in &lists {
        let a = cursor_a.replacen("ba_", prefix, 1);
        let b = cursor_b.replacen("ba_", prefix, 1);
        let both = format!("starting_after={a}&ending_before={b}");
        for query in [
            "limit=abc",
            "limit=",
            "limit=-1",
            "limit=0",
            "limit=201",
            "limit=1.5",
            "limit=99999999999999999999",
            both.as_str(),
            "unknown=1",
            "Limit=5",
            "starting_after=nope",
            "ending_before=x_01J00000000000000000000000",
            "limit=1&limit=2",
        ] {
            let what = format!("{path}?{query}");
            let response = app.request(key, Method::GET, &what, None).send().await;
            let (status, body) = checked(response, &what).await;
            assert_eq!(status, 400, "{what}: {body}");
            assert_eq!(
                body["error"]["type"], "invalid_request_error",
                "{what}: {body}"
            );
        }
        // The edges of `limit` are fine (the vault's wallets list is a 404: the vault is unknown).
        for query in ["limit=1", "limit=200"] {
            let what = format!("{path}?{query}");
            let response = app.request(key, Method::GET, &what, None).send().await;
            let (status, body) = checked(response, &what).await;
            assert!(status == 200 || status == 404, "{what}: {body}");
        }
    }
}

/// `input.rs`: "Query strings are strict too: an unknown or malformed parameter is 400 naming
/// it" (a typo'd parameter must never be silently ignored). The list endpoints honour it; the
/// single-resource reads and `/v1/assets` ignore their query string entirely.
async fn unknown_query_parameters_are_refused_everywhere(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    let response = app
        .request(
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(CONNECT_BODY),
        )
        .idempotency_key("q-1")
        .send()
        .await;
    let (_, address) = checked(response, "create").await;
    let address_id = address["id"].as_str().unwrap_or_default().to_owned();
    let response = app
        .request(&k.platform, Method::GET, "/v1/vaults?externalId=e1", None)
        .send()
        .await;
    let (_, vaults) = checked(response, "vaults").await;
    let vault_id = vaults["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let response = app
        .request(
            &k.platform,
            Method::GET,
            &format!("/v1/vaults/{vault_id}/wallets"),
            None,
        )
        .send()
        .await;
    let (_, wallets) = checked(response, "wallets").await;
    let wallet_id = wallets["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    let mut accepted = Vec::new();
    for (key, path) in [
        (&k.platform, "/v1/assets?limt=5".to_owned()),
        (&k.platform, format!("/v1/vaults/{vault_id}?expand=wallets")),
        (&k.platform, format!("/v1/wallets/{wallet_id}?foo=1")),
        (
            &k.connect,
            format!("/connect/v1/addresses/{address_id}?foo=1"),
        ),
        (&k.connect, "/connect/v1/balances/e1?foo=1".to_owned()),
        (
            &k.accounts,
            format!("/v1/accounts/{wallet_id}/balances?foo=1"),
        ),
        (
            &k.accounts,
            format!("/v1/accounts/{wallet_id}/blockchain-addresses/{address_id}?foo=1"),
        ),
    ] {
        let response = app.request(key, Method::GET, &path, None).send().await;
        let (status, body) = checked(response, &path).await;
        if status != 400 {
            accepted.push(format!("{path} -> {status} {body}"));
        }
    }
    assert!(
        accepted.is_empty(),
        "unknown query parameters silently ignored:\n{}",
        accepted.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Request ids
// ---------------------------------------------------------------------------------------------

async fn every_response_carries_a_request_id(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    let mut ids = BTreeSet::new();
    let mut record = |response: &Response| {
        let id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no X-Request-Id on {}", response.url()))
            .to_owned();
        assert!(id.starts_with("req_"), "{id}");
        assert!(ids.insert(id.clone()), "request ids are unique: {id}");
    };
    let successes = [
        app.anonymous(Method::GET, "/healthz", None).send().await,
        app.anonymous(Method::GET, "/readyz", None).send().await,
        app.anonymous(Method::GET, "/openapi.json", None)
            .send()
            .await,
        app.request(&k.platform, Method::GET, "/v1/assets", None)
            .send()
            .await,
        app.request(
            &k.platform,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"rid"}"#),
        )
        .idempotency_key("rid-1")
        .send()
        .await,
        app.request(
            &k.platform,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"rid"}"#),
        )
        .idempotency_key("rid-1")
        .send()
        .await,
        app.request(
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(CONNECT_BODY),
        )
        .idempotency_key("rid-2")
        .send()
        .await,
        app.request(&k.connect, Method::GET, "/connect/v1/balances", None)
            .send()
            .await,
        app.request(
            &k.accounts,
            Method::GET,
            &format!("/v1/accounts/{UNKNOWN_ACCOUNT}/balances"),
            None,
        )
        .send()
        .await,
    ];
    for response in successes {
        record(&response);
        let status = response.status().as_u16();
        assert!(status < 500, "{}: {status}", response.url());
    }
    // A replay carries a fresh request id, not the stored one.
    let first = app
        .request(
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(CONNECT_BODY),
        )
        .idempotency_key("rid-3")
        .send()
        .await;
    record(&first);
    let replay = app
        .request(
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(CONNECT_BODY),
        )
        .idempotency_key("rid-3")
        .send()
        .await;
    assert_eq!(
        replay
            .headers()
            .get("idempotency-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    record(&replay);
}

// ---------------------------------------------------------------------------------------------
// Odd requests
// ---------------------------------------------------------------------------------------------

/// Which key signs a fuzz case.
#[derive(Clone, Copy)]
enum Who {
    Anonymous,
    Connect,
    Platform,
    Accounts,
}

async fn odd_requests_never_break_the_envelope(engine: Engine) {
    use Who::{Accounts, Anonymous, Connect, Platform};
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    let long_id = format!("vlt_{}", "A".repeat(8000));
    let long_ba = format!("/connect/v1/addresses/ba_{}", "Z".repeat(4000));
    let nested = format!(
        r#"{{"asset":{}"USDT"{},"network":"ethereum"}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let many_keys = {
        let entries: serde_json::Map<String, Value> =
            (0..60).map(|i| (format!("k{i}"), json!("v"))).collect();
        json!({ "metadata": entries }).to_string()
    };
    let long_label =
        json!({"asset": "USDT", "network": "ethereum", "label": "é".repeat(10_000)}).to_string();
    let cases: Vec<(Who, Method, String, Option<String>)> = vec![
        (
            Connect,
            Method::GET,
            "/connect/v1/addresses/%00".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/addresses/ba_%00%00".into(),
            None,
        ),
        (Connect, Method::GET, long_ba, None),
        (
            Connect,
            Method::GET,
            "/connect/v1/addresses/%C3%BC%F0%9F%92%A9".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/addresses/%FF%FE".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/addresses/ba_ZZZZZZZZZZZZZZZZZZZZZZZZZZ".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/balances/%00".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            format!("/connect/v1/balances/{}", "x".repeat(300)),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/balances/%F0%9F%92%A9".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/balances?external_ref=%00".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/balances?external_ref=".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/addresses?external_ref[]=x".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/addresses?%FF=1".into(),
            None,
        ),
        (
            Connect,
            Method::GET,
            "/connect/v1/addresses?starting_after=ba_ZZZZZZZZZZZZZZZZZZZZZZZZZZ".into(),
            None,
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(nested),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":null,"network":"ethereum"}"#.into()),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":["USDT"],"network":"ethereum"}"#.into()),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":"USDT","network":"ethereum","external_ref":123}"#.into()),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":"USDT","network":"ethereum","external_ref":"a\u0000b"}"#.into()),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(long_label),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":"USDT","asset":"USDC","network":"ethereum"}"#.into()),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":"\ud800","network":"ethereum"}"#.into()),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":1e999,"network":"ethereum"}"#.into()),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":"USDT","network":"ethereum","external_ref":"ü💩 user"}"#.into()),
        ),
        (
            Connect,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(r#"{"asset":"USDT","network":"ethereum","external_ref":{"id":1}}"#.into()),
        ),
        (Platform, Method::GET, format!("/v1/vaults/{long_id}"), None),
        (Platform, Method::GET, "/v1/vaults/vlt_%2e%2e".into(), None),
        (
            Platform,
            Method::GET,
            "/v1/vaults/..%2F..%2Fetc%2Fpasswd".into(),
            None,
        ),
        (
            Platform,
            Method::GET,
            "/v1/vaults?externalId=%00".into(),
            None,
        ),
        (
            Platform,
            Method::GET,
            format!("/v1/vaults?externalId={}", "x".repeat(300)),
            None,
        ),
        (
            Platform,
            Method::PATCH,
            "/v1/vaults/vlt_01J00000000000000000000000".into(),
            Some(r#"{"status":null}"#.into()),
        ),
        (
            Platform,
            Method::PATCH,
            "/v1/vaults/vlt_01J00000000000000000000000".into(),
            Some(r#"{"status":"Frozen","name":{"a":1}}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults".into(),
            Some(r#"{"metadata":{"a":{"b":"c"}}}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults".into(),
            Some(r#"{"metadata":{"a":null}}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults".into(),
            Some(r#"{"metadata":[1,2]}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults".into(),
            Some(r#"{"externalId":12345}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults".into(),
            Some(r#"{"externalId":"ok","extra":{"deep":[1,[2,[3]]]}}"#.into()),
        ),
        (Platform, Method::POST, "/v1/vaults".into(), Some(many_keys)),
        (
            Platform,
            Method::POST,
            "/v1/vaults".into(),
            Some(format!(r#"{{"metadata":{{"k":"{}"}}}}"#, "v".repeat(501))),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults".into(),
            Some(r#"{"name":"\u202e\u200b","externalId":"😀"}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults/vlt_01J00000000000000000000000/wallets".into(),
            Some(r#"{"assetId":"USDT_ETHEREUM_EXTRA"}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults/vlt_01J00000000000000000000000/wallets".into(),
            Some(r#"{"assetId":"_"}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/vaults/vlt_01J00000000000000000000000/wallets".into(),
            Some(r#"{"assetId":"USDT_ETHEREUM"}"#.into()),
        ),
        (
            Platform,
            Method::GET,
            "/v1/wallets/acc_%F0%9F%92%A9".into(),
            None,
        ),
        (
            Platform,
            Method::POST,
            "/v1/wallets/acc_01J00000000000000000000000/addresses".into(),
            Some(r#"{"label":null}"#.into()),
        ),
        (
            Platform,
            Method::POST,
            "/v1/wallets/acc_01J00000000000000000000000/addresses".into(),
            Some("[]".into()),
        ),
        (
            Accounts,
            Method::GET,
            "/v1/accounts/%00/balances".into(),
            None,
        ),
        (
            Accounts,
            Method::GET,
            format!("/v1/accounts/{UNKNOWN_ACCOUNT}/blockchain-addresses/%00"),
            None,
        ),
        (
            Accounts,
            Method::POST,
            format!("/v1/accounts/{UNKNOWN_ACCOUNT}/blockchain-addresses"),
            Some(r#"{"chain":null,"asset":"USDC"}"#.into()),
        ),
        (
            Accounts,
            Method::POST,
            format!("/v1/accounts/{UNKNOWN_ACCOUNT}/blockchain-addresses"),
            Some(r#"{"chain":"ethereum","asset":"USDC"}"#.into()),
        ),
        (
            Accounts,
            Method::POST,
            format!("/v1/accounts/{UNKNOWN_ACCOUNT}/blockchain-addresses"),
            Some(r#"{"chain":"💩","asset":"USDC"}"#.into()),
        ),
        (Anonymous, Method::GET, "/%00".into(), None),
        (Anonymous, Method::GET, "/v1/vaults".into(), None),
        (
            Anonymous,
            Method::POST,
            "/connect/v1/addresses".into(),
            Some(CONNECT_BODY.into()),
        ),
        (Anonymous, Method::OPTIONS, "/v1/vaults".into(), None),
        (Anonymous, Method::GET, "/v1/assets?%%%".into(), None),
    ];
    let total = cases.len();
    assert!(total >= 30);
    for (n, (who, method, path, body)) in cases.into_iter().enumerate() {
        let key = match who {
            Anonymous => None,
            Connect => Some(&k.connect),
            Platform => Some(&k.platform),
            Accounts => Some(&k.accounts),
        };
        let request = match key {
            Some(key) => app.request(key, method.clone(), &path, body.as_deref()),
            None => app.anonymous(method.clone(), &path, body.as_deref()),
        };
        let request = if method == Method::POST {
            request.idempotency_key(&format!("odd-{n}"))
        } else {
            request
        };
        let shown: String = path.chars().take(80).collect();
        let what = format!(
            "#{n} {method} {shown} {}",
            body.as_deref()
                .map(|b| b.chars().take(80).collect::<String>())
                .unwrap_or_default()
        );
        checked(request.send().await, &what).await;
    }

    // Odd headers.
    let odd_headers: Vec<(&str, String)> = vec![
        ("Idempotency-Key", "k".repeat(300)),
        ("Idempotency-Key", String::new()),
        ("X-Timestamp", "99999999999999999999".into()),
        ("X-Signature", "%%%".into()),
        ("Content-Type", "application/json; charset=\"".into()),
    ];
    for (name, value) in odd_headers {
        let response = app
            .client
            .post(format!("{}/connect/v1/addresses", app.address))
            .header("Authorization", format!("Bearer {}", k.connect.key()))
            .header(name, value.as_str())
            .header("Content-Type", "application/json")
            .body(CONNECT_BODY)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        checked(response, &format!("{name}: {value:.40}")).await;
    }
}

on_both_stores!(
    malformed_and_misshapen_bodies,
    trailing_characters_after_the_body_are_malformed,
    a_body_over_the_limit_is_413,
    unknown_routes_and_wrong_methods,
    bad_query_values_are_400,
    unknown_query_parameters_are_refused_everywhere,
    every_response_carries_a_request_id,
    odd_requests_never_break_the_envelope,
);
