//! Every Gatehouse port in an embedded SQLite file: the default store, so a
//! bare `gatehouse` keeps its data across restarts with no database server.
//!
//! The queries are shared with the PostgreSQL store (`gatehouse-store-sql`);
//! this crate adds what is SQLite's own:
//!
//! - **One writer thread, group commit.** SQLite allows one writing
//!   transaction at a time; two connections that both try to write make one
//!   wait in a busy loop and, past the timeout, fail with "database is
//!   locked". So one thread owns the only writing connection and runs every
//!   write operation, back to back; operations that queue up share a
//!   transaction and its fsync, each in its own savepoint, and none answers
//!   before that commit is durable (`writer`). Batches begin with
//!   `BEGIN IMMEDIATE`, taking the write lock before they read.
//! - **Reads in place.** Reads use a pool of their own connections and, in
//!   WAL mode, never wait for the writer: they run on the calling async
//!   worker, which costs less than a hand-off to another thread.
//! - **Per-connection settings.** WAL journal, `synchronous = FULL` (a
//!   committed revocation survives a power cut), `foreign_keys = ON` (the
//!   cascades depend on it), and a `busy_timeout` for other processes on
//!   the same file (a backup, `gatehouse migrate`).
//! - **Bundled SQLite**, so the binary does not depend on the system's
//!   version (RETURNING needs 3.35 and STRICT tables 3.37).

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use deadpool::Runtime;
use diesel::ConnectionError;
use diesel_async::pooled_connection::deadpool::{Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncMigrationHarness, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use gatehouse_core::ports::StoreError;

mod blocking;
mod queries;
mod writer;

use blocking::Conn;
pub use blocking::Inline;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// The schema, embedded at build time from `migrations/sqlite`.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Set on every connection this store opens.
const PRAGMAS: &str = "PRAGMA busy_timeout = 5000;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
PRAGMA foreign_keys = ON;";

/// How long a request waits for a connection (for writes: its turn).
const WAIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Every storage port on one SQLite database file.
///
/// Cloning is cheap and every clone shares the pools.
#[derive(Clone)]
pub struct SqliteStore {
    readers: Pool<Conn>,
    writer: writer::Writer,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("readers", &self.readers.status().max_size)
            .finish_non_exhaustive()
    }
}

/// The file named by a `sqlite://PATH` URL (`sqlite:///abs/path.db` for an
/// absolute path); `None` for any other URL, and for SQLite's in-memory
/// names, which would give every pooled connection a database of its own.
pub fn path_from_url(url: &str) -> Option<&Path> {
    url.strip_prefix("sqlite://")
        .filter(|p| !p.is_empty() && !p.starts_with(":memory:") && !p.starts_with("file:"))
        .map(Path::new)
}

impl SqliteStore {
    /// One writer commits appends in `seq` order: readers see a revocation
    /// only after every earlier one.
    pub const REVOCATION_SETTLE: std::time::Duration = std::time::Duration::ZERO;

    /// Opens (creating it and its directory if missing) the database file at
    /// `path`, applies pending migrations, and pools up to `readers`
    /// connections for reading beside the one for writing.
    ///
    /// # Errors
    /// The file cannot be created or opened, is not a SQLite database, or a
    /// migration fails.
    pub async fn open(path: impl AsRef<Path>, readers: usize) -> anyhow::Result<Self> {
        let path = path.as_ref().to_path_buf();
        migrate(&path).await?;
        let location = location(&path)?;
        let store = Self {
            readers: pool(&location, readers.max(1))?,
            writer: writer::Writer::start(
                establish(&location)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?,
            )?,
            path,
        };
        drop(
            store
                .reader()
                .await
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", store.path.display()))?,
        );
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A connection for reading, from the readers' pool.
    fn reader(&self) -> impl Future<Output = Result<Object<Conn>, StoreError>> + Send + 'static {
        let pool = self.readers.clone();
        async move { pool.get().await.map_err(gatehouse_store_sql::error::pool) }
    }

    /// Runs a writing operation on the writer thread, lending it the one
    /// writing connection inside the open batch; it answers once the group
    /// commit holding its writes is durable.
    async fn write<R, F>(&self, operation: F) -> Result<R, StoreError>
    where
        F: for<'c> AsyncFnOnce(&'c mut Conn) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        self.writer.run(operation).await
    }

    /// Runs a reading operation in place, on the calling async worker, on a
    /// connection from the readers' pool.
    ///
    /// A read in WAL mode never waits for the writer or a lock, and on a
    /// database in the page cache it takes microseconds: less than the two
    /// thread wake-ups of a hand-off. Its statements run inside one poll, so
    /// dropping the future cannot leave one half-done.
    async fn read<R, F>(&self, operation: F) -> Result<R, StoreError>
    where
        F: for<'c> AsyncFnOnce(&'c mut Conn) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let mut conn = self.reader().await?;
        operation(&mut *conn).await
    }
}

/// The path as SQLite's open call takes it, after creating the directory
/// it lives in and making sure only the owner can read the file.
fn location(path: &Path) -> anyhow::Result<String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        private_dir(dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    }
    owner_only(path)?;
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the SQLite path {} is not UTF-8", path.display()))
}

/// Creates `dir` (and its parents) if missing; directories this store
/// creates are the owner's alone (0700).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The database holds password hashes, hashed tokens and, unless
/// `GATEHOUSE_SECRET_KEY` is set, the master key beside the signing key it
/// seals: anyone who can read the file can mint tokens. So the file is
/// created 0600 before SQLite opens it (SQLite gives its `-wal` and `-shm`
/// files the database's mode), and an existing file, `-wal` or `-shm` that
/// others may read is tightened, with a warning.
fn owner_only(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => anyhow::bail!("cannot create {}: {e}", path.display()),
        }
        let mut companions = path.as_os_str().to_owned();
        companions.push("-wal");
        let wal = PathBuf::from(&companions);
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        for file in [path.to_path_buf(), wal, PathBuf::from(shm)] {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode & 0o700))
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{} can be read by other users (mode {:o}) and cannot be made private: {e}",
                            file.display(),
                            mode & 0o777
                        )
                    })?;
                tracing::warn!(
                    file = %file.display(),
                    was = format!("{:o}", mode & 0o777),
                    "the database file could be read by other users; made it private to its owner"
                );
            }
        }
    }
    Ok(())
}

/// Opens one connection with the store's settings.
async fn establish(location: &str) -> Result<Conn, ConnectionError> {
    let mut conn = Conn::establish(location).await?;
    conn.batch_execute(PRAGMAS)
        .await
        .map_err(ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

fn pool(location: &str, size: usize) -> anyhow::Result<Pool<Conn>> {
    let mut config = ManagerConfig::default();
    // A local file does not drop connections; checking only for a broken
    // transaction saves a query per checkout.
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(|location| {
        let location = location.to_owned();
        Box::pin(async move { establish(&location).await })
    });
    let manager = AsyncDieselConnectionManager::<Conn>::new_with_config(location, config);
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(WAIT_TIMEOUT))
        .create_timeout(Some(WAIT_TIMEOUT))
        .recycle_timeout(Some(WAIT_TIMEOUT))
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the SQLite pool: {e}"))
}

/// Applies every pending migration to the database file at `path` (creating
/// it if missing) and returns the versions applied.
///
/// # Errors
/// The file cannot be opened or a migration fails.
pub async fn migrate(path: impl AsRef<Path>) -> anyhow::Result<Vec<String>> {
    let path = path.as_ref();
    let location = location(path)?;
    let conn = establish(&location)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    // diesel's migration runner is synchronous; diesel-async's harness
    // drives the async connection from a blocking thread, which works on any
    // tokio runtime flavour.
    tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        harness
            .run_pending_migrations(MIGRATIONS)
            .map(|applied| applied.iter().map(ToString::to_string).collect())
            .map_err(|e| anyhow::anyhow!("SQLite migration failed: {e}"))
    })
    .await?
}

/// Writes a consistent copy of the database at `path` to the new file
/// `dest` (`gatehouse backup`), while servers keep using it.
///
/// `VACUUM INTO` reads one snapshot in a read transaction, which in WAL
/// mode never waits for the writer and is never waited for: a copy taken
/// under load holds every transaction committed before it began and none
/// after, and it is compact and self-contained (no `-wal` beside it).
/// Copying the file with `cp` instead can catch a page half-written or
/// miss what is still in the `-wal`. The copy holds what the database
/// holds, so it is created 0600, and an existing `dest` is refused rather
/// than overwritten.
///
/// # Errors
/// No database at `path`, `dest` exists or cannot be created, or SQLite
/// failed to write the copy (which is then removed).
pub async fn backup(path: impl AsRef<Path>, dest: impl AsRef<Path>) -> anyhow::Result<()> {
    let (path, dest) = (path.as_ref(), dest.as_ref());
    anyhow::ensure!(path.is_file(), "there is no database at {}", path.display());
    let target = dest
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the backup path {} is not UTF-8", dest.display()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(dest)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dest.display()))?;
    let copy = async {
        let mut conn = establish(&location(path)?)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        // SQLite takes the file name as a string literal: quotes doubled.
        conn.batch_execute(&format!("VACUUM INTO '{}'", target.replace('\'', "''")))
            .await
            .map_err(|e| anyhow::anyhow!("the copy to {} failed: {e}", dest.display()))
    };
    if let Err(e) = copy.await {
        let _ = std::fs::remove_file(dest);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_database_and_its_wal_and_shm_are_private_to_the_owner() {
        let scratch = testing::ScratchFile::new().unwrap();
        let path = scratch.dir().join("nested/dir/gatehouse.db");
        let store = SqliteStore::open(&path, 2).await.unwrap();
        // A write, so the -wal and -shm files exist.
        gatehouse_core::ports::KeyStore::master_key_or_init(&store, &[7; 32])
            .await
            .unwrap();
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let mut shm = path.as_os_str().to_owned();
        shm.push("-shm");
        for f in [path.clone(), PathBuf::from(wal), PathBuf::from(shm)] {
            assert!(f.exists(), "{} missing", f.display());
            assert_eq!(mode(&f), 0o600, "{}", f.display());
        }
        assert_eq!(mode(&scratch.dir().join("nested/dir")), 0o700);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn an_existing_readable_database_is_made_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let scratch = testing::ScratchFile::new().unwrap();
        let path = scratch.path();
        drop(SqliteStore::open(&path, 1).await.unwrap());
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let wal = PathBuf::from(wal);
        std::fs::write(&wal, b"").unwrap();
        for f in [&path, &wal] {
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        // Checked while open: SQLite may delete the -wal when it closes.
        let store = SqliteStore::open(&path, 1).await.unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&wal), 0o600);
        drop(store);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_backup_of_a_live_database_is_a_private_database_with_its_data() {
        use gatehouse_core::ports::KeyStore as _;
        let scratch = testing::ScratchFile::new().unwrap();
        let path = scratch.path();
        let store = SqliteStore::open(&path, 1).await.unwrap();
        let master = store.master_key_or_init(&[7; 32]).await.unwrap();
        let dest = scratch.dir().join("it's a backup.db");
        // Taken while the store is open, its latest write still in the -wal.
        backup(&path, &dest).await.unwrap();
        assert_eq!(mode(&dest), 0o600);
        let copy = SqliteStore::open(&dest, 1).await.unwrap();
        assert_eq!(copy.master_key_or_init(&[9; 32]).await.unwrap(), master);
        let again = backup(&path, &dest).await.unwrap_err().to_string();
        assert!(again.contains("cannot create"), "{again}");
        let none = backup(scratch.dir().join("absent.db"), scratch.dir().join("b.db"))
            .await
            .unwrap_err()
            .to_string();
        assert!(none.contains("no database"), "{none}");
        drop(store);
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            path_from_url("sqlite://gatehouse.db"),
            Some(Path::new("gatehouse.db"))
        );
        assert_eq!(
            path_from_url("sqlite:///var/lib/gatehouse/db.sqlite"),
            Some(Path::new("/var/lib/gatehouse/db.sqlite"))
        );
        assert_eq!(path_from_url("sqlite://"), None);
        assert_eq!(path_from_url("sqlite://:memory:"), None);
        assert_eq!(path_from_url("sqlite:gatehouse.db"), None);
        assert_eq!(path_from_url("postgres://localhost/db"), None);
    }
}
