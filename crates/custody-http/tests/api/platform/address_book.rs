//! `/v1/address-book[/{id}]`: the withdrawal allow-list.

use super::*;
use crate::on_both_stores;

pub(super) const EIP55: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
pub(super) const EIP55_2: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
const SOLANA: &str = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV";

/// `POST /v1/address-book`: (status, body).
pub(super) async fn add_entry(app: &TestApp, key: &Key, body: Value) -> (u16, Value) {
    let (status, _, entry) = call(
        app,
        key,
        Method::POST,
        "/v1/address-book",
        Some(&body.to_string()),
    )
    .await;
    (status, entry)
}

async fn address_book_lifecycle(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;

    // Lowercase in, EIP-55 out; with an Idempotency-Key, replayed byte for byte.
    let body = json!({
        "network": "ethereum",
        "address": EIP55.to_lowercase(),
        "label": "Treasury cold wallet",
        "assetId": "usdt_ethereum"
    })
    .to_string();
    let send = || {
        app.request(&key, Method::POST, "/v1/address-book", Some(&body))
            .idempotency_key("abe-create-1")
            .send()
    };
    let (status, headers, raw, entry) = parts(send().await).await;
    assert_eq!(status, 201, "{entry}");
    assert!(headers.get("idempotency-replayed").is_none());
    assert_eq!(
        keys_of(&entry),
        [
            "id",
            "network",
            "address",
            "label",
            "assetId",
            "status",
            "createdAt",
            "activatesAt"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let id = assert_id(&entry["id"], "abe_");
    assert_eq!(entry["network"], "ethereum");
    assert_eq!(entry["address"], EIP55);
    assert_eq!(entry["label"], "Treasury cold wallet");
    assert_eq!(entry["assetId"], "USDT_ETHEREUM");
    assert_eq!(entry["status"], "Active");
    assert_timestamp(&entry["createdAt"]);
    assert_eq!(entry["activatesAt"], entry["createdAt"], "no cooling-off");
    let (status, headers, replay_raw, _) = parts(send().await).await;
    assert_eq!(status, 201);
    assert_eq!(replay_raw, raw, "replayed byte for byte");
    assert_eq!(headers["idempotency-replayed"], "true");

    // The same active address again: 409 naming the existing entry.
    let (status, err) = add_entry(
        &app,
        &key,
        json!({"network": "ethereum", "address": EIP55, "label": "again"}),
    )
    .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "address_book_entry_exists");
    assert!(
        str_of(&err["error"], "message").contains(&id),
        "names {id}: {err}"
    );

    // Two more entries: one on Solana without an asset, one more on Ethereum.
    let (status, sol) = add_entry(
        &app,
        &key,
        json!({"network": "solana", "address": SOLANA, "label": "sol"}),
    )
    .await;
    assert_eq!(status, 201, "{sol}");
    assert_eq!(sol["assetId"], Value::Null);
    let (status, eth2) = add_entry(
        &app,
        &key,
        json!({"network": "ETHEREUM", "address": EIP55_2, "label": "hot"}),
    )
    .await;
    assert_eq!(status, 201, "{eth2}");

    // Read one; list all; filters; pagination.
    let (status, _, read) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/address-book/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, entry);
    let list = |query: &'static str| {
        let app = &app;
        let key = &key;
        async move {
            let (status, _, list) = call(
                app,
                key,
                Method::GET,
                &format!("/v1/address-book{query}"),
                None,
            )
            .await;
            assert_eq!(status, 200, "{query}: {list}");
            list
        }
    };
    let ids = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| str_of(e, "id").to_owned())
            .collect()
    };
    let (sol_id, eth2_id) = (
        str_of(&sol, "id").to_owned(),
        str_of(&eth2, "id").to_owned(),
    );
    let all = list("").await;
    assert_eq!(ids(&all), vec![id.clone(), sol_id.clone(), eth2_id.clone()]);
    assert_eq!(
        all["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );
    assert_eq!(
        ids(&list("?network=ethereum").await),
        vec![id.clone(), eth2_id.clone()]
    );
    assert_eq!(ids(&list("?assetId=USDT_ETHEREUM").await), vec![id.clone()]);
    assert_eq!(ids(&list("?status=Pending").await), Vec::<String>::new());
    let first = list("?network=ethereum&limit=1").await;
    assert_eq!(ids(&first), vec![id.clone()]);
    assert_eq!(first["pagination"]["hasMore"], true);
    assert_eq!(first["pagination"]["nextCursor"], id.as_str());
    let (status, _, next) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/address-book?network=ethereum&limit=1&starting_after={id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(ids(&next), vec![eth2_id.clone()]);
    assert_eq!(next["pagination"]["hasMore"], false);
    // Backwards from the second Ethereum entry: the Solana one in between is skipped.
    let (status, _, back) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/address-book?network=ethereum&limit=1&ending_before={eth2_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(ids(&back), vec![id.clone()]);
    assert_eq!(
        back["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );

    // Delete: 200 with the entry Deleted (replayed as such with its key); it leaves the default
    // list, `status=Deleted` shows it.
    let delete = || {
        app.request(
            &key,
            Method::DELETE,
            &format!("/v1/address-book/{id}"),
            None,
        )
        .idempotency_key("abe-delete-1")
        .send()
    };
    let (status, _, deleted_raw, deleted) = parts(delete().await).await;
    assert_eq!(status, 200, "{deleted}");
    let (status, headers, replayed, _) = parts(delete().await).await;
    assert_eq!(status, 200);
    assert_eq!(replayed, deleted_raw);
    assert_eq!(headers["idempotency-replayed"], "true");
    assert_eq!(deleted["status"], "Deleted");
    assert_eq!(deleted["id"], id.as_str());
    assert_eq!(ids(&list("").await), vec![sol_id.clone(), eth2_id.clone()]);
    assert_eq!(ids(&list("?status=Deleted").await), vec![id.clone()]);
    assert_eq!(ids(&list("?status=active").await), vec![sol_id, eth2_id]);
    let (status, _, read) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/address-book/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read["status"], "Deleted");
    // Deleting again: 422, the entry is no longer active.
    let response = app
        .request(
            &key,
            Method::DELETE,
            &format!("/v1/address-book/{id}"),
            None,
        )
        .send()
        .await;
    assert_error(
        response,
        422,
        "invalid_request_error",
        "address_book_entry_not_active",
    )
    .await;
    // The address may be added again once its entry is deleted: a new entry.
    let (status, again) = add_entry(
        &app,
        &key,
        json!({"network": "ethereum", "address": EIP55, "label": "back"}),
    )
    .await;
    assert_eq!(status, 201, "{again}");
    assert_ne!(again["id"], id.as_str());
}

async fn address_book_refusals(engine: Engine) {
    use custody_core::api_key::Scope;
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;

    // 422 invalid_address, per network.
    for (network, address) in [
        // Mixed case with a wrong EIP-55 checksum (the last letter's case flipped).
        ("ethereum", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"),
        ("ethereum", "0x1234"),
        ("base", "not an address"),
        ("solana", "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"),
        ("solana", "1111"),
        ("sui", "0x1234"),
        ("sui", EIP55),
    ] {
        let (status, err) = add_entry(
            &app,
            &key,
            json!({"network": network, "address": address, "label": "x"}),
        )
        .await;
        assert_eq!(status, 422, "{network} {address}: {err}");
        assert_eq!(err["error"]["code"], "invalid_address", "{err}");
        assert_eq!(err["error"]["fieldErrors"][0]["field"], "address", "{err}");
    }
    // Other input errors.
    for (body, code, field) in [
        (
            json!({"network": "dogechain", "address": EIP55, "label": "x"}),
            "unsupported_network",
            "network",
        ),
        (
            json!({"network": "ethereum", "address": EIP55, "label": "x", "assetId": "USDC_SOLANA"}),
            "asset_network_mismatch",
            "",
        ),
        (
            json!({"network": "ethereum", "address": EIP55}),
            "missing_field",
            "label",
        ),
        (
            json!({"network": "ethereum", "address": EIP55, "label": "x", "extra": 1}),
            "unknown_field",
            "extra",
        ),
    ] {
        let (status, err) = add_entry(&app, &key, body.clone()).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(err["error"]["code"], code, "{body}: {err}");
        if !field.is_empty() {
            assert_eq!(err["error"]["fieldErrors"][0]["field"], field, "{err}");
        }
    }
    let (status, list) = {
        let (s, _, l) = call(&app, &key, Method::GET, "/v1/address-book", None).await;
        (s, l)
    };
    assert_eq!(status, 200);
    assert_eq!(list["items"], json!([]), "nothing was added");
    for query in [
        "?status=gone",
        "?network=nope",
        "?limit=0",
        "?starting_after=vlt_1",
    ] {
        let response = app
            .request(&key, Method::GET, &format!("/v1/address-book{query}"), None)
            .send()
            .await;
        assert_eq!(response.status().as_u16(), 400, "{query}");
    }

    // Another tenant's entry: 404 on read and delete, and it stays active.
    let (status, entry) = add_entry(
        &app,
        &key,
        json!({"network": "ethereum", "address": EIP55, "label": "mine"}),
    )
    .await;
    assert_eq!(status, 201, "{entry}");
    let id = str_of(&entry, "id").to_owned();
    let stranger = app.sandbox_key(KeyMode::Hmac).await;
    for method in [Method::GET, Method::DELETE] {
        let response = app
            .request(&stranger, method, &format!("/v1/address-book/{id}"), None)
            .send()
            .await;
        assert_error(response, 404, "not_found_error", "resource_not_found").await;
    }
    let response = app
        .request(&key, Method::GET, "/v1/address-book/abe_nope", None)
        .send()
        .await;
    assert_eq!(response.status().as_u16(), 400);
    // The stranger's own book is empty; the same address is fine there.
    let (status, _) = add_entry(
        &app,
        &stranger,
        json!({"network": "ethereum", "address": EIP55, "label": "theirs"}),
    )
    .await;
    assert_eq!(status, 201);

    // Scopes: address_book:read reads only; without it nothing is readable.
    let tenant = key.minted.record.tenant_id;
    let reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::AddressBookRead]),
        )
        .await;
    let (status, _, read) = call(
        &app,
        &reader,
        Method::GET,
        &format!("/v1/address-book/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    let response = app
        .request(
            &reader,
            Method::POST,
            "/v1/address-book",
            Some(&json!({"network": "ethereum", "address": EIP55_2, "label": "x"}).to_string()),
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let response = app
        .request(
            &reader,
            Method::DELETE,
            &format!("/v1/address-book/{id}"),
            None,
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let outsider = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::VaultsRead]),
        )
        .await;
    for path in [
        "/v1/address-book".to_owned(),
        "/v1/address-book?status=Pending".to_owned(),
        format!("/v1/address-book/{id}"),
    ] {
        let response = app
            .request(&outsider, Method::GET, &path, None)
            .send()
            .await;
        assert_error(response, 403, "authorization_error", "missing_scope").await;
    }
}

/// `?status=` is part of the store's query: with more entries of the other state ahead of the
/// matching ones than a page holds, a page is still full and the cursor chains (judging the
/// state after reading an unfiltered page answered an empty page with `hasMore: true`).
async fn a_status_filter_fills_the_page_past_other_entries(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let add = async |network: &str, address: &str, state: &str| {
        let (status, entry) = add_entry(
            &app,
            &key,
            json!({"network": network, "address": address, "label": state}),
        )
        .await;
        assert_eq!(status, 201, "{entry}");
        assert_eq!(entry["status"], state, "{entry}");
        str_of(&entry, "id").to_owned()
    };
    let mut active = Vec::new();
    for network in ["ethereum", "base", "ink"] {
        active.push(add(network, EIP55, "Active").await);
    }
    app.store
        .shared()
        .tenants
        .set_address_book_cooling_off(key.minted.record.tenant_id, Some(time::Duration::hours(24)))
        .await
        .expect("cooling-off set");
    let mut pending = Vec::new();
    for network in ["ethereum", "base", "ink"] {
        pending.push(add(network, EIP55_2, "Pending").await);
    }
    let list = async |query: String| {
        let (status, _, list) = call(
            &app,
            &key,
            Method::GET,
            &format!("/v1/address-book{query}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{query}: {list}");
        let ids: Vec<String> = list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| str_of(e, "id").to_owned())
            .collect();
        (ids, list["pagination"].clone())
    };

    let (ids, pagination) = list("?status=Pending&limit=2".into()).await;
    assert_eq!(ids, pending[..2], "a full page of the later entries");
    assert_eq!(
        pagination,
        json!({"hasMore": true, "nextCursor": pending[1]})
    );
    let (ids, pagination) = list(format!(
        "?status=Pending&limit=2&starting_after={}",
        pending[1]
    ))
    .await;
    assert_eq!(ids, pending[2..]);
    assert_eq!(pagination["hasMore"], false);

    let (ids, pagination) = list("?status=Active&limit=2".into()).await;
    assert_eq!(ids, active[..2]);
    assert_eq!(pagination["hasMore"], true);
    let (ids, pagination) = list(format!(
        "?status=Active&limit=2&starting_after={}",
        active[1]
    ))
    .await;
    assert_eq!(
        ids,
        active[2..],
        "the pending entries after it are not listed"
    );
    assert_eq!(pagination["hasMore"], false);
    let (ids, _) = list("?network=ink&status=Pending".into()).await;
    assert_eq!(ids, pending[2..]);
}

on_both_stores!(
    address_book_lifecycle,
    address_book_refusals,
    a_status_filter_fills_the_page_past_other_entries
);
