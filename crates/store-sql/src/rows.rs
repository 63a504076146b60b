//! Rows as diesel reads and writes them, and their conversions to and from
//! the core's records. Plain code, shared by both backends: a row field's
//! type is one of [`crate::codec`]'s, which each backend encodes its way.

// Rows carry credential hashes, password hashes and sealed keys: they are
// never printed, so they have no `Debug` to print them with.
#![allow(missing_debug_implementations)]

use diesel::prelude::{AsChangeset, Insertable, Queryable, Selectable};
use gatehouse_core::audit::{AuditEvent, AuditKind};
use gatehouse_core::model::{
    ApplicationType, AuthorizationCode, Client, ClientId, ClientOrigin, Consent, Email, Grant,
    GrantId, GrantType, Invitation, Membership, OrgId, OrgRole, Organization, PasswordHash,
    RefreshToken, Resource, ResourceId, Revocation, RevokedSubject, Role, Session, SignInContext,
    StoredKey, TokenEndpointAuthMethod, User, UserId,
};
use gatehouse_core::model::{
    DeliveryMethod, PendingVerification, PushTarget, Stream, StreamId, StreamStatus,
};
use gatehouse_core::pkce::CodeChallenge;
use gatehouse_core::ports::StoreError;
use gatehouse_core::redirect::RedirectUri;
use gatehouse_core::scope::ScopeSet;
use gatehouse_core::secret::TokenHash;
use time::OffsetDateTime;

use crate::codec::{DbJson, DbList, DbTime, DbUuid};
use crate::error;
use crate::schema::{
    audit_events, authorization_codes, clients, consents, grants, invitations, memberships,
    organizations, refresh_tokens, resources, revocations, sessions, signing_keys, ssf_streams,
    users,
};

pub type DbResult<T> = Result<T, diesel::result::Error>;

/// A row that reads back into one of the core's records. Fallible: the
/// database may hold what no valid record produces (a hand edit, a bad
/// migration), and that must be an error, not a panic.
pub trait IntoRecord {
    /// The core's record.
    type Record;
    /// The conversion.
    fn into_record(self) -> Result<Self::Record, StoreError>;
}

macro_rules! into_record {
    (fallible: $($row:ty => $record:ty),*; infallible: $($row2:ty => $record2:ty),*) => {
        $(impl IntoRecord for $row {
            type Record = $record;
            fn into_record(self) -> Result<$record, StoreError> {
                self.into_domain()
            }
        })*
        $(impl IntoRecord for $row2 {
            type Record = $record2;
            fn into_record(self) -> Result<$record2, StoreError> {
                Ok(self.into_domain())
            }
        })*
    };
}

into_record! {
    fallible: AuditRow => AuditEvent, ClientRow => Client, UserRow => User, MembershipRow => Membership,
        InvitationRow => Invitation, CodeRow => AuthorizationCode, GrantRow => Grant,
        RefreshRow => RefreshToken, ConsentRow => Consent, SessionRow => Session,
        ResourceRow => Resource;
    infallible: OrgRow => Organization, KeyRow => StoredKey
}

/// The record a lookup by key found, if any.
///
/// # Errors
/// The query failed, or the row does not convert.
pub fn found<R: IntoRecord>(row: DbResult<R>) -> Result<Option<R::Record>, StoreError> {
    use diesel::OptionalExtension as _;
    row.optional()
        .map_err(error::unexpected)?
        .map(R::into_record)
        .transpose()
}

/// Every record a listing found, in the query's order.
///
/// # Errors
/// The query failed, or a row does not convert.
pub fn listed<R: IntoRecord>(rows: DbResult<Vec<R>>) -> Result<Vec<R::Record>, StoreError> {
    rows.map_err(error::unexpected)?
        .into_iter()
        .map(R::into_record)
        .collect()
}

pub fn hash_bytes(hash: &TokenHash) -> Vec<u8> {
    hash.as_bytes().to_vec()
}

pub fn hash_of(bytes: &[u8], what: &'static str) -> Result<TokenHash, StoreError> {
    TokenHash::from_slice(bytes).ok_or_else(|| error::corrupt(what))
}

pub fn scope_text(scope: &ScopeSet) -> String {
    scope.iter().collect::<Vec<_>>().join(" ")
}

pub fn scope_of(raw: &str, what: &'static str) -> Result<ScopeSet, StoreError> {
    ScopeSet::parse(raw).map_err(|_| error::corrupt(what))
}

pub fn time_of(t: Option<DbTime>) -> Option<OffsetDateTime> {
    t.map(|t| t.0)
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients)]
#[diesel(treat_none_as_null = true)]
pub struct ClientRow {
    pub id: String,
    pub secret_hash: Option<Vec<u8>>,
    pub name: String,
    pub description: String,
    pub redirect_uris: DbList,
    pub allowed_scopes: String,
    pub auth_method: String,
    pub grant_types: DbList,
    pub application_type: String,
    pub origin: String,
    pub require_pkce: bool,
    pub registration_token_hash: Option<Vec<u8>>,
    pub metadata: DbJson,
    pub metadata_expires_at: Option<DbTime>,
    pub created_at: DbTime,
    pub updated_at: DbTime,
    /// Only ever moved forward by `record_use`: an update carrying a stale
    /// copy must not move it back.
    #[diesel(skip_update)]
    pub last_used_at: Option<DbTime>,
    pub registration_key: Option<Vec<u8>>,
}

impl ClientRow {
    pub fn new(c: &Client) -> Self {
        Self {
            id: c.id.as_str().to_owned(),
            secret_hash: c.secret_hash.as_ref().map(hash_bytes),
            name: c.name.clone(),
            description: c.description.clone(),
            redirect_uris: DbList(
                c.redirect_uris
                    .iter()
                    .map(|r| r.as_str().to_owned())
                    .collect(),
            ),
            allowed_scopes: scope_text(&c.allowed_scopes),
            auth_method: c.auth_method.as_str().to_owned(),
            grant_types: DbList(
                c.grant_types
                    .iter()
                    .map(|g| g.as_str().to_owned())
                    .collect(),
            ),
            application_type: c.application_type.as_str().to_owned(),
            origin: c.origin.as_str().to_owned(),
            require_pkce: c.require_pkce,
            registration_token_hash: c.registration_token_hash.as_ref().map(hash_bytes),
            metadata: DbJson(c.metadata.clone()),
            metadata_expires_at: c.metadata_expires_at.map(DbTime),
            created_at: DbTime(c.created_at),
            updated_at: DbTime(c.updated_at),
            last_used_at: c.last_used_at.map(DbTime),
            registration_key: c.registration_key.as_ref().map(hash_bytes),
        }
    }

    pub fn into_domain(self) -> Result<Client, StoreError> {
        const WHAT: &str = "client";
        let corrupt = || error::corrupt(WHAT);
        Ok(Client {
            id: ClientId::parse(&self.id).map_err(|_| corrupt())?,
            secret_hash: self.secret_hash.map(|h| hash_of(&h, WHAT)).transpose()?,
            name: self.name,
            description: self.description,
            redirect_uris: self
                .redirect_uris
                .0
                .iter()
                .map(|r| RedirectUri::parse(r).map_err(|_| corrupt()))
                .collect::<Result<_, _>>()?,
            allowed_scopes: scope_of(&self.allowed_scopes, WHAT)?,
            auth_method: TokenEndpointAuthMethod::parse(&self.auth_method).ok_or_else(corrupt)?,
            grant_types: self
                .grant_types
                .0
                .iter()
                .map(|g| GrantType::parse(g).ok_or_else(corrupt))
                .collect::<Result<_, _>>()?,
            application_type: ApplicationType::parse(&self.application_type).ok_or_else(corrupt)?,
            origin: ClientOrigin::parse(&self.origin).ok_or_else(corrupt)?,
            require_pkce: self.require_pkce,
            registration_token_hash: self
                .registration_token_hash
                .map(|h| hash_of(&h, WHAT))
                .transpose()?,
            metadata: self.metadata.0,
            metadata_expires_at: time_of(self.metadata_expires_at),
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
            last_used_at: time_of(self.last_used_at),
            registration_key: self
                .registration_key
                .map(|h| hash_of(&h, WHAT))
                .transpose()?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: DbUuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub email_verified: bool,
    pub password_hash: String,
    pub created_at: DbTime,
    pub updated_at: DbTime,
    pub sign_in_epoch: i32,
}

impl UserRow {
    pub fn new(u: &User) -> Self {
        Self {
            id: DbUuid(u.id.0),
            email: u.email.as_str().to_owned(),
            name: u.name.clone(),
            role: u.role.as_str().to_owned(),
            email_verified: u.email_verified,
            password_hash: u.password_hash.0.clone(),
            created_at: DbTime(u.created_at),
            updated_at: DbTime(u.updated_at),
            // Stored as SQL's signed integer; the cast round-trips.
            sign_in_epoch: u.sign_in_epoch as i32,
        }
    }

    pub fn into_domain(self) -> Result<User, StoreError> {
        let corrupt = || error::corrupt("user");
        Ok(User {
            id: UserId(self.id.0),
            email: Email::from_stored(self.email).map_err(|_| corrupt())?,
            name: self.name,
            role: Role::parse(&self.role).ok_or_else(corrupt)?,
            email_verified: self.email_verified,
            password_hash: PasswordHash(self.password_hash),
            sign_in_epoch: self.sign_in_epoch as u32,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct OrgRow {
    pub id: DbUuid,
    pub name: String,
    pub description: String,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

impl OrgRow {
    pub fn new(o: &Organization) -> Self {
        Self {
            id: DbUuid(o.id.0),
            name: o.name.clone(),
            description: o.description.clone(),
            created_at: DbTime(o.created_at),
            updated_at: DbTime(o.updated_at),
        }
    }

    pub fn into_domain(self) -> Organization {
        Organization {
            id: OrgId(self.id.0),
            name: self.name,
            description: self.description,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        }
    }
}

pub fn org_role_of(raw: &str) -> Result<OrgRole, StoreError> {
    OrgRole::parse(raw).ok_or_else(|| error::corrupt("membership"))
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct MembershipRow {
    pub org_id: DbUuid,
    pub user_id: DbUuid,
    pub role: String,
    pub created_at: DbTime,
}

impl MembershipRow {
    pub fn new(m: &Membership) -> Self {
        Self {
            org_id: DbUuid(m.org_id.0),
            user_id: DbUuid(m.user_id.0),
            role: m.role.as_str().to_owned(),
            created_at: DbTime(m.created_at),
        }
    }

    pub fn into_domain(self) -> Result<Membership, StoreError> {
        Ok(Membership {
            org_id: OrgId(self.org_id.0),
            user_id: UserId(self.user_id.0),
            role: org_role_of(&self.role)?,
            created_at: self.created_at.0,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = invitations)]
pub struct InvitationRow {
    pub org_id: DbUuid,
    pub user_id: DbUuid,
    pub role: String,
    pub invited_by: Option<DbUuid>,
    pub created_at: DbTime,
}

impl InvitationRow {
    pub fn new(i: &Invitation) -> Self {
        Self {
            org_id: DbUuid(i.org_id.0),
            user_id: DbUuid(i.user_id.0),
            role: i.role.as_str().to_owned(),
            invited_by: i.invited_by.map(|u| DbUuid(u.0)),
            created_at: DbTime(i.created_at),
        }
    }

    pub fn into_domain(self) -> Result<Invitation, StoreError> {
        Ok(Invitation {
            org_id: OrgId(self.org_id.0),
            user_id: UserId(self.user_id.0),
            role: OrgRole::parse(&self.role).ok_or_else(|| error::corrupt("invitation"))?,
            invited_by: self.invited_by.map(|u| UserId(u.0)),
            created_at: self.created_at.0,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct CodeRow {
    pub hash: Vec<u8>,
    pub client_id: String,
    pub user_id: DbUuid,
    pub redirect_uri: Option<String>,
    pub scope: String,
    pub challenge: Option<String>,
    pub resource: Option<String>,
    pub grant_id: DbUuid,
    pub issued_at: DbTime,
    pub expires_at: DbTime,
    pub spent: bool,
    pub nonce: Option<String>,
    pub auth_time: Option<DbTime>,
    pub sid: Option<String>,
}

impl CodeRow {
    pub fn new(c: &AuthorizationCode) -> Self {
        Self {
            hash: hash_bytes(&c.hash),
            client_id: c.client_id.as_str().to_owned(),
            user_id: DbUuid(c.user_id.0),
            redirect_uri: c.redirect_uri.clone(),
            scope: scope_text(&c.scope),
            challenge: c.challenge.as_ref().map(|ch| ch.as_str().to_owned()),
            resource: c.resource.clone(),
            grant_id: DbUuid(c.grant_id.0),
            issued_at: DbTime(c.issued_at),
            expires_at: DbTime(c.expires_at),
            spent: false,
            nonce: c.sign_in.as_ref().and_then(|s| s.nonce.clone()),
            auth_time: c.sign_in.as_ref().map(|s| DbTime(s.auth_time)),
            sid: c.sign_in.as_ref().map(|s| s.sid.clone()),
        }
    }

    pub fn into_domain(self) -> Result<AuthorizationCode, StoreError> {
        const WHAT: &str = "authorization code";
        Ok(AuthorizationCode {
            hash: hash_of(&self.hash, WHAT)?,
            client_id: ClientId::parse(&self.client_id).map_err(|_| error::corrupt(WHAT))?,
            user_id: UserId(self.user_id.0),
            redirect_uri: self.redirect_uri,
            scope: scope_of(&self.scope, WHAT)?,
            challenge: self.challenge.map(CodeChallenge::from_stored),
            resource: self.resource,
            grant_id: GrantId(self.grant_id.0),
            issued_at: self.issued_at.0,
            expires_at: self.expires_at.0,
            sign_in: match (self.auth_time, self.sid) {
                (Some(at), Some(sid)) => Some(SignInContext {
                    nonce: self.nonce,
                    auth_time: at.0,
                    sid,
                }),
                (None, None) => None,
                _ => return Err(error::corrupt(WHAT)),
            },
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    pub id: DbUuid,
    pub client_id: String,
    pub user_id: DbUuid,
    pub scope: String,
    pub resource: Option<String>,
    pub created_at: DbTime,
    pub revoked_at: Option<DbTime>,
    pub last_used_at: Option<DbTime>,
}

impl GrantRow {
    pub fn new(g: &Grant) -> Self {
        Self {
            id: DbUuid(g.id.0),
            client_id: g.client_id.as_str().to_owned(),
            user_id: DbUuid(g.user_id.0),
            scope: scope_text(&g.scope),
            resource: g.resource.clone(),
            created_at: DbTime(g.created_at),
            revoked_at: g.revoked_at.map(DbTime),
            last_used_at: g.last_used_at.map(DbTime),
        }
    }

    pub fn into_domain(self) -> Result<Grant, StoreError> {
        const WHAT: &str = "grant";
        Ok(Grant {
            id: GrantId(self.id.0),
            client_id: ClientId::parse(&self.client_id).map_err(|_| error::corrupt(WHAT))?,
            user_id: UserId(self.user_id.0),
            scope: scope_of(&self.scope, WHAT)?,
            resource: self.resource,
            created_at: self.created_at.0,
            revoked_at: time_of(self.revoked_at),
            last_used_at: time_of(self.last_used_at),
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshRow {
    pub hash: Vec<u8>,
    pub grant_id: DbUuid,
    pub issued_at: DbTime,
    pub expires_at: DbTime,
    pub rotated_at: Option<DbTime>,
    pub grace_used: bool,
    pub replaced_by: Option<Vec<u8>>,
}

impl RefreshRow {
    /// `token` filed under `family`, whatever grant it names.
    pub fn new(token: &RefreshToken, family: DbUuid) -> Self {
        Self {
            hash: hash_bytes(&token.hash),
            grant_id: family,
            issued_at: DbTime(token.issued_at),
            expires_at: DbTime(token.expires_at),
            rotated_at: token.rotated_at.map(DbTime),
            grace_used: token.grace_used,
            replaced_by: token.replaced_by.as_ref().map(hash_bytes),
        }
    }

    pub fn into_domain(self) -> Result<RefreshToken, StoreError> {
        Ok(RefreshToken {
            hash: hash_of(&self.hash, "refresh token")?,
            grant_id: GrantId(self.grant_id.0),
            issued_at: self.issued_at.0,
            expires_at: self.expires_at.0,
            rotated_at: time_of(self.rotated_at),
            grace_used: self.grace_used,
            replaced_by: self
                .replaced_by
                .map(|h| hash_of(&h, "refresh token"))
                .transpose()?,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub struct ConsentRow {
    pub user_id: DbUuid,
    pub client_id: String,
    pub scope: String,
    pub granted_at: DbTime,
}

impl ConsentRow {
    pub fn new(c: &Consent) -> Self {
        Self {
            user_id: DbUuid(c.user_id.0),
            client_id: c.client_id.as_str().to_owned(),
            scope: scope_text(&c.scope),
            granted_at: DbTime(c.granted_at),
        }
    }

    pub fn into_domain(self) -> Result<Consent, StoreError> {
        const WHAT: &str = "consent";
        Ok(Consent {
            user_id: UserId(self.user_id.0),
            client_id: ClientId::parse(&self.client_id).map_err(|_| error::corrupt(WHAT))?,
            scope: scope_of(&self.scope, WHAT)?,
            granted_at: self.granted_at.0,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub struct SessionRow {
    pub hash: Vec<u8>,
    pub user_id: DbUuid,
    pub created_at: DbTime,
    pub expires_at: DbTime,
}

impl SessionRow {
    pub fn new(s: &Session) -> Self {
        Self {
            hash: hash_bytes(&s.hash),
            user_id: DbUuid(s.user_id.0),
            created_at: DbTime(s.created_at),
            expires_at: DbTime(s.expires_at),
        }
    }

    pub fn into_domain(self) -> Result<Session, StoreError> {
        Ok(Session {
            hash: hash_of(&self.hash, "session")?,
            user_id: UserId(self.user_id.0),
            created_at: self.created_at.0,
            expires_at: self.expires_at.0,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub encrypted_private_key: Vec<u8>,
    pub public_key: Vec<u8>,
    pub created_at: DbTime,
    pub retired_at: Option<DbTime>,
}

impl KeyRow {
    pub fn new(k: &StoredKey) -> Self {
        Self {
            kid: k.kid.clone(),
            encrypted_private_key: k.encrypted_private_key.clone(),
            public_key: k.public_key.clone(),
            created_at: DbTime(k.created_at),
            retired_at: k.retired_at.map(DbTime),
        }
    }

    pub fn into_domain(self) -> StoredKey {
        StoredKey {
            kid: self.kid,
            encrypted_private_key: self.encrypted_private_key,
            public_key: self.public_key,
            created_at: self.created_at.0,
            retired_at: time_of(self.retired_at),
        }
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = resources)]
pub struct ResourceRow {
    pub id: DbUuid,
    pub uri: String,
    pub name: String,
    pub scopes: String,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

impl ResourceRow {
    pub fn new(r: &Resource) -> Self {
        Self {
            id: DbUuid(r.id.0),
            uri: r.uri.clone(),
            name: r.name.clone(),
            scopes: scope_text(&r.scopes),
            created_at: DbTime(r.created_at),
            updated_at: DbTime(r.updated_at),
        }
    }

    pub fn into_domain(self) -> Result<Resource, StoreError> {
        Ok(Resource {
            id: ResourceId(self.id.0),
            uri: self.uri,
            name: self.name,
            scopes: scope_of(&self.scopes, "resource")?,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: DbUuid,
    pub at: DbTime,
    pub kind: String,
    pub user_id: Option<DbUuid>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    pub details: DbJson,
}

impl AuditRow {
    pub fn new(e: &AuditEvent) -> Self {
        Self {
            id: DbUuid(e.id),
            at: DbTime(e.at),
            kind: e.kind.as_str().to_owned(),
            user_id: e.user_id.map(|u| DbUuid(u.0)),
            client_id: e.client_id.as_ref().map(|c| c.as_str().to_owned()),
            ip: e.ip.map(|ip| ip.to_string()),
            details: DbJson(e.details.clone()),
        }
    }

    pub fn into_domain(self) -> Result<AuditEvent, StoreError> {
        let corrupt = || error::corrupt("audit event");
        Ok(AuditEvent {
            id: self.id.0,
            at: self.at.0,
            kind: AuditKind::parse(&self.kind).ok_or_else(corrupt)?,
            user_id: self.user_id.map(|u| UserId(u.0)),
            client_id: self
                .client_id
                .map(|c| ClientId::parse(&c).map_err(|_| corrupt()))
                .transpose()?,
            ip: self
                .ip
                .map(|ip| ip.parse().map_err(|_| corrupt()))
                .transpose()?,
            details: self.details.0,
        })
    }
}

#[derive(Insertable)]
#[diesel(table_name = revocations)]
pub struct NewRevocationRow {
    pub id: DbUuid,
    pub at: DbTime,
    pub kind: &'static str,
    pub grant_id: Option<DbUuid>,
    pub user_id: Option<DbUuid>,
    pub client_id: Option<String>,
    pub reason: String,
    pub expires_at: DbTime,
    pub jti: Option<DbUuid>,
}

impl NewRevocationRow {
    pub fn new(r: &Revocation) -> Self {
        let (kind, grant, user, client) = match &r.subject {
            RevokedSubject::Grant {
                grant,
                user,
                client,
            } => ("grant", Some(grant.0), Some(user.0), Some(client)),
            RevokedSubject::App { user, client } => ("app", None, Some(user.0), Some(client)),
            RevokedSubject::User { user } => ("user", None, Some(user.0), None),
            RevokedSubject::Client { client } => ("client", None, None, Some(client)),
            RevokedSubject::Token { .. } => ("token", None, None, None),
        };
        let jti = match &r.subject {
            RevokedSubject::Token { jti } => Some(DbUuid(*jti)),
            _ => None,
        };
        Self {
            id: DbUuid(r.id),
            at: DbTime(r.at),
            kind,
            grant_id: grant.map(DbUuid),
            user_id: user.map(DbUuid),
            client_id: client.map(|c| c.as_str().to_owned()),
            reason: r.reason.clone(),
            expires_at: DbTime(r.expires_at),
            jti,
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = revocations)]
pub struct RevocationRow {
    pub seq: i64,
    pub id: DbUuid,
    pub at: DbTime,
    pub kind: String,
    pub grant_id: Option<DbUuid>,
    pub user_id: Option<DbUuid>,
    pub client_id: Option<String>,
    pub reason: String,
    pub expires_at: DbTime,
    pub jti: Option<DbUuid>,
}

impl RevocationRow {
    pub fn into_domain(self) -> Result<Revocation, StoreError> {
        let corrupt = || error::corrupt("revocation");
        let user = || self.user_id.map(|u| UserId(u.0)).ok_or_else(corrupt);
        let client = || {
            self.client_id
                .as_deref()
                .and_then(|c| ClientId::parse(c).ok())
                .ok_or_else(corrupt)
        };
        let subject = match self.kind.as_str() {
            "grant" => RevokedSubject::Grant {
                grant: self.grant_id.map(|g| GrantId(g.0)).ok_or_else(corrupt)?,
                user: user()?,
                client: client()?,
            },
            "app" => RevokedSubject::App {
                user: user()?,
                client: client()?,
            },
            "user" => RevokedSubject::User { user: user()? },
            "client" => RevokedSubject::Client { client: client()? },
            "token" => RevokedSubject::Token {
                jti: self.jti.as_ref().map(|j| j.0).ok_or_else(corrupt)?,
            },
            _ => return Err(corrupt()),
        };
        Ok(Revocation {
            id: self.id.0,
            seq: self.seq,
            at: self.at.0,
            subject,
            reason: self.reason,
            expires_at: self.expires_at.0,
        })
    }
}

/// What of a stream no query filters on, kept as one JSON document.
#[derive(serde::Serialize, serde::Deserialize)]
struct StreamSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint_url: Option<String>,
    #[serde(default)]
    events_requested: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    acked_ahead: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verification: Option<VerificationSetting>,
    #[serde(default)]
    failures: u32,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct VerificationSetting {
    jti: uuid::Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ssf_streams)]
#[diesel(treat_none_as_null = true)]
pub struct StreamRow {
    pub id: DbUuid,
    pub client_id: String,
    pub version: i64,
    pub method: String,
    pub status: String,
    pub cursor: i64,
    pub settings: DbJson,
    pub sealed_authorization: Option<Vec<u8>>,
    pub retry_at: Option<DbTime>,
    pub lease_until: Option<DbTime>,
    pub last_polled_at: DbTime,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

impl StreamRow {
    pub fn new(s: &Stream) -> Result<Self, StoreError> {
        let settings = StreamSettings {
            endpoint_url: s.push.as_ref().map(|p| p.endpoint_url.clone()),
            events_requested: s.events_requested.clone(),
            description: s.description.clone(),
            status_reason: s.status_reason.clone(),
            acked_ahead: s.acked_ahead.clone(),
            verification: s.verification.as_ref().map(|v| VerificationSetting {
                jti: v.jti,
                state: v.state.clone(),
                at: v.at,
            }),
            failures: s.failures,
        };
        Ok(Self {
            id: DbUuid(s.id.0),
            client_id: s.client_id.as_str().to_owned(),
            version: s.version,
            method: match s.method {
                DeliveryMethod::Poll => "poll",
                DeliveryMethod::Push => "push",
            }
            .to_owned(),
            status: s.status.as_str().to_owned(),
            cursor: s.cursor,
            settings: DbJson(
                serde_json::to_value(settings).map_err(|_| error::invalid("stream settings"))?,
            ),
            sealed_authorization: s.push.as_ref().and_then(|p| p.sealed_authorization.clone()),
            retry_at: s.retry_at.map(DbTime),
            lease_until: s.lease_until.map(DbTime),
            last_polled_at: DbTime(s.last_polled_at),
            created_at: DbTime(s.created_at),
            updated_at: DbTime(s.updated_at),
        })
    }

    pub fn into_domain(self) -> Result<Stream, StoreError> {
        let corrupt = || error::corrupt("stream");
        let settings: StreamSettings =
            serde_json::from_value(self.settings.0).map_err(|_| corrupt())?;
        let method = match self.method.as_str() {
            "poll" => DeliveryMethod::Poll,
            "push" => DeliveryMethod::Push,
            _ => return Err(corrupt()),
        };
        let push = match method {
            DeliveryMethod::Poll => None,
            DeliveryMethod::Push => Some(PushTarget {
                endpoint_url: settings.endpoint_url.ok_or_else(corrupt)?,
                sealed_authorization: self.sealed_authorization,
            }),
        };
        Ok(Stream {
            id: StreamId(self.id.0),
            client_id: ClientId::parse(&self.client_id).map_err(|_| corrupt())?,
            version: self.version,
            method,
            push,
            events_requested: settings.events_requested,
            description: settings.description,
            status: StreamStatus::parse(&self.status).ok_or_else(corrupt)?,
            status_reason: settings.status_reason,
            cursor: self.cursor,
            acked_ahead: settings.acked_ahead,
            verification: settings.verification.map(|v| PendingVerification {
                jti: v.jti,
                state: v.state,
                at: v.at,
            }),
            failures: settings.failures,
            retry_at: self.retry_at.map(|t| t.0),
            lease_until: self.lease_until.map(|t| t.0),
            last_polled_at: self.last_polled_at.0,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}
