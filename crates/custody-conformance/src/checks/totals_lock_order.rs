//! The lock order of the tenant-wide totals' slots (issue 18, review item 5):
//! `AssetTotalTx::adjust_available_total` must take no row lock when it is called. A store that
//! locks row by row writes the slot at commit, after every other write, and writes the slots of
//! one commit in (tenant, asset, slot) order (the `AssetTotalTx` contract; docs/storage.md,
//! "Why the slot cannot deadlock").

use std::sync::Arc;
use std::time::Duration;

use custody_core::amount::Amount;
use custody_core::id::{TenantId, WalletId};
use custody_core::ports::{EnvironmentStores, StoreError, StoreTx};
use custody_core::totals::{SignedAmount, SLOTS};
use custody_core::wallet::Balances;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use crate::fixtures::*;
use crate::StoreHandles;

/// How long the check lets a second unit of work take to begin while one is open before it
/// concludes that the store runs units of work one at a time (SQLite's single writer: the second
/// `begin` waits for the first to end). Beginning takes milliseconds on a store that does not.
const BEGIN_WAIT: Duration = Duration::from_secs(5);

/// How long a unit of work that waits on nothing (a handful of statements) may take before the
/// check calls it blocked: far beyond what it takes, and below PostgreSQL's default
/// `lock_timeout` (15 s), so a blocked statement shows as blocked rather than as its error.
const BLOCKED_AFTER: Duration = Duration::from_secs(10);

/// The slot that phases 1 and 2 change.
const SLOT: u8 = 5;

/// Rounds of two units of work committing all slots, written in opposite orders, at once.
const ROUNDS: u128 = 10;

/// How far a unit of work on its own task has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `begin` returned.
    Began,
    /// It holds its wallet's row lock (and has updated the wallet), before its slot changes.
    Locked,
}

/// Books `credits` (slot, units) to `wallet` the way booking does: the wallet locked and
/// updated (then `Locked` is reported on `progress`), then each change added to its slot of the
/// tenant's USDT total, in the order given.
async fn book(
    tx: &mut dyn StoreTx,
    tenant: TenantId,
    wallet: WalletId,
    credits: &[(u8, u128)],
    progress: Option<&UnboundedSender<Stage>>,
) -> Result<(), StoreError> {
    let mut w = tx
        .lock_wallets(tenant, &[wallet])
        .await?
        .pop()
        .expect("the wallet exists");
    let units: u128 = credits.iter().map(|(_, units)| units).sum();
    w.balances.available = Amount::from_base_units(w.balances.available.base_units() + units);
    w.version += 1;
    tx.update_wallet(&w).await?;
    if let Some(progress) = progress {
        let _ = progress.send(Stage::Locked);
    }
    for (slot, units) in credits {
        tx.adjust_available_total(tenant, usdt_eth(), *slot, SignedAmount::new(false, *units))
            .await?;
    }
    Ok(())
}

/// A unit of work on a task of its own that books `credits` to `wallet` and commits, reporting
/// its stages; with a `barrier`, it commits once every holder of the barrier has booked (or
/// failed: a failed one waits at the barrier too, so the others are not left waiting).
fn spawn_booking(
    env: &EnvironmentStores,
    tenant: TenantId,
    wallet: WalletId,
    credits: Vec<(u8, u128)>,
    barrier: Option<Arc<Barrier>>,
) -> (UnboundedReceiver<Stage>, JoinHandle<Result<(), StoreError>>) {
    let (progress, stages) = unbounded_channel();
    let env = env.clone();
    let task = tokio::spawn(async move {
        let booked = async {
            let mut tx = env.uow.begin().await?;
            let _ = progress.send(Stage::Began);
            book(tx.as_mut(), tenant, wallet, &credits, Some(&progress)).await?;
            Ok::<_, StoreError>(tx)
        }
        .await;
        // A failed unit of work was dropped (rolled back) above, before the barrier.
        if let Some(barrier) = barrier {
            barrier.wait().await;
        }
        booked?.commit().await
    });
    (stages, task)
}

/// Waits for the task's next stage, which must be `expected`, for at most `wait`; `None` when
/// it has not come by then.
async fn next_stage(
    stages: &mut UnboundedReceiver<Stage>,
    task: &mut JoinHandle<Result<(), StoreError>>,
    expected: Stage,
    wait: Duration,
) -> Option<()> {
    match tokio::time::timeout(wait, stages.recv()).await {
        Err(_) => None,
        Ok(Some(stage)) => {
            assert_eq!(stage, expected);
            Some(())
        }
        // The task ended without reaching the stage: its error says why.
        Ok(None) => {
            let ended = task.await;
            panic!("the second unit of work ended before {expected:?}: {ended:?}")
        }
    }
}

/// Awaits a unit of work's task for at most [`BLOCKED_AFTER`].
async fn finished(task: JoinHandle<Result<(), StoreError>>, what: &str) {
    match tokio::time::timeout(BLOCKED_AFTER, task).await {
        Ok(joined) => joined
            .expect("the task")
            .unwrap_or_else(|e| panic!("{what}: {e:?}")),
        Err(_) => panic!("{what}: blocked for {BLOCKED_AFTER:?}"),
    }
}

/// The slot of a tenant-wide total is written last, in order (the `AssetTotalTx` contract):
/// 1. T1 books to slot s and stays open; T2 books to the same slot of the same total from
///    another wallet and commits. T2 must finish while T1 is open (a store that wrote the slot
///    at once would hold its row lock until T1 ends), and the total is then both changes.
/// 2. The deadlock of the contract's example: T1 books to slot s, then (a second movement of
///    the same unit of work) locks wallet W2, which T2 holds while it books to slot s. Both
///    must commit: T1 waits for W2 until T2 has committed, and T2 waits for nothing.
/// 3. Two units of work adding to all 16 slots, one in descending order and one ascending,
///    commit at once, ten times: no deadlock (a store writes one commit's slots in slot order,
///    whatever order they were changed in).
///
/// Afterwards the total is every change, it equals the wallets' sum, and reconcile finds no
/// drift. On a store that runs one unit of work at a time (SQLite: T2's `begin` waits for T1 to
/// end; the check tells by T2 not beginning within a few seconds), nothing can wait on a slot,
/// so the waits above do not arise: each T2 then runs after its T1, and the check still proves
/// that changes to one slot from units of work in turn, and to every slot in either order, all
/// count exactly.
pub async fn totals_slots_are_written_last_in_order(stores: StoreHandles) {
    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let usdt = [(usdt_eth(), Balances::default())];
    let w1 = seed_wallets(&env, tenant, 100, &usdt).await[0].id;
    let w2 = seed_wallets(&env, tenant, 200, &usdt).await[0].id;
    assert!(w1 < w2, "T1 locks its wallets in id order");
    let mut booked = 0u128;

    // 1. T2 books to T1's slot while T1 is open.
    let mut t1 = env.uow.begin().await.expect("begin T1");
    book(t1.as_mut(), tenant, w1, &[(SLOT, 100)], None)
        .await
        .expect("T1 books");
    let (mut stages, mut t2) = spawn_booking(&env, tenant, w2, vec![(SLOT, 20)], None);
    let concurrent = next_stage(&mut stages, &mut t2, Stage::Began, BEGIN_WAIT)
        .await
        .is_some();
    if concurrent {
        match tokio::time::timeout(BLOCKED_AFTER, &mut t2).await {
            Ok(joined) => joined
                .expect("the task")
                .expect("T2 books to T1's slot and commits while T1 is open"),
            Err(_) => {
                // Let T2 go before failing.
                drop(t1);
                let _ = t2.await;
                panic!(
                    "T2 began, then blocked while T1 was open: adjust_available_total took \
                     the slot's row lock at once (it must write the slot at commit)"
                );
            }
        }
        t1.commit().await.expect("commit T1");
    } else {
        // One unit of work at a time: T2 begins once T1 has ended.
        t1.commit().await.expect("commit T1");
        finished(t2, "T2, after T1").await;
    }
    booked += 120;
    assert_eq!(
        tenant_wide(&env, tenant).await,
        vec![(usdt_eth(), amount(booked))],
        "both changes to the slot count"
    );

    // 2. The contract's deadlock: T1 holds slot s (were it written at once) and asks for W2;
    //    T2 holds W2 and books to slot s.
    let mut t1 = env.uow.begin().await.expect("begin T1");
    book(t1.as_mut(), tenant, w1, &[(SLOT, 1_000)], None)
        .await
        .expect("T1 books from W1");
    let (mut stages, mut t2) = spawn_booking(&env, tenant, w2, vec![(SLOT, 300)], None);
    if concurrent {
        for stage in [Stage::Began, Stage::Locked] {
            next_stage(&mut stages, &mut t2, stage, BLOCKED_AFTER)
                .await
                .unwrap_or_else(|| panic!("T2 did not reach {stage:?}"));
        }
    }
    // T1's second movement: W2, held by T2 (when it runs beside T1) until T2 commits.
    let second = tokio::time::timeout(
        BLOCKED_AFTER,
        book(t1.as_mut(), tenant, w2, &[(SLOT, 4_000)], None),
    )
    .await;
    match second {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!("T1's second movement failed (a deadlock shows here): {e:?}"),
        Err(_) => panic!("T1 waited on W2 for {BLOCKED_AFTER:?}: T2 never committed"),
    }
    t1.commit().await.expect("commit T1");
    finished(t2, "T2, holding W2 and booking to T1's slot").await;
    booked += 5_300;
    assert_eq!(
        tenant_wide(&env, tenant).await,
        vec![(usdt_eth(), amount(booked))]
    );

    // 3. Every slot, changed in opposite orders, committed at once.
    let ascending: Vec<(u8, u128)> = (0..SLOTS).map(|s| (s, 1 + u128::from(s))).collect();
    let descending: Vec<(u8, u128)> = ascending.iter().rev().copied().collect();
    let per_round: u128 = ascending.iter().map(|(_, units)| 2 * units).sum();
    for round in 0..ROUNDS {
        if concurrent {
            let barrier = Arc::new(Barrier::new(2));
            let (_, down) =
                spawn_booking(&env, tenant, w1, descending.clone(), Some(barrier.clone()));
            let (_, up) = spawn_booking(&env, tenant, w2, ascending.clone(), Some(barrier));
            finished(
                down,
                &format!("round {round}: the slots in descending order"),
            )
            .await;
            finished(up, &format!("round {round}: the slots in ascending order")).await;
        } else {
            let (_, down) = spawn_booking(&env, tenant, w1, descending.clone(), None);
            finished(
                down,
                &format!("round {round}: the slots in descending order"),
            )
            .await;
            let (_, up) = spawn_booking(&env, tenant, w2, ascending.clone(), None);
            finished(up, &format!("round {round}: the slots in ascending order")).await;
        }
    }
    booked += ROUNDS * per_round;

    assert_eq!(
        tenant_wide(&env, tenant).await,
        vec![(usdt_eth(), amount(booked))],
        "every change counted once"
    );
    let mut wallets = 0u128;
    for id in [w1, w2] {
        wallets += env
            .wallets
            .get(tenant, id)
            .await
            .expect("get")
            .balances
            .available
            .base_units();
    }
    assert_eq!(wallets, booked, "the wallets hold what was booked");
    assert_no_total_drift(&env, tenant).await;
}
