//! API keys as data and rules: modes, scopes, IP allow-lists, key strings and their hashes, and
//! the life cycle of a key record.
//!
//! An operator mints a key for one tenant and one environment, with one [`KeyMode`] (which of
//! the three authentication schemes it speaks), a [`ScopeSet`] and an optional [`IpAllowList`]
//! (ARCHITECTURE §5). The key string is shown once; only its [`KeyHash`] is stored. A key is
//! [active](KeyStatus::Active) until it is [rotated](ApiKey::rotate) (then it keeps working
//! until the end of a grace period, and is [expired](KeyStatus::Expired) after) or
//! [revoked](ApiKey::revoke) (at once).
//!
//! Nothing here makes random bytes or reads the clock: both come in as arguments.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::environment::Environment;
use crate::id::{ApiKeyId, TenantId};
use crate::signing;

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

/// Which authentication scheme a key speaks. A key has exactly one, fixed when it is minted, so a
/// request is never tried against several schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyMode {
    /// Connect dialect: `Authorization: Bearer sk_…` (the bare key without `Bearer ` is accepted
    /// too). The key itself is the credential; the server stores only its hash.
    Bearer,
    /// Platform dialect: `X-API-Key` identifies the key, `X-Timestamp` is unix seconds and
    /// `X-Signature` is the lowercase hex HMAC-SHA256 of
    /// [`hmac_canonical_string`](crate::signing::hmac_canonical_string) keyed with the key's
    /// secret (see [`generate_hmac_secret`]). The secret is stored encrypted, since the server
    /// must recompute the MAC.
    Hmac,
    /// Accounts dialect: `Authorization: Bearer <key>` identifies the key, `X-Timestamp` is unix
    /// seconds and `X-Signature` is the standard base64 Ed25519 signature of
    /// [`ed25519_signing_payload`](crate::signing::ed25519_signing_payload), checked against the
    /// PEM public key registered for the key. Only the public key is stored.
    Ed25519,
}

impl KeyMode {
    /// Every mode.
    pub const ALL: [KeyMode; 3] = [KeyMode::Bearer, KeyMode::Hmac, KeyMode::Ed25519];

    /// The lowercase name used in configuration, storage and the admin CLI.
    pub const fn as_str(self) -> &'static str {
        match self {
            KeyMode::Bearer => "bearer",
            KeyMode::Hmac => "hmac",
            KeyMode::Ed25519 => "ed25519",
        }
    }

    /// How far `X-Timestamp` may be from the server clock for this mode, in seconds either way;
    /// `None` for bearer keys, which sign nothing.
    pub const fn timestamp_window_secs(self) -> Option<i64> {
        match self {
            KeyMode::Bearer => None,
            KeyMode::Hmac => Some(signing::HMAC_WINDOW_SECS),
            KeyMode::Ed25519 => Some(signing::ED25519_WINDOW_SECS),
        }
    }
}

impl fmt::Display for KeyMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string names no key mode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key mode `{0}` (expected `bearer`, `hmac` or `ed25519`)")]
pub struct UnknownKeyMode(pub String);

impl FromStr for KeyMode {
    type Err = UnknownKeyMode;
    /// Case-insensitive: it is typed by operators.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownKeyMode(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// IP allow-list
// ---------------------------------------------------------------------------------------------

/// Why an allow-list entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpEntryError {
    /// Neither an IP address nor a CIDR block.
    #[error("`{0}` is not an IP address or CIDR block (e.g. `203.0.113.7` or `203.0.113.0/24`)")]
    Malformed(String),
    /// A CIDR block whose address has bits set below the prefix, such as `10.0.0.5/8`. Refused
    /// rather than silently widened: it is usually a typo for a single address, and reading it
    /// as `10.0.0.0/8` would admit sixteen million of them.
    #[error(
        "`{entry}` has host bits set: write `{network}` for the whole block, or the address alone"
    )]
    HostBitsSet {
        /// The entry as given.
        entry: String,
        /// The block it would mean.
        network: IpNet,
    },
}

/// The client addresses a key may be used from. **An empty list allows every address**: the
/// allow-list is optional and absent means unrestricted. Serialised as a list of CIDR strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowList(Vec<IpNet>);

impl IpAllowList {
    /// The unrestricted list.
    pub fn allow_all() -> IpAllowList {
        IpAllowList::default()
    }

    /// A list of already-parsed blocks.
    pub fn from_nets(nets: Vec<IpNet>) -> IpAllowList {
        IpAllowList(nets)
    }

    /// Parses every entry with [`IpAllowList::parse_entry`].
    ///
    /// # Errors
    /// The first entry's [`IpEntryError`].
    pub fn parse<I, S>(entries: I) -> Result<IpAllowList, IpEntryError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        entries
            .into_iter()
            .map(|e| IpAllowList::parse_entry(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(IpAllowList)
    }

    /// Parses one entry: a CIDR block (`203.0.113.0/24`, `2001:db8::/32`) or a bare address,
    /// which means that address alone (`/32` or `/128`). Surrounding whitespace is ignored.
    ///
    /// # Errors
    /// [`IpEntryError::Malformed`], or [`IpEntryError::HostBitsSet`] for a block like
    /// `10.0.0.5/8`.
    pub fn parse_entry(entry: &str) -> Result<IpNet, IpEntryError> {
        let trimmed = entry.trim();
        if let Ok(addr) = trimmed.parse::<IpAddr>() {
            return Ok(IpNet::from(addr));
        }
        let net: IpNet = trimmed
            .parse()
            .map_err(|_| IpEntryError::Malformed(entry.to_owned()))?;
        if net.trunc() != net {
            return Err(IpEntryError::HostBitsSet {
                entry: entry.to_owned(),
                network: net.trunc(),
            });
        }
        Ok(net)
    }

    /// Whether a request from `peer` may use the key.
    ///
    /// An IPv4-mapped IPv6 peer (`::ffff:203.0.113.7`, what a dual-stack socket reports for an
    /// IPv4 client) is also checked as the IPv4 address it is, so IPv4 entries keep working
    /// whichever way the listener is bound.
    pub fn allows(&self, peer: IpAddr) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let canonical = peer.to_canonical();
        self.0
            .iter()
            .any(|net| net.contains(&peer) || net.contains(&canonical))
    }

    /// The blocks, in the order given.
    pub fn entries(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether the list is empty (and so allows every address).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for IpAllowList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for IpAllowList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Vec::<String>::deserialize(deserializer)?;
        IpAllowList::parse(&raw).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Key strings and hashes
// ---------------------------------------------------------------------------------------------

/// A new key string: the environment's prefix (`sk_live_` / `sk_test_`) and the base58 of 32
/// random bytes, which the caller takes from the randomness port.
///
/// Base58 because the key is copied by hand between dashboards, terminals and configuration:
/// it has no characters that look alike or that break double-click selection.
pub fn format_key(env: Environment, random: &[u8; 32]) -> String {
    format!("{}{}", env.key_prefix(), bs58::encode(random).into_string())
}

/// The stored form of a key: SHA-256 of the key string (prefix included).
///
/// A fast, unsalted hash is the right tool here, unlike for passwords: a key carries 256 bits
/// of uniform randomness, so no dictionary applies and guessing a preimage costs about 2^256
/// hashes however fast each one is; a slow KDF (argon2, bcrypt) would add nothing but latency
/// to every request and a CPU lever for anyone spraying bad keys. Being deterministic, the
/// hash is also what the store indexes keys by.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash([u8; 32]);

/// The string is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a key hash is 64 hex digits")]
pub struct InvalidKeyHash;

impl KeyHash {
    /// Wraps a stored digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> KeyHash {
        KeyHash(bytes)
    }

    /// The raw digest.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, the storage form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the storage form (either hex case).
    ///
    /// # Errors
    /// [`InvalidKeyHash`] unless the input is exactly 64 hex digits.
    pub fn from_hex(input: &str) -> Result<KeyHash, InvalidKeyHash> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(input, &mut bytes).map_err(|_| InvalidKeyHash)?;
        Ok(KeyHash(bytes))
    }

    /// Whether `key` is the key this hash was made from, compared in constant time so the time
    /// taken says nothing about how much of a guess was right.
    pub fn matches(&self, key: &str) -> bool {
        signing::constant_time_eq(&hash_key(key).0, &self.0)
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.to_hex())
    }
}

impl Serialize for KeyHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeyHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        KeyHash::from_hex(&raw).map_err(serde::de::Error::custom)
    }
}

/// Hashes a key string for storage or lookup (see [`KeyHash`]).
pub fn hash_key(key: &str) -> KeyHash {
    KeyHash(Sha256::digest(key.as_bytes()).into())
}

/// A new secret for an `hmac`-mode key: the lowercase hex of 32 random bytes from the
/// randomness port (64 characters, 256 bits).
///
/// The partner's HMAC key is **the UTF-8 bytes of this string as shown**, not the 32 bytes it
/// encodes: that is what every HMAC example in every language does with a string secret, so
/// nobody has to decode anything. Hex because it survives every copy-paste path unchanged.
pub fn generate_hmac_secret(random: &[u8; 32]) -> String {
    hex::encode(random)
}

/// How many trailing characters of a key its hint shows.
const HINT_TAIL: usize = 4;

/// The key must have at least this many characters after its prefix before its hint shows any
/// of them, so a hint never gives away a meaningful share of a short or malformed string.
const HINT_MIN_BODY: usize = 16;

/// A display form of a key for dashboards and logs: its environment prefix, `...` and its last
/// 4 characters (`sk_live_...Fx9Q`). Never the full key. A string without a known prefix keeps
/// only the tail; one too short to hide is shown as `...` alone.
pub fn key_hint(key: &str) -> String {
    let (prefix, body) = Environment::of_key(key)
        .and_then(|env| Some((env.key_prefix(), key.strip_prefix(env.key_prefix())?)))
        .unwrap_or(("", key));
    let count = body.chars().count();
    if count < HINT_MIN_BODY {
        return format!("{prefix}...");
    }
    let tail: String = body.chars().skip(count - HINT_TAIL).collect();
    format!("{prefix}...{tail}")
}

// ---------------------------------------------------------------------------------------------
// The key record and its life cycle
// ---------------------------------------------------------------------------------------------

/// The longest grace period a rotation may give the old key.
///
/// A key is usually rotated because it may have leaked, and every hour of overlap is an hour a
/// leaked key still works. Seven days is enough for a partner to ship the new secret through
/// an ordinary weekly release; anyone needing longer can keep the old key and rotate later.
pub const MAX_ROTATION_GRACE: Duration = Duration::days(7);

/// Where a key stands at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Usable, with no end date.
    Active,
    /// Usable until `until` (a rotated key in its grace period, or a key minted with an
    /// expiry).
    Expiring {
        /// The instant it stops working.
        until: OffsetDateTime,
    },
    /// Its expiry has passed.
    Expired,
    /// Revoked by an operator.
    Revoked,
}

/// Why a life-cycle change of a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStateError {
    /// The key was revoked before.
    #[error("the key is already revoked")]
    AlreadyRevoked,
    /// A revoked key cannot be rotated: it is dead, mint a new one instead.
    #[error("a revoked key cannot be rotated")]
    RotateRevoked,
    /// The key was rotated before; rotate its successor instead.
    #[error("the key was already rotated, to {successor}")]
    AlreadyRotated {
        /// The key that replaced it.
        successor: ApiKeyId,
    },
    /// An expired key cannot be rotated: rotating would bring it back to life for the grace
    /// period.
    #[error("an expired key cannot be rotated")]
    RotateExpired,
    /// The grace period is negative or longer than [`MAX_ROTATION_GRACE`].
    #[error("the grace period must be between 0 and 7 days")]
    InvalidGrace,
    /// A key cannot succeed itself.
    #[error("a key cannot be its own successor")]
    SelfSuccessor,
}

/// An API key record: everything the server keeps about a key. The key string itself is never
/// stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The public identifier (`key_…`).
    pub id: ApiKeyId,
    /// The tenant the key acts for.
    pub tenant_id: TenantId,
    /// The environment every request made with the key runs in.
    pub environment: Environment,
    /// The one authentication scheme the key speaks.
    pub mode: KeyMode,
    /// What the key may do.
    pub scopes: ScopeSet,
    /// Where the key may be used from; empty means anywhere.
    pub allowed_ips: IpAllowList,
    /// SHA-256 of the key string.
    pub key_hash: KeyHash,
    /// Prefix and last 4 characters of the key, for display and logs ([`key_hint`]); never the
    /// full key.
    pub key_hint: String,
    /// For `ed25519` keys, the public key PEM exactly as registered (parse it with
    /// [`Ed25519PublicKey::from_pem`](crate::signing::Ed25519PublicKey::from_pem)).
    pub ed25519_public_key: Option<String>,
    /// When the key was minted.
    pub created_at: OffsetDateTime,
    /// When the key stops working: set by a rotation to the end of the grace period.
    pub expires_at: Option<OffsetDateTime>,
    /// When an operator revoked the key.
    pub revoked_at: Option<OffsetDateTime>,
    /// The key that replaced this one in a rotation.
    pub replaced_by: Option<ApiKeyId>,
}

impl ApiKey {
    /// The key's status at `now`.
    ///
    /// Revocation wins over everything and takes effect whatever its recorded time, so a
    /// revocation recorded by an instance whose clock runs slightly ahead is still immediate.
    /// The expiry instant itself is already expired.
    pub fn status_at(&self, now: OffsetDateTime) -> KeyStatus {
        if self.revoked_at.is_some() {
            return KeyStatus::Revoked;
        }
        match self.expires_at {
            Some(until) if now >= until => KeyStatus::Expired,
            Some(until) => KeyStatus::Expiring { until },
            None => KeyStatus::Active,
        }
    }

    /// Whether a request may authenticate with the key at `now` (active or expiring).
    pub fn is_usable_at(&self, now: OffsetDateTime) -> bool {
        matches!(
            self.status_at(now),
            KeyStatus::Active | KeyStatus::Expiring { .. }
        )
    }

    /// Revokes the key at `now`: it stops working at once. A rotated key (in its grace period or
    /// past it) may be revoked, which is how an operator cuts a grace period short.
    ///
    /// # Errors
    /// [`KeyStateError::AlreadyRevoked`]; the record is unchanged.
    pub fn revoke(&mut self, now: OffsetDateTime) -> Result<(), KeyStateError> {
        if self.revoked_at.is_some() {
            return Err(KeyStateError::AlreadyRevoked);
        }
        self.revoked_at = Some(now);
        Ok(())
    }

    /// Records that `successor` replaces this key, which keeps working for `grace` after `now`
    /// (a grace of zero stops it at once). An expiry already earlier than that is kept: a
    /// rotation never lengthens a key's life.
    ///
    /// # Errors
    /// [`KeyStateError::RotateRevoked`], [`KeyStateError::AlreadyRotated`],
    /// [`KeyStateError::RotateExpired`], [`KeyStateError::InvalidGrace`] (negative or above
    /// [`MAX_ROTATION_GRACE`]) or [`KeyStateError::SelfSuccessor`]; on error the record is
    /// unchanged.
    pub fn rotate(
        &mut self,
        now: OffsetDateTime,
        grace: Duration,
        successor: ApiKeyId,
    ) -> Result<(), KeyStateError> {
        if grace.is_negative() || grace > MAX_ROTATION_GRACE {
            return Err(KeyStateError::InvalidGrace);
        }
        if successor == self.id {
            return Err(KeyStateError::SelfSuccessor);
        }
        if self.revoked_at.is_some() {
            return Err(KeyStateError::RotateRevoked);
        }
        if let Some(successor) = self.replaced_by {
            return Err(KeyStateError::AlreadyRotated { successor });
        }
        if self.status_at(now) == KeyStatus::Expired {
            return Err(KeyStateError::RotateExpired);
        }
        // Overflow needs a clock near the year 9999; failing closed (the old key stops now) is
        // the safe reading of it.
        let end_of_grace = now.checked_add(grace).unwrap_or(now);
        self.expires_at = Some(match self.expires_at {
            Some(existing) => existing.min(end_of_grace),
            None => end_of_grace,
        });
        self.replaced_by = Some(successor);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
