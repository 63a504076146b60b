//! The PostgreSQL store against the shared store contract, each test on a
//! fresh database.

// A factory that cannot set up its store has failed the test.
#![allow(clippy::expect_used)]

use gatehouse_store_contract::{Stores, contract_tests};
use gatehouse_store_postgres::PostgresStore;
use gatehouse_store_postgres::testing::ScratchDatabase;

async fn fresh_store() -> Option<Stores> {
    let db = ScratchDatabase::create().await?;
    let store = PostgresStore::connect(db.url(), 8)
        .await
        .expect("the scratch database accepts the schema");
    Some(Stores::from_one(store).with_guard(db))
}

contract_tests!(fresh_store);

#[path = "contract/migration.rs"]
mod migration;
#[path = "contract/tls.rs"]
mod tls;
