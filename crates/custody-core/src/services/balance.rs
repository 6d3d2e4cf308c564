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
use crate::ports::{DynClock, DynPriceFeed, DynVaultStore, DynWalletStore, StoreError};
use crate::text::ExternalRef;

/// Decimal places of fiat totals.
pub const FIAT_DECIMALS: u32 = 2;

/// One asset's amount in a report.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BalanceLine {
    pub asset: AssetId,
    /// The available balance in base units, summed over the wallets reported.
    pub amount: Amount,
}

/// A valued balance report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
        // One statement, one snapshot, summed exactly in the store: the cost does not grow
        // with the tenant's wallets (issue 18).
        let sums: BTreeMap<AssetId, Amount> = self
            .wallets
            .available_by_asset(caller.tenant_id, vault_id)
            .await?
            .into_iter()
            .collect();
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
mod tests;
