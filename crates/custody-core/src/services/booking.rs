//! Booking: applying a transaction's money movement to locked wallets, the ledger and the
//! outbox, inside the caller's database transaction.
//!
//! Every balance change in the product goes through [`book`], so "balances equal the ledger"
//! holds by construction: the same postings update the materialised balances and are appended
//! to the ledger, and each touched wallet emits `balance.updated`.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::error::Error;
use crate::event::{Event, EventType, SnapshotRenderer, Subject};
use crate::id::{EventId, TenantId, WalletId};
use crate::ledger::{self, Account, LedgerEntry, Movement};
use crate::ports::{IdGenerator, StoreError, StoreTx};
use crate::totals::{self, SignedAmount};
use crate::transaction::{Transaction, TransactionStatus};
use crate::wallet::Wallet;

/// What a service needs to write events: ids for them and the renderer of their snapshots.
#[derive(Clone, Copy)]
pub(crate) struct Emitter<'a> {
    pub ids: &'a dyn IdGenerator,
    pub renderer: &'a dyn SnapshotRenderer,
}

/// Appends an event about `subject` (after the change; `before` is it before an update)
/// through the transaction.
pub(crate) async fn emit(
    tx: &mut dyn StoreTx,
    events: Emitter<'_>,
    tenant: TenantId,
    event_type: EventType,
    subject: Subject<'_>,
    before: Option<Subject<'_>>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let event = Event::new(
        EventId::from_ulid(events.ids.ulid()),
        tenant,
        event_type,
        subject,
        before,
        now,
        events.renderer,
    )?;
    tx.append_event(&event).await?;
    Ok(())
}

/// Appends an event about a wallet, rendered with its primary deposit address (as the Platform
/// API shows a wallet).
pub(crate) async fn emit_wallet(
    tx: &mut dyn StoreTx,
    events: Emitter<'_>,
    event_type: EventType,
    wallet: &Wallet,
    before: Option<&Wallet>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let deposit_address = match tx.find_primary_address(wallet.id).await {
        Ok(address) => Some(address),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    let deposit_address = deposit_address.as_ref();
    emit(
        tx,
        events,
        wallet.tenant_id,
        event_type,
        Subject::Wallet {
            wallet,
            deposit_address,
        },
        before.map(|wallet| Subject::Wallet {
            wallet,
            deposit_address,
        }),
        now,
    )
    .await
}

/// Applies `movement` (caused by `transaction`) to the locked `wallets`: all postings or none.
/// Writes the new balances, the ledger entries and one `balance.updated` per touched wallet.
///
/// # Errors
/// [`Error::InsufficientFunds`] when a bucket would go negative (nothing is written);
/// store errors.
pub(crate) async fn book(
    tx: &mut dyn StoreTx,
    events: Emitter<'_>,
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
    // The net change of `available` over the touched wallets (one asset per movement): what the
    // tenant-wide total of the asset moves by. A transfer between two of the tenant's wallets
    // changes nothing.
    let mut available_change = SignedAmount::ZERO;
    for wallet_id in dedup(touched) {
        let Some(wallet) = wallets.get_mut(&wallet_id) else {
            return Err(Error::Internal(format!("wallet {wallet_id} not locked")));
        };
        let Some(new_balances) = balances.get(&wallet_id) else {
            return Err(Error::Internal(format!(
                "wallet {wallet_id} lost its balances"
            )));
        };
        available_change = available_change
            .checked_add(SignedAmount::change(
                wallet.balances.available,
                new_balances.available,
            ))
            .ok_or_else(|| Error::Internal("a total's change beyond u128".into()))?;
        let before = wallet.clone();
        wallet.balances = *new_balances;
        wallet.touch(now);
        tx.update_wallet(wallet).await?;
        emit_wallet(
            tx,
            events,
            EventType::BalanceUpdated,
            wallet,
            Some(&before),
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
    if !available_change.is_zero() {
        // After the wallet updates and the ledger: the total's slot is the last row this unit
        // of work locks (see the lock order of `StoreTx`).
        tx.adjust_available_total(
            transaction.tenant_id,
            transaction.asset,
            totals::slot_of(transaction.id),
            available_change,
        )
        .await?;
    }
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
    events: Emitter<'_>,
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
        events,
        transaction.tenant_id,
        EventType::TransactionCreated,
        Subject::Transaction(transaction),
        None,
        now,
    )
    .await?;
    book(tx, events, transaction, movement, wallets, now).await
}

/// Moves `transaction` to `target` through every legal intermediate step, booking each step's
/// ledger effect and emitting `transaction.status.updated` per step. Saves the transaction.
///
/// # Errors
/// [`Error::InvalidTransition`] when `target` is not reachable; booking errors.
pub(crate) async fn advance_to(
    tx: &mut dyn StoreTx,
    events: Emitter<'_>,
    transaction: &mut Transaction,
    target: TransactionStatus,
    wallets: &mut BTreeMap<WalletId, Wallet>,
    now: OffsetDateTime,
) -> Result<(), Error> {
    advance_annotated(tx, events, transaction, target, wallets, now, None).await
}

/// [`advance_to`], adding `annotation` to the last step's event under `previousAttributes`
/// (an operator's resolution: who and why, in the transaction's history).
///
/// # Errors
/// As [`advance_to`].
pub(crate) async fn advance_annotated(
    tx: &mut dyn StoreTx,
    events: Emitter<'_>,
    transaction: &mut Transaction,
    target: TransactionStatus,
    wallets: &mut BTreeMap<WalletId, Wallet>,
    now: OffsetDateTime,
    annotation: Option<(&str, serde_json::Value)>,
) -> Result<(), Error> {
    let steps = transaction.status.path_to(target)?;
    let last = steps.len().saturating_sub(1);
    for (n, step) in steps.into_iter().enumerate() {
        let before = transaction.clone();
        transaction.advance(step, now)?;
        if let Some(movement) = transaction.ledger_effect(step) {
            book(tx, events, transaction, movement, wallets, now).await?;
        }
        let event = Event::new(
            EventId::from_ulid(events.ids.ulid()),
            transaction.tenant_id,
            EventType::TransactionStatusUpdated,
            Subject::Transaction(transaction),
            Some(Subject::Transaction(&before)),
            now,
            events.renderer,
        )?
        .annotated(
            annotation
                .as_ref()
                .filter(|_| n == last)
                .map(|(key, value)| (*key, value.clone())),
        );
        tx.append_event(&event).await?;
    }
    tx.update_transaction(transaction).await?;
    Ok(())
}
