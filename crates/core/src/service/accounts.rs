//! Who is calling: password sign-in, browser sessions, CSRF tokens, bearer
//! tokens on the platform API, and `userinfo`.

use std::net::IpAddr;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::Gatehouse;
use super::oidc::SignedIn;
use crate::audit::{AuditEvent, AuditKind};
use crate::error::{ApiError, OAuthError};
use crate::model::{Email, PasswordHash, Role, Session, User, UserId, validate_name};
use crate::observe::SignInResult;
use crate::password::Password;
use crate::scope::{ADMIN_SCOPE, ScopeSet};
use crate::secret::{Secret, TokenHash, random_token};
use crate::service::token::AccessClaims;

/// The `client_id` of tokens from `POST /api/v1/auth/login`: Gatehouse's own
/// first-party console rather than a registered OAuth client.
pub const PLATFORM_CLIENT_ID: &str = "gatehouse";
/// Prefix of browser session cookies.
const SESSION_PREFIX: &str = "gts_";

/// The first administrator's password: the configured one, checked against
/// the password policy, or a generated one to print once.
#[derive(Debug)]
pub struct AdminPassword {
    password: Password,
    generated: Option<Secret>,
}

impl AdminPassword {
    /// Checks `configured`, or generates a password when it is `None`.
    ///
    /// # Errors
    /// A configured password that breaks the policy.
    pub fn new(configured: Option<&str>) -> Result<Self, ApiError> {
        Ok(match configured {
            Some(p) => Self {
                password: Password::new_password(p)?,
                generated: None,
            },
            None => {
                let p = random_token("");
                Self {
                    password: Password::new_password(p.clone())?,
                    generated: Some(Secret::new(p)),
                }
            }
        })
    }

    /// A new random password that meets the policy, for an account an
    /// operator creates without choosing one (`gatehouse users create`):
    /// 256 bits, URL-safe, so it survives any terminal or shell.
    #[must_use]
    pub fn generate() -> String {
        random_token("")
    }

    /// The password, to hash.
    pub fn password(&self) -> &Password {
        &self.password
    }
}

/// An authenticated caller of the platform API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user the token is for.
    pub user: User,
    /// The token's scopes.
    pub scope: ScopeSet,
    /// The verified claims.
    pub claims: AccessClaims,
    /// The client's address as the server determined it (after trusted
    /// proxies), for throttling password checks; `None` when unknown.
    pub source: Option<IpAddr>,
}

impl Caller {
    /// Requires at least one of `any_of`.
    ///
    /// # Errors
    /// [`ApiError::InsufficientScope`] naming every scope that would do.
    pub fn require_scope(&self, any_of: &[&'static str]) -> Result<(), ApiError> {
        if self.scope.contains_any(any_of) {
            Ok(())
        } else {
            Err(ApiError::InsufficientScope(any_of.to_vec()))
        }
    }

    /// A platform administrator acting with the `admin` scope. An admin's
    /// token for a third-party app without that scope has no admin powers.
    pub fn is_admin(&self) -> bool {
        self.user.role == Role::Admin && self.scope.contains(ADMIN_SCOPE)
    }

    /// Requires [`Caller::is_admin`].
    ///
    /// # Errors
    /// 403 `insufficient_scope` without the scope, 403 `forbidden` for a
    /// non-admin holding one somehow.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        self.require_scope(&[ADMIN_SCOPE])?;
        if self.user.role != Role::Admin {
            return Err(ApiError::Forbidden("platform administrators only".into()));
        }
        Ok(())
    }
}

/// A successful password sign-in on the API.
#[derive(Clone)]
pub struct LoginResponse {
    /// A platform access token.
    pub access_token: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
    /// Who signed in.
    pub user: User,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("expires_in", &self.expires_in)
            .field("user", &self.user.id)
            .finish_non_exhaustive()
    }
}

/// A hash to verify against when the email is unknown, so a wrong email
/// costs as long as a wrong password and timing reveals no accounts.
static DUMMY_HASH: OnceLock<PasswordHash> = OnceLock::new();

/// The email of [`Gatehouse::operator`]'s stand-in user (`.invalid` is
/// reserved: no real address can collide with it).
pub const OPERATOR_EMAIL: &str = "operator@gatehouse.invalid";

impl Gatehouse {
    /// The local operator, for the `gatehouse` command line acting on the
    /// store directly: trusted as a platform administrator with every scope,
    /// since whoever can run it holds the database and its key. It is not an
    /// account: its user has the nil id and [`OPERATOR_EMAIL`], which audit
    /// events then name as the actor.
    pub fn operator(&self) -> Caller {
        let now = self.now();
        let scope = Role::Admin.permitted_scopes();
        let user = User {
            id: UserId(uuid::Uuid::nil()),
            email: Email::constant(OPERATOR_EMAIL),
            name: "operator".into(),
            role: Role::Admin,
            email_verified: true,
            password_hash: PasswordHash(String::new()),
            sign_in_epoch: 0,
            created_at: now,
            updated_at: now,
        };
        self.first_party_caller(user, scope, None)
    }

    /// A caller acting through Gatehouse itself (its sign-in, its pages, its
    /// command line), as a token from `/api/v1/auth/login` would: the
    /// services' rules for the platform's own sign-in apply, which no
    /// third-party app's token meets.
    pub(crate) fn first_party_caller(
        &self,
        user: User,
        scope: ScopeSet,
        source: Option<IpAddr>,
    ) -> Caller {
        let now = self.now();
        let claims = AccessClaims {
            iss: self.settings.issuer.clone(),
            sub: user.id.to_string(),
            aud: self.settings.api_audience.clone(),
            exp: (now + time::Duration::minutes(5)).unix_timestamp(),
            iat: now.unix_timestamp(),
            jti: uuid::Uuid::new_v4(),
            client_id: super::PLATFORM_CLIENT_ID.into(),
            scope: scope.to_string(),
            grant_id: None,
            act: None,
            nbf: None,
            epoch: Some(user.sign_in_epoch),
        };
        Caller {
            user,
            scope,
            claims,
            source,
        }
    }

    /// Checks an email and password presented from `from` (the client's
    /// address), under the sign-in throttle.
    ///
    /// A malformed email or password is refused before anything else, so
    /// junk costs no hash and leaves no trace in the throttle.
    ///
    /// # Errors
    /// [`ApiError::BadCredentials`] for any mismatch, the same whether the
    /// account exists or not; [`ApiError::Throttled`] when a budget is spent
    /// (the password was not checked); [`ApiError::Busy`] when no hash can
    /// be queued now.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn check_password(
        &self,
        email: &str,
        password: &str,
        from: Option<IpAddr>,
    ) -> Result<User, ApiError> {
        let email = Email::parse(email).map_err(|_| ApiError::BadCredentials)?;
        let password = Password::presented(password).map_err(|_| ApiError::BadCredentials)?;
        let attempt = match self.throttle.begin(email.as_str(), from, self.now()) {
            Ok(attempt) => attempt,
            Err(e) => {
                self.ports.observer.sign_in(SignInResult::Throttled);
                self.audit(AuditEvent::new(AuditKind::SignInThrottled, self.now()).ip(from))
                    .await;
                return Err(e.into());
            }
        };
        let user = match self.ports.users.get_user_by_email(&email).await {
            Ok(u) => u,
            Err(e) => {
                self.throttle.cancelled(attempt, self.now());
                return Err(e.into());
            }
        };
        // An account without a password (created through an upstream
        // provider) costs the same hash as an unknown one, and can never
        // match: the verdict below needs a usable hash.
        let hash = match &user {
            Some(u) if u.password_hash.is_usable() => Ok(u.password_hash.clone()),
            _ => self.dummy_hash().await,
        };
        let verdict = match hash {
            Ok(hash) => self
                .ports
                .hasher
                .verify(password, hash)
                .await
                .map_err(ApiError::from),
            Err(e) => Err(e),
        };
        match (verdict, user) {
            (Ok(true), Some(user)) if user.password_hash.is_usable() => {
                self.throttle.succeeded(attempt, self.now());
                self.ports.observer.sign_in(SignInResult::Succeeded);
                self.audit(
                    AuditEvent::new(AuditKind::SignInSucceeded, self.now())
                        .user(user.id)
                        .ip(from),
                )
                .await;
                Ok(user)
            }
            // The failure stands: `attempt` was charged as one.
            (Ok(_), user) => {
                self.ports.observer.sign_in(SignInResult::Failed);
                // The account, when there is one; never the email typed,
                // which may be a password typed in the wrong field.
                let mut event = AuditEvent::new(AuditKind::SignInFailed, self.now()).ip(from);
                event = match user {
                    Some(u) => event.user(u.id).detail("reason", "wrong_password"),
                    None => event.detail("reason", "unknown_account"),
                };
                self.audit(event).await;
                Err(ApiError::BadCredentials)
            }
            (Err(e), _) => {
                self.throttle.cancelled(attempt, self.now());
                Err(e)
            }
        }
    }

    /// Checks a signed-in user's own password again (`current_password`),
    /// under the same throttle as sign-in: a stolen token must not turn
    /// into a guessing oracle.
    ///
    /// # Errors
    /// As [`Gatehouse::check_password`], with [`ApiError::Forbidden`] for a
    /// wrong password.
    pub(crate) async fn confirm_password(
        &self,
        user: &User,
        password: &str,
        from: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let wrong = || ApiError::Forbidden("current_password is not correct".into());
        let password = Password::presented(password).map_err(|_| wrong())?;
        let attempt = self.throttle.begin(user.email.as_str(), from, self.now())?;
        match self
            .ports
            .hasher
            .verify(password, user.password_hash.clone())
            .await
        {
            Ok(true) => {
                self.throttle.succeeded(attempt, self.now());
                Ok(())
            }
            Ok(false) => Err(wrong()),
            Err(e) => {
                self.throttle.cancelled(attempt, self.now());
                Err(e.into())
            }
        }
    }

    /// A hash to verify against when the email is unknown, computed once.
    async fn dummy_hash(&self) -> Result<PasswordHash, ApiError> {
        if let Some(h) = DUMMY_HASH.get() {
            return Ok(h.clone());
        }
        let h = self
            .ports
            .hasher
            .hash(Password::presented("timing-equaliser").map_err(ApiError::from)?)
            .await?;
        Ok(DUMMY_HASH.get_or_init(|| h).clone())
    }

    /// `POST /api/v1/auth/login`: a platform token carrying every scope the
    /// user's role permits.
    ///
    /// # Errors
    /// As [`Gatehouse::check_password`].
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        from: Option<IpAddr>,
    ) -> Result<LoginResponse, ApiError> {
        self.login_with_code(email, password, None, from).await
    }

    /// [`Gatehouse::login`] for an account that may have a second factor:
    /// `otp` is a code from its authenticator app or a recovery code.
    ///
    /// # Errors
    /// As [`Gatehouse::check_password`]; [`ApiError::SecondFactorRequired`]
    /// without `otp` for an account that has a second factor, 403 for a
    /// wrong one; 403 for an administrator who must set one up first
    /// (`GATEHOUSE_REQUIRE_MFA_FOR_ADMINS`).
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn login_with_code(
        &self,
        email: &str,
        password: &str,
        otp: Option<&str>,
        from: Option<IpAddr>,
    ) -> Result<LoginResponse, ApiError> {
        let user = self.check_password(email, password, from).await?;
        if self.has_second_factor(&user).await? {
            let code = otp.ok_or(ApiError::SecondFactorRequired)?;
            self.check_second_factor(&user, code, from).await?;
        } else if self.must_set_up_mfa(&user).await? {
            return Err(ApiError::Forbidden(
                "administrators must set up a second factor at /account/security first".into(),
            ));
        }
        let scope = user
            .role
            .permitted_scopes()
            .filter(|s| !crate::scope::is_protocol_scope(s));
        let token = self
            .issue_access_token(super::token::AccessTokenSpec {
                sub: &user.id.to_string(),
                client_id: PLATFORM_CLIENT_ID,
                scope: &scope,
                grant: None,
                aud: &self.settings.api_audience,
                ttl: self.settings.access_token_ttl,
                act: None,
                epoch: Some(user.sign_in_epoch),
                now: self.now(),
            })
            .map_err(|e| ApiError::Unexpected(anyhow::anyhow!(e.to_string())))?;
        tracing::info!(user = %user.id, "signed in to the API");
        Ok(LoginResponse {
            access_token: token,
            expires_in: self.settings.access_token_ttl.whole_seconds(),
            user,
        })
    }

    /// Ends an API session: the presented platform token stops working at
    /// once (it is on the deny list until it would have expired).
    ///
    /// # Errors
    /// A store failure.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn logout(&self, caller: &Caller) -> Result<(), ApiError> {
        let exp = time::OffsetDateTime::from_unix_timestamp(caller.claims.exp)
            .unwrap_or_else(|_| self.now() + self.settings.access_token_ttl);
        self.ports
            .tokens
            .revoke_access_token(caller.claims.jti, exp)
            .await?;
        Ok(())
    }

    /// Creates the first platform admin if there is none. Returns the
    /// generated password when none was given, for the operator to note.
    ///
    /// # Errors
    /// Invalid email or password, or a store failure.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn ensure_admin(
        &self,
        email: &str,
        password: Option<&str>,
    ) -> Result<Option<(Email, Secret)>, ApiError> {
        let admin = match AdminPassword::new(password) {
            Ok(admin) => admin,
            // A password that breaks the policy matters only if it is used.
            Err(_) if self.ports.users.count_admins().await? > 0 => return Ok(None),
            Err(e) => return Err(e),
        };
        let hasher = self.ports.hasher.clone();
        let plain = admin.password.clone();
        self.ensure_admin_hashed(email, admin, async move {
            hasher.hash(plain).await.map_err(anyhow::Error::from)
        })
        .await
    }

    /// [`Gatehouse::ensure_admin`] with the password's hash computed by the
    /// caller, typically started before the store was opened: argon2 takes
    /// longer than everything else a start does, and this takes it off the
    /// path to serving. `hash` is awaited only if an admin is created.
    ///
    /// # Errors
    /// An invalid email, a failed hash, or a store failure.
    pub async fn ensure_admin_hashed<F>(
        &self,
        email: &str,
        admin: AdminPassword,
        hash: F,
    ) -> Result<Option<(Email, Secret)>, ApiError>
    where
        F: std::future::Future<Output = anyhow::Result<PasswordHash>> + Send,
    {
        if self.ports.users.count_admins().await? > 0 {
            return Ok(None);
        }
        let email = Email::parse(email)?;
        let generated = admin.generated;
        let hash = hash.await.map_err(ApiError::Unexpected)?;
        let now = self.now();
        let user = User {
            id: UserId::new(),
            email: email.clone(),
            name: validate_name("Administrator")?,
            role: Role::Admin,
            email_verified: true,
            password_hash: hash,
            sign_in_epoch: 0,
            created_at: now,
            updated_at: now,
        };
        match self.ports.users.get_user_by_email(&email).await? {
            // An ordinary account with that email exists: promote it rather
            // than fail to start.
            Some(mut existing) => {
                existing.role = Role::Admin;
                existing.updated_at = now;
                self.ports.users.update_user(&existing).await?;
                Ok(None)
            }
            None => match self.ports.users.insert_user(&user).await {
                Ok(()) => {
                    self.audit(
                        AuditEvent::new(AuditKind::UserCreated, self.now())
                            .user(user.id)
                            .detail("role", user.role.as_str())
                            .detail("first_admin", true),
                    )
                    .await;
                    Ok(generated.map(|p| (email, p)))
                }
                // Instances starting together on one database: another
                // created the first admin between our check and insert.
                Err(crate::ports::StoreError::Conflict(_))
                    if self.ports.users.count_admins().await? > 0 =>
                {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Starts a browser session for `user`; returns the cookie value.
    ///
    /// # Errors
    /// A store failure.
    #[tracing::instrument(level = "info", skip_all, fields(user = %user.id))]
    pub async fn start_session(&self, user: &User) -> Result<Secret, ApiError> {
        Ok(self.new_session(user).await?.0)
    }

    /// Starts a browser session for `user`, who has just proved who they
    /// are, and says how OpenID Connect sees it.
    ///
    /// # Errors
    /// A store failure.
    pub async fn sign_in(&self, user: User) -> Result<(Secret, SignedIn), ApiError> {
        let (value, session) = self.new_session(&user).await?;
        Ok((value, SignedIn::new(user, &session)))
    }

    async fn new_session(&self, user: &User) -> Result<(Secret, Session), ApiError> {
        let value = Secret::generate(SESSION_PREFIX);
        let now = self.now();
        let session = Session {
            hash: value.hash(),
            user_id: user.id,
            created_at: now,
            expires_at: now + self.settings.session_ttl,
        };
        self.ports.tokens.put_session(&session).await?;
        Ok((value, session))
    }

    /// The user of a live session cookie, if any.
    ///
    /// # Errors
    /// A store failure.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn session_user(&self, cookie: &str) -> Result<Option<User>, ApiError> {
        Ok(self.signed_in(cookie).await?.map(|s| s.user))
    }

    /// Ends a session.
    ///
    /// # Errors
    /// A store failure.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn end_session(&self, cookie: &str) -> Result<(), ApiError> {
        Ok(self
            .ports
            .tokens
            .delete_session(&TokenHash::of(cookie))
            .await?)
    }

    /// A CSRF token bound to `binding` (the browser's CSRF cookie): an HMAC
    /// under a key derived from the master key, so a page on another origin
    /// can neither read nor forge it.
    pub fn csrf_token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(ring::hmac::sign(&self.csrf_key, binding.as_bytes()))
    }

    /// Checks a CSRF token, in constant time.
    pub fn check_csrf(&self, binding: &str, token: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(token) {
            Ok(tag) => ring::hmac::verify(&self.csrf_key, binding.as_bytes(), &tag).is_ok(),
            Err(_) => false,
        }
    }

    /// Authenticates a bearer token on the platform API.
    ///
    /// # Errors
    /// [`ApiError::InvalidToken`] for any token problem, including a user
    /// deleted since issue.
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Caller, ApiError> {
        self.authenticate_bearer_for(token, |_| false).await
    }

    /// Authenticates a bearer token at userinfo: a platform API token, or
    /// the access token of any OpenID Connect request (scope `openid`)
    /// whatever resource it is for (OIDC Core §5.3: userinfo belongs to the
    /// OpenID provider). A token for another resource is read for the
    /// OpenID claims only (`openid`, `profile`, `email`): the platform data
    /// behind other scopes stays with platform API tokens.
    ///
    /// # Errors
    /// As [`Gatehouse::authenticate_bearer`].
    #[tracing::instrument(level = "info", skip_all)]
    pub async fn authenticate_userinfo(&self, token: &str) -> Result<Caller, ApiError> {
        let api = self.settings.api_audience.clone();
        let mut caller = self
            .authenticate_bearer_for(token, |c| c.scopes().contains(crate::scope::OPENID))
            .await?;
        if caller.claims.aud != api {
            caller.scope = caller
                .scope
                .filter(|s| matches!(s, crate::scope::OPENID | "profile" | "email"));
        }
        Ok(caller)
    }

    async fn authenticate_bearer_for(
        &self,
        token: &str,
        also: impl Fn(&AccessClaims) -> bool,
    ) -> Result<Caller, ApiError> {
        let claims = self
            .verify_access_token_for(token, also)
            .await
            .map_err(|e: OAuthError| {
                if e.code == crate::error::ErrorCode::ServerError {
                    ApiError::Unexpected(anyhow::anyhow!("token verification failed"))
                } else {
                    ApiError::InvalidToken(e.description)
                }
            })?;
        let user_id = UserId::parse(&claims.sub)
            .ok_or_else(|| ApiError::InvalidToken("the token does not name a user".into()))?;
        let user = self
            .ports
            .users
            .get_user(user_id)
            .await?
            .ok_or_else(|| ApiError::InvalidToken("the user no longer exists".into()))?;
        // A platform token from before the user's last password change: its
        // holder may be whoever knew the old password.
        if claims.client_id == PLATFORM_CLIENT_ID && claims.epoch.unwrap_or(0) != user.sign_in_epoch
        {
            return Err(ApiError::InvalidToken(
                "the password was changed after this token was issued".into(),
            ));
        }
        // A third-party app acting on the platform API is using its grant.
        if claims.grant_id.is_some()
            && let Ok(id) = crate::model::ClientId::parse(&claims.client_id)
        {
            self.usage.record(&id, claims.grant_id, self.now());
        }
        let scope = ScopeSet::parse(&claims.scope).unwrap_or_default();
        Ok(Caller {
            user,
            scope,
            claims,
            source: None,
        })
    }

    /// The `userinfo` response: `sub` always, other claims per scope.
    ///
    /// # Errors
    /// A store failure.
    #[tracing::instrument(level = "info", skip_all, fields(user = %caller.user.id))]
    pub async fn userinfo(&self, caller: &Caller) -> Result<serde_json::Value, ApiError> {
        let u = &caller.user;
        let mut info = json!({ "sub": u.id.to_string() });
        if caller.scope.contains("email") {
            info["email"] = json!(u.email.as_str());
            info["email_verified"] = json!(u.email_verified);
        }
        if caller.scope.contains("profile") {
            info["name"] = json!(u.name);
            info["role"] = json!(u.role.as_str());
            info["updated_at"] = json!(u.updated_at.unix_timestamp());
        }
        if caller
            .scope
            .contains_any(&["organizations", "organizations:read"])
        {
            let orgs = self.ports.orgs.orgs_of_user(u.id).await?;
            info["organizations"] = orgs
                .into_iter()
                .map(|(o, role)| json!({"id": o.id.to_string(), "name": o.name, "role": role.as_str()}))
                .collect();
        }
        Ok(info)
    }
}
