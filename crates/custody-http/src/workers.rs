//! The background loops of `custody serve`, configured from `[workers]` and `[webhooks]`: per
//! environment the transaction worker ([`TransactionWorker::run_once`] every
//! `workers.poll_interval_ms`), the purge and webhook delivery; the instance heartbeat; live
//! deposit reconciliation; the replay-cache purge. The loops themselves are custody-embed's
//! ([`custody_embed::workers::Workers`], the same an embedded custody runs); this module
//! builds them from the configuration and reports every pass to `/readyz` (the server's
//! [`Liveness`] is their [`LivenessHook`]). They stop on graceful shutdown after their current
//! pass (an interrupted pass only delays its transactions until their leases end). Each
//! environment's worker uses that environment's store handles and provider, so the sandbox
//! worker never reaches live custody. See
//! `crates/custody-core/src/services/transaction_worker.rs` for why several instances (and
//! crashes) never send a withdrawal twice.
//!
//! Open deposits are refreshed through [`DepositRefresh`] (`WorkerSpec::deposits`): the sandbox
//! worker refreshes its simulated deposits with `DepositService::refresh`; live deposits advance
//! by provider notifications (and reconciliation), so the live worker polls none.

use std::sync::Arc;
use std::time::Duration;

use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::instance::InstanceId;
use custody_core::ports::{
    DynApiKeyStore, DynClock, DynCustodyProvider, DynIdGenerator, DynInstanceRegistry,
    EnvironmentStores,
};
use custody_core::services::{
    DepositRefresh, DepositService, EventService, TransactionWorker, WebhookDelivery,
    WithdrawalService, WorkerSettings,
};
use custody_embed::workers::{LivenessHook, Tick};

use crate::configuration::{WebhooksSettings, WorkersSettings};
use crate::readiness::Liveness;

impl LivenessHook for Liveness {
    fn register(&self, name: &str, every: Duration) -> Tick {
        let ticker = Liveness::register(self, name, every);
        Tick::new(move || ticker.tick())
    }
}

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
    loops: custody_embed::Workers,
}

impl Workers {
    /// No workers (`workers.enabled = false`, and tests that build the server themselves).
    pub fn none() -> Workers {
        Workers::none_watched(Liveness::default())
    }

    /// No workers yet; those added later ([`Workers::with_heartbeat`], …) tick `liveness`.
    pub fn none_watched(liveness: Liveness) -> Workers {
        Workers {
            loops: custody_embed::Workers::watched(Arc::new(liveness)),
        }
    }

    /// How many worker tasks run.
    pub fn len(&self) -> usize {
        self.loops.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.loops.is_empty()
    }

    /// Asks every worker to stop after its current pass and waits up to `grace`; a worker
    /// still busy then is aborted (its leases run out and another pass resumes its work).
    pub async fn stop(self, grace: Duration) {
        self.loops.stop(grace).await;
    }

    /// Adds this instance's heartbeat ([`custody_core::instance`]): every
    /// [`HEARTBEAT_INTERVAL`](custody_core::instance::HEARTBEAT_INTERVAL) it tells the
    /// registry it is alive, so its idempotency reservations are taken by a partner's retry
    /// within seconds of it dying, not after the lease. Runs whether or not the transaction
    /// workers do; stopped with them. Now and then it forgets instances silent for
    /// [`FORGET_AFTER`](custody_core::instance::FORGET_AFTER).
    pub fn with_heartbeat(
        mut self,
        registry: DynInstanceRegistry,
        instance: InstanceId,
        clock: DynClock,
    ) -> Workers {
        self.loops.heartbeat(registry, instance, clock);
        self
    }

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
        let lookback = time::Duration::seconds(
            i64::try_from(settings.reconcile_lookback_secs).unwrap_or(i64::MAX / 2),
        );
        self.loops.reconcile_deposits(
            deposits,
            assets,
            clock,
            Duration::from_millis(settings.reconcile_interval_ms),
            lookback,
        );
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
        self.loops.purge_signatures(
            keys,
            clock,
            Duration::from_millis(settings.purge_interval_ms),
        );
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
///
/// The purge (housekeeping) deletes expired idempotency records (kept 24 h) and events past
/// their retention (`workers.event_retention_days`, 30 by default) every
/// `workers.purge_interval_ms`.
pub fn spawn_watched(
    settings: &WorkersSettings,
    specs: Vec<WorkerSpec>,
    clock: &DynClock,
    ids: &DynIdGenerator,
    liveness: Liveness,
) -> Workers {
    let mut workers = Workers::none_watched(liveness);
    if !settings.enabled {
        tracing::info!("transaction worker disabled (workers.enabled = false)");
        return workers;
    }
    let interval = Duration::from_millis(settings.poll_interval_ms);
    let instance = format!("serve-{}-{}", std::process::id(), ids.ulid());
    let purge_every = Duration::from_millis(settings.purge_interval_ms);
    for spec in specs {
        let env = spec.stores.environment;
        let idempotency = spec.stores.idempotency.clone();
        let events = EventService::new(spec.stores.events.clone());
        let worker = worker(settings, spec, clock, ids, &instance);
        workers.loops.transactions(env, worker, interval);
        workers.loops.housekeeping(
            env,
            events,
            idempotency,
            clock.clone(),
            purge_every,
            settings.event_retention_days,
        );
    }
    workers
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
    settings: &WebhooksSettings,
    deliveries: Vec<(Environment, WebhookDelivery)>,
) -> Workers {
    spawn_webhooks_watched(settings, deliveries, Liveness::default())
}

/// As [`spawn_webhooks`], each loop ticking `liveness` as `webhook_delivery.{environment}`.
pub fn spawn_webhooks_watched(
    settings: &WebhooksSettings,
    deliveries: Vec<(Environment, WebhookDelivery)>,
    liveness: Liveness,
) -> Workers {
    let mut workers = Workers::none_watched(liveness);
    if !settings.enabled {
        tracing::info!("webhook delivery disabled (webhooks.enabled = false)");
        return workers;
    }
    let interval = Duration::from_millis(settings.poll_interval_ms);
    for (env, delivery) in deliveries {
        workers
            .loops
            .webhooks(env, delivery, interval, settings.concurrency);
    }
    workers
}
