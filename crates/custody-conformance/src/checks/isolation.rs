//! Environment isolation: nothing read, locked or written through one environment's handles
//! sees or changes the other environment's rows. Every check runs both ways (live rows through
//! sandbox handles, then sandbox rows through live handles), each way with its own tenant.

use custody_core::asset::Network;
use custody_core::idempotency::RecordState;
use custody_core::outbox::{AttemptOutcome, DeliveryAttempt, DeliveryState};
use custody_core::ports::{
    AddressBookFilter, AddressFilter, EnvironmentStores, TransactionFilter, VaultFilter,
    WalletFilter,
};
use custody_core::transaction::{TransactionKind, TransactionStatus};
use custody_core::vault::VaultStatus;
use time::Duration;

use crate::fixtures::*;
use crate::StoreHandles;

/// (writer, reader, tenant number, id base) for both directions.
fn directions(stores: &StoreHandles) -> [(&EnvironmentStores, &EnvironmentStores, u64, u64); 2] {
    [
        (&stores.live, &stores.sandbox, 1, 100),
        (&stores.sandbox, &stores.live, 2, 200),
    ]
}

fn what(reader: &EnvironmentStores, thing: &str) -> String {
    format!(
        "{thing} through the {} handles",
        reader.environment.as_str()
    )
}

/// Vaults and wallets.
pub async fn isolation_vaults_and_wallets(stores: StoreHandles) {
    for (writer, reader, tn, base) in directions(&stores) {
        let t = seed_tenant(&stores, tn).await;
        let vault = customer_vault(t, base);
        let treasury = treasury_vault(t, base + 1);
        commit_vaults(writer, &[&vault, &treasury]).await;
        let mut w = wallet(&vault, usdt_eth(), base + 2);
        commit_wallets(writer, &[&w]).await;
        w.balances = balances(10, 0, 0);
        w.touch(at(10));
        commit_wallet_update(writer, &w).await;

        assert_not_found(
            reader.vaults.get(t, vault.id).await,
            &what(reader, "vault get"),
        );
        assert_not_found(
            reader
                .vaults
                .find_by_external_ref(t, vault.external_ref.as_ref().expect("ref"))
                .await,
            &what(reader, "vault find_by_external_ref"),
        );
        assert!(reader
            .vaults
            .list(t, &VaultFilter::default(), page(200, None, None))
            .await
            .expect("list")
            .items
            .is_empty());
        assert_not_found(
            reader.wallets.get(t, w.id).await,
            &what(reader, "wallet get"),
        );
        assert!(reader
            .wallets
            .list(t, &WalletFilter::default(), page(200, None, None))
            .await
            .expect("list")
            .items
            .is_empty());

        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.find_vault_by_external_ref(t, vault.external_ref.as_ref().expect("ref"))
                .await,
            &what(reader, "find_vault_by_external_ref"),
        );
        assert_not_found(
            tx.find_treasury_vault(t).await,
            &what(reader, "find_treasury_vault"),
        );
        assert_not_found(
            tx.lock_vault(t, vault.id).await,
            &what(reader, "lock_vault"),
        );
        assert_not_found(
            tx.share_vault(t, vault.id).await,
            &what(reader, "share_vault"),
        );
        assert!(
            !tx.vault_has_funds(vault.id).await.expect("has funds"),
            "{}",
            what(reader, "vault_has_funds of a funded vault")
        );
        assert_not_found(
            tx.find_wallet(vault.id, usdt_eth()).await,
            &what(reader, "find_wallet"),
        );
        assert!(
            tx.lock_wallets(t, &[w.id]).await.expect("lock").is_empty(),
            "{}",
            what(reader, "lock_wallets")
        );
        assert_not_found(
            tx.lock_wallet_by_id(w.id).await,
            &what(reader, "lock_wallet_by_id"),
        );
        drop(tx);

        let mut frozen = vault.clone();
        frozen
            .set_status(VaultStatus::Frozen, at(20))
            .expect("freeze");
        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.update_vault(&frozen).await,
            &what(reader, "update_vault"),
        );
        drop(tx);
        let mut drained = w.clone();
        drained.balances = balances(0, 0, 0);
        drained.touch(at(20));
        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.update_wallet(&drained).await,
            &what(reader, "update_wallet"),
        );
        drop(tx);

        assert_eq!(writer.vaults.get(t, vault.id).await.expect("get"), vault);
        assert_eq!(writer.wallets.get(t, w.id).await.expect("get"), w);
        let mut tx = writer.uow.begin().await.expect("begin");
        assert_eq!(tx.find_treasury_vault(t).await.expect("treasury"), treasury);
        assert!(tx.vault_has_funds(vault.id).await.expect("has funds"));
        drop(tx);
    }
}

/// Deposit addresses.
pub async fn isolation_addresses(stores: StoreHandles) {
    for (writer, reader, tn, base) in directions(&stores) {
        let t = seed_tenant(&stores, tn).await;
        let basics = seed_basics(writer, t, base).await;
        let addr = deposit_address(&basics.wallet, base + 5, 0);
        commit_addresses(writer, &[&addr]).await;

        assert_not_found(
            reader.addresses.get(t, addr.id).await,
            &what(reader, "address get"),
        );
        assert_not_found(
            reader
                .addresses
                .primary_for_wallet(t, basics.wallet.id)
                .await,
            &what(reader, "primary_for_wallet"),
        );
        assert!(reader
            .addresses
            .list(t, &AddressFilter::default(), page(200, None, None))
            .await
            .expect("list")
            .items
            .is_empty());
        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.find_primary_address(basics.wallet.id).await,
            &what(reader, "find_primary_address"),
        );
        assert_eq!(
            tx.count_addresses(basics.wallet.id).await.expect("count"),
            0,
            "{}",
            what(reader, "count_addresses")
        );
        assert_not_found(
            tx.find_address_by_chain_address(&addr.address).await,
            &what(reader, "find_address_by_chain_address"),
        );
        drop(tx);

        assert_eq!(writer.addresses.get(t, addr.id).await.expect("get"), addr);
        let mut tx = writer.uow.begin().await.expect("begin");
        assert_eq!(
            tx.find_address_by_chain_address(&addr.address)
                .await
                .expect("find"),
            addr
        );
        drop(tx);
    }
}

/// Transactions and the ledger.
pub async fn isolation_transactions_and_ledger(stores: StoreHandles) {
    for (writer, reader, tn, base) in directions(&stores) {
        let t = seed_tenant(&stores, tn).await;
        let other = seed_tenant(&stores, tn + 10).await;
        let w = seed_tx_world(writer, t, other, base).await;
        let deposit = full_deposit(&w, base + 20, &format!("iso-{base}"));
        let open = withdrawal(&w, base + 21, 5);
        commit_transactions(writer, &[&deposit, &open]).await;
        let postings = custody_core::ledger::Movement::DepositDetected {
            wallet: w.w1.id,
            asset: usdt_eth(),
            amount: amount(5),
        }
        .postings()
        .expect("postings");
        let mut tx = writer.uow.begin().await.expect("begin");
        tx.append_ledger(&custody_core::ledger::LedgerEntry::for_postings(
            deposit.id,
            usdt_eth(),
            &postings,
            at(30),
        ))
        .await
        .expect("append");
        tx.commit().await.expect("commit");

        for id in [deposit.id, open.id] {
            assert_not_found(
                reader.transactions.get(t, id).await,
                &what(reader, "transaction get"),
            );
        }
        assert!(reader
            .transactions
            .list(t, &TransactionFilter::default(), page(200, None, None))
            .await
            .expect("list")
            .items
            .is_empty());
        assert!(
            reader
                .transactions
                .ledger_for_wallet(w.w1.id)
                .await
                .expect("ledger")
                .is_empty(),
            "{}",
            what(reader, "ledger_for_wallet")
        );
        assert!(
            !reader
                .transactions
                .open_withdrawals(200)
                .await
                .expect("open")
                .iter()
                .any(|x| x.id == open.id),
            "{}",
            what(reader, "open_withdrawals")
        );
        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.lock_transaction(Some(t), deposit.id).await,
            &what(reader, "lock_transaction for the tenant"),
        );
        assert_not_found(
            tx.lock_transaction(None, deposit.id).await,
            &what(reader, "lock_transaction for any tenant"),
        );
        assert_not_found(
            tx.lock_deposit_by_provider_ref(deposit.provider_ref.as_deref().expect("ref"))
                .await,
            &what(reader, "lock_deposit_by_provider_ref"),
        );
        drop(tx);
        let mut cancelled = open.clone();
        cancelled
            .advance(TransactionStatus::Cancelled, at(40))
            .expect("cancel");
        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.update_transaction(&cancelled).await,
            &what(reader, "update_transaction"),
        );
        drop(tx);

        assert_eq!(
            writer.transactions.get(t, open.id).await.expect("get"),
            open
        );
        assert!(writer
            .transactions
            .open_withdrawals(200)
            .await
            .expect("open")
            .contains(&open));
        assert_eq!(
            writer
                .transactions
                .ledger_for_wallet(w.w1.id)
                .await
                .expect("ledger")
                .len(),
            1
        );
    }
}

/// The address book.
pub async fn isolation_address_book(stores: StoreHandles) {
    for (writer, reader, tn, base) in directions(&stores) {
        let t = seed_tenant(&stores, tn).await;
        let entry = address_book_entry(t, base, Network::Solana, base, None);
        commit_entries(writer, &[&entry]).await;

        assert_not_found(
            reader.address_book.get(t, entry.id).await,
            &what(reader, "address book get"),
        );
        assert!(reader
            .address_book
            .list(
                t,
                &AddressBookFilter::default(),
                at(0),
                page(200, None, None)
            )
            .await
            .expect("list")
            .items
            .is_empty());
        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.lock_address_book_entry(t, entry.id).await,
            &what(reader, "lock_address_book_entry"),
        );
        drop(tx);
        let mut deleted = entry.clone();
        deleted.delete(at(50)).expect("delete");
        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.update_address_book_entry(&deleted).await,
            &what(reader, "update_address_book_entry"),
        );
        drop(tx);
        // The same destination is independent in the other environment.
        let twin = address_book_entry(t, base + 1, Network::Solana, base, None);
        commit_entries(reader, &[&twin]).await;

        assert_eq!(
            writer.address_book.get(t, entry.id).await.expect("get"),
            entry
        );
        assert_eq!(
            writer
                .address_book
                .list(
                    t,
                    &AddressBookFilter::default(),
                    at(0),
                    page(200, None, None)
                )
                .await
                .expect("list")
                .items,
            vec![entry]
        );
    }
}

/// Events and the outbox.
pub async fn isolation_events_and_outbox(stores: StoreHandles) {
    for (writer, reader, tn, base) in directions(&stores) {
        let t = seed_tenant(&stores, tn).await;
        let vault = customer_vault(t, base);
        let event = vault_event(base + 1, &vault);
        commit_events(writer, &[&event]).await;

        assert!(reader
            .events
            .list(t, page(200, None, None))
            .await
            .expect("list")
            .items
            .is_empty());
        assert!(
            !reader
                .outbox
                .claim(at(10_000), Duration::seconds(60), 100)
                .await
                .expect("claim")
                .iter()
                .any(|c| c.event.id == event.id),
            "{}",
            what(reader, "outbox claim")
        );
        assert_not_found(
            reader.outbox.status(t, event.id).await,
            &what(reader, "status"),
        );
        assert_not_found(
            reader.outbox.attempts(t, event.id).await,
            &what(reader, "attempts"),
        );
        assert_not_found(
            reader.outbox.redeliver(t, event.id, at(10)).await,
            &what(reader, "redeliver"),
        );
        let attempt = DeliveryAttempt {
            id: delivery_id(base + 2),
            event_id: event.id,
            tenant_id: t,
            attempt: 1,
            attempted_at: at(11),
            url: "https://hooks.example.com".to_owned(),
            response_status: Some(200),
            error: None,
            duration_ms: 5,
        };
        assert_not_found(
            reader
                .outbox
                .record_attempt(&attempt, AttemptOutcome::Delivered)
                .await,
            &what(reader, "record_attempt"),
        );

        let status = writer.outbox.status(t, event.id).await.expect("status");
        assert_eq!(status.state, DeliveryState::Pending);
        assert_eq!(status.attempts, 0);
        assert!(writer
            .outbox
            .attempts(t, event.id)
            .await
            .expect("attempts")
            .is_empty());
        let claimed = writer
            .outbox
            .claim(at(10_000), Duration::seconds(60), 100)
            .await
            .expect("claim");
        assert_eq!(
            claimed.iter().map(|c| c.event.id).collect::<Vec<_>>(),
            vec![event.id],
            "the writer still claims its event (no lease taken by the reader)"
        );
        assert_eq!(
            writer
                .events
                .list(t, page(200, None, None))
                .await
                .expect("list")
                .items,
            vec![event]
        );
    }
}

/// Idempotency records.
pub async fn isolation_idempotency(stores: StoreHandles) {
    for (writer, reader, tn, _) in directions(&stores) {
        let t = seed_tenant(&stores, tn).await;
        let key = idem_key("k");
        let done = idem_key("done");
        let old = idem_key("old");
        for (k, expires) in [(&key, 1000), (&done, 1000), (&old, 10)] {
            assert_eq!(
                writer
                    .idempotency
                    .reserve(t, k, &fingerprint(1), at(0), at(expires), None)
                    .await
                    .expect("reserve"),
                reserved(at(0), None)
            );
        }
        let mut tx = writer.uow.begin().await.expect("begin");
        tx.complete_idempotency(t, &done, &token(at(0), None), &stored_response(1))
            .await
            .expect("complete");
        tx.commit().await.expect("commit");

        for k in [&key, &done] {
            assert_not_found(
                reader.idempotency.lookup(t, k, at(1)).await,
                &what(reader, "idempotency lookup"),
            );
        }
        let mut tx = reader.uow.begin().await.expect("begin");
        assert_not_found(
            tx.complete_idempotency(t, &key, &token(at(0), None), &stored_response(2))
                .await,
            &what(
                reader,
                "complete_idempotency of the other environment's key",
            ),
        );
        drop(tx);
        assert_eq!(
            reader
                .idempotency
                .purge_expired(at(20))
                .await
                .expect("purge"),
            0,
            "{}",
            what(reader, "purge_expired")
        );
        reader
            .idempotency
            .release(t, &key, &token(at(0), None))
            .await
            .expect("release");
        assert_eq!(
            reader
                .idempotency
                .reserve(t, &done, &fingerprint(2), at(1), at(1000), None)
                .await
                .expect("reserve"),
            reserved(at(1), None),
            "{}",
            what(reader, "reserve of a key the other environment holds")
        );
        reader
            .idempotency
            .release(t, &done, &token(at(1), None))
            .await
            .expect("release");

        assert_eq!(
            writer
                .idempotency
                .lookup(t, &key, at(1))
                .await
                .expect("lookup")
                .state,
            RecordState::InFlight
        );
        let kept = writer
            .idempotency
            .lookup(t, &done, at(1))
            .await
            .expect("lookup");
        assert_eq!(kept.state, RecordState::Completed(stored_response(1)));
        assert_eq!(kept.fingerprint, fingerprint(1));
        assert_eq!(
            writer
                .idempotency
                .purge_expired(at(20))
                .await
                .expect("purge"),
            1
        );
    }
}

/// Writes cannot reach across environments or tenants either: a row whose parent (vault,
/// wallet, transaction) lives in the other environment or belongs to another tenant is refused
/// as `NotFound` (the parent does not exist as far as this handle and tenant are concerned),
/// and nothing is written. The schemas' composite foreign keys are that last line of defence.
pub async fn isolation_references_stay_in_environment_and_tenant(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    for (writer, other, id_base) in [
        (&stores.live, &stores.sandbox, 100),
        (&stores.sandbox, &stores.live, 200),
    ] {
        let vault = customer_vault(a, id_base);
        commit_vaults(writer, &[&vault]).await;
        let w = wallet(&vault, usdt_eth(), id_base + 1);
        commit_wallets(writer, &[&w]).await;
        let deposit = transaction(
            a,
            id_base + 2,
            TransactionKind::Deposit,
            usdt_eth(),
            5,
            None,
            Some(w.id),
        );
        commit_transactions(writer, &[&deposit]).await;

        // A wallet in the other environment whose vault is this environment's.
        let stray = wallet(&vault, usdc_eth(), id_base + 10);
        let mut tx = other.uow.begin().await.expect("begin");
        assert_not_found(
            tx.insert_wallet(&stray).await,
            &format!(
                "{} wallet under a vault of the other environment",
                other.environment.as_str()
            ),
        );
        drop(tx);

        // Another tenant's wallet under tenant a's vault, same environment.
        let mut foreign = wallet(&vault, usdc_eth(), id_base + 11);
        foreign.tenant_id = b;
        let mut tx = writer.uow.begin().await.expect("begin");
        assert_not_found(
            tx.insert_wallet(&foreign).await,
            "a wallet of tenant b under a vault of tenant a",
        );
        drop(tx);

        // An address in the other environment for this environment's wallet.
        let mut tx = other.uow.begin().await.expect("begin");
        assert_not_found(
            tx.insert_address(&deposit_address(&w, id_base + 12, 0))
                .await,
            "an address in the other environment for this environment's wallet",
        );
        drop(tx);

        // A transfer in the other environment moving this environment's wallet.
        let transfer = transaction(
            a,
            id_base + 13,
            TransactionKind::Transfer,
            usdt_eth(),
            1,
            Some(w.id),
            None,
        );
        let mut tx = other.uow.begin().await.expect("begin");
        assert_not_found(
            tx.insert_transaction(&transfer).await,
            "a transaction in the other environment debiting this environment's wallet",
        );
        drop(tx);

        // Ledger entries in the other environment for this environment's transaction.
        let postings = custody_core::ledger::Movement::DepositDetected {
            wallet: w.id,
            asset: usdt_eth(),
            amount: amount(5),
        }
        .postings()
        .expect("postings");
        let entries = custody_core::ledger::LedgerEntry::for_postings(
            deposit.id,
            usdt_eth(),
            &postings,
            at(1),
        );
        let mut tx = other.uow.begin().await.expect("begin");
        assert_not_found(
            tx.append_ledger(&entries).await,
            "ledger entries in the other environment for this environment's transaction",
        );
        drop(tx);

        // Nothing of the above was written anywhere.
        assert_not_found(
            other.wallets.get(a, stray.id).await,
            "the refused cross-environment wallet",
        );
        assert_not_found(
            writer.wallets.get(b, foreign.id).await,
            "the refused cross-tenant wallet",
        );
        assert!(other
            .transactions
            .ledger_for_wallet(w.id)
            .await
            .expect("ledger")
            .is_empty());
        assert!(writer
            .transactions
            .ledger_for_wallet(w.id)
            .await
            .expect("ledger")
            .is_empty());
    }
}

/// Reads by id are coalesced under load (custody-sql `coalesce`): concurrent reads of one kind
/// go in one statement by id, whatever their tenant. Fired at once from many tasks, every read
/// still answers its own caller only: its own row, `NotFound` for another tenant's row, for
/// the other environment's and for a missing id, on every kind of read by id.
pub async fn isolation_reads_by_id_under_concurrency(stores: StoreHandles) {
    use std::sync::Arc;

    use custody_core::transaction::TransactionKind;

    let live = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let ba = seed_basics(live, a, 10).await;
    let bb = seed_basics(live, b, 20).await;
    let elsewhere = seed_basics(&stores.sandbox, a, 30).await;
    let (aa, ab) = (
        deposit_address(&ba.wallet, 15, 0),
        deposit_address(&bb.wallet, 25, 0),
    );
    commit_addresses(live, &[&aa, &ab]).await;
    let (ta, tb) = (
        transaction(
            a,
            16,
            TransactionKind::Deposit,
            usdt_eth(),
            5,
            None,
            Some(ba.wallet.id),
        ),
        transaction(
            b,
            26,
            TransactionKind::Deposit,
            usdt_eth(),
            7,
            None,
            Some(bb.wallet.id),
        ),
    );
    commit_transactions(live, &[&ta, &tb]).await;

    let cases = Arc::new((ba, bb, elsewhere, aa, ab, ta, tb));
    let mut reads = tokio::task::JoinSet::new();
    for n in 0..240_u32 {
        let (env, cases) = (live.clone(), Arc::clone(&cases));
        reads.spawn(async move {
            let (ba, bb, elsewhere, aa, ab, ta, tb) = &*cases;
            let (a, b) = (ba.tenant, bb.tenant);
            let what = format!("read {n} (case {})", n % 12);
            match n % 12 {
                0 => assert_eq!(env.vaults.get(a, ba.vault.id).await.expect("own"), ba.vault),
                1 => assert_not_found(env.vaults.get(a, bb.vault.id).await, &what),
                2 => assert_eq!(env.vaults.get(b, bb.vault.id).await.expect("own"), bb.vault),
                3 => assert_not_found(env.vaults.get(a, elsewhere.vault.id).await, &what),
                4 => assert_eq!(
                    env.addresses
                        .get_with_reference(a, aa.id)
                        .await
                        .expect("own"),
                    (aa.clone(), ba.vault.external_ref.clone())
                ),
                5 => assert_not_found(env.addresses.get_with_reference(b, aa.id).await, &what),
                6 => assert_eq!(env.addresses.get(b, ab.id).await.expect("own"), *ab),
                7 => assert_not_found(env.addresses.get(a, ab.id).await, &what),
                8 => assert_eq!(env.transactions.get(b, tb.id).await.expect("own"), *tb),
                9 => assert_not_found(env.transactions.get(a, tb.id).await, &what),
                10 => assert_eq!(
                    env.wallets.get(a, ba.wallet.id).await.expect("own"),
                    ba.wallet
                ),
                _ => {
                    assert_eq!(env.transactions.get(a, ta.id).await.expect("own"), *ta);
                    assert_not_found(env.wallets.get(b, ba.wallet.id).await, &what);
                    assert_not_found(env.wallets.get(a, elsewhere.wallet.id).await, &what);
                    assert_not_found(env.vaults.get(a, vault_id(999)).await, &what);
                }
            }
        });
    }
    while let Some(read) = reads.join_next().await {
        read.expect("every read answered as a single read would");
    }
}
