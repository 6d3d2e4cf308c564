//! The read use cases the dialects need beside the address store: Connect's addresses with
//! their vault's `external_ref`, and an Accounts address checked against its account.

use std::sync::Arc;

use super::*;
use crate::api_key::Scope;
use crate::ports::{
    MockAddressStore, MockCustodyProvider, MockTenantStore, MockUnitOfWork, MockVaultStore,
};
use crate::services::test_support::*;

fn service(vaults: MockVaultStore, addresses: MockAddressStore) -> AddressService {
    AddressService::new(
        Environment::Sandbox,
        Arc::new(MockUnitOfWork::new()),
        Arc::new(MockTenantStore::new()),
        Arc::new(vaults),
        Arc::new(addresses),
        Arc::new(MockCustodyProvider::new()),
        clock(),
        ids(),
        renderer(),
    )
}

fn page() -> PageRequest {
    PageRequest::new(Some(50), None, None).unwrap()
}

fn reference(raw: &str) -> ExternalRef {
    ExternalRef::parse(raw.to_owned()).unwrap()
}

/// A customer vault of the caller's tenant with `external_ref`.
fn customer(n: u128, external_ref: Option<&str>) -> Vault {
    Vault {
        external_ref: external_ref.map(reference),
        ..vault(vault_id(n), VaultStatus::Active)
    }
}

fn address_in(vault: &Vault, n: u128, index: u32) -> DepositAddress {
    deposit_address(
        address_id(n),
        &wallet(wallet_id(n), vault.id, usdt_eth()),
        index,
    )
}

/// A vault store answering `get` for each of `vaults`, at most once per vault.
fn vaults_reading(vaults: Vec<Vault>) -> MockVaultStore {
    let mut store = MockVaultStore::new();
    for v in vaults {
        let id = v.id;
        store
            .expect_get()
            .withf(move |t, got| *t == tenant() && *got == id)
            .times(1)
            .returning(move |_, _| Ok(v.clone()));
    }
    store
}

#[tokio::test]
async fn lists_each_address_with_its_vault_reference_reading_each_vault_once() {
    let alice = customer(1, Some("alice"));
    let treasury = customer(2, None);
    let listed = vec![
        address_in(&alice, 1, 0),
        address_in(&treasury, 2, 0),
        address_in(&alice, 3, 1),
    ];
    let mut addresses = MockAddressStore::new();
    let answer = listed.clone();
    addresses
        .expect_list()
        .withf(|t, filter, _| *t == tenant() && *filter == AddressFilter::default())
        .times(1)
        .returning(move |_, _, _| {
            Ok(Page {
                items: answer.clone(),
                has_more: true,
            })
        });
    let service = service(vaults_reading(vec![alice, treasury]), addresses);

    let page = service
        .list_for_reference(&caller(), None, page())
        .await
        .unwrap();

    assert!(page.has_more);
    let seen: Vec<(AddressId, Option<&str>)> = page
        .items
        .iter()
        .map(|a| {
            (
                a.address.id,
                a.external_ref.as_ref().map(ExternalRef::as_str),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (address_id(1), Some("alice")),
            (address_id(2), None),
            (address_id(3), Some("alice")),
        ]
    );
}

#[tokio::test]
async fn a_reference_filters_by_its_vault_without_reading_it_again() {
    let alice = customer(1, Some("alice"));
    let mut vaults = MockVaultStore::new();
    let found = alice.clone();
    vaults
        .expect_find_by_external_ref()
        .withf(|t, r| *t == tenant() && r.as_str() == "alice")
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    vaults.expect_get().never();
    let mut addresses = MockAddressStore::new();
    let only = address_in(&alice, 1, 0);
    let alice_id = alice.id;
    addresses
        .expect_list()
        .withf(move |_, filter, _| filter.vault_id == Some(alice_id) && filter.wallet_id.is_none())
        .times(1)
        .returning(move |_, _, _| {
            Ok(Page {
                items: vec![only.clone()],
                has_more: false,
            })
        });

    let page = service(vaults, addresses)
        .list_for_reference(&caller(), Some(&reference("alice")), page())
        .await
        .unwrap();

    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].external_ref, Some(reference("alice")));
}

#[tokio::test]
async fn an_unknown_reference_lists_nothing() {
    let mut vaults = MockVaultStore::new();
    vaults
        .expect_find_by_external_ref()
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let mut addresses = MockAddressStore::new();
    addresses.expect_list().never();

    let page = service(vaults, addresses)
        .list_for_reference(&caller(), Some(&reference("nobody")), page())
        .await
        .unwrap();

    assert!(page.items.is_empty());
    assert!(!page.has_more);
}

#[tokio::test]
async fn listing_by_reference_needs_the_read_scope_even_for_an_unknown_user() {
    let mut vaults = MockVaultStore::new();
    vaults.expect_find_by_external_ref().never();
    let mut addresses = MockAddressStore::new();
    addresses.expect_list().never();
    let service = service(vaults, addresses);
    for reference in [None, Some(reference("nobody"))] {
        let err = service
            .list_for_reference(
                &caller_without(Scope::AddressesRead),
                reference.as_ref(),
                page(),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MissingScope(Scope::AddressesRead)),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn reads_one_address_with_its_vault_reference() {
    let alice = customer(1, Some("alice"));
    let address = address_in(&alice, 1, 0);
    let mut addresses = MockAddressStore::new();
    let answer = address.clone();
    // One read of the address with its vault's reference; the vault store is not asked (a
    // mock without expectations fails the test on any call).
    addresses
        .expect_get_with_reference()
        .withf(|t, id| *t == tenant() && *id == address_id(1))
        .times(1)
        .returning(move |_, _| Ok((answer.clone(), alice.external_ref.clone())));

    let read = service(MockVaultStore::new(), addresses)
        .get_with_reference(&caller(), address_id(1))
        .await
        .unwrap();

    assert_eq!(
        read,
        ReferencedAddress {
            address,
            external_ref: Some(reference("alice")),
        }
    );
}

#[tokio::test]
async fn an_address_of_another_wallet_is_not_found_in_this_one() {
    let alice = customer(1, Some("alice"));
    let address = address_in(&alice, 1, 0);
    let mut addresses = MockAddressStore::new();
    addresses
        .expect_get()
        .times(2)
        .returning(move |_, _| Ok(address.clone()));
    let service = service(MockVaultStore::new(), addresses);

    let own = service
        .get_in_wallet(&caller(), wallet_id(1), address_id(1))
        .await
        .unwrap();
    assert_eq!(own.wallet_id, wallet_id(1));

    let err = service
        .get_in_wallet(&caller(), wallet_id(2), address_id(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Address)),
        "{err:?}"
    );
}
