//! Key modes: the one authentication scheme each key speaks.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::signing;

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
    /// secret (see [`generate_hmac_secret`](super::generate_hmac_secret)). The secret is stored
    /// encrypted, since the server must recompute the MAC.
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
