//! Wallets: creation with their deposit address (Platform), reads, and reconciliation of the
//! materialised balances against the ledger.

use super::address::{AddressService, AddressTarget};
use super::{IdempotentWrite, Provisioned};
use crate::api_key::Scope;
use crate::asset::AssetId;
use crate::caller::Caller;
use crate::deposit_address::DepositAddress;
use crate::error::{Error, ResourceKind};
use crate::id::{VaultId, WalletId};
use crate::ledger;
use crate::page::{Page, PageRequest};
use crate::ports::{
    AddressFilter, DynTransactionStore, DynVaultStore, DynWalletStore, StoreError, WalletFilter,
};
use crate::text::Label;
use crate::wallet::{Balances, Wallet};

/// A wallet with its primary deposit address (the Platform wallet shape).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalletWithAddress {
    pub wallet: Wallet,
    /// Its primary deposit address.
    pub deposit_address: DepositAddress,
}

impl From<Provisioned<(Wallet, DepositAddress)>> for Provisioned<WalletWithAddress> {
    fn from(p: Provisioned<(Wallet, DepositAddress)>) -> Self {
        let (wallet, deposit_address) = p.value;
        Provisioned {
            value: WalletWithAddress {
                wallet,
                deposit_address,
            },
            created: p.created,
        }
    }
}

/// A wallet with its primary deposit address, if it has one yet (Platform's wallet reads).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WalletView {
    /// The wallet with its balances.
    pub wallet: Wallet,
    /// Its primary address; `None` until one is minted.
    pub deposit_address: Option<DepositAddress>,
}

/// The outcome of reconciling one wallet.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reconciliation {
    pub wallet_id: WalletId,
    /// Balances as materialised on the wallet row.
    pub materialised: Balances,
    /// Balances rebuilt from the ledger.
    pub from_ledger: Balances,
}

impl Reconciliation {
    /// Whether the two agree, the invariant the ledger design guarantees.
    pub fn is_consistent(&self) -> bool {
        self.materialised == self.from_ledger
    }
}

/// Wallet use cases.
#[derive(Clone)]
pub struct WalletService {
    addresses: AddressService,
    vaults: DynVaultStore,
    wallets: DynWalletStore,
    transactions: DynTransactionStore,
}

impl WalletService {
    /// Wires the service; wallet creation shares the address service's provisioning path so
    /// every dialect converges on the same wallet and address.
    pub fn new(
        addresses: AddressService,
        vaults: DynVaultStore,
        wallets: DynWalletStore,
        transactions: DynTransactionStore,
    ) -> WalletService {
        WalletService {
            addresses,
            vaults,
            wallets,
            transactions,
        }
    }

    /// Creates the vault's wallet for `asset` with its primary address, or returns the existing
    /// one (`created: false`): one wallet per (vault, asset), whichever dialect asked first.
    ///
    /// # Errors
    /// `MissingScope(wallets:create)`; `NotFound` vault; `AssetNotEnabled`; `Vault(Archived)`;
    /// `Provider`; store errors.
    pub async fn create(
        &self,
        caller: &Caller,
        vault_id: VaultId,
        asset: AssetId,
        label: Option<Label>,
        idempotency: Option<IdempotentWrite<'_, Provisioned<WalletWithAddress>>>,
    ) -> Result<Provisioned<WalletWithAddress>, Error> {
        caller.require(Scope::WalletsCreate)?;
        let result = self
            .addresses
            .ensure_in_vault(
                caller,
                &AddressTarget::Vault(vault_id),
                asset,
                label,
                None,
                idempotency,
            )
            .await?;
        Ok(result.into())
    }

    /// Reads a wallet with its balances.
    ///
    /// # Errors
    /// `MissingScope(wallets:read)`; `NotFound` (also another tenant's).
    pub async fn get(&self, caller: &Caller, id: WalletId) -> Result<Wallet, Error> {
        caller.require(Scope::WalletsRead)?;
        self.wallets
            .get(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Wallet))
    }

    /// Lists wallets, optionally of one vault (which must be the caller's).
    ///
    /// # Errors
    /// `MissingScope(wallets:read)`; `NotFound` for another tenant's vault; store errors.
    pub async fn list(
        &self,
        caller: &Caller,
        filter: &WalletFilter,
        page: PageRequest,
    ) -> Result<Page<Wallet>, Error> {
        caller.require(Scope::WalletsRead)?;
        if let Some(vault) = filter.vault_id {
            // An unknown vault is a 404, not an empty list, so a typo is visible.
            self.vaults
                .get(caller.tenant_id, vault)
                .await
                .map_err(Error::from_store(ResourceKind::Vault))?;
        }
        Ok(self.wallets.list(caller.tenant_id, filter, page).await?)
    }

    /// The assets a wallet may be created for: those the tenant has enabled in this
    /// environment, ordered by id (`USDC_BASE` before `USDT_ETHEREUM`). Any key may read them.
    ///
    /// # Errors
    /// Store errors.
    pub async fn assets(&self, caller: &Caller) -> Result<Vec<AssetId>, Error> {
        let enabled = self
            .addresses
            .tenants
            .enabled_assets(caller.tenant_id, self.addresses.environment)
            .await
            .map_err(Error::from_store(ResourceKind::Tenant))?;
        let mut assets: Vec<AssetId> = enabled.iter().collect();
        assets.sort_by_key(ToString::to_string);
        Ok(assets)
    }

    /// Reads a wallet with its balances and its primary deposit address.
    ///
    /// # Errors
    /// As [`WalletService::get`].
    pub async fn get_with_address(
        &self,
        caller: &Caller,
        id: WalletId,
    ) -> Result<WalletView, Error> {
        let wallet = self.get(caller, id).await?;
        self.view(caller, wallet).await
    }

    /// Lists wallets as [`WalletService::list`] does, each with its primary deposit address.
    ///
    /// # Errors
    /// As [`WalletService::list`].
    pub async fn list_with_addresses(
        &self,
        caller: &Caller,
        filter: &WalletFilter,
        page: PageRequest,
    ) -> Result<Page<WalletView>, Error> {
        let found = self.list(caller, filter, page).await?;
        let mut items = Vec::with_capacity(found.items.len());
        for wallet in found.items {
            items.push(self.view(caller, wallet).await?);
        }
        Ok(Page {
            items,
            has_more: found.has_more,
        })
    }

    /// Lists the deposit addresses of one wallet (an Accounts account) of the caller's tenant.
    ///
    /// # Errors
    /// `MissingScope(addresses:read)`; `NotFound` wallet (also another tenant's); store errors.
    pub async fn list_addresses(
        &self,
        caller: &Caller,
        id: WalletId,
        page: PageRequest,
    ) -> Result<Page<DepositAddress>, Error> {
        caller.require(Scope::AddressesRead)?;
        self.wallets
            .get(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Wallet))?;
        let filter = AddressFilter {
            wallet_id: Some(id),
            vault_id: None,
        };
        self.addresses.list(caller, &filter, page).await
    }

    async fn view(&self, caller: &Caller, wallet: Wallet) -> Result<WalletView, Error> {
        let deposit_address = match self
            .addresses
            .addresses
            .primary_for_wallet(caller.tenant_id, wallet.id)
            .await
        {
            Ok(address) => Some(address),
            Err(StoreError::NotFound) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(WalletView {
            wallet,
            deposit_address,
        })
    }

    /// Checks that `vault` is the caller's, for Platform's `GET /v1/transactions?vaultId=` (a
    /// transactions read: it needs `transactions:read`, not `vaults:read`); the store's
    /// transaction query then selects the vault's transactions.
    ///
    /// # Errors
    /// `MissingScope(transactions:read)`; `NotFound` for another tenant's vault; store errors.
    pub async fn check_vault_for_transactions(
        &self,
        caller: &Caller,
        vault: VaultId,
    ) -> Result<(), Error> {
        caller.require(Scope::TransactionsRead)?;
        self.vaults
            .get(caller.tenant_id, vault)
            .await
            .map_err(Error::from_store(ResourceKind::Vault))?;
        Ok(())
    }

    /// Rebuilds a wallet's balances from the ledger and compares them with the materialised
    /// ones. An operator tool: it does not check scopes.
    ///
    /// # Errors
    /// `NotFound`; `Internal` when the ledger itself would go negative (corruption).
    pub async fn reconcile(&self, caller: &Caller, id: WalletId) -> Result<Reconciliation, Error> {
        let wallet = self
            .wallets
            .get(caller.tenant_id, id)
            .await
            .map_err(Error::from_store(ResourceKind::Wallet))?;
        let entries = self.transactions.ledger_for_wallet(id).await?;
        let from_ledger = ledger::replay(id, &entries)
            .map_err(|e| Error::Internal(format!("ledger of {id} is corrupt: {e}")))?;
        Ok(Reconciliation {
            wallet_id: id,
            materialised: wallet.balances,
            from_ledger,
        })
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod use_case_tests;

#[cfg(test)]
mod http_use_case_tests;
