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
//! Each write runs inside its own savepoint: whatever it fails with (a unique key: a replayed
//! signature; a CHECK; a foreign key; anything else SQLite reports for that statement), the
//! savepoint is rolled back, the batch goes on, and only its caller gets the error, as it
//! would have alone. Only a failure of the batch itself (the savepoint cannot be rolled back,
//! the commit fails: the disk, the connection) rolls the whole batch back, and then every
//! caller in it gets an error: nothing of it was committed.
//!
//! The batches run on a thread of their own (with a one-thread runtime), started by the first
//! write and ended when the store is dropped: not on the runtime of whichever caller came
//! first, which may be idle, blocked or shutting down (an actix worker's, a test's) while other
//! runtimes' writes wait. Dropping a request never stops a batch midway, so a batch always ends
//! with a commit or a rollback.

use std::sync::Mutex;

use custody_core::ports::StoreError;
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

    /// The queue's sender, starting the batches' thread if none is running.
    fn queue(&self) -> Result<mpsc::UnboundedSender<Job>, StoreError> {
        let mut jobs = self
            .jobs
            .lock()
            .map_err(|_| StoreError::Internal("the group commit's queue is poisoned".into()))?;
        if let Some(sender) = jobs.as_ref().filter(|sender| !sender.is_closed()) {
            return Ok(sender.clone());
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("group commit runtime: {e}").into()))?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let writer = self.writer.clone();
        std::thread::Builder::new()
            .name("custody-sqlite-group-commit".to_owned())
            .spawn(move || runtime.block_on(run(writer, receiver)))
            .map_err(|e| StoreError::Internal(format!("group commit thread: {e}").into()))?;
        *jobs = Some(sender.clone());
        Ok(sender)
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable("the SQLite writer's group commit stopped".into())
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
            if let Err(e) = sqlx::query("SAVEPOINT one_write").execute(&mut *tx).await {
                broken = Some(db_err(e));
                break;
            }
            let query = job.bound.query();
            let result = if job.rows {
                query.fetch_all(&mut *tx).await.map(Written::Rows)
            } else {
                query
                    .execute(&mut *tx)
                    .await
                    .map(|done| Written::Changed(done.rows_affected()))
            };
            // This write alone is kept or undone; the batch goes on either way.
            let close = if result.is_ok() {
                "RELEASE one_write"
            } else {
                "ROLLBACK TO one_write; RELEASE one_write"
            };
            if let Err(e) = sqlx::raw_sql(close).execute(&mut *tx).await {
                broken = Some(db_err(e));
                break;
            }
            results.push(result.map_err(db_err));
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
