//! `--soak SECONDS`: issue 18's "RSS flat over a 10-minute run". `custody serve` takes a mixed
//! closed-loop load for SECONDS (per request, in turn: three Connect mints for new users, an
//! idempotent replay, two GETs by id, a Platform transfer, a Connect list, a Platform
//! transactions list, a wallet read) while its resident memory (`VmRSS` of /proc/PID/status) is
//! sampled every 10 s (2 s in a smoke run). The verdict compares the largest sample of the last
//! minute with the largest of the first minute after a one-minute warm-up (both a fifth of the
//! run when it is shorter than five minutes): flat when the last is at most 10% + 8 MiB above
//! the first. Allocators keep freed pages, caches fill to their bound and pools open their
//! connections during the warm-up; growth beyond that allowance, still rising at the end, is an
//! unbounded structure.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use reqwest::Method;

use crate::api::{expect, Api};
use crate::cluster::Cluster;
use crate::custody::{rss_kb_of, Custody, StoreKind};
use crate::load::closed_loop;
use crate::scenario::{operation, setup, Op, Scenario, Setup};
use crate::Args;

/// Allowed growth of the last minute's peak over the first minute's: this fraction …
const SLACK_RATIO: f64 = 0.10;
/// … plus this many MiB.
const SLACK_MIB: f64 = 8.0;

/// One request of the mix; `n` picks which.
fn mixed(api: Api, setup: Arc<Setup>, tag: String) -> impl Fn(usize, u64) -> Op + Send + Sync {
    let ops: Vec<Box<dyn Fn(usize, u64) -> Op + Send + Sync>> = vec![
        Box::new(operation(
            Scenario::Mint,
            api.clone(),
            Arc::clone(&setup),
            format!("{tag}-mint"),
        )),
        Box::new(operation(
            Scenario::Replay,
            api.clone(),
            Arc::clone(&setup),
            tag.clone(),
        )),
        Box::new(operation(
            Scenario::Get,
            api.clone(),
            Arc::clone(&setup),
            tag.clone(),
        )),
        Box::new(operation(
            Scenario::Transfer,
            api.clone(),
            Arc::clone(&setup),
            format!("{tag}-transfer"),
        )),
    ];
    let get = move |path: String| {
        let api = api.clone();
        Box::pin(
            async move { expect(api.connect(Method::GET, &path, None, None).await, 200).map(drop) },
        ) as Op
    };
    let wallet = format!("/v1/wallets/{}", setup.src);
    move |worker, n| match (n + worker as u64) % 10 {
        0..=2 => ops[0](worker, n),
        3 => ops[1](worker, n),
        4 | 5 => ops[2](worker, n),
        6 => ops[3](worker, n),
        7 => get("/connect/v1/addresses?limit=10".to_owned()),
        8 => get("/v1/transactions?limit=10".to_owned()),
        _ => get(wallet.clone()),
    }
}

/// The verdict on a series of (seconds since start, kB) samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Largest sample in the first window after the warm-up, MiB.
    pub first_mib: f64,
    /// Largest sample in the last window, MiB.
    pub last_mib: f64,
    /// `last_mib` ≤ `first_mib` × (1 + 10%) + 8 MiB.
    pub flat: bool,
}

/// Judges `samples` of a run of `seconds`: warm-up and windows are a minute each, or a fifth of
/// the run when that is shorter. `None` without a sample in either window.
pub fn verdict(samples: &[(f64, u64)], seconds: u64) -> Option<Verdict> {
    let span = (seconds as f64 / 5.0).min(60.0);
    let peak = |from: f64, to: f64| {
        samples
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(_, kb)| *kb as f64 / 1024.0)
            .reduce(f64::max)
    };
    let first_mib = peak(span, 2.0 * span)?;
    let last_mib = peak(seconds as f64 - span, f64::MAX)?;
    Some(Verdict {
        first_mib,
        last_mib,
        flat: last_mib <= first_mib * (1.0 + SLACK_RATIO) + SLACK_MIB,
    })
}

/// The whole `--soak` run on each of `--stores`; returns its Markdown.
pub async fn run(args: &Args, bin: &std::path::Path, seconds: u64) -> Result<String> {
    let concurrency = args.concurrency.first().copied().unwrap_or(16);
    let every = if args.smoke { 2 } else { 10 };
    let span = (seconds as f64 / 5.0).min(60.0);
    let mut out = format!(
        "RSS soak: {seconds} s of mixed load at {concurrency} connections (per 10 requests: 3 Connect mints \
         for new users, 1 idempotent replay, 2 GETs by id, 1 Platform transfer, a Connect list, a Platform \
         transactions list, a wallet read); `custody serve`'s VmRSS every {every} s. Flat = the peak \
         of the last {span:.0} s ≤ the peak of the {span:.0} s after a {span:.0} s warm-up × 1.10 + 8 MiB.\n"
    );
    let mut failures = Vec::new();
    for store in &args.stores {
        let cluster;
        let kind = match store.as_str() {
            "postgres" => {
                cluster = Some(Cluster::start(args.durable)?);
                StoreKind::Postgres(cluster.as_ref().map(Cluster::url).unwrap_or_default())
            }
            "sqlite" => {
                cluster = None;
                StoreKind::Sqlite
            }
            other => bail!("unknown store {other:?} (postgres, sqlite)"),
        };
        let custody = Custody::provision(bin, kind)?;
        let server = custody.serve().await?;
        let api = custody.client(&server);
        let setup = Arc::new(setup(&api).await?);
        eprintln!("soak: {store}, {seconds} s");
        let pid = server.pid();
        let started = Instant::now();
        let load = tokio::spawn(closed_loop(
            concurrency,
            Duration::ZERO,
            Duration::from_secs(seconds),
            mixed(api.clone(), Arc::clone(&setup), format!("soak-{store}")),
        ));
        let mut samples: Vec<(f64, u64)> = Vec::new();
        let mut next = Duration::ZERO;
        while !load.is_finished() {
            if started.elapsed() >= next {
                if let Some(kb) = rss_kb_of(pid) {
                    let t = started.elapsed().as_secs_f64();
                    eprintln!("  {t:>6.0} s  {:>7.1} MiB", kb as f64 / 1024.0);
                    samples.push((t, kb));
                }
                next += Duration::from_secs(every);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let outcome = load.await?;
        if let Some(kb) = rss_kb_of(pid) {
            samples.push((started.elapsed().as_secs_f64(), kb));
        }
        drop(cluster);
        let series: Vec<String> = samples
            .iter()
            .map(|(t, kb)| format!("{t:.0} s: {:.1}", *kb as f64 / 1024.0))
            .collect();
        let verdict = verdict(&samples, seconds);
        out.push_str(&format!(
            "\n**{store}**: {} requests ({:.0}/s, p50 {:.2} ms, p99 {:.2} ms), {} errors.\n\n\
             RSS (MiB) by time: {}.\n\n",
            outcome.requests,
            outcome.per_sec,
            outcome.p50_ms,
            outcome.p99_ms,
            outcome.errors,
            series.join(", ")
        ));
        match &verdict {
            Some(v) => out.push_str(&format!(
                "Verdict: {} (after the warm-up: peak {:.1} MiB; at the end: peak {:.1} MiB; \
                 allowed {:.1} MiB).\n",
                if v.flat { "flat" } else { "GROWING" },
                v.first_mib,
                v.last_mib,
                v.first_mib * (1.0 + SLACK_RATIO) + SLACK_MIB
            )),
            None => out.push_str("Verdict: no samples (not Linux?).\n"),
        }
        if let Some(why) = &outcome.first_error {
            eprintln!("  first error: {why}");
        }
        if outcome.errors > 0 || outcome.requests == 0 {
            failures.push(format!("{store}: {} errors", outcome.errors));
        }
        if verdict.as_ref().is_some_and(|v| !v.flat) {
            failures.push(format!("{store}: RSS grew"));
        }
    }
    println!("\n{out}");
    if !failures.is_empty() {
        bail!("soak failed: {}", failures.join("; "));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plateau_after_the_warm_up_is_flat() {
        // 10 minutes, 10 s apart: rises to 60 MiB in the first minute, then stays within 3 MiB.
        let samples: Vec<(f64, u64)> = (0..=60)
            .map(|i| {
                let t = f64::from(i) * 10.0;
                let mib = if i < 6 { 20 + i * 6 } else { 60 + i % 3 };
                (t, u64::try_from(mib * 1024).unwrap_or(0))
            })
            .collect();
        let v = verdict(&samples, 600).unwrap_or_else(|| panic!("no verdict"));
        assert!(v.flat, "{v:?}");
        assert_eq!(v.first_mib, 62.0);
    }

    #[test]
    fn a_steady_climb_is_not_flat() {
        // +1 MiB every 10 s: 60 MiB more at the end than in the second minute.
        let samples: Vec<(f64, u64)> = (0..=60)
            .map(|i| {
                (
                    f64::from(i) * 10.0,
                    (40 + u64::try_from(i).unwrap_or(0)) * 1024,
                )
            })
            .collect();
        let v = verdict(&samples, 600).unwrap_or_else(|| panic!("no verdict"));
        assert!(!v.flat, "{v:?}");
        assert_eq!((v.first_mib, v.last_mib), (52.0, 100.0));
    }

    #[test]
    fn a_short_run_uses_fifths() {
        let samples = [
            (0.0, 1024),
            (4.0, 2048),
            (8.0, 4096),
            (16.0, 5120),
            (20.0, 5120),
        ];
        let v = verdict(&samples, 20).unwrap_or_else(|| panic!("no verdict"));
        assert_eq!((v.first_mib, v.last_mib), (4.0, 5.0));
        assert!(v.flat);
    }
}
