//! `asset_totals`: the tenant-wide available balance per (tenant, environment, asset), striped
//! over [`SLOTS`] rows ([`custody_core::totals`]).
//!
//! A unit of work adds each movement's change to its slot ([`AssetTotalTx`]); the changes are
//! kept and written at commit, after the events, as the last statements of the transaction
//! (the slot rows are its last row locks; see storage.md, "The tenant-wide totals"), one per
//! (tenant, asset, slot) with a non-zero net change, in that order.
//!
//! PostgreSQL adds in SQL ([`add`]: `numeric` addition is exact, and the upsert is atomic, so
//! two transactions creating the same slot both count). SQLite keeps amounts as text, and its
//! `+` of text goes through a float: there the slot is read ([`slot`]) and the new value,
//! computed in Rust, written over it ([`set`]), under the single writer lock the unit of work
//! already holds, so no other write can come between the two.

use async_trait::async_trait;
use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::id::TenantId;
use custody_core::ports::{AssetTotalTx, StoreError, TotalRebuilt};
use custody_core::totals::{SignedAmount, SLOTS};

use crate::codec::{self, Columns};
use crate::statement::{Statement, Value};
use crate::store::{Database, EnvStore, SqlTx, Transaction};

fn key(stmt: Statement, tenant: TenantId, asset: AssetId, slot: u8) -> Statement {
    stmt.bind("tenant", tenant.to_string())
        .bind("asset", asset.to_string())
        .bind("slot", i64::from(slot))
}

/// Adds `delta` to the slot, creating it at `delta` (PostgreSQL: exact `numeric` addition in
/// one atomic statement).
pub fn add(tenant: TenantId, asset: AssetId, slot: u8, delta: SignedAmount) -> Statement {
    key(
        Statement::new(
            "INSERT INTO asset_totals (tenant_id, environment, asset_id, slot, available) \
             VALUES (:tenant, :environment, :asset, :slot, :delta) \
             ON CONFLICT (tenant_id, environment, asset_id, slot) \
             DO UPDATE SET available = asset_totals.available + excluded.available",
        ),
        tenant,
        asset,
        slot,
    )
    .bind("delta", Value::decimal(delta))
}

/// The slot's value (SQLite, inside the writer's transaction).
pub fn slot(tenant: TenantId, asset: AssetId, slot: u8) -> Statement {
    key(
        Statement::new(
            "SELECT CAST(available AS TEXT) AS available FROM asset_totals \
             WHERE environment = :environment AND tenant_id = :tenant AND asset_id = :asset \
             AND slot = :slot",
        ),
        tenant,
        asset,
        slot,
    )
}

/// Writes the slot's new value over it, or creates it (SQLite).
pub fn set(tenant: TenantId, asset: AssetId, slot: u8, value: SignedAmount) -> Statement {
    key(
        Statement::new(
            "INSERT INTO asset_totals (tenant_id, environment, asset_id, slot, available) \
             VALUES (:tenant, :environment, :asset, :slot, :value) \
             ON CONFLICT (tenant_id, environment, asset_id, slot) \
             DO UPDATE SET available = excluded.available",
        ),
        tenant,
        asset,
        slot,
    )
    .bind("value", Value::decimal(value))
}

/// The tenant's totals: one line per asset the tenant has a wallet for (zero included), its
/// slots summed, exactly ([`crate::exact_sum`]). Bounded whatever the tenant's number of
/// wallets: the assets are found by a loose index scan of `wallets_tenant_asset_idx` (one index
/// descent per asset: the next asset after the last, a recursive query), and each asset's at
/// most [`SLOTS`] slot rows through `asset_totals_pkey`. An asset
/// whose wallets never changed has no slot row: zero.
pub fn by_asset(tenant: TenantId) -> Statement {
    Statement::new(
        "WITH RECURSIVE held (asset_id) AS ( \
             SELECT (SELECT asset_id FROM wallets WHERE environment = :environment \
                     AND tenant_id = :tenant ORDER BY asset_id LIMIT 1) \
             UNION ALL \
             SELECT (SELECT w.asset_id FROM wallets w WHERE w.environment = :environment \
                     AND w.tenant_id = :tenant AND w.asset_id > held.asset_id \
                     ORDER BY w.asset_id LIMIT 1) \
             FROM held WHERE held.asset_id IS NOT NULL) \
         SELECT held.asset_id AS asset_id, {exact_sum} FROM held \
         LEFT JOIN asset_totals t ON t.environment = :environment AND t.tenant_id = :tenant \
         AND t.asset_id = held.asset_id \
         WHERE held.asset_id IS NOT NULL GROUP BY held.asset_id",
    )
    .exact_sum("COALESCE(t.available, 0)")
    .bind("tenant", tenant.to_string())
}

/// Every tenant's totals (one tenant's with `tenant`), per (tenant, asset): what `custody admin
/// reconcile` compares with the wallets.
pub fn all(tenant: Option<TenantId>) -> Statement {
    Statement::new(
        "SELECT tenant_id, asset_id, {exact_sum} FROM asset_totals \
         WHERE environment = :environment AND (:tenant IS NULL OR tenant_id = :tenant) \
         GROUP BY tenant_id, asset_id ORDER BY tenant_id, asset_id",
    )
    .exact_sum("available")
    .bind("tenant", tenant.map(|t| t.to_string()))
}

/// One row of [`by_asset`]: the asset and its total, `None` when the total is negative or
/// beyond `u128` (drift, e.g. wallets written by an instance older than the totals: the caller
/// falls back to the wallets' exact sum and tells the operator to rebuild).
///
/// # Errors
/// `Internal` for a corrupt row.
pub fn total(row: &impl Columns) -> Result<(AssetId, Option<Amount>), StoreError> {
    let asset = codec::asset(row, "asset_id")?;
    let total = crate::exact_sum::read(row)?.and_then(crate::exact_sum::ExactSum::to_u128);
    Ok((asset, total.map(Amount::from_base_units)))
}

/// The exact signed total of a row of [`all`] (reconcile reports it as it is).
///
/// # Errors
/// `Internal` beyond ±`u128::MAX`.
pub fn signed_total(row: &impl Columns) -> Result<SignedAmount, StoreError> {
    crate::exact_sum::read(row)?
        .map(crate::exact_sum::ExactSum::signed)
        .ok_or_else(|| StoreError::Internal("a total beyond u128".into()))
}

/// Every (tenant, asset) with a wallet or a total (of one tenant, with `tenant`): what `custody
/// admin totals rebuild` goes over (a total with no wallet left is drift too, rebuilt to zero).
pub fn keys(tenant: Option<TenantId>) -> Statement {
    Statement::new(
        "SELECT tenant_id, asset_id FROM wallets \
         WHERE environment = :environment AND (:tenant IS NULL OR tenant_id = :tenant) \
         UNION \
         SELECT tenant_id, asset_id FROM asset_totals \
         WHERE environment = :environment AND (:tenant IS NULL OR tenant_id = :tenant) \
         ORDER BY tenant_id, asset_id",
    )
    .bind("tenant", tenant.map(|t| t.to_string()))
}

/// Rebuilds one (tenant, asset) total in `tx` (committed by the caller): the total becomes the
/// wallets' exact sum, in slot 0, the other slots zero.
///
/// PostgreSQL (READ COMMITTED): first every slot row is upserted with a zero change, which
/// creates it if missing and row-locks it, in slot order, the order a booking locks slots in
/// (and a booking locks no wallet after its slot); only then are the wallets summed, in a new
/// statement that sees everything committed so far. A booking committed before is in the sum;
/// one still open holds no slot of ours (or we waited for it) and adds its change after our
/// commit, on our slot rows. SQLite: the unit of work holds the one writer lock throughout.
async fn rebuild_one<T: Transaction>(
    tx: &mut T,
    tenant: TenantId,
    asset: AssetId,
) -> Result<TotalRebuilt, StoreError> {
    if T::ADDS_DECIMALS_IN_SQL {
        for n in 0..SLOTS {
            tx.execute(add(tenant, asset, n, SignedAmount::ZERO))
                .await?;
        }
    }
    let mut before = Some(SignedAmount::ZERO);
    for n in 0..SLOTS {
        if let Some(row) = tx.fetch_optional(slot(tenant, asset, n)).await? {
            let raw = row.text("available")?;
            let value = SignedAmount::parse(&raw)
                .ok_or_else(|| crate::corrupt(format_args!("asset_totals.available: `{raw}`")))?;
            before = before.and_then(|b| b.checked_add(value));
        }
    }
    let after = match tx
        .fetch_optional(super::wallets::available_of_asset(tenant, asset))
        .await?
    {
        Some(row) => super::wallets::exact_sum(&row)?.1,
        None => Amount::ZERO,
    };
    let rebuilt = TotalRebuilt {
        tenant_id: tenant,
        asset,
        before,
        after,
    };
    if rebuilt.changed() {
        for n in 0..SLOTS {
            let value = if n == 0 {
                SignedAmount::positive(after)
            } else {
                SignedAmount::ZERO
            };
            tx.execute(set(tenant, asset, n, value)).await?;
        }
    }
    Ok(rebuilt)
}

impl<D: Database> EnvStore<D> {
    /// [`ReconcileStore::rebuild_totals`](custody_core::ports::ReconcileStore::rebuild_totals):
    /// one transaction per (tenant, asset) ([`rebuild_one`]).
    pub(crate) async fn rebuild_asset_totals(
        &self,
        tenant: Option<TenantId>,
    ) -> Result<Vec<TotalRebuilt>, StoreError> {
        let keys = crate::store::all(&self.0, keys(tenant), |row| {
            let raw = row.text("tenant_id")?;
            let tenant = raw
                .parse::<TenantId>()
                .map_err(|_| crate::corrupt(format_args!("asset_totals.tenant_id: `{raw}`")))?;
            Ok((tenant, codec::asset(row, "asset_id")?))
        })
        .await?;
        let mut rebuilt = Vec::with_capacity(keys.len());
        for (tenant, asset) in keys {
            let mut tx = self.0.begin().await?;
            match rebuild_one(&mut tx, tenant, asset).await {
                Ok(one) => {
                    tx.commit().await?;
                    rebuilt.push(one);
                }
                Err(e) => {
                    // The error is what counts; a failed rollback ends the connection anyway.
                    let _ = tx.rollback().await;
                    return Err(e);
                }
            }
        }
        Ok(rebuilt)
    }
}

impl<T: Transaction> SqlTx<T> {
    /// Writes the totals' changes kept so far: one statement per changed slot on a database
    /// that adds decimals exactly in SQL, a read and a write otherwise.
    pub(crate) async fn flush_totals(&mut self) -> Result<(), StoreError> {
        let changes = std::mem::take(&mut self.totals);
        for ((tenant, asset, n), delta) in changes {
            if delta.is_zero() {
                continue;
            }
            if T::ADDS_DECIMALS_IN_SQL {
                self.execute(add(tenant, asset, n, delta)).await?;
                continue;
            }
            // A slot's text holds ±u128::MAX at most; a change that would take it beyond goes to
            // the next slot that can hold it (any slot adds to the same total: only the sum is
            // a balance), so a total beyond u128 is still stored exactly and read as an error.
            let mut written = false;
            for k in 0..SLOTS {
                let n = (n + k) % SLOTS;
                let stored = self.rows(slot(tenant, asset, n)).await?;
                let current = match stored.first() {
                    Some(row) => {
                        let raw = row.text("available")?;
                        SignedAmount::parse(&raw).ok_or_else(|| {
                            crate::corrupt(format_args!("asset_totals.available: `{raw}`"))
                        })?
                    }
                    None => SignedAmount::ZERO,
                };
                if let Some(new) = current.checked_add(delta) {
                    self.execute(set(tenant, asset, n, new)).await?;
                    written = true;
                    break;
                }
            }
            if !written {
                self.failed = true;
                return Err(StoreError::Internal(
                    format!("the {asset} total beyond {SLOTS} × u128").into(),
                ));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl<T: Transaction> AssetTotalTx for SqlTx<T> {
    async fn adjust_available_total(
        &mut self,
        tenant: TenantId,
        asset: AssetId,
        slot: u8,
        delta: SignedAmount,
    ) -> Result<(), StoreError> {
        if slot >= custody_core::totals::SLOTS {
            self.failed = true;
            return Err(StoreError::Internal(format!("no total slot {slot}").into()));
        }
        let kept = self.totals.entry((tenant, asset, slot)).or_default();
        match kept.checked_add(delta) {
            Some(sum) => {
                *kept = sum;
                Ok(())
            }
            None => {
                self.failed = true;
                Err(StoreError::Internal(
                    format!("the {asset} total's change beyond u128").into(),
                ))
            }
        }
    }
}
