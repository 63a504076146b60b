//! Organizations, memberships and invitations.

use std::collections::HashSet;

use async_trait::async_trait;
use dashmap::mapref::entry::Entry;
use gatehouse_core::model::{Invitation, Membership, OrgId, OrgRole, Organization, User, UserId};
use gatehouse_core::ports::{OrgRepo, StoreError};
use time::OffsetDateTime;

use crate::MemoryStore;

#[async_trait]
impl OrgRepo for MemoryStore {
    async fn insert_org(&self, org: &Organization, owner: &Membership) -> Result<(), StoreError> {
        if owner.org_id != org.id {
            return Err(StoreError::Unexpected(anyhow::anyhow!(
                "the owner's membership names another organization"
            )));
        }
        if !self.inner.users.contains_key(&owner.user_id) {
            return Err(StoreError::NotFound("user"));
        }
        // Lock order: `orgs`, then `memberships`. The owner goes in before
        // the organization becomes visible, so no reader sees it ownerless.
        match self.inner.orgs.entry(org.id) {
            Entry::Occupied(_) => Err(StoreError::Conflict("organization")),
            Entry::Vacant(slot) => {
                self.inner
                    .memberships
                    .insert((owner.org_id, owner.user_id), owner.clone());
                slot.insert(org.clone());
                Ok(())
            }
        }
    }

    async fn get_org(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        Ok(self.inner.orgs.get(&id).map(|o| o.clone()))
    }

    async fn update_org(&self, org: &Organization) -> Result<(), StoreError> {
        match self.inner.orgs.get_mut(&org.id) {
            Some(mut stored) => {
                *stored = org.clone();
                Ok(())
            }
            None => Err(StoreError::NotFound("organization")),
        }
    }

    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError> {
        let existed = self.inner.orgs.remove(&id).is_some();
        self.inner.memberships.retain(|(org, _), _| *org != id);
        self.inner.invitations.retain(|(org, _), _| *org != id);
        Ok(existed)
    }

    async fn list_orgs(&self) -> Result<Vec<Organization>, StoreError> {
        let mut all: Vec<Organization> = self.inner.orgs.iter().map(|o| o.clone()).collect();
        all.sort_by_key(|a| (a.created_at, a.id));
        Ok(all)
    }

    async fn orgs_of_user(&self, user: UserId) -> Result<Vec<(Organization, OrgRole)>, StoreError> {
        // Collected first: `memberships` must not be held while `orgs` is read.
        let roles: Vec<(OrgId, OrgRole)> = self
            .inner
            .memberships
            .iter()
            .filter(|m| m.user_id == user)
            .map(|m| (m.org_id, m.role))
            .collect();
        let mut found: Vec<(Organization, OrgRole)> = roles
            .into_iter()
            .filter_map(|(id, role)| self.inner.orgs.get(&id).map(|o| (o.clone(), role)))
            .collect();
        found.sort_by_key(|(a, _)| (a.created_at, a.id));
        Ok(found)
    }

    async fn members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError> {
        let mut found: Vec<Membership> = self
            .inner
            .memberships
            .iter()
            .filter(|m| m.org_id == org)
            .map(|m| m.clone())
            .collect();
        found.sort_by_key(|a| (a.created_at, a.user_id));
        Ok(found)
    }

    async fn member_users(&self, org: OrgId) -> Result<Vec<(Membership, User)>, StoreError> {
        // Collected first: `memberships` must not be held while `users` is read.
        let members = self.members(org).await?;
        Ok(members
            .into_iter()
            .filter_map(|m| self.inner.users.get(&m.user_id).map(|u| (m, u.clone())))
            .collect())
    }

    async fn org_mates(&self, user: UserId) -> Result<Vec<User>, StoreError> {
        let orgs: HashSet<OrgId> = self
            .inner
            .memberships
            .iter()
            .filter(|m| m.user_id == user)
            .map(|m| m.org_id)
            .collect();
        let mates: HashSet<UserId> = self
            .inner
            .memberships
            .iter()
            .filter(|m| orgs.contains(&m.org_id))
            .map(|m| m.user_id)
            .collect();
        let mut found: Vec<User> = mates
            .into_iter()
            .filter_map(|id| self.inner.users.get(&id).map(|u| u.clone()))
            .collect();
        found.sort_by_key(|u| (u.created_at, u.id));
        Ok(found)
    }

    async fn membership(&self, org: OrgId, user: UserId) -> Result<Option<OrgRole>, StoreError> {
        Ok(self.inner.memberships.get(&(org, user)).map(|m| m.role))
    }

    async fn put_member(&self, membership: &Membership) -> Result<(), StoreError> {
        let key = (membership.org_id, membership.user_id);
        let missing = || self.missing_parent(key);
        if let Some(err) = missing() {
            return Err(err);
        }
        self.inner.memberships.insert(key, membership.clone());
        // Checked again after writing: a delete of the org or user that ran
        // in between may have swept before this insert landed.
        if let Some(err) = missing() {
            self.inner.memberships.remove(&key);
            return Err(err);
        }
        Ok(())
    }

    async fn remove_member(&self, org: OrgId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.inner.memberships.remove(&(org, user)).is_some())
    }

    async fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError> {
        let key = (invitation.org_id, invitation.user_id);
        let missing = || self.missing_parent(key);
        if let Some(err) = missing() {
            return Err(err);
        }
        self.inner.invitations.insert(key, invitation.clone());
        // As in `put_member`: a racing delete may have swept already.
        if let Some(err) = missing() {
            self.inner.invitations.remove(&key);
            return Err(err);
        }
        Ok(())
    }

    async fn invitations_of_user(
        &self,
        user: UserId,
    ) -> Result<Vec<(Invitation, Organization)>, StoreError> {
        let mine: Vec<Invitation> = self
            .inner
            .invitations
            .iter()
            .filter(|i| i.user_id == user)
            .map(|i| i.clone())
            .collect();
        let mut found: Vec<(Invitation, Organization)> = mine
            .into_iter()
            .filter_map(|i| self.inner.orgs.get(&i.org_id).map(|o| (i, o.clone())))
            .collect();
        found.sort_by_key(|(i, o)| (i.created_at, o.id));
        Ok(found)
    }

    async fn invitations_to_org(&self, org: OrgId) -> Result<Vec<Invitation>, StoreError> {
        let mut found: Vec<Invitation> = self
            .inner
            .invitations
            .iter()
            .filter(|i| i.org_id == org)
            .map(|i| i.clone())
            .collect();
        found.sort_by_key(|i| (i.created_at, i.user_id));
        Ok(found)
    }

    async fn accept_invitation(
        &self,
        org: OrgId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Option<Membership>, StoreError> {
        // Removing it is the atomic step: one caller gets it.
        let Some((_, invitation)) = self.inner.invitations.remove(&(org, user)) else {
            return Ok(None);
        };
        if let Some(existing) = self.inner.memberships.get(&(org, user)) {
            return Ok(Some(existing.clone()));
        }
        let membership = Membership {
            org_id: org,
            user_id: user,
            role: invitation.role,
            created_at: at,
        };
        match self.put_member(&membership).await {
            Ok(()) => Ok(Some(membership)),
            // The organization or the invitee went away meanwhile.
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn delete_invitation(&self, org: OrgId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.inner.invitations.remove(&(org, user)).is_some())
    }
}
