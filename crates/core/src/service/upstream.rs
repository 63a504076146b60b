//! Signing in through an upstream identity provider (issue 14, item 2).
//!
//! The flow is the authorization code flow with PKCE, Gatehouse as the
//! client: [`Gatehouse::begin_upstream`] sends the browser upstream with a
//! fresh `state`, `nonce` and PKCE verifier, all kept in a short-lived
//! cookie sealed with a key derived from the master key (so any instance can
//! finish what another began, and the browser can neither read nor forge
//! it); [`Gatehouse::finish_upstream`] checks the callback against that
//! cookie, redeems the code, checks what the upstream says, and finds,
//! links or creates the account.
//!
//! Who an upstream identity is, is its `(issuer, subject)`. An email is
//! used only to link a first sign-in to an existing account, only when the
//! provider is configured to allow it, the upstream says the address is
//! verified, and the Gatehouse account's address is verified too (an
//! unverified account could have been registered by someone else with the
//! victim's address, waiting for the victim to link it).

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{Duration, OffsetDateTime};

use super::{Gatehouse, SignedIn};
use crate::audit::{AuditEvent, AuditKind};
use crate::error::ApiError;
use crate::model::{
    Email, IdentityProvider, IdpKind, LinkedIdentity, PasswordHash, Role, User, UserId,
    validate_name,
};
use crate::pkce::CodeChallenge;
use crate::ports::StoreError;
use crate::secret::{Secret, constant_time_eq, random_token};
use crate::upstream::{
    Expected, IdTokenError, JsonReply, ProviderMetadata, UpstreamHttp, UpstreamIdentity, is_true,
    parse_discovery, verify_id_token,
};

/// How long a started upstream sign-in may take.
const FLOW_TTL: Duration = Duration::minutes(10);
/// How long discovery documents and JWKS are kept.
const METADATA_TTL: Duration = Duration::hours(1);

/// Why an upstream sign-in did not complete, as the person should read it.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No provider of that name (404).
    #[error("there is no sign-in method of that name")]
    UnknownProvider,
    /// The person's sign-in cannot go on: cancelled upstream, expired,
    /// started in another browser, no account (400).
    #[error("{0}")]
    Refused(String),
    /// The upstream could not be reached or answered nonsense (502).
    #[error("{0}")]
    Unavailable(String),
    /// Gatehouse's own storage failed (500/503).
    #[error(transparent)]
    Internal(#[from] ApiError),
}

impl From<StoreError> for UpstreamError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

/// Where to send the browser, and the sealed cookie that remembers the
/// sign-in until the upstream sends it back.
#[derive(Debug)]
pub struct UpstreamStart {
    /// The upstream's authorization URL.
    pub location: String,
    /// The flow cookie's value.
    pub flow: String,
}

/// What the upstream sent back to the callback.
#[derive(Debug, Default, Clone)]
pub struct UpstreamCallback {
    /// The authorization code.
    pub code: Option<String>,
    /// The state echoed back.
    pub state: Option<String>,
    /// An error code (RFC 6749 §4.1.2.1).
    pub error: Option<String>,
    /// Its description.
    pub error_description: Option<String>,
    /// RFC 9207 issuer identification.
    pub iss: Option<String>,
}

/// How a completed upstream sign-in ended.
#[derive(Debug)]
pub enum UpstreamOutcome {
    /// Signed in: a new session.
    SignedIn {
        /// The session cookie's value.
        session: Secret,
        /// Who, for OpenID Connect.
        who: SignedIn,
        /// Where to go next.
        return_to: String,
    },
    /// The account has a second factor: the sign-in continues with a code
    /// for `user` (no session yet).
    SecondFactor {
        /// Who passed the first step.
        user: User,
        /// Where to go after the second.
        return_to: String,
    },
    /// The upstream identity was linked to the signed-in account.
    Linked {
        /// Where to go next.
        return_to: String,
    },
}

/// The sealed cookie's content.
#[derive(Serialize, Deserialize)]
struct Flow {
    /// Provider name.
    p: String,
    /// State.
    s: String,
    /// Nonce.
    n: String,
    /// PKCE verifier.
    v: String,
    /// Where to return.
    r: String,
    /// Expiry, Unix seconds.
    e: i64,
    /// Link to this signed-in user instead of signing in.
    l: Option<uuid::Uuid>,
}

const FLOW_AD: &str = "gatehouse/upstream-flow/v1";

/// Discovery documents and JWKS by issuer.
#[derive(Default)]
pub(crate) struct UpstreamCache {
    entries: Mutex<HashMap<String, Cached>>,
}

#[derive(Clone)]
struct Cached {
    metadata: ProviderMetadata,
    jwks: Value,
    fetched_at: OffsetDateTime,
}

impl UpstreamCache {
    fn get(&self, issuer: &str, now: OffsetDateTime) -> Option<Cached> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(issuer)
            .filter(|c| now - c.fetched_at < METADATA_TTL)
            .cloned()
    }

    fn put(&self, issuer: &str, c: Cached) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert(issuer.to_owned(), c);
    }

    pub(crate) fn forget(&self, issuer: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(issuer);
    }
}

/// GitHub's API base for a GitHub issuer: api.github.com for github.com,
/// `/api/v3` below an Enterprise host.
fn github_api(issuer: &str) -> String {
    if issuer == crate::model::GITHUB_ISSUER {
        "https://api.github.com".to_owned()
    } else {
        format!("{issuer}/api/v3")
    }
}

/// Text from an upstream, fit to show: printable, at most 200 characters.
fn shown(raw: &str) -> String {
    let clean: String = raw.chars().filter(|c| !c.is_control()).take(200).collect();
    if crate::text::is_displayable(&clean) {
        clean
    } else {
        String::new()
    }
}

fn unavailable(p: &IdentityProvider, what: impl std::fmt::Display) -> UpstreamError {
    UpstreamError::Unavailable(format!(
        "{} could not complete the sign-in: {what}",
        p.display_name
    ))
}

impl Gatehouse {
    fn upstream_http(&self) -> Result<&dyn UpstreamHttp, UpstreamError> {
        self.ports.upstream.as_deref().ok_or_else(|| {
            UpstreamError::Unavailable("signing in through other providers is not enabled".into())
        })
    }

    /// The callback URL registered upstream for provider `name`.
    pub fn upstream_callback(&self, name: &str) -> String {
        format!("{}/idp/{name}/callback", self.settings.issuer)
    }

    async fn provider_named(&self, name: &str) -> Result<IdentityProvider, UpstreamError> {
        self.ports
            .identities
            .provider_by_name(name)
            .await?
            .ok_or(UpstreamError::UnknownProvider)
    }

    /// The provider's discovery document (and JWKS, if fetched), cached.
    async fn discovered(&self, p: &IdentityProvider, fresh: bool) -> Result<Cached, UpstreamError> {
        let now = self.now();
        if !fresh && let Some(c) = self.upstream_cache.get(&p.issuer, now) {
            return Ok(c);
        }
        let http = self.upstream_http()?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            p.issuer.trim_end_matches('/')
        );
        let reply = http
            .get_json(&url, None)
            .await
            .map_err(|e| unavailable(p, e))?;
        if reply.status != 200 {
            return Err(unavailable(
                p,
                format!("discovery answered HTTP {}", reply.status),
            ));
        }
        let metadata = parse_discovery(&p.issuer, &reply.body).map_err(|e| unavailable(p, e))?;
        let jwks = http
            .get_json(&metadata.jwks_uri, None)
            .await
            .map_err(|e| unavailable(p, e))?;
        if jwks.status != 200 {
            return Err(unavailable(
                p,
                format!("its JWKS answered HTTP {}", jwks.status),
            ));
        }
        let c = Cached {
            metadata,
            jwks: jwks.body,
            fetched_at: now,
        };
        self.upstream_cache.put(&p.issuer, c.clone());
        Ok(c)
    }

    /// Starts a sign-in through provider `name`; afterwards the browser
    /// returns to `return_to` (a local path the caller checked). With
    /// `link_to`, the upstream identity is linked to that signed-in user
    /// instead.
    ///
    /// # Errors
    /// [`UpstreamError`].
    #[tracing::instrument(level = "info", skip_all, fields(provider = %name))]
    pub async fn begin_upstream(
        &self,
        name: &str,
        return_to: &str,
        link_to: Option<UserId>,
    ) -> Result<UpstreamStart, UpstreamError> {
        let p = self.provider_named(name).await?;
        let authorization_endpoint = match p.kind {
            IdpKind::Oidc => {
                self.discovered(&p, false)
                    .await?
                    .metadata
                    .authorization_endpoint
            }
            IdpKind::Github => format!("{}/login/oauth/authorize", p.issuer),
        };
        let flow = Flow {
            p: p.name.as_str().to_owned(),
            s: random_token(""),
            n: random_token(""),
            v: random_token(""),
            r: return_to.to_owned(),
            e: (self.now() + FLOW_TTL).unix_timestamp(),
            l: link_to.map(|u| u.0),
        };
        let mut url = url::Url::parse(&authorization_endpoint)
            .map_err(|_| unavailable(&p, "its authorization endpoint is not a URL"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &p.client_id)
                .append_pair("redirect_uri", &self.upstream_callback(p.name.as_str()))
                .append_pair("scope", &p.scopes.join(" "))
                .append_pair("state", &flow.s)
                .append_pair("code_challenge", CodeChallenge::s256(&flow.v).as_str())
                .append_pair("code_challenge_method", "S256");
            if p.kind == IdpKind::Oidc {
                q.append_pair("nonce", &flow.n);
            }
        }
        let json = serde_json::to_vec(&flow).map_err(|e| ApiError::Unexpected(e.into()))?;
        let sealed = crate::jwt::seal_private_key(&self.master_key, FLOW_AD, &json)
            .map_err(ApiError::Unexpected)?;
        Ok(UpstreamStart {
            location: url.into(),
            flow: URL_SAFE_NO_PAD.encode(sealed),
        })
    }

    fn open_flow(&self, cookie: Option<&str>) -> Option<Flow> {
        let sealed = URL_SAFE_NO_PAD.decode(cookie?).ok()?;
        let json = crate::jwt::open_private_key(&self.master_key, FLOW_AD, &sealed).ok()?;
        let flow: Flow = serde_json::from_slice(&json).ok()?;
        (flow.e > self.now().unix_timestamp()).then_some(flow)
    }

    /// Finishes a sign-in at provider `name`'s callback. `flow` is the
    /// cookie [`Gatehouse::begin_upstream`] set; `current` the browser's
    /// session, if any (needed to link).
    ///
    /// # Errors
    /// [`UpstreamError`]; never a panic for anything the upstream or the
    /// browser sends.
    #[tracing::instrument(level = "info", skip_all, fields(provider = %name))]
    pub async fn finish_upstream(
        &self,
        name: &str,
        callback: UpstreamCallback,
        flow: Option<&str>,
        current: Option<&User>,
    ) -> Result<UpstreamOutcome, UpstreamError> {
        let p = self.provider_named(name).await?;
        let restart = || {
            UpstreamError::Refused(
                "This sign-in expired or was started in another browser. Please start again."
                    .into(),
            )
        };
        let flow = self.open_flow(flow).ok_or_else(restart)?;
        let state_ok = callback
            .state
            .as_deref()
            .is_some_and(|s| constant_time_eq(s, &flow.s));
        if flow.p != p.name.as_str() || !state_ok {
            return Err(restart());
        }
        if let Some(error) = callback.error.as_deref() {
            return Err(UpstreamError::Refused(if error == "access_denied" {
                format!("Sign-in at {} was cancelled.", p.display_name)
            } else {
                let detail = shown(callback.error_description.as_deref().unwrap_or(""));
                format!(
                    "{} refused the sign-in ({}){}",
                    p.display_name,
                    shown(error),
                    if detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {detail}")
                    }
                )
            }));
        }
        if callback.iss.as_deref().is_some_and(|i| i != p.issuer) {
            return Err(UpstreamError::Refused(
                "The answer came from another identity provider (RFC 9207 iss mismatch).".into(),
            ));
        }
        let code = callback
            .code
            .as_deref()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or_else(|| UpstreamError::Refused(format!("{} sent no code.", p.display_name)))?;
        let identity = match p.kind {
            IdpKind::Oidc => self.redeem_oidc(&p, code, &flow).await?,
            IdpKind::Github => self.redeem_github(&p, code, &flow).await?,
        };
        self.settle_account(&p, identity, flow, current).await
    }

    async fn redeem_oidc(
        &self,
        p: &IdentityProvider,
        code: &str,
        flow: &Flow,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let cached = self.discovered(p, false).await?;
        let reply = self
            .redeem_upstream_code(
                p,
                &cached.metadata.token_endpoint,
                cached.metadata.basic_auth,
                code,
                flow,
            )
            .await?;
        let id_token = reply
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| unavailable(p, "its token response has no id_token"))?;
        let expected = Expected {
            issuer: &p.issuer,
            client_id: &p.client_id,
            nonce: &flow.n,
            now: self.now(),
        };
        let mut identity = match verify_id_token(id_token, &cached.jwks, expected) {
            Err(IdTokenError::UnknownKey) => {
                // The provider rotated its keys: read them again, once.
                let fresh = self.discovered(p, true).await?;
                verify_id_token(id_token, &fresh.jwks, expected)
            }
            other => other,
        }
        .map_err(|e| unavailable(p, e))?;
        if identity.email.is_none()
            && let (Some(endpoint), Some(access)) = (
                cached.metadata.userinfo_endpoint.as_deref(),
                reply.get("access_token").and_then(Value::as_str),
            )
        {
            let info = self
                .upstream_http()?
                .get_json(endpoint, Some(access.to_owned()))
                .await
                .map_err(|e| unavailable(p, e))?;
            // OpenID Connect Core §5.3.2: userinfo about someone else is
            // not about this sign-in.
            if info.status == 200
                && info.body.get("sub").and_then(Value::as_str) == Some(&identity.subject)
            {
                let b = &info.body;
                identity.email = b.get("email").and_then(Value::as_str).map(str::to_owned);
                identity.email_verified = b.get("email_verified").is_some_and(is_true);
                if identity.name.is_none() {
                    identity.name = b.get("name").and_then(Value::as_str).map(str::to_owned);
                }
            }
        }
        Ok(identity)
    }

    async fn redeem_github(
        &self,
        p: &IdentityProvider,
        code: &str,
        flow: &Flow,
    ) -> Result<UpstreamIdentity, UpstreamError> {
        let endpoint = format!("{}/login/oauth/access_token", p.issuer);
        let reply = self
            .redeem_upstream_code(p, &endpoint, false, code, flow)
            .await?;
        let token = reply
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| unavailable(p, "no access token came back"))?
            .to_owned();
        let http = self.upstream_http()?;
        let api = github_api(&p.issuer);
        let user = http
            .get_json(&format!("{api}/user"), Some(token.clone()))
            .await
            .map_err(|e| unavailable(p, e))?;
        let id = match user.body.get("id") {
            Some(Value::Number(n)) if user.status == 200 => n.to_string(),
            _ => {
                return Err(unavailable(
                    p,
                    format!("its user API answered HTTP {}", user.status),
                ));
            }
        };
        let text = |k: &str| user.body.get(k).and_then(Value::as_str).map(str::to_owned);
        let emails = http
            .get_json(&format!("{api}/user/emails"), Some(token))
            .await
            .map_err(|e| unavailable(p, e))?;
        let primary = emails
            .body
            .as_array()
            .filter(|_| emails.status == 200)
            .and_then(|all| {
                all.iter().find(|e| {
                    e.get("primary").and_then(Value::as_bool) == Some(true)
                        && e.get("verified").and_then(Value::as_bool) == Some(true)
                })
            })
            .and_then(|e| e.get("email").and_then(Value::as_str))
            .map(str::to_owned);
        Ok(UpstreamIdentity {
            subject: id,
            email_verified: primary.is_some(),
            email: primary.or_else(|| text("email")),
            name: text("name").or_else(|| text("login")),
        })
    }

    /// Redeems the code at a token endpoint; the JSON answer.
    async fn redeem_upstream_code(
        &self,
        p: &IdentityProvider,
        endpoint: &str,
        basic: bool,
        code: &str,
        flow: &Flow,
    ) -> Result<Value, UpstreamError> {
        let secret = self.idp_secret(p).map_err(ApiError::Unexpected)?;
        let mut form = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.to_owned()),
            (
                "redirect_uri".to_owned(),
                self.upstream_callback(p.name.as_str()),
            ),
            ("code_verifier".to_owned(), flow.v.clone()),
        ];
        let auth = if basic {
            Some((p.client_id.clone(), secret))
        } else {
            form.push(("client_id".to_owned(), p.client_id.clone()));
            form.push(("client_secret".to_owned(), secret));
            None
        };
        let JsonReply { status, body } = self
            .upstream_http()?
            .post_form(endpoint, form, auth)
            .await
            .map_err(|e| unavailable(p, e))?;
        // GitHub answers errors with 200 and an `error` member.
        if let Some(error) = body.get("error").and_then(Value::as_str) {
            return Err(
                if error == "invalid_grant" || error == "bad_verification_code" {
                    UpstreamError::Refused(format!(
                        "The sign-in at {} expired or was already used. Please start again.",
                        p.display_name
                    ))
                } else {
                    unavailable(p, format!("its token endpoint said {}", shown(error)))
                },
            );
        }
        if status != 200 {
            return Err(unavailable(
                p,
                format!("its token endpoint answered HTTP {status}"),
            ));
        }
        Ok(body)
    }

    /// Finds, links or creates the account for a verified upstream
    /// identity, then signs in (or confirms the link).
    async fn settle_account(
        &self,
        p: &IdentityProvider,
        identity: UpstreamIdentity,
        flow: Flow,
        current: Option<&User>,
    ) -> Result<UpstreamOutcome, UpstreamError> {
        let ids = &self.ports.identities;
        let existing = ids.find_identity(&p.issuer, &identity.subject).await?;
        if let Some(link_to) = flow.l {
            let Some(me) = current.filter(|u| u.id.0 == link_to) else {
                return Err(UpstreamError::Refused(
                    "You were signed out before the account could be linked. Sign in and try again.".into(),
                ));
            };
            match existing {
                Some(l) if l.user == me.id => {}
                Some(_) => {
                    return Err(UpstreamError::Refused(format!(
                        "That {} account is already linked to another Gatehouse account.",
                        p.display_name
                    )));
                }
                None => self.link(p, &identity, me).await?,
            }
            return Ok(UpstreamOutcome::Linked { return_to: flow.r });
        }
        let user = match existing {
            Some(l) => {
                ids.touch_identity(&p.issuer, &identity.subject, self.now())
                    .await?;
                self.ports.users.get_user(l.user).await?.ok_or_else(|| {
                    UpstreamError::Refused("That account no longer exists.".into())
                })?
            }
            None => self.first_sign_in(p, &identity).await?,
        };
        if self.has_second_factor(&user).await? {
            return Ok(UpstreamOutcome::SecondFactor {
                user,
                return_to: flow.r,
            });
        }
        let (session, who) = self.sign_in(user).await?;
        self.audit(
            AuditEvent::new(AuditKind::SignInSucceeded, self.now())
                .user(who.user.id)
                .detail("identity_provider", p.name.as_str()),
        )
        .await;
        Ok(UpstreamOutcome::SignedIn {
            session,
            who,
            return_to: flow.r,
        })
    }

    /// No link yet: an existing account by verified email (when allowed),
    /// a new account (when allowed), or a clear refusal.
    async fn first_sign_in(
        &self,
        p: &IdentityProvider,
        identity: &UpstreamIdentity,
    ) -> Result<User, UpstreamError> {
        let email = identity.email.as_deref().and_then(|e| Email::parse(e).ok());
        let holder = match &email {
            Some(e) => self.ports.users.get_user_by_email(e).await?,
            None => None,
        };
        if let Some(user) = holder {
            if p.link_by_verified_email && identity.email_verified && user.email_verified {
                self.link(p, identity, &user).await?;
                return Ok(user);
            }
            return Err(UpstreamError::Refused(format!(
                "A Gatehouse account with this email already exists. Sign in with its password, then link {} from your account page.",
                p.display_name
            )));
        }
        if !p.create_users {
            return Err(UpstreamError::Refused(format!(
                "No Gatehouse account is linked to this {} account. Ask an administrator for access.",
                p.display_name
            )));
        }
        let email = email.ok_or_else(|| {
            UpstreamError::Refused(format!(
                "{} did not share an email address, which a new account needs.",
                p.display_name
            ))
        })?;
        let now = self.now();
        let name = identity
            .name
            .as_deref()
            .and_then(|n| validate_name(n).ok())
            .unwrap_or_else(|| email.as_str().split('@').next().unwrap_or("").to_owned());
        let user = User {
            id: UserId::new(),
            name: validate_name(&name).unwrap_or_else(|_| email.as_str().to_owned()),
            email,
            role: Role::User,
            email_verified: identity.email_verified,
            password_hash: PasswordHash::none(),
            sign_in_epoch: 0,
            created_at: now,
            updated_at: now,
        };
        self.ports
            .users
            .insert_user(&user)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => UpstreamError::Refused(
                    "An account with this email was created a moment ago. Please sign in again."
                        .into(),
                ),
                e => e.into(),
            })?;
        self.audit(
            AuditEvent::new(AuditKind::UserCreated, now)
                .user(user.id)
                .detail("identity_provider", p.name.as_str()),
        )
        .await;
        if let Err(e) = self.link(p, identity, &user).await {
            // Someone else's first sign-in linked it first; this account
            // would be an orphan.
            let _ = self.ports.users.delete_user(user.id).await;
            return Err(e);
        }
        Ok(user)
    }

    async fn link(
        &self,
        p: &IdentityProvider,
        identity: &UpstreamIdentity,
        user: &User,
    ) -> Result<(), UpstreamError> {
        let now = self.now();
        let link = LinkedIdentity {
            provider: p.id,
            issuer: p.issuer.clone(),
            subject: identity.subject.clone(),
            user: user.id,
            email: identity.email.clone(),
            created_at: now,
            last_used_at: now,
        };
        self.ports
            .identities
            .link_identity(&link)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => UpstreamError::Refused(format!(
                    "That {} account is already linked to a Gatehouse account.",
                    p.display_name
                )),
                e => e.into(),
            })?;
        tracing::info!(user = %user.id, provider = %p.name, "upstream identity linked");
        self.audit(
            AuditEvent::new(AuditKind::IdentityLinked, now)
                .user(user.id)
                .detail("identity_provider", p.name.as_str()),
        )
        .await;
        Ok(())
    }
}
