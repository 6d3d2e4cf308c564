//! The SQLite store's write-ahead log (issue 18): no read leaves a snapshot behind, the
//! checkpoint connection empties the log while readers and writers keep going, gives up (and
//! retries) instead of waiting on a held lock, and runs by itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use custody_conformance::fixtures::*;
use custody_core::environment::Environment;
use custody_core::id::TenantId;
use custody_core::page::PageRequest;
use custody_core::ports::{EnvironmentStores, VaultFilter};
use custody_sqlite::{SqliteOptions, SqliteStore, WalCheckpoint, TRUNCATE_ABOVE_FRAMES};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::SqliteConnection;

mod common;
use common::{db_path, handles, master, open_migrated_with, raw_with};

/// A store on a file whose checkpoints run only when the test asks, unless `every` is given.
async fn open(path: &Path, every: Option<Duration>) -> SqliteStore {
    open_migrated_with(
        path,
        SqliteOptions {
            checkpoint_every: every,
        },
    )
    .await
}

/// A plain connection to the file that never waits for a lock (busy timeout 0).
async fn impatient(path: &Path) -> SqliteConnection {
    raw_with(
        SqliteConnectOptions::new()
            .filename(path)
            .busy_timeout(Duration::ZERO),
    )
    .await
}

/// Another process's reader whose transaction has read and stays open (until `COMMIT`).
async fn hold_a_snapshot(path: &Path) -> SqliteConnection {
    let mut reader = impatient(path).await;
    sqlx::query("BEGIN").execute(&mut reader).await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM vaults")
        .fetch_one(&mut reader)
        .await
        .unwrap();
    reader
}

fn wal(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

fn wal_len(path: &Path) -> u64 {
    std::fs::metadata(wal(path)).map(|m| m.len()).unwrap_or(0)
}

/// `count` vaults of `tenant` from number `from`, one unit of work each.
async fn write_vaults(sandbox: &EnvironmentStores, tenant: TenantId, from: u64, count: u64) {
    for n in from..from + count {
        commit_vaults(sandbox, &[&customer_vault(tenant, n)]).await;
    }
}

/// The hypothesis of issue 18's soak: a pooled reader keeps a read transaction open after
/// its read returned (a statement not reset), pinning a snapshot so that no checkpoint can
/// copy past it and the log never starts over. After reads through every read path of the
/// store have returned, a `TRUNCATE` checkpoint on another connection that will not wait at
/// all must complete and empty the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_through_the_store_leave_no_snapshot_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path, None).await;
    let h = handles(&store);
    let t = seed_tenant(&h, 1).await;
    write_vaults(&h.sandbox, t, 10, 50).await;
    assert!(wal_len(&path) > 0, "the writes went to the log");

    // Single rows, lists, misses, and reads of both environments, on every reader connection.
    let mut reads = Vec::new();
    for round in 0..16_u64 {
        let store = store.clone();
        reads.push(tokio::spawn(async move {
            let sandbox = store.environment(Environment::Sandbox);
            store.shared().tenants.get(t).await.unwrap();
            sandbox
                .vaults
                .get(t, customer_vault(t, 10 + round).id)
                .await
                .unwrap();
            let page = sandbox
                .vaults
                .list(t, &VaultFilter::default(), PageRequest::default())
                .await
                .unwrap();
            assert!(!page.items.is_empty());
            let live = store.environment(Environment::Live);
            assert!(live.vaults.get(t, vault_id(999)).await.is_err());
        }));
    }
    for read in reads {
        read.await.unwrap();
    }

    let mut conn = impatient(&path).await;
    let (busy, log, copied): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        (busy, log, copied),
        (0, 0, 0),
        "no reader holds a snapshot once its read has returned"
    );
    assert_eq!(wal_len(&path), 0, "the log is emptied");
}

/// The log stays bounded under continuous load: writers commit units of work and readers
/// read without pause while the store's checkpoint runs between batches of writes; each
/// checkpoint empties the log (retried while busy), so the log never holds more than one
/// batch's writes, however many batches go by.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_log_stays_bounded_while_readers_and_writers_keep_going() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path, None).await;
    let h = handles(&store);
    let t = seed_tenant(&h, 1).await;
    write_vaults(&h.sandbox, t, 1, 1).await;

    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (store, stop) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (shared, sandbox) = (store.shared(), store.environment(Environment::Sandbox));
            let mut reads = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                sandbox
                    .vaults
                    .get(t, customer_vault(t, 1).id)
                    .await
                    .unwrap();
                shared.tenants.get(t).await.unwrap();
                reads += 1;
            }
            reads
        }));
    }
    for writer in 0..2_u64 {
        let (store, stop, written) = (store.clone(), stop.clone(), written.clone());
        tasks.push(tokio::spawn(async move {
            let sandbox = store.environment(Environment::Sandbox);
            let mut n = 1_000 + writer * 1_000_000;
            while !stop.load(Ordering::Relaxed) {
                write_vaults(&sandbox, t, n, 1).await;
                n += 1;
                written.fetch_add(1, Ordering::Relaxed);
            }
            n
        }));
    }

    // Four times the threshold: more than a batch writes.
    const BOUND: u64 = 4 * 4_120 * 1_000;
    for _ in 0..6 {
        // A batch of writes, with the readers going.
        let target = written.load(Ordering::Relaxed) + 300;
        while written.load(Ordering::Relaxed) < target {
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let done = checkpoint_until_done(&store).await;
        // The log was emptied (by this `TRUNCATE`, or started over by the writer after the
        // passive copy, which reuses the file from its start); the file holds at most the
        // writes of the last batch and those committed since.
        assert_eq!(done.log_frames, 0, "{done:?}");
        let after = wal_len(&path);
        assert!(
            after <= BOUND,
            "the log file after a checkpoint: {after} bytes"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        assert!(
            task.await.unwrap() > 0,
            "every reader and writer kept going"
        );
    }
    // The load went on through every batch.
    let total: i64 = written.load(Ordering::Relaxed).try_into().unwrap();
    assert!(total >= 1_800, "{total} writes");
}

/// A checkpoint, repeated while it reports busy (as the store's own interval does).
async fn checkpoint_until_done(store: &SqliteStore) -> WalCheckpoint {
    for _ in 0..2_000 {
        let done = store.checkpoint().await.unwrap().expect("a file has a log");
        // Busy, or below the threshold (only the passive copy ran) while the writes go on:
        // the next one retries.
        if !done.busy && done.log_frames == 0 {
            return done;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the checkpoint never finished in 2,000 attempts");
}

/// A checkpoint never waits long on a lock it cannot get: with another connection holding the
/// write lock, or a reader holding an old snapshot, it reports busy (and keeps the log
/// intact); once they are gone, the next one empties the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_makes_the_checkpoint_give_up_and_the_next_one_finish() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path, None).await;
    let h = handles(&store);
    let t = seed_tenant(&h, 1).await;

    // An old snapshot: a reader's transaction that has read and stays open.
    let mut reader = hold_a_snapshot(&path).await;
    write_vaults(&h.sandbox, t, 1, 600).await;
    let done = store.checkpoint().await.unwrap().unwrap();
    assert!(done.busy, "the old snapshot blocks the reset: {done:?}");
    assert!(done.log_frames >= TRUNCATE_ABOVE_FRAMES, "{done:?}");
    assert!(
        wal_len(&path) > 0,
        "the log is kept while a reader needs it"
    );
    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();

    // The write lock, held by another process's transaction.
    let mut writer = impatient(&path).await;
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut writer)
        .await
        .unwrap();
    let done = store.checkpoint().await.unwrap().unwrap();
    assert!(done.busy, "the held write lock makes it give up: {done:?}");
    sqlx::query("ROLLBACK").execute(&mut writer).await.unwrap();

    let done = store.checkpoint().await.unwrap().unwrap();
    assert_eq!(
        (done.busy, done.log_frames),
        (false, 0),
        "nothing holds the log any more: {done:?}"
    );
    assert_eq!(wal_len(&path), 0);
    assert_eq!(
        h.sandbox
            .vaults
            .get(t, customer_vault(t, 600).id)
            .await
            .unwrap(),
        customer_vault(t, 600),
        "every write is in the database file"
    );
}

/// The store checkpoints by itself every interval: a log over the threshold is emptied
/// without anyone asking.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_checkpoints_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path, Some(Duration::from_millis(20))).await;
    let h = handles(&store);
    let t = seed_tenant(&h, 1).await;
    // A reader's old snapshot keeps the log from starting over while it grows past the
    // threshold; then the reader ends, the writes stop, and the interval empties it.
    let mut reader = hold_a_snapshot(&path).await;
    write_vaults(&h.sandbox, t, 1, 600).await;
    assert!(wal_len(&path) >= 4096 * u64::try_from(TRUNCATE_ABOVE_FRAMES).unwrap());
    sqlx::query("COMMIT").execute(&mut reader).await.unwrap();
    let mut waited = 0;
    while wal_len(&path) > 0 {
        assert!(waited < 1_000, "the log was never emptied");
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += 1;
    }
}

/// An in-memory database has no log to checkpoint.
#[tokio::test]
async fn an_in_memory_store_has_no_log() {
    let store = SqliteStore::in_memory(master()).await.unwrap();
    assert_eq!(store.checkpoint().await.unwrap(), None);
}
