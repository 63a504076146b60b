//! The memory store against the shared store contract.

use gatehouse_store_contract::{Stores, contract_tests};
use gatehouse_store_memory::MemoryStore;

async fn fresh_store() -> Stores {
    Stores::from_one(MemoryStore::new())
}

contract_tests!(fresh_store);
