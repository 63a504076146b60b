//! Connections whose statements run where they are called.
//!
//! diesel-async's `SyncConnectionWrapper` normally ships every statement to
//! tokio's blocking pool and back. A rotation (begin, update, insert,
//! commit) then pays four round trips between threads, each a futex wake on
//! both sides; on two cores that hand-off cost more CPU than SQLite itself
//! (see docs/benchmarks.md). Here the wrapper runs statements in place
//! ([`Inline`]); the store decides where the whole operation runs: writes
//! on the writer thread (`crate::writer`), reads in place.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;

use diesel::SqliteConnection;
use diesel_async::sync_connection_wrapper::{SpawnBlocking, SyncConnectionWrapper};

/// A connection whose statements run on the calling thread.
pub type Conn = SyncConnectionWrapper<SqliteConnection, Inline>;

/// diesel-async's "spawn blocking" hook, made to run the work where it is
/// asked for: the caller has already chosen the thread.
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

pub use gatehouse_store_sql::ConnFn;
