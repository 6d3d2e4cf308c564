//! The event log (`GET /v1/events`): order, cursors, the type filter, `get`, and retention.

use custody_core::event::{Event, EventLogQuery, EventType, LogPosition, LoggedEvent};
use custody_core::id::TenantId;
use custody_core::outbox::{AttemptOutcome, DeliveryAttempt};
use custody_core::ports::{EnvironmentStores, StoreError};
use custody_core::services::EventService;

use super::events::{any_event, seed_events};
use crate::fixtures::*;
use crate::StoreHandles;

async fn read(
    env: &EnvironmentStores,
    tenant: TenantId,
    after: Option<LogPosition>,
    types: &[EventType],
    limit: u32,
) -> (Vec<LoggedEvent>, bool) {
    let page = env
        .events
        .log(
            tenant,
            &EventLogQuery {
                after,
                types: types.to_vec(),
                limit,
            },
        )
        .await
        .expect("read the log");
    (page.items, page.has_more)
}

/// Waits until the tenant's log shows `count` events. On PostgreSQL the log shows an event only
/// once every transaction of the cluster that was running when it committed has ended, and
/// other tests (in other databases of the same cluster) hold transactions open: what they hold
/// back shows a moment later, and is never skipped. SQLite shows every commit at once.
pub(crate) async fn wait_for_log(env: &EnvironmentStores, tenant: TenantId, count: usize) {
    for _ in 0..6_000 {
        if read(env, tenant, None, &[], 200).await.0.len() >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the log never showed {count} events");
}

/// Reads the whole log `limit` events at a time, following the last position of each page.
async fn read_all(
    env: &EnvironmentStores,
    tenant: TenantId,
    types: &[EventType],
    limit: u32,
) -> Vec<Event> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let (items, has_more) = read(env, tenant, after, types, limit).await;
        assert!(items.len() <= limit as usize);
        let positions: Vec<LogPosition> = items.iter().map(|l| l.position).collect();
        let mut sorted = positions.clone();
        sorted.sort();
        assert_eq!(positions, sorted, "a page is in log order");
        if let (Some(first), Some(prev)) = (positions.first(), after) {
            assert!(*first > prev, "a page starts after its cursor");
        }
        after = positions.last().copied().or(after);
        out.extend(items.into_iter().map(|l| l.event));
        if !has_more {
            return out;
        }
    }
}

/// The log returns the tenant's events in commit order (each transaction's events in the order
/// written), whatever their ids; pages follow cursors without gaps or repeats; `types` filters
/// before paging; other tenants' events never show.
pub async fn event_log_commit_order_and_cursor(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    // Committed in this order, with ids in another: the log follows the commits.
    let first = seed_events(env, a, 30, 4).await;
    let _theirs = seed_events(env, b, 5, 3).await;
    let second = seed_events(env, a, 10, 5).await;
    let third = seed_events(env, a, 20, 2).await;
    let committed: Vec<Event> = first.into_iter().chain(second).chain(third).collect();
    wait_for_log(env, a, committed.len()).await;

    for limit in [1, 2, 3, 50] {
        assert_eq!(
            read_all(env, a, &[], limit).await,
            committed,
            "commit order, page size {limit}"
        );
    }
    assert!(read(env, tenant_id(9), None, &[], 50).await.0.is_empty());

    // The filter is applied by the store before paging: a page of one still finds each match.
    let types = [
        EventType::VaultStatusUpdated,
        EventType::AddressBookEntryCreated,
    ];
    let matching: Vec<Event> = committed
        .iter()
        .filter(|e| types.contains(&e.event_type))
        .cloned()
        .collect();
    assert!(matching.len() >= 2 && matching.len() < committed.len());
    assert_eq!(read_all(env, a, &types, 1).await, matching);
    assert!(read(env, a, None, &[EventType::BalanceUpdated], 50)
        .await
        .0
        .is_empty());

    // Past the end: nothing, and no more.
    let (all, _) = read(env, a, None, &[], 200).await;
    let last = all.last().expect("events").position;
    assert_eq!(read(env, a, Some(last), &[], 50).await, (Vec::new(), false));
    // A new commit after that lands after the cursor.
    let later = seed_events(env, a, 1, 1).await;
    wait_for_log(env, a, committed.len() + 1).await;
    let (after_last, has_more) = read(env, a, Some(last), &[], 50).await;
    assert_eq!(
        after_last.into_iter().map(|l| l.event).collect::<Vec<_>>(),
        later,
        "an event committed later is read after the cursor, whatever its id"
    );
    assert!(!has_more);
}

/// `get` returns one of the tenant's events exactly; another tenant's, or none, is `NotFound`.
pub async fn event_log_get(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let mine = seed_events(env, a, 10, 5).await;
    for event in &mine {
        assert_eq!(&env.events.get(a, event.id).await.expect("get"), event);
    }
    assert!(matches!(
        env.events.get(b, mine[0].id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        env.events.get(a, event_id(999)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        stores.live.events.get(a, mine[0].id).await,
        Err(StoreError::NotFound)
    ));
}

/// Retention deletes events created before the cutoff (with their delivery attempts), oldest
/// first, in batches, only in its own environment; younger events and the log's order stay.
pub async fn event_log_purge(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    // Events created at at(n): n = 10..=24.
    let events = seed_events(env, a, 10, 15).await;
    let live_events = seed_events(&stores.live, a, 50, 3).await;
    wait_for_log(env, a, events.len()).await;
    wait_for_log(&stores.live, a, live_events.len()).await;
    // A delivery attempt on an old event: purged with it.
    let attempt = DeliveryAttempt {
        id: delivery_id(1),
        event_id: events[0].id,
        tenant_id: a,
        attempt: 1,
        attempted_at: at(11),
        url: "https://hooks.example.com/a".to_owned(),
        response_status: Some(200),
        error: None,
        duration_ms: 5,
    };
    env.outbox
        .record_attempt(&attempt, AttemptOutcome::Delivered)
        .await
        .expect("record attempt");

    // Batches of 4 until the cutoff at(20): events 10..=19 go (10 of them), oldest first.
    assert_eq!(env.events.purge_before(at(20), 4).await.expect("purge"), 4);
    assert!(matches!(
        env.events.get(a, events[0].id).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        env.events.get(a, events[4].id).await.expect("younger kept"),
        events[4]
    );
    assert_eq!(env.events.purge_before(at(20), 4).await.expect("purge"), 4);
    assert_eq!(env.events.purge_before(at(20), 4).await.expect("purge"), 2);
    assert_eq!(env.events.purge_before(at(20), 4).await.expect("purge"), 0);
    assert_eq!(read_all(env, a, &[], 50).await, events[10..].to_vec());
    assert_eq!(
        read_all(&stores.live, a, &[], 50).await,
        live_events,
        "the other environment is untouched"
    );

    // The service purges everything older than its retention (never less than 30 days).
    let service = EventService::new(env.events.clone());
    let now = at(24) + time::Duration::days(29);
    assert_eq!(
        service.purge(now, 1).await.expect("purge"),
        0,
        "30 days at least"
    );
    let now = at(22) + time::Duration::days(30);
    assert_eq!(service.purge(now, 30).await.expect("purge"), 2);
    assert_eq!(read_all(env, a, &[], 50).await, events[12..].to_vec());
    // More than one batch in a call.
    let many: Vec<Event> = (100..100 + u64::from(custody_core::services::PURGE_BATCH) + 7)
        .map(|n| any_event(a, n))
        .collect();
    commit_events(env, &many.iter().collect::<Vec<_>>()).await;
    let now = at(10_000) + time::Duration::days(30);
    assert_eq!(
        service.purge(now, 30).await.expect("purge"),
        many.len() as u64 + 3
    );
    assert!(read_all(env, a, &[], 50).await.is_empty());
}
