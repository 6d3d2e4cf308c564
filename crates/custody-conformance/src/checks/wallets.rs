//! Wallets through the unit of work and the wallet store.

use custody_core::ports::WalletFilter;
use custody_core::wallet::Wallet;

use crate::fixtures::*;
use crate::StoreHandles;

/// Insert, `find_wallet`, `get` (tenant-scoped), `lock_wallet_by_id` (any tenant).
pub async fn wallets_insert_find_get(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let va = customer_vault(a, 10);
    let vb = customer_vault(b, 11);
    commit_vaults(env, &[&va, &vb]).await;
    let wa = wallet(&va, usdt_eth(), 20);
    let mut wa2 = wallet(&va, usdc_sol(), 21);
    wa2.label = None;
    let wb = wallet(&vb, usdt_eth(), 22);
    // An empty label is not the absence of one.
    let mut wa3 = wallet(&va, usdc_sui(), 23);
    wa3.label = Some(label(""));
    commit_wallets(env, &[&wa, &wa2, &wb, &wa3]).await;
    assert_eq!(env.wallets.get(a, wa3.id).await.expect("get"), wa3);

    assert_eq!(env.wallets.get(a, wa.id).await.expect("get"), wa);
    assert_eq!(env.wallets.get(a, wa2.id).await.expect("get"), wa2);
    assert_eq!(env.wallets.get(b, wb.id).await.expect("get"), wb);
    assert_not_found(
        env.wallets.get(b, wa.id).await,
        "get of another tenant's wallet",
    );
    assert_not_found(
        env.wallets.get(a, wallet_id(99)).await,
        "get of an unknown wallet",
    );

    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(tx.find_wallet(va.id, usdt_eth()).await.expect("find"), wa);
    assert_eq!(tx.find_wallet(va.id, usdc_sol()).await.expect("find"), wa2);
    assert_eq!(tx.find_wallet(vb.id, usdt_eth()).await.expect("find"), wb);
    assert_not_found(
        tx.find_wallet(va.id, usdc_base()).await,
        "find_wallet of an asset the vault has no wallet for",
    );
    assert_not_found(
        tx.find_wallet(vault_id(99), usdt_eth()).await,
        "find_wallet of an unknown vault",
    );
    assert_eq!(
        tx.lock_wallet_by_id(wb.id).await.expect("lock by id"),
        wb,
        "lock_wallet_by_id ignores the tenant"
    );
    assert_eq!(tx.lock_wallet_by_id(wa.id).await.expect("lock by id"), wa);
    assert_not_found(
        tx.lock_wallet_by_id(wallet_id(99)).await,
        "lock_wallet_by_id of an unknown wallet",
    );
    tx.commit().await.expect("commit");
}

/// `lock_wallets` returns the tenant's wallets among the ids in ascending id order; unknown and
/// foreign ids are simply absent.
pub async fn wallets_lock_wallets_order(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let vaults: Vec<_> = (10..14).map(|n| customer_vault(a, n)).collect();
    let vb = customer_vault(b, 14);
    commit_vaults(env, &vaults.iter().chain([&vb]).collect::<Vec<_>>()).await;
    // Wallet ids deliberately not in the vaults' order.
    let w3 = wallet(&vaults[0], usdt_eth(), 23);
    let w1 = wallet(&vaults[1], usdt_eth(), 21);
    let w2 = wallet(&vaults[2], usdt_eth(), 22);
    let w4 = wallet(&vaults[3], usdt_eth(), 24);
    let foreign = wallet(&vb, usdt_eth(), 25);
    commit_wallets(env, &[&w3, &w1, &w4, &w2, &foreign]).await;

    let mut tx = env.uow.begin().await.expect("begin");
    let locked = tx
        .lock_wallets(a, &[w3.id, wallet_id(99), w1.id, foreign.id, w2.id])
        .await
        .expect("lock_wallets");
    assert_eq!(locked, vec![w1.clone(), w2.clone(), w3.clone()]);
    assert_eq!(
        tx.lock_wallets(a, &[w4.id]).await.expect("lock one"),
        vec![w4.clone()]
    );
    assert_eq!(
        tx.lock_wallets(a, &[]).await.expect("lock none"),
        Vec::<Wallet>::new()
    );
    assert_eq!(
        tx.lock_wallets(b, &[w1.id, w2.id])
            .await
            .expect("lock foreign"),
        Vec::<Wallet>::new(),
        "another tenant's wallets are not returned"
    );
    assert_eq!(
        tx.lock_wallets(b, &[foreign.id, w1.id])
            .await
            .expect("lock"),
        vec![foreign.clone()]
    );
    drop(tx);
}

/// `update_wallet` saves balances (up to `u128::MAX` in every bucket), version and time; a
/// version not greater than the stored one is a `Conflict`; an unknown wallet is `NotFound`.
pub async fn wallets_update_balances_version_rule(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let basics = seed_basics(env, a, 10).await;
    let other = wallet(&basics.vault, usdc_sol(), 12);
    commit_wallets(env, &[&other]).await;

    let mut w = basics.wallet.clone();
    for (i, b) in [
        balances(u128::MAX, u128::MAX, u128::MAX),
        balances(u128::MAX, 0, 1),
        balances(0, u128::MAX - 1, 0),
        balances(1_000_000_000_000_000_000_000_000_000, 7, u128::MAX / 3),
        balances(0, 0, 0),
    ]
    .into_iter()
    .enumerate()
    {
        w.balances = b;
        w.touch(at(100 + i64::try_from(i).expect("small")));
        let mut tx = env.uow.begin().await.expect("begin");
        let locked = tx.lock_wallets(a, &[w.id]).await.expect("lock");
        assert_eq!(locked.len(), 1);
        assert_eq!(locked[0].version, w.version - 1);
        tx.update_wallet(&w).await.expect("update wallet");
        assert_eq!(
            tx.lock_wallet_by_id(w.id).await.expect("read own write"),
            w,
            "a transaction reads its own writes"
        );
        tx.commit().await.expect("commit");
        assert_eq!(
            env.wallets.get(a, w.id).await.expect("get"),
            w,
            "balances {b:?}"
        );
    }
    assert_eq!(env.wallets.get(a, other.id).await.expect("get"), other);

    let mut stale = w.clone();
    stale.balances = balances(5, 5, 5);
    let mut tx = env.uow.begin().await.expect("begin");
    assert_any_conflict(
        tx.update_wallet(&stale).await,
        "update with the stored version",
    );
    drop(tx);
    let mut older = w.clone();
    older.balances = balances(6, 6, 6);
    older.version = 2;
    let mut tx = env.uow.begin().await.expect("begin");
    assert_any_conflict(
        tx.update_wallet(&older).await,
        "update with a lower version",
    );
    drop(tx);
    assert_eq!(
        env.wallets.get(a, w.id).await.expect("get"),
        w,
        "refused writes change nothing"
    );

    let mut jump = w.clone();
    jump.balances = balances(9, 0, 0);
    jump.version += 3;
    commit_wallet_update(env, &jump).await;
    assert_eq!(env.wallets.get(a, w.id).await.expect("get"), jump);

    let mut tx = env.uow.begin().await.expect("begin");
    assert_not_found(
        tx.update_wallet(&wallet(&basics.vault, usdc_base(), 99))
            .await,
        "update of an unknown wallet",
    );
    drop(tx);
    assert_not_found(
        env.wallets.get(a, wallet_id(99)).await,
        "update must not insert",
    );
}

/// One wallet per (vault, asset): `wallets_vault_asset_key`. The same asset in another vault
/// is fine.
pub async fn wallets_unique_vault_asset(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let basics = seed_basics(env, a, 10).await;
    let mut tx = env.uow.begin().await.expect("begin");
    assert_conflict(
        tx.insert_wallet(&wallet(&basics.vault, usdt_eth(), 12))
            .await,
        "wallets_vault_asset_key",
        "second wallet of a vault for one asset",
    );
    drop(tx);
    assert_not_found(
        env.wallets.get(a, wallet_id(12)).await,
        "the refused wallet is absent",
    );

    let second_vault = customer_vault(a, 13);
    commit_vaults(env, &[&second_vault]).await;
    let same_asset = wallet(&second_vault, usdt_eth(), 14);
    let other_asset = wallet(&basics.vault, usdc_eth(), 15);
    commit_wallets(env, &[&same_asset, &other_asset]).await;
    assert_eq!(
        env.wallets.get(a, same_asset.id).await.expect("get"),
        same_asset
    );
    assert_eq!(
        env.wallets.get(a, other_asset.id).await.expect("get"),
        other_asset
    );
}

/// `WalletStore::list`: the tenant's wallets in id order, filters by vault and asset (alone and
/// together), pagination.
pub async fn wallets_list_filters_pagination(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let v1 = customer_vault(a, 10);
    let v2 = customer_vault(a, 11);
    let vb = customer_vault(b, 12);
    commit_vaults(env, &[&v1, &v2, &vb]).await;
    let wallets = vec![
        wallet(&v2, usdc_sol(), 25),
        wallet(&v1, usdt_eth(), 21),
        wallet(&v2, usdt_eth(), 23),
        wallet(&v1, usdc_sol(), 24),
        wallet(&v1, usdc_base(), 22),
    ];
    for w in &wallets {
        commit_wallets(env, &[w]).await;
    }
    commit_wallets(env, &[&wallet(&vb, usdt_eth(), 26)]).await;
    let mut sorted = wallets.clone();
    sorted.sort_by_key(|w| w.id);

    let store = env.wallets.clone();
    let expected: Vec<_> = sorted.iter().map(|w| w.id.ulid()).collect();
    check_pagination(
        "wallets",
        &expected,
        |w: &Wallet| w.id.ulid(),
        |p| {
            let store = store.clone();
            async move { store.list(a, &WalletFilter::default(), p).await }
        },
    )
    .await;

    let list = |filter: WalletFilter| {
        let store = env.wallets.clone();
        async move {
            store
                .list(a, &filter, page(200, None, None))
                .await
                .expect("list")
                .items
        }
    };
    assert_eq!(list(WalletFilter::default()).await, sorted);
    let by_vault = |v: &custody_core::vault::Vault| {
        sorted
            .iter()
            .filter(|w| w.vault_id == v.id)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        list(WalletFilter {
            vault_id: Some(v1.id),
            asset: None
        })
        .await,
        by_vault(&v1)
    );
    assert_eq!(
        list(WalletFilter {
            vault_id: Some(v2.id),
            asset: None
        })
        .await,
        by_vault(&v2)
    );
    assert_eq!(
        list(WalletFilter {
            vault_id: None,
            asset: Some(usdt_eth())
        })
        .await,
        vec![wallet(&v1, usdt_eth(), 21), wallet(&v2, usdt_eth(), 23)]
    );
    assert_eq!(
        list(WalletFilter {
            vault_id: Some(v2.id),
            asset: Some(usdc_sol())
        })
        .await,
        vec![wallet(&v2, usdc_sol(), 25)]
    );
    assert_eq!(
        list(WalletFilter {
            vault_id: Some(vb.id),
            asset: None
        })
        .await,
        Vec::<Wallet>::new(),
        "another tenant's vault lists nothing"
    );
    assert_eq!(
        list(WalletFilter {
            vault_id: None,
            asset: Some(usdc_sui())
        })
        .await,
        Vec::<Wallet>::new()
    );

    // Filtered pagination.
    let store = env.wallets.clone();
    let v1_ids: Vec<_> = by_vault(&v1).iter().map(|w| w.id.ulid()).collect();
    check_pagination(
        "wallets of one vault",
        &v1_ids,
        |w: &Wallet| w.id.ulid(),
        |p| {
            let store = store.clone();
            async move {
                store
                    .list(
                        a,
                        &WalletFilter {
                            vault_id: Some(v1.id),
                            asset: None,
                        },
                        p,
                    )
                    .await
            }
        },
    )
    .await;
}
