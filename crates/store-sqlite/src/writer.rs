//! The writer thread: one connection, every write, group commit.
//!
//! SQLite has one writer at a time, and with `synchronous = FULL` every
//! commit waits for the disk (an fsync of the WAL). Committed one by one,
//! write operations queue behind each other's fsync; handed from thread to
//! thread, they also pay a wake-up each on the one path that cannot run in
//! parallel. On the benchmark machine those two capped refresh-token
//! rotations at about 3 000 a second with the CPU half idle.
//!
//! So one thread owns the writing connection and runs every write
//! operation itself, back to back, and operations that queue up share a
//! transaction: the thread opens it (`BEGIN IMMEDIATE`) for the first
//! operation and commits when the queue is empty (or after 64 operations or
//! 5 ms). Inside it, each operation's own transaction is a savepoint
//! ([`in_savepoint`]), so a failing operation rolls back alone. No operation
//! answers before the commit that holds its writes is durable; if that
//! commit fails, every operation in it gets an error and none of their
//! writes remain.
//!
//! The connection lives on the thread's stack and is lent to each
//! operation as `&mut Conn` for the length of its run: nothing else can
//! reach it, and an operation cannot keep it, which the compiler checks.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use gatehouse_core::ports::StoreError;

use crate::blocking::{Conn, ConnFn};

/// Most operations one commit may carry.
const MAX_BATCH: usize = 64;
/// Longest a batch stays open while operations keep arriving: bounds the
/// latency one operation can add to those queued before it.
const MAX_BATCH_AGE: Duration = Duration::from_millis(5);

/// What the thread hands back once the batch has settled: the operation's
/// answer if the batch committed, an error if it did not.
type Deliver = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// One write operation: given the connection, runs on it and returns how to
/// answer; given the reason it cannot run, answers with it at once.
type Job = Box<dyn FnOnce(Result<&mut Conn, StoreError>) -> Option<Deliver> + Send>;

/// The handle to the writer thread. Dropping every clone stops the thread
/// (after it has answered everything queued).
#[derive(Clone)]
pub struct Writer {
    jobs: Sender<Job>,
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the thread that owns `conn`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn start(conn: Conn) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("gatehouse-sqlite-writer".into())
            .spawn(move || run(conn, &queue, &counted))?;
        Ok(Self { jobs, commits })
    }

    /// How many batches the thread has settled (committed or failed).
    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `operation` on the writer thread and answers once the commit
    /// holding its writes is durable. The operation runs to the end even if
    /// the caller stops waiting.
    ///
    /// # Errors
    /// The operation's error; `Unexpected` if its batch failed to commit or
    /// the writer thread is gone.
    pub async fn run<R, F>(&self, operation: F) -> Result<R, StoreError>
    where
        F: for<'c> AsyncFnOnce(&'c mut Conn) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn: Result<&mut Conn, StoreError>| {
            let conn = match conn {
                Ok(conn) => conn,
                Err(e) => {
                    let _ = answer.send(Err(e));
                    return None;
                }
            };
            let result = block_on(operation(conn));
            Some(Box::new(move |committed: Result<(), StoreError>| {
                let _ = answer.send(committed.and(result));
            }))
        });
        if self.jobs.send(job).is_err() {
            return Err(gone());
        }
        answered.await.unwrap_or_else(|_| Err(gone()))
    }
}

fn gone() -> StoreError {
    StoreError::Unexpected(anyhow::anyhow!(
        "the SQLite writer did not complete this operation"
    ))
}

/// The writer thread's loop.
fn run(mut conn: Conn, queue: &Receiver<Job>, commits: &AtomicU64) {
    let conn = &mut conn;
    let mut batch: Vec<Deliver> = Vec::new();
    let mut opened = Instant::now();
    loop {
        let job = if batch.is_empty() {
            match queue.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        } else {
            match queue.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                    settle(conn, &mut batch, commits);
                    continue;
                }
            }
        };
        if batch.is_empty() {
            if let Err(e) = run_now(conn.batch_execute("BEGIN IMMEDIATE")) {
                // No transaction: run nothing, answer with the reason.
                tracing::error!(error = %e, "cannot begin a SQLite write transaction");
                job(Err(gatehouse_store_sql::error::unexpected(e)));
                continue;
            }
            opened = Instant::now();
        }
        // A panicking operation must not take the writer thread (and with
        // it every later write) down. What it left half-done is rolled back
        // with its whole batch; its caller and the batch's get an error.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(&mut *conn)))) {
            Ok(Some(deliver)) => batch.push(deliver),
            Ok(None) => {}
            Err(_) => {
                tracing::error!("a SQLite write operation panicked; its batch is rolled back");
                abandon(conn, &mut batch, commits);
                continue;
            }
        }
        if batch.len() >= MAX_BATCH || opened.elapsed() >= MAX_BATCH_AGE {
            settle(conn, &mut batch, commits);
        }
    }
}

/// Commits the open batch and answers its operations.
fn settle(conn: &mut Conn, batch: &mut Vec<Deliver>, commits: &AtomicU64) {
    commits.fetch_add(1, Ordering::Relaxed);
    let committed = run_now(conn.batch_execute("COMMIT"));
    if committed.is_err() {
        // Leave the connection usable for the next batch.
        let _ = run_now(conn.batch_execute("ROLLBACK"));
    }
    if let Err(e) = &committed {
        tracing::error!(
            error = %e,
            operations = batch.len(),
            "a SQLite group commit failed; its operations report an error"
        );
    }
    for deliver in batch.drain(..) {
        deliver(
            committed
                .as_ref()
                .map(|_| ())
                .map_err(|e| StoreError::Unexpected(anyhow::anyhow!("the commit failed: {e}"))),
        );
    }
}

/// Rolls the open batch back and answers its operations with an error.
fn abandon(conn: &mut Conn, batch: &mut Vec<Deliver>, commits: &AtomicU64) {
    commits.fetch_add(1, Ordering::Relaxed);
    let _ = run_now(conn.batch_execute("ROLLBACK"));
    for deliver in batch.drain(..) {
        deliver(Err(StoreError::Unexpected(anyhow::anyhow!(
            "rolled back with a failed operation in the same commit"
        ))));
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

/// Wakes the thread that waits in [`block_on`].
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives a future on the writer thread. A write operation's statements
/// run inline, so it is normally ready on its first poll.
fn block_on<T>(future: impl Future<Output = T>) -> T {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
            return value;
        }
        std::thread::park();
    }
}

/// Polls a future of an [`Inline`](crate::blocking::Inline) connection
/// once: its work has run by the time it is first polled.
fn run_now<T>(
    future: impl Future<Output = Result<T, diesel::result::Error>>,
) -> Result<T, diesel::result::Error> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => value,
        Poll::Pending => Err(diesel::result::Error::BrokenTransactionManager),
    }
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::BigInt;
    use diesel_async::RunQueryDsl;

    use super::*;
    use crate::testing::ScratchFile;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    async fn open(file: &ScratchFile) -> Writer {
        let mut conn = crate::establish(&file.path().display().to_string())
            .await
            .unwrap();
        conn.batch_execute(
            "CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE item (id INTEGER PRIMARY KEY,
                 parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .await
        .unwrap();
        Writer::start(conn).unwrap()
    }

    /// Rows committed, as a separate connection sees them.
    async fn count(file: &ScratchFile) -> i64 {
        let mut conn = crate::establish(&file.path().display().to_string())
            .await
            .unwrap();
        let row: Count = diesel::sql_query("SELECT count(*) AS n FROM item")
            .get_result(&mut conn)
            .await
            .unwrap();
        row.n
    }

    /// A write operation as the store runs it: statements on the lent
    /// connection.
    fn insert(
        writer: &Writer,
        sql: String,
        hold: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + use<> {
        let writer = writer.clone();
        async move {
            writer
                .run(async move |c: &mut Conn| {
                    c.batch_execute(&sql)
                        .await
                        .map_err(gatehouse_store_sql::error::unexpected)?;
                    std::thread::sleep(hold);
                    Ok(())
                })
                .await
        }
    }

    #[tokio::test]
    async fn writes_that_queue_share_a_commit_and_answer_once_it_is_durable() {
        let file = ScratchFile::new().unwrap();
        let writer = open(&file).await;
        // The first holds the thread long enough for the rest to queue.
        let first = tokio::spawn(insert(
            &writer,
            "INSERT INTO item (id) VALUES (0)".into(),
            Duration::from_millis(50),
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let rest: Vec<_> = (1..16)
            .map(|i| {
                tokio::spawn(insert(
                    &writer,
                    format!("INSERT INTO item (id) VALUES ({i})"),
                    Duration::ZERO,
                ))
            })
            .collect();
        first.await.unwrap().unwrap();
        for op in rest {
            op.await.unwrap().unwrap();
            // Answered, so committed: visible to any other connection.
        }
        assert_eq!(count(&file).await, 16);
        let commits = writer.commits();
        assert!(commits < 16, "16 queued writes took {commits} commits");
    }

    #[tokio::test]
    async fn a_failed_commit_fails_every_write_in_it_and_keeps_none() {
        let file = ScratchFile::new().unwrap();
        let writer = open(&file).await;
        // A slow write holds the thread while the others queue behind it;
        // they then share one batch. The deferred foreign key is checked at
        // COMMIT: the orphan among them makes that commit fail.
        let slow = tokio::spawn(insert(
            &writer,
            "INSERT INTO item (id) VALUES (0)".into(),
            Duration::from_millis(50),
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let orphan = tokio::spawn(insert(
            &writer,
            "INSERT INTO item (id, parent) VALUES (100, 999)".into(),
            Duration::ZERO,
        ));
        let rest: Vec<_> = (1..8)
            .map(|i| {
                tokio::spawn(insert(
                    &writer,
                    format!("INSERT INTO item (id) VALUES ({i})"),
                    Duration::ZERO,
                ))
            })
            .collect();
        slow.await.unwrap().unwrap();
        assert!(orphan.await.unwrap().is_err());
        let mut succeeded = 1;
        for op in rest {
            if op.await.unwrap().is_ok() {
                succeeded += 1;
            }
        }
        // What reported success is stored; nothing that failed is.
        assert_eq!(count(&file).await, succeeded);
        assert!(succeeded < 8, "the orphan's batch held no other write");
        // The writer goes on.
        insert(
            &writer,
            "INSERT INTO item (id) VALUES (50)".into(),
            Duration::ZERO,
        )
        .await
        .unwrap();
        assert_eq!(count(&file).await, succeeded + 1);
    }

    #[tokio::test]
    async fn a_failed_operation_rolls_back_alone_inside_its_batch() {
        let file = ScratchFile::new().unwrap();
        let writer = open(&file).await;
        let result = writer
            .run(async |conn: &mut Conn| {
                let failed: Result<(), diesel::result::Error> =
                    in_savepoint(conn, async |c: &mut Conn| {
                        c.batch_execute("INSERT INTO item (id) VALUES (1)").await?;
                        Err(diesel::result::Error::RollbackTransaction)
                    })
                    .await;
                assert!(failed.is_err());
                in_savepoint(conn, async |c: &mut Conn| {
                    c.batch_execute("INSERT INTO item (id) VALUES (2)").await
                })
                .await
                .map_err(gatehouse_store_sql::error::unexpected)
            })
            .await;
        result.unwrap();
        assert_eq!(count(&file).await, 1);
    }

    #[tokio::test]
    async fn a_panicking_write_fails_its_batch_and_the_writer_goes_on() {
        let file = ScratchFile::new().unwrap();
        let writer = open(&file).await;
        // A slow write holds the thread while the others queue; the
        // panicking one then shares a batch with those after it.
        let slow = tokio::spawn(insert(
            &writer,
            "INSERT INTO item (id) VALUES (0)".into(),
            Duration::from_millis(50),
        ));
        tokio::time::sleep(Duration::from_millis(10)).await;
        let before = tokio::spawn(insert(
            &writer,
            "INSERT INTO item (id) VALUES (1)".into(),
            Duration::ZERO,
        ));
        let panicking = tokio::spawn({
            let writer = writer.clone();
            async move {
                writer
                    .run(async |c: &mut Conn| {
                        c.batch_execute("INSERT INTO item (id) VALUES (2)")
                            .await
                            .map_err(gatehouse_store_sql::error::unexpected)?;
                        if c.batch_execute("SELECT 1").await.is_ok() {
                            panic!("a bug in a write operation");
                        }
                        Ok(())
                    })
                    .await
            }
        });
        slow.await.unwrap().unwrap();
        assert!(panicking.await.unwrap().is_err());
        assert!(before.await.unwrap().is_err(), "same batch, rolled back");
        assert_eq!(count(&file).await, 1);
        insert(
            &writer,
            "INSERT INTO item (id) VALUES (3)".into(),
            Duration::ZERO,
        )
        .await
        .unwrap();
        assert_eq!(count(&file).await, 2);
    }
}
