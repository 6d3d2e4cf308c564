//! Withdrawals: funds leaving custody to an allow-listed address.
//!
//! The request's own transaction records the withdrawal (`Submitted`) and moves the amount
//! `available → held`; nothing is sent yet. A worker then hands it to the provider with our
//! transaction id as the provider-side idempotency reference ([`WithdrawalService::dispatch`]),
//! so a crash between "sent" and "recorded as sent" cannot send twice: the retry presents the
//! same reference. Provider progress is applied step by step through the state machine;
//! completion removes the held funds, failure or cancellation returns them.

use std::collections::BTreeMap;

use super::booking::{advance_to, book, emit};
use super::{commit_with, IdempotentWrite};
use crate::amount::Amount;
use crate::api_key::Scope;
use crate::caller::Caller;
use crate::error::{Error, ResourceKind};
use crate::event::EventType;
use crate::id::{AddressBookEntryId, TransactionId, WalletId};
use crate::page::{Page, PageRequest};
use crate::ports::{
    DynClock, DynCustodyProvider, DynIdGenerator, DynTransactionStore, DynUnitOfWork,
    ProviderError, ProviderTransfer, TransactionFilter, WithdrawalRequest,
};
use crate::text::Label;
use crate::transaction::{NewTransaction, Transaction, TransactionKind, TransactionStatus};

/// A withdrawal request (Platform `POST /v1/transactions/withdraw`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithdrawCommand {
    /// The debited wallet.
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
}

impl WithdrawalService {
    /// Wires the service.
    pub fn new(
        uow: DynUnitOfWork,
        transactions: DynTransactionStore,
        provider: DynCustodyProvider,
        clock: DynClock,
        ids: DynIdGenerator,
    ) -> WithdrawalService {
        WithdrawalService {
            uow,
            transactions,
            provider,
            clock,
            ids,
        }
    }

    /// Records a withdrawal and holds its funds.
    ///
    /// # Errors
    /// `MissingScope(withdrawals:write)`; `NotFound` wallet or entry; `Destination(..)` when the
    /// entry is deleted or for another network/asset; amount errors; `Vault(Frozen|Archived)`;
    /// `InsufficientFunds`; store errors. Nothing is written on error.
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
        let vault_id = wallet.vault_id;
        let entry = tx
            .lock_address_book_entry(caller.tenant_id, command.destination)
            .await
            .map_err(Error::from_store(ResourceKind::AddressBookEntry))?;
        entry.accepts(asset)?;
        let amount = Amount::parse(&command.amount, asset.decimals())?;
        tx.lock_vault(caller.tenant_id, vault_id)
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
        let movement = transaction
            .ledger_effect(transaction.status)
            .ok_or_else(|| Error::Internal("a withdrawal must hold funds".into()))?;
        tx.insert_transaction(&transaction).await?;
        emit(
            tx.as_mut(),
            self.ids.as_ref(),
            caller.tenant_id,
            EventType::TransactionCreated,
            &transaction,
            None,
            now,
        )
        .await?;
        book(
            tx.as_mut(),
            self.ids.as_ref(),
            &transaction,
            movement,
            &mut wallets,
            now,
        )
        .await?;
        commit_with(tx, caller.tenant_id, idempotency, &transaction).await?;
        Ok(transaction)
    }

    /// Cancels a withdrawal that has not been broadcast, returning its funds.
    ///
    /// # Errors
    /// `MissingScope(withdrawals:write)`; `NotFound`; `InvalidTransition` once broadcasting.
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
            return Err(Error::Refused {
                code: "not_a_withdrawal",
                message: "only withdrawals can be cancelled".into(),
            });
        }
        let now = self.clock.now();
        let mut wallets = lock_source(tx.as_mut(), &transaction).await?;
        advance_to(
            tx.as_mut(),
            self.ids.as_ref(),
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

    /// Lists transactions of any kind.
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

    /// Worker step: hands a `Submitted` withdrawal to the provider (idempotent on the
    /// transaction id) and applies what the provider reports. A provider outage leaves the
    /// withdrawal `Submitted` for the next attempt; a provider refusal fails it and releases
    /// the funds.
    ///
    /// # Errors
    /// `NotFound`; retryable `Provider` errors (nothing changed); store errors.
    pub async fn dispatch(&self, id: TransactionId) -> Result<Transaction, Error> {
        let transaction = self.read_for_worker(id).await?;
        if transaction.status != TransactionStatus::Submitted {
            return Ok(transaction);
        }
        let (Some(wallet_id), Some(destination)) = (
            transaction.source_wallet_id,
            transaction.destination_address.clone(),
        ) else {
            return Err(Error::Internal(format!(
                "withdrawal {id} has no source or destination"
            )));
        };
        let request = WithdrawalRequest {
            transaction_id: id,
            wallet_id,
            asset: transaction.asset,
            amount: transaction.amount,
            destination,
        };
        // The provider call happens outside any database transaction: it may take seconds, and
        // its idempotency on our id makes a repeat harmless.
        let report = match self.provider.submit_withdrawal(&request).await {
            Ok(report) => report,
            Err(e) if e.is_retryable() => return Err(e.into()),
            Err(ProviderError::Rejected(reason)) => ProviderTransfer {
                provider_ref: String::new(),
                status: TransactionStatus::Failed,
                tx_hash: None,
                failure_reason: Some(reason),
            },
            Err(e) => return Err(e.into()),
        };
        self.apply_provider_update(id, report).await
    }

    /// Applies a provider's report about a withdrawal: walks the state machine to the reported
    /// status (booking completion or release), records the provider reference and hash.
    /// Reports that are stale (behind the current status) or repeat it are ignored.
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
            return Ok(transaction);
        }
        if !report.provider_ref.is_empty() {
            transaction.provider_ref = Some(report.provider_ref);
        }
        transaction.tx_hash = report.tx_hash.or(transaction.tx_hash);
        transaction.failure_reason = report.failure_reason.or(transaction.failure_reason);
        let mut wallets = lock_source(tx.as_mut(), &transaction).await?;
        advance_to(
            tx.as_mut(),
            self.ids.as_ref(),
            &mut transaction,
            report.status,
            &mut wallets,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(transaction)
    }

    async fn read_for_worker(&self, id: TransactionId) -> Result<Transaction, Error> {
        let mut tx = self.uow.begin().await?;
        let transaction = tx
            .lock_transaction(None, id)
            .await
            .map_err(Error::from_store(ResourceKind::Transaction))?;
        Ok(transaction)
    }
}

async fn lock_source(
    tx: &mut dyn crate::ports::StoreTx,
    transaction: &Transaction,
) -> Result<BTreeMap<WalletId, crate::wallet::Wallet>, Error> {
    let wallet_id = transaction.source_wallet_id.ok_or_else(|| {
        Error::Internal(format!(
            "withdrawal {} has no source wallet",
            transaction.id
        ))
    })?;
    let wallet = tx.lock_wallet_by_id(wallet_id).await?;
    Ok(BTreeMap::from([(wallet.id, wallet)]))
}
