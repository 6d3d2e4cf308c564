//! The read use cases the dialects need beside the wallet store: enabled assets, wallets with
//! their deposit address, and an account's addresses.

use std::sync::Arc;

use super::*;
use crate::asset::EnabledAssets;
use crate::environment::Environment;
use crate::ports::{
    MockAddressStore, MockCustodyProvider, MockTenantStore, MockTransactionStore, MockUnitOfWork,
    MockVaultStore, MockWalletStore,
};
use crate::services::test_support::*;
use crate::vault::VaultStatus;

fn service(
    tenants: MockTenantStore,
    vaults: MockVaultStore,
    addresses: MockAddressStore,
    wallets: MockWalletStore,
) -> WalletService {
    let address_service = AddressService::new(
        Environment::Sandbox,
        Arc::new(MockUnitOfWork::new()),
        Arc::new(tenants),
        Arc::new(MockVaultStore::new()),
        Arc::new(addresses),
        Arc::new(MockCustodyProvider::new()),
        clock(),
        ids(),
        renderer(),
    );
    WalletService::new(
        address_service,
        Arc::new(vaults),
        Arc::new(wallets),
        Arc::new(MockTransactionStore::new()),
    )
}

fn page() -> PageRequest {
    PageRequest::new(Some(50), None, None).unwrap()
}

fn wallet_n(n: u128) -> Wallet {
    wallet(wallet_id(n), vault_id(1), usdt_eth())
}

#[tokio::test]
async fn assets_are_the_enabled_ones_of_this_environment_ordered_by_id() {
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_enabled_assets()
        .withf(|t, env| *t == tenant() && *env == Environment::Sandbox)
        .times(1)
        .returning(|_, _| {
            Ok([
                asset("USDT_ETHEREUM"),
                asset("USDC_SOLANA"),
                asset("USDC_BASE"),
            ]
            .into_iter()
            .collect::<EnabledAssets>())
        });
    let service = service(
        tenants,
        MockVaultStore::new(),
        MockAddressStore::new(),
        MockWalletStore::new(),
    );

    // No scope is needed: any key of the tenant may see what it can create wallets for.
    let assets = service
        .assets(&caller_with(crate::api_key::ScopeSet::default()))
        .await
        .unwrap();

    let ids: Vec<String> = assets.iter().map(ToString::to_string).collect();
    assert_eq!(ids, ["USDC_BASE", "USDC_SOLANA", "USDT_ETHEREUM"]);
}

#[tokio::test]
async fn a_wallet_reads_with_its_primary_address_or_none_yet() {
    let with = wallet_n(1);
    let without = wallet_n(2);
    let primary = deposit_address(address_id(1), &with, 0);
    let mut wallets = MockWalletStore::new();
    for w in [with.clone(), without.clone()] {
        let id = w.id;
        wallets
            .expect_get()
            .withf(move |t, got| *t == tenant() && *got == id)
            .times(1)
            .returning(move |_, _| Ok(w.clone()));
    }
    let mut addresses = MockAddressStore::new();
    let answer = primary.clone();
    addresses
        .expect_primary_for_wallet()
        .withf(|t, w| *t == tenant() && *w == wallet_id(1))
        .times(1)
        .returning(move |_, _| Ok(answer.clone()));
    addresses
        .expect_primary_for_wallet()
        .withf(|_, w| *w == wallet_id(2))
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let service = service(
        MockTenantStore::new(),
        MockVaultStore::new(),
        addresses,
        wallets,
    );

    let read = service
        .get_with_address(&caller(), wallet_id(1))
        .await
        .unwrap();
    assert_eq!(
        read,
        WalletView {
            wallet: with,
            deposit_address: Some(primary),
        }
    );
    let read = service
        .get_with_address(&caller(), wallet_id(2))
        .await
        .unwrap();
    assert_eq!(read.deposit_address, None);
}

#[tokio::test]
async fn a_vaults_wallets_list_with_their_addresses() {
    let mut vaults = MockVaultStore::new();
    vaults
        .expect_get()
        .withf(|t, v| *t == tenant() && *v == vault_id(1))
        .times(1)
        .returning(|_, _| Ok(vault(vault_id(1), VaultStatus::Active)));
    let mut wallets = MockWalletStore::new();
    wallets.expect_list().times(1).returning(|_, _, _| {
        Ok(Page {
            items: vec![wallet_n(1), wallet_n(2)],
            has_more: true,
        })
    });
    let mut addresses = MockAddressStore::new();
    addresses
        .expect_primary_for_wallet()
        .times(2)
        .returning(|_, w| {
            Ok(deposit_address(
                address_id(1),
                &wallet(w, vault_id(1), usdt_eth()),
                0,
            ))
        });
    let filter = WalletFilter {
        vault_id: Some(vault_id(1)),
        asset: None,
    };

    let page = service(MockTenantStore::new(), vaults, addresses, wallets)
        .list_with_addresses(&caller(), &filter, page())
        .await
        .unwrap();

    assert!(page.has_more);
    assert_eq!(page.items.len(), 2);
    for view in &page.items {
        assert_eq!(
            view.deposit_address.as_ref().map(|a| a.wallet_id),
            Some(view.wallet.id)
        );
    }
}

/// A wallet service over just a wallet store and an address store (the account reads).
fn accounts(wallets: MockWalletStore, addresses: MockAddressStore) -> WalletService {
    service(
        MockTenantStore::new(),
        MockVaultStore::new(),
        addresses,
        wallets,
    )
}

/// An address store whose `list` must not be called.
fn unlisted() -> MockAddressStore {
    let mut addresses = MockAddressStore::new();
    addresses.expect_list().never();
    addresses
}

#[tokio::test]
async fn an_accounts_addresses_need_the_scope_then_the_account() {
    // Without the scope nothing is read.
    let mut wallets = MockWalletStore::new();
    wallets.expect_get().never();
    let err = accounts(wallets, unlisted())
        .list_addresses(&caller_without(Scope::AddressesRead), wallet_id(1), page())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::AddressesRead)),
        "{err:?}"
    );

    // An unknown (or another tenant's) account is a 404, not an empty list.
    let mut wallets = MockWalletStore::new();
    wallets
        .expect_get()
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let err = accounts(wallets, unlisted())
        .list_addresses(&caller(), wallet_id(9), page())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Wallet)),
        "{err:?}"
    );

    // A known account lists its own addresses only.
    let mut wallets = MockWalletStore::new();
    wallets
        .expect_get()
        .withf(|t, w| *t == tenant() && *w == wallet_id(1))
        .times(1)
        .returning(|_, _| Ok(wallet_n(1)));
    let mut addresses = MockAddressStore::new();
    addresses
        .expect_list()
        .withf(|t, filter, _| {
            *t == tenant() && filter.wallet_id == Some(wallet_id(1)) && filter.vault_id.is_none()
        })
        .times(1)
        .returning(|_, _, _| {
            Ok(Page {
                items: vec![deposit_address(address_id(1), &wallet_n(1), 0)],
                has_more: false,
            })
        });
    let page = accounts(wallets, addresses)
        .list_addresses(&caller(), wallet_id(1), page())
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}
