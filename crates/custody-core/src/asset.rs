//! Assets: a token on one network, with its decimals.
//!
//! USDT on ethereum and USDT on solana are two assets with two wallets. An asset id is
//! `{SYMBOL}_{NETWORK}` in upper case (`USDT_ETHEREUM`); every code is accepted
//! case-insensitively on input and written in its canonical case on output.
//!
//! The [catalogue](CATALOGUE) lists the assets the product supports at all; a tenant then has
//! an [`EnabledAssets`] set per environment, and a request for an asset outside it is refused
//! with a 422 naming the asset.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Codes (asset symbols, network names) are between 2 and 16 characters on the wire.
pub const CODE_LENGTH: std::ops::RangeInclusive<usize> = 2..=16;

/// A blockchain network.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    /// Ethereum mainnet (EVM).
    Ethereum,
    /// Solana mainnet.
    Solana,
    /// Base, Coinbase's EVM layer 2.
    Base,
    /// Ink, Kraken's EVM layer 2.
    Ink,
    Sui,
}

/// How addresses are written on a network; decides validation and sandbox generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressFamily {
    /// `0x` + 20 bytes hex, EIP-55 checksummed.
    Evm,
    /// Base58 of a 32-byte ed25519 public key.
    Solana,
    /// `0x` + 32 bytes hex.
    Sui,
}

impl Network {
    /// Every supported network.
    pub const ALL: [Network; 5] = [
        Network::Ethereum,
        Network::Solana,
        Network::Base,
        Network::Ink,
        Network::Sui,
    ];

    /// The lowercase wire name (`ethereum`, `solana`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Network::Ethereum => "ethereum",
            Network::Solana => "solana",
            Network::Base => "base",
            Network::Ink => "ink",
            Network::Sui => "sui",
        }
    }

    /// The address family of this network.
    pub const fn address_family(self) -> AddressFamily {
        match self {
            Network::Ethereum | Network::Base | Network::Ink => AddressFamily::Evm,
            Network::Solana => AddressFamily::Solana,
            Network::Sui => AddressFamily::Sui,
        }
    }

    /// Parses a network code case-insensitively.
    ///
    /// # Errors
    /// [`AssetError::InvalidCode`] when the length is outside 2–16, [`AssetError::UnknownNetwork`]
    /// when it names no supported network.
    pub fn parse(input: &str) -> Result<Network, AssetError> {
        check_code_length("network", input)?;
        Network::ALL
            .into_iter()
            .find(|n| n.as_str().eq_ignore_ascii_case(input))
            .ok_or_else(|| AssetError::UnknownNetwork(input.to_owned()))
    }
}

/// A token symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AssetSymbol {
    /// Tether USD.
    Usdt,
    /// Circle USD Coin.
    Usdc,
    /// Tether Gold.
    Xaut,
}

impl AssetSymbol {
    /// Every supported symbol.
    pub const ALL: [AssetSymbol; 3] = [AssetSymbol::Usdt, AssetSymbol::Usdc, AssetSymbol::Xaut];

    /// The upper-case symbol (`USDT`).
    pub const fn as_str(self) -> &'static str {
        match self {
            AssetSymbol::Usdt => "USDT",
            AssetSymbol::Usdc => "USDC",
            AssetSymbol::Xaut => "XAUT",
        }
    }

    /// The human name shown in asset lists.
    pub const fn name(self) -> &'static str {
        match self {
            AssetSymbol::Usdt => "Tether USD",
            AssetSymbol::Usdc => "USD Coin",
            AssetSymbol::Xaut => "Tether Gold",
        }
    }

    /// Parses a symbol case-insensitively.
    ///
    /// # Errors
    /// [`AssetError::InvalidCode`] when the length is outside 2–16, [`AssetError::UnknownSymbol`]
    /// when it names no supported token.
    pub fn parse(input: &str) -> Result<AssetSymbol, AssetError> {
        check_code_length("asset", input)?;
        AssetSymbol::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(input))
            .ok_or_else(|| AssetError::UnknownSymbol(input.to_owned()))
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for AssetSymbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Network {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Network::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl Serialize for AssetSymbol {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AssetSymbol {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        AssetSymbol::parse(&raw).map_err(serde::de::Error::custom)
    }
}

fn check_code_length(field: &'static str, input: &str) -> Result<(), AssetError> {
    if CODE_LENGTH.contains(&input.chars().count()) {
        Ok(())
    } else {
        Err(AssetError::InvalidCode { field })
    }
}

/// Why an asset or network code was refused. All of these are 422-class input errors.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    /// The code is shorter than 2 or longer than 16 characters.
    #[error("`{field}` must be between 2 and 16 characters")]
    InvalidCode {
        /// `asset` or `network`.
        field: &'static str,
    },
    /// No such token symbol.
    #[error("unsupported asset `{0}`")]
    UnknownSymbol(String),
    /// No such network.
    #[error("unsupported network `{0}`")]
    UnknownNetwork(String),
    /// The token exists but not on that network.
    #[error("{symbol} is not supported on {network}")]
    UnsupportedPair {
        symbol: AssetSymbol,
        network: Network,
    },
    /// An asset id is not `{SYMBOL}_{NETWORK}`.
    #[error("`{0}` is not an asset id (expected e.g. `USDT_ETHEREUM`)")]
    MalformedId(String),
}

/// The identity of an asset: a symbol on a network. Only values in the [catalogue](CATALOGUE)
/// can be constructed, so holding an `AssetId` proves the pair is supported.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AssetId {
    symbol: AssetSymbol,
    network: Network,
}

impl AssetId {
    /// Looks the pair up in the catalogue.
    ///
    /// # Errors
    /// [`AssetError::UnsupportedPair`] when the token is not offered on that network.
    pub fn new(symbol: AssetSymbol, network: Network) -> Result<AssetId, AssetError> {
        Asset::lookup(symbol, network).map(|a| a.id)
    }

    /// Parses the two codes a partner sends separately (Connect's `asset` and `network`,
    /// Accounts' `asset` and `chain`).
    ///
    /// # Errors
    /// Any [`AssetError`] from parsing either code, or the pair being unsupported.
    pub fn from_codes(symbol: &str, network: &str) -> Result<AssetId, AssetError> {
        AssetId::new(AssetSymbol::parse(symbol)?, Network::parse(network)?)
    }

    /// Parses `USDT_ETHEREUM` (any case).
    ///
    /// # Errors
    /// [`AssetError::MalformedId`] when there is no `_`, otherwise as [`AssetId::from_codes`].
    pub fn parse(input: &str) -> Result<AssetId, AssetError> {
        let (symbol, network) = input
            .split_once('_')
            .ok_or_else(|| AssetError::MalformedId(input.to_owned()))?;
        AssetId::from_codes(symbol, network)
    }

    /// The token symbol.
    pub const fn symbol(self) -> AssetSymbol {
        self.symbol
    }

    /// The network.
    pub const fn network(self) -> Network {
        self.network
    }

    /// The full catalogue entry (decimals, name).
    pub fn asset(self) -> &'static Asset {
        // Construction guarantees presence; the fallback keeps this panic-free.
        CATALOGUE
            .iter()
            .find(|a| a.id == self)
            .unwrap_or(&CATALOGUE[0])
    }

    /// Decimals of the asset: base units per whole token are `10^decimals`.
    pub fn decimals(self) -> u8 {
        self.asset().decimals
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}_{}",
            self.symbol.as_str(),
            self.network.as_str().to_ascii_uppercase()
        )
    }
}

impl fmt::Debug for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for AssetId {
    type Err = AssetError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetId::parse(s)
    }
}

impl Serialize for AssetId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AssetId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        AssetId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A supported asset.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asset {
    pub id: AssetId,
    /// Base units per whole token are `10^decimals`.
    pub decimals: u8,
}

impl Asset {
    /// Finds the catalogue entry for a pair.
    ///
    /// # Errors
    /// [`AssetError::UnsupportedPair`].
    pub fn lookup(symbol: AssetSymbol, network: Network) -> Result<&'static Asset, AssetError> {
        CATALOGUE
            .iter()
            .find(|a| a.id.symbol == symbol && a.id.network == network)
            .ok_or(AssetError::UnsupportedPair { symbol, network })
    }
}

const fn entry(symbol: AssetSymbol, network: Network, decimals: u8) -> Asset {
    Asset {
        id: AssetId { symbol, network },
        decimals,
    }
}

/// Every asset the product supports, and only where the token is issued natively on that
/// network (bridged variants such as USDT0 are different tokens and are not listed).
/// Decimals are the token contracts' own: all three use 6.
pub static CATALOGUE: [Asset; 8] = [
    entry(AssetSymbol::Usdt, Network::Ethereum, 6),
    entry(AssetSymbol::Usdt, Network::Solana, 6),
    entry(AssetSymbol::Usdc, Network::Ethereum, 6),
    entry(AssetSymbol::Usdc, Network::Solana, 6),
    entry(AssetSymbol::Usdc, Network::Base, 6),
    entry(AssetSymbol::Usdc, Network::Ink, 6),
    entry(AssetSymbol::Usdc, Network::Sui, 6),
    entry(AssetSymbol::Xaut, Network::Ethereum, 6),
];

/// The assets one tenant may use in one environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnabledAssets(BTreeSet<AssetId>);

impl EnabledAssets {
    /// Every asset in the catalogue: what a new tenant gets in the sandbox.
    pub fn all() -> EnabledAssets {
        EnabledAssets(CATALOGUE.iter().map(|a| a.id).collect())
    }

    /// No asset at all.
    pub fn none() -> EnabledAssets {
        EnabledAssets::default()
    }

    /// Whether the asset is enabled.
    pub fn contains(&self, asset: AssetId) -> bool {
        self.0.contains(&asset)
    }

    /// Enables an asset; returns whether it was newly enabled.
    pub fn enable(&mut self, asset: AssetId) -> bool {
        self.0.insert(asset)
    }

    /// Disables an asset; returns whether it had been enabled.
    pub fn disable(&mut self, asset: AssetId) -> bool {
        self.0.remove(&asset)
    }

    /// The enabled assets in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = AssetId> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<AssetId> for EnabledAssets {
    fn from_iter<T: IntoIterator<Item = AssetId>>(iter: T) -> Self {
        EnabledAssets(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests;
