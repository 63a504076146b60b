//! Read-through caches in front of the ports that every token request
//! reads: clients, protected resources and users.
//!
//! A token request looks its client up, most name a resource, and each
//! bearer call to the platform API loads its user. On a database store each
//! of those is a query (on SQLite a hand-off to a blocking thread, on
//! PostgreSQL a network round trip) for a record that changes perhaps once
//! a month. These decorators keep what was read for a short, bounded time.
//!
//! Consistency:
//! - **This instance** sees its own writes at once: every write through a
//!   decorator drops what it cached, and a read that raced with a write
//!   does not put its (possibly older) answer in the cache.
//! - **Other instances** on the same database may keep serving what they
//!   read for up to the TTL (`GATEHOUSE_CACHE_TTL_SECONDS`, default 1 s):
//!   a deleted client, resource or user may be honoured that much longer
//!   there. A zero TTL turns the caches off.
//! - Absence is not cached, so a record created elsewhere is seen on its
//!   first use.
//!
//! Revocation is never cached: whether a grant or token is revoked is read
//! from the store on every use.

use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::model::{Client, ClientId, Email, Resource, ResourceId, User, UserId};
use crate::ports::{ClientRepo, ResourceRepo, StoreError, UserRepo};

/// How many records of one kind a cache holds; beyond it the least used are
/// evicted (and read again when next needed).
pub const CACHE_CAPACITY: usize = 4096;

/// A bounded map of records read at most `ttl` ago. The generation counter
/// closes the race where a read that started before a write finishes after
/// it: such a read's answer is returned but not kept.
struct Fresh<K, V> {
    entries: quick_cache::sync::Cache<K, (Instant, V)>,
    ttl: Duration,
    generation: AtomicU64,
}

impl<K: Eq + Hash + Clone, V: Clone> Fresh<K, V> {
    fn new(ttl: Duration) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(CACHE_CAPACITY),
            ttl,
            generation: AtomicU64::new(0),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let (at, value) = self.entries.get(key)?;
        (at.elapsed() < self.ttl).then_some(value)
    }

    /// The generation to pass to [`Fresh::put`] for a read starting now.
    fn begin(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn put(&self, generation: u64, key: K, value: V) {
        if self.generation.load(Ordering::Acquire) == generation {
            self.entries.insert(key, (Instant::now(), value));
        }
    }

    fn invalidate(&self, key: &K) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries.remove(key);
    }

    /// A fresh cached value, or `fetch`'s answer, kept if present.
    async fn read_through(
        &self,
        key: &K,
        fetch: impl Future<Output = Result<Option<V>, StoreError>>,
    ) -> Result<Option<V>, StoreError> {
        if let Some(hit) = self.get(key) {
            return Ok(Some(hit));
        }
        let generation = self.begin();
        let found = fetch.await?;
        if let Some(value) = &found {
            self.put(generation, key.clone(), value.clone());
        }
        Ok(found)
    }

    /// Runs a write of `key`'s record, dropping the cached copy before (so
    /// no reader is served the old one meanwhile) and after (so a read that
    /// raced the write is not kept).
    async fn write<T>(&self, key: &K, write: impl Future<Output = T>) -> T {
        self.invalidate(key);
        let result = write.await;
        self.invalidate(key);
        result
    }
}

/// [`ClientRepo`] with `get_client` served from memory for up to the TTL.
pub struct CachedClients {
    inner: Arc<dyn ClientRepo>,
    cache: Fresh<ClientId, Client>,
}

impl CachedClients {
    /// Caches `inner`'s clients for `ttl`.
    pub fn new(inner: Arc<dyn ClientRepo>, ttl: Duration) -> Self {
        Self {
            inner,
            cache: Fresh::new(ttl),
        }
    }
}

impl fmt::Debug for CachedClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedClients")
            .field("ttl", &self.cache.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ClientRepo for CachedClients {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        // A client read as absent is not cached, but a concurrent reader
        // may still be holding an older copy of a re-created id.
        self.cache.invalidate(&client.id);
        self.inner.insert_client(client).await
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.cache.read_through(id, self.inner.get_client(id)).await
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        self.inner.list_clients().await
    }

    async fn update_client(&self, client: &Client) -> Result<(), StoreError> {
        self.cache
            .write(&client.id, self.inner.update_client(client))
            .await
    }

    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        self.cache.write(id, self.inner.delete_client(id)).await
    }

    async fn client_by_registration_key(
        &self,
        key: &crate::secret::TokenHash,
    ) -> Result<Option<Client>, StoreError> {
        self.inner.client_by_registration_key(key).await
    }

    async fn delete_idle_clients(
        &self,
        idle_before: time::OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ClientId>, StoreError> {
        let gone = self.inner.delete_idle_clients(idle_before, limit).await?;
        for id in &gone {
            self.cache.invalidate(id);
        }
        Ok(gone)
    }
}

/// [`UserRepo`] with `get_user` (the bearer check's lookup) served from
/// memory for up to the TTL. Lookups by email (sign-in) always read the
/// store.
pub struct CachedUsers {
    inner: Arc<dyn UserRepo>,
    cache: Fresh<UserId, User>,
}

impl CachedUsers {
    /// Caches `inner`'s users for `ttl`.
    pub fn new(inner: Arc<dyn UserRepo>, ttl: Duration) -> Self {
        Self {
            inner,
            cache: Fresh::new(ttl),
        }
    }
}

impl fmt::Debug for CachedUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedUsers")
            .field("ttl", &self.cache.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl UserRepo for CachedUsers {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        self.cache.invalidate(&user.id);
        self.inner.insert_user(user).await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        self.cache.read_through(&id, self.inner.get_user(id)).await
    }

    async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        self.inner.get_user_by_email(email).await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.inner.list_users().await
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        self.cache
            .write(&user.id, self.inner.update_user(user))
            .await
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        self.cache.write(&id, self.inner.delete_user(id)).await
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        self.inner.count_admins().await
    }
}

/// [`ResourceRepo`] answering lookups from one cached snapshot of all
/// resources, refreshed after the TTL. A deployment has a handful of
/// protected resources and every token request, introspection and metadata
/// document needs them.
pub struct CachedResources {
    inner: Arc<dyn ResourceRepo>,
    ttl: Duration,
    snapshot: Mutex<Option<(Instant, Arc<Vec<Resource>>)>>,
    generation: AtomicU64,
}

impl CachedResources {
    /// Caches `inner`'s resources for `ttl`.
    pub fn new(inner: Arc<dyn ResourceRepo>, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            snapshot: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    async fn all(&self) -> Result<Arc<Vec<Resource>>, StoreError> {
        if let Some((at, all)) = &*self.snapshot.lock().unwrap_or_else(|e| e.into_inner())
            && at.elapsed() < self.ttl
        {
            return Ok(all.clone());
        }
        let generation = self.generation.load(Ordering::Acquire);
        let all = Arc::new(self.inner.list_resources().await?);
        let mut snapshot = self.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            *snapshot = Some((Instant::now(), all.clone()));
        }
        Ok(all)
    }

    /// A lookup the snapshot could not answer went to the store: if the
    /// store has it (created on another instance since), the snapshot is
    /// stale.
    fn miss(&self, found: Option<Resource>) -> Result<Option<Resource>, StoreError> {
        if found.is_some() {
            self.invalidate();
        }
        Ok(found)
    }

    fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl fmt::Debug for CachedResources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedResources")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ResourceRepo for CachedResources {
    async fn insert_resource(&self, resource: &Resource) -> Result<(), StoreError> {
        let result = self.inner.insert_resource(resource).await;
        self.invalidate();
        result
    }

    async fn get_resource(&self, id: ResourceId) -> Result<Option<Resource>, StoreError> {
        if let Some(hit) = self.all().await?.iter().find(|r| r.id == id) {
            return Ok(Some(hit.clone()));
        }
        self.miss(self.inner.get_resource(id).await?)
    }

    async fn get_resource_by_uri(&self, uri: &str) -> Result<Option<Resource>, StoreError> {
        if let Some(hit) = self.all().await?.iter().find(|r| r.uri == uri) {
            return Ok(Some(hit.clone()));
        }
        self.miss(self.inner.get_resource_by_uri(uri).await?)
    }

    async fn list_resources(&self) -> Result<Vec<Resource>, StoreError> {
        Ok(self.all().await?.as_ref().clone())
    }

    async fn update_resource(&self, resource: &Resource) -> Result<(), StoreError> {
        self.invalidate();
        let result = self.inner.update_resource(resource).await;
        self.invalidate();
        result
    }

    async fn delete_resource(&self, id: ResourceId) -> Result<bool, StoreError> {
        self.invalidate();
        let result = self.inner.delete_resource(id).await;
        self.invalidate();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ApplicationType, ClientOrigin, TokenEndpointAuthMethod};
    use crate::ports::{MockClientRepo, MockResourceRepo};
    use crate::scope::ScopeSet;
    use time::OffsetDateTime;

    const LONG: Duration = Duration::from_secs(3600);

    fn client(name: &str) -> Client {
        Client {
            id: ClientId::parse("c1").unwrap(),
            secret_hash: None,
            name: name.into(),
            description: String::new(),
            redirect_uris: vec![],
            allowed_scopes: ScopeSet::default(),
            auth_method: TokenEndpointAuthMethod::None,
            grant_types: vec![],
            application_type: ApplicationType::Native,
            origin: ClientOrigin::Admin,
            require_pkce: true,
            registration_token_hash: None,
            metadata: serde_json::json!({}),
            metadata_expires_at: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            last_used_at: None,
            registration_key: None,
        }
    }

    fn resource(uri: &str) -> Resource {
        Resource {
            id: ResourceId(uuid::Uuid::new_v4()),
            uri: uri.into(),
            name: "r".into(),
            scopes: ScopeSet::default(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn a_client_is_read_once_until_this_instance_changes_it() {
        let mut inner = MockClientRepo::new();
        let mut seq = mockall::Sequence::new();
        inner
            .expect_get_client()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Some(client("old"))));
        inner
            .expect_update_client()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(()));
        inner
            .expect_get_client()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Some(client("new"))));
        let cached = CachedClients::new(Arc::new(inner), LONG);
        let id = ClientId::parse("c1").unwrap();
        for _ in 0..3 {
            assert_eq!(cached.get_client(&id).await.unwrap().unwrap().name, "old");
        }
        cached.update_client(&client("new")).await.unwrap();
        for _ in 0..3 {
            assert_eq!(cached.get_client(&id).await.unwrap().unwrap().name, "new");
        }
    }

    #[tokio::test]
    async fn absence_is_not_cached_and_entries_expire() {
        let mut inner = MockClientRepo::new();
        let mut seq = mockall::Sequence::new();
        inner
            .expect_get_client()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(None));
        inner
            .expect_get_client()
            .times(2)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Some(client("created elsewhere"))));
        let cached = CachedClients::new(Arc::new(inner), Duration::from_millis(20));
        let id = ClientId::parse("c1").unwrap();
        assert!(cached.get_client(&id).await.unwrap().is_none());
        assert!(cached.get_client(&id).await.unwrap().is_some());
        assert!(cached.get_client(&id).await.unwrap().is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(cached.get_client(&id).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_deleted_client_is_gone_at_once_here() {
        let mut inner = MockClientRepo::new();
        let mut seq = mockall::Sequence::new();
        inner
            .expect_get_client()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(Some(client("c"))));
        inner
            .expect_delete_client()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(true));
        inner
            .expect_get_client()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| Ok(None));
        let cached = CachedClients::new(Arc::new(inner), LONG);
        let id = ClientId::parse("c1").unwrap();
        assert!(cached.get_client(&id).await.unwrap().is_some());
        assert!(cached.delete_client(&id).await.unwrap());
        assert!(cached.get_client(&id).await.unwrap().is_none());
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let fresh: Fresh<u8, &str> = Fresh::new(LONG);
        let generation = fresh.begin();
        // A write lands while the read is in flight.
        fresh.invalidate(&1);
        fresh.put(generation, 1, "read before the write");
        assert_eq!(fresh.get(&1), None);
        fresh.put(fresh.begin(), 1, "read after the write");
        assert_eq!(fresh.get(&1), Some("read after the write"));
    }

    #[tokio::test]
    async fn resources_come_from_one_snapshot_and_unknown_uris_ask_the_store() {
        let known = resource("https://mcp.example.com/mcp");
        let later = resource("https://other.example.com/mcp");
        let mut inner = MockResourceRepo::new();
        let snapshot = vec![known.clone()];
        inner
            .expect_list_resources()
            .times(2)
            .returning(move || Ok(snapshot.clone()));
        let found = later.clone();
        inner
            .expect_get_resource_by_uri()
            .times(1)
            .returning(move |_| Ok(Some(found.clone())));
        let cached = CachedResources::new(Arc::new(inner), LONG);
        for _ in 0..3 {
            let hit = cached.get_resource_by_uri(&known.uri).await.unwrap();
            assert_eq!(hit.unwrap().id, known.id);
            assert_eq!(
                cached.get_resource(known.id).await.unwrap().unwrap().uri,
                known.uri
            );
        }
        // Created on another instance after the snapshot: found in the store,
        // and the stale snapshot is dropped (the second list above).
        let other = cached.get_resource_by_uri(&later.uri).await.unwrap();
        assert_eq!(other.unwrap().id, later.id);
        assert_eq!(cached.list_resources().await.unwrap().len(), 1);
    }
}
