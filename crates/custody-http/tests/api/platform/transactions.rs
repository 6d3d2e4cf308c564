//! `/v1/transactions`: transfers, withdrawals, cancel and reads, with balances checked on every
//! dialect and the ledger checked against them after every scenario.

use custody_core::api_key::Scope;
use futures::future::join_all;

use super::address_book::{add_entry, EIP55, EIP55_2};
use super::*;
use crate::on_both_stores;

/// Every field of the wire transaction.
const TRANSACTION_KEYS: [&str; 17] = [
    "id",
    "kind",
    "status",
    "assetId",
    "amount",
    "sourceWalletId",
    "destinationWalletId",
    "addressBookEntryId",
    "destinationAddress",
    "txHash",
    "confirmations",
    "requiredConfirmations",
    "reference",
    "failureReason",
    "statusHistory",
    "createdAt",
    "updatedAt",
];

/// A vault (`external_id`) with a wallet of `asset`, funded with `amount` by a completed
/// deposit when it is not `"0"`; returns (vault id, wallet id).
async fn funded(
    app: &TestApp,
    key: &Key,
    external_id: &str,
    asset: &str,
    amount: &str,
) -> (String, String) {
    let vault = create_vault(app, key, json!({"externalId": external_id})).await;
    let vault_id = str_of(&vault, "id").to_owned();
    let (status, wallet) = create_wallet(app, key, &vault_id, json!({"assetId": asset})).await;
    assert_eq!(status, 201, "{wallet}");
    if amount != "0" {
        let deposit = app
            .fund(str_of(&wallet, "depositAddress"), asset, amount)
            .await;
        assert_eq!(deposit.status.as_str(), "Completed");
    }
    (vault_id, str_of(&wallet, "id").to_owned())
}

/// A signed POST with an Idempotency-Key: (status, headers, raw body, JSON).
async fn post(
    app: &TestApp,
    key: &Key,
    path: &str,
    body: &Value,
    idempotency_key: &str,
) -> (u16, HeaderMap, Vec<u8>, Value) {
    parts(
        app.request(key, Method::POST, path, Some(&body.to_string()))
            .idempotency_key(idempotency_key)
            .send()
            .await,
    )
    .await
}

/// `GET /v1/wallets/{id}`'s balances.
async fn balances(app: &TestApp, key: &Key, wallet: &str) -> Value {
    let (status, _, read) = call(
        app,
        key,
        Method::GET,
        &format!("/v1/wallets/{wallet}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    read["balances"].clone()
}

fn balances_of(available: &str, pending: &str, held: &str, total: &str) -> Value {
    json!({"available": available, "pending": pending, "held": held, "total": total})
}

/// The Accounts dialect's balances of the same wallet (an Ed25519 key of the tenant).
async fn account_balances(app: &TestApp, accounts: &Key, wallet: &str) -> Value {
    let (status, _, body) = call(
        app,
        accounts,
        Method::GET,
        &format!("/v1/accounts/{wallet}/balances"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|line| (str_of(line, "type").to_owned(), line["amount"].clone()))
        .collect::<serde_json::Map<String, Value>>()
        .into()
}

/// The Connect dialect's available balance of the vault's user for `asset` / `network`.
async fn connect_available(app: &TestApp, connect: &Key, external_ref: &str) -> Value {
    let (status, _, body) = call(
        app,
        connect,
        Method::GET,
        &format!("/connect/v1/balances/{external_ref}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["balances"].clone()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {list}"))
        .iter()
        .map(|t| str_of(t, "id").to_owned())
        .collect()
}

async fn list(app: &TestApp, key: &Key, query: &str) -> Value {
    let (status, _, list) = call(
        app,
        key,
        Method::GET,
        &format!("/v1/transactions{query}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{query}: {list}");
    list
}

async fn transfer_moves_funds_at_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = key.minted.record.tenant_id;
    let accounts = app.key(tenant, KeySpec::sandbox(KeyMode::Ed25519)).await;
    let connect = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let (vault_a, a) = funded(&app, &key, "alice", "USDT_ETHEREUM", "100").await;
    let (vault_b, b) = funded(&app, &key, "bob", "USDT_ETHEREUM", "0").await;
    let deposit_id = ids(&list(&app, &key, "").await).remove(0);

    let body = json!({
        "sourceWalletId": a,
        "destinationWalletId": b,
        "amount": "12.5",
        "reference": "rebalance"
    });
    let (status, headers, raw, transfer) =
        post(&app, &key, "/v1/transactions/transfer", &body, "tr-1").await;
    assert_eq!(status, 201, "{transfer}");
    assert!(headers.get("idempotency-replayed").is_none());
    assert_eq!(
        keys_of(&transfer),
        TRANSACTION_KEYS.into_iter().map(String::from).collect()
    );
    let id = assert_id(&transfer["id"], "tx_");
    assert_eq!(transfer["kind"], "Transfer");
    assert_eq!(transfer["status"], "Completed");
    assert_eq!(transfer["assetId"], "USDT_ETHEREUM");
    assert_eq!(transfer["amount"], "12.5");
    assert_eq!(transfer["sourceWalletId"], a.as_str());
    assert_eq!(transfer["destinationWalletId"], b.as_str());
    assert_eq!(transfer["reference"], "rebalance");
    for absent in [
        "addressBookEntryId",
        "destinationAddress",
        "txHash",
        "confirmations",
        "requiredConfirmations",
        "failureReason",
    ] {
        assert_eq!(transfer[absent], Value::Null, "{absent}");
    }
    assert_eq!(transfer["statusHistory"].as_array().map(Vec::len), Some(1));
    assert_eq!(transfer["statusHistory"][0]["status"], "Completed");
    assert_eq!(transfer["statusHistory"][0]["at"], transfer["createdAt"]);
    assert_timestamp(&transfer["createdAt"]);
    assert_eq!(transfer["updatedAt"], transfer["createdAt"]);

    // Every dialect sees the movement at once.
    assert_eq!(
        balances(&app, &key, &a).await,
        balances_of("87.5", "0", "0", "87.5")
    );
    assert_eq!(
        balances(&app, &key, &b).await,
        balances_of("12.5", "0", "0", "12.5")
    );
    assert_eq!(
        account_balances(&app, &accounts, &a).await,
        json!({"available": "87.5", "pending": "0", "held": "0", "total": "87.5"})
    );
    assert_eq!(
        account_balances(&app, &accounts, &b).await["available"],
        "12.5"
    );
    assert_eq!(
        connect_available(&app, &connect, "alice").await,
        json!([{"asset": "USDT", "network": "ethereum", "amount": "87.5"}])
    );
    assert_eq!(
        connect_available(&app, &connect, "bob").await,
        json!([{"asset": "USDT", "network": "ethereum", "amount": "12.5"}])
    );

    // Replay: the same bytes, flagged, and no second movement; another body: 409.
    let (status, headers, replay, _) =
        post(&app, &key, "/v1/transactions/transfer", &body, "tr-1").await;
    assert_eq!(status, 201);
    assert_eq!(replay, raw, "replayed byte for byte");
    assert_eq!(headers["idempotency-replayed"], "true");
    let mut other = body.clone();
    other["amount"] = json!("1");
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/transactions/transfer",
            Some(&other.to_string()),
        )
        .idempotency_key("tr-1")
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "idempotency_conflict").await;
    assert_eq!(balances(&app, &key, &a).await["available"], "87.5");

    // Reads.
    let (status, _, read) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/transactions/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read, transfer);
    let (status, _, deposit) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/transactions/{deposit_id}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{deposit}");
    assert_eq!(deposit["kind"], "Deposit");
    assert_eq!(deposit["status"], "Completed");
    assert_eq!(deposit["destinationWalletId"], a.as_str());
    assert_eq!(deposit["confirmations"], 12);
    assert_eq!(deposit["requiredConfirmations"], 12);
    assert_eq!(
        ids(&list(&app, &key, "").await),
        vec![deposit_id.clone(), id.clone()]
    );
    assert_eq!(
        ids(&list(&app, &key, "?kind=Transfer").await),
        vec![id.clone()]
    );
    assert_eq!(
        ids(&list(&app, &key, "?kind=deposit").await),
        vec![deposit_id.clone()]
    );
    assert_eq!(
        ids(&list(&app, &key, &format!("?walletId={b}")).await),
        vec![id.clone()]
    );
    assert_eq!(
        ids(&list(&app, &key, &format!("?vaultId={vault_a}")).await),
        vec![deposit_id.clone(), id.clone()]
    );
    assert_eq!(
        ids(&list(
            &app,
            &key,
            &format!("?vaultId={vault_b}&kind=Transfer&status=Completed")
        )
        .await),
        vec![id.clone()]
    );
    assert_eq!(
        ids(&list(&app, &key, &format!("?vaultId={vault_b}&kind=Deposit")).await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&list(&app, &key, "?status=Submitted").await),
        Vec::<String>::new()
    );
    let page = list(&app, &key, "?limit=1").await;
    assert_eq!(ids(&page), vec![deposit_id.clone()]);
    assert_eq!(
        page["pagination"],
        json!({"hasMore": true, "nextCursor": deposit_id})
    );
    let page = list(&app, &key, &format!("?limit=1&starting_after={deposit_id}")).await;
    assert_eq!(ids(&page), vec![id.clone()]);
    assert_eq!(page["pagination"]["hasMore"], false);
    for query in [
        "?kind=Refund",
        "?status=Done",
        "?walletId=vlt_1",
        "?vaultId=x",
        "?limit=500",
    ] {
        let response = app
            .request(&key, Method::GET, &format!("/v1/transactions{query}"), None)
            .send()
            .await;
        assert_eq!(response.status().as_u16(), 400, "{query}");
    }

    // A transfer cannot be cancelled.
    let response = app
        .request(
            &key,
            Method::POST,
            &format!("/v1/transactions/{id}/cancel"),
            None,
        )
        .idempotency_key("cancel-transfer")
        .send()
        .await;
    assert_error(
        response,
        409,
        "conflict_error",
        "transaction_not_cancellable",
    )
    .await;

    // Another tenant sees none of it.
    let stranger = app.sandbox_key(KeyMode::Hmac).await;
    let response = app
        .request(
            &stranger,
            Method::GET,
            &format!("/v1/transactions/{id}"),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
    assert_eq!(ids(&list(&app, &stranger, "").await), Vec::<String>::new());
    let response = app
        .request(
            &stranger,
            Method::GET,
            &format!("/v1/transactions?vaultId={vault_a}"),
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;

    app.assert_ledger_matches(&key, &[&a, &b]).await;
}

async fn transfer_refusals(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = key.minted.record.tenant_id;
    let (vault_a, a) = funded(&app, &key, "alice", "USDT_ETHEREUM", "100").await;
    let (vault_b, b) = funded(&app, &key, "bob", "USDT_ETHEREUM", "0").await;
    let (status, usdc) =
        create_wallet(&app, &key, &vault_b, json!({"assetId": "USDC_SOLANA"})).await;
    assert_eq!(status, 201, "{usdc}");
    let usdc = str_of(&usdc, "id").to_owned();
    let stranger = app.sandbox_key(KeyMode::Hmac).await;
    let (_, foreign) = funded(&app, &stranger, "carol", "USDT_ETHEREUM", "5").await;

    let transfer = |from: &str, to: &str, amount: &str| json!({"sourceWalletId": from, "destinationWalletId": to, "amount": amount});
    let mut n = 0;
    let mut refused = |body: Value, status: u16, kind: &'static str, code: &'static str| {
        n += 1;
        let app = &app;
        let key = &key;
        async move {
            let response = app
                .request(
                    key,
                    Method::POST,
                    "/v1/transactions/transfer",
                    Some(&body.to_string()),
                )
                .idempotency_key(&format!("refused-{n}"))
                .send()
                .await;
            assert_error(response, status, kind, code).await;
        }
    };
    const UNPROCESSABLE: &str = "invalid_request_error";
    refused(
        transfer(&a, &b, "100.000001"),
        422,
        UNPROCESSABLE,
        "insufficient_funds",
    )
    .await;
    refused(transfer(&a, &a, "1"), 422, UNPROCESSABLE, "same_wallet").await;
    refused(
        transfer(&a, &usdc, "1"),
        422,
        UNPROCESSABLE,
        "asset_mismatch",
    )
    .await;
    refused(
        transfer(&a, &b, "abc"),
        422,
        UNPROCESSABLE,
        "amount_malformed",
    )
    .await;
    refused(
        transfer(&a, &b, "0.0000001"),
        422,
        UNPROCESSABLE,
        "amount_too_many_decimals",
    )
    .await;
    refused(transfer(&a, &b, "0"), 422, UNPROCESSABLE, "amount_zero").await;
    refused(
        transfer(&a, "vlt_1", "1"),
        422,
        UNPROCESSABLE,
        "invalid_wallet_id",
    )
    .await;
    refused(
        transfer(&a, &foreign, "1"),
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;
    refused(
        transfer(&foreign, &a, "1"),
        404,
        "not_found_error",
        "resource_not_found",
    )
    .await;

    // A frozen vault receives but cannot send.
    let (status, _, frozen) = call(
        &app,
        &key,
        Method::PATCH,
        &format!("/v1/vaults/{vault_a}"),
        Some(r#"{"status":"Frozen"}"#),
    )
    .await;
    assert_eq!(status, 200, "{frozen}");
    refused(transfer(&a, &b, "1"), 422, UNPROCESSABLE, "vault_frozen").await;
    let (status, _, _) = call(
        &app,
        &key,
        Method::PATCH,
        &format!("/v1/vaults/{vault_a}"),
        Some(r#"{"status":"Active"}"#),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        &app,
        &key,
        Method::PATCH,
        &format!("/v1/vaults/{vault_b}"),
        Some(r#"{"status":"Frozen"}"#),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _, into_frozen) = post(
        &app,
        &key,
        "/v1/transactions/transfer",
        &transfer(&a, &b, "1"),
        "into-frozen",
    )
    .await;
    assert_eq!(status, 201, "{into_frozen}");
    // An archived (empty) vault cannot send either.
    let (vault_c, c) = funded(&app, &key, "archived", "USDT_ETHEREUM", "0").await;
    let (status, _, archived) = call(
        &app,
        &key,
        Method::PATCH,
        &format!("/v1/vaults/{vault_c}"),
        Some(r#"{"status":"Archived"}"#),
    )
    .await;
    assert_eq!(status, 200, "{archived}");
    refused(transfer(&c, &a, "1"), 422, UNPROCESSABLE, "vault_archived").await;

    // Idempotency-Key is required; the scope is transfers:write.
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/transactions/transfer",
            Some(&transfer(&a, &b, "1").to_string()),
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
    let no_transfers = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[
                Scope::WithdrawalsWrite,
                Scope::TransactionsRead,
                Scope::WalletsRead,
            ]),
        )
        .await;
    let response = app
        .request(
            &no_transfers,
            Method::POST,
            "/v1/transactions/transfer",
            Some(&transfer(&a, &b, "1").to_string()),
        )
        .idempotency_key("scope")
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;

    // Nothing moved but the one transfer into the frozen vault.
    assert_eq!(
        balances(&app, &key, &a).await,
        balances_of("99", "0", "0", "99")
    );
    assert_eq!(
        balances(&app, &key, &b).await,
        balances_of("1", "0", "0", "1")
    );
    app.assert_ledger_matches(&key, &[&a, &b, &c, &usdc]).await;
    app.assert_ledger_matches(&stranger, &[&foreign]).await;
}

async fn withdraw_holds_then_cancel_returns(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = key.minted.record.tenant_id;
    let accounts = app.key(tenant, KeySpec::sandbox(KeyMode::Ed25519)).await;
    let connect = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let (vault_a, a) = funded(&app, &key, "alice", "USDT_ETHEREUM", "100").await;
    let (status, entry) = add_entry(
        &app,
        &key,
        json!({"network": "ethereum", "address": EIP55.to_lowercase(), "label": "cold"}),
    )
    .await;
    assert_eq!(status, 201, "{entry}");
    let entry_id = str_of(&entry, "id").to_owned();

    let body = json!({"walletId": a, "addressBookEntryId": entry_id, "amount": "40", "reference": "payout 1"});
    let (status, headers, raw, withdrawal) =
        post(&app, &key, "/v1/transactions/withdraw", &body, "wd-1").await;
    assert_eq!(status, 201, "{withdrawal}");
    assert!(headers.get("idempotency-replayed").is_none());
    assert_eq!(
        keys_of(&withdrawal),
        TRANSACTION_KEYS.into_iter().map(String::from).collect()
    );
    let id = assert_id(&withdrawal["id"], "tx_");
    assert_eq!(withdrawal["kind"], "Withdrawal");
    assert_eq!(withdrawal["status"], "Submitted");
    assert_eq!(withdrawal["amount"], "40");
    assert_eq!(withdrawal["sourceWalletId"], a.as_str());
    assert_eq!(withdrawal["destinationWalletId"], Value::Null);
    assert_eq!(withdrawal["addressBookEntryId"], entry_id.as_str());
    assert_eq!(withdrawal["destinationAddress"], EIP55);
    assert_eq!(withdrawal["reference"], "payout 1");
    assert_eq!(withdrawal["txHash"], Value::Null);
    assert_eq!(withdrawal["statusHistory"][0]["status"], "Submitted");

    // Held at once, on every dialect.
    assert_eq!(
        balances(&app, &key, &a).await,
        balances_of("60", "0", "40", "100")
    );
    assert_eq!(
        account_balances(&app, &accounts, &a).await,
        json!({"available": "60", "pending": "0", "held": "40", "total": "100"})
    );
    assert_eq!(
        connect_available(&app, &connect, "alice").await,
        json!([{"asset": "USDT", "network": "ethereum", "amount": "60"}])
    );

    // Replay and conflict.
    let (status, headers, replay, _) =
        post(&app, &key, "/v1/transactions/withdraw", &body, "wd-1").await;
    assert_eq!(status, 201);
    assert_eq!(replay, raw, "replayed byte for byte");
    assert_eq!(headers["idempotency-replayed"], "true");
    let mut other = body.clone();
    other["amount"] = json!("41");
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/transactions/withdraw",
            Some(&other.to_string()),
        )
        .idempotency_key("wd-1")
        .send()
        .await;
    assert_error(response, 409, "conflict_error", "idempotency_conflict").await;
    assert_eq!(
        balances(&app, &key, &a).await["held"],
        "40",
        "one withdrawal only"
    );

    let (status, _, read) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/transactions/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read, withdrawal);
    assert_eq!(
        ids(&list(
            &app,
            &key,
            &format!("?vaultId={vault_a}&kind=Withdrawal&status=Submitted")
        )
        .await),
        vec![id.clone()]
    );

    // Another tenant: not found, whichever side is theirs.
    let stranger = app.sandbox_key(KeyMode::Hmac).await;
    let (_, foreign_wallet) = funded(&app, &stranger, "carol", "USDT_ETHEREUM", "5").await;
    let (status, foreign_entry) = add_entry(
        &app,
        &stranger,
        json!({"network": "ethereum", "address": EIP55_2, "label": "theirs"}),
    )
    .await;
    assert_eq!(status, 201);
    let foreign_entry = str_of(&foreign_entry, "id").to_owned();
    for (who, body) in [
        (
            &key,
            json!({"walletId": a, "addressBookEntryId": foreign_entry, "amount": "1"}),
        ),
        (
            &stranger,
            json!({"walletId": foreign_wallet, "addressBookEntryId": entry_id, "amount": "1"}),
        ),
        (
            &stranger,
            json!({"walletId": a, "addressBookEntryId": foreign_entry, "amount": "1"}),
        ),
    ] {
        let response = app
            .request(
                who,
                Method::POST,
                "/v1/transactions/withdraw",
                Some(&body.to_string()),
            )
            .idempotency_key("foreign")
            .send()
            .await;
        assert_error(response, 404, "not_found_error", "resource_not_found").await;
    }
    for (method, path) in [
        (Method::GET, format!("/v1/transactions/{id}")),
        (Method::POST, format!("/v1/transactions/{id}/cancel")),
    ] {
        let response = app
            .request(&stranger, method, &path, None)
            .idempotency_key("foreign-cancel")
            .send()
            .await;
        assert_error(response, 404, "not_found_error", "resource_not_found").await;
    }

    // Cancel: the key is required; then Cancelled and the funds are back; then 409.
    let response = app
        .request(
            &key,
            Method::POST,
            &format!("/v1/transactions/{id}/cancel"),
            None,
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
    let cancel = || {
        app.request(
            &key,
            Method::POST,
            &format!("/v1/transactions/{id}/cancel"),
            None,
        )
        .idempotency_key("cancel-1")
        .send()
    };
    let (status, _, cancel_raw, cancelled) = parts(cancel().await).await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "Cancelled");
    let history: Vec<&str> = cancelled["statusHistory"]
        .as_array()
        .expect("history")
        .iter()
        .map(|c| str_of(c, "status"))
        .collect();
    assert_eq!(history, vec!["Submitted", "Cancelled"]);
    assert_eq!(
        balances(&app, &key, &a).await,
        balances_of("100", "0", "0", "100")
    );
    let (status, headers, again, _) = parts(cancel().await).await;
    assert_eq!(status, 200);
    assert_eq!(again, cancel_raw);
    assert_eq!(headers["idempotency-replayed"], "true");
    let response = app
        .request(
            &key,
            Method::POST,
            &format!("/v1/transactions/{id}/cancel"),
            None,
        )
        .idempotency_key("cancel-2")
        .send()
        .await;
    assert_error(
        response,
        409,
        "conflict_error",
        "transaction_not_cancellable",
    )
    .await;

    app.assert_ledger_matches(&key, &[&a]).await;
    app.assert_ledger_matches(&stranger, &[&foreign_wallet])
        .await;
}

async fn withdraw_refusals(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = key.minted.record.tenant_id;
    let (vault_a, a) = funded(&app, &key, "alice", "USDT_ETHEREUM", "100").await;
    let entry = |body: Value| {
        let app = &app;
        let key = &key;
        async move {
            let (status, entry) = add_entry(app, key, body).await;
            assert_eq!(status, 201, "{entry}");
            str_of(&entry, "id").to_owned()
        }
    };
    let eth = entry(json!({"network": "ethereum", "address": EIP55, "label": "eth"})).await;
    let base = entry(json!({"network": "base", "address": EIP55, "label": "base"})).await;
    let usdc_only = entry(json!({"network": "ethereum", "address": EIP55_2, "label": "usdc", "assetId": "USDC_ETHEREUM"})).await;
    // A deleted entry on the wallet's own network: the withdrawal must be refused.
    let deleted_eth = {
        let (status, _, del) = call(
            &app,
            &key,
            Method::DELETE,
            &format!("/v1/address-book/{eth}"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{del}");
        eth.clone()
    };
    let fresh = entry(json!({"network": "ethereum", "address": EIP55, "label": "eth again"})).await;

    let withdraw = |entry: &str, amount: &str| json!({"walletId": a, "addressBookEntryId": entry, "amount": amount});
    let mut n = 0;
    let mut refused = |body: Value, status: u16, code: &'static str| {
        n += 1;
        let app = &app;
        let key = &key;
        async move {
            let response = app
                .request(
                    key,
                    Method::POST,
                    "/v1/transactions/withdraw",
                    Some(&body.to_string()),
                )
                .idempotency_key(&format!("refused-{n}"))
                .send()
                .await;
            let kind = if status == 404 {
                "not_found_error"
            } else {
                "invalid_request_error"
            };
            assert_error(response, status, kind, code).await;
        }
    };
    refused(withdraw(&fresh, "100.5"), 422, "insufficient_funds").await;
    refused(
        withdraw(&deleted_eth, "1"),
        422,
        "address_book_entry_not_active",
    )
    .await;
    refused(withdraw(&base, "1"), 422, "destination_network_mismatch").await;
    refused(withdraw(&usdc_only, "1"), 422, "destination_asset_mismatch").await;
    refused(withdraw(&fresh, "-1"), 422, "amount_signed").await;
    refused(
        withdraw("abe_nope", "1"),
        422,
        "invalid_address_book_entry_id",
    )
    .await;
    refused(
        withdraw("abe_01JFX0Q4ZK8D4W7T9YB3N5R2MC", "1"),
        404,
        "resource_not_found",
    )
    .await;
    let (status, _, _) = call(
        &app,
        &key,
        Method::PATCH,
        &format!("/v1/vaults/{vault_a}"),
        Some(r#"{"status":"Frozen"}"#),
    )
    .await;
    assert_eq!(status, 200);
    refused(withdraw(&fresh, "1"), 422, "vault_frozen").await;
    let (status, _, _) = call(
        &app,
        &key,
        Method::PATCH,
        &format!("/v1/vaults/{vault_a}"),
        Some(r#"{"status":"Active"}"#),
    )
    .await;
    assert_eq!(status, 200);
    let (vault_c, c) = funded(&app, &key, "archived", "USDT_ETHEREUM", "0").await;
    let (status, _, _) = call(
        &app,
        &key,
        Method::PATCH,
        &format!("/v1/vaults/{vault_c}"),
        Some(r#"{"status":"Archived"}"#),
    )
    .await;
    assert_eq!(status, 200);
    let mut from_archived = withdraw(&fresh, "1");
    from_archived["walletId"] = json!(c);
    refused(from_archived, 422, "vault_archived").await;

    // The key is required; scopes withdrawals:write and transactions:read.
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/transactions/withdraw",
            Some(&withdraw(&fresh, "1").to_string()),
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
    let transfers_only = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::TransfersWrite]),
        )
        .await;
    let response = app
        .request(
            &transfers_only,
            Method::POST,
            "/v1/transactions/withdraw",
            Some(&withdraw(&fresh, "1").to_string()),
        )
        .idempotency_key("scope")
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    for path in [
        "/v1/transactions".to_owned(),
        format!("/v1/transactions?vaultId={vault_a}"),
    ] {
        let response = app
            .request(&transfers_only, Method::GET, &path, None)
            .send()
            .await;
        assert_error(response, 403, "authorization_error", "missing_scope").await;
    }
    let response = app
        .request(
            &transfers_only,
            Method::POST,
            "/v1/transactions/tx_01JFX0R8M2Q6C1V9W3E5T7Y4KD/cancel",
            None,
        )
        .idempotency_key("scope-cancel")
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    // transactions:read alone may list by vault (no wallets:read needed).
    let reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::TransactionsRead]),
        )
        .await;
    let listed = list(
        &app,
        &reader,
        &format!("?vaultId={vault_a}&kind=Withdrawal"),
    )
    .await;
    assert_eq!(ids(&listed), Vec::<String>::new(), "nothing was accepted");

    assert_eq!(
        balances(&app, &key, &a).await,
        balances_of("100", "0", "0", "100")
    );
    app.assert_ledger_matches(&key, &[&a, &c]).await;
}

async fn concurrent_withdrawals_never_overdraw(engine: Engine) {
    const ATTEMPTS: usize = 32;
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (vault, a) = funded(&app, &key, "alice", "USDT_ETHEREUM", "100").await;
    let (status, entry) = add_entry(
        &app,
        &key,
        json!({"network": "ethereum", "address": EIP55, "label": "cold"}),
    )
    .await;
    assert_eq!(status, 201, "{entry}");
    let entry_id = str_of(&entry, "id").to_owned();

    // 32 withdrawals of 7 at once against 100: at most 14 fit.
    let body = json!({"walletId": a, "addressBookEntryId": entry_id, "amount": "7"});
    let results = join_all((0..ATTEMPTS).map(|i| {
        app.request(
            &key,
            Method::POST,
            "/v1/transactions/withdraw",
            Some(&body.to_string()),
        )
        .idempotency_key(&format!("race-{i}"))
        .send()
    }))
    .await;
    let mut accepted = 0u32;
    let mut insufficient = 0u32;
    for response in results {
        let (status, _, raw, json) = parts(response).await;
        match status {
            201 => {
                assert_eq!(json["status"], "Submitted");
                accepted += 1;
            }
            422 => {
                assert_eq!(json["error"]["code"], "insufficient_funds", "{json}");
                insufficient += 1;
            }
            other => panic!("unexpected {other}: {}", String::from_utf8_lossy(&raw)),
        }
    }
    eprintln!("{engine:?}: {accepted} accepted, {insufficient} insufficient_funds of {ATTEMPTS}");
    assert_eq!(accepted as usize + insufficient as usize, ATTEMPTS);
    assert!(accepted * 7 <= 100, "overdrawn: {accepted} × 7");
    assert_eq!(accepted, 14, "every withdrawal that fits is accepted");
    let held = accepted * 7;
    assert_eq!(
        balances(&app, &key, &a).await,
        balances_of(&(100 - held).to_string(), "0", &held.to_string(), "100")
    );
    let listed = list(
        &app,
        &key,
        &format!("?vaultId={vault}&kind=Withdrawal&limit=200"),
    )
    .await;
    assert_eq!(ids(&listed).len(), accepted as usize);
    app.assert_ledger_matches(&key, &[&a]).await;
}

/// A tenant with an address-book cooling-off period: a new entry is `Pending` until
/// `activatesAt`, listed under `status=Pending`, and a withdrawal to it is refused (422
/// `address_book_entry_not_active`) with nothing held.
async fn a_cooling_off_entry_is_pending_and_refuses_withdrawals(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = key.minted.record.tenant_id;
    app.store
        .shared()
        .tenants
        .set_address_book_cooling_off(tenant, Some(time::Duration::hours(24)))
        .await
        .expect("cooling-off set");
    let (_, a) = funded(&app, &key, "alice", "USDT_ETHEREUM", "100").await;
    let (status, entry) = add_entry(
        &app,
        &key,
        json!({"network": "ethereum", "address": EIP55.to_lowercase(), "label": "cold"}),
    )
    .await;
    assert_eq!(status, 201, "{entry}");
    assert_eq!(entry["status"], "Pending");
    let created = time::OffsetDateTime::parse(
        str_of(&entry, "createdAt"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("createdAt");
    let activates = time::OffsetDateTime::parse(
        str_of(&entry, "activatesAt"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("activatesAt");
    assert_eq!(activates - created, time::Duration::hours(24));
    let entry_id = str_of(&entry, "id").to_owned();
    let (status, _, pending) = call(
        &app,
        &key,
        Method::GET,
        "/v1/address-book?status=Pending",
        None,
    )
    .await;
    assert_eq!(status, 200, "{pending}");
    assert_eq!(ids(&pending), vec![entry_id.clone()]);
    let (_, _, active) = call(
        &app,
        &key,
        Method::GET,
        "/v1/address-book?status=Active",
        None,
    )
    .await;
    assert!(ids(&active).is_empty(), "{active}");

    let body = json!({"walletId": a, "addressBookEntryId": entry_id, "amount": "40"});
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/transactions/withdraw",
            Some(&body.to_string()),
        )
        .idempotency_key("wd-cooling")
        .send()
        .await;
    assert_error(
        response,
        422,
        "invalid_request_error",
        "address_book_entry_not_active",
    )
    .await;
    assert_eq!(
        balances(&app, &key, &a).await,
        balances_of("100", "0", "0", "100")
    );
    app.assert_ledger_matches(&key, &[&a]).await;
}

/// `?vaultId=` is part of the store's query: a vault's transactions behind more of other
/// vaults than a page holds still fill the page, and the cursor chains.
async fn a_vault_filter_fills_the_page_past_other_vaults(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (vault_a, a) = funded(&app, &key, "alice", "USDT_ETHEREUM", "100").await;
    let (_, b) = funded(&app, &key, "bob", "USDT_ETHEREUM", "100").await;
    let (_, c) = funded(&app, &key, "carol", "USDT_ETHEREUM", "0").await;
    let transfer = async |from: &str, to: &str, n: usize| {
        let body = json!({"sourceWalletId": from, "destinationWalletId": to, "amount": "1"});
        let (status, _, _, t) = post(
            &app,
            &key,
            "/v1/transactions/transfer",
            &body,
            &format!("vault-page-{n}"),
        )
        .await;
        assert_eq!(status, 201, "{t}");
        str_of(&t, "id").to_owned()
    };
    for n in 0..4 {
        transfer(&b, &c, n).await;
    }
    let first = transfer(&a, &b, 4).await;
    let second = transfer(&a, &c, 5).await;
    let deposit = ids(&list(&app, &key, &format!("?vaultId={vault_a}&kind=Deposit")).await);
    assert_eq!(deposit.len(), 1);

    let page = list(&app, &key, &format!("?vaultId={vault_a}&limit=2")).await;
    assert_eq!(ids(&page), vec![deposit[0].clone(), first.clone()]);
    assert_eq!(
        page["pagination"],
        json!({"hasMore": true, "nextCursor": first})
    );
    let page = list(
        &app,
        &key,
        &format!("?vaultId={vault_a}&limit=2&starting_after={first}"),
    )
    .await;
    assert_eq!(ids(&page), vec![second]);
    assert_eq!(page["pagination"]["hasMore"], false);
}

on_both_stores!(
    a_vault_filter_fills_the_page_past_other_vaults,
    transfer_moves_funds_at_once,
    a_cooling_off_entry_is_pending_and_refuses_withdrawals,
    transfer_refusals,
    withdraw_holds_then_cancel_returns,
    withdraw_refusals,
    concurrent_withdrawals_never_overdraw,
);
