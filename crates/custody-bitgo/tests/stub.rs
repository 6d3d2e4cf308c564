//! The BitGo client against a local stub server speaking BitGo's documented wire format
//! (providers.md A2, A5, A9.1, A9.2): exact requests in, documented bodies and errors out.
// Test helpers fail the test by panicking.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use custody_bitgo::{
    wallet_coin, BitgoClient, BitgoConfig, BitgoEnvironment, Limit, WithdrawalFlow,
};
use custody_core::asset::AssetId;
use custody_core::id::{AddressId, TenantId, VaultId, WalletId};
use custody_core::ports::{CustodyProvider, MintRequest, ProviderError};
use custody_core::retry::Backoff;
use secrecy::SecretString;
use serde_json::json;
use ulid::Ulid;
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "v2x-test-access-token";
const ETH_WALLET: &str = "59cd72485007a239fb00282ed480da1f";
const SOL_WALLET: &str = "6a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn config(server: &MockServer, timeout: Duration) -> BitgoConfig {
    let mut config = BitgoConfig::new(BitgoEnvironment::Test, SecretString::from(TOKEN));
    config.base_url = server.uri();
    config.wallets = BTreeMap::from([
        ("hteth".to_owned(), ETH_WALLET.to_owned()),
        ("tsol".to_owned(), SOL_WALLET.to_owned()),
    ]);
    config.timeout = timeout;
    // Retries without waiting, so tests stay fast.
    config.backoff = Backoff {
        attempts: 3,
        base: Duration::ZERO,
        cap: Duration::from_secs(1),
    };
    config
}

fn client(server: &MockServer, timeout: Duration) -> BitgoClient {
    BitgoClient::new(config(server, timeout)).expect("client")
}

fn mint(asset: &str) -> MintRequest {
    MintRequest {
        address_id: AddressId::from_ulid(Ulid::from_parts(1, 7)),
        tenant_id: TenantId::from_ulid(Ulid::from_parts(1, 1)),
        vault_id: VaultId::from_ulid(Ulid::from_parts(1, 2)),
        wallet_id: WalletId::from_ulid(Ulid::from_parts(1, 3)),
        asset: AssetId::parse(asset).expect("asset"),
        index: 0,
    }
}

/// The documented `WalletAddress` shape (A9.1), ethereum flavour.
fn eth_address(address: &str) -> serde_json::Value {
    json!({
        "id": "66a1b2c3d4e5f60718293a4b5c6d7e8f", "address": address, "chain": 0, "index": 7,
        "coin": "hteth", "wallet": ETH_WALLET, "label": mint("USDT_ETHEREUM").address_id.to_string(),
        "coinSpecific": {"forwarderVersion": 4, "nonce": -1, "feeAddress": "0x0000000000000000000000000000000000000001",
            "pendingChainInitialization": false, "pendingDeployment": true, "creationFailure": [],
            "txCount": 0, "updateTime": "2026-08-01T00:00:00.000Z"}
    })
}

#[test]
fn tokens_use_their_parent_coin_and_testnets_differ() {
    let usdt = AssetId::parse("USDT_ETHEREUM").expect("asset");
    let usdc_sol = AssetId::parse("USDC_SOLANA").expect("asset");
    assert_eq!(wallet_coin(usdt, BitgoEnvironment::Production), Some("eth"));
    assert_eq!(wallet_coin(usdt, BitgoEnvironment::Test), Some("hteth"));
    assert_eq!(
        wallet_coin(usdc_sol, BitgoEnvironment::Production),
        Some("sol")
    );
    assert_eq!(wallet_coin(usdc_sol, BitgoEnvironment::Test), Some("tsol"));
    let base = AssetId::parse("USDC_BASE").expect("asset");
    assert_eq!(wallet_coin(base, BitgoEnvironment::Production), None);
}

#[tokio::test]
async fn mints_with_the_exact_documented_request() {
    let server = MockServer::start().await;
    let request = mint("USDT_ETHEREUM");
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}/address")))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .and(body_json(
            json!({ "label": request.address_id.to_string() }),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(eth_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let minted = client(&server, Duration::from_secs(5))
        .mint_address(&request)
        .await
        .expect("minted");
    // Canonical EIP-55 form, whatever case BitGo used.
    assert_eq!(
        minted.address.to_string(),
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
    );
    assert_eq!(
        minted.provider_ref.as_deref(),
        Some("66a1b2c3d4e5f60718293a4b5c6d7e8f")
    );
}

#[tokio::test]
async fn solana_tokens_mint_on_the_sol_wallet() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/tsol/wallet/{SOL_WALLET}/address")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "0123456789abcdef0123456789abcdef", "address": "3sK3AAx8DVDdFVqjFTiDc99gHSTTutXmepsC4j45YFzA",
            "chain": 0, "index": 1, "coin": "tsol", "wallet": SOL_WALLET,
            "coinSpecific": {"rootAddress": "x", "minimumFunding": 0, "pendingChainInitialization": false, "trustedTokens": []}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let minted = client(&server, Duration::from_secs(5))
        .mint_address(&mint("USDC_SOLANA"))
        .await
        .expect("minted");
    assert_eq!(
        minted.address.to_string(),
        "3sK3AAx8DVDdFVqjFTiDc99gHSTTutXmepsC4j45YFzA"
    );
}

#[tokio::test]
async fn errors_map_to_domain_errors() {
    type Expect = fn(&ProviderError) -> bool;
    let cases: Vec<(ResponseTemplate, Expect)> = vec![
        (
            ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid wallet id", "name": "InvalidWalletId", "requestId": "cjo7uw7si0buzttlmazmvthay"}),
            ),
            |e| matches!(e, ProviderError::Rejected(m) if m.contains("InvalidWalletId")),
        ),
        (
            ResponseTemplate::new(401).set_body_json(
                json!({"error": "unauthorized", "name": "Unauthorized", "requestId": "r1"}),
            ),
            |e| matches!(e, ProviderError::Rejected(m) if m.contains("access token")),
        ),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "12"),
            |e| matches!(e, ProviderError::RateLimited { retry_after_secs: Some(12) }),
        ),
        (
            ResponseTemplate::new(503).set_body_string("upstream down"),
            |e| matches!(e, ProviderError::Unavailable(_)) && e.is_retryable(),
        ),
        (
            // An address pending chain initialisation is hidden: retry later.
            ResponseTemplate::new(200).set_body_json(json!({
                "id": "66a1b2c3d4e5f60718293a4b5c6d7e8f", "chain": 0, "index": 7, "coin": "hteth", "wallet": ETH_WALLET
            })),
            |e| matches!(e, ProviderError::Unavailable(m) if m.contains("pending")),
        ),
        (
            ResponseTemplate::new(200).set_body_json(eth_address("not-an-address")),
            |e| matches!(e, ProviderError::Rejected(m) if m.contains("invalid")),
        ),
    ];
    for (response, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
        let err = client(&server, Duration::from_secs(5))
            .mint_address(&mint("USDT_ETHEREUM"))
            .await
            .expect_err("must fail");
        assert!(expected(&err), "unexpected {err:?}");
    }
}

#[tokio::test]
async fn a_timeout_is_unavailable_and_creation_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(800)))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server, Duration::from_millis(200))
        .mint_address(&mint("USDT_ETHEREUM"))
        .await
        .expect_err("times out");
    assert!(
        matches!(err, ProviderError::Unavailable(ref m) if m.contains("timed out")),
        "{err:?}"
    );
}

#[tokio::test]
async fn assets_bitgo_does_not_serve_never_reach_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let err = client(&server, Duration::from_secs(5))
        .mint_address(&mint("USDC_BASE"))
        .await
        .expect_err("refused");
    assert!(matches!(err, ProviderError::Rejected(_)));
}

#[tokio::test]
async fn reads_are_retried_on_a_transient_failure() {
    let server = MockServer::start().await;
    let url = format!("/api/v2/hteth/wallet/{ETH_WALLET}/address/66a1b2c3d4e5f60718293a4b5c6d7e8f");
    Mock::given(method("GET"))
        .and(path(url.as_str()))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(url.as_str()))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(eth_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let address = client(&server, Duration::from_secs(5))
        .get_address("hteth", ETH_WALLET, "66a1b2c3d4e5f60718293a4b5c6d7e8f")
        .await
        .expect("read");
    assert_eq!(address.index, 7);
    assert_eq!(address.wallet, ETH_WALLET);
}

#[test]
fn secrets_never_show_in_debug() {
    let mut config = BitgoConfig::new(BitgoEnvironment::Production, SecretString::from(TOKEN));
    config.withdrawals = WithdrawalFlow::Express {
        url: "http://localhost:3080".into(),
        wallet_passphrase: SecretString::from("correct horse battery staple"),
    };
    config.webhook_secret = Some(SecretString::from("whsec-enterprise"));
    assert_eq!(config.base_url, "https://app.bitgo.com");
    assert_eq!(config.timeout, Duration::from_secs(100));
    let client = BitgoClient::new(config.clone()).expect("client");
    for shown in [format!("{config:?}"), format!("{client:?}")] {
        assert!(!shown.contains(TOKEN), "{shown}");
        assert!(!shown.contains("horse"), "{shown}");
        assert!(!shown.contains("whsec"), "{shown}");
        assert!(shown.contains("localhost:3080"), "{shown}");
    }
}

#[tokio::test]
async fn serves_names_what_is_missing() {
    let server = MockServer::start().await;
    let bitgo = client(&server, Duration::from_secs(5));
    assert!(bitgo
        .serves(AssetId::parse("USDT_ETHEREUM").expect("asset"))
        .is_ok());
    assert!(bitgo
        .serves(AssetId::parse("USDC_SOLANA").expect("asset"))
        .is_ok());
    for (code, why) in [
        ("USDC_BASE", "does not serve"),
        ("XAUT_ETHEREUM", "no faithful coin"),
        ("USDT_SOLANA", "no faithful coin"),
    ] {
        let err = bitgo
            .serves(AssetId::parse(code).expect("asset"))
            .expect_err(code);
        assert!(
            matches!(&err, ProviderError::Rejected(m) if m.contains(why)),
            "{code}: {err:?}"
        );
    }
    let mut no_sol = config(&server, Duration::from_secs(5));
    no_sol.wallets.remove("tsol");
    let err = BitgoClient::new(no_sol)
        .expect("client")
        .serves(AssetId::parse("USDC_SOLANA").expect("asset"))
        .expect_err("no wallet");
    assert!(
        matches!(&err, ProviderError::Rejected(m) if m.contains("tsol")),
        "{err:?}"
    );
}

#[tokio::test]
async fn eth_address_creation_is_held_to_bitgos_hourly_limit_on_our_side() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}/address")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(eth_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")),
        )
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/api/v2/tsol/wallet/{SOL_WALLET}/address")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "0123456789abcdef0123456789abcdef", "address": "3sK3AAx8DVDdFVqjFTiDc99gHSTTutXmepsC4j45YFzA",
            "chain": 0, "index": 1, "coin": "tsol", "wallet": SOL_WALLET
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut limited = config(&server, Duration::from_secs(5));
    limited.limits.eth_addresses = Limit {
        max: 2,
        per: Duration::from_secs(3600),
    };
    let bitgo = BitgoClient::new(limited).expect("client");
    for _ in 0..2 {
        bitgo
            .mint_address(&mint("USDT_ETHEREUM"))
            .await
            .expect("within the limit");
    }
    let err = bitgo
        .mint_address(&mint("USDC_ETHEREUM"))
        .await
        .expect_err("over the hourly ETH limit");
    assert!(
        matches!(err, ProviderError::RateLimited { retry_after_secs: Some(s) } if s > 3500),
        "{err:?}"
    );
    // Solana addresses are not counted against the ETH limit.
    bitgo
        .mint_address(&mint("USDC_SOLANA"))
        .await
        .expect("sol is not limited");
}

#[tokio::test]
async fn every_request_is_held_to_the_per_minute_limit() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(eth_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")),
        )
        .expect(3)
        .mount(&server)
        .await;
    let mut limited = config(&server, Duration::from_secs(5));
    limited.limits.requests = Limit {
        max: 3,
        per: Duration::from_secs(60),
    };
    // A limit wait longer than the backoff cap is not slept through.
    limited.backoff.cap = Duration::from_secs(1);
    let bitgo = BitgoClient::new(limited).expect("client");
    for _ in 0..3 {
        bitgo
            .get_address("hteth", ETH_WALLET, "66a1b2c3d4e5f60718293a4b5c6d7e8f")
            .await
            .expect("within the limit");
    }
    let err = bitgo
        .get_address("hteth", ETH_WALLET, "66a1b2c3d4e5f60718293a4b5c6d7e8f")
        .await
        .expect_err("over the limit");
    assert!(matches!(err, ProviderError::RateLimited { .. }), "{err:?}");
}

#[tokio::test]
async fn addresses_are_listed_a_page_at_a_time() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}/addresses")))
        .and(query_param("limit", "2"))
        .and(query_param("prevId", "66a1b2c3d4e5f60718293a4b5c6d7e8f"))
        .and(query_param("labelContains", "adr_"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "coin": "hteth", "count": 1, "totalAddressCount": 3,
            "addresses": [eth_address("0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let page = client(&server, Duration::from_secs(5))
        .list_addresses(
            "hteth",
            ETH_WALLET,
            2,
            Some("66a1b2c3d4e5f60718293a4b5c6d7e8f"),
            Some("adr_"),
        )
        .await
        .expect("page");
    assert_eq!(page.addresses.len(), 1);
    assert_eq!(page.next_batch_prev_id, None, "the last page has no cursor");
}
