//! `check_vault_for_transactions`: the Platform `vaultId` filter of `GET /v1/transactions`.

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
async fn checks_the_vault_with_only_transactions_read_and_reads_no_wallet() {
    let mut vaults = MockVaultStore::new();
    vaults
        .expect_get()
        .withf(|t, v| *t == tenant() && *v == vault_id(1))
        .times(1)
        .returning(|_, v| Ok(vault(v, VaultStatus::Active)));
    let mut wallets = MockWalletStore::new();
    wallets.expect_list().never();
    let reader = caller_with([Scope::TransactionsRead].into_iter().collect::<ScopeSet>());
    service(vaults, wallets)
        .check_vault_for_transactions(&reader, vault_id(1))
        .await
        .unwrap();
    let err = service(MockVaultStore::new(), MockWalletStore::new())
        .check_vault_for_transactions(&caller_without(Scope::TransactionsRead), vault_id(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::TransactionsRead)),
        "{err:?}"
    );
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
        .check_vault_for_transactions(&caller(), vault_id(9))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Vault)),
        "{err:?}"
    );
}
