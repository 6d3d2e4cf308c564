//! HTTP to BitGo: bearer auth, BitGo's rate limits kept on our side, bounded retries with
//! jitter for safe calls only, and one mapping of BitGo's answers to [`ProviderError`].

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use custody_core::ports::ProviderError;
use custody_core::retry::{retrying, Backoff};
use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::wire::ErrorBody;

/// One of BitGo's published limits: at most `max` requests per `per` (providers.md A4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed in the window.
    pub max: u32,
    /// The window.
    pub per: Duration,
}

/// The limits this client keeps to, so a burst on our side is answered `RateLimited` at once
/// instead of earning 429s (and a suspended token) at BitGo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Every authenticated request: 360 per 60 s.
    pub requests: Limit,
    /// ETH address creation: 500 per hour.
    pub eth_addresses: Limit,
}

impl Default for RateLimits {
    fn default() -> RateLimits {
        RateLimits {
            requests: Limit {
                max: 360,
                per: Duration::from_secs(60),
            },
            eth_addresses: Limit {
                max: 500,
                per: Duration::from_secs(3600),
            },
        }
    }
}

/// A sliding-window log: admits a request when fewer than `max` were admitted in the last
/// `per`, otherwise says how long until one slot frees.
#[derive(Debug)]
pub(crate) struct Window {
    limit: Limit,
    admitted: Mutex<VecDeque<Instant>>,
}

impl Window {
    pub(crate) fn new(limit: Limit) -> Window {
        Window {
            limit,
            admitted: Mutex::new(VecDeque::new()),
        }
    }

    pub(crate) fn admit(&self) -> Result<(), ProviderError> {
        let now = Instant::now();
        let mut log = self
            .admitted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while log
            .front()
            .is_some_and(|at| now.duration_since(*at) >= self.limit.per)
        {
            log.pop_front();
        }
        if log.len() < self.limit.max as usize {
            log.push_back(now);
            return Ok(());
        }
        let wait = log.front().map_or(self.limit.per, |oldest| {
            self.limit.per.saturating_sub(now.duration_since(*oldest))
        });
        Err(ProviderError::RateLimited {
            retry_after_secs: Some(ceil_secs(wait)),
        })
    }
}

fn ceil_secs(wait: Duration) -> u32 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
}

/// A successful answer: its status (200, 201 or 202) and body.
pub(crate) struct Answer<T> {
    pub status: StatusCode,
    pub body: T,
}

/// The authenticated HTTP side of the client.
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    token: SecretString,
    backoff: Backoff,
    requests: Window,
}

impl Transport {
    pub(crate) fn new(
        timeout: Duration,
        token: SecretString,
        backoff: Backoff,
        limits: RateLimits,
    ) -> Result<Transport, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(10).min(timeout))
            .build()
            .map_err(|e| ProviderError::Unavailable(format!("BitGo client: {e}")))?;
        Ok(Transport {
            http,
            token,
            backoff,
            requests: Window::new(limits.requests),
        })
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        self.http
            .request(method, url)
            .bearer_auth(self.token.expose_secret())
    }

    /// A read: safe to repeat, so retried under the backoff
    /// ([`custody_core::retry::retrying`]: on `Unavailable`, and on a 429 whose wait fits the
    /// cap), with full jitter between attempts.
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<T, ProviderError> {
        retrying(
            self.backoff,
            entropy,
            |delay| {
                tracing::debug!(?delay, "retrying a BitGo read");
                tokio::time::sleep(delay)
            },
            || async {
                self.requests.admit()?;
                let sent = self.request(Method::GET, url).query(query).send().await;
                read::<T>(sent).await.map(|answer| answer.body)
            },
        )
        .await
    }

    /// A write: sent once, never retried here (address creation has no idempotency key, and
    /// a repeated `sequenceId` is refused by BitGo; callers resolve doubt by reading back).
    /// `extra` is a further limit the call counts against (ETH address creation).
    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        url: &str,
        body: &serde_json::Value,
        extra: Option<&Window>,
    ) -> Result<Answer<T>, ProviderError> {
        if let Some(window) = extra {
            window.admit()?;
        }
        self.requests.admit()?;
        let sent = self.request(Method::POST, url).json(body).send().await;
        read(sent).await
    }
}

/// Randomness for jitter (not security-sensitive; the OS source is simply at hand).
fn entropy() -> u64 {
    let mut bytes = [0u8; 8];
    // Without OS randomness the jitter degrades to 0, which only loses the spreading.
    let _ = getrandom::getrandom(&mut bytes);
    u64::from_le_bytes(bytes)
}

/// Maps a response (or transport failure) to its body or a domain error.
pub(crate) async fn read<T: DeserializeOwned>(
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<Answer<T>, ProviderError> {
    let response = response.map_err(|e| {
        let what = if e.is_timeout() {
            "timed out"
        } else {
            "unreachable"
        };
        ProviderError::Unavailable(format!("BitGo {what}"))
    })?;
    let status = response.status();
    if status.is_success() {
        let bytes = response
            .bytes()
            .await
            .map_err(|_| ProviderError::Unavailable("BitGo's answer was cut off".into()))?;
        return serde_json::from_slice::<T>(&bytes)
            .map(|body| Answer { status, body })
            .map_err(|e| {
                ProviderError::Unavailable(format!("BitGo answered an unreadable body: {e}"))
            });
    }
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok());
    let bytes = response.bytes().await.unwrap_or_default();
    let body = error_body(&bytes);
    let name = body
        .name
        .clone()
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let detail = body.error.or(body.message).unwrap_or_default();
    tracing::warn!(
        status = status.as_u16(),
        name = %name,
        request_id = body.request_id.as_deref().unwrap_or("-"),
        "BitGo refused a request"
    );
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => ProviderError::RateLimited {
            retry_after_secs: retry_after,
        },
        StatusCode::NOT_FOUND => ProviderError::NotFound,
        s if s.is_server_error() => ProviderError::Unavailable(format!("BitGo {name}")),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            ProviderError::Rejected(format!("BitGo refused the access token ({name})"))
        }
        _ if detail.is_empty() => ProviderError::Rejected(format!("BitGo {name}")),
        _ => ProviderError::Rejected(format!("BitGo {name}: {detail}")),
    })
}

/// Reads an error body in any of BitGo's shapes: the platform's `{error, name, requestId}`,
/// Express's `{message, name, …}`, or Express's bare array of validation messages.
fn error_body(bytes: &[u8]) -> ErrorBody {
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        return body;
    }
    if let Ok(messages) = serde_json::from_slice::<Vec<String>>(bytes) {
        return ErrorBody {
            name: Some("ValidationError".into()),
            message: Some(messages.join("; ")),
            ..ErrorBody::default()
        };
    }
    ErrorBody::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_window_admits_its_limit_then_says_how_long_to_wait() {
        let window = Window::new(Limit {
            max: 2,
            per: Duration::from_secs(60),
        });
        assert!(window.admit().is_ok());
        assert!(window.admit().is_ok());
        match window.admit() {
            Err(ProviderError::RateLimited {
                retry_after_secs: Some(wait),
            }) => assert!((59..=60).contains(&wait), "{wait}"),
            other => panic!("expected RateLimited, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_frees_slots_as_time_passes() {
        let window = Window::new(Limit {
            max: 1,
            per: Duration::from_secs(10),
        });
        assert!(window.admit().is_ok());
        tokio::time::advance(Duration::from_secs(4)).await;
        assert!(matches!(
            window.admit(),
            Err(ProviderError::RateLimited {
                retry_after_secs: Some(6)
            })
        ));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(window.admit().is_ok());
    }

    #[test]
    fn every_error_shape_is_read() {
        let platform = error_body(
            br#"{"error":"invalid wallet id","name":"InvalidWalletId","requestId":"cjo7uw7si0buzttlmazmvthay","context":{"id":"x"}}"#,
        );
        assert_eq!(platform.name.as_deref(), Some("InvalidWalletId"));
        assert_eq!(platform.error.as_deref(), Some("invalid wallet id"));
        let express = error_body(
            br#"{"message":"insufficient balance","name":"Error","bitgoJsVersion":"1","bitgoExpressVersion":"2"}"#,
        );
        assert_eq!(express.message.as_deref(), Some("insufficient balance"));
        let array = error_body(br#"["Invalid value undefined supplied to : httpRequest/params"]"#);
        assert_eq!(array.name.as_deref(), Some("ValidationError"));
        assert!(array.message.is_some_and(|m| m.contains("httpRequest")));
        let garbage = error_body(b"<html>bad gateway</html>");
        assert!(garbage.name.is_none());
    }
}
