use std::sync::Arc;

use super::*;
use crate::address_book::{AddressBookEntry, DestinationRefusal, EntryStatus};
use crate::api_key::Scope;
use crate::asset::Network;
use crate::chain_address::ChainAddress;
use crate::event::EventType;
use crate::id::TenantId;
use crate::ledger::{sums_to_zero, Account, Posting};
use mockall::Sequence;

use crate::ports::{MockCustodyProvider, MockStoreTx, MockTransactionStore, MockUnitOfWork};
use crate::services::test_support::*;
use crate::tenant::{TenantPolicy, TenantStatus};
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
        activates_at: T0,
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
        renderer(),
    )
}

/// A provider that must not be called.
fn idle_provider() -> MockCustodyProvider {
    let mut provider = MockCustodyProvider::new();
    provider.expect_submit_withdrawal().never();
    provider.expect_can_withdraw().returning(|_| Ok(()));
    provider
}

/// The locks `submit` takes, returning these rows.
fn submit_tx(wallet: Wallet, entry: AddressBookEntry, vault_status: VaultStatus) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_wallets()
        .withf(|t, ids| *t == tenant() && ids == [wallet_id(1)])
        .times(1)
        .return_once(move |_, _| Ok(vec![wallet]));
    tx.expect_lock_address_book_entry()
        .withf(|t, id| *t == tenant() && *id == entry_id())
        .return_once(move |_, _| Ok(entry));
    // The vault is only checked: shared, never locked exclusively.
    tx.expect_lock_vault().never();
    tx.expect_share_vault()
        .withf(|t, id| *t == tenant() && *id == vault_id(1))
        .return_once(move |_, id| Ok(vault(id, vault_status)));
    tx
}

/// A transaction in which `transaction` (locked with `tenant`) and its source wallet are read.
fn locked_tx(tenant: Option<TenantId>, transaction: Transaction, wallet: Wallet) -> MockStoreTx {
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
                reservation: &RESERVATION,
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
    // The tenant-wide total of the asset loses the held amount, in the transaction's slot,
    // after the wallet and the ledger.
    assert_eq!(
        log.totals(),
        vec![(
            tenant(),
            usdt_eth(),
            crate::totals::slot_of(t.id),
            crate::totals::SignedAmount::new(true, AMOUNT)
        )]
    );
    let writes = log.all();
    let total_at = writes
        .iter()
        .position(|w| matches!(w, StoreWrite::AdjustTotal(..)))
        .expect("total");
    assert!(writes[..total_at]
        .iter()
        .any(|w| matches!(w, StoreWrite::AppendLedger(_))));
    assert!(writes[..total_at]
        .iter()
        .any(|w| matches!(w, StoreWrite::UpdateWallet(_))));

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
async fn submit_of_an_asset_the_provider_cannot_send_is_refused_before_anything_is_held() {
    let mut tx = submit_tx(
        fresh_wallet(),
        entry(Network::Ethereum, EntryStatus::Active),
        VaultStatus::Active,
    );
    forbid_writes(&mut tx);
    tx.expect_commit().never();
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_can_withdraw()
        .withf(|asset| *asset == usdt_eth())
        .times(1)
        .returning(|_| {
            Err(ProviderError::Rejected(
                "Rhino serves deposit addresses only; withdrawals go through BitGo".into(),
            ))
        });
    provider.expect_submit_withdrawal().never();
    let err = service(uow_with(vec![tx]), provider)
        .submit(&caller(), command("1"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "asset_not_withdrawable");
    assert_eq!(err.kind(), crate::error::ErrorKind::Unprocessable);
    assert!(err.to_string().contains("deposit addresses only"), "{err}");
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
        log.totals(),
        vec![(
            tenant(),
            usdt_eth(),
            crate::totals::slot_of(t.id),
            crate::totals::SignedAmount::new(false, AMOUNT)
        )],
        "the released funds are available again"
    );
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
        events[1].previous_attributes.as_ref().unwrap()["status"],
        "Submitted"
    );
    assert_eq!(events[1].data.snapshot["status"], "Cancelled");
    assert_eq!(log.commits(), 1);
}

fn is_not_cancellable(err: &Error) -> bool {
    matches!(
        err,
        Error::Conflict {
            code: "transaction_not_cancellable",
            ..
        }
    )
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
    assert!(is_not_cancellable(&err), "{err:?}");
}

#[tokio::test]
async fn cancel_of_a_claimed_withdrawal_is_refused_and_writes_nothing() {
    // PendingSignature: a dispatch claimed it and the provider may be sending it, so the
    // funds must not be returned (although the state machine allows the edge).
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .withf(|t, i| *t == Some(tenant()) && *i == transaction_id(1))
        .times(1)
        .return_once(|_, _| Ok(withdrawal(TransactionStatus::PendingSignature)));
    tx.expect_lock_wallet_by_id().never();
    let log = record_writes(&mut tx);
    tx.expect_commit().never();
    let err = service(uow_with(vec![tx]), idle_provider())
        .cancel(&caller(), transaction_id(1), None)
        .await
        .unwrap_err();
    assert!(is_not_cancellable(&err), "{err:?}");
    assert!(
        err.to_string().contains("can no longer be cancelled"),
        "{err}"
    );
    assert!(log.all().is_empty(), "{:?}", log.all());
}

#[tokio::test]
async fn cancel_of_a_final_withdrawal_is_not_cancellable() {
    // Nothing is in progress any more, but the partner's answer is the same 409.
    for status in [
        TransactionStatus::Completed,
        TransactionStatus::Failed,
        TransactionStatus::Cancelled,
    ] {
        let mut tx = locked_tx(Some(tenant()), withdrawal(status), holding_wallet());
        forbid_writes(&mut tx);
        let err = service(uow_with(vec![tx]), idle_provider())
            .cancel(&caller(), transaction_id(1), None)
            .await
            .unwrap_err();
        assert!(is_not_cancellable(&err), "{status}: {err:?}");
        assert!(err.to_string().contains(status.as_str()), "{err}");
    }
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
    assert!(is_not_cancellable(&err), "{err:?}");
    assert!(err.to_string().contains("deposit"), "{err}");
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

/// What the claim re-reads before sending (issue 12): the source wallet, the entry, the vault
/// (shared) and the tenant (shared), all passing unless told otherwise.
fn allow_rechecks(
    tx: &mut MockStoreTx,
    entry_status: EntryStatus,
    vault_status: VaultStatus,
    tenant_status: TenantStatus,
) {
    tx.expect_lock_wallet_by_id()
        .withf(|id| *id == wallet_id(1))
        .returning(|_| Ok(holding_wallet()));
    tx.expect_lock_address_book_entry()
        .withf(|t, id| *t == tenant() && *id == entry_id())
        .returning(move |_, _| Ok(entry(Network::Ethereum, entry_status)));
    allow_vault(tx, vault_status);
    allow_tenant_policy(
        tx,
        TenantPolicy {
            status: tenant_status,
            address_book_cooling_off: None,
        },
    );
}

fn allow_passing_rechecks(tx: &mut MockStoreTx) {
    allow_rechecks(
        tx,
        EntryStatus::Active,
        VaultStatus::Active,
        TenantStatus::Approved,
    );
}

/// A transaction in which `dispatch` reads `transaction` and writes nothing (the skip and
/// resend cases).
fn read_tx(transaction: Transaction) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .withf(|t, _| t.is_none())
        .return_once(move |_, _| Ok(transaction));
    allow_passing_rechecks(&mut tx);
    forbid_writes(&mut tx);
    tx
}

/// The claim transaction of `dispatch` for a `Submitted` withdrawal, recording its writes
/// and its commit. Entering PendingSignature moves no money (the source wallet is locked
/// only for the re-checks, in the lock order, and not written).
fn claim_tx() -> (MockStoreTx, WriteLog) {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .withf(|t, i| t.is_none() && *i == transaction_id(1))
        .times(1)
        .return_once(|_, _| Ok(withdrawal(TransactionStatus::Submitted)));
    allow_passing_rechecks(&mut tx);
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    (tx, log)
}

/// What a committed claim wrote: the withdrawal saved in PendingSignature without a
/// provider reference, its status event, nothing else, then the commit.
fn assert_claimed(log: &WriteLog) {
    let saved = log.updated_transactions();
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0].status, TransactionStatus::PendingSignature);
    assert_eq!(saved[0].provider_ref, None);
    assert_eq!(saved[0].version, 2);
    let events = log.events();
    assert_eq!(log.event_types(), vec![EventType::TransactionStatusUpdated]);
    assert_eq!(
        events[0].previous_attributes.as_ref().unwrap()["status"],
        "Submitted"
    );
    assert!(log.wallets().is_empty(), "no money moves on a claim");
    assert!(log.ledger().is_empty());
    assert_eq!(log.all().len(), 3, "{:?}", log.all());
    assert!(matches!(log.all().last(), Some(StoreWrite::Commit)));
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

/// The provider's usual answer to a hand-over: accepted, awaiting signature.
fn accepted() -> ProviderTransfer {
    ProviderTransfer {
        provider_ref: "bitgo-transfer-1".into(),
        status: TransactionStatus::PendingSignature,
        tx_hash: None,
        failure_reason: None,
        confirmations: None,
        outcome_ambiguous: false,
    }
}

#[tokio::test]
async fn dispatch_hands_the_withdrawal_over_and_records_progress() {
    let (claim, claim_log) = claim_tx();
    // The answer repeats the claimed status; only its reference is new.
    let mut tx = locked_tx(
        None,
        withdrawal(TransactionStatus::PendingSignature),
        holding_wallet(),
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(
        uow_with(vec![claim, tx]),
        provider_answering(Ok(accepted())),
    )
    .dispatch(transaction_id(1))
    .await
    .unwrap();
    assert_claimed(&claim_log);
    assert_eq!(t.status, TransactionStatus::PendingSignature);
    assert_eq!(t.provider_ref.as_deref(), Some("bitgo-transfer-1"));
    assert_eq!(t.version, 3);
    assert_eq!(log.updated_transactions(), vec![t.clone()]);
    // Issue 12: the version moved, so the change is announced (the status is the same).
    assert_eq!(log.event_types(), vec![EventType::TransactionStatusUpdated]);
    assert_eq!(log.events()[0].data.version, 3);
    assert!(
        log.wallets().is_empty(),
        "no money moves on PendingSignature"
    );
    assert!(log.ledger().is_empty());
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn dispatch_commits_its_claim_before_calling_the_provider() {
    let mut seq = Sequence::new();
    let mut claim = MockStoreTx::new();
    claim
        .expect_lock_transaction()
        .times(1)
        .return_once(|_, _| Ok(withdrawal(TransactionStatus::Submitted)));
    allow_passing_rechecks(&mut claim);
    let claim_log = record_writes(&mut claim);
    // Snapshot of what was written when the claim committed.
    let at_commit: Arc<std::sync::Mutex<Vec<StoreWrite>>> = Arc::default();
    let (written, snapshot) = (claim_log.clone(), Arc::clone(&at_commit));
    claim
        .expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move || {
            *snapshot.lock().unwrap() = written.all();
            Ok(())
        });
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_submit_withdrawal()
        .times(1)
        .in_sequence(&mut seq)
        .return_once(|_| {
            Ok(ProviderTransfer {
                status: TransactionStatus::Broadcasting,
                ..accepted()
            })
        });
    let mut tx = locked_tx(
        None,
        withdrawal(TransactionStatus::PendingSignature),
        holding_wallet(),
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);

    let t = service(uow_with(vec![claim, tx]), provider)
        .dispatch(transaction_id(1))
        .await
        .unwrap();

    let at_commit = at_commit.lock().unwrap().clone();
    assert!(
        matches!(
            at_commit.as_slice(),
            [StoreWrite::AppendEvent(e), StoreWrite::UpdateTransaction(claimed)]
                if e.event_type == EventType::TransactionStatusUpdated
                    && claimed.status == TransactionStatus::PendingSignature
        ),
        "{at_commit:?}"
    );
    assert_eq!(t.status, TransactionStatus::Broadcasting);
    assert_eq!(t.provider_ref.as_deref(), Some("bitgo-transfer-1"));
    assert_eq!(log.updated_transactions(), vec![t]);
}

#[tokio::test]
async fn dispatch_resends_a_claimed_withdrawal_without_provider_ref() {
    // A previous dispatch claimed it, then the provider call failed or the process died.
    let claimed = withdrawal(TransactionStatus::PendingSignature);
    assert_eq!(claimed.provider_ref, None);
    let mut tx = locked_tx(None, claimed.clone(), holding_wallet());
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(
        // The claim transaction only reads: no second claim, no event.
        uow_with(vec![read_tx(claimed), tx]),
        provider_answering(Ok(accepted())),
    )
    .dispatch(transaction_id(1))
    .await
    .unwrap();
    assert_eq!(t.status, TransactionStatus::PendingSignature);
    assert_eq!(t.provider_ref.as_deref(), Some("bitgo-transfer-1"));
    assert_eq!(log.updated_transactions(), vec![t]);
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn dispatch_does_not_resend_a_withdrawal_the_provider_answered() {
    let mut answered = withdrawal(TransactionStatus::PendingSignature);
    answered.provider_ref = Some("bitgo-transfer-1".into());
    let t = service(uow_with(vec![read_tx(answered.clone())]), idle_provider())
        .dispatch(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t, answered);
}

#[tokio::test]
async fn dispatch_during_a_provider_outage_keeps_only_the_claim() {
    let (claim, claim_log) = claim_tx();
    let provider = provider_answering(Err(ProviderError::Unavailable("timeout".into())));
    // Only the claim transaction is opened: nothing is applied after the failed call.
    let err = service(uow_with(vec![claim]), provider)
        .dispatch(transaction_id(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Provider(ProviderError::Unavailable(_))),
        "{err:?}"
    );
    assert!(err.is_retryable());
    // Left PendingSignature without provider_ref: the next pass resends.
    assert_claimed(&claim_log);
}

#[tokio::test]
async fn dispatch_rejected_by_the_provider_fails_and_releases_the_funds() {
    let (claim, claim_log) = claim_tx();
    let mut tx = locked_tx(
        None,
        withdrawal(TransactionStatus::PendingSignature),
        holding_wallet(),
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let provider = provider_answering(Err(ProviderError::Rejected("destination blocked".into())));
    let t = service(uow_with(vec![claim, tx]), provider)
        .dispatch(transaction_id(1))
        .await
        .unwrap();
    assert_claimed(&claim_log);
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
        confirmations: None,
        outcome_ambiguous: false,
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

// --- issue 12: review fixes -------------------------------------------------------------

/// A claimed withdrawal without a provider reference: an earlier dispatch claimed it and then
/// got no answer (outage, crash), so the provider may have executed it.
fn claimed_unanswered() -> Transaction {
    let claimed = withdrawal(TransactionStatus::PendingSignature);
    assert_eq!(claimed.provider_ref, None);
    claimed
}

/// The transaction that flags `transaction` for reconciliation: locks it, writes the flag
/// only (no balance, no ledger, no version bump), commits.
fn flag_tx(transaction: Transaction) -> (MockStoreTx, Arc<std::sync::Mutex<Vec<String>>>) {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .withf(|t, i| t.is_none() && *i == transaction_id(1))
        .return_once(move |_, _| Ok(transaction));
    let reasons: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&reasons);
    tx.expect_flag_for_reconciliation()
        .withf(|id, _, at| *id == transaction_id(1) && *at == T0)
        .times(1)
        .returning(move |_, reason, _| {
            seen.lock().unwrap().push(reason.to_owned());
            Ok(())
        });
    tx.expect_lock_wallet_by_id().never();
    tx.expect_insert_transaction().never();
    tx.expect_update_transaction().never();
    tx.expect_update_wallet().never();
    tx.expect_append_ledger().never();
    tx.expect_append_event().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    (tx, reasons)
}

#[tokio::test]
async fn a_refused_resend_keeps_the_funds_held_and_flags_the_withdrawal() {
    // Review finding (a): the first send may have executed, so a refusal of the resend proves
    // nothing. Before the fix this released the held funds (Failed).
    let (flag, reasons) = flag_tx(claimed_unanswered());
    let provider = provider_answering(Err(ProviderError::Rejected("duplicate sequence".into())));
    let t = service(
        uow_with(vec![read_tx(claimed_unanswered()), flag]),
        provider,
    )
    .dispatch(transaction_id(1))
    .await
    .unwrap();
    assert_eq!(t.status, TransactionStatus::PendingSignature, "still held");
    let reason = t.reconciliation_reason.clone().expect("flagged");
    assert!(reason.contains("duplicate sequence"), "{reason}");
    assert_eq!(reasons.lock().unwrap().as_slice(), [reason]);
}

#[tokio::test]
async fn a_refused_first_send_still_fails_and_releases() {
    // Only the send made right after this dispatch's own claim proves nothing was sent.
    let (claim, _) = claim_tx();
    let mut tx = locked_tx(
        None,
        withdrawal(TransactionStatus::PendingSignature),
        holding_wallet(),
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    tx.expect_flag_for_reconciliation().never();
    let provider = provider_answering(Err(ProviderError::Rejected("blocked".into())));
    let t = service(uow_with(vec![claim, tx]), provider)
        .dispatch(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Failed);
    assert_eq!(t.reconciliation_reason, None);
    assert!(log.wallets()[0].balances.held.is_zero());
}

#[tokio::test]
async fn a_flagged_withdrawal_is_never_resent() {
    let mut flagged = claimed_unanswered();
    flagged.reconciliation_reason = Some("unknown outcome".into());
    let t = service(uow_with(vec![read_tx(flagged.clone())]), idle_provider())
        .dispatch(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t, flagged);
}

/// The claim of a `Submitted` withdrawal whose re-check fails: it must fail, release the
/// held funds and commit, and the provider must not be called.
async fn assert_claim_refused(
    entry_status: EntryStatus,
    vault_status: VaultStatus,
    tenant_status: TenantStatus,
    code: &str,
) {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .withf(|t, i| t.is_none() && *i == transaction_id(1))
        .times(1)
        .return_once(|_, _| Ok(withdrawal(TransactionStatus::Submitted)));
    allow_rechecks(&mut tx, entry_status, vault_status, tenant_status);
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(uow_with(vec![tx]), idle_provider())
        .dispatch(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Failed, "{code}");
    let reason = t.failure_reason.clone().unwrap_or_default();
    assert!(reason.starts_with(code), "{reason}");
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
async fn the_claim_fails_a_withdrawal_from_a_frozen_or_archived_vault() {
    // Review finding (b): before the fix the claim sent it anyway.
    assert_claim_refused(
        EntryStatus::Active,
        VaultStatus::Frozen,
        TenantStatus::Approved,
        "vault_frozen",
    )
    .await;
    assert_claim_refused(
        EntryStatus::Active,
        VaultStatus::Archived,
        TenantStatus::Approved,
        "vault_archived",
    )
    .await;
}

#[tokio::test]
async fn the_claim_fails_a_withdrawal_to_a_deleted_entry() {
    assert_claim_refused(
        EntryStatus::Deleted,
        VaultStatus::Active,
        TenantStatus::Approved,
        "address_book_entry_not_active",
    )
    .await;
}

#[tokio::test]
async fn the_claim_fails_a_withdrawal_of_a_suspended_tenant() {
    assert_claim_refused(
        EntryStatus::Active,
        VaultStatus::Active,
        TenantStatus::Suspended,
        "tenant_suspended",
    )
    .await;
}

#[tokio::test]
async fn a_resend_that_fails_its_rechecks_is_flagged_not_sent_nor_released() {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .return_once(|_, _| Ok(claimed_unanswered()));
    allow_rechecks(
        &mut tx,
        EntryStatus::Active,
        VaultStatus::Frozen,
        TenantStatus::Approved,
    );
    tx.expect_flag_for_reconciliation()
        .withf(|id, reason, _| *id == transaction_id(1) && reason.contains("vault_frozen"))
        .times(1)
        .returning(|_, _, _| Ok(()));
    tx.expect_update_wallet().never();
    tx.expect_append_ledger().never();
    tx.expect_update_transaction().never();
    tx.expect_commit().times(1).returning(|| Ok(()));
    let t = service(uow_with(vec![tx]), idle_provider())
        .dispatch(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::PendingSignature);
    assert!(t.reconciliation_reason.is_some());
}

#[tokio::test]
async fn the_provider_reference_recorded_on_a_claimed_withdrawal_emits_its_event() {
    // Review finding (d): the answers-our-claim path bumped the version without an event.
    let mut tx = locked_tx(None, claimed_unanswered(), holding_wallet());
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(uow_with(vec![tx]), idle_provider())
        .apply_provider_update(transaction_id(1), accepted())
        .await
        .unwrap();
    assert_eq!(t.version, 3);
    let events = log.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::TransactionStatusUpdated);
    assert_eq!(events[0].data.version, t.version);
    assert_eq!(events[0].data.snapshot["status"], "PendingSignature");
}

// --- poll -----------------------------------------------------------------------------

#[tokio::test]
async fn poll_applies_the_providers_status() {
    let mut handed_over = withdrawal(TransactionStatus::PendingSignature);
    handed_over.provider_ref = Some("bitgo-transfer-1".into());
    let mut read = MockStoreTx::new();
    let locked = handed_over.clone();
    read.expect_lock_transaction()
        .return_once(move |_, _| Ok(locked));
    forbid_writes(&mut read);
    let mut apply = locked_tx(None, handed_over, holding_wallet());
    let log = record_writes(&mut apply);
    record_commit(&mut apply, &log);
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_withdrawal_status()
        .withf(|r| r.transaction_id == transaction_id(1) && r.asset == usdt_eth())
        .times(1)
        .returning(|_| Ok(report(TransactionStatus::Broadcasting)));
    provider.expect_submit_withdrawal().never();
    let t = service(uow_with(vec![read, apply]), provider)
        .poll(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Broadcasting);
    assert_eq!(log.updated_transactions(), vec![t]);
}

#[tokio::test]
async fn poll_of_a_final_withdrawal_asks_nobody() {
    let mut read = MockStoreTx::new();
    read.expect_lock_transaction()
        .return_once(|_, _| Ok(withdrawal(TransactionStatus::Completed)));
    forbid_writes(&mut read);
    let mut provider = MockCustodyProvider::new();
    provider.expect_withdrawal_status().never();
    let t = service(uow_with(vec![read]), provider)
        .poll(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Completed);
}

// --- issue 12: cooling-off ----------------------------------------------------------------

#[tokio::test]
async fn submit_to_an_entry_still_cooling_off_is_refused() {
    let mut pending = entry(Network::Ethereum, EntryStatus::Active);
    pending.activates_at = T0 + time::Duration::hours(24);
    let mut tx = submit_tx(fresh_wallet(), pending, VaultStatus::Active);
    forbid_writes(&mut tx);
    let err = service(uow_with(vec![tx]), idle_provider())
        .submit(&caller(), command("1"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Destination(DestinationRefusal::NotYetActive { .. })
        ),
        "{err:?}"
    );
    assert_eq!(err.code(), "address_book_entry_not_active");
}

#[tokio::test]
async fn the_claim_fails_a_withdrawal_whose_entry_is_not_yet_active() {
    // Submitted while active is impossible for a pending entry, but the claim re-checks
    // anyway (the rule is "active at submit AND at claim").
    let mut tx = MockStoreTx::new();
    tx.expect_lock_transaction()
        .return_once(|_, _| Ok(withdrawal(TransactionStatus::Submitted)));
    tx.expect_lock_wallet_by_id()
        .returning(|_| Ok(holding_wallet()));
    tx.expect_lock_address_book_entry().returning(|_, _| {
        let mut pending = entry(Network::Ethereum, EntryStatus::Active);
        pending.activates_at = T0 + time::Duration::hours(1);
        Ok(pending)
    });
    allow_vault(&mut tx, VaultStatus::Active);
    allow_tenant_policy(&mut tx, approved_policy());
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(uow_with(vec![tx]), idle_provider())
        .dispatch(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Failed);
    assert!(t
        .failure_reason
        .unwrap()
        .starts_with("address_book_entry_not_active"));
}

// --- issue 14: unknown outcomes and ambiguous failures ----------------------------------

#[tokio::test]
async fn a_send_with_an_unknown_outcome_is_flagged_held_and_not_failed() {
    // Issue 14: a timeout or 5xx after hand-over is never retried blindly (before, the
    // next pass resent it) and never failed blindly.
    let (claim, claim_log) = claim_tx();
    let (flag, reasons) = flag_tx(claimed_unanswered());
    let provider = provider_answering(Err(ProviderError::OutcomeUnknown(
        "BitGo answered the send with a timeout".into(),
    )));
    let t = service(uow_with(vec![claim, flag]), provider)
        .dispatch(transaction_id(1))
        .await
        .unwrap();
    assert_claimed(&claim_log);
    assert_eq!(t.status, TransactionStatus::PendingSignature, "still held");
    let reason = t.reconciliation_reason.clone().expect("flagged");
    assert!(reason.contains("outcome unknown"), "{reason}");
    assert_eq!(reasons.lock().unwrap().as_slice(), [reason]);
}

#[tokio::test]
async fn a_flagged_unknown_outcome_is_settled_by_a_status_read() {
    let mut flagged = claimed_unanswered();
    flagged.reconciliation_reason = Some("outcome unknown after hand-over".into());
    let mut apply = locked_tx(None, flagged.clone(), holding_wallet());
    let log = record_writes(&mut apply);
    record_commit(&mut apply, &log);
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_withdrawal_status()
        .withf(|r| r.transaction_id == transaction_id(1) && r.provider_ref.is_none())
        .times(1)
        .returning(|_| Ok(report(TransactionStatus::Broadcasting)));
    provider.expect_submit_withdrawal().never();
    let t = service(uow_with(vec![read_tx(flagged), apply]), provider)
        .poll(transaction_id(1))
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Broadcasting);
    assert_eq!(t.provider_ref.as_deref(), Some("bitgo-transfer-1"));
}

#[tokio::test]
async fn poll_passes_the_recorded_provider_reference() {
    let mut handed_over = withdrawal(TransactionStatus::PendingSignature);
    handed_over.provider_ref = Some("approval-1".into());
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_withdrawal_status()
        .withf(|r| r.provider_ref.as_deref() == Some("approval-1"))
        .times(1)
        .returning(|_| {
            Ok(ProviderTransfer {
                provider_ref: "approval-1".into(),
                ..report(TransactionStatus::PendingSignature)
            })
        });
    let t = service(
        uow_with(vec![
            read_tx(handed_over.clone()),
            read_tx(handed_over.clone()),
        ]),
        provider,
    )
    .poll(transaction_id(1))
    .await
    .unwrap();
    assert_eq!(t, handed_over, "nothing new");
}

#[tokio::test]
async fn an_ambiguous_failure_after_broadcasting_keeps_the_funds_held_and_flags() {
    for (current, reported, ambiguous) in [
        (
            TransactionStatus::Broadcasting,
            TransactionStatus::Failed,
            true,
        ),
        (
            TransactionStatus::Confirming,
            TransactionStatus::Failed,
            true,
        ),
        // A cancel is not a state a broadcast withdrawal can take.
        (
            TransactionStatus::Broadcasting,
            TransactionStatus::Cancelled,
            false,
        ),
    ] {
        let mut first = locked_tx(None, withdrawal(current), holding_wallet());
        forbid_writes(&mut first);
        first.expect_commit().never();
        let (flag, reasons) = flag_tx(withdrawal(current));
        let t = service(uow_with(vec![first, flag]), idle_provider())
            .apply_provider_update(
                transaction_id(1),
                ProviderTransfer {
                    failure_reason: Some("dropped from the chain by a re-organisation".into()),
                    outcome_ambiguous: ambiguous,
                    ..report(reported)
                },
            )
            .await
            .unwrap();
        assert_eq!(t.status, current, "{current} → {reported}: unchanged");
        let reason = t.reconciliation_reason.clone().expect("flagged");
        assert!(reason.contains("ambiguous"), "{reason}");
        assert_eq!(reasons.lock().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_definite_failure_after_broadcasting_releases_the_funds() {
    let mut tx = locked_tx(
        None,
        withdrawal(TransactionStatus::Confirming),
        holding_wallet(),
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    tx.expect_flag_for_reconciliation().never();
    let t = service(uow_with(vec![tx]), idle_provider())
        .apply_provider_update(
            transaction_id(1),
            ProviderTransfer {
                failure_reason: Some("BitGo could not confirm the transaction on chain".into()),
                ..report(TransactionStatus::Failed)
            },
        )
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Failed);
    assert!(log.wallets()[0].balances.held.is_zero());
    assert_eq!(log.wallets()[0].balances.available.base_units(), 100 * USDT);
}
