use super::*;

#[test]
fn only_old_in_flight_records_are_abandoned() {
    let t0 = OffsetDateTime::UNIX_EPOCH;
    let record = |state| IdempotencyRecord {
        key: IdempotencyKey::parse(b"k").unwrap(),
        fingerprint: Fingerprint([0; 32]),
        state,
        created_at: t0,
        expires_at: t0 + RETENTION,
    };
    let running = record(RecordState::InFlight);
    assert!(!running.is_abandoned(t0 + IN_FLIGHT_LEASE - Duration::seconds(1)));
    assert!(running.is_abandoned(t0 + IN_FLIGHT_LEASE));
    let done = record(RecordState::Completed(StoredResponse {
        status: 201,
        headers: vec![],
        body: vec![],
    }));
    assert!(!done.is_abandoned(t0 + Duration::hours(23)));
}

#[test]
fn key_rules() {
    assert!(IdempotencyKey::parse(b"a").is_ok());
    assert!(IdempotencyKey::parse(b"550e8400-e29b-41d4-a716-446655440000").is_ok());
    assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
    assert_eq!(
        IdempotencyKey::parse(&[b'k'; 256]),
        Err(IdempotencyKeyError::Malformed)
    );
    assert_eq!(
        IdempotencyKey::parse(b""),
        Err(IdempotencyKeyError::Malformed)
    );
    assert_eq!(
        IdempotencyKey::parse(b"tab\there"),
        Err(IdempotencyKeyError::Malformed)
    );
    assert_eq!(
        IdempotencyKey::parse("clé".as_bytes()),
        Err(IdempotencyKeyError::Malformed)
    );
    assert_eq!(
        IdempotencyKey::parse(b"\x7f"),
        Err(IdempotencyKeyError::Malformed)
    );
}

#[test]
fn fingerprint_ignores_json_formatting_but_not_values() {
    let a = Fingerprint::of(
        "POST",
        "/connect/v1/addresses",
        br#"{"asset":"USDT","network":"solana"}"#,
    );
    let b = Fingerprint::of(
        "post",
        "/connect/v1/addresses",
        b"{ \"network\": \"solana\",\n \"asset\": \"USDT\" }",
    );
    let c = Fingerprint::of(
        "POST",
        "/connect/v1/addresses",
        br#"{"asset":"USDT","network":"ethereum"}"#,
    );
    let d = Fingerprint::of(
        "POST",
        "/connect/v1/addresses?x=1",
        br#"{"asset":"USDT","network":"solana"}"#,
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, d);
    assert_eq!(Fingerprint::from_hex(&a.to_hex()), Some(a));
    assert_eq!(Fingerprint::from_hex("zz"), None);
}

#[test]
fn fingerprint_of_non_json_bodies_uses_raw_bytes() {
    assert_ne!(
        Fingerprint::of("POST", "/", b"not json"),
        Fingerprint::of("POST", "/", b"not  json")
    );
    assert_eq!(
        Fingerprint::of("POST", "/", b""),
        Fingerprint::of("POST", "/", b"")
    );
}

fn record(state: RecordState) -> IdempotencyRecord {
    IdempotencyRecord {
        key: IdempotencyKey::parse(b"k1").unwrap(),
        fingerprint: Fingerprint::of("POST", "/x", b"{}"),
        state,
        created_at: OffsetDateTime::UNIX_EPOCH,
        expires_at: OffsetDateTime::UNIX_EPOCH + RETENTION,
    }
}

#[test]
fn decisions() {
    let same = Fingerprint::of("POST", "/x", b"{}");
    let other = Fingerprint::of("POST", "/x", b"{\"a\":1}");
    let response = StoredResponse {
        status: 201,
        headers: vec![],
        body: b"{}".to_vec(),
    };
    assert_eq!(
        record(RecordState::Completed(response.clone())).decide(&same),
        Decision::Replay(response.clone())
    );
    assert_eq!(
        record(RecordState::Completed(response)).decide(&other),
        Decision::Conflict
    );
    assert_eq!(
        record(RecordState::InFlight).decide(&same),
        Decision::InFlight {
            retry_after_secs: 1
        }
    );
    assert_eq!(
        record(RecordState::InFlight).decide(&other),
        Decision::Conflict
    );
}

#[test]
fn expiry_is_at_least_24_hours() {
    let r = record(RecordState::InFlight);
    assert!(!r.is_expired(OffsetDateTime::UNIX_EPOCH + Duration::hours(23)));
    assert!(r.is_expired(OffsetDateTime::UNIX_EPOCH + Duration::hours(24)));
}
