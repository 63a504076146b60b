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
    RefreshFamily, Resource, ResourceId, Revocation, RevokedSubject, Role, Session, SignInContext,
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

mod identity;
mod people;
mod signals;
mod tokens;

pub use identity::*;
pub use people::*;
pub use signals::*;
pub use tokens::*;

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
        ConsentRow => Consent, SessionRow => Session,
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
