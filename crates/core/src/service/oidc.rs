//! OpenID Connect: who signed in (the browser session as OIDC sees it), ID
//! tokens (OIDC Core 1.0 §2, §3.1.3.6), and RP-initiated logout (OpenID
//! Connect RP-Initiated Logout 1.0).
//!
//! Gatehouse is an OAuth server first; OIDC is a layer on the same grant.
//! An authorization request with scope `openid` records on its code how the
//! user signed in ([`SignInContext`]), and redeeming that code adds an
//! `id_token` to the token response. Nothing else changes: the access
//! token, its audience and the refresh token are exactly those of a plain
//! OAuth request, so MCP clients that never ask for `openid` see no
//! difference.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::Gatehouse;
use crate::error::{ApiError, OAuthError};
use crate::model::{Client, ClientId, Session, SignInContext, User};
use crate::params::Params;
use crate::scope::ScopeSet;
use crate::secret::TokenHash;

/// Longest `nonce` accepted; clients send 16–64 characters, and the value
/// is echoed into a signed token.
pub(crate) const MAX_NONCE_LEN: usize = 512;
/// Longest `state` accepted on the logout endpoint, as on `/authorize`.
const MAX_STATE_LEN: usize = 1024;

/// A browser session's user, with what OpenID Connect says about the
/// sign-in: when it happened and which session it is.
#[derive(Clone)]
pub struct SignedIn {
    /// Who signed in.
    pub user: User,
    /// When: the session's start, the ID token's `auth_time`.
    pub auth_time: OffsetDateTime,
    /// The session's id, the ID token's `sid` (see [`session_id`]).
    pub sid: String,
}

impl fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("user", &self.user.id)
            .field("auth_time", &self.auth_time)
            .finish_non_exhaustive()
    }
}

impl SignedIn {
    /// `user`, signed in by `session`.
    pub fn new(user: User, session: &Session) -> Self {
        Self {
            user,
            auth_time: session.created_at,
            sid: session_id(&session.hash),
        }
    }
}

/// The public id of a session (`sid`): a hash of the cookie's hash, so an
/// ID token (which clients keep and log) names the session without
/// carrying anything that would resume it.
pub fn session_id(session: &TokenHash) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"gatehouse/sid/v1\0");
    ctx.update(session.as_bytes());
    URL_SAFE_NO_PAD.encode(&ctx.finish().as_ref()[..16])
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the SHA-256 of the
/// access token, base64url, which binds the ID token to the access token
/// issued with it.
pub fn at_hash(access_token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
}

/// The claims of a Gatehouse ID token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdClaims {
    /// Issuer.
    pub iss: String,
    /// The user's id, the same `sub` as userinfo and access tokens.
    pub sub: String,
    /// The client it was issued to.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// When the user signed in.
    pub auth_time: i64,
    /// The client's `nonce`, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Binds the ID token to the access token issued with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The session's id, for logout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// With scope `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// With scope `email`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// With scope `profile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// With scope `profile`: when the profile last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// A validated RP-initiated logout request.
#[derive(Debug, Clone)]
pub struct LogoutRequest {
    /// The client that asked, named by `client_id` or the hint's `aud`.
    pub client: Option<Client>,
    /// Where to send the browser afterwards: a registered post-logout
    /// redirect URI with `state` appended.
    pub redirect: Option<String>,
    /// The session the hint's ID token was issued in, if a hint was sent.
    pub hint_sid: Option<String>,
    /// The parameters as sent, for the confirmation form to post back.
    pub params: Params,
}

impl LogoutRequest {
    /// Whether the request proves it comes from a client of `session`: its
    /// `id_token_hint` was issued in that very session. Only then is the
    /// user signed out without being asked (RP-Initiated Logout §2: a
    /// logout link anyone can forge must not end a session silently).
    pub fn names_session(&self, session: &SignedIn) -> bool {
        self.hint_sid
            .as_deref()
            .is_some_and(|sid| crate::secret::constant_time_eq(sid, &session.sid))
    }
}

fn bad(d: impl Into<std::borrow::Cow<'static, str>>) -> OAuthError {
    OAuthError::invalid_request(d)
}

impl Gatehouse {
    /// The signed-in user of a session cookie, if the session is live.
    ///
    /// # Errors
    /// A store failure.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn signed_in(&self, cookie: &str) -> Result<Option<SignedIn>, ApiError> {
        let Some(session) = self
            .ports
            .tokens
            .get_session(&TokenHash::of(cookie), self.now())
            .await?
        else {
            return Ok(None);
        };
        let user = self.ports.users.get_user(session.user_id).await?;
        Ok(user.map(|u| SignedIn::new(u, &session)))
    }

    /// Signs the ID token for a redeemed OIDC code: `access_token` is the
    /// access token issued with it (for `at_hash`), `scope` what was
    /// granted (for the `email` and `profile` claims).
    pub(crate) fn issue_id_token(
        &self,
        client: &Client,
        user: &User,
        sign_in: &SignInContext,
        access_token: &str,
        scope: &ScopeSet,
        now: OffsetDateTime,
    ) -> Result<String, OAuthError> {
        let email = scope.contains("email");
        let profile = scope.contains("profile");
        let claims = IdClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: client.id.as_str().to_owned(),
            exp: (now + self.settings.access_token_ttl).unix_timestamp(),
            iat: now.unix_timestamp(),
            auth_time: sign_in.auth_time.unix_timestamp(),
            nonce: sign_in.nonce.clone(),
            at_hash: Some(at_hash(access_token)),
            sid: Some(sign_in.sid.clone()),
            email: email.then(|| user.email.as_str().to_owned()),
            email_verified: email.then_some(user.email_verified),
            name: profile.then(|| user.name.clone()),
            updated_at: profile.then(|| user.updated_at.unix_timestamp()),
        };
        self.keyring()
            .sign_id_token(&claims)
            .map_err(|e| OAuthError::server_error(&e))
    }

    /// Reads an ID token Gatehouse issued, as an `id_token_hint`: the
    /// signature and issuer must be right; expiry is not checked, since
    /// RP-Initiated Logout §2 expects hints to be accepted after they
    /// expire (a user signs out long after signing in).
    ///
    /// # Errors
    /// `invalid_request` when the token is not one of Gatehouse's ID tokens.
    pub async fn read_id_token_hint(&self, token: &str) -> Result<IdClaims, OAuthError> {
        let not_ours = || bad("id_token_hint is not an ID token issued by this server");
        let claims: IdClaims = match self.keyring().verify_id_token(token) {
            Ok(c) => c,
            // Signed by a key another instance rotated in, perhaps.
            Err(crate::jwt::JwtError::UnknownKey) if self.may_reload_keys() => {
                if let Err(e) = self.reload_keys().await {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
                self.keyring()
                    .verify_id_token(token)
                    .map_err(|_| not_ours())?
            }
            Err(_) => return Err(not_ours()),
        };
        if claims.iss != self.settings.issuer {
            return Err(bad("id_token_hint was issued by another server"));
        }
        Ok(claims)
    }

    /// Validates an RP-initiated logout request (`end_session_endpoint`).
    ///
    /// # Errors
    /// `invalid_request` for anything that makes the request untrustworthy:
    /// a bad hint, a client that does not match it, or a post-logout
    /// redirect URI the client did not register. Such errors are shown on
    /// a page, never redirected.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn validate_logout(&self, params: Params) -> Result<LogoutRequest, OAuthError> {
        for name in [
            "id_token_hint",
            "client_id",
            "post_logout_redirect_uri",
            "state",
        ] {
            if params.is_repeated(name) {
                return Err(bad(format!("{name} must not be repeated")));
            }
        }
        let hint = match params.get("id_token_hint")? {
            Some(t) if !t.is_empty() => Some(self.read_id_token_hint(t).await?),
            _ => None,
        };
        let named = match params.get("client_id")? {
            Some(raw) => Some(ClientId::parse(raw).map_err(|_| bad("client_id is malformed"))?),
            None => None,
        };
        if let (Some(h), Some(n)) = (&hint, &named)
            && h.aud != n.as_str()
        {
            return Err(bad(
                "client_id is not the client the id_token_hint was issued to",
            ));
        }
        let client_id = match (named, &hint) {
            (Some(n), _) => Some(n),
            (None, Some(h)) => ClientId::parse(&h.aud).ok(),
            (None, None) => None,
        };
        let client = match client_id {
            Some(id) => Some(
                self.ports
                    .clients
                    .get_client(&id)
                    .await?
                    .ok_or_else(|| bad("unknown client_id"))?,
            ),
            None => None,
        };
        let state = params.get("state")?;
        if state.is_some_and(|s| s.len() > MAX_STATE_LEN) {
            return Err(bad("state is too long"));
        }
        let redirect = match params.get("post_logout_redirect_uri")? {
            None => None,
            Some(uri) => {
                let client = client.as_ref().ok_or_else(|| {
                    bad("post_logout_redirect_uri needs client_id or id_token_hint to say whose it is")
                })?;
                if !client.post_logout_redirect_uris().contains(&uri) {
                    return Err(bad(
                        "post_logout_redirect_uri is not registered for this client",
                    ));
                }
                let mut url =
                    Url::parse(uri).map_err(|_| bad("post_logout_redirect_uri is malformed"))?;
                if let Some(s) = state {
                    url.query_pairs_mut().append_pair("state", s);
                }
                Some(String::from(url))
            }
        };
        Ok(LogoutRequest {
            client,
            redirect,
            hint_sid: hint.and_then(|h| h.sid),
            params,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_sha256_in_base64url() {
        // OIDC Core §3.1.3.6 with a value checked by hand:
        // sha256("token") = 3c469e9d6c5875d37a43f353d4f88e61fcf812c66eee3457465a40b0da4153e0
        let expected = URL_SAFE_NO_PAD.encode([
            0x3c, 0x46, 0x9e, 0x9d, 0x6c, 0x58, 0x75, 0xd3, 0x7a, 0x43, 0xf3, 0x53, 0xd4, 0xf8,
            0x8e, 0x61,
        ]);
        assert_eq!(at_hash("token"), expected);
        assert_eq!(at_hash("token").len(), 22);
    }

    #[test]
    fn a_session_id_names_the_session_without_revealing_its_hash() {
        let a = TokenHash::of("gts_one");
        let b = TokenHash::of("gts_two");
        assert_eq!(session_id(&a), session_id(&a), "stable");
        assert_ne!(session_id(&a), session_id(&b));
        assert_ne!(
            session_id(&a),
            URL_SAFE_NO_PAD.encode(&a.as_bytes()[..16]),
            "not the stored hash itself"
        );
    }
}
