//! The unit of work: one PostgreSQL transaction per [`StoreTx`], bound to one environment.
//!
//! Dropping a [`PgTx`] without committing rolls it back (sqlx issues the `ROLLBACK` when the
//! connection returns to the pool).

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
use custody_core::ports::{StoreError, StoreTx, UnitOfWork};
use custody_core::text::ExternalRef;
use custody_core::transaction::Transaction;
use custody_core::vault::Vault;
use custody_core::wallet::Wallet;
use custody_sql::{codec, names};
use sha2::{Digest, Sha256};
use sqlx::Postgres;

use crate::error::{big, db_err, version_conflict};
use crate::row::{decode_all, decode_one, ADDRESS, ADDRESS_BOOK, TRANSACTION, VAULT, WALLET};
use crate::EnvDb;

/// Opens [`PgTx`]s.
pub(crate) struct PgUnitOfWork(pub(crate) EnvDb);

#[async_trait]
impl UnitOfWork for PgUnitOfWork {
    async fn begin(&self) -> Result<Box<dyn StoreTx>, StoreError> {
        let tx = self.0.pool.begin().await.map_err(db_err)?;
        Ok(Box::new(PgTx {
            tx,
            env: self.0.env,
            aborted: false,
        }))
    }
}

/// One database transaction bound to one environment.
pub(crate) struct PgTx {
    tx: sqlx::Transaction<'static, Postgres>,
    env: Environment,
    /// A statement failed in the database: PostgreSQL has aborted the transaction, every
    /// further statement fails, and a `COMMIT` would quietly roll back. `commit` refuses.
    aborted: bool,
}

/// The advisory-lock key of address minting for (vault, asset): the first 8 bytes of SHA-256
/// over a namespaced text, so it is stable across versions, builds and machines, and unlikely
/// to collide with another application's advisory locks on the same database.
pub(crate) fn minting_lock_key(vault: VaultId, asset: AssetId) -> i64 {
    let digest = Sha256::digest(format!("custody:address-minting:{vault}:{asset}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

fn amount_text(amount: custody_core::amount::Amount) -> String {
    amount.base_units().to_string()
}

impl PgTx {
    fn env(&self) -> &'static str {
        self.env.as_str()
    }

    /// Translates a driver error, remembering when the database aborted the transaction.
    fn fail(&mut self, err: sqlx::Error) -> StoreError {
        if matches!(err, sqlx::Error::Database(_)) {
            self.aborted = true;
        }
        db_err(err)
    }

    /// Whether a row of `table` with this id exists in this environment for this tenant: tells
    /// an `update_*` that matched nothing whether the row is missing or newer.
    async fn exists(
        &mut self,
        table: &str,
        id: String,
        tenant: TenantId,
    ) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, bool>(&format!(
            "SELECT EXISTS (SELECT 1 FROM {table} \
             WHERE id = $1 AND environment = $2 AND tenant_id = $3)"
        ))
        .bind(id)
        .bind(self.env())
        .bind(tenant.to_string())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))
    }

    /// Finishes an `update_*`: one row changed is success, none is `NotFound` or a version
    /// conflict.
    async fn updated(
        &mut self,
        rows: u64,
        table: &str,
        id: String,
        tenant: TenantId,
    ) -> Result<(), StoreError> {
        if rows > 0 {
            return Ok(());
        }
        let exists = self.exists(table, id, tenant).await?;
        Err(version_conflict(exists))
    }

    async fn vault_where(
        &mut self,
        condition: &str,
        tenant: TenantId,
        value: String,
        lock: &str,
    ) -> Result<Vault, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {VAULT} FROM vaults \
             WHERE environment = $1 AND tenant_id = $2 AND {condition} {lock}"
        ))
        .bind(self.env())
        .bind(tenant.to_string())
        .bind(value)
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_one(&row, |r| codec::vault(r))
    }
}

#[async_trait]
impl StoreTx for PgTx {
    async fn lock_address_minting(
        &mut self,
        vault: VaultId,
        asset: AssetId,
    ) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(minting_lock_key(vault, asset))
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn find_vault_by_external_ref(
        &mut self,
        tenant: TenantId,
        external_ref: &ExternalRef,
    ) -> Result<Vault, StoreError> {
        self.vault_where(
            "external_ref = $3",
            tenant,
            external_ref.as_str().to_owned(),
            "",
        )
        .await
    }

    async fn find_treasury_vault(&mut self, tenant: TenantId) -> Result<Vault, StoreError> {
        self.vault_where(
            "kind = $3",
            tenant,
            names::vault_kind(custody_core::vault::VaultKind::Treasury).to_owned(),
            "",
        )
        .await
    }

    async fn lock_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        self.vault_where("id = $3", tenant, id.to_string(), "FOR UPDATE")
            .await
    }

    async fn share_vault(&mut self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        self.vault_where("id = $3", tenant, id.to_string(), "FOR SHARE")
            .await
    }

    async fn insert_vault(&mut self, vault: &Vault) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO vaults (id, environment, tenant_id, kind, external_ref, name, metadata, \
             status, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(vault.id.to_string())
        .bind(self.env())
        .bind(vault.tenant_id.to_string())
        .bind(names::vault_kind(vault.kind))
        .bind(vault.external_ref.as_ref().map(|r| r.as_str().to_owned()))
        .bind(vault.name.as_str().to_owned())
        .bind(codec::metadata_json(&vault.metadata))
        .bind(names::vault_status(vault.status))
        .bind(big(vault.version, "version")?)
        .bind(vault.created_at)
        .bind(vault.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn update_vault(&mut self, vault: &Vault) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE vaults SET name = $4, metadata = $5, status = $6, version = $7, \
             updated_at = $8 \
             WHERE id = $1 AND environment = $2 AND tenant_id = $3 AND version < $7",
        )
        .bind(vault.id.to_string())
        .bind(self.env())
        .bind(vault.tenant_id.to_string())
        .bind(vault.name.as_str().to_owned())
        .bind(codec::metadata_json(&vault.metadata))
        .bind(names::vault_status(vault.status))
        .bind(big(vault.version, "version")?)
        .bind(vault.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        self.updated(
            done.rows_affected(),
            "vaults",
            vault.id.to_string(),
            vault.tenant_id,
        )
        .await
    }

    async fn vault_has_funds(&mut self, vault: VaultId) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM wallets \
             WHERE vault_id = $1 AND environment = $2 \
             AND (available > 0 OR pending > 0 OR held > 0))",
        )
        .bind(vault.to_string())
        .bind(self.env())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))
    }

    async fn find_wallet(&mut self, vault: VaultId, asset: AssetId) -> Result<Wallet, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WALLET} FROM wallets \
             WHERE vault_id = $1 AND asset_id = $2 AND environment = $3"
        ))
        .bind(vault.to_string())
        .bind(asset.to_string())
        .bind(self.env())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_one(&row, |r| codec::wallet(r))
    }

    async fn lock_wallets(
        &mut self,
        tenant: TenantId,
        ids: &[WalletId],
    ) -> Result<Vec<Wallet>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let rows = sqlx::query(&format!(
            "SELECT {WALLET} FROM wallets \
             WHERE id = ANY($1) AND tenant_id = $2 AND environment = $3 \
             ORDER BY id FOR UPDATE"
        ))
        .bind(ids)
        .bind(tenant.to_string())
        .bind(self.env())
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_all(&rows, |r| codec::wallet(r))
    }

    async fn lock_wallet_by_id(&mut self, id: WalletId) -> Result<Wallet, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {WALLET} FROM wallets WHERE id = $1 AND environment = $2 FOR UPDATE"
        ))
        .bind(id.to_string())
        .bind(self.env())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_one(&row, |r| codec::wallet(r))
    }

    async fn insert_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO wallets (id, environment, tenant_id, vault_id, asset_id, label, status, \
             available, pending, held, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8::numeric, $9::numeric, $10::numeric, $11, \
             $12, $13)",
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
        .bind(big(wallet.version, "version")?)
        .bind(wallet.created_at)
        .bind(wallet.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn update_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE wallets SET label = $4, status = $5, available = $6::numeric, \
             pending = $7::numeric, held = $8::numeric, version = $9, updated_at = $10 \
             WHERE id = $1 AND environment = $2 AND tenant_id = $3 AND version < $9",
        )
        .bind(wallet.id.to_string())
        .bind(self.env())
        .bind(wallet.tenant_id.to_string())
        .bind(wallet.label.as_ref().map(|l| l.as_str().to_owned()))
        .bind(names::wallet_status(wallet.status))
        .bind(amount_text(wallet.balances.available))
        .bind(amount_text(wallet.balances.pending))
        .bind(amount_text(wallet.balances.held))
        .bind(big(wallet.version, "version")?)
        .bind(wallet.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        self.updated(
            done.rows_affected(),
            "wallets",
            wallet.id.to_string(),
            wallet.tenant_id,
        )
        .await
    }

    async fn find_primary_address(
        &mut self,
        wallet: WalletId,
    ) -> Result<DepositAddress, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ADDRESS} FROM deposit_addresses \
             WHERE wallet_id = $1 AND environment = $2 AND is_primary"
        ))
        .bind(wallet.to_string())
        .bind(self.env())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_one(&row, |r| codec::deposit_address(r))
    }

    async fn count_addresses(&mut self, wallet: WalletId) -> Result<u32, StoreError> {
        let count = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM deposit_addresses WHERE wallet_id = $1 AND environment = $2",
        )
        .bind(wallet.to_string())
        .bind(self.env())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        u32::try_from(count)
            .map_err(|_| StoreError::Internal(format!("{count} addresses in one wallet").into()))
    }

    async fn insert_address(&mut self, address: &DepositAddress) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, \
             asset_id, network, address, label, is_primary, derivation_index, provider, \
             provider_reference, status, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
        .bind(address.is_primary)
        .bind(i64::from(address.derivation_index))
        .bind(&address.provider.provider)
        .bind(address.provider.reference.as_deref())
        .bind(names::address_status(address.status))
        .bind(big(address.version, "version")?)
        .bind(address.created_at)
        .bind(address.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    async fn find_address_by_chain_address(
        &mut self,
        address: &ChainAddress,
    ) -> Result<DepositAddress, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {ADDRESS} FROM deposit_addresses \
             WHERE network = $1 AND address = $2 AND environment = $3"
        ))
        .bind(address.network().as_str())
        .bind(address.as_str().to_owned())
        .bind(self.env())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_one(&row, |r| codec::deposit_address(r))
    }

    async fn insert_transaction(&mut self, t: &Transaction) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO transactions (id, environment, tenant_id, kind, status, asset_id, \
             amount, source_wallet_id, destination_wallet_id, deposit_address_id, \
             address_book_entry_id, destination_network, destination_address, provider_ref, \
             tx_hash, confirmations_seen, confirmations_required, reference, failure_reason, \
             history, version, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8, $9, $10, $11, $12, $13, $14, $15, \
             $16, $17, $18, $19, $20, $21, $22, $23)",
        )
        .bind(t.id.to_string())
        .bind(self.env())
        .bind(t.tenant_id.to_string())
        .bind(names::transaction_kind(t.kind))
        .bind(names::transaction_status(t.status))
        .bind(t.asset.to_string())
        .bind(amount_text(t.amount))
        .bind(t.source_wallet_id.map(|id| id.to_string()))
        .bind(t.destination_wallet_id.map(|id| id.to_string()))
        .bind(t.deposit_address_id.map(|id| id.to_string()))
        .bind(t.address_book_entry_id.map(|id| id.to_string()))
        .bind(t.destination_address.as_ref().map(|a| a.network().as_str()))
        .bind(
            t.destination_address
                .as_ref()
                .map(|a| a.as_str().to_owned()),
        )
        .bind(t.provider_ref.as_deref())
        .bind(t.tx_hash.as_deref())
        .bind(t.confirmations.map(|c| i64::from(c.seen)))
        .bind(t.confirmations.map(|c| i64::from(c.required)))
        .bind(t.reference.as_ref().map(|l| l.as_str().to_owned()))
        .bind(t.failure_reason.as_deref())
        .bind(codec::history_json(&t.history)?)
        .bind(big(t.version, "version")?)
        .bind(t.created_at)
        .bind(t.updated_at)
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
        let row = sqlx::query(&format!(
            "SELECT {TRANSACTION} FROM transactions \
             WHERE id = $1 AND environment = $2 AND ($3::text IS NULL OR tenant_id = $3) \
             FOR UPDATE"
        ))
        .bind(id.to_string())
        .bind(self.env())
        .bind(tenant.map(|t| t.to_string()))
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_one(&row, |r| codec::transaction(r))
    }

    async fn lock_deposit_by_provider_ref(
        &mut self,
        provider_ref: &str,
    ) -> Result<Transaction, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TRANSACTION} FROM transactions \
             WHERE environment = $1 AND kind = $2 AND provider_ref = $3 FOR UPDATE"
        ))
        .bind(self.env())
        .bind(names::transaction_kind(
            custody_core::transaction::TransactionKind::Deposit,
        ))
        .bind(provider_ref.to_owned())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_one(&row, |r| codec::transaction(r))
    }

    async fn update_transaction(&mut self, t: &Transaction) -> Result<(), StoreError> {
        let done = sqlx::query(
            // Kind, asset and amount never change after insert: they are not written here.
            "UPDATE transactions SET status = $4, \
             source_wallet_id = $5, destination_wallet_id = $6, deposit_address_id = $7, \
             address_book_entry_id = $8, destination_network = $9, destination_address = $10, \
             provider_ref = $11, tx_hash = $12, confirmations_seen = $13, \
             confirmations_required = $14, reference = $15, failure_reason = $16, \
             history = $17, version = $18, updated_at = $19 \
             WHERE id = $1 AND environment = $2 AND tenant_id = $3 AND version < $18",
        )
        .bind(t.id.to_string())
        .bind(self.env())
        .bind(t.tenant_id.to_string())
        .bind(names::transaction_status(t.status))
        .bind(t.source_wallet_id.map(|id| id.to_string()))
        .bind(t.destination_wallet_id.map(|id| id.to_string()))
        .bind(t.deposit_address_id.map(|id| id.to_string()))
        .bind(t.address_book_entry_id.map(|id| id.to_string()))
        .bind(t.destination_address.as_ref().map(|a| a.network().as_str()))
        .bind(
            t.destination_address
                .as_ref()
                .map(|a| a.as_str().to_owned()),
        )
        .bind(t.provider_ref.as_deref())
        .bind(t.tx_hash.as_deref())
        .bind(t.confirmations.map(|c| i64::from(c.seen)))
        .bind(t.confirmations.map(|c| i64::from(c.required)))
        .bind(t.reference.as_ref().map(|l| l.as_str().to_owned()))
        .bind(t.failure_reason.as_deref())
        .bind(codec::history_json(&t.history)?)
        .bind(big(t.version, "version")?)
        .bind(t.updated_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        self.updated(
            done.rows_affected(),
            "transactions",
            t.id.to_string(),
            t.tenant_id,
        )
        .await
    }

    async fn append_ledger(&mut self, entries: &[LedgerEntry]) -> Result<(), StoreError> {
        for entry in entries {
            let (account_kind, wallet_id, bucket) = codec::account_columns(&entry.posting.account);
            sqlx::query(
                "INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, \
                 wallet_id, bucket, delta, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7::numeric, $8)",
            )
            .bind(self.env())
            .bind(entry.transaction_id.to_string())
            .bind(entry.asset.to_string())
            .bind(account_kind)
            .bind(wallet_id)
            .bind(bucket)
            .bind(entry.posting.delta.to_string())
            .bind(entry.created_at)
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
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(entry.id.to_string())
        .bind(self.env())
        .bind(entry.tenant_id.to_string())
        .bind(entry.address.network().as_str())
        .bind(entry.address.as_str().to_owned())
        .bind(entry.label.as_str().to_owned())
        .bind(entry.asset.map(|a| a.to_string()))
        .bind(names::entry_status(entry.status))
        .bind(big(entry.version, "version")?)
        .bind(entry.created_at)
        .bind(entry.deleted_at)
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
        let row = sqlx::query(&format!(
            "SELECT {ADDRESS_BOOK} FROM address_book_entries \
             WHERE id = $1 AND environment = $2 AND tenant_id = $3 FOR UPDATE"
        ))
        .bind(id.to_string())
        .bind(self.env())
        .bind(tenant.to_string())
        .fetch_one(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        decode_one(&row, |r| codec::address_book_entry(r))
    }

    async fn update_address_book_entry(
        &mut self,
        entry: &AddressBookEntry,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE address_book_entries SET label = $4, asset_id = $5, status = $6, \
             version = $7, deleted_at = $8 \
             WHERE id = $1 AND environment = $2 AND tenant_id = $3 AND version < $7",
        )
        .bind(entry.id.to_string())
        .bind(self.env())
        .bind(entry.tenant_id.to_string())
        .bind(entry.label.as_str().to_owned())
        .bind(entry.asset.map(|a| a.to_string()))
        .bind(names::entry_status(entry.status))
        .bind(big(entry.version, "version")?)
        .bind(entry.deleted_at)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        self.updated(
            done.rows_affected(),
            "address_book_entries",
            entry.id.to_string(),
            entry.tenant_id,
        )
        .await
    }

    async fn append_event(&mut self, event: &Event) -> Result<(), StoreError> {
        // Pending and due at once: `next_attempt_at` starts at the event's creation time.
        sqlx::query(
            "INSERT INTO events (id, environment, tenant_id, event_type, resource_type, \
             resource_id, resource_version, snapshot, previous_attributes, created_at, \
             delivery_state, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending', 0, $10)",
        )
        .bind(event.id.to_string())
        .bind(self.env())
        .bind(event.tenant_id.to_string())
        .bind(event.event_type.as_str())
        .bind(event.data.resource_type)
        .bind(&event.data.resource_id)
        .bind(big(event.data.version, "resource_version")?)
        .bind(&event.data.snapshot)
        .bind(event.previous_attributes.as_ref())
        .bind(event.created_at)
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
            "UPDATE idempotency_records SET state = 'completed', response_status = $4, \
             response_headers = $5, response_body = $6 \
             WHERE environment = $1 AND tenant_id = $2 AND key = $3 AND state = 'in_flight'",
        )
        .bind(self.env())
        .bind(tenant.to_string())
        .bind(key.as_str().to_owned())
        .bind(i32::from(response.status))
        .bind(codec::headers_json(&response.headers))
        .bind(response.body.clone())
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.fail(e))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        if self.aborted {
            // PostgreSQL would answer COMMIT with a rollback and no error; say so instead.
            self.tx.rollback().await.map_err(db_err)?;
            return Err(StoreError::Internal(
                "commit after a failed statement: the transaction was rolled back".into(),
            ));
        }
        self.tx.commit().await.map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minting_lock_keys_are_stable_and_distinct() {
        let vault = VaultId::parse("vlt_01JD0000000000000000000000").unwrap();
        let other = VaultId::parse("vlt_01JD0000000000000000000001").unwrap();
        let usdc = AssetId::parse("USDC_ETHEREUM").unwrap();
        let usdt = AssetId::parse("USDT_ETHEREUM").unwrap();
        let key = minting_lock_key(vault, usdc);
        // Pinned: instances of different builds running side by side must take the same lock.
        // (Python: int.from_bytes(sha256(b"custody:address-minting:vlt_01JD…0:USDC_ETHEREUM")
        // .digest()[:8], "big", signed=True).)
        assert_eq!(key, -2_158_823_733_967_585_881);
        assert_ne!(key, minting_lock_key(vault, usdt));
        assert_ne!(key, minting_lock_key(other, usdc));
    }
}
