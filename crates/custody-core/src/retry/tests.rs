use super::*;

#[test]
fn attempts_are_bounded() {
    let b = Backoff::default();
    assert!(b.delay(1, 7, None).is_some());
    assert!(b.delay(2, 7, None).is_some());
    assert_eq!(
        b.delay(3, 7, None),
        None,
        "three attempts means two retries"
    );
    assert_eq!(b.delay(0, 7, None), None);
    assert_eq!(Backoff::NONE.delay(1, 7, None), None);
}

#[test]
fn delays_stay_within_the_doubling_ceiling_and_the_cap() {
    let b = Backoff {
        attempts: 10,
        base: Duration::from_millis(100),
        cap: Duration::from_millis(650),
    };
    for entropy in [0, 1, 99, 100, 101, 12_345, u64::MAX] {
        assert!(b.delay(1, entropy, None).expect("retry 1") <= Duration::from_millis(100));
        assert!(b.delay(2, entropy, None).expect("retry 2") <= Duration::from_millis(200));
        assert!(b.delay(4, entropy, None).expect("retry 4") <= Duration::from_millis(650));
        assert!(b.delay(9, entropy, None).expect("retry 9") <= Duration::from_millis(650));
    }
    // The whole range is reachable: 0 and the ceiling itself.
    assert_eq!(b.delay(1, 0, None), Some(Duration::ZERO));
    assert_eq!(b.delay(1, 100, None), Some(Duration::from_millis(100)));
    assert_eq!(b.delay(2, 200, None), Some(Duration::from_millis(200)));
}

#[test]
fn different_entropy_spreads_the_retries() {
    let b = Backoff::default();
    let delays: std::collections::BTreeSet<Duration> = (0..50u64)
        .map(|e| b.delay(2, e * 7919, None).expect("retry"))
        .collect();
    assert!(delays.len() > 10, "jitter spreads delays: {delays:?}");
}

/// Runs `retrying` over scripted outcomes; returns the result, the calls made and the
/// waits slept.
async fn run(
    outcomes: Vec<Result<u8, ProviderError>>,
) -> (Result<u8, ProviderError>, usize, Vec<Duration>) {
    let outcomes = std::sync::Mutex::new(outcomes.into_iter());
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let slept = std::sync::Mutex::new(Vec::new());
    let result = retrying(
        Backoff::default(),
        || 0,
        |d| {
            slept.lock().unwrap().push(d);
            std::future::ready(())
        },
        || {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            std::future::ready(outcomes.lock().unwrap().next().unwrap_or(Ok(0)))
        },
    )
    .await;
    let slept = slept.into_inner().unwrap();
    (result, calls.into_inner(), slept)
}

#[tokio::test]
async fn transient_failures_are_retried_until_the_attempts_are_spent() {
    let down = || Err(ProviderError::Unavailable("down".into()));
    let (result, calls, slept) = run(vec![down(), Ok(7)]).await;
    assert_eq!((result, calls, slept.len()), (Ok(7), 2, 1));
    let (result, calls, _) = run(vec![down(), down(), down(), Ok(7)]).await;
    assert!(matches!(result, Err(ProviderError::Unavailable(_))));
    assert_eq!(calls, 3, "three attempts in all");
}

#[tokio::test]
async fn refusals_and_long_waits_are_returned_at_once() {
    let (result, calls, _) = run(vec![Err(ProviderError::Rejected("no".into()))]).await;
    assert!(matches!(result, Err(ProviderError::Rejected(_))));
    assert_eq!(calls, 1);
    let (result, calls, _) = run(vec![Err(ProviderError::RateLimited {
        retry_after_secs: Some(3600),
    })])
    .await;
    assert!(matches!(result, Err(ProviderError::RateLimited { .. })));
    assert_eq!(calls, 1, "an hour is not slept through");
    let (result, calls, slept) = run(vec![
        Err(ProviderError::RateLimited {
            retry_after_secs: Some(2),
        }),
        Ok(1),
    ])
    .await;
    assert_eq!((result, calls), (Ok(1), 2));
    assert_eq!(
        slept,
        vec![Duration::from_secs(2)],
        "the asked wait is the floor"
    );
}

#[test]
fn a_providers_retry_after_is_a_floor_but_never_beyond_the_cap() {
    let b = Backoff::default();
    assert_eq!(
        b.delay(1, 0, Some(Duration::from_secs(2))),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        b.delay(1, 0, Some(Duration::from_secs(3600))),
        Some(Duration::from_secs(5))
    );
}
