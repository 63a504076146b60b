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
//! or checks for its parent afterwards (as
//! [`OrgRepo::put_member`](gatehouse_core::ports::OrgRepo::put_member) does). The
//! sweeps scan the whole child map; revocations and deletions are rare
//! enough that an index per parent would cost more than it saves here.

mod audit;
mod clients;
mod factors;
mod identity;
mod keys;
mod orgs;
mod streams;
mod tokens;
mod users;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, OnceLock};

use dashmap::DashMap;
use gatehouse_core::model::{
    AuthorizationCode, Client, ClientId, Consent, Email, Grant, GrantId, Invitation, Membership,
    OrgId, Organization, RefreshFamily, Resource, ResourceId, Session, StoredKey, Stream, StreamId,
    User, UserId,
};
use gatehouse_core::ports::StoreError;
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
    /// Shared Signals streams; swept when their client goes.
    streams: DashMap<StreamId, Stream>,
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
    /// Refresh families by grant: one record per grant however often it
    /// rotates.
    families: DashMap<GrantId, RefreshFamily>,
    /// The current token of each legacy (generation 0) family, by hash:
    /// a legacy token names no family, so this is how it is found.
    legacy_current: DashMap<TokenHash, GrantId>,
    /// Rotated legacy (generation 0) tokens, with their family and when
    /// they would have expired: they name no family themselves.
    legacy_spent: DashMap<TokenHash, (GrantId, OffsetDateTime)>,
    /// Revoked access tokens by `jti`, with the instant they expire anyway.
    denied_access_tokens: DashMap<Uuid, OffsetDateTime>,
    consents: DashMap<(UserId, ClientId), Consent>,
    sessions: DashMap<TokenHash, Session>,
    signing_keys: DashMap<String, StoredKey>,
    master_key: OnceLock<Vec<u8>>,
    resources: DashMap<ResourceId, Resource>,
    /// URI → id, the uniqueness index for resource URIs.
    resource_uris: DashMap<String, ResourceId>,
    /// The audit log, in order of appending. Never held across an `.await`.
    audit: std::sync::Mutex<Vec<gatehouse_core::audit::AuditEvent>>,
    /// The revocation log, in `seq` order. Never held across an `.await`.
    revocations: std::sync::Mutex<Vec<gatehouse_core::model::Revocation>>,
    /// The last `seq` given, only ever increasing (changed under the log's
    /// lock).
    last_revocation_seq: std::sync::atomic::AtomicI64,
    /// Upstream identity providers and linked identities. Never held across
    /// an `.await`; may be held while `users` is read, never the reverse.
    identities: std::sync::Mutex<identity::Identities>,
    /// Second factors. Never held across an `.await`; may be held while
    /// `users` is read, never the reverse.
    factors: std::sync::Mutex<factors::Factors>,
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

    /// The identity providers and links, locked (a poisoned lock still
    /// holds valid maps).
    fn identities(&self) -> std::sync::MutexGuard<'_, identity::Identities> {
        self.inner
            .identities
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The second factors, locked.
    fn factors(&self) -> std::sync::MutexGuard<'_, factors::Factors> {
        self.inner.factors.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The revocation log, locked (a poisoned lock still holds a valid
    /// list).
    fn revocation_log(&self) -> std::sync::MutexGuard<'_, Vec<gatehouse_core::model::Revocation>> {
        self.inner
            .revocations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The audit log, locked (a poisoned lock still holds a valid list).
    fn audit_log(&self) -> std::sync::MutexGuard<'_, Vec<gatehouse_core::audit::AuditEvent>> {
        self.inner.audit.lock().unwrap_or_else(|e| e.into_inner())
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
    /// family.
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
        for id in &removed {
            self.forget_family(*id);
        }
    }

    /// Marks a grant revoked (keeping the first revocation time) and drops
    /// its refresh family. Returns whether it was active before.
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
        self.forget_family(id);
        was_active
    }

    /// Drops a family's refresh state: none of its tokens is found again.
    fn forget_family(&self, id: GrantId) {
        if let Some((_, family)) = self.inner.families.remove(&id) {
            self.inner.legacy_current.remove(&family.current);
        }
        self.inner
            .legacy_spent
            .retain(|_, (family, _)| *family != id);
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
            .field("refresh_families", &i.families.len())
            .field("sessions", &i.sessions.len())
            .field("signing_keys", &i.signing_keys.len())
            .finish_non_exhaustive()
    }
}
