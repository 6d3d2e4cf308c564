//! Issue 16: the queue-depth reads behind the metrics of `custody serve`.

use custody_core::outbox::{AttemptOutcome, DeliveryAttempt, OutboxBacklog};
use custody_core::transaction::TransactionStatus;
use custody_core::work::WithdrawalQueue;
use time::Duration;

use super::events::seed_events;
use crate::fixtures::*;
use crate::StoreHandles;

/// `withdrawal_queue` counts open withdrawals per status, with the flagged ones and the oldest
/// last change; final withdrawals and the other environment are not counted.
pub async fn transactions_withdrawal_queue_counts_open_ones(stores: StoreHandles) {
    let env = &stores.sandbox;
    assert_eq!(
        env.transactions.withdrawal_queue().await.expect("empty"),
        Vec::new()
    );
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let submitted_new = withdrawal(&w, 90, 1);
    let submitted_old = withdrawal(&w, 41, 2);
    let mut signing = withdrawal(&w, 42, 3);
    signing
        .advance(TransactionStatus::PendingSignature, at(50))
        .expect("hand over");
    let mut done = withdrawal(&w, 43, 4);
    done.advance(TransactionStatus::Failed, at(44))
        .expect("fail");
    commit_transactions(env, &[&submitted_new, &submitted_old, &signing, &done]).await;
    let mut tx = env.uow.begin().await.expect("begin");
    tx.flag_for_reconciliation(signing.id, "unknown outcome", at(60))
        .await
        .expect("flag");
    tx.commit().await.expect("commit");

    let queue = env.transactions.withdrawal_queue().await.expect("queue");
    assert_eq!(
        queue,
        vec![
            WithdrawalQueue {
                status: TransactionStatus::Submitted,
                count: 2,
                flagged: 0,
                oldest_change: at(41),
            },
            WithdrawalQueue {
                status: TransactionStatus::PendingSignature,
                count: 1,
                flagged: 1,
                oldest_change: at(50),
            },
        ]
    );
    assert_eq!(
        stores
            .live
            .transactions
            .withdrawal_queue()
            .await
            .expect("live"),
        Vec::new(),
        "the other environment's withdrawals are not counted"
    );
}

/// `backlog` counts pending events, the due and unclaimed ones, and their earliest due time;
/// delivered events leave the backlog, leased ones stay pending but are not due.
pub async fn outbox_backlog_counts_pending_and_due(stores: StoreHandles) {
    let env = &stores.live;
    assert_eq!(
        env.outbox.backlog(at(1000)).await.expect("empty"),
        OutboxBacklog::default()
    );
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let mut events = seed_events(env, a, 10, 3).await;
    events.extend(seed_events(env, b, 13, 2).await);
    let first_due = events.iter().map(|e| e.created_at).min();
    let backlog = env.outbox.backlog(at(100_000)).await.expect("backlog");
    assert_eq!(
        backlog,
        OutboxBacklog {
            pending: 5,
            due: 5,
            oldest_due_at: first_due,
        }
    );
    // Two claimed (leased): still pending, no longer due; one delivered: gone.
    let claimed = env
        .outbox
        .claim(at(100_000), Duration::seconds(30), 2)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 2);
    let delivered = &claimed[0];
    env.outbox
        .record_attempt(
            &DeliveryAttempt {
                id: delivery_id(1),
                event_id: delivered.event.id,
                tenant_id: delivered.event.tenant_id,
                attempt: 1,
                attempted_at: at(100_001),
                url: "https://example.com/hook".into(),
                response_status: Some(200),
                error: None,
                duration_ms: 5,
            },
            AttemptOutcome::Delivered,
        )
        .await
        .expect("record");
    let backlog = env.outbox.backlog(at(100_002)).await.expect("backlog");
    assert_eq!((backlog.pending, backlog.due), (4, 3));
    assert!(backlog.oldest_due_at.is_some());
    assert_eq!(
        stores
            .sandbox
            .outbox
            .backlog(at(100_002))
            .await
            .expect("sandbox"),
        OutboxBacklog::default(),
        "the other environment's events are not counted"
    );
}
