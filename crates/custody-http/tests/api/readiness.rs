//! `/readyz` reflects the store and the background workers (issue 16), and `/metrics` is not
//! on the partner port.

use std::sync::Arc;
use std::time::{Duration, Instant};

use custody_core::environment::Environment;
use custody_http::configuration::WorkersSettings;
use custody_http::startup::Store;
use custody_http::system::{OsIds, SystemClock};
use custody_http::workers::{self, WorkerSpec};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{spawn_app, Engine, TestApp};
use crate::on_both_stores;

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let response = app.anonymous(Method::GET, "/readyz", None).send().await;
    let status = response.status();
    (status, response.json().await.expect("json body"))
}

/// Waits (bounded) until `/readyz` answers `status`.
async fn readyz_becomes(app: &TestApp, status: StatusCode) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (now, body) = readyz(app).await;
        if now == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {now}: {body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real transaction worker and purge loops tick the server's registry: `/readyz` lists
/// them; a stall injected into one turns it 503 naming that worker, and the running loop's
/// next pass makes it ready again; once the workers are stopped a stall stays.
async fn readyz_follows_the_workers(engine: Engine) {
    let app = spawn_app(engine).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["store"], "ok");
    assert_eq!(body["workers"], serde_json::json!([]), "no worker runs yet");

    let settings = WorkersSettings {
        poll_interval_ms: 20,
        purge_interval_ms: 20,
        ..WorkersSettings::default()
    };
    let stores = app.store.environment(Environment::Sandbox);
    let running = workers::spawn_watched(
        &settings,
        vec![WorkerSpec {
            stores,
            provider: Arc::new(custody_sandbox::SandboxProvider::new(
                custody_sandbox::ChainConfig::default(),
                Arc::new(SystemClock),
            )),
            deposits: None,
        }],
        &(Arc::new(SystemClock) as _),
        &(Arc::new(OsIds) as _),
        app.liveness.clone(),
    );
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> = body["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .map(|w| w["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["purge.sandbox", "withdrawal_dispatch.sandbox"]);
    for worker in body["workers"].as_array().expect("workers") {
        assert_eq!(worker["status"], "ok");
        // Interval (20 ms) plus the default stall bound (300 s).
        assert_eq!(worker["boundMs"], 300_020);
        assert!(worker["lastTickMsAgo"].as_u64().expect("age") < 300_020);
    }

    // A stall: the dispatch loop's last pass an hour ago.
    app.liveness
        .backdate("withdrawal_dispatch.sandbox", Duration::from_secs(3_600));
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "service_unavailable");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains("worker withdrawal_dispatch.sandbox has not run for 3600 s"),
        "{message}"
    );
    assert!(!message.contains("purge.sandbox"), "{message}");
    assert!(!message.contains("store"), "{message}");
    // The loop is alive: its next pass (20 ms later) ticks, and /readyz is 200 again.
    readyz_becomes(&app, StatusCode::OK).await;

    // Stopped workers tick no more: a stall stays.
    running.stop(Duration::from_secs(5)).await;
    app.liveness
        .backdate("purge.sandbox", Duration::from_secs(3_600));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("worker purge.sandbox")));
}

/// The store down: `/readyz` is 503 saying so (while `/healthz` still answers 200).
async fn readyz_is_503_when_the_store_is_down(engine: Engine) {
    let app = spawn_app(engine).await;
    assert_eq!(readyz(&app).await.0, StatusCode::OK);
    match &app.store {
        Store::Sqlite(s) => s.close().await,
        Store::Postgres(s) => s.close().await,
        other => panic!(
            "the test app runs on SQLite or PostgreSQL, not {}",
            other.engine()
        ),
    }
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "service_unavailable");
    assert_eq!(body["error"]["retryable"], true);
    assert_eq!(
        body["error"]["message"],
        "not ready: the store is not reachable"
    );
    let health = app.anonymous(Method::GET, "/healthz", None).send().await;
    assert_eq!(health.status(), StatusCode::OK);
}

/// Metrics are never served on the partner port: `/metrics` there is the 404 envelope.
async fn metrics_are_not_on_the_partner_port(engine: Engine) {
    let app = spawn_app(engine).await;
    let response = app.anonymous(Method::GET, "/metrics", None).send().await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.headers().contains_key("x-request-id"));
    let body: Value = response.json().await.expect("envelope");
    assert_eq!(body["error"]["code"], "route_not_found");
}

on_both_stores!(
    readyz_follows_the_workers,
    readyz_is_503_when_the_store_is_down,
    metrics_are_not_on_the_partner_port,
);
