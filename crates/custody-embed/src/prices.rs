//! Spot prices for Connect's fiat totals.
//!
//! The sandbox values with a fixed, documented table (docs/connect.md), so sandbox totals are
//! deterministic. Live values with the table in configuration (`[prices.live]`); with none
//! configured every live currency is left out of the totals (fail-closed) rather than guessed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use custody_core::asset::AssetSymbol;
use custody_core::ports::{PriceFeed, ProviderError};
use rust_decimal::Decimal;

/// A fixed price table: token symbol → currency → price of one whole token.
#[derive(Debug, Clone, Default)]
pub struct StaticPrices(BTreeMap<(String, String), Decimal>);

impl StaticPrices {
    /// The sandbox table: USDT and USDC at 1.00 USD, XAUT at 2650.00 USD; PEN at 3.75 per USD.
    pub fn sandbox() -> StaticPrices {
        let mut table = BTreeMap::new();
        let usd_pen = Decimal::new(375, 2);
        for (symbol, usd) in [
            ("USDT", Decimal::new(100, 2)),
            ("USDC", Decimal::new(100, 2)),
            ("XAUT", Decimal::new(265_000, 2)),
        ] {
            table.insert((symbol.to_owned(), "usd".to_owned()), usd);
            table.insert((symbol.to_owned(), "pen".to_owned()), usd * usd_pen);
        }
        StaticPrices(table)
    }

    /// A table from configuration (`[prices.live.USDT] usd = "1.00"`); symbols are matched
    /// case-insensitively, currencies are lowercased.
    pub fn from_config(table: &BTreeMap<String, BTreeMap<String, Decimal>>) -> StaticPrices {
        StaticPrices(
            table
                .iter()
                .flat_map(|(symbol, prices)| {
                    prices.iter().map(move |(currency, price)| {
                        (
                            (symbol.to_ascii_uppercase(), currency.to_ascii_lowercase()),
                            *price,
                        )
                    })
                })
                .collect(),
        )
    }
}

#[async_trait]
impl PriceFeed for StaticPrices {
    async fn spot(
        &self,
        symbol: AssetSymbol,
        currency: &str,
    ) -> Result<Option<Decimal>, ProviderError> {
        Ok(self
            .0
            .get(&(symbol.as_str().to_owned(), currency.to_owned()))
            .copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sandbox_table_is_the_documented_one() {
        let p = StaticPrices::sandbox();
        let get = |s, c: &'static str| {
            let p = p.clone();
            async move { p.spot(s, c).await.unwrap().map(|d| d.to_string()) }
        };
        assert_eq!(get(AssetSymbol::Usdt, "usd").await.as_deref(), Some("1.00"));
        assert_eq!(
            get(AssetSymbol::Usdc, "pen").await.as_deref(),
            Some("3.7500")
        );
        assert_eq!(
            get(AssetSymbol::Xaut, "usd").await.as_deref(),
            Some("2650.00")
        );
        assert_eq!(get(AssetSymbol::Xaut, "eur").await, None);
    }

    #[tokio::test]
    async fn config_table_is_case_insensitive_on_symbols() {
        let mut table = BTreeMap::new();
        table.insert(
            "usdt".to_owned(),
            BTreeMap::from([("USD".to_owned(), Decimal::ONE)]),
        );
        let p = StaticPrices::from_config(&table);
        assert_eq!(
            p.spot(AssetSymbol::Usdt, "usd").await.unwrap(),
            Some(Decimal::ONE)
        );
        assert_eq!(p.spot(AssetSymbol::Usdc, "usd").await.unwrap(), None);
    }
}
