//! Issue 12: the transaction worker's leases, the reconciliation flag, unattributed deposits,
//! tenants' enforced policy and address-book activation.

use custody_core::amount::Amount;
use custody_core::asset::Network;
use custody_core::ports::{EnvironmentStores, StoreError, SuspenseResolution};
use custody_core::tenant::TenantStatus;
use custody_core::transaction::{Confirmations, Transaction, TransactionKind, TransactionStatus};
use custody_core::work::{DueTransaction, SuspenseState, UnattributedDeposit, WorkClaim};
use time::Duration;

use crate::fixtures::*;
use crate::StoreHandles;

fn claim(owner: &str, now: i64, kinds: &[TransactionKind], limit: u32) -> WorkClaim {
    WorkClaim {
        kinds: kinds.to_vec(),
        now: at(now),
        lease_until: at(now + 60),
        owner: owner.to_owned(),
        limit,
    }
}

async fn claim_due(env: &EnvironmentStores, c: &WorkClaim) -> Vec<DueTransaction> {
    let mut tx = env.uow.begin().await.expect("begin");
    let due = tx.claim_due(c).await.expect("claim_due");
    tx.commit().await.expect("commit");
    due
}

async fn release(env: &EnvironmentStores, t: &Transaction, owner: &str, next: i64) -> bool {
    let mut tx = env.uow.begin().await.expect("begin");
    let held = tx
        .release_lease(t.id, owner, at(next), 2)
        .await
        .expect("release");
    tx.commit().await.expect("commit");
    held
}

/// Read under the row lock, then commit (not drop): the lock is gone before the next claim,
/// which would skip a row still locked.
async fn reread(env: &EnvironmentStores, t: &Transaction) -> Transaction {
    let mut tx = env.uow.begin().await.expect("begin");
    let read = tx.lock_transaction(None, t.id).await.expect("lock");
    tx.commit().await.expect("commit");
    read
}

const W: &[TransactionKind] = &[TransactionKind::Withdrawal];

/// Claims lease open transactions of the asked kinds, due first, never twice while leased;
/// only the holder releases; an expired lease is claimable again; a transaction never
/// polled is due from its creation, so it is not starved behind rescheduled ones; leases
/// never touch the version, and saving a transaction never touches the lease.
pub async fn transactions_claim_due_leases_in_due_order(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w: TxWorld = seed_tx_world(env, a, b, 10).await;
    // Three open withdrawals created at 40, 41, 42 s; a final one; a confirming deposit.
    let w40 = withdrawal(&w, 40, 1);
    let mut w41 = withdrawal(&w, 41, 2);
    w41.advance(TransactionStatus::PendingSignature, at(41))
        .expect("claimable status");
    let w42 = withdrawal(&w, 42, 3);
    let mut done = withdrawal(&w, 43, 4);
    done.advance(TransactionStatus::Cancelled, at(43))
        .expect("final");
    let mut deposit = transaction(
        a,
        44,
        TransactionKind::Deposit,
        usdt_eth(),
        5,
        None,
        Some(w.w1.id),
    );
    deposit.provider_ref = Some("dep-44".into());
    commit_transactions(env, &[&w42, &done, &w40, &deposit, &w41]).await;

    // Not due before creation.
    assert!(claim_due(env, &claim("a", 39, W, 10)).await.is_empty());
    // Oldest first, up to the limit; kind, status and attempts come back.
    let first = claim_due(env, &claim("a", 100, W, 2)).await;
    assert_eq!(
        first.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![w40.id, w41.id]
    );
    assert_eq!(first[0].kind, TransactionKind::Withdrawal);
    assert_eq!(first[0].status, TransactionStatus::Submitted);
    assert_eq!(first[1].status, TransactionStatus::PendingSignature);
    assert_eq!(first[0].provider_ref, None);
    assert!(!first[0].needs_reconciliation);
    assert_eq!(first[0].poll_attempts, 0);
    // A second claimer gets only what is not leased; a third gets nothing.
    let second = claim_due(env, &claim("b", 100, W, 10)).await;
    assert_eq!(
        second.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![w42.id]
    );
    assert!(claim_due(env, &claim("c", 100, W, 10)).await.is_empty());
    // Deposits only when asked for; final ones never.
    let deposits = claim_due(env, &claim("d", 100, &[TransactionKind::Deposit], 10)).await;
    assert_eq!(
        deposits.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![deposit.id]
    );

    // Leasing changed no version.
    assert_eq!(reread(env, &w40).await.version, w40.version);

    // Only the holder releases.
    assert!(!release(env, &w40, "b", 500).await, "not b's lease");
    assert!(release(env, &w40, "a", 500).await);
    // Released but not due before 500; the others are still leased until 160.
    assert!(claim_due(env, &claim("c", 150, W, 10)).await.is_empty());
    // Saving a transaction keeps its lease: w41 (leased to a) stays unclaimable.
    let mut saved = reread(env, &w41).await;
    saved.tx_hash = Some("0x41".into());
    saved.version += 1;
    saved.updated_at = at(120);
    {
        let mut tx = env.uow.begin().await.expect("begin");
        tx.update_transaction(&saved).await.expect("update");
        tx.commit().await.expect("commit");
    }
    assert!(claim_due(env, &claim("c", 150, W, 10)).await.is_empty());
    // Expired leases are claimable again; the never-polled ones (due since 41, 42) come before
    // the rescheduled one (due at 500), however old it is.
    let after = claim_due(env, &claim("c", 600, W, 10)).await;
    assert_eq!(
        after.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![w41.id, w42.id, w40.id]
    );
    assert_eq!(after[2].poll_attempts, 2, "the released attempt count");
    // The other environment sees nothing of it.
    assert!(claim_due(&stores.live, &claim("l", 10_000, W, 10))
        .await
        .is_empty());
}

/// The reconciliation flag: set without a version bump, first reason kept, listed among the
/// stuck withdrawals with the stale ones; final withdrawals are never stuck.
pub async fn transactions_flag_for_reconciliation_and_stuck(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let mut flagged = withdrawal(&w, 40, 1);
    flagged
        .advance(TransactionStatus::PendingSignature, at(40))
        .expect("claim");
    let fresh = withdrawal(&w, 90, 2); // updated at 90 s
    let stale = withdrawal(&w, 41, 3); // updated at 41 s
    let mut finished = withdrawal(&w, 42, 4);
    finished
        .advance(TransactionStatus::Failed, at(42))
        .expect("fail");
    commit_transactions(env, &[&flagged, &fresh, &stale, &finished]).await;

    let mut tx = env.uow.begin().await.expect("begin");
    tx.flag_for_reconciliation(flagged.id, "unknown outcome", at(95))
        .await
        .expect("flag");
    tx.flag_for_reconciliation(flagged.id, "second reason", at(96))
        .await
        .expect("flag again");
    tx.commit().await.expect("commit");
    let read = reread(env, &flagged).await;
    assert_eq!(
        read.reconciliation_reason.as_deref(),
        Some("unknown outcome")
    );
    assert_eq!(read.version, flagged.version, "no version bump");

    let mut tx = env.uow.begin().await.expect("begin");
    assert_not_found(
        tx.flag_for_reconciliation(transaction_id(999), "x", at(1))
            .await,
        "flagging a missing transaction",
    );
    drop(tx);

    // Unchanged since before 60 s: the stale one; flagged: whatever its age.
    let stuck = env
        .transactions
        .stuck_withdrawals(at(60), 10)
        .await
        .expect("stuck");
    assert_eq!(
        stuck.iter().map(|s| s.transaction.id).collect::<Vec<_>>(),
        vec![flagged.id, stale.id]
    );
    assert_eq!(stuck[0].work.reconciliation_at, Some(at(95)));
    assert_eq!(stuck[1].transaction.reconciliation_reason, None);
    assert_eq!(stuck[1].work.poll_attempts, 0);
    assert!(stores
        .live
        .transactions
        .stuck_withdrawals(at(10_000), 10)
        .await
        .expect("live")
        .is_empty());
}

fn unattributed(n: u64, status: TransactionStatus, seen: i64) -> UnattributedDeposit {
    UnattributedDeposit {
        provider_ref: format!("dep-{n}"),
        tenant_id: Some(tenant_id(1)),
        vault_id: Some(vault_id(10)),
        deposit_address_id: None,
        asset: usdt_eth(),
        amount: Amount::from_base_units(u128::from(n) * 1_000_000_000_000_000_000),
        address: chain_address(Network::Ethereum, n),
        tx_hash: None,
        status,
        confirmations: Some(Confirmations {
            seen: 1,
            required: 12,
        }),
        reason: "vault_archived".into(),
        first_seen_at: at(seen),
        last_seen_at: at(seen),
        report: serde_json::json!({ "providerRef": format!("dep-{n}"), "seen": seen }),
        state: SuspenseState::Open,
        transaction_id: None,
        resolution: serde_json::Value::Null,
    }
}

/// Unattributed deposits: one row per provider reference (a repeated report updates status,
/// confirmations, hash and last sight, keeps the first sight), listed first seen first, per
/// environment.
pub async fn unattributed_deposits_record_and_list(stores: StoreHandles) {
    let env = &stores.sandbox;
    seed_tenant(&stores, 1).await;
    let second = unattributed(2, TransactionStatus::Confirming, 20);
    let first = unattributed(1, TransactionStatus::Confirming, 10);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.record_unattributed_deposit(&second)
        .await
        .expect("record");
    tx.record_unattributed_deposit(&first)
        .await
        .expect("record");
    tx.commit().await.expect("commit");

    let mut again = unattributed(2, TransactionStatus::Completed, 30);
    again.tx_hash = Some("0xabc".into());
    again.confirmations = Some(Confirmations {
        seen: 12,
        required: 12,
    });
    let mut tx = env.uow.begin().await.expect("begin");
    tx.record_unattributed_deposit(&again)
        .await
        .expect("update");
    tx.commit().await.expect("commit");

    let listed = env
        .transactions
        .unattributed_deposits(false, 10)
        .await
        .expect("list");
    let mut expected_second = again.clone();
    expected_second.first_seen_at = at(20);
    assert_eq!(listed, vec![first, expected_second]);
    assert!(stores
        .live
        .transactions
        .unattributed_deposits(true, 10)
        .await
        .expect("live")
        .is_empty());
}

/// Issue 14: the suspense list's resolution. A record is read under lock by its reference;
/// resolving it (assigned with its transaction, or returned) writes state, transaction, audit
/// and time once (a second resolution finds it no longer open: `NotFound`); the open list
/// drops it, the full list keeps it; a later report of it updates what the provider says but
/// never reopens it; unknown references are `NotFound`.
pub async fn unattributed_deposits_resolve(stores: StoreHandles) {
    let env = &stores.live;
    seed_tenant(&stores, 1).await;
    let mut unknown = unattributed(1, TransactionStatus::Completed, 10);
    unknown.tenant_id = None;
    unknown.vault_id = None;
    unknown.reason = "unknown_address".into();
    let other = unattributed(2, TransactionStatus::Completed, 20);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.record_unattributed_deposit(&unknown)
        .await
        .expect("record");
    tx.record_unattributed_deposit(&other)
        .await
        .expect("record");
    tx.commit().await.expect("commit");

    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(
        tx.lock_unattributed_deposit("dep-1").await.expect("lock"),
        unknown
    );
    assert!(matches!(
        tx.lock_unattributed_deposit("dep-9").await,
        Err(StoreError::NotFound)
    ));
    let assigned = SuspenseResolution {
        state: SuspenseState::Assigned,
        transaction_id: Some(transaction_id(77)),
        audit: serde_json::json!({ "operator": "ops", "evidence": "ticket 1" }),
        at: at(30),
    };
    tx.resolve_unattributed_deposit("dep-1", &assigned)
        .await
        .expect("resolve");
    tx.commit().await.expect("commit");

    // Already resolved: not open any more, whatever the new resolution.
    let mut tx = env.uow.begin().await.expect("begin");
    let returned = SuspenseResolution {
        state: SuspenseState::Returned,
        transaction_id: None,
        audit: serde_json::json!({ "operator": "ops", "txHash": "0xback" }),
        at: at(40),
    };
    assert!(matches!(
        tx.resolve_unattributed_deposit("dep-1", &returned).await,
        Err(StoreError::NotFound)
    ));
    drop(tx);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.resolve_unattributed_deposit("dep-2", &returned)
        .await
        .expect("return");
    // A later report of the assigned one: the provider's news is kept, the state is not reset.
    let mut later = unknown.clone();
    later.last_seen_at = at(50);
    later.tx_hash = Some("0xlate".into());
    later.report = serde_json::json!({ "providerRef": "dep-1", "seen": 50 });
    tx.record_unattributed_deposit(&later)
        .await
        .expect("re-report");
    tx.commit().await.expect("commit");

    assert!(env
        .transactions
        .unattributed_deposits(false, 10)
        .await
        .expect("open")
        .is_empty());
    let all = env
        .transactions
        .unattributed_deposits(true, 10)
        .await
        .expect("all");
    let mut expected_first = later.clone();
    expected_first.first_seen_at = at(10);
    expected_first.state = SuspenseState::Assigned;
    expected_first.transaction_id = Some(transaction_id(77));
    expected_first.resolution = assigned.audit.clone();
    let mut expected_second = other.clone();
    expected_second.state = SuspenseState::Returned;
    expected_second.resolution = returned.audit.clone();
    assert_eq!(all, vec![expected_first, expected_second]);
    // The sandbox does not see live's records.
    assert!(stores
        .sandbox
        .transactions
        .unattributed_deposits(true, 10)
        .await
        .expect("sandbox")
        .is_empty());
}

/// Issue 14 (Rhino reconciliation): one asset's deposit addresses of every tenant, in id
/// order, paged by the last id, in the handle's environment only.
pub async fn deposit_addresses_of_asset_pages(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let env = &stores.live;
    let world = seed_tx_world(env, a, b, 100).await;
    let second = deposit_address(&world.w2, 200, 0);
    let third = deposit_address(&world.wb, 300, 0);
    commit_addresses(env, &[&second, &third]).await;
    let mut tx = env.uow.begin().await.expect("begin");
    let first_page = tx
        .deposit_addresses_of_asset(usdt_eth(), None, 2)
        .await
        .expect("page 1");
    let mut all = [world.deposit_address.clone(), second.clone(), third.clone()];
    all.sort_by_key(|d| d.id);
    assert_eq!(first_page, all[..2].to_vec());
    let rest = tx
        .deposit_addresses_of_asset(usdt_eth(), Some(first_page[1].id), 2)
        .await
        .expect("page 2");
    assert_eq!(rest, all[2..].to_vec());
    assert!(tx
        .deposit_addresses_of_asset(usdc_eth(), None, 10)
        .await
        .expect("other asset")
        .is_empty());
    drop(tx);
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert!(tx
        .deposit_addresses_of_asset(usdt_eth(), None, 10)
        .await
        .expect("sandbox")
        .is_empty());
}

/// A tenant's policy: status and cooling-off, read outside and (shared-locked) inside a unit
/// of work of either environment; `None` clears it; unknown tenants are `NotFound`.
pub async fn tenants_policy_and_cooling_off(stores: StoreHandles) {
    let t = seed_tenant(&stores, 1).await;
    let tenants = &stores.shared.tenants;
    let policy = tenants.policy(t).await.expect("policy");
    assert_eq!(policy.status, TenantStatus::Pending);
    assert_eq!(policy.address_book_cooling_off, None);

    tenants
        .set_address_book_cooling_off(t, Some(Duration::hours(24)))
        .await
        .expect("set");
    assert_eq!(
        tenants
            .policy(t)
            .await
            .expect("policy")
            .address_book_cooling_off,
        Some(Duration::hours(24))
    );
    for env in [&stores.sandbox, &stores.live] {
        let mut tx = env.uow.begin().await.expect("begin");
        let inside = tx.share_tenant_policy(t).await.expect("share");
        assert_eq!(inside.address_book_cooling_off, Some(Duration::hours(24)));
        assert_eq!(inside.status, TenantStatus::Pending);
        assert_not_found(
            tx.share_tenant_policy(tenant_id(99)).await,
            "an unknown tenant's policy",
        );
    }
    tenants
        .set_address_book_cooling_off(t, None)
        .await
        .expect("clear");
    assert_eq!(
        tenants
            .policy(t)
            .await
            .expect("policy")
            .address_book_cooling_off,
        None
    );
    assert!(matches!(
        tenants
            .set_address_book_cooling_off(tenant_id(99), None)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tenants.policy(tenant_id(99)).await,
        Err(StoreError::NotFound)
    ));
}

/// An address-book entry's `activates_at` is stored and read back (cooling-off).
pub async fn address_book_activates_at_round_trip(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let mut entry = address_book_entry(a, 5, Network::Ethereum, 5, None);
    entry.activates_at = entry.created_at + Duration::hours(24);
    commit_entries(env, &[&entry]).await;
    let read = env.address_book.get(a, entry.id).await.expect("get entry");
    assert_eq!(read, entry);
    let mut tx = env.uow.begin().await.expect("begin");
    let locked = tx.lock_address_book_entry(a, entry.id).await.expect("lock");
    assert_eq!(locked.activates_at, entry.activates_at);
}
