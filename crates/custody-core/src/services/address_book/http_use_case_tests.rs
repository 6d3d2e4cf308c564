//! The Platform use cases: filtered lists and a duplicate that names the existing entry.

use std::sync::Arc;

use super::*;
use crate::address_book::EntryState;
use crate::ports::{MockAddressBookStore, MockStoreTx, MockUnitOfWork};
use crate::services::test_support::*;

const EIP55: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
const SOLANA: &str = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV";

fn entry(n: u128, network: Network, address: &str, status: EntryStatus) -> AddressBookEntry {
    AddressBookEntry {
        id: AddressBookEntryId::from_ulid(ulid::Ulid::from_parts(1_714_564_800_000, n)),
        tenant_id: tenant(),
        network,
        address: ChainAddress::parse(network, address).unwrap(),
        label: Label::parse("cold").unwrap(),
        asset: None,
        status,
        version: 1,
        created_at: T0,
        activates_at: T0,
        deleted_at: None,
    }
}

fn book() -> Vec<AddressBookEntry> {
    vec![
        entry(1, Network::Ethereum, EIP55, EntryStatus::Deleted),
        entry(2, Network::Solana, SOLANA, EntryStatus::Active),
        entry(3, Network::Ethereum, EIP55, EntryStatus::Active),
    ]
}

/// A store over [`book`] that serves one page, selecting what `filter` matches at `now` as
/// the store's query does.
fn store(times: usize) -> MockAddressBookStore {
    let mut entries = MockAddressBookStore::new();
    entries
        .expect_list()
        .times(times)
        .returning(|t, filter, now, _| {
            assert_eq!(t, tenant());
            Ok(Page {
                items: book()
                    .into_iter()
                    .filter(|e| filter.matches(e, now))
                    .collect(),
                has_more: false,
            })
        });
    entries
}

fn service(uow: MockUnitOfWork, entries: MockAddressBookStore) -> AddressBookService {
    AddressBookService::new(Arc::new(uow), Arc::new(entries), clock(), ids(), renderer())
}

fn ids_of(page: &Page<AddressBookEntry>) -> Vec<u128> {
    page.items.iter().map(|e| e.id.ulid().random()).collect()
}

#[tokio::test]
async fn filters_by_network_and_status() {
    let svc = service(MockUnitOfWork::new(), store(3));
    let eth = AddressBookFilter {
        network: Some(Network::Ethereum),
        ..AddressBookFilter::default()
    };
    let page = svc
        .list_filtered(&caller(), &eth, T0, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        ids_of(&page),
        vec![3],
        "deleted entries are left out by default"
    );

    let deleted = AddressBookFilter {
        state: Some(EntryState::Deleted),
        ..AddressBookFilter::default()
    };
    let page = svc
        .list_filtered(&caller(), &deleted, T0, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(ids_of(&page), vec![1]);

    let usdt = AddressBookFilter {
        asset: Some(usdt_eth()),
        ..AddressBookFilter::default()
    };
    let page = svc
        .list_filtered(&caller(), &usdt, T0, PageRequest::default())
        .await
        .unwrap();
    assert!(page.items.is_empty(), "no entry is restricted to USDT");
}

#[tokio::test]
async fn filtered_lists_need_the_read_scope() {
    let svc = service(MockUnitOfWork::new(), store(0));
    let err = svc
        .list_filtered(
            &caller_without(Scope::AddressBookRead),
            &AddressBookFilter::default(),
            T0,
            PageRequest::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::AddressBookRead)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_duplicate_names_the_entry_that_holds_the_address() {
    let mut tx = MockStoreTx::new();
    allow_tenant_policy(&mut tx, approved_policy());
    tx.expect_insert_address_book_entry().return_once(|_| {
        Err(StoreError::Conflict {
            constraint: "address_book_active_key".into(),
        })
    });
    tx.expect_commit().never();
    let uow = uow_with(vec![tx]);
    let existing = book()[2].id;
    let err = service(uow, store(1))
        .create(
            &caller(),
            NewAddressBookEntry {
                network: Network::Ethereum,
                address: EIP55.to_lowercase(),
                label: Label::parse("again").unwrap(),
                asset: None,
            },
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), "address_book_entry_exists");
    assert!(
        err.to_string().contains(&existing.to_string()),
        "names the existing entry: {err}"
    );
}
