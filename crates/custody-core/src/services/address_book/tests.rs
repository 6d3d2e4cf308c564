use std::sync::Arc;

use super::*;
use crate::address_book::DestinationRefusal;
use crate::api_key::ScopeSet;
use crate::ports::{MockAddressBookStore, MockStoreTx, MockUnitOfWork};
use crate::services::test_support::*;

const LOWER: &str = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed";
const EIP55: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

fn entry_id() -> AddressBookEntryId {
    AddressBookEntryId::from_ulid(ulid::Ulid::from_parts(1_714_564_800_000, 0xabe_0001))
}

fn new_entry(network: Network, address: &str, asset: Option<&str>) -> NewAddressBookEntry {
    NewAddressBookEntry {
        network,
        address: address.to_owned(),
        label: Label::parse("treasury cold wallet").unwrap(),
        asset: asset.map(|a| AssetId::parse(a).unwrap()),
    }
}

fn stored(status: EntryStatus) -> AddressBookEntry {
    AddressBookEntry {
        id: entry_id(),
        tenant_id: tenant(),
        network: Network::Ethereum,
        address: ChainAddress::parse(Network::Ethereum, EIP55).unwrap(),
        label: Label::parse("treasury cold wallet").unwrap(),
        asset: None,
        status,
        version: 1,
        created_at: T0,
        deleted_at: None,
        activates_at: T0,
    }
}

fn service(uow: MockUnitOfWork) -> AddressBookService {
    service_with(uow, MockAddressBookStore::new())
}

fn service_with(uow: MockUnitOfWork, entries: MockAddressBookStore) -> AddressBookService {
    AddressBookService::new(Arc::new(uow), Arc::new(entries), clock(), ids(), renderer())
}

#[tokio::test]
async fn add_canonicalises_an_evm_address_and_commits_with_its_event() {
    let mut tx = MockStoreTx::new();
    allow_tenant_policy(&mut tx, approved_policy());
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let key = idempotency_key("abe-1");
    let respond = |_: &AddressBookEntry| stored_response(201, "{}");
    let entry = service(uow_with(vec![tx]))
        .add(
            &caller(),
            new_entry(Network::Ethereum, LOWER, Some("USDT_ETHEREUM")),
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap();

    assert_eq!(entry.address.as_str(), EIP55);
    assert_eq!(entry.network, Network::Ethereum);
    assert_eq!(entry.status, EntryStatus::Active);
    assert_eq!(entry.tenant_id, tenant());
    assert_eq!(entry.asset, Some(usdt_eth()));
    assert_eq!(
        (entry.version, entry.created_at, entry.deleted_at),
        (1, T0, None)
    );
    let writes = log.all();
    assert!(
        matches!(&writes[0], StoreWrite::InsertEntry(e) if *e == entry),
        "{writes:?}"
    );
    assert_eq!(log.event_types(), vec![EventType::AddressBookEntryCreated]);
    assert_eq!(log.events()[0].data.resource_id, entry.id.to_string());
    assert!(matches!(writes.last(), Some(StoreWrite::Commit)));
    assert!(matches!(
        writes[writes.len() - 2],
        StoreWrite::CompleteIdempotency(_)
    ));
}

#[tokio::test]
async fn add_accepts_the_other_address_families() {
    for (network, address) in [
        (
            Network::Solana,
            "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
        ),
        (
            Network::Sui,
            "0x02a212de6a9dfa3a69e22387acfbafbb1a9e591bd9d636e7895dcfc8de05f331",
        ),
        (Network::Base, EIP55),
    ] {
        let mut tx = MockStoreTx::new();
        allow_tenant_policy(&mut tx, approved_policy());
        let log = record_writes(&mut tx);
        record_commit(&mut tx, &log);
        let entry = service(uow_with(vec![tx]))
            .add(&caller(), new_entry(network, address, None), None)
            .await
            .unwrap();
        assert_eq!(entry.address.as_str(), address);
        assert_eq!(entry.address.network(), network);
    }
}

#[tokio::test]
async fn add_refuses_invalid_addresses_for_the_network() {
    let bad_checksum = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD";
    for (network, address, code) in [
        (Network::Ethereum, bad_checksum, "address_bad_checksum"),
        (Network::Ethereum, "", "address_empty"),
        (Network::Ethereum, "0x1234", "address_invalid"),
        (
            Network::Ethereum,
            "4Nd1mBQtrMJVYVfKf2PJy9NZUZdTAsp7D4xWLs4gDB4T",
            "address_wrong_network",
        ),
        (Network::Solana, LOWER, "address_wrong_network"),
    ] {
        // The store is never opened for a refused address.
        let err = service(uow_with(vec![]))
            .add(&caller(), new_entry(network, address, None), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidField { field: "address", code: c, .. } if c == code),
            "{network} {address:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn add_refuses_an_asset_of_another_network() {
    let err = service(uow_with(vec![]))
        .add(
            &caller(),
            new_entry(Network::Ethereum, LOWER, Some("USDC_BASE")),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "asset_network_mismatch",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn add_of_an_address_already_in_the_book_is_a_conflict() {
    let mut tx = MockStoreTx::new();
    allow_tenant_policy(&mut tx, approved_policy());
    tx.expect_insert_address_book_entry()
        .times(1)
        .returning(|_| {
            Err(StoreError::Conflict {
                constraint: "address_book_active_key".into(),
            })
        });
    tx.expect_append_event().never();
    tx.expect_complete_idempotency().never();
    tx.expect_commit().never();
    let err = service(uow_with(vec![tx]))
        .add(&caller(), new_entry(Network::Ethereum, LOWER, None), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                code: "address_book_entry_exists",
                ..
            }
        ),
        "{err:?}"
    );
}

fn locking(entry: AddressBookEntry) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_book_entry()
        .withf(|t, id| *t == tenant() && *id == entry_id())
        .times(1)
        .return_once(move |_, _| Ok(entry));
    tx
}

#[tokio::test]
async fn delete_marks_the_entry_deleted_and_emits_an_event() {
    let mut tx = locking(stored(EntryStatus::Active));
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let entry = service(uow_with(vec![tx]))
        .delete(&caller(), entry_id(), None)
        .await
        .unwrap();
    assert_eq!(entry.status, EntryStatus::Deleted);
    assert_eq!(entry.deleted_at, Some(T0));
    assert_eq!(entry.version, 2);
    let writes = log.all();
    assert!(
        matches!(&writes[0], StoreWrite::UpdateEntry(e) if *e == entry),
        "{writes:?}"
    );
    assert_eq!(log.event_types(), vec![EventType::AddressBookEntryDeleted]);
    assert_eq!(log.events()[0].data.snapshot["status"], "deleted");
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn deleting_a_deleted_entry_is_refused() {
    let mut deleted = stored(EntryStatus::Active);
    deleted.delete(T0).unwrap();
    let mut tx = locking(deleted);
    forbid_writes(&mut tx);
    let err = service(uow_with(vec![tx]))
        .delete(&caller(), entry_id(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Destination(DestinationRefusal::Inactive)),
        "{err:?}"
    );
}

#[tokio::test]
async fn deleting_another_tenants_entry_is_not_found() {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_book_entry()
        .returning(|_, _| Err(StoreError::NotFound));
    forbid_writes(&mut tx);
    let err = service(uow_with(vec![tx]))
        .delete(&caller(), entry_id(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::AddressBookEntry)),
        "{err:?}"
    );
}

#[tokio::test]
async fn writes_need_address_book_write() {
    let read_only = caller_with([Scope::AddressBookRead].into_iter().collect::<ScopeSet>());
    let svc = service(uow_with(vec![]));
    let err = svc
        .add(&read_only, new_entry(Network::Ethereum, LOWER, None), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::AddressBookWrite)),
        "{err:?}"
    );
    let err = svc.delete(&read_only, entry_id(), None).await.unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::AddressBookWrite)),
        "{err:?}"
    );
}

#[tokio::test]
async fn reads_need_address_book_read() {
    let mut entries = MockAddressBookStore::new();
    entries
        .expect_get()
        .withf(|t, id| *t == tenant() && *id == entry_id())
        .times(1)
        .returning(|_, _| Ok(stored(EntryStatus::Active)));
    entries.expect_list().never();
    let svc = service_with(uow_with(vec![]), entries);

    let write_only = caller_with([Scope::AddressBookWrite].into_iter().collect::<ScopeSet>());
    let err = svc.get(&write_only, entry_id()).await.unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::AddressBookRead)),
        "{err:?}"
    );
    let err = svc
        .list_filtered(
            &write_only,
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

    let read_only = caller_with([Scope::AddressBookRead].into_iter().collect::<ScopeSet>());
    let entry = svc.get(&read_only, entry_id()).await.unwrap();
    assert_eq!(entry.id, entry_id());
}

#[tokio::test]
async fn a_tenant_with_a_cooling_off_period_gets_pending_entries() {
    let mut tx = MockStoreTx::new();
    allow_tenant_policy(
        &mut tx,
        crate::tenant::TenantPolicy {
            status: crate::tenant::TenantStatus::Approved,
            address_book_cooling_off: Some(time::Duration::hours(24)),
        },
    );
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let entry = service(uow_with(vec![tx]))
        .add(&caller(), new_entry(Network::Ethereum, LOWER, None), None)
        .await
        .unwrap();
    assert_eq!(entry.activates_at, T0 + time::Duration::hours(24));
    assert_eq!(entry.state_at(T0), crate::address_book::EntryState::Pending);
    assert_eq!(
        entry.state_at(entry.activates_at),
        crate::address_book::EntryState::Active
    );
}

#[tokio::test]
async fn without_a_cooling_off_period_an_entry_is_active_at_once() {
    let mut tx = MockStoreTx::new();
    allow_tenant_policy(&mut tx, approved_policy());
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let entry = service(uow_with(vec![tx]))
        .add(&caller(), new_entry(Network::Ethereum, LOWER, None), None)
        .await
        .unwrap();
    assert_eq!(entry.activates_at, entry.created_at);
    assert_eq!(entry.state_at(T0), crate::address_book::EntryState::Active);
}
