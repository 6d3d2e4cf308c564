//! Verifying webhook deliveries (docs/webhooks.md). Each delivery carries two signature schemes:
//!
//! | header | scheme |
//! |---|---|
//! | `webhook-signature` | [Standard Webhooks]: `v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed with the base64-decoded part of the secret after `whsec_` |
//! | `X-Webhook-Signature` | lowercase hex HMAC-SHA256 of the raw body, keyed with the secret string's UTF-8 bytes (`whsec_` included) |
//!
//! Both are space-separated lists: during a secret rotation each holds one signature per live
//! secret (newest first), and a delivery is accepted when any entry matches. Verify **before**
//! parsing, on the bytes received; then check the timestamp's age and deduplicate on the event id.
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com
//!
//! ```
//! use custody_client::webhook::WebhookVerifier;
//! # fn handle(headers: &reqwest::header::HeaderMap, body: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = WebhookVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
//! let event = verifier.verify(headers, body)?; // 400 your answer when this fails
//! println!("{} {}", event.id, event.event_type);
//! # Ok(()) }
//! ```

use std::time::Duration;

use base64::Engine as _;
use hmac::Mac as _;
use reqwest::header::HeaderMap;

use crate::events::Event;
use crate::signing::{hmac_sha256, new_mac};

/// Why a delivery was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// A header the check needs is absent.
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not Unix seconds.
    #[error("webhook-timestamp is not Unix seconds")]
    InvalidTimestamp,
    /// The timestamp is further from now than the tolerance (a replay, or a clock off).
    #[error("webhook-timestamp is {skew_secs} s away from now, beyond the tolerance")]
    Expired {
        /// Now minus the timestamp, in seconds.
        skew_secs: i64,
    },
    /// No signature entry of this header matches any of the secrets.
    #[error("no {0} entry matches the signing secret")]
    SignatureMismatch(&'static str),
    /// The body verified but is not an event envelope.
    #[error("the body is not an event: {0}")]
    Body(String),
}

/// Checks deliveries against one or more signing secrets (more than one while you roll a
/// rotated secret out: either is accepted).
#[derive(Clone)]
pub struct WebhookVerifier {
    secrets: Vec<String>,
    tolerance: Duration,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secrets", &self.secrets.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier for the `whsec_…` secret, with a 5-minute timestamp tolerance.
    pub fn new(secret: impl Into<String>) -> Self {
        WebhookVerifier {
            secrets: vec![secret.into()],
            tolerance: Duration::from_secs(300),
        }
    }

    /// Also accept `secret` (e.g. the new one after a rotation, until every instance has it).
    #[must_use]
    pub fn also_accept(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// How far `webhook-timestamp` may be from now.
    #[must_use]
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies a delivery now and parses its event.
    ///
    /// # Errors
    /// [`WebhookError`] when a signature does not match, the timestamp is out of tolerance, a
    /// header is missing or the body is not an event.
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Event, WebhookError> {
        let now = crate::now().unix_timestamp();
        self.verify_at(|name| header(headers, name), body, now)?;
        serde_json::from_slice(body).map_err(|e| WebhookError::Body(e.to_string()))
    }

    /// Verifies a delivery at `now` (Unix seconds), reading headers through `header` (any
    /// framework: given a lower-case name, the value). Every signature header present must
    /// verify, and at least one must be present; the timestamp must be within the tolerance.
    ///
    /// # Errors
    /// As [`verify`](Self::verify), without the body parsing.
    pub fn verify_at<F>(&self, header: F, body: &[u8], now: i64) -> Result<(), WebhookError>
    where
        F: Fn(&str) -> Option<String>,
    {
        let timestamp = header("webhook-timestamp")
            .or_else(|| header("x-webhook-timestamp"))
            .ok_or(WebhookError::MissingHeader("webhook-timestamp"))?;
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| WebhookError::InvalidTimestamp)?;
        let skew = now.saturating_sub(ts);
        let tolerance = i64::try_from(self.tolerance.as_secs()).unwrap_or(i64::MAX);
        if skew.saturating_abs() > tolerance {
            return Err(WebhookError::Expired { skew_secs: skew });
        }
        let standard = header("webhook-signature");
        let plain = header("x-webhook-signature");
        if standard.is_none() && plain.is_none() {
            return Err(WebhookError::MissingHeader("webhook-signature"));
        }
        if let Some(value) = standard {
            let id = header("webhook-id")
                .or_else(|| header("x-webhook-id"))
                .ok_or(WebhookError::MissingHeader("webhook-id"))?;
            let ok = self
                .secrets
                .iter()
                .any(|s| verify_standard(s, &id, timestamp.trim(), body, &value));
            if !ok {
                return Err(WebhookError::SignatureMismatch("webhook-signature"));
            }
        }
        if let Some(value) = plain {
            if !self.secrets.iter().any(|s| verify_plain(s, body, &value)) {
                return Err(WebhookError::SignatureMismatch("X-Webhook-Signature"));
            }
        }
        Ok(())
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join(" "))
}

/// The Standard Webhooks key: the base64 part of `whsec_…`.
fn standard_key(secret: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()
}

/// `webhook-signature` for one secret: `v1,<base64>` (what the server sends; for tests and
/// local tooling).
pub fn sign_standard(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> Option<String> {
    let key = standard_key(secret)?;
    let mac = hmac_sha256(
        &key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac)
    ))
}

/// `X-Webhook-Signature` for one secret: lowercase hex.
pub fn sign_plain(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
}

/// Whether any `v1,` entry of a `webhook-signature` header matches `secret`, compared in
/// constant time.
pub fn verify_standard(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Some(key) = standard_key(secret) else {
        return false;
    };
    header.split_ascii_whitespace().any(|entry| {
        let Some(b64) = entry.strip_prefix("v1,") else {
            return false;
        };
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            return false;
        };
        let mut mac = new_mac(&key);
        for part in [id.as_bytes(), b".", timestamp.as_bytes(), b".", body] {
            mac.update(part);
        }
        mac.verify_slice(&signature).is_ok()
    })
}

/// Whether any entry of an `X-Webhook-Signature` header matches `secret`, compared in constant
/// time.
pub fn verify_plain(secret: &str, body: &[u8], header: &str) -> bool {
    header.split_ascii_whitespace().any(|entry| {
        let Ok(signature) = hex::decode(entry) else {
            return false;
        };
        let mut mac = new_mac(secret.as_bytes());
        mac.update(body);
        mac.verify_slice(&signature).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // docs/webhooks.md, "Test vector".
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC";
    const TS: &str = "1796547600";
    const BODY: &[u8] =
        br#"{"id":"evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC","type":"webhook.test","createdAt":"2026-12-06T09:00:00Z"}"#;
    const PLAIN: &str = "9961456b94bf87695bbaa5b04c5a3730cbe7a46166fa4ed4d37700f2eba976af";
    const STANDARD: &str = "v1,fUSKT2I2dp+oylsGM2+LszDMO6UzLVwetDheZxp/Q1U=";
    const OTHER: &str = "whsec_dGhlIG90aGVyIHNlY3JldCwgMzIgYnl0ZXMgbG9uZyE=";

    fn lookup(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
    }

    fn delivery(standard: &str, plain: &str) -> impl Fn(&str) -> Option<String> {
        lookup(vec![
            ("webhook-id", ID.into()),
            ("webhook-timestamp", TS.into()),
            ("webhook-signature", standard.into()),
            ("x-webhook-signature", plain.into()),
        ])
    }

    #[test]
    fn the_documented_test_vector() {
        assert_eq!(sign_plain(SECRET, BODY), PLAIN);
        assert_eq!(
            sign_standard(SECRET, ID, TS, BODY).as_deref(),
            Some(STANDARD)
        );
        assert!(verify_plain(SECRET, BODY, PLAIN));
        assert!(verify_standard(SECRET, ID, TS, BODY, STANDARD));
        let now = 1_796_547_600 + 10;
        assert_eq!(
            WebhookVerifier::new(SECRET).verify_at(delivery(STANDARD, PLAIN), BODY, now),
            Ok(())
        );
    }

    #[test]
    fn a_changed_body_id_or_timestamp_is_refused() {
        let now = 1_796_547_600;
        let v = WebhookVerifier::new(SECRET);
        let tampered = br#"{"id":"evt_01JFX0Q4ZK8D4W7T9YB3N5R2MC","type":"webhook.test","createdAt":"2026-12-06T09:00:01Z"}"#;
        assert_eq!(
            v.verify_at(delivery(STANDARD, PLAIN), tampered, now),
            Err(WebhookError::SignatureMismatch("webhook-signature"))
        );
        let moved = lookup(vec![
            ("webhook-id", ID.into()),
            ("webhook-timestamp", "1796547601".into()),
            ("webhook-signature", STANDARD.into()),
        ]);
        assert_eq!(
            v.verify_at(moved, BODY, now),
            Err(WebhookError::SignatureMismatch("webhook-signature"))
        );
        assert!(!verify_standard(SECRET, "evt_other", TS, BODY, STANDARD));
        assert!(!verify_plain(OTHER, BODY, PLAIN));
    }

    #[test]
    fn the_tolerance_window_refuses_old_and_future_deliveries() {
        let v = WebhookVerifier::new(SECRET).tolerance(Duration::from_secs(300));
        let ts = 1_796_547_600;
        assert_eq!(
            v.verify_at(delivery(STANDARD, PLAIN), BODY, ts + 300),
            Ok(())
        );
        assert_eq!(
            v.verify_at(delivery(STANDARD, PLAIN), BODY, ts + 301),
            Err(WebhookError::Expired { skew_secs: 301 })
        );
        assert_eq!(
            v.verify_at(delivery(STANDARD, PLAIN), BODY, ts - 301),
            Err(WebhookError::Expired { skew_secs: -301 })
        );
        let bad = lookup(vec![("webhook-timestamp", "soon".into())]);
        assert_eq!(
            v.verify_at(bad, BODY, ts),
            Err(WebhookError::InvalidTimestamp)
        );
        let none = lookup(vec![("webhook-timestamp", TS.into())]);
        assert_eq!(
            v.verify_at(none, BODY, ts),
            Err(WebhookError::MissingHeader("webhook-signature"))
        );
    }

    /// During a rotation each header carries one signature per live secret, newest first: a
    /// receiver holding either secret accepts, one holding neither refuses.
    #[test]
    fn rotation_two_signatures_either_secret_verifies() {
        let standard = format!(
            "{} {}",
            sign_standard(OTHER, ID, TS, BODY).expect("key"),
            STANDARD
        );
        let plain = format!("{} {}", sign_plain(OTHER, BODY), PLAIN);
        let now = 1_796_547_600;
        assert_eq!(
            WebhookVerifier::new(SECRET).verify_at(delivery(&standard, &plain), BODY, now),
            Ok(())
        );
        assert_eq!(
            WebhookVerifier::new(OTHER).verify_at(delivery(&standard, &plain), BODY, now),
            Ok(())
        );
        let third = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert_eq!(
            WebhookVerifier::new(third).verify_at(delivery(&standard, &plain), BODY, now),
            Err(WebhookError::SignatureMismatch("webhook-signature"))
        );
        // A receiver rolling a new secret out accepts both.
        assert_eq!(
            WebhookVerifier::new(third).also_accept(OTHER).verify_at(
                delivery(&standard, &plain),
                BODY,
                now
            ),
            Ok(())
        );
    }

    #[test]
    fn verify_reads_a_header_map_and_parses_the_event() {
        let mut headers = HeaderMap::new();
        let now = crate::now().unix_timestamp().to_string();
        let standard = sign_standard(SECRET, ID, &now, BODY).expect("key");
        for (k, v) in [
            ("webhook-id", ID.to_owned()),
            ("webhook-timestamp", now.clone()),
            ("webhook-signature", standard),
            ("x-webhook-signature", PLAIN.to_owned()),
        ] {
            headers.insert(k, v.parse().expect("header"));
        }
        let event = WebhookVerifier::new(SECRET)
            .verify(&headers, BODY)
            .expect("verified");
        assert_eq!(event.id, ID);
        assert_eq!(event.event_type, crate::events::EventType::WebhookTest);
    }
}
