//! `POST /v1/sandbox/deposits`: simulated deposits, through the same deposit path a verified
//! live notification takes, then moved forward block by block by `DepositService::refresh`
//! (driven here directly, with a manual clock, as the worker drives it with the real one).

use std::sync::Arc;

use custody_core::api_key::Scope;
use custody_core::id::{TransactionId, WalletId};
use custody_core::ledger;
use custody_core::ports::{FixedClock, SequentialIds};
use custody_core::services::DepositService;
use custody_core::transaction::TransactionStatus;
use custody_sandbox::{ChainConfig, SandboxProvider, SimulatedDeposit};

use super::*;

const PATH: &str = "/v1/sandbox/deposits";

async fn simulate(app: &TestApp, key: &Key, body: Value) -> (u16, Value) {
    let (status, _, json) = call(app, key, Method::POST, PATH, Some(&body.to_string())).await;
    (status, json)
}

async fn read_wallet(app: &TestApp, key: &Key, id: &str) -> Value {
    let (status, _, wallet) = call(app, key, Method::GET, &format!("/v1/wallets/{id}"), None).await;
    assert_eq!(status, 200, "{wallet}");
    wallet
}

/// The wallet's balances are what its ledger says.
async fn assert_ledger_matches(app: &TestApp, key: &Key, wallet: &str) {
    let env = app.store.environment(Environment::Sandbox);
    let id = WalletId::parse(wallet).expect("wallet id");
    let stored = env
        .wallets
        .get(key.minted.record.tenant_id, id)
        .await
        .expect("wallet");
    let entries = env
        .transactions
        .ledger_for_wallet(id)
        .await
        .expect("ledger");
    assert_eq!(
        ledger::replay(id, &entries).expect("ledger replays"),
        stored.balances,
        "ledger == balances"
    );
}

/// The deposit service as the worker holds it, over the app's sandbox store, with the
/// sandbox chain read at `clock`.
fn worker_deposits(app: &TestApp, clock: Arc<FixedClock>) -> DepositService {
    let env = app.store.environment(Environment::Sandbox);
    DepositService::new(
        env.uow,
        Arc::new(SandboxProvider::new(ChainConfig::default(), clock.clone())),
        clock,
        Arc::new(SequentialIds::new(1)),
        custody_http::events::renderer(),
    )
}

async fn a_simulated_deposit_confirms_block_by_block_and_credits_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (_, wallet) = vault_with_wallet(&app, &key, "sim-1").await;
    let wallet_id = str_of(&wallet, "id").to_owned();

    let (status, deposit) =
        simulate(&app, &key, json!({"walletId": wallet_id, "amount": "250"})).await;
    assert_eq!(status, 201, "{deposit}");
    assert_eq!(
        keys_of(&deposit),
        [
            "id",
            "kind",
            "status",
            "assetId",
            "amount",
            "sourceWalletId",
            "destinationWalletId",
            "addressBookEntryId",
            "destinationAddress",
            "txHash",
            "confirmations",
            "requiredConfirmations",
            "reference",
            "failureReason",
            "statusHistory",
            "createdAt",
            "updatedAt"
        ]
        .into_iter()
        .map(String::from)
        .collect()
    );
    let id = assert_id(&deposit["id"], "tx_");
    assert_eq!(deposit["kind"], "Deposit");
    assert_eq!(deposit["status"], "Confirming");
    assert_eq!(deposit["assetId"], "USDT_ETHEREUM");
    assert_eq!(deposit["amount"], "250");
    assert_eq!(deposit["sourceWalletId"], Value::Null);
    assert_eq!(deposit["destinationWalletId"], wallet_id.as_str());
    assert_eq!(deposit["addressBookEntryId"], Value::Null);
    assert_eq!(deposit["destinationAddress"], wallet["depositAddress"]);
    let hash = str_of(&deposit, "txHash");
    assert!(
        hash.len() == 66 && hash.starts_with("0x"),
        "{hash} is not an EVM transaction hash"
    );
    assert_eq!(deposit["confirmations"], 0);
    assert_eq!(deposit["requiredConfirmations"], 6);
    assert_eq!(deposit["reference"], Value::Null);
    assert_eq!(deposit["failureReason"], Value::Null);
    assert_eq!(deposit["statusHistory"].as_array().map(Vec::len), Some(1));
    assert_eq!(deposit["statusHistory"][0]["status"], "Confirming");
    assert_timestamp(&deposit["statusHistory"][0]["at"]);
    assert_timestamp(&deposit["createdAt"]);
    assert_timestamp(&deposit["updatedAt"]);

    let balances = &read_wallet(&app, &key, &wallet_id).await["balances"];
    assert_eq!(balances["pending"], "250");
    assert_eq!(balances["available"], "0");
    assert_ledger_matches(&app, &key, &wallet_id).await;

    // The worker's step, with a manual clock on the simulated chain.
    let tx_id = TransactionId::parse(&id).expect("transaction id");
    let recorded = app
        .store
        .environment(Environment::Sandbox)
        .transactions
        .get(key.minted.record.tenant_id, tx_id)
        .await
        .expect("recorded");
    let reference = recorded.provider_ref.clone().expect("provider reference");
    let seen_at = SimulatedDeposit::parse(&reference, recorded.asset)
        .expect("a sandbox reference")
        .seen_at();
    let clock = Arc::new(FixedClock::new(seen_at));
    let deposits = worker_deposits(&app, clock.clone());

    let unchanged = deposits.refresh(tx_id).await.expect("refresh at 0 s");
    assert_eq!(unchanged.version, recorded.version, "nothing new at 0 s");

    clock.set(seen_at + time::Duration::seconds(2));
    let two = deposits.refresh(tx_id).await.expect("refresh at 2 s");
    assert_eq!(two.status, TransactionStatus::Confirming);
    assert_eq!(
        two.confirmations.map(|c| (c.seen, c.required)),
        Some((2, 6))
    );
    let (_, _, read) = call(
        &app,
        &key,
        Method::GET,
        &format!("/v1/wallets/{wallet_id}"),
        None,
    )
    .await;
    assert_eq!(read["balances"]["pending"], "250", "not yet credited");

    clock.set(seen_at + time::Duration::seconds(5));
    let five = deposits.refresh(tx_id).await.expect("refresh at 5 s");
    assert_eq!(five.confirmations.map(|c| c.seen), Some(5));

    clock.set(seen_at + time::Duration::seconds(6));
    let done = deposits.refresh(tx_id).await.expect("refresh at 6 s");
    assert_eq!(done.status, TransactionStatus::Completed);
    assert_eq!(
        done.confirmations.map(|c| (c.seen, c.required)),
        Some((6, 6))
    );
    assert_eq!(
        done.history.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![TransactionStatus::Confirming, TransactionStatus::Completed]
    );
    let balances = &read_wallet(&app, &key, &wallet_id).await["balances"];
    assert_eq!(balances["available"], "250");
    assert_eq!(balances["pending"], "0");

    // Exactly once: refreshing a completed deposit again changes nothing.
    clock.set(seen_at + time::Duration::seconds(60));
    for _ in 0..2 {
        let again = deposits.refresh(tx_id).await.expect("refresh again");
        assert_eq!(again, done);
    }
    let balances = &read_wallet(&app, &key, &wallet_id).await["balances"];
    assert_eq!(balances["available"], "250");
    assert_eq!(balances["total"], "250");
    assert_ledger_matches(&app, &key, &wallet_id).await;

    // By address: the same path, to the wallet that owns it.
    let (status, by_address) = simulate(
        &app,
        &key,
        json!({"address": wallet["depositAddress"], "amount": "1.5"}),
    )
    .await;
    assert_eq!(status, 201, "{by_address}");
    assert_eq!(by_address["destinationWalletId"], wallet_id.as_str());
    assert_eq!(by_address["amount"], "1.5");
    assert_ne!(by_address["id"], deposit["id"]);
    assert_ne!(by_address["txHash"], deposit["txHash"]);
    let balances = &read_wallet(&app, &key, &wallet_id).await["balances"];
    assert_eq!(balances["pending"], "1.5");
    assert_eq!(balances["available"], "250");
    assert_ledger_matches(&app, &key, &wallet_id).await;
}

async fn an_instant_deposit_completes_in_the_request(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (_, wallet) = vault_with_wallet(&app, &key, "sim-2").await;
    let wallet_id = str_of(&wallet, "id").to_owned();

    let (status, deposit) = simulate(
        &app,
        &key,
        json!({"walletId": wallet_id, "amount": "12.5", "settle": "instant"}),
    )
    .await;
    assert_eq!(status, 201, "{deposit}");
    assert_eq!(deposit["status"], "Completed");
    assert_eq!(deposit["confirmations"], 6);
    assert_eq!(deposit["requiredConfirmations"], 6);
    let history: Vec<&str> = deposit["statusHistory"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["status"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(history, vec!["Confirming", "Completed"]);
    let balances = &read_wallet(&app, &key, &wallet_id).await["balances"];
    assert_eq!(balances["available"], "12.5");
    assert_eq!(balances["pending"], "0");
    assert_ledger_matches(&app, &key, &wallet_id).await;

    // A `.13` deposit fails: the pending credit is reversed, nothing is credited.
    let (status, failed) = simulate(
        &app,
        &key,
        json!({"walletId": wallet_id, "amount": "2.13", "settle": "instant"}),
    )
    .await;
    assert_eq!(status, 201, "{failed}");
    assert_eq!(failed["status"], "Failed");
    let balances = &read_wallet(&app, &key, &wallet_id).await["balances"];
    assert_eq!(balances["available"], "12.5");
    assert_eq!(balances["pending"], "0");
    assert_ledger_matches(&app, &key, &wallet_id).await;
}

async fn a_replayed_simulation_credits_once(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (_, wallet) = vault_with_wallet(&app, &key, "sim-3").await;
    let wallet_id = str_of(&wallet, "id").to_owned();
    let body = json!({"walletId": wallet_id, "amount": "7"}).to_string();

    let send = || {
        app.request(&key, Method::POST, PATH, Some(&body))
            .idempotency_key("sim-replay-1")
            .send()
    };
    let (status, _, first_raw, first) = parts(send().await).await;
    assert_eq!(status, 201, "{first}");
    let (status, headers, again_raw, _) = parts(send().await).await;
    assert_eq!(status, 201);
    assert_eq!(again_raw, first_raw, "replayed byte for byte");
    assert_eq!(
        headers
            .get("idempotency-replayed")
            .and_then(|v| v.to_str().ok()),
        Some("true")
    );
    let balances = &read_wallet(&app, &key, &wallet_id).await["balances"];
    assert_eq!(balances["pending"], "7", "credited once");
    assert_ledger_matches(&app, &key, &wallet_id).await;
}

async fn unknown_or_foreign_targets_are_not_found(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let other = app.sandbox_key(KeyMode::Hmac).await;
    let (_, theirs) = vault_with_wallet(&app, &other, "theirs").await;

    // A well-formed id nobody has.
    let nobody = format!("acc_{}", ulid::Ulid::from_parts(1_700_000_000_000, 42));
    for body in [
        json!({"walletId": nobody, "amount": "1"}),
        json!({"walletId": theirs["id"], "amount": "1"}),
        json!({"address": theirs["depositAddress"], "amount": "1"}),
        json!({"address": "0x52908400098527886E0F7030069857D2E4169EE7", "amount": "1"}),
    ] {
        let response = app
            .request(&key, Method::POST, PATH, Some(&body.to_string()))
            .send()
            .await;
        assert_error(response, 404, "not_found_error", "resource_not_found").await;
    }
    // Nothing reached the other tenant's wallet.
    let balances = &read_wallet(&app, &other, str_of(&theirs, "id")).await["balances"];
    assert_eq!(balances["pending"], "0");
    assert_eq!(balances["available"], "0");
}

async fn a_live_key_gets_404(engine: Engine) {
    let app = spawn_app(engine).await;
    let tenant = app.tenant(TenantStatus::Approved).await;
    app.admin
        .set_asset(
            tenant,
            Environment::Live,
            AssetId::parse("USDT_ETHEREUM").expect("asset"),
            true,
        )
        .await
        .expect("enable live");
    let live = app.key(tenant, KeySpec::live(KeyMode::Hmac)).await;
    let (_, wallet) = vault_with_wallet(&app, &live, "live-1").await;
    for body in [
        json!({"walletId": wallet["id"], "amount": "100", "settle": "instant"}),
        json!({"amount": "oops"}),
    ] {
        let response = app
            .request(&live, Method::POST, PATH, Some(&body.to_string()))
            .send()
            .await;
        assert_error(response, 404, "not_found_error", "route_not_found").await;
    }
    // Even without the scope the simulation needs: the path does not exist for it.
    let narrow = app
        .key(
            tenant,
            KeySpec::live(KeyMode::Hmac).scopes(&[Scope::WalletsRead]),
        )
        .await;
    let body = json!({"walletId": wallet["id"], "amount": "1"}).to_string();
    let response = app
        .request(&narrow, Method::POST, PATH, Some(&body))
        .send()
        .await;
    assert_error(response, 404, "not_found_error", "route_not_found").await;
    let (status, _, read) = call(
        &app,
        &live,
        Method::GET,
        &format!("/v1/wallets/{}", str_of(&wallet, "id")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["balances"]["available"], "0");
    assert_eq!(read["balances"]["pending"], "0");
}

async fn invalid_requests_are_refused(engine: Engine) {
    let app = spawn_app(engine).await;
    let key = app.sandbox_key(KeyMode::Hmac).await;
    let (_, wallet) = vault_with_wallet(&app, &key, "sim-4").await;
    let wallet_id = str_of(&wallet, "id").to_owned();
    for (body, code) in [
        (json!({"walletId": wallet_id, "amount": "0"}), "amount_zero"),
        (
            json!({"walletId": wallet_id, "amount": "-3"}),
            "amount_signed",
        ),
        (
            json!({"walletId": wallet_id, "amount": "1.0000001"}),
            "amount_too_many_decimals",
        ),
        (
            json!({"walletId": wallet_id, "amount": "1,5"}),
            "amount_malformed",
        ),
        (
            json!({"walletId": wallet_id, "amount": "1", "settle": "soon"}),
            "invalid_settle",
        ),
        (
            json!({"walletId": "nope", "amount": "1"}),
            "invalid_wallet_id",
        ),
        (json!({"amount": "1"}), "wallet_or_address_required"),
        (
            json!({"walletId": wallet_id, "address": wallet["depositAddress"], "amount": "1"}),
            "wallet_or_address_required",
        ),
        (
            json!({"address": "not-an-address", "amount": "1"}),
            "invalid_address",
        ),
    ] {
        let response = app
            .request(&key, Method::POST, PATH, Some(&body.to_string()))
            .send()
            .await;
        assert_error(response, 422, "invalid_request_error", code).await;
    }
    // The scope is transfers:write.
    let tenant = key.minted.record.tenant_id;
    let reader = app
        .key(
            tenant,
            KeySpec::sandbox(KeyMode::Hmac).scopes(&[Scope::WalletsRead, Scope::TransactionsRead]),
        )
        .await;
    let body = json!({"walletId": wallet_id, "amount": "1"}).to_string();
    let response = app
        .request(&reader, Method::POST, PATH, Some(&body))
        .send()
        .await;
    assert_error(response, 403, "authorization_error", "missing_scope").await;
    let balances = &read_wallet(&app, &key, &wallet_id).await["balances"];
    assert_eq!(balances["pending"], "0");
    assert_eq!(balances["available"], "0");
}

on_both_stores!(
    a_simulated_deposit_confirms_block_by_block_and_credits_once,
    an_instant_deposit_completes_in_the_request,
    a_replayed_simulation_credits_once,
    unknown_or_foreign_targets_are_not_found,
    a_live_key_gets_404,
    invalid_requests_are_refused,
);
