use std::sync::Arc;

use super::*;
use crate::amount::Amount;
use crate::ports::{
    AssetTotal, InFlightItem, LedgerSum, MockCustodyProvider, MockReconcileStore, WalletSums,
};
use crate::services::test_support::*;
use crate::transaction::{TransactionKind, TransactionStatus};
use crate::wallet::Balances;

fn units(n: u128) -> Amount {
    Amount::from_base_units(n)
}

fn sums(available: i128, pending: i128, held: i128) -> Vec<LedgerSum> {
    [
        (Bucket::Available, available),
        (Bucket::Pending, pending),
        (Bucket::Held, held),
    ]
    .into_iter()
    .filter(|(_, s)| *s != 0)
    .map(|(bucket, sum)| LedgerSum {
        asset: usdt_eth(),
        bucket,
        sum,
    })
    .collect()
}

fn wallet_sums(n: u128, row: (u128, u128, u128), ledger: Vec<LedgerSum>) -> WalletSums {
    WalletSums {
        wallet_id: wallet_id(n),
        tenant_id: tenant(),
        asset: usdt_eth(),
        balances: Balances {
            available: units(row.0),
            pending: units(row.1),
            held: units(row.2),
        },
        ledger,
    }
}

fn withdrawal(n: u128, amount: u128) -> InFlightItem {
    InFlightItem {
        reference: transaction_id(n).to_string(),
        asset: usdt_eth(),
        amount: units(amount),
        status: TransactionStatus::Broadcasting,
    }
}

/// Two wallets: 1,000 available + 300 pending, and 500 available + 200 held.
fn clean() -> LedgerSnapshot {
    LedgerSnapshot {
        wallets: vec![
            wallet_sums(1, (1_000, 300, 0), sums(1_000, 300, 0)),
            wallet_sums(2, (500, 0, 200), sums(500, 0, 200)),
        ],
        // The tenant's maintained total: the wallets' 1,500 available.
        totals: vec![AssetTotal {
            tenant_id: tenant(),
            asset: usdt_eth(),
            total: SignedAmount::new(false, 1_500),
        }],
        ..LedgerSnapshot::default()
    }
}

fn reported(balance: u128) -> Result<CustodyBalance, ProviderError> {
    Ok(CustodyBalance {
        asset: usdt_eth(),
        balance: units(balance),
        source: "stub".into(),
    })
}

#[test]
fn a_ledger_that_matches_its_balance_rows_is_clean() {
    let check = check_ledger(&clean());
    assert_eq!(check.wallets_checked, 2);
    assert!(!check.drifted(), "{check:?}");
}

#[test]
fn a_balance_row_off_its_ledger_is_drift_naming_wallet_bucket_and_both_figures() {
    let mut snapshot = clean();
    snapshot.wallets[1].balances.available = units(501);
    let check = check_ledger(&snapshot);
    assert_eq!(
        check.drift,
        vec![WalletDrift {
            wallet_id: wallet_id(2),
            tenant_id: tenant(),
            asset: usdt_eth(),
            entries_asset: usdt_eth(),
            bucket: Bucket::Available,
            materialised: 501,
            ledger: 500,
        }]
    );
    let report = ReconcileReport {
        ledger: check,
        provider: Vec::new(),
        provider_skipped: None,
    };
    assert_eq!(report.verdict(), Verdict::Drift);
    assert_eq!(report.verdict().exit_code(), 2);
}

#[test]
fn entries_filed_under_another_asset_are_drift() {
    let mut snapshot = clean();
    snapshot.wallets[0].ledger.push(LedgerSum {
        asset: usdc_sol(),
        bucket: Bucket::Available,
        sum: 7,
    });
    let check = check_ledger(&snapshot);
    assert_eq!(check.drift.len(), 1);
    assert_eq!(check.drift[0].entries_asset, usdc_sol());
    assert_eq!(check.drift[0].ledger, 7);
}

#[test]
fn unbalanced_transactions_and_final_residues_are_drift() {
    let residue = TransactionResidue {
        transaction_id: transaction_id(9),
        tenant_id: tenant(),
        kind: TransactionKind::Withdrawal,
        status: TransactionStatus::Completed,
        asset: usdt_eth(),
        bucket: Some(Bucket::Held),
        sum: 40,
    };
    let mut snapshot = clean();
    snapshot.final_residues.push(residue.clone());
    assert!(check_ledger(&snapshot).drifted());
    let mut snapshot = clean();
    snapshot.unbalanced.push(TransactionResidue {
        bucket: None,
        ..residue
    });
    assert!(check_ledger(&snapshot).drifted());
}

#[test]
fn a_provider_balance_equal_to_the_ledger_total_is_explained() {
    let check = check_provider(&clean(), usdt_eth(), reported(2_000));
    assert_eq!(check.ledger_total, 2_000);
    assert_eq!(check.difference(), Some(0));
    assert_eq!(check.outcome, ProviderOutcome::Explained);
}

#[test]
fn an_in_flight_withdrawal_explains_a_lower_provider_balance_up_to_its_amount() {
    let mut snapshot = clean();
    snapshot.handed_over.push(withdrawal(5, 200));
    // The 200 held left the provider's wallet already; the 300 pending is not there yet.
    let check = check_provider(&snapshot, usdt_eth(), reported(1_500));
    assert_eq!(check.difference(), Some(-500));
    assert_eq!(check.explained_range(), Some((-500, 0)));
    assert_eq!(check.outcome, ProviderOutcome::Explained);
    // One unit more missing is not explained.
    let check = check_provider(&snapshot, usdt_eth(), reported(1_499));
    assert_eq!(check.outcome, ProviderOutcome::Drift);
}

#[test]
fn without_money_in_flight_any_difference_is_drift() {
    let snapshot = LedgerSnapshot {
        wallets: vec![wallet_sums(1, (1_000, 0, 0), sums(1_000, 0, 0))],
        ..LedgerSnapshot::default()
    };
    for balance in [999, 1_001] {
        let check = check_provider(&snapshot, usdt_eth(), reported(balance));
        assert_eq!(check.outcome, ProviderOutcome::Drift, "{balance}");
    }
}

#[test]
fn suspense_explains_a_higher_provider_balance() {
    let mut snapshot = clean();
    snapshot.suspense.push(InFlightItem {
        reference: "bitgo-transfer-1".into(),
        asset: usdt_eth(),
        amount: units(70),
        status: TransactionStatus::Completed,
    });
    let check = check_provider(&snapshot, usdt_eth(), reported(2_070));
    assert_eq!(check.outcome, ProviderOutcome::Explained);
    let check = check_provider(&snapshot, usdt_eth(), reported(2_071));
    assert_eq!(check.outcome, ProviderOutcome::Drift);
}

#[test]
fn unsupported_is_not_checkable_and_other_errors_make_the_run_incomplete() {
    let check = check_provider(
        &clean(),
        usdt_eth(),
        Err(ProviderError::Unsupported("rhino has no balance".into())),
    );
    assert_eq!(
        check.outcome,
        ProviderOutcome::NotCheckable("rhino has no balance".into())
    );
    let report = ReconcileReport {
        ledger: check_ledger(&clean()),
        provider: vec![check],
        provider_skipped: None,
    };
    assert_eq!(report.verdict(), Verdict::Clean);

    let failed = check_provider(
        &clean(),
        usdt_eth(),
        Err(ProviderError::Unavailable("timeout".into())),
    );
    let report = ReconcileReport {
        ledger: check_ledger(&clean()),
        provider: vec![failed],
        provider_skipped: None,
    };
    assert_eq!(report.verdict(), Verdict::Incomplete);
    assert_eq!(report.verdict().exit_code(), 3);
}

#[tokio::test]
async fn run_reads_one_snapshot_and_asks_the_provider_per_asset() {
    let mut store = MockReconcileStore::new();
    store
        .expect_ledger_snapshot()
        .withf(|tenant| tenant.is_none())
        .times(1)
        .returning(|_| Ok(clean()));
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_custody_balance()
        .withf(|asset| *asset == usdt_eth())
        .times(1)
        .returning(|_| reported(1_999));
    let service = ReconcileService::new(Arc::new(store))
        .with_provider(Arc::new(provider), Some(vec![usdt_eth()]));
    let report = service.run(None).await.expect("runs");
    assert!(!report.ledger.drifted());
    assert_eq!(report.provider.len(), 1);
    assert_eq!(report.provider[0].outcome, ProviderOutcome::Explained);
    assert_eq!(report.verdict(), Verdict::Clean);
}

#[tokio::test]
async fn one_tenant_is_checked_against_its_ledger_only() {
    let mut store = MockReconcileStore::new();
    store
        .expect_ledger_snapshot()
        .withf(|t| *t == Some(tenant()))
        .times(1)
        .returning(|_| Ok(clean()));
    let mut provider = MockCustodyProvider::new();
    provider.expect_custody_balance().never();
    let service = ReconcileService::new(Arc::new(store))
        .with_provider(Arc::new(provider), Some(vec![usdt_eth()]));
    let report = service.run(Some(tenant())).await.expect("runs");
    assert!(report.provider.is_empty());
    assert!(report.provider_skipped.is_some());
}

#[tokio::test]
async fn without_a_list_every_asset_held_is_compared() {
    let mut store = MockReconcileStore::new();
    store.expect_ledger_snapshot().returning(|_| Ok(clean()));
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_custody_balance()
        .withf(|asset| *asset == usdt_eth())
        .times(1)
        .returning(|_| Err(ProviderError::Unsupported("stateless".into())));
    let service = ReconcileService::new(Arc::new(store)).with_provider(Arc::new(provider), None);
    let report = service.run(None).await.expect("runs");
    assert_eq!(report.provider.len(), 1);
    assert_eq!(
        report.provider[0].outcome,
        ProviderOutcome::NotCheckable("stateless".into())
    );
    assert_eq!(report.verdict(), Verdict::Clean);
}

#[test]
fn a_total_that_differs_from_its_wallets_is_drift() {
    let mut snapshot = clean();
    assert!(check_ledger(&snapshot).total_drift.is_empty());
    snapshot.totals[0].total = SignedAmount::new(false, 1_499);
    let check = check_ledger(&snapshot);
    assert_eq!(
        check.total_drift,
        vec![TotalDrift {
            tenant_id: tenant(),
            asset: usdt_eth(),
            total: SignedAmount::new(false, 1_499),
            wallets: Some(1_500),
        }]
    );
    assert!(check.drifted());
    // No total row for wallets holding funds is drift; for wallets holding nothing it is not.
    snapshot.totals.clear();
    assert_eq!(check_ledger(&snapshot).total_drift.len(), 1);
    snapshot.wallets = vec![wallet_sums(1, (0, 300, 0), sums(0, 300, 0))];
    assert!(check_ledger(&snapshot).total_drift.is_empty());
    // A total with no wallet must be zero.
    snapshot.wallets.clear();
    snapshot.totals = vec![AssetTotal {
        tenant_id: tenant(),
        asset: usdt_eth(),
        total: SignedAmount::new(true, 1),
    }];
    assert_eq!(check_ledger(&snapshot).total_drift[0].wallets, Some(0));
}
