//! Idempotency records: reserve, complete (through a unit of work), release, expiry, scope.

use std::sync::Arc;

use custody_core::idempotency::{IdempotencyRecord, RecordState};
use custody_core::ports::Reservation;

use crate::fixtures::*;
use crate::StoreHandles;

/// Reserve, then a second reserve sees the in-flight record (with the first request's
/// fingerprint, whatever the second one's); completion through a committed unit of work stores
/// status, headers (in order) and body bytes exactly; `lookup` and `reserve` then return it.
pub async fn idempotency_reserve_complete_lookup(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let key = idem_key("order-42 / retry");
    let store = &env.idempotency;

    assert_eq!(
        store
            .reserve(a, &key, &fingerprint(1), at(0), at(100), None)
            .await
            .expect("reserve"),
        reserved(at(0), None)
    );
    let in_flight = IdempotencyRecord {
        key: key.clone(),
        fingerprint: fingerprint(1),
        state: RecordState::InFlight,
        created_at: at(0),
        expires_at: at(100),
    };
    assert_eq!(
        store
            .reserve(a, &key, &fingerprint(1), at(1), at(101), None)
            .await
            .expect("reserve"),
        Reservation::Existing(in_flight.clone()),
        "a second reservation sees the first, unchanged"
    );
    assert_eq!(
        store
            .reserve(a, &key, &fingerprint(2), at(2), at(102), None)
            .await
            .expect("reserve"),
        Reservation::Existing(in_flight.clone()),
        "a different request sees the first request's fingerprint"
    );
    assert_eq!(
        store.lookup(a, &key, at(3)).await.expect("lookup"),
        in_flight
    );

    let response = stored_response(7);
    let mut tx = env.uow.begin().await.expect("begin");
    tx.complete_idempotency(a, &key, &token(at(0), None), &response)
        .await
        .expect("complete");
    tx.commit().await.expect("commit");
    let completed = IdempotencyRecord {
        state: RecordState::Completed(response.clone()),
        ..in_flight
    };
    assert_eq!(
        store.lookup(a, &key, at(4)).await.expect("lookup"),
        completed,
        "status, headers in order and body bytes exactly"
    );
    assert_eq!(
        store
            .reserve(a, &key, &fingerprint(1), at(5), at(105), None)
            .await
            .expect("reserve"),
        Reservation::Existing(completed.clone())
    );

    // An empty body and no headers are kept as such.
    let bare_key = idem_key("bare");
    store
        .reserve(a, &bare_key, &fingerprint(3), at(0), at(100), None)
        .await
        .expect("reserve");
    let bare = custody_core::idempotency::StoredResponse {
        status: 204,
        headers: Vec::new(),
        body: Vec::new(),
    };
    let mut tx = env.uow.begin().await.expect("begin");
    tx.complete_idempotency(a, &bare_key, &token(at(0), None), &bare)
        .await
        .expect("complete");
    tx.commit().await.expect("commit");
    assert_eq!(
        store
            .lookup(a, &bare_key, at(1))
            .await
            .expect("lookup")
            .state,
        RecordState::Completed(bare)
    );

    assert_not_found(
        store.lookup(a, &idem_key("never"), at(1)).await,
        "lookup of an unknown key",
    );
}

/// Completion is part of the unit of work: dropped without commit, the record stays in
/// flight. Completing a key that was not reserved (or was reserved by another tenant) is
/// `NotFound`.
pub async fn idempotency_complete_rolls_back_and_needs_a_reservation(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let key = idem_key("k");
    let store = &env.idempotency;
    store
        .reserve(a, &key, &fingerprint(1), at(0), at(100), None)
        .await
        .expect("reserve");

    let mut tx = env.uow.begin().await.expect("begin");
    tx.complete_idempotency(a, &key, &token(at(0), None), &stored_response(1))
        .await
        .expect("complete");
    drop(tx);
    assert_eq!(
        store.lookup(a, &key, at(1)).await.expect("lookup").state,
        RecordState::InFlight,
        "a rolled-back completion leaves the record in flight"
    );

    let mut tx = env.uow.begin().await.expect("begin");
    assert_not_found(
        tx.complete_idempotency(
            a,
            &idem_key("not reserved"),
            &token(at(0), None),
            &stored_response(1),
        )
        .await,
        "completing a key that was never reserved",
    );
    drop(tx);
    let mut tx = env.uow.begin().await.expect("begin");
    assert_not_found(
        tx.complete_idempotency(b, &key, &token(at(0), None), &stored_response(1))
            .await,
        "completing another tenant's key",
    );
    drop(tx);
    assert_not_found(
        store.lookup(a, &idem_key("not reserved"), at(1)).await,
        "a refused completion creates nothing",
    );
    assert_not_found(
        store.lookup(b, &key, at(1)).await,
        "a refused completion creates nothing",
    );
    assert_eq!(
        store.lookup(a, &key, at(1)).await.expect("lookup").state,
        RecordState::InFlight
    );
}

/// `release` deletes an in-flight record (the key is free again) but leaves a completed one;
/// releasing an absent key is fine.
pub async fn idempotency_release(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let store = &env.idempotency;
    let flying = idem_key("flying");
    let done = idem_key("done");
    for key in [&flying, &done] {
        store
            .reserve(a, key, &fingerprint(1), at(0), at(100), None)
            .await
            .expect("reserve");
    }
    let mut tx = env.uow.begin().await.expect("begin");
    tx.complete_idempotency(a, &done, &token(at(0), None), &stored_response(2))
        .await
        .expect("complete");
    tx.commit().await.expect("commit");

    store
        .release(a, &flying, &token(at(0), None))
        .await
        .expect("release in flight");
    assert_not_found(
        store.lookup(a, &flying, at(1)).await,
        "a released key is gone",
    );
    assert_eq!(
        store
            .reserve(a, &flying, &fingerprint(2), at(2), at(102), None)
            .await
            .expect("reserve"),
        reserved(at(2), None),
        "a released key may be reserved again"
    );
    assert_eq!(
        store.lookup(a, &flying, at(3)).await.expect("lookup"),
        IdempotencyRecord {
            key: flying.clone(),
            fingerprint: fingerprint(2),
            state: RecordState::InFlight,
            created_at: at(2),
            expires_at: at(102),
        }
    );

    store
        .release(a, &done, &token(at(0), None))
        .await
        .expect("release completed");
    assert_eq!(
        store.lookup(a, &done, at(1)).await.expect("lookup").state,
        RecordState::Completed(stored_response(2)),
        "release leaves a completed record alone"
    );
    store
        .release(a, &idem_key("absent"), &token(at(0), None))
        .await
        .expect("releasing an absent key is not an error");
}

/// Expiry: `lookup` ignores a record from its `expires_at` on; `reserve` replaces an expired
/// record (in flight or completed); `purge_expired` deletes exactly the expired records and
/// counts them.
pub async fn idempotency_expiry_and_purge(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let store = &env.idempotency;
    let short = idem_key("short");
    let completed = idem_key("completed");
    let long = idem_key("long");
    store
        .reserve(a, &short, &fingerprint(1), at(0), at(10), None)
        .await
        .expect("reserve");
    store
        .reserve(a, &completed, &fingerprint(1), at(0), at(20), None)
        .await
        .expect("reserve");
    store
        .reserve(a, &long, &fingerprint(1), at(0), at(1000), None)
        .await
        .expect("reserve");
    let mut tx = env.uow.begin().await.expect("begin");
    tx.complete_idempotency(a, &completed, &token(at(0), None), &stored_response(3))
        .await
        .expect("complete");
    tx.commit().await.expect("commit");

    assert!(
        store.lookup(a, &short, at(9)).await.is_ok(),
        "live before expiry"
    );
    assert_not_found(
        store.lookup(a, &short, at(10)).await,
        "expired at its expires_at (`IdempotencyRecord::is_expired`)",
    );
    assert_not_found(store.lookup(a, &short, at(11)).await, "expired");

    // An expired in-flight record is replaced.
    assert_eq!(
        store
            .reserve(a, &short, &fingerprint(2), at(11), at(50), None)
            .await
            .expect("reserve"),
        reserved(at(11), None)
    );
    assert_eq!(
        store.lookup(a, &short, at(12)).await.expect("lookup"),
        IdempotencyRecord {
            key: short.clone(),
            fingerprint: fingerprint(2),
            state: RecordState::InFlight,
            created_at: at(11),
            expires_at: at(50),
        }
    );
    // An expired completed record is replaced, response and all, from its `expires_at` on.
    assert!(matches!(
        store
            .reserve(a, &completed, &fingerprint(3), at(19), at(60), None)
            .await
            .expect("reserve"),
        Reservation::Existing(_)
    ));
    assert_eq!(
        store
            .reserve(a, &completed, &fingerprint(3), at(20), at(60), None)
            .await
            .expect("reserve"),
        reserved(at(20), None),
        "expired at its expires_at (`IdempotencyRecord::is_expired`)"
    );
    assert_eq!(
        store.lookup(a, &completed, at(26)).await.expect("lookup"),
        IdempotencyRecord {
            key: completed.clone(),
            fingerprint: fingerprint(3),
            state: RecordState::InFlight,
            created_at: at(20),
            expires_at: at(60),
        }
    );

    // Purge: at 50, `short` (expires 50) is expired, `completed` (60) and `long` are not.
    let extra = idem_key("extra");
    store
        .reserve(a, &extra, &fingerprint(1), at(0), at(40), None)
        .await
        .expect("reserve");
    assert_eq!(store.purge_expired(at(0)).await.expect("purge"), 0);
    assert_eq!(store.purge_expired(at(50)).await.expect("purge"), 2);
    assert_eq!(
        store.purge_expired(at(50)).await.expect("purge"),
        0,
        "nothing left"
    );
    for key in [&short, &extra] {
        assert_not_found(store.lookup(a, key, at(0)).await, "purged");
    }
    assert!(store.lookup(a, &completed, at(50)).await.is_ok());
    assert!(store.lookup(a, &long, at(50)).await.is_ok());
    // A purged key is free.
    assert_eq!(
        store
            .reserve(a, &extra, &fingerprint(9), at(51), at(90), None)
            .await
            .expect("reserve"),
        reserved(at(51), None)
    );
    assert_eq!(store.purge_expired(at(5000)).await.expect("purge"), 3);
}

/// Records are scoped to (environment, tenant, key).
pub async fn idempotency_scope(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let key = idem_key("same-key");
    let sandbox = &stores.sandbox.idempotency;
    let live = &stores.live.idempotency;
    assert_eq!(
        sandbox
            .reserve(a, &key, &fingerprint(1), at(0), at(100), None)
            .await
            .expect("reserve"),
        reserved(at(0), None)
    );
    assert_eq!(
        sandbox
            .reserve(b, &key, &fingerprint(2), at(0), at(100), None)
            .await
            .expect("reserve"),
        reserved(at(0), None),
        "another tenant"
    );
    assert_eq!(
        live.reserve(a, &key, &fingerprint(3), at(0), at(100), None)
            .await
            .expect("reserve"),
        reserved(at(0), None),
        "the other environment"
    );
    assert_eq!(
        sandbox
            .reserve(
                a,
                &idem_key("Same-Key"),
                &fingerprint(4),
                at(0),
                at(100),
                None
            )
            .await
            .expect("reserve"),
        reserved(at(0), None),
        "keys are case-sensitive"
    );
    assert_eq!(
        sandbox
            .lookup(a, &key, at(1))
            .await
            .expect("lookup")
            .fingerprint,
        fingerprint(1)
    );
    assert_eq!(
        sandbox
            .lookup(b, &key, at(1))
            .await
            .expect("lookup")
            .fingerprint,
        fingerprint(2)
    );
    assert_eq!(
        live.lookup(a, &key, at(1))
            .await
            .expect("lookup")
            .fingerprint,
        fingerprint(3)
    );
    assert_not_found(live.lookup(b, &key, at(1)).await, "b never used live");

    // Completing one leaves the others in flight.
    let mut tx = stores.live.uow.begin().await.expect("begin");
    tx.complete_idempotency(a, &key, &token(at(0), None), &stored_response(1))
        .await
        .expect("complete");
    tx.commit().await.expect("commit");
    assert_eq!(
        sandbox.lookup(a, &key, at(1)).await.expect("lookup").state,
        RecordState::InFlight
    );
    assert_eq!(
        sandbox.lookup(b, &key, at(1)).await.expect("lookup").state,
        RecordState::InFlight
    );
    // Releasing one leaves the others.
    sandbox
        .release(b, &key, &token(at(0), None))
        .await
        .expect("release");
    assert_not_found(sandbox.lookup(b, &key, at(1)).await, "released");
    assert!(sandbox.lookup(a, &key, at(1)).await.is_ok());
    assert!(live.lookup(a, &key, at(1)).await.is_ok());
}

/// Many concurrent reservations of one key: exactly one is `Reserved`, every other sees the
/// in-flight record.
pub async fn idempotency_concurrent_reserve(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let store = stores.sandbox.idempotency.clone();
    let key = idem_key("race");
    let n = 24u8;
    let barrier = Arc::new(tokio::sync::Barrier::new(usize::from(n)));
    let mut tasks = Vec::new();
    for i in 0..n {
        let store = store.clone();
        let key = key.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .reserve(a, &key, &fingerprint(i), at(0), at(100), None)
                .await
                .expect("reserve")
        }));
    }
    let mut reserved = 0;
    let mut existing = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Reservation::Reserved(_) => reserved += 1,
            Reservation::Existing(record) => existing.push(record),
        }
    }
    assert_eq!(reserved, 1, "exactly one reservation wins");
    let winner = store.lookup(a, &key, at(1)).await.expect("lookup");
    assert_eq!(winner.state, RecordState::InFlight);
    for record in existing {
        assert_eq!(record, winner, "every loser sees the winner's record");
    }
}

/// A reservation names its instance; once that instance's heartbeat is
/// [`HEARTBEAT_TIMEOUT`](custody_core::instance::HEARTBEAT_TIMEOUT) old, the next reservation
/// of the key takes it (the crashed request's retry runs), while a beating owner's reservation,
/// a completed record, and a reservation by an owner without a heartbeat row or with none are
/// left alone until the lease (`IN_FLIGHT_LEASE`) ends.
pub async fn idempotency_dead_owner_is_released(stores: StoreHandles) {
    use custody_core::idempotency::IN_FLIGHT_LEASE;
    use custody_core::instance::{InstanceId, HEARTBEAT_TIMEOUT};
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let store = &env.idempotency;
    let registry = &stores.shared.instances;
    let timeout = HEARTBEAT_TIMEOUT.whole_seconds();
    let lease = IN_FLIGHT_LEASE.whole_seconds();
    let first = InstanceId::parse("serve-1-first").expect("id");
    let second = InstanceId::parse("serve-2-second").expect("id");
    let ghost = InstanceId::parse("serve-3-never-beat").expect("id");
    registry.heartbeat(&first, at(0)).await.expect("beat");
    registry.heartbeat(&second, at(0)).await.expect("beat");
    let reserve = |key: &'static str, fp: u8, now: i64, owner: Option<&InstanceId>| {
        let owner = owner.cloned();
        async move {
            store
                .reserve(
                    a,
                    &idem_key(key),
                    &fingerprint(fp),
                    at(now),
                    at(now + 86_400),
                    owner,
                )
                .await
                .expect("reserve")
        }
    };
    let in_flight = |fp: u8, created: i64| IdempotencyRecord {
        key: idem_key("cut"),
        fingerprint: fingerprint(fp),
        state: RecordState::InFlight,
        created_at: at(created),
        expires_at: at(created + 86_400),
    };

    assert_eq!(
        reserve("cut", 1, 0, Some(&first)).await,
        reserved(at(0), Some(&first))
    );
    // The owner still beats (its last beat is younger than the timeout): in flight.
    registry
        .heartbeat(&second, at(timeout))
        .await
        .expect("beat");
    assert_eq!(
        reserve("cut", 1, timeout - 1, Some(&second)).await,
        Reservation::Existing(in_flight(1, 0)),
        "a beating owner's reservation is left alone"
    );
    // The owner went silent: its last beat is the timeout old. The retry takes the key.
    assert_eq!(
        reserve("cut", 1, timeout, Some(&second)).await,
        reserved(at(timeout), Some(&second)),
        "a silent owner's reservation is taken"
    );
    assert_eq!(
        store
            .lookup(a, &idem_key("cut"), at(timeout))
            .await
            .expect("lookup"),
        in_flight(1, timeout),
        "now the retry's reservation"
    );
    // The new owner beats: a third attempt sees the retry in flight, not a dead owner.
    assert_eq!(
        reserve("cut", 1, timeout + 1, Some(&first)).await,
        Reservation::Existing(in_flight(1, timeout))
    );

    // A completed record is never taken, whatever became of its owner.
    assert_eq!(
        reserve("done", 2, 0, Some(&first)).await,
        reserved(at(0), Some(&first))
    );
    let mut tx = env.uow.begin().await.expect("begin");
    tx.complete_idempotency(
        a,
        &idem_key("done"),
        &token(at(0), Some(&first)),
        &stored_response(2),
    )
    .await
    .expect("complete");
    tx.commit().await.expect("commit");
    assert!(matches!(
        reserve("done", 2, timeout * 10, Some(&second)).await,
        Reservation::Existing(IdempotencyRecord {
            state: RecordState::Completed(_),
            ..
        })
    ));

    // No heartbeat row, or no owner: the lease alone.
    assert_eq!(
        reserve("ghost", 3, 0, Some(&ghost)).await,
        reserved(at(0), Some(&ghost))
    );
    assert_eq!(
        reserve("anonymous", 4, 0, None).await,
        reserved(at(0), None)
    );
    for (key, fp) in [("ghost", 3), ("anonymous", 4)] {
        assert!(
            matches!(
                reserve(key, fp, lease - 1, Some(&second)).await,
                Reservation::Existing(_)
            ),
            "{key}: held until the lease ends"
        );
        assert_eq!(
            reserve(key, fp, lease, Some(&second)).await,
            reserved(at(lease), Some(&second)),
            "{key}: taken at the end of the lease"
        );
    }
}

/// The instance registry: a heartbeat registers an instance, moves its heartbeat forward and
/// never back; `forget_silent` deletes exactly the instances silent since the given instant.
pub async fn instances_heartbeat_and_forget(stores: StoreHandles) {
    use custody_core::instance::InstanceId;
    let registry = &stores.shared.instances;
    let old = InstanceId::parse("serve-1-old").expect("id");
    let new = InstanceId::parse("serve-2-new").expect("id");
    assert_not_found(
        registry.last_heartbeat(&old).await,
        "an instance that never beat",
    );
    registry.heartbeat(&old, at(10)).await.expect("beat");
    assert_eq!(registry.last_heartbeat(&old).await.expect("beat"), at(10));
    registry.heartbeat(&old, at(20)).await.expect("beat");
    registry.heartbeat(&old, at(15)).await.expect("late beat");
    assert_eq!(
        registry.last_heartbeat(&old).await.expect("beat"),
        at(20),
        "a late beat never moves the heartbeat back"
    );
    registry.heartbeat(&new, at(100)).await.expect("beat");
    assert_eq!(registry.forget_silent(at(19)).await.expect("forget"), 0);
    assert_eq!(registry.forget_silent(at(20)).await.expect("forget"), 1);
    assert_not_found(registry.last_heartbeat(&old).await, "forgotten");
    assert_eq!(registry.last_heartbeat(&new).await.expect("beat"), at(100));
}

/// Completion and release need the reservation itself, not just the key (review, session 24).
/// Request A reserves a key, its work outlives the lease (or its instance goes silent), and
/// request B (here with another body) takes the key over. A then finishes first: its completion
/// is refused (`NotFound`) and changes nothing, its release (what the HTTP layer does after a
/// failed use case) leaves B's reservation alone, and B completes with its own response. The
/// token `reserve` hands out is the stored `created_at`, so a reservation made at an instant
/// finer than the store keeps still completes; and an instance never takes over its own
/// reservation by the heartbeat rule (so the token names one reservation).
pub async fn idempotency_completion_needs_its_own_reservation(stores: StoreHandles) {
    use custody_core::idempotency::{StoredResponse, IN_FLIGHT_LEASE};
    use custody_core::instance::{InstanceId, HEARTBEAT_TIMEOUT};
    use custody_core::ports::EnvironmentStores;
    use custody_core::ports::StoreError;

    async fn complete(
        env: &EnvironmentStores,
        tenant: custody_core::id::TenantId,
        key: &custody_core::idempotency::IdempotencyKey,
        token: &custody_core::idempotency::ReservationToken,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let mut tx = env.uow.begin().await.expect("begin");
        tx.complete_idempotency(tenant, key, token, response)
            .await?;
        tx.commit().await.expect("commit");
        Ok(())
    }

    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let store = &env.idempotency;
    let lease = IN_FLIGHT_LEASE.whole_seconds();
    let day = 86_400;

    // Taken over at the end of the lease.
    let key = idem_key("outlived");
    let first = store
        .reserve(a, &key, &fingerprint(1), at(0), at(day), None)
        .await
        .expect("reserve");
    assert_eq!(first, reserved(at(0), None), "A reserves");
    let second = store
        .reserve(a, &key, &fingerprint(2), at(lease), at(lease + day), None)
        .await
        .expect("reserve");
    assert_eq!(
        second,
        reserved(at(lease), None),
        "B takes the key over at the end of A's lease"
    );
    let (Reservation::Reserved(a_token), Reservation::Reserved(b_token)) = (first, second) else {
        unreachable!("both asserted reserved");
    };
    let b_in_flight = IdempotencyRecord {
        key: key.clone(),
        fingerprint: fingerprint(2),
        state: RecordState::InFlight,
        created_at: at(lease),
        expires_at: at(lease + day),
    };
    assert_not_found(
        complete(env, a, &key, &a_token, &stored_response(1)).await,
        "A completing the reservation B took over",
    );
    assert_eq!(
        store.lookup(a, &key, at(lease + 1)).await.expect("lookup"),
        b_in_flight,
        "A's refused completion changed nothing"
    );
    store.release(a, &key, &a_token).await.expect("A's release");
    assert_eq!(
        store.lookup(a, &key, at(lease + 1)).await.expect("lookup"),
        b_in_flight,
        "A's release leaves B's reservation alone"
    );
    complete(env, a, &key, &b_token, &stored_response(2))
        .await
        .expect("B completes");
    assert_eq!(
        store.lookup(a, &key, at(lease + 2)).await.expect("lookup"),
        IdempotencyRecord {
            state: RecordState::Completed(stored_response(2)),
            ..b_in_flight
        },
        "B's fingerprint with B's response"
    );
    assert_not_found(
        complete(env, a, &key, &b_token, &stored_response(3)).await,
        "a completed reservation is not completed twice",
    );

    // Taken over because A's instance went silent, by a request on another instance.
    let timeout = HEARTBEAT_TIMEOUT.whole_seconds();
    let first = InstanceId::parse("serve-1-first").expect("id");
    let second = InstanceId::parse("serve-2-second").expect("id");
    let registry = &stores.shared.instances;
    registry.heartbeat(&first, at(0)).await.expect("beat");
    registry
        .heartbeat(&second, at(timeout))
        .await
        .expect("beat");
    let key = idem_key("silent");
    assert_eq!(
        store
            .reserve(
                a,
                &key,
                &fingerprint(3),
                at(0),
                at(day),
                Some(first.clone())
            )
            .await
            .expect("reserve"),
        reserved(at(0), Some(&first))
    );
    assert!(
        matches!(
            store
                .reserve(
                    a,
                    &key,
                    &fingerprint(3),
                    at(timeout),
                    at(timeout + day),
                    Some(first.clone())
                )
                .await
                .expect("reserve"),
            Reservation::Existing(_)
        ),
        "an instance does not take over its own reservation by the heartbeat rule"
    );
    assert_eq!(
        store
            .reserve(
                a,
                &key,
                &fingerprint(3),
                at(timeout),
                at(timeout + day),
                Some(second.clone())
            )
            .await
            .expect("reserve"),
        reserved(at(timeout), Some(&second)),
        "the retry on another instance takes the silent instance's key"
    );
    assert_not_found(
        complete(
            env,
            a,
            &key,
            &token(at(0), Some(&first)),
            &stored_response(3),
        )
        .await,
        "the silent instance's request completing its successor's reservation",
    );
    assert_not_found(
        complete(
            env,
            a,
            &key,
            &token(at(timeout), Some(&first)),
            &stored_response(3),
        )
        .await,
        "the right instant but another owner",
    );
    assert_not_found(
        complete(env, a, &key, &token(at(timeout), None), &stored_response(3)).await,
        "the right instant but no owner",
    );
    store
        .release(a, &key, &token(at(0), Some(&first)))
        .await
        .expect("release");
    complete(
        env,
        a,
        &key,
        &token(at(timeout), Some(&second)),
        &stored_response(4),
    )
    .await
    .expect("the retry completes");
    let record = store
        .lookup(a, &key, at(timeout + 1))
        .await
        .expect("lookup");
    assert_eq!(record.state, RecordState::Completed(stored_response(4)));
    assert_eq!(record.created_at, at(timeout));

    // A reservation at an instant finer than the store keeps: the token is what is stored.
    let key = idem_key("nanoseconds");
    let now = at(7) + time::Duration::nanoseconds(789);
    let Reservation::Reserved(fine) = store
        .reserve(a, &key, &fingerprint(5), now, at(day), None)
        .await
        .expect("reserve")
    else {
        panic!("a free key is reserved");
    };
    assert_eq!(
        fine.reserved_at,
        store
            .lookup(a, &key, at(8))
            .await
            .expect("lookup")
            .created_at,
        "the token holds created_at as stored"
    );
    complete(env, a, &key, &fine, &stored_response(5))
        .await
        .expect("completed with the token the store handed out");
}

/// The use case of a request whose reservation was taken over commits nothing (review,
/// session 24), through the real `TransferService`: request A's transfer runs after request B
/// took its key over (A outlived the lease). A fails with `IdempotencyKeyTakenOver` and its unit
/// of work rolls back: no transaction, no ledger entry, no event, both wallets as they were, and
/// B's reservation untouched. B's transfer then commits with B's response stored.
pub async fn idempotency_taken_over_use_case_commits_nothing(stores: StoreHandles) {
    use custody_core::amount::Amount;
    use custody_core::error::Error;
    use custody_core::idempotency::{StoredResponse, IN_FLIGHT_LEASE};
    use custody_core::services::{IdempotentWrite, TransferCommand};
    use custody_core::transaction::Transaction;

    use crate::concurrency::{caller, seed_funded_wallets, transfer_service};

    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let wallets = seed_funded_wallets(&env, tenant).await;
    let (from, to) = (wallets[0].id, wallets[1].id);
    let service = transfer_service(&env);
    let caller = caller(tenant, env.environment);
    let command = || TransferCommand {
        from,
        to,
        amount: Amount::from_base_units(250).to_decimal_string(6),
        reference: None,
    };
    let respond = |t: &Transaction| StoredResponse {
        status: 201,
        headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        body: format!("{{\"id\":\"{}\"}}", t.id).into_bytes(),
    };
    let key = idem_key("transfer-once");
    let lease = IN_FLIGHT_LEASE.whole_seconds();
    let Reservation::Reserved(a_token) = env
        .idempotency
        .reserve(tenant, &key, &fingerprint(1), at(0), at(86_400), None)
        .await
        .expect("reserve")
    else {
        panic!("A reserves a free key");
    };
    let Reservation::Reserved(b_token) = env
        .idempotency
        .reserve(
            tenant,
            &key,
            &fingerprint(1),
            at(lease),
            at(lease + 86_400),
            None,
        )
        .await
        .expect("reserve")
    else {
        panic!("B takes the key over at the end of A's lease");
    };

    let before = snapshot(&env, tenant, [from, to]).await;
    let err = service
        .transfer(
            &caller,
            command(),
            Some(IdempotentWrite {
                key: &key,
                reservation: &a_token,
                respond: &respond,
            }),
        )
        .await
        .expect_err("A no longer holds the key");
    assert!(matches!(err, Error::IdempotencyKeyTakenOver), "{err:?}");
    assert_eq!(
        snapshot(&env, tenant, [from, to]).await,
        before,
        "A's unit of work committed nothing"
    );
    assert_eq!(
        env.idempotency
            .lookup(tenant, &key, at(lease + 1))
            .await
            .expect("lookup")
            .state,
        RecordState::InFlight,
        "B's reservation is untouched"
    );

    let transfer = service
        .transfer(
            &caller,
            command(),
            Some(IdempotentWrite {
                key: &key,
                reservation: &b_token,
                respond: &respond,
            }),
        )
        .await
        .expect("B's transfer");
    let record = env
        .idempotency
        .lookup(tenant, &key, at(lease + 1))
        .await
        .expect("lookup");
    assert_eq!(record.state, RecordState::Completed(respond(&transfer)));
    assert_eq!(record.created_at, at(lease));
    let after = snapshot(&env, tenant, [from, to]).await;
    assert_eq!(after.0.len(), before.0.len() + 1, "one transfer: B's");
    assert_eq!(
        after.2[0].balances.available.base_units() + 250,
        before.2[0].balances.available.base_units()
    );
}

/// What a transfer between `wallets` can change: the tenant's transactions, the two wallets'
/// ledgers and balances, the tenant's events.
async fn snapshot(
    env: &custody_core::ports::EnvironmentStores,
    tenant: custody_core::id::TenantId,
    wallets: [custody_core::id::WalletId; 2],
) -> (
    Vec<custody_core::transaction::Transaction>,
    Vec<Vec<custody_core::ledger::LedgerEntry>>,
    Vec<custody_core::wallet::Wallet>,
    Vec<custody_core::event::Event>,
) {
    use custody_core::ports::TransactionFilter;
    let transactions = env
        .transactions
        .list(tenant, &TransactionFilter::default(), page(200, None, None))
        .await
        .expect("transactions")
        .items;
    let mut ledger = Vec::new();
    let mut balances = Vec::new();
    for id in wallets {
        ledger.push(
            env.transactions
                .ledger_for_wallet(id)
                .await
                .expect("ledger"),
        );
        balances.push(env.wallets.get(tenant, id).await.expect("wallet"));
    }
    let events = env
        .events
        .list(tenant, page(200, None, None))
        .await
        .expect("events")
        .items;
    (transactions, ledger, balances, events)
}
