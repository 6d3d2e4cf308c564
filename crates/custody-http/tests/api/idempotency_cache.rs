//! Issue 18: the idempotency cache (`[idempotency] cache_bytes`), on both stores. A replay of
//! a completed key is answered from memory with the same bytes and headers; a different
//! request with the key is still 409; the key's scope and the caller's tenant are still judged
//! on every replay.

use std::time::Duration;

use custody_core::api_key::{KeyMode, Scope};
use custody_embed::{AuthCacheSettings, IdempotencyCacheSettings};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::on_both_stores;

/// Both caches on, as `custody serve` runs by default.
fn caching() -> Options {
    Options {
        auth_cache: AuthCacheSettings {
            ttl: Duration::from_secs(600),
            max_entries: 1_000,
        },
        idempotency_cache: IdempotencyCacheSettings { max_bytes: 1 << 20 },
        ..Options::default()
    }
}

fn mint_body(reference: &str) -> String {
    json!({"asset": "USDT", "network": "ethereum", "external_ref": reference}).to_string()
}

/// Sends the mint and returns (status, replayed header, body, statements it cost).
async fn mint(app: &TestApp, key: &Key, body: &str, idem: &str) -> (u16, bool, Value, u64) {
    let before = app.store.statement_counts().expect("counted");
    let response = app
        .request(key, Method::POST, "/connect/v1/addresses", Some(body))
        .idempotency_key(idem)
        .send()
        .await;
    let replayed = response
        .headers()
        .get("idempotency-replayed")
        .is_some_and(|v| v == "true");
    let (status, _, _, value) = parts(response).await;
    let after = app.store.statement_counts().expect("counted");
    (status, replayed, value, after.since(before).statements)
}

async fn a_replay_is_answered_from_memory_with_the_same_bytes(engine: Engine) {
    let app = spawn_app_with(engine, caching()).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let body = mint_body("user-1");
    let (status, replayed, first, _) = mint(&app, &key, &body, "k-1").await;
    assert_eq!((status, replayed), (201, false), "{first}");
    // The first replay reads the completed record once (and keeps it).
    let (status, replayed, again, cost) = mint(&app, &key, &body, "k-1").await;
    assert_eq!((status, replayed), (201, true));
    assert_eq!(again, first);
    assert_eq!(cost, 1, "the record, read once (the key is cached)");
    // Every later replay: nothing read, nothing written, the same answer.
    for _ in 0..3 {
        let (status, replayed, again, cost) = mint(&app, &key, &body, "k-1").await;
        assert_eq!((status, replayed, cost), (201, true, 0));
        assert_eq!(again, first);
    }
    // A different request with the key is still a conflict, from memory too.
    let (status, _, error, cost) = mint(&app, &key, &mint_body("user-2"), "k-1").await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["error"]["code"], "idempotency_conflict");
    assert_eq!(cost, 0);
}

async fn the_scope_and_the_tenant_are_still_judged_on_every_replay(engine: Engine) {
    let app = spawn_app_with(engine, caching()).await;
    let key = app.sandbox_key(KeyMode::Bearer).await;
    let tenant = key.minted.record.tenant_id;
    let body = mint_body("user-1");
    let (status, _, first, _) = mint(&app, &key, &body, "k-1").await;
    assert_eq!(status, 201, "{first}");
    let (status, replayed, _, _) = mint(&app, &key, &body, "k-1").await;
    assert_eq!((status, replayed), (201, true), "now cached");

    // A key of the same tenant without the write scope: 403, never the stored answer.
    let reader = app
        .key(
            tenant,
            KeySpec {
                scopes: vec![Scope::AddressesRead],
                ..KeySpec::sandbox(KeyMode::Bearer)
            },
        )
        .await;
    let (status, replayed, error, _) = mint(&app, &reader, &body, "k-1").await;
    assert_eq!((status, replayed), (403, false), "{error}");

    // Another tenant's key with the same Idempotency-Key and body: its own mint, not ours.
    let other = app.sandbox_key(KeyMode::Bearer).await;
    assert_ne!(other.minted.record.tenant_id, tenant);
    let (status, replayed, theirs, _) = mint(&app, &other, &body, "k-1").await;
    assert_eq!((status, replayed), (201, false), "{theirs}");
    assert_ne!(theirs["id"], first["id"]);
}

on_both_stores!(
    a_replay_is_answered_from_memory_with_the_same_bytes,
    the_scope_and_the_tenant_are_still_judged_on_every_replay,
);
