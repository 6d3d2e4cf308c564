//! The test harness: the real application on a random port over a fresh store (SQLite file
//! or PostgreSQL database), driven over HTTP with real signing code, as a partner would.
//!
//! - [`spawn_app`] / [`spawn_app_with`] start the app; [`Engine`] picks the store.
//! - [`TestApp::tenant`] creates a tenant through the operator service; [`TestApp::key`] mints
//!   a key of any mode, environment, scope set and IP allow-list.
//! - [`Key`] signs requests the way each dialect's documentation says: bearer, HMAC-SHA256
//!   (hex) over `{ts}\n{METHOD}\n{path?query}\n{sha256hex(body)}`, Ed25519 (base64) over
//!   `{METHOD}\n{path?query}\n{ts}\n{body}`.
//! - The live graph's provider is a [`CountingProvider`]: tests read how often live custody was
//!   called (the sandbox boundary test demands never).
//! - `TEST_LOG=1` prints the server's logs.
#![allow(dead_code)]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use custody_conformance::provider::CountingProvider;
use custody_core::api_key::{IpAllowList, KeyMode, Scope, ScopeSet};
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::services::{AdminService, MintedKey, NewKey};
use custody_core::tenant::TenantStatus;
use custody_http::prices::StaticPrices;
use custody_http::startup::{Application, Store, Wiring};
use custody_http::system::{OsIds, SystemClock};
use custody_sql::seal::MasterKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::EncodePublicKey as _;
use ed25519_dalek::{Signer as _, SigningKey};
use hmac::{Hmac, Mac};
use reqwest::{Method, Response};
use sha2::{Digest, Sha256};

/// Which store the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// An SQLite file in a temporary directory (the embedded default).
    Sqlite,
    /// A fresh database on the throwaway PostgreSQL cluster (or `DATABASE_URL`).
    Postgres,
}

/// Declares one `#[tokio::test]` per engine for an `async fn(Engine)` scenario.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Engine::Sqlite).await;
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::Engine::Postgres).await;
                }
            }
        )+
    };
}

/// One tenant's sandbox keys, one per dialect.
pub struct DialectKeys {
    pub connect: Key,
    pub platform: Key,
    pub accounts: Key,
}

/// A pending tenant with a sandbox key per dialect.
pub async fn dialect_keys(app: &TestApp) -> DialectKeys {
    let tenant = app.tenant(TenantStatus::Pending).await;
    DialectKeys {
        connect: app.key(tenant, KeySpec::sandbox(KeyMode::Bearer)).await,
        platform: app.key(tenant, KeySpec::sandbox(KeyMode::Hmac)).await,
        accounts: app.key(tenant, KeySpec::sandbox(KeyMode::Ed25519)).await,
    }
}

/// Options for [`spawn_app_with`].
pub struct Options {
    /// Trusted proxy CIDRs.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub max_body_bytes: usize,
    /// Live custody from these settings (the production path: router over the real BitGo and
    /// Rhino clients) instead of the counting fake.
    pub live: Option<custody_http::configuration::LiveSettings>,
    /// Rate limits, caps and connection bounds; by default limits no test reaches.
    pub limits: custody_http::limits::EdgeLimits,
    /// Serve `/metrics` on a second random port (installs the process-wide recorder).
    pub metrics: bool,
    /// The authentication cache. Off by default: tests revoke keys and suspend tenants through
    /// their own store handles (as the `custody admin` CLI would, from outside the server) and
    /// expect the next request to see it; the cache's own tests turn it on.
    pub auth_cache: custody_embed::AuthCacheSettings,
    /// The idempotency cache. Off by default: tests expire or rewrite idempotency records through
    /// their own store handles; its own tests turn it on.
    pub idempotency_cache: custody_embed::IdempotencyCacheSettings,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            live: None,
            limits: generous_limits(),
            metrics: false,
            auth_cache: custody_embed::AuthCacheSettings::DISABLED,
            idempotency_cache: custody_embed::IdempotencyCacheSettings::DISABLED,
        }
    }
}

/// Production bounds, but rates and in-flight counts no functional test reaches (the rate
/// limit tests set their own).
pub fn generous_limits() -> custody_http::limits::EdgeLimits {
    let mut limits = custody_http::limits::EdgeLimits::default();
    limits.rate.live_per_key = 100_000;
    limits.rate.live_per_tenant = 100_000;
    limits.rate.sandbox_per_key = 100_000;
    limits.rate.sandbox_per_tenant = 100_000;
    limits.connections.max_body_requests_per_ip = 10_000;
    limits
}

/// A running app.
pub struct TestApp {
    /// `http://127.0.0.1:{port}`.
    pub address: String,
    /// The HTTP client.
    pub client: reqwest::Client,
    /// Operator use cases over the same store, through handles of their own: to the server
    /// this is another process (the `custody admin` CLI), whose changes its authentication
    /// cache sees within its TTL.
    pub admin: AdminService,
    /// Operator use cases through the server's own handles (in-process: its authentication
    /// cache is evicted at once).
    pub served_admin: AdminService,
    /// Live custody as the live graph sees it: count its calls.
    pub live_provider: Arc<CountingProvider>,
    /// The store, for direct checks.
    pub store: Store,
    /// `http://127.0.0.1:{metrics port}` when started with `Options::metrics`.
    pub metrics_address: Option<String>,
    /// The worker ticks `/readyz` reads (tests register and backdate their own).
    pub liveness: custody_http::readiness::Liveness,
    _guard: Guard,
}

enum Guard {
    Sqlite(tempfile::TempDir),
    Postgres(custody_postgres::testing::TestDatabase),
}

fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        custody_http::telemetry::init(custody_http::configuration::LogFormat::Pretty, "debug");
    }
}

/// Starts the app on `engine` with default options.
pub async fn spawn_app(engine: Engine) -> TestApp {
    spawn_app_with(engine, Options::default()).await
}

/// Starts the app on `engine`.
pub async fn spawn_app_with(engine: Engine, options: Options) -> TestApp {
    init_logs();
    let master = MasterKey::from_bytes(custody_postgres::testing::TEST_MASTER_KEY);
    let (store, guard) = match engine {
        Engine::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = custody_sqlite::SqliteStore::open(&dir.path().join("custody.db"), master)
                .await
                .expect("open sqlite");
            store.migrate().await.expect("migrate sqlite");
            (Store::Sqlite(store), Guard::Sqlite(dir))
        }
        Engine::Postgres => {
            let (store, db) = custody_postgres::testing::fresh_store().await;
            (Store::Postgres(store), Guard::Postgres(db))
        }
    };
    let live_provider = Arc::new(CountingProvider::with_delay(Duration::ZERO));
    let live: custody_core::ports::DynCustodyProvider = match &options.live {
        Some(settings) => Arc::new(
            custody_http::providers::live_provider(settings, Arc::new(SystemClock))
                .expect("live provider from settings"),
        ),
        None => live_provider.clone(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let wiring = Wiring {
        listener,
        sandbox: custody_sandbox::SandboxProvider::new(
            custody_sandbox::ChainConfig::default(),
            Arc::new(SystemClock),
        ),
        live_provider: live,
        live_prices: Arc::new(StaticPrices::default()),
        currencies: vec!["usd".into(), "pen".into()],
        clock: Arc::new(SystemClock),
        ids: Arc::new(OsIds),
        trusted_proxies: options.trusted_proxies,
        max_body_bytes: options.max_body_bytes,
        workers: 2,
        shutdown_timeout: Duration::from_secs(1),
        instance: None,
        limits: options.limits,
        auth_cache: options.auth_cache,
        idempotency_cache: options.idempotency_cache,
    };
    let mut app = Application::build_with(store.clone(), wiring).expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = options.metrics.then(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind metrics");
        let port = app
            .serve_metrics(listener, Arc::new(SystemClock))
            .expect("metrics listener");
        format!("http://127.0.0.1:{port}")
    });
    let liveness = app.liveness().clone();
    let served_admin = app.admin().expect("composed by build_with").clone();
    tokio::spawn(app.run_until_stopped());
    let shared = store.shared();
    let admin = AdminService::new(
        shared.tenants,
        shared.api_keys,
        Arc::new(SystemClock),
        Arc::new(OsIds),
    );
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        admin,
        served_admin,
        live_provider,
        store,
        metrics_address,
        liveness,
        _guard: guard,
    }
}

impl TestApp {
    /// A second server over the same database with its own connections (its own pools, as a
    /// second process would have): the address of its HTTP port.
    pub async fn second_instance(&self) -> String {
        let master = MasterKey::from_bytes(custody_postgres::testing::TEST_MASTER_KEY);
        let store = match &self._guard {
            Guard::Sqlite(dir) => Store::Sqlite(
                custody_sqlite::SqliteStore::open(&dir.path().join("custody.db"), master)
                    .await
                    .expect("open sqlite again"),
            ),
            Guard::Postgres(db) => Store::Postgres(
                custody_postgres::PgStore::connect(
                    db.url(),
                    master,
                    custody_postgres::PgOptions::default(),
                )
                .await
                .expect("connect to postgres again"),
            ),
        };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let wiring = Wiring {
            listener,
            sandbox: custody_sandbox::SandboxProvider::new(
                custody_sandbox::ChainConfig::default(),
                Arc::new(SystemClock),
            ),
            live_provider: self.live_provider.clone(),
            live_prices: Arc::new(StaticPrices::default()),
            currencies: vec!["usd".into(), "pen".into()],
            clock: Arc::new(SystemClock),
            ids: Arc::new(OsIds),
            trusted_proxies: Vec::new(),
            max_body_bytes: 64 * 1024,
            workers: 2,
            shutdown_timeout: Duration::from_secs(1),
            instance: None,
            limits: generous_limits(),
            auth_cache: custody_embed::AuthCacheSettings::DISABLED,
            idempotency_cache: custody_embed::IdempotencyCacheSettings::DISABLED,
        };
        let app = Application::build_with(store, wiring).expect("build second app");
        let address = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        address
    }
}

/// What a key is minted with.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub environment: Environment,
    pub mode: KeyMode,
    /// Scopes (empty: all).
    pub scopes: Vec<Scope>,
    /// Allowed IPs (empty: anywhere).
    pub allow_ips: Vec<String>,
}

impl KeySpec {
    /// A sandbox key of `mode` with every scope.
    pub fn sandbox(mode: KeyMode) -> KeySpec {
        KeySpec {
            environment: Environment::Sandbox,
            mode,
            scopes: vec![],
            allow_ips: vec![],
        }
    }

    /// A live key of `mode` with every scope.
    pub fn live(mode: KeyMode) -> KeySpec {
        KeySpec {
            environment: Environment::Live,
            ..KeySpec::sandbox(mode)
        }
    }

    /// Only these scopes.
    pub fn scopes(mut self, scopes: &[Scope]) -> KeySpec {
        self.scopes = scopes.to_vec();
        self
    }

    /// Only from these addresses.
    pub fn allow_ips(mut self, ips: &[&str]) -> KeySpec {
        self.allow_ips = ips.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

/// A minted key and what signs with it.
#[derive(Clone)]
pub struct Key {
    /// The record and the secret parts.
    pub minted: MintedKey,
    /// The Ed25519 private key, for ed25519 keys.
    pub signing: Option<SigningKey>,
}

impl Key {
    /// The key string.
    pub fn key(&self) -> &str {
        &self.minted.key
    }

    /// The key id (`key_…`).
    pub fn id(&self) -> String {
        self.minted.record.id.to_string()
    }
}

impl TestApp {
    /// A new tenant with `status`.
    pub async fn tenant(&self, status: TenantStatus) -> TenantId {
        let tenant = self
            .admin
            .create_tenant("Test partner")
            .await
            .expect("tenant");
        if status != TenantStatus::Pending {
            self.admin
                .set_tenant_status(tenant.id, status)
                .await
                .expect("set status");
        }
        tenant.id
    }

    /// Mints a key for `tenant`.
    pub async fn key(&self, tenant: TenantId, spec: KeySpec) -> Key {
        let signing = (spec.mode == KeyMode::Ed25519).then(|| {
            let mut seed = [0u8; 32];
            seed[..16].copy_from_slice(&tenant.ulid().0.to_be_bytes());
            seed[16] = spec.scopes.len() as u8;
            seed[17] = spec.environment as u8;
            SigningKey::from_bytes(&seed)
        });
        let pem = signing.as_ref().map(|k| {
            k.verifying_key()
                .to_public_key_pem(LineEnding::LF)
                .expect("pem")
        });
        let minted = self
            .admin
            .mint_key(NewKey {
                tenant_id: tenant,
                environment: spec.environment,
                mode: spec.mode,
                scopes: spec.scopes.into_iter().collect::<ScopeSet>(),
                allowed_ips: IpAllowList::parse(&spec.allow_ips).expect("ips"),
                ed25519_public_key: pem,
            })
            .await
            .expect("mint key");
        Key { minted, signing }
    }

    /// A sandbox tenant (pending) with a sandbox key of `mode`.
    pub async fn sandbox_key(&self, mode: KeyMode) -> Key {
        let tenant = self.tenant(TenantStatus::Pending).await;
        self.key(tenant, KeySpec::sandbox(mode)).await
    }

    /// A request signed for `key`'s mode; `body` is sent as JSON bytes exactly as given.
    pub fn request(
        &self,
        key: &Key,
        method: Method,
        path_and_query: &str,
        body: Option<&str>,
    ) -> Request {
        Request {
            app_address: self.address.clone(),
            client: self.client.clone(),
            key: Some(key.clone()),
            method,
            path_and_query: path_and_query.to_owned(),
            body: body.map(str::to_owned),
            headers: vec![],
            timestamp: None,
        }
    }

    /// A request signed for `key`, sent to another instance at `address`.
    pub fn request_to(
        &self,
        address: &str,
        key: &Key,
        method: Method,
        path_and_query: &str,
        body: Option<&str>,
    ) -> Request {
        Request {
            app_address: address.to_owned(),
            ..self.request(key, method, path_and_query, body)
        }
    }

    /// A request without credentials.
    pub fn anonymous(&self, method: Method, path_and_query: &str, body: Option<&str>) -> Request {
        Request {
            app_address: self.address.clone(),
            client: self.client.clone(),
            key: None,
            method,
            path_and_query: path_and_query.to_owned(),
            body: body.map(str::to_owned),
            headers: vec![],
            timestamp: None,
        }
    }
}

/// A request being built.
#[derive(Clone)]
pub struct Request {
    app_address: String,
    client: reqwest::Client,
    key: Option<Key>,
    method: Method,
    path_and_query: String,
    body: Option<String>,
    headers: Vec<(String, String)>,
    timestamp: Option<i64>,
}

impl Request {
    /// Adds a header (after signing headers, so it can override them).
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `Idempotency-Key`.
    pub fn idempotency_key(self, key: &str) -> Request {
        self.header("Idempotency-Key", key)
    }

    /// Signs with this unix timestamp instead of now.
    pub fn at(mut self, unix: i64) -> Request {
        self.timestamp = Some(unix);
        self
    }

    /// Sends it.
    pub async fn send(self) -> Response {
        let url = format!("{}{}", self.app_address, self.path_and_query);
        let mut builder = self.client.request(self.method.clone(), url);
        let body = self.body.clone().unwrap_or_default();
        if self.body.is_some() {
            builder = builder
                .header("Content-Type", "application/json")
                .body(body.clone());
        }
        if let Some(key) = &self.key {
            let ts = self
                .timestamp
                .unwrap_or_else(|| self.fresh_timestamp(key, &body))
                .to_string();
            match key.minted.record.mode {
                KeyMode::Bearer => {
                    builder = builder.header("Authorization", format!("Bearer {}", key.key()));
                }
                KeyMode::Hmac => {
                    let secret = key.minted.hmac_secret.as_deref().expect("hmac secret");
                    let signature = hmac_signature(
                        secret,
                        &ts,
                        self.method.as_str(),
                        &self.path_and_query,
                        body.as_bytes(),
                    );
                    builder = builder
                        .header("X-API-Key", key.key())
                        .header("X-Timestamp", &ts)
                        .header("X-Signature", signature);
                }
                KeyMode::Ed25519 => {
                    let signing = key.signing.as_ref().expect("signing key");
                    let signature = ed25519_signature(
                        signing,
                        self.method.as_str(),
                        &self.path_and_query,
                        &ts,
                        body.as_bytes(),
                    );
                    builder = builder
                        .header("Authorization", format!("Bearer {}", key.key()))
                        .header("X-Timestamp", &ts)
                        .header("X-Signature", signature);
                }
            }
        }
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        builder.send().await.expect("request sent")
    }
}

impl Request {
    /// The timestamp to sign with when the test did not choose one: now, unless this key has
    /// already signed this very request (method, path, body) at that second — each signed
    /// request is single-use (issue 16), so, as the guides tell partners, an identical request
    /// in the same second is signed with another timestamp (a nearby second, well inside the
    /// window). Bearer keys and reads are not single-use and always sign now.
    fn fresh_timestamp(&self, key: &Key, body: &str) -> i64 {
        use std::collections::HashSet;
        use std::sync::{LazyLock, Mutex};
        type Signed = (String, String, String, String, i64);
        static SIGNED: LazyLock<Mutex<HashSet<Signed>>> =
            LazyLock::new(|| Mutex::new(HashSet::new()));
        let now = now();
        let single_use = key.minted.record.mode != KeyMode::Bearer
            && !matches!(self.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !single_use {
            return now;
        }
        let mut signed = SIGNED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // now, now - 1, now + 1, now - 2, …: all well inside the ±30 s window.
        (0..51)
            .map(|n: i64| {
                if n % 2 == 0 {
                    now - n / 2
                } else {
                    now + n / 2 + 1
                }
            })
            .find(|ts| {
                signed.insert((
                    key.id(),
                    self.method.to_string(),
                    self.path_and_query.clone(),
                    body.to_owned(),
                    *ts,
                ))
            })
            .expect("fewer than 51 identical signed requests in one second")
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    use custody_core::ports::Clock as _;
    SystemClock.now().unix_timestamp()
}

/// Platform signing: lowercase hex HMAC-SHA256(secret, "{ts}\n{METHOD}\n{path}\n{sha256hex(body)}").
pub fn hmac_signature(secret: &str, ts: &str, method: &str, path: &str, body: &[u8]) -> String {
    let body_hash = hex::encode(Sha256::digest(body));
    let canonical = format!("{ts}\n{method}\n{path}\n{body_hash}");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(canonical.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Accounts signing: base64 Ed25519 over "{METHOD}\n{path}\n{ts}\n{body}".
pub fn ed25519_signature(
    key: &SigningKey,
    method: &str,
    path: &str,
    ts: &str,
    body: &[u8],
) -> String {
    let mut payload = format!("{method}\n{path}\n{ts}\n").into_bytes();
    payload.extend_from_slice(body);
    base64::engine::general_purpose::STANDARD.encode(key.sign(&payload).to_bytes())
}

/// Reads a response as (status, headers, raw body, JSON).
pub async fn parts(
    response: Response,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>, serde_json::Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body").to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, headers, bytes, json)
}

/// Asserts the error envelope: status, type, code, and `requestId == X-Request-Id`.
pub async fn assert_error(
    response: Response,
    status: u16,
    kind: &str,
    code: &str,
) -> serde_json::Value {
    let (actual, headers, raw, body) = parts(response).await;
    assert_eq!(
        actual,
        status,
        "status; body: {}",
        String::from_utf8_lossy(&raw)
    );
    let error = &body["error"];
    assert_eq!(error["type"], kind, "type; body: {body}");
    assert_eq!(error["code"], code, "code; body: {body}");
    assert_eq!(error["status"], status, "status field; body: {body}");
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("X-Request-Id header");
    assert_eq!(error["requestId"], request_id);
    assert!(request_id.starts_with("req_"));
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error["retryable"].is_boolean());
    body
}

// ---------------------------------------------------------------------------------------------
// Money: funding wallets and checking the ledger
// ---------------------------------------------------------------------------------------------

impl TestApp {
    /// Credits `amount` (whole tokens) of `asset` to the sandbox wallet owning `address`, as a
    /// completed, provider-verified deposit: the path a provider notification takes
    /// (`DepositService::apply_verified`), over the sandbox graph's store. Returns the deposit.
    pub async fn fund(
        &self,
        address: &str,
        asset: &str,
        amount: &str,
    ) -> custody_core::transaction::Transaction {
        use custody_core::amount::Amount;
        use custody_core::asset::AssetId;
        use custody_core::chain_address::ChainAddress;
        use custody_core::ports::VerifiedDeposit;
        use custody_core::services::DepositService;
        use custody_core::transaction::{Confirmations, TransactionStatus};

        let asset = AssetId::parse(asset).expect("asset");
        let stores = self.store.environment(Environment::Sandbox);
        let deposits = DepositService::new(
            stores.uow,
            Arc::new(custody_sandbox::SandboxProvider::new(
                custody_sandbox::ChainConfig::default(),
                Arc::new(SystemClock),
            )),
            Arc::new(SystemClock),
            Arc::new(OsIds),
            custody_http::events::renderer(),
        );
        let provider_ref = {
            use custody_core::ports::IdGenerator as _;
            format!("test-deposit-{}", OsIds.ulid())
        };
        deposits
            .apply_verified(VerifiedDeposit {
                provider_ref,
                asset,
                amount: Amount::parse(amount, asset.decimals()).expect("amount"),
                address: ChainAddress::parse(asset.network(), address).expect("address"),
                tx_hash: Some(format!("0x{}", "ab".repeat(32))),
                status: TransactionStatus::Completed,
                confirmations: Some(Confirmations {
                    seen: 12,
                    required: 12,
                }),
            })
            .await
            .expect("apply a verified deposit")
    }

    /// Asserts, for every wallet given, that its materialised balances equal a replay of its
    /// ledger (what `WalletService::reconcile` checks): ledger == balances.
    pub async fn assert_ledger_matches(&self, key: &Key, wallet_ids: &[&str]) {
        use custody_core::id::WalletId;
        let env = key.minted.record.environment;
        let tenant = key.minted.record.tenant_id;
        let stores = self.store.environment(env);
        for raw in wallet_ids {
            let id = WalletId::parse(raw).expect("wallet id");
            let wallet = stores.wallets.get(tenant, id).await.expect("wallet");
            let entries = stores
                .transactions
                .ledger_for_wallet(id)
                .await
                .expect("ledger");
            let replayed = custody_core::ledger::replay(id, &entries).expect("ledger replays");
            assert_eq!(
                wallet.balances, replayed,
                "{raw}: materialised balances differ from the ledger"
            );
        }
    }
}
