use std::sync::{Arc, Mutex};

use crate::amount::Amount;
use crate::deposit_address::DepositAddress;
use crate::error::Error;
use crate::ports::{MockCustodyProvider, MockStoreTx, StoreError, VerifiedDeposit};
use crate::services::test_support::*;
use crate::services::DepositService;
use crate::transaction::{Confirmations, TransactionStatus};
use crate::vault::VaultStatus;
use crate::wallet::Wallet;
use crate::work::UnattributedDeposit;

const AMOUNT: u128 = 250_000_000;

fn receiving_wallet() -> Wallet {
    funded_wallet(wallet_id(1), vault_id(1), usdt_eth(), 0, 0, 0)
}

fn address() -> DepositAddress {
    deposit_address(address_id(1), &receiving_wallet(), 0)
}

fn verified() -> VerifiedDeposit {
    VerifiedDeposit {
        provider_ref: "provider-transfer-9".into(),
        asset: usdt_eth(),
        amount: Amount::from_base_units(AMOUNT),
        address: address().address,
        tx_hash: Some("0xfeed".into()),
        status: TransactionStatus::Confirming,
        confirmations: Some(Confirmations {
            seen: 1,
            required: 12,
        }),
    }
}

fn service(tx: MockStoreTx) -> DepositService {
    let mut provider = MockCustodyProvider::new();
    provider.expect_verify_deposit().never();
    DepositService::new(
        Arc::new(uow_with(vec![tx])),
        Arc::new(provider),
        clock(),
        ids(),
        renderer(),
    )
}

#[tokio::test]
async fn a_deposit_to_an_archived_vault_is_recorded_not_credited() {
    // Review finding (c): before the fix it was credited to a wallet that can never send.
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .returning(|_| Ok(address()));
    tx.expect_lock_wallet_by_id()
        .returning(|_| Ok(receiving_wallet()));
    tx.expect_lock_deposit_by_provider_ref()
        .returning(|_| Err(StoreError::NotFound));
    tx.expect_share_vault()
        .withf(|t, v| *t == tenant() && *v == vault_id(1))
        .times(1)
        .returning(|_, id| Ok(vault(id, VaultStatus::Archived)));
    let recorded: Arc<Mutex<Vec<UnattributedDeposit>>> = Arc::default();
    let sink = Arc::clone(&recorded);
    tx.expect_record_unattributed_deposit()
        .times(1)
        .returning(move |d| {
            sink.lock().unwrap().push(d.clone());
            Ok(())
        });
    tx.expect_insert_transaction().never();
    tx.expect_update_wallet().never();
    tx.expect_append_ledger().never();
    tx.expect_append_event().never();
    tx.expect_commit().times(1).returning(|| Ok(()));

    let err = service(tx).apply_verified(verified()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                code: "deposit_not_attributed",
                ..
            }
        ),
        "{err:?}"
    );
    let recorded = recorded.lock().unwrap();
    assert_eq!(recorded.len(), 1);
    let d = &recorded[0];
    assert_eq!(d.provider_ref, "provider-transfer-9");
    assert_eq!(d.reason, "vault_archived");
    assert_eq!(d.tenant_id, Some(tenant()));
    assert_eq!(d.vault_id, Some(vault_id(1)));
    assert_eq!(d.deposit_address_id, Some(address_id(1)));
    assert_eq!(d.amount, Amount::from_base_units(AMOUNT));
    assert_eq!(d.status, TransactionStatus::Confirming);
    assert_eq!((d.first_seen_at, d.last_seen_at), (T0, T0));
}

#[tokio::test]
async fn a_deposit_to_a_frozen_vault_is_still_credited() {
    // Frozen vaults receive (only sending is blocked); only archived ones divert.
    let mut tx = MockStoreTx::new();
    tx.expect_find_address_by_chain_address()
        .returning(|_| Ok(address()));
    tx.expect_lock_wallet_by_id()
        .returning(|_| Ok(receiving_wallet()));
    tx.expect_lock_deposit_by_provider_ref()
        .returning(|_| Err(StoreError::NotFound));
    allow_vault(&mut tx, VaultStatus::Frozen);
    tx.expect_record_unattributed_deposit().never();
    let log = record_writes(&mut tx);
    record_commit(&mut tx, &log);
    let t = service(tx).apply_verified(verified()).await.unwrap();
    assert_eq!(t.status, TransactionStatus::Confirming);
    assert_eq!(log.wallets()[0].balances.pending.base_units(), AMOUNT);
}
