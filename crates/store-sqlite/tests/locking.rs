//! Concurrent writers never see "database is locked": not within one store
//! (writes queue for the single writer connection) and not between two
//! stores on one file, as two processes would be (`BEGIN IMMEDIATE` plus
//! the busy timeout).

// A failed expect in a test is a failed assertion.
#![allow(clippy::expect_used)]

use gatehouse_core::ports::{ClientRepo, Rotation, TokenStore, UserRepo};
use gatehouse_store_contract::{fixtures, race};
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
        let next = fixtures::refresh(&grants[i].0);
        let session = fixtures::session(&user);
        async move {
            let rotated = store
                .rotate_refresh(&token.hash, &next, fixtures::now(), time::Duration::ZERO)
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
