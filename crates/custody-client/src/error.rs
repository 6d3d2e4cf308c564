//! Errors: the API's error envelope as [`ApiError`], plus transport, decoding and configuration
//! failures, all under one [`Error`].

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Everything a call can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with an error status (the JSON error envelope, or a bare answer the
    /// HTTP codec gave before the application saw the request).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// No answer: connection refused or reset, a timeout, TLS. For a mutation the outcome is
    /// unknown: resend it with the same `Idempotency-Key` (the client already did, up to its
    /// retry budget).
    #[error("transport error after {attempts} attempt(s): {source}")]
    Transport {
        /// How many attempts were made.
        attempts: u32,
        /// What reqwest reported for the last one.
        #[source]
        source: reqwest::Error,
    },
    /// A success status whose body is not the documented shape.
    #[error("could not decode the {status} response (request {request_id:?}): {message}")]
    Decode {
        /// The HTTP status.
        status: u16,
        /// `X-Request-Id`, when present.
        request_id: Option<String>,
        /// What serde said.
        message: String,
    },
    /// The client was configured wrongly (a base URL that does not parse, a key that does not).
    #[error("invalid configuration: {0}")]
    Config(String),
}

impl From<ApiError> for Error {
    fn from(error: ApiError) -> Self {
        Error::Api(Box::new(error))
    }
}

impl Error {
    /// The API error, when the server answered with one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e.as_ref()),
            _ => None,
        }
    }

    /// The stable machine `code` of an API error (`insufficient_funds`, …), if any.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|e| e.code.as_str())
    }

    /// The HTTP status of an API error, if any.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }
}

/// The API's error envelope (`{"error": {…}}`, docs/errors-and-conventions.md), typed.
///
/// Branch on [`code`](Self::code), never on [`message`](Self::message).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// The family: `invalid_request_error`, `authentication_error`, `authorization_error`,
    /// `not_found_error`, `conflict_error`, `rate_limit_error`, `provider_error`, `api_error`.
    pub kind: String,
    /// The stable machine code (`unknown_field`, `idempotency_conflict`, …).
    pub code: String,
    /// A human explanation; may change.
    pub message: String,
    /// `requestId` (equals the `X-Request-Id` header): quote it to support.
    pub request_id: Option<String>,
    /// Whether the same request (same `Idempotency-Key`) may succeed later.
    pub retryable: bool,
    /// Per-field problems, when one input is at fault.
    pub field_errors: Vec<FieldError>,
    /// Sandbox keys only, on a failed signature or timestamp check: what the server signed.
    pub signature_debug: Option<SignatureDebug>,
    /// The `Retry-After` header, when the server sent one.
    pub retry_after: Option<Duration>,
    /// How many attempts the client made before giving up with this answer.
    pub attempts: u32,
}

/// One entry of `fieldErrors`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct FieldError {
    /// The field as you sent it (`network`, `assetId`, `Idempotency-Key`, …).
    pub field: String,
    /// A machine code.
    pub code: String,
    /// A human explanation.
    pub message: String,
}

/// `signatureDebug`: compare [`signed_string`](Self::signed_string) byte for byte with what you
/// signed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SignatureDebug {
    /// The canonical string (HMAC) or payload (Ed25519) the server built.
    pub signed_string: String,
    /// Server time minus `X-Timestamp`, in seconds; `None` when the header was not digits.
    pub clock_skew_seconds: Option<i64>,
}

#[derive(Deserialize)]
struct Envelope {
    error: EnvelopeBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnvelopeBody {
    #[serde(rename = "type")]
    kind: String,
    code: String,
    message: String,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    retryable: bool,
    #[serde(default)]
    field_errors: Option<Vec<FieldError>>,
    #[serde(default)]
    signature_debug: Option<SignatureDebug>,
}

impl ApiError {
    /// Reads an error answer. A body that is not the envelope (actix's bare `400`/`408`/`431`,
    /// a proxy's HTML page) still becomes an `ApiError`, with code `http_<status>` and the start
    /// of the body as its message.
    pub(crate) fn from_response(
        status: u16,
        request_id: Option<String>,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> ApiError {
        match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error: e }) => ApiError {
                status,
                kind: e.kind,
                code: e.code,
                message: e.message,
                request_id: e.request_id.or(request_id),
                retryable: e.retryable,
                field_errors: e.field_errors.unwrap_or_default(),
                signature_debug: e.signature_debug,
                retry_after,
                attempts: 1,
            },
            Err(_) => {
                let text = String::from_utf8_lossy(body);
                let message: String = text.chars().take(200).collect();
                ApiError {
                    status,
                    kind: if status >= 500 {
                        "api_error"
                    } else {
                        "invalid_request_error"
                    }
                    .to_owned(),
                    code: format!("http_{status}"),
                    message: if message.is_empty() {
                        format!("HTTP {status} without a body")
                    } else {
                        message
                    },
                    request_id,
                    retryable: matches!(status, 429 | 503),
                    field_errors: Vec::new(),
                    signature_debug: None,
                    retry_after,
                    attempts: 1,
                }
            }
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} ({}): {}",
            self.status, self.code, self.kind, self.message
        )?;
        for fe in &self.field_errors {
            if fe.message != self.message {
                write!(f, "; {}: {}", fe.field, fe.message)?;
            }
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request {id}]")?;
        }
        if self.attempts > 1 {
            write!(f, " after {} attempts", self.attempts)?;
        }
        if let Some(debug) = &self.signature_debug {
            write!(f, "; the server signed {:?}", debug.signed_string)?;
            if let Some(skew) = debug.clock_skew_seconds {
                write!(f, " (clock skew {skew} s)")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_is_read_and_displayed_usefully() {
        let body = br#"{"error":{"code":"unknown_field","fieldErrors":[{"code":"unknown_field","field":"netwrok","message":"unknown field `netwrok`"}],"message":"unknown field `netwrok`; check the field names","requestId":"req_01M7YYK8WANGVQVZ34VRSXGGPN","retryable":false,"status":422,"type":"invalid_request_error"}}"#;
        let e = ApiError::from_response(422, None, None, body);
        assert_eq!(e.code, "unknown_field");
        assert_eq!(e.kind, "invalid_request_error");
        assert_eq!(
            e.request_id.as_deref(),
            Some("req_01M7YYK8WANGVQVZ34VRSXGGPN")
        );
        assert_eq!(e.field_errors[0].field, "netwrok");
        assert!(!e.retryable);
        let shown = e.to_string();
        assert!(
            shown.starts_with("422 unknown_field (invalid_request_error)"),
            "{shown}"
        );
        assert!(shown.contains("netwrok"), "{shown}");
        assert!(shown.contains("req_01M7YYK8WANGVQVZ34VRSXGGPN"), "{shown}");
    }

    #[test]
    fn the_signature_debugger_is_shown() {
        let body = br#"{"error":{"code":"authentication_failed","message":"the request could not be authenticated","requestId":"req_1","retryable":false,"signatureDebug":{"clockSkewSeconds":0,"signedString":"1795261324\nGET\n/v1/vaults?limit=1\ne3b0"},"status":401,"type":"authentication_error"}}"#;
        let e = ApiError::from_response(401, None, None, body);
        let debug = e.signature_debug.clone().expect("debug");
        assert_eq!(debug.clock_skew_seconds, Some(0));
        assert!(e.to_string().contains("/v1/vaults?limit=1"));
    }

    #[test]
    fn a_bare_answer_still_becomes_an_api_error() {
        let e = ApiError::from_response(431, Some("req_x".into()), None, b"");
        assert_eq!(e.code, "http_431");
        assert_eq!(e.request_id.as_deref(), Some("req_x"));
        let e = ApiError::from_response(503, None, None, b"<html>bad gateway</html>");
        assert_eq!(e.kind, "api_error");
        assert!(e.retryable);
        assert!(e.message.contains("bad gateway"));
    }
}
