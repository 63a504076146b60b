//! Rows of what authorization issues: codes, grants, refresh tokens,
//! consents, sessions, signing keys, and the resources tokens are for.

use super::*;

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

/// A rotated legacy refresh token (issued before generations existed),
/// kept until it would have expired so its reuse is recognised.
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

/// A grant's refresh family, as its columns of `grants`.
#[derive(Queryable, Selectable, AsChangeset, Insertable)]
#[diesel(table_name = grants, treat_none_as_null = true)]
pub struct FamilyRow {
    pub refresh_generation: Option<i64>,
    pub refresh_hash: Option<Vec<u8>>,
    pub refresh_issued_at: Option<DbTime>,
    pub refresh_expires_at: Option<DbTime>,
    pub refresh_previous: Option<Vec<u8>>,
    pub refresh_rotated_at: Option<DbTime>,
    pub refresh_grace_used: bool,
}

impl FamilyRow {
    pub fn new(f: &RefreshFamily) -> Self {
        Self {
            refresh_generation: Some(i64::try_from(f.generation).unwrap_or(i64::MAX)),
            refresh_hash: Some(hash_bytes(&f.current)),
            refresh_issued_at: Some(DbTime(f.issued_at)),
            refresh_expires_at: Some(DbTime(f.expires_at)),
            refresh_previous: f.previous.as_ref().map(hash_bytes),
            refresh_rotated_at: f.rotated_at.map(DbTime),
            refresh_grace_used: f.grace_used,
        }
    }

    /// No family: the grant has no refresh token (or it expired and was
    /// purged).
    pub fn none() -> Self {
        Self {
            refresh_generation: None,
            refresh_hash: None,
            refresh_issued_at: None,
            refresh_expires_at: None,
            refresh_previous: None,
            refresh_rotated_at: None,
            refresh_grace_used: false,
        }
    }

    pub fn into_domain(self, grant: GrantId) -> Result<Option<RefreshFamily>, StoreError> {
        let (Some(generation), Some(current), Some(issued_at), Some(expires_at)) = (
            self.refresh_generation,
            self.refresh_hash,
            self.refresh_issued_at,
            self.refresh_expires_at,
        ) else {
            return Ok(None);
        };
        Ok(Some(RefreshFamily {
            grant_id: grant,
            generation: u64::try_from(generation).map_err(|_| error::corrupt("refresh family"))?,
            current: hash_of(&current, "refresh token")?,
            issued_at: issued_at.0,
            expires_at: expires_at.0,
            previous: self
                .refresh_previous
                .map(|h| hash_of(&h, "refresh token"))
                .transpose()?,
            rotated_at: time_of(self.refresh_rotated_at),
            grace_used: self.refresh_grace_used,
        }))
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
