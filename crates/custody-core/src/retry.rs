//! Retry policy for calls to custody providers: bounded, exponential, with full jitter.
//!
//! Pure arithmetic: the adapters hand in the randomness (`entropy`) and do the sleeping, so the
//! policy is testable without a clock. Only calls that are safe to repeat (reads, and writes
//! the provider itself deduplicates) may be retried; the adapters decide which those are.

use std::future::Future;
use std::time::Duration;

use crate::ports::ProviderError;

/// How often and how patiently a safe call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Total attempts, the first included (1 means no retry).
    pub attempts: u32,
    /// The ceiling of the first retry's delay; doubled for each further retry.
    pub base: Duration,
    /// No single delay exceeds this.
    pub cap: Duration,
}

impl Default for Backoff {
    /// Three attempts, delays drawn from [0, 250 ms] then [0, 500 ms], never over 5 s.
    fn default() -> Backoff {
        Backoff {
            attempts: 3,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// No retries at all (for calls that must never be repeated).
    pub const NONE: Backoff = Backoff {
        attempts: 1,
        base: Duration::ZERO,
        cap: Duration::ZERO,
    };

    /// The delay before retry number `retry` (1 for the first retry), or `None` when the
    /// attempts are spent. "Full jitter": uniform in `[0, min(cap, base * 2^(retry-1))]`,
    /// drawn from `entropy`, so clients that failed together do not retry together.
    /// `retry_after`, when the provider asked for a wait, is honoured as a floor (capped).
    pub fn delay(
        &self,
        retry: u32,
        entropy: u64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if retry == 0 || retry >= self.attempts {
            return None;
        }
        let ceiling = self
            .base
            .checked_mul(1u32 << (retry - 1).min(20))
            .unwrap_or(self.cap)
            .min(self.cap);
        let ceiling_ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        let jittered = Duration::from_millis(entropy % ceiling_ms.saturating_add(1));
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(self.cap)),
            None => jittered,
        })
    }
}

/// Runs a safe provider call under `backoff`: repeated on `Unavailable`, and on `RateLimited`
/// when the provider's wait (if it named one) is within the cap (that wait is then the
/// floor); any other error, a longer wait, or spent attempts end it with the last error.
/// `entropy` draws the jitter and `sleep` waits, so the adapters keep the runtime and the
/// randomness.
///
/// # Errors
/// The call's last error.
pub async fn retrying<T, Call, CallFut, Sleep, SleepFut>(
    backoff: Backoff,
    mut entropy: impl FnMut() -> u64,
    sleep: Sleep,
    mut call: Call,
) -> Result<T, ProviderError>
where
    Call: FnMut() -> CallFut,
    CallFut: Future<Output = Result<T, ProviderError>>,
    Sleep: Fn(Duration) -> SleepFut,
    SleepFut: Future<Output = ()>,
{
    let mut retry = 0u32;
    loop {
        let error = match call().await {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let asked = match &error {
            ProviderError::Unavailable(_) => None,
            ProviderError::RateLimited { retry_after_secs } => {
                let asked = retry_after_secs.map(|s| Duration::from_secs(u64::from(s)));
                if asked.is_some_and(|wait| wait > backoff.cap) {
                    return Err(error);
                }
                asked
            }
            _ => return Err(error),
        };
        retry += 1;
        let Some(delay) = backoff.delay(retry, entropy(), asked) else {
            return Err(error);
        };
        sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
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
}
