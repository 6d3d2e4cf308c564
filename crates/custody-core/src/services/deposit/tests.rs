use std::sync::Arc;

use super::*;
use crate::amount::Amount;
use crate::asset::AssetId;
use crate::deposit_address::DepositAddress;
use crate::ledger::{sums_to_zero, Account, Posting};
use crate::ports::{MockCustodyProvider, MockStoreTx, MockUnitOfWork, ProviderError};
use crate::services::test_support::*;
use crate::transaction::{Confirmations, TransactionStatus};
use crate::vault::VaultStatus;
use crate::wallet::{Bucket, Wallet};

const AMOUNT: u128 = 250_000_000; // 250 USDT

fn receiving_wallet(available: u128, pending: u128) -> Wallet {
    funded_wallet(wallet_id(1), vault_id(1), usdt_eth(), available, pending, 0)
}

fn address() -> DepositAddress {
    deposit_address(address_id(1), &receiving_wallet(0, 0), 0)
}

fn confirmations(seen: u32) -> Option<Confirmations> {
    Some(Confirmations { seen, required: 12 })
}

fn verified(status: TransactionStatus) -> VerifiedDeposit {
    VerifiedDeposit {
        provider_ref: "provider-transfer-1".into(),
        asset: usdt_eth(),
        amount: Amount::from_base_units(AMOUNT),
        address: address().address,
        tx_hash: Some("0xfeed".into()),
        status,
        confirmations: confirmations(if status == TransactionStatus::Confirming {
            3
        } else {
            12
        }),
    }
}

/// The deposit as a previous report recorded it, walked to `status`.
fn existing(status: TransactionStatus) -> Transaction {
    let mut t = Transaction::new(
        NewTransaction {
            id: transaction_id(7),
            tenant_id: tenant(),
            kind: TransactionKind::Deposit,
            asset: usdt_eth(),
            amount: Amount::from_base_units(AMOUNT),
            source_wallet_id: None,
            destination_wallet_id: Some(wallet_id(1)),
            reference: None,
        },
        T0,
    );
    t.deposit_address_id = Some(address_id(1));
    t.destination_address = Some(address().address);
    t.provider_ref = Some("provider-transfer-1".into());
    t.tx_hash = Some("0xfeed".into());
    t.confirmations = confirmations(3);
    if status != TransactionStatus::Confirming {
        t.advance(status, T0).unwrap();
        t.confirmations = confirmations(12);
    }
    t
}

fn service(uow: MockUnitOfWork, provider: MockCustodyProvider) -> DepositService {
    DepositService::new(
        Arc::new(uow),
        Arc::new(provider),
        clock(),
        ids(),
        renderer(),
    )
}

fn no_provider() -> MockCustodyProvider {
    let mut provider = MockCustodyProvider::new();
    provider.expect_verify_deposit().never();
    provider.expect_forwards_to().return_const(false);
    provider.expect_name().return_const("bitgo");
    provider
}

/// A transaction that attributes the deposit to wallet 1 and finds `known` (or nothing)
/// under the provider reference.
fn deposit_tx(wallet: Wallet, known: Option<Transaction>) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .withf(|a| *a == address().address)
        .times(1)
        .returning(|_| Ok(address()));
    tx.expect_lock_wallet_by_id()
        .withf(|id| *id == wallet_id(1))
        .times(1)
        .return_once(move |_| Ok(wallet));
    tx.expect_lock_deposit_by_provider_ref()
        .withf(|r| r == "provider-transfer-1")
        .times(1)
        .return_once(move |_| known.ok_or(StoreError::NotFound));
    // Attribution checks the receiving vault (issue 12: archived vaults are not credited).
    allow_vault(&mut tx, VaultStatus::Active);
    tx
}

fn posting(bucket: Option<Bucket>, delta: i128) -> Posting {
    Posting {
        account: match bucket {
            Some(bucket) => Account::Wallet {
                wallet_id: wallet_id(1),
                bucket,
            },
            None => Account::External { asset: usdt_eth() },
        },
        delta,
    }
}

fn ledger_postings(log: &WriteLog) -> Vec<Vec<Posting>> {
    log.ledger()
        .iter()
        .map(|entries| entries.iter().map(|e| e.posting).collect())
        .collect()
}

const A: i128 = AMOUNT as i128;

#[tokio::test]
async fn a_first_notice_creates_the_deposit_and_credits_pending() {
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_verify_deposit()
        .withf(|n| n.payload == b"{}")
        .times(1)
        .returning(|_| Ok(verified(TransactionStatus::Confirming)));
    let mut tx = deposit_tx(receiving_wallet(5, 0), None);
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let notice = DepositNotice {
        provider: "sandbox".into(),
        payload: b"{}".to_vec(),
        signature: None,
    };
    let t = service(uow_with(vec![tx]), provider)
        .record(&notice)
        .await
        .unwrap();

    assert_eq!(t.kind, TransactionKind::Deposit);
    assert_eq!(t.status, TransactionStatus::Confirming);
    assert_eq!(t.provider_ref.as_deref(), Some("provider-transfer-1"));
    assert_eq!(t.destination_wallet_id, Some(wallet_id(1)));
    assert_eq!(t.deposit_address_id, Some(address_id(1)));
    assert_eq!(t.destination_address, Some(address().address));
    assert_eq!(t.confirmations, confirmations(3));
    assert_eq!(t.tenant_id, tenant());
    assert_eq!(log.inserted_transactions(), vec![t.clone()]);
    assert!(log.updated_transactions().is_empty());

    let wallets = log.wallets();
    assert_eq!(wallets.len(), 1);
    assert_eq!(wallets[0].balances.pending.base_units(), AMOUNT);
    assert_eq!(wallets[0].balances.available.base_units(), 5);
    let postings = ledger_postings(&log);
    assert_eq!(
        postings,
        vec![vec![posting(None, -A), posting(Some(Bucket::Pending), A)]]
    );
    assert!(sums_to_zero(&postings[0]));
    assert_eq!(
        log.event_types(),
        vec![EventType::TransactionCreated, EventType::BalanceUpdated]
    );
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn completion_moves_pending_to_available_once() {
    let mut tx = deposit_tx(
        receiving_wallet(5, AMOUNT),
        Some(existing(TransactionStatus::Confirming)),
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(uow_with(vec![tx]), no_provider())
        .apply_verified(verified(TransactionStatus::Completed))
        .await
        .unwrap();

    assert_eq!(t.id, transaction_id(7));
    assert_eq!(t.status, TransactionStatus::Completed);
    assert_eq!(t.confirmations, confirmations(12));
    assert!(log.inserted_transactions().is_empty());
    assert_eq!(log.updated_transactions(), vec![t.clone()]);
    let wallets = log.wallets();
    assert_eq!(wallets.len(), 1);
    assert!(wallets[0].balances.pending.is_zero());
    assert_eq!(wallets[0].balances.available.base_units(), 5 + AMOUNT);
    assert_eq!(
        log.totals(),
        vec![(
            t.tenant_id,
            t.asset,
            crate::totals::slot_of(t.id),
            crate::totals::SignedAmount::new(false, AMOUNT)
        )],
        "completion makes the amount available tenant-wide"
    );
    assert_eq!(
        ledger_postings(&log),
        vec![vec![
            posting(Some(Bucket::Pending), -A),
            posting(Some(Bucket::Available), A)
        ]]
    );
    assert_eq!(
        log.event_types(),
        vec![
            EventType::BalanceUpdated,
            EventType::TransactionStatusUpdated
        ]
    );
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn the_same_completion_again_changes_nothing() {
    let completed = existing(TransactionStatus::Completed);
    let mut tx = deposit_tx(receiving_wallet(AMOUNT, 0), Some(completed.clone()));
    let log = record_writes(&mut tx);
    tx.expect_commit().returning(|| Ok(()));
    let t = service(uow_with(vec![tx]), no_provider())
        .apply_verified(verified(TransactionStatus::Completed))
        .await
        .unwrap();
    assert_eq!(t, completed);
    assert!(log.all().is_empty(), "{:?}", log.all());
}

#[tokio::test]
async fn a_deposit_first_seen_completed_is_created_and_completed_in_one_commit() {
    let mut tx = deposit_tx(receiving_wallet(0, 0), None);
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(uow_with(vec![tx]), no_provider())
        .apply_verified(verified(TransactionStatus::Completed))
        .await
        .unwrap();

    assert_eq!(t.status, TransactionStatus::Completed);
    let inserted = log.inserted_transactions();
    assert_eq!(inserted.len(), 1);
    assert_eq!(inserted[0].status, TransactionStatus::Confirming);
    assert_eq!(log.updated_transactions(), vec![t.clone()]);
    assert_eq!(
        ledger_postings(&log),
        vec![
            vec![posting(None, -A), posting(Some(Bucket::Pending), A)],
            vec![
                posting(Some(Bucket::Pending), -A),
                posting(Some(Bucket::Available), A)
            ],
        ]
    );
    let last = log.wallets().last().cloned().unwrap();
    assert_eq!(last.balances.available.base_units(), AMOUNT);
    assert!(last.balances.pending.is_zero());
    assert!(last.balances.held.is_zero());
    assert_eq!(
        log.event_types(),
        vec![
            EventType::TransactionCreated,
            EventType::BalanceUpdated,
            EventType::BalanceUpdated,
            EventType::TransactionStatusUpdated
        ]
    );
    assert!(matches!(log.all().last(), Some(StoreWrite::Commit)));
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn a_failed_deposit_reverses_pending() {
    let mut tx = deposit_tx(
        receiving_wallet(5, AMOUNT),
        Some(existing(TransactionStatus::Confirming)),
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(uow_with(vec![tx]), no_provider())
        .apply_verified(verified(TransactionStatus::Failed))
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Failed);
    let wallets = log.wallets();
    assert_eq!(wallets.len(), 1);
    assert!(wallets[0].balances.pending.is_zero());
    assert_eq!(wallets[0].balances.available.base_units(), 5);
    assert_eq!(
        ledger_postings(&log),
        vec![vec![posting(Some(Bucket::Pending), -A), posting(None, A)]]
    );
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn more_confirmations_are_recorded_without_moving_money() {
    let mut tx = deposit_tx(
        receiving_wallet(0, AMOUNT),
        Some(existing(TransactionStatus::Confirming)),
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let mut report = verified(TransactionStatus::Confirming);
    report.confirmations = confirmations(7);
    let t = service(uow_with(vec![tx]), no_provider())
        .apply_verified(report)
        .await
        .unwrap();
    assert_eq!(t.confirmations, confirmations(7));
    assert_eq!(t.version, 2);
    assert_eq!(log.updated_transactions(), vec![t]);
    assert!(log.wallets().is_empty());
    assert!(log.ledger().is_empty());
    assert_eq!(log.event_types(), vec![EventType::TransactionStatusUpdated]);
}

#[tokio::test]
async fn an_unknown_address_is_refused() {
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .returning(|_| Err(StoreError::NotFound));
    tx.expect_lock_wallet_by_id().never();
    tx.expect_lock_deposit_by_provider_ref().never();
    // Issue 14: recorded in the suspense list (and committed), never credited.
    let held = expect_suspended(&mut tx);
    let err = service(uow_with(vec![tx]), no_provider())
        .apply_verified(verified(TransactionStatus::Confirming))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "unknown_deposit_address",
                ..
            }
        ),
        "{err:?}"
    );
    let held = held.lock().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].reason, "unknown_address");
    assert_eq!(held[0].tenant_id, None);
    assert_eq!(held[0].provider_ref, "provider-transfer-1");
    assert_eq!(held[0].amount.base_units(), AMOUNT);
    assert_eq!(held[0].report["amount"], AMOUNT.to_string());
    assert_eq!(held[0].report["txHash"], "0xfeed");
    assert_eq!(held[0].state, crate::work::SuspenseState::Open);
}

#[tokio::test]
async fn an_arrival_at_a_providers_forwarding_destination_is_neither_credited_nor_held() {
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .returning(|_| Err(StoreError::NotFound));
    tx.expect_record_unattributed_deposit().never();
    forbid_writes(&mut tx);
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_forwards_to()
        .withf(|a| *a == address().address)
        .return_const(true);
    let err = service(uow_with(vec![tx]), provider)
        .apply_verified(verified(TransactionStatus::Completed))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "provider_forward",
                ..
            }
        ),
        "{err:?}"
    );
}

/// Expects one suspense record and one commit, and no other write; returns what was recorded.
fn expect_suspended(
    tx: &mut MockStoreTx,
) -> Arc<std::sync::Mutex<Vec<crate::work::UnattributedDeposit>>> {
    tx.expect_insert_transaction().never();
    tx.expect_update_transaction().never();
    tx.expect_update_wallet().never();
    tx.expect_append_ledger().never();
    tx.expect_append_event().never();
    let held: Arc<std::sync::Mutex<Vec<crate::work::UnattributedDeposit>>> = Arc::default();
    let sink = Arc::clone(&held);
    tx.expect_record_unattributed_deposit()
        .times(1)
        .returning(move |d| {
            sink.lock().unwrap().push(d.clone());
            Ok(())
        });
    tx.expect_commit().times(1).returning(|| Ok(()));
    held
}

#[tokio::test]
async fn an_asset_the_wallet_does_not_hold_is_refused() {
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .returning(|_| Ok(address()));
    tx.expect_lock_wallet_by_id().never();
    tx.expect_lock_deposit_by_provider_ref().never();
    let held = expect_suspended(&mut tx);
    let mut report = verified(TransactionStatus::Confirming);
    report.asset = AssetId::parse("USDC_ETHEREUM").unwrap();
    let err = service(uow_with(vec![tx]), no_provider())
        .apply_verified(report)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "deposit_asset_mismatch",
                ..
            }
        ),
        "{err:?}"
    );
    let held = held.lock().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].reason, "asset_mismatch");
    assert_eq!(held[0].tenant_id, Some(tenant()));
    assert_eq!(held[0].deposit_address_id, Some(address_id(1)));
    assert_eq!(held[0].report["walletAsset"], "USDT_ETHEREUM");
}

#[tokio::test]
async fn a_deposit_first_seen_failed_is_neither_created_nor_credited() {
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .returning(|_| Ok(address()));
    tx.expect_lock_wallet_by_id()
        .return_once(|_| Ok(receiving_wallet(0, 0)));
    tx.expect_lock_deposit_by_provider_ref()
        .return_once(|_| Err(StoreError::NotFound));
    tx.expect_record_unattributed_deposit().never();
    forbid_writes(&mut tx);
    let err = service(uow_with(vec![tx]), no_provider())
        .apply_verified(verified(TransactionStatus::Failed))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "deposit_failed_at_provider",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_transfer_paying_several_of_our_addresses_is_held_whole_and_acknowledged() {
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_verify_notification()
        .times(1)
        .returning(|_| {
            Ok(Notification::Unattributable(Box::new(
                UnattributableReport {
                    deposit: verified(TransactionStatus::Completed),
                    reason: "several_outputs",
                    detail: serde_json::json!({ "outputs": [{"amount": "1"}, {"amount": "2"}] }),
                },
            )))
        });
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .returning(|_| Ok(address()));
    tx.expect_lock_wallet_by_id().never();
    let held = expect_suspended(&mut tx);
    let notice = DepositNotice {
        provider: "bitgo".into(),
        payload: b"{}".to_vec(),
        signature: None,
    };
    let err = service(uow_with(vec![tx]), provider)
        .receive(&notice)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "deposit_not_attributed",
                ..
            }
        ),
        "{err:?}"
    );
    let held = held.lock().unwrap();
    assert_eq!(held[0].reason, "several_outputs");
    assert_eq!(held[0].report["outputs"][1]["amount"], "2");
    assert_eq!(held[0].tenant_id, Some(tenant()));
}

#[tokio::test]
async fn an_unverified_notice_never_opens_the_store() {
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_verify_deposit()
        .times(1)
        .returning(|_| Err(ProviderError::Unverified("no such transfer".into())));
    let notice = DepositNotice {
        provider: "sandbox".into(),
        payload: b"forged".to_vec(),
        signature: None,
    };
    let err = service(uow_with(vec![]), provider)
        .record(&notice)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Provider(ProviderError::Unverified(_))),
        "{err:?}"
    );
}

#[tokio::test]
async fn losing_the_insert_race_retries_and_finds_the_winner() {
    // First attempt: nothing known yet, but the insert hits the unique provider reference.
    let mut first = deposit_tx(receiving_wallet(0, AMOUNT), None);
    first.expect_insert_transaction().times(1).returning(|_| {
        Err(StoreError::Conflict {
            constraint: "transactions_kind_provider_ref_key".into(),
        })
    });
    first.expect_update_transaction().never();
    first.expect_update_wallet().never();
    first.expect_append_ledger().never();
    first.expect_append_event().never();
    first.expect_commit().never();
    // Second attempt: the winner's deposit is there, already at the reported status.
    let winner = existing(TransactionStatus::Confirming);
    let mut second = deposit_tx(receiving_wallet(0, AMOUNT), Some(winner.clone()));
    let log = record_writes(&mut second);
    second.expect_commit().returning(|| Ok(()));

    let t = service(uow_with(vec![first, second]), no_provider())
        .apply_verified(verified(TransactionStatus::Confirming))
        .await
        .unwrap();
    assert_eq!(t, winner);
    assert!(
        log.wallets().is_empty(),
        "pending must not be credited twice"
    );
    assert!(log.ledger().is_empty());
}

// --- refresh: moving an open deposit forward from the provider ----------------------------

/// A transaction that only reads the deposit (`refresh`'s first, read-only step).
fn read_tx(current: Transaction) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .withf(|tenant, id| tenant.is_none() && *id == transaction_id(7))
        .times(1)
        .return_once(move |_, _| Ok(current));
    forbid_writes(&mut tx);
    tx
}

fn provider_reporting(report: Result<VerifiedDeposit, ProviderError>) -> MockCustodyProvider {
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_deposit_status()
        .withf(|r, asset| r == "provider-transfer-1" && *asset == usdt_eth())
        .times(1)
        .return_once(move |_, _| report);
    provider.expect_verify_deposit().never();
    provider
}

#[tokio::test]
async fn refresh_applies_what_the_provider_reports_now() {
    let mut apply = deposit_tx(
        receiving_wallet(0, AMOUNT),
        Some(existing(TransactionStatus::Confirming)),
    );
    let log = record_writes(&mut apply);
    record_commit(&mut apply, &log);
    let t = service(
        uow_with(vec![
            read_tx(existing(TransactionStatus::Confirming)),
            apply,
        ]),
        provider_reporting(Ok(verified(TransactionStatus::Completed))),
    )
    .refresh(transaction_id(7))
    .await
    .unwrap();
    assert_eq!(t.status, TransactionStatus::Completed);
    assert_eq!(t.confirmations, confirmations(12));
    let wallets = log.wallets();
    assert_eq!(wallets.len(), 1);
    assert_eq!(wallets[0].balances.available.base_units(), AMOUNT);
    assert!(wallets[0].balances.pending.is_zero());
    assert_eq!(
        ledger_postings(&log),
        vec![vec![
            posting(Some(Bucket::Pending), -A),
            posting(Some(Bucket::Available), A)
        ]]
    );
}

#[tokio::test]
async fn refresh_records_new_confirmations() {
    let mut apply = deposit_tx(
        receiving_wallet(0, AMOUNT),
        Some(existing(TransactionStatus::Confirming)),
    );
    let log = record_writes(&mut apply);
    record_commit(&mut apply, &log);
    let mut report = verified(TransactionStatus::Confirming);
    report.confirmations = confirmations(5);
    let t = service(
        uow_with(vec![
            read_tx(existing(TransactionStatus::Confirming)),
            apply,
        ]),
        provider_reporting(Ok(report)),
    )
    .refresh(transaction_id(7))
    .await
    .unwrap();
    assert_eq!(t.status, TransactionStatus::Confirming);
    assert_eq!(t.confirmations, confirmations(5));
    assert!(log.wallets().is_empty());
    assert_eq!(log.event_types(), vec![EventType::TransactionStatusUpdated]);
}

#[tokio::test]
async fn refresh_without_news_writes_nothing() {
    // The provider repeats the recorded 3/12: no write transaction is opened.
    let t = service(
        uow_with(vec![read_tx(existing(TransactionStatus::Confirming))]),
        provider_reporting(Ok(verified(TransactionStatus::Confirming))),
    )
    .refresh(transaction_id(7))
    .await
    .unwrap();
    assert_eq!(t, existing(TransactionStatus::Confirming));
}

#[tokio::test]
async fn refresh_of_a_final_deposit_does_not_ask_the_provider() {
    for status in [TransactionStatus::Completed, TransactionStatus::Failed] {
        let mut provider = MockCustodyProvider::new();
        provider.expect_deposit_status().never();
        let t = service(uow_with(vec![read_tx(existing(status))]), provider)
            .refresh(transaction_id(7))
            .await
            .unwrap();
        assert_eq!(t, existing(status));
    }
}

#[tokio::test]
async fn refresh_passes_the_providers_refusal_on_and_writes_nothing() {
    let err = service(
        uow_with(vec![read_tx(existing(TransactionStatus::Confirming))]),
        provider_reporting(Err(ProviderError::Unsupported("no read-back".into()))),
    )
    .refresh(transaction_id(7))
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Provider(ProviderError::Unsupported(_))),
        "{err:?}"
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn refresh_refuses_an_answer_about_another_deposit() {
    let mut report = verified(TransactionStatus::Completed);
    report.address = chain_address(usdt_eth(), 99);
    let err = service(
        uow_with(vec![read_tx(existing(TransactionStatus::Confirming))]),
        provider_reporting(Ok(report)),
    )
    .refresh(transaction_id(7))
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
}

#[tokio::test]
async fn refresh_of_something_else_than_a_deposit_is_refused() {
    let mut transfer = existing(TransactionStatus::Confirming);
    transfer.kind = TransactionKind::Withdrawal;
    let mut provider = MockCustodyProvider::new();
    provider.expect_deposit_status().never();
    let err = service(uow_with(vec![read_tx(transfer)]), provider)
        .refresh(transaction_id(7))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
}

// --- issue 14: later reports that disagree ------------------------------------------------

#[tokio::test]
async fn a_later_report_that_disagrees_is_held_for_an_operator_not_applied() {
    let mut tx = deposit_tx(
        receiving_wallet(0, AMOUNT),
        Some(existing(TransactionStatus::Confirming)),
    );
    forbid_writes(&mut tx);
    let held: Arc<std::sync::Mutex<Vec<crate::work::UnattributedDeposit>>> = Arc::default();
    let seen = Arc::clone(&held);
    tx.expect_record_unattributed_deposit()
        .times(1)
        .returning(move |d| {
            seen.lock().unwrap().push(d.clone());
            Ok(())
        });
    tx.expect_commit().times(1).returning(|| Ok(()));
    let mut report = verified(TransactionStatus::Completed);
    report.amount = Amount::from_base_units(AMOUNT * 10);
    let err = service(uow_with(vec![tx]), no_provider())
        .apply_verified(report.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "deposit_report_disagrees");
    assert!(err.to_string().contains("amount 2500000000"), "{err}");
    let held = held.lock().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].reason, REPORT_DISAGREES);
    assert_eq!(
        held[0].amount, report.amount,
        "everything the provider said"
    );
    assert_eq!(held[0].provider_ref, "provider-transfer-1");
}

#[tokio::test]
async fn receive_passes_withdrawal_news_and_acknowledgements_through_without_the_store() {
    for (notification, expected) in [
        (
            crate::ports::Notification::Withdrawal(transaction_id(3)),
            Received::Withdrawal(transaction_id(3)),
        ),
        (
            crate::ports::Notification::Acknowledged("a webhook test".into()),
            Received::Acknowledged("a webhook test".into()),
        ),
    ] {
        let mut provider = MockCustodyProvider::new();
        provider
            .expect_verify_notification()
            .times(1)
            .return_once(move |_| Ok(notification));
        let notice = DepositNotice {
            provider: "bitgo".into(),
            payload: b"{}".to_vec(),
            signature: None,
        };
        let got = service(uow_with(vec![]), provider)
            .receive(&notice)
            .await
            .unwrap();
        assert_eq!(got, expected);
    }
}

// --- issue 14: reconciliation of missed notifications ------------------------------------

#[tokio::test]
async fn reconciliation_credits_a_missed_deposit_through_the_same_path_and_lists_the_rest() {
    // The missed deposit: created and completed in one commit, as a notification would.
    let mut missed = deposit_tx(receiving_wallet(0, 0), None);
    let log = record_writes(&mut missed);
    record_commit(&mut missed, &log);
    // A second report at an address we never minted: held in suspense (issue 14).
    let mut unknown = MockStoreTx::new();
    unknown
        .expect_find_address_by_chain_address()
        .returning(|_| Err(StoreError::NotFound));
    let held = expect_suspended(&mut unknown);
    let mut provider = MockCustodyProvider::new();
    provider.expect_forwards_to().return_const(false);
    provider
        .expect_lists_deposits_per_address()
        .return_const(false);
    let since = T0 - time::Duration::days(2);
    provider
        .expect_recent_deposits()
        .withf(move |assets, s| assets == [usdt_eth()] && *s == since)
        .times(1)
        .return_once(|_, _| {
            let mut elsewhere = verified(TransactionStatus::Completed);
            elsewhere.provider_ref = "provider-transfer-2".into();
            Ok(vec![
                Ok(Notification::Deposit(verified(
                    TransactionStatus::Completed,
                ))),
                Ok(Notification::Deposit(elsewhere)),
                Err(ProviderError::Malformed("transfer 3: zero".into())),
            ])
        });
    let report = service(uow_with(vec![missed, unknown]), provider)
        .reconcile(&[usdt_eth()], since)
        .await
        .unwrap();
    assert_eq!(report.applied.len(), 1);
    assert_eq!(report.applied[0].0, "provider-transfer-1");
    assert_eq!(report.applied[0].2, TransactionStatus::Completed);
    assert_eq!(log.commits(), 1);
    assert_eq!(
        log.wallets()
            .last()
            .unwrap()
            .balances
            .available
            .base_units(),
        AMOUNT
    );
    assert_eq!(
        report.not_applied,
        vec![(
            "provider-transfer-2".to_owned(),
            "unknown_deposit_address".to_owned(),
            report.not_applied[0].2.clone()
        )]
    );
    assert_eq!(report.unusable.len(), 1);
    assert_eq!(held.lock().unwrap()[0].provider_ref, "provider-transfer-2");
}

#[tokio::test]
async fn reconciling_a_deposit_already_credited_credits_nothing_more() {
    let mut tx = deposit_tx(
        receiving_wallet(AMOUNT, 0),
        Some(existing(TransactionStatus::Completed)),
    );
    forbid_writes(&mut tx);
    tx.expect_commit().returning(|| Ok(()));
    let mut provider = MockCustodyProvider::new();
    provider.expect_forwards_to().return_const(false);
    provider
        .expect_lists_deposits_per_address()
        .return_const(false);
    provider.expect_recent_deposits().return_once(|_, _| {
        Ok(vec![Ok(Notification::Deposit(verified(
            TransactionStatus::Completed,
        )))])
    });
    let report = service(uow_with(vec![tx]), provider)
        .reconcile(&[usdt_eth()], T0)
        .await
        .unwrap();
    assert_eq!(report.applied.len(), 1);
    assert!(report.not_applied.is_empty());
}

#[tokio::test]
async fn a_provider_that_cannot_list_fails_the_pass_and_changes_nothing() {
    let mut provider = MockCustodyProvider::new();
    provider.expect_forwards_to().return_const(false);
    provider
        .expect_lists_deposits_per_address()
        .return_const(false);
    provider
        .expect_recent_deposits()
        .return_once(|_, _| Err(ProviderError::Unavailable("timeout".into())));
    let err = service(uow_with(vec![]), provider)
        .reconcile(&[usdt_eth()], T0)
        .await
        .unwrap_err();
    assert!(err.is_retryable());
}
