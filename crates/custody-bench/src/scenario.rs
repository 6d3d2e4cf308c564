//! The scenarios, and one run per store: set up, load each scenario at each concurrency, measure
//! its ceiling right after (same machine, same moment), count the database work per request.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use reqwest::Method;
use serde_json::{json, Value};

use crate::api::{expect, Api};
use crate::ceiling::{self, SqliteScript};
use crate::cluster::Cluster;
use crate::custody::{Custody, StoreKind};
use crate::load::{closed_loop, open_loop, Outcome};
use crate::report::{load_average, Fixed, Report, Row, Work};
use crate::{secs, Args};

/// Funding of the source wallet (whole units): far more than any run moves.
const FUNDING: &str = "1000000000";
/// Where withdrawals go (an allow-listed address-book entry of this address).
const DESTINATION: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    Mint,
    Replay,
    Get,
    Transfer,
    Withdraw,
}

impl Scenario {
    /// In run order: withdrawals last (the worker keeps stepping them after their window).
    const ALL: [Scenario; 5] = [
        Scenario::Mint,
        Scenario::Replay,
        Scenario::Get,
        Scenario::Transfer,
        Scenario::Withdraw,
    ];

    fn key(self) -> &'static str {
        match self {
            Scenario::Mint => "mint",
            Scenario::Replay => "replay",
            Scenario::Get => "get",
            Scenario::Transfer => "transfer",
            Scenario::Withdraw => "withdraw",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Scenario::Mint => "Connect mint (new user)",
            Scenario::Replay => "idempotent replay (same key)",
            Scenario::Get => "GET /connect/v1/addresses/{id}",
            Scenario::Transfer => "Platform transfer",
            Scenario::Withdraw => "withdrawal submit",
        }
    }
}

/// What the scenarios need, created through the API before the load.
pub(crate) struct Setup {
    pub(crate) src: String,
    dst: String,
    src_vault: String,
    dst_vault: String,
    entry: String,
    /// The stored answer of the replayed mint, and its address id.
    replay_body: Vec<u8>,
    address: String,
    /// Addresses of as many users, which the GETs by id take in turn: concurrent requests read
    /// different rows, as partners' do (one row read by every connection at once would flatter
    /// the reads' coalescing, which reads each id of a batch once).
    addresses: Vec<String>,
}

/// How many users' addresses the GETs by id spread over.
const GET_SPREAD: usize = 256;

pub(crate) type Op = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

pub(crate) fn operation(
    scenario: Scenario,
    api: Api,
    setup: Arc<Setup>,
    tag: String,
) -> impl Fn(usize, u64) -> Op + Send + Sync + 'static {
    move |worker, n| {
        let (api, setup) = (api.clone(), Arc::clone(&setup));
        let key = format!("{tag}-{worker}-{n}");
        Box::pin(async move {
            match scenario {
                Scenario::Mint => {
                    let body = json!({"asset": "USDT", "network": "ethereum", "external_ref": key});
                    let answer = api
                        .connect(
                            Method::POST,
                            "/connect/v1/addresses",
                            Some(body.to_string()),
                            Some(&key),
                        )
                        .await;
                    expect(answer, 201).map(drop)
                }
                Scenario::Replay => {
                    let answer = api
                        .connect(
                            Method::POST,
                            "/connect/v1/addresses",
                            Some(replay_request()),
                            Some("bench-replay"),
                        )
                        .await;
                    expect(answer, 201).map(drop)
                }
                Scenario::Get => {
                    // Connections interleave over the spread: worker w reads w, w + W, ….
                    let pick = usize::try_from(n)
                        .unwrap_or(0)
                        .wrapping_mul(31)
                        .wrapping_add(worker)
                        % setup.addresses.len().max(1);
                    let address = setup.addresses.get(pick).unwrap_or(&setup.address);
                    let path = format!("/connect/v1/addresses/{address}");
                    expect(api.connect(Method::GET, &path, None, None).await, 200).map(drop)
                }
                Scenario::Transfer => {
                    let body = json!({"sourceWalletId": setup.src, "destinationWalletId": setup.dst,
                                      "amount": "1", "reference": key});
                    let answer = api
                        .platform(
                            Method::POST,
                            "/v1/transactions/transfer",
                            Some(body.to_string()),
                            Some(&key),
                        )
                        .await;
                    expect(answer, 201).map(drop)
                }
                Scenario::Withdraw => {
                    let body = json!({"walletId": setup.src, "addressBookEntryId": setup.entry,
                                      "amount": "1", "reference": key});
                    let answer = api
                        .platform(
                            Method::POST,
                            "/v1/transactions/withdraw",
                            Some(body.to_string()),
                            Some(&key),
                        )
                        .await;
                    expect(answer, 201).map(drop)
                }
            }
        }) as Op
    }
}

fn replay_request() -> String {
    json!({"asset": "USDT", "network": "ethereum", "external_ref": "bench-replay"}).to_string()
}

pub(crate) fn id_of(body: &[u8]) -> Result<String> {
    let value: Value = serde_json::from_slice(body)?;
    value["id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no id in {value}"))
}

/// A Platform vault of `external_id` and its USDT (Ethereum) wallet, through the API (the
/// idempotency keys `{key}-vault` and `{key}-wallet`); returns their ids.
pub(crate) async fn vault_with_usdt_wallet(
    api: &Api,
    external_id: &str,
    key: &str,
) -> Result<(String, String)> {
    let fail = |e: String| anyhow::anyhow!(e);
    let vault = expect(
        api.platform(
            Method::POST,
            "/v1/vaults",
            Some(json!({"externalId": external_id}).to_string()),
            Some(&format!("{key}-vault")),
        )
        .await,
        201,
    )
    .map_err(fail)?;
    let vault = id_of(&vault)?;
    let wallet = expect(
        api.platform(
            Method::POST,
            &format!("/v1/vaults/{vault}/wallets"),
            Some(json!({"assetId": "USDT_ETHEREUM"}).to_string()),
            Some(&format!("{key}-wallet")),
        )
        .await,
        201,
    )
    .map_err(fail)?;
    Ok((vault, id_of(&wallet)?))
}

/// A sandbox deposit of `amount` whole units into `wallet`, settled at once; returns its
/// transaction id.
pub(crate) async fn instant_deposit(
    api: &Api,
    wallet: &str,
    amount: &str,
    key: &str,
) -> Result<String> {
    let body = json!({"walletId": wallet, "amount": amount, "settle": "instant"}).to_string();
    let deposit = expect(
        api.platform(Method::POST, "/v1/sandbox/deposits", Some(body), Some(key))
            .await,
        201,
    )
    .map_err(|e| anyhow::anyhow!("sandbox deposit: {e}"))?;
    id_of(&deposit)
}

pub(crate) async fn setup(api: &Api) -> Result<Setup> {
    let fail = |e: String| anyhow::anyhow!(e);
    let (src_vault, src) = vault_with_usdt_wallet(api, "bench-source", "setup-source").await?;
    let (dst_vault, dst) =
        vault_with_usdt_wallet(api, "bench-destination", "setup-destination").await?;
    instant_deposit(api, &src, FUNDING, "setup-funding").await?;
    let entry = expect(
        api.platform(
            Method::POST,
            "/v1/address-book",
            Some(
                json!({"network": "ethereum", "address": DESTINATION, "label": "bench"})
                    .to_string(),
            ),
            Some("setup-entry"),
        )
        .await,
        201,
    )
    .map_err(fail)?;
    let entry = id_of(&entry)?;
    let started = Instant::now();
    loop {
        let wallet = expect(
            api.platform(Method::GET, &format!("/v1/wallets/{src}"), None, None)
                .await,
            200,
        )
        .map_err(fail)?;
        let wallet: Value = serde_json::from_slice(&wallet)?;
        if wallet["balances"]["available"].as_str() == Some(FUNDING) {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the funding deposit never settled: {wallet}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let replay_body = expect(
        api.connect(
            Method::POST,
            "/connect/v1/addresses",
            Some(replay_request()),
            Some("bench-replay"),
        )
        .await,
        201,
    )
    .map_err(fail)?;
    let address = id_of(&replay_body)?;
    let mut addresses = Vec::with_capacity(GET_SPREAD);
    for user in 0..GET_SPREAD {
        let body = json!({"asset": "USDT", "network": "ethereum",
                          "external_ref": format!("bench-get-{user}")});
        let minted = expect(
            api.connect(
                Method::POST,
                "/connect/v1/addresses",
                Some(body.to_string()),
                Some(&format!("setup-get-{user}")),
            )
            .await,
            201,
        )
        .map_err(fail)?;
        addresses.push(id_of(&minted)?);
    }
    Ok(Setup {
        src,
        dst,
        src_vault,
        dst_vault,
        entry,
        replay_body,
        address,
        addresses,
    })
}

fn selected(args: &Args) -> Result<Vec<Scenario>> {
    if args.scenarios.is_empty() {
        return Ok(Scenario::ALL.to_vec());
    }
    let wanted: Vec<Scenario> = Scenario::ALL
        .into_iter()
        .filter(|s| args.scenarios.iter().any(|w| w == s.key()))
        .collect();
    if wanted.len() != args.scenarios.len() {
        bail!(
            "unknown scenario in {:?} (known: mint, replay, get, transfer, withdraw)",
            args.scenarios
        );
    }
    Ok(wanted)
}

/// Loads `scenario` at `concurrency`; `during` runs at the start and end of the measured
/// window (PostgreSQL's counters).
async fn measure<S>(
    args: &Args,
    scenario: Scenario,
    concurrency: usize,
    api: &Api,
    setup: &Arc<Setup>,
    tag: String,
    mut sample: S,
) -> (Outcome, Option<(Vec<f64>, Vec<f64>, f64)>)
where
    S: FnMut() -> Option<Vec<f64>>,
{
    let op = operation(scenario, api.clone(), Arc::clone(setup), tag);
    let load = tokio::spawn(closed_loop(
        concurrency,
        secs(args.warmup),
        secs(args.duration),
        op,
    ));
    tokio::time::sleep(secs(args.warmup)).await;
    let started = Instant::now();
    let before = sample();
    tokio::time::sleep(secs(args.duration)).await;
    let after = sample();
    let window = started.elapsed().as_secs_f64();
    let outcome = load.await.unwrap_or_else(|e| Outcome {
        requests: 0,
        errors: 1,
        per_sec: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        first_error: Some(format!("the load panicked: {e}")),
    });
    let counters = before.zip(after).map(|(b, a)| (b, a, window));
    let mut outcome = outcome;
    if outcome.requests == 0 {
        // Nothing answered within the window is a failure of the run, not a figure.
        outcome.errors += 1;
        outcome
            .first_error
            .get_or_insert_with(|| "no request was answered within the window".to_owned());
    }
    (outcome, counters)
}

/// `scenario` at a fixed offered rate, `args.fixed_rate` of the closed loop's `closed_rate`,
/// on the first concurrency only (open loop; `None` when switched off).
async fn fixed_rate(
    args: &Args,
    store: &'static str,
    scenario: Scenario,
    concurrency: usize,
    api: &Api,
    setup: &Arc<Setup>,
    closed_rate: f64,
) -> Option<Fixed> {
    if args.fixed_rate <= 0.0 || Some(&concurrency) != args.concurrency.first() {
        return None;
    }
    let offered = (closed_rate * args.fixed_rate).max(1.0);
    let tag = format!("{store}-{}-{concurrency}-rate", scenario.key());
    let op = operation(scenario, api.clone(), Arc::clone(setup), tag);
    let outcome = open_loop(
        concurrency,
        offered,
        secs(args.warmup),
        secs(args.duration),
        op,
    )
    .await;
    let fixed = Fixed {
        store,
        scenario: scenario.title(),
        concurrency,
        offered,
        fraction: args.fixed_rate,
        per_sec: outcome.per_sec,
        p50_ms: outcome.p50_ms,
        p99_ms: outcome.p99_ms,
        errors: outcome.errors + u64::from(outcome.requests == 0),
        load: load_average(),
    };
    eprintln!(
        "  {:<8} {:<34} c={:<3} fixed {:>6.0}/s offered: {:>6.0}/s p50 {:>7.2} ms p99 {:>7.2} ms errors {}",
        store, fixed.scenario, concurrency, offered, fixed.per_sec, fixed.p50_ms, fixed.p99_ms,
        fixed.errors
    );
    if let Some(why) = &outcome.first_error {
        eprintln!("    first error: {why}");
    }
    Some(fixed)
}

fn log_row(row: &Row, outcome: &Outcome) {
    eprintln!(
        "  {:<8} {:<34} c={:<3} {:>8.0}/s p50 {:>7.2} ms p99 {:>7.2} ms errors {} ceiling {}",
        row.store,
        row.scenario,
        row.concurrency,
        row.per_sec,
        row.p50_ms,
        row.p99_ms,
        row.errors,
        row.ceiling
            .map_or("—".to_owned(), |(c, what)| format!("{c:.0}/s ({what})"))
    );
    if let Some(why) = &outcome.first_error {
        eprintln!("    first error: {why}");
    }
}

/// The whole run.
pub async fn run(args: &Args, bin: &Path) -> Result<Report> {
    let scenarios = selected(args)?;
    let mut report = Report {
        settings: format!(
            "{} s measured after {} s warm-up per row; closed loop (each connection sends its \
             next request when answered); PostgreSQL 15 {}; SQLite WAL, synchronous=FULL; \
             rate limits off; ceilings measured right after their row, same clients",
            args.duration,
            args.warmup,
            if args.durable {
                "with its durable defaults (fsync on)"
            } else {
                "with fsync=off, full_page_writes=off (as the tests)"
            }
        ),
        ..Report::default()
    };
    let scratch = tempfile::tempdir()?;
    for store in &args.stores {
        match store.as_str() {
            "postgres" => run_postgres(args, bin, &scenarios, scratch.path(), &mut report).await?,
            "sqlite" => run_sqlite(args, bin, &scenarios, &mut report).await?,
            other => bail!("unknown store {other:?} (postgres, sqlite)"),
        }
    }
    Ok(report)
}

/// Top-level statements, nested statements, COMMITs, next transaction id.
fn pg_counters(cluster: &Cluster) -> Option<Vec<f64>> {
    let line = cluster
        .psql(
            "SELECT coalesce(sum(calls) FILTER (WHERE toplevel AND query !~* \
             '^\\s*(begin|commit|rollback|start|savepoint|release)'), 0), \
             coalesce(sum(calls) FILTER (WHERE NOT toplevel), 0), \
             coalesce(sum(calls) FILTER (WHERE toplevel AND query ~* '^\\s*commit'), 0), \
             pg_snapshot_xmax(pg_current_snapshot())::text::bigint \
             FROM pg_stat_statements WHERE query !~ 'pg_stat_statements'",
        )
        .ok()?;
    line.split('|').map(|n| n.trim().parse().ok()).collect()
}

/// Withdrawals the worker has not finished.
const OPEN_WITHDRAWALS: &str = "SELECT count(*) FROM transactions WHERE kind = 'withdrawal' \
     AND status IN ('submitted', 'pending_signature', 'broadcasting', 'confirming')";

/// Events the webhook worker has not yet delivered or skipped.
const PENDING_EVENTS: &str = "SELECT count(*) FROM events WHERE delivery_state = 'pending'";

/// Waits (at most `limit`) until `open()` says the worker has finished the submitted
/// withdrawals, so their settling does not weigh on the ceiling measured next.
async fn drain<F, Fut>(limit: Duration, mut open: F) -> Result<u64>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64>>,
{
    let started = Instant::now();
    loop {
        let n = open().await?;
        if n == 0 || started.elapsed() > limit {
            return Ok(n);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Wallets of the tenant whose balances differ from their ledger (PostgreSQL).
const PG_LEDGER_CHECK: &str = "SELECT count(*) FROM wallets w WHERE \
     w.available <> coalesce((SELECT sum(delta) FROM ledger_entries l WHERE l.wallet_id = w.id AND l.bucket = 'available'), 0) \
     OR w.pending <> coalesce((SELECT sum(delta) FROM ledger_entries l WHERE l.wallet_id = w.id AND l.bucket = 'pending'), 0) \
     OR w.held <> coalesce((SELECT sum(delta) FROM ledger_entries l WHERE l.wallet_id = w.id AND l.bucket = 'held'), 0)";

/// The users (a vault, two wallets and their addresses each) a PostgreSQL run starts with.
const BASE_USERS: u64 = 10_000;

async fn run_postgres(
    args: &Args,
    bin: &Path,
    scenarios: &[Scenario],
    scratch: &Path,
    report: &mut Report,
) -> Result<()> {
    eprintln!("PostgreSQL: starting a throwaway cluster");
    let cluster = Cluster::start(args.durable)?;
    let custody = Custody::provision(bin, StoreKind::Postgres(cluster.url()))?;
    let server = custody.serve().await?;
    let api = custody.client(&server);
    let setup = Arc::new(setup(&api).await?);
    let base = if args.smoke { 1_000 } else { BASE_USERS };
    let started = Instant::now();
    crate::growth::base_load(&api, &cluster, &custody.tenant, base).await?;
    eprintln!(
        "PostgreSQL: {base} users loaded as the starting data ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    let key_hash = |mode: &str| {
        cluster.psql(&format!(
            "SELECT encode(key_hash, 'hex') FROM api_keys WHERE mode = '{mode}' LIMIT 1"
        ))
    };
    let snapshot = cluster
        .psql("SELECT snapshot::text FROM events WHERE event_type = 'address.created' LIMIT 1")?;
    let body = String::from_utf8_lossy(&setup.replay_body).into_owned();
    let vars = |connect: bool| -> Result<Vec<(&'static str, String)>> {
        Ok(vec![
            ("tenant", custody.tenant.clone()),
            (
                "keyhash",
                key_hash(if connect { "bearer" } else { "hmac" })?,
            ),
            ("keyid", custody.platform_key.clone()),
            ("src", setup.src.clone()),
            ("dst", setup.dst.clone()),
            ("vault", setup.src_vault.clone()),
            ("dvault", setup.dst_vault.clone()),
            ("entry", setup.entry.clone()),
            ("address", setup.address.clone()),
            ("snap", snapshot.clone()),
            ("body", body.clone()),
        ])
    };
    let (bare_base, bare) = ceiling::bare_actix(setup.replay_body.clone())?;
    let bare_api = Api::new(bare_base, String::new(), String::new(), String::new());
    let idle = if args.smoke { 0.5 } else { 1.0 };
    for &scenario in scenarios {
        for &concurrency in &args.concurrency {
            // Planner statistics as a running system has them: autovacuum's first ANALYZE of
            // a table comes up to a minute after its rows do, later than a row of this run, and
            // without statistics a generic plan may take the wrong index (change 26).
            // The webhook worker's backlog of the previous row and ceiling (their events:
            // no endpoint is configured, each is skipped) is worked off first, so a row does
            // not pay for the one before it.
            let left = drain(secs(if args.smoke { 5 } else { 30 }), || async {
                Ok(cluster.psql(PENDING_EVENTS)?.parse()?)
            })
            .await?;
            if left > 0 {
                eprintln!("    events still pending before the row: {left}");
            }
            cluster.psql("ANALYZE")?;
            // The background workers' own statements, per second, while nothing is loaded.
            let idle_before = pg_counters(&cluster);
            let idle_started = Instant::now();
            tokio::time::sleep(Duration::from_secs_f64(idle)).await;
            let idle_after = pg_counters(&cluster);
            let idle_secs = idle_started.elapsed().as_secs_f64();
            let tag = format!("pg-{}-{concurrency}", scenario.key());
            let (outcome, counters) =
                measure(args, scenario, concurrency, &api, &setup, tag, || {
                    pg_counters(&cluster)
                })
                .await;
            let load = load_average();
            let rate = outcome.per_sec;
            if let Some(fixed) =
                fixed_rate(args, "postgres", scenario, concurrency, &api, &setup, rate).await
            {
                report.fixed.push(fixed);
            }
            if scenario == Scenario::Withdraw {
                let left = drain(secs(if args.smoke { 10 } else { 60 }), || async {
                    Ok(cluster.psql(OPEN_WITHDRAWALS)?.parse()?)
                })
                .await?;
                eprintln!("    withdrawals still open before the ceiling: {left}");
            }
            let ceiling = match scenario {
                Scenario::Replay => {
                    let bare = closed_loop(
                        concurrency,
                        secs(args.warmup),
                        secs(args.ceiling_secs()),
                        operation(
                            Scenario::Replay,
                            bare_api.clone(),
                            Arc::clone(&setup),
                            String::new(),
                        ),
                    )
                    .await;
                    (bare.per_sec, "bare actix JSON handler", Some(bare.p99_ms))
                }
                _ => {
                    let (script, what) = match scenario {
                        Scenario::Mint => ("mint_full", "pgbench: same work, one transaction"),
                        Scenario::Get => ("get_by_id", "pgbench: its queries"),
                        Scenario::Transfer => {
                            ("transfer_full", "pgbench: same work, one transaction")
                        }
                        _ => ("withdraw_full", "pgbench: same work, one transaction"),
                    };
                    cluster.psql("ANALYZE")?;
                    let c = ceiling::pgbench(
                        &cluster,
                        scratch,
                        script,
                        concurrency,
                        args.ceiling_secs(),
                        &vars(matches!(scenario, Scenario::Mint | Scenario::Get))?,
                    )?;
                    if c.failed > 0 {
                        bail!("pgbench {script}: {} failed transactions", c.failed);
                    }
                    (c.per_sec, what, c.p99_ms)
                }
            };
            let row = Row {
                store: "postgres",
                scenario: scenario.title(),
                concurrency,
                per_sec: outcome.per_sec,
                p50_ms: outcome.p50_ms,
                p99_ms: outcome.p99_ms,
                errors: outcome.errors,
                ceiling: Some((ceiling.0, ceiling.1)),
                ceiling_p99_ms: ceiling.2,
                load,
            };
            log_row(&row, &outcome);
            report.rows.push(row);
            if let (Some((b, a, window)), Some(ib), Some(ia)) = (counters, idle_before, idle_after)
            {
                let requests = outcome.requests.max(1) as f64;
                let per = |i: usize| {
                    let background = (ia[i] - ib[i]) / idle_secs * window;
                    ((a[i] - b[i]) - background).max(0.0) / requests
                };
                report.work.push(Work {
                    scenario: scenario.title(),
                    concurrency,
                    statements: per(0),
                    nested: per(1),
                    commits: per(2),
                    write_transactions: per(3),
                });
            }
            if scenario == Scenario::Mint {
                let minimal = ceiling::pgbench(
                    &cluster,
                    scratch,
                    "mint_minimal",
                    concurrency,
                    args.ceiling_secs(),
                    &vars(true)?,
                )?;
                report.extra.push(format!(
                    "PostgreSQL minimal mint (advisory lock + one insert-or-get, pgbench) at {concurrency} \
                     connections: {:.0}/s; the API's mint is {:.2} of it.",
                    minimal.per_sec,
                    outcome.per_sec / minimal.per_sec.max(1.0)
                ));
            }
            if scenario == Scenario::Transfer {
                let drift: u64 = cluster.psql(PG_LEDGER_CHECK)?.parse()?;
                report.extra.push(format!(
                    "PostgreSQL after the transfers at {concurrency} connections: {drift} wallets \
                     whose balances differ from their ledger."
                ));
                if drift > 0 {
                    if let Some(row) = report.rows.last_mut() {
                        row.errors += drift;
                    }
                }
            }
        }
    }
    if let Some(kb) = server.rss_kb() {
        report.extra.push(format!(
            "PostgreSQL run: custody serve's resident memory at the end: {} MiB.",
            kb / 1024
        ));
    }
    bare.stop(false).await;
    Ok(())
}

async fn run_sqlite(
    args: &Args,
    bin: &Path,
    scenarios: &[Scenario],
    report: &mut Report,
) -> Result<()> {
    eprintln!("SQLite: provisioning the embedded store");
    let custody = Custody::provision(bin, StoreKind::Sqlite)?;
    let server = custody.serve().await?;
    let api = custody.client(&server);
    let setup = Arc::new(setup(&api).await?);
    let path = custody.sqlite_path();
    let vars = sqlite_vars(&path, &custody, &setup).await?;
    let (bare_base, bare) = ceiling::bare_actix(setup.replay_body.clone())?;
    let bare_api = Api::new(bare_base, String::new(), String::new(), String::new());
    for &scenario in scenarios {
        for &concurrency in &args.concurrency {
            let tag = format!("sq-{}-{concurrency}", scenario.key());
            let (outcome, _) =
                measure(args, scenario, concurrency, &api, &setup, tag, || None).await;
            let load = load_average();
            let rate = outcome.per_sec;
            if let Some(fixed) =
                fixed_rate(args, "sqlite", scenario, concurrency, &api, &setup, rate).await
            {
                report.fixed.push(fixed);
            }
            if scenario == Scenario::Withdraw {
                let left = drain(secs(if args.smoke { 10 } else { 60 }), || async {
                    let mut conn = open_sqlite(&path).await?;
                    let n: i64 = sqlx::query_scalar(OPEN_WITHDRAWALS)
                        .fetch_one(&mut conn)
                        .await?;
                    Ok(u64::try_from(n).unwrap_or(0))
                })
                .await?;
                eprintln!("    withdrawals still open before the ceiling: {left}");
            }
            let ceiling = match scenario {
                Scenario::Replay => {
                    let bare = closed_loop(
                        concurrency,
                        secs(args.warmup),
                        secs(args.ceiling_secs()),
                        operation(
                            Scenario::Replay,
                            bare_api.clone(),
                            Arc::clone(&setup),
                            String::new(),
                        ),
                    )
                    .await;
                    (bare.per_sec, "bare actix JSON handler", Some(bare.p99_ms))
                }
                _ => {
                    let (script, what) = match scenario {
                        Scenario::Mint => (SqliteScript::Mint, "sqlx: same work, one transaction"),
                        Scenario::Get => (SqliteScript::Get, "sqlx: its queries"),
                        Scenario::Transfer => {
                            (SqliteScript::Transfer, "sqlx: same work, one transaction")
                        }
                        _ => (SqliteScript::Withdraw, "sqlx: same work, one transaction"),
                    };
                    let c = ceiling::sqlite(
                        &path,
                        script,
                        concurrency,
                        args.ceiling_secs(),
                        vars.clone(),
                    )
                    .await?;
                    if c.failed > 0 {
                        bail!(
                            "the SQLite ceiling of {}: {} failed",
                            scenario.key(),
                            c.failed
                        );
                    }
                    (c.per_sec, what, c.p99_ms)
                }
            };
            let row = Row {
                store: "sqlite",
                scenario: scenario.title(),
                concurrency,
                per_sec: outcome.per_sec,
                p50_ms: outcome.p50_ms,
                p99_ms: outcome.p99_ms,
                errors: outcome.errors,
                ceiling: Some((ceiling.0, ceiling.1)),
                ceiling_p99_ms: ceiling.2,
                load,
            };
            log_row(&row, &outcome);
            report.rows.push(row);
            if scenario == Scenario::Transfer {
                let drift = sqlite_ledger_drift(&path).await?;
                report.extra.push(format!(
                    "SQLite after the transfers at {concurrency} connections: {drift} wallets \
                     whose balances differ from their ledger."
                ));
                if drift > 0 {
                    if let Some(row) = report.rows.last_mut() {
                        row.errors += drift;
                    }
                }
            }
        }
    }
    if let Some(kb) = server.rss_kb() {
        report.extra.push(format!(
            "SQLite run: custody serve's resident memory at the end: {} MiB.",
            kb / 1024
        ));
    }
    bare.stop(false).await;
    Ok(())
}

async fn open_sqlite(path: &Path) -> Result<sqlx::SqliteConnection> {
    use sqlx::Connection as _;
    Ok(sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?)
}

async fn sqlite_vars(path: &Path, custody: &Custody, setup: &Setup) -> Result<ceiling::SqliteVars> {
    let mut conn = open_sqlite(path).await?;
    let key_hash: Vec<u8> =
        sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE mode = 'bearer' LIMIT 1")
            .fetch_one(&mut conn)
            .await?;
    let snapshot: String = sqlx::query_scalar(
        "SELECT snapshot FROM events WHERE event_type = 'address.created' LIMIT 1",
    )
    .fetch_one(&mut conn)
    .await?;
    Ok(ceiling::SqliteVars {
        tenant: custody.tenant.clone(),
        key_hash,
        address: setup.address.clone(),
        snapshot,
        body: String::from_utf8_lossy(&setup.replay_body).into_owned(),
        src: setup.src.clone(),
        dst: setup.dst.clone(),
        entry: setup.entry.clone(),
        src_vault: setup.src_vault.clone(),
        dst_vault: setup.dst_vault.clone(),
        key_id: custody.platform_key.clone(),
    })
}

async fn sqlite_ledger_drift(path: &Path) -> Result<u64> {
    let mut conn = open_sqlite(path).await?;
    let sum = |bucket: &str| {
        format!(
            "CAST(w.{bucket} AS INTEGER) <> coalesce((SELECT sum(CAST(delta AS INTEGER)) FROM \
             ledger_entries l WHERE l.wallet_id = w.id AND l.bucket = '{bucket}'), 0)"
        )
    };
    let drift: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM wallets w WHERE {} OR {} OR {}",
        sum("available"),
        sum("pending"),
        sum("held")
    ))
    .fetch_one(&mut conn)
    .await?;
    Ok(u64::try_from(drift).unwrap_or(0))
}
