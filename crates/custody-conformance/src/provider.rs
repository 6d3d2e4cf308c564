//! A fake custody provider that mints the sandbox's deterministic addresses and counts its
//! calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::ports::{
    CustodyProvider, DepositNotice, MintRequest, MintedAddress, ProviderError, ProviderTransfer,
    VerifiedDeposit, WithdrawalRequest,
};

/// Mints the address of (vault, asset, index) deterministically, after a short pause that
/// widens any race between concurrent minters. Every other call is refused.
#[derive(Debug, Default)]
pub struct CountingProvider {
    mints: AtomicUsize,
    delay: Duration,
}

impl CountingProvider {
    /// A provider that pauses `delay` inside every mint.
    pub fn with_delay(delay: Duration) -> CountingProvider {
        CountingProvider {
            mints: AtomicUsize::new(0),
            delay,
        }
    }

    /// How many addresses were minted.
    pub fn mints(&self) -> usize {
        self.mints.load(Ordering::SeqCst)
    }

    /// The address minted for a request: the sandbox provider's derivation (a pure function
    /// of tenant, vault, asset and index, valid for the asset's network).
    pub fn address_for(request: &MintRequest) -> Result<ChainAddress, ProviderError> {
        custody_sandbox::SandboxProvider::address_for(request)
    }
}

#[async_trait]
impl CustodyProvider for CountingProvider {
    fn name(&self) -> &'static str {
        "conformance"
    }

    fn serves(&self, _asset: AssetId) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        self.mints.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(MintedAddress {
            address: CountingProvider::address_for(request)?,
            provider_ref: Some(format!("conformance-{}", request.address_id)),
            provider: "conformance",
        })
    }

    async fn submit_withdrawal(
        &self,
        _request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(ProviderError::Rejected(
            "not used by the conformance suite".into(),
        ))
    }

    async fn withdrawal_status(
        &self,
        _request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(ProviderError::NotFound)
    }

    async fn deposit_status(
        &self,
        _provider_ref: &str,
        _asset: AssetId,
    ) -> Result<VerifiedDeposit, ProviderError> {
        Err(ProviderError::NotFound)
    }

    async fn verify_deposit(
        &self,
        _notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        Err(ProviderError::Unverified(
            "not used by the conformance suite".into(),
        ))
    }
}
