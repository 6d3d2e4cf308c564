//! Keeping the write-ahead log bounded (issue 18).
//!
//! In WAL mode every commit appends to `custody.db-wal`; a *checkpoint* copies the log back
//! into the database file, and the log may start over from its beginning only once every
//! frame is copied and no reader still reads from it. SQLite's automatic checkpoints run on
//! the writer after a commit and are *passive*: they copy what no reader needs any more and
//! never wait. When reads overlap every commit the passive checkpoint may never catch up with
//! the writer, the log never starts over, and the file grows by every commit: the 10-minute
//! soak left a 2.97 GB `-wal` beside a 60 MB database. (In that soak the webhook claim, a read
//! of the whole pending backlog lasting seconds, held old snapshots that no checkpoint can copy
//! past; it is bounded now: docs/performance.md, change 21. Reads through the store's ports
//! leave no snapshot behind: `tests/wal.rs`.)
//!
//! Here a connection of its own (not the writer: a checkpoint that waits must never hold the
//! one writer connection, which is what the withdrawn change 15 did) checkpoints every
//! interval ([`SqliteOptions::checkpoint_every`](crate::SqliteOptions)):
//! 1. `PASSIVE`: copies what it can without waiting for anyone;
//! 2. then, if the log still holds [`TRUNCATE_ABOVE_FRAMES`] frames or more, `TRUNCATE`. That
//!    mode takes the database's write lock, waits until the readers of older snapshots have
//!    finished, copies the rest and empties the file. It waits at most [`CHECKPOINT_BUSY`]
//!    for each lock; when it does not get them it gives up, and backs off: the next
//!    `TRUNCATE` waits 1, 2, 4 … up to 64 intervals (the passive copy still runs every
//!    interval). A write waits for one `TRUNCATE` at most about that long plus the copy of
//!    the little the passive step left, and while a reader pins an old snapshot for good that
//!    happens once in 64 intervals, not every interval (review, this stop).
//!
//! Every connection also sets `journal_size_limit`, so a log the writer starts over itself is
//! truncated to that size instead of keeping its largest size on disk.

use std::time::Duration;

use custody_core::ports::StoreError;
use sqlx::SqlitePool;
use tokio::sync::oneshot;

use crate::error::db_err;

/// How long a checkpoint waits for the write lock, and then for the readers of older
/// snapshots, before giving up until the next interval.
pub const CHECKPOINT_BUSY: Duration = Duration::from_millis(100);
/// A log of this many frames (pages, 4 KiB each by default) or more is emptied (`TRUNCATE`);
/// a smaller one only gets the passive copy. SQLite's own automatic checkpoint threshold.
pub const TRUNCATE_ABOVE_FRAMES: i64 = 1_000;
/// After this many checkpoints in a row that could not finish, a warning is logged (and again
/// after as many more).
const WARN_AFTER: u32 = 60;
/// `journal_size_limit` of every connection: a log started over is truncated to this size.
pub const JOURNAL_SIZE_LIMIT: u64 = 64 * 1024 * 1024;

/// What one checkpoint did: SQLite's `wal_checkpoint` answer for its last step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// The checkpoint could not finish (the write lock or a reader of an older snapshot was
    /// held past [`CHECKPOINT_BUSY`]); the next one retries.
    pub busy: bool,
    /// Frames in the log (0 after a completed `TRUNCATE`).
    pub log_frames: i64,
    /// Frames of the log copied into the database file.
    pub checkpointed_frames: i64,
}

/// The checkpoint connection of a file-backed store, and the thread that uses it every
/// interval (stopped when this is dropped, with the store).
pub(crate) struct Checkpoints {
    pool: SqlitePool,
    _stop: Option<oneshot::Sender<()>>,
}

impl Checkpoints {
    /// Starts checkpointing on `pool` (one connection with a short busy timeout) every `every`,
    /// or never for `None` (then only [`Checkpoints::run`] does).
    pub(crate) fn start(pool: SqlitePool, every: Option<Duration>) -> Result<Self, StoreError> {
        let Some(every) = every else {
            return Ok(Checkpoints { pool, _stop: None });
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Internal(format!("checkpoint runtime: {e}").into()))?;
        let (stop, mut stopped) = oneshot::channel::<()>();
        let on_thread = pool.clone();
        std::thread::Builder::new()
            .name("custody-sqlite-checkpoint".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    // Ends when the sender is dropped (the store is) or the pool is closed.
                    let mut unfinished = 0_u32;
                    // Intervals left before the next `TRUNCATE` may run (the back-off).
                    let mut truncate_in = 0_u32;
                    while tokio::time::timeout(every, &mut stopped).await.is_err() {
                        if on_thread.is_closed() {
                            return;
                        }
                        let allow_truncate = truncate_in == 0;
                        truncate_in = truncate_in.saturating_sub(1);
                        // A failure (busy, the disk) is retried at a later interval.
                        match checkpoint(&on_thread, allow_truncate).await {
                            Ok(done) if !done.busy => unfinished = 0,
                            Ok(done) => {
                                unfinished += 1;
                                if allow_truncate {
                                    // A `TRUNCATE` that gave up held the write lock for up
                                    // to CHECKPOINT_BUSY: while a reader pins an old
                                    // snapshot, wait 1, 2, 4 … 64 intervals before the next.
                                    truncate_in = truncate_backoff(unfinished);
                                }
                                if unfinished % WARN_AFTER == 0 {
                                    tracing::warn!(
                                        attempts = unfinished,
                                        log_frames = done.log_frames,
                                        "the SQLite write-ahead log could not be emptied: a \
                                         reader holds an old snapshot, or another process the \
                                         write lock; the log grows until they let go"
                                    );
                                }
                            }
                            Err(e) => {
                                unfinished += 1;
                                if unfinished % WARN_AFTER == 0 {
                                    tracing::warn!(error = %e, "SQLite checkpoint failed");
                                }
                            }
                        }
                    }
                });
            })
            .map_err(|e| StoreError::Internal(format!("checkpoint thread: {e}").into()))?;
        Ok(Checkpoints {
            pool,
            _stop: Some(stop),
        })
    }

    /// One checkpoint now (what the thread does every interval).
    pub(crate) async fn run(&self) -> Result<WalCheckpoint, StoreError> {
        checkpoint(&self.pool, true).await
    }

    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }
}

/// How many intervals to skip `TRUNCATE` after the `unfinished`-th checkpoint in a row that
/// could not finish: 1, 2, 4 … up to [`MAX_TRUNCATE_BACKOFF`].
fn truncate_backoff(unfinished: u32) -> u32 {
    1_u32
        .checked_shl(unfinished.saturating_sub(1))
        .unwrap_or(MAX_TRUNCATE_BACKOFF)
        .min(MAX_TRUNCATE_BACKOFF)
}

/// The longest back-off of `TRUNCATE`, in intervals: while a reader pins an old snapshot for
/// good, the writer is held up at most [`CHECKPOINT_BUSY`] once in this many intervals.
const MAX_TRUNCATE_BACKOFF: u32 = 64;

async fn checkpoint(pool: &SqlitePool, allow_truncate: bool) -> Result<WalCheckpoint, StoreError> {
    let passive = step(pool, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    if passive.log_frames < TRUNCATE_ABOVE_FRAMES {
        return Ok(passive);
    }
    if !allow_truncate {
        // Backing off: report the log as not emptied, so the warning still counts it.
        return Ok(WalCheckpoint {
            busy: true,
            ..passive
        });
    }
    step(pool, "PRAGMA wal_checkpoint(TRUNCATE)").await
}

async fn step(pool: &SqlitePool, pragma: &str) -> Result<WalCheckpoint, StoreError> {
    match sqlx::query_as::<_, (i64, i64, i64)>(pragma)
        .fetch_one(pool)
        .await
    {
        Ok((busy, log_frames, checkpointed_frames)) => Ok(WalCheckpoint {
            busy: busy != 0,
            log_frames,
            checkpointed_frames,
        }),
        // SQLITE_BUSY / SQLITE_LOCKED as an error rather than the busy column: the same.
        Err(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("5" | "6" | "261" | "517")) =>
        {
            Ok(WalCheckpoint {
                busy: true,
                log_frames: -1,
                checkpointed_frames: -1,
            })
        }
        Err(e) => Err(db_err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_backs_off_exponentially_up_to_the_cap() {
        let waits: Vec<u32> = (1..=9).map(truncate_backoff).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        assert_eq!(truncate_backoff(u32::MAX), MAX_TRUNCATE_BACKOFF);
        assert_eq!(truncate_backoff(0), 1);
    }
}
