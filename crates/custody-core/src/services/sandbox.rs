//! Sandbox simulation: deposits a partner asks for, so an integration can be tested end to end
//! without a chain.
//!
//! A simulated deposit is reported by the graph's provider
//! ([`CustodyProvider::simulate_deposit`](crate::ports::CustodyProvider::simulate_deposit):
//! only the sandbox provider does it, every live provider refuses) and then applied by
//! [`DepositService`] exactly as a verified live notification is, so it exercises the same
//! crediting, ledger and events. It is then moved forward by
//! [`DepositService::refresh`], like any open deposit. Only the sandbox graph holds this
//! service.

use super::{DepositService, IdempotentWrite};
use crate::amount::Amount;
use crate::api_key::Scope;
use crate::asset::Network;
use crate::caller::Caller;
use crate::chain_address::ChainAddress;
use crate::deposit_address::DepositAddress;
use crate::environment::Environment;
use crate::error::{Error, ResourceKind};
use crate::id::WalletId;
use crate::ports::{
    DynAddressStore, DynCustodyProvider, DynIdGenerator, DynUnitOfWork, DynWalletStore, Settlement,
    SimulatedDepositRequest, StoreError,
};
use crate::transaction::Transaction;

/// Where a simulated deposit arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepositTarget {
    /// The wallet's primary deposit address.
    Wallet(WalletId),
    /// One of the tenant's deposit addresses, as written on-chain.
    Address(String),
}

/// A simulated deposit, as the partner asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulateDeposit {
    /// Where it arrives.
    pub target: DepositTarget,
    /// Whole tokens, a decimal string (parsed with the asset's decimals once the target is
    /// known).
    pub amount: String,
    /// `Realistic` (confirms on the simulated chain's schedule) or `Instant`.
    pub settlement: Settlement,
}

/// Sandbox-only use cases.
#[derive(Clone)]
pub struct SandboxService {
    deposits: DepositService,
    provider: DynCustodyProvider,
    uow: DynUnitOfWork,
    wallets: DynWalletStore,
    addresses: DynAddressStore,
    ids: DynIdGenerator,
}

impl SandboxService {
    /// Wires the service over the sandbox graph's deposits, provider and stores.
    pub fn new(
        deposits: DepositService,
        provider: DynCustodyProvider,
        uow: DynUnitOfWork,
        wallets: DynWalletStore,
        addresses: DynAddressStore,
        ids: DynIdGenerator,
    ) -> SandboxService {
        SandboxService {
            deposits,
            provider,
            uow,
            wallets,
            addresses,
            ids,
        }
    }

    /// Simulates a deposit to one of the caller's addresses: the deposit is recorded
    /// `Confirming` 0/N (crediting `pending`), or already `Completed` (crediting `available`)
    /// when `Instant`. The response is recorded for replay in the same database transaction.
    ///
    /// # Errors
    /// `MissingScope(transfers:write)`; `NotFound` for a wallet or address that is not the
    /// caller's (or does not exist); `InvalidField(address)` for an address no network
    /// accepts; `Refused(ambiguous_address)` when the address is the tenant's on two networks;
    /// amount errors; `Refused(sandbox_only)` for a live caller; the provider's refusal; as
    /// [`DepositService::apply_verified`].
    pub async fn simulate_deposit(
        &self,
        caller: &Caller,
        command: SimulateDeposit,
        idempotency: Option<IdempotentWrite<'_, Transaction>>,
    ) -> Result<Transaction, Error> {
        caller.require(Scope::TransfersWrite)?;
        if caller.environment != Environment::Sandbox {
            return Err(Error::Refused {
                code: "sandbox_only",
                message: "deposits are simulated in the sandbox only".into(),
            });
        }
        let address = self.resolve(caller, &command.target).await?;
        let amount = Amount::parse(&command.amount, address.asset.decimals())?;
        let report = self
            .provider
            .simulate_deposit(&SimulatedDepositRequest {
                nonce: self.ids.ulid(),
                asset: address.asset,
                amount,
                address: address.address.clone(),
                settlement: command.settlement,
            })
            .await?;
        if report.address != address.address || report.amount != amount {
            return Err(Error::Internal(
                "the sandbox simulated another deposit than asked".into(),
            ));
        }
        self.deposits.apply_verified_with(report, idempotency).await
    }

    /// The caller's deposit address the target names.
    async fn resolve(
        &self,
        caller: &Caller,
        target: &DepositTarget,
    ) -> Result<DepositAddress, Error> {
        match target {
            DepositTarget::Wallet(id) => {
                let wallet = self
                    .wallets
                    .get(caller.tenant_id, *id)
                    .await
                    .map_err(Error::from_store(ResourceKind::Wallet))?;
                match self
                    .addresses
                    .primary_for_wallet(caller.tenant_id, wallet.id)
                    .await
                {
                    Ok(address) => Ok(address),
                    Err(StoreError::NotFound) => Err(Error::Refused {
                        code: "wallet_has_no_address",
                        message: format!("wallet {id} has no deposit address yet"),
                    }),
                    Err(e) => Err(e.into()),
                }
            }
            DepositTarget::Address(raw) => self.resolve_address(caller, raw).await,
        }
    }

    /// An address string does not say its network: every network that accepts it is tried
    /// (EVM addresses read alike on ethereum, base and ink).
    async fn resolve_address(&self, caller: &Caller, raw: &str) -> Result<DepositAddress, Error> {
        let mut candidates: Vec<ChainAddress> = Vec::new();
        let mut first_error = None;
        for network in Network::ALL {
            match ChainAddress::parse(network, raw) {
                Ok(address) => candidates.push(address),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if candidates.is_empty() {
            let why =
                first_error.map_or_else(|| "no network accepts it".to_owned(), |e| e.to_string());
            return Err(Error::field("address", "invalid_address", why));
        }
        // Reads only: the transaction is dropped without writing.
        let mut tx = self.uow.begin().await?;
        let mut found = Vec::new();
        for candidate in &candidates {
            match tx.find_address_by_chain_address(candidate).await {
                // Another tenant's address is as unknown as a missing one.
                Ok(address) if address.tenant_id == caller.tenant_id => found.push(address),
                Ok(_) | Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        drop(tx);
        match found.len() {
            0 => Err(Error::NotFound(ResourceKind::Address)),
            1 => Ok(found.remove(0)),
            _ => Err(Error::Refused {
                code: "ambiguous_address",
                message: "this address is yours on more than one network: name the wallet \
                          (walletId) instead"
                    .into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
