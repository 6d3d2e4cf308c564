//! Request signatures and webhook signatures: the canonical strings and the checks, all pure.
//!
//! Two request-signing schemes exist because two partner contracts fixed them (ARCHITECTURE §5):
//!
//! - **HMAC** (Platform dialect): `X-Signature` is the lowercase hex
//!   HMAC-SHA256 of [`hmac_canonical_string`], keyed with the key's secret; `X-Timestamp` must be
//!   within [`HMAC_WINDOW_SECS`] of the server clock.
//! - **Ed25519** (Accounts dialect): `X-Signature` is the standard base64 Ed25519 signature of
//!   [`ed25519_signing_payload`], checked against the PEM public key the partner registered;
//!   `X-Timestamp` must be within [`ED25519_WINDOW_SECS`].
//!
//! Outgoing webhooks are signed with [`webhook_signature`] (ARCHITECTURE §9).
//!
//! Every check here answers only `true`/`false` (or a timestamp error the caller folds into the
//! same 401): the HTTP layer must not tell a caller *which* part failed. Every comparison of
//! secret-derived bytes is constant time. Nothing here reads the clock: the current time comes in
//! as an argument.

use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// How far (in seconds, either way) an HMAC-signed request's `X-Timestamp` may be from the
/// server clock.
pub const HMAC_WINDOW_SECS: i64 = 30;

/// How far (in seconds, either way) an Ed25519-signed request's `X-Timestamp` may be from the
/// server clock. The Accounts contract fixes ±60 s.
pub const ED25519_WINDOW_SECS: i64 = 60;

/// The longest `X-Timestamp` accepted: 12 digits is unix seconds until the year 33658, and the
/// bound keeps parsing trivially overflow-free.
const MAX_TIMESTAMP_DIGITS: usize = 12;

/// Length of a 64-byte Ed25519 signature in padded standard base64.
const ED25519_SIGNATURE_B64_LEN: usize = 88;

/// Length of a 32-byte HMAC-SHA256 tag in hex.
const HMAC_SHA256_HEX_LEN: usize = 64;

/// An HMAC-SHA256 instance keyed with `key`.
fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length (RFC 2104: longer keys are hashed, shorter ones padded),
    // and `Hmac<Sha256>::new_from_slice` never returns `Err`: the `InvalidLength` in its
    // signature exists only because the `KeyInit` trait is shared with fixed-key MACs. There is
    // no infallible constructor for variable-length keys, hence this one documented `expect`.
    #[allow(
        clippy::expect_used,
        reason = "unreachable: HMAC takes keys of any length"
    )]
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// Lowercase hex SHA-256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of `bytes`: the replay cache's name for a signed message.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Compares two byte strings in constant time (with respect to their contents).
///
/// Built on HMAC rather than a hand-written loop: both inputs are MACed under a fixed key and
/// the tags are compared with [`Mac::verify_slice`], which is constant time (it uses `subtle`).
/// Equal tags mean equal inputs (barring an HMAC-SHA256 collision), and because what is compared
/// are tags rather than the inputs, nothing about where the inputs first differ can leak. The
/// key need not be secret. Inputs of different lengths simply compare unequal.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    const COMPARISON_KEY: &[u8] = b"custody-core constant-time comparison";
    let expected = hmac_sha256(COMPARISON_KEY)
        .chain_update(b)
        .finalize()
        .into_bytes();
    hmac_sha256(COMPARISON_KEY)
        .chain_update(a)
        .verify_slice(&expected)
        .is_ok()
}

// ---------------------------------------------------------------------------------------------
// HMAC (Platform dialect)
// ---------------------------------------------------------------------------------------------

/// The string an HMAC-mode request signs:
/// `"{timestamp}\n{METHOD}\n{path_and_query}\n{lowercase hex sha256(body)}"`.
///
/// - `timestamp` is the `X-Timestamp` header exactly as sent (it is validated separately by
///   [`check_timestamp`]; signing the raw text means a client and the server never disagree
///   about its formatting).
/// - `method` is upper-cased here, so `post` and `POST` sign the same string.
/// - `path_and_query` is the request target as sent, without scheme or host, including
///   `?query` when present (e.g. `/v1/transactions?limit=2`). It is not normalised: the
///   signature covers the exact bytes the client sent.
/// - An absent body is the empty string, whose hash is
///   `e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855`.
pub fn hmac_canonical_string(
    timestamp: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    format!(
        "{timestamp}\n{}\n{path_and_query}\n{}",
        method.to_ascii_uppercase(),
        sha256_hex(body)
    )
}

/// The lowercase hex HMAC-SHA256 of `canonical` keyed with `secret`: what a client puts in
/// `X-Signature`. The server never needs this to verify (see [`verify_hmac`]); it exists for
/// tests, documentation and client SDK examples.
///
/// `secret` is the UTF-8 bytes of the secret string as shown to the partner (it is *not*
/// hex- or base64-decoded first).
pub fn hmac_sign(secret: &[u8], canonical: &str) -> String {
    hex::encode(
        hmac_sha256(secret)
            .chain_update(canonical.as_bytes())
            .finalize()
            .into_bytes(),
    )
}

/// Whether `signature_hex` is the HMAC-SHA256 of `canonical` under `secret`, compared in
/// constant time.
///
/// The contract says lowercase hex; upper-case (or mixed-case) hex is accepted too because the
/// comparison is on the decoded bytes, so case carries no information and rejecting it would
/// only break clients whose hex encoder happens to upper-case. Anything that is not exactly 64
/// hex digits is simply `false`, like a wrong signature.
pub fn verify_hmac(secret: &[u8], canonical: &str, signature_hex: &str) -> bool {
    if signature_hex.len() != HMAC_SHA256_HEX_LEN {
        return false;
    }
    let Ok(signature) = hex::decode(signature_hex) else {
        return false;
    };
    hmac_sha256(secret)
        .chain_update(canonical.as_bytes())
        .verify_slice(&signature)
        .is_ok()
}

// ---------------------------------------------------------------------------------------------
// Ed25519 (Accounts dialect)
// ---------------------------------------------------------------------------------------------

/// The bytes an Ed25519-mode request signs:
/// `"{METHOD}\n{path_and_query}\n{timestamp}\n"` followed by the raw body bytes.
///
/// The order differs from the HMAC string (method first, timestamp third, the body itself rather
/// than its hash) because the Accounts contract fixes it so. A request without a body therefore
/// ends with the newline after the timestamp. `method` is upper-cased; `path_and_query` is the
/// request target as sent, including `?query` when present.
pub fn ed25519_signing_payload(
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    body: &[u8],
) -> Vec<u8> {
    let head = format!(
        "{}\n{path_and_query}\n{timestamp}\n",
        method.to_ascii_uppercase()
    );
    let mut payload = Vec::with_capacity(head.len() + body.len());
    payload.extend_from_slice(head.as_bytes());
    payload.extend_from_slice(body);
    payload
}

/// Why a registered Ed25519 public key was refused. Only the operator registering a key sees
/// these; request authentication never exposes them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// Not an Ed25519 public key in SPKI PEM form.
    #[error(
        "expected an Ed25519 public key in PEM form (`-----BEGIN PUBLIC KEY-----`, as printed by \
         `openssl pkey -pubout`): {0}"
    )]
    Malformed(String),
    /// A small-order point: signatures "verify" for it without knowledge of any secret, so it
    /// would authenticate anyone.
    #[error("the Ed25519 public key is a weak (small-order) point and cannot be used")]
    Weak,
}

/// An Ed25519 public key a partner registered for an `ed25519`-mode API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ed25519PublicKey(VerifyingKey);

impl Ed25519PublicKey {
    /// Parses an SPKI PEM (`-----BEGIN PUBLIC KEY-----`, what
    /// `openssl genpkey -algorithm Ed25519 | openssl pkey -pubout` prints). Surrounding
    /// whitespace is ignored.
    ///
    /// # Errors
    /// [`PublicKeyError::Malformed`] for anything that is not an Ed25519 SPKI PEM (including a
    /// private key, or another algorithm's public key); [`PublicKeyError::Weak`] for a
    /// small-order point.
    pub fn from_pem(pem: &str) -> Result<Self, PublicKeyError> {
        let key = VerifyingKey::from_public_key_pem(pem.trim())
            .map_err(|e| PublicKeyError::Malformed(e.to_string()))?;
        // Refuse at registration what `verify_strict` would refuse on every request anyway, so
        // the operator learns of it now rather than from a partner's failing requests.
        if key.is_weak() {
            return Err(PublicKeyError::Weak);
        }
        Ok(Self(key))
    }

    /// The 32-byte compressed point.
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Whether `signature_b64` (standard base64 with padding, 88 characters) is a valid
    /// signature of `message` under this key.
    ///
    /// Uses `verify_strict`, which also rejects non-canonical and small-order signature
    /// components, so a signature cannot be malleated into a second valid one. Bad base64
    /// (including the URL-safe alphabet or missing padding) or a wrong length is simply `false`.
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        if signature_b64.len() != ED25519_SIGNATURE_B64_LEN {
            return false;
        }
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(signature_b64) else {
            return false;
        };
        let Ok(bytes) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        self.0
            .verify_strict(message, &Signature::from_bytes(&bytes))
            .is_ok()
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamps
// ---------------------------------------------------------------------------------------------

/// Why an `X-Timestamp` header was refused. Both fold into the same 401 on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Not 1–12 ASCII digits (unix seconds, no sign, no fraction, no whitespace).
    #[error("X-Timestamp must be unix seconds as plain digits")]
    Malformed,
    /// Too far from the server clock.
    #[error("X-Timestamp is {skew} s away from the server clock")]
    OutsideWindow {
        /// Server time minus the header's time, in seconds: positive when the request is old
        /// (or the client clock is behind), negative when it is from the future.
        skew: i64,
    },
}

/// Checks an `X-Timestamp` header against the server clock `now_unix` and returns the clock
/// skew (`now_unix - timestamp`, seconds) when it is within `window_secs` either way. A skew of
/// exactly `±window_secs` is accepted.
///
/// The header must be plain ASCII digits, at most 12 of them: no sign, no fraction, no exponent,
/// no whitespace. Strictness here costs honest clients nothing and keeps the signed text and the
/// parsed value in one-to-one correspondence.
///
/// # Errors
/// [`TimestampError::Malformed`] or [`TimestampError::OutsideWindow`] (with the skew, for the
/// sandbox signature debugger). A negative `window_secs` accepts nothing.
pub fn check_timestamp(
    now_unix: i64,
    header: &str,
    window_secs: i64,
) -> Result<i64, TimestampError> {
    if header.is_empty()
        || header.len() > MAX_TIMESTAMP_DIGITS
        || !header.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(TimestampError::Malformed);
    }
    let timestamp: i64 = header.parse().map_err(|_| TimestampError::Malformed)?;
    let skew = now_unix.saturating_sub(timestamp);
    let window = u64::try_from(window_secs).map_err(|_| TimestampError::OutsideWindow { skew })?;
    if skew.unsigned_abs() > window {
        return Err(TimestampError::OutsideWindow { skew });
    }
    Ok(skew)
}

// ---------------------------------------------------------------------------------------------
// Sandbox signature debugger
// ---------------------------------------------------------------------------------------------

/// What the signature debugger adds to a failed authentication's error body: the exact string
/// the server signed and the clock skew, so a partner can diff them against their own.
///
/// **Only for sandbox keys.** In live it would hand an attacker an oracle for the canonical
/// form and the server clock and break the "no hint which part failed" rule (ARCHITECTURE §5).
/// It never contains a secret or the expected signature.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignatureDebug {
    /// The canonical string the server computed ([`hmac_canonical_string`], or
    /// [`ed25519_signing_payload`] read as UTF-8 with invalid sequences replaced).
    pub signed_string: String,
    /// Server time minus `X-Timestamp`, in seconds; `None` when the header was missing or
    /// malformed.
    pub clock_skew_seconds: Option<i64>,
}

impl SignatureDebug {
    /// Builds the debug view from the signed bytes (lossily decoded: a binary body must not
    /// make the debugger fail) and the skew.
    pub fn new(signed: &[u8], clock_skew_seconds: Option<i64>) -> Self {
        Self {
            signed_string: String::from_utf8_lossy(signed).into_owned(),
            clock_skew_seconds,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

/// The `X-Webhook-Signature` of a delivery: lowercase hex HMAC-SHA256 of the raw body bytes,
/// keyed with the signing secret's UTF-8 bytes (the secret string as shown, not decoded).
/// Receivers must MAC the body bytes exactly as received, before any JSON parsing.
pub fn webhook_signature(signing_secret: &str, raw_body: &[u8]) -> String {
    hex::encode(
        hmac_sha256(signing_secret.as_bytes())
            .chain_update(raw_body)
            .finalize()
            .into_bytes(),
    )
}

#[cfg(test)]
mod tests;
