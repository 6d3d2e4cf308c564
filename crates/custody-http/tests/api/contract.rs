//! Server behaviours issue 17's Schemathesis run found against the published contract: query
//! text errors are 400 everywhere, a 405 says what is allowed, a body must be a JSON object,
//! and error messages never name the server's own types.

use reqwest::{Method, Response};
use serde_json::Value;

use crate::helpers::{dialect_keys, spawn_app, Engine, Key};
use crate::on_both_stores;

async fn status_and_body(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// `?external_ref=` (empty) is a query-string text error: 400 on every list that takes it.
async fn an_empty_external_ref_in_a_query_is_400(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    for (key, path) in [
        (&k.connect, "/connect/v1/addresses?external_ref="),
        (&k.connect, "/connect/v1/balances?external_ref="),
        (&k.platform, "/v1/vaults?externalId="),
    ] {
        let response = app.request(key, Method::GET, path, None).send().await;
        let (status, body) = status_and_body(response).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "invalid_text", "{path}: {body}");
    }
}

/// RFC 9110 §15.5.6: a 405 carries `Allow` with the methods the path has.
async fn a_405_lists_the_allowed_methods(engine: Engine) {
    let app = spawn_app(engine).await;
    for (method, path, allow) in [
        (Method::DELETE, "/v1/vaults", "GET, POST"),
        (
            Method::PUT,
            "/v1/vaults/vlt_01J00000000000000000000000",
            "GET, PATCH",
        ),
        (Method::DELETE, "/connect/v1/addresses", "GET, POST"),
        (Method::POST, "/v1/assets", "GET"),
        (Method::POST, "/healthz", "GET"),
    ] {
        let response = app.anonymous(method.clone(), path, None).send().await;
        let header = response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, body) = status_and_body(response).await;
        assert_eq!(status, 405, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "method_not_allowed");
        assert_eq!(header.as_deref(), Some(allow), "{method} {path}");
    }
}

/// A JSON array (or any non-object) is not a body of named fields: 422 `invalid_field` on
/// `body`, nothing created, and the message names no Rust type.
async fn a_body_that_is_not_an_object_is_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    let cases: [(&Key, Method, &str, &str); 6] = [
        (&k.platform, Method::POST, "/v1/vaults", "[null,null,null]"),
        (&k.platform, Method::POST, "/v1/vaults", "[null, null]"),
        (
            &k.connect,
            Method::POST,
            "/connect/v1/addresses",
            r#"["USDT","ethereum","user-arr",null]"#,
        ),
        (&k.platform, Method::POST, "/v1/vaults", "null"),
        (&k.platform, Method::POST, "/v1/vaults", r#""x""#),
        (
            &k.accounts,
            Method::POST,
            "/v1/accounts/acc_01J00000000000000000000000/blockchain-addresses",
            "7",
        ),
    ];
    for (key, method, path, body) in cases {
        let response = app
            .request(key, method, path, Some(body))
            .idempotency_key(&format!("arr-{}", body.len()))
            .send()
            .await;
        let (status, reply) = status_and_body(response).await;
        let what = format!("{path} {body}");
        assert_eq!(status, 422, "{what}: {reply}");
        assert_eq!(reply["error"]["code"], "invalid_field", "{what}: {reply}");
        assert_eq!(reply["error"]["fieldErrors"][0]["field"], "body", "{what}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains("struct") && !message.contains("Request"),
            "{what}: {message}"
        );
    }
    // Nothing was created by the arrays.
    let response = app
        .request(&k.platform, Method::GET, "/v1/vaults", None)
        .send()
        .await;
    let (_, vaults) = status_and_body(response).await;
    assert_eq!(
        vaults["items"].as_array().map(Vec::len),
        Some(0),
        "{vaults}"
    );
    // Malformed JSON stays a 400, whatever it starts with.
    let response = app
        .request(&k.platform, Method::POST, "/v1/vaults", Some("[1,"))
        .send()
        .await;
    let (status, reply) = status_and_body(response).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["error"]["code"], "malformed_json");
}

/// A field of the wrong type is reported in the partner's words, not the server's types.
async fn field_errors_name_no_rust_type(engine: Engine) {
    let app = spawn_app(engine).await;
    let k = dialect_keys(&app).await;
    for body in [
        r#"{"metadata":[1]}"#,
        r#"{"metadata":"x"}"#,
        r#"{"name":{"a":1}}"#,
    ] {
        let response = app
            .request(&k.platform, Method::POST, "/v1/vaults", Some(body))
            .send()
            .await;
        let (status, reply) = status_and_body(response).await;
        assert_eq!(status, 422, "{body}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        for rust in ["struct", "BTreeMap", "String", "Option"] {
            assert!(!message.contains(rust), "{body}: {message}");
        }
    }
}

on_both_stores!(
    an_empty_external_ref_in_a_query_is_400,
    a_405_lists_the_allowed_methods,
    a_body_that_is_not_an_object_is_refused,
    field_errors_name_no_rust_type,
);
