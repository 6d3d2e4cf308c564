use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use async_trait::async_trait;
use time::Duration;

use super::StoreError;
use crate::event::Event;
use crate::id::TenantId;
use crate::secret::Secret;
use crate::webhook::WebhookEndpoint;

/// Reads of the tenant's webhook endpoint (writes go through
/// [`WebhookTx`](super::WebhookTx)), scoped to the handle's environment.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WebhookEndpointStore: Send + Sync {
    /// The tenant's endpoint in this environment.
    ///
    /// # Errors
    /// `NotFound` when none is configured.
    async fn get(&self, tenant: TenantId) -> Result<WebhookEndpoint, StoreError>;
}

/// Shared handle.
pub type DynWebhookEndpointStore = Arc<dyn WebhookEndpointStore>;

/// Seals secrets at rest (AES-256-GCM under the master key in `custody-sql`), each bound to a
/// context (the owning row's id) so a sealed value moved to another row does not open.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait SecretSealer: Send + Sync {
    /// Seals `plaintext` for `context`.
    ///
    /// # Errors
    /// `Internal` (never in practice).
    fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Opens what [`SecretSealer::seal`] sealed for `context`.
    ///
    /// # Errors
    /// `Internal` when tampered, moved, or sealed under another key.
    fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Secret, StoreError>;
}

/// Shared handle.
pub type DynSecretSealer = Arc<dyn SecretSealer>;

/// One outbound request: sent to `addr` (already vetted), with `url`'s host as the TLS name
/// and `Host` header, never following redirects, given up after `timeout`.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub url: String,
    pub addr: SocketAddr,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

/// What came back.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookResponse {
    /// The HTTP status, when the receiver answered in time.
    pub status: Option<u16>,
    /// `Retry-After` in seconds (429/503), when sent.
    pub retry_after: Option<Duration>,
    /// Why no answer counted: timeout, refused connection, TLS failure.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: u32,
}

/// The HTTP client of webhook deliveries (reqwest in `custody-http`).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait WebhookTransport: Send + Sync {
    /// The addresses `host` resolves to now.
    ///
    /// # Errors
    /// A message when it does not resolve.
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String>;

    /// Sends one request; never fails: trouble is in the response's `error`.
    async fn send(&self, request: WebhookRequest) -> WebhookResponse;
}

/// Shared handle.
pub type DynWebhookTransport = Arc<dyn WebhookTransport>;

/// Renders an event as the bytes a delivery carries (the wire envelope).
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait EventRenderer: Send + Sync {
    /// The body.
    ///
    /// # Errors
    /// A message when the event cannot be rendered.
    fn render(&self, event: &Event) -> Result<Vec<u8>, String>;
}

/// Shared handle.
pub type DynEventRenderer = Arc<dyn EventRenderer>;
