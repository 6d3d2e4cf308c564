//! What handlers share: the two service graphs and the state around them, built once at
//! start-up by [`crate::startup`].
//!
//! A [`ServiceGraph`] is every use case of one environment, wired over that environment's
//! store handles and its custody provider; handlers hold services only, never a store.
//! [`AppState`] holds two graphs; authentication picks one per request from the API key
//! ([`AppState::graph`]). The sandbox graph is built with the sandbox provider only: it holds
//! no handle to a live provider, which is the compliance boundary of ARCHITECTURE §4.

use std::sync::Arc;

use async_trait::async_trait;
use custody_core::environment::Environment;
use custody_core::ports::DynClock;
use custody_core::services::AuthService;
use ipnet::IpNet;

/// Every use case of one environment: composed by `custody-embed` ([`custody_embed::graph`]).
pub use custody_embed::ServiceGraph;

/// Is the store reachable? (`/readyz`)
#[async_trait]
pub trait Readiness: Send + Sync {
    /// A trivial round trip to the store.
    ///
    /// # Errors
    /// A description of what failed, for the operator.
    async fn check(&self) -> Result<(), String>;
}

/// Everything the handlers share, registered once as `web::Data`.
pub struct AppState {
    /// Authentication and the approval gate (keys and tenants are shared).
    pub auth: AuthService,
    /// The live graph (BitGo / Rhino through the router).
    pub live: Arc<ServiceGraph>,
    /// The sandbox graph (`custody-sandbox`, no network).
    pub sandbox: Arc<ServiceGraph>,
    /// Time, for idempotency expiry.
    pub clock: DynClock,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The store check behind `/readyz`.
    pub readiness: Arc<dyn Readiness>,
    /// The background workers' ticks behind `/readyz` ([`crate::readiness`]).
    pub liveness: crate::readiness::Liveness,
    /// This process, when it heartbeats (`custody serve`): idempotency reservations name it,
    /// so a retry takes them at once after the process dies. `None`: reservations are released
    /// by the lease only.
    pub instance: Option<custody_core::instance::InstanceId>,
}

impl AppState {
    /// The graph an authenticated key reaches: decided by the key's environment, nothing else.
    pub fn graph(&self, environment: Environment) -> &Arc<ServiceGraph> {
        match environment {
            Environment::Live => &self.live,
            Environment::Sandbox => &self.sandbox,
        }
    }
}
