//! Key strings, their stored hashes and display hints, and HMAC secrets.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::environment::Environment;
use crate::signing;

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
