//! Transactions and the ledger.

use std::collections::BTreeMap;

use custody_core::asset::Network;
use custody_core::id::WalletId;
use custody_core::ledger::{self, Account, LedgerEntry, Movement, Posting};
use custody_core::ports::TransactionFilter;
use custody_core::transaction::{Confirmations, Transaction, TransactionKind, TransactionStatus};
use custody_core::wallet::{Balances, Bucket, Wallet};

use crate::fixtures::*;
use crate::StoreHandles;

/// Insert and read back every shape of transaction; `get` and `lock_transaction` are
/// tenant-scoped (`lock_transaction(None, …)` is not).
pub async fn transactions_insert_get_lock(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;

    let deposit = full_deposit(&w, 40, "prov-dep-40");
    let mut wd = withdrawal(&w, 41, u128::MAX);
    wd.advance(TransactionStatus::PendingSignature, at(500))
        .expect("advance");
    wd.advance(TransactionStatus::Failed, at(501))
        .expect("advance");
    wd.failure_reason = Some("rejected by policy: «limit»".to_owned());
    let mut transfer = transaction(
        a,
        42,
        TransactionKind::Transfer,
        usdt_eth(),
        1,
        Some(w.w1.id),
        Some(w.w2.id),
    );
    transfer.reference = None;
    let theirs = their_deposit(&w, b, 43, 9);
    commit_transactions(env, &[&deposit, &wd, &transfer, &theirs]).await;

    for t in [&deposit, &wd, &transfer] {
        assert_eq!(&env.transactions.get(a, t.id).await.expect("get"), t);
    }
    assert_eq!(wd.history.len(), 3, "fixture has a three-step history");
    assert_eq!(
        env.transactions.get(b, theirs.id).await.expect("get"),
        theirs
    );
    assert_not_found(
        env.transactions.get(b, deposit.id).await,
        "get of another tenant's transaction",
    );
    assert_not_found(
        env.transactions.get(a, transaction_id(99)).await,
        "get of an unknown transaction",
    );

    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(
        tx.lock_transaction(Some(a), deposit.id)
            .await
            .expect("lock for tenant"),
        deposit
    );
    assert_eq!(
        tx.lock_transaction(None, theirs.id)
            .await
            .expect("lock for any tenant"),
        theirs
    );
    assert_eq!(tx.lock_transaction(None, wd.id).await.expect("lock"), wd);
    assert_not_found(
        tx.lock_transaction(Some(b), deposit.id).await,
        "lock_transaction of another tenant's transaction",
    );
    assert_not_found(
        tx.lock_transaction(None, transaction_id(99)).await,
        "lock_transaction of an unknown transaction",
    );
    drop(tx);
}

/// `lock_deposit_by_provider_ref` finds deposits only.
pub async fn transactions_lock_deposit_by_provider_ref(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let deposit = full_deposit(&w, 40, "shared-ref");
    let mut wd = withdrawal(&w, 41, 5);
    wd.provider_ref = Some("shared-ref".to_owned());
    let mut wd_only = withdrawal(&w, 42, 6);
    wd_only.provider_ref = Some("withdrawal-ref".to_owned());
    let mut other_tenant = transaction(
        b,
        43,
        TransactionKind::Deposit,
        usdt_eth(),
        9,
        None,
        Some(w.wb.id),
    );
    other_tenant.provider_ref = Some("their-ref".to_owned());
    commit_transactions(env, &[&wd, &deposit, &wd_only, &other_tenant]).await;

    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(
        tx.lock_deposit_by_provider_ref("shared-ref")
            .await
            .expect("lock deposit"),
        deposit
    );
    assert_eq!(
        tx.lock_deposit_by_provider_ref("their-ref")
            .await
            .expect("any tenant"),
        other_tenant
    );
    assert_not_found(
        tx.lock_deposit_by_provider_ref("withdrawal-ref").await,
        "a withdrawal's provider_ref",
    );
    assert_not_found(
        tx.lock_deposit_by_provider_ref("nobody").await,
        "an unknown provider_ref",
    );
    assert_not_found(
        tx.lock_deposit_by_provider_ref("SHARED-REF").await,
        "provider refs are compared exactly",
    );
    drop(tx);
}

/// `update_transaction` saves status, history, provider data and confirmations; a version that
/// is not greater than the stored one is a `Conflict`; an unknown transaction is `NotFound`.
pub async fn transactions_update_version_rule(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let original = withdrawal(&w, 40, 1_000);
    let bystander = withdrawal(&w, 41, 2_000);
    commit_transactions(env, &[&original, &bystander]).await;

    let mut t = original.clone();
    let mut tx = env.uow.begin().await.expect("begin");
    assert_eq!(
        tx.lock_transaction(Some(a), t.id).await.expect("lock"),
        original
    );
    t.advance(TransactionStatus::PendingSignature, at(100))
        .expect("advance");
    t.advance(TransactionStatus::Broadcasting, at(101))
        .expect("advance");
    t.provider_ref = Some("bitgo-transfer-1".to_owned());
    t.tx_hash = Some("0xabc".to_owned());
    tx.update_transaction(&t).await.expect("update");
    assert_eq!(
        tx.lock_transaction(Some(a), t.id)
            .await
            .expect("read own write"),
        t
    );
    tx.commit().await.expect("commit");
    assert_eq!(env.transactions.get(a, t.id).await.expect("get"), t);
    assert_eq!(
        env.transactions.get(a, bystander.id).await.expect("get"),
        bystander
    );

    t.advance(TransactionStatus::Confirming, at(200))
        .expect("advance");
    t.confirmations = Some(Confirmations {
        seen: 1,
        required: 64,
    });
    let mut tx = env.uow.begin().await.expect("begin");
    tx.update_transaction(&t).await.expect("update");
    tx.commit().await.expect("commit");
    t.advance(TransactionStatus::Failed, at(300))
        .expect("advance");
    t.failure_reason = Some("reorg".to_owned());
    t.confirmations = None;
    let mut tx = env.uow.begin().await.expect("begin");
    tx.update_transaction(&t).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(env.transactions.get(a, t.id).await.expect("get"), t);

    let mut stale = t.clone();
    stale.failure_reason = Some("stale".to_owned());
    let mut tx = env.uow.begin().await.expect("begin");
    assert_any_conflict(
        tx.update_transaction(&stale).await,
        "update with the stored version",
    );
    drop(tx);
    let mut older = original.clone();
    older.version = 2;
    let mut tx = env.uow.begin().await.expect("begin");
    assert_any_conflict(
        tx.update_transaction(&older).await,
        "update with a lower version",
    );
    drop(tx);
    assert_eq!(
        env.transactions.get(a, t.id).await.expect("get"),
        t,
        "refused writes change nothing"
    );

    let mut tx = env.uow.begin().await.expect("begin");
    assert_not_found(
        tx.update_transaction(&withdrawal(&w, 99, 1)).await,
        "update of an unknown transaction",
    );
    drop(tx);
    assert_not_found(
        env.transactions.get(a, transaction_id(99)).await,
        "update must not insert",
    );
}

/// (environment, kind, provider_ref) is unique (`transactions_kind_provider_ref_key`): a second
/// deposit with a reference is refused; another kind, the other environment, and any number of
/// transactions without a reference are fine.
pub async fn transactions_unique_provider_ref(stores: StoreHandles) {
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(&stores.sandbox, a, b, 10).await;
    let lw = seed_tx_world(&stores.live, a, b, 20).await;
    let first = full_deposit(&w, 40, "dep-ref");
    commit_transactions(&stores.sandbox, &[&first]).await;

    let twin = full_deposit(&w, 41, "dep-ref");
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert_conflict(
        tx.insert_transaction(&twin).await,
        "transactions_kind_provider_ref_key",
        "a second deposit with the same provider_ref",
    );
    drop(tx);
    assert_not_found(
        stores.sandbox.transactions.get(a, twin.id).await,
        "the refused deposit is absent",
    );
    // Another tenant's deposit with the same reference is refused too (the reference is the
    // provider's, not the tenant's).
    let mut theirs = transaction(
        b,
        42,
        TransactionKind::Deposit,
        usdt_eth(),
        9,
        None,
        Some(w.wb.id),
    );
    theirs.provider_ref = Some("dep-ref".to_owned());
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert_conflict(
        tx.insert_transaction(&theirs).await,
        "transactions_kind_provider_ref_key",
        "another tenant's deposit with the same provider_ref",
    );
    drop(tx);

    let mut wd = withdrawal(&w, 43, 5);
    wd.provider_ref = Some("dep-ref".to_owned());
    let live_twin = full_deposit(&lw, 44, "dep-ref");
    commit_transactions(&stores.sandbox, &[&wd]).await;
    commit_transactions(&stores.live, &[&live_twin]).await;
    let none1 = withdrawal(&w, 45, 1);
    let none2 = withdrawal(&w, 46, 2);
    let mut dep_none1 = full_deposit(&w, 47, "x");
    dep_none1.provider_ref = None;
    let mut dep_none2 = full_deposit(&w, 48, "x");
    dep_none2.provider_ref = None;
    commit_transactions(&stores.sandbox, &[&none1, &none2, &dep_none1, &dep_none2]).await;
    for t in [&wd, &none1, &none2, &dep_none1, &dep_none2] {
        assert_eq!(
            &stores.sandbox.transactions.get(a, t.id).await.expect("get"),
            t
        );
    }
    assert_eq!(
        stores
            .live
            .transactions
            .get(a, live_twin.id)
            .await
            .expect("get"),
        live_twin
    );

    // A duplicate id is refused as well.
    let mut same_id = withdrawal(&w, 49, 3);
    same_id.id = first.id;
    let mut tx = stores.sandbox.uow.begin().await.expect("begin");
    assert_any_conflict(
        tx.insert_transaction(&same_id).await,
        "a transaction with an existing id",
    );
    drop(tx);
    assert_eq!(
        stores
            .sandbox
            .transactions
            .get(a, first.id)
            .await
            .expect("get"),
        first
    );
}

/// `TransactionStore::list`: id order, filters by wallet (source or destination), kind and
/// status, alone and combined, tenant scope, pagination.
pub async fn transactions_list_filters_pagination(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let t = |n, kind, src, dst| usdt_transaction(a, n, kind, src, dst);
    let mut completed_deposit = t(45, TransactionKind::Deposit, None, Some(w.w2.id));
    completed_deposit
        .advance(TransactionStatus::Completed, at(900))
        .expect("advance");
    let mine = vec![
        t(44, TransactionKind::Withdrawal, Some(w.w1.id), None),
        t(41, TransactionKind::Deposit, None, Some(w.w1.id)),
        completed_deposit,
        t(42, TransactionKind::Transfer, Some(w.w1.id), Some(w.w2.id)),
        t(43, TransactionKind::Transfer, Some(w.w2.id), Some(w.w1.id)),
        t(46, TransactionKind::Transfer, Some(w.w2.id), Some(w.w1.id)),
    ];
    for x in &mine {
        commit_transactions(env, &[x]).await;
    }
    let theirs = their_deposit(&w, b, 47, 1);
    commit_transactions(env, &[&theirs]).await;
    let mut sorted = mine.clone();
    sorted.sort_by_key(|x| x.id);

    let store = env.transactions.clone();
    let expected: Vec<_> = sorted.iter().map(|x| x.id.ulid()).collect();
    check_pagination(
        "transactions",
        &expected,
        |x: &Transaction| x.id.ulid(),
        |p| {
            let store = store.clone();
            async move { store.list(a, &TransactionFilter::default(), p).await }
        },
    )
    .await;

    let list = |tenant, filter| list_transactions(env, tenant, filter);
    let only = |pred: &dyn Fn(&Transaction) -> bool| {
        sorted
            .iter()
            .filter(|x| pred(x))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(list(a, TransactionFilter::default()).await, sorted);
    let touches =
        |x: &Transaction, id| x.source_wallet_id == Some(id) || x.destination_wallet_id == Some(id);
    for wid in [w.w1.id, w.w2.id] {
        let got = list(
            a,
            TransactionFilter {
                wallet_id: Some(wid),
                ..TransactionFilter::default()
            },
        )
        .await;
        assert_eq!(got, only(&|x| touches(x, wid)), "wallet filter {wid}");
    }
    for kind in [
        TransactionKind::Deposit,
        TransactionKind::Transfer,
        TransactionKind::Withdrawal,
    ] {
        let got = list(
            a,
            TransactionFilter {
                kind: Some(kind),
                ..TransactionFilter::default()
            },
        )
        .await;
        assert_eq!(got, only(&|x| x.kind == kind), "kind filter {kind:?}");
    }
    for status in [
        TransactionStatus::Completed,
        TransactionStatus::Confirming,
        TransactionStatus::Submitted,
        TransactionStatus::Failed,
    ] {
        let got = list(
            a,
            TransactionFilter {
                status: Some(status),
                ..TransactionFilter::default()
            },
        )
        .await;
        assert_eq!(
            got,
            only(&|x| x.status == status),
            "status filter {status:?}"
        );
    }
    let combined = TransactionFilter {
        wallet_id: Some(w.w2.id),
        kind: Some(TransactionKind::Transfer),
        status: Some(TransactionStatus::Completed),
        ..TransactionFilter::default()
    };
    let got = list(a, combined.clone()).await;
    assert_eq!(
        got,
        only(&|x| touches(x, w.w2.id)
            && x.kind == TransactionKind::Transfer
            && x.status == TransactionStatus::Completed)
    );
    assert_eq!(got.len(), 3);
    assert_eq!(
        list(
            a,
            TransactionFilter {
                wallet_id: Some(w.wb.id),
                ..TransactionFilter::default()
            }
        )
        .await,
        Vec::<Transaction>::new(),
        "another tenant's wallet lists nothing"
    );
    assert_eq!(list(b, TransactionFilter::default()).await, vec![theirs]);

    let store = env.transactions.clone();
    let w1_ids: Vec<_> = only(&|x| touches(x, w.w1.id))
        .iter()
        .map(|x| x.id.ulid())
        .collect();
    check_pagination(
        "transactions of one wallet",
        &w1_ids,
        |x: &Transaction| x.id.ulid(),
        |p| {
            let store = store.clone();
            let filter = TransactionFilter {
                wallet_id: Some(w.w1.id),
                ..TransactionFilter::default()
            };
            async move { store.list(a, &filter, p).await }
        },
    )
    .await;
}

/// `TransactionStore::list` with `vault_id`: the transactions debiting or crediting any wallet
/// of the vault (in the query: full pages while matches remain), combined with the other
/// filters, in id order; another tenant's vault and a vault without transactions list nothing.
pub async fn transactions_list_by_vault(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    // A second wallet in w1's vault.
    let vault = w.w1.vault_id;
    let w3 = wallet(&customer_vault(a, 10), usdc_eth(), 30);
    assert_eq!(w3.vault_id, vault);
    commit_wallets(env, &[&w3]).await;
    let empty = customer_vault(a, 31);
    commit_vaults(env, &[&empty]).await;
    let t = |n, kind, src, dst| usdt_transaction(a, n, kind, src, dst);
    // Mostly transactions of the other vault, so the vault's are spread thin.
    let mut mine = Vec::new();
    for n in 40..100u64 {
        mine.push(match n % 6 {
            0 => t(n, TransactionKind::Deposit, None, Some(w.w1.id)),
            1 => t(n, TransactionKind::Transfer, Some(w.w2.id), Some(w3.id)),
            2 => t(n, TransactionKind::Withdrawal, Some(w3.id), None),
            _ => t(n, TransactionKind::Deposit, None, Some(w.w2.id)),
        });
    }
    commit_transactions(env, &mine.iter().collect::<Vec<_>>()).await;
    let theirs = their_deposit(&w, b, 100, 1);
    commit_transactions(env, &[&theirs]).await;

    let in_vault = |x: &Transaction| {
        [x.source_wallet_id, x.destination_wallet_id]
            .into_iter()
            .flatten()
            .any(|id| id == w.w1.id || id == w3.id)
    };
    let list = |tenant, filter| list_transactions(env, tenant, filter);
    let by_vault = |vault_id| TransactionFilter {
        vault_id: Some(vault_id),
        ..TransactionFilter::default()
    };
    let expected: Vec<_> = mine.iter().filter(|x| in_vault(x)).cloned().collect();
    assert_eq!(expected.len(), 30);
    assert_eq!(list(a, by_vault(vault)).await, expected);
    let transfers = TransactionFilter {
        kind: Some(TransactionKind::Transfer),
        ..by_vault(vault)
    };
    assert_eq!(
        list(a, transfers).await,
        expected
            .iter()
            .filter(|x| x.kind == TransactionKind::Transfer)
            .cloned()
            .collect::<Vec<_>>()
    );
    let with_wallet = TransactionFilter {
        wallet_id: Some(w.w2.id),
        ..by_vault(vault)
    };
    assert_eq!(
        list(a, with_wallet).await.len(),
        10,
        "w2 -> w3 transfers: both filters hold"
    );
    assert!(list(a, by_vault(empty.id)).await.is_empty());
    assert!(
        list(a, by_vault(w.wb.vault_id)).await.is_empty(),
        "another tenant's vault lists nothing"
    );
    assert!(
        list(b, by_vault(vault)).await.is_empty(),
        "a vault of another tenant, asked by that tenant"
    );
    assert_eq!(list(b, by_vault(w.wb.vault_id)).await, vec![theirs]);

    let ids: Vec<_> = expected.iter().map(|x| x.id.ulid()).collect();
    let store = env.transactions.clone();
    check_pagination(
        "transactions of one vault",
        &ids,
        |x: &Transaction| x.id.ulid(),
        |p| {
            let store = store.clone();
            async move { store.list(a, &by_vault(vault), p).await }
        },
    )
    .await;
}

fn posting(wallet_id: WalletId, bucket: Bucket, delta: i128) -> Posting {
    Posting {
        account: Account::Wallet { wallet_id, bucket },
        delta,
    }
}

/// `append_ledger` + `ledger_for_wallet`: a wallet's entries come back exactly, in the order
/// written (not by transaction id or time), and only that wallet's.
pub async fn ledger_append_in_write_order(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let t1 = transaction(
        a,
        41,
        TransactionKind::Transfer,
        usdt_eth(),
        5,
        Some(w.w1.id),
        Some(w.w2.id),
    );
    let t2 = full_deposit(&w, 42, "dep");
    let t3 = withdrawal(&w, 43, 7);
    commit_transactions(env, &[&t1, &t2, &t3]).await;

    let entry = |t: &Transaction, posting, s| LedgerEntry {
        transaction_id: t.id,
        asset: t.asset,
        posting,
        created_at: at(s),
    };
    let external = Posting {
        account: Account::External { asset: usdt_eth() },
        delta: -i128::MAX,
    };
    // Written newest transaction first, with times going backwards.
    let first_batch = vec![
        entry(&t3, posting(w.w1.id, Bucket::Available, -7), 300),
        entry(&t3, posting(w.w1.id, Bucket::Held, 7), 300),
    ];
    let second_batch = vec![
        entry(&t2, external, 200),
        entry(&t2, posting(w.w1.id, Bucket::Pending, i128::MAX), 200),
    ];
    let third_batch = vec![
        entry(&t1, posting(w.w1.id, Bucket::Available, -5), 100),
        entry(&t1, posting(w.w2.id, Bucket::Available, 5), 100),
        entry(&t1, posting(w.w1.id, Bucket::Available, 1), 99),
    ];
    let mut tx = env.uow.begin().await.expect("begin");
    tx.append_ledger(&first_batch).await.expect("append");
    tx.append_ledger(&second_batch).await.expect("append");
    tx.append_ledger(&[]).await.expect("append nothing");
    tx.commit().await.expect("commit");
    let mut tx = env.uow.begin().await.expect("begin");
    tx.append_ledger(&third_batch).await.expect("append");
    tx.commit().await.expect("commit");

    let w1_expected = vec![
        first_batch[0].clone(),
        first_batch[1].clone(),
        second_batch[1].clone(),
        third_batch[0].clone(),
        third_batch[2].clone(),
    ];
    assert_eq!(
        env.transactions
            .ledger_for_wallet(w.w1.id)
            .await
            .expect("ledger"),
        w1_expected,
        "wallet 1's entries in write order"
    );
    assert_eq!(
        env.transactions
            .ledger_for_wallet(w.w2.id)
            .await
            .expect("ledger"),
        vec![third_batch[1].clone()]
    );
    assert_eq!(
        env.transactions
            .ledger_for_wallet(w.wb.id)
            .await
            .expect("ledger"),
        Vec::<LedgerEntry>::new()
    );
    assert_eq!(
        env.transactions
            .ledger_for_wallet(wallet_id(99))
            .await
            .expect("ledger"),
        Vec::<LedgerEntry>::new()
    );
}

/// `open_withdrawals`: withdrawals in a non-terminal status, of every tenant, oldest first, at
/// most `limit`.
pub async fn transactions_open_withdrawals(stores: StoreHandles) {
    let env = &stores.sandbox;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let path = |t: &mut Transaction, to: TransactionStatus| {
        for step in t.status.path_to(to).expect("reachable") {
            t.advance(step, at(1000)).expect("advance");
        }
    };
    let mut all = Vec::new();
    let mut open = Vec::new();
    // Ids (and times) ascending in this order; inserted shuffled below.
    for (n, status) in [
        (40u64, TransactionStatus::Submitted),
        (41, TransactionStatus::Completed),
        (42, TransactionStatus::PendingSignature),
        (43, TransactionStatus::Failed),
        (44, TransactionStatus::Broadcasting),
        (45, TransactionStatus::Cancelled),
        (46, TransactionStatus::Confirming),
        (48, TransactionStatus::Submitted),
    ] {
        let mut t = withdrawal(&w, n, 10 + u128::from(n));
        if status != TransactionStatus::Submitted {
            path(&mut t, status);
        }
        if !status.is_terminal() {
            open.push(t.clone());
        }
        all.push(t);
    }
    // Another tenant's open withdrawal, in the middle.
    let mut theirs = transaction(
        b,
        47,
        TransactionKind::Withdrawal,
        usdt_eth(),
        3,
        Some(w.wb.id),
        None,
    );
    theirs.destination_address = Some(chain_address(Network::Ethereum, 4242));
    open.insert(4, theirs.clone());
    all.push(theirs);
    // Confirming deposits and completed transfers are not withdrawals.
    all.push(full_deposit(&w, 39, "d"));
    all.push(transaction(
        a,
        38,
        TransactionKind::Transfer,
        usdt_eth(),
        1,
        Some(w.w1.id),
        Some(w.w2.id),
    ));
    let mut shuffled = all.clone();
    shuffled.reverse();
    shuffled.swap(0, 3);
    for t in &shuffled {
        commit_transactions(env, &[t]).await;
    }

    assert_eq!(
        env.transactions.open_withdrawals(50).await.expect("open"),
        open,
        "every open withdrawal, oldest first"
    );
    assert_eq!(
        env.transactions.open_withdrawals(2).await.expect("open"),
        open[..2].to_vec(),
        "limit"
    );
    assert_eq!(
        env.transactions.open_withdrawals(1).await.expect("open"),
        open[..1].to_vec()
    );

    // Finishing one removes it.
    let mut first = open[0].clone();
    first
        .advance(TransactionStatus::Cancelled, at(2000))
        .expect("cancel");
    let mut tx = env.uow.begin().await.expect("begin");
    tx.update_transaction(&first).await.expect("update");
    tx.commit().await.expect("commit");
    assert_eq!(
        env.transactions.open_withdrawals(50).await.expect("open"),
        open[1..].to_vec()
    );
}

/// Balance arithmetic: a sequence of movements booked as the services book them (wallets
/// locked, postings applied, wallets saved, entries appended, one transaction each), after
/// which each wallet's stored balances equal both the expected figures and the replay of its
/// ledger.
pub async fn ledger_replay_matches_balances(stores: StoreHandles) {
    let env = &stores.live;
    let a = seed_tenant(&stores, 1).await;
    let b = seed_tenant(&stores, 2).await;
    let w = seed_tx_world(env, a, b, 10).await;
    let (w1, w2) = (w.w1.id, w.w2.id);
    let asset = usdt_eth();
    let big = u128::from(u64::MAX) * 1_000;
    let steps: Vec<Movement> = vec![
        Movement::DepositDetected {
            wallet: w1,
            asset,
            amount: amount(big),
        },
        Movement::DepositCompleted {
            wallet: w1,
            amount: amount(big),
        },
        Movement::DepositDetected {
            wallet: w2,
            asset,
            amount: amount(300),
        },
        Movement::WithdrawalSubmitted {
            wallet: w1,
            amount: amount(1_000),
        },
        Movement::WithdrawalReleased {
            wallet: w1,
            amount: amount(400),
        },
        Movement::WithdrawalCompleted {
            wallet: w1,
            asset,
            amount: amount(600),
        },
        Movement::Transfer {
            from: w1,
            to: w2,
            amount: amount(big - 10_000),
        },
        Movement::DepositFailed {
            wallet: w2,
            asset,
            amount: amount(100),
        },
        Movement::Transfer {
            from: w2,
            to: w1,
            amount: amount(7),
        },
        Movement::DepositCompleted {
            wallet: w2,
            amount: amount(200),
        },
    ];
    for (i, movement) in steps.iter().enumerate() {
        let n = 40 + i as u64;
        let now = at(100 + i as i64);
        let t = transaction(
            a,
            n,
            TransactionKind::Transfer,
            asset,
            1,
            Some(w1),
            Some(w2),
        );
        let mut tx = env.uow.begin().await.expect("begin");
        let locked = tx.lock_wallets(a, &[w2, w1]).await.expect("lock");
        let mut wallets: BTreeMap<WalletId, Wallet> =
            locked.into_iter().map(|x| (x.id, x)).collect();
        assert_eq!(wallets.len(), 2);
        let postings = movement.postings().expect("postings");
        let mut bal: BTreeMap<WalletId, Balances> =
            wallets.iter().map(|(id, x)| (*id, x.balances)).collect();
        ledger::apply(&mut bal, &postings).expect("movement applies");
        tx.insert_transaction(&t).await.expect("insert transaction");
        for (id, wallet) in &mut wallets {
            if wallet.balances != bal[id] {
                wallet.balances = bal[id];
                wallet.touch(now);
                tx.update_wallet(wallet).await.expect("update wallet");
            }
        }
        tx.append_ledger(&LedgerEntry::for_postings(t.id, asset, &postings, now))
            .await
            .expect("append");
        tx.commit().await.expect("commit");
    }

    let expected_w1 = balances(10_000 - 1_000 + 400 + 7, 0, 0);
    let expected_w2 = balances(big - 10_000 - 7 + 200, 0, 0);
    for (id, expected) in [(w1, expected_w1), (w2, expected_w2)] {
        let stored = env.wallets.get(a, id).await.expect("get").balances;
        assert_eq!(stored, expected, "stored balances of {id}");
        let entries = env
            .transactions
            .ledger_for_wallet(id)
            .await
            .expect("ledger");
        assert_eq!(
            ledger::replay(id, &entries).expect("replay"),
            stored,
            "ledger replay of {id}"
        );
    }
    let w1_entries = env
        .transactions
        .ledger_for_wallet(w1)
        .await
        .expect("ledger");
    assert_eq!(w1_entries.len(), 10, "every posting touching wallet 1");
}
