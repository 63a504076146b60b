//! The token endpoint (RFC 6749 §3.2), revocation (RFC 7009), and the
//! access tokens themselves (RFC 9068).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Gatehouse;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, ClientId, Grant, GrantId, RefreshToken};
use crate::params::Params;
use crate::ports::{CodeRedemption, Rotation};
use crate::scope::ScopeSet;
use crate::secret::{Secret, TokenHash};

/// Prefix of refresh tokens, so scanners can spot a leaked one.
pub(crate) const REFRESH_PREFIX: &str = "gtr_";

/// How the client presented itself at the token or revocation endpoint.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientCredentials {
    /// `client_secret_basic`: the Authorization header.
    Basic {
        /// Decoded client id.
        id: String,
        /// Decoded secret.
        secret: Secret,
    },
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post {
        /// The client id.
        id: String,
        /// The secret.
        secret: Secret,
    },
    /// `none`: a public client sending only `client_id`.
    Public {
        /// The client id.
        id: String,
    },
    /// Nothing identified the client.
    Missing,
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { id, .. } => write!(f, "Basic({id})"),
            Self::Post { id, .. } => write!(f, "Post({id})"),
            Self::Public { id } => write!(f, "Public({id})"),
            Self::Missing => f.write_str("Missing"),
        }
    }
}

impl ClientCredentials {
    /// Reads body credentials and combines them with what the server parsed
    /// from an `Authorization: Basic` header, refusing the ambiguous mixes
    /// RFC 6749 §2.3 forbids.
    pub fn from_request(
        basic: Option<(String, Secret)>,
        params: &Params,
    ) -> Result<Self, OAuthError> {
        let body_id = params.get("client_id")?;
        let body_secret = params.get("client_secret")?;
        match (basic, body_id, body_secret) {
            (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
                "use only one client authentication method",
            )),
            (Some((id, _)), Some(body), None) if body != id => Err(OAuthError::invalid_request(
                "client_id in the body differs from the Authorization header",
            )),
            (Some((id, secret)), _, None) => Ok(Self::Basic { id, secret }),
            (None, Some(id), Some(secret)) => Ok(Self::Post {
                id: id.to_owned(),
                secret: Secret::new(secret),
            }),
            (None, Some(id), None) => Ok(Self::Public { id: id.to_owned() }),
            (None, None, Some(_)) => Err(OAuthError::invalid_request(
                "client_secret was sent without client_id",
            )),
            (None, None, None) => Ok(Self::Missing),
        }
    }

    /// Whether the Basic scheme was used (the 401 must then challenge it).
    pub fn used_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

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
}

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

impl Gatehouse {
    /// Identifies and authenticates the client at `/token` or `/revoke`.
    ///
    /// # Errors
    /// `invalid_client` for an unknown client, a wrong or missing secret, or a
    /// public client presenting a secret.
    pub async fn authenticate_client(
        &self,
        creds: &ClientCredentials,
    ) -> Result<Client, OAuthError> {
        let (id, secret) = match creds {
            ClientCredentials::Basic { id, secret } | ClientCredentials::Post { id, secret } => {
                (id.as_str(), Some(secret))
            }
            ClientCredentials::Public { id } => (id.as_str(), None),
            ClientCredentials::Missing => {
                return Err(OAuthError::invalid_client(
                    "client authentication is required",
                ));
            }
        };
        let unknown = || OAuthError::invalid_client("client authentication failed");
        let id = ClientId::parse(id).map_err(|_| unknown())?;
        let client = self
            .ports
            .clients
            .get_client(&id)
            .await?
            .ok_or_else(unknown)?;
        match (&client.secret_hash, secret) {
            (Some(hash), Some(presented)) if hash.ct_eq(&presented.hash()) => Ok(client),
            (None, None) => Ok(client),
            (None, Some(_)) => Err(OAuthError::invalid_client(
                "this is a public client: authenticate with 'none' (send no secret)",
            )),
            _ => Err(unknown()),
        }
    }

    /// Handles a token request whose client has already been authenticated.
    ///
    /// # Errors
    /// The RFC 6749 §5.2 error for the request.
    pub async fn token(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<TokenResponse, OAuthError> {
        match params.get("grant_type")? {
            Some("authorization_code") => self.redeem_code(client, params).await,
            Some("refresh_token") => self.refresh(client, params).await,
            Some(other) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type '{}' is not supported", truncate(other)),
            )),
            None => Err(OAuthError::invalid_request(
                "parameter 'grant_type' is required",
            )),
        }
    }

    async fn redeem_code(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<TokenResponse, OAuthError> {
        let code = params.require("code")?;
        let redirect_uri = params.get("redirect_uri")?;
        let verifier = params.get("code_verifier")?;
        let now = self.now();
        let code = match self.ports.tokens.take_code(&TokenHash::of(code)).await? {
            CodeRedemption::Redeemed(code) => code,
            CodeRedemption::Replayed(grant) => {
                // RFC 6749 §4.1.2 / RFC 9700 §4.5: a replayed code means it
                // leaked; revoke everything the first redemption issued.
                self.ports.tokens.revoke_grant(grant, now).await?;
                tracing::warn!(client_id = %client.id, grant = %grant, "authorization code replayed; grant revoked");
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
        // The user may have lost access since approving.
        let user = self
            .ports
            .users
            .get_user(code.user_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
        let scope = code
            .scope
            .intersection(&client.allowed_scopes)
            .intersection(&user.role.permitted_scopes());
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
            created_at: now,
            revoked_at: None,
        };
        let refresh = Secret::generate(REFRESH_PREFIX);
        let record = RefreshToken {
            hash: refresh.hash(),
            grant_id: grant.id,
            issued_at: now,
            expires_at: now + self.settings.refresh_token_ttl,
            rotated_at: None,
        };
        self.ports.tokens.create_grant(&grant, Some(record)).await?;
        let access = self.issue_access_token(
            &user.id.to_string(),
            client.id.as_str(),
            &scope,
            Some(grant.id),
            now,
        )?;
        tracing::info!(client_id = %client.id, user = %user.id, scope = %scope, "authorization code redeemed");
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.whole_seconds(),
            refresh_token: Some(refresh),
            scope: scope.to_string(),
        })
    }

    async fn refresh(&self, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
        let presented = TokenHash::of(params.require("refresh_token")?);
        let requested = params
            .get("scope")?
            .map(ScopeSet::parse)
            .transpose()
            .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        let now = self.now();
        let invalid = || OAuthError::invalid_grant("refresh token is invalid, expired or revoked");
        // Check ownership before rotating, so another client presenting a
        // stolen token cannot burn (or trigger revocation of) the family.
        let (_, grant) = self
            .ports
            .tokens
            .find_refresh(&presented)
            .await?
            .ok_or_else(invalid)?;
        if grant.client_id != client.id {
            return Err(invalid());
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
        .intersection(&client.allowed_scopes)
        .intersection(&user.role.permitted_scopes());
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(
                "nothing grantable remains of the requested scope",
            ));
        }
        let next = Secret::generate(REFRESH_PREFIX);
        let record = RefreshToken {
            hash: next.hash(),
            grant_id: grant.id,
            issued_at: now,
            expires_at: now + self.settings.refresh_token_ttl,
            rotated_at: None,
        };
        let grant = match self
            .ports
            .tokens
            .rotate_refresh(&presented, &record, now)
            .await?
        {
            Rotation::Rotated { grant, .. } => grant,
            Rotation::Reused(id) => {
                tracing::warn!(client_id = %client.id, grant = %id, "refresh token reused; family revoked");
                return Err(OAuthError::invalid_grant(
                    "refresh token was already used; the grant is revoked",
                ));
            }
            Rotation::Invalid => return Err(invalid()),
        };
        let access = self.issue_access_token(
            &grant.user_id.to_string(),
            client.id.as_str(),
            &scope,
            Some(grant.id),
            now,
        )?;
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.whole_seconds(),
            refresh_token: Some(next),
            scope: scope.to_string(),
        })
    }

    /// Signs an access token for the platform API.
    pub(crate) fn issue_access_token(
        &self,
        sub: &str,
        client_id: &str,
        scope: &ScopeSet,
        grant: Option<GrantId>,
        now: OffsetDateTime,
    ) -> Result<String, OAuthError> {
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: sub.to_owned(),
            aud: self.settings.api_audience.clone(),
            exp: (now + self.settings.access_token_ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: Uuid::new_v4(),
            client_id: client_id.to_owned(),
            scope: scope.to_string(),
            grant_id: grant,
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
        let claims = self.decode_access_token(token)?;
        let invalid = |d: &'static str| OAuthError::new(ErrorCode::InvalidToken, d);
        if claims.exp <= self.now().unix_timestamp() {
            return Err(invalid("the access token has expired"));
        }
        if claims.aud != self.settings.api_audience {
            return Err(invalid("the access token is not meant for this API"));
        }
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
    fn decode_access_token(&self, token: &str) -> Result<AccessClaims, OAuthError> {
        let claims: AccessClaims = self
            .keyring()
            .verify(token)
            .map_err(|e| OAuthError::new(ErrorCode::InvalidToken, e.to_string()))?;
        if claims.iss != self.settings.issuer {
            return Err(OAuthError::new(
                ErrorCode::InvalidToken,
                "the access token is from another issuer",
            ));
        }
        Ok(claims)
    }

    /// RFC 7009 revocation by an authenticated client. Unknown tokens and
    /// tokens of other clients are ignored (the response is the same), so the
    /// endpoint cannot be used to probe for valid tokens.
    ///
    /// # Errors
    /// `invalid_request` without `token`; `unsupported_token_type` for hints
    /// other than `access_token` and `refresh_token`.
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
        if let Ok(claims) = self.decode_access_token(token) {
            if claims.client_id == client.id.as_str() {
                let exp = OffsetDateTime::from_unix_timestamp(claims.exp)
                    .unwrap_or(now + Duration::days(1));
                if exp > now {
                    self.ports
                        .tokens
                        .revoke_access_token(claims.jti, exp)
                        .await?;
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
            .find_refresh(&TokenHash::of(token))
            .await?
        {
            Some((_, grant)) => {
                if grant.client_id == client.id {
                    self.ports.tokens.revoke_grant(grant.id, now).await?;
                    tracing::info!(client_id = %client.id, grant = %grant.id, "refresh token revoked");
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
