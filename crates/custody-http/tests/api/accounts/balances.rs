//! `/v1/accounts/{accountId}/balances`.

use super::*;
use crate::on_both_stores;

async fn balances_of_an_account(engine: Engine) {
    let app = spawn_app(engine).await;
    let t = tenant(&app).await;
    let wallet = account_via_platform(&app, &t, "frank", "USDT_ETHEREUM").await;
    let account = str_of(&wallet, "id");
    let (status, headers, body) = call(
        &app,
        &t.accounts,
        Method::GET,
        &format!("/v1/accounts/{account}/balances"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(
        body,
        json!({"items": [
            {"type": "available", "currency": "USDT", "amount": "0"},
            {"type": "pending", "currency": "USDT", "amount": "0"},
            {"type": "held", "currency": "USDT", "amount": "0"},
            {"type": "total", "currency": "USDT", "amount": "0"},
        ]})
    );
}

on_both_stores!(balances_of_an_account,);
