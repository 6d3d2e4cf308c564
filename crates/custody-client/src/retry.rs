//! Bounded retries (docs/errors-and-conventions.md, "Retrying safely").
//!
//! Retried, up to [`RetryPolicy::max_retries`] times: connection errors and timeouts, `429`,
//! `409 idempotency_key_in_flight`, `500`, `503`, `504`, and any other answer whose envelope says
//! `retryable: true`. Never retried: every other `4xx` (fix the request) and `502`
//! `provider_rejected`-style refusals (`retryable: false`: the provider would refuse again).
//!
//! A retry waits `Retry-After` when the server sent it (capped at
//! [`RetryPolicy::max_retry_after`]), otherwise an exponential backoff with jitter. A mutation is
//! never retried without its `Idempotency-Key`: the client generates one per logical request
//! and sends the same one on every attempt, so a retry is answered from the server's stored
//! response when the first attempt did run.

use std::time::Duration;

use crate::error::ApiError;

/// How many times, and how long apart, a request is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// Retries after the first attempt (0: never retry). Default 3.
    pub max_retries: u32,
    /// The first backoff without `Retry-After`; doubled per retry. Default 500 ms.
    pub initial_backoff: Duration,
    /// The longest backoff without `Retry-After`. Default 8 s.
    pub max_backoff: Duration,
    /// The longest wait a server's `Retry-After` may ask for. Default 30 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn never() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// This policy with `max_retries` retries.
    #[must_use]
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// This policy with another initial and maximum backoff.
    #[must_use]
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }

    /// This policy with another cap on `Retry-After`.
    #[must_use]
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    /// How long to wait before retry number `retry` (0 for the first retry): the server's
    /// `Retry-After` (capped) when given, else `initial_backoff · 2^retry` (capped at
    /// `max_backoff`) of which a random half is taken off ("equal jitter"), so clients that
    /// failed together do not retry together.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait.min(self.max_retry_after);
        }
        let exp = self
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(retry.min(16)))
            .min(self.max_backoff);
        let half = exp / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        let jitter = if jitter_ms == 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(random_u64() % (jitter_ms + 1))
        };
        half + jitter
    }
}

/// Whether an error answer may succeed when sent again with the same `Idempotency-Key`.
pub(crate) fn is_retryable(error: &ApiError) -> bool {
    match error.status {
        429 | 500 | 503 | 504 => true,
        409 => error.code == "idempotency_key_in_flight",
        _ => error.retryable,
    }
}

/// Whether a transport failure may be retried: every failure to get an answer (connect, reset,
/// timeout, a body cut short). Builder errors are bugs and are not retried.
pub(crate) fn is_retryable_transport(error: &reqwest::Error) -> bool {
    !error.is_builder() && !error.is_redirect() && !error.is_decode()
}

/// `Retry-After`: delta-seconds, or an HTTP date (IMF-fixdate) relative to `now`.
pub(crate) fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let at = time::PrimitiveDateTime::parse(value, &format)
        .ok()?
        .assume_utc();
    let wait = at - now;
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// A fresh `Idempotency-Key`: a random UUID v4 (what the docs recommend).
pub fn new_idempotency_key() -> String {
    let mut bytes = random_bytes::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn random_u64() -> u64 {
    u64::from_le_bytes(random_bytes::<8>())
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS generator does not fail on supported platforms; if it ever did, a zeroed buffer
    // would only make jitter zero and a key less random, never unsafe: the server refuses a
    // reused key for a different request (409 idempotency_conflict).
    let _ = getrandom::getrandom(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16, code: &str, retryable: bool) -> ApiError {
        let body = format!(
            r#"{{"error":{{"type":"x","code":"{code}","message":"m","status":{status},"requestId":"req_1","retryable":{retryable}}}}}"#
        );
        ApiError::from_response(status, None, None, body.as_bytes())
    }

    #[test]
    fn which_answers_are_retried() {
        assert!(is_retryable(&error(429, "rate_limited", true)));
        assert!(is_retryable(&error(409, "idempotency_key_in_flight", true)));
        assert!(!is_retryable(&error(409, "idempotency_conflict", false)));
        assert!(is_retryable(&error(500, "internal_error", false)));
        assert!(is_retryable(&error(503, "provider_unavailable", true)));
        assert!(!is_retryable(&error(502, "provider_rejected", false)));
        assert!(!is_retryable(&error(422, "insufficient_funds", false)));
        assert!(!is_retryable(&error(401, "signature_replayed", false)));
    }

    #[test]
    fn retry_after_is_honoured_and_capped() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
        assert_eq!(
            policy.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = RetryPolicy::default();
        for retry in 0..6 {
            let full = Duration::from_millis(500 * 2u64.pow(retry)).min(Duration::from_secs(8));
            let d = policy.delay(retry, None);
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} not in [{:?}, {full:?}]",
                full / 2
            );
        }
        assert!(policy.delay(40, None) <= Duration::from_secs(8));
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = time::macros::datetime!(2026-12-06 09:00:00 UTC);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after("Sun, 06 Dec 2026 09:00:05 GMT", now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Dec 2026 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn idempotency_keys_are_uuid_v4_and_fresh() {
        let a = new_idempotency_key();
        let b = new_idempotency_key();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    }
}
