//! The event log: what partners read to catch up (`GET /v1/events`), and its retention.

use time::{Duration, OffsetDateTime};

use crate::api_key::Scope;
use crate::caller::Caller;
use crate::error::{Error, ResourceKind};
use crate::event::{Event, EventLogQuery, LoggedEvent, MIN_RETENTION_DAYS};
use crate::id::EventId;
use crate::page::Page;
use crate::ports::DynEventStore;

/// How many events one retention batch deletes: small enough that each batch's transaction is
/// short (no long lock on `events`), large enough that a big backlog goes quickly.
pub const PURGE_BATCH: u32 = 500;

/// Event-log use cases of one environment.
#[derive(Clone)]
pub struct EventService {
    events: DynEventStore,
}

impl EventService {
    /// Wires the service.
    pub fn new(events: DynEventStore) -> EventService {
        EventService { events }
    }

    /// A page of the caller's event log (see [`EventStore::log`](crate::ports::EventStore::log)).
    ///
    /// # Errors
    /// `MissingScope(webhooks:read)`; store errors.
    pub async fn log(
        &self,
        caller: &Caller,
        query: &EventLogQuery,
    ) -> Result<Page<LoggedEvent>, Error> {
        caller.require(Scope::WebhooksRead)?;
        Ok(self.events.log(caller.tenant_id, query).await?)
    }

    /// One of the caller's events.
    ///
    /// # Errors
    /// `MissingScope(webhooks:read)`; `NotFound` (also another tenant's, or purged).
    pub async fn get(&self, caller: &Caller, id: EventId) -> Result<Event, Error> {
        caller.require(Scope::WebhooksRead)?;
        self.events
            .get(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Event))
    }

    /// Retention: deletes the environment's events older than `retention_days` (raised to
    /// [`MIN_RETENTION_DAYS`]) at `now`, batch by batch, each in its own short transaction.
    /// Returns how many went.
    ///
    /// # Errors
    /// Store errors (what was deleted before stays deleted).
    pub async fn purge(&self, now: OffsetDateTime, retention_days: u32) -> Result<u64, Error> {
        let days = retention_days.max(MIN_RETENTION_DAYS);
        let cutoff = now - Duration::days(i64::from(days));
        let mut total = 0;
        loop {
            let gone = self.events.purge_before(cutoff, PURGE_BATCH).await?;
            total += gone;
            if gone < u64::from(PURGE_BATCH) {
                return Ok(total);
            }
        }
    }
}
