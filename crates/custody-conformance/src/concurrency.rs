//! Concurrency checks: the real core services driven from many tasks at once against a store.
//!
//! Transient store errors (`Conflict` from a serialisation failure, `Unavailable` from a lock
//! timeout) are not retried here: with correct locking they do not happen, so the checks count
//! them as failures and print them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use custody_core::amount::Amount;
use custody_core::api_key::ScopeSet;
use custody_core::caller::Caller;
use custody_core::environment::Environment;
use custody_core::error::Error;
use custody_core::event::EventType;
use custody_core::id::{TenantId, WalletId};
use custody_core::ledger::{self, LedgerEntry, Movement};
use custody_core::ports::{
    AddressFilter, EnvironmentStores, FixedClock, SequentialIds, TransactionFilter, VaultFilter,
    WalletFilter,
};
use custody_core::services::{
    AddressService, AddressTarget, EnsureAddress, TransferCommand, TransferService,
};
use custody_core::transaction::{TransactionKind, TransactionStatus};
use custody_core::wallet::Wallet;

use crate::fixtures::*;
use crate::provider::CountingProvider;
use crate::StoreHandles;

/// How many concurrent `ensure_primary_address` calls race.
pub const ENSURE_RACERS: usize = 64;
/// Wallets the transfer check moves money between.
pub const TRANSFER_WALLETS: usize = 10;
/// Tasks doing transfers at once.
pub const TRANSFER_TASKS: u64 = 32;
/// Transfers per task.
pub const TRANSFERS_PER_TASK: u64 = 100;
/// Base units each wallet starts with.
pub const STARTING_BALANCE: u128 = 1_000;

/// A tiny xorshift64* generator: seeded, so a failure reproduces.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> XorShift {
        XorShift(seed.max(1))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

pub(crate) fn caller(tenant: TenantId, env: Environment) -> Caller {
    Caller {
        tenant_id: tenant,
        environment: env,
        key_id: api_key_id(999),
        scopes: ScopeSet::all(),
    }
}

pub(crate) fn ids() -> Arc<SequentialIds> {
    // Far from every fixture id's timestamp.
    Arc::new(SequentialIds::new(EPOCH_MS + 5_000_000))
}

/// A transfer service over `env`, its clock fixed at `at(10)`.
pub(crate) fn transfer_service(env: &EnvironmentStores) -> TransferService {
    TransferService::new(
        env.uow.clone(),
        Arc::new(FixedClock::new(at(10))),
        ids(),
        Arc::new(custody_core::event::DomainSnapshots),
    )
}

pub(crate) fn address_service(
    stores: &StoreHandles,
    env: &EnvironmentStores,
    provider: Arc<CountingProvider>,
) -> AddressService {
    AddressService::new(
        env.environment,
        env.uow.clone(),
        stores.shared.tenants.clone(),
        env.vaults.clone(),
        env.addresses.clone(),
        provider,
        Arc::new(FixedClock::new(at(0))),
        ids(),
        Arc::new(custody_core::event::DomainSnapshots),
    )
}

/// Runs [`ENSURE_RACERS`] concurrent `ensure_primary_address` calls for `target` and checks
/// they all return one address, minted by exactly one provider call. Returns the address.
async fn race_ensure(
    stores: &StoreHandles,
    env: &EnvironmentStores,
    tenant: TenantId,
    target: AddressTarget,
) -> custody_core::deposit_address::DepositAddress {
    let provider = Arc::new(CountingProvider::with_delay(Duration::from_millis(20)));
    let service = address_service(stores, env, provider.clone());
    let caller = caller(tenant, env.environment);
    let barrier = Arc::new(tokio::sync::Barrier::new(ENSURE_RACERS));
    let mut tasks = Vec::new();
    for _ in 0..ENSURE_RACERS {
        let service = service.clone();
        let caller = caller.clone();
        let barrier = barrier.clone();
        let command = EnsureAddress {
            target: target.clone(),
            asset: usdc_sol(),
            label: Some(label("primary")),
        };
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            service
                .ensure_primary_address(&caller, command, None)
                .await
                .map_err(|e| format!("{e:?}"))
        }));
    }
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(r) => results.push(r),
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ENSURE_RACERS} ensure_primary_address calls failed: {failures:?}",
        failures.len()
    );
    let first = results[0].value.clone();
    for r in &results {
        assert_eq!(r.value, first, "every caller gets the same address");
    }
    assert_eq!(
        results.iter().filter(|r| r.created).count(),
        1,
        "exactly one call reports having created it"
    );
    assert_eq!(provider.mints(), 1, "exactly one provider call");
    assert!(first.is_primary);
    assert_eq!(first.derivation_index, 0);

    let addresses = env
        .addresses
        .list(tenant, &AddressFilter::default(), page(200, None, None))
        .await
        .expect("list");
    assert_eq!(
        addresses.items,
        vec![first.clone()],
        "exactly one address row"
    );
    let wallets = env
        .wallets
        .list(tenant, &WalletFilter::default(), page(200, None, None))
        .await
        .expect("list");
    assert_eq!(wallets.items.len(), 1, "exactly one wallet: {wallets:?}");
    assert_eq!(wallets.items[0].id, first.wallet_id);
    let events = env
        .events
        .list(tenant, page(200, None, None))
        .await
        .expect("events");
    let count = |t| events.items.iter().filter(|e| e.event_type == t).count();
    assert_eq!(count(EventType::WalletCreated), 1);
    assert_eq!(count(EventType::AddressCreated), 1);
    first
}

/// 64 concurrent `AddressService::ensure_primary_address` calls for one existing customer
/// vault and asset produce one wallet, one address and one provider call, and every caller gets
/// that address.
pub async fn concurrent_ensure_primary_address_mints_once(stores: StoreHandles) {
    let env = stores.sandbox.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let vault = customer_vault(tenant, 10);
    commit_vaults(&env, &[&vault]).await;
    let address = race_ensure(&stores, &env, tenant, AddressTarget::Vault(vault.id)).await;
    assert_eq!(address.vault_id, vault.id);
    // A later call finds it without minting.
    let provider = Arc::new(CountingProvider::default());
    let again = address_service(&stores, &env, provider.clone())
        .ensure_primary_address(
            &caller(tenant, env.environment),
            EnsureAddress {
                target: AddressTarget::Vault(vault.id),
                asset: usdc_sol(),
                label: None,
            },
            None,
        )
        .await
        .expect("ensure again");
    assert_eq!(again.value, address);
    assert!(!again.created);
    assert_eq!(provider.mints(), 0);
}

/// 64 concurrent `ensure_primary_address` calls naming a customer vault by a new external
/// reference create one vault (the losers of the insert race re-read it), one wallet, one
/// address, with one provider call.
pub async fn concurrent_ensure_primary_address_creates_one_vault(stores: StoreHandles) {
    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let address = race_ensure(
        &stores,
        &env,
        tenant,
        AddressTarget::Customer(external_ref("lazy-customer")),
    )
    .await;
    let vaults = env
        .vaults
        .list(tenant, &VaultFilter::default(), page(200, None, None))
        .await
        .expect("list");
    assert_eq!(vaults.items.len(), 1, "exactly one vault: {vaults:?}");
    assert_eq!(vaults.items[0].id, address.vault_id);
    assert_eq!(
        vaults.items[0].external_ref,
        Some(external_ref("lazy-customer"))
    );
    let events = env
        .events
        .list(tenant, page(200, None, None))
        .await
        .expect("events");
    assert_eq!(
        events
            .items
            .iter()
            .filter(|e| e.event_type == EventType::VaultCreated)
            .count(),
        1
    );
    // Every other path to the same (vault, asset) converges on that address, without minting.
    let provider = Arc::new(CountingProvider::default());
    let service = address_service(&stores, &env, provider.clone());
    for target in [
        AddressTarget::Vault(address.vault_id),
        AddressTarget::Wallet(address.wallet_id),
        AddressTarget::Customer(external_ref("lazy-customer")),
    ] {
        let again = service
            .ensure_primary_address(
                &caller(tenant, env.environment),
                EnsureAddress {
                    target: target.clone(),
                    asset: usdc_sol(),
                    label: None,
                },
                None,
            )
            .await
            .expect("ensure again");
        assert_eq!(again.value, address, "{target:?} converges");
        assert!(!again.created);
    }
    assert_eq!(provider.mints(), 0);
}

/// Seeds `TRANSFER_WALLETS` funded wallets (one vault each) as a completed deposit would:
/// transaction, ledger entries and balances committed together.
pub(crate) async fn seed_funded_wallets(env: &EnvironmentStores, tenant: TenantId) -> Vec<Wallet> {
    let mut wallets = Vec::new();
    for i in 0..TRANSFER_WALLETS as u64 {
        let vault = customer_vault(tenant, 100 + i);
        commit_vaults(env, &[&vault]).await;
        let mut w = wallet(&vault, usdt_eth(), 200 + i);
        commit_wallets(env, &[&w]).await;
        let mut deposit = transaction(
            tenant,
            300 + i,
            TransactionKind::Deposit,
            usdt_eth(),
            STARTING_BALANCE,
            None,
            Some(w.id),
        );
        deposit.provider_ref = Some(format!("seed-{i}"));
        deposit
            .advance(TransactionStatus::Completed, at(1))
            .expect("complete");
        let mut entries = Vec::new();
        let mut balances = BTreeMap::from([(w.id, w.balances)]);
        for movement in [
            Movement::DepositDetected {
                wallet: w.id,
                asset: usdt_eth(),
                amount: Amount::from_base_units(STARTING_BALANCE),
            },
            Movement::DepositCompleted {
                wallet: w.id,
                amount: Amount::from_base_units(STARTING_BALANCE),
            },
        ] {
            let postings = movement.postings().expect("postings");
            ledger::apply(&mut balances, &postings).expect("apply");
            entries.extend(LedgerEntry::for_postings(
                deposit.id,
                usdt_eth(),
                &postings,
                at(1),
            ));
        }
        w.balances = balances[&w.id];
        w.touch(at(1));
        let mut tx = env.uow.begin().await.expect("begin");
        tx.insert_transaction(&deposit).await.expect("deposit");
        tx.update_wallet(&w).await.expect("fund wallet");
        tx.append_ledger(&entries).await.expect("ledger");
        // The tenant-wide total moves with the wallet, as booking does.
        tx.adjust_available_total(
            tenant,
            usdt_eth(),
            custody_core::totals::slot_of(deposit.id),
            custody_core::totals::SignedAmount::positive(w.balances.available),
        )
        .await
        .expect("total");
        tx.commit().await.expect("commit");
        wallets.push(w);
    }
    wallets
}

/// 32 tasks doing 100 random transfers each (`TransferService::transfer`) between 10 wallets,
/// some for more than the source holds: the total is unchanged, no balance is negative, every
/// wallet's ledger replays to its stored balances, each wallet's version counts the transfers
/// that touched it (no lost update), and the completed transfers in the store are exactly the
/// successful calls.
pub async fn concurrent_transfers_conserve_balances(stores: StoreHandles) {
    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let wallets = seed_funded_wallets(&env, tenant).await;
    let ids_of: Vec<WalletId> = wallets.iter().map(|w| w.id).collect();
    let service = transfer_service(&env);
    let caller = caller(tenant, env.environment);
    let total = STARTING_BALANCE * TRANSFER_WALLETS as u128;
    let barrier = Arc::new(tokio::sync::Barrier::new(TRANSFER_TASKS as usize));

    let mut tasks = Vec::new();
    for task in 0..TRANSFER_TASKS {
        let service = service.clone();
        let caller = caller.clone();
        let ids_of = ids_of.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift::new(0x5EED_0000_0000 + task);
            let mut ok = Vec::new();
            let mut insufficient = 0u64;
            let mut unexpected = Vec::new();
            barrier.wait().await;
            for _ in 0..TRANSFERS_PER_TASK {
                let from = rng.below(TRANSFER_WALLETS as u64) as usize;
                let to =
                    (from + 1 + rng.below(TRANSFER_WALLETS as u64 - 1) as usize) % TRANSFER_WALLETS;
                let units = if rng.below(10) == 0 {
                    total + 1 + u128::from(rng.below(1_000))
                } else {
                    1 + u128::from(rng.below(600))
                };
                let command = TransferCommand {
                    from: ids_of[from],
                    to: ids_of[to],
                    amount: Amount::from_base_units(units).to_decimal_string(6),
                    reference: None,
                };
                match service.transfer(&caller, command, None).await {
                    Ok(t) => ok.push(t),
                    Err(Error::InsufficientFunds { .. }) => insufficient += 1,
                    Err(e) => unexpected.push(format!("{e:?}")),
                }
            }
            (ok, insufficient, unexpected)
        }));
    }
    let mut successes = Vec::new();
    let mut insufficient = 0;
    let mut unexpected = Vec::new();
    for task in tasks {
        let (ok, short, errors) = task.await.expect("task");
        successes.extend(ok);
        insufficient += short;
        unexpected.extend(errors);
    }
    assert!(
        unexpected.is_empty(),
        "{} transfers failed with something other than insufficient funds (first: {:?})",
        unexpected.len(),
        unexpected.iter().take(5).collect::<Vec<_>>()
    );
    assert!(!successes.is_empty(), "some transfers succeed");
    assert!(
        insufficient > 0,
        "some transfers are refused for insufficient funds"
    );
    assert_eq!(
        successes.len() as u64 + insufficient,
        TRANSFER_TASKS * TRANSFERS_PER_TASK
    );

    let mut touches: BTreeMap<WalletId, u64> = BTreeMap::new();
    for t in &successes {
        for w in [t.source_wallet_id, t.destination_wallet_id]
            .into_iter()
            .flatten()
        {
            *touches.entry(w).or_default() += 1;
        }
    }
    let mut sum = 0u128;
    for seeded in &wallets {
        let stored = env.wallets.get(tenant, seeded.id).await.expect("get");
        assert!(stored.balances.pending.is_zero() && stored.balances.held.is_zero());
        sum += stored.balances.available.base_units();
        let entries = env
            .transactions
            .ledger_for_wallet(seeded.id)
            .await
            .expect("ledger");
        let replayed =
            ledger::replay(seeded.id, &entries).expect("the ledger never takes a bucket negative");
        assert_eq!(
            replayed, stored.balances,
            "ledger replay of {} equals its stored balances",
            seeded.id
        );
        let touched = touches.get(&seeded.id).copied().unwrap_or(0);
        assert_eq!(
            stored.version,
            seeded.version + touched,
            "{}: one version per transfer that touched it (a lost update shows here)",
            seeded.id
        );
        assert_eq!(
            entries.len() as u64,
            3 + touched,
            "{}: three seed entries (pending in; pending to available) plus one per transfer",
            seeded.id
        );
    }
    assert_eq!(sum, total, "the total is unchanged");
    // Transfers between the tenant's wallets leave its maintained total alone (issue 18).
    assert_eq!(
        env.wallets
            .available_by_asset(tenant, None)
            .await
            .expect("tenant-wide"),
        vec![(usdt_eth(), Amount::from_base_units(total))],
        "the tenant-wide total equals the wallets' sum"
    );

    // The completed transfers in the store are exactly the successful calls.
    let mut stored = Vec::new();
    let mut cursor = None;
    loop {
        let p = env
            .transactions
            .list(
                tenant,
                &TransactionFilter {
                    kind: Some(TransactionKind::Transfer),
                    status: Some(TransactionStatus::Completed),
                    ..TransactionFilter::default()
                },
                page(200, cursor, None),
            )
            .await
            .expect("list");
        cursor = p.items.last().map(|t| t.id.ulid());
        stored.extend(p.items);
        if !p.has_more {
            break;
        }
    }
    assert_eq!(stored.len(), successes.len());
    successes.sort_by_key(|t| t.id);
    assert_eq!(
        stored, successes,
        "stored transfers equal the returned ones"
    );
}
