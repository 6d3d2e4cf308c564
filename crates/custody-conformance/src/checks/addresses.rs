//! Deposit addresses through the unit of work and the address store.

use custody_core::asset::Network;
use custody_core::deposit_address::DepositAddress;
use custody_core::ports::AddressFilter;

use crate::fixtures::*;
use crate::StoreHandles;

/// Insert, `find_primary_address`, `count_addresses`, and the store's `get` and
/// `primary_for_wallet` (tenant-scoped).
pub async fn addresses_insert_find_count(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let basics = seed_basics(env, a, 10).await;
    let empty = wallet(&basics.vault, usdc_sol(), 12);
    commit_wallets(env, &[&empty]).await;
    let w = &basics.wallet;

    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(tx.count_addresses(w.id).await.expect("count"), 0);
    assert_not_found(
        tx.find_primary_address(w.id).await,
        "find_primary_address of a wallet without addresses",
    );
    drop(tx);

    let primary = deposit_address(w, 30, 0);
    let second = deposit_address(w, 31, 1);
    let mut third = deposit_address(w, 32, 2);
    third.label = Some(label(""));
    let mut tx = env.uow.begin().await.expect("begin");
    tx.insert_address(&primary).await.expect("insert primary");
    assert_eq!(
        tx.count_addresses(w.id).await.expect("count"),
        1,
        "a transaction counts its own inserts"
    );
    tx.insert_address(&second).await.expect("insert second");
    tx.insert_address(&third).await.expect("insert third");
    tx.commit().await.expect("commit");

    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(tx.count_addresses(w.id).await.expect("count"), 3);
    assert_eq!(tx.count_addresses(empty.id).await.expect("count"), 0);
    assert_eq!(tx.count_addresses(wallet_id(99)).await.expect("count"), 0);
    assert_eq!(
        tx.find_primary_address(w.id).await.expect("primary"),
        primary
    );
    assert_not_found(
        tx.find_primary_address(empty.id).await,
        "find_primary_address of an empty wallet",
    );
    drop(tx);

    for addr in [&primary, &second, &third] {
        assert_eq!(&env.addresses.get(a, addr.id).await.expect("get"), addr);
    }
    assert_not_found(
        env.addresses.get(b, primary.id).await,
        "get of another tenant's address",
    );
    assert_not_found(
        env.addresses.get(a, address_id(99)).await,
        "get of an unknown address",
    );
    assert_eq!(
        env.addresses
            .primary_for_wallet(a, w.id)
            .await
            .expect("primary_for_wallet"),
        primary
    );
    assert_not_found(
        env.addresses.primary_for_wallet(b, w.id).await,
        "primary_for_wallet of another tenant's wallet",
    );
    assert_not_found(
        env.addresses.primary_for_wallet(a, empty.id).await,
        "primary_for_wallet of a wallet without addresses",
    );

    // A wallet whose only address is not primary has no primary.
    let lone = deposit_address(&empty, 33, 1);
    commit_addresses(env, &[&lone]).await;
    assert_not_found(
        env.addresses.primary_for_wallet(a, empty.id).await,
        "a non-primary address is not the primary",
    );
    let mut tx = env.uow.begin().await.expect("begin");
    assert_not_found(
        tx.find_primary_address(empty.id).await,
        "a non-primary address is not the primary",
    );
    assert_eq!(tx.count_addresses(empty.id).await.expect("count"), 1);
    drop(tx);
}

/// `get_with_reference`: the address with its vault's `external_ref` in one read (a customer
/// vault's reference, `None` for the treasury), tenant- and environment-scoped like `get`.
pub async fn addresses_get_with_reference(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let customer = seed_basics(env, a, 10).await;
    let treasury = treasury_vault(a, 20);
    let treasury_wallet = wallet(&treasury, usdt_eth(), 21);
    commit_vaults(env, &[&treasury]).await;
    commit_wallets(env, &[&treasury_wallet]).await;
    let of_customer = deposit_address(&customer.wallet, 30, 0);
    let of_treasury = deposit_address(&treasury_wallet, 31, 0);
    commit_addresses(env, &[&of_customer, &of_treasury]).await;

    let (address, reference) = env
        .addresses
        .get_with_reference(a, of_customer.id)
        .await
        .expect("customer address");
    assert_eq!(address, of_customer);
    assert_eq!(
        reference, customer.vault.external_ref,
        "the vault's reference"
    );
    assert_eq!(reference, Some(external_ref("cust-10")));
    let (address, reference) = env
        .addresses
        .get_with_reference(a, of_treasury.id)
        .await
        .expect("treasury address");
    assert_eq!(address, of_treasury);
    assert_eq!(reference, None, "the treasury has no reference");
    assert_eq!(
        env.addresses
            .get_with_reference(a, of_customer.id)
            .await
            .expect("again")
            .0,
        env.addresses.get(a, of_customer.id).await.expect("get"),
        "the same address as get"
    );

    assert_not_found(
        env.addresses.get_with_reference(b, of_customer.id).await,
        "get_with_reference of another tenant's address",
    );
    assert_not_found(
        env.addresses.get_with_reference(a, address_id(99)).await,
        "get_with_reference of an unknown address",
    );
    assert_not_found(
        stores
            .live
            .addresses
            .get_with_reference(a, of_customer.id)
            .await,
        "get_with_reference of the other environment's address",
    );
}

/// `find_address_by_chain_address` finds any tenant's address, but only in the handle's
/// environment, and only on the address's own network.
pub async fn addresses_find_by_chain_address(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let sa = seed_basics(&stores.sandbox, a, 10).await;
    let sb = seed_basics(&stores.sandbox, b, 12).await;
    let la = seed_basics(&stores.live, a, 14).await;
    let addr_a = deposit_address(&sa.wallet, 30, 0);
    let addr_b = deposit_address(&sb.wallet, 31, 0);
    let addr_live = deposit_address(&la.wallet, 32, 0);
    commit_addresses(&stores.sandbox, &[&addr_a, &addr_b]).await;
    commit_addresses(&stores.live, &[&addr_live]).await;

    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert_eq!(
        tx.find_address_by_chain_address(&addr_a.address)
            .await
            .expect("find"),
        addr_a
    );
    assert_eq!(
        tx.find_address_by_chain_address(&addr_b.address)
            .await
            .expect("find"),
        addr_b,
        "whatever the tenant"
    );
    assert_not_found(
        tx.find_address_by_chain_address(&addr_live.address).await,
        "a live address through the sandbox handle",
    );
    assert_not_found(
        tx.find_address_by_chain_address(&chain_address(Network::Ethereum, 99))
            .await,
        "an address nobody owns",
    );
    // The same 20 bytes on another EVM network are another address.
    let on_base =
        custody_core::chain_address::ChainAddress::parse(Network::Base, addr_a.address.as_str())
            .expect("valid on Base");
    assert_eq!(on_base.as_str(), addr_a.address.as_str());
    assert_not_found(
        tx.find_address_by_chain_address(&on_base).await,
        "the same string on another network",
    );
    drop(tx);

    let mut tx = stores.live.uow.begin().await.expect("begin");
    assert_eq!(
        tx.find_address_by_chain_address(&addr_live.address)
            .await
            .expect("find"),
        addr_live
    );
    assert_not_found(
        tx.find_address_by_chain_address(&addr_a.address).await,
        "a sandbox address through the live handle",
    );
    drop(tx);
}

/// (network, address) is unique system-wide (`deposit_addresses_network_address_key`): for
/// another wallet, another tenant and even the other environment; the same string on another
/// network is a different address.
pub async fn addresses_unique_network_address(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let sa = seed_basics(&stores.sandbox, a, 10).await;
    let second_wallet = wallet(&sa.vault, usdc_eth(), 12);
    commit_wallets(&stores.sandbox, &[&second_wallet]).await;
    let sb = seed_basics(&stores.sandbox, b, 13).await;
    let la = seed_basics(&stores.live, a, 15).await;
    let base_vault = customer_vault(a, 17);
    commit_vaults(&stores.sandbox, &[&base_vault]).await;
    let base_wallet = wallet(&base_vault, usdc_base(), 18);
    commit_wallets(&stores.sandbox, &[&base_wallet]).await;

    let taken = deposit_address(&sa.wallet, 30, 0);
    commit_addresses(&stores.sandbox, &[&taken]).await;

    let clash = |w: &custody_core::wallet::Wallet, n| DepositAddress {
        address: taken.address.clone(),
        ..deposit_address(w, n, 0)
    };
    for (env, candidate, what) in [
        (
            &stores.sandbox,
            DepositAddress {
                address: taken.address.clone(),
                ..deposit_address(&sa.wallet, 31, 1)
            },
            "the same wallet",
        ),
        (&stores.sandbox, clash(&second_wallet, 32), "another wallet"),
        (&stores.sandbox, clash(&sb.wallet, 33), "another tenant"),
        (&stores.live, clash(&la.wallet, 34), "the other environment"),
    ] {
        let mut tx = env.uow.begin().await.expect("begin");
        assert_conflict(
            tx.insert_address(&candidate).await,
            "deposit_addresses_network_address_key",
            &format!("a taken (network, address) for {what}"),
        );
        drop(tx);
        assert_not_found(
            env.addresses.get(candidate.tenant_id, candidate.id).await,
            "the refused address is absent",
        );
    }

    // The same characters on Base are another address.
    let on_base = DepositAddress {
        address: custody_core::chain_address::ChainAddress::parse(
            Network::Base,
            taken.address.as_str(),
        )
        .expect("valid on Base"),
        ..deposit_address(&base_wallet, 35, 0)
    };
    commit_addresses(&stores.sandbox, &[&on_base]).await;
    assert_eq!(
        stores
            .sandbox
            .addresses
            .get(a, on_base.id)
            .await
            .expect("get"),
        on_base
    );
}

/// One primary address per wallet (`deposit_addresses_one_primary_key`); any number of
/// non-primary ones.
pub async fn addresses_one_primary_per_wallet(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let basics = seed_basics(env, a, 10).await;
    let primary = deposit_address(&basics.wallet, 30, 0);
    commit_addresses(env, &[&primary]).await;

    let mut second_primary = deposit_address(&basics.wallet, 31, 1);
    second_primary.is_primary = true;
    let mut tx = env.uow.begin().await.expect("begin");
    assert_conflict(
        tx.insert_address(&second_primary).await,
        "deposit_addresses_one_primary_key",
        "a second primary address",
    );
    drop(tx);
    assert_eq!(
        env.addresses
            .primary_for_wallet(a, basics.wallet.id)
            .await
            .expect("primary"),
        primary
    );

    let extras: Vec<_> = (1..=3)
        .map(|i| deposit_address(&basics.wallet, 40 + u64::from(i), i))
        .collect();
    commit_addresses(env, &extras.iter().collect::<Vec<_>>()).await;
    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(
        tx.count_addresses(basics.wallet.id).await.expect("count"),
        4
    );
    assert_eq!(
        tx.find_primary_address(basics.wallet.id)
            .await
            .expect("primary"),
        primary
    );
    drop(tx);
}

/// `AddressStore::list`: the tenant's addresses in id order, filters by wallet and vault,
/// pagination.
pub async fn addresses_list_filters_pagination(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let v1 = customer_vault(a, 10);
    let v2 = customer_vault(a, 11);
    let vb = customer_vault(b, 12);
    commit_vaults(env, &[&v1, &v2, &vb]).await;
    let w1 = wallet(&v1, usdt_eth(), 20);
    let w2 = wallet(&v1, usdc_sol(), 21);
    let w3 = wallet(&v2, usdt_eth(), 22);
    let wb = wallet(&vb, usdt_eth(), 23);
    commit_wallets(env, &[&w1, &w2, &w3, &wb]).await;
    let mine = vec![
        deposit_address(&w3, 35, 0),
        deposit_address(&w1, 31, 0),
        deposit_address(&w1, 34, 1),
        deposit_address(&w2, 32, 0),
        deposit_address(&w1, 36, 2),
    ];
    for addr in &mine {
        commit_addresses(env, &[addr]).await;
    }
    commit_addresses(env, &[&deposit_address(&wb, 33, 0)]).await;
    let mut sorted = mine.clone();
    sorted.sort_by_key(|x| x.id);

    let store = env.addresses.clone();
    let expected: Vec<_> = sorted.iter().map(|x| x.id.ulid()).collect();
    check_pagination(
        "addresses",
        &expected,
        |x: &DepositAddress| x.id.ulid(),
        |p| {
            let store = store.clone();
            async move { store.list(a, &AddressFilter::default(), p).await }
        },
    )
    .await;

    let list = |tenant, filter: AddressFilter| {
        let store = env.addresses.clone();
        async move {
            store
                .list(tenant, &filter, page(200, None, None))
                .await
                .expect("list")
                .items
        }
    };
    let only = |pred: &dyn Fn(&DepositAddress) -> bool| {
        sorted
            .iter()
            .filter(|x| pred(x))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(list(a, AddressFilter::default()).await, sorted);
    assert_eq!(
        list(
            a,
            AddressFilter {
                wallet_id: Some(w1.id),
                vault_id: None
            }
        )
        .await,
        only(&|x| x.wallet_id == w1.id)
    );
    assert_eq!(
        list(
            a,
            AddressFilter {
                wallet_id: None,
                vault_id: Some(v1.id)
            }
        )
        .await,
        only(&|x| x.vault_id == v1.id)
    );
    assert_eq!(
        list(
            a,
            AddressFilter {
                wallet_id: Some(w3.id),
                vault_id: Some(v2.id)
            }
        )
        .await,
        only(&|x| x.wallet_id == w3.id)
    );
    assert_eq!(
        list(
            a,
            AddressFilter {
                wallet_id: Some(w3.id),
                vault_id: Some(v1.id)
            }
        )
        .await,
        Vec::<DepositAddress>::new(),
        "filters combine with AND"
    );
    assert_eq!(
        list(
            a,
            AddressFilter {
                wallet_id: Some(wb.id),
                vault_id: None
            }
        )
        .await,
        Vec::<DepositAddress>::new(),
        "another tenant's wallet lists nothing"
    );
    assert_eq!(
        list(b, AddressFilter::default()).await,
        vec![deposit_address(&wb, 33, 0)]
    );

    let store = env.addresses.clone();
    let w1_ids: Vec<_> = only(&|x| x.wallet_id == w1.id)
        .iter()
        .map(|x| x.id.ulid())
        .collect();
    check_pagination(
        "addresses of one wallet",
        &w1_ids,
        |x: &DepositAddress| x.id.ulid(),
        |p| {
            let store = store.clone();
            async move {
                store
                    .list(
                        a,
                        &AddressFilter {
                            wallet_id: Some(w1.id),
                            vault_id: None,
                        },
                        p,
                    )
                    .await
            }
        },
    )
    .await;
}

/// `find_primary_address` of wallets the unit of work locked (a store may read all their
/// primary addresses at once, issue 18): each wallet gets its own primary or `NotFound`, a
/// wallet locked later is found too, and an address inserted in the unit of work is seen.
pub async fn addresses_primary_of_locked_wallets(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let basics = seed_basics(env, a, 10).await;
    let w = &basics.wallet;
    let empty = wallet(&basics.vault, usdc_sol(), 12);
    let other = wallet(&basics.vault, usdc_eth(), 13);
    commit_wallets(env, &[&empty, &other]).await;
    let primary = deposit_address(w, 30, 0);
    let second = deposit_address(w, 31, 1);
    let others = deposit_address(&other, 32, 0);
    commit_addresses(env, &[&primary, &second, &others]).await;

    let mut tx = env.uow.begin().await.expect("begin");
    let locked = tx.lock_wallets(a, &[w.id, empty.id]).await.expect("lock");
    assert_eq!(locked.len(), 2);
    assert_eq!(
        tx.find_primary_address(w.id).await.expect("primary"),
        primary
    );
    assert_not_found(
        tx.find_primary_address(empty.id).await,
        "a locked wallet without addresses",
    );
    assert_eq!(
        tx.find_primary_address(other.id).await.expect("not locked"),
        others
    );
    tx.lock_wallet_by_id(other.id).await.expect("lock later");
    assert_eq!(
        tx.find_primary_address(other.id)
            .await
            .expect("locked later"),
        others
    );
    let minted = deposit_address(&empty, 33, 0);
    tx.insert_address(&minted).await.expect("insert");
    assert_eq!(
        tx.find_primary_address(empty.id)
            .await
            .expect("inserted here"),
        minted
    );
    assert_eq!(tx.find_primary_address(w.id).await.expect("again"), primary);
    tx.commit().await.expect("commit");
}
