//! A throwaway PostgreSQL cluster for one benchmark run, with `pg_stat_statements` loaded.
//!
//! The same approach as custody-postgres's test harness (`initdb` in a temporary directory,
//! `pg_ctl start` on a free port; as root the tools run as the `postgres` user, which `initdb`
//! requires). Finding the server binaries and whether we are root are that harness's own
//! functions (`custody_postgres::testing`); the cluster itself is started here: the benchmark
//! needs different settings (`shared_preload_libraries`, `--durable`) and one cluster per
//! run, and must not change what the tests run on.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};
use custody_postgres::testing::{find_bin_dir, is_root};

/// A running cluster; stopped and removed when dropped.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    pub port: u16,
}

/// The database the runner creates in the cluster.
pub const DATABASE: &str = "custody";

impl Cluster {
    /// `initdb` + `pg_ctl start`, then `CREATE DATABASE custody` and the extension.
    ///
    /// `durable`: PostgreSQL's defaults (`fsync=on`). Otherwise the test harness's settings
    /// (`fsync=off`, `full_page_writes=off`): commits cost CPU, not the disk, so the figures
    /// measure the work per request rather than the machine's `fsync` latency.
    pub fn start(durable: bool) -> Result<Cluster> {
        Cluster::start_with(durable, &[])
    }

    /// [`Cluster::start`], also preloading these libraries (e.g. `auto_explain`, off until
    /// configured).
    pub fn start_with(durable: bool, preload: &[&str]) -> Result<Cluster> {
        let bin = find_bin_dir().context(
            "no PostgreSQL server binaries (initdb, pg_ctl, postgres) on PATH or under \
             /usr/lib/postgresql/*/bin: install them (Debian/Ubuntu: apt-get install postgresql)",
        )?;
        let as_postgres = is_root();
        let parent = if as_postgres {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("custody-bench-pg-")
            .tempdir_in(&parent)
            .context("creating the cluster's directory")?
            .keep();
        let mut cluster = Cluster {
            dir,
            bin,
            as_postgres,
            port: 0,
        };
        if as_postgres {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(&cluster.dir)
                .status()?;
            if !status.success() {
                bail!("chown postgres {} failed", cluster.dir.display());
            }
        }
        let data = cluster.dir.join("data");
        cluster.tool(
            "initdb",
            &[
                "-D",
                &data.to_string_lossy(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let port = free_port()?;
        let durability = if durable {
            ""
        } else {
            "-c fsync=off -c full_page_writes=off "
        };
        let options = format!(
            "{durability}-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} \
             -c max_connections=400 -c shared_buffers=256MB \
             -c shared_preload_libraries=pg_stat_statements{} -c pg_stat_statements.track=all \
             -c pg_stat_statements.track_utility=on",
            cluster.dir.display(),
            preload.iter().map(|l| format!(",{l}")).collect::<String>()
        );
        let log = cluster.dir.join("postgres.log");
        cluster.tool(
            "pg_ctl",
            &[
                "-D",
                &data.to_string_lossy(),
                "-l",
                &log.to_string_lossy(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        )?;
        cluster.port = port;
        cluster.psql_on("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        cluster.psql("CREATE EXTENSION pg_stat_statements")?;
        Ok(cluster)
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The URL `custody` connects with.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// Runs `sql` in the bench database; returns psql's unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> Result<String> {
        self.psql_on(DATABASE, sql)
    }

    fn psql_on(&self, database: &str, sql: &str) -> Result<String> {
        let out = Command::new(self.tool_path("psql"))
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
            ])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-d")
            .arg(database)
            .arg("-c")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .context("running psql")?;
        if !out.status.success() {
            bail!(
                "psql failed on {sql:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// The path of `pgbench` (beside the server, or on `PATH`).
    pub fn pgbench(&self) -> PathBuf {
        self.tool_path("pgbench")
    }

    /// A client tool beside the server binaries, or the one on `PATH`.
    fn tool_path(&self, tool: &str) -> PathBuf {
        let beside = self.bin.join(tool);
        if beside.exists() {
            beside
        } else {
            PathBuf::from(tool)
        }
    }

    fn tool(&self, tool: &str, args: &[&str]) -> Result<()> {
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
            c
        } else {
            Command::new(self.bin.join(tool))
        };
        let out = command
            .args(args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {tool}"))?;
        if !out.status.success() {
            bail!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.tool(
            "pg_ctl",
            &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A free TCP port on 127.0.0.1 (free when probed).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
