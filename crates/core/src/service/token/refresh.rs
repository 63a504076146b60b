//! The refresh-token grant (RFC 6749 §6): every use rotates (RFC 9700
//! §4.14), one conditional write of the family's record (issue 16; the
//! token format is in [`crate::refresh`]).

use super::super::Gatehouse;
use super::super::policy::client_allows;
use super::TokenResponse;
use super::request::RefreshRequest;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, RefreshFamily};
use crate::ports::Rotation;

impl Gatehouse {
    pub(super) async fn refresh(
        &self,
        client: &Client,
        request: RefreshRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let keys = self.refresh_keys();
        let presented = keys.read(request.refresh_token.expose());
        let requested = request.scope;
        let resource = self
            .resolve_resource_opt(request.resource.as_deref())
            .await?;
        let now = self.now();
        let invalid = || OAuthError::invalid_grant("refresh token is invalid, expired or revoked");
        // Check ownership before rotating, so another client presenting a
        // stolen token cannot burn (or trigger revocation of) the family.
        let mut seen = self
            .ports
            .tokens
            .find_refresh(&presented)
            .await?
            .ok_or_else(invalid)?;
        let grant = seen.2.clone();
        if grant.client_id != client.id {
            return Err(invalid());
        }
        // One resource per grant: a refresh may repeat it, never switch.
        if request.resource.is_some()
            && resource.as_ref().map(|r| &r.uri) != grant.resource.as_ref()
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "a refresh cannot change the resource of the grant",
            ));
        }
        if let Some(uri) = &grant.resource
            && self
                .ports
                .resources
                .get_resource_by_uri(uri)
                .await?
                .is_none()
        {
            return Err(OAuthError::invalid_grant(
                "the grant's resource is no longer registered",
            ));
        }
        let user = self
            .ports
            .users
            .get_user(grant.user_id)
            .await?
            .ok_or_else(invalid)?;
        // RFC 6749 §6: a refresh may narrow the scope, never widen it.
        let scope = match requested {
            Some(req) if !req.is_subset(&grant.scope) => {
                return Err(OAuthError::invalid_scope(
                    "a refresh cannot add scopes beyond the original grant",
                ));
            }
            Some(req) => req,
            None => grant.scope.clone(),
        }
        .filter(|s| client_allows(client, s) && user.role.permits(s));
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(
                "nothing grantable remains of the requested scope",
            ));
        }
        // The next generation after the one read; if the family moved on
        // meanwhile (a racing refresh), read it again once: the presented
        // token is then the just-rotated one (a grace replay, or reuse).
        let mut generation = seen.0.generation + 1;
        let mut attempts = 0;
        let (grant, next) = loop {
            attempts += 1;
            let next = keys.mint(grant.id, generation);
            let record = RefreshFamily::issued(
                grant.id,
                generation,
                next.hash(),
                now,
                self.settings.refresh_token_ttl,
            );
            match self
                .ports
                .tokens
                .rotate_refresh(
                    &presented,
                    Some(seen.clone()),
                    &record,
                    now,
                    self.settings.refresh_grace,
                )
                .await?
            {
                Rotation::Rotated { grant, .. } => break (grant, next),
                Rotation::Stale if attempts < 3 => {
                    seen = self
                        .ports
                        .tokens
                        .find_refresh(&presented)
                        .await?
                        .ok_or_else(invalid)?;
                    generation = seen.0.generation + 1;
                }
                Rotation::Stale => return Err(invalid()),
                Rotation::Reused(id) => {
                    self.ports.observer.refresh_reuse_detected();
                    self.publish_grant_revocation(id, "reuse_detected").await;
                    self.audit(
                        AuditEvent::new(AuditKind::RefreshReuseDetected, now)
                            .client(&client.id)
                            .detail("grant", id.to_string()),
                    )
                    .await;
                    tracing::warn!(client_id = %client.id, grant = %id, "refresh token reused; family revoked");
                    return Err(OAuthError::invalid_grant(
                        "refresh token was already used; the grant is revoked",
                    ));
                }
                Rotation::Invalid => return Err(invalid()),
            }
        };
        self.grant_tokens(client, &grant, &scope, Some(next), now)
    }
}
