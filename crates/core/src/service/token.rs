//! The token endpoint (RFC 6749 §3.2), revocation (RFC 7009), and the
//! access tokens themselves (RFC 9068).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::Gatehouse;
use super::policy::client_allows;
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, ClientId, Grant, GrantId, GrantType, RefreshToken};
use crate::params::Params;
use crate::ports::{CodeRedemption, Rotation};
use crate::scope::OFFLINE_ACCESS;
use crate::scope::ScopeSet;
use crate::secret::{Secret, TokenHash};

/// Lifetime cap of tokens obtained by token exchange.
const EXCHANGED_TOKEN_TTL: Duration = Duration::minutes(5);

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
        let client = match self.find_client(&id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(unknown()),
            Err(e) if e.code == ErrorCode::ServerError => return Err(e),
            Err(_) => return Err(unknown()),
        };
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
        match grant {
            GrantType::AuthorizationCode => self.redeem_code(client, params).await,
            GrantType::RefreshToken => self.refresh(client, params).await,
            GrantType::ClientCredentials => self.client_credentials(client, params).await,
            GrantType::TokenExchange => self.exchange_token(client, params).await,
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
        let resource = self.resource_param(params).await?;
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
        // RFC 8707 §2.2: the token request may repeat the resource, but not
        // name another one.
        if params.get("resource")?.is_some()
            && resource.as_ref().map(|r| &r.uri) != code.resource.as_ref()
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
        };
        // Refresh tokens go to clients registered for the refresh grant,
        // whether or not they asked for offline_access (see scope.rs).
        let refresh = client
            .may_use(GrantType::RefreshToken)
            .then(|| Secret::generate(REFRESH_PREFIX));
        let record = refresh.as_ref().map(|r| RefreshToken {
            hash: r.hash(),
            grant_id: grant.id,
            issued_at: now,
            expires_at: now + self.settings.refresh_token_ttl,
            rotated_at: None,
            grace_used: false,
            replaced_by: None,
        });
        self.ports.tokens.create_grant(&grant, record).await?;
        let access = self.issue_access_token(AccessTokenSpec {
            sub: &user.id.to_string(),
            client_id: client.id.as_str(),
            scope: &scope,
            grant: Some(grant.id),
            aud: &self.audience(grant.resource.as_deref()),
            ttl: self.settings.access_token_ttl,
            act: None,
            epoch: None,
            now,
        })?;
        tracing::info!(client_id = %client.id, user = %user.id, scope = %scope, "authorization code redeemed");
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.whole_seconds(),
            refresh_token: refresh,
            scope: scope.to_string(),
            issued_token_type: None,
        })
    }

    async fn refresh(&self, client: &Client, params: &Params) -> Result<TokenResponse, OAuthError> {
        let presented = TokenHash::of(params.require("refresh_token")?);
        let requested = params
            .get("scope")?
            .map(ScopeSet::parse)
            .transpose()
            .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        let resource = self.resource_param(params).await?;
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
        // One resource per grant: a refresh may repeat it, never switch.
        if params.get("resource")?.is_some()
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
        let next = Secret::generate(REFRESH_PREFIX);
        let record = RefreshToken {
            hash: next.hash(),
            grant_id: grant.id,
            issued_at: now,
            expires_at: now + self.settings.refresh_token_ttl,
            rotated_at: None,
            grace_used: false,
            replaced_by: None,
        };
        let grant = match self
            .ports
            .tokens
            .rotate_refresh(&presented, &record, now, self.settings.refresh_grace)
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
        let access = self.issue_access_token(AccessTokenSpec {
            sub: &grant.user_id.to_string(),
            client_id: client.id.as_str(),
            scope: &scope,
            grant: Some(grant.id),
            aud: &self.audience(grant.resource.as_deref()),
            ttl: self.settings.access_token_ttl,
            act: None,
            epoch: None,
            now,
        })?;
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.whole_seconds(),
            refresh_token: Some(next),
            scope: scope.to_string(),
            issued_token_type: None,
        })
    }

    /// The client credentials grant (RFC 6749 §4.4): a machine client acting
    /// for itself. No user, no refresh token; `sub` is the client.
    async fn client_credentials(
        &self,
        client: &Client,
        params: &Params,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.is_confidential() {
            return Err(OAuthError::new(
                ErrorCode::UnauthorizedClient,
                "the client_credentials grant needs a confidential client",
            ));
        }
        let resource = self.resource_param(params).await?;
        let requested = match params.get("scope")? {
            Some(raw) => {
                ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))?
            }
            None => self.default_scope(client, resource.as_ref()),
        };
        let scope = self
            .grantable(&requested, client, None, resource.as_ref())
            .filter(|s| s != OFFLINE_ACCESS);
        if scope.is_empty() {
            return Err(OAuthError::invalid_scope(
                "none of the requested scopes is allowed for this client and resource",
            ));
        }
        let now = self.now();
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
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: self.settings.access_token_ttl.whole_seconds(),
            refresh_token: None,
            scope: scope.to_string(),
            issued_token_type: None,
        })
    }

    /// Token exchange (RFC 8693): a protected resource (say, an MCP server)
    /// holding a user's token for itself gets a token for another resource
    /// it calls on the user's behalf — never wider than what the user
    /// granted, short-lived, naming the exchanging client in `act`, with no
    /// refresh token. The subject's grant carries over, so revoking the
    /// user's grant also kills every token derived from it.
    async fn exchange_token(
        &self,
        client: &Client,
        params: &Params,
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
        let subject = params.require("subject_token")?;
        match params.get("subject_token_type")? {
            Some(ACCESS_TOKEN_TYPE) => {}
            Some(_) => return Err(bad("only access tokens can be exchanged")),
            None => return Err(bad("subject_token_type is required")),
        }
        if params.get("actor_token")?.is_some() {
            return Err(bad(
                "actor tokens are not supported; the client is the actor",
            ));
        }
        if let Some(t) = params.get("requested_token_type")?
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
        let target_raw = match (params.get("resource")?, params.get("audience")?) {
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
        let requested = match params.get("scope")? {
            Some(raw) => {
                let r =
                    ScopeSet::parse(raw).map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
                if !r.is_subset(&subject_scope) {
                    return Err(OAuthError::invalid_scope(
                        "the requested scope exceeds the subject token's",
                    ));
                }
                r
            }
            None => subject_scope.clone(),
        };
        let scope = self
            .grantable(&requested, client, Some(user.role), target.as_ref())
            .filter(|s| s != OFFLINE_ACCESS && approved.as_ref().is_none_or(|a| a.contains(s)));
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
            access_token: access,
            token_type: "Bearer",
            expires_in: ttl.whole_seconds(),
            refresh_token: None,
            scope: scope.to_string(),
            issued_token_type: Some(ACCESS_TOKEN_TYPE),
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
        let claims = self.decode_access_token(token).await?;
        let invalid = |d: &'static str| OAuthError::new(ErrorCode::InvalidToken, d);
        // Gatehouse issued the token with its own clock: no leeway.
        claims
            .check(
                &self.settings.issuer,
                &self.settings.api_audience,
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
    async fn decode_access_token(&self, token: &str) -> Result<AccessClaims, OAuthError> {
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
        if let Ok(claims) = self.decode_access_token(token).await {
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

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

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
        if claims.client_id != super::PLATFORM_CLIENT_ID {
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
        if let Some((rt, grant)) = self
            .ports
            .tokens
            .find_refresh(&TokenHash::of(token))
            .await?
        {
            let aud = self.audience(grant.resource.as_deref());
            if rt.rotated_at.is_some()
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
