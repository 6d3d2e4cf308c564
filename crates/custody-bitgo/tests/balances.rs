//! Provider balances for `custody admin reconcile` (issue 14) against a stub speaking BitGo's
//! documented wallet shape (providers.md A9.4): the exact request, the token's balance string,
//! what is not a balance, and the reconciliation verdicts over it (a mismatch is drift; a
//! withdrawal in flight explains a lower balance).
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use custody_bitgo::{BitgoClient, BitgoConfig, BitgoEnvironment};
use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::id::{TenantId, WalletId};
use custody_core::ports::{
    CustodyProvider, InFlightItem, LedgerSnapshot, LedgerSum, ProviderError, ReconcileStore,
    StoreError, WalletSums,
};
use custody_core::retry::Backoff;
use custody_core::services::{ProviderOutcome, ReconcileService, Verdict};
use custody_core::transaction::TransactionStatus;
use custody_core::wallet::{Balances, Bucket};
use secrecy::SecretString;
use serde_json::json;
use ulid::Ulid;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const TOKEN: &str = "v2x-test-access-token";
const ETH_WALLET: &str = "59cd72485007a239fb00282ed480da1f";
const SOL_WALLET: &str = "6a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn client(server: &MockServer) -> BitgoClient {
    let mut config = BitgoConfig::new(BitgoEnvironment::Test, SecretString::from(TOKEN));
    config.base_url = server.uri();
    config.wallets = BTreeMap::from([
        ("hteth".to_owned(), ETH_WALLET.to_owned()),
        ("tsol".to_owned(), SOL_WALLET.to_owned()),
    ]);
    config.timeout = Duration::from_secs(5);
    config.backoff = Backoff {
        attempts: 2,
        base: Duration::ZERO,
        cap: Duration::from_secs(1),
    };
    BitgoClient::new(config).expect("client")
}

fn usdt() -> AssetId {
    AssetId::parse("USDT_ETHEREUM").expect("asset")
}

/// The documented wallet shape with `allTokens=true`: balances are base-unit strings.
fn eth_wallet(tusdt: &str) -> serde_json::Value {
    json!({
        "id": ETH_WALLET, "coin": "hteth", "label": "custody", "allowBackupKeySigning": false,
        "approvalsRequired": 1, "coinSpecific": {"baseAddress": "0x0000000000000000000000000000000000000001"},
        "deleted": false, "disableTransactionNotifications": false,
        "hasLargeNumberOfAddresses": false, "isCold": false, "startDate": "2026-08-01T00:00:00.000Z",
        "balanceString": "50000000000000000", "confirmedBalanceString": "50000000000000000",
        "spendableBalanceString": "50000000000000000",
        "tokens": {
            "hteth:tusdt": {"balanceString": tusdt, "confirmedBalanceString": tusdt,
                "spendableBalanceString": tusdt, "transferCount": 3},
            "hteth:tusdc": {"balanceString": "5", "confirmedBalanceString": "5",
                "spendableBalanceString": "5", "transferCount": 1}
        }
    })
}

async fn serve_wallet(server: &MockServer, body: serde_json::Value) {
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}")))
        .and(query_param("allTokens", "true"))
        .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(server)
        .await;
}

#[tokio::test]
async fn reads_the_tokens_balance_string_of_the_configured_parent_wallet() {
    let server = MockServer::start().await;
    serve_wallet(&server, eth_wallet("123456789012345678901234567")).await;
    let balance = client(&server)
        .custody_balance(usdt())
        .await
        .expect("balance");
    assert_eq!(balance.asset, usdt());
    assert_eq!(
        balance.balance,
        Amount::from_base_units(123_456_789_012_345_678_901_234_567),
        "exact beyond 64 bits"
    );
    assert!(balance.source.contains(ETH_WALLET), "{}", balance.source);
    assert!(balance.source.contains("hteth:tusdt"), "{}", balance.source);
}

#[tokio::test]
async fn what_is_not_a_balance_is_unavailable_not_zero() {
    for body in [
        // The token is not listed.
        {
            let mut w = eth_wallet("1");
            w["tokens"] = json!({});
            w
        },
        // Not a base-unit integer.
        eth_wallet("12.5"),
        // Another wallet answered.
        {
            let mut w = eth_wallet("1");
            w["id"] = json!("00000000000000000000000000000000");
            w
        },
    ] {
        let server = MockServer::start().await;
        serve_wallet(&server, body.clone()).await;
        let refused = client(&server).custody_balance(usdt()).await;
        assert!(
            matches!(refused, Err(ProviderError::Unavailable(_))),
            "{body}: {refused:?}"
        );
    }
}

/// A fixed snapshot: one USDT wallet with 1,000,000 available and `held` held.
struct Books {
    held: u128,
    handed_over: Vec<InFlightItem>,
}

#[async_trait]
impl ReconcileStore for Books {
    async fn ledger_snapshot(
        &self,
        _tenant: Option<TenantId>,
    ) -> Result<LedgerSnapshot, StoreError> {
        let mut ledger = vec![LedgerSum {
            asset: usdt(),
            bucket: Bucket::Available,
            sum: 1_000_000,
        }];
        if self.held > 0 {
            ledger.push(LedgerSum {
                asset: usdt(),
                bucket: Bucket::Held,
                sum: i128::try_from(self.held).expect("fits"),
            });
        }
        Ok(LedgerSnapshot {
            wallets: vec![WalletSums {
                wallet_id: WalletId::from_ulid(Ulid::from_parts(1, 3)),
                tenant_id: TenantId::from_ulid(Ulid::from_parts(1, 1)),
                asset: usdt(),
                balances: Balances {
                    available: Amount::from_base_units(1_000_000),
                    pending: Amount::ZERO,
                    held: Amount::from_base_units(self.held),
                },
                ledger,
            }],
            // The tenant's maintained total agrees with its wallet.
            totals: vec![custody_core::ports::AssetTotal {
                tenant_id: TenantId::from_ulid(Ulid::from_parts(1, 1)),
                asset: usdt(),
                total: custody_core::totals::SignedAmount::new(false, 1_000_000),
            }],
            handed_over: self.handed_over.clone(),
            ..LedgerSnapshot::default()
        })
    }

    async fn rebuild_totals(
        &self,
        _tenant: Option<TenantId>,
    ) -> Result<Vec<custody_core::ports::TotalRebuilt>, StoreError> {
        Ok(Vec::new())
    }
}

async fn reconcile(server: &MockServer, books: Books) -> custody_core::services::ReconcileReport {
    ReconcileService::new(Arc::new(books))
        .with_provider(Arc::new(client(server)), Some(vec![usdt()]))
        .run(None)
        .await
        .expect("runs")
}

#[tokio::test]
async fn a_provider_balance_that_disagrees_with_the_ledger_is_drift() {
    let server = MockServer::start().await;
    serve_wallet(&server, eth_wallet("999000")).await;
    let report = reconcile(
        &server,
        Books {
            held: 0,
            handed_over: Vec::new(),
        },
    )
    .await;
    let check = &report.provider[0];
    assert_eq!(check.outcome, ProviderOutcome::Drift);
    assert_eq!(check.ledger_total, 1_000_000);
    assert_eq!(check.difference(), Some(-1_000));
    assert_eq!(report.verdict(), Verdict::Drift);
    assert_eq!(report.verdict().exit_code(), 2);
}

#[tokio::test]
async fn a_withdrawal_in_flight_explains_the_difference() {
    let server = MockServer::start().await;
    // 1,000 is held for a withdrawal BitGo has already broadcast: gone from its wallet.
    serve_wallet(&server, eth_wallet("1000000")).await;
    let report = reconcile(
        &server,
        Books {
            held: 1_000,
            handed_over: vec![InFlightItem {
                reference: "tx_01J00000000000000000000000".into(),
                asset: usdt(),
                amount: Amount::from_base_units(1_000),
                status: TransactionStatus::Broadcasting,
            }],
        },
    )
    .await;
    let check = &report.provider[0];
    assert_eq!(check.ledger_total, 1_001_000);
    assert_eq!(check.difference(), Some(-1_000));
    assert_eq!(check.outcome, ProviderOutcome::Explained);
    assert_eq!(report.verdict(), Verdict::Clean);
}

#[tokio::test]
async fn bitgo_down_makes_the_run_incomplete_not_clean() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/v2/hteth/wallet/{ETH_WALLET}")))
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let report = reconcile(
        &server,
        Books {
            held: 0,
            handed_over: Vec::new(),
        },
    )
    .await;
    assert!(matches!(
        report.provider[0].outcome,
        ProviderOutcome::Failed(ProviderError::Unavailable(_))
    ));
    assert_eq!(report.verdict(), Verdict::Incomplete);
}
