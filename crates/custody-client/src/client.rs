//! The client: configuration, one request with its retries, raw access.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, Error};
use crate::retry::{self, RetryPolicy};
use crate::signing::Credentials;
use crate::{accounts, connect, platform};

/// A client of one custody deployment with one API key. Cheap to clone (an `Arc` inside);
/// share one per key.
///
/// The dialects are views on it: [`connect`](Self::connect), [`platform`](Self::platform),
/// [`accounts`](Self::accounts). Any key mode works with any dialect; the intended pairs are
/// bearer → Connect, hmac → Platform, ed25519 → Accounts.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: Url,
    credentials: Credentials,
    retry: RetryPolicy,
}

/// Builds a [`Client`].
#[derive(Debug)]
pub struct ClientBuilder {
    base_url: String,
    credentials: Credentials,
    retry: RetryPolicy,
    timeout: Duration,
    connect_timeout: Duration,
    http: Option<reqwest::Client>,
}

impl ClientBuilder {
    /// The retry policy (default: [`RetryPolicy::default`], 3 retries).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The timeout of one attempt, connection to the end of the body (default 30 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connect timeout of one attempt (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Use this reqwest client (proxies, custom roots) instead of building one; the timeouts
    /// above are then the given client's own.
    #[must_use]
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// The client.
    ///
    /// # Errors
    /// [`Error::Config`] for a base URL that is not an absolute `http(s)` URL without query.
    pub fn build(self) -> Result<Client, Error> {
        let mut base = Url::parse(&self.base_url)
            .map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.query().is_some() {
            return Err(Error::Config(format!(
                "base URL {:?}: expected http(s)://host[:port][/prefix]",
                self.base_url
            )));
        }
        // Paths are appended to the base's own path (a deployment behind a prefix works).
        let trimmed = base.path().trim_end_matches('/').to_owned();
        base.set_path(&trimmed);
        let http = match self.http {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.connect_timeout)
                // A redirect would re-send a signed request somewhere else: never follow.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::Config(format!("HTTP client: {e}")))?,
        };
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                credentials: self.credentials,
                retry: self.retry,
            }),
        })
    }
}

/// One answer, as [`Client::send`] returns it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RawResponse {
    /// The HTTP status (2xx).
    pub status: u16,
    /// `X-Request-Id`.
    pub request_id: Option<String>,
    /// `Idempotency-Replayed: true`: the stored answer of an earlier attempt with this key.
    pub replayed: bool,
    /// The `Idempotency-Key` sent, if any.
    pub idempotency_key: Option<String>,
    /// How many attempts it took.
    pub attempts: u32,
    /// The body as received.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The body decoded as JSON.
    ///
    /// # Errors
    /// [`Error::Decode`] when it is not `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            status: self.status,
            request_id: self.request_id.clone(),
            message: e.to_string(),
        })
    }
}

/// What to send: built by the dialect methods, or by a caller of [`Client::send`].
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    path_and_query: String,
    body: Option<Vec<u8>>,
    idempotency_key: Option<String>,
}

impl Request {
    /// A request without body; `path_and_query` starts with `/` (`/v1/vaults?limit=2`).
    pub fn new(method: Method, path_and_query: impl Into<String>) -> Request {
        let method_is_mutation = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
        Request {
            method,
            path_and_query: path_and_query.into(),
            body: None,
            // Every mutation carries a key, generated here once for the logical request and
            // reused by every retry of it.
            idempotency_key: method_is_mutation.then(retry::new_idempotency_key),
        }
    }

    /// With a JSON body (serialised once: every attempt sends and signs the same bytes).
    ///
    /// # Errors
    /// [`Error::Config`] when `body` does not serialise.
    pub fn json<B: Serialize + ?Sized>(mut self, body: &B) -> Result<Request, Error> {
        self.body = Some(
            serde_json::to_vec(body).map_err(|e| Error::Config(format!("request body: {e}")))?,
        );
        Ok(self)
    }

    /// With your own `Idempotency-Key` (e.g. derived from your own operation id, so that a
    /// retry after *your* process restarted is still recognised). Ignored on reads.
    #[must_use]
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Request {
        if self.idempotency_key.is_some() {
            self.idempotency_key = Some(key.into());
        }
        self
    }

    /// The key this request will send (every attempt), if it is a mutation.
    pub fn idempotency_key_value(&self) -> Option<&str> {
        self.idempotency_key.as_deref()
    }
}

impl Client {
    /// Starts a client of the deployment at `base_url` (`https://custody.example.com`, or
    /// `http://127.0.0.1:8080` locally) with `credentials`.
    pub fn builder(base_url: impl Into<String>, credentials: Credentials) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            credentials,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            http: None,
        }
    }

    /// A client with the defaults.
    ///
    /// # Errors
    /// As [`ClientBuilder::build`].
    pub fn new(base_url: impl Into<String>, credentials: Credentials) -> Result<Client, Error> {
        Client::builder(base_url, credentials).build()
    }

    /// The Connect dialect (`/connect/v1/…`).
    pub fn connect(&self) -> connect::Connect<'_> {
        connect::Connect::new(self)
    }

    /// The Platform dialect (`/v1/…`: vaults, wallets, transfers, withdrawals, the address
    /// book, the event log, webhooks, the sandbox).
    pub fn platform(&self) -> platform::Platform<'_> {
        platform::Platform::new(self)
    }

    /// The Accounts dialect (`/v1/accounts/…`).
    pub fn accounts(&self) -> accounts::Accounts<'_> {
        accounts::Accounts::new(self)
    }

    /// Sends `request`, signing every attempt afresh and retrying per the policy; answers the
    /// 2xx response, or the last error.
    ///
    /// # Errors
    /// [`Error::Api`] for an error answer (after retries when retryable),
    /// [`Error::Transport`] when no answer came.
    pub async fn send(&self, request: Request) -> Result<RawResponse, Error> {
        let inner = &self.inner;
        let url = self.url(&request.path_and_query)?;
        // What the server sees as the request target, and so what is signed.
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let body: &[u8] = request.body.as_deref().unwrap_or_default();
        let mut attempt: u32 = 0;
        // Re-signings after `signature_replayed` (below), outside the retry budget.
        let mut resigned: u32 = 0;
        loop {
            attempt += 1;
            let now = crate::now();
            let mut headers = HeaderMap::new();
            for (name, value) in inner.credentials.headers(
                request.method.as_str(),
                &target,
                body,
                now.unix_timestamp(),
            ) {
                headers.insert(name, header_value(&value)?);
            }
            headers.insert(
                USER_AGENT,
                HeaderValue::from_static(concat!("custody-client/", env!("CARGO_PKG_VERSION"))),
            );
            if let Some(key) = &request.idempotency_key {
                headers.insert("idempotency-key", header_value(key)?);
            }
            let mut builder = inner
                .http
                .request(request.method.clone(), url.clone())
                .headers(headers);
            if let Some(bytes) = &request.body {
                builder = builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(bytes.clone());
            }
            // Retries so far (re-signings excluded) and whether the budget allows another.
            let retry_index = attempt - resigned - 1;
            let retries_left = retry_index < inner.retry.max_retries;
            let outcome = match builder.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let request_id = text_header(response.headers(), "x-request-id");
                    let replayed = text_header(response.headers(), "idempotency-replayed")
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                    let retry_after = text_header(response.headers(), RETRY_AFTER.as_str())
                        .and_then(|v| retry::parse_retry_after(&v, crate::now()));
                    match response.bytes().await {
                        Ok(bytes) if (200..300).contains(&status) => {
                            return Ok(RawResponse {
                                status,
                                request_id,
                                replayed,
                                idempotency_key: request.idempotency_key.clone(),
                                attempts: attempt,
                                body: bytes.to_vec(),
                            });
                        }
                        Ok(bytes) => {
                            let mut error =
                                ApiError::from_response(status, request_id, retry_after, &bytes);
                            error.attempts = attempt;
                            // Two identical signed requests in one second carry the same
                            // signature (the Idempotency-Key is not signed), and the server
                            // refuses the second before doing anything (docs/platform.md, "Each
                            // signature is single-use"): sign again in the next second. Safe:
                            // nothing ran, and the request keeps its own key.
                            if error.code == "signature_replayed"
                                && resigned < MAX_RESIGNS
                                && !inner.credentials.is_bearer()
                            {
                                resigned += 1;
                                tokio::time::sleep(until_next_second(crate::now())).await;
                                continue;
                            }
                            if !(retries_left && retry::is_retryable(&error)) {
                                return Err(error.into());
                            }
                            inner.retry.delay(retry_index, error.retry_after)
                        }
                        Err(source) => {
                            if !(retries_left && retry::is_retryable_transport(&source)) {
                                return Err(Error::Transport {
                                    attempts: attempt,
                                    source,
                                });
                            }
                            inner.retry.delay(retry_index, None)
                        }
                    }
                }
                Err(source) => {
                    if !(retries_left && retry::is_retryable_transport(&source)) {
                        return Err(Error::Transport {
                            attempts: attempt,
                            source,
                        });
                    }
                    inner.retry.delay(retry_index, None)
                }
            };
            tokio::time::sleep(outcome).await;
        }
    }

    /// Sends and decodes the JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(&self, request: Request) -> Result<T, Error> {
        self.send(request).await?.json()
    }

    fn url(&self, path_and_query: &str) -> Result<Url, Error> {
        if !path_and_query.starts_with('/') {
            return Err(Error::Config(format!(
                "path {path_and_query:?} must start with `/`"
            )));
        }
        let base = self.inner.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path_and_query}"))
            .map_err(|e| Error::Config(format!("URL for {path_and_query:?}: {e}")))
    }
}

/// How many times one request is signed again after `signature_replayed`.
const MAX_RESIGNS: u32 = 2;

/// The wait until the next whole Unix second (and a little more), when a new timestamp signs.
fn until_next_second(now: time::OffsetDateTime) -> Duration {
    let into_second = u64::from(now.millisecond());
    Duration::from_millis(1000 - into_second.min(999) + 20)
}

fn header_value(value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value)
        .map_err(|_| Error::Config(format!("{value:?} cannot be sent as a header value")))
}

fn text_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `path?query` from the non-empty pairs, form-encoded (what is sent is what is signed).
pub(crate) fn with_query(path: &str, pairs: &[(&str, Option<String>)]) -> String {
    let present: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (*k, v)))
        .collect();
    if present.is_empty() {
        return path.to_owned();
    }
    // Serialising string pairs cannot fail.
    let query = serde_urlencoded::to_string(&present).unwrap_or_default();
    format!("{path}?{query}")
}

/// A path segment from an id the caller gave: ids are ASCII (`vlt_…`); anything that is not a
/// plain segment character is percent-encoded so it cannot change the path.
pub(crate) fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_keep_only_given_parameters() {
        assert_eq!(with_query("/v1/vaults", &[("limit", None)]), "/v1/vaults");
        assert_eq!(
            with_query(
                "/v1/vaults",
                &[
                    ("limit", Some("2".into())),
                    ("externalId", Some("cust 42&x".into()))
                ]
            ),
            "/v1/vaults?limit=2&externalId=cust+42%26x"
        );
        assert_eq!(segment("vlt_01ABC"), "vlt_01ABC");
        assert_eq!(segment("../x y"), "..%2Fx%20y");
    }

    #[test]
    fn mutations_get_a_key_and_reads_do_not() {
        let post = Request::new(Method::POST, "/v1/vaults");
        assert!(post.idempotency_key_value().is_some());
        let get = Request::new(Method::GET, "/v1/vaults").idempotency_key("ignored");
        assert!(get.idempotency_key_value().is_none());
        let own = Request::new(Method::PATCH, "/v1/vaults/x").idempotency_key("mine");
        assert_eq!(own.idempotency_key_value(), Some("mine"));
    }

    #[test]
    fn base_urls_are_checked() {
        let c = Credentials::bearer("k");
        assert!(Client::new("ftp://x", c.clone()).is_err());
        assert!(Client::new("not a url", c.clone()).is_err());
        let client = Client::new("http://127.0.0.1:8080/prefix/", c).expect("client");
        assert_eq!(
            client.url("/v1/vaults?limit=2").expect("url").as_str(),
            "http://127.0.0.1:8080/prefix/v1/vaults?limit=2"
        );
    }
}
