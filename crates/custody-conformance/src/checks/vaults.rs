//! Vaults through the unit of work and the vault store.

use custody_core::ports::VaultFilter;
use custody_core::vault::{Vault, VaultStatus};

use crate::fixtures::*;
use crate::StoreHandles;

/// Insert, then every way of reading a vault back: the store's `get` and
/// `find_by_external_ref`, and the transaction's `find_vault_by_external_ref`,
/// `find_treasury_vault`, `lock_vault` and `share_vault`. Another tenant's vault is `NotFound`
/// everywhere.
pub async fn vaults_insert_find_lock(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let customer = customer_vault(a, 10);
    let treasury = treasury_vault(a, 11);
    let mut unnamed = customer_vault(a, 12);
    unnamed.external_ref = None;
    let foreign = customer_vault(b, 13);
    commit_vaults(env, &[&customer, &treasury, &unnamed, &foreign]).await;

    for v in [&customer, &treasury, &unnamed] {
        assert_eq!(&env.vaults.get(a, v.id).await.expect("get"), v);
    }
    assert_eq!(&env.vaults.get(b, foreign.id).await.expect("get"), &foreign);
    assert_eq!(
        env.vaults
            .find_by_external_ref(a, &external_ref("cust-10"))
            .await
            .expect("find_by_external_ref"),
        customer
    );
    assert_not_found(
        env.vaults.get(b, customer.id).await,
        "get of another tenant's vault",
    );
    assert_not_found(
        env.vaults.get(a, vault_id(99)).await,
        "get of an unknown vault",
    );
    assert_not_found(
        env.vaults
            .find_by_external_ref(a, &external_ref("cust-13"))
            .await,
        "find_by_external_ref of another tenant's reference",
    );
    assert_not_found(
        env.vaults
            .find_by_external_ref(a, &external_ref("nobody"))
            .await,
        "find_by_external_ref of an unknown reference",
    );

    let mut tx = env.uow.begin().await.expect("begin");
    tx.lock_address_minting(customer.id, usdt_eth())
        .await
        .expect("lock_address_minting");
    tx.lock_address_minting(treasury.id, usdc_sol())
        .await
        .expect("a second minting lock in one transaction");
    assert_eq!(
        tx.find_vault_by_external_ref(a, &external_ref("cust-10"))
            .await
            .expect("find in tx"),
        customer
    );
    assert_not_found(
        tx.find_vault_by_external_ref(b, &external_ref("cust-10"))
            .await,
        "find_vault_by_external_ref for another tenant",
    );
    assert_eq!(tx.find_treasury_vault(a).await.expect("treasury"), treasury);
    assert_not_found(
        tx.find_treasury_vault(b).await,
        "find_treasury_vault of a tenant without one",
    );
    assert_eq!(
        tx.lock_vault(a, customer.id).await.expect("lock_vault"),
        customer
    );
    assert_eq!(
        tx.share_vault(a, treasury.id).await.expect("share_vault"),
        treasury
    );
    assert_eq!(
        tx.share_vault(b, foreign.id).await.expect("share_vault"),
        foreign
    );
    assert_not_found(
        tx.lock_vault(b, customer.id).await,
        "lock_vault of another tenant's vault",
    );
    assert_not_found(
        tx.share_vault(b, customer.id).await,
        "share_vault of another tenant's vault",
    );
    assert_not_found(
        tx.lock_vault(a, vault_id(99)).await,
        "lock_vault of an unknown vault",
    );
    assert_not_found(
        tx.share_vault(a, vault_id(99)).await,
        "share_vault of an unknown vault",
    );
    tx.commit().await.expect("commit read-only transaction");
}

/// `update_vault` saves status, name, metadata, version and time; a version that is not
/// greater than the stored one is a `Conflict` and changes nothing; an unknown vault is
/// `NotFound`.
pub async fn vaults_update_version_rule(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let original = customer_vault(a, 10);
    let other = customer_vault(a, 11);
    commit_vaults(env, &[&original, &other]).await;

    let mut v2 = original.clone();
    v2.set_status(VaultStatus::Frozen, at(100)).expect("freeze");
    v2.name = custody_core::text::VaultName::parse("Renamed").expect("name");
    v2.metadata = custody_core::text::Metadata::default();
    let mut tx = env.uow.begin().await.expect("begin");
    let locked = tx.lock_vault(a, original.id).await.expect("lock");
    assert_eq!(locked, original);
    tx.update_vault(&v2).await.expect("update to version 2");
    assert_eq!(
        tx.lock_vault(a, original.id).await.expect("read own write"),
        v2,
        "a transaction reads its own writes"
    );
    tx.commit().await.expect("commit");
    assert_eq!(env.vaults.get(a, original.id).await.expect("get"), v2);
    assert_eq!(
        env.vaults.get(a, other.id).await.expect("get"),
        other,
        "only the named vault changes"
    );

    // Same version again: a stale write.
    let mut stale = v2.clone();
    stale.status = VaultStatus::Active;
    let mut tx = env.uow.begin().await.expect("begin");
    assert_any_conflict(
        tx.update_vault(&stale).await,
        "update with the stored version",
    );
    drop(tx);
    // A lower version.
    let mut older = original.clone();
    older.status = VaultStatus::Archived;
    let mut tx = env.uow.begin().await.expect("begin");
    assert_any_conflict(tx.update_vault(&older).await, "update with a lower version");
    drop(tx);
    assert_eq!(
        env.vaults.get(a, original.id).await.expect("get"),
        v2,
        "refused writes change nothing"
    );

    // Any greater version is accepted (the rule is "stored version lower than the new one").
    let mut v4 = v2.clone();
    v4.set_status(VaultStatus::Active, at(200))
        .expect("unfreeze");
    v4.version = 4;
    let mut tx = env.uow.begin().await.expect("begin");
    tx.update_vault(&v4).await.expect("update to version 4");
    tx.commit().await.expect("commit");
    assert_eq!(env.vaults.get(a, original.id).await.expect("get"), v4);

    let mut tx = env.uow.begin().await.expect("begin");
    assert_not_found(
        tx.update_vault(&customer_vault(a, 99)).await,
        "update of an unknown vault",
    );
    drop(tx);
    assert_not_found(
        env.vaults.get(a, vault_id(99)).await,
        "update must not insert",
    );
}

/// (tenant, environment, external_ref) is unique (`vaults_tenant_external_ref_key`); the same
/// reference in another environment or for another tenant is fine, and so are several
/// customer vaults without one.
pub async fn vaults_unique_external_ref(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let first = customer_vault(a, 10);
    commit_vaults(&stores.sandbox, &[&first]).await;

    let mut twin = customer_vault(a, 11);
    twin.external_ref = first.external_ref.clone();
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert_conflict(
        tx.insert_vault(&twin).await,
        "vaults_tenant_external_ref_key",
        "second vault with the same external_ref",
    );
    drop(tx);
    assert_not_found(
        stores.sandbox.vaults.get(a, twin.id).await,
        "the refused vault is absent",
    );

    // Same reference: other environment, other tenant.
    let mut live_twin = twin.clone();
    live_twin.id = vault_id(12);
    commit_vaults(&stores.live, &[&live_twin]).await;
    let mut other_tenant = twin.clone();
    other_tenant.id = vault_id(13);
    other_tenant.tenant_id = b;
    commit_vaults(&stores.sandbox, &[&other_tenant]).await;
    assert_eq!(
        stores
            .live
            .vaults
            .find_by_external_ref(a, &external_ref("cust-10"))
            .await
            .expect("find live"),
        live_twin
    );
    assert_eq!(
        stores
            .sandbox
            .vaults
            .find_by_external_ref(a, &external_ref("cust-10"))
            .await
            .expect("find sandbox"),
        first
    );
    assert_eq!(
        stores
            .sandbox
            .vaults
            .find_by_external_ref(b, &external_ref("cust-10"))
            .await
            .expect("find other tenant"),
        other_tenant
    );

    // Several customer vaults without a reference.
    let mut none1 = customer_vault(a, 14);
    none1.external_ref = None;
    let mut none2 = customer_vault(a, 15);
    none2.external_ref = None;
    commit_vaults(&stores.sandbox, &[&none1, &none2]).await;
    assert_eq!(
        stores.sandbox.vaults.get(a, none2.id).await.expect("get"),
        none2
    );
}

/// One treasury per (tenant, environment) (`vaults_one_treasury_key`); another environment or
/// tenant may have its own.
pub async fn vaults_one_treasury(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let first = treasury_vault(a, 10);
    commit_vaults(&stores.live, &[&first]).await;

    let mut tx = stores.live.uow.begin().await.expect("begin");
    assert_conflict(
        tx.insert_vault(&treasury_vault(a, 11)).await,
        "vaults_one_treasury_key",
        "second treasury of a tenant",
    );
    drop(tx);
    let mut tx = stores.live.uow.begin().await.expect("begin");
    assert_eq!(tx.find_treasury_vault(a).await.expect("treasury"), first);
    drop(tx);

    let sandbox_treasury = treasury_vault(a, 12);
    commit_vaults(&stores.sandbox, &[&sandbox_treasury]).await;
    let other = treasury_vault(b, 13);
    commit_vaults(&stores.live, &[&other]).await;

    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert_eq!(
        tx.find_treasury_vault(a).await.expect("treasury"),
        sandbox_treasury
    );
    drop(tx);
    let mut tx = stores.live.uow.begin().await.expect("begin");
    assert_eq!(tx.find_treasury_vault(b).await.expect("treasury"), other);
    assert_eq!(tx.find_treasury_vault(a).await.expect("treasury"), first);
    drop(tx);
}

/// `vault_has_funds`: false without wallets or with empty ones; true when any bucket of any
/// wallet holds funds.
pub async fn vaults_has_funds(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let vault = customer_vault(a, 10);
    let neighbour = customer_vault(a, 11);
    commit_vaults(env, &[&vault, &neighbour]).await;

    let has_funds = |id| {
        let uow = env.uow.clone();
        async move {
            let mut tx = uow.begin().await.expect("begin");
            tx.vault_has_funds(id).await.expect("vault_has_funds")
        }
    };
    assert!(!has_funds(vault.id).await, "no wallets");
    assert!(!has_funds(vault_id(99)).await, "unknown vault");

    let mut w1 = wallet(&vault, usdt_eth(), 20);
    let mut w2 = wallet(&vault, usdc_sol(), 21);
    let mut rich = wallet(&neighbour, usdt_eth(), 22);
    commit_wallets(env, &[&w1, &w2, &rich]).await;
    rich.balances = balances(5, 0, 0);
    rich.version = 2;
    commit_wallet_update(env, &rich).await;
    assert!(
        !has_funds(vault.id).await,
        "empty wallets (a neighbour's funds do not count)"
    );
    assert!(has_funds(neighbour.id).await);

    for (bucket, b) in [
        ("pending", balances(0, 1, 0)),
        ("held", balances(0, 0, 1)),
        ("available", balances(1, 0, 0)),
    ] {
        w2.balances = b;
        w2.version += 1;
        commit_wallet_update(env, &w2).await;
        assert!(has_funds(vault.id).await, "funds in {bucket}");
    }
    w2.balances = balances(0, 0, 0);
    w2.version += 1;
    commit_wallet_update(env, &w2).await;
    assert!(!has_funds(vault.id).await, "emptied again");
    w1.balances = balances(u128::MAX, u128::MAX, u128::MAX);
    w1.version += 1;
    commit_wallet_update(env, &w1).await;
    assert!(has_funds(vault.id).await, "huge balances");
}

/// `VaultStore::list`: the tenant's vaults in id order, the `external_ref` filter, pagination.
pub async fn vaults_list_filter_pagination(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    // Inserted out of order, interleaved with another tenant's.
    let ns = [14u64, 10, 16, 11, 13];
    let mut mine: Vec<Vault> = ns.iter().map(|&n| customer_vault(a, n)).collect();
    mine[2] = treasury_vault(a, 16);
    for v in &mine {
        commit_vaults(env, &[v]).await;
    }
    commit_vaults(env, &[&customer_vault(b, 12), &customer_vault(b, 15)]).await;

    let mut sorted = mine.clone();
    sorted.sort_by_key(|v| v.id);
    let expected: Vec<_> = sorted.iter().map(|v| v.id.ulid()).collect();
    let vaults = env.vaults.clone();
    check_pagination(
        "vaults",
        &expected,
        |v: &Vault| v.id.ulid(),
        |p| {
            let vaults = vaults.clone();
            async move { vaults.list(a, &VaultFilter::default(), p).await }
        },
    )
    .await;
    let all = env
        .vaults
        .list(a, &VaultFilter::default(), page(200, None, None))
        .await
        .expect("list");
    assert_eq!(all.items, sorted, "list returns the stored vaults");

    let filtered = env
        .vaults
        .list(
            a,
            &VaultFilter {
                external_ref: Some(external_ref("cust-13")),
            },
            page(200, None, None),
        )
        .await
        .expect("list filtered");
    assert_eq!(filtered.items, vec![customer_vault(a, 13)]);
    assert!(!filtered.has_more);
    let nobody = env
        .vaults
        .list(
            a,
            &VaultFilter {
                external_ref: Some(external_ref("cust-12")),
            },
            page(200, None, None),
        )
        .await
        .expect("list filtered");
    assert!(
        nobody.items.is_empty(),
        "another tenant's reference matches nothing: {nobody:?}"
    );
    let theirs = env
        .vaults
        .list(b, &VaultFilter::default(), page(200, None, None))
        .await
        .expect("list");
    assert_eq!(
        theirs.items,
        vec![customer_vault(b, 12), customer_vault(b, 15)]
    );
}
