//! Webhook endpoints and the delivery statements webhook delivery added: fair claiming across
//! tenants, skipping, bulk redelivery, the test event's lease and the delivery log.

use custody_core::environment::Environment;
use custody_core::event::EventType;
use custody_core::id::{EventId, WebhookEndpointId};
use custody_core::outbox::{AttemptOutcome, DeliveryFilter, DeliveryState, DeliveryView};
use custody_core::ports::StoreError;
use custody_core::webhook::{EndpointStatus, WebhookEndpoint, WebhookUrl};
use time::Duration;

use super::events::{attempt, ok_attempt, seed_events};
use crate::fixtures::*;
use crate::StoreHandles;

fn endpoint(tenant: custody_core::id::TenantId, n: u128) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::from_ulid(ulid::Ulid::from_parts(7, n)),
        tenant_id: tenant,
        url: WebhookUrl::parse("https://hooks.example.com/custody?q=1", Environment::Live)
            .expect("url"),
        subscribed: Some(
            [EventType::TransactionCreated, EventType::BalanceUpdated]
                .into_iter()
                .collect(),
        ),
        secret_sealed: vec![1, 0, 255, 7],
        previous_secret: Some((vec![9, 9], at(5000))),
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        disabled_at: None,
        failing_since: Some(at(1234)),
        version: 1,
        created_at: at(1000),
        updated_at: at(1000),
    }
}

/// Insert, lock, update, get, delete; one endpoint per tenant and environment; the other
/// environment does not see it.
pub async fn webhook_endpoint_round_trip_and_uniqueness(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let e = endpoint(a, 1);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.insert_webhook_endpoint(&e).await.expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(
        env.webhooks.get(a).await.expect("get"),
        e,
        "round-trips exactly"
    );
    assert!(matches!(
        stores.sandbox.webhooks.get(a).await,
        Err(StoreError::NotFound)
    ));

    // A second endpoint for the tenant in the same environment is a conflict.
    let mut tx = env.uow.begin().await.expect("begin");
    match tx.insert_webhook_endpoint(&endpoint(a, 2)).await {
        Err(StoreError::Conflict { constraint }) => {
            assert_eq!(constraint, "webhook_endpoints_tenant_key");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    drop(tx);
    // The sandbox may have its own.
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    tx.insert_webhook_endpoint(&endpoint(a, 3))
        .await
        .expect("sandbox insert");
    tx.commit().await.expect("commit");

    let mut tx = env.uow.begin().await.expect("begin");
    let mut locked = tx.lock_webhook_endpoint(a).await.expect("lock");
    assert_eq!(locked, e);
    locked.url = WebhookUrl::parse("https://other.example.com/", Environment::Live).expect("url");
    locked.subscribed = None;
    locked.previous_secret = None;
    locked.status = EndpointStatus::Disabled;
    locked.disabled_reason = Some("endpoint_gone".into());
    locked.disabled_at = Some(at(2000));
    locked.failing_since = None;
    locked.version = 2;
    locked.updated_at = at(2000);
    tx.update_webhook_endpoint(&locked).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(env.webhooks.get(a).await.expect("get"), locked);

    let mut tx = env.uow.begin().await.expect("begin");
    tx.delete_webhook_endpoint(a).await.expect("delete");
    assert!(matches!(
        tx.delete_webhook_endpoint(a).await,
        Err(StoreError::NotFound)
    ));
    drop(tx);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.delete_webhook_endpoint(a).await.expect("delete");
    tx.commit().await.expect("commit");
    assert!(matches!(
        env.webhooks.get(a).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        stores.sandbox.webhooks.get(a).await.is_ok(),
        "the sandbox's stays"
    );
}

fn ids(claimed: &[custody_core::outbox::ClaimedEvent]) -> Vec<EventId> {
    claimed.iter().map(|c| c.event.id).collect()
}

/// `skip_many`: the tenant's listed events become skipped (failed, no attempt, lease cleared)
/// in one call, and nothing else changes: not another tenant's event listed with them, not the
/// tenant's unlisted ones, not the other environment's; an empty list is no write.
pub async fn outbox_skip_many_skips_only_the_tenants_listed_events(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let ea = seed_events(env, a, 10, 4).await;
    let eb = seed_events(env, b, 20, 1).await;
    let claimed = env
        .outbox
        .claim_fair(at(1000), Duration::seconds(60), 10, 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 5);

    let skipped = env
        .outbox
        .skip_many(a, &[ea[0].id, ea[2].id, ea[3].id, eb[0].id])
        .await
        .expect("skip many");
    assert_eq!(skipped, 3, "a's three, not b's");
    for e in [&ea[0], &ea[2], &ea[3]] {
        let status = env.outbox.status(a, e.id).await.expect("status");
        assert_eq!(status.state, DeliveryState::Failed);
        assert_eq!(status.attempts, 0);
        assert_eq!(status.next_attempt_at, None);
        assert_eq!(DeliveryView::of(&status), DeliveryView::Skipped);
    }
    for (tenant, e) in [(a, &ea[1]), (b, &eb[0])] {
        let status = env.outbox.status(tenant, e.id).await.expect("status");
        assert_eq!(status.state, DeliveryState::Pending, "untouched");
    }
    // a's unlisted one is still under its lease: nothing of a's (or b's) is claimable yet.
    assert!(env
        .outbox
        .claim_fair(at(1001), Duration::seconds(60), 10, 10)
        .await
        .expect("claim")
        .is_empty());
    assert_eq!(
        stores
            .sandbox
            .outbox
            .skip_many(a, &[ea[1].id])
            .await
            .expect("other environment"),
        0
    );
    assert_eq!(env.outbox.skip_many(a, &[]).await.expect("empty"), 0);
    // Skipped events are not claimed again; a's unlisted one comes back when its lease ends.
    let again = env
        .outbox
        .claim_fair(at(2000), Duration::seconds(60), 10, 10)
        .await
        .expect("claim");
    assert_eq!(ids(&again), vec![ea[1].id, eb[0].id]);
}

/// `skip_due_without_endpoint`: while the tenant has no enabled endpoint, its due, unleased
/// pending events are skipped, at most `limit` per call, and nothing else: not an event waiting
/// for a later retry, not one under a live lease (until the lease ends), not a delivered one, not
/// another tenant's, not the other environment's. A tenant whose endpoint is enabled keeps every
/// event; once that endpoint is disabled, its events go too.
pub async fn outbox_skip_due_without_endpoint_skips_only_the_tenants_due_backlog(
    stores: StoreHandles,
) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let ea = seed_events(env, a, 10, 8).await;
    let eb = seed_events(env, b, 30, 2).await;
    let a_sandbox = seed_events(&stores.sandbox, a, 50, 2).await;
    // a: ea[0] and ea[1] leased, then ea[0] refused and due again only at 5000; ea[7] delivered.
    let claimed = env
        .outbox
        .claim_fair(at(1000), Duration::seconds(60), 10, 2)
        .await
        .expect("claim");
    assert_eq!(ids(&claimed), vec![ea[0].id, ea[1].id, eb[0].id, eb[1].id]);
    env.outbox
        .record_attempt(
            &attempt(1, &ea[0], 1, 1000),
            AttemptOutcome::RetryAt(at(5000)),
        )
        .await
        .expect("refused");
    env.outbox
        .record_attempt(&ok_attempt(2, &ea[7], 1, 1000), AttemptOutcome::Delivered)
        .await
        .expect("delivered");

    let skip = |tenant, seconds, limit| {
        env.outbox
            .skip_due_without_endpoint(tenant, at(seconds), limit)
    };
    assert_eq!(
        skip(a, 1001, 3).await.expect("skip"),
        3,
        "bounded by the limit"
    );
    assert_eq!(
        skip(a, 1001, 100).await.expect("skip"),
        2,
        "the rest of ea[2..7]"
    );
    assert_eq!(
        skip(a, 1001, 100).await.expect("skip"),
        0,
        "nothing left due"
    );
    let view = |tenant, event: EventId| async move {
        DeliveryView::of(&env.outbox.status(tenant, event).await.expect("status"))
    };
    for e in &ea[2..7] {
        assert_eq!(view(a, e.id).await, DeliveryView::Skipped);
        let status = env.outbox.status(a, e.id).await.expect("status");
        assert_eq!((status.attempts, status.next_attempt_at), (0, None));
    }
    let waiting = env.outbox.status(a, ea[0].id).await.expect("status");
    assert_eq!(
        (waiting.state, waiting.attempts, waiting.next_attempt_at),
        (DeliveryState::Pending, 1, Some(at(5000))),
        "a retry not yet due is kept"
    );
    assert_eq!(view(a, ea[1].id).await, DeliveryView::Pending, "leased");
    assert_eq!(view(a, ea[7].id).await, DeliveryView::Delivered);
    for e in &eb {
        assert_eq!(view(b, e.id).await, DeliveryView::Pending, "b's");
    }
    for e in &a_sandbox {
        let status = stores.sandbox.outbox.status(a, e.id).await.expect("status");
        assert_eq!(status.state, DeliveryState::Pending, "the sandbox's");
    }
    // An ended lease no longer protects an event.
    assert_eq!(skip(a, 2000, 100).await.expect("skip"), 1);
    assert_eq!(view(a, ea[1].id).await, DeliveryView::Skipped);

    // b has an enabled endpoint (read in the statement itself): nothing of b's is skipped.
    let mut tx = env.uow.begin().await.expect("begin");
    let mut e = endpoint(b, 1);
    tx.insert_webhook_endpoint(&e).await.expect("insert");
    tx.commit().await.expect("commit");
    assert_eq!(
        skip(b, 2000, 100).await.expect("skip"),
        0,
        "enabled endpoint"
    );
    for ev in &eb {
        assert_eq!(view(b, ev.id).await, DeliveryView::Pending);
    }
    e.status = EndpointStatus::Disabled;
    e.disabled_reason = Some("endpoint_gone".into());
    e.disabled_at = Some(at(2000));
    e.version = 2;
    let mut tx = env.uow.begin().await.expect("begin");
    tx.update_webhook_endpoint(&e).await.expect("disable");
    tx.commit().await.expect("commit");
    assert_eq!(
        skip(b, 2000, 100).await.expect("skip"),
        2,
        "disabled endpoint"
    );
    for ev in &eb {
        assert_eq!(view(b, ev.id).await, DeliveryView::Skipped);
    }
}

/// `claim_fair`: up to `per_tenant` of each tenant's due events, and a tenant with an event
/// under a live lease is not claimed again until it ends; `skip`, `redeliver_failed_events`,
/// `lease_event` and the filtered delivery log.
pub async fn outbox_fair_claims_skips_and_bulk_redelivery(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let ea = seed_events(env, a, 10, 4).await;
    let eb = seed_events(env, b, 20, 1).await;
    let lease = Duration::seconds(60);

    let first = env
        .outbox
        .claim_fair(at(1000), lease, 10, 2)
        .await
        .expect("claim");
    let mut expected = vec![ea[0].id, ea[1].id, eb[0].id];
    expected.sort();
    let mut got = ids(&first);
    got.sort();
    assert_eq!(got, expected, "two of a's, b's one");
    // a still has due events, but a batch of a's is in flight: nothing more for a.
    assert!(env
        .outbox
        .claim_fair(at(1001), lease, 10, 2)
        .await
        .expect("claim")
        .is_empty());
    // Tenants limit: one tenant per claim.
    env.outbox
        .record_attempt(&ok_attempt(1, &ea[0], 1, 1002), AttemptOutcome::Delivered)
        .await
        .expect("record");
    env.outbox
        .record_attempt(
            &attempt(2, &ea[1], 1, 1002),
            AttemptOutcome::RetryAt(at(5000)),
        )
        .await
        .expect("record");
    env.outbox
        .record_attempt(&attempt(3, &eb[0], 1, 1002), AttemptOutcome::GiveUp)
        .await
        .expect("record");
    let next = env
        .outbox
        .claim_fair(at(1003), lease, 1, 5)
        .await
        .expect("claim");
    assert_eq!(
        ids(&next),
        vec![ea[2].id, ea[3].id],
        "a's remaining due ones"
    );

    // Skipped: failed without an attempt; only attempted failures are redelivered in bulk.
    env.outbox.skip(a, ea[2].id).await.expect("skip");
    let status = env.outbox.status(a, ea[2].id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Failed);
    assert_eq!(status.attempts, 0);
    assert_eq!(DeliveryView::of(&status), DeliveryView::Skipped);
    assert!(matches!(
        env.outbox.skip(b, ea[3].id).await,
        Err(StoreError::NotFound)
    ));
    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(
        tx.redeliver_failed_events(b, at(0), at(2000))
            .await
            .expect("bulk"),
        1
    );
    assert_eq!(
        tx.redeliver_failed_events(a, at(0), at(2000))
            .await
            .expect("bulk"),
        0,
        "a's skipped one is not a failure"
    );
    tx.lease_event(a, ea[1].id, at(9000)).await.expect("lease");
    assert!(matches!(
        tx.lease_event(b, ea[1].id, at(9000)).await,
        Err(StoreError::NotFound)
    ));
    tx.redeliver_event(a, ea[2].id, at(2000))
        .await
        .expect("redeliver");
    tx.commit().await.expect("commit");
    let status = env.outbox.status(b, eb[0].id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Pending);
    assert_eq!(status.next_attempt_at, Some(at(2000)));

    // The delivery log: filters and attempts.
    let all = env
        .outbox
        .deliveries(a, DeliveryFilter::default(), page(50, None, None))
        .await
        .expect("log");
    assert_eq!(
        all.items.iter().map(|r| r.event.id).collect::<Vec<_>>(),
        ea.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    assert_eq!(all.items[0].attempts, vec![ok_attempt(1, &ea[0], 1, 1002)]);
    assert_eq!(all.items[1].attempts, vec![attempt(2, &ea[1], 1, 1002)]);
    let delivered = env
        .outbox
        .deliveries(
            a,
            DeliveryFilter {
                status: Some(DeliveryView::Delivered),
                ..DeliveryFilter::default()
            },
            page(50, None, None),
        )
        .await
        .expect("log");
    assert_eq!(delivered.items.len(), 1);
    assert_eq!(delivered.items[0].event.id, ea[0].id);
    let one = env
        .outbox
        .deliveries(
            a,
            DeliveryFilter {
                event: Some(ea[1].id),
                event_type: Some(ea[1].event_type),
                status: None,
            },
            page(50, None, None),
        )
        .await
        .expect("log");
    assert_eq!(one.items.len(), 1);
    assert!(env
        .outbox
        .deliveries(
            b,
            DeliveryFilter {
                event: Some(ea[1].id),
                ..DeliveryFilter::default()
            },
            page(50, None, None),
        )
        .await
        .expect("log")
        .items
        .is_empty());
}
