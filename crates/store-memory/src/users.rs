//! Users and their email index.

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use gatehouse_core::model::{Email, Role, User, UserId};
use gatehouse_core::ports::{StoreError, UserRepo};

use crate::MemoryStore;

#[async_trait]
impl UserRepo for MemoryStore {
    async fn insert_user(&self, user: &User) -> Result<(), StoreError> {
        // Lock order: `users`, then `emails`.
        match self.inner.users.entry(user.id) {
            Entry::Occupied(_) => Err(StoreError::Conflict("user")),
            Entry::Vacant(slot) => {
                match self.inner.emails.entry(user.email.clone()) {
                    Entry::Occupied(_) => return Err(StoreError::Conflict("email")),
                    Entry::Vacant(email) => {
                        email.insert(user.id);
                    }
                }
                slot.insert(user.clone());
                Ok(())
            }
        }
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.inner.users.get(&id).map(|u| u.clone()))
    }

    async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let Some(id) = self.inner.emails.get(email).map(|id| *id) else {
            return Ok(None);
        };
        Ok(self
            .inner
            .users
            .get(&id)
            .filter(|u| u.email == *email)
            .map(|u| u.clone()))
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let mut all: Vec<User> = self.inner.users.iter().map(|u| u.clone()).collect();
        all.sort_by_key(|a| (a.created_at, a.id));
        Ok(all)
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        // Lock order: `users`, then `emails`. Holding the user's guard while
        // the index changes keeps two concurrent email changes of one user
        // from leaving a stale reservation behind.
        let Some(mut stored) = self.inner.users.get_mut(&user.id) else {
            return Err(StoreError::NotFound("user"));
        };
        if stored.email != user.email {
            match self.inner.emails.entry(user.email.clone()) {
                Entry::Occupied(owner) if *owner.get() != user.id => {
                    return Err(StoreError::Conflict("email"));
                }
                Entry::Occupied(_) => {}
                Entry::Vacant(slot) => {
                    slot.insert(user.id);
                }
            }
            self.inner
                .emails
                .remove_if(&stored.email, |_, owner| *owner == user.id);
        }
        *stored = user.clone();
        Ok(())
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let removed = self.inner.users.remove(&id);
        if let Some((_, user)) = &removed {
            self.inner
                .emails
                .remove_if(&user.email, |_, owner| *owner == id);
        }
        self.inner
            .memberships
            .retain(|(_, member), _| *member != id);
        self.inner
            .invitations
            .retain(|(_, invitee), _| *invitee != id);
        for mut invitation in self.inner.invitations.iter_mut() {
            if invitation.invited_by == Some(id) {
                invitation.invited_by = None;
            }
        }
        self.identities().forget_user(id);
        self.factors().forget_user(id);
        self.inner.sessions.retain(|_, s| s.user_id != id);
        self.inner.consents.retain(|(user, _), _| *user != id);
        self.inner.codes.retain(|_, c| c.code.user_id != id);
        self.remove_grants_where(|g| g.user_id == id);
        Ok(removed.is_some())
    }

    async fn count_admins(&self) -> Result<u64, StoreError> {
        let admins = self
            .inner
            .users
            .iter()
            .filter(|u| u.role == Role::Admin)
            .count();
        Ok(u64::try_from(admins).unwrap_or(u64::MAX))
    }
}
