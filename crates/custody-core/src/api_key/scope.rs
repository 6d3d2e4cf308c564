//! Scopes: what a key may do, and the set a key carries.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One permission a key may carry. A request lacking the scope its endpoint needs is a 403
/// `authorization_error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// `vaults:read`: list and read vaults.
    VaultsRead,
    /// `vaults:write`: create vaults and change their status.
    VaultsWrite,
    /// `wallets:read`: list and read wallets (accounts) and their balances.
    WalletsRead,
    /// `wallets:create`: create wallets.
    WalletsCreate,
    /// `addresses:read`: list and read deposit addresses.
    AddressesRead,
    /// `addresses:write`: create deposit addresses.
    AddressesWrite,
    /// `transactions:read`: list and read transactions.
    TransactionsRead,
    /// `transfers:write`: submit internal transfers.
    TransfersWrite,
    /// `withdrawals:write`: submit withdrawals.
    WithdrawalsWrite,
    /// `address_book:read`: list and read address-book entries.
    AddressBookRead,
    /// `address_book:write`: add and delete address-book entries.
    AddressBookWrite,
    /// `webhooks:read`: read the webhook configuration, deliveries and events.
    WebhooksRead,
    /// `webhooks:write`: configure the webhook endpoint and redeliver.
    WebhooksWrite,
}

impl Scope {
    /// Every scope, in wire order.
    pub const ALL: [Scope; 13] = [
        Scope::VaultsRead,
        Scope::VaultsWrite,
        Scope::WalletsRead,
        Scope::WalletsCreate,
        Scope::AddressesRead,
        Scope::AddressesWrite,
        Scope::TransactionsRead,
        Scope::TransfersWrite,
        Scope::WithdrawalsWrite,
        Scope::AddressBookRead,
        Scope::AddressBookWrite,
        Scope::WebhooksRead,
        Scope::WebhooksWrite,
    ];

    /// The scopes that move money or change where money may go (`transfers:write`,
    /// `withdrawals:write`, `address_book:write`, `webhooks:write`): only signed keys (HMAC,
    /// Ed25519) may hold them, because a bearer string that leaks (a log line, a proxy, a
    /// screenshot) is all an attacker would need.
    pub const SIGNED_ONLY: [Scope; 4] = [
        Scope::TransfersWrite,
        Scope::WithdrawalsWrite,
        Scope::AddressBookWrite,
        Scope::WebhooksWrite,
    ];

    /// Whether only signed keys (HMAC, Ed25519) may hold this scope ([`Scope::SIGNED_ONLY`]).
    pub fn requires_signed_key(self) -> bool {
        Scope::SIGNED_ONLY.contains(&self)
    }

    /// The wire name (`vaults:read`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::VaultsRead => "vaults:read",
            Scope::VaultsWrite => "vaults:write",
            Scope::WalletsRead => "wallets:read",
            Scope::WalletsCreate => "wallets:create",
            Scope::AddressesRead => "addresses:read",
            Scope::AddressesWrite => "addresses:write",
            Scope::TransactionsRead => "transactions:read",
            Scope::TransfersWrite => "transfers:write",
            Scope::WithdrawalsWrite => "withdrawals:write",
            Scope::AddressBookRead => "address_book:read",
            Scope::AddressBookWrite => "address_book:write",
            Scope::WebhooksRead => "webhooks:read",
            Scope::WebhooksWrite => "webhooks:write",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string names no scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;
    /// Exact and lowercase, like every permission string: a near-miss such as `Vaults:Read` is
    /// refused rather than guessed, so what is stored is always what was meant.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// The request needs a scope the key does not carry (403 `authorization_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this API key lacks the `{0}` scope")]
pub struct MissingScope(pub Scope);

/// The scopes of one key. Serialised as a list of wire names in a stable order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScopeSet(BTreeSet<Scope>);

impl ScopeSet {
    /// Every scope.
    pub fn all() -> ScopeSet {
        Scope::ALL.into_iter().collect()
    }

    /// Every scope a bearer key may hold: all but [`Scope::SIGNED_ONLY`].
    pub fn bearer_default() -> ScopeSet {
        Scope::ALL
            .into_iter()
            .filter(|s| !s.requires_signed_key())
            .collect()
    }

    /// These scopes without the ones only signed keys may hold.
    pub fn without_signed_only(&self) -> ScopeSet {
        self.iter().filter(|s| !s.requires_signed_key()).collect()
    }

    /// No scope: the key authenticates but may do nothing.
    pub fn empty() -> ScopeSet {
        ScopeSet::default()
    }

    /// Whether the key carries `scope`.
    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    /// `Ok` when the key carries `scope`.
    ///
    /// # Errors
    /// [`MissingScope`] naming the scope.
    pub fn require(&self, scope: Scope) -> Result<(), MissingScope> {
        if self.contains(scope) {
            Ok(())
        } else {
            Err(MissingScope(scope))
        }
    }

    /// The scopes in wire order.
    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }

    /// How many scopes the key carries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the key carries no scope at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Scope> for ScopeSet {
    fn from_iter<T: IntoIterator<Item = Scope>>(iter: T) -> Self {
        ScopeSet(iter.into_iter().collect())
    }
}
