//! Every way a request can be wrong gets the RFC's error and status, never a
//! 500 and never a redirect to an untrusted place.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn oauth_error(res: reqwest::Response) -> (StatusCode, String) {
    let status = res.status();
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    (status, body["error"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn an_unknown_client_or_unregistered_redirect_gets_an_error_page_not_a_redirect() {
    let app = spawn().await;
    let client = app.seed_client().await;
    let b = browser();
    let p = pkce();
    let bad_client = app.authorize_url("oauth_nope", &p, "profile", "s");
    let res = b.get(&bad_client).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains("unknown client_id"));

    let evil = app
        .authorize_url(&client.id, &p, "profile", "s")
        .replace("localhost%3A8000", "evil.example");
    let res = b.get(&evil).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());

    let dup = format!(
        "{}&redirect_uri=https%3A%2F%2Fevil.example%2F",
        app.authorize_url(&client.id, &p, "profile", "s")
    );
    let res = b.get(&dup).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());

    let res = b
        .get(format!("{}/authorize", app.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

async fn authorize_error(app: &TestApp, query: &str) -> url::Url {
    let res = browser()
        .get(format!("{}/authorize?{query}", app.issuer))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND, "{query}");
    url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap()
}

#[tokio::test]
async fn authorize_errors_after_the_redirect_is_trusted_go_back_with_state_and_iss() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let p = pkce();
    let base = format!(
        "client_id={}&redirect_uri=http%3A%2F%2Flocalhost%3A8000%2Foauth%2Fcallback&state=S",
        c.id
    );
    let ch = &p.challenge;
    let cases = [
        (
            format!("{base}&response_type=code&scope=profile"),
            "invalid_request",
        ), // no PKCE
        (
            format!(
                "{base}&response_type=code&scope=profile&code_challenge={ch}&code_challenge_method=plain"
            ),
            "invalid_request",
        ),
        (
            format!("{base}&response_type=code&scope=profile&code_challenge={ch}"),
            "invalid_request",
        ), // method defaults to plain
        (
            format!(
                "{base}&response_type=code&scope=profile&code_challenge=short&code_challenge_method=S256"
            ),
            "invalid_request",
        ),
        (
            format!(
                "{base}&response_type=token&scope=profile&code_challenge={ch}&code_challenge_method=S256"
            ),
            "unsupported_response_type",
        ),
        (
            format!("{base}&scope=profile&code_challenge={ch}&code_challenge_method=S256"),
            "invalid_request",
        ),
        (
            format!(
                "{base}&response_type=code&scope=admin&code_challenge={ch}&code_challenge_method=S256"
            ),
            "invalid_scope",
        ),
        (
            format!(
                "{base}&response_type=code&scope=%22bad%22&code_challenge={ch}&code_challenge_method=S256"
            ),
            "invalid_scope",
        ),
        (
            format!(
                "{base}&response_type=code&response_type=code&scope=profile&code_challenge={ch}&code_challenge_method=S256"
            ),
            "invalid_request",
        ),
        (
            format!(
                "{base}&response_type=code&scope=profile&code_challenge={ch}&code_challenge_method=S256&prompt=none"
            ),
            "login_required",
        ),
    ];
    for (q, expected) in cases {
        let loc = authorize_error(&app, &q).await;
        assert_eq!(query(&loc, "error").as_deref(), Some(expected), "{q}");
        assert_eq!(query(&loc, "state").as_deref(), Some("S"), "{q}");
        assert_eq!(
            query(&loc, "iss").as_deref(),
            Some(app.issuer.as_str()),
            "{q}"
        );
        assert!(loc.as_str().starts_with(REDIRECT));
    }
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc_6749() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let secret = c.secret.clone().unwrap();
    let id = c.id.as_str();

    let (s, e) = oauth_error(
        app.token(&[("client_id", id), ("client_secret", &secret)])
            .await,
    )
    .await;
    assert_eq!(
        (s, e.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let (s, e) = oauth_error(
        app.token(&[
            ("grant_type", "password"),
            ("client_id", id),
            ("client_secret", &secret),
        ])
        .await,
    )
    .await;
    assert_eq!(
        (s, e.as_str()),
        (StatusCode::BAD_REQUEST, "unsupported_grant_type")
    );
    let (s, e) = oauth_error(
        app.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", id),
            ("client_secret", "secret_wrong"),
        ])
        .await,
    )
    .await;
    assert_eq!(
        (s, e.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let (s, e) = oauth_error(
        app.token(&[("grant_type", "authorization_code"), ("client_id", id)])
            .await,
    )
    .await;
    assert_eq!(
        (s, e.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let (s, e) = oauth_error(app.token(&[("grant_type", "authorization_code")]).await).await;
    assert_eq!(
        (s, e.as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let (s, e) = oauth_error(
        app.token(&[
            ("grant_type", "authorization_code"),
            ("client_id", id),
            ("client_secret", &secret),
            ("code", "gtc_made_up"),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &"a".repeat(43)),
        ])
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    let (s, e) = oauth_error(
        app.token(&[
            ("grant_type", "refresh_token"),
            ("client_id", id),
            ("client_secret", &secret),
            ("refresh_token", "gtr_made_up"),
        ])
        .await,
    )
    .await;
    assert_eq!((s, e.as_str()), (StatusCode::BAD_REQUEST, "invalid_grant"));
    let (s, e) = oauth_error(
        app.token(&[
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
            ("client_id", id),
            ("client_secret", &secret),
        ])
        .await,
    )
    .await;
    assert_eq!(
        (s, e.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );

    // Basic with a wrong secret: 401 and a Basic challenge.
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .basic_auth(id, Some("nope"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // Basic and a body secret together: ambiguous.
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .basic_auth(id, Some(&secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(res).await.1, "invalid_request");
    // JSON instead of a form.
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth_error(res).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    // A huge body.
    let big = "a".repeat(200 * 1024);
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .form(&[("grant_type", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth_error(res).await,
        (StatusCode::BAD_REQUEST, "invalid_request".into())
    );
    // Garbage Basic header.
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth_error(res).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
}

#[tokio::test]
async fn a_code_fails_with_the_wrong_verifier_redirect_or_client() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let other = app.seed_client().await;
    let secret = c.secret.clone().unwrap();

    let p = pkce();
    let code = app.code_for(&c, &p, "profile").await;
    let wrong = pkce();
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &wrong.verifier),
        ])
        .await;
    assert_eq!(oauth_error(res).await.1, "invalid_grant");

    let p = pkce();
    let code = app.code_for(&c, &p, "profile").await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", "http://localhost:8000/other"),
            ("code_verifier", &p.verifier),
        ])
        .await;
    assert_eq!(oauth_error(res).await.1, "invalid_grant");

    let p = pkce();
    let code = app.code_for(&c, &p, "profile").await;
    let res = app.exchange(&other, &code, &p).await;
    assert_eq!(oauth_error(res).await.1, "invalid_grant");

    let p = pkce();
    let code = app.code_for(&c, &p, "profile").await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ])
        .await;
    assert_eq!(oauth_error(res).await.1, "invalid_request");
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_it_issued() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let p = pkce();
    let code = app.code_for(&c, &p, "profile").await;
    let first: Value = app.exchange(&c, &code, &p).await.json().await.unwrap();
    let res = app.exchange(&c, &code, &p).await;
    assert_eq!(oauth_error(res).await.1, "invalid_grant");
    // The tokens from the first redemption are dead.
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(first["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .refresh(&c, first["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(oauth_error(res).await.1, "invalid_grant");
}

#[tokio::test]
async fn refresh_token_reuse_revokes_the_family() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let t0 = app.tokens(&c, "profile").await;
    let rt0 = t0["refresh_token"].as_str().unwrap();
    let t1: Value = app.refresh(&c, rt0).await.json().await.unwrap();
    let rt1 = t1["refresh_token"].as_str().unwrap();
    // An attacker replays the old token.
    assert_eq!(
        oauth_error(app.refresh(&c, rt0).await).await.1,
        "invalid_grant"
    );
    // The legitimate holder's newer token is dead too, and so is its access token.
    assert_eq!(
        oauth_error(app.refresh(&c, rt1).await).await.1,
        "invalid_grant"
    );
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(t1["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn another_client_cannot_use_or_burn_a_refresh_token() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let thief = app.seed_client().await;
    let t = app.tokens(&c, "profile").await;
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(
        oauth_error(app.refresh(&thief, rt).await).await.1,
        "invalid_grant"
    );
    assert_eq!(app.refresh(&c, rt).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn revocation_of_a_refresh_token_ends_the_grant() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let t = app.tokens(&c, "profile").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let secret = c.secret.clone().unwrap();
    let res = app
        .http
        .post(format!("{}/revoke", app.issuer))
        .form(&[
            ("token", rt),
            ("token_type_hint", "refresh_token"),
            ("client_id", &c.id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        oauth_error(app.refresh(&c, rt).await).await.1,
        "invalid_grant"
    );
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revocation_errors_and_unknown_tokens() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let secret = c.secret.clone().unwrap();
    let url = format!("{}/revoke", app.issuer);
    let res = app
        .http
        .post(&url)
        .form(&[
            ("token", "whatever"),
            ("client_id", c.id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "unknown tokens are not an error (RFC 7009 §2.2)"
    );
    let res = app
        .http
        .post(&url)
        .form(&[
            ("client_id", c.id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(res).await.1, "invalid_request");
    let res = app
        .http
        .post(&url)
        .form(&[
            ("token", "x"),
            ("token_type_hint", "id_token"),
            ("client_id", c.id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(oauth_error(res).await.1, "unsupported_token_type");
    let res = app
        .http
        .post(&url)
        .form(&[
            ("token", "x"),
            ("client_id", c.id.as_str()),
            ("client_secret", "secret_bad"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        oauth_error(res).await,
        (StatusCode::UNAUTHORIZED, "invalid_client".into())
    );
}

#[tokio::test]
async fn forms_without_a_valid_csrf_token_are_refused() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let b = browser();
    let url = app.authorize_url(&c.id, &pkce(), "profile", "s");
    let page = b.get(&url).send().await.unwrap().text().await.unwrap();
    let res = Form::parse(&page, "/api/v1/oauth/login")
        .with("csrf_token", "forged")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // A fresh browser (no CSRF cookie) posting a token copied from elsewhere.
    let res = Form::parse(&page, "/api/v1/oauth/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&browser(), &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Consent without CSRF.
    let res = Form::parse(&page, "/api/v1/oauth/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await;
    let consent = res.text().await.unwrap();
    let res = Form::parse(&consent, "/api/v1/oauth/authorize")
        .without("csrf_token")
        .with("decision", "allow")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
}

#[tokio::test]
async fn a_wrong_password_re_renders_the_login_page_and_login_is_rate_limited() {
    let mut cfg = config();
    cfg.login_attempts_per_minute = 3;
    let app = spawn_with(cfg).await;
    let c = app.seed_client().await;
    let b = browser();
    let url = app.authorize_url(&c.id, &pkce(), "profile", "s");
    let page = b.get(&url).send().await.unwrap().text().await.unwrap();
    let form = Form::parse(&page, "/api/v1/oauth/login");
    let res = form
        .with("email", "someone@example.com")
        .with("password", "wrong-password")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("not correct"));
    let page = b.get(&url).send().await.unwrap().text().await.unwrap();
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        let form = Form::parse(&page, "/api/v1/oauth/login");
        last = form
            .with("email", "someone@example.com")
            .with("password", "wrong-password")
            .submit(&b, &app.base)
            .await
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    // The JSON login shares the budget for that account.
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": "someone@example.com", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn the_platform_api_answers_bad_input_with_json_errors() {
    let app = spawn().await;
    let t = &app.admin_token;
    let res = app
        .http
        .post(app.url("/api/v1/oauth/clients"))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    let res = app
        .http
        .post(app.url("/api/v1/oauth/clients"))
        .bearer_auth(t)
        .json(&serde_json::json!({"name": "x", "redirect_uris": ["http://evil.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app.http.post(app.url("/api/v1/oauth/clients")).bearer_auth(t).json(&serde_json::json!({"name": "x", "redirect_uris": ["https://ok.example/cb"], "allowed_scopes": ["made:up"]})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"email": ADMIN_EMAIL, "password": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let big = format!(
        "{{\"email\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(100 * 1024)
    );
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .http
        .get(app.url("/api/v1/users/?organization_id=not-a-uuid"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .http
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app
        .http
        .get(app.url("/api/v1/users/"))
        .bearer_auth("garbage.token.here")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
}
