//! Audit events off the request path: a bounded queue and one writer task.
//!
//! Recording an event must not add a durable commit to the request that
//! caused it (a sign-in, a revocation, a refresh-token reuse on the token
//! path). So [`QueuedAudit::record`] only enqueues, and a task appends what
//! has queued up in batches of up to [`BATCH`] events per store write.
//!
//! What this costs, stated plainly: events still in the queue when the
//! process dies (a crash, `SIGKILL`, power loss) are lost; that is at most
//! [`CAPACITY`] events and normally the last few milliseconds' worth. A
//! graceful stop flushes the queue first ([`QueuedAudit::flush`]). When the
//! store is slower than the event rate for long enough to fill the queue,
//! further events are dropped, counted in `gatehouse_audit_dropped_total`
//! and warned about, rather than slowing requests down. Every event is also
//! logged at `gatehouse::audit` when it is recorded, so a log pipeline keeps
//! a copy even of what the store lost.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use gatehouse_core::audit::{AuditEvent, AuditSink, AuditStore};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;

/// Events the queue holds before it drops new ones.
pub const CAPACITY: usize = 4096;

/// Most events appended in one store write.
pub const BATCH: usize = 256;

enum Message {
    Event(Box<AuditEvent>),
    /// Answered once everything queued before it is stored.
    Flush(oneshot::Sender<()>),
}

/// The server's audit sink.
pub struct QueuedAudit {
    queue: mpsc::Sender<Message>,
    metrics: Arc<Metrics>,
}

impl fmt::Debug for QueuedAudit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedAudit").finish_non_exhaustive()
    }
}

impl QueuedAudit {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Arc<dyn AuditStore>, metrics: Arc<Metrics>) -> Self {
        let (queue, inbox) = mpsc::channel(CAPACITY);
        tokio::spawn(write_batches(store, inbox, metrics.clone()));
        Self { queue, metrics }
    }

    /// Waits until every event recorded so far is stored (or `timeout`
    /// passes). For a graceful stop.
    pub async fn flush(&self, timeout: Duration) -> bool {
        let (done, stored) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_err() {
            return false;
        }
        matches!(tokio::time::timeout(timeout, stored).await, Ok(Ok(())))
    }
}

#[async_trait]
impl AuditSink for QueuedAudit {
    async fn record(&self, event: AuditEvent) {
        if let Err(e) = self.queue.try_send(Message::Event(Box::new(event))) {
            self.metrics.audit_dropped();
            let kind = match &e {
                mpsc::error::TrySendError::Full(Message::Event(ev))
                | mpsc::error::TrySendError::Closed(Message::Event(ev)) => ev.kind.as_str(),
                _ => "",
            };
            tracing::warn!(
                kind,
                "audit queue full; event dropped (it is in the log above)"
            );
        }
    }
}

/// The writer: takes what has queued up, up to [`BATCH`], and appends it in
/// one store write; answers flushes once what came before them is stored.
async fn write_batches(
    store: Arc<dyn AuditStore>,
    mut inbox: mpsc::Receiver<Message>,
    metrics: Arc<Metrics>,
) {
    let mut batch: Vec<AuditEvent> = Vec::with_capacity(BATCH);
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    while let Some(first) = inbox.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Event(e) => batch.push(*e),
                Message::Flush(done) => flushes.push(done),
            }
            if batch.len() < BATCH {
                next = inbox.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            if let Err(e) = store.append_audit(&batch).await {
                metrics.audit_failed(batch.len());
                tracing::error!(error = %e, events = batch.len(), "audit events could not be stored");
            }
            batch.clear();
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_core::audit::{AuditKind, AuditQuery};
    use gatehouse_store_memory::MemoryStore;
    use time::OffsetDateTime;

    use super::*;

    #[tokio::test]
    async fn events_are_stored_in_batches_and_flush_waits_for_them() {
        let store = MemoryStore::new();
        let audit = QueuedAudit::spawn(Arc::new(store.clone()), Arc::new(Metrics::new()));
        for _ in 0..1000 {
            audit
                .record(AuditEvent::new(
                    AuditKind::SignInFailed,
                    OffsetDateTime::now_utc(),
                ))
                .await;
        }
        assert!(audit.flush(Duration::from_secs(5)).await);
        let stored = store
            .list_audit(&AuditQuery {
                limit: 5000,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(stored.len(), 1000);
    }

    /// A store that never answers: the queue fills, and recording keeps
    /// returning at once, counting what it drops.
    #[derive(Debug)]
    struct Stuck;

    #[async_trait]
    impl AuditStore for Stuck {
        async fn append_audit(
            &self,
            _: &[AuditEvent],
        ) -> Result<(), gatehouse_core::ports::StoreError> {
            std::future::pending().await
        }
        async fn list_audit(
            &self,
            _: &AuditQuery,
        ) -> Result<Vec<AuditEvent>, gatehouse_core::ports::StoreError> {
            Ok(vec![])
        }
        async fn purge_audit(
            &self,
            _: OffsetDateTime,
        ) -> Result<u64, gatehouse_core::ports::StoreError> {
            Ok(0)
        }
    }

    #[tokio::test]
    async fn a_stuck_store_never_slows_recording_and_drops_are_counted() {
        let metrics = Arc::new(Metrics::new());
        let audit = QueuedAudit::spawn(Arc::new(Stuck), metrics.clone());
        // A liveness bound, not a timing claim: were recording to wait for
        // the store, this would never finish.
        tokio::time::timeout(Duration::from_secs(60), async {
            for _ in 0..(CAPACITY + BATCH + 100) {
                audit
                    .record(AuditEvent::new(
                        AuditKind::SignInFailed,
                        OffsetDateTime::now_utc(),
                    ))
                    .await;
            }
        })
        .await
        .expect("recording never waits for the store");
        assert!(!audit.flush(Duration::from_millis(50)).await);
        let text = metrics.render().unwrap();
        let dropped: f64 = text
            .lines()
            .find_map(|l| l.strip_prefix("gatehouse_audit_dropped_total "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(dropped >= 100.0, "{dropped}");
    }
}
