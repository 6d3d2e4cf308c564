//! `/v1/vaults/{vaultId}/wallets`, `/v1/wallets/{walletId}[/addresses]`: wallets and their
//! deposit addresses.

use super::*;
use crate::on_both_stores;

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

on_both_stores!(
    create_wallet_answers_the_wallet,
    not_enabled_asset_is_refused,
    not_enabled_asset_names_the_platform_field,
    list_and_get_wallets,
    additional_addresses,
);
