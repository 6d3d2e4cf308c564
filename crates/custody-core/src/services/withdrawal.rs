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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::address_book::{AddressBookEntry, DestinationRefusal, EntryStatus};
    use crate::api_key::Scope;
    use crate::asset::Network;
    use crate::chain_address::ChainAddress;
    use crate::event::EventType;
    use crate::id::TenantId;
    use crate::ledger::{sums_to_zero, Account, Posting};
    use crate::ports::{MockCustodyProvider, MockStoreTx, MockTransactionStore, MockUnitOfWork};
    use crate::services::test_support::*;
    use crate::vault::{VaultRefusal, VaultStatus};
    use crate::wallet::{Bucket, Wallet};

    const USDT: u128 = 1_000_000;
    const AMOUNT: u128 = 40 * USDT;

    fn entry_id() -> AddressBookEntryId {
        AddressBookEntryId::from_ulid(ulid::Ulid::from_parts(1_714_564_800_000, 0xabe_0001))
    }

    fn entry(network: Network, status: EntryStatus) -> AddressBookEntry {
        AddressBookEntry {
            id: entry_id(),
            tenant_id: tenant(),
            network,
            address: ChainAddress::parse(network, "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed")
                .unwrap(),
            label: Label::parse("cold wallet").unwrap(),
            asset: None,
            status,
            version: 1,
            created_at: T0,
            deleted_at: None,
        }
    }

    /// The source wallet before a withdrawal: 100 USDT available.
    fn fresh_wallet() -> Wallet {
        funded_wallet(wallet_id(1), vault_id(1), usdt_eth(), 100 * USDT, 0, 0)
    }

    /// The source wallet while a 40 USDT withdrawal is in flight.
    fn holding_wallet() -> Wallet {
        funded_wallet(wallet_id(1), vault_id(1), usdt_eth(), 60 * USDT, 0, AMOUNT)
    }

    /// A 40 USDT withdrawal from wallet 1, walked to `status` along the state machine.
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
        t.address_book_entry_id = Some(entry_id());
        t.destination_address = Some(entry(Network::Ethereum, EntryStatus::Active).address);
        for step in TransactionStatus::Submitted
            .path_to(status)
            .unwrap_or_default()
        {
            t.advance(step, T0).unwrap();
        }
        assert_eq!(t.status, status, "fixture must reach {status}");
        t
    }

    fn command(amount: &str) -> WithdrawCommand {
        WithdrawCommand {
            from: wallet_id(1),
            destination: entry_id(),
            amount: amount.to_owned(),
            reference: None,
        }
    }

    fn service(uow: MockUnitOfWork, provider: MockCustodyProvider) -> WithdrawalService {
        WithdrawalService::new(
            Arc::new(uow),
            Arc::new(MockTransactionStore::new()),
            Arc::new(provider),
            clock(),
            ids(),
        )
    }

    /// A provider that must not be called.
    fn idle_provider() -> MockCustodyProvider {
        let mut provider = MockCustodyProvider::new();
        provider.expect_submit_withdrawal().never();
        provider
    }

    /// The locks `submit` takes, returning these rows.
    fn submit_tx(
        wallet: Wallet,
        entry: AddressBookEntry,
        vault_status: VaultStatus,
    ) -> MockStoreTx {
        let mut tx = MockStoreTx::new();
        tx.expect_lock_wallets()
            .withf(|t, ids| *t == tenant() && ids == [wallet_id(1)])
            .times(1)
            .return_once(move |_, _| Ok(vec![wallet]));
        tx.expect_lock_address_book_entry()
            .withf(|t, id| *t == tenant() && *id == entry_id())
            .return_once(move |_, _| Ok(entry));
        tx.expect_lock_vault()
            .withf(|t, id| *t == tenant() && *id == vault_id(1))
            .return_once(move |_, id| Ok(vault(id, vault_status)));
        tx
    }

    /// A transaction in which `transaction` (locked with `tenant`) and its source wallet are read.
    fn locked_tx(
        tenant: Option<TenantId>,
        transaction: Transaction,
        wallet: Wallet,
    ) -> MockStoreTx {
        let mut tx = MockStoreTx::new();
        let id = transaction.id;
        tx.expect_lock_transaction()
            .withf(move |t, i| *t == tenant && *i == id)
            .times(1)
            .return_once(move |_, _| Ok(transaction));
        tx.expect_lock_wallet_by_id()
            .withf(|id| *id == wallet_id(1))
            .return_once(move |_| Ok(wallet));
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

    // --- submit ---------------------------------------------------------------------------

    #[tokio::test]
    async fn submit_holds_the_funds_and_records_the_destination() {
        let mut tx = submit_tx(
            fresh_wallet(),
            entry(Network::Ethereum, EntryStatus::Active),
            VaultStatus::Active,
        );
        let log = record_writes(&mut tx);
        record_commit(&mut tx, &log);
        let key = idempotency_key("withdraw-1");
        let respond = |_: &Transaction| stored_response(201, "{}");
        let t = service(uow_with(vec![tx]), idle_provider())
            .submit(
                &caller(),
                command("40"),
                Some(IdempotentWrite {
                    key: &key,
                    respond: &respond,
                }),
            )
            .await
            .unwrap();

        assert_eq!(t.status, TransactionStatus::Submitted);
        assert_eq!(t.kind, TransactionKind::Withdrawal);
        assert_eq!(t.amount, Amount::from_base_units(AMOUNT));
        assert_eq!(t.address_book_entry_id, Some(entry_id()));
        assert_eq!(
            t.destination_address.as_ref().map(ChainAddress::as_str),
            Some("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        );
        assert_eq!(log.inserted_transactions(), vec![t.clone()]);

        let wallets = log.wallets();
        assert_eq!(wallets.len(), 1);
        assert_eq!(wallets[0].balances.available.base_units(), 60 * USDT);
        assert_eq!(wallets[0].balances.held.base_units(), AMOUNT);
        assert_eq!(wallets[0].balances.pending.base_units(), 0);

        let postings = ledger_postings(&log);
        assert_eq!(
            postings,
            vec![vec![
                posting(Some(Bucket::Available), -(AMOUNT as i128)),
                posting(Some(Bucket::Held), AMOUNT as i128),
            ]]
        );
        assert!(sums_to_zero(&postings[0]));
        assert_eq!(
            log.event_types(),
            vec![EventType::TransactionCreated, EventType::BalanceUpdated]
        );
        let writes = log.all();
        assert!(matches!(writes.last(), Some(StoreWrite::Commit)));
        assert!(matches!(
            writes[writes.len() - 2],
            StoreWrite::CompleteIdempotency(_)
        ));
    }

    #[tokio::test]
    async fn submit_to_a_deleted_entry_is_refused() {
        let mut tx = submit_tx(
            fresh_wallet(),
            entry(Network::Ethereum, EntryStatus::Deleted),
            VaultStatus::Active,
        );
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]), idle_provider())
            .submit(&caller(), command("1"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Destination(DestinationRefusal::Inactive)),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn submit_to_an_entry_on_another_network_is_refused() {
        let mut tx = submit_tx(
            fresh_wallet(),
            entry(Network::Base, EntryStatus::Active),
            VaultStatus::Active,
        );
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]), idle_provider())
            .submit(&caller(), command("1"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Destination(DestinationRefusal::NetworkMismatch {
                    entry: Network::Base,
                    asset: Network::Ethereum
                })
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn submit_beyond_the_available_balance_is_refused() {
        // Pending and held funds are not spendable: 100 available + 50 pending + 50 held.
        let wallet = funded_wallet(
            wallet_id(1),
            vault_id(1),
            usdt_eth(),
            100 * USDT,
            50 * USDT,
            50 * USDT,
        );
        let mut tx = submit_tx(
            wallet,
            entry(Network::Ethereum, EntryStatus::Active),
            VaultStatus::Active,
        );
        tx.expect_insert_transaction().returning(|_| Ok(()));
        tx.expect_append_event().returning(|_| Ok(()));
        tx.expect_update_wallet().never();
        tx.expect_append_ledger().never();
        tx.expect_commit().never();
        let err = service(uow_with(vec![tx]), idle_provider())
            .submit(&caller(), command("100.5"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InsufficientFunds { .. }), "{err:?}");
    }

    #[tokio::test]
    async fn submit_from_a_frozen_vault_is_refused() {
        let mut tx = submit_tx(
            fresh_wallet(),
            entry(Network::Ethereum, EntryStatus::Active),
            VaultStatus::Frozen,
        );
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]), idle_provider())
            .submit(&caller(), command("1"), None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Vault(VaultRefusal::Frozen)), "{err:?}");
    }

    #[tokio::test]
    async fn submit_needs_the_withdrawals_write_scope() {
        let err = service(uow_with(vec![]), idle_provider())
            .submit(&caller_without(Scope::WithdrawalsWrite), command("1"), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MissingScope(Scope::WithdrawalsWrite)),
            "{err:?}"
        );
    }

    // --- cancel ---------------------------------------------------------------------------

    #[tokio::test]
    async fn cancel_releases_the_held_funds() {
        let mut tx = locked_tx(
            Some(tenant()),
            withdrawal(TransactionStatus::Submitted),
            holding_wallet(),
        );
        let log = record_writes(&mut tx);
        record_commit(&mut tx, &log);
        let t = service(uow_with(vec![tx]), idle_provider())
            .cancel(&caller(), transaction_id(1), None)
            .await
            .unwrap();

        assert_eq!(t.status, TransactionStatus::Cancelled);
        assert_eq!(t.version, 2);
        assert_eq!(log.updated_transactions(), vec![t.clone()]);
        let wallets = log.wallets();
        assert_eq!(wallets.len(), 1);
        assert_eq!(wallets[0].balances.available.base_units(), 100 * USDT);
        assert!(wallets[0].balances.held.is_zero());
        assert_eq!(
            ledger_postings(&log),
            vec![vec![
                posting(Some(Bucket::Held), -(AMOUNT as i128)),
                posting(Some(Bucket::Available), AMOUNT as i128),
            ]]
        );
        let events = log.events();
        assert_eq!(
            log.event_types(),
            vec![
                EventType::BalanceUpdated,
                EventType::TransactionStatusUpdated
            ]
        );
        assert_eq!(
            events[1].previous_attributes,
            Some(serde_json::json!({ "status": "Submitted" }))
        );
        assert_eq!(events[1].data.snapshot["status"], "Cancelled");
        assert_eq!(log.commits(), 1);
    }

    #[tokio::test]
    async fn cancel_is_refused_once_broadcasting() {
        let mut tx = locked_tx(
            Some(tenant()),
            withdrawal(TransactionStatus::Broadcasting),
            holding_wallet(),
        );
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]), idle_provider())
            .cancel(&caller(), transaction_id(1), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidTransition { from, to, .. } if from == "Broadcasting" && to == "Cancelled"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn cancel_refuses_a_deposit() {
        let mut deposit = withdrawal(TransactionStatus::Submitted);
        deposit.kind = TransactionKind::Deposit;
        let mut tx = MockStoreTx::new();
        tx.expect_lock_transaction()
            .return_once(move |_, _| Ok(deposit));
        tx.expect_lock_wallet_by_id().never();
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]), idle_provider())
            .cancel(&caller(), transaction_id(1), None)
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Refused {
                    code: "not_a_withdrawal",
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn cancel_of_an_unknown_or_foreign_transaction_is_not_found() {
        let mut tx = MockStoreTx::new();
        tx.expect_lock_transaction()
            .withf(|t, _| *t == Some(tenant()))
            .return_once(|_, _| Err(crate::ports::StoreError::NotFound));
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]), idle_provider())
            .cancel(&caller(), transaction_id(1), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::NotFound(ResourceKind::Transaction)),
            "{err:?}"
        );
    }

    // --- dispatch -------------------------------------------------------------------------

    /// The read-only transaction `dispatch` opens first.
    fn read_tx(transaction: Transaction) -> MockStoreTx {
        let mut tx = MockStoreTx::new();
        tx.expect_lock_transaction()
            .withf(|t, _| t.is_none())
            .return_once(move |_, _| Ok(transaction));
        forbid_writes(&mut tx);
        tx
    }

    fn provider_answering(answer: Result<ProviderTransfer, ProviderError>) -> MockCustodyProvider {
        let mut provider = MockCustodyProvider::new();
        let expected = entry(Network::Ethereum, EntryStatus::Active).address;
        provider
            .expect_submit_withdrawal()
            .withf(move |r| {
                r.transaction_id == transaction_id(1)
                    && r.wallet_id == wallet_id(1)
                    && r.asset == usdt_eth()
                    && r.amount == Amount::from_base_units(AMOUNT)
                    && r.destination == expected
            })
            .times(1)
            .return_once(move |_| answer);
        provider
    }

    #[tokio::test]
    async fn dispatch_hands_the_withdrawal_over_and_records_progress() {
        let mut tx = locked_tx(
            None,
            withdrawal(TransactionStatus::Submitted),
            holding_wallet(),
        );
        let log = record_writes(&mut tx);
        record_commit(&mut tx, &log);
        let provider = provider_answering(Ok(ProviderTransfer {
            provider_ref: "bitgo-transfer-1".into(),
            status: TransactionStatus::PendingSignature,
            tx_hash: None,
            failure_reason: None,
        }));
        let t = service(
            uow_with(vec![read_tx(withdrawal(TransactionStatus::Submitted)), tx]),
            provider,
        )
        .dispatch(transaction_id(1))
        .await
        .unwrap();
        assert_eq!(t.status, TransactionStatus::PendingSignature);
        assert_eq!(t.provider_ref.as_deref(), Some("bitgo-transfer-1"));
        assert_eq!(log.updated_transactions(), vec![t.clone()]);
        assert_eq!(log.event_types(), vec![EventType::TransactionStatusUpdated]);
        assert!(
            log.wallets().is_empty(),
            "no money moves on PendingSignature"
        );
        assert!(log.ledger().is_empty());
        assert_eq!(log.commits(), 1);
    }

    #[tokio::test]
    async fn dispatch_during_a_provider_outage_changes_nothing() {
        let provider = provider_answering(Err(ProviderError::Unavailable("timeout".into())));
        // Only the read transaction is opened, and it writes nothing.
        let err = service(
            uow_with(vec![read_tx(withdrawal(TransactionStatus::Submitted))]),
            provider,
        )
        .dispatch(transaction_id(1))
        .await
        .unwrap_err();
        assert!(
            matches!(err, Error::Provider(ProviderError::Unavailable(_))),
            "{err:?}"
        );
        assert!(err.is_retryable());
    }

    #[tokio::test]
    async fn dispatch_rejected_by_the_provider_fails_and_releases_the_funds() {
        let mut tx = locked_tx(
            None,
            withdrawal(TransactionStatus::Submitted),
            holding_wallet(),
        );
        let log = record_writes(&mut tx);
        record_commit(&mut tx, &log);
        let provider =
            provider_answering(Err(ProviderError::Rejected("destination blocked".into())));
        let t = service(
            uow_with(vec![read_tx(withdrawal(TransactionStatus::Submitted)), tx]),
            provider,
        )
        .dispatch(transaction_id(1))
        .await
        .unwrap();
        assert_eq!(t.status, TransactionStatus::Failed);
        assert_eq!(t.failure_reason.as_deref(), Some("destination blocked"));
        assert_eq!(
            t.provider_ref, None,
            "a rejection has no provider reference"
        );
        let wallets = log.wallets();
        assert_eq!(wallets.len(), 1);
        assert_eq!(wallets[0].balances.available.base_units(), 100 * USDT);
        assert!(wallets[0].balances.held.is_zero());
        assert_eq!(
            ledger_postings(&log),
            vec![vec![
                posting(Some(Bucket::Held), -(AMOUNT as i128)),
                posting(Some(Bucket::Available), AMOUNT as i128),
            ]]
        );
        assert_eq!(log.updated_transactions(), vec![t]);
        assert_eq!(log.commits(), 1);
    }

    #[tokio::test]
    async fn dispatch_skips_a_withdrawal_already_handed_over() {
        let broadcasting = withdrawal(TransactionStatus::Broadcasting);
        let t = service(
            uow_with(vec![read_tx(broadcasting.clone())]),
            idle_provider(),
        )
        .dispatch(transaction_id(1))
        .await
        .unwrap();
        assert_eq!(t, broadcasting);
    }

    // --- provider updates -----------------------------------------------------------------

    fn report(status: TransactionStatus) -> ProviderTransfer {
        ProviderTransfer {
            provider_ref: "bitgo-transfer-1".into(),
            status,
            tx_hash: Some("0xabc".into()),
            failure_reason: None,
        }
    }

    #[tokio::test]
    async fn a_jump_is_walked_step_by_step_then_completion_removes_the_held_funds() {
        // Submitted → Confirming: three recorded steps, no money moves.
        let mut tx = locked_tx(
            None,
            withdrawal(TransactionStatus::Submitted),
            holding_wallet(),
        );
        let log = record_writes(&mut tx);
        record_commit(&mut tx, &log);
        let confirming = service(uow_with(vec![tx]), idle_provider())
            .apply_provider_update(transaction_id(1), report(TransactionStatus::Confirming))
            .await
            .unwrap();
        assert_eq!(confirming.status, TransactionStatus::Confirming);
        assert_eq!(
            confirming
                .history
                .iter()
                .map(|h| h.status)
                .collect::<Vec<_>>(),
            vec![
                TransactionStatus::Submitted,
                TransactionStatus::PendingSignature,
                TransactionStatus::Broadcasting,
                TransactionStatus::Confirming
            ]
        );
        assert_eq!(confirming.version, 4);
        assert_eq!(confirming.tx_hash.as_deref(), Some("0xabc"));
        assert!(log.wallets().is_empty(), "intermediate steps move no money");
        assert!(log.ledger().is_empty());
        let previous: Vec<_> = log
            .events()
            .iter()
            .map(|e| {
                assert_eq!(e.event_type, EventType::TransactionStatusUpdated);
                e.previous_attributes.clone().unwrap()["status"].clone()
            })
            .collect();
        assert_eq!(
            previous,
            vec!["Submitted", "PendingSignature", "Broadcasting"]
        );
        assert_eq!(log.updated_transactions(), vec![confirming.clone()]);

        // Confirming → Completed: held leaves custody.
        let mut tx = locked_tx(None, confirming, holding_wallet());
        let log = record_writes(&mut tx);
        record_commit(&mut tx, &log);
        let completed = service(uow_with(vec![tx]), idle_provider())
            .apply_provider_update(transaction_id(1), report(TransactionStatus::Completed))
            .await
            .unwrap();
        assert_eq!(completed.status, TransactionStatus::Completed);
        let wallets = log.wallets();
        assert_eq!(wallets.len(), 1);
        assert!(wallets[0].balances.held.is_zero());
        assert_eq!(wallets[0].balances.available.base_units(), 60 * USDT);
        assert_eq!(
            ledger_postings(&log),
            vec![vec![
                posting(Some(Bucket::Held), -(AMOUNT as i128)),
                posting(None, AMOUNT as i128),
            ]]
        );
        assert_eq!(
            log.event_types(),
            vec![
                EventType::BalanceUpdated,
                EventType::TransactionStatusUpdated
            ]
        );
    }

    #[tokio::test]
    async fn stale_and_repeated_reports_change_nothing() {
        for reported in [
            TransactionStatus::Broadcasting,
            TransactionStatus::Confirming,
        ] {
            let confirming = withdrawal(TransactionStatus::Confirming);
            let mut tx = MockStoreTx::new();
            let locked = confirming.clone();
            tx.expect_lock_transaction()
                .return_once(move |_, _| Ok(locked));
            tx.expect_lock_wallet_by_id().never();
            forbid_writes(&mut tx);
            let t = service(uow_with(vec![tx]), idle_provider())
                .apply_provider_update(transaction_id(1), report(reported))
                .await
                .unwrap();
            assert_eq!(t, confirming, "report {reported}");
        }
    }

    #[tokio::test]
    async fn a_failure_reported_after_completion_is_an_invalid_transition() {
        let mut tx = locked_tx(
            None,
            withdrawal(TransactionStatus::Completed),
            holding_wallet(),
        );
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]), idle_provider())
            .apply_provider_update(transaction_id(1), report(TransactionStatus::Failed))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidTransition { .. }), "{err:?}");
    }
}
