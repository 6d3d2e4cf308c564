//! The reads of `custody admin reconcile` ([`ReconcileStore`]), over `wallets`,
//! `ledger_entries`, `transactions` and `unattributed_deposits`, all in one read snapshot.
//!
//! **Exact sums, in SQL, on both databases.** PostgreSQL stores deltas as `numeric(39, 0)` but
//! SQLite as text (up to 39 digits), and SQLite's `SUM` over text goes through floating point.
//! So every delta is split into five 9-digit limbs of its zero-padded magnitude, each limb
//! signed and summed as a 64-bit integer (exact in both databases: a limb is below 10^9, so
//! 9 × 10^9 entries per group could not overflow), and the limbs are recombined here with
//! checked 128-bit arithmetic. The same text runs on both databases: `CAST`, `substr` with
//! positive positions, `length` and `||` mean the same in each.
//!
//! A sum of limbs can be non-zero while the recombined total is zero (carries), so the
//! "does not add up" queries keep a group when any limb sum is non-zero and the exact total is
//! checked here.

use async_trait::async_trait;
use custody_core::id::TenantId;
use custody_core::ports::{
    InFlightItem, LedgerSnapshot, LedgerSum, ReconcileStore, StoreError, TransactionResidue,
    WalletSums,
};
use custody_core::wallet::Balances;

use crate::codec::{amount, Columns};
use crate::names;
use crate::statement::Statement;
use crate::store::{Database, EnvStore, Transaction};

/// Digits per limb, and limbs per delta (45 digits cover the 39 a delta may have).
const LIMB_DIGITS: usize = 9;
const LIMBS: usize = 5;

/// The limbs' select list: `l0` (most significant) … `l4`, each an exact signed 64-bit sum.
fn limb_columns() -> String {
    (0..LIMBS)
        .map(|k| {
            format!(
                "CAST(SUM(sign * CAST(substr(padded, {}, {LIMB_DIGITS}) AS BIGINT)) AS BIGINT) AS l{k}",
                1 + k * LIMB_DIGITS
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `WITH … limbs AS (…)`: one row per ledger entry of `source` (a `FROM … WHERE …` over
/// `ledger_entries le`, keeping `carried` columns), with its sign and zero-padded magnitude.
fn limbs_cte(carried: &str, source: &str) -> String {
    let zeros = "0".repeat(LIMB_DIGITS * LIMBS);
    format!(
        "WITH signed AS (SELECT {carried}, CAST(le.delta AS TEXT) AS d {source}), \
         parts AS (SELECT signed.*, \
           CASE WHEN substr(d, 1, 1) = '-' THEN -1 ELSE 1 END AS sign, \
           CASE WHEN substr(d, 1, 1) = '-' THEN substr(d, 2) ELSE d END AS magnitude \
           FROM signed), \
         limbs AS (SELECT parts.*, \
           substr('{zeros}' || magnitude, length(magnitude) + 1) AS padded FROM parts)"
    )
}

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
    let cte = limbs_cte(
        "le.wallet_id, le.asset_id, le.bucket",
        "FROM ledger_entries le JOIN wallets w ON w.id = le.wallet_id \
         AND w.environment = le.environment \
         WHERE le.environment = :environment AND le.account_kind = 'wallet' \
         AND (:tenant IS NULL OR w.tenant_id = :tenant)",
    );
    tenant_filter(
        Statement::new(format!(
            "{cte} SELECT wallet_id, asset_id, bucket, {} FROM limbs \
             GROUP BY wallet_id, asset_id, bucket ORDER BY wallet_id, asset_id, bucket",
            limb_columns()
        )),
        tenant,
    )
}

fn any_limb_non_zero() -> String {
    (0..LIMBS)
        .map(|k| format!("l{k} <> 0"))
        .collect::<Vec<_>>()
        .join(" OR ")
}

/// Transactions (per asset) whose postings, all accounts included, may not sum to zero.
pub fn unbalanced(tenant: Option<TenantId>) -> Statement {
    let cte = limbs_cte(
        "le.transaction_id, le.asset_id, t.tenant_id, t.kind, t.status",
        "FROM ledger_entries le JOIN transactions t ON t.id = le.transaction_id \
         AND t.environment = le.environment \
         WHERE le.environment = :environment AND (:tenant IS NULL OR t.tenant_id = :tenant)",
    );
    tenant_filter(
        Statement::new(format!(
            "{cte} SELECT * FROM (SELECT transaction_id, asset_id, tenant_id, kind, status, \
             NULL AS bucket, {} FROM limbs \
             GROUP BY transaction_id, asset_id, tenant_id, kind, status) g \
             WHERE {} ORDER BY transaction_id",
            limb_columns(),
            any_limb_non_zero()
        )),
        tenant,
    )
}

/// Final transactions whose postings to a `pending` or `held` bucket may not sum to zero.
pub fn final_residues(tenant: Option<TenantId>) -> Statement {
    let cte = limbs_cte(
        "le.transaction_id, le.asset_id, le.bucket, t.tenant_id, t.kind, t.status",
        "FROM ledger_entries le JOIN transactions t ON t.id = le.transaction_id \
         AND t.environment = le.environment \
         WHERE le.environment = :environment AND le.account_kind = 'wallet' \
         AND le.bucket IN ('pending', 'held') \
         AND t.status IN ('completed', 'failed', 'cancelled') \
         AND (:tenant IS NULL OR t.tenant_id = :tenant)",
    );
    tenant_filter(
        Statement::new(format!(
            "{cte} SELECT * FROM (SELECT transaction_id, asset_id, tenant_id, kind, status, \
             bucket, {} FROM limbs \
             GROUP BY transaction_id, asset_id, tenant_id, kind, status, bucket) g \
             WHERE {} ORDER BY transaction_id, bucket",
            limb_columns(),
            any_limb_non_zero()
        )),
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

/// The exact total of a row's limbs.
///
/// # Errors
/// `Internal` beyond 128 bits.
pub fn limb_total(row: &impl Columns) -> Result<i128, StoreError> {
    let mut total: i128 = 0;
    for k in 0..LIMBS {
        let limb = i128::from(row.int(&format!("l{k}"))?);
        total = total
            .checked_mul(10i128.pow(LIMB_DIGITS as u32))
            .and_then(|t| t.checked_add(limb))
            .ok_or_else(|| corrupt(format_args!("a ledger sum exceeds 128 bits")))?;
    }
    Ok(total)
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
        sum: limb_total(row)?,
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
                sum: limb_total(row)?,
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
    let unbalanced = decode(tx, unbalanced(tenant), residue).await?;
    let final_residues = decode(tx, final_residues(tenant), residue).await?;
    Ok(LedgerSnapshot {
        wallets,
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
}
