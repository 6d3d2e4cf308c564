//! What bounds a partner, or a stranger, at the edge (issue 16): the settings, and the guard
//! middleware every request passes before routing.
//!
//! - [`RateLimitSettings`] (`[rate_limit]`): requests per second per API key and per tenant,
//!   lower in the sandbox; enforced after authentication by [`crate::rate_limit`].
//! - [`ResourceLimits`] (`[limits]`): caps on what one partner can create (addresses per
//!   wallet).
//! - [`ConnectionLimits`] (`[server]`): the request-head and body-read deadlines, connections
//!   per worker, the listen backlog, and requests with a body in flight per client address.
//!
//! [`guard`] runs inside the request-id middleware, so everything it refuses is in the error
//! envelope with `X-Request-Id`. In order: a path or query that is not valid percent-encoded
//! UTF-8 is 400; a request with a body on a partner route (`/v1/…`, `/connect/…`) that names no
//! key, a key of no known form, or a key that does not exist is judged from its headers alone:
//! its body is never read (bearer and signed schemes alike, since the key lookup needs no
//! body), the handler answers it as it would without a key (the `Idempotency-Key` check, then
//! 401) and the connection is closed; a client address with too many body-carrying requests in flight
//! is 429; a declared body over the limit is 413; then the body is read whole within the read
//! deadline (408 past it) and handed on. Every refusal before the body is read closes the
//! connection, so a stalled upload never holds a socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut, Data};
use actix_web::{HttpMessage as _, HttpResponse, ResponseError};
use custody_core::environment::Environment;
use custody_core::ports::DynApiKeyStore;
use custody_core::services::AuthService;
use futures_util::StreamExt as _;
use serde::Deserialize;

use crate::auth::{client_ip, credentials};
use crate::error::{ApiError, ErrorType, FieldError};
use crate::graph::AppState;

/// Requests per second per API key and per tenant (`[rate_limit]`). Each limit is also the
/// burst: a key may send `live_per_key` requests at once, then one every `1/live_per_key` s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitSettings {
    /// `false`: no limit, no `X-RateLimit-*` headers.
    pub enabled: bool,
    /// Requests per second of one live key.
    pub live_per_key: u32,
    /// Requests per second of all live keys of one tenant together.
    pub live_per_tenant: u32,
    /// Requests per second of one sandbox key.
    pub sandbox_per_key: u32,
    /// Requests per second of all sandbox keys of one tenant together.
    pub sandbox_per_tenant: u32,
}

impl Default for RateLimitSettings {
    /// Stripe's published numbers: 100/s live, 25/s sandbox; a tenant's keys together twice a
    /// key's.
    fn default() -> RateLimitSettings {
        RateLimitSettings {
            enabled: true,
            live_per_key: 100,
            live_per_tenant: 200,
            sandbox_per_key: 25,
            sandbox_per_tenant: 50,
        }
    }
}

impl RateLimitSettings {
    /// The per-key limit of an environment.
    pub const fn per_key(&self, environment: Environment) -> u32 {
        match environment {
            Environment::Live => self.live_per_key,
            Environment::Sandbox => self.sandbox_per_key,
        }
    }

    /// The per-tenant limit of an environment.
    pub const fn per_tenant(&self, environment: Environment) -> u32 {
        match environment {
            Environment::Live => self.live_per_tenant,
            Environment::Sandbox => self.sandbox_per_tenant,
        }
    }
}

/// Caps on what one partner can create (`[limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourceLimits {
    /// Deposit addresses one wallet may have (the primary included); past it 422
    /// `wallet_address_limit_reached`.
    pub max_addresses_per_wallet: u32,
}

impl Default for ResourceLimits {
    fn default() -> ResourceLimits {
        ResourceLimits {
            max_addresses_per_wallet: 1_000,
        }
    }
}

/// Connection and body-read bounds (`[server]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ConnectionLimits {
    /// Time a client has to send the request line and headers (milliseconds; past it the
    /// connection is closed with 408).
    pub client_request_timeout_ms: u64,
    /// Time a client has to send the whole body once the headers are in (milliseconds; past
    /// it 408 `request_timeout` and the connection is closed).
    pub body_read_timeout_ms: u64,
    /// Open connections per worker thread (actix `max_connections`): past it new connections
    /// wait in the listen backlog.
    pub max_connections: usize,
    /// The listen backlog (pending connections the kernel queues).
    pub backlog: u32,
    /// Requests carrying a body in flight from one client address (past it 429
    /// `too_many_requests_in_flight`).
    pub max_body_requests_per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            client_request_timeout_ms: 5_000,
            body_read_timeout_ms: 10_000,
            max_connections: 4_096,
            backlog: 1_024,
            max_body_requests_per_ip: 64,
        }
    }
}

/// Everything the edge enforces, handed to the server by [`crate::startup::Wiring`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EdgeLimits {
    pub rate: RateLimitSettings,
    pub resources: ResourceLimits,
    pub connections: ConnectionLimits,
}

/// What [`guard`] needs, registered as app data.
pub struct EdgeState {
    /// Largest accepted body.
    pub max_body_bytes: usize,
    pub connections: ConnectionLimits,
    /// Key lookups for the refusal before the body (no body, no signature: existence only).
    pub keys: DynApiKeyStore,
    /// Body-carrying requests in flight per client address.
    in_flight: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl EdgeState {
    /// The guard's state.
    pub fn new(max_body_bytes: usize, connections: ConnectionLimits, keys: DynApiKeyStore) -> Self {
        EdgeState {
            max_body_bytes,
            connections,
            keys,
            in_flight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes an in-flight slot for `ip`, or `None` when it has none left.
    fn admit(&self, ip: IpAddr) -> Option<InFlight> {
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry(ip).or_insert(0);
        if *count >= self.connections.max_body_requests_per_ip {
            return None;
        }
        *count += 1;
        Some(InFlight {
            map: self.in_flight.clone(),
            ip,
        })
    }
}

/// A held in-flight slot, given back on drop (also when the client hangs up mid-request).
struct InFlight {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = map.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

/// The guard middleware (`App::wrap(from_fn(guard))`, inside the request-id middleware).
///
/// # Errors
/// Never: refusals are responses.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Err(e) = check_encoding(req.path(), req.query_string()) {
        return Ok(refuse(req, &e, false));
    }
    let Some(edge) = req.app_data::<Data<EdgeState>>().cloned() else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    let declared = match declared_body(&req) {
        Ok(declared) => declared,
        Err(e) => return Ok(refuse(req, &e, true)),
    };
    let Some(declared) = declared else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    if is_partner_route(req.path()) {
        match key_exists(&edge.keys, req.headers()).await {
            // Authentication reads the key again once the body is in (through the
            // authentication cache when it is on): the body may take up to the read deadline,
            // and a key revoked meanwhile must not pass on this earlier copy.
            Ok(true) => {}
            // The body is never read: the handler sees none and answers as it would without a
            // key (the `Idempotency-Key` check, then 401), and the connection is closed.
            Ok(false) => {
                drop(req.take_payload());
                req.set_payload(bytes_payload(Bytes::new()));
                let mut response = next.call(req).await?.map_into_boxed_body();
                close(response.response_mut());
                return Ok(response);
            }
            Err(e) => return Ok(refuse(req, &e, true)),
        }
    }
    let trusted = req
        .app_data::<Data<AppState>>()
        .map(|s| s.trusted_proxies.clone())
        .unwrap_or_default();
    let ip = client_ip(req.request(), &trusted);
    if declared.is_some_and(|len| len > edge.max_body_bytes) {
        return Ok(refuse(req, &too_large(), true));
    }
    let Some(slot) = edge.admit(ip) else {
        tracing::info!(%ip, "too many requests with a body in flight from one address");
        crate::metrics::record_rate_limited("client_address");
        return Ok(refuse(req, &in_flight_error(), true));
    };
    let deadline = Duration::from_millis(edge.connections.body_read_timeout_ms);
    let payload = req.take_payload();
    let body = match tokio::time::timeout(deadline, read_body(payload, edge.max_body_bytes)).await {
        Ok(Ok(body)) => body,
        Ok(Err(e)) => return Ok(refuse(req, &e, true)),
        Err(_) => {
            tracing::info!(%ip, "request body not received within the read deadline");
            return Ok(refuse(req, &timed_out(), true));
        }
    };
    req.set_payload(bytes_payload(body));
    let response = next.call(req).await;
    drop(slot);
    response.map(ServiceResponse::map_into_boxed_body)
}

/// `Some(Some(n))`: `Content-Length: n > 0`; `Some(None)`: a chunked body; `None`: no body.
fn declared_body(req: &ServiceRequest) -> Result<Option<Option<usize>>, ApiError> {
    if let Some(raw) = req.headers().get(header::CONTENT_LENGTH) {
        // actix's codec already refused a Content-Length that is not a number.
        let len = raw
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| ApiError::bad_request("invalid_request", "malformed Content-Length"))?;
        return Ok((len > 0).then(|| Some(usize::try_from(len).unwrap_or(usize::MAX))));
    }
    let chunked = req
        .headers()
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    Ok(chunked.then_some(None))
}

/// The partner API (every dialect); the operational and provider routes take no key.
fn is_partner_route(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/connect/")
}

/// Whether the request names a known key, from the headers alone: `false` for no key, a key
/// of no known form, or an unknown key. Whether the key is usable, its signature and its
/// address are judged by authentication proper, which the request still passes after its body
/// is read.
///
/// # Errors
/// 503 when the key store does not answer.
async fn key_exists(
    keys: &DynApiKeyStore,
    headers: &actix_web::http::header::HeaderMap,
) -> Result<bool, ApiError> {
    let presented = credentials(headers);
    let Ok(lookup) = AuthService::lookup(&presented) else {
        tracing::info!("no usable key: the body is not read");
        return Ok(false);
    };
    match keys.exists(&lookup).await {
        Ok(true) => Ok(true),
        Ok(false) => {
            tracing::info!("unknown key: the body is not read");
            Ok(false)
        }
        Err(_) => Err(ApiError::unavailable()),
    }
}

/// Reads the whole body, refusing it past `limit` bytes.
async fn read_body(mut payload: Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request(
                "invalid_request",
                format!("the body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

fn bytes_payload(body: Bytes) -> Payload {
    Payload::from(body)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorType::InvalidRequest,
        "payload_too_large",
        "the request body is larger than the limit",
    )
}

fn timed_out() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        ErrorType::InvalidRequest,
        "request_timeout",
        "the request body was not received in time",
    )
}

fn in_flight_error() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorType::RateLimit,
        "too_many_requests_in_flight",
        "too many requests with a body are in flight from your address; retry shortly",
    )
    .with_retry_after(1)
}

/// A refusal in the envelope; `close` ends the connection (the body, if any, is never read).
fn refuse(
    req: ServiceRequest,
    error: &ApiError,
    close_connection: bool,
) -> ServiceResponse<BoxBody> {
    let mut response = error.error_response();
    if close_connection {
        close(&mut response);
    }
    req.into_response(response)
}

/// Ends the connection after this response (its request's body is left unread).
fn close<B>(response: &mut HttpResponse<B>) {
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
}

/// Refuses a path or query that is not percent-encoded UTF-8: a `%` not followed by two hex
/// digits, or escapes decoding to bytes that are not UTF-8 (`%ff`), would otherwise be read
/// leniently (`%ff` as U+FFFD).
fn check_encoding(path: &str, query: &str) -> Result<(), ApiError> {
    if !decodes(path) {
        return Err(ApiError::bad_request(
            "invalid_path",
            "the path is not valid percent-encoded UTF-8",
        )
        .with_field(FieldError {
            field: "path".into(),
            code: "invalid_path".into(),
            message: "the path is not valid percent-encoded UTF-8".into(),
        }));
    }
    if !decodes(query) {
        let message = "the query string is not valid percent-encoded UTF-8";
        return Err(
            ApiError::bad_request("invalid_query_parameter", message).with_field(FieldError {
                field: "query".into(),
                code: "invalid_query_parameter".into(),
                message: message.into(),
            }),
        );
    }
    Ok(())
}

/// Whether every `%` starts a two-hex-digit escape and the decoded bytes are UTF-8.
fn decodes(raw: &str) -> bool {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                // `from_str_radix` takes a sign: `%+f` is not an escape.
                Some(byte) if bytes[i + 1].is_ascii_hexdigit() => {
                    decoded.push(byte);
                    i += 3;
                }
                _ => return false,
            }
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_must_be_well_formed_utf8() {
        for ok in [
            "",
            "/v1/vaults",
            "a=b%20c",
            "x=%C3%A9",
            "/v1/vaults/%41",
            "q=a+b",
        ] {
            assert!(decodes(ok), "{ok}");
        }
        for bad in ["%zz", "x=%ff", "%", "%4", "a=%C3", "%+f", "/v1/%e9t%e9"] {
            assert!(!decodes(bad), "{bad}");
        }
    }

    #[test]
    fn partner_routes_are_the_dialects() {
        assert!(is_partner_route("/v1/vaults"));
        assert!(is_partner_route("/connect/v1/addresses"));
        assert!(!is_partner_route("/webhooks/bitgo"));
        assert!(!is_partner_route("/healthz"));
    }
}
