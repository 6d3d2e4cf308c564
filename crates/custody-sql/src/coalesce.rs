//! Reads by id, coalesced under load (issue 18).
//!
//! A read by id outside a transaction is one statement, and on PostgreSQL one more round trip
//! when its connection goes back to the pool (sqlx pings every returned connection). Under
//! load most of a GET's database work is that fixed cost per statement. So the reads by id of
//! one kind go through a queue served by a *driver*, a task no request owns:
//!
//! - A read that finds no driver starts one, which reads it at once with the tenant-scoped
//!   statement a single read always used: an idle store adds no wait, and there is no timer.
//! - Reads that arrive while a batch runs queue; the driver then takes up to [`MAX_BATCH`] of
//!   them (oldest first) in one statement `… AND id IN (…)`, each id once, and answers each by
//!   the row's own `id` **and `tenant_id`** columns: another tenant's row is `NotFound`, as for
//!   a single read. A row that cannot be decoded fails only the reads that asked for it.
//! - Each full batch's worth that queues starts another driver, up to [`MAX_DRIVERS`] of one
//!   kind, so a long queue does not wait behind one statement at a time.
//!
//! Consistency is that of a single read: the driver takes a read from the queue before it
//! sends the statement that answers it, so every read starts after its request arrived and sees
//! every write committed before. A request cancelled while queued is dropped from the queue
//! unread; a driver that panics lets every queued read fall back to reading alone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use custody_core::id::TenantId;
use custody_core::ports::StoreError;
use tokio::sync::oneshot;

use crate::codec::Columns;
use crate::statement::Statement;
use crate::store::Database;

/// Most reads answered by one statement (ids bound as a list).
pub const MAX_BATCH: usize = 64;

/// Most drivers of one kind at once; more than one only while a full batch's worth waits.
pub const MAX_DRIVERS: usize = 4;

/// What a driver needs of a store: reads outside a transaction ([`Database::fetch_all`]),
/// from a handle it owns.
#[async_trait]
pub(crate) trait Reads: Clone + Send + Sync + 'static {
    type Row: Send + 'static;

    async fn fetch_all(&self, stmt: Statement) -> Result<Vec<Self::Row>, StoreError>;
}

#[async_trait]
impl<D: Database> Reads for D {
    type Row = D::Row;

    async fn fetch_all(&self, stmt: Statement) -> Result<Vec<D::Row>, StoreError> {
        Database::fetch_all(self, stmt).await
    }
}

/// How one kind of row is read by id: several by a list of ids (in this environment, whatever
/// their tenant), one for one tenant, decoded, and identified by its raw `(tenant_id, id)`.
pub(crate) struct ById<Row, T> {
    pub by_ids: fn(&[String]) -> Statement,
    pub one: fn(TenantId, &str) -> Statement,
    pub decode: fn(&Row) -> Result<T, StoreError>,
    pub key: fn(&Row) -> Result<(String, String), StoreError>,
}

impl<Row, T> Clone for ById<Row, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Row, T> Copy for ById<Row, T> {}

/// A row's raw `(tenant_id, id)` columns, as every table names them.
pub(crate) fn raw_key(row: &impl Columns) -> Result<(String, String), StoreError> {
    Ok((row.text("tenant_id")?, row.text("id")?))
}

struct Waiter<T> {
    tenant: TenantId,
    id: String,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

struct Queue<T> {
    drivers: usize,
    waiting: VecDeque<Waiter<T>>,
}

/// One kind's reads by id.
pub(crate) struct Coalesced<T> {
    queue: Arc<Mutex<Queue<T>>>,
}

impl<T> Default for Coalesced<T> {
    fn default() -> Self {
        Coalesced {
            queue: Arc::new(Mutex::new(Queue {
                drivers: 0,
                waiting: VecDeque::new(),
            })),
        }
    }
}

fn lock<T>(queue: &Mutex<Queue<T>>) -> MutexGuard<'_, Queue<T>> {
    // Nothing panics while the queue is held; a poisoned lock still holds a consistent queue.
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The same error for another read of the batch.
fn copy(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict { constraint } => StoreError::Conflict {
            constraint: constraint.clone(),
        },
        StoreError::Unavailable(source) => StoreError::Unavailable(source.to_string().into()),
        other => StoreError::Internal(other.to_string().into()),
    }
}

/// Ids padded to the next power of two by repeating the last (each id is read once however
/// often it is listed): at most seven statement texts per kind for the drivers' cache.
fn padded(mut ids: Vec<String>) -> Vec<String> {
    let size = ids.len().next_power_of_two();
    if let Some(last) = ids.last().cloned() {
        ids.resize(size, last);
    }
    ids
}

impl<T: Clone + Send + 'static> Coalesced<T> {
    /// The tenant's row `id`, read by a driver alone or with the reads queued meanwhile.
    ///
    /// # Errors
    /// `NotFound` when absent or another tenant's; store trouble.
    pub(crate) async fn get<D: Reads>(
        &self,
        db: &D,
        read: ById<D::Row, T>,
        tenant: TenantId,
        id: String,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut q = lock(&self.queue);
            q.waiting.push_back(Waiter {
                tenant,
                id: id.clone(),
                reply,
            });
            // Another driver each time the queue grows by a full batch (not one per read
            // beyond it, which a burst would turn into every driver at once).
            let start =
                q.drivers == 0 || (q.waiting.len() % MAX_BATCH == 0 && q.drivers < MAX_DRIVERS);
            if start {
                q.drivers += 1;
            }
            start
        };
        if start {
            tokio::spawn(drive(Arc::clone(&self.queue), db.clone(), read));
        }
        match answer.await {
            Ok(answer) => answer,
            // Its driver panicked: read alone.
            Err(_) => {
                let row = db
                    .fetch_all((read.one)(tenant, &id))
                    .await?
                    .into_iter()
                    .next()
                    .ok_or(StoreError::NotFound)?;
                (read.decode)(&row)
            }
        }
    }
}

/// A driver's place in its queue's count. Dropped other than by finding the queue empty (a
/// panic), it ends, and if it was the last driver, the queued reads are let go to read alone.
struct Driving<T> {
    queue: Arc<Mutex<Queue<T>>>,
    ended: bool,
}

impl<T> Drop for Driving<T> {
    fn drop(&mut self) {
        if !self.ended {
            let mut q = lock(&self.queue);
            q.drivers -= 1;
            if q.drivers == 0 {
                q.waiting.clear();
            }
        }
    }
}

/// Serves the queue until it is empty, one batch at a time.
async fn drive<D: Reads, T: Clone + Send + 'static>(
    queue: Arc<Mutex<Queue<T>>>,
    db: D,
    read: ById<D::Row, T>,
) {
    let mut driving = Driving {
        queue,
        ended: false,
    };
    loop {
        let batch: Vec<Waiter<T>> = {
            let mut q = lock(&driving.queue);
            let mut batch = Vec::new();
            while batch.len() < MAX_BATCH {
                match q.waiting.pop_front() {
                    // A read cancelled while queued needs no answer and no place in the batch.
                    Some(w) if w.reply.is_closed() => {}
                    Some(w) => batch.push(w),
                    None => break,
                }
            }
            if batch.is_empty() {
                q.drivers -= 1;
                driving.ended = true;
                return;
            }
            batch
        };
        let statement = match batch.as_slice() {
            [only] => (read.one)(only.tenant, &only.id),
            _ => {
                let mut ids: Vec<String> = batch.iter().map(|w| w.id.clone()).collect();
                ids.sort_unstable();
                ids.dedup();
                (read.by_ids)(&padded(ids))
            }
        };
        let rows = db.fetch_all(statement).await.and_then(|rows| {
            rows.into_iter()
                .map(|row| Ok(((read.key)(&row)?, row)))
                .collect::<Result<HashMap<(String, String), D::Row>, StoreError>>()
        });
        for waiter in batch {
            let answer = match &rows {
                Ok(rows) => match rows.get(&(waiter.tenant.to_string(), waiter.id.clone())) {
                    Some(row) => (read.decode)(row),
                    None => Err(StoreError::NotFound),
                },
                Err(e) => Err(copy(e)),
            };
            // A read cancelled meanwhile needs no answer.
            let _ = waiter.reply.send(answer);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Semaphore;

    use super::*;
    use crate::statement::{SqliteDialect, Value};

    /// (tenant, id).
    type Row = (TenantId, String);

    /// A store of rows whose every read is recorded (the ids it asked for) and waits for a
    /// permit of `gate`, so a test decides when a statement ends. A read of `row_broken` fails
    /// as a lost connection would; the first read of `row_panic` panics.
    struct Gated {
        rows: Vec<Row>,
        reads: Mutex<Vec<Vec<String>>>,
        started: AtomicUsize,
        gate: Semaphore,
        panicked: AtomicBool,
    }

    impl Gated {
        fn reads(&self) -> Vec<Vec<String>> {
            self.reads.lock().unwrap().clone()
        }

        fn started(&self) -> usize {
            self.started.load(Ordering::SeqCst)
        }
    }

    #[derive(Clone)]
    struct Db(Arc<Gated>);

    #[async_trait]
    impl Reads for Db {
        type Row = Row;

        async fn fetch_all(&self, stmt: Statement) -> Result<Vec<Row>, StoreError> {
            let rendered = stmt.render(&SqliteDialect).unwrap();
            let ids: Vec<String> = rendered
                .values
                .into_iter()
                .filter_map(|v| match v {
                    Value::Text(Some(id)) if id.starts_with("row_") => Some(id),
                    _ => None,
                })
                .collect();
            self.0.reads.lock().unwrap().push(ids.clone());
            self.0.started.fetch_add(1, Ordering::SeqCst);
            self.0.gate.acquire().await.unwrap().forget();
            if ids.iter().any(|id| id == "row_broken") {
                return Err(StoreError::Unavailable("connection reset".into()));
            }
            if ids.iter().any(|id| id == "row_panic")
                && !self.0.panicked.swap(true, Ordering::SeqCst)
            {
                panic!("a driver's read panics");
            }
            Ok(self
                .0
                .rows
                .iter()
                .filter(|(_, id)| ids.contains(id))
                .cloned()
                .collect())
        }
    }

    fn tenant(n: u64) -> TenantId {
        TenantId::from_ulid(ulid::Ulid::from_parts(n, 1))
    }

    fn read_by() -> ById<Row, Row> {
        ById {
            by_ids: |ids| {
                Statement::new("SELECT * FROM t WHERE id IN (:ids)")
                    .bind_list("ids", ids.iter().cloned())
            },
            one: |tenant, id| {
                Statement::new("SELECT * FROM t WHERE tenant_id = :tenant AND id = :id")
                    .bind("tenant", tenant.to_string())
                    .bind("id", id.to_owned())
            },
            decode: |row| {
                if row.1 == "row_bad" {
                    return Err(StoreError::Internal("corrupt row".into()));
                }
                Ok(row.clone())
            },
            key: |row| Ok((row.0.to_string(), row.1.clone())),
        }
    }

    type Answer = tokio::task::JoinHandle<Result<Row, StoreError>>;

    struct Fixture {
        queue: Arc<Coalesced<Row>>,
        db: Db,
        a: TenantId,
        b: TenantId,
    }

    impl Fixture {
        fn new() -> Fixture {
            let (a, b) = (tenant(1), tenant(2));
            let rows = ["row_a1", "row_a2", "row_a3", "row_bad"]
                .into_iter()
                .map(|id| (a, id.to_owned()))
                .chain([(b, "row_b1".to_owned())])
                .collect();
            Fixture {
                queue: Arc::new(Coalesced::default()),
                db: Db(Arc::new(Gated {
                    rows,
                    reads: Mutex::new(Vec::new()),
                    started: AtomicUsize::new(0),
                    gate: Semaphore::new(0),
                    panicked: AtomicBool::new(false),
                })),
                a,
                b,
            }
        }

        fn get(&self, tenant: TenantId, id: &str) -> Answer {
            let (queue, db, id) = (Arc::clone(&self.queue), self.db.clone(), id.to_owned());
            tokio::spawn(async move { queue.get(&db, read_by(), tenant, id).await })
        }

        fn gated(&self) -> &Gated {
            &self.db.0
        }

        fn queued(&self) -> usize {
            lock(&self.queue.queue).waiting.len()
        }

        fn drivers(&self) -> usize {
            lock(&self.queue.queue).drivers
        }

        fn release(&self, statements: usize) {
            self.gated().gate.add_permits(statements);
        }
    }

    async fn until(what: &str, done: impl Fn() -> bool) {
        for _ in 0..5_000 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting until {what}");
    }

    /// A read's answer, failing the test (instead of hanging it) if none comes.
    async fn answer(handle: Answer) -> Result<Row, StoreError> {
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("an answer within 10 s")
            .unwrap()
    }

    async fn answers<const N: usize>(handles: [Answer; N]) -> Vec<Result<Row, StoreError>> {
        let mut out = Vec::with_capacity(N);
        for handle in handles {
            out.push(answer(handle).await);
        }
        out
    }

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// A read with nothing in flight is read at once, alone, with the tenant-scoped statement;
    /// the reads that arrive meanwhile go together in one statement when it ends (each id once,
    /// padded to a power of two), each answered for its own tenant: another tenant's row and a
    /// missing one are `NotFound`, a duplicate gets the row too. Then the driver ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_queued_behind_a_statement_go_together_and_each_gets_its_own_answer() {
        let f = Fixture::new();
        let (a, b) = (f.a, f.b);
        let first = f.get(a, "row_a1");
        until("the first read runs", || f.gated().started() == 1).await;
        assert_eq!(f.gated().reads(), vec![ids(&["row_a1"])], "alone, at once");
        let later = [
            f.get(a, "row_a2"),
            f.get(a, "row_b1"),
            f.get(b, "row_b1"),
            f.get(a, "row_missing"),
            f.get(a, "row_a2"),
            f.get(a, "row_a3"),
        ];
        until("six reads queue", || f.queued() == 6).await;
        assert_eq!(f.gated().started(), 1, "none sent meanwhile");
        f.release(2);
        let got = answers(later).await;
        assert_eq!(answer(first).await.unwrap(), (a, "row_a1".to_owned()));
        let reads = f.gated().reads();
        assert_eq!(reads.len(), 2, "one statement for the six: {reads:?}");
        assert_eq!(
            reads[1],
            ids(&["row_a2", "row_a3", "row_b1", "row_missing"])
        );
        assert_eq!(got[0].as_ref().unwrap(), &(a, "row_a2".to_owned()));
        assert!(
            matches!(got[1], Err(StoreError::NotFound)),
            "b's row, asked by a"
        );
        assert_eq!(got[2].as_ref().unwrap(), &(b, "row_b1".to_owned()));
        assert!(matches!(got[3], Err(StoreError::NotFound)), "missing");
        assert_eq!(got[4].as_ref().unwrap(), &(a, "row_a2".to_owned()));
        assert_eq!(got[5].as_ref().unwrap(), &(a, "row_a3".to_owned()));
        until("the driver ends", || f.drivers() == 0).await;
    }

    /// A failed statement fails each read of its batch alike (retryable stays retryable); a row
    /// that cannot be decoded fails only the reads that asked for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn errors_reach_only_the_reads_they_concern() {
        let f = Fixture::new();
        let a = f.a;
        let first = f.get(a, "row_a1");
        until("the first read runs", || f.gated().started() == 1).await;
        let broken = [f.get(a, "row_broken"), f.get(a, "row_a2")];
        until("two reads queue", || f.queued() == 2).await;
        f.release(2);
        assert!(answer(first).await.is_ok());
        for answer in answers(broken).await {
            assert!(
                matches!(answer, Err(StoreError::Unavailable(_))),
                "{answer:?}"
            );
        }
        let first = f.get(a, "row_a1");
        until("the next read runs", || f.gated().started() == 3).await;
        let mixed = [f.get(a, "row_bad"), f.get(a, "row_a3")];
        until("two reads queue", || f.queued() == 2).await;
        f.release(2);
        assert!(answer(first).await.is_ok());
        let got = answers(mixed).await;
        assert!(
            matches!(got[0], Err(StoreError::Internal(_))),
            "{:?}",
            got[0]
        );
        assert_eq!(got[1].as_ref().unwrap(), &(a, "row_a3".to_owned()));
    }

    /// A statement answers at most 64 reads; a full batch's worth waiting starts another driver
    /// at once instead of waiting behind the statement in flight.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_long_queue_goes_in_batches_of_64_and_starts_another_driver() {
        let f = Fixture::new();
        let first = f.get(f.a, "row_a1");
        until("the first read runs", || f.gated().started() == 1).await;
        let many: Vec<Answer> = (0..70).map(|n| f.get(f.a, &format!("row_x{n}"))).collect();
        until("a second driver reads", || f.gated().started() == 2).await;
        assert_eq!(f.drivers(), 2);
        until("the other six queue", || f.queued() == 6).await;
        f.release(3);
        for handle in many {
            assert!(matches!(answer(handle).await, Err(StoreError::NotFound)));
        }
        assert!(answer(first).await.is_ok());
        let reads = f.gated().reads();
        let mut unique: Vec<String> = reads[1..].concat();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 70, "every queued id read once: {reads:?}");
        assert!(reads.iter().all(|r| r.len() <= MAX_BATCH), "{reads:?}");
        assert_eq!(
            reads[1].len(),
            MAX_BATCH,
            "the second driver takes a full batch"
        );
        until("the drivers end", || f.drivers() == 0).await;
    }

    /// A read cancelled while queued is left out of the statement; the queue carries on.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_cancelled_while_queued_is_not_read() {
        let f = Fixture::new();
        let first = f.get(f.a, "row_a1");
        until("the first read runs", || f.gated().started() == 1).await;
        let gone = f.get(f.a, "row_a3");
        until("one read queues", || f.queued() == 1).await;
        let kept = f.get(f.b, "row_b1");
        until("two reads queue", || f.queued() == 2).await;
        gone.abort();
        assert!(gone.await.unwrap_err().is_cancelled());
        f.release(2);
        assert!(answer(first).await.is_ok());
        assert_eq!(answer(kept).await.unwrap(), (f.b, "row_b1".to_owned()));
        assert_eq!(
            f.gated().reads()[1],
            ids(&["row_b1"]),
            "alone: the cancelled one left out"
        );
    }

    /// A driver that panics mid-statement lets every read it held or had queued read alone,
    /// and the next read starts a new driver.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_driver_loses_no_read() {
        let f = Fixture::new();
        let doomed = f.get(f.a, "row_panic");
        until("the first read runs", || f.gated().started() == 1).await;
        let queued = [f.get(f.a, "row_a2"), f.get(f.b, "row_b1")];
        until("two reads queue", || f.queued() == 2).await;
        f.release(4);
        assert!(matches!(answer(doomed).await, Err(StoreError::NotFound)));
        let got = answers(queued).await;
        assert_eq!(got[0].as_ref().unwrap(), &(f.a, "row_a2".to_owned()));
        assert_eq!(got[1].as_ref().unwrap(), &(f.b, "row_b1".to_owned()));
        assert_eq!(f.drivers(), 0);
        let next = f.get(f.a, "row_a1");
        f.release(1);
        assert!(answer(next).await.is_ok());
    }
}
