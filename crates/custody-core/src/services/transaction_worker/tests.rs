use std::sync::Arc;

use super::*;
use crate::ports::{MockCustodyProvider, MockStoreTx, MockTransactionStore};
use crate::services::test_support::*;
use crate::work::DueTransaction;

fn settings() -> WorkerSettings {
    WorkerSettings {
        owner: "worker-a".into(),
        batch_size: 10,
        lease: Duration::seconds(60),
        poll_interval: Duration::seconds(2),
        max_backoff: Duration::seconds(60),
    }
}

fn worker(txs: Vec<MockStoreTx>, provider: MockCustodyProvider) -> TransactionWorker {
    let uow: crate::ports::DynUnitOfWork = Arc::new(uow_with(txs));
    let withdrawals = WithdrawalService::new(
        uow.clone(),
        Arc::new(MockTransactionStore::new()),
        Arc::new(provider),
        clock(),
        ids(),
        renderer(),
    );
    TransactionWorker::new(uow, withdrawals, None, clock(), settings())
}

#[test]
fn backoff_doubles_up_to_the_maximum() {
    let w = worker(vec![], MockCustodyProvider::new());
    assert_eq!(w.backoff(0), Duration::seconds(2));
    assert_eq!(w.backoff(1), Duration::seconds(4));
    assert_eq!(w.backoff(3), Duration::seconds(16));
    assert_eq!(w.backoff(5), Duration::seconds(60));
    assert_eq!(w.backoff(u32::MAX), Duration::seconds(60));
}

#[tokio::test]
async fn a_failed_step_is_released_with_backoff_and_counted() {
    // Claim: one handed-over withdrawal, withdrawals only, leased for 60 s from T0.
    let mut claim = MockStoreTx::new();
    claim
        .expect_claim_due()
        .withf(|c| {
            c.kinds == vec![TransactionKind::Withdrawal]
                && c.now == T0
                && c.lease_until == T0 + Duration::seconds(60)
                && c.owner == "worker-a"
                && c.limit == 10
        })
        .times(1)
        .returning(|_| {
            Ok(vec![DueTransaction {
                id: transaction_id(1),
                kind: TransactionKind::Withdrawal,
                status: TransactionStatus::Broadcasting,
                provider_ref: Some("p-1".into()),
                needs_reconciliation: false,
                poll_attempts: 2,
            }])
        });
    claim.expect_commit().times(1).returning(|| Ok(()));
    // Poll reads the withdrawal; the provider is down.
    let mut read = MockStoreTx::new();
    read.expect_lock_transaction().returning(|_, _| {
        let mut t = crate::transaction::Transaction::new(
            crate::transaction::NewTransaction {
                id: transaction_id(1),
                tenant_id: tenant(),
                kind: TransactionKind::Withdrawal,
                asset: usdt_eth(),
                amount: crate::amount::Amount::from_base_units(5),
                source_wallet_id: Some(wallet_id(1)),
                destination_wallet_id: None,
                reference: None,
            },
            T0,
        );
        t.destination_address = Some(chain_address(usdt_eth(), 1));
        t.status = TransactionStatus::Broadcasting;
        Ok(t)
    });
    // Released with the third failure's backoff (2 s × 2³ = 16 s).
    let mut release = MockStoreTx::new();
    release
        .expect_release_lease()
        .withf(|id, owner, next, attempts| {
            *id == transaction_id(1)
                && owner == "worker-a"
                && *next == T0 + Duration::seconds(16)
                && *attempts == 3
        })
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    release.expect_commit().times(1).returning(|| Ok(()));
    let mut provider = MockCustodyProvider::new();
    provider
        .expect_withdrawal_status()
        .returning(|_| Err(crate::ports::ProviderError::Unavailable("down".into())));
    provider.expect_submit_withdrawal().never();

    let report = worker(vec![claim, read, release], provider)
        .run_once()
        .await
        .unwrap();
    assert_eq!(report.claimed, 1);
    assert_eq!(report.finished, 0);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0, transaction_id(1));
}
