//! Clients and the resources they may ask tokens for.

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use gatehouse_core::model::{Client, ClientId, ClientOrigin, Resource, ResourceId};
use gatehouse_core::ports::{ClientRepo, ResourceRepo, StoreError};
use gatehouse_core::secret::TokenHash;
use time::OffsetDateTime;

use crate::MemoryStore;

#[async_trait]
impl ClientRepo for MemoryStore {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        match self.inner.clients.entry(client.id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict("client")),
            Entry::Vacant(slot) => {
                slot.insert(client.clone());
                Ok(())
            }
        }
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(self.inner.clients.get(id).map(|c| c.clone()))
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut all: Vec<Client> = self.inner.clients.iter().map(|c| c.clone()).collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn update_client(&self, client: &Client) -> Result<(), StoreError> {
        match self.inner.clients.get_mut(&client.id) {
            Some(mut stored) => {
                // The caller's copy may predate the last usage batch.
                let last_used_at = stored.last_used_at.max(client.last_used_at);
                *stored = Client {
                    last_used_at,
                    ..client.clone()
                };
                Ok(())
            }
            None => Err(StoreError::NotFound("client")),
        }
    }

    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        let existed = self.inner.clients.remove(id).is_some();
        // Swept even if the client was already gone, so records written by a
        // request racing an earlier delete are not left behind.
        self.inner.codes.retain(|_, c| c.code.client_id != *id);
        self.inner.consents.retain(|(_, client), _| client != id);
        self.inner.streams.retain(|_, s| s.client_id != *id);
        self.remove_grants_where(|g| g.client_id == *id);
        Ok(existed)
    }

    async fn client_by_registration_key(
        &self,
        key: &TokenHash,
    ) -> Result<Option<Client>, StoreError> {
        Ok(self
            .inner
            .clients
            .iter()
            .filter(|c| {
                c.origin == ClientOrigin::Dynamic && c.registration_key.as_ref() == Some(key)
            })
            .map(|c| c.clone())
            .min_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id))))
    }

    async fn delete_idle_clients(
        &self,
        idle_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ClientId>, StoreError> {
        let mut idle: Vec<(OffsetDateTime, ClientId)> = self
            .inner
            .clients
            .iter()
            .filter(|c| {
                c.origin != ClientOrigin::Admin
                    && c.last_used_at.unwrap_or(c.created_at) < idle_before
            })
            .map(|c| (c.created_at, c.id.clone()))
            .filter(|(_, id)| {
                !self
                    .inner
                    .grants
                    .iter()
                    .any(|g| g.client_id == *id && g.is_active())
            })
            .collect();
        idle.sort();
        idle.truncate(limit as usize);
        let mut gone = Vec::with_capacity(idle.len());
        for (_, id) in idle {
            if self.delete_client(&id).await? {
                gone.push(id);
            }
        }
        Ok(gone)
    }
}

#[async_trait]
impl ResourceRepo for MemoryStore {
    async fn insert_resource(&self, resource: &Resource) -> Result<(), StoreError> {
        if self.inner.resources.contains_key(&resource.id) {
            return Err(StoreError::Conflict("resource"));
        }
        // The URI index is the lock: whoever claims the URI first inserts.
        match self.inner.resource_uris.entry(resource.uri.clone()) {
            Entry::Occupied(_) => return Err(StoreError::Conflict("resource")),
            Entry::Vacant(v) => {
                v.insert(resource.id);
            }
        }
        self.inner.resources.insert(resource.id, resource.clone());
        Ok(())
    }

    async fn get_resource(&self, id: ResourceId) -> Result<Option<Resource>, StoreError> {
        Ok(self.inner.resources.get(&id).map(|r| r.clone()))
    }

    async fn get_resource_by_uri(&self, uri: &str) -> Result<Option<Resource>, StoreError> {
        let Some(id) = self.inner.resource_uris.get(uri).map(|r| *r) else {
            return Ok(None);
        };
        Ok(self.inner.resources.get(&id).map(|r| r.clone()))
    }

    async fn list_resources(&self) -> Result<Vec<Resource>, StoreError> {
        let mut all: Vec<Resource> = self.inner.resources.iter().map(|r| r.clone()).collect();
        all.sort_by_key(|r| (r.created_at, r.id));
        Ok(all)
    }

    async fn update_resource(&self, resource: &Resource) -> Result<(), StoreError> {
        let Some(old_uri) = self
            .inner
            .resources
            .get(&resource.id)
            .map(|r| r.uri.clone())
        else {
            return Err(StoreError::NotFound("resource"));
        };
        if old_uri != resource.uri {
            match self.inner.resource_uris.entry(resource.uri.clone()) {
                Entry::Occupied(_) => return Err(StoreError::Conflict("resource")),
                Entry::Vacant(v) => {
                    v.insert(resource.id);
                }
            }
            self.inner.resource_uris.remove(&old_uri);
        }
        self.inner.resources.insert(resource.id, resource.clone());
        Ok(())
    }

    async fn delete_resource(&self, id: ResourceId) -> Result<bool, StoreError> {
        match self.inner.resources.remove(&id) {
            Some((_, r)) => {
                self.inner.resource_uris.remove(&r.uri);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
