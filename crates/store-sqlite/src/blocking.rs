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
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};
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
/// statements execute without further hand-offs. If it wrote, it returns
/// once the group commit holding its writes is durable
/// ([`crate::writer`]).
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
    let task = move || {
        crate::writer::begin_operation();
        let result = runtime.block_on(operation);
        // A write answers only once its group commit is durable.
        let committed = crate::writer::finish_operation();
        result.and_then(|value| committed.map(|()| value))
    };
    match tokio::task::spawn_blocking(task).await {
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
