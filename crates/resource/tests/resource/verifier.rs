//! The verifier against a live (fake) authorization server on loopback:
//! every way a token can be wrong is refused with the right challenge.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::jwt::{Keyring, SigningKey};
use gatehouse_resource::{AccessClaims, AuthError, ResourceConfig, Verifier};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const RESOURCE: &str = "https://files.example.com/mcp";

struct FakeAs {
    issuer: String,
    jwks: Arc<Mutex<Value>>,
}

async fn fake_as(keyring: &Keyring) -> FakeAs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}/api/v1/oauth");
    let jwks = Arc::new(Mutex::new(keyring.jwks().clone()));
    let (iss, j) = (issuer.clone(), jwks.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (iss, j) = (iss.clone(), j.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let Ok(n) = sock.read(&mut buf).await else {
                    return;
                };
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if req
                    .starts_with("GET /.well-known/oauth-authorization-server/api/v1/oauth")
                {
                    json!({"issuer": iss, "jwks_uri": format!("{iss}/jwks.json")}).to_string()
                } else {
                    j.lock().unwrap().to_string()
                };
                let res = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(res.as_bytes()).await;
            });
        }
    });
    FakeAs { issuer, jwks }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(issuer: &str) -> AccessClaims {
    AccessClaims {
        iss: issuer.into(),
        sub: "user-1".into(),
        aud: RESOURCE.into(),
        exp: now() + 600,
        iat: now(),
        jti: uuid::Uuid::new_v4(),
        client_id: "oauth_x".into(),
        scope: "files:read mcp:connect".into(),
        grant_id: None,
        act: None,
        nbf: None,
        epoch: None,
    }
}

fn keyring() -> Keyring {
    Keyring::new(SigningKey::generate().unwrap().0, vec![])
}

async fn setup() -> (Keyring, FakeAs, Arc<Verifier>) {
    let kr = keyring();
    let fake = fake_as(&kr).await;
    let mut cfg = ResourceConfig::new(fake.issuer.clone(), RESOURCE);
    cfg.jwks_refetch_interval = Duration::ZERO;
    let v = Verifier::discover(cfg).await.unwrap();
    (kr, fake, v)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

fn invalid(r: Result<gatehouse_resource::Authenticated, AuthError>) -> String {
    match r {
        Err(AuthError::InvalidToken(d)) => d,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_token_is_accepted_with_its_claims() {
    let (kr, fake, v) = setup().await;
    let t = kr.sign(&claims(&fake.issuer)).unwrap();
    let auth = v.verify(Some(&bearer(&t)), &["files:read"]).await.unwrap();
    assert_eq!(auth.claims.sub, "user-1");
    assert_eq!(auth.token(), t);
    assert_eq!(
        v.metadata_url(),
        "https://files.example.com/.well-known/oauth-protected-resource/mcp"
    );
}

#[tokio::test]
async fn wrong_audience_or_issuer_is_invalid() {
    let (kr, fake, v) = setup().await;
    let mut c = claims(&fake.issuer);
    c.aud = "http://127.0.0.1/api/v1".into();
    assert!(
        invalid(v.verify(Some(&bearer(&kr.sign(&c).unwrap())), &[]).await)
            .contains("not meant for this resource")
    );
    let mut c = claims(&fake.issuer);
    c.iss = "https://evil.example/api/v1/oauth".into();
    assert!(invalid(v.verify(Some(&bearer(&kr.sign(&c).unwrap())), &[]).await).contains("issuer"));
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_invalid_beyond_the_leeway() {
    let (kr, fake, v) = setup().await;
    let mut c = claims(&fake.issuer);
    c.exp = now() - 120;
    assert!(invalid(v.verify(Some(&bearer(&kr.sign(&c).unwrap())), &[]).await).contains("expired"));
    let mut c = claims(&fake.issuer);
    c.exp = now() - 10; // within 60 s of leeway
    assert!(
        v.verify(Some(&bearer(&kr.sign(&c).unwrap())), &[])
            .await
            .is_ok()
    );
    let mut c = claims(&fake.issuer);
    c.nbf = Some(now() + 600);
    assert!(
        invalid(v.verify(Some(&bearer(&kr.sign(&c).unwrap())), &[]).await)
            .contains("not valid yet")
    );
}

#[tokio::test]
async fn an_unknown_key_triggers_a_jwks_refetch_that_finds_the_rotated_key() {
    let (_, fake, v) = setup().await;
    let rotated = keyring();
    let t = rotated.sign(&claims(&fake.issuer)).unwrap();
    // Not published yet: refused.
    assert!(invalid(v.verify(Some(&bearer(&t)), &[]).await).contains("unknown key"));
    // The issuer rotates and publishes the new key: accepted after a refetch.
    *fake.jwks.lock().unwrap() = rotated.jwks().clone();
    assert!(v.verify(Some(&bearer(&t)), &[]).await.is_ok());
}

fn forge(header: Value, payload: &Value, sig: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

#[tokio::test]
async fn alg_none_hmac_with_the_public_key_and_tampering_are_refused() {
    let (kr, fake, v) = setup().await;
    let kid = kr.active_kid().to_owned();
    let payload = serde_json::to_value(claims(&fake.issuer)).unwrap();
    let none = forge(
        json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        &payload,
        b"",
    );
    assert!(invalid(v.verify(Some(&bearer(&none)), &[]).await).contains("unsupported"));
    // The classic confusion attack: HMAC keyed with the published public key.
    let public = kr.jwks().to_string();
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public.as_bytes());
    let tag = ring::hmac::sign(&key, input.as_bytes());
    let hs = format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()));
    assert!(invalid(v.verify(Some(&bearer(&hs)), &[]).await).contains("unsupported"));
    // A genuine token with its payload swapped.
    let t = kr.sign(&claims(&fake.issuer)).unwrap();
    let mut evil = claims(&fake.issuer);
    evil.scope = "files:read files:write admin".into();
    let parts: Vec<&str> = t.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(serde_json::to_string(&evil).unwrap()),
        parts[2]
    );
    assert!(invalid(v.verify(Some(&bearer(&tampered)), &[]).await).contains("signature"));
    // A typ other than at+jwt (an ID token, say).
    let jwt = forge(
        json!({"alg": "ES256", "typ": "JWT", "kid": kid}),
        &payload,
        &[0u8; 64],
    );
    assert!(invalid(v.verify(Some(&bearer(&jwt)), &[]).await).contains("unsupported"));
}

#[tokio::test]
async fn a_missing_scope_is_403_naming_every_scope_needed() {
    let (kr, fake, v) = setup().await;
    let t = kr.sign(&claims(&fake.issuer)).unwrap();
    let err = v
        .verify(Some(&bearer(&t)), &["files:read", "files:write"])
        .await
        .unwrap_err();
    assert_eq!(err.status(), 403);
    let c = err.challenge(v.metadata_url()).unwrap();
    assert!(
        c.contains(r#"error="insufficient_scope""#)
            && c.contains(r#"scope="files:read files:write""#),
        "{c}"
    );
    assert!(c.contains("resource_metadata="), "{c}");
    let err = v.verify(None, &[]).await.unwrap_err();
    assert_eq!(err, AuthError::MissingToken);
    assert_eq!(err.status(), 401);
}

#[tokio::test]
async fn discovery_refuses_a_mismatched_issuer() {
    let kr = keyring();
    let fake = fake_as(&kr).await;
    let cfg = ResourceConfig::new(format!("{}/", fake.issuer), RESOURCE);
    let err = Verifier::discover(cfg).await.unwrap_err();
    assert!(err.to_string().contains("is not"), "{err}");
}

#[tokio::test]
async fn the_tower_layer_guards_a_service_and_hands_over_the_identity() {
    use tower::{Layer as _, ServiceExt as _};
    let (kr, fake, v) = setup().await;
    let inner = tower::service_fn(|req: http::Request<String>| async move {
        let who = req
            .extensions()
            .get::<gatehouse_resource::Authenticated>()
            .map(|a| a.claims.sub.clone());
        Ok::<_, std::convert::Infallible>(http::Response::new(who.unwrap_or_default()))
    });
    let svc =
        gatehouse_resource::tower::BearerAuthLayer::new(v.clone(), &["files:read"]).layer(inner);
    let res = svc
        .clone()
        .oneshot(http::Request::new(String::new()))
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let ch = res.headers()[http::header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(ch.contains("resource_metadata=\"https://files.example.com/.well-known/oauth-protected-resource/mcp\""), "{ch}");
    // No token: the body names no error either (RFC 6750 §3.1), as the
    // challenge names none.
    assert!(!ch.contains("error="), "{ch}");
    let body = match res.into_body() {
        http_body_util::Either::Right(full) => {
            use http_body_util::BodyExt as _;
            full.collect().await.unwrap().to_bytes()
        }
        http_body_util::Either::Left(_) => panic!("expected the layer's own answer"),
    };
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body.get("error").is_none(), "{body}");
    assert!(body["error_description"].is_string());
    let t = kr.sign(&claims(&fake.issuer)).unwrap();
    let req = http::Request::builder()
        .header("authorization", bearer(&t))
        .body(String::new())
        .unwrap();
    let res = svc.oneshot(req).await.unwrap();
    assert_eq!(res.status(), 200);
    match res.into_body() {
        http_body_util::Either::Left(body) => assert_eq!(body, "user-1"),
        http_body_util::Either::Right(_) => panic!("expected the inner service's body"),
    }
}
