use std::sync::{Arc, Mutex};

use mockall::Sequence;

use super::*;
use crate::amount::Amount;
use crate::api_key::ScopeSet;
use crate::asset::EnabledAssets;
use crate::environment::Environment;
use crate::error::ErrorKind;
use crate::event::EventType;
use crate::idempotency::StoredResponse;
use crate::ledger::{LedgerEntry, Movement};
use crate::ports::{
    MintedAddress, MockAddressStore, MockCustodyProvider, MockStoreTx, MockTenantStore,
    MockTransactionStore, MockUnitOfWork, MockVaultStore, MockWalletStore, StoreError,
};
use crate::services::test_support::*;
use crate::vault::{Vault, VaultStatus};

/// The wallet service's ports as mocks, to be given expectations before `build`.
struct Fixture {
    uow: MockUnitOfWork,
    address_vaults: MockVaultStore,
    provider: MockCustodyProvider,
    vaults: MockVaultStore,
    wallets: MockWalletStore,
    transactions: MockTransactionStore,
}

impl Fixture {
    fn new(txs: Vec<MockStoreTx>) -> Fixture {
        let mut provider = MockCustodyProvider::new();
        provider.expect_name().return_const("sandbox");
        Fixture {
            uow: uow_with(txs),
            address_vaults: MockVaultStore::new(),
            provider,
            vaults: MockVaultStore::new(),
            wallets: MockWalletStore::new(),
            transactions: MockTransactionStore::new(),
        }
    }

    fn build(self) -> WalletService {
        let mut tenants = MockTenantStore::new();
        tenants
            .expect_enabled_assets()
            .withf(|t, env| *t == tenant() && *env == Environment::Sandbox)
            .returning(|_, _| Ok(EnabledAssets::all()));
        let addresses = AddressService::new(
            Environment::Sandbox,
            Arc::new(self.uow),
            Arc::new(tenants),
            Arc::new(self.address_vaults),
            Arc::new(MockAddressStore::new()),
            Arc::new(self.provider),
            clock(),
            ids(),
            renderer(),
        );
        WalletService::new(
            addresses,
            Arc::new(self.vaults),
            Arc::new(self.wallets),
            Arc::new(self.transactions),
        )
    }

    fn with_vault(mut self, vault: Vault) -> Fixture {
        self.address_vaults
            .expect_get()
            .withf(move |t, id| *t == tenant() && *id == vault.id)
            .times(1)
            .returning(move |_, _| Ok(vault.clone()));
        self
    }
}

fn active_vault() -> Vault {
    vault(vault_id(1), VaultStatus::Active)
}

type Recorded<T> = Arc<Mutex<Vec<T>>>;

/// Expects the minting transaction to read vault `id` once under the shared lock (never
/// the exclusive one), answering it with `status`.
fn expect_vault_shared(tx: &mut MockStoreTx, id: VaultId, status: VaultStatus) {
    tx.expect_lock_vault().never();
    tx.expect_share_vault()
        .withf(move |t, v| *t == tenant() && *v == id)
        .times(1)
        .returning(move |_, v| Ok(vault(v, status)));
}

/// A minting transaction for a vault without a wallet for the asset; records what it wrote.
fn new_wallet_tx(
    vault: VaultId,
    asset: AssetId,
) -> (MockStoreTx, Recorded<Wallet>, Recorded<crate::event::Event>) {
    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_minting()
        .withf(move |v, a| *v == vault && *a == asset)
        .times(1)
        .returning(|_, _| Ok(()));
    expect_vault_shared(&mut tx, vault, VaultStatus::Active);
    tx.expect_find_wallet()
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let wallets = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&wallets);
    tx.expect_insert_wallet().times(1).returning(move |w| {
        sink.lock().unwrap().push(w.clone());
        Ok(())
    });
    // A wallet created in this transaction has no address to look up or count (issue 18).
    tx.expect_find_primary_address().never();
    tx.expect_count_addresses().never();
    tx.expect_insert_address().times(1).returning(|_| Ok(()));
    let events = capture_events(&mut tx);
    (tx, wallets, events)
}

fn minting_provider(fixture: &mut Fixture, asset: AssetId, times: usize) {
    fixture
        .provider
        .expect_mint_address()
        .times(times)
        .returning(move |_| {
            Ok(MintedAddress {
                address: chain_address(asset, 0x44),
                provider_ref: None,
                provider: "sandbox",
            })
        });
}

// ---- create ----------------------------------------------------------------------------

#[tokio::test]
async fn create_makes_the_wallet_and_its_primary_address() {
    let asset = usdt_eth();
    let (mut tx, inserted, events) = new_wallet_tx(vault_id(1), asset);
    tx.expect_complete_idempotency().never();
    expect_commit(&mut tx);
    let mut fixture = Fixture::new(vec![tx]).with_vault(active_vault());
    minting_provider(&mut fixture, asset, 1);
    let svc = fixture.build();
    let label = Label::parse("ops float").unwrap();

    let result = svc
        .create(&caller(), vault_id(1), asset, Some(label.clone()), None)
        .await
        .unwrap();

    assert!(result.created);
    let WalletWithAddress {
        wallet,
        deposit_address,
    } = result.value;
    assert_eq!(inserted.lock().unwrap().clone(), vec![wallet.clone()]);
    assert_eq!(wallet.vault_id, vault_id(1));
    assert_eq!(wallet.asset, asset);
    assert_eq!(wallet.label, Some(label));
    assert_eq!(wallet.tenant_id, tenant());
    assert_eq!(deposit_address.wallet_id, wallet.id);
    assert!(deposit_address.is_primary);
    // The wallet label is the wallet's, not the address's.
    assert_eq!(deposit_address.label, None);
    assert_eq!(
        event_types(&events),
        vec![EventType::WalletCreated, EventType::AddressCreated]
    );
}

#[tokio::test]
async fn create_returns_the_existing_wallet_with_created_false() {
    let asset = usdt_eth();
    let existing = wallet(wallet_id(1), vault_id(1), asset);
    let primary = deposit_address(address_id(1), &existing, 0);
    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_minting().returning(|_, _| Ok(()));
    expect_vault_shared(&mut tx, vault_id(1), VaultStatus::Active);
    let found = existing.clone();
    tx.expect_find_wallet()
        .withf(move |v, a| *v == vault_id(1) && *a == asset)
        .times(1)
        .returning(move |_, _| Ok(found.clone()));
    let found_primary = primary.clone();
    tx.expect_find_primary_address()
        .returning(move |_| Ok(found_primary.clone()));
    tx.expect_insert_wallet().never();
    tx.expect_insert_address().never();
    tx.expect_append_event().never();
    expect_commit(&mut tx);
    let mut fixture = Fixture::new(vec![tx]).with_vault(active_vault());
    minting_provider(&mut fixture, asset, 0);
    let svc = fixture.build();

    let result = svc
        .create(&caller(), vault_id(1), asset, None, None)
        .await
        .unwrap();
    assert!(!result.created);
    assert_eq!(
        result.value,
        WalletWithAddress {
            wallet: existing,
            deposit_address: primary,
        }
    );
}

#[tokio::test]
async fn create_stores_the_rendered_wallet_response_before_committing() {
    let asset = usdc_sol();
    let (mut tx, _, _) = new_wallet_tx(vault_id(1), asset);
    let mut seq = Sequence::new();
    let stored = Arc::new(Mutex::new(Vec::<StoredResponse>::new()));
    let sink = Arc::clone(&stored);
    tx.expect_complete_idempotency()
        .withf(|t, k, _, _| *t == tenant() && k.as_str() == "wallet-1")
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
    let mut fixture = Fixture::new(vec![tx]).with_vault(active_vault());
    minting_provider(&mut fixture, asset, 1);
    let svc = fixture.build();
    let key = idempotency_key("wallet-1");
    let respond = |p: &Provisioned<WalletWithAddress>| {
        stored_response(
            201,
            &format!("{}:{}", p.value.wallet.id, p.value.deposit_address.address),
        )
    };
    let result = svc
        .create(
            &caller(),
            vault_id(1),
            asset,
            None,
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap();
    assert_eq!(stored.lock().unwrap().clone(), vec![respond(&result)]);
}

#[tokio::test]
async fn create_needs_wallets_create() {
    // No vault read, no minting.
    let mut fixture = Fixture::new(vec![]);
    fixture.address_vaults.expect_get().never();
    fixture.provider.expect_mint_address().never();
    let svc = fixture.build();
    // addresses:write alone is not enough for the Platform wallet creation.
    for who in [
        caller_without(Scope::WalletsCreate),
        caller_with(
            [Scope::AddressesWrite, Scope::WalletsRead]
                .into_iter()
                .collect(),
        ),
    ] {
        let err = svc
            .create(&who, vault_id(1), usdt_eth(), None, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::MissingScope(Scope::WalletsCreate)),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn create_in_an_archived_vault_is_refused() {
    // Decided under the shared vault lock inside the minting transaction, which writes
    // nothing.
    let mut tx = MockStoreTx::new();
    tx.expect_lock_address_minting().returning(|_, _| Ok(()));
    expect_vault_shared(&mut tx, vault_id(1), VaultStatus::Archived);
    tx.expect_find_wallet().never();
    tx.expect_insert_wallet().never();
    tx.expect_insert_address().never();
    tx.expect_append_event().never();
    tx.expect_commit().never();
    let mut fixture = Fixture::new(vec![tx]).with_vault(vault(vault_id(1), VaultStatus::Archived));
    fixture.provider.expect_mint_address().never();
    let svc = fixture.build();
    let err = svc
        .create(&caller(), vault_id(1), usdt_eth(), None, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Vault(crate::vault::VaultRefusal::Archived)),
        "{err:?}"
    );
}

// ---- get / list ------------------------------------------------------------------------

#[tokio::test]
async fn get_maps_not_found_and_needs_wallets_read() {
    let mut fixture = Fixture::new(vec![]);
    fixture
        .wallets
        .expect_get()
        .withf(|t, id| *t == tenant() && *id == wallet_id(3))
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    let svc = fixture.build();
    let err = svc
        .get(&caller_without(Scope::WalletsRead), wallet_id(3))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::WalletsRead)),
        "{err:?}"
    );
    let err = svc.get(&caller(), wallet_id(3)).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Wallet)),
        "{err:?}"
    );
}

#[tokio::test]
async fn get_returns_the_wallet() {
    let w = wallet(wallet_id(1), vault_id(1), usdt_eth());
    let mut fixture = Fixture::new(vec![]);
    let found = w.clone();
    fixture
        .wallets
        .expect_get()
        .returning(move |_, _| Ok(found.clone()));
    let svc = fixture.build();
    assert_eq!(svc.get(&caller(), wallet_id(1)).await.unwrap(), w);
}

#[tokio::test]
async fn list_with_another_tenants_vault_is_not_found() {
    let mut fixture = Fixture::new(vec![]);
    fixture
        .vaults
        .expect_get()
        .withf(|t, id| *t == tenant() && *id == vault_id(8))
        .times(1)
        .returning(|_, _| Err(StoreError::NotFound));
    fixture.wallets.expect_list().never();
    let svc = fixture.build();
    let filter = WalletFilter {
        vault_id: Some(vault_id(8)),
        asset: None,
    };
    let err = svc
        .list(&caller(), &filter, PageRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Vault)),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn list_with_the_callers_vault_lists_its_wallets() {
    let w = wallet(wallet_id(1), vault_id(1), usdt_eth());
    let mut fixture = Fixture::new(vec![]);
    fixture
        .vaults
        .expect_get()
        .times(1)
        .returning(|_, _| Ok(active_vault()));
    let filter = WalletFilter {
        vault_id: Some(vault_id(1)),
        asset: Some(usdt_eth()),
    };
    let expected = filter.clone();
    let page = Page {
        items: vec![w.clone()],
        has_more: false,
    };
    fixture
        .wallets
        .expect_list()
        .withf(move |t, f, _| *t == tenant() && *f == expected)
        .times(1)
        .returning(move |_, _, _| Ok(page.clone()));
    let svc = fixture.build();
    let listed = svc
        .list(&caller(), &filter, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(listed.items, vec![w]);
    assert!(!listed.has_more);
}

#[tokio::test]
async fn list_without_a_vault_filter_reads_no_vault_and_needs_wallets_read() {
    let mut fixture = Fixture::new(vec![]);
    fixture.vaults.expect_get().never();
    fixture.wallets.expect_list().times(1).returning(|_, _, _| {
        Ok(Page {
            items: vec![],
            has_more: false,
        })
    });
    let svc = fixture.build();
    let err = svc
        .list(
            &caller_with(ScopeSet::empty()),
            &WalletFilter::default(),
            PageRequest::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::WalletsRead)),
        "{err:?}"
    );
    let listed = svc
        .list(&caller(), &WalletFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert!(listed.items.is_empty());
}

// ---- reconcile -------------------------------------------------------------------------

fn amount(n: u128) -> Amount {
    Amount::from_base_units(n)
}

/// Ledger of wallet 1: a deposit of 100 detected and completed, a withdrawal of 30
/// submitted, and a transfer of 20 to wallet 2. Wallet 1 ends with available 50, held 30.
fn ledger_of_wallet_1() -> Vec<LedgerEntry> {
    let asset = usdt_eth();
    let w1 = wallet_id(1);
    let movements = [
        (
            1,
            Movement::DepositDetected {
                wallet: w1,
                asset,
                amount: amount(100),
            },
        ),
        (
            1,
            Movement::DepositCompleted {
                wallet: w1,
                amount: amount(100),
            },
        ),
        (
            2,
            Movement::WithdrawalSubmitted {
                wallet: w1,
                amount: amount(30),
            },
        ),
        (
            3,
            Movement::Transfer {
                from: w1,
                to: wallet_id(2),
                amount: amount(20),
            },
        ),
    ];
    movements
        .into_iter()
        .flat_map(|(tx, movement)| {
            LedgerEntry::for_postings(transaction_id(tx), asset, &movement.postings().unwrap(), T0)
        })
        .collect()
}

fn reconcile_fixture(materialised: Balances, entries: Vec<LedgerEntry>) -> WalletService {
    let mut fixture = Fixture::new(vec![]);
    let w = Wallet {
        balances: materialised,
        ..wallet(wallet_id(1), vault_id(1), usdt_eth())
    };
    fixture
        .wallets
        .expect_get()
        .withf(|t, id| *t == tenant() && *id == wallet_id(1))
        .times(1)
        .returning(move |_, _| Ok(w.clone()));
    fixture
        .transactions
        .expect_ledger_for_wallet()
        .withf(|id| *id == wallet_id(1))
        .times(1)
        .returning(move |_| Ok(entries.clone()));
    fixture.build()
}

#[tokio::test]
async fn reconcile_agrees_when_balances_match_the_ledger() {
    let balances = Balances {
        available: amount(50),
        pending: Amount::ZERO,
        held: amount(30),
    };
    let svc = reconcile_fixture(balances, ledger_of_wallet_1());
    // An operator tool: no scope needed.
    let report = svc
        .reconcile(&caller_with(ScopeSet::empty()), wallet_id(1))
        .await
        .unwrap();
    assert_eq!(report.wallet_id, wallet_id(1));
    assert_eq!(report.from_ledger, balances);
    assert_eq!(report.materialised, balances);
    assert!(report.is_consistent());
}

#[tokio::test]
async fn reconcile_reports_a_drift() {
    let drifted = Balances {
        available: amount(70),
        pending: Amount::ZERO,
        held: amount(30),
    };
    let svc = reconcile_fixture(drifted, ledger_of_wallet_1());
    let report = svc.reconcile(&caller(), wallet_id(1)).await.unwrap();
    assert!(!report.is_consistent());
    assert_eq!(report.materialised, drifted);
    assert_eq!(
        report.from_ledger,
        Balances {
            available: amount(50),
            pending: Amount::ZERO,
            held: amount(30),
        }
    );
}

#[tokio::test]
async fn reconcile_of_a_ledger_that_goes_negative_is_internal() {
    // Only the debit leg of a transfer: wallet 1 would go below zero.
    let entries = vec![LedgerEntry::for_postings(
        transaction_id(9),
        usdt_eth(),
        &Movement::Transfer {
            from: wallet_id(1),
            to: wallet_id(2),
            amount: amount(5),
        }
        .postings()
        .unwrap(),
        T0,
    )[0]
    .clone()];
    let svc = reconcile_fixture(Balances::default(), entries);
    let err = svc.reconcile(&caller(), wallet_id(1)).await.unwrap_err();
    assert!(matches!(err, Error::Internal(_)), "{err:?}");
}

#[tokio::test]
async fn reconcile_of_an_unknown_wallet_is_not_found() {
    let mut fixture = Fixture::new(vec![]);
    fixture
        .wallets
        .expect_get()
        .returning(|_, _| Err(StoreError::NotFound));
    fixture.transactions.expect_ledger_for_wallet().never();
    let svc = fixture.build();
    let err = svc.reconcile(&caller(), wallet_id(1)).await.unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Wallet)),
        "{err:?}"
    );
}
