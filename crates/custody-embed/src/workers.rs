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

use std::sync::Arc;
use std::time::Duration;

use custody_core::environment::Environment;
use custody_core::outbox::ClaimedEvent;
use custody_core::services::{
    DeliverySettings, EventService, TransactionWorker, WebhookDelivery, WorkerSettings,
};
use tokio::sync::{watch, Semaphore};
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

/// The running workers. Dropping this handle leaves them running (they are tasks of the
/// runtime); call [`Workers::stop`] to end them.
#[must_use = "the workers run until stopped"]
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    pub(crate) fn new() -> Workers {
        Workers {
            stop: watch::channel(false).0,
            tasks: Vec::new(),
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

    pub(crate) fn transactions(
        &mut self,
        env: Environment,
        worker: TransactionWorker,
        every: Duration,
    ) {
        let stop = self.stop.subscribe();
        self.tasks.push(tokio::spawn(async move {
            repeat(every, stop, || async {
                match worker.run_once().await {
                    Ok(pass) => {
                        for (id, error) in &pass.failed {
                            tracing::warn!(environment = env.as_str(), transaction = %id, error, "worker step failed; retried with backoff");
                        }
                    }
                    Err(e) => tracing::warn!(environment = env.as_str(), error = %e, "worker claim failed"),
                }
            })
            .await;
        }));
    }

    pub(crate) fn housekeeping(
        &mut self,
        env: Environment,
        events: EventService,
        idempotency: custody_core::ports::DynIdempotencyStore,
        clock: custody_core::ports::DynClock,
        options: &WorkerOptions,
    ) {
        let stop = self.stop.subscribe();
        let days = options.event_retention_days;
        let every = options.purge_interval;
        self.tasks.push(tokio::spawn(async move {
            repeat(every, stop, || async {
                if let Err(e) = events.purge(clock.now(), days).await {
                    tracing::warn!(environment = env.as_str(), error = %e, "event purge failed; retried next time");
                }
                if let Err(e) = idempotency.purge_expired(clock.now()).await {
                    tracing::warn!(environment = env.as_str(), error = %e, "idempotency purge failed; retried next time");
                }
            })
            .await;
        }));
    }

    /// Webhook delivery: claims due events for as many tenants as there are free slots and
    /// sends each tenant's batch in order on its own task, so a slow receiver delays only its
    /// own tenant (the same scheme as `custody serve`, docs/webhooks.md).
    pub(crate) fn webhooks(
        &mut self,
        env: Environment,
        delivery: WebhookDelivery,
        options: &WorkerOptions,
    ) {
        let stop = self.stop.subscribe();
        let every = options.webhook_poll_interval;
        let slots = Arc::new(Semaphore::new(
            usize::try_from(options.webhook_concurrency.max(1)).unwrap_or(1),
        ));
        self.tasks.push(tokio::spawn(async move {
            repeat(every, stop, || async {
                deliver_due(env, &delivery, &slots).await;
            })
            .await;
        }));
    }
}

/// One webhook delivery pass, shared by these workers and `custody serve`'s: claims due events
/// for as many tenants as `slots` has free permits, groups them by tenant and sends each
/// tenant's batch in order on its own task holding one permit, so a slow receiver delays only
/// its own tenant. Returns how many events were claimed: 0 when no slot was free or the claim
/// failed (logged; the events stay due).
pub async fn deliver_due(
    env: Environment,
    delivery: &WebhookDelivery,
    slots: &Arc<Semaphore>,
) -> usize {
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
        tokio::spawn(async move {
            for event in &batch {
                if let Err(e) = delivery.deliver(event).await {
                    tracing::warn!(environment = env.as_str(), event = %event.event.id, error = %e, "webhook delivery not recorded; retried when its lease ends");
                }
            }
            drop(permit);
        });
    }
    count
}

/// Runs `pass` every `every` until `stop` turns true (checked between passes).
async fn repeat<F, Fut>(every: Duration, mut stop: watch::Receiver<bool>, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let every = every.max(Duration::from_millis(10));
    loop {
        pass().await;
        tokio::select! {
            _ = stop.changed() => break,
            () = tokio::time::sleep(every) => {}
        }
        if *stop.borrow() {
            break;
        }
    }
}
