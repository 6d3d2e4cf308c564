//! `list_touching`: the Platform `vaultId` filter of `GET /v1/transactions`.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::*;
use crate::ports::{MockCustodyProvider, MockTransactionStore, MockUnitOfWork};
use crate::services::test_support::*;

fn transfer(n: u128, from: u128, to: u128) -> Transaction {
    Transaction::new(
        NewTransaction {
            id: transaction_id(n),
            tenant_id: tenant(),
            kind: TransactionKind::Transfer,
            asset: usdt_eth(),
            amount: Amount::from_base_units(1),
            source_wallet_id: Some(wallet_id(from)),
            destination_wallet_id: Some(wallet_id(to)),
            reference: None,
        },
        T0,
    )
}

fn service(store: MockTransactionStore) -> WithdrawalService {
    WithdrawalService::new(
        Arc::new(MockUnitOfWork::new()),
        Arc::new(store),
        Arc::new(MockCustodyProvider::new()),
        clock(),
        ids(),
        renderer(),
    )
}

#[tokio::test]
async fn lists_only_transactions_touching_the_wallets() {
    let all = vec![
        transfer(1, 1, 2),
        transfer(2, 3, 4),
        transfer(3, 4, 1),
        transfer(4, 5, 6),
    ];
    let mut store = MockTransactionStore::new();
    store
        .expect_list()
        .withf(|t, f, _| *t == tenant() && f.kind == Some(TransactionKind::Transfer))
        .times(1)
        .return_once(move |_, _, _| {
            Ok(Page {
                items: all,
                has_more: false,
            })
        });
    let filter = TransactionFilter {
        kind: Some(TransactionKind::Transfer),
        ..TransactionFilter::default()
    };
    let wallets = BTreeSet::from([wallet_id(1)]);
    let page = service(store)
        .list_touching(&caller(), &filter, &wallets, PageRequest::default())
        .await
        .unwrap();
    let ids: Vec<_> = page.items.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![transaction_id(1), transaction_id(3)]);
    assert!(!page.has_more);
}

#[tokio::test]
async fn an_empty_wallet_set_reads_nothing() {
    let mut store = MockTransactionStore::new();
    store.expect_list().never();
    let page = service(store)
        .list_touching(
            &caller(),
            &TransactionFilter::default(),
            &BTreeSet::new(),
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn needs_the_transactions_read_scope() {
    let mut store = MockTransactionStore::new();
    store.expect_list().never();
    let err = service(store)
        .list_touching(
            &caller_without(Scope::TransactionsRead),
            &TransactionFilter::default(),
            &BTreeSet::from([wallet_id(1)]),
            PageRequest::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingScope(Scope::TransactionsRead)),
        "{err:?}"
    );
}
