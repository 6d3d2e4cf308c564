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

use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::instance::{InstanceId, FORGET_AFTER, HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT};
use custody_core::ports::{
    DynApiKeyStore, DynClock, DynCustodyProvider, DynIdGenerator, DynIdempotencyStore,
    DynInstanceRegistry, EnvironmentStores,
};
use custody_core::services::{
    DepositRefresh, DepositService, EventService, TransactionWorker, WithdrawalService,
    WorkerSettings,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::configuration::WorkersSettings;
use crate::readiness::{Liveness, Ticker};

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
    /// Where each loop records its passes (`/readyz`); a private registry unless spawned
    /// with the server's ([`spawn_watched`]).
    liveness: Liveness,
}

impl Workers {
    /// No workers (`workers.enabled = false`, and tests that build the server themselves).
    pub fn none() -> Workers {
        Workers {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
            liveness: Liveness::default(),
        }
    }

    /// No workers yet; those added later ([`Workers::with_heartbeat`], …) tick `liveness`.
    pub fn none_watched(liveness: Liveness) -> Workers {
        Workers {
            liveness,
            ..Workers::none()
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

impl Workers {
    /// Adds this instance's heartbeat ([`custody_core::instance`]): every
    /// [`HEARTBEAT_INTERVAL`] it tells the registry it is alive, so its idempotency
    /// reservations are taken by a partner's retry within seconds of it dying, not after the
    /// lease. Runs whether or not the transaction workers do; stopped with them. Now and then
    /// it forgets instances silent for [`FORGET_AFTER`].
    pub fn with_heartbeat(
        mut self,
        registry: DynInstanceRegistry,
        instance: InstanceId,
        clock: DynClock,
    ) -> Workers {
        let stopped = self.stop.subscribe();
        let every = Duration::try_from(HEARTBEAT_INTERVAL).unwrap_or(Duration::from_secs(1));
        let ticker = self.liveness.register("heartbeat", every);
        self.tasks.push(tokio::spawn(heartbeat(
            registry, instance, clock, stopped, ticker,
        )));
        self
    }
}

async fn heartbeat(
    registry: DynInstanceRegistry,
    instance: InstanceId,
    clock: DynClock,
    mut stop: watch::Receiver<bool>,
    ticker: Ticker,
) {
    // About hourly: forgetting is housekeeping, not a matter of seconds.
    const FORGET_EVERY_BEATS: u64 = 3_600;
    let every = Duration::try_from(HEARTBEAT_INTERVAL).unwrap_or(Duration::from_secs(1));
    let mut beats: u64 = 0;
    let mut last_beat: Option<time::OffsetDateTime> = None;
    loop {
        let now = clock.now();
        match registry.heartbeat(&instance, now).await {
            Ok(()) => {
                // Silent for the timeout while alive: other instances may have taken this
                // one's in-flight idempotency reservations meanwhile (docs/operations.md).
                if let Some(last) = last_beat.filter(|last| now - *last >= HEARTBEAT_TIMEOUT) {
                    tracing::error!(
                        %instance,
                        silent_ms = (now - last).whole_milliseconds(),
                        "heartbeat was silent past the timeout: requests in flight meanwhile may have been retried elsewhere"
                    );
                }
                last_beat = Some(now);
            }
            Err(e) => {
                tracing::warn!(%instance, error = %e, "heartbeat failed; retried next beat");
            }
        }
        if beats % FORGET_EVERY_BEATS == 0 {
            match registry.forget_silent(now - FORGET_AFTER).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(forgotten = n, "silent instances forgotten"),
                Err(e) => tracing::warn!(error = %e, "forgetting silent instances failed"),
            }
        }
        beats = beats.wrapping_add(1);
        ticker.tick();
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(every) => {}
        }
        if *stop.borrow() {
            break;
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
    spawn_watched(settings, specs, clock, ids, Liveness::default())
}

/// As [`spawn`], each loop ticking `liveness` once per pass (`/readyz`): the transaction
/// worker as `withdrawal_dispatch.{environment}`, the purge as `purge.{environment}`.
pub fn spawn_watched(
    settings: &WorkersSettings,
    specs: Vec<WorkerSpec>,
    clock: &DynClock,
    ids: &DynIdGenerator,
    liveness: Liveness,
) -> Workers {
    if !settings.enabled {
        tracing::info!("transaction worker disabled (workers.enabled = false)");
        return Workers::none_watched(liveness);
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
        let ticker = liveness.register(format!("withdrawal_dispatch.{}", env.as_str()), interval);
        tasks.push(tokio::spawn(run(
            env,
            worker,
            interval,
            stopped.clone(),
            ticker,
        )));
        let ticker = liveness.register(format!("purge.{}", env.as_str()), purge_every);
        tasks.push(tokio::spawn(purge(
            env,
            idempotency,
            events,
            clock.clone(),
            purge_every,
            stopped.clone(),
            ticker,
        )));
    }
    Workers {
        stop,
        tasks,
        liveness,
    }
}

impl Workers {
    /// Adds the live deposit reconciliation (issue 14): every `workers.reconcile_interval_ms`,
    /// the deposits the providers report for `assets` over the last
    /// `workers.reconcile_lookback_secs` are applied through the notifications' exactly-once
    /// path (`DepositService::reconcile`), so a missed notification is caught up. Not started
    /// when the workers are disabled, the interval is 0 or nothing is routed. Any instance may
    /// run it: applying a known deposit again changes nothing.
    pub fn reconcile_deposits(
        &mut self,
        settings: &WorkersSettings,
        deposits: DepositService,
        assets: Vec<AssetId>,
        clock: DynClock,
    ) {
        if !settings.enabled || settings.reconcile_interval_ms == 0 || assets.is_empty() {
            return;
        }
        let deposits = deposits.with_address_scan(
            custody_core::services::AddressScan::DEFAULT_BATCH,
            settings.reconcile_addresses_per_pass,
        );
        let every = Duration::from_millis(settings.reconcile_interval_ms.max(10));
        let lookback = time::Duration::seconds(
            i64::try_from(settings.reconcile_lookback_secs).unwrap_or(i64::MAX / 2),
        );
        let mut stop = self.stop.subscribe();
        let ticker = self.liveness.register("deposit_reconciliation", every);
        self.tasks.push(tokio::spawn(async move {
            loop {
                ticker.tick();
                let since = clock.now() - lookback;
                match deposits.reconcile(&assets, since).await {
                    Ok(pass) => {
                        for (reference, code, why) in &pass.not_applied {
                            tracing::warn!(reference, code, why, "reconciled deposit not applied");
                        }
                        for why in &pass.unusable {
                            tracing::warn!(why, "reconciliation report unusable");
                        }
                        tracing::info!(
                            applied = pass.applied.len(),
                            not_applied = pass.not_applied.len(),
                            unusable = pass.unusable.len(),
                            "live deposits reconciled"
                        );
                    }
                    Err(e) => tracing::warn!(error = %e, "deposit reconciliation failed; retried next time"),
                }
                tokio::select! {
                    _ = stop.changed() => break,
                    () = tokio::time::sleep(every) => {}
                }
                if *stop.borrow() {
                    break;
                }
            }
        }));
    }

    /// Adds the replay cache's housekeeping (when workers are enabled): expired
    /// `request_signatures` rows deleted on the idempotency purge schedule
    /// (`workers.purge_interval_ms`). The table is shared by both environments, hence one task.
    pub fn purge_signatures(
        &mut self,
        settings: &WorkersSettings,
        keys: DynApiKeyStore,
        clock: DynClock,
    ) {
        if !settings.enabled {
            return;
        }
        let every = Duration::from_millis(settings.purge_interval_ms.max(10));
        let mut stop = self.stop.subscribe();
        let ticker = self.liveness.register("signature_purge", every);
        self.tasks.push(tokio::spawn(async move {
            loop {
                ticker.tick();
                match keys.purge_signatures(clock.now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "expired replay-cache rows purged"),
                    Err(e) => {
                        tracing::warn!(error = %e, "replay-cache purge failed; retried next time");
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
        }));
    }
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
    ticker: Ticker,
) {
    loop {
        ticker.tick();
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
    ticker: Ticker,
) {
    tracing::info!(environment = env.as_str(), "transaction worker started");
    loop {
        ticker.tick();
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

/// Starts one webhook delivery worker per environment (when enabled). Must run inside a tokio
/// runtime.
///
/// Each loop claims due events for as many tenants as it has free slots
/// (`webhooks.concurrency`) and hands each tenant's batch to its own task, which sends the
/// events in order and frees the slot; the loop does not wait for them. A tenant with a batch
/// in flight is not claimed again until it finishes (`OutboxStore::claim_fair`), so a slow or
/// dead receiver (each request bounded by `webhooks.timeout_secs`) delays only its own tenant,
/// and never the API: deliveries run off the request path. On stop, batches in flight are
/// abandoned; their leases end and the events are sent again (at least once).
pub fn spawn_webhooks(
    settings: &crate::configuration::WebhooksSettings,
    deliveries: Vec<(Environment, custody_core::services::WebhookDelivery)>,
) -> Workers {
    spawn_webhooks_watched(settings, deliveries, Liveness::default())
}

/// As [`spawn_webhooks`], each loop ticking `liveness` as `webhook_delivery.{environment}`.
pub fn spawn_webhooks_watched(
    settings: &crate::configuration::WebhooksSettings,
    deliveries: Vec<(Environment, custody_core::services::WebhookDelivery)>,
    liveness: Liveness,
) -> Workers {
    if !settings.enabled {
        tracing::info!("webhook delivery disabled (webhooks.enabled = false)");
        return Workers::none_watched(liveness);
    }
    let (stop, stopped) = watch::channel(false);
    let interval = Duration::from_millis(settings.poll_interval_ms.max(10));
    let slots = usize::try_from(settings.concurrency.max(1)).unwrap_or(1);
    let tasks = deliveries
        .into_iter()
        .map(|(env, delivery)| {
            let ticker = liveness.register(format!("webhook_delivery.{}", env.as_str()), interval);
            tokio::spawn(deliver(
                env,
                delivery,
                slots,
                interval,
                stopped.clone(),
                ticker,
            ))
        })
        .collect();
    Workers {
        stop,
        tasks,
        liveness,
    }
}

async fn deliver(
    env: Environment,
    delivery: custody_core::services::WebhookDelivery,
    slots: usize,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
    ticker: Ticker,
) {
    tracing::info!(environment = env.as_str(), "webhook delivery started");
    let semaphore = Arc::new(tokio::sync::Semaphore::new(slots));
    loop {
        ticker.tick();
        let claimed_any = custody_embed::workers::deliver_due(env, &delivery, &semaphore).await > 0;
        if claimed_any && semaphore.available_permits() > 0 {
            // More may be due right away.
            tokio::task::yield_now().await;
            if *stop.borrow() {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(interval) => {}
        }
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!(environment = env.as_str(), "webhook delivery stopped");
}
