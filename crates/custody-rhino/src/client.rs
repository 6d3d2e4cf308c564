//! The HTTP side: the client, the API key exchanged for a cached JWT, authenticated calls,
//! retries, and the SDA endpoints.

use std::future::Future;
use std::time::Duration;

use custody_core::ports::{DynClock, ProviderError};
use custody_core::retry::retrying;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use rsa::RsaPublicKey;
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::errors::{map_error, transport, ErrorBody};
use crate::webhook::{self, FetchedKey};
use crate::wire::{DepositAddress, DepositAddressHistory, DepositAddressStatus};
use crate::{jwt, RhinoConfig};

/// A JWT and when to replace it.
struct CachedJwt {
    token: SecretString,
    refresh_at: OffsetDateTime,
}

/// The Rhino client and custody provider.
pub struct RhinoClient {
    http: reqwest::Client,
    base: Url,
    pub(crate) config: RhinoConfig,
    pub(crate) clock: DynClock,
    jwt: Mutex<Option<CachedJwt>>,
    pub(crate) pinned_key: Option<RsaPublicKey>,
    pub(crate) fetched_key: Mutex<Option<FetchedKey>>,
}

impl std::fmt::Debug for RhinoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RhinoClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The answer of the key exchange. No `Debug`: it holds the JWT.
#[derive(Deserialize)]
struct JwtResponse {
    jwt: String,
}

impl RhinoClient {
    /// Builds the client.
    ///
    /// # Errors
    /// `Rejected` for a base URL that is not an http(s) URL, a destination with an empty chain
    /// or address, or a pinned webhook key that is not an RSA (≥ 2048 bits) PEM public key;
    /// `Unavailable` when the HTTP client cannot be built (TLS roots).
    pub fn new(config: RhinoConfig, clock: DynClock) -> Result<RhinoClient, ProviderError> {
        let base = Url::parse(&config.base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| {
                ProviderError::Rejected(format!(
                    "the Rhino base URL `{}` is not an http(s) URL",
                    config.base_url
                ))
            })?;
        for destination in config
            .destination
            .iter()
            .chain(config.tenant_destinations.values())
        {
            if destination.chain.trim().is_empty() || destination.address.trim().is_empty() {
                return Err(ProviderError::Rejected(
                    "a Rhino destination needs a chain and an address".into(),
                ));
            }
        }
        let pinned_key = match &config.webhook_public_key_pem {
            Some(pem) => Some(webhook::parse_public_key(pem).ok_or_else(|| {
                ProviderError::Rejected(
                    "the pinned Rhino webhook key is not an RSA (2048 bits or more) PEM public key"
                        .into(),
                )
            })?),
            None => None,
        };
        let http = reqwest::Client::builder()
            // Rhino documents no redirects; a 3xx is reported, never followed with the JWT.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| ProviderError::Unavailable(format!("Rhino client: {e}")))?;
        Ok(RhinoClient {
            http,
            base,
            config,
            clock,
            jwt: Mutex::new(None),
            pinned_key,
            fetched_key: Mutex::new(None),
        })
    }

    /// `base` + path segments, each percent-encoded as one segment. Empty, `.` and `..`
    /// segments (which a URL would drop or resolve) are refused.
    pub(crate) fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
        if let Some(bad) = segments
            .iter()
            .find(|s| s.is_empty() || **s == "." || **s == "..")
        {
            return Err(ProviderError::Rejected(format!(
                "`{bad}` cannot be part of a Rhino path"
            )));
        }
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ProviderError::Rejected("the Rhino base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn key_is_jwt(&self) -> bool {
        self.config.api_key.expose_secret().starts_with("ey")
    }

    /// The JWT to send: the cached one while fresh, else one new exchange (callers arriving
    /// meanwhile wait for it rather than exchanging again).
    async fn jwt(&self) -> Result<SecretString, ProviderError> {
        if self.key_is_jwt() {
            return Ok(self.config.api_key.clone());
        }
        let mut cached = self.jwt.lock().await;
        if let Some(jwt) = cached.as_ref() {
            if self.clock.now() < jwt.refresh_at {
                return Ok(jwt.token.clone());
            }
        }
        let token = self.exchange_key().await?;
        let fetched_at = self.clock.now();
        let refresh_at = jwt::refresh_at(token.expose_secret(), fetched_at);
        if refresh_at <= fetched_at {
            tracing::warn!("Rhino issued a JWT that is already due for refresh");
        }
        *cached = Some(CachedJwt {
            token: token.clone(),
            refresh_at,
        });
        Ok(token)
    }

    /// Forgets `rejected` if it is still the cached JWT (not one a concurrent caller already
    /// replaced).
    async fn drop_jwt(&self, rejected: &SecretString) {
        let mut cached = self.jwt.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == rejected.expose_secret())
        {
            *cached = None;
        }
    }

    /// `POST /authentication/auth/apiKey`.
    async fn exchange_key(&self) -> Result<SecretString, ProviderError> {
        let url = self.url(&["authentication", "auth", "apiKey"])?;
        let response = self
            .http
            .post(url)
            .json(&serde_json::json!({ "apiKey": self.config.api_key.expose_secret() }))
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = response.status();
        let retry_after = retry_after_header(&response);
        let bytes = response.bytes().await.map_err(|e| transport(&e))?;
        if status == StatusCode::OK {
            // The body holds the JWT: the parse error is not quoted.
            let body: JwtResponse = serde_json::from_slice(&bytes).map_err(|_| {
                ProviderError::Unavailable("Rhino answered an unreadable auth body".into())
            })?;
            if body.jwt.trim().is_empty() {
                return Err(ProviderError::Unavailable(
                    "Rhino answered an empty JWT".into(),
                ));
            }
            tracing::debug!("exchanged the Rhino API key for a JWT");
            return Ok(SecretString::from(body.jwt));
        }
        let body = ErrorBody::parse(&bytes);
        let label = body.label(status);
        tracing::warn!(status = status.as_u16(), tag = %label, "Rhino refused the API key exchange");
        Err(match status.as_u16() {
            400 | 401 | 403 => {
                ProviderError::Rejected(format!("Rhino refused the API key ({label})"))
            }
            429 => map_error(status, &body, retry_after),
            s if s >= 500 => ProviderError::Unavailable(format!("Rhino auth {label}")),
            s if (200..300).contains(&s) => {
                ProviderError::Unavailable(format!("Rhino auth answered HTTP {s} instead of 200"))
            }
            _ => ProviderError::Rejected(format!("Rhino refused the API key ({label})")),
        })
    }

    /// One authenticated call: JWT in `Authorization` (raw), JSON body if any, JSON answer.
    /// A 401 / 400 `InvalidJwt` drops the JWT and repeats the call once with a fresh one.
    pub(crate) async fn authed<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, ProviderError> {
        let mut reauthenticated = false;
        loop {
            let jwt = self.jwt().await?;
            let mut header = HeaderValue::from_str(jwt.expose_secret()).map_err(|_| {
                ProviderError::Rejected("Rhino's JWT is not a valid header value".into())
            })?;
            header.set_sensitive(true);
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, header);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.map_err(|e| transport(&e))?;
            let status = response.status();
            let retry_after = retry_after_header(&response);
            let bytes = response.bytes().await.map_err(|e| transport(&e))?;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|e| {
                    tracing::warn!(path = url.path(), error = %e, "Rhino answered an unreadable body");
                    ProviderError::Unavailable(format!(
                        "Rhino answered an unreadable body for {}",
                        url.path()
                    ))
                });
            }
            let mut error = ErrorBody::parse(&bytes);
            // An error quoting Rhino's message never carries our key or JWT.
            error.redact(&[self.config.api_key.expose_secret(), jwt.expose_secret()]);
            if error.is_auth_failure(status) && !reauthenticated && !self.key_is_jwt() {
                tracing::info!(
                    status = status.as_u16(),
                    "Rhino refused the JWT; exchanging the key again"
                );
                self.drop_jwt(&jwt).await;
                reauthenticated = true;
                continue;
            }
            tracing::warn!(
                status = status.as_u16(),
                tag = %error.label(status),
                path = url.path(),
                "Rhino refused a request"
            );
            return Err(map_error(status, &error, retry_after));
        }
    }

    /// Runs `call` under the configured [`Backoff`](crate::Backoff) ([`custody_core::retry::retrying`]).
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        what: &str,
        call: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        retrying(
            self.config.backoff,
            entropy,
            |delay| {
                tracing::debug!(what, ?delay, "retrying a Rhino call");
                tokio::time::sleep(delay)
            },
            call,
        )
        .await
    }

    /// Creates (or, with `reuse-existing`, finds) an SDA: `POST /sda/deposit-addresses` with
    /// `body` as given. Retried per the crate documentation (the call is idempotent).
    ///
    /// # Errors
    /// As the crate documentation's error table.
    pub async fn create_deposit_addresses(
        &self,
        body: &serde_json::Value,
    ) -> Result<Vec<DepositAddress>, ProviderError> {
        let url = self.url(&["sda", "deposit-addresses"])?;
        self.with_retries("create SDA", || {
            self.authed(Method::POST, &url, &[], Some(body))
        })
        .await
    }

    /// `GET /sda/deposit-addresses/{depositAddress}/{depositChain}`, retried.
    ///
    /// # Errors
    /// `NotFound` for an address Rhino does not know (422 `DepositAddressNotFound`), else as
    /// the crate documentation's error table.
    pub async fn deposit_address_status(
        &self,
        address: &str,
        chain: &str,
    ) -> Result<DepositAddressStatus, ProviderError> {
        let url = self.url(&["sda", "deposit-addresses", address, chain])?;
        self.with_retries("SDA status", || self.authed(Method::GET, &url, &[], None))
            .await
    }

    /// `GET /sda/deposit-addresses/{depositAddress}/{depositChain}/history?from=…&to=…`
    /// (ISO-8601 UTC with milliseconds), retried. Needs a secret key; Rhino refuses windows
    /// over 31 days (422 `InvalidDateRange`).
    ///
    /// # Errors
    /// As the crate documentation's error table; `Rejected` for dates that cannot be written.
    pub async fn deposit_history(
        &self,
        address: &str,
        chain: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<DepositAddressHistory, ProviderError> {
        let url = self.url(&["sda", "deposit-addresses", address, chain, "history"])?;
        let query = [("from", iso(from)?), ("to", iso(to)?)];
        self.with_retries("SDA history", || {
            self.authed(Method::GET, &url, &query, None)
        })
        .await
    }
}

/// ISO-8601 UTC with milliseconds, as JavaScript's `toISOString`.
fn iso(at: OffsetDateTime) -> Result<String, ProviderError> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .map_err(|_| ProviderError::Rejected(format!("cannot write {at} for Rhino")))
}

fn retry_after_header(response: &reqwest::Response) -> Option<u32> {
    response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
}

/// Jitter entropy; a failing OS source only removes the jitter.
fn entropy() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::getrandom(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_like_javascript() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_714_564_800_123_456_789)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(iso(at).unwrap(), "2024-05-01T12:00:00.123Z");
    }
}
