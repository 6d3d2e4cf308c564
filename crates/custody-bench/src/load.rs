//! The closed-loop load generator: N workers, each sending its next request as soon as the
//! previous one is answered, for a warm-up (not recorded) and then a measured window: every
//! request overlapping the window has its latency in an HDR histogram (requests/s = those
//! requests ÷ the window).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// What one measured window gave.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Requests answered inside the window.
    pub requests: u64,
    /// Of those, answers other than the expected one (any unexpected status, a connection
    /// error, a timeout).
    pub errors: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The first unexpected answer, for the log.
    pub first_error: Option<String>,
}

/// Runs `op(worker, sequence)` on `concurrency` workers for `warmup + window`; returns the
/// window's figures. `op` answers `Err(description)` for anything but the expected answer.
pub async fn closed_loop<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    window: Duration,
    op: F,
) -> Outcome
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + window;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let op = Arc::clone(&op);
        workers.push(tokio::spawn(async move {
            let mut histogram = histogram();
            let (mut errors, mut first_error) = (0u64, None);
            let mut sequence = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let answer = op(worker, sequence).await;
                sequence += 1;
                let answered = Instant::now();
                // A request counts when it overlaps the window: answered after the warm-up and
                // sent before the end, however long its answer takes (a slow endpoint is
                // measured, not dropped; at most one request per connection straddles a bound).
                if answered < measure_from {
                    continue;
                }
                let micros = u64::try_from(answered.duration_since(sent).as_micros())
                    .unwrap_or(u64::MAX)
                    .max(1);
                histogram.saturating_record(micros);
                if let Err(why) = answer {
                    errors += 1;
                    first_error.get_or_insert(why);
                }
            }
            (histogram, errors, first_error)
        }));
    }
    let mut total = histogram();
    let (mut errors, mut first_error) = (0u64, None);
    for worker in workers {
        match worker.await {
            Ok((histogram, e, first)) => {
                let _ = total.add(&histogram);
                errors += e;
                if first_error.is_none() {
                    first_error = first;
                }
            }
            Err(panic) => {
                errors += 1;
                first_error.get_or_insert(format!("a load worker panicked: {panic}"));
            }
        }
    }
    let requests = total.len();
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    Outcome {
        requests,
        errors,
        per_sec: requests as f64 / window.as_secs_f64(),
        p50_ms: if requests > 0 { ms(0.50) } else { 0.0 },
        p99_ms: if requests > 0 { ms(0.99) } else { 0.0 },
        first_error,
    }
}

/// Latencies in microseconds, 1 µs .. 5 min, 3 significant digits.
#[allow(clippy::expect_used)] // constant, valid bounds
fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 300_000_000, 3).expect("valid bounds")
}
