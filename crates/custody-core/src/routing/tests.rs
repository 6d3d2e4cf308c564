use std::sync::Arc;

use super::*;
use crate::amount::Amount;
use crate::asset::{AssetSymbol, Network};
use crate::chain_address::ChainAddress;
use crate::id::{AddressId, TenantId, TransactionId, VaultId, WalletId};
use crate::ports::MockCustodyProvider;
use crate::transaction::TransactionStatus;

fn asset(symbol: AssetSymbol, network: Network) -> AssetId {
    AssetId::new(symbol, network).expect("catalogue asset")
}

fn usdt_eth() -> AssetId {
    asset(AssetSymbol::Usdt, Network::Ethereum)
}

fn usdc_base() -> AssetId {
    asset(AssetSymbol::Usdc, Network::Base)
}

fn xaut_eth() -> AssetId {
    asset(AssetSymbol::Xaut, Network::Ethereum)
}

/// A provider named `name` that serves everything but `refuses`.
fn provider(name: &'static str, refuses: Option<AssetId>) -> MockCustodyProvider {
    let mut p = MockCustodyProvider::new();
    p.expect_name().return_const(name);
    p.expect_serves().returning(move |asset| {
        if Some(asset) == refuses {
            Err(ProviderError::Rejected(format!("{name} has no {asset}")))
        } else {
            Ok(())
        }
    });
    p
}

fn mint_request(asset: AssetId) -> MintRequest {
    MintRequest {
        address_id: AddressId::from_ulid(ulid::Ulid::from_parts(1, 1)),
        tenant_id: TenantId::from_ulid(ulid::Ulid::from_parts(1, 2)),
        vault_id: VaultId::from_ulid(ulid::Ulid::from_parts(1, 3)),
        wallet_id: WalletId::from_ulid(ulid::Ulid::from_parts(1, 4)),
        asset,
        index: 0,
    }
}

fn withdrawal_request(transaction_id: TransactionId, asset: AssetId) -> WithdrawalRequest {
    WithdrawalRequest {
        transaction_id,
        wallet_id: WalletId::from_ulid(ulid::Ulid::from_parts(1, 4)),
        asset,
        amount: Amount::from_base_units(1),
        destination: ChainAddress::from_evm_bytes(asset.network(), [9; 20]).expect("evm address"),
        recorded_at: time::OffsetDateTime::UNIX_EPOCH,
        provider_ref: None,
    }
}

fn evm(network: Network, byte: u8) -> ChainAddress {
    ChainAddress::from_evm_bytes(network, [byte; 20]).expect("evm address")
}

#[tokio::test]
async fn each_asset_reaches_only_its_provider() {
    let mut bitgo = provider("bitgo", None);
    bitgo
        .expect_mint_address()
        .withf(|r| r.asset == usdt_eth())
        .times(1)
        .returning(|_| {
            Ok(MintedAddress {
                address: evm(Network::Ethereum, 1),
                provider_ref: Some("bg-1".into()),
                provider: "bitgo",
            })
        });
    let mut rhino = provider("rhino", None);
    rhino
        .expect_mint_address()
        .withf(|r| r.asset == usdc_base())
        .times(1)
        .returning(|_| {
            Ok(MintedAddress {
                address: evm(Network::Base, 2),
                provider_ref: None,
                provider: "rhino",
            })
        });
    let router = ProviderRouter::new([
        (usdt_eth(), Arc::new(bitgo) as DynCustodyProvider),
        (usdc_base(), Arc::new(rhino) as DynCustodyProvider),
    ])
    .expect("routes");

    let eth = router
        .mint_address(&mint_request(usdt_eth()))
        .await
        .expect("bitgo mints");
    assert_eq!(eth.provider, "bitgo");
    let base = router
        .mint_address(&mint_request(usdc_base()))
        .await
        .expect("rhino mints");
    assert_eq!(base.provider, "rhino");
    assert_eq!(base.address, evm(Network::Base, 2));
}

#[tokio::test]
async fn an_unrouted_asset_is_rejected_without_calling_anyone() {
    let mut bitgo = provider("bitgo", None);
    bitgo.expect_mint_address().never();
    bitgo.expect_submit_withdrawal().never();
    bitgo.expect_withdrawal_status().never();
    let router =
        ProviderRouter::new([(usdt_eth(), Arc::new(bitgo) as DynCustodyProvider)]).expect("routes");

    let err = router
        .mint_address(&mint_request(usdc_base()))
        .await
        .expect_err("no route");
    assert!(matches!(&err, ProviderError::Rejected(m) if m.contains("USDC_BASE")));
    assert!(!err.is_retryable());
    let err = router
        .withdrawal_status(&withdrawal_request(
            TransactionId::from_ulid(ulid::Ulid::from_parts(2, 2)),
            xaut_eth(),
        ))
        .await
        .expect_err("no route");
    assert!(matches!(err, ProviderError::Rejected(_)));
    assert!(router.serves(usdt_eth()).is_ok());
    assert!(router.serves(usdc_base()).is_err());
    assert_eq!(
        router.unrouted([xaut_eth(), usdt_eth(), usdc_base(), xaut_eth()]),
        vec![usdc_base(), xaut_eth()]
    );
}

#[test]
fn a_route_the_provider_cannot_serve_is_refused_when_built() {
    let rhino: DynCustodyProvider = Arc::new(provider("rhino", Some(xaut_eth())));
    let err = ProviderRouter::new([(usdc_base(), rhino.clone()), (xaut_eth(), rhino)])
        .expect_err("rhino cannot serve XAUT");
    assert_eq!(
        err,
        RouteError::Unservable {
            asset: xaut_eth(),
            provider: "rhino",
            reason: "rhino has no XAUT_ETHEREUM".into(),
        }
    );
}

#[test]
fn two_providers_with_one_name_are_refused() {
    let a: DynCustodyProvider = Arc::new(provider("bitgo", None));
    let b: DynCustodyProvider = Arc::new(provider("bitgo", None));
    let err = ProviderRouter::new([(usdt_eth(), a), (xaut_eth(), b)]).expect_err("ambiguous");
    assert_eq!(err, RouteError::DuplicateName("bitgo"));
}

#[tokio::test]
async fn withdrawals_follow_the_asset_and_notices_follow_the_provider_name() {
    let tx = TransactionId::from_ulid(ulid::Ulid::from_parts(3, 3));
    let mut bitgo = provider("bitgo", None);
    bitgo
        .expect_withdrawal_status()
        .withf(move |r| r.transaction_id == tx && r.asset == usdt_eth())
        .times(1)
        .returning(|_| {
            Ok(ProviderTransfer {
                provider_ref: "bg-transfer".into(),
                status: TransactionStatus::Confirming,
                tx_hash: None,
                failure_reason: None,
                confirmations: None,
                outcome_ambiguous: false,
            })
        });
    bitgo.expect_verify_deposit().never();
    let mut rhino = provider("rhino", None);
    rhino
        .expect_verify_deposit()
        .withf(|n| n.payload == b"{}")
        .times(1)
        .returning(|_| {
            Ok(VerifiedDeposit {
                provider_ref: "bridge-1".into(),
                asset: usdc_base(),
                amount: Amount::from_base_units(5_000_000),
                address: evm(Network::Base, 2),
                tx_hash: None,
                status: TransactionStatus::Completed,
                confirmations: None,
            })
        });
    let router = ProviderRouter::new([
        (usdt_eth(), Arc::new(bitgo) as DynCustodyProvider),
        (usdc_base(), Arc::new(rhino) as DynCustodyProvider),
    ])
    .expect("routes");

    let transfer = router
        .withdrawal_status(&withdrawal_request(tx, usdt_eth()))
        .await
        .expect("status");
    assert_eq!(transfer.provider_ref, "bg-transfer");
    let deposit = router
        .verify_deposit(&DepositNotice {
            provider: "rhino".into(),
            payload: b"{}".to_vec(),
            signature: Some("00".into()),
        })
        .await
        .expect("verified by rhino");
    assert_eq!(deposit.provider_ref, "bridge-1");
    let err = router
        .verify_deposit(&DepositNotice {
            provider: "fireblocks".into(),
            payload: b"{}".to_vec(),
            signature: None,
        })
        .await
        .expect_err("unknown provider");
    assert!(matches!(err, ProviderError::Unverified(m) if m.contains("fireblocks")));
}
