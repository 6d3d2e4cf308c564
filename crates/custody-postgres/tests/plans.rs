//! PostgreSQL's plans for reads whose cost must not grow with the tenant (issue 18), measured
//! with `EXPLAIN (ANALYZE, BUFFERS)` on a real PostgreSQL with enough rows for the planner to
//! choose as it would on a grown store.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use custody_conformance::fixtures::*;
use custody_core::environment::Environment;
use custody_core::page::PageRequest;
use custody_core::ports::{EnvironmentStores, TransactionFilter};
use custody_core::transaction::TransactionKind;
use custody_postgres::testing::fresh_store;
use custody_sql::{PgDialect, Statement, Value};
use sqlx::PgPool;

/// Buffers `stmt` touches in the live environment (`EXPLAIN (ANALYZE, BUFFERS)`), and its plan.
async fn buffers(raw: &PgPool, stmt: Statement) -> (u64, serde_json::Value) {
    let rendered = stmt
        .bind("environment", Environment::Live.as_str())
        .render(&PgDialect)
        .unwrap();
    let sql = format!("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}", rendered.sql);
    let mut query = sqlx::query_scalar::<_, serde_json::Value>(&sql);
    for value in rendered.values {
        query = match value {
            Value::Text(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
            Value::Time(v) => query.bind(v),
            other => panic!("unexpected value {other:?}"),
        };
    }
    let explained = query.fetch_one(raw).await.unwrap();
    let plan = &explained[0]["Plan"];
    let blocks =
        plan["Shared Hit Blocks"].as_u64().unwrap() + plan["Shared Read Blocks"].as_u64().unwrap();
    (blocks, explained)
}

async fn deposits(env: &EnvironmentStores, tenant: TenantId, wallet: WalletId, first: u64, n: u64) {
    let all: Vec<_> = (first..first + n)
        .map(|i| {
            transaction(
                tenant,
                i,
                TransactionKind::Deposit,
                usdt_eth(),
                1,
                None,
                Some(wallet),
            )
        })
        .collect();
    commit_transactions(env, &all.iter().collect::<Vec<_>>()).await;
}

use custody_core::id::{TenantId, WalletId};

/// A fresh store with tenant 1, a raw pool on its database for `EXPLAIN`, and the live ports
/// (keep the store and the database handle alive for the test).
async fn store_with_tenant() -> (
    custody_postgres::PgStore,
    custody_postgres::testing::TestDatabase,
    PgPool,
    EnvironmentStores,
    custody_core::tenant::Tenant,
) {
    let (store, db) = fresh_store().await;
    let raw = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(db.url().expose())
        .await
        .unwrap();
    let live = store.environment(Environment::Live);
    let t = tenant(1);
    store
        .shared()
        .tenants
        .insert(&t, &EnabledAssets::all(), &EnabledAssets::all())
        .await
        .unwrap();
    (store, db, raw, live, t)
}

/// `GET /v1/transactions?vaultId=…` at 10⁶ addresses ran at 26 requests/s (p99 840 ms): the
/// vault's wallets were a sub-select PostgreSQL could not estimate, so it walked the tenant's
/// transactions in id order and filtered each (125,000 rows, 9,100 buffers, for a vault with
/// one transaction). The vault's wallets are now read first and the list filters on them as
/// values, which the wallet indexes answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vaults_transactions_are_read_through_its_wallets() {
    let (_store, _db, raw, live, t) = store_with_tenant().await;
    let (quiet, busy) = (customer_vault(t.id, 1), customer_vault(t.id, 2));
    commit_vaults(&live, &[&quiet, &busy]).await;
    let (qw, bw) = (wallet(&quiet, usdt_eth(), 1), wallet(&busy, usdt_eth(), 2));
    commit_wallets(&live, &[&qw, &bw]).await;
    // One transaction of the quiet vault, then 20,000 of another vault of the same tenant.
    deposits(&live, t.id, qw.id, 10, 1).await;
    for chunk in 0..20 {
        deposits(&live, t.id, bw.id, 1_000 + chunk * 1_000, 1_000).await;
    }
    sqlx::query("ANALYZE transactions")
        .execute(&raw)
        .await
        .unwrap();
    sqlx::query("ANALYZE wallets").execute(&raw).await.unwrap();

    let filter = TransactionFilter {
        vault_id: Some(quiet.id),
        ..TransactionFilter::default()
    };
    let page = PageRequest::new(Some(10), None, None).unwrap();
    let listed = live.transactions.list(t.id, &filter, page).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, transaction_id(10));

    let (wallets, wallets_plan) = buffers(
        &raw,
        custody_sql::tables::wallets::ids_of_vault(t.id, quiet.id),
    )
    .await;
    let (list, list_plan) = buffers(
        &raw,
        custody_sql::tables::transactions::list(t.id, &filter, Some(&[qw.id]), &page),
    )
    .await;
    assert!(
        wallets + list < 100,
        "a vault's transactions read {wallets} + {list} buffers beside 20,000 other \
         transactions:\n{wallets_plan:#}\n{list_plan:#}"
    );
}

/// A batch of coalesced reads by id (custody-sql `coalesce`) reads each id through the primary
/// key: 16 of 20,000 transactions in a few dozen buffers, whatever the table holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_reads_by_id_probes_the_primary_key() {
    let (_store, _db, raw, live, t) = store_with_tenant().await;
    let vault = customer_vault(t.id, 1);
    commit_vaults(&live, &[&vault]).await;
    let w = wallet(&vault, usdt_eth(), 2);
    commit_wallets(&live, &[&w]).await;
    for chunk in 0..20 {
        deposits(&live, t.id, w.id, 1_000 + chunk * 1_000, 1_000).await;
    }
    sqlx::query("ANALYZE transactions")
        .execute(&raw)
        .await
        .unwrap();
    let ids: Vec<String> = (0..16)
        .map(|n| transaction_id(1_000 + n * 1_234).to_string())
        .collect();
    let (blocks, plan) = buffers(
        &raw,
        custody_sql::tables::by_ids(
            custody_sql::tables::transactions::COLUMNS,
            "transactions",
            &ids,
        ),
    )
    .await;
    let text = plan.to_string();
    assert!(
        text.contains("transactions_pkey") && blocks < 100,
        "a batch of 16 reads by id read {blocks} buffers beside 20,000 transactions:\n{plan:#}"
    );
}
