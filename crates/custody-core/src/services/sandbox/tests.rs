use std::sync::Arc;

use super::*;
use crate::api_key::Scope;
use crate::event::EventType;
use crate::ports::{
    MockAddressStore, MockCustodyProvider, MockStoreTx, MockUnitOfWork, MockWalletStore,
    ProviderError, VerifiedDeposit,
};
use crate::services::test_support::*;
use crate::transaction::{Confirmations, TransactionStatus};
use crate::wallet::Wallet;

fn receiving_wallet() -> Wallet {
    wallet(wallet_id(1), vault_id(1), usdt_eth())
}

fn primary() -> DepositAddress {
    deposit_address(address_id(1), &receiving_wallet(), 0)
}

/// What the sandbox reports for a simulation of `request`.
fn simulated(request: &SimulatedDepositRequest) -> VerifiedDeposit {
    let instant = request.settlement == Settlement::Instant;
    VerifiedDeposit {
        provider_ref: format!("sbx_dep_{}", request.nonce),
        asset: request.asset,
        amount: request.amount,
        address: request.address.clone(),
        tx_hash: Some("0xsim".into()),
        status: if instant {
            TransactionStatus::Completed
        } else {
            TransactionStatus::Confirming
        },
        confirmations: Some(Confirmations {
            seen: if instant { 6 } else { 0 },
            required: 6,
        }),
    }
}

fn sandbox_provider() -> MockCustodyProvider {
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_simulate_deposit()
        .withf(|r| r.asset == usdt_eth() && r.address == primary().address)
        .times(1)
        .returning(|r| Ok(simulated(r)));
    provider
}

fn no_provider() -> MockCustodyProvider {
    let mut provider = MockCustodyProvider::new();
    provider.expect_simulate_deposit().never();
    provider
}

fn wallets_of_tenant() -> MockWalletStore {
    let mut wallets = MockWalletStore::new();
    wallets.expect_get().returning(|tenant_id, id| {
        if tenant_id == tenant() && id == wallet_id(1) {
            Ok(receiving_wallet())
        } else {
            Err(StoreError::NotFound)
        }
    });
    wallets
}

fn addresses_of_tenant() -> MockAddressStore {
    let mut addresses = MockAddressStore::new();
    addresses
        .expect_primary_for_wallet()
        .withf(|tenant_id, w| *tenant_id == tenant() && *w == wallet_id(1))
        .returning(|_, _| Ok(primary()));
    addresses
}

/// The transaction that applies the simulated deposit (no deposit recorded yet).
fn apply_tx() -> (MockStoreTx, WriteLog) {
    let mut tx = MockStoreTx::new();
    allow_vault(&mut tx, crate::vault::VaultStatus::Active);
    tx.expect_find_address_by_chain_address()
        .withf(|a| *a == primary().address)
        .times(1)
        .returning(|_| Ok(primary()));
    tx.expect_lock_wallet_by_id()
        .times(1)
        .returning(|_| Ok(receiving_wallet()));
    tx.expect_lock_deposit_by_provider_ref()
        .times(1)
        .returning(|_| Err(StoreError::NotFound));
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    (tx, log)
}

fn service(uow: MockUnitOfWork, provider: MockCustodyProvider) -> SandboxService {
    let uow: DynUnitOfWork = Arc::new(uow);
    let provider: DynCustodyProvider = Arc::new(provider);
    let deposits = DepositService::new(uow.clone(), provider.clone(), clock(), ids(), renderer());
    SandboxService::new(
        deposits,
        provider,
        uow,
        Arc::new(wallets_of_tenant()),
        Arc::new(addresses_of_tenant()),
        ids(),
    )
}

fn to_wallet(amount: &str, settlement: Settlement) -> SimulateDeposit {
    SimulateDeposit {
        target: DepositTarget::Wallet(wallet_id(1)),
        amount: amount.into(),
        settlement,
    }
}

#[tokio::test]
async fn a_realistic_deposit_is_recorded_confirming_with_pending_credited() {
    let (tx, log) = apply_tx();
    let t = service(uow_with(vec![tx]), sandbox_provider())
        .simulate_deposit(&caller(), to_wallet("12.5", Settlement::Realistic), None)
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Confirming);
    assert_eq!(t.amount, Amount::from_base_units(12_500_000));
    assert_eq!(t.destination_wallet_id, Some(wallet_id(1)));
    assert_eq!(
        t.confirmations,
        Some(Confirmations {
            seen: 0,
            required: 6
        })
    );
    assert!(t.provider_ref.as_deref().unwrap().starts_with("sbx_dep_"));
    let wallets = log.wallets();
    assert_eq!(wallets.len(), 1);
    assert_eq!(wallets[0].balances.pending.base_units(), 12_500_000);
    assert!(wallets[0].balances.available.is_zero());
    assert_eq!(
        log.event_types(),
        vec![EventType::TransactionCreated, EventType::BalanceUpdated]
    );
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn an_instant_deposit_completes_in_one_commit() {
    let (tx, log) = apply_tx();
    let t = service(uow_with(vec![tx]), sandbox_provider())
        .simulate_deposit(&caller(), to_wallet("3", Settlement::Instant), None)
        .await
        .unwrap();
    assert_eq!(t.status, TransactionStatus::Completed);
    let last = log.wallets().last().cloned().unwrap();
    assert_eq!(last.balances.available.base_units(), 3_000_000);
    assert!(last.balances.pending.is_zero());
    assert_eq!(log.commits(), 1);
}

#[tokio::test]
async fn the_response_is_recorded_with_the_deposit() {
    let (tx, log) = apply_tx();
    let key = idempotency_key("sim-1");
    let respond = |t: &Transaction| stored_response(201, &t.id.to_string());
    let t = service(uow_with(vec![tx]), sandbox_provider())
        .simulate_deposit(
            &caller(),
            to_wallet("1", Settlement::Realistic),
            Some(IdempotentWrite {
                key: &key,
                reservation: &RESERVATION,
                respond: &respond,
            }),
        )
        .await
        .unwrap();
    let stored: Vec<_> = log
        .all()
        .into_iter()
        .filter_map(|w| match w {
            StoreWrite::CompleteIdempotency(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(stored, vec![stored_response(201, &t.id.to_string())]);
    assert!(matches!(log.all().last(), Some(StoreWrite::Commit)));
}

#[tokio::test]
async fn another_tenants_wallet_is_not_found() {
    let mut command = to_wallet("1", Settlement::Realistic);
    command.target = DepositTarget::Wallet(wallet_id(2));
    let err = service(uow_with(vec![]), no_provider())
        .simulate_deposit(&caller(), command, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Wallet)),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_scope_is_transfers_write() {
    let err = service(uow_with(vec![]), no_provider())
        .simulate_deposit(
            &caller_without(Scope::TransfersWrite),
            to_wallet("1", Settlement::Realistic),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::TransfersWrite)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_live_caller_is_refused_before_anything_is_read() {
    let mut live = caller();
    live.environment = Environment::Live;
    let err = service(uow_with(vec![]), no_provider())
        .simulate_deposit(&live, to_wallet("1", Settlement::Realistic), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "sandbox_only",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_bad_amount_is_refused_before_the_provider_is_asked() {
    for (amount, code) in [
        ("0", "amount_zero"),
        ("-1", "amount_signed"),
        ("1.0000001", "amount_too_many_decimals"),
        ("abc", "amount_malformed"),
    ] {
        let err = service(uow_with(vec![]), no_provider())
            .simulate_deposit(&caller(), to_wallet(amount, Settlement::Realistic), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{amount}");
        assert!(
            matches!(
                err,
                Error::InvalidField {
                    field: "amount",
                    ..
                }
            ),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn a_live_provider_refuses_and_nothing_is_written() {
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_simulate_deposit()
        .times(1)
        .returning(|_| Err(ProviderError::Unsupported("live".into())));
    let err = service(uow_with(vec![]), provider)
        .simulate_deposit(&caller(), to_wallet("1", Settlement::Realistic), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Provider(ProviderError::Unsupported(_))),
        "{err:?}"
    );
}

/// A read-only transaction that finds `found` (or nothing) for the primary's address.
fn lookup_tx(found: Option<DepositAddress>) -> MockStoreTx {
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .returning(move |a| match &found {
            Some(address) if address.address == *a => Ok(address.clone()),
            _ => Err(StoreError::NotFound),
        });
    forbid_writes(&mut tx);
    tx
}

fn to_address(raw: &str) -> SimulateDeposit {
    SimulateDeposit {
        target: DepositTarget::Address(raw.into()),
        amount: "2".into(),
        settlement: Settlement::Realistic,
    }
}

#[tokio::test]
async fn an_address_is_found_on_its_network() {
    let (apply, log) = apply_tx();
    let raw = primary().address.to_string();
    let t = service(
        uow_with(vec![lookup_tx(Some(primary())), apply]),
        sandbox_provider(),
    )
    .simulate_deposit(&caller(), to_address(&raw), None)
    .await
    .unwrap();
    assert_eq!(t.destination_address, Some(primary().address));
    assert_eq!(log.wallets()[0].balances.pending.base_units(), 2_000_000);
}

#[tokio::test]
async fn an_unknown_or_foreign_address_is_not_found() {
    let raw = primary().address.to_string();
    let err = service(uow_with(vec![lookup_tx(None)]), no_provider())
        .simulate_deposit(&caller(), to_address(&raw), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Address)),
        "{err:?}"
    );

    let mut foreign = primary();
    foreign.tenant_id = other_tenant();
    let err = service(uow_with(vec![lookup_tx(Some(foreign))]), no_provider())
        .simulate_deposit(&caller(), to_address(&raw), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::NotFound(ResourceKind::Address)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_address_no_network_accepts_is_invalid() {
    let err = service(uow_with(vec![]), no_provider())
        .simulate_deposit(&caller(), to_address("not an address"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidField {
                field: "address",
                code: "invalid_address",
                ..
            }
        ),
        "{err:?}"
    );
}
