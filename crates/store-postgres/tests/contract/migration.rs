//! The refresh-family migrations carry tokens issued before them over on
//! PostgreSQL too: the scenario is the one SQLite's test runs
//! (`gatehouse_store_contract::migration`), with the schema reverted by
//! diesel's migration harness on a scratch database.

use diesel::sql_types::Binary;
use diesel_async::{AsyncConnection as _, AsyncMigrationHarness, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::MigrationHarness as _;
use gatehouse_store_contract::{Stores, migration};
use gatehouse_store_postgres::testing::ScratchDatabase;
use gatehouse_store_postgres::{MIGRATIONS, PostgresStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_family_migrations_keep_issued_tokens_working_once() {
    let Some(db) = ScratchDatabase::create().await else {
        return;
    };
    let store = PostgresStore::connect(db.url(), 2).await.expect("migrate");
    let stores = Stores::from_one(store);
    let legacy = migration::seed_legacy_tokens(&stores).await;
    drop(stores);

    // Back to the schema before: the current tokens become rows again;
    // add the token the live one replaced, as the old code kept it.
    let conn = AsyncPgConnection::establish(db.url())
        .await
        .expect("connect");
    let mut conn = tokio::task::spawn_blocking(move || {
        let mut harness = AsyncMigrationHarness::new(conn);
        for version in ["20261210000000", "20261209000000"] {
            let reverted = harness.revert_last_migration(MIGRATIONS).expect("down");
            assert_eq!(
                reverted.to_string(),
                version,
                "the refresh-family migrations"
            );
        }
        harness.into_inner()
    })
    .await
    .expect("the old schema");
    diesel::sql_query(
        "INSERT INTO refresh_tokens (hash, grant_id, issued_at, expires_at, rotated_at, grace_used, replaced_by) \
         SELECT $1, grant_id, issued_at, expires_at, issued_at, false, hash \
         FROM refresh_tokens WHERE hash = $2",
    )
    .bind::<Binary, _>(legacy.spent.as_bytes().to_vec())
    .bind::<Binary, _>(legacy.current.current.as_bytes().to_vec())
    .execute(&mut conn)
    .await
    .expect("a rotated legacy token");
    drop(conn);

    let store = PostgresStore::connect(db.url(), 2)
        .await
        .expect("migrate up");
    migration::legacy_tokens_work_once(&Stores::from_one(store).with_guard(db), &legacy).await;
}
