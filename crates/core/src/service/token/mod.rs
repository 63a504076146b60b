//! The token endpoint (RFC 6749 §3.2): the request is read once into a
//! typed [`TokenRequest`] (one variant per grant), the client's right to
//! the grant is checked, and the grant's own module answers. Access tokens
//! themselves (RFC 9068) live in `access.rs`, client authentication in
//! `client_auth.rs`, revocation (RFC 7009) and introspection (RFC 7662)
//! in their own files.

mod access;
mod client_auth;
mod client_credentials;
mod code;
mod exchange;
mod introspection;
mod refresh;
mod request;
mod revocation;

use std::fmt;

use serde::Serialize;
use time::Duration;

pub(crate) use access::AccessTokenSpec;
pub use access::{AccessClaims, ClaimError};
pub use client_auth::ClientCredentials;
pub(crate) use request::resource as request_resource;
pub use request::{
    ClientCredentialsRequest, CodeRequest, ExchangeRequest, RefreshRequest, TokenRequest,
};

use super::Gatehouse;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, GrantType};
use crate::params::Params;
use crate::scope::ScopeSet;
use crate::secret::Secret;

/// A successful token response (RFC 6749 §5.1).
#[derive(Clone, Serialize)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// The rotated or new refresh token.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_secret")]
    pub refresh_token: Option<Secret>,
    /// Granted scopes.
    pub scope: String,
    /// RFC 8693: the type of the issued token (token exchange only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
    /// OpenID Connect: the ID token, when a code issued for scope `openid`
    /// is redeemed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

fn ser_secret<S: serde::Serializer>(v: &Option<Secret>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(secret) => s.serialize_str(secret.expose()),
        None => s.serialize_none(),
    }
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenResponse {
    /// The response every grant gives: a Bearer access token living `ttl`,
    /// the granted scope, and whatever else the grant adds.
    pub(crate) fn bearer(access_token: String, ttl: Duration, scope: &ScopeSet) -> Self {
        Self {
            access_token,
            token_type: "Bearer",
            expires_in: ttl.whole_seconds(),
            refresh_token: None,
            scope: scope.to_string(),
            issued_token_type: None,
            id_token: None,
        }
    }
}

impl Gatehouse {
    /// Handles a token request whose client has already been authenticated:
    /// reads the grant type, checks the client may use it, reads the rest
    /// of the request for that grant, and answers.
    ///
    /// # Errors
    /// The RFC 6749 §5.2 error for the request.
    #[tracing::instrument(level = "info", skip_all, fields(client_id = %client.id, grant_type = tracing::field::Empty))]
    pub async fn token(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<TokenResponse, OAuthError> {
        let grant = match params.get("grant_type")? {
            Some(g) => GrantType::parse(g).ok_or_else(|| {
                OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!("grant_type '{}' is not supported", truncate(g)),
                )
            })?,
            None => {
                return Err(OAuthError::invalid_request(
                    "parameter 'grant_type' is required",
                ));
            }
        };
        tracing::Span::current().record("grant_type", grant.as_str());
        // Refresh follows the code grant: a client registered for codes may
        // always redeem the refresh tokens it was given.
        let permitted = client.may_use(grant)
            || (grant == GrantType::RefreshToken && client.may_use(GrantType::AuthorizationCode));
        if !permitted {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                format!(
                    "this client is not registered for the {} grant",
                    grant.as_str()
                ),
            ));
        }
        let request = TokenRequest::parse(grant, params)?;
        self.token_request(client, request).await
    }

    /// Answers a parsed token request for an authenticated client that may
    /// use its grant (as [`Gatehouse::token`] checked).
    ///
    /// # Errors
    /// The RFC 6749 §5.2 error for the request.
    pub async fn token_request(
        &self,
        client: &Client,
        request: TokenRequest,
    ) -> Result<TokenResponse, OAuthError> {
        let grant = request.grant_type();
        let answer = match request {
            TokenRequest::AuthorizationCode(r) => self.redeem_code(client, r).await,
            TokenRequest::RefreshToken(r) => self.refresh(client, r).await,
            TokenRequest::ClientCredentials(r) => self.client_credentials(client, r).await,
            TokenRequest::TokenExchange(r) => self.exchange_token(client, r).await,
        };
        if answer.is_ok() {
            self.ports.observer.token_issued(grant);
        }
        answer
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
