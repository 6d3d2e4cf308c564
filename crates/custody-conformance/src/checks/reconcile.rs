//! Reconciliation's one-snapshot reads (`ReconcileStore::ledger_snapshot`, issue 14): exact
//! sums beyond 64 bits, drift named, residues of final transactions, money in flight,
//! the tenant filter, environment isolation, and no false drift under concurrent transfers.

use std::collections::BTreeMap;
use std::sync::Arc;

use custody_core::amount::Amount;
use custody_core::id::{TenantId, WalletId};
use custody_core::ledger::{self, LedgerEntry, Movement, Posting};
use custody_core::ports::{EnvironmentStores, InFlightItem};
use custody_core::services::{check_ledger, TransferCommand, WalletDrift};
use custody_core::transaction::{Transaction, TransactionKind, TransactionStatus};
use custody_core::wallet::{Bucket, Wallet};

use crate::concurrency::{
    caller, seed_funded_wallets, transfer_service, STARTING_BALANCE, TRANSFER_WALLETS,
};
use crate::fixtures::*;
use crate::StoreHandles;

/// Commits `t` with `movements` applied to the wallets they touch (balances and ledger
/// together, as the services do), or with `postings` alone appended when `raw` is given.
pub async fn book(
    env: &EnvironmentStores,
    tenant: TenantId,
    t: &Transaction,
    movements: &[Movement],
    raw: Option<&[Posting]>,
) {
    let mut postings = Vec::new();
    for movement in movements {
        postings.extend(movement.postings().expect("postings"));
    }
    let touched: Vec<WalletId> = postings
        .iter()
        .filter_map(|p| match p.account {
            ledger::Account::Wallet { wallet_id, .. } => Some(wallet_id),
            ledger::Account::External { .. } => None,
        })
        .collect();
    let mut tx = env.uow.begin().await.expect("begin");
    let mut ordered = touched.clone();
    ordered.sort();
    ordered.dedup();
    let mut wallets: BTreeMap<WalletId, Wallet> = tx
        .lock_wallets(tenant, &ordered)
        .await
        .expect("lock")
        .into_iter()
        .map(|w| (w.id, w))
        .collect();
    let mut balances = wallets.iter().map(|(id, w)| (*id, w.balances)).collect();
    ledger::apply(&mut balances, &postings).expect("applies");
    tx.insert_transaction(t).await.expect("insert");
    let mut total = custody_core::totals::SignedAmount::ZERO;
    for (id, wallet) in &mut wallets {
        if wallet.balances != balances[id] {
            total = total
                .checked_add(custody_core::totals::SignedAmount::change(
                    wallet.balances.available,
                    balances[id].available,
                ))
                .expect("fits");
            wallet.balances = balances[id];
            wallet.touch(t.updated_at);
            tx.update_wallet(wallet).await.expect("update wallet");
        }
    }
    let appended = raw.map_or(postings.clone(), <[Posting]>::to_vec);
    tx.append_ledger(&LedgerEntry::for_postings(
        t.id,
        t.asset,
        &appended,
        t.updated_at,
    ))
    .await
    .expect("append");
    // The tenant-wide total moves with the wallets, as booking does.
    if !total.is_zero() {
        tx.adjust_available_total(tenant, t.asset, custody_core::totals::slot_of(t.id), total)
            .await
            .expect("total");
    }
    tx.commit().await.expect("commit");
}

fn with_status(mut t: Transaction, status: TransactionStatus) -> Transaction {
    t.status = status;
    t
}

/// The signed exact sums (`custody_sql::exact_sum`) at their edges, through the ledger: a sum
/// of exactly `i128::MAX`, `+i128::MAX` and `−i128::MAX` rows of one bucket summing to zero
/// (every part carries), and hundreds of rows of mixed sign in one group; the snapshot's sums
/// are exact and equal the balances (no false drift).
pub async fn reconcile_signed_sums_at_the_edges(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let (w1, w2) = (w.w1.id, w.w2.id);
    let asset = usdt_eth();
    let max = i128::MAX.unsigned_abs();

    // w1: available +max; pending +max then −max (zero).
    let deposit = with_status(
        transaction(a, 40, TransactionKind::Deposit, asset, max, None, Some(w1)),
        TransactionStatus::Completed,
    );
    book(
        env,
        a,
        &deposit,
        &[
            Movement::DepositDetected {
                wallet: w1,
                asset,
                amount: amount(max),
            },
            Movement::DepositCompleted {
                wallet: w1,
                amount: amount(max),
            },
        ],
        None,
    )
    .await;
    // All of it to w2 (w1's available: +max −max), then 300 single units back in one posting
    // set (600 rows).
    let transfer = with_status(
        transaction(
            a,
            41,
            TransactionKind::Transfer,
            asset,
            max,
            Some(w1),
            Some(w2),
        ),
        TransactionStatus::Completed,
    );
    book(
        env,
        a,
        &transfer,
        &[Movement::Transfer {
            from: w1,
            to: w2,
            amount: amount(max),
        }],
        None,
    )
    .await;
    let back = with_status(
        transaction(
            a,
            42,
            TransactionKind::Transfer,
            asset,
            300,
            Some(w2),
            Some(w1),
        ),
        TransactionStatus::Completed,
    );
    let units = vec![
        Movement::Transfer {
            from: w2,
            to: w1,
            amount: amount(1),
        };
        300
    ];
    book(env, a, &back, &units, None).await;

    let snapshot = env
        .reconcile
        .ledger_snapshot(Some(a))
        .await
        .expect("snapshot");
    let check = check_ledger(&snapshot);
    assert!(!check.drifted(), "sums equal the balances: {check:?}");
    let of = |id: WalletId| -> BTreeMap<Bucket, i128> {
        let wallet = snapshot
            .wallets
            .iter()
            .find(|s| s.wallet_id == id)
            .expect("wallet read");
        wallet.ledger.iter().map(|s| (s.bucket, s.sum)).collect()
    };
    assert_eq!(
        of(w1),
        BTreeMap::from([(Bucket::Available, 300), (Bucket::Pending, 0)]),
        "+max −max sums to zero exactly; 300 rows back"
    );
    assert_eq!(
        of(w2),
        BTreeMap::from([(Bucket::Available, i128::MAX - 300)]),
        "i128::MAX in, 300 single units out"
    );
    assert!(snapshot.unbalanced.is_empty(), "{:?}", snapshot.unbalanced);
}

/// Sums are exact beyond 64 bits (and beyond a double's 53), a clean ledger shows no drift,
/// money in flight and suspense are listed, one tenant is read alone, environments stay apart;
/// then a final withdrawal leaving a hold, a balance row moved without the ledger and a
/// one-legged posting are each reported with their figures.
pub async fn reconcile_snapshot_sums_exactly_and_names_drift(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let (w1, w2) = (w.w1.id, w.w2.id);
    let asset = usdt_eth();
    let big = u128::from(u64::MAX) * 1_000 + 7;

    let deposit = with_status(
        transaction(a, 40, TransactionKind::Deposit, asset, big, None, Some(w1)),
        TransactionStatus::Completed,
    );
    book(
        env,
        a,
        &deposit,
        &[
            Movement::DepositDetected {
                wallet: w1,
                asset,
                amount: amount(big),
            },
            Movement::DepositCompleted {
                wallet: w1,
                amount: amount(big),
            },
        ],
        None,
    )
    .await;
    let handed = with_status(
        withdrawal(&w, 41, 1_000),
        TransactionStatus::PendingSignature,
    );
    book(
        env,
        a,
        &handed,
        &[Movement::WithdrawalSubmitted {
            wallet: w1,
            amount: amount(1_000),
        }],
        None,
    )
    .await;
    let confirming = with_status(
        transaction(a, 42, TransactionKind::Deposit, asset, 300, None, Some(w2)),
        TransactionStatus::Confirming,
    );
    book(
        env,
        a,
        &confirming,
        &[Movement::DepositDetected {
            wallet: w2,
            asset,
            amount: amount(300),
        }],
        None,
    )
    .await;
    let transfer = with_status(
        transaction(
            a,
            43,
            TransactionKind::Transfer,
            asset,
            big - 10_000,
            Some(w1),
            Some(w2),
        ),
        TransactionStatus::Completed,
    );
    book(
        env,
        a,
        &transfer,
        &[Movement::Transfer {
            from: w1,
            to: w2,
            amount: amount(big - 10_000),
        }],
        None,
    )
    .await;
    let mut suspended = custody_core::work::UnattributedDeposit {
        provider_ref: "dep-in-suspense".into(),
        tenant_id: Some(a),
        vault_id: Some(w.w1.vault_id),
        deposit_address_id: None,
        asset,
        amount: amount(70),
        address: chain_address(custody_core::asset::Network::Ethereum, 77),
        tx_hash: None,
        status: TransactionStatus::Completed,
        confirmations: None,
        reason: "vault_archived".into(),
        first_seen_at: at(50),
        last_seen_at: at(50),
        report: serde_json::json!({ "providerRef": "dep-in-suspense" }),
        state: custody_core::work::SuspenseState::Open,
        transaction_id: None,
        resolution: serde_json::Value::Null,
    };
    let mut tx = env.uow.begin().await.expect("begin");
    tx.record_unattributed_deposit(&suspended)
        .await
        .expect("record");
    suspended.provider_ref = "dep-failed".into();
    suspended.status = TransactionStatus::Failed;
    tx.record_unattributed_deposit(&suspended)
        .await
        .expect("record");
    tx.commit().await.expect("commit");

    let snapshot = env.reconcile.ledger_snapshot(None).await.expect("snapshot");
    let check = check_ledger(&snapshot);
    assert!(!check.drifted(), "clean ledger: {check:?}");
    assert_eq!(check.wallets_checked, 3, "w1, w2 and the other tenant's");
    let of = |id: WalletId| -> BTreeMap<Bucket, i128> {
        let wallet = snapshot
            .wallets
            .iter()
            .find(|s| s.wallet_id == id)
            .expect("wallet read");
        wallet.ledger.iter().map(|s| (s.bucket, s.sum)).collect()
    };
    let big_i = i128::try_from(big).expect("fits");
    assert_eq!(
        of(w1),
        BTreeMap::from([
            (Bucket::Available, 9_000),
            (Bucket::Pending, 0),
            (Bucket::Held, 1_000)
        ])
    );
    assert_eq!(
        of(w2),
        BTreeMap::from([(Bucket::Available, big_i - 10_000), (Bucket::Pending, 300)]),
        "exact beyond 64 bits"
    );
    assert_eq!(
        snapshot.handed_over,
        vec![InFlightItem {
            reference: handed.id.to_string(),
            asset,
            amount: amount(1_000),
            status: TransactionStatus::PendingSignature,
        }]
    );
    assert_eq!(
        snapshot.suspense,
        vec![InFlightItem {
            reference: "dep-in-suspense".into(),
            asset,
            amount: amount(70),
            status: TransactionStatus::Completed,
        }],
        "failed suspense items are not money held"
    );

    let only_b = env.reconcile.ledger_snapshot(Some(b)).await.expect("b");
    assert_eq!(
        only_b
            .wallets
            .iter()
            .map(|s| s.wallet_id)
            .collect::<Vec<_>>(),
        vec![w.wb.id]
    );
    assert!(only_b.handed_over.is_empty() && only_b.suspense.is_empty());
    let sandbox = stores
        .sandbox
        .reconcile
        .ledger_snapshot(None)
        .await
        .expect("sandbox");
    assert!(sandbox.wallets.is_empty() && sandbox.handed_over.is_empty());

    // A completed withdrawal whose hold was never settled: balanced, rows consistent, but a
    // hold is left on a final transaction.
    let stranded = with_status(withdrawal(&w, 44, 50), TransactionStatus::Completed);
    book(
        env,
        a,
        &stranded,
        &[Movement::WithdrawalSubmitted {
            wallet: w1,
            amount: amount(50),
        }],
        None,
    )
    .await;
    let snapshot = env.reconcile.ledger_snapshot(None).await.expect("snapshot");
    let check = check_ledger(&snapshot);
    assert!(check.drift.is_empty() && check.unbalanced.is_empty());
    assert_eq!(check.final_residues.len(), 1, "{check:?}");
    let residue = &check.final_residues[0];
    assert_eq!(
        (residue.transaction_id, residue.bucket, residue.sum),
        (stranded.id, Some(Bucket::Held), 50)
    );
    assert_eq!(residue.kind, TransactionKind::Withdrawal);

    // A balance row moved without the ledger.
    let mut row = env.wallets.get(a, w2).await.expect("w2");
    row.balances.available = row
        .balances
        .available
        .checked_add(Amount::from_base_units(1))
        .expect("adds");
    row.touch(at(60));
    commit_wallet_update(env, &row).await;
    let check = check_ledger(&env.reconcile.ledger_snapshot(None).await.expect("snapshot"));
    assert_eq!(
        check.drift,
        vec![WalletDrift {
            wallet_id: w2,
            tenant_id: a,
            asset,
            entries_asset: asset,
            bucket: Bucket::Available,
            materialised: big_i - 10_000 + 1,
            ledger: big_i - 10_000,
        }]
    );

    // A one-legged posting: the transaction does not balance.
    let one_leg = with_status(
        transaction(
            a,
            45,
            TransactionKind::Transfer,
            asset,
            5,
            Some(w1),
            Some(w2),
        ),
        TransactionStatus::Completed,
    );
    book(
        env,
        a,
        &one_leg,
        &[],
        Some(&[Posting {
            account: ledger::Account::External { asset },
            delta: -5,
        }]),
    )
    .await;
    let check = check_ledger(&env.reconcile.ledger_snapshot(None).await.expect("snapshot"));
    assert_eq!(check.unbalanced.len(), 1, "{check:?}");
    assert_eq!(
        (check.unbalanced[0].transaction_id, check.unbalanced[0].sum),
        (one_leg.id, -5)
    );
}

/// Transfers commit while snapshots are read: every snapshot agrees with itself (no false
/// drift) and conserves the money.
pub async fn reconcile_snapshot_under_concurrent_transfers(stores: StoreHandles) {
    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let wallets = seed_funded_wallets(&env, tenant).await;
    let ids_of: Vec<WalletId> = wallets.iter().map(|w| w.id).collect();
    let service = transfer_service(&env);
    let caller = caller(tenant, env.environment);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..4u64 {
        let (service, caller, ids_of) = (service.clone(), caller.clone(), ids_of.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u32;
            for i in 0..60u64 {
                let from = ((task * 7 + i) % TRANSFER_WALLETS as u64) as usize;
                let to = (from + 1 + (i % 3) as usize) % TRANSFER_WALLETS;
                let command = TransferCommand {
                    from: ids_of[from],
                    to: ids_of[to],
                    amount: Amount::from_base_units(1 + u128::from(i % 9)).to_decimal_string(6),
                    reference: None,
                };
                if service.transfer(&caller, command, None).await.is_ok() {
                    ok += 1;
                }
            }
            ok
        }));
    }
    let reader = {
        let (env, done) = (env.clone(), done.clone());
        tokio::spawn(async move {
            let mut snapshots = 0u32;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let snapshot = env.reconcile.ledger_snapshot(None).await.expect("snapshot");
                let check = check_ledger(&snapshot);
                assert!(!check.drifted(), "false drift under load: {check:?}");
                let total: i128 = snapshot
                    .wallets
                    .iter()
                    .flat_map(|w| w.ledger.iter().map(|s| s.sum))
                    .sum();
                assert_eq!(
                    total,
                    i128::try_from(STARTING_BALANCE).expect("fits") * TRANSFER_WALLETS as i128,
                    "money conserved in every snapshot"
                );
                snapshots += 1;
                if finished {
                    return snapshots;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut transfers = 0;
    for task in tasks {
        transfers += task.await.expect("transfers");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let snapshots = reader.await.expect("reader");
    assert!(transfers > 100, "transfers ran: {transfers}");
    assert!(snapshots >= 2, "snapshots were read: {snapshots}");
}
