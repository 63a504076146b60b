//! Invitations to organizations: membership by consent.
//!
//! Being an org-mate lets someone read your profile, email included, so an
//! organization admin cannot make anyone a member: they invite, and the
//! invitee accepts or declines. Until then the inviter learns nothing of
//! the invitee but the id they typed. Platform admins still add directly.

use super::{Caller, Gatehouse};
use crate::error::ApiError;
use crate::model::{Invitation, Membership, OrgId, OrgRole, Organization, UserId};

const READ_ORGS: &[&str] = &["organizations", "organizations:read", "organizations:write"];
const WRITE_ORGS: &[&str] = &["organizations:write"];

impl Gatehouse {
    /// Records an invitation from `caller` (already checked to manage the
    /// organization).
    pub(crate) async fn invite(
        &self,
        caller: &Caller,
        org: OrgId,
        user: UserId,
        role: OrgRole,
    ) -> Result<Invitation, ApiError> {
        let invitation = Invitation {
            org_id: org,
            user_id: user,
            role,
            invited_by: Some(caller.user.id),
            created_at: self.now(),
        };
        self.ports.orgs.put_invitation(&invitation).await?;
        tracing::info!(org = %org, invited_by = %caller.user.id, "invitation sent");
        Ok(invitation)
    }

    /// The invitations waiting for the caller.
    ///
    /// # Errors
    /// 403 without an organizations scope.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn my_invitations(
        &self,
        caller: &Caller,
    ) -> Result<Vec<(Invitation, Organization)>, ApiError> {
        caller.require_scope(READ_ORGS)?;
        Ok(self.ports.orgs.invitations_of_user(caller.user.id).await?)
    }

    /// The caller accepts an invitation and becomes a member.
    ///
    /// # Errors
    /// 403 without `organizations:write`; 404 when there is no such
    /// invitation (or it was answered meanwhile).
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn accept_invitation(
        &self,
        caller: &Caller,
        org: &str,
    ) -> Result<(Organization, Membership), ApiError> {
        caller.require_scope(WRITE_ORGS)?;
        let org = OrgId::parse(org).ok_or(ApiError::NotFound("invitation"))?;
        let membership = self
            .ports
            .orgs
            .accept_invitation(org, caller.user.id, self.now())
            .await?
            .ok_or(ApiError::NotFound("invitation"))?;
        let organization = self
            .ports
            .orgs
            .get_org(org)
            .await?
            .ok_or(ApiError::NotFound("invitation"))?;
        tracing::info!(org = %org, user = %caller.user.id, "invitation accepted");
        Ok((organization, membership))
    }

    /// The caller declines an invitation.
    ///
    /// # Errors
    /// 403; 404 when there is no such invitation.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn decline_invitation(&self, caller: &Caller, org: &str) -> Result<(), ApiError> {
        caller.require_scope(WRITE_ORGS)?;
        let org = OrgId::parse(org).ok_or(ApiError::NotFound("invitation"))?;
        if !self
            .ports
            .orgs
            .delete_invitation(org, caller.user.id)
            .await?
        {
            return Err(ApiError::NotFound("invitation"));
        }
        Ok(())
    }

    /// The invitations to an organization nobody has answered, for its
    /// admins: who was invited (by id only) and with what role.
    ///
    /// # Errors
    /// 403 for members who do not manage it; 404 if the caller cannot see it.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn org_invitations(
        &self,
        caller: &Caller,
        org: &str,
    ) -> Result<Vec<Invitation>, ApiError> {
        caller.require_scope(READ_ORGS)?;
        let (org, role) = self.visible_org(caller, org).await?;
        if !Self::manages(caller, role) {
            return Err(ApiError::Forbidden(
                "only the organization's admins can see its invitations".into(),
            ));
        }
        Ok(self.ports.orgs.invitations_to_org(org.id).await?)
    }

    /// Withdraws an invitation.
    ///
    /// # Errors
    /// 403; 404 when there is no such invitation.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn withdraw_invitation(
        &self,
        caller: &Caller,
        org: &str,
        user: &str,
    ) -> Result<(), ApiError> {
        caller.require_scope(WRITE_ORGS)?;
        let (org, role) = self.visible_org(caller, org).await?;
        if !Self::manages(caller, role) {
            return Err(ApiError::Forbidden(
                "only the organization's admins can withdraw invitations".into(),
            ));
        }
        let user = UserId::parse(user).ok_or(ApiError::NotFound("invitation"))?;
        if !self.ports.orgs.delete_invitation(org.id, user).await? {
            return Err(ApiError::NotFound("invitation"));
        }
        Ok(())
    }
}
