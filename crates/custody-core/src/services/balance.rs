//! Balance reports: what one end-customer (or the whole tenant) holds, per asset, valued in
//! fiat.
//!
//! Valuation is fail-closed: a currency appears in the totals only when *every* line could be
//! valued in it. A partner showing "0.00 USD" for a customer whose gold the feed could not
//! price would be wrong; leaving `usd` out is honest.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use time::OffsetDateTime;

use crate::amount::Amount;
use crate::api_key::Scope;
use crate::asset::AssetId;
use crate::caller::Caller;
use crate::error::Error;
use crate::page::{PageRequest, MAX_LIMIT};
use crate::ports::{
    DynClock, DynPriceFeed, DynVaultStore, DynWalletStore, StoreError, WalletFilter,
};
use crate::text::ExternalRef;

/// Decimal places of fiat totals.
pub const FIAT_DECIMALS: u32 = 2;

/// One asset's amount in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceLine {
    /// The asset (symbol and network).
    pub asset: AssetId,
    /// The available balance in base units, summed over the wallets reported.
    pub amount: Amount,
}

/// A valued balance report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalanceReport {
    /// The customer reported on; `None` for the tenant-wide aggregate.
    pub external_ref: Option<ExternalRef>,
    /// When the prices were read.
    pub valued_at: OffsetDateTime,
    /// One line per asset held (a wallet exists), ordered by asset.
    pub lines: Vec<BalanceLine>,
    /// Fiat totals by lowercase currency code, rounded half away from zero to
    /// [`FIAT_DECIMALS`]; a currency is
    /// absent when any line could not be valued in it.
    pub totals: BTreeMap<String, Decimal>,
}

/// Balance reports over the wallet store and a price feed.
#[derive(Clone)]
pub struct BalanceService {
    vaults: DynVaultStore,
    wallets: DynWalletStore,
    prices: DynPriceFeed,
    clock: DynClock,
    currencies: Vec<String>,
}

impl BalanceService {
    /// Wires the service; `currencies` are the lowercase fiat codes totals are computed in.
    pub fn new(
        vaults: DynVaultStore,
        wallets: DynWalletStore,
        prices: DynPriceFeed,
        clock: DynClock,
        currencies: Vec<String>,
    ) -> BalanceService {
        BalanceService {
            vaults,
            wallets,
            prices,
            clock,
            currencies,
        }
    }

    /// Reports the available balances of one customer (by the partner's reference) or, with
    /// `None`, of every vault of the tenant (treasury included). A reference never seen yet
    /// reports no lines: the customer simply holds nothing.
    ///
    /// # Errors
    /// `MissingScope(wallets:read)`; store errors. A price feed failure is not an error: the
    /// affected currencies are left out.
    pub async fn report(
        &self,
        caller: &Caller,
        external_ref: Option<ExternalRef>,
    ) -> Result<BalanceReport, Error> {
        caller.require(Scope::WalletsRead)?;
        let vault_id = match &external_ref {
            None => None,
            Some(reference) => match self
                .vaults
                .find_by_external_ref(caller.tenant_id, reference)
                .await
            {
                Ok(vault) => Some(vault.id),
                Err(StoreError::NotFound) => {
                    return Ok(self.value(external_ref, BTreeMap::new()).await)
                }
                Err(e) => return Err(e.into()),
            },
        };
        let filter = WalletFilter {
            vault_id,
            asset: None,
        };
        let page_after = |after| {
            PageRequest::new(Some(MAX_LIMIT), after, None)
                .map_err(|e| Error::Internal(e.to_string()))
        };
        let mut sums: BTreeMap<AssetId, Amount> = BTreeMap::new();
        let mut page = page_after(None)?;
        loop {
            let batch = self.wallets.list(caller.tenant_id, &filter, page).await?;
            for wallet in &batch.items {
                let sum = sums.entry(wallet.asset).or_insert(Amount::ZERO);
                *sum = sum
                    .checked_add(wallet.balances.available)
                    .ok_or_else(|| Error::Internal("balance sum overflows u128".into()))?;
            }
            match (batch.has_more, batch.items.last()) {
                (true, Some(last)) => page = page_after(Some(last.id.ulid()))?,
                _ => break,
            }
        }
        Ok(self.value(external_ref, sums).await)
    }

    async fn value(
        &self,
        external_ref: Option<ExternalRef>,
        sums: BTreeMap<AssetId, Amount>,
    ) -> BalanceReport {
        let valued_at = self.clock.now();
        let lines: Vec<BalanceLine> = sums
            .into_iter()
            .map(|(asset, amount)| BalanceLine { asset, amount })
            .collect();
        let mut totals = BTreeMap::new();
        for currency in &self.currencies {
            if let Some(total) = self.total_in(currency, &lines).await {
                totals.insert(currency.clone(), total);
            }
        }
        BalanceReport {
            external_ref,
            valued_at,
            lines,
            totals,
        }
    }

    /// The lines' value in one currency, or `None` if any line cannot be valued.
    async fn total_in(&self, currency: &str, lines: &[BalanceLine]) -> Option<Decimal> {
        let mut total = Decimal::ZERO;
        for line in lines {
            let price = match self.prices.spot(line.asset.symbol(), currency).await {
                Ok(Some(price)) => price,
                Ok(None) | Err(_) => return None,
            };
            let whole = to_decimal(line.amount, line.asset.decimals())?;
            total = total.checked_add(whole.checked_mul(price)?)?;
        }
        Some(total.round_dp_with_strategy(FIAT_DECIMALS, RoundingStrategy::MidpointAwayFromZero))
    }
}

/// Base units as whole tokens; `None` beyond rust_decimal's 96-bit range (then the line
/// cannot be valued, and the currency is left out).
fn to_decimal(amount: Amount, decimals: u8) -> Option<Decimal> {
    let units = i128::try_from(amount.base_units()).ok()?;
    Decimal::try_from_i128_with_scale(units, u32::from(decimals)).ok()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rust_decimal::Decimal;

    use super::*;
    use crate::asset::AssetSymbol;
    use crate::page::{Cursor, Page};
    use crate::ports::{MockPriceFeed, MockVaultStore, MockWalletStore, ProviderError};
    use crate::services::test_support::*;
    use crate::vault::VaultStatus;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn funded(
        n: u128,
        vault: crate::id::VaultId,
        asset: AssetId,
        units: u128,
    ) -> crate::wallet::Wallet {
        let mut w = wallet(wallet_id(n), vault, asset);
        w.balances.available = Amount::from_base_units(units);
        w.balances.pending = Amount::from_base_units(999);
        w
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
        let v1 = vault_id(1);
        let v2 = vault_id(2);
        let mut wallets = MockWalletStore::new();
        wallets.expect_list().returning(move |t, filter, _| {
            assert_eq!(t, tenant());
            assert_eq!(filter.vault_id, None);
            Ok(Page {
                items: vec![
                    funded(1, v1, usdt_eth(), 1_500_000),
                    funded(2, v2, usdt_eth(), 500_000),
                    funded(3, v2, asset("XAUT_ETHEREUM"), 10_000),
                ],
                has_more: false,
            })
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
        wallets.expect_list().returning(|_, _, _| {
            Ok(Page {
                items: vec![
                    funded(1, vault_id(1), usdt_eth(), 1_000_000),
                    funded(2, vault_id(1), asset("XAUT_ETHEREUM"), 1_000_000),
                ],
                has_more: false,
            })
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
        wallets.expect_list().returning(|_, _, _| {
            Ok(Page {
                items: vec![funded(1, vault_id(1), usdt_eth(), 7)],
                has_more: false,
            })
        });
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
        wallets.expect_list().times(1).returning(|_, filter, _| {
            assert_eq!(filter.vault_id, Some(vault_id(7)));
            Ok(Page {
                items: vec![funded(1, vault_id(7), usdt_eth(), 3_000_000)],
                has_more: false,
            })
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
    async fn pages_through_every_wallet() {
        let mut wallets = MockWalletStore::new();
        let mut calls = 0;
        wallets.expect_list().times(2).returning(move |_, _, page| {
            calls += 1;
            if calls == 1 {
                assert!(page.cursor().is_none());
                Ok(Page {
                    items: vec![funded(1, vault_id(1), usdt_eth(), 1)],
                    has_more: true,
                })
            } else {
                assert_eq!(page.cursor(), Some(Cursor::After(wallet_id(1).ulid())));
                Ok(Page {
                    items: vec![funded(2, vault_id(2), usdt_eth(), 2)],
                    has_more: false,
                })
            }
        });
        let report = service(MockVaultStore::new(), wallets, prices(&[]))
            .report(&caller(), None)
            .await
            .unwrap();
        assert_eq!(report.lines[0].amount, Amount::from_base_units(3));
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
}
