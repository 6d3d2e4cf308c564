//! `--growth`: issue 18's growth checks on PostgreSQL. One tenant is loaded with 10⁴ and then
//! 10⁶ deposit addresses (straight into the tables with `generate_series`, a realistic spread:
//! one Connect user = one vault with two wallets, USDT and USDC on Ethereum, each with its
//! primary address), and at each size the endpoints whose cost could grow with the tenant are
//! loaded; then the p99 ratios (large ÷ small) are printed. Also checked: the purge pass keeps
//! the idempotency and event tables bounded (expired rows inserted, `workers.purge_interval_ms`
//! short, counted again after a few passes).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use reqwest::Method;
use serde_json::json;

use crate::api::{expect, Api};
use crate::cluster::Cluster;
use crate::custody::{Custody, StoreKind};
use crate::load::{closed_loop, Outcome};
use crate::scenario::{instant_deposit, vault_with_usdt_wallet};
use crate::{secs, Args};

/// A Crockford-base32 id `PREFIX_01M96000000000` + 12 characters encoding `n` (a valid ULID).
const ID_FUNCTION: &str =
    "CREATE OR REPLACE FUNCTION bench_id(prefix text, n bigint) RETURNS text \
     LANGUAGE sql IMMUTABLE AS $$ SELECT prefix || '_01M96000000000' || string_agg(substr( \
     '0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((n >> (5 * (11 - k))) & 31)::int + 1, 1), '' ORDER BY k) \
     FROM generate_series(0, 11) AS k $$";

/// Rows copied from a real request's, so the grown data has the shape the service writes.
struct Template {
    /// A completed sandbox deposit (`settle: "instant"`) into `wallet`.
    transaction: String,
    /// The wallet it credited (a USDT wallet; its balances are copied with the deposit).
    wallet: String,
}

/// Makes the template through the API: a vault, its USDT wallet, a settled sandbox deposit.
async fn template(api: &Api, cluster: &Cluster) -> Result<Template> {
    let (_, wallet) = vault_with_usdt_wallet(api, "grow-template", "grow-template").await?;
    let transaction = instant_deposit(api, &wallet, "1000", "grow-template-deposit").await?;
    let started = Instant::now();
    loop {
        let credited = cluster.psql(&format!(
            "SELECT count(*) FROM wallets WHERE id = '{wallet}' AND available > 0"
        ))?;
        if credited == "1" {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the template deposit {transaction} never settled");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Template {
        transaction,
        wallet,
    })
}

/// The users a PostgreSQL run of the scenarios starts with (`load_users`, vacuumed and
/// analysed), so each row measures a running system's tables and planner statistics: without
/// them a row grows its tables from a handful of rows to thousands on statistics taken at the
/// handful, and generic plans chose other indexes of the same leading columns (change 26).
pub(crate) async fn base_load(
    api: &Api,
    cluster: &Cluster,
    tenant: &str,
    users: u64,
) -> Result<()> {
    cluster.psql(ID_FUNCTION)?;
    let template = template(api, cluster).await?;
    load_users(cluster, tenant, &template, 0, users)
}

/// Inserts users `from..to`: each a vault with two wallets (USDT and USDC on Ethereum) and
/// their primary addresses, like a Connect mint; every fourth user also has a completed deposit
/// into its USDT wallet (the template's transaction, ledger entries and balances); every user
/// two delivered events (the template tenant's first two); every hundredth an address-book
/// entry. The deposits' funds are added to the tenant's maintained total (`asset_totals`) as
/// booking would, spread over the slots, so the tenant-wide balances read consistent data.
fn load_users(
    cluster: &Cluster,
    tenant: &str,
    template: &Template,
    from: u64,
    to: u64,
) -> Result<()> {
    let (tx, tw) = (&template.transaction, &template.wallet);
    let sql = format!(
        "BEGIN; \
         INSERT INTO vaults (id, environment, tenant_id, kind, external_ref, name, metadata, status, version, created_at, updated_at) \
           SELECT bench_id('vlt', u), 'sandbox', '{tenant}', 'customer', 'grow-' || u, 'grow-' || u, '{{}}', 'active', 1, now(), now() \
           FROM generate_series({from}, {to} - 1) AS u; \
         INSERT INTO wallets (id, environment, tenant_id, vault_id, asset_id, label, status, available, pending, held, version, created_at, updated_at) \
           SELECT bench_id('acc', u * 2 + a), 'sandbox', '{tenant}', bench_id('vlt', u), \
                  CASE a WHEN 0 THEN 'USDT_ETHEREUM' ELSE 'USDC_ETHEREUM' END, NULL, 'active', \
                  CASE WHEN a = 0 AND u % 4 = 0 THEN tw.available ELSE 0 END, \
                  CASE WHEN a = 0 AND u % 4 = 0 THEN tw.pending ELSE 0 END, \
                  CASE WHEN a = 0 AND u % 4 = 0 THEN tw.held ELSE 0 END, 1, now(), now() \
           FROM generate_series({from}, {to} - 1) AS u, generate_series(0, 1) AS a, wallets tw WHERE tw.id = '{tw}'; \
         INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, asset_id, network, address, label, is_primary, derivation_index, provider, provider_reference, status, version, created_at, updated_at) \
           SELECT bench_id('ba', u * 2 + a), 'sandbox', '{tenant}', bench_id('vlt', u), bench_id('acc', u * 2 + a), \
                  CASE a WHEN 0 THEN 'USDT_ETHEREUM' ELSE 'USDC_ETHEREUM' END, 'ethereum', \
                  '0xbeef' || lpad(to_hex(u * 2 + a), 36, '0'), NULL, true, 0, 'sandbox', NULL, 'active', 1, now(), now() \
           FROM generate_series({from}, {to} - 1) AS u, generate_series(0, 1) AS a; \
         INSERT INTO transactions (id, environment, tenant_id, kind, status, asset_id, amount, source_wallet_id, destination_wallet_id, \
                  deposit_address_id, address_book_entry_id, destination_network, destination_address, provider_ref, tx_hash, \
                  confirmations_seen, confirmations_required, reference, failure_reason, history, version, created_at, updated_at, poll_attempts) \
           SELECT bench_id('tx', u), t.environment, t.tenant_id, t.kind, t.status, t.asset_id, t.amount, NULL, bench_id('acc', u * 2), \
                  CASE WHEN t.deposit_address_id IS NULL THEN NULL ELSE bench_id('ba', u * 2) END, NULL, t.destination_network, \
                  CASE WHEN t.destination_address IS NULL THEN NULL ELSE '0xbeef' || lpad(to_hex(u * 2), 36, '0') END, \
                  'grow-' || u, t.tx_hash, t.confirmations_seen, t.confirmations_required, t.reference, t.failure_reason, t.history, \
                  t.version, now(), now(), t.poll_attempts \
           FROM transactions t, generate_series({from}, {to} - 1) AS u WHERE t.id = '{tx}' AND u % 4 = 0; \
         INSERT INTO ledger_entries (environment, transaction_id, asset_id, account_kind, wallet_id, bucket, delta, created_at) \
           SELECT l.environment, bench_id('tx', u), l.asset_id, l.account_kind, \
                  CASE WHEN l.wallet_id IS NULL THEN NULL ELSE bench_id('acc', u * 2) END, l.bucket, l.delta, now() \
           FROM ledger_entries l, generate_series({from}, {to} - 1) AS u WHERE l.transaction_id = '{tx}' AND u % 4 = 0; \
         INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, created_at, delivery_state, attempts, delivered_at) \
           SELECT bench_id('evt', (1::bigint << 40) + u * 2 + e.k), 'sandbox', '{tenant}', e.event_type, e.resource_type, bench_id('vlt', u), 1, \
                  e.snapshot, now(), 'delivered', 1, now() \
           FROM (SELECT event_type, resource_type, snapshot, row_number() OVER (ORDER BY log_position) - 1 AS k FROM events \
                 WHERE tenant_id = '{tenant}' AND environment = 'sandbox' ORDER BY log_position LIMIT 2) AS e, \
                generate_series({from}, {to} - 1) AS u; \
         INSERT INTO address_book_entries (id, environment, tenant_id, network, address, label, asset_id, status, version, created_at) \
           SELECT bench_id('abe', u), 'sandbox', '{tenant}', 'ethereum', '0xdead' || lpad(to_hex(u), 36, '0'), 'grow-' || u, NULL, 'active', 1, now() \
           FROM generate_series({from}, {to} - 1) AS u WHERE u % 100 = 0; \
         INSERT INTO asset_totals (tenant_id, environment, asset_id, slot, available) \
           SELECT '{tenant}', 'sandbox', 'USDT_ETHEREUM', u % 16, SUM(tw.available) \
           FROM generate_series({from}, {to} - 1) AS u, wallets tw WHERE tw.id = '{tw}' AND u % 4 = 0 \
           GROUP BY u % 16 \
           ON CONFLICT (tenant_id, environment, asset_id, slot) \
           DO UPDATE SET available = asset_totals.available + excluded.available; \
         COMMIT;"
    );
    cluster.psql(&sql)?;
    // Vacuumed and analysed before measuring: the run measures the steady state, not
    // autovacuum catching up on a bulk load in the background (it processes freshly
    // inserted tables by its insert thresholds). VACUUM cannot run in a transaction block:
    // one command per call.
    for table in [
        "vaults",
        "wallets",
        "asset_totals",
        "deposit_addresses",
        "transactions",
        "ledger_entries",
        "events",
        "address_book_entries",
    ] {
        cluster.psql(&format!("VACUUM (ANALYZE) {table}"))?;
    }
    Ok(())
}

type Op = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// The endpoints whose cost could grow with the tenant. Reads go with the bearer key (every
/// dialect accepts it for reads: docs/platform.md), so repeated GETs need no fresh signature.
#[derive(Debug, Clone, Copy)]
enum Probe {
    ByReference,
    TenantBalances,
    UserBalances,
    List,
    GetById,
    Mint,
    Vaults,
    VaultByExternalId,
    Vault,
    VaultWallets,
    Wallet,
    Transactions,
    TransactionsOfVault,
    TransactionsOfWallet,
    TransactionsCompleted,
    TransactionsFailed,
    Transaction,
    Events,
    AddressBook,
    AccountAddresses,
    AccountBalances,
}

impl Probe {
    const ALL: [Probe; 21] = [
        Probe::ByReference,
        Probe::TenantBalances,
        Probe::UserBalances,
        Probe::List,
        Probe::GetById,
        Probe::Mint,
        Probe::Vaults,
        Probe::VaultByExternalId,
        Probe::Vault,
        Probe::VaultWallets,
        Probe::Wallet,
        Probe::Transactions,
        Probe::TransactionsOfVault,
        Probe::TransactionsOfWallet,
        Probe::TransactionsCompleted,
        Probe::TransactionsFailed,
        Probe::Transaction,
        Probe::Events,
        Probe::AddressBook,
        Probe::AccountAddresses,
        Probe::AccountBalances,
    ];

    fn title(self) -> &'static str {
        match self {
            Probe::ByReference => "GET /connect/v1/addresses?external_ref=…",
            Probe::TenantBalances => "GET /connect/v1/balances (tenant-wide)",
            Probe::UserBalances => "GET /connect/v1/balances/{external_ref}",
            Probe::List => "GET /connect/v1/addresses?limit=10",
            Probe::GetById => "GET /connect/v1/addresses/{id}",
            Probe::Mint => "Connect mint (new user)",
            Probe::Vaults => "GET /v1/vaults?limit=10",
            Probe::VaultByExternalId => "GET /v1/vaults?externalId=…",
            Probe::Vault => "GET /v1/vaults/{id}",
            Probe::VaultWallets => "GET /v1/vaults/{id}/wallets",
            Probe::Wallet => "GET /v1/wallets/{id}",
            Probe::Transactions => "GET /v1/transactions?limit=10",
            Probe::TransactionsOfVault => "GET /v1/transactions?vaultId=…&limit=10",
            Probe::TransactionsOfWallet => "GET /v1/transactions?walletId=…&limit=10",
            Probe::TransactionsCompleted => "GET /v1/transactions?status=Completed&limit=10",
            Probe::TransactionsFailed => "GET /v1/transactions?status=Failed&limit=10 (none)",
            Probe::Transaction => "GET /v1/transactions/{id}",
            Probe::Events => "GET /v1/events?limit=10",
            Probe::AddressBook => "GET /v1/address-book?limit=10",
            Probe::AccountAddresses => "GET /v1/accounts/{id}/blockchain-addresses",
            Probe::AccountBalances => "GET /v1/accounts/{id}/balances",
        }
    }

    /// The GET's path for user `u` (`None`: the mint).
    fn path(self, u: u64) -> Option<String> {
        // Users with a deposit (every fourth).
        let d = u - u % 4;
        let (vault, wallet) = (bench_id("vlt", u), bench_id("acc", u * 2));
        Some(match self {
            Probe::Mint => return None,
            Probe::ByReference => format!("/connect/v1/addresses?external_ref=grow-{u}"),
            Probe::TenantBalances => "/connect/v1/balances".to_owned(),
            Probe::UserBalances => format!("/connect/v1/balances/grow-{u}"),
            Probe::List => "/connect/v1/addresses?limit=10".to_owned(),
            Probe::GetById => format!("/connect/v1/addresses/{}", bench_id("ba", u * 2)),
            Probe::Vaults => "/v1/vaults?limit=10".to_owned(),
            Probe::VaultByExternalId => format!("/v1/vaults?externalId=grow-{u}"),
            Probe::Vault => format!("/v1/vaults/{vault}"),
            Probe::VaultWallets => format!("/v1/vaults/{vault}/wallets"),
            Probe::Wallet => format!("/v1/wallets/{wallet}"),
            Probe::Transactions => "/v1/transactions?limit=10".to_owned(),
            Probe::TransactionsOfVault => {
                format!("/v1/transactions?vaultId={}&limit=10", bench_id("vlt", d))
            }
            Probe::TransactionsOfWallet => {
                format!(
                    "/v1/transactions?walletId={}&limit=10",
                    bench_id("acc", d * 2)
                )
            }
            Probe::TransactionsCompleted => "/v1/transactions?status=Completed&limit=10".to_owned(),
            Probe::TransactionsFailed => "/v1/transactions?status=Failed&limit=10".to_owned(),
            Probe::Transaction => format!("/v1/transactions/{}", bench_id("tx", d)),
            Probe::Events => "/v1/events?limit=10".to_owned(),
            Probe::AddressBook => "/v1/address-book?limit=10".to_owned(),
            Probe::AccountAddresses => format!("/v1/accounts/{wallet}/blockchain-addresses"),
            Probe::AccountBalances => format!("/v1/accounts/{wallet}/balances"),
        })
    }
}

/// One request of `probe` for user `user` (`key`: the mint's idempotency key and reference).
async fn request(probe: Probe, api: &Api, user: u64, key: &str) -> Result<(), String> {
    match probe.path(user) {
        Some(path) => expect(api.connect(Method::GET, &path, None, None).await, 200).map(drop),
        None => {
            let body = json!({"asset": "USDT", "network": "ethereum", "external_ref": key});
            let answer = api
                .connect(
                    Method::POST,
                    "/connect/v1/addresses",
                    Some(body.to_string()),
                    Some(key),
                )
                .await;
            expect(answer, 201).map(drop)
        }
    }
}

fn probe(
    probe: Probe,
    api: Api,
    users: u64,
    tag: String,
) -> impl Fn(usize, u64) -> Op + Send + Sync {
    move |worker, n| {
        let api = api.clone();
        // Spread over the loaded users (a multiplicative hash; deterministic).
        let user = (n
            .wrapping_mul(2_654_435_761)
            .wrapping_add(worker as u64 * 40_503))
            % users;
        let key = format!("{tag}-{worker}-{n}");
        Box::pin(async move { request(probe, &api, user, &key).await }) as Op
    }
}

/// The id `bench_id(prefix, n)` gives (the same encoding, in Rust).
fn bench_id(prefix: &str, n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let tail: String = (0..12)
        .map(|k| ALPHABET[((n >> (5 * (11 - k))) & 31) as usize] as char)
        .collect();
    format!("{prefix}_01M96000000000{tail}")
}

/// Every statement's plan on each probe's path, as PostgreSQL ran it: `auto_explain` (loaded
/// by the cluster, off until now) logs `EXPLAIN (ANALYZE, BUFFERS)` of every statement while
/// each probe is sent 8 times in a row (the server's prepared statements have long passed the
/// five custom plans after which PostgreSQL may switch to a generic one). Returns, per probe,
/// the last plan of each distinct statement text.
async fn explain(cluster: &Cluster, api: &Api, users: u64, label: &str) -> Result<String> {
    // One statement per psql call: `psql -c` runs several in one transaction, which ALTER
    // SYSTEM refuses.
    let set = |on: bool| -> Result<()> {
        let settings: &[&str] = if on {
            &[
                "ALTER SYSTEM SET auto_explain.log_min_duration = 0",
                "ALTER SYSTEM SET auto_explain.log_analyze = on",
                "ALTER SYSTEM SET auto_explain.log_buffers = on",
                "ALTER SYSTEM SET auto_explain.log_timing = off",
            ]
        } else {
            &["ALTER SYSTEM RESET auto_explain.log_min_duration"]
        };
        for sql in settings.iter().chain(&["SELECT pg_reload_conf()"]) {
            cluster.psql(sql)?;
        }
        Ok(())
    };
    let log = cluster.log_path();
    let mut out = format!("## {label}\n");
    set(true)?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for p in Probe::ALL {
        let from = std::fs::metadata(&log)?.len();
        let user = users / 3 + 1;
        for n in 0..8 {
            // The same user each time (the mint: a new one), so the statements repeat.
            let key = format!("explain-{label}-{p:?}-{n}");
            if let Err(e) = request(p, api, user - user % 4, &key).await {
                bail!("explain {}: {e}", p.title());
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let text = std::fs::read(&log)?;
        let text = String::from_utf8_lossy(&text[usize::try_from(from)?..]).into_owned();
        out.push_str(&format!("\n### {}\n", p.title()));
        for (query, plan) in last_plans(&text) {
            out.push_str(&format!("\n{query}\n{plan}"));
        }
    }
    set(false)?;
    Ok(out)
}

/// Splits auto_explain's log into (query text, plan), keeping the last plan of each text, in
/// order of first appearance.
fn last_plans(log: &str) -> Vec<(String, String)> {
    let mut plans: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    let mut flush = |current: &mut Option<(String, String)>| {
        if let Some((query, plan)) = current.take() {
            match plans.iter_mut().find(|(q, _)| *q == query) {
                Some(slot) => slot.1 = plan,
                None => plans.push((query, plan)),
            }
        }
    };
    for line in log.lines() {
        if let Some(rest) = line.split_once("LOG:  duration: ") {
            flush(&mut current);
            current = Some((String::new(), format!("  duration: {}\n", rest.1)));
        } else if let Some(body) = line.strip_prefix('\t') {
            if let Some((query, plan)) = current.as_mut() {
                if let Some(q) = body.strip_prefix("Query Text: ") {
                    *query = q.to_owned();
                } else {
                    plan.push_str("  ");
                    plan.push_str(body);
                    plan.push('\n');
                }
            }
        } else {
            flush(&mut current);
        }
    }
    flush(&mut current);
    plans
}

/// The whole `--growth` run; prints its table (and writes the plans to `--explain`).
pub async fn run(args: &Args, bin: &std::path::Path) -> Result<String> {
    let sizes: [u64; 2] = if args.smoke {
        [1_000, 10_000]
    } else {
        [10_000, 1_000_000]
    };
    let concurrency = args.concurrency.first().copied().unwrap_or(16);
    // A smoke run keeps CI short: 1 s per probe, no warm-up.
    let (warmup, window) = if args.smoke {
        (0, 1)
    } else {
        (args.warmup, args.duration)
    };
    eprintln!("growth: starting a throwaway cluster");
    let cluster = Cluster::start_with(args.durable, &["auto_explain"])?;
    let mut custody = Custody::provision(bin, StoreKind::Postgres(cluster.url()))?;
    custody.set_env("CUSTODY_WORKERS__PURGE_INTERVAL_MS", "1000");
    let server = custody.serve().await?;
    let api = custody.client(&server);
    cluster.psql(ID_FUNCTION)?;
    let template = template(&api, &cluster).await?;
    let mut loaded = 0u64;
    let mut plans = String::new();
    let mut results: Vec<(u64, Vec<Outcome>)> = Vec::new();
    for addresses in sizes {
        let users = addresses / 2;
        let started = Instant::now();
        load_users(&cluster, &custody.tenant, &template, loaded, users)?;
        loaded = users;
        eprintln!(
            "growth: {addresses} addresses loaded ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        let mut outcomes = Vec::new();
        for p in Probe::ALL {
            let mut outcome = closed_loop(
                concurrency,
                secs(warmup),
                secs(window),
                probe(p, api.clone(), users, format!("grow-{addresses}-{p:?}")),
            )
            .await;
            if outcome.requests == 0 {
                outcome.errors += 1;
            }
            eprintln!(
                "  {addresses:>8} addresses  {:<52} {:>7.0}/s p50 {:>8.2} ms p99 {:>8.2} ms errors {}",
                p.title(),
                outcome.per_sec,
                outcome.p50_ms,
                outcome.p99_ms,
                outcome.errors
            );
            if let Some(why) = &outcome.first_error {
                eprintln!("    first error: {why}");
            }
            outcomes.push(outcome);
        }
        results.push((addresses, outcomes));
        if args.explain.is_some() {
            plans.push_str(
                &explain(&cluster, &api, users, &format!("{addresses} addresses")).await?,
            );
        }
    }
    if let Some(path) = &args.explain {
        std::fs::write(path, &plans)?;
        eprintln!("growth: plans written to {}", path.display());
    }
    let mut out = format!(
        "Growth on PostgreSQL, {concurrency} connections, {} s per row (p99 ratio = p99 at {} ÷ p99 at {} addresses; \
         data per user: a vault, two wallets and their addresses; every fourth a completed deposit; two events; \
         every hundredth an address-book entry):\n\n\
         | endpoint | req/s @{} | p99 ms @{} | req/s @{} | p99 ms @{} | p99 ratio | errors |\n|---|---:|---:|---:|---:|---:|---:|\n",
        window, sizes[1], sizes[0], sizes[0], sizes[0], sizes[1], sizes[1]
    );
    let mut errors = 0;
    for (i, p) in Probe::ALL.iter().enumerate() {
        let (small, large) = (&results[0].1[i], &results[1].1[i]);
        errors += small.errors + large.errors;
        out.push_str(&format!(
            "| {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {} |\n",
            p.title(),
            small.per_sec,
            small.p99_ms,
            large.per_sec,
            large.p99_ms,
            large.p99_ms / small.p99_ms.max(0.001),
            small.errors + large.errors
        ));
    }
    // Retention: expired idempotency records and events past retention are purged by serve.
    let rows = if args.smoke { 1_000 } else { 100_000 };
    cluster.psql(&format!(
        "INSERT INTO idempotency_records (environment, tenant_id, key, fingerprint, state, created_at, expires_at) \
           SELECT 'sandbox', '{t}', 'expired-' || n, decode('00', 'hex'), 'in_flight', now() - interval '2 days', now() - interval '1 day' \
           FROM generate_series(1, {rows}) AS n; \
         INSERT INTO events (id, environment, tenant_id, event_type, resource_type, resource_id, resource_version, snapshot, created_at, delivery_state, attempts) \
           SELECT bench_id('evt', n), 'sandbox', '{t}', 'vault.created', 'vault', bench_id('vlt', 0), 1, '{{}}', now() - interval '40 days', 'delivered', 1 \
           FROM generate_series(1, {rows}) AS n;",
        t = custody.tenant
    ))?;
    let count = |sql: &str| -> Result<u64> { Ok(cluster.psql(sql)?.parse()?) };
    let expired_idempotency = "SELECT count(*) FROM idempotency_records WHERE expires_at <= now()";
    let old_events = "SELECT count(*) FROM events WHERE created_at < now() - interval '31 days'";
    let before = (count(expired_idempotency)?, count(old_events)?);
    let waited = Instant::now();
    let mut after = before;
    while waited.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after = (count(expired_idempotency)?, count(old_events)?);
        if after == (0, 0) {
            break;
        }
    }
    out.push_str(&format!(
        "\nRetention (workers.purge_interval_ms = 1000): expired idempotency records {} → {}, \
         events past the 30-day retention {} → {} after {:.0} s.\n",
        before.0,
        after.0,
        before.1,
        after.1,
        waited.elapsed().as_secs_f64()
    ));
    if after != (0, 0) {
        errors += 1;
    }
    if let Some(kb) = server.rss_kb() {
        out.push_str(&format!(
            "custody serve's resident memory at the end: {} MiB.\n",
            kb / 1024
        ));
    }
    println!("\n{out}");
    if errors > 0 {
        bail!("{errors} errors in the growth run (see above)");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_explain_log_is_split_into_the_last_plan_of_each_statement() {
        let log = "2026-12-06 19:00:00 UTC [1] LOG:  duration: 0.050 ms  plan:\n\
                   \tQuery Text: SELECT 1 FROM a WHERE id = $1\n\
                   \tIndex Scan using a_pkey on a  (actual rows=1 loops=1)\n\
                   \t  Buffers: shared hit=3 read=1\n\
                   2026-12-06 19:00:00 UTC [1] LOG:  duration: 0.010 ms  plan:\n\
                   \tQuery Text: SELECT 2\n\
                   \tResult  (actual rows=1 loops=1)\n\
                   2026-12-06 19:00:01 UTC [1] LOG:  duration: 0.020 ms  plan:\n\
                   \tQuery Text: SELECT 1 FROM a WHERE id = $1\n\
                   \tIndex Scan using a_pkey on a  (actual rows=1 loops=1)\n\
                   \t  Buffers: shared hit=4\n\
                   2026-12-06 19:00:01 UTC [1] LOG:  checkpoint starting: time\n";
        let plans = last_plans(log);
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].0, "SELECT 1 FROM a WHERE id = $1");
        assert_eq!(
            plans[0].1,
            "  duration: 0.020 ms  plan:\n  Index Scan using a_pkey on a  (actual rows=1 loops=1)\n    Buffers: shared hit=4\n"
        );
        assert_eq!(plans[1].0, "SELECT 2");
    }

    #[test]
    fn generated_ids_are_ulids_with_the_prefix() {
        let id = bench_id("ba", 0);
        assert_eq!(id, format!("ba_01M96{}", "0".repeat(21)));
        assert_eq!(bench_id("ba", 33), format!("ba_01M96{}11", "0".repeat(19)));
        let id = bench_id("ba", 1_999_999);
        assert_eq!(id.len(), "ba_".len() + 26);
        assert!(id[3..]
            .chars()
            .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)));
        assert_ne!(bench_id("ba", 2), bench_id("ba", 3));
    }
}
