//! Withdrawals through BitGo against local stub servers speaking BitGo's documented wire
//! format (providers.md A5, A7, A9.5, A9.6): every send carries our transaction id as
//! `sequenceId`, goes out at most once, and any doubt is settled by reading the transfer back
//! by `sequenceId`, never by sending again.
// Test helpers fail the test by panicking.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use custody_bitgo::{BitgoClient, BitgoConfig, BitgoEnvironment, WithdrawalFlow};
use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::id::{TransactionId, WalletId};
use custody_core::ports::{CustodyProvider, ProviderError, ProviderTransfer, WithdrawalRequest};
use custody_core::retry::Backoff;
use custody_core::transaction::TransactionStatus;
use secrecy::SecretString;
use serde_json::{json, Value};
use ulid::Ulid;
use wiremock::matchers::{any, body_json, header, method, path, HeaderExactMatcher};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "v2x-test-access-token";
const ETH_WALLET: &str = "59cd72485007a239fb00282ed480da1f";
const SOL_WALLET: &str = "6a1b2c3d4e5f60718293a4b5c6d7e8f9";
/// BitGo's test-environment ticker for USDT on Ethereum (providers.md A8).
const USDT: &str = "hteth:tusdt";
/// The destination as a partner might type it (lower case), and its EIP-55 form.
const DESTINATION: &str = "0xfb6916095ca1df60bb79ce92ce3ea74c37c5d359";
const DESTINATION_EIP55: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
const TRANSFER_ID: &str = "5b612d25c9067f2a1db11a15f165989e";
const APPROVAL_ID: &str = "6c723e36d0178f3b2ec22b26a276a9af";
const TXID: &str = "0x3e00ae8e2b7e0d0e1b6f7d3c5a4b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b";
const AMOUNT: u128 = 1_500_000;
const PASSPHRASE: &str = "correct horse battery staple";

fn config(rest: &MockServer, flow: WithdrawalFlow, timeout: Duration) -> BitgoConfig {
    let mut config = BitgoConfig::new(BitgoEnvironment::Test, SecretString::from(TOKEN));
    config.base_url = rest.uri();
    config.wallets = BTreeMap::from([
        ("hteth".to_owned(), ETH_WALLET.to_owned()),
        ("tsol".to_owned(), SOL_WALLET.to_owned()),
    ]);
    config.timeout = timeout;
    config.withdrawals = flow;
    // Retries without waiting, so tests stay fast.
    config.backoff = Backoff {
        attempts: 3,
        base: Duration::ZERO,
        cap: Duration::from_secs(1),
    };
    config
}

fn client(rest: &MockServer, flow: WithdrawalFlow) -> BitgoClient {
    BitgoClient::new(config(rest, flow, Duration::from_secs(5))).expect("client")
}

fn custody(approvers: &[&str]) -> WithdrawalFlow {
    WithdrawalFlow::Custody {
        video_approvers: approvers.iter().map(|a| (*a).to_owned()).collect(),
    }
}

fn express(server: &MockServer) -> WithdrawalFlow {
    WithdrawalFlow::Express {
        // A trailing slash must not double the path's.
        url: format!("{}/", server.uri()),
        wallet_passphrase: SecretString::from(PASSPHRASE),
    }
}

fn txid() -> TransactionId {
    TransactionId::from_ulid(Ulid::from_parts(1, 9))
}

fn request(asset: &str) -> WithdrawalRequest {
    let asset = AssetId::parse(asset).expect("asset");
    WithdrawalRequest {
        transaction_id: txid(),
        wallet_id: WalletId::from_ulid(Ulid::from_parts(1, 3)),
        asset,
        amount: Amount::from_base_units(AMOUNT),
        destination: ChainAddress::parse(asset.network(), DESTINATION).expect("destination"),
        recorded_at: time::OffsetDateTime::UNIX_EPOCH,
        provider_ref: None,
    }
}

fn bearer() -> HeaderExactMatcher {
    header("authorization", format!("Bearer {TOKEN}").as_str())
}

fn by_sequence_id(coin: &str) -> String {
    format!(
        "/api/v2/{coin}/wallet/{ETH_WALLET}/transfer/sequenceId/{}",
        txid()
    )
}

fn initiate_path() -> String {
    format!("/api/v2/{USDT}/wallet/{ETH_WALLET}/tx/initiate")
}

fn sendcoins_path() -> String {
    format!("/api/v2/{USDT}/wallet/{ETH_WALLET}/sendcoins")
}

/// BitGo's platform error body (A5).
fn platform_error(status: u16, name: &str, error: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(
        json!({ "error": error, "name": name, "requestId": "cjo7uw7si0buzttlmazmvthay" }),
    )
}

fn not_found() -> ResponseTemplate {
    platform_error(404, "NotFound", "transfer not found")
}

/// The documented transfer shape (`AnnotatedTransferWithInputsOutputs`, A9.6) of our send.
/// `txid: None` leaves the field out (nothing broadcast yet).
fn transfer(state: &str, hash: Option<&str>) -> Value {
    let mut transfer = json!({
        "id": TRANSFER_ID, "coin": USDT, "wallet": ETH_WALLET, "enterprise": "5a8ff5a1f1b24d22b21a26c9",
        "height": 999_999_999, "date": "2026-08-01T12:00:00.000Z", "confirmations": 0,
        "type": "send", "value": -1_500_000, "valueString": "-1500000",
        "baseValueString": "-1500000", "feeString": "315000000000000", "feeCoin": "hteth",
        "usd": -1.5, "usdRate": 1.0, "state": state, "tags": [ETH_WALLET],
        "history": [{"date": "2026-08-01T12:00:00.000Z", "action": "created", "comment": null}],
        "comment": null, "coinSpecific": {}, "sequenceId": txid().to_string(),
        "entries": [
            {"address": "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed", "wallet": ETH_WALLET,
             "value": -1_500_000, "valueString": "-1500000", "token": USDT},
            {"address": DESTINATION, "value": 1_500_000, "valueString": "1500000", "token": USDT}
        ]
    });
    if let Some(hash) = hash {
        transfer["txid"] = json!(hash);
    }
    transfer
}

/// The documented `PendingApproval` shape (A9.5) a custody initiate answers with 202.
fn pending_approval(state: &str, approvers: &[&str]) -> Value {
    json!({
        "id": APPROVAL_ID, "coin": USDT, "wallet": ETH_WALLET, "walletType": "custodial",
        "enterprise": "5a8ff5a1f1b24d22b21a26c9", "organization": "5a8ff5a1f1b24d22b21a26ca",
        "creator": "5a8ff5a1f1b24d22b21a26cb", "createDate": "2026-08-01T12:00:00.000Z",
        "info": {"type": "transactionRequest", "transactionRequest": {
            "recipients": [{"address": DESTINATION_EIP55, "amount": "1500000"}],
            "requestedAmount": "1500000", "videoApprovers": approvers, "comment": null
        }},
        "state": state, "approvalsRequired": 1, "resolvers": []
    })
}

/// Mounts the first `sequenceId` read-back: nothing sent yet.
async fn nothing_sent_yet(rest: &MockServer) {
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .and(bearer())
        .respond_with(not_found())
        .up_to_n_times(1)
        .expect(1)
        .mount(rest)
        .await;
}

async fn methods_in_order(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .expect("requests are recorded")
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

async fn custody_initiate(approvers: &[&str], expected_body: Value) {
    let rest = MockServer::start().await;
    nothing_sent_yet(&rest).await;
    Mock::given(method("POST"))
        .and(path(initiate_path()))
        .and(bearer())
        .and(body_json(expected_body))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(pending_approval("pendingVideoApproval", approvers)),
        )
        .expect(1)
        .mount(&rest)
        .await;
    let sent = client(&rest, custody(approvers))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect("initiated");
    assert_eq!(
        sent,
        ProviderTransfer {
            provider_ref: APPROVAL_ID.to_owned(),
            status: TransactionStatus::PendingSignature,
            tx_hash: None,
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        }
    );
    // Looked up first, then sent once.
    assert_eq!(
        methods_in_order(&rest).await,
        vec![
            format!("GET {}", by_sequence_id(USDT)),
            format!("POST {}", initiate_path()),
        ]
    );
}

#[tokio::test]
async fn custody_wallets_initiate_a_pending_approval_with_video_approvers() {
    let approvers = ["5a8ff5a1f1b24d22b21a26cc", "5a8ff5a1f1b24d22b21a26cd"];
    custody_initiate(
        &approvers,
        json!({
            "recipients": [{ "address": DESTINATION_EIP55, "amount": "1500000" }],
            "sequenceId": txid().to_string(),
            "videoApprovers": approvers,
        }),
    )
    .await;
}

#[tokio::test]
async fn custody_initiate_omits_video_approvers_when_none_are_configured() {
    custody_initiate(
        &[],
        json!({
            "recipients": [{ "address": DESTINATION_EIP55, "amount": "1500000" }],
            "sequenceId": txid().to_string(),
        }),
    )
    .await;
}

#[tokio::test]
async fn express_sends_and_signs_in_one_call() {
    let rest = MockServer::start().await;
    let express_server = MockServer::start().await;
    nothing_sent_yet(&rest).await;
    // Sends never go to the REST base in the express flow.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(sendcoins_path()))
        .and(bearer())
        .and(body_json(json!({
            "address": DESTINATION_EIP55,
            "amount": "1500000",
            "walletPassphrase": PASSPHRASE,
            "sequenceId": txid().to_string(),
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "transfer": transfer("signed", Some(TXID)),
            "txid": TXID,
            "tx": "0xf86c808504a817c800825208943535353535353535353535353535353535353535880de0b6b3a76400008025a0",
            "status": "signed",
        })))
        .expect(1)
        .mount(&express_server)
        .await;
    // The sequenceId read goes to the REST base, not to Express.
    Mock::given(method("GET"))
        .respond_with(not_found())
        .expect(0)
        .mount(&express_server)
        .await;
    let sent = client(&rest, express(&express_server))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect("sent");
    assert_eq!(
        sent,
        ProviderTransfer {
            provider_ref: TRANSFER_ID.to_owned(),
            status: TransactionStatus::Broadcasting,
            tx_hash: Some(TXID.to_owned()),
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        }
    );
}

#[tokio::test]
async fn express_send_waiting_for_approval_is_pending_signature() {
    let rest = MockServer::start().await;
    let express_server = MockServer::start().await;
    nothing_sent_yet(&rest).await;
    Mock::given(method("POST"))
        .and(path(sendcoins_path()))
        .and(bearer())
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({
            "status": "pendingApproval",
            "pendingApproval": {
                "id": APPROVAL_ID, "coin": USDT, "wallet": ETH_WALLET, "state": "pending",
                "creator": "5a8ff5a1f1b24d22b21a26cb", "approvalsRequired": 1,
                "info": {"type": "transactionRequest"}
            }
        })))
        .expect(1)
        .mount(&express_server)
        .await;
    let sent = client(&rest, express(&express_server))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect("sent");
    assert_eq!(
        sent,
        ProviderTransfer {
            provider_ref: APPROVAL_ID.to_owned(),
            status: TransactionStatus::PendingSignature,
            tx_hash: None,
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        }
    );
}

#[tokio::test]
async fn express_refusal_in_its_own_error_shape_is_named_and_not_final() {
    let rest = MockServer::start().await;
    let express_server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(not_found())
        .expect(2)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(sendcoins_path()))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "message": "unable to decrypt user keychain", "name": "DecryptionError",
            "bitgoJsVersion": "50.0.0", "bitgoExpressVersion": "14.0.0"
        })))
        .expect(1)
        .mount(&express_server)
        .await;
    let err = client(&rest, express(&express_server))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect_err("refused");
    // Named, and never final: nothing under the sequence id is not proof nothing will be sent.
    assert!(
        matches!(&err, ProviderError::OutcomeUnknown(m) if m.contains("DecryptionError") && m.contains("decrypt user keychain")),
        "{err:?}"
    );
    assert!(!format!("{err:?}").contains("horse"), "no secret in errors");
}

#[tokio::test]
async fn a_transfer_found_by_sequence_id_is_reported_and_nothing_is_sent() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("unconfirmed", Some(TXID))))
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(pending_approval("pending", &[])))
        .expect(0)
        .mount(&rest)
        .await;
    let found = client(&rest, custody(&[]))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect("found");
    assert_eq!(
        found,
        ProviderTransfer {
            provider_ref: TRANSFER_ID.to_owned(),
            status: TransactionStatus::Confirming,
            tx_hash: Some(TXID.to_owned()),
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        }
    );
}

#[tokio::test]
async fn submitting_twice_sends_once() {
    let rest = MockServer::start().await;
    nothing_sent_yet(&rest).await;
    // After the first send BitGo knows the sequence id.
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("pendingApproval", None)))
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(initiate_path()))
        .respond_with(
            ResponseTemplate::new(202).set_body_json(pending_approval("pendingVideoApproval", &[])),
        )
        .expect(1)
        .mount(&rest)
        .await;
    let bitgo = client(&rest, custody(&[]));
    let first = bitgo
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect("first");
    let second = bitgo
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect("second");
    assert_eq!(first.provider_ref, APPROVAL_ID);
    assert_eq!(second.provider_ref, TRANSFER_ID);
    assert_eq!(first.status, TransactionStatus::PendingSignature);
    assert_eq!(second.status, TransactionStatus::PendingSignature);
}

#[tokio::test]
async fn a_send_that_times_out_is_read_back_not_resent() {
    let rest = MockServer::start().await;
    let express_server = MockServer::start().await;
    nothing_sent_yet(&rest).await;
    // The send went through at BitGo, but its answer came too late.
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("signed", Some(TXID))))
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(sendcoins_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"transfer": transfer("signed", Some(TXID)), "txid": TXID, "status": "signed"}))
                .set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&express_server)
        .await;
    let bitgo = BitgoClient::new(config(
        &rest,
        express(&express_server),
        Duration::from_millis(500),
    ))
    .expect("client");
    let found = bitgo
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect("read back");
    assert_eq!(
        found,
        ProviderTransfer {
            provider_ref: TRANSFER_ID.to_owned(),
            status: TransactionStatus::Broadcasting,
            tx_hash: Some(TXID.to_owned()),
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        }
    );
}

#[tokio::test]
async fn a_send_that_times_out_and_is_not_found_has_an_unknown_outcome() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(not_found())
        .expect(2)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(initiate_path()))
        .respond_with(
            ResponseTemplate::new(202)
                .set_body_json(pending_approval("pending", &[]))
                .set_delay(Duration::from_secs(2)),
        )
        .expect(1)
        .mount(&rest)
        .await;
    let bitgo =
        BitgoClient::new(config(&rest, custody(&[]), Duration::from_millis(500))).expect("client");
    let err = bitgo
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect_err("unknown outcome");
    assert!(
        matches!(&err, ProviderError::OutcomeUnknown(m) if m.contains("timed out")),
        "{err:?}"
    );
    // Never retried blindly: the core flags it and waits for a lookup or an operator.
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_duplicate_sequence_id_refusal_reports_the_first_send() {
    let rest = MockServer::start().await;
    nothing_sent_yet(&rest).await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("confirmed", Some(TXID))))
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(initiate_path()))
        .respond_with(platform_error(
            400,
            "DuplicateSequenceIdError",
            "duplicate sequenceId",
        ))
        .expect(1)
        .mount(&rest)
        .await;
    let found = client(&rest, custody(&[]))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect("read back");
    assert_eq!(
        found,
        ProviderTransfer {
            provider_ref: TRANSFER_ID.to_owned(),
            status: TransactionStatus::Completed,
            tx_hash: Some(TXID.to_owned()),
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        }
    );
}

#[tokio::test]
async fn a_refusal_with_nothing_found_is_named_and_never_final() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(not_found())
        .expect(2)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(initiate_path()))
        .respond_with(platform_error(
            400,
            "InsufficientBalance",
            "insufficient balance",
        ))
        .expect(1)
        .mount(&rest)
        .await;
    let err = client(&rest, custody(&[]))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect_err("refused");
    // A refusal may be BitGo refusing a sequence id whose pending approval the lookup cannot
    // see: the funds stay held, nothing is resent, and lookups or an operator settle it.
    assert!(
        matches!(&err, ProviderError::OutcomeUnknown(m) if m.contains("InsufficientBalance") && m.contains("no transfer for sequenceId")),
        "{err:?}"
    );
    // Never retried blindly: the core flags it and waits for a lookup or an operator.
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_refusal_whose_read_back_fails_is_not_final() {
    let rest = MockServer::start().await;
    nothing_sent_yet(&rest).await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(platform_error(400, "InvalidWalletId", "invalid wallet id"))
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(initiate_path()))
        .respond_with(platform_error(
            400,
            "DuplicateSequenceIdError",
            "duplicate sequenceId",
        ))
        .expect(1)
        .mount(&rest)
        .await;
    let err = client(&rest, custody(&[]))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect_err("unknown outcome");
    assert!(
        matches!(&err, ProviderError::OutcomeUnknown(m) if m.contains("DuplicateSequenceIdError")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_server_error_on_send_with_nothing_found_has_an_unknown_outcome() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(not_found())
        .expect(2)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .and(path(initiate_path()))
        .respond_with(platform_error(500, "InternalError", "internal error"))
        // Sends are never retried, even on a 5xx.
        .expect(1)
        .mount(&rest)
        .await;
    let err = client(&rest, custody(&[]))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect_err("unavailable");
    assert!(matches!(&err, ProviderError::OutcomeUnknown(_)), "{err:?}");
    // Never retried blindly: the core flags it and waits for a lookup or an operator.
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_failing_lookup_before_sending_sends_nothing() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(ResponseTemplate::new(503))
        .expect(3)
        .mount(&rest)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202).set_body_json(pending_approval("pending", &[])))
        .expect(0)
        .mount(&rest)
        .await;
    let err = client(&rest, custody(&[]))
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect_err("unavailable");
    assert!(matches!(&err, ProviderError::Unavailable(_)), "{err:?}");
}

async fn assert_no_http(server: &MockServer) {
    let received = server
        .received_requests()
        .await
        .expect("requests are recorded");
    assert!(received.is_empty(), "{received:?}");
}

#[tokio::test]
async fn disabled_withdrawals_are_rejected_without_calling_bitgo() {
    let rest = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&rest)
        .await;
    let err = client(&rest, WithdrawalFlow::Disabled)
        .submit_withdrawal(&request("USDT_ETHEREUM"))
        .await
        .expect_err("disabled");
    assert!(
        matches!(&err, ProviderError::Rejected(m) if m.contains("not enabled")),
        "{err:?}"
    );
    assert_no_http(&rest).await;
}

#[tokio::test]
async fn unserved_assets_are_rejected_without_calling_bitgo() {
    for (code, why) in [
        ("USDC_BASE", "does not serve"),
        ("XAUT_ETHEREUM", "no faithful coin"),
    ] {
        let rest = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount(&rest)
            .await;
        let bitgo = client(&rest, custody(&[]));
        let err = bitgo
            .submit_withdrawal(&request(code))
            .await
            .expect_err(code);
        assert!(
            matches!(&err, ProviderError::Rejected(m) if m.contains(why)),
            "{code}: {err:?}"
        );
        let err = bitgo
            .withdrawal_status(&request(code))
            .await
            .expect_err(code);
        assert!(
            matches!(&err, ProviderError::Rejected(m) if m.contains(why)),
            "{code}: {err:?}"
        );
        assert_no_http(&rest).await;
    }
}

#[tokio::test]
async fn withdrawal_status_maps_every_documented_transfer_state() {
    use TransactionStatus::{Broadcasting, Completed, Confirming, Failed, PendingSignature};
    let cases = [
        ("initialized", None, PendingSignature),
        ("pendingApproval", Some(""), PendingSignature),
        ("signed", Some(TXID), Broadcasting),
        ("unconfirmed", Some(TXID), Confirming),
        ("confirmed", Some(TXID), Completed),
        ("failed", Some(TXID), Failed),
        ("rejected", Some(""), Failed),
        ("removed", Some(TXID), Failed),
    ];
    for (state, hash, status) in cases {
        let rest = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(by_sequence_id(USDT)))
            .and(bearer())
            .respond_with(ResponseTemplate::new(200).set_body_json(transfer(state, hash)))
            .expect(1)
            .mount(&rest)
            .await;
        let read = client(&rest, WithdrawalFlow::Disabled)
            .withdrawal_status(&request("USDT_ETHEREUM"))
            .await
            .unwrap_or_else(|e| panic!("{state}: {e:?}"));
        assert_eq!(read.provider_ref, TRANSFER_ID, "{state}");
        assert_eq!(read.status, status, "{state}");
        // An empty txid is no hash.
        let expected_hash = hash.filter(|h| !h.is_empty()).map(str::to_owned);
        assert_eq!(read.tx_hash, expected_hash, "{state}");
        assert_eq!(
            read.failure_reason.is_some(),
            status == Failed,
            "{state}: {:?}",
            read.failure_reason
        );
    }
}

#[tokio::test]
async fn an_undocumented_transfer_state_is_never_acted_on() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("teleported", Some(TXID))))
        .expect(1)
        .mount(&rest)
        .await;
    let err = client(&rest, custody(&[]))
        .withdrawal_status(&request("USDT_ETHEREUM"))
        .await
        .expect_err("undocumented");
    assert!(
        matches!(&err, ProviderError::Unavailable(m) if m.contains("teleported")),
        "{err:?}"
    );
}

#[tokio::test]
async fn withdrawal_status_of_an_unknown_sequence_id_is_not_found() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .and(bearer())
        .respond_with(not_found())
        .expect(1)
        .mount(&rest)
        .await;
    let err = client(&rest, custody(&[]))
        .withdrawal_status(&request("USDT_ETHEREUM"))
        .await
        .expect_err("not found");
    assert_eq!(err, ProviderError::NotFound);
}

#[tokio::test]
async fn withdrawal_status_uses_the_token_coin_of_the_asset() {
    let rest = MockServer::start().await;
    let mut usdc = transfer("signed", Some(TXID));
    usdc["coin"] = json!("hteth:tusdc");
    Mock::given(method("GET"))
        .and(path(by_sequence_id("hteth:tusdc")))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(usdc))
        .expect(1)
        .mount(&rest)
        .await;
    let read = client(&rest, custody(&[]))
        .withdrawal_status(&request("USDC_ETHEREUM"))
        .await
        .expect("read");
    assert_eq!(read.status, TransactionStatus::Broadcasting);
}

fn transfer_by_id_path() -> String {
    format!("/api/v2/{USDT}/wallet/{ETH_WALLET}/transfer/{TRANSFER_ID}")
}

#[tokio::test]
async fn get_transfer_reads_by_id() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfer_by_id_path()))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("confirmed", Some(TXID))))
        .expect(1)
        .mount(&rest)
        .await;
    let read = client(&rest, WithdrawalFlow::Disabled)
        .get_transfer(USDT, ETH_WALLET, TRANSFER_ID)
        .await
        .expect("read");
    assert_eq!(read.id, TRANSFER_ID);
    assert_eq!(read.kind, "send");
    assert_eq!(read.state, "confirmed");
    assert_eq!(read.txid.as_deref(), Some(TXID));
    assert_eq!(read.value_string.as_deref(), Some("-1500000"));
    assert_eq!(read.sequence_id, Some(txid().to_string()));
    assert_eq!(read.entries.len(), 2);
    assert_eq!(read.entries[0].wallet.as_deref(), Some(ETH_WALLET));
}

#[tokio::test]
async fn get_transfer_by_sequence_id_reads_by_our_id() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("signed", Some(TXID))))
        .expect(1)
        .mount(&rest)
        .await;
    let read = client(&rest, WithdrawalFlow::Disabled)
        .get_transfer_by_sequence_id(USDT, ETH_WALLET, &txid().to_string())
        .await
        .expect("read");
    assert_eq!(read.id, TRANSFER_ID);
    assert_eq!(read.state, "signed");
}

#[tokio::test]
async fn an_invalid_transfer_id_is_rejected_and_not_retried() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!(
            "/api/v2/{USDT}/wallet/{ETH_WALLET}/transfer/nope"
        )))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid transfer id", "name": "InvalidTransferId",
            "requestId": "cjo7uw7si0buzttlmazmvthay", "context": {"id": "nope"}
        })))
        .expect(1)
        .mount(&rest)
        .await;
    let err = client(&rest, WithdrawalFlow::Disabled)
        .get_transfer(USDT, ETH_WALLET, "nope")
        .await
        .expect_err("invalid");
    assert!(
        matches!(&err, ProviderError::Rejected(m) if m.contains("InvalidTransferId")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_rate_limited_read_is_retried_after_the_asked_wait() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfer_by_id_path()))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("GET"))
        .and(path(transfer_by_id_path()))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("unconfirmed", Some(TXID))))
        .expect(1)
        .mount(&rest)
        .await;
    let read = client(&rest, WithdrawalFlow::Disabled)
        .get_transfer(USDT, ETH_WALLET, TRANSFER_ID)
        .await
        .expect("retried");
    assert_eq!(read.state, "unconfirmed");
}

#[tokio::test]
async fn a_read_gives_up_after_the_configured_attempts() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(transfer_by_id_path()))
        .respond_with(ResponseTemplate::new(503).set_body_string("upstream down"))
        .expect(3)
        .mount(&rest)
        .await;
    let err = client(&rest, WithdrawalFlow::Disabled)
        .get_transfer(USDT, ETH_WALLET, TRANSFER_ID)
        .await
        .expect_err("unavailable");
    assert!(matches!(&err, ProviderError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn get_pending_approval_reads_the_coinless_route() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/pendingapprovals/{APPROVAL_ID}")))
        .and(bearer())
        .respond_with(
            ResponseTemplate::new(200).set_body_json(pending_approval("approved", &["u1"])),
        )
        .expect(1)
        .mount(&rest)
        .await;
    let approval = client(&rest, WithdrawalFlow::Disabled)
        .get_pending_approval(APPROVAL_ID)
        .await
        .expect("read");
    assert_eq!(approval.id, APPROVAL_ID);
    assert_eq!(approval.state, "approved");
}

// --- status polling of the custody flow: by sequence id, then by pending-approval id ----

fn approval_path() -> String {
    format!("/api/v2/pendingapprovals/{APPROVAL_ID}")
}

fn handed_over_request() -> WithdrawalRequest {
    WithdrawalRequest {
        provider_ref: Some(APPROVAL_ID.to_owned()),
        ..request("USDT_ETHEREUM")
    }
}

#[tokio::test]
async fn a_rejected_approval_with_no_transfer_is_seen_as_failed() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .and(bearer())
        .respond_with(not_found())
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("GET"))
        .and(path(approval_path()))
        .and(bearer())
        .respond_with(ResponseTemplate::new(200).set_body_json(pending_approval("rejected", &[])))
        .expect(1)
        .mount(&rest)
        .await;
    let read = client(&rest, custody(&[]))
        .withdrawal_status(&handed_over_request())
        .await
        .expect("read");
    assert_eq!(read.status, TransactionStatus::Failed);
    assert_eq!(read.provider_ref, APPROVAL_ID);
    assert!(read
        .failure_reason
        .as_deref()
        .is_some_and(|r| r.contains("rejected")));
    // A rejected approval never produced a transaction: the hold may be released.
    assert!(!read.outcome_ambiguous);
}

#[tokio::test]
async fn a_pending_transfer_is_checked_against_its_approval() {
    // The transfer exists (pendingApproval) but its approval was rejected: the approval wins.
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("pendingApproval", None)))
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("GET"))
        .and(path(approval_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(pending_approval("rejected", &[])))
        .expect(1)
        .mount(&rest)
        .await;
    let read = client(&rest, custody(&[]))
        .withdrawal_status(&handed_over_request())
        .await
        .expect("read");
    assert_eq!(read.status, TransactionStatus::Failed);
}

#[tokio::test]
async fn an_approval_still_pending_leaves_the_withdrawal_pending() {
    for state in [
        "pendingVideoApproval",
        "awaitingSignature",
        "pendingFinalApproval",
    ] {
        let rest = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(by_sequence_id(USDT)))
            .respond_with(not_found())
            .expect(1)
            .mount(&rest)
            .await;
        Mock::given(method("GET"))
            .and(path(approval_path()))
            .respond_with(ResponseTemplate::new(200).set_body_json(pending_approval(state, &[])))
            .expect(1)
            .mount(&rest)
            .await;
        let read = client(&rest, custody(&[]))
            .withdrawal_status(&handed_over_request())
            .await
            .expect(state);
        assert_eq!(read.status, TransactionStatus::PendingSignature, "{state}");
    }
}

#[tokio::test]
async fn an_undocumented_approval_state_is_never_acted_on() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(not_found())
        .mount(&rest)
        .await;
    Mock::given(method("GET"))
        .and(path(approval_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(pending_approval("vanished", &[])))
        .mount(&rest)
        .await;
    let err = client(&rest, custody(&[]))
        .withdrawal_status(&handed_over_request())
        .await
        .expect_err("undocumented");
    assert!(
        matches!(&err, ProviderError::Unavailable(m) if m.contains("vanished")),
        "{err:?}"
    );
}

#[tokio::test]
async fn once_the_transfer_moves_the_approval_is_not_asked() {
    let rest = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(by_sequence_id(USDT)))
        .respond_with(ResponseTemplate::new(200).set_body_json(transfer("signed", Some(TXID))))
        .expect(1)
        .mount(&rest)
        .await;
    Mock::given(method("GET"))
        .and(path(approval_path()))
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&rest)
        .await;
    let read = client(&rest, custody(&[]))
        .withdrawal_status(&handed_over_request())
        .await
        .expect("read");
    assert_eq!(read.status, TransactionStatus::Broadcasting);
    assert_eq!(read.provider_ref, TRANSFER_ID);
}

#[tokio::test]
async fn only_a_removed_transfer_is_an_ambiguous_failure() {
    for (state, ambiguous) in [("removed", true), ("failed", false), ("rejected", false)] {
        let rest = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(by_sequence_id(USDT)))
            .respond_with(ResponseTemplate::new(200).set_body_json(transfer(state, Some(TXID))))
            .mount(&rest)
            .await;
        let read = client(&rest, custody(&[]))
            .withdrawal_status(&request("USDT_ETHEREUM"))
            .await
            .expect(state);
        assert_eq!(read.status, TransactionStatus::Failed, "{state}");
        assert_eq!(read.outcome_ambiguous, ambiguous, "{state}");
    }
}

#[tokio::test]
async fn whether_an_asset_can_be_withdrawn_is_known_without_calling_bitgo() {
    let rest = MockServer::start().await;
    let usdt = AssetId::parse("USDT_ETHEREUM").expect("asset");
    let disabled = client(&rest, WithdrawalFlow::Disabled).can_withdraw(usdt);
    assert!(
        matches!(&disabled, Err(ProviderError::Rejected(m)) if m.contains("disabled")),
        "{disabled:?}"
    );
    assert_eq!(client(&rest, custody(&[])).can_withdraw(usdt), Ok(()));
    assert_eq!(client(&rest, express(&rest)).can_withdraw(usdt), Ok(()));
    let unserved =
        client(&rest, custody(&[])).can_withdraw(AssetId::parse("XAUT_ETHEREUM").expect("asset"));
    assert!(matches!(unserved, Err(ProviderError::Rejected(_))));
    assert_no_http(&rest).await;
}
