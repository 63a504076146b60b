//! Rows of the directory: clients, users, organizations, memberships and
//! invitations.

use super::*;

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
