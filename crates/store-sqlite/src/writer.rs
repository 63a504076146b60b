//! The one writing connection, with group commit.
//!
//! SQLite has one writer at a time, and with `synchronous = FULL` every
//! commit waits for the disk (an fsync of the WAL). Committed one by one,
//! write operations queue behind each other's fsync: on the benchmark
//! machine that capped refresh-token rotations at about 3 000 a second with
//! the CPU mostly idle.
//!
//! So write operations share commits. The writer connection is leased to
//! one operation at a time, but the transaction it runs in spans several
//! operations: the first lease of a batch opens it (`BEGIN IMMEDIATE`), and
//! the lease that finds nobody waiting (or the batch full, or old) commits
//! it. Inside a batch, an operation's own transaction is a savepoint, so it
//! rolls back alone. No operation reports success before the commit that
//! holds its writes is durable: [`crate::blocking::on_blocking_thread`]
//! waits for the batch to settle and turns a failed commit into an error
//! for every operation in it.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use gatehouse_core::ports::StoreError;

use crate::blocking::{Conn, ConnFn};

/// Most operations one commit may carry.
const MAX_BATCH: usize = 64;
/// Longest a batch stays open while operations keep arriving: bounds the
/// latency one operation can add to those before it.
const MAX_BATCH_AGE: Duration = Duration::from_millis(5);
/// How many failed batches are remembered for operations still to learn
/// their outcome.
const FAILED_KEPT: usize = 64;

/// The writing connection and its batches.
pub struct Writer {
    slot: Mutex<Slot>,
    /// Signalled when the connection is returned.
    returned: Condvar,
    /// Threads waiting for the connection: while there are any, a finished
    /// operation leaves the batch open for them.
    waiting: AtomicUsize,
    outcomes: Mutex<Outcomes>,
    /// Signalled when a batch settles.
    settled: Condvar,
    wait_timeout: Duration,
}

struct Slot {
    /// `None` while leased.
    conn: Option<Conn>,
    batch: Option<Batch>,
    next_id: u64,
}

#[derive(Clone, Copy)]
struct Batch {
    id: u64,
    opened: Instant,
    operations: usize,
}

#[derive(Default)]
struct Outcomes {
    /// Every batch with an id up to this one has settled.
    settled_through: u64,
    /// Recent batches whose commit failed.
    failed: VecDeque<u64>,
}

thread_local! {
    /// The writer and batch of the last write operation on this thread,
    /// whose commit the operation must wait for before it answers.
    static LAST_BATCH: RefCell<Option<(Arc<Writer>, u64)>> = const { RefCell::new(None) };
}

impl Writer {
    /// Wraps the writing connection.
    pub fn new(conn: Conn, wait_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            slot: Mutex::new(Slot {
                conn: Some(conn),
                batch: None,
                next_id: 1,
            }),
            returned: Condvar::new(),
            waiting: AtomicUsize::new(0),
            outcomes: Mutex::new(Outcomes::default()),
            settled: Condvar::new(),
            wait_timeout,
        })
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn outcomes(&self) -> MutexGuard<'_, Outcomes> {
        self.outcomes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits (blocking the thread: only call from a blocking thread) for
    /// the connection, inside an open batch.
    ///
    /// # Errors
    /// After the wait timeout, or the database's error if a batch cannot
    /// begin.
    pub fn lease(self: &Arc<Self>) -> Result<Lease, StoreError> {
        let deadline = Instant::now() + self.wait_timeout;
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let mut slot = self.slot();
        let conn = loop {
            if let Some(conn) = slot.conn.take() {
                break conn;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.waiting.fetch_sub(1, Ordering::AcqRel);
                return Err(gatehouse_store_sql::error::pool(
                    "timed out waiting for the SQLite writer",
                ));
            }
            slot = self
                .returned
                .wait_timeout(slot, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        };
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let mut lease = Lease {
            writer: self.clone(),
            conn: Some(conn),
            batch: 0,
        };
        let batch = match slot.batch {
            Some(b) => b,
            None => {
                if let Err(e) = run_now(lease.conn_mut().batch_execute("BEGIN IMMEDIATE")) {
                    // Nothing began: hand the connection back untouched.
                    slot.conn = lease.conn.take();
                    drop(slot);
                    self.returned.notify_one();
                    return Err(gatehouse_store_sql::error::unexpected(e));
                }
                let b = Batch {
                    id: slot.next_id,
                    opened: Instant::now(),
                    operations: 0,
                };
                slot.next_id += 1;
                slot.batch = Some(b);
                b
            }
        };
        lease.batch = batch.id;
        Ok(lease)
    }

    /// Called as a lease ends: commits the batch unless someone is waiting
    /// to add to it, then returns the connection.
    fn give_back(&self, mut conn: Conn, batch_id: u64) {
        let mut slot = self.slot();
        let Some(mut batch) = slot.batch else {
            slot.conn = Some(conn);
            drop(slot);
            self.returned.notify_one();
            return;
        };
        batch.operations += 1;
        let commit = self.waiting.load(Ordering::Acquire) == 0
            || batch.operations >= MAX_BATCH
            || batch.opened.elapsed() >= MAX_BATCH_AGE;
        if commit {
            let committed = run_now(conn.batch_execute("COMMIT"));
            if committed.is_err() {
                // Leave the connection usable for the next batch.
                let _ = run_now(conn.batch_execute("ROLLBACK"));
                tracing::error!(
                    operations = batch.operations,
                    "a SQLite group commit failed; its operations report an error"
                );
            }
            slot.batch = None;
            self.settle(batch.id, committed.is_ok());
        } else {
            slot.batch = Some(batch);
        }
        debug_assert_eq!(batch.id, batch_id);
        slot.conn = Some(conn);
        drop(slot);
        self.returned.notify_one();
    }

    fn settle(&self, id: u64, ok: bool) {
        let mut outcomes = self.outcomes();
        outcomes.settled_through = outcomes.settled_through.max(id);
        if !ok {
            outcomes.failed.push_back(id);
            if outcomes.failed.len() > FAILED_KEPT {
                outcomes.failed.pop_front();
            }
        }
        drop(outcomes);
        self.settled.notify_all();
    }

    /// Blocks until batch `id` has settled; whether it committed.
    fn wait_for(&self, id: u64) -> bool {
        let mut outcomes = self.outcomes();
        while outcomes.settled_through < id {
            outcomes = self
                .settled
                .wait(outcomes)
                .unwrap_or_else(|e| e.into_inner());
        }
        !outcomes.failed.contains(&id)
    }
}

/// The writer connection, for one operation, inside a batch transaction.
pub struct Lease {
    writer: Arc<Writer>,
    conn: Option<Conn>,
    batch: u64,
}

impl Lease {
    fn conn_mut(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl Deref for Lease {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn_mut()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            LAST_BATCH.with(|b| *b.borrow_mut() = Some((self.writer.clone(), self.batch)));
            self.writer.give_back(conn, self.batch);
        }
    }
}

/// Forgets any batch recorded on this thread; call before an operation.
pub fn begin_operation() {
    LAST_BATCH.with(|b| b.borrow_mut().take());
}

/// After an operation: if it wrote, waits until its batch's commit is
/// durable.
///
/// # Errors
/// `Unexpected` if that commit failed (the operation's writes are gone).
pub fn finish_operation() -> Result<(), StoreError> {
    let Some((writer, id)) = LAST_BATCH.with(|b| b.borrow_mut().take()) else {
        return Ok(());
    };
    if writer.wait_for(id) {
        Ok(())
    } else {
        Err(StoreError::Unexpected(anyhow::anyhow!(
            "the SQLite commit holding this write failed"
        )))
    }
}

/// Polls a future of an [`Inline`](crate::blocking::Inline) connection once:
/// its work has run by the time it is first polled.
fn run_now<T>(future: impl Future<Output = T>) -> T {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => unreachable!("an inline SQLite call completes when first polled"),
    }
}

/// Runs `f` in a savepoint of the batch transaction: the operation's writes
/// roll back alone if it fails, and commit with the batch if it succeeds.
/// (The batch began with `BEGIN IMMEDIATE`, so the write lock is held
/// before the operation's first read.)
///
/// # Errors
/// `f`'s error (after rolling back to the savepoint), or the database's.
pub async fn in_savepoint<'a, R, E, F>(conn: &mut Conn, f: F) -> Result<R, E>
where
    for<'r> F: AsyncFnOnce(&'r mut Conn) -> Result<R, E>
        + ConnFn<&'r mut Conn, Result<R, E>, Fut: Send>
        + Send
        + 'a,
    E: From<diesel::result::Error> + Send + 'a,
    R: Send + 'a,
{
    conn.batch_execute("SAVEPOINT operation").await?;
    match f(&mut *conn).await {
        Ok(value) => {
            conn.batch_execute("RELEASE operation").await?;
            Ok(value)
        }
        Err(e) => {
            conn.batch_execute("ROLLBACK TO operation; RELEASE operation")
                .await?;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::thread;

    use diesel::sql_types::BigInt;
    use diesel_async::RunQueryDsl;

    use super::*;
    use crate::testing::ScratchFile;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn open(file: &ScratchFile) -> Arc<Writer> {
        let path = file.path().display().to_string();
        let mut conn = run_now(crate::establish(&path)).unwrap();
        run_now(conn.batch_execute(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE item (id INTEGER PRIMARY KEY,
                 parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        ))
        .unwrap();
        Writer::new(conn, Duration::from_secs(10))
    }

    fn count(file: &ScratchFile) -> i64 {
        let path = file.path().display().to_string();
        let mut conn = run_now(crate::establish(&path)).unwrap();
        let row: Count =
            run_now(diesel::sql_query("SELECT count(*) AS n FROM item").get_result(&mut conn))
                .unwrap();
        row.n
    }

    /// One write operation as the store runs it: lease, statements, then
    /// wait for the commit.
    fn write(writer: &Arc<Writer>, sql: String, hold: Duration) -> Result<(), StoreError> {
        begin_operation();
        {
            let mut lease = writer.lease()?;
            run_now(lease.batch_execute(&sql)).map_err(gatehouse_store_sql::error::unexpected)?;
            thread::sleep(hold);
        }
        finish_operation()
    }

    fn commits(writer: &Writer) -> u64 {
        writer.outcomes().settled_through
    }

    #[test]
    fn writers_that_queue_share_a_commit_and_all_of_it_is_durable() {
        let file = ScratchFile::new().unwrap();
        let writer = open(&file);
        let start = Arc::new(Barrier::new(16));
        let threads: Vec<_> = (0..16)
            .map(|i| {
                let (writer, start) = (writer.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    // The first holds the writer long enough for the rest
                    // to queue behind it.
                    let hold = Duration::from_millis(if i == 0 { 50 } else { 0 });
                    write(&writer, format!("INSERT INTO item (id) VALUES ({i})"), hold)
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        assert_eq!(count(&file), 16);
        let batches = commits(&writer);
        assert!(batches < 16, "16 queued writes took {batches} commits");
    }

    #[test]
    fn a_failed_commit_fails_every_write_in_it_and_keeps_none() {
        let file = ScratchFile::new().unwrap();
        let writer = open(&file);
        let start = Arc::new(Barrier::new(8));
        // The deferred foreign key is checked at COMMIT: the one orphan
        // makes the whole batch's commit fail.
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (writer, start) = (writer.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    let (sql, hold) = if i == 0 {
                        (
                            "INSERT INTO item (id, parent) VALUES (100, 999)".to_owned(),
                            50,
                        )
                    } else {
                        (format!("INSERT INTO item (id) VALUES ({i})"), 0)
                    };
                    write(&writer, sql, Duration::from_millis(hold))
                })
            })
            .collect();
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let failed = results.iter().filter(|r| r.is_err()).count();
        assert!(failed >= 1 && results[0].is_err());
        // Whatever reported success is stored; nothing that failed is.
        assert_eq!(count(&file), i64::try_from(8 - failed).unwrap());
        // The writer is usable afterwards.
        write(
            &writer,
            "INSERT INTO item (id) VALUES (50)".into(),
            Duration::ZERO,
        )
        .unwrap();
        assert_eq!(count(&file), i64::try_from(9 - failed).unwrap());
    }

    #[test]
    fn a_failed_operation_rolls_back_alone_inside_its_batch() {
        let file = ScratchFile::new().unwrap();
        let writer = open(&file);
        begin_operation();
        {
            let mut lease = writer.lease().unwrap();
            let failed: Result<(), diesel::result::Error> =
                run_now(in_savepoint(&mut lease, async |c: &mut Conn| {
                    c.batch_execute("INSERT INTO item (id) VALUES (1)").await?;
                    Err(diesel::result::Error::RollbackTransaction)
                }));
            assert!(failed.is_err());
            run_now(in_savepoint(&mut lease, async |c: &mut Conn| {
                c.batch_execute("INSERT INTO item (id) VALUES (2)").await
            }))
            .unwrap();
        }
        finish_operation().unwrap();
        assert_eq!(count(&file), 1);
    }

    #[test]
    fn a_writer_that_never_comes_back_times_the_others_out() {
        let file = ScratchFile::new().unwrap();
        let mut conn = run_now(crate::establish(&file.path().display().to_string())).unwrap();
        run_now(conn.batch_execute("CREATE TABLE item (id INTEGER PRIMARY KEY)")).unwrap();
        let writer = Writer::new(conn, Duration::from_millis(50));
        let held = writer.lease().unwrap();
        assert!(writer.lease().is_err());
        drop(held);
        assert!(writer.lease().is_ok());
    }
}
