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
        Arc::new(SandboxProvider::new()),
        Arc::new(SystemClock),
        Arc::new(OsIds),
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
// POST /connect/v1/addresses
// ---------------------------------------------------------------------------------------------

async fn per_user_address_lazily_creates_the_user(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let vaults = app.store.environment(Environment::Sandbox).vaults;
    let reference = ExternalRef::parse("user-8842".to_owned()).expect("ref");
    assert!(
        vaults
            .find_by_external_ref(tenant_of(&key), &reference)
            .await
            .is_err(),
        "no vault before first sight"
    );

    let body = r#"{"asset":"USDT","network":"ethereum","external_ref":"user-8842","label":"main"}"#;
    let (status, headers, _, created) = post(&app, &key, body).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    assert_eq!(
        keys(&created),
        [
            "address",
            "asset",
            "created_at",
            "external_ref",
            "id",
            "label",
            "network",
            "status"
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<BTreeSet<_>>(),
        "snake_case fields: {created}"
    );
    assert!(
        created["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("ba_")),
        "{created}"
    );
    assert_eq!(created["asset"], "USDT");
    assert_eq!(created["network"], "ethereum");
    assert_eq!(created["external_ref"], "user-8842");
    assert_eq!(created["label"], "main");
    assert_eq!(created["status"], "active");
    assert_rfc3339_utc(&created["created_at"]);
    assert_address_format("ethereum", created["address"].as_str().expect("address"));

    // The profile (a vault named by the reference) now exists.
    let vault = vaults
        .find_by_external_ref(tenant_of(&key), &reference)
        .await
        .expect("the user's vault was created on first sight");
    assert_eq!(vault.external_ref.as_ref(), Some(&reference));

    // A second asset for the same user lands in the same vault.
    let (status, usdc) = mint(&app, &key, "USDC", "solana", Some("user-8842")).await;
    assert_eq!(status, 201);
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=user-8842")).await;
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{listed}");
    assert!(items.iter().any(|i| i["id"] == usdc["id"]));
    assert!(items.iter().all(|i| i["external_ref"] == "user-8842"));
}

async fn treasury_address_omits_external_ref(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let (status, created) = mint(&app, &key, "USDT", "ethereum", None).await;
    assert_eq!(status, 201, "{created}");
    let object = created.as_object().expect("object");
    assert!(
        !object.contains_key("external_ref"),
        "a treasury address omits the key entirely (not null): {created}"
    );
    assert!(created["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("ba_")));

    // The treasury is one pooled vault: a second asset goes to the same vault, which has no
    // external reference, and no customer vault was created.
    let (_, second) = mint(&app, &key, "USDC", "ethereum", None).await;
    assert!(!second
        .as_object()
        .expect("object")
        .contains_key("external_ref"));
    let addresses = app.store.environment(Environment::Sandbox).addresses;
    let first = addresses
        .get(
            tenant_of(&key),
            created["id"].as_str().expect("id").parse().expect("id"),
        )
        .await
        .expect("stored");
    let other = addresses
        .get(
            tenant_of(&key),
            second["id"].as_str().expect("id").parse().expect("id"),
        )
        .await
        .expect("stored");
    assert_eq!(
        first.vault_id, other.vault_id,
        "one treasury vault per tenant"
    );
    let vault = app
        .store
        .environment(Environment::Sandbox)
        .vaults
        .get(tenant_of(&key), first.vault_id)
        .await
        .expect("vault");
    assert_eq!(vault.external_ref, None);

    // A Platform vault without an externalId is neither the treasury nor taken for it.
    let hmac = app
        .key(tenant_of(&key), KeySpec::sandbox(KeyMode::Hmac))
        .await;
    let (status, _, _, plain) = parts(
        app.request(
            &hmac,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"name":"no reference"}"#),
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{plain}");
    let (status, third) = mint(&app, &key, "XAUT", "ethereum", None).await;
    assert_eq!(status, 201);
    let third = addresses
        .get(
            tenant_of(&key),
            third["id"].as_str().expect("id").parse().expect("id"),
        )
        .await
        .expect("stored");
    assert_eq!(
        third.vault_id, first.vault_id,
        "still the one treasury vault"
    );
    assert_ne!(
        Some(third.vault_id.to_string()),
        plain["id"].as_str().map(str::to_owned)
    );

    // GET and list render treasury addresses without the key too.
    let fetched = get_ok(
        &app,
        &key,
        &format!("{ADDRESSES}/{}", created["id"].as_str().expect("id")),
    )
    .await;
    assert!(
        !fetched
            .as_object()
            .expect("object")
            .contains_key("external_ref"),
        "{fetched}"
    );
    let listed = get_ok(&app, &key, ADDRESSES).await;
    for item in listed["items"].as_array().expect("items") {
        assert!(
            !item
                .as_object()
                .expect("object")
                .contains_key("external_ref"),
            "{item}"
        );
    }
}

async fn asset_and_network_are_case_insensitive(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let (status, first) = mint(&app, &key, "uSdT", "ETHEREUM", Some("u1")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["asset"], "USDT", "canonical case on output");
    assert_eq!(first["network"], "ethereum");
    let (status, again) = mint(&app, &key, "usdt", "Ethereum", Some("u1")).await;
    assert_eq!(status, 200, "the same wallet: {again}");
    assert_eq!(again, first);
    let (status, sui) = mint(&app, &key, "usdc", "SUI", Some("u1")).await;
    assert_eq!(status, 201);
    assert_eq!(
        (sui["asset"].as_str(), sui["network"].as_str()),
        (Some("USDC"), Some("sui"))
    );
}

async fn code_lengths_are_checked(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let cases = [
        ("U", "ethereum", "asset", "invalid_code"),
        ("", "ethereum", "asset", "invalid_code"),
        ("ABCDEFGHIJKLMNOPQ", "ethereum", "asset", "invalid_code"), // 17
        ("USDT", "e", "network", "invalid_code"),
        ("USDT", "", "network", "invalid_code"),
        ("USDT", "ethereumethereum1", "network", "invalid_code"), // 17
        // Within 2–16 but naming nothing we support: an unsupported code, not a length error.
        ("XX", "ethereum", "asset", "unsupported_asset"),
        ("ABCDEFGHIJKLMNOP", "ethereum", "asset", "unsupported_asset"), // 16
        ("USDT", "ab", "network", "unsupported_network"),
        ("USDT", "ethereumethereum", "network", "unsupported_network"), // 16
    ];
    for (asset, network, field, code) in cases {
        let response = app
            .request(
                &key,
                Method::POST,
                ADDRESSES,
                Some(&create_body(asset, network, Some("u"))),
            )
            .idempotency_key(&idem())
            .send()
            .await;
        let body = assert_error(response, 422, "invalid_request_error", code).await;
        assert_eq!(
            field_of(&body),
            field,
            "asset={asset:?} network={network:?}: {body}"
        );
    }
    // Nothing was created by any of them.
    let listed = get_ok(&app, &key, ADDRESSES).await;
    assert_eq!(listed["items"], json!([]));
}

async fn text_length_limits(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let max = "r".repeat(255);
    let (status, created) = mint(&app, &key, "USDT", "ethereum", Some(&max)).await;
    assert_eq!(status, 201);
    assert_eq!(
        created["external_ref"],
        max.as_str(),
        "255 characters are accepted and echoed"
    );
    // Characters, not bytes: 255 two-byte characters are within the limit.
    let wide = "ü".repeat(255);
    let (status, created) = mint(&app, &key, "USDT", "ethereum", Some(&wide)).await;
    assert_eq!(status, 201);
    assert_eq!(created["external_ref"], wide.as_str());

    let too_long = "r".repeat(256);
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "ethereum", Some(&too_long))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    assert_eq!(field_of(&body), "external_ref");

    let label_ok =
        json!({"asset": "USDC", "network": "base", "external_ref": "l", "label": "x".repeat(255)});
    let (status, _, _, body) = post(&app, &key, &label_ok.to_string()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["label"].as_str().map(str::len), Some(255));

    let label_long =
        json!({"asset": "USDC", "network": "ink", "external_ref": "l", "label": "x".repeat(256)});
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(&label_long.to_string()))
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    assert_eq!(field_of(&body), "label");

    // Control characters are refused (they would corrupt logs and exports).
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "ethereum", Some("a\nb"))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    assert_eq!(field_of(&body), "external_ref");

    // An empty reference is not "absent": it is refused rather than silently meaning treasury.
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "ethereum", Some(""))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    assert_eq!(field_of(&body), "external_ref");
}

async fn unsupported_assets_and_pairs_are_422(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let cases = [
        ("BTC", "ethereum", "asset", "unsupported_asset"),
        ("USDT", "bitcoin", "network", "unsupported_network"),
        // Real tokens, real networks, not offered together.
        ("XAUT", "solana", "network", "unsupported_asset_network"),
        ("USDT", "sui", "network", "unsupported_asset_network"),
        ("USDT", "base", "network", "unsupported_asset_network"),
    ];
    for (asset, network, field, code) in cases {
        let response = app
            .request(
                &key,
                Method::POST,
                ADDRESSES,
                Some(&create_body(asset, network, Some("u"))),
            )
            .idempotency_key(&idem())
            .send()
            .await;
        let body = assert_error(response, 422, "invalid_request_error", code).await;
        assert_eq!(field_of(&body), field, "{asset}/{network}: {body}");
    }
}

async fn an_asset_the_tenant_has_not_enabled_is_422(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let usdt_sol = AssetId::parse("USDT_SOLANA").expect("asset");
    app.admin
        .set_asset(tenant_of(&key), Environment::Sandbox, usdt_sol, false)
        .await
        .expect("disable");
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("usdt", "solana", Some("fresh-user"))),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "asset_not_enabled").await;
    assert_eq!(field_of(&body), "asset", "names the asset: {body}");
    // Same for the treasury.
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(&create_body("USDT", "solana", None)),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "asset_not_enabled").await;
    // Nothing was provisioned for the refused request.
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=fresh-user")).await;
    assert_eq!(listed["items"], json!([]));
    let balances = get_ok(&app, &key, "/connect/v1/balances/fresh-user").await;
    assert_eq!(balances["balances"], json!([]));
    // Other assets still work; another tenant is unaffected.
    mint(&app, &key, "USDT", "ethereum", Some("fresh-user")).await;
    let other = app.sandbox_key(KeyMode::Bearer).await;
    let (status, _) = mint(&app, &other, "USDT", "solana", Some("fresh-user")).await;
    assert_eq!(status, 201);
    // Re-enabled, it works.
    app.admin
        .set_asset(tenant_of(&key), Environment::Sandbox, usdt_sol, true)
        .await
        .expect("enable");
    let (status, _) = mint(&app, &key, "USDT", "solana", Some("fresh-user")).await;
    assert_eq!(status, 201);
}

async fn unknown_fields_are_422_naming_the_field(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for (body, field) in [
        (
            r#"{"asset":"USDT","netwrok":"ethereum","network":"ethereum"}"#,
            "netwrok",
        ),
        (
            r#"{"asset":"USDT","network":"ethereum","externalRef":"u1"}"#,
            "externalRef",
        ),
        (
            r#"{"asset":"USDT","network":"ethereum","user_id":"u1"}"#,
            "user_id",
        ),
    ] {
        let response = app
            .request(&key, Method::POST, ADDRESSES, Some(body))
            .idempotency_key(&idem())
            .send()
            .await;
        let error = assert_error(response, 422, "invalid_request_error", "unknown_field").await;
        assert_eq!(field_of(&error), field, "{error}");
        assert_eq!(error["error"]["fieldErrors"][0]["code"], "unknown_field");
    }
    // Missing and mistyped fields are 422 naming them; broken JSON is 400.
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(r#"{"asset":"USDT"}"#))
        .idempotency_key(&idem())
        .send()
        .await;
    let error = assert_error(response, 422, "invalid_request_error", "missing_field").await;
    assert_eq!(field_of(&error), "network");
    let response = app
        .request(
            &key,
            Method::POST,
            ADDRESSES,
            Some(r#"{"asset":"USDT","network":7}"#),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    let error = assert_error(response, 422, "invalid_request_error", "invalid_field").await;
    assert_eq!(field_of(&error), "network");
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(r#"{"asset":"USDT","#))
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(response, 400, "invalid_request_error", "malformed_json").await;
    let listed = get_ok(&app, &key, ADDRESSES).await;
    assert_eq!(listed["items"], json!([]), "nothing was created");
}

async fn repeat_with_a_different_key_is_200_with_the_same_address(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let body = r#"{"asset":"USDC","network":"ethereum","external_ref":"u1","label":"first"}"#;
    let (status, headers, _, first) = post(&app, &key, body).await;
    assert_eq!(status, 201, "{first}");
    assert!(headers.get("idempotency-replayed").is_none());
    let (status, headers, _, second) = post(&app, &key, body).await;
    assert_eq!(status, 200, "{second}");
    assert!(
        headers.get("idempotency-replayed").is_none(),
        "a new key is not a replay: the address converged by itself"
    );
    assert_eq!(second, first, "the same address, rendered the same");
    // The label only applies to a newly minted address.
    let relabel = r#"{"asset":"USDC","network":"ethereum","external_ref":"u1","label":"second"}"#;
    let (status, _, _, third) = post(&app, &key, relabel).await;
    assert_eq!(status, 200);
    assert_eq!(third, first);
    // The treasury converges the same way.
    let (status, treasury) = mint(&app, &key, "USDC", "ethereum", None).await;
    assert_eq!(status, 201);
    let (status, again) = mint(&app, &key, "USDC", "ethereum", None).await;
    assert_eq!(status, 200);
    assert_eq!(again, treasury);
    assert_ne!(
        treasury["address"], first["address"],
        "treasury and user are different wallets"
    );
}

async fn addresses_are_deterministic_and_distinct(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let tenant = tenant_of(&key);
    let (_, a) = mint(&app, &key, "USDT", "ethereum", Some("alice")).await;
    let (_, a_again) = mint(&app, &key, "USDT", "ethereum", Some("alice")).await;
    assert_eq!(a["address"], a_again["address"]);
    assert_eq!(a["id"], a_again["id"]);

    // The sandbox address is a pure function of (tenant, vault, asset, index): recompute it.
    let stored = app
        .store
        .environment(Environment::Sandbox)
        .addresses
        .get(tenant, a["id"].as_str().expect("id").parse().expect("id"))
        .await
        .expect("stored");
    let expected = SandboxProvider::address_for(&MintRequest {
        address_id: stored.id,
        tenant_id: tenant,
        vault_id: stored.vault_id,
        wallet_id: stored.wallet_id,
        asset: stored.asset,
        index: 0,
    })
    .expect("derivation");
    assert_eq!(a["address"], expected.as_str());
    // …so it does not depend on the address id (a retry that minted again would match).
    let rederived = SandboxProvider::address_for(&MintRequest {
        address_id: MISSING_ADDRESS.parse().expect("id"),
        tenant_id: tenant,
        vault_id: stored.vault_id,
        wallet_id: stored.wallet_id,
        asset: stored.asset,
        index: 0,
    })
    .expect("derivation");
    assert_eq!(rederived, expected);

    // Different users, different assets on one network, different tenants: different
    // addresses ((network, address) is unique system-wide).
    let (_, b) = mint(&app, &key, "USDT", "ethereum", Some("bob")).await;
    let (_, a_usdc) = mint(&app, &key, "USDC", "ethereum", Some("alice")).await;
    let other = app.sandbox_key(KeyMode::Bearer).await;
    let (_, other_a) = mint(&app, &other, "USDT", "ethereum", Some("alice")).await;
    let all: BTreeSet<&str> = [&a, &b, &a_usdc, &other_a]
        .iter()
        .map(|v| v["address"].as_str().expect("address"))
        .collect();
    assert_eq!(all.len(), 4, "{all:?}");
}

async fn addresses_are_valid_for_every_network(engine: Engine) {
    // Sanity-check the EIP-55 oracle with the EIP's own test vector.
    let mut vector = [0u8; 20];
    hex::decode_to_slice("5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", &mut vector).expect("hex");
    assert_eq!(
        eip55_checksum(&vector),
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    );

    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let mut mixed_case_seen = false;
    for asset in &CATALOGUE {
        let symbol = asset.id.symbol().as_str();
        let network = asset.id.network().as_str();
        for user in ["fmt-1", "fmt-2", "fmt-3"] {
            let (status, body) = mint(&app, &key, symbol, network, Some(user)).await;
            assert_eq!(status, 201, "{body}");
            let address = body["address"].as_str().expect("address");
            assert_address_format(network, address);
            if address.strip_prefix("0x").is_some_and(|h| {
                network != "sui"
                    && h.bytes().any(|b| b.is_ascii_uppercase())
                    && h.bytes().any(|b| b.is_ascii_lowercase())
            }) {
                mixed_case_seen = true;
            }
        }
    }
    assert!(
        mixed_case_seen,
        "EVM addresses are written in EIP-55 mixed case"
    );
}

// ---------------------------------------------------------------------------------------------
// GET /connect/v1/addresses/{id}
// ---------------------------------------------------------------------------------------------

async fn get_returns_the_same_body_as_post(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for external_ref in [Some("u1"), None] {
        let mut body = json!({"asset": "XAUT", "network": "ethereum", "external_ref": external_ref, "label": "gold"});
        if external_ref.is_none() {
            body.as_object_mut().expect("object").remove("external_ref");
        }
        let (status, _, _, created) = post(&app, &key, &body.to_string()).await;
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().expect("id");
        let fetched = get_ok(&app, &key, &format!("{ADDRESSES}/{id}")).await;
        assert_eq!(fetched, created);
    }
}

async fn malformed_address_ids_are_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for id in [
        "addr_x",
        "ba_notaulid",
        "acc_01J00000000000000000000000", // another kind of id
        "ba_",
        "01J00000000000000000000000",
        "ba_01J0000000000000000000000",   // 25 characters
        "ba_01J000000000000000000000000", // 27 characters
    ] {
        let response = app
            .request(&key, Method::GET, &format!("{ADDRESSES}/{id}"), None)
            .send()
            .await;
        let body = assert_error(response, 400, "invalid_request_error", "invalid_address_id").await;
        assert_eq!(field_of(&body), "address_id", "{id}: {body}");
    }
}

async fn missing_and_foreign_ids_are_the_same_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let owner = app.sandbox_key(KeyMode::Bearer).await;
    let (_, created) = mint(&app, &owner, "USDT", "ethereum", Some("u1")).await;
    let id = created["id"].as_str().expect("id");

    let stranger = app.sandbox_key(KeyMode::Bearer).await;
    let foreign = assert_error(
        app.request(&stranger, Method::GET, &format!("{ADDRESSES}/{id}"), None)
            .send()
            .await,
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;
    // The same id shape that exists nowhere: compare with the owner's own missing id too.
    let missing_for_stranger = assert_error(
        app.request(
            &stranger,
            Method::GET,
            &format!("{ADDRESSES}/{MISSING_ADDRESS}"),
            None,
        )
        .send()
        .await,
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;
    let missing_for_owner = assert_error(
        app.request(
            &owner,
            Method::GET,
            &format!("{ADDRESSES}/{MISSING_ADDRESS}"),
            None,
        )
        .send()
        .await,
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;
    assert_eq!(
        without_request_id(&foreign),
        without_request_id(&missing_for_stranger),
        "another tenant's id must be indistinguishable from a missing one"
    );
    assert_eq!(
        without_request_id(&foreign),
        without_request_id(&missing_for_owner)
    );
    assert_ne!(
        foreign["error"]["requestId"],
        missing_for_stranger["error"]["requestId"]
    );
    assert!(
        !foreign.to_string().contains(id),
        "the 404 does not echo the foreign id"
    );
    // The owner still sees it.
    get_ok(&app, &owner, &format!("{ADDRESSES}/{id}")).await;
}

// ---------------------------------------------------------------------------------------------
// GET /connect/v1/addresses
// ---------------------------------------------------------------------------------------------

async fn list_paginates_with_cursors(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let other = app.sandbox_key(KeyMode::Bearer).await;
    mint(&app, &other, "USDT", "ethereum", Some("u1")).await; // another tenant's: never listed
    for (asset, network, user) in [
        ("USDT", "ethereum", Some("u1")),
        ("USDC", "ethereum", Some("u1")),
        ("USDT", "ethereum", Some("u2")),
        ("USDC", "solana", None),
        ("USDT", "solana", Some("u3")),
    ] {
        mint(&app, &key, asset, network, user).await;
    }

    let all = get_ok(&app, &key, &format!("{ADDRESSES}?limit=200")).await;
    assert_eq!(
        keys(&all),
        ["items", "pagination"]
            .map(str::to_owned)
            .into_iter()
            .collect()
    );
    assert_eq!(
        keys(&all["pagination"]),
        ["has_more", "next_cursor"]
            .map(str::to_owned)
            .into_iter()
            .collect(),
        "snake_case pagination: {all}"
    );
    assert_eq!(all["pagination"]["has_more"], false);
    assert!(all["pagination"]["next_cursor"].is_null());
    let ids: Vec<String> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids.len(), 5);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "ascending by id");
    // The default page (50) holds them all.
    assert_eq!(get_ok(&app, &key, ADDRESSES).await, all);

    // Forward, two at a time.
    let mut seen = Vec::new();
    let mut path = format!("{ADDRESSES}?limit=2");
    let mut pages = 0;
    loop {
        let page = get_ok(&app, &key, &path).await;
        pages += 1;
        let items = page["items"].as_array().expect("items");
        seen.extend(
            items
                .iter()
                .map(|i| i["id"].as_str().expect("id").to_owned()),
        );
        if page["pagination"]["has_more"] == true {
            assert_eq!(items.len(), 2);
            let cursor = page["pagination"]["next_cursor"].as_str().expect("cursor");
            assert_eq!(
                cursor,
                items[1]["id"].as_str().expect("id"),
                "cursor is the last id"
            );
            path = format!("{ADDRESSES}?limit=2&starting_after={cursor}");
        } else {
            assert!(page["pagination"]["next_cursor"].is_null(), "{page}");
            break;
        }
        assert!(pages < 10, "pagination does not terminate");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids);

    // Backward: the page just before the cursor, still ascending.
    let before = get_ok(
        &app,
        &key,
        &format!("{ADDRESSES}?limit=2&ending_before={}", ids[4]),
    )
    .await;
    let before_ids: Vec<&str> = before["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(before_ids, vec![ids[2].as_str(), ids[3].as_str()]);
    assert_eq!(before["pagination"]["has_more"], true, "{before}");
    let first = get_ok(&app, &key, &format!("{ADDRESSES}?ending_before={}", ids[0])).await;
    assert_eq!(first["items"], json!([]));
    let after_last = get_ok(
        &app,
        &key,
        &format!("{ADDRESSES}?starting_after={}", ids[4]),
    )
    .await;
    assert_eq!(after_last["items"], json!([]));
    assert_eq!(after_last["pagination"]["has_more"], false);

    // Filter by user.
    let u1 = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=u1")).await;
    let u1_items = u1["items"].as_array().expect("items");
    assert_eq!(u1_items.len(), 2, "{u1}");
    assert!(u1_items.iter().all(|i| i["external_ref"] == "u1"));
    let u1_page = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=u1&limit=1")).await;
    assert_eq!(u1_page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(u1_page["pagination"]["has_more"], true);
    let nobody = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=nobody")).await;
    assert_eq!(
        nobody,
        json!({"items": [], "pagination": {"has_more": false, "next_cursor": null}})
    );
    // The other tenant's "u1" is not ours and ours is not theirs.
    let theirs = get_ok(&app, &other, &format!("{ADDRESSES}?external_ref=u1")).await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(1));
}

async fn bad_list_parameters_are_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    mint(&app, &key, "USDT", "ethereum", Some("u1")).await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("limit=-1", "limit"),
        ("limit=", "limit"),
        ("starting_after=nope", "starting_after"),
        ("starting_after=acc_01J00000000000000000000000", "starting_after"),
        ("ending_before=nope", "ending_before"),
        (
            "starting_after=ba_01J00000000000000000000000&ending_before=ba_01J00000000000000000000000",
            "starting_after",
        ),
        ("limt=5", "limt"),
    ] {
        let (status, _, _, body) = parts(
            app.request(&key, Method::GET, &format!("{ADDRESSES}?{query}"), None)
                .send()
                .await,
        )
        .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{query}");
        assert_eq!(body["error"]["status"], 400);
        assert_eq!(field_of(&body), field, "{query}: {body}");
    }
    for limit in [1, 200] {
        let page = get_ok(&app, &key, &format!("{ADDRESSES}?limit={limit}")).await;
        assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    }
}

// ---------------------------------------------------------------------------------------------
// Balances
// ---------------------------------------------------------------------------------------------

/// The documented shape of a balances response.
fn assert_balances_shape(body: &Value) {
    assert_eq!(
        keys(body),
        ["balances", "external_ref", "totals", "valued_at"]
            .map(str::to_owned)
            .into_iter()
            .collect(),
        "{body}"
    );
    assert_rfc3339_utc(&body["valued_at"]);
    for line in body["balances"].as_array().expect("balances") {
        assert_eq!(
            keys(line),
            ["amount", "asset", "network"]
                .map(str::to_owned)
                .into_iter()
                .collect(),
            "{line}"
        );
    }
    for (currency, total) in body["totals"].as_object().expect("totals") {
        let total = total.as_str().expect("totals are strings");
        let (whole, cents) = total.split_once('.').expect("two decimal places");
        assert!(
            !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()),
            "{currency}: {total}"
        );
        assert!(
            cents.len() == 2 && cents.bytes().all(|b| b.is_ascii_digit()),
            "{currency}: {total}"
        );
    }
}

async fn balances_of_an_unknown_user_are_empty(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for path in [
        "/connect/v1/balances?external_ref=ghost",
        "/connect/v1/balances/ghost",
    ] {
        let body = get_ok(&app, &key, path).await;
        assert_balances_shape(&body);
        assert_eq!(body["external_ref"], "ghost");
        assert_eq!(body["balances"], json!([]));
        assert_eq!(body["totals"], json!({"usd": "0.00", "pen": "0.00"}));
    }
    // Looking did not create the user.
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=ghost")).await;
    assert_eq!(listed["items"], json!([]));
    let reference = ExternalRef::parse("ghost".to_owned()).expect("ref");
    assert!(app
        .store
        .environment(Environment::Sandbox)
        .vaults
        .find_by_external_ref(tenant_of(&key), &reference)
        .await
        .is_err());
}

async fn balances_of_fresh_wallets_are_zero(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    mint(&app, &key, "USDT", "ethereum", Some("u1")).await;
    mint(&app, &key, "XAUT", "ethereum", Some("u1")).await;
    mint(&app, &key, "USDC", "solana", Some("u1")).await;
    let by_query = get_ok(&app, &key, "/connect/v1/balances?external_ref=u1").await;
    let by_path = get_ok(&app, &key, "/connect/v1/balances/u1").await;
    for body in [&by_query, &by_path] {
        assert_balances_shape(body);
        assert_eq!(body["external_ref"], "u1");
        let mut lines: Vec<(String, String, String)> = body["balances"]
            .as_array()
            .expect("balances")
            .iter()
            .map(|l| {
                (
                    l["asset"].as_str().expect("asset").to_owned(),
                    l["network"].as_str().expect("network").to_owned(),
                    l["amount"].as_str().expect("amount").to_owned(),
                )
            })
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            vec![
                ("USDC".into(), "solana".into(), "0".into()),
                ("USDT".into(), "ethereum".into(), "0".into()),
                ("XAUT".into(), "ethereum".into(), "0".into()),
            ]
        );
        assert_eq!(body["totals"], json!({"usd": "0.00", "pen": "0.00"}));
    }
    let mut query = by_query.clone();
    let mut path = by_path.clone();
    query["valued_at"] = Value::Null;
    path["valued_at"] = Value::Null;
    assert_eq!(query, path, "both forms answer alike");
}

async fn balances_are_valued_with_sandbox_prices(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let (_, usdt) = mint(&app, &key, "USDT", "ethereum", Some("u1")).await;
    let (_, xaut) = mint(&app, &key, "XAUT", "ethereum", Some("u1")).await;
    let (_, other_user) = mint(&app, &key, "USDT", "ethereum", Some("u2")).await;
    let (_, treasury) = mint(&app, &key, "USDT", "ethereum", None).await;
    let (_, treasury_sol) = mint(&app, &key, "USDC", "solana", None).await;
    let usdt_eth = AssetId::parse("USDT_ETHEREUM").expect("asset");
    let xaut_eth = AssetId::parse("XAUT_ETHEREUM").expect("asset");
    let addr = |v: &Value| v["address"].as_str().expect("address").to_owned();
    fund(&app, usdt_eth, &addr(&usdt), 12_500_000, "dep-1").await; // 12.5 USDT
    fund(&app, xaut_eth, &addr(&xaut), 1_000, "dep-2").await; // 0.001 XAUT
    fund(&app, usdt_eth, &addr(&other_user), 2_500_000, "dep-3").await; // 2.5 USDT
    fund(&app, usdt_eth, &addr(&treasury), 1_000_000, "dep-4").await; // 1 USDT
    let _ = treasury_sol;

    let u1 = get_ok(&app, &key, "/connect/v1/balances/u1").await;
    assert_balances_shape(&u1);
    assert_eq!(
        u1["balances"],
        json!([
            {"asset": "USDT", "network": "ethereum", "amount": "12.5"},
            {"asset": "XAUT", "network": "ethereum", "amount": "0.001"},
        ])
    );
    // usd: 12.5 × 1.00 + 0.001 × 2650.00 = 15.15
    // pen: 12.5 × 3.75 + 0.001 × 2650 × 3.75 = 46.875 + 9.9375 = 56.8125 → 56.81
    assert_eq!(u1["totals"], json!({"usd": "15.15", "pen": "56.81"}));

    let u2 = get_ok(&app, &key, "/connect/v1/balances?external_ref=u2").await;
    assert_eq!(
        u2["balances"],
        json!([{"asset": "USDT", "network": "ethereum", "amount": "2.5"}])
    );
    // 2.5 × 3.75 = 9.375: two places exactly.
    assert_eq!(u2["totals"], json!({"usd": "2.50", "pen": "9.38"}));

    // Tenant-wide: every vault, the treasury included, summed per asset.
    let all = get_ok(&app, &key, "/connect/v1/balances").await;
    assert_balances_shape(&all);
    assert!(all
        .as_object()
        .expect("object")
        .contains_key("external_ref"));
    assert!(all["external_ref"].is_null(), "{all}");
    let mut lines: Vec<Value> = all["balances"].as_array().expect("balances").clone();
    lines.sort_by_key(|l| (l["asset"].to_string(), l["network"].to_string()));
    assert_eq!(
        lines,
        vec![
            json!({"asset": "USDC", "network": "solana", "amount": "0"}),
            json!({"asset": "USDT", "network": "ethereum", "amount": "16"}),
            json!({"asset": "XAUT", "network": "ethereum", "amount": "0.001"}),
        ]
    );
    // usd: 16 + 2.65 = 18.65; pen: 60 + 9.9375 = 69.9375 → 69.94
    assert_eq!(all["totals"], json!({"usd": "18.65", "pen": "69.94"}));

    // Another tenant sees none of it.
    let other = app.sandbox_key(KeyMode::Bearer).await;
    let theirs = get_ok(&app, &other, "/connect/v1/balances").await;
    assert_eq!(theirs["balances"], json!([]));
    let theirs = get_ok(&app, &other, "/connect/v1/balances/u1").await;
    assert_eq!(theirs["balances"], json!([]));
}

async fn balances_reject_bad_parameters(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let too_long = "r".repeat(256);
    for path in [
        format!("/connect/v1/balances?external_ref={too_long}"),
        format!("/connect/v1/balances/{too_long}"),
        "/connect/v1/balances?external_ref=".to_owned(),
        "/connect/v1/balances?user=u1".to_owned(),
    ] {
        let (status, _, _, body) =
            parts(app.request(&key, Method::GET, &path, None).send().await).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    // Percent-encoded references are decoded, in the query and in the path.
    mint(&app, &key, "USDT", "ethereum", Some("a b")).await;
    for path in [
        "/connect/v1/balances?external_ref=a%20b",
        "/connect/v1/balances/a%20b",
    ] {
        let body = get_ok(&app, &key, path).await;
        assert_eq!(body["external_ref"], "a b", "{path}");
        assert_eq!(
            body["balances"].as_array().map(Vec::len),
            Some(1),
            "{path}: {body}"
        );
    }
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
    frozen_users_receive_archived_users_do_not,
    per_user_address_lazily_creates_the_user,
    treasury_address_omits_external_ref,
    asset_and_network_are_case_insensitive,
    code_lengths_are_checked,
    text_length_limits,
    unsupported_assets_and_pairs_are_422,
    an_asset_the_tenant_has_not_enabled_is_422,
    unknown_fields_are_422_naming_the_field,
    repeat_with_a_different_key_is_200_with_the_same_address,
    addresses_are_deterministic_and_distinct,
    addresses_are_valid_for_every_network,
    get_returns_the_same_body_as_post,
    malformed_address_ids_are_400,
    missing_and_foreign_ids_are_the_same_404,
    list_paginates_with_cursors,
    bad_list_parameters_are_400,
    balances_of_an_unknown_user_are_empty,
    balances_of_fresh_wallets_are_zero,
    balances_are_valued_with_sandbox_prices,
    balances_reject_bad_parameters,
    bearer_prefix_is_optional,
    every_connect_response_carries_a_request_id,
    scopes_are_enforced,
);
