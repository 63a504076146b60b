//! The platform's users and organizations, as the API exposes them.
//!
//! Two gates on every call: the token's scope (what the user let this client
//! do) and the user's own rights (membership, org role, platform admin). An
//! organization a caller cannot see is reported as missing, not forbidden,
//! except where the seed expects a clear "no access" (listing its users).

use super::{Caller, Gatehouse};
use crate::audit::{AuditEvent, AuditKind};
use crate::error::ApiError;
use crate::model::{
    Email, Membership, OrgId, OrgRole, Organization, Role, User, UserId, validate_description,
    validate_name,
};
use crate::password::Password;

const READ_USERS: &[&str] = &["users:read", "users:write"];
const WRITE_USERS: &[&str] = &["users:write"];
const READ_ORGS: &[&str] = &["organizations", "organizations:read", "organizations:write"];
const WRITE_ORGS: &[&str] = &["organizations:write"];

/// `POST /api/v1/users/`.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Email.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Initial password.
    pub password: String,
    /// Role; `user` when absent.
    pub role: Option<Role>,
    /// Whether the admin creating the account vouches for the address;
    /// `true` when absent, as before.
    pub email_verified: Option<bool>,
}

/// `PATCH /api/v1/users/{id}`.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    /// New email.
    pub email: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New password.
    pub password: Option<String>,
    /// New role (admins only).
    pub role: Option<Role>,
    /// The caller's current password: required to change one's own email or
    /// password, so a stolen token alone cannot take the account over.
    pub current_password: Option<String>,
    /// An admin vouching for the address (or withdrawing that). Without
    /// it, any change of email leaves the new address unverified.
    pub email_verified: Option<bool>,
}

/// What [`Gatehouse::put_member`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    /// The person is a member now, with this role.
    Member(Membership),
    /// The person was invited and is not a member until they accept.
    Invited(crate::model::Invitation),
}

/// `POST /api/v1/organizations/`.
#[derive(Debug, Clone)]
pub struct NewOrganization {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
}

/// `PATCH /api/v1/organizations/{id}`.
#[derive(Debug, Clone, Default)]
pub struct OrgPatch {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

impl Gatehouse {
    /// Users visible to the caller: the members of `org` (which the caller
    /// must belong to), or without `org` everyone who shares an organization
    /// with the caller (everyone, for admins).
    ///
    /// # Errors
    /// 403 `insufficient_scope` without `users:read`; 403 when the caller is
    /// not a member of `org`; 404 for an unknown organization.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn list_users(
        &self,
        caller: &Caller,
        org: Option<&str>,
    ) -> Result<Vec<User>, ApiError> {
        caller.require_scope(READ_USERS)?;
        let orgs = &self.ports.orgs;
        let users = &self.ports.users;
        if let Some(org) = org {
            let org_id = OrgId::parse(org)
                .ok_or_else(|| ApiError::BadRequest("organization_id must be a UUID".into()))?;
            if orgs.get_org(org_id).await?.is_none() {
                return Err(ApiError::NotFound("organization"));
            }
            if !caller.is_admin() && orgs.membership(org_id, caller.user.id).await?.is_none() {
                return Err(ApiError::Forbidden(
                    format!("no access to organization {org_id}").into(),
                ));
            }
            let members = orgs.member_users(org_id).await?;
            return Ok(members.into_iter().map(|(_, u)| u).collect());
        }
        if caller.is_admin() {
            return Ok(users.list_users().await?);
        }
        let mut out = orgs.org_mates(caller.user.id).await?;
        if !out.iter().any(|u| u.id == caller.user.id) {
            out.push(caller.user.clone());
            out.sort_by_key(|u| (u.created_at, u.id));
        }
        Ok(out)
    }

    /// Whether the caller may see `target`: themself, an org-mate, or admin.
    async fn can_see_user(&self, caller: &Caller, target: UserId) -> Result<bool, ApiError> {
        if caller.is_admin() || caller.user.id == target {
            return Ok(true);
        }
        for (o, _) in self.ports.orgs.orgs_of_user(caller.user.id).await? {
            if self.ports.orgs.membership(o.id, target).await?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// One user.
    ///
    /// # Errors
    /// 403 without scope; 404 if absent or not visible.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn get_user(&self, caller: &Caller, id: &str) -> Result<User, ApiError> {
        caller.require_scope(READ_USERS)?;
        let id = UserId::parse(id).ok_or(ApiError::NotFound("user"))?;
        if !self.can_see_user(caller, id).await? {
            return Err(ApiError::NotFound("user"));
        }
        self.ports
            .users
            .get_user(id)
            .await?
            .ok_or(ApiError::NotFound("user"))
    }

    /// Creates an account (admins only).
    ///
    /// # Errors
    /// 403; 409 for a taken email; 422 for invalid fields.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn create_user(&self, caller: &Caller, req: NewUser) -> Result<User, ApiError> {
        caller.require_scope(WRITE_USERS)?;
        if !caller.is_admin() {
            return Err(ApiError::Forbidden(
                "only platform administrators can create users".into(),
            ));
        }
        let email = Email::parse(&req.email)?;
        let name = validate_name(&req.name)?;
        let password = Password::new_password(req.password)?;
        let hash = self.ports.hasher.hash(password).await?;
        let now = self.now();
        let user = User {
            id: UserId::new(),
            email,
            name,
            role: req.role.unwrap_or(Role::User),
            email_verified: req.email_verified.unwrap_or(true),
            password_hash: hash,
            sign_in_epoch: 0,
            created_at: now,
            updated_at: now,
        };
        self.ports.users.insert_user(&user).await?;
        tracing::info!(user = %user.id, admin = %caller.user.id, "user created");
        self.audit(
            AuditEvent::new(AuditKind::UserCreated, self.now())
                .user(user.id)
                .ip(caller.source)
                .detail("actor", caller.user.id.to_string())
                .detail("role", user.role.as_str()),
        )
        .await;
        Ok(user)
    }

    /// Changes an account: users may change their own name, email and
    /// password; admins may change anyone's, including the role.
    ///
    /// # Errors
    /// 403; 404; 409 for a taken email; 422 for invalid fields or for
    /// demoting the last admin.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn update_user(
        &self,
        caller: &Caller,
        id: &str,
        patch: UserPatch,
    ) -> Result<User, ApiError> {
        caller.require_scope(WRITE_USERS)?;
        let target = UserId::parse(id).ok_or(ApiError::NotFound("user"))?;
        let is_self = target == caller.user.id;
        if !caller.is_admin() && !is_self {
            return Err(if self.can_see_user(caller, target).await? {
                ApiError::Forbidden("you can change only your own account".into())
            } else {
                ApiError::NotFound("user")
            });
        }
        let mut user = self
            .ports
            .users
            .get_user(target)
            .await?
            .ok_or(ApiError::NotFound("user"))?;
        if patch.email.is_some() || patch.password.is_some() {
            // Credentials are changed only through Gatehouse's own sign-in,
            // never by a third-party app holding users:write.
            if caller.claims.client_id != super::PLATFORM_CLIENT_ID {
                return Err(ApiError::Forbidden(
                    "email and password can be changed only with a token from /api/v1/auth/login"
                        .into(),
                ));
            }
            let admin_on_other = caller.is_admin() && !is_self;
            if !admin_on_other {
                let current = patch.current_password.as_deref().ok_or_else(|| {
                    ApiError::Unprocessable(
                        "current_password is required to change your email or password".into(),
                    )
                })?;
                self.confirm_password(&user, current, caller.source).await?;
            }
        }
        if patch.email_verified.is_some() && !caller.is_admin() {
            return Err(ApiError::Forbidden(
                "only platform administrators can vouch for an email address".into(),
            ));
        }
        if let Some(e) = patch.email {
            let email = Email::parse(&e)?;
            if email != user.email {
                // Nobody has shown they receive mail at the new address:
                // `email_verified` in userinfo must not vouch for it.
                user.email = email;
                user.email_verified = false;
            }
        }
        if let Some(v) = patch.email_verified {
            user.email_verified = v;
        }
        if let Some(n) = patch.name {
            user.name = validate_name(&n)?;
        }
        let password_changed = patch.password.is_some();
        if let Some(p) = patch.password {
            let p = Password::new_password(p)?;
            user.password_hash = self.ports.hasher.hash(p).await?;
            // Ends every platform token issued before (see
            // `User::sign_in_epoch`); grants and sessions go below.
            user.sign_in_epoch = user.sign_in_epoch.wrapping_add(1);
        }
        if let Some(role) = patch.role
            && role != user.role
        {
            if !caller.is_admin() {
                return Err(ApiError::Forbidden(
                    "only platform administrators can change roles".into(),
                ));
            }
            if user.role == Role::Admin && self.ports.users.count_admins().await? <= 1 {
                return Err(ApiError::Unprocessable(
                    "the last administrator cannot be demoted".into(),
                ));
            }
            user.role = role;
        }
        user.updated_at = self.now();
        self.ports.users.update_user(&user).await?;
        if password_changed {
            // Whoever knew the old password may have signed in with it or
            // approved apps: end their sessions and grants.
            let revoked = self
                .ports
                .tokens
                .revoke_user_tokens(user.id, self.now())
                .await?;
            self.publish_revocation(
                crate::model::RevokedSubject::User { user: user.id },
                "password_changed",
            )
            .await;
            tracing::info!(user = %user.id, grants = revoked, "password changed; sessions and grants revoked");
        }
        self.audit(
            AuditEvent::new(AuditKind::UserUpdated, self.now())
                .user(user.id)
                .ip(caller.source)
                .detail("actor", caller.user.id.to_string())
                .detail("password_changed", password_changed)
                .detail("role", user.role.as_str()),
        )
        .await;
        Ok(user)
    }

    /// Deletes an account and everything issued to it (admins only).
    ///
    /// # Errors
    /// 403; 404; 422 for the last admin.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn delete_user(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        caller.require_scope(WRITE_USERS)?;
        if !caller.is_admin() {
            return Err(ApiError::Forbidden(
                "only platform administrators can delete users".into(),
            ));
        }
        let target = UserId::parse(id).ok_or(ApiError::NotFound("user"))?;
        let user = self
            .ports
            .users
            .get_user(target)
            .await?
            .ok_or(ApiError::NotFound("user"))?;
        if user.role == Role::Admin && self.ports.users.count_admins().await? <= 1 {
            return Err(ApiError::Unprocessable(
                "the last administrator cannot be deleted".into(),
            ));
        }
        // An organization never loses its last owner: that would leave it
        // unmanageable by anyone but platform admins.
        for (org, role) in self.ports.orgs.orgs_of_user(target).await? {
            if role == OrgRole::Owner && self.keep_an_owner(org.id).await.is_err() {
                return Err(ApiError::Unprocessable(
                    format!(
                        "the user is the last owner of organization {}; transfer or delete it first",
                        org.id
                    )
                    .into(),
                ));
            }
        }
        self.ports.users.delete_user(target).await?;
        self.publish_revocation(
            crate::model::RevokedSubject::User { user: target },
            "user_deleted",
        )
        .await;
        tracing::info!(user = %target, admin = %caller.user.id, "user deleted");
        self.audit(
            AuditEvent::new(AuditKind::UserDeleted, self.now())
                .user(target)
                .ip(caller.source)
                .detail("actor", caller.user.id.to_string()),
        )
        .await;
        Ok(())
    }

    /// The caller's organizations with their role in each.
    ///
    /// # Errors
    /// 403 without an organizations scope.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn my_orgs(&self, caller: &Caller) -> Result<Vec<(Organization, OrgRole)>, ApiError> {
        caller.require_scope(READ_ORGS)?;
        Ok(self.ports.orgs.orgs_of_user(caller.user.id).await?)
    }

    /// Creates an organization owned by the caller.
    ///
    /// # Errors
    /// 403; 422.
    pub async fn create_org(
        &self,
        caller: &Caller,
        req: NewOrganization,
    ) -> Result<(Organization, OrgRole), ApiError> {
        caller.require_scope(WRITE_ORGS)?;
        let now = self.now();
        let org = Organization {
            id: OrgId::new(),
            name: validate_name(&req.name)?,
            description: validate_description(req.description)?,
            created_at: now,
            updated_at: now,
        };
        let owner = Membership {
            org_id: org.id,
            user_id: caller.user.id,
            role: OrgRole::Owner,
            created_at: now,
        };
        self.ports.orgs.insert_org(&org, &owner).await?;
        Ok((org, OrgRole::Owner))
    }

    /// The caller's role in `org`, or 404 if they cannot see it. Admins see
    /// every organization (with no role unless they are a member).
    pub(crate) async fn visible_org(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Organization, Option<OrgRole>), ApiError> {
        let id = OrgId::parse(id).ok_or(ApiError::NotFound("organization"))?;
        let org = self
            .ports
            .orgs
            .get_org(id)
            .await?
            .ok_or(ApiError::NotFound("organization"))?;
        let role = self.ports.orgs.membership(id, caller.user.id).await?;
        if role.is_none() && !caller.is_admin() {
            return Err(ApiError::NotFound("organization"));
        }
        Ok((org, role))
    }

    /// One organization.
    ///
    /// # Errors
    /// 403 without scope; 404.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn get_org(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(Organization, Option<OrgRole>), ApiError> {
        caller.require_scope(READ_ORGS)?;
        self.visible_org(caller, id).await
    }

    pub(crate) fn manages(caller: &Caller, role: Option<OrgRole>) -> bool {
        caller.is_admin() || role.is_some_and(|r| r >= OrgRole::Admin)
    }

    /// Changes an organization (its admins and owners, or platform admins).
    ///
    /// # Errors
    /// 403; 404; 422.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn update_org(
        &self,
        caller: &Caller,
        id: &str,
        patch: OrgPatch,
    ) -> Result<(Organization, Option<OrgRole>), ApiError> {
        caller.require_scope(WRITE_ORGS)?;
        let (mut org, role) = self.visible_org(caller, id).await?;
        if !Self::manages(caller, role) {
            return Err(ApiError::Forbidden(
                "only the organization's admins can change it".into(),
            ));
        }
        if let Some(n) = patch.name {
            org.name = validate_name(&n)?;
        }
        if let Some(d) = patch.description {
            org.description = validate_description(Some(d))?;
        }
        org.updated_at = self.now();
        self.ports.orgs.update_org(&org).await?;
        Ok((org, role))
    }

    /// Deletes an organization (its owners, or platform admins).
    ///
    /// # Errors
    /// 403; 404.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn delete_org(&self, caller: &Caller, id: &str) -> Result<(), ApiError> {
        caller.require_scope(WRITE_ORGS)?;
        let (org, role) = self.visible_org(caller, id).await?;
        if !(caller.is_admin() || role == Some(OrgRole::Owner)) {
            return Err(ApiError::Forbidden(
                "only the organization's owners can delete it".into(),
            ));
        }
        self.ports.orgs.delete_org(org.id).await?;
        Ok(())
    }

    /// The members of an organization the caller can see.
    ///
    /// # Errors
    /// 403; 404.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn org_members(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<Vec<(Membership, User)>, ApiError> {
        caller.require_scope(READ_ORGS)?;
        let (org, _) = self.visible_org(caller, id).await?;
        Ok(self.ports.orgs.member_users(org.id).await?)
    }

    /// Changes a member's role, or brings someone in: platform admins add
    /// them directly, everyone else invites them (see
    /// [`crate::model::Invitation`]). Only owners may make owners.
    ///
    /// # Errors
    /// 403; 404 for an unknown organization or user; 422 for removing the
    /// last owner through a role change.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn put_member(
        &self,
        caller: &Caller,
        id: &str,
        user_id: &str,
        role: OrgRole,
    ) -> Result<MemberChange, ApiError> {
        caller.require_scope(WRITE_ORGS)?;
        let (org, my_role) = self.visible_org(caller, id).await?;
        if !Self::manages(caller, my_role) {
            return Err(ApiError::Forbidden(
                "only the organization's admins can manage members".into(),
            ));
        }
        if role == OrgRole::Owner && !(caller.is_admin() || my_role == Some(OrgRole::Owner)) {
            return Err(ApiError::Forbidden(
                "only owners can make someone an owner".into(),
            ));
        }
        let user = UserId::parse(user_id).ok_or(ApiError::NotFound("user"))?;
        if self.ports.users.get_user(user).await?.is_none() {
            return Err(ApiError::NotFound("user"));
        }
        let current = self.ports.orgs.membership(org.id, user).await?;
        if current.is_none() && !caller.is_admin() {
            return self
                .invite(caller, org.id, user, role)
                .await
                .map(MemberChange::Invited);
        }
        if current == Some(OrgRole::Owner) && role != OrgRole::Owner {
            if !(caller.is_admin() || my_role == Some(OrgRole::Owner)) {
                return Err(ApiError::Forbidden(
                    "only owners can demote an owner".into(),
                ));
            }
            self.keep_an_owner(org.id).await?;
        }
        let m = Membership {
            org_id: org.id,
            user_id: user,
            role,
            created_at: self.now(),
        };
        self.ports.orgs.put_member(&m).await?;
        // A direct add answers any invitation that was pending.
        self.ports.orgs.delete_invitation(org.id, user).await?;
        Ok(MemberChange::Member(m))
    }

    /// Removes a member; anyone may leave, admins may remove others. The last
    /// owner cannot leave.
    ///
    /// # Errors
    /// 403; 404; 422.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn remove_member(
        &self,
        caller: &Caller,
        id: &str,
        user_id: &str,
    ) -> Result<(), ApiError> {
        caller.require_scope(WRITE_ORGS)?;
        let (org, my_role) = self.visible_org(caller, id).await?;
        let user = UserId::parse(user_id).ok_or(ApiError::NotFound("member"))?;
        if user != caller.user.id && !Self::manages(caller, my_role) {
            return Err(ApiError::Forbidden(
                "only the organization's admins can remove members".into(),
            ));
        }
        match self.ports.orgs.membership(org.id, user).await? {
            None => return Err(ApiError::NotFound("member")),
            Some(OrgRole::Owner) => {
                if !(caller.is_admin() || my_role == Some(OrgRole::Owner)) {
                    return Err(ApiError::Forbidden(
                        "only owners can remove an owner".into(),
                    ));
                }
                self.keep_an_owner(org.id).await?;
            }
            Some(_) => {}
        }
        self.ports.orgs.remove_member(org.id, user).await?;
        Ok(())
    }

    async fn keep_an_owner(&self, org: OrgId) -> Result<(), ApiError> {
        let owners = self
            .ports
            .orgs
            .members(org)
            .await?
            .iter()
            .filter(|m| m.role == OrgRole::Owner)
            .count();
        if owners <= 1 {
            return Err(ApiError::Unprocessable(
                "an organization must keep at least one owner".into(),
            ));
        }
        Ok(())
    }
}
