use std::sync::Arc;

use super::*;
use crate::amount::Amount;
use crate::error::Error;
use crate::event::EventType;
use crate::ledger::{sums_to_zero, Account, Posting};
use crate::ports::{MockStoreTx, MockUnitOfWork};
use crate::services::test_support::*;
use crate::transaction::TransactionStatus;
use crate::vault::{VaultRefusal, VaultStatus};
use crate::wallet::{Bucket, Wallet};

const USDT: u128 = 1_000_000; // base units per whole USDT

fn source() -> Wallet {
    funded_wallet(wallet_id(1), vault_id(1), usdt_eth(), 100 * USDT, 7, 3)
}

fn destination() -> Wallet {
    funded_wallet(wallet_id(2), vault_id(2), usdt_eth(), 10 * USDT, 0, 0)
}

fn command(amount: &str) -> TransferCommand {
    TransferCommand {
        from: wallet_id(1),
        to: wallet_id(2),
        amount: amount.to_owned(),
        reference: None,
    }
}

fn service(uow: MockUnitOfWork) -> TransferService {
    TransferService::new(Arc::new(uow), clock(), ids(), renderer())
}

/// A transaction that locks `wallets` (as the store returns them) and vaults with the
/// given statuses (vault 1 is the source's, vault 2 the destination's).
fn tx_with(
    wallets: Vec<Wallet>,
    source_vault: VaultStatus,
    dest_vault: VaultStatus,
) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_wallets()
        .withf(|tenant_id, ids| {
            *tenant_id == tenant() && ids.contains(&wallet_id(1)) && ids.contains(&wallet_id(2))
        })
        .times(1)
        .return_once(move |_, _| Ok(wallets));
    // Vaults are only checked, so they are shared, never locked exclusively.
    tx.expect_lock_vault().never();
    tx.expect_share_vault()
        .withf(|tenant_id, _| *tenant_id == tenant())
        .returning(move |_, id| {
            let status = if id == vault_id(1) {
                source_vault
            } else {
                dest_vault
            };
            Ok(vault(id, status))
        });
    tx
}

fn active_tx() -> MockStoreTx {
    tx_with(
        vec![source(), destination()],
        VaultStatus::Active,
        VaultStatus::Active,
    )
}

#[tokio::test]
async fn a_transfer_moves_available_funds_and_commits_once() {
    let mut tx = active_tx();
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let key = idempotency_key("transfer-1");
    let respond = |t: &Transaction| stored_response(201, t.id.to_string().as_str());
    let transaction = service(uow_with(vec![tx]))
        .transfer(
            &caller(),
            command("25.5"),
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap();

    let amount = Amount::from_base_units(25_500_000);
    assert_eq!(transaction.status, TransactionStatus::Completed);
    assert_eq!(transaction.kind, TransactionKind::Transfer);
    assert_eq!(transaction.amount, amount);
    assert_eq!(transaction.asset, usdt_eth());
    assert_eq!(transaction.tenant_id, tenant());
    assert_eq!(transaction.source_wallet_id, Some(wallet_id(1)));
    assert_eq!(transaction.destination_wallet_id, Some(wallet_id(2)));
    assert_eq!(log.inserted_transactions(), vec![transaction.clone()]);

    // Both wallets saved once, with the new balances; pending and held untouched.
    let wallets = log.wallets();
    assert_eq!(wallets.len(), 2, "{wallets:?}");
    let saved = |id| wallets.iter().find(|w| w.id == id).unwrap().clone();
    let (from, to) = (saved(wallet_id(1)), saved(wallet_id(2)));
    assert_eq!(
        from.balances.available.base_units(),
        100 * USDT - 25_500_000
    );
    assert_eq!(
        (
            from.balances.pending.base_units(),
            from.balances.held.base_units()
        ),
        (7, 3)
    );
    assert_eq!(to.balances.available.base_units(), 10 * USDT + 25_500_000);
    // Between two of the tenant's wallets: its total does not move, nothing is written.
    assert_eq!(log.totals(), Vec::new());
    assert_eq!((from.version, to.version), (2, 2));

    // One ledger append: available(A) −x, available(B) +x, summing to zero.
    let ledger = log.ledger();
    assert_eq!(ledger.len(), 1);
    let postings: Vec<Posting> = ledger[0].iter().map(|e| e.posting).collect();
    assert!(sums_to_zero(&postings));
    assert_eq!(
        postings,
        vec![
            Posting {
                account: Account::Wallet {
                    wallet_id: wallet_id(1),
                    bucket: Bucket::Available
                },
                delta: -25_500_000
            },
            Posting {
                account: Account::Wallet {
                    wallet_id: wallet_id(2),
                    bucket: Bucket::Available
                },
                delta: 25_500_000
            },
        ]
    );
    assert!(ledger[0].iter().all(|e| e.transaction_id == transaction.id));

    assert_eq!(
        log.event_types(),
        vec![
            EventType::TransactionCreated,
            EventType::BalanceUpdated,
            EventType::BalanceUpdated
        ]
    );

    // The idempotency record is written in the same transaction, just before the commit.
    let writes = log.all();
    assert_eq!(log.commits(), 1);
    assert!(matches!(writes.last(), Some(StoreWrite::Commit)));
    assert!(
        matches!(&writes[writes.len() - 2], StoreWrite::CompleteIdempotency(r) if r.status == 201 && r.body == transaction.id.to_string().into_bytes()),
        "{writes:?}"
    );
}

#[tokio::test]
async fn without_an_idempotency_key_no_record_is_written() {
    let mut tx = active_tx();
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    service(uow_with(vec![tx]))
        .transfer(&caller(), command("1"), None)
        .await
        .unwrap();
    assert!(!log
        .all()
        .iter()
        .any(|w| matches!(w, StoreWrite::CompleteIdempotency(_))));
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn an_overdraft_is_refused_and_nothing_is_committed() {
    let mut tx = active_tx();
    tx.expect_update_wallet().never();
    tx.expect_append_ledger().never();
    tx.expect_complete_idempotency().never();
    tx.expect_commit().never();
    // The transaction row and its event may be written before the balance check: the
    // rollback discards them.
    tx.expect_insert_transaction().returning(|_| Ok(()));
    tx.expect_append_event().returning(|_| Ok(()));
    let err = service(uow_with(vec![tx]))
        .transfer(&caller(), command("100.000001"), None)
        .await
        .unwrap_err();
    match err {
        Error::InsufficientFunds {
            available,
            requested,
        } => {
            assert_eq!(available.base_units(), 100 * USDT);
            assert_eq!(requested.base_units(), 100 * USDT + 1);
        }
        other => panic!("expected InsufficientFunds, got {other:?}"),
    }
}

#[tokio::test]
async fn the_whole_available_balance_can_be_sent() {
    let mut tx = active_tx();
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    service(uow_with(vec![tx]))
        .transfer(&caller(), command("100"), None)
        .await
        .unwrap();
    let from = log
        .wallets()
        .into_iter()
        .find(|w| w.id == wallet_id(1))
        .unwrap();
    assert!(from.balances.available.is_zero());
}

#[tokio::test]
async fn the_same_wallet_is_refused_without_touching_the_store() {
    let mut cmd = command("1");
    cmd.to = cmd.from;
    let err = service(uow_with(vec![]))
        .transfer(&caller(), cmd, None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "same_wallet",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn different_assets_are_refused() {
    let mut other = destination();
    other.asset = asset("USDC_ETHEREUM");
    let mut tx = tx_with(
        vec![source(), other],
        VaultStatus::Active,
        VaultStatus::Active,
    );
    forbid_writes(&mut tx);
    let err = service(uow_with(vec![tx]))
        .transfer(&caller(), command("1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "asset_mismatch",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wallet_of_another_tenant_is_not_found() {
    // The store leaves out the destination: it belongs to another tenant.
    let mut tx = tx_with(vec![source()], VaultStatus::Active, VaultStatus::Active);
    forbid_writes(&mut tx);
    let err = service(uow_with(vec![tx]))
        .transfer(&caller(), command("1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Wallet)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_frozen_source_vault_cannot_send() {
    let mut tx = tx_with(
        vec![source(), destination()],
        VaultStatus::Frozen,
        VaultStatus::Active,
    );
    forbid_writes(&mut tx);
    let err = service(uow_with(vec![tx]))
        .transfer(&caller(), command("1"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Vault(VaultRefusal::Frozen)), "{err:?}");
}

#[tokio::test]
async fn a_frozen_destination_vault_still_receives() {
    let mut tx = tx_with(
        vec![source(), destination()],
        VaultStatus::Active,
        VaultStatus::Frozen,
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let transaction = service(uow_with(vec![tx]))
        .transfer(&caller(), command("1"), None)
        .await
        .unwrap();
    assert_eq!(transaction.status, TransactionStatus::Completed);
    assert_eq!(log.wallets().len(), 2);
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn an_archived_destination_vault_is_refused() {
    let mut tx = tx_with(
        vec![source(), destination()],
        VaultStatus::Active,
        VaultStatus::Archived,
    );
    forbid_writes(&mut tx);
    let err = service(uow_with(vec![tx]))
        .transfer(&caller(), command("1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vault(VaultRefusal::Archived)),
        "{err:?}"
    );
}

#[tokio::test]
async fn malformed_amounts_are_field_errors() {
    for (amount, code) in [
        ("1.0000001", "amount_too_many_decimals"),
        ("0", "amount_zero"),
        ("0.000000", "amount_zero"),
        ("-1", "amount_signed"),
        ("1e3", "amount_exponent"),
    ] {
        let mut tx = active_tx();
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]))
            .transfer(&caller(), command(amount), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidField { field: "amount", code: c, .. } if c == code),
            "{amount}: {err:?}"
        );
    }
}

#[tokio::test]
async fn the_transfers_write_scope_is_required() {
    let err = service(uow_with(vec![]))
        .transfer(&caller_without(Scope::TransfersWrite), command("1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::TransfersWrite)),
        "{err:?}"
    );
}
