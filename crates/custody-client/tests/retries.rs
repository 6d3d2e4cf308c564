//! Retry behaviour against a local stub: the same `Idempotency-Key` on every retry of one
//! logical request, `Retry-After` honoured, bounded attempts, no retry of a refusal.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{respond, Answer, Stub};
use custody_client::platform::CreateVault;
use custody_client::signing::hmac_canonical_string;
use custody_client::{Client, Credentials, Error, RetryPolicy};

const VAULT: &str = r#"{"id":"vlt_01M7YYKD6EXZNQT8E0MBE6S4KM","externalId":"cust-42","name":"Alice","metadata":{},"status":"Active","createdAt":"2026-11-21T11:41:54.254719Z"}"#;

fn envelope(status: u16, code: &str, retryable: bool) -> String {
    format!(
        r#"{{"error":{{"type":"x","code":"{code}","message":"m","status":{status},"requestId":"req_stub","retryable":{retryable}}}}}"#
    )
}

fn client(stub: &Stub, policy: RetryPolicy) -> Client {
    Client::builder(&stub.url, Credentials::hmac("key_01", "hmac_test_secret"))
        .retry(policy)
        .build()
        .expect("client")
}

fn fast() -> RetryPolicy {
    RetryPolicy::default().with_backoff(Duration::from_millis(10), Duration::from_millis(40))
}

async fn drain(stub: &mut Stub) -> Vec<common::Recorded> {
    let mut all = Vec::new();
    while let Some(r) = stub.next(Duration::from_millis(200)).await {
        all.push(r);
    }
    all
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_with_the_same_idempotency_key() {
    let mut stub = Stub::start(|n| match n {
        0 => respond(
            429,
            &[("retry-after", "1")],
            &envelope(429, "rate_limited", true),
        ),
        _ => respond(201, &[("x-request-id", "req_2")], VAULT),
    })
    .await;
    let vault = client(&stub, fast())
        .platform()
        .create_vault(&CreateVault::new().external_id("cust-42").name("Alice"))
        .await
        .expect("created after one retry");
    assert_eq!(vault.id, "vlt_01M7YYKD6EXZNQT8E0MBE6S4KM");
    let seen = drain(&mut stub).await;
    assert_eq!(seen.len(), 2, "one retry");
    let key0 = seen[0]
        .header("idempotency-key")
        .expect("a key on the first attempt");
    let key1 = seen[1]
        .header("idempotency-key")
        .expect("a key on the retry");
    assert_eq!(key0, key1, "the same logical request keeps its key");
    assert_eq!(seen[0].body, seen[1].body, "the same body");
    // Each attempt is signed for the bytes it carries, with its own timestamp.
    for r in &seen {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/v1/vaults");
        let ts = r.header("x-timestamp").expect("timestamp");
        let canonical = hmac_canonical_string(&ts, "POST", "/v1/vaults", &r.body);
        assert_eq!(
            r.header("x-signature").as_deref(),
            Some(custody_client::signing::hmac_signature("hmac_test_secret", &canonical).as_str())
        );
    }
    // Retry-After: 1 was waited for: the retry's timestamp is at least a second later.
    let t0: i64 = seen[0].header("x-timestamp").unwrap().parse().unwrap();
    let t1: i64 = seen[1].header("x-timestamp").unwrap().parse().unwrap();
    assert!(
        t1 > t0,
        "the retry was signed afresh after Retry-After ({t0} → {t1})"
    );
}

#[tokio::test]
async fn in_flight_5xx_and_hangups_are_retried_with_one_key() {
    let mut stub = Stub::start(|n| match n {
        0 => respond(
            409,
            &[("retry-after", "0")],
            &envelope(409, "idempotency_key_in_flight", true),
        ),
        1 => Answer::Hangup,
        2 => respond(503, &[], &envelope(503, "service_unavailable", true)),
        _ => respond(201, &[], VAULT),
    })
    .await;
    client(&stub, fast())
        .platform()
        .create_vault(&CreateVault::new())
        .await
        .expect("the fourth attempt succeeds");
    let seen = drain(&mut stub).await;
    assert_eq!(seen.len(), 4);
    let keys: std::collections::BTreeSet<_> = seen
        .iter()
        .map(|r| r.header("idempotency-key").expect("key"))
        .collect();
    assert_eq!(keys.len(), 1, "one key for all four attempts: {keys:?}");
}

#[tokio::test]
async fn retries_are_bounded_and_the_last_error_is_typed() {
    let mut stub = Stub::start(|_| {
        respond(
            503,
            &[("x-request-id", "req_stub")],
            &envelope(503, "provider_unavailable", true),
        )
    })
    .await;
    let err = client(&stub, fast().with_max_retries(2))
        .platform()
        .create_vault(&CreateVault::new())
        .await
        .expect_err("always 503");
    let api = err.api().expect("an API error");
    assert_eq!(api.status, 503);
    assert_eq!(api.code, "provider_unavailable");
    assert_eq!(api.attempts, 3);
    assert_eq!(api.request_id.as_deref(), Some("req_stub"));
    assert!(err.to_string().contains("after 3 attempts"), "{err}");
    assert_eq!(drain(&mut stub).await.len(), 3, "1 attempt + 2 retries");
}

#[tokio::test]
async fn refusals_are_not_retried() {
    for (status, code) in [
        (422, "insufficient_funds"),
        (409, "idempotency_conflict"),
        (502, "provider_rejected"),
        (401, "authentication_failed"),
    ] {
        let mut stub =
            Stub::start(move |_| respond(status, &[], &envelope(status, code, false))).await;
        let err = client(&stub, fast())
            .platform()
            .create_vault(&CreateVault::new())
            .await
            .expect_err("refused");
        assert_eq!(err.code(), Some(code));
        assert_eq!(drain(&mut stub).await.len(), 1, "{code}: sent once");
    }
}

#[tokio::test]
async fn reads_are_retried_without_a_key_and_logical_calls_get_fresh_keys() {
    let mut stub = Stub::start(|n| match n {
        0 => respond(500, &[], &envelope(500, "internal_error", false)),
        1 => respond(200, &[], VAULT),
        _ => respond(201, &[], VAULT),
    })
    .await;
    let client = client(&stub, fast());
    client
        .platform()
        .get_vault("vlt_01M7YYKD6EXZNQT8E0MBE6S4KM")
        .await
        .expect("second try");
    client
        .platform()
        .create_vault(&CreateVault::new())
        .await
        .expect("created");
    client
        .platform()
        .create_vault(&CreateVault::new())
        .await
        .expect("created");
    client
        .platform()
        .idempotency_key("my-own-key")
        .create_vault(&CreateVault::new())
        .await
        .expect("created");
    let seen = drain(&mut stub).await;
    assert_eq!(seen.len(), 5);
    assert!(
        seen[0].header("idempotency-key").is_none() && seen[1].header("idempotency-key").is_none()
    );
    let (a, b) = (
        seen[2].header("idempotency-key"),
        seen[3].header("idempotency-key"),
    );
    assert!(a.is_some() && b.is_some());
    assert_ne!(a, b, "two logical requests, two keys");
    assert_eq!(
        seen[4].header("idempotency-key").as_deref(),
        Some("my-own-key")
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_after_the_retries() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder(
        format!("http://127.0.0.1:{port}"),
        Credentials::bearer("sk_test_x"),
    )
    .retry(fast().with_max_retries(1))
    .build()
    .unwrap();
    match client.connect().balances(None).await {
        Err(Error::Transport { attempts, .. }) => assert_eq!(attempts, 2),
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// Two identical signed requests in one second share a signature (the Idempotency-Key is not
/// signed) and the server refuses the second as `signature_replayed` before doing anything: the
/// client signs it again in the next second, with the same key, even with retries off.
#[tokio::test]
async fn signature_replayed_is_signed_again_in_the_next_second() {
    let replayed = r#"{"error":{"type":"authentication_error","code":"signature_replayed","message":"m","status":401,"requestId":"req_1","retryable":false}}"#;
    let mut stub = Stub::start(move |n| match n {
        0 => respond(401, &[], replayed),
        _ => respond(201, &[], VAULT),
    })
    .await;
    client(&stub, RetryPolicy::never())
        .platform()
        .create_vault(&CreateVault::new())
        .await
        .expect("signed again and created");
    let seen = drain(&mut stub).await;
    assert_eq!(seen.len(), 2);
    let t0: i64 = seen[0].header("x-timestamp").unwrap().parse().unwrap();
    let t1: i64 = seen[1].header("x-timestamp").unwrap().parse().unwrap();
    assert!(t1 > t0, "a new timestamp, hence a new signature");
    assert_ne!(seen[0].header("x-signature"), seen[1].header("x-signature"));
    assert_eq!(
        seen[0].header("idempotency-key"),
        seen[1].header("idempotency-key")
    );
}
