//! `/v1/webhooks/outbound[…]` and delivery to a REAL local receiver (an actix server in the
//! test), on both stores: signatures of both schemes (and during a rotation), a receiver down
//! for a while, `410`, the retry schedule under an injected clock, SSRF refusals, concurrent
//! workers, and one tenant's dead receiver not delaying another's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use base64::Engine as _;
use custody_core::ports::{Clock as _, FixedClock};
use custody_core::services::{DeliverySettings, WebhookDelivery};
use custody_http::configuration::WebhooksSettings;
use custody_http::system::{OsIds, SystemClock};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::*;

// ---------------------------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------------------------

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

#[derive(Default)]
struct ReceiverState {
    /// The status answered (200 unless set).
    status: AtomicU16,
    /// Hold every request open until released.
    hang: AtomicBool,
    released: tokio::sync::Notify,
    received: Mutex<Vec<Received>>,
    arrived: tokio::sync::Notify,
    /// A `Retry-After` value to send.
    retry_after: Mutex<Option<String>>,
}

/// A local HTTP server recording what it receives.
struct Receiver {
    url: String,
    state: Arc<ReceiverState>,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        state.status.store(200, Ordering::SeqCst);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let shared = state.clone();
        let server = actix_web::HttpServer::new(move || {
            let shared = shared.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |req: actix_web::HttpRequest, body: actix_web::web::Bytes| {
                    let shared = shared.clone();
                    async move {
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| {
                                (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect();
                        shared.received.lock().unwrap().push(Received {
                            headers,
                            body: body.to_vec(),
                        });
                        shared.arrived.notify_waiters();
                        if shared.hang.load(Ordering::SeqCst) {
                            shared.released.notified().await;
                        }
                        let status = shared.status.load(Ordering::SeqCst);
                        let mut response = actix_web::HttpResponse::build(
                            actix_web::http::StatusCode::from_u16(status).expect("status"),
                        );
                        if let Some(after) = shared.retry_after.lock().unwrap().clone() {
                            response.insert_header(("Retry-After", after));
                        }
                        response.finish()
                    }
                },
            ))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hooks"),
            state,
        }
    }

    fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits (at most 30 s, then fails) until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
        loop {
            let arrived = self.state.arrived.notified();
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("only {} of {n} requests arrived", self.received().len());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// `PUT /v1/webhooks/outbound`: (status, body).
async fn configure(app: &TestApp, key: &Key, body: Value) -> (u16, Value) {
    let (status, _, json) = call(
        app,
        key,
        Method::PUT,
        "/v1/webhooks/outbound",
        Some(&body.to_string()),
    )
    .await;
    (status, json)
}

/// Configures `url` and returns the secret.
async fn configure_url(app: &TestApp, key: &Key, url: &str) -> String {
    let (status, body) = configure(app, key, json!({ "url": url })).await;
    assert_eq!(status, 200, "{body}");
    str_of(&body, "signingSecret").to_owned()
}

/// A delivery worker over the app's sandbox store with `clock` (no background task: tests
/// call `run_once`).
fn delivery(app: &TestApp, clock: Arc<FixedClock>, settings: DeliverySettings) -> WebhookDelivery {
    custody_http::startup::webhook_delivery(
        &app.store.environment(Environment::Sandbox),
        &app.store.shared(),
        clock,
        Arc::new(OsIds),
        settings,
    )
}

/// A clock a minute ahead of the app's, so what the app commits during the test is due.
fn fixed_now() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        SystemClock.now() + time::Duration::minutes(1),
    ))
}

/// Creates a vault (one `vault.created` event); returns its id.
async fn make_event(app: &TestApp, key: &Key, name: &str) -> String {
    let vault = create_vault(app, key, json!({ "externalId": name, "name": name })).await;
    str_of(&vault, "id").to_owned()
}

/// `GET /v1/webhooks/outbound/deliveries?{query}`.
async fn deliveries(app: &TestApp, key: &Key, query: &str) -> Vec<Value> {
    let (status, _, body) = call(
        app,
        key,
        Method::GET,
        &format!("/v1/webhooks/outbound/deliveries?{query}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().expect("items").clone()
}

fn hex_hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("key");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Verifies both schemes as a partner would (docs/webhooks.md), with `secret`: some entry of
/// each header matches.
fn verifies(received: &Received, secret: &str) -> bool {
    let body = &received.body;
    let x = hex::encode(hex_hmac(secret.as_bytes(), &[body]));
    let x_ok = received
        .header("x-webhook-signature")
        .split(' ')
        .any(|s| s == x);
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_"))
        .expect("base64");
    let id = received.header("webhook-id");
    let ts = received.header("webhook-timestamp");
    let expected = base64::engine::general_purpose::STANDARD.encode(hex_hmac(
        &key,
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    ));
    let standard_ok = received
        .header("webhook-signature")
        .split(' ')
        .any(|s| s.strip_prefix("v1,") == Some(expected.as_str()));
    x_ok && standard_ok
}

// ---------------------------------------------------------------------------------------------
// Endpoint management
// ---------------------------------------------------------------------------------------------

async fn endpoint_lifecycle(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let receiver = Receiver::start().await;

    // Nothing configured yet.
    let (status, _, body) = call(&app, &key, Method::GET, "/v1/webhooks/outbound", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["isConfigured"], false);
    assert_eq!(body["url"], Value::Null);

    // First configuration: the secret, once.
    let (status, body) = configure(
        &app,
        &key,
        json!({"url": receiver.url, "subscribedEventTypes": ["vault.created"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let secret = str_of(&body, "signingSecret").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&secret[6..])
            .expect("base64")
            .len(),
        32
    );
    assert_eq!(body["isConfigured"], true);
    assert_eq!(body["status"], "enabled");
    assert_eq!(body["subscribedEventTypes"], json!(["vault.created"]));

    // GET never shows it.
    let (_, _, body) = call(&app, &key, Method::GET, "/v1/webhooks/outbound", None).await;
    assert_eq!(body["url"], receiver.url.as_str());
    assert_eq!(body["signingSecret"], Value::Null);

    // Same URL again: no new secret, the subscription replaced (omitted: every type).
    let (status, body) = configure(&app, &key, json!({ "url": receiver.url })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["signingSecret"], Value::Null);
    assert!(body["subscribedEventTypes"]
        .as_array()
        .expect("types")
        .contains(&json!("transaction.status.updated")));

    // A new URL: a new secret.
    let other = receiver.url.replace("/hooks", "/other");
    let (status, body) = configure(&app, &key, json!({ "url": other })).await;
    assert_eq!(status, 200, "{body}");
    let second = str_of(&body, "signingSecret").to_owned();
    assert_ne!(second, secret);

    // Rotation: a new secret, the old one overlapping for 24 h.
    let (status, _, body) = call(
        &app,
        &key,
        Method::POST,
        "/v1/webhooks/outbound/rotate-secret",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let third = str_of(&body, "signingSecret");
    assert!(third.starts_with("whsec_") && third != second);
    assert_timestamp(&body["previousSecretExpiresAt"]);

    // Bad input: 422 with its code, nothing changed.
    for (body, code) in [
        (json!({"url": "ftp://example.com/x"}), "invalid_webhook_url"),
        (
            json!({"url": "http://example.com/x"}),
            "webhook_url_forbidden",
        ),
        (
            json!({"url": "https://10.0.0.1/x"}),
            "webhook_url_forbidden",
        ),
        (
            json!({"url": receiver.url, "subscribedEventTypes": ["vault.exploded"]}),
            "invalid_event_type",
        ),
        (
            json!({"url": receiver.url, "subscribedEventTypes": []}),
            "invalid_event_types",
        ),
    ] {
        let response = app
            .request(
                &key,
                Method::PUT,
                "/v1/webhooks/outbound",
                Some(&body.to_string()),
            )
            .send()
            .await;
        assert_error(response, 422, "invalid_request_error", code).await;
    }

    // Delete: gone; again: 404.
    let (status, _, body) = call(&app, &key, Method::DELETE, "/v1/webhooks/outbound", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["isConfigured"], false);
    let response = app
        .request(&key, Method::DELETE, "/v1/webhooks/outbound", None)
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;

    // Scopes: a read-only key may read, not write.
    let tenant = key.minted.record.tenant_id;
    let reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[custody_core::api_key::Scope::WebhooksRead]),
        )
        .await;
    let (status, _, _) = call(&app, &reader, Method::GET, "/v1/webhooks/outbound", None).await;
    assert_eq!(status, 200);
    let response = app
        .request(
            &reader,
            Method::PUT,
            "/v1/webhooks/outbound",
            Some(&json!({"url": receiver.url}).to_string()),
        )
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
}

async fn live_endpoints_refuse_internal_targets(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Approved).await;
    let key = app.key(tenant, KeySpec::live(KeyMode::Hmac)).await;
    let receiver = Receiver::start().await;
    let port = receiver.url.split(':').nth(2).expect("port");
    for url in [
        // Plain http, even to a public name.
        "http://hooks.example.com/x".to_owned(),
        // The local receiver, by address and by a name resolving to 127.0.0.1.
        receiver.url.replace("http://", "https://"),
        format!("https://localhost:{port}"),
        "https://[::1]/x".to_owned(),
        "https://10.1.2.3/x".to_owned(),
        "https://192.168.0.10/x".to_owned(),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[::ffff:169.254.169.254]/".to_owned(),
        "https://100.64.1.1/x".to_owned(),
    ] {
        let response = app
            .request(
                &key,
                Method::PUT,
                "/v1/webhooks/outbound",
                Some(&json!({ "url": url }).to_string()),
            )
            .send()
            .await;
        assert_error(
            response,
            422,
            "invalid_request_error",
            "webhook_url_forbidden",
        )
        .await;
    }
    let (_, _, body) = call(&app, &key, Method::GET, "/v1/webhooks/outbound", None).await;
    assert_eq!(body["isConfigured"], false, "nothing was configured");
    assert!(receiver.received().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------------------------

async fn deliveries_are_signed_with_both_schemes_and_during_rotation(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let receiver = Receiver::start().await;
    let secret = configure_url(&app, &key, &receiver.url).await;
    let clock = fixed_now();
    let worker = delivery(&app, clock.clone(), DeliverySettings::default());

    let vault = make_event(&app, &key, "alice").await;
    assert_eq!(worker.run_once().await.expect("pass").len(), 1);
    let got = receiver.wait_for(1).await;
    let first = &got[0];
    assert!(verifies(first, &secret), "{:?}", first.headers);
    assert_eq!(first.header("webhook-id"), first.header("x-webhook-id"));
    assert_eq!(
        first.header("webhook-timestamp"),
        clock.now().unix_timestamp().to_string()
    );
    assert_eq!(first.header("content-type"), "application/json");
    let envelope = first.json();
    assert_eq!(envelope["id"], first.header("webhook-id"));
    assert_eq!(envelope["type"], "vault.created");
    assert_eq!(envelope["data"]["resourceId"], vault.as_str());
    let records = deliveries(&app, &key, "").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["status"], "delivered");
    assert_eq!(records[0]["attempts"][0]["httpStatus"], 200);

    // Rotate: both secrets sign until the overlap ends.
    let (status, _, body) = call(
        &app,
        &key,
        Method::POST,
        "/v1/webhooks/outbound/rotate-secret",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let new_secret = str_of(&body, "signingSecret").to_owned();
    make_event(&app, &key, "bob").await;
    worker.run_once().await.expect("pass");
    let second = &receiver.wait_for(2).await[1];
    assert!(verifies(second, &secret), "old secret still verifies");
    assert!(verifies(second, &new_secret), "new secret verifies");
    assert_eq!(second.header("webhook-signature").split(' ').count(), 2);

    // After 24 h only the new one signs.
    clock.set(clock.now() + time::Duration::hours(25));
    make_event(&app, &key, "carol").await;
    worker.run_once().await.expect("pass");
    let third = &receiver.wait_for(3).await[2];
    assert!(verifies(third, &new_secret));
    assert!(!verifies(third, &secret));
}

async fn a_receiver_down_for_a_while_gets_every_event(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let receiver = Receiver::start().await;
    let secret = configure_url(&app, &key, &receiver.url).await;
    let clock = fixed_now();
    let worker = delivery(&app, clock.clone(), DeliverySettings::default());

    receiver.answer(503);
    let mut vaults = Vec::new();
    for name in ["a", "b", "c"] {
        vaults.push(make_event(&app, &key, name).await);
    }
    // Down for three attempts each.
    for _ in 0..3 {
        worker.run_once().await.expect("pass");
        clock.set(clock.now() + time::Duration::hours(1));
    }
    let pending = deliveries(&app, &key, "status=pending").await;
    assert_eq!(pending.len(), 3);
    for record in &pending {
        assert_eq!(record["attemptCount"], 3);
        assert_eq!(record["attempts"][0]["httpStatus"], 503);
        assert_eq!(record["attempts"][0]["error"], "HTTP 503");
    }

    // Back: every event arrives, signed.
    receiver.answer(200);
    worker.run_once().await.expect("pass");
    let delivered = deliveries(&app, &key, "status=delivered").await;
    assert_eq!(delivered.len(), 3);
    let got = receiver.received();
    let ok: Vec<&Received> = got.iter().skip(9).collect();
    assert_eq!(ok.len(), 3);
    let mut ids: Vec<String> = ok
        .iter()
        .map(|r| {
            assert!(verifies(r, &secret));
            r.json()["data"]["resourceId"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    ids.sort();
    vaults.sort();
    assert_eq!(ids, vaults);
}

async fn retries_follow_the_schedule(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let receiver = Receiver::start().await;
    configure_url(&app, &key, &receiver.url).await;
    let clock = fixed_now();
    let worker = delivery(&app, clock.clone(), DeliverySettings::default());
    receiver.answer(500);
    make_event(&app, &key, "v").await;

    let next_at = || async {
        let records = deliveries(&app, &key, "").await;
        let raw = records[0]["nextAttemptAt"].as_str().map(str::to_owned);
        raw.map(|r| {
            time::OffsetDateTime::parse(&r, &time::format_description::well_known::Rfc3339)
                .expect("time")
        })
    };
    for (attempt, step) in custody_core::webhook::RETRY_SCHEDULE.iter().enumerate() {
        let now = clock.now();
        assert_eq!(worker.run_once().await.expect("pass").len(), 1);
        let next = next_at().await.expect("retried");
        let wait = next - now;
        // The step, plus at most 20 % jitter (and whole-second wire precision).
        assert!(
            wait >= *step - time::Duration::seconds(1)
                && wait <= *step + *step * 0.2 + time::Duration::seconds(1),
            "attempt {}: waited {wait}, step {step}",
            attempt + 1
        );
        // Not due a moment before.
        clock.set(next - time::Duration::seconds(2));
        assert!(worker.run_once().await.expect("pass").is_empty());
        clock.set(next + time::Duration::seconds(1));
    }
    // The tenth attempt fails for good.
    worker.run_once().await.expect("pass");
    let records = deliveries(&app, &key, "status=failed").await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["attemptCount"], 10);
    assert_eq!(receiver.received().len(), 10);
}

async fn retry_after_is_honoured(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let receiver = Receiver::start().await;
    configure_url(&app, &key, &receiver.url).await;
    let clock = fixed_now();
    let worker = delivery(&app, clock.clone(), DeliverySettings::default());
    for (status, after, expected) in [
        (429, "600", time::Duration::seconds(600)),
        (503, "120", time::Duration::seconds(120)),
        // Longer than a day: capped at 24 h.
        (429, "999999", time::Duration::hours(24)),
    ] {
        receiver.answer(status);
        *receiver.state.retry_after.lock().unwrap() = Some(after.to_owned());
        make_event(&app, &key, &format!("v{status}{after}")).await;
        let now = clock.now();
        worker.run_once().await.expect("pass");
        let pending = deliveries(&app, &key, "status=pending").await;
        let record = pending.last().expect("pending");
        assert_eq!(record["attempts"][0]["httpStatus"], status);
        let next = time::OffsetDateTime::parse(
            record["nextAttemptAt"].as_str().expect("next"),
            &time::format_description::well_known::Rfc3339,
        )
        .expect("time");
        let wait = next - now;
        assert!(
            (wait - expected).abs() <= time::Duration::seconds(1),
            "{status} Retry-After {after}: waited {wait}"
        );
        // Done with it: deliver it now.
        receiver.answer(200);
        *receiver.state.retry_after.lock().unwrap() = None;
        let (code, _, _) = call(
            &app,
            &key,
            Method::POST,
            &format!("/v1/events/{}/redeliver", str_of(record, "eventId")),
            None,
        )
        .await;
        assert_eq!(code, 202);
        clock.set(clock.now() + time::Duration::seconds(1));
        worker.run_once().await.expect("pass");
    }
    assert!(deliveries(&app, &key, "status=pending").await.is_empty());
}

async fn gone_disables_the_endpoint_and_put_re_enables_it(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let receiver = Receiver::start().await;
    configure_url(&app, &key, &receiver.url).await;
    let clock = fixed_now();
    let worker = delivery(&app, clock.clone(), DeliverySettings::default());

    receiver.answer(410);
    make_event(&app, &key, "a").await;
    worker.run_once().await.expect("pass");
    let (_, _, endpoint) = call(&app, &key, Method::GET, "/v1/webhooks/outbound", None).await;
    assert_eq!(endpoint["status"], "disabled", "{endpoint}");
    assert_eq!(endpoint["disabledReason"], "endpoint_gone");
    assert_timestamp(&endpoint["disabledAt"]);
    let failed = deliveries(&app, &key, "status=failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["attempts"][0]["httpStatus"], 410);
    // The notice is an event in the log.
    let notices = deliveries(&app, &key, "eventType=webhook_endpoint.disabled").await;
    assert_eq!(notices.len(), 1, "{notices:?}");

    // While disabled nothing is sent: new events are skipped.
    receiver.answer(200);
    make_event(&app, &key, "b").await;
    worker.run_once().await.expect("pass");
    assert_eq!(receiver.received().len(), 1);
    let skipped = deliveries(&app, &key, "status=skipped").await;
    assert_eq!(skipped.len(), 2, "the notice and vault b: {skipped:?}");

    // PUT the same URL: enabled again, and the failed event redelivered on request.
    let (status, body) = configure(&app, &key, json!({ "url": receiver.url })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "enabled");
    assert_eq!(body["disabledReason"], Value::Null);
    let since = wire_time(clock.now() - time::Duration::hours(1));
    let (status, _, body) = call(
        &app,
        &key,
        Method::POST,
        "/v1/webhooks/outbound/redeliver-failed",
        Some(&json!({ "since": since }).to_string()),
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["count"], 1);
    worker.run_once().await.expect("pass");
    assert_eq!(receiver.received().len(), 2);
    // And a skipped one by id.
    let skipped_id = str_of(&skipped[1], "eventId").to_owned();
    let (status, _, body) = call(
        &app,
        &key,
        Method::POST,
        &format!("/v1/events/{skipped_id}/redeliver"),
        None,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "pending");
    worker.run_once().await.expect("pass");
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].header("webhook-id"), skipped_id);
    let response = app
        .request(
            &key,
            Method::POST,
            "/v1/events/evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC/redeliver",
            None,
        )
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;
}

fn wire_time(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

async fn repeated_failure_disables_the_endpoint(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let receiver = Receiver::start().await;
    configure_url(&app, &key, &receiver.url).await;
    let clock = fixed_now();
    let worker = delivery(&app, clock.clone(), DeliverySettings::default());
    receiver.answer(500);
    make_event(&app, &key, "a").await;
    worker.run_once().await.expect("pass");
    // Failing for 71 h: still enabled.
    clock.set(clock.now() + time::Duration::hours(71));
    worker.run_once().await.expect("pass");
    let (_, _, endpoint) = call(&app, &key, Method::GET, "/v1/webhooks/outbound", None).await;
    assert_eq!(endpoint["status"], "enabled");
    // 72 h of nothing but failures: disabled at the next failed attempt.
    clock.set(clock.now() + time::Duration::hours(24));
    worker.run_once().await.expect("pass");
    let (_, _, endpoint) = call(&app, &key, Method::GET, "/v1/webhooks/outbound", None).await;
    assert_eq!(endpoint["status"], "disabled", "{endpoint}");
    assert_eq!(endpoint["disabledReason"], "repeated_failure");
}

async fn test_send_answers_with_the_delivery(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let receiver = Receiver::start().await;
    let response = app
        .request(&key, Method::POST, "/v1/webhooks/outbound/test", None)
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "resource_not_found").await;

    let secret = configure_url(&app, &key, &receiver.url).await;
    let (status, _, body) =
        call(&app, &key, Method::POST, "/v1/webhooks/outbound/test", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["eventType"], "webhook.test");
    assert_eq!(body["status"], "delivered");
    assert_eq!(body["attemptCount"], 1);
    assert_eq!(body["attempts"][0]["httpStatus"], 200);
    assert_id(&body["attempts"][0]["id"], "whd_");
    let got = receiver.wait_for(1).await;
    assert!(verifies(&got[0], &secret));
    assert_eq!(got[0].header("webhook-id"), str_of(&body, "eventId"));
    assert_eq!(got[0].json()["type"], "webhook.test");

    // A failing receiver: the delivery says why and when it is tried again.
    receiver.answer(500);
    let (status, _, body) =
        call(&app, &key, Method::POST, "/v1/webhooks/outbound/test", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["attempts"][0]["error"], "HTTP 500");
    assert_timestamp(&body["nextAttemptAt"]);
}

/// Two workers (as two instances would) deliver 20 events: each arrives exactly once.
async fn concurrent_workers_never_double_send(engine: Engine) {
    let app = spawn_app(engine).await;
    let receiver = Receiver::start().await;
    let mut keys = Vec::new();
    for _ in 0..4 {
        let key = app.sandbox_key(KeyMode::Hmac).await;
        configure_url(&app, &key, &receiver.url).await;
        keys.push(key);
    }
    for i in 0..20 {
        make_event(&app, &keys[i % 4], &format!("v{i}")).await;
    }
    let settings = WebhooksSettings {
        poll_interval_ms: 20,
        concurrency: 4,
        per_tenant: 2,
        ..WebhooksSettings::default()
    };
    let spawn = || {
        let worker = custody_http::startup::webhook_delivery(
            &app.store.environment(Environment::Sandbox),
            &app.store.shared(),
            Arc::new(SystemClock),
            Arc::new(OsIds),
            settings.delivery(),
        );
        custody_http::workers::spawn_webhooks(&settings, vec![(Environment::Sandbox, worker)])
    };
    let (one, two) = (spawn(), spawn());
    let got = receiver.wait_for(20).await;
    // Every event is delivered (recorded) before the workers stop.
    for key in &keys {
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(30);
        while deliveries(&app, key, "status=delivered").await.len() < 5 {
            assert!(tokio::time::Instant::now() < deadline, "not all delivered");
            tokio::time::sleep(StdDuration::from_millis(50)).await;
        }
    }
    one.stop(StdDuration::from_secs(5)).await;
    two.stop(StdDuration::from_secs(5)).await;
    let got_after = receiver.received();
    assert_eq!(got_after.len(), 20, "nothing sent twice");
    let mut ids: Vec<&str> = got.iter().map(|r| r.header("webhook-id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 20);
}

/// Tenant A's receiver hangs; tenant B's event still arrives while A's request is held open.
async fn a_dead_receiver_does_not_delay_another_tenant(engine: Engine) {
    let app = spawn_app(engine).await;
    let dead = Receiver::start().await;
    dead.state.hang.store(true, Ordering::SeqCst);
    let alive = Receiver::start().await;
    let a = app.sandbox_key(KeyMode::Hmac).await;
    let b = app.sandbox_key(KeyMode::Hmac).await;
    configure_url(&app, &a, &dead.url).await;
    configure_url(&app, &b, &alive.url).await;
    // A first: the oldest due event is A's.
    for i in 0..3 {
        make_event(&app, &a, &format!("a{i}")).await;
    }
    make_event(&app, &b, "b0").await;
    let settings = WebhooksSettings {
        poll_interval_ms: 20,
        timeout_secs: 600,
        ..WebhooksSettings::default()
    };
    let worker = custody_http::startup::webhook_delivery(
        &app.store.environment(Environment::Sandbox),
        &app.store.shared(),
        Arc::new(SystemClock),
        Arc::new(OsIds),
        settings.delivery(),
    );
    let running =
        custody_http::workers::spawn_webhooks(&settings, vec![(Environment::Sandbox, worker)]);
    dead.wait_for(1).await;
    // B is delivered while A's first request is still unanswered.
    let got = alive.wait_for(1).await;
    assert_eq!(got[0].json()["type"], "vault.created");
    assert_eq!(
        dead.received().len(),
        1,
        "A's batch is sent in order, one at a time"
    );
    // A later B event is not held behind A either.
    make_event(&app, &b, "b1").await;
    alive.wait_for(2).await;
    dead.state.hang.store(false, Ordering::SeqCst);
    dead.state.released.notify_one();
    dead.wait_for(3).await;
    running.stop(StdDuration::from_secs(5)).await;
}

on_both_stores!(
    endpoint_lifecycle,
    live_endpoints_refuse_internal_targets,
    deliveries_are_signed_with_both_schemes_and_during_rotation,
    a_receiver_down_for_a_while_gets_every_event,
    retries_follow_the_schedule,
    retry_after_is_honoured,
    gone_disables_the_endpoint_and_put_re_enables_it,
    repeated_failure_disables_the_endpoint,
    test_send_answers_with_the_delivery,
    concurrent_workers_never_double_send,
    a_dead_receiver_does_not_delay_another_tenant,
);
