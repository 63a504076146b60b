//! Every Gatehouse port in process memory.
//!
//! Two jobs: the zero-setup store for a single instance (a demo, a trial, a
//! test of the server), and the fake that the core's tests run against. It
//! passes the same contract suite as the database adapters
//! (`gatehouse-store-contract`), so a behaviour seen here is a behaviour
//! promised by the ports, not an accident of this adapter. Nothing survives a
//! restart.
//!
//! # Concurrency
//!
//! There is no global lock: each kind of record lives in its own [`DashMap`],
//! which locks one shard at a time. Single-use operations (redeeming a code,
//! rotating a refresh token) flip their state while holding the entry's shard
//! guard, so exactly one caller wins.
//!
//! A `DashMap` deadlocks if a thread holding a shard guard touches the same
//! map again, and two maps deadlock if they are locked in opposite orders. So
//! a guard is dropped before any other map is touched, with two exceptions
//! that need two maps to change together, each always locked in the same
//! order: `users` before `emails` (email uniqueness) and `orgs` before
//! `memberships` (an organization appears with its owner).
//!
//! Cascading deletes remove the parent first and then sweep its children, so
//! a child written concurrently either lands before the sweep (and is swept)
//! or checks for its parent afterwards (as [`OrgRepo::put_member`] does). The
//! sweeps scan the whole child map; revocations and deletions are rare
//! enough that an index per parent would cost more than it saves here.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use dashmap::DashMap;
use dashmap::mapref::entry::Entry;
use gatehouse_core::model::{
    AuthorizationCode, Client, ClientId, Consent, Email, Grant, GrantId, Invitation, Membership,
    OrgId, OrgRole, Organization, RefreshToken, Resource, ResourceId, Role, Session, StoredKey,
    User, UserId,
};
use gatehouse_core::ports::{
    ClientRepo, CodeRedemption, KeyStore, OrgRepo, ResourceRepo, Rotation, StoreError, TokenStore,
    UserRepo,
};
use gatehouse_core::secret::TokenHash;
use time::OffsetDateTime;
use uuid::Uuid;

/// An in-memory implementation of every storage port.
///
/// Cloning is cheap and every clone sees the same records, so one store can
/// be handed out as `Arc<dyn ClientRepo>`, `Arc<dyn TokenStore>`, … at once.
#[derive(Clone, Default)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

/// An authorization code and whether it has been redeemed. Spent codes stay
/// until they expire so that a replay is recognised as one.
#[derive(Debug)]
struct StoredCode {
    code: AuthorizationCode,
    spent: bool,
}

#[derive(Default)]
struct Inner {
    clients: DashMap<ClientId, Client>,
    users: DashMap<UserId, User>,
    /// Unique index over `users`; locked only after `users` when both are.
    emails: DashMap<Email, UserId>,
    orgs: DashMap<OrgId, Organization>,
    /// Locked only after `orgs` when both are.
    memberships: DashMap<(OrgId, UserId), Membership>,
    /// Never held while another map is touched.
    invitations: DashMap<(OrgId, UserId), Invitation>,
    /// One rotation at a time per refresh-token family.
    rotations: FamilyLocks,
    codes: DashMap<TokenHash, StoredCode>,
    grants: DashMap<GrantId, Grant>,
    refresh_tokens: DashMap<TokenHash, RefreshToken>,
    /// Revoked access tokens by `jti`, with the instant they expire anyway.
    denied_access_tokens: DashMap<Uuid, OffsetDateTime>,
    consents: DashMap<(UserId, ClientId), Consent>,
    sessions: DashMap<TokenHash, Session>,
    signing_keys: DashMap<String, StoredKey>,
    master_key: OnceLock<Vec<u8>>,
    resources: DashMap<ResourceId, Resource>,
    /// URI → id, the uniqueness index for resource URIs.
    resource_uris: DashMap<String, ResourceId>,
}

/// Striped locks serializing refresh-token rotations per family: families
/// on different stripes rotate in parallel. Held only across synchronous
/// map operations, never across an `.await`.
struct FamilyLocks(Vec<std::sync::Mutex<()>>);

impl Default for FamilyLocks {
    fn default() -> Self {
        Self((0..64).map(|_| std::sync::Mutex::new(())).collect())
    }
}

impl FamilyLocks {
    fn lock(&self, family: GrantId) -> Option<std::sync::MutexGuard<'_, ()>> {
        let stripe = (family.0.as_u128() % self.0.len() as u128) as usize;
        self.0
            .get(stripe)
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// `NotFound` naming whichever of a membership's (or invitation's)
    /// organization and user does not exist.
    fn missing_parent(&self, (org, user): (OrgId, UserId)) -> Option<StoreError> {
        if !self.inner.orgs.contains_key(&org) {
            Some(StoreError::NotFound("organization"))
        } else if !self.inner.users.contains_key(&user) {
            Some(StoreError::NotFound("user"))
        } else {
            None
        }
    }

    /// Deletes every grant matching `doomed` together with its refresh
    /// tokens.
    fn remove_grants_where(&self, doomed: impl Fn(&Grant) -> bool) {
        let mut removed = HashSet::new();
        self.inner.grants.retain(|id, grant| {
            if doomed(grant) {
                removed.insert(*id);
                false
            } else {
                true
            }
        });
        if !removed.is_empty() {
            self.inner
                .refresh_tokens
                .retain(|_, token| !removed.contains(&token.grant_id));
        }
    }

    /// Marks a grant revoked (keeping the first revocation time) and drops
    /// its refresh tokens. Returns whether it was active before.
    fn revoke_family(&self, id: GrantId, at: OffsetDateTime) -> bool {
        let was_active = match self.inner.grants.get_mut(&id) {
            Some(mut grant) => {
                let active = grant.is_active();
                if active {
                    grant.revoked_at = Some(at);
                }
                active
            }
            None => false,
        };
        // Swept even when the grant is missing or already revoked, so a token
        // inserted by a rotation racing an earlier revocation does not linger.
        self.inner
            .refresh_tokens
            .retain(|_, token| token.grant_id != id);
        was_active
    }
}

impl fmt::Debug for MemoryStore {
    /// Counts only: the records hold credential hashes and key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("MemoryStore")
            .field("clients", &i.clients.len())
            .field("users", &i.users.len())
            .field("orgs", &i.orgs.len())
            .field("grants", &i.grants.len())
            .field("refresh_tokens", &i.refresh_tokens.len())
            .field("sessions", &i.sessions.len())
            .field("signing_keys", &i.signing_keys.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ClientRepo for MemoryStore {
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError> {
        match self.inner.clients.entry(client.id.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict("client")),
            Entry::Vacant(slot) => {
                slot.insert(client.clone());
                Ok(())
            }
        }
    }

    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        Ok(self.inner.clients.get(id).map(|c| c.clone()))
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let mut all: Vec<Client> = self.inner.clients.iter().map(|c| c.clone()).collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    async fn update_client(&self, client: &Client) -> Result<(), StoreError> {
        match self.inner.clients.get_mut(&client.id) {
            Some(mut stored) => {
                *stored = client.clone();
                Ok(())
            }
            None => Err(StoreError::NotFound("client")),
        }
    }

    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError> {
        let existed = self.inner.clients.remove(id).is_some();
        // Swept even if the client was already gone, so records written by a
        // request racing an earlier delete are not left behind.
        self.inner.codes.retain(|_, c| c.code.client_id != *id);
        self.inner.consents.retain(|(_, client), _| client != id);
        self.remove_grants_where(|g| g.client_id == *id);
        Ok(existed)
    }
}

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
        Ok(CodeRedemption::Redeemed(stored.code.clone()))
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
        Ok(purged)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let mut all: Vec<StoredKey> = self.inner.signing_keys.iter().map(|k| k.clone()).collect();
        all.sort_by(|a, b| (b.created_at, &b.kid).cmp(&(a.created_at, &a.kid)));
        Ok(all)
    }

    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        match self.inner.signing_keys.entry(key.kid.clone()) {
            Entry::Occupied(_) => Err(StoreError::Conflict("signing key")),
            Entry::Vacant(slot) => {
                slot.insert(key.clone());
                Ok(())
            }
        }
    }

    async fn retire_signing_key(&self, kid: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        match self.inner.signing_keys.get_mut(kid) {
            Some(mut key) => {
                // The first retirement stands: publication time is counted
                // from it, and retiring twice must not extend it.
                key.retired_at.get_or_insert(at);
                Ok(())
            }
            None => Err(StoreError::NotFound("signing key")),
        }
    }

    async fn master_key_or_init(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .inner
            .master_key
            .get_or_init(|| candidate.to_vec())
            .clone())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl ResourceRepo for MemoryStore {
    async fn insert_resource(&self, resource: &Resource) -> Result<(), StoreError> {
        if self.inner.resources.contains_key(&resource.id) {
            return Err(StoreError::Conflict("resource"));
        }
        // The URI index is the lock: whoever claims the URI first inserts.
        match self.inner.resource_uris.entry(resource.uri.clone()) {
            Entry::Occupied(_) => return Err(StoreError::Conflict("resource")),
            Entry::Vacant(v) => {
                v.insert(resource.id);
            }
        }
        self.inner.resources.insert(resource.id, resource.clone());
        Ok(())
    }

    async fn get_resource(&self, id: ResourceId) -> Result<Option<Resource>, StoreError> {
        Ok(self.inner.resources.get(&id).map(|r| r.clone()))
    }

    async fn get_resource_by_uri(&self, uri: &str) -> Result<Option<Resource>, StoreError> {
        let Some(id) = self.inner.resource_uris.get(uri).map(|r| *r) else {
            return Ok(None);
        };
        Ok(self.inner.resources.get(&id).map(|r| r.clone()))
    }

    async fn list_resources(&self) -> Result<Vec<Resource>, StoreError> {
        let mut all: Vec<Resource> = self.inner.resources.iter().map(|r| r.clone()).collect();
        all.sort_by_key(|r| (r.created_at, r.id));
        Ok(all)
    }

    async fn update_resource(&self, resource: &Resource) -> Result<(), StoreError> {
        let Some(old_uri) = self
            .inner
            .resources
            .get(&resource.id)
            .map(|r| r.uri.clone())
        else {
            return Err(StoreError::NotFound("resource"));
        };
        if old_uri != resource.uri {
            match self.inner.resource_uris.entry(resource.uri.clone()) {
                Entry::Occupied(_) => return Err(StoreError::Conflict("resource")),
                Entry::Vacant(v) => {
                    v.insert(resource.id);
                }
            }
            self.inner.resource_uris.remove(&old_uri);
        }
        self.inner.resources.insert(resource.id, resource.clone());
        Ok(())
    }

    async fn delete_resource(&self, id: ResourceId) -> Result<bool, StoreError> {
        match self.inner.resources.remove(&id) {
            Some((_, r)) => {
                self.inner.resource_uris.remove(&r.uri);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
