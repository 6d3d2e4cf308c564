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

// ---- Eviction (session 24: bounded, least recently used of the largest tenant) ----------

/// Checks every index against the map: the bytes are exactly the charges of what is held,
/// within the bound; each tenant's share and use order list exactly its records; the expiry
/// order lists every record once.
fn assert_consistent(cache: &IdempotencyCache) {
    let entries = cache.lock();
    let sum: usize = entries.records.values().map(|held| held.size).sum();
    assert_eq!(entries.bytes, sum, "bytes are the sum of the charges");
    assert!(entries.bytes <= cache.max_bytes, "within the bound");
    let mut per_tenant: HashMap<TenantId, (usize, usize)> = HashMap::new();
    for ((tenant, key), held) in &entries.records {
        assert_eq!(held.size, charge(&held.record));
        assert_eq!(&held.record.key, key);
        assert_eq!(
            entries
                .by_expiry
                .get(&(held.record.expires_at, held.serial)),
            Some(&(*tenant, key.clone()))
        );
        assert_eq!(entries.shares[tenant].by_use.get(&held.used), Some(key));
        let tally = per_tenant.entry(*tenant).or_default();
        tally.0 += held.size;
        tally.1 += 1;
    }
    assert_eq!(entries.by_expiry.len(), entries.records.len());
    assert_eq!(entries.shares.len(), per_tenant.len(), "no empty share");
    assert_eq!(entries.by_bytes.len(), per_tenant.len());
    for (tenant, (bytes, count)) in per_tenant {
        let share = &entries.shares[&tenant];
        assert_eq!(share.bytes, bytes);
        assert_eq!(share.by_use.len(), count);
        assert!(entries.by_bytes.contains(&(bytes, tenant)));
    }
}

/// A store answering every reservation at `now` with a completed record of the key, whose
/// body is `body_len(key)` bytes and which expires at `expires(key, now)`.
fn store_of_completed(
    body_len: impl Fn(&str) -> usize + Send + Sync + 'static,
    expires: impl Fn(&str, OffsetDateTime) -> OffsetDateTime + Send + Sync + 'static,
) -> MockIdempotencyStore {
    let mut inner = MockIdempotencyStore::new();
    inner
        .expect_reserve()
        .returning(move |_, key, _, now, _, _| {
            let mut record = completed(key.as_str(), &vec![b'x'; body_len(key.as_str())]);
            record.expires_at = expires(key.as_str(), now);
            Ok(Reservation::Existing(record))
        });
    inner.expect_purge_expired().returning(|_| Ok(0));
    inner
}

/// Whether (tenant, key) is held and served at `now` (marks it used).
fn held(cache: &IdempotencyCache, t: TenantId, k: &str, now: OffsetDateTime) -> bool {
    cache.get(t, &key(k), now).is_some()
}

/// The charge of one of the equal records of these tests (five-character keys, 1000 bytes).
fn one() -> usize {
    charge(&completed("k0000", &[b'x'; 1_000]))
}

fn room_for(records: usize) -> IdempotencyCacheSettings {
    IdempotencyCacheSettings {
        max_bytes: records * one() + one() / 2,
    }
}

#[tokio::test]
async fn the_bound_holds_and_the_bytes_are_exact_after_every_operation() {
    let settings = IdempotencyCacheSettings { max_bytes: 40_000 };
    // Bodies from 0 to 9 KB and lives from 2 to 30 minutes, decided by the key.
    let digits = |k: &str| k[1..].parse::<usize>().unwrap();
    let inner = store_of_completed(
        move |k| (digits(k) * 7_919) % 9_000,
        move |k, now| now + Duration::seconds(120 + 60 * (digits(k) % 29) as i64),
    );
    let cache = IdempotencyCache::new(Arc::new(inner), settings);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let mut now = t0();
    for step in 0..3_000 {
        let t = tenant(1 + next(4));
        match next(10) {
            // The purge, now and then, and time moving on.
            0 => {
                now += Duration::seconds(next(90) as i64);
                cache.purge_expired(now).await.unwrap();
            }
            // A replay of a recent key (a hit if still held), or a new key.
            1..=4 => {
                reserve(&cache, t, &format!("k{:04}", next(40)), now).await;
            }
            _ => {
                reserve(&cache, t, &format!("k{:04}", next(10_000)), now).await;
            }
        }
        assert_consistent(&cache);
        assert!(cache.bytes() <= settings.max_bytes, "step {step}");
    }
    assert!(!cache.is_empty());
}

#[tokio::test]
async fn another_tenants_entries_survive_a_flood() {
    let inner = store_of_completed(|_| 1_000, |_, now| now + Duration::hours(24));
    let cache = IdempotencyCache::new(Arc::new(inner), room_for(8));
    let (flooder, small, big) = (tenant(1), tenant(2), tenant(3));
    for n in 0..2 {
        reserve(&cache, small, &format!("s{n:04}"), t0()).await;
    }
    for n in 0..5 {
        reserve(&cache, big, &format!("b{n:04}"), t0()).await;
    }
    assert_eq!(cache.len(), 7);
    for n in 0..1_000 {
        reserve(&cache, flooder, &format!("f{n:04}"), t0()).await;
        assert_consistent(&cache);
    }
    // The flooder took room from the tenant holding more than it until they held the same,
    // then recycled its own records; the small tenant lost nothing.
    let shares = |t| cache.lock().shares.get(&t).map_or(0, |s| s.by_use.len());
    assert_eq!((shares(flooder), shares(small), shares(big)), (3, 2, 3));
    for n in 0..2 {
        assert!(held(&cache, small, &format!("s{n:04}"), t0()), "s{n}");
    }
    for n in 2..5 {
        assert!(
            held(&cache, big, &format!("b{n:04}"), t0()),
            "b{n}: the most recent"
        );
    }
    for n in 997..1_000 {
        assert!(held(&cache, flooder, &format!("f{n:04}"), t0()), "f{n}");
    }
    assert!(
        !held(&cache, big, "b0000", t0()),
        "the least recent went first"
    );
}

#[tokio::test]
async fn a_recently_replayed_entry_survives() {
    let inner = store_of_completed(|_| 1_000, |_, now| now + Duration::hours(24));
    let cache = IdempotencyCache::new(Arc::new(inner), room_for(3));
    for k in ["k0000", "k0001", "k0002"] {
        reserve(&cache, tenant(1), k, t0()).await;
    }
    // A replay of the oldest, answered from memory, makes it the most recently used.
    assert!(held(&cache, tenant(1), "k0000", t0()));
    reserve(&cache, tenant(1), "k0003", t0()).await;
    assert_consistent(&cache);
    assert!(
        !held(&cache, tenant(1), "k0001", t0()),
        "the least recently used went"
    );
    for k in ["k0000", "k0002", "k0003"] {
        assert!(held(&cache, tenant(1), k, t0()), "{k}");
    }
}

#[tokio::test]
async fn entries_no_longer_served_go_first() {
    // k0009 expires in two minutes, the others in a day.
    let inner = store_of_completed(
        |_| 1_000,
        |k, now| {
            now + if k == "k0009" {
                Duration::minutes(2)
            } else {
                Duration::hours(24)
            }
        },
    );
    let cache = IdempotencyCache::new(Arc::new(inner), room_for(3));
    // The short-lived one is the most recently used, of the largest tenant.
    reserve(&cache, tenant(2), "k0001", t0()).await;
    reserve(&cache, tenant(1), "k0002", t0()).await;
    reserve(&cache, tenant(1), "k0009", t0()).await;
    // A minute later it is within the margin of its expiry: no longer served, so it goes
    // before any record still served, whatever their use or their tenant.
    let later = t0() + Duration::minutes(1);
    reserve(&cache, tenant(2), "k0003", later).await;
    assert_consistent(&cache);
    assert_eq!(cache.len(), 3);
    assert!(held(&cache, tenant(2), "k0001", later));
    assert!(held(&cache, tenant(1), "k0002", later));
    assert!(held(&cache, tenant(2), "k0003", later));
}
