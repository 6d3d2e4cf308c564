//! The Platform dialect (seed `001`) over HTTP with real HMAC signing: assets, vaults, wallets
//! and extra deposit addresses, on both stores.

use std::collections::BTreeSet;

use custody_core::api_key::KeyMode;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::tenant::TenantStatus;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, parts, spawn_app, Engine, Key, KeySpec, TestApp};
use crate::on_both_stores;

mod address_book;
mod assets;
mod durable_work;
mod events;
mod sandbox;
mod sandbox_chain;
mod transactions;
mod vaults;
mod wallets;
mod webhooks;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Sends a signed request and returns (status, headers, JSON body).
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

/// Asserts `value` is a string `{prefix}{ULID}`.
fn assert_id(value: &Value, prefix: &str) -> String {
    let id = value
        .as_str()
        .unwrap_or_else(|| panic!("id is not a string: {value}"));
    let rest = id
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{id} does not start with {prefix}"));
    assert!(
        ulid::Ulid::from_string(rest).is_ok(),
        "{id}: not {prefix} followed by a ULID"
    );
    id.to_owned()
}

/// Asserts `value` is an RFC 3339 UTC timestamp.
fn assert_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    assert!(
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok(),
        "{text} is not RFC 3339"
    );
    assert!(text.ends_with('Z'), "{text} is not UTC");
}

/// The keys of a JSON object.
fn keys_of(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// `POST /v1/vaults` that must answer 201; returns the vault.
async fn create_vault(app: &TestApp, key: &Key, body: Value) -> Value {
    let (status, _, vault) = call(
        app,
        key,
        Method::POST,
        "/v1/vaults",
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    vault
}

/// `POST /v1/vaults/{id}/wallets`: (status, wallet).
async fn create_wallet(app: &TestApp, key: &Key, vault: &str, body: Value) -> (u16, Value) {
    let (status, _, wallet) = call(
        app,
        key,
        Method::POST,
        &format!("/v1/vaults/{vault}/wallets"),
        Some(&body.to_string()),
    )
    .await;
    (status, wallet)
}

/// A vault and its USDT_ETHEREUM wallet; returns (vault id, wallet).
async fn vault_with_wallet(app: &TestApp, key: &Key, external_id: &str) -> (String, Value) {
    let vault = create_vault(
        app,
        key,
        json!({"externalId": external_id, "name": external_id}),
    )
    .await;
    let vault_id = vault["id"].as_str().unwrap_or_default().to_owned();
    let (status, wallet) =
        create_wallet(app, key, &vault_id, json!({"assetId": "usdt_ethereum"})).await;
    assert_eq!(status, 201, "{wallet}");
    (vault_id, wallet)
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {value}"))
}

async fn platform_scopes_are_enforced(engine: Engine) {
    use custody_core::api_key::Scope;
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::VaultsRead]),
        )
        .await;
    let response = app
        .request(
            &reader,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"x"}"#),
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let (status, _, list) = call(&app, &reader, Method::GET, "/v1/vaults", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"], json!([]), "nothing created");

    let writer = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    let vault = create_vault(&app, &writer, json!({"externalId": "x"})).await;
    let response = app
        .request(
            &reader,
            Method::POST,
            &format!("/v1/vaults/{}/wallets", str_of(&vault, "id")),
            Some(r#"{"assetId":"USDT_ETHEREUM"}"#),
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let response = app
        .request(
            &reader,
            Method::GET,
            &format!("/v1/vaults/{}/wallets", str_of(&vault, "id")),
            None,
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
}

on_both_stores!(platform_scopes_are_enforced,);
