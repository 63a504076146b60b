//! Valid records to store, so each contract states only what it varies.
//!
//! Times are whole seconds near the real present: every backend keeps them
//! exactly (no microsecond rounding to break equality), and a backend that
//! expires records by its own clock (a TTL) still sees the unexpired ones as
//! alive. Credentials are fresh random values, never shared between records.

use gatehouse_core::model::{
    ApplicationType, AuthorizationCode, Client, ClientId, ClientOrigin, Consent, Email, Grant,
    GrantId, GrantType, Membership, OrgId, OrgRole, Organization, PasswordHash, PresentedRefresh,
    RefreshClaim, RefreshFamily, Resource, ResourceId, Role, Session, SignInContext, StoredKey,
    TokenEndpointAuthMethod, User, UserId,
};
use gatehouse_core::pkce::CodeChallenge;
use gatehouse_core::redirect::RedirectUri;
use gatehouse_core::scope::ScopeSet;
use gatehouse_core::secret::{TokenHash, random_token};
use time::{Duration, OffsetDateTime};

use crate::Stores;

/// The present, truncated to the second.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp())
        .expect("the present is a valid timestamp")
}

/// The hash of a fresh random credential.
pub fn token_hash() -> TokenHash {
    TokenHash::of(&random_token("test_"))
}

/// Parses a scope string that the fixture author knows is valid.
pub fn scope(raw: &str) -> ScopeSet {
    ScopeSet::parse(raw).expect("fixture scope is valid")
}

/// A confidential client with one redirect URI.
pub fn client() -> Client {
    let at = now();
    Client {
        id: ClientId::generate(),
        secret_hash: Some(token_hash()),
        name: "Contract test app".to_owned(),
        description: "Registered by the store contract suite.".to_owned(),
        redirect_uris: vec![
            RedirectUri::parse("https://app.example.com/callback").expect("fixture URI is valid"),
        ],
        allowed_scopes: scope("openid profile email"),
        auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        application_type: ApplicationType::Web,
        origin: ClientOrigin::Admin,
        require_pkce: true,
        registration_token_hash: None,
        metadata: serde_json::json!({}),
        metadata_expires_at: None,
        created_at: at,
        updated_at: at,
        last_used_at: None,
        registration_key: None,
    }
}

/// A protected resource at `uri` accepting `scopes`.
pub fn resource(uri: &str, scopes: &str) -> Resource {
    let at = now();
    Resource {
        id: ResourceId::new(),
        uri: uri.to_owned(),
        name: "Contract test MCP server".to_owned(),
        scopes: scope(scopes),
        created_at: at,
        updated_at: at,
    }
}

/// An ordinary user with a verified `email`.
pub fn user(email: &str) -> User {
    let at = now();
    User {
        id: UserId::new(),
        email: Email::parse(email).expect("fixture email is valid"),
        name: "Contract Tester".to_owned(),
        role: Role::User,
        email_verified: true,
        password_hash: PasswordHash(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo"
                .to_owned(),
        ),
        sign_in_epoch: 0,
        created_at: at,
        updated_at: at,
    }
}

/// A platform admin with `email`.
pub fn admin(email: &str) -> User {
    User {
        role: Role::Admin,
        ..user(email)
    }
}

/// An organization called `name`.
pub fn org(name: &str) -> Organization {
    let at = now();
    Organization {
        id: OrgId::new(),
        name: name.to_owned(),
        description: String::new(),
        created_at: at,
        updated_at: at,
    }
}

/// `user`'s membership in `org` with `role`.
pub fn member(org: &Organization, user: &User, role: OrgRole) -> Membership {
    Membership {
        org_id: org.id,
        user_id: user.id,
        role,
        created_at: now(),
    }
}

/// A code `user` approved for `client`, valid for 60 seconds, with PKCE.
pub fn code(client: &Client, user: &User) -> AuthorizationCode {
    let at = now();
    AuthorizationCode {
        hash: token_hash(),
        client_id: client.id.clone(),
        user_id: user.id,
        redirect_uri: Some("https://app.example.com/callback".to_owned()),
        scope: scope("openid profile"),
        challenge: Some(CodeChallenge::s256(&random_token("verifier_"))),
        resource: None,
        grant_id: GrantId::new(),
        issued_at: at,
        expires_at: at + Duration::seconds(60),
        sign_in: Some(SignInContext {
            nonce: Some(random_token("nonce_")),
            auth_time: at - Duration::seconds(30),
            sid: random_token("sid_"),
        }),
    }
}

/// An active grant of `client` by `user`.
pub fn grant(client: &Client, user: &User) -> Grant {
    Grant {
        id: GrantId::new(),
        client_id: client.id.clone(),
        user_id: user.id,
        scope: scope("openid profile"),
        resource: None,
        created_at: now(),
        revoked_at: None,
        last_used_at: None,
    }
}

/// `grant`'s refresh family with a first (generation 1) token, valid for
/// 30 days.
pub fn refresh(grant: &Grant) -> RefreshFamily {
    RefreshFamily::issued(grant.id, 1, token_hash(), now(), Duration::days(30))
}

/// The family's current token as the core presents it: its hash, and the
/// claim its (already verified) MAC vouches for.
pub fn presented(family: &RefreshFamily) -> PresentedRefresh {
    PresentedRefresh {
        hash: family.current,
        claim: (family.generation > 0).then_some(RefreshClaim {
            grant: family.grant_id,
            generation: family.generation,
        }),
    }
}

/// The family's next state: generation + 1 with a fresh token, deliberately
/// naming a foreign grant (the port must use the presented token's).
pub fn successor(of: &RefreshFamily) -> RefreshFamily {
    RefreshFamily::issued(
        GrantId::new(),
        of.generation + 1,
        token_hash(),
        now(),
        Duration::days(30),
    )
}

/// A browser session of `user`, valid for an hour.
pub fn session(user: &User) -> Session {
    let at = now();
    Session {
        hash: token_hash(),
        user_id: user.id,
        created_at: at,
        expires_at: at + Duration::hours(1),
    }
}

/// `user`'s consent to `scope` for `client`.
pub fn consent(user: &User, client: &Client, scope: &str) -> Consent {
    Consent {
        user_id: user.id,
        client_id: client.id.clone(),
        scope: self::scope(scope),
        granted_at: now(),
    }
}

/// An active signing key called `kid` (the key bytes are placeholders; the
/// store never interprets them).
pub fn signing_key(kid: &str) -> StoredKey {
    let mut public_key = vec![0x04];
    public_key.extend(std::iter::repeat_n(0xA5, 64));
    StoredKey {
        kid: kid.to_owned(),
        encrypted_private_key: random_token("sealed_").into_bytes(),
        public_key,
        created_at: now(),
        retired_at: None,
    }
}

/// Registers a client and a user in `s`, the parents most records need.
pub async fn registered_client_and_user(s: &Stores, email: &str) -> (Client, User) {
    let client = client();
    s.clients
        .insert_client(&client)
        .await
        .expect("insert client");
    let user = user(email);
    s.users.insert_user(&user).await.expect("insert user");
    (client, user)
}

/// Registers a client, a user, and a grant between them with one refresh
/// token.
pub async fn active_grant(s: &Stores, email: &str) -> (Client, User, Grant, RefreshFamily) {
    let (client, user) = registered_client_and_user(s, email).await;
    let grant = grant(&client, &user);
    let token = refresh(&grant);
    s.tokens
        .create_grant(&grant, Some(token.clone()))
        .await
        .expect("create grant");
    (client, user, grant, token)
}
