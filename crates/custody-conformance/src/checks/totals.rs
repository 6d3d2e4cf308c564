//! The maintained tenant-wide totals (issue 18): `AssetTotalTx::adjust_available_total` and the
//! tenant-wide `WalletStore::available_by_asset` that reads them.

use std::collections::BTreeMap;
use std::sync::Arc;

use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::id::{TenantId, WalletId};
use custody_core::ports::{EnvironmentStores, StoreError};
use custody_core::services::{check_ledger, ReconcileService};
use custody_core::totals::{SignedAmount, SLOTS};
use custody_core::wallet::{Balances, Wallet};

use crate::concurrency::XorShift;
use crate::fixtures::*;
use crate::StoreHandles;

fn plus(units: u128) -> SignedAmount {
    SignedAmount::new(false, units)
}

fn minus(units: u128) -> SignedAmount {
    SignedAmount::new(true, units)
}

/// Adds each change in its own committed unit of work.
async fn adjust(
    env: &EnvironmentStores,
    tenant: TenantId,
    changes: &[(AssetId, u8, SignedAmount)],
) {
    for (asset, slot, delta) in changes {
        let mut tx = env.uow.begin().await.expect("begin");
        tx.adjust_available_total(tenant, *asset, *slot, *delta)
            .await
            .expect("adjust");
        tx.commit().await.expect("commit");
    }
}

/// `adjust_available_total` adds exactly, per (tenant, environment, asset), over slots that may
/// go negative; the tenant-wide read sums the slots, one line per asset the tenant has a wallet
/// for: zero lines, positive and negative slots, changes that cancel within one unit of work
/// (no slot row written), a rolled-back change, totals up
/// to `u128::MAX` exactly and, for a drifted total (a negative sum or one beyond `u128`), the
/// wallets' exact sum instead (never a rounded figure, never an error); other tenants and the other environment see none of it; a slot out of range is
/// refused; reconcile's snapshot holds the same totals.
pub async fn totals_adjust_and_read_exactly(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let c = seed_tenant(&stores, 3).await;

    // The read lists the assets the tenant has wallets for: empty wallets, no totals yet.
    let empty = Balances::default();
    seed_wallets(
        env,
        a,
        100,
        &[
            (usdt_eth(), empty),
            (usdc_sol(), empty),
            (usdc_base(), empty),
        ],
    )
    .await;
    seed_wallets(env, c, 400, &[(usdt_eth(), empty), (usdc_eth(), empty)]).await;
    assert_eq!(
        tenant_wide(env, a).await,
        vec![
            (usdt_eth(), Amount::ZERO),
            (usdc_sol(), Amount::ZERO),
            (usdc_base(), Amount::ZERO)
        ],
        "zero lines for wallets that never changed"
    );

    // usdt: 100 in slot 0, −40 in slot 7 (a negative slot), +5 in slot 15: 65.
    adjust(
        env,
        a,
        &[
            (usdt_eth(), 0, plus(100)),
            (usdt_eth(), 7, minus(40)),
            (usdt_eth(), 15, plus(5)),
        ],
    )
    .await;
    // usdc_sol: beyond 2^64 in parts that carry on SQLite.
    let big = u128::from(u64::MAX) * 1_000_003 + 99;
    adjust(
        env,
        a,
        &[
            (usdc_sol(), 3, plus(big)),
            (usdc_sol(), 3, plus(9_999_999_999)),
            (usdc_sol(), 4, minus(9_999_999_998)),
        ],
    )
    .await;
    assert_eq!(
        tenant_wide(env, a).await,
        vec![
            (usdt_eth(), amount(65)),
            (usdc_sol(), amount(big + 1)),
            (usdc_base(), Amount::ZERO),
        ],
        "slots summed per asset, exactly, in asset order"
    );

    // Changes that cancel within one unit of work write nothing (no slot row, below).
    let mut tx = env.uow.begin().await.expect("begin");
    tx.adjust_available_total(a, usdc_base(), 2, plus(7))
        .await
        .expect("adjust");
    tx.adjust_available_total(a, usdc_base(), 2, minus(7))
        .await
        .expect("adjust");
    tx.commit().await.expect("commit");
    // A rolled-back change leaves nothing either.
    let mut tx = env.uow.begin().await.expect("begin");
    tx.adjust_available_total(a, usdt_eth(), 1, plus(3))
        .await
        .expect("adjust");
    drop(tx);
    assert_eq!(tenant_wide(env, a).await[0], (usdt_eth(), amount(65)));

    // A total back to zero is a zero line.
    adjust(env, a, &[(usdt_eth(), 9, minus(65))]).await;
    assert_eq!(
        tenant_wide(env, a).await,
        vec![
            (usdt_eth(), Amount::ZERO),
            (usdc_sol(), amount(big + 1)),
            (usdc_base(), Amount::ZERO)
        ]
    );

    // Other tenants and the other environment see none of it.
    assert_eq!(tenant_wide(env, b).await, Vec::new());
    assert_eq!(tenant_wide(&stores.live, a).await, Vec::new());

    // u128::MAX is exact, spread over slots; one more, or a negative sum, is drift: the wallets.
    adjust(
        env,
        c,
        &[
            (usdt_eth(), 0, plus(u128::MAX)),
            (usdt_eth(), 1, plus(1)),
            (usdt_eth(), 2, minus(1)),
        ],
    )
    .await;
    assert_eq!(
        tenant_wide(env, c).await,
        vec![
            (usdt_eth(), Amount::from_base_units(u128::MAX)),
            (usdc_eth(), Amount::ZERO)
        ]
    );
    adjust(env, c, &[(usdt_eth(), 5, plus(1))]).await;
    assert_eq!(
        tenant_wide(env, c).await,
        vec![(usdt_eth(), Amount::ZERO), (usdc_eth(), Amount::ZERO)],
        "a total beyond u128: the read falls back to the wallets' exact sum (zero here), never a 500"
    );
    adjust(
        env,
        c,
        &[(usdt_eth(), 5, minus(1)), (usdc_eth(), 4, minus(2))],
    )
    .await;
    assert_eq!(
        tenant_wide(env, c).await,
        vec![(usdt_eth(), Amount::ZERO), (usdc_eth(), Amount::ZERO)],
        "a negative total: the read falls back to the wallets' exact sum (zero here), never a 500"
    );
    // One slot down to −u128::MAX and back is exact.
    adjust(
        env,
        c,
        &[
            (usdc_eth(), 4, plus(2)),
            (usdc_eth(), 6, minus(u128::MAX)),
            (usdc_eth(), 8, plus(u128::MAX)),
        ],
    )
    .await;
    assert_eq!(
        tenant_wide(env, c).await,
        vec![
            (usdt_eth(), Amount::from_base_units(u128::MAX)),
            (usdc_eth(), Amount::ZERO)
        ]
    );
    // A change that takes a slot below −u128::MAX is kept exactly all the same (the total is
    // what counts): the total is −1, drift (the wallets' sum is read), then zero again.
    adjust(env, c, &[(usdc_eth(), 6, minus(1))]).await;
    assert_eq!(
        tenant_wide(env, c).await,
        vec![(usdt_eth(), Amount::ZERO), (usdc_eth(), Amount::ZERO)],
        "a negative total: the read falls back to the wallets' exact sum (zero here), never a 500"
    );
    adjust(env, c, &[(usdc_eth(), 6, plus(1))]).await;
    assert_eq!(tenant_wide(env, c).await[1], (usdc_eth(), Amount::ZERO));

    // A slot out of range is refused.
    let mut tx = env.uow.begin().await.expect("begin");
    assert!(tx
        .adjust_available_total(c, usdc_eth(), SLOTS, plus(1))
        .await
        .is_err());
    drop(tx);

    // Reconcile reads the same totals.
    let snapshot = env
        .reconcile
        .ledger_snapshot(Some(a))
        .await
        .expect("snapshot");
    let totals: Vec<_> = snapshot
        .totals
        .iter()
        .map(|t| (t.tenant_id, t.asset, t.total))
        .collect();
    let mut expected = vec![
        (a, usdt_eth(), SignedAmount::ZERO),
        (a, usdc_sol(), plus(big + 1)),
    ];
    expected.sort_by_key(|x| (x.0, x.1));
    let mut sorted = totals;
    sorted.sort_by_key(|x| (x.0, x.1));
    assert_eq!(sorted, expected, "reconcile's totals of tenant a");
}

/// Wallets inserted with an available balance count in their tenant's total; the per-vault
/// read still sums the vault's wallets; reconcile finds a corrupted slot (and only it) and is
/// clean again once it is corrected.
pub async fn totals_follow_inserted_wallets_and_reconcile_names_drift(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    seed_wallets(env, a, 100, &[(usdt_eth(), balances(1_000, 5, 0))]).await;
    // A second vault: a funded wallet and an empty one.
    let second = seed_wallets(
        env,
        a,
        200,
        &[
            (usdt_eth(), balances(u128::from(u64::MAX) * 3, 0, 0)),
            (usdc_sol(), Balances::default()),
        ],
    )
    .await;
    let w2 = &second[0];
    let expected = u128::from(u64::MAX) * 3 + 1_000;
    assert_eq!(
        tenant_wide(env, a).await,
        vec![(usdt_eth(), amount(expected)), (usdc_sol(), Amount::ZERO)],
        "the funded wallets counted, the empty one a zero line"
    );
    assert_eq!(
        env.wallets
            .available_by_asset(a, Some(w2.vault_id))
            .await
            .expect("vault"),
        vec![
            (usdt_eth(), w2.balances.available),
            (usdc_sol(), Amount::ZERO)
        ],
        "one vault: its wallets, zero lines included"
    );

    let reconcile = ReconcileService::new(env.reconcile.clone());
    let report = reconcile.run(None).await.expect("reconcile");
    assert!(report.ledger.total_drift.is_empty(), "{report:?}");

    // A corrupted slot (a change no wallet made) is drift, named by tenant and asset.
    adjust(env, a, &[(usdt_eth(), 11, minus(7))]).await;
    let snapshot = env.reconcile.ledger_snapshot(None).await.expect("snapshot");
    let check = check_ledger(&snapshot);
    assert_eq!(check.total_drift.len(), 1, "{check:?}");
    let drift = &check.total_drift[0];
    assert_eq!(
        (drift.tenant_id, drift.asset, drift.total, drift.wallets),
        (a, usdt_eth(), plus(expected - 7), Some(expected))
    );
    assert!(check.drifted());
    // A total for an asset with no wallet at all is drift too.
    adjust(
        env,
        a,
        &[(usdt_eth(), 11, plus(7)), (usdc_base(), 1, plus(3))],
    )
    .await;
    let check = check_ledger(&env.reconcile.ledger_snapshot(None).await.expect("snapshot"));
    assert_eq!(check.total_drift.len(), 1, "{check:?}");
    assert_eq!(
        (check.total_drift[0].asset, check.total_drift[0].wallets),
        (usdc_base(), Some(0))
    );
    adjust(env, a, &[(usdc_base(), 1, minus(3))]).await;
    let check = check_ledger(&env.reconcile.ledger_snapshot(None).await.expect("snapshot"));
    assert!(check.total_drift.is_empty(), "clean again: {check:?}");
}

/// Many concurrent units of work changing wallets of one tenant the way booking does (wallets
/// locked in id order, updated, then the movement's change added to the slot of its
/// transaction): credits, debits and transfers, each in a random slot. No deadlock, no error,
/// no lost update: afterwards every total equals its wallets' sum.
pub async fn totals_concurrent_movements_lose_nothing(stores: StoreHandles) {
    movements_racing(stores, 0).await;
}

/// `rebuild_totals` run over and over while many units of work change wallets the way booking
/// does (as [`totals_concurrent_movements_lose_nothing`]), on a total corrupted beforehand: no
/// deadlock, no error, no change lost or counted twice: afterwards the total equals the wallets'
/// sum and reconcile finds no drift.
pub async fn totals_rebuild_while_movements_book(stores: StoreHandles) {
    movements_racing(stores, 6).await;
}

async fn movements_racing(stores: StoreHandles, rebuilds: u32) {
    const WALLETS: u64 = 8;
    const TASKS: u64 = 16;
    const MOVES: u64 = 40;
    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let mut ids: Vec<WalletId> = Vec::new();
    for i in 0..WALLETS {
        let funded = [(usdt_eth(), balances(1_000_000, 0, 0))];
        ids.push(seed_wallets(&env, tenant, 100 + 10 * i, &funded).await[0].id);
    }
    if rebuilds > 0 {
        // Drift the rebuilds repair: a change no wallet made.
        adjust(&env, tenant, &[(usdt_eth(), 5, minus(123_456))]).await;
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(
        TASKS as usize + usize::from(rebuilds > 0),
    ));
    let mut tasks = Vec::new();
    if rebuilds > 0 {
        let env = env.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut errors = Vec::new();
            barrier.wait().await;
            for _ in 0..rebuilds {
                if let Err(e) = env.reconcile.rebuild_totals(Some(tenant)).await {
                    errors.push(format!("rebuild: {e:?}"));
                }
                tokio::task::yield_now().await;
            }
            errors
        }));
    }
    for task in 0..TASKS {
        let env = env.clone();
        let ids = ids.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = XorShift::new(0x7074_0000 + task);
            let mut errors = Vec::new();
            barrier.wait().await;
            for _ in 0..MOVES {
                let from = ids[rng.below(WALLETS) as usize];
                let to = ids[rng.below(WALLETS) as usize];
                let units = 1 + u128::from(rng.below(500));
                let kind = rng.below(3);
                let slot = u8::try_from(rng.below(u64::from(SLOTS))).expect("small");
                let mut locked = vec![from, to];
                locked.sort();
                locked.dedup();
                let result: Result<(), StoreError> = async {
                    let mut tx = env.uow.begin().await?;
                    let mut wallets: BTreeMap<WalletId, Wallet> = tx
                        .lock_wallets(tenant, &locked)
                        .await?
                        .into_iter()
                        .map(|w| (w.id, w))
                        .collect();
                    let change = match kind {
                        // A deposit credits `to`.
                        0 => vec![(to, plus(units))],
                        // A withdrawal debits `from`.
                        1 => vec![(from, minus(units))],
                        // A transfer: both, no change of the total.
                        _ => vec![(from, minus(units)), (to, plus(units))],
                    };
                    let mut total = SignedAmount::ZERO;
                    for (id, delta) in change {
                        let w = wallets.get_mut(&id).expect("locked");
                        let available = w.balances.available.base_units();
                        let next = if delta.is_negative() {
                            available - delta.magnitude()
                        } else {
                            available + delta.magnitude()
                        };
                        w.balances.available = Amount::from_base_units(next);
                        total = total.checked_add(delta).expect("small");
                    }
                    for w in wallets.values_mut() {
                        w.version += 1;
                        tx.update_wallet(w).await?;
                    }
                    if !total.is_zero() {
                        tx.adjust_available_total(tenant, usdt_eth(), slot, total)
                            .await?;
                    }
                    tx.commit().await
                }
                .await;
                if let Err(e) = result {
                    errors.push(format!("{e:?}"));
                }
            }
            errors
        }));
    }
    let mut errors = Vec::new();
    for task in tasks {
        errors.extend(task.await.expect("task"));
    }
    assert!(
        errors.is_empty(),
        "{} movements failed (a deadlock or lock timeout shows here): {:?}",
        errors.len(),
        errors.iter().take(5).collect::<Vec<_>>()
    );
    let mut sum = 0u128;
    for id in &ids {
        sum += env
            .wallets
            .get(tenant, *id)
            .await
            .expect("get")
            .balances
            .available
            .base_units();
    }
    assert_eq!(
        tenant_wide(&env, tenant).await,
        vec![(usdt_eth(), amount(sum))],
        "the total is the wallets' sum: no lost update"
    );
    assert_no_total_drift(&env, tenant).await;
}

/// `ReconcileStore::rebuild_totals` (`custody admin totals rebuild`): drifted totals (a
/// corrupted slot making the sum negative, a total beyond `u128` spread over slots, a total
/// for an asset with no wallet) are read as the wallets' exact sum meanwhile, and the rebuild
/// sets each to its wallets' sum, reporting before and after; with a tenant, only that tenant's;
/// then reconcile is clean, the read is the maintained total again, later changes add to it,
/// and a second rebuild changes nothing.
pub async fn totals_rebuild_repairs_drift(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let big = u128::from(u64::MAX) * 3;
    seed_wallets(
        env,
        a,
        100,
        &[
            (usdt_eth(), balances(1_000, 5, 0)),
            (usdc_sol(), balances(big, 0, 7)),
        ],
    )
    .await;
    seed_wallets(env, b, 200, &[(usdt_eth(), balances(42, 0, 0))]).await;

    // Drift: a's usdt negative, a usdc_base total with no wallet, b's usdt beyond u128.
    adjust(
        env,
        a,
        &[(usdt_eth(), 11, minus(3_000)), (usdc_base(), 2, plus(3))],
    )
    .await;
    adjust(
        env,
        b,
        &[
            (usdt_eth(), 1, plus(u128::MAX)),
            (usdt_eth(), 2, plus(u128::MAX)),
        ],
    )
    .await;
    assert_eq!(
        tenant_wide(env, a).await,
        vec![(usdt_eth(), amount(1_000)), (usdc_sol(), amount(big))],
        "a negative total: the wallets' sum is read instead"
    );
    assert_eq!(
        tenant_wide(env, b).await,
        vec![(usdt_eth(), amount(42))],
        "a total beyond u128: the wallets' sum is read instead"
    );

    // One tenant: only its totals.
    let mut rebuilt = env
        .reconcile
        .rebuild_totals(Some(a))
        .await
        .expect("rebuild a");
    rebuilt.sort_by_key(|t| t.asset);
    let seen: Vec<_> = rebuilt
        .iter()
        .map(|t| (t.tenant_id, t.asset, t.before, t.after, t.changed()))
        .collect();
    let mut expected = vec![
        (a, usdt_eth(), Some(minus(2_000)), amount(1_000), true),
        (a, usdc_sol(), Some(plus(big)), amount(big), false),
        (a, usdc_base(), Some(plus(3)), Amount::ZERO, true),
    ];
    expected.sort_by_key(|t| t.1);
    assert_eq!(seen, expected, "a's totals before and after");
    let reconcile = ReconcileService::new(env.reconcile.clone());
    let report = reconcile.run(Some(a)).await.expect("reconcile a");
    assert!(report.ledger.total_drift.is_empty(), "{report:?}");
    assert!(
        env.reconcile.ledger_snapshot(Some(b)).await.is_err(),
        "b untouched: its total still beyond u128 (which reconcile reports as an error)"
    );

    // Every tenant.
    let rebuilt = env
        .reconcile
        .rebuild_totals(None)
        .await
        .expect("rebuild all");
    let changed: Vec<_> = rebuilt
        .iter()
        .filter(|t| t.changed())
        .map(|t| (t.tenant_id, t.asset, t.before, t.after))
        .collect();
    assert_eq!(changed, vec![(b, usdt_eth(), None, amount(42))]);
    let report = reconcile.run(None).await.expect("reconcile");
    assert!(report.ledger.total_drift.is_empty(), "{report:?}");
    assert!(
        stores
            .live
            .reconcile
            .rebuild_totals(None)
            .await
            .expect("live")
            .is_empty(),
        "the other environment has none"
    );

    // The maintained totals again: a later change adds to the rebuilt total.
    adjust(env, a, &[(usdt_eth(), 9, plus(25))]).await;
    assert_eq!(
        tenant_wide(env, a).await,
        vec![(usdt_eth(), amount(1_025)), (usdc_sol(), amount(big))]
    );
    adjust(env, a, &[(usdt_eth(), 9, minus(25))]).await;
    let again = env.reconcile.rebuild_totals(None).await.expect("again");
    assert!(again.iter().all(|t| !t.changed()), "{again:?}");
    assert_eq!(again.len(), 4, "a: usdt, usdc_sol, usdc_base; b: usdt");
}
