//! How SQLite work leaves the async workers: once per port operation.
//!
//! diesel-async's `SyncConnectionWrapper` normally ships every statement to
//! tokio's blocking pool and back. A rotation (begin, update, insert,
//! commit) then pays four round trips between threads, each a futex wake on
//! both sides; on two cores that hand-off cost more CPU than SQLite itself
//! (see docs/benchmarks.md). Here the wrapper runs statements in place
//! ([`Inline`]) and [`on_blocking_thread`] moves the whole operation to one
//! blocking thread instead: one hand-off per port call, however many
//! statements it runs.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;

use diesel::SqliteConnection;
use diesel::connection::AnsiTransactionManager;
use diesel_async::TransactionManager;
use diesel_async::sync_connection_wrapper::{
    SpawnBlocking, SyncConnectionWrapper, SyncTransactionManagerWrapper,
};
use gatehouse_core::ports::StoreError;

/// A connection whose statements run on the calling thread. Only ever
/// driven from [`on_blocking_thread`] (and from start-up, before serving).
pub type Conn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// diesel-async's "spawn blocking" hook, made to run the work where it is
/// asked for: the caller is already on a blocking thread.
#[derive(Debug, Clone, Copy)]
pub struct Inline;

type Done<'a, R> =
    Pin<Box<dyn Future<Output = Result<R, Box<dyn Error + Send + Sync>>> + Send + 'a>>;

impl SpawnBlocking for Inline {
    fn spawn_blocking<'a, R>(&mut self, task: impl FnOnce() -> R + Send + 'static) -> Done<'a, R>
    where
        R: Send + 'static,
    {
        Box::pin(std::future::ready(Ok(task())))
    }

    fn get_runtime() -> Self {
        Inline
    }
}

/// Runs one port operation to completion on a blocking thread, where its
/// statements execute without further hand-offs.
///
/// Like `gatehouse_store_sql::detached`, the operation finishes (commits or
/// rolls back, returns its connection clean) even if the caller stops
/// waiting: a blocking task cannot be cancelled.
///
/// # Errors
/// The operation's own error, or `Unexpected` if it panicked.
pub async fn on_blocking_thread<R, F>(operation: F) -> Result<R, StoreError>
where
    F: Future<Output = Result<R, StoreError>> + Send + 'static,
    R: Send + 'static,
{
    let runtime = tokio::runtime::Handle::current();
    match tokio::task::spawn_blocking(move || runtime.block_on(operation)).await {
        Ok(result) => result,
        Err(e) => Err(StoreError::Unexpected(anyhow::anyhow!(
            "a store operation did not finish: {e}"
        ))),
    }
}

/// An async closure over a connection whose future is `Send`, named so the
/// bound can be written (the same device diesel-async uses internally).
pub trait ConnFn<T, R>: AsyncFnOnce(T) -> R + FnOnce(T) -> <Self as ConnFn<T, R>>::Fut {
    /// The closure's future.
    type Fut: Future<Output = R>;
}

impl<F, T, Fut, R> ConnFn<T, R> for F
where
    F: AsyncFnOnce(T) -> R + FnOnce(T) -> Fut,
    Fut: Future<Output = R>,
{
    type Fut = Fut;
}

/// Runs `f` in a transaction that starts with `BEGIN IMMEDIATE`, taking the
/// write lock before the first read, so a transaction that reads and then
/// writes never fails with "database is locked" half-way.
///
/// # Errors
/// `f`'s error (after rolling back), or the database's.
pub async fn immediate_transaction<'a, R, E, F>(conn: &mut Conn, f: F) -> Result<R, E>
where
    for<'r> F: AsyncFnOnce(&'r mut Conn) -> Result<R, E>
        + ConnFn<&'r mut Conn, Result<R, E>, Fut: Send>
        + Send
        + 'a,
    E: From<diesel::result::Error> + Send + 'a,
    R: Send + 'a,
{
    type Manager = SyncTransactionManagerWrapper<AnsiTransactionManager>;
    conn.spawn_blocking(|c| AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE"))
        .await?;
    match f(&mut *conn).await {
        Ok(value) => {
            Manager::commit_transaction(conn).await?;
            Ok(value)
        }
        Err(e) => {
            Manager::rollback_transaction(conn).await?;
            Err(e)
        }
    }
}
