use std::sync::Arc;

use async_trait::async_trait;

use time::OffsetDateTime;

use super::StoreError;
use crate::event::{Event, EventLogQuery, LoggedEvent};
use crate::id::{EventId, TenantId};
use crate::page::{Page, PageRequest};

/// Reads of the event outbox. Events are only ever written through a
/// [`StoreTx`](super::StoreTx), together with the change they describe.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait EventStore: Send + Sync {
    /// The tenant's events in id (creation) order: the catch-up log behind `GET /v1/events`.
    ///
    /// # Errors
    /// Store trouble only.
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Event>, StoreError>;

    /// The tenant's event log in log order ([`LogPosition`](crate::event::LogPosition)), after
    /// `query.after`, only `query.types` when given (filtered by the store, before paging),
    /// up to `query.limit` events and whether more follow. Shows an event only once no
    /// transaction still running could commit an event sorting before it, so reading on from
    /// the last position returned never skips an event that commits later.
    ///
    /// # Errors
    /// Store trouble only.
    async fn log(
        &self,
        tenant: TenantId,
        query: &EventLogQuery,
    ) -> Result<Page<LoggedEvent>, StoreError>;

    /// One of the tenant's events.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's.
    async fn get(&self, tenant: TenantId, id: EventId) -> Result<Event, StoreError>;

    /// Retention: deletes up to `batch` of this environment's events created before `cutoff`
    /// (oldest first), with their delivery attempts, in one short transaction, and returns how
    /// many events went. Call again until it returns less than `batch`. Events under a delivery
    /// lease right now are skipped (PostgreSQL) and go in a later pass.
    ///
    /// # Errors
    /// Store trouble only.
    async fn purge_before(&self, cutoff: OffsetDateTime, batch: u32) -> Result<u64, StoreError>;
}

/// Shared handle.
pub type DynEventStore = Arc<dyn EventStore>;
