//! Last-used times for grants and clients, kept coarse on purpose.
//!
//! Users want to see when an app last used their account, and admins want
//! to find clients nobody uses; neither needs it to the second. Writing the
//! time on every token request would add a durable write to the hot path
//! (and a row lock per grant under load), so uses are remembered here, one
//! entry per grant (or per client for user-less tokens) holding the latest
//! time, and written as one batch about once a minute
//! ([`crate::service::Gatehouse::flush_usage`]). A crash loses at most that
//! minute, which only makes an app look idle a minute longer.

use std::collections::HashMap;
use std::sync::Mutex;

use time::OffsetDateTime;

use crate::model::{ClientId, GrantId, Usage};

/// The most distinct grants and clients remembered between two flushes.
/// Beyond it new ones are dropped until the next flush (they are recorded
/// again on their next use): a flood of distinct tokens cannot grow memory.
pub const MAX_PENDING: usize = 65_536;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Grant(GrantId),
    Client(ClientId),
}

/// Uses seen since the last flush.
#[derive(Debug, Default)]
pub struct UsageLog {
    pending: Mutex<HashMap<Key, Usage>>,
}

impl UsageLog {
    /// Notes that `client` used a token of `grant` (or a user-less token)
    /// at `at`. Costs a hash-map update; never blocks on I/O.
    pub fn record(&self, client: &ClientId, grant: Option<GrantId>, at: OffsetDateTime) {
        let key = match grant {
            Some(g) => Key::Grant(g),
            None => Key::Client(client.clone()),
        };
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        if let Some(u) = pending.get_mut(&key) {
            u.at = u.at.max(at);
            return;
        }
        if pending.len() >= MAX_PENDING {
            return;
        }
        pending.insert(
            key,
            Usage {
                client_id: client.clone(),
                grant_id: grant,
                at,
            },
        );
    }

    /// Takes everything recorded so far.
    pub fn drain(&self) -> Vec<Usage> {
        match self.pending.lock() {
            Ok(mut p) => p.drain().map(|(_, u)| u).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Puts back a batch that could not be written, keeping later times
    /// recorded meanwhile.
    pub fn restore(&self, batch: Vec<Usage>) {
        for u in batch {
            self.record(&u.client_id, u.grant_id, u.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(s)
    }

    #[test]
    fn many_uses_of_a_grant_make_one_record_with_the_latest_time() {
        let log = UsageLog::default();
        let client = ClientId::parse("c").unwrap();
        let grant = GrantId::new();
        for s in [5, 9, 7] {
            log.record(&client, Some(grant), at(s));
        }
        log.record(&client, None, at(3));
        let mut batch = log.drain();
        batch.sort_by_key(|u| u.at);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch[0].grant_id, None);
        assert_eq!((batch[1].grant_id, batch[1].at), (Some(grant), at(9)));
        assert!(log.drain().is_empty(), "drained");
    }

    #[test]
    fn the_pending_set_is_bounded_and_a_failed_batch_comes_back() {
        let log = UsageLog::default();
        let client = ClientId::parse("c").unwrap();
        for _ in 0..MAX_PENDING + 10 {
            log.record(&client, Some(GrantId::new()), at(1));
        }
        let batch = log.drain();
        assert_eq!(batch.len(), MAX_PENDING);
        let g = batch[0].grant_id;
        log.record(&client, g, at(2));
        log.restore(batch);
        let again = log.drain();
        assert_eq!(again.len(), MAX_PENDING);
        let kept = again.iter().find(|u| u.grant_id == g).unwrap();
        assert_eq!(kept.at, at(2), "the later time survives a restore");
    }
}
