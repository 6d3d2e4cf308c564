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
mod tests;
