use custody_core::idempotency::StoredResponse;
use custody_core::ports::MockIdempotencyStore;
use time::Duration;
use ulid::Ulid;

use super::*;

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

fn tenant(n: u64) -> TenantId {
    TenantId::from_ulid(Ulid::from_parts(n, 1))
}

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text.as_bytes()).unwrap()
}

fn fingerprint() -> Fingerprint {
    Fingerprint::of("POST", "/connect/v1/addresses", b"{}")
}

fn completed(text: &str, body: &[u8]) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key(text),
        fingerprint: fingerprint(),
        state: RecordState::Completed(StoredResponse {
            status: 201,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_vec(),
        }),
        created_at: t0(),
        expires_at: t0() + Duration::hours(24),
    }
}

fn in_flight(text: &str) -> IdempotencyRecord {
    IdempotencyRecord {
        state: RecordState::InFlight,
        ..completed(text, b"")
    }
}

const ROOMY: IdempotencyCacheSettings = IdempotencyCacheSettings { max_bytes: 1 << 20 };

/// `inner.reserve` answers `answer` exactly `times` times.
fn store_answering(answer: Reservation, times: usize) -> MockIdempotencyStore {
    let mut inner = MockIdempotencyStore::new();
    inner
        .expect_reserve()
        .times(times)
        .returning(move |_, _, _, _, _, _| Ok(answer.clone()));
    inner
}

async fn reserve(
    cache: &IdempotencyCache,
    t: TenantId,
    k: &str,
    now: OffsetDateTime,
) -> Reservation {
    cache
        .reserve(
            t,
            &key(k),
            &fingerprint(),
            now,
            now + Duration::hours(24),
            None,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn a_completed_record_is_read_once_then_answered_from_memory() {
    let record = completed("k1", br#"{"id":"ba_1"}"#);
    let inner = store_answering(Reservation::Existing(record.clone()), 1);
    let cache = IdempotencyCache::new(Arc::new(inner), ROOMY);
    for _ in 0..3 {
        assert_eq!(
            reserve(&cache, tenant(1), "k1", t0()).await,
            Reservation::Existing(record.clone())
        );
    }
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn an_in_flight_record_and_a_fresh_reservation_are_never_kept() {
    let inner = store_answering(Reservation::Existing(in_flight("k1")), 2);
    let cache = IdempotencyCache::new(Arc::new(inner), ROOMY);
    for _ in 0..2 {
        assert_eq!(
            reserve(&cache, tenant(1), "k1", t0()).await,
            Reservation::Existing(in_flight("k1"))
        );
    }
    let token = ReservationToken {
        reserved_at: t0(),
        owner: None,
    };
    let inner = store_answering(Reservation::Reserved(token.clone()), 2);
    let cache = IdempotencyCache::new(Arc::new(inner), ROOMY);
    for _ in 0..2 {
        assert_eq!(
            reserve(&cache, tenant(1), "k2", t0()).await,
            Reservation::Reserved(token.clone())
        );
    }
    assert!(cache.is_empty());
}

#[tokio::test]
async fn an_expired_record_is_asked_of_the_store_again() {
    let record = completed("k1", b"{}");
    let expires_at = record.expires_at;
    let inner = store_answering(Reservation::Existing(record.clone()), 2);
    let cache = IdempotencyCache::new(Arc::new(inner), ROOMY);
    reserve(&cache, tenant(1), "k1", t0()).await;
    // Still from memory one microsecond before the margin before its expiry.
    reserve(
        &cache,
        tenant(1),
        "k1",
        expires_at - EXPIRY_MARGIN - Duration::microseconds(1),
    )
    .await;
    // Within the margin the store decides (another instance whose clock is ahead may have
    // replaced the record): a second read.
    reserve(&cache, tenant(1), "k1", expires_at - EXPIRY_MARGIN).await;
}

#[tokio::test]
async fn a_record_is_never_answered_to_another_tenant() {
    let record = completed("k1", b"{}");
    let inner = store_answering(Reservation::Existing(record), 2);
    let cache = IdempotencyCache::new(Arc::new(inner), ROOMY);
    reserve(&cache, tenant(1), "k1", t0()).await;
    reserve(&cache, tenant(2), "k1", t0()).await;
    assert_eq!(cache.len(), 2);
}

#[tokio::test]
async fn memory_stays_within_the_bound() {
    let body = vec![b'x'; 1_000];
    let one = charge(&completed("k0", &body));
    // Room for three records.
    let settings = IdempotencyCacheSettings {
        max_bytes: 3 * one + one / 2,
    };
    let mut inner = MockIdempotencyStore::new();
    inner.expect_reserve().returning(move |_, key, _, _, _, _| {
        Ok(Reservation::Existing(completed(
            key.as_str(),
            &vec![b'x'; 1_000],
        )))
    });
    let cache = IdempotencyCache::new(Arc::new(inner), settings);
    for n in 0..10 {
        reserve(&cache, tenant(1), &format!("k{n}"), t0()).await;
        assert!(cache.bytes() <= settings.max_bytes, "bound kept after {n}");
        assert!(cache.len() <= 3);
        assert_eq!(cache.bytes(), cache.len() * one);
    }
    // A record larger than the bound is not kept at all.
    let tiny = IdempotencyCache::new(
        Arc::new(store_answering(
            Reservation::Existing(completed("big", &body)),
            2,
        )),
        IdempotencyCacheSettings { max_bytes: 100 },
    );
    reserve(&tiny, tenant(1), "big", t0()).await;
    reserve(&tiny, tenant(1), "big", t0()).await;
    assert!(tiny.is_empty());
}

#[tokio::test]
async fn every_other_method_is_forwarded_and_the_purge_drops_expired_records() {
    let record = completed("k1", b"{}");
    let expires_at = record.expires_at;
    let mut inner = store_answering(Reservation::Existing(record.clone()), 1);
    inner
        .expect_lookup()
        .times(1)
        .returning(move |_, _, _| Ok(completed("k1", b"{}")));
    inner.expect_release().times(1).returning(|_, _, _| Ok(()));
    inner.expect_purge_expired().times(2).returning(|_| Ok(7));
    let cache = IdempotencyCache::new(Arc::new(inner), ROOMY);
    reserve(&cache, tenant(1), "k1", t0()).await;
    assert_eq!(
        cache.lookup(tenant(1), &key("k1"), t0()).await.unwrap(),
        record
    );
    let token = ReservationToken {
        reserved_at: t0(),
        owner: None,
    };
    cache.release(tenant(1), &key("k1"), &token).await.unwrap();
    assert_eq!(cache.purge_expired(t0()).await.unwrap(), 7);
    assert_eq!(cache.len(), 1, "a live record survives the purge");
    assert_eq!(cache.purge_expired(expires_at).await.unwrap(), 7);
    assert!(cache.is_empty(), "an expired record goes with the purge");
    assert_eq!(cache.bytes(), 0);
}

#[test]
fn disabled_settings_leave_the_store_as_it_is() {
    let inner: DynIdempotencyStore = Arc::new(MockIdempotencyStore::new());
    let same = cached(inner.clone(), IdempotencyCacheSettings::DISABLED);
    assert!(Arc::ptr_eq(&inner, &same));
}
