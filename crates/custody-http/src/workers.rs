//! The transaction worker of `custody serve`: one tokio task per environment running
//! [`TransactionWorker::run_once`] every `workers.poll_interval_ms`, stopped on graceful
//! shutdown (after its current pass; an interrupted pass only delays its transactions until
//! their leases end). Each environment's worker uses that environment's store handles and
//! provider, so the sandbox worker never reaches live custody. See
//! `crates/custody-core/src/services/transaction_worker.rs` for why several instances (and
//! crashes) never send a withdrawal twice.
//!
//! Open deposits are refreshed through [`DepositRefresh`] (`WorkerSpec::deposits`): the sandbox
//! worker refreshes its simulated deposits with `DepositService::refresh`; live deposits advance
//! by provider notifications (and, later, reconciliation), so the live worker polls none.

use std::sync::Arc;
use std::time::Duration;

use custody_core::environment::Environment;
use custody_core::ports::{
    DynClock, DynCustodyProvider, DynIdGenerator, DynIdempotencyStore, EnvironmentStores,
};
use custody_core::services::{
    DepositRefresh, EventService, TransactionWorker, WithdrawalService, WorkerSettings,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::configuration::WorkersSettings;

/// One environment's worker, before it runs.
pub struct WorkerSpec {
    /// Its stores.
    pub stores: EnvironmentStores,
    /// Its provider (the sandbox provider for the sandbox).
    pub provider: DynCustodyProvider,
    /// Open deposits' refresh (`DepositService::refresh`), when this environment polls them.
    pub deposits: Option<Arc<dyn DepositRefresh>>,
}

/// The running workers; [`Workers::stop`] ends them.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// No workers (`workers.enabled = false`, and tests that build the server themselves).
    pub fn none() -> Workers {
        Workers {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
        }
    }

    /// How many worker tasks run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Asks every worker to stop after its current pass and waits up to `grace`; a worker
    /// still busy then is aborted (its leases run out and another pass resumes its work).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        for mut task in self.tasks {
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

/// Starts one worker per spec (when enabled). Must run inside a tokio runtime.
pub fn spawn(
    settings: &WorkersSettings,
    specs: Vec<WorkerSpec>,
    clock: &DynClock,
    ids: &DynIdGenerator,
) -> Workers {
    if !settings.enabled {
        tracing::info!("transaction worker disabled (workers.enabled = false)");
        return Workers::none();
    }
    let (stop, stopped) = watch::channel(false);
    let interval = Duration::from_millis(settings.poll_interval_ms.max(10));
    let instance = format!("serve-{}-{}", std::process::id(), ids.ulid());
    let purge_every = Duration::from_millis(settings.purge_interval_ms.max(10));
    let mut tasks = Vec::new();
    for spec in specs {
        let env = spec.stores.environment;
        let idempotency = spec.stores.idempotency.clone();
        let events = Retention {
            events: EventService::new(spec.stores.events.clone()),
            days: settings.event_retention_days,
        };
        let worker = worker(settings, spec, clock, ids, &instance);
        tasks.push(tokio::spawn(run(env, worker, interval, stopped.clone())));
        tasks.push(tokio::spawn(purge(
            env,
            idempotency,
            events,
            clock.clone(),
            purge_every,
            stopped.clone(),
        )));
    }
    Workers { stop, tasks }
}

/// The event log's retention: events older than `days` (at least 30) are deleted.
struct Retention {
    events: EventService,
    days: u32,
}

/// Housekeeping: deletes expired idempotency records (kept 24 h) and events past their
/// retention (`workers.event_retention_days`, 30 by default) on a schedule, so neither table
/// grows forever. Any instance may run it; the deletes are idempotent, and events go in small
/// batches, each its own short transaction.
async fn purge(
    env: Environment,
    idempotency: DynIdempotencyStore,
    retention: Retention,
    clock: DynClock,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        match retention.events.purge(clock.now(), retention.days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                environment = env.as_str(),
                purged = n,
                retention_days = retention.days,
                "events past their retention purged"
            ),
            Err(e) => {
                tracing::warn!(environment = env.as_str(), error = %e, "event purge failed; retried next time")
            }
        }
        match idempotency.purge_expired(clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                environment = env.as_str(),
                purged = n,
                "expired idempotency records purged"
            ),
            Err(e) => {
                tracing::warn!(environment = env.as_str(), error = %e, "idempotency purge failed; retried next time")
            }
        }
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(every) => {}
        }
        if *stop.borrow() {
            break;
        }
    }
}

fn worker(
    settings: &WorkersSettings,
    spec: WorkerSpec,
    clock: &DynClock,
    ids: &DynIdGenerator,
    instance: &str,
) -> TransactionWorker {
    let stores = spec.stores;
    let withdrawals = WithdrawalService::new(
        stores.uow.clone(),
        stores.transactions.clone(),
        spec.provider,
        clock.clone(),
        ids.clone(),
        crate::events::renderer(),
    );
    let secs = |s: u64| time::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 2));
    TransactionWorker::new(
        stores.uow,
        withdrawals,
        spec.deposits,
        clock.clone(),
        WorkerSettings {
            owner: format!("{instance}-{}", stores.environment.as_str()),
            batch_size: settings.batch_size.max(1),
            lease: secs(settings.lease_secs.max(1)),
            poll_interval: time::Duration::milliseconds(
                i64::try_from(settings.poll_interval_ms).unwrap_or(i64::MAX / 2),
            ),
            max_backoff: secs(settings.max_backoff_secs.max(1)),
        },
    )
}

async fn run(
    env: Environment,
    worker: TransactionWorker,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    tracing::info!(environment = env.as_str(), "transaction worker started");
    loop {
        match worker.run_once().await {
            Ok(pass) => {
                for (id, error) in &pass.failed {
                    tracing::warn!(environment = env.as_str(), transaction = %id, error, "worker step failed; retried with backoff");
                }
                if pass.claimed > 0 {
                    tracing::debug!(
                        environment = env.as_str(),
                        claimed = pass.claimed,
                        finished = pass.finished,
                        "worker pass"
                    );
                }
            }
            Err(e) => tracing::warn!(environment = env.as_str(), error = %e, "worker claim failed"),
        }
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(interval) => {}
        }
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!(environment = env.as_str(), "transaction worker stopped");
}
