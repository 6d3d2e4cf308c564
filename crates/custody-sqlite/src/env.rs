//! The handles bound to one environment: reads on the reader pool, and the writes that happen
//! outside a unit of work (outbox bookkeeping, idempotency records) on the writer.

use std::sync::Arc;

use async_trait::async_trait;
use custody_core::address_book::AddressBookEntry;
use custody_core::deposit_address::DepositAddress;
use custody_core::environment::Environment;
use custody_core::event::Event;
use custody_core::id::{
    AddressBookEntryId, AddressId, EventId, TenantId, TransactionId, VaultId, WalletId,
};
use custody_core::idempotency::{Fingerprint, IdempotencyKey, IdempotencyRecord};
use custody_core::ledger::LedgerEntry;
use custody_core::outbox::{
    AttemptOutcome, ClaimedEvent, DeliveryAttempt, DeliveryState, DeliveryStatus,
};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{
    AddressBookStore, AddressFilter, AddressStore, EventStore, IdempotencyStore, OutboxStore,
    Reservation, StoreError, StoreTx, TransactionFilter, TransactionStore, UnitOfWork, VaultFilter,
    VaultStore, WalletFilter, WalletStore,
};
use custody_core::text::ExternalRef;
use custody_core::transaction::Transaction;
use custody_core::vault::Vault;
use custody_core::wallet::Wallet;
use custody_sql::{codec, names, Columns};
use sqlx::QueryBuilder;
use time::{Duration, OffsetDateTime};

use crate::page::fetch_page;
use crate::row::{db, decode_all, micros, Row};
use crate::tx::SqliteTx;
use crate::Inner;

/// Every environment-bound port, over one database, for one environment.
pub(crate) struct EnvStore {
    db: Arc<Inner>,
    env: Environment,
}

impl EnvStore {
    pub(crate) fn new(db: Arc<Inner>, env: Environment) -> EnvStore {
        EnvStore { db, env }
    }

    fn env(&self) -> &'static str {
        self.env.as_str()
    }

    /// `SELECT * FROM {table} WHERE tenant_id = ? AND environment = ?`, for a list to extend.
    fn tenant_query(&self, table: &str, tenant: TenantId) -> QueryBuilder<'static, sqlx::Sqlite> {
        let mut q = QueryBuilder::new(format!("SELECT * FROM {table} WHERE tenant_id = "));
        q.push_bind(tenant.to_string())
            .push(" AND environment = ")
            .push_bind(self.env());
        q
    }

    /// One row of the tenant in this environment by id, decoded.
    async fn get_one<T>(
        &self,
        table: &str,
        tenant: TenantId,
        id: String,
        decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let sql =
            format!("SELECT * FROM {table} WHERE id = ?1 AND tenant_id = ?2 AND environment = ?3");
        let row = sqlx::query(&sql)
            .bind(id)
            .bind(tenant.to_string())
            .bind(self.env())
            .fetch_optional(&self.db.reader)
            .await
            .map_err(db)?
            .ok_or(StoreError::NotFound)?;
        decode(&Row(&row))
    }

    /// Whether one of the tenant's events exists in this environment.
    async fn event_exists(&self, tenant: TenantId, event: EventId) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, i64>(
            "SELECT EXISTS (SELECT 1 FROM events WHERE id = ?1 AND tenant_id = ?2 AND environment = ?3)",
        )
        .bind(event.to_string())
        .bind(tenant.to_string())
        .bind(self.env())
        .fetch_one(&self.db.reader)
        .await
        .map(|n| n != 0)
        .map_err(db)
    }
}

#[async_trait]
impl UnitOfWork for EnvStore {
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let tx = self.db.begin_write().await?;
        Ok(Box::new(SqliteTx::new(tx, self.env)))
    }
}

#[async_trait]
impl VaultStore for EnvStore {
    async fn get(&self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        self.get_one("vaults", tenant, id.to_string(), |r| codec::vault(r))
            .await
    }

    async fn find_by_external_ref(
        &self,
        tenant: TenantId,
        external_ref: &ExternalRef,
    ) -> Result<Vault, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM vaults WHERE tenant_id = ?1 AND environment = ?2 AND external_ref = ?3",
        )
        .bind(tenant.to_string())
        .bind(self.env())
        .bind(external_ref.as_str())
        .fetch_optional(&self.db.reader)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        codec::vault(&Row(&row))
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &VaultFilter,
        page: PageRequest,
    ) -> Result<Page<Vault>, StoreError> {
        let mut q = self.tenant_query("vaults", tenant);
        if let Some(external_ref) = &filter.external_ref {
            q.push(" AND external_ref = ")
                .push_bind(external_ref.as_str().to_owned());
        }
        fetch_page(q, &page, VaultId::PREFIX, &self.db.reader, |r| {
            codec::vault(r)
        })
        .await
    }
}

#[async_trait]
impl WalletStore for EnvStore {
    async fn get(&self, tenant: TenantId, id: WalletId) -> Result<Wallet, StoreError> {
        self.get_one("wallets", tenant, id.to_string(), |r| codec::wallet(r))
            .await
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &WalletFilter,
        page: PageRequest,
    ) -> Result<Page<Wallet>, StoreError> {
        let mut q = self.tenant_query("wallets", tenant);
        if let Some(vault) = filter.vault_id {
            q.push(" AND vault_id = ").push_bind(vault.to_string());
        }
        if let Some(asset) = filter.asset {
            q.push(" AND asset_id = ").push_bind(asset.to_string());
        }
        fetch_page(q, &page, WalletId::PREFIX, &self.db.reader, |r| {
            codec::wallet(r)
        })
        .await
    }
}

#[async_trait]
impl AddressStore for EnvStore {
    async fn get(&self, tenant: TenantId, id: AddressId) -> Result<DepositAddress, StoreError> {
        self.get_one("deposit_addresses", tenant, id.to_string(), |r| {
            codec::deposit_address(r)
        })
        .await
    }

    async fn primary_for_wallet(
        &self,
        tenant: TenantId,
        wallet: WalletId,
    ) -> Result<DepositAddress, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM deposit_addresses \
             WHERE wallet_id = ?1 AND tenant_id = ?2 AND environment = ?3 AND is_primary = 1",
        )
        .bind(wallet.to_string())
        .bind(tenant.to_string())
        .bind(self.env())
        .fetch_optional(&self.db.reader)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        codec::deposit_address(&Row(&row))
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &AddressFilter,
        page: PageRequest,
    ) -> Result<Page<DepositAddress>, StoreError> {
        let mut q = self.tenant_query("deposit_addresses", tenant);
        if let Some(wallet) = filter.wallet_id {
            q.push(" AND wallet_id = ").push_bind(wallet.to_string());
        }
        if let Some(vault) = filter.vault_id {
            q.push(" AND vault_id = ").push_bind(vault.to_string());
        }
        fetch_page(q, &page, AddressId::PREFIX, &self.db.reader, |r| {
            codec::deposit_address(r)
        })
        .await
    }
}

#[async_trait]
impl TransactionStore for EnvStore {
    async fn get(&self, tenant: TenantId, id: TransactionId) -> Result<Transaction, StoreError> {
        self.get_one("transactions", tenant, id.to_string(), |r| {
            codec::transaction(r)
        })
        .await
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<Transaction>, StoreError> {
        let mut q = self.tenant_query("transactions", tenant);
        if let Some(wallet) = filter.wallet_id {
            q.push(" AND (source_wallet_id = ")
                .push_bind(wallet.to_string())
                .push(" OR destination_wallet_id = ")
                .push_bind(wallet.to_string())
                .push(")");
        }
        if let Some(kind) = filter.kind {
            q.push(" AND kind = ")
                .push_bind(names::transaction_kind(kind));
        }
        if let Some(status) = filter.status {
            q.push(" AND status = ")
                .push_bind(names::transaction_status(status));
        }
        fetch_page(q, &page, TransactionId::PREFIX, &self.db.reader, |r| {
            codec::transaction(r)
        })
        .await
    }

    async fn ledger_for_wallet(&self, wallet: WalletId) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM ledger_entries WHERE wallet_id = ?1 AND environment = ?2 ORDER BY seq",
        )
        .bind(wallet.to_string())
        .bind(self.env())
        .fetch_all(&self.db.reader)
        .await
        .map_err(db)?;
        decode_all(&rows, |r| codec::ledger_entry(r))
    }

    async fn open_withdrawals(&self, limit: u32) -> Result<Vec<Transaction>, StoreError> {
        let [a, b, c, d] = names::OPEN_WITHDRAWAL_STATUSES;
        let rows = sqlx::query(
            "SELECT * FROM transactions \
             WHERE environment = ?1 AND kind = ?2 AND status IN (?3, ?4, ?5, ?6) \
             ORDER BY id LIMIT ?7",
        )
        .bind(self.env())
        .bind(names::transaction_kind(
            custody_core::transaction::TransactionKind::Withdrawal,
        ))
        .bind(a)
        .bind(b)
        .bind(c)
        .bind(d)
        .bind(i64::from(limit))
        .fetch_all(&self.db.reader)
        .await
        .map_err(db)?;
        decode_all(&rows, |r| codec::transaction(r))
    }
}

#[async_trait]
impl AddressBookStore for EnvStore {
    async fn get(
        &self,
        tenant: TenantId,
        id: AddressBookEntryId,
    ) -> Result<AddressBookEntry, StoreError> {
        self.get_one("address_book_entries", tenant, id.to_string(), |r| {
            codec::address_book_entry(r)
        })
        .await
    }

    async fn list(
        &self,
        tenant: TenantId,
        include_deleted: bool,
        page: PageRequest,
    ) -> Result<Page<AddressBookEntry>, StoreError> {
        let mut q = self.tenant_query("address_book_entries", tenant);
        if !include_deleted {
            q.push(" AND status = ").push_bind(names::entry_status(
                custody_core::address_book::EntryStatus::Active,
            ));
        }
        fetch_page(q, &page, AddressBookEntryId::PREFIX, &self.db.reader, |r| {
            codec::address_book_entry(r)
        })
        .await
    }
}

#[async_trait]
impl EventStore for EnvStore {
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Event>, StoreError> {
        let q = self.tenant_query("events", tenant);
        fetch_page(q, &page, EventId::PREFIX, &self.db.reader, |r| {
            codec::event(r)
        })
        .await
    }
}

#[async_trait]
impl OutboxStore for EnvStore {
    async fn claim(
        &self,
        now: OffsetDateTime,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedEvent>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let lease_until = now.checked_add(lease).ok_or_else(|| {
            StoreError::Internal(format!("lease {lease} from {now} overflows").into())
        })?;
        let mut tx = self.db.begin_write().await?;
        // Under the writer lock: no other claim runs between the selection and the lease.
        let rows = sqlx::query(
            "UPDATE events SET lease_until = ?1 \
             WHERE id IN ( \
                 SELECT id FROM events \
                 WHERE environment = ?2 AND delivery_state = 'pending' \
                   AND next_attempt_at <= ?3 \
                   AND (lease_until IS NULL OR lease_until <= ?3) \
                 ORDER BY id LIMIT ?4) \
             RETURNING *",
        )
        .bind(micros(lease_until))
        .bind(self.env())
        .bind(micros(now))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        let mut claimed = decode_all(&rows, |r| {
            Ok(ClaimedEvent {
                event: codec::event(r)?,
                attempts: u32::try_from(r.int("attempts")?)
                    .map_err(|_| custody_sql::corrupt("attempts out of range"))?,
                lease_until: r.time("lease_until")?,
            })
        })?;
        tx.commit().await.map_err(db)?;
        claimed.sort_by_key(|c| c.event.id);
        Ok(claimed)
    }

    async fn record_attempt(
        &self,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let (state, next_attempt_at, delivered_at) = match outcome {
            AttemptOutcome::Delivered => (
                DeliveryState::Delivered,
                None,
                Some(micros(attempt.attempted_at)),
            ),
            AttemptOutcome::RetryAt(at) => (DeliveryState::Pending, Some(micros(at)), None),
            AttemptOutcome::GiveUp => (DeliveryState::Failed, None, None),
        };
        let updated = sqlx::query(
            "UPDATE events SET attempts = attempts + 1, lease_until = NULL, delivery_state = ?1, \
                 next_attempt_at = ?2, delivered_at = COALESCE(?3, delivered_at) \
             WHERE id = ?4 AND tenant_id = ?5 AND environment = ?6",
        )
        .bind(state.as_str())
        .bind(next_attempt_at)
        .bind(delivered_at)
        .bind(attempt.event_id.to_string())
        .bind(attempt.tenant_id.to_string())
        .bind(self.env())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query(
            "INSERT INTO webhook_delivery_attempts \
             (id, environment, event_id, tenant_id, attempt, attempted_at, url, response_status, \
              error, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )
        .bind(attempt.id.to_string())
        .bind(self.env())
        .bind(attempt.event_id.to_string())
        .bind(attempt.tenant_id.to_string())
        .bind(i64::from(attempt.attempt))
        .bind(micros(attempt.attempted_at))
        .bind(attempt.url.as_str())
        .bind(attempt.response_status.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(i64::from(attempt.duration_ms))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn status(&self, tenant: TenantId, event: EventId) -> Result<DeliveryStatus, StoreError> {
        let row = sqlx::query(
            "SELECT delivery_state, attempts, next_attempt_at, delivered_at FROM events \
             WHERE id = ?1 AND tenant_id = ?2 AND environment = ?3",
        )
        .bind(event.to_string())
        .bind(tenant.to_string())
        .bind(self.env())
        .fetch_optional(&self.db.reader)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        codec::delivery_status(&Row(&row))
    }

    async fn attempts(
        &self,
        tenant: TenantId,
        event: EventId,
    ) -> Result<Vec<DeliveryAttempt>, StoreError> {
        if !self.event_exists(tenant, event).await? {
            return Err(StoreError::NotFound);
        }
        let rows = sqlx::query(
            "SELECT * FROM webhook_delivery_attempts \
             WHERE event_id = ?1 AND tenant_id = ?2 AND environment = ?3 \
             ORDER BY attempt, attempted_at, id",
        )
        .bind(event.to_string())
        .bind(tenant.to_string())
        .bind(self.env())
        .fetch_all(&self.db.reader)
        .await
        .map_err(db)?;
        decode_all(&rows, |r| codec::delivery_attempt(r))
    }

    async fn redeliver(
        &self,
        tenant: TenantId,
        event: EventId,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE events SET delivery_state = 'pending', next_attempt_at = ?1, \
                 lease_until = NULL \
             WHERE id = ?2 AND tenant_id = ?3 AND environment = ?4",
        )
        .bind(micros(now))
        .bind(event.to_string())
        .bind(tenant.to_string())
        .bind(self.env())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await.map_err(db)
    }
}

#[async_trait]
impl IdempotencyStore for EnvStore {
    async fn reserve(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        fingerprint: &Fingerprint,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<Reservation, StoreError> {
        let mut tx = self.db.begin_write().await?;
        // Inserts, or replaces a record that has expired at `now`; a live record is left alone
        // and no row comes back. The writer lock makes this and the read below one atomic step.
        let reserved = sqlx::query(
            "INSERT INTO idempotency_records \
             (environment, tenant_id, key, fingerprint, state, response_status, \
              response_headers, response_body, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, 'in_flight', NULL, NULL, NULL, ?5, ?6) \
             ON CONFLICT (environment, tenant_id, key) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, state = 'in_flight', \
                 response_status = NULL, response_headers = NULL, response_body = NULL, \
                 created_at = excluded.created_at, expires_at = excluded.expires_at \
             WHERE idempotency_records.expires_at <= excluded.created_at \
             RETURNING key",
        )
        .bind(self.env())
        .bind(tenant.to_string())
        .bind(key.as_str())
        .bind(fingerprint.0.to_vec())
        .bind(micros(now))
        .bind(micros(expires_at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?
        .is_some();
        let outcome = if reserved {
            Reservation::Reserved
        } else {
            let row = sqlx::query(
                "SELECT * FROM idempotency_records \
                 WHERE environment = ?1 AND tenant_id = ?2 AND key = ?3",
            )
            .bind(self.env())
            .bind(tenant.to_string())
            .bind(key.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            Reservation::Existing(codec::idempotency_record(&Row(&row))?)
        };
        tx.commit().await.map_err(db)?;
        Ok(outcome)
    }

    async fn lookup(
        &self,
        tenant: TenantId,
        key: &IdempotencyKey,
        now: OffsetDateTime,
    ) -> Result<IdempotencyRecord, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM idempotency_records \
             WHERE environment = ?1 AND tenant_id = ?2 AND key = ?3 AND expires_at > ?4",
        )
        .bind(self.env())
        .bind(tenant.to_string())
        .bind(key.as_str())
        .bind(micros(now))
        .fetch_optional(&self.db.reader)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?;
        codec::idempotency_record(&Row(&row))
    }

    async fn release(&self, tenant: TenantId, key: &IdempotencyKey) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().await?;
        sqlx::query(
            "DELETE FROM idempotency_records \
             WHERE environment = ?1 AND tenant_id = ?2 AND key = ?3 AND state = 'in_flight'",
        )
        .bind(self.env())
        .bind(tenant.to_string())
        .bind(key.as_str())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut tx = self.db.begin_write().await?;
        let done = sqlx::query(
            "DELETE FROM idempotency_records WHERE environment = ?1 AND expires_at <= ?2",
        )
        .bind(self.env())
        .bind(micros(now))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected())
    }
}
