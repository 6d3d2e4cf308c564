use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::instance::InstanceId;

/// Running `custody serve` instances and their heartbeats ([`crate::instance`]). Shared by
/// both environments: an instance serves both.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait InstanceRegistry: Send + Sync {
    /// Records that `instance` is alive at `now`: registers it (started at `now`) the first
    /// time, moves its heartbeat forward after. Idempotent.
    ///
    /// # Errors
    /// Store trouble only.
    async fn heartbeat(&self, instance: &InstanceId, now: OffsetDateTime)
        -> Result<(), StoreError>;

    /// When `instance` last beat, `NotFound` for an unknown (or forgotten) one.
    ///
    /// # Errors
    /// `NotFound`; store trouble.
    async fn last_heartbeat(&self, instance: &InstanceId) -> Result<OffsetDateTime, StoreError>;

    /// Deletes instances whose last heartbeat is at or before `before`; returns how many.
    ///
    /// # Errors
    /// Store trouble only.
    async fn forget_silent(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Shared handle.
pub type DynInstanceRegistry = Arc<dyn InstanceRegistry>;
