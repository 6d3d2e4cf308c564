//! Authentication at the edge: extracting the credential headers and the client address, then
//! handing them to [`AuthService`], which decides.
//!
//! Order (ARCHITECTURE §6): handlers of mutating calls parse `Idempotency-Key` first
//! ([`crate::idempotency::Mutation::begin`]), then call [`authenticate`] (401), which also runs
//! the approval gate (403), and only then validate the body and touch the record.

use std::net::IpAddr;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, AUTHORIZATION};
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use custody_core::caller::Caller;
use custody_core::services::{AuthService, Credentials, PresentedRequest};
use custody_embed::AuthCacheSettings;
use ipnet::IpNet;
use serde::Deserialize;

use crate::error::ApiError;
use crate::graph::{AppState, ServiceGraph};
use crate::middleware::LogIdentity;

/// `[auth]`: the in-process authentication cache (docs/operations.md). A key found by an
/// authenticated request is remembered, with its tenant, for `cache_ttl_ms`; a revocation,
/// rotation or tenant suspension made by another process (the `custody admin` CLI while
/// `custody serve` runs, another instance) takes effect within that time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// How long a found key is served from memory, in milliseconds (0: no cache).
    pub cache_ttl_ms: u64,
    /// The most keys held at once.
    pub cache_max_entries: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            cache_ttl_ms: 1_000,
            cache_max_entries: 10_000,
        }
    }
}

impl AuthSettings {
    /// The composition's form.
    pub const fn cache(&self) -> AuthCacheSettings {
        AuthCacheSettings {
            ttl: std::time::Duration::from_millis(self.cache_ttl_ms),
            max_entries: self.cache_max_entries,
        }
    }
}

/// An authenticated, gated caller and the graph its key reaches.
///
/// As a handler argument (read endpoints) it reads the body and runs [`authenticate`]; put it
/// after the path so a path is matched before the caller is judged, as everywhere. Mutating
/// handlers use [`crate::idempotency::Mutation::begin`] instead, which checks the
/// `Idempotency-Key` header first.
#[derive(Clone)]
pub struct Authenticated {
    /// Tenant, environment, key and scopes.
    pub caller: Caller,
    /// The service graph of the key's environment.
    pub graph: Arc<ServiceGraph>,
}

impl FromRequest for Authenticated {
    type Error = actix_web::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body.await?;
            let state = req
                .app_data::<Data<AppState>>()
                .ok_or_else(ApiError::internal)?;
            Ok(authenticate(state, &req, &body).await?)
        })
    }
}

/// Authenticates the request and applies the approval gate.
///
/// # Errors
/// 401 `authentication_error` for any credential problem (the sandbox adds the signature
/// debugger); 403 `tenant_not_approved` / `tenant_suspended`; 503 when the store is down.
pub async fn authenticate(
    state: &AppState,
    req: &HttpRequest,
    body: &[u8],
) -> Result<Authenticated, ApiError> {
    let credentials = credentials(req.headers());
    let presented = PresentedRequest {
        method: req.method().as_str(),
        path_and_query: path_and_query(req),
        body,
        client_ip: client_ip(req, &state.trusted_proxies),
    };
    // The key and its tenant in one read (a hit of the authentication cache when it is on,
    // `[auth] cache_ttl_ms`), after the body: never an earlier copy, so a key revoked while
    // the body was arriving is refused. The tenant's status is the approval gate's below.
    let authenticated = state
        .auth
        .authenticate_with_tenant(&credentials, &presented)
        .await;
    let (caller, tenant) = authenticated.map_err(|failure| {
        tracing::info!(reason = failure.reason, "authentication failed");
        crate::metrics::record_auth_failure(failure.reason);
        ApiError::authentication(failure)
    })?;
    req.extensions_mut().insert(LogIdentity {
        tenant: caller.tenant_id,
        environment: caller.environment,
        key: caller.key_id,
    });
    // Rate limits count authenticated requests, before the gate and any work (429).
    crate::rate_limit::admit(req, &caller)?;
    AuthService::gate(&caller, &tenant)?;
    let graph = state.graph(caller.environment).clone();
    Ok(Authenticated { caller, graph })
}

/// The path with its query exactly as sent (no host): what signatures and idempotency
/// fingerprints cover.
pub fn path_and_query(req: &HttpRequest) -> &str {
    req.uri()
        .path_and_query()
        .map_or_else(|| req.uri().path(), |pq| pq.as_str())
}

/// The credential headers: the key from `X-API-Key` (Platform) or `Authorization` (with or
/// without `Bearer `), plus `X-Timestamp`, `X-Signature` and `Idempotency-Key` when sent.
pub fn credentials(headers: &HeaderMap) -> Credentials {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
    };
    let key = text("x-api-key")
        .filter(|v| !v.is_empty())
        .or_else(|| {
            headers
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    let v = v.trim();
                    match v.get(..7) {
                        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => {
                            v[7..].trim().to_owned()
                        }
                        _ => v.to_owned(),
                    }
                })
        })
        .unwrap_or_default();
    Credentials {
        key,
        timestamp: text("x-timestamp"),
        signature: text("x-signature"),
        // Exactly as sent (not trimmed): what the idempotency record is keyed by.
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// The client address: the socket peer, unless the peer is a trusted proxy, in which case the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    forwarded_client(peer, req.headers(), trusted)
}

fn forwarded_client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return peer;
    }
    // Every X-Forwarded-For header, in order, read right to left: each trusted hop appended
    // the address it saw, so the first untrusted entry from the right is the client. An entry
    // that does not parse ends the walk fail-closed: the client is then the unspecified
    // address, which no allow-list entry short of 0.0.0.0/0 matches — never the proxy.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.into_iter().rev() {
        let Ok(hop) = entry.parse::<IpAddr>() else {
            return IpAddr::from([0, 0, 0, 0]);
        };
        client = hop.to_canonical();
        if !is_trusted(&client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn key_from_x_api_key_or_authorization_with_or_without_bearer() {
        assert_eq!(
            credentials(&headers(&[("x-api-key", "key_1")])).key,
            "key_1"
        );
        assert_eq!(
            credentials(&headers(&[("authorization", "Bearer sk_test_a")])).key,
            "sk_test_a"
        );
        assert_eq!(
            credentials(&headers(&[("authorization", "bearer  sk_test_a ")])).key,
            "sk_test_a"
        );
        assert_eq!(
            credentials(&headers(&[("authorization", "sk_test_b")])).key,
            "sk_test_b"
        );
        let c = credentials(&headers(&[
            ("authorization", "Bearer sk_test_c"),
            ("x-timestamp", "100"),
            ("x-signature", "abc"),
        ]));
        assert_eq!(c.timestamp.as_deref(), Some("100"));
        assert_eq!(c.signature.as_deref(), Some("abc"));
        assert_eq!(credentials(&HeaderMap::new()).key, "");
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.1.2.3".parse().unwrap();
        let outsider: IpAddr = "198.51.100.9".parse().unwrap();
        let xff = headers(&[("x-forwarded-for", "203.0.113.5, 10.9.9.9")]);
        assert_eq!(
            forwarded_client(proxy, &xff, &trusted),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        // An untrusted peer cannot claim another address.
        assert_eq!(forwarded_client(outsider, &xff, &trusted), outsider);
        // No trusted proxies configured: the peer, always.
        assert_eq!(forwarded_client(proxy, &xff, &[]), proxy);
        // A spoofed left-most entry does not help: the right-most untrusted hop wins.
        let spoof = headers(&[("x-forwarded-for", "1.1.1.1, 203.0.113.5")]);
        assert_eq!(
            forwarded_client(proxy, &spoof, &trusted),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
        // Garbage in the chain: neither the proxy nor a guess, but the unspecified address.
        let junk = headers(&[("x-forwarded-for", "not-an-ip")]);
        let unknown: IpAddr = "0.0.0.0".parse().unwrap();
        assert_eq!(forwarded_client(proxy, &junk, &trusted), unknown);
        // A client behind the proxy cannot make itself the proxy with a bad left entry.
        let smuggled = headers(&[("x-forwarded-for", "x, 10.9.9.9")]);
        assert_eq!(forwarded_client(proxy, &smuggled, &trusted), unknown);
        // IPv4-mapped IPv6 peers are judged as IPv4.
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(
            forwarded_client(mapped, &xff, &trusted),
            "203.0.113.5".parse::<IpAddr>().unwrap()
        );
    }
}
