//! The unit of work: one `BEGIN IMMEDIATE` transaction on the writer connection.

use async_trait::async_trait;
use custody_core::address_book::AddressBookEntry;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::deposit_address::DepositAddress;
use custody_core::environment::Environment;
use custody_core::event::Event;
use custody_core::id::{AddressBookEntryId, TenantId, TransactionId, VaultId, WalletId};
use custody_core::idempotency::{IdempotencyKey, StoredResponse};
use custody_core::ledger::LedgerEntry;
use custody_core::ports::{StoreError, StoreTx};
use custody_core::text::ExternalRef;
use custody_core::transaction::{Transaction, TransactionKind};
use custody_core::vault::{Vault, VaultKind};
use custody_core::wallet::Wallet;
use custody_sql::{codec, names};
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Sqlite};

use crate::row::{db, decode_all, int, micros, opt_micros, Row};

/// A unit of work. It holds the database's write lock from `BEGIN IMMEDIATE` until it commits
/// or is dropped (sqlx rolls a dropped transaction back before the connection is used again).
pub(crate) struct SqliteTx {
    tx: sqlx::Transaction<'static, Sqlite>,
    env: Environment,
    /// A statement failed in the database. SQLite undoes only that statement and keeps the
    /// transaction open, so a `COMMIT` would publish the unit of work's earlier writes without
    /// the failed one (half a ledger, a transaction row without its balances). The `StoreTx`
    /// contract ends the unit of work at its first error, as PostgreSQL does: `commit` refuses.
    failed: bool,
}

impl SqliteTx {
    pub(crate) fn new(tx: sqlx::Transaction<'static, Sqlite>, env: Environment) -> SqliteTx {
        SqliteTx {
            tx,
            env,
            failed: false,
        }
    }

    fn env(&self) -> &'static str {
        self.env.as_str()
    }

    /// Translates a driver error, remembering when a statement failed in the database.
    fn fail(&mut self, err: sqlx::Error) -> StoreError {
        if matches!(err, sqlx::Error::Database(_)) {
            self.failed = true;
        }
        db(err)
    }

    async fn optional<'q>(
        &mut self,
        query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ) -> Result<Option<SqliteRow>, StoreError> {
        let result = query.fetch_optional(&mut *self.tx).await;
        result.map_err(|e| self.fail(e))
    }

    /// After an `update_*` touched no row: the row is absent in this environment (or the
    /// tenant's), or its stored version is not lower than the new one.
    async fn missing_or_stale(
        &mut self,
        table: &'static str,
        id: String,
        tenant: TenantId,
    ) -> StoreError {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM {table} WHERE id = ?1 AND tenant_id = ?2 AND environment = ?3)"
        );
        let exists = sqlx::query_scalar::<_, i64>(&sql)
            .bind(id)
            .bind(tenant.to_string())
            .bind(self.env())
            .fetch_one(&mut *self.tx)
            .await;
        match exists {
            Ok(0) => StoreError::NotFound,
            Ok(_) => StoreError::Conflict {
                constraint: "version".to_owned(),
            },
            Err(e) => self.fail(e),
        }
    }
}

fn found<T>(
    row: Option<SqliteRow>,
    decode: impl Fn(&Row<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let row = row.ok_or(StoreError::NotFound)?;
    decode(&Row(&row))
}

fn amount_text(amount: custody_core::amount::Amount) -> String {
    amount.base_units().to_string()
}

#[async_trait]
impl StoreTx for SqliteTx {
    async fn lock_address_minting(
        &mut self,
        _vault: VaultId,
        _asset: AssetId,
    ) -> Result<(), StoreError> {
        // Nothing to do: this transaction began with BEGIN IMMEDIATE and holds the database's
        // single write lock until it ends. Every other unit of work, in this process (one
        // writer connection) or another (the file lock), waits at its own BEGIN, so no second
        // ensure for this (vault, asset), or any other, can run until this one has committed.
        Ok(())
    }

    async fn find_vault_by_external_ref(
        &mut self,
        tenant: TenantId,
        external_ref: &ExternalRef,
    ) -> Result<Vault, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM vaults WHERE tenant_id = ?1 AND environment = ?2 AND external_ref = ?3",
        )
        .bind(tenant.to_string())
        .bind(self.env())
        .bind(external_ref.as_str().to_owned());
        found(self.optional(q).await?, |r| codec::vault(r))
    }

    async fn find_treasury_vault(&mut self, tenant: TenantId) -> Result<Vault, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM vaults WHERE tenant_id = ?1 AND environment = ?2 AND kind = ?3",
        )
        .bind(tenant.to_string())
        .bind(self.env())
        .bind(names::vault_kind(VaultKind::Treasury));
        found(self.optional(q).await?, |r| codec::vault(r))
    }

    async fn lock_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        // The write lock this transaction holds is stronger than a row lock.
        self.share_vault(tenant, id).await
    }

    async fn share_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM vaults WHERE id = ?1 AND tenant_id = ?2 AND environment = ?3",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(self.env());
        found(self.optional(q).await?, |r| codec::vault(r))
    }

    async fn insert_vault(&mut self, vault: &Vault) -> Result<(), StoreError> {
        let metadata = codec::metadata_json(&vault.metadata).to_string();
        sqlx::query(
            "INSERT INTO vaults (id, environment, tenant_id, kind, external_ref, name, metadata, \
                 status, version, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(vault.id.to_string())
        .bind(self.env())
        .bind(vault.tenant_id.to_string())
        .bind(names::vault_kind(vault.kind))
        .bind(vault.external_ref.as_ref().map(|r| r.as_str().to_owned()))
        .bind(vault.name.as_str().to_owned())
        .bind(metadata)
        .bind(names::vault_status(vault.status))
        .bind(int(vault.version)?)
        .bind(micros(vault.created_at))
        .bind(micros(vault.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn update_vault(&mut self, vault: &Vault) -> Result<(), StoreError> {
        let metadata = codec::metadata_json(&vault.metadata).to_string();
        let done = sqlx::query(
            "UPDATE vaults SET name = ?1, metadata = ?2, status = ?3, version = ?4, updated_at = ?5 \
             WHERE id = ?6 AND tenant_id = ?7 AND environment = ?8 AND version < ?4",
        )
        .bind(vault.name.as_str().to_owned())
        .bind(metadata)
        .bind(names::vault_status(vault.status))
        .bind(int(vault.version)?)
        .bind(micros(vault.updated_at))
        .bind(vault.id.to_string())
        .bind(vault.tenant_id.to_string())
        .bind(self.env())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        if done.rows_affected() == 0 {
            return Err(self
                .missing_or_stale("vaults", vault.id.to_string(), vault.tenant_id)
                .await);
        }
        Ok(())
    }

    async fn vault_has_funds(&mut self, vault: VaultId) -> Result<bool, StoreError> {
        // Amounts are canonical decimal text (CHECKed), so zero is exactly '0'.
        sqlx::query_scalar::<_, i64>(
            "SELECT EXISTS (SELECT 1 FROM wallets WHERE vault_id = ?1 AND environment = ?2 \
                 AND (available <> '0' OR pending <> '0' OR held <> '0'))",
        )
        .bind(vault.to_string())
        .bind(self.env())
        .fetch_one(&mut *self.tx)
        .await
        .map(|n| n != 0)
        .map_err(|e| self.fail(e))
    }

    async fn find_wallet(&mut self, vault: VaultId, asset: AssetId) -> Result<Wallet, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM wallets WHERE vault_id = ?1 AND asset_id = ?2 AND environment = ?3",
        )
        .bind(vault.to_string())
        .bind(asset.to_string())
        .bind(self.env());
        found(self.optional(q).await?, |r| codec::wallet(r))
    }

    async fn lock_wallets(
        &mut self,
        tenant: TenantId,
        ids: &[WalletId],
    ) -> Result<Vec<Wallet>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Sqlite>::new("SELECT * FROM wallets WHERE tenant_id = ");
        q.push_bind(tenant.to_string())
            .push(" AND environment = ")
            .push_bind(self.env())
            .push(" AND id IN (");
        let mut list = q.separated(", ");
        for id in ids {
            list.push_bind(id.to_string());
        }
        q.push(") ORDER BY id");
        let rows = q
            .build()
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))?;
        decode_all(&rows, |r| codec::wallet(r))
    }

    async fn lock_wallet_by_id(&mut self, id: WalletId) -> Result<Wallet, StoreError> {
        let q = sqlx::query("SELECT * FROM wallets WHERE id = ?1 AND environment = ?2")
            .bind(id.to_string())
            .bind(self.env());
        found(self.optional(q).await?, |r| codec::wallet(r))
    }

    async fn insert_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO wallets (id, environment, tenant_id, vault_id, asset_id, label, status, \
                 available, pending, held, version, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .bind(wallet.id.to_string())
        .bind(self.env())
        .bind(wallet.tenant_id.to_string())
        .bind(wallet.vault_id.to_string())
        .bind(wallet.asset.to_string())
        .bind(wallet.label.as_ref().map(|l| l.as_str().to_owned()))
        .bind(names::wallet_status(wallet.status))
        .bind(amount_text(wallet.balances.available))
        .bind(amount_text(wallet.balances.pending))
        .bind(amount_text(wallet.balances.held))
        .bind(int(wallet.version)?)
        .bind(micros(wallet.created_at))
        .bind(micros(wallet.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn update_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE wallets SET label = ?1, status = ?2, available = ?3, pending = ?4, held = ?5, \
                 version = ?6, updated_at = ?7 \
             WHERE id = ?8 AND tenant_id = ?9 AND environment = ?10 AND version < ?6",
        )
        .bind(wallet.label.as_ref().map(|l| l.as_str().to_owned()))
        .bind(names::wallet_status(wallet.status))
        .bind(amount_text(wallet.balances.available))
        .bind(amount_text(wallet.balances.pending))
        .bind(amount_text(wallet.balances.held))
        .bind(int(wallet.version)?)
        .bind(micros(wallet.updated_at))
        .bind(wallet.id.to_string())
        .bind(wallet.tenant_id.to_string())
        .bind(self.env())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        if done.rows_affected() == 0 {
            return Err(self
                .missing_or_stale("wallets", wallet.id.to_string(), wallet.tenant_id)
                .await);
        }
        Ok(())
    }

    async fn find_primary_address(
        &mut self,
        wallet: WalletId,
    ) -> Result<DepositAddress, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM deposit_addresses \
             WHERE wallet_id = ?1 AND environment = ?2 AND is_primary = 1",
        )
        .bind(wallet.to_string())
        .bind(self.env());
        found(self.optional(q).await?, |r| codec::deposit_address(r))
    }

    async fn count_addresses(&mut self, wallet: WalletId) -> Result<u32, StoreError> {
        let n = sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM deposit_addresses WHERE wallet_id = ?1 AND environment = ?2",
        )
        .bind(wallet.to_string())
        .bind(self.env())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        u32::try_from(n).map_err(|_| custody_sql::corrupt("address count out of range"))
    }

    async fn insert_address(&mut self, address: &DepositAddress) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, \
                 asset_id, network, address, label, is_primary, derivation_index, provider, \
                 provider_reference, status, version, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        )
        .bind(address.id.to_string())
        .bind(self.env())
        .bind(address.tenant_id.to_string())
        .bind(address.vault_id.to_string())
        .bind(address.wallet_id.to_string())
        .bind(address.asset.to_string())
        .bind(address.address.network().as_str())
        .bind(address.address.as_str().to_owned())
        .bind(address.label.as_ref().map(|l| l.as_str().to_owned()))
        .bind(i64::from(address.is_primary))
        .bind(i64::from(address.derivation_index))
        .bind(address.provider.provider.clone())
        .bind(address.provider.reference.clone())
        .bind(names::address_status(address.status))
        .bind(int(address.version)?)
        .bind(micros(address.created_at))
        .bind(micros(address.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn find_address_by_chain_address(
        &mut self,
        address: &ChainAddress,
    ) -> Result<DepositAddress, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM deposit_addresses \
             WHERE network = ?1 AND address = ?2 AND environment = ?3",
        )
        .bind(address.network().as_str())
        .bind(address.as_str().to_owned())
        .bind(self.env());
        found(self.optional(q).await?, |r| codec::deposit_address(r))
    }

    async fn insert_transaction(&mut self, t: &Transaction) -> Result<(), StoreError> {
        let history = codec::history_json(&t.history)?.to_string();
        sqlx::query(
            "INSERT INTO transactions (id, environment, tenant_id, kind, status, asset_id, amount, \
                 source_wallet_id, destination_wallet_id, deposit_address_id, \
                 address_book_entry_id, destination_network, destination_address, provider_ref, \
                 tx_hash, confirmations_seen, confirmations_required, reference, failure_reason, \
                 history, version, created_at, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
                 ?18, ?19, ?20, ?21, ?22, ?23)",
        )
        .bind(t.id.to_string())
        .bind(self.env())
        .bind(t.tenant_id.to_string())
        .bind(names::transaction_kind(t.kind))
        .bind(names::transaction_status(t.status))
        .bind(t.asset.to_string())
        .bind(amount_text(t.amount))
        .bind(t.source_wallet_id.map(|w| w.to_string()))
        .bind(t.destination_wallet_id.map(|w| w.to_string()))
        .bind(t.deposit_address_id.map(|a| a.to_string()))
        .bind(t.address_book_entry_id.map(|e| e.to_string()))
        .bind(t.destination_address.as_ref().map(|a| a.network().as_str()))
        .bind(t.destination_address.as_ref().map(|a| a.as_str().to_owned()))
        .bind(t.provider_ref.clone())
        .bind(t.tx_hash.clone())
        .bind(t.confirmations.map(|c| i64::from(c.seen)))
        .bind(t.confirmations.map(|c| i64::from(c.required)))
        .bind(t.reference.as_ref().map(|r| r.as_str().to_owned()))
        .bind(t.failure_reason.clone())
        .bind(history)
        .bind(int(t.version)?)
        .bind(micros(t.created_at))
        .bind(micros(t.updated_at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn lock_transaction(
        &mut self,
        tenant: Option<TenantId>,
        id: TransactionId,
    ) -> Result<Transaction, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM transactions \
             WHERE id = ?1 AND environment = ?2 AND (?3 IS NULL OR tenant_id = ?3)",
        )
        .bind(id.to_string())
        .bind(self.env())
        .bind(tenant.map(|t| t.to_string()));
        found(self.optional(q).await?, |r| codec::transaction(r))
    }

    async fn lock_deposit_by_provider_ref(
        &mut self,
        provider_ref: &str,
    ) -> Result<Transaction, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM transactions \
             WHERE environment = ?1 AND kind = ?2 AND provider_ref = ?3",
        )
        .bind(self.env())
        .bind(names::transaction_kind(TransactionKind::Deposit))
        .bind(provider_ref.to_owned());
        found(self.optional(q).await?, |r| codec::transaction(r))
    }

    async fn update_transaction(&mut self, t: &Transaction) -> Result<(), StoreError> {
        let history = codec::history_json(&t.history)?.to_string();
        let done = sqlx::query(
            "UPDATE transactions SET status = ?1, source_wallet_id = ?2, \
                 destination_wallet_id = ?3, deposit_address_id = ?4, address_book_entry_id = ?5, \
                 destination_network = ?6, destination_address = ?7, provider_ref = ?8, \
                 tx_hash = ?9, confirmations_seen = ?10, confirmations_required = ?11, \
                 reference = ?12, failure_reason = ?13, history = ?14, version = ?15, \
                 updated_at = ?16 \
             WHERE id = ?17 AND tenant_id = ?18 AND environment = ?19 AND version < ?15",
        )
        .bind(names::transaction_status(t.status))
        .bind(t.source_wallet_id.map(|w| w.to_string()))
        .bind(t.destination_wallet_id.map(|w| w.to_string()))
        .bind(t.deposit_address_id.map(|a| a.to_string()))
        .bind(t.address_book_entry_id.map(|e| e.to_string()))
        .bind(t.destination_address.as_ref().map(|a| a.network().as_str()))
        .bind(
            t.destination_address
                .as_ref()
                .map(|a| a.as_str().to_owned()),
        )
        .bind(t.provider_ref.clone())
        .bind(t.tx_hash.clone())
        .bind(t.confirmations.map(|c| i64::from(c.seen)))
        .bind(t.confirmations.map(|c| i64::from(c.required)))
        .bind(t.reference.as_ref().map(|r| r.as_str().to_owned()))
        .bind(t.failure_reason.clone())
        .bind(history)
        .bind(int(t.version)?)
        .bind(micros(t.updated_at))
        .bind(t.id.to_string())
        .bind(t.tenant_id.to_string())
        .bind(self.env())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        if done.rows_affected() == 0 {
            return Err(self
                .missing_or_stale("transactions", t.id.to_string(), t.tenant_id)
                .await);
        }
        Ok(())
    }

    async fn append_ledger(&mut self, entries: &[LedgerEntry]) -> Result<(), StoreError> {
        for entry in entries {
            let (kind, wallet, bucket) = codec::account_columns(&entry.posting.account);
            sqlx::query(
                "INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, \
                     wallet_id, bucket, delta, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .bind(self.env())
            .bind(entry.transaction_id.to_string())
            .bind(entry.asset.to_string())
            .bind(kind)
            .bind(wallet)
            .bind(bucket)
            .bind(entry.posting.delta.to_string())
            .bind(micros(entry.created_at))
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))?;
        }
        Ok(())
    }

    async fn insert_address_book_entry(
        &mut self,
        entry: &AddressBookEntry,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO address_book_entries (id, environment, tenant_id, network, address, \
                 label, asset_id, status, version, created_at, deleted_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        )
        .bind(entry.id.to_string())
        .bind(self.env())
        .bind(entry.tenant_id.to_string())
        .bind(entry.address.network().as_str())
        .bind(entry.address.as_str().to_owned())
        .bind(entry.label.as_str().to_owned())
        .bind(entry.asset.map(|a| a.to_string()))
        .bind(names::entry_status(entry.status))
        .bind(int(entry.version)?)
        .bind(micros(entry.created_at))
        .bind(opt_micros(entry.deleted_at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn lock_address_book_entry(
        &mut self,
        tenant: TenantId,
        id: AddressBookEntryId,
    ) -> Result<AddressBookEntry, StoreError> {
        let q = sqlx::query(
            "SELECT * FROM address_book_entries \
             WHERE id = ?1 AND tenant_id = ?2 AND environment = ?3",
        )
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(self.env());
        found(self.optional(q).await?, |r| codec::address_book_entry(r))
    }

    async fn update_address_book_entry(
        &mut self,
        entry: &AddressBookEntry,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE address_book_entries SET label = ?1, asset_id = ?2, status = ?3, \
                 version = ?4, deleted_at = ?5 \
             WHERE id = ?6 AND tenant_id = ?7 AND environment = ?8 AND version < ?4",
        )
        .bind(entry.label.as_str().to_owned())
        .bind(entry.asset.map(|a| a.to_string()))
        .bind(names::entry_status(entry.status))
        .bind(int(entry.version)?)
        .bind(opt_micros(entry.deleted_at))
        .bind(entry.id.to_string())
        .bind(entry.tenant_id.to_string())
        .bind(self.env())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        if done.rows_affected() == 0 {
            return Err(self
                .missing_or_stale(
                    "address_book_entries",
                    entry.id.to_string(),
                    entry.tenant_id,
                )
                .await);
        }
        Ok(())
    }

    async fn append_event(&mut self, event: &Event) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO events (id, environment, tenant_id, event_type, resource_type, \
                 resource_id, resource_version, snapshot, previous_attributes, created_at, \
                 delivery_state, attempts, next_attempt_at, lease_until, delivered_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', 0, ?10, NULL, NULL)",
        )
        .bind(event.id.to_string())
        .bind(self.env())
        .bind(event.tenant_id.to_string())
        .bind(event.event_type.as_str())
        .bind(event.data.resource_type)
        .bind(event.data.resource_id.clone())
        .bind(int(event.data.version)?)
        .bind(event.data.snapshot.to_string())
        .bind(event.previous_attributes.as_ref().map(ToString::to_string))
        .bind(micros(event.created_at))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn complete_idempotency(
        &mut self,
        tenant: TenantId,
        key: &IdempotencyKey,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE idempotency_records SET state = 'completed', response_status = ?1, \
                 response_headers = ?2, response_body = ?3 \
             WHERE environment = ?4 AND tenant_id = ?5 AND key = ?6 AND state = 'in_flight'",
        )
        .bind(i64::from(response.status))
        .bind(codec::headers_json(&response.headers).to_string())
        .bind(response.body.clone())
        .bind(self.env())
        .bind(tenant.to_string())
        .bind(key.as_str().to_owned())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        if self.failed {
            // Rolled back rather than committed without the write that failed.
            self.tx.rollback().await.map_err(db)?;
            return Err(StoreError::Internal(
                "commit after a failed statement: the transaction was rolled back".into(),
            ));
        }
        self.tx.commit().await.map_err(db)
    }
}
