//! Issue 18: the durable work one request asks of the store, counted (not timed).
//!
//! The store counts every statement, transaction and commit it is sent
//! ([`custody_sql::counted`]); the test app runs no background workers, so the difference of
//! two snapshots around one request is exactly that request's work, on either store. The
//! figures are asserted exactly: a change that adds a statement or a commit to a hot path fails
//! here and must update the figure (and docs/performance.md) on purpose.

use custody_sql::StatementCounts;

use super::address_book::{add_entry, EIP55};
use super::*;
use crate::on_both_stores;

/// (statements, transactions, commits).
fn figures(counts: StatementCounts) -> (u64, u64, u64) {
    (counts.statements, counts.transactions, counts.commits)
}

/// Sends the request and returns (status, body, what it cost).
async fn counted(app: &TestApp, request: crate::helpers::Request) -> (u16, Value, StatementCounts) {
    let counts = || app.store.statement_counts().expect("both engines count");
    let before = counts();
    let (status, _, _, body) = parts(request.send().await).await;
    (status, body, counts().since(before))
}

/// Every scenario of issue 18's benchmark, its figures printed and asserted for `engine`.
async fn durable_work_per_request(engine: Engine) {
    let app = spawn_app(engine).await;
    let platform = app.sandbox_key(KeyMode::Hmac).await;
    let tenant = platform.minted.record.tenant_id;
    let connect = app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await;
    let sqlite = engine == Engine::Sqlite;
    let mut report = Vec::new();

    // Connect mint for a new user (after one mint, so nothing is first-time for the tenant).
    let mint = |reference: &str, idempotency_key: &str| {
        let body = json!({"asset": "USDT", "network": "ethereum", "external_ref": reference});
        app.request(
            &connect,
            Method::POST,
            "/connect/v1/addresses",
            Some(&body.to_string()),
        )
        .idempotency_key(idempotency_key)
    };
    let (status, warm, _) = counted(&app, mint("warm-up", "mint-0")).await;
    assert_eq!(status, 201, "{warm}");
    let (status, minted, cost) = counted(&app, mint("user-1", "mint-1")).await;
    assert_eq!(status, 201, "{minted}");
    report.push(("connect mint (new user)", cost));

    // The same request again: answered from the idempotency record.
    let (status, replayed, cost) = counted(&app, mint("user-1", "mint-1")).await;
    assert_eq!(status, 201, "{replayed}");
    assert_eq!(replayed, minted);
    report.push(("idempotent replay", cost));

    // An existing user's address again (a new key): found, nothing minted.
    let (status, again, cost) = counted(&app, mint("user-1", "mint-2")).await;
    assert_eq!(status, 200, "{again}");
    report.push(("connect mint (existing user)", cost));

    // GET by id.
    let id = str_of(&minted, "id").to_owned();
    let get = app.request(
        &connect,
        Method::GET,
        &format!("/connect/v1/addresses/{id}"),
        None,
    );
    let (status, read, cost) = counted(&app, get).await;
    assert_eq!(status, 200, "{read}");
    report.push(("GET address by id", cost));

    // Platform transfer between two funded wallets.
    let (_, alice) = vault_with_wallet(&app, &platform, "alice").await;
    let (_, bob) = vault_with_wallet(&app, &platform, "bob").await;
    let deposit = app
        .fund(str_of(&alice, "depositAddress"), "USDT_ETHEREUM", "100")
        .await;
    assert_eq!(deposit.status.as_str(), "Completed");
    let transfer = |amount: &str, idempotency_key: &str| {
        let body = json!({
            "sourceWalletId": str_of(&alice, "id"),
            "destinationWalletId": str_of(&bob, "id"),
            "amount": amount,
        });
        app.request(
            &platform,
            Method::POST,
            "/v1/transactions/transfer",
            Some(&body.to_string()),
        )
        .idempotency_key(idempotency_key)
    };
    let (status, warm, _) = counted(&app, transfer("1", "tr-0")).await;
    assert_eq!(status, 201, "{warm}");
    let (status, moved, cost) = counted(&app, transfer("2", "tr-1")).await;
    assert_eq!(status, 201, "{moved}");
    report.push(("platform transfer", cost));

    // Withdrawal submit.
    let (status, entry) = add_entry(
        &app,
        &platform,
        json!({"network": "ethereum", "address": EIP55.to_lowercase(), "label": "cold"}),
    )
    .await;
    assert_eq!(status, 201, "{entry}");
    let body = json!({
        "walletId": str_of(&alice, "id"),
        "addressBookEntryId": str_of(&entry, "id"),
        "amount": "3",
    });
    let withdraw = app
        .request(
            &platform,
            Method::POST,
            "/v1/transactions/withdraw",
            Some(&body.to_string()),
        )
        .idempotency_key("wd-1");
    let (status, submitted, cost) = counted(&app, withdraw).await;
    assert_eq!(status, 201, "{submitted}");
    report.push(("withdrawal submit", cost));

    // The tenant-wide balances: one read, however many wallets the tenant has.
    let balances = || app.request(&connect, Method::GET, "/connect/v1/balances", None);
    let (status, before, cost) = counted(&app, balances()).await;
    assert_eq!(status, 200, "{before}");
    report.push(("tenant-wide balances", cost));
    for n in 0..3 {
        let (status, body, _) =
            counted(&app, mint(&format!("more-{n}"), &format!("more-{n}"))).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, after, more) = counted(&app, balances()).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(
        more, cost,
        "the report's cost does not grow with the wallets"
    );

    for (name, cost) in &report {
        println!(
            "{engine:?} {name}: {} statements, {} transactions, {} commits",
            cost.statements, cost.transactions, cost.commits
        );
    }
    let got: Vec<(&str, (u64, u64, u64))> = report
        .iter()
        .map(|(name, cost)| (*name, figures(*cost)))
        .collect();
    // (statements, transactions, commits) per request. SQLite's minting lock is its writer
    // lock, already held: one statement fewer than PostgreSQL's advisory lock wherever an
    // existing vault's address is ensured (a vault the request creates needs none: nobody else
    // can see it before commit).
    let lock = u64::from(!sqlite);
    // Authentication is one read of the key with its tenant; a request with a body has one
    // more, the edge's (is the key known? only then is the body read), since authentication
    // must not judge the key on a copy older than the body (the cache, off here, serves both).
    // A keyed request reads its idempotency record first, and a replay of a completed one
    // stops there, writing nothing. A GET by id reads the address with its vault's reference
    // in one statement.
    let expected = vec![
        ("connect mint (new user)", (11, 1, 2)),
        ("idempotent replay", (3, 0, 0)),
        ("connect mint (existing user)", (10 + lock, 1, 2)),
        ("GET address by id", (2, 0, 0)),
        ("platform transfer", (15, 1, 3)),
        // The hold lowers the tenant's available total (issue 18): PostgreSQL adds to the
        // slot in one upsert; SQLite reads the slot and writes it back. A transfer between two
        // of the tenant's wallets leaves the total alone and writes nothing.
        ("withdrawal submit", (15 + u64::from(sqlite), 1, 3)),
        ("tenant-wide balances", (2, 0, 0)),
    ];
    assert_eq!(got, expected);
}

on_both_stores!(durable_work_per_request);
