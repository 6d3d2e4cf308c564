use std::sync::Arc;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::StoreError;
use crate::id::{EventId, TenantId};
use crate::outbox::{
    AttemptOutcome, ClaimedEvent, DeliveryAttempt, DeliveryFilter, DeliveryRecord, DeliveryStatus,
    OutboxBacklog,
};
use crate::page::{Page, PageRequest};

/// The delivery side of the event outbox, scoped to the handle's environment. Events get into
/// the outbox only through [`EventTx::append_event`](super::EventTx::append_event); this port is
/// what the delivery worker uses afterwards.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Claims up to `limit` events that are pending, due (`next_attempt_at <= now`) and not
    /// under another claim's lease, oldest first, and leases them until `now + lease`. The
    /// claim commits before this returns; several workers (several instances) claiming at once
    /// never get the same event while its lease runs (PostgreSQL: `FOR UPDATE SKIP LOCKED`;
    /// SQLite: the single writer).
    ///
    /// # Errors
    /// Store trouble only.
    async fn claim(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedEvent>, StoreError>;

    /// Claims fairly across tenants: picks up to `tenants` tenants that have due, unleased
    /// events and no event under a live lease (one batch in flight per tenant, so a slow
    /// receiver holds back only its own tenant), the longest-waiting first, and leases up to
    /// `per_tenant` of each one's due events (oldest first) until `now + lease`. Like
    /// [`OutboxStore::claim`], concurrent claimers never get the same event while its lease
    /// runs; two claimers racing may each take a batch of the same tenant.
    ///
    /// # Errors
    /// Store trouble only.
    async fn claim_fair(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        tenants: u32,
        per_tenant: u32,
    ) -> Result<Vec<ClaimedEvent>, StoreError>;

    /// Ends a claimed event's delivery without an attempt (no endpoint, a disabled one, or an
    /// unsubscribed type): it becomes `failed` with its attempt count unchanged, and its lease
    /// is cleared.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn skip(&self, tenant: TenantId, event: EventId) -> Result<(), StoreError>;

    /// [`OutboxStore::skip`] for several of the tenant's events in one statement (a claimed
    /// batch with nothing to send costs one write, not one per event). Events that are absent
    /// or another tenant's are left alone; returns how many were skipped.
    ///
    /// # Errors
    /// Store trouble only.
    async fn skip_many(&self, tenant: TenantId, events: &[EventId]) -> Result<u64, StoreError>;

    /// Skips up to `limit` of the tenant's due, unleased pending events in one statement, **when
    /// the tenant has no enabled endpoint in this environment** (read in that same statement,
    /// so an endpoint configured or re-enabled before it runs keeps every event deliverable);
    /// returns how many were skipped. A claimed batch that found no endpoint to send to uses it
    /// for the rest of the tenant's backlog, which would otherwise cost a claim and a skip per
    /// batch (issue 18: two write transactions per ten events on SQLite's single writer).
    ///
    /// # Errors
    /// Store trouble only.
    async fn skip_due_without_endpoint(
        &self,
        tenant: TenantId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError>;

    /// The tenant's delivery log: events (ascending id, cursor-paginated by event id) matching
    /// `filter`, each with its bookkeeping and every attempt.
    ///
    /// # Errors
    /// Store trouble only.
    async fn deliveries(
        &self,
        tenant: TenantId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<DeliveryRecord>, StoreError>;

    /// Records one delivery attempt and its outcome in one database transaction: the attempt
    /// joins the delivery log, the event's attempt count grows by one, its lease is cleared, and
    /// it becomes delivered, due again at the given time, or failed.
    ///
    /// # Errors
    /// `NotFound` when the event does not exist in this environment or is not the attempt's
    /// tenant's; `Conflict` if the attempt id exists.
    async fn record_attempt(
        &self,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError>;

    /// The delivery bookkeeping of one of the tenant's events.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn status(&self, tenant: TenantId, event: EventId) -> Result<DeliveryStatus, StoreError>;

    /// The delivery log of one of the tenant's events, oldest attempt first.
    ///
    /// # Errors
    /// `NotFound` when the event is absent or another tenant's.
    async fn attempts(
        &self,
        tenant: TenantId,
        event: EventId,
    ) -> Result<Vec<DeliveryAttempt>, StoreError>;

    /// Makes one of the tenant's events pending and due at `now` again, whatever its state
    /// (redelivery on request), and clears any lease. Its attempt count, its delivery log and
    /// an earlier `delivered_at` are kept.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn redeliver(
        &self,
        tenant: TenantId,
        event: EventId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The backlog of every tenant at `now`: pending events, those due and unclaimed, and the
    /// earliest due time among them (the webhook queue metrics). One aggregate query over the
    /// pending-events index.
    ///
    /// # Errors
    /// Store trouble only.
    async fn backlog(&self, now: OffsetDateTime) -> Result<OutboxBacklog, StoreError>;
}

/// Shared handle.
pub type DynOutboxStore = Arc<dyn OutboxStore>;
