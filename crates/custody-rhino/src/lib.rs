//! # custody-rhino: smart deposit addresses through Rhino.fi
//!
//! A reqwest client of Rhino.fi's REST API implementing
//! [`custody_core::ports::CustodyProvider`] for the deposit side: it mints smart deposit
//! addresses (SDAs) and verifies Rhino's deposit webhooks. It owns I/O only: Rhino's paths,
//! shapes and errors are mapped to domain types here; no custody rule is decided here.
//! Withdrawals go through BitGo, so [`CustodyProvider::submit_withdrawal`] and
//! [`CustodyProvider::withdrawal_status`] are refused with `Rejected`.
//!
//! ## Assets
//! USDT and USDC only (XAUT is not a Rhino token), on the networks Rhino runs SDAs on:
//! ethereum → `ETHEREUM`, solana → `SOLANA`, base → `BASE`, ink → `INK` ([`rhino_chain`]).
//! Sui is not a Rhino chain. Funds reaching an SDA are forwarded by Rhino to the configured
//! [`Destination`] (per tenant, or the default one).
//!
//! ## Authentication
//! The API key is exchanged for a JWT (`POST /authentication/auth/apiKey`, `{"apiKey": …}` →
//! `{"jwt": …}`; any status but 200 is a failure) which is sent **raw** in `Authorization`
//! (no `Bearer`). The JWT is cached, fetched by one caller at a time (concurrent callers wait
//! for that one exchange), and replaced 5 minutes before its `exp` claim by the injected
//! clock; a JWT whose `exp` cannot be read is treated as valid for Rhino's documented hour
//! from when it was fetched, minus those 5 minutes. A key starting with `ey` is an old
//! JWT-style key and is used as the JWT directly (Rhino's SDK does the same). When an
//! authenticated call answers 401, or 400 `InvalidJwt`, the cached JWT is dropped, the key is
//! exchanged again and the call is repeated once (not for an `ey` key, which cannot be
//! renewed: the call is then `Rejected`).
//!
//! ## Minting (`POST /sda/deposit-addresses`)
//! Body: `depositChains: [CHAIN]`, the destination's `destinationChain` /
//! `destinationAddress` / `tokenOut` (only when configured), `addressNote:
//! "<wallet id>:<address index>"` and `reusePolicy: "reuse-existing"`. Rhino reuses an SDA
//! when all of these match, so the note makes the call idempotent per (wallet, index): a retry
//! after an ambiguous failure gets the same SDA back, while two wallets on one chain (USDT and
//! USDC on ethereum) never share one. The answer is an array; the element for our chain is
//! taken and its `depositAddress` validated for the asset's network. The provider reference
//! is `"<CHAIN>:<depositAddress>"`. The note is at most 41 characters (Rhino allows 80).
//!
//! ## Deposits (webhooks)
//! 1. The `X-Rhino-Signature` header (hex) must be an RSA-SHA256 (PKCS#1 v1.5) signature, by
//!    Rhino's webhook key, of the lowercase hex text of sha256 over the raw body bytes.
//! 2. The envelope `{event: {_tag, …}, eventId, ts}` must be a deposit event:
//!    `BRIDGE_ACCEPTED` / `BRIDGE_EXECUTED` carrying a `depositAddress` (an SDA-driven
//!    bridge; the chain is `chainIn`), or `DEPOSIT_ADDRESS_BRIDGE_REJECTED` /
//!    `DEPOSIT_ADDRESS_BRIDGE_DELAYED` (the SDA is `depositAddress.{depositAddress,
//!    depositChain}`). The body only *identifies* the deposit: `event._id` and the SDA.
//! 3. The deposit is read back from `GET /sda/deposit-addresses/{addr}/{chain}/history` and
//!    everything credited (token, amount, hash, status) comes from that answer.
//!
//! Status: `accepted` whose bridge (`history.state`) is `EXECUTED` is `Completed`; an
//! `accepted` bridge in `FAILED`, `SWAP_FAILED_REFUNDED` or
//! `DEPOSIT_RECEIVED_AFTER_GRACE_PERIOD_REFUNDED` is `Failed`; any other `accepted` (`PENDING`,
//! `PENDING_CONFIRMATION`, `DEPOSIT_ACCEPTED`, `ACCEPTED`, an unknown state) is `Confirming`;
//! `rejected` and `failed` are `Failed`; any other item tag (`detected`, `confirming`) is
//! `Confirming`.
//!
//! ## Errors
//! | Rhino answer | [`ProviderError`] |
//! |---|---|
//! | 422 `DepositAddressNotFound`, any 404 | `NotFound` |
//! | 429 `DepositAddressRateLimitExceeded` with a `WindowLimitExceeded` limit | `RateLimited`, `durationMs` rounded up to seconds |
//! | 429 `DepositAddressRateLimitExceeded` with a `CountLimitExceeded` limit | `Rejected` (a total quota: waiting does not help) |
//! | 429 `TooManyRequests` (or any other 429) | `RateLimited`, `retryAfter` read as seconds |
//! | 403 `ExtensionNotEnabled` | `Rejected`, saying SDAs are not enabled for the project |
//! | 401, 400 `InvalidJwt` (after the one re-exchange) | `Rejected` |
//! | 401 / 400 / 403 from the key exchange | `Rejected("Rhino refused the API key …")` |
//! | any other 4xx | `Rejected("Rhino <_tag>: <message>")` |
//! | 503 `EndpointDisabledError`, any 5xx, timeout, connection failure, unreadable 2xx body | `Unavailable` |
//!
//! The API key and the JWT never appear in an error, a log line or `Debug` output: a Rhino
//! `message` quoting either is redacted before it is quoted (and then cut to 200 characters).
//!
//! ## Choices where Rhino's documentation is silent
//! - **Retries.** Reads (SDA status, SDA history, the webhook key) and SDA creation (made
//!   idempotent by `reuse-existing` and the deterministic note) are retried with the
//!   configured [`Backoff`] (full jitter from `getrandom`) on `Unavailable`, and on
//!   `RateLimited` when Rhino asked for no wait or for one no longer than the backoff's cap
//!   (that wait is then the floor of the delay). A longer wait is returned to the caller.
//!   The key exchange is not retried on its own: it is part of the call being retried.
//! - **Which body is hashed.** Rhino signs `JSON.stringify` of the parsed body; we hash the
//!   raw body bytes as received, which is the same text for Rhino's compact JSON.
//! - **The webhook key.** Pinned PEM in the configuration, else fetched from
//!   `GET /webhook/public-key` (with the JWT, as the SDK's authenticated client sends it) and
//!   kept in memory. When a signature fails against a fetched key, the key is fetched again
//!   once in case Rhino rotated it, but at most once per [`KEY_REFETCH_INTERVAL`] (so forged
//!   requests cannot make us hammer Rhino); a pinned key is never replaced. The key must be
//!   RSA of at least 2048 bits; an SPKI (`PUBLIC KEY`) PEM is expected, a PKCS#1
//!   (`RSA PUBLIC KEY`) PEM and a served string that is a PEM rather than base64 of one are
//!   accepted too. Failing to fetch the key is `Unavailable` (Rhino retries the webhook).
//! - **The history window.** `from` = now − 31 days (Rhino's maximum window), `to` = now, by
//!   the injected clock, as ISO-8601 UTC with milliseconds (`2024-05-01T12:00:00.000Z`, what
//!   the SDK sends). A deposit whose event arrives more than 31 days after Rhino recorded it
//!   cannot be verified (`Unverified`); Rhino's "missed events" endpoint is not used.
//! - **Matching the deposit.** The history item whose `_id` equals the event's `_id` is taken;
//!   for `BRIDGE_*` events an item whose bridge (`history._id`) has that id is accepted too, as
//!   the docs do not say whether the two ids are the same. The provider reference is always
//!   the item's own `_id`, so every event of one deposit names it alike. The SDA path segment
//!   is spelled as Rhino spelled it in the event, once it has been validated as an address of
//!   the chain's network.
//! - **Amounts.** Only `amountWei` (an integer string of base units; a JSON integer is read
//!   too) is credited. A missing or malformed `amountWei` is `Unverified`; the decimal
//!   `amount` is never used.
//! - **Asset.** From the item's `tokenSymbol` and the network of the deposit chain; it must be
//!   USDT or USDC in the catalogue, else `Unverified`.
//! - **`serves`** is asked at start-up without a tenant, so it refuses only when neither a
//!   default destination nor any tenant destination is configured; minting for a tenant with
//!   no destination (and no default) is then `Rejected`.
//! - **404** from any Rhino endpoint is `NotFound` (Rhino's own adapter does the same). While
//!   verifying a deposit, an SDA Rhino does not know (`NotFound`) is `Unverified`; other
//!   failures of the read-back (`Unavailable`, `RateLimited`, `Rejected`) are returned as they
//!   are, so the webhook can be retried later.
//! - **Redirects** are not followed (none are documented; the JWT is never sent elsewhere): a
//!   3xx is `Rejected`.
//! - **`retryAfter`** of `TooManyRequests` is read as seconds (the unit is not documented; it
//!   is only returned by quote commits, which this crate does not call).
//! - **The auth exchange** answering 429 is `RateLimited`, 5xx `Unavailable`, another non-200
//!   status (including a 2xx other than 200, as the SDK does) is `Rejected` or `Unavailable`.

mod errors;
mod jwt;
mod webhook;
mod wire;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use custody_core::amount::Amount;
use custody_core::asset::{AssetId, AssetSymbol, Network};
use custody_core::chain_address::ChainAddress;
use custody_core::id::{TenantId, TransactionId};
use custody_core::ports::{
    CustodyProvider, DepositNotice, DynClock, MintRequest, MintedAddress, ProviderError,
    ProviderTransfer, VerifiedDeposit, WithdrawalRequest,
};
use custody_core::retry::retrying;
pub use custody_core::retry::Backoff;
use custody_core::transaction::TransactionStatus;
use reqwest::header::{HeaderValue, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use rsa::RsaPublicKey;
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use time::OffsetDateTime;
use tokio::sync::Mutex;

use crate::errors::{map_error, transport, ErrorBody};
pub use crate::wire::{
    BridgeRecord, DepositAddress, DepositAddressHistory, DepositAddressStatus, HistoryItem,
    SupportedToken,
};

/// The provider name stored with what Rhino mints.
pub const NAME: &str = "rhino";

/// Rhino's maximum SDA history window, used when verifying a deposit.
pub const HISTORY_WINDOW: time::Duration = time::Duration::days(31);

/// A fetched webhook key that failed a signature is fetched again at most this often.
pub const KEY_REFETCH_INTERVAL: time::Duration = time::Duration::minutes(1);

/// The Rhino chain of a network for smart deposit addresses, or `None` when Rhino has no SDAs
/// there (sui).
pub const fn rhino_chain(network: Network) -> Option<&'static str> {
    match network {
        Network::Ethereum => Some("ETHEREUM"),
        Network::Solana => Some("SOLANA"),
        Network::Base => Some("BASE"),
        Network::Ink => Some("INK"),
        Network::Sui => None,
    }
}

/// The network of a Rhino chain name, for the chains [`rhino_chain`] maps.
pub fn rhino_network(chain: &str) -> Option<Network> {
    Network::ALL
        .into_iter()
        .find(|&n| rhino_chain(n) == Some(chain))
}

/// Where Rhino forwards what reaches an SDA.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Destination {
    /// A Rhino chain name (`ETHEREUM`, `BASE`, …).
    pub chain: String,
    /// The receiving address on that chain.
    pub address: String,
    /// Settle in this token (`USDC`, `USDT`), swapping if needed; omitted when `None`.
    #[serde(default)]
    pub token_out: Option<String>,
}

/// Connection settings. The API key is a secret: redacted in `Debug`, never logged.
#[derive(Debug, Clone)]
pub struct RhinoConfig {
    /// REST base (default [`RhinoConfig::DEFAULT_BASE_URL`]).
    pub base_url: String,
    /// A secret (`SECRET_…`) key: SDA history needs one.
    pub api_key: SecretString,
    /// The destination for every tenant without its own.
    pub destination: Option<Destination>,
    /// Per-tenant destinations, overriding the default.
    pub tenant_destinations: BTreeMap<TenantId, Destination>,
    /// A pinned webhook public key (SPKI PEM); fetched from Rhino when `None`.
    pub webhook_public_key_pem: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retry policy for reads and SDA creation.
    pub backoff: Backoff,
}

impl RhinoConfig {
    /// Rhino's only documented base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.rhino.fi";

    /// The default per-request timeout.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

    /// Defaults around a key: Rhino's base URL, no destination, fetched webhook key, 30 s
    /// timeout, the default backoff.
    pub fn new(api_key: SecretString) -> RhinoConfig {
        RhinoConfig {
            base_url: RhinoConfig::DEFAULT_BASE_URL.to_owned(),
            api_key,
            destination: None,
            tenant_destinations: BTreeMap::new(),
            webhook_public_key_pem: None,
            timeout: RhinoConfig::DEFAULT_TIMEOUT,
            backoff: Backoff::default(),
        }
    }
}

/// A JWT and when to replace it.
struct CachedJwt {
    token: SecretString,
    refresh_at: OffsetDateTime,
}

/// The webhook key fetched from Rhino.
struct FetchedKey {
    key: RsaPublicKey,
    fetched_at: OffsetDateTime,
}

/// The Rhino client and custody provider.
pub struct RhinoClient {
    http: reqwest::Client,
    base: Url,
    config: RhinoConfig,
    clock: DynClock,
    jwt: Mutex<Option<CachedJwt>>,
    pinned_key: Option<RsaPublicKey>,
    fetched_key: Mutex<Option<FetchedKey>>,
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
    fn url(&self, segments: &[&str]) -> Result<Url, ProviderError> {
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
    async fn authed<T: DeserializeOwned>(
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

    /// Runs `call` under the configured [`Backoff`] ([`custody_core::retry::retrying`]).
    async fn with_retries<T, F, Fut>(&self, what: &str, call: F) -> Result<T, ProviderError>
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

    /// `GET /webhook/public-key`: a JSON string holding base64 of the PEM.
    async fn fetch_webhook_key(&self) -> Result<RsaPublicKey, ProviderError> {
        let url = self.url(&["webhook", "public-key"])?;
        let served: String = self
            .with_retries("webhook key", || self.authed(Method::GET, &url, &[], None))
            .await?;
        tracing::info!("fetched Rhino's webhook public key");
        webhook::decode_served_key(&served).ok_or_else(|| {
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

    /// Step 1 of [`CustodyProvider::verify_deposit`].
    async fn check_signature(
        &self,
        payload: &[u8],
        header: Option<&str>,
    ) -> Result<(), ProviderError> {
        let signature = webhook::decode_signature(header)?;
        let bad = || ProviderError::Unverified("the X-Rhino-Signature does not verify".into());
        if let Some(pinned) = &self.pinned_key {
            return webhook::is_signed_by(pinned, payload, &signature)
                .then_some(())
                .ok_or_else(bad);
        }
        let (key, fresh) = self.webhook_key().await?;
        if webhook::is_signed_by(&key, payload, &signature) {
            return Ok(());
        }
        if fresh {
            return Err(bad());
        }
        match self.refetched_webhook_key(&key).await? {
            Some(newer) if webhook::is_signed_by(&newer, payload, &signature) => Ok(()),
            _ => Err(bad()),
        }
    }

    fn destination_for(&self, tenant: TenantId) -> Option<&Destination> {
        self.config
            .tenant_destinations
            .get(&tenant)
            .or(self.config.destination.as_ref())
    }
}

/// Whether Rhino carries the asset at all (token and chain), with the refusal if not.
fn rhino_asset(asset: AssetId) -> Result<&'static str, ProviderError> {
    let chain = rhino_chain(asset.network()).ok_or_else(|| {
        ProviderError::Rejected(format!(
            "Rhino does not run smart deposit addresses on {}",
            asset.network()
        ))
    })?;
    match asset.symbol() {
        AssetSymbol::Usdt | AssetSymbol::Usdc => Ok(chain),
        other => Err(ProviderError::Rejected(format!(
            "Rhino does not route {other}"
        ))),
    }
}

/// The SDA creation body (see the crate documentation).
fn create_body(chain: &str, destination: &Destination, note: &str) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    body.insert("depositChains".into(), serde_json::json!([chain]));
    body.insert("destinationChain".into(), destination.chain.clone().into());
    body.insert(
        "destinationAddress".into(),
        destination.address.clone().into(),
    );
    if let Some(token_out) = &destination.token_out {
        body.insert("tokenOut".into(), token_out.clone().into());
    }
    body.insert("addressNote".into(), note.into());
    body.insert("reusePolicy".into(), "reuse-existing".into());
    serde_json::Value::Object(body)
}

/// Our status for a history item (see the crate documentation).
fn deposit_status(item: &HistoryItem) -> TransactionStatus {
    match item.tag.as_str() {
        "accepted" => match item.history.as_ref().and_then(|h| h.state.as_deref()) {
            Some("EXECUTED") => TransactionStatus::Completed,
            Some(
                "FAILED" | "SWAP_FAILED_REFUNDED" | "DEPOSIT_RECEIVED_AFTER_GRACE_PERIOD_REFUNDED",
            ) => TransactionStatus::Failed,
            _ => TransactionStatus::Confirming,
        },
        "rejected" | "failed" => TransactionStatus::Failed,
        _ => TransactionStatus::Confirming,
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

#[async_trait]
impl CustodyProvider for RhinoClient {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serves(&self, asset: AssetId) -> Result<(), ProviderError> {
        rhino_asset(asset)?;
        if self.config.destination.is_none() && self.config.tenant_destinations.is_empty() {
            return Err(ProviderError::Rejected(
                "no Rhino destination is configured (where Rhino forwards deposits)".into(),
            ));
        }
        Ok(())
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        let chain = rhino_asset(request.asset)?;
        let destination = self.destination_for(request.tenant_id).ok_or_else(|| {
            ProviderError::Rejected(format!(
                "no Rhino destination is configured for tenant {}",
                request.tenant_id
            ))
        })?;
        let note = format!("{}:{}", request.wallet_id, request.index);
        let body = create_body(chain, destination, &note);
        let created = self.create_deposit_addresses(&body).await?;
        let sda = created
            .iter()
            .find(|a| a.deposit_chain == chain)
            .ok_or_else(|| {
                ProviderError::Rejected(format!(
                    "Rhino's answer holds no deposit address on {chain}"
                ))
            })?;
        let address =
            ChainAddress::parse(request.asset.network(), &sda.deposit_address).map_err(|e| {
                ProviderError::Rejected(format!(
                    "Rhino returned an invalid {chain} deposit address: {e}"
                ))
            })?;
        tracing::info!(chain, note = %note, address = %address, "minted a Rhino smart deposit address");
        Ok(MintedAddress {
            provider_ref: Some(format!("{chain}:{}", sda.deposit_address)),
            address,
            provider: NAME,
        })
    }

    async fn submit_withdrawal(
        &self,
        _request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(deposits_only())
    }

    async fn withdrawal_status(
        &self,
        _transaction_id: TransactionId,
        _asset: AssetId,
    ) -> Result<ProviderTransfer, ProviderError> {
        Err(deposits_only())
    }

    async fn verify_deposit(
        &self,
        notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        self.check_signature(&notice.payload, notice.signature.as_deref())
            .await?;
        let event = webhook::parse_event(&notice.payload)?;
        let network = rhino_network(&event.deposit_chain).ok_or_else(|| {
            ProviderError::Unverified(format!(
                "deposit on a chain this deployment does not serve: {}",
                event.deposit_chain.chars().take(32).collect::<String>()
            ))
        })?;
        let address = ChainAddress::parse(network, &event.deposit_address).map_err(|e| {
            ProviderError::Unverified(format!("the event's deposit address is invalid: {e}"))
        })?;
        let to = self.clock.now();
        let from = to.checked_sub(HISTORY_WINDOW).unwrap_or(to);
        let history = self
            .deposit_history(&event.deposit_address, &event.deposit_chain, from, to)
            .await
            .map_err(|e| match e {
                // Rhino does not know the SDA (for our key): it does not confirm the deposit.
                ProviderError::NotFound => ProviderError::Unverified(format!(
                    "Rhino does not know the deposit address {address}"
                )),
                other => other,
            })?;
        let by_bridge = event.tag.starts_with("BRIDGE_");
        let item = history
            .bridges
            .iter()
            .find(|item| item.id == event.bridge_id)
            .or_else(|| {
                history.bridges.iter().find(|item| {
                    by_bridge
                        && item.history.as_ref().and_then(|h| h.id.as_deref())
                            == Some(event.bridge_id.as_str())
                })
            })
            // Signed by Rhino, so it exists: the history has not caught up yet. Unavailable,
            // so the notification is delivered again rather than dropped for good.
            .ok_or_else(|| {
                ProviderError::Unavailable(format!(
                    "Rhino's history of {} has no deposit {} yet",
                    address, event.bridge_id
                ))
            })?;
        if item.id.is_empty() {
            return Err(ProviderError::Unverified(
                "Rhino's history item has no `_id`".into(),
            ));
        }
        let symbol = item
            .token_symbol
            .as_deref()
            .and_then(|s| AssetSymbol::parse(s).ok())
            .filter(|s| matches!(s, AssetSymbol::Usdt | AssetSymbol::Usdc))
            .ok_or_else(|| {
                ProviderError::Unverified(format!(
                    "deposit {} is of a token we do not take from Rhino",
                    item.id
                ))
            })?;
        let asset = AssetId::new(symbol, network).map_err(|e| {
            ProviderError::Unverified(format!("deposit {} is not in the catalogue: {e}", item.id))
        })?;
        let amount = item
            .amount_wei
            .as_deref()
            .and_then(|wei| Amount::parse_base_units(wei).ok())
            .ok_or_else(|| {
                ProviderError::Unverified(format!("deposit {} has no readable amountWei", item.id))
            })?;
        let status = deposit_status(item);
        tracing::info!(
            event = %event.tag,
            event_id = ?event.event_id,
            deposit = %item.id,
            asset = %asset,
            status = %status,
            "verified a Rhino deposit"
        );
        Ok(VerifiedDeposit {
            provider_ref: item.id.clone(),
            asset,
            amount,
            address,
            tx_hash: item.tx_hash.clone(),
            status,
            confirmations: None,
        })
    }
}

fn deposits_only() -> ProviderError {
    ProviderError::Rejected(
        "Rhino serves deposit addresses only; withdrawals go through BitGo".into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(tag: &str, state: Option<&str>) -> HistoryItem {
        serde_json::from_value(serde_json::json!({
            "_tag": tag, "_id": "b",
            "history": state.map(|s| serde_json::json!({"state": s})),
        }))
        .unwrap()
    }

    #[test]
    fn statuses_follow_the_bridge_state() {
        assert_eq!(
            deposit_status(&item("accepted", Some("EXECUTED"))),
            TransactionStatus::Completed
        );
        for state in [
            "PENDING",
            "PENDING_CONFIRMATION",
            "DEPOSIT_ACCEPTED",
            "ACCEPTED",
            "CANCELLED",
            "SOMETHING_NEW",
        ] {
            assert_eq!(
                deposit_status(&item("accepted", Some(state))),
                TransactionStatus::Confirming,
                "{state}"
            );
        }
        assert_eq!(
            deposit_status(&item("accepted", None)),
            TransactionStatus::Confirming
        );
        assert_eq!(
            deposit_status(&item("accepted", Some("SWAP_FAILED_REFUNDED"))),
            TransactionStatus::Failed
        );
        assert_eq!(
            deposit_status(&item("rejected", None)),
            TransactionStatus::Failed
        );
        assert_eq!(
            deposit_status(&item("failed", None)),
            TransactionStatus::Failed
        );
        assert_eq!(
            deposit_status(&item("detected", None)),
            TransactionStatus::Confirming
        );
    }

    #[test]
    fn chains_map_both_ways() {
        for network in Network::ALL {
            if let Some(chain) = rhino_chain(network) {
                assert_eq!(rhino_network(chain), Some(network));
            }
        }
        assert_eq!(rhino_chain(Network::Sui), None);
        assert_eq!(rhino_network("TRON"), None);
        assert_eq!(
            rhino_network("ethereum"),
            None,
            "Rhino chains are upper case"
        );
    }

    #[test]
    fn dates_are_written_like_javascript() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_714_564_800_123_456_789)
            .unwrap()
            .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap());
        assert_eq!(iso(at).unwrap(), "2024-05-01T12:00:00.123Z");
    }

    #[test]
    fn the_body_omits_token_out_unless_configured() {
        let mut destination = Destination {
            chain: "BASE".into(),
            address: "0xdest".into(),
            token_out: None,
        };
        let body = create_body("ETHEREUM", &destination, "acc_1:0");
        assert_eq!(
            body,
            serde_json::json!({"depositChains": ["ETHEREUM"], "destinationChain": "BASE",
                "destinationAddress": "0xdest", "addressNote": "acc_1:0",
                "reusePolicy": "reuse-existing"})
        );
        destination.token_out = Some("USDC".into());
        assert_eq!(
            create_body("ETHEREUM", &destination, "n")["tokenOut"],
            serde_json::json!("USDC")
        );
    }

    #[test]
    fn only_usdt_and_usdc_on_rhino_chains_are_served() {
        for asset in &custody_core::asset::CATALOGUE {
            let served = rhino_asset(asset.id).is_ok();
            let expected = asset.id.network() != Network::Sui
                && matches!(asset.id.symbol(), AssetSymbol::Usdt | AssetSymbol::Usdc);
            assert_eq!(served, expected, "{}", asset.id);
        }
    }
}
