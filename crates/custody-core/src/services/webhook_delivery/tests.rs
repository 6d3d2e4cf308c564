//! The delivery worker over mocks: the URL policy applied again at delivery, on the addresses
//! the name resolves to then (DNS rebinding), without sending anything.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::*;
use crate::event::{Event, EventType};
use crate::id::{EventId, WebhookEndpointId};
use crate::outbox::AttemptOutcome;
use crate::ports::{
    MockEventRenderer, MockOutboxStore, MockSecretSealer, MockStoreTx, MockWebhookEndpointStore,
    MockWebhookTransport,
};
use crate::secret::Secret;
use crate::services::test_support::{clock, expect_commit, ids, tenant, uow_with};
use crate::webhook::{EndpointStatus, WebhookEndpoint, WebhookUrl};

fn endpoint(url: &str, env: Environment) -> WebhookEndpoint {
    WebhookEndpoint {
        id: WebhookEndpointId::from_ulid(ulid::Ulid::from_parts(1, 7)),
        tenant_id: tenant(),
        url: WebhookUrl::parse(url, env).expect("url"),
        subscribed: None,
        secret_sealed: b"sealed".to_vec(),
        previous_secret: None,
        status: EndpointStatus::Enabled,
        disabled_reason: None,
        disabled_at: None,
        failing_since: None,
        version: 1,
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

fn resolving_to(ips: &'static [&'static str]) -> MockWebhookTransport {
    let mut transport = MockWebhookTransport::new();
    transport.expect_resolve().returning(move |_, _| {
        Ok(ips
            .iter()
            .map(|s| s.parse::<IpAddr>().expect("ip"))
            .collect())
    });
    transport
}

#[allow(clippy::too_many_arguments)]
fn worker(
    env: Environment,
    transport: MockWebhookTransport,
    endpoints: MockWebhookEndpointStore,
    outbox: MockOutboxStore,
    txs: Vec<MockStoreTx>,
) -> WebhookDelivery {
    let mut sealer = MockSecretSealer::new();
    sealer.expect_open().returning(|_, _| {
        Ok(Secret::new(
            b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_vec(),
        ))
    });
    let mut renderer = MockEventRenderer::new();
    renderer.expect_render().returning(|_| Ok(b"{}".to_vec()));
    WebhookDelivery::new(
        env,
        Arc::new(uow_with(txs)),
        Arc::new(outbox),
        Arc::new(endpoints),
        Arc::new(sealer),
        Arc::new(transport),
        Arc::new(renderer),
        Arc::new(crate::event::DomainSnapshots),
        clock(),
        ids(),
        DeliverySettings::default(),
    )
}

#[tokio::test]
async fn vetting_resolves_now_and_refuses_any_internal_address() {
    let url =
        WebhookUrl::parse("https://hooks.example.com/custody", Environment::Live).expect("url");
    for ips in [
        &["127.0.0.1"][..],
        &["10.0.0.7"][..],
        &["169.254.169.254"][..],
        &["93.184.216.34", "192.168.1.1"][..],
        &["::1"][..],
    ] {
        let mut transport = MockWebhookTransport::new();
        let owned: Vec<IpAddr> = ips.iter().map(|s| s.parse().expect("ip")).collect();
        transport
            .expect_resolve()
            .returning(move |_, _| Ok(owned.clone()));
        let worker = worker(
            Environment::Live,
            transport,
            MockWebhookEndpointStore::new(),
            MockOutboxStore::new(),
            vec![],
        );
        match worker.vet(&url).await {
            Err(VetError::Refused(r)) => assert_eq!(r.code, "webhook_url_forbidden", "{ips:?}"),
            other => panic!("{ips:?}: {other:?}"),
        }
    }
    let worker = worker(
        Environment::Live,
        resolving_to(&["93.184.216.34"]),
        MockWebhookEndpointStore::new(),
        MockOutboxStore::new(),
        vec![],
    );
    assert_eq!(
        worker.vet(&url).await.expect("public"),
        "93.184.216.34:443".parse().expect("addr")
    );
}

/// A name that passed at configuration and now resolves to 127.0.0.1 (rebinding): nothing is
/// sent; the attempt is recorded with the refusal and retried on the schedule.
#[tokio::test]
async fn a_rebound_name_is_refused_at_delivery_without_sending() {
    let target = endpoint("https://hooks.example.com/custody", Environment::Live);
    let mut transport = resolving_to(&["127.0.0.1"]);
    transport.expect_send().never();
    let mut endpoints = MockWebhookEndpointStore::new();
    let stored = target.clone();
    endpoints
        .expect_get()
        .returning(move |_| Ok(stored.clone()));
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let mut outbox = MockOutboxStore::new();
    let sink = recorded.clone();
    outbox.expect_record_attempt().returning(move |a, o| {
        sink.lock().unwrap().push((a.clone(), o));
        Ok(())
    });
    // The endpoint starts failing: one transaction marks it.
    let mut tx = MockStoreTx::new();
    let locked = target.clone();
    tx.expect_lock_webhook_endpoint()
        .returning(move |_| Ok(locked.clone()));
    tx.expect_update_webhook_endpoint()
        .withf(|e| e.failing_since.is_some() && e.status == EndpointStatus::Enabled)
        .returning(|_| Ok(()));
    expect_commit(&mut tx);
    let worker = worker(Environment::Live, transport, endpoints, outbox, vec![tx]);
    let event = Event::new(
        EventId::from_ulid(ulid::Ulid::from_parts(2, 2)),
        tenant(),
        EventType::VaultCreated,
        crate::event::Subject::WebhookEndpoint(&target.snapshot()),
        None,
        OffsetDateTime::UNIX_EPOCH,
        &crate::event::DomainSnapshots,
    )
    .expect("event");
    let claimed = ClaimedEvent {
        event,
        attempts: 0,
        lease_until: OffsetDateTime::UNIX_EPOCH,
    };
    let outcome = worker.deliver(&claimed).await.expect("delivered");
    assert!(matches!(outcome, Delivered::Attempted(..)), "{outcome:?}");
    let recorded = recorded.lock().unwrap();
    let (attempt, outcome) = &recorded[0];
    assert_eq!(attempt.response_status, None);
    let error = attempt.error.as_deref().unwrap_or_default();
    assert!(error.contains("127.0.0.1"), "{error}");
    assert!(matches!(outcome, AttemptOutcome::RetryAt(_)), "{outcome:?}");
}

#[tokio::test]
async fn unsubscribed_types_are_skipped_without_sending() {
    let mut target = endpoint("https://hooks.example.com/custody", Environment::Live);
    target.subscribed = Some([EventType::TransactionCreated].into_iter().collect());
    let mut transport = MockWebhookTransport::new();
    transport.expect_send().never();
    transport.expect_resolve().never();
    let mut endpoints = MockWebhookEndpointStore::new();
    let stored = target.clone();
    endpoints
        .expect_get()
        .returning(move |_| Ok(stored.clone()));
    let mut outbox = MockOutboxStore::new();
    outbox.expect_skip().times(1).returning(|_, _| Ok(()));
    let worker = worker(Environment::Live, transport, endpoints, outbox, vec![]);
    let event = Event::new(
        EventId::from_ulid(ulid::Ulid::from_parts(2, 3)),
        tenant(),
        EventType::VaultCreated,
        crate::event::Subject::WebhookEndpoint(&target.snapshot()),
        None,
        OffsetDateTime::UNIX_EPOCH,
        &crate::event::DomainSnapshots,
    )
    .expect("event");
    let claimed = ClaimedEvent {
        event,
        attempts: 0,
        lease_until: OffsetDateTime::UNIX_EPOCH,
    };
    assert_eq!(
        worker.deliver(&claimed).await.expect("skipped"),
        Delivered::Skipped
    );
}

fn claimed_event(n: u128, event_type: EventType, target: &WebhookEndpoint) -> ClaimedEvent {
    ClaimedEvent {
        event: Event::new(
            EventId::from_ulid(ulid::Ulid::from_parts(3, n)),
            tenant(),
            event_type,
            crate::event::Subject::WebhookEndpoint(&target.snapshot()),
            None,
            OffsetDateTime::UNIX_EPOCH,
            &crate::event::DomainSnapshots,
        )
        .expect("event"),
        attempts: 0,
        lease_until: OffsetDateTime::UNIX_EPOCH,
    }
}

/// A tenant without an endpoint: its whole claimed batch is skipped in one write, after one
/// endpoint read, and nothing is sent (issue 18: one read and one write per event before).
#[tokio::test]
async fn a_batch_with_no_endpoint_is_skipped_in_one_write() {
    let target = endpoint("https://hooks.example.com/custody", Environment::Live);
    let batch: Vec<_> = (0..5)
        .map(|n| claimed_event(n, EventType::VaultCreated, &target))
        .collect();
    let mut transport = MockWebhookTransport::new();
    transport.expect_send().never();
    transport.expect_resolve().never();
    let mut endpoints = MockWebhookEndpointStore::new();
    endpoints
        .expect_get()
        .times(1)
        .returning(|_| Err(StoreError::NotFound));
    let mut outbox = MockOutboxStore::new();
    outbox.expect_skip().never();
    // Five of ten: the claim took every due event, so there is no backlog to skip in bulk.
    outbox.expect_skip_due_without_endpoint().never();
    let expected: Vec<EventId> = batch.iter().map(|c| c.event.id).collect();
    outbox
        .expect_skip_many()
        .times(1)
        .withf(move |t, events| *t == tenant() && events == expected.as_slice())
        .returning(|_, events| Ok(events.len() as u64));
    let worker = worker(Environment::Live, transport, endpoints, outbox, vec![]);
    assert_eq!(
        worker.deliver_batch(&batch).await.expect("skipped"),
        vec![Delivered::Skipped; 5]
    );
}

/// A disabled endpoint: the same, one write for the batch.
#[tokio::test]
async fn a_batch_for_a_disabled_endpoint_is_skipped_in_one_write() {
    let mut target = endpoint("https://hooks.example.com/custody", Environment::Live);
    target.status = EndpointStatus::Disabled;
    let batch: Vec<_> = (0..3)
        .map(|n| claimed_event(n, EventType::TransactionCreated, &target))
        .collect();
    let mut transport = MockWebhookTransport::new();
    transport.expect_send().never();
    let mut endpoints = MockWebhookEndpointStore::new();
    let stored = target.clone();
    endpoints
        .expect_get()
        .times(1)
        .returning(move |_| Ok(stored.clone()));
    let mut outbox = MockOutboxStore::new();
    outbox.expect_skip().never();
    outbox
        .expect_skip_many()
        .times(1)
        .withf(|_, events| events.len() == 3)
        .returning(|_, events| Ok(events.len() as u64));
    let worker = worker(Environment::Live, transport, endpoints, outbox, vec![]);
    assert_eq!(
        worker.deliver_batch(&batch).await.expect("skipped"),
        vec![Delivered::Skipped; 3]
    );
}

/// A full batch (`per_tenant` events) with no endpoint, or a disabled one, then skips the rest
/// of the tenant's due backlog in bulk writes, bounded by [`SKIP_DUE_LIMIT`] and stamped with
/// the clock's now (issue 18: a claim and a skip per ten events before). A full batch to an
/// enabled endpoint that does not subscribe to its types does not: the next events may be of a
/// subscribed type.
#[tokio::test]
async fn a_full_batch_with_nowhere_to_send_skips_the_tenants_backlog_in_bulk() {
    let enabled = endpoint("https://hooks.example.com/custody", Environment::Live);
    let mut disabled = enabled.clone();
    disabled.status = EndpointStatus::Disabled;
    let mut unsubscribed = enabled.clone();
    unsubscribed.subscribed = Some([EventType::TransactionCreated].into_iter().collect());
    let full = DeliverySettings::default().per_tenant;
    for (stored, bulk) in [(None, 1), (Some(disabled), 1), (Some(unsubscribed), 0)] {
        let batch: Vec<_> = (0..u128::from(full))
            .map(|n| claimed_event(n, EventType::VaultCreated, &enabled))
            .collect();
        let mut transport = MockWebhookTransport::new();
        transport.expect_send().never();
        let mut endpoints = MockWebhookEndpointStore::new();
        let found = stored.clone();
        endpoints
            .expect_get()
            .times(1)
            .returning(move |_| found.clone().ok_or(StoreError::NotFound));
        let mut outbox = MockOutboxStore::new();
        outbox
            .expect_skip_many()
            .times(1)
            .returning(|_, events| Ok(events.len() as u64));
        let now = crate::ports::Clock::now(clock().as_ref());
        outbox
            .expect_skip_due_without_endpoint()
            .times(bulk)
            .withf(move |t, at, limit| *t == tenant() && *at == now && *limit == SKIP_DUE_LIMIT)
            .returning(|_, _, limit| Ok(u64::from(limit)));
        let worker = worker(Environment::Live, transport, endpoints, outbox, vec![]);
        assert_eq!(
            worker.deliver_batch(&batch).await.expect("skipped"),
            vec![Delivered::Skipped; batch.len()],
            "{:?}",
            stored.map(|e| e.status)
        );
    }
}

/// A mixed batch: the unsubscribed events are skipped together first; the subscribed one is
/// still sent (here refused at vetting and recorded), and the results keep the batch's order.
#[tokio::test]
async fn a_mixed_batch_skips_the_unsubscribed_together_and_sends_the_rest_in_order() {
    let mut target = endpoint("https://hooks.example.com/custody", Environment::Live);
    target.subscribed = Some([EventType::TransactionCreated].into_iter().collect());
    let batch = vec![
        claimed_event(1, EventType::VaultCreated, &target),
        claimed_event(2, EventType::TransactionCreated, &target),
        claimed_event(3, EventType::VaultCreated, &target),
    ];
    let mut transport = resolving_to(&["127.0.0.1"]);
    transport.expect_send().never();
    let mut endpoints = MockWebhookEndpointStore::new();
    let stored = target.clone();
    endpoints
        .expect_get()
        .returning(move |_| Ok(stored.clone()));
    let mut outbox = MockOutboxStore::new();
    outbox.expect_skip().never();
    let unsubscribed = vec![batch[0].event.id, batch[2].event.id];
    outbox
        .expect_skip_many()
        .times(1)
        .withf(move |_, events| events == unsubscribed.as_slice())
        .returning(|_, events| Ok(events.len() as u64));
    let sent = batch[1].event.id;
    outbox
        .expect_record_attempt()
        .times(1)
        .withf(move |a, _| a.event_id == sent)
        .returning(|_, _| Ok(()));
    let mut tx = MockStoreTx::new();
    let locked = target.clone();
    tx.expect_lock_webhook_endpoint()
        .returning(move |_| Ok(locked.clone()));
    tx.expect_update_webhook_endpoint().returning(|_| Ok(()));
    expect_commit(&mut tx);
    let worker = worker(Environment::Live, transport, endpoints, outbox, vec![tx]);
    let out = worker.deliver_batch(&batch).await.expect("delivered");
    assert_eq!(out.len(), 3);
    assert_eq!(out[0], Delivered::Skipped);
    assert!(matches!(out[1], Delivered::Attempted(..)), "{:?}", out[1]);
    assert_eq!(out[2], Delivered::Skipped);
}
