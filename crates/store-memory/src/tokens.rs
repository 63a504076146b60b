//! Codes, grants, refresh tokens, consents and sessions: the single-use
//! and revocable records.

use async_trait::async_trait;
use std::sync::atomic::Ordering;

use gatehouse_core::model::{
    AuthorizationCode, ClientId, Consent, Grant, GrantId, GrantsOf, RefreshToken, Revocation,
    Session, Usage, UserId,
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
        refresh: Option<RefreshToken>,
    ) -> Result<(), StoreError> {
        // The grant first, so a visible refresh token always has its family.
        self.inner.grants.insert(grant.id, grant.clone());
        if let Some(token) = refresh {
            let token = RefreshToken {
                grant_id: grant.id,
                ..token
            };
            self.inner.refresh_tokens.insert(token.hash, token);
        }
        Ok(())
    }

    async fn get_grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError> {
        Ok(self.inner.grants.get(&id).map(|g| g.clone()))
    }

    async fn find_refresh(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<(RefreshToken, Grant)>, StoreError> {
        let Some(token) = self.inner.refresh_tokens.get(hash).map(|t| t.clone()) else {
            return Ok(None);
        };
        Ok(self
            .inner
            .grants
            .get(&token.grant_id)
            .map(|g| (token, g.clone())))
    }

    async fn rotate_refresh(
        &self,
        presented: &TokenHash,
        next: &RefreshToken,
        now: OffsetDateTime,
        grace: time::Duration,
    ) -> Result<Rotation, StoreError> {
        // Snapshot the family first: a revocation that lands after our flip
        // below must not undo a rotation that already won (it only kills the
        // successor), while one that lands before it deletes the token, so
        // the flip finds nothing.
        let Some(family) = self.inner.refresh_tokens.get(presented).map(|t| t.grant_id) else {
            return Ok(Rotation::Invalid);
        };
        // A grace replay decides on the presented token and then retires
        // its successor: two steps a concurrent reuse must not fall between
        // (its revocation would delete the successor and fail both), as a
        // database transaction's row lock ensures in the SQL stores.
        let _family = self.inner.rotations.lock(family);
        let Some(grant) = self
            .inner
            .grants
            .get(&family)
            .map(|g| g.clone())
            .filter(Grant::is_active)
        else {
            return Ok(Rotation::Invalid);
        };
        // Decide and flip under the token's guard, then drop it before
        // touching `grants` or inserting `next` into the same map.
        let found = match self.inner.refresh_tokens.get_mut(presented) {
            None => None,
            Some(token) if token.expires_at <= now => None,
            // Inside the grace window, the one allowed replay: spend it under
            // the same guard so two replays cannot both pass.
            Some(mut token)
                if token
                    .rotated_at
                    .is_some_and(|at| grace.is_positive() && now < at + grace)
                    && !token.grace_used
                    && token.replaced_by.is_some() =>
            {
                token.grace_used = true;
                Some(Presented::GraceReplay(token.clone()))
            }
            Some(token) if token.rotated_at.is_some() => {
                Some(Presented::AlreadyRotated(token.grant_id))
            }
            Some(mut token) => {
                let previous = token.clone();
                token.rotated_at = Some(now);
                token.replaced_by = Some(next.hash);
                Some(Presented::Fresh(previous))
            }
        };
        let Some(decision) = found else {
            return Ok(Rotation::Invalid);
        };
        let previous = match decision {
            Presented::AlreadyRotated(family) => {
                // Committed before answering: the caller fails the request,
                // but the family must stay revoked.
                self.revoke_family(family, now);
                return Ok(Rotation::Reused(family));
            }
            Presented::Fresh(previous) => previous,
            Presented::GraceReplay(previous) => {
                // Only the just-rotated token: its successor must still be
                // current. Retire that successor, so the replay continues
                // the one chain instead of forking a second.
                let cut = previous.replaced_by.is_some_and(|successor| {
                    match self.inner.refresh_tokens.get_mut(&successor) {
                        Some(mut s) if s.rotated_at.is_none() => {
                            s.rotated_at = Some(now);
                            s.grace_used = true;
                            s.replaced_by = Some(next.hash);
                            true
                        }
                        _ => false,
                    }
                });
                if !cut {
                    self.revoke_family(family, now);
                    return Ok(Rotation::Reused(family));
                }
                previous
            }
        };
        let next = RefreshToken {
            grant_id: family,
            rotated_at: None,
            grace_used: false,
            replaced_by: None,
            ..next.clone()
        };
        self.inner.refresh_tokens.insert(next.hash, next);
        Ok(Rotation::Rotated { grant, previous })
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
        self.inner.refresh_tokens.retain(|_, t| keep(t.expires_at));
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

/// What `rotate_refresh` found while it held the presented token's guard.
enum Presented {
    /// Current, and now marked rotated; holds the record as it was.
    Fresh(RefreshToken),
    /// Rotated within the grace window, its replay unused and now spent;
    /// holds the record. Still to check: that its successor is current.
    GraceReplay(RefreshToken),
    /// Rotated before: reuse of the family named.
    AlreadyRotated(GrantId),
}
