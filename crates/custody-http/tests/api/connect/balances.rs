//! `/connect/v1/balances[/{external_ref}]`: per user, unknown user, tenant-wide, fiat totals.

use super::*;
use crate::on_both_stores;

// ---------------------------------------------------------------------------------------------
// Balances
// ---------------------------------------------------------------------------------------------

/// The documented shape of a balances response.
fn assert_balances_shape(body: &Value) {
    assert_eq!(
        keys(body),
        ["balances", "external_ref", "totals", "valued_at"]
            .map(str::to_owned)
            .into_iter()
            .collect(),
        "{body}"
    );
    assert_rfc3339_utc(&body["valued_at"]);
    for line in body["balances"].as_array().expect("balances") {
        assert_eq!(
            keys(line),
            ["amount", "asset", "network"]
                .map(str::to_owned)
                .into_iter()
                .collect(),
            "{line}"
        );
    }
    for (currency, total) in body["totals"].as_object().expect("totals") {
        let total = total.as_str().expect("totals are strings");
        let (whole, cents) = total.split_once('.').expect("two decimal places");
        assert!(
            !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()),
            "{currency}: {total}"
        );
        assert!(
            cents.len() == 2 && cents.bytes().all(|b| b.is_ascii_digit()),
            "{currency}: {total}"
        );
    }
}

async fn balances_of_an_unknown_user_are_empty(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for path in [
        "/connect/v1/balances?external_ref=ghost",
        "/connect/v1/balances/ghost",
    ] {
        let body = get_ok(&app, &key, path).await;
        assert_balances_shape(&body);
        assert_eq!(body["external_ref"], "ghost");
        assert_eq!(body["balances"], json!([]));
        assert_eq!(body["totals"], json!({"usd": "0.00", "pen": "0.00"}));
    }
    // Looking did not create the user.
    let listed = get_ok(&app, &key, &format!("{ADDRESSES}?external_ref=ghost")).await;
    assert_eq!(listed["items"], json!([]));
    let reference = ExternalRef::parse("ghost".to_owned()).expect("ref");
    assert!(app
        .store
        .environment(Environment::Sandbox)
        .vaults
        .find_by_external_ref(tenant_of(&key), &reference)
        .await
        .is_err());
}

async fn balances_of_fresh_wallets_are_zero(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    mint(&app, &key, "USDT", "ethereum", Some("u1")).await;
    mint(&app, &key, "XAUT", "ethereum", Some("u1")).await;
    mint(&app, &key, "USDC", "solana", Some("u1")).await;
    let by_query = get_ok(&app, &key, "/connect/v1/balances?external_ref=u1").await;
    let by_path = get_ok(&app, &key, "/connect/v1/balances/u1").await;
    for body in [&by_query, &by_path] {
        assert_balances_shape(body);
        assert_eq!(body["external_ref"], "u1");
        let mut lines: Vec<(String, String, String)> = body["balances"]
            .as_array()
            .expect("balances")
            .iter()
            .map(|l| {
                (
                    l["asset"].as_str().expect("asset").to_owned(),
                    l["network"].as_str().expect("network").to_owned(),
                    l["amount"].as_str().expect("amount").to_owned(),
                )
            })
            .collect();
        lines.sort();
        assert_eq!(
            lines,
            vec![
                ("USDC".into(), "solana".into(), "0".into()),
                ("USDT".into(), "ethereum".into(), "0".into()),
                ("XAUT".into(), "ethereum".into(), "0".into()),
            ]
        );
        assert_eq!(body["totals"], json!({"usd": "0.00", "pen": "0.00"}));
    }
    let mut query = by_query.clone();
    let mut path = by_path.clone();
    query["valued_at"] = Value::Null;
    path["valued_at"] = Value::Null;
    assert_eq!(query, path, "both forms answer alike");
}

async fn balances_are_valued_with_sandbox_prices(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let (_, usdt) = mint(&app, &key, "USDT", "ethereum", Some("u1")).await;
    let (_, xaut) = mint(&app, &key, "XAUT", "ethereum", Some("u1")).await;
    let (_, other_user) = mint(&app, &key, "USDT", "ethereum", Some("u2")).await;
    let (_, treasury) = mint(&app, &key, "USDT", "ethereum", None).await;
    let (_, treasury_sol) = mint(&app, &key, "USDC", "solana", None).await;
    let usdt_eth = AssetId::parse("USDT_ETHEREUM").expect("asset");
    let xaut_eth = AssetId::parse("XAUT_ETHEREUM").expect("asset");
    let addr = |v: &Value| v["address"].as_str().expect("address").to_owned();
    fund(&app, usdt_eth, &addr(&usdt), 12_500_000, "dep-1").await; // 12.5 USDT
    fund(&app, xaut_eth, &addr(&xaut), 1_000, "dep-2").await; // 0.001 XAUT
    fund(&app, usdt_eth, &addr(&other_user), 2_500_000, "dep-3").await; // 2.5 USDT
    fund(&app, usdt_eth, &addr(&treasury), 1_000_000, "dep-4").await; // 1 USDT
    let _ = treasury_sol;

    let u1 = get_ok(&app, &key, "/connect/v1/balances/u1").await;
    assert_balances_shape(&u1);
    assert_eq!(
        u1["balances"],
        json!([
            {"asset": "USDT", "network": "ethereum", "amount": "12.5"},
            {"asset": "XAUT", "network": "ethereum", "amount": "0.001"},
        ])
    );
    // usd: 12.5 × 1.00 + 0.001 × 2650.00 = 15.15
    // pen: 12.5 × 3.75 + 0.001 × 2650 × 3.75 = 46.875 + 9.9375 = 56.8125 → 56.81
    assert_eq!(u1["totals"], json!({"usd": "15.15", "pen": "56.81"}));

    let u2 = get_ok(&app, &key, "/connect/v1/balances?external_ref=u2").await;
    assert_eq!(
        u2["balances"],
        json!([{"asset": "USDT", "network": "ethereum", "amount": "2.5"}])
    );
    // 2.5 × 3.75 = 9.375: two places exactly.
    assert_eq!(u2["totals"], json!({"usd": "2.50", "pen": "9.38"}));

    // Tenant-wide: every vault, the treasury included, summed per asset.
    let all = get_ok(&app, &key, "/connect/v1/balances").await;
    assert_balances_shape(&all);
    assert!(all
        .as_object()
        .expect("object")
        .contains_key("external_ref"));
    assert!(all["external_ref"].is_null(), "{all}");
    let mut lines: Vec<Value> = all["balances"].as_array().expect("balances").clone();
    lines.sort_by_key(|l| (l["asset"].to_string(), l["network"].to_string()));
    assert_eq!(
        lines,
        vec![
            json!({"asset": "USDC", "network": "solana", "amount": "0"}),
            json!({"asset": "USDT", "network": "ethereum", "amount": "16"}),
            json!({"asset": "XAUT", "network": "ethereum", "amount": "0.001"}),
        ]
    );
    // usd: 16 + 2.65 = 18.65; pen: 60 + 9.9375 = 69.9375 → 69.94
    assert_eq!(all["totals"], json!({"usd": "18.65", "pen": "69.94"}));

    // Another tenant sees none of it.
    let other = app.sandbox_key(KeyMode::Bearer).await;
    let theirs = get_ok(&app, &other, "/connect/v1/balances").await;
    assert_eq!(theirs["balances"], json!([]));
    let theirs = get_ok(&app, &other, "/connect/v1/balances/u1").await;
    assert_eq!(theirs["balances"], json!([]));
}

async fn balances_reject_bad_parameters(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let too_long = "r".repeat(256);
    for path in [
        format!("/connect/v1/balances?external_ref={too_long}"),
        format!("/connect/v1/balances/{too_long}"),
        "/connect/v1/balances?external_ref=".to_owned(),
        "/connect/v1/balances?user=u1".to_owned(),
    ] {
        let (status, _, _, body) =
            parts(app.request(&key, Method::GET, &path, None).send().await).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
    // Percent-encoded references are decoded, in the query and in the path.
    mint(&app, &key, "USDT", "ethereum", Some("a b")).await;
    for path in [
        "/connect/v1/balances?external_ref=a%20b",
        "/connect/v1/balances/a%20b",
    ] {
        let body = get_ok(&app, &key, path).await;
        assert_eq!(body["external_ref"], "a b", "{path}");
        assert_eq!(
            body["balances"].as_array().map(Vec::len),
            Some(1),
            "{path}: {body}"
        );
    }
}

on_both_stores!(
    balances_of_an_unknown_user_are_empty,
    balances_of_fresh_wallets_are_zero,
    balances_are_valued_with_sandbox_prices,
    balances_reject_bad_parameters,
);
