//! The composition root: the one place where concrete adapters meet.
//!
//! [`open_store`] picks the store (embedded SQLite by default, PostgreSQL for a `postgres://`
//! URL), resolves the master key and migrates. [`Application::build`] wires two service
//! graphs over it: sandbox (store bound to `sandbox`, [`SandboxProvider`], fixed prices) and
//! live (store bound to `live`, the live custody provider, configured prices). The sandbox
//! graph is built without any handle to a live provider: no sandbox request can reach real
//! custody, whatever a handler does.

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::web::{self, Data, PayloadConfig};
use actix_web::{App, HttpServer};
use anyhow::Context as _;
use async_trait::async_trait;
use custody_core::api_key::{IpAllowList, KeyMode, ScopeSet};
use custody_core::environment::Environment;
use custody_core::page::PageRequest;
use custody_core::ports::{
    DynClock, DynCustodyProvider, DynIdGenerator, DynPriceFeed, EnvironmentStores, SharedStores,
};
use custody_core::services::{AdminService, AuthService, MintedKey, NewKey};
use custody_core::tenant::Tenant;
use custody_postgres::{PgOptions, PgStore};
use custody_sandbox::SandboxProvider;
use custody_sql::redact::DatabaseUrl;
use custody_sql::seal::MasterKey;
use custody_sqlite::SqliteStore;
use ipnet::IpNet;
use secrecy::ExposeSecret as _;

use crate::configuration::Settings;
use crate::error::ApiError;
use crate::graph::{AppState, GraphParts, Readiness, ServiceGraph};
use crate::middleware::request_context;
use crate::prices::StaticPrices;
use crate::providers::{check_live_tenants, live_provider};
use crate::system::{random_bytes, OsIds, SystemClock};

/// An opened, migrated store, whichever engine.
#[derive(Clone)]
pub enum Store {
    /// The embedded default.
    Sqlite(SqliteStore),
    /// Production.
    Postgres(PgStore),
}

impl Store {
    /// Handles shared by both environments.
    pub fn shared(&self) -> SharedStores {
        match self {
            Store::Sqlite(s) => s.shared(),
            Store::Postgres(s) => s.shared(),
        }
    }

    /// Handles bound to one environment.
    pub fn environment(&self, env: Environment) -> EnvironmentStores {
        match self {
            Store::Sqlite(s) => s.environment(env),
            Store::Postgres(s) => s.environment(env),
        }
    }

    /// The engine's name, for logs.
    pub const fn engine(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }
}

#[async_trait]
impl Readiness for Store {
    async fn check(&self) -> Result<(), String> {
        match self {
            Store::Sqlite(s) => s.ping().await,
            Store::Postgres(s) => s.ping().await,
        }
        .map_err(|e| e.to_string())
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
    // An SQLite store (embedded or named by a sqlite: URL) may keep a generated key in the
    // data directory; an external database must be given one.
    let embedded = url
        .as_ref()
        .is_none_or(|u| u.expose().starts_with("sqlite:"));
    let master = master_key(settings, embedded)?;
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
            SqliteStore::connect(url, master)
                .await
                .with_context(|| format!("opening {url}"))?,
        ),
        None => {
            let path = settings.database.data_dir.join("custody.db");
            Store::Sqlite(
                SqliteStore::open(&path, master)
                    .await
                    .with_context(|| format!("opening {}", path.display()))?,
            )
        }
    };
    match &store {
        Store::Sqlite(s) => s.migrate().await,
        Store::Postgres(s) => s.migrate().await,
    }
    .context("applying migrations")?;
    Ok(store)
}

/// The configured master key; for the embedded store without one, the key in
/// `{data_dir}/master.key`, generated (mode 0600) on first use.
fn master_key(settings: &Settings, embedded: bool) -> anyhow::Result<MasterKey> {
    if let Some(key) = &settings.security.master_key {
        return MasterKey::parse(key.expose_secret())
            .map_err(|e| anyhow::anyhow!("security.master_key is invalid: {e}"));
    }
    anyhow::ensure!(
        embedded,
        "a master key is required with PostgreSQL: set CUSTODY_SECURITY__MASTER_KEY \
         (32 bytes, hex or base64; e.g. `openssl rand -hex 32`)"
    );
    let path = settings.database.data_dir.join("master.key");
    if !path.exists() {
        std::fs::create_dir_all(&settings.database.data_dir)
            .with_context(|| format!("creating {}", settings.database.data_dir.display()))?;
        write_private(&path, &hex::encode(random_bytes()))?;
        tracing::info!(path = %path.display(), "generated a master key for the embedded store");
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    MasterKey::parse(text.trim())
        .map_err(|e| anyhow::anyhow!("{} does not hold a valid key: {e}", path.display()))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("creating {}", path.display()))
}

/// What a first start on an empty store created.
pub struct Bootstrap {
    /// The sandbox tenant.
    pub tenant: Tenant,
    /// Its bearer sandbox key (shown once).
    pub key: MintedKey,
}

/// On an empty store (no tenant at all), creates a sandbox tenant with every asset enabled
/// and a bearer sandbox key with every scope. Returns `None` when tenants exist.
///
/// # Errors
/// Store errors.
pub async fn bootstrap(
    shared: &SharedStores,
    clock: DynClock,
    ids: DynIdGenerator,
) -> anyhow::Result<Option<Bootstrap>> {
    let admin = AdminService::new(shared.tenants.clone(), shared.api_keys.clone(), clock, ids);
    let first = PageRequest::new(Some(1), None, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !admin.list_tenants(first).await?.items.is_empty() {
        return Ok(None);
    }
    let tenant = admin.create_tenant("Sandbox tenant").await?;
    let key = admin
        .mint_key(NewKey {
            tenant_id: tenant.id,
            environment: Environment::Sandbox,
            mode: KeyMode::Bearer,
            scopes: ScopeSet::all(),
            allowed_ips: IpAllowList::allow_all(),
            ed25519_public_key: None,
        })
        .await?;
    Ok(Some(Bootstrap { tenant, key }))
}

/// Everything [`Application::build_with`] needs besides the store; tests swap pieces.
pub struct Wiring {
    /// Where to listen (port 0 for a random port).
    pub listener: TcpListener,
    /// The live graph's custody provider.
    pub live_provider: DynCustodyProvider,
    /// The live graph's prices.
    pub live_prices: DynPriceFeed,
    /// Fiat currencies of Connect totals.
    pub currencies: Vec<String>,
    /// Time.
    pub clock: DynClock,
    /// Ids and secrets.
    pub ids: DynIdGenerator,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Worker threads (0: one per core).
    pub workers: usize,
    /// Grace for in-flight requests on shutdown.
    pub shutdown_timeout: Duration,
}

impl Wiring {
    /// Production wiring from settings, around the live provider built from them
    /// ([`crate::providers::live_provider`]).
    ///
    /// # Errors
    /// The listen address cannot be bound.
    pub fn from_settings(
        settings: &Settings,
        live_provider: DynCustodyProvider,
    ) -> anyhow::Result<Wiring> {
        let listener = TcpListener::bind(settings.server.listen)
            .with_context(|| format!("listening on {}", settings.server.listen))?;
        Ok(Wiring {
            listener,
            live_provider,
            live_prices: Arc::new(StaticPrices::from_config(&settings.prices.live)),
            currencies: settings.prices.currencies.clone(),
            clock: Arc::new(SystemClock),
            ids: Arc::new(OsIds),
            trusted_proxies: settings.server.trusted_proxies.clone(),
            max_body_bytes: settings.server.max_body_bytes,
            workers: settings.server.workers,
            shutdown_timeout: Duration::from_secs(settings.server.shutdown_timeout_secs),
        })
    }
}

/// A built server, ready to run.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Opens the store, builds the live provider router from `[live]` and checks that every
    /// asset a live tenant has enabled is routed, bootstraps an empty store (printing the
    /// sandbox key), and builds the server.
    ///
    /// # Errors
    /// As [`open_store`], [`crate::providers::live_provider`],
    /// [`crate::providers::check_live_tenants`] and [`Wiring::from_settings`].
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        let store = open_store(settings).await?;
        let router = live_provider(&settings.live, Arc::new(SystemClock))?;
        check_live_tenants(&store.shared().tenants, &router).await?;
        for (asset, provider) in router.routed() {
            tracing::info!(%asset, provider, "live route");
        }
        let wiring = Wiring::from_settings(settings, Arc::new(router))?;
        if let Some(first) =
            bootstrap(&store.shared(), wiring.clock.clone(), wiring.ids.clone()).await?
        {
            print_bootstrap(&first, wiring.listener.local_addr().ok());
        }
        tracing::info!(engine = store.engine(), "store ready");
        Application::build_with(store, wiring)
    }

    /// Builds the server over an opened store.
    ///
    /// # Errors
    /// The listener cannot be used.
    pub fn build_with(store: Store, wiring: Wiring) -> anyhow::Result<Application> {
        let shared = store.shared();
        let graph = |env: Environment, provider: DynCustodyProvider, prices: DynPriceFeed| {
            Arc::new(ServiceGraph::build(GraphParts {
                stores: store.environment(env),
                shared: shared.clone(),
                provider,
                prices,
                currencies: wiring.currencies.clone(),
                clock: wiring.clock.clone(),
                ids: wiring.ids.clone(),
            }))
        };
        // The compliance boundary: the sandbox graph gets the sandbox provider and nothing
        // else; the live provider is handed to the live graph only.
        let sandbox = graph(
            Environment::Sandbox,
            Arc::new(SandboxProvider::new()),
            Arc::new(StaticPrices::sandbox()),
        );
        let live = graph(
            Environment::Live,
            wiring.live_provider.clone(),
            wiring.live_prices.clone(),
        );
        tracing::info!(
            sandbox = sandbox.provider_name,
            live = live.provider_name,
            "custody providers"
        );
        let state = Data::new(AppState {
            auth: AuthService::new(
                shared.api_keys.clone(),
                shared.tenants.clone(),
                wiring.clock.clone(),
            ),
            live,
            sandbox,
            clock: wiring.clock.clone(),
            trusted_proxies: wiring.trusted_proxies.clone(),
            readiness: Arc::new(store),
        });
        let port = wiring.listener.local_addr()?.port();
        let max_body = wiring.max_body_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(PayloadConfig::new(max_body))
                .wrap(from_fn(request_context))
                .configure(|cfg| crate::routes::endpoints().configure(cfg))
                .default_service(web::to(|| async {
                    Err::<actix_web::HttpResponse, _>(ApiError::route_not_found())
                }))
        })
        .shutdown_timeout(wiring.shutdown_timeout.as_secs());
        if wiring.workers > 0 {
            server = server.workers(wiring.workers);
        }
        let server = server.listen(wiring.listener)?.run();
        Ok(Application { port, server })
    }

    /// The port the server listens on.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM/SIGINT, then lets in-flight requests finish.
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn print_bootstrap(first: &Bootstrap, addr: Option<std::net::SocketAddr>) {
    let base = addr.map_or_else(
        || "http://127.0.0.1:8080".to_owned(),
        |a| format!("http://{a}"),
    );
    println!(
        "\ncustody: first start on an empty store: created a sandbox tenant.\n\
         \n  tenant id:       {}\n  sandbox API key: {}   (bearer mode, every scope; shown once)\n\
         \nTry it:\n  curl -s -X POST {base}/connect/v1/addresses \\\n    \
         -H 'Authorization: Bearer {}' -H 'Idempotency-Key: first-try' \\\n    \
         -H 'Content-Type: application/json' -d '{{\"asset\":\"USDT\",\"network\":\"ethereum\",\"external_ref\":\"user-1\"}}'\n\
         \nMint more keys with `custody admin key mint --tenant {} --env sandbox --mode bearer`.\n",
        first.tenant.id, first.key.key, first.key.key, first.tenant.id
    );
}
