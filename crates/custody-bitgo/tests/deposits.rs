//! Deposits through BitGo's transfer webhook against a local stub server speaking BitGo's
//! documented wire format (providers.md A9.6, A9.7): the webhook only names a transfer, the
//! transfer is read back from BitGo, and only what was read back is trusted.
// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use custody_bitgo::{parse_transfer_webhook, BitgoClient, BitgoConfig, BitgoEnvironment};
use custody_core::amount::Amount;
use custody_core::asset::{AssetId, Network};
use custody_core::chain_address::ChainAddress;
use custody_core::id::TransactionId;
use custody_core::ports::{
    CustodyProvider, DepositNotice, Notification, ProviderError, VerifiedDeposit,
};
use custody_core::retry::Backoff;
use custody_core::transaction::TransactionStatus;
use hmac::{Hmac, Mac};
use secrecy::SecretString;
use serde_json::{json, Value};
use sha2::Sha256;
use wiremock::matchers::{any, header, method, path, HeaderExactMatcher};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "v2x-test-access-token";
const ETH_WALLET: &str = "59cd72485007a239fb00282ed480da1f";
const SOL_WALLET: &str = "6a1b2c3d4e5f60718293a4b5c6d7e8f9";
const OTHER_WALLET: &str = "5a13adcab70f2c284fdd9682db5e6d64";
/// BitGo's test-environment ticker for USDT on Ethereum (providers.md A8).
const USDT: &str = "hteth:tusdt";
const TRANSFER_ID: &str = "5b612d25c9067f2a1db11a15f165989e";
const TXID: &str = "0x3e00ae8e2b7e0d0e1b6f7d3c5a4b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b";
/// Our receiving address as BitGo writes it (lower case), and its EIP-55 form.
const OURS: &str = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
const OURS_EIP55: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const SENDER: &str = "0xdbf03b407c01e7cd3cbea99509d93f8dddc8c6fb";
const ANOTHER: &str = "0xd1220a0cf47c7b9be7a2e6ba89f429762e7b9adb";
const SECRET: &str = "whsec-enterprise-5a8ff5a1";

fn config(server: &MockServer) -> BitgoConfig {
    let mut config = BitgoConfig::new(BitgoEnvironment::Test, SecretString::from(TOKEN));
    config.base_url = server.uri();
    config.wallets = BTreeMap::from([
        ("hteth".to_owned(), ETH_WALLET.to_owned()),
        ("tsol".to_owned(), SOL_WALLET.to_owned()),
    ]);
    config.timeout = Duration::from_secs(5);
    // Retries without waiting, so tests stay fast.
    config.backoff = Backoff {
        attempts: 3,
        base: Duration::ZERO,
        cap: Duration::from_secs(1),
    };
    config
}

fn client(server: &MockServer) -> BitgoClient {
    BitgoClient::new(config(server)).expect("client")
}

fn signed_client(server: &MockServer) -> BitgoClient {
    let mut config = config(server);
    config.webhook_secret = Some(SecretString::from(SECRET));
    BitgoClient::new(config).expect("client")
}

fn bearer() -> HeaderExactMatcher {
    header("authorization", format!("Bearer {TOKEN}").as_str())
}

/// BitGo's documented transfer webhook (A9.7).
fn webhook(coin: &str, wallet: &str, state: &str) -> Value {
    json!({
        "hash": TXID, "transfer": TRANSFER_ID, "coin": coin,
        "type": "transfer", "state": state, "wallet": wallet
    })
}

fn notice(body: &Value, signature: Option<String>) -> DepositNotice {
    DepositNotice {
        provider: "bitgo".into(),
        payload: serde_json::to_vec(body).expect("json"),
        signature,
    }
}

/// hex(HMAC-SHA256(secret, raw body)), as BitGo signs `X-Signature-SHA256`.
fn sign(secret: &str, payload: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// The sender's debit and our credit, as BitGo annotates a token receive.
fn eth_entries() -> Value {
    json!([
        {"address": SENDER, "value": -2_500_000, "valueString": "-2500000", "token": USDT},
        {"address": OURS, "wallet": ETH_WALLET, "value": 2_500_000, "valueString": "2500000",
         "token": USDT, "label": "adr_01J9Z3", "isChange": false}
    ])
}

/// The documented transfer shape (`AnnotatedTransferWithInputsOutputs`, A9.6) of a receive.
fn receive(coin: &str, wallet: &str, state: &str, entries: Value) -> Value {
    json!({
        "id": TRANSFER_ID, "coin": coin, "wallet": wallet, "enterprise": "5a8ff5a1f1b24d22b21a26c9",
        "txid": TXID, "normalizedTxHash": TXID, "height": 8_123_456, "heightId": "000812345600000",
        "date": "2026-08-01T12:00:00.000Z", "confirmations": 14, "type": "receive",
        "value": 2_500_000, "valueString": "2500000", "baseValueString": "2500000",
        "intendedValueString": "2500000", "feeString": "0", "usd": 2.5, "usdRate": 1.0,
        "state": state, "tags": [wallet],
        "history": [{"date": "2026-08-01T12:00:00.000Z", "action": "created", "comment": null}],
        "comment": null, "coinSpecific": {}, "entries": entries,
        "confirmedTime": "2026-08-01T12:03:00.000Z", "createdTime": "2026-08-01T12:00:00.000Z"
    })
}

fn transfer_path(coin: &str, wallet: &str) -> String {
    format!("/api/v2/{coin}/wallet/{wallet}/transfer/{TRANSFER_ID}")
}

/// Mounts the read-back of the transfer, expected `times` times.
async fn read_back(server: &MockServer, body: Value, times: u64) {
    Mock::given(method("GET"))
        .and(path(transfer_path(USDT, ETH_WALLET)))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .expect(times)
        .mount(server)
        .await;
}

/// Refuses any request, and fails the test if one is made.
async fn no_http(server: &MockServer) {
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(server)
        .await;
}

fn usdt() -> AssetId {
    AssetId::parse("USDT_ETHEREUM").expect("asset")
}

fn is_unverified(err: &ProviderError) -> bool {
    matches!(err, ProviderError::Unverified(_))
}

#[tokio::test]
async fn a_documented_webhook_is_read_back_and_verified() {
    let server = MockServer::start().await;
    read_back(
        &server,
        receive(USDT, ETH_WALLET, "confirmed", eth_entries()),
        1,
    )
    .await;
    let verified = client(&server)
        .verify_deposit(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
        .await
        .expect("verified");
    assert_eq!(
        verified,
        VerifiedDeposit {
            provider_ref: TRANSFER_ID.to_owned(),
            asset: usdt(),
            amount: Amount::from_base_units(2_500_000),
            address: ChainAddress::parse(Network::Ethereum, OURS_EIP55).expect("address"),
            tx_hash: Some(TXID.to_owned()),
            status: TransactionStatus::Completed,
            confirmations: verified.confirmations,
        }
    );
    // Canonical EIP-55 form, whatever case BitGo used.
    assert_eq!(verified.address.as_str(), OURS_EIP55);
}

#[tokio::test]
async fn the_read_back_state_decides_the_deposit_status() {
    use TransactionStatus::{Completed, Confirming, Failed};
    for (state, status) in [
        ("unconfirmed", Confirming),
        ("confirmed", Completed),
        ("failed", Failed),
        ("removed", Failed),
        // Superseded: its replacement is credited under its own id.
        ("replaced", Failed),
    ] {
        let server = MockServer::start().await;
        read_back(&server, receive(USDT, ETH_WALLET, state, eth_entries()), 1).await;
        let verified = client(&server)
            .verify_deposit(&notice(&webhook(USDT, ETH_WALLET, state), None))
            .await
            .unwrap_or_else(|e| panic!("{state}: {e:?}"));
        assert_eq!(verified.status, status, "{state}");
        assert_eq!(
            verified.amount,
            Amount::from_base_units(2_500_000),
            "{state}"
        );
    }
}

#[tokio::test]
async fn nothing_in_the_webhook_body_is_trusted() {
    let server = MockServer::start().await;
    read_back(
        &server,
        receive(USDT, ETH_WALLET, "unconfirmed", eth_entries()),
        1,
    )
    .await;
    // The body claims a confirmed, larger deposit to another address (third-party payloads
    // carry such fields: providers.md A9.7).
    let mut body = webhook(USDT, ETH_WALLET, "confirmed");
    body["valueString"] = json!("999999999");
    body["value"] = json!(999_999_999);
    body["baseValueString"] = json!("999999999");
    body["receiver"] = json!(ANOTHER);
    body["transferType"] = json!("receive");
    body["hash"] = json!("0x00000000000000000000000000000000000000000000000000000000deadbeef");
    let verified = client(&server)
        .verify_deposit(&notice(&body, None))
        .await
        .expect("verified");
    assert_eq!(verified.status, TransactionStatus::Confirming);
    assert_eq!(verified.amount, Amount::from_base_units(2_500_000));
    assert_eq!(verified.address.as_str(), OURS_EIP55);
    assert_eq!(verified.tx_hash.as_deref(), Some(TXID));
}

#[tokio::test]
async fn a_webhook_naming_another_wallet_is_refused_without_reading_back() {
    let server = MockServer::start().await;
    no_http(&server).await;
    let err = client(&server)
        .verify_deposit(&notice(&webhook(USDT, OTHER_WALLET, "confirmed"), None))
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, ProviderError::Unverified(m) if m.contains(OTHER_WALLET)),
        "{err:?}"
    );
}

#[tokio::test]
async fn coins_we_do_not_hold_are_refused_without_reading_back() {
    // Unknown token, a mainnet ticker on the test environment, the 9-decimal testnet USDC,
    // and the wallet coin itself (native ETH is not an asset we hold).
    for coin in ["hteth:tfoo", "usdt", "tsol:usdc", "hteth"] {
        let server = MockServer::start().await;
        no_http(&server).await;
        let err = client(&server)
            .verify_deposit(&notice(&webhook(coin, ETH_WALLET, "confirmed"), None))
            .await
            .expect_err(coin);
        assert!(
            matches!(&err, ProviderError::Unverified(m) if m.contains(coin)),
            "{coin}: {err:?}"
        );
    }
}

#[tokio::test]
async fn webhooks_that_are_not_transfer_notifications_are_refused() {
    let mut approval = webhook(USDT, ETH_WALLET, "pending");
    approval["type"] = json!("pendingapproval");
    let cases: Vec<(&str, Vec<u8>)> =
        vec![
        ("pendingapproval", serde_json::to_vec(&approval).expect("json")),
        (
            "pendingapproval without a transfer",
            serde_json::to_vec(&json!({
                "type": "pendingapproval", "pendingApprovalId": "6c723e36d0178f3b2ec22b26a276a9af",
                "wallet": ETH_WALLET, "coin": USDT, "state": "pending"
            }))
            .expect("json"),
        ),
        ("malformed", br#"{"hash":"0x3e","transfer":"#.to_vec()),
        ("empty", Vec::new()),
        ("not an object", b"[1,2,3]".to_vec()),
    ];
    for (what, payload) in cases {
        let server = MockServer::start().await;
        no_http(&server).await;
        let err = client(&server)
            .verify_deposit(&DepositNotice {
                provider: "bitgo".into(),
                payload: payload.clone(),
                signature: None,
            })
            .await
            .expect_err(what);
        assert!(is_unverified(&err), "{what}: {err:?}");
        assert!(
            is_unverified(&parse_transfer_webhook(&payload).expect_err(what)),
            "{what}"
        );
    }
}

#[test]
fn the_documented_webhook_parses() {
    let parsed = parse_transfer_webhook(
        br#"{"hash":"0x3e00ae","transfer":"5b612d25c9067f2a1db11a15f165989e","coin":"terc","type":"transfer","state":"confirmed","wallet":"5a13adcab70f2c284fdd9682db5e6d64","idempotencyKey":"k1"}"#,
    )
    .expect("parses");
    assert_eq!(parsed.kind, "transfer");
    assert_eq!(parsed.transfer, TRANSFER_ID);
    assert_eq!(parsed.coin, "terc");
    assert_eq!(parsed.wallet, OTHER_WALLET);
    assert_eq!(parsed.hash.as_deref(), Some("0x3e00ae"));
    assert_eq!(parsed.state.as_deref(), Some("confirmed"));
}

/// Verifies a documented webhook whose read-back is `transfer`, expecting a refusal.
async fn refused_after_reading_back(what: &str, transfer: Value) {
    let server = MockServer::start().await;
    read_back(&server, transfer, 1).await;
    let err = client(&server)
        .verify_deposit(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
        .await
        .expect_err(what);
    assert!(is_unverified(&err), "{what}: {err:?}");
}

#[tokio::test]
async fn a_transfer_bitgo_does_not_know_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfer_path(USDT, ETH_WALLET)))
        .and(bearer())
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": "transfer not found", "name": "NotFound", "requestId": "r1"}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let err = client(&server)
        .verify_deposit(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
        .await
        .expect_err("unknown transfer");
    assert!(
        matches!(&err, ProviderError::Unverified(m) if m.contains(TRANSFER_ID)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_send_is_not_a_deposit() {
    let mut send = receive(USDT, ETH_WALLET, "confirmed", eth_entries());
    send["type"] = json!("send");
    refused_after_reading_back("send", send).await;
}

#[tokio::test]
async fn a_transfer_of_another_wallet_coin_or_id_is_refused() {
    let mut other_wallet = receive(USDT, ETH_WALLET, "confirmed", eth_entries());
    other_wallet["wallet"] = json!(OTHER_WALLET);
    refused_after_reading_back("other wallet", other_wallet).await;
    let mut other_coin = receive(USDT, ETH_WALLET, "confirmed", eth_entries());
    other_coin["coin"] = json!("hteth:tusdc");
    refused_after_reading_back("other coin", other_coin).await;
    let mut other_id = receive(USDT, ETH_WALLET, "confirmed", eth_entries());
    other_id["id"] = json!("0123456789abcdef0123456789abcdef");
    refused_after_reading_back("other id", other_id).await;
}

#[tokio::test]
async fn an_undocumented_transfer_state_is_refused() {
    refused_after_reading_back(
        "undocumented state",
        receive(USDT, ETH_WALLET, "teleported", eth_entries()),
    )
    .await;
}

#[tokio::test]
async fn a_deposit_split_over_two_of_our_addresses_is_refused() {
    let entries = json!([
        {"address": SENDER, "valueString": "-2500000"},
        {"address": OURS, "wallet": ETH_WALLET, "valueString": "1500000"},
        {"address": ANOTHER, "wallet": ETH_WALLET, "valueString": "1000000"}
    ]);
    refused_after_reading_back("split", receive(USDT, ETH_WALLET, "confirmed", entries)).await;
}

#[tokio::test]
async fn a_transfer_crediting_no_address_is_refused() {
    // Issue 14: a zero credit of our wallet is malformed (a clear 422 at the endpoint), no
    // longer merely unverified.
    for (what, value) in [
        ("zero", "0"),
        ("not an integer", "2.5"),
        ("garbage", "lots"),
    ] {
        let entries = json!([
            {"address": SENDER, "valueString": "-2500000"},
            {"address": OURS, "wallet": ETH_WALLET, "valueString": value}
        ]);
        let mut transfer = receive(USDT, ETH_WALLET, "confirmed", entries);
        transfer["valueString"] = json!(value);
        let server = MockServer::start().await;
        read_back(&server, transfer, 1).await;
        let err = client(&server)
            .verify_deposit(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
            .await
            .expect_err(what);
        assert!(
            matches!(&err, ProviderError::Malformed(m) if m.contains("zero or unreadable")),
            "{what}: {err:?}"
        );
    }
    refused_after_reading_back(
        "no entries",
        receive(USDT, ETH_WALLET, "confirmed", json!([])),
    )
    .await;
}

#[tokio::test]
async fn an_invalid_receiving_address_is_refused() {
    for address in [
        "0x5aaeb6053f3e94c9b9a09f33669435e7ef1bea",
        "3sK3AAx8DVDdFVqjFTiDc99gHSTTutXmepsC4j45YFzA",
        // Mixed case with a wrong EIP-55 checksum.
        "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    ] {
        let entries = json!([
            {"address": SENDER, "valueString": "-2500000"},
            {"address": address, "wallet": ETH_WALLET, "valueString": "2500000"}
        ]);
        refused_after_reading_back(address, receive(USDT, ETH_WALLET, "confirmed", entries)).await;
    }
}

#[tokio::test]
async fn a_single_credit_without_wallet_annotations_is_accepted() {
    let server = MockServer::start().await;
    let entries = json!([
        {"address": SENDER, "valueString": "-2500000"},
        {"address": OURS, "valueString": "2500000"}
    ]);
    read_back(&server, receive(USDT, ETH_WALLET, "confirmed", entries), 1).await;
    let verified = client(&server)
        .verify_deposit(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
        .await
        .expect("verified");
    assert_eq!(verified.address.as_str(), OURS_EIP55);
    assert_eq!(verified.amount, Amount::from_base_units(2_500_000));
}

#[tokio::test]
async fn our_annotated_credit_wins_over_other_credits() {
    let server = MockServer::start().await;
    let entries = json!([
        {"address": SENDER, "valueString": "-3000000"},
        {"address": ANOTHER, "valueString": "500000"},
        {"address": OURS, "wallet": ETH_WALLET, "valueString": "2500000"}
    ]);
    read_back(&server, receive(USDT, ETH_WALLET, "confirmed", entries), 1).await;
    let verified = client(&server)
        .verify_deposit(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
        .await
        .expect("verified");
    assert_eq!(verified.address.as_str(), OURS_EIP55);
    assert_eq!(verified.amount, Amount::from_base_units(2_500_000));
}

#[tokio::test]
async fn a_lone_credit_annotated_with_another_wallet_is_refused() {
    // The only credit is explicitly another BitGo wallet's: nothing says it is ours.
    let entries = json!([
        {"address": SENDER, "valueString": "-2500000"},
        {"address": ANOTHER, "wallet": OTHER_WALLET, "valueString": "2500000"}
    ]);
    refused_after_reading_back(
        "credit of another wallet",
        receive(USDT, ETH_WALLET, "confirmed", entries),
    )
    .await;
}

#[tokio::test]
async fn a_hostile_transfer_id_cannot_make_another_transfer_ours() {
    let server = MockServer::start().await;
    // Whatever path the id leads to, BitGo answers with a receive of our wallet.
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(receive(
            USDT,
            ETH_WALLET,
            "confirmed",
            eth_entries(),
        )))
        .mount(&server)
        .await;
    let mut body = webhook(USDT, ETH_WALLET, "confirmed");
    body["transfer"] = json!(format!("x/../{TRANSFER_ID}"));
    let err = client(&server)
        .verify_deposit(&notice(&body, None))
        .await
        .expect_err("refused");
    assert!(is_unverified(&err), "{err:?}");
}

#[tokio::test]
async fn a_transient_read_back_failure_is_retried_then_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfer_path(USDT, ETH_WALLET)))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server)
        .verify_deposit(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
        .await
        .expect_err("unavailable");
    // Not a refusal: BitGo redelivers, or we try again.
    assert!(matches!(&err, ProviderError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_correctly_signed_webhook_is_verified() {
    let server = MockServer::start().await;
    read_back(
        &server,
        receive(USDT, ETH_WALLET, "confirmed", eth_entries()),
        2,
    )
    .await;
    let body = webhook(USDT, ETH_WALLET, "confirmed");
    let payload = serde_json::to_vec(&body).expect("json");
    let bitgo = signed_client(&server);
    for signature in [
        sign(SECRET, &payload),
        sign(SECRET, &payload).to_uppercase(),
    ] {
        let verified = bitgo
            .verify_deposit(&DepositNotice {
                provider: "bitgo".into(),
                payload: payload.clone(),
                signature: Some(signature),
            })
            .await
            .expect("verified");
        assert_eq!(verified.provider_ref, TRANSFER_ID);
        assert_eq!(verified.status, TransactionStatus::Completed);
    }
}

#[tokio::test]
async fn a_bad_signature_is_refused_without_reading_back() {
    let body = webhook(USDT, ETH_WALLET, "confirmed");
    let payload = serde_json::to_vec(&body).expect("json");
    let right = sign(SECRET, &payload);
    let mut tampered = body.clone();
    tampered["transfer"] = json!("0123456789abcdef0123456789abcdef");
    let cases: Vec<(&str, Vec<u8>, Option<String>)> = vec![
        ("missing", payload.clone(), None),
        (
            "wrong secret",
            payload.clone(),
            Some(sign("whsec-other", &payload)),
        ),
        ("not hex", payload.clone(), Some("not-a-signature".into())),
        ("empty", payload.clone(), Some(String::new())),
        ("truncated", payload.clone(), Some(right[..32].to_owned())),
        (
            "tampered body",
            serde_json::to_vec(&tampered).expect("json"),
            Some(right.clone()),
        ),
    ];
    for (what, payload, signature) in cases {
        let server = MockServer::start().await;
        no_http(&server).await;
        let err = signed_client(&server)
            .verify_deposit(&DepositNotice {
                provider: "bitgo".into(),
                payload,
                signature,
            })
            .await
            .expect_err(what);
        assert!(
            matches!(&err, ProviderError::Unverified(m) if m.contains("X-Signature-SHA256")),
            "{what}: {err:?}"
        );
    }
}

#[tokio::test]
async fn without_a_secret_the_signature_is_ignored() {
    let server = MockServer::start().await;
    read_back(
        &server,
        receive(USDT, ETH_WALLET, "confirmed", eth_entries()),
        2,
    )
    .await;
    let body = webhook(USDT, ETH_WALLET, "confirmed");
    for signature in [None, Some("not-a-signature".to_owned())] {
        let verified = client(&server)
            .verify_deposit(&notice(&body, signature))
            .await
            .expect("verified");
        assert_eq!(verified.provider_ref, TRANSFER_ID);
    }
}

const SOL_OURS: &str = "3sK3AAx8DVDdFVqjFTiDc99gHSTTutXmepsC4j45YFzA";
const SOL_SENDER: &str = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU";
const SOL_TX: &str =
    "5VERv8NMvzbJMEkV8xnrLkEaWRtSz9CosKDYjCJjBRnbJLgp8uirBgmQpjKhoR4tjF3ZpRzrFmBV6UjKdiSZkQUW";

#[tokio::test]
async fn usdc_on_solana_is_read_back_on_the_sol_wallet() {
    let server = MockServer::start().await;
    let mut transfer = receive(
        "tsol:usdcv2",
        SOL_WALLET,
        "confirmed",
        json!([
            {"address": SOL_SENDER, "valueString": "-2500000", "token": "tsol:usdcv2"},
            {"address": SOL_OURS, "wallet": SOL_WALLET, "valueString": "2500000", "token": "tsol:usdcv2"}
        ]),
    );
    transfer["txid"] = json!(SOL_TX);
    Mock::given(method("GET"))
        .and(path(transfer_path("tsol:usdcv2", SOL_WALLET)))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer))
        .expect(1)
        .mount(&server)
        .await;
    let verified = client(&server)
        .verify_deposit(&notice(
            &webhook("tsol:usdcv2", SOL_WALLET, "confirmed"),
            None,
        ))
        .await
        .expect("verified");
    assert_eq!(
        verified.asset,
        AssetId::parse("USDC_SOLANA").expect("asset")
    );
    assert_eq!(verified.address.as_str(), SOL_OURS);
    assert_eq!(verified.address.network(), Network::Solana);
    assert_eq!(verified.amount, Amount::from_base_units(2_500_000));
    assert_eq!(verified.tx_hash.as_deref(), Some(SOL_TX));
    assert_eq!(verified.status, TransactionStatus::Completed);
}

#[tokio::test]
async fn a_solana_coin_on_the_eth_wallet_is_refused_without_reading_back() {
    let server = MockServer::start().await;
    no_http(&server).await;
    let err = client(&server)
        .verify_deposit(&notice(
            &webhook("tsol:usdcv2", ETH_WALLET, "confirmed"),
            None,
        ))
        .await
        .expect_err("refused");
    assert!(is_unverified(&err), "{err:?}");
}

#[tokio::test]
async fn an_spl_deposit_is_credited_to_the_token_accounts_owner() {
    // SPL tokens land in an associated token account; the address we minted is its owner.
    const TOKEN_ACCOUNT: &str = "9cgpBeNZ2HnLda7NWaaU1i3NyTstk2c4zCMUcoAGsi9C";
    let server = MockServer::start().await;
    let transfer = receive(
        "tsol:usdcv2",
        SOL_WALLET,
        "confirmed",
        json!([
            {"address": SOL_SENDER, "valueString": "-700000"},
            {"address": TOKEN_ACCOUNT, "associatedNativeCoinAddress": SOL_OURS,
             "wallet": SOL_WALLET, "valueString": "700000"}
        ]),
    );
    Mock::given(method("GET"))
        .and(path(transfer_path("tsol:usdcv2", SOL_WALLET)))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer))
        .expect(1)
        .mount(&server)
        .await;
    let verified = client(&server)
        .verify_deposit(&notice(
            &webhook("tsol:usdcv2", SOL_WALLET, "confirmed"),
            None,
        ))
        .await
        .expect("verified");
    assert_eq!(verified.address.as_str(), SOL_OURS);
    assert_eq!(verified.amount, Amount::from_base_units(700_000));
}

#[tokio::test]
async fn deposit_status_reads_the_transfer_back_by_its_id() {
    // Still confirming: reported Confirming, as the webhook path reports it.
    let server = MockServer::start().await;
    read_back(
        &server,
        receive(USDT, ETH_WALLET, "unconfirmed", eth_entries()),
        1,
    )
    .await;
    let open = client(&server)
        .deposit_status(TRANSFER_ID, usdt())
        .await
        .expect("read back");
    assert_eq!(open.provider_ref, TRANSFER_ID);
    assert_eq!(open.status, TransactionStatus::Confirming);
    assert_eq!(open.asset, usdt());
    assert_eq!(open.amount, Amount::from_base_units(2_500_000));
    assert_eq!(
        open.address,
        ChainAddress::parse(Network::Ethereum, OURS_EIP55).expect("address")
    );

    let server = MockServer::start().await;
    read_back(
        &server,
        receive(USDT, ETH_WALLET, "confirmed", eth_entries()),
        1,
    )
    .await;
    let done = client(&server)
        .deposit_status(TRANSFER_ID, usdt())
        .await
        .expect("read back");
    assert_eq!(done.status, TransactionStatus::Completed);
    assert_eq!(done.tx_hash.as_deref(), Some(TXID));
}

#[tokio::test]
async fn deposit_status_of_an_unknown_transfer_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfer_path(USDT, ETH_WALLET)))
        .respond_with(ResponseTemplate::new(404).set_body_json(
            json!({"error": "transfer not found", "name": "NotFound", "requestId": "r1"}),
        ))
        .mount(&server)
        .await;
    let err = client(&server)
        .deposit_status(TRANSFER_ID, usdt())
        .await
        .expect_err("unknown");
    assert_eq!(err, ProviderError::NotFound);
}

#[tokio::test]
async fn deposit_status_never_puts_a_foreign_reference_in_a_url() {
    let server = MockServer::start().await;
    no_http(&server).await;
    for reference in [
        "../../wallet",
        "sbx_dep_01J0",
        "",
        "5B612D25C9067F2A1DB11A15F165989E",
    ] {
        let err = client(&server)
            .deposit_status(reference, usdt())
            .await
            .expect_err(reference);
        assert_eq!(err, ProviderError::NotFound, "{reference}");
    }
}

#[tokio::test]
async fn deposit_status_refuses_a_send_read_back_as_a_deposit() {
    let server = MockServer::start().await;
    let mut send = receive(USDT, ETH_WALLET, "confirmed", eth_entries());
    send["type"] = json!("send");
    read_back(&server, send, 1).await;
    let err = client(&server)
        .deposit_status(TRANSFER_ID, usdt())
        .await
        .expect_err("a send");
    assert!(is_unverified(&err), "{err:?}");
}

// --- issue 14: notifications that are not deposits -------------------------------------

fn our_send(sequence_id: Option<&str>) -> Value {
    let mut send = receive(
        USDT,
        ETH_WALLET,
        "unconfirmed",
        json!([
            {"address": OURS, "wallet": ETH_WALLET, "valueString": "-2500000"},
            {"address": ANOTHER, "valueString": "2500000"}
        ]),
    );
    send["type"] = json!("send");
    send["valueString"] = json!("-2500000");
    if let Some(id) = sequence_id {
        send["sequenceId"] = json!(id);
    }
    send
}

#[tokio::test]
async fn a_send_of_ours_is_news_of_that_withdrawal() {
    let id = "tx_01J9Z3K5V6W7X8Y9Z0A1B2C3D4";
    let server = MockServer::start().await;
    read_back(&server, our_send(Some(id)), 1).await;
    let got = client(&server)
        .verify_notification(&notice(&webhook(USDT, ETH_WALLET, "unconfirmed"), None))
        .await
        .expect("verified");
    assert_eq!(
        got,
        Notification::Withdrawal(TransactionId::parse(id).expect("id"))
    );
}

#[tokio::test]
async fn a_send_not_made_through_custody_is_acknowledged() {
    for sequence_id in [None, Some("someone-elses-id")] {
        let server = MockServer::start().await;
        read_back(&server, our_send(sequence_id), 1).await;
        let got = client(&server)
            .verify_notification(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
            .await
            .expect("verified");
        assert!(
            matches!(&got, Notification::Acknowledged(why) if why.contains("not made through custody")),
            "{got:?}"
        );
    }
}

#[tokio::test]
async fn other_webhook_types_and_untracked_coins_are_acknowledged_without_reading_back() {
    for (what, body) in [
        (
            "pending approval",
            json!({"type": "pendingapproval", "pendingApprovalId": TRANSFER_ID, "wallet": ETH_WALLET}),
        ),
        (
            "block",
            json!({"type": "block", "hash": TXID, "coin": "hteth"}),
        ),
        ("native coin", webhook("hteth", ETH_WALLET, "confirmed")),
        (
            "untracked token",
            webhook("hteth:tdai", ETH_WALLET, "confirmed"),
        ),
    ] {
        let server = MockServer::start().await;
        no_http(&server).await;
        let got = client(&server)
            .verify_notification(&notice(&body, None))
            .await
            .expect(what);
        assert!(
            matches!(got, Notification::Acknowledged(_)),
            "{what}: {got:?}"
        );
    }
}

#[tokio::test]
async fn a_receive_is_still_a_deposit_through_verify_notification() {
    let server = MockServer::start().await;
    read_back(
        &server,
        receive(USDT, ETH_WALLET, "confirmed", eth_entries()),
        1,
    )
    .await;
    let got = client(&server)
        .verify_notification(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
        .await
        .expect("verified");
    let Notification::Deposit(deposit) = got else {
        panic!("{got:?}")
    };
    assert_eq!(deposit.amount.base_units(), 2_500_000);
    assert_eq!(deposit.status, TransactionStatus::Completed);
}

#[tokio::test]
async fn a_badly_signed_non_deposit_is_still_refused() {
    let server = MockServer::start().await;
    no_http(&server).await;
    let body = json!({"type": "block", "hash": TXID, "coin": "hteth"});
    let err = signed_client(&server)
        .verify_notification(&notice(&body, Some(sign("wrong", b"x"))))
        .await
        .expect_err("bad signature");
    assert!(is_unverified(&err), "{err:?}");
}

// --- issue 14: reconciliation from the wallet's transfer list ---------------------------

#[tokio::test]
async fn recent_deposits_page_through_the_wallets_receives() {
    use wiremock::matchers::query_param;
    let server = MockServer::start().await;
    let list = format!("/api/v2/{USDT}/wallet/{ETH_WALLET}/transfer");
    let since = time::macros::datetime!(2026-11-20 00:00 UTC);
    let mut second = receive(USDT, ETH_WALLET, "unconfirmed", eth_entries());
    second["id"] = json!("6c723e36d0178f3b2ec22b26a276a9af");
    let mut zero = receive(
        USDT,
        ETH_WALLET,
        "confirmed",
        json!([
            {"address": OURS, "wallet": ETH_WALLET, "valueString": "0"}
        ]),
    );
    zero["id"] = json!("7d834f47e1289a4c3fd33c37b387bab0");
    zero["valueString"] = json!("0");
    Mock::given(method("GET"))
        .and(path(list.clone()))
        .and(bearer())
        .and(query_param("type", "receive"))
        .and(query_param("dateGte", "2026-11-20T00:00:00Z"))
        .and(query_param("prevId", "page-2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"coin": USDT, "transfers": [zero]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(list))
        .and(bearer())
        .and(query_param("type", "receive"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "coin": USDT, "nextBatchPrevId": "page-2",
            "transfers": [receive(USDT, ETH_WALLET, "confirmed", eth_entries()), second]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let items = client(&server)
        .recent_deposits(&[usdt()], since)
        .await
        .expect("listed");
    assert_eq!(items.len(), 3, "{items:?}");
    let deposit = |item: &Result<Notification, ProviderError>| match item {
        Ok(Notification::Deposit(d)) => d.clone(),
        other => panic!("not a deposit: {other:?}"),
    };
    let first = deposit(&items[0]);
    assert_eq!(first.provider_ref, TRANSFER_ID);
    assert_eq!(first.amount.base_units(), 2_500_000);
    assert_eq!(first.status, TransactionStatus::Completed);
    assert_eq!(deposit(&items[1]).status, TransactionStatus::Confirming);
    assert!(
        matches!(&items[2], Err(ProviderError::Malformed(_))),
        "{:?}",
        items[2]
    );
}

/// Issue 14: one receive paying two of our addresses is neither credited to one of them nor
/// refused as unverified: it is one suspense report for the whole transfer (total to our
/// addresses, the first of them, every output kept), from the webhook and from the list.
#[tokio::test]
async fn a_receive_paying_several_of_our_addresses_is_one_suspense_report() {
    let server = MockServer::start().await;
    let second = "0x1111111111111111111111111111111111111112";
    let entries = json!([
        {"address": "0x9999999999999999999999999999999999999999", "valueString": "-3500000"},
        {"address": OURS, "wallet": ETH_WALLET, "valueString": "2500000"},
        {"address": second, "wallet": ETH_WALLET, "valueString": "1000000"}
    ]);
    read_back(
        &server,
        receive(USDT, ETH_WALLET, "confirmed", entries.clone()),
        1,
    )
    .await;
    let got = client(&server)
        .verify_notification(&notice(&webhook(USDT, ETH_WALLET, "confirmed"), None))
        .await
        .expect("verified");
    let Notification::Unattributable(held) = got else {
        panic!("{got:?}")
    };
    assert_eq!(held.reason, "several_outputs");
    assert_eq!(held.deposit.provider_ref, TRANSFER_ID);
    assert_eq!(held.deposit.amount.base_units(), 3_500_000);
    assert_eq!(held.deposit.address.as_str(), OURS_EIP55);
    assert_eq!(held.deposit.status, TransactionStatus::Completed);
    let outputs = held.detail["outputs"].as_array().expect("outputs");
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert_eq!(outputs[1]["address"], second);
    assert_eq!(outputs[1]["amount"], "1000000");
}
