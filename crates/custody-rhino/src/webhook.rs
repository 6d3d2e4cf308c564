//! Rhino webhook events: the RSA signature and the few envelope fields that identify a deposit.
//!
//! Rhino signs `hex(sha256(JSON.stringify(body)))` with RSA-SHA256 (PKCS#1 v1.5) and sends the
//! signature as hex in `X-Rhino-Signature`. We hash the raw body bytes as received (Rhino's
//! compact `JSON.stringify` output), never a re-serialisation of our own.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use custody_core::ports::ProviderError;
use reqwest::Method;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey as _;
use rsa::sha2::{Digest as _, Sha256};
use rsa::signature::Verifier as _;
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPublicKey;
use serde_json::Value;
use time::OffsetDateTime;

use crate::{RhinoClient, KEY_REFETCH_INTERVAL};

/// Keys shorter than this are refused (2048-bit RSA is the floor for signatures today).
pub(crate) const MIN_KEY_BYTES: usize = 256;

/// Parses a PEM public key: SPKI (`PUBLIC KEY`, what Rhino serves), or PKCS#1
/// (`RSA PUBLIC KEY`) as a courtesy. `None` when it is neither, or shorter than 2048 bits.
pub(crate) fn parse_public_key(pem: &str) -> Option<RsaPublicKey> {
    let pem = pem.trim();
    let key = RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
        .ok()?;
    (key.size() >= MIN_KEY_BYTES).then_some(key)
}

/// Decodes what `GET /webhook/public-key` answers: a JSON string holding base64 of the PEM.
/// A string that already is a PEM is accepted too.
pub(crate) fn decode_served_key(served: &str) -> Option<RsaPublicKey> {
    let served = served.trim();
    if served.starts_with("-----BEGIN") {
        return parse_public_key(served);
    }
    let compact: String = served.chars().filter(|c| !c.is_whitespace()).collect();
    let pem = STANDARD.decode(compact).ok()?;
    parse_public_key(std::str::from_utf8(&pem).ok()?)
}

/// The signature header, decoded; `Unverified` when missing or not hex.
pub(crate) fn decode_signature(header: Option<&str>) -> Result<Signature, ProviderError> {
    let hex_text = header
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ProviderError::Unverified("missing X-Rhino-Signature".into()))?;
    let bytes = hex::decode(hex_text)
        .map_err(|_| ProviderError::Unverified("X-Rhino-Signature is not hex".into()))?;
    Signature::try_from(bytes.as_slice())
        .map_err(|_| ProviderError::Unverified("X-Rhino-Signature is not an RSA signature".into()))
}

/// The message Rhino signs: the lowercase hex text of sha256 over the body.
pub(crate) fn signed_message(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

/// Whether `signature` is `key`'s RSA-SHA256 signature of [`signed_message`]`(payload)`.
pub(crate) fn is_signed_by(key: &RsaPublicKey, payload: &[u8], signature: &Signature) -> bool {
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(signed_message(payload).as_bytes(), signature)
        .is_ok()
}

/// What identifies a deposit in an event: the bridge and the SDA it went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DepositEvent {
    /// `event._tag`.
    pub tag: String,
    /// `event._id`.
    pub bridge_id: String,
    /// The SDA, as Rhino spells it.
    pub deposit_address: String,
    /// Its Rhino chain (`ETHEREUM`).
    pub deposit_chain: String,
    /// `eventId`, for logs.
    pub event_id: Option<String>,
}

/// The events that report a deposit through one of our SDAs.
const DEPOSIT_TAGS: [&str; 4] = [
    "BRIDGE_ACCEPTED",
    "BRIDGE_EXECUTED",
    "DEPOSIT_ADDRESS_BRIDGE_REJECTED",
    "DEPOSIT_ADDRESS_BRIDGE_DELAYED",
];

/// Whether `tag` is one of the deposit events.
pub(crate) fn is_deposit_tag(tag: &str) -> bool {
    DEPOSIT_TAGS.contains(&tag)
}

/// `event._tag` of a (signature-checked) body.
///
/// # Errors
/// `Unverified` when it is not an envelope with a tag.
pub(crate) fn event_tag(payload: &[u8]) -> Result<String, ProviderError> {
    let envelope: Value = serde_json::from_slice(payload)
        .map_err(|_| ProviderError::Unverified("the event is not JSON".into()))?;
    envelope
        .get("event")
        .and_then(|e| e.get("_tag"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ProviderError::Unverified("the event has no `_tag`".into()))
}

/// Reads the envelope `{event:{_tag,…}, eventId, ts}` of a (signature-checked) body.
///
/// # Errors
/// `Unverified` when it is not JSON, not an envelope, or not a deposit event.
pub(crate) fn parse_event(payload: &[u8]) -> Result<DepositEvent, ProviderError> {
    let envelope: Value = serde_json::from_slice(payload)
        .map_err(|_| ProviderError::Unverified("the event is not JSON".into()))?;
    let event = envelope
        .get("event")
        .filter(|e| e.is_object())
        .ok_or_else(|| ProviderError::Unverified("no `event` in the envelope".into()))?;
    let text = |obj: &Value, key: &str| {
        obj.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let tag = text(event, "_tag")
        .ok_or_else(|| ProviderError::Unverified("the event has no `_tag`".into()))?;
    let shown: String = tag.chars().take(64).collect();
    let not_deposit = || ProviderError::Unverified(format!("not a deposit event: {shown}"));
    let (deposit_address, deposit_chain) = match tag.as_str() {
        "BRIDGE_ACCEPTED" | "BRIDGE_EXECUTED" => (
            text(event, "depositAddress").ok_or_else(not_deposit)?,
            text(event, "chainIn").ok_or_else(not_deposit)?,
        ),
        "DEPOSIT_ADDRESS_BRIDGE_REJECTED" | "DEPOSIT_ADDRESS_BRIDGE_DELAYED" => {
            let sda = event.get("depositAddress").ok_or_else(not_deposit)?;
            (
                text(sda, "depositAddress").ok_or_else(not_deposit)?,
                text(sda, "depositChain").ok_or_else(not_deposit)?,
            )
        }
        _ => return Err(not_deposit()),
    };
    let bridge_id = text(event, "_id").ok_or_else(not_deposit)?;
    Ok(DepositEvent {
        tag,
        bridge_id,
        deposit_address,
        deposit_chain,
        event_id: text(&envelope, "eventId"),
    })
}

// ---------------------------------------------------------------------------------------------
// The webhook key: pinned, or fetched from Rhino and fetched again when a signature fails
// ---------------------------------------------------------------------------------------------

/// The webhook key fetched from Rhino.
pub(crate) struct FetchedKey {
    key: RsaPublicKey,
    fetched_at: OffsetDateTime,
}

impl RhinoClient {
    /// `GET /webhook/public-key`: a JSON string holding base64 of the PEM.
    async fn fetch_webhook_key(&self) -> Result<RsaPublicKey, ProviderError> {
        let url = self.url(&["webhook", "public-key"])?;
        let served: String = self
            .with_retries("webhook key", || self.authed(Method::GET, &url, &[], None))
            .await?;
        tracing::info!("fetched Rhino's webhook public key");
        decode_served_key(&served).ok_or_else(|| {
            ProviderError::Unavailable(
                "Rhino's webhook public key is not a base64 RSA PEM public key".into(),
            )
        })
    }

    /// The cached fetched key, or a fresh one (`true` when fetched by this call).
    async fn webhook_key(&self) -> Result<(RsaPublicKey, bool), ProviderError> {
        let mut slot = self.fetched_key.lock().await;
        if let Some(fetched) = slot.as_ref() {
            return Ok((fetched.key.clone(), false));
        }
        let key = self.fetch_webhook_key().await?;
        *slot = Some(FetchedKey {
            key: key.clone(),
            fetched_at: self.clock.now(),
        });
        Ok((key, true))
    }

    /// After `rejected` failed a signature: a newer key if one can be had (another caller
    /// refetched it, or the cached one is older than [`KEY_REFETCH_INTERVAL`]).
    async fn refetched_webhook_key(
        &self,
        rejected: &RsaPublicKey,
    ) -> Result<Option<RsaPublicKey>, ProviderError> {
        let mut slot = self.fetched_key.lock().await;
        let now = self.clock.now();
        if let Some(fetched) = slot.as_ref() {
            if fetched.key != *rejected {
                return Ok(Some(fetched.key.clone()));
            }
            if now - fetched.fetched_at < KEY_REFETCH_INTERVAL {
                return Ok(None);
            }
        }
        let key = self.fetch_webhook_key().await?;
        *slot = Some(FetchedKey {
            key: key.clone(),
            fetched_at: now,
        });
        Ok(Some(key))
    }

    /// Step 1 of
    /// [`CustodyProvider::verify_deposit`](custody_core::ports::CustodyProvider::verify_deposit).
    pub(crate) async fn check_signature(
        &self,
        payload: &[u8],
        header: Option<&str>,
    ) -> Result<(), ProviderError> {
        let signature = decode_signature(header)?;
        let bad = || ProviderError::Unverified("the X-Rhino-Signature does not verify".into());
        if let Some(pinned) = &self.pinned_key {
            return is_signed_by(pinned, payload, &signature)
                .then_some(())
                .ok_or_else(bad);
        }
        let (key, fresh) = self.webhook_key().await?;
        if is_signed_by(&key, payload, &signature) {
            return Ok(());
        }
        if fresh {
            return Err(bad());
        }
        match self.refetched_webhook_key(&key).await? {
            Some(newer) if is_signed_by(&newer, payload, &signature) => Ok(()),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests;
