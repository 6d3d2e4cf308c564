//! The Platform dialect (seed `001`) over HTTP with real HMAC signing: assets, vaults, wallets
//! and extra deposit addresses, on both stores.

use std::collections::BTreeSet;

use custody_core::api_key::KeyMode;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::tenant::TenantStatus;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{assert_error, parts, spawn_app, Engine, Key, KeySpec, TestApp};
use crate::on_both_stores;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Sends a signed request and returns (status, headers, JSON body).
async fn call(
    app: &TestApp,
    key: &Key,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, HeaderMap, Value) {
    let (status, headers, _, json) = parts(app.request(key, method, path, body).send().await).await;
    (status, headers, json)
}

/// Asserts `value` is a string `{prefix}{ULID}`.
fn assert_id(value: &Value, prefix: &str) -> String {
    let id = value
        .as_str()
        .unwrap_or_else(|| panic!("id is not a string: {value}"));
    let rest = id
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{id} does not start with {prefix}"));
    assert!(
        ulid::Ulid::from_string(rest).is_ok(),
        "{id}: not {prefix} followed by a ULID"
    );
    id.to_owned()
}

/// Asserts `value` is an RFC 3339 UTC timestamp.
fn assert_timestamp(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"));
    assert!(
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok(),
        "{text} is not RFC 3339"
    );
    assert!(text.ends_with('Z'), "{text} is not UTC");
}

/// The keys of a JSON object.
fn keys_of(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

/// `POST /v1/vaults` that must answer 201; returns the vault.
async fn create_vault(app: &TestApp, key: &Key, body: Value) -> Value {
    let (status, _, vault) = call(
        app,
        key,
        Method::POST,
        "/v1/vaults",
        Some(&body.to_string()),
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    vault
}

/// `POST /v1/vaults/{id}/wallets`: (status, wallet).
async fn create_wallet(app: &TestApp, key: &Key, vault: &str, body: Value) -> (u16, Value) {
    let (status, _, wallet) = call(
        app,
        key,
        Method::POST,
        &format!("/v1/vaults/{vault}/wallets"),
        Some(&body.to_string()),
    )
    .await;
    (status, wallet)
}

/// A vault and its USDT_ETHEREUM wallet; returns (vault id, wallet).
async fn vault_with_wallet(app: &TestApp, key: &Key, external_id: &str) -> (String, Value) {
    let vault = create_vault(
        app,
        key,
        json!({"externalId": external_id, "name": external_id}),
    )
    .await;
    let vault_id = vault["id"].as_str().unwrap_or_default().to_owned();
    let (status, wallet) =
        create_wallet(app, key, &vault_id, json!({"assetId": "usdt_ethereum"})).await;
    assert_eq!(status, 201, "{wallet}");
    (vault_id, wallet)
}

fn str_of<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` is not a string in {value}"))
}

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

// ---------------------------------------------------------------------------------------------
// Vaults
// ---------------------------------------------------------------------------------------------

async fn create_vault_answers_the_vault(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (status, headers, vault) = call(
        &app,
        &key,
        Method::POST,
        "/v1/vaults",
        Some(r#"{"externalId":"cust-42","name":"Alice","metadata":{"tier":"gold","region":"pe"}}"#),
    )
    .await;
    assert_eq!(status, 201, "{vault}");
    assert!(headers.contains_key("x-request-id"));
    assert!(headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json")));
    assert_eq!(
        keys_of(&vault),
        [
            "id",
            "externalId",
            "name",
            "metadata",
            "status",
            "createdAt"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let id = assert_id(&vault["id"], "vlt_");
    assert_eq!(vault["externalId"], "cust-42");
    assert_eq!(vault["name"], "Alice");
    assert_eq!(vault["metadata"], json!({"tier": "gold", "region": "pe"}));
    assert_eq!(vault["status"], "Active");
    assert_timestamp(&vault["createdAt"]);

    // It reads back exactly as created.
    let (status, _, read) = call(&app, &key, Method::GET, &format!("/v1/vaults/{id}"), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, vault);

    // The same externalId again is a conflict, and no second vault exists.
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"cust-42","name":"Bob"}"#),
        )
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "vault_external_ref_taken").await;
    let (_, _, list) = call(&app, &key, Method::GET, "/v1/vaults", None).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    // Another tenant may use the same externalId.
    let other = app.sandbox_key(KeyMode::Hmac).await;
    let again = create_vault(&app, &other, json!({"externalId": "cust-42"})).await;
    assert_ne!(again["id"], vault["id"]);

    // Without any field: a vault without externalId, with empty metadata.
    let bare = create_vault(&app, &key, json!({})).await;
    assert_eq!(bare["externalId"], Value::Null);
    assert_eq!(bare["metadata"], json!({}));
    assert_eq!(bare["status"], "Active");

    // Invalid input is a 422 naming the field.
    for (body, field) in [
        (r#"{"externalId":""}"#, "externalId"),
        (r#"{"metadata":{"bad key!":"x"}}"#, "metadata"),
        (r#"{"name":5}"#, "name"),
        (r#"{"extrnalId":"x"}"#, "extrnalId"),
    ] {
        let (status, _, err) = call(&app, &key, Method::POST, "/v1/vaults", Some(body)).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(
            err["error"]["fieldErrors"][0]["field"], field,
            "{body}: {err}"
        );
    }
}

async fn list_vaults_paginates_and_filters(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let vault = create_vault(
            &app,
            &key,
            json!({"externalId": format!("c{n}"), "name": format!("n{n}")}),
        )
        .await;
        ids.push(str_of(&vault, "id").to_owned());
    }
    ids.sort();
    // Another tenant's vault never shows.
    let other = app.sandbox_key(KeyMode::Hmac).await;
    create_vault(&app, &other, json!({"externalId": "c0"})).await;

    let (status, _, all) = call(&app, &key, Method::GET, "/v1/vaults", None).await;
    assert_eq!(status, 200, "{all}");
    let listed: Vec<&str> = all["items"]
        .as_array()
        .map(|a| a.iter().map(|v| str_of(v, "id")).collect())
        .unwrap_or_default();
    assert_eq!(listed, ids, "ascending by id, this tenant's only");
    assert_eq!(
        all["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );

    let (status, _, first) = call(&app, &key, Method::GET, "/v1/vaults?limit=2", None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"][0]["id"], ids[0].as_str());
    assert_eq!(first["items"][1]["id"], ids[1].as_str());
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["pagination"]["hasMore"], true);
    assert_eq!(first["pagination"]["nextCursor"], ids[1].as_str());

    let (status, _, second) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/vaults?limit=2&starting_after={}", ids[1]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        second["items"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_eq!(second["items"][0]["id"], ids[2].as_str());
    assert_eq!(
        second["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );

    let (status, _, before) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/vaults?limit=1&ending_before={}", ids[2]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        before["items"].as_array().map(Vec::len),
        Some(1),
        "{before}"
    );
    assert_eq!(before["items"][0]["id"], ids[1].as_str());
    assert_eq!(before["pagination"]["hasMore"], true);

    // ?externalId= finds exactly that vault; an unknown one finds none.
    let (status, _, found) = call(&app, &key, Method::GET, "/v1/vaults?externalId=c1", None).await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1), "{found}");
    assert_eq!(found["items"][0]["externalId"], "c1");
    let (status, _, none) = call(
        &app,
        &key,
        Method::GET,
        "/v1/vaults?externalId=nobody",
        None,
    )
    .await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["items"], json!([]));

    // Bad list parameters are 400.
    let both = format!("starting_after={}&ending_before={}", ids[0], ids[2]);
    for query in [
        "limit=abc",
        "limit=0",
        "limit=201",
        "starting_after=vlt_nope",
        "starting_after=acc_01J00000000000000000000000",
        both.as_str(),
        "externalId=",
        "external_id=c1",
    ] {
        let response = app
            .request(&key, Method::GET, &format!("/v1/vaults?{query}"), None)
            .send()
            .await;
        let (status, _, _, body) = parts(response).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(
            body["error"]["type"], "invalid_request_error",
            "{query}: {body}"
        );
    }
}

async fn get_vault_is_tenant_scoped(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let other = app.sandbox_key(KeyMode::Hmac).await;
    let vault = create_vault(&app, &other, json!({"externalId": "theirs"})).await;
    let theirs = str_of(&vault, "id");

    let response = app
        .request(&key, Method::GET, &format!("/v1/vaults/{theirs}"), None)
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(
            &key,
            Method::GET,
            "/v1/vaults/vlt_01J00000000000000000000000",
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    // Nor can it be changed or given wallets.
    let response = app
        .request(
            &key,
            Method::PATCH,
            &format!("/v1/vaults/{theirs}"),
            Some(r#"{"status":"Frozen"}"#),
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(
            &key,
            Method::POST,
            &format!("/v1/vaults/{theirs}/wallets"),
            Some(r#"{"assetId":"USDT_ETHEREUM"}"#),
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(
            &key,
            Method::GET,
            &format!("/v1/vaults/{theirs}/wallets"),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    // Still active for its owner.
    let (_, _, read) = call(
        &app,
        &other,
        Method::GET,
        &format!("/v1/vaults/{theirs}"),
        None,
    )
    .await;
    assert_eq!(read["status"], "Active");

    for malformed in [
        "nope",
        "vlt_",
        "vlt_!!!",
        "acc_01J00000000000000000000000",
        "vlt_01J0000000000000000000000",
    ] {
        let response = app
            .request(&key, Method::GET, &format!("/v1/vaults/{malformed}"), None)
            .send()
            .await;
        let body = assert_error(response, 400, "invalid_request_error", "invalid_vault_id").await;
        assert_eq!(
            body["error"]["fieldErrors"][0]["field"], "vaultId",
            "{body}"
        );
    }
}

async fn vault_status_machine(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let vault = create_vault(&app, &key, json!({"externalId": "v1", "name": "V"})).await;
    let path = format!("/v1/vaults/{}", str_of(&vault, "id"));

    for status in ["Frozen", "Active", "Frozen", "Archived"] {
        let (code, _, body) = call(
            &app,
            &key,
            Method::PATCH,
            &path,
            Some(&json!({ "status": status }).to_string()),
        )
        .await;
        assert_eq!(code, 200, "{status}: {body}");
        assert_eq!(body["status"], status);
        assert_eq!(body["id"], vault["id"]);
        assert_eq!(body["createdAt"], vault["createdAt"]);
        let (_, _, read) = call(&app, &key, Method::GET, &path, None).await;
        assert_eq!(read["status"], status);
    }
    // Archived is terminal.
    for status in ["Active", "Frozen"] {
        let response = app
            .request(
                &key,
                Method::PATCH,
                &path,
                Some(&json!({ "status": status }).to_string()),
            )
            .send()
            .await;
        assert_error(response, 409, "conflict_error", "invalid_state_transition").await;
    }
    let (_, _, read) = call(&app, &key, Method::GET, &path, None).await;
    assert_eq!(read["status"], "Archived");

    // An archived vault gets no wallet.
    let response = app
        .request(
            &key,
            Method::POST,
            &format!("{path}/wallets"),
            Some(r#"{"assetId":"USDT_ETHEREUM"}"#),
        )
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "vault_archived").await;

    // An unknown status is a 422 naming `status`, on a live vault too.
    let live = create_vault(&app, &key, json!({"externalId": "v2"})).await;
    let live_path = format!("/v1/vaults/{}", str_of(&live, "id"));
    for bad in [
        r#"{"status":"Deleted"}"#,
        r#"{"status":""}"#,
        r#"{"status":5}"#,
    ] {
        let (code, _, body) = call(&app, &key, Method::PATCH, &live_path, Some(bad)).await;
        assert_eq!(code, 422, "{bad}: {body}");
        assert_eq!(
            body["error"]["fieldErrors"][0]["field"], "status",
            "{bad}: {body}"
        );
    }
    let (_, _, read) = call(&app, &key, Method::GET, &live_path, None).await;
    assert_eq!(read["status"], "Active");
}

async fn idempotency_key_is_honoured_on_create_vault(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let body = r#"{"externalId":"idem-1","name":"Idem"}"#;
    let first = app
        .request(&key, Method::POST, "/v1/vaults", Some(body))
        .idempotency_key("vault-create-1")
        .send()
        .await;
    let (status, headers, raw, vault) = parts(first).await;
    assert_eq!(status, 201, "{vault}");
    assert!(headers.get("idempotency-replayed").is_none());

    let replay = app
        .request(&key, Method::POST, "/v1/vaults", Some(body))
        .idempotency_key("vault-create-1")
        .send()
        .await;
    let (status, headers, replay_raw, _) = parts(replay).await;
    assert_eq!(status, 201);
    assert_eq!(
        headers
            .get("idempotency-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    assert_eq!(replay_raw, raw, "replayed byte for byte");

    // Same key, different request: 409, nothing created.
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"idem-2"}"#),
        )
        .idempotency_key("vault-create-1")
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "idempotency_conflict").await;

    let (_, _, list) = call(&app, &key, Method::GET, "/v1/vaults", None).await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "exactly one vault: {list}");
    assert_eq!(items[0]["id"], vault["id"]);

    // Without the header, a repeat is a plain duplicate (409 externalId), not a replay.
    let response = app
        .request(&key, Method::POST, "/v1/vaults", Some(body))
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "vault_external_ref_taken").await;
}

// ---------------------------------------------------------------------------------------------
// Wallets
// ---------------------------------------------------------------------------------------------

async fn create_wallet_answers_the_wallet(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let vault = create_vault(&app, &key, json!({"externalId": "w1"})).await;
    let vault_id = str_of(&vault, "id").to_owned();

    let (status, wallet) = create_wallet(
        &app,
        &key,
        &vault_id,
        json!({"assetId": "usdt_ethereum", "label": "Main USDT"}),
    )
    .await;
    assert_eq!(status, 201, "{wallet}");
    assert_eq!(
        keys_of(&wallet),
        [
            "id",
            "vaultId",
            "assetId",
            "assetName",
            "assetSymbol",
            "network",
            "label",
            "depositAddress",
            "depositTag",
            "status",
            "balances",
            "createdAt"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let wallet_id = assert_id(&wallet["id"], "acc_");
    assert_eq!(wallet["vaultId"], vault_id.as_str());
    assert_eq!(wallet["assetId"], "USDT_ETHEREUM");
    assert_eq!(wallet["assetName"], "Tether USD");
    assert_eq!(wallet["assetSymbol"], "USDT");
    assert_eq!(wallet["network"], "ethereum");
    assert_eq!(wallet["label"], "Main USDT");
    let address = str_of(&wallet, "depositAddress");
    assert!(
        address.len() == 42
            && address.starts_with("0x")
            && address[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{address} is not an EVM address"
    );
    assert_eq!(wallet["depositTag"], Value::Null);
    assert_eq!(wallet["status"], "Active");
    assert_eq!(
        wallet["balances"],
        json!({"available": "0", "pending": "0", "held": "0", "total": "0"})
    );
    assert_timestamp(&wallet["createdAt"]);

    // Again (another case, another label): 200 with the same wallet, unchanged.
    let (status, again) = create_wallet(
        &app,
        &key,
        &vault_id,
        json!({"assetId": "USDT_ETHEREUM", "label": "Other"}),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, wallet);

    // GET /v1/wallets/{id} reads the same.
    let (status, _, read) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/wallets/{wallet_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, wallet);

    // A second asset is a second wallet, on its own network.
    let (status, sol) =
        create_wallet(&app, &key, &vault_id, json!({"assetId": "USDC_SOLANA"})).await;
    assert_eq!(status, 201, "{sol}");
    assert_ne!(sol["id"], wallet["id"]);
    assert_eq!(sol["network"], "solana");
    assert_eq!(sol["assetSymbol"], "USDC");
    assert_eq!(sol["label"], Value::Null);
    assert_ne!(sol["depositAddress"], wallet["depositAddress"]);

    // Input errors: 422 naming assetId.
    for body in [
        json!({"assetId": "DOGE_ETHEREUM"}),
        json!({"assetId": "USDT"}),
        json!({"assetId": "XAUT_SUI"}),
        json!({"assetId": 5}),
        json!({"label": "x"}),
    ] {
        let (status, err) = create_wallet(&app, &key, &vault_id, body.clone()).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(
            err["error"]["fieldErrors"][0]["field"], "assetId",
            "{body}: {err}"
        );
    }
    // An unknown field is 422 naming it.
    let (status, err) = create_wallet(
        &app,
        &key,
        &vault_id,
        json!({"assetId": "USDT_ETHEREUM", "lable": "x"}),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "unknown_field");
    assert_eq!(err["error"]["fieldErrors"][0]["field"], "lable");
}

async fn not_enabled_asset_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = key.minted.record.tenant_id;
    let asset = AssetId::parse("USDC_BASE").unwrap_or_else(|e| panic!("{e}"));
    app.admin
        .set_asset(tenant, Environment::Sandbox, asset, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let vault = create_vault(&app, &key, json!({"externalId": "ne"})).await;
    let vault_id = str_of(&vault, "id");
    let response = app
        .request(
            &key,
            Method::POST,
            &format!("/v1/vaults/{vault_id}/wallets"),
            Some(r#"{"assetId":"usdc_base"}"#),
        )
        .send()
        .await;
    let body = assert_error(response, 422, "invalid_request_error", "asset_not_enabled").await;
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("USDC_BASE")),
        "the message names the asset: {body}"
    );
    let (_, _, wallets) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/vaults/{vault_id}/wallets"),
        None,
    )
    .await;
    assert_eq!(wallets["items"], json!([]), "nothing created");
}

/// Platform names the asset `assetId` in its request; a field error must name the field as the
/// partner sent it (`FieldError::field` doc: "The field as the partner named it").
async fn not_enabled_asset_names_the_platform_field(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let asset = AssetId::parse("USDC_BASE").unwrap_or_else(|e| panic!("{e}"));
    app.admin
        .set_asset(
            key.minted.record.tenant_id,
            Environment::Sandbox,
            asset,
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let vault = create_vault(&app, &key, json!({"externalId": "ne"})).await;
    let (status, body) = create_wallet(
        &app,
        &key,
        str_of(&vault, "id"),
        json!({"assetId": "USDC_BASE"}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["error"]["fieldErrors"][0]["field"], "assetId",
        "{body}"
    );
}

async fn list_and_get_wallets(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let vault = create_vault(&app, &key, json!({"externalId": "lw"})).await;
    let vault_id = str_of(&vault, "id").to_owned();
    let mut wallets = Vec::new();
    for asset in ["USDT_ETHEREUM", "USDC_SOLANA", "USDC_BASE"] {
        let (status, wallet) =
            create_wallet(&app, &key, &vault_id, json!({ "assetId": asset })).await;
        assert_eq!(status, 201, "{wallet}");
        wallets.push(wallet);
    }
    wallets.sort_by(|a, b| str_of(a, "id").cmp(str_of(b, "id")));
    // Another vault's wallet does not show in this vault's list.
    let (_, foreign) = vault_with_wallet(&app, &key, "other-vault").await;

    let path = format!("/v1/vaults/{vault_id}/wallets");
    let (status, _, list) = call(&app, &key, Method::GET, &path, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(
        list["items"],
        Value::Array(wallets.clone()),
        "the wallets as created, ascending"
    );
    assert_eq!(
        list["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );
    assert!(list["items"]
        .as_array()
        .is_some_and(|items| items.iter().all(|w| w["id"] != foreign["id"])));

    let (status, _, page) = call(&app, &key, Method::GET, &format!("{path}?limit=2"), None).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"], Value::Array(wallets[..2].to_vec()));
    assert_eq!(page["pagination"]["hasMore"], true);
    let cursor = page["pagination"]["nextCursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(cursor, str_of(&wallets[1], "id"));
    let (status, _, rest) = call(
        &app,
        &key,
        Method::GET,
        &format!("{path}?limit=2&starting_after={cursor}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["items"], Value::Array(wallets[2..].to_vec()));
    assert_eq!(
        rest["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );

    for query in [
        "limit=abc",
        "limit=0",
        "starting_after=vlt_01J00000000000000000000000",
        "foo=1",
    ] {
        let (status, _, body) =
            call(&app, &key, Method::GET, &format!("{path}?{query}"), None).await;
        assert_eq!(status, 400, "{query}: {body}");
    }

    // GET /v1/wallets/{id}.
    for wallet in &wallets {
        let (status, _, read) = call(
            &app,
            &key,
            Method::GET,
            &format!("/v1/wallets/{}", str_of(wallet, "id")),
            None,
        )
        .await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(&read, wallet);
    }
    let other = app.sandbox_key(KeyMode::Hmac).await;
    let response = app
        .request(
            &other,
            Method::GET,
            &format!("/v1/wallets/{}", str_of(&wallets[0], "id")),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(
            &other,
            Method::GET,
            &format!("/v1/vaults/{vault_id}/wallets"),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(
            &key,
            Method::GET,
            "/v1/wallets/acc_01J00000000000000000000000",
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    for malformed in [
        "nope",
        vault_id.as_str(),
        "acc_!",
        "ba_01J00000000000000000000000",
    ] {
        let response = app
            .request(&key, Method::GET, &format!("/v1/wallets/{malformed}"), None)
            .send()
            .await;
        let body = assert_error(response, 400, "invalid_request_error", "invalid_wallet_id").await;
        assert_eq!(
            body["error"]["fieldErrors"][0]["field"], "walletId",
            "{body}"
        );
    }
}

async fn additional_addresses(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (_, wallet) = vault_with_wallet(&app, &key, "aa").await;
    let wallet_id = str_of(&wallet, "id").to_owned();
    let primary = str_of(&wallet, "depositAddress").to_owned();
    let path = format!("/v1/wallets/{wallet_id}/addresses");

    // Without a body.
    let (status, _, first) = call(&app, &key, Method::POST, &path, None).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(
        keys_of(&first),
        [
            "id",
            "walletId",
            "address",
            "network",
            "label",
            "primary",
            "status",
            "createdAt"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    assert_id(&first["id"], "ba_");
    assert_eq!(first["walletId"], wallet_id.as_str());
    assert_eq!(first["network"], "ethereum");
    assert_eq!(first["label"], Value::Null);
    assert_eq!(first["primary"], false);
    assert_eq!(first["status"], "active");
    assert_timestamp(&first["createdAt"]);

    // With a body, and with an empty object.
    let (status, _, second) = call(
        &app,
        &key,
        Method::POST,
        &path,
        Some(r#"{"label":"second"}"#),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["label"], "second");
    assert_eq!(second["primary"], false);
    let (status, _, third) = call(&app, &key, Method::POST, &path, Some("{}")).await;
    assert_eq!(status, 201, "{third}");

    let addresses: BTreeSet<&str> = [
        primary.as_str(),
        str_of(&first, "address"),
        str_of(&second, "address"),
        str_of(&third, "address"),
    ]
    .into_iter()
    .collect();
    assert_eq!(addresses.len(), 4, "every address is distinct");
    let ids: BTreeSet<&str> = [&first, &second, &third]
        .iter()
        .map(|a| str_of(a, "id"))
        .collect();
    assert_eq!(ids.len(), 3);

    // The wallet's depositAddress is still the primary.
    let (_, _, read) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/wallets/{wallet_id}"),
        None,
    )
    .await;
    assert_eq!(read["depositAddress"], primary.as_str());
    let (_, again) = create_wallet(
        &app,
        &key,
        str_of(&wallet, "vaultId"),
        json!({"assetId": "USDT_ETHEREUM"}),
    )
    .await;
    assert_eq!(again["depositAddress"], primary.as_str());

    // Bad label, unknown field, unknown or foreign wallet.
    let long = json!({ "label": "x".repeat(256) }).to_string();
    let (status, _, err) = call(&app, &key, Method::POST, &path, Some(&long)).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["fieldErrors"][0]["field"], "label", "{err}");
    let (status, _, err) = call(&app, &key, Method::POST, &path, Some(r#"{"labels":"x"}"#)).await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["error"]["code"], "unknown_field");
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/wallets/acc_01J00000000000000000000000/addresses",
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let other = app.sandbox_key(KeyMode::Hmac).await;
    let response = app.request(&other, Method::POST, &path, None).send().await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    let response = app
        .request(&key, Method::POST, "/v1/wallets/x/addresses", None)
        .send()
        .await;
    assert_error(response, 400, "invalid_request_error", "invalid_wallet_id").await;

    // Honouring Idempotency-Key: a replay mints nothing new.
    let a = app
        .request(&key, Method::POST, &path, Some(r#"{"label":"idem"}"#))
        .idempotency_key("addr-1")
        .send()
        .await;
    let (status, _, raw_a, a) = parts(a).await;
    assert_eq!(status, 201, "{a}");
    let b = app
        .request(&key, Method::POST, &path, Some(r#"{"label":"idem"}"#))
        .idempotency_key("addr-1")
        .send()
        .await;
    let (status, headers, raw_b, _) = parts(b).await;
    assert_eq!(status, 201);
    assert_eq!(raw_a, raw_b);
    assert_eq!(
        headers
            .get("idempotency-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
}

async fn platform_scopes_are_enforced(engine: Engine) {
    use custody_core::api_key::Scope;
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Pending).await;
    let reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::VaultsRead]),
        )
        .await;
    let response = app
        .request(
            &reader,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"x"}"#),
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let (status, _, list) = call(&app, &reader, Method::GET, "/v1/vaults", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"], json!([]), "nothing created");

    let writer = app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await;
    let vault = create_vault(&app, &writer, json!({"externalId": "x"})).await;
    let response = app
        .request(
            &reader,
            Method::POST,
            &format!("/v1/vaults/{}/wallets", str_of(&vault, "id")),
            Some(r#"{"assetId":"USDT_ETHEREUM"}"#),
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let response = app
        .request(
            &reader,
            Method::GET,
            &format!("/v1/vaults/{}/wallets", str_of(&vault, "id")),
            None,
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
}

on_both_stores!(
    assets_lists_only_enabled_assets,
    assets_are_ordered_by_id,
    create_vault_answers_the_vault,
    list_vaults_paginates_and_filters,
    get_vault_is_tenant_scoped,
    vault_status_machine,
    idempotency_key_is_honoured_on_create_vault,
    create_wallet_answers_the_wallet,
    not_enabled_asset_is_refused,
    not_enabled_asset_names_the_platform_field,
    list_and_get_wallets,
    additional_addresses,
    platform_scopes_are_enforced,
);
