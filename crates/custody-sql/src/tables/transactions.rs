//! `transactions`.

use async_trait::async_trait;
use custody_core::chain_address::ChainAddress;
use custody_core::id::{TenantId, TransactionId, WalletId};
use custody_core::ledger::LedgerEntry;
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{
    StoreError, SuspenseResolution, TransactionFilter, TransactionStore, TransactionTx,
    UnattributedDepositTx,
};
use custody_core::text::Label;
use custody_core::transaction::{Transaction as Tx, TransactionKind};
use custody_core::work::{DueTransaction, StuckWithdrawal, UnattributedDeposit, WorkClaim};
use time::OffsetDateTime;

use super::{exists, int, ledger, scoped, Versioned};
use crate::codec::{self, history_json, Columns};
use crate::names;
use crate::page::paged;
use crate::statement::{Lock, Statement, Value};
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

pub const COLUMNS: &str = "id, environment, tenant_id, kind, status, asset_id, \
     CAST(amount AS TEXT) AS amount, source_wallet_id, destination_wallet_id, \
     deposit_address_id, address_book_entry_id, destination_network, destination_address, \
     provider_ref, tx_hash, confirmations_seen, confirmations_required, reference, \
     failure_reason, history, version, created_at, updated_at, reconciliation_reason";

/// The worker's bookkeeping, beside [`COLUMNS`].
pub const WORK: &str = "next_poll_at, lease_until, lease_owner, poll_attempts, reconciliation_at";

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

/// The tenant's transactions matching `filter`, one page. With `filter.vault_id`,
/// `vault_wallets` are that vault's wallets, read first ([`wallets::ids_of_vault`]): the list
/// then filters on them as values, which `transactions_source_idx` and
/// `transactions_destination_idx` answer. (Written as a sub-select, PostgreSQL could not
/// estimate it and walked the tenant's transactions in id order instead: 26 requests/s at 10⁶
/// addresses.) No wallet at all matches nothing.
///
/// [`wallets::ids_of_vault`]: super::wallets::ids_of_vault
pub fn list(
    tenant: TenantId,
    filter: &TransactionFilter,
    vault_wallets: Option<&[WalletId]>,
    page: &PageRequest,
) -> Statement {
    let mut stmt = scoped(COLUMNS, "transactions", tenant);
    if let Some(wallet) = filter.wallet_id {
        stmt = stmt
            .push(" AND (source_wallet_id = :wallet OR destination_wallet_id = :wallet)")
            .bind("wallet", wallet.to_string());
    }
    if filter.vault_id.is_some() {
        stmt = stmt
            .push(
                " AND (source_wallet_id IN (:vault_wallets) \
                 OR destination_wallet_id IN (:vault_wallets))",
            )
            .bind_list(
                "vault_wallets",
                vault_wallets
                    .unwrap_or_default()
                    .iter()
                    .map(ToString::to_string),
            );
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

/// Leases due, unleased, open transactions of the claim's kinds (see
/// [`TransactionTx::claim_due`]). `COALESCE(next_poll_at, created_at)` is when a row is due:
/// a transaction never polled has been due since it was created, so it sorts among the
/// overdue ones by age instead of behind every in-flight one.
pub fn claim_due(claim: &WorkClaim) -> Statement {
    Statement::new(
        "WITH due AS ( \
             SELECT id FROM transactions \
             WHERE environment = :environment AND kind IN (:kinds) AND status IN (:statuses) \
               AND COALESCE(next_poll_at, created_at) <= :now \
               AND (lease_until IS NULL OR lease_until <= :now) \
             ORDER BY COALESCE(next_poll_at, created_at), id LIMIT :limit{lock}) \
         UPDATE transactions SET lease_until = :lease_until, lease_owner = :owner \
         WHERE environment = :environment AND id IN (SELECT id FROM due) \
         RETURNING id, kind, status, provider_ref, reconciliation_reason, poll_attempts, \
         COALESCE(next_poll_at, created_at) AS due_at",
    )
    .bind_list(
        "kinds",
        claim.kinds.iter().map(|k| names::transaction_kind(*k)),
    )
    .bind_list("statuses", names::OPEN_WITHDRAWAL_STATUSES)
    .bind("now", claim.now)
    .bind("limit", i64::from(claim.limit))
    .bind("lease_until", claim.lease_until)
    .bind("owner", claim.owner.as_str())
    .lock(Lock::UpdateSkipLocked)
}

/// Ends `owner`'s lease and schedules the next attempt.
pub fn release_lease(
    id: TransactionId,
    owner: &str,
    next_poll_at: OffsetDateTime,
    poll_attempts: u32,
) -> Statement {
    Statement::new(
        "UPDATE transactions SET lease_until = NULL, lease_owner = NULL, \
         next_poll_at = :next_poll_at, poll_attempts = :poll_attempts \
         WHERE environment = :environment AND id = :id AND lease_owner = :owner",
    )
    .bind("id", id.to_string())
    .bind("owner", owner)
    .bind("next_poll_at", next_poll_at)
    .bind("poll_attempts", i64::from(poll_attempts))
}

/// Flags for reconciliation, keeping the first reason and time.
pub fn flag_for_reconciliation(id: TransactionId, reason: &str, at: OffsetDateTime) -> Statement {
    Statement::new(
        "UPDATE transactions SET \
         reconciliation_reason = COALESCE(reconciliation_reason, :reason), \
         reconciliation_at = COALESCE(reconciliation_at, :at) \
         WHERE environment = :environment AND id = :id",
    )
    .bind("id", id.to_string())
    .bind("reason", reason)
    .bind("at", at)
}

/// Open withdrawals flagged for reconciliation or unchanged since before `unchanged_since`.
pub fn stuck_withdrawals(unchanged_since: OffsetDateTime, limit: u32) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS}, {WORK} FROM transactions WHERE environment = :environment \
         AND kind = :kind AND status IN (:statuses) \
         AND (reconciliation_reason IS NOT NULL OR updated_at < :since) \
         ORDER BY id LIMIT :limit"
    ))
    .bind("kind", names::transaction_kind(TransactionKind::Withdrawal))
    .bind_list("statuses", names::OPEN_WITHDRAWAL_STATUSES)
    .bind("since", unchanged_since)
    .bind("limit", i64::from(limit))
}

/// Open withdrawals per status (every tenant): how many, how many flagged, and the oldest
/// last change.
pub fn withdrawal_queue() -> Statement {
    Statement::new(
        "SELECT status, COUNT(*) AS count, \
         COUNT(CASE WHEN reconciliation_reason IS NOT NULL THEN 1 END) AS flagged, \
         MIN(updated_at) AS oldest_change FROM transactions \
         WHERE environment = :environment AND kind = :kind AND status IN (:statuses) \
         GROUP BY status",
    )
    .bind("kind", names::transaction_kind(TransactionKind::Withdrawal))
    .bind_list("statuses", names::OPEN_WITHDRAWAL_STATUSES)
}

pub const UNATTRIBUTED: &str = "provider_ref, tenant_id, vault_id, deposit_address_id, asset_id, \
     CAST(amount AS TEXT) AS amount, network, address, tx_hash, status, confirmations_seen, \
     confirmations_required, reason, first_seen_at, last_seen_at, report, state, transaction_id, \
     resolution";

/// Records an unattributed deposit, or updates the provider's latest report of it.
pub fn record_unattributed(d: &UnattributedDeposit) -> Statement {
    Statement::new(
        "INSERT INTO unattributed_deposits (environment, provider_ref, tenant_id, vault_id, \
         deposit_address_id, asset_id, amount, network, address, tx_hash, status, \
         confirmations_seen, confirmations_required, reason, first_seen_at, last_seen_at, \
         report) \
         VALUES (:environment, :provider_ref, :tenant, :vault, :deposit_address, :asset, \
         :amount, :network, :address, :tx_hash, :status, :confirmations_seen, \
         :confirmations_required, :reason, :first_seen_at, :last_seen_at, :report) \
         ON CONFLICT (environment, provider_ref) DO UPDATE SET \
         status = excluded.status, tx_hash = COALESCE(excluded.tx_hash, unattributed_deposits.tx_hash), \
         confirmations_seen = excluded.confirmations_seen, \
         confirmations_required = excluded.confirmations_required, \
         last_seen_at = excluded.last_seen_at, \
         report = COALESCE(excluded.report, unattributed_deposits.report)",
    )
    .bind("provider_ref", d.provider_ref.as_str())
    .bind("tenant", d.tenant_id.map(|t| t.to_string()))
    .bind("vault", d.vault_id.map(|v| v.to_string()))
    .bind("deposit_address", d.deposit_address_id.map(|a| a.to_string()))
    .bind("asset", d.asset.to_string())
    .bind("amount", Value::decimal(d.amount.base_units()))
    .bind("network", d.address.network().as_str())
    .bind("address", d.address.as_str())
    .bind("tx_hash", d.tx_hash.as_deref())
    .bind("status", names::transaction_status(d.status))
    .bind("confirmations_seen", d.confirmations.map(|c| i64::from(c.seen)))
    .bind(
        "confirmations_required",
        d.confirmations.map(|c| i64::from(c.required)),
    )
    .bind("reason", d.reason.as_str())
    .bind("first_seen_at", d.first_seen_at)
    .bind("last_seen_at", d.last_seen_at)
    .bind("report", json_text(&d.report))
}

/// JSON as stored (text), `NULL` for `Null`.
fn json_text(value: &serde_json::Value) -> Option<String> {
    (!value.is_null()).then(|| value.to_string())
}

/// The suspense list: the open records (or every one with `all`), first seen first.
pub fn unattributed(all: bool, limit: u32) -> Statement {
    let state = if all { "" } else { "AND state = 'open' " };
    Statement::new(format!(
        "SELECT {UNATTRIBUTED} FROM unattributed_deposits WHERE environment = :environment \
         {state}ORDER BY first_seen_at, provider_ref LIMIT :limit"
    ))
    .bind("limit", i64::from(limit))
}

/// One suspense record by its provider reference (lock it with [`Statement::lock`]).
pub fn unattributed_by_ref(provider_ref: &str) -> Statement {
    Statement::new(format!(
        "SELECT {UNATTRIBUTED} FROM unattributed_deposits WHERE environment = :environment \
         AND provider_ref = :provider_ref"
    ))
    .bind("provider_ref", provider_ref)
}

/// An operator's resolution of an open suspense record.
pub fn resolve_unattributed(provider_ref: &str, r: &SuspenseResolution) -> Statement {
    Statement::new(
        "UPDATE unattributed_deposits SET state = :state, transaction_id = :transaction, \
         resolution = :resolution, resolved_at = :at \
         WHERE environment = :environment AND provider_ref = :provider_ref AND state = 'open'",
    )
    .bind("provider_ref", provider_ref)
    .bind("state", r.state.as_str())
    .bind("transaction", r.transaction_id.map(|t| t.to_string()))
    .bind("resolution", json_text(&r.audit))
    .bind("at", r.at)
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

    async fn claim_due(&mut self, claim: &WorkClaim) -> Result<Vec<DueTransaction>, StoreError> {
        let rows = self.rows(claim_due(claim)).await?;
        let mut due = rows
            .iter()
            .map(|r| Ok((r.time("due_at")?, codec::due_transaction(r)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        // RETURNING does not promise an order; most overdue first is the contract.
        due.sort_by_key(|(at, d)| (*at, d.id));
        Ok(due.into_iter().map(|(_, d)| d).collect())
    }

    async fn release_lease(
        &mut self,
        id: TransactionId,
        owner: &str,
        next_poll_at: OffsetDateTime,
        poll_attempts: u32,
    ) -> Result<bool, StoreError> {
        let changed = self
            .changed(release_lease(id, owner, next_poll_at, poll_attempts))
            .await?;
        Ok(changed > 0)
    }

    async fn flag_for_reconciliation(
        &mut self,
        id: TransactionId,
        reason: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if self
            .changed(flag_for_reconciliation(id, reason, at))
            .await?
            == 0
        {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl<T: Transaction> UnattributedDepositTx for SqlTx<T> {
    async fn record_unattributed_deposit(
        &mut self,
        deposit: &UnattributedDeposit,
    ) -> Result<(), StoreError> {
        self.execute(record_unattributed(deposit)).await
    }

    async fn lock_unattributed_deposit(
        &mut self,
        provider_ref: &str,
    ) -> Result<UnattributedDeposit, StoreError> {
        let stmt = unattributed_by_ref(provider_ref).lock(Lock::Update);
        self.one(stmt, codec::unattributed_deposit).await
    }

    async fn resolve_unattributed_deposit(
        &mut self,
        provider_ref: &str,
        resolution: &SuspenseResolution,
    ) -> Result<(), StoreError> {
        match self
            .changed(resolve_unattributed(provider_ref, resolution))
            .await?
        {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl<D: Database> TransactionStore for EnvStore<D> {
    async fn get(&self, tenant: TenantId, id: TransactionId) -> Result<Tx, StoreError> {
        let read = super::read_by_id!(COLUMNS, "transactions", codec::transaction);
        self.1
            .transactions
            .get(&self.0, read, tenant, id.to_string())
            .await
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &TransactionFilter,
        page: PageRequest,
    ) -> Result<Page<Tx>, StoreError> {
        let vault_wallets = match filter.vault_id {
            Some(vault) => Some(
                store::all(
                    &self.0,
                    super::wallets::ids_of_vault(tenant, vault),
                    |row| codec::id::<WalletId>(row, "id"),
                )
                .await?,
            ),
            None => None,
        };
        let stmt = list(tenant, filter, vault_wallets.as_deref(), &page);
        store::page(&self.0, stmt, &page, codec::transaction).await
    }

    async fn ledger_for_wallet(&self, wallet: WalletId) -> Result<Vec<LedgerEntry>, StoreError> {
        store::all(&self.0, ledger::of_wallet(wallet), codec::ledger_entry).await
    }

    async fn open_withdrawals(&self, limit: u32) -> Result<Vec<Tx>, StoreError> {
        store::all(&self.0, open_withdrawals(limit), codec::transaction).await
    }

    async fn stuck_withdrawals(
        &self,
        unchanged_since: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<StuckWithdrawal>, StoreError> {
        let stmt = stuck_withdrawals(unchanged_since, limit);
        store::all(&self.0, stmt, codec::stuck_withdrawal).await
    }

    async fn unattributed_deposits(
        &self,
        all: bool,
        limit: u32,
    ) -> Result<Vec<UnattributedDeposit>, StoreError> {
        store::all(
            &self.0,
            unattributed(all, limit),
            codec::unattributed_deposit,
        )
        .await
    }

    async fn withdrawal_queue(
        &self,
    ) -> Result<Vec<custody_core::work::WithdrawalQueue>, StoreError> {
        let mut queue = store::all(&self.0, withdrawal_queue(), codec::withdrawal_queue).await?;
        queue.sort_by_key(|q| q.status);
        Ok(queue)
    }
}
