//! The transaction worker's pass: claim due open transactions with a lease, move each one on
//! (hand a withdrawal to the provider, poll it, refresh an open deposit), then release it with
//! its next due time. `custody serve` runs [`TransactionWorker::run_once`] in a loop per
//! environment (`crates/custody-http/src/workers.rs`).
//!
//! # Safe with many instances and across crashes
//! - **Claims never overlap.** A claim leases rows in one statement (PostgreSQL
//!   `FOR UPDATE SKIP LOCKED`, SQLite under the writer lock); a leased row is not claimed again
//!   until its lease ends, so two instances do not work on one transaction at once.
//! - **A withdrawal is sent at most once.** It is sent only after `Submitted →
//!   PendingSignature` commits under its row lock ([`WithdrawalService::dispatch`]), which a
//!   second dispatch cannot repeat; a withdrawal claimed without an answer is resent with the
//!   same provider-side idempotency reference (our transaction id), which the provider
//!   de-duplicates; a refused resend is never taken as proof that nothing was sent.
//! - **A crash loses nothing.** A worker that dies holding a lease (before, during or after
//!   the provider call) only delays its transactions until the lease ends; the next claimer
//!   resumes from the committed status.
//! - **No starvation.** Claims are ordered by due time (`next_poll_at`, or `created_at` for a
//!   transaction never polled), so a new withdrawal is not queued behind older in-flight ones
//!   being polled.

use std::sync::Arc;

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::WithdrawalService;
use crate::error::Error;
use crate::id::TransactionId;
use crate::ports::{DynClock, DynUnitOfWork};
use crate::transaction::{Transaction, TransactionKind, TransactionStatus};
use crate::work::{DueTransaction, WorkClaim};

/// Re-reads an open deposit from the provider and applies it (`DepositService::refresh`).
#[async_trait]
pub trait DepositRefresh: Send + Sync {
    /// Refreshes one open deposit.
    ///
    /// # Errors
    /// Provider or store errors; the worker retries with backoff.
    async fn refresh(&self, id: TransactionId) -> Result<Transaction, Error>;
}

#[async_trait]
impl DepositRefresh for super::DepositService {
    async fn refresh(&self, id: TransactionId) -> Result<Transaction, Error> {
        super::DepositService::refresh(self, id).await
    }
}

/// How a worker claims and schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerSettings {
    /// This instance's lease-holder name (unique per process).
    pub owner: String,
    /// Transactions claimed per pass.
    pub batch_size: u32,
    /// How long a claim is held; longer than the slowest provider call.
    pub lease: Duration,
    /// When an open transaction is looked at again after a successful step.
    pub poll_interval: Duration,
    /// The longest wait after failed attempts (the backoff doubles up to it).
    pub max_backoff: Duration,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PassReport {
    /// Transactions claimed.
    pub claimed: usize,
    /// Steps that failed (retried later with backoff).
    pub failed: Vec<(TransactionId, String)>,
    /// Transactions that reached a final status in this pass.
    pub finished: usize,
}

/// One environment's worker.
#[derive(Clone)]
pub struct TransactionWorker {
    uow: DynUnitOfWork,
    withdrawals: WithdrawalService,
    deposits: Option<Arc<dyn DepositRefresh>>,
    clock: DynClock,
    settings: WorkerSettings,
}

impl TransactionWorker {
    /// A worker over one environment's unit of work and withdrawal service; with `deposits`,
    /// it also refreshes open (`Confirming`) deposits.
    pub fn new(
        uow: DynUnitOfWork,
        withdrawals: WithdrawalService,
        deposits: Option<Arc<dyn DepositRefresh>>,
        clock: DynClock,
        settings: WorkerSettings,
    ) -> TransactionWorker {
        TransactionWorker {
            uow,
            withdrawals,
            deposits,
            clock,
            settings,
        }
    }

    /// Claims one batch, steps each claimed transaction, and releases each with its next due
    /// time (the poll interval after a step that worked, a doubling backoff after one that
    /// failed). A step's failure is reported, not returned: the others still run.
    ///
    /// # Errors
    /// Store errors of the claim itself (nothing was claimed).
    pub async fn run_once(&self) -> Result<PassReport, Error> {
        let due = self.claim(self.clock.now()).await?;
        let mut report = PassReport {
            claimed: due.len(),
            ..PassReport::default()
        };
        for item in due {
            let outcome = self.step(&item).await;
            let now = self.clock.now();
            let (next, attempts) = match &outcome {
                Ok(_) => (now + self.settings.poll_interval, 0),
                Err(_) => {
                    let attempts = item.poll_attempts.saturating_add(1);
                    (now + self.backoff(attempts), attempts)
                }
            };
            match outcome {
                Ok(Some(t)) if t.status.is_terminal() => report.finished += 1,
                Ok(_) => {}
                Err(e) => report.failed.push((item.id, e.to_string())),
            }
            // A failed release only delays the transaction until its lease ends.
            if let Err(e) = self.release(item.id, next, attempts).await {
                report
                    .failed
                    .push((item.id, format!("releasing the lease: {e}")));
            }
        }
        Ok(report)
    }

    /// Leases a batch of due transactions (committed before anything is sent).
    ///
    /// # Errors
    /// Store errors.
    pub async fn claim(&self, now: OffsetDateTime) -> Result<Vec<DueTransaction>, Error> {
        let mut kinds = vec![TransactionKind::Withdrawal];
        if self.deposits.is_some() {
            kinds.push(TransactionKind::Deposit);
        }
        let claim = WorkClaim {
            kinds,
            now,
            lease_until: now + self.settings.lease,
            owner: self.settings.owner.clone(),
            limit: self.settings.batch_size,
        };
        let mut tx = self.uow.begin().await?;
        let due = tx.claim_due(&claim).await?;
        tx.commit().await?;
        Ok(due)
    }

    /// Moves one claimed transaction on. `None` when there was nothing to do for it.
    async fn step(&self, item: &DueTransaction) -> Result<Option<Transaction>, Error> {
        match (item.kind, item.status) {
            (TransactionKind::Withdrawal, TransactionStatus::Submitted) => {
                self.withdrawals.dispatch(item.id).await.map(Some)
            }
            // Claimed earlier without an answer: dispatch resends (or flags), never a second
            // claim.
            (TransactionKind::Withdrawal, TransactionStatus::PendingSignature)
                if item.provider_ref.is_none() && !item.needs_reconciliation =>
            {
                self.withdrawals.dispatch(item.id).await.map(Some)
            }
            (TransactionKind::Withdrawal, _) => self.withdrawals.poll(item.id).await.map(Some),
            (TransactionKind::Deposit, TransactionStatus::Confirming) => match &self.deposits {
                Some(deposits) => deposits.refresh(item.id).await.map(Some),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    async fn release(
        &self,
        id: TransactionId,
        next: OffsetDateTime,
        attempts: u32,
    ) -> Result<bool, Error> {
        let mut tx = self.uow.begin().await?;
        let held = tx
            .release_lease(id, &self.settings.owner, next, attempts)
            .await?;
        tx.commit().await?;
        Ok(held)
    }

    /// The wait after `attempts` failures in a row: the poll interval doubled per failure, at
    /// most `max_backoff`.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let base = self.settings.poll_interval.max(Duration::milliseconds(1));
        let factor = 1_i32 << attempts.min(20);
        base.checked_mul(factor)
            .unwrap_or(self.settings.max_backoff)
            .min(self.settings.max_backoff)
    }
}

#[cfg(test)]
mod tests;
