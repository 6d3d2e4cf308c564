//! The reads of `custody admin reconcile` ([`ReconcileStore`]), over `wallets`,
//! `ledger_entries`, `transactions`, `unattributed_deposits` and `asset_totals`, all in one
//! read snapshot.
//!
//! **Exact sums, in SQL, on both databases**: every sum of deltas is the dialect's exact,
//! signed sum ([`crate::exact_sum`]: `numeric` on PostgreSQL, signed 64-bit sums of parts of
//! the text on SQLite), read back here with checked arithmetic. Parts can be non-zero while
//! their total is zero (carries), so the "does not add up" queries keep a group when any part
//! is non-zero and the exact total is checked here.

use async_trait::async_trait;
use custody_core::id::TenantId;
use custody_core::ports::{
    AssetTotal, InFlightItem, LedgerSnapshot, LedgerSum, ReconcileStore, StoreError,
    TransactionResidue, WalletSums,
};
use custody_core::wallet::Balances;

use crate::codec::{amount, Columns};
use crate::exact_sum;
use crate::names;
use crate::statement::Statement;
use crate::store::{Database, EnvStore, Transaction};

fn tenant_filter(stmt: Statement, tenant: Option<TenantId>) -> Statement {
    stmt.bind("tenant", tenant.map(|t| t.to_string()))
}

/// Every wallet's balance row.
pub fn wallets(tenant: Option<TenantId>) -> Statement {
    tenant_filter(
        Statement::new(
            "SELECT id, tenant_id, asset_id, CAST(available AS TEXT) AS available, \
             CAST(pending AS TEXT) AS pending, CAST(held AS TEXT) AS held FROM wallets \
             WHERE environment = :environment AND (:tenant IS NULL OR tenant_id = :tenant) \
             ORDER BY id",
        ),
        tenant,
    )
}

/// Each wallet's entries summed per (asset, bucket).
pub fn wallet_sums(tenant: Option<TenantId>) -> Statement {
    tenant_filter(
        Statement::new(
            "SELECT le.wallet_id, le.asset_id, le.bucket, {exact_sum} \
             FROM ledger_entries le JOIN wallets w ON w.id = le.wallet_id \
             AND w.environment = le.environment \
             WHERE le.environment = :environment AND le.account_kind = 'wallet' \
             AND (:tenant IS NULL OR w.tenant_id = :tenant) \
             GROUP BY le.wallet_id, le.asset_id, le.bucket \
             ORDER BY le.wallet_id, le.asset_id, le.bucket",
        )
        .exact_sum("le.delta"),
        tenant,
    )
}

/// Transactions (per asset) whose postings, all accounts included, may not sum to zero.
pub fn unbalanced(tenant: Option<TenantId>) -> Statement {
    tenant_filter(
        Statement::new(format!(
            "SELECT * FROM (SELECT le.transaction_id, le.asset_id, t.tenant_id, t.kind, \
             t.status, NULL AS bucket, {{exact_sum}} \
             FROM ledger_entries le JOIN transactions t ON t.id = le.transaction_id \
             AND t.environment = le.environment \
             WHERE le.environment = :environment AND (:tenant IS NULL OR t.tenant_id = :tenant) \
             GROUP BY le.transaction_id, le.asset_id, t.tenant_id, t.kind, t.status) g \
             WHERE {} ORDER BY transaction_id",
            exact_sum::may_be_non_zero()
        ))
        .exact_sum("le.delta"),
        tenant,
    )
}

/// Final transactions whose postings to a `pending` or `held` bucket may not sum to zero.
pub fn final_residues(tenant: Option<TenantId>) -> Statement {
    tenant_filter(
        Statement::new(format!(
            "SELECT * FROM (SELECT le.transaction_id, le.asset_id, t.tenant_id, t.kind, \
             t.status, le.bucket, {{exact_sum}} \
             FROM ledger_entries le JOIN transactions t ON t.id = le.transaction_id \
             AND t.environment = le.environment \
             WHERE le.environment = :environment AND le.account_kind = 'wallet' \
             AND le.bucket IN ('pending', 'held') \
             AND t.status IN ('completed', 'failed', 'cancelled') \
             AND (:tenant IS NULL OR t.tenant_id = :tenant) \
             GROUP BY le.transaction_id, le.asset_id, t.tenant_id, t.kind, t.status, le.bucket) g \
             WHERE {} ORDER BY transaction_id, bucket",
            exact_sum::may_be_non_zero()
        ))
        .exact_sum("le.delta"),
        tenant,
    )
}

/// Open withdrawals already handed to the provider.
pub fn handed_over(tenant: Option<TenantId>) -> Statement {
    tenant_filter(
        Statement::new(
            "SELECT id AS reference, asset_id, CAST(amount AS TEXT) AS amount, status \
             FROM transactions WHERE environment = :environment AND kind = 'withdrawal' \
             AND status IN ('pending_signature', 'broadcasting', 'confirming') \
             AND (:tenant IS NULL OR tenant_id = :tenant) ORDER BY id",
        ),
        tenant,
    )
}

/// Deposits in suspense (recorded, credited to no wallet), not failed, still open: an assigned
/// one is in the ledger now, a returned one has left the provider.
pub fn suspense(tenant: Option<TenantId>) -> Statement {
    tenant_filter(
        Statement::new(
            "SELECT provider_ref AS reference, asset_id, CAST(amount AS TEXT) AS amount, status \
             FROM unattributed_deposits WHERE environment = :environment \
             AND status <> 'failed' AND state = 'open' \
             AND (:tenant IS NULL OR tenant_id = :tenant) ORDER BY provider_ref",
        ),
        tenant,
    )
}

fn corrupt(what: std::fmt::Arguments<'_>) -> StoreError {
    StoreError::Internal(what.to_string().into())
}

fn parsed<T>(col: &str, raw: &str, value: Option<T>) -> Result<T, StoreError> {
    value.ok_or_else(|| corrupt(format_args!("{col}: unreadable value `{raw}`")))
}

fn text_as<T: std::str::FromStr>(row: &impl Columns, col: &str) -> Result<T, StoreError> {
    let raw = row.text(col)?;
    let value = raw.parse().ok();
    parsed(col, &raw, value)
}

/// The exact total of a row's sum ([`crate::exact_sum`]).
///
/// # Errors
/// `Internal` beyond 128 bits.
pub fn sum_total(row: &impl Columns) -> Result<i128, StoreError> {
    exact_sum::read(row)?
        .and_then(exact_sum::ExactSum::to_i128)
        .ok_or_else(|| corrupt(format_args!("a ledger sum exceeds 128 bits")))
}

fn residue(row: &impl Columns) -> Result<TransactionResidue, StoreError> {
    let kind = row.text("kind")?;
    let status = row.text("status")?;
    let bucket = row.opt_text("bucket")?;
    Ok(TransactionResidue {
        transaction_id: text_as(row, "transaction_id")?,
        tenant_id: text_as(row, "tenant_id")?,
        kind: parsed("kind", &kind, names::parse_transaction_kind(&kind))?,
        status: parsed("status", &status, names::parse_transaction_status(&status))?,
        asset: text_as(row, "asset_id")?,
        bucket: match bucket {
            Some(raw) => Some(parsed("bucket", &raw, names::parse_bucket(&raw))?),
            None => None,
        },
        sum: sum_total(row)?,
    })
}

fn in_flight(row: &impl Columns) -> Result<InFlightItem, StoreError> {
    let status = row.text("status")?;
    Ok(InFlightItem {
        reference: row.text("reference")?,
        asset: text_as(row, "asset_id")?,
        amount: amount(row, "amount")?,
        status: parsed("status", &status, names::parse_transaction_status(&status))?,
    })
}

async fn decode<T: Transaction, V>(
    tx: &mut T,
    stmt: Statement,
    decode: impl Fn(&T::Row) -> Result<V, StoreError>,
) -> Result<Vec<V>, StoreError> {
    tx.fetch_all(stmt).await?.iter().map(decode).collect()
}

async fn read_all<T: Transaction>(
    tx: &mut T,
    tenant: Option<TenantId>,
) -> Result<LedgerSnapshot, StoreError> {
    let mut wallets = decode(tx, wallets(tenant), |row| {
        Ok(WalletSums {
            wallet_id: text_as(row, "id")?,
            tenant_id: text_as(row, "tenant_id")?,
            asset: text_as(row, "asset_id")?,
            balances: Balances {
                available: amount(row, "available")?,
                pending: amount(row, "pending")?,
                held: amount(row, "held")?,
            },
            ledger: Vec::new(),
        })
    })
    .await?;
    let sums = decode(tx, wallet_sums(tenant), |row| {
        let bucket = row.text("bucket")?;
        Ok((
            text_as::<custody_core::id::WalletId>(row, "wallet_id")?,
            LedgerSum {
                asset: text_as(row, "asset_id")?,
                bucket: parsed("bucket", &bucket, names::parse_bucket(&bucket))?,
                sum: sum_total(row)?,
            },
        ))
    })
    .await?;
    for (wallet_id, sum) in sums {
        // Both lists are in wallet id order; the foreign key guarantees the wallet exists.
        let at = wallets
            .binary_search_by(|w| w.wallet_id.cmp(&wallet_id))
            .map_err(|_| corrupt(format_args!("ledger entries of unknown wallet {wallet_id}")))?;
        wallets[at].ledger.push(sum);
    }
    let totals = decode(tx, super::asset_totals::all(tenant), |row| {
        Ok(AssetTotal {
            tenant_id: text_as(row, "tenant_id")?,
            asset: text_as(row, "asset_id")?,
            total: super::asset_totals::signed_total(row)?,
        })
    })
    .await?;
    let unbalanced = decode(tx, unbalanced(tenant), residue).await?;
    let final_residues = decode(tx, final_residues(tenant), residue).await?;
    Ok(LedgerSnapshot {
        wallets,
        totals,
        unbalanced: unbalanced.into_iter().filter(|r| r.sum != 0).collect(),
        final_residues: final_residues.into_iter().filter(|r| r.sum != 0).collect(),
        handed_over: decode(tx, handed_over(tenant), in_flight).await?,
        suspense: decode(tx, suspense(tenant), in_flight).await?,
    })
}

#[async_trait]
impl<D: Database> ReconcileStore for EnvStore<D> {
    async fn ledger_snapshot(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<LedgerSnapshot, StoreError> {
        let mut tx = self.0.begin_snapshot().await?;
        let read = read_all(&mut tx, tenant).await;
        // Read-only: nothing to commit either way.
        let ended = tx.rollback().await;
        let snapshot = read?;
        ended?;
        Ok(snapshot)
    }

    async fn rebuild_totals(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Vec<custody_core::ports::TotalRebuilt>, StoreError> {
        self.rebuild_asset_totals(tenant).await
    }
}
