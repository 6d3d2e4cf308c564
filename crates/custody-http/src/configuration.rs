//! Settings: `config/base.toml` (compiled in, so the binary runs from any directory), then
//! `config/{CUSTODY_PROFILE}.toml` if present (default profile `local`), then `CUSTODY_…`
//! environment variables with `__` between levels (`CUSTODY_SERVER__LISTEN`), then the
//! command line (`--listen`, `--database-url`) and its two documented variables
//! (`CUSTODY_LISTEN`, `DATABASE_URL`).
//!
//! Secrets (the master key, provider credentials) are [`SecretString`]s: never printed,
//! redacted in `Debug`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use config::{Config, Environment, File, FileFormat};
use ipnet::IpNet;
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::Deserialize;

const BASE: &str = include_str!("../../../config/base.toml");

/// Everything the binary can be told.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    /// Connect's fiat totals.
    pub prices: PriceSettings,
    pub log: LogSettings,
    /// Live custody: which provider serves which asset, and the providers' connections.
    #[serde(default)]
    pub live: LiveSettings,
    /// The sandbox's simulated chain.
    #[serde(default)]
    pub sandbox: SandboxSettings,
    /// The transaction worker of `custody serve` (docs/operations.md).
    #[serde(default)]
    pub workers: WorkersSettings,
    /// Per-key and per-tenant request rates (docs/operations.md, "Rate limits").
    #[serde(default)]
    pub rate_limit: crate::limits::RateLimitSettings,
    /// Caps on what one partner can create (docs/operations.md, "Rate limits").
    #[serde(default)]
    pub limits: crate::limits::ResourceLimits,
    /// Outbound webhook delivery (docs/webhooks.md, docs/operations.md).
    #[serde(default)]
    pub webhooks: WebhooksSettings,
    /// The Prometheus listener (docs/operations.md, "Metrics").
    #[serde(default)]
    pub metrics: crate::metrics::MetricsSettings,
    /// `/readyz`'s worker bound (docs/operations.md, "Health and readiness").
    #[serde(default)]
    pub readiness: crate::readiness::ReadinessSettings,
    /// The authentication cache (docs/operations.md, `[auth]`).
    #[serde(default)]
    pub auth: crate::auth::AuthSettings,
    /// The cache of completed idempotency records (docs/operations.md,
    /// `[idempotency]`).
    #[serde(default)]
    pub idempotency: crate::idempotency::IdempotencySettings,
}

/// The webhook delivery worker of `custody serve`, one per environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksSettings {
    /// Deliver from this instance (several instances may deliver side by side).
    pub enabled: bool,
    /// Pause between claims when idle (milliseconds): the first attempt follows a commit
    /// within about this long.
    pub poll_interval_ms: u64,
    /// Tenants delivered to at once per environment (each tenant's batch is sent in order,
    /// one request at a time; a slow receiver occupies one slot only).
    pub concurrency: u32,
    /// Events of one tenant claimed per batch.
    pub per_tenant: u32,
    /// Only a 2xx within this counts (seconds).
    pub timeout_secs: u64,
}

impl WebhooksSettings {
    /// What the core delivery worker runs with.
    pub fn delivery(&self) -> custody_core::services::DeliverySettings {
        custody_core::services::DeliverySettings {
            tenants_per_claim: self.concurrency.max(1),
            per_tenant: self.per_tenant.max(1),
            timeout: time::Duration::seconds(
                i64::try_from(self.timeout_secs.clamp(1, 3_600)).unwrap_or(15),
            ),
        }
    }
}

impl Default for WebhooksSettings {
    fn default() -> WebhooksSettings {
        WebhooksSettings {
            enabled: true,
            poll_interval_ms: 500,
            concurrency: 16,
            per_tenant: 10,
            timeout_secs: 15,
        }
    }
}

/// The sandbox's simulated chain (docs/platform.md, "Sandbox simulation"): how long a
/// withdrawal waits for its signature and its broadcast, then each network's blocks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// From hand-over (`PendingSignature`) to `Broadcasting`, in milliseconds.
    #[serde(default = "SandboxSettings::default_step_ms")]
    pub signing_ms: u64,
    /// From `Broadcasting` to `Confirming`, in milliseconds.
    #[serde(default = "SandboxSettings::default_step_ms")]
    pub broadcasting_ms: u64,
    /// Per network (`ethereum`, `solana`, `base`, `ink`, `sui`): block time and confirmations.
    /// A network not listed keeps its default.
    #[serde(default)]
    pub networks: BTreeMap<String, SandboxNetworkSettings>,
    /// Drills only: a file every withdrawal hand-over is appended to (one transaction id per
    /// line), to count hand-overs across processes. Unset in production.
    #[serde(default)]
    pub send_log: Option<std::path::PathBuf>,
}

/// One simulated network's blocks; an unset field keeps the network's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxNetworkSettings {
    /// Milliseconds between blocks (one confirmation each).
    #[serde(default)]
    pub block_time_ms: Option<u64>,
    /// Confirmations before final.
    #[serde(default)]
    pub confirmations: Option<u32>,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            signing_ms: SandboxSettings::default_step_ms(),
            broadcasting_ms: SandboxSettings::default_step_ms(),
            networks: BTreeMap::new(),
            send_log: None,
        }
    }
}

impl SandboxSettings {
    const fn default_step_ms() -> u64 {
        2_000
    }

    /// The simulated chain these settings describe.
    ///
    /// # Errors
    /// An unknown network, or a timing that cannot work (no confirmations, 0 ms blocks).
    pub fn chain(&self) -> anyhow::Result<custody_sandbox::ChainConfig> {
        use std::time::Duration;
        let mut chain = custody_sandbox::ChainConfig::new(
            Duration::from_millis(self.signing_ms),
            Duration::from_millis(self.broadcasting_ms),
        );
        for (name, overrides) in &self.networks {
            let network = custody_core::asset::Network::parse(name)
                .with_context(|| format!("sandbox.networks.{name}"))?;
            let default = custody_sandbox::ChainConfig::default_timing(network);
            let timing = custody_sandbox::NetworkTiming::new(
                overrides
                    .block_time_ms
                    .map_or(default.block_time, Duration::from_millis),
                overrides.confirmations.unwrap_or(default.confirmations),
            )
            .map_err(|why| anyhow::anyhow!("sandbox.networks.{name}: {why}"))?;
            chain.set_network(network, timing);
        }
        if let Some(path) = &self.send_log {
            chain = chain.with_send_log(path.clone());
        }
        Ok(chain)
    }
}

/// The transaction worker: hands `Submitted` withdrawals to the environment's provider and
/// polls open transactions until they are final, in each environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct WorkersSettings {
    /// Run the worker in this instance (`false`: another instance, or nobody, moves
    /// withdrawals on).
    pub enabled: bool,
    /// Pause between passes, and between two polls of one open transaction.
    pub poll_interval_ms: u64,
    /// Transactions claimed per pass and environment.
    pub batch_size: u32,
    /// How long a claim is held: longer than the slowest provider call (BitGo's timeout is
    /// 100 s). A crashed instance's claims are taken over after it.
    pub lease_secs: u64,
    /// The longest wait between attempts after errors (the backoff doubles up to it).
    pub max_backoff_secs: u64,
    /// `custody admin withdrawals stuck` lists open withdrawals unchanged for longer.
    pub stuck_after_secs: u64,
    /// How often expired idempotency records are deleted (milliseconds). The same pass
    /// deletes events older than `event_retention_days`.
    pub purge_interval_ms: u64,
    /// How often live deposits are reconciled against the providers' own lists, catching up
    /// missed notifications (milliseconds; `0`: never on a schedule, only
    /// `custody admin deposits reconcile`).
    pub reconcile_interval_ms: u64,
    /// How far back each scheduled reconciliation looks (seconds).
    pub reconcile_lookback_secs: u64,
    /// At most this many deposit addresses per asset and reconciliation pass for providers
    /// read per address (Rhino: one SDA history call each); the next pass resumes after the
    /// last one, so every address is covered over several passes.
    pub reconcile_addresses_per_pass: u32,
    /// How long events stay in the event log (`GET /v1/events`) and the outbox, in days; at
    /// least 30 (a smaller value is raised to 30).
    pub event_retention_days: u32,
}

impl Default for WorkersSettings {
    fn default() -> WorkersSettings {
        WorkersSettings {
            enabled: true,
            poll_interval_ms: 1_000,
            batch_size: 25,
            lease_secs: 300,
            max_backoff_secs: 300,
            stuck_after_secs: 3_600,
            purge_interval_ms: 300_000,
            reconcile_interval_ms: 600_000,
            reconcile_lookback_secs: 172_800,
            reconcile_addresses_per_pass: 500,
            event_retention_days: 30,
        }
    }
}

/// Live custody (docs/providers.md).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LiveSettings {
    /// Asset id (`USDT_ETHEREUM`) → provider (`bitgo` or `rhino`). An asset not listed is not
    /// offered live: the server refuses to start while a live tenant has it enabled.
    #[serde(default)]
    pub routes: BTreeMap<String, ProviderKind>,
    /// BitGo, when any route names it.
    #[serde(default)]
    pub bitgo: Option<BitgoSettings>,
    /// Rhino, when any route names it.
    #[serde(default)]
    pub rhino: Option<RhinoSettings>,
}

/// A live custody provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Bitgo,
    Rhino,
}

impl ProviderKind {
    /// The name used in configuration and stored with what the provider creates.
    pub const fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Bitgo => "bitgo",
            ProviderKind::Rhino => "rhino",
        }
    }
}

/// How BitGo withdrawals are sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitgoWithdrawals {
    /// Refused (deposit-only deployment).
    #[default]
    Disabled,
    /// Custody wallets: `tx/initiate`, a pending approval.
    Custody,
    /// Hot wallets through BitGo Express (`express_url`, `wallet_passphrase`).
    Express,
}

/// BitGo (providers.md part A).
#[derive(Debug, Clone, Deserialize)]
pub struct BitgoSettings {
    /// `test` (app.bitgo-test.com, testnet coins) or `production`.
    pub environment: custody_bitgo::BitgoEnvironment,
    /// REST base without `/api/v2`; default: the environment's.
    #[serde(default)]
    pub base_url: Option<String>,
    /// A long-lived access token. Secret: set it with `CUSTODY_LIVE__BITGO__ACCESS_TOKEN`.
    pub access_token: SecretString,
    /// Wallet id per wallet coin (`eth`, `sol`; `hteth`, `tsol` on test).
    #[serde(default)]
    pub wallets: BTreeMap<String, String>,
    /// Per-request timeout; BitGo recommends 100 s.
    #[serde(default = "BitgoSettings::default_timeout")]
    pub timeout_secs: u64,
    /// `disabled`, `custody` or `express`.
    #[serde(default)]
    pub withdrawals: BitgoWithdrawals,
    /// Custody flow: BitGo user ids named as video approvers.
    #[serde(default)]
    pub video_approvers: Vec<String>,
    /// Express flow: Express's base URL.
    #[serde(default)]
    pub express_url: Option<String>,
    /// Express flow: the wallet passphrase. Secret.
    #[serde(default)]
    pub wallet_passphrase: Option<SecretString>,
    /// The enterprise webhook secret, to check `X-Signature-SHA256`. Secret.
    #[serde(default)]
    pub webhook_secret: Option<SecretString>,
}

impl BitgoSettings {
    const fn default_timeout() -> u64 {
        100
    }
}

/// Rhino.fi smart deposit addresses (providers.md part B).
#[derive(Debug, Clone, Deserialize)]
pub struct RhinoSettings {
    /// Default `https://api.rhino.fi`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// A secret API key (`SECRET_…`). Set it with `CUSTODY_LIVE__RHINO__API_KEY`.
    pub api_key: SecretString,
    /// Where deposits are bridged to, for every tenant without its own.
    #[serde(default)]
    pub destination: Option<custody_rhino::Destination>,
    /// Per-tenant destinations (`ten_…` → destination).
    #[serde(default)]
    pub tenant_destinations: BTreeMap<String, custody_rhino::Destination>,
    /// Rhino's webhook public key (PEM), pinned; unset: fetched from Rhino.
    #[serde(default)]
    pub webhook_public_key: Option<String>,
    /// Per-request timeout.
    #[serde(default = "RhinoSettings::default_timeout")]
    pub timeout_secs: u64,
}

impl RhinoSettings {
    const fn default_timeout() -> u64 {
        30
    }
}

/// The HTTP server.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Where to listen (`127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Proxies whose `X-Forwarded-For` is believed (CIDRs); empty: the socket peer is the
    /// client.
    #[serde(default)]
    pub trusted_proxies: Vec<IpNet>,
    /// Largest accepted request body, in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Worker threads (0: one per core).
    #[serde(default)]
    pub workers: usize,
    /// Seconds in-flight requests get to finish on SIGTERM/SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Connection and body-read bounds against slow or abusive clients (docs/operations.md,
    /// "Connections and slow clients").
    #[serde(flatten)]
    pub connections: crate::limits::ConnectionLimits,
}

/// The store.
#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://…` or `sqlite://…`; absent: the embedded SQLite file under `data_dir`.
    #[serde(default)]
    pub url: Option<SecretString>,
    /// Where the embedded store (and its generated master key) live.
    pub data_dir: PathBuf,
    /// SQLite only: how often (milliseconds) a connection of its own checkpoints the
    /// write-ahead log so it stays bounded under load; 0 turns it off. Default 1000.
    #[serde(default = "default_sqlite_checkpoint_ms")]
    pub sqlite_checkpoint_ms: u64,
}

fn default_sqlite_checkpoint_ms() -> u64 {
    1_000
}

impl DatabaseSettings {
    /// The SQLite store's options: `sqlite_checkpoint_ms` (0: no checkpoint connection).
    pub fn sqlite_options(&self) -> custody_sqlite::SqliteOptions {
        let ms = self.sqlite_checkpoint_ms;
        custody_sqlite::SqliteOptions {
            checkpoint_every: (ms > 0).then(|| std::time::Duration::from_millis(ms)),
        }
    }
}

/// Secrets.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SecuritySettings {
    /// The AES-256-GCM master key sealing HMAC secrets at rest: 32 bytes, hex or base64.
    /// Required with PostgreSQL; with the embedded store a key is generated into
    /// `{data_dir}/master.key` on first start when none is configured.
    #[serde(default)]
    pub master_key: Option<SecretString>,
}

/// Connect's fiat totals.
#[derive(Debug, Clone, Deserialize)]
pub struct PriceSettings {
    /// The lowercase fiat codes totals are given in.
    pub currencies: Vec<String>,
    /// Live prices per token symbol and currency (`[prices.live.USDT] usd = "1.00"`). Empty:
    /// live totals are left out (fail-closed) until a price feed is configured.
    #[serde(default)]
    pub live: std::collections::BTreeMap<String, std::collections::BTreeMap<String, Decimal>>,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// An `EnvFilter` directive (`info`, `custody_http=debug`); `RUST_LOG` overrides it.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Overrides from the command line (and `CUSTODY_LISTEN` / `DATABASE_URL`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<SecretString>,
}

impl Settings {
    /// Loads the layers described in the module doc.
    ///
    /// # Errors
    /// A file or variable that does not parse, naming it.
    pub fn load(overrides: Overrides) -> anyhow::Result<Settings> {
        let profile = std::env::var("CUSTODY_PROFILE").unwrap_or_else(|_| "local".to_owned());
        let config_dir = std::env::var_os("CUSTODY_CONFIG_DIR")
            .map_or_else(|| PathBuf::from("config"), PathBuf::from);
        let settings = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .add_source(File::from(config_dir.join(format!("{profile}.toml"))).required(false))
            .add_source(
                Environment::with_prefix("CUSTODY")
                    .prefix_separator("_")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("prices.currencies")
                    .try_parsing(true),
            )
            .build()
            .context("reading configuration")?;
        let mut settings: Settings = settings
            .try_deserialize()
            .context("configuration is invalid")?;
        // Currency codes are lowercase everywhere (price tables are keyed so).
        for currency in &mut settings.prices.currencies {
            currency.make_ascii_lowercase();
        }
        if let Some(listen) = overrides.listen {
            settings.server.listen = listen;
        }
        if let Some(url) = overrides.database_url {
            settings.database.url = Some(url);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_defaults_load() {
        let settings: Settings = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
        assert!(settings.database.url.is_none());
        assert!(settings.security.master_key.is_none());
        assert_eq!(settings.prices.currencies, vec!["usd", "pen"]);
        assert!(settings.workers.enabled);
        assert_eq!(settings.workers.poll_interval_ms, 1_000);
        assert_eq!(settings.workers.lease_secs, 300);
        assert_eq!(
            settings.rate_limit,
            crate::limits::RateLimitSettings::default()
        );
        assert_eq!(settings.limits, crate::limits::ResourceLimits::default());
        assert_eq!(
            settings.server.connections,
            crate::limits::ConnectionLimits::default()
        );
        assert_eq!(settings.metrics, crate::metrics::MetricsSettings::default());
        assert_eq!(settings.metrics.listen.to_string(), "127.0.0.1:9464");
        assert!(settings.metrics.enabled);
        assert_eq!(
            settings.readiness,
            crate::readiness::ReadinessSettings::default()
        );
        let typo = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .add_source(File::from_str(
                "[metrics]\nlisten_on = \"x\"\n",
                FileFormat::Toml,
            ))
            .build()
            .unwrap()
            .try_deserialize::<Settings>();
        assert!(typo.is_err(), "a misspelt metrics key is refused");
    }

    #[test]
    fn the_sqlite_checkpoint_interval_defaults_to_a_second_and_zero_turns_it_off() {
        let load = |extra: &str| -> Settings {
            Config::builder()
                .add_source(File::from_str(BASE, FileFormat::Toml))
                .add_source(File::from_str(extra, FileFormat::Toml))
                .build()
                .unwrap()
                .try_deserialize()
                .unwrap()
        };
        let default = load("");
        assert_eq!(default.database.sqlite_checkpoint_ms, 1_000);
        assert_eq!(
            default.database.sqlite_options().checkpoint_every,
            Some(std::time::Duration::from_secs(1))
        );
        let off = load("[database]\nsqlite_checkpoint_ms = 0\n");
        assert_eq!(off.database.sqlite_options().checkpoint_every, None);
        let often = load("[database]\nsqlite_checkpoint_ms = 250\n");
        assert_eq!(
            often.database.sqlite_options().checkpoint_every,
            Some(std::time::Duration::from_millis(250))
        );
    }

    #[test]
    fn edge_limits_are_configurable() {
        let settings: Settings = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .add_source(File::from_str(
                "[server]\nlisten = \"127.0.0.1:1\"\nmax_body_bytes = 10\nshutdown_timeout_secs = 1\n\
                 body_read_timeout_ms = 250\nmax_body_requests_per_ip = 3\n\
                 [rate_limit]\nsandbox_per_key = 7\n[limits]\nmax_addresses_per_wallet = 5\n",
                FileFormat::Toml,
            ))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(settings.server.connections.body_read_timeout_ms, 250);
        assert_eq!(settings.server.connections.max_body_requests_per_ip, 3);
        assert_eq!(settings.server.connections.max_connections, 4_096);
        assert_eq!(settings.rate_limit.sandbox_per_key, 7);
        assert_eq!(settings.rate_limit.live_per_key, 100);
        assert_eq!(settings.limits.max_addresses_per_wallet, 5);
        let typo = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .add_source(File::from_str(
                "[rate_limit]\nsandbox_per_kee = 7\n",
                FileFormat::Toml,
            ))
            .build()
            .unwrap()
            .try_deserialize::<Settings>();
        assert!(typo.is_err(), "a misspelt rate-limit key is refused");
    }

    #[test]
    fn the_sandbox_chain_defaults_and_overrides() {
        let settings: Settings = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        assert_eq!(
            settings.sandbox.chain().unwrap(),
            custody_sandbox::ChainConfig::default()
        );
        let custom: Settings = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .add_source(File::from_str(
                "[sandbox]\nsigning_ms = 10\n[sandbox.networks.solana]\nconfirmations = 2\n",
                FileFormat::Toml,
            ))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        let chain = custom.sandbox.chain().unwrap();
        assert_eq!(chain.signing, std::time::Duration::from_millis(10));
        let solana = chain.network(custody_core::asset::Network::Solana);
        assert_eq!(solana.confirmations, 2);
        assert_eq!(
            solana.block_time,
            custody_sandbox::ChainConfig::default_timing(custody_core::asset::Network::Solana)
                .block_time
        );
        for bad in [
            "[sandbox.networks.bitcoin]\nconfirmations = 2\n",
            "[sandbox.networks.sui]\nconfirmations = 0\n",
        ] {
            let settings: Settings = Config::builder()
                .add_source(File::from_str(BASE, FileFormat::Toml))
                .add_source(File::from_str(bad, FileFormat::Toml))
                .build()
                .unwrap()
                .try_deserialize()
                .unwrap();
            assert!(settings.sandbox.chain().is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let mut settings: Settings = Config::builder()
            .add_source(File::from_str(BASE, FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        settings.security.master_key = Some(SecretString::from("supersecretmasterkey"));
        settings.database.url = Some(SecretString::from("postgres://u:hunter2@db/custody"));
        let shown = format!("{settings:?}");
        assert!(!shown.contains("supersecretmasterkey"));
        assert!(!shown.contains("hunter2"));
    }
}
