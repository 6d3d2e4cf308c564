use std::sync::Arc;

use async_trait::async_trait;

use super::StoreError;
use crate::event::Event;
use crate::id::TenantId;
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
}

/// Shared handle.
pub type DynEventStore = Arc<dyn EventStore>;
