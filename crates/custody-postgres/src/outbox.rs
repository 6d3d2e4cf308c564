//! The delivery side of the event outbox.

use async_trait::async_trait;
use custody_core::id::{EventId, TenantId};
use custody_core::outbox::{
    AttemptOutcome, ClaimedEvent, DeliveryAttempt, DeliveryState, DeliveryStatus,
};
use custody_core::ports::{OutboxStore, StoreError};
use custody_sql::{codec, Columns};
use time::{Duration, OffsetDateTime};

use crate::error::db_err;
use crate::row::{decode_all, decode_one, Cols, ATTEMPT, DELIVERY, EVENT};
use crate::EnvDb;

/// Outbox bookkeeping, bound to one environment.
pub(crate) struct PgOutboxStore(pub(crate) EnvDb);

impl PgOutboxStore {
    /// Whether the tenant's event exists in this environment.
    async fn event_exists(&self, tenant: TenantId, event: EventId) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM events WHERE id = $1 AND environment = $2 \
             AND tenant_id = $3)",
        )
        .bind(event.to_string())
        .bind(self.0.env())
        .bind(tenant.to_string())
        .fetch_one(&self.0.pool)
        .await
        .map_err(db_err)
    }
}

#[async_trait]
impl OutboxStore for PgOutboxStore {
    async fn claim(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        let lease_until = now + lease;
        // One statement, so one short transaction: the due rows are picked and locked with
        // `SKIP LOCKED` (rows another claimer is leasing right now are passed over, not waited
        // for), the lease is written, and the claim commits before this returns.
        let rows = sqlx::query(&format!(
            "WITH due AS ( \
                 SELECT id FROM events \
                 WHERE environment = $1 AND delivery_state = 'pending' \
                   AND next_attempt_at <= $2 AND (lease_until IS NULL OR lease_until <= $2) \
                 ORDER BY id LIMIT $3 \
                 FOR UPDATE SKIP LOCKED) \
             UPDATE events SET lease_until = $4 \
             WHERE id IN (SELECT id FROM due) \
             RETURNING {EVENT}, attempts, lease_until"
        ))
        .bind(self.0.env())
        .bind(now)
        .bind(i64::from(limit))
        .bind(lease_until)
        .fetch_all(&self.0.pool)
        .await
        .map_err(db_err)?;
        let mut claimed = decode_all(&rows, |r| {
            Ok(ClaimedEvent {
                event: codec::event(r)?,
                attempts: u32::try_from(r.int("attempts")?)
                    .map_err(|_| custody_sql::corrupt("attempts out of range"))?,
                lease_until: r.time("lease_until")?,
            })
        })?;
        // RETURNING does not promise an order; oldest first is the contract.
        claimed.sort_by_key(|c| c.event.id);
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut tx = self.0.pool.begin().await.map_err(db_err)?;
        // The event must be this environment's and the attempt's tenant's: an attempt recorded
        // against someone else's event would corrupt both delivery logs.
        sqlx::query(
            "SELECT 1 FROM events WHERE id = $1 AND environment = $2 AND tenant_id = $3 FOR UPDATE",
        )
        .bind(attempt.event_id.to_string())
        .bind(self.0.env())
        .bind(attempt.tenant_id.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO webhook_delivery_attempts (id, environment, event_id, tenant_id, \
             attempt, attempted_at, url, response_status, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(attempt.id.to_string())
        .bind(self.0.env())
        .bind(attempt.event_id.to_string())
        .bind(attempt.tenant_id.to_string())
        .bind(i64::from(attempt.attempt))
        .bind(attempt.attempted_at)
        .bind(&attempt.url)
        .bind(attempt.response_status.map(i32::from))
        .bind(attempt.error.as_deref())
        .bind(i64::from(attempt.duration_ms))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let (state, next_attempt_at, delivered_at) = match outcome {
            AttemptOutcome::Delivered => {
                (DeliveryState::Delivered, None, Some(attempt.attempted_at))
            }
            AttemptOutcome::RetryAt(at) => (DeliveryState::Pending, Some(at), None),
            AttemptOutcome::GiveUp => (DeliveryState::Failed, None, None),
        };
        sqlx::query(
            "UPDATE events SET attempts = attempts + 1, lease_until = NULL, \
             delivery_state = $3, next_attempt_at = $4, \
             delivered_at = COALESCE($5, delivered_at) \
             WHERE id = $1 AND environment = $2",
        )
        .bind(attempt.event_id.to_string())
        .bind(self.0.env())
        .bind(state.as_str())
        .bind(next_attempt_at)
        .bind(delivered_at)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    async fn status(&self, tenant: TenantId, event: EventId) -> Result<DeliveryStatus, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY} FROM events WHERE id = $1 AND environment = $2 AND tenant_id = $3"
        ))
        .bind(event.to_string())
        .bind(self.0.env())
        .bind(tenant.to_string())
        .fetch_one(&self.0.pool)
        .await
        .map_err(db_err)?;
        decode_one(&row, |r| codec::delivery_status(r))
    }

    async fn attempts(
        &self,
        tenant: TenantId,
        event: EventId,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        if !self.event_exists(tenant, event).await? {
            return Err(StoreError::NotFound);
        }
        let rows = sqlx::query(&format!(
            "SELECT {ATTEMPT} FROM webhook_delivery_attempts \
             WHERE event_id = $1 AND environment = $2 AND tenant_id = $3 \
             ORDER BY attempt, attempted_at, id"
        ))
        .bind(event.to_string())
        .bind(self.0.env())
        .bind(tenant.to_string())
        .fetch_all(&self.0.pool)
        .await
        .map_err(db_err)?;
        decode_all(&rows, |r: &Cols<'_>| codec::delivery_attempt(r))
    }

    async fn redeliver(
        &self,
        tenant: TenantId,
        event: EventId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE events SET delivery_state = 'pending', next_attempt_at = $4, \
             lease_until = NULL \
             WHERE id = $1 AND environment = $2 AND tenant_id = $3",
        )
        .bind(event.to_string())
        .bind(self.0.env())
        .bind(tenant.to_string())
        .bind(now)
        .execute(&self.0.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
