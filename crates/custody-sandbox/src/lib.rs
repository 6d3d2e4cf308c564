//! # custody-sandbox: deterministic fake custody
//!
//! Implements [`custody_core::ports::CustodyProvider`] for the sandbox environment. It never
//! opens a network connection: it is the half of the compliance boundary that sandbox traffic
//! reaches instead of real custody, so it depends on `custody-core`, hash functions and
//! encoders only (CI checks that no HTTP client ever enters its dependency tree).
//!
//! ## Addresses
//! The same (tenant, vault, asset, index) always yields the same address: the bytes are
//! `SHA-256("custody-sandbox/v1/address\n{tenant}\n{vault}\n{asset}\n{index}")`, rendered for the
//! asset's network — the first 20 bytes as an EIP-55 checksummed `0x…` address on EVM networks
//! (ethereum, base, ink), all 32 bytes in base58 on Solana, `0x` + 64 hex on Sui. The asset id
//! names the network (`USDC_SOLANA`), so the network is part of the input. Sandbox addresses
//! are well-formed but nobody holds their keys: never send real funds to one.
//!
//! ## The simulated chain ([`chain`])
//! Stateless: a withdrawal's state is a pure function of (when it was recorded, the injected
//! clock's now, its amount, its network's timing); a simulated deposit's provider reference
//! carries when it was seen, its amount and address, so a restart loses no progress. The
//! schedule ([`ChainConfig`]), the magic amounts ([`Magic`]) and the transaction hashes
//! ([`chain::tx_hash`]) are documented in docs/platform.md, "Sandbox simulation".
//!
//! The provider counts hand-overs per transaction id ([`SandboxProvider::sends`]) for tests
//! that prove a withdrawal is handed over once; the count is observed, never acted on.

pub mod chain;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use custody_core::asset::{AddressFamily, AssetId};
use custody_core::chain_address::ChainAddress;
use custody_core::id::TransactionId;
use custody_core::ports::{
    CustodyBalance, CustodyProvider, DepositNotice, DynClock, MintRequest, MintedAddress,
    ProviderError, ProviderTransfer, Settlement, SimulatedDepositRequest, VerifiedDeposit,
    WithdrawalRequest,
};
use sha2::{Digest, Sha256};
use ulid::Ulid;

pub use chain::{ChainConfig, Magic, NetworkTiming, SimulatedDeposit};

/// The provider name stored with what the sandbox creates.
pub const NAME: &str = "sandbox";

/// The sandbox custody provider: the simulated chain's timing and a clock. Cheap to clone;
/// clones share the hand-over counter.
#[derive(Clone)]
pub struct SandboxProvider {
    chain: Arc<ChainConfig>,
    clock: DynClock,
    sends: Arc<Mutex<BTreeMap<TransactionId, u32>>>,
}

impl fmt::Debug for SandboxProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxProvider")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

impl SandboxProvider {
    /// A sandbox provider playing `chain` by `clock`.
    pub fn new(chain: ChainConfig, clock: DynClock) -> SandboxProvider {
        SandboxProvider {
            chain: Arc::new(chain),
            clock,
            sends: Arc::default(),
        }
    }

    /// The simulated chain's timing.
    pub fn chain(&self) -> &ChainConfig {
        &self.chain
    }

    /// How many times a withdrawal was handed over ([`CustodyProvider::submit_withdrawal`]
    /// calls for its transaction id, answered or not) since this provider was built.
    pub fn sends(&self, transaction_id: TransactionId) -> u32 {
        self.counts().get(&transaction_id).copied().unwrap_or(0)
    }

    /// Hand-overs per transaction id, for every withdrawal handed over so far.
    pub fn all_sends(&self) -> BTreeMap<TransactionId, u32> {
        self.counts().clone()
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, BTreeMap<TransactionId, u32>> {
        self.sends.lock().unwrap_or_else(PoisonError::into_inner)
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

/// Appends one hand-over to the send log and syncs it before the hand-over is answered, so a
/// process killed right after still has it on disk. Lines are short enough for `O_APPEND` to
/// keep concurrent writers' lines whole.
fn log_send(path: &std::path::Path, transaction: TransactionId) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(format!("{transaction}\n").as_bytes())?;
    file.sync_data()
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

    /// Idempotent on the transaction id without keeping anything: the answer is the
    /// withdrawal's state on the simulated chain, the same for every repeat at one instant.
    async fn submit_withdrawal(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        *self.counts().entry(request.transaction_id).or_insert(0) += 1;
        if let Some(path) = self.chain.send_log() {
            log_send(path, request.transaction_id)
                .map_err(|e| ProviderError::Unavailable(format!("sandbox send log: {e}")))?;
        }
        chain::submit(&self.chain, request, self.clock.now())
    }

    async fn withdrawal_status(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        chain::withdrawal_status(&self.chain, request, self.clock.now())
    }

    async fn deposit_status(
        &self,
        provider_ref: &str,
        asset: AssetId,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let deposit = SimulatedDeposit::parse(provider_ref, asset)?;
        Ok(deposit.status(&self.chain, self.clock.now()))
    }

    /// A deposit seen on the simulated chain now (`Realistic`: `Confirming` 0/N), or one
    /// seen long enough ago to be final already (`Instant`).
    async fn simulate_deposit(
        &self,
        request: &SimulatedDepositRequest,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let now = self.clock.now();
        let timing = self.chain.network(request.asset.network());
        let seen_at = match request.settlement {
            Settlement::Realistic => now,
            Settlement::Instant => now - timing.to_finality(),
        };
        let deposit = SimulatedDeposit {
            id: Ulid::from_parts(chain::unix_ms(seen_at), request.nonce.random()),
            asset: request.asset,
            amount: request.amount,
            address: request.address.clone(),
        };
        Ok(deposit.status(&self.chain, now))
    }

    /// The simulated chain keeps no state (so a restart loses nothing), hence no balance of
    /// its own to compare the ledger with: not checkable.
    async fn custody_balance(&self, asset: AssetId) -> Result<CustodyBalance, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "the sandbox's simulated chain is stateless and keeps no {asset} balance of its \
             own: the sandbox ledger is the only record"
        )))
    }

    /// Real deposits never reach the sandbox: it has no chain to be notified from. Simulated
    /// ones are reported by [`simulate_deposit`](CustodyProvider::simulate_deposit).
    async fn verify_deposit(
        &self,
        _notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        Err(ProviderError::Unverified(
            "the sandbox sends no deposit notifications: simulate deposits with \
             POST /v1/sandbox/deposits"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests;
