//! The Connect dialect (seed `000`): every statement of the contract, driven over HTTP with
//! sandbox bearer keys.
//!
//! - `POST /connect/v1/addresses`: per-user (lazy vault, `external_ref` echoed) and treasury
//!   (`external_ref` key omitted); codes case-insensitive; length limits; unsupported and
//!   not-enabled assets; unknown fields; 201 then 200 with the same address; deterministic
//!   addresses valid for their network.
//! - `GET /connect/v1/addresses/{id}`: the same body; 400 for malformed ids; one 404 for a
//!   missing id and another tenant's id.
//! - `GET /connect/v1/addresses`: cursor pagination, `external_ref` filter, bad parameters.
//! - `GET /connect/v1/balances[/{external_ref}]`: per user, unknown user, tenant-wide, fiat
//!   totals from the fixed sandbox prices.
//! - The bearer key with and without the `Bearer ` prefix.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use custody_core::amount::Amount;
use custody_core::api_key::KeyMode;
use custody_core::asset::{AssetId, CATALOGUE};
use custody_core::chain_address::{eip55_checksum, ChainAddress};
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::ports::{MintRequest, VerifiedDeposit};
use custody_core::services::DepositService;
use custody_core::tenant::TenantStatus;
use custody_core::text::ExternalRef;
use custody_core::transaction::TransactionStatus;
use custody_http::system::{OsIds, SystemClock};
use custody_sandbox::SandboxProvider;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, parts, spawn_app, Engine, Key, KeySpec, TestApp};
use crate::on_both_stores;

mod addresses;
mod balances;

const ADDRESSES: &str = "/connect/v1/addresses";
/// A well-formed address id that no store holds.
const MISSING_ADDRESS: &str = "ba_01J00000000000000000000000";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A fresh `Idempotency-Key`.
fn idem() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("connect-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The JSON body of a Connect POST.
fn create_body(asset: &str, network: &str, external_ref: Option<&str>) -> String {
    let mut body = json!({ "asset": asset, "network": network });
    if let Some(reference) = external_ref {
        body["external_ref"] = json!(reference);
    }
    body.to_string()
}

/// POSTs `body` with a fresh idempotency key.
async fn post(app: &TestApp, key: &Key, body: &str) -> (u16, HeaderMap, Vec<u8>, Value) {
    parts(
        app.request(key, Method::POST, ADDRESSES, Some(body))
            .idempotency_key(&idem())
            .send()
            .await,
    )
    .await
}

/// POSTs and expects 200 or 201; returns (status, body).
async fn mint(
    app: &TestApp,
    key: &Key,
    asset: &str,
    network: &str,
    external_ref: Option<&str>,
) -> (u16, Value) {
    let (status, _, _, body) = post(app, key, &create_body(asset, network, external_ref)).await;
    assert!(status == 200 || status == 201, "{status}: {body}");
    (status, body)
}

/// GET, expecting 200; returns the body.
async fn get_ok(app: &TestApp, key: &Key, path: &str) -> Value {
    let (status, _, _, body) = parts(app.request(key, Method::GET, path, None).send().await).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The error object of a 4xx without `requestId`, for comparing two errors.
fn without_request_id(body: &Value) -> Value {
    let mut error = body["error"].clone();
    error
        .as_object_mut()
        .expect("error object")
        .remove("requestId");
    error
}

fn tenant_of(key: &Key) -> TenantId {
    key.minted.record.tenant_id
}

/// The first `fieldErrors` entry's field.
fn field_of(body: &Value) -> &str {
    body["error"]["fieldErrors"][0]["field"]
        .as_str()
        .unwrap_or("")
}

/// Decodes Bitcoin-alphabet base58 (Solana's); `None` for a character outside the alphabet.
fn base58_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut bytes: Vec<u8> = Vec::new(); // little-endian big number
    for c in s.bytes() {
        let mut carry = ALPHABET.iter().position(|&a| a == c)? as u32;
        for byte in &mut bytes {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let leading_zeros = s.bytes().take_while(|&c| c == b'1').count();
    let mut out = vec![0u8; leading_zeros];
    out.extend(bytes.iter().rev());
    Some(out)
}

/// Asserts that `address` is written as its network requires.
fn assert_address_format(network: &str, address: &str) {
    match network {
        "ethereum" | "base" | "ink" => {
            let hex_part = address
                .strip_prefix("0x")
                .expect("EVM address starts with 0x");
            assert_eq!(hex_part.len(), 40, "{address}");
            let mut raw = [0u8; 20];
            hex::decode_to_slice(hex_part, &mut raw).expect("EVM address is hex");
            // EIP-55: the checksummed spelling, byte for byte (mixed case).
            assert_eq!(address, eip55_checksum(&raw), "not EIP-55 checksummed");
        }
        "solana" => {
            let decoded = base58_decode(address).expect("Solana address is base58");
            assert_eq!(
                decoded.len(),
                32,
                "{address} decodes to {} bytes",
                decoded.len()
            );
        }
        "sui" => {
            let hex_part = address
                .strip_prefix("0x")
                .expect("Sui address starts with 0x");
            assert_eq!(hex_part.len(), 64, "{address}");
            assert!(
                hex_part
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "Sui address is lowercase hex: {address}"
            );
        }
        other => panic!("unexpected network {other}"),
    }
    let network = custody_core::asset::Network::parse(network).expect("network");
    ChainAddress::parse(network, address).expect("the domain accepts the address");
}

/// The keys of a JSON object.
fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().expect("object").keys().cloned().collect()
}

/// Credits a completed sandbox deposit of `units` base units to `address` (the sandbox
/// simulator's path, driven directly: no partner endpoint creates funds).
async fn fund(app: &TestApp, asset: AssetId, address: &str, units: u128, reference: &str) {
    let env = app.store.environment(Environment::Sandbox);
    let deposits = DepositService::new(
        env.uow,
        Arc::new(SandboxProvider::new(
            custody_sandbox::ChainConfig::default(),
            Arc::new(SystemClock),
        )),
        Arc::new(SystemClock),
        Arc::new(OsIds),
        custody_http::events::renderer(),
    );
    deposits
        .apply_verified(VerifiedDeposit {
            provider_ref: reference.to_owned(),
            asset,
            amount: Amount::from_base_units(units),
            address: ChainAddress::parse(asset.network(), address).expect("address"),
            tx_hash: None,
            status: TransactionStatus::Completed,
            confirmations: None,
        })
        .await
        .expect("deposit applied");
}

/// Asserts a timestamp is RFC 3339 in UTC.
fn assert_rfc3339_utc(value: &Value) {
    let text = value.as_str().expect("timestamp string");
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"));
    assert_eq!(parsed.offset(), time::UtcOffset::UTC, "{text}");
}

// ---------------------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------------------

async fn bearer_prefix_is_optional(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let body = create_body("USDT", "ethereum", Some("u1"));
    // Bare key (as the seed's docs say to paste it).
    let (status, _, _, created) = parts(
        app.anonymous(Method::POST, ADDRESSES, Some(&body))
            .header("Authorization", key.key())
            .idempotency_key(&idem())
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    // With the prefix, any case.
    for authorization in [
        format!("Bearer {}", key.key()),
        format!("bearer {}", key.key()),
    ] {
        let (status, _, _, again) = parts(
            app.anonymous(Method::POST, ADDRESSES, Some(&body))
                .header("Authorization", &authorization)
                .idempotency_key(&idem())
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 200, "{again}");
        assert_eq!(again, created);
    }
    for authorization in [key.key().to_owned(), format!("Bearer {}", key.key())] {
        for path in [ADDRESSES.to_owned(), "/connect/v1/balances/u1".to_owned()] {
            let (status, _, _, body) = parts(
                app.anonymous(Method::GET, &path, None)
                    .header("Authorization", &authorization)
                    .send()
                    .await,
            )
            .await;
            assert_eq!(status, 200, "{path}: {body}");
        }
    }
    // No key, or a wrong one: 401.
    let response = app.anonymous(Method::GET, ADDRESSES, None).send().await;
    assert_error(
        response,
        401,
        "authentication_error",
        "authentication_failed",
    )
    .await;
    let response = app
        .anonymous(Method::GET, ADDRESSES, None)
        .header("Authorization", &format!("Bearer {}x", key.key()))
        .send()
        .await;
    assert_error(
        response,
        401,
        "authentication_error",
        "authentication_failed",
    )
    .await;
}

async fn every_connect_response_carries_a_request_id(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let (_, headers, _, created) =
        post(&app, &key, &create_body("USDT", "ethereum", Some("u1"))).await;
    let id = created["id"].as_str().expect("id");
    let mut request_ids = BTreeSet::new();
    let mut check = |headers: &HeaderMap| {
        let request_id = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("X-Request-Id");
        assert!(request_id.starts_with("req_"));
        assert!(
            request_ids.insert(request_id.to_owned()),
            "request ids are unique"
        );
    };
    check(&headers);
    for path in [
        ADDRESSES.to_owned(),
        format!("{ADDRESSES}/{id}"),
        "/connect/v1/balances".to_owned(),
        "/connect/v1/balances/u1".to_owned(),
    ] {
        let response = app.request(&key, Method::GET, &path, None).send().await;
        check(response.headers());
    }
}

async fn scopes_are_enforced(engine: Engine) {
    use custody_core::api_key::Scope;
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let full = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    mint(&app, &full, "USDT", "ethereum", Some("u1")).await;
    let read_only = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Bearer).scopes(&[Scope::AddressesRead]),
        )
        .await;
    let response = app
        .request(
            &read_only,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "ethereum", Some("u2"))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    // Reading addresses is allowed; balances need wallets:read.
    get_ok(&app, &read_only, ADDRESSES).await;
    get_ok(
        &app,
        &read_only,
        &format!("{ADDRESSES}?external_ref=nobody"),
    )
    .await;
    let response = app
        .request(&read_only, Method::GET, "/connect/v1/balances/u1", None)
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    // The refused POST created nothing.
    let listed = get_ok(&app, &full, &format!("{ADDRESSES}?external_ref=u2")).await;
    assert_eq!(listed["items"], json!([]));
}

async fn frozen_users_receive_archived_users_do_not(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let key = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let hmac = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    let (status, _, _, vault) = parts(
        app.request(
            &hmac,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"f-1"}"#),
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    let vault_path = format!("/v1/vaults/{}", vault["id"].as_str().expect("id"));
    // A vault made by Platform with no wallets yet: Connect reports it with no lines.
    let balances = get_ok(&app, &key, "/connect/v1/balances/f-1").await;
    assert_eq!(balances["balances"], json!([]));
    assert_eq!(balances["totals"], json!({"usd": "0.00", "pen": "0.00"}));

    let patch = |status: &'static str| {
        let app = &app;
        let hmac = &hmac;
        let vault_path = vault_path.clone();
        async move {
            let (code, _, _, body) = parts(
                app.request(
                    hmac,
                    Method::PATCH,
                    &vault_path,
                    Some(&json!({"status": status}).to_string()),
                )
                .send()
                .await,
            )
            .await;
            assert_eq!(code, 200, "{status}: {body}");
        }
    };
    patch("Frozen").await;
    // A frozen vault still receives: Connect mints for it.
    let (status, frozen) = mint(&app, &key, "USDT", "ethereum", Some("f-1")).await;
    assert_eq!(status, 201, "{frozen}");
    patch("Archived").await;
    let k = idem();
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDC", "ethereum", Some("f-1"))),
        )
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "vault_archived").await;
    // The refusal stored nothing under its key, and created no wallet.
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDC", "ethereum", Some("f-1"))),
        )
        .idempotency_key(&k)
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "vault_archived").await;
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=f-1")).await;
    assert_eq!(listed["items"], json!([frozen]));
}

on_both_stores!(
    bearer_prefix_is_optional,
    every_connect_response_carries_a_request_id,
    scopes_are_enforced,
    frozen_users_receive_archived_users_do_not,
);
