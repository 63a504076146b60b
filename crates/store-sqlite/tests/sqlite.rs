//! What only the SQLite store has to show: concurrent writers never see
//! "database is locked" (not within one store, where writes queue for the
//! single writer connection, and not between two stores on one file, as
//! two processes would be: `BEGIN IMMEDIATE` plus the busy timeout); and
//! the refresh-family migration carries tokens issued before it over.

// A failed expect in a test is a failed assertion.
#![allow(clippy::expect_used)]

use diesel::Connection as _;
use diesel_migrations::MigrationHarness as _;
use gatehouse_core::ports::{ClientRepo, Rotation, TokenStore, UserRepo};
use gatehouse_store_contract::{Stores, fixtures, migration, race};
use gatehouse_store_sqlite::SqliteStore;
use gatehouse_store_sqlite::testing::ScratchFile;

const WRITERS: usize = 48;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_write_at_once_without_locking_errors() {
    let file = ScratchFile::new().expect("a temporary directory");
    let first = SqliteStore::open(file.path(), 4).await.expect("open");
    let second = SqliteStore::open(file.path(), 4).await.expect("open again");

    let client = fixtures::client();
    first.insert_client(&client).await.expect("insert client");
    let user = fixtures::user("ann@example.com");
    first.insert_user(&user).await.expect("insert user");
    let grants: Vec<_> = (0..WRITERS)
        .map(|_| {
            let grant = fixtures::grant(&client, &user);
            let token = fixtures::refresh(&grant);
            (grant, token)
        })
        .collect();
    for (grant, token) in &grants {
        second
            .create_grant(grant, Some(token.clone()))
            .await
            .expect("create grant");
    }

    // Every writer does a multi-statement transaction (a rotation) and a
    // single-statement write (a session), alternating between the stores.
    let outcomes = race(WRITERS, |i| {
        let store = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let token = grants[i].1.clone();
        let next = fixtures::successor(&token);
        let session = fixtures::session(&user);
        async move {
            let rotated = store
                .rotate_refresh(
                    &fixtures::presented(&token),
                    None,
                    &next,
                    fixtures::now(),
                    time::Duration::ZERO,
                )
                .await;
            let stored = store.put_session(&session).await;
            (rotated, stored)
        }
    })
    .await;

    for (i, (rotated, stored)) in outcomes.into_iter().enumerate() {
        assert!(
            matches!(rotated, Ok(Rotation::Rotated { .. })),
            "writer {i}: rotation failed: {rotated:?}"
        );
        assert!(
            stored.is_ok(),
            "writer {i}: session write failed: {stored:?}"
        );
    }
}

/// A database from before refresh families: each grant's tokens are rows
/// of `refresh_tokens`. The migrations move each live family's current
/// token into its grant as generation 0 (it works, once, then rotates into
/// the new form) and keep the rotated ones, whose reuse is still caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_family_migration_keeps_issued_tokens_working_once() {
    let file = ScratchFile::new().expect("a temporary directory");
    let store = SqliteStore::open(file.path(), 2).await.expect("open");
    let stores = Stores::from_one(store);
    let legacy = migration::seed_legacy_tokens(&stores).await;
    drop(stores);

    // Back to the schema before: the current tokens become rows again;
    // add the token the live one replaced, as the old code kept it.
    let path = file.path().to_str().expect("a UTF-8 path").to_owned();
    let hex = |h: &gatehouse_core::secret::TokenHash| {
        h.as_bytes()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    };
    let (current_hex, spent_hex) = (hex(&legacy.current.current), hex(&legacy.spent));
    tokio::task::spawn_blocking(move || {
        use diesel::RunQueryDsl as _;
        let mut conn = diesel::SqliteConnection::establish(&path).expect("connect");
        // The dropped store's connections close in the background.
        diesel::sql_query("PRAGMA busy_timeout = 10000")
            .execute(&mut conn)
            .expect("busy timeout");
        for migration in ["20261210000000", "20261209000000"] {
            let reverted = conn
                .revert_last_migration(gatehouse_store_sqlite::MIGRATIONS)
                .expect("down");
            assert_eq!(reverted.to_string(), migration, "the refresh-family migrations");
        }
        diesel::sql_query(format!(
            "INSERT INTO refresh_tokens (hash, grant_id, issued_at, expires_at, rotated_at, grace_used, replaced_by) \
             SELECT X'{spent_hex}', grant_id, issued_at, expires_at, issued_at, 0, hash \
             FROM refresh_tokens WHERE hash = X'{current_hex}'"
        ))
        .execute(&mut conn)
        .expect("a rotated legacy token");
    })
    .await
    .expect("the old schema");

    let store = SqliteStore::open(file.path(), 2).await.expect("migrate up");
    migration::legacy_tokens_work_once(&Stores::from_one(store), &legacy).await;
}
