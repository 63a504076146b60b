//! The ports: what the core needs from storage, sized to its use cases.
//!
//! Every single-use operation (taking a code, rotating a refresh token) is one
//! atomic call here, so no transaction or lock leaks into the services, and an
//! adapter is correct exactly when it passes the shared contract suite
//! (`gatehouse-store-contract`).

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::model::{
    AuthorizationCode, Client, ClientId, Consent, Email, Grant, GrantId, GrantsOf,
    IdentityProvider, IdpId, Invitation, LinkedIdentity, Membership, OrgId, OrgRole, Organization,
    PasskeyChallenge, PasskeyCredential, PasskeyId, PresentedRefresh, RefreshFamily,
    RefreshStanding, Resource, ResourceId, Revocation, Session, StoredKey, Stream, StreamId,
    TotpFactor, Usage, User, UserId,
};
use crate::secret::TokenHash;

/// What every storage operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (duplicate email, client id, member).
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The record to change does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The backend failed (connection lost, corrupt row, …).
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Outcome of [`TokenStore::take_code`].
#[derive(Debug, Clone, PartialEq)]
pub enum CodeRedemption {
    /// First redemption: the code is now spent and returned.
    /// (Boxed: a code is large next to the other outcomes.)
    Redeemed(Box<AuthorizationCode>),
    /// The code was already redeemed: a replay. Carries the grant the first
    /// redemption created so the caller can revoke it (RFC 6749 §4.1.2).
    Replayed(GrantId),
    /// No such code (or it was purged after expiry).
    Unknown,
}

/// Outcome of [`TokenStore::rotate_refresh`].
// Returned once per refresh and moved straight into the response path; boxing
// the large variant would add an allocation for no benefit.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The presented token was current; it is now rotated and `next` is
    /// stored in its family.
    Rotated {
        /// The grant, as it stands after the rotation.
        grant: Grant,
        /// The family as it was before the rotation.
        previous: RefreshFamily,
    },
    /// The presented token had already been rotated: reuse. The port has
    /// already revoked the whole family, durably, before returning.
    Reused(GrantId),
    /// Unknown, expired, or its family is revoked.
    Invalid,
    /// The family moved on since the caller read it (`next` is not of the
    /// generation after the current one): nothing changed; read it again
    /// and retry, which sorts the presented token into reuse or a grace
    /// replay.
    Stale,
}

/// Registered OAuth clients.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ClientRepo: Send + Sync {
    /// Stores a new client.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if the id is taken.
    async fn insert_client(&self, client: &Client) -> Result<(), StoreError>;

    /// Finds a client by id.
    async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError>;

    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;

    /// Replaces a client's record.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] if no such client exists.
    async fn update_client(&self, client: &Client) -> Result<(), StoreError>;

    /// Deletes a client and, with it, its codes, grants, refresh tokens and
    /// consents. Returns whether it existed.
    async fn delete_client(&self, id: &ClientId) -> Result<bool, StoreError>;

    /// The oldest dynamically registered client carrying `key` as its
    /// [`Client::registration_key`], if any.
    async fn client_by_registration_key(
        &self,
        key: &TokenHash,
    ) -> Result<Option<Client>, StoreError>;

    /// Deletes, with their records as [`ClientRepo::delete_client`] does,
    /// the self-registered clients (dynamic and metadata-document) that
    /// hold no active grant and were last used (or, never used, created)
    /// before `idle_before`. At most `limit` go per call, oldest created
    /// first, so
    /// a reap never holds the store long. Returns their ids.
    async fn delete_idle_clients(
        &self,
        idle_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<ClientId>, StoreError>;
}

/// Platform users.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait UserRepo: Send + Sync {
    /// Stores a new user.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if the email is taken.
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;

    /// Finds a user by id.
    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError>;

    /// Finds a user by normalized email.
    async fn get_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError>;

    /// Every user, oldest first.
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;

    /// Replaces a user's record.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] if the user does not exist and
    /// [`StoreError::Conflict`] if the new email belongs to someone else.
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;

    /// Deletes a user with their memberships, sessions, grants and consents.
    /// Returns whether they existed.
    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError>;

    /// Number of platform admins, so the last one cannot be removed.
    async fn count_admins(&self) -> Result<u64, StoreError>;
}

/// Organizations and memberships.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait OrgRepo: Send + Sync {
    /// Stores a new organization with its first member (the creator as
    /// owner), atomically: an organization never exists without an owner.
    async fn insert_org(&self, org: &Organization, owner: &Membership) -> Result<(), StoreError>;

    /// Finds an organization.
    async fn get_org(&self, id: OrgId) -> Result<Option<Organization>, StoreError>;

    /// Replaces an organization's record.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] if it does not exist.
    async fn update_org(&self, org: &Organization) -> Result<(), StoreError>;

    /// Deletes an organization and its memberships. Returns whether it existed.
    async fn delete_org(&self, id: OrgId) -> Result<bool, StoreError>;

    /// Every organization.
    async fn list_orgs(&self) -> Result<Vec<Organization>, StoreError>;

    /// The organizations `user` belongs to, with their role in each.
    async fn orgs_of_user(&self, user: UserId) -> Result<Vec<(Organization, OrgRole)>, StoreError>;

    /// The memberships of an organization.
    async fn members(&self, org: OrgId) -> Result<Vec<Membership>, StoreError>;

    /// The memberships of an organization with the members' records, oldest
    /// membership first: one query, not one per member.
    async fn member_users(&self, org: OrgId) -> Result<Vec<(Membership, User)>, StoreError>;

    /// Everyone who shares at least one organization with `user` (`user`
    /// included if they belong to any), each once, oldest account first.
    async fn org_mates(&self, user: UserId) -> Result<Vec<User>, StoreError>;

    /// `user`'s role in `org`, if a member.
    async fn membership(&self, org: OrgId, user: UserId) -> Result<Option<OrgRole>, StoreError>;

    /// Adds a member or changes their role.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] if the organization or user does
    /// not exist.
    async fn put_member(&self, membership: &Membership) -> Result<(), StoreError>;

    /// Removes a member. Returns whether they were one.
    async fn remove_member(&self, org: OrgId, user: UserId) -> Result<bool, StoreError>;

    /// Records an invitation, replacing one to the same organization for
    /// the same person. Invitations go with their organization and with
    /// the invitee; an inviter's deletion only forgets who invited.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] if the organization or the
    /// invitee does not exist.
    async fn put_invitation(&self, invitation: &Invitation) -> Result<(), StoreError>;

    /// The invitations waiting for `user`, with their organizations.
    async fn invitations_of_user(
        &self,
        user: UserId,
    ) -> Result<Vec<(Invitation, Organization)>, StoreError>;

    /// The invitations to `org` nobody has answered yet.
    async fn invitations_to_org(&self, org: OrgId) -> Result<Vec<Invitation>, StoreError>;

    /// Accepts an invitation, atomically: it is gone and the invitee is a
    /// member with its role (or, if already a member, keeps their role).
    /// Of concurrent calls, one returns the membership; the others, like a
    /// call with no such invitation, return `None`.
    async fn accept_invitation(
        &self,
        org: OrgId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Option<Membership>, StoreError>;

    /// Deletes an invitation (declined or withdrawn). Returns whether it
    /// existed.
    async fn delete_invitation(&self, org: OrgId, user: UserId) -> Result<bool, StoreError>;
}

/// Codes, grants, refresh tokens, revocations, consents and sessions.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a freshly issued authorization code.
    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;

    /// Redeems a code: atomically marks it spent and returns it. Of any
    /// number of concurrent calls with one hash, exactly one sees
    /// [`CodeRedemption::Redeemed`]; the rest see [`CodeRedemption::Replayed`].
    /// Spent codes are remembered until they expire, so replays are detected.
    async fn take_code(&self, hash: &TokenHash) -> Result<CodeRedemption, StoreError>;

    /// Creates a grant with its refresh family (if any), atomically.
    async fn create_grant(
        &self,
        grant: &Grant,
        refresh: Option<RefreshFamily>,
    ) -> Result<(), StoreError>;

    /// Finds a grant.
    async fn get_grant(&self, id: GrantId) -> Result<Option<Grant>, StoreError>;

    /// The family a presented refresh token belongs to, where the token
    /// stands in it, and its grant, without changing anything. A token is
    /// found by its hash when current; as the previous token of the family
    /// its claim names (or, for a legacy token, by the record kept of it
    /// when it was rotated); and as older when its claim's generation is
    /// below the previous one's. Expired families are returned too (the
    /// caller compares `expires_at`); a claim of the current generation or
    /// later whose hash is not the current one finds nothing.
    async fn find_refresh(
        &self,
        presented: &PresentedRefresh,
    ) -> Result<Option<(RefreshFamily, RefreshStanding, Grant)>, StoreError>;

    /// Exchanges the presented refresh token for the family's next one,
    /// `next` (its `grant_id` is ignored).
    ///
    /// `seen` is what [`TokenStore::find_refresh`] returned to the caller
    /// for this token, if it asked: a store may decide against it instead
    /// of reading the family again, and write conditionally on it, so a
    /// rotation costs the caller's read and one write. If the family moved
    /// on meanwhile, the write changes nothing and the store reads it again;
    /// the outcome is the same as without `seen`.
    ///
    /// One conditional write of the family: of concurrent calls with one
    /// token at most one returns [`Rotation::Rotated`]. `next.generation`
    /// MUST be the family's current generation plus one, else
    /// [`Rotation::Stale`] and nothing changes. A token that is not the
    /// current one but belongs to the family (see
    /// [`TokenStore::find_refresh`]) MUST revoke the whole family
    /// (committed even though the caller then fails the request) and
    /// return [`Rotation::Reused`] — except once: if `grace` is positive,
    /// the token is the just-rotated one, it was rotated less than `grace`
    /// before `now` and its grace replay is unused, then the replay is
    /// allowed: the current token is cut off (it gets no grace replay of
    /// its own), `next` becomes current, and the result is
    /// [`Rotation::Rotated`]. Expired families, revoked families and
    /// unknown tokens return [`Rotation::Invalid`]. Rotating a legacy
    /// (generation 0) token keeps a record of it until it expires, so its
    /// reuse is still recognised.
    async fn rotate_refresh(
        &self,
        presented: &PresentedRefresh,
        seen: Option<(RefreshFamily, RefreshStanding, Grant)>,
        next: &RefreshFamily,
        now: OffsetDateTime,
        grace: time::Duration,
    ) -> Result<Rotation, StoreError>;

    /// Revokes a grant and every refresh token in it. Returns whether it was
    /// active before.
    async fn revoke_grant(&self, id: GrantId, at: OffsetDateTime) -> Result<bool, StoreError>;

    /// Ends everything a user's old credentials opened: revokes every active
    /// grant of `user` (with its refresh tokens) and deletes their browser
    /// sessions, atomically. Returns how many grants were active.
    async fn revoke_user_tokens(&self, user: UserId, at: OffsetDateTime)
    -> Result<u64, StoreError>;

    /// Disconnects one app: revokes every active grant `user` gave `client`
    /// (with its refresh tokens) and forgets the user's remembered consent
    /// to it, atomically, leaving the user's other grants and sessions
    /// alone; the next authorization asks again. Returns how many grants
    /// were active.
    async fn revoke_client_grants(
        &self,
        user: UserId,
        client: &ClientId,
        at: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// The active grants of a user or of a client, newest first.
    async fn active_grants(&self, of: &GrantsOf) -> Result<Vec<Grant>, StoreError>;

    /// Moves the last-used times of the named grants and clients forward:
    /// each keeps the later of its stored time and the recorded one, so
    /// batches from several instances may arrive in any order. Records
    /// naming a deleted grant or client are ignored. Called with a batch
    /// about once a minute, never per request.
    async fn record_use(&self, uses: &[Usage]) -> Result<(), StoreError>;

    /// Appends revocations to the log resource servers read, assigning
    /// each its `seq`, increasing in append order.
    async fn append_revocations(&self, revocations: &[Revocation]) -> Result<(), StoreError>;

    /// How old an appended revocation must be before a reader may rely on
    /// having seen every entry with a lower `seq`: zero for stores whose
    /// appends become visible in `seq` order (one writer), a margin for
    /// those where a later `seq` may commit first (PostgreSQL sequences).
    /// Readers pass `now - revocation_settle()` as `settled_before`.
    fn revocation_settle(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    /// The revocations with `seq` above `after`, oldest first, at most
    /// `limit`, leaving out those appended at or after `settled_before`
    /// (an append committing late must not be skipped by a reader that
    /// already saw a later `seq`).
    async fn revocations_after(
        &self,
        after: i64,
        settled_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Revocation>, StoreError>;

    /// Puts an access token's `jti` on the deny list until it would expire
    /// anyway.
    async fn revoke_access_token(
        &self,
        jti: Uuid,
        expires_at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Whether an access token is revoked, either by its own `jti` or through
    /// its grant. One call, so a hot path costs one round trip.
    async fn is_access_token_revoked(
        &self,
        jti: Uuid,
        grant: Option<GrantId>,
    ) -> Result<bool, StoreError>;

    /// The remembered consent of `user` for `client`.
    async fn get_consent(
        &self,
        user: UserId,
        client: &ClientId,
    ) -> Result<Option<Consent>, StoreError>;

    /// Remembers (replaces) a consent.
    async fn put_consent(&self, consent: &Consent) -> Result<(), StoreError>;

    /// Stores a browser session.
    async fn put_session(&self, session: &Session) -> Result<(), StoreError>;

    /// Finds a session that has not expired at `now`.
    async fn get_session(
        &self,
        hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<Session>, StoreError>;

    /// Ends a session.
    async fn delete_session(&self, hash: &TokenHash) -> Result<(), StoreError>;

    /// Ends every browser session of `user` ("sign out everywhere"),
    /// leaving their grants alone. Returns how many there were.
    async fn delete_user_sessions(&self, user: UserId) -> Result<u64, StoreError>;

    /// Drops codes, refresh tokens, deny-list entries, sessions and
    /// revocations that expired before `now`. Returns how many records went.
    async fn purge_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Protected resources (MCP servers and other APIs) tokens may be issued for.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ResourceRepo: Send + Sync {
    /// Stores a new resource.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if the id or the URI is taken.
    async fn insert_resource(&self, resource: &Resource) -> Result<(), StoreError>;

    /// Finds a resource by id.
    async fn get_resource(&self, id: ResourceId) -> Result<Option<Resource>, StoreError>;

    /// Finds a resource by its canonical URI (exact comparison; the caller
    /// canonicalizes).
    async fn get_resource_by_uri(&self, uri: &str) -> Result<Option<Resource>, StoreError>;

    /// Every resource, oldest first.
    async fn list_resources(&self) -> Result<Vec<Resource>, StoreError>;

    /// Replaces a resource's record.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] if it does not exist and
    /// [`StoreError::Conflict`] if the new URI belongs to another resource.
    async fn update_resource(&self, resource: &Resource) -> Result<(), StoreError>;

    /// Deletes a resource. Grants bound to it stay in the store, but the
    /// services stop honouring them: refreshes fail and introspection
    /// reports their tokens inactive. Returns whether it existed.
    async fn delete_resource(&self, id: ResourceId) -> Result<bool, StoreError>;
}

/// Signing keys and the generated master key, shared by every instance on one
/// store.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Every key, newest first, including retired ones still published.
    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError>;

    /// Stores a new key.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if the `kid` exists.
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<(), StoreError>;

    /// Marks a key retired (it stops signing but stays published).
    async fn retire_signing_key(&self, kid: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Returns the stored master key, storing `candidate` first if none
    /// exists. Atomic, so instances starting together agree on one key.
    async fn master_key_or_init(&self, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;

    /// Whether the store answers at all (`/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Shared Signals event streams (one per receiving resource server
/// instance). The events themselves are the revocation log of
/// [`TokenStore`]; a stream is only its receiver's settings and position.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait StreamStore: Send + Sync {
    /// Stores a new stream, with the version it carries.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if the id is taken and
    /// [`StoreError::NotFound`] if the client does not exist.
    async fn insert_stream(&self, stream: &Stream) -> Result<(), StoreError>;

    /// Finds a stream.
    async fn get_stream(&self, id: StreamId) -> Result<Option<Stream>, StoreError>;

    /// A client's streams, oldest first.
    async fn client_streams(&self, client: &ClientId) -> Result<Vec<Stream>, StoreError>;

    /// Replaces a stream if its stored version is still `stream.version`,
    /// storing it with `version + 1`. Returns `false`, writing nothing,
    /// when the version moved on or the stream is gone: the caller read a
    /// stale copy and must re-read.
    async fn update_stream(&self, stream: &Stream) -> Result<bool, StoreError>;

    /// Deletes a stream. Returns whether it existed.
    async fn delete_stream(&self, id: StreamId) -> Result<bool, StoreError>;

    /// Enabled push streams whose backoff and lease (if any) ended before
    /// `now`, at most `limit`, longest-waiting first.
    async fn due_push_streams(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Stream>, StoreError>;

    /// Deletes poll streams last polled before `before` (their receiver is
    /// gone). Returns how many went.
    async fn delete_idle_streams(&self, before: OffsetDateTime) -> Result<u64, StoreError>;
}

/// Upstream identity providers and the identities linked through them.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait IdentityRepo: Send + Sync {
    /// Stores a new provider.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if the id or the name is taken.
    async fn insert_provider(&self, provider: &IdentityProvider) -> Result<(), StoreError>;

    /// Finds a provider by id.
    async fn get_provider(&self, id: IdpId) -> Result<Option<IdentityProvider>, StoreError>;

    /// Finds a provider by name (the callback path names it).
    async fn provider_by_name(&self, name: &str) -> Result<Option<IdentityProvider>, StoreError>;

    /// Every provider, by name.
    async fn list_providers(&self) -> Result<Vec<IdentityProvider>, StoreError>;

    /// Replaces a provider's fields.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] if it does not exist and
    /// [`StoreError::Conflict`] if the new name is another provider's.
    async fn update_provider(&self, provider: &IdentityProvider) -> Result<(), StoreError>;

    /// Deletes a provider and every identity linked through it. Returns
    /// whether it existed.
    async fn delete_provider(&self, id: IdpId) -> Result<bool, StoreError>;

    /// Links an upstream identity to a user.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if `(issuer, subject)` is
    /// already linked (to anyone), and [`StoreError::NotFound`] if the
    /// provider or the user does not exist.
    async fn link_identity(&self, link: &LinkedIdentity) -> Result<(), StoreError>;

    /// The link of an upstream identity, if any.
    async fn find_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<LinkedIdentity>, StoreError>;

    /// A user's linked identities, oldest first.
    async fn user_identities(&self, user: UserId) -> Result<Vec<LinkedIdentity>, StoreError>;

    /// Records a sign-in through a link.
    async fn touch_identity(
        &self,
        issuer: &str,
        subject: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Removes one of `user`'s links. Returns whether it existed (a link of
    /// another user is not removed).
    async fn unlink_identity(
        &self,
        user: UserId,
        issuer: &str,
        subject: &str,
    ) -> Result<bool, StoreError>;
}

/// Second factors: a user's authenticator app and recovery codes. The
/// single-use parts (a TOTP time step, a recovery code) are atomic here,
/// so two instances cannot both accept the same code.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait FactorRepo: Send + Sync {
    /// Stores `factor` as the user's authenticator app, replacing any.
    ///
    /// # Errors
    /// MUST return [`StoreError::NotFound`] if the user does not exist.
    async fn put_totp(&self, factor: &TotpFactor) -> Result<(), StoreError>;

    /// The user's authenticator app, confirmed or not.
    async fn get_totp(&self, user: UserId) -> Result<Option<TotpFactor>, StoreError>;

    /// Accepts a code of time step `step`: confirms the factor if it was
    /// being set up, and records the step. Returns `false`, changing
    /// nothing, when a code of this step or a later one was already
    /// accepted (a replay) or there is no factor. Exactly one of racing
    /// calls with one step returns `true`.
    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError>;

    /// Removes the authenticator app (recovery codes stay: they may stand
    /// in for a passkey too). Returns whether there was an app.
    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError>;

    /// Replaces the user's recovery codes with these hashes, all unused.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[TokenHash],
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Spends one recovery code. Returns `false` when it is not the user's
    /// or was already spent; exactly one of racing calls returns `true`.
    async fn use_recovery_code(
        &self,
        user: UserId,
        hash: &TokenHash,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// How many of the user's recovery codes are unspent.
    async fn recovery_codes_left(&self, user: UserId) -> Result<u32, StoreError>;

    /// Registers a passkey.
    ///
    /// # Errors
    /// MUST return [`StoreError::Conflict`] if its credential id is already
    /// registered (to anyone), and [`StoreError::NotFound`] if the user
    /// does not exist.
    async fn add_passkey(&self, passkey: &PasskeyCredential) -> Result<(), StoreError>;

    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyCredential>, StoreError>;

    /// The passkey with this authenticator credential id, whoever's.
    async fn passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyCredential>, StoreError>;

    /// Records a sign-in with a passkey: its updated library state (the
    /// signature counter) and when. Returns whether it still exists.
    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        credential: &str,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Removes one of the user's passkeys. Returns whether it was theirs
    /// and existed.
    async fn delete_passkey(&self, user: UserId, id: PasskeyId) -> Result<bool, StoreError>;

    /// Keeps a ceremony's challenge until it is answered or expires, and
    /// drops challenges that expired before `now` (so the table holds only
    /// ceremonies in flight).
    async fn put_passkey_challenge(
        &self,
        challenge: &PasskeyChallenge,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Takes a challenge to check an answer against: it is gone afterwards,
    /// so exactly one of racing calls gets it. `None` if unknown, already
    /// taken or expired at `now`.
    async fn take_passkey_challenge(
        &self,
        id: uuid::Uuid,
        now: OffsetDateTime,
    ) -> Result<Option<PasskeyChallenge>, StoreError>;
}
