//! # custody-sandbox: deterministic fake custody
//!
//! Implements [`custody_core::ports::CustodyProvider`] for the sandbox environment. It never
//! opens a network connection: it is the half of the compliance boundary that sandbox traffic
//! reaches instead of real custody, so it depends on `custody-core` and a hash function only
//! (CI checks that no HTTP client ever enters its dependency tree).
//!
//! ## Addresses
//! The same (tenant, vault, asset, index) always yields the same address: the bytes are
//! `SHA-256("custody-sandbox/v1/address\n{tenant}\n{vault}\n{asset}\n{index}")`, rendered for the
//! asset's network — the first 20 bytes as an EIP-55 checksummed `0x…` address on EVM networks
//! (ethereum, base, ink), all 32 bytes in base58 on Solana, `0x` + 64 hex on Sui. The asset id
//! names the network (`USDC_SOLANA`), so the network is part of the input. Sandbox addresses
//! are well-formed but nobody holds their keys: never send real funds to one.
//!
//! ## Not yet
//! Withdrawals and deposits are simulated by the money-movement work; until then the sandbox
//! provider refuses them with [`ProviderError::Rejected`] saying so, rather than pretending.

use async_trait::async_trait;
use custody_core::asset::{AddressFamily, AssetId};
use custody_core::chain_address::ChainAddress;
use custody_core::id::TransactionId;
use custody_core::ports::{
    CustodyProvider, DepositNotice, MintRequest, MintedAddress, ProviderError, ProviderTransfer,
    VerifiedDeposit, WithdrawalRequest,
};
use sha2::{Digest, Sha256};

/// The provider name stored with what the sandbox creates.
pub const NAME: &str = "sandbox";

/// The sandbox custody provider. Stateless and cheap to share.
#[derive(Debug, Clone, Copy, Default)]
pub struct SandboxProvider;

impl SandboxProvider {
    /// A sandbox provider.
    pub const fn new() -> SandboxProvider {
        SandboxProvider
    }

    /// The address the sandbox mints for `request`: a pure function of (tenant, vault, asset,
    /// index).
    ///
    /// # Errors
    /// [`ProviderError::Rejected`] only if the catalogue ever paired an EVM address family with
    /// a network `ChainAddress` does not accept as EVM (a bug, reported rather than hidden).
    pub fn address_for(request: &MintRequest) -> Result<ChainAddress, ProviderError> {
        let digest: [u8; 32] = Sha256::new()
            .chain_update(b"custody-sandbox/v1/address\n")
            .chain_update(request.tenant_id.to_string())
            .chain_update(b"\n")
            .chain_update(request.vault_id.to_string())
            .chain_update(b"\n")
            .chain_update(request.asset.to_string())
            .chain_update(b"\n")
            .chain_update(request.index.to_string())
            .finalize()
            .into();
        let network = request.asset.network();
        match network.address_family() {
            AddressFamily::Evm => {
                let mut evm = [0u8; 20];
                evm.copy_from_slice(&digest[..20]);
                ChainAddress::from_evm_bytes(network, evm)
                    .map_err(|e| ProviderError::Rejected(e.to_string()))
            }
            AddressFamily::Solana => Ok(ChainAddress::from_solana_bytes(digest)),
            AddressFamily::Sui => Ok(ChainAddress::from_sui_bytes(digest)),
        }
    }
}

#[async_trait]
impl CustodyProvider for SandboxProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves(&self, _asset: AssetId) -> Result<(), ProviderError> {
        // Every catalogue asset, deterministically, with no configuration.
        Ok(())
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        Ok(MintedAddress {
            address: SandboxProvider::address_for(request)?,
            provider_ref: Some(format!("sandbox-{}", request.address_id)),
            provider: NAME,
        })
    }

    async fn submit_withdrawal(
        &self,
        _request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(not_yet("withdrawals"))
    }

    async fn withdrawal_status(
        &self,
        _transaction_id: TransactionId,
        _asset: AssetId,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(not_yet("withdrawals"))
    }

    async fn verify_deposit(
        &self,
        _notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        Err(not_yet("deposits"))
    }
}

fn not_yet(what: &str) -> ProviderError {
    ProviderError::Rejected(format!(
        "sandbox {what} are not simulated yet: they arrive with the money-movement work"
    ))
}

#[cfg(test)]
mod tests;
