//! The core's rules exercised through its services, in process, with the
//! memory store and a clock that moves only when told to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use gatehouse_core::clock::FixedClock;
use gatehouse_core::model::GrantType;
use gatehouse_core::model::{Client, User};
use gatehouse_core::observe::{NoObserver, Observer, SignInResult};
use gatehouse_core::params::Params;
use gatehouse_core::password::InlineHasher;
use gatehouse_core::pkce::CodeChallenge;
use gatehouse_core::ports::{MockTokenStore, StoreError};
use gatehouse_core::secret::Secret;
use gatehouse_core::service::{
    AuthorizeError, AuthorizeRequest, Caller, ClientCredentials, ClientPatch, Decision, NewClient,
    NewUser, SignedIn, TokenResponse,
};
use gatehouse_core::{ErrorCode, Gatehouse, OAuthError, Ports, Settings};
use gatehouse_store_memory::MemoryStore;
use time::{Duration, OffsetDateTime};

const REDIRECT: &str = "https://app.example.com/cb";
const VERIFIER: &str = "a-high-entropy-code-verifier-of-at-least-43-chars";
const MASTER: &[u8] = b"test master key of at least 32 bytes!";

struct World {
    gh: Gatehouse,
    clock: Arc<FixedClock>,
    store: MemoryStore,
    admin: User,
    caller: Caller,
}

async fn world() -> World {
    world_observed_by(Arc::new(NoObserver)).await
}

async fn world_observed_by(observer: Arc<dyn Observer>) -> World {
    let store = MemoryStore::new();
    let clock = Arc::new(FixedClock::at(OffsetDateTime::now_utc()));
    let mut ports = Ports::from_store(store.clone(), clock.clone(), Arc::new(InlineHasher));
    ports.observer = observer;
    let (gh, _) = Gatehouse::start(
        ports,
        Settings::for_base_url("https://auth.example.com"),
        Some(MASTER.to_vec()),
    )
    .await
    .unwrap();
    gh.ensure_admin("admin@example.com", Some("admin-password"))
        .await
        .unwrap();
    let login = gh
        .login("admin@example.com", "admin-password", None)
        .await
        .unwrap();
    let caller = gh.authenticate_bearer(&login.access_token).await.unwrap();
    World {
        gh,
        clock,
        store,
        admin: login.user,
        caller,
    }
}

impl World {
    async fn client(&self, confidential: bool, scopes: &[&str]) -> (Client, ClientCredentials) {
        let (client, secret) = self
            .gh
            .create_client(
                &self.caller,
                NewClient {
                    name: "App".into(),
                    redirect_uris: vec![REDIRECT.into()],
                    allowed_scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                    is_confidential: confidential,
                    ..NewClient::default()
                },
            )
            .await
            .unwrap();
        let creds = match secret {
            Some(s) => ClientCredentials::Post {
                id: client.id.to_string(),
                secret: s,
            },
            None => ClientCredentials::Public {
                id: client.id.to_string(),
            },
        };
        (client, creds)
    }

    async fn request(
        &self,
        client: &Client,
        scope: &str,
    ) -> Result<AuthorizeRequest, AuthorizeError> {
        let challenge = CodeChallenge::s256(VERIFIER);
        self.gh
            .validate_authorize(Params::from_slice(&[
                ("response_type", "code"),
                ("client_id", client.id.as_str()),
                ("redirect_uri", REDIRECT),
                ("scope", scope),
                ("state", "st"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ]))
            .await
    }

    /// `user`, signed in on a fresh browser session.
    async fn who(&self, user: &User) -> SignedIn {
        self.gh.sign_in(user.clone()).await.unwrap().1
    }

    async fn code_as(&self, user: &User, client: &Client, scope: &str) -> String {
        let req = self.request(client, scope).await.unwrap();
        let url =
            url::Url::parse(&self.gh.approve(&req, &self.who(user).await).await.unwrap()).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    }

    async fn code(&self, client: &Client, scope: &str) -> String {
        self.code_as(&self.admin, client, scope).await
    }

    async fn redeem(
        &self,
        creds: &ClientCredentials,
        code: &str,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.gh.authenticate_client(creds).await?;
        self.gh
            .token(
                &client,
                &Params::from_slice(&[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", VERIFIER),
                ]),
            )
            .await
    }

    async fn refresh(
        &self,
        creds: &ClientCredentials,
        rt: &Secret,
    ) -> Result<TokenResponse, OAuthError> {
        let client = self.gh.authenticate_client(creds).await?;
        self.gh
            .token(
                &client,
                &Params::from_slice(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.expose()),
                ]),
            )
            .await
    }
}

fn code_of(e: Result<TokenResponse, OAuthError>) -> ErrorCode {
    e.expect_err("an error").code
}

#[tokio::test]
async fn a_code_expires_after_sixty_seconds() {
    let w = world().await;
    let (c, creds) = w.client(true, &["profile"]).await;
    let code = w.code(&c, "profile").await;
    w.clock.advance(Duration::seconds(61));
    assert_eq!(
        code_of(w.redeem(&creds, &code).await),
        ErrorCode::InvalidGrant
    );
    let code = w.code(&c, "profile").await;
    w.clock.advance(Duration::seconds(59));
    assert!(w.redeem(&creds, &code).await.is_ok());
}

#[tokio::test]
async fn a_replayed_code_revokes_the_tokens_of_its_first_redemption() {
    let w = world().await;
    let (c, creds) = w.client(true, &["profile"]).await;
    let code = w.code(&c, "profile").await;
    let first = w.redeem(&creds, &code).await.unwrap();
    assert!(w.gh.verify_access_token(&first.access_token).await.is_ok());
    assert_eq!(
        code_of(w.redeem(&creds, &code).await),
        ErrorCode::InvalidGrant
    );
    assert!(w.gh.verify_access_token(&first.access_token).await.is_err());
    assert_eq!(
        code_of(
            w.refresh(&creds, first.refresh_token.as_ref().unwrap())
                .await
        ),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn refresh_rotation_and_reuse_revokes_the_family() {
    let w = world().await;
    let (c, creds) = w.client(true, &["profile"]).await;
    let t0 = w
        .redeem(&creds, &w.code(&c, "profile").await)
        .await
        .unwrap();
    let rt0 = t0.refresh_token.clone().unwrap();
    let t1 = w.refresh(&creds, &rt0).await.unwrap();
    let rt1 = t1.refresh_token.clone().unwrap();
    assert_ne!(rt0, rt1);
    assert_eq!(
        code_of(w.refresh(&creds, &rt0).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        code_of(w.refresh(&creds, &rt1).await),
        ErrorCode::InvalidGrant
    );
    assert!(w.gh.verify_access_token(&t1.access_token).await.is_err());
}

#[tokio::test]
async fn refresh_tokens_and_access_tokens_expire_on_the_clock() {
    let w = world().await;
    let (c, creds) = w.client(true, &["profile"]).await;
    let t = w
        .redeem(&creds, &w.code(&c, "profile").await)
        .await
        .unwrap();
    w.clock.advance(Duration::seconds(3599));
    assert!(w.gh.verify_access_token(&t.access_token).await.is_ok());
    w.clock.advance(Duration::seconds(1));
    assert_eq!(
        w.gh.verify_access_token(&t.access_token)
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidToken
    );
    w.clock.advance(Duration::days(30));
    assert_eq!(
        code_of(w.refresh(&creds, t.refresh_token.as_ref().unwrap()).await),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn a_remembered_verification_skips_only_the_signature_check() {
    // Gatehouse remembers tokens whose signature it checked; each later use
    // must still see revocation and expiry.
    let w = world().await;
    let (c, creds) = w.client(true, &["profile"]).await;
    let revoked = w
        .redeem(&creds, &w.code(&c, "profile").await)
        .await
        .unwrap();
    let expiring = w
        .redeem(&creds, &w.code(&c, "profile").await)
        .await
        .unwrap();
    for _ in 0..2 {
        assert!(
            w.gh.verify_access_token(&revoked.access_token)
                .await
                .is_ok()
        );
        assert!(
            w.gh.verify_access_token(&expiring.access_token)
                .await
                .is_ok()
        );
    }
    let client =
        w.gh.ports()
            .clients
            .get_client(&c.id)
            .await
            .unwrap()
            .unwrap();
    let params =
        gatehouse_core::params::Params::from_slice(&[("token", revoked.access_token.as_str())]);
    w.gh.revoke(&client, &params).await.unwrap();
    assert!(
        w.gh.verify_access_token(&revoked.access_token)
            .await
            .is_err()
    );
    w.clock.advance(Duration::hours(1));
    assert!(
        w.gh.verify_access_token(&expiring.access_token)
            .await
            .is_err()
    );
    // A forged token never enters the cache: one flipped byte fails every time.
    let mut forged = expiring.access_token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for _ in 0..2 {
        assert!(w.gh.verify_access_token(&forged).await.is_err());
    }
}

#[tokio::test]
async fn the_granted_scope_is_request_and_client_and_role() {
    let w = world().await;
    let (c, creds) = w.client(true, &["profile", "email", "admin"]).await;
    let user =
        w.gh.create_user(
            &w.caller,
            NewUser {
                email: "u@example.com".into(),
                name: "U".into(),
                password: "user-password".into(),
                role: None,
                email_verified: None,
            },
        )
        .await
        .unwrap();
    // Asked for more than the client may have, and admin, which the user's role forbids.
    let code = w.code_as(&user, &c, "profile admin users:write").await;
    let t = w.redeem(&creds, &code).await.unwrap();
    assert_eq!(t.scope, "profile");
    // Nothing grantable: invalid_scope, redirected.
    let req = w.request(&c, "admin").await.unwrap();
    match w.gh.decide(&req, &w.who(&user).await).await {
        Err(AuthorizeError::Redirect { error, url, .. }) => {
            assert_eq!(error.code, ErrorCode::InvalidScope);
            assert!(url.contains("state=st") && url.contains("iss="));
        }
        other => panic!("expected invalid_scope, got {other:?}"),
    }
    assert!(matches!(
        w.request(&c, "users:write").await,
        Err(AuthorizeError::Redirect { .. })
    ));
}

#[tokio::test]
async fn consent_is_remembered_per_user_and_client_until_more_is_asked() {
    let w = world().await;
    let (c, _) = w.client(true, &["profile", "email"]).await;
    let req = w.request(&c, "profile").await.unwrap();
    assert!(matches!(
        w.gh.decide(&req, &w.who(&w.admin).await).await.unwrap(),
        Decision::Consent { .. }
    ));
    w.gh.approve(&req, &w.who(&w.admin).await).await.unwrap();
    assert!(matches!(
        w.gh.decide(&req, &w.who(&w.admin).await).await.unwrap(),
        Decision::Redirect(_)
    ));
    let wider = w.request(&c, "profile email").await.unwrap();
    assert!(matches!(
        w.gh.decide(&wider, &w.who(&w.admin).await).await.unwrap(),
        Decision::Consent { .. }
    ));
    let (other, _) = w.client(true, &["profile"]).await;
    let req = w.request(&other, "profile").await.unwrap();
    assert!(matches!(
        w.gh.decide(&req, &w.who(&w.admin).await).await.unwrap(),
        Decision::Consent { .. }
    ));
}

#[tokio::test]
async fn pkce_is_required_unless_an_admin_disables_it_for_a_confidential_client() {
    let w = world().await;
    let (c, creds) = w.client(true, &["profile"]).await;
    let no_pkce = |id: &str| {
        Params::from_slice(&[
            ("response_type", "code"),
            ("client_id", id),
            ("redirect_uri", REDIRECT),
            ("scope", "profile"),
        ])
    };
    assert!(matches!(
        w.gh.validate_authorize(no_pkce(c.id.as_str())).await,
        Err(AuthorizeError::Redirect { .. })
    ));
    let patch = ClientPatch {
        require_pkce: Some(false),
        ..ClientPatch::default()
    };
    w.gh.update_client(&w.caller, c.id.as_str(), patch)
        .await
        .unwrap();
    let req =
        w.gh.validate_authorize(no_pkce(c.id.as_str()))
            .await
            .unwrap();
    let url = url::Url::parse(&w.gh.approve(&req, &w.who(&w.admin).await).await.unwrap()).unwrap();
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    // A verifier where no challenge was sent is a downgrade attempt.
    assert_eq!(
        code_of(w.redeem(&creds, &code).await),
        ErrorCode::InvalidGrant
    );

    let (public, _) = w.client(false, &["profile"]).await;
    let patch = ClientPatch {
        require_pkce: Some(false),
        ..ClientPatch::default()
    };
    assert!(
        w.gh.update_client(&w.caller, public.id.as_str(), patch)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_public_client_must_not_present_a_secret_and_a_confidential_one_must() {
    let w = world().await;
    let (public, _) = w.client(false, &["profile"]).await;
    let (conf, _) = w.client(true, &["profile"]).await;
    let bad = ClientCredentials::Post {
        id: public.id.to_string(),
        secret: Secret::new("secret_x"),
    };
    assert_eq!(
        w.gh.authenticate_client(&bad).await.unwrap_err().code,
        ErrorCode::InvalidClient
    );
    let bad = ClientCredentials::Public {
        id: conf.id.to_string(),
    };
    assert_eq!(
        w.gh.authenticate_client(&bad).await.unwrap_err().code,
        ErrorCode::InvalidClient
    );
    assert!(
        w.gh.authenticate_client(&ClientCredentials::Public {
            id: public.id.to_string()
        })
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn sessions_end_when_they_expire() {
    let w = world().await;
    let cookie = w.gh.start_session(&w.admin).await.unwrap();
    assert!(w.gh.session_user(cookie.expose()).await.unwrap().is_some());
    w.clock.advance(Duration::hours(12));
    assert!(w.gh.session_user(cookie.expose()).await.unwrap().is_none());
}

#[tokio::test]
async fn csrf_tokens_are_bound_to_their_cookie() {
    let w = world().await;
    let t = w.gh.csrf_token("cookie-a");
    assert!(w.gh.check_csrf("cookie-a", &t));
    assert!(!w.gh.check_csrf("cookie-b", &t));
    assert!(!w.gh.check_csrf("cookie-a", "not-base64!"));
}

#[tokio::test]
async fn a_rotated_signing_key_keeps_verifying_the_tokens_it_signed() {
    let w = world().await;
    let (c, creds) = w.client(true, &["profile"]).await;
    let t = w
        .redeem(&creds, &w.code(&c, "profile").await)
        .await
        .unwrap();
    w.gh.rotate_signing_key().await.unwrap();
    assert_eq!(w.gh.jwks()["keys"].as_array().unwrap().len(), 2);
    assert!(w.gh.verify_access_token(&t.access_token).await.is_ok());
    // Once every token of the old key has expired, it is no longer published.
    w.clock.advance(Duration::hours(2));
    w.gh.reload_keys().await.unwrap();
    assert_eq!(w.gh.jwks()["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn signing_keys_survive_a_restart_but_not_a_changed_master_key() {
    let w = world().await;
    let jwks = w.gh.jwks();
    let ports = || Ports::from_store(w.store.clone(), w.clock.clone(), Arc::new(InlineHasher));
    let settings = Settings::for_base_url("https://auth.example.com");
    let (again, _) = Gatehouse::start(ports(), settings.clone(), Some(MASTER.to_vec()))
        .await
        .unwrap();
    assert_eq!(again.jwks(), jwks);
    let wrong = Gatehouse::start(
        ports(),
        settings,
        Some(b"a different master key, 32+ bytes long".to_vec()),
    )
    .await;
    assert!(
        wrong
            .unwrap_err()
            .to_string()
            .contains("GATEHOUSE_SECRET_KEY")
    );
}

#[tokio::test]
async fn wrong_passwords_and_unknown_accounts_fail_alike() {
    let w = world().await;
    let a =
        w.gh.login("admin@example.com", "wrong", None)
            .await
            .unwrap_err();
    let b =
        w.gh.login("nobody@example.com", "wrong", None)
            .await
            .unwrap_err();
    assert_eq!(a.to_string(), b.to_string());
    assert_eq!(a.code(), "invalid_credentials");
}

#[tokio::test]
async fn instances_starting_together_create_one_first_admin_and_both_start() {
    // Both saw no admin; the other instance's insert won the race.
    let w = world().await;
    let mut users = gatehouse_core::ports::MockUserRepo::new();
    let mut seq = mockall::Sequence::new();
    users
        .expect_count_admins()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(0));
    users
        .expect_get_user_by_email()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Ok(None));
    users
        .expect_insert_user()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(StoreError::Conflict("email")));
    users
        .expect_count_admins()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|| Ok(1));
    let mut ports = Ports::from_store(w.store.clone(), w.clock.clone(), Arc::new(InlineHasher));
    ports.users = Arc::new(users);
    let (second, _) = Gatehouse::start(
        ports,
        Settings::for_base_url("https://auth.example.com"),
        Some(MASTER.to_vec()),
    )
    .await
    .unwrap();
    assert!(
        second
            .ensure_admin("admin@example.com", Some("a long admin password"))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_failing_store_is_a_server_error_not_a_panic() {
    let w = world().await;
    let (c, creds) = w.client(true, &["profile"]).await;
    let mut tokens = MockTokenStore::new();
    tokens
        .expect_take_code()
        .returning(|_| Err(StoreError::Unexpected(anyhow::anyhow!("connection reset"))));
    let mut ports = Ports::from_store(w.store.clone(), w.clock.clone(), Arc::new(InlineHasher));
    ports.tokens = Arc::new(tokens);
    let (broken, _) = Gatehouse::start(
        ports,
        Settings::for_base_url("https://auth.example.com"),
        Some(MASTER.to_vec()),
    )
    .await
    .unwrap();
    let client = broken.authenticate_client(&creds).await.unwrap();
    assert_eq!(client.id, c.id);
    let err = broken
        .token(
            &client,
            &Params::from_slice(&[("grant_type", "authorization_code"), ("code", "gtc_x")]),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::ServerError);
    assert!(
        !err.description.contains("connection reset"),
        "causes are logged, not disclosed"
    );
    assert!(
        gatehouse_core::observe::store_errors() >= 1,
        "the failure is counted"
    );
}

/// Writes down every outcome it is told of.
#[derive(Debug, Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl Recorder {
    fn seen(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl Observer for Recorder {
    fn token_issued(&self, grant: GrantType) {
        self.0
            .lock()
            .unwrap()
            .push(format!("issued {}", grant.as_str()));
    }
    fn refresh_reuse_detected(&self) {
        self.0.lock().unwrap().push("reuse".into());
    }
    fn sign_in(&self, result: SignInResult) {
        self.0
            .lock()
            .unwrap()
            .push(format!("sign-in {}", result.as_str()));
    }
}

#[tokio::test]
async fn outcomes_reach_the_observer_once_each() {
    let recorder = Arc::new(Recorder::default());
    let w = world_observed_by(recorder.clone()).await;
    assert_eq!(
        recorder.seen(),
        ["sign-in succeeded"],
        "the admin's login in world()"
    );
    let (c, creds) = w.client(true, &["profile"]).await;
    let t0 = w
        .redeem(&creds, &w.code(&c, "profile").await)
        .await
        .unwrap();
    let rt0 = t0.refresh_token.clone().unwrap();
    w.refresh(&creds, &rt0).await.unwrap();
    assert!(w.refresh(&creds, &rt0).await.is_err());
    // A refused request is not an issued token.
    assert!(w.redeem(&creds, "gtc_unknown").await.is_err());
    assert!(
        w.gh.login("admin@example.com", "wrong-password", None)
            .await
            .is_err()
    );
    assert_eq!(
        recorder.seen()[1..],
        [
            "issued authorization_code",
            "issued refresh_token",
            "reuse",
            "sign-in failed"
        ]
    );
    // Keep failing until the throttle refuses before checking.
    let mut throttled = false;
    for _ in 0..40 {
        let _ =
            w.gh.login("admin@example.com", "wrong-password", None)
                .await;
        if recorder.seen().last().map(String::as_str) == Some("sign-in throttled") {
            throttled = true;
            break;
        }
    }
    assert!(throttled, "{:?}", recorder.seen());
}

#[tokio::test]
async fn the_last_owner_of_an_organization_cannot_be_deleted() {
    use gatehouse_core::service::NewOrganization;
    let w = world().await;
    let u =
        w.gh.create_user(
            &w.caller,
            NewUser {
                email: "o@example.com".into(),
                name: "O".into(),
                password: "owner-password".into(),
                role: None,
                email_verified: None,
            },
        )
        .await
        .unwrap();
    let login =
        w.gh.login("o@example.com", "owner-password", None)
            .await
            .unwrap();
    let owner = w.gh.authenticate_bearer(&login.access_token).await.unwrap();
    let (org, _) =
        w.gh.create_org(
            &owner,
            NewOrganization {
                name: "Acme".into(),
                description: None,
            },
        )
        .await
        .unwrap();
    let err =
        w.gh.delete_user(&w.caller, &u.id.to_string())
            .await
            .unwrap_err();
    assert!(err.to_string().contains("last owner"), "{err}");
    w.gh.delete_org(&owner, &org.id.to_string()).await.unwrap();
    w.gh.delete_user(&w.caller, &u.id.to_string())
        .await
        .unwrap();
}

#[test]
fn login_responses_do_not_print_their_token() {
    let s = format!(
        "{:?}",
        gatehouse_core::service::LoginResponse {
            access_token: "eyJ.secret.token".into(),
            expires_in: 1,
            user: gatehouse_core::model::User {
                id: gatehouse_core::model::UserId::new(),
                email: gatehouse_core::model::Email::parse("a@b.c").unwrap(),
                name: "A".into(),
                role: gatehouse_core::model::Role::User,
                email_verified: true,
                password_hash: gatehouse_core::model::PasswordHash("x".into()),
                sign_in_epoch: 0,
                created_at: OffsetDateTime::UNIX_EPOCH,
                updated_at: OffsetDateTime::UNIX_EPOCH,
            },
        }
    );
    assert!(!s.contains("secret"));
}
