//! The compliance boundary (ARCHITECTURE §4): the environment comes from the key; sandbox
//! traffic never reaches live custody; live needs an approved tenant (403
//! `tenant_not_approved`, before anything is stored); a suspended tenant is cut off in both
//! environments; sandbox and live data never see each other.

use std::sync::atomic::{AtomicUsize, Ordering};

use custody_core::api_key::KeyMode;
use custody_core::asset::{AssetId, CATALOGUE};
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::tenant::TenantStatus;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, parts, spawn_app, Engine, Key, KeySpec, TestApp};
use crate::on_both_stores;

const ADDRESSES: &str = "/connect/v1/addresses";
const BODY: &str = r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#;

fn idem() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("boundary-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Sends and expects a 2xx; returns (status, body).
async fn ok(
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
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {json}"
    );
    (status, json)
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` in {value}"))
}

/// Enables every catalogue asset live for `tenant`, so that a sandbox request misrouted to the
/// live graph would be able to mint (and the counter would see it).
async fn enable_all_live(app: &TestApp, tenant: TenantId) {
    for asset in &CATALOGUE {
        app.admin
            .set_asset(tenant, Environment::Live, asset.id, true)
            .await
            .expect("enable live asset");
    }
}

// ---------------------------------------------------------------------------------------------
// Sandbox never reaches live custody
// ---------------------------------------------------------------------------------------------

async fn sandbox_traffic_never_reaches_the_live_provider(engine: Engine) {
    let app = spawn_app(engine).await;
    // An approved tenant with every asset enabled live: the strongest case, where a sandbox
    // request routed to the live graph would succeed and mint.
    let tenant = app.tenant(TenantStatus::Approved).await;
    enable_all_live(&app, tenant).await;
    let bearer = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let hmac = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    let ed = app.key(tenant, KeySpec::sandbox(KeyMode::Ed25519)).await;

    // Connect.
    let (status, user) = ok(&app, &bearer, Method::POST, ADDRESSES, Some(BODY)).await;
    assert_eq!(status, 201);
    let (status, _) = ok(&app, &bearer, Method::POST, ADDRESSES, Some(BODY)).await;
    assert_eq!(status, 200);
    ok(
        &app,
        &bearer,
        Method::POST,
        ADDRESSES,
        Some(r#"{"asset":"usdc","network":"SOLANA"}"#),
    )
    .await;
    for asset in &CATALOGUE {
        let body = json!({
            "asset": asset.id.symbol().as_str(),
            "network": asset.id.network().as_str(),
            "external_ref": "every-asset",
        });
        ok(
            &app,
            &bearer,
            Method::POST,
            ADDRESSES,
            Some(&body.to_string()),
        )
        .await;
    }
    ok(&app, &bearer, Method::GET, ADDRESSES, None).await;
    ok(
        &app,
        &bearer,
        Method::GET,
        &format!("{ADDRESSES}?external_ref=user-1&limit=1"),
        None,
    )
    .await;
    ok(
        &app,
        &bearer,
        Method::GET,
        &format!("{ADDRESSES}/{}", text(&user, "id")),
        None,
    )
    .await;
    ok(&app, &bearer, Method::GET, "/connect/v1/balances", None).await;
    ok(
        &app,
        &bearer,
        Method::GET,
        "/connect/v1/balances?external_ref=user-1",
        None,
    )
    .await;
    ok(
        &app,
        &bearer,
        Method::GET,
        "/connect/v1/balances/user-1",
        None,
    )
    .await;

    // Platform.
    ok(&app, &hmac, Method::GET, "/v1/assets", None).await;
    let (_, vault) = ok(
        &app,
        &hmac,
        Method::POST,
        "/v1/vaults",
        Some(r#"{"externalId":"plat-1","name":"P"}"#),
    )
    .await;
    let vault_id = text(&vault, "id").to_owned();
    ok(&app, &hmac, Method::GET, "/v1/vaults", None).await;
    ok(
        &app,
        &hmac,
        Method::GET,
        "/v1/vaults?externalId=user-1",
        None,
    )
    .await;
    ok(
        &app,
        &hmac,
        Method::GET,
        &format!("/v1/vaults/{vault_id}"),
        None,
    )
    .await;
    ok(
        &app,
        &hmac,
        Method::PATCH,
        &format!("/v1/vaults/{vault_id}"),
        Some(r#"{"name":"Renamed"}"#),
    )
    .await;
    let (status, wallet) = ok(
        &app,
        &hmac,
        Method::POST,
        &format!("/v1/vaults/{vault_id}/wallets"),
        Some(r#"{"assetId":"USDC_SUI"}"#),
    )
    .await;
    assert_eq!(status, 201);
    let wallet_id = text(&wallet, "id").to_owned();
    ok(
        &app,
        &hmac,
        Method::GET,
        &format!("/v1/vaults/{vault_id}/wallets"),
        None,
    )
    .await;
    ok(
        &app,
        &hmac,
        Method::GET,
        &format!("/v1/wallets/{wallet_id}"),
        None,
    )
    .await;
    ok(
        &app,
        &hmac,
        Method::POST,
        &format!("/v1/wallets/{wallet_id}/addresses"),
        Some("{}"),
    )
    .await;
    ok(
        &app,
        &hmac,
        Method::POST,
        &format!("/v1/wallets/{wallet_id}/addresses"),
        None,
    )
    .await;

    // Accounts.
    let accounts = format!("/v1/accounts/{wallet_id}/blockchain-addresses");
    let (status, ba) = ok(
        &app,
        &ed,
        Method::POST,
        &accounts,
        Some(r#"{"chain":"sui","asset":"USDC"}"#),
    )
    .await;
    assert_eq!(status, 200, "the wallet's primary already exists: {ba}");
    ok(&app, &ed, Method::GET, &accounts, None).await;
    ok(
        &app,
        &ed,
        Method::GET,
        &format!("{accounts}/{}", text(&ba, "id")),
        None,
    )
    .await;
    ok(
        &app,
        &ed,
        Method::GET,
        &format!("/v1/accounts/{wallet_id}/balances"),
        None,
    )
    .await;

    assert_eq!(
        app.live_provider.mints(),
        0,
        "a sandbox request reached the live custody provider"
    );

    // The counter works: a live key of the same tenant minting through Connect calls it once.
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let (status, minted) = ok(&app, &live, Method::POST, ADDRESSES, Some(BODY)).await;
    assert_eq!(status, 201, "{minted}");
    assert_eq!(app.live_provider.mints(), 1);
    // …and only once: the wallet has its primary now.
    let (status, _) = ok(&app, &live, Method::POST, ADDRESSES, Some(BODY)).await;
    assert_eq!(status, 200);
    assert_eq!(app.live_provider.mints(), 1);
}

// ---------------------------------------------------------------------------------------------
// The approval gate
// ---------------------------------------------------------------------------------------------

async fn live_needs_an_approved_tenant(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    enable_all_live(&app, tenant).await;
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let k = idem();
    let response = app
        .request(&live, Method::POST, ADDRESSES, Some(BODY))
        .idempotency_key(&k)
        .send()
        .await;
    let error = assert_error(response, 403, "authorization_error", "tenant_not_approved").await;
    assert_eq!(error["error"]["retryable"], false);
    assert_eq!(app.live_provider.mints(), 0, "the provider is not called");
    // Reads are gated too.
    for path in [ADDRESSES, "/connect/v1/balances"] {
        let response = app.request(&live, Method::GET, path, None).send().await;
        assert_error(response, 403, "authorization_error", "tenant_not_approved").await;
    }
    let hmac = app.key(tenant, KeySpec::live(KeyMode::Hmac)).await;
    let response = app
        .request(&hmac, Method::GET, "/v1/assets", None)
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "tenant_not_approved").await;
    let ed = app.key(tenant, KeySpec::live(KeyMode::Ed25519)).await;
    let response = app
        .request(
            &ed,
            Method::GET,
            "/v1/accounts/acc_01J00000000000000000000000/balances",
            None,
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "tenant_not_approved").await;
    // The sandbox of the pending tenant works meanwhile.
    let sandbox = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    ok(&app, &sandbox, Method::POST, ADDRESSES, Some(BODY)).await;
    assert_eq!(app.live_provider.mints(), 0);

    // Nothing was stored by the refused request: once approved, the same key runs it (201,
    // not a replay of the 403, not a conflict).
    app.admin
        .set_tenant_status(tenant, TenantStatus::Approved)
        .await
        .expect("approve");
    let (status, headers, _, body) = parts(
        app.request(&live, Method::POST, ADDRESSES, Some(BODY))
            .idempotency_key(&k)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(headers.get("idempotency-replayed").is_none());
    assert_eq!(app.live_provider.mints(), 1);
    // The live store holds exactly that address.
    let (_, listed) = ok(&app, &live, Method::GET, ADDRESSES, None).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(listed["items"][0]["id"], body["id"]);
}

async fn a_suspended_tenant_is_cut_off_everywhere(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Approved).await;
    enable_all_live(&app, tenant).await;
    let sandbox = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let hmac = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    let (_, before) = ok(&app, &sandbox, Method::POST, ADDRESSES, Some(BODY)).await;
    app.admin
        .set_tenant_status(tenant, TenantStatus::Suspended)
        .await
        .expect("suspend");

    let mints = app.live_provider.mints();
    let k = idem();
    for key in [&sandbox, &live] {
        let response = app
            .request(key, Method::POST, ADDRESSES, Some(BODY))
            .idempotency_key(&k)
            .send()
            .await;
        assert_error(response, 403, "authorization_error", "tenant_suspended").await;
        let response = app.request(key, Method::GET, ADDRESSES, None).send().await;
        assert_error(response, 403, "authorization_error", "tenant_suspended").await;
        let path = format!("{ADDRESSES}/{}", text(&before, "id"));
        let response = app.request(key, Method::GET, &path, None).send().await;
        assert_error(response, 403, "authorization_error", "tenant_suspended").await;
    }
    let response = app
        .request(&hmac, Method::GET, "/v1/vaults", None)
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "tenant_suspended").await;
    assert_eq!(app.live_provider.mints(), mints);

    // Reinstated: both work again, and the key refused while suspended was never used.
    app.admin
        .set_tenant_status(tenant, TenantStatus::Approved)
        .await
        .expect("reinstate");
    let (status, headers, _, body) = parts(
        app.request(&live, Method::POST, ADDRESSES, Some(BODY))
            .idempotency_key(&k)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(headers.get("idempotency-replayed").is_none());
    let (status, again) = ok(&app, &sandbox, Method::POST, ADDRESSES, Some(BODY)).await;
    assert_eq!(status, 200);
    assert_eq!(again, before);

    // A tenant suspended before ever being approved: sandbox refused too.
    let never = app.tenant(TenantStatus::Suspended).await;
    let key = app.key(never, KeySpec::sandbox(KeyMode::Bearer)).await;
    let response = app
        .request(&key, Method::POST, ADDRESSES, Some(BODY))
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "tenant_suspended").await;
}

// ---------------------------------------------------------------------------------------------
// Data isolation
// ---------------------------------------------------------------------------------------------

async fn sandbox_and_live_data_are_isolated(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Approved).await;
    app.admin
        .set_asset(
            tenant,
            Environment::Live,
            AssetId::parse("USDT_ETHEREUM").expect("asset"),
            true,
        )
        .await
        .expect("enable");
    let sandbox = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;

    let (status, in_live) = ok(&app, &live, Method::POST, ADDRESSES, Some(BODY)).await;
    assert_eq!(status, 201);
    // The same user and asset in the sandbox is a different vault, wallet and address: 201.
    let (status, in_sandbox) = ok(&app, &sandbox, Method::POST, ADDRESSES, Some(BODY)).await;
    assert_eq!(status, 201, "the sandbox did not see live's wallet");
    assert_ne!(in_live["id"], in_sandbox["id"]);
    assert_ne!(in_live["address"], in_sandbox["address"]);

    let missing = assert_error(
        app.request(
            &sandbox,
            Method::GET,
            &format!("{ADDRESSES}/ba_01J00000000000000000000000"),
            None,
        )
        .send()
        .await,
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;
    for (key, foreign) in [(&sandbox, &in_live), (&live, &in_sandbox)] {
        let path = format!("{ADDRESSES}/{}", text(foreign, "id"));
        let body = assert_error(
            app.request(key, Method::GET, &path, None).send().await,
            404,
            "not_found_error",
            "resource_not_found",
        )
        .await;
        let strip = |v: &Value| {
            let mut e = v["error"].clone();
            e.as_object_mut().expect("object").remove("requestId");
            e
        };
        assert_eq!(
            strip(&body),
            strip(&missing),
            "indistinguishable from a missing id"
        );
    }
    // Each environment's own id works.
    ok(
        &app,
        &live,
        Method::GET,
        &format!("{ADDRESSES}/{}", text(&in_live, "id")),
        None,
    )
    .await;
    ok(
        &app,
        &sandbox,
        Method::GET,
        &format!("{ADDRESSES}/{}", text(&in_sandbox, "id")),
        None,
    )
    .await;

    // Lists and balances only show their own environment.
    let (_, live_list) = ok(&app, &live, Method::GET, ADDRESSES, None).await;
    let (_, sandbox_list) = ok(&app, &sandbox, Method::GET, ADDRESSES, None).await;
    assert_eq!(live_list["items"], json!([in_live]));
    assert_eq!(sandbox_list["items"], json!([in_sandbox]));

    // A sandbox-only user is unknown live, and vice versa.
    ok(
        &app,
        &sandbox,
        Method::POST,
        ADDRESSES,
        Some(r#"{"asset":"USDC","network":"base","external_ref":"sandbox-only"}"#),
    )
    .await;
    let (_, filtered) = ok(
        &app,
        &live,
        Method::GET,
        &format!("{ADDRESSES}?external_ref=sandbox-only"),
        None,
    )
    .await;
    assert_eq!(filtered["items"], json!([]));
    let (_, balances) = ok(
        &app,
        &live,
        Method::GET,
        "/connect/v1/balances/sandbox-only",
        None,
    )
    .await;
    assert_eq!(balances["balances"], json!([]));
    let (_, balances) = ok(
        &app,
        &sandbox,
        Method::GET,
        "/connect/v1/balances/sandbox-only",
        None,
    )
    .await;
    assert_eq!(balances["balances"].as_array().map(Vec::len), Some(1));

    // Platform sees the same split: the live vault list has only live's user.
    let hmac_live = app.key(tenant, KeySpec::live(KeyMode::Hmac)).await;
    let (_, vaults) = ok(&app, &hmac_live, Method::GET, "/v1/vaults", None).await;
    let refs: Vec<&Value> = vaults["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| &v["externalId"])
        .collect();
    assert_eq!(refs, vec![&json!("user-1")], "{vaults}");

    // The sandbox's enabled assets are its own too: live has only USDT_ETHEREUM.
    let response = app
        .request(
            &live,
            Method::POST,
            ADDRESSES,
            Some(r#"{"asset":"USDC","network":"base"}"#),
        )
        .idempotency_key(&idem())
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "asset_not_enabled").await;
    assert_eq!(app.live_provider.mints(), 1);
}

on_both_stores!(
    sandbox_traffic_never_reaches_the_live_provider,
    live_needs_an_approved_tenant,
    a_suspended_tenant_is_cut_off_everywhere,
    sandbox_and_live_data_are_isolated,
);
