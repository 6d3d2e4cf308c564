//! Server instances: each `custody serve` process, known by an [`InstanceId`] of its own start
//! and a heartbeat in the store, so what a dead process left half-done can be told apart from
//! what a live one is still doing.
//!
//! The first user is idempotency: a reservation names the instance that made it, and a
//! reservation whose instance has not beaten for [`HEARTBEAT_TIMEOUT`] was left by a crashed
//! or killed process, so the partner's retry may take the key at once (instead of waiting for
//! [`IN_FLIGHT_LEASE`](crate::idempotency::IN_FLIGHT_LEASE), which stays as the backstop).
//!
//! Instances must agree on time to well within the timeout (NTP): the heartbeat is written
//! with the instance's clock and judged with another's.

use std::fmt;

use time::Duration;

/// How often an instance writes its heartbeat.
pub const HEARTBEAT_INTERVAL: Duration = Duration::seconds(1);

/// An instance whose heartbeat is older than this is dead: five missed beats, far above a
/// scheduling hiccup, well below what a partner's retry should wait.
pub const HEARTBEAT_TIMEOUT: Duration = Duration::seconds(5);

/// Instances silent for longer than this are forgotten (their rows deleted). Longer than any
/// lease, so every reservation they made is takeable by the lease alone by then.
pub const FORGET_AFTER: Duration = Duration::days(1);

/// One process start of `custody serve`: never reused, so a restarted process is a new
/// instance and its predecessor's reservations are released, not inherited.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

/// Why a string is not an instance id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an instance id is 1 to 200 printable ASCII characters")]
pub struct InvalidInstanceId;

impl InstanceId {
    /// An instance id from its parts: what runs (`serve`), the process id and a fresh ULID.
    pub fn new(role: &str, pid: u32, ulid: &str) -> InstanceId {
        InstanceId(format!("{role}-{pid}-{ulid}"))
    }

    /// Parses a stored id.
    ///
    /// # Errors
    /// [`InvalidInstanceId`].
    pub fn parse(raw: &str) -> Result<InstanceId, InvalidInstanceId> {
        let ok = (1..=200).contains(&raw.len()) && raw.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if ok {
            Ok(InstanceId(raw.to_owned()))
        } else {
            Err(InvalidInstanceId)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_printable_and_bounded() {
        let id = InstanceId::new("serve", 42, "01J00000000000000000000000");
        assert_eq!(id.as_str(), "serve-42-01J00000000000000000000000");
        assert_eq!(InstanceId::parse(id.as_str()), Ok(id));
        assert_eq!(InstanceId::parse(""), Err(InvalidInstanceId));
        assert_eq!(InstanceId::parse("a b"), Err(InvalidInstanceId));
        assert_eq!(InstanceId::parse(&"x".repeat(201)), Err(InvalidInstanceId));
    }

    #[test]
    fn the_timeout_leaves_room_for_missed_beats_and_stays_under_the_lease() {
        assert!(HEARTBEAT_TIMEOUT >= HEARTBEAT_INTERVAL * 5);
        assert!(HEARTBEAT_TIMEOUT < crate::idempotency::IN_FLIGHT_LEASE);
        assert!(FORGET_AFTER > crate::idempotency::IN_FLIGHT_LEASE);
    }
}
