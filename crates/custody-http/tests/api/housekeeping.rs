//! Housekeeping that `custody serve` runs beside the transaction worker: expired idempotency
//! records and events past their retention are purged on a schedule (docs/storage.md), so
//! neither table grows forever.

use std::sync::Arc;
use std::time::Duration;

use custody_core::api_key::KeyMode;
use custody_core::environment::Environment;
use custody_core::idempotency::{Fingerprint, IdempotencyKey};
use custody_core::ports::{Clock, Reservation};
use custody_http::configuration::WorkersSettings;
use custody_http::system::{OsIds, SystemClock};
use custody_http::workers::{self, WorkerSpec};

use crate::helpers::{spawn_app, Engine};
use crate::on_both_stores;

async fn expired_idempotency_records_are_purged_on_a_schedule(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = key.minted.record.tenant_id;
    let stores = app.store.environment(Environment::Sandbox);
    let now = SystemClock.now();
    let day = time::Duration::days(1);
    // One record expired yesterday, one alive until tomorrow.
    for (raw, expires_at) in [("old-key", now - day), ("fresh-key", now + day)] {
        let reserved = stores
            .idempotency
            .reserve(
                tenant,
                &IdempotencyKey::parse(raw.as_bytes()).expect("key"),
                &Fingerprint::of("POST", "/v1/vaults", b"{}"),
                expires_at - day,
                expires_at,
                None,
            )
            .await
            .expect("reserved");
        assert!(matches!(reserved, Reservation::Reserved(_)), "{reserved:?}");
    }

    let settings = WorkersSettings {
        purge_interval_ms: 50,
        ..WorkersSettings::default()
    };
    let running = workers::spawn(
        &settings,
        vec![WorkerSpec {
            stores: stores.clone(),
            provider: Arc::new(custody_sandbox::SandboxProvider::new(
                custody_sandbox::ChainConfig::default(),
                Arc::new(SystemClock),
            )),
            deposits: None,
        }],
        &(Arc::new(SystemClock) as _),
        &(Arc::new(OsIds) as _),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    running.stop(Duration::from_secs(5)).await;

    // The schedule already deleted the expired one: nothing is left to purge at `now`, and the
    // live one is still there.
    assert_eq!(
        stores.idempotency.purge_expired(now).await.expect("purge"),
        0
    );
    assert!(stores
        .idempotency
        .lookup(
            tenant,
            &IdempotencyKey::parse(b"fresh-key").expect("key"),
            now
        )
        .await
        .is_ok());
}

/// `custody serve`'s heartbeat task registers its instance at once and keeps beating until the
/// workers stop; the reservations it makes are judged by that heartbeat.
async fn the_heartbeat_registers_the_instance_and_keeps_it_alive(engine: Engine) {
    use custody_core::instance::InstanceId;
    use custody_http::workers::Workers;
    let app = spawn_app(engine).await;
    let registry = app.store.shared().instances;
    let instance = InstanceId::parse("serve-7-heartbeat-test").expect("id");
    let running =
        Workers::none().with_heartbeat(registry.clone(), instance.clone(), Arc::new(SystemClock));
    let first = loop {
        if let Ok(at) = registry.last_heartbeat(&instance).await {
            break at;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The next beat moves it forward (one interval later).
    loop {
        if registry.last_heartbeat(&instance).await.expect("beat") > first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.stop(Duration::from_secs(5)).await;
}

on_both_stores!(the_heartbeat_registers_the_instance_and_keeps_it_alive);
on_both_stores!(expired_idempotency_records_are_purged_on_a_schedule);

/// The same schedule deletes events past their retention (`workers.event_retention_days`,
/// never less than 30 days), with nothing younger touched.
async fn old_events_are_purged_on_a_schedule(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = key.minted.record.tenant_id;
    let stores = app.store.environment(Environment::Sandbox);
    let now = SystemClock.now();
    let day = time::Duration::days(1);
    // Two events 31 days old, one 29 days old, written as services write them.
    let vault = custody_conformance::fixtures::customer_vault(tenant, 1);
    let events: Vec<_> = [
        (1, now - day * 31),
        (2, now - day * 31),
        (3, now - day * 29),
    ]
    .into_iter()
    .map(|(n, created_at)| {
        let mut event = custody_conformance::fixtures::vault_event(n, &vault);
        event.created_at = created_at;
        event
    })
    .collect();
    custody_conformance::fixtures::commit_events(&stores, &events.iter().collect::<Vec<_>>()).await;

    let settings = WorkersSettings {
        purge_interval_ms: 50,
        // Below the floor: raised to 30 days.
        event_retention_days: 1,
        ..WorkersSettings::default()
    };
    let running = workers::spawn(
        &settings,
        vec![WorkerSpec {
            stores: stores.clone(),
            provider: Arc::new(custody_sandbox::SandboxProvider::new(
                custody_sandbox::ChainConfig::default(),
                Arc::new(SystemClock),
            )),
            deposits: None,
        }],
        &(Arc::new(SystemClock) as _),
        &(Arc::new(OsIds) as _),
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    running.stop(Duration::from_secs(5)).await;

    for old in &events[..2] {
        assert!(
            stores.events.get(tenant, old.id).await.is_err(),
            "31 days old: purged"
        );
    }
    assert_eq!(
        stores.events.get(tenant, events[2].id).await.expect("kept"),
        events[2],
        "29 days old: kept, whatever the configuration says below 30"
    );
}

on_both_stores!(old_events_are_purged_on_a_schedule);
