//! The delivery side of `events` and `webhook_delivery_attempts` that webhook delivery added:
//! fair claiming across tenants, skipping, bulk redelivery, the test event's lease and the
//! delivery log. (The outbox's first statements are in [`events`](super::events).)

use custody_core::id::{EventId, TenantId};
use custody_core::outbox::{ClaimedEvent, DeliveryFilter, DeliveryRecord, DeliveryView};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::StoreError;
use time::OffsetDateTime;

use super::events::{ATTEMPT, COLUMNS, DELIVERY};
use super::scoped;
use crate::codec::{self, Columns};
use crate::errors::corrupt;
use crate::page::paged;
use crate::statement::{Lock, Statement};
use crate::store::{self, Database};

/// Up to `tenants` tenants with due, unleased events and no event under a live lease, the
/// longest-waiting first.
///
/// Its work grows with the tenants that have pending events, not with the events: a skip scan
/// of `events_tenant_due_idx` finds each such tenant in one index probe (the next tenant id
/// after the last), then one probe each finds its earliest due time and whether any of its
/// events is under a live lease (`events_lease_live_idx`). A tenant with no live lease has no
/// event under one, so its earliest pending event is its earliest unleased one. (Reading the
/// due events themselves and grouping them by tenant read the whole backlog on every claim:
/// issue 18.)
pub fn due_tenants(now: OffsetDateTime, tenants: u32) -> Statement {
    Statement::new(
        "WITH RECURSIVE pending(tenant_id) AS ( \
             SELECT (SELECT MIN(tenant_id) FROM events \
                     WHERE environment = :environment AND delivery_state = 'pending') \
             UNION ALL \
             SELECT (SELECT MIN(e.tenant_id) FROM events e \
                     WHERE e.environment = :environment AND e.delivery_state = 'pending' \
                       AND e.tenant_id > p.tenant_id) \
             FROM pending p WHERE p.tenant_id IS NOT NULL), \
         due AS ( \
             SELECT p.tenant_id AS tenant_id, \
                    (SELECT MIN(e.next_attempt_at) FROM events e \
                     WHERE e.environment = :environment AND e.tenant_id = p.tenant_id \
                       AND e.delivery_state = 'pending') AS due_at \
             FROM pending p \
             WHERE p.tenant_id IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM events b WHERE b.environment = :environment \
                   AND b.tenant_id = p.tenant_id AND b.lease_until > :now)) \
         SELECT tenant_id FROM due WHERE due_at <= :now \
         ORDER BY due_at, tenant_id LIMIT :tenants",
    )
    .bind("now", now)
    .bind("tenants", i64::from(tenants))
}

/// Leases up to `limit` of one tenant's due, unleased events (oldest first) and returns them,
/// skipping rows another claimer holds (PostgreSQL; SQLite runs it under the writer lock).
pub fn claim_tenant(
    tenant: TenantId,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    limit: u32,
) -> Statement {
    Statement::new(format!(
        "WITH due AS ( \
             SELECT id FROM events \
             WHERE environment = :environment AND tenant_id = :tenant \
               AND delivery_state = 'pending' AND next_attempt_at <= :now \
               AND (lease_until IS NULL OR lease_until <= :now) \
             ORDER BY id LIMIT :limit{{lock}}) \
         UPDATE events SET lease_until = :lease_until \
         WHERE environment = :environment AND id IN (SELECT id FROM due) \
         RETURNING {COLUMNS}, attempts, lease_until"
    ))
    .bind("tenant", tenant.to_string())
    .bind("now", now)
    .bind("limit", i64::from(limit))
    .bind("lease_until", lease_until)
    .lock(Lock::UpdateSkipLocked)
}

/// Ends a delivery without an attempt (`failed`, attempts unchanged: shown as skipped when
/// nothing was ever sent).
pub fn skip(tenant: TenantId, event: EventId) -> Statement {
    Statement::new(
        "UPDATE events SET delivery_state = 'failed', next_attempt_at = NULL, \
         lease_until = NULL \
         WHERE id = :id AND environment = :environment AND tenant_id = :tenant",
    )
    .bind("id", event.to_string())
    .bind("tenant", tenant.to_string())
}

/// [`skip`] for several of the tenant's events at once.
pub fn skip_many(tenant: TenantId, events: &[EventId]) -> Statement {
    Statement::new(
        "UPDATE events SET delivery_state = 'failed', next_attempt_at = NULL, \
         lease_until = NULL \
         WHERE environment = :environment AND tenant_id = :tenant AND id IN (:events)",
    )
    .bind("tenant", tenant.to_string())
    .bind_list("events", events.iter().map(ToString::to_string))
}

/// Skips up to `limit` of the tenant's due, unleased pending events unless the tenant has an
/// enabled endpoint (the same statement reads it). No order: every due event goes, batch after
/// batch, so the pick stops at `limit` entries of `events_tenant_due_idx` instead of sorting the
/// whole backlog; rows another claimer is leasing right now are passed over (PostgreSQL).
pub fn skip_due_without_endpoint(tenant: TenantId, now: OffsetDateTime, limit: u32) -> Statement {
    Statement::new(
        "WITH due AS ( \
             SELECT id FROM events \
             WHERE environment = :environment AND tenant_id = :tenant \
               AND delivery_state = 'pending' AND next_attempt_at <= :now \
               AND (lease_until IS NULL OR lease_until <= :now) \
               AND NOT EXISTS (SELECT 1 FROM webhook_endpoints w \
                   WHERE w.environment = :environment AND w.tenant_id = :tenant \
                     AND w.status = 'enabled') \
             LIMIT :limit{lock}) \
         UPDATE events SET delivery_state = 'failed', next_attempt_at = NULL, \
         lease_until = NULL \
         WHERE environment = :environment AND id IN (SELECT id FROM due)",
    )
    .bind("tenant", tenant.to_string())
    .bind("now", now)
    .bind("limit", i64::from(limit))
    .lock(Lock::UpdateSkipLocked)
}

/// Makes the tenant's failed (attempted) events since `since` pending and due at `now`.
pub fn redeliver_failed(tenant: TenantId, since: OffsetDateTime, now: OffsetDateTime) -> Statement {
    Statement::new(
        "UPDATE events SET delivery_state = 'pending', next_attempt_at = :now, \
         lease_until = NULL \
         WHERE environment = :environment AND tenant_id = :tenant \
           AND delivery_state = 'failed' AND attempts > 0 AND created_at >= :since",
    )
    .bind("tenant", tenant.to_string())
    .bind("since", since)
    .bind("now", now)
}

/// Leases one of the tenant's events until `until`.
pub fn lease_one(tenant: TenantId, event: EventId, until: OffsetDateTime) -> Statement {
    Statement::new(
        "UPDATE events SET lease_until = :until \
         WHERE id = :id AND environment = :environment AND tenant_id = :tenant",
    )
    .bind("id", event.to_string())
    .bind("tenant", tenant.to_string())
    .bind("until", until)
}

/// A page of the tenant's events with their delivery bookkeeping, filtered.
pub fn deliveries(tenant: TenantId, filter: &DeliveryFilter, page: &PageRequest) -> Statement {
    let stmt = scoped(&format!("{COLUMNS}, {DELIVERY}"), "events", tenant)
        .filter("id", "event", filter.event.map(|e| e.to_string()))
        .filter(
            "event_type",
            "event_type",
            filter.event_type.map(|t| t.as_str()),
        );
    let stmt = match filter.status {
        None => stmt,
        Some(DeliveryView::Pending) => stmt.push(" AND delivery_state = 'pending'"),
        Some(DeliveryView::Delivered) => stmt.push(" AND delivery_state = 'delivered'"),
        Some(DeliveryView::Failed) => stmt.push(" AND delivery_state = 'failed' AND attempts > 0"),
        Some(DeliveryView::Skipped) => stmt.push(" AND delivery_state = 'failed' AND attempts = 0"),
    };
    paged(stmt, EventId::PREFIX, page)
}

/// Every attempt of some of the tenant's events.
pub fn attempts_of(tenant: TenantId, events: &[EventId]) -> Statement {
    scoped(ATTEMPT, "webhook_delivery_attempts", tenant)
        .push(" AND event_id IN (:events) ORDER BY event_id, attempt, attempted_at, id")
        .bind_list("events", events.iter().map(ToString::to_string))
}

/// [`OutboxStore::claim_fair`](custody_core::ports::OutboxStore::claim_fair) over `db`.
pub(crate) async fn claim_fair<D: Database>(
    db: &D,
    now: OffsetDateTime,
    lease_until: OffsetDateTime,
    tenants: u32,
    per_tenant: u32,
) -> Result<Vec<ClaimedEvent>, StoreError> {
    let due: Vec<TenantId> = db
        .fetch_all(due_tenants(now, tenants))
        .await?
        .iter()
        .map(|row| {
            row.text("tenant_id")?
                .parse::<TenantId>()
                .map_err(|_| corrupt("tenant_id"))
        })
        .collect::<Result<_, StoreError>>()?;
    let mut claimed = Vec::new();
    for tenant in due {
        let rows = db
            .write_all(claim_tenant(tenant, now, lease_until, per_tenant))
            .await?;
        let mut batch = rows
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
        batch.sort_by_key(|c| c.event.id);
        claimed.extend(batch);
    }
    Ok(claimed)
}

/// [`OutboxStore::deliveries`](custody_core::ports::OutboxStore::deliveries) over `db`.
pub(crate) async fn list<D: Database>(
    db: &D,
    tenant: TenantId,
    filter: &DeliveryFilter,
    page: &PageRequest,
) -> Result<Page<DeliveryRecord>, StoreError> {
    let events = store::page(db, deliveries(tenant, filter, page), page, |r| {
        Ok((codec::event(r)?, codec::delivery_status(r)?))
    })
    .await?;
    let ids: Vec<EventId> = events.items.iter().map(|(e, _)| e.id).collect();
    let attempts = if ids.is_empty() {
        Vec::new()
    } else {
        store::all(db, attempts_of(tenant, &ids), codec::delivery_attempt).await?
    };
    let mut by_event: std::collections::BTreeMap<EventId, Vec<_>> = Default::default();
    for attempt in attempts {
        by_event.entry(attempt.event_id).or_default().push(attempt);
    }
    Ok(events.map(|(event, status)| {
        let mine = by_event.remove(&event.id).unwrap_or_default();
        DeliveryRecord {
            event,
            status,
            attempts: mine,
        }
    }))
}
