//! The worked example of docs/embedding.md, "Testing against mocked ports": a service's unit
//! test drives the real core services over an in-memory store, with the custody provider
//! mocked (custody-core's `mocks` feature, `MockCustodyProvider`) to fail once and then
//! succeed, and asserts what the ledger and the events did.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use custody_embed::core::amount::Amount;
use custody_embed::core::asset::{AssetId, Network};
use custody_embed::core::chain_address::ChainAddress;
use custody_embed::core::environment::Environment;
use custody_embed::core::error::Error;
use custody_embed::core::event::EventLogQuery;
use custody_embed::core::ports::{
    MintedAddress, MockCustodyProvider, ProviderError, ProviderTransfer, VerifiedDeposit,
};
use custody_embed::core::services::{NewAddressBookEntry, NewVault, WithdrawCommand};
use custody_embed::core::tenant::TenantStatus;
use custody_embed::core::text::{Label, VaultName};
use custody_embed::core::transaction::TransactionStatus;
use custody_embed::{Custody, MasterKey};

const DEPOSIT_ADDRESS: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
const DESTINATION: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

fn usdt(whole: u32) -> Amount {
    Amount::parse(&whole.to_string(), 6).unwrap()
}

/// A provider whose first hand-over fails (an outage) and whose second is accepted; the
/// withdrawal then reads back as completed.
fn flaky_provider() -> MockCustodyProvider {
    let mut provider = MockCustodyProvider::new();
    provider.expect_name().return_const("mock");
    provider.expect_serves().returning(|_| Ok(()));
    provider.expect_can_withdraw().returning(|_| Ok(()));
    provider.expect_mint_address().times(1).returning(|_| {
        Ok(MintedAddress {
            address: ChainAddress::parse(Network::Ethereum, DEPOSIT_ADDRESS).unwrap(),
            provider_ref: Some("mock-address-1".into()),
            provider: "mock",
        })
    });
    let hand_overs = AtomicU32::new(0);
    provider
        .expect_submit_withdrawal()
        .times(2)
        .returning(move |request| {
            if hand_overs.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(ProviderError::Unavailable("scheduled maintenance".into()));
            }
            assert_eq!(request.amount, usdt(10));
            Ok(ProviderTransfer {
                provider_ref: "mock-transfer-1".into(),
                status: TransactionStatus::Broadcasting,
                tx_hash: None,
                failure_reason: None,
                confirmations: None,
                outcome_ambiguous: false,
            })
        });
    provider.expect_withdrawal_status().times(1).returning(|_| {
        Ok(ProviderTransfer {
            provider_ref: "mock-transfer-1".into(),
            status: TransactionStatus::Completed,
            tx_hash: Some("0xabc123".into()),
            failure_reason: None,
            confirmations: None,
            outcome_ambiguous: false,
        })
    });
    provider
}

#[tokio::test]
async fn a_failed_hand_over_keeps_the_funds_held_and_the_retry_completes_the_withdrawal() {
    let custody = Custody::builder()
        .store_url("sqlite::memory:")
        .master_key(MasterKey::from_bytes([9; 32]))
        .live(Arc::new(flaky_provider()))
        .build()
        .await
        .unwrap();
    let asset = AssetId::parse("USDT_ETHEREUM").unwrap();

    // An approved tenant with the asset enabled live.
    let admin = custody.admin();
    let tenant = admin.create_tenant("Acme").await.unwrap();
    admin
        .set_tenant_status(tenant.id, TenantStatus::Approved)
        .await
        .unwrap();
    admin
        .set_asset(tenant.id, Environment::Live, asset, true)
        .await
        .unwrap();
    let caller = custody.caller(tenant.id, Environment::Live);
    let live = custody.live().expect("a live provider was given");

    // A wallet (its address minted by the mock) funded by a provider-verified deposit.
    let vault = live
        .vaults
        .create(
            &caller,
            NewVault {
                external_ref: None,
                name: VaultName::parse("Alice").unwrap(),
                metadata: Default::default(),
            },
            None,
        )
        .await
        .unwrap();
    let wallet = live
        .wallets
        .create(&caller, vault.id, asset, None, None)
        .await
        .unwrap()
        .value
        .wallet;
    live.deposits
        .apply_verified(VerifiedDeposit {
            provider_ref: "mock-deposit-1".into(),
            asset,
            amount: usdt(100),
            address: ChainAddress::parse(Network::Ethereum, DEPOSIT_ADDRESS).unwrap(),
            tx_hash: Some("0xdef456".into()),
            status: TransactionStatus::Completed,
            confirmations: None,
        })
        .await
        .unwrap();

    let entry = live
        .address_book
        .create(
            &caller,
            NewAddressBookEntry {
                network: Network::Ethereum,
                address: DESTINATION.into(),
                label: Label::parse("Cold wallet").unwrap(),
                asset: Some(asset),
            },
            None,
        )
        .await
        .unwrap();
    let withdrawal = live
        .withdrawals
        .submit(
            &caller,
            WithdrawCommand {
                from: wallet.id,
                destination: entry.id,
                amount: "10".into(),
                reference: None,
            },
            None,
        )
        .await
        .unwrap();
    let balances = |w: custody_embed::core::wallet::Wallet| w.balances;
    let held = balances(live.wallets.get(&caller, wallet.id).await.unwrap());
    assert_eq!((held.available, held.held), (usdt(90), usdt(10)));

    // First hand-over: the provider is down. The error is retryable; the withdrawal stays
    // claimed (PendingSignature, no provider reference) with its funds held.
    let failed = live.withdrawals.dispatch(withdrawal.id).await;
    assert!(
        matches!(&failed, Err(Error::Provider(ProviderError::Unavailable(_)))),
        "{failed:?}"
    );
    let after_failure = live.withdrawals.get(&caller, withdrawal.id).await.unwrap();
    assert_eq!(after_failure.status, TransactionStatus::PendingSignature);
    assert_eq!(after_failure.provider_ref, None);
    let still_held = balances(live.wallets.get(&caller, wallet.id).await.unwrap());
    assert_eq!(
        (still_held.available, still_held.held),
        (usdt(90), usdt(10))
    );

    // The retry is accepted; reading it back completes it, and the held funds leave.
    let sent = live.withdrawals.dispatch(withdrawal.id).await.unwrap();
    assert_eq!(sent.status, TransactionStatus::Broadcasting);
    assert_eq!(sent.provider_ref.as_deref(), Some("mock-transfer-1"));
    let done = live.withdrawals.poll(withdrawal.id).await.unwrap();
    assert_eq!(done.status, TransactionStatus::Completed);
    let after = balances(live.wallets.get(&caller, wallet.id).await.unwrap());
    assert_eq!(
        (after.available, after.pending, after.held),
        (usdt(90), Amount::ZERO, Amount::ZERO)
    );
    let ledger = live.wallets.reconcile(&caller, wallet.id).await.unwrap();
    assert!(ledger.is_consistent(), "{ledger:?}");

    // The events: the withdrawal's statuses, each once, in order (the provider's jump from
    // Broadcasting to Completed is applied step by step, through Confirming); the failed
    // attempt left only its claim, and nothing says Failed.
    let log = live
        .events
        .log(
            &caller,
            &EventLogQuery {
                after: None,
                types: Vec::new(),
                limit: 200,
            },
        )
        .await
        .unwrap();
    let statuses: Vec<String> = log
        .items
        .iter()
        .map(|logged| &logged.event)
        .filter(|event| event.data.resource_id == withdrawal.id.to_string())
        .map(|event| {
            format!(
                "{} {}",
                event.event_type,
                event.data.snapshot["status"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            "transaction.created Submitted",
            "transaction.status.updated PendingSignature",
            "transaction.status.updated Broadcasting",
            "transaction.status.updated Confirming",
            "transaction.status.updated Completed",
        ]
    );
}
