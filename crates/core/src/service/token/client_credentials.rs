//! The client-credentials grant (RFC 6749 §4.4).

use super::super::Gatehouse;
use super::TokenResponse;
use super::access::AccessTokenSpec;
use super::request::ClientCredentialsRequest;
use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::scope::is_protocol_scope;

impl Gatehouse {
    /// The client credentials grant (RFC 6749 §4.4): a machine client acting
    /// for itself. No user, no refresh token; `sub` is the client.
    pub(super) async fn client_credentials(
        &self,
        client: &Client,
        request: ClientCredentialsRequest,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.is_confidential() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client_credentials grant needs a confidential client",
            ));
        }
        let resource = self
            .resolve_resource_opt(request.resource.as_deref())
            .await?;
        let requested = match request.scope {
            Some(scope) => scope,
            None => self.default_scope(client, resource.as_ref()),
        };
        let scope = self
            .grantable(&requested, client, None, resource.as_ref())
            .filter(|s| !is_protocol_scope(s));
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(
                "none of the requested scopes is allowed for this client and resource",
            ));
        }
        let now = self.now();
        self.usage.record(&client.id, None, now);
        let access = self.issue_access_token(AccessTokenSpec {
            sub: client.id.as_str(),
            client_id: client.id.as_str(),
            scope: &scope,
            grant: None,
            aud: &self.audience(resource.as_ref().map(|r| r.uri.as_str())),
            ttl: self.settings.access_token_ttl,
            act: None,
            epoch: None,
            now,
        })?;
        tracing::info!(client_id = %client.id, scope = %scope, "client credentials token issued");
        Ok(TokenResponse::bearer(
            access,
            self.settings.access_token_ttl,
            &scope,
        ))
    }
}
