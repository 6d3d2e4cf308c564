//! The event log and the outbox's delivery bookkeeping.

use std::collections::BTreeSet;
use std::sync::Arc;

use custody_core::asset::Network;
use custody_core::event::{Event, EventType, Subject};
use custody_core::id::{EventId, TenantId};
use custody_core::outbox::{AttemptOutcome, DeliveryAttempt, DeliveryState};
use custody_core::ports::EnvironmentStores;
use custody_core::transaction::TransactionKind;
use time::Duration;

use crate::fixtures::*;
use crate::StoreHandles;

/// Appends `count` events of `tenant` numbered from `from` (alternating vault and wallet
/// events, so snapshots of different shapes and with and without previous attributes are
/// stored), committed in one transaction. Returns them.
pub(crate) async fn seed_events(
    env: &EnvironmentStores,
    tenant: TenantId,
    from: u64,
    count: u64,
) -> Vec<Event> {
    let events: Vec<Event> = (from..from + count).map(|n| any_event(tenant, n)).collect();
    commit_events(env, &events.iter().collect::<Vec<_>>()).await;
    events
}

/// An event about one of the five resource types (cycling with `n`), with and without previous
/// attributes. The resources need not exist: events only name their tenant.
pub(crate) fn any_event(tenant: TenantId, n: u64) -> Event {
    let vault = customer_vault(tenant, n + 10_000);
    let w = wallet(&vault, usdt_eth(), n + 20_000);
    let previous = Some(serde_json::json!({ "status": "active", "n": n }));
    match n % 5 {
        0 => vault_event(n, &vault),
        1 => wallet_event(n, &w),
        2 => event_about(
            event_id(n),
            tenant,
            EventType::AddressStatusUpdated,
            Subject::Address(&deposit_address(&w, n + 30_000, 1)),
            previous,
            at(n as i64),
        ),
        3 => event_about(
            event_id(n),
            tenant,
            EventType::TransactionStatusUpdated,
            Subject::Transaction(&transaction(
                tenant,
                n + 40_000,
                TransactionKind::Transfer,
                usdt_eth(),
                u128::MAX,
                Some(w.id),
                Some(wallet_id(n + 50_000)),
            )),
            previous,
            at(n as i64),
        ),
        _ => event_about(
            event_id(n),
            tenant,
            EventType::AddressBookEntryCreated,
            Subject::AddressBookEntry(&address_book_entry(
                tenant,
                n + 60_000,
                Network::Solana,
                n,
                None,
            )),
            None,
            at(n as i64),
        ),
    }
}

pub(crate) fn attempt(n: u64, event: &Event, number: u32, seconds: i64) -> DeliveryAttempt {
    DeliveryAttempt {
        id: delivery_id(n),
        event_id: event.id,
        tenant_id: event.tenant_id,
        attempt: number,
        attempted_at: at(seconds),
        url: format!("https://hooks.example.com/{n}?q=ü"),
        response_status: if number % 2 == 1 { Some(503) } else { None },
        error: if number % 2 == 1 {
            Some("503 Service Unavailable".to_owned())
        } else {
            Some("connection refused".to_owned())
        },
        duration_ms: 1_000 + number,
    }
}

pub(crate) fn ok_attempt(n: u64, event: &Event, number: u32, seconds: i64) -> DeliveryAttempt {
    DeliveryAttempt {
        response_status: Some(200),
        error: None,
        ..attempt(n, event, number, seconds)
    }
}

fn ids(events: &[custody_core::outbox::ClaimedEvent]) -> Vec<EventId> {
    events.iter().map(|c| c.event.id).collect()
}

/// `append_event` then `EventStore::list`: events round-trip exactly (snapshot, previous
/// attributes, time), in id order, per tenant, with pagination.
pub async fn events_append_and_list(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    // Interleaved tenants, appended out of id order across two transactions.
    let mine_late = seed_events(env, a, 20, 3).await;
    let theirs = seed_events(env, b, 16, 2).await;
    let mine_early = seed_events(env, a, 10, 5).await;
    let mine: Vec<Event> = mine_early.into_iter().chain(mine_late).collect();

    let listed = env
        .events
        .list(a, page(200, None, None))
        .await
        .expect("list");
    assert_eq!(
        listed.items, mine,
        "the tenant's events, exactly, in id order"
    );
    assert!(!listed.has_more);
    assert!(mine.iter().any(|e| e.previous_attributes.is_some()));
    assert!(mine.iter().any(|e| e.previous_attributes.is_none()));
    let kinds: std::collections::BTreeSet<_> = mine.iter().map(|e| e.data.resource_type).collect();
    assert_eq!(kinds.len(), 5, "events about every resource type");
    assert_eq!(
        env.events
            .list(b, page(200, None, None))
            .await
            .expect("list")
            .items,
        theirs
    );
    assert!(env
        .events
        .list(tenant_id(9), page(200, None, None))
        .await
        .expect("list")
        .items
        .is_empty());

    let expected: Vec<_> = mine.iter().map(|e| e.id.ulid()).collect();
    let store = env.events.clone();
    check_pagination(
        "events",
        &expected,
        |e: &Event| e.id.ulid(),
        |p| {
            let store = store.clone();
            async move { store.list(a, p).await }
        },
    )
    .await;
}

/// `claim` returns due pending events oldest first, up to `limit`, and leases them: a second
/// claim while the lease runs gets none of them; after it expires they are claimable again.
pub async fn outbox_claim_leases(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let mut events = seed_events(env, a, 10, 3).await;
    events.extend(seed_events(env, b, 13, 2).await);
    let all: Vec<EventId> = events.iter().map(|e| e.id).collect();
    let lease = Duration::seconds(30);

    let first = env.outbox.claim(at(1000), lease, 3).await.expect("claim");
    assert_eq!(ids(&first), all[..3].to_vec(), "oldest first, up to limit");
    for (claimed, event) in first.iter().zip(&events) {
        assert_eq!(&claimed.event, event, "claimed events round-trip exactly");
        assert_eq!(claimed.attempts, 0);
        assert_eq!(claimed.lease_until, at(1030));
    }
    let second = env.outbox.claim(at(1010), lease, 10).await.expect("claim");
    assert_eq!(
        ids(&second),
        all[3..].to_vec(),
        "leased events are skipped, every tenant's events are claimed"
    );
    assert_eq!(second[0].lease_until, at(1040));
    assert!(
        env.outbox
            .claim(at(1020), lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "everything is leased"
    );
    let third = env.outbox.claim(at(1031), lease, 10).await.expect("claim");
    assert_eq!(
        ids(&third),
        all[..3].to_vec(),
        "expired leases are claimable again; running ones are not"
    );
    assert_eq!(third[0].lease_until, at(1061));
    let fourth = env.outbox.claim(at(1100), lease, 2).await.expect("claim");
    assert_eq!(ids(&fourth), all[..2].to_vec());
    // Leasing does not change the delivery state.
    let status = env.outbox.status(a, events[0].id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Pending);
    assert_eq!(status.attempts, 0);
    assert_eq!(status.delivered_at, None);
    assert_eq!(
        env.outbox
            .attempts(a, events[0].id)
            .await
            .expect("attempts"),
        Vec::new()
    );
}

/// `record_attempt`: `Delivered`, `RetryAt` and `GiveUp` are reflected by `status`, `attempts`
/// and later claims; the attempt count grows; the lease is cleared; the log keeps every
/// attempt in order; a duplicate attempt id is a `Conflict` that changes nothing; an unknown
/// event is `NotFound`.
pub async fn outbox_record_attempt_outcomes(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let events = seed_events(env, a, 10, 3).await;
    let (delivered, retried, failed) = (&events[0], &events[1], &events[2]);
    let lease = Duration::seconds(60);
    assert_eq!(
        ids(&env.outbox.claim(at(1000), lease, 10).await.expect("claim")),
        vec![delivered.id, retried.id, failed.id]
    );

    // Delivered on the first attempt.
    let ok = ok_attempt(100, delivered, 1, 1001);
    env.outbox
        .record_attempt(&ok, AttemptOutcome::Delivered)
        .await
        .expect("record delivered");
    let status = env.outbox.status(a, delivered.id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Delivered);
    assert_eq!(status.attempts, 1);
    assert_eq!(
        status.delivered_at,
        Some(at(1001)),
        "delivered at the attempt's time"
    );
    assert_eq!(
        env.outbox
            .attempts(a, delivered.id)
            .await
            .expect("attempts"),
        vec![ok.clone()]
    );

    // Retried: due again at the given time, lease cleared, count grown.
    let first_try = attempt(101, retried, 1, 1002);
    env.outbox
        .record_attempt(&first_try, AttemptOutcome::RetryAt(at(1010)))
        .await
        .expect("record retry");
    let status = env.outbox.status(a, retried.id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Pending);
    assert_eq!(status.attempts, 1);
    assert_eq!(status.next_attempt_at, Some(at(1010)));
    assert_eq!(status.delivered_at, None);
    assert!(
        env.outbox
            .claim(at(1005), lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "not due before its retry time (and the others are leased or done)"
    );
    let again = env.outbox.claim(at(1010), lease, 10).await.expect("claim");
    assert_eq!(
        ids(&again),
        vec![retried.id],
        "due at its retry time although the old lease would run until 1060"
    );
    assert_eq!(again[0].attempts, 1, "attempts recorded before this claim");
    assert_eq!(again[0].lease_until, at(1070));

    // Given up: failed, never claimed again.
    let last_try = attempt(102, failed, 1, 1003);
    env.outbox
        .record_attempt(&last_try, AttemptOutcome::GiveUp)
        .await
        .expect("record give up");
    let status = env.outbox.status(a, failed.id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Failed);
    assert_eq!(status.attempts, 1);
    assert_eq!(status.delivered_at, None);

    // Second attempt of the retried event, delivered.
    let second_try = ok_attempt(103, retried, 2, 1011);
    env.outbox
        .record_attempt(&second_try, AttemptOutcome::Delivered)
        .await
        .expect("record delivered");
    let status = env.outbox.status(a, retried.id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Delivered);
    assert_eq!(status.attempts, 2);
    assert_eq!(status.delivered_at, Some(at(1011)));
    assert_eq!(
        env.outbox.attempts(a, retried.id).await.expect("attempts"),
        vec![first_try.clone(), second_try.clone()],
        "the log in order"
    );
    assert!(
        env.outbox
            .claim(at(100_000), lease, 10)
            .await
            .expect("claim")
            .is_empty(),
        "delivered and failed events are never claimed"
    );

    // A duplicate attempt id changes nothing.
    let duplicate = DeliveryAttempt {
        event_id: failed.id,
        attempt: 2,
        ..second_try.clone()
    };
    assert_any_conflict(
        env.outbox
            .record_attempt(&duplicate, AttemptOutcome::RetryAt(at(2000)))
            .await,
        "an attempt with an existing id",
    );
    let status = env.outbox.status(a, failed.id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Failed, "state unchanged");
    assert_eq!(status.attempts, 1, "count unchanged");
    assert_eq!(
        env.outbox.attempts(a, failed.id).await.expect("attempts"),
        vec![last_try]
    );

    // Unknown event.
    let mut ghost = attempt(104, failed, 1, 1004);
    ghost.event_id = event_id(99);
    assert_not_found(
        env.outbox
            .record_attempt(&ghost, AttemptOutcome::Delivered)
            .await,
        "an attempt of an unknown event",
    );
    assert_not_found(
        env.outbox.status(a, event_id(99)).await,
        "status of an unknown event",
    );
    assert_not_found(
        env.outbox.attempts(a, event_id(99)).await,
        "attempts of an unknown event",
    );
}

/// `redeliver` makes a failed, delivered or leased event pending and due at `now`, keeping its
/// count and log and clearing its lease; `status`, `attempts`, `redeliver` and `record_attempt`
/// are tenant-scoped.
pub async fn outbox_redeliver_and_tenant_scope(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let events = seed_events(env, a, 10, 2).await;
    let theirs = seed_events(env, b, 12, 1).await;
    let (failed, delivered) = (&events[0], &events[1]);
    let lease = Duration::seconds(60);
    assert_eq!(
        env.outbox
            .claim(at(1000), lease, 10)
            .await
            .expect("claim")
            .len(),
        3
    );
    let give_up = attempt(100, failed, 1, 1001);
    env.outbox
        .record_attempt(&give_up, AttemptOutcome::GiveUp)
        .await
        .expect("give up");
    let ok = ok_attempt(101, delivered, 1, 1002);
    env.outbox
        .record_attempt(&ok, AttemptOutcome::Delivered)
        .await
        .expect("delivered");

    env.outbox
        .redeliver(a, failed.id, at(3000))
        .await
        .expect("redeliver failed");
    let status = env.outbox.status(a, failed.id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Pending);
    assert_eq!(status.attempts, 1, "count kept");
    assert_eq!(status.next_attempt_at, Some(at(3000)));
    assert_eq!(
        env.outbox.attempts(a, failed.id).await.expect("attempts"),
        vec![give_up.clone()],
        "log kept"
    );
    let long = Duration::days(1);
    assert_eq!(
        ids(&env.outbox.claim(at(2999), long, 10).await.expect("claim")),
        vec![theirs[0].id],
        "the redelivered event is not due before `now` of the redelivery (the other \
         tenant's event, whose lease expired, is)"
    );
    let claimed = env.outbox.claim(at(3000), long, 10).await.expect("claim");
    assert_eq!(
        ids(&claimed),
        vec![failed.id],
        "the redelivered event is due at `now` of the redelivery"
    );
    assert_eq!(claimed[0].attempts, 1);

    env.outbox
        .redeliver(a, delivered.id, at(3100))
        .await
        .expect("redeliver delivered");
    let status = env.outbox.status(a, delivered.id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Pending);
    assert_eq!(status.attempts, 1);
    assert_eq!(status.next_attempt_at, Some(at(3100)));
    let claimed = env.outbox.claim(at(3100), long, 10).await.expect("claim");
    assert_eq!(ids(&claimed), vec![delivered.id]);

    // Another tenant's event is not found by `status`, `attempts` or `redeliver`.
    assert_not_found(
        env.outbox.status(a, theirs[0].id).await,
        "status of another tenant's event",
    );
    assert_not_found(
        env.outbox.attempts(a, theirs[0].id).await,
        "attempts of another tenant's event",
    );
    assert_not_found(
        env.outbox.redeliver(a, theirs[0].id, at(4000)).await,
        "redeliver of another tenant's event",
    );
    assert_not_found(
        env.outbox.redeliver(a, event_id(99), at(4000)).await,
        "redeliver of an unknown event",
    );
    let status = env.outbox.status(b, theirs[0].id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Pending);
    assert_eq!(status.attempts, 0);

    // An attempt naming the wrong tenant for an event is refused and changes nothing.
    let mut misattributed = attempt(102, &theirs[0], 1, 3200);
    misattributed.tenant_id = a;
    assert_not_found(
        env.outbox
            .record_attempt(&misattributed, AttemptOutcome::Delivered)
            .await,
        "an attempt whose tenant does not own the event",
    );
    let status = env.outbox.status(b, theirs[0].id).await.expect("status");
    assert_eq!(status.state, DeliveryState::Pending);
    assert_eq!(status.attempts, 0);
    assert!(env
        .outbox
        .attempts(b, theirs[0].id)
        .await
        .expect("attempts")
        .is_empty());

    // Redelivery clears a running lease: `theirs[0]` is leased for a day since the claim at
    // 2999, and is claimable again right after the redelivery.
    assert!(env
        .outbox
        .claim(at(5000), long, 10)
        .await
        .expect("claim")
        .is_empty());
    env.outbox
        .redeliver(b, theirs[0].id, at(5000))
        .await
        .expect("redeliver a leased event");
    assert_eq!(
        ids(&env.outbox.claim(at(5000), long, 10).await.expect("claim")),
        vec![theirs[0].id],
        "redelivery clears the lease"
    );
}

/// Several workers claiming at once never receive the same event, and together they claim
/// every due event.
pub async fn outbox_concurrent_claimers(stores: StoreHandles) {
    let env = stores.sandbox.clone();
    let a = seed_tenant(&stores, 1).await;
    let events = seed_events(&env, a, 10, 60).await;
    let lease = Duration::seconds(300);
    let barrier = Arc::new(tokio::sync::Barrier::new(6));
    let mut workers = Vec::new();
    for _ in 0..6 {
        let outbox = env.outbox.clone();
        let barrier = barrier.clone();
        workers.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut mine = Vec::new();
            // 60 events in batches of up to 4: more rounds than that means leases do not hold.
            for _ in 0..60 {
                let batch = outbox.claim(at(1000), lease, 4).await.expect("claim");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|c| c.event.id));
            }
            panic!("claims never ran dry: leased events are handed out again");
        }));
    }
    let mut seen = BTreeSet::new();
    let mut total = 0;
    for worker in workers {
        for id in worker.await.expect("worker") {
            total += 1;
            assert!(seen.insert(id), "event {id} was claimed twice");
        }
    }
    assert_eq!(total, events.len());
    let expected: BTreeSet<EventId> = events.iter().map(|e| e.id).collect();
    assert_eq!(seen, expected, "every event was claimed");
}

/// A unit of work's events (issue 18: a store may write them in one statement): all committed
/// with it, in the order appended (which is their order in the log, whatever their ids), or
/// none: a dropped unit of work writes none, and one whose event cannot be written (a
/// duplicate id) fails to commit and writes none of the others. An event appended earlier in
/// the unit of work is there for a later statement about events (a lease) in it.
pub async fn events_of_one_unit_of_work(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;

    // Appended out of id order: the log keeps the order of appending.
    let appended: Vec<Event> = [7, 5, 6].into_iter().map(|n| any_event(a, n)).collect();
    let mut tx = env.uow.begin().await.expect("begin");
    for event in &appended {
        tx.append_event(event).await.expect("append");
    }
    drop(tx);
    let none = env
        .events
        .list(a, page(200, None, None))
        .await
        .expect("list");
    assert!(
        none.items.is_empty(),
        "a dropped unit of work writes no event"
    );

    commit_events(env, &appended.iter().collect::<Vec<_>>()).await;
    super::event_log::wait_for_log(env, a, 3).await;
    let logged = env
        .events
        .log(
            a,
            &custody_core::event::EventLogQuery {
                after: None,
                types: Vec::new(),
                limit: 10,
            },
        )
        .await
        .expect("log");
    let logged: Vec<Event> = logged.items.into_iter().map(|l| l.event).collect();
    assert_eq!(
        logged, appended,
        "every event, exactly, in the order appended"
    );

    // A duplicate among them: the commit fails and the new event is not written either.
    let fresh = any_event(a, 8);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.append_event(&fresh).await.expect("append");
    tx.append_event(&appended[0]).await.expect("append");
    assert!(
        tx.commit().await.is_err(),
        "a duplicate event id fails the commit"
    );
    let listed = env
        .events
        .list(a, page(200, None, None))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 3, "nothing of the failed unit of work");
    assert!(!listed.items.contains(&fresh));

    // Appended, then leased in the same unit of work: the lease finds it.
    let leased = any_event(a, 9);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.append_event(&leased).await.expect("append");
    tx.lease_event(a, leased.id, at(9000))
        .await
        .expect("an event appended earlier in the unit of work is there");
    tx.commit().await.expect("commit");
    assert!(env
        .events
        .list(a, page(200, None, None))
        .await
        .expect("list")
        .items
        .contains(&leased));
}
