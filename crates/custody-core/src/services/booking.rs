//! Booking: applying a transaction's money movement to locked wallets, the ledger and the
//! outbox, inside the caller's database transaction.
//!
//! Every balance change in the product goes through [`book`], so "balances equal the ledger"
//! holds by construction: the same postings update the materialised balances and are appended
//! to the ledger, and each touched wallet emits `balance.updated`.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::error::Error;
use crate::event::{Event, EventType, Resource};
use crate::id::{EventId, TenantId, WalletId};
use crate::ledger::{self, Account, LedgerEntry, Movement};
use crate::ports::{IdGenerator, StoreTx};
use crate::transaction::{Transaction, TransactionStatus};
use crate::wallet::Wallet;

/// Appends an event about `resource` through the transaction.
pub(crate) async fn emit<R: Resource + Sync>(
    tx: &mut dyn StoreTx,
    ids: &dyn IdGenerator,
    tenant: TenantId,
    event_type: EventType,
    resource: &R,
    previous: Option<serde_json::Value>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let event = Event::new(
        EventId::from_ulid(ids.ulid()),
        tenant,
        event_type,
        resource,
        previous,
        now,
    )?;
    tx.append_event(&event).await?;
    Ok(())
}

/// Applies `movement` (caused by `transaction`) to the locked `wallets`: all postings or none.
/// Writes the new balances, the ledger entries and one `balance.updated` per touched wallet.
///
/// # Errors
/// [`Error::InsufficientFunds`] when a bucket would go negative (nothing is written);
/// store errors.
pub(crate) async fn book(
    tx: &mut dyn StoreTx,
    ids: &dyn IdGenerator,
    transaction: &Transaction,
    movement: Movement,
    wallets: &mut BTreeMap<WalletId, Wallet>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let postings = movement.postings()?;
    let mut balances: BTreeMap<WalletId, _> =
        wallets.iter().map(|(id, w)| (*id, w.balances)).collect();
    ledger::apply(&mut balances, &postings)?;

    let touched: Vec<WalletId> = postings
        .iter()
        .filter_map(|p| match p.account {
            Account::Wallet { wallet_id, .. } => Some(wallet_id),
            Account::External { .. } => None,
        })
        .collect();
    for wallet_id in dedup(touched) {
        let Some(wallet) = wallets.get_mut(&wallet_id) else {
            return Err(Error::Internal(format!("wallet {wallet_id} not locked")));
        };
        let Some(new_balances) = balances.get(&wallet_id) else {
            return Err(Error::Internal(format!(
                "wallet {wallet_id} lost its balances"
            )));
        };
        wallet.balances = *new_balances;
        wallet.touch(now);
        tx.update_wallet(wallet).await?;
        emit(
            tx,
            ids,
            transaction.tenant_id,
            EventType::BalanceUpdated,
            &*wallet,
            None,
            now,
        )
        .await?;
    }
    tx.append_ledger(&LedgerEntry::for_postings(
        transaction.id,
        transaction.asset,
        &postings,
        now,
    ))
    .await?;
    Ok(())
}

fn dedup(mut ids: Vec<WalletId>) -> Vec<WalletId> {
    ids.sort();
    ids.dedup();
    ids
}

/// Records a new transaction: inserts it, emits `transaction.created`, and books the movement
/// of its initial status (every kind moves money when created: a deposit credits `pending`, a
/// withdrawal holds, a transfer completes).
///
/// # Errors
/// `Internal` if the kind's initial status moves no money (a broken invariant); booking and
/// store errors.
pub(crate) async fn record_new(
    tx: &mut dyn StoreTx,
    ids: &dyn IdGenerator,
    transaction: &Transaction,
    wallets: &mut BTreeMap<WalletId, Wallet>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let movement = transaction
        .ledger_effect(transaction.status)
        .ok_or_else(|| {
            Error::Internal(format!(
                "a new {} must move funds",
                transaction.kind.as_str()
            ))
        })?;
    tx.insert_transaction(transaction).await?;
    emit(
        tx,
        ids,
        transaction.tenant_id,
        EventType::TransactionCreated,
        transaction,
        None,
        now,
    )
    .await?;
    book(tx, ids, transaction, movement, wallets, now).await
}

/// Moves `transaction` to `target` through every legal intermediate step, booking each step's
/// ledger effect and emitting `transaction.status.updated` per step. Saves the transaction.
///
/// # Errors
/// [`Error::InvalidTransition`] when `target` is not reachable; booking errors.
pub(crate) async fn advance_to(
    tx: &mut dyn StoreTx,
    ids: &dyn IdGenerator,
    transaction: &mut Transaction,
    target: TransactionStatus,
    wallets: &mut BTreeMap<WalletId, Wallet>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    advance_annotated(tx, ids, transaction, target, wallets, now, None).await
}

/// [`advance_to`], adding `annotation` to the last step's event under `previous_attributes`
/// (an operator's resolution: who and why, in the transaction's history).
///
/// # Errors
/// As [`advance_to`].
pub(crate) async fn advance_annotated(
    tx: &mut dyn StoreTx,
    ids: &dyn IdGenerator,
    transaction: &mut Transaction,
    target: TransactionStatus,
    wallets: &mut BTreeMap<WalletId, Wallet>,
    now: OffsetDateTime,
    annotation: Option<(&str, serde_json::Value)>,
) -> Result<(), Error> {
    let steps = transaction.status.path_to(target)?;
    let last = steps.len().saturating_sub(1);
    for (n, step) in steps.into_iter().enumerate() {
        let mut previous = serde_json::json!({ "status": transaction.status });
        if let (true, Some((key, value))) = (n == last, annotation.as_ref()) {
            previous[*key] = value.clone();
        }
        transaction.advance(step, now)?;
        if let Some(movement) = transaction.ledger_effect(step) {
            book(tx, ids, transaction, movement, wallets, now).await?;
        }
        emit(
            tx,
            ids,
            transaction.tenant_id,
            EventType::TransactionStatusUpdated,
            &*transaction,
            Some(previous),
            now,
        )
        .await?;
    }
    tx.update_transaction(transaction).await?;
    Ok(())
}
