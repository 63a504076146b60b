//! Codes, grants, refresh tokens, consents and sessions: the single-use
//! and revocable records.

use async_trait::async_trait;
use std::sync::atomic::Ordering;

use gatehouse_core::model::{
    AuthorizationCode, ClientId, Consent, Grant, GrantId, GrantsOf, PresentedRefresh,
    RefreshFamily, RefreshStanding, RefreshStep, Revocation, Session, Usage, UserId,
};
use gatehouse_core::ports::{CodeRedemption, Rotation, StoreError, TokenStore};
use gatehouse_core::secret::TokenHash;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{MemoryStore, StoredCode};

#[async_trait]
impl TokenStore for MemoryStore {
    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.inner.codes.insert(
            code.hash,
            StoredCode {
                code: code.clone(),
                spent: false,
            },
        );
        Ok(())
    }

    async fn take_code(&self, hash: &TokenHash) -> Result<CodeRedemption, StoreError> {
        // The flip happens under the entry's shard guard: one winner.
        let Some(mut stored) = self.inner.codes.get_mut(hash) else {
            return Ok(CodeRedemption::Unknown);
        };
        if stored.spent {
            return Ok(CodeRedemption::Replayed(stored.code.grant_id));
        }
        stored.spent = true;
        Ok(CodeRedemption::Redeemed(Box::new(stored.code.clone())))
    }

    async fn create_grant(
        &self,
        grant: &Grant,
        refresh: Option<RefreshFamily>,
    ) -> Result<(), StoreError> {
        // The grant first, so a visible family always has its grant.
        self.inner.grants.insert(grant.id, grant.clone());
        if let Some(family) = refresh {
            let family = RefreshFamily {
                grant_id: grant.id,
                ..family
            };
            if family.generation == 0 {
                self.inner.legacy_current.insert(family.current, grant.id);
            }
            self.inner.families.insert(grant.id, family);
        }
        Ok(())
    }

    async fn get_grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError> {
        Ok(self.inner.grants.get(&id).map(|g| g.clone()))
    }

    async fn find_refresh(
        &self,
        presented: &PresentedRefresh,
    ) -> Result<Option<(RefreshFamily, RefreshStanding, Grant)>, StoreError> {
        let Some(id) = self.family_of(presented) else {
            return Ok(None);
        };
        let Some(family) = self.inner.families.get(&id).map(|f| f.clone()) else {
            return Ok(None);
        };
        let Some(standing) = self.standing(&family, presented) else {
            return Ok(None);
        };
        Ok(self
            .inner
            .grants
            .get(&id)
            .map(|g| (family, standing, g.clone())))
    }

    async fn rotate_refresh(
        &self,
        presented: &PresentedRefresh,
        // Reading the family costs nothing here: it is read under its lock.
        _seen: Option<(RefreshFamily, RefreshStanding, Grant)>,
        next: &RefreshFamily,
        now: OffsetDateTime,
        grace: time::Duration,
    ) -> Result<Rotation, StoreError> {
        let Some(id) = self.family_of(presented) else {
            return Ok(Rotation::Invalid);
        };
        // Everything below reads and writes the family under its lock: the
        // decision and the write are one step, as the conditional UPDATE is
        // in the SQL stores.
        let _family = self.inner.rotations.lock(id);
        let Some(grant) = self
            .inner
            .grants
            .get(&id)
            .map(|g| g.clone())
            .filter(Grant::is_active)
        else {
            return Ok(Rotation::Invalid);
        };
        let Some(before) = self.inner.families.get(&id).map(|f| f.clone()) else {
            return Ok(Rotation::Invalid);
        };
        let after = match before.step(
            self.standing(&before, presented),
            presented,
            next,
            now,
            grace,
        ) {
            RefreshStep::Rotate(after) => after,
            RefreshStep::Invalid => return Ok(Rotation::Invalid),
            RefreshStep::Stale => return Ok(Rotation::Stale),
            RefreshStep::Reuse => {
                // Committed before answering: the caller fails the request,
                // but the family must stay revoked.
                return Ok(if self.revoke_family(id, now) {
                    Rotation::Reused(id)
                } else {
                    Rotation::Invalid
                });
            }
        };
        if before.generation == 0 && !after.grace_used {
            // A legacy token says nothing about itself: remember it, so its
            // reuse is still recognised until it would have expired.
            self.inner
                .legacy_spent
                .insert(presented.hash, (id, before.expires_at));
        }
        if before.generation == 0 {
            // Its successor is of the current form: found by its claim.
            self.inner.legacy_current.remove(&before.current);
        }
        self.inner.families.insert(id, after);
        Ok(Rotation::Rotated {
            grant,
            previous: before,
        })
    }

    async fn revoke_user_tokens(
        &self,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let families: Vec<GrantId> = self
            .inner
            .grants
            .iter()
            .filter(|g| g.user_id == user)
            .map(|g| g.id)
            .collect();
        let mut revoked = 0;
        for id in families {
            if self.revoke_family(id, at) {
                revoked += 1;
            }
        }
        self.inner.sessions.retain(|_, s| s.user_id != user);
        Ok(revoked)
    }

    async fn revoke_client_grants(
        &self,
        user: UserId,
        client: &ClientId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let families: Vec<GrantId> = self
            .inner
            .grants
            .iter()
            .filter(|g| g.user_id == user && &g.client_id == client)
            .map(|g| g.id)
            .collect();
        let revoked = families
            .into_iter()
            .filter(|id| self.revoke_family(*id, at))
            .count() as u64;
        self.inner.consents.remove(&(user, client.clone()));
        Ok(revoked)
    }

    async fn active_grants(&self, of: &GrantsOf) -> Result<Vec<Grant>, StoreError> {
        let mut out: Vec<Grant> = self
            .inner
            .grants
            .iter()
            .filter(|g| {
                g.is_active()
                    && match of {
                        GrantsOf::User(u) => g.user_id == *u,
                        GrantsOf::Client(c) => g.client_id == *c,
                    }
            })
            .map(|g| g.clone())
            .collect();
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(out)
    }

    async fn record_use(&self, uses: &[Usage]) -> Result<(), StoreError> {
        for u in uses {
            if let Some(g) = u.grant_id
                && let Some(mut grant) = self.inner.grants.get_mut(&g)
            {
                grant.last_used_at = grant.last_used_at.max(Some(u.at));
            }
            if let Some(mut client) = self.inner.clients.get_mut(&u.client_id) {
                client.last_used_at = client.last_used_at.max(Some(u.at));
            }
        }
        Ok(())
    }

    async fn revoke_grant(&self, id: GrantId, at: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(self.revoke_family(id, at))
    }

    async fn revoke_access_token(
        &self,
        jti: Uuid,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.inner.denied_access_tokens.insert(jti, expires_at);
        Ok(())
    }

    async fn is_access_token_revoked(
        &self,
        jti: Uuid,
        grant: Option<GrantId>,
    ) -> Result<bool, StoreError> {
        if self.inner.denied_access_tokens.contains_key(&jti) {
            return Ok(true);
        }
        // A grant that no longer exists was deleted with its client or user.
        Ok(grant.is_some_and(|id| {
            self.inner
                .grants
                .get(&id)
                .is_none_or(|g| g.revoked_at.is_some())
        }))
    }

    async fn get_consent(
        &self,
        user: UserId,
        client: &ClientId,
    ) -> Result<Option<Consent>, StoreError> {
        Ok(self
            .inner
            .consents
            .get(&(user, client.clone()))
            .map(|c| c.clone()))
    }

    async fn put_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        self.inner.consents.insert(
            (consent.user_id, consent.client_id.clone()),
            consent.clone(),
        );
        Ok(())
    }

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        self.inner.sessions.insert(session.hash, session.clone());
        Ok(())
    }

    async fn get_session(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError> {
        Ok(self
            .inner
            .sessions
            .get(hash)
            .filter(|s| s.expires_at > now)
            .map(|s| s.clone()))
    }

    async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError> {
        self.inner.sessions.remove(hash);
        Ok(())
    }

    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError> {
        let before = self.inner.sessions.len();
        self.inner.sessions.retain(|_, s| s.user_id != user);
        Ok(before.saturating_sub(self.inner.sessions.len()) as u64)
    }

    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let mut purged = 0u64;
        let mut keep = |expires_at: OffsetDateTime| {
            let alive = expires_at > now;
            if !alive {
                purged += 1;
            }
            alive
        };
        self.inner.codes.retain(|_, c| keep(c.code.expires_at));
        let expired: Vec<GrantId> = self
            .inner
            .families
            .iter()
            .filter(|f| f.expires_at <= now)
            .map(|f| f.grant_id)
            .collect();
        for id in expired {
            if let Some((_, family)) = self
                .inner
                .families
                .remove_if(&id, |_, f| f.expires_at <= now)
            {
                self.inner.legacy_current.remove(&family.current);
                purged += 1;
            }
        }
        let mut keep = |expires_at: OffsetDateTime| {
            let alive = expires_at > now;
            if !alive {
                purged += 1;
            }
            alive
        };
        self.inner
            .legacy_spent
            .retain(|_, (_, expires_at)| keep(*expires_at));
        self.inner
            .denied_access_tokens
            .retain(|_, expires_at| keep(*expires_at));
        self.inner.sessions.retain(|_, s| keep(s.expires_at));
        self.revocation_log().retain(|r| keep(r.expires_at));
        Ok(purged)
    }

    async fn append_revocations(&self, revocations: &[Revocation]) -> Result<(), StoreError> {
        let mut log = self.revocation_log();
        // Past the highest ever given, even after a purge emptied the log.
        for r in revocations {
            let seq = self
                .inner
                .last_revocation_seq
                .fetch_add(1, Ordering::SeqCst)
                + 1;
            log.push(Revocation { seq, ..r.clone() });
        }
        Ok(())
    }

    /// Appends take the log's lock and number entries under it: readers
    /// see them in `seq` order at once.
    fn revocation_settle(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    async fn revocations_after(
        &self,
        after: i64,
        settled_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Revocation>, StoreError> {
        Ok(self
            .revocation_log()
            .iter()
            .filter(|r| r.seq > after && r.at < settled_before)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}

impl MemoryStore {
    /// The family a presented token names: by its MAC-verified claim, by
    /// its hash as a current token, or as a rotated legacy token.
    fn family_of(&self, presented: &PresentedRefresh) -> Option<GrantId> {
        if let Some(claim) = presented.claim {
            return Some(claim.grant);
        }
        if let Some(id) = self.inner.legacy_current.get(&presented.hash) {
            return Some(*id);
        }
        self.inner.legacy_spent.get(&presented.hash).map(|e| e.0)
    }

    /// Where `presented` stands in `family`, if it belongs to it at all.
    fn standing(
        &self,
        family: &RefreshFamily,
        presented: &PresentedRefresh,
    ) -> Option<RefreshStanding> {
        let spent_legacy = presented.claim.is_none()
            && self
                .inner
                .legacy_spent
                .get(&presented.hash)
                .is_some_and(|e| e.0 == family.grant_id);
        family.standing_of(presented, spent_legacy)
    }
}
