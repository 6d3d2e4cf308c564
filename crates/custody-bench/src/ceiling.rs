//! The same-run ceilings: what the database (or a bare HTTP handler) does with the same work
//! and no `custody` in between.
//!
//! - PostgreSQL: `pgbench` with the scripts in `sql/` (the durable work of one request, in one
//!   transaction, on the real schema), at the same number of clients.
//! - SQLite: the scripts in `sql/sqlite/`, through sqlx on the run's own database file with
//!   custody's settings (WAL, `synchronous=FULL`, foreign keys, one writer connection).
//! - The idempotent replay: a bare actix-web JSON handler answering the stored response.

use std::path::Path;
use std::process::Command;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor as _, SqlitePool};

use crate::cluster::Cluster;

/// The PostgreSQL ceiling scripts, by name.
pub const PG_SCRIPTS: &[(&str, &str)] = &[
    ("mint_full", include_str!("../sql/mint_full.sql")),
    ("mint_minimal", include_str!("../sql/mint_minimal.sql")),
    ("get_by_id", include_str!("../sql/get_by_id.sql")),
    ("transfer_full", include_str!("../sql/transfer_full.sql")),
    ("withdraw_full", include_str!("../sql/withdraw_full.sql")),
];

/// A SQLite ceiling script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteScript {
    Mint,
    Get,
    Transfer,
    Withdraw,
}

impl SqliteScript {
    fn text(self) -> &'static str {
        match self {
            SqliteScript::Mint => include_str!("../sql/sqlite/mint_full.sql"),
            SqliteScript::Get => include_str!("../sql/sqlite/get_by_id.sql"),
            SqliteScript::Transfer => include_str!("../sql/sqlite/transfer_full.sql"),
            SqliteScript::Withdraw => include_str!("../sql/sqlite/withdraw_full.sql"),
        }
    }

    fn writes(self) -> bool {
        self != SqliteScript::Get
    }
}

/// What a ceiling run gave.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    pub per_sec: f64,
    pub failed: u64,
    /// The 99th percentile of its transactions' latencies (pgbench's per-transaction log; the
    /// SQLite runner's own clock), milliseconds.
    pub p99_ms: Option<f64>,
}

/// `pgbench -M prepared` with `script` at `clients` clients for `seconds`; `vars` are `-D`.
pub fn pgbench(
    cluster: &Cluster,
    dir: &Path,
    script: &str,
    clients: usize,
    seconds: u64,
    vars: &[(&str, String)],
) -> Result<Ceiling> {
    let body = PG_SCRIPTS
        .iter()
        .find(|(name, _)| *name == script)
        .map(|(_, body)| *body)
        .with_context(|| format!("no pgbench script {script}"))?;
    let file = dir.join(format!("{script}.sql"));
    // pgbench reads one command per line; comment lines are fine.
    std::fs::write(&file, body)?;
    // Each transaction's latency goes to a log of its own (`-l`), read back for the p99.
    let logs = tempfile::tempdir_in(dir)?;
    let prefix = logs.path().join("tx");
    let mut command = Command::new(cluster.pgbench());
    command
        .args(["-n", "-M", "prepared", "-h", "127.0.0.1", "-U", "postgres"])
        .arg("-p")
        .arg(cluster.port.to_string())
        .arg("-c")
        .arg(clients.to_string())
        .arg("-j")
        .arg(clients.min(2).to_string())
        .arg("-T")
        .arg(seconds.to_string())
        .arg("-f")
        .arg(&file)
        .arg("-l")
        .arg(format!("--log-prefix={}", prefix.display()));
    for (name, value) in vars {
        command.arg("-D").arg(format!("{name}={value}"));
    }
    command.arg(crate::cluster::DATABASE);
    let out = command.output().context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "pgbench {script} failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let tps = stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .with_context(|| format!("no tps in pgbench's output: {stdout}"))?;
    let failed = stdout
        .lines()
        .find_map(|l| l.strip_prefix("number of failed transactions: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(Ceiling {
        per_sec: tps,
        failed,
        p99_ms: pgbench_p99(logs.path())?,
    })
}

/// The 99th percentile of the latencies in pgbench's per-transaction logs in `dir` (one file
/// per thread, `client transaction latency_us script epoch_s epoch_us`; failed or skipped
/// transactions, whose latency is not a number, are left out), milliseconds.
fn pgbench_p99(dir: &Path) -> Result<Option<f64>> {
    let mut histogram = crate::load::histogram();
    for entry in std::fs::read_dir(dir)? {
        let text = std::fs::read_to_string(entry?.path())?;
        for micros in text
            .lines()
            .filter_map(|line| line.split_whitespace().nth(2)?.parse::<u64>().ok())
        {
            histogram.saturating_record(micros.max(1));
        }
    }
    Ok((!histogram.is_empty()).then(|| histogram.value_at_quantile(0.99) as f64 / 1000.0))
}

/// custody's SQLite settings on `path`: one writer (WAL, `synchronous=FULL`, foreign keys,
/// `busy_timeout`) and a `query_only` reader pool.
async fn sqlite_pools(path: &Path, readers: u32) -> Result<(SqlitePool, SqlitePool)> {
    let base = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .synchronous(SqliteSynchronous::Full);
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(60))
        .test_before_acquire(false)
        .connect_with(base.clone().journal_mode(SqliteJournalMode::Wal))
        .await?;
    let reader = SqlitePoolOptions::new()
        .max_connections(readers)
        .acquire_timeout(Duration::from_secs(60))
        .test_before_acquire(false)
        .connect_with(base.pragma("query_only", "ON"))
        .await?;
    Ok((writer, reader))
}

/// Values the SQLite scripts bind.
#[derive(Clone)]
pub struct SqliteVars {
    pub tenant: String,
    pub key_hash: Vec<u8>,
    pub address: String,
    pub snapshot: String,
    pub body: String,
    pub src: String,
    pub dst: String,
    pub entry: String,
    pub src_vault: String,
    pub dst_vault: String,
    pub key_id: String,
}

/// A SQLite ceiling: `clients` tasks for `seconds`, each running the script's statements
/// (writes in one `BEGIN IMMEDIATE` on the single writer connection, reads on the readers).
pub async fn sqlite(
    path: &Path,
    script: SqliteScript,
    clients: usize,
    seconds: u64,
    vars: SqliteVars,
) -> Result<Ceiling> {
    let write = script.writes();
    let (writer, reader) = sqlite_pools(path, 4).await?;
    let statements: Arc<Vec<String>> = Arc::new(
        script
            .text()
            .lines()
            .filter(|l| !l.trim_start().starts_with("--") && !l.trim().is_empty())
            .map(str::to_owned)
            .collect(),
    );
    let vars = Arc::new(vars);
    let end = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (pool, statements, vars) = (
            if write {
                writer.clone()
            } else {
                reader.clone()
            },
            Arc::clone(&statements),
            Arc::clone(&vars),
        );
        tasks.push(tokio::spawn(async move {
            let (mut done, mut failed) = (0u64, 0u64);
            let mut latencies = crate::load::histogram();
            let mut n = 0u64;
            while Instant::now() < end {
                n += 1;
                let began = Instant::now();
                let suffix = format!("{client}_{n}_{}", started.elapsed().as_nanos());
                let run = async {
                    let mut conn = pool.acquire().await?;
                    if write {
                        conn.execute("BEGIN IMMEDIATE").await?;
                    }
                    let now = crate::wall_clock::now().unix_timestamp_nanos() / 1000;
                    let now = i64::try_from(now).unwrap_or(i64::MAX);
                    for sql in statements.iter() {
                        let query = sqlx::query(sql)
                            .bind(&vars.tenant)
                            .bind(if write { &suffix } else { &vars.address })
                            .bind(&vars.snapshot)
                            .bind(&vars.body)
                            .bind(&vars.key_hash)
                            .bind(now)
                            .bind(&vars.src)
                            .bind(&vars.dst)
                            .bind(&vars.entry)
                            .bind(&vars.src_vault)
                            .bind(&vars.dst_vault)
                            .bind(&vars.key_id);
                        conn.fetch_all(query).await?;
                    }
                    if write {
                        conn.execute("COMMIT").await?;
                    }
                    Ok::<(), sqlx::Error>(())
                };
                match run.await {
                    Ok(()) => {
                        done += 1;
                        let micros = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX);
                        latencies.saturating_record(micros.max(1));
                    }
                    Err(e) => {
                        failed += 1;
                        if failed == 1 {
                            eprintln!("    SQLite ceiling {script:?}: {e}");
                        }
                    }
                }
            }
            (done, failed, latencies)
        }));
    }
    let (mut done, mut failed) = (0u64, 0u64);
    let mut latencies = crate::load::histogram();
    for task in tasks {
        match task.await {
            Ok((d, f, h)) => {
                done += d;
                failed += f;
                let _ = latencies.add(&h);
            }
            Err(_) => failed += 1,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    writer.close().await;
    reader.close().await;
    Ok(Ceiling {
        per_sec: done as f64 / elapsed,
        failed,
        p99_ms: (!latencies.is_empty()).then(|| latencies.value_at_quantile(0.99) as f64 / 1000.0),
    })
}

/// A bare actix-web server answering `POST /connect/v1/addresses` with `body` (201, JSON):
/// the ceiling of the idempotent replay. Returns its base URL and a handle that stops it.
pub fn bare_actix(body: Vec<u8>) -> Result<(String, actix_web::dev::ServerHandle)> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let port = crate::cluster::free_port()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let system = actix_web::rt::System::new();
        system.block_on(async move {
            let body = web::Data::new(body);
            let server = HttpServer::new(move || {
                App::new().app_data(body.clone()).route(
                    "/connect/v1/addresses",
                    web::post().to(
                        |stored: web::Data<Vec<u8>>, _request: web::Json<serde_json::Value>| async move {
                            HttpResponse::Created()
                                .content_type("application/json")
                                .insert_header(("Idempotency-Replayed", "true"))
                                .body(stored.get_ref().clone())
                        },
                    ),
                )
            })
            .bind(("127.0.0.1", port));
            match server {
                Ok(server) => {
                    let server = server.run();
                    let _ = tx.send(Ok(server.handle()));
                    let _ = server.await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
    });
    let handle = rx.recv().context("the bare actix server thread")??;
    Ok((format!("http://127.0.0.1:{port}"), handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pgbench runs the scripts prepared, and after five executions PostgreSQL may keep a
    /// generic plan. On the same analysed table, the generic plan of the old vault look-up
    /// (`external_ref = 'pgb-' || :client_id || …`) walked the tenant's vaults through
    /// `vaults_list_idx` (13,291 buffers) where `external_ref = $2` took the unique index
    /// (3 buffers): the ceiling must bind values as custody does (change 26). Per-transaction
    /// values are computed by the key look-up's `\gset` and bound plain.
    #[test]
    fn no_ceiling_statement_filters_on_an_expression() {
        let mut filters = 0;
        for (name, body) in PG_SCRIPTS {
            // The statements pgbench prepares (not its meta-commands or comments).
            let statements = body
                .lines()
                .filter(|l| !l.starts_with("--") && !l.starts_with('\\'));
            for line in statements {
                if let Some((_, filter)) = line.split_once(" WHERE ") {
                    filters += 1;
                    assert!(
                        !filter.contains("||") && !filter.to_lowercase().contains("concat("),
                        "{name}: a WHERE clause on an expression: {line}"
                    );
                }
            }
        }
        assert!(filters > 20, "only {filters} WHERE clauses read");
    }

    #[test]
    fn the_ceiling_p99_is_read_from_every_pgbench_log() {
        let dir = tempfile::tempdir().expect("tmp");
        // Two threads' logs: 99 transactions of 1 ms and one of 250 ms in the first, a failed
        // one in the second (not a number: left out), then 100 of 3 ms.
        let mut first = String::new();
        for n in 0..99 {
            first.push_str(&format!("0 {n} 1000 0 1733500000 {n}\n"));
        }
        first.push_str("0 99 250000 0 1733500001 0\n");
        let mut second = String::from("1 0 failed 0 1733500000 0\n");
        for n in 1..=100 {
            second.push_str(&format!("1 {n} 3000 0 1733500000 {n}\n"));
        }
        std::fs::write(dir.path().join("tx.42"), first).expect("write");
        std::fs::write(dir.path().join("tx.42.1"), second).expect("write");
        // 200 latencies: the 99th percentile (the 198th) is 3 ms; the 250 ms one is the 200th.
        let p99 = pgbench_p99(dir.path()).expect("read").expect("some");
        assert!((p99 - 3.0).abs() < 0.01, "{p99}");
        let empty = tempfile::tempdir().expect("tmp");
        assert_eq!(pgbench_p99(empty.path()).expect("read"), None);
    }
}
