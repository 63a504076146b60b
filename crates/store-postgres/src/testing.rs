//! Scratch databases for tests: one fresh database per test, dropped when
//! the test ends (or panics).
//!
//! Tests find the server through `GATEHOUSE_TEST_POSTGRES_URL`, a URL whose
//! role may `CREATE DATABASE`. Without it, a test is skipped with a
//! `SKIPPED` line on a developer's machine and fails under `CI=true`, where
//! a silently skipped database suite would hide a broken adapter.

use std::io::Write as _;
use std::sync::Once;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// The variable naming the test server.
pub const TEST_URL_VAR: &str = "GATEHOUSE_TEST_POSTGRES_URL";

/// A database created for one test and dropped with this value.
#[derive(Debug)]
pub struct ScratchDatabase {
    name: String,
    admin_url: String,
    url: String,
}

impl ScratchDatabase {
    /// Creates an empty database on the server named by
    /// `GATEHOUSE_TEST_POSTGRES_URL`.
    ///
    /// Returns `None` when the variable is unset outside CI, after printing
    /// (once per test binary, straight to stderr so the test harness does
    /// not swallow it) a `SKIPPED` line.
    ///
    /// # Panics
    /// When the variable is unset under `CI=true`, or the server refuses to
    /// create the database: both mean the test cannot prove anything.
    pub async fn create() -> Option<Self> {
        let Some(admin_url) = std::env::var(TEST_URL_VAR).ok().filter(|u| !u.is_empty()) else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{TEST_URL_VAR} is not set: the PostgreSQL tests must run under CI \
                     (.ci/run starts a server and sets it)"
                );
            }
            static ONCE: Once = Once::new();
            ONCE.call_once(|| {
                let _ = writeln!(
                    std::io::stderr().lock(),
                    "SKIPPED: {TEST_URL_VAR} is not set, so the PostgreSQL tests in this test \
                     binary did not run; set it to a server whose role may CREATE DATABASE \
                     (see README, \"Testing against PostgreSQL\")"
                );
            });
            return None;
        };
        let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = match AsyncPgConnection::establish(&admin_url).await {
            Ok(c) => c,
            Err(e) => panic!("cannot connect to {TEST_URL_VAR}: {e}"),
        };
        if let Err(e) = diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut admin)
            .await
        {
            panic!("cannot create a scratch database (does the role have CREATEDB?): {e}");
        }
        let mut url = match url::Url::parse(&admin_url) {
            Ok(u) => u,
            Err(e) => panic!("{TEST_URL_VAR} is not a URL: {e}"),
        };
        url.set_path(&format!("/{name}"));
        Some(Self {
            name,
            admin_url,
            url: url.to_string(),
        })
    }

    /// The scratch database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ScratchDatabase {
    /// Drops the database, ending any connection still open to it. Runs on
    /// its own thread and runtime: `Drop` cannot await, and may run inside
    /// the test's runtime.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url).await {
                    let _ = diesel::sql_query(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    ))
                    .execute(&mut admin)
                    .await;
                }
            });
        });
        let _ = dropper.join();
    }
}
