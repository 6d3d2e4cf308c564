//! `transactions`.

use async_trait::async_trait;
use custody_core::chain_address::ChainAddress;
use custody_core::id::{TenantId, TransactionId, WalletId};
use custody_core::ledger::LedgerEntry;
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{StoreError, TransactionFilter, TransactionStore, TransactionTx};
use custody_core::text::Label;
use custody_core::transaction::{Transaction as Tx, TransactionKind};

use super::{by_id, exists, int, ledger, scoped, Versioned};
use crate::codec::{self, history_json};
use crate::names;
use crate::page::paged;
use crate::statement::{Lock, Statement, Value};
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

pub const COLUMNS: &str = "id, environment, tenant_id, kind, status, asset_id, \
     CAST(amount AS TEXT) AS amount, source_wallet_id, destination_wallet_id, \
     deposit_address_id, address_book_entry_id, destination_network, destination_address, \
     provider_ref, tx_hash, confirmations_seen, confirmations_required, reference, \
     failure_reason, history, version, created_at, updated_at";

pub fn get(tenant: TenantId, id: TransactionId) -> Statement {
    by_id(COLUMNS, "transactions", tenant, id.to_string())
}

/// One transaction by id; of that tenant only when one is named (workers name none).
pub fn of(tenant: Option<TenantId>, id: TransactionId) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM transactions WHERE environment = :environment AND id = :id"
    ))
    .bind("id", id.to_string())
    .filter("tenant_id", "tenant", tenant.map(|t| t.to_string()))
}

/// The deposit recorded for a provider reference.
pub fn deposit_by_provider_ref(provider_ref: &str) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM transactions WHERE environment = :environment \
         AND kind = :kind AND provider_ref = :provider_ref"
    ))
    .bind("kind", names::transaction_kind(TransactionKind::Deposit))
    .bind("provider_ref", provider_ref)
}

pub fn list(tenant: TenantId, filter: &TransactionFilter, page: &PageRequest) -> Statement {
    let mut stmt = scoped(COLUMNS, "transactions", tenant);
    if let Some(wallet) = filter.wallet_id {
        stmt = stmt
            .push(" AND (source_wallet_id = :wallet OR destination_wallet_id = :wallet)")
            .bind("wallet", wallet.to_string());
    }
    let stmt = stmt
        .filter("kind", "kind", filter.kind.map(names::transaction_kind))
        .filter(
            "status",
            "status",
            filter.status.map(names::transaction_status),
        );
    paged(stmt, TransactionId::PREFIX, page)
}

/// Withdrawals not yet in a terminal status, oldest first, of every tenant.
pub fn open_withdrawals(limit: u32) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM transactions WHERE environment = :environment \
         AND kind = :kind AND status IN (:statuses) ORDER BY id LIMIT :limit"
    ))
    .bind("kind", names::transaction_kind(TransactionKind::Withdrawal))
    .bind_list("statuses", names::OPEN_WITHDRAWAL_STATUSES)
    .bind("limit", i64::from(limit))
}

/// # Errors
/// `Internal` for a version beyond a bigint or a history time beyond year 9999.
pub fn insert(t: &Tx) -> Result<Statement, StoreError> {
    let insert = Statement::new(
        "INSERT INTO transactions (id, environment, tenant_id, kind, status, asset_id, amount, \
         source_wallet_id, destination_wallet_id, deposit_address_id, address_book_entry_id, \
         destination_network, destination_address, provider_ref, tx_hash, confirmations_seen, \
         confirmations_required, reference, failure_reason, history, version, created_at, \
         updated_at) \
         VALUES (:id, :environment, :tenant, :kind, :status, :asset, :amount, :source_wallet, \
         :destination_wallet, :deposit_address, :address_book_entry, :destination_network, \
         :destination_address, :provider_ref, :tx_hash, :confirmations_seen, \
         :confirmations_required, :reference, :failure_reason, :history, :version, \
         :created_at, :updated_at)",
    )
    .bind("kind", names::transaction_kind(t.kind))
    .bind("asset", t.asset.to_string())
    .bind("amount", Value::decimal(t.amount.base_units()))
    .bind("created_at", t.created_at);
    changes(insert, t)
}

/// Saves everything but kind, asset and amount, which never change after the insert.
///
/// # Errors
/// As [`insert`].
pub fn update(t: &Tx) -> Result<Versioned, StoreError> {
    let update = Statement::new(
        "UPDATE transactions SET status = :status, source_wallet_id = :source_wallet, \
         destination_wallet_id = :destination_wallet, deposit_address_id = :deposit_address, \
         address_book_entry_id = :address_book_entry, \
         destination_network = :destination_network, \
         destination_address = :destination_address, provider_ref = :provider_ref, \
         tx_hash = :tx_hash, confirmations_seen = :confirmations_seen, \
         confirmations_required = :confirmations_required, reference = :reference, \
         failure_reason = :failure_reason, history = :history, version = :version, \
         updated_at = :updated_at \
         WHERE id = :id AND environment = :environment AND tenant_id = :tenant \
         AND version < :version",
    );
    Ok(Versioned {
        update: changes(update, t)?,
        exists: exists("transactions", t.tenant_id, t.id.to_string()),
    })
}

fn changes(stmt: Statement, t: &Tx) -> Result<Statement, StoreError> {
    let destination = t.destination_address.as_ref();
    Ok(stmt
        .bind("id", t.id.to_string())
        .bind("tenant", t.tenant_id.to_string())
        .bind("status", names::transaction_status(t.status))
        .bind("source_wallet", t.source_wallet_id.map(|id| id.to_string()))
        .bind(
            "destination_wallet",
            t.destination_wallet_id.map(|id| id.to_string()),
        )
        .bind(
            "deposit_address",
            t.deposit_address_id.map(|id| id.to_string()),
        )
        .bind(
            "address_book_entry",
            t.address_book_entry_id.map(|id| id.to_string()),
        )
        .bind(
            "destination_network",
            destination.map(|a| a.network().as_str()),
        )
        .bind("destination_address", destination.map(ChainAddress::as_str))
        .bind("provider_ref", t.provider_ref.as_deref())
        .bind("tx_hash", t.tx_hash.as_deref())
        .bind(
            "confirmations_seen",
            t.confirmations.map(|c| i64::from(c.seen)),
        )
        .bind(
            "confirmations_required",
            t.confirmations.map(|c| i64::from(c.required)),
        )
        .bind("reference", t.reference.as_ref().map(Label::as_str))
        .bind("failure_reason", t.failure_reason.as_deref())
        .bind("history", history_json(&t.history)?)
        .bind("version", int(t.version, "version")?)
        .bind("updated_at", t.updated_at))
}

#[async_trait]
impl<T: Transaction> TransactionTx for SqlTx<T> {
    async fn insert_transaction(&mut self, transaction: &Tx) -> Result<(), StoreError> {
        self.execute(insert(transaction)?).await
    }

    async fn lock_transaction(
        &mut self,
        tenant: Option<TenantId>,
        id: TransactionId,
    ) -> Result<Tx, StoreError> {
        self.one(of(tenant, id).lock(Lock::Update), codec::transaction)
            .await
    }

    async fn lock_deposit_by_provider_ref(&mut self, provider_ref: &str) -> Result<Tx, StoreError> {
        let stmt = deposit_by_provider_ref(provider_ref).lock(Lock::Update);
        self.one(stmt, codec::transaction).await
    }

    async fn update_transaction(&mut self, transaction: &Tx) -> Result<(), StoreError> {
        self.versioned(update(transaction)?).await
    }
}

#[async_trait]
impl<D: Database> TransactionStore for EnvStore<D> {
    async fn get(&self, tenant: TenantId, id: TransactionId) -> Result<Tx, StoreError> {
        store::one(&self.0, get(tenant, id), codec::transaction).await
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<Tx>, StoreError> {
        let stmt = list(tenant, filter, &page);
        store::page(&self.0, stmt, &page, codec::transaction).await
    }

    async fn ledger_for_wallet(&self, wallet: WalletId) -> Result<Vec<LedgerEntry>, StoreError> {
        store::all(&self.0, ledger::of_wallet(wallet), codec::ledger_entry).await
    }

    async fn open_withdrawals(&self, limit: u32) -> Result<Vec<Tx>, StoreError> {
        store::all(&self.0, open_withdrawals(limit), codec::transaction).await
    }
}
