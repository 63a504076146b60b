//! `FactorRepo`: authenticator apps, passkeys and recovery codes, behind one mutex
//! (never held across an `.await`; may be held while `users` is read).

use std::collections::HashMap;

use async_trait::async_trait;
use gatehouse_core::model::{PasskeyChallenge, PasskeyCredential, PasskeyId, TotpFactor, UserId};
use gatehouse_core::ports::{FactorRepo, StoreError};
use gatehouse_core::secret::TokenHash;
use time::OffsetDateTime;

use crate::MemoryStore;

/// What the mutex guards.
#[derive(Default)]
pub(crate) struct Factors {
    totp: HashMap<UserId, TotpFactor>,
    /// Per user: each code's hash and when it was spent.
    recovery: HashMap<UserId, Vec<(TokenHash, Option<OffsetDateTime>)>>,
    /// Every passkey.
    passkeys: Vec<PasskeyCredential>,
    /// Ceremonies in flight, by id.
    challenges: HashMap<uuid::Uuid, PasskeyChallenge>,
}

impl Factors {
    /// Drops everything of `user` (the user is being deleted).
    pub(crate) fn forget_user(&mut self, user: UserId) {
        self.totp.remove(&user);
        self.recovery.remove(&user);
        self.passkeys.retain(|p| p.user != user);
        self.challenges.retain(|_, c| c.user != Some(user));
    }
}

#[async_trait]
impl FactorRepo for MemoryStore {
    async fn put_totp(&self, factor: &TotpFactor) -> Result<(), StoreError> {
        let mut f = self.factors();
        if !self.inner.users.contains_key(&factor.user) {
            return Err(StoreError::NotFound("user"));
        }
        f.totp.insert(factor.user, factor.clone());
        Ok(())
    }

    async fn get_totp(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError> {
        Ok(self.factors().totp.get(&user).cloned())
    }

    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let mut f = self.factors();
        match f.totp.get_mut(&user) {
            Some(t) if t.last_step < step => {
                t.last_step = step;
                t.confirmed = true;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self.factors().totp.remove(&user).is_some())
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        _at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut f = self.factors();
        if !self.inner.users.contains_key(&user) {
            return Err(StoreError::NotFound("user"));
        }
        f.recovery
            .insert(user, hashes.iter().map(|h| (*h, None)).collect());
        Ok(())
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut f = self.factors();
        let Some(codes) = f.recovery.get_mut(&user) else {
            return Ok(false);
        };
        match codes
            .iter_mut()
            .find(|(h, used)| h == hash && used.is_none())
        {
            Some((_, used)) => {
                *used = Some(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError> {
        let f = self.factors();
        let left = f
            .recovery
            .get(&user)
            .map_or(0, |c| c.iter().filter(|(_, used)| used.is_none()).count());
        Ok(u32::try_from(left).unwrap_or(u32::MAX))
    }

    async fn add_passkey(&self, passkey: &PasskeyCredential) -> Result<(), StoreError> {
        let mut f = self.factors();
        if !self.inner.users.contains_key(&passkey.user) {
            return Err(StoreError::NotFound("user"));
        }
        if f.passkeys
            .iter()
            .any(|p| p.credential_id == passkey.credential_id || p.id == passkey.id)
        {
            return Err(StoreError::Conflict("passkey"));
        }
        f.passkeys.push(passkey.clone());
        Ok(())
    }

    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyCredential>, StoreError> {
        let mut mine: Vec<PasskeyCredential> = self
            .factors()
            .passkeys
            .iter()
            .filter(|p| p.user == user)
            .cloned()
            .collect();
        mine.sort_by_key(|p| (p.created_at, p.id.0));
        Ok(mine)
    }

    async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyCredential>, StoreError> {
        Ok(self
            .factors()
            .passkeys
            .iter()
            .find(|p| p.credential_id == credential_id)
            .cloned())
    }

    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        credential: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut f = self.factors();
        match f.passkeys.iter_mut().find(|p| p.id == id) {
            Some(p) => {
                credential.clone_into(&mut p.credential);
                p.last_used_at = Some(at);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn delete_passkey(&self, user: UserId, id: PasskeyId) -> Result<bool, StoreError> {
        let mut f = self.factors();
        let before = f.passkeys.len();
        f.passkeys.retain(|p| !(p.id == id && p.user == user));
        Ok(f.passkeys.len() < before)
    }

    async fn put_passkey_challenge(
        &self,
        challenge: &PasskeyChallenge,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut f = self.factors();
        f.challenges.retain(|_, c| c.expires_at > now);
        f.challenges.insert(challenge.id, challenge.clone());
        Ok(())
    }

    async fn take_passkey_challenge(
        &self,
        id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyChallenge>, StoreError> {
        Ok(self
            .factors()
            .challenges
            .remove(&id)
            .filter(|c| c.expires_at > now))
    }
}
