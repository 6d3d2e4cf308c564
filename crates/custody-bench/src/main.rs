//! `custody-bench`: end-to-end load against the real `custody serve`, beside the database's
//! own ceiling for the same work, measured in the same run (issue 18). See docs/performance.md.
//!
//! ```text
//! cargo build --release -p custody-http --bin custody -p custody-bench
//! target/release/custody-bench                     # both stores, 16 and 64 connections
//! target/release/custody-bench --smoke             # 1 s per scenario, asserts zero errors
//! target/release/custody-bench --doc docs/performance.md --section before
//! target/release/custody-bench --growth --explain plans.txt   # 10⁴ → 10⁶, with every plan
//! target/release/custody-bench --soak 600 --stores postgres   # 10-minute RSS soak
//! ```

mod api;
mod ceiling;
mod cluster;
mod custody;
mod growth;
mod load;
mod report;
mod scenario;
mod soak;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::Parser;

/// End-to-end benchmark of `custody serve` against its database's ceiling.
#[derive(Debug, Parser)]
#[command(name = "custody-bench")]
pub struct Args {
    /// A short run that checks everything works (2 s per scenario at 4 connections, 1 s per
    /// ceiling), exits non-zero on any error; asserts no timing.
    #[arg(long)]
    pub smoke: bool,
    /// Measured seconds per scenario and concurrency (after the warm-up).
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Warm-up seconds before each measured window (not recorded).
    #[arg(long, default_value_t = 3)]
    pub warmup: u64,
    /// Concurrencies (connections), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,64")]
    pub concurrency: Vec<usize>,
    /// Stores: postgres, sqlite (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "postgres,sqlite")]
    pub stores: Vec<String>,
    /// Scenarios (mint, replay, get, transfer, withdraw), comma-separated; all by default.
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<String>,
    /// After each scenario's closed-loop row at the first concurrency, the same scenario at a
    /// fixed offered rate (open loop), this share of the closed loop's rate; 0 turns it off.
    #[arg(long, default_value_t = 0.5)]
    pub fixed_rate: f64,
    /// PostgreSQL with its durable defaults (fsync on) instead of the test harness's fsync=off.
    #[arg(long)]
    pub durable: bool,
    /// The `custody` binary; default: beside this one (same cargo profile).
    #[arg(long)]
    pub custody_bin: Option<PathBuf>,
    /// Write the tables into this Markdown file's marked section (see --section).
    #[arg(long)]
    pub doc: Option<PathBuf>,
    /// Issue 18's growth checks instead (PostgreSQL, 10⁴ then 10⁶ addresses of one tenant, and
    /// the purge); `--smoke --growth` uses 10³ and 10⁴.
    #[arg(long)]
    pub growth: bool,
    /// With --growth: write `EXPLAIN (ANALYZE, BUFFERS)` of every statement on each probed
    /// endpoint's path (PostgreSQL's `auto_explain`), at each size, into this file.
    #[arg(long)]
    pub explain: Option<PathBuf>,
    /// The RSS soak instead: mixed load (mints, replays, GETs, lists, transfers) on PostgreSQL
    /// for this many seconds, sampling `custody serve`'s resident memory every 10 s (every 2 s
    /// with --smoke); fails when it is not flat (see docs/performance.md, "Soak").
    #[arg(long, value_name = "SECONDS")]
    pub soak: Option<u64>,
    /// The section of --doc to regenerate (`<!-- bench:NAME:begin -->` … `end`).
    #[arg(long, default_value = "latest")]
    pub section: String,
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    if args.smoke {
        args.duration = 2;
        args.warmup = 1;
        args.concurrency = vec![4];
    }
    let bin = match &args.custody_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?
            .parent()
            .context("no directory of custody-bench")?
            .join("custody"),
    };
    if !bin.is_file() {
        bail!(
            "no custody binary at {}: build it with `cargo build --release -p custody-http --bin \
             custody` (or pass --custody-bin)",
            bin.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if let Some(seconds) = args.soak {
        let table = runtime.block_on(soak::run(&args, &bin, seconds))?;
        if let Some(doc) = &args.doc {
            let content = format!("{}\n\n{table}", report::machine());
            report::write_section(doc, &args.section, &content)?;
            println!("wrote section {:?} of {}", args.section, doc.display());
        }
        return Ok(());
    }
    if args.growth {
        let table = runtime.block_on(growth::run(&args, &bin))?;
        if let Some(doc) = &args.doc {
            let content = format!("{}\n\n{table}", report::machine());
            report::write_section(doc, &args.section, &content)?;
            println!("wrote section {:?} of {}", args.section, doc.display());
        }
        return Ok(());
    }
    let report = runtime.block_on(scenario::run(&args, &bin))?;
    let markdown = report.markdown();
    println!("\n{markdown}");
    if let Some(doc) = &args.doc {
        report.write_section(doc, &args.section)?;
        println!("wrote section {:?} of {}", args.section, doc.display());
    }
    let errors: u64 = report.rows.iter().map(|r| r.errors).sum::<u64>()
        + report.fixed.iter().map(|f| f.errors).sum::<u64>();
    if errors > 0 {
        bail!("{errors} errors during the run (see above)");
    }
    Ok(())
}

impl Args {
    /// Seconds each ceiling runs: as long as the measured window (1 s in a smoke run).
    pub fn ceiling_secs(&self) -> u64 {
        if self.smoke {
            1
        } else {
            self.duration
        }
    }
}

/// The wall clock. The benchmark is a client of a real server (signatures carry the real time;
/// the report its date), so, like custody-http's `SystemClock`, this is the one place it is read.
pub mod wall_clock {
    /// Now, UTC.
    #[allow(clippy::disallowed_methods)]
    pub fn now() -> time::OffsetDateTime {
        time::OffsetDateTime::now_utc()
    }
}

/// Seconds as a Duration.
pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
