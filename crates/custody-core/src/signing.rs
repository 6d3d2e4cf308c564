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

/// Compares two byte strings in constant time (with respect to their contents).
///
/// Built on HMAC rather than a hand-written loop: both inputs are MACed under a fixed key and
/// the tags are compared with [`Mac::verify_slice`], which is constant time (it uses `subtle`).
/// Equal tags mean equal inputs (barring an HMAC-SHA256 collision), and because what is compared
/// are tags rather than the inputs, nothing about where the inputs first differ can leak. The
/// key need not be secret. Inputs of different lengths simply compare unequal.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    use ed25519_dalek::{Signer as _, SigningKey};

    // ---- Known-answer vectors (computed with openssl, independently of this code). These are
    // ---- the vectors for the partner documentation: keep them in sync with docs/.

    const VAULT_BODY: &[u8] = br#"{"externalId":"cust-42","name":"Alice"}"#;
    const VAULT_BODY_SHA256: &str =
        "9e8c4cadd5c886e99ce2ceef95c1293b16f89e64a523259eb0fb0773d52f8add";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HMAC_SECRET: &str = "hmac_test_secret";

    /// RFC 8032 §7.1 TEST 1 secret key, reused as the documented Accounts test key.
    const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    /// `openssl pkey -pubout` of the key above.
    const RFC8032_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----\n\
        MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
        -----END PUBLIC KEY-----\n";

    fn rfc8032_signing_key() -> SigningKey {
        let seed: [u8; 32] = hex::decode(RFC8032_SEED).unwrap().try_into().unwrap();
        SigningKey::from_bytes(&seed)
    }

    fn rfc8032_public() -> Ed25519PublicKey {
        Ed25519PublicKey::from_pem(RFC8032_PUBLIC_PEM).unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn partner_doc_vector_hmac_post_vaults() {
        // printf '%s' '{"externalId":"cust-42","name":"Alice"}' | openssl dgst -sha256
        assert_eq!(sha256_hex(VAULT_BODY), VAULT_BODY_SHA256);
        let canonical = hmac_canonical_string("1700000000", "POST", "/v1/vaults", VAULT_BODY);
        assert_eq!(
            canonical,
            format!("1700000000\nPOST\n/v1/vaults\n{VAULT_BODY_SHA256}")
        );
        // printf '%s' "$canonical" | openssl dgst -sha256 -hmac hmac_test_secret
        let expected = "db9745f68f3ce88a780bd9328decf31f8dbc461960fe027b83cdcd7f7bbc3792";
        assert_eq!(hmac_sign(HMAC_SECRET.as_bytes(), &canonical), expected);
        assert!(verify_hmac(HMAC_SECRET.as_bytes(), &canonical, expected));
    }

    #[test]
    fn partner_doc_vector_hmac_get_with_query_and_no_body() {
        assert_eq!(sha256_hex(b""), EMPTY_SHA256);
        let canonical = hmac_canonical_string(
            "1700000000",
            "get",
            "/v1/transactions?limit=2&status=Completed",
            b"",
        );
        assert_eq!(
            canonical,
            format!("1700000000\nGET\n/v1/transactions?limit=2&status=Completed\n{EMPTY_SHA256}")
        );
        let expected = "b8822a3be2e0974490be67ad05d70e9f4897cbaedef86025e36e8d260b8a93d2";
        assert_eq!(hmac_sign(HMAC_SECRET.as_bytes(), &canonical), expected);
        assert!(verify_hmac(HMAC_SECRET.as_bytes(), &canonical, expected));
    }

    #[test]
    fn partner_doc_vector_webhook_signature() {
        // printf '%s' "$body" | openssl dgst -sha256 -hmac whsec_test_secret
        let body = br#"{"id":"evt_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C","type":"balance.updated"}"#;
        assert_eq!(
            webhook_signature("whsec_test_secret", body),
            "bcff0fad1097e2f265b0a097144d6c3b3cd8341ac889f6b89da425f9e460fd4d"
        );
        // One byte of the body changed is a different signature.
        let tampered = br#"{"id":"evt_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C","type":"balance.updatee"}"#;
        assert_ne!(
            webhook_signature("whsec_test_secret", tampered),
            webhook_signature("whsec_test_secret", body)
        );
    }

    #[test]
    fn partner_doc_vector_ed25519_create_blockchain_address() {
        let payload = ed25519_signing_payload(
            "POST",
            "/v1/accounts/acc_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C/blockchain-addresses",
            "1700000000",
            br#"{"chain":"ethereum","asset":"USDC"}"#,
        );
        // printf 'POST\n/v1/accounts/…/blockchain-addresses\n1700000000\n{…}' | xxd -p
        assert_eq!(
            hex::encode(&payload),
            "504f53540a2f76312f6163636f756e74732f6163635f30314a395a334b385134574a3556365837593\
             85a3941304231432f626c6f636b636861696e2d6164647265737365730a313730303030303030300a\
             7b22636861696e223a22657468657265756d222c226173736574223a2255534443227d"
        );
        // openssl pkeyutl -sign -inkey rfc8032-test1.pem -rawin -in payload | base64
        let expected = "+Yz7XU3oAF99O9FaH9C3CYdvOQSuDDtaO5IG+a68EUCXajxjsR+y5dPJgATTPTQ3nWpGUsKtfGYT6zcEfqbBBw==";
        assert_eq!(
            b64(&rfc8032_signing_key().sign(&payload).to_bytes()),
            expected
        );
        assert!(rfc8032_public().verify(&payload, expected));
    }

    // ---- HMAC

    #[test]
    fn hmac_canonical_string_upper_cases_the_method_and_keeps_the_path_as_sent() {
        let a = hmac_canonical_string("1", "patch", "/v1/vaults/x?b=2&a=1", b"{}");
        let b = hmac_canonical_string("1", "PATCH", "/v1/vaults/x?b=2&a=1", b"{}");
        assert_eq!(a, b);
        assert!(a.starts_with("1\nPATCH\n/v1/vaults/x?b=2&a=1\n"));
    }

    #[test]
    fn verify_hmac_rejects_every_tampered_part() {
        let secret = HMAC_SECRET.as_bytes();
        let canonical = hmac_canonical_string("1700000000", "POST", "/v1/vaults", VAULT_BODY);
        let signature = hmac_sign(secret, &canonical);
        assert!(verify_hmac(secret, &canonical, &signature));

        for other in [
            hmac_canonical_string("1700000001", "POST", "/v1/vaults", VAULT_BODY),
            hmac_canonical_string("1700000000", "PUT", "/v1/vaults", VAULT_BODY),
            hmac_canonical_string("1700000000", "POST", "/v1/vaults?x=1", VAULT_BODY),
            hmac_canonical_string("1700000000", "POST", "/v1/vaults", b"{}"),
        ] {
            assert!(!verify_hmac(secret, &other, &signature), "{other}");
        }
        assert!(!verify_hmac(b"hmac_test_secreT", &canonical, &signature));
    }

    #[test]
    fn verify_hmac_accepts_upper_case_hex_and_refuses_malformed_signatures() {
        let secret = HMAC_SECRET.as_bytes();
        let canonical = hmac_canonical_string("1700000000", "POST", "/v1/vaults", VAULT_BODY);
        let signature = hmac_sign(secret, &canonical);
        assert_eq!(signature, signature.to_ascii_lowercase());
        assert!(verify_hmac(
            secret,
            &canonical,
            &signature.to_ascii_uppercase()
        ));

        let mut flipped = signature.clone().into_bytes();
        flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in [
            "",
            &signature[..62],
            &format!("{signature}00"),
            &format!("{}zz", &signature[..62]),
            &format!(" {}", &signature[..63]),
            &flipped,
            // The base64 of the right bytes is still wrong: the contract says hex.
            &b64(&hex::decode(&signature).unwrap()),
        ] {
            assert!(!verify_hmac(secret, &canonical, bad), "{bad:?}");
        }
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"\0"));
    }

    // ---- Ed25519

    #[test]
    fn rfc8032_test_1_verifies() {
        // RFC 8032 §7.1 TEST 1: empty message.
        let signature = hex::decode(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065\
             224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        )
        .unwrap();
        let key = rfc8032_public();
        assert_eq!(
            hex::encode(key.as_bytes()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert!(key.verify(b"", &b64(&signature)));
        assert!(!key.verify(b"x", &b64(&signature)));
    }

    #[test]
    fn ed25519_payload_layout() {
        assert_eq!(
            ed25519_signing_payload("get", "/v1/accounts?limit=10", "1700000000", b""),
            b"GET\n/v1/accounts?limit=10\n1700000000\n".to_vec()
        );
        // The raw body follows verbatim, even when it is not UTF-8.
        assert_eq!(
            ed25519_signing_payload("POST", "/p", "1", &[0xff, 0x00]),
            b"POST\n/p\n1\n\xff\x00".to_vec()
        );
    }

    #[test]
    fn ed25519_generated_key_round_trips_through_pem_and_detects_tampering() {
        let signing = SigningKey::from_bytes(&[7u8; 32]);
        let pem = signing
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let key = Ed25519PublicKey::from_pem(&pem).unwrap();
        // CRLF line endings and surrounding whitespace (copy-paste from a dashboard) are fine.
        assert_eq!(
            Ed25519PublicKey::from_pem(&format!("\n  {}  \n", pem.replace('\n', "\r\n"))).unwrap(),
            key
        );

        let (method, path, ts, body) = (
            "POST",
            "/v1/accounts/acc_1/blockchain-addresses",
            "1700000000",
            &b"{\"a\":1}"[..],
        );
        let signature = b64(&signing
            .sign(&ed25519_signing_payload(method, path, ts, body))
            .to_bytes());
        assert!(key.verify(&ed25519_signing_payload(method, path, ts, body), &signature));
        // The method is upper-cased on both sides.
        assert!(key.verify(&ed25519_signing_payload("post", path, ts, body), &signature));

        for payload in [
            ed25519_signing_payload("PUT", path, ts, body),
            ed25519_signing_payload(method, "/v1/accounts/acc_2/blockchain-addresses", ts, body),
            ed25519_signing_payload(method, &format!("{path}?x=1"), ts, body),
            ed25519_signing_payload(method, path, "1700000001", body),
            ed25519_signing_payload(method, path, ts, b"{\"a\":2}"),
            ed25519_signing_payload(method, path, ts, b""),
        ] {
            assert!(
                !key.verify(&payload, &signature),
                "{}",
                String::from_utf8_lossy(&payload)
            );
        }
        // Another key's signature over the same payload does not verify.
        let other = SigningKey::from_bytes(&[8u8; 32]);
        let forged = b64(&other
            .sign(&ed25519_signing_payload(method, path, ts, body))
            .to_bytes());
        assert!(!key.verify(&ed25519_signing_payload(method, path, ts, body), &forged));
    }

    #[test]
    fn ed25519_malformed_signatures_are_false() {
        let payload = ed25519_signing_payload("POST", "/v1/x", "1", b"");
        let signing = rfc8032_signing_key();
        let raw = signing.sign(&payload).to_bytes();
        let good = b64(&raw);
        let key = rfc8032_public();
        assert!(key.verify(&payload, &good));

        let url_safe = base64::engine::general_purpose::URL_SAFE.encode(raw);
        let unpadded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw);
        let hex_sig = hex::encode(raw);
        let mut flipped = raw;
        flipped[0] ^= 1;
        for bad in [
            String::new(),
            "not base64 at all".to_owned(),
            unpadded,
            hex_sig,
            b64(&raw[..63]),
            b64(&[raw.as_slice(), &[0]].concat()),
            b64(&flipped),
            format!(" {}", &good[1..]),
        ] {
            assert!(!key.verify(&payload, &bad), "{bad:?}");
        }
        // The URL-safe alphabet is only a different string when the signature contains + or /.
        if url_safe != good {
            assert!(!key.verify(&payload, &url_safe));
        }
    }

    #[test]
    fn from_pem_refuses_garbage_private_keys_other_algorithms_and_weak_points() {
        for bad in [
            "",
            "garbage",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            // The RFC 8032 key's PKCS#8 private key: never accept a secret where a public key
            // belongs.
            "-----BEGIN PRIVATE KEY-----\n\
             MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
             -----END PRIVATE KEY-----\n",
            // An RSA public key.
            "-----BEGIN PUBLIC KEY-----\n\
             MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC5iL5LD19q4AB9S/Vhz6awn+4s\n\
             e0yFX7FpNNakRydPWAOrhKs+XwYdLz5bzzHAAv+c/Paf+gbH1AmmcUw4b2QFr3in\n\
             9fZHtZ8mgwros/2oeIzQQTKV8I2XEwkbKnNNraNSQtMFddgXGdiz8WpLElwNUAsC\n\
             qI9iWA+ik2v/KtdSIwIDAQAB\n\
             -----END PUBLIC KEY-----\n",
            // The raw base64 of the key without the PEM armour.
            "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        ] {
            assert!(
                matches!(
                    Ed25519PublicKey::from_pem(bad),
                    Err(PublicKeyError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        // The identity point (0x01 then zeros) is a valid encoding but small-order.
        let identity = "-----BEGIN PUBLIC KEY-----\n\
            MCowBQYDK2VwAyEAAQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\
            -----END PUBLIC KEY-----\n";
        assert_eq!(
            Ed25519PublicKey::from_pem(identity),
            Err(PublicKeyError::Weak)
        );
    }

    // ---- Timestamps

    #[test]
    fn timestamp_window_edges_are_inclusive() {
        let now = 1_700_000_000;
        assert_eq!(check_timestamp(now, "1700000000", HMAC_WINDOW_SECS), Ok(0));
        assert_eq!(check_timestamp(now, "1699999970", HMAC_WINDOW_SECS), Ok(30));
        assert_eq!(
            check_timestamp(now, "1700000030", HMAC_WINDOW_SECS),
            Ok(-30)
        );
        assert_eq!(
            check_timestamp(now, "1699999969", HMAC_WINDOW_SECS),
            Err(TimestampError::OutsideWindow { skew: 31 })
        );
        assert_eq!(
            check_timestamp(now, "1700000031", HMAC_WINDOW_SECS),
            Err(TimestampError::OutsideWindow { skew: -31 })
        );
        assert_eq!(
            check_timestamp(now, "1699999940", ED25519_WINDOW_SECS),
            Ok(60)
        );
        assert_eq!(
            check_timestamp(now, "1700000060", ED25519_WINDOW_SECS),
            Ok(-60)
        );
        assert_eq!(
            check_timestamp(now, "1699999939", ED25519_WINDOW_SECS),
            Err(TimestampError::OutsideWindow { skew: 61 })
        );
        assert_eq!(
            check_timestamp(now, "1700000061", ED25519_WINDOW_SECS),
            Err(TimestampError::OutsideWindow { skew: -61 })
        );
    }

    #[test]
    fn timestamp_must_be_plain_digits() {
        for bad in [
            "",
            "-5",
            "+1700000000",
            "1.5",
            "1700000000.0",
            " 17",
            "17 ",
            "17e3",
            "0x10",
            "1700000000000", // 13 digits (milliseconds)
            "١٧٠٠٠٠٠٠٠٠",    // non-ASCII digits
        ] {
            assert_eq!(
                check_timestamp(1_700_000_000, bad, HMAC_WINDOW_SECS),
                Err(TimestampError::Malformed),
                "{bad:?}"
            );
        }
        // 12 digits parse (and are simply far outside the window).
        assert!(matches!(
            check_timestamp(1_700_000_000, "999999999999", HMAC_WINDOW_SECS),
            Err(TimestampError::OutsideWindow { .. })
        ));
    }

    #[test]
    fn timestamp_check_never_overflows() {
        assert!(matches!(
            check_timestamp(i64::MIN, "999999999999", 30),
            Err(TimestampError::OutsideWindow { .. })
        ));
        assert!(matches!(
            check_timestamp(i64::MAX, "0", 30),
            Err(TimestampError::OutsideWindow { .. })
        ));
        assert!(matches!(
            check_timestamp(5, "5", -1),
            Err(TimestampError::OutsideWindow { skew: 0 })
        ));
    }

    #[test]
    fn signature_debug_shows_the_signed_text() {
        let payload = ed25519_signing_payload("POST", "/p", "1", &[b'{', 0xff, b'}']);
        let debug = SignatureDebug::new(&payload, Some(-3));
        assert_eq!(debug.signed_string, "POST\n/p\n1\n{\u{fffd}}");
        assert_eq!(debug.clock_skew_seconds, Some(-3));
    }
}
