//! Prometheus metrics (issue 16), with the `metrics` facade and `metrics-exporter-prometheus`.
//!
//! The recorder is process-wide ([`recorder`] installs it once): the hooks are plain
//! `metrics::counter!` / `histogram!` calls where things happen (the request middleware,
//! authentication, the rate limiter, idempotency, the [metered provider](MeteredProvider)).
//! Without a recorder (`metrics.enabled = false`, `custody admin`) they cost nothing.
//!
//! The exposition is served by a second actix server on `metrics.listen` (default
//! `127.0.0.1:9464`), never on the partner port: [`serve`]. Each scrape first refreshes the
//! gauges read from the store and the process ([`Collector::collect`]: pool usage, the
//! withdrawal and webhook queues, worker tick ages, each store read bounded by
//! [`COLLECT_TIMEOUT`]), then renders. Every metric, its labels and example alerts:
//! docs/operations.md, "Metrics".

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ::metrics::{
    counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit,
};
use actix_web::dev::Server;
use actix_web::web::{self, Data};
use actix_web::{App, HttpResponse, HttpServer};
use async_trait::async_trait;
use custody_core::asset::AssetId;
use custody_core::chain_address::ChainAddress;
use custody_core::environment::Environment;
use custody_core::ports::{
    CustodyBalance, CustodyProvider, DepositNotice, DynClock, DynCustodyProvider, DynOutboxStore,
    DynTransactionStore, MintRequest, MintedAddress, Notification, ProviderError, ProviderTransfer,
    SimulatedDepositRequest, VerifiedDeposit, WithdrawalRequest,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::readiness::Liveness;
use crate::startup::Store;

/// `[metrics]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `/metrics` (and record anything at all).
    pub enabled: bool,
    /// Where the metrics listener binds: a separate address from `server.listen`.
    pub listen: SocketAddr,
}

impl Default for MetricsSettings {
    fn default() -> MetricsSettings {
        MetricsSettings {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// Each store read of a scrape gives up after this (the scrape still answers, with
/// `custody_store_up 0`).
pub const COLLECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Latency buckets, seconds: from a cached read to a provider call near its timeout.
const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

// The metric names (docs/operations.md lists each with its labels).
pub const HTTP_REQUESTS: &str = "custody_http_requests_total";
pub const HTTP_DURATION: &str = "custody_http_request_duration_seconds";
pub const IDEMPOTENCY_REPLAYS: &str = "custody_idempotency_replays_total";
pub const IDEMPOTENCY_CONFLICTS: &str = "custody_idempotency_conflicts_total";
pub const AUTH_FAILURES: &str = "custody_auth_failures_total";
pub const RATE_LIMITED: &str = "custody_rate_limit_rejections_total";
pub const PROVIDER_CALLS: &str = "custody_provider_calls_total";
pub const PROVIDER_DURATION: &str = "custody_provider_call_duration_seconds";
pub const WITHDRAWALS_OPEN: &str = "custody_withdrawals_open";
pub const WITHDRAWALS_FLAGGED: &str = "custody_withdrawals_flagged";
pub const WITHDRAWALS_OLDEST: &str = "custody_withdrawals_oldest_age_seconds";
pub const WEBHOOKS_PENDING: &str = "custody_webhook_events_pending";
pub const WEBHOOKS_DUE: &str = "custody_webhook_events_due";
pub const WEBHOOKS_LAG: &str = "custody_webhook_delivery_lag_seconds";
pub const POOL_CONNECTIONS: &str = "custody_db_pool_connections";
pub const POOL_MAX: &str = "custody_db_pool_max_connections";
pub const STORE_UP: &str = "custody_store_up";
pub const WORKER_TICK_AGE: &str = "custody_worker_last_tick_age_seconds";
pub const WORKER_STALLED: &str = "custody_worker_stalled";
pub const PROCESS_START: &str = "custody_process_start_time_seconds";
pub const PROCESS_UPTIME: &str = "custody_process_uptime_seconds";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static STARTED: OnceLock<(Instant, OffsetDateTime)> = OnceLock::new();

/// The process-wide Prometheus recorder, installed on the first call (later calls, e.g. a
/// second server in the same test process, share it). `None` if another recorder was
/// installed first.
pub fn recorder() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            STARTED.get_or_init(|| {
                (
                    Instant::now(),
                    custody_core::ports::Clock::now(&crate::system::SystemClock),
                )
            });
            let builder = match PrometheusBuilder::new().set_buckets(BUCKETS) {
                Ok(builder) => builder,
                Err(e) => {
                    tracing::error!(error = %e, "metrics buckets refused");
                    return None;
                }
            };
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    start_upkeep(handle.clone());
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "metrics recorder not installed");
                    None
                }
            }
        })
        .clone()
}

/// How often the recorder's upkeep runs (`start_upkeep`).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The name of the upkeep thread.
pub const UPKEEP_THREAD: &str = "metrics-upkeep";

/// Drains the recorder's histogram samples into their buckets every [`UPKEEP_INTERVAL`], on a
/// thread of its own for the life of the process (the recorder is process-wide too).
///
/// `install_recorder` does not spawn the exporter's upkeep task: until drained, every
/// recorded latency stays in the histogram's sample queue (a few bytes per request, kept
/// forever when nothing scrapes `/metrics`, as in the benchmark's soak). A scrape still
/// drains first, so what it renders is complete.
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name(UPKEEP_THREAD.to_owned())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "metrics upkeep thread not started");
    }
}

fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, route pattern and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency, by method, route pattern and status"
    );
    describe_counter!(
        IDEMPOTENCY_REPLAYS,
        "Requests answered from a stored idempotent response"
    );
    describe_counter!(IDEMPOTENCY_CONFLICTS, "Idempotency-Key reuses refused: in_flight (409 idempotency_key_in_flight) or different_request (409 idempotency_conflict)");
    describe_counter!(
        AUTH_FAILURES,
        "Authentication failures (401, or 503 when the key store is down), by reason"
    );
    describe_counter!(RATE_LIMITED, "Requests refused with 429, by scope: key, tenant (rate limits) or client_address (body-carrying requests in flight)");
    describe_counter!(
        PROVIDER_CALLS,
        "Custody provider calls, by provider, operation and outcome (ok or the error code)"
    );
    describe_histogram!(
        PROVIDER_DURATION,
        Unit::Seconds,
        "Custody provider call latency, by provider and operation"
    );
    describe_gauge!(WITHDRAWALS_OPEN, "Open withdrawals by environment and status: submitted awaits hand-over, the others are in flight at the provider");
    describe_gauge!(WITHDRAWALS_FLAGGED, "Open withdrawals flagged for an operator (custody admin withdrawals stuck), by environment and status");
    describe_gauge!(
        WITHDRAWALS_OLDEST,
        Unit::Seconds,
        "Age of the oldest last status change among open withdrawals, by environment and status"
    );
    describe_gauge!(
        WEBHOOKS_PENDING,
        "Events not yet delivered (due, waiting for a retry, or in flight), by environment"
    );
    describe_gauge!(
        WEBHOOKS_DUE,
        "Events due now and unclaimed, waiting for a delivery worker, by environment"
    );
    describe_gauge!(
        WEBHOOKS_LAG,
        Unit::Seconds,
        "How long the longest-waiting due event has been due, by environment"
    );
    describe_gauge!(
        POOL_CONNECTIONS,
        "Database pool connections by pool and state (idle, in_use)"
    );
    describe_gauge!(POOL_MAX, "The most connections a database pool opens");
    describe_gauge!(
        STORE_UP,
        "1 when the last scrape's store reads succeeded, 0 otherwise"
    );
    describe_gauge!(
        WORKER_TICK_AGE,
        Unit::Seconds,
        "Seconds since a background worker's last pass, by worker"
    );
    describe_gauge!(
        WORKER_STALLED,
        "1 when a worker has not ticked within its bound (/readyz answers 503), by worker"
    );
    describe_gauge!(
        PROCESS_START,
        Unit::Seconds,
        "Start time of the process, Unix seconds"
    );
    describe_gauge!(
        PROCESS_UPTIME,
        Unit::Seconds,
        "Seconds since the process started"
    );
}

/// The `method` label: the standard methods by name, anything else `other` (a client choosing
/// arbitrary methods must not grow the series).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// One answered request (the request middleware).
pub fn record_request(method: &'static str, route: String, status: u16, elapsed: Duration) {
    let status = status.to_string();
    counter!(HTTP_REQUESTS, "method" => method, "route" => route.clone(), "status" => status.clone())
        .increment(1);
    histogram!(HTTP_DURATION, "method" => method, "route" => route, "status" => status)
        .record(elapsed.as_secs_f64());
}

/// An authentication failure; `reason` is one of the core's fixed reasons, in snake case.
pub fn record_auth_failure(reason: &str) {
    let label: String = reason
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    counter!(AUTH_FAILURES, "reason" => label).increment(1);
}

/// A 429 of the rate limiter (`key`, `tenant`) or of the in-flight bound (`client_address`).
pub fn record_rate_limited(scope: &'static str) {
    counter!(RATE_LIMITED, "scope" => scope).increment(1);
}

/// An idempotent replay.
pub fn record_replay(environment: Environment) {
    counter!(IDEMPOTENCY_REPLAYS, "environment" => environment.as_str()).increment(1);
}

/// A refused key reuse: `in_flight` or `different_request`.
pub fn record_conflict(environment: Environment, reason: &'static str) {
    counter!(IDEMPOTENCY_CONFLICTS, "environment" => environment.as_str(), "reason" => reason)
        .increment(1);
}

/// The custody provider port around a provider, counting and timing every call by provider,
/// operation and outcome. The composition root wraps each live provider in it
/// ([`crate::providers`]); the core never sees it.
pub struct MeteredProvider {
    inner: DynCustodyProvider,
}

impl MeteredProvider {
    /// Meters `inner`.
    pub fn wrap(inner: DynCustodyProvider) -> DynCustodyProvider {
        Arc::new(MeteredProvider { inner })
    }

    fn observe<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: &Result<T, ProviderError>,
    ) {
        let provider = self.inner.name();
        let outcome = match result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        counter!(PROVIDER_CALLS, "provider" => provider, "operation" => operation, "outcome" => outcome)
            .increment(1);
        histogram!(PROVIDER_DURATION, "provider" => provider, "operation" => operation)
            .record(started.elapsed().as_secs_f64());
    }
}

#[async_trait]
impl CustodyProvider for MeteredProvider {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn serves(&self, asset: AssetId) -> Result<(), ProviderError> {
        self.inner.serves(asset)
    }

    fn can_withdraw(&self, asset: AssetId) -> Result<(), ProviderError> {
        self.inner.can_withdraw(asset)
    }

    async fn mint_address(&self, request: &MintRequest) -> Result<MintedAddress, ProviderError> {
        let started = Instant::now();
        let result = self.inner.mint_address(request).await;
        self.observe("mint_address", started, &result);
        result
    }

    async fn submit_withdrawal(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        let started = Instant::now();
        let result = self.inner.submit_withdrawal(request).await;
        self.observe("submit_withdrawal", started, &result);
        result
    }

    async fn withdrawal_status(
        &self,
        request: &WithdrawalRequest,
    ) -> Result<ProviderTransfer, ProviderError> {
        let started = Instant::now();
        let result = self.inner.withdrawal_status(request).await;
        self.observe("withdrawal_status", started, &result);
        result
    }

    async fn deposit_status(
        &self,
        provider_ref: &str,
        asset: AssetId,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let started = Instant::now();
        let result = self.inner.deposit_status(provider_ref, asset).await;
        self.observe("deposit_status", started, &result);
        result
    }

    async fn simulate_deposit(
        &self,
        request: &SimulatedDepositRequest,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let started = Instant::now();
        let result = self.inner.simulate_deposit(request).await;
        self.observe("simulate_deposit", started, &result);
        result
    }

    async fn recent_deposits(
        &self,
        assets: &[AssetId],
        since: OffsetDateTime,
    ) -> Result<Vec<Result<Notification, ProviderError>>, ProviderError> {
        let started = Instant::now();
        let result = self.inner.recent_deposits(assets, since).await;
        self.observe("recent_deposits", started, &result);
        result
    }

    async fn custody_balance(&self, asset: AssetId) -> Result<CustodyBalance, ProviderError> {
        let started = Instant::now();
        let result = self.inner.custody_balance(asset).await;
        self.observe("custody_balance", started, &result);
        result
    }

    fn forwards_to(&self, address: &ChainAddress) -> bool {
        self.inner.forwards_to(address)
    }

    fn lists_deposits_per_address(&self, asset: AssetId) -> bool {
        self.inner.lists_deposits_per_address(asset)
    }

    async fn recent_deposits_at(
        &self,
        asset: AssetId,
        addresses: &[ChainAddress],
        since: OffsetDateTime,
    ) -> Result<Vec<Result<VerifiedDeposit, ProviderError>>, ProviderError> {
        let started = Instant::now();
        let result = self.inner.recent_deposits_at(asset, addresses, since).await;
        self.observe("recent_deposits_at", started, &result);
        result
    }

    async fn verify_notification(
        &self,
        notice: &DepositNotice,
    ) -> Result<Notification, ProviderError> {
        let started = Instant::now();
        let result = self.inner.verify_notification(notice).await;
        self.observe("verify_notification", started, &result);
        result
    }

    async fn verify_deposit(
        &self,
        notice: &DepositNotice,
    ) -> Result<VerifiedDeposit, ProviderError> {
        let started = Instant::now();
        let result = self.inner.verify_deposit(notice).await;
        self.observe("verify_deposit", started, &result);
        result
    }
}

/// What a scrape reads besides the recorder: the store (pools, queues), the worker ticks.
pub struct Collector {
    store: Store,
    queues: Vec<(Environment, DynTransactionStore, DynOutboxStore)>,
    liveness: Liveness,
    clock: DynClock,
}

impl Collector {
    /// A collector over `store`.
    pub fn new(store: Store, liveness: Liveness, clock: DynClock) -> Collector {
        let queues = [Environment::Sandbox, Environment::Live]
            .into_iter()
            .map(|env| {
                let stores = store.environment(env);
                (env, stores.transactions, stores.outbox)
            })
            .collect();
        Collector {
            store,
            queues,
            liveness,
            clock,
        }
    }

    /// Refreshes every gauge: pool usage, the withdrawal and webhook queues (two aggregate
    /// queries per environment, each bounded by [`COLLECT_TIMEOUT`]), worker tick ages and
    /// process uptime.
    pub async fn collect(&self) {
        for pool in self.store.pool_usage() {
            gauge!(POOL_CONNECTIONS, "pool" => pool.pool, "state" => "idle")
                .set(f64::from(pool.idle));
            gauge!(POOL_CONNECTIONS, "pool" => pool.pool, "state" => "in_use")
                .set(f64::from(pool.in_use()));
            gauge!(POOL_MAX, "pool" => pool.pool).set(f64::from(pool.max));
        }
        let now = self.clock.now();
        let age = |at: OffsetDateTime| (now - at).as_seconds_f64().max(0.0);
        let mut up = true;
        for (env, transactions, outbox) in &self.queues {
            let environment = env.as_str();
            match tokio::time::timeout(COLLECT_TIMEOUT, transactions.withdrawal_queue()).await {
                Ok(Ok(queue)) => {
                    for status in custody_sql::names::OPEN_WITHDRAWAL_STATUSES {
                        let row = queue
                            .iter()
                            .find(|q| custody_sql::names::transaction_status(q.status) == status);
                        let (count, flagged, oldest) =
                            row.map_or((0, 0, 0.0), |q| (q.count, q.flagged, age(q.oldest_change)));
                        #[allow(clippy::cast_precision_loss)]
                        {
                            gauge!(WITHDRAWALS_OPEN, "environment" => environment, "status" => status)
                                .set(count as f64);
                            gauge!(WITHDRAWALS_FLAGGED, "environment" => environment, "status" => status)
                                .set(flagged as f64);
                        }
                        gauge!(WITHDRAWALS_OLDEST, "environment" => environment, "status" => status)
                            .set(oldest);
                    }
                }
                Ok(Err(e)) => {
                    up = false;
                    tracing::warn!(environment, error = %e, "metrics: withdrawal queue unreadable");
                }
                Err(_) => {
                    up = false;
                    tracing::warn!(environment, "metrics: withdrawal queue read timed out");
                }
            }
            match tokio::time::timeout(COLLECT_TIMEOUT, outbox.backlog(now)).await {
                Ok(Ok(backlog)) => {
                    #[allow(clippy::cast_precision_loss)]
                    {
                        gauge!(WEBHOOKS_PENDING, "environment" => environment)
                            .set(backlog.pending as f64);
                        gauge!(WEBHOOKS_DUE, "environment" => environment).set(backlog.due as f64);
                    }
                    gauge!(WEBHOOKS_LAG, "environment" => environment)
                        .set(backlog.oldest_due_at.map_or(0.0, age));
                }
                Ok(Err(e)) => {
                    up = false;
                    tracing::warn!(environment, error = %e, "metrics: webhook backlog unreadable");
                }
                Err(_) => {
                    up = false;
                    tracing::warn!(environment, "metrics: webhook backlog read timed out");
                }
            }
        }
        gauge!(STORE_UP).set(if up { 1.0 } else { 0.0 });
        for worker in self.liveness.report() {
            gauge!(WORKER_TICK_AGE, "worker" => worker.name.clone())
                .set(worker.last_tick_age.as_secs_f64());
            gauge!(WORKER_STALLED, "worker" => worker.name.clone()).set(if worker.alive() {
                0.0
            } else {
                1.0
            });
        }
        if let Some((started, at)) = STARTED.get() {
            #[allow(clippy::cast_precision_loss)]
            gauge!(PROCESS_START).set(at.unix_timestamp() as f64);
            gauge!(PROCESS_UPTIME).set(started.elapsed().as_secs_f64());
        }
    }
}

struct Exposition {
    handle: PrometheusHandle,
    collector: Collector,
}

async fn scrape(exposition: Data<Exposition>) -> HttpResponse {
    exposition.collector.collect().await;
    exposition.handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(exposition.handle.render())
}

/// The metrics server on `listener`: `GET /metrics` renders the exposition, anything else is
/// 404. One worker thread, no signal handling of its own (the partner server's shutdown stops
/// it).
///
/// # Errors
/// The listener cannot be used.
pub fn serve(
    listener: TcpListener,
    handle: PrometheusHandle,
    collector: Collector,
) -> anyhow::Result<Server> {
    let exposition = Data::new(Exposition { handle, collector });
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(exposition.clone())
            .route("/metrics", web::get().to(scrape))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

#[cfg(test)]
mod tests {
    use super::*;
    use custody_core::amount::Amount;
    use custody_core::asset::{AssetSymbol, Network};
    use custody_core::ports::MockCustodyProvider;

    /// Without an upkeep, every recorded latency is kept until a scrape drains it: memory
    /// growing with the requests served when nothing scrapes. Installing the recorder starts
    /// the draining thread (found by name among the process's threads).
    #[test]
    fn the_recorder_starts_its_upkeep() {
        assert!(recorder().is_some(), "the recorder is installed");
        let upkeep_threads = || {
            std::fs::read_dir("/proc/self/task")
                .expect("the process's threads")
                .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
                .filter(|name| name.trim_end() == UPKEEP_THREAD)
                .count()
        };
        // A new thread names itself once it first runs: on a busy machine that can come after
        // `recorder()` returns, so wait (up to 10 s) for the name to show.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut threads = upkeep_threads();
        while threads == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            threads = upkeep_threads();
        }
        assert!(recorder().is_some(), "asked again");
        assert_eq!(
            upkeep_threads(),
            threads,
            "no second thread when asked again"
        );
        assert_eq!(
            threads, 1,
            "one upkeep thread, however often recorder() is called"
        );
    }

    /// The decorator must pass every port method on: a method it forgets falls back to the
    /// port's default ("unsupported", "no"), which would silently switch off live reconciliation
    /// or provider balance checks behind the metrics. Each expectation below is `times(1)` on
    /// the inner provider, and each answer must come back through the wrapper unchanged.
    #[tokio::test]
    async fn the_metered_provider_forwards_every_optional_method() {
        let asset = AssetId::new(AssetSymbol::Usdt, Network::Ethereum).expect("asset");
        let address = ChainAddress::parse(
            Network::Ethereum,
            "0x00000000000000000000000000000000000000aa",
        )
        .expect("address");
        let mut inner = MockCustodyProvider::new();
        inner.expect_name().return_const("inner");
        inner
            .expect_custody_balance()
            .times(1)
            .returning(move |asset| {
                Ok(CustodyBalance {
                    asset,
                    balance: Amount::from_base_units(42),
                    source: "inner".into(),
                })
            });
        inner.expect_forwards_to().times(1).return_const(true);
        inner
            .expect_lists_deposits_per_address()
            .times(1)
            .return_const(true);
        inner
            .expect_recent_deposits_at()
            .times(1)
            .returning(|_, _, _| Ok(vec![Err(ProviderError::Unavailable("one".into()))]));
        inner
            .expect_recent_deposits()
            .times(1)
            .returning(|_, _| Ok(Vec::new()));
        let metered = MeteredProvider::wrap(Arc::new(inner));

        let balance = metered.custody_balance(asset).await.expect("balance");
        assert_eq!(balance.balance, Amount::from_base_units(42));
        assert!(metered.forwards_to(&address));
        assert!(metered.lists_deposits_per_address(asset));
        let listed = metered
            .recent_deposits_at(
                asset,
                std::slice::from_ref(&address),
                OffsetDateTime::UNIX_EPOCH,
            )
            .await
            .expect("listed");
        assert_eq!(listed.len(), 1);
        let recent = metered
            .recent_deposits(&[asset], OffsetDateTime::UNIX_EPOCH)
            .await
            .expect("recent");
        assert!(recent.is_empty());
    }
}
