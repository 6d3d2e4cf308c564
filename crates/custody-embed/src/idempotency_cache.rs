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
//! records only. So a completed record read once is what every later read answers until its
//! `expires_at`, whichever process asks. What it keeps, and what it never does:
//!
//! - only records that [`IdempotencyStore::reserve`] answered as `Existing` and **completed**,
//!   served only while `now` is more than [`EXPIRY_MARGIN`] before `expires_at` (the store's
//!   own rule for a live record, less a minute for clocks that differ between instances); an
//!   in-flight record, an absent key and a failure are never kept, and nothing is kept before
//!   the record committed (a reservation that succeeds is not a record yet);
//! - per (tenant, key) of the handle's environment, so no tenant can be answered another's
//!   record; the fingerprint is still compared by core ([`IdempotencyRecord::decide`]): a
//!   different request with a cached key is still 409 `idempotency_conflict`;
//! - at most `max_bytes` (the stored bodies and headers, the key, and a fixed charge per
//!   entry). A record larger than the bound is not kept.
//!
//! **Eviction.** When a record would pass the bound, room is made one record at a time until it
//! fits:
//! 1. a record no longer served (within [`EXPIRY_MARGIN`] of its expiry, or past it) goes
//!    first, the earliest expiry first: it answers nothing any more;
//! 2. otherwise the **least recently used** record (kept or answered from memory) **of the
//!    tenant holding the most bytes**; among equals the tenant adding the record gives first.
//!
//! So a tenant loses a record to make room only while no tenant holds more than it does. A
//! tenant flooding the cache with distinct keys takes room only from tenants holding more than
//! it, then recycles its own records: the others keep theirs, and no tenant's hits are emptied
//! by another's traffic (before session 24 the cache started over empty when full: one
//! tenant's flood cleared every tenant's entries). A tenant alone uses the whole bound, so no
//! share has to be configured. Least recently used rather than expiry order inside a tenant:
//! every record is kept for the same retention, so expiry order is the order the keys were
//! first used, which would evict the key a partner is replaying right now (a retry storm
//! replays a few keys many times) before one nobody asks for. Each step is a few `O(log n)`
//! index operations (the expiry order, each tenant's use order, the tenants by bytes);
//! nothing is scanned, and the purge drops expired records from the front of the expiry order.
//!
//! Authentication, the approval gate and the endpoint's scope are judged on every request
//! before the record is asked for, exactly as without the cache.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// What one entry is charged besides its response and its key: the map's slot, the index
/// entries, the record's fixed fields.
const ENTRY_OVERHEAD: usize = 256;

/// How many copies of its key an entry holds: the map's, the record's own, the expiry order's
/// and its tenant's use order's.
const KEY_COPIES: usize = 4;

/// Where a record is held.
type Slot = (TenantId, IdempotencyKey);

/// A held record and its places in the orders.
struct Held {
    record: IdempotencyRecord,
    /// What it is charged ([`charge`]).
    size: usize,
    /// Its place in its tenant's use order (larger: used more recently).
    used: u64,
    /// Its place among the records of the same `expires_at` in the expiry order (fixed).
    serial: u64,
}

/// One tenant's part of the cache (a tenant holding nothing has none).
#[derive(Default)]
struct Share {
    bytes: usize,
    /// Its records' keys by their last use, the least recent first.
    by_use: BTreeMap<u64, IdempotencyKey>,
}

#[derive(Default)]
struct Entries {
    records: HashMap<Slot, Held>,
    /// Every held record by (expires_at, serial): the first stops being served first.
    by_expiry: BTreeMap<(OffsetDateTime, u64), Slot>,
    shares: HashMap<TenantId, Share>,
    /// The tenants holding something, by the bytes they hold: the last holds the most.
    by_bytes: BTreeSet<(usize, TenantId)>,
    /// The sum of the held records' charges.
    bytes: usize,
    /// Numbers uses and insertions.
    clock: u64,
}

impl Entries {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Holds `record` at `slot` (not held yet), charged `size`.
    fn insert(&mut self, slot: Slot, record: IdempotencyRecord, size: usize) {
        let tick = self.tick();
        let (tenant, key) = (slot.0, slot.1.clone());
        self.by_expiry
            .insert((record.expires_at, tick), slot.clone());
        let share = self.shares.entry(tenant).or_default();
        self.by_bytes.remove(&(share.bytes, tenant));
        share.bytes += size;
        share.by_use.insert(tick, key);
        self.by_bytes.insert((share.bytes, tenant));
        self.bytes += size;
        self.records.insert(
            slot,
            Held {
                record,
                size,
                used: tick,
                serial: tick,
            },
        );
    }

    /// Drops the record at `slot`, if held, from the map and every order.
    fn remove(&mut self, slot: &Slot) -> Option<Held> {
        let held = self.records.remove(slot)?;
        self.by_expiry
            .remove(&(held.record.expires_at, held.serial));
        let tenant = slot.0;
        if let Some(share) = self.shares.get_mut(&tenant) {
            self.by_bytes.remove(&(share.bytes, tenant));
            share.bytes -= held.size;
            share.by_use.remove(&held.used);
            if share.by_use.is_empty() {
                self.shares.remove(&tenant);
            } else {
                self.by_bytes.insert((share.bytes, tenant));
            }
        }
        self.bytes -= held.size;
        Some(held)
    }

    /// The record at `slot` if it is still served at `now`, marked as just used; a record no
    /// longer served is dropped.
    fn get(&mut self, slot: &Slot, now: OffsetDateTime) -> Option<IdempotencyRecord> {
        let served = now + EXPIRY_MARGIN < self.records.get(slot)?.record.expires_at;
        if !served {
            self.remove(slot);
            return None;
        }
        let tick = self.tick();
        let held = self.records.get_mut(slot)?;
        let last = std::mem::replace(&mut held.used, tick);
        if let Some(share) = self.shares.get_mut(&slot.0) {
            if let Some(key) = share.by_use.remove(&last) {
                share.by_use.insert(tick, key);
            }
        }
        Some(held.record.clone())
    }

    /// The earliest-expiring record if it is no longer served at `now`.
    fn first_unserved(&self, now: OffsetDateTime) -> Option<Slot> {
        let (&(expires_at, _), slot) = self.by_expiry.first_key_value()?;
        (now + EXPIRY_MARGIN >= expires_at).then(|| slot.clone())
    }

    /// The record to evict next when `adding`'s record needs room and nothing held is unserved:
    /// the least recently used of the tenant holding the most bytes, `adding` first among
    /// equals.
    fn next_victim(&self, adding: TenantId) -> Option<Slot> {
        let &(most, largest) = self.by_bytes.last()?;
        let tenant = match self.shares.get(&adding) {
            Some(share) if share.bytes >= most => adding,
            _ => largest,
        };
        let (_, key) = self.shares.get(&tenant)?.by_use.first_key_value()?;
        Some((tenant, key.clone()))
    }

    /// Evicts (module doc, "Eviction") until `size` more bytes fit in `max`.
    fn make_room(&mut self, adding: TenantId, size: usize, max: usize, now: OffsetDateTime) {
        while self.bytes + size > max {
            let Some(slot) = self
                .first_unserved(now)
                .or_else(|| self.next_victim(adding))
            else {
                return;
            };
            if self.remove(&slot).is_none() {
                return;
            }
        }
    }

    /// Drops every record expired at `now` (the store's purge rule).
    fn purge(&mut self, now: OffsetDateTime) {
        while let Some((&(expires_at, _), slot)) = self.by_expiry.first_key_value() {
            if expires_at > now {
                return;
            }
            let slot = slot.clone();
            self.remove(&slot);
        }
    }
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
    ENTRY_OVERHEAD + KEY_COPIES * record.key.as_str().len() + response
}

impl IdempotencyCache {
    /// `inner` behind a cache of at most `settings.max_bytes`.
    pub fn new(inner: DynIdempotencyStore, settings: IdempotencyCacheSettings) -> IdempotencyCache {
        IdempotencyCache {
            inner,
            max_bytes: settings.max_bytes,
            entries: Mutex::new(Entries::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        // An operation updates the map and its orders in several steps. Should one panic
        // half-way (a broken invariant), the cache starts over empty rather than serve from
        // orders that disagree with the map: it only ever saves reads.
        self.entries.lock().unwrap_or_else(|poisoned| {
            let mut entries = poisoned.into_inner();
            *entries = Entries::default();
            self.entries.clear_poison();
            entries
        })
    }

    /// The completed record of (tenant, key) if it is held and live at `now`.
    fn get(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        now: OffsetDateTime,
    ) -> Option<IdempotencyRecord> {
        self.lock().get(&(tenant, key.clone()), now)
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
        entries.remove(&slot);
        entries.make_room(tenant, size, self.max_bytes, now);
        entries.insert(slot, record.clone(), size);
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
        self.lock().purge(now);
        Ok(purged)
    }
}

#[cfg(test)]
mod tests;
