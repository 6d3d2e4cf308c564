//! The result table: printed, and written into a marked section of docs/performance.md.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result};

/// One scenario at one concurrency.
#[derive(Debug, Clone)]
pub struct Row {
    pub store: &'static str,
    pub scenario: &'static str,
    pub concurrency: usize,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    /// Ceiling per second and what it is; `None` where there is none.
    pub ceiling: Option<(f64, &'static str)>,
    /// The ceiling's own p99 at the same clients, milliseconds.
    pub ceiling_p99_ms: Option<f64>,
    /// Load average (1 min) when the row was measured.
    pub load: f64,
}

/// What the database did per request (PostgreSQL, from `pg_stat_statements`).
#[derive(Debug, Clone)]
pub struct Work {
    pub scenario: &'static str,
    pub concurrency: usize,
    /// Statements the server sent (top level, BEGIN/COMMIT excluded).
    pub statements: f64,
    /// Statements run inside them (foreign-key checks, functions).
    pub nested: f64,
    /// Explicit COMMITs.
    pub commits: f64,
    /// Transactions that wrote (transaction ids assigned: explicit and autocommit writes).
    pub write_transactions: f64,
}

/// One scenario at a fixed offered rate (open loop).
#[derive(Debug, Clone)]
pub struct Fixed {
    pub store: &'static str,
    pub scenario: &'static str,
    pub concurrency: usize,
    /// Requests per second offered, and the share of the closed loop's rate that is.
    pub offered: f64,
    pub fraction: f64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: u64,
    pub load: f64,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub fixed: Vec<Fixed>,
    pub work: Vec<Work>,
    pub extra: Vec<String>,
    pub settings: String,
}

fn ratio(row: &Row) -> String {
    match row.ceiling {
        Some((c, _)) if c > 0.0 => format!("{:.2}", row.per_sec / c),
        _ => "—".to_owned(),
    }
}

impl Report {
    /// The Markdown tables.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", machine());
        let _ = writeln!(out, "Settings: {}\n", self.settings);
        let _ = writeln!(
            out,
            "| store | scenario | conc. | req/s | p50 ms | p99 ms | errors | ceiling /s | ratio | ceiling p99 ms | ceiling is | load |"
        );
        let _ = writeln!(
            out,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
        );
        for row in &self.rows {
            let (ceiling, what) = match row.ceiling {
                Some((c, what)) => (format!("{c:.0}"), what),
                None => ("—".to_owned(), "—"),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {:.1} |",
                row.store,
                row.scenario,
                row.concurrency,
                row.per_sec,
                row.p50_ms,
                row.p99_ms,
                row.errors,
                ceiling,
                ratio(row),
                row.ceiling_p99_ms
                    .map_or("—".to_owned(), |p| format!("{p:.2}")),
                what,
                row.load
            );
        }
        if !self.fixed.is_empty() {
            let _ = writeln!(
                out,
                "\nAt a fixed offered rate (open loop: requests scheduled at the rate whatever the \
                 answers do, each latency from its scheduled time), a share of the same row's \
                 closed-loop rate:\n"
            );
            let _ = writeln!(
                out,
                "| store | scenario | conc. | offered /s | share | answered /s | p50 ms | p99 ms | errors | load |"
            );
            let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
            for f in &self.fixed {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {} | {:.1} |",
                    f.store,
                    f.scenario,
                    f.concurrency,
                    f.offered,
                    f.fraction,
                    f.per_sec,
                    f.p50_ms,
                    f.p99_ms,
                    f.errors,
                    f.load
                );
            }
        }
        if !self.work.is_empty() {
            let _ = writeln!(
                out,
                "\nPer request on PostgreSQL (`pg_stat_statements` and transaction ids, deltas over \
                 the measured window ÷ requests, background workers' idle rate subtracted):\n"
            );
            let _ = writeln!(
                out,
                "| scenario | conc. | statements | nested (FK checks …) | COMMITs | write transactions |"
            );
            let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
            for w in &self.work {
                let _ = writeln!(
                    out,
                    "| {} | {} | {:.1} | {:.1} | {:.2} | {:.2} |",
                    w.scenario,
                    w.concurrency,
                    w.statements,
                    w.nested,
                    w.commits,
                    w.write_transactions
                );
            }
        }
        if !self.extra.is_empty() {
            out.push('\n');
            for line in &self.extra {
                let _ = writeln!(out, "- {line}");
            }
        }
        out
    }

    /// Replaces the section between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->`
    /// in `doc` (appending it, under a heading, when the markers are missing).
    pub fn write_section(&self, doc: &Path, name: &str) -> Result<()> {
        write_section(doc, name, &self.markdown())
    }
}

/// Replaces the marked section `name` of `doc` with `content` (appended when missing).
pub fn write_section(doc: &Path, name: &str, content: &str) -> Result<()> {
    let begin = format!("<!-- bench:{name}:begin -->");
    let end = format!("<!-- bench:{name}:end -->");
    let current = std::fs::read_to_string(doc).unwrap_or_default();
    let section = format!(
        "{begin}\n<!-- Generated by custody-bench (`just bench`); edits inside the markers are \
             overwritten. -->\n\n{content}\n{end}"
    );
    let updated = match (current.find(&begin), current.find(&end)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{section}{}", &current[..b], &current[e + end.len()..])
        }
        _ => format!("{current}\n## Run: {name}\n\n{section}\n"),
    };
    std::fs::write(doc, updated).with_context(|| format!("writing {}", doc.display()))
}

/// The machine and the run: cores, memory, CPU model, date, commit.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or("?".to_owned(), |kb| {
            format!("{:.1} GiB", kb as f64 / 1_048_576.0)
        });
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "?".to_owned());
    let date = crate::wall_clock::now()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    format!(
        "Machine: {cores} cores (`nproc`), {memory}, {cpu}. Date: {date}. Commit: {commit}{}.",
        if dirty { " (with local changes)" } else { "" }
    )
}

/// The 1-minute load average (Linux), 0 elsewhere.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_and_the_prose_around_it_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let doc = dir.path().join("performance.md");
        std::fs::write(
            &doc,
            "# Title\n\nprose before\n\n<!-- bench:before:begin -->\nold table\n<!-- bench:before:end -->\n\nprose after\n",
        )
        .expect("write");
        write_section(&doc, "before", "| new | table |").expect("section");
        let text = std::fs::read_to_string(&doc).expect("read");
        assert!(text.starts_with("# Title\n\nprose before\n\n<!-- bench:before:begin -->"));
        assert!(text.contains("| new | table |"));
        assert!(!text.contains("old table"));
        assert!(text.ends_with("<!-- bench:before:end -->\n\nprose after\n"));
        // Again: still one section.
        write_section(&doc, "before", "| newer |").expect("section");
        let text = std::fs::read_to_string(&doc).expect("read");
        assert_eq!(text.matches("bench:before:begin").count(), 1);
        assert!(text.contains("| newer |") && !text.contains("| new | table |"));
    }

    #[test]
    fn a_missing_section_is_appended() {
        let dir = tempfile::tempdir().expect("tmp");
        let doc = dir.path().join("performance.md");
        std::fs::write(&doc, "# Title\n").expect("write");
        write_section(&doc, "growth", "figures").expect("section");
        let text = std::fs::read_to_string(&doc).expect("read");
        assert!(text.starts_with("# Title\n"));
        assert!(text.contains("<!-- bench:growth:begin -->"));
        assert!(text.contains("figures\n<!-- bench:growth:end -->"));
    }

    #[test]
    fn the_ratio_is_requests_over_the_ceiling() {
        let row = Row {
            store: "postgres",
            scenario: "mint",
            concurrency: 16,
            per_sec: 370.0,
            p50_ms: 1.0,
            p99_ms: 2.0,
            errors: 0,
            ceiling: Some((1850.0, "pgbench")),
            ceiling_p99_ms: None,
            load: 0.0,
        };
        assert_eq!(ratio(&row), "0.20");
        assert_eq!(
            ratio(&Row {
                ceiling: None,
                ..row
            }),
            "—"
        );
    }
}
