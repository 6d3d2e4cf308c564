//! Prometheus metrics (issue 16): a running server's metrics listener is scraped before and
//! after known requests, and each series must exist with the right labels and have grown by
//! exactly what was sent.
//!
//! Its own test binary: the recorder is process-wide, so no other test's requests may be
//! counted in between; the scenarios here take a lock and run one at a time.
// Scenarios are `async fn(Engine)` run by `on_both_stores!`: a failed expectation is the test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "api/helpers.rs"]
mod helpers;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use custody_conformance::fixtures::{address_id, tenant_id, usdt_eth, vault_id, wallet_id};
use custody_conformance::provider::CountingProvider;
use custody_core::api_key::KeyMode;
use custody_core::ports::MintRequest;
use custody_core::tenant::TenantStatus;
use custody_http::metrics::MeteredProvider;
use helpers::{generous_limits, spawn_app_with, Engine, KeySpec, Options, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::Value;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A scrape: series (name and sorted labels) → value.
#[derive(Debug)]
struct Scrape(BTreeMap<String, f64>);

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut series = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (name_labels, value) = line.rsplit_once(' ').expect("name value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
            let key = match name_labels.split_once('{') {
                None => name_labels.to_owned(),
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("closing brace");
                    let mut pairs: Vec<&str> = labels.split("\",").collect();
                    for pair in &mut pairs {
                        *pair = pair.trim_end_matches('"');
                    }
                    pairs.sort_unstable();
                    let joined: Vec<String> = pairs.iter().map(|p| format!("{p}\"")).collect();
                    format!("{name}{{{}}}", joined.join(","))
                }
            };
            series.insert(key, value);
        }
        Scrape(series)
    }

    /// The value of `name` with exactly these labels (any order), 0 when absent.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or(0.0)
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        pairs.sort_unstable();
        let key = if pairs.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", pairs.join(","))
        };
        self.0.get(&key).copied()
    }

    fn names_containing(&self, needle: &str) -> Vec<&String> {
        self.0.keys().filter(|k| k.contains(needle)).collect()
    }
}

async fn scrape(app: &TestApp) -> Scrape {
    let address = app.metrics_address.as_ref().expect("metrics listener");
    let response = app
        .client
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(&response.text().await.expect("text"))
}

async fn metered_app(engine: Engine) -> TestApp {
    let mut limits = generous_limits();
    // Live keys: 2 per key, 3 per tenant, to see both scopes refuse.
    limits.rate.live_per_key = 2;
    limits.rate.live_per_tenant = 3;
    spawn_app_with(
        engine,
        Options {
            limits,
            metrics: true,
            ..Options::default()
        },
    )
    .await
}

const REQUESTS: &str = "custody_http_requests_total";
const DURATION_COUNT: &str = "custody_http_request_duration_seconds_count";

async fn requests_auth_rate_limits_and_idempotency_are_counted(engine: Engine) {
    let _one = ONE_AT_A_TIME.lock().await;
    let app = metered_app(engine).await;
    let before = scrape(&app).await;

    // Three health checks; a request with an unknown method.
    for _ in 0..3 {
        let r = app.anonymous(Method::GET, "/healthz", None).send().await;
        assert_eq!(r.status(), StatusCode::OK);
    }
    let odd = Method::from_bytes(b"FROBNICATE").expect("method");
    app.anonymous(odd, "/healthz", None).send().await;

    // A vault created, its idempotent replay, and the key reused for another body.
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let created = app
        .request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"m-1"}"#),
        )
        .idempotency_key("metrics-1")
        .send()
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let vault: Value = created.json().await.expect("vault");
    let vault_id = vault["id"].as_str().expect("id").to_owned();
    let replayed = app
        .request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"m-1"}"#),
        )
        .idempotency_key("metrics-1")
        .send()
        .await;
    assert_eq!(replayed.headers()["idempotency-replayed"], "true");
    let conflict = app
        .request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"m-2"}"#),
        )
        .idempotency_key("metrics-1")
        .send()
        .await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let read = app
        .request(&key, Method::GET, &format!("/v1/vaults/{vault_id}"), None)
        .send()
        .await;
    assert_eq!(read.status(), StatusCode::OK);

    // Two authentication failures: an unknown key, no key.
    let r = app
        .anonymous(Method::GET, "/v1/vaults", None)
        .header("x-api-key", "sk_test_doesnotexist")
        .send()
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.anonymous(Method::GET, "/v1/vaults", None).send().await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Rate limits: key A spends its 2 and is refused once (key); key B of the same tenant gets
    // the tenant's third and is refused once (tenant).
    let tenant = app.tenant(TenantStatus::Approved).await;
    let a = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let b = app.key(tenant, KeySpec::live(KeyMode::Bearer)).await;
    let mut statuses = Vec::new();
    for key in [&a, &a, &a, &b, &b] {
        let r = app
            .request(key, Method::GET, "/connect/v1/balances", None)
            .send()
            .await;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );

    let after = scrape(&app).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };

    let health = [("method", "GET"), ("route", "/healthz"), ("status", "200")];
    assert_eq!(grew(REQUESTS, &health), 3.0);
    assert_eq!(grew(DURATION_COUNT, &health), 3.0);
    assert!(after
        .get(
            "custody_http_request_duration_seconds_bucket",
            &[
                ("method", "GET"),
                ("route", "/healthz"),
                ("status", "200"),
                ("le", "+Inf")
            ]
        )
        .is_some());
    assert_eq!(
        grew(
            REQUESTS,
            &[
                ("method", "other"),
                ("route", "/healthz"),
                ("status", "405")
            ]
        ) + grew(
            REQUESTS,
            &[
                ("method", "other"),
                ("route", "(unmatched)"),
                ("status", "404")
            ]
        ) + grew(
            REQUESTS,
            &[
                ("method", "other"),
                ("route", "/healthz"),
                ("status", "404")
            ]
        ),
        1.0,
        "an unknown method is labelled other: {:?}",
        after.names_containing("\"other\"")
    );
    assert!(after.names_containing("FROBNICATE").is_empty());
    let vaults = |status: &str| {
        grew(
            REQUESTS,
            &[
                ("method", "POST"),
                ("route", "/v1/vaults"),
                ("status", status),
            ],
        )
    };
    assert_eq!(
        vaults("201"),
        2.0,
        "the creation and its replay (the stored 201)"
    );
    assert_eq!(vaults("409"), 1.0);
    // The route pattern, never the raw path.
    assert_eq!(
        grew(
            REQUESTS,
            &[
                ("method", "GET"),
                ("route", "/v1/vaults/{vaultId}"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert!(
        after.names_containing(&vault_id).is_empty(),
        "no raw ids in labels"
    );

    let env = [("environment", "sandbox")];
    assert_eq!(grew("custody_idempotency_replays_total", &env), 1.0);
    assert_eq!(
        grew(
            "custody_idempotency_conflicts_total",
            &[("environment", "sandbox"), ("reason", "different_request")]
        ),
        1.0
    );
    assert_eq!(
        grew("custody_auth_failures_total", &[("reason", "unknown_key")]),
        1.0
    );
    assert_eq!(
        grew(
            "custody_auth_failures_total",
            &[("reason", "key_has_no_environment_prefix")]
        ),
        1.0
    );
    assert_eq!(
        grew("custody_rate_limit_rejections_total", &[("scope", "key")]),
        1.0
    );
    assert_eq!(
        grew(
            "custody_rate_limit_rejections_total",
            &[("scope", "tenant")]
        ),
        1.0
    );
    // No tenant or key id anywhere.
    assert!(after.names_containing(&tenant.to_string()).is_empty());
    assert!(after.names_containing(&a.id()).is_empty());
}

async fn queues_pools_and_workers_are_gauged(engine: Engine) {
    let _one = ONE_AT_A_TIME.lock().await;
    let app = metered_app(engine).await;
    let ticker = app
        .liveness
        .register("webhook_delivery.sandbox", Duration::from_millis(500));
    ticker.tick();
    let before = scrape(&app).await;
    for status in [
        "submitted",
        "pending_signature",
        "broadcasting",
        "confirming",
    ] {
        for environment in ["sandbox", "live"] {
            let labels = [("environment", environment), ("status", status)];
            assert_eq!(
                before.get("custody_withdrawals_open", &labels),
                Some(0.0),
                "{labels:?}"
            );
            assert_eq!(
                before.get("custody_withdrawals_oldest_age_seconds", &labels),
                Some(0.0)
            );
            assert_eq!(
                before.get("custody_withdrawals_flagged", &labels),
                Some(0.0)
            );
        }
    }
    let pending = |s: &Scrape| {
        s.get(
            "custody_webhook_events_pending",
            &[("environment", "sandbox")],
        )
    };
    assert_eq!(pending(&before), Some(0.0));
    assert_eq!(
        before.get("custody_webhook_events_due", &[("environment", "live")]),
        Some(0.0)
    );
    assert_eq!(
        before.get(
            "custody_webhook_delivery_lag_seconds",
            &[("environment", "live")]
        ),
        Some(0.0)
    );
    assert_eq!(before.get("custody_store_up", &[]), Some(1.0));
    let pool = match engine {
        Engine::Sqlite => "sqlite_writer",
        Engine::Postgres => "postgres",
    };
    assert!(before
        .get("custody_db_pool_max_connections", &[("pool", pool)])
        .is_some_and(|m| m >= 1.0));
    assert!(before
        .get(
            "custody_db_pool_connections",
            &[("pool", pool), ("state", "idle")]
        )
        .is_some());
    assert!(before
        .get(
            "custody_db_pool_connections",
            &[("pool", pool), ("state", "in_use")]
        )
        .is_some());
    let worker = [("worker", "webhook_delivery.sandbox")];
    assert!(before
        .get("custody_worker_last_tick_age_seconds", &worker)
        .is_some_and(|age| age < 60.0));
    assert_eq!(before.get("custody_worker_stalled", &worker), Some(0.0));
    assert!(before
        .get("custody_process_uptime_seconds", &[])
        .is_some_and(|s| s > 0.0));

    // A vault created: its event waits in the outbox (no delivery worker runs here).
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let created = app
        .request(
            &key,
            Method::POST,
            "/v1/vaults",
            Some(r#"{"externalId":"q-1"}"#),
        )
        .idempotency_key("q-1")
        .send()
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    // A stalled delivery loop.
    app.liveness
        .backdate("webhook_delivery.sandbox", Duration::from_secs(3_600));
    let after = scrape(&app).await;
    assert_eq!(pending(&after), Some(1.0));
    assert_eq!(
        after.get("custody_webhook_events_due", &[("environment", "sandbox")]),
        Some(1.0)
    );
    assert!(after
        .get(
            "custody_webhook_delivery_lag_seconds",
            &[("environment", "sandbox")]
        )
        .is_some_and(|lag| lag >= 0.0));
    assert_eq!(
        after.get("custody_webhook_events_pending", &[("environment", "live")]),
        Some(0.0)
    );
    assert_eq!(after.get("custody_worker_stalled", &worker), Some(1.0));
    assert!(after
        .get("custody_worker_last_tick_age_seconds", &worker)
        .is_some_and(|age| age >= 3_600.0));

    // The metrics port serves /metrics only.
    let address = app.metrics_address.as_ref().expect("metrics");
    let other = app
        .client
        .get(format!("{address}/v1/vaults"))
        .send()
        .await
        .expect("get");
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

/// The provider decorator counts every call by provider, operation and outcome (the error's
/// code), and times it.
async fn provider_calls_are_counted_by_outcome(engine: Engine) {
    let _one = ONE_AT_A_TIME.lock().await;
    let app = metered_app(engine).await;
    let before = scrape(&app).await;
    let provider = MeteredProvider::wrap(Arc::new(CountingProvider::with_delay(Duration::ZERO)));
    assert_eq!(provider.name(), "conformance");
    let request = MintRequest {
        address_id: address_id(1),
        tenant_id: tenant_id(1),
        vault_id: vault_id(1),
        wallet_id: wallet_id(1),
        asset: usdt_eth(),
        index: 0,
    };
    provider.mint_address(&request).await.expect("minted");
    provider.mint_address(&request).await.expect("minted");
    assert!(provider.deposit_status("dep-1", usdt_eth()).await.is_err());
    let after = scrape(&app).await;
    let grew = |name: &str, labels: &[(&str, &str)]| {
        after.value(name, labels) - before.value(name, labels)
    };
    let calls = "custody_provider_calls_total";
    assert_eq!(
        grew(
            calls,
            &[
                ("provider", "conformance"),
                ("operation", "mint_address"),
                ("outcome", "ok")
            ]
        ),
        2.0
    );
    assert_eq!(
        grew(
            calls,
            &[
                ("provider", "conformance"),
                ("operation", "deposit_status"),
                ("outcome", "provider_not_found")
            ]
        ),
        1.0
    );
    assert_eq!(
        grew(
            "custody_provider_call_duration_seconds_count",
            &[("provider", "conformance"), ("operation", "mint_address")]
        ),
        2.0
    );
}

on_both_stores!(
    requests_auth_rate_limits_and_idempotency_are_counted,
    queues_pools_and_workers_are_gauged,
    provider_calls_are_counted_by_outcome,
);
