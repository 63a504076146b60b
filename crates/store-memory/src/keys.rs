//! Signing keys and the master key wrapping them.

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use gatehouse_core::model::StoredKey;
use gatehouse_core::ports::{KeyStore, StoreError};
use time::OffsetDateTime;

use crate::MemoryStore;

#[async_trait]
impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut all: Vec<StoredKey> = self.inner.signing_keys.iter().map(|k| k.clone()).collect();
        all.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
        Ok(all)
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        match self.inner.signing_keys.entry(key.kid.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict("signing key")),
            Entry::Vacant(slot) => {
                slot.insert(key.clone());
                Ok(())
            }
        }
    }

    async fn retire_signing_key(&self, kid: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        match self.inner.signing_keys.get_mut(kid) {
            Some(mut key) => {
                // The first retirement stands: publication time is counted
                // from it, and retiring twice must not extend it.
                key.retired_at.get_or_insert(at);
                Ok(())
            }
            None => Err(StoreError::NotFound("signing key")),
        }
    }

    async fn master_key_or_init(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .inner
            .master_key
            .get_or_init(|| candidate.to_vec())
            .clone())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
