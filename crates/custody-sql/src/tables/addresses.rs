//! `deposit_addresses`.

use std::sync::LazyLock;

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::deposit_address::DepositAddress;
use custody_core::id::{AddressId, TenantId, WalletId};
use custody_core::page::{Page, PageRequest};
use custody_core::ports::{AddressFilter, AddressStore, AddressTx, StoreError};
use custody_core::text::{ExternalRef, Label};

use super::{int, scoped};
use crate::codec::{self, Columns};
use crate::errors::corrupt;
use crate::names;
use crate::page::paged;
use crate::statement::Statement;
use crate::store::{self, Database, EnvStore, SqlTx, Transaction};

pub const COLUMNS: &str = "id, environment, tenant_id, vault_id, wallet_id, asset_id, network, \
     address, label, is_primary, derivation_index, provider, provider_reference, status, \
     version, created_at, updated_at";

/// [`COLUMNS`] of `deposit_addresses a`, each named as itself.
static QUALIFIED: LazyLock<String> = LazyLock::new(|| {
    COLUMNS
        .split(", ")
        .map(|column| format!("a.{column} AS {column}"))
        .collect::<Vec<_>>()
        .join(", ")
});

/// One of the tenant's addresses with its vault's `external_ref` (`vault_external_ref`), in
/// one statement: the vault is the address's own (a composite foreign key, same environment
/// and tenant), so it is joined by id alone.
pub fn get_with_reference(tenant: TenantId, id: &str) -> Statement {
    Statement::new(format!(
        "SELECT {}, v.external_ref AS vault_external_ref \
         FROM deposit_addresses a JOIN vaults v ON v.id = a.vault_id \
         WHERE a.environment = :environment AND a.tenant_id = :tenant AND a.id = :id",
        *QUALIFIED
    ))
    .bind("tenant", tenant.to_string())
    .bind("id", id.to_string())
}

/// [`get_with_reference`] of several addresses, whatever their tenant (a batch of coalesced
/// reads, each answer then checked against its request's tenant).
pub fn referenced(ids: &[String]) -> Statement {
    Statement::new(format!(
        "SELECT {}, v.external_ref AS vault_external_ref \
         FROM deposit_addresses a JOIN vaults v ON v.id = a.vault_id \
         WHERE a.environment = :environment AND a.id IN (:ids)",
        *QUALIFIED
    ))
    .bind_list("ids", ids.iter().cloned())
}

/// The wallet's primary address; of that tenant only when one is named.
pub fn primary(wallet: WalletId, tenant: Option<TenantId>) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM deposit_addresses WHERE environment = :environment \
         AND wallet_id = :wallet AND is_primary = TRUE"
    ))
    .bind("wallet", wallet.to_string())
    .filter("tenant_id", "tenant", tenant.map(|t| t.to_string()))
}

/// The primary addresses of these wallets (none for a wallet without one).
pub fn primaries(wallets: &[WalletId]) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM deposit_addresses WHERE environment = :environment \
         AND wallet_id IN (:wallets) AND is_primary = TRUE"
    ))
    .bind_list("wallets", wallets.iter().map(ToString::to_string))
}

/// `n`: how many addresses the wallet has.
pub fn count(wallet: WalletId) -> Statement {
    Statement::new(
        "SELECT COUNT(*) AS n FROM deposit_addresses \
         WHERE environment = :environment AND wallet_id = :wallet",
    )
    .bind("wallet", wallet.to_string())
}

/// The address with this on-chain address, whatever the tenant.
pub fn by_chain_address(address: &ChainAddress) -> Statement {
    Statement::new(format!(
        "SELECT {COLUMNS} FROM deposit_addresses WHERE environment = :environment \
         AND network = :network AND address = :address"
    ))
    .bind("network", address.network().as_str())
    .bind("address", address.as_str())
}

/// One asset's addresses of every tenant, in id order after `after`, at most `limit`.
pub fn of_asset(asset: AssetId, after: Option<AddressId>, limit: u32) -> Statement {
    let after_clause = if after.is_some() {
        "AND id > :after "
    } else {
        ""
    };
    let stmt = Statement::new(format!(
        "SELECT {COLUMNS} FROM deposit_addresses WHERE environment = :environment \
         AND asset_id = :asset {after_clause}ORDER BY id LIMIT :limit"
    ))
    .bind("asset", asset.to_string())
    .bind("limit", i64::from(limit));
    match after {
        Some(after) => stmt.bind("after", after.to_string()),
        None => stmt,
    }
}

pub fn list(tenant: TenantId, filter: &AddressFilter, page: &PageRequest) -> Statement {
    let stmt = scoped(COLUMNS, "deposit_addresses", tenant)
        .filter(
            "wallet_id",
            "wallet",
            filter.wallet_id.map(|w| w.to_string()),
        )
        .filter("vault_id", "vault", filter.vault_id.map(|v| v.to_string()));
    paged(stmt, AddressId::PREFIX, page)
}

/// # Errors
/// `Internal` for a version beyond a bigint.
pub fn insert(address: &DepositAddress) -> Result<Statement, StoreError> {
    Ok(Statement::new(
        "INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, \
         asset_id, network, address, label, is_primary, derivation_index, provider, \
         provider_reference, status, version, created_at, updated_at) \
         VALUES (:id, :environment, :tenant, :vault, :wallet, :asset, :network, :address, \
         :label, :is_primary, :derivation_index, :provider, :provider_reference, :status, \
         :version, :created_at, :updated_at)",
    )
    .bind("id", address.id.to_string())
    .bind("tenant", address.tenant_id.to_string())
    .bind("vault", address.vault_id.to_string())
    .bind("wallet", address.wallet_id.to_string())
    .bind("asset", address.asset.to_string())
    .bind("network", address.address.network().as_str())
    .bind("address", address.address.as_str())
    .bind("label", address.label.as_ref().map(Label::as_str))
    .bind("is_primary", address.is_primary)
    .bind("derivation_index", i64::from(address.derivation_index))
    .bind("provider", address.provider.provider.as_str())
    .bind("provider_reference", address.provider.reference.as_deref())
    .bind("status", names::address_status(address.status))
    .bind("version", int(address.version, "version")?)
    .bind("created_at", address.created_at)
    .bind("updated_at", address.updated_at))
}

#[async_trait]
impl<T: Transaction> AddressTx for SqlTx<T> {
    async fn find_primary_address(
        &mut self,
        wallet: WalletId,
    ) -> Result<DepositAddress, StoreError> {
        if !self.locked_wallets.contains(&wallet) {
            return self
                .one(primary(wallet, None), codec::deposit_address)
                .await;
        }
        // A wallet this transaction locked: its primary address and those of the others
        // locked with it, in one statement, kept until an address is inserted.
        if self.primaries.is_none() {
            let stmt = primaries(&self.locked_wallets);
            let found = self.all(stmt, codec::deposit_address).await?;
            self.primaries = Some(found.into_iter().map(|a| (a.wallet_id, a)).collect());
        }
        self.primaries
            .as_ref()
            .and_then(|primaries| primaries.get(&wallet))
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    async fn count_addresses(&mut self, wallet: WalletId) -> Result<u32, StoreError> {
        let n = self.one(count(wallet), |r| r.int("n")).await?;
        u32::try_from(n).map_err(|_| corrupt(format_args!("{n} addresses in one wallet")))
    }

    async fn insert_address(&mut self, address: &DepositAddress) -> Result<(), StoreError> {
        self.primaries = None;
        self.execute(insert(address)?).await
    }

    async fn find_address_by_chain_address(
        &mut self,
        address: &ChainAddress,
    ) -> Result<DepositAddress, StoreError> {
        self.one(by_chain_address(address), codec::deposit_address)
            .await
    }

    async fn deposit_addresses_of_asset(
        &mut self,
        asset: AssetId,
        after: Option<AddressId>,
        limit: u32,
    ) -> Result<Vec<DepositAddress>, StoreError> {
        self.all(of_asset(asset, after, limit), codec::deposit_address)
            .await
    }
}

#[async_trait]
impl<D: Database> AddressStore for EnvStore<D> {
    async fn get(&self, tenant: TenantId, id: AddressId) -> Result<DepositAddress, StoreError> {
        let read = super::read_by_id!(COLUMNS, "deposit_addresses", codec::deposit_address);
        self.1
            .addresses
            .get(&self.0, read, tenant, id.to_string())
            .await
    }

    async fn get_with_reference(
        &self,
        tenant: TenantId,
        id: AddressId,
    ) -> Result<(DepositAddress, Option<ExternalRef>), StoreError> {
        let read = crate::coalesce::ById {
            by_ids: referenced,
            one: get_with_reference,
            decode: codec::referenced_address,
            key: crate::coalesce::raw_key,
        };
        self.1
            .referenced_addresses
            .get(&self.0, read, tenant, id.to_string())
            .await
    }

    async fn primary_for_wallet(
        &self,
        tenant: TenantId,
        wallet: WalletId,
    ) -> Result<DepositAddress, StoreError> {
        store::one(
            &self.0,
            primary(wallet, Some(tenant)),
            codec::deposit_address,
        )
        .await
    }

    async fn list(
        &self,
        tenant: TenantId,
        filter: &AddressFilter,
        page: PageRequest,
    ) -> Result<Page<DepositAddress>, StoreError> {
        let stmt = list(tenant, filter, &page);
        store::page(&self.0, stmt, &page, codec::deposit_address).await
    }
}
