//! Idempotency: the rules that make partner retries safe.
//!
//! A record is scoped to (environment, tenant, key) — the environment through the store
//! handle's binding — and kept at least [`RETENTION`]. The request is identified by a
//! [`Fingerprint`] of (method, path, canonical JSON body), so whitespace or key order changes
//! in a retried body do not count as a different request, while any change of value does.
//!
//! Order of operations (enforced by the HTTP layer, decided here): the header is parsed before
//! authentication, the approval gate runs before the record is touched, and only requests that
//! start executing reserve a key. The completed response is written by the unit of work in the
//! same database transaction as the change it describes; a 5xx stores nothing and releases the
//! key so the partner may retry.

use std::fmt;

use serde_json::Value;
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::instance::InstanceId;

/// How long records are kept by default.
pub const RETENTION: Duration = Duration::hours(24);
/// Keys are at most this long.
pub const MAX_KEY_LEN: usize = 255;
/// What `Retry-After` says while the first request is still running.
pub const IN_FLIGHT_RETRY_AFTER_SECS: u32 = 1;
/// An in-flight record older than this was abandoned (its process crashed or was killed
/// mid-request): far longer than any request can run (statement, lock and provider timeouts are
/// all well under it), so the key may be taken again instead of blocking for the retention.
pub const IN_FLIGHT_LEASE: Duration = Duration::minutes(5);

/// A valid `Idempotency-Key`: 1–255 printable ASCII characters (space included, as it is
/// printable; a leading or trailing one would have been trimmed by HTTP already).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why an `Idempotency-Key` header was refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdempotencyKeyError {
    /// Missing where required (400 `idempotency_key_required`).
    #[error("the Idempotency-Key header is required for this request")]
    Missing,
    /// Empty, too long or non-printable (400 `invalid_idempotency_key`).
    #[error("the Idempotency-Key header must be 1 to 255 printable ASCII characters")]
    Malformed,
}

impl IdempotencyKeyError {
    /// The stable machine code.
    pub const fn code(&self) -> &'static str {
        match self {
            IdempotencyKeyError::Missing => "idempotency_key_required",
            IdempotencyKeyError::Malformed => "invalid_idempotency_key",
        }
    }
}

impl IdempotencyKey {
    /// Parses the raw header bytes.
    ///
    /// # Errors
    /// [`IdempotencyKeyError::Malformed`].
    pub fn parse(raw: &[u8]) -> Result<IdempotencyKey, IdempotencyKeyError> {
        let ok =
            (1..=MAX_KEY_LEN).contains(&raw.len()) && raw.iter().all(|b| (0x20..=0x7e).contains(b));
        if !ok {
            return Err(IdempotencyKeyError::Malformed);
        }
        String::from_utf8(raw.to_vec())
            .map(IdempotencyKey)
            .map_err(|_| IdempotencyKeyError::Malformed)
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// SHA-256 over the method, the path with query, and the canonical body.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", hex::encode(self.0))
    }
}

impl Fingerprint {
    /// Fingerprints a request. A JSON body is canonicalised (keys sorted, insignificant
    /// whitespace dropped); anything else is hashed as raw bytes.
    pub fn of(method: &str, path_and_query: &str, body: &[u8]) -> Fingerprint {
        let canonical_body = match serde_json::from_slice::<Value>(body) {
            // serde_json's map is ordered by key (no `preserve_order`), so re-serialising sorts.
            Ok(value) => serde_json::to_vec(&value).unwrap_or_else(|_| body.to_vec()),
            Err(_) => body.to_vec(),
        };
        let mut hasher = Sha256::new();
        hasher.update(method.to_ascii_uppercase().as_bytes());
        hasher.update(b"\n");
        hasher.update(path_and_query.as_bytes());
        hasher.update(b"\n");
        hasher.update(&canonical_body);
        Fingerprint(hasher.finalize().into())
    }

    /// Lowercase hex, for storage.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses [`Fingerprint::to_hex`] output.
    pub fn from_hex(s: &str) -> Option<Fingerprint> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Fingerprint(out))
    }
}

/// A response as it will be replayed: status, headers and body byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status code.
    pub status: u16,
    /// Headers worth replaying (content type, location, …), in order.
    pub headers: Vec<(String, String)>,
    /// The exact body bytes.
    pub body: Vec<u8>,
}

/// A record's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordState {
    /// The first request is still running.
    InFlight,
    /// The first request finished with this response.
    Completed(StoredResponse),
}

/// An idempotency record.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key: IdempotencyKey,
    /// The request that first used it.
    pub fingerprint: Fingerprint,
    /// Running or done.
    pub state: RecordState,
    /// When it was reserved.
    pub created_at: OffsetDateTime,
    /// After this it may be purged and the key reused.
    pub expires_at: OffsetDateTime,
}

/// Which reservation of a key a request holds: handed out by
/// [`IdempotencyStore::reserve`](crate::ports::IdempotencyStore::reserve) and required to
/// complete ([`IdempotencyTx::complete_idempotency`](crate::ports::IdempotencyTx::complete_idempotency))
/// or release the reservation. A request whose reservation was taken over (its work outlived
/// [`IN_FLIGHT_LEASE`], or its instance stopped heartbeating) no longer matches the record, so
/// it can neither complete nor release its successor's.
///
/// The pair names one reservation: a key is reserved again only once the previous reservation
/// is released, expired, older than the lease (so strictly later), or held by *another* instance
/// that stopped heartbeating (so another owner; an instance never takes over its own
/// reservation by the heartbeat rule). No randomness is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationToken {
    /// The record's `created_at` as the store keeps it (whole microseconds), so it compares
    /// equal to the stored column on every store.
    pub reserved_at: OffsetDateTime,
    /// The instance named on the reservation.
    pub owner: Option<InstanceId>,
}

/// What to do with a request that carries a key whose record already exists.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send the stored response again, with `Idempotency-Replayed: true`.
    Replay(StoredResponse),
    /// Same key, different request: 409 `idempotency_conflict`.
    Conflict,
    /// The first request is still running: 409 `idempotency_key_in_flight` with `Retry-After`.
    InFlight { retry_after_secs: u32 },
}

impl IdempotencyRecord {
    /// The rule for a second request with the same key. A different request is a conflict even
    /// while the first is in flight: the partner has a bug, and waiting would not fix it.
    pub fn decide(&self, fingerprint: &Fingerprint) -> Decision {
        if self.fingerprint != *fingerprint {
            return Decision::Conflict;
        }
        match &self.state {
            RecordState::InFlight => Decision::InFlight {
                retry_after_secs: IN_FLIGHT_RETRY_AFTER_SECS,
            },
            RecordState::Completed(response) => Decision::Replay(response.clone()),
        }
    }

    /// Whether the record is an in-flight reservation older than [`IN_FLIGHT_LEASE`]: its
    /// request will never complete it, so it may be released and the key reserved anew.
    pub fn is_abandoned(&self, now: OffsetDateTime) -> bool {
        matches!(self.state, RecordState::InFlight) && now - self.created_at >= IN_FLIGHT_LEASE
    }

    /// Whether the record may be purged.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests;
