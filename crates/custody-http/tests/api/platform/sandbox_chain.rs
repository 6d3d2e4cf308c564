//! Sandbox withdrawals on the simulated chain, end to end over a real store: the core's
//! `WithdrawalService` hands them to the sandbox provider and applies what it reports, read at
//! a manual clock (the worker does the same with the real one). Proves the schedule, the magic
//! values and the hand-over count against the real booking, on both stores.

use std::sync::Arc;
use std::time::Duration;

use custody_core::api_key::ScopeSet;
use custody_core::asset::Network;
use custody_core::caller::Caller;
use custody_core::id::WalletId;
use custody_core::ledger;
use custody_core::ports::Clock as _;
use custody_core::ports::{
    CustodyProvider, FixedClock, ProviderError, SequentialIds, WithdrawalRequest,
};
use custody_core::services::{
    AddressBookService, NewAddressBookEntry, WithdrawCommand, WithdrawalService,
};
use custody_core::text::Label;
use custody_core::transaction::{Transaction, TransactionStatus};
use custody_http::system::SystemClock;
use custody_sandbox::{ChainConfig, SandboxProvider};

use super::*;

/// A funded sandbox wallet, the services over the app's sandbox store, and the manual clock.
struct Chain {
    app: TestApp,
    caller: Caller,
    wallet: WalletId,
    entry: custody_core::id::AddressBookEntryId,
    clock: Arc<FixedClock>,
    sandbox: SandboxProvider,
    withdrawals: WithdrawalService,
}

async fn chain(engine: Engine) -> Chain {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (_, wallet) = vault_with_wallet(&app, &key, "chain").await;
    let wallet_id = str_of(&wallet, "id").to_owned();
    let (status, _, funded) = call(
        &app,
        &key,
        Method::POST,
        "/v1/sandbox/deposits",
        Some(&json!({"walletId": wallet_id, "amount": "100", "settle": "instant"}).to_string()),
    )
    .await;
    assert_eq!(status, 201, "{funded}");

    let env = app.store.environment(Environment::Sandbox);
    let clock = Arc::new(FixedClock::new(SystemClock.now()));
    let ids = Arc::new(SequentialIds::new(1_800_000_000_000));
    let sandbox = SandboxProvider::new(ChainConfig::default(), clock.clone());
    let caller = Caller {
        tenant_id: key.minted.record.tenant_id,
        environment: Environment::Sandbox,
        key_id: key.minted.record.id,
        scopes: ScopeSet::all(),
    };
    let entry = AddressBookService::new(
        env.uow.clone(),
        env.address_book.clone(),
        clock.clone(),
        ids.clone(),
        custody_http::events::renderer(),
    )
    .add(
        &caller,
        NewAddressBookEntry {
            network: Network::Ethereum,
            address: "0x52908400098527886E0F7030069857D2E4169EE7".into(),
            label: Label::parse("Cold storage").expect("label"),
            asset: None,
        },
        None,
    )
    .await
    .expect("address-book entry");
    let withdrawals = WithdrawalService::new(
        env.uow,
        env.transactions,
        Arc::new(sandbox.clone()),
        clock.clone(),
        ids,
        custody_http::events::renderer(),
    );
    Chain {
        app,
        caller,
        wallet: WalletId::parse(&wallet_id).expect("wallet id"),
        entry: entry.id,
        clock,
        sandbox,
        withdrawals,
    }
}

impl Chain {
    async fn submit(&self, amount: &str) -> Transaction {
        let t = self
            .withdrawals
            .submit(
                &self.caller,
                WithdrawCommand {
                    from: self.wallet,
                    destination: self.entry,
                    amount: amount.into(),
                    reference: None,
                },
                None,
            )
            .await
            .expect("submitted");
        assert_eq!(t.status, TransactionStatus::Submitted);
        t
    }

    /// The worker's poll: read the status from the provider, apply it.
    async fn poll_at(&self, t: &Transaction, after: Duration) -> Transaction {
        self.clock.set(t.created_at + after);
        let request = WithdrawalRequest {
            transaction_id: t.id,
            wallet_id: self.wallet,
            asset: t.asset,
            amount: t.amount,
            destination: t.destination_address.clone().expect("destination"),
            recorded_at: t.created_at,
            provider_ref: None,
        };
        let report = self
            .sandbox
            .withdrawal_status(&request)
            .await
            .expect("status");
        self.withdrawals
            .apply_provider_update(t.id, report)
            .await
            .expect("applied")
    }

    async fn balances(&self) -> custody_core::wallet::Balances {
        let env = self.app.store.environment(Environment::Sandbox);
        let wallet = env
            .wallets
            .get(self.caller.tenant_id, self.wallet)
            .await
            .expect("wallet");
        let entries = env
            .transactions
            .ledger_for_wallet(self.wallet)
            .await
            .expect("ledger");
        assert_eq!(
            ledger::replay(self.wallet, &entries).expect("replays"),
            wallet.balances,
            "ledger == balances"
        );
        wallet.balances
    }
}

fn units(tokens: u128) -> u128 {
    tokens * 1_000_000
}

async fn a_sandbox_withdrawal_walks_the_schedule_to_completed(engine: Engine) {
    let chain = chain(engine).await;
    let t = chain.submit("10").await;
    assert_eq!(chain.balances().await.held.base_units(), units(10));

    chain.clock.set(t.created_at);
    let handed = chain.withdrawals.dispatch(t.id).await.expect("dispatched");
    assert_eq!(handed.status, TransactionStatus::PendingSignature);
    assert_eq!(
        handed.provider_ref.as_deref(),
        Some(format!("sandbox-{}", t.id).as_str())
    );
    // A second pass does not hand it over again.
    chain.withdrawals.dispatch(t.id).await.expect("dispatched");
    assert_eq!(chain.sandbox.sends(t.id), 1, "handed over once");

    let broadcasting = chain.poll_at(&t, Duration::from_millis(2_500)).await;
    assert_eq!(broadcasting.status, TransactionStatus::Broadcasting);
    let hash = broadcasting.tx_hash.clone().expect("hash once broadcast");
    assert!(hash.starts_with("0x") && hash.len() == 66, "{hash}");
    let confirming = chain.poll_at(&t, Duration::from_millis(6_000)).await;
    assert_eq!(confirming.status, TransactionStatus::Confirming);
    assert_eq!(chain.balances().await.held.base_units(), units(10));
    let seen = |t: &Transaction| t.confirmations.map(|c| (c.seen, c.required));
    assert_eq!(seen(&confirming), Some((2, 6)), "confirmations recorded");
    // A later block: the same status with more confirmations is news (a new version).
    let deeper = chain.poll_at(&t, Duration::from_millis(8_000)).await;
    assert_eq!(deeper.status, TransactionStatus::Confirming);
    assert_eq!(seen(&deeper), Some((4, 6)));
    assert!(deeper.version > confirming.version, "a new version");

    let done = chain.poll_at(&t, Duration::from_secs(10)).await;
    assert_eq!(done.status, TransactionStatus::Completed);
    assert_eq!(done.tx_hash.as_deref(), Some(hash.as_str()));
    assert_eq!(seen(&done), Some((6, 6)));
    assert_eq!(
        done.history.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![
            TransactionStatus::Submitted,
            TransactionStatus::PendingSignature,
            TransactionStatus::Broadcasting,
            TransactionStatus::Confirming,
            TransactionStatus::Completed
        ]
    );
    let b = chain.balances().await;
    assert_eq!(b.available.base_units(), units(90));
    assert!(b.held.is_zero());
    // Polled again later: nothing changes.
    let later = chain.poll_at(&t, Duration::from_secs(600)).await;
    assert_eq!(later.status, TransactionStatus::Completed);
    assert_eq!(later.version, done.version, "unchanged");
    assert_eq!(later.history.len(), done.history.len());
    assert_eq!(chain.balances().await, b);
}

async fn magic_amounts_drive_the_failure_paths(engine: Engine) {
    let chain = chain(engine).await;

    // .13: fails at broadcast, the held funds return.
    let fails = chain.submit("5.13").await;
    chain.clock.set(fails.created_at);
    chain
        .withdrawals
        .dispatch(fails.id)
        .await
        .expect("dispatched");
    let broadcasting = chain.poll_at(&fails, Duration::from_millis(3_000)).await;
    assert_eq!(broadcasting.status, TransactionStatus::Broadcasting);
    let failed = chain.poll_at(&fails, Duration::from_millis(4_000)).await;
    assert_eq!(failed.status, TransactionStatus::Failed);
    let reason = failed.failure_reason.clone().expect("reason");
    assert!(
        reason.contains("sandbox simulation") && reason.contains(".13"),
        "{reason}"
    );
    let b = chain.balances().await;
    assert_eq!(b.available.base_units(), units(100));
    assert!(b.held.is_zero());

    // .14: refused at hand-over, nothing sent: failed at once, funds returned.
    let refused = chain.submit("7.14").await;
    chain.clock.set(refused.created_at);
    let failed = chain
        .withdrawals
        .dispatch(refused.id)
        .await
        .expect("dispatched");
    assert_eq!(failed.status, TransactionStatus::Failed);
    assert!(failed
        .failure_reason
        .as_deref()
        .is_some_and(|r| r.contains(".14")));
    assert_eq!(chain.sandbox.sends(refused.id), 1);
    let b = chain.balances().await;
    assert_eq!(b.available.base_units(), units(100));
    assert!(b.held.is_zero());

    // .16: the first hand-over times out (nothing sent, funds stay held); the retry after the
    // outage goes through.
    let outage = chain.submit("1.16").await;
    chain.clock.set(outage.created_at);
    let err = chain
        .withdrawals
        .dispatch(outage.id)
        .await
        .expect_err("outage");
    assert!(err.is_retryable(), "{err:?}");
    assert!(matches!(
        err,
        custody_core::error::Error::Provider(ProviderError::Unavailable(_))
    ));
    assert_eq!(chain.balances().await.held.base_units(), units(1) + 160_000);
    chain.clock.set(outage.created_at + Duration::from_secs(5));
    let resent = chain.withdrawals.dispatch(outage.id).await.expect("resent");
    assert_eq!(chain.sandbox.sends(outage.id), 2);
    assert!(resent.provider_ref.is_some());
    let done = chain.poll_at(&outage, Duration::from_secs(10)).await;
    assert_eq!(done.status, TransactionStatus::Completed);
    let b = chain.balances().await;
    assert_eq!(b.available.base_units(), units(100) - units(1) - 160_000);
    assert!(b.held.is_zero());
}

on_both_stores!(
    a_sandbox_withdrawal_walks_the_schedule_to_completed,
    magic_amounts_drive_the_failure_paths,
);
