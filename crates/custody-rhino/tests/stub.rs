//! The Rhino client against a wiremock stub speaking Rhino's documented wire format.
//!
//! Every mock checks the exact request (method, path, raw `Authorization` JWT, JSON body or
//! query) and declares how often it must be hit; a request no mock matches gets wiremock's 404,
//! which the client maps to `NotFound`, so a wrong request fails the test's assertion.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::id::{AddressId, TenantId, TransactionId, VaultId, WalletId};
use custody_core::ports::{
    CustodyProvider, DepositNotice, FixedClock, MintRequest, Notification, ProviderError,
    WithdrawalRequest,
};
use custody_core::retry::Backoff;
use custody_core::transaction::TransactionStatus;
use custody_rhino::{Destination, RhinoClient, RhinoConfig, NAME};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::sha2::{Digest as _, Sha256};
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::RsaPrivateKey;
use secrecy::SecretString;
use serde_json::{json, Value};
use time::macros::datetime;
use time::OffsetDateTime;
use ulid::Ulid;
use wiremock::matchers::{any, body_json, header, method, path, query_param};
use wiremock::{Mock, MockBuilder, MockServer, ResponseTemplate};

const API_KEY: &str = "SECRET_test_key_do_not_leak";
const NOW: OffsetDateTime = datetime!(2024-05-01 12:00:00 UTC);
const PRIVATE_PEM: &str = include_str!("fixtures/webhook_test_private.pem");
const PUBLIC_PEM: &str = include_str!("fixtures/webhook_test_public.pem");
const ROTATED_PRIVATE_PEM: &str = include_str!("fixtures/webhook_test_rotated_private.pem");
const ROTATED_PUBLIC_PEM: &str = include_str!("fixtures/webhook_test_rotated_public.pem");

const EVM_SDA: &str = "0x52908400098527886e0f7030069857d2e4169ee7";
const SOL_SDA: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
const DESTINATION: &str = "0x8617e340b3d01fa5f11f306f4090fd50e238070d";
const TENANT_DESTINATION: &str = "0xde709f2102306220921060314715629080e2fb77";
const HISTORY_PATH: &str =
    "/sda/deposit-addresses/0x52908400098527886e0f7030069857d2e4169ee7/ETHEREUM/history";

/// A JWT (unsigned: the client reads only its `exp`).
fn jwt(exp: OffsetDateTime, subject: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = json!({"exp": exp.unix_timestamp(), "sub": subject});
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    format!("{header}.{payload}.c2lnbmF0dXJl")
}

fn fast_backoff() -> Backoff {
    Backoff {
        attempts: 3,
        base: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    }
}

fn tenant(n: u128) -> TenantId {
    TenantId::from_ulid(Ulid::from(n))
}

fn default_destination() -> Destination {
    Destination {
        chain: "BASE".into(),
        address: DESTINATION.into(),
        token_out: None,
    }
}

fn config(server: &MockServer) -> RhinoConfig {
    RhinoConfig {
        base_url: server.uri(),
        api_key: SecretString::from(API_KEY),
        destination: Some(default_destination()),
        tenant_destinations: BTreeMap::new(),
        webhook_public_key_pem: None,
        timeout: Duration::from_secs(5),
        backoff: fast_backoff(),
    }
}

struct Stub {
    server: MockServer,
    clock: Arc<FixedClock>,
}

impl Stub {
    async fn start() -> Stub {
        Stub {
            server: MockServer::start().await,
            clock: Arc::new(FixedClock::new(NOW)),
        }
    }

    fn client_with(&self, config: RhinoConfig) -> RhinoClient {
        RhinoClient::new(config, self.clock.clone()).unwrap()
    }

    fn client(&self) -> RhinoClient {
        self.client_with(config(&self.server))
    }

    /// The key exchange, answering `token`, expected `times` times.
    async fn exchange(&self, token: &str, times: u64) {
        Mock::given(method("POST"))
            .and(path("/authentication/auth/apiKey"))
            .and(body_json(json!({"apiKey": API_KEY})))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jwt": token})))
            .expect(times)
            .named("key exchange")
            .mount(&self.server)
            .await;
    }
}

fn mint_request(asset: &str, tenant_id: TenantId, wallet: u128, index: u32) -> MintRequest {
    MintRequest {
        address_id: AddressId::from_ulid(Ulid::from(9u128)),
        tenant_id,
        vault_id: VaultId::from_ulid(Ulid::from(8u128)),
        wallet_id: WalletId::from_ulid(Ulid::from(wallet)),
        asset: AssetId::parse(asset).unwrap(),
        index,
    }
}

fn sda(chain: &str, address: &str, note: &str) -> Value {
    json!({
        "depositChain": chain, "depositAddress": address, "destinationChain": "BASE",
        "destinationAddress": DESTINATION, "addressNote": note,
        "supportedTokens": [{"symbol": "USDT", "address": "0xdac17f958d2ee523a2206206994597c13d831ec7",
                             "maxDepositLimitUsd": 100000, "minDepositLimitUsd": 5}],
        "isActive": true
    })
}

fn status_request(token: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{EVM_SDA}/ETHEREUM")))
        .and(header("authorization", token))
}

fn status_mock(token: &str) -> Mock {
    status_request(token)
        .respond_with(ResponseTemplate::new(200).set_body_json(sda("ETHEREUM", EVM_SDA, "n")))
}

// ---------------------------------------------------------------------------------------------
// Minting

#[tokio::test]
async fn mint_sends_the_documented_request_and_takes_the_element_for_its_chain() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "mint");
    stub.exchange(&token, 1).await;
    let request = mint_request("USDT_ETHEREUM", tenant(1), 42, 3);
    let note = format!("{}:3", request.wallet_id);
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .and(header("authorization", token.as_str()))
        .and(body_json(json!({
            "depositChains": ["ETHEREUM"],
            "destinationChain": "BASE",
            "destinationAddress": DESTINATION,
            "addressNote": note,
            "reusePolicy": "reuse-existing"
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            sda("BASE", "0x0000000000000000000000000000000000000001", &note),
            sda("ETHEREUM", EVM_SDA, &note),
        ])))
        .expect(1)
        .mount(&stub.server)
        .await;

    let minted = stub.client().mint_address(&request).await.unwrap();

    assert_eq!(
        minted.address,
        ChainAddress::parse(custody_core::asset::Network::Ethereum, EVM_SDA).unwrap()
    );
    assert_eq!(
        minted.provider_ref.as_deref(),
        Some(format!("ETHEREUM:{EVM_SDA}").as_str())
    );
    assert_eq!(minted.provider, NAME);
    assert_eq!(stub.client().name(), "rhino");
    assert!(
        !token.starts_with("Bearer"),
        "the JWT is matched raw, without Bearer"
    );
}

#[tokio::test]
async fn a_tenant_destination_overrides_the_default_and_token_out_is_sent_when_configured() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "tenant");
    stub.exchange(&token, 1).await;
    let mut config = config(&stub.server);
    config.tenant_destinations.insert(
        tenant(7),
        Destination {
            chain: "ETHEREUM".into(),
            address: TENANT_DESTINATION.into(),
            token_out: Some("USDC".into()),
        },
    );
    let request = mint_request("USDC_SOLANA", tenant(7), 43, 0);
    let note = format!("{}:0", request.wallet_id);
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .and(header("authorization", token.as_str()))
        .and(body_json(json!({
            "depositChains": ["SOLANA"],
            "destinationChain": "ETHEREUM",
            "destinationAddress": TENANT_DESTINATION,
            "tokenOut": "USDC",
            "addressNote": note,
            "reusePolicy": "reuse-existing"
        })))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([sda("SOLANA", SOL_SDA, &note)])),
        )
        .expect(1)
        .mount(&stub.server)
        .await;

    let minted = stub
        .client_with(config)
        .mint_address(&request)
        .await
        .unwrap();
    assert_eq!(minted.address.as_str(), SOL_SDA);
    assert_eq!(
        minted.provider_ref.as_deref(),
        Some(format!("SOLANA:{SOL_SDA}").as_str())
    );
}

#[tokio::test]
async fn an_unavailable_create_is_retried_with_the_same_request_and_gets_the_same_sda() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "retry");
    stub.exchange(&token, 1).await;
    let request = mint_request("USDC_BASE", tenant(1), 44, 1);
    let note = format!("{}:1", request.wallet_id);
    let expected_body = json!({
        "depositChains": ["BASE"], "destinationChain": "BASE",
        "destinationAddress": DESTINATION, "addressNote": note, "reusePolicy": "reuse-existing"
    });
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .and(body_json(expected_body.clone()))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .and(header("authorization", token.as_str()))
        .and(body_json(expected_body))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([sda("BASE", EVM_SDA, &note)])),
        )
        .expect(1)
        .mount(&stub.server)
        .await;

    let minted = stub.client().mint_address(&request).await.unwrap();
    assert_eq!(minted.address.network(), custody_core::asset::Network::Base);
    assert_eq!(
        minted.provider_ref.as_deref(),
        Some(format!("BASE:{EVM_SDA}").as_str())
    );
}

#[tokio::test]
async fn unsupported_assets_and_missing_destinations_are_refused_without_any_call() {
    let stub = Stub::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&stub.server)
        .await;
    let client = stub.client();

    for asset in ["USDC_SUI", "XAUT_ETHEREUM"] {
        let asset_id = AssetId::parse(asset).unwrap();
        let Err(ProviderError::Rejected(why)) = client.serves(asset_id) else {
            panic!("{asset} must be refused");
        };
        assert!(why.starts_with("Rhino does not"), "{why}");
        let refused = client
            .mint_address(&mint_request(asset, tenant(1), 1, 0))
            .await
            .unwrap_err();
        assert!(matches!(refused, ProviderError::Rejected(_)), "{refused:?}");
    }
    for asset in [
        "USDT_ETHEREUM",
        "USDC_ETHEREUM",
        "USDT_SOLANA",
        "USDC_SOLANA",
        "USDC_BASE",
        "USDC_INK",
    ] {
        assert_eq!(
            client.serves(AssetId::parse(asset).unwrap()),
            Ok(()),
            "{asset}"
        );
    }

    // No destination at all: nothing is served.
    let mut bare = config(&stub.server);
    bare.destination = None;
    let bare_client = stub.client_with(bare.clone());
    assert!(matches!(
        bare_client.serves(AssetId::parse("USDT_ETHEREUM").unwrap()),
        Err(ProviderError::Rejected(_))
    ));
    // Only another tenant has one: served, but this tenant cannot mint.
    bare.tenant_destinations
        .insert(tenant(2), default_destination());
    let partial = stub.client_with(bare);
    assert_eq!(
        partial.serves(AssetId::parse("USDT_ETHEREUM").unwrap()),
        Ok(())
    );
    let Err(ProviderError::Rejected(why)) = partial
        .mint_address(&mint_request("USDT_ETHEREUM", tenant(1), 1, 0))
        .await
    else {
        panic!("a tenant without destination cannot mint");
    };
    assert!(why.contains("destination"), "{why}");
}

#[tokio::test]
async fn withdrawals_are_refused() {
    let stub = Stub::start().await;
    let client = stub.client();
    let asset = AssetId::parse("USDT_ETHEREUM").unwrap();
    let refused = client
        .withdrawal_status(&WithdrawalRequest {
            transaction_id: TransactionId::from_ulid(Ulid::from(5u128)),
            wallet_id: WalletId::from_ulid(Ulid::from(6u128)),
            asset,
            amount: custody_core::amount::Amount::from_base_units(1),
            destination: ChainAddress::from_evm_bytes(asset.network(), [7; 20]).unwrap(),
            recorded_at: OffsetDateTime::UNIX_EPOCH,
            provider_ref: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        ProviderError::Rejected(
            "Rhino serves deposit addresses only; withdrawals go through BitGo".into()
        )
    );
    // Known before any withdrawal is accepted: the core refuses it at submit (422).
    assert_eq!(
        client.can_withdraw(AssetId::parse("USDC_BASE").unwrap()),
        Err(ProviderError::Rejected(
            "Rhino serves deposit addresses only; withdrawals go through BitGo".into()
        ))
    );
}

#[tokio::test]
async fn deposits_cannot_be_read_back_by_reference_alone() {
    let stub = Stub::start().await;
    let client = stub.client();
    let refused = client
        .deposit_status(
            "65f0c0ffee0000000000beef",
            AssetId::parse("USDT_ETHEREUM").unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, ProviderError::Unsupported(why) if why.contains("webhook")),
        "{refused:?}"
    );
    assert!(!refused.is_retryable());
}

#[tokio::test]
async fn an_invalid_address_from_rhino_is_rejected() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "bad");
    stub.exchange(&token, 1).await;
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([sda("ETHEREUM", SOL_SDA, "n")])),
        )
        .expect(1)
        .mount(&stub.server)
        .await;
    let refused = stub
        .client()
        .mint_address(&mint_request("USDT_ETHEREUM", tenant(1), 1, 0))
        .await
        .unwrap_err();
    assert!(matches!(refused, ProviderError::Rejected(_)), "{refused:?}");
}

// ---------------------------------------------------------------------------------------------
// Authentication

#[tokio::test]
async fn concurrent_calls_share_one_key_exchange() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "shared");
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .and(body_json(json!({"apiKey": API_KEY})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"jwt": token}))
                .set_delay(Duration::from_millis(200)),
        )
        .expect(1)
        .mount(&stub.server)
        .await;
    status_mock(&token).expect(10).mount(&stub.server).await;

    let client = Arc::new(stub.client());
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let client = client.clone();
        calls.spawn(async move { client.deposit_address_status(EVM_SDA, "ETHEREUM").await });
    }
    let mut answered = 0;
    while let Some(result) = calls.join_next().await {
        let status = result.unwrap().unwrap();
        assert_eq!(status.deposit_address, EVM_SDA);
        assert_eq!(status.is_active, Some(true));
        answered += 1;
    }
    assert_eq!(answered, 10);
}

#[tokio::test]
async fn the_jwt_is_refreshed_five_minutes_before_exp() {
    let stub = Stub::start().await;
    let exp = NOW + time::Duration::hours(1);
    let first = jwt(exp, "first");
    let second = jwt(exp + time::Duration::hours(1), "second");
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jwt": first})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jwt": second})))
        .expect(1)
        .mount(&stub.server)
        .await;
    status_mock(&first).expect(2).mount(&stub.server).await;
    status_mock(&second).expect(1).mount(&stub.server).await;
    let client = stub.client();

    client
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap();
    stub.clock
        .set(exp - time::Duration::minutes(5) - time::Duration::seconds(1));
    client
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap();
    stub.clock.set(exp - time::Duration::minutes(5));
    client
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_jwt_without_exp_lives_one_hour_minus_five_minutes() {
    let stub = Stub::start().await;
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jwt": "opaque-one"})))
        .up_to_n_times(1)
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jwt": "opaque-two"})))
        .expect(1)
        .mount(&stub.server)
        .await;
    status_mock("opaque-one")
        .expect(2)
        .mount(&stub.server)
        .await;
    status_mock("opaque-two")
        .expect(1)
        .mount(&stub.server)
        .await;
    let client = stub.client();

    client
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap();
    stub.clock.set(NOW + time::Duration::minutes(54));
    client
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap();
    stub.clock.set(NOW + time::Duration::minutes(55));
    client
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap();
}

#[tokio::test]
async fn a_jwt_style_key_is_used_directly() {
    let stub = Stub::start().await;
    let legacy = jwt(NOW + time::Duration::days(365), "legacy-key");
    Mock::given(path("/authentication/auth/apiKey"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&stub.server)
        .await;
    status_mock(&legacy).expect(1).mount(&stub.server).await;
    let mut config = config(&stub.server);
    config.api_key = SecretString::from(legacy.clone());

    let status = stub
        .client_with(config)
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap();
    assert_eq!(status.deposit_chain, "ETHEREUM");
}

#[tokio::test]
async fn an_unauthorized_answer_re_exchanges_the_key_and_retries_once() {
    for (code, tag) in [(401, "Unauthorized"), (400, "InvalidJwt")] {
        let stub = Stub::start().await;
        let stale = jwt(NOW + time::Duration::hours(1), "stale");
        let fresh = jwt(NOW + time::Duration::hours(1), "fresh");
        Mock::given(method("POST"))
            .and(path("/authentication/auth/apiKey"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jwt": stale})))
            .up_to_n_times(1)
            .expect(1)
            .mount(&stub.server)
            .await;
        Mock::given(method("POST"))
            .and(path("/authentication/auth/apiKey"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"jwt": fresh})))
            .expect(1)
            .mount(&stub.server)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/sda/deposit-addresses/{EVM_SDA}/ETHEREUM")))
            .and(header("authorization", stale.as_str()))
            .respond_with(
                ResponseTemplate::new(code)
                    .set_body_json(json!({"_tag": tag, "message": "jwt expired"})),
            )
            .expect(1)
            .mount(&stub.server)
            .await;
        status_mock(&fresh).expect(1).mount(&stub.server).await;

        let status = stub
            .client()
            .deposit_address_status(EVM_SDA, "ETHEREUM")
            .await
            .unwrap();
        assert_eq!(status.deposit_address, EVM_SDA, "{tag}");
    }
}

#[tokio::test]
async fn a_persistent_unauthorized_is_rejected_after_one_re_exchange() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "refused");
    stub.exchange(&token, 2).await;
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{EVM_SDA}/ETHEREUM")))
        .and(header("authorization", token.as_str()))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"_tag": "Unauthorized", "message": "no"})),
        )
        .expect(2)
        .mount(&stub.server)
        .await;
    let refused = stub
        .client()
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        ProviderError::Rejected("Rhino refused the JWT (Unauthorized)".into())
    );
}

#[tokio::test]
async fn a_refused_key_is_rejected_and_an_auth_outage_is_unavailable_without_leaking_the_key() {
    let stub = Stub::start().await;
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .respond_with(ResponseTemplate::new(401).set_body_json(
            json!({"_tag": "Unauthorized", "message": format!("bad key {API_KEY}")}),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/authentication/auth/apiKey"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&stub.server)
        .await;
    let client = stub.client();

    let refused = client
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        ProviderError::Rejected("Rhino refused the API key (Unauthorized)".into())
    );
    let outage = client
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap_err();
    assert!(
        matches!(outage, ProviderError::Unavailable(_)),
        "{outage:?}"
    );

    for shown in [format!("{refused} {outage}"), format!("{client:?}")] {
        assert!(!shown.contains(API_KEY), "{shown}");
        assert!(!shown.contains("do_not_leak"), "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

#[tokio::test]
async fn documented_error_bodies_are_mapped() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "errors");
    stub.exchange(&token, 1).await;
    let unknown = "0x0000000000000000000000000000000000000bad";
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{unknown}/ETHEREUM")))
        .and(header("authorization", token.as_str()))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "_tag": "DepositAddressNotFound", "message": "not found", "addresses": [unknown]
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{EVM_SDA}/ETHEREUM")))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "_tag": "ExtensionNotEnabled", "message": "extension disabled", "extension": "SDA"
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{SOL_SDA}/SOLANA")))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "_tag": "TooManyRequests", "message": "slow down", "retryAfter": 30
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{EVM_SDA}/BASE")))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({
            "_tag": "EndpointDisabledError", "message": "maintenance"
        })))
        .expect(3)
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{EVM_SDA}/INK")))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "_tag": "InvalidDateRange", "message": "window too long"
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    let client = stub.client();

    assert_eq!(
        client.deposit_address_status(unknown, "ETHEREUM").await,
        Err(ProviderError::NotFound)
    );
    let Err(ProviderError::Rejected(why)) =
        client.deposit_address_status(EVM_SDA, "ETHEREUM").await
    else {
        panic!("403 ExtensionNotEnabled is a rejection");
    };
    assert!(
        why.contains("ExtensionNotEnabled") && why.contains("not enabled"),
        "{why}"
    );
    // 30 s is beyond the backoff's cap: returned at once (expect(1)), with the wait.
    assert_eq!(
        client.deposit_address_status(SOL_SDA, "SOLANA").await,
        Err(ProviderError::RateLimited {
            retry_after_secs: Some(30)
        })
    );
    // 503 is retried up to the backoff's three attempts (expect(3)), then reported.
    assert_eq!(
        client.deposit_address_status(EVM_SDA, "BASE").await,
        Err(ProviderError::Unavailable(
            "Rhino EndpointDisabledError".into()
        ))
    );
    assert_eq!(
        client.deposit_address_status(EVM_SDA, "INK").await,
        Err(ProviderError::Rejected(
            "Rhino InvalidDateRange: window too long".into()
        ))
    );
}

#[tokio::test]
async fn sda_creation_limits_are_rate_limits_or_quota_rejections() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "limits");
    stub.exchange(&token, 1).await;
    let window = mint_request("USDT_ETHEREUM", tenant(1), 50, 0);
    let quota = mint_request("USDT_ETHEREUM", tenant(1), 51, 0);
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .and(body_json(json!({
            "depositChains": ["ETHEREUM"], "destinationChain": "BASE",
            "destinationAddress": DESTINATION, "addressNote": format!("{}:0", window.wallet_id),
            "reusePolicy": "reuse-existing"
        })))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "_tag": "DepositAddressRateLimitExceeded", "message": "too many",
            "limit": {"_tag": "WindowLimitExceeded", "allowed": 50, "current": 50, "durationMs": 3_599_001}
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("POST"))
        .and(path("/sda/deposit-addresses"))
        .and(body_json(json!({
            "depositChains": ["ETHEREUM"], "destinationChain": "BASE",
            "destinationAddress": DESTINATION, "addressNote": format!("{}:0", quota.wallet_id),
            "reusePolicy": "reuse-existing"
        })))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "_tag": "DepositAddressRateLimitExceeded", "message": "quota",
            "limit": {"_tag": "CountLimitExceeded", "allowed": 500, "current": 500}
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    let client = stub.client();

    assert_eq!(
        client.mint_address(&window).await,
        Err(ProviderError::RateLimited {
            retry_after_secs: Some(3600)
        })
    );
    let Err(ProviderError::Rejected(why)) = client.mint_address(&quota).await else {
        panic!("a used-up quota is not worth waiting for");
    };
    assert!(why.contains("CountLimitExceeded"), "{why}");
}

#[tokio::test]
async fn a_timeout_is_unavailable() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "slow");
    stub.exchange(&token, 1).await;
    status_request(&token)
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(sda("ETHEREUM", EVM_SDA, "n"))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(2)
        .mount(&stub.server)
        .await;
    let mut config = config(&stub.server);
    config.timeout = Duration::from_millis(200);
    config.backoff.attempts = 2;

    let started = std::time::Instant::now();
    let outage = stub
        .client_with(config)
        .deposit_address_status(EVM_SDA, "ETHEREUM")
        .await
        .unwrap_err();
    assert_eq!(outage, ProviderError::Unavailable("Rhino timed out".into()));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the timeout applies"
    );
}

// ---------------------------------------------------------------------------------------------
// Webhooks

fn sign_with(private_pem: &str, body: &[u8]) -> String {
    let key = RsaPrivateKey::from_pkcs8_pem(private_pem).unwrap();
    let message = hex::encode(Sha256::digest(body));
    hex::encode(
        SigningKey::<Sha256>::new(key)
            .sign(message.as_bytes())
            .to_bytes(),
    )
}

fn sign(body: &[u8]) -> String {
    sign_with(PRIVATE_PEM, body)
}

fn notice(body: &[u8], signature: Option<String>) -> DepositNotice {
    DepositNotice {
        provider: "rhino".into(),
        payload: body.to_vec(),
        signature,
    }
}

fn bridge_event(tag: &str, bridge_id: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": {
            "_tag": tag, "_id": bridge_id, "chainIn": "ETHEREUM", "chainOut": "BASE",
            "depositAddress": EVM_SDA, "token": "USDT", "amountIn": "999999", "recipient": DESTINATION
        },
        "eventId": "evt_1", "ts": 1_714_564_800_000u64
    }))
    .unwrap()
}

fn history(items: &[Value]) -> Value {
    json!({"depositAddress": EVM_SDA, "depositChain": "ETHEREUM", "bridges": items})
}

fn accepted(id: &str, state: &str, amount_wei: &str) -> Value {
    json!({
        "_tag": "accepted", "_id": id, "tokenSymbol": "USDT",
        "tokenAddress": "0xdac17f958d2ee523a2206206994597c13d831ec7",
        "amount": "1.5", "amountUsd": 1.5, "amountWei": amount_wei, "sender": "0xsender",
        "txHash": "0xdeposit", "createdAt": "2024-05-01T11:59:00.000Z",
        "history": {"_tag": "depositAddressBridge", "_id": format!("h-{id}"), "state": state,
                    "chainIn": "ETHEREUM", "chainOut": "BASE", "amountIn": "1.5", "amountOut": "1.4",
                    "token": "USDT", "depositAddress": EVM_SDA}
    })
}

/// The history read-back, with the exact window (31 days ending at the clock's now).
fn history_mock(token: &str, body: Value) -> Mock {
    Mock::given(method("GET"))
        .and(path(HISTORY_PATH))
        .and(header("authorization", token))
        .and(query_param("from", "2024-03-31T12:00:00.000Z"))
        .and(query_param("to", "2024-05-01T12:00:00.000Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
}

fn pinned(server: &MockServer) -> RhinoConfig {
    let mut config = config(server);
    config.webhook_public_key_pem = Some(PUBLIC_PEM.into());
    config
}

#[tokio::test]
async fn a_signed_deposit_event_is_read_back_and_verified() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "webhook");
    stub.exchange(&token, 1).await;
    history_mock(
        &token,
        history(&[
            accepted("other", "PENDING", "1"),
            accepted("bridge-1", "EXECUTED", "1500000"),
        ]),
    )
    .expect(2)
    .mount(&stub.server)
    .await;
    let client = stub.client_with(pinned(&stub.server));

    let body = bridge_event("BRIDGE_EXECUTED", "bridge-1");
    let verified = client
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap();
    assert_eq!(verified.provider_ref, "bridge-1");
    assert_eq!(verified.asset, AssetId::parse("USDT_ETHEREUM").unwrap());
    assert_eq!(
        verified.amount.base_units(),
        1_500_000,
        "amountWei, not the event's amount"
    );
    assert_eq!(
        verified.address,
        ChainAddress::parse(custody_core::asset::Network::Ethereum, EVM_SDA).unwrap()
    );
    assert_eq!(verified.tx_hash.as_deref(), Some("0xdeposit"));
    assert_eq!(verified.status, TransactionStatus::Completed);
    assert_eq!(verified.confirmations, None);

    // The still-pending deposit is Confirming, whatever the event's tag says.
    let body = bridge_event("BRIDGE_EXECUTED", "other");
    let pending = client
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap();
    assert_eq!(pending.status, TransactionStatus::Confirming);
    assert_eq!(pending.amount.base_units(), 1);
}

#[tokio::test]
async fn a_rejected_deposit_is_verified_as_failed() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "rejected");
    stub.exchange(&token, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{SOL_SDA}/SOLANA/history")))
        .and(header("authorization", token.as_str()))
        .and(query_param("from", "2024-03-31T12:00:00.000Z"))
        .and(query_param("to", "2024-05-01T12:00:00.000Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "depositAddress": SOL_SDA, "depositChain": "SOLANA",
            "bridges": [{"_tag": "rejected", "_id": "rej-1", "tokenSymbol": "USDC",
                         "tokenAddress": "EPjF", "amount": "1", "amountUsd": 1, "amountWei": "1000000",
                         "sender": "s", "txHash": "5sig", "createdAt": "2024-05-01T11:00:00.000Z",
                         "reason": "UNDER_MIN", "txUid": "u"}]
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    let body = serde_json::to_vec(&json!({
        "event": {"_tag": "DEPOSIT_ADDRESS_BRIDGE_REJECTED", "_id": "rej-1", "tokenSymbol": "USDC",
                  "amountWei": "99999999999", "reason": "UNDER_MIN",
                  "depositAddress": {"depositChain": "SOLANA", "depositAddress": SOL_SDA,
                                     "destinationChain": "BASE"}},
        "eventId": "evt_2", "ts": 1
    }))
    .unwrap();

    let verified = stub
        .client_with(pinned(&stub.server))
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap();
    assert_eq!(verified.status, TransactionStatus::Failed);
    assert_eq!(verified.asset, AssetId::parse("USDC_SOLANA").unwrap());
    assert_eq!(verified.amount.base_units(), 1_000_000);
    assert_eq!(verified.provider_ref, "rej-1");
}

#[tokio::test]
async fn tampered_or_unsigned_events_are_unverified_without_any_call() {
    let stub = Stub::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&stub.server)
        .await;
    let client = stub.client_with(pinned(&stub.server));
    let body = bridge_event("BRIDGE_EXECUTED", "bridge-1");
    let signature = sign(&body);
    let tampered = bridge_event("BRIDGE_EXECUTED", "bridge-2");

    for (payload, signature) in [
        (tampered.clone(), Some(signature.clone())),
        (body.clone(), None),
        (body.clone(), Some(String::new())),
        (body.clone(), Some("not hex".into())),
        (body.clone(), Some(sign_with(ROTATED_PRIVATE_PEM, &body))),
    ] {
        let refused = client
            .verify_deposit(&notice(&payload, signature.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ProviderError::Unverified(_)),
            "{signature:?}: {refused:?}"
        );
    }
    // Re-serialising the same JSON differently is a different body: the raw bytes are signed.
    let pretty =
        serde_json::to_vec_pretty(&serde_json::from_slice::<Value>(&body).unwrap()).unwrap();
    assert!(matches!(
        client
            .verify_deposit(&notice(&pretty, Some(signature)))
            .await,
        Err(ProviderError::Unverified(_))
    ));
}

#[tokio::test]
async fn signed_events_that_are_not_deposits_are_unverified_without_a_read() {
    let stub = Stub::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&stub.server)
        .await;
    let client = stub.client_with(pinned(&stub.server));

    let test_event =
        br#"{"event":{"_tag":"WEBHOOK_TEST","type":"test","message":"hi"},"eventId":"e","ts":1}"#;
    assert_eq!(
        client
            .verify_deposit(&notice(test_event, Some(sign(test_event))))
            .await,
        Err(ProviderError::Unverified(
            "not a deposit event: WEBHOOK_TEST".into()
        ))
    );
    // A bridge that did not go through an SDA.
    let plain_bridge = serde_json::to_vec(&json!({
        "event": {"_tag": "BRIDGE_EXECUTED", "_id": "b", "chainIn": "ETHEREUM"}, "eventId": "e", "ts": 1
    }))
    .unwrap();
    assert_eq!(
        client
            .verify_deposit(&notice(&plain_bridge, Some(sign(&plain_bridge))))
            .await,
        Err(ProviderError::Unverified(
            "not a deposit event: BRIDGE_EXECUTED".into()
        ))
    );
}

#[tokio::test]
async fn a_signed_deposit_not_yet_in_rhinos_history_is_retried_not_dropped() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "missing");
    stub.exchange(&token, 1).await;
    history_mock(&token, history(&[accepted("other", "EXECUTED", "5")]))
        .expect(1)
        .mount(&stub.server)
        .await;

    let body = bridge_event("BRIDGE_ACCEPTED", "forged-bridge");
    let refused = stub
        .client_with(pinned(&stub.server))
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap_err();
    // Rhino signed it, so the deposit exists: its history has not caught up. Unavailable,
    // so the notification is delivered again instead of being dropped for good; nothing is
    // credited meanwhile.
    assert!(
        matches!(&refused, ProviderError::Unavailable(m) if m.contains("forged-bridge")),
        "{refused:?}"
    );
    assert!(refused.is_retryable());
}

#[tokio::test]
async fn history_items_rhino_cannot_vouch_for_are_unverified() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "odd");
    stub.exchange(&token, 1).await;
    let mut eth = accepted("eth", "EXECUTED", "1000");
    eth["tokenSymbol"] = json!("ETH");
    let mut float = accepted("float", "EXECUTED", "1");
    float["amountWei"] = json!("1.5");
    let mut missing = accepted("missing", "EXECUTED", "1");
    missing.as_object_mut().unwrap().remove("amountWei");
    let zero = accepted("zero", "EXECUTED", "0");
    history_mock(&token, history(&[eth, float, missing, zero]))
        .expect(4)
        .mount(&stub.server)
        .await;
    let client = stub.client_with(pinned(&stub.server));

    let body = bridge_event("BRIDGE_EXECUTED", "eth");
    let refused = client
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ProviderError::Unverified(_)),
        "{refused:?}"
    );
    // Issue 14: an unusable amount is malformed (a clear 422 at the endpoint), not unverified.
    for id in ["float", "missing", "zero"] {
        let body = bridge_event("BRIDGE_EXECUTED", id);
        let refused = client
            .verify_deposit(&notice(&body, Some(sign(&body))))
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, ProviderError::Malformed(m) if m.contains(id)),
            "{id}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn signed_events_that_are_not_deposits_are_acknowledged_without_a_read() {
    let stub = Stub::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&stub.server)
        .await;
    let client = stub.client_with(pinned(&stub.server));
    let created = serde_json::to_vec(&json!({
        "event": {"_tag": "DEPOSIT_ADDRESS_CREATED", "depositChain": "ETHEREUM",
                  "depositAddress": EVM_SDA, "destinationChain": "BASE",
                  "destinationAddress": DESTINATION, "addressNote": "wal_x:0"},
        "eventId": "e2", "ts": 1
    }))
    .unwrap();
    let test_event =
        br#"{"event":{"_tag":"WEBHOOK_TEST","type":"test","message":"hi"},"eventId":"e","ts":1}"#
            .to_vec();
    for body in [created, test_event.clone()] {
        let got = client
            .verify_notification(&notice(&body, Some(sign(&body))))
            .await
            .unwrap();
        assert!(
            matches!(&got, Notification::Acknowledged(why) if why.contains("not a deposit")),
            "{got:?}"
        );
    }
    // Unsigned, it is not authentic: refused.
    assert!(matches!(
        client.verify_notification(&notice(&test_event, None)).await,
        Err(ProviderError::Unverified(_))
    ));
}

#[tokio::test]
async fn a_bridge_event_matches_the_items_bridge_id_and_reports_the_items_id() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "bridge-id");
    stub.exchange(&token, 1).await;
    history_mock(
        &token,
        history(&[accepted("sda-deposit-9", "DEPOSIT_ACCEPTED", "7")]),
    )
    .expect(1)
    .mount(&stub.server)
    .await;
    // The event names the bridge record (`history._id`), not the history item.
    let body = bridge_event("BRIDGE_ACCEPTED", "h-sda-deposit-9");
    let verified = stub
        .client_with(pinned(&stub.server))
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap();
    assert_eq!(verified.provider_ref, "sda-deposit-9");
    assert_eq!(verified.status, TransactionStatus::Confirming);
}

/// `GET /webhook/public-key` answering the JSON string of base64 of `pem`.
fn key_mock(token: &str, pem: &str) -> Mock {
    Mock::given(method("GET"))
        .and(path("/webhook/public-key"))
        .and(header("authorization", token))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(STANDARD.encode(pem))))
}

#[tokio::test]
async fn the_webhook_key_is_fetched_once_and_cached() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "key");
    stub.exchange(&token, 1).await;
    key_mock(&token, PUBLIC_PEM)
        .expect(1)
        .mount(&stub.server)
        .await;
    history_mock(
        &token,
        history(&[accepted("bridge-1", "EXECUTED", "1500000")]),
    )
    .expect(3)
    .mount(&stub.server)
    .await;
    let client = stub.client();

    let body = bridge_event("BRIDGE_EXECUTED", "bridge-1");
    for _ in 0..3 {
        let verified = client
            .verify_deposit(&notice(&body, Some(sign(&body))))
            .await
            .unwrap();
        assert_eq!(verified.amount.base_units(), 1_500_000);
    }
    // A bad signature within a minute of the fetch does not fetch again (expect(1) above).
    let refused = client
        .verify_deposit(&notice(&body, Some(sign_with(ROTATED_PRIVATE_PEM, &body))))
        .await
        .unwrap_err();
    assert!(matches!(refused, ProviderError::Unverified(_)));
}

#[tokio::test]
async fn a_rotated_webhook_key_is_fetched_again() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "rotate");
    stub.exchange(&token, 1).await;
    key_mock(&token, PUBLIC_PEM)
        .up_to_n_times(1)
        .expect(1)
        .mount(&stub.server)
        .await;
    key_mock(&token, ROTATED_PUBLIC_PEM)
        .expect(1)
        .mount(&stub.server)
        .await;
    Mock::given(method("GET"))
        .and(path(HISTORY_PATH))
        .and(header("authorization", token.as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(history(&[accepted("bridge-1", "EXECUTED", "1500000")])),
        )
        .expect(2)
        .mount(&stub.server)
        .await;
    let client = stub.client();

    let body = bridge_event("BRIDGE_EXECUTED", "bridge-1");
    client
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap();
    stub.clock.set(NOW + time::Duration::minutes(2));
    let verified = client
        .verify_deposit(&notice(&body, Some(sign_with(ROTATED_PRIVATE_PEM, &body))))
        .await
        .unwrap();
    assert_eq!(verified.status, TransactionStatus::Completed);
}

#[tokio::test]
async fn an_invalid_pinned_key_or_base_url_is_refused_at_construction() {
    let stub = Stub::start().await;
    let mut config = config(&stub.server);
    config.webhook_public_key_pem =
        Some("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----".into());
    assert!(matches!(
        RhinoClient::new(config, stub.clock.clone()),
        Err(ProviderError::Rejected(_))
    ));
    let mut config = RhinoConfig::new(SecretString::from(API_KEY));
    assert_eq!(config.base_url, RhinoConfig::DEFAULT_BASE_URL);
    config.base_url = "ftp://example.com".into();
    assert!(matches!(
        RhinoClient::new(config, stub.clock.clone()),
        Err(ProviderError::Rejected(_))
    ));
}

#[tokio::test]
async fn an_sda_rhino_does_not_know_is_unverified() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "unknown-sda");
    stub.exchange(&token, 1).await;
    Mock::given(method("GET"))
        .and(path(HISTORY_PATH))
        .and(header("authorization", token.as_str()))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "_tag": "DepositAddressNotFound", "message": "unknown", "addresses": [EVM_SDA]
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    let body = bridge_event("BRIDGE_EXECUTED", "bridge-1");
    let refused = stub
        .client_with(pinned(&stub.server))
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap_err();
    assert!(
        matches!(refused, ProviderError::Unverified(_)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_history_outage_is_unavailable_so_the_webhook_is_retried() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "outage");
    stub.exchange(&token, 1).await;
    Mock::given(method("GET"))
        .and(path(HISTORY_PATH))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&stub.server)
        .await;
    let body = bridge_event("BRIDGE_EXECUTED", "bridge-1");
    let refused = stub
        .client_with(pinned(&stub.server))
        .verify_deposit(&notice(&body, Some(sign(&body))))
        .await
        .unwrap_err();
    assert_eq!(refused, ProviderError::Unavailable("Rhino HTTP 500".into()));
}

#[tokio::test]
async fn secrets_echoed_by_rhino_are_redacted_and_odd_path_segments_refused() {
    let stub = Stub::start().await;
    let token = jwt(NOW + time::Duration::hours(1), "echo");
    stub.exchange(&token, 1).await;
    Mock::given(method("GET"))
        .and(path(format!("/sda/deposit-addresses/{EVM_SDA}/ETHEREUM")))
        .respond_with(ResponseTemplate::new(422).set_body_json(json!({
            "_tag": "InvalidRequest", "message": format!("{API_KEY} / {token}")
        })))
        .expect(1)
        .mount(&stub.server)
        .await;
    let client = stub.client();

    let Err(ProviderError::Rejected(why)) =
        client.deposit_address_status(EVM_SDA, "ETHEREUM").await
    else {
        panic!("422 InvalidRequest is a rejection");
    };
    assert!(why.starts_with("Rhino InvalidRequest: "), "{why}");
    assert!(!why.contains(API_KEY) && !why.contains(&token), "{why}");
    assert!(why.contains("[redacted]"), "{why}");

    for (address, chain) in [("..", "ETHEREUM"), (EVM_SDA, ""), (".", "BASE")] {
        assert!(matches!(
            client.deposit_address_status(address, chain).await,
            Err(ProviderError::Rejected(_))
        ));
    }
}
