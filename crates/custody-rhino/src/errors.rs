//! Rhino's `_tag` error bodies, mapped to [`ProviderError`].

use custody_core::ports::ProviderError;
use reqwest::StatusCode;
use serde_json::Value;

/// The longest piece of a Rhino `message` quoted in an error (they are for logs, not essays).
const MAX_MESSAGE_CHARS: usize = 200;

/// The parts of an error body we look at. Read from a `serde_json::Value` field by field, so
/// any shape (HTML from a proxy, an empty body, a wrong type) reads as "no tag".
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ErrorBody {
    /// `_tag`: `DepositAddressNotFound`, `Unauthorized`, …
    pub tag: Option<String>,
    /// `message` (shortened only when quoted, after [`ErrorBody::redact`]).
    pub message: Option<String>,
    /// `limit._tag` of a `DepositAddressRateLimitExceeded`.
    pub limit_tag: Option<String>,
    /// `limit.durationMs` of a `WindowLimitExceeded`.
    pub limit_duration_ms: Option<f64>,
    /// `retryAfter` of a `TooManyRequests`.
    pub retry_after: Option<f64>,
}

impl ErrorBody {
    pub(crate) fn parse(bytes: &[u8]) -> ErrorBody {
        let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
            return ErrorBody::default();
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let limit = value.get("limit");
        ErrorBody {
            tag: text(value.get("_tag")).map(|t| shorten(&t, 64)),
            message: text(value.get("message")),
            limit_tag: text(limit.and_then(|l| l.get("_tag"))).map(|t| shorten(&t, 64)),
            limit_duration_ms: limit
                .and_then(|l| l.get("durationMs"))
                .and_then(Value::as_f64),
            retry_after: value.get("retryAfter").and_then(Value::as_f64),
        }
    }

    /// Replaces every occurrence of a secret in the message (before it is ever shortened, so
    /// no prefix of a secret can survive a cut).
    pub(crate) fn redact(&mut self, secrets: &[&str]) {
        if let Some(message) = self.message.as_mut() {
            for secret in secrets.iter().filter(|s| !s.is_empty()) {
                if message.contains(secret) {
                    *message = message.replace(secret, "[redacted]");
                }
            }
        }
    }

    /// The tag, or `HTTP <status>` when there is none.
    pub(crate) fn label(&self, status: StatusCode) -> String {
        self.tag
            .clone()
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()))
    }

    /// Whether this is Rhino refusing our JWT (worth one re-exchange).
    pub(crate) fn is_auth_failure(&self, status: StatusCode) -> bool {
        status == StatusCode::UNAUTHORIZED
            || (status == StatusCode::BAD_REQUEST && self.tag.as_deref() == Some("InvalidJwt"))
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max).collect();
        short.push('…');
        short
    }
}

/// Whole seconds (rounded up) from a non-negative count of `unit`-sized parts of a second,
/// or `None` when it is not a usable number.
fn ceil_secs(value: f64, per_second: f64) -> Option<u32> {
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    let secs = (value / per_second).ceil();
    // A wait is not money: a float is fine here, and the clamp keeps the cast exact.
    Some(if secs >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        secs as u32
    })
}

/// Maps a non-2xx answer to a domain error (see the crate documentation's table).
///
/// `retry_after_header` is a `Retry-After` header in seconds, if Rhino sent one (it is not
/// documented; honoured when present).
pub(crate) fn map_error(
    status: StatusCode,
    body: &ErrorBody,
    retry_after_header: Option<u32>,
) -> ProviderError {
    let tag = body.tag.as_deref();
    let label = body.label(status);
    let message = shorten(body.message.as_deref().unwrap_or(""), MAX_MESSAGE_CHARS);
    match (status.as_u16(), tag) {
        (422, Some("DepositAddressNotFound")) | (404, _) => ProviderError::NotFound,
        (429, Some("DepositAddressRateLimitExceeded")) => {
            match body.limit_tag.as_deref() {
                // A total quota: waiting does not help, so it is not retryable.
                Some("CountLimitExceeded") => ProviderError::Rejected(
                    "Rhino DepositAddressRateLimitExceeded: the project's total smart deposit \
                     address quota is used up (CountLimitExceeded); ask Rhino to raise it"
                        .into(),
                ),
                _ => ProviderError::RateLimited {
                    retry_after_secs: body
                        .limit_duration_ms
                        .and_then(|ms| ceil_secs(ms, 1000.0))
                        .or(retry_after_header),
                },
            }
        }
        (429, _) => ProviderError::RateLimited {
            retry_after_secs: body
                .retry_after
                .and_then(|s| ceil_secs(s, 1.0))
                .or(retry_after_header),
        },
        (403, Some("ExtensionNotEnabled")) => ProviderError::Rejected(format!(
            "Rhino ExtensionNotEnabled: smart deposit addresses are not enabled for this Rhino \
             project ({message})"
        )),
        (401, _) | (400, Some("InvalidJwt")) => {
            ProviderError::Rejected(format!("Rhino refused the JWT ({label})"))
        }
        (s, _) if s >= 500 => ProviderError::Unavailable(format!("Rhino {label}")),
        _ => ProviderError::Rejected(format!("Rhino {label}: {message}")),
    }
}

/// Maps a transport failure (no HTTP answer). The reqwest error is not quoted: it names the
/// URL, and only the kind of failure matters to a caller.
pub(crate) fn transport(error: &reqwest::Error) -> ProviderError {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "unreachable"
    } else {
        "failed to answer"
    };
    ProviderError::Unavailable(format!("Rhino {what}"))
}

#[cfg(test)]
mod tests;
