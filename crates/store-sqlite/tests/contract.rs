//! The SQLite store against the shared store contract, each test on a fresh
//! database file.

// A factory that cannot set up its store has failed the test.
#![allow(clippy::expect_used)]

use gatehouse_store_contract::{Stores, contract_tests};
use gatehouse_store_sqlite::SqliteStore;
use gatehouse_store_sqlite::testing::ScratchFile;

async fn fresh_store() -> Stores {
    let file = ScratchFile::new().expect("a temporary directory");
    let store = SqliteStore::open(file.path(), 4)
        .await
        .expect("a new database file accepts the schema");
    Stores::from_one(store).with_guard(file)
}

contract_tests!(fresh_store);
