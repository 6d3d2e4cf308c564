//! `GET /v1/events[/{eventId}]`: every event type emitted by real API calls, each snapshot
//! equal to the Platform API's own rendering of that resource at that version, the cursor, the
//! type filter, and the errors.

use std::collections::{BTreeMap, BTreeSet};

use custody_core::api_key::Scope;

use super::address_book::add_entry;
use super::*;
use crate::on_both_stores;

/// Reads the whole event log, `limit` at a time, following `nextCursor`; returns the events
/// and the last cursor.
async fn read_log(
    app: &TestApp,
    key: &Key,
    types: Option<&str>,
    limit: u32,
) -> (Vec<Value>, Value) {
    let mut events = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/v1/events?limit={limit}");
        if let Some(t) = types {
            path.push_str(&format!("&types={t}"));
        }
        if let Some(a) = &after {
            path.push_str(&format!("&after={a}"));
        }
        let (status, _, page) = call(app, key, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().expect("items").clone();
        assert!(items.len() <= limit as usize);
        let cursor = page["pagination"]["nextCursor"].clone();
        if !items.is_empty() {
            assert!(cursor.as_str().expect("a cursor").starts_with("cur_"));
        }
        events.extend(items);
        if page["pagination"]["hasMore"] != json!(true) {
            return (events, cursor);
        }
        after = cursor.as_str().map(str::to_owned);
    }
}

/// Waits until the log shows an event satisfying `until`. On PostgreSQL the log shows an event
/// once every transaction of the database server that was running when it committed has
/// ended, and other tests share the server: what they hold back shows a moment later.
async fn settle(app: &TestApp, key: &Key, until: impl Fn(&[Value]) -> bool) {
    for _ in 0..6_000 {
        if until(&read_log(app, key, None, 200).await.0) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the log never settled");
}

/// A signed POST with an `Idempotency-Key` (required on transfers, withdrawals, cancels).
async fn post_once(app: &TestApp, key: &Key, path: &str, body: Option<&str>) -> (u16, Value) {
    let (status, _, _, json) = parts(
        app.request(key, Method::POST, path, body)
            .idempotency_key(&format!("k-{}", {
                use custody_core::ports::IdGenerator as _;
                custody_http::system::OsIds.ulid()
            }))
            .send()
            .await,
    )
    .await;
    (status, json)
}

/// Every state change emits its event, and every event's snapshot is the resource exactly as
/// the Platform API returns it at that version: the latest event of each resource equals its
/// `GET` now, earlier ones equal the response of the call that made them.
async fn every_event_type_carries_the_platform_rendering(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;

    // vault.created, vault.status.updated (twice), vault.updated.
    let vault = create_vault(
        &app,
        &key,
        json!({"externalId": "evt-1", "name": "Alice", "metadata": {"crm": "1"}}),
    )
    .await;
    let vault_id = str_of(&vault, "id").to_owned();
    let mut responses: BTreeMap<(String, u64), Value> = BTreeMap::new();
    for (n, patch) in [
        json!({"status": "Frozen"}),
        json!({"status": "Active"}),
        json!({"name": "Alice L."}),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, _, body) = call(
            &app,
            &key,
            Method::PATCH,
            &format!("/v1/vaults/{vault_id}"),
            Some(&patch.to_string()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        responses.insert((vault_id.clone(), n as u64 + 2), body);
    }
    responses.insert((vault_id.clone(), 1), vault.clone());
    // wallet.created and address.created; a second wallet; an extra address.
    let (status, wallet) =
        create_wallet(&app, &key, &vault_id, json!({"assetId": "USDT_ETHEREUM"})).await;
    assert_eq!(status, 201);
    let wallet_id = str_of(&wallet, "id").to_owned();
    let other = create_vault(&app, &key, json!({"externalId": "evt-2"})).await;
    let (_, other_wallet) = create_wallet(
        &app,
        &key,
        str_of(&other, "id"),
        json!({"assetId": "USDT_ETHEREUM"}),
    )
    .await;
    let other_wallet_id = str_of(&other_wallet, "id").to_owned();
    let (status, _, extra) = call(
        &app,
        &key,
        Method::POST,
        &format!("/v1/wallets/{wallet_id}/addresses"),
        Some(r#"{"label":"promo"}"#),
    )
    .await;
    assert_eq!(status, 201, "{extra}");
    let extra_id = str_of(&extra, "id").to_owned();
    // A deposit (transaction.created, balance.updated), a transfer, a withdrawal and its cancel.
    app.fund(str_of(&wallet, "depositAddress"), "USDT_ETHEREUM", "100")
        .await;
    let (status, transfer) = post_once(&app, &key, "/v1/transactions/transfer",
        Some(&json!({"sourceWalletId": wallet_id, "destinationWalletId": other_wallet_id, "amount": "2.5"}).to_string())).await;
    assert_eq!(status, 201, "{transfer}");
    let (status, entry) = add_entry(
        &app,
        &key,
        json!({"network": "ethereum", "address": super::address_book::EIP55, "label": "cold"}),
    )
    .await;
    assert_eq!(status, 201, "{entry}");
    let entry_id = str_of(&entry, "id").to_owned();
    let (status, withdrawal) = post_once(
        &app,
        &key,
        "/v1/transactions/withdraw",
        Some(
            &json!({"walletId": wallet_id, "addressBookEntryId": entry_id, "amount": "1"})
                .to_string(),
        ),
    )
    .await;
    assert_eq!(status, 201, "{withdrawal}");
    let withdrawal_id = str_of(&withdrawal, "id").to_owned();
    let (status, cancelled) = post_once(
        &app,
        &key,
        &format!("/v1/transactions/{withdrawal_id}/cancel"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{cancelled}");
    let (status, _, deleted) = call(
        &app,
        &key,
        Method::DELETE,
        &format!("/v1/address-book/{entry_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{deleted}");

    settle(&app, &key, |events| {
        events
            .iter()
            .any(|e| e["type"] == "address_book.entry.deleted")
    })
    .await;
    let (events, _) = read_log(&app, &key, None, 4).await;
    let types: BTreeSet<&str> = events
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    for expected in [
        "vault.created",
        "vault.status.updated",
        "vault.updated",
        "wallet.created",
        "address.created",
        "balance.updated",
        "transaction.created",
        "transaction.status.updated",
        "address_book.entry.created",
        "address_book.entry.deleted",
    ] {
        assert!(
            types.contains(expected),
            "{expected} missing from {types:?}"
        );
    }

    // The envelope.
    for e in &events {
        assert_eq!(
            keys_of(e)
                .into_iter()
                .filter(|k| k != "previousAttributes")
                .collect::<BTreeSet<_>>(),
            ["createdAt", "data", "id", "type"].map(String::from).into(),
            "{e}"
        );
        assert_id(&e["id"], "evt_");
        assert_timestamp(&e["createdAt"]);
        assert_eq!(
            keys_of(&e["data"]),
            ["resourceId", "resourceType", "snapshot", "version"]
                .map(String::from)
                .into()
        );
        assert_eq!(e["data"]["snapshot"]["id"], e["data"]["resourceId"]);
        let created = e["type"].as_str().unwrap_or_default().ends_with(".created");
        assert_eq!(e.get("previousAttributes").is_none(), created, "{e}");
    }

    // Versions increase per resource in log order.
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for e in &events {
        let id = e["data"]["resourceId"].as_str().expect("id").to_owned();
        let version = e["data"]["version"].as_u64().expect("version");
        if let Some(prev) = last.insert(id.clone(), version) {
            assert!(version > prev, "{id}: version {version} after {prev}");
        }
    }

    // The latest snapshot of each resource is its GET now, field for field.
    for (id, version) in &last {
        let e = events
            .iter()
            .rev()
            .find(|e| {
                e["data"]["resourceId"] == json!(id) && e["data"]["version"] == json!(version)
            })
            .expect("event");
        let path = match e["data"]["resourceType"].as_str().expect("type") {
            "vault" => format!("/v1/vaults/{id}"),
            "wallet" => format!("/v1/wallets/{id}"),
            "transaction" => format!("/v1/transactions/{id}"),
            "address_book_entry" => format!("/v1/address-book/{id}"),
            "address" => {
                let expected = if *id == extra_id {
                    extra.clone()
                } else {
                    // A primary address: as the wallet shows it.
                    assert_eq!(e["data"]["snapshot"]["primary"], true);
                    continue;
                };
                assert_eq!(e["data"]["snapshot"], expected, "{id}");
                continue;
            }
            other => panic!("unexpected resource type {other}"),
        };
        let (status, _, now) = call(&app, &key, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{now}");
        assert_eq!(
            e["data"]["snapshot"], now,
            "{} at version {version}",
            e["type"]
        );
    }
    // Earlier versions equal the responses of the calls that made them.
    for e in &events {
        let key = (
            e["data"]["resourceId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            e["data"]["version"].as_u64().unwrap_or_default(),
        );
        if let Some(response) = responses.get(&key) {
            assert_eq!(&e["data"]["snapshot"], response, "{}", e["type"]);
        }
    }
    // The wallet carries its primary address; amounts are whole-token strings.
    let created = events
        .iter()
        .find(|e| e["type"] == "wallet.created" && e["data"]["resourceId"] == json!(wallet_id))
        .expect("wallet.created");
    assert_eq!(
        created["data"]["snapshot"], wallet,
        "wallet.created is the creation response"
    );
    let credited = events
        .iter()
        .find(|e| e["type"] == "balance.updated" && e["data"]["resourceId"] == json!(wallet_id))
        .expect("balance.updated");
    assert!(credited["data"]["snapshot"]["balances"]["total"].is_string());
    assert!(
        credited["previousAttributes"]["balances"].is_object(),
        "{credited}"
    );

    // previousAttributes: the changed fields, old values, wire spelling.
    let frozen = events
        .iter()
        .find(|e| e["type"] == "vault.status.updated")
        .expect("status event");
    assert_eq!(frozen["previousAttributes"], json!({"status": "Active"}));
    assert_eq!(frozen["data"]["snapshot"]["status"], "Frozen");
    let renamed = events
        .iter()
        .find(|e| e["type"] == "vault.updated")
        .expect("vault.updated");
    assert_eq!(renamed["previousAttributes"], json!({"name": "Alice"}));
    let gone = events
        .iter()
        .find(|e| e["type"] == "address_book.entry.deleted")
        .expect("deleted");
    assert_eq!(gone["previousAttributes"], json!({"status": "Active"}));
    assert_eq!(gone["data"]["snapshot"]["status"], "Deleted");
    let cancel = events
        .iter()
        .rev()
        .find(|e| {
            e["type"] == "transaction.status.updated"
                && e["data"]["resourceId"] == json!(withdrawal_id)
        })
        .expect("cancel event");
    assert_eq!(cancel["previousAttributes"]["status"], "Submitted");
    assert_eq!(cancel["data"]["snapshot"]["status"], "Cancelled");

    // GET /v1/events/{id} is the same event.
    for e in events.iter().take(5) {
        let (status, _, one) = call(
            &app,
            &key,
            Method::GET,
            &format!("/v1/events/{}", str_of(e, "id")),
            None,
        )
        .await;
        assert_eq!(status, 200, "{one}");
        assert_eq!(&one, e);
    }
}

/// Pages follow the cursor without gaps or repeats; `types` filters (before paging); a new
/// event lands after the last cursor; errors are 400/403/404 envelopes.
async fn the_log_pages_filters_and_refuses(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    for n in 0..5 {
        let vault = create_vault(&app, &key, json!({"externalId": format!("v{n}")})).await;
        let (status, _, _) = call(
            &app,
            &key,
            Method::PATCH,
            &format!("/v1/vaults/{}", str_of(&vault, "id")),
            Some(r#"{"status":"Frozen"}"#),
        )
        .await;
        assert_eq!(status, 200);
    }
    settle(&app, &key, |events| events.len() == 10).await;
    let (all, cursor) = read_log(&app, &key, None, 200).await;
    assert_eq!(all.len(), 10);
    for limit in [1, 3] {
        assert_eq!(
            read_log(&app, &key, None, limit).await.0,
            all,
            "page size {limit}"
        );
    }
    let (frozen, _) = read_log(&app, &key, Some("vault.status.updated"), 1).await;
    assert_eq!(
        frozen,
        all.iter()
            .filter(|e| e["type"] == "vault.status.updated")
            .cloned()
            .collect::<Vec<_>>()
    );
    let (both, _) = read_log(&app, &key, Some("vault.created,vault.status.updated"), 2).await;
    assert_eq!(both, all);

    // Nothing after the end, and the cursor stays; a later event comes after it.
    let cursor = cursor.as_str().expect("cursor").to_owned();
    let (status, _, empty) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/events?after={cursor}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(empty["items"], json!([]));
    assert_eq!(
        empty["pagination"],
        json!({"hasMore": false, "nextCursor": cursor})
    );
    create_vault(&app, &key, json!({"externalId": "late"})).await;
    settle(&app, &key, |events| events.len() == 11).await;
    let (_, _, later) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/events?after={cursor}"),
        None,
    )
    .await;
    assert_eq!(later["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(later["items"][0]["type"], "vault.created");

    // Another tenant sees none of it.
    let stranger = app
        .key(
            app.tenant(TenantStatus::Approved).await,
            KeySpec::sandbox(KeyMode::Hmac),
        )
        .await;
    let (_, _, theirs) = call(&app, &stranger, Method::GET, "/v1/events", None).await;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(
        theirs["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );
    let (status, _, _) = call(
        &app,
        &stranger,
        Method::GET,
        &format!("/v1/events/{}", str_of(&all[0], "id")),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Errors.
    for (query, code) in [
        ("after=evt_01JFX0R8M2Q6C1V9W3E5T7Y4KE", "invalid_cursor"),
        ("after=cur_zz", "invalid_cursor"),
        // Numbers beyond a bigint (Schemathesis found this one as a 500).
        (
            "after=cur_453c40d9b817c803dd9510629209d5037ZZBSFR6D7MSAGBC4M4WKQMPA0",
            "invalid_cursor",
        ),
        ("types=vault.deleted", "invalid_event_type"),
        ("types=vault.created,", "invalid_event_type"),
        ("limit=0", "invalid_limit"),
        ("limit=201", "invalid_limit"),
        ("starting_after=x", "invalid_query_parameter"),
    ] {
        let response = app
            .request(&key, Method::GET, &format!("/v1/events?{query}"), None)
            .send()
            .await;
        assert_error(response, 400, "invalid_request_error", code).await;
    }
    let response = app
        .request(
            &key,
            Method::GET,
            "/v1/events/vlt_01JFX0R8M2Q6C1V9W3E5T7Y4KE",
            None,
        )
        .send()
        .await;
    assert_error(response, 400, "invalid_request_error", "invalid_event_id").await;
    let response = app
        .request(
            &key,
            Method::GET,
            "/v1/events/evt_01JFX0R8M2Q6C1V9W3E5T7Y4KE",
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;

    // The scope: webhooks:read.
    let tenant = key.minted.record.tenant_id;
    let without = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::VaultsRead]),
        )
        .await;
    let response = app
        .request(&without, Method::GET, "/v1/events", None)
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let with = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::WebhooksRead]),
        )
        .await;
    let (status, _, page) = call(&app, &with, Method::GET, "/v1/events?limit=1", None).await;
    assert_eq!(status, 200, "{page}");
}

on_both_stores!(
    every_event_type_carries_the_platform_rendering,
    the_log_pages_filters_and_refuses
);
