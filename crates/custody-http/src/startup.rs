//! The composition root: the one place where concrete adapters meet, read top-down.
//!
//! [`Application::build`] opens the store ([`open_store`]: embedded SQLite by default,
//! PostgreSQL for a `postgres://` URL, migrated), builds live custody from `[live]`
//! ([`crate::providers`]) and checks every live tenant's assets are routed, takes the
//! production [`Wiring`] from settings, runs the [first start](crate::first_start) on an empty
//! store, then [`Application::build_with`] wires two [service graphs](crate::graph::ServiceGraph)
//! over the store through the embedding facade (`custody_embed::Custody::builder`, the same
//! composition an embedded service uses, here with the Platform snapshot renderer) and starts
//! the server. Tests call `build_with` with their own wiring.
//!
//! The sandbox graph is built with [`SandboxProvider`] (the simulated chain, from `[sandbox]`
//! and the clock) and fixed prices, without any handle to a live provider: no sandbox request
//! can reach real custody, whatever a handler does. Only the sandbox graph has the simulation
//! use case.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Data, PayloadConfig};
use actix_web::{App, HttpServer};
use anyhow::Context as _;
use async_trait::async_trait;
use custody_core::environment::Environment;
use custody_core::instance::InstanceId;
use custody_core::ports::{
    DynClock, DynCustodyProvider, DynIdGenerator, DynPriceFeed, EnvironmentStores, SharedStores,
};
use custody_core::services::{
    AdminService, AuthService, DeliverySettings, DepositService, WebhookDelivery,
};
use custody_embed::{AuthCacheSettings, Custody, GraphParts, IdempotencyCacheSettings};
use custody_postgres::{PgOptions, PgStore};
use custody_sandbox::SandboxProvider;
use custody_sql::redact::DatabaseUrl;
use custody_sqlite::SqliteStore;
use ipnet::IpNet;
use secrecy::ExposeSecret as _;

use crate::configuration::Settings;
use crate::error::ApiError;
use crate::graph::{AppState, Readiness};
use crate::limits::{EdgeLimits, EdgeState};
use crate::metrics::MetricsSettings;
use crate::middleware::request_context;
use crate::prices::StaticPrices;
use crate::rate_limit::RateLimits;
use crate::readiness::Liveness;
use crate::system::{OsIds, SystemClock};
use crate::webhook_transport::{JsonRenderer, ReqwestTransport};
use crate::workers::{self, WorkerSpec, Workers};
use crate::{first_start, master_key, providers, routes};

/// A built server, ready to run.
pub struct Application {
    port: u16,
    server: Server,
    /// The store, for the metrics collector.
    store: Store,
    /// The workers' ticks (`/readyz`), shared with the server.
    liveness: Liveness,
    /// The metrics listener, once started ([`Application::serve_metrics`]).
    metrics: Option<MetricsServer>,
    /// The transaction workers (none unless [`Application::build`] started them).
    workers: Workers,
    /// The webhook delivery workers (likewise).
    webhook_workers: Workers,
    shutdown_timeout: Duration,
    /// The operator use cases over the server's own key and tenant handles (set by
    /// [`Application::build_with_readiness`]).
    admin: Option<AdminService>,
}

impl Application {
    /// Production start-up from settings (see the module doc), printing the sandbox key on a
    /// first start.
    ///
    /// # Errors
    /// As [`open_store`], [`providers::live_provider`], [`providers::check_live_tenants`] and
    /// [`Wiring::from_settings`].
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let store = open_store(settings).await?;
        let router = providers::live_provider(&settings.live, Arc::new(SystemClock))?;
        providers::check_live_tenants(&store.shared().tenants, &router).await?;
        for (asset, provider) in router.routed() {
            tracing::info!(%asset, provider, "live route");
        }
        let mut wiring = Wiring::from_settings(settings, Arc::new(router))?;
        // This process's instance, registered before the first request so every reservation
        // it makes names a heartbeating owner (released within seconds if it dies).
        let instance = InstanceId::new("serve", std::process::id(), &wiring.ids.ulid().to_string());
        let registry = store.shared().instances;
        registry
            .heartbeat(&instance, wiring.clock.now())
            .await
            .context("registering this instance")?;
        wiring.instance = Some(instance.clone());
        let first =
            first_start::bootstrap(&store.shared(), wiring.clock.clone(), wiring.ids.clone())
                .await?;
        if let Some(first) = first {
            first_start::print_banner(&first, wiring.listener.local_addr().ok());
        }
        tracing::info!(engine = store.engine(), "store ready");
        // The transaction workers, one per environment, over the same stores and providers
        // as the graphs (the sandbox's: the sandbox provider only).
        let sandbox_stores = store.environment(Environment::Sandbox);
        let sandbox_provider: DynCustodyProvider = Arc::new(wiring.sandbox.clone());
        let sandbox_deposits = DepositService::new(
            sandbox_stores.uow.clone(),
            sandbox_provider.clone(),
            wiring.clock.clone(),
            wiring.ids.clone(),
            crate::events::renderer(),
        );
        let specs = vec![
            WorkerSpec {
                stores: sandbox_stores,
                provider: sandbox_provider,
                deposits: Some(Arc::new(sandbox_deposits)),
            },
            WorkerSpec {
                stores: store.environment(Environment::Live),
                provider: wiring.live_provider.clone(),
                // Live deposits advance by provider notifications, not by polling.
                deposits: None,
            },
        ];
        let (clock, ids) = (wiring.clock.clone(), wiring.ids.clone());
        // Webhook delivery, one worker per environment (docs/webhooks.md).
        let shared = store.shared();
        let keys = shared.api_keys.clone();
        let deliveries = [Environment::Sandbox, Environment::Live]
            .into_iter()
            .map(|env| {
                let delivery = webhook_delivery(
                    &store.environment(env),
                    &shared,
                    clock.clone(),
                    ids.clone(),
                    settings.webhooks.delivery(),
                );
                (env, delivery)
            })
            .collect();
        let live_deposits = DepositService::new(
            store.environment(Environment::Live).uow,
            wiring.live_provider.clone(),
            clock.clone(),
            ids.clone(),
            crate::events::renderer(),
        );
        let live_assets = settings.live.parsed_routes()?.into_keys().collect();
        let mut app = Application::build_with_readiness(store, wiring, &settings.readiness)?;
        app.serve_metrics_from(&settings.metrics, clock.clone())?;
        app.workers =
            workers::spawn_watched(&settings.workers, specs, &clock, &ids, app.liveness.clone())
                .with_heartbeat(registry, instance, clock.clone());
        app.workers.reconcile_deposits(
            &settings.workers,
            live_deposits,
            live_assets,
            clock.clone(),
        );
        app.workers.purge_signatures(&settings.workers, keys, clock);
        app.webhook_workers =
            workers::spawn_webhooks_watched(&settings.webhooks, deliveries, app.liveness.clone());
        Ok(app)
    }

    /// Builds the server over an opened store.
    ///
    /// # Errors
    /// The listener cannot be used.
    pub fn build_with(store: Store, wiring: Wiring) -> anyhow::Result<Application> {
        Application::build_with_readiness(
            store,
            wiring,
            &crate::readiness::ReadinessSettings::default(),
        )
    }

    /// As [`build_with`](Application::build_with), with `/readyz`'s worker bound from
    /// `readiness`.
    ///
    /// # Errors
    /// The listener cannot be used.
    pub fn build_with_readiness(
        store: Store,
        wiring: Wiring,
        readiness: &crate::readiness::ReadinessSettings,
    ) -> anyhow::Result<Application> {
        let liveness = Liveness::new(readiness);
        // Both environments' services, composed by the embedding facade (the same composition
        // an embedded service gets), with the Platform wire form for event snapshots. The
        // compliance boundary: the sandbox graph gets the sandbox provider and nothing else;
        // the live provider is handed to the live graph only.
        let custody = Custody::builder()
            .sandbox_provider(wiring.sandbox.clone())
            .live(wiring.live_provider.clone())
            .live_prices(wiring.live_prices.clone())
            .clock(wiring.clock.clone())
            .ids(wiring.ids.clone())
            .renderer(crate::events::renderer())
            .webhook_transport(Arc::new(ReqwestTransport::new()))
            .currencies(wiring.currencies.clone())
            .max_addresses_per_wallet(wiring.limits.resources.max_addresses_per_wallet)
            .auth_cache(wiring.auth_cache)
            .idempotency_cache(wiring.idempotency_cache)
            .compose(store.clone());
        // Authentication reads keys through the composition's (cached) handles.
        let shared = custody.shared_stores().clone();
        let sandbox = custody.sandbox_graph();
        let live = custody
            .live_graph()
            .context("the live graph is always composed by custody serve")?;
        tracing::info!(
            sandbox = sandbox.provider_name,
            live = live.provider_name,
            "custody providers"
        );
        let auth = AuthService::new(shared.api_keys.clone(), wiring.clock.clone());
        let state = Data::new(AppState {
            auth,
            live,
            sandbox,
            clock: wiring.clock.clone(),
            trusted_proxies: wiring.trusted_proxies.clone(),
            readiness: Arc::new(store.clone()),
            liveness: liveness.clone(),
            instance: wiring.instance.clone(),
        });
        let edge = Data::new(EdgeState::new(
            wiring.max_body_bytes,
            wiring.limits.connections,
            shared.api_keys.clone(),
        ));
        let mut app = serve(state, edge, wiring, store, liveness)?;
        app.admin = Some(custody.admin().clone());
        Ok(app)
    }

    /// The operator use cases (revoke, rotate, suspend …) through this server's own key and
    /// tenant handles: their writes evict its authentication cache at once, where a change
    /// made through other handles (the `custody admin` CLI, another instance) is seen within
    /// `[auth] cache_ttl_ms`.
    pub fn admin(&self) -> Option<&AdminService> {
        self.admin.as_ref()
    }

    /// The port the server listens on.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The registry `/readyz` reads worker ticks from: workers spawned for this server tick
    /// it; tests register and [backdate](Liveness::backdate) their own.
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// Starts the metrics listener from `[metrics]` (nothing when disabled). An address that
    /// cannot be bound is logged as an error and the API serves without metrics.
    ///
    /// # Errors
    /// The recorder cannot be installed.
    fn serve_metrics_from(
        &mut self,
        settings: &MetricsSettings,
        clock: DynClock,
    ) -> anyhow::Result<()> {
        if !settings.enabled {
            tracing::info!("metrics disabled (metrics.enabled = false)");
            return Ok(());
        }
        // The partner API is not taken down by its metrics port: a busy address is logged
        // (and Prometheus's own `up` for this target says the rest).
        let listener = match TcpListener::bind(settings.listen) {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(listen = %settings.listen, error = %e, "metrics listener not started: set metrics.listen to a free address");
                return Ok(());
            }
        };
        let port = self.serve_metrics(listener, clock)?;
        tracing::info!(listen = %settings.listen, port, "metrics serving at /metrics");
        Ok(())
    }

    /// Installs the process-wide Prometheus recorder (once) and serves `GET /metrics` on
    /// `listener`, a separate port from the partner API. Returns the metrics port.
    ///
    /// # Errors
    /// The recorder could not be installed, or the listener cannot be used.
    pub fn serve_metrics(&mut self, listener: TcpListener, clock: DynClock) -> anyhow::Result<u16> {
        let handle = crate::metrics::recorder()
            .context("another metrics recorder is installed in this process")?;
        let port = listener.local_addr()?.port();
        let collector =
            crate::metrics::Collector::new(self.store.clone(), self.liveness.clone(), clock);
        let server = crate::metrics::serve(listener, handle, collector)?;
        let stop = server.handle();
        tokio::spawn(server);
        self.metrics = Some(MetricsServer { stop });
        Ok(port)
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests finish and stops the
    /// transaction workers after their current pass.
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(metrics) = self.metrics {
            metrics.stop.stop(false).await;
        }
        self.workers.stop(self.shutdown_timeout).await;
        self.webhook_workers.stop(self.shutdown_timeout).await;
        served
    }
}

/// One environment's webhook delivery over its stores: reqwest for the requests, the secrets
/// opened with the shared sealer (the master key), snapshots in the Platform wire form.
pub fn webhook_delivery(
    stores: &EnvironmentStores,
    shared: &SharedStores,
    clock: DynClock,
    ids: DynIdGenerator,
    settings: DeliverySettings,
) -> WebhookDelivery {
    let parts = GraphParts {
        clock,
        ids,
        snapshots: crate::events::renderer(),
        event_renderer: Arc::new(JsonRenderer),
        transport: Arc::new(ReqwestTransport::new()),
        currencies: Vec::new(),
        max_addresses_per_wallet: u32::MAX,
    };
    custody_embed::graph::webhook_delivery(stores, shared, &parts, settings)
}

/// The HTTP server over `state`: middleware, every route, the 404 envelope.
fn serve(
    state: Data<AppState>,
    edge: Data<EdgeState>,
    wiring: Wiring,
    store: Store,
    liveness: Liveness,
) -> anyhow::Result<Application> {
    let port = wiring.listener.local_addr()?.port();
    let max_body = wiring.max_body_bytes;
    let rate_limits = wiring
        .limits
        .rate
        .enabled
        .then(|| Data::new(RateLimits::new(&wiring.limits.rate)));
    let connections = wiring.limits.connections;
    let mut server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(state.clone())
            .app_data(edge.clone())
            .app_data(PayloadConfig::new(max_body));
        if let Some(limits) = &rate_limits {
            app = app.app_data(limits.clone());
        }
        app.wrap(from_fn(crate::limits::guard))
            .wrap(from_fn(request_context))
            .configure(|cfg| routes::endpoints().configure(cfg))
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(ApiError::route_not_found())
            }))
    })
    .shutdown_timeout(wiring.shutdown_timeout.as_secs())
    .client_request_timeout(Duration::from_millis(connections.client_request_timeout_ms))
    .max_connections(connections.max_connections)
    .backlog(connections.backlog);
    if wiring.workers > 0 {
        server = server.workers(wiring.workers);
    }
    let server = server.listen(wiring.listener)?.run();
    Ok(Application {
        port,
        server,
        store,
        liveness,
        metrics: None,
        workers: Workers::none(),
        webhook_workers: Workers::none(),
        shutdown_timeout: wiring.shutdown_timeout,
        admin: None,
    })
}

/// The running metrics listener.
struct MetricsServer {
    stop: actix_web::dev::ServerHandle,
}

/// Everything [`Application::build_with`] needs besides the store; tests swap pieces.
pub struct Wiring {
    /// Where to listen (port 0 for a random port).
    pub listener: TcpListener,
    /// The sandbox graph's custody: the simulated chain (its type admits nothing else).
    pub sandbox: SandboxProvider,
    pub live_provider: DynCustodyProvider,
    pub live_prices: DynPriceFeed,
    /// Fiat currencies of Connect totals.
    pub currencies: Vec<String>,
    pub clock: DynClock,
    /// Ids and secrets.
    pub ids: DynIdGenerator,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    pub max_body_bytes: usize,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Grace for in-flight requests on shutdown.
    pub shutdown_timeout: Duration,
    /// This process's instance, when something heartbeats for it ([`Application::build`]
    /// does); `None` in tests that build the server themselves.
    pub instance: Option<InstanceId>,
    /// Rate limits, resource caps, connection and body-read bounds.
    pub limits: EdgeLimits,
    /// The authentication cache (`[auth]`; [`AuthCacheSettings::DISABLED`] in tests that
    /// change keys or tenants from outside the server and expect it at once).
    pub auth_cache: AuthCacheSettings,
    /// The idempotency cache (`[idempotency]`; [`IdempotencyCacheSettings::DISABLED`] in tests that
    /// change idempotency records from outside the server).
    pub idempotency_cache: IdempotencyCacheSettings,
}

impl Wiring {
    /// Production wiring from settings, around the live provider built from them
    /// ([`providers::live_provider`]).
    ///
    /// # Errors
    /// The listen address cannot be bound.
    pub fn from_settings(
        settings: &Settings,
        live_provider: DynCustodyProvider,
    ) -> anyhow::Result<Wiring> {
        let listener = TcpListener::bind(settings.server.listen)
            .with_context(|| format!("listening on {}", settings.server.listen))?;
        let clock: DynClock = Arc::new(SystemClock);
        let sandbox = SandboxProvider::new(settings.sandbox.chain()?, clock.clone());
        Ok(Wiring {
            listener,
            sandbox,
            live_provider,
            live_prices: Arc::new(StaticPrices::from_config(&settings.prices.live)),
            currencies: settings.prices.currencies.clone(),
            clock,
            ids: Arc::new(OsIds),
            trusted_proxies: settings.server.trusted_proxies.clone(),
            max_body_bytes: settings.server.max_body_bytes,
            workers: settings.server.workers,
            shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
            instance: None,
            limits: EdgeLimits {
                rate: settings.rate_limit,
                resources: settings.limits,
                connections: settings.server.connections,
            },
            auth_cache: settings.auth.cache(),
            idempotency_cache: settings.idempotency.cache(),
        })
    }
}

/// An opened, migrated store, whichever engine (the facade's; see [`custody_embed::Store`]).
pub use custody_embed::Store;

#[async_trait]
impl Readiness for Store {
    async fn check(&self) -> Result<(), String> {
        self.ping().await.map_err(|e| e.to_string())
    }
}

/// Opens the configured store and applies pending migrations: `postgres://` URLs select
/// PostgreSQL, `sqlite:` URLs an SQLite file, no URL the embedded file
/// `{data_dir}/custody.db`.
///
/// # Errors
/// An unreachable store, a missing master key (PostgreSQL), a failed migration.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let url = settings
        .database
        .url
        .as_ref()
        .map(|u| DatabaseUrl::new(u.expose_secret()));
    // An SQLite store (embedded or named by a sqlite: URL) may keep a generated key beside its
    // database file; an external database must be given one.
    let embedded_file = settings.database.data_dir.join("custody.db");
    let home = match &url {
        None => Some(master_key::KeyHome {
            database: Some(embedded_file.clone()),
            dir: settings.database.data_dir.clone(),
        }),
        Some(u) if u.expose().starts_with("sqlite:") => Some(match SqliteStore::file_of(u) {
            Some(file) => master_key::KeyHome {
                dir: file
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
                database: Some(file),
            },
            // In memory: nothing to keep beside.
            None => master_key::KeyHome {
                database: None,
                dir: settings.database.data_dir.clone(),
            },
        }),
        Some(_) => None,
    };
    let master = master_key::resolve(settings, home.as_ref())?;
    let store = match &url {
        Some(url)
            if url.expose().starts_with("postgres://")
                || url.expose().starts_with("postgresql://") =>
        {
            let store = PgStore::connect(url, master, PgOptions::default())
                .await
                .with_context(|| format!("connecting to {url}"))?;
            Store::Postgres(store)
        }
        Some(url) => Store::Sqlite(
            SqliteStore::connect_with(url, master, settings.database.sqlite_options())
                .await
                .with_context(|| format!("opening {url}"))?,
        ),
        None => Store::Sqlite(
            SqliteStore::open_with(&embedded_file, master, settings.database.sqlite_options())
                .await
                .with_context(|| format!("opening {}", embedded_file.display()))?,
        ),
    };
    store.migrate().await.context("applying migrations")?;
    master_key::check(
        &store.shared().api_keys,
        home.as_ref(),
        custody_core::ports::Clock::now(&SystemClock),
    )
    .await?;
    Ok(store)
}
