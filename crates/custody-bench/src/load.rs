//! The load generators, each over N workers (connections) for a warm-up (not recorded) and
//! then a measured window; every request overlapping the window has its latency in an HDR
//! histogram (requests/s = those requests ÷ the window).
//!
//! - [`closed_loop`]: each worker sends its next request as soon as the previous one is
//!   answered: the most the server answers at that concurrency, and the latency of a queue
//!   that is never empty (by Little's law, mean latency = connections ÷ throughput).
//! - [`open_loop`]: requests are *scheduled* at a fixed rate, spread over the workers, whatever
//!   the answers do; a request's latency runs from its scheduled time, not from when a busy
//!   worker got round to sending it, so a stall is charged to every request it delayed (no
//!   coordinated omission). The latency a client sees at a load the server can carry.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

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
    run(concurrency, warmup, window, None, op).await
}

/// Runs `op(worker, sequence)` scheduled at `rate` requests per second in all, spread evenly
/// over `concurrency` workers (worker `w`'s `k`-th request is due at `(k × concurrency + w) ÷
/// rate` seconds from the start), for `warmup + window`; each latency is measured from the
/// request's due time. A worker that falls behind sends at once, and its lateness is in the
/// latencies. `requests/s` is what was answered, which falls short of `rate` when the server
/// cannot keep up.
pub async fn open_loop<F, Fut>(
    concurrency: usize,
    rate: f64,
    warmup: Duration,
    window: Duration,
    op: F,
) -> Outcome
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    run(concurrency, warmup, window, Some(rate.max(0.001)), op).await
}

async fn run<F, Fut>(
    concurrency: usize,
    warmup: Duration,
    window: Duration,
    rate: Option<f64>,
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
                let sent = match rate {
                    None => Instant::now(),
                    Some(rate) => {
                        let slot = sequence as f64 * concurrency as f64 + worker as f64;
                        let due = start + Duration::from_secs_f64(slot / rate);
                        if due >= end {
                            break;
                        }
                        if Instant::now() < due {
                            // On time: wait for the due time and measure from the wake-up (the
                            // timer's own lateness, up to a millisecond, is the client's, not
                            // the server's).
                            tokio::time::sleep_until(due).await;
                            Instant::now()
                        } else {
                            // Behind, because an earlier answer came late: the wait since the
                            // due time is the server's doing and is charged.
                            due
                        }
                    }
                };
                if sent >= end {
                    break;
                }
                let answer = op(worker, sequence).await;
                sequence += 1;
                let answered = Instant::now();
                // A request counts when it overlaps the window: answered after the warm-up and
                // sent (due) before the end, however long its answer takes (a slow endpoint is
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
pub fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 300_000_000, 3).expect("valid bounds")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An operation that takes `ms` milliseconds, except worker 0's request `stall_at`, which
    /// takes `stall_ms`.
    fn op(
        ms: u64,
        stall_at: u64,
        stall_ms: u64,
    ) -> impl Fn(usize, u64) -> std::pin::Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
           + Send
           + Sync
           + 'static {
        move |worker, n| {
            let took = if worker == 0 && n == stall_at {
                stall_ms
            } else {
                ms
            };
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(took)).await;
                Ok(())
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_loop_sends_at_its_rate_whatever_the_answers_take() {
        // 200/s over 4 workers for 2 s measured: 400 requests, each answered in 2 ms.
        let outcome = open_loop(
            4,
            200.0,
            Duration::from_secs(1),
            Duration::from_secs(2),
            op(2, u64::MAX, 0),
        )
        .await;
        assert!(
            (399..=401).contains(&outcome.requests),
            "{} requests",
            outcome.requests
        );
        assert_eq!(outcome.errors, 0);
        assert!((outcome.per_sec - 200.0).abs() < 1.0, "{}", outcome.per_sec);
        assert!(
            outcome.p99_ms >= 2.0 && outcome.p99_ms < 2.1,
            "{}",
            outcome.p99_ms
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_loop_charges_a_stall_to_every_request_it_delayed() {
        // Worker 0 sends every 20 ms (4 workers at 200/s). Its 300th answer (due 6 s in, inside
        // the window) takes 1 s: the ~50 requests it was due to send meanwhile go out late, and
        // each is charged from its due time. A closed loop records that stall once.
        let open = open_loop(
            4,
            200.0,
            Duration::from_secs(1),
            Duration::from_secs(9),
            op(1, 300, 1000),
        )
        .await;
        let closed = closed_loop(
            4,
            Duration::from_millis(10),
            Duration::from_secs(9),
            op(1, 2000, 1000),
        )
        .await;
        // 1,800 requests, of which about 49 are late by more than 20 ms (1 s down to 20 ms):
        // more than 1 %, so p99 shows the stall.
        assert!(open.requests >= 1795, "{} requests", open.requests);
        assert!(open.p99_ms > 20.0, "open-loop p99 {} ms", open.p99_ms);
        // The closed loop sent about 9,000 requests per worker of 1 ms; the one stall is far
        // below 1 %.
        assert!(closed.p99_ms < 2.0, "closed-loop p99 {} ms", closed.p99_ms);
        assert_eq!(open.errors + closed.errors, 0);
    }
}
