use std::sync::Arc;

use super::*;
use crate::amount::Amount;
use crate::event::EventType;
use crate::ports::MockStoreTx;
use crate::services::test_support::*;
use crate::transaction::NewTransaction;
use crate::wallet::Wallet;

const USDT: u128 = 1_000_000;
const AMOUNT: u128 = 40 * USDT;

fn holding_wallet() -> Wallet {
    funded_wallet(wallet_id(1), vault_id(1), usdt_eth(), 60 * USDT, 0, AMOUNT)
}

fn withdrawal(status: TransactionStatus) -> Transaction {
    let mut t = Transaction::new(
        NewTransaction {
            id: transaction_id(1),
            tenant_id: tenant(),
            kind: TransactionKind::Withdrawal,
            asset: usdt_eth(),
            amount: Amount::from_base_units(AMOUNT),
            source_wallet_id: Some(wallet_id(1)),
            destination_wallet_id: None,
            reference: None,
        },
        T0,
    );
    for step in TransactionStatus::Submitted
        .path_to(status)
        .unwrap_or_default()
    {
        t.advance(step, T0).unwrap();
    }
    t
}

fn service(txs: Vec<MockStoreTx>) -> OperatorService {
    OperatorService::new(
        Arc::new(uow_with(txs)),
        clock(),
        ids(),
        Arc::new(crate::event::DomainSnapshots),
    )
}

fn locked(transaction: Transaction) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .withf(|tenant, id| tenant.is_none() && *id == transaction_id(1))
        .times(1)
        .return_once(move |_, _| Ok(transaction));
    tx.expect_lock_wallet_by_id()
        .return_once(|_| Ok(holding_wallet()));
    tx
}

#[tokio::test]
async fn resolving_as_completed_settles_the_hold_and_records_who_and_why() {
    let mut flagged = withdrawal(TransactionStatus::PendingSignature);
    flagged.reconciliation_reason = Some("outcome unknown after hand-over".into());
    let mut tx = locked(flagged);
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(vec![tx])
        .resolve_withdrawal(
            transaction_id(1),
            Resolution::Completed,
            "alice",
            "BitGo console: transfer 5b61… confirmed, txid 0xabc",
        )
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Completed);
    let wallet = log.wallets().last().cloned().unwrap();
    assert!(wallet.balances.held.is_zero(), "the hold left custody");
    assert_eq!(wallet.balances.available.base_units(), 60 * USDT);
    assert_eq!(log.commits(), 1);
    // Every step is in the history; the last one names the operator and the evidence.
    let status_events: Vec<_> = log
        .events()
        .into_iter()
        .filter(|e| e.event_type == EventType::TransactionStatusUpdated)
        .collect();
    assert_eq!(
        status_events.len(),
        3,
        "Broadcasting, Confirming, Completed"
    );
    let resolution = &status_events[2].previous_attributes.as_ref().unwrap()["resolution"];
    assert_eq!(resolution["operator"], "alice");
    assert_eq!(resolution["as"], "Completed");
    assert!(resolution["evidence"]
        .as_str()
        .unwrap()
        .contains("BitGo console"));
    assert_eq!(
        resolution["reconciliationReason"],
        "outcome unknown after hand-over"
    );
    assert!(status_events[0].previous_attributes.as_ref().unwrap()["resolution"].is_null());
}

#[tokio::test]
async fn resolving_as_failed_releases_the_hold() {
    let mut tx = locked(withdrawal(TransactionStatus::Broadcasting));
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(vec![tx])
        .resolve_withdrawal(
            transaction_id(1),
            Resolution::Failed,
            "bob",
            "never reached the chain",
        )
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Failed);
    assert!(t.failure_reason.unwrap().contains("operator bob"));
    let wallet = log.wallets().last().cloned().unwrap();
    assert!(wallet.balances.held.is_zero());
    assert_eq!(wallet.balances.available.base_units(), 100 * USDT);
}

#[tokio::test]
async fn what_cannot_be_resolved_is_refused_and_nothing_is_written() {
    for (status, why) in [
        (TransactionStatus::Submitted, "never handed"),
        (TransactionStatus::Completed, "already"),
    ] {
        let mut tx = MockStoreTx::new();
        tx.expect_lock_transaction()
            .return_once(move |_, _| Ok(withdrawal(status)));
        forbid_writes(&mut tx);
        tx.expect_commit().never();
        let err = service(vec![tx])
            .resolve_withdrawal(transaction_id(1), Resolution::Failed, "alice", "x")
            .await
            .unwrap_err();
        assert_eq!(err.code(), "transaction_not_resolvable");
        assert!(err.to_string().contains(why), "{err}");
    }
    let err = service(vec![])
        .resolve_withdrawal(transaction_id(1), Resolution::Failed, "alice", "  ")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "missing_field");
}
