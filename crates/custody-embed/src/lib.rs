//! # custody-embed: the custody services in your own Rust process
//!
//! One builder opens a store, wires both environments' services over it and hands them back;
//! no HTTP server is involved. `custody serve` (`custody-http`) is built on the same
//! composition ([`graph::service_graph`]), so an embedded service and the HTTP API apply the
//! same rules to the same database.
//!
//! ```
//! use custody_embed::Custody;
//! use custody_embed::core::environment::Environment;
//! use custody_embed::core::services::NewVault;
//! use custody_embed::core::text::VaultName;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let custody = Custody::builder()
//!     .store_url("sqlite::memory:")
//!     .master_key(custody_embed::MasterKey::from_bytes([7; 32]))
//!     .build()
//!     .await?;
//! let tenant = custody.admin().create_tenant("Acme").await?;
//! let caller = custody.caller(tenant.id, Environment::Sandbox);
//! let vault = custody
//!     .sandbox()
//!     .vaults
//!     .create(
//!         &caller,
//!         NewVault {
//!             external_ref: None,
//!             name: VaultName::parse("Alice")?,
//!             metadata: Default::default(),
//!         },
//!         None,
//!     )
//!     .await?;
//! assert_eq!(vault.tenant_id, tenant.id);
//! # Ok(())
//! # }
//! ```
//!
//! What the builder needs and what it defaults (docs/embedding.md has the whole story):
//! - a store: [`CustodyBuilder::store_url`] (`sqlite:` or `postgres://`, migrated on build),
//!   or an opened [`Store`]; and the [`MasterKey`] that seals secrets at rest;
//! - the sandbox provider (the simulated chain, always wired into the sandbox graph and only
//!   there; [`CustodyBuilder::sandbox_chain`] sets its timing);
//! - a live provider, if the live environment is wanted ([`CustodyBuilder::live`]): without
//!   one there is no live graph at all;
//! - the clock, ids, live prices, the snapshot renderer and the webhook transport default to
//!   [`system::SystemClock`], [`system::OsIds`], no prices, core's domain serialisation
//!   ([`core::event::DomainSnapshots`]: see below) and [`webhook_transport::ReqwestTransport`].
//!
//! **Event payloads.** Events store a snapshot of the resource rendered when the change
//! commits. `custody serve` renders it in the Platform API's wire form
//! (`custody_http::events::renderer()`); that renderer lives in `custody-http` because it reuses
//! the HTTP response types. An embedded custody uses core's domain serialisation unless given
//! another renderer ([`CustodyBuilder::renderer`]). If the same database is also served to
//! partners by `custody serve`, or webhooks go to receivers that read docs/events.md, pass
//! `custody_http::events::renderer()` so every event has the documented shape.
//!
//! The workers (withdrawal dispatch, webhook delivery, housekeeping) run as tasks of the host's
//! tokio runtime: [`Custody::spawn_workers`] (see [`workers`]).

pub mod auth_cache;
pub mod graph;
pub mod idempotency_cache;
pub mod prices;
pub mod store;
pub mod system;
pub mod webhook_transport;
pub mod workers;

use std::sync::Arc;

use custody_core::api_key::ScopeSet;
use custody_core::caller::Caller;
use custody_core::environment::Environment;
use custody_core::event::DynSnapshotRenderer;
use custody_core::id::{ApiKeyId, TenantId};
use custody_core::ports::{
    DynClock, DynCustodyProvider, DynEventRenderer, DynIdGenerator, DynPriceFeed,
    DynWebhookTransport, SharedStores, StoreError,
};
use custody_core::services::{AdminService, DepositRefresh, TransactionWorker};

pub use auth_cache::AuthCacheSettings;
pub use custody_core as core;
pub use custody_sandbox::{ChainConfig, NetworkTiming, SandboxProvider};
pub use custody_sql::{DatabaseUrl, MasterKey};
pub use graph::{GraphParts, ServiceGraph};
pub use idempotency_cache::IdempotencyCacheSettings;
pub use store::{Store, StoreBackend};
pub use workers::{LivenessHook, Tick, WorkerOptions, Workers};

/// Why [`CustodyBuilder::build`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// Neither a store URL nor a store was given.
    #[error("no store: call store_url(…), sqlite(…), postgres(…) or store(…)")]
    NoStore,
    /// A store was named by URL without a master key.
    #[error("a master key is required to open a store (it seals secrets at rest)")]
    NoMasterKey,
    /// The store could not be opened or migrated.
    #[error("opening the store: {0}")]
    Store(#[from] StoreError),
}

enum StoreChoice {
    None,
    Url(DatabaseUrl),
    Opened(Store),
}

/// Composes a [`Custody`]; start with [`Custody::builder`].
pub struct CustodyBuilder {
    store: StoreChoice,
    master_key: Option<MasterKey>,
    sandbox: Option<SandboxProvider>,
    sandbox_chain: ChainConfig,
    live: Option<DynCustodyProvider>,
    live_prices: Option<DynPriceFeed>,
    clock: Option<DynClock>,
    ids: Option<DynIdGenerator>,
    snapshots: Option<DynSnapshotRenderer>,
    transport: Option<DynWebhookTransport>,
    event_renderer: Option<DynEventRenderer>,
    currencies: Vec<String>,
    max_addresses_per_wallet: u32,
    auth_cache: AuthCacheSettings,
    idempotency_cache: IdempotencyCacheSettings,
}

impl CustodyBuilder {
    /// The store a URL names: `sqlite://file.db`, `sqlite::memory:`, `postgres://…`
    /// ([`Store::open`]); opened and migrated by [`build`](CustodyBuilder::build).
    #[must_use]
    pub fn store_url(mut self, url: impl Into<String>) -> CustodyBuilder {
        self.store = StoreChoice::Url(DatabaseUrl::new(url));
        self
    }

    /// An SQLite store (`sqlite://path/to/file.db` or `sqlite::memory:`); the same as
    /// [`store_url`](CustodyBuilder::store_url).
    #[must_use]
    pub fn sqlite(self, url: impl Into<String>) -> CustodyBuilder {
        self.store_url(url)
    }

    /// A PostgreSQL store (`postgres://user:password@host/db`); the same as
    /// [`store_url`](CustodyBuilder::store_url).
    #[must_use]
    pub fn postgres(self, url: impl Into<String>) -> CustodyBuilder {
        self.store_url(url)
    }

    /// A store already opened (and migrated) by the host.
    #[must_use]
    pub fn store(mut self, store: Store) -> CustodyBuilder {
        self.store = StoreChoice::Opened(store);
        self
    }

    /// The key sealing signing and webhook secrets at rest. Keep it for the life of the
    /// database: secrets sealed under another key do not open.
    #[must_use]
    pub fn master_key(mut self, key: MasterKey) -> CustodyBuilder {
        self.master_key = Some(key);
        self
    }

    /// The simulated chain's timing (default: about 10 s from hand-over to completion).
    #[must_use]
    pub fn sandbox_chain(mut self, chain: ChainConfig) -> CustodyBuilder {
        self.sandbox_chain = chain;
        self
    }

    /// A sandbox provider built by the host (on its own clock); replaces
    /// [`sandbox_chain`](CustodyBuilder::sandbox_chain). Its type admits nothing but the
    /// simulated chain: the sandbox graph can never reach live custody.
    #[must_use]
    pub fn sandbox_provider(mut self, provider: SandboxProvider) -> CustodyBuilder {
        self.sandbox = Some(provider);
        self
    }

    /// Live custody: the live graph is built over this provider (BitGo, Rhino, a router of
    /// both, or your own [`CustodyProvider`](custody_core::ports::CustodyProvider)). Without
    /// it there is no live graph.
    #[must_use]
    pub fn live(mut self, provider: DynCustodyProvider) -> CustodyBuilder {
        self.live = Some(provider);
        self
    }

    /// Live spot prices for valued balance reports (default: none, so live totals leave out
    /// every currency rather than guess). The sandbox always uses the documented fixed table.
    #[must_use]
    pub fn live_prices(mut self, prices: DynPriceFeed) -> CustodyBuilder {
        self.live_prices = Some(prices);
        self
    }

    /// The clock (default [`system::SystemClock`]).
    #[must_use]
    pub fn clock(mut self, clock: DynClock) -> CustodyBuilder {
        self.clock = Some(clock);
        self
    }

    /// Ids and secrets (default [`system::OsIds`]).
    #[must_use]
    pub fn ids(mut self, ids: DynIdGenerator) -> CustodyBuilder {
        self.ids = Some(ids);
        self
    }

    /// The renderer of event snapshots (default: core's domain serialisation; see the crate
    /// doc on event payloads).
    #[must_use]
    pub fn renderer(mut self, renderer: DynSnapshotRenderer) -> CustodyBuilder {
        self.snapshots = Some(renderer);
        self
    }

    /// The HTTP client of webhook deliveries (default [`webhook_transport::ReqwestTransport`]).
    #[must_use]
    pub fn webhook_transport(mut self, transport: DynWebhookTransport) -> CustodyBuilder {
        self.transport = Some(transport);
        self
    }

    /// Fiat currencies of valued balance reports (default `usd`, `pen`).
    #[must_use]
    pub fn currencies(mut self, currencies: Vec<String>) -> CustodyBuilder {
        self.currencies = currencies;
        self
    }

    /// Deposit addresses one wallet may have, the primary included (default 1,000).
    #[must_use]
    pub fn max_addresses_per_wallet(mut self, cap: u32) -> CustodyBuilder {
        self.max_addresses_per_wallet = cap;
        self
    }

    /// Remember the keys authenticated requests find, with their tenants, for `settings.ttl`
    /// (default: off; `custody serve` turns it on from `[auth]`). Key and tenant writes
    /// through this composition ([`Custody::admin`]) evict at once; another process's are seen
    /// within the TTL. See [`auth_cache`].
    #[must_use]
    pub fn auth_cache(mut self, settings: AuthCacheSettings) -> CustodyBuilder {
        self.auth_cache = settings;
        self
    }

    /// Answer replays of completed idempotency keys from memory, up to `settings.max_bytes`
    /// of stored responses (default: off; `custody serve` turns it on from `[idempotency]`).
    /// A completed record is immutable until it expires, so this is exact. See
    /// [`idempotency_cache`].
    #[must_use]
    pub fn idempotency_cache(mut self, settings: IdempotencyCacheSettings) -> CustodyBuilder {
        self.idempotency_cache = settings;
        self
    }

    /// Opens (and migrates) the store if it was named by URL, then composes the services.
    ///
    /// # Errors
    /// [`BuildError`].
    pub async fn build(mut self) -> Result<Custody, BuildError> {
        let store = match std::mem::replace(&mut self.store, StoreChoice::None) {
            StoreChoice::None => return Err(BuildError::NoStore),
            StoreChoice::Opened(store) => store,
            StoreChoice::Url(url) => {
                let master = self.master_key.clone().ok_or(BuildError::NoMasterKey)?;
                Store::open(&url, master).await?
            }
        };
        Ok(self.compose(store))
    }

    /// Composes the services over an opened, migrated store (what
    /// [`build`](CustodyBuilder::build) does after opening it; synchronous).
    pub fn compose(self, store: Store) -> Custody {
        let clock = self.clock.unwrap_or_else(|| Arc::new(system::SystemClock));
        let ids = self.ids.unwrap_or_else(|| Arc::new(system::OsIds));
        let parts = GraphParts {
            clock: clock.clone(),
            ids,
            snapshots: self
                .snapshots
                .unwrap_or_else(|| Arc::new(custody_core::event::DomainSnapshots)),
            event_renderer: self
                .event_renderer
                .unwrap_or_else(|| Arc::new(webhook_transport::JsonRenderer)),
            transport: self
                .transport
                .unwrap_or_else(|| Arc::new(webhook_transport::ReqwestTransport::new())),
            currencies: self.currencies,
            max_addresses_per_wallet: self.max_addresses_per_wallet,
        };
        // The authentication cache decorates the key and tenant stores here, at the root, so
        // that every holder of them (authentication, the admin use cases, the graphs) shares
        // it and an in-process write evicts what authentication would read.
        let shared = auth_cache::cached(store.shared(), self.auth_cache);
        let sandbox_provider = self
            .sandbox
            .unwrap_or_else(|| SandboxProvider::new(self.sandbox_chain, clock.clone()));
        // The idempotency cache decorates each environment's idempotency records for the graphs
        // (the handlers' reservations); the workers' purge uses the store's own handle.
        let cache_settings = self.idempotency_cache;
        let environment = |env: Environment| {
            let mut stores = store.environment(env);
            stores.idempotency = idempotency_cache::cached(stores.idempotency, cache_settings);
            stores
        };
        // The compliance boundary: the sandbox graph gets the sandbox provider and nothing
        // else; the live provider is handed to the live graph only.
        let sandbox = Arc::new(graph::service_graph(
            environment(Environment::Sandbox),
            &shared,
            Arc::new(sandbox_provider.clone()),
            Arc::new(prices::StaticPrices::sandbox()),
            &parts,
        ));
        let live = self.live.map(|provider| {
            let prices = self
                .live_prices
                .unwrap_or_else(|| Arc::new(prices::StaticPrices::default()));
            let graph = graph::service_graph(
                environment(Environment::Live),
                &shared,
                provider.clone(),
                prices,
                &parts,
            );
            (Arc::new(graph), provider)
        });
        let admin = AdminService::new(
            shared.tenants.clone(),
            shared.api_keys.clone(),
            clock,
            parts.ids.clone(),
        );
        Custody {
            store,
            shared,
            admin,
            sandbox,
            sandbox_provider,
            live,
            parts,
        }
    }
}

/// The custody services of both environments over one store; see the crate doc.
#[derive(Clone)]
pub struct Custody {
    store: Store,
    shared: SharedStores,
    admin: AdminService,
    sandbox: Arc<ServiceGraph>,
    sandbox_provider: SandboxProvider,
    live: Option<(Arc<ServiceGraph>, DynCustodyProvider)>,
    parts: GraphParts,
}

impl Custody {
    /// A builder with the defaults of the crate doc.
    pub fn builder() -> CustodyBuilder {
        CustodyBuilder {
            store: StoreChoice::None,
            master_key: None,
            sandbox: None,
            sandbox_chain: ChainConfig::default(),
            live: None,
            live_prices: None,
            clock: None,
            ids: None,
            snapshots: None,
            transport: None,
            event_renderer: None,
            currencies: vec!["usd".into(), "pen".into()],
            max_addresses_per_wallet: 1_000,
            auth_cache: AuthCacheSettings::DISABLED,
            idempotency_cache: IdempotencyCacheSettings::DISABLED,
        }
    }

    /// The sandbox environment's services (the simulated chain; simulation included).
    pub fn sandbox(&self) -> &ServiceGraph {
        &self.sandbox
    }

    /// The live environment's services, when a live provider was given.
    pub fn live(&self) -> Option<&ServiceGraph> {
        self.live.as_ref().map(|(graph, _)| graph.as_ref())
    }

    /// The services of `environment`, if built.
    pub fn environment(&self, environment: Environment) -> Option<&ServiceGraph> {
        match environment {
            Environment::Sandbox => Some(self.sandbox()),
            Environment::Live => self.live(),
        }
    }

    /// The sandbox graph as a shared handle (what `custody-http` hands its handlers).
    pub fn sandbox_graph(&self) -> Arc<ServiceGraph> {
        self.sandbox.clone()
    }

    /// The live graph as a shared handle, when built.
    pub fn live_graph(&self) -> Option<Arc<ServiceGraph>> {
        self.live.as_ref().map(|(graph, _)| graph.clone())
    }

    /// Operator use cases: tenants (create, approve, suspend), enabled assets, API keys.
    pub fn admin(&self) -> &AdminService {
        &self.admin
    }

    /// The store (for `ping`, or to hand to another composition).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Store handles shared by both environments (tenants, keys, instances, the sealer).
    pub fn shared_stores(&self) -> &SharedStores {
        &self.shared
    }

    /// The sandbox provider (its chain's timing; hand-over counts in tests).
    pub fn sandbox_provider(&self) -> &SandboxProvider {
        &self.sandbox_provider
    }

    /// What the graphs were composed with (clock, ids, renderers, transport).
    pub fn parts(&self) -> &GraphParts {
        &self.parts
    }

    /// An in-process caller of `tenant` in `environment` holding every scope. Services check
    /// scopes and tenancy on every call; an embedding service that authenticates its own users
    /// builds narrower [`Caller`]s itself. Its key id is the nil ULID: no API key is involved.
    pub fn caller(&self, tenant: TenantId, environment: Environment) -> Caller {
        Caller {
            tenant_id: tenant,
            environment,
            key_id: ApiKeyId::from_ulid(ulid::Ulid::nil()),
            scopes: ScopeSet::all(),
        }
    }

    /// One environment's transaction worker, for a host that drives passes itself
    /// ([`TransactionWorker::run_once`]) instead of [`spawn_workers`](Custody::spawn_workers).
    /// `None` when that environment was not built.
    pub fn transaction_worker(
        &self,
        environment: Environment,
        options: &WorkerOptions,
    ) -> Option<TransactionWorker> {
        let graph = self.environment(environment)?;
        // Sandbox deposits confirm on the simulated chain's schedule: the worker polls them.
        // Live deposits advance by provider notifications.
        let deposits: Option<Arc<dyn DepositRefresh>> = (environment == Environment::Sandbox)
            .then(|| Arc::new(graph.deposits.clone()) as Arc<dyn DepositRefresh>);
        let owner = format!(
            "embed-{}-{}-{}",
            std::process::id(),
            self.parts.ids.ulid(),
            environment.as_str()
        );
        Some(TransactionWorker::new(
            self.store.environment(environment).uow,
            graph.withdrawals.clone(),
            deposits,
            self.parts.clock.clone(),
            options.transaction_settings(owner),
        ))
    }

    /// Starts the workers of every built environment as tasks of the current tokio runtime:
    /// the transaction worker (withdrawal dispatch and progress, sandbox deposit
    /// confirmations), webhook delivery (unless `options.webhooks` is off) and housekeeping.
    /// Stop them with [`Workers::stop`].
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn`).
    pub fn spawn_workers(&self, options: WorkerOptions) -> Workers {
        self.start_workers(Workers::new(), &options)
    }

    /// As [`spawn_workers`](Custody::spawn_workers), every loop registering with `hook` and
    /// ticking it once per pass (for the host's health check; names in [`LivenessHook`]).
    ///
    /// # Panics
    /// Outside a tokio runtime (as `tokio::spawn`).
    pub fn spawn_workers_watched(
        &self,
        options: WorkerOptions,
        hook: Arc<dyn LivenessHook>,
    ) -> Workers {
        self.start_workers(Workers::watched(hook), &options)
    }

    fn start_workers(&self, mut workers: Workers, options: &WorkerOptions) -> Workers {
        for environment in [Environment::Sandbox, Environment::Live] {
            let (Some(graph), Some(worker)) = (
                self.environment(environment),
                self.transaction_worker(environment, options),
            ) else {
                continue;
            };
            let stores = self.store.environment(environment);
            workers.transactions(environment, worker, options.poll_interval);
            workers.housekeeping(
                environment,
                graph.events.clone(),
                stores.idempotency.clone(),
                self.parts.clock.clone(),
                options.purge_interval,
                options.event_retention_days,
            );
            if options.webhooks {
                let delivery =
                    graph::webhook_delivery(&stores, &self.shared, &self.parts, options.delivery);
                workers.webhooks(
                    environment,
                    delivery,
                    options.webhook_poll_interval,
                    options.webhook_concurrency,
                );
            }
        }
        workers
    }
}
