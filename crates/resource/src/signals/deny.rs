//! The deny-set: which tokens the issuer has revoked, as far as a resource
//! server that verifies tokens itself needs to know.
//!
//! A revocation rarely names a token; mostly it names whose tokens (a
//! grant, a user's grants to one app, a user, a client) and when. Every token of
//! that subject issued at or before that moment is refused. So one entry
//! per subject, holding the latest moment, is enough, however many tokens
//! it covers.
//!
//! Two rules keep the set bounded without ever accepting a revoked token:
//!
//! - **Expiry.** An entry is kept for `retention` (the longest access-token
//!   lifetime we assume, plus leeway) after its moment. The verifier
//!   refuses every token issued longer than `retention` ago, so once an
//!   entry is that old every token it covers is refused anyway, whatever
//!   lifetime the issuer really gives its tokens.
//! - **Overflow.** Past `max_entries`, the entry with the oldest moment is
//!   dropped and the *floor* is raised to that moment: every token issued
//!   at or before the floor is refused. The dropped entry's tokens are all
//!   among them, so the set only ever errs towards refusing more (a user
//!   signs in again) and never reinstates a revoked token.
//!
//! Time is an input (`now`, in Unix seconds), so the rules are tested
//! without a clock.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use gatehouse_core::model::GrantId;
use gatehouse_core::service::AccessClaims;

/// Whose tokens a revocation ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Subject {
    /// Tokens carrying this `grant_id`.
    Grant(GrantId),
    /// Tokens of this user (`sub`) issued to this client (`client_id`).
    App {
        /// The user.
        user: String,
        /// The client.
        client: String,
    },
    /// Every token of this user.
    User(String),
    /// Every token issued to this client.
    Client(String),
    /// The one token with this `jti` (RFC 7009 revocation of an access
    /// token).
    Token(uuid::Uuid),
}

/// One revocation: every token of `subject` with `iat <= at` is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Revocation {
    /// Whose tokens.
    pub subject: Subject,
    /// The event's `event_timestamp`, Unix seconds.
    pub at: i64,
}

/// Revocations still relevant, bounded in size.
#[derive(Debug)]
pub(crate) struct DenySet {
    latest: HashMap<Subject, i64>,
    /// The same entries ordered by moment: the oldest is the first to expire
    /// and the one to evict.
    by_time: BTreeSet<(i64, Subject)>,
    floor: Option<i64>,
    max_entries: usize,
    retention: i64,
}

impl DenySet {
    /// An empty set holding at most `max_entries` (at least one) entries,
    /// each for `retention` after its moment.
    pub(crate) fn new(max_entries: usize, retention: Duration) -> Self {
        Self {
            latest: HashMap::new(),
            by_time: BTreeSet::new(),
            floor: None,
            max_entries: max_entries.max(1),
            retention: i64::try_from(retention.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.latest.len()
    }

    /// Every token issued at or before this moment is refused.
    pub(crate) fn floor(&self) -> Option<i64> {
        self.floor
    }

    /// Whether a token issued at `iat` is too old to be judged: issued
    /// longer than `retention` ago, its revocation may already have been
    /// forgotten.
    pub(crate) fn too_old(&self, iat: i64, now: i64) -> bool {
        iat.saturating_add(self.retention) < now
    }

    /// Records `r`, keeping the later moment if the subject is known.
    pub(crate) fn insert(&mut self, r: Revocation, now: i64) {
        self.purge(now);
        if self.too_old(r.at, now) {
            // Every token it covers is refused as too old already.
            return;
        }
        match self.latest.get(&r.subject) {
            Some(&at) if at >= r.at => return,
            Some(&at) => {
                self.by_time.remove(&(at, r.subject.clone()));
            }
            None => {}
        }
        self.latest.insert(r.subject.clone(), r.at);
        self.by_time.insert((r.at, r.subject));
        while self.latest.len() > self.max_entries {
            let Some((at, subject)) = self.by_time.pop_first() else {
                break;
            };
            self.latest.remove(&subject);
            self.floor = Some(self.floor.map_or(at, |f| f.max(at)));
        }
    }

    /// Drops the entries no token can need any more.
    pub(crate) fn purge(&mut self, now: i64) {
        while let Some((at, _)) = self.by_time.first() {
            if !self.too_old(*at, now) {
                break;
            }
            if let Some((_, subject)) = self.by_time.pop_first() {
                self.latest.remove(&subject);
            }
        }
    }

    /// Whether a token with these claims is revoked.
    pub(crate) fn revokes(&self, claims: &AccessClaims) -> bool {
        if self.floor.is_some_and(|f| claims.iat <= f) {
            return true;
        }
        if self.latest.is_empty() {
            return false;
        }
        let covers = |s: Subject| self.latest.get(&s).is_some_and(|&at| claims.iat <= at);
        claims.grant_id.is_some_and(|g| covers(Subject::Grant(g)))
            || covers(Subject::Token(claims.jti))
            || covers(Subject::User(claims.sub.clone()))
            || covers(Subject::Client(claims.client_id.clone()))
            || covers(Subject::App {
                user: claims.sub.clone(),
                client: claims.client_id.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);
    const NOW: i64 = 1_800_000_000;

    fn token(sub: &str, client: &str, grant: Option<GrantId>, iat: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://as.example/api/v1/oauth".into(),
            sub: sub.into(),
            aud: "https://files.example/mcp".into(),
            exp: iat + 3600,
            iat,
            jti: uuid::Uuid::new_v4(),
            client_id: client.into(),
            scope: String::new(),
            grant_id: grant,
            act: None,
            nbf: None,
            epoch: None,
        }
    }

    fn revoke(set: &mut DenySet, subject: Subject, at: i64) {
        set.insert(Revocation { subject, at }, NOW);
    }

    #[test]
    fn a_grant_revocation_ends_that_grants_tokens_only() {
        let mut set = DenySet::new(10, HOUR);
        let (g, other) = (GrantId::new(), GrantId::new());
        revoke(&mut set, Subject::Grant(g), NOW - 10);
        assert!(set.revokes(&token("u", "c", Some(g), NOW - 20)));
        assert!(!set.revokes(&token("u", "c", Some(other), NOW - 20)));
        assert!(!set.revokes(&token("u", "c", None, NOW - 20)));
    }

    #[test]
    fn an_app_revocation_ends_one_users_tokens_for_one_client() {
        let mut set = DenySet::new(10, HOUR);
        let app = Subject::App {
            user: "u".into(),
            client: "c".into(),
        };
        revoke(&mut set, app, NOW - 10);
        assert!(set.revokes(&token("u", "c", Some(GrantId::new()), NOW - 20)));
        assert!(!set.revokes(&token("u", "d", None, NOW - 20)));
        assert!(!set.revokes(&token("v", "c", None, NOW - 20)));
    }

    #[test]
    fn user_and_client_revocations_end_all_their_tokens() {
        let mut set = DenySet::new(10, HOUR);
        revoke(&mut set, Subject::User("u".into()), NOW - 10);
        revoke(&mut set, Subject::Client("c".into()), NOW - 10);
        assert!(set.revokes(&token("u", "x", None, NOW - 20)));
        assert!(set.revokes(&token("v", "c", None, NOW - 20)));
        assert!(!set.revokes(&token("v", "x", None, NOW - 20)));
    }

    #[test]
    fn a_token_revocation_ends_that_token_only() {
        let mut set = DenySet::new(10, HOUR);
        let t = token("u", "c", None, NOW - 20);
        revoke(&mut set, Subject::Token(t.jti), NOW - 10);
        assert!(set.revokes(&t));
        assert!(!set.revokes(&token("u", "c", None, NOW - 20)));
    }

    #[test]
    fn tokens_issued_at_the_moment_are_revoked_and_later_ones_are_not() {
        let mut set = DenySet::new(10, HOUR);
        revoke(&mut set, Subject::User("u".into()), NOW - 10);
        assert!(set.revokes(&token("u", "c", None, NOW - 10)));
        assert!(!set.revokes(&token("u", "c", None, NOW - 9)));
    }

    #[test]
    fn a_later_revocation_of_the_same_subject_moves_its_moment_on_never_back() {
        let mut set = DenySet::new(10, HOUR);
        revoke(&mut set, Subject::User("u".into()), NOW - 10);
        revoke(&mut set, Subject::User("u".into()), NOW - 5);
        revoke(&mut set, Subject::User("u".into()), NOW - 50);
        assert_eq!(set.len(), 1);
        assert!(set.revokes(&token("u", "c", None, NOW - 6)));
    }

    #[test]
    fn entries_expire_once_every_token_they_cover_is_too_old() {
        let mut set = DenySet::new(10, HOUR);
        revoke(&mut set, Subject::User("u".into()), NOW - 10);
        set.purge(NOW + 3590);
        assert_eq!(set.len(), 1);
        set.purge(NOW + 3591);
        assert_eq!(set.len(), 0);
        // What the entry covered is now refused for its age instead.
        assert!(set.too_old(NOW - 11, NOW + 3591));
        // A revocation arriving too late to matter is not even stored.
        revoke(&mut set, Subject::User("v".into()), NOW - 3601);
        assert_eq!(set.len(), 0);
    }

    #[test]
    fn overflow_evicts_the_oldest_entry_and_raises_the_floor_over_it() {
        let mut set = DenySet::new(2, HOUR);
        revoke(&mut set, Subject::User("a".into()), NOW - 30);
        revoke(&mut set, Subject::User("b".into()), NOW - 20);
        revoke(&mut set, Subject::User("c".into()), NOW - 10);
        assert_eq!(set.len(), 2);
        assert_eq!(set.floor(), Some(NOW - 30));
        // The evicted user's tokens stay revoked; so, harmlessly, does
        // everyone's issued at or before the floor.
        assert!(set.revokes(&token("a", "x", None, NOW - 30)));
        assert!(set.revokes(&token("z", "x", None, NOW - 31)));
        assert!(!set.revokes(&token("a", "x", None, NOW - 29)));
        // A revocation older than everything held goes straight to the floor.
        revoke(&mut set, Subject::User("d".into()), NOW - 100);
        assert_eq!(set.floor(), Some(NOW - 30));
        assert!(set.revokes(&token("d", "x", None, NOW - 100)));
        assert!(set.revokes(&token("b", "x", None, NOW - 20)));
    }
}
