//! Store benchmarks: the real core services and the outbox, timed against any adapter.
//!
//! Run with `just bench` (or `cargo bench -p custody-sqlite -p custody-postgres --bench store`).
//! Each scenario runs on a fresh store and prints throughput and latency percentiles; the run
//! ends with the process's peak resident memory. Numbers are for comparing changes on one
//! machine, not promises: CI does not run them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use custody_core::amount::Amount;
use custody_core::asset::AssetId;
use custody_core::environment::Environment;
use custody_core::id::{DeliveryId, WalletId};
use custody_core::idempotency::RecordState;
use custody_core::outbox::{AttemptOutcome, DeliveryAttempt};
use custody_core::services::{AddressTarget, EnsureAddress, TransferCommand};

use crate::concurrency::{
    address_service, caller, seed_funded_wallets, transfer_service, XorShift,
};
use crate::fixtures::*;
use crate::provider::CountingProvider;
use crate::StoreHandles;

/// Latencies of one scenario.
struct Timings {
    name: String,
    total: Duration,
    samples: Vec<Duration>,
}

impl Timings {
    fn print(mut self) {
        self.samples.sort();
        let n = self.samples.len();
        let pct = |p: usize| self.samples[(n * p / 100).min(n.saturating_sub(1))];
        let per_sec = n as f64 / self.total.as_secs_f64();
        println!(
            "  {:<58} {:>6} ops {:>9.0} ops/s   p50 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}",
            self.name,
            n,
            per_sec,
            pct(50),
            pct(99),
            self.samples[n - 1]
        );
    }
}

/// Runs `ops` operations split over `tasks` concurrent tasks; `op(task, i)` is one operation.
async fn timed<F, Fut>(name: String, tasks: usize, ops_per_task: usize, op: F) -> Timings
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let start = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut samples = Vec::with_capacity(ops_per_task);
            for i in 0..ops_per_task {
                let t = Instant::now();
                op(task, i).await;
                samples.push(t.elapsed());
            }
            samples
        }));
    }
    let mut samples = Vec::new();
    for h in handles {
        samples.extend(h.await.expect("bench task"));
    }
    Timings {
        name,
        total: start.elapsed(),
        samples,
    }
}

/// Transfers between 10 funded wallets with `tasks` concurrent callers.
async fn transfers(stores: StoreHandles, tasks: usize, ops_per_task: usize) -> Timings {
    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let wallets: Vec<WalletId> = seed_funded_wallets(&env, tenant)
        .await
        .iter()
        .map(|w| w.id)
        .collect();
    let service = transfer_service(&env);
    let caller = caller(tenant, Environment::Live);
    timed(
        format!("transfer ({tasks} concurrent)"),
        tasks,
        ops_per_task,
        move |task, i| {
            let service = service.clone();
            let caller = caller.clone();
            let mut rng = XorShift::new((task as u64 + 1) * 7919 + i as u64);
            let from = rng.below(wallets.len() as u64) as usize;
            let to = (from + 1) % wallets.len();
            let command = TransferCommand {
                from: wallets[from],
                to: wallets[to],
                amount: Amount::from_base_units(1).to_decimal_string(6),
                reference: None,
            };
            async move {
                service
                    .transfer(&caller, command, None)
                    .await
                    .expect("transfer");
            }
        },
    )
    .await
}

/// Lazily provisions a customer vault, wallet and primary address per call (the Connect
/// `POST /connect/v1/addresses` path), all distinct.
async fn provisioning(stores: StoreHandles, tasks: usize, ops_per_task: usize) -> Timings {
    let env = stores.sandbox.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let provider = Arc::new(CountingProvider::with_delay(Duration::ZERO));
    let service = address_service(&stores, &env, provider);
    let caller = caller(tenant, Environment::Sandbox);
    let asset = AssetId::parse("USDC_ETHEREUM").expect("asset");
    timed(
        format!("ensure_primary_address, new vault ({tasks} concurrent)"),
        tasks,
        ops_per_task,
        move |task, i| {
            let service = service.clone();
            let caller = caller.clone();
            let command = EnsureAddress {
                target: AddressTarget::Customer(external_ref(&format!("cust-{task}-{i}"))),
                asset,
                label: None,
            };
            async move {
                service
                    .ensure_primary_address(&caller, command, None)
                    .await
                    .expect("ensure");
            }
        },
    )
    .await
}

/// Reserve, complete (in a unit of work) and look up an idempotency key per call.
async fn idempotency(stores: StoreHandles, tasks: usize, ops_per_task: usize) -> Timings {
    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    timed(
        format!("idempotency reserve + complete ({tasks} concurrent)"),
        tasks,
        ops_per_task,
        move |task, i| {
            let env = env.clone();
            async move {
                let key = idem_key(&format!("bench-{task}-{i}"));
                let reservation = env
                    .idempotency
                    .reserve(tenant, &key, &fingerprint(1), at(0), at(86_400), None)
                    .await
                    .expect("reserve");
                assert_eq!(reservation, reserved(at(0), None));
                let mut tx = env.uow.begin().await.expect("begin");
                tx.complete_idempotency(tenant, &key, &token(at(0), None), &stored_response(1))
                    .await
                    .expect("complete");
                tx.commit().await.expect("commit");
                let record = env
                    .idempotency
                    .lookup(tenant, &key, at(1))
                    .await
                    .expect("lookup");
                assert!(matches!(record.state, RecordState::Completed(_)));
            }
        },
    )
    .await
}

/// Claims events in batches of 50 and records a delivered attempt for each.
async fn outbox(stores: StoreHandles, events: u64) -> Timings {
    let env = stores.live.clone();
    let tenant = seed_tenant(&stores, 1).await;
    let seeded = crate::checks::events::seed_events(&env, tenant, 10_000, events).await;
    let lease = time::Duration::seconds(60);
    // Later than every seeded event's creation, so all are due.
    let now = at(100_000_000);
    let start = Instant::now();
    let mut samples = Vec::new();
    let mut attempt_no = 0u64;
    loop {
        let t = Instant::now();
        let batch = env.outbox.claim(now, lease, 50).await.expect("claim");
        if batch.is_empty() {
            break;
        }
        for claimed in batch {
            attempt_no += 1;
            let attempt = DeliveryAttempt {
                id: DeliveryId::from_ulid(ulid(1_000_000 + attempt_no)),
                event_id: claimed.event.id,
                tenant_id: tenant,
                attempt: 1,
                attempted_at: now,
                url: "https://partner.example/webhooks".to_owned(),
                response_status: Some(200),
                error: None,
                duration_ms: 12,
            };
            env.outbox
                .record_attempt(&attempt, AttemptOutcome::Delivered)
                .await
                .expect("record");
        }
        samples.push(t.elapsed());
    }
    assert_eq!(attempt_no, seeded.len() as u64);
    Timings {
        name: format!("outbox claim 50 + record each ({events} events; per batch)"),
        total: start.elapsed(),
        samples,
    }
}

/// Peak resident memory of this process, from `/proc/self/status` (Linux).
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Runs every scenario on fresh stores from `fresh` and prints the results under `label`.
pub async fn run<F, Fut>(label: &str, fresh: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StoreHandles>,
{
    println!("{label}");
    transfers(fresh().await, 1, 1000).await.print();
    transfers(fresh().await, 8, 250).await.print();
    provisioning(fresh().await, 1, 500).await.print();
    provisioning(fresh().await, 8, 125).await.print();
    idempotency(fresh().await, 8, 250).await.print();
    outbox(fresh().await, 1000).await.print();
    println!("  peak resident memory: {}", peak_rss());
}
