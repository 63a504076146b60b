//! Token introspection (RFC 7662).

use super::super::Gatehouse;
use super::access::AccessClaims;
use crate::error::OAuthError;
use crate::model::{Client, RefreshStanding};
use crate::params::Params;

impl Gatehouse {
    /// Whether an `aud` is still something tokens may be for: the platform
    /// API or a registered resource (deleting a resource ends its tokens).
    async fn audience_exists(&self, aud: &str) -> Result<bool, OAuthError> {
        if aud == self.settings.api_audience {
            return Ok(true);
        }
        Ok(self
            .ports
            .resources
            .get_resource_by_uri(aud)
            .await?
            .is_some())
    }

    /// Whether a platform token's sign-in epoch is still its user's; true
    /// for every other token (their grants carry revocation instead).
    pub(crate) async fn platform_token_current(
        &self,
        claims: &AccessClaims,
    ) -> Result<bool, OAuthError> {
        if claims.client_id != crate::service::PLATFORM_CLIENT_ID {
            return Ok(true);
        }
        let Some(id) = crate::model::UserId::parse(&claims.sub) else {
            return Ok(false);
        };
        Ok(self
            .ports
            .users
            .get_user(id)
            .await?
            .is_some_and(|u| u.sign_in_epoch == claims.epoch.unwrap_or(0)))
    }

    /// Token introspection (RFC 7662) for resource servers holding a client
    /// credential. Inactive, unknown, expired and revoked tokens all answer
    /// `{"active": false}` and nothing else (§2.2), so the endpoint tells a
    /// prober nothing.
    ///
    /// # Errors
    /// `invalid_client` for public clients (they cannot authenticate);
    /// `invalid_request` without `token`.
    #[tracing::instrument(level = "info", skip_all, fields(client_id = %client.id))]
    pub async fn introspect(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<serde_json::Value, OAuthError> {
        // Introspection reveals who holds a token: only clients an admin
        // registered (resource servers) may ask, never self-registered ones.
        if !client.is_confidential() || client.origin != crate::model::ClientOrigin::Admin {
            return Err(OAuthError::invalid_client(
                "introspection requires a confidential client registered by an administrator",
            ));
        }
        let token = params.require("token")?;
        // The hint only orders lookups; unknown hints are ignored (§2.1).
        let hint = params.get("token_type_hint")?;
        let inactive = serde_json::json!({ "active": false });
        let now = self.now();
        if hint != Some("refresh_token")
            && let Ok(claims) = self.decode_access_token(token).await
        {
            let revoked = self
                .ports
                .tokens
                .is_access_token_revoked(claims.jti, claims.grant_id)
                .await?;
            if revoked
                || claims.exp <= now.unix_timestamp()
                || !self.audience_exists(&claims.aud).await?
                || !self.platform_token_current(&claims).await?
            {
                return Ok(inactive);
            }
            if let Ok(id) = crate::model::ClientId::parse(&claims.client_id) {
                self.usage.record(&id, claims.grant_id, now);
            }
            let mut out = serde_json::json!({
                "active": true,
                "scope": claims.scope,
                "client_id": claims.client_id,
                "sub": claims.sub,
                "aud": claims.aud,
                "exp": claims.exp,
                "iat": claims.iat,
                "iss": claims.iss,
                "jti": claims.jti,
                "token_type": "Bearer",
            });
            if let Some(act) = claims.act {
                out["act"] = act;
            }
            return Ok(out);
        }
        if let Some((rt, standing, grant)) = self
            .ports
            .tokens
            .find_refresh(&self.refresh_keys().read(token))
            .await?
        {
            let aud = self.audience(grant.resource.as_deref());
            if standing != RefreshStanding::Current
                || rt.expires_at <= now
                || !grant.is_active()
                || !self.audience_exists(&aud).await?
            {
                return Ok(inactive);
            }
            return Ok(serde_json::json!({
                "active": true,
                "scope": grant.scope.to_string(),
                "client_id": grant.client_id.as_str(),
                "sub": grant.user_id.to_string(),
                "aud": self.audience(grant.resource.as_deref()),
                "exp": rt.expires_at.unix_timestamp(),
                "iat": rt.issued_at.unix_timestamp(),
                "iss": self.settings.issuer,
                "token_type": "refresh_token",
            }));
        }
        Ok(inactive)
    }
}
