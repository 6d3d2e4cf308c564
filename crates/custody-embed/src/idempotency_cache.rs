//! The idempotency cache: completed idempotency records held in memory, so that a replay (the same
//! `Idempotency-Key` sent again, which is what partners do when a network fails) is answered
//! without reading the store.
//!
//! It is a decorator of an environment's [`IdempotencyStore`], applied at the composition root
//! ([`CustodyBuilder::idempotency_cache`](crate::CustodyBuilder::idempotency_cache)); core and the HTTP
//! layer do not know it exists. Why it is correct: a **completed** record is immutable until it
//! expires. Completion only ever changes an in-flight record (the one of the reservation
//! that completes it), a release deletes in-flight records only, a reservation replaces a
//! record only once it has expired (or while it is in flight), and the purge deletes expired
//! records only. So a completed record read once is what
//! every later read answers until its `expires_at`, whichever process asks. What it keeps, and
//! what it never does:
//!
//! - only records that [`IdempotencyStore::reserve`] answered as `Existing` and **completed**,
//!   served only while `now` is more than [`EXPIRY_MARGIN`] before `expires_at` (the store's
//!   own rule for a live record, less a minute for clocks that differ between instances); an
//!   in-flight record, an absent key and a failure are never kept, and nothing is kept before
//!   the record committed (a reservation that succeeds is not a record yet);
//! - per (tenant, key) of the handle's environment, so no tenant can be answered another's
//!   record; the fingerprint is still compared by core ([`IdempotencyRecord::decide`]): a
//!   different request with a cached key is still 409 `idempotency_conflict`;
//! - at most `max_bytes` (the stored bodies and headers, with a fixed charge per entry): when a
//!   record would pass the bound, expired records are dropped, and if that is not enough the
//!   cache starts over empty (the next replay of each key reads the store once again). A record
//!   larger than the bound is not kept.
//!
//! Authentication, the approval gate and the endpoint's scope are judged on every request
//! before the record is asked for, exactly as without the cache.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use custody_core::id::TenantId;
use custody_core::idempotency::{
    Fingerprint, IdempotencyKey, IdempotencyRecord, RecordState, ReservationToken,
};
use custody_core::instance::InstanceId;
use custody_core::ports::{DynIdempotencyStore, IdempotencyStore, Reservation, StoreError};
use std::sync::Arc;
use time::OffsetDateTime;

/// How much memory the idempotency cache may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyCacheSettings {
    /// The most bytes of stored responses held at once (zero: no cache).
    pub max_bytes: usize,
}

impl IdempotencyCacheSettings {
    /// No cache: every replay reads its record from the store.
    pub const DISABLED: IdempotencyCacheSettings = IdempotencyCacheSettings { max_bytes: 0 };

    /// Whether anything is cached.
    pub const fn enabled(&self) -> bool {
        self.max_bytes > 0
    }
}

/// A record is served from memory only until this long before it expires; in its last
/// minute every replay reads the store. Instances' clocks may differ a little: near the
/// expiry another instance may already have replaced the record (its clock passed the
/// expiry), and the store's answer, not an old copy, must win (review, this stop).
pub const EXPIRY_MARGIN: time::Duration = time::Duration::minutes(1);

/// What one entry is charged besides its response: the map's slot, the key, the record's
/// fixed fields.
const ENTRY_OVERHEAD: usize = 256;

struct Entries {
    records: HashMap<(TenantId, IdempotencyKey), IdempotencyRecord>,
    bytes: usize,
}

/// An environment's idempotency store behind the idempotency cache.
pub struct IdempotencyCache {
    inner: DynIdempotencyStore,
    max_bytes: usize,
    entries: Mutex<Entries>,
}

/// `inner` behind an idempotency cache, or unchanged when `settings` disable it.
pub fn cached(
    inner: DynIdempotencyStore,
    settings: IdempotencyCacheSettings,
) -> DynIdempotencyStore {
    if !settings.enabled() {
        return inner;
    }
    Arc::new(IdempotencyCache::new(inner, settings))
}

/// The bytes an entry is charged.
fn charge(record: &IdempotencyRecord) -> usize {
    let response = match &record.state {
        RecordState::Completed(response) => {
            response.body.len()
                + response
                    .headers
                    .iter()
                    .map(|(name, value)| name.len() + value.len())
                    .sum::<usize>()
        }
        RecordState::InFlight => 0,
    };
    ENTRY_OVERHEAD + record.key.as_str().len() + response
}

impl IdempotencyCache {
    /// `inner` behind a cache of at most `settings.max_bytes`.
    pub fn new(inner: DynIdempotencyStore, settings: IdempotencyCacheSettings) -> IdempotencyCache {
        IdempotencyCache {
            inner,
            max_bytes: settings.max_bytes,
            entries: Mutex::new(Entries {
                records: HashMap::new(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // Each operation is one insert, remove or clear, with its byte count: a panic while
        // holding the lock cannot leave it half-done in a way that matters.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The completed record of (tenant, key) if it is held and live at `now`.
    fn get(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        now: OffsetDateTime,
    ) -> Option<IdempotencyRecord> {
        let mut entries = self.lock();
        let slot = (tenant, key.clone());
        let record = entries.records.get(&slot)?;
        if now + EXPIRY_MARGIN < record.expires_at {
            return Some(record.clone());
        }
        if let Some(expired) = entries.records.remove(&slot) {
            entries.bytes -= charge(&expired);
        }
        None
    }

    /// Keeps `record` if it is completed and live at `now`, within the bound.
    fn put(&self, tenant: TenantId, record: &IdempotencyRecord, now: OffsetDateTime) {
        if !matches!(record.state, RecordState::Completed(_))
            || now + EXPIRY_MARGIN >= record.expires_at
        {
            return;
        }
        let size = charge(record);
        if size > self.max_bytes {
            return;
        }
        let mut entries = self.lock();
        let slot = (tenant, record.key.clone());
        if let Some(previous) = entries.records.remove(&slot) {
            entries.bytes -= charge(&previous);
        }
        if entries.bytes + size > self.max_bytes {
            entries
                .records
                .retain(|_, held| now + EXPIRY_MARGIN < held.expires_at);
            entries.bytes = entries.records.values().map(charge).sum();
            if entries.bytes + size > self.max_bytes {
                entries.records.clear();
                entries.bytes = 0;
            }
        }
        entries.bytes += size;
        entries.records.insert(slot, record.clone());
    }

    /// How many records are held (expired ones not yet dropped included).
    pub fn len(&self) -> usize {
        self.lock().records.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes charged for what is held (at most the bound).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[async_trait]
impl IdempotencyStore for IdempotencyCache {
    async fn reserve(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        owner: Option<InstanceId>,
    ) -> Result<Reservation, StoreError> {
        // A live completed record answers any reservation of its key: the store would answer
        // it too (it replaces a record only once expired or while in flight).
        if let Some(record) = self.get(tenant, key, now) {
            return Ok(Reservation::Existing(record));
        }
        let reservation = self
            .inner
            .reserve(tenant, key, fingerprint, now, expires_at, owner)
            .await?;
        if let Reservation::Existing(record) = &reservation {
            self.put(tenant, record, now);
        }
        Ok(reservation)
    }

    async fn lookup(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        now: OffsetDateTime,
    ) -> Result<IdempotencyRecord, StoreError> {
        self.inner.lookup(tenant, key, now).await
    }

    async fn release(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        token: &ReservationToken,
    ) -> Result<(), StoreError> {
        // Only an in-flight record is deleted, and none is ever held.
        self.inner.release(tenant, key, token).await
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let purged = self.inner.purge_expired(now).await?;
        let mut entries = self.lock();
        entries.records.retain(|_, held| now < held.expires_at);
        entries.bytes = entries.records.values().map(charge).sum();
        Ok(purged)
    }
}

#[cfg(test)]
mod tests;
