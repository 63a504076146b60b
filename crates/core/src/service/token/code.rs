//! The authorization-code grant (RFC 6749 §4.1.3, PKCE RFC 7636 §4.6).

use super::super::Gatehouse;
use super::super::policy::client_allows;
use super::TokenResponse;
use super::request::CodeRequest;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, Grant, GrantType, RefreshFamily};
use crate::ports::CodeRedemption;
use crate::scope::OPENID;
use crate::secret::{Secret, TokenHash};

impl Gatehouse {
    pub(super) async fn redeem_code(
        &self,
        client: &Client,
        request: CodeRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let code = request.code.expose();
        let redirect_uri = request.redirect_uri.as_deref();
        let verifier = request.code_verifier.as_ref().map(Secret::expose);
        let resource = self
            .resolve_resource_opt(request.resource.as_deref())
            .await?;
        let now = self.now();
        let code = match self.ports.tokens.take_code(&TokenHash::of(code)).await? {
            CodeRedemption::Redeemed(code) => *code,
            CodeRedemption::Replayed(grant) => {
                // RFC 6749 §4.1.2 / RFC 9700 §4.5: a replayed code means it
                // leaked; revoke everything the first redemption issued.
                self.ports.tokens.revoke_grant(grant, now).await?;
                self.publish_grant_revocation(grant, "code_replay").await;
                tracing::warn!(client_id = %client.id, grant = %grant, "authorization code replayed; grant revoked");
                self.audit(
                    AuditEvent::new(AuditKind::GrantRevoked, now)
                        .client(&client.id)
                        .detail("grant", grant.to_string())
                        .detail("reason", "code_replay"),
                )
                .await;
                return Err(OAuthError::invalid_grant(
                    "authorization code has already been used",
                ));
            }
            CodeRedemption::Unknown => {
                return Err(OAuthError::invalid_grant(
                    "authorization code is invalid or expired",
                ));
            }
        };
        if code.client_id != client.id {
            return Err(OAuthError::invalid_grant(
                "authorization code was issued to another client",
            ));
        }
        if code.expires_at <= now {
            return Err(OAuthError::invalid_grant("authorization code has expired"));
        }
        if code.redirect_uri.as_deref() != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri must be identical to the one sent to the authorization endpoint",
            ));
        }
        match (&code.challenge, verifier) {
            (Some(challenge), Some(v)) => match challenge.verify(v) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(OAuthError::invalid_grant(
                        "code_verifier does not match the code_challenge",
                    ));
                }
                Err(e) => return Err(OAuthError::invalid_request(e.to_string())),
            },
            (Some(_), None) => {
                return Err(OAuthError::invalid_request("code_verifier is required"));
            }
            // OAuth 2.1 §4.1.3: a verifier without a challenge is an attack
            // (PKCE downgrade), not a harmless extra.
            (None, Some(_)) => {
                return Err(OAuthError::invalid_grant(
                    "no code_challenge was sent with this authorization",
                ));
            }
            (None, None) => {}
        }
        // RFC 8707 §2.2: the token request may repeat the resource, but not
        // name another one.
        if request.resource.is_some() && resource.as_ref().map(|r| &r.uri) != code.resource.as_ref()
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "resource differs from the one authorized",
            ));
        }
        // The user may have lost access since approving.
        let user = self
            .ports
            .users
            .get_user(code.user_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
        let scope = code
            .scope
            .filter(|s| client_allows(client, s) && user.role.permits(s));
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(
                "nothing grantable remains of the approved scope",
            ));
        }
        let grant = Grant {
            id: code.grant_id,
            client_id: client.id.clone(),
            user_id: user.id,
            scope: scope.clone(),
            resource: code.resource.clone(),
            created_at: now,
            revoked_at: None,
            last_used_at: Some(now),
        };
        // Refresh tokens go to clients registered for the refresh grant,
        // whether or not they asked for offline_access (see scope.rs).
        let refresh = client
            .may_use(GrantType::RefreshToken)
            .then(|| self.refresh_keys().mint(grant.id, 1));
        let record = refresh.as_ref().map(|r| {
            RefreshFamily::issued(grant.id, 1, r.hash(), now, self.settings.refresh_token_ttl)
        });
        self.ports.tokens.create_grant(&grant, record).await?;
        tracing::info!(client_id = %client.id, user = %user.id, scope = %scope, "authorization code redeemed");
        let mut response = self.grant_tokens(client, &grant, &scope, refresh, now)?;
        if let Some(sign_in) = code.sign_in.as_ref().filter(|_| scope.contains(OPENID)) {
            response.id_token = Some(self.issue_id_token(
                client,
                &user,
                sign_in,
                &response.access_token,
                &scope,
                now,
            )?);
        }
        Ok(response)
    }
}
