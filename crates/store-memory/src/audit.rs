//! The audit log: an append-only list, newest last.

use async_trait::async_trait;
use gatehouse_core::audit::{AuditEvent, AuditQuery, AuditStore};
use gatehouse_core::ports::StoreError;
use time::OffsetDateTime;

use crate::MemoryStore;

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, events: &[AuditEvent]) -> Result<(), StoreError> {
        let mut log = self.audit_log();
        log.extend_from_slice(events);
        Ok(())
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let log = self.audit_log();
        let mut found: Vec<AuditEvent> = log.iter().filter(|e| query.matches(e)).cloned().collect();
        drop(log);
        found.sort_by_key(|e| std::cmp::Reverse((e.at, e.id)));
        found.truncate(query.limit as usize);
        Ok(found)
    }

    async fn purge_audit(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut log = self.audit_log();
        let was = log.len();
        log.retain(|e| e.at >= before);
        Ok((was - log.len()) as u64)
    }
}
