//! `events` (the event log and the outbox in one table) and `webhook_delivery_attempts`.

use async_trait::async_trait;
use custody_core::event::{Event, EventLogQuery, LogPosition, LoggedEvent};
use custody_core::id::{EventId, TenantId};
use custody_core::outbox::{
    AttemptOutcome, ClaimedEvent, DeliveryAttempt, DeliveryFilter, DeliveryRecord, DeliveryState,
    DeliveryStatus, OutboxBacklog,
};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{EventStore, EventTx, OutboxStore, StoreError};
use time::{Duration, OffsetDateTime};

use super::{by_id, exists, int, scoped};
use crate::codec::{self, Columns};
use crate::errors::corrupt;
use crate::page::paged;
use crate::statement::{Lock, Statement, Value};
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

/// The event itself.
pub const COLUMNS: &str = "id, environment, tenant_id, event_type, resource_type, resource_id, \
     resource_version, snapshot, previous_attributes, created_at";

/// Its delivery bookkeeping.
pub const DELIVERY: &str = "delivery_state, attempts, next_attempt_at, delivered_at";

pub const ATTEMPT: &str = "id, event_id, tenant_id, attempt, attempted_at, url, \
     response_status, error, duration_ms";

pub fn list(tenant: TenantId, page: &PageRequest) -> Statement {
    paged(scoped(COLUMNS, "events", tenant), EventId::PREFIX, page)
}

/// The event and its place in the log (`event_log`, a view of `events` showing what the log
/// may show: see the migration `20261206100001_event_log_order`).
pub const LOG_COLUMNS: &str = "id, environment, tenant_id, event_type, resource_type, \
     resource_id, resource_version, snapshot, previous_attributes, created_at, log_xid, \
     log_position";

/// A page of the tenant's event log: after the query's position, of its types, in log order,
/// `limit + 1` rows (the last one only says whether more follow).
///
/// # Errors
/// `Internal` for a position beyond a bigint.
pub fn log(tenant: TenantId, query: &EventLogQuery) -> Result<Statement, StoreError> {
    let mut stmt = scoped(LOG_COLUMNS, "event_log", tenant);
    if let Some(after) = query.after {
        stmt = stmt
            .push(" AND (log_xid, log_position, id) > (:after_xid, :after_position, :after_id)")
            .bind("after_xid", int(after.xid, "log_xid")?)
            .bind("after_position", int(after.position, "log_position")?)
            .bind("after_id", after.id.to_string());
    }
    if !query.types.is_empty() {
        stmt = stmt
            .push(" AND event_type IN (:types)")
            .bind_list("types", query.types.iter().map(|t| t.as_str()));
    }
    Ok(stmt
        .push(" ORDER BY log_xid, log_position, id LIMIT :limit")
        .bind("limit", i64::from(query.limit) + 1))
}

/// One of the tenant's events.
pub fn get(tenant: TenantId, event: EventId) -> Statement {
    by_id(COLUMNS, "events", tenant, event.to_string())
}

/// Retention: up to `batch` of the environment's events created before `cutoff`, oldest first,
/// locked (PostgreSQL skips those a delivery holds right now).
pub fn purgeable(cutoff: OffsetDateTime, batch: u32) -> Statement {
    Statement::new(
        "SELECT id FROM events WHERE environment = :environment AND created_at < :cutoff \
         ORDER BY created_at, id LIMIT :batch{lock}",
    )
    .bind("cutoff", cutoff)
    .bind("batch", i64::from(batch))
    .lock(Lock::UpdateSkipLocked)
}

/// The delivery attempts of the events being purged (they reference them).
pub fn purge_attempts(events: &[String]) -> Statement {
    Statement::new(
        "DELETE FROM webhook_delivery_attempts WHERE environment = :environment \
         AND event_id IN (:events)",
    )
    .bind_list("events", events.iter().map(String::as_str))
}

/// The events being purged.
pub fn purge_events(events: &[String]) -> Statement {
    Statement::new("DELETE FROM events WHERE environment = :environment AND id IN (:events)")
        .bind_list("events", events.iter().map(String::as_str))
}

/// Pending and due at once: `next_attempt_at` starts at the event's creation time. One
/// statement for all of `events` (a multi-row `VALUES`, in their order, which is their order
/// in the log); `Ok(None)` when there are none.
///
/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn insert(events: &[Event]) -> Result<Option<Statement>, StoreError> {
    if events.is_empty() {
        return Ok(None);
    }
    let rows = events
        .iter()
        .map(|event| {
            Ok(vec![
                Value::from(event.id.to_string()),
                Value::from(event.tenant_id.to_string()),
                Value::from(event.event_type.as_str()),
                Value::from(event.data.resource_type),
                Value::from(event.data.resource_id.as_str()),
                Value::from(int(event.data.version, "resource_version")?),
                Value::from(event.data.snapshot.clone()),
                Value::from(event.previous_attributes.clone()),
                Value::from(event.created_at),
            ])
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    // `column1` … are the names both databases give a `VALUES` list's columns.
    Ok(Some(
        Statement::new(
            "INSERT INTO events (id, environment, tenant_id, event_type, resource_type, \
             resource_id, resource_version, snapshot, previous_attributes, created_at, \
             delivery_state, attempts, next_attempt_at) \
             SELECT column1, :environment, column2, column3, column4, column5, column6, \
             column7, column8, column9, 'pending', 0, column9 FROM (VALUES :events) AS e",
        )
        .bind_rows("events", rows),
    ))
}

/// Leases up to `limit` pending, due, unleased events until `lease_until` and returns them
/// (with `attempts` and `lease_until`), in no particular order. One statement: PostgreSQL skips
/// rows another claimer is leasing right now rather than waiting for them; SQLite runs it under
/// the writer lock.
/// The pending events of every tenant: how many, how many are due and unclaimed at `now`,
/// and the earliest due time among those.
pub fn backlog(now: OffsetDateTime) -> Statement {
    Statement::new(
        "SELECT COUNT(*) AS pending, \
         COUNT(CASE WHEN next_attempt_at <= :now AND (lease_until IS NULL OR lease_until <= :now) \
           THEN 1 END) AS due, \
         MIN(CASE WHEN next_attempt_at <= :now AND (lease_until IS NULL OR lease_until <= :now) \
           THEN next_attempt_at END) AS oldest_due_at \
         FROM events WHERE environment = :environment AND delivery_state = 'pending'",
    )
    .bind("now", now)
}

pub fn claim(now: OffsetDateTime, lease_until: OffsetDateTime, limit: u32) -> Statement {
    Statement::new(format!(
        "WITH due AS ( \
             SELECT id FROM events \
             WHERE environment = :environment AND delivery_state = 'pending' \
               AND next_attempt_at <= :now AND (lease_until IS NULL OR lease_until <= :now) \
             ORDER BY id LIMIT :limit{{lock}}) \
         UPDATE events SET lease_until = :lease_until \
         WHERE id IN (SELECT id FROM due) \
         RETURNING {COLUMNS}, attempts, lease_until"
    ))
    .bind("now", now)
    .bind("limit", i64::from(limit))
    .bind("lease_until", lease_until)
    .lock(Lock::UpdateSkipLocked)
}

/// Some row when the tenant's event exists.
pub fn event_exists(tenant: TenantId, event: EventId) -> Statement {
    exists("events", tenant, event.to_string())
}

/// The attempt's event, locked: it must be this environment's and the attempt's tenant's, as
/// an attempt recorded against someone else's event would corrupt both delivery logs.
pub fn lock_for(attempt: &DeliveryAttempt) -> Statement {
    event_exists(attempt.tenant_id, attempt.event_id).lock(Lock::Update)
}

pub fn insert_attempt(attempt: &DeliveryAttempt) -> Statement {
    Statement::new(
        "INSERT INTO webhook_delivery_attempts (id, environment, event_id, tenant_id, attempt, \
         attempted_at, url, response_status, error, duration_ms) \
         VALUES (:id, :environment, :event, :tenant, :attempt, :attempted_at, :url, \
         :response_status, :error, :duration_ms)",
    )
    .bind("id", attempt.id.to_string())
    .bind("event", attempt.event_id.to_string())
    .bind("tenant", attempt.tenant_id.to_string())
    .bind("attempt", i64::from(attempt.attempt))
    .bind("attempted_at", attempt.attempted_at)
    .bind("url", attempt.url.as_str())
    .bind("response_status", attempt.response_status.map(i64::from))
    .bind("error", attempt.error.as_deref())
    .bind("duration_ms", i64::from(attempt.duration_ms))
}

/// Counts the attempt, ends the lease and writes the outcome on the event.
pub fn record_outcome(attempt: &DeliveryAttempt, outcome: AttemptOutcome) -> Statement {
    let (state, next_attempt_at, delivered_at) = match outcome {
        AttemptOutcome::Delivered => (DeliveryState::Delivered, None, Some(attempt.attempted_at)),
        AttemptOutcome::RetryAt(at) => (DeliveryState::Pending, Some(at), None),
        AttemptOutcome::GiveUp => (DeliveryState::Failed, None, None),
    };
    Statement::new(
        "UPDATE events SET attempts = attempts + 1, lease_until = NULL, \
         delivery_state = :state, next_attempt_at = :next_attempt_at, \
         delivered_at = COALESCE(:delivered_at, delivered_at) \
         WHERE id = :id AND environment = :environment AND tenant_id = :tenant",
    )
    .bind("id", attempt.event_id.to_string())
    .bind("tenant", attempt.tenant_id.to_string())
    .bind("state", state.as_str())
    .bind("next_attempt_at", next_attempt_at)
    .bind("delivered_at", delivered_at)
}

pub fn status(tenant: TenantId, event: EventId) -> Statement {
    by_id(DELIVERY, "events", tenant, event.to_string())
}

pub fn attempts(tenant: TenantId, event: EventId) -> Statement {
    scoped(ATTEMPT, "webhook_delivery_attempts", tenant)
        .push(" AND event_id = :event ORDER BY attempt, attempted_at, id")
        .bind("event", event.to_string())
}

/// Makes the event pending and due at `now` again.
pub fn redeliver(tenant: TenantId, event: EventId, now: OffsetDateTime) -> Statement {
    Statement::new(
        "UPDATE events SET delivery_state = 'pending', next_attempt_at = :now, \
         lease_until = NULL \
         WHERE id = :id AND environment = :environment AND tenant_id = :tenant",
    )
    .bind("id", event.to_string())
    .bind("tenant", tenant.to_string())
    .bind("now", now)
}

#[async_trait]
impl<T: Transaction> EventTx for SqlTx<T> {
    /// Kept in the transaction and written with the others in one statement before the next
    /// statement that reads or changes `events`, or at commit (see [`SqlTx`]).
    async fn append_event(&mut self, event: &Event) -> Result<(), StoreError> {
        self.append_deferred(event).await
    }
}

#[async_trait]
impl<D: Database> EventStore for EnvStore<D> {
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Event>, StoreError> {
        store::page(&self.0, list(tenant, &page), &page, codec::event).await
    }

    async fn log(
        &self,
        tenant: TenantId,
        query: &EventLogQuery,
    ) -> Result<Page<LoggedEvent>, StoreError> {
        let rows = self.0.fetch_all(log(tenant, query)?).await?;
        let mut items = rows
            .iter()
            .map(|r| {
                let event = codec::event(r)?;
                let position = LogPosition {
                    xid: u64::try_from(r.int("log_xid")?)
                        .map_err(|_| corrupt("log_xid out of range"))?,
                    position: u64::try_from(r.int("log_position")?)
                        .map_err(|_| corrupt("log_position out of range"))?,
                    id: event.id,
                };
                Ok(LoggedEvent { event, position })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let limit = query.limit as usize;
        let has_more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, has_more })
    }

    async fn get(&self, tenant: TenantId, event: EventId) -> Result<Event, StoreError> {
        store::one(&self.0, get(tenant, event), codec::event).await
    }

    async fn purge_before(&self, cutoff: OffsetDateTime, batch: u32) -> Result<u64, StoreError> {
        let mut tx = self.0.begin().await?;
        let doomed = tx
            .fetch_all(purgeable(cutoff, batch.max(1)))
            .await?
            .iter()
            .map(|r| r.text("id"))
            .collect::<Result<Vec<_>, StoreError>>()?;
        if doomed.is_empty() {
            return Ok(0);
        }
        tx.execute(purge_attempts(&doomed)).await?;
        let gone = tx.execute(purge_events(&doomed)).await?;
        tx.commit().await?;
        Ok(gone)
    }
}

#[async_trait]
impl<D: Database> OutboxStore for EnvStore<D> {
    async fn backlog(&self, now: OffsetDateTime) -> Result<OutboxBacklog, StoreError> {
        let count = |r: &D::Row, col: &str| {
            u64::try_from(r.int(col)?).map_err(|_| corrupt(format_args!("{col} out of range")))
        };
        let rows = self.0.fetch_all(backlog(now)).await?;
        let Some(row) = rows.first() else {
            return Ok(OutboxBacklog::default());
        };
        Ok(OutboxBacklog {
            pending: count(row, "pending")?,
            due: count(row, "due")?,
            oldest_due_at: row.opt_time("oldest_due_at")?,
        })
    }

    async fn claim(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let lease_until = now.checked_add(lease).ok_or_else(|| {
            StoreError::Internal(format!("lease {lease} from {now} overflows").into())
        })?;
        let rows = self.0.write_all(claim(now, lease_until, limit)).await?;
        let mut claimed = rows
            .iter()
            .map(|r| {
                Ok(ClaimedEvent {
                    event: codec::event(r)?,
                    attempts: u32::try_from(r.int("attempts")?)
                        .map_err(|_| corrupt("attempts out of range"))?,
                    lease_until: r.time("lease_until")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING does not promise an order; oldest first is the contract.
        claimed.sort_by_key(|c| c.event.id);
        Ok(claimed)
    }

    async fn claim_fair(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        tenants: u32,
        per_tenant: u32,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let lease_until = now.checked_add(lease).ok_or_else(|| {
            StoreError::Internal(format!("lease {lease} from {now} overflows").into())
        })?;
        super::webhook_deliveries::claim_fair(&self.0, now, lease_until, tenants, per_tenant).await
    }

    async fn skip(&self, tenant: TenantId, event: EventId) -> Result<(), StoreError> {
        if self
            .0
            .write(super::webhook_deliveries::skip(tenant, event))
            .await?
            == 0
        {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn skip_many(&self, tenant: TenantId, events: &[EventId]) -> Result<u64, StoreError> {
        // A claimed batch is a few events; chunks keep any list under the placeholder limit.
        let mut skipped = 0;
        for chunk in events.chunks(1_000) {
            skipped += self
                .0
                .write(super::webhook_deliveries::skip_many(tenant, chunk))
                .await?;
        }
        Ok(skipped)
    }

    async fn skip_due_without_endpoint(
        &self,
        tenant: TenantId,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        self.0
            .write(super::webhook_deliveries::skip_due_without_endpoint(
                tenant, now, limit,
            ))
            .await
    }

    async fn deliveries(
        &self,
        tenant: TenantId,
        filter: DeliveryFilter,
        page: PageRequest,
    ) -> Result<Page<DeliveryRecord>, StoreError> {
        super::webhook_deliveries::list(&self.0, tenant, &filter, &page).await
    }

    async fn record_attempt(
        &self,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut tx = self.0.begin().await?;
        if tx.fetch_optional(lock_for(attempt)).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        tx.execute(insert_attempt(attempt)).await?;
        tx.execute(record_outcome(attempt, outcome)).await?;
        tx.commit().await
    }

    async fn status(&self, tenant: TenantId, event: EventId) -> Result<DeliveryStatus, StoreError> {
        store::one(&self.0, status(tenant, event), codec::delivery_status).await
    }

    async fn attempts(
        &self,
        tenant: TenantId,
        event: EventId,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        if self
            .0
            .fetch_optional(event_exists(tenant, event))
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        store::all(&self.0, attempts(tenant, event), codec::delivery_attempt).await
    }

    async fn redeliver(
        &self,
        tenant: TenantId,
        event: EventId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if self.0.write(redeliver(tenant, event, now)).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
