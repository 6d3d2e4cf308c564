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
use crate::{secs, Args};

/// A Crockford-base32 id `PREFIX_01M96000000000` + 12 characters encoding `n` (a valid ULID).
const ID_FUNCTION: &str =
    "CREATE OR REPLACE FUNCTION bench_id(prefix text, n bigint) RETURNS text \
     LANGUAGE sql IMMUTABLE AS $$ SELECT prefix || '_01M96000000000' || string_agg(substr( \
     '0123456789ABCDEFGHJKMNPQRSTVWXYZ', ((n >> (5 * (11 - k))) & 31)::int + 1, 1), '' ORDER BY k) \
     FROM generate_series(0, 11) AS k $$";

/// Inserts users `from..to` (each: a vault, two wallets, two primary addresses).
fn load_users(cluster: &Cluster, tenant: &str, from: u64, to: u64) -> Result<()> {
    let sql = format!(
        "BEGIN; \
         INSERT INTO vaults (id, environment, tenant_id, kind, external_ref, name, metadata, status, version, created_at, updated_at) \
           SELECT bench_id('vlt', u), 'sandbox', '{tenant}', 'customer', 'grow-' || u, 'grow-' || u, '{{}}', 'active', 1, now(), now() \
           FROM generate_series({from}, {to} - 1) AS u; \
         INSERT INTO wallets (id, environment, tenant_id, vault_id, asset_id, label, status, available, pending, held, version, created_at, updated_at) \
           SELECT bench_id('acc', u * 2 + a), 'sandbox', '{tenant}', bench_id('vlt', u), \
                  CASE a WHEN 0 THEN 'USDT_ETHEREUM' ELSE 'USDC_ETHEREUM' END, NULL, 'active', 0, 0, 0, 1, now(), now() \
           FROM generate_series({from}, {to} - 1) AS u, generate_series(0, 1) AS a; \
         INSERT INTO deposit_addresses (id, environment, tenant_id, vault_id, wallet_id, asset_id, network, address, label, is_primary, derivation_index, provider, provider_reference, status, version, created_at, updated_at) \
           SELECT bench_id('ba', u * 2 + a), 'sandbox', '{tenant}', bench_id('vlt', u), bench_id('acc', u * 2 + a), \
                  CASE a WHEN 0 THEN 'USDT_ETHEREUM' ELSE 'USDC_ETHEREUM' END, 'ethereum', \
                  '0xbeef' || lpad(to_hex(u * 2 + a), 36, '0'), NULL, true, 0, 'sandbox', NULL, 'active', 1, now(), now() \
           FROM generate_series({from}, {to} - 1) AS u, generate_series(0, 1) AS a; \
         COMMIT; ANALYZE vaults; ANALYZE wallets; ANALYZE deposit_addresses;"
    );
    cluster.psql(&sql)?;
    Ok(())
}

type Op = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

#[derive(Debug, Clone, Copy)]
enum Probe {
    ByReference,
    TenantBalances,
    List,
    GetById,
    Mint,
}

impl Probe {
    const ALL: [Probe; 5] = [
        Probe::ByReference,
        Probe::TenantBalances,
        Probe::List,
        Probe::GetById,
        Probe::Mint,
    ];

    fn title(self) -> &'static str {
        match self {
            Probe::ByReference => "GET /connect/v1/addresses?external_ref=…",
            Probe::TenantBalances => "GET /connect/v1/balances (tenant-wide)",
            Probe::List => "GET /connect/v1/addresses?limit=10",
            Probe::GetById => "GET /connect/v1/addresses/{id}",
            Probe::Mint => "Connect mint (new user)",
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
        Box::pin(async move {
            let answer = match probe {
                Probe::ByReference => {
                    let path = format!("/connect/v1/addresses?external_ref=grow-{user}");
                    api.connect(Method::GET, &path, None, None).await
                }
                Probe::TenantBalances => {
                    api.connect(Method::GET, "/connect/v1/balances", None, None)
                        .await
                }
                Probe::List => {
                    api.connect(Method::GET, "/connect/v1/addresses?limit=10", None, None)
                        .await
                }
                Probe::GetById => {
                    let path = format!("/connect/v1/addresses/{}", address_id(user * 2));
                    api.connect(Method::GET, &path, None, None).await
                }
                Probe::Mint => {
                    let body = json!({"asset": "USDT", "network": "ethereum", "external_ref": key});
                    let answer = api
                        .connect(
                            Method::POST,
                            "/connect/v1/addresses",
                            Some(body.to_string()),
                            Some(&key),
                        )
                        .await;
                    return expect(answer, 201).map(drop);
                }
            };
            expect(answer, 200).map(drop)
        }) as Op
    }
}

/// The id `bench_id('ba', n)` gives (the same encoding, in Rust).
fn address_id(n: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let tail: String = (0..12)
        .map(|k| ALPHABET[((n >> (5 * (11 - k))) & 31) as usize] as char)
        .collect();
    format!("ba_01M96000000000{tail}")
}

/// The whole `--growth` run; prints its table.
pub async fn run(args: &Args, bin: &std::path::Path) -> Result<String> {
    let sizes: [u64; 2] = if args.smoke {
        [1_000, 10_000]
    } else {
        [10_000, 1_000_000]
    };
    let concurrency = args.concurrency.first().copied().unwrap_or(16);
    eprintln!("growth: starting a throwaway cluster");
    let cluster = Cluster::start(args.durable)?;
    let mut custody = Custody::provision(bin, StoreKind::Postgres(cluster.url()))?;
    custody.set_env("CUSTODY_WORKERS__PURGE_INTERVAL_MS", "1000");
    let server = custody.serve().await?;
    let api = Api::new(
        server.base(),
        custody.connect_key.clone(),
        custody.platform_key.clone(),
        custody.platform_secret.clone(),
    );
    cluster.psql(ID_FUNCTION)?;
    let mut loaded = 0u64;
    let mut results: Vec<(u64, Vec<Outcome>)> = Vec::new();
    for addresses in sizes {
        let users = addresses / 2;
        let started = Instant::now();
        load_users(&cluster, &custody.tenant, loaded, users)?;
        loaded = users;
        eprintln!(
            "growth: {addresses} addresses loaded ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
        let mut outcomes = Vec::new();
        for p in Probe::ALL {
            let outcome = closed_loop(
                concurrency,
                secs(args.warmup),
                secs(args.duration),
                probe(p, api.clone(), users, format!("grow-{addresses}-{p:?}")),
            )
            .await;
            let mut outcome = outcome;
            if outcome.requests == 0 {
                outcome.errors += 1;
            }
            eprintln!(
                "  {addresses:>8} addresses  {:<44} {:>7.0}/s p50 {:>8.2} ms p99 {:>8.2} ms errors {}",
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
    }
    let mut out = format!(
        "Growth on PostgreSQL, {concurrency} connections, {} s per row (p99 ratio = p99 at {} ÷ p99 at {} addresses):\n\n\
         | endpoint | req/s @{} | p99 ms @{} | req/s @{} | p99 ms @{} | p99 ratio | errors |\n|---|---:|---:|---:|---:|---:|---:|\n",
        args.duration, sizes[1], sizes[0], sizes[0], sizes[0], sizes[1], sizes[1]
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
    fn generated_ids_are_ulids_with_the_prefix() {
        let id = address_id(0);
        assert_eq!(id, format!("ba_01M96{}", "0".repeat(21)));
        assert_eq!(address_id(33), format!("ba_01M96{}11", "0".repeat(19)));
        let id = address_id(1_999_999);
        assert_eq!(id.len(), "ba_".len() + 26);
        assert!(id[3..]
            .chars()
            .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)));
        assert_ne!(address_id(2), address_id(3));
    }
}
