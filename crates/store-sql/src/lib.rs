//! The query code of Gatehouse's SQL stores, written once for every diesel
//! backend.
//!
//! PostgreSQL (`gatehouse-store-postgres`) and SQLite
//! (`gatehouse-store-sqlite`) differ in column types, connection handling and
//! how a write transaction begins, but not in what each port method means.
//! So the schema ([`schema`]), the rows and their conversions ([`rows`]) and
//! the values whose column type differs ([`codec`], whose four SQL types map
//! to each backend's own) are plain code here, once. The port
//! implementations need the concrete connection type, so they live in the
//! [`sql_store!`] macro, which each backend crate instantiates with its
//! connection type and transaction method; diesel type-checks every query
//! against that backend. Writing them generically over diesel's backend
//! traits would need a trait bound per query shape.
//!
//! What differs per backend, and only that, is in the backend crate:
//! pooling, pragmas, migrations, and the codecs' encodings.

pub mod codec;
pub mod error;
pub mod prepared;
pub mod rows;
pub mod schema;
mod store;

#[cfg(not(any(feature = "postgres", feature = "sqlite")))]
compile_error!("gatehouse-store-sql needs at least one backend feature: postgres or sqlite");

use std::future::Future;

use gatehouse_core::ports::StoreError;

/// Runs one store operation to completion on its own task.
///
/// actix-web drops a handler's future when the client goes away. A store
/// operation dropped half-way could leave a transaction open on a pooled
/// connection (diesel-async cannot roll back in `Drop`), or a SQLite write
/// lock held. Running the operation as a task means the caller may stop
/// waiting, but the operation itself always commits or rolls back and
/// returns its connection in a clean state.
///
/// # Errors
/// The operation's own error, or `Unexpected` if its task panicked.
pub async fn detached<R, F>(operation: F) -> Result<R, StoreError>
where
    F: Future<Output = Result<R, StoreError>> + Send + 'static,
    R: Send + 'static,
{
    match tokio::spawn(operation).await {
        Ok(result) => result,
        Err(e) => Err(StoreError::Unexpected(anyhow::anyhow!(
            "a store operation did not finish: {e}"
        ))),
    }
}

/// An async closure over a connection whose future is `Send`, named so the
/// bound can be written: a store lends its connection to an operation as
/// `for<'c> AsyncFnOnce(&'c mut Conn)`, and a future borrowing that
/// connection must still be `Send` to run as a task (the same device
/// diesel-async uses for its transactions).
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

/// How many expired rows one purge statement deletes. Small batches keep each
/// delete short, so the purger never holds SQLite's write lock (or many
/// PostgreSQL row locks) for long while requests wait.
pub const PURGE_BATCH: i64 = 500;

/// An instance of [`sql_store!`] inside this crate, for the lints only.
///
/// rustc and clippy do not warn about expansions of a macro defined in
/// another crate, so in the backend crates unused imports, dead helpers or
/// an oversized enum in the port code went unnoticed. Expanded here, where
/// the macro is defined, `cargo clippy --all-targets` checks it. (Clippy's
/// `unwrap_used` and `expect_used` skip macro expansions even here, a
/// deliberate unwrap showed: `.ci/run` greps the macro files for those.)
/// The store runs nothing: the backend crates' contract suites run this
/// code.
#[cfg(all(test, feature = "sqlite"))]
#[allow(dead_code)] // never run: the point is to lint the expansion
mod lint_instance {
    use diesel::SqliteConnection;
    use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;

    type Conn = SyncConnectionWrapper<SqliteConnection>;

    #[derive(Debug)]
    struct LintStore;

    impl LintStore {
        const REVOCATION_SETTLE: std::time::Duration = std::time::Duration::ZERO;

        async fn read<R, F>(&self, _operation: F) -> Result<R, gatehouse_core::ports::StoreError>
        where
            F: for<'c> AsyncFnOnce(&'c mut Conn) -> Result<R, gatehouse_core::ports::StoreError>
                + Send
                + 'static,
        {
            Err(gatehouse_core::ports::StoreError::Unexpected(
                anyhow::anyhow!("a lint-only store"),
            ))
        }

        async fn write<R, F>(&self, operation: F) -> Result<R, gatehouse_core::ports::StoreError>
        where
            F: for<'c> AsyncFnOnce(&'c mut Conn) -> Result<R, gatehouse_core::ports::StoreError>
                + Send
                + 'static,
        {
            self.read(operation).await
        }
    }

    crate::sql_store! {
        store: LintStore,
        connection: Conn,
        write_transaction: diesel_async::AsyncConnection::transaction,
    }
}
