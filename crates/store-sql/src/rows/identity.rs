//! Rows of upstream identity providers and linked identities.

use gatehouse_core::model::{IdentityProvider, IdpId, IdpKind, IdpName, LinkedIdentity};

use super::*;
use crate::schema::{identity_providers, linked_identities};

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = identity_providers)]
pub struct ProviderRow {
    pub id: DbUuid,
    pub name: String,
    pub display_name: String,
    pub kind: String,
    pub issuer: String,
    pub client_id: String,
    pub sealed_secret: Vec<u8>,
    pub scopes: String,
    pub create_users: bool,
    pub link_by_verified_email: bool,
    pub created_at: DbTime,
    pub updated_at: DbTime,
}

impl ProviderRow {
    pub fn new(p: &IdentityProvider) -> Self {
        Self {
            id: DbUuid(p.id.0),
            name: p.name.as_str().to_owned(),
            display_name: p.display_name.clone(),
            kind: p.kind.as_str().to_owned(),
            issuer: p.issuer.clone(),
            client_id: p.client_id.clone(),
            sealed_secret: p.sealed_secret.clone(),
            scopes: p.scopes.join(" "),
            create_users: p.create_users,
            link_by_verified_email: p.link_by_verified_email,
            created_at: DbTime(p.created_at),
            updated_at: DbTime(p.updated_at),
        }
    }

    pub fn into_domain(self) -> Result<IdentityProvider, StoreError> {
        let corrupt = || error::corrupt("identity provider");
        Ok(IdentityProvider {
            id: IdpId(self.id.0),
            name: IdpName::parse(&self.name).map_err(|_| corrupt())?,
            display_name: self.display_name,
            kind: IdpKind::parse(&self.kind).ok_or_else(corrupt)?,
            issuer: self.issuer,
            client_id: self.client_id,
            sealed_secret: self.sealed_secret,
            scopes: self.scopes.split_whitespace().map(str::to_owned).collect(),
            create_users: self.create_users,
            link_by_verified_email: self.link_by_verified_email,
            created_at: self.created_at.0,
            updated_at: self.updated_at.0,
        })
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = linked_identities)]
pub struct LinkRow {
    pub issuer: String,
    pub subject: String,
    pub provider_id: DbUuid,
    pub user_id: DbUuid,
    pub email: Option<String>,
    pub created_at: DbTime,
    pub last_used_at: DbTime,
}

impl LinkRow {
    pub fn new(l: &LinkedIdentity) -> Self {
        Self {
            issuer: l.issuer.clone(),
            subject: l.subject.clone(),
            provider_id: DbUuid(l.provider.0),
            user_id: DbUuid(l.user.0),
            email: l.email.clone(),
            created_at: DbTime(l.created_at),
            last_used_at: DbTime(l.last_used_at),
        }
    }

    pub fn into_domain(self) -> LinkedIdentity {
        LinkedIdentity {
            provider: IdpId(self.provider_id.0),
            issuer: self.issuer,
            subject: self.subject,
            user: UserId(self.user_id.0),
            email: self.email,
            created_at: self.created_at.0,
            last_used_at: self.last_used_at.0,
        }
    }
}

#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = crate::schema::totp_factors)]
pub struct TotpRow {
    pub user_id: DbUuid,
    pub sealed_secret: Vec<u8>,
    pub confirmed: bool,
    pub last_step: i64,
    pub created_at: DbTime,
}

impl TotpRow {
    pub fn new(f: &gatehouse_core::model::TotpFactor) -> Self {
        Self {
            user_id: DbUuid(f.user.0),
            sealed_secret: f.sealed_secret.clone(),
            confirmed: f.confirmed,
            last_step: f.last_step,
            created_at: DbTime(f.created_at),
        }
    }

    pub fn into_domain(self) -> gatehouse_core::model::TotpFactor {
        gatehouse_core::model::TotpFactor {
            user: UserId(self.user_id.0),
            sealed_secret: self.sealed_secret,
            confirmed: self.confirmed,
            last_step: self.last_step,
            created_at: self.created_at.0,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = crate::schema::recovery_codes)]
pub struct RecoveryCodeRow {
    pub user_id: DbUuid,
    pub hash: Vec<u8>,
    pub used_at: Option<DbTime>,
    pub created_at: DbTime,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::passkeys)]
pub struct PasskeyRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub credential_id: Vec<u8>,
    pub name: String,
    pub credential: String,
    pub created_at: DbTime,
    pub last_used_at: Option<DbTime>,
}

impl PasskeyRow {
    pub fn new(p: &gatehouse_core::model::PasskeyCredential) -> Self {
        Self {
            id: DbUuid(p.id.0),
            user_id: DbUuid(p.user.0),
            credential_id: p.credential_id.clone(),
            name: p.name.clone(),
            credential: p.credential.clone(),
            created_at: DbTime(p.created_at),
            last_used_at: p.last_used_at.map(DbTime),
        }
    }

    pub fn into_domain(self) -> gatehouse_core::model::PasskeyCredential {
        gatehouse_core::model::PasskeyCredential {
            id: gatehouse_core::model::PasskeyId(self.id.0),
            user: UserId(self.user_id.0),
            credential_id: self.credential_id,
            name: self.name,
            credential: self.credential,
            created_at: self.created_at.0,
            last_used_at: self.last_used_at.map(|t| t.0),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::passkey_challenges)]
pub struct PasskeyChallengeRow {
    pub id: DbUuid,
    pub purpose: String,
    pub user_id: Option<DbUuid>,
    pub state: String,
    pub expires_at: DbTime,
}

impl PasskeyChallengeRow {
    pub fn new(c: &gatehouse_core::model::PasskeyChallenge) -> Self {
        Self {
            id: DbUuid(c.id),
            purpose: c.purpose.as_str().to_owned(),
            user_id: c.user.map(|u| DbUuid(u.0)),
            state: c.state.clone(),
            expires_at: DbTime(c.expires_at),
        }
    }

    /// `None` for a purpose this version does not know (a newer
    /// instance's row): such a challenge is simply not answerable here.
    pub fn into_domain(self) -> Option<gatehouse_core::model::PasskeyChallenge> {
        Some(gatehouse_core::model::PasskeyChallenge {
            id: self.id.0,
            purpose: gatehouse_core::model::PasskeyPurpose::parse(&self.purpose)?,
            user: self.user_id.map(|u| UserId(u.0)),
            state: self.state,
            expires_at: self.expires_at.0,
        })
    }
}
