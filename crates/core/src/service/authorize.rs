//! The authorization endpoint (RFC 6749 §4.1.1–4.1.2) and consent.
//!
//! The order of checks is the RFC's: until the client and redirect URI are
//! trusted, nothing may be redirected (that would make Gatehouse an open
//! redirector), so those failures are [`AuthorizeError::Fatal`]; every later
//! failure goes back to the client as a redirect carrying `error`, `state`
//! and `iss` (RFC 9207).

use std::fmt;

use url::Url;

use super::Gatehouse;
use super::oidc::SignedIn;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::{ErrorCode, OAuthError};
use crate::model::{
    AuthorizationCode, Client, ClientId, Consent, GrantId, Resource, Role, SignInContext, User,
};
use crate::params::Params;
use crate::pkce::CodeChallenge;
use crate::scope::{OPENID, ScopeSet};
use crate::secret::Secret;

/// Prefix of authorization codes.
const CODE_PREFIX: &str = "gtc_";
/// Longest `state` accepted; clients send 32–64 characters.
const MAX_STATE_LEN: usize = 1024;

/// The `prompt` parameter (OIDC Core §3.1.2.1), which MCP clients also send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// No preference: sign in if needed, ask consent if not remembered.
    Default,
    /// Never show a page; fail with `login_required`/`consent_required`.
    None,
    /// Ask for consent even if remembered.
    Consent,
    /// Ask the user to sign in again.
    Login,
}

/// A validated authorization request.
#[derive(Clone)]
pub struct AuthorizeRequest {
    /// The requesting client.
    pub client: Client,
    /// Where responses go: the presented `redirect_uri`, or the single
    /// registered one when none was sent.
    pub redirect_to: String,
    /// The `redirect_uri` parameter as sent, which `/token` must repeat.
    pub redirect_uri_param: Option<String>,
    /// Requested scopes that the client may hold (the user's role is applied
    /// once the user is known).
    pub scope: ScopeSet,
    /// `state`, echoed back.
    pub state: Option<String>,
    /// PKCE challenge.
    pub challenge: Option<CodeChallenge>,
    /// The resource the tokens will be for (RFC 8707); `None` is the
    /// platform API.
    pub resource: Option<Resource>,
    /// `prompt`.
    pub prompt: Prompt,
    /// OpenID Connect `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// OpenID Connect `max_age`: a sign-in older than this many seconds
    /// must be repeated.
    pub max_age: Option<u32>,
    /// OpenID Connect `id_token_hint`: the `sub` of an ID token Gatehouse
    /// issued, naming who the client expects to be signed in; a session
    /// of anyone else does not count.
    pub expected_sub: Option<String>,
    /// The original parameters, for the consent form to post back.
    pub params: Params,
}

impl fmt::Debug for AuthorizeRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorizeRequest")
            .field("client", &self.client.id)
            .field("redirect_to", &self.redirect_to)
            .field("scope", &self.scope)
            .field("prompt", &self.prompt)
            .finish_non_exhaustive()
    }
}

/// Why an authorization request failed.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page and
    /// never redirect.
    Fatal(OAuthError),
    /// Send the user agent back to the client with this error.
    Redirect {
        /// The full redirect URL, with `error`, `state` and `iss`.
        url: String,
        /// The error carried.
        error: OAuthError,
        /// The client it goes to, for [`Gatehouse::screen`].
        client: ClientId,
        /// Whether an administrator registered that client.
        vetted: bool,
        /// Where the redirect goes, as a person should read it.
        host: String,
    },
    /// The error is for a client that registered itself (or is a metadata
    /// document) and that the user has not approved, and the user has not
    /// seen a Gatehouse page yet: redirecting would let anyone bounce
    /// people through Gatehouse to a site of their choosing (RFC 9700
    /// §4.11.2). Show it on a page naming `host`; `url` may be offered as
    /// a link the user chooses to follow.
    Unvetted {
        /// Where the redirect would go, as a person should read it.
        host: String,
        /// The redirect URL with the error.
        url: String,
        /// The error.
        error: OAuthError,
    },
}

impl fmt::Display for AuthorizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthorizeError::Fatal(e) => write!(f, "authorization request refused: {e}"),
            AuthorizeError::Redirect { error, .. } | AuthorizeError::Unvetted { error, .. } => {
                write!(f, "authorization failed: {error}")
            }
        }
    }
}

impl std::error::Error for AuthorizeError {}

/// What to do once the user is known.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Show the consent page for these scopes.
    Consent {
        /// What the token would carry.
        scope: ScopeSet,
    },
    /// Consent is on record: go straight back to the client with a code.
    Redirect(String),
}

/// Scopes as remembered in a consent: qualified with the resource they were
/// granted for (`files:read@https://a.example/mcp`), so approving a scope
/// for one MCP server does not silently approve it for another that happens
/// to use the same scope name.
fn consent_form(scope: &ScopeSet, req: &AuthorizeRequest) -> ScopeSet {
    match &req.resource {
        None => scope.clone(),
        Some(r) => ScopeSet::from_tokens(scope.iter().map(|s| format!("{s}@{}", r.uri))),
    }
}

fn fatal(d: impl Into<std::borrow::Cow<'static, str>>) -> AuthorizeError {
    AuthorizeError::Fatal(OAuthError::invalid_request(d))
}

impl Gatehouse {
    /// Validates an authorization request before anyone signs in.
    ///
    /// # Errors
    /// [`AuthorizeError::Fatal`] for a missing/unknown client or a redirect
    /// URI that is missing, repeated or unregistered; otherwise a redirect.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn validate_authorize(
        &self,
        params: Params,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        if params.is_repeated("client_id") || params.is_repeated("redirect_uri") {
            return Err(fatal("client_id and redirect_uri must not be repeated"));
        }
        let client_id = params
            .get("client_id")
            .map_err(AuthorizeError::Fatal)?
            .ok_or_else(|| fatal("client_id is required"))?;
        let client_id = ClientId::parse(client_id).map_err(|_| fatal("client_id is malformed"))?;
        let client = match self.find_client(&client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => return Err(fatal("unknown client_id")),
            Err(e) if e.code == ErrorCode::ServerError => return Err(AuthorizeError::Fatal(e)),
            Err(e) => return Err(fatal(e.description)),
        };
        let presented = params.get("redirect_uri").map_err(AuthorizeError::Fatal)?;
        let redirect_to = match presented {
            Some(uri) => {
                client
                    .redirect_for(uri)
                    .ok_or_else(|| fatal("redirect_uri is not registered for this client"))?;
                uri.to_owned()
            }
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].as_str().to_owned(),
            None => {
                return Err(fatal(
                    "redirect_uri is required: the client registered several",
                ));
            }
        };
        let state = params.get("state").ok().flatten().map(str::to_owned);
        let mut req = AuthorizeRequest {
            redirect_uri_param: presented.map(str::to_owned),
            client,
            redirect_to,
            scope: ScopeSet::empty(),
            state,
            challenge: None,
            resource: None,
            prompt: Prompt::Default,
            nonce: None,
            max_age: None,
            expected_sub: None,
            params: params.clone(),
        };
        // From here on, errors go back to the (now trusted) redirect URI.
        let fail = |req: &AuthorizeRequest, e: OAuthError| Err(self.redirect_error(req, e));
        if let Some(s) = &req.state
            && s.len() > MAX_STATE_LEN
        {
            req.state = None;
            return fail(&req, OAuthError::invalid_request("state is too long"));
        }
        if let Err(e) = params.get("state") {
            return fail(&req, e);
        }
        match params.get("response_type") {
            Ok(Some("code")) => {}
            Ok(Some(_)) => {
                return fail(
                    &req,
                    OAuthError::new(
                        ErrorCode::UnsupportedResponseType,
                        "only response_type=code is supported",
                    ),
                );
            }
            Ok(None) => {
                return fail(
                    &req,
                    OAuthError::invalid_request("response_type is required"),
                );
            }
            Err(e) => return fail(&req, e),
        }
        if let Ok(Some(mode)) = params.get("response_mode")
            && mode != "query"
        {
            return fail(
                &req,
                OAuthError::invalid_request("only response_mode=query is supported"),
            );
        }
        if params.get("request").ok().flatten().is_some()
            || params.get("request_uri").ok().flatten().is_some()
        {
            return fail(
                &req,
                OAuthError::invalid_request("request objects are not supported"),
            );
        }
        req.resource = match self.authorization_resource(&params, &req.client).await {
            Ok(r) => r,
            Err(e) => return fail(&req, e),
        };
        let requested = match params.get("scope") {
            Ok(Some(raw)) => match ScopeSet::parse(raw) {
                Ok(s) => s,
                Err(e) => return fail(&req, OAuthError::invalid_scope(e.to_string())),
            },
            // RFC 6749 §3.3: without `scope`, use a documented default:
            // everything the client and the resource allow.
            Ok(None) => self.default_scope(&req.client, req.resource.as_ref()),
            Err(e) => return fail(&req, e),
        };
        // The user is not known yet: apply the most permissive role now and
        // the user's own once they have signed in.
        req.scope = self.grantable(
            &requested,
            &req.client,
            Some(Role::Admin),
            req.resource.as_ref(),
        );
        if req.scope.is_empty() {
            return fail(
                &req,
                OAuthError::invalid_scope(
                    "none of the requested scopes is allowed for this client and resource",
                ),
            );
        }
        let challenge = match (
            params.get("code_challenge"),
            params.get("code_challenge_method"),
        ) {
            (Ok(Some(c)), Ok(m)) => match CodeChallenge::parse(c, m) {
                Ok(c) => Some(c),
                Err(e) => return fail(&req, OAuthError::invalid_request(e.to_string())),
            },
            (Ok(None), Ok(None)) => None,
            (Ok(None), Ok(Some(_))) => {
                return fail(
                    &req,
                    OAuthError::invalid_request(
                        "code_challenge_method was sent without code_challenge",
                    ),
                );
            }
            (Err(e), _) | (_, Err(e)) => return fail(&req, e),
        };
        if challenge.is_none() && (req.client.require_pkce || !req.client.is_confidential()) {
            return fail(
                &req,
                OAuthError::invalid_request(
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                ),
            );
        }
        req.challenge = challenge;
        req.prompt = match params.get("prompt") {
            Ok(None) => Prompt::Default,
            Ok(Some(p)) => {
                let words: Vec<&str> = p.split(' ').filter(|w| !w.is_empty()).collect();
                if words.contains(&"none") && words.len() > 1 {
                    return fail(
                        &req,
                        OAuthError::invalid_request("prompt=none cannot be combined"),
                    );
                }
                if words.contains(&"none") {
                    Prompt::None
                } else if words.contains(&"login") {
                    Prompt::Login
                } else if words.contains(&"consent") {
                    Prompt::Consent
                } else {
                    Prompt::Default
                }
            }
            Err(e) => return fail(&req, e),
        };
        req.nonce = match params.get("nonce") {
            Ok(Some(n)) if n.len() > super::oidc::MAX_NONCE_LEN => {
                return fail(&req, OAuthError::invalid_request("nonce is too long"));
            }
            Ok(n) => n.map(str::to_owned),
            Err(e) => return fail(&req, e),
        };
        req.max_age = match params.get("max_age") {
            Ok(None) => None,
            Ok(Some(raw)) => match raw.parse::<u32>() {
                Ok(n) => Some(n),
                Err(_) => {
                    return fail(
                        &req,
                        OAuthError::invalid_request("max_age must be a whole number of seconds"),
                    );
                }
            },
            Err(e) => return fail(&req, e),
        };
        if req.scope.contains(OPENID) && req.redirect_uri_param.is_none() {
            // OIDC Core §3.1.2.1: required in OpenID requests, even for a
            // client with one registered URI.
            return fail(
                &req,
                OAuthError::invalid_request("redirect_uri is required in OpenID Connect requests"),
            );
        }
        req.expected_sub = match params.get("id_token_hint") {
            Ok(Some(hint)) => match self.read_id_token_hint(hint).await {
                Ok(claims) => Some(claims.sub),
                Err(e) => return fail(&req, e),
            },
            Ok(None) => None,
            Err(e) => return fail(&req, e),
        };
        Ok(req)
    }

    /// Whether `who` must sign in again before this request goes on:
    /// `prompt=login`, an `id_token_hint` naming someone else, or a sign-in
    /// older than `max_age` (OIDC Core §3.1.2.1). `max_age=0` always asks,
    /// like `prompt=login`.
    pub fn needs_sign_in(&self, req: &AuthorizeRequest, who: &SignedIn) -> bool {
        req.prompt == Prompt::Login
            || req
                .expected_sub
                .as_ref()
                .is_some_and(|sub| *sub != who.user.id.to_string())
            || req.max_age.is_some_and(|max| {
                self.now() - who.auth_time > time::Duration::seconds(i64::from(max)) || max == 0
            })
    }

    /// Decides, for a signed-in user, between the consent page and an
    /// immediate redirect with a code.
    ///
    /// # Errors
    /// A redirect with `invalid_scope` when nothing requested is permitted to
    /// this user, or `consent_required` under `prompt=none`.
    #[tracing::instrument(level = "info", skip_all, fields(client_id = %req.client.id, user = %who.user.id))]
    pub async fn decide(
        &self,
        req: &AuthorizeRequest,
        who: &SignedIn,
    ) -> Result<Decision, AuthorizeError> {
        let user = &who.user;
        let scope = self.scope_for(req, user).await?;
        let remembered = self
            .ports
            .tokens
            .get_consent(user.id, &req.client.id)
            .await
            .map_err(|e| self.redirect_error(req, e.into()))?;
        let covered = remembered.is_some_and(|c| consent_form(&scope, req).is_subset(&c.scope));
        // RFC 8252 §8.6, RFC 6819 §5.2.3.2: any app on the machine can claim
        // a loopback port or a custom scheme and pose as a public native
        // client, so remembered consent is not proof the user is dealing
        // with the app they approved: ask every time (one click).
        if covered && req.prompt != Prompt::Consent && !Self::always_ask(req) {
            return Ok(Decision::Redirect(self.issue_code(req, who, scope).await?));
        }
        if req.prompt == Prompt::None {
            return Err(self.redirect_error(
                req,
                OAuthError::new(
                    ErrorCode::ConsentRequired,
                    "the user has not approved this client",
                ),
            ));
        }
        Ok(Decision::Consent { scope })
    }

    /// The user approved: remember the consent and redirect with a code.
    ///
    /// # Errors
    /// As [`Gatehouse::decide`].
    #[tracing::instrument(level = "info", skip_all, fields(client_id = %req.client.id, user = %who.user.id))]
    pub async fn approve(
        &self,
        req: &AuthorizeRequest,
        who: &SignedIn,
    ) -> Result<String, AuthorizeError> {
        let user = &who.user;
        let scope = self.scope_for(req, user).await?;
        let tokens = &self.ports.tokens;
        let previous = tokens
            .get_consent(user.id, &req.client.id)
            .await
            .map_err(|e| self.redirect_error(req, e.into()))?;
        let consent = Consent {
            user_id: user.id,
            client_id: req.client.id.clone(),
            scope: previous.map_or_else(
                || consent_form(&scope, req),
                |c| c.scope.union(&consent_form(&scope, req)),
            ),
            granted_at: self.now(),
        };
        tokens
            .put_consent(&consent)
            .await
            .map_err(|e| self.redirect_error(req, e.into()))?;
        tracing::info!(client_id = %req.client.id, user = %user.id, scope = %scope, "consent granted");
        self.audit(
            AuditEvent::new(AuditKind::ConsentGranted, self.now())
                .user(user.id)
                .client(&req.client.id)
                .detail("scope", scope.to_string())
                .detail("resource", req.resource.as_ref().map(|r| r.uri.clone())),
        )
        .await;
        self.issue_code(req, who, scope).await
    }

    /// The user refused: `access_denied` back to the client. Never
    /// screened: the user saw the consent page, and clients wait for this
    /// answer on their callback.
    pub async fn deny(&self, req: &AuthorizeRequest, user: &User) -> String {
        tracing::info!(user = %user.id, client_id = %req.client.id, "consent denied");
        self.audit(
            AuditEvent::new(AuditKind::ConsentDenied, self.now())
                .user(user.id)
                .client(&req.client.id)
                .detail("scope", req.scope.to_string()),
        )
        .await;
        self.error_url(
            req,
            &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
        )
    }

    /// `prompt=none` without a signed-in user.
    pub fn login_required(&self, req: &AuthorizeRequest) -> AuthorizeError {
        self.redirect_error(
            req,
            OAuthError::new(ErrorCode::LoginRequired, "the user is not signed in"),
        )
    }

    /// Whether consent is asked for on every authorization, remembered or
    /// not: public clients redirecting to a loopback address or a custom
    /// scheme, which any local program can claim.
    fn always_ask(req: &AuthorizeRequest) -> bool {
        !req.client.is_confidential()
            && req
                .client
                .redirect_for(&req.redirect_to)
                .is_some_and(|r| r.is_loopback() || !r.is_web())
    }

    /// Applies DESIGN §8 to an error raised before the user has seen a
    /// Gatehouse page: a redirect to a client no administrator registered
    /// and `user` (if anyone is signed in) has never approved becomes
    /// [`AuthorizeError::Unvetted`], shown on a page instead. Everything
    /// else passes through.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn screen(&self, e: AuthorizeError, user: Option<&User>) -> AuthorizeError {
        let AuthorizeError::Redirect {
            url,
            error,
            client,
            vetted: false,
            host,
        } = e
        else {
            return e;
        };
        let approved = match user {
            Some(u) => match self.ports.tokens.get_consent(u.id, &client).await {
                Ok(c) => c.is_some(),
                Err(err) => {
                    tracing::warn!(error = %err, "consent lookup failed; not redirecting the error");
                    false
                }
            },
            None => false,
        };
        if approved {
            AuthorizeError::Redirect {
                url,
                error,
                client,
                vetted: false,
                host,
            }
        } else {
            AuthorizeError::Unvetted { host, url, error }
        }
    }

    async fn scope_for(
        &self,
        req: &AuthorizeRequest,
        user: &User,
    ) -> Result<ScopeSet, AuthorizeError> {
        // An admin who must set up a second factor first gets no `admin`
        // scope until they have (a store failure holds it back too).
        let hold_admin = self.must_set_up_mfa(user).await.unwrap_or(true);
        let scope = req
            .scope
            .filter(|s| user.role.permits(s) && !(hold_admin && s == crate::scope::ADMIN_SCOPE));
        if scope.is_empty() {
            return Err(self.redirect_error(
                req,
                OAuthError::invalid_scope(
                    "none of the requested scopes is permitted for this account",
                ),
            ));
        }
        Ok(scope)
    }

    async fn issue_code(
        &self,
        req: &AuthorizeRequest,
        who: &SignedIn,
        scope: ScopeSet,
    ) -> Result<String, AuthorizeError> {
        let now = self.now();
        let code = Secret::generate(CODE_PREFIX);
        let sign_in = scope.contains(OPENID).then(|| SignInContext {
            nonce: req.nonce.clone(),
            auth_time: who.auth_time,
            sid: who.sid.clone(),
        });
        let record = AuthorizationCode {
            hash: code.hash(),
            client_id: req.client.id.clone(),
            user_id: who.user.id,
            redirect_uri: req.redirect_uri_param.clone(),
            scope,
            challenge: req.challenge.clone(),
            resource: req.resource.as_ref().map(|r| r.uri.clone()),
            grant_id: GrantId::new(),
            issued_at: now,
            expires_at: now + self.settings.code_ttl,
            sign_in,
        };
        self.ports
            .tokens
            .put_code(&record)
            .await
            .map_err(|e| self.redirect_error(req, e.into()))?;
        Ok(self.response_url(req, &[("code", code.expose())]))
    }

    fn redirect_error(&self, req: &AuthorizeRequest, error: OAuthError) -> AuthorizeError {
        AuthorizeError::Redirect {
            url: self.error_url(req, &error),
            error,
            client: req.client.id.clone(),
            vetted: req.client.origin == crate::model::ClientOrigin::Admin,
            host: req
                .client
                .redirect_for(&req.redirect_to)
                .map_or_else(|| req.redirect_to.clone(), |r| r.display_host()),
        }
    }

    fn error_url(&self, req: &AuthorizeRequest, e: &OAuthError) -> String {
        self.response_url(
            req,
            &[
                ("error", e.code.as_str()),
                ("error_description", &e.description),
            ],
        )
    }

    /// The redirect URI with `extra`, `state` and `iss` appended to any
    /// query it already has.
    fn response_url(&self, req: &AuthorizeRequest, extra: &[(&str, &str)]) -> String {
        let Ok(mut url) = Url::parse(&req.redirect_to) else {
            // Unreachable: the URI was validated at registration and matched.
            return req.redirect_to.clone();
        };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in extra {
                q.append_pair(k, v);
            }
            if let Some(state) = &req.state {
                q.append_pair("state", state);
            }
            q.append_pair("iss", &self.settings.issuer);
        }
        url.into()
    }
}
