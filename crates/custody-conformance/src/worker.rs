//! The transaction worker against a real store (issue 12): several workers on one database
//! never hand a withdrawal to the provider twice, and a worker that dies between its claim and
//! the send only delays the withdrawal until its lease ends.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use custody_core::asset::Network;
use custody_core::id::{TenantId, TransactionId};
use custody_core::ports::{DynCustodyProvider, EnvironmentStores, FixedClock};
use custody_core::services::{
    TransactionWorker, WithdrawCommand, WithdrawalService, WorkerSettings,
};
use custody_core::transaction::{Transaction, TransactionStatus};
use custody_core::wallet::Wallet;
use time::Duration;

use crate::concurrency::{caller, seed_funded_wallets};
use crate::fixtures::*;
use crate::provider::SendCountingProvider;
use crate::StoreHandles;

/// Withdrawals the two-worker check submits.
pub const WORKER_WITHDRAWALS: usize = 24;

/// Ids of their own for each service (events of two services must not collide): the
/// timestamp part differs per owner.
fn ids_for(owner: &str) -> Arc<custody_core::ports::SequentialIds> {
    let salt = owner
        .bytes()
        .fold(0_u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    Arc::new(custody_core::ports::SequentialIds::new(
        1_900_000_000_000 + salt % 1_000_000_000,
    ))
}

fn settings(owner: &str) -> WorkerSettings {
    WorkerSettings {
        owner: owner.to_owned(),
        batch_size: 5,
        lease: Duration::seconds(60),
        poll_interval: Duration::seconds(1),
        max_backoff: Duration::seconds(30),
    }
}

fn withdrawals(
    env: &EnvironmentStores,
    provider: DynCustodyProvider,
    clock: &Arc<FixedClock>,
    owner: &str,
) -> WithdrawalService {
    WithdrawalService::new(
        env.uow.clone(),
        env.transactions.clone(),
        provider,
        clock.clone(),
        ids_for(owner),
        Arc::new(custody_core::event::DomainSnapshots),
    )
}

fn worker(
    env: &EnvironmentStores,
    provider: DynCustodyProvider,
    clock: &Arc<FixedClock>,
    owner: &str,
) -> TransactionWorker {
    TransactionWorker::new(
        env.uow.clone(),
        withdrawals(env, provider, clock, owner),
        None,
        clock.clone(),
        settings(owner),
    )
}

/// A tenant with funded wallets and one allow-listed destination; `count` withdrawals of 10
/// base units, round-robin over the wallets, submitted at 10 s.
async fn submit_withdrawals(
    stores: &StoreHandles,
    clock: &Arc<FixedClock>,
    count: usize,
) -> (TenantId, Vec<Wallet>, Vec<Transaction>) {
    let env = &stores.live;
    let tenant = seed_tenant(stores, 1).await;
    let wallets = seed_funded_wallets(env, tenant).await;
    let mut entry = address_book_entry(tenant, 900, Network::Ethereum, 900, None);
    entry.activates_at = at(0);
    commit_entries(env, &[&entry]).await;
    let service = withdrawals(
        env,
        Arc::new(SendCountingProvider::default()),
        clock,
        "submit",
    );
    let caller = caller(tenant, env.environment);
    let mut submitted = Vec::new();
    for i in 0..count {
        let t = service
            .submit(
                &caller,
                WithdrawCommand {
                    from: wallets[i % wallets.len()].id,
                    destination: entry.id,
                    amount: "0.00001".into(),
                    reference: None,
                },
                None,
            )
            .await
            .expect("submit");
        submitted.push(t);
    }
    (tenant, wallets, submitted)
}

/// Read without a row lock: a dropped (rolled back) transaction's lock can outlive it for a
/// moment on PostgreSQL, and a claim skips locked rows.
async fn statuses(
    env: &EnvironmentStores,
    tenant: TenantId,
    ids: &[TransactionId],
) -> Vec<TransactionStatus> {
    let mut out = Vec::new();
    for id in ids {
        out.push(
            env.transactions
                .get(tenant, *id)
                .await
                .expect("read")
                .status,
        );
    }
    out
}

/// Held funds went out exactly once per withdrawal: nothing held, each wallet down by its
/// withdrawals.
async fn assert_settled(
    env: &EnvironmentStores,
    tenant: TenantId,
    wallets: &[Wallet],
    sent: &[Transaction],
) {
    let mut out: BTreeMap<_, u128> = BTreeMap::new();
    for t in sent {
        *out.entry(t.source_wallet_id.expect("source")).or_default() += t.amount.base_units();
    }
    let locked = {
        let mut tx = env.uow.begin().await.expect("begin");
        let ids: Vec<_> = wallets.iter().map(|w| w.id).collect();
        tx.lock_wallets(tenant, &ids).await.expect("wallets")
    };
    for w in locked {
        let before = wallets.iter().find(|x| x.id == w.id).expect("known");
        assert!(w.balances.held.is_zero(), "{}: nothing stays held", w.id);
        assert_eq!(
            w.balances.available.base_units(),
            before.balances.available.base_units() - out.get(&w.id).copied().unwrap_or(0),
            "{}: each withdrawal left once",
            w.id
        );
    }
}

/// Two workers (two instances on one database), each claiming small batches at the same
/// moments, with a provider slow enough to overlap them: every withdrawal is handed over
/// exactly once and completes.
pub async fn worker_two_instances_send_each_withdrawal_once(stores: StoreHandles) {
    let clock = Arc::new(FixedClock::new(at(10)));
    let (tenant, wallets, submitted) =
        submit_withdrawals(&stores, &clock, WORKER_WITHDRAWALS).await;
    let env = stores.live.clone();
    let provider = Arc::new(SendCountingProvider::with_delay(StdDuration::from_millis(
        5,
    )));
    let a = worker(&env, provider.clone(), &clock, "instance-a");
    let b = worker(&env, provider.clone(), &clock, "instance-b");
    let ids: Vec<_> = submitted.iter().map(|t| t.id).collect();
    let mut claimed = 0;
    for round in 0..30 {
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let a = a.clone();
                async move { a.run_once().await }
            }),
            tokio::spawn({
                let b = b.clone();
                async move { b.run_once().await }
            }),
        );
        let (ra, rb) = (
            ra.expect("task a").expect("pass a"),
            rb.expect("task b").expect("pass b"),
        );
        assert!(ra.failed.is_empty(), "round {round}: {:?}", ra.failed);
        assert!(rb.failed.is_empty(), "round {round}: {:?}", rb.failed);
        claimed += ra.claimed + rb.claimed;
        if statuses(&env, tenant, &ids)
            .await
            .iter()
            .all(|s| *s == TransactionStatus::Completed)
        {
            break;
        }
        clock.set(clock_now(&clock) + Duration::seconds(2));
    }
    assert!(
        statuses(&env, tenant, &ids)
            .await
            .iter()
            .all(|s| *s == TransactionStatus::Completed),
        "every withdrawal completes"
    );
    assert!(
        claimed >= 2 * WORKER_WITHDRAWALS,
        "claimed to send, then to poll"
    );
    let sends = provider.sends();
    assert_eq!(
        sends.len(),
        WORKER_WITHDRAWALS,
        "every withdrawal was handed over"
    );
    assert!(
        sends.values().all(|n| *n == 1),
        "a withdrawal was handed over twice: {sends:?}"
    );
    assert_settled(&env, tenant, &wallets, &submitted).await;
}

fn clock_now(clock: &FixedClock) -> time::OffsetDateTime {
    custody_core::ports::Clock::now(clock)
}

/// A worker dies after committing its claims and before the provider heard anything: first
/// one holding only the lease, then one that also committed `Submitted → PendingSignature`.
/// Until the lease ends nobody else takes them; after it, another worker sends each exactly
/// once and they complete.
pub async fn worker_resumes_a_withdrawal_after_a_lost_lease(stores: StoreHandles) {
    let clock = Arc::new(FixedClock::new(at(10)));
    let (tenant, wallets, submitted) = submit_withdrawals(&stores, &clock, 2).await;
    let env = stores.live.clone();
    let ids: Vec<_> = submitted.iter().map(|t| t.id).collect();

    // Dead worker 1: leases the first withdrawal (claim committed), then nothing.
    let dead = worker(
        &env,
        Arc::new(SendCountingProvider::crashing()),
        &clock,
        "dead-1",
    );
    let leased = {
        let mut tx = env.uow.begin().await.expect("begin");
        let due = tx
            .claim_due(&custody_core::work::WorkClaim {
                kinds: vec![custody_core::transaction::TransactionKind::Withdrawal],
                now: at(10),
                lease_until: at(70),
                owner: "dead-1".into(),
                limit: 1,
            })
            .await
            .expect("claim");
        tx.commit().await.expect("commit");
        due
    };
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].id, ids[0]);
    // Dead worker 2: takes the second, commits its PendingSignature claim, dies in the send.
    let crash = tokio::spawn({
        let dead = worker(
            &env,
            Arc::new(SendCountingProvider::crashing()),
            &clock,
            "dead-2",
        );
        async move { dead.run_once().await }
    })
    .await;
    assert!(crash.is_err(), "the second worker died mid-step");
    drop(dead);
    assert_eq!(
        statuses(&env, tenant, &ids).await,
        vec![
            TransactionStatus::Submitted,
            TransactionStatus::PendingSignature
        ]
    );

    // A live worker before the leases end: nothing to do.
    let provider = Arc::new(SendCountingProvider::default());
    let alive = worker(&env, provider.clone(), &clock, "alive");
    clock.set(at(69));
    assert_eq!(alive.run_once().await.expect("pass").claimed, 0);
    assert!(provider.sends().is_empty());

    // After the leases: both are sent exactly once, then complete.
    clock.set(at(71));
    let first = alive.run_once().await.expect("pass");
    assert_eq!(first.claimed, 2);
    assert!(first.failed.is_empty(), "{:?}", first.failed);
    clock.set(at(80));
    let second = alive.run_once().await.expect("pass");
    assert!(second.failed.is_empty(), "{:?}", second.failed);
    assert_eq!(
        statuses(&env, tenant, &ids).await,
        vec![TransactionStatus::Completed, TransactionStatus::Completed]
    );
    assert_eq!(provider.sends(), BTreeMap::from([(ids[0], 1), (ids[1], 1)]));
    assert_settled(&env, tenant, &wallets, &submitted).await;
}
