//! Token exchange (RFC 8693).

use time::Duration;

use super::super::Gatehouse;
use super::TokenResponse;
use super::access::{AccessTokenSpec, ClaimError};
use super::request::ExchangeRequest;
use crate::error::{ErrorCode, OAuthError};
use crate::model::Client;
use crate::scope::{ScopeSet, is_protocol_scope};

/// Lifetime cap of tokens obtained by token exchange.
const EXCHANGED_TOKEN_TTL: Duration = Duration::minutes(5);

impl Gatehouse {
    /// Token exchange (RFC 8693): a protected resource (say, an MCP server)
    /// holding a user's token for itself gets a token for another resource
    /// it calls on the user's behalf — never wider than what the user
    /// granted, short-lived, naming the exchanging client in `act`, with no
    /// refresh token. The subject's grant carries over, so revoking the
    /// user's grant also kills every token derived from it.
    pub(super) async fn exchange_token(
        &self,
        client: &Client,
        request: ExchangeRequest,
    ) -> Result<TokenResponse, OAuthError> {
        const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
        let bad = |d: &'static str| OAuthError::invalid_request(d);
        if !client.is_confidential() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "token exchange needs a confidential client",
            ));
        }
        let Some(served) = client.served_resource() else {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "this client is not registered as a protected resource",
            ));
        };
        let subject = request.subject_token.expose();
        match request.subject_token_type.as_deref() {
            Some(ACCESS_TOKEN_TYPE) => {}
            Some(_) => return Err(bad("only access tokens can be exchanged")),
            None => return Err(bad("subject_token_type is required")),
        }
        if request.actor_token {
            return Err(bad(
                "actor tokens are not supported; the client is the actor",
            ));
        }
        if let Some(t) = request.requested_token_type.as_deref()
            && t != ACCESS_TOKEN_TYPE
        {
            return Err(bad("only access tokens can be issued"));
        }
        let now = self.now();
        // §2.2.2: an unacceptable subject token is invalid_request.
        let claims = self
            .decode_access_token(subject)
            .await
            .map_err(|_| bad("the subject token is not valid"))?;
        claims
            .check(&self.settings.issuer, &served, now.unix_timestamp(), 0)
            .map_err(|e| match e {
                ClaimError::Audience => {
                    bad("the subject token was not issued for this client's resource")
                }
                _ => bad("the subject token is expired or not valid"),
            })?;
        if self
            .ports
            .tokens
            .is_access_token_revoked(claims.jti, claims.grant_id)
            .await?
        {
            return Err(bad("the subject token has been revoked"));
        }
        let target_raw = match (request.resource.as_deref(), request.audience.as_deref()) {
            (Some(r), Some(a)) if r != a => {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "resource and audience name different targets",
                ));
            }
            (Some(r), _) | (None, Some(r)) => Some(r),
            (None, None) => None,
        };
        let target = match target_raw {
            Some(raw) => self.resolve_resource(raw).await?,
            None => None,
        };
        if target.as_ref().is_some_and(|t| t.uri == served) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the target is the client's own resource",
            ));
        }
        let user = match crate::model::UserId::parse(&claims.sub) {
            Some(id) => self.ports.users.get_user(id).await?,
            None => None,
        }
        .ok_or_else(|| bad("the subject token does not name a current user"))?;
        // The target must be one an administrator allowed this client, or
        // one the user approved the subject token's client for: otherwise
        // any resource sharing a scope name would be reachable.
        let target_aud = self.audience(target.as_ref().map(|t| t.uri.as_str()));
        let approved = if client.exchange_targets().contains(&target_aud.as_str()) {
            None
        } else {
            let consented = match crate::model::ClientId::parse(&claims.client_id) {
                Ok(by) => self.ports.tokens.get_consent(user.id, &by).await?,
                Err(_) => None,
            };
            let at = consented
                .map(|c| consented_at(&c.scope, target.as_ref().map(|t| t.uri.as_str())))
                .unwrap_or_default();
            if at.is_empty() {
                return Err(OAuthError::new(
                    ErrorCode::InvalidTarget,
                    "neither the user nor an administrator has allowed this client to act at that target",
                ));
            }
            Some(at)
        };
        let subject_scope = claims.scopes();
        let requested = match request.scope {
            Some(r) if !r.is_subset(&subject_scope) => {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the subject token's",
                ));
            }
            Some(r) => r,
            None => subject_scope.clone(),
        };
        let scope = self
            .grantable(&requested, client, Some(user.role), target.as_ref())
            .filter(|s| !is_protocol_scope(s) && approved.as_ref().is_none_or(|a| a.contains(s)));
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(
                "none of the subject token's scopes is allowed for the target and this client",
            ));
        }
        let remaining = Duration::seconds(claims.exp - now.unix_timestamp());
        let ttl = EXCHANGED_TOKEN_TTL.min(remaining);
        let mut act = serde_json::json!({ "sub": client.id.as_str() });
        if let Some(prior) = claims.act {
            act["act"] = prior;
        }
        let access = self.issue_access_token(AccessTokenSpec {
            sub: &claims.sub,
            client_id: client.id.as_str(),
            scope: &scope,
            grant: claims.grant_id,
            aud: &self.audience(target.as_ref().map(|t| t.uri.as_str())),
            ttl,
            act: Some(act),
            epoch: None,
            now,
        })?;
        tracing::info!(client_id = %client.id, user = %user.id, scope = %scope, "token exchanged");
        Ok(TokenResponse {
            issued_token_type: Some(ACCESS_TOKEN_TYPE),
            ..TokenResponse::bearer(access, ttl, &scope)
        })
    }
}

/// The scopes a remembered consent covers at `resource` (`None`: the
/// platform API). Consents keep resource scopes qualified as
/// `scope@resource-uri` and the platform API's bare (see `authorize.rs`).
fn consented_at(consent: &ScopeSet, resource: Option<&str>) -> ScopeSet {
    match resource {
        Some(uri) => {
            let suffix = format!("@{uri}");
            ScopeSet::from_tokens(
                consent
                    .iter()
                    .filter_map(|s| s.strip_suffix(suffix.as_str())),
            )
        }
        None => consent.filter(|s| !s.contains('@')),
    }
}
