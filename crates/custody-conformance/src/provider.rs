//! A fake custody provider that mints deterministic addresses and counts its calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use custody_core::id::TransactionId;
use custody_core::ports::{
    CustodyProvider, DepositNotice, MintRequest, MintedAddress, ProviderError, ProviderTransfer,
    VerifiedDeposit, WithdrawalRequest,
};

use crate::fixtures::chain_address;

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

    /// The address minted for (vault, asset, index).
    pub fn address_for(request: &MintRequest) -> custody_core::chain_address::ChainAddress {
        let vault = request.vault_id.ulid().0;
        let asset = request
            .asset
            .to_string()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(131).wrapping_add(u64::from(b)));
        // The low 64 bits of the vault ULID are its random part.
        #[allow(clippy::cast_possible_truncation)]
        let seed = (vault as u64)
            ^ ((vault >> 64) as u64).rotate_left(17)
            ^ asset.rotate_left(31)
            ^ u64::from(request.index).wrapping_mul(0x9E37_79B9);
        chain_address(request.asset.network(), seed)
    }
}

#[async_trait]
impl CustodyProvider for CountingProvider {
    fn name(&self) -> &'static str {
        "conformance"
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        self.mints.fetch_add(1, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(MintedAddress {
            address: CountingProvider::address_for(request),
            provider_ref: Some(format!("conformance-{}", request.address_id)),
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
        _transaction_id: TransactionId,
    ) -> Result<ProviderTransfer, ProviderError> {
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
