use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::id::TenantId;
use crate::idempotency::{Fingerprint, IdempotencyKey, IdempotencyRecord, ReservationToken};
use crate::instance::InstanceId;

/// The outcome of trying to reserve a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The key was free (or expired, or abandoned) and is now in flight for this request,
    /// which completes or releases it with this token.
    Reserved(ReservationToken),
    /// A live record exists; core decides what to do with it
    /// ([`IdempotencyRecord::decide`]).
    Existing(IdempotencyRecord),
}

/// Idempotency records, scoped to the handle's environment. Completion is written through
/// [`IdempotencyTx::complete_idempotency`](super::IdempotencyTx::complete_idempotency) so it
/// commits with the change it describes.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Atomically reserves (tenant, key) for a request made by instance `owner` (`None`: an
    /// owner nobody watches, released by the lease only), unless a record that has not expired
    /// exists. An expired record is replaced, and so is an abandoned in-flight one: reserved
    /// [`IN_FLIGHT_LEASE`](crate::idempotency::IN_FLIGHT_LEASE) or more before `now`, or by an
    /// instance whose last heartbeat is [`HEARTBEAT_TIMEOUT`](crate::instance::HEARTBEAT_TIMEOUT)
    /// or more before `now` (an instance with no heartbeat row is judged by the lease alone;
    /// `owner` never takes over its own reservation by the heartbeat rule: it is alive, it is
    /// asking). Two concurrent reservations of one key: exactly one gets `Reserved`, with the
    /// token that names this reservation (`reserved_at` is `now` as stored).
    ///
    /// # Errors
    /// Store trouble only.
    async fn reserve(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        owner: Option<InstanceId>,
    ) -> Result<Reservation, StoreError>;

    /// Reads the live (not expired at `now`) record of (tenant, key).
    ///
    /// # Errors
    /// `NotFound` when there is none.
    async fn lookup(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        now: OffsetDateTime,
    ) -> Result<IdempotencyRecord, StoreError>;

    /// Deletes the in-flight record of the reservation `token` names (the request ended
    /// without a stored response: an error, or it never started executing). A completed
    /// record, and a reservation that has since been taken over by another request, are left
    /// alone.
    ///
    /// # Errors
    /// Store trouble only; releasing an absent key is not an error.
    async fn release(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        token: &ReservationToken,
    ) -> Result<(), StoreError>;

    /// Deletes records expired at `now`; returns how many.
    ///
    /// # Errors
    /// Store trouble only.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Shared handle.
pub type DynIdempotencyStore = Arc<dyn IdempotencyStore>;
