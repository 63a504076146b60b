//! People, their roles, and the organizations they belong to.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{Email, OrgId, UserId};
use crate::scope::{ADMIN_SCOPE, ScopeSet};

/// A platform-wide role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May administer clients and every account.
    Admin,
    /// An ordinary account.
    User,
}

impl Role {
    /// The scopes a token for someone with this role may ever carry.
    pub fn permitted_scopes(self) -> ScopeSet {
        let all = ScopeSet::all_known();
        match self {
            Role::Admin => all,
            Role::User => ScopeSet::from_tokens(all.iter().filter(|s| *s != ADMIN_SCOPE)),
        }
    }

    /// Whether someone with this role may hold `scope` (any scope, known or
    /// defined by a resource, except `admin` for non-admins).
    pub fn permits(self, scope: &str) -> bool {
        self == Role::Admin || scope != ADMIN_SCOPE
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "user" => Some(Role::User),
            _ => None,
        }
    }
}

/// An argon2id PHC string. Not secret in the way a token is, but still kept
/// out of `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    /// What an account without a password stores (one created through an
    /// upstream identity provider): not a PHC string, so no password ever
    /// verifies against it.
    pub const NONE: &'static str = "!none";

    /// The hash of an account that has no password.
    pub fn none() -> Self {
        Self(Self::NONE.to_owned())
    }

    /// Whether a password can sign in to this account at all.
    pub fn is_usable(&self) -> bool {
        self.0 != Self::NONE
    }
}

/// A platform user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Stable identifier; the token `sub`.
    pub id: UserId,
    /// Unique, normalized address.
    pub email: Email,
    /// Display name.
    pub name: String,
    /// Platform role.
    pub role: Role,
    /// Whether the address has been confirmed; accounts created by an admin
    /// are trusted as confirmed.
    pub email_verified: bool,
    /// argon2id hash of the password.
    pub password_hash: PasswordHash,
    /// Bumped whenever every earlier sign-in must end (a password change):
    /// platform tokens carry the epoch they were issued in, and one from an
    /// earlier epoch is refused, though its signature and expiry are fine.
    pub sign_in_epoch: u32,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A user's role inside one organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgRole {
    /// Plain member: reads.
    Member,
    /// Manages members and settings.
    Admin,
    /// Manages everything, including deletion.
    Owner,
}

impl OrgRole {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Owner => "owner",
            OrgRole::Admin => "admin",
            OrgRole::Member => "member",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "owner" => Some(OrgRole::Owner),
            "admin" => Some(OrgRole::Admin),
            "member" => Some(OrgRole::Member),
            _ => None,
        }
    }
}

/// An organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    /// Identifier.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
    /// Last change.
    pub updated_at: OffsetDateTime,
}

/// A user's membership in an organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Membership {
    /// The organization.
    pub org_id: OrgId,
    /// The member.
    pub user_id: UserId,
    /// Their role there.
    pub role: OrgRole,
    /// When they joined.
    pub created_at: OffsetDateTime,
}

/// An invitation to join an organization, waiting for the invitee.
///
/// Membership lets org-mates read each other's profile (email included), so
/// nobody is made a member without agreeing: until they accept, the
/// invitation grants nothing and the inviter sees nothing of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Invitation {
    /// The organization.
    pub org_id: OrgId,
    /// The person invited.
    pub user_id: UserId,
    /// The role they will have once they accept.
    pub role: OrgRole,
    /// Who invited them, while that account exists.
    pub invited_by: Option<UserId>,
    /// When.
    pub created_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_admins_may_hold_the_admin_scope() {
        assert!(Role::Admin.permitted_scopes().contains("admin"));
        assert!(!Role::User.permitted_scopes().contains("admin"));
        assert!(Role::User.permitted_scopes().contains("users:read"));
    }
}
