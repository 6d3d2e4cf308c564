use std::sync::{Arc, Mutex};

use mockall::Sequence;

use super::*;
use crate::api_key::ScopeSet;
use crate::asset::EnabledAssets;
use crate::chain_address::ChainAddress;
use crate::error::ErrorKind;
use crate::event::Event;
use crate::idempotency::StoredResponse;
use crate::ports::{
    MintedAddress, MockAddressStore, MockCustodyProvider, MockStoreTx, MockTenantStore,
    MockUnitOfWork, MockVaultStore, ProviderError,
};
use crate::services::test_support::*;

type Shared<T> = Arc<Mutex<Vec<T>>>;

fn shared<T>() -> Shared<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn taken<T: Clone>(shared: &Shared<T>) -> Vec<T> {
    shared.lock().unwrap().clone()
}

fn service(
    uow: MockUnitOfWork,
    tenants: MockTenantStore,
    vaults: MockVaultStore,
    addresses: MockAddressStore,
    provider: MockCustodyProvider,
) -> AddressService {
    AddressService::new(
        Environment::Sandbox,
        Arc::new(uow),
        Arc::new(tenants),
        Arc::new(vaults),
        Arc::new(addresses),
        Arc::new(provider),
        clock(),
        ids(),
        renderer(),
    )
}

/// A tenant store answering the sandbox enabled assets of the caller's tenant.
fn tenants_enabling(assets: EnabledAssets) -> MockTenantStore {
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_enabled_assets()
        .withf(|t, env| *t == tenant() && *env == Environment::Sandbox)
        .returning(move |_, _| Ok(assets.clone()));
    tenants
}

fn all_assets_enabled() -> MockTenantStore {
    tenants_enabling(EnabledAssets::all())
}

/// A tenant store that must not be asked anything.
fn untouched_tenants() -> MockTenantStore {
    let mut tenants = MockTenantStore::new();
    tenants.expect_enabled_assets().never();
    tenants
}

/// A vault store that must not be asked anything.
fn untouched_vaults() -> MockVaultStore {
    let mut vaults = MockVaultStore::new();
    vaults.expect_get().never();
    vaults.expect_find_by_external_ref().never();
    vaults
}

fn vaults_returning(vault: Vault) -> MockVaultStore {
    let mut vaults = MockVaultStore::new();
    let id = vault.id;
    vaults
        .expect_get()
        .withf(move |t, v| *t == tenant() && *v == id)
        .times(1)
        .returning(move |_, _| Ok(vault.clone()));
    vaults
}

/// A provider that mints exactly once, answering `address`, and records the request.
fn provider_minting(address: ChainAddress) -> (MockCustodyProvider, Shared<MintRequest>) {
    let requests = shared();
    let sink = Arc::clone(&requests);
    let mut provider = MockCustodyProvider::new();
    provider.expect_name().return_const("sandbox");
    provider
        .expect_mint_address()
        .times(1)
        .returning(move |request| {
            sink.lock().unwrap().push(request.clone());
            Ok(MintedAddress {
                address: address.clone(),
                provider_ref: Some("prov-1".to_owned()),
                provider: "sandbox",
            })
        });
    (provider, requests)
}

/// A provider that must never be called.
fn provider_never() -> MockCustodyProvider {
    let mut provider = MockCustodyProvider::new();
    provider.expect_name().return_const("sandbox");
    provider.expect_mint_address().never();
    provider.expect_submit_withdrawal().never();
    provider
}

fn no_addresses() -> MockAddressStore {
    let mut addresses = MockAddressStore::new();
    addresses.expect_get().never();
    addresses.expect_list().never();
    addresses.expect_primary_for_wallet().never();
    addresses
}

fn ensure(target: AddressTarget, asset: AssetId) -> EnsureAddress {
    EnsureAddress {
        target,
        asset,
        label: None,
    }
}

fn customer_ref() -> ExternalRef {
    ExternalRef::parse("cust-42").unwrap()
}

/// The minting transaction of a wallet that does not exist yet: takes the lock on
/// (`vault`, `asset`), creates the wallet, mints index 0 and records what it wrote.
struct MintTx {
    tx: MockStoreTx,
    wallets: Shared<Wallet>,
    addresses: Shared<DepositAddress>,
    events: Arc<Mutex<Vec<Event>>>,
}

/// Expects the vault (`only`, or any id when `None`) to be read once under the shared
/// lock, answering it with `status`; the exclusive lock is never taken.
fn expect_vault_shared(tx: &mut MockStoreTx, only: Option<VaultId>, status: VaultStatus) {
    tx.expect_lock_vault().never();
    tx.expect_share_vault()
        .withf(move |t, v| *t == tenant() && only.is_none_or(|id| *v == id))
        .times(1)
        .returning(move |_, id| Ok(vault(id, status)));
}

fn minting_tx_for_new_wallet(vault: Option<VaultId>, asset: AssetId) -> MintTx {
    minting_tx_for_new_wallet_in(vault, VaultStatus::Active, asset)
}

/// As [`minting_tx_for_new_wallet`], the vault being `status` when shared.
fn minting_tx_for_new_wallet_in(
    vault: Option<VaultId>,
    status: VaultStatus,
    asset: AssetId,
) -> MintTx {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_minting()
        .withf(move |v, a| vault.is_none_or(|id| *v == id) && *a == asset)
        .times(1)
        .returning(|_, _| Ok(()));
    expect_vault_shared(&mut tx, vault, status);
    tx.expect_find_wallet()
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let wallets = shared();
    let sink = Arc::clone(&wallets);
    tx.expect_insert_wallet().times(1).returning(move |w| {
        sink.lock().unwrap().push(w.clone());
        Ok(())
    });
    // Issue 18: a wallet created in this transaction has no address to look up or count.
    tx.expect_find_primary_address().never();
    tx.expect_count_addresses().never();
    let addresses = shared();
    let sink = Arc::clone(&addresses);
    tx.expect_insert_address().times(1).returning(move |a| {
        sink.lock().unwrap().push(a.clone());
        Ok(())
    });
    let events = capture_events(&mut tx);
    MintTx {
        tx,
        wallets,
        addresses,
        events,
    }
}

/// The vault part of a first sight: finds nothing, inserts the lazy vault (no events, no
/// commit expected yet).
fn vault_creating_tx_uncommitted(treasury: bool) -> (MockStoreTx, Shared<Vault>) {
    let mut tx = MockStoreTx::new();
    if treasury {
        tx.expect_find_treasury_vault()
            .withf(|t| *t == tenant())
            .times(1)
            .returning(|_| Err(StoreError::NotFound));
        tx.expect_find_vault_by_external_ref().never();
    } else {
        tx.expect_find_vault_by_external_ref()
            .withf(|t, r| *t == tenant() && *r == customer_ref())
            .times(1)
            .returning(|_, _| Err(StoreError::NotFound));
        tx.expect_find_treasury_vault().never();
    }
    let vaults = shared();
    let sink = Arc::clone(&vaults);
    tx.expect_insert_vault().times(1).returning(move |v| {
        sink.lock().unwrap().push(v.clone());
        Ok(())
    });
    (tx, vaults)
}

/// Issue 18: the one transaction of a first sight: finds no vault, inserts the lazy vault, and
/// (that vault being invisible to others until commit) creates the wallet and mints index 0
/// without the minting lock, the shared vault read or any wallet or address lookup.
fn fresh_vault_minting_tx(treasury: bool, asset: AssetId) -> (MintTx, Shared<Vault>) {
    let (mut tx, vaults) = vault_creating_tx_uncommitted(treasury);
    tx.expect_lock_address_minting().never();
    tx.expect_share_vault().never();
    tx.expect_lock_vault().never();
    tx.expect_find_wallet().never();
    let wallets = shared();
    let sink = Arc::clone(&wallets);
    tx.expect_insert_wallet()
        .withf(move |w| w.asset == asset)
        .times(1)
        .returning(move |w| {
            sink.lock().unwrap().push(w.clone());
            Ok(())
        });
    tx.expect_find_primary_address().never();
    tx.expect_count_addresses().never();
    let addresses = shared();
    let sink = Arc::clone(&addresses);
    tx.expect_insert_address().times(1).returning(move |a| {
        sink.lock().unwrap().push(a.clone());
        Ok(())
    });
    let events = capture_events(&mut tx);
    (
        MintTx {
            tx,
            wallets,
            addresses,
            events,
        },
        vaults,
    )
}

/// The events of one type among those captured.
fn events_of(events: &Arc<Mutex<Vec<Event>>>, event_type: EventType) -> Vec<Event> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.event_type == event_type)
        .cloned()
        .collect()
}

// ---- ensure_primary_address ------------------------------------------------------------

#[tokio::test]
async fn connect_first_sight_creates_vault_wallet_and_primary_address() {
    let asset = usdt_eth();
    // Issue 18: vault, wallet and address in ONE transaction.
    let (mut mint, inserted_vaults) = fresh_vault_minting_tx(false, asset);
    mint.tx.expect_complete_idempotency().never();
    expect_commit(&mut mint.tx);
    let minted = chain_address(asset, 0xab);
    let (provider, requests) = provider_minting(minted.clone());
    let svc = service(
        uow_with(vec![mint.tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider,
    );

    let label = Label::parse("deposits").unwrap();
    let command = EnsureAddress {
        label: Some(label.clone()),
        ..ensure(AddressTarget::Customer(customer_ref()), asset)
    };
    let result = svc
        .ensure_primary_address(&caller(), command, None)
        .await
        .unwrap();

    // The vault: a customer vault named by the reference, announced.
    let vaults = taken(&inserted_vaults);
    assert_eq!(vaults.len(), 1);
    let vault = &vaults[0];
    assert_eq!(vault.kind, VaultKind::Customer);
    assert_eq!(vault.external_ref, Some(customer_ref()));
    assert_eq!(vault.tenant_id, tenant());
    assert_eq!(vault.status, VaultStatus::Active);
    let vault_events = events_of(&mint.events, EventType::VaultCreated);
    assert_eq!(vault_events.len(), 1);
    assert_eq!(vault_events[0].event_type, EventType::VaultCreated);
    assert_eq!(vault_events[0].data.resource_id, vault.id.to_string());

    // The wallet: in that vault, of that asset, announced before the address.
    let wallets = taken(&mint.wallets);
    assert_eq!(wallets.len(), 1);
    let wallet = &wallets[0];
    assert_eq!(wallet.vault_id, vault.id);
    assert_eq!(wallet.asset, asset);
    assert_eq!(wallet.balances, Balances::default());
    assert_eq!(
        event_types(&mint.events),
        vec![
            EventType::VaultCreated,
            EventType::WalletCreated,
            EventType::AddressCreated
        ]
    );

    // The provider: asked once, for index 0, with our id for the address.
    let requests = taken(&requests);
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.index, 0);
    assert_eq!(request.address_id, result.value.id);
    assert_eq!(request.wallet_id, wallet.id);
    assert_eq!(request.vault_id, vault.id);
    assert_eq!(request.tenant_id, tenant());
    assert_eq!(request.asset, asset);

    // The address: stored as returned, primary.
    assert!(result.created);
    let address = &result.value;
    assert_eq!(taken(&mint.addresses), vec![address.clone()]);
    assert!(address.is_primary);
    assert_eq!(address.derivation_index, 0);
    assert_eq!(address.address, minted);
    assert_eq!(address.wallet_id, wallet.id);
    assert_eq!(address.vault_id, vault.id);
    assert_eq!(address.status, AddressStatus::Active);
    assert_eq!(address.label, Some(label));
    assert_eq!(address.provider.provider, "sandbox");
    assert_eq!(address.provider.reference.as_deref(), Some("prov-1"));
    assert_eq!(address.created_at, T0);
    let events = events_of(&mint.events, EventType::AddressCreated);
    assert_eq!(events[0].data.resource_id, address.id.to_string());
    assert_eq!(events[0].data.resource_type, "address");
}

#[tokio::test]
async fn second_call_returns_the_existing_primary_without_calling_the_provider() {
    let asset = usdt_eth();
    let existing_vault = Vault {
        external_ref: Some(customer_ref()),
        ..vault(vault_id(1), VaultStatus::Active)
    };
    let existing_wallet = wallet(wallet_id(1), existing_vault.id, asset);
    let existing_address = deposit_address(address_id(1), &existing_wallet, 0);

    // Issue 18: the vault is found in the same transaction.
    let mut tx = MockStoreTx::new();
    let found = existing_vault.clone();
    tx.expect_find_vault_by_external_ref()
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    tx.expect_insert_vault().never();
    let vid = existing_vault.id;
    tx.expect_lock_address_minting()
        .withf(move |v, a| *v == vid && *a == asset)
        .times(1)
        .returning(|_, _| Ok(()));
    expect_vault_shared(&mut tx, Some(vid), VaultStatus::Active);
    let w = existing_wallet.clone();
    tx.expect_find_wallet()
        .withf(move |v, a| *v == vid && *a == asset)
        .times(1)
        .returning(move |_, _| Ok(w.clone()));
    let a = existing_address.clone();
    let wid = existing_wallet.id;
    tx.expect_find_primary_address()
        .withf(move |w| *w == wid)
        .times(1)
        .returning(move |_| Ok(a.clone()));
    tx.expect_insert_wallet().never();
    tx.expect_insert_address().never();
    tx.expect_count_addresses().never();
    tx.expect_append_event().never();
    expect_commit(&mut tx);

    let svc = service(
        uow_with(vec![tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let result = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Customer(customer_ref()), asset),
            None,
        )
        .await
        .unwrap();
    assert!(!result.created);
    assert_eq!(result.value, existing_address);
}

#[tokio::test]
async fn treasury_target_finds_then_creates_the_treasury_vault() {
    let asset = usdc_sol();
    let (mut mint, inserted_vaults) = fresh_vault_minting_tx(true, asset);
    expect_commit(&mut mint.tx);
    let (provider, _) = provider_minting(chain_address(asset, 9));
    let svc = service(
        uow_with(vec![mint.tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider,
    );

    let result = svc
        .ensure_primary_address(&caller(), ensure(AddressTarget::Treasury, asset), None)
        .await
        .unwrap();

    let vaults = taken(&inserted_vaults);
    assert_eq!(vaults.len(), 1);
    assert_eq!(vaults[0].kind, VaultKind::Treasury);
    assert_eq!(vaults[0].external_ref, None);
    assert_eq!(
        events_of(&mint.events, EventType::VaultCreated).len(),
        1,
        "one vault.created"
    );
    assert_eq!(result.value.vault_id, vaults[0].id);
    assert_eq!(result.value.asset, asset);
    assert!(result.created);
}

#[tokio::test]
async fn a_lost_vault_creation_race_rereads_and_uses_the_winners_vault() {
    let asset = usdt_eth();
    let winner = Vault {
        external_ref: Some(customer_ref()),
        ..vault(vault_id(7), VaultStatus::Active)
    };

    let mut losing_tx = MockStoreTx::new();
    losing_tx
        .expect_find_vault_by_external_ref()
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    losing_tx.expect_insert_vault().times(1).returning(|_| {
        Err(StoreError::Conflict {
            constraint: "vaults_tenant_external_ref_key".into(),
        })
    });
    losing_tx.expect_append_event().never();
    losing_tx.expect_commit().never();

    // The second attempt finds the winner's vault in its one transaction.
    let mut mint = minting_tx_for_new_wallet(Some(winner.id), asset);
    let found = winner.clone();
    mint.tx
        .expect_find_vault_by_external_ref()
        .withf(|t, r| *t == tenant() && *r == customer_ref())
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    mint.tx.expect_insert_vault().never();
    expect_commit(&mut mint.tx);
    let (provider, requests) = provider_minting(chain_address(asset, 3));

    let svc = service(
        uow_with(vec![losing_tx, mint.tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider,
    );
    let result = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Customer(customer_ref()), asset),
            None,
        )
        .await
        .unwrap();

    assert_eq!(result.value.vault_id, winner.id);
    assert_eq!(taken(&mint.wallets)[0].vault_id, winner.id);
    assert_eq!(taken(&requests)[0].vault_id, winner.id);
    // Only the wallet and address are announced: no second vault.created.
    assert_eq!(
        event_types(&mint.events),
        vec![EventType::WalletCreated, EventType::AddressCreated]
    );
}

#[tokio::test]
async fn provider_down_is_a_retryable_provider_error_and_commits_nothing() {
    let asset = usdt_eth();
    let target = vault(vault_id(1), VaultStatus::Active);
    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_minting()
        .times(1)
        .returning(|_, _| Ok(()));
    expect_vault_shared(&mut tx, Some(target.id), VaultStatus::Active);
    tx.expect_find_wallet()
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    tx.expect_insert_wallet().times(1).returning(|_| Ok(()));
    tx.expect_append_event().returning(|_| Ok(()));
    // A wallet created in this transaction has no address to look up or count (issue 18).
    tx.expect_find_primary_address().never();
    tx.expect_count_addresses().never();
    tx.expect_insert_address().never();
    tx.expect_complete_idempotency().never();
    tx.expect_commit().never();

    let mut provider = MockCustodyProvider::new();
    provider.expect_name().return_const("sandbox");
    provider
        .expect_mint_address()
        .times(1)
        .returning(|_| Err(ProviderError::Unavailable("timeout".into())));

    let svc = service(
        uow_with(vec![tx]),
        all_assets_enabled(),
        vaults_returning(target.clone()),
        no_addresses(),
        provider,
    );
    let key = idempotency_key("idem-1");
    let respond = |_: &Provisioned<DepositAddress>| stored_response(201, "{}");
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(target.id), asset),
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Provider(ProviderError::Unavailable(_))),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Provider);
    assert!(err.is_retryable());
    assert_eq!(err.code(), "provider_unavailable");
}

#[tokio::test]
async fn an_address_on_another_network_is_refused_and_nothing_is_committed() {
    let asset = usdt_eth();
    let target = vault(vault_id(1), VaultStatus::Active);
    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_minting().returning(|_, _| Ok(()));
    expect_vault_shared(&mut tx, Some(target.id), VaultStatus::Active);
    let w = wallet(wallet_id(1), target.id, asset);
    tx.expect_find_wallet().returning(move |_, _| Ok(w.clone()));
    tx.expect_find_primary_address()
        .returning(|_| Err(StoreError::NotFound));
    tx.expect_count_addresses().returning(|_| Ok(0));
    tx.expect_insert_address().never();
    tx.expect_append_event().never();
    tx.expect_commit().never();
    // A Solana address for an Ethereum wallet.
    let (provider, _) = provider_minting(ChainAddress::from_solana_bytes([5; 32]));

    let svc = service(
        uow_with(vec![tx]),
        all_assets_enabled(),
        vaults_returning(target.clone()),
        no_addresses(),
        provider,
    );
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(target.id), asset),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Internal);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn an_asset_not_enabled_is_refused_before_any_store_write() {
    let asset = usdt_eth();
    let svc = service(
        uow_with(vec![]),
        tenants_enabling([usdc_sol()].into_iter().collect()),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Customer(customer_ref()), asset),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AssetNotEnabled(a) if a == asset),
        "{err:?}"
    );
    assert_eq!(err.code(), "asset_not_enabled");
    assert_eq!(err.kind(), ErrorKind::Unprocessable);
}

#[tokio::test]
async fn missing_addresses_write_is_refused_before_any_port_is_touched() {
    let svc = service(
        uow_with(vec![]),
        untouched_tenants(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    // Even with the read scope.
    let reader = caller_with([Scope::AddressesRead].into_iter().collect());
    for who in [caller_without(Scope::AddressesWrite), reader] {
        let err = svc
            .ensure_primary_address(&who, ensure(AddressTarget::Treasury, usdt_eth()), None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MissingScope(Scope::AddressesWrite)),
            "{err:?}"
        );
        assert_eq!(err.kind(), ErrorKind::Forbidden);
    }
}

/// A minting transaction that finds the vault archived under the shared lock: it takes
/// the minting lock, then the shared vault lock, and writes nothing.
fn archived_minting_tx(archived: VaultId) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    let mut seq = Sequence::new();
    tx.expect_lock_address_minting()
        .withf(move |v, _| *v == archived)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    tx.expect_lock_vault().never();
    tx.expect_share_vault()
        .withf(move |t, v| *t == tenant() && *v == archived)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, id| Ok(vault(id, VaultStatus::Archived)));
    tx.expect_find_wallet().never();
    tx.expect_insert_wallet().never();
    tx.expect_count_addresses().never();
    tx.expect_insert_address().never();
    tx.expect_append_event().never();
    tx.expect_complete_idempotency().never();
    tx.expect_commit().never();
    tx
}

#[tokio::test]
async fn an_archived_vault_gets_no_address() {
    let target = vault(vault_id(1), VaultStatus::Archived);
    let svc = service(
        uow_with(vec![archived_minting_tx(target.id)]),
        all_assets_enabled(),
        vaults_returning(target.clone()),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(target.id), usdt_eth()),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vault(crate::vault::VaultRefusal::Archived)),
        "{err:?}"
    );
    assert_eq!(err.code(), "vault_archived");
}

#[tokio::test]
async fn a_vault_archived_before_the_minting_transaction_gets_no_address() {
    // The vault store still saw it active, but an archive committed before our minting
    // transaction: the fresh read under the shared lock decides.
    let stale = vault(vault_id(1), VaultStatus::Active);
    let svc = service(
        uow_with(vec![archived_minting_tx(stale.id)]),
        all_assets_enabled(),
        vaults_returning(stale.clone()),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(stale.id), usdt_eth()),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vault(crate::vault::VaultRefusal::Archived)),
        "{err:?}"
    );
}

#[tokio::test]
async fn ensure_takes_the_minting_lock_before_sharing_the_vault() {
    // Address-minting lock order: minting lock → vault (shared) → wallet rows.
    let asset = usdt_eth();
    let target = vault(vault_id(1), VaultStatus::Active);
    let existing_wallet = wallet(wallet_id(1), target.id, asset);
    let existing_address = deposit_address(address_id(1), &existing_wallet, 0);
    let mut tx = MockStoreTx::new();
    let mut seq = Sequence::new();
    tx.expect_lock_address_minting()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    tx.expect_lock_vault().never();
    tx.expect_share_vault()
        .withf(|t, v| *t == tenant() && *v == vault_id(1))
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, id| Ok(vault(id, VaultStatus::Active)));
    tx.expect_find_wallet()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(existing_wallet.clone()));
    let primary = existing_address.clone();
    tx.expect_find_primary_address()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(primary.clone()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let svc = service(
        uow_with(vec![tx]),
        all_assets_enabled(),
        vaults_returning(target.clone()),
        no_addresses(),
        provider_never(),
    );
    let result = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(target.id), asset),
            None,
        )
        .await
        .unwrap();
    assert_eq!(result.value, existing_address);
}

#[tokio::test]
async fn a_frozen_vault_still_gets_its_address() {
    let asset = usdt_eth();
    let target = vault(vault_id(1), VaultStatus::Frozen);
    let mut mint = minting_tx_for_new_wallet_in(Some(target.id), VaultStatus::Frozen, asset);
    expect_commit(&mut mint.tx);
    let (provider, requests) = provider_minting(chain_address(asset, 4));
    let svc = service(
        uow_with(vec![mint.tx]),
        all_assets_enabled(),
        vaults_returning(target.clone()),
        no_addresses(),
        provider,
    );
    let result = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(target.id), asset),
            None,
        )
        .await
        .unwrap();
    assert!(result.created);
    assert_eq!(result.value.vault_id, target.id);
    assert_eq!(taken(&requests).len(), 1);
    assert_eq!(taken(&mint.addresses), vec![result.value]);
}

#[tokio::test]
async fn a_vault_of_another_tenant_is_not_found() {
    let mut vaults = MockVaultStore::new();
    vaults
        .expect_get()
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let svc = service(
        uow_with(vec![]),
        all_assets_enabled(),
        vaults,
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(vault_id(99)), usdt_eth()),
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
async fn a_wallet_target_of_another_asset_is_refused() {
    let held = usdc_sol();
    let asked = usdt_eth();
    let mut tx = MockStoreTx::new();
    let w = wallet(wallet_id(1), vault_id(1), held);
    tx.expect_lock_wallets()
        .withf(|t, ids| *t == tenant() && ids == [wallet_id(1)])
        .times(1)
        .returning(move |_, _| Ok(vec![w.clone()]));
    tx.expect_share_vault().never();
    tx.expect_commit().never();
    let svc = service(
        uow_with(vec![tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Wallet(wallet_id(1)), asked),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "account_asset_mismatch",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unprocessable);
}

#[tokio::test]
async fn a_wallet_target_of_another_tenant_is_not_found() {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_wallets()
        .times(1)
        .returning(|_, _| Ok(vec![]));
    tx.expect_share_vault().never();
    tx.expect_commit().never();
    let svc = service(
        uow_with(vec![tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Wallet(wallet_id(5)), usdt_eth()),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Wallet)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_wallet_target_resolves_its_vault_and_returns_its_primary() {
    let asset = usdt_eth();
    let v = vault(vault_id(1), VaultStatus::Active);
    let w = wallet(wallet_id(1), v.id, asset);
    let existing = deposit_address(address_id(1), &w, 0);

    let mut read_tx = MockStoreTx::new();
    let locked = w.clone();
    read_tx
        .expect_lock_wallets()
        .returning(move |_, _| Ok(vec![locked.clone()]));
    // Resolving the vault only reads it: shared, in the wallet → vault order.
    expect_vault_shared(&mut read_tx, Some(v.id), VaultStatus::Active);
    read_tx.expect_commit().never();

    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_minting()
        .withf(move |vid, a| *vid == vault_id(1) && *a == asset)
        .times(1)
        .returning(|_, _| Ok(()));
    expect_vault_shared(&mut tx, Some(v.id), VaultStatus::Active);
    let found = w.clone();
    tx.expect_find_wallet()
        .returning(move |_, _| Ok(found.clone()));
    let primary = existing.clone();
    tx.expect_find_primary_address()
        .returning(move |_| Ok(primary.clone()));
    tx.expect_insert_address().never();
    expect_commit(&mut tx);

    let svc = service(
        uow_with(vec![read_tx, tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let result = svc
        .ensure_primary_address(&caller(), ensure(AddressTarget::Wallet(w.id), asset), None)
        .await
        .unwrap();
    assert!(!result.created);
    assert_eq!(result.value, existing);
}

#[tokio::test]
async fn the_idempotent_response_is_stored_before_the_commit() {
    let asset = usdt_eth();
    let target = vault(vault_id(1), VaultStatus::Active);
    let mut mint = minting_tx_for_new_wallet(Some(target.id), asset);
    let mut seq = Sequence::new();
    let stored: Shared<StoredResponse> = shared();
    let sink = Arc::clone(&stored);
    mint.tx
        .expect_complete_idempotency()
        .withf(|t, k, r, _| *t == tenant() && k.as_str() == "idem-42" && *r == RESERVATION)
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _, response| {
            sink.lock().unwrap().push(response.clone());
            Ok(())
        });
    mint.tx
        .expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let (provider, _) = provider_minting(chain_address(asset, 8));
    let svc = service(
        uow_with(vec![mint.tx]),
        all_assets_enabled(),
        vaults_returning(target.clone()),
        no_addresses(),
        provider,
    );
    let key = idempotency_key("idem-42");
    let respond = |p: &Provisioned<DepositAddress>| {
        stored_response(
            if p.created { 201 } else { 200 },
            &format!("{{\"id\":\"{}\"}}", p.value.id),
        )
    };
    let result = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(target.id), asset),
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap();
    let stored = taken(&stored);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0], respond(&result));
    assert_eq!(stored[0].status, 201);
}

/// The store finds no in-flight record under this request's reservation (another request took
/// the key over): nothing is committed, and the error says so (409 `idempotency_key_in_flight`
/// at the edge), not a 404 about a resource the partner never named.
#[tokio::test]
async fn a_failed_idempotency_write_does_not_commit() {
    let asset = usdt_eth();
    let target = vault(vault_id(1), VaultStatus::Active);
    let mut mint = minting_tx_for_new_wallet(Some(target.id), asset);
    mint.tx
        .expect_complete_idempotency()
        .times(1)
        .returning(|_, _, _, _| Err(StoreError::NotFound));
    mint.tx.expect_commit().never();
    let (provider, _) = provider_minting(chain_address(asset, 8));
    let svc = service(
        uow_with(vec![mint.tx]),
        all_assets_enabled(),
        vaults_returning(target.clone()),
        no_addresses(),
        provider,
    );
    let key = idempotency_key("idem-43");
    let respond = |_: &Provisioned<DepositAddress>| stored_response(201, "{}");
    let err = svc
        .ensure_primary_address(
            &caller(),
            ensure(AddressTarget::Vault(target.id), asset),
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::IdempotencyKeyTakenOver), "{err:?}");
}

// ---- create_additional_address ---------------------------------------------------------

/// The short read-only transaction in which `create_additional_address` finds wallet
/// `asked` (the store answering `found`): it takes no other lock, writes nothing and is
/// never committed.
fn wallet_read_tx(asked: WalletId, found: Vec<Wallet>) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_wallets()
        .withf(move |t, ids| *t == tenant() && ids == [asked])
        .times(1)
        .return_once(move |_, _| Ok(found));
    tx.expect_lock_address_minting().never();
    tx.expect_share_vault().never();
    tx.expect_lock_vault().never();
    tx.expect_insert_address().never();
    forbid_writes(&mut tx);
    tx
}

/// The minting transaction of `create_additional_address` for `w` in `v` with `count`
/// addresses: the minting lock, the vault shared, the mint. No wallet row is locked.
fn additional_tx(v: &Vault, w: &Wallet, count: u32) -> MintTx {
    let mut tx = MockStoreTx::new();
    let wid = w.id;
    let asset = w.asset;
    let vid = v.id;
    tx.expect_lock_address_minting()
        .withf(move |id, a| *id == vid && *a == asset)
        .times(1)
        .returning(|_, _| Ok(()));
    tx.expect_lock_vault().never();
    let shared_vault = v.clone();
    tx.expect_share_vault()
        .withf(move |t, id| *t == tenant() && *id == vid)
        .times(1)
        .returning(move |_, _| Ok(shared_vault.clone()));
    tx.expect_lock_wallets().never();
    tx.expect_count_addresses()
        .withf(move |id| *id == wid)
        .times(1)
        .returning(move |_| Ok(count));
    let addresses = shared();
    let sink = Arc::clone(&addresses);
    tx.expect_insert_address().returning(move |a| {
        sink.lock().unwrap().push(a.clone());
        Ok(())
    });
    let events = capture_events(&mut tx);
    MintTx {
        tx,
        wallets: shared(),
        addresses,
        events,
    }
}

#[tokio::test]
async fn an_additional_address_takes_the_next_index_and_is_not_primary() {
    let asset = usdt_eth();
    let v = vault(vault_id(1), VaultStatus::Active);
    let w = wallet(wallet_id(1), v.id, asset);
    let mut mint = additional_tx(&v, &w, 2);
    let mut seq = Sequence::new();
    mint.tx
        .expect_complete_idempotency()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _, _| Ok(()));
    mint.tx
        .expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let (provider, requests) = provider_minting(chain_address(asset, 0x22));
    let svc = service(
        uow_with(vec![wallet_read_tx(w.id, vec![w.clone()]), mint.tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider,
    );
    let key = idempotency_key("extra-1");
    let respond = |a: &DepositAddress| stored_response(201, a.address.as_str());
    let label = Label::parse("second").unwrap();
    let address = svc
        .create_additional_address(
            &caller(),
            w.id,
            Some(label.clone()),
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap();
    assert!(!address.is_primary);
    assert_eq!(address.derivation_index, 2);
    assert_eq!(address.label, Some(label));
    assert_eq!(address.wallet_id, w.id);
    let requests = taken(&requests);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].index, 2);
    assert_eq!(requests[0].address_id, address.id);
    assert_eq!(taken(&mint.addresses), vec![address]);
    assert_eq!(event_types(&mint.events), vec![EventType::AddressCreated]);
}

#[tokio::test]
async fn an_additional_address_of_a_wallet_without_any_becomes_primary() {
    let asset = usdc_sol();
    let v = vault(vault_id(1), VaultStatus::Frozen);
    let w = wallet(wallet_id(1), v.id, asset);
    let mut mint = additional_tx(&v, &w, 0);
    mint.tx.expect_complete_idempotency().never();
    expect_commit(&mut mint.tx);
    let (provider, requests) = provider_minting(chain_address(asset, 0x33));
    let svc = service(
        uow_with(vec![wallet_read_tx(w.id, vec![w.clone()]), mint.tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider,
    );
    let address = svc
        .create_additional_address(&caller(), w.id, None, None)
        .await
        .unwrap();
    assert!(address.is_primary);
    assert_eq!(address.derivation_index, 0);
    assert_eq!(taken(&requests)[0].index, 0);
}

#[tokio::test]
async fn an_additional_address_takes_the_minting_lock_before_sharing_the_vault() {
    // Address-minting lock order: minting lock → vault (shared) → wallet rows (the
    // address insert). The old order (wallet → vault → minting lock) could deadlock.
    let asset = usdt_eth();
    let v = vault(vault_id(1), VaultStatus::Active);
    let w = wallet(wallet_id(1), v.id, asset);
    let mut tx = MockStoreTx::new();
    let mut seq = Sequence::new();
    tx.expect_lock_wallets().never();
    tx.expect_lock_vault().never();
    tx.expect_lock_address_minting()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(()));
    let shared_vault = v.clone();
    tx.expect_share_vault()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _| Ok(shared_vault.clone()));
    tx.expect_count_addresses()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(1));
    tx.expect_insert_address()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(()));
    tx.expect_append_event().returning(|_| Ok(()));
    tx.expect_commit()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(()));
    let (provider, _) = provider_minting(chain_address(asset, 0x44));
    let svc = service(
        uow_with(vec![wallet_read_tx(w.id, vec![w.clone()]), tx]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider,
    );
    let address = svc
        .create_additional_address(&caller(), w.id, None, None)
        .await
        .unwrap();
    assert_eq!(address.derivation_index, 1);
}

#[tokio::test]
async fn an_additional_address_checks_the_asset_with_no_transaction_open() {
    // The tenant store is another store handle: it is asked after the wallet read's
    // transaction and before the minting transaction, never while one is open (SQLite's
    // single writer would wait on our own transaction forever).
    let asset = usdt_eth();
    let v = vault(vault_id(1), VaultStatus::Active);
    let w = wallet(wallet_id(1), v.id, asset);
    let mut seq = Sequence::new();
    let mut uow = MockUnitOfWork::new();
    let read = wallet_read_tx(w.id, vec![w.clone()]);
    uow.expect_begin()
        .times(1)
        .in_sequence(&mut seq)
        .return_once(move || Ok(Box::new(read) as Box<dyn StoreTx>));
    let mut tenants = MockTenantStore::new();
    tenants
        .expect_enabled_assets()
        .withf(|t, env| *t == tenant() && *env == Environment::Sandbox)
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| Ok(EnabledAssets::all()));
    let MintTx {
        tx: mut mint,
        addresses,
        ..
    } = additional_tx(&v, &w, 1);
    expect_commit(&mut mint);
    uow.expect_begin()
        .times(1)
        .in_sequence(&mut seq)
        .return_once(move || Ok(Box::new(mint) as Box<dyn StoreTx>));
    let (provider, _) = provider_minting(chain_address(asset, 0x55));
    let svc = service(uow, tenants, untouched_vaults(), no_addresses(), provider);
    let address = svc
        .create_additional_address(&caller(), w.id, None, None)
        .await
        .unwrap();
    assert_eq!(taken(&addresses), vec![address]);
}

#[tokio::test]
async fn an_additional_address_for_another_tenants_wallet_is_not_found() {
    let svc = service(
        uow_with(vec![wallet_read_tx(wallet_id(9), vec![])]),
        untouched_tenants(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .create_additional_address(&caller(), wallet_id(9), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Wallet)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_additional_address_in_an_archived_vault_is_refused() {
    // Seen under the shared lock inside the minting transaction: nothing is minted.
    let asset = usdt_eth();
    let v = vault(vault_id(1), VaultStatus::Archived);
    let w = wallet(wallet_id(1), v.id, asset);
    let svc = service(
        uow_with(vec![
            wallet_read_tx(w.id, vec![w.clone()]),
            archived_minting_tx(v.id),
        ]),
        all_assets_enabled(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .create_additional_address(&caller(), w.id, None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vault(crate::vault::VaultRefusal::Archived)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_additional_address_of_a_disabled_asset_is_refused() {
    // Refused before the minting transaction is opened (one begin() only).
    let asset = usdt_eth();
    let w = wallet(wallet_id(1), vault_id(1), asset);
    let svc = service(
        uow_with(vec![wallet_read_tx(w.id, vec![w.clone()])]),
        tenants_enabling(EnabledAssets::none()),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .create_additional_address(&caller(), wallet_id(1), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::AssetNotEnabled(a) if a == asset),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_additional_address_needs_addresses_write() {
    let svc = service(
        uow_with(vec![]),
        untouched_tenants(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .create_additional_address(
            &caller_without(Scope::AddressesWrite),
            wallet_id(1),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::AddressesWrite)),
        "{err:?}"
    );
}

// ---- reads -----------------------------------------------------------------------------

#[tokio::test]
async fn get_returns_the_callers_address() {
    let w = wallet(wallet_id(1), vault_id(1), usdt_eth());
    let a = deposit_address(address_id(1), &w, 0);
    let mut addresses = MockAddressStore::new();
    let found = a.clone();
    addresses
        .expect_get()
        .withf(|t, id| *t == tenant() && *id == address_id(1))
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    let svc = service(
        uow_with(vec![]),
        untouched_tenants(),
        untouched_vaults(),
        addresses,
        provider_never(),
    );
    assert_eq!(svc.get(&caller(), address_id(1)).await.unwrap(), a);
}

#[tokio::test]
async fn get_maps_a_missing_address_to_not_found() {
    let mut addresses = MockAddressStore::new();
    addresses
        .expect_get()
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let svc = service(
        uow_with(vec![]),
        untouched_tenants(),
        untouched_vaults(),
        addresses,
        provider_never(),
    );
    let err = svc.get(&caller(), address_id(2)).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Address)),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn get_keeps_store_outages_as_store_errors() {
    let mut addresses = MockAddressStore::new();
    addresses
        .expect_get()
        .returning(|_, _| Err(StoreError::Unavailable("down".into())));
    let svc = service(
        uow_with(vec![]),
        untouched_tenants(),
        untouched_vaults(),
        addresses,
        provider_never(),
    );
    let err = svc.get(&caller(), address_id(2)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.is_retryable());
}

#[tokio::test]
async fn get_needs_addresses_read() {
    let svc = service(
        uow_with(vec![]),
        untouched_tenants(),
        untouched_vaults(),
        no_addresses(),
        provider_never(),
    );
    let err = svc
        .get(&caller_without(Scope::AddressesRead), address_id(1))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::AddressesRead)),
        "{err:?}"
    );
}

#[tokio::test]
async fn list_passes_tenant_and_filter_and_needs_addresses_read() {
    let w = wallet(wallet_id(1), vault_id(1), usdt_eth());
    let a = deposit_address(address_id(1), &w, 0);
    let filter = AddressFilter {
        wallet_id: Some(w.id),
        vault_id: None,
    };
    let mut addresses = MockAddressStore::new();
    let page = Page {
        items: vec![a.clone()],
        has_more: true,
    };
    let expected_filter = filter.clone();
    addresses
        .expect_list()
        .withf(move |t, f, p| *t == tenant() && *f == expected_filter && p.limit() == 10)
        .times(1)
        .returning(move |_, _, _| Ok(page.clone()));
    let svc = service(
        uow_with(vec![]),
        untouched_tenants(),
        untouched_vaults(),
        addresses,
        provider_never(),
    );
    let request = PageRequest::new(Some(10), None, None).unwrap();

    let err = svc
        .list(&caller_with(ScopeSet::empty()), &filter, request)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::AddressesRead)),
        "{err:?}"
    );

    let listed = svc.list(&caller(), &filter, request).await.unwrap();
    assert_eq!(listed.items, vec![a]);
    assert!(listed.has_more);
}
