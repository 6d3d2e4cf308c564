//! The first call of each dialect works on both stores.

use custody_core::api_key::KeyMode;
use reqwest::Method;

use crate::helpers::{parts, spawn_app, Engine};
use crate::on_both_stores;

async fn each_dialect_answers(engine: Engine) {
    let app = spawn_app(engine).await;
    let bearer = app.sandbox_key(KeyMode::Bearer).await;
    let (status, _, _, body) = parts(
        app.request(
            &bearer,
            Method::POST,
            "/connect/v1/addresses",
            Some(r#"{"asset":"usdt","network":"Ethereum","external_ref":"u1"}"#),
        )
        .idempotency_key("smoke-1")
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["asset"], "USDT");
    assert_eq!(body["network"], "ethereum");
    assert_eq!(body["external_ref"], "u1");

    let hmac = app.sandbox_key(KeyMode::Hmac).await;
    let (status, _, _, body) = parts(
        app.request(&hmac, Method::GET, "/v1/assets", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(8));

    let ed = app.sandbox_key(KeyMode::Ed25519).await;
    let (status, _, _, body) = parts(
        app.request(
            &ed,
            Method::GET,
            "/v1/accounts/acc_01J00000000000000000000000/balances",
            None,
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(app.live_provider.mints(), 0);
}

on_both_stores!(each_dialect_answers);
