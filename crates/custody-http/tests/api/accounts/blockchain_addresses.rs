//! `/v1/accounts/{accountId}/blockchain-addresses[/{id}]`: create, read, list.

use super::*;
use crate::on_both_stores;

// ---------------------------------------------------------------------------------------------
// Create
// ---------------------------------------------------------------------------------------------

async fn create_blockchain_address(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = tenant(&app).await;
    let wallet = account_via_platform(&app, &t, "alice", "USDC_ETHEREUM").await;
    let account = str_of(&wallet, "id").to_owned();

    let (status, headers, address) = create_address(
        &app,
        &t.accounts,
        &account,
        r#"{"chain":"ethereum","asset":"USDC"}"#,
        "ba-create-1",
    )
    .await;
    // The account already has its primary address (minted with the wallet): the same one.
    assert!(status == 200 || status == 201, "{status}: {address}");
    assert!(headers.contains_key("x-request-id"));
    assert_blockchain_address(&address, &account, "ethereum", "USDC");
    assert_eq!(address["address"], wallet["depositAddress"]);

    // Again with another key: the same address, 200.
    let (status, _, again) = create_address(
        &app,
        &t.accounts,
        &account,
        r#"{"chain":"ETHEREUM","asset":"usdc"}"#,
        "ba-create-2",
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, address);

    // The same Idempotency-Key and body: a byte-for-byte replay.
    let (status, headers, replay) = create_address(
        &app,
        &t.accounts,
        &account,
        r#"{"chain":"ethereum","asset":"USDC"}"#,
        "ba-create-1",
    )
    .await;
    assert!(status == 200 || status == 201);
    assert_eq!(replay, address);
    assert_eq!(
        headers
            .get("idempotency-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );

    // Idempotency-Key is required.
    let response = app
        .request(
            &t.accounts,
            Method::POST,
            &format!("/v1/accounts/{account}/blockchain-addresses"),
            Some(r#"{"chain":"ethereum","asset":"USDC"}"#),
        )
        .send()
        .await;
    assert_error(
        response,
        400,
        "invalid_request_error",
        "idempotency_key_required",
    )
    .await;
}

async fn create_refuses_a_chain_or_asset_of_another_account(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = tenant(&app).await;
    let wallet = account_via_platform(&app, &t, "bob", "USDC_ETHEREUM").await;
    let account = str_of(&wallet, "id").to_owned();
    for (n, body) in [
        r#"{"chain":"solana","asset":"USDC"}"#,
        r#"{"chain":"ethereum","asset":"USDT"}"#,
        r#"{"chain":"base","asset":"USDT"}"#,
        r#"{"chain":"tron","asset":"USDC"}"#,
        r#"{"chain":"ethereum","asset":"DOGE"}"#,
        r#"{"chain":"ethereum"}"#,
        r#"{"chain":"ethereum","asset":"USDC","label":"x"}"#,
        r#"{"chain":5,"asset":"USDC"}"#,
    ]
    .into_iter()
    .enumerate()
    {
        let (status, _, err) =
            create_address(&app, &t.accounts, &account, body, &format!("mismatch-{n}")).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_eq!(
            err["error"]["type"], "invalid_request_error",
            "{body}: {err}"
        );
        assert!(
            err["error"]["fieldErrors"]
                .as_array()
                .is_some_and(|f| !f.is_empty())
                || err["error"]["code"] == "account_asset_mismatch",
            "{body}: {err}"
        );
    }
    let (status, _, err) = create_address(
        &app,
        &t.accounts,
        &account,
        r#"{"chain":"solana","asset":"USDC"}"#,
        "mismatch-code",
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["code"], "account_asset_mismatch", "{err}");

    // Nothing was minted: the account still has only its primary address.
    let (_, _, list) = call(
        &app,
        &t.accounts,
        Method::GET,
        &format!("/v1/accounts/{account}/blockchain-addresses"),
        None,
    )
    .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
}

async fn unknown_foreign_and_malformed_accounts(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = tenant(&app).await;
    let other = tenant(&app).await;
    let theirs = account_via_platform(&app, &other, "carol", "USDT_SOLANA").await;
    let theirs_id = str_of(&theirs, "id");
    let body = r#"{"chain":"solana","asset":"USDT"}"#;

    for (n, account) in ["acc_01J00000000000000000000000", theirs_id]
        .into_iter()
        .enumerate()
    {
        let response = app
            .request(
                &t.accounts,
                Method::POST,
                &format!("/v1/accounts/{account}/blockchain-addresses"),
                Some(body),
            )
            .idempotency_key(&format!("unknown-{n}"))
            .send()
            .await;
        assert_error(response, 404, "not_found_error", "resource_not_found").await;
        for path in [
            format!("/v1/accounts/{account}/blockchain-addresses"),
            format!("/v1/accounts/{account}/balances"),
        ] {
            let response = app
                .request(&t.accounts, Method::GET, &path, None)
                .send()
                .await;
            assert_error(response, 404, "not_found_error", "resource_not_found").await;
        }
    }

    for (n, malformed) in [
        "nope",
        "acc_",
        "acc_!!",
        "vlt_01J00000000000000000000000",
        "ACC_01J00000000000000000000000",
        "acc_01J0000000000000000000000",
    ]
    .into_iter()
    .enumerate()
    {
        for (method, path) in [
            (Method::GET, format!("/v1/accounts/{malformed}/balances")),
            (
                Method::GET,
                format!("/v1/accounts/{malformed}/blockchain-addresses"),
            ),
            (
                Method::GET,
                format!(
                    "/v1/accounts/{malformed}/blockchain-addresses/ba_01J00000000000000000000000"
                ),
            ),
            (
                Method::POST,
                format!("/v1/accounts/{malformed}/blockchain-addresses"),
            ),
        ] {
            let post = method == Method::POST;
            let mut request = app.request(&t.accounts, method, &path, post.then_some(body));
            if post {
                request = request.idempotency_key(&format!("malformed-{n}"));
            }
            let body = assert_error(
                request.send().await,
                400,
                "invalid_request_error",
                "invalid_account_id",
            )
            .await;
            assert_eq!(
                body["error"]["fieldErrors"][0]["field"], "accountId",
                "{path}: {body}"
            );
        }
    }
}

async fn accounts_converge_with_connect(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = tenant(&app).await;
    // Connect first: the user's wallet and primary address.
    let (status, _, _, connect) = parts(
        app.request(
            &t.connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(r#"{"asset":"USDT","network":"solana","external_ref":"dave"}"#),
        )
        .idempotency_key("connect-dave")
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{connect}");
    // The account id, as Platform sees it.
    let (_, _, vaults) = call(
        &app,
        &t.platform,
        Method::GET,
        "/v1/vaults?externalId=dave",
        None,
    )
    .await;
    let vault_id = str_of(&vaults["items"][0], "id");
    let (_, _, wallets) = call(
        &app,
        &t.platform,
        Method::GET,
        &format!("/v1/vaults/{vault_id}/wallets"),
        None,
    )
    .await;
    let account = str_of(&wallets["items"][0], "id").to_owned();

    let (status, _, address) = create_address(
        &app,
        &t.accounts,
        &account,
        r#"{"chain":"solana","asset":"USDT"}"#,
        "accounts-dave",
    )
    .await;
    assert_eq!(status, 200, "the Connect address already exists: {address}");
    assert_blockchain_address(&address, &account, "solana", "USDT");
    assert_eq!(address["id"], connect["id"]);
    assert_eq!(address["address"], connect["address"]);
    assert_eq!(address["createdAt"], connect["created_at"]);
}

// ---------------------------------------------------------------------------------------------
// Read
// ---------------------------------------------------------------------------------------------

async fn get_and_list_blockchain_addresses(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = tenant(&app).await;
    let wallet = account_via_platform(&app, &t, "erin", "USDC_ETHEREUM").await;
    let account = str_of(&wallet, "id").to_owned();
    // Two more addresses via Platform, so the account has three.
    for _ in 0..2 {
        let (status, _, extra) = call(
            &app,
            &t.platform,
            Method::POST,
            &format!("/v1/wallets/{account}/addresses"),
            None,
        )
        .await;
        assert_eq!(status, 201, "{extra}");
    }
    // A second account of the same tenant (same vault, another asset).
    let sibling = account_via_platform(&app, &t, "erin", "USDT_ETHEREUM").await;
    let sibling_id = str_of(&sibling, "id").to_owned();

    let base = format!("/v1/accounts/{account}/blockchain-addresses");
    let (status, _, all) = call(&app, &t.accounts, Method::GET, &base, None).await;
    assert_eq!(status, 200, "{all}");
    let items = all["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{all}");
    assert_eq!(
        all["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );
    let ids: Vec<&str> = items.iter().map(|a| str_of(a, "id")).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "ascending by id");
    for item in &items {
        assert_blockchain_address(item, &account, "ethereum", "USDC");
    }
    let distinct: BTreeSet<&str> = items.iter().map(|a| str_of(a, "address")).collect();
    assert_eq!(distinct.len(), 3);
    assert!(distinct.contains(str_of(&wallet, "depositAddress")));

    // Pages of two.
    let (status, _, first) = call(
        &app,
        &t.accounts,
        Method::GET,
        &format!("{base}?limit=2"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"], Value::Array(items[..2].to_vec()));
    assert_eq!(first["pagination"]["hasMore"], true);
    assert_eq!(first["pagination"]["nextCursor"], ids[1]);
    let (status, _, second) = call(
        &app,
        &t.accounts,
        Method::GET,
        &format!("{base}?limit=2&starting_after={}", ids[1]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["items"], Value::Array(items[2..].to_vec()));
    assert_eq!(
        second["pagination"],
        json!({"hasMore": false, "nextCursor": null})
    );
    let (status, _, before) = call(
        &app,
        &t.accounts,
        Method::GET,
        &format!("{base}?ending_before={}", ids[2]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["items"], Value::Array(items[..2].to_vec()));

    let both = format!("starting_after={}&ending_before={}", ids[0], ids[2]);
    for query in [
        "limit=abc",
        "limit=0",
        "limit=201",
        "starting_after=acc_01J00000000000000000000000",
        both.as_str(),
        "chain=ethereum",
    ] {
        let (status, _, err) = call(
            &app,
            &t.accounts,
            Method::GET,
            &format!("{base}?{query}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["error"]["type"], "invalid_request_error");
    }

    // GET one: each item reads back the same.
    for item in &items {
        let (status, _, read) = call(
            &app,
            &t.accounts,
            Method::GET,
            &format!("{base}/{}", str_of(item, "id")),
            None,
        )
        .await;
        assert_eq!(status, 200, "{read}");
        assert_eq!(&read, item);
    }
    // Through another account of the same tenant: 404.
    let response = app
        .request(
            &t.accounts,
            Method::GET,
            &format!("/v1/accounts/{sibling_id}/blockchain-addresses/{}", ids[0]),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    // The sibling's own list holds only its address.
    let (_, _, sibling_list) = call(
        &app,
        &t.accounts,
        Method::GET,
        &format!("/v1/accounts/{sibling_id}/blockchain-addresses"),
        None,
    )
    .await;
    assert_eq!(
        sibling_list["items"].as_array().map(Vec::len),
        Some(1),
        "{sibling_list}"
    );
    assert_eq!(sibling_list["items"][0]["asset"], "USDT");
    // By another tenant: 404, with its own account id or ours.
    let other = tenant(&app).await;
    let response = app
        .request(
            &other.accounts,
            Method::GET,
            &format!("{base}/{}", ids[0]),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    // Unknown and malformed address ids.
    let response = app
        .request(
            &t.accounts,
            Method::GET,
            &format!("{base}/ba_01J00000000000000000000000"),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    for malformed in ["nope", "ba_", "ba_!!", &account] {
        let response = app
            .request(
                &t.accounts,
                Method::GET,
                &format!("{base}/{malformed}"),
                None,
            )
            .send()
            .await;
        let body = assert_error(
            response,
            400,
            "invalid_request_error",
            "invalid_blockchain_address_id",
        )
        .await;
        assert_eq!(
            body["error"]["fieldErrors"][0]["field"], "blockchainAddressId",
            "{body}"
        );
    }
}

on_both_stores!(
    create_blockchain_address,
    create_refuses_a_chain_or_asset_of_another_account,
    unknown_foreign_and_malformed_accounts,
    accounts_converge_with_connect,
    get_and_list_blockchain_addresses,
);
