//! Issue 18: the authentication cache (`[auth] cache_ttl_ms`), on both stores. A found key is
//! served from memory for the TTL; changes through the server's own handles evict it at once;
//! changes through other handles (the CLI, another instance) are seen once the TTL has passed;
//! unknown keys are never remembered.

use std::time::Duration;

use custody_core::api_key::KeyMode;
use custody_core::tenant::TenantStatus;
use custody_embed::AuthCacheSettings;
use reqwest::Method;

use crate::helpers::*;
use crate::on_both_stores;

fn caching(ttl: Duration) -> Options {
    Options {
        auth_cache: AuthCacheSettings {
            ttl,
            max_entries: 1_000,
        },
        ..Options::default()
    }
}

/// A TTL no test outlives: whatever is seen before it passes came from eviction.
const LONG: Duration = Duration::from_secs(600);

async fn status(app: &TestApp, key: &Key) -> u16 {
    app.request(key, Method::GET, "/connect/v1/addresses", None)
        .send()
        .await
        .status()
        .as_u16()
}

async fn statements(app: &TestApp, key: &Key) -> (u16, u64) {
    let before = app.store.statement_counts().expect("counted");
    let status = status(app, key).await;
    let after = app.store.statement_counts().expect("counted");
    (status, after.since(before).statements)
}

async fn a_cached_key_costs_no_read_and_an_in_process_revocation_is_seen_at_once(engine: Engine) {
    let app = spawn_app_with(engine, caching(LONG)).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    // The first request reads the key with its tenant and lists (one statement each); the
    // second lists only.
    assert_eq!(statements(&app, &key).await, (200, 2));
    assert_eq!(statements(&app, &key).await, (200, 1));

    app.served_admin
        .revoke_key(key.minted.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&app, &key).await, 401, "revoked in-process: at once");
}

async fn an_in_process_suspension_is_seen_at_once(engine: Engine) {
    let app = spawn_app_with(engine, caching(LONG)).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    assert_eq!(status(&app, &key).await, 200);
    app.served_admin
        .set_tenant_status(key.minted.record.tenant_id, TenantStatus::Suspended)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status(&app, &key).await,
        403,
        "suspended in-process: at once"
    );
}

async fn an_in_process_rotation_without_grace_is_seen_at_once(engine: Engine) {
    let app = spawn_app_with(engine, caching(LONG)).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    assert_eq!(status(&app, &key).await, 200);
    app.served_admin
        .rotate_key(key.minted.record.id, time::Duration::ZERO)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status(&app, &key).await, 401, "rotated in-process: at once");
}

async fn an_out_of_process_revocation_is_seen_within_the_ttl(engine: Engine) {
    let ttl = Duration::from_millis(300);
    let app = spawn_app_with(engine, caching(ttl)).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    // The record is cached between these two instants: fresh until at least `asked + ttl`,
    // expired by `answered + ttl`.
    let asked = std::time::Instant::now();
    assert_eq!(status(&app, &key).await, 200);
    let answered = std::time::Instant::now();
    // Another process's handles (as the `custody admin` CLI): the server is not told.
    app.admin
        .revoke_key(key.minted.record.id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let seen = status(&app, &key).await;
    assert!(
        seen == 200 || asked.elapsed() >= ttl,
        "within the TTL the server's record is the cached one: {seen}"
    );
    tokio::time::sleep(ttl.saturating_sub(answered.elapsed()) + Duration::from_millis(20)).await;
    assert_eq!(status(&app, &key).await, 401, "past the TTL: refused");
}

async fn unknown_keys_are_read_every_time(engine: Engine) {
    let app = spawn_app_with(engine, caching(LONG)).await;
    let real = app.sandbox_key(KeyMode::Bearer).await;
    let mut unknown = real.clone();
    unknown.minted.key = "sk_test_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned();
    for _ in 0..3 {
        // One read each: nothing was remembered of the last.
        assert_eq!(statements(&app, &unknown).await, (401, 1));
    }
}

on_both_stores!(
    a_cached_key_costs_no_read_and_an_in_process_revocation_is_seen_at_once,
    an_in_process_suspension_is_seen_at_once,
    an_in_process_rotation_without_grace_is_seen_at_once,
    an_out_of_process_revocation_is_seen_within_the_ttl,
    unknown_keys_are_read_every_time,
);
