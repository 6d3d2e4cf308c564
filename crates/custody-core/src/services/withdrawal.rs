//! Withdrawals: funds leaving custody to an allow-listed address.
//!
//! The request's own transaction records the withdrawal (`Submitted`) and moves the amount
//! `available → held`; nothing is sent yet. A worker then hands it to the provider with our
//! transaction id as the provider-side idempotency reference ([`WithdrawalService::dispatch`]),
//! so a crash between "sent" and "recorded as sent" cannot send twice: the retry presents the
//! same reference. Provider progress is applied step by step through the state machine;
//! completion removes the held funds, failure or cancellation returns them.
//!
//! Cancel versus dispatch: a withdrawal must never be cancelled (its funds returned) while the
//! provider may still send it. So [`WithdrawalService::dispatch`] first *claims* it, moving it
//! `Submitted → PendingSignature` and committing that before calling the provider, and a
//! partner [`cancel`](WithdrawalService::cancel) is allowed only while it is still `Submitted`
//! (not yet handed to the custodian); afterwards it is refused with
//! `Conflict(transaction_not_cancellable)`. Both lock the transaction row, so exactly one of them
//! wins. A claimed withdrawal without a `provider_ref` (the provider call failed or the process
//! crashed) is resent by the next dispatch, which the provider's idempotency makes harmless;
//! but since that earlier attempt may have executed, a resend that is refused (or that fails
//! the claim's re-checks) never releases the funds: the withdrawal is flagged for
//! reconciliation instead (`custody admin withdrawals stuck`).
//! The state machine itself still allows `PendingSignature → Cancelled`: a provider may report
//! a rejected approval, which is applied through
//! [`apply_provider_update`](WithdrawalService::apply_provider_update).

use std::collections::BTreeMap;

use super::booking::{advance_to, emit, record_new};
use super::{commit_with, IdempotentWrite};
use crate::amount::Amount;
use crate::api_key::Scope;
use crate::caller::Caller;
use crate::error::{Error, ResourceKind};
use crate::event::{EventType, Subject};
use crate::id::{AddressBookEntryId, TransactionId, WalletId};
use crate::page::{Page, PageRequest};
use crate::ports::{
    DynClock, DynCustodyProvider, DynIdGenerator, DynTransactionStore, DynUnitOfWork,
    ProviderError, ProviderTransfer, StoreTx, TransactionFilter, WithdrawalRequest,
};
use crate::tenant::TenantStatus;
use crate::text::Label;
use crate::transaction::{NewTransaction, Transaction, TransactionKind, TransactionStatus};
use crate::wallet::Wallet;

/// A withdrawal request (Platform `POST /v1/transactions/withdraw`).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawCommand {
    pub from: WalletId,
    /// The allow-listed destination.
    pub destination: AddressBookEntryId,
    /// The amount as the partner wrote it.
    pub amount: String,
    /// Partner note.
    pub reference: Option<Label>,
}

/// Withdrawal use cases.
#[derive(Clone)]
pub struct WithdrawalService {
    uow: DynUnitOfWork,
    transactions: DynTransactionStore,
    provider: DynCustodyProvider,
    clock: DynClock,
    ids: DynIdGenerator,
    renderer: crate::event::DynSnapshotRenderer,
}

impl WithdrawalService {
    /// Wires the service.
    pub fn new(
        uow: DynUnitOfWork,
        transactions: DynTransactionStore,
        provider: DynCustodyProvider,
        clock: DynClock,
        ids: DynIdGenerator,
        renderer: crate::event::DynSnapshotRenderer,
    ) -> WithdrawalService {
        WithdrawalService {
            uow,
            transactions,
            provider,
            clock,
            ids,
            renderer,
        }
    }

    fn events(&self) -> super::booking::Emitter<'_> {
        super::booking::Emitter {
            ids: self.ids.as_ref(),
            renderer: self.renderer.as_ref(),
        }
    }

    /// Records a withdrawal and holds its funds.
    ///
    /// # Errors
    /// `MissingScope(withdrawals:write)`; `NotFound` wallet or entry; `Destination(..)` when the
    /// entry is deleted or for another network/asset; amount errors; `Vault(Frozen|Archived)`;
    /// `InsufficientFunds`; `Refused(asset_not_withdrawable)` when the environment's provider
    /// cannot send the asset at all; store errors. Nothing is written on error.
    pub async fn submit(
        &self,
        caller: &Caller,
        command: WithdrawCommand,
        idempotency: Option<IdempotentWrite<'_, Transaction>>,
    ) -> Result<Transaction, Error> {
        caller.require(Scope::WithdrawalsWrite)?;
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let mut wallets: BTreeMap<WalletId, _> = tx
            .lock_wallets(caller.tenant_id, &[command.from])
            .await?
            .into_iter()
            .map(|w| (w.id, w))
            .collect();
        let wallet = wallets
            .get(&command.from)
            .ok_or(Error::NotFound(ResourceKind::Wallet))?;
        let asset = wallet.asset;
        // A withdrawal this deployment could never send (Rhino is deposit-only; BitGo with
        // withdrawals disabled) is refused now, before anything is held.
        self.provider
            .can_withdraw(asset)
            .map_err(|refusal| Error::Refused {
                code: "asset_not_withdrawable",
                message: format!(
                    "{asset} cannot be withdrawn in this environment: {}",
                    match refusal {
                        ProviderError::Rejected(why) => why,
                        other => other.to_string(),
                    }
                ),
            })?;
        let vault_id = wallet.vault_id;
        let entry = tx
            .lock_address_book_entry(caller.tenant_id, command.destination)
            .await
            .map_err(Error::from_store(ResourceKind::AddressBookEntry))?;
        entry.accepts_at(asset, now)?;
        let amount = Amount::parse(&command.amount, asset.decimals())?;
        // Status check only: a shared lock, after the wallet (money-movement order).
        tx.share_vault(caller.tenant_id, vault_id)
            .await
            .map_err(Error::from_store(ResourceKind::Vault))?
            .ensure_can_send()?;

        let mut transaction = Transaction::new(
            NewTransaction {
                id: TransactionId::from_ulid(self.ids.ulid()),
                tenant_id: caller.tenant_id,
                kind: TransactionKind::Withdrawal,
                asset,
                amount,
                source_wallet_id: Some(command.from),
                destination_wallet_id: None,
                reference: command.reference,
            },
            now,
        );
        transaction.address_book_entry_id = Some(entry.id);
        transaction.destination_address = Some(entry.address.clone());
        record_new(tx.as_mut(), self.events(), &transaction, &mut wallets, now).await?;
        commit_with(tx, caller.tenant_id, idempotency, &transaction).await?;
        Ok(transaction)
    }

    /// Cancels a withdrawal that has not been handed to the custodian yet (`Submitted`),
    /// returning its funds.
    ///
    /// # Errors
    /// `MissingScope(withdrawals:write)`; `NotFound`; `Conflict(transaction_not_cancellable)`
    /// for anything but a `Submitted` withdrawal: a deposit or transfer, a withdrawal a dispatch
    /// has claimed (any non-final status after `Submitted`), or one already final.
    pub async fn cancel(
        &self,
        caller: &Caller,
        id: TransactionId,
        idempotency: Option<IdempotentWrite<'_, Transaction>>,
    ) -> Result<Transaction, Error> {
        caller.require(Scope::WithdrawalsWrite)?;
        let mut tx = self.uow.begin().await?;
        let mut transaction = tx
            .lock_transaction(Some(caller.tenant_id), id)
            .await
            .map_err(Error::from_store(ResourceKind::Transaction))?;
        if transaction.kind != TransactionKind::Withdrawal {
            return Err(not_cancellable(format!(
                "only withdrawals can be cancelled; this is a {}",
                transaction.kind.as_str()
            )));
        }
        // Once dispatch has claimed it (PendingSignature onwards) the provider may be sending
        // it: returning the funds now could pay twice. We hold the transaction's row lock, so a
        // claim cannot commit between this check and our commit.
        if transaction.status.is_terminal() {
            return Err(not_cancellable(format!(
                "the withdrawal is already {} and can no longer be cancelled",
                transaction.status
            )));
        }
        if transaction.status != TransactionStatus::Submitted {
            return Err(not_cancellable(
                "the withdrawal has been handed to the custodian and can no longer be cancelled"
                    .into(),
            ));
        }
        let now = self.clock.now();
        let mut wallets = lock_source(tx.as_mut(), &transaction).await?;
        advance_to(
            tx.as_mut(),
            self.events(),
            &mut transaction,
            TransactionStatus::Cancelled,
            &mut wallets,
            now,
        )
        .await?;
        commit_with(tx, caller.tenant_id, idempotency, &transaction).await?;
        Ok(transaction)
    }

    /// Reads one transaction of any kind.
    ///
    /// # Errors
    /// `MissingScope(transactions:read)`; `NotFound`.
    pub async fn get(&self, caller: &Caller, id: TransactionId) -> Result<Transaction, Error> {
        caller.require(Scope::TransactionsRead)?;
        self.transactions
            .get(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Transaction))
    }

    /// Lists transactions of any kind matching `filter` (the filter is part of the store's
    /// query; check a `vault_id` is the caller's first: another tenant's matches nothing).
    ///
    /// # Errors
    /// `MissingScope(transactions:read)`; store errors.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<Transaction>, Error> {
        caller.require(Scope::TransactionsRead)?;
        Ok(self
            .transactions
            .list(caller.tenant_id, filter, page)
            .await?)
    }

    /// Worker step: hands a withdrawal to the provider (idempotent on the transaction id) and
    /// applies what the provider reports.
    ///
    /// 1. Claim, in one committed transaction: a `Submitted` withdrawal is re-checked (its
    ///    vault neither frozen nor archived, its address-book entry active now, its tenant not
    ///    suspended) and moves to `PendingSignature` (with its `transaction.status.updated`
    ///    event) *before* the provider is called, so a partner cancel can no longer return its
    ///    funds; a failed re-check fails it instead and releases the funds, and nothing is
    ///    sent. A `PendingSignature` one without `provider_ref` was claimed by an earlier
    ///    attempt that did not get an answer, and is resent after the same re-checks; since
    ///    that earlier attempt may have reached the provider, a failed re-check here only flags
    ///    it for reconciliation (funds stay held). Anything else (answered, flagged, final) is
    ///    returned unchanged, without a provider call.
    /// 2. The provider call, outside any database transaction. An outage leaves the withdrawal
    ///    `PendingSignature` without `provider_ref` for the next attempt. A refusal of the
    ///    *first* send after a fresh claim proves nothing was sent: it fails the withdrawal and
    ///    releases the funds. A refusal of a *re*send proves nothing (the first send may have
    ///    executed): the funds stay held and the withdrawal is flagged for reconciliation. An
    ///    answer is applied with [`apply_provider_update`](WithdrawalService::apply_provider_update).
    ///
    /// # Errors
    /// `NotFound`; retryable `Provider` errors (only the claim was committed); store errors.
    pub async fn dispatch(&self, id: TransactionId) -> Result<Transaction, Error> {
        let (request, first_send) = match self.claim(id).await? {
            Claim::Send {
                request,
                first_send,
            } => (request, first_send),
            Claim::Skip(unchanged) => return Ok(*unchanged),
        };
        // The provider call happens outside any database transaction: it may take seconds, and
        // its idempotency on our id makes a repeat harmless.
        let report = match self.provider.submit_withdrawal(&request).await {
            Ok(report) => report,
            // The claim stays committed, without a provider reference: the next pass resends.
            Err(e) if e.is_retryable() => return Err(e.into()),
            // Refused on the first hand-over: nothing was sent, the funds can be released.
            Err(ProviderError::Rejected(reason)) if first_send => ProviderTransfer {
                provider_ref: String::new(),
                status: TransactionStatus::Failed,
                tx_hash: None,
                failure_reason: Some(reason),
                confirmations: None,
                outcome_ambiguous: false,
            },
            // Handed over, outcome unknown: never resent, never failed. Flagged with the funds
            // held; the worker's status reads (by our id) settle it, or an operator does.
            Err(ProviderError::OutcomeUnknown(reason)) => {
                return self
                    .flag(id, &format!("outcome unknown after hand-over: {reason}"))
                    .await
            }
            // Refused on a resend: the first send may have executed. Keep the funds held.
            Err(ProviderError::Rejected(reason)) => {
                return self
                    .flag(
                        id,
                        &format!(
                            "the provider refused a resend ({reason}); an earlier send may \
                             have executed"
                        ),
                    )
                    .await
            }
            Err(e) => return Err(e.into()),
        };
        self.apply_provider_update(id, report).await
    }

    /// Worker step for a withdrawal the provider has answered: reads its state from the
    /// provider and applies it with
    /// [`apply_provider_update`](WithdrawalService::apply_provider_update). A final or
    /// non-withdrawal transaction is returned unchanged, without a provider call.
    ///
    /// # Errors
    /// `NotFound`; `Provider` errors (nothing changed); as `apply_provider_update`.
    pub async fn poll(&self, id: TransactionId) -> Result<Transaction, Error> {
        let transaction = {
            // A read under the row lock, released at once (dropped without writing).
            let mut tx = self.uow.begin().await?;
            tx.lock_transaction(None, id)
                .await
                .map_err(Error::from_store(ResourceKind::Transaction))?
        };
        if transaction.kind != TransactionKind::Withdrawal || transaction.status.is_terminal() {
            return Ok(transaction);
        }
        let request = request_for(&transaction)?;
        let report = self.provider.withdrawal_status(&request).await?;
        self.apply_provider_update(id, report).await
    }

    /// Flags a withdrawal whose outcome is unknown for reconciliation; its funds stay held
    /// and it is never resent.
    async fn flag(&self, id: TransactionId, reason: &str) -> Result<Transaction, Error> {
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let mut transaction = tx
            .lock_transaction(None, id)
            .await
            .map_err(Error::from_store(ResourceKind::Transaction))?;
        if transaction.status.is_terminal() || transaction.reconciliation_reason.is_some() {
            return Ok(transaction);
        }
        tx.flag_for_reconciliation(id, reason, now).await?;
        tx.commit().await?;
        transaction.reconciliation_reason = Some(reason.to_owned());
        Ok(transaction)
    }

    /// Step 1 of [`dispatch`](WithdrawalService::dispatch): claims the withdrawal, or says it
    /// must not be sent (already answered by the provider, flagged, final, or refused by the
    /// re-checks).
    async fn claim(&self, id: TransactionId) -> Result<Claim, Error> {
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let mut transaction = tx
            .lock_transaction(None, id)
            .await
            .map_err(Error::from_store(ResourceKind::Transaction))?;
        let first_send = match transaction.status {
            TransactionStatus::Submitted => true,
            // Claimed before, but the provider's answer was never recorded: resend, unless it
            // awaits reconciliation.
            TransactionStatus::PendingSignature
                if transaction.provider_ref.is_none()
                    && transaction.reconciliation_reason.is_none() =>
            {
                false
            }
            _ => return Ok(Claim::Skip(Box::new(transaction))),
        };
        // Built before claiming, so a malformed withdrawal is not left claimed.
        let request = request_for(&transaction)?;
        // Re-checks, in the lock order: source wallet, entry, vault (shared), tenant (shared).
        let mut wallets = lock_source(tx.as_mut(), &transaction).await?;
        if let Some(refusal) = self
            .recheck(tx.as_mut(), &transaction, &wallets, now)
            .await?
        {
            if first_send {
                // Nothing was sent: fail it and release the funds, in this transaction.
                transaction.failure_reason = Some(refusal);
                advance_to(
                    tx.as_mut(),
                    self.events(),
                    &mut transaction,
                    TransactionStatus::Failed,
                    &mut wallets,
                    now,
                )
                .await?;
                tx.commit().await?;
                return Ok(Claim::Skip(Box::new(transaction)));
            }
            // An earlier attempt may have reached the provider: hold, flag, do not send.
            let reason = format!("not resent: {refusal}; an earlier send may have executed");
            tx.flag_for_reconciliation(id, &reason, now).await?;
            tx.commit().await?;
            transaction.reconciliation_reason = Some(reason);
            return Ok(Claim::Skip(Box::new(transaction)));
        }
        if first_send {
            // Entering PendingSignature moves no money.
            let mut no_wallets = BTreeMap::new();
            advance_to(
                tx.as_mut(),
                self.events(),
                &mut transaction,
                TransactionStatus::PendingSignature,
                &mut no_wallets,
                now,
            )
            .await?;
            // Committed before the provider is called: from here on a cancel is refused.
            tx.commit().await?;
        }
        // A resend writes nothing: dropping the transaction releases the row locks.
        Ok(Claim::Send {
            request,
            first_send,
        })
    }

    /// Why the withdrawal must not be sent now, if it must not: its vault is frozen or
    /// archived, its address-book entry is deleted or not yet active, or its tenant is
    /// suspended.
    async fn recheck(
        &self,
        tx: &mut dyn StoreTx,
        transaction: &Transaction,
        wallets: &BTreeMap<WalletId, Wallet>,
        now: time::OffsetDateTime,
    ) -> Result<Option<String>, Error> {
        let tenant = transaction.tenant_id;
        if let Some(entry_id) = transaction.address_book_entry_id {
            let entry = tx
                .lock_address_book_entry(tenant, entry_id)
                .await
                .map_err(Error::from_store(ResourceKind::AddressBookEntry))?;
            if let Err(refusal) = entry.accepts_at(transaction.asset, now) {
                return Ok(Some(format!("{}: {refusal}", refusal.code())));
            }
        }
        for wallet in wallets.values() {
            let vault = tx
                .share_vault(tenant, wallet.vault_id)
                .await
                .map_err(Error::from_store(ResourceKind::Vault))?;
            if let Err(refusal) = vault.ensure_can_send() {
                return Ok(Some(format!("{}: {refusal}", refusal.code())));
            }
        }
        let policy = tx.share_tenant_policy(tenant).await?;
        if policy.status == TenantStatus::Suspended {
            return Ok(Some("tenant_suspended: the tenant is suspended".to_owned()));
        }
        Ok(None)
    }

    /// Applies a provider's report about a withdrawal: walks the state machine to the reported
    /// status (booking completion or release), records the provider reference and hash.
    /// Reports that are stale (behind the current status) or repeat it are ignored, except
    /// that a claimed `PendingSignature` withdrawal records the provider reference it lacks.
    ///
    /// # Errors
    /// `NotFound`; `InvalidTransition` when the report contradicts a terminal status.
    pub async fn apply_provider_update(
        &self,
        id: TransactionId,
        report: ProviderTransfer,
    ) -> Result<Transaction, Error> {
        let now = self.clock.now();
        let mut tx = self.uow.begin().await?;
        let mut transaction = tx
            .lock_transaction(None, id)
            .await
            .map_err(Error::from_store(ResourceKind::Transaction))?;
        if transaction.status == report.status || transaction.status.is_stale_report(report.status)
        {
            // Except: the provider's answer to our own dispatch usually repeats the
            // PendingSignature the claim committed, and its reference is still news: it is
            // what tells the next dispatch the withdrawal was handed over (not to resend).
            // The version moves, so partners are told (`transaction.status.updated`, as for a
            // deposit's new confirmations), although the status is the same.
            let answers_our_claim = transaction.status == TransactionStatus::PendingSignature
                && transaction.provider_ref.is_none()
                && !report.provider_ref.is_empty();
            // Likewise a confirming withdrawal's new confirmations (a new block).
            let deeper = transaction.status == report.status
                && report.confirmations.is_some()
                && report.confirmations != transaction.confirmations;
            if !answers_our_claim && !deeper {
                return Ok(transaction);
            }
            let before = transaction.clone();
            if answers_our_claim {
                transaction.provider_ref = Some(report.provider_ref);
            }
            if deeper {
                transaction.confirmations = report.confirmations;
            }
            transaction.tx_hash = report.tx_hash.or(transaction.tx_hash);
            transaction.version += 1;
            transaction.updated_at = now;
            tx.update_transaction(&transaction).await?;
            emit(
                tx.as_mut(),
                self.events(),
                transaction.tenant_id,
                EventType::TransactionStatusUpdated,
                Subject::Transaction(&transaction),
                Some(Subject::Transaction(&before)),
                now,
            )
            .await?;
            tx.commit().await?;
            return Ok(transaction);
        }
        if matches!(
            report.status,
            TransactionStatus::Failed | TransactionStatus::Cancelled
        ) && !transaction.status.is_terminal()
            && (report.outcome_ambiguous || transaction.status.transition(report.status).is_err())
        {
            // The provider gives up on a withdrawal it may already have sent (a dropped
            // broadcast may still be mined; a cancel after broadcasting is not a state we can
            // take): releasing the hold could pay twice. Keep it held and ask an operator.
            drop(tx);
            return self
                .flag(
                    id,
                    &format!(
                        "the provider reported {} while {} ({}); whether funds left is \
                         ambiguous",
                        report.status,
                        transaction.status,
                        report
                            .failure_reason
                            .as_deref()
                            .unwrap_or("no reason given")
                    ),
                )
                .await;
        }
        if !report.provider_ref.is_empty() {
            transaction.provider_ref = Some(report.provider_ref);
        }
        transaction.tx_hash = report.tx_hash.or(transaction.tx_hash);
        transaction.failure_reason = report.failure_reason.or(transaction.failure_reason);
        transaction.confirmations = report.confirmations.or(transaction.confirmations);
        let mut wallets = lock_source(tx.as_mut(), &transaction).await?;
        advance_to(
            tx.as_mut(),
            self.events(),
            &mut transaction,
            report.status,
            &mut wallets,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(transaction)
    }
}

/// Why a cancel was refused: 409, one code for every status but `Submitted`.
fn not_cancellable(message: String) -> Error {
    Error::Conflict {
        code: "transaction_not_cancellable",
        message,
    }
}

/// What [`WithdrawalService::dispatch`]'s claim decided.
enum Claim {
    /// Hand this request to the provider (the withdrawal is claimed). `first_send`: this call
    /// made the claim, so nothing can have been sent before.
    Send {
        request: WithdrawalRequest,
        first_send: bool,
    },
    /// Do not call the provider; the withdrawal as it is (boxed: it is much larger).
    Skip(Box<Transaction>),
}

/// What the provider is handed for a withdrawal.
fn request_for(transaction: &Transaction) -> Result<WithdrawalRequest, Error> {
    let (Some(wallet_id), Some(destination)) = (
        transaction.source_wallet_id,
        transaction.destination_address.clone(),
    ) else {
        return Err(Error::Internal(format!(
            "withdrawal {} has no source or destination",
            transaction.id
        )));
    };
    Ok(WithdrawalRequest {
        transaction_id: transaction.id,
        wallet_id,
        asset: transaction.asset,
        amount: transaction.amount,
        destination,
        recorded_at: transaction.created_at,
        provider_ref: transaction.provider_ref.clone(),
    })
}

async fn lock_source(
    tx: &mut dyn StoreTx,
    transaction: &Transaction,
) -> Result<BTreeMap<WalletId, Wallet>, Error> {
    let wallet_id = transaction.source_wallet_id.ok_or_else(|| {
        Error::Internal(format!(
            "withdrawal {} has no source wallet",
            transaction.id
        ))
    })?;
    let wallet = tx.lock_wallet_by_id(wallet_id).await?;
    Ok(BTreeMap::from([(wallet.id, wallet)]))
}

#[cfg(test)]
mod tests;
