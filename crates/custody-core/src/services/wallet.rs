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
use crate::ports::{DynTransactionStore, DynVaultStore, DynWalletStore, WalletFilter};
use crate::text::Label;
use crate::wallet::{Balances, Wallet};

/// A wallet with its primary deposit address (the Platform wallet shape).
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The outcome of reconciling one wallet.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
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
