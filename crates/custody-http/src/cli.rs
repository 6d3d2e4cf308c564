//! The command line: `custody serve` and `custody admin …`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

use crate::configuration::Overrides;

/// custody: multi-tenant crypto custody API.
#[derive(Debug, Parser)]
#[command(name = "custody", version, about)]
pub struct Cli {
    /// The store: `postgres://…`, `sqlite://path`; default: an embedded SQLite file under
    /// ./data/.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The settings the command line overrides.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: match &self.command {
                Command::Serve(serve) => serve.listen,
                _ => None,
            },
            database_url: self.database_url.clone().map(SecretString::from),
        }
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (and migrate the store).
    Serve(ServeArgs),
    /// Operator commands; print JSON on stdout.
    Admin(AdminArgs),
    /// Print the OpenAPI 3.1 document.
    Openapi,
}

/// `custody serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "CUSTODY_LISTEN")]
    pub listen: Option<SocketAddr>,
}

/// `custody admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// What to administer.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// A tenant's enabled assets.
    #[command(subcommand)]
    Asset(AssetCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Withdrawals needing an operator.
    #[command(subcommand)]
    Withdrawals(WithdrawalsCommand),
    /// Deposits needing an operator.
    #[command(subcommand)]
    Deposits(DepositsCommand),
    /// Proves the books: ledger replay == balance rows (one snapshot per environment) and,
    /// in live, our wallets' total per asset == the provider's balance up to money in flight.
    /// Prints one JSON report; exits 2 on drift, 3 when a provider could not be asked.
    Reconcile(ReconcileArgs),
    /// The maintained tenant-wide totals (`GET /connect/v1/balances` without a user).
    #[command(subcommand)]
    Totals(TotalsCommand),
}

/// `custody admin totals …`.
#[derive(Debug, Subcommand)]
pub enum TotalsCommand {
    /// Recomputes every tenant-wide total from the wallets, exactly (safe while the server
    /// runs): the repair for reconcile's `totalDrift`, and the last step of an upgrade across
    /// the totals' migration. Prints each total it changed (before → after) as JSON; exit 0.
    Rebuild(TotalsRebuildArgs),
}

/// `custody admin totals rebuild`.
#[derive(Debug, Args)]
pub struct TotalsRebuildArgs {
    /// `live`, `sandbox` or `all` (default).
    #[arg(long, alias = "env", default_value = "all")]
    pub environment: String,
    /// Only this tenant's totals (`ten_…`).
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `custody admin reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// `live`, `sandbox` or `all` (default).
    #[arg(long, alias = "env", default_value = "all")]
    pub environment: String,
    /// Only this tenant's wallets and transactions (`ten_…`); skips the provider check.
    #[arg(long)]
    pub tenant: Option<String>,
}

/// `custody admin withdrawals …`.
#[derive(Debug, Subcommand)]
pub enum WithdrawalsCommand {
    /// Open withdrawals flagged for reconciliation (outcome at the provider unknown, funds
    /// held) or unchanged for longer than `--older-than` (default `workers.stuck_after_secs`).
    Stuck {
        /// `sandbox`, `live`, or both when absent.
        #[arg(long)]
        env: Option<String>,
        /// A duration such as `30m`, `1h`, `2d`, `90s`.
        #[arg(long)]
        older_than: Option<String>,
        /// At most this many per environment.
        #[arg(long, default_value_t = 200)]
        limit: u32,
    },
    /// Settles by hand a withdrawal handed to the provider whose outcome an operator has
    /// established: `completed` settles its hold, `failed` releases it (through the ledger),
    /// recorded with who and why in its history.
    Resolve {
        /// The withdrawal (`tx_…`).
        id: String,
        /// `completed` or `failed`.
        #[arg(long = "as")]
        outcome: String,
        /// What shows it (a BitGo transfer id, a block explorer link, a ticket).
        #[arg(long)]
        evidence: String,
        /// Who resolves it (default: `$USER`).
        #[arg(long)]
        operator: Option<String>,
        /// `live` (default) or `sandbox`.
        #[arg(long, default_value = "live")]
        env: String,
    },
}

/// `custody admin deposits …`.
#[derive(Debug, Subcommand)]
pub enum DepositsCommand {
    /// The suspense list: deposits recorded without crediting a wallet (unknown address,
    /// asset mismatch, several outputs, archived vault, disagreeing report). Open ones only
    /// unless `--all`.
    Unattributed {
        /// `sandbox`, `live`, or both when absent.
        #[arg(long)]
        env: Option<String>,
        /// At most this many per environment.
        #[arg(long, default_value_t = 200)]
        limit: u32,
        /// Every record, assigned and returned ones too.
        #[arg(long)]
        all: bool,
    },
    /// Credits an open suspense record (settled at the provider) to a wallet of its asset,
    /// once, through the ledger; audited in the deposit's history.
    Assign {
        /// The record's provider reference (`providerRef` in `deposits unattributed`).
        id: String,
        /// The wallet to credit (`wal_…`).
        #[arg(long)]
        wallet: String,
        /// What shows the funds are that wallet's (a ticket, the sender's confirmation).
        #[arg(long)]
        evidence: String,
        /// Who assigns it (default: `$USER`).
        #[arg(long)]
        operator: Option<String>,
        /// `live` (default) or `sandbox`.
        #[arg(long, default_value = "live")]
        env: String,
    },
    /// Marks an open suspense record returned (sent back at the provider, out of band);
    /// nothing is credited.
    Return {
        /// The record's provider reference.
        id: String,
        /// What shows the return (a ticket, the provider's confirmation).
        #[arg(long)]
        evidence: String,
        /// The return's on-chain hash, when there is one.
        #[arg(long = "tx-hash")]
        tx_hash: Option<String>,
        /// Who returns it (default: `$USER`).
        #[arg(long)]
        operator: Option<String>,
        /// `live` (default) or `sandbox`.
        #[arg(long, default_value = "live")]
        env: String,
    },
    /// Catches up missed live deposit notifications now: applies what the providers report
    /// (BitGo's transfer list per wallet) through the notifications' exactly-once path.
    Reconcile {
        /// How far back, such as `2d`, `12h` (default `workers.reconcile_lookback_secs`).
        #[arg(long)]
        since: Option<String>,
    },
}

/// `custody admin tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (pending; every asset enabled in the sandbox).
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// Approve a tenant for live.
    Approve {
        /// `ten_…`
        id: String,
    },
    /// Suspend a tenant (sandbox and live).
    Suspend {
        /// `ten_…`
        id: String,
    },
    /// List tenants.
    List,
    /// Change a tenant's settings.
    Set {
        /// `ten_…`
        id: String,
        /// How long new address-book entries stay `Pending` before withdrawals may use them
        /// (`24h`, `30m`, `2d`, `90s`; `none` or `0`: at once). Existing entries keep theirs.
        #[arg(long)]
        address_book_cooling_off: Option<String>,
    },
}

/// `custody admin asset …`.
#[derive(Debug, Subcommand)]
pub enum AssetCommand {
    /// Enable an asset for a tenant.
    Enable(AssetArgs),
    /// Disable an asset for a tenant.
    Disable(AssetArgs),
}

/// Which asset for whom.
#[derive(Debug, Args)]
pub struct AssetArgs {
    /// `ten_…`
    #[arg(long)]
    pub tenant: String,
    /// `sandbox` or `live` (new tenants already have every asset in the sandbox).
    #[arg(long, default_value = "live")]
    pub env: String,
    /// `USDT_ETHEREUM`, case-insensitive.
    pub asset_id: String,
}

/// `custody admin key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Mint a key; the secret parts are printed once.
    Mint(MintArgs),
    /// Mint a successor; the old key keeps working for the grace period.
    Rotate {
        /// `key_…`
        key_id: String,
        /// Seconds the old key keeps working (default 86400, at most 7 days).
        #[arg(long, default_value_t = 86_400)]
        grace: i64,
    },
    /// Revoke a key at once.
    Revoke {
        /// `key_…`
        key_id: String,
    },
}

/// `custody admin key mint`.
#[derive(Debug, Args)]
pub struct MintArgs {
    /// `ten_…`
    #[arg(long)]
    pub tenant: String,
    /// `sandbox` (sk_test_…) or `live` (sk_live_…).
    #[arg(long)]
    pub env: String,
    /// `bearer` (Connect), `hmac` (Platform) or `ed25519` (Accounts).
    #[arg(long)]
    pub mode: String,
    /// A scope (repeat for more); none: every scope.
    #[arg(long = "scope")]
    pub scopes: Vec<String>,
    /// An allowed client address or CIDR (repeat for more); none: anywhere.
    #[arg(long = "allow-ip")]
    pub allow_ips: Vec<String>,
    /// The partner's Ed25519 public key (PEM file), required for `ed25519` keys.
    #[arg(long)]
    pub public_key_file: Option<PathBuf>,
}
