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
async fn mint_returns_the_derived_address_and_refuses_notifications() {
    let p = SandboxProvider::new(
        ChainConfig::default(),
        Arc::new(custody_core::ports::FixedClock::new(
            time::OffsetDateTime::UNIX_EPOCH,
        )),
    );
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
        .expect_err("the sandbox is never notified");
    assert!(!err.is_retryable());
}
