//! Idempotency records, bound to one environment.

use async_trait::async_trait;
use custody_core::id::TenantId;
use custody_core::idempotency::{Fingerprint, IdempotencyKey, IdempotencyRecord};
use custody_core::ports::{IdempotencyStore, Reservation, StoreError};
use custody_sql::codec;
use time::OffsetDateTime;

use crate::error::db_err;
use crate::row::{decode_one, IDEMPOTENCY};
use crate::EnvDb;

/// How often `reserve` retries when the record it lost to vanished before it could be read
/// (released in between). Each retry means another request finished in that instant; more than
/// a few in a row does not happen outside a pathological loop.
const RESERVE_ATTEMPTS: usize = 8;

/// Idempotency records.
pub(crate) struct PgIdempotencyStore(pub(crate) EnvDb);

impl PgIdempotencyStore {
    async fn live_record(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        now: OffsetDateTime,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {IDEMPOTENCY} FROM idempotency_records \
             WHERE environment = $1 AND tenant_id = $2 AND key = $3 AND expires_at > $4"
        ))
        .bind(self.0.env())
        .bind(tenant.to_string())
        .bind(key.as_str())
        .bind(now)
        .fetch_optional(&self.0.pool)
        .await
        .map_err(db_err)?;
        row.map(|row| decode_one(&row, |r| codec::idempotency_record(r)))
            .transpose()
    }
}

#[async_trait]
impl IdempotencyStore for PgIdempotencyStore {
    async fn reserve(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Reservation, StoreError> {
        for _ in 0..RESERVE_ATTEMPTS {
            // Inserts, or replaces a record that has expired; a live record is left alone (the
            // conflicting row is locked, the WHERE is false, nothing is returned). Two
            // concurrent reservations: the second waits for the first to commit, then sees a
            // live row and returns nothing.
            let reserved = sqlx::query_scalar::<_, bool>(
                "INSERT INTO idempotency_records AS r \
                     (environment, tenant_id, key, fingerprint, state, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, 'in_flight', $5, $6) \
                 ON CONFLICT (environment, tenant_id, key) DO UPDATE SET \
                     fingerprint = EXCLUDED.fingerprint, state = 'in_flight', \
                     response_status = NULL, response_headers = NULL, response_body = NULL, \
                     created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at \
                 WHERE r.expires_at <= $5 \
                 RETURNING TRUE",
            )
            .bind(self.0.env())
            .bind(tenant.to_string())
            .bind(key.as_str())
            .bind(fingerprint.0.to_vec())
            .bind(now)
            .bind(expires_at)
            .fetch_optional(&self.0.pool)
            .await
            .map_err(db_err)?;
            if reserved.is_some() {
                return Ok(Reservation::Reserved);
            }
            if let Some(record) = self.live_record(tenant, key, now).await? {
                return Ok(Reservation::Existing(record));
            }
            // Released (or purged) between the two statements: try again.
        }
        Err(StoreError::Unavailable(
            "idempotency key kept changing hands while being reserved".into(),
        ))
    }

    async fn lookup(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        now: OffsetDateTime,
    ) -> Result<IdempotencyRecord, StoreError> {
        self.live_record(tenant, key, now)
            .await?
            .ok_or(StoreError::NotFound)
    }

    async fn release(&self, tenant: TenantId, key: &IdempotencyKey) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM idempotency_records \
             WHERE environment = $1 AND tenant_id = $2 AND key = $3 AND state = 'in_flight'",
        )
        .bind(self.0.env())
        .bind(tenant.to_string())
        .bind(key.as_str())
        .execute(&self.0.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM idempotency_records WHERE environment = $1 AND expires_at <= $2",
        )
        .bind(self.0.env())
        .bind(now)
        .execute(&self.0.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }
}
