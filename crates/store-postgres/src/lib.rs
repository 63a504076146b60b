//! Every Gatehouse port on PostgreSQL: the store for production and for
//! several instances behind one load balancer.
//!
//! The queries are shared with the SQLite store (`gatehouse-store-sql`); this
//! crate adds what is PostgreSQL's own: a pool of diesel-async connections
//! over tokio-postgres (no libpq), TLS with libpq's `sslmode` and
//! `sslrootcert` spoken by rustls (`tls`), and the schema under
//! `migrations/postgres`, embedded in the binary and applied on start under
//! an advisory lock, so instances starting together migrate once.
//!
//! Every instance on one database shares everything, signing keys and the
//! generated master key included, so any instance verifies the others'
//! tokens; single-use operations are decided by row locks inside the
//! database, so they stay single-use across instances.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use deadpool::Runtime;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use gatehouse_core::ports::StoreError;
use gatehouse_store_sql::ConnFn;

mod queries;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tls;

pub use tls::{Connector, SslMode};

/// The schema, embedded at build time from `migrations/postgres`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// Key of the session-level advisory lock held while migrating, so that
/// instances starting at once do not race to create the same tables.
const MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573; // "gatehous"

/// How long a request waits for a free connection before failing.
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Every storage port on one PostgreSQL database.
///
/// Cloning is cheap and every clone shares the pool.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool<AsyncPgConnection>,
    ssl_mode: SslMode,
}

impl fmt::Debug for PostgresStore {
    /// Pool figures only: the URL may carry a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PostgresStore")
            .field("max_size", &status.max_size)
            .field("size", &status.size)
            .field("available", &status.available)
            .field("sslmode", &self.ssl_mode)
            .finish()
    }
}

impl PostgresStore {
    /// A revocation's `seq` comes from a sequence when its transaction
    /// starts writing, so a later `seq` may commit first: readers wait this
    /// long before trusting that nothing below an entry is still to come.
    pub const REVOCATION_SETTLE: std::time::Duration = std::time::Duration::from_secs(1);

    /// Applies pending migrations, then opens a pool of at most `pool_size`
    /// connections to `url` (`postgres://user:password@host:port/database`,
    /// with `sslmode` and `sslrootcert` as in [`tls`]) and checks that it
    /// answers.
    ///
    /// # Errors
    /// The database is unreachable, refuses the credentials or the TLS the
    /// URL asks for, or a migration fails.
    pub async fn connect(url: &str, pool_size: usize) -> anyhow::Result<Self> {
        migrate(url).await?;
        Self::connect_without_migrating(url, pool_size).await
    }

    /// Opens the pool without touching the schema (for tools that only read,
    /// or when migrations are run separately with `gatehouse migrate`).
    ///
    /// # Errors
    /// The database is unreachable or refuses the credentials.
    pub async fn connect_without_migrating(url: &str, pool_size: usize) -> anyhow::Result<Self> {
        let connector = Connector::parse(url)?;
        let ssl_mode = connector.mode();
        let mut config = ManagerConfig::default();
        // The default check runs `SELECT 1` on every checkout: a second
        // round trip for every store operation. A connection the server
        // closed (restart, idle timeout) is already known to be closed, as
        // tokio-postgres sees the socket end; only a silently dropped link
        // costs one failed request per pooled connection.
        config.recycling_method = RecyclingMethod::Fast;
        // Every pooled connection is opened by the connector, with the URL's
        // TLS; the manager's own URL is then unused.
        config.custom_setup = Box::new(move |_| {
            let connector = connector.clone();
            Box::pin(async move { connector.connect().await })
        });
        let manager =
            AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config);
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| anyhow::anyhow!("cannot build the PostgreSQL pool: {e}"))?;
        let store = Self { pool, ssl_mode };
        drop(
            store
                .connection()
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach PostgreSQL: {e}"))?,
        );
        Ok(store)
    }

    /// The URL's `sslmode` (`prefer` when it names none).
    pub fn ssl_mode(&self) -> SslMode {
        self.ssl_mode
    }

    /// A pooled connection, fetched by a future that owns what it needs, so
    /// a whole store operation can run as its own task.
    fn connection(
        &self,
    ) -> impl Future<Output = Result<Object<AsyncPgConnection>, StoreError>> + Send + 'static {
        let pool = self.pool.clone();
        async move { pool.get().await.map_err(gatehouse_store_sql::error::pool) }
    }

    /// Lends a pooled connection to `operation`, run as its own task (see
    /// [`gatehouse_store_sql::detached`]): it runs to the end, committing or
    /// rolling back, even if the caller stops waiting.
    async fn on_connection<R, F>(&self, operation: F) -> Result<R, StoreError>
    where
        for<'c> F: AsyncFnOnce(&'c mut AsyncPgConnection) -> Result<R, StoreError>
            + ConnFn<&'c mut AsyncPgConnection, Result<R, StoreError>, Fut: Send>
            + Send
            + 'static,
        R: Send + 'static,
    {
        let connection = self.connection();
        gatehouse_store_sql::detached(async move {
            let mut conn = connection.await?;
            operation(&mut conn).await
        })
        .await
    }

    /// Runs a reading operation on a pooled connection.
    async fn read<R, F>(&self, operation: F) -> Result<R, StoreError>
    where
        for<'c> F: AsyncFnOnce(&'c mut AsyncPgConnection) -> Result<R, StoreError>
            + ConnFn<&'c mut AsyncPgConnection, Result<R, StoreError>, Fut: Send>
            + Send
            + 'static,
        R: Send + 'static,
    {
        self.on_connection(operation).await
    }

    /// Runs a writing operation on a pooled connection; row locks, not the
    /// pool, order writers.
    async fn write<R, F>(&self, operation: F) -> Result<R, StoreError>
    where
        for<'c> F: AsyncFnOnce(&'c mut AsyncPgConnection) -> Result<R, StoreError>
            + ConnFn<&'c mut AsyncPgConnection, Result<R, StoreError>, Fut: Send>
            + Send
            + 'static,
        R: Send + 'static,
    {
        self.on_connection(operation).await
    }
}

/// Applies every pending migration to the database at `url` and returns the
/// versions applied (empty when the schema was current).
///
/// Holds a PostgreSQL advisory lock meanwhile, so several instances (or a
/// `gatehouse migrate` next to a starting server) apply each migration once.
///
/// # Errors
/// The database is unreachable or a migration fails.
pub async fn migrate(url: &str) -> anyhow::Result<Vec<String>> {
    let mut conn = Connector::parse(url)?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach PostgreSQL: {e}"))?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
        .execute(&mut conn)
        .await?;
    // diesel's migration runner is synchronous; diesel-async's harness
    // drives the async connection from a blocking thread, which works on any
    // tokio runtime flavour. Closing the connection releases the lock.
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.iter().map(ToString::to_string).collect())
            .map_err(|e| anyhow::anyhow!("PostgreSQL migration failed: {e}"))
    })
    .await?
}
