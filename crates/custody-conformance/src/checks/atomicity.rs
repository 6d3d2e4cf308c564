//! The unit of work: everything written through one `StoreTx` commits together or not at all.

use custody_core::asset::Network;
use custody_core::event::EventType;
use custody_core::idempotency::RecordState;
use custody_core::ledger::{LedgerEntry, Movement};
use custody_core::ports::{EnvironmentStores, TransactionFilter, VaultFilter};
use custody_core::transaction::{Transaction, TransactionKind};
use custody_core::wallet::Bucket;

use crate::fixtures::*;
use crate::StoreHandles;

struct Scene {
    tenant: custody_core::id::TenantId,
    from: custody_core::wallet::Wallet,
    to: custody_core::wallet::Wallet,
}

async fn seed_scene(stores: &StoreHandles, env: &EnvironmentStores) -> Scene {
    let tenant = seed_tenant(stores, 1).await;
    let v1 = customer_vault(tenant, 10);
    let v2 = customer_vault(tenant, 11);
    commit_vaults(env, &[&v1, &v2]).await;
    let mut from = wallet(&v1, usdt_eth(), 12);
    let to = wallet(&v2, usdt_eth(), 13);
    commit_wallets(env, &[&from, &to]).await;
    from.balances = balances(1_000, 0, 0);
    from.touch(at(50));
    commit_wallet_update(env, &from).await;
    Scene { tenant, from, to }
}

/// Writes a whole transfer through `tx`: the transaction, both wallets, the ledger, events, an
/// address-book entry, a vault, a wallet, an address, and the idempotency record.
async fn write_everything(
    env: &EnvironmentStores,
    scene: &Scene,
    transfer: &Transaction,
    key: &custody_core::idempotency::IdempotencyKey,
    commit: bool,
) {
    let mut tx = env.uow.begin().await.expect("begin");
    let locked = tx
        .lock_wallets(scene.tenant, &[scene.to.id, scene.from.id])
        .await
        .expect("lock");
    assert_eq!(locked.len(), 2);
    tx.insert_transaction(transfer)
        .await
        .expect("insert transaction");
    let movement = Movement::Transfer {
        from: scene.from.id,
        to: scene.to.id,
        amount: transfer.amount,
    };
    let postings = movement.postings().expect("postings");
    let mut from = scene.from.clone();
    let mut to = scene.to.clone();
    from.balances
        .apply(Bucket::Available, postings[0].delta)
        .expect("debit");
    to.balances
        .apply(Bucket::Available, postings[1].delta)
        .expect("credit");
    from.touch(at(60));
    to.touch(at(60));
    tx.update_wallet(&from).await.expect("update from");
    tx.update_wallet(&to).await.expect("update to");
    tx.append_ledger(&LedgerEntry::for_postings(
        transfer.id,
        transfer.asset,
        &postings,
        at(60),
    ))
    .await
    .expect("append ledger");
    tx.append_event(&wallet_event(70, &from))
        .await
        .expect("event");
    tx.append_event(&wallet_event(71, &to))
        .await
        .expect("event");
    tx.insert_address_book_entry(&address_book_entry(
        scene.tenant,
        80,
        Network::Ethereum,
        80,
        None,
    ))
    .await
    .expect("entry");
    let vault = customer_vault(scene.tenant, 81);
    tx.insert_vault(&vault).await.expect("vault");
    let w = wallet(&vault, usdc_sol(), 82);
    tx.insert_wallet(&w).await.expect("wallet");
    tx.insert_address(&deposit_address(&w, 83, 0))
        .await
        .expect("address");
    tx.complete_idempotency(scene.tenant, key, &token(at(0), None), &stored_response(9))
        .await
        .expect("complete idempotency");
    if commit {
        tx.commit().await.expect("commit");
    }
    // Otherwise `tx` is dropped here without commit.
}

/// A `StoreTx` that writes a transaction, ledger entries, wallet updates, events, an
/// address-book entry, a vault, a wallet and an address and completes an idempotency record,
/// then is dropped without commit, leaves nothing behind; the same writes committed are all
/// visible.
pub async fn unit_of_work_drop_rolls_back_commit_publishes(stores: StoreHandles) {
    let env = &stores.sandbox;
    let scene = seed_scene(&stores, env).await;
    let t = scene.tenant;
    let key = idem_key("atomic");
    assert_eq!(
        env.idempotency
            .reserve(t, &key, &fingerprint(1), at(0), at(10_000), None)
            .await
            .expect("reserve"),
        reserved(at(0), None)
    );
    let transfer = transaction(
        t,
        40,
        TransactionKind::Transfer,
        usdt_eth(),
        250,
        Some(scene.from.id),
        Some(scene.to.id),
    );

    write_everything(env, &scene, &transfer, &key, false).await;

    assert_not_found(
        env.transactions.get(t, transfer.id).await,
        "rolled-back transaction",
    );
    assert!(env
        .transactions
        .list(t, &TransactionFilter::default(), page(200, None, None))
        .await
        .expect("list")
        .items
        .is_empty());
    assert_eq!(
        env.wallets.get(t, scene.from.id).await.expect("get"),
        scene.from,
        "rolled-back wallet update"
    );
    assert_eq!(
        env.wallets.get(t, scene.to.id).await.expect("get"),
        scene.to,
        "rolled-back wallet update"
    );
    for w in [scene.from.id, scene.to.id] {
        assert!(
            env.transactions
                .ledger_for_wallet(w)
                .await
                .expect("ledger")
                .is_empty(),
            "rolled-back ledger entries"
        );
    }
    assert!(
        env.events
            .list(t, page(200, None, None))
            .await
            .expect("events")
            .items
            .is_empty(),
        "rolled-back events"
    );
    assert!(
        env.outbox
            .claim(at(100_000), time::Duration::seconds(1), 100)
            .await
            .expect("claim")
            .is_empty(),
        "rolled-back events are not in the outbox"
    );
    assert_not_found(
        env.address_book.get(t, entry_id(80)).await,
        "rolled-back entry",
    );
    assert_not_found(env.vaults.get(t, vault_id(81)).await, "rolled-back vault");
    assert_eq!(
        env.vaults
            .list(t, &VaultFilter::default(), page(200, None, None))
            .await
            .expect("list")
            .items
            .len(),
        2
    );
    assert_not_found(
        env.wallets.get(t, wallet_id(82)).await,
        "rolled-back wallet",
    );
    assert_not_found(
        env.addresses.get(t, address_id(83)).await,
        "rolled-back address",
    );
    assert_eq!(
        env.idempotency
            .lookup(t, &key, at(1))
            .await
            .expect("lookup")
            .state,
        RecordState::InFlight,
        "rolled-back completion"
    );

    // The same writes, committed.
    write_everything(env, &scene, &transfer, &key, true).await;
    assert_eq!(
        env.transactions.get(t, transfer.id).await.expect("get"),
        transfer
    );
    let from = env.wallets.get(t, scene.from.id).await.expect("get");
    let to = env.wallets.get(t, scene.to.id).await.expect("get");
    assert_eq!(from.balances, balances(750, 0, 0));
    assert_eq!(to.balances, balances(250, 0, 0));
    assert_eq!(from.version, scene.from.version + 1);
    assert_eq!(
        env.transactions
            .ledger_for_wallet(scene.from.id)
            .await
            .expect("ledger")
            .len(),
        1
    );
    let events = env
        .events
        .list(t, page(200, None, None))
        .await
        .expect("events")
        .items;
    assert_eq!(
        events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        vec![EventType::WalletCreated, EventType::WalletCreated]
    );
    assert_eq!(
        env.outbox
            .claim(at(100_000), time::Duration::seconds(1), 100)
            .await
            .expect("claim")
            .len(),
        2
    );
    assert!(env.address_book.get(t, entry_id(80)).await.is_ok());
    assert!(env.vaults.get(t, vault_id(81)).await.is_ok());
    assert!(env.wallets.get(t, wallet_id(82)).await.is_ok());
    assert!(env.addresses.get(t, address_id(83)).await.is_ok());
    assert_eq!(
        env.idempotency
            .lookup(t, &key, at(1))
            .await
            .expect("lookup")
            .state,
        RecordState::Completed(stored_response(9))
    );
}

/// A unit of work that hits a uniqueness conflict and is then dropped leaves nothing of what
/// it wrote before the conflict; the store stays usable.
pub async fn unit_of_work_conflict_then_drop_leaves_nothing(stores: StoreHandles) {
    let env = &stores.live;
    let t = seed_tenant(&stores, 1).await;
    let basics = seed_basics(env, t, 10).await;
    let mut tx = env.uow.begin().await.expect("begin");
    tx.insert_vault(&customer_vault(t, 20))
        .await
        .expect("vault");
    tx.append_event(&vault_event(21, &customer_vault(t, 20)))
        .await
        .expect("event");
    assert_conflict(
        tx.insert_wallet(&wallet(&basics.vault, usdt_eth(), 22))
            .await,
        "wallets_vault_asset_key",
        "duplicate wallet inside a larger unit of work",
    );
    drop(tx);
    assert_not_found(
        env.vaults.get(t, vault_id(20)).await,
        "written before the conflict",
    );
    assert!(env
        .events
        .list(t, page(200, None, None))
        .await
        .expect("events")
        .items
        .is_empty());
    // The store is still usable.
    commit_vaults(env, &[&customer_vault(t, 23)]).await;
    assert!(env.vaults.get(t, vault_id(23)).await.is_ok());
}

/// Which row lock a transaction takes in [`unit_of_work_locks_wait_for_commit`].
#[derive(Debug, Clone, Copy)]
enum Lock {
    Wallets,
    WalletById,
    Vault,
    ShareVault,
    Minting,
    Transaction,
    TransactionAnyTenant,
    Deposit,
    Entry,
}

struct LockTargets {
    tenant: custody_core::id::TenantId,
    vault: custody_core::id::VaultId,
    wallet: custody_core::id::WalletId,
    deposit: custody_core::id::TransactionId,
    entry: custody_core::id::AddressBookEntryId,
}

async fn take(tx: &mut dyn custody_core::ports::StoreTx, lock: Lock, t: &LockTargets) {
    match lock {
        Lock::Wallets => {
            let got = tx.lock_wallets(t.tenant, &[t.wallet]).await.expect("lock");
            assert_eq!(got.len(), 1);
        }
        Lock::WalletById => {
            tx.lock_wallet_by_id(t.wallet).await.expect("lock");
        }
        Lock::Vault => {
            tx.lock_vault(t.tenant, t.vault).await.expect("lock");
        }
        Lock::ShareVault => {
            tx.share_vault(t.tenant, t.vault).await.expect("share");
        }
        Lock::Minting => tx
            .lock_address_minting(t.vault, usdc_sol())
            .await
            .expect("minting lock"),
        Lock::Transaction => {
            tx.lock_transaction(Some(t.tenant), t.deposit)
                .await
                .expect("lock");
        }
        Lock::TransactionAnyTenant => {
            tx.lock_transaction(None, t.deposit).await.expect("lock");
        }
        Lock::Deposit => {
            tx.lock_deposit_by_provider_ref("lock-ref")
                .await
                .expect("lock");
        }
        Lock::Entry => {
            tx.lock_address_book_entry(t.tenant, t.entry)
                .await
                .expect("lock");
        }
    }
}

/// Locks last until commit: while one transaction holds a row lock (`lock_wallets`,
/// `lock_wallet_by_id`, `lock_vault`, `lock_transaction`, `lock_deposit_by_provider_ref`,
/// `lock_address_book_entry`, the minting lock), a second transaction asking for the same row
/// exclusively waits until the first is about to commit; an exclusive vault lock also waits
/// for a shared one and the other way round.
pub async fn unit_of_work_locks_wait_for_commit(stores: StoreHandles) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let basics = seed_basics(&env, tenant, 10).await;
    let mut deposit = transaction(
        tenant,
        20,
        TransactionKind::Deposit,
        usdt_eth(),
        5,
        None,
        Some(basics.wallet.id),
    );
    deposit.provider_ref = Some("lock-ref".to_owned());
    commit_transactions(&env, &[&deposit]).await;
    let entry = address_book_entry(tenant, 21, Network::Ethereum, 21, None);
    commit_entries(&env, &[&entry]).await;
    let targets = Arc::new(LockTargets {
        tenant,
        vault: basics.vault.id,
        wallet: basics.wallet.id,
        deposit: deposit.id,
        entry: entry.id,
    });

    for (first, second) in [
        (Lock::Wallets, Lock::Wallets),
        (Lock::WalletById, Lock::Wallets),
        (Lock::Wallets, Lock::WalletById),
        (Lock::Vault, Lock::Vault),
        (Lock::ShareVault, Lock::Vault),
        (Lock::Vault, Lock::ShareVault),
        (Lock::Minting, Lock::Minting),
        (Lock::Transaction, Lock::TransactionAnyTenant),
        (Lock::Deposit, Lock::Transaction),
        (Lock::TransactionAnyTenant, Lock::Deposit),
        (Lock::Entry, Lock::Entry),
    ] {
        let committing = Arc::new(AtomicBool::new(false));
        let (held_tx, held_rx) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let env = env.clone();
            let targets = targets.clone();
            let committing = committing.clone();
            tokio::spawn(async move {
                let mut tx = env.uow.begin().await.expect("begin");
                take(tx.as_mut(), first, &targets).await;
                held_tx.send(()).expect("signal");
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                committing.store(true, Ordering::SeqCst);
                tx.commit().await.expect("commit");
            })
        };
        held_rx.await.expect("holder took its lock");
        let mut tx = env.uow.begin().await.expect("begin");
        take(tx.as_mut(), second, &targets).await;
        assert!(
            committing.load(Ordering::SeqCst),
            "{second:?} was granted while another transaction held {first:?}"
        );
        tx.commit().await.expect("commit");
        holder.await.expect("holder");
    }
}
