//! Convergence (ARCHITECTURE §2, §6): `ensure_primary_address` is idempotent on (vault, asset)
//! by itself, so concurrent requests with different Idempotency-Keys, and the three dialects
//! asking for the same wallet in either order, all end at one address.

use std::sync::atomic::{AtomicUsize, Ordering};

use custody_core::api_key::KeyMode;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::tenant::TenantStatus;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{parts, spawn_app, Engine, Key, KeySpec, TestApp};
use crate::on_both_stores;

const ADDRESSES: &str = "/connect/v1/addresses";

fn idem() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("converge-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Sends (with a fresh Idempotency-Key on writes); returns (status, body).
async fn send(
    app: &TestApp,
    key: &Key,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = app.request(key, method.clone(), path, body);
    if method != Method::GET {
        request = request.idempotency_key(&idem());
    }
    let (status, _, _, json) = parts(request.send().await).await;
    (status, json)
}

async fn get_ok(app: &TestApp, key: &Key, path: &str) -> Value {
    let (status, body) = send(app, key, Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` in {value}"))
}

/// One tenant's three keys, one per dialect.
struct Keys {
    tenant: TenantId,
    connect: Key,
    platform: Key,
    accounts: Key,
}

async fn keys(app: &TestApp, environment: Environment) -> Keys {
    let tenant = app.tenant(TenantStatus::Approved).await;
    let spec = |mode| match environment {
        Environment::Sandbox => KeySpec::sandbox(mode),
        Environment::Live => KeySpec::live(mode),
    };
    Keys {
        tenant,
        connect: app.key(tenant, spec(KeyMode::Bearer)).await,
        platform: app.key(tenant, spec(KeyMode::Hmac)).await,
        accounts: app.key(tenant, spec(KeyMode::Ed25519)).await,
    }
}

/// `n` concurrent Connect POSTs of `body`, each with its own Idempotency-Key.
async fn race(app: &TestApp, key: &Key, body: &str, n: usize) -> Vec<(u16, Value)> {
    join_all((0..n).map(|_| send(app, key, Method::POST, ADDRESSES, Some(body)))).await
}

/// Asserts a race converged: all 200/201, exactly one 201, one body.
fn assert_converged(responses: &[(u16, Value)]) -> Value {
    let mut created = 0;
    for (status, body) in responses {
        assert!(*status == 200 || *status == 201, "{status}: {body}");
        if *status == 201 {
            created += 1;
        }
    }
    assert_eq!(created, 1, "exactly one request minted");
    let first = responses[0].1.clone();
    for (_, body) in responses {
        assert_eq!(body, &first, "every response is the same address");
    }
    first
}

// ---------------------------------------------------------------------------------------------
// Concurrent requests with different keys
// ---------------------------------------------------------------------------------------------

async fn a_hundred_concurrent_posts_converge(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let body = r#"{"asset":"USDT","network":"ethereum","external_ref":"racer"}"#;
    let responses = race(&app, &key, body, 100).await;
    let address = assert_converged(&responses);
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?limit=200")).await;
    assert_eq!(listed["items"], json!([address]), "one address, one vault");
    // One user vault (the lazy profile was created once).
    let vaults = app.store.environment(Environment::Sandbox).vaults;
    let tenant = key.minted.record.tenant_id;
    let page = vaults
        .list(tenant, &Default::default(), Default::default())
        .await
        .expect("vaults");
    assert_eq!(page.items.len(), 1, "{:?}", page.items);
}

async fn concurrent_treasury_posts_converge(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    // Treasury (no external_ref): the tenant's one pooled vault is also created lazily.
    let responses = race(&app, &key, r#"{"asset":"USDC","network":"solana"}"#, 50).await;
    let address = assert_converged(&responses);
    assert!(!address
        .as_object()
        .expect("object")
        .contains_key("external_ref"));
    // Two assets of one treasury at once: two wallets in one vault.
    let (usdt, usdc) = futures::join!(
        race(&app, &key, r#"{"asset":"USDT","network":"ethereum"}"#, 20),
        race(&app, &key, r#"{"asset":"USDC","network":"ethereum"}"#, 20),
    );
    let usdt = assert_converged(&usdt);
    let usdc = assert_converged(&usdc);
    assert_ne!(usdt["address"], usdc["address"]);
    let listed = get_ok(&app, &key, ADDRESSES).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(3));
    let vaults = app.store.environment(Environment::Sandbox).vaults;
    let page = vaults
        .list(
            key.minted.record.tenant_id,
            &Default::default(),
            Default::default(),
        )
        .await
        .expect("vaults");
    assert_eq!(page.items.len(), 1, "one treasury vault: {:?}", page.items);
}

async fn concurrent_live_posts_mint_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let keys = keys(&app, Environment::Live).await;
    app.admin
        .set_asset(
            keys.tenant,
            Environment::Live,
            AssetId::parse("USDT_ETHEREUM").expect("asset"),
            true,
        )
        .await
        .expect("enable");
    let body = r#"{"asset":"USDT","network":"ethereum","external_ref":"racer"}"#;
    let responses = race(&app, &keys.connect, body, 30).await;
    assert_converged(&responses);
    assert_eq!(
        app.live_provider.mints(),
        1,
        "the provider is asked once: the minting lock serialises the ensures"
    );
}

// ---------------------------------------------------------------------------------------------
// The three dialects
// ---------------------------------------------------------------------------------------------

async fn connect_first_then_platform_and_accounts(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = keys(&app, Environment::Sandbox).await;
    let (status, connect) = send(
        &app,
        &k.connect,
        Method::POST,
        ADDRESSES,
        Some(r#"{"asset":"USDT","network":"ethereum","external_ref":"X-1"}"#),
    )
    .await;
    assert_eq!(status, 201, "{connect}");

    // Platform finds the vault by the same reference…
    let vaults = get_ok(&app, &k.platform, "/v1/vaults?externalId=X-1").await;
    let items = vaults["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{vaults}");
    assert_eq!(items[0]["externalId"], "X-1");
    assert_eq!(items[0]["status"], "Active");
    let vault_id = text(&items[0], "id").to_owned();
    assert!(vault_id.starts_with("vlt_"));
    // …and "creating" its USDT wallet answers with the existing one (200).
    let (status, wallet) = send(
        &app,
        &k.platform,
        Method::POST,
        &format!("/v1/vaults/{vault_id}/wallets"),
        Some(r#"{"assetId":"usdt_ethereum"}"#),
    )
    .await;
    assert_eq!(status, 200, "{wallet}");
    assert_eq!(wallet["depositAddress"], connect["address"]);
    assert_eq!(wallet["vaultId"], vault_id.as_str());
    assert_eq!(wallet["assetId"], "USDT_ETHEREUM");
    let wallet_id = text(&wallet, "id").to_owned();
    assert!(wallet_id.starts_with("acc_"));
    let listed = get_ok(&app, &k.platform, &format!("/v1/vaults/{vault_id}/wallets")).await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // Accounts: the wallet is the account; its address is the same one, same id.
    let (status, ba) = send(
        &app,
        &k.accounts,
        Method::POST,
        &format!("/v1/accounts/{wallet_id}/blockchain-addresses"),
        Some(r#"{"chain":"ethereum","asset":"USDT"}"#),
    )
    .await;
    assert_eq!(status, 200, "{ba}");
    assert_eq!(ba["address"], connect["address"]);
    assert_eq!(ba["id"], connect["id"]);
    assert_eq!(ba["accountId"], wallet_id.as_str());
    let fetched = get_ok(
        &app,
        &k.accounts,
        &format!(
            "/v1/accounts/{wallet_id}/blockchain-addresses/{}",
            text(&connect, "id")
        ),
    )
    .await;
    assert_eq!(fetched, ba);
    let listed = get_ok(
        &app,
        &k.accounts,
        &format!("/v1/accounts/{wallet_id}/blockchain-addresses"),
    )
    .await;
    assert_eq!(listed["items"], json!([ba]));

    // Connect still sees one address for X-1.
    let mine = get_ok(&app, &k.connect, &format!("{ADDRESSES}?external_ref=X-1")).await;
    assert_eq!(mine["items"], json!([connect]));
}

async fn platform_first_then_connect_and_accounts(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = keys(&app, Environment::Sandbox).await;
    let (status, vault) = send(
        &app,
        &k.platform,
        Method::POST,
        "/v1/vaults",
        Some(r#"{"externalId":"Y-1","name":"Customer Y"}"#),
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    let vault_id = text(&vault, "id").to_owned();
    let (status, wallet) = send(
        &app,
        &k.platform,
        Method::POST,
        &format!("/v1/vaults/{vault_id}/wallets"),
        Some(r#"{"assetId":"USDC_BASE"}"#),
    )
    .await;
    assert_eq!(status, 201, "{wallet}");
    let deposit_address = text(&wallet, "depositAddress").to_owned();
    let wallet_id = text(&wallet, "id").to_owned();

    // Connect with the vault's externalId finds the same wallet: 200, same address.
    let (status, connect) = send(
        &app,
        &k.connect,
        Method::POST,
        ADDRESSES,
        Some(r#"{"asset":"USDC","network":"base","external_ref":"Y-1"}"#),
    )
    .await;
    assert_eq!(status, 200, "{connect}");
    assert_eq!(connect["address"], deposit_address.as_str());
    assert_eq!(connect["external_ref"], "Y-1");

    // Accounts agrees, with the same address id.
    let (status, ba) = send(
        &app,
        &k.accounts,
        Method::POST,
        &format!("/v1/accounts/{wallet_id}/blockchain-addresses"),
        Some(r#"{"chain":"BASE","asset":"usdc"}"#),
    )
    .await;
    assert_eq!(status, 200, "{ba}");
    assert_eq!(ba["address"], deposit_address.as_str());
    assert_eq!(ba["id"], connect["id"]);

    // A new asset through Connect lands in the same vault (no second vault for Y-1).
    let (status, usdt) = send(
        &app,
        &k.connect,
        Method::POST,
        ADDRESSES,
        Some(r#"{"asset":"USDT","network":"ethereum","external_ref":"Y-1"}"#),
    )
    .await;
    assert_eq!(status, 201, "{usdt}");
    let vaults = get_ok(&app, &k.platform, "/v1/vaults?externalId=Y-1").await;
    assert_eq!(
        vaults["items"].as_array().map(Vec::len),
        Some(1),
        "{vaults}"
    );
    let wallets = get_ok(&app, &k.platform, &format!("/v1/vaults/{vault_id}/wallets")).await;
    let mut addresses: Vec<&str> = wallets["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|w| w["depositAddress"].as_str().expect("depositAddress"))
        .collect();
    addresses.sort_unstable();
    let mut expected = vec![deposit_address.as_str(), text(&usdt, "address")];
    expected.sort_unstable();
    assert_eq!(addresses, expected);
    // Connect's balances for Y-1 list both wallets.
    let balances = get_ok(&app, &k.connect, "/connect/v1/balances/Y-1").await;
    assert_eq!(
        balances["balances"].as_array().map(Vec::len),
        Some(2),
        "{balances}"
    );
}

async fn the_dialects_race_to_one_address(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = keys(&app, Environment::Sandbox).await;
    // The vault exists (Connect created it for another asset); then Connect and Platform race
    // to create its USDC_ETHEREUM wallet.
    let (status, _) = send(
        &app,
        &k.connect,
        Method::POST,
        ADDRESSES,
        Some(r#"{"asset":"USDT","network":"ethereum","external_ref":"Z-1"}"#),
    )
    .await;
    assert_eq!(status, 201);
    let vaults = get_ok(&app, &k.platform, "/v1/vaults?externalId=Z-1").await;
    let vault_id = text(&vaults["items"][0], "id").to_owned();
    let wallets_path = format!("/v1/vaults/{vault_id}/wallets");
    let connect_body = r#"{"asset":"USDC","network":"ethereum","external_ref":"Z-1"}"#;
    let (from_connect, from_platform) = futures::join!(
        join_all((0..15).map(|_| send(
            &app,
            &k.connect,
            Method::POST,
            ADDRESSES,
            Some(connect_body)
        ))),
        join_all((0..15).map(|_| send(
            &app,
            &k.platform,
            Method::POST,
            &wallets_path,
            Some(r#"{"assetId":"USDC_ETHEREUM"}"#)
        ))),
    );
    let mut created = 0;
    let mut addresses = std::collections::BTreeSet::new();
    for (status, body) in &from_connect {
        assert!(*status == 200 || *status == 201, "{status}: {body}");
        created += usize::from(*status == 201);
        addresses.insert(text(body, "address").to_owned());
    }
    for (status, body) in &from_platform {
        assert!(*status == 200 || *status == 201, "{status}: {body}");
        created += usize::from(*status == 201);
        addresses.insert(text(body, "depositAddress").to_owned());
    }
    assert_eq!(created, 1, "one of the thirty created the wallet");
    assert_eq!(addresses.len(), 1, "{addresses:?}");
    let wallets = get_ok(&app, &k.platform, &wallets_path).await;
    assert_eq!(
        wallets["items"].as_array().map(Vec::len),
        Some(2),
        "{wallets}"
    );
    let listed = get_ok(&app, &k.connect, &format!("{ADDRESSES}?external_ref=Z-1")).await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(2),
        "{listed}"
    );
}

async fn a_hundred_concurrent_users_all_succeed(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let bodies: Vec<String> = (0..100)
        .map(|i| {
            json!({"asset": "USDT", "network": "ethereum", "external_ref": format!("user-{i}")})
                .to_string()
        })
        .collect();
    let responses = join_all(
        bodies
            .iter()
            .map(|b| send(&app, &key, Method::POST, ADDRESSES, Some(b))),
    )
    .await;
    let mut addresses = std::collections::BTreeSet::new();
    for (status, body) in &responses {
        assert_eq!(*status, 201, "{body}");
        addresses.insert(text(body, "address").to_owned());
    }
    assert_eq!(addresses.len(), 100, "one address per user");
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?limit=200")).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(100));
}

async fn lazy_and_explicit_vault_creation_race_to_one_vault(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = keys(&app, Environment::Sandbox).await;
    let connect_body = r#"{"asset":"USDT","network":"ethereum","external_ref":"R-1"}"#;
    let (from_connect, from_platform) = futures::join!(
        join_all((0..10).map(|_| send(
            &app,
            &k.connect,
            Method::POST,
            ADDRESSES,
            Some(connect_body)
        ))),
        join_all((0..3).map(|_| send(
            &app,
            &k.platform,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"R-1"}"#)
        ))),
    );
    let address = assert_converged(&from_connect);
    let mut platform_created = 0;
    for (status, body) in &from_platform {
        match status {
            201 => platform_created += 1,
            409 => assert_eq!(body["error"]["type"], "conflict_error", "{body}"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(platform_created <= 1, "one vault per externalId");
    let vaults = get_ok(&app, &k.platform, "/v1/vaults?externalId=R-1").await;
    assert_eq!(
        vaults["items"].as_array().map(Vec::len),
        Some(1),
        "{vaults}"
    );
    let all = get_ok(&app, &k.platform, "/v1/vaults").await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1), "{all}");
    let wallets = get_ok(
        &app,
        &k.platform,
        &format!("/v1/vaults/{}/wallets", text(&vaults["items"][0], "id")),
    )
    .await;
    assert_eq!(wallets["items"][0]["depositAddress"], address["address"]);
}

on_both_stores!(
    lazy_and_explicit_vault_creation_race_to_one_vault,
    a_hundred_concurrent_users_all_succeed,
    a_hundred_concurrent_posts_converge,
    concurrent_treasury_posts_converge,
    concurrent_live_posts_mint_once,
    connect_first_then_platform_and_accounts,
    platform_first_then_connect_and_accounts,
    the_dialects_race_to_one_address,
);
