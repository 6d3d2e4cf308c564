use std::sync::Arc;

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::ProviderError;
use crate::asset::AssetSymbol;

/// Spot prices, for the fiat totals of Connect balances.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait PriceFeed: Send + Sync {
    /// The price of one whole token in a fiat currency (lowercase ISO code such as `usd`), or
    /// `None` when the feed cannot value it; totals then leave that currency out (fail-closed).
    ///
    /// # Errors
    /// [`ProviderError`] when the feed is unreachable.
    async fn spot(
        &self,
        symbol: AssetSymbol,
        currency: &str,
    ) -> Result<Option<Decimal>, ProviderError>;
}

/// Shared handle.
pub type DynPriceFeed = Arc<dyn PriceFeed>;
