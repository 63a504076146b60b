//! Access tokens (RFC 9068): their claims, the checks every consumer makes,
//! and Gatehouse's own signing and verification.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::super::Gatehouse;
use super::TokenResponse;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, Grant, GrantId};
use crate::scope::ScopeSet;
use crate::secret::{Secret, TokenHash};

/// The claims of a Gatehouse access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// The user (or, for machine tokens, the client).
    pub sub: String,
    /// The resource the token is for.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Unique id, for revocation.
    pub jti: Uuid,
    /// The client it was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The grant it came from; revoking the grant revokes the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_id: Option<GrantId>,
    /// RFC 8693 §4.1: the party acting on the subject's behalf.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<serde_json::Value>,
    /// Not-before, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// On platform tokens (`POST /api/v1/auth/login`): the user's
    /// [`crate::model::User::sign_in_epoch`] at issue. A password change
    /// moves the epoch on, which ends every platform token issued before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u32>,
}

/// Why valid-looking claims are not acceptable here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// Another issuer.
    #[error("the token is from another issuer")]
    Issuer,
    /// Meant for another resource.
    #[error("the token is not meant for this resource")]
    Audience,
    /// Past `exp`.
    #[error("the token has expired")]
    Expired,
    /// Before `nbf`, or issued in the future.
    #[error("the token is not valid yet")]
    NotYetValid,
}

impl AccessClaims {
    /// The checks every consumer of an access token makes, Gatehouse's own
    /// endpoints and resource servers alike: issuer, audience, and time
    /// with `leeway` seconds of tolerated clock skew.
    ///
    /// # Errors
    /// The first check that fails.
    pub fn check(
        &self,
        issuer: &str,
        audience: &str,
        now: i64,
        leeway: i64,
    ) -> Result<(), ClaimError> {
        if self.iss != issuer {
            return Err(ClaimError::Issuer);
        }
        if self.aud != audience {
            return Err(ClaimError::Audience);
        }
        if self.exp + leeway <= now {
            return Err(ClaimError::Expired);
        }
        if self.nbf.unwrap_or(self.iat) - leeway > now {
            return Err(ClaimError::NotYetValid);
        }
        Ok(())
    }

    /// The token's scopes.
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope).unwrap_or_default()
    }
}

/// What goes into one access token.
#[derive(Debug)]
pub(crate) struct AccessTokenSpec<'a> {
    pub sub: &'a str,
    pub client_id: &'a str,
    pub scope: &'a ScopeSet,
    pub grant: Option<GrantId>,
    pub aud: &'a str,
    pub ttl: Duration,
    pub act: Option<serde_json::Value>,
    /// The user's sign-in epoch, on platform tokens only.
    pub epoch: Option<u32>,
    pub now: OffsetDateTime,
}

impl Gatehouse {
    /// The answer to a code redemption or a refresh: an access token for
    /// the user behind `grant`, bound to its resource, and the refresh
    /// token issued with it, if any.
    pub(crate) fn grant_tokens(
        &self,
        client: &Client,
        grant: &Grant,
        scope: &ScopeSet,
        refresh_token: Option<Secret>,
        now: OffsetDateTime,
    ) -> Result<TokenResponse, OAuthError> {
        self.usage.record(&client.id, Some(grant.id), now);
        let access = self.issue_access_token(AccessTokenSpec {
            sub: &grant.user_id.to_string(),
            client_id: client.id.as_str(),
            scope,
            grant: Some(grant.id),
            aud: &self.audience(grant.resource.as_deref()),
            ttl: self.settings.access_token_ttl,
            act: None,
            epoch: None,
            now,
        })?;
        Ok(TokenResponse {
            refresh_token,
            ..TokenResponse::bearer(access, self.settings.access_token_ttl, scope)
        })
    }

    /// Signs an access token.
    pub(crate) fn issue_access_token(
        &self,
        spec: AccessTokenSpec<'_>,
    ) -> Result<String, OAuthError> {
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: spec.sub.to_owned(),
            aud: spec.aud.to_owned(),
            exp: (spec.now + spec.ttl).unix_timestamp(),
            iat: spec.now.unix_timestamp(),
            jti: Uuid::new_v4(),
            client_id: spec.client_id.to_owned(),
            scope: spec.scope.to_string(),
            grant_id: spec.grant,
            act: spec.act,
            nbf: None,
            epoch: spec.epoch,
        };
        self.keyring()
            .sign(&claims)
            .map_err(|e| OAuthError::server_error(&e))
    }

    /// Checks an access token presented to one of Gatehouse's own endpoints:
    /// signature, issuer, audience, expiry, and revocation.
    ///
    /// # Errors
    /// `invalid_token` with a reason safe to show the caller.
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, OAuthError> {
        self.verify_access_token_for(token, |_| false).await
    }

    /// As [`Gatehouse::verify_access_token`], but a token whose claims
    /// `also` accepts may be for another audience (userinfo takes the
    /// access token of any OpenID Connect request, whatever its resource).
    pub(crate) async fn verify_access_token_for(
        &self,
        token: &str,
        also: impl Fn(&AccessClaims) -> bool,
    ) -> Result<AccessClaims, OAuthError> {
        let claims = self.decode_access_token(token).await?;
        let invalid = |d: &'static str| OAuthError::new(ErrorCode::InvalidToken, d);
        let audience = if also(&claims) {
            claims.aud.as_str()
        } else {
            self.settings.api_audience.as_str()
        };
        // Gatehouse issued the token with its own clock: no leeway.
        claims
            .check(
                &self.settings.issuer,
                audience,
                self.now().unix_timestamp(),
                0,
            )
            .map_err(|e| OAuthError::new(ErrorCode::InvalidToken, e.to_string()))?;
        if self
            .ports
            .tokens
            .is_access_token_revoked(claims.jti, claims.grant_id)
            .await?
        {
            return Err(invalid("the access token has been revoked"));
        }
        Ok(claims)
    }

    /// Signature and issuer check only; expiry is the caller's concern.
    pub(super) async fn decode_access_token(
        &self,
        token: &str,
    ) -> Result<AccessClaims, OAuthError> {
        let key = TokenHash::of(token);
        if let Some(claims) = self.verified.get(&key) {
            return Ok(AccessClaims::clone(&claims));
        }
        let claims = self.verify_signature(token).await?;
        // Expired tokens are refused by every caller: not worth a slot.
        if claims.exp > self.now().unix_timestamp() {
            self.verified.insert(key, Arc::new(claims.clone()));
        }
        Ok(claims)
    }

    async fn verify_signature(&self, token: &str) -> Result<AccessClaims, OAuthError> {
        let claims: AccessClaims = match self.keyring().verify(token) {
            Ok(c) => c,
            // Another instance on the same store may have rotated the key:
            // re-read the keys (at most once a second) and try again.
            Err(crate::jwt::JwtError::UnknownKey) if self.may_reload_keys() => {
                if let Err(e) = self.reload_keys().await {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
                self.keyring()
                    .verify(token)
                    .map_err(|e| OAuthError::new(ErrorCode::InvalidToken, e.to_string()))?
            }
            Err(e) => return Err(OAuthError::new(ErrorCode::InvalidToken, e.to_string())),
        };
        if claims.iss != self.settings.issuer {
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is from another issuer",
            ));
        }
        Ok(claims)
    }
}
