//! The real `custody` binary: provisioning with `custody admin`, and `custody serve`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use serde_json::Value;

/// The master key of the benchmark's stores (a throwaway store; never use a fixed key elsewhere).
const MASTER_KEY_HEX: &str = "4242424242424242424242424242424242424242424242424242424242424242";

/// Which store `custody` runs on.
#[derive(Debug, Clone)]
pub enum StoreKind {
    /// PostgreSQL at this URL.
    Postgres(String),
    /// The embedded SQLite file under the run's directory (`data/custody.db`).
    Sqlite,
}

/// A directory with `custody`'s configuration, and the credentials provisioned in it.
pub struct Custody {
    bin: PathBuf,
    dir: tempfile::TempDir,
    store: StoreKind,
    pub tenant: String,
    pub connect_key: String,
    pub platform_key: String,
    pub platform_secret: String,
    env: Vec<(String, String)>,
}

impl Custody {
    /// Writes the configuration, creates and approves a tenant, and mints a bearer (Connect)
    /// and an HMAC (Platform) sandbox key with `custody admin` (which also migrates the store).
    pub fn provision(bin: &Path, store: StoreKind) -> Result<Custody> {
        let dir = tempfile::Builder::new()
            .prefix("custody-bench-")
            .tempdir()
            .context("creating the run's directory")?;
        std::fs::create_dir_all(dir.path().join("config"))?;
        // A fast sandbox chain and worker: the withdrawals a run submits settle within seconds
        // instead of piling up behind the defaults' 2 s signing and 6 confirmations, so the
        // worker's catching up does not weigh on the rows measured after them.
        std::fs::write(
            dir.path().join("config/local.toml"),
            "[log]\nlevel = \"warn\"\n\
             [workers]\npoll_interval_ms = 100\nbatch_size = 100\n\
             [sandbox]\nsigning_ms = 10\nbroadcasting_ms = 10\n\
             [sandbox.networks.ethereum]\nblock_time_ms = 50\nconfirmations = 1\n",
        )?;
        let mut custody = Custody {
            bin: bin.to_path_buf(),
            dir,
            store,
            tenant: String::new(),
            connect_key: String::new(),
            platform_key: String::new(),
            platform_secret: String::new(),
            env: Vec::new(),
        };
        let tenant = custody.admin(&["tenant", "create", "--name", "Bench Pay"])?;
        let tenant = text(&tenant, "id")?;
        custody.admin(&["tenant", "approve", &tenant])?;
        let connect = custody.admin(&[
            "key", "mint", "--tenant", &tenant, "--env", "sandbox", "--mode", "bearer",
        ])?;
        let platform = custody.admin(&[
            "key", "mint", "--tenant", &tenant, "--env", "sandbox", "--mode", "hmac",
        ])?;
        custody.tenant = tenant;
        custody.connect_key = text(&connect, "key")?;
        custody.platform_key = text(&platform, "key")?;
        custody.platform_secret = text(&platform, "secret")?;
        Ok(custody)
    }

    /// Sets a `CUSTODY_…` environment variable of the processes started after this.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.push((name.to_owned(), value.to_owned()));
    }

    /// The SQLite file (for [`StoreKind::Sqlite`]).
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("data/custody.db")
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(self.dir.path())
            .env_remove("CUSTODY_LISTEN")
            .env("CUSTODY_CONFIG_DIR", self.dir.path().join("config"))
            .env("CUSTODY_SECURITY__MASTER_KEY", MASTER_KEY_HEX)
            // The benchmark measures the request path, not the limiters: the sandbox defaults
            // (25/s per key) and the per-address cap of requests with a body in flight would
            // answer part of the load 429.
            .env("CUSTODY_RATE_LIMIT__ENABLED", "false")
            .env("CUSTODY_SERVER__MAX_BODY_REQUESTS_PER_IP", "100000")
            .env("RUST_LOG", "warn");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        match &self.store {
            StoreKind::Postgres(url) => cmd.env("DATABASE_URL", url),
            StoreKind::Sqlite => cmd.env_remove("DATABASE_URL"),
        };
        cmd
    }

    /// `custody admin ARGS…`, its JSON output.
    pub fn admin(&self, args: &[&str]) -> Result<Value> {
        let out = self
            .command()
            .arg("admin")
            .args(args)
            .output()
            .context("running custody admin")?;
        if !out.status.success() {
            bail!(
                "custody admin {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        serde_json::from_slice(&out.stdout).context("custody admin printed no JSON")
    }

    /// A client of `server` with this tenant's Connect and Platform keys.
    pub fn client(&self, server: &Server) -> crate::api::Api {
        crate::api::Api::new(
            server.base(),
            self.connect_key.clone(),
            self.platform_key.clone(),
            self.platform_secret.clone(),
        )
    }

    /// Starts `custody serve` on a free port and waits for `/healthz`.
    pub async fn serve(&self) -> Result<Server> {
        let port = crate::cluster::free_port()?;
        // Its log (slow-statement warnings under load, …) goes to a file beside the store.
        let log = std::fs::File::create(self.dir.path().join("serve.log"))?;
        let child = self
            .command()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .context("spawning custody serve")?;
        let server = Server { child, port };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let health = http
                .get(format!("{}/healthz", server.base()))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().as_u16() == 200) {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("custody serve did not answer /healthz within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A running `custody serve`; killed when dropped.
pub struct Server {
    child: Child,
    port: u16,
}

impl Server {
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's resident memory (kB), from /proc (Linux); `None` elsewhere.
    pub fn rss_kb(&self) -> Option<u64> {
        rss_kb_of(self.child.id())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's resident memory (kB): `VmRSS` of /proc/PID/status (Linux); `None` elsewhere.
pub fn rss_kb_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn text(value: &Value, field: &str) -> Result<String> {
    value[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {field:?} in {value}"))
}
