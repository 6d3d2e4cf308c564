//! Group commit of single-statement writes (issue 18).
//!
//! Every write outside a unit of work is one statement that commits by itself: a request's
//! single-use signature, its idempotency reservation, an instance heartbeat, an outbox claim.
//! With `synchronous=FULL` each commit waits for the disk (`fsync` of the WAL, milliseconds),
//! under the one writer lock, so under load those commits queued behind each other and behind
//! the units of work. Here they go through one task that takes the writer, runs every write
//! queued by then (in arrival order, each its own statement) and commits them **together**:
//! one `fsync` for the batch. Each caller is answered only after that commit has returned, so a
//! write is as durable when its caller hears back as before, and the order of the writes is
//! the order of a serial run.
//!
//! A statement that breaks a rule (a unique key: a replayed signature; a CHECK; a foreign key)
//! is undone by SQLite alone, the transaction stays open, and only its caller gets the error,
//! as it would have alone. Any other failure (the disk, the connection) rolls the whole batch
//! back and every caller in it gets an error: nothing of it was committed.
//!
//! The task runs on the runtime of the first write after it stopped (a store opened in one
//! runtime and used in another gets a new task there); dropping a request never stops it
//! midway, so a batch always ends with a commit or a rollback.

use std::sync::Mutex;

use custody_core::ports::StoreError;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::db::Bound;
use crate::error::db_err;

/// At most this many writes share one commit (a bound on how long one batch holds the writer).
const MAX_BATCH: usize = 64;

/// What a write returned: its rows (`RETURNING`) or how many rows it changed.
pub(crate) enum Written {
    Rows(Vec<SqliteRow>),
    Changed(u64),
}

struct Job {
    bound: Bound,
    rows: bool,
    reply: oneshot::Sender<Result<Written, StoreError>>,
}

/// The queue of single-statement writes of one database (shared by every handle).
pub(crate) struct GroupCommit {
    writer: SqlitePool,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
}

impl GroupCommit {
    pub(crate) fn new(writer: SqlitePool) -> GroupCommit {
        GroupCommit {
            writer,
            jobs: Mutex::new(None),
        }
    }

    /// Runs `bound` in the next batch and answers once the batch has committed: its rows if
    /// `rows`, else how many rows it changed.
    pub(crate) async fn write(&self, bound: Bound, rows: bool) -> Result<Written, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue()?
            .send(Job { bound, rows, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// The queue's sender, starting the task (on the current runtime) if none is running.
    fn queue(&self) -> Result<mpsc::UnboundedSender<Job>, StoreError> {
        let mut jobs = self
            .jobs
            .lock()
            .map_err(|_| StoreError::Internal("the group commit's queue is poisoned".into()))?;
        if let Some(sender) = jobs.as_ref().filter(|sender| !sender.is_closed()) {
            return Ok(sender.clone());
        }
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| StoreError::Internal(format!("no async runtime: {e}").into()))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        runtime.spawn(run(self.writer.clone(), receiver));
        *jobs = Some(sender.clone());
        Ok(sender)
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer's group commit stopped".into())
}

/// Whether SQLite undid only this statement and kept the transaction (a broken rule).
fn statement_only(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => !matches!(db.kind(), ErrorKind::Other),
        _ => false,
    }
}

/// The task: for each first write, take the writer, add every write queued by then, run
/// them, commit once, answer each.
async fn run(writer: SqlitePool, mut jobs: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = jobs.recv().await {
        let mut tx = match writer.begin_with("BEGIN IMMEDIATE").await {
            Ok(tx) => tx,
            Err(e) => {
                let _ = first.reply.send(Err(db_err(e)));
                continue;
            }
        };
        // Whatever queued while the writer was busy joins this commit.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        let mut broken = None;
        for job in &batch {
            let query = job.bound.query();
            let result = if job.rows {
                query.fetch_all(&mut *tx).await.map(Written::Rows)
            } else {
                query
                    .execute(&mut *tx)
                    .await
                    .map(|done| Written::Changed(done.rows_affected()))
            };
            match result {
                Ok(written) => results.push(Ok(written)),
                Err(e) if statement_only(&e) => results.push(Err(db_err(e))),
                Err(e) => {
                    broken = Some(db_err(e));
                    break;
                }
            }
        }
        let ended = match broken {
            None => tx.commit().await.map_err(db_err),
            Some(e) => {
                let _ = tx.rollback().await;
                Err(e)
            }
        };
        match ended {
            Ok(()) => {
                for (job, result) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(result);
                }
            }
            Err(e) => {
                let why = e.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(StoreError::Unavailable(
                        format!("the write's batch was rolled back: {why}").into(),
                    )));
                }
            }
        }
    }
}
