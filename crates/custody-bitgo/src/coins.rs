//! BitGo's environments and coin tickers for our assets (providers.md A1, A8).
//!
//! Two tickers matter per asset: the **wallet coin** (tokens have no wallets or addresses of
//! their own, so addresses are minted on the parent chain's wallet: `eth`/`hteth`,
//! `sol`/`tsol`) and the **transfer coin** (sends and transfers of a token are addressed by
//! the token's ticker: `usdt`, `sol:usdc`, `hteth:tusdt`, …). Test and production use
//! different coins; where BitGo's testnet token differs from the real one in a way that would
//! corrupt amounts (decimals), the asset is not served on the test environment.

use custody_core::asset::{AssetId, AssetSymbol, Network};
use serde::Deserialize;

/// BitGo's two environments: separate accounts, separate coins (testnets on `Test`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitgoEnvironment {
    /// `https://app.bitgo-test.com`, testnet coins (`hteth`, `tsol`).
    Test,
    /// `https://app.bitgo.com`, mainnet coins (`eth`, `sol`).
    Production,
}

impl BitgoEnvironment {
    /// The documented REST base URL (an on-premise BitGo Express URL may be configured
    /// instead).
    pub const fn default_base_url(self) -> &'static str {
        match self {
            BitgoEnvironment::Test => "https://app.bitgo-test.com",
            BitgoEnvironment::Production => "https://app.bitgo.com",
        }
    }
}

/// The wallet coin an asset's addresses live on, or `None` when BitGo does not serve the
/// asset's network here (base, ink and sui go to Rhino).
pub fn wallet_coin(asset: AssetId, environment: BitgoEnvironment) -> Option<&'static str> {
    let test = environment == BitgoEnvironment::Test;
    match asset.network() {
        Network::Ethereum => Some(if test { "hteth" } else { "eth" }),
        Network::Solana => Some(if test { "tsol" } else { "sol" }),
        _ => None,
    }
}

/// Every asset BitGo can carry, with its transfer coin per environment (`None`: no usable
/// coin there). From BitGo's coin registry (providers.md A8):
/// - testnet USDT on Solana (`tsol:usdt`) has 9 decimals where the real token has 6, so
///   crediting its base units as ours would be off by 1000×: not served on test;
/// - testnet USDC on Solana: `tsol:usdcv2` (6 decimals), not the 9-decimal `tsol:usdc`;
/// - there is no testnet XAUT.
const COINS: [(AssetSymbol, Network, &str, Option<&str>); 5] = [
    (
        AssetSymbol::Usdt,
        Network::Ethereum,
        "usdt",
        Some("hteth:tusdt"),
    ),
    (
        AssetSymbol::Usdc,
        Network::Ethereum,
        "usdc",
        Some("hteth:tusdc"),
    ),
    (AssetSymbol::Xaut, Network::Ethereum, "xaut", None),
    (AssetSymbol::Usdt, Network::Solana, "sol:usdt", None),
    (
        AssetSymbol::Usdc,
        Network::Solana,
        "sol:usdc",
        Some("tsol:usdcv2"),
    ),
];

/// The ticker BitGo uses for sends and transfers of the asset, or `None` when this
/// environment has no faithful coin for it.
pub fn transfer_coin(asset: AssetId, environment: BitgoEnvironment) -> Option<&'static str> {
    COINS
        .iter()
        .find(|(symbol, network, _, _)| *symbol == asset.symbol() && *network == asset.network())
        .and_then(|(_, _, production, test)| match environment {
            BitgoEnvironment::Production => Some(*production),
            BitgoEnvironment::Test => *test,
        })
}

/// The asset a transfer coin stands for in this environment (inverse of [`transfer_coin`]).
pub fn asset_for_coin(coin: &str, environment: BitgoEnvironment) -> Option<AssetId> {
    COINS
        .iter()
        .find_map(|(symbol, network, production, test)| {
            let ticker = match environment {
                BitgoEnvironment::Production => Some(*production),
                BitgoEnvironment::Test => *test,
            };
            (ticker == Some(coin))
                .then(|| AssetId::new(*symbol, *network).ok())
                .flatten()
        })
}

#[cfg(test)]
mod tests {
    use custody_core::asset::CATALOGUE;

    use super::*;

    fn asset(code: &str) -> AssetId {
        AssetId::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"))
    }

    #[test]
    fn tokens_live_on_their_parent_wallet_and_testnets_differ() {
        let usdt = asset("USDT_ETHEREUM");
        assert_eq!(wallet_coin(usdt, BitgoEnvironment::Production), Some("eth"));
        assert_eq!(wallet_coin(usdt, BitgoEnvironment::Test), Some("hteth"));
        assert_eq!(
            transfer_coin(usdt, BitgoEnvironment::Production),
            Some("usdt")
        );
        assert_eq!(
            transfer_coin(usdt, BitgoEnvironment::Test),
            Some("hteth:tusdt")
        );
        let usdc_sol = asset("USDC_SOLANA");
        assert_eq!(wallet_coin(usdc_sol, BitgoEnvironment::Test), Some("tsol"));
        assert_eq!(
            transfer_coin(usdc_sol, BitgoEnvironment::Production),
            Some("sol:usdc")
        );
        assert_eq!(
            transfer_coin(usdc_sol, BitgoEnvironment::Test),
            Some("tsol:usdcv2")
        );
    }

    #[test]
    fn assets_without_a_faithful_coin_are_not_served() {
        assert_eq!(
            transfer_coin(asset("XAUT_ETHEREUM"), BitgoEnvironment::Test),
            None
        );
        assert_eq!(
            transfer_coin(asset("USDT_SOLANA"), BitgoEnvironment::Test),
            None
        );
        for code in ["USDC_BASE", "USDC_INK", "USDC_SUI"] {
            assert_eq!(wallet_coin(asset(code), BitgoEnvironment::Production), None);
            assert_eq!(
                transfer_coin(asset(code), BitgoEnvironment::Production),
                None
            );
        }
    }

    #[test]
    fn coin_and_asset_round_trip_in_both_environments() {
        for environment in [BitgoEnvironment::Test, BitgoEnvironment::Production] {
            for entry in &CATALOGUE {
                if let Some(coin) = transfer_coin(entry.id, environment) {
                    assert_eq!(asset_for_coin(coin, environment), Some(entry.id), "{coin}");
                }
            }
        }
        // A mainnet ticker means nothing on test, and an unknown token nothing anywhere.
        assert_eq!(asset_for_coin("usdt", BitgoEnvironment::Test), None);
        assert_eq!(asset_for_coin("tsol:usdc", BitgoEnvironment::Test), None);
        assert_eq!(asset_for_coin("eth", BitgoEnvironment::Production), None);
    }
}
