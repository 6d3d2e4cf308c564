//! The address book.

use custody_core::address_book::{AddressBookEntry, EntryState, EntryStatus};
use custody_core::asset::Network;
use custody_core::ports::AddressBookFilter;

use crate::fixtures::*;
use crate::StoreHandles;

/// Insert, `lock_address_book_entry`, `update_address_book_entry` (deletion; version rule) and
/// the store's `get` (deleted entries included; tenant-scoped).
pub async fn address_book_insert_lock_update_get(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let e1 = address_book_entry(a, 10, Network::Ethereum, 10, Some(usdt_eth()));
    let e2 = address_book_entry(a, 11, Network::Solana, 11, None);
    let e3 = address_book_entry(a, 12, Network::Sui, 12, Some(usdc_sui()));
    let theirs = address_book_entry(b, 13, Network::Ethereum, 13, None);
    commit_entries(env, &[&e1, &e2, &e3, &theirs]).await;

    for e in [&e1, &e2, &e3] {
        assert_eq!(&env.address_book.get(a, e.id).await.expect("get"), e);
    }
    assert_not_found(
        env.address_book.get(b, e1.id).await,
        "get of another tenant's entry",
    );
    assert_not_found(
        env.address_book.get(a, entry_id(99)).await,
        "get of an unknown entry",
    );

    let mut tx = env.uow.begin().await.expect("begin");
    let mut locked = tx
        .lock_address_book_entry(a, e1.id)
        .await
        .expect("lock entry");
    assert_eq!(locked, e1);
    assert_not_found(
        tx.lock_address_book_entry(b, e1.id).await,
        "lock of another tenant's entry",
    );
    assert_not_found(
        tx.lock_address_book_entry(a, entry_id(99)).await,
        "lock of an unknown entry",
    );
    locked.delete(at(500)).expect("delete");
    tx.update_address_book_entry(&locked)
        .await
        .expect("update entry");
    assert_eq!(
        tx.lock_address_book_entry(a, e1.id)
            .await
            .expect("read own write"),
        locked
    );
    tx.commit().await.expect("commit");
    let deleted = env.address_book.get(a, e1.id).await.expect("get deleted");
    assert_eq!(deleted, locked, "deleted entries are still readable");
    assert_eq!(deleted.status, EntryStatus::Deleted);
    assert_eq!(deleted.deleted_at, Some(at(500)));
    assert_eq!(env.address_book.get(a, e2.id).await.expect("get"), e2);

    // Version rule.
    let mut stale = deleted.clone();
    stale.status = EntryStatus::Active;
    stale.deleted_at = None;
    let mut tx = env.uow.begin().await.expect("begin");
    assert_any_conflict(
        tx.update_address_book_entry(&stale).await,
        "update with the stored version",
    );
    drop(tx);
    let mut tx = env.uow.begin().await.expect("begin");
    assert_any_conflict(
        tx.update_address_book_entry(&e1).await,
        "update with a lower version",
    );
    drop(tx);
    assert_eq!(env.address_book.get(a, e1.id).await.expect("get"), deleted);

    let mut tx = env.uow.begin().await.expect("begin");
    assert_not_found(
        tx.update_address_book_entry(&address_book_entry(a, 99, Network::Base, 99, None))
            .await,
        "update of an unknown entry",
    );
    drop(tx);
    assert_not_found(
        env.address_book.get(a, entry_id(99)).await,
        "update must not insert",
    );
}

/// An active (network, address) is unique per tenant and environment
/// (`address_book_entries_active_address_key`); another tenant, the other environment and
/// another network are fine; after deletion the address may be added again.
pub async fn address_book_active_unique(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let first = address_book_entry(a, 10, Network::Ethereum, 77, None);
    commit_entries(&stores.sandbox, &[&first]).await;

    let twin = address_book_entry(a, 11, Network::Ethereum, 77, Some(usdc_eth()));
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert_conflict(
        tx.insert_address_book_entry(&twin).await,
        "address_book_entries_active_address_key",
        "a second active entry for one (network, address)",
    );
    drop(tx);
    assert_not_found(
        stores.sandbox.address_book.get(a, twin.id).await,
        "the refused entry is absent",
    );

    let theirs = address_book_entry(b, 12, Network::Ethereum, 77, None);
    commit_entries(&stores.sandbox, &[&theirs]).await;
    let live = address_book_entry(a, 13, Network::Ethereum, 77, None);
    commit_entries(&stores.live, &[&live]).await;
    let on_base = AddressBookEntry {
        address: custody_core::chain_address::ChainAddress::parse(
            Network::Base,
            first.address.as_str(),
        )
        .expect("valid on Base"),
        network: Network::Base,
        ..address_book_entry(a, 14, Network::Base, 0, None)
    };
    commit_entries(&stores.sandbox, &[&on_base]).await;

    // Delete, then add again.
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    let mut deleted = tx.lock_address_book_entry(a, first.id).await.expect("lock");
    deleted.delete(at(100)).expect("delete");
    tx.update_address_book_entry(&deleted)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    let again = address_book_entry(a, 15, Network::Ethereum, 77, None);
    commit_entries(&stores.sandbox, &[&again]).await;
    assert_eq!(
        stores
            .sandbox
            .address_book
            .get(a, again.id)
            .await
            .expect("get"),
        again
    );
    // And a second deleted one may coexist with it.
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    let mut deleted_again = tx.lock_address_book_entry(a, again.id).await.expect("lock");
    deleted_again.delete(at(200)).expect("delete");
    tx.update_address_book_entry(&deleted_again)
        .await
        .expect("update");
    tx.commit().await.expect("commit");
    let third = address_book_entry(a, 16, Network::Ethereum, 77, None);
    commit_entries(&stores.sandbox, &[&third]).await;
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert_conflict(
        tx.insert_address_book_entry(&address_book_entry(a, 17, Network::Ethereum, 77, None))
            .await,
        "address_book_entries_active_address_key",
        "the re-added entry is active again",
    );
    drop(tx);
}

/// `AddressBookStore::list`: the filter is the query's. Network, address, asset and state at
/// `now` (`Pending` before `activates_at`, `Active` from it on, `Deleted`; without a state,
/// everything not deleted), alone and combined, select exactly what
/// [`AddressBookFilter::matches`] accepts, in id order, tenant-scoped; and a filtered list pages
/// like an unfiltered one (full pages while matches remain).
pub async fn address_book_list_filters(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let cooling = |mut e: AddressBookEntry, until: i64| {
        e.activates_at = at(until);
        e
    };
    let mut entries = vec![
        address_book_entry(a, 14, Network::Sui, 14, None),
        address_book_entry(a, 10, Network::Solana, 10, None),
        cooling(address_book_entry(a, 12, Network::Ethereum, 12, None), 1000),
        address_book_entry(a, 11, Network::Ethereum, 11, Some(usdt_eth())),
        address_book_entry(a, 13, Network::Solana, 13, None),
        cooling(address_book_entry(a, 15, Network::Sui, 15, None), 400),
        cooling(
            address_book_entry(a, 16, Network::Ethereum, 16, Some(usdt_eth())),
            2000,
        ),
    ];
    for e in &entries {
        commit_entries(env, &[e]).await;
    }
    let theirs = address_book_entry(b, 17, Network::Solana, 17, None);
    commit_entries(env, &[&theirs]).await;
    // Delete 13 and 10.
    for e in entries.iter_mut() {
        if e.id == entry_id(13) || e.id == entry_id(10) {
            let mut tx = env.uow.begin().await.expect("begin");
            let mut locked = tx.lock_address_book_entry(a, e.id).await.expect("lock");
            locked.delete(at(300)).expect("delete");
            tx.update_address_book_entry(&locked).await.expect("update");
            tx.commit().await.expect("commit");
            *e = locked;
        }
    }
    entries.sort_by_key(|e| e.id);

    let list = |filter: AddressBookFilter, now| {
        let store = env.address_book.clone();
        async move {
            store
                .list(a, &filter, now, page(200, None, None))
                .await
                .expect("list")
                .items
        }
    };
    let ids = |items: &[AddressBookEntry]| items.iter().map(|e| e.id).collect::<Vec<_>>();
    let state = |state| AddressBookFilter {
        state: Some(state),
        ..AddressBookFilter::default()
    };
    let now = at(500);
    assert_eq!(
        ids(&list(AddressBookFilter::default(), now).await),
        [11, 12, 14, 15, 16].map(entry_id),
        "without a state: everything not deleted"
    );
    assert_eq!(
        ids(&list(state(EntryState::Active), now).await),
        [11, 14, 15].map(entry_id)
    );
    assert_eq!(
        ids(&list(state(EntryState::Pending), now).await),
        [12, 16].map(entry_id)
    );
    assert_eq!(
        ids(&list(state(EntryState::Deleted), now).await),
        [10, 13].map(entry_id)
    );
    assert_eq!(
        ids(&list(state(EntryState::Active), at(1000)).await),
        [11, 12, 14, 15].map(entry_id),
        "active from `activates_at` on"
    );
    assert_eq!(
        ids(&list(state(EntryState::Pending), at(1000)).await),
        [16].map(entry_id)
    );

    let by_address = |e: &AddressBookEntry| AddressBookFilter {
        network: Some(e.network),
        address: Some(e.address.clone()),
        ..AddressBookFilter::default()
    };
    let deleted = entries
        .iter()
        .find(|e| e.id == entry_id(10))
        .expect("entry 10");
    let mut filters = vec![
        AddressBookFilter::default(),
        by_address(&entries[1]),
        by_address(deleted),
        AddressBookFilter {
            state: Some(EntryState::Deleted),
            ..by_address(deleted)
        },
    ];
    for network in [Network::Ethereum, Network::Solana, Network::Sui] {
        for asset in [None, Some(usdt_eth())] {
            for st in [
                None,
                Some(EntryState::Active),
                Some(EntryState::Pending),
                Some(EntryState::Deleted),
            ] {
                filters.push(AddressBookFilter {
                    network: Some(network),
                    address: None,
                    asset,
                    state: st,
                });
                filters.push(AddressBookFilter {
                    asset,
                    state: st,
                    ..AddressBookFilter::default()
                });
            }
        }
    }
    for now in [at(0), at(500), at(1000), at(5000)] {
        for filter in &filters {
            let expected: Vec<_> = entries
                .iter()
                .filter(|e| filter.matches(e, now))
                .cloned()
                .collect();
            assert_eq!(
                list(filter.clone(), now).await,
                expected,
                "{filter:?} at {now}"
            );
        }
    }

    for st in [EntryState::Active, EntryState::Pending, EntryState::Deleted] {
        let filter = state(st);
        let expected: Vec<_> = entries
            .iter()
            .filter(|e| filter.matches(e, now))
            .map(|e| e.id.ulid())
            .collect();
        let store = env.address_book.clone();
        check_pagination(
            "address book by state",
            &expected,
            |e: &AddressBookEntry| e.id.ulid(),
            |p| {
                let store = store.clone();
                let filter = filter.clone();
                async move { store.list(a, &filter, now, p).await }
            },
        )
        .await;
    }
    let theirs_listed = env
        .address_book
        .list(b, &AddressBookFilter::default(), now, page(200, None, None))
        .await
        .expect("list");
    assert_eq!(theirs_listed.items, vec![theirs]);
}
