//! Request authentication, exactly as docs/platform.md and docs/accounts.md specify.
//!
//! | mode | headers |
//! |---|---|
//! | bearer (Connect) | `Authorization: Bearer <key>` |
//! | hmac (Platform) | `X-API-Key: <key id>`, `X-Timestamp`, `X-Signature` = lowercase hex HMAC-SHA256 of [`hmac_canonical_string`], keyed with the secret string's UTF-8 bytes |
//! | ed25519 (Accounts) | `Authorization: Bearer <key>`, `X-Timestamp`, `X-Signature` = standard base64 Ed25519 signature of [`ed25519_payload`] |
//!
//! A key's mode, not the dialect, decides the scheme: any credential works with any dialect
//! (the money-moving scopes exist only on signed keys).
//!
//! The server remembers every signed `POST`/`PATCH`/`PUT`/`DELETE` for its timestamp window and
//! refuses it a second time (`signature_replayed`) unless it carries the first attempt's
//! `Idempotency-Key`. The client therefore signs every attempt afresh with the current time and
//! sends every mutation with an `Idempotency-Key` that is the same across the retries of one
//! logical request.

use std::fmt;

use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The HMAC canonical string: `"{timestamp}\n{METHOD}\n{path_and_query}\n{hex sha256(body)}"`.
///
/// `path_and_query` is the request target exactly as sent (the `/v1` prefix and `?query`
/// included); an absent body hashes as the empty string.
pub fn hmac_canonical_string(
    timestamp: &str,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> String {
    format!(
        "{timestamp}\n{}\n{path_and_query}\n{}",
        method.to_ascii_uppercase(),
        hex::encode(Sha256::digest(body))
    )
}

/// `X-Signature` of an hmac-mode request: lowercase hex HMAC-SHA256 of `canonical`, keyed with
/// the secret **string's UTF-8 bytes** (not hex-decoded).
pub fn hmac_signature(secret: &str, canonical: &str) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[canonical.as_bytes()]))
}

/// The Ed25519 payload: `"{METHOD}\n{path_and_query}\n{timestamp}\n"` followed by the raw body
/// (so a bodiless request ends with the newline after the timestamp).
pub fn ed25519_payload(
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut payload = format!(
        "{}\n{path_and_query}\n{timestamp}\n",
        method.to_ascii_uppercase()
    )
    .into_bytes();
    payload.extend_from_slice(body);
    payload
}

/// `X-Signature` of an ed25519-mode request: standard padded base64 of the 64-byte signature.
pub fn ed25519_signature(key: &SigningKey, payload: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.sign(payload).to_bytes())
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = new_mac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

pub(crate) fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length (RFC 2104); `new_from_slice` cannot fail for it.
    #[allow(
        clippy::expect_used,
        reason = "unreachable: HMAC takes keys of any length"
    )]
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// The key a client authenticates with: one of the three modes an operator mints
/// (`custody admin key mint --mode bearer|hmac|ed25519`).
#[derive(Clone)]
pub struct Credentials(Mode);

#[derive(Clone)]
enum Mode {
    Bearer {
        key: String,
    },
    Hmac {
        key_id: String,
        secret: String,
    },
    Ed25519 {
        key: String,
        signing_key: Box<SigningKey>,
    },
}

impl Credentials {
    /// A bearer-mode key (`sk_test_…` / `sk_live_…`), the Connect dialect's scheme.
    pub fn bearer(key: impl Into<String>) -> Credentials {
        Credentials(Mode::Bearer { key: key.into() })
    }

    /// An hmac-mode key, the Platform dialect's scheme: `key_id` is the mint output's `id`
    /// (`key_…`; its `key` string works too) and `secret` its `secret` (64 hex characters,
    /// used as text).
    pub fn hmac(key_id: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials(Mode::Hmac {
            key_id: key_id.into(),
            secret: secret.into(),
        })
    }

    /// An ed25519-mode key, the Accounts dialect's scheme: `key` is the mint output's `key`
    /// (`sk_test_…`) and `private_key_pem` the PKCS#8 PEM private key whose public half was
    /// registered (`openssl genpkey -algorithm Ed25519`).
    ///
    /// # Errors
    /// [`Error::Config`] when the PEM is not an Ed25519 private key.
    pub fn ed25519_pem(
        key: impl Into<String>,
        private_key_pem: &str,
    ) -> Result<Credentials, Error> {
        let signing_key = SigningKey::from_pkcs8_pem(private_key_pem)
            .map_err(|e| Error::Config(format!("not an Ed25519 PKCS#8 PEM private key: {e}")))?;
        Ok(Credentials::ed25519_seed(key, signing_key.to_bytes()))
    }

    /// An ed25519-mode key from the 32-byte private seed.
    pub fn ed25519_seed(key: impl Into<String>, seed: [u8; 32]) -> Credentials {
        Credentials(Mode::Ed25519 {
            key: key.into(),
            signing_key: Box::new(SigningKey::from_bytes(&seed)),
        })
    }

    pub(crate) fn is_bearer(&self) -> bool {
        matches!(self.0, Mode::Bearer { .. })
    }

    /// The mode's name: `bearer`, `hmac` or `ed25519`.
    pub fn mode(&self) -> &'static str {
        match self.0 {
            Mode::Bearer { .. } => "bearer",
            Mode::Hmac { .. } => "hmac",
            Mode::Ed25519 { .. } => "ed25519",
        }
    }

    /// The authentication headers of one attempt of a request: `timestamp` is Unix seconds
    /// (the current time, for a real request).
    pub fn headers(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        timestamp: i64,
    ) -> Vec<(&'static str, String)> {
        let ts = timestamp.to_string();
        match &self.0 {
            Mode::Bearer { key } => vec![("authorization", format!("Bearer {key}"))],
            Mode::Hmac { key_id, secret } => {
                let canonical = hmac_canonical_string(&ts, method, path_and_query, body);
                vec![
                    ("x-api-key", key_id.clone()),
                    ("x-signature", hmac_signature(secret, &canonical)),
                    ("x-timestamp", ts),
                ]
            }
            Mode::Ed25519 { key, signing_key } => {
                let payload = ed25519_payload(method, path_and_query, &ts, body);
                vec![
                    ("authorization", format!("Bearer {key}")),
                    ("x-signature", ed25519_signature(signing_key, &payload)),
                    ("x-timestamp", ts),
                ]
            }
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the secret; the key id of an hmac key is not a secret.
        match &self.0 {
            Mode::Bearer { .. } => f.write_str("Credentials::Bearer(<redacted>)"),
            Mode::Hmac { key_id, .. } => write!(f, "Credentials::Hmac({key_id}, <redacted>)"),
            Mode::Ed25519 { .. } => f.write_str("Credentials::Ed25519(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// docs/platform.md, "Test vectors", vector 1.
    #[test]
    fn hmac_vector_1_post() {
        let body = br#"{"externalId":"cust-42","name":"Alice"}"#;
        let canonical = hmac_canonical_string("1700000000", "POST", "/v1/vaults", body);
        assert_eq!(
            canonical,
            "1700000000\nPOST\n/v1/vaults\n9e8c4cadd5c886e99ce2ceef95c1293b16f89e64a523259eb0fb0773d52f8add"
        );
        assert_eq!(
            hmac_signature("hmac_test_secret", &canonical),
            "db9745f68f3ce88a780bd9328decf31f8dbc461960fe027b83cdcd7f7bbc3792"
        );
        let headers = Credentials::hmac("key_01", "hmac_test_secret").headers(
            "post",
            "/v1/vaults",
            body,
            1_700_000_000,
        );
        assert_eq!(header(&headers, "x-api-key"), "key_01");
        assert_eq!(header(&headers, "x-timestamp"), "1700000000");
        assert_eq!(
            header(&headers, "x-signature"),
            "db9745f68f3ce88a780bd9328decf31f8dbc461960fe027b83cdcd7f7bbc3792"
        );
    }

    /// docs/platform.md, "Test vectors", vector 2 (no body, a query).
    #[test]
    fn hmac_vector_2_get_with_query() {
        let canonical = hmac_canonical_string(
            "1700000000",
            "GET",
            "/v1/vaults?limit=2&externalId=cust-42",
            b"",
        );
        assert!(canonical
            .ends_with("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        assert_eq!(
            hmac_signature("hmac_test_secret", &canonical),
            "d0e42d41f4b673bbe076641fe8ece45fd4fb026858a860b11e2859876d224e90"
        );
    }

    /// docs/accounts.md, "Test vectors", vector 1 (the RFC 8032 test key).
    #[test]
    fn ed25519_vector_1_post() {
        let body = br#"{"chain":"ethereum","asset":"USDC"}"#;
        let path = "/v1/accounts/acc_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C/blockchain-addresses";
        let payload = ed25519_payload("POST", path, "1700000000", body);
        assert_eq!(
            hex::encode(&payload),
            "504f53540a2f76312f6163636f756e74732f6163635f30314a395a334b385134574a35563658375938\
             5a3941304231432f626c6f636b636861696e2d6164647265737365730a313730303030303030300a\
             7b22636861696e223a22657468657265756d222c226173736574223a2255534443227d"
        );
        let credentials = Credentials::ed25519_pem("sk_test_x", TEST_PEM).expect("pem");
        let headers = credentials.headers("POST", path, body, 1_700_000_000);
        assert_eq!(header(&headers, "authorization"), "Bearer sk_test_x");
        assert_eq!(
            header(&headers, "x-signature"),
            "+Yz7XU3oAF99O9FaH9C3CYdvOQSuDDtaO5IG+a68EUCXajxjsR+y5dPJgATTPTQ3nWpGUsKtfGYT6zcEfqbBBw=="
        );
    }

    /// docs/accounts.md, "Test vectors", vector 2: a bodiless payload ends with `\n`.
    #[test]
    fn ed25519_vector_2_get_ends_with_newline() {
        let path = "/v1/accounts/acc_01J9Z3K8Q4WJ5V6X7Y8Z9A0B1C/blockchain-addresses?limit=2";
        let payload = ed25519_payload("GET", path, "1700000000", b"");
        assert_eq!(payload.last(), Some(&b'\n'));
        let credentials = Credentials::ed25519_pem("sk_test_x", TEST_PEM).expect("pem");
        assert_eq!(
            header(&credentials.headers("GET", path, b"", 1_700_000_000), "x-signature"),
            "7UoEFS/k1BbO124ai9YENkt59I7/24LvjyxowyMktrjXc6I6S2rNfvc0q2MI10bFF7ZZLt1s/4cwKq/Bup8UCA=="
        );
    }

    #[test]
    fn bearer_sends_the_key_only_and_debug_hides_secrets() {
        let c = Credentials::bearer("sk_test_secretish");
        assert_eq!(
            c.headers("POST", "/connect/v1/addresses", b"{}", 1),
            vec![("authorization", "Bearer sk_test_secretish".to_owned())]
        );
        assert!(!format!("{c:?}").contains("secretish"));
        let h = Credentials::hmac("key_1", "topsecret");
        assert!(!format!("{h:?}").contains("topsecret"));
        assert!(Credentials::ed25519_pem("k", "not a pem").is_err());
    }

    #[test]
    fn each_attempt_signs_its_own_timestamp() {
        let c = Credentials::hmac("key_1", "s");
        let a = c.headers("POST", "/v1/vaults", b"{}", 1_700_000_000);
        let b = c.headers("POST", "/v1/vaults", b"{}", 1_700_000_001);
        assert_ne!(header(&a, "x-signature"), header(&b, "x-signature"));
    }
}
