//! The per-aggregate read stores, each bound to one environment.

use async_trait::async_trait;
use custody_core::address_book::AddressBookEntry;
use custody_core::deposit_address::DepositAddress;
use custody_core::event::Event;
use custody_core::id::{
    AddressBookEntryId, AddressId, EventId, TenantId, TransactionId, VaultId, WalletId,
};
use custody_core::ledger::LedgerEntry;
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{
    AddressBookStore, AddressFilter, AddressStore, EventStore, StoreError, TransactionFilter,
    TransactionStore, VaultFilter, VaultStore, WalletFilter, WalletStore,
};
use custody_core::text::ExternalRef;
use custody_core::transaction::Transaction;
use custody_core::vault::Vault;
use custody_core::wallet::Wallet;
use custody_sql::{codec, names};
use sqlx::{Postgres, QueryBuilder};

use crate::error::db_err;
use crate::page::{fetch_page, push_page};
use crate::row::{
    decode_all, decode_one, ADDRESS, ADDRESS_BOOK, EVENT, LEDGER, TRANSACTION, VAULT, WALLET,
};
use crate::EnvDb;

/// `SELECT {cols} FROM {table} WHERE environment = $env AND tenant_id = $tenant`, ready for more
/// `AND …` conditions.
fn scoped<'a>(db: &EnvDb, cols: &str, table: &str, tenant: TenantId) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new(format!("SELECT {cols} FROM {table} WHERE environment = "));
    qb.push_bind(db.env());
    qb.push(" AND tenant_id = ").push_bind(tenant.to_string());
    qb
}

/// Vault reads.
pub(crate) struct PgVaultStore(pub(crate) EnvDb);

#[async_trait]
impl VaultStore for PgVaultStore {
    async fn get(&self, tenant: TenantId, id: VaultId) -> Result<Vault, StoreError> {
        let mut qb = scoped(&self.0, VAULT, "vaults", tenant);
        qb.push(" AND id = ").push_bind(id.to_string());
        let row = qb.build().fetch_one(&self.0.pool).await.map_err(db_err)?;
        decode_one(&row, |r| codec::vault(r))
    }

    async fn find_by_external_ref(
        &self,
        tenant: TenantId,
        external_ref: &ExternalRef,
    ) -> Result<Vault, StoreError> {
        let mut qb = scoped(&self.0, VAULT, "vaults", tenant);
        qb.push(" AND external_ref = ")
            .push_bind(external_ref.as_str().to_owned());
        let row = qb.build().fetch_one(&self.0.pool).await.map_err(db_err)?;
        decode_one(&row, |r| codec::vault(r))
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &VaultFilter,
        page: PageRequest,
    ) -> Result<Page<Vault>, StoreError> {
        let mut qb = scoped(&self.0, VAULT, "vaults", tenant);
        if let Some(external_ref) = &filter.external_ref {
            qb.push(" AND external_ref = ")
                .push_bind(external_ref.as_str().to_owned());
        }
        push_page(&mut qb, VaultId::PREFIX, &page);
        fetch_page(qb, &self.0.pool, &page, |r| codec::vault(r)).await
    }
}

/// Wallet reads.
pub(crate) struct PgWalletStore(pub(crate) EnvDb);

#[async_trait]
impl WalletStore for PgWalletStore {
    async fn get(&self, tenant: TenantId, id: WalletId) -> Result<Wallet, StoreError> {
        let mut qb = scoped(&self.0, WALLET, "wallets", tenant);
        qb.push(" AND id = ").push_bind(id.to_string());
        let row = qb.build().fetch_one(&self.0.pool).await.map_err(db_err)?;
        decode_one(&row, |r| codec::wallet(r))
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &WalletFilter,
        page: PageRequest,
    ) -> Result<Page<Wallet>, StoreError> {
        let mut qb = scoped(&self.0, WALLET, "wallets", tenant);
        if let Some(vault) = filter.vault_id {
            qb.push(" AND vault_id = ").push_bind(vault.to_string());
        }
        if let Some(asset) = filter.asset {
            qb.push(" AND asset_id = ").push_bind(asset.to_string());
        }
        push_page(&mut qb, WalletId::PREFIX, &page);
        fetch_page(qb, &self.0.pool, &page, |r| codec::wallet(r)).await
    }
}

/// Deposit address reads.
pub(crate) struct PgAddressStore(pub(crate) EnvDb);

#[async_trait]
impl AddressStore for PgAddressStore {
    async fn get(&self, tenant: TenantId, id: AddressId) -> Result<DepositAddress, StoreError> {
        let mut qb = scoped(&self.0, ADDRESS, "deposit_addresses", tenant);
        qb.push(" AND id = ").push_bind(id.to_string());
        let row = qb.build().fetch_one(&self.0.pool).await.map_err(db_err)?;
        decode_one(&row, |r| codec::deposit_address(r))
    }

    async fn primary_for_wallet(
        &self,
        tenant: TenantId,
        wallet: WalletId,
    ) -> Result<DepositAddress, StoreError> {
        let mut qb = scoped(&self.0, ADDRESS, "deposit_addresses", tenant);
        qb.push(" AND wallet_id = ")
            .push_bind(wallet.to_string())
            .push(" AND is_primary");
        let row = qb.build().fetch_one(&self.0.pool).await.map_err(db_err)?;
        decode_one(&row, |r| codec::deposit_address(r))
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &AddressFilter,
        page: PageRequest,
    ) -> Result<Page<DepositAddress>, StoreError> {
        let mut qb = scoped(&self.0, ADDRESS, "deposit_addresses", tenant);
        if let Some(wallet) = filter.wallet_id {
            qb.push(" AND wallet_id = ").push_bind(wallet.to_string());
        }
        if let Some(vault) = filter.vault_id {
            qb.push(" AND vault_id = ").push_bind(vault.to_string());
        }
        push_page(&mut qb, AddressId::PREFIX, &page);
        fetch_page(qb, &self.0.pool, &page, |r| codec::deposit_address(r)).await
    }
}

/// Transaction and ledger reads.
pub(crate) struct PgTransactionStore(pub(crate) EnvDb);

#[async_trait]
impl TransactionStore for PgTransactionStore {
    async fn get(&self, tenant: TenantId, id: TransactionId) -> Result<Transaction, StoreError> {
        let mut qb = scoped(&self.0, TRANSACTION, "transactions", tenant);
        qb.push(" AND id = ").push_bind(id.to_string());
        let row = qb.build().fetch_one(&self.0.pool).await.map_err(db_err)?;
        decode_one(&row, |r| codec::transaction(r))
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<Transaction>, StoreError> {
        let mut qb = scoped(&self.0, TRANSACTION, "transactions", tenant);
        if let Some(wallet) = filter.wallet_id {
            let wallet = wallet.to_string();
            qb.push(" AND (source_wallet_id = ")
                .push_bind(wallet.clone())
                .push(" OR destination_wallet_id = ")
                .push_bind(wallet)
                .push(")");
        }
        if let Some(kind) = filter.kind {
            qb.push(" AND kind = ")
                .push_bind(names::transaction_kind(kind));
        }
        if let Some(status) = filter.status {
            qb.push(" AND status = ")
                .push_bind(names::transaction_status(status));
        }
        push_page(&mut qb, TransactionId::PREFIX, &page);
        fetch_page(qb, &self.0.pool, &page, |r| codec::transaction(r)).await
    }

    async fn ledger_for_wallet(&self, wallet: WalletId) -> Result<Vec<LedgerEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {LEDGER} FROM ledger_entries WHERE wallet_id = $1 AND environment = $2 \
             ORDER BY seq"
        ))
        .bind(wallet.to_string())
        .bind(self.0.env())
        .fetch_all(&self.0.pool)
        .await
        .map_err(db_err)?;
        decode_all(&rows, |r| codec::ledger_entry(r))
    }

    async fn open_withdrawals(&self, limit: u32) -> Result<Vec<Transaction>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TRANSACTION} FROM transactions \
             WHERE environment = $1 AND kind = 'withdrawal' AND status = ANY($2) \
             ORDER BY id LIMIT $3"
        ))
        .bind(self.0.env())
        .bind(&names::OPEN_WITHDRAWAL_STATUSES[..])
        .bind(i64::from(limit))
        .fetch_all(&self.0.pool)
        .await
        .map_err(db_err)?;
        decode_all(&rows, |r| codec::transaction(r))
    }
}

/// Address book reads.
pub(crate) struct PgAddressBookStore(pub(crate) EnvDb);

#[async_trait]
impl AddressBookStore for PgAddressBookStore {
    async fn get(
        &self,
        tenant: TenantId,
        id: AddressBookEntryId,
    ) -> Result<AddressBookEntry, StoreError> {
        let mut qb = scoped(&self.0, ADDRESS_BOOK, "address_book_entries", tenant);
        qb.push(" AND id = ").push_bind(id.to_string());
        let row = qb.build().fetch_one(&self.0.pool).await.map_err(db_err)?;
        decode_one(&row, |r| codec::address_book_entry(r))
    }

    async fn list(
        &self,
        tenant: TenantId,
        include_deleted: bool,
        page: PageRequest,
    ) -> Result<Page<AddressBookEntry>, StoreError> {
        let mut qb = scoped(&self.0, ADDRESS_BOOK, "address_book_entries", tenant);
        if !include_deleted {
            qb.push(" AND status = ").push_bind(names::entry_status(
                custody_core::address_book::EntryStatus::Active,
            ));
        }
        push_page(&mut qb, AddressBookEntryId::PREFIX, &page);
        fetch_page(qb, &self.0.pool, &page, |r| codec::address_book_entry(r)).await
    }
}

/// The event log.
pub(crate) struct PgEventStore(pub(crate) EnvDb);

#[async_trait]
impl EventStore for PgEventStore {
    async fn list(&self, tenant: TenantId, page: PageRequest) -> Result<Page<Event>, StoreError> {
        let mut qb = scoped(&self.0, EVENT, "events", tenant);
        push_page(&mut qb, EventId::PREFIX, &page);
        fetch_page(qb, &self.0.pool, &page, |r| codec::event(r)).await
    }
}
