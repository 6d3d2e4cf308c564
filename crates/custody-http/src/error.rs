//! The one error envelope every endpoint answers with (ARCHITECTURE §7):
//!
//! ```json
//! {"error": {"type": "invalid_request_error", "code": "unknown_field", "message": "…",
//!            "status": 422, "requestId": "req_…", "retryable": false,
//!            "fieldErrors": [{"field": "netwrok", "code": "unknown_field", "message": "…"}]}}
//! ```
//!
//! Domain errors ([`custody_core::error::Error`]) are rendered here and nowhere else. 5xx causes
//! are logged with their chain and never shown. `requestId` is read from the task-local set by
//! the request middleware ([`crate::middleware`]), so it always equals the `X-Request-Id`
//! response header.

use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use custody_core::error::{Error, ErrorKind};
use custody_core::idempotency::{IdempotencyKeyError, IN_FLIGHT_RETRY_AFTER_SECS};
use custody_core::ports::ProviderError;
use custody_core::services::AuthFailure;
use custody_core::signing::SignatureDebug;
use serde::Serialize;

use crate::middleware::current_request_id;

/// The `type` of an error, one per family of status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// 400, 405, 413, 415, 422.
    InvalidRequest,
    /// 401.
    Authentication,
    /// 403.
    Authorization,
    /// 404 (a resource, or a route that does not exist).
    NotFound,
    /// 409.
    Conflict,
    /// 429.
    RateLimit,
    /// 502, 503 from a custody provider.
    Provider,
    /// 500, 503 of our own.
    Api,
}

impl ErrorType {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::InvalidRequest => "invalid_request_error",
            ErrorType::Authentication => "authentication_error",
            ErrorType::Authorization => "authorization_error",
            ErrorType::NotFound => "not_found_error",
            ErrorType::Conflict => "conflict_error",
            ErrorType::RateLimit => "rate_limit_error",
            ErrorType::Provider => "provider_error",
            ErrorType::Api => "api_error",
        }
    }
}

/// One field's problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field as the partner named it.
    pub field: String,
    pub code: String,
    pub message: String,
}

/// An error response (boxed: handlers pass it through every `?`, so it stays one pointer).
#[derive(Debug, Clone)]
pub struct ApiError(Box<Details>);

#[derive(Debug, Clone)]
struct Details {
    status: StatusCode,
    kind: ErrorType,
    code: String,
    message: String,
    retryable: bool,
    field_errors: Vec<FieldError>,
    /// The sandbox signature debugger.
    debug: Option<SignatureDebug>,
    retry_after: Option<u32>,
}

impl ApiError {
    /// An error with no field details.
    pub fn new(
        status: StatusCode,
        kind: ErrorType,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError(Box::new(Details {
            status,
            kind,
            code: code.into(),
            message: message.into(),
            retryable: false,
            field_errors: Vec::new(),
            debug: None,
            retry_after: None,
        }))
    }

    /// 400 `invalid_request_error`.
    pub fn bad_request(code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorType::InvalidRequest,
            code,
            message,
        )
    }

    /// 422 naming one field.
    pub fn invalid_field(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        let field = field.into();
        let code = code.into();
        let message = message.into();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::InvalidRequest,
            code.clone(),
            message.clone(),
        )
        .with_field(FieldError {
            field,
            code,
            message,
        })
    }

    /// 400 for a path or query parameter that cannot be parsed.
    pub fn invalid_parameter(
        field: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        let mut e = ApiError::invalid_field(field, code, message);
        e.0.status = StatusCode::BAD_REQUEST;
        e
    }

    /// 404 for a route that does not exist.
    pub fn route_not_found() -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorType::NotFound,
            "route_not_found",
            "no such endpoint; see /openapi.json",
        )
    }

    /// 401 for any authentication failure: never a hint which part failed.
    pub fn authentication(failure: AuthFailure) -> ApiError {
        if failure.unavailable {
            return ApiError::unavailable();
        }
        if failure.replayed {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                ErrorType::Authentication,
                "signature_replayed",
                "this signature was already used: each signed request is single-use within its \
                 timestamp window. Sign the request again with a new X-Timestamp; to retry a \
                 mutation, send the same Idempotency-Key",
            );
        }
        let mut e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            ErrorType::Authentication,
            "authentication_failed",
            "the request could not be authenticated",
        );
        e.0.debug = failure.debug;
        e
    }

    /// 503 when a dependency of ours (the store) is unavailable.
    pub fn unavailable() -> ApiError {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Api,
            "service_unavailable",
            "the service is temporarily unavailable; retry with the same Idempotency-Key",
        );
        e.0.retryable = true;
        e
    }

    /// 500 that hides its cause (which the caller logs).
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::Api,
            "internal_error",
            "an internal error occurred; it has been logged with this request id",
        )
    }

    /// 409 `idempotency_conflict`.
    pub fn idempotency_conflict() -> ApiError {
        ApiError::new(
            StatusCode::CONFLICT,
            ErrorType::Conflict,
            "idempotency_conflict",
            "this Idempotency-Key was already used for a different request",
        )
    }

    /// 409 `idempotency_key_in_flight` with `Retry-After`.
    pub fn idempotency_in_flight(retry_after_secs: u32) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            ErrorType::Conflict,
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        );
        e.0.retryable = true;
        e.0.retry_after = Some(retry_after_secs);
        e
    }

    /// Sets `Retry-After` (seconds) and marks the error retryable.
    #[must_use]
    pub fn with_retry_after(mut self, secs: u32) -> ApiError {
        self.0.retry_after = Some(secs);
        self.0.retryable = true;
        self
    }

    /// Adds a field error.
    #[must_use]
    pub fn with_field(mut self, field: FieldError) -> ApiError {
        self.0.field_errors.push(field);
        self
    }

    /// Replaces the message (and the message of a single field error).
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> ApiError {
        self.0.message = message.into();
        if let [field] = self.0.field_errors.as_mut_slice() {
            field.message.clone_from(&self.0.message);
        }
        self
    }

    /// Changes the status (e.g. a text rule broken by a path or query parameter is a 400).
    #[must_use]
    pub fn with_status(mut self, status: StatusCode) -> ApiError {
        self.0.status = status;
        self
    }

    /// Renames a field in the field errors: core names a field once, a dialect may spell it
    /// differently (`asset` is Platform's `assetId`).
    #[must_use]
    pub fn renaming_field(mut self, from: &str, to: &str) -> ApiError {
        for field in &mut self.0.field_errors {
            if field.field == from {
                to.clone_into(&mut field.field);
            }
        }
        self
    }

    /// The machine code.
    pub fn code(&self) -> &str {
        &self.0.code
    }

    /// Renders the body for a given request id.
    pub fn body(&self, request_id: &str) -> serde_json::Value {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Inner<'a> {
            r#type: &'static str,
            code: &'a str,
            message: &'a str,
            status: u16,
            request_id: &'a str,
            retryable: bool,
            #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
            field_errors: &'a [FieldError],
            #[serde(skip_serializing_if = "Option::is_none")]
            signature_debug: Option<Debugger<'a>>,
        }
        /// The sandbox signature debugger: what the server signed and the clock skew.
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Debugger<'a> {
            signed_string: &'a str,
            clock_skew_seconds: Option<i64>,
        }
        serde_json::json!({
            "error": Inner {
                r#type: self.0.kind.as_str(),
                code: &self.0.code,
                message: &self.0.message,
                status: self.0.status.as_u16(),
                request_id,
                retryable: self.0.retryable,
                field_errors: &self.0.field_errors,
                signature_debug: self.0.debug.as_ref().map(|d| Debugger {
                    signed_string: &d.signed_string,
                    clock_skew_seconds: d.clock_skew_seconds,
                }),
            }
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.0.status.as_u16(),
            self.0.code,
            self.0.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        let request_id = current_request_id();
        let mut response = HttpResponse::build(self.0.status);
        if let Some(secs) = self.0.retry_after {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        response.json(self.body(&request_id))
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        let kind = e.kind();
        let code = e.code();
        let mut api = match kind {
            ErrorKind::Unprocessable => {
                let mut api = ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    ErrorType::InvalidRequest,
                    code,
                    e.to_string(),
                );
                if let Error::InvalidField { field, .. } = &e {
                    api = api.with_field(FieldError {
                        field: (*field).to_owned(),
                        code: code.to_owned(),
                        message: e.to_string(),
                    });
                }
                if let Error::AssetNotEnabled(_) = &e {
                    api = api.with_field(FieldError {
                        field: "asset".to_owned(),
                        code: code.to_owned(),
                        message: e.to_string(),
                    });
                }
                api
            }
            ErrorKind::Forbidden => ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorType::Authorization,
                code,
                e.to_string(),
            ),
            ErrorKind::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorType::NotFound,
                code,
                e.to_string(),
            ),
            ErrorKind::Conflict => ApiError::new(
                StatusCode::CONFLICT,
                ErrorType::Conflict,
                code,
                e.to_string(),
            ),
            ErrorKind::Provider => {
                let status = if e.is_retryable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::BAD_GATEWAY
                };
                ApiError::new(
                    status,
                    ErrorType::Provider,
                    code,
                    "the custody provider could not complete the request; nothing was changed",
                )
            }
            ErrorKind::Unavailable => ApiError::unavailable(),
            ErrorKind::Internal => {
                tracing::error!(error = %e, "internal error");
                ApiError::internal()
            }
        };
        if kind == ErrorKind::Provider {
            tracing::warn!(error = %e, "custody provider failed");
        }
        // The provider's own wait, passed on so partners back off as long as it asked.
        if let Error::Provider(ProviderError::RateLimited {
            retry_after_secs: Some(secs),
        }) = &e
        {
            api.0.retry_after = Some(*secs);
        }
        // Answered like the in-flight 409 it is: the request holding the key decides.
        if let Error::IdempotencyKeyTakenOver = &e {
            // A request that ran past the in-flight lease, or whose instance stopped
            // heartbeating, and lost its key: worth an operator's look.
            tracing::warn!("a request lost its Idempotency-Key to a later request before committing; nothing of it was recorded");
            api.0.retry_after = Some(IN_FLIGHT_RETRY_AFTER_SECS);
        }
        api.0.retryable = api.0.retryable || e.is_retryable();
        api
    }
}

impl From<IdempotencyKeyError> for ApiError {
    fn from(e: IdempotencyKeyError) -> ApiError {
        ApiError::bad_request(e.code(), e.to_string()).with_field(FieldError {
            field: "Idempotency-Key".into(),
            code: e.code().into(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody_core::error::ResourceKind;

    #[test]
    fn domain_errors_map_to_status_type_and_code() {
        let cases = [
            (
                Error::field("asset", "unsupported_asset", "x"),
                422,
                "invalid_request_error",
                "unsupported_asset",
            ),
            (
                Error::NotFound(ResourceKind::Vault),
                404,
                "not_found_error",
                "resource_not_found",
            ),
            (
                Error::MissingScope(custody_core::api_key::Scope::VaultsWrite),
                403,
                "authorization_error",
                "missing_scope",
            ),
            (
                Error::Internal("boom".into()),
                500,
                "api_error",
                "internal_error",
            ),
        ];
        for (e, status, kind, code) in cases {
            let api = ApiError::from(e);
            let body = api.body("req_1");
            assert_eq!(body["error"]["status"], status);
            assert_eq!(body["error"]["type"], kind);
            assert_eq!(body["error"]["code"], code);
            assert_eq!(body["error"]["requestId"], "req_1");
        }
    }

    #[test]
    fn a_taken_over_reservation_is_the_in_flight_409_with_retry_after() {
        let api = ApiError::from(Error::IdempotencyKeyTakenOver);
        let body = api.body("req_1");
        assert_eq!(body["error"]["status"], 409);
        assert_eq!(body["error"]["type"], "conflict_error");
        assert_eq!(body["error"]["code"], "idempotency_key_in_flight");
        assert_eq!(body["error"]["retryable"], true);
        let response = api.error_response();
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers().get(header::RETRY_AFTER).unwrap(),
            &HeaderValue::from(IN_FLIGHT_RETRY_AFTER_SECS)
        );
    }

    #[test]
    fn internal_errors_never_show_their_cause() {
        let body = ApiError::from(Error::Internal("secret detail".into())).body("req_1");
        assert!(!body.to_string().contains("secret detail"));
    }

    #[test]
    fn field_errors_name_the_field() {
        let body = ApiError::from(Error::field("amount", "amount_zero", "zero")).body("r");
        assert_eq!(body["error"]["fieldErrors"][0]["field"], "amount");
    }
}
