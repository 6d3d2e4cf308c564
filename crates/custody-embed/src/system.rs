//! The real clock and the real randomness: what production hands the core's `Clock` and
//! `IdGenerator` ports (tests hand fixed ones).

use custody_core::ports::{Clock, IdGenerator};
use time::OffsetDateTime;
use ulid::Ulid;

/// Wall-clock time, truncated to the microsecond: what both stores keep, so a resource
/// reads back exactly as it was first returned.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    // The production clock: the one place the process reads the time.
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> OffsetDateTime {
        let now = OffsetDateTime::now_utc();
        now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
            .unwrap_or(now)
    }
}

/// ULIDs from the wall clock and the operating system's CSPRNG; secrets from the CSPRNG.
#[derive(Debug, Clone, Copy, Default)]
pub struct OsIds;

impl IdGenerator for OsIds {
    fn ulid(&self) -> Ulid {
        fresh_ulid()
    }

    fn secret_bytes(&self) -> [u8; 32] {
        random_bytes()
    }
}

/// A new ULID (80 random bits from the OS).
pub fn fresh_ulid() -> Ulid {
    let nanos = SystemClock.now().unix_timestamp_nanos();
    let millis = u64::try_from(nanos / 1_000_000).unwrap_or(0);
    let bytes = random_bytes();
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&bytes[..10]);
    Ulid::from_parts(millis, u128::from_be_bytes(random))
}

/// 32 bytes from the OS CSPRNG.
///
/// # Panics
/// If the operating system has no randomness to give: nothing safe can be done without it.
#[allow(clippy::expect_used)]
pub fn random_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    getrandom::getrandom(&mut out).expect("the OS random number generator failed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulids_are_distinct_and_current() {
        let a = fresh_ulid();
        let b = fresh_ulid();
        assert_ne!(a, b);
        let now = SystemClock.now().unix_timestamp() as u64 * 1000;
        assert!(a.timestamp_ms().abs_diff(now) < 60_000);
        assert_eq!(SystemClock.now().nanosecond() % 1_000, 0);
    }
}
