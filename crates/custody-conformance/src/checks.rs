//! The conformance checks. Each takes a fresh [`StoreHandles`] and panics on a broken rule.

use crate::fixtures::*;
use crate::StoreHandles;

/// Tenants: insert, get, update status, list in id order with cursors; enabled assets per
/// environment.
pub async fn tenants_insert_get_update_list(stores: StoreHandles) {
    let tenants = &stores.shared.tenants;
    let t = tenant(1);
    tenants
        .insert(&t, &EnabledAssets::all(), &EnabledAssets::none())
        .await
        .expect("insert tenant");
    assert_eq!(tenants.get(t.id).await.expect("get tenant"), t);
}
