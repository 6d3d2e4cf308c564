//! A real PostgreSQL for tests: one throwaway cluster per test process, one database per test.
//!
//! - With `DATABASE_URL` unset, the first call starts a cluster from the system's PostgreSQL
//!   binaries (`initdb`, `pg_ctl`, `postgres`, found on `PATH` or under
//!   `/usr/lib/postgresql/<version>/bin`, highest version first) in a temporary directory, on a
//!   free port, with `fsync=off`. As root (which `initdb` refuses), the binaries run as the
//!   `postgres` user. A small watchdog process stops the cluster and removes its directory once
//!   the test process has exited, however it exits.
//! - With `DATABASE_URL` set, that server is used; the role needs `CREATEDB`. Each test's
//!   database is dropped when its [`TestDatabase`] is.
//!
//! If neither is available the call panics and says how to fix it: tests against PostgreSQL
//! never skip silently.
//!
//! Pools are per test (each `#[tokio::test]` runs its own runtime, and a pool is tied to the
//! runtime it was created on); the admin connection that creates databases is a short-lived
//! connection, never a shared pool.
//!
//! ```text
//! let (store, _db) = custody_postgres::testing::fresh_store().await;
//! ```

use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};

use crate::{DatabaseUrl, MasterKey, PgOptions, PgStore};

/// The master key of every test store (tests only; never use a fixed key elsewhere).
pub const TEST_MASTER_KEY: [u8; 32] = [0x42; 32];

const HOW_TO_FIX: &str = "PostgreSQL tests need a server. Either install the PostgreSQL \
     server binaries (Debian/Ubuntu: `apt-get install postgresql`; they are looked for on PATH \
     and under /usr/lib/postgresql/*/bin and /usr/pgsql-*/bin), or set DATABASE_URL to a server where the role may \
     CREATE DATABASE (e.g. DATABASE_URL=postgres://postgres:secret@localhost:5432/postgres).";

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT_DB: AtomicU64 = AtomicU64::new(1);

/// Where test databases are created.
#[derive(Debug)]
struct Server {
    /// A URL of the server's maintenance database, for `CREATE DATABASE`.
    admin: DatabaseUrl,
    /// Whether it is our throwaway cluster (databases are not dropped one by one: the whole
    /// cluster goes at exit) or the user's server (they are).
    throwaway: bool,
}

/// One test's database. On the user's server (`DATABASE_URL`) it is dropped when this is;
/// in the throwaway cluster it lives until the cluster is removed at process exit.
pub struct TestDatabase {
    url: DatabaseUrl,
    name: String,
    drop_on: Option<DatabaseUrl>,
}

impl fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestDatabase")
            .field("url", &self.url)
            .finish()
    }
}

impl TestDatabase {
    /// The database's URL.
    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin) = self.drop_on.take() else {
            return;
        };
        let name = self.name.clone();
        // A thread with its own runtime: `drop` cannot await, and may run inside a runtime.
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(admin.expose()).await {
                    let _ = conn
                        .execute(
                            format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)").as_str(),
                        )
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// A new, empty database (not migrated) on the test server.
///
/// # Panics
/// When no server can be had (see the module docs for the fix), or the database cannot be
/// created.
pub async fn fresh_database() -> TestDatabase {
    let server = match tokio::task::spawn_blocking(server).await {
        Ok(Ok(server)) => server,
        Ok(Err(why)) => panic!("{why}"),
        Err(join) => panic!("starting the test PostgreSQL panicked: {join}"),
    };
    let n = NEXT_DB.fetch_add(1, Ordering::Relaxed);
    let name = if server.throwaway {
        format!("t_{n}")
    } else {
        // Random bits keep two test processes with the same pid (containers) apart.
        let salt = {
            use std::hash::{BuildHasher, Hasher};
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish()
                & 0xffff_ffff
        };
        format!("custody_test_{}_{n}_{salt:08x}", std::process::id())
    };
    let mut admin = PgConnection::connect(server.admin.expose())
        .await
        .unwrap_or_else(|e| panic!("connecting to the test server {}: {e}", server.admin));
    admin
        .execute(format!("CREATE DATABASE \"{name}\"").as_str())
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name} on {}: {e}", server.admin));
    let _ = admin.close().await;
    TestDatabase {
        url: DatabaseUrl::new(with_database(server.admin.expose(), &name)),
        name,
        drop_on: (!server.throwaway).then(|| server.admin.clone()),
    }
}

/// The URL of a new, empty database on the test server, for other crates' integration tests.
/// On a `DATABASE_URL` server the database is left behind; prefer [`fresh_database`] there.
///
/// # Panics
/// As [`fresh_database`].
pub async fn fresh_database_url() -> DatabaseUrl {
    let mut db = fresh_database().await;
    // Nothing to drop later: the caller owns the database from here.
    db.drop_on = None;
    db.url.clone()
}

/// A migrated [`PgStore`] on a new database, and the guard that keeps the database.
///
/// # Panics
/// As [`fresh_database`], or when connecting or migrating fails.
pub async fn fresh_store() -> (PgStore, TestDatabase) {
    let db = fresh_database().await;
    // Small pools: tests run one per core in parallel, and a pool only grows under load (the
    // concurrency checks queue on it, which is fine).
    let options = PgOptions {
        max_connections: 10,
        acquire_timeout: Duration::from_secs(60),
        ..PgOptions::default()
    };
    let store = PgStore::connect(db.url(), MasterKey::from_bytes(TEST_MASTER_KEY), options)
        .await
        .unwrap_or_else(|e| panic!("connecting to {}: {e}", db.url()));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating {}: {e}", db.url()));
    (store, db)
}

/// `url` with its database (the path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = head.split_once("://").unwrap_or(("postgres", head));
    let authority = rest.split('/').next().unwrap_or("");
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// The server, started or found once per process.
fn server() -> Result<&'static Server, String> {
    SERVER
        .get_or_init(|| match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => {
                let admin = DatabaseUrl::new(url.trim());
                if is_postgres_url(admin.expose()) {
                    Ok(Server {
                        admin,
                        throwaway: false,
                    })
                } else {
                    // The server reads DATABASE_URL too (`sqlite://…` selects the embedded
                    // store), so it may well be set to something else in a developer's shell.
                    Err(format!(
                        "DATABASE_URL is set to {admin}, which is not a PostgreSQL URL \
                         (postgres://…). Unset it to let the tests start their own server, or \
                         point it at a PostgreSQL server. {HOW_TO_FIX}"
                    ))
                }
            }
            _ => start_cluster(),
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn is_postgres_url(url: &str) -> bool {
    ["postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.len() >= scheme.len() && url[..scheme.len()].eq_ignore_ascii_case(scheme))
}

/// A directory holding `initdb`, `pg_ctl` and `postgres`: `PATH` first, then the highest
/// version under `/usr/lib/postgresql/<version>/bin` (Debian, Ubuntu) or
/// `/usr/pgsql-<version>/bin` (the PGDG packages for RHEL and Fedora), the places `.ci/run`
/// looks too. Shared with the benchmark's cluster runner (custody-bench), which starts its own
/// cluster with other settings.
pub fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_tools(&dir) {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(Vec<u32>, PathBuf)> = [("/usr/lib/postgresql", ""), ("/usr", "pgsql-")]
        .iter()
        .filter_map(|(parent, prefix)| std::fs::read_dir(parent).ok().map(|dir| (dir, *prefix)))
        .flat_map(|(dir, prefix)| {
            dir.filter_map(Result::ok).filter_map(move |entry| {
                let version = entry
                    .file_name()
                    .to_str()?
                    .strip_prefix(prefix)?
                    .split('.')
                    .map(|part| part.parse::<u32>().ok())
                    .collect::<Option<Vec<u32>>>()?;
                let bin = entry.path().join("bin");
                has_tools(&bin).then_some((version, bin))
            })
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Whether this process runs as root (then `initdb` and `pg_ctl` must run as `postgres`).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .is_some_and(|uid| uid.trim() == "0")
}

fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs PostgreSQL tools, as the `postgres` user when we are root.
struct Runner {
    bin: PathBuf,
    as_postgres: bool,
}

impl Runner {
    /// The argv that runs `tool args…` (as `postgres` when needed).
    fn argv(&self, tool: &str, args: &[String]) -> Vec<String> {
        let mut argv = Vec::new();
        if self.as_postgres {
            argv.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        argv.push(self.bin.join(tool).to_string_lossy().into_owned());
        argv.extend(args.iter().cloned());
        argv
    }

    fn run(&self, tool: &str, args: &[String]) -> Result<(), String> {
        let argv = self.argv(tool, args);
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .stdin(Stdio::null())
            .env("LC_ALL", "C");
        let out = command
            .output()
            .map_err(|e| format!("could not run {}: {e}\n{HOW_TO_FIX}", argv.join(" ")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{}` failed ({}):\n{}{}",
                argv.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }
}

fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port for the test PostgreSQL: {e}"))
}

/// `initdb` + `pg_ctl start` in a fresh temporary directory, plus the watchdog.
fn start_cluster() -> Result<Server, String> {
    let bin = find_bin_dir().ok_or_else(|| {
        format!("DATABASE_URL is not set and no PostgreSQL binaries were found. {HOW_TO_FIX}")
    })?;
    let as_postgres = is_root();
    if as_postgres && !user_exists("postgres") {
        return Err(format!(
            "running as root, so initdb must run as the `postgres` user, which does not exist: \
             create it (`useradd --system --create-home postgres`) or set DATABASE_URL. \
             {HOW_TO_FIX}"
        ));
    }
    let runner = Runner { bin, as_postgres };

    // As root the directory must be reachable by `postgres`: under /tmp, owned by it.
    let parent = if as_postgres {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = tempfile::Builder::new()
        .prefix("custody-pg-")
        .tempdir_in(&parent)
        .map_err(|e| format!("creating a directory for the test PostgreSQL: {e}"))?
        .keep();
    // From here on the watchdog owns the directory's removal, even if the start fails.
    let data = dir.join("data");
    let log = dir.join("postgres.log");
    let dir_s = dir.to_string_lossy().into_owned();
    let data_s = data.to_string_lossy().into_owned();
    spawn_watchdog(&runner, &dir_s, &data_s)?;
    if as_postgres {
        let status = Command::new("chown")
            .args(["postgres:", &dir_s])
            .status()
            .map_err(|e| format!("chown postgres {dir_s}: {e}"))?;
        if !status.success() {
            return Err(format!("chown postgres {dir_s} failed: {status}"));
        }
    }

    runner.run(
        "initdb",
        &[
            "-D",
            &data_s,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        .map(String::from),
    )?;

    // The port is free when probed; another process may take it before the server binds, so
    // a failed start is retried on a new port.
    let mut last_error = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let options = format!(
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c listen_addresses=127.0.0.1 -c unix_socket_directories={dir_s} -p {port} \
             -c max_connections=500 -c shared_buffers=64MB"
        );
        let started = runner.run(
            "pg_ctl",
            &[
                "-D".to_owned(),
                data_s.clone(),
                "-l".to_owned(),
                log.to_string_lossy().into_owned(),
                "-w".to_owned(),
                "-t".to_owned(),
                "60".to_owned(),
                "-o".to_owned(),
                options,
                "start".to_owned(),
            ],
        );
        match started {
            Ok(()) => {
                return Ok(Server {
                    admin: DatabaseUrl::new(format!(
                        "postgres://postgres@127.0.0.1:{port}/postgres"
                    )),
                    throwaway: true,
                })
            }
            Err(e) => {
                let log_text = std::fs::read_to_string(&log).unwrap_or_default();
                last_error = format!("{e}\nserver log:\n{log_text}");
            }
        }
    }
    Err(format!(
        "the test PostgreSQL did not start: {last_error}\n{HOW_TO_FIX}"
    ))
}

/// A detached `sh` loop that waits for this process to end, then stops the cluster
/// (`pg_ctl stop -m immediate`) and removes its directory. It runs in its own process group so
/// a Ctrl-C aimed at the tests does not kill it before it has cleaned up, and with no stdio so
/// it never holds the test runner's pipes open.
// The watchdog is meant to outlive this process; nobody waits for it.
#[allow(clippy::zombie_processes)]
fn spawn_watchdog(runner: &Runner, dir: &str, data: &str) -> Result<(), String> {
    use std::os::unix::process::CommandExt;

    let stop = runner
        .argv(
            "pg_ctl",
            &[
                "-D".to_owned(),
                data.to_owned(),
                "-m".to_owned(),
                "immediate".to_owned(),
                "-w".to_owned(),
                "stop".to_owned(),
            ],
        )
        .iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         if [ -f {pidfile} ]; then {stop}; fi; rm -rf {dir}",
        pid = std::process::id(),
        pidfile = shell_quote(&format!("{data}/postmaster.pid")),
        dir = shell_quote(dir),
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("starting the test PostgreSQL watchdog: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_swapped_in_urls() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/postgres?sslmode=disable", "t_1"),
            "postgres://u:p@h:5432/t_1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t_2"), "postgres://h/t_2");
        assert_eq!(
            with_database("postgresql://u@h/db", "t_3"),
            "postgresql://u@h/t_3"
        );
    }

    #[test]
    fn only_postgres_urls_name_a_test_server() {
        assert!(is_postgres_url("postgres://u@h/db"));
        assert!(is_postgres_url("PostgreSQL://u@h/db"));
        assert!(!is_postgres_url("sqlite://data/custody.db"));
        assert!(!is_postgres_url("sqlite::memory:"));
        assert!(!is_postgres_url("pg"));
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a'b"), r"'a'\''b'");
    }
}
