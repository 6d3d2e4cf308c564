//! Live custody end to end: `sk_live_…` traffic through the real provider router, the real
//! BitGo and Rhino clients, configured exactly as docs/providers.md says, against local stub
//! servers speaking the providers' documented wire formats. Sandbox traffic for the same assets
//! reaches neither stub.

use base64::Engine as _;
use custody_core::api_key::KeyMode;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::tenant::TenantStatus;
use custody_http::configuration::LiveSettings;
use reqwest::Method;
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{
    assert_error, now, parts, spawn_app_with, Engine, Key, KeySpec, Options, TestApp,
};
use crate::on_both_stores;

const ADDRESSES: &str = "/connect/v1/addresses";
const BITGO_TOKEN: &str = "v2x-live-e2e-access-token";
const ETH_WALLET: &str = "59cd72485007a239fb00282ed480da1f";
const SOL_WALLET: &str = "6a1b2c3d4e5f60718293a4b5c6d7e8f9";
const RHINO_KEY: &str = "SECRET_live-e2e-rhino-key";
/// Where Rhino forwards deposits: our BitGo ETH wallet's base address.
const DESTINATION: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const MINTED_ETH: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
const MINTED_BASE: &str = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";
/// Rhino's webhook key pair: a test-only key committed with custody-rhino's tests; the public
/// half is pinned in the configuration, the private half signs events here.
const RHINO_PUBLIC_PEM: &str =
    include_str!("../../../custody-rhino/tests/fixtures/webhook_test_public.pem");
const RHINO_PRIVATE_PEM: &str =
    include_str!("../../../custody-rhino/tests/fixtures/webhook_test_private.pem");

/// The live section of a deployment's configuration, as an operator writes it
/// (docs/providers.md), pointed at the stubs.
fn live_settings(bitgo: &MockServer, rhino: &MockServer) -> LiveSettings {
    let toml = format!(
        r#"
[routes]
USDT_ETHEREUM = "bitgo"
USDC_ETHEREUM = "bitgo"
USDC_SOLANA = "bitgo"
USDC_BASE = "rhino"
USDC_INK = "rhino"

[bitgo]
environment = "test"
base_url = "{bitgo}"
access_token = "{BITGO_TOKEN}"
timeout_secs = 5
[bitgo.wallets]
hteth = "{ETH_WALLET}"
tsol = "{SOL_WALLET}"

[rhino]
base_url = "{rhino}"
api_key = "{RHINO_KEY}"
timeout_secs = 5
webhook_public_key = '''
{RHINO_PUBLIC_PEM}'''
[rhino.destination]
chain = "ETHEREUM"
address = "{DESTINATION}"
"#,
        bitgo = bitgo.uri(),
        rhino = rhino.uri(),
    );
    config::Config::builder()
        .add_source(config::File::from_str(&toml, config::FileFormat::Toml))
        .build()
        .expect("toml")
        .try_deserialize()
        .expect("live settings")
}

async fn live_app(engine: Engine, bitgo: &MockServer, rhino: &MockServer) -> TestApp {
    spawn_app_with(
        engine,
        Options {
            live: Some(live_settings(bitgo, rhino)),
            ..Options::default()
        },
    )
    .await
}

/// An approved tenant with the routed assets enabled live, and its live and sandbox keys.
async fn tenant_with_keys(app: &TestApp) -> (TenantId, Key, Key) {
    let tenant = app.tenant(TenantStatus::Approved).await;
    for code in ["USDT_ETHEREUM", "USDC_SOLANA", "USDC_BASE"] {
        app.admin
            .set_asset(
                tenant,
                Environment::Live,
                AssetId::parse(code).expect("asset"),
                true,
            )
            .await
            .expect("enable live");
    }
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let sandbox = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    (tenant, live, sandbox)
}

/// A JWT as Rhino issues them: only its `exp` claim matters to the client.
fn rhino_jwt() -> String {
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(&json!({"alg": "RS256", "typ": "JWT"})),
        b64(&json!({"sub": "project-1", "exp": now() + 3600}))
    )
}

async fn mount_rhino_auth(rhino: &MockServer, jwt: &str) {
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .and(body_json(json!({ "apiKey": RHINO_KEY })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "jwt": jwt })))
        .expect(1)
        .mount(rhino)
        .await;
}

/// BitGo's `WalletAddress` answer (providers.md A9.1), echoing the label it was sent.
fn bitgo_address(request: &Request) -> ResponseTemplate {
    let sent: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "66a1b2c3d4e5f60718293a4b5c6d7e8f", "address": MINTED_ETH.to_lowercase(),
        "chain": 0, "index": 3, "coin": "hteth", "wallet": ETH_WALLET, "label": sent["label"],
        "coinSpecific": {"forwarderVersion": 4, "nonce": -1, "feeAddress": DESTINATION,
            "pendingChainInitialization": false, "pendingDeployment": true, "creationFailure": [],
            "txCount": 0, "updateTime": "2026-08-01T00:00:00.000Z"}
    }))
}

async fn mint(app: &TestApp, key: &Key, body: &str, idempotency_key: &str) -> (u16, Value, bool) {
    let (status, headers, _, json) = parts(
        app.request(key, Method::POST, ADDRESSES, Some(body))
            .idempotency_key(idempotency_key)
            .send()
            .await,
    )
    .await;
    let replayed = headers
        .get("idempotency-replayed")
        .is_some_and(|v| v == "true");
    (status, json, replayed)
}

async fn bitgo_mints_with_the_exact_documented_request(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}/address")))
        .and(header(
            "authorization",
            format!("Bearer {BITGO_TOKEN}").as_str(),
        ))
        .and(header("content-type", "application/json"))
        .respond_with(bitgo_address)
        .expect(1)
        .mount(&bitgo)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;
    let (tenant, live, _) = tenant_with_keys(&app).await;

    let (status, body, _) = mint(
        &app,
        &live,
        r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#,
        "live-bitgo-1",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["address"], MINTED_ETH, "stored in EIP-55 form");
    assert_eq!(body["asset"], "USDT");

    // The one request BitGo saw: exactly the documented body, our address id as the label.
    let seen = bitgo.received_requests().await.expect("recorded");
    assert_eq!(seen.len(), 1);
    let sent: Value = serde_json::from_slice(&seen[0].body).expect("json body");
    let label = sent["label"].as_str().expect("label").to_owned();
    assert_eq!(sent, json!({ "label": label }), "nothing but the label");
    assert!(label.starts_with("ba_"), "{label}");
    assert!(
        rhino
            .received_requests()
            .await
            .expect("recorded")
            .is_empty(),
        "an ethereum asset routed to BitGo never reaches Rhino"
    );

    // The stored address is the one labelled, and records its provider and BitGo's id for it.
    let stored = app
        .store
        .environment(Environment::Live)
        .addresses
        .get(tenant, label.parse().expect("address id"))
        .await
        .expect("stored under the id BitGo was given");
    assert_eq!(stored.address.to_string(), MINTED_ETH);
    assert_eq!(stored.provider.provider, "bitgo");
    assert_eq!(
        stored.provider.reference.as_deref(),
        Some("66a1b2c3d4e5f60718293a4b5c6d7e8f")
    );
}

async fn a_rhino_routed_asset_goes_to_rhino(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    let jwt = rhino_jwt();
    mount_rhino_auth(&rhino, &jwt).await;
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .and(header("authorization", jwt.as_str()))
        .respond_with(move |request: &Request| {
            let sent: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            ResponseTemplate::new(200).set_body_json(json!([{
                "depositChain": "BASE", "depositAddress": MINTED_BASE.to_lowercase(),
                "destinationChain": "ETHEREUM", "destinationAddress": DESTINATION,
                "addressNote": sent["addressNote"],
                "supportedTokens": [{"symbol": "USDC", "address": "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
                    "maxDepositLimitUsd": 100000, "minDepositLimitUsd": 5}],
                "isActive": true
            }]))
        })
        .expect(1)
        .mount(&rhino)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;
    let (_, live, _) = tenant_with_keys(&app).await;

    let (status, body, _) = mint(
        &app,
        &live,
        r#"{"asset":"USDC","network":"base","external_ref":"user-1"}"#,
        "live-rhino-1",
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["address"], MINTED_BASE);
    assert_eq!(body["network"], "base");

    let seen = rhino.received_requests().await.expect("recorded");
    let create = seen
        .iter()
        .find(|r| r.url.path() == "/sda/deposit-addresses")
        .expect("an SDA request");
    let sent: Value = serde_json::from_slice(&create.body).expect("json");
    let note = sent["addressNote"].as_str().expect("note").to_owned();
    assert_eq!(
        sent,
        json!({
            "depositChains": ["BASE"],
            "destinationChain": "ETHEREUM",
            "destinationAddress": DESTINATION,
            "addressNote": note,
            "reusePolicy": "reuse-existing",
        })
    );
    assert!(note.starts_with("acc_") && note.ends_with(":0"), "{note}");
    // No Bearer: Rhino takes the raw JWT.
    assert_eq!(
        create
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(jwt.as_str())
    );
    assert!(
        bitgo
            .received_requests()
            .await
            .expect("recorded")
            .is_empty(),
        "a Rhino-routed asset never reaches BitGo"
    );
}

async fn sandbox_keys_touch_neither_provider(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    for server in [&bitgo, &rhino] {
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(server)
            .await;
    }
    let app = live_app(engine, &bitgo, &rhino).await;
    let (_, _, sandbox) = tenant_with_keys(&app).await;
    for (n, body) in [
        r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#,
        r#"{"asset":"USDC","network":"solana","external_ref":"user-1"}"#,
        r#"{"asset":"USDC","network":"base","external_ref":"user-1"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let (status, json, _) = mint(&app, &sandbox, body, &format!("sandbox-{n}")).await;
        assert_eq!(status, 201, "{json}");
    }
    let (status, _, _, json) = parts(
        app.request(&sandbox, Method::GET, ADDRESSES, None)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(json["items"].as_array().map(Vec::len), Some(3), "{json}");
    for server in [&bitgo, &rhino] {
        assert!(
            server
                .received_requests()
                .await
                .expect("recorded")
                .is_empty(),
            "sandbox traffic reached a live provider stub"
        );
    }
}

async fn an_outage_is_a_retryable_provider_error_and_the_retry_mints_once(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    let minting = format!("/api/v2/hteth/wallet/{ETH_WALLET}/address");
    // First BitGo is down (503, its platform error body), then it is back.
    Mock::given(method("POST"))
        .and(path(minting.as_str()))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({"error": "service unavailable", "name": "ServiceUnavailable", "requestId": "r-503"}),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&bitgo)
        .await;
    Mock::given(method("POST"))
        .and(path(minting.as_str()))
        .respond_with(bitgo_address)
        .expect(1)
        .mount(&bitgo)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;
    let (_, live, _) = tenant_with_keys(&app).await;
    let body = r#"{"asset":"USDT","network":"ethereum","external_ref":"user-9"}"#;

    let error = assert_error(
        app.request(&live, Method::POST, ADDRESSES, Some(body))
            .idempotency_key("outage-1")
            .send()
            .await,
        503,
        "provider_error",
        "provider_unavailable",
    )
    .await;
    assert_eq!(error["error"]["retryable"], true, "{error}");
    // Nothing changed: the partner has no address.
    let (_, _, _, list) = parts(
        app.request(&live, Method::GET, ADDRESSES, None)
            .send()
            .await,
    )
    .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");

    // The same key again, once BitGo is back: minted (the key was released, not burnt).
    let (status, first, replayed) = mint(&app, &live, body, "outage-1").await;
    assert_eq!(status, 201, "{first}");
    assert!(!replayed);
    // And once more: the stored answer, byte for byte, without calling BitGo.
    let (status, again, replayed) = mint(&app, &live, body, "outage-1").await;
    assert_eq!(status, 201);
    assert!(replayed);
    assert_eq!(again, first);
    assert_eq!(
        bitgo.received_requests().await.expect("recorded").len(),
        2,
        "one failed call, one mint: never a second address"
    );
}

async fn a_rate_limited_provider_is_retryable_and_names_no_secret(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "jwt": rhino_jwt() })))
        .mount(&rhino)
        .await;
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "_tag": "DepositAddressRateLimitExceeded",
            "message": "Too many deposit addresses created",
            "limit": {"_tag": "WindowLimitExceeded", "allowed": 50, "current": 50, "durationMs": 3_600_000}
        })))
        .mount(&rhino)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;
    let (_, live, _) = tenant_with_keys(&app).await;
    let response = app
        .request(
            &live,
            Method::POST,
            ADDRESSES,
            Some(r#"{"asset":"USDC","network":"base","external_ref":"user-1"}"#),
        )
        .idempotency_key("limited-1")
        .send()
        .await;
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let error = assert_error(response, 503, "provider_error", "provider_rate_limited").await;
    assert_eq!(error["error"]["retryable"], true);
    assert_eq!(retry_after.as_deref(), Some("3600"));
    let shown = error.to_string();
    assert!(
        !shown.contains(RHINO_KEY) && !shown.contains("SECRET_"),
        "{shown}"
    );
}

on_both_stores!(
    bitgo_mints_with_the_exact_documented_request,
    a_rhino_routed_asset_goes_to_rhino,
    sandbox_keys_touch_neither_provider,
    an_outage_is_a_retryable_provider_error_and_the_retry_mints_once,
    a_rate_limited_provider_is_retryable_and_names_no_secret,
);

const TRANSFER_ID: &str = "5b612d25c9067f2a1db11a15f165989e";

/// BitGo's transfer webhook as documented (providers.md A9.7): it only names the transfer.
fn bitgo_webhook(transfer: &str, state: &str) -> String {
    json!({
        "hash": "0x3e00ae4d1e4b4fbc2b7a1c1e0d7c3f2f9b4e5d6c7a8b9c0d1e2f3a4b5c6d7e8f",
        "transfer": transfer, "coin": "hteth:tusdt", "type": "transfer",
        "state": state, "wallet": ETH_WALLET
    })
    .to_string()
}

async fn post_webhook(app: &TestApp, path: &str, body: &str) -> (u16, Value) {
    let (status, _, _, json) = parts(
        app.client
            .post(format!("{}{path}", app.address))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .expect("sent"),
    )
    .await;
    (status, json)
}

async fn available_usdt(app: &TestApp, key: &Key) -> Value {
    let (status, _, _, json) = parts(
        app.request(key, Method::GET, "/connect/v1/balances/user-1", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{json}");
    json["balances"]
        .as_array()
        .and_then(|b| b.iter().find(|l| l["asset"] == "USDT"))
        .map_or(Value::Null, |line| line["amount"].clone())
}

async fn a_bitgo_deposit_is_credited_once_after_reading_it_back(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}/address")))
        .respond_with(bitgo_address)
        .expect(1)
        .mount(&bitgo)
        .await;
    // What BitGo says about the transfer, whatever the webhook claimed.
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/hteth:tusdt/wallet/{ETH_WALLET}/transfer/{TRANSFER_ID}"
        )))
        .and(header("authorization", format!("Bearer {BITGO_TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": TRANSFER_ID, "coin": "hteth:tusdt", "wallet": ETH_WALLET, "type": "receive",
            "state": "confirmed", "txid": "0x3e00ae4d1e4b4fbc2b7a1c1e0d7c3f2f9b4e5d6c7a8b9c0d1e2f3a4b5c6d7e8f",
            "height": 1200, "confirmations": 30, "date": "2026-11-21T10:00:00.000Z",
            "valueString": "2500000", "usd": 2.5, "usdRate": 1.0, "tags": [], "history": [],
            "entries": [
                {"address": "0x1111111111111111111111111111111111111111", "valueString": "-2500000"},
                {"address": MINTED_ETH.to_lowercase(), "wallet": ETH_WALLET, "valueString": "2500000"}
            ]
        })))
        .expect(2)
        .mount(&bitgo)
        .await;
    // A transfer BitGo does not know.
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/hteth:tusdt/wallet/{ETH_WALLET}/transfer/{}",
            "f".repeat(32)
        )))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": "transfer not found", "name": "TransferNotFound", "requestId": "r-404"}),
        ))
        .expect(1)
        .mount(&bitgo)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;
    let (_, live, _) = tenant_with_keys(&app).await;
    let (status, address, _) = mint(
        &app,
        &live,
        r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#,
        "deposit-mint",
    )
    .await;
    assert_eq!(status, 201, "{address}");
    assert_eq!(available_usdt(&app, &live).await, "0");

    // The webhook claims "unconfirmed"; BitGo, read back, says confirmed: credited in full.
    let (status, body) = post_webhook(
        &app,
        "/webhooks/bitgo",
        &bitgo_webhook(TRANSFER_ID, "unconfirmed"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(available_usdt(&app, &live).await, "2.5");
    // Delivered again (BitGo retries): credited once.
    let (status, _) = post_webhook(
        &app,
        "/webhooks/bitgo",
        &bitgo_webhook(TRANSFER_ID, "confirmed"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(available_usdt(&app, &live).await, "2.5");

    // A forged notification names a transfer BitGo does not have: refused, nothing changes.
    let (status, body) = post_webhook(
        &app,
        "/webhooks/bitgo",
        &bitgo_webhook(&"f".repeat(32), "confirmed"),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "notification_unverified", "{body}");
    // Not JSON: refused without calling BitGo.
    let (status, _) = post_webhook(&app, "/webhooks/bitgo", "not json").await;
    assert_eq!(status, 400);
    // Issue 14 (changed on purpose): a webhook that is not a transfer is acknowledged (200),
    // so BitGo does not count it as a failed delivery; nothing changes, BitGo is not asked.
    let block =
        json!({"type": "block", "hash": "0x00", "coin": "hteth", "wallet": ETH_WALLET}).to_string();
    let (status, _) = post_webhook(&app, "/webhooks/bitgo", &block).await;
    assert_eq!(status, 200);
    assert_eq!(available_usdt(&app, &live).await, "2.5");
}

async fn a_rhino_event_without_a_valid_signature_changes_nothing(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    let app = live_app(engine, &bitgo, &rhino).await;
    let event = json!({
        "event": {"_tag": "BRIDGE_EXECUTED", "_id": "bridge-1", "chainIn": "BASE",
                  "depositAddress": MINTED_BASE, "amountIn": "1000000"},
        "eventId": "evt-1", "ts": 1_763_700_000_000_i64
    })
    .to_string();
    let (status, body) = post_webhook(&app, "/webhooks/rhino/rhinofi-event", &event).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "notification_unverified");
    // Rhino was not asked anything: an unsigned event is refused before any read-back.
    assert!(
        rhino
            .received_requests()
            .await
            .expect("recorded")
            .iter()
            .all(|r| !r.url.path().contains("/history")),
        "no history read for an unsigned event"
    );
}

/// Rhino's signature: hex RSA-SHA256 (PKCS#1 v1.5) over the hex SHA-256 of the body.
fn rhino_signature(body: &[u8]) -> String {
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::{SignatureEncoding as _, Signer as _};
    use sha2::Digest as _;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(RHINO_PRIVATE_PEM).expect("test key");
    let message = hex::encode(sha2::Sha256::digest(body));
    hex::encode(
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key)
            .sign(message.as_bytes())
            .to_bytes(),
    )
}

async fn a_signed_rhino_deposit_is_credited_from_the_history_read_back(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    let jwt = rhino_jwt();
    mount_rhino_auth(&rhino, &jwt).await;
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "depositChain": "BASE", "depositAddress": MINTED_BASE,
            "destinationChain": "ETHEREUM", "supportedTokens": [], "isActive": true
        }])))
        .expect(1)
        .mount(&rhino)
        .await;
    // The SDA's history, as Rhino reports it: 1.25 USDC arrived and was bridged.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(
            r"(?i)^/sda/deposit-addresses/0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb/BASE/history$",
        ))
        .and(header("authorization", jwt.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "depositAddress": MINTED_BASE, "depositChain": "BASE",
            "bridges": [{
                "_tag": "accepted", "_id": "bridge-1", "tokenSymbol": "USDC",
                "tokenAddress": "0x833589fcd6edb6e08f4c7c32d4f71b54bda02913",
                "amount": "1.25", "amountUsd": 1.25, "amountWei": "1250000",
                "sender": "0x1111111111111111111111111111111111111111", "txHash": "0xdeposit",
                "createdAt": "2026-11-21T10:00:00.000Z",
                "history": {"_tag": "depositAddressBridge", "_id": "bridge-1", "state": "EXECUTED",
                    "chainIn": "BASE", "chainOut": "ETHEREUM", "amountIn": "1.25", "amountOut": "1.24",
                    "token": "USDC", "depositAddress": MINTED_BASE}
            }]
        })))
        .expect(2)
        .mount(&rhino)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;
    let (_, live, _) = tenant_with_keys(&app).await;
    let (status, minted, _) = mint(
        &app,
        &live,
        r#"{"asset":"USDC","network":"base","external_ref":"user-1"}"#,
        "rhino-deposit-mint",
    )
    .await;
    assert_eq!(status, 201, "{minted}");

    let event = json!({
        "event": {"_tag": "BRIDGE_EXECUTED", "_id": "bridge-1", "chainIn": "BASE",
                  "chainOut": "ETHEREUM", "depositAddress": MINTED_BASE, "token": "USDC",
                  "amountIn": "999999"},
        "eventId": "evt-1", "ts": 1_763_700_000_000_i64
    })
    .to_string();
    let signature = rhino_signature(event.as_bytes());
    let deliver = || async {
        parts(
            app.client
                .post(format!("{}/webhooks/rhino/rhinofi-event", app.address))
                .header("content-type", "application/json")
                .header("X-Rhino-Signature", signature.as_str())
                .body(event.clone())
                .send()
                .await
                .expect("sent"),
        )
        .await
    };
    let (status, _, raw, _) = deliver().await;
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&raw));
    assert!(raw.is_empty(), "204: no content");
    let usdc_base = |json: &Value| {
        json["balances"]
            .as_array()
            .and_then(|b| {
                b.iter()
                    .find(|l| l["asset"] == "USDC" && l["network"] == "base")
            })
            .map_or(Value::Null, |line| line["amount"].clone())
    };
    let balance = || async {
        parts(
            app.request(&live, Method::GET, "/connect/v1/balances/user-1", None)
                .send()
                .await,
        )
        .await
        .3
    };
    // The history's amountWei, not the event's amountIn.
    assert_eq!(usdc_base(&balance().await), "1.25");
    // Delivered again: credited once.
    assert_eq!(deliver().await.0, 204);
    assert_eq!(usdc_base(&balance().await), "1.25");
}

const SEND_ID: &str = "6c723e36d0178f3b2ec22b26a276a9af";
const ZERO_ID: &str = "7d834f47e1289a4c3fd33c37b387bab0";

/// Issue 14: what is not a deposit is acknowledged; a zero amount is refused with 422.
async fn notifications_that_are_not_deposits_are_acknowledged_and_zero_is_refused(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    let transfer = |id: &str, kind: &str, value: &str, sequence_id: Option<&str>| {
        let mut body = json!({
            "id": id, "coin": "hteth:tusdt", "wallet": ETH_WALLET, "type": kind,
            "state": "confirmed", "txid": "0x3e00", "valueString": value, "tags": [],
            "history": [],
            "entries": [{"address": MINTED_ETH.to_lowercase(), "wallet": ETH_WALLET, "valueString": value}]
        });
        if let Some(sequence_id) = sequence_id {
            body["sequenceId"] = json!(sequence_id);
        }
        body
    };
    // A send made through custody, of a withdrawal this deployment does not have.
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/hteth:tusdt/wallet/{ETH_WALLET}/transfer/{SEND_ID}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer(
            SEND_ID,
            "send",
            "-1000000",
            Some("tx_01J9Z3K5V6W7X8Y9Z0A1B2C3D4"),
        )))
        .mount(&bitgo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/hteth:tusdt/wallet/{ETH_WALLET}/transfer/{ZERO_ID}"
        )))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(transfer(ZERO_ID, "receive", "0", None)),
        )
        .mount(&bitgo)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;

    let (status, body) = post_webhook(
        &app,
        "/webhooks/bitgo",
        &bitgo_webhook(SEND_ID, "confirmed"),
    )
    .await;
    assert_eq!(status, 200, "a send is acknowledged: {body}");
    let (status, body) = post_webhook(
        &app,
        "/webhooks/bitgo",
        &bitgo_webhook(ZERO_ID, "confirmed"),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "notification_malformed", "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");

    for event in [
        json!({"event": {"_tag": "WEBHOOK_TEST", "type": "test", "message": "hello"}, "eventId": "e-1", "ts": 1}),
        json!({"event": {"_tag": "DEPOSIT_ADDRESS_CREATED", "depositChain": "BASE",
                         "depositAddress": MINTED_BASE, "destinationChain": "ETHEREUM"},
               "eventId": "e-2", "ts": 2}),
    ] {
        let body = event.to_string();
        let (status, _, _, json) = parts(
            app.client
                .post(format!("{}/webhooks/rhino/rhinofi-event", app.address))
                .header("content-type", "application/json")
                .header("x-rhino-signature", rhino_signature(body.as_bytes()))
                .body(body.clone())
                .send()
                .await
                .expect("sent"),
        )
        .await;
        assert_eq!(status, 204, "{event}: {json}");
    }
    // Nothing was read from Rhino's history for them.
    assert!(rhino
        .received_requests()
        .await
        .expect("recorded")
        .iter()
        .all(|r| !r.url.path().contains("/history")));
}

/// Issue 14: a deposit whose notification never arrived is found by reconciliation (BitGo's
/// transfer list) and credited once, however often reconciliation runs.
async fn a_missed_bitgo_deposit_is_found_by_reconciliation_and_credited_once(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}/address")))
        .respond_with(bitgo_address)
        .expect(1)
        .mount(&bitgo)
        .await;
    let receive = json!({
        "id": TRANSFER_ID, "coin": "hteth:tusdt", "wallet": ETH_WALLET, "type": "receive",
        "state": "confirmed", "txid": "0x3e00ae", "date": "2026-11-21T10:00:00.000Z",
        "valueString": "2500000", "tags": [], "history": [],
        "entries": [
            {"address": "0x1111111111111111111111111111111111111111", "valueString": "-2500000"},
            {"address": MINTED_ETH.to_lowercase(), "wallet": ETH_WALLET, "valueString": "2500000"}
        ]
    });
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/hteth:tusdt/wallet/{ETH_WALLET}/transfer"
        )))
        .and(wiremock::matchers::query_param("type", "receive"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"coin": "hteth:tusdt", "transfers": [receive]})),
        )
        .mount(&bitgo)
        .await;
    // Every other routed asset's wallet has received nothing.
    for coin in ["hteth:tusdc", "tsol:usdcv2"] {
        let wallet = if coin.starts_with("tsol") {
            SOL_WALLET
        } else {
            ETH_WALLET
        };
        Mock::given(method("GET"))
            .and(path(format!("/api/v2/{coin}/wallet/{wallet}/transfer")))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"coin": coin, "transfers": []})),
            )
            .mount(&bitgo)
            .await;
    }
    let app = live_app(engine, &bitgo, &rhino).await;
    let (_, live, _) = tenant_with_keys(&app).await;
    let (status, address, _) = mint(
        &app,
        &live,
        r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#,
        "reconcile-mint",
    )
    .await;
    assert_eq!(status, 201, "{address}");
    assert_eq!(available_usdt(&app, &live).await, "0");

    let clock: custody_core::ports::DynClock =
        std::sync::Arc::new(custody_http::system::SystemClock);
    let router =
        custody_http::providers::live_provider(&live_settings(&bitgo, &rhino), clock.clone())
            .expect("router");
    let assets: Vec<AssetId> = router.routed().map(|(asset, _)| asset).collect();
    let deposits = custody_core::services::DepositService::new(
        app.store.environment(Environment::Live).uow,
        std::sync::Arc::new(router),
        clock.clone(),
        std::sync::Arc::new(custody_http::system::OsIds),
        custody_http::events::renderer(),
    );
    let since = custody_core::ports::Clock::now(clock.as_ref()) - time::Duration::days(2);
    let first = deposits
        .reconcile(&assets, since)
        .await
        .expect("reconciled");
    assert_eq!(first.applied.len(), 1, "{first:?}");
    assert_eq!(first.applied[0].0, TRANSFER_ID);
    // Rhino lists per smart deposit address (issue 14): none is minted here, so nothing to
    // ask and nothing unusable.
    assert!(first.unusable.is_empty(), "{first:?}");
    assert_eq!(available_usdt(&app, &live).await, "2.5");
    // Again (the schedule runs every few minutes): credited once.
    let again = deposits
        .reconcile(&assets, since)
        .await
        .expect("reconciled");
    assert_eq!(again.applied.len(), 1);
    assert_eq!(
        again.applied[0].1, first.applied[0].1,
        "the same transaction"
    );
    assert_eq!(available_usdt(&app, &live).await, "2.5");
}

// --- issue 14: the suspense list, assign/return, Rhino reconciliation -------------------

/// Live deposit and operator services over the app's live store and a fresh provider router.
fn live_services(
    app: &TestApp,
    bitgo: &MockServer,
    rhino: &MockServer,
) -> (
    custody_core::services::DepositService,
    custody_core::services::OperatorService,
    Vec<AssetId>,
) {
    let clock: custody_core::ports::DynClock =
        std::sync::Arc::new(custody_http::system::SystemClock);
    let router =
        custody_http::providers::live_provider(&live_settings(bitgo, rhino), clock.clone())
            .expect("router");
    let assets: Vec<AssetId> = router.routed().map(|(asset, _)| asset).collect();
    let live = app.store.environment(Environment::Live);
    let deposits = custody_core::services::DepositService::new(
        live.uow.clone(),
        std::sync::Arc::new(router),
        clock.clone(),
        std::sync::Arc::new(custody_http::system::OsIds),
        custody_http::events::renderer(),
    );
    let operators = custody_core::services::OperatorService::new(
        live.uow,
        clock,
        std::sync::Arc::new(custody_http::system::OsIds),
        custody_http::events::renderer(),
    );
    (deposits, operators, assets)
}

async fn suspense(app: &TestApp, all: bool) -> Vec<custody_core::work::UnattributedDeposit> {
    app.store
        .environment(Environment::Live)
        .transactions
        .unattributed_deposits(all, 50)
        .await
        .expect("suspense list")
}

async fn only_wallet(app: &TestApp, tenant: TenantId, asset: &str) -> custody_core::wallet::Wallet {
    let page = app
        .store
        .environment(Environment::Live)
        .wallets
        .list(
            tenant,
            &custody_core::ports::WalletFilter::default(),
            custody_core::page::PageRequest::new(Some(50), None, None).expect("page"),
        )
        .await
        .expect("wallets");
    let asset = AssetId::parse(asset).expect("asset");
    page.items
        .into_iter()
        .find(|w| w.asset == asset)
        .expect("the wallet")
}

const STRANGER: &str = "0x2222222222222222222222222222222222222222";

/// A deposit BitGo reports to an address of its wallet that no wallet of ours owns: held in
/// suspense with BitGo's report and acknowledged (200); redelivered, the same record; assigned
/// by an operator, credited once through the ledger with the audit in the deposit's history;
/// assigned again or redelivered after, nothing more.
async fn an_unknown_address_deposit_is_held_then_assigned_once(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}/address")))
        .respond_with(bitgo_address)
        .mount(&bitgo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/hteth:tusdt/wallet/{ETH_WALLET}/transfer/{TRANSFER_ID}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": TRANSFER_ID, "coin": "hteth:tusdt", "wallet": ETH_WALLET, "type": "receive",
            "state": "confirmed", "txid": "0x3e00ae", "valueString": "2500000", "tags": [],
            "history": [],
            "entries": [
                {"address": "0x1111111111111111111111111111111111111111", "valueString": "-2500000"},
                {"address": STRANGER, "wallet": ETH_WALLET, "valueString": "2500000"}
            ]
        })))
        .mount(&bitgo)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;
    let (tenant, live, _) = tenant_with_keys(&app).await;
    let (status, minted, _) = mint(
        &app,
        &live,
        r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#,
        "suspense-mint",
    )
    .await;
    assert_eq!(status, 201, "{minted}");

    for state in ["unconfirmed", "confirmed"] {
        let (status, body) =
            post_webhook(&app, "/webhooks/bitgo", &bitgo_webhook(TRANSFER_ID, state)).await;
        assert_eq!(
            status, 200,
            "acknowledged, so BitGo stops redelivering: {body}"
        );
    }
    assert_eq!(available_usdt(&app, &live).await, "0");
    let held = suspense(&app, false).await;
    assert_eq!(held.len(), 1, "one record however often reported: {held:?}");
    assert_eq!(held[0].reason, "unknown_address");
    assert_eq!(held[0].provider_ref, TRANSFER_ID);
    assert_eq!(held[0].amount.base_units(), 2_500_000);
    assert_eq!(
        held[0].status,
        custody_core::transaction::TransactionStatus::Completed
    );
    assert_eq!(held[0].report["address"], STRANGER);
    assert_eq!(held[0].report["txHash"], "0x3e00ae");

    let (_, operators, _) = live_services(&app, &bitgo, &rhino);
    let wallet = only_wallet(&app, tenant, "USDT_ETHEREUM").await;
    // Who assigns is required.
    let err = operators
        .assign_deposit(TRANSFER_ID, wallet.id, "", "ticket 7")
        .await
        .expect_err("operator required");
    assert_eq!(err.code(), "missing_field");
    let assigned = operators
        .assign_deposit(
            TRANSFER_ID,
            wallet.id,
            "alice",
            "ticket 7: the sender is user-1",
        )
        .await
        .expect("assigned");
    assert_eq!(
        assigned.transaction.status,
        custody_core::transaction::TransactionStatus::Completed
    );
    assert_eq!(
        assigned.deposit.state,
        custody_core::work::SuspenseState::Assigned
    );
    assert_eq!(
        assigned.deposit.transaction_id,
        Some(assigned.transaction.id)
    );
    assert_eq!(assigned.deposit.resolution["operator"], "alice");
    assert_eq!(available_usdt(&app, &live).await, "2.5");
    // Twice: the first assignment, nothing more credited.
    let again = operators
        .assign_deposit(TRANSFER_ID, wallet.id, "alice", "ticket 7")
        .await
        .expect("the same assignment");
    assert_eq!(again.transaction.id, assigned.transaction.id);
    assert_eq!(available_usdt(&app, &live).await, "2.5");
    // Redelivered after the assignment: acknowledged, still credited once, still assigned.
    let (status, _) = post_webhook(
        &app,
        "/webhooks/bitgo",
        &bitgo_webhook(TRANSFER_ID, "confirmed"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(available_usdt(&app, &live).await, "2.5");
    assert!(suspense(&app, false).await.is_empty());
    let all = suspense(&app, true).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, custody_core::work::SuspenseState::Assigned);
    // It cannot be returned any more.
    let err = operators
        .return_deposit(TRANSFER_ID, "bob", "mistake", None)
        .await
        .expect_err("assigned");
    assert_eq!(err.code(), "deposit_not_returnable");
    // The audit is in the deposit's own history: its completion event.
    let events = app
        .store
        .environment(Environment::Live)
        .events
        .list(
            tenant,
            custody_core::page::PageRequest::new(Some(100), None, None).expect("page"),
        )
        .await
        .expect("events");
    let audited: Vec<_> = events
        .items
        .iter()
        .filter_map(|e| e.previous_attributes.as_ref())
        .filter_map(|p| p.get("resolution"))
        .collect();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["operator"], "alice");
    assert_eq!(audited[0]["as"], "assigned");
    assert_eq!(audited[0]["suspense"]["reason"], "unknown_address");
}

/// One BitGo receive paying two of our addresses: held whole (`several_outputs`, every
/// output kept), credited to neither; returned by an operator (no ledger movement), after
/// which it can no longer be assigned.
async fn a_split_transfer_is_held_whole_and_can_be_returned(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}/address")))
        .respond_with(bitgo_address)
        .mount(&bitgo)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/hteth:tusdt/wallet/{ETH_WALLET}/transfer/{TRANSFER_ID}"
        )))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": TRANSFER_ID, "coin": "hteth:tusdt", "wallet": ETH_WALLET, "type": "receive",
            "state": "confirmed", "txid": "0x3e00ae", "valueString": "3500000", "tags": [],
            "history": [],
            "entries": [
                {"address": "0x1111111111111111111111111111111111111111", "valueString": "-3500000"},
                {"address": MINTED_ETH.to_lowercase(), "wallet": ETH_WALLET, "valueString": "2500000"},
                {"address": STRANGER, "wallet": ETH_WALLET, "valueString": "1000000"}
            ]
        })))
        .mount(&bitgo)
        .await;
    let app = live_app(engine, &bitgo, &rhino).await;
    let (tenant, live, _) = tenant_with_keys(&app).await;
    let (status, minted, _) = mint(
        &app,
        &live,
        r#"{"asset":"USDT","network":"ethereum","external_ref":"user-1"}"#,
        "split-mint",
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let (status, body) = post_webhook(
        &app,
        "/webhooks/bitgo",
        &bitgo_webhook(TRANSFER_ID, "confirmed"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        available_usdt(&app, &live).await,
        "0",
        "credited to neither"
    );
    let held = suspense(&app, false).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].reason, "several_outputs");
    assert_eq!(held[0].amount.base_units(), 3_500_000);
    assert_eq!(held[0].tenant_id, Some(tenant), "the first output is ours");
    assert_eq!(held[0].report["outputs"].as_array().map(Vec::len), Some(2));

    let (_, operators, _) = live_services(&app, &bitgo, &rhino);
    let returned = operators
        .return_deposit(
            TRANSFER_ID,
            "bob",
            "sent back at BitGo, ticket 9",
            Some("0xback"),
        )
        .await
        .expect("returned");
    assert_eq!(returned.state, custody_core::work::SuspenseState::Returned);
    assert_eq!(returned.resolution["txHash"], "0xback");
    // Again: nothing changes.
    let again = operators
        .return_deposit(TRANSFER_ID, "bob", "again", None)
        .await
        .expect("idempotent");
    assert_eq!(again.resolution["txHash"], "0xback");
    let wallet = only_wallet(&app, tenant, "USDT_ETHEREUM").await;
    let err = operators
        .assign_deposit(TRANSFER_ID, wallet.id, "alice", "late")
        .await
        .expect_err("returned");
    assert_eq!(err.code(), "deposit_not_assignable");
    assert_eq!(available_usdt(&app, &live).await, "0");
    assert!(suspense(&app, false).await.is_empty());
    assert_eq!(suspense(&app, true).await.len(), 1);
}

/// Rhino reconciliation: a deposit whose event never arrived is found in the SDA's history
/// and credited once over two passes; a rejected SDA deposit is never credited.
async fn a_missed_rhino_deposit_is_found_by_reconciliation_and_credited_once(engine: Engine) {
    let (bitgo, rhino) = (MockServer::start().await, MockServer::start().await);
    // Two clients (the server's, and the reconciling one below): one key exchange each.
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .and(body_json(json!({ "apiKey": RHINO_KEY })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "jwt": rhino_jwt() })))
        .expect(2)
        .mount(&rhino)
        .await;
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{
            "depositChain": "BASE", "depositAddress": MINTED_BASE,
            "destinationChain": "ETHEREUM", "supportedTokens": [], "isActive": true
        }])))
        .expect(1)
        .mount(&rhino)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(
            r"(?i)^/sda/deposit-addresses/0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb/BASE/history$",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "depositAddress": MINTED_BASE, "depositChain": "BASE",
            "bridges": [{
                "_tag": "accepted", "_id": "bridge-1", "tokenSymbol": "USDC",
                "amount": "1.25", "amountWei": "1250000", "txHash": "0xdeposit",
                "createdAt": "2026-11-21T10:00:00.000Z",
                "history": {"_tag": "depositAddressBridge", "_id": "bridge-1", "state": "EXECUTED"}
            }, {
                "_tag": "rejected", "_id": "bridge-2", "tokenSymbol": "USDC",
                "amount": "0.5", "amountWei": "500000", "txHash": "0xsmall",
                "reason": "UNDER_MIN", "createdAt": "2026-11-21T11:00:00.000Z"
            }]
        })))
        .expect(2)
        .mount(&rhino)
        .await;
    // BitGo's wallets received nothing.
    for (coin, wallet) in [
        ("hteth:tusdt", ETH_WALLET),
        ("hteth:tusdc", ETH_WALLET),
        ("tsol:usdcv2", SOL_WALLET),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("/api/v2/{coin}/wallet/{wallet}/transfer")))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"coin": coin, "transfers": []})),
            )
            .mount(&bitgo)
            .await;
    }
    let app = live_app(engine, &bitgo, &rhino).await;
    let (_, live, _) = tenant_with_keys(&app).await;
    let (status, minted, _) = mint(
        &app,
        &live,
        r#"{"asset":"USDC","network":"base","external_ref":"user-1"}"#,
        "rhino-reconcile-mint",
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let usdc_base = || async {
        let json = parts(
            app.request(&live, Method::GET, "/connect/v1/balances/user-1", None)
                .send()
                .await,
        )
        .await
        .3;
        json["balances"]
            .as_array()
            .and_then(|b| {
                b.iter()
                    .find(|l| l["asset"] == "USDC" && l["network"] == "base")
            })
            .map_or(Value::Null, |line| line["amount"].clone())
    };
    assert_eq!(usdc_base().await, "0");

    let (deposits, _, assets) = live_services(&app, &bitgo, &rhino);
    let since = now_time() - time::Duration::days(2);
    let first = deposits
        .reconcile(&assets, since)
        .await
        .expect("reconciled");
    assert_eq!(first.applied.len(), 1, "{first:?}");
    assert_eq!(first.applied[0].0, "bridge-1");
    assert_eq!(
        first.not_applied,
        vec![(
            "bridge-2".to_owned(),
            "deposit_failed_at_provider".to_owned(),
            first.not_applied[0].2.clone()
        )],
        "rejected: not credited"
    );
    assert!(first.unusable.is_empty(), "{first:?}");
    assert_eq!(usdc_base().await, "1.25");
    let again = deposits
        .reconcile(&assets, since)
        .await
        .expect("reconciled");
    assert_eq!(again.applied.len(), 1);
    assert_eq!(
        again.applied[0].1, first.applied[0].1,
        "the same transaction"
    );
    assert_eq!(usdc_base().await, "1.25", "credited once");
    assert!(suspense(&app, true).await.is_empty());
}

fn now_time() -> time::OffsetDateTime {
    custody_core::ports::Clock::now(&custody_http::system::SystemClock)
}

on_both_stores!(
    an_unknown_address_deposit_is_held_then_assigned_once,
    a_split_transfer_is_held_whole_and_can_be_returned,
    a_missed_rhino_deposit_is_found_by_reconciliation_and_credited_once,
);

on_both_stores!(
    a_missed_bitgo_deposit_is_found_by_reconciliation_and_credited_once,
    notifications_that_are_not_deposits_are_acknowledged_and_zero_is_refused,
    a_bitgo_deposit_is_credited_once_after_reading_it_back,
    a_rhino_event_without_a_valid_signature_changes_nothing,
    a_signed_rhino_deposit_is_credited_from_the_history_read_back,
);
