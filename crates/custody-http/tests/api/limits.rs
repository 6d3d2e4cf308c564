//! Issue 16 at the edge: rate limits per key and per tenant, the cap on addresses per wallet,
//! refusing unauthenticated bodies before reading them, the body-read deadline, per-address
//! in-flight bounds, strict percent-decoding, and which framework errors reach the envelope.

use std::time::{Duration, Instant};

use custody_core::api_key::KeyMode;
use custody_core::tenant::TenantStatus;
use futures::StreamExt as _;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{
    assert_error, generous_limits, parts, spawn_app, spawn_app_with, Engine, KeySpec, Options,
    TestApp,
};
use crate::on_both_stores;

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

// ---------------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------------

fn limited(per_key: u32, per_tenant: u32) -> Options {
    let mut limits = generous_limits();
    limits.rate.sandbox_per_key = per_key;
    limits.rate.sandbox_per_tenant = per_tenant;
    limits.rate.live_per_key = 1_000;
    limits.rate.live_per_tenant = 1_000;
    Options {
        limits,
        ..Options::default()
    }
}

/// One key floods: past its budget it gets 429 `rate_limited` with `Retry-After` and the
/// `X-RateLimit-*` headers; another tenant's requests meanwhile all succeed (their latency is
/// printed, not asserted).
async fn one_key_flooding_is_limited_and_others_are_not(engine: Engine) {
    let app = spawn_app_with(engine, limited(20, 40)).await;
    let flooder = app.sandbox_key(KeyMode::Bearer).await;
    let other = app.sandbox_key(KeyMode::Bearer).await;

    let flood = futures::stream::iter(0..300)
        .map(|_| {
            let app = &app;
            let key = &flooder;
            async move {
                parts(
                    app.request(key, Method::GET, "/connect/v1/addresses", None)
                        .send()
                        .await,
                )
                .await
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>();
    // The other tenant's baseline, alone (printed beside the figures under flood).
    let mut baseline = Vec::new();
    for i in 0..10 {
        let started = Instant::now();
        let response = app
            .request(
                &other,
                Method::POST,
                "/connect/v1/addresses",
                Some(
                    &json!({"asset": "USDT", "network": "ethereum", "external_ref": format!("b{i}")})
                        .to_string(),
                ),
            )
            .idempotency_key(&format!("baseline-{i}"))
            .send()
            .await;
        assert_eq!(response.status(), 201, "baseline {i}");
        baseline.push(started.elapsed());
    }
    baseline.sort();
    let others = async {
        let mut latencies = Vec::new();
        for i in 0..15 {
            let started = Instant::now();
            let response = app
                .request(&other, Method::POST, "/connect/v1/addresses", Some(
                    &json!({"asset": "USDT", "network": "ethereum", "external_ref": format!("u{i}")})
                        .to_string(),
                ))
                .idempotency_key(&format!("other-{i}"))
                .send()
                .await;
            let (status, headers, raw, _) = parts(response).await;
            latencies.push(started.elapsed());
            assert_eq!(status, 201, "{}", String::from_utf8_lossy(&raw));
            assert_eq!(header(&headers, "x-ratelimit-limit"), Some(20));
        }
        latencies
    };
    let (flood, mut latencies) = tokio::join!(flood, others);

    let ok = flood.iter().filter(|(s, ..)| *s == 200).count();
    let limited: Vec<_> = flood.iter().filter(|(s, ..)| *s == 429).collect();
    assert_eq!(ok + limited.len(), 300, "only 200 or 429");
    assert!(ok >= 20, "the burst passes: {ok}");
    assert!(
        !limited.is_empty(),
        "300 requests in a burst of 20 must be limited"
    );
    for (_, headers, raw, body) in &limited {
        assert_eq!(
            body["error"]["type"],
            "rate_limit_error",
            "{}",
            String::from_utf8_lossy(raw)
        );
        assert_eq!(body["error"]["code"], "rate_limited");
        assert_eq!(body["error"]["status"], 429);
        assert_eq!(body["error"]["retryable"], true);
        assert_eq!(
            body["error"]["requestId"].as_str(),
            headers.get("x-request-id").and_then(|v| v.to_str().ok())
        );
        assert!(header(headers, "retry-after").is_some_and(|s| s >= 1));
        assert_eq!(header(headers, "x-ratelimit-limit"), Some(20));
        assert_eq!(header(headers, "x-ratelimit-remaining"), Some(0));
        assert!(header(headers, "x-ratelimit-reset").is_some_and(|s| s >= 1));
    }
    for (_, headers, ..) in flood.iter().filter(|(s, ..)| *s == 200) {
        assert_eq!(header(headers, "x-ratelimit-limit"), Some(20));
        assert!(header(headers, "x-ratelimit-remaining").is_some_and(|r| r < 20));
        assert!(header(headers, "x-ratelimit-reset").is_some());
    }
    latencies.sort();
    println!(
        "rate limit flood ({engine:?}): {ok} passed, {} limited; other tenant's 15 POSTs under \
         the flood: p50 {:?}, max {:?} (10 POSTs alone before: p50 {:?}, max {:?})",
        limited.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        baseline[baseline.len() / 2],
        baseline[baseline.len() - 1]
    );
}

/// The tenant ceiling binds all its keys together; live keys have their own (higher) limit;
/// unauthenticated answers and `/healthz` carry no rate-limit headers; an error after
/// authentication does.
async fn tenant_ceiling_environments_and_headers(engine: Engine) {
    let app = spawn_app_with(engine, limited(5, 8)).await;
    let tenant = app.tenant(TenantStatus::Approved).await;
    let a = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let b = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let live = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let mut statuses = Vec::new();
    for key in [&a, &b, &a, &b, &a, &b, &a, &b, &a, &b] {
        let response = app
            .request(key, Method::GET, "/connect/v1/addresses", None)
            .send()
            .await;
        statuses.push(response.status().as_u16());
    }
    // Neither key spent its 5, but together they passed the tenant's 8 (unless a cell came
    // back meanwhile: then at most one more).
    let passed = statuses.iter().filter(|s| **s == 200).count();
    assert!((8..=9).contains(&passed), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");

    let response = app
        .request(&live, Method::GET, "/connect/v1/addresses", None)
        .send()
        .await;
    let (status, headers, ..) = parts(response).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-ratelimit-limit"), Some(1_000));

    // An error after authentication (404) carries the headers; a 401 and /healthz do not.
    let response = app
        .request(
            &live,
            Method::GET,
            "/connect/v1/addresses/ba_01J00000000000000000000000",
            None,
        )
        .send()
        .await;
    let (status, headers, ..) = parts(response).await;
    assert_eq!(status, 404);
    assert_eq!(header(&headers, "x-ratelimit-limit"), Some(1_000));
    let (status, headers, ..) = parts(
        app.anonymous(Method::GET, "/connect/v1/addresses", None)
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 401);
    assert!(headers.get("x-ratelimit-limit").is_none());
    let (status, headers, ..) =
        parts(app.anonymous(Method::GET, "/healthz", None).send().await).await;
    assert_eq!(status, 200);
    assert!(headers.get("x-ratelimit-limit").is_none());
}

/// A wallet holds at most `limits.max_addresses_per_wallet` addresses (the primary counts):
/// past it 422 `wallet_address_limit_reached`, and nothing is minted.
async fn addresses_per_wallet_are_capped(engine: Engine) {
    let mut limits = generous_limits();
    limits.resources.max_addresses_per_wallet = 3;
    let app = spawn_app_with(
        engine,
        Options {
            limits,
            ..Options::default()
        },
    )
    .await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let send = |method: Method, path: String, body: Value| {
        let app = &app;
        let key = &key;
        async move {
            parts(
                app.request(key, method, &path, Some(&body.to_string()))
                    .send()
                    .await,
            )
            .await
        }
    };
    let (status, _, _, vault) =
        send(Method::POST, "/v1/vaults".into(), json!({"name": "capped"})).await;
    assert_eq!(status, 201, "{vault}");
    let vault_id = vault["id"].as_str().unwrap().to_owned();
    let (status, _, _, wallet) = send(
        Method::POST,
        format!("/v1/vaults/{vault_id}/wallets"),
        json!({"assetId": "USDT_ETHEREUM"}),
    )
    .await;
    assert_eq!(status, 201, "{wallet}");
    let wallet_id = wallet["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/wallets/{wallet_id}/addresses");
    for _ in 0..2 {
        let (status, _, _, body) = send(Method::POST, path.clone(), json!({})).await;
        assert_eq!(status, 201, "{body}");
    }
    let response = app
        .request(&key, Method::POST, &path, Some("{}"))
        .send()
        .await;
    let body = assert_error(
        response,
        422,
        "invalid_request_error",
        "wallet_address_limit_reached",
    )
    .await;
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("3 addresses"));
    let (status, _, _, list) = parts(
        app.request(
            &key,
            Method::GET,
            &format!("/v1/vaults/{vault_id}/wallets"),
            None,
        )
        .send()
        .await,
    )
    .await;
    assert_eq!(status, 200, "{list}");
}

on_both_stores!(
    one_key_flooding_is_limited_and_others_are_not,
    tenant_ceiling_environments_and_headers,
    addresses_per_wallet_are_capped,
);

// ---------------------------------------------------------------------------------------------
// Bodies, connections and decoding (in memory: no store behaviour, SQLite only)
// ---------------------------------------------------------------------------------------------

/// What a raw exchange returned: the status line, the head, the body, and whether the server
/// closed the connection after answering.
struct Raw {
    status: u16,
    head: String,
    body: String,
    closed: bool,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }
}

fn port(app: &TestApp) -> u16 {
    app.address.rsplit(':').next().unwrap().parse().unwrap()
}

/// Writes `request` on a fresh connection and reads the answer (up to `wait`), then whether
/// the server closes the connection within `wait`.
async fn exchange(app: &TestApp, request: &[u8], wait: Duration) -> Raw {
    let mut stream = TcpStream::connect(("127.0.0.1", port(app))).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_answer(&mut stream, wait).await
}

async fn read_answer(stream: &mut TcpStream, wait: Duration) -> Raw {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut closed = false;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let complete = complete_response(&buf);
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => {
                assert!(
                    complete,
                    "no complete answer within {wait:?}: {:?}",
                    String::from_utf8_lossy(&buf)
                );
                break;
            }
        }
    }
    raw_answer(&buf, closed)
}

fn raw_answer(buf: &[u8], closed: bool) -> Raw {
    let text = String::from_utf8_lossy(buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Raw {
        status,
        head: head.to_owned(),
        body: body.to_owned(),
        closed,
    }
}

fn complete_response(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())?
    });
    length.is_none_or(|n| body.len() >= n)
}

fn assert_raw_envelope(raw: &Raw, status: u16, code: &str) {
    assert_eq!(raw.status, status, "{}\n{}", raw.head, raw.body);
    let body = raw.json();
    assert_eq!(body["error"]["code"], code, "{}", raw.body);
    assert_eq!(body["error"]["status"], status);
    assert_eq!(
        raw.header("x-request-id").as_deref(),
        body["error"]["requestId"].as_str(),
        "{}",
        raw.head
    );
}

fn stalled_post(path: &str, extra: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}Content-Length: 60000\r\n\r\n{{\"a\":"
    )
    .into_bytes()
}

/// A body-carrying request that names no key, a key of no known form, or an unknown key is
/// answered from its headers without waiting for the body (the `Idempotency-Key` check, then
/// 401, as without a body), and the connection is closed. Before issue 16 the server waited
/// for all 60 000 bytes first (these timed out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_bodies_are_refused_before_they_are_read() {
    let app = spawn_app(Engine::Sqlite).await;
    for extra in [
        "",
        "Authorization: Bearer nonsense\r\n",
        "Authorization: Bearer sk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n",
        "X-API-Key: key_01J00000000000000000000000\r\nX-Timestamp: 1\r\nX-Signature: ab\r\n",
    ] {
        for path in ["/connect/v1/addresses", "/v1/vaults"] {
            let with_key = format!("{extra}Idempotency-Key: k-1\r\n");
            let raw = exchange(&app, &stalled_post(path, &with_key), Duration::from_secs(5)).await;
            assert_raw_envelope(&raw, 401, "authentication_failed");
            assert!(raw.closed, "{extra}: the connection is closed");
        }
        // The header is still checked first where it is required.
        let raw = exchange(
            &app,
            &stalled_post("/connect/v1/addresses", extra),
            Duration::from_secs(5),
        )
        .await;
        assert_raw_envelope(&raw, 400, "idempotency_key_required");
        assert!(raw.closed);
    }
}

/// A known key's body must arrive within `server.body_read_timeout_ms`: past it 408
/// `request_timeout` and the connection is closed (before issue 16: never).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_times_out() {
    let mut limits = generous_limits();
    limits.connections.body_read_timeout_ms = 300;
    let app = spawn_app_with(
        Engine::Sqlite,
        Options {
            limits,
            ..Options::default()
        },
    )
    .await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let extra = format!(
        "Authorization: Bearer {}\r\nIdempotency-Key: slow-1\r\n",
        key.key()
    );
    let raw = exchange(
        &app,
        &stalled_post("/connect/v1/addresses", &extra),
        Duration::from_secs(10),
    )
    .await;
    assert_raw_envelope(&raw, 408, "request_timeout");
    assert!(raw.closed);
}

/// One client address may have `server.max_body_requests_per_ip` body-carrying requests in
/// flight; the next is 429 `too_many_requests_in_flight` at once (connection closed), while
/// body-less requests still pass. The slots come back when the stalled requests end.
///
/// No step depends on timing: the read deadline lies far beyond the test, so only the test
/// ends a stalled request (by sending the rest of its body). Four requests stall for three
/// slots: whichever the server reaches last is refused, and from then on every slot is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_requests_in_flight_per_address_are_bounded() {
    let mut limits = generous_limits();
    limits.connections.body_read_timeout_ms = 3_600_000;
    limits.connections.max_body_requests_per_ip = 3;
    let app = spawn_app_with(
        Engine::Sqlite,
        Options {
            limits,
            ..Options::default()
        },
    )
    .await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let extra = format!("Authorization: Bearer {}\r\n", key.key());
    let mut writers = Vec::new();
    let mut answers = futures::stream::FuturesUnordered::new();
    for n in 0..4 {
        let mut stream = TcpStream::connect(("127.0.0.1", port(&app))).await.unwrap();
        stream
            .write_all(&stalled_post("/connect/v1/addresses", &extra))
            .await
            .unwrap();
        let (mut read, write) = stream.into_split();
        writers.push(write);
        answers.push(tokio::spawn(async move {
            (n, read_until_answered(&mut read).await)
        }));
    }
    let (refused, raw) = answers.next().await.expect("an answer").expect("reader");
    assert_raw_envelope(&raw, 429, "too_many_requests_in_flight");
    assert!(raw.closed, "a refused request's connection is closed");

    // Every slot is held: a complete request is refused, a body-less one passes.
    let create = |reference: &str| {
        app.request(
            &key,
            Method::POST,
            "/connect/v1/addresses",
            Some(
                &json!({"asset": "USDT", "network": "ethereum", "external_ref": reference})
                    .to_string(),
            ),
        )
        .idempotency_key(reference)
    };
    let (status, headers, _, body) = parts(create("probe").send().await).await;
    assert_eq!(
        status, 429,
        "a fourth body request from one address is refused: {body}"
    );
    assert_eq!(
        body["error"]["code"], "too_many_requests_in_flight",
        "{body}"
    );
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(header(&headers, "retry-after"), Some(1));
    let response = app
        .request(&key, Method::GET, "/connect/v1/addresses", None)
        .send()
        .await;
    assert_eq!(response.status(), 200, "body-less requests are not counted");

    // The three held requests end when the rest of their bodies arrives: each reaches the
    // handler (which refuses the body), none is refused for want of a slot.
    let mut rest = b"\"".to_vec();
    rest.resize(60_000 - "{\"a\":".len() - 2, b'x');
    rest.extend_from_slice(b"\"}");
    for (n, writer) in writers.iter_mut().enumerate() {
        if n != refused {
            writer.write_all(&rest).await.unwrap();
        }
    }
    let mut held = 0;
    while let Some(answer) = answers.next().await {
        let (_, raw) = answer.expect("reader");
        assert_eq!(raw.status, 400, "{}\n{}", raw.head, raw.body);
        assert_ne!(raw.json()["error"]["code"], "too_many_requests_in_flight");
        held += 1;
    }
    assert_eq!(
        held, 3,
        "three held the three slots until their bodies came"
    );
    let response = create("after-stall").send().await;
    assert_eq!(response.status(), 201, "the slots came back");
}

/// Reads one HTTP answer: until it is complete (by its `Content-Length`) or the server closes
/// the connection, with no deadline; `closed` when the server closed it.
async fn read_until_answered(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> Raw {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut closed = false;
    while !complete_response(&buf) {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    if !closed && close_requested(&buf) {
        // The server closes after a refusal: wait for it.
        closed = matches!(stream.read(&mut chunk).await, Ok(0) | Err(_));
    }
    raw_answer(&buf, closed)
}

fn close_requested(buf: &[u8]) -> bool {
    let text = String::from_utf8_lossy(buf);
    text.split_once("\r\n\r\n").is_some_and(|(head, _)| {
        head.lines().any(|l| {
            l.split_once(':').is_some_and(|(k, v)| {
                k.eq_ignore_ascii_case("connection") && v.trim().eq_ignore_ascii_case("close")
            })
        })
    })
}

/// A declared body over the limit is 413 before it is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_oversized_body_is_refused_unread() {
    let app = spawn_app(Engine::Sqlite).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let request = format!(
        "POST /connect/v1/addresses HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{{",
        key.key()
    );
    let raw = exchange(&app, request.as_bytes(), Duration::from_secs(5)).await;
    assert_raw_envelope(&raw, 413, "payload_too_large");
    assert!(raw.closed);
}

/// `%zz` and escapes that are not UTF-8 (`%ff`) in a path or a query are 400, not decoded
/// leniently (before issue 16 `%ff` became U+FFFD and the request was served).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_and_queries_must_be_well_formed_percent_encoded_utf8() {
    let app = spawn_app(Engine::Sqlite).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    for (path, code) in [
        ("/connect/v1/balances/user%ff", "invalid_path"),
        ("/connect/v1/balances/user%zz", "invalid_path"),
        ("/connect/v1/balances/%C3", "invalid_path"),
        (
            "/connect/v1/addresses?external_ref=%ff",
            "invalid_query_parameter",
        ),
        (
            "/connect/v1/addresses?external_ref=a%zzb",
            "invalid_query_parameter",
        ),
        ("/healthz?x=%ff", "invalid_query_parameter"),
    ] {
        let response = app.request(&key, Method::GET, path, None).send().await;
        assert_error(response, 400, "invalid_request_error", code).await;
    }
    // Well-formed escapes still work.
    let response = app
        .request(
            &key,
            Method::GET,
            "/connect/v1/addresses?external_ref=caf%C3%A9",
            None,
        )
        .send()
        .await;
    assert_eq!(response.status(), 200);
}

/// Framework-level errors: what actix hands to the application is in the envelope (a body that
/// is not UTF-8 JSON, unknown routes and methods, too large bodies: see errors.rs); what its
/// HTTP/1 codec answers itself (malformed `Content-Length`, `Content-Length` with
/// `Transfer-Encoding`, a head over 128 KiB or over 96 headers, unknown HTTP versions) is a
/// bare status with no body and no `X-Request-Id`, documented in
/// docs/errors-and-conventions.md. These pin both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framework_errors_in_and_outside_the_envelope() {
    let app = spawn_app(Engine::Sqlite).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let auth = format!("Authorization: Bearer {}\r\n", key.key());
    let wait = Duration::from_secs(5);

    // A body that is not UTF-8.
    let mut request = format!(
        "POST /connect/v1/addresses HTTP/1.1\r\nHost: x\r\n{auth}Idempotency-Key: fw-2\r\n\
         Content-Type: application/json\r\nContent-Length: 4\r\n\r\n"
    )
    .into_bytes();
    request.extend_from_slice(b"{\xff}\n");
    let raw = exchange(&app, &request, wait).await;
    assert_raw_envelope(&raw, 400, "malformed_json");

    // The codec's own answers: no envelope, no request id (documented).
    for (request, status) in [
        (
            "POST /connect/v1/addresses HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
                .to_owned(),
            400,
        ),
        (
            "POST /connect/v1/addresses HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\
             Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_owned(),
            400,
        ),
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "a".repeat(140_000)
            ),
            431,
        ),
        (
            format!(
                "GET /healthz HTTP/1.1\r\nHost: x\r\n{}\r\n",
                (0..100)
                    .map(|i| format!("X-H{i}: v\r\n"))
                    .collect::<String>()
            ),
            431,
        ),
        ("GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_owned(), 400),
    ] {
        let raw = exchange(&app, request.as_bytes(), wait).await;
        assert_eq!(raw.status, status, "{}", raw.head);
        assert!(raw.header("x-request-id").is_none(), "{}", raw.head);
    }
}

/// Bidirectional controls and zero-width characters are refused in references, names and
/// labels: 422 `invalid_text` in a body, 400 in a path (before issue 16 they were stored).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invisible_characters_are_refused_in_text() {
    let app = spawn_app(Engine::Sqlite).await;
    let platform = app.sandbox_key(KeyMode::Hmac).await;
    let connect = app.sandbox_key(KeyMode::Bearer).await;
    for (field, value) in [
        ("externalId", "cust\u{202E}24"),
        ("name", "Alice\u{200B}"),
        ("name", "\u{FEFF}Bob"),
        ("externalId", "a\u{2066}b"),
    ] {
        let body = json!({ field: value }).to_string();
        let response = app
            .request(&platform, Method::POST, "/v1/vaults", Some(&body))
            .send()
            .await;
        let error = assert_error(response, 422, "invalid_request_error", "invalid_text").await;
        assert_eq!(error["error"]["fieldErrors"][0]["field"], field);
        assert!(error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("zero-width"));
    }
    let body =
        json!({"asset": "USDT", "network": "ethereum", "external_ref": "u\u{200D}1", "label": "x"})
            .to_string();
    let response = app
        .request(&connect, Method::POST, "/connect/v1/addresses", Some(&body))
        .idempotency_key("bidi-1")
        .send()
        .await;
    assert_error(response, 422, "invalid_request_error", "invalid_text").await;
    let response = app
        .request(
            &connect,
            Method::GET,
            "/connect/v1/balances/user%E2%80%8B",
            None,
        )
        .send()
        .await;
    assert_error(response, 400, "invalid_request_error", "invalid_text").await;
}
