//! The Accounts dialect (seed `002`) over HTTP with real Ed25519 signing: blockchain
//! addresses and balances of accounts (an account is a wallet, created first via Platform or
//! Connect), on both stores.

use std::collections::BTreeSet;

use custody_core::api_key::KeyMode;
use custody_core::tenant::TenantStatus;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, parts, spawn_app, Engine, Key, KeySpec, TestApp};

mod balances;
mod blockchain_addresses;

/// One tenant with a key per dialect.
struct Tenant {
    platform: Key,
    accounts: Key,
    connect: Key,
}

async fn tenant(app: &TestApp) -> Tenant {
    let id = app.tenant(TenantStatus::Pending).await;
    Tenant {
        platform: app.key(id, KeySpec::sandbox(KeyMode::Hmac)).await,
        accounts: app.key(id, KeySpec::sandbox(KeyMode::Ed25519)).await,
        connect: app.key(id, KeySpec::sandbox(KeyMode::Bearer)).await,
    }
}

async fn call(
    app: &TestApp,
    key: &Key,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, HeaderMap, Value) {
    let (status, headers, _, json) = parts(app.request(key, method, path, body).send().await).await;
    (status, headers, json)
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {value}"))
}

/// `^{prefix}[A-Za-z0-9]+$`, the seed's id patterns.
fn matches_id_pattern(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn assert_rfc3339(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    assert!(
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok(),
        "{text} is not RFC 3339"
    );
}

/// Creates an account via Platform: a vault `external_id` and its wallet of `asset_id`.
/// Returns the wallet (`id` is the accountId).
async fn account_via_platform(
    app: &TestApp,
    t: &Tenant,
    external_id: &str,
    asset_id: &str,
) -> Value {
    let (status, _, vault) = call(
        app,
        &t.platform,
        Method::POST,
        "/v1/vaults",
        Some(&json!({ "externalId": external_id }).to_string()),
    )
    .await;
    assert!(status == 201 || status == 409, "{vault}");
    let vault_id = if status == 201 {
        str_of(&vault, "id").to_owned()
    } else {
        let (_, _, list) = call(
            app,
            &t.platform,
            Method::GET,
            &format!("/v1/vaults?externalId={external_id}"),
            None,
        )
        .await;
        str_of(&list["items"][0], "id").to_owned()
    };
    let (status, _, wallet) = call(
        app,
        &t.platform,
        Method::POST,
        &format!("/v1/vaults/{vault_id}/wallets"),
        Some(&json!({ "assetId": asset_id }).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{wallet}");
    wallet
}

/// `POST /v1/accounts/{id}/blockchain-addresses` with a fresh Idempotency-Key.
async fn create_address(
    app: &TestApp,
    key: &Key,
    account: &str,
    body: &str,
    idem: &str,
) -> (u16, HeaderMap, Value) {
    let (status, headers, _, json) = parts(
        app.request(
            key,
            Method::POST,
            &format!("/v1/accounts/{account}/blockchain-addresses"),
            Some(body),
        )
        .idempotency_key(idem)
        .send()
        .await,
    )
    .await;
    (status, headers, json)
}

fn assert_blockchain_address(address: &Value, account: &str, chain: &str, asset: &str) {
    let keys: BTreeSet<&str> = address
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {address}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "accountId",
            "chain",
            "address",
            "asset",
            "status",
            "createdAt"
        ]
        .into_iter()
        .collect(),
        "exactly the seed's seven fields: {address}"
    );
    assert!(
        matches_id_pattern(str_of(address, "id"), "ba_"),
        "{address}"
    );
    assert!(
        matches_id_pattern(str_of(address, "accountId"), "acc_"),
        "{address}"
    );
    assert_eq!(address["accountId"], account);
    assert_eq!(address["chain"], chain);
    assert_eq!(address["asset"], asset);
    assert_eq!(address["status"], "active");
    assert_rfc3339(&address["createdAt"]);
    assert!(!str_of(address, "address").is_empty());
}
