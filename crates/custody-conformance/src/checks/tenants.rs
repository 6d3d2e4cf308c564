//! Tenants and their enabled assets (shared by both environments).

use custody_core::environment::Environment;
use custody_core::tenant::TenantStatus;

use crate::fixtures::*;
use crate::StoreHandles;

/// Tenants: insert, get, update status, list in id order with both cursors.
pub async fn tenants_insert_get_update_list(stores: StoreHandles) {
    let tenants = &stores.shared.tenants;
    // Inserted out of id order: the list must follow ids, not insertion.
    for n in [3, 1, 5, 2, 4] {
        tenants
            .insert(&tenant(n), &EnabledAssets::all(), &EnabledAssets::none())
            .await
            .expect("insert tenant");
    }
    for n in 1..=5 {
        assert_eq!(
            tenants.get(tenant_id(n)).await.expect("get tenant"),
            tenant(n)
        );
    }

    let mut approved = tenant(2);
    approved.status = TenantStatus::Approved;
    tenants.update(&approved).await.expect("update tenant");
    assert_eq!(tenants.get(approved.id).await.expect("get"), approved);
    let mut suspended = approved.clone();
    suspended.status = TenantStatus::Suspended;
    tenants.update(&suspended).await.expect("update tenant");
    assert_eq!(tenants.get(approved.id).await.expect("get"), suspended);
    // The others are untouched.
    assert_eq!(tenants.get(tenant_id(3)).await.expect("get"), tenant(3));

    let expected: Vec<_> = (1..=5).map(ulid).collect();
    check_pagination(
        "tenants",
        &expected,
        |t: &custody_core::tenant::Tenant| t.id.ulid(),
        |p| {
            let tenants = tenants.clone();
            async move { tenants.list(p).await }
        },
    )
    .await;
    let listed = tenants.list(page(200, None, None)).await.expect("list");
    assert_eq!(listed.items[1], suspended, "list returns the stored rows");
}

/// Tenants: a duplicate id is a `Conflict`; reading or writing an unknown tenant is
/// `NotFound`.
pub async fn tenants_conflict_and_not_found(stores: StoreHandles) {
    let tenants = &stores.shared.tenants;
    tenants
        .insert(&tenant(1), &EnabledAssets::all(), &EnabledAssets::all())
        .await
        .expect("insert tenant");
    let mut twin = tenant(1);
    twin.name = "Someone else".into();
    assert_any_conflict(
        tenants
            .insert(&twin, &EnabledAssets::none(), &EnabledAssets::none())
            .await,
        "tenant with an existing id",
    );
    assert_eq!(tenants.get(tenant_id(1)).await.expect("get"), tenant(1));
    assert_eq!(
        tenants
            .enabled_assets(tenant_id(1), Environment::Live)
            .await
            .expect("assets"),
        EnabledAssets::all(),
        "a refused duplicate insert changes nothing"
    );

    assert_not_found(tenants.get(tenant_id(9)).await, "get unknown tenant");
    assert_not_found(tenants.update(&tenant(9)).await, "update unknown tenant");
    assert_not_found(tenants.get(tenant_id(9)).await, "update must not create");
    for env in Environment::ALL {
        assert_not_found(
            tenants.enabled_assets(tenant_id(9), env).await,
            "enabled assets of an unknown tenant",
        );
        assert_not_found(
            tenants
                .set_enabled_assets(tenant_id(9), env, &EnabledAssets::all())
                .await,
            "set enabled assets of an unknown tenant",
        );
    }
    let empty = tenants.list(page(200, None, None)).await.expect("list");
    assert_eq!(empty.items.len(), 1, "nothing but tenant 1: {empty:?}");
}

/// Enabled assets are kept per environment, independently, and replaced (not merged) by
/// `set_enabled_assets`.
pub async fn tenants_enabled_assets_per_environment(stores: StoreHandles) {
    let tenants = &stores.shared.tenants;
    let sandbox: EnabledAssets = [usdt_eth(), usdc_sol()].into_iter().collect();
    let live: EnabledAssets = [usdc_base()].into_iter().collect();
    tenants
        .insert(&tenant(1), &sandbox, &live)
        .await
        .expect("insert tenant");
    tenants
        .insert(&tenant(2), &EnabledAssets::none(), &EnabledAssets::all())
        .await
        .expect("insert tenant");

    let get = |id, env| {
        let tenants = tenants.clone();
        async move { tenants.enabled_assets(id, env).await.expect("assets") }
    };
    assert_eq!(get(tenant_id(1), Environment::Sandbox).await, sandbox);
    assert_eq!(get(tenant_id(1), Environment::Live).await, live);
    assert_eq!(
        get(tenant_id(2), Environment::Sandbox).await,
        EnabledAssets::none()
    );
    assert_eq!(
        get(tenant_id(2), Environment::Live).await,
        EnabledAssets::all()
    );

    // Replace live only: sandbox and the other tenant are untouched.
    let new_live: EnabledAssets = [usdt_eth(), usdc_sui()].into_iter().collect();
    tenants
        .set_enabled_assets(tenant_id(1), Environment::Live, &new_live)
        .await
        .expect("set assets");
    assert_eq!(get(tenant_id(1), Environment::Live).await, new_live);
    assert_eq!(get(tenant_id(1), Environment::Sandbox).await, sandbox);
    assert_eq!(
        get(tenant_id(2), Environment::Live).await,
        EnabledAssets::all()
    );

    // Replace with a smaller set, then with nothing, then with everything.
    let smaller: EnabledAssets = [usdc_sol()].into_iter().collect();
    tenants
        .set_enabled_assets(tenant_id(1), Environment::Sandbox, &smaller)
        .await
        .expect("set assets");
    assert_eq!(get(tenant_id(1), Environment::Sandbox).await, smaller);
    tenants
        .set_enabled_assets(tenant_id(1), Environment::Sandbox, &EnabledAssets::none())
        .await
        .expect("set assets");
    assert_eq!(
        get(tenant_id(1), Environment::Sandbox).await,
        EnabledAssets::none()
    );
    tenants
        .set_enabled_assets(tenant_id(1), Environment::Sandbox, &EnabledAssets::all())
        .await
        .expect("set assets");
    assert_eq!(
        get(tenant_id(1), Environment::Sandbox).await,
        EnabledAssets::all()
    );
    assert_eq!(get(tenant_id(1), Environment::Live).await, new_live);
    // Setting assets does not touch the tenant record.
    assert_eq!(tenants.get(tenant_id(1)).await.expect("get"), tenant(1));
}
