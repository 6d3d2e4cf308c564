//! The webhook delivery port's adapters: the HTTP client (reqwest over rustls) and the event
//! renderer.
//!
//! [`ReqwestTransport`] sends each request to the one address core vetted
//! (`ClientBuilder::resolve`), so the name is not looked up again between the check and the
//! connection (DNS rebinding cannot reach inside); TLS still verifies the certificate for the
//! URL's host. Redirects are never followed and no proxy is used.
//!
//! [`JsonRenderer`] writes the event envelope: core's serialisation of the event, whose
//! snapshot was already rendered at commit by the graph's `SnapshotRenderer` (the Platform
//! wire form under `custody serve`; see the crate doc for the embedded default). It is the same
//! JSON as `custody_http::events::render_event`, so `GET /v1/events` and delivery bodies agree.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use async_trait::async_trait;
use custody_core::event::Event;
use custody_core::ports::{EventRenderer, WebhookRequest, WebhookResponse, WebhookTransport};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

/// The reqwest client of deliveries.
#[derive(Debug, Clone, Default)]
pub struct ReqwestTransport;

impl ReqwestTransport {
    /// A transport.
    pub const fn new() -> ReqwestTransport {
        ReqwestTransport
    }
}

fn millis(started: Instant) -> u32 {
    u32::try_from(started.elapsed().as_millis()).unwrap_or(u32::MAX)
}

fn failure(started: Instant, error: String) -> WebhookResponse {
    WebhookResponse {
        status: None,
        retry_after: None,
        error: Some(error),
        duration_ms: millis(started),
    }
}

/// `Retry-After` in delta-seconds (an HTTP date is ignored: the schedule applies).
fn retry_after(headers: &HeaderMap) -> Option<time::Duration> {
    let raw = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: i64 = raw.parse().ok()?;
    (secs >= 0).then(|| time::Duration::seconds(secs))
}

#[async_trait]
impl WebhookTransport for ReqwestTransport {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        let addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let mut ips: Vec<IpAddr> = addrs.map(|a: SocketAddr| a.ip()).collect();
        ips.dedup();
        Ok(ips)
    }

    async fn send(&self, request: WebhookRequest) -> WebhookResponse {
        let started = Instant::now();
        let timeout = std::time::Duration::from_millis(
            u64::try_from(request.timeout.whole_milliseconds()).unwrap_or(15_000),
        );
        let url = match reqwest::Url::parse(&request.url) {
            Ok(url) => url,
            Err(e) => return failure(started, format!("invalid URL: {e}")),
        };
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout);
        // A name is pinned to the vetted address; a literal address is that address.
        if let Some(host) = url.host_str() {
            if host.parse::<IpAddr>().is_err() && !host.starts_with('[') {
                builder = builder.resolve(host, request.addr);
            }
        }
        let client = match builder.build() {
            Ok(client) => client,
            Err(e) => return failure(started, format!("client: {e}")),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        match client
            .post(url)
            .headers(headers)
            .body(request.body)
            .send()
            .await
        {
            Ok(response) => WebhookResponse {
                status: Some(response.status().as_u16()),
                retry_after: retry_after(response.headers()),
                error: None,
                duration_ms: millis(started),
            },
            Err(e) if e.is_timeout() => failure(
                started,
                format!("no response within {} s", timeout.as_secs()),
            ),
            Err(e) if e.is_connect() => failure(started, format!("connection failed: {e}")),
            Err(e) => failure(started, format!("request failed: {e}")),
        }
    }
}

/// Renders the event envelope as JSON (see the module doc).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonRenderer;

impl EventRenderer for JsonRenderer {
    fn render(&self, event: &Event) -> Result<Vec<u8>, String> {
        // Through `Value` (keys in sorted order), exactly as `GET /v1/events` renders it.
        serde_json::to_value(event)
            .and_then(|envelope| serde_json::to_vec(&envelope))
            .map_err(|e| e.to_string())
    }
}
