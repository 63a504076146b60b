//! `StreamStore`: Shared Signals streams.

use async_trait::async_trait;
use gatehouse_core::model::{ClientId, DeliveryMethod, Stream, StreamId, StreamStatus};
use gatehouse_core::ports::{StoreError, StreamStore};
use time::OffsetDateTime;

use crate::MemoryStore;

#[async_trait]
impl StreamStore for MemoryStore {
    async fn insert_stream(&self, stream: &Stream) -> Result<(), StoreError> {
        if !self.inner.clients.contains_key(&stream.client_id) {
            return Err(StoreError::NotFound("client"));
        }
        match self.inner.streams.entry(stream.id) {
            dashmap::Entry::Occupied(_) => Err(StoreError::Conflict("stream")),
            dashmap::Entry::Vacant(v) => {
                v.insert(stream.clone());
                Ok(())
            }
        }
    }

    async fn get_stream(&self, id: StreamId) -> Result<Option<Stream>, StoreError> {
        Ok(self.inner.streams.get(&id).map(|s| s.clone()))
    }

    async fn client_streams(&self, client: &ClientId) -> Result<Vec<Stream>, StoreError> {
        let mut out: Vec<Stream> = self
            .inner
            .streams
            .iter()
            .filter(|s| s.client_id == *client)
            .map(|s| s.clone())
            .collect();
        out.sort_by_key(|s| (s.created_at, s.id));
        Ok(out)
    }

    async fn update_stream(&self, stream: &Stream) -> Result<bool, StoreError> {
        let Some(mut stored) = self.inner.streams.get_mut(&stream.id) else {
            return Ok(false);
        };
        if stored.version != stream.version {
            return Ok(false);
        }
        *stored = Stream {
            version: stream.version + 1,
            ..stream.clone()
        };
        Ok(true)
    }

    async fn delete_stream(&self, id: StreamId) -> Result<bool, StoreError> {
        Ok(self.inner.streams.remove(&id).is_some())
    }

    async fn due_push_streams(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Stream>, StoreError> {
        let mut due: Vec<Stream> = self
            .inner
            .streams
            .iter()
            .filter(|s| {
                s.method == DeliveryMethod::Push
                    && s.status == StreamStatus::Enabled
                    && s.retry_at.is_none_or(|t| t <= now)
                    && s.lease_until.is_none_or(|t| t <= now)
            })
            .map(|s| s.clone())
            .collect();
        due.sort_by_key(|s| (s.retry_at.unwrap_or(s.created_at), s.id));
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn delete_idle_streams(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut gone = 0;
        self.inner.streams.retain(|_, s| {
            let idle = s.method == DeliveryMethod::Poll && s.last_polled_at < before;
            gone += u64::from(idle);
            !idle
        });
        Ok(gone)
    }
}
