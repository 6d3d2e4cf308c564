//! SQLite's query plans for the reads whose cost must not grow with the store (issue 18).
//!
//! Without statistics SQLite's planner could not tell `environment = ?` or `tenant_id = ?`
//! (most of a table) from `wallet_id = ?` (a couple of rows): a wallet's primary address was
//! read through `deposit_addresses_asset_idx (environment, …)` and a wallet's or a vault's
//! transactions and addresses by walking the tenant's whole list index. Migration
//! `20261210300001_planner_statistics` gives it fixed statistics of the shape custody is built
//! for; these tests read the plans of the real statements (`custody-sql`) on a migrated store.
//! A plan does not depend on the rows present, only on the schema and the statistics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

mod common;
use common::raw;

use custody_conformance::fixtures::{tenant_id, vault_id, wallet_id};
use custody_core::page::PageRequest;
use custody_core::ports::{AddressFilter, TransactionFilter, WalletFilter};

async fn migrated(path: &Path) -> custody_sqlite::SqliteStore {
    common::open_migrated(path).await
}

/// The plan of `stmt` as one text.
async fn plan(conn: &mut sqlx::SqliteConnection, stmt: custody_sql::Statement) -> String {
    common::plan(conn, stmt).await.join("\n")
}

fn page() -> PageRequest {
    PageRequest::new(Some(10), None, None).unwrap()
}

/// Asserts the plan searches `index` and never walks one of `tenant_wide`, nor scans.
fn assert_narrow(what: &str, plan: &str, index: &str, tenant_wide: &[&str]) {
    assert!(
        plan.contains(index),
        "{what}: expected a search of {index}:\n{plan}"
    );
    for wide in tenant_wide {
        assert!(
            !plan.contains(wide),
            "{what}: reads {wide}, which grows with the tenant or the environment:\n{plan}"
        );
    }
    assert!(
        !plan.lines().any(|l| l.starts_with("SCAN")),
        "{what}: a scan:\n{plan}"
    );
}

const ADDRESS_WIDE: &[&str] = &["deposit_addresses_asset_idx", "deposit_addresses_list_idx"];
const TRANSACTION_WIDE: &[&str] = &[
    "transactions_list_idx",
    "transactions_kind_list_idx",
    "transactions_status_list_idx",
];
const WALLET_WIDE: &[&str] = &["wallets_list_idx", "wallets_tenant_asset_idx"];

#[tokio::test]
async fn every_index_has_planner_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custody.db");
    let _store = migrated(&path).await;
    let mut conn = raw(&path).await;
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT tbl_name || '.' || name FROM sqlite_master WHERE type = 'index' \
         AND tbl_name <> '_sqlx_migrations' AND name NOT IN (SELECT idx FROM sqlite_stat1 WHERE idx IS NOT NULL) ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        missing.is_empty(),
        "indexes without a row in sqlite_stat1 (add one to a migration, as \
         20261210300001_planner_statistics does): {missing:?}"
    );
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT tbl || '.' || idx FROM sqlite_stat1 WHERE idx IS NOT NULL \
         AND idx NOT IN (SELECT name FROM sqlite_master WHERE type = 'index') ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(stale.is_empty(), "statistics of dropped indexes: {stale:?}");
}

#[tokio::test]
async fn a_wallets_primary_address_is_read_by_the_wallet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custody.db");
    let _store = migrated(&path).await;
    let mut conn = raw(&path).await;
    use custody_sql::tables::addresses;
    let primaries = plan(
        &mut conn,
        addresses::primaries(&[wallet_id(1), wallet_id(2)]),
    )
    .await;
    assert_narrow(
        "primaries (a transfer's two wallets)",
        &primaries,
        "(wallet_id=?)",
        ADDRESS_WIDE,
    );
    for tenant in [None, Some(tenant_id(1))] {
        let primary = plan(&mut conn, addresses::primary(wallet_id(1), tenant)).await;
        assert_narrow("primary", &primary, "(wallet_id=?)", ADDRESS_WIDE);
    }
}

#[tokio::test]
async fn a_wallets_or_a_vaults_lists_read_that_wallet_or_vault() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custody.db");
    let _store = migrated(&path).await;
    let mut conn = raw(&path).await;
    use custody_sql::tables::{addresses, transactions, wallets};
    let t = tenant_id(1);

    let by_vault = AddressFilter {
        vault_id: Some(vault_id(1)),
        ..AddressFilter::default()
    };
    let p = plan(&mut conn, addresses::list(t, &by_vault, &page())).await;
    assert_narrow(
        "addresses of a vault (Connect's external_ref look-up)",
        &p,
        "deposit_addresses_vault_idx",
        ADDRESS_WIDE,
    );

    let by_wallet = AddressFilter {
        wallet_id: Some(wallet_id(1)),
        ..AddressFilter::default()
    };
    let p = plan(&mut conn, addresses::list(t, &by_wallet, &page())).await;
    assert_narrow("addresses of a wallet", &p, "(wallet_id=?)", ADDRESS_WIDE);

    let by_wallet = TransactionFilter {
        wallet_id: Some(wallet_id(1)),
        ..TransactionFilter::default()
    };
    let p = plan(&mut conn, transactions::list(t, &by_wallet, None, &page())).await;
    assert_narrow(
        "transactions of a wallet",
        &p,
        "transactions_source_idx",
        TRANSACTION_WIDE,
    );
    assert!(p.contains("transactions_destination_idx"), "{p}");

    let by_vault = TransactionFilter {
        vault_id: Some(vault_id(1)),
        ..TransactionFilter::default()
    };
    let p = plan(&mut conn, wallets::ids_of_vault(t, vault_id(1))).await;
    assert_narrow("the vault's wallets", &p, "(vault_id=?)", WALLET_WIDE);
    let vault_wallets = [wallet_id(1), wallet_id(2)];
    let p = plan(
        &mut conn,
        transactions::list(t, &by_vault, Some(&vault_wallets), &page()),
    )
    .await;
    assert_narrow(
        "transactions of a vault",
        &p,
        "transactions_source_idx",
        TRANSACTION_WIDE,
    );
    assert!(p.contains("transactions_destination_idx"), "{p}");

    let by_vault = WalletFilter {
        vault_id: Some(vault_id(1)),
        ..WalletFilter::default()
    };
    let p = plan(&mut conn, wallets::list(t, &by_vault, &page())).await;
    assert_narrow("wallets of a vault", &p, "(vault_id=?)", WALLET_WIDE);
}

/// The lists without a narrowing filter still walk their list index in id order (a page is
/// `LIMIT 11` of it), not a scan and a sort of the tenant's rows.
#[tokio::test]
async fn a_tenants_lists_walk_their_list_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custody.db");
    let _store = migrated(&path).await;
    let mut conn = raw(&path).await;
    use custody_sql::tables::{addresses, transactions, wallets};
    let t = tenant_id(1);
    for (what, p, index) in [
        (
            "addresses",
            plan(
                &mut conn,
                addresses::list(t, &AddressFilter::default(), &page()),
            )
            .await,
            "deposit_addresses_list_idx",
        ),
        (
            "transactions",
            plan(
                &mut conn,
                transactions::list(t, &TransactionFilter::default(), None, &page()),
            )
            .await,
            "transactions_list_idx",
        ),
        (
            "wallets",
            plan(
                &mut conn,
                wallets::list(t, &WalletFilter::default(), &page()),
            )
            .await,
            "wallets_list_idx",
        ),
    ] {
        assert!(p.contains(index), "{what}: expected {index}:\n{p}");
        assert!(!p.contains("TEMP B-TREE"), "{what}: sorted:\n{p}");
        assert!(
            !p.lines().any(|l| l.starts_with("SCAN")),
            "{what}: a scan:\n{p}"
        );
    }
}

/// The background workers' and the purges' reads keep their own indexes with the statistics
/// (review of change 22): the webhook claims walk the due indexes, the idempotency purge reads
/// by expiry (it read every record of the environment without statistics).
#[tokio::test]
async fn the_workers_and_the_purge_keep_their_indexes() {
    use custody_sql::tables::{events, idempotency, webhook_deliveries};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("custody.db");
    let _store = migrated(&path).await;
    let mut conn = raw(&path).await;
    let now = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let lease = now + time::Duration::minutes(5);
    let p = plan(
        &mut conn,
        webhook_deliveries::claim_tenant(tenant_id(1), now, lease, 10),
    )
    .await;
    assert!(
        p.contains("events_tenant_due_idx"),
        "a tenant's claim:\n{p}"
    );
    assert!(!p.contains("events_delivery_idx"), "a tenant's claim:\n{p}");
    let p = plan(
        &mut conn,
        webhook_deliveries::skip_due_without_endpoint(tenant_id(1), now, 1_000),
    )
    .await;
    assert!(
        p.contains("events_tenant_due_idx") && p.contains("SEARCH w USING INDEX"),
        "the bulk skip of a tenant without an endpoint:\n{p}"
    );
    assert!(!p.contains("events_delivery_idx"), "the bulk skip:\n{p}");
    // A batch of coalesced GETs of addresses reads each id through the primary key.
    let ids: Vec<String> = (1..=16)
        .map(|n| custody_conformance::fixtures::address_id(n).to_string())
        .collect();
    let p = plan(&mut conn, custody_sql::tables::addresses::referenced(&ids)).await;
    assert!(
        p.contains(
            "SEARCH a USING INDEX sqlite_autoindex_deposit_addresses_4 (id=? AND environment=?)"
        ) && !p.lines().any(|l| l.starts_with("SCAN")),
        "a batch of reads by id:\n{p}"
    );
    let p = plan(&mut conn, events::claim(now, lease, 10)).await;
    assert!(p.contains("events_due_idx"), "the claim:\n{p}");
    let p = plan(&mut conn, idempotency::purge_expired(now)).await;
    assert!(
        p.contains("idempotency_records_expiry_idx"),
        "the purge:\n{p}"
    );
}
