//! `wallets`.

use async_trait::async_trait;
use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::id::{TenantId, VaultId, WalletId};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{AssetTotalTx, StoreError, WalletFilter, WalletStore, WalletTx};
use custody_core::text::Label;
use custody_core::wallet::Wallet;

use super::{exists, int, scoped, Versioned};
use crate::codec::{self, Columns};
use crate::names;
use crate::page::paged;
use crate::statement::{Lock, Statement, Value};
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

pub const COLUMNS: &str = "id, environment, tenant_id, vault_id, asset_id, label, status, \
     CAST(available AS TEXT) AS available, CAST(pending AS TEXT) AS pending, \
     CAST(held AS TEXT) AS held, version, created_at, updated_at";

/// The vault's wallet for an asset, whatever the tenant.
pub fn of_vault(vault: VaultId, asset: AssetId) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM wallets WHERE environment = :environment \
         AND vault_id = :vault AND asset_id = :asset"
    ))
    .bind("vault", vault.to_string())
    .bind("asset", asset.to_string())
}

/// The tenant's wallets among `ids`, in ascending id order (the order locks are taken in).
pub fn some_of(tenant: TenantId, ids: &[WalletId]) -> Statement {
    scoped(COLUMNS, "wallets", tenant)
        .push(" AND id IN (:ids) ORDER BY id")
        .bind_list("ids", ids.iter().map(ToString::to_string))
}

/// One wallet by id, whatever the tenant.
pub fn any_tenant(id: WalletId) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM wallets WHERE environment = :environment AND id = :id"
    ))
    .bind("id", id.to_string())
}

/// The ids of the tenant's wallets in `vault` (a vault holds one wallet per asset at most).
pub fn ids_of_vault(tenant: TenantId, vault: VaultId) -> Statement {
    scoped("id", "wallets", tenant)
        .push(" AND vault_id = :vault")
        .bind("vault", vault.to_string())
}

pub fn list(tenant: TenantId, filter: &WalletFilter, page: &PageRequest) -> Statement {
    let stmt = scoped(COLUMNS, "wallets", tenant)
        .filter("vault_id", "vault", filter.vault_id.map(|v| v.to_string()))
        .filter("asset_id", "asset", filter.asset.map(|a| a.to_string()));
    paged(stmt, WalletId::PREFIX, page)
}

/// The tenant's available balances (one vault's, with `vault`) summed per asset, exactly, in
/// one statement ([`crate::exact_sum`]): the columns are `asset_id` and the sum's parts, which
/// [`exact_sum`] reads back. The store runs it for one vault; the tenant-wide read is the
/// maintained totals' ([`asset_totals::by_asset`](super::asset_totals::by_asset)), and this
/// statement over the whole tenant is what `custody admin reconcile` compares them with.
pub fn available_by_asset(tenant: TenantId, vault: Option<VaultId>) -> Statement {
    scoped("asset_id, {exact_sum}", "wallets", tenant)
        .exact_sum("available")
        .filter("vault_id", "vault", vault.map(|v| v.to_string()))
        .push(" GROUP BY asset_id")
}

/// One asset's available balances over the tenant's wallets, summed exactly: what `custody
/// admin totals rebuild` sets the asset's maintained total to. No row when the tenant has no
/// wallet of the asset. Read with [`exact_sum`].
pub fn available_of_asset(tenant: TenantId, asset: AssetId) -> Statement {
    scoped("asset_id, {exact_sum}", "wallets", tenant)
        .exact_sum("available")
        .filter("asset_id", "asset", Some(asset.to_string()))
        .push(" GROUP BY asset_id")
}

/// One row of [`available_by_asset`].
///
/// # Errors
/// `Internal` when the sum exceeds `u128` (or a part is not a number: a corrupt row).
pub fn exact_sum(row: &impl Columns) -> Result<(AssetId, Amount), StoreError> {
    let asset = codec::asset(row, "asset_id")?;
    let total = crate::exact_sum::read(row)?
        .and_then(crate::exact_sum::ExactSum::to_u128)
        .ok_or_else(|| {
            StoreError::Internal(format!("the {asset} balances sum beyond u128").into())
        })?;
    Ok((asset, Amount::from_base_units(total)))
}

/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn insert(wallet: &Wallet) -> Result<Statement, StoreError> {
    let insert = Statement::new(
        "INSERT INTO wallets (id, environment, tenant_id, vault_id, asset_id, label, status, \
         available, pending, held, version, created_at, updated_at) \
         VALUES (:id, :environment, :tenant, :vault, :asset, :label, :status, :available, \
         :pending, :held, :version, :created_at, :updated_at)",
    )
    .bind("vault", wallet.vault_id.to_string())
    .bind("asset", wallet.asset.to_string())
    .bind("created_at", wallet.created_at);
    changes(insert, wallet)
}

/// Saves label, status and balances.
///
/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn update(wallet: &Wallet) -> Result<Versioned, StoreError> {
    let update = Statement::new(
        "UPDATE wallets SET label = :label, status = :status, available = :available, \
         pending = :pending, held = :held, version = :version, updated_at = :updated_at \
         WHERE id = :id AND environment = :environment AND tenant_id = :tenant \
         AND version < :version",
    );
    Ok(Versioned {
        update: changes(update, wallet)?,
        exists: exists("wallets", wallet.tenant_id, wallet.id.to_string()),
    })
}

fn changes(stmt: Statement, wallet: &Wallet) -> Result<Statement, StoreError> {
    let balances = &wallet.balances;
    Ok(stmt
        .bind("id", wallet.id.to_string())
        .bind("tenant", wallet.tenant_id.to_string())
        .bind("label", wallet.label.as_ref().map(Label::as_str))
        .bind("status", names::wallet_status(wallet.status))
        .bind("available", Value::decimal(balances.available.base_units()))
        .bind("pending", Value::decimal(balances.pending.base_units()))
        .bind("held", Value::decimal(balances.held.base_units()))
        .bind("version", int(wallet.version, "version")?)
        .bind("updated_at", wallet.updated_at))
}

#[async_trait]
impl<T: Transaction> WalletTx for SqlTx<T> {
    async fn find_wallet(&mut self, vault: VaultId, asset: AssetId) -> Result<Wallet, StoreError> {
        self.one(of_vault(vault, asset), codec::wallet).await
    }

    async fn lock_wallets(
        &mut self,
        tenant: TenantId,
        ids: &[WalletId],
    ) -> Result<Vec<Wallet>, StoreError> {
        let wallets = self
            .all(some_of(tenant, ids).lock(Lock::Update), codec::wallet)
            .await?;
        self.note_locked(wallets.iter().map(|w| w.id));
        Ok(wallets)
    }

    async fn lock_wallet_by_id(&mut self, id: WalletId) -> Result<Wallet, StoreError> {
        let wallet = self
            .one(any_tenant(id).lock(Lock::Update), codec::wallet)
            .await?;
        self.note_locked([wallet.id]);
        Ok(wallet)
    }

    async fn insert_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError> {
        self.execute(insert(wallet)?).await?;
        let available = wallet.balances.available;
        if available.is_zero() {
            return Ok(());
        }
        // A wallet born with funds (never in the product: only imports and fixtures) counts
        // in its tenant's total like any other change.
        self.adjust_available_total(
            wallet.tenant_id,
            wallet.asset,
            0,
            custody_core::totals::SignedAmount::positive(available),
        )
        .await
    }

    async fn update_wallet(&mut self, wallet: &Wallet) -> Result<(), StoreError> {
        self.versioned(update(wallet)?).await
    }
}

#[async_trait]
impl<D: Database> WalletStore for EnvStore<D> {
    async fn get(&self, tenant: TenantId, id: WalletId) -> Result<Wallet, StoreError> {
        let read = super::read_by_id!(COLUMNS, "wallets", codec::wallet);
        self.1
            .wallets
            .get(&self.0, read, tenant, id.to_string())
            .await
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &WalletFilter,
        page: PageRequest,
    ) -> Result<Page<Wallet>, StoreError> {
        let stmt = list(tenant, filter, &page);
        store::page(&self.0, stmt, &page, codec::wallet).await
    }

    async fn available_by_asset(
        &self,
        tenant: TenantId,
        vault: Option<VaultId>,
    ) -> Result<Vec<(AssetId, Amount)>, StoreError> {
        let mut sums = match vault {
            // One vault: its few wallets, summed.
            Some(_) => store::all(&self.0, available_by_asset(tenant, vault), exact_sum).await?,
            // The tenant: its maintained totals (a few slot rows per asset), not its wallets.
            None => {
                let totals = store::all(
                    &self.0,
                    super::asset_totals::by_asset(tenant),
                    super::asset_totals::total,
                )
                .await?;
                let drifted: Vec<AssetId> = totals
                    .iter()
                    .filter(|(_, total)| total.is_none())
                    .map(|(asset, _)| *asset)
                    .collect();
                if drifted.is_empty() {
                    totals
                        .into_iter()
                        .filter_map(|(asset, total)| Some((asset, total?)))
                        .collect()
                } else {
                    // A drifted total (negative or beyond u128) is no balance: this request
                    // answers from the wallets' exact sum (linear in the tenant's wallets, as
                    // before the totals) and the operator is told to rebuild.
                    for asset in &drifted {
                        tracing::error!(
                            tenant = %tenant,
                            asset = %asset,
                            "the maintained tenant-wide {asset} total of tenant {tenant} is \
                             negative or beyond u128 (drift): answering from the wallets' sum; \
                             run `custody admin totals rebuild --tenant {tenant}`"
                        );
                    }
                    store::all(&self.0, available_by_asset(tenant, None), exact_sum).await?
                }
            }
        };
        // A few rows: ordered by the asset's own order, not its stored spelling.
        sums.sort_by_key(|(asset, _)| *asset);
        Ok(sums)
    }
}
