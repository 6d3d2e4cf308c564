//! What only PostgreSQL can show, beyond the conformance suite: the advisory lock and row locks
//! really serialise (and only what they should), the outbox claim skips locked rows, the
//! schema's own guards (constraint names, the append-only ledger trigger), environment
//! isolation down to row locks, no secret in `Debug`, and connection failures as `Unavailable`.

// Test helpers panic on failure: that is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use custody_conformance::fixtures::*;
use custody_core::deposit_address::DepositAddress;
use custody_core::environment::Environment;
use custody_core::event::EventLogQuery;
use custody_core::id::{EventId, TenantId};
use custody_core::ledger::{Account, LedgerEntry, Posting};
use custody_core::outbox::{AttemptOutcome, DeliveryAttempt};
use custody_core::ports::{
    AddressFilter, EnvironmentStores, Reservation, SharedStores, StoreError, TransactionFilter,
    VaultFilter, WalletFilter,
};
use custody_core::transaction::{TransactionKind, TransactionStatus};
use custody_core::wallet::Bucket;
use custody_postgres::testing::{fresh_store, TestDatabase};
use custody_postgres::{DatabaseUrl, MasterKey, PgOptions, PgStore};
use sqlx::PgPool;
use time::OffsetDateTime;

/// A fresh store, its handles, and a raw pool on the same database for what the ports do not
/// offer (inspecting locks, provoking the schema directly).
struct Fixture {
    store: PgStore,
    shared: SharedStores,
    live: EnvironmentStores,
    sandbox: EnvironmentStores,
    raw: PgPool,
    _db: TestDatabase,
}

async fn setup() -> Fixture {
    let (store, db) = fresh_store().await;
    let raw = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(db.url().expose())
        .await
        .expect("raw pool");
    Fixture {
        shared: store.shared(),
        live: store.environment(Environment::Live),
        sandbox: store.environment(Environment::Sandbox),
        store,
        raw,
        _db: db,
    }
}

/// Waits until `n` sessions on this database are blocked on a lock (row or advisory): the
/// observable state the lock tests synchronise on.
async fn wait_for_lock_waiters(raw: &PgPool, n: i64) {
    for _ in 0..2_000 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(raw)
        .await
        .expect("pg_stat_activity");
        if waiting >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("no session started waiting on a lock within 10 s");
}

const PROMPTLY: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minting_lock_serialises_one_vault_asset_pair_and_no_other() {
    let f = setup().await;
    let env = f.live.clone();

    let mut first = env.uow.begin().await.unwrap();
    first
        .lock_address_minting(vault_id(1), usdt_eth())
        .await
        .unwrap();

    let uow = env.uow.clone();
    let second = tokio::spawn(async move {
        let mut tx = uow.begin().await.unwrap();
        tx.lock_address_minting(vault_id(1), usdt_eth())
            .await
            .unwrap();
        tx
    });
    wait_for_lock_waiters(&f.raw, 1).await;
    assert!(!second.is_finished(), "the same pair must wait");

    // Other pairs go straight through while the first pair is held.
    for (vault, asset) in [(vault_id(1), usdc_eth()), (vault_id(2), usdt_eth())] {
        let mut other = env.uow.begin().await.unwrap();
        tokio::time::timeout(PROMPTLY, other.lock_address_minting(vault, asset))
            .await
            .expect("a different (vault, asset) pair must not wait")
            .unwrap();
        other.commit().await.unwrap();
    }
    assert!(!second.is_finished(), "still waiting for the first holder");

    first.commit().await.unwrap();
    let second_tx = tokio::time::timeout(PROMPTLY, second)
        .await
        .expect("the lock is released at commit")
        .unwrap();

    // Released at rollback too: dropping the holder lets the next one in.
    drop(second_tx);
    let mut third = env.uow.begin().await.unwrap();
    tokio::time::timeout(
        PROMPTLY,
        third.lock_address_minting(vault_id(1), usdt_eth()),
    )
    .await
    .expect("the lock is released at rollback")
    .unwrap();
    third.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_vault_locks_coexist_and_an_exclusive_one_waits_for_them() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let b = seed_basics(&f.live, t, 10).await;

    let mut a = f.live.uow.begin().await.unwrap();
    let mut c = f.live.uow.begin().await.unwrap();
    a.share_vault(t, b.vault.id).await.unwrap();
    tokio::time::timeout(PROMPTLY, c.share_vault(t, b.vault.id))
        .await
        .expect("two shared locks coexist")
        .unwrap();

    let uow = f.live.uow.clone();
    let vault = b.vault.id;
    let exclusive = tokio::spawn(async move {
        let mut tx = uow.begin().await.unwrap();
        let v = tx.lock_vault(t, vault).await.unwrap();
        tx.commit().await.unwrap();
        v
    });
    wait_for_lock_waiters(&f.raw, 1).await;
    assert!(!exclusive.is_finished());
    a.commit().await.unwrap();
    c.commit().await.unwrap();
    let v = tokio::time::timeout(PROMPTLY, exclusive)
        .await
        .expect("the exclusive lock follows the shared ones")
        .unwrap();
    assert_eq!(v, b.vault);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_wallets_block_a_second_locker_until_commit() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let b = seed_basics(&f.live, t, 10).await;
    let mut w2 = wallet(&b.vault, usdc_eth(), 20);
    commit_wallets(&f.live, &[&w2]).await;

    let mut first = f.live.uow.begin().await.unwrap();
    // Asked in descending order, returned (and locked) in ascending id order.
    let locked = first.lock_wallets(t, &[w2.id, b.wallet.id]).await.unwrap();
    assert_eq!(
        locked.iter().map(|w| w.id).collect::<Vec<_>>(),
        vec![b.wallet.id, w2.id]
    );

    let uow = f.live.uow.clone();
    let w2_id = w2.id;
    let second = tokio::spawn(async move {
        let mut tx = uow.begin().await.unwrap();
        let w = tx.lock_wallet_by_id(w2_id).await.unwrap();
        tx.commit().await.unwrap();
        w
    });
    wait_for_lock_waiters(&f.raw, 1).await;
    w2.balances = balances(5, 0, 0);
    w2.version = 2;
    first.update_wallet(&w2).await.unwrap();
    first.commit().await.unwrap();
    let seen = tokio::time::timeout(PROMPTLY, second)
        .await
        .expect("released at commit")
        .unwrap();
    assert_eq!(seen, w2, "the second locker reads the committed write");
}

async fn seed_events(
    env: &EnvironmentStores,
    tenant: TenantId,
    first: u64,
    count: u64,
) -> Vec<EventId> {
    let vault = customer_vault(tenant, 900 + first);
    commit_vaults(env, &[&vault]).await;
    let events: Vec<_> = (first..first + count)
        .map(|n| vault_event(n, &vault))
        .collect();
    commit_events(env, &events.iter().collect::<Vec<_>>()).await;
    events.iter().map(|e| e.id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_skips_rows_another_claimer_holds_instead_of_waiting() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let ids = seed_events(&f.live, t, 100, 6).await;
    let now = at(10_000);

    // Another instance mid-claim: the first two events locked, not yet leased.
    let mut holder = f.raw.begin().await.unwrap();
    let held: Vec<String> = ids[..2].iter().map(ToString::to_string).collect();
    sqlx::query("SELECT id FROM events WHERE id = ANY($1) FOR UPDATE")
        .bind(&held)
        .fetch_all(&mut *holder)
        .await
        .unwrap();

    let claimed = tokio::time::timeout(
        PROMPTLY,
        f.live.outbox.claim(now, time::Duration::seconds(30), 10),
    )
    .await
    .expect("claim must skip locked rows, not wait for them")
    .unwrap();
    assert_eq!(
        claimed.iter().map(|c| c.event.id).collect::<Vec<_>>(),
        ids[2..].to_vec(),
        "the unlocked events, oldest first"
    );
    assert!(claimed
        .iter()
        .all(|c| c.lease_until == now + time::Duration::seconds(30) && c.attempts == 0));

    holder.rollback().await.unwrap();
    let rest = f
        .live
        .outbox
        .claim(now, time::Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.iter().map(|c| c.event.id).collect::<Vec<_>>(),
        ids[..2].to_vec(),
        "once released, the skipped rows are claimable; the leased ones are not"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_get_disjoint_batches_covering_everything() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let ids = seed_events(&f.live, t, 100, 12).await;
    let now = at(10_000);

    let claimers = 4;
    let barrier = Arc::new(tokio::sync::Barrier::new(claimers));
    let tasks: Vec<_> = (0..claimers)
        .map(|_| {
            let outbox = f.live.outbox.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                outbox
                    .claim(now, time::Duration::seconds(30), 5)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for task in tasks {
        let batch = task.await.unwrap();
        total += batch.len();
        for c in batch {
            assert!(seen.insert(c.event.id), "{} claimed twice", c.event.id);
        }
    }
    assert_eq!(total, ids.len());
    assert_eq!(seen, ids.into_iter().collect::<BTreeSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraint_names_come_through_as_conflicts() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    assert_conflict(
        f.shared
            .tenants
            .insert(&tenant(1), &EnabledAssets::none(), &EnabledAssets::none())
            .await,
        "tenants_pkey",
        "tenant id",
    );
    let b = seed_basics(&f.live, t, 10).await;
    let env = &f.live;

    let mut tx = env.uow.begin().await.unwrap();
    let mut same_ref = customer_vault(t, 11);
    same_ref.external_ref = b.vault.external_ref.clone();
    assert_conflict(
        tx.insert_vault(&same_ref).await,
        "vaults_tenant_external_ref_key",
        "external ref",
    );
    drop(tx);

    let mut tx = env.uow.begin().await.unwrap();
    tx.insert_vault(&treasury_vault(t, 12)).await.unwrap();
    assert_conflict(
        tx.insert_vault(&treasury_vault(t, 13)).await,
        "vaults_one_treasury_key",
        "second treasury",
    );
    drop(tx);

    let mut tx = env.uow.begin().await.unwrap();
    assert_conflict(tx.insert_vault(&b.vault).await, "vaults_pkey", "vault id");
    drop(tx);

    let mut tx = env.uow.begin().await.unwrap();
    assert_conflict(
        tx.insert_wallet(&wallet(&b.vault, usdt_eth(), 14)).await,
        "wallets_vault_asset_key",
        "second wallet for an asset",
    );
    drop(tx);

    let primary = deposit_address(&b.wallet, 20, 0);
    commit_addresses(env, &[&primary]).await;
    let mut tx = env.uow.begin().await.unwrap();
    let mut second_primary = deposit_address(&b.wallet, 21, 1);
    second_primary.is_primary = true;
    assert_conflict(
        tx.insert_address(&second_primary).await,
        "deposit_addresses_one_primary_key",
        "second primary",
    );
    drop(tx);
    let mut tx = env.uow.begin().await.unwrap();
    let mut same_index = deposit_address(&b.wallet, 22, 1);
    same_index.derivation_index = 0;
    same_index.is_primary = false;
    assert_conflict(
        tx.insert_address(&same_index).await,
        "deposit_addresses_wallet_index_key",
        "derivation index reused",
    );
    drop(tx);
    // (network, address) is unique across environments and tenants.
    let t2 = insert_tenant(&f.shared, 2).await;
    let other = seed_basics(&f.sandbox, t2, 30).await;
    let mut tx = f.sandbox.uow.begin().await.unwrap();
    let mut copy = deposit_address(&other.wallet, 31, 0);
    copy.address = primary.address.clone();
    assert_conflict(
        tx.insert_address(&copy).await,
        "deposit_addresses_network_address_key",
        "an address minted twice",
    );
    drop(tx);

    let mut deposit = transaction(
        t,
        40,
        TransactionKind::Deposit,
        usdt_eth(),
        5,
        None,
        Some(b.wallet.id),
    );
    deposit.provider_ref = Some("prov-1".to_owned());
    commit_transactions(env, &[&deposit]).await;
    let mut tx = env.uow.begin().await.unwrap();
    assert_conflict(
        tx.insert_transaction(&deposit).await,
        "transactions_pkey",
        "transaction id",
    );
    drop(tx);
    let mut tx = env.uow.begin().await.unwrap();
    let mut again = deposit.clone();
    again.id = transaction_id(41);
    assert_conflict(
        tx.insert_transaction(&again).await,
        "transactions_kind_provider_ref_key",
        "a deposit credited twice",
    );
    drop(tx);

    let entry = address_book_entry(t, 50, custody_core::asset::Network::Ethereum, 7, None);
    commit_entries(env, &[&entry]).await;
    let mut tx = env.uow.begin().await.unwrap();
    let mut dup = address_book_entry(t, 51, custody_core::asset::Network::Ethereum, 7, None);
    dup.label = label("another label");
    assert_conflict(
        tx.insert_address_book_entry(&dup).await,
        "address_book_entries_active_address_key",
        "active entry twice",
    );
    drop(tx);

    let key = api_key(
        t,
        60,
        Environment::Live,
        custody_core::api_key::KeyMode::Bearer,
    );
    f.shared.api_keys.insert(&key, None).await.unwrap();
    let mut same_hash = key.clone();
    same_hash.id = api_key_id(61);
    assert_conflict(
        f.shared.api_keys.insert(&same_hash, None).await,
        "api_keys_key_hash_key",
        "key hash",
    );

    let ev = seed_events(env, t, 70, 1).await;
    let attempt = DeliveryAttempt {
        id: delivery_id(80),
        event_id: ev[0],
        tenant_id: t,
        attempt: 1,
        attempted_at: at(100),
        url: "https://example.com/hook".to_owned(),
        response_status: Some(500),
        error: Some("server error".to_owned()),
        duration_ms: 12,
    };
    f.live
        .outbox
        .record_attempt(&attempt, AttemptOutcome::RetryAt(at(200)))
        .await
        .unwrap();
    assert_conflict(
        f.live
            .outbox
            .record_attempt(&attempt, AttemptOutcome::RetryAt(at(300)))
            .await,
        "webhook_delivery_attempts_pkey",
        "attempt id",
    );
    // Nothing of the refused attempt was written.
    let status = f.live.outbox.status(t, ev[0]).await.unwrap();
    assert_eq!(status.attempts, 1);
    assert_eq!(status.next_attempt_at, Some(at(200)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_refuses_update_and_delete() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let b = seed_basics(&f.live, t, 10).await;
    let deposit = transaction(
        t,
        40,
        TransactionKind::Deposit,
        usdt_eth(),
        5,
        None,
        Some(b.wallet.id),
    );
    let entries = [
        LedgerEntry {
            transaction_id: deposit.id,
            asset: usdt_eth(),
            posting: Posting {
                account: Account::Wallet {
                    wallet_id: b.wallet.id,
                    bucket: Bucket::Available,
                },
                delta: 5,
            },
            created_at: at(40),
        },
        LedgerEntry {
            transaction_id: deposit.id,
            asset: usdt_eth(),
            posting: Posting {
                account: Account::External { asset: usdt_eth() },
                delta: -5,
            },
            created_at: at(40),
        },
    ];
    let mut tx = f.live.uow.begin().await.unwrap();
    tx.insert_transaction(&deposit).await.unwrap();
    tx.append_ledger(&entries).await.unwrap();
    tx.commit().await.unwrap();

    for statement in [
        "UPDATE ledger_entries SET delta = 6",
        "DELETE FROM ledger_entries",
    ] {
        let err = sqlx::query(statement).execute(&f.raw).await.unwrap_err();
        let db = err.as_database_error().expect("a database error");
        assert_eq!(db.code().as_deref(), Some("23001"), "{statement}");
        assert!(db.message().contains("append-only"), "{statement}: {db}");
    }
    let ledger = f
        .live
        .transactions
        .ledger_for_wallet(b.wallet.id)
        .await
        .unwrap();
    assert_eq!(ledger, entries[..1].to_vec(), "the entry is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_handle_cannot_see_lock_or_change_live_rows() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let live = &f.live;
    let sandbox = &f.sandbox;

    // Live rows of every kind.
    let b = seed_basics(live, t, 10).await;
    let mut funded = b.wallet.clone();
    funded.balances = balances(100, 0, 0);
    funded.version = 2;
    commit_wallet_update(live, &funded).await;
    let address: DepositAddress = deposit_address(&funded, 20, 0);
    commit_addresses(live, &[&address]).await;
    let mut deposit = transaction(
        t,
        30,
        TransactionKind::Deposit,
        usdt_eth(),
        100,
        None,
        Some(funded.id),
    );
    deposit.provider_ref = Some("prov-30".to_owned());
    let withdrawal = transaction(
        t,
        31,
        TransactionKind::Withdrawal,
        usdt_eth(),
        1,
        Some(funded.id),
        None,
    );
    assert_eq!(withdrawal.status, TransactionStatus::Submitted);
    commit_transactions(live, &[&deposit, &withdrawal]).await;
    let mut tx = live.uow.begin().await.unwrap();
    tx.append_ledger(&[LedgerEntry {
        transaction_id: deposit.id,
        asset: usdt_eth(),
        posting: Posting {
            account: Account::Wallet {
                wallet_id: funded.id,
                bucket: Bucket::Available,
            },
            delta: 100,
        },
        created_at: at(30),
    }])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let entry = address_book_entry(t, 40, custody_core::asset::Network::Ethereum, 9, None);
    commit_entries(live, &[&entry]).await;
    let event = wallet_event(50, &funded);
    commit_events(live, &[&event]).await;
    let key = idem_key("live-key");
    assert_eq!(
        live.idempotency
            .reserve(t, &key, &fingerprint(1), at(0), at(86_400), None)
            .await
            .unwrap(),
        reserved(at(0), None)
    );

    // Reads by id and lists.
    assert_not_found(sandbox.vaults.get(t, b.vault.id).await, "vault get");
    assert_not_found(
        sandbox
            .vaults
            .find_by_external_ref(t, b.vault.external_ref.as_ref().unwrap())
            .await,
        "vault by external ref",
    );
    assert_not_found(sandbox.wallets.get(t, funded.id).await, "wallet get");
    assert_not_found(sandbox.addresses.get(t, address.id).await, "address get");
    assert_not_found(
        sandbox.addresses.primary_for_wallet(t, funded.id).await,
        "primary address",
    );
    assert_not_found(
        sandbox.transactions.get(t, deposit.id).await,
        "transaction get",
    );
    assert_not_found(sandbox.address_book.get(t, entry.id).await, "entry get");
    let all = page(200, None, None);
    assert!(sandbox
        .vaults
        .list(t, &VaultFilter::default(), all)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(sandbox
        .wallets
        .list(t, &WalletFilter::default(), all)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(sandbox
        .addresses
        .list(t, &AddressFilter::default(), all)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(sandbox
        .transactions
        .list(t, &TransactionFilter::default(), all)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(sandbox
        .address_book
        .list(t, &Default::default(), at(0), all)
        .await
        .unwrap()
        .items
        .is_empty());
    assert!(sandbox.events.list(t, all).await.unwrap().items.is_empty());
    assert!(sandbox
        .transactions
        .ledger_for_wallet(funded.id)
        .await
        .unwrap()
        .is_empty());
    assert!(sandbox
        .transactions
        .open_withdrawals(10)
        .await
        .unwrap()
        .is_empty());

    // Row locks, lookups and writes inside a unit of work.
    let mut tx = sandbox.uow.begin().await.unwrap();
    assert_not_found(tx.lock_vault(t, b.vault.id).await, "lock_vault");
    assert_not_found(tx.share_vault(t, b.vault.id).await, "share_vault");
    assert_not_found(
        tx.find_vault_by_external_ref(t, b.vault.external_ref.as_ref().unwrap())
            .await,
        "find_vault_by_external_ref",
    );
    assert!(!tx.vault_has_funds(b.vault.id).await.unwrap());
    assert_not_found(tx.find_wallet(b.vault.id, usdt_eth()).await, "find_wallet");
    assert!(tx.lock_wallets(t, &[funded.id]).await.unwrap().is_empty());
    assert_not_found(tx.lock_wallet_by_id(funded.id).await, "lock_wallet_by_id");
    assert_not_found(
        tx.find_primary_address(funded.id).await,
        "find_primary_address",
    );
    assert_eq!(tx.count_addresses(funded.id).await.unwrap(), 0);
    assert_not_found(
        tx.find_address_by_chain_address(&address.address).await,
        "find_address_by_chain_address",
    );
    assert_not_found(
        tx.lock_transaction(None, deposit.id).await,
        "lock_transaction",
    );
    assert_not_found(
        tx.lock_deposit_by_provider_ref("prov-30").await,
        "lock_deposit_by_provider_ref",
    );
    assert_not_found(
        tx.lock_address_book_entry(t, entry.id).await,
        "lock_address_book_entry",
    );
    let mut stale = funded.clone();
    stale.balances = balances(0, 0, 0);
    stale.version = 3;
    assert_not_found(tx.update_wallet(&stale).await, "update_wallet");
    let mut frozen = b.vault.clone();
    frozen.status = custody_core::vault::VaultStatus::Frozen;
    frozen.version = 2;
    assert_not_found(tx.update_vault(&frozen).await, "update_vault");
    let mut failed = withdrawal.clone();
    failed.status = TransactionStatus::Failed;
    failed.version += 1;
    assert_not_found(tx.update_transaction(&failed).await, "update_transaction");
    let mut deleted = entry.clone();
    deleted.status = custody_core::address_book::EntryStatus::Deleted;
    deleted.version = 2;
    assert_not_found(
        tx.update_address_book_entry(&deleted).await,
        "update_address_book_entry",
    );
    assert_not_found(
        tx.complete_idempotency(t, &key, &token(at(0), None), &stored_response(1))
            .await,
        "complete_idempotency",
    );
    tx.commit().await.unwrap();

    // Outbox and idempotency.
    assert!(sandbox
        .outbox
        .claim(at(100_000), time::Duration::seconds(30), 10)
        .await
        .unwrap()
        .is_empty());
    assert_not_found(sandbox.outbox.status(t, event.id).await, "outbox status");
    assert_not_found(
        sandbox.outbox.attempts(t, event.id).await,
        "outbox attempts",
    );
    assert_not_found(
        sandbox.outbox.redeliver(t, event.id, at(100)).await,
        "redeliver",
    );
    assert_not_found(
        sandbox
            .outbox
            .record_attempt(
                &DeliveryAttempt {
                    id: delivery_id(60),
                    event_id: event.id,
                    tenant_id: t,
                    attempt: 1,
                    attempted_at: at(100),
                    url: "https://example.com".to_owned(),
                    response_status: Some(200),
                    error: None,
                    duration_ms: 1,
                },
                AttemptOutcome::Delivered,
            )
            .await,
        "record_attempt",
    );
    assert_not_found(
        sandbox.idempotency.lookup(t, &key, at(1)).await,
        "idempotency lookup",
    );
    sandbox
        .idempotency
        .release(t, &key, &token(at(0), None))
        .await
        .unwrap();
    assert_eq!(
        sandbox
            .idempotency
            .purge_expired(at(10 * 86_400))
            .await
            .unwrap(),
        0
    );
    // The same key is a different record in the sandbox.
    assert_eq!(
        sandbox
            .idempotency
            .reserve(t, &key, &fingerprint(2), at(0), at(86_400), None)
            .await
            .unwrap(),
        reserved(at(0), None)
    );

    // The live rows are untouched.
    assert_eq!(live.vaults.get(t, b.vault.id).await.unwrap(), b.vault);
    assert_eq!(live.wallets.get(t, funded.id).await.unwrap(), funded);
    assert_eq!(
        live.transactions.get(t, withdrawal.id).await.unwrap(),
        withdrawal
    );
    assert_eq!(live.address_book.get(t, entry.id).await.unwrap(), entry);
    let record = live.idempotency.lookup(t, &key, at(1)).await.unwrap();
    assert_eq!(record.fingerprint, fingerprint(1));
    assert_eq!(live.outbox.status(t, event.id).await.unwrap().attempts, 0);
    assert_eq!(live.outbox.attempts(t, event.id).await.unwrap(), vec![]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_of_one_key_yield_exactly_one_reserved() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let key = idem_key("race");
    let racers = 16;
    let barrier = Arc::new(tokio::sync::Barrier::new(racers));
    let tasks: Vec<_> = (0..racers)
        .map(|_| {
            let store = f.live.idempotency.clone();
            let barrier = barrier.clone();
            let key = key.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .reserve(t, &key, &fingerprint(1), at(0), at(86_400), None)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut reserved = 0;
    for task in tasks {
        match task.await.unwrap() {
            Reservation::Reserved(_) => reserved += 1,
            Reservation::Existing(record) => assert_eq!(record.fingerprint, fingerprint(1)),
        }
    }
    assert_eq!(reserved, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_keep_microseconds_and_drop_the_rest() {
    let f = setup().await;
    let mut t = tenant(1);
    t.created_at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
    f.shared
        .tenants
        .insert(&t, &EnabledAssets::none(), &EnabledAssets::none())
        .await
        .unwrap();
    let back = f.shared.tenants.get(t.id).await.unwrap();
    assert_eq!(
        back.created_at,
        OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_largest_amounts_round_trip_through_numeric() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let b = seed_basics(&f.live, t, 10).await;
    let mut w = b.wallet.clone();
    w.balances = balances(u128::MAX, u128::MAX - 1, 1);
    w.version = 2;
    commit_wallet_update(&f.live, &w).await;
    assert_eq!(f.live.wallets.get(t, w.id).await.unwrap(), w);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_are_idempotent_and_ping_answers() {
    let f = setup().await;
    f.store.migrate().await.unwrap();
    f.store.ping().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_output_shows_no_password_and_no_master_key() {
    let (store, db) = fresh_store().await;
    let debug = format!("{store:?}");
    assert!(debug.contains("MasterKey(<redacted>)"), "{debug}");
    assert!(
        !debug.contains("42, 42") && !debug.contains("4242"),
        "{debug}"
    );
    assert!(!debug.contains(db.url().expose()), "{debug}");

    let url = DatabaseUrl::new("postgres://custody:hunter2-secret@db.internal:5432/custody");
    assert!(!format!("{url:?}").contains("hunter2-secret"));
    assert!(!format!("{url}").contains("hunter2-secret"));
    assert!(!format!("{db:?}").contains("hunter2-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_to_a_closed_port_is_unavailable_and_does_not_leak_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = DatabaseUrl::new(format!(
        "postgres://custody:hunter2-secret@127.0.0.1:{port}/custody"
    ));
    let options = PgOptions {
        acquire_timeout: Duration::from_millis(500),
        ..PgOptions::default()
    };
    let err = PgStore::connect(&url, MasterKey::from_bytes([1; 32]), options)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!format!("{err:?}").contains("hunter2-secret"));
    assert!(!format!("{err}").contains("hunter2-secret"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_url_is_internal() {
    let err = PgStore::connect(
        &DatabaseUrl::new("postgres://[::1"),
        MasterKey::from_bytes([1; 32]),
        PgOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_wait_past_lock_timeout_is_unavailable() {
    let (store, db) = fresh_store().await;
    drop(store);
    let options = PgOptions {
        lock_timeout: Some(Duration::from_millis(200)),
        ..PgOptions::default()
    };
    let store = PgStore::connect(db.url(), MasterKey::from_bytes([1; 32]), options)
        .await
        .unwrap();
    let live = store.environment(Environment::Live);
    let mut holder = live.uow.begin().await.unwrap();
    holder
        .lock_address_minting(vault_id(1), usdt_eth())
        .await
        .unwrap();
    let mut waiter = live.uow.begin().await.unwrap();
    let err = waiter
        .lock_address_minting(vault_id(1), usdt_eth())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    holder.commit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_after_a_failed_statement_is_refused_and_publishes_nothing() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let existing = customer_vault(t, 10);
    commit_vaults(&f.sandbox, &[&existing]).await;

    let mut tx = f.sandbox.uow.begin().await.unwrap();
    let first = customer_vault(t, 11);
    tx.insert_vault(&first).await.unwrap();
    let same_id = custody_core::vault::Vault {
        external_ref: Some(external_ref("another")),
        ..existing.clone()
    };
    assert_conflict(
        tx.insert_vault(&same_id).await,
        "vaults_pkey",
        "the same vault twice",
    );
    let err = tx
        .commit()
        .await
        .expect_err("a commit after a failed statement");
    assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
    assert_not_found(
        f.sandbox.vaults.get(t, first.id).await,
        "a write made before the failure",
    );
}

/// Issue 13's cursor test: transaction A appends an event (drawing the earlier id) and stays
/// open; B appends one and commits; a consumer reads the log (sees B, keeps a cursor past it);
/// A commits; the consumer reads on from its cursor and must see A.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_log_never_skips_an_event_that_commits_late() {
    let f = setup().await;
    let tenant = insert_tenant(&f.shared, 1).await;
    let env = &f.sandbox;
    let vault = customer_vault(tenant, 1);
    let early = vault_event(10, &vault);
    let late = vault_event(20, &vault);
    assert!(early.id < late.id, "A's event has the earlier id");

    let mut a = env.uow.begin().await.expect("begin A");
    a.append_event(&early).await.expect("A appends");
    let mut b = env.uow.begin().await.expect("begin B");
    b.append_event(&late).await.expect("B appends");
    b.commit().await.expect("B commits");

    let read = |after| {
        let events = env.events.clone();
        async move {
            events
                .log(
                    tenant,
                    &EventLogQuery {
                        after,
                        types: Vec::new(),
                        limit: 50,
                    },
                )
                .await
                .expect("read the log")
                .items
        }
    };
    // While A is open, nothing past it shows: B waits behind A's transaction.
    let first = read(None).await;
    assert!(
        first.iter().all(|l| l.event.id != early.id),
        "A is not committed"
    );
    let cursor = first.last().map(|l| l.position);

    a.commit().await.expect("A commits");
    // Read on from the cursor, as a consumer polls. (The log's horizon is the cluster's oldest
    // running transaction, so another test's open transaction, even in another database, may
    // delay what shows; it never makes the reader skip.)
    let mut seen: Vec<_> = first.into_iter().map(|l| l.event.id).collect();
    let mut cursor = cursor;
    for _ in 0..3_000 {
        let page = read(cursor).await;
        cursor = page.last().map(|l| l.position).or(cursor);
        seen.extend(page.into_iter().map(|l| l.event.id));
        if seen.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        seen,
        vec![early.id, late.id],
        "A's event (its transaction wrote first) then B's, each once"
    );
    assert!(
        seen.contains(&early.id),
        "the consumer must see A's event after its cursor: {seen:?}"
    );
    assert!(seen.contains(&late.id), "and B's: {seen:?}");
    assert_eq!(seen.len(), 2, "each once: {seen:?}");
}

/// A long-open transaction holds the log back for everyone (never a gap); once it ends the log
/// moves on, and a rolled-back transaction's event never shows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_the_log_back_and_a_rolled_back_one_leaves_no_trace() {
    let f = setup().await;
    let tenant = insert_tenant(&f.shared, 1).await;
    let other = insert_tenant(&f.shared, 2).await;
    let env = &f.sandbox;
    let vault = customer_vault(tenant, 1);
    let query = EventLogQuery {
        after: None,
        types: Vec::new(),
        limit: 50,
    };

    // Another tenant's open transaction holds back this tenant's later commits too: the
    // log's horizon is the database's, not the tenant's.
    let theirs = vault_event(5, &customer_vault(other, 2));
    let mut open = env.uow.begin().await.expect("begin");
    open.append_event(&theirs).await.expect("append");
    let mut gone = env.uow.begin().await.expect("begin");
    gone.append_event(&vault_event(6, &vault))
        .await
        .expect("append");
    let mine = vault_event(7, &vault);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.append_event(&mine).await.expect("append");
    tx.commit().await.expect("commit");
    assert!(env
        .events
        .log(tenant, &query)
        .await
        .expect("log")
        .items
        .is_empty());
    open.commit().await.expect("commit");
    assert!(
        env.events
            .log(tenant, &query)
            .await
            .expect("log")
            .items
            .is_empty(),
        "the rolled-back-to-be transaction is still open"
    );
    // Dropping a transaction rolls it back: the pool sends the ROLLBACK when the connection
    // comes back to it, in a task of its own. Wait for that, then the log moves on.
    drop(gone);
    let mut items = Vec::new();
    for _ in 0..3_000 {
        items = env.events.log(tenant, &query).await.expect("log").items;
        if !items.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        items.into_iter().map(|l| l.event).collect::<Vec<_>>(),
        vec![mine],
        "the committed event, never the rolled-back one"
    );
}

/// Issue 18: the tenant-wide balances read the maintained totals and no `wallets` row. With
/// every wallet's balance changed behind the store's back, the read still answers the totals
/// (before the totals it summed the tenant's wallets, linear in them: this test failed), and
/// reconcile names each difference. Its plan reaches `wallets` only through the asset index.
#[tokio::test]
async fn tenant_wide_balances_read_no_wallet_rows() {
    let f = setup().await;
    let expected = seed_totals_data(&f.shared, &f.sandbox, &f.live).await;
    assert_seeded_totals(&expected, "seeded").await;
    sqlx::query("UPDATE wallets SET available = 0")
        .execute(&f.raw)
        .await
        .expect("behind the store's back");
    assert_seeded_totals(&expected, "the wallets were not read").await;
    assert_eq!(
        total_drift(&f.sandbox).await,
        4,
        "one drift per non-zero (tenant, asset) of the sandbox"
    );

    let rendered = custody_sql::tables::asset_totals::by_asset(expected[0].tenant)
        .render_in(Some(Environment::Sandbox), &custody_sql::PgDialect)
        .expect("render");
    let explain_sql = format!("EXPLAIN {}", rendered.sql);
    let mut explain = sqlx::query_scalar::<_, String>(&explain_sql);
    for value in &rendered.values {
        explain = match value {
            custody_sql::Value::Text(text) => explain.bind(text.clone()),
            other => panic!("unexpected value {other:?}"),
        };
    }
    let plan = explain.fetch_all(&f.raw).await.expect("explain").join("\n");
    assert!(plan.contains("asset_totals"), "{plan}");
    // The wallets only through the (tenant, environment, asset) index, one descent per asset.
    let wallet_access: Vec<&str> = plan.lines().filter(|l| l.contains("wallets")).collect();
    assert!(!wallet_access.is_empty(), "{plan}");
    assert!(
        wallet_access
            .iter()
            .all(|l| l.contains("wallets_tenant_asset_idx")),
        "the read reads no wallet row, only the asset index: {plan}"
    );
}

/// The migration that creates `asset_totals` fills it exactly from the wallets already there:
/// re-run on a store whose wallets predate it, every tenant's totals equal its wallets' sums
/// (amounts beyond 2^64, `u128::MAX`, a zero line for an asset held at zero), and reconcile is
/// clean.
#[tokio::test]
async fn asset_totals_migration_backfills_from_wallets() {
    let f = setup().await;
    let expected = seed_totals_data(&f.shared, &f.sandbox, &f.live).await;
    sqlx::query("DROP TABLE asset_totals")
        .execute(&f.raw)
        .await
        .expect("as before the migration");
    sqlx::query("DROP INDEX wallets_tenant_asset_idx")
        .execute(&f.raw)
        .await
        .expect("as before the migration");
    sqlx::raw_sql(include_str!(
        "../../../migrations/postgres/20261209100001_wallets_tenant_asset_idx.sql"
    ))
    .execute(&f.raw)
    .await
    .expect("the index's migration");
    sqlx::raw_sql(include_str!(
        "../../../migrations/postgres/20261209100002_asset_totals.sql"
    ))
    .execute(&f.raw)
    .await
    .expect("the migration");
    assert_seeded_totals(&expected, "backfilled").await;
    for env in [&f.live, &f.sandbox] {
        assert_eq!(total_drift(env).await, 0, "{:?}", env.environment);
    }
}

/// The webhook claim's fair pick (`due_tenants`) reads per tenant with pending events, not per
/// pending event (issue 18): with 20,000 pending events of one tenant, `EXPLAIN (ANALYZE,
/// BUFFERS)` of the pick touches a few index pages, where reading the backlog (the due index's
/// range, then grouping by tenant) touches thousands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fair_claims_pick_of_tenants_does_not_read_the_backlog() {
    let f = setup().await;
    let t = insert_tenant(&f.shared, 1).await;
    let other = insert_tenant(&f.shared, 2).await;
    seed_events(&f.live, other, 500, 3).await;
    for chunk in 0..20u64 {
        seed_events(&f.live, t, 1_000 + chunk * 1_000, 1_000).await;
    }
    sqlx::query("ANALYZE events").execute(&f.raw).await.unwrap();

    let stmt = custody_sql::tables::webhook_deliveries::due_tenants(at(1_000_000), 16)
        .bind("environment", Environment::Live.as_str());
    let rendered = stmt.render(&custody_sql::PgDialect).unwrap();
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}", rendered.sql);
    let mut query = sqlx::query_scalar::<_, serde_json::Value>(&sql);
    for value in rendered.values {
        query = match value {
            custody_sql::Value::Text(v) => query.bind(v),
            custody_sql::Value::Int(v) => query.bind(v),
            custody_sql::Value::Time(v) => query.bind(v),
            other => panic!("unexpected value {other:?}"),
        };
    }
    let explained = query.fetch_one(&f.raw).await.unwrap();
    let plan = &explained[0]["Plan"];
    let blocks =
        plan["Shared Hit Blocks"].as_u64().unwrap() + plan["Shared Read Blocks"].as_u64().unwrap();
    assert!(
        blocks < 100,
        "the pick read {blocks} buffers over a backlog of 20,000 events:\n{explained:#}"
    );

    // And it still answers: both tenants, the longest-waiting first.
    let claimed = f
        .live
        .outbox
        .claim_fair(at(1_000_000), time::Duration::minutes(5), 16, 2)
        .await
        .unwrap();
    let tenants: Vec<TenantId> = claimed.iter().map(|c| c.event.tenant_id).collect();
    assert_eq!(tenants, vec![other, other, t, t]);
}
