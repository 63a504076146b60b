//! `IdentityRepo`: upstream providers and linked identities.
//!
//! Providers are few and links are looked up once per upstream sign-in, so
//! both live behind one mutex: uniqueness of names and of `(issuer,
//! subject)` is then a plain check under the lock. The lock is never held
//! across an `.await`; it may be held while `users` is read (never the
//! other way round).

use std::collections::HashMap;

use async_trait::async_trait;
use gatehouse_core::model::{IdentityProvider, IdpId, LinkedIdentity, UserId};
use gatehouse_core::ports::{IdentityRepo, StoreError};
use time::OffsetDateTime;

use crate::MemoryStore;

/// What the mutex guards.
#[derive(Default)]
pub(crate) struct Identities {
    providers: HashMap<IdpId, IdentityProvider>,
    /// Keyed by the upstream's `(issuer, subject)`.
    links: HashMap<(String, String), LinkedIdentity>,
}

impl Identities {
    /// Drops every link of `user` (the user is being deleted).
    pub(crate) fn forget_user(&mut self, user: UserId) {
        self.links.retain(|_, l| l.user != user);
    }
}

fn key(issuer: &str, subject: &str) -> (String, String) {
    (issuer.to_owned(), subject.to_owned())
}

#[async_trait]
impl IdentityRepo for MemoryStore {
    async fn insert_provider(&self, provider: &IdentityProvider) -> Result<(), StoreError> {
        let mut ids = self.identities();
        if ids.providers.contains_key(&provider.id)
            || ids.providers.values().any(|p| p.name == provider.name)
        {
            return Err(StoreError::Conflict("identity provider"));
        }
        ids.providers.insert(provider.id, provider.clone());
        Ok(())
    }

    async fn get_provider(&self, id: IdpId) -> Result<Option<IdentityProvider>, StoreError> {
        Ok(self.identities().providers.get(&id).cloned())
    }

    async fn provider_by_name(&self, name: &str) -> Result<Option<IdentityProvider>, StoreError> {
        Ok(self
            .identities()
            .providers
            .values()
            .find(|p| p.name.as_str() == name)
            .cloned())
    }

    async fn list_providers(&self) -> Result<Vec<IdentityProvider>, StoreError> {
        let mut all: Vec<_> = self.identities().providers.values().cloned().collect();
        all.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
        Ok(all)
    }

    async fn update_provider(&self, provider: &IdentityProvider) -> Result<(), StoreError> {
        let mut ids = self.identities();
        if ids
            .providers
            .values()
            .any(|p| p.name == provider.name && p.id != provider.id)
        {
            return Err(StoreError::Conflict("identity provider"));
        }
        match ids.providers.get_mut(&provider.id) {
            Some(stored) => {
                *stored = provider.clone();
                Ok(())
            }
            None => Err(StoreError::NotFound("identity provider")),
        }
    }

    async fn delete_provider(&self, id: IdpId) -> Result<bool, StoreError> {
        let mut ids = self.identities();
        let existed = ids.providers.remove(&id).is_some();
        ids.links.retain(|_, l| l.provider != id);
        Ok(existed)
    }

    async fn link_identity(&self, link: &LinkedIdentity) -> Result<(), StoreError> {
        let mut ids = self.identities();
        if !ids.providers.contains_key(&link.provider) {
            return Err(StoreError::NotFound("identity provider"));
        }
        if !self.inner.users.contains_key(&link.user) {
            return Err(StoreError::NotFound("user"));
        }
        let k = key(&link.issuer, &link.subject);
        if ids.links.contains_key(&k) {
            return Err(StoreError::Conflict("linked identity"));
        }
        ids.links.insert(k, link.clone());
        Ok(())
    }

    async fn find_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<LinkedIdentity>, StoreError> {
        Ok(self.identities().links.get(&key(issuer, subject)).cloned())
    }

    async fn user_identities(&self, user: UserId) -> Result<Vec<LinkedIdentity>, StoreError> {
        let mut mine: Vec<_> = self
            .identities()
            .links
            .values()
            .filter(|l| l.user == user)
            .cloned()
            .collect();
        mine.sort_by(|a, b| {
            (a.created_at, &a.issuer, &a.subject).cmp(&(b.created_at, &b.issuer, &b.subject))
        });
        Ok(mine)
    }

    async fn touch_identity(
        &self,
        issuer: &str,
        subject: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        if let Some(l) = self.identities().links.get_mut(&key(issuer, subject)) {
            l.last_used_at = at;
        }
        Ok(())
    }

    async fn unlink_identity(
        &self,
        user: UserId,
        issuer: &str,
        subject: &str,
    ) -> Result<bool, StoreError> {
        let mut ids = self.identities();
        let k = key(issuer, subject);
        if ids.links.get(&k).is_some_and(|l| l.user == user) {
            ids.links.remove(&k);
            return Ok(true);
        }
        Ok(false)
    }
}
