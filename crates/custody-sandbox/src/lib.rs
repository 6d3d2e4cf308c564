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
mod tests {
    use super::*;
    use custody_core::asset::{AssetId, Network, CATALOGUE};
    use custody_core::id::{AddressId, TenantId, VaultId, WalletId};
    use ulid::Ulid;

    fn request(tenant: u64, vault: u64, asset: AssetId, index: u32) -> MintRequest {
        MintRequest {
            address_id: AddressId::from_ulid(Ulid::from_parts(9, u128::from(index) + 1)),
            tenant_id: TenantId::from_ulid(Ulid::from_parts(1, u128::from(tenant))),
            vault_id: VaultId::from_ulid(Ulid::from_parts(2, u128::from(vault))),
            wallet_id: WalletId::from_ulid(Ulid::from_parts(3, 3)),
            asset,
            index,
        }
    }

    fn all_assets() -> Vec<AssetId> {
        CATALOGUE.iter().map(|a| a.id).collect()
    }

    #[test]
    fn deterministic_and_valid_for_every_catalogue_asset() {
        for asset in all_assets() {
            let a = SandboxProvider::address_for(&request(1, 1, asset, 0)).expect("address");
            let again = SandboxProvider::address_for(&request(1, 1, asset, 0)).expect("address");
            assert_eq!(a, again, "{asset}: same input, same address");
            assert_eq!(a.network(), asset.network());
            // The address survives the same validation a partner-supplied one goes through.
            assert_eq!(
                ChainAddress::parse(asset.network(), a.as_str()).expect("valid for its network"),
                a,
                "{asset}"
            );
            match asset.network().address_family() {
                AddressFamily::Evm => {
                    assert_eq!(a.as_str().len(), 42);
                    // EIP-55: mixed case in practice (20 random bytes all-digit is negligible).
                    assert_ne!(a.as_str().to_lowercase(), a.as_str(), "{a}");
                }
                AddressFamily::Solana => assert!((32..=44).contains(&a.as_str().len())),
                AddressFamily::Sui => {
                    assert_eq!(a.as_str().len(), 66);
                    assert!(a.as_str().starts_with("0x"));
                }
            }
        }
    }

    #[test]
    fn every_input_changes_the_address() {
        let usdc_eth = AssetId::parse("USDC_ETHEREUM").expect("asset");
        let usdt_eth = AssetId::parse("USDT_ETHEREUM").expect("asset");
        let usdc_base = AssetId::parse("USDC_BASE").expect("asset");
        let base = SandboxProvider::address_for(&request(1, 1, usdc_eth, 0)).expect("address");
        for other in [
            request(2, 1, usdc_eth, 0),
            request(1, 2, usdc_eth, 0),
            request(1, 1, usdt_eth, 0),
            request(1, 1, usdc_eth, 1),
        ] {
            assert_ne!(
                SandboxProvider::address_for(&other).expect("address"),
                base,
                "{other:?}"
            );
        }
        // Same bytes on another EVM network still differ: the asset id names the network.
        let on_base = SandboxProvider::address_for(&request(1, 1, usdc_base, 0)).expect("address");
        assert_eq!(on_base.network(), Network::Base);
        assert_ne!(on_base.as_str(), base.as_str());
    }

    #[test]
    fn pinned_vector() {
        // Changing the derivation would move every existing sandbox partner's addresses.
        let usdc_sol = AssetId::parse("USDC_SOLANA").expect("asset");
        let a = SandboxProvider::address_for(&request(1, 1, usdc_sol, 0)).expect("address");
        assert_eq!(a.as_str(), PINNED_SOLANA);
    }

    /// Computed independently (Python: hashlib.sha256 of the documented input, then base58).
    const PINNED_SOLANA: &str = "3sK3AAx8DVDdFVqjFTiDc99gHSTTutXmepsC4j45YFzA";

    #[tokio::test]
    async fn mint_returns_the_derived_address_and_refuses_money_movement() {
        let p = SandboxProvider::new();
        let usdc_sui = AssetId::parse("USDC_SUI").expect("asset");
        let req = request(1, 1, usdc_sui, 3);
        let minted = p.mint_address(&req).await.expect("mint");
        assert_eq!(
            minted.address,
            SandboxProvider::address_for(&req).expect("address")
        );
        assert_eq!(
            minted.provider_ref,
            Some(format!("sandbox-{}", req.address_id))
        );
        assert_eq!(p.name(), "sandbox");
        let err = p
            .verify_deposit(&DepositNotice {
                provider: NAME.into(),
                payload: vec![],
                signature: None,
            })
            .await
            .expect_err("not simulated yet");
        assert!(!err.is_retryable());
    }
}
