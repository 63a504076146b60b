//! A scripted upstream identity provider on 127.0.0.1: OpenID Connect
//! (discovery, authorize, token, JWKS, userinfo) and GitHub's OAuth and
//! API, for the upstream sign-in tests. It approves every authorization
//! at once; what it says about the person, and how it misbehaves, is set
//! through [`Script`]. Error paths and tampering are tested here; a real
//! provider (node-oidc-provider) is driven by the browser test.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "gatehouse-at-fake";
pub const CLIENT_SECRET: &str = "fake-secret with spaces:and/colons";

/// What the fake says and does; tests change it between sign-ins.
#[derive(Clone, Debug)]
pub struct Script {
    pub sub: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    /// Put the email only in userinfo, not in the ID token.
    pub email_only_in_userinfo: bool,
    /// Sign the ID token with a key that is not in the JWKS.
    pub forge_signature: bool,
    /// Replace the nonce.
    pub nonce: Option<String>,
    /// Replace the audience.
    pub aud: Option<String>,
    /// The token endpoint answers this OAuth error.
    pub token_error: Option<String>,
    /// The authorization endpoint answers this error instead of a code.
    pub authorize_error: Option<String>,
}

impl Default for Script {
    fn default() -> Self {
        Self {
            sub: "upstream-user-1".into(),
            email: Some("jane@upstream.example".into()),
            email_verified: true,
            name: Some("Jane Upstream".into()),
            email_only_in_userinfo: false,
            forge_signature: false,
            nonce: None,
            aud: None,
            token_error: None,
            authorize_error: None,
        }
    }
}

/// What an authorization request carried.
#[derive(Clone, Debug)]
struct Pending {
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
}

struct Inner {
    issuer: String,
    key: EcdsaKeyPair,
    forger: EcdsaKeyPair,
    script: Mutex<Script>,
    codes: Mutex<HashMap<String, Pending>>,
    /// Every authorization request's query, for assertions.
    seen: Mutex<Vec<HashMap<String, String>>>,
}

pub struct FakeIdp {
    inner: Arc<Inner>,
    handle: ServerHandle,
}

impl Drop for FakeIdp {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

fn key() -> EcdsaKeyPair {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap()
}

impl FakeIdp {
    pub async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let inner = Arc::new(Inner {
            issuer: format!("http://127.0.0.1:{port}"),
            key: key(),
            forger: key(),
            script: Mutex::new(Script::default()),
            codes: Mutex::default(),
            seen: Mutex::default(),
        });
        let data = web::Data::from(inner.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route(
                    "/.well-known/openid-configuration",
                    web::get().to(discovery),
                )
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
                .route("/jwks", web::get().to(jwks))
                .route("/userinfo", web::get().to(userinfo))
                .route("/login/oauth/authorize", web::get().to(authorize))
                .route("/login/oauth/access_token", web::post().to(github_token))
                .route("/api/v3/user", web::get().to(github_user))
                .route("/api/v3/user/emails", web::get().to(github_emails))
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { inner, handle }
    }

    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    pub fn script(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.inner.script.lock().unwrap());
    }

    /// The query of the last authorization request.
    pub fn last_request(&self) -> HashMap<String, String> {
        self.inner
            .seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default()
    }
}

async fn discovery(s: web::Data<Inner>) -> HttpResponse {
    let i = &s.issuer;
    HttpResponse::Ok().json(json!({
        "issuer": i,
        "authorization_endpoint": format!("{i}/authorize"),
        "token_endpoint": format!("{i}/token"),
        "jwks_uri": format!("{i}/jwks"),
        "userinfo_endpoint": format!("{i}/userinfo"),
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }))
}

async fn authorize(s: web::Data<Inner>, q: web::Query<HashMap<String, String>>) -> HttpResponse {
    let q = q.into_inner();
    s.seen.lock().unwrap().push(q.clone());
    let script = s.script.lock().unwrap().clone();
    let mut back = url::Url::parse(&q["redirect_uri"]).unwrap();
    let state = q.get("state").cloned().unwrap_or_default();
    if let Some(e) = script.authorize_error {
        back.query_pairs_mut()
            .append_pair("error", &e)
            .append_pair("error_description", "The user said no.")
            .append_pair("state", &state);
    } else {
        let code = uuid::Uuid::new_v4().to_string();
        s.codes.lock().unwrap().insert(
            code.clone(),
            Pending {
                redirect_uri: q["redirect_uri"].clone(),
                nonce: q.get("nonce").cloned(),
                challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            },
        );
        back.query_pairs_mut()
            .append_pair("code", &code)
            .append_pair("state", &state);
    }
    HttpResponse::Found()
        .insert_header(("Location", back.to_string()))
        .finish()
}

/// Redeems a code: client authentication, redirect URI and PKCE checked.
fn redeem(
    s: &Inner,
    req: &HttpRequest,
    form: &HashMap<String, String>,
) -> Result<Pending, Box<HttpResponse>> {
    let bad = |e: &str| Box::new(HttpResponse::BadRequest().json(json!({"error": e})));
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic {
        Some(pair) => {
            let (i, s) = pair.split_once(':').unwrap_or_default();
            let dec = |v: &str| {
                url::form_urlencoded::parse(format!("x={v}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default()
            };
            (dec(i), dec(s))
        }
        None => (
            form.get("client_id").cloned().unwrap_or_default(),
            form.get("client_secret").cloned().unwrap_or_default(),
        ),
    };
    if id != CLIENT_ID || secret != CLIENT_SECRET {
        return Err(Box::new(
            HttpResponse::Unauthorized().json(json!({"error": "invalid_client"})),
        ));
    }
    if let Some(e) = s.script.lock().unwrap().token_error.clone() {
        return Err(bad(&e));
    }
    let code = form.get("code").cloned().unwrap_or_default();
    let Some(p) = s.codes.lock().unwrap().remove(&code) else {
        return Err(bad("invalid_grant"));
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    if URL_SAFE_NO_PAD.encode(digest.as_ref()) != p.challenge
        || form.get("redirect_uri") != Some(&p.redirect_uri)
    {
        return Err(bad("invalid_grant"));
    }
    Ok(p)
}

fn sign(key: &EcdsaKeyPair, claims: &Value) -> String {
    let head = URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": "fake-1"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let msg = format!("{head}.{body}");
    let sig = key.sign(&SystemRandom::new(), msg.as_bytes()).unwrap();
    format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

async fn token(
    s: web::Data<Inner>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let p = match redeem(&s, &req, &form) {
        Ok(p) => p,
        Err(res) => return *res,
    };
    let script = s.script.lock().unwrap().clone();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": s.issuer,
        "sub": script.sub,
        "aud": script.aud.clone().unwrap_or_else(|| CLIENT_ID.into()),
        "iat": now,
        "exp": now + 300,
        "nonce": script.nonce.clone().or(p.nonce).unwrap_or_default(),
    });
    if !script.email_only_in_userinfo {
        claims["email"] = json!(script.email);
        claims["email_verified"] = json!(script.email_verified);
        claims["name"] = json!(script.name);
    }
    let key = if script.forge_signature {
        &s.forger
    } else {
        &s.key
    };
    HttpResponse::Ok().json(json!({
        "access_token": format!("at-{}", script.sub),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": sign(key, &claims),
    }))
}

async fn jwks(s: web::Data<Inner>) -> HttpResponse {
    let point = s.key.public_key().as_ref();
    HttpResponse::Ok().json(json!({"keys": [{
        "kty": "EC", "crv": "P-256", "kid": "fake-1", "use": "sig", "alg": "ES256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    }]}))
}

async fn userinfo(s: web::Data<Inner>, req: HttpRequest) -> HttpResponse {
    let script = s.script.lock().unwrap().clone();
    let expected = format!("Bearer at-{}", script.sub);
    if req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        != Some(&expected)
    {
        return HttpResponse::Unauthorized().finish();
    }
    HttpResponse::Ok().json(json!({
        "sub": script.sub,
        "email": script.email,
        "email_verified": script.email_verified,
        "name": script.name,
    }))
}

/// GitHub's token endpoint: errors come back as 200 with `error`.
async fn github_token(
    s: web::Data<Inner>,
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    match redeem(&s, &req, &form) {
        Ok(_) => {
            let sub = s.script.lock().unwrap().sub.clone();
            HttpResponse::Ok().json(json!({"access_token": format!("at-{sub}"), "token_type": "bearer", "scope": "read:user,user:email"}))
        }
        Err(_) => HttpResponse::Ok().json(json!({"error": "bad_verification_code"})),
    }
}

fn github_authorized(s: &Inner, req: &HttpRequest) -> Option<Script> {
    let script = s.script.lock().unwrap().clone();
    let expected = format!("Bearer at-{}", script.sub);
    (req.headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(&expected))
    .then_some(script)
}

async fn github_user(s: web::Data<Inner>, req: HttpRequest) -> HttpResponse {
    let Some(script) = github_authorized(&s, &req) else {
        return HttpResponse::Unauthorized().finish();
    };
    let id: u64 = script.sub.bytes().map(u64::from).sum();
    HttpResponse::Ok()
        .json(json!({"id": id, "login": "octo-jane", "name": script.name, "email": null}))
}

async fn github_emails(s: web::Data<Inner>, req: HttpRequest) -> HttpResponse {
    let Some(script) = github_authorized(&s, &req) else {
        return HttpResponse::Unauthorized().finish();
    };
    HttpResponse::Ok().json(json!([
        {"email": "old@upstream.example", "primary": false, "verified": true},
        {"email": script.email, "primary": true, "verified": script.email_verified},
    ]))
}
