//! `wallet_ids_of_vault`: the Platform `vaultId` filter of `GET /v1/transactions`.

use std::sync::Arc;

use super::*;
use crate::api_key::ScopeSet;
use crate::environment::Environment;
use crate::ports::{
    MockAddressStore, MockCustodyProvider, MockTenantStore, MockTransactionStore, MockUnitOfWork,
    MockVaultStore, MockWalletStore,
};
use crate::services::test_support::*;
use crate::vault::VaultStatus;

fn service(vaults: MockVaultStore, wallets: MockWalletStore) -> WalletService {
    let address_service = AddressService::new(
        Environment::Sandbox,
        Arc::new(MockUnitOfWork::new()),
        Arc::new(MockTenantStore::new()),
        Arc::new(MockVaultStore::new()),
        Arc::new(MockAddressStore::new()),
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

#[tokio::test]
async fn collects_every_wallet_of_the_vault_with_only_transactions_read() {
    let mut vaults = MockVaultStore::new();
    vaults
        .expect_get()
        .withf(|t, v| *t == tenant() && *v == vault_id(1))
        .times(1)
        .returning(|_, v| Ok(vault(v, VaultStatus::Active)));
    let mut wallets = MockWalletStore::new();
    wallets
        .expect_list()
        .withf(|t, f, _| *t == tenant() && f.vault_id == Some(vault_id(1)))
        .times(2)
        .returning(|_, _, page| {
            let (items, has_more) = match page.cursor() {
                None => (vec![wallet(wallet_id(1), vault_id(1), usdt_eth())], true),
                Some(_) => (vec![wallet(wallet_id(2), vault_id(1), usdc_sol())], false),
            };
            Ok(Page { items, has_more })
        });
    let reader = caller_with([Scope::TransactionsRead].into_iter().collect::<ScopeSet>());
    let ids = service(vaults, wallets)
        .wallet_ids_of_vault(&reader, vault_id(1))
        .await
        .unwrap();
    assert_eq!(ids, BTreeSet::from([wallet_id(1), wallet_id(2)]));
}

#[tokio::test]
async fn another_tenants_vault_is_not_found() {
    let mut vaults = MockVaultStore::new();
    vaults
        .expect_get()
        .returning(|_, _| Err(StoreError::NotFound));
    let mut wallets = MockWalletStore::new();
    wallets.expect_list().never();
    let err = service(vaults, wallets)
        .wallet_ids_of_vault(&caller(), vault_id(9))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Vault)),
        "{err:?}"
    );
}
