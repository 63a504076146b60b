//! What an authorization leaves behind: grants, codes, refresh tokens,
//! consents and sessions, and the signing keys tokens are issued with.

use std::fmt;

use time::OffsetDateTime;

use super::{ClientId, GrantId, UserId};
use crate::pkce::CodeChallenge;
use crate::scope::ScopeSet;
use crate::secret::TokenHash;

/// A grant: one authorization of a client by a user, and the family of
/// refresh tokens it produced. Revoking it revokes every token it issued.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Identifier; carried by access tokens as `grant_id`.
    pub id: GrantId,
    /// The client.
    pub client_id: ClientId,
    /// The user.
    pub user_id: UserId,
    /// What was granted; refreshes may narrow per request, never widen.
    pub scope: ScopeSet,
    /// The resource the grant's tokens are for (RFC 8707); `None` means the
    /// platform API.
    pub resource: Option<String>,
    /// When the user authorized.
    pub created_at: OffsetDateTime,
    /// Set once the family is revoked (logout, revocation, reuse detection).
    pub revoked_at: Option<OffsetDateTime>,
    /// When a token of this grant was last issued or used, to about a
    /// minute: uses are remembered in memory and written in batches
    /// ([`crate::ports::TokenStore::record_use`]), so a token request never
    /// pays a durable write for it. `None` until the first batch.
    pub last_used_at: Option<OffsetDateTime>,
}

impl Grant {
    /// Whether tokens of this grant are still honoured.
    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// One use of a client (and of a grant, when a user is behind it), as
/// recorded for the "last used" times users and admins see.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    /// The client that used a token.
    pub client_id: ClientId,
    /// The grant the token belongs to; `None` for client-credentials tokens.
    pub grant_id: Option<GrantId>,
    /// When.
    pub at: OffsetDateTime,
}

/// Whose grants to list.
#[derive(Debug, Clone, PartialEq)]
pub enum GrantsOf {
    /// Everything one user authorized.
    User(UserId),
    /// Everything one client was given.
    Client(ClientId),
}

/// Whose tokens a revocation ended: what a resource server that checks
/// tokens itself must stop accepting (see [`Revocation`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RevokedSubject {
    /// One grant: its tokens carry `grant_id`.
    Grant {
        /// The grant.
        grant: GrantId,
        /// Its user.
        user: UserId,
        /// Its client.
        client: ClientId,
    },
    /// Every grant a user gave one app (Disconnect).
    App {
        /// The user.
        user: UserId,
        /// The app.
        client: ClientId,
    },
    /// Every grant of a user (password change, deletion, an admin's
    /// revocation).
    User {
        /// The user.
        user: UserId,
    },
    /// Every grant of a client (the client was deleted).
    Client {
        /// The client.
        client: ClientId,
    },
    /// One access token, revoked at `/revoke` (RFC 7009).
    Token {
        /// Its `jti`.
        jti: uuid::Uuid,
    },
}

/// A revocation, kept so resource servers that verify tokens locally can
/// learn of it (Gatehouse publishes these as Shared Signals events): every
/// token of `subject` issued at or before `at` must be refused from now on.
/// Kept only until `expires_at`, when every such token has expired anyway.
#[derive(Debug, Clone, PartialEq)]
pub struct Revocation {
    /// Unique; the published event's `jti`.
    pub id: uuid::Uuid,
    /// Position in the log, assigned by the store on append (0 before):
    /// what readers page by.
    pub seq: i64,
    /// When the tokens were revoked.
    pub at: OffsetDateTime,
    /// Whose tokens.
    pub subject: RevokedSubject,
    /// Why, in a word (`disconnected`, `reuse_detected`, `password_changed`,
    /// …), for the event's `reason_admin`.
    pub reason: String,
    /// When the entry may be dropped.
    pub expires_at: OffsetDateTime,
}

/// An authorization code, as stored (the code itself only as a hash).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorizationCode {
    /// SHA-256 of the code.
    pub hash: TokenHash,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The user who approved it.
    pub user_id: UserId,
    /// The `redirect_uri` sent to `/authorize`, if one was sent; `/token` must
    /// repeat it exactly.
    pub redirect_uri: Option<String>,
    /// The granted scope.
    pub scope: ScopeSet,
    /// The PKCE challenge, if one was sent.
    pub challenge: Option<CodeChallenge>,
    /// The `resource` sent to `/authorize` (RFC 8707); `None` means the
    /// platform API.
    pub resource: Option<String>,
    /// The grant this code will create; known up front so a replay can
    /// revoke exactly what the first redemption issued.
    pub grant_id: GrantId,
    /// When it was issued.
    pub issued_at: OffsetDateTime,
    /// When it stops being redeemable (at most 60 s after issue).
    pub expires_at: OffsetDateTime,
    /// For OpenID Connect requests (scope `openid`): what the ID token
    /// issued at redemption must say about the sign-in. Carried on the
    /// code because `/token` has no browser session to ask.
    pub sign_in: Option<SignInContext>,
}

/// How the user behind an OpenID Connect authorization signed in.
#[derive(Debug, Clone, PartialEq)]
pub struct SignInContext {
    /// The `nonce` the client sent to `/authorize`, echoed in the ID token
    /// so the client can tie the token to its own request (replay defence).
    pub nonce: Option<String>,
    /// When the user signed in: the session's start (`auth_time`).
    pub auth_time: OffsetDateTime,
    /// The session's id (`sid`): what RP-initiated logout and an
    /// `id_token_hint` are matched against. Derived from the session
    /// cookie's hash, so it reveals nothing that would resume the session.
    pub sid: String,
}

/// A grant's refresh-token family, as stored: the current token and what
/// telling reuse from a retry needs, and nothing per rotation. However
/// often a client refreshes, a grant costs one record (issue 16): an older
/// token is recognised as reuse from the generation its MAC vouches for
/// ([`crate::refresh`]), not from a record of every token ever issued.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshFamily {
    /// The family is the grant.
    pub grant_id: GrantId,
    /// Generation of the current token: 0 for a token issued before
    /// generations existed (the legacy form, opaque), 1 for a grant's first
    /// token in the current form; every rotation adds at least one.
    pub generation: u64,
    /// SHA-256 of the current token.
    pub current: TokenHash,
    /// When the current token was issued.
    pub issued_at: OffsetDateTime,
    /// When the current token expires (each rotation slides it).
    pub expires_at: OffsetDateTime,
    /// SHA-256 of the token the current one replaced: the "just rotated"
    /// token, the only one a grace replay may use.
    pub previous: Option<TokenHash>,
    /// When `previous` was rotated.
    pub rotated_at: Option<OffsetDateTime>,
    /// Set once `previous` had its grace replay (or, after a grace replay,
    /// so the token it cut off gets none).
    pub grace_used: bool,
}

impl RefreshFamily {
    /// A family whose current token (of `generation`) was just issued,
    /// valid for `ttl` from `now`.
    pub fn issued(
        grant: GrantId,
        generation: u64,
        current: TokenHash,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Self {
        Self {
            grant_id: grant,
            generation,
            current,
            issued_at: now,
            expires_at: now + ttl,
            previous: None,
            rotated_at: None,
            grace_used: false,
        }
    }
}

impl RefreshFamily {
    /// Where `presented` stands in this family, if it belongs to it at all.
    /// `spent_legacy` says the store kept a record of `presented` as a
    /// rotated legacy token of this family (legacy tokens name no family,
    /// so that record is how an old one is recognised).
    ///
    /// A claim of the current generation or later whose hash is not the
    /// current token's belongs to nothing: the family never issued it.
    pub fn standing_of(
        &self,
        presented: &PresentedRefresh,
        spent_legacy: bool,
    ) -> Option<RefreshStanding> {
        if presented.hash == self.current {
            return Some(RefreshStanding::Current);
        }
        if self.previous == Some(presented.hash) {
            return Some(RefreshStanding::JustRotated);
        }
        let older = match presented.claim {
            Some(c) => c.grant == self.grant_id && c.generation < self.generation,
            None => spent_legacy,
        };
        older.then_some(RefreshStanding::Older)
    }
}

/// What rotating a family with a presented token does: the one decision
/// every store makes the same way, so the adapters only read and write.
#[derive(Debug, Clone, PartialEq)]
pub enum RefreshStep {
    /// Write this as the family (conditionally on the family as read).
    Rotate(RefreshFamily),
    /// The token was spent: revoke the family.
    Reuse,
    /// Expired, or the token is not the family's: change nothing.
    Invalid,
    /// The successor is not of the next generation: change nothing; the
    /// caller reads the family again.
    Stale,
}

impl RefreshFamily {
    /// What presenting a token of `standing` (see
    /// [`RefreshFamily::standing_of`]) does to this family at `now`, with
    /// `next` as the successor and `grace` as the replay window. A grace
    /// replay (the just-rotated token, once, inside the window) cuts the
    /// current token off: it becomes the previous one, with no replay of
    /// its own (`grace_used`), so the family keeps one live chain.
    #[must_use]
    pub fn step(
        &self,
        standing: Option<RefreshStanding>,
        presented: &PresentedRefresh,
        next: &RefreshFamily,
        now: OffsetDateTime,
        grace: time::Duration,
    ) -> RefreshStep {
        if self.expires_at <= now {
            return RefreshStep::Invalid;
        }
        let cut_off = match standing {
            None => return RefreshStep::Invalid,
            Some(RefreshStanding::Current) => false,
            Some(RefreshStanding::JustRotated)
                if grace.is_positive()
                    && !self.grace_used
                    && self.rotated_at.is_some_and(|at| now < at + grace) =>
            {
                true
            }
            Some(_) => return RefreshStep::Reuse,
        };
        if next.generation != self.generation + 1 {
            return RefreshStep::Stale;
        }
        RefreshStep::Rotate(RefreshFamily {
            grant_id: self.grant_id,
            generation: next.generation,
            current: next.current,
            issued_at: next.issued_at,
            expires_at: next.expires_at,
            previous: Some(if cut_off {
                self.current
            } else {
                presented.hash
            }),
            rotated_at: Some(now),
            grace_used: cut_off,
        })
    }
}

/// A refresh token as presented to the token, revocation or introspection
/// endpoint, read as far as the core can.
#[derive(Debug, Clone, PartialEq)]
pub struct PresentedRefresh {
    /// SHA-256 of the whole token, as [`RefreshFamily::current`] stores it.
    pub hash: TokenHash,
    /// The family and generation the token's MAC vouches for; `None` for a
    /// legacy (opaque) token, or one whose MAC does not verify. A store
    /// finds a token by its claim's family; without a claim, only a legacy
    /// family's token, by its hash (so a token whose MAC does not verify
    /// matches nothing).
    pub claim: Option<RefreshClaim>,
}

/// What a current-form refresh token says about itself, MAC-verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshClaim {
    /// Its family.
    pub grant: GrantId,
    /// Its generation.
    pub generation: u64,
}

/// Where a presented token stands in its family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStanding {
    /// It is the current token.
    Current,
    /// It is the token the current one replaced.
    JustRotated,
    /// It was rotated further back.
    Older,
}

/// A signed-in browser session on the login page.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// SHA-256 of the cookie value.
    pub hash: TokenHash,
    /// Who signed in.
    pub user_id: UserId,
    /// When they signed in (OIDC `auth_time`, `max_age`).
    pub created_at: OffsetDateTime,
    /// When the session ends.
    pub expires_at: OffsetDateTime,
}

/// A user's remembered consent for a client.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    /// Who consented.
    pub user_id: UserId,
    /// To which client.
    pub client_id: ClientId,
    /// Everything consented to so far (the union of every approval).
    pub scope: ScopeSet,
    /// Last approval.
    pub granted_at: OffsetDateTime,
}

/// A signing key as stored: the private half encrypted under the master key.
#[derive(Clone, PartialEq)]
pub struct StoredKey {
    /// JWS `kid`.
    pub kid: String,
    /// AES-256-GCM(nonce ‖ ciphertext) of the PKCS#8 document.
    pub encrypted_private_key: Vec<u8>,
    /// Uncompressed P-256 public point (65 bytes), for JWKS.
    pub public_key: Vec<u8>,
    /// When it was generated.
    pub created_at: OffsetDateTime,
    /// When it stopped signing; it stays published until its last token
    /// expires.
    pub retired_at: Option<OffsetDateTime>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}
