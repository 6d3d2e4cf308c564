use std::sync::Arc;

use rust_decimal::Decimal;

use super::*;
use crate::asset::AssetSymbol;
use crate::ports::{MockPriceFeed, MockVaultStore, MockWalletStore, ProviderError};
use crate::services::test_support::*;
use crate::vault::VaultStatus;

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn sums(lines: &[(AssetId, u128)]) -> Vec<(AssetId, Amount)> {
    lines
        .iter()
        .map(|(asset, units)| (*asset, Amount::from_base_units(*units)))
        .collect()
}

fn prices(table: &'static [(&'static str, &'static str, &'static str)]) -> MockPriceFeed {
    let mut feed = MockPriceFeed::new();
    feed.expect_spot().returning(move |symbol, currency| {
        Ok(table
            .iter()
            .find(|(s, c, _)| *s == symbol.as_str() && *c == currency)
            .map(|(_, _, p)| p.parse().unwrap()))
    });
    feed
}

fn service(
    vaults: MockVaultStore,
    wallets: MockWalletStore,
    feed: MockPriceFeed,
) -> BalanceService {
    BalanceService::new(
        Arc::new(vaults),
        Arc::new(wallets),
        Arc::new(feed),
        clock(),
        vec!["usd".into(), "pen".into()],
    )
}

#[tokio::test]
async fn tenant_wide_sums_available_per_asset_and_values_every_currency() {
    let mut wallets = MockWalletStore::new();
    // The store sums per asset over every vault (its conformance checks prove it).
    wallets
        .expect_available_by_asset()
        .times(1)
        .returning(move |t, vault| {
            assert_eq!(t, tenant());
            assert_eq!(vault, None);
            Ok(sums(&[
                (usdt_eth(), 2_000_000),
                (asset("XAUT_ETHEREUM"), 10_000),
            ]))
        });
    let feed = prices(&[
        ("USDT", "usd", "1"),
        ("XAUT", "usd", "2650"),
        ("USDT", "pen", "3.75"),
        ("XAUT", "pen", "9937.5"),
    ]);
    let report = service(MockVaultStore::new(), wallets, feed)
        .report(&caller(), None)
        .await
        .unwrap();
    assert_eq!(report.external_ref, None);
    assert_eq!(report.valued_at, T0);
    assert_eq!(
        report.lines,
        vec![
            BalanceLine {
                asset: usdt_eth(),
                amount: Amount::from_base_units(2_000_000)
            },
            BalanceLine {
                asset: asset("XAUT_ETHEREUM"),
                amount: Amount::from_base_units(10_000)
            },
        ]
    );
    // 2 USDT + 0.01 XAUT: 2 + 26.50 usd; 7.50 + 99.375 = 106.875 -> 106.88 pen.
    assert_eq!(report.totals.get("usd"), Some(&dec("28.50")));
    assert_eq!(report.totals.get("pen"), Some(&dec("106.88")));
}

#[tokio::test]
async fn a_currency_is_left_out_when_any_line_cannot_be_valued() {
    let mut wallets = MockWalletStore::new();
    wallets.expect_available_by_asset().returning(|_, _| {
        Ok(sums(&[
            (usdt_eth(), 1_000_000),
            (asset("XAUT_ETHEREUM"), 1_000_000),
        ]))
    });
    // usd: both priced; pen: gold unpriced.
    let feed = prices(&[
        ("USDT", "usd", "1"),
        ("XAUT", "usd", "2650"),
        ("USDT", "pen", "3.75"),
    ]);
    let report = service(MockVaultStore::new(), wallets, feed)
        .report(&caller(), None)
        .await
        .unwrap();
    assert_eq!(report.totals.get("usd"), Some(&dec("2651.00")));
    assert!(!report.totals.contains_key("pen"));
}

#[tokio::test]
async fn a_failing_feed_leaves_every_currency_out_but_still_reports_amounts() {
    let mut wallets = MockWalletStore::new();
    wallets
        .expect_available_by_asset()
        .returning(|_, _| Ok(sums(&[(usdt_eth(), 7)])));
    let mut feed = MockPriceFeed::new();
    feed.expect_spot()
        .returning(|_, _| Err(ProviderError::Unavailable("feed down".into())));
    let report = service(MockVaultStore::new(), wallets, feed)
        .report(&caller(), None)
        .await
        .unwrap();
    assert_eq!(report.lines.len(), 1);
    assert!(report.totals.is_empty());
}

#[tokio::test]
async fn one_customer_reads_only_its_vault_and_an_unknown_reference_holds_nothing() {
    let known = ExternalRef::parse("user-1").unwrap();
    let mut vaults = MockVaultStore::new();
    vaults.expect_find_by_external_ref().returning(|_, r| {
        if r.as_str() == "user-1" {
            let mut v = vault(vault_id(7), VaultStatus::Active);
            v.external_ref = Some(r.clone());
            Ok(v)
        } else {
            Err(StoreError::NotFound)
        }
    });
    let mut wallets = MockWalletStore::new();
    wallets
        .expect_available_by_asset()
        .times(1)
        .returning(|_, vault| {
            assert_eq!(vault, Some(vault_id(7)));
            Ok(sums(&[(usdt_eth(), 3_000_000)]))
        });
    let svc = service(
        vaults,
        wallets,
        prices(&[("USDT", "usd", "1"), ("USDT", "pen", "3.75")]),
    );
    let report = svc.report(&caller(), Some(known.clone())).await.unwrap();
    assert_eq!(report.external_ref, Some(known));
    assert_eq!(report.totals.get("usd"), Some(&dec("3.00")));

    let unknown = ExternalRef::parse("never-seen").unwrap();
    let empty = svc.report(&caller(), Some(unknown)).await.unwrap();
    assert!(empty.lines.is_empty());
    assert_eq!(empty.totals.get("usd"), Some(&Decimal::ZERO));
}

#[tokio::test]
async fn reads_the_sums_in_one_store_call_however_many_wallets() {
    // Issue 18: no paging through wallets; the store's per-asset sums are the lines, as they
    // are (an amount beyond 2^64 included: the sums are exact integers).
    let mut wallets = MockWalletStore::new();
    let big = u128::from(u64::MAX) * 3;
    wallets
        .expect_available_by_asset()
        .times(1)
        .returning(move |_, _| Ok(sums(&[(usdt_eth(), big)])));
    let report = service(MockVaultStore::new(), wallets, prices(&[]))
        .report(&caller(), None)
        .await
        .unwrap();
    assert_eq!(report.lines[0].amount, Amount::from_base_units(big));
    assert_eq!(AssetSymbol::Usdt, report.lines[0].asset.symbol());
}

#[tokio::test]
async fn needs_wallets_read() {
    let svc = service(MockVaultStore::new(), MockWalletStore::new(), prices(&[]));
    let err = svc
        .report(&caller_without(Scope::WalletsRead), None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingScope(Scope::WalletsRead)));
}
