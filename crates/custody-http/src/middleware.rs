//! The request middleware: a request id for every request, one structured log line per
//! request, and the guarantee that no error leaves the server without the JSON envelope.
//!
//! The request id lives in a task-local for the duration of the request, so
//! [`ApiError`] can put it in the body without threading it through
//! every call; actix runs a request's middleware and handler on one task.
//!
//! Errors produced by actix itself (an unknown route, a wrong method, a body over the limit)
//! come back as plain-text responses; they are replaced here by the envelope with the same
//! status, so partners never see an HTML page or a bare string.

use std::time::Instant;

use crate::system::fresh_ulid;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use custody_core::environment::Environment;
use custody_core::id::{ApiKeyId, TenantId};

use crate::error::{ApiError, ErrorType};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The response header carrying the request id.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The current request's id (`req_…`), or `req_unknown` outside a request.
pub fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "req_unknown".to_owned())
}

/// Who made the request, recorded by authentication for the log line.
#[derive(Debug, Clone, Copy)]
pub struct LogIdentity {
    pub tenant: TenantId,
    /// The environment the key reached.
    pub environment: Environment,
    /// The key (its id, never the key itself).
    pub key: ApiKeyId,
}

/// The middleware function (`App::wrap(from_fn(request_context))`).
///
/// # Errors
/// Never: errors from inner services are rendered into responses here.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let request_id = format!("req_{}", fresh_ulid());
    let started = Instant::now();
    let method = req.method().clone();
    // (The request must not be cloned before routing: actix needs it unshared.)
    let outcome = REQUEST_ID
        .scope(request_id.clone(), async {
            next.call(req)
                .await
                .map(|response| ensure_envelope(response.map_into_boxed_body()))
                .map_err(|e| envelope_for(e.as_response_error()))
        })
        .await;
    let header = HeaderValue::from_str(&request_id).ok();
    let mut response = match outcome {
        Ok(response) => response,
        Err(mut envelope) => {
            // An error escaping the app (rare: actix's own plumbing) has no request to attach
            // to here; hand actix the finished envelope, header included.
            if let Some(value) = header {
                envelope.headers_mut().insert(X_REQUEST_ID, value);
            }
            return Err(
                actix_web::error::InternalError::from_response("request failed", envelope).into(),
            );
        }
    };
    if let Some(value) = header {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    crate::rate_limit::add_headers(&mut response);

    let status = response.status().as_u16();
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".to_owned());
    let identity = response
        .request()
        .extensions()
        .get::<LogIdentity>()
        .copied();
    let elapsed = started.elapsed();
    crate::metrics::record_request(
        crate::metrics::method_label(&method),
        route.clone(),
        status,
        elapsed,
    );
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    let tenant = identity.map(|i| i.tenant.to_string());
    let environment = identity.map(|i| i.environment.as_str());
    let key = identity.map(|i| i.key.to_string());
    tracing::info!(
        request_id = %request_id,
        method = %method,
        route = %route,
        status,
        latency_ms,
        tenant = tenant.as_deref().unwrap_or("-"),
        environment = environment.unwrap_or("-"),
        key = key.as_deref().unwrap_or("-"),
        "request"
    );
    Ok(response)
}

/// Replaces a non-JSON error response by the envelope with the same status.
fn ensure_envelope(response: ServiceResponse<BoxBody>) -> ServiceResponse<BoxBody> {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (request, _) = response.into_parts();
    ServiceResponse::new(request, envelope_for_status(status))
}

fn envelope_for(error: &dyn ResponseError) -> HttpResponse {
    envelope_for_status(error.status_code())
}

/// The envelope for an error actix produced on its own.
fn envelope_for_status(status: StatusCode) -> HttpResponse {
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::route_not_found(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            ErrorType::InvalidRequest,
            "method_not_allowed",
            "this endpoint does not support the request method",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            ErrorType::InvalidRequest,
            "payload_too_large",
            "the request body is larger than the limit",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            ErrorType::InvalidRequest,
            "unsupported_media_type",
            "send the body as application/json",
        ),
        s if s.is_client_error() => ApiError::new(
            s,
            ErrorType::InvalidRequest,
            "invalid_request",
            "the request could not be read",
        ),
        s => {
            tracing::error!(status = s.as_u16(), "framework error without an envelope");
            ApiError::internal()
        }
    };
    error.error_response()
}
