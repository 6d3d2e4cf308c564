//! `/v1/assets`: the enabled assets, ordered by id.

use super::*;
use crate::on_both_stores;

// ---------------------------------------------------------------------------------------------
// Assets
// ---------------------------------------------------------------------------------------------

async fn assets_lists_only_enabled_assets(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (status, headers, body) = call(&app, &key, Method::GET, "/v1/assets", None).await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("x-request-id"));
    let items = body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 8, "{body}");
    assert_eq!(
        body["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );
    let usdt = items
        .iter()
        .find(|a| a["id"] == "USDT_ETHEREUM")
        .cloned()
        .unwrap_or_else(|| panic!("USDT_ETHEREUM missing: {body}"));
    assert_eq!(
        usdt,
        json!({"id": "USDT_ETHEREUM", "symbol": "USDT", "name": "Tether USD", "network": "ethereum", "decimals": 6})
    );

    // Disable one: it vanishes from the list, and only for this tenant.
    let tenant = key.minted.record.tenant_id;
    let asset = AssetId::parse("USDT_ETHEREUM").unwrap_or_else(|e| panic!("{e}"));
    app.admin
        .set_asset(tenant, Environment::Sandbox, asset, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (status, _, body) = call(&app, &key, Method::GET, "/v1/assets", None).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .map(|a| a.iter().map(|x| str_of(x, "id")).collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 7, "{body}");
    assert!(!ids.contains(&"USDT_ETHEREUM"), "{body}");

    let other = app.sandbox_key(KeyMode::Hmac).await;
    let (_, _, body) = call(&app, &other, Method::GET, "/v1/assets", None).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(8), "{body}");

    // Enabled again: back.
    app.admin
        .set_asset(tenant, Environment::Sandbox, asset, true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (_, _, body) = call(&app, &key, Method::GET, "/v1/assets", None).await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(8), "{body}");
}

/// `AssetList.items` is documented (OpenAPI) as "Ordered by id".
async fn assets_are_ordered_by_id(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (status, _, body) = call(&app, &key, Method::GET, "/v1/assets", None).await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<&str> = body["items"]
        .as_array()
        .map(|a| a.iter().map(|x| str_of(x, "id")).collect())
        .unwrap_or_default();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "ordered by id");
}

on_both_stores!(assets_lists_only_enabled_assets, assets_are_ordered_by_id,);
