//! Shared fixtures for the services' unit tests (test builds only).
//!
//! Conventions: every fixture is deterministic (a [`FixedClock`] at [`T0`], [`SequentialIds`]),
//! the default [`caller`] is a sandbox key of [`tenant`] with every scope, and
//! [`uow_with`] hands out prepared [`MockStoreTx`]s in order, failing the test if `begin()` is
//! called more or fewer times than there are transactions.
//!
//! Helpers are only ever added here, never changed, so tests in every service file can rely on
//! them.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use time::macros::datetime;
use time::OffsetDateTime;
use ulid::Ulid;

use crate::api_key::{Scope, ScopeSet};
use crate::asset::AssetId;
use crate::caller::Caller;
use crate::chain_address::ChainAddress;
use crate::deposit_address::{AddressStatus, DepositAddress, ProviderRef};
use crate::environment::Environment;
use crate::event::{Event, EventType};
use crate::id::{AddressId, ApiKeyId, TenantId, TransactionId, VaultId, WalletId};
use crate::idempotency::{IdempotencyKey, ReservationToken, StoredResponse};
use crate::ports::{FixedClock, MockStoreTx, MockUnitOfWork, SequentialIds, StoreTx};
use crate::text::{Metadata, VaultName};
use crate::vault::{Vault, VaultKind, VaultStatus};
use crate::wallet::{Balances, Wallet, WalletStatus};

/// The instant every fixed clock shows.
pub(crate) const T0: OffsetDateTime = datetime!(2024-05-01 12:00 UTC);

/// Milliseconds of [`T0`]: the timestamp part of fixture ids.
const T0_MS: u64 = 1_714_564_800_000;

fn ulid(n: u128) -> Ulid {
    Ulid::from_parts(T0_MS, n)
}

/// The tenant of [`caller`].
pub(crate) fn tenant() -> TenantId {
    TenantId::from_ulid(ulid(0x7e_0001))
}

/// Another tenant, whose resources the caller must never see.
pub(crate) fn other_tenant() -> TenantId {
    TenantId::from_ulid(ulid(0x7e_0002))
}

/// The key id of [`caller`].
pub(crate) fn key_id() -> ApiKeyId {
    ApiKeyId::from_ulid(ulid(0x4e_0001))
}

/// A vault id (fixture ids are far from what [`ids`] generates).
pub(crate) fn vault_id(n: u128) -> VaultId {
    VaultId::from_ulid(ulid(0x1_0000 + n))
}

pub(crate) fn wallet_id(n: u128) -> WalletId {
    WalletId::from_ulid(ulid(0x2_0000 + n))
}

pub(crate) fn address_id(n: u128) -> AddressId {
    AddressId::from_ulid(ulid(0x3_0000 + n))
}

pub(crate) fn transaction_id(n: u128) -> TransactionId {
    TransactionId::from_ulid(ulid(0x5_0000 + n))
}

/// A sandbox caller of [`tenant`] with every scope.
pub(crate) fn caller() -> Caller {
    caller_with(ScopeSet::all())
}

/// A sandbox caller of [`tenant`] with exactly `scopes`.
pub(crate) fn caller_with(scopes: ScopeSet) -> Caller {
    Caller {
        tenant_id: tenant(),
        environment: Environment::Sandbox,
        key_id: key_id(),
        scopes,
    }
}

/// A sandbox caller of [`tenant`] with every scope but `missing`.
pub(crate) fn caller_without(missing: Scope) -> Caller {
    caller_with(Scope::ALL.into_iter().filter(|s| *s != missing).collect())
}

/// A clock stuck at [`T0`].
pub(crate) fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(T0))
}

/// Deterministic ids at [`T0`].
pub(crate) fn ids() -> Arc<SequentialIds> {
    Arc::new(SequentialIds::new(T0_MS))
}

/// Event snapshots in the domain's own serialisation (the wire form is the HTTP layer's).
pub(crate) fn renderer() -> crate::event::DynSnapshotRenderer {
    Arc::new(crate::event::DomainSnapshots)
}

/// An asset by id, e.g. `USDT_ETHEREUM`.
pub(crate) fn asset(code: &str) -> AssetId {
    AssetId::parse(code).expect("fixture asset is in the catalogue")
}

/// `USDT_ETHEREUM`.
pub(crate) fn usdt_eth() -> AssetId {
    asset("USDT_ETHEREUM")
}

/// `USDC_SOLANA`.
pub(crate) fn usdc_sol() -> AssetId {
    asset("USDC_SOLANA")
}

/// A customer vault of [`tenant`], version 1, created at [`T0`].
pub(crate) fn vault(id: VaultId, status: VaultStatus) -> Vault {
    Vault {
        id,
        tenant_id: tenant(),
        kind: VaultKind::Customer,
        external_ref: None,
        name: VaultName::parse("Alice").expect("valid fixture name"),
        metadata: Metadata::default(),
        status,
        version: 1,
        created_at: T0,
        updated_at: T0,
    }
}

/// An empty active wallet of [`tenant`], version 1, created at [`T0`].
pub(crate) fn wallet(id: WalletId, vault: VaultId, asset: AssetId) -> Wallet {
    Wallet {
        id,
        tenant_id: tenant(),
        vault_id: vault,
        asset,
        label: None,
        status: WalletStatus::Active,
        balances: Balances::default(),
        version: 1,
        created_at: T0,
        updated_at: T0,
    }
}

/// A deterministic on-chain address of `asset`'s network, varied by `seed`.
pub(crate) fn chain_address(asset: AssetId, seed: u8) -> ChainAddress {
    use crate::asset::Network;
    match asset.network() {
        Network::Solana => ChainAddress::from_solana_bytes([seed; 32]),
        Network::Sui => ChainAddress::from_sui_bytes([seed; 32]),
        evm => ChainAddress::from_evm_bytes(evm, [seed; 20]).expect("EVM network"),
    }
}

/// An active deposit address of `wallet` at `index` (primary when 0), minted by `sandbox`.
pub(crate) fn deposit_address(id: AddressId, wallet: &Wallet, index: u32) -> DepositAddress {
    DepositAddress {
        id,
        tenant_id: wallet.tenant_id,
        vault_id: wallet.vault_id,
        wallet_id: wallet.id,
        asset: wallet.asset,
        address: chain_address(
            wallet.asset,
            u8::try_from(index % 200).unwrap_or(0).saturating_add(1),
        ),
        label: None,
        is_primary: index == 0,
        derivation_index: index,
        provider: ProviderRef {
            provider: "sandbox".to_owned(),
            reference: None,
        },
        status: AddressStatus::Active,
        version: 1,
        created_at: T0,
        updated_at: T0,
    }
}

/// A unit of work whose `begin()` hands out `txs` in order, and must be called exactly
/// `txs.len()` times (so `uow_with(vec![])` asserts no transaction is ever opened).
pub(crate) fn uow_with(txs: Vec<MockStoreTx>) -> MockUnitOfWork {
    let count = txs.len();
    let queue = Mutex::new(VecDeque::from(txs));
    let mut uow = MockUnitOfWork::new();
    uow.expect_begin().times(count).returning(move || {
        let tx = queue
            .lock()
            .expect("queue lock")
            .pop_front()
            .expect("begin() called more often than prepared");
        Ok(Box::new(tx) as Box<dyn StoreTx>)
    });
    uow
}

/// Records every event appended through `tx`, in order.
pub(crate) fn capture_events(tx: &mut MockStoreTx) -> Arc<Mutex<Vec<Event>>> {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    tx.expect_append_event().returning(move |event| {
        sink.lock().expect("events lock").push(event.clone());
        Ok(())
    });
    events
}

/// The types of captured events, in order.
pub(crate) fn event_types(events: &Mutex<Vec<Event>>) -> Vec<EventType> {
    events
        .lock()
        .expect("events lock")
        .iter()
        .map(|e| e.event_type)
        .collect()
}

/// Expects exactly one successful `commit()`.
pub(crate) fn expect_commit(tx: &mut MockStoreTx) {
    tx.expect_commit().times(1).returning(|| Ok(()));
}

pub(crate) fn idempotency_key(raw: &str) -> IdempotencyKey {
    IdempotencyKey::parse(raw.as_bytes()).expect("valid fixture idempotency key")
}

/// The reservation the tests' [`IdempotentWrite`](super::IdempotentWrite)s hold.
pub(crate) static RESERVATION: ReservationToken = ReservationToken {
    reserved_at: OffsetDateTime::UNIX_EPOCH,
    owner: None,
};

/// A stored response with `status` and `body`.
pub(crate) fn stored_response(status: u16, body: &str) -> StoredResponse {
    StoredResponse {
        status,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: body.as_bytes().to_vec(),
    }
}

// --- Recorded writes (transfer, withdrawal, deposit and address-book tests) ---------------

/// One write made through a [`MockStoreTx`], in call order.
#[derive(Debug, Clone)]
pub(crate) enum StoreWrite {
    /// `insert_transaction`.
    InsertTransaction(crate::transaction::Transaction),
    /// `update_transaction`.
    UpdateTransaction(crate::transaction::Transaction),
    /// `update_wallet`.
    UpdateWallet(Wallet),
    /// `append_ledger` (one call, all its entries).
    AppendLedger(Vec<crate::ledger::LedgerEntry>),
    /// `append_event`.
    AppendEvent(Event),
    /// `insert_address_book_entry`.
    InsertEntry(crate::address_book::AddressBookEntry),
    /// `update_address_book_entry`.
    UpdateEntry(crate::address_book::AddressBookEntry),
    /// `complete_idempotency`.
    CompleteIdempotency(StoredResponse),
    /// `adjust_available_total`: tenant, asset, slot, change.
    AdjustTotal(
        crate::id::TenantId,
        crate::asset::AssetId,
        u8,
        crate::totals::SignedAmount,
    ),
    /// `commit` (only when recorded with [`record_commit`]).
    Commit,
}

/// The writes made through one or more transactions, shared with the mocks that record them.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteLog(Arc<Mutex<Vec<StoreWrite>>>);

impl WriteLog {
    fn push(&self, write: StoreWrite) {
        self.0.lock().expect("write log lock").push(write);
    }

    /// Every write so far, in order.
    pub(crate) fn all(&self) -> Vec<StoreWrite> {
        self.0.lock().expect("write log lock").clone()
    }

    /// The wallets saved, in order.
    pub(crate) fn wallets(&self) -> Vec<Wallet> {
        self.all()
            .into_iter()
            .filter_map(|w| match w {
                StoreWrite::UpdateWallet(wallet) => Some(wallet),
                _ => None,
            })
            .collect()
    }

    /// The changes of the tenant-wide totals, in order.
    pub(crate) fn totals(
        &self,
    ) -> Vec<(
        crate::id::TenantId,
        crate::asset::AssetId,
        u8,
        crate::totals::SignedAmount,
    )> {
        self.all()
            .into_iter()
            .filter_map(|w| match w {
                StoreWrite::AdjustTotal(tenant, asset, slot, delta) => {
                    Some((tenant, asset, slot, delta))
                }
                _ => None,
            })
            .collect()
    }

    /// The ledger appends, one `Vec` per call.
    pub(crate) fn ledger(&self) -> Vec<Vec<crate::ledger::LedgerEntry>> {
        self.all()
            .into_iter()
            .filter_map(|w| match w {
                StoreWrite::AppendLedger(entries) => Some(entries),
                _ => None,
            })
            .collect()
    }

    /// The events appended, in order.
    pub(crate) fn events(&self) -> Vec<Event> {
        self.all()
            .into_iter()
            .filter_map(|w| match w {
                StoreWrite::AppendEvent(event) => Some(event),
                _ => None,
            })
            .collect()
    }

    /// The types of the events appended, in order.
    pub(crate) fn event_types(&self) -> Vec<EventType> {
        self.events().into_iter().map(|e| e.event_type).collect()
    }

    /// The transactions inserted, in order.
    pub(crate) fn inserted_transactions(&self) -> Vec<crate::transaction::Transaction> {
        self.all()
            .into_iter()
            .filter_map(|w| match w {
                StoreWrite::InsertTransaction(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// The transactions saved with `update_transaction`, in order.
    pub(crate) fn updated_transactions(&self) -> Vec<crate::transaction::Transaction> {
        self.all()
            .into_iter()
            .filter_map(|w| match w {
                StoreWrite::UpdateTransaction(t) => Some(t),
                _ => None,
            })
            .collect()
    }

    /// How many commits were recorded.
    pub(crate) fn commits(&self) -> usize {
        self.all()
            .iter()
            .filter(|w| matches!(w, StoreWrite::Commit))
            .count()
    }
}

/// Lets every write method of `tx` succeed any number of times, recording each call in the
/// returned log. `commit` is not covered: pair with [`record_commit`] or `expect_commit().never()`.
pub(crate) fn record_writes(tx: &mut MockStoreTx) -> WriteLog {
    let log = WriteLog::default();
    let l = log.clone();
    tx.expect_insert_transaction().returning(move |t| {
        l.push(StoreWrite::InsertTransaction(t.clone()));
        Ok(())
    });
    let l = log.clone();
    tx.expect_update_transaction().returning(move |t| {
        l.push(StoreWrite::UpdateTransaction(t.clone()));
        Ok(())
    });
    let l = log.clone();
    tx.expect_update_wallet().returning(move |w| {
        l.push(StoreWrite::UpdateWallet(w.clone()));
        Ok(())
    });
    let l = log.clone();
    tx.expect_append_ledger().returning(move |entries| {
        l.push(StoreWrite::AppendLedger(entries.to_vec()));
        Ok(())
    });
    let l = log.clone();
    tx.expect_append_event().returning(move |event| {
        l.push(StoreWrite::AppendEvent(event.clone()));
        Ok(())
    });
    // A read: `balance.updated` renders the wallet with its primary address (none here).
    tx.expect_find_primary_address()
        .returning(|_| Err(crate::ports::StoreError::NotFound));
    let l = log.clone();
    tx.expect_insert_address_book_entry().returning(move |e| {
        l.push(StoreWrite::InsertEntry(e.clone()));
        Ok(())
    });
    let l = log.clone();
    tx.expect_update_address_book_entry().returning(move |e| {
        l.push(StoreWrite::UpdateEntry(e.clone()));
        Ok(())
    });
    let l = log.clone();
    tx.expect_complete_idempotency()
        .returning(move |_, _, _, response| {
            l.push(StoreWrite::CompleteIdempotency(response.clone()));
            Ok(())
        });
    let l = log.clone();
    tx.expect_adjust_available_total()
        .returning(move |tenant, asset, slot, delta| {
            l.push(StoreWrite::AdjustTotal(tenant, asset, slot, delta));
            Ok(())
        });
    log
}

/// Expects exactly one successful `commit()` and records it in `log` (so tests can check
/// what was written before it).
pub(crate) fn record_commit(tx: &mut MockStoreTx, log: &WriteLog) {
    let l = log.clone();
    tx.expect_commit().times(1).returning(move || {
        l.push(StoreWrite::Commit);
        Ok(())
    });
}

/// Forbids every write method of `tx` and `commit`: the test fails if any is called.
pub(crate) fn forbid_writes(tx: &mut MockStoreTx) {
    tx.expect_insert_transaction().never();
    tx.expect_update_transaction().never();
    tx.expect_update_wallet().never();
    tx.expect_append_ledger().never();
    tx.expect_append_event().never();
    tx.expect_insert_address_book_entry().never();
    tx.expect_update_address_book_entry().never();
    tx.expect_complete_idempotency().never();
    tx.expect_adjust_available_total().never();
    tx.expect_commit().never();
}

/// A wallet of [`tenant`] (as [`wallet`]) holding `available`, `pending` and `held` base units.
pub(crate) fn funded_wallet(
    id: WalletId,
    vault: VaultId,
    asset: AssetId,
    available: u128,
    pending: u128,
    held: u128,
) -> Wallet {
    use crate::amount::Amount;
    let mut w = wallet(id, vault, asset);
    w.balances = Balances {
        available: Amount::from_base_units(available),
        pending: Amount::from_base_units(pending),
        held: Amount::from_base_units(held),
    };
    w
}

/// An approved tenant's policy without address-book cooling-off.
pub(crate) fn approved_policy() -> crate::tenant::TenantPolicy {
    crate::tenant::TenantPolicy {
        status: crate::tenant::TenantStatus::Approved,
        address_book_cooling_off: None,
    }
}

/// Lets `tx` answer `share_tenant_policy` for [`tenant`] with `policy` (any number of times).
pub(crate) fn allow_tenant_policy(tx: &mut MockStoreTx, policy: crate::tenant::TenantPolicy) {
    tx.expect_share_tenant_policy()
        .withf(|t| *t == tenant())
        .returning(move |_| Ok(policy));
}

/// Lets `tx` answer `share_vault` for any vault of [`tenant`] with a vault in `status`.
pub(crate) fn allow_vault(tx: &mut MockStoreTx, status: VaultStatus) {
    tx.expect_share_vault()
        .withf(|t, _| *t == tenant())
        .returning(move |_, id| Ok(vault(id, status)));
}
