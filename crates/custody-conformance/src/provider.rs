//! A fake custody provider that mints the sandbox's deterministic addresses and counts its
//! calls.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::id::TransactionId;
use custody_core::ports::{
    CustodyProvider, DepositNotice, MintRequest, MintedAddress, ProviderError, ProviderTransfer,
    VerifiedDeposit, WithdrawalRequest,
};
use custody_core::transaction::TransactionStatus;

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

/// A custody provider for the transaction worker's checks: counts withdrawal hand-overs per
/// transaction id, accepts each (`PendingSignature` with a reference), and reports every
/// withdrawal it was handed as `Completed` when polled (`NotFound` for one it never saw).
/// With `panic_on_send`, it panics inside the hand-over instead of sending: a process that
/// dies after committing its claim and before the provider heard anything.
#[derive(Debug, Default)]
pub struct SendCountingProvider {
    sends: std::sync::Mutex<std::collections::BTreeMap<TransactionId, usize>>,
    delay: Duration,
    panic_on_send: bool,
}

impl SendCountingProvider {
    /// A provider that pauses `delay` inside every hand-over (widening races).
    pub fn with_delay(delay: Duration) -> SendCountingProvider {
        SendCountingProvider {
            delay,
            ..SendCountingProvider::default()
        }
    }

    /// A provider that dies (panics) in every hand-over before sending anything.
    pub fn crashing() -> SendCountingProvider {
        SendCountingProvider {
            panic_on_send: true,
            ..SendCountingProvider::default()
        }
    }

    /// Hand-overs per transaction id.
    pub fn sends(&self) -> std::collections::BTreeMap<TransactionId, usize> {
        self.sends.lock().expect("sends").clone()
    }
}

#[async_trait]
impl CustodyProvider for SendCountingProvider {
    fn name(&self) -> &'static str {
        "conformance-sends"
    }

    fn serves(&self, _asset: AssetId) -> Result<(), ProviderError> {
        Ok(())
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        Ok(MintedAddress {
            address: CountingProvider::address_for(request)?,
            provider_ref: None,
            provider: "conformance-sends",
        })
    }

    async fn submit_withdrawal(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        assert!(!self.panic_on_send, "simulated crash before the send");
        *self
            .sends
            .lock()
            .expect("sends")
            .entry(request.transaction_id)
            .or_default() += 1;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(ProviderTransfer {
            provider_ref: format!("sent-{}", request.transaction_id),
            status: TransactionStatus::PendingSignature,
            tx_hash: None,
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        })
    }

    async fn withdrawal_status(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        let transaction_id = request.transaction_id;
        if !self.sends().contains_key(&transaction_id) {
            return Err(ProviderError::NotFound);
        }
        Ok(ProviderTransfer {
            provider_ref: format!("sent-{transaction_id}"),
            status: TransactionStatus::Completed,
            tx_hash: Some(format!("0x{:0>64}", transaction_id.ulid().0 % 1_000_000)),
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        })
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
        Err(ProviderError::Unverified("not used".into()))
    }
}
