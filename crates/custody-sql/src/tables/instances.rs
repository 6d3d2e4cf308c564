//! `instances`: running `custody serve` processes and their heartbeats
//! ([`custody_core::instance`]). Shared by both environments (no `:environment`).

use async_trait::async_trait;
use custody_core::instance::InstanceId;
use custody_core::ports::{InstanceRegistry, StoreError};
use time::OffsetDateTime;

use crate::codec::Columns as _;
use crate::statement::Statement;
use crate::store::{Database, SharedStore};

/// Registers the instance, or moves its heartbeat forward (never back).
pub fn heartbeat(instance: &InstanceId, now: OffsetDateTime) -> Statement {
    Statement::new(
        "INSERT INTO instances (id, started_at, heartbeat_at) VALUES (:id, :now, :now) \
         ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at \
         WHERE instances.heartbeat_at < excluded.heartbeat_at",
    )
    .bind("id", instance.as_str())
    .bind("now", now)
}

pub fn last_heartbeat(instance: &InstanceId) -> Statement {
    Statement::new("SELECT heartbeat_at FROM instances WHERE id = :id")
        .bind("id", instance.as_str())
}

pub fn forget_silent(before: OffsetDateTime) -> Statement {
    Statement::new("DELETE FROM instances WHERE heartbeat_at <= :before").bind("before", before)
}

#[async_trait]
impl<D: Database> InstanceRegistry for SharedStore<D> {
    async fn heartbeat(
        &self,
        instance: &InstanceId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.db.write(heartbeat(instance, now)).await.map(|_| ())
    }

    async fn last_heartbeat(&self, instance: &InstanceId) -> Result<OffsetDateTime, StoreError> {
        let row = self
            .db
            .fetch_optional(last_heartbeat(instance))
            .await?
            .ok_or(StoreError::NotFound)?;
        row.time("heartbeat_at")
    }

    async fn forget_silent(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.db.write(forget_silent(before)).await
    }
}
