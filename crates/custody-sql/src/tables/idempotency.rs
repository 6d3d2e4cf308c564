//! `idempotency_records`.

use async_trait::async_trait;
use custody_core::id::TenantId;
use custody_core::idempotency::{
    Fingerprint, IdempotencyKey, IdempotencyRecord, RecordState, ReservationToken, StoredResponse,
    IN_FLIGHT_LEASE,
};
use custody_core::instance::{InstanceId, HEARTBEAT_TIMEOUT};
use custody_core::ports::{IdempotencyStore, IdempotencyTx, Reservation, StoreError};
use time::OffsetDateTime;

use crate::codec::{self, headers_json, Columns};
use crate::statement::Statement;
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

pub const COLUMNS: &str = "key, fingerprint, state, response_status, response_headers, \
     response_body, created_at, expires_at";

/// Inserts an in-flight record for `owner`, or replaces one that has expired at `now` or
/// was abandoned: still in flight and reserved at least the lease ago, or reserved by
/// another instance whose last heartbeat is at least the heartbeat timeout old (an owner with
/// no heartbeat row, or none, is judged by the lease alone; `owner` never takes its own
/// reservation by the heartbeat rule, which keeps (`created_at`, `owner_instance`) unique per
/// reservation of a key: see [`ReservationToken`]). A live record is left alone and no row
/// comes back (in PostgreSQL the conflicting row is locked, so of two concurrent reservations
/// the second waits for the first, then sees the first's live row: one taker). The taker gets
/// back `created_at` as stored, its token.
pub fn reserve(
    tenant: TenantId,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    now: OffsetDateTime,
    expires_at: OffsetDateTime,
    owner: Option<&InstanceId>,
) -> Statement {
    Statement::new(
        "INSERT INTO idempotency_records \
             (environment, tenant_id, key, fingerprint, state, created_at, expires_at, \
              owner_instance) \
         VALUES (:environment, :tenant, :key, :fingerprint, 'in_flight', :now, :expires_at, \
                 :owner) \
         ON CONFLICT (environment, tenant_id, key) DO UPDATE SET \
             fingerprint = excluded.fingerprint, state = 'in_flight', \
             response_status = NULL, response_headers = NULL, response_body = NULL, \
             created_at = excluded.created_at, expires_at = excluded.expires_at, \
             owner_instance = excluded.owner_instance \
         WHERE idempotency_records.expires_at <= excluded.created_at \
            OR (idempotency_records.state = 'in_flight' \
                AND (idempotency_records.created_at <= :lease_before \
                     OR EXISTS (SELECT 1 FROM instances \
                                WHERE instances.id = idempotency_records.owner_instance \
                                AND instances.heartbeat_at <= :silent_since \
                                AND (:owner IS NULL OR instances.id <> :owner)))) \
         RETURNING created_at",
    )
    .bind("tenant", tenant.to_string())
    .bind("key", key.as_str())
    .bind("fingerprint", fingerprint.0.to_vec())
    .bind("now", now)
    .bind("expires_at", expires_at)
    .bind("owner", owner.map(InstanceId::as_str))
    .bind("lease_before", now - IN_FLIGHT_LEASE)
    .bind("silent_since", now - HEARTBEAT_TIMEOUT)
}

/// The record unless it has expired at `now`.
pub fn live(tenant: TenantId, key: &IdempotencyKey, now: OffsetDateTime) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM idempotency_records WHERE environment = :environment \
         AND tenant_id = :tenant AND key = :key AND expires_at > :now"
    ))
    .bind("tenant", tenant.to_string())
    .bind("key", key.as_str())
    .bind("now", now)
}

/// The condition naming one reservation: in flight, reserved at `token.reserved_at` by
/// `token.owner` (none matching none).
const RESERVATION: &str = "state = 'in_flight' AND created_at = :reserved_at \
     AND (owner_instance = :owner OR (owner_instance IS NULL AND :owner IS NULL))";

/// Marks the in-flight record of the reservation `token` names completed with the response to
/// replay; a reservation taken over since (another `created_at` or owner) is left alone.
pub fn complete(
    tenant: TenantId,
    key: &IdempotencyKey,
    token: &ReservationToken,
    response: &StoredResponse,
) -> Statement {
    Statement::new(format!(
        "UPDATE idempotency_records SET state = 'completed', response_status = :status, \
         response_headers = :headers, response_body = :body \
         WHERE environment = :environment AND tenant_id = :tenant AND key = :key \
         AND {RESERVATION}"
    ))
    .bind("tenant", tenant.to_string())
    .bind("key", key.as_str())
    .bind("reserved_at", token.reserved_at)
    .bind("owner", token.owner.as_ref().map(InstanceId::as_str))
    .bind("status", i64::from(response.status))
    .bind("headers", headers_json(&response.headers))
    .bind("body", response.body.clone())
}

/// Deletes the in-flight record of the reservation `token` names, never a completed one nor
/// a reservation taken over since.
pub fn release(tenant: TenantId, key: &IdempotencyKey, token: &ReservationToken) -> Statement {
    Statement::new(format!(
        "DELETE FROM idempotency_records WHERE environment = :environment \
         AND tenant_id = :tenant AND key = :key AND {RESERVATION}"
    ))
    .bind("tenant", tenant.to_string())
    .bind("key", key.as_str())
    .bind("reserved_at", token.reserved_at)
    .bind("owner", token.owner.as_ref().map(InstanceId::as_str))
}

pub fn purge_expired(now: OffsetDateTime) -> Statement {
    Statement::new(
        "DELETE FROM idempotency_records WHERE environment = :environment \
         AND expires_at <= :now",
    )
    .bind("now", now)
}

/// How often `reserve` retries when the record it lost to vanished before it could be read
/// (released in between). Each retry means another request finished in that instant; more than
/// a few in a row does not happen outside a pathological loop.
const RESERVE_ATTEMPTS: usize = 8;

#[async_trait]
impl<T: Transaction> IdempotencyTx for SqlTx<T> {
    async fn complete_idempotency(
        &mut self,
        tenant: TenantId,
        key: &IdempotencyKey,
        token: &ReservationToken,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        if self.changed(complete(tenant, key, token, response)).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl<D: Database> IdempotencyStore for EnvStore<D> {
    async fn reserve(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        owner: Option<InstanceId>,
    ) -> Result<Reservation, StoreError> {
        // A completed record is immutable until it expires, and no reservation may replace it
        // before then: a replay is answered by this one read and writes nothing (the upsert
        // below would lock the row, a write, even when it leaves the row alone). Absent,
        // expired or in-flight records take the atomic path, which decides races and
        // takeovers.
        if let Some(row) = self.0.fetch_optional(live(tenant, key, now)).await? {
            let record = codec::idempotency_record(&row)?;
            if matches!(record.state, RecordState::Completed(_)) {
                return Ok(Reservation::Existing(record));
            }
        }
        for _ in 0..RESERVE_ATTEMPTS {
            let stmt = reserve(tenant, key, fingerprint, now, expires_at, owner.as_ref());
            if let Some(row) = self.0.write_all(stmt).await?.first() {
                return Ok(Reservation::Reserved(ReservationToken {
                    reserved_at: row.time("created_at")?,
                    owner,
                }));
            }
            if let Some(row) = self.0.fetch_optional(live(tenant, key, now)).await? {
                return Ok(Reservation::Existing(codec::idempotency_record(&row)?));
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
        store::one(&self.0, live(tenant, key, now), codec::idempotency_record).await
    }

    async fn release(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        token: &ReservationToken,
    ) -> Result<(), StoreError> {
        self.0.write(release(tenant, key, token)).await.map(|_| ())
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        self.0.write(purge_expired(now)).await
    }
}
