//! `FactorRepo`: authenticator apps and recovery codes, behind one mutex
//! (never held across an `.await`; may be held while `users` is read).

use std::collections::HashMap;

use async_trait::async_trait;
use gatehouse_core::model::{TotpFactor, UserId};
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
}

impl Factors {
    /// Drops everything of `user` (the user is being deleted).
    pub(crate) fn forget_user(&mut self, user: UserId) {
        self.totp.remove(&user);
        self.recovery.remove(&user);
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
        let mut f = self.factors();
        f.recovery.remove(&user);
        Ok(f.totp.remove(&user).is_some())
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
}
