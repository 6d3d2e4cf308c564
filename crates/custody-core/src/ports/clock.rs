use std::sync::Arc;

use time::OffsetDateTime;

/// The time. Core never reads a clock itself, so every rule that depends on time (signature
/// windows, key expiry, idempotency retention) is testable at any instant.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current UTC time. Must not go backwards by more than the host clock does.
    fn now(&self) -> OffsetDateTime;
}

/// Shared clock handle.
pub type DynClock = Arc<dyn Clock>;

/// A clock stuck at one instant (for tests and deterministic tools); it can be moved by hand.
#[derive(Debug)]
pub struct FixedClock(std::sync::Mutex<OffsetDateTime>);

impl FixedClock {
    /// A clock showing `at`.
    pub fn new(at: OffsetDateTime) -> FixedClock {
        FixedClock(std::sync::Mutex::new(at))
    }

    /// Moves the clock.
    pub fn set(&self, at: OffsetDateTime) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
