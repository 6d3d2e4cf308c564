//! Authentication and the approval gate.
//!
//! One key, one mode: the key record decides which scheme the request must satisfy (bearer,
//! HMAC or Ed25519), so a key minted for signed requests can never be used as a bare bearer
//! token. Every failure is the same 401 to the partner, whatever failed; the reason is kept
//! for logs only. For sandbox keys the failure also carries a [`SignatureDebug`] (the string
//! the server signed and the clock skew), which live keys never get.
//!
//! Ordering (ARCHITECTURE §6): the HTTP layer parses the `Idempotency-Key` header first, then
//! calls [`AuthService::authenticate_with_tenant`], then [`AuthService::gate`] (the approval
//! gate), and only then touches the idempotency record.

use std::net::IpAddr;

use time::OffsetDateTime;

use crate::api_key::{hash_key, KeyMode};
use crate::caller::Caller;
use crate::environment::Environment;
use crate::error::Error;
use crate::id::ApiKeyId;
use crate::ports::{
    DynApiKeyStore, DynClock, KeyLookup, KeyWithTenant, SignatureSeen, SignatureUse, StoreError,
    StoredApiKey,
};
use crate::signing::{self, Ed25519PublicKey, SignatureDebug, TimestampError};
use crate::tenant::Tenant;

/// The credential headers as presented; the HTTP layer only extracts them. `Debug` shows
/// the key's hint only, never the key or the signature.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Credentials {
    /// The key string: from `X-API-Key`, or from `Authorization` (with or without `Bearer `).
    pub key: String,
    /// `X-Timestamp`, when sent.
    pub timestamp: Option<String>,
    /// `X-Signature`, when sent.
    pub signature: Option<String>,
    /// `Idempotency-Key`, when sent (as text): a signed request used twice is refused unless
    /// both uses carry the same key (the partner's own retry).
    pub idempotency_key: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("key", &crate::api_key::key_hint(&self.key))
            .field("timestamp", &self.timestamp)
            .field("signature", &self.signature.as_ref().map(|_| "[redacted]"))
            .field("idempotency_key", &self.idempotency_key)
            .finish()
    }
}

/// What of the request a signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresentedRequest<'a> {
    /// The method as sent.
    pub method: &'a str,
    /// Path and query as sent, without host.
    pub path_and_query: &'a str,
    /// The raw body bytes.
    pub body: &'a [u8],
    /// The client address: the socket peer, or the forwarded address from a trusted proxy.
    pub client_ip: IpAddr,
}

/// An authentication failure: always rendered as 401 `authentication_error` without a hint,
/// except a replayed signature, which says so (`signature_replayed`): whoever sent it already
/// knows the signature is good.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthFailure {
    /// Why, for logs only; never shown to the caller.
    pub reason: &'static str,
    /// The signature was valid but already used ([`AuthFailure::REPLAYED`]).
    pub replayed: bool,
    /// The signature debugger, present only for sandbox keys that failed a signature or
    /// timestamp check.
    pub debug: Option<SignatureDebug>,
    /// Store trouble rather than bad credentials: rendered as 503, not 401.
    pub unavailable: bool,
}

impl AuthFailure {
    /// The reason of a replayed signature.
    pub const REPLAYED: &'static str = "signature already used";

    fn denied(reason: &'static str) -> AuthFailure {
        AuthFailure {
            reason,
            replayed: false,
            debug: None,
            unavailable: false,
        }
    }

    fn unavailable(reason: &'static str) -> AuthFailure {
        AuthFailure {
            unavailable: true,
            ..AuthFailure::denied(reason)
        }
    }
}

/// Authentication use cases.
#[derive(Clone)]
pub struct AuthService {
    keys: DynApiKeyStore,
    clock: DynClock,
}

impl AuthService {
    /// Wires the service. Shared by both environments: keys are. The key store also reads
    /// each key's tenant for the approval gate
    /// ([`find_with_tenant`](crate::ports::ApiKeyStore::find_with_tenant)).
    pub fn new(keys: DynApiKeyStore, clock: DynClock) -> AuthService {
        AuthService { keys, clock }
    }

    /// Authenticates a request, reading the key and its tenant in one round trip
    /// ([`ApiKeyStore::find_with_tenant`](crate::ports::ApiKeyStore::find_with_tenant)): the
    /// tenant is returned for the approval gate, [`AuthService::gate`], so an authenticated,
    /// gated request reads the store once.
    ///
    /// # Errors
    /// [`AuthFailure`] for any unknown, revoked, expired, IP-refused or badly signed request;
    /// an unavailable one when the store cannot answer.
    pub async fn authenticate_with_tenant(
        &self,
        credentials: &Credentials,
        request: &PresentedRequest<'_>,
    ) -> Result<(Caller, Tenant), AuthFailure> {
        let lookup = AuthService::lookup(credentials)?;
        let found = match self.keys.find_with_tenant(&lookup).await {
            Ok(found) => found,
            Err(StoreError::NotFound) => return Err(AuthFailure::denied("unknown key")),
            Err(_) => return Err(AuthFailure::unavailable("key store unavailable")),
        };
        self.authenticate_found(&found, credentials, request).await
    }

    /// How the presented key is looked up: by id (a Platform HMAC key's `key_…`) or by the
    /// hash of the key string.
    ///
    /// # Errors
    /// [`AuthFailure`] for a key string with no environment prefix (nothing to look up).
    pub fn lookup(credentials: &Credentials) -> Result<KeyLookup, AuthFailure> {
        match ApiKeyId::parse(&credentials.key) {
            Ok(id) => Ok(KeyLookup::Id(id)),
            Err(_) if Environment::of_key(&credentials.key).is_some() => {
                Ok(KeyLookup::Hash(hash_key(&credentials.key)))
            }
            Err(_) => Err(AuthFailure::denied("key has no environment prefix")),
        }
    }

    /// The checks of [`authenticate_with_tenant`](AuthService::authenticate_with_tenant) over
    /// the record it has just read for [`lookup`](AuthService::lookup)`(credentials)`. Private:
    /// a record read earlier in the request (before a slow body) could be one revoked since.
    async fn authenticate_found(
        &self,
        found: &KeyWithTenant,
        credentials: &Credentials,
        request: &PresentedRequest<'_>,
    ) -> Result<(Caller, Tenant), AuthFailure> {
        let by_id = matches!(AuthService::lookup(credentials)?, KeyLookup::Id(_));
        let caller = self
            .verify(&found.stored, by_id, credentials, request)
            .await?;
        Ok((caller, found.tenant.clone()))
    }

    /// The approval gate over a tenant already read (with the key,
    /// [`authenticate_with_tenant`](AuthService::authenticate_with_tenant)): may the caller's
    /// tenant act in the caller's environment?
    ///
    /// # Errors
    /// `Access(NotApproved | Suspended)` (403).
    pub fn gate(caller: &Caller, tenant: &Tenant) -> Result<(), Error> {
        tenant.may_use(caller.environment)?;
        Ok(())
    }

    /// Everything authentication decides once the key record is found: the presentation
    /// (id or key string), usability, the IP allow-list, the scheme and signature, and the
    /// single-use record of a signed request.
    async fn verify(
        &self,
        stored: &StoredApiKey,
        by_id: bool,
        credentials: &Credentials,
        request: &PresentedRequest<'_>,
    ) -> Result<Caller, AuthFailure> {
        let key = &stored.key;
        let now = self.clock.now();
        match by_id {
            // A key id carries no secret: only a signature can back it.
            true if key.mode != KeyMode::Hmac => {
                return Err(AuthFailure::denied("key id presented for a non-HMAC key"))
            }
            true => {}
            false if Environment::of_key(&credentials.key) != Some(key.environment) => {
                return Err(AuthFailure::denied(
                    "key prefix does not match its environment",
                ))
            }
            false => {}
        }
        if !key.is_usable_at(now) {
            return Err(AuthFailure::denied("key revoked or expired"));
        }
        if !key.allowed_ips.allows(request.client_ip) {
            return Err(AuthFailure::denied("client address not allowed"));
        }

        let sandbox = key.environment == Environment::Sandbox;
        match key.mode {
            // A signature sent with a bearer key is not ignored: the client believes it signs,
            // so something is wrong (a bearer key where a signed one belongs, or a forgery).
            KeyMode::Bearer if credentials.signature.is_some() => {
                return Err(AuthFailure::denied("signature sent with a bearer key"))
            }
            KeyMode::Bearer => {}
            KeyMode::Hmac | KeyMode::Ed25519 => {
                let (Some(timestamp), Some(signature)) =
                    (&credentials.timestamp, &credentials.signature)
                else {
                    return Err(AuthFailure::denied("signature headers missing"));
                };
                let (signed, valid) = match key.mode {
                    KeyMode::Hmac => {
                        let canonical = signing::hmac_canonical_string(
                            timestamp,
                            request.method,
                            request.path_and_query,
                            request.body,
                        );
                        let valid = stored.hmac_secret.as_ref().is_some_and(|secret| {
                            signing::verify_hmac(secret.expose(), &canonical, signature)
                        });
                        (canonical.into_bytes(), valid)
                    }
                    _ => {
                        let payload = signing::ed25519_signing_payload(
                            request.method,
                            request.path_and_query,
                            timestamp,
                            request.body,
                        );
                        let valid = key
                            .ed25519_public_key
                            .as_deref()
                            .and_then(|pem| Ed25519PublicKey::from_pem(pem).ok())
                            .is_some_and(|public| public.verify(&payload, signature));
                        (payload, valid)
                    }
                };
                let window = key.mode.timestamp_window_secs().unwrap_or(0);
                let skew = signing::check_timestamp(now.unix_timestamp(), timestamp, window);
                let debug = |skew: Option<i64>| sandbox.then(|| SignatureDebug::new(&signed, skew));
                match skew {
                    Err(TimestampError::Malformed) => {
                        return Err(AuthFailure {
                            debug: debug(None),
                            ..AuthFailure::denied("malformed timestamp")
                        })
                    }
                    Err(TimestampError::OutsideWindow { skew }) => {
                        return Err(AuthFailure {
                            debug: debug(Some(skew)),
                            ..AuthFailure::denied("timestamp outside window")
                        })
                    }
                    Ok(skew) if !valid => {
                        return Err(AuthFailure {
                            debug: debug(Some(skew)),
                            ..AuthFailure::denied("bad signature")
                        })
                    }
                    Ok(_) => {}
                }
                // A public key registered in another environment or tenant before keys were
                // bound to one (the oldest registration kept it): refused.
                if key.mode == KeyMode::Ed25519 {
                    match self.keys.ed25519_binding_holds(key).await {
                        Ok(true) => {}
                        Ok(false) => {
                            return Err(AuthFailure::denied(
                                "ed25519 public key bound to another environment or tenant",
                            ))
                        }
                        Err(_) => return Err(AuthFailure::unavailable("key store unavailable")),
                    }
                }
                self.check_replay(key.id, timestamp, window, &signed, credentials, request)
                    .await?;
            }
        }
        let scopes = match key.mode {
            // A bearer key minted before the rule may still hold a money-moving scope: it is
            // refused at use (the endpoint answers 403 `missing_scope`, saying why).
            KeyMode::Bearer => key.scopes.without_signed_only(),
            KeyMode::Hmac | KeyMode::Ed25519 => key.scopes.clone(),
        };
        Ok(Caller {
            tenant_id: key.tenant_id,
            environment: key.environment,
            key_id: key.id,
            scopes,
        })
    }

    /// The replay cache: each signed message is single-use while its timestamp is in the
    /// window. A second use is refused unless both uses carry the same `Idempotency-Key` (the
    /// partner's own retry of a request signed in the same second, answered from the
    /// idempotency record). Reads (`GET`, `HEAD`, `OPTIONS`) change nothing and are exempt: a
    /// client may poll the same URL twice within a second.
    async fn check_replay(
        &self,
        key_id: ApiKeyId,
        timestamp: &str,
        window: i64,
        signed: &[u8],
        credentials: &Credentials,
        request: &PresentedRequest<'_>,
    ) -> Result<(), AuthFailure> {
        if ["GET", "HEAD", "OPTIONS"]
            .iter()
            .any(|m| request.method.eq_ignore_ascii_case(m))
        {
            return Ok(());
        }
        // The timestamp passed the window check: digits, so it parses.
        let signed_at = timestamp.parse::<i64>().unwrap_or_default();
        let expires_at =
            OffsetDateTime::from_unix_timestamp(signed_at.saturating_add(window).saturating_add(1))
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let used = SignatureUse {
            key_id,
            digest: signing::digest(signed),
            idempotency_key: credentials.idempotency_key.clone(),
            now: self.clock.now(),
            expires_at,
        };
        match self.keys.record_signature(&used).await {
            Ok(SignatureSeen::First) => Ok(()),
            Ok(SignatureSeen::Again { idempotency_key })
                if idempotency_key.is_some() && idempotency_key == used.idempotency_key =>
            {
                Ok(())
            }
            Ok(SignatureSeen::Again { .. }) => Err(AuthFailure {
                replayed: true,
                ..AuthFailure::denied(AuthFailure::REPLAYED)
            }),
            Err(_) => Err(AuthFailure::unavailable("replay cache unavailable")),
        }
    }
}

#[cfg(test)]
mod tests;
