//! Token revocation (RFC 7009).

use time::{Duration, OffsetDateTime};

use super::super::Gatehouse;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::params::Params;

impl Gatehouse {
    /// RFC 7009 revocation by an authenticated client. Unknown tokens and
    /// tokens of other clients are ignored (the response is the same), so the
    /// endpoint cannot be used to probe for valid tokens.
    ///
    /// # Errors
    /// `invalid_request` without `token`; `unsupported_token_type` for hints
    /// other than `access_token` and `refresh_token`.
    #[tracing::instrument(level = "info", skip_all, fields(client_id = %client.id))]
    pub async fn revoke(&self, client: &Client, params: &Params) -> Result<(), OAuthError> {
        let token = params.require("token")?;
        let hint = params.get("token_type_hint")?;
        if let Some(h) = hint
            && h != "access_token"
            && h != "refresh_token"
        {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedTokenType,
                "token_type_hint must be access_token or refresh_token",
            ));
        }
        let now = self.now();
        // The hint only orders the lookups (RFC 7009 §2.1).
        if hint != Some("access_token") && self.revoke_refresh(client, token, now).await? {
            return Ok(());
        }
        if let Ok(claims) = self.decode_access_token(token).await {
            if claims.client_id == client.id.as_str() {
                let exp = OffsetDateTime::from_unix_timestamp(claims.exp)
                    .unwrap_or(now + Duration::days(1));
                if exp > now {
                    self.ports
                        .tokens
                        .revoke_access_token(claims.jti, exp)
                        .await?;
                    self.publish_revocation(
                        crate::model::RevokedSubject::Token { jti: claims.jti },
                        "token_revoked",
                    )
                    .await;
                }
                tracing::info!(client_id = %client.id, "access token revoked");
            }
            return Ok(());
        }
        if hint == Some("access_token") {
            self.revoke_refresh(client, token, now).await?;
        }
        Ok(())
    }

    async fn revoke_refresh(
        &self,
        client: &Client,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<bool, OAuthError> {
        match self
            .ports
            .tokens
            .find_refresh(&self.refresh_keys().read(token))
            .await?
        {
            Some((_, _, grant)) => {
                if grant.client_id == client.id {
                    self.ports.tokens.revoke_grant(grant.id, now).await?;
                    self.publish_revocation(
                        crate::model::RevokedSubject::Grant {
                            grant: grant.id,
                            user: grant.user_id,
                            client: grant.client_id.clone(),
                        },
                        "revocation",
                    )
                    .await;
                    tracing::info!(client_id = %client.id, grant = %grant.id, "refresh token revoked");
                    self.audit(
                        AuditEvent::new(AuditKind::GrantRevoked, now)
                            .user(grant.user_id)
                            .client(&client.id)
                            .detail("grant", grant.id.to_string())
                            .detail("reason", "revocation"),
                    )
                    .await;
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
