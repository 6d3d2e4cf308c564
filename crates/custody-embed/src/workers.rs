//! The background work of an embedded custody, run as tasks of the host's tokio runtime:
//! per environment, the transaction worker (withdrawal dispatch and polling, sandbox deposit
//! refresh), webhook delivery, and housekeeping (expired idempotency records, events past
//! their retention).
//!
//! [`Custody::spawn_workers`](crate::Custody::spawn_workers) starts them with `tokio::spawn`,
//! so they run wherever the host's runtime runs its tasks; the returned [`Workers`] stops them
//! ([`Workers::stop`]) after their current pass. Several processes may run workers over one
//! PostgreSQL database: claims are leased (`SKIP LOCKED`), and a withdrawal is handed to the
//! provider with its transaction id as the idempotency reference, so it is never sent twice.
//!
//! These are the only worker loops of the workspace: `custody serve` runs the same
//! [`Workers`] with its configured intervals, adding the instance heartbeat, live deposit
//! reconciliation and the replay-cache purge, and reports every pass to `/readyz` through a
//! [`LivenessHook`]. A host can do the same with
//! [`Custody::spawn_workers_watched`](crate::Custody::spawn_workers_watched).

use std::sync::Arc;
use std::time::Duration;

use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::instance::{InstanceId, FORGET_AFTER, HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT};
use custody_core::outbox::{AttemptOutcome, ClaimedEvent};
use custody_core::ports::{DynApiKeyStore, DynClock, DynIdempotencyStore, DynInstanceRegistry};
use custody_core::services::{
    Delivered, DeliverySettings, DepositService, EventService, TransactionWorker, WebhookDelivery,
    WorkerSettings,
};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

/// How the workers run. The defaults are those of `custody serve` (docs/operations.md).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// Pause between two transaction worker passes.
    pub poll_interval: Duration,
    /// Transactions claimed per pass.
    pub batch_size: u32,
    /// How long a claim is held before another worker may take the transaction over.
    pub lease: Duration,
    /// Longest pause before a failed step is retried.
    pub max_backoff: Duration,
    /// Pause between two housekeeping passes.
    pub purge_interval: Duration,
    /// Days events are kept (at least 30).
    pub event_retention_days: u32,
    /// Whether webhook delivery runs.
    pub webhooks: bool,
    /// Pause between two webhook claims when nothing was due.
    pub webhook_poll_interval: Duration,
    /// Tenants whose events are delivered at once (one batch in flight per tenant).
    pub webhook_concurrency: u32,
    /// Events per tenant per claim and the per-request timeout.
    pub delivery: DeliverySettings,
}

impl Default for WorkerOptions {
    fn default() -> WorkerOptions {
        WorkerOptions {
            poll_interval: Duration::from_millis(1_000),
            batch_size: 25,
            lease: Duration::from_secs(300),
            max_backoff: Duration::from_secs(300),
            purge_interval: Duration::from_millis(300_000),
            event_retention_days: 30,
            webhooks: true,
            webhook_poll_interval: Duration::from_millis(500),
            webhook_concurrency: 16,
            delivery: DeliverySettings::default(),
        }
    }
}

impl WorkerOptions {
    /// Passes every `interval` (transaction worker and webhook claims): a short interval
    /// suits tests and examples, which wait for a withdrawal to finish.
    #[must_use]
    pub fn poll_every(mut self, interval: Duration) -> WorkerOptions {
        self.poll_interval = interval;
        self.webhook_poll_interval = interval;
        self
    }

    /// Without webhook delivery.
    #[must_use]
    pub fn without_webhooks(mut self) -> WorkerOptions {
        self.webhooks = false;
        self
    }

    /// The core worker's settings for one environment, named after `owner`.
    pub(crate) fn transaction_settings(&self, owner: String) -> WorkerSettings {
        let span = |d: Duration| time::Duration::try_from(d).unwrap_or(time::Duration::MAX);
        WorkerSettings {
            owner,
            batch_size: self.batch_size.max(1),
            lease: span(self.lease.max(Duration::from_secs(1))),
            poll_interval: span(self.poll_interval),
            max_backoff: span(self.max_backoff.max(Duration::from_secs(1))),
        }
    }
}

/// Where the loops report their passes: a host's liveness registry (`custody serve` feeds
/// `/readyz` from it). [`Workers::watched`] registers every loop it starts under its name, at
/// once (so the host sees it before its first pass), and the loop [ticks](Tick::tick) at the
/// start of every pass. A host that sees no tick for a loop's interval plus its own bound may
/// call that loop stalled.
///
/// The names: `withdrawal_dispatch.{environment}`, `purge.{environment}`,
/// `webhook_delivery.{environment}`, `heartbeat`, `deposit_reconciliation`, `signature_purge`.
pub trait LivenessHook: Send + Sync {
    /// A loop named `name` that passes about every `every` starts; returns its tick.
    fn register(&self, name: &str, every: Duration) -> Tick;
}

/// What a loop calls at the start of every pass ([`LivenessHook::register`]).
#[derive(Clone, Default)]
pub struct Tick(Option<Arc<dyn Fn() + Send + Sync>>);

impl Tick {
    /// A tick that calls `tick`.
    pub fn new(tick: impl Fn() + Send + Sync + 'static) -> Tick {
        Tick(Some(Arc::new(tick)))
    }

    /// A tick that records nothing (workers without a hook).
    pub fn none() -> Tick {
        Tick(None)
    }

    /// Records a pass.
    pub fn tick(&self) {
        if let Some(tick) = &self.0 {
            tick();
        }
    }
}

impl std::fmt::Debug for Tick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Tick"
        } else {
            "Tick(none)"
        })
    }
}

/// The running workers: one set of loops for an embedded custody
/// ([`Custody::spawn_workers`](crate::Custody::spawn_workers)) and for `custody serve`, which
/// adds each loop with its own settings. Dropping this handle leaves them running (they are
/// tasks of the runtime); call [`Workers::stop`] to end them.
///
/// Each loop runs a pass, then waits its interval (at least 10 ms) or until stopped; a stop
/// request is honoured between passes, never inside one.
#[must_use = "the workers run until stopped"]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    hook: Option<Arc<dyn LivenessHook>>,
}

impl Default for Workers {
    fn default() -> Workers {
        Workers::new()
    }
}

impl Workers {
    /// No loops yet, and none reporting its passes.
    pub fn new() -> Workers {
        Workers {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
            hook: None,
        }
    }

    /// No loops yet; those added later register with `hook` and tick it once per pass.
    pub fn watched(hook: Arc<dyn LivenessHook>) -> Workers {
        Workers {
            hook: Some(hook),
            ..Workers::new()
        }
    }

    /// How many tasks run.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Asks every task to stop after its current pass and waits up to `grace` for each; a task
    /// still busy then is aborted (its leases run out and another pass resumes its work).
    pub async fn stop(self, grace: Duration) {
        let _ = self.stop.send(true);
        for mut task in self.tasks {
            if tokio::time::timeout(grace, &mut task).await.is_err() {
                task.abort();
            }
        }
    }

    /// Starts `pass` as a loop named `name` every `every`. Must run inside a tokio runtime.
    fn spawn(&mut self, name: String, every: Duration, pass: impl Pass) {
        let every = every.max(MIN_INTERVAL);
        let tick = match &self.hook {
            Some(hook) => hook.register(&name, every),
            None => Tick::none(),
        };
        let stop = self.stop.subscribe();
        self.tasks
            .push(tokio::spawn(run_loop(name, every, stop, tick, pass)));
    }

    /// The transaction worker of `env` ([`TransactionWorker::run_once`]: withdrawal dispatch
    /// and progress, open deposits' refresh), every `every`; ticks
    /// `withdrawal_dispatch.{env}`.
    pub fn transactions(&mut self, env: Environment, worker: TransactionWorker, every: Duration) {
        tracing::info!(environment = env.as_str(), "transaction worker started");
        self.spawn(
            format!("withdrawal_dispatch.{}", env.as_str()),
            every,
            Transactions { env, worker },
        );
    }

    /// Housekeeping of `env` every `every`: events older than `retention_days` (at least 30)
    /// and expired idempotency records are deleted, so neither table grows forever. Any
    /// instance may run it; the deletes are idempotent, and events go in small batches, each
    /// its own short transaction. Ticks `purge.{env}`.
    pub fn housekeeping(
        &mut self,
        env: Environment,
        events: EventService,
        idempotency: DynIdempotencyStore,
        clock: DynClock,
        every: Duration,
        retention_days: u32,
    ) {
        self.spawn(
            format!("purge.{}", env.as_str()),
            every,
            Housekeeping {
                env,
                events,
                idempotency,
                clock,
                retention_days,
            },
        );
    }

    /// Webhook delivery of `env` ([`deliver_due`]): claims due events for as many tenants as
    /// there are free slots (`concurrency`) and sends each tenant's batch in order on its own
    /// task, so a slow receiver delays only its own tenant (docs/webhooks.md). After a claim
    /// that found events while slots are still free it claims again at once, and a tenant's
    /// batch that finished full wakes it at once (more of that tenant's events may be due);
    /// otherwise it waits `every`. On stop, batches in flight are abandoned; their leases end and the
    /// events are sent again (at least once). Ticks `webhook_delivery.{env}`.
    pub fn webhooks(
        &mut self,
        env: Environment,
        delivery: WebhookDelivery,
        every: Duration,
        concurrency: u32,
    ) {
        tracing::info!(environment = env.as_str(), "webhook delivery started");
        let slots = Arc::new(Semaphore::new(
            usize::try_from(concurrency.max(1)).unwrap_or(1),
        ));
        self.spawn(
            format!("webhook_delivery.{}", env.as_str()),
            every,
            Webhooks {
                env,
                delivery,
                slots,
                more: Arc::new(Notify::new()),
            },
        );
    }

    /// This instance's heartbeat ([`custody_core::instance`]): every [`HEARTBEAT_INTERVAL`] it
    /// tells the registry it is alive, so its idempotency reservations are taken by a
    /// partner's retry within seconds of it dying, not after the lease. About hourly it
    /// forgets instances silent for [`FORGET_AFTER`]. Ticks `heartbeat`.
    pub fn heartbeat(
        &mut self,
        registry: DynInstanceRegistry,
        instance: InstanceId,
        clock: DynClock,
    ) {
        let every = Duration::try_from(HEARTBEAT_INTERVAL).unwrap_or(Duration::from_secs(1));
        self.spawn(
            "heartbeat".to_owned(),
            every,
            Heartbeat {
                registry,
                instance,
                clock,
                beats: 0,
                last_beat: None,
            },
        );
    }

    /// Live deposit reconciliation every `every`: the deposits the providers report for
    /// `assets` over the last `lookback` are applied through the notifications' exactly-once
    /// path ([`DepositService::reconcile`]), so a missed notification is caught up. Any
    /// instance may run it: applying a known deposit again changes nothing. Ticks
    /// `deposit_reconciliation`.
    pub fn reconcile_deposits(
        &mut self,
        deposits: DepositService,
        assets: Vec<AssetId>,
        clock: DynClock,
        every: Duration,
        lookback: time::Duration,
    ) {
        self.spawn(
            "deposit_reconciliation".to_owned(),
            every,
            ReconcileDeposits {
                deposits,
                assets,
                clock,
                lookback,
            },
        );
    }

    /// The replay cache's housekeeping every `every`: expired `request_signatures` rows are
    /// deleted. The table is shared by both environments, hence one loop. Ticks
    /// `signature_purge`.
    pub fn purge_signatures(&mut self, keys: DynApiKeyStore, clock: DynClock, every: Duration) {
        self.spawn(
            "signature_purge".to_owned(),
            every,
            PurgeSignatures { keys, clock },
        );
    }
}

/// The shortest pause between two passes of a loop.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// One pass of a loop; `true` when more work is due right away (the loop then goes again
/// without waiting).
trait Pass: Send + 'static {
    fn run(&mut self) -> impl std::future::Future<Output = bool> + Send + '_;

    /// Wakes the loop before `every` ends (the webhook pass: a tenant's batch finished full,
    /// so more of its events may be due).
    fn waker(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// Ticks, runs a pass, then waits `every` (unless the pass said more is due) or until stopped.
async fn run_loop(
    name: String,
    every: Duration,
    mut stop: watch::Receiver<bool>,
    tick: Tick,
    mut pass: impl Pass,
) {
    let waker = pass.waker();
    loop {
        tick.tick();
        if pass.run().await {
            tokio::task::yield_now().await;
            if *stop.borrow() {
                break;
            }
            continue;
        }
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(every) => {}
            () = woken(waker.as_deref()) => {}
        }
        if *stop.borrow() {
            break;
        }
    }
    tracing::info!(worker = name, "worker stopped");
}

/// Completes when `waker` is notified (a notification sent while the pass ran is kept by
/// `Notify` and completes the next wait at once); never without one.
async fn woken(waker: Option<&Notify>) {
    match waker {
        Some(waker) => waker.notified().await,
        None => std::future::pending().await,
    }
}

struct Transactions {
    env: Environment,
    worker: TransactionWorker,
}

impl Pass for Transactions {
    async fn run(&mut self) -> bool {
        let env = self.env.as_str();
        match self.worker.run_once().await {
            Ok(pass) => {
                for (id, error) in &pass.failed {
                    tracing::warn!(environment = env, transaction = %id, error, "worker step failed; retried with backoff");
                }
                if pass.claimed > 0 {
                    tracing::debug!(
                        environment = env,
                        claimed = pass.claimed,
                        finished = pass.finished,
                        "worker pass"
                    );
                }
            }
            Err(e) => tracing::warn!(environment = env, error = %e, "worker claim failed"),
        }
        false
    }
}

struct Housekeeping {
    env: Environment,
    events: EventService,
    idempotency: DynIdempotencyStore,
    clock: DynClock,
    retention_days: u32,
}

impl Pass for Housekeeping {
    async fn run(&mut self) -> bool {
        let env = self.env.as_str();
        match self
            .events
            .purge(self.clock.now(), self.retention_days)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                environment = env,
                purged = n,
                retention_days = self.retention_days,
                "events past their retention purged"
            ),
            Err(e) => {
                tracing::warn!(environment = env, error = %e, "event purge failed; retried next time");
            }
        }
        match self.idempotency.purge_expired(self.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                environment = env,
                purged = n,
                "expired idempotency records purged"
            ),
            Err(e) => {
                tracing::warn!(environment = env, error = %e, "idempotency purge failed; retried next time");
            }
        }
        false
    }
}

struct Webhooks {
    env: Environment,
    delivery: WebhookDelivery,
    slots: Arc<Semaphore>,
    /// Notified by a tenant's batch that finished full: the claim skips a tenant while its
    /// batch is in flight, so without it one busy tenant got one batch per poll interval
    /// (10 events per 500 ms: 20 events/s, a backlog that only grew under load).
    more: Arc<Notify>,
}

impl Pass for Webhooks {
    async fn run(&mut self) -> bool {
        let claimed = deliver(self.env, &self.delivery, &self.slots, Some(&self.more)).await;
        // More may be due right away.
        claimed > 0 && self.slots.available_permits() > 0
    }

    fn waker(&self) -> Option<Arc<Notify>> {
        Some(Arc::clone(&self.more))
    }
}

struct Heartbeat {
    registry: DynInstanceRegistry,
    instance: InstanceId,
    clock: DynClock,
    beats: u64,
    last_beat: Option<time::OffsetDateTime>,
}

impl Pass for Heartbeat {
    fn run(&mut self) -> impl std::future::Future<Output = bool> + Send + '_ {
        // About hourly: forgetting is housekeeping, not a matter of seconds.
        const FORGET_EVERY_BEATS: u64 = 3_600;
        async move {
            let instance = &self.instance;
            let now = self.clock.now();
            match self.registry.heartbeat(instance, now).await {
                Ok(()) => {
                    // Silent for the timeout while alive: other instances may have taken this
                    // one's in-flight idempotency reservations meanwhile (docs/operations.md).
                    if let Some(last) = self
                        .last_beat
                        .filter(|last| now - *last >= HEARTBEAT_TIMEOUT)
                    {
                        tracing::error!(
                            %instance,
                            silent_ms = (now - last).whole_milliseconds(),
                            "heartbeat was silent past the timeout: requests in flight meanwhile may have been retried elsewhere"
                        );
                    }
                    self.last_beat = Some(now);
                }
                Err(e) => {
                    tracing::warn!(%instance, error = %e, "heartbeat failed; retried next beat");
                }
            }
            if self.beats % FORGET_EVERY_BEATS == 0 {
                match self.registry.forget_silent(now - FORGET_AFTER).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(forgotten = n, "silent instances forgotten"),
                    Err(e) => tracing::warn!(error = %e, "forgetting silent instances failed"),
                }
            }
            self.beats = self.beats.wrapping_add(1);
            false
        }
    }
}

struct ReconcileDeposits {
    deposits: DepositService,
    assets: Vec<AssetId>,
    clock: DynClock,
    lookback: time::Duration,
}

impl Pass for ReconcileDeposits {
    async fn run(&mut self) -> bool {
        let since = self.clock.now() - self.lookback;
        match self.deposits.reconcile(&self.assets, since).await {
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
            Err(e) => {
                tracing::warn!(error = %e, "deposit reconciliation failed; retried next time");
            }
        }
        false
    }
}

struct PurgeSignatures {
    keys: DynApiKeyStore,
    clock: DynClock,
}

impl Pass for PurgeSignatures {
    async fn run(&mut self) -> bool {
        match self.keys.purge_signatures(self.clock.now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired replay-cache rows purged"),
            Err(e) => {
                tracing::warn!(error = %e, "replay-cache purge failed; retried next time");
            }
        }
        false
    }
}

/// One webhook delivery pass (the loop of [`Workers::webhooks`], which `custody serve` runs too,
/// adds the wake-up of a full batch to it): claims due events
/// for as many tenants as `slots` has free permits, groups them by tenant and sends each
/// tenant's batch in order on its own task holding one permit, so a slow receiver delays only
/// its own tenant ([`WebhookDelivery::deliver_batch`]: the batch's events with nothing to send
/// are skipped in one write; the first error leaves the rest of the batch to its lease). Returns how many events were claimed: 0 when no slot was free or the claim
/// failed (logged; the events stay due).
pub async fn deliver_due(
    env: Environment,
    delivery: &WebhookDelivery,
    slots: &Arc<Semaphore>,
) -> usize {
    deliver(env, delivery, slots, None).await
}

/// [`deliver_due`]; a batch that finished full (as many events as a claim takes per tenant)
/// with every event delivered or skipped notifies `more`, so its tenant's next events are
/// claimed at once rather than a poll interval later.
async fn deliver(
    env: Environment,
    delivery: &WebhookDelivery,
    slots: &Arc<Semaphore>,
    more: Option<&Arc<Notify>>,
) -> usize {
    let full = usize::try_from(delivery.settings().per_tenant.max(1)).unwrap_or(usize::MAX);
    let free = u32::try_from(slots.available_permits()).unwrap_or(u32::MAX);
    if free == 0 {
        return 0;
    }
    let claimed = match delivery.claim(free).await {
        Ok(claimed) => claimed,
        Err(e) => {
            tracing::warn!(environment = env.as_str(), error = %e, "webhook claim failed");
            return 0;
        }
    };
    let count = claimed.len();
    let mut batches: Vec<Vec<ClaimedEvent>> = Vec::new();
    for event in claimed {
        match batches
            .iter_mut()
            .find(|b| b[0].event.tenant_id == event.event.tenant_id)
        {
            Some(batch) => batch.push(event),
            None => batches.push(vec![event]),
        }
    }
    for batch in batches {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let delivery = delivery.clone();
        let more = more.cloned();
        tokio::spawn(async move {
            // The events with nothing to send are skipped in one write (issue 18).
            // Woken again only by a batch that went through: every event delivered or
            // skipped. One with a refused attempt (a receiver down, or answering 429 with a
            // Retry-After) keeps the poll interval's pace instead of having the tenant's whole
            // backlog sent at it at once.
            let done = match delivery.deliver_batch(&batch).await {
                Ok(outcomes) => outcomes.iter().all(|d| {
                    matches!(
                        d,
                        Delivered::Skipped | Delivered::Attempted(_, AttemptOutcome::Delivered)
                    )
                }),
                Err(e) => {
                    tracing::warn!(environment = env.as_str(), tenant = %batch[0].event.tenant_id, events = batch.len(), error = %e, "webhook delivery not recorded; retried when its lease ends");
                    false
                }
            };
            drop(permit);
            if done && batch.len() >= full {
                if let Some(more) = more {
                    more.notify_one();
                }
            }
        });
    }
    count
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    use super::*;
    use crate::{Custody, MasterKey};

    /// Registrations (name → interval) and ticks per loop.
    #[derive(Default)]
    struct Recorder {
        loops: Mutex<BTreeMap<String, (Duration, u32)>>,
    }

    impl Recorder {
        fn snapshot(&self) -> BTreeMap<String, (Duration, u32)> {
            self.loops.lock().expect("recorder").clone()
        }
    }

    impl LivenessHook for Arc<Recorder> {
        fn register(&self, name: &str, every: Duration) -> Tick {
            self.loops
                .lock()
                .expect("recorder")
                .insert(name.to_owned(), (every, 0));
            let (recorder, name) = (self.clone(), name.to_owned());
            Tick::new(move || {
                if let Some(entry) = recorder.loops.lock().expect("recorder").get_mut(&name) {
                    entry.1 += 1;
                }
            })
        }
    }

    /// `n` vaults of the caller's tenant: `n` `vault.created` events.
    async fn create_vaults(custody: &Custody, caller: &custody_core::caller::Caller, n: usize) {
        use custody_core::services::NewVault;
        use custody_core::text::VaultName;
        for n in 0..n {
            custody
                .sandbox()
                .vaults
                .create(
                    caller,
                    NewVault {
                        external_ref: None,
                        name: VaultName::parse(format!("user {n}")).expect("name"),
                        metadata: Default::default(),
                    },
                    None,
                )
                .await
                .expect("vault");
        }
    }

    /// An embedded custody on a SQLite file in `dir`.
    fn on_file(dir: &tempfile::TempDir) -> crate::CustodyBuilder {
        Custody::builder()
            .store_url(format!(
                "sqlite://{}",
                dir.path().join("custody.db").display()
            ))
            .master_key(MasterKey::from_bytes([7; 32]))
    }

    /// Workers whose webhook loop polls hourly: only a wake-up claims sooner.
    fn hourly_webhooks() -> WorkerOptions {
        WorkerOptions {
            webhook_poll_interval: Duration::from_secs(3_600),
            ..WorkerOptions::default()
        }
    }

    /// Skipped events of the tenant (no endpoint is configured), read through the delivery log.
    async fn skipped(custody: &Custody, caller: &custody_core::caller::Caller) -> usize {
        use custody_core::outbox::{DeliveryFilter, DeliveryView};
        let page = custody_core::page::PageRequest::new(Some(100), None, None).expect("page");
        let filter = DeliveryFilter {
            event: None,
            event_type: None,
            status: Some(DeliveryView::Skipped),
        };
        custody
            .sandbox()
            .webhooks
            .deliveries(caller, filter, page)
            .await
            .expect("deliveries")
            .items
            .len()
    }

    /// A transport whose receiver answers every request with `status`, and the count of
    /// requests it was sent.
    fn answering(
        status: u16,
    ) -> (
        custody_core::ports::MockWebhookTransport,
        Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use std::sync::atomic::{AtomicUsize, Ordering};

        use custody_core::ports::{MockWebhookTransport, WebhookResponse};

        let sent = Arc::new(AtomicUsize::new(0));
        let mut transport = MockWebhookTransport::new();
        transport
            .expect_resolve()
            .returning(|_, _| Ok(vec!["93.184.216.34".parse().expect("ip")]));
        let counter = Arc::clone(&sent);
        transport.expect_send().returning(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            WebhookResponse {
                status: Some(status),
                retry_after: None,
                error: None,
                duration_ms: 1,
            }
        });
        (transport, sent)
    }

    /// A tenant of `custody` with a sandbox endpoint for every event type.
    async fn tenant_with_endpoint(custody: &Custody) -> custody_core::caller::Caller {
        use custody_core::services::ConfigureEndpoint;

        let tenant = custody
            .admin()
            .create_tenant("Receiving")
            .await
            .expect("tenant");
        let caller = custody.caller(tenant.id, Environment::Sandbox);
        custody
            .sandbox()
            .webhooks
            .configure(
                &caller,
                ConfigureEndpoint {
                    url: "https://receiver.example/hook".to_owned(),
                    subscribed: None,
                },
                None,
            )
            .await
            .expect("endpoint");
        caller
    }

    /// An embedded custody (in `dir`) whose receiver answers `status`, with a tenant that has
    /// `events` vault.created events waiting, its workers running with an hourly webhook
    /// poll; and how many requests the receiver got.
    async fn backlog_for_receiver(
        dir: &tempfile::TempDir,
        status: u16,
        events: usize,
    ) -> (Workers, Arc<std::sync::atomic::AtomicUsize>) {
        let (transport, sent) = answering(status);
        let custody = on_file(dir)
            .webhook_transport(Arc::new(transport))
            .build()
            .await
            .expect("custody");
        let caller = tenant_with_endpoint(&custody).await;
        create_vaults(&custody, &caller, events).await;
        (custody.spawn_workers(hourly_webhooks()), sent)
    }

    /// Waits (at most 10 s) until `sent` reaches `n`.
    async fn until_sent(sent: &std::sync::atomic::AtomicUsize, n: usize) {
        for _ in 0..500 {
            if sent.load(std::sync::atomic::Ordering::SeqCst) >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One tenant's backlog is worked off batch after batch, not one batch per poll interval:
    /// the claim skips a tenant while its batch is in flight, so before the batch's wake-up the
    /// loop slept its interval after every batch (10 events per 500 ms by default, 20 events/s
    /// for a tenant producing hundreds). The interval here is an hour: only the wake-up can
    /// send the 45 events (five batches) to the receiver within the bounded wait.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenants_backlog_is_drained_batch_after_batch_not_per_poll() {
        use std::sync::atomic::Ordering;

        let dir = tempfile::tempdir().expect("tmp");
        let (workers, sent) = backlog_for_receiver(&dir, 200, 45).await;
        until_sent(&sent, 45).await;
        workers.stop(Duration::from_secs(5)).await;
        assert_eq!(
            sent.load(Ordering::SeqCst),
            45,
            "every vault.created delivered, not one batch per hour"
        );
    }

    /// A tenant with no endpoint: its first full batch skips the rest of its due backlog in
    /// bulk (issue 18), so one delivery pass, without any wake-up, ends all 45 events. Before,
    /// each batch of 10 cost a claim and a skip (two write transactions on SQLite's single
    /// writer) and one pass ended 10.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenant_without_an_endpoint_has_its_backlog_skipped_in_one_pass() {
        let dir = tempfile::tempdir().expect("tmp");
        let custody = on_file(&dir).build().await.expect("custody");
        let tenant = custody
            .admin()
            .create_tenant("Quiet")
            .await
            .expect("tenant");
        let caller = custody.caller(tenant.id, Environment::Sandbox);
        create_vaults(&custody, &caller, 45).await;
        let stores = custody.store.environment(Environment::Sandbox);
        let delivery = crate::graph::webhook_delivery(
            &stores,
            &custody.shared,
            &custody.parts,
            DeliverySettings::default(),
        );
        let slots = Arc::new(Semaphore::new(4));
        assert_eq!(
            deliver_due(Environment::Sandbox, &delivery, &slots).await,
            10,
            "one batch claimed"
        );
        // The batch runs on its own task; it holds a slot until it is done.
        let _all = slots.acquire_many(4).await.expect("slots");
        assert_eq!(
            skipped(&custody, &caller).await,
            45,
            "all skipped in one pass"
        );
    }

    /// A batch whose attempts were refused (a receiver answering 503) does not wake the loop:
    /// the tenant's next events wait the poll interval (an hour here) instead of being sent at
    /// once to a receiver that is failing. 25 events: the first claim's 10 are attempted, the
    /// other 15 wait.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_of_refused_attempts_does_not_wake_the_loop() {
        use std::sync::atomic::Ordering;

        let dir = tempfile::tempdir().expect("tmp");
        let (workers, sent) = backlog_for_receiver(&dir, 503, 25).await;
        until_sent(&sent, 10).await;
        // Time for a wake-up to have claimed the next batch, had there been one.
        tokio::time::sleep(Duration::from_millis(500)).await;
        workers.stop(Duration::from_secs(5)).await;
        assert_eq!(
            sent.load(Ordering::SeqCst),
            10,
            "one batch attempted; the rest wait for the poll interval"
        );
    }

    /// Every loop an embedded custody starts registers with the host's hook when spawned
    /// (before its first pass), ticks once per pass, and ticks no more once stopped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_loop_registers_and_ticks_the_hook_until_stopped() {
        let custody = Custody::builder()
            .store_url("sqlite::memory:")
            .master_key(MasterKey::from_bytes([7; 32]))
            .build()
            .await
            .expect("custody");
        let recorder = Arc::new(Recorder::default());
        let mut options = WorkerOptions::default().poll_every(Duration::from_millis(20));
        options.purge_interval = Duration::from_millis(30);
        let workers = custody.spawn_workers_watched(options, Arc::new(recorder.clone()));

        let registered = recorder.snapshot();
        let names: Vec<&str> = registered.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "purge.sandbox",
                "webhook_delivery.sandbox",
                "withdrawal_dispatch.sandbox"
            ],
            "the sandbox loops only: no live provider was given"
        );
        assert_eq!(workers.len(), 3);
        assert_eq!(registered["purge.sandbox"].0, Duration::from_millis(30));
        assert_eq!(
            registered["withdrawal_dispatch.sandbox"].0,
            Duration::from_millis(20)
        );

        // Each loop keeps passing (bounded wait, no timing asserted).
        for _ in 0..1_000 {
            if recorder.snapshot().values().all(|(_, ticks)| *ticks >= 3) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let before_stop = recorder.snapshot();
        assert!(
            before_stop.values().all(|(_, ticks)| *ticks >= 3),
            "{before_stop:?}"
        );

        workers.stop(Duration::from_secs(5)).await;
        let stopped = recorder.snapshot();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(recorder.snapshot(), stopped, "a stopped loop ticks no more");
    }

    /// Without a hook the loops run and record nothing anywhere.
    #[test]
    fn a_tick_without_a_hook_does_nothing() {
        Tick::none().tick();
        Tick::default().tick();
        let count = Arc::new(Mutex::new(0));
        let counted = count.clone();
        let tick = Tick::new(move || *counted.lock().expect("count") += 1);
        tick.tick();
        tick.clone().tick();
        assert_eq!(*count.lock().expect("count"), 2);
    }
}
