use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use mockall::Sequence;

use super::*;
use crate::error::ErrorKind;
use crate::event::Event;
use crate::ports::{MockStoreTx, MockVaultStore};
use crate::services::test_support::*;
use crate::vault::VaultRefusal;

fn service(txs: Vec<MockStoreTx>, vaults: MockVaultStore) -> VaultService {
    VaultService::new(
        Arc::new(uow_with(txs)),
        Arc::new(vaults),
        clock(),
        ids(),
        renderer(),
    )
}

fn untouched_vaults() -> MockVaultStore {
    let mut vaults = MockVaultStore::new();
    vaults.expect_get().never();
    vaults.expect_list().never();
    vaults
}

fn metadata(pairs: &[(&str, &str)]) -> Metadata {
    Metadata::parse(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
    )
    .unwrap()
}

fn new_vault() -> NewVault {
    NewVault {
        external_ref: Some(ExternalRef::parse("cust-42").unwrap()),
        name: VaultName::parse("Alice").unwrap(),
        metadata: metadata(&[("tier", "gold")]),
    }
}

// ---- create ----------------------------------------------------------------------------

#[tokio::test]
async fn create_inserts_an_active_customer_vault_and_announces_it() {
    let mut tx = MockStoreTx::new();
    let inserted = Arc::new(Mutex::new(Vec::<Vault>::new()));
    let sink = Arc::clone(&inserted);
    tx.expect_insert_vault().times(1).returning(move |v| {
        sink.lock().unwrap().push(v.clone());
        Ok(())
    });
    let events = capture_events(&mut tx);
    tx.expect_complete_idempotency().never();
    expect_commit(&mut tx);
    let svc = service(vec![tx], untouched_vaults());

    let vault = svc.create(&caller(), new_vault(), None).await.unwrap();

    assert_eq!(inserted.lock().unwrap().clone(), vec![vault.clone()]);
    assert_eq!(vault.tenant_id, tenant());
    assert_eq!(vault.kind, VaultKind::Customer);
    assert_eq!(vault.status, VaultStatus::Active);
    assert_eq!(vault.version, 1);
    assert_eq!(vault.external_ref, new_vault().external_ref);
    assert_eq!(vault.name, new_vault().name);
    assert_eq!(vault.metadata, new_vault().metadata);
    assert_eq!((vault.created_at, vault.updated_at), (T0, T0));
    let events: Vec<Event> = events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::VaultCreated);
    assert_eq!(events[0].tenant_id, tenant());
    assert_eq!(events[0].data.resource_id, vault.id.to_string());
    assert_eq!(events[0].previous_attributes, None);
}

#[tokio::test]
async fn create_with_a_taken_external_ref_is_a_conflict_and_writes_nothing() {
    let mut tx = MockStoreTx::new();
    tx.expect_insert_vault().times(1).returning(|_| {
        Err(StoreError::Conflict {
            constraint: "vaults_tenant_external_ref_key".into(),
        })
    });
    tx.expect_append_event().never();
    tx.expect_complete_idempotency().never();
    tx.expect_commit().never();
    let svc = service(vec![tx], untouched_vaults());
    let err = svc.create(&caller(), new_vault(), None).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Conflict {
                code: "vault_external_ref_taken",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
}

#[tokio::test]
async fn create_keeps_other_store_errors() {
    let mut tx = MockStoreTx::new();
    tx.expect_insert_vault()
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    tx.expect_commit().never();
    let svc = service(vec![tx], untouched_vaults());
    let err = svc.create(&caller(), new_vault(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[tokio::test]
async fn create_stores_the_idempotent_response_before_committing() {
    let mut tx = MockStoreTx::new();
    tx.expect_insert_vault().returning(|_| Ok(()));
    tx.expect_append_event().returning(|_| Ok(()));
    let mut seq = Sequence::new();
    let stored = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&stored);
    tx.expect_complete_idempotency()
        .withf(|t, k, _, _| *t == tenant() && k.as_str() == "vault-1")
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _, r| {
            sink.lock().unwrap().push(r.clone());
            Ok(())
        });
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let svc = service(vec![tx], untouched_vaults());
    let key = idempotency_key("vault-1");
    let respond = |v: &Vault| stored_response(201, &v.id.to_string());
    let vault = svc
        .create(
            &caller(),
            new_vault(),
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap();
    assert_eq!(stored.lock().unwrap().clone(), vec![respond(&vault)]);
}

#[tokio::test]
async fn create_needs_vaults_write() {
    let svc = service(vec![], untouched_vaults());
    let err = svc
        .create(&caller_without(Scope::VaultsWrite), new_vault(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::VaultsWrite)),
        "{err:?}"
    );
}

// ---- update ----------------------------------------------------------------------------

struct UpdateTx {
    tx: MockStoreTx,
    updated: Arc<Mutex<Vec<Vault>>>,
    events: Arc<Mutex<Vec<Event>>>,
}

/// A transaction that locks `current` and records updates and events.
fn update_tx(current: Vault) -> UpdateTx {
    let mut tx = MockStoreTx::new();
    let id = current.id;
    tx.expect_lock_vault()
        .withf(move |t, v| *t == tenant() && *v == id)
        .times(1)
        .returning(move |_, _| Ok(current.clone()));
    let updated = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&updated);
    tx.expect_update_vault().returning(move |v| {
        sink.lock().unwrap().push(v.clone());
        Ok(())
    });
    let events = capture_events(&mut tx);
    UpdateTx {
        tx,
        updated,
        events,
    }
}

fn status_patch(status: VaultStatus) -> VaultPatch {
    VaultPatch {
        status: Some(status),
        ..VaultPatch::default()
    }
}

#[tokio::test]
async fn freezing_saves_the_vault_and_emits_a_status_update() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Active));
    u.tx.expect_vault_has_funds().never();
    expect_commit(&mut u.tx);
    let svc = service(vec![u.tx], untouched_vaults());

    let frozen = svc
        .update(
            &caller(),
            vault_id(1),
            status_patch(VaultStatus::Frozen),
            None,
        )
        .await
        .unwrap();

    assert_eq!(frozen.status, VaultStatus::Frozen);
    assert_eq!(frozen.version, 2);
    assert_eq!(u.updated.lock().unwrap().clone(), vec![frozen.clone()]);
    let events = u.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::VaultStatusUpdated);
    // Every changed field with its old value (here in the domain's serialisation; the HTTP
    // layer's renderer gives the wire form, see custody-http's events tests).
    let previous = events[0].previous_attributes.clone().unwrap();
    assert_eq!(previous["status"], "Active");
    assert!(
        previous.get("name").is_none(),
        "unchanged fields are left out"
    );
    assert_eq!(events[0].data.version, 2);
    assert_eq!(events[0].data.snapshot["status"], "Frozen");
}

#[tokio::test]
async fn unfreezing_returns_the_vault_to_active() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Frozen));
    u.tx.expect_vault_has_funds().never();
    expect_commit(&mut u.tx);
    let svc = service(vec![u.tx], untouched_vaults());
    let active = svc
        .update(
            &caller(),
            vault_id(1),
            status_patch(VaultStatus::Active),
            None,
        )
        .await
        .unwrap();
    assert_eq!(active.status, VaultStatus::Active);
    assert_eq!(u.updated.lock().unwrap().len(), 1);
    let events = u.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::VaultStatusUpdated);
    // Every changed field with its old value (here in the domain's serialisation; the HTTP
    // layer's renderer gives the wire form, see custody-http's events tests).
    let previous = events[0].previous_attributes.clone().unwrap();
    assert_eq!(previous["status"], "Frozen");
    assert!(
        previous.get("name").is_none(),
        "unchanged fields are left out"
    );
}

#[tokio::test]
async fn archiving_an_empty_vault_succeeds() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Frozen));
    u.tx.expect_vault_has_funds()
        .withf(|v| *v == vault_id(1))
        .times(1)
        .returning(|_| Ok(false));
    expect_commit(&mut u.tx);
    let svc = service(vec![u.tx], untouched_vaults());
    let archived = svc
        .update(
            &caller(),
            vault_id(1),
            status_patch(VaultStatus::Archived),
            None,
        )
        .await
        .unwrap();
    assert_eq!(archived.status, VaultStatus::Archived);
    assert_eq!(u.updated.lock().unwrap().clone(), vec![archived]);
    assert_eq!(event_types(&u.events), vec![EventType::VaultStatusUpdated]);
}

#[tokio::test]
async fn archiving_a_vault_with_funds_is_refused_and_writes_nothing() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Active));
    u.tx.expect_vault_has_funds()
        .times(1)
        .returning(|_| Ok(true));
    u.tx.expect_commit().never();
    let svc = service(vec![u.tx], untouched_vaults());
    let err = svc
        .update(
            &caller(),
            vault_id(1),
            status_patch(VaultStatus::Archived),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "vault_not_empty",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(u.updated.lock().unwrap().is_empty());
    assert!(u.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn reactivating_an_archived_vault_is_an_invalid_transition() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Archived));
    u.tx.expect_vault_has_funds().never();
    u.tx.expect_commit().never();
    let svc = service(vec![u.tx], untouched_vaults());
    let err = svc
        .update(
            &caller(),
            vault_id(1),
            status_patch(VaultStatus::Active),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidTransition { machine: "vault", from, to }
            if from == "Archived" && to == "Active"),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert!(u.updated.lock().unwrap().is_empty());
    assert!(u.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_patch_that_changes_nothing_writes_nothing() {
    let current = Vault {
        metadata: metadata(&[("tier", "gold")]),
        ..vault(vault_id(1), VaultStatus::Active)
    };
    let mut tx = MockStoreTx::new();
    let locked = current.clone();
    tx.expect_lock_vault()
        .times(1)
        .returning(move |_, _| Ok(locked.clone()));
    tx.expect_update_vault().never();
    tx.expect_append_event().never();
    tx.expect_vault_has_funds().never();
    expect_commit(&mut tx);
    let svc = service(vec![tx], untouched_vaults());
    let patch = VaultPatch {
        status: Some(VaultStatus::Active),
        name: Some(current.name.clone()),
        metadata: Some(current.metadata.clone()),
    };
    let same = svc
        .update(&caller(), vault_id(1), patch, None)
        .await
        .unwrap();
    assert_eq!(same, current);
}

#[tokio::test]
async fn renaming_emits_vault_updated_with_the_old_name() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Active));
    expect_commit(&mut u.tx);
    let svc = service(vec![u.tx], untouched_vaults());
    let patch = VaultPatch {
        name: Some(VaultName::parse("Alice Liddell").unwrap()),
        ..VaultPatch::default()
    };
    let renamed = svc
        .update(&caller(), vault_id(1), patch, None)
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Alice Liddell");
    assert_eq!(renamed.status, VaultStatus::Active);
    assert_eq!(renamed.version, 2);
    assert_eq!(u.updated.lock().unwrap().clone(), vec![renamed]);
    let events = u.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, EventType::VaultUpdated);
    let previous = events[0].previous_attributes.clone().unwrap();
    assert_eq!(previous["name"], "Alice");
    assert!(
        previous.get("metadata").is_none(),
        "unchanged fields are left out"
    );
    assert!(
        previous.get("status").is_none(),
        "unchanged fields are left out"
    );
}

#[tokio::test]
async fn a_status_change_and_a_rename_emit_one_event_each_and_save_once() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Active));
    expect_commit(&mut u.tx);
    let svc = service(vec![u.tx], untouched_vaults());
    let patch = VaultPatch {
        status: Some(VaultStatus::Frozen),
        metadata: Some(metadata(&[("kyc", "review")])),
        ..VaultPatch::default()
    };
    let changed = svc
        .update(&caller(), vault_id(1), patch, None)
        .await
        .unwrap();
    assert_eq!(changed.status, VaultStatus::Frozen);
    assert_eq!(changed.metadata, metadata(&[("kyc", "review")]));
    assert_eq!(changed.version, 3);
    assert_eq!(u.updated.lock().unwrap().clone(), vec![changed]);
    assert_eq!(
        event_types(&u.events),
        vec![EventType::VaultStatusUpdated, EventType::VaultUpdated]
    );
}

#[tokio::test]
async fn renaming_an_archived_vault_is_refused() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Archived));
    u.tx.expect_commit().never();
    let svc = service(vec![u.tx], untouched_vaults());
    let patch = VaultPatch {
        name: Some(VaultName::parse("Bob").unwrap()),
        ..VaultPatch::default()
    };
    let err = svc
        .update(&caller(), vault_id(1), patch, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vault(VaultRefusal::Archived)),
        "{err:?}"
    );
    assert!(u.updated.lock().unwrap().is_empty());
}

#[tokio::test]
async fn updating_another_tenants_vault_is_not_found() {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_vault()
        .returning(|_, _| Err(StoreError::NotFound));
    tx.expect_update_vault().never();
    tx.expect_commit().never();
    let svc = service(vec![tx], untouched_vaults());
    let err = svc
        .update(
            &caller(),
            vault_id(5),
            status_patch(VaultStatus::Frozen),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Vault)),
        "{err:?}"
    );
}

#[tokio::test]
async fn update_stores_the_idempotent_response_before_committing() {
    let mut u = update_tx(vault(vault_id(1), VaultStatus::Active));
    let mut seq = Sequence::new();
    u.tx.expect_complete_idempotency()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, r| {
            assert_eq!(r.body, b"Frozen".to_vec());
            Ok(())
        });
    u.tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let svc = service(vec![u.tx], untouched_vaults());
    let key = idempotency_key("patch-1");
    let respond = |v: &Vault| stored_response(200, v.status.as_str());
    svc.update(
        &caller(),
        vault_id(1),
        status_patch(VaultStatus::Frozen),
        Some(IdempotentWrite {
            key: &key,
            reservation: &RESERVATION,
            respond: &respond,
        }),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn update_needs_vaults_write() {
    let svc = service(vec![], untouched_vaults());
    let reader = caller_with([Scope::VaultsRead].into_iter().collect());
    let err = svc
        .update(
            &reader,
            vault_id(1),
            status_patch(VaultStatus::Frozen),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::VaultsWrite)),
        "{err:?}"
    );
}

// ---- reads -----------------------------------------------------------------------------

#[tokio::test]
async fn get_maps_not_found_and_needs_vaults_read() {
    let mut vaults = MockVaultStore::new();
    vaults
        .expect_get()
        .withf(|t, id| *t == tenant() && *id == vault_id(4))
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let svc = service(vec![], vaults);
    let err = svc
        .get(&caller_without(Scope::VaultsRead), vault_id(4))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::VaultsRead)),
        "{err:?}"
    );
    let err = svc.get(&caller(), vault_id(4)).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Vault)),
        "{err:?}"
    );
}

#[tokio::test]
async fn list_passes_the_tenant_and_filter() {
    let v = vault(vault_id(1), VaultStatus::Active);
    let filter = VaultFilter {
        external_ref: Some(ExternalRef::parse("cust-42").unwrap()),
    };
    let expected = filter.clone();
    let page = Page {
        items: vec![v.clone()],
        has_more: false,
    };
    let mut vaults = MockVaultStore::new();
    vaults
        .expect_list()
        .withf(move |t, f, _| *t == tenant() && *f == expected)
        .times(1)
        .returning(move |_, _, _| Ok(page.clone()));
    let svc = service(vec![], vaults);
    let err = svc
        .list(
            &caller_without(Scope::VaultsRead),
            &filter,
            PageRequest::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::VaultsRead)),
        "{err:?}"
    );
    let listed = svc
        .list(&caller(), &filter, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![v]);
}
