//! OpenID Connect: discovery, ID tokens, `max_age`, and RP-initiated
//! logout, through the real pages.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::jwt::Verifier;
use gatehouse_core::service::at_hash;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::{Value, json};

use crate::helpers::*;

const SIGNED_OUT: &str = "https://app.example.com/signed-out";

/// A confidential client allowed `openid profile email`, with a
/// post-logout redirect URI.
async fn oidc_client(app: &TestApp) -> TestClient {
    let res = app
        .http
        .post(app.url("/api/v1/oauth/clients"))
        .bearer_auth(&app.admin_token)
        .json(&json!({
            "name": "Relying party",
            "redirect_uris": [REDIRECT],
            "allowed_scopes": ["openid", "profile", "email"],
            "post_logout_redirect_uris": [SIGNED_OUT],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["client"]["post_logout_redirect_uris"],
        json!([SIGNED_OUT])
    );
    TestClient {
        id: body["client"]["client_id"].as_str().unwrap().to_owned(),
        secret: body["client"]["client_secret"].as_str().map(str::to_owned),
    }
}

fn with_params(url: &str, extra: &[(&str, &str)]) -> String {
    format!("{url}&{}", serde_urlencoded::to_string(extra).unwrap())
}

/// Signs in on `browser` and returns the token response of an `openid`
/// request carrying `nonce`.
async fn sign_in_with_openid(
    app: &TestApp,
    browser: &reqwest::Client,
    client: &TestClient,
    scope: &str,
    nonce: &str,
) -> Value {
    let p = pkce();
    let url = with_params(
        &app.authorize_url(&client.id, &p, scope, "st"),
        &[("nonce", nonce)],
    );
    let redirect = app
        .authorize_via_pages(browser, &url, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let code = query(&redirect, "code").expect("a code");
    let res = app.exchange(client, &code, &p).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn jwks(app: &TestApp) -> Verifier {
    let keys: Value = app
        .http
        .get(format!("{}/jwks.json", app.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Verifier::from_jwks(&keys)
}

fn header(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

#[tokio::test]
async fn openid_configuration_is_complete_and_agrees_with_the_oauth_metadata() {
    let app = spawn().await;
    let get = |path: String| {
        let http = app.http.clone();
        async move {
            let res = http.get(path).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            res.json::<Value>().await.unwrap()
        }
    };
    let oauth = get(app.url("/.well-known/oauth-authorization-server/api/v1/oauth")).await;
    let inserted = get(app.url("/.well-known/openid-configuration/api/v1/oauth")).await;
    let appended = get(format!("{}/.well-known/openid-configuration", app.issuer)).await;
    assert_eq!(inserted, appended, "both OIDC locations serve one document");
    // Everything an OAuth client learns, an OIDC one learns identically:
    // an MCP SDK that reads either finds the same endpoints and PKCE.
    for (k, v) in oauth.as_object().unwrap() {
        assert_eq!(&inserted[k], v, "{k} differs between the two documents");
    }
    assert_eq!(inserted["issuer"], app.issuer);
    assert_eq!(inserted["subject_types_supported"], json!(["public"]));
    assert_eq!(
        inserted["id_token_signing_alg_values_supported"],
        json!(["ES256"])
    );
    assert_eq!(
        inserted["code_challenge_methods_supported"],
        json!(["S256"])
    );
    assert_eq!(inserted["response_types_supported"], json!(["code"]));
    assert_eq!(inserted["request_uri_parameter_supported"], json!(false));
    assert_eq!(
        inserted["end_session_endpoint"],
        format!("{}/end_session", app.issuer)
    );
    let scopes = inserted["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&json!("openid")));
    for claim in ["sub", "auth_time", "nonce", "at_hash", "sid", "email"] {
        assert!(
            inserted["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim)),
            "{claim}"
        );
    }
    // openid is the authorization server's, not the platform API's.
    let api = get(app.url("/.well-known/oauth-protected-resource/api/v1")).await;
    assert!(
        !api["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("openid"))
    );
}

#[tokio::test]
async fn an_openid_request_gets_an_id_token_bound_to_its_nonce_session_and_access_token() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let b = browser();
    let before = time::OffsetDateTime::now_utc().unix_timestamp();
    let tokens =
        sign_in_with_openid(&app, &b, &client, "openid profile email", "n-0S6_WzA2Mj").await;
    let id_token = tokens["id_token"].as_str().expect("an id_token");
    let access = tokens["access_token"].as_str().unwrap();
    let h = header(id_token);
    assert_eq!(h["alg"], "ES256");
    assert_eq!(h["typ"], "JWT");
    assert!(h["kid"].is_string());

    let claims: Value = jwks(&app).await.verify_id_token(id_token).unwrap();
    assert_eq!(claims["iss"], app.issuer);
    assert_eq!(claims["aud"], client.id);
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["at_hash"], at_hash(access));
    assert_eq!(claims["email"], ADMIN_EMAIL);
    assert_eq!(claims["email_verified"], true);
    assert!(claims["name"].is_string());
    assert!(claims["sid"].as_str().is_some_and(|s| s.len() >= 16));
    let (iat, exp, auth_time) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
        claims["auth_time"].as_i64().unwrap(),
    );
    assert!(exp > iat && iat >= before - 1);
    assert!(
        auth_time >= before - 1 && auth_time <= iat,
        "signed in just now"
    );

    // The same subject at userinfo, with the OIDC standard claims.
    let info: Value = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["email"], ADMIN_EMAIL);
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["name"], claims["name"]);

    // An ID token is for the client, never a bearer credential.
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(id_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Without the scopes, no claims about the person.
    let b2 = browser();
    let bare = sign_in_with_openid(&app, &b2, &client, "openid", "n2").await;
    let bare: Value = jwks(&app)
        .await
        .verify_id_token(bare["id_token"].as_str().unwrap())
        .unwrap();
    assert!(bare.get("email").is_none() && bare.get("name").is_none());
    assert_ne!(
        bare["sid"], claims["sid"],
        "another browser, another session"
    );

    // Refreshing keeps the grant; the ID token is not reissued.
    let res = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed: Value = res.json().await.unwrap();
    assert!(refreshed.get("id_token").is_none());
    assert!(refreshed["scope"].as_str().unwrap().contains("openid"));
}

#[tokio::test]
async fn without_openid_there_is_no_id_token_and_no_client_gets_openid_unasked() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let tokens = app.tokens(&client, "profile").await;
    assert!(tokens.get("id_token").is_none());
    // Without `scope` a client gets its default: never openid, which turns
    // a request into an OpenID Connect one only when the client says so.
    let p = pkce();
    let url = app
        .authorize_url(&client.id, &p, "x", "st")
        .replace("&scope=x", "");
    let redirect = app
        .authorize_via_pages(&browser(), &url, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let code = query(&redirect, "code").unwrap();
    let body: Value = app.exchange(&client, &code, &p).await.json().await.unwrap();
    assert!(body.get("id_token").is_none(), "{body}");
    assert!(!body["scope"].as_str().unwrap().contains("openid"));
}

#[tokio::test]
async fn max_age_and_prompt_login_make_the_user_sign_in_again() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let b = browser();
    sign_in_with_openid(&app, &b, &client, "openid", "n1").await;
    let again = |extra: &'static [(&'static str, &'static str)]| {
        let url = with_params(
            &app.authorize_url(&client.id, &pkce(), "openid", "st"),
            extra,
        );
        let b = b.clone();
        async move { b.get(url).send().await.unwrap() }
    };
    // A recent enough sign-in and remembered consent: straight back.
    let res = again(&[("max_age", "3600")]).await;
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(res.headers()[LOCATION].to_str().unwrap().contains("code="));
    // max_age=0 and prompt=login: the sign-in form, whatever the session.
    for extra in [&[("max_age", "0")][..], &[("prompt", "login")][..]] {
        let res = again(extra).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains("/api/v1/oauth/login"));
    }
    // Under prompt=none, too old a sign-in is login_required.
    let res = again(&[("max_age", "0"), ("prompt", "none")]).await;
    let to = url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(query(&to, "error").as_deref(), Some("login_required"));

    // The ID token's auth_time is the sign-in's, not the token's.
    let p = pkce();
    let url = with_params(
        &app.authorize_url(&client.id, &p, "openid", "st"),
        &[("max_age", "3600")],
    );
    let res = b.get(url).send().await.unwrap();
    let to = url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
    let body: Value = app
        .exchange(&client, &query(&to, "code").unwrap(), &p)
        .await
        .json()
        .await
        .unwrap();
    let claims: Value = jwks(&app)
        .await
        .verify_id_token(body["id_token"].as_str().unwrap())
        .unwrap();
    assert!(claims["auth_time"].as_i64() <= claims["iat"].as_i64());
    assert!(claims.get("nonce").is_none(), "none was sent");
}

#[tokio::test]
async fn malformed_nonce_and_max_age_are_invalid_requests() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let long = "n".repeat(513);
    for extra in [
        vec![("nonce", long.as_str())],
        vec![("max_age", "-1")],
        vec![("max_age", "soon")],
        vec![("max_age", "99999999999")],
        vec![("nonce", "a"), ("nonce", "b")],
    ] {
        let url = with_params(
            &app.authorize_url(&client.id, &pkce(), "openid", "st"),
            &extra,
        );
        let res = app.http.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FOUND, "{extra:?}");
        let to = url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        assert_eq!(
            query(&to, "error").as_deref(),
            Some("invalid_request"),
            "{extra:?}"
        );
        assert_eq!(query(&to, "state").as_deref(), Some("st"));
    }
}

fn end_session(app: &TestApp, params: &[(&str, &str)]) -> String {
    format!(
        "{}/end_session?{}",
        app.issuer,
        serde_urlencoded::to_string(params).unwrap()
    )
}

/// Whether `browser` still holds a live Gatehouse session.
async fn signed_in(app: &TestApp, browser: &reqwest::Client, client: &TestClient) -> bool {
    let url = with_params(
        &app.authorize_url(&client.id, &pkce(), "openid", "st"),
        &[("prompt", "none")],
    );
    let res = browser.get(url).send().await.unwrap();
    let to = url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
    query(&to, "error").as_deref() != Some("login_required")
}

#[tokio::test]
async fn logout_with_an_id_token_of_this_session_signs_out_and_returns_to_the_app() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let b = browser();
    let tokens = sign_in_with_openid(&app, &b, &client, "openid", "n").await;
    assert!(signed_in(&app, &b, &client).await);
    let res = b
        .get(end_session(
            &app,
            &[
                ("id_token_hint", tokens["id_token"].as_str().unwrap()),
                ("post_logout_redirect_uri", SIGNED_OUT),
                ("state", "bye-1"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION],
        format!("{SIGNED_OUT}?state=bye-1").as_str()
    );
    assert!(!signed_in(&app, &b, &client).await, "the session ended");

    // Again, with nobody signed in: nothing to end, back to the app.
    let res = b
        .get(end_session(
            &app,
            &[
                ("client_id", &client.id),
                ("post_logout_redirect_uri", SIGNED_OUT),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], SIGNED_OUT);
}

#[tokio::test]
async fn logout_without_proof_of_the_session_asks_the_user_first() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let b = browser();
    let other = browser();
    sign_in_with_openid(&app, &b, &client, "openid", "n").await;
    // An ID token from another browser's session proves nothing here.
    let foreign = sign_in_with_openid(&app, &other, &client, "openid", "n").await;
    let url = end_session(
        &app,
        &[
            ("id_token_hint", foreign["id_token"].as_str().unwrap()),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ],
    );
    let res = b.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("Sign out of Gatehouse?") && page.contains("Relying party"));
    assert!(signed_in(&app, &b, &client).await, "asking ends nothing");

    let form = Form::parse(&page, "/api/v1/oauth/end_session");
    // A forged answer (no CSRF token) is refused.
    let res = Form::parse(&page, "/api/v1/oauth/end_session")
        .without("csrf_token")
        .with("decision", "leave")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(signed_in(&app, &b, &client).await);
    // "Stay signed in" stays.
    let res = Form::parse(&page, "/api/v1/oauth/end_session")
        .with("decision", "stay")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(signed_in(&app, &b, &client).await);
    // "Sign out" signs out and goes back to the app.
    let res = form.with("decision", "leave").submit(&b, &app.base).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION], SIGNED_OUT);
    assert!(!signed_in(&app, &b, &client).await);
    assert!(signed_in(&app, &other, &client).await, "only this browser");
}

#[tokio::test]
async fn logout_never_redirects_where_the_app_did_not_register_nor_trusts_a_bad_hint() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let other = oidc_client(&app).await;
    let b = browser();
    let tokens = sign_in_with_openid(&app, &b, &client, "openid", "n").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let mut tampered = id_token.to_owned();
    tampered.pop();
    tampered.push(if id_token.ends_with('A') { 'B' } else { 'A' });
    let access = tokens["access_token"].as_str().unwrap();
    let cases: Vec<Vec<(&str, &str)>> = vec![
        // Not registered, or no client to say whose it is.
        vec![
            ("client_id", &client.id),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![
            ("client_id", &client.id),
            (
                "post_logout_redirect_uri",
                "https://app.example.com/signed-out/",
            ),
        ],
        vec![("post_logout_redirect_uri", SIGNED_OUT)],
        // The hint names another client than client_id.
        vec![("id_token_hint", id_token), ("client_id", &other.id)],
        // Not an ID token of this server.
        vec![("id_token_hint", &tampered)],
        vec![("id_token_hint", access)],
        vec![("id_token_hint", "not.a.jwt")],
        vec![("client_id", "oauth_nobody")],
        vec![("client_id", &client.id), ("client_id", &other.id)],
    ];
    for params in cases {
        let res = b.get(end_session(&app, &params)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(res.headers().get(LOCATION).is_none(), "{params:?}");
        assert!(signed_in(&app, &b, &client).await, "{params:?}");
    }
    // The same through POST, as an app's form would send it.
    let res = b
        .post(format!("{}/end_session", app.issuer))
        .form(&[
            ("client_id", client.id.as_str()),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn registration_takes_post_logout_redirect_uris_under_the_redirect_rules() {
    let app = spawn().await;
    let register = |body: Value| {
        let http = app.http.clone();
        let url = format!("{}/register", app.issuer);
        async move { http.post(url).json(&body).send().await.unwrap() }
    };
    let res = register(json!({
        "client_name": "RP",
        "redirect_uris": ["https://rp.example/cb"],
        "post_logout_redirect_uris": ["https://rp.example/bye", "https://rp.example/bye"],
    }))
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["post_logout_redirect_uris"],
        json!(["https://rp.example/bye"])
    );
    assert_eq!(body["id_token_signed_response_alg"], "ES256");
    for bad in [
        json!({"post_logout_redirect_uris": ["http://rp.example/bye"]}),
        json!({"post_logout_redirect_uris": ["https://rp.example/bye#frag"]}),
        json!({"post_logout_redirect_uris": "https://rp.example/bye"}),
        json!({"id_token_signed_response_alg": "RS256"}),
        json!({"id_token_signed_response_alg": "none"}),
    ] {
        let mut req = json!({"client_name": "RP", "redirect_uris": ["https://rp.example/cb"]});
        for (k, v) in bad.as_object().unwrap() {
            req[k] = v.clone();
        }
        let res = register(req).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        let err: Value = res.json().await.unwrap();
        assert_eq!(err["error"], "invalid_client_metadata", "{bad}");
    }
}

#[tokio::test]
async fn an_mcp_client_asking_for_openid_gets_a_resource_token_and_an_id_token() {
    use crate::mcp::{MCP, claims, code_with, register_resource};
    let app = spawn().await;
    register_resource(&app, MCP, &["files:read", "organizations"]).await;
    let client = app
        .register(true, &["openid", "email", "files:read", "organizations"])
        .await;
    let p = pkce();
    let code = code_with(
        &app,
        &client.id,
        &p,
        &[
            ("scope", "openid email files:read organizations"),
            ("resource", MCP),
            ("nonce", "n-mcp"),
        ],
    )
    .await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client.id),
            ("client_secret", client.secret.as_deref().unwrap()),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
            ("resource", MCP),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    // The access token is the MCP server's, exactly as without openid;
    // email is not a scope of that resource, so it is not granted.
    assert_eq!(claims(access)["aud"], MCP);
    assert_eq!(tokens["scope"], "files:read openid organizations");
    let id: Value = jwks(&app)
        .await
        .verify_id_token(tokens["id_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(id["aud"], client.id);
    assert_eq!(id["nonce"], "n-mcp");

    // userinfo takes it, as OIDC's userinfo takes any OpenID request's
    // token, but reads it for the OpenID claims only: no platform data,
    // although the resource happens to define a scope named like one.
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let info: Value = res.json().await.unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert!(info.get("organizations").is_none(), "{info}");
    // And it stays the MCP server's: the platform API refuses it.
    let res = app
        .http
        .get(app.url("/api/v1/organizations/"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // A resource token without openid is no userinfo credential.
    let p = pkce();
    let code = code_with(
        &app,
        &client.id,
        &p,
        &[("scope", "files:read"), ("resource", MCP)],
    )
    .await;
    let plain: Value = app.exchange(&client, &code, &p).await.json().await.unwrap();
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(plain["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn admins_see_and_change_a_clients_post_logout_redirect_uris() {
    use crate::account::{page, signed_in};
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let b = signed_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, html) = page(&app, &b, &format!("/admin/clients/{}", client.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("After sign-out") && html.contains(SIGNED_OUT));

    let patch = |body: Value| {
        let http = app.http.clone();
        let url = app.url(&format!("/api/v1/oauth/clients/{}", client.id));
        let token = app.admin_token.clone();
        async move {
            http.patch(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let res = patch(json!({"post_logout_redirect_uris": ["http://evil.example/bye"]})).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = patch(json!({"post_logout_redirect_uris": []})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["client"]["post_logout_redirect_uris"], json!([]));
    // Cleared: the app can no longer send anyone there.
    let res = app
        .http
        .get(end_session(
            &app,
            &[
                ("client_id", &client.id),
                ("post_logout_redirect_uri", SIGNED_OUT),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_id_token_hint_at_authorize_must_name_the_signed_in_user() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let b = browser();
    let mine = sign_in_with_openid(&app, &b, &client, "openid", "n").await;
    app.create_user("bea@example.com", "bea-password-long-enough")
        .await;
    let bea_browser = browser();
    let p = pkce();
    let url = with_params(
        &app.authorize_url(&client.id, &p, "openid", "st"),
        &[("nonce", "n")],
    );
    let redirect = app
        .authorize_via_pages(
            &bea_browser,
            &url,
            "bea@example.com",
            "bea-password-long-enough",
        )
        .await;
    let code = query(&redirect, "code").unwrap();
    let beas: Value = app.exchange(&client, &code, &p).await.json().await.unwrap();

    let with_hint = |hint: &str, extra: &[(&str, &str)]| {
        let mut params = vec![("id_token_hint", hint)];
        params.extend_from_slice(extra);
        with_params(
            &app.authorize_url(&client.id, &pkce(), "openid", "st"),
            &params,
        )
    };
    // The hint names the admin, who is signed in here: straight back.
    let res = b
        .get(with_hint(mine["id_token"].as_str().unwrap(), &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert!(res.headers()[LOCATION].to_str().unwrap().contains("code="));
    // It names Bea: the admin's session does not count.
    let beas_hint = beas["id_token"].as_str().unwrap();
    let res = b.get(with_hint(beas_hint, &[])).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("/api/v1/oauth/login"));
    let res = b
        .get(with_hint(beas_hint, &[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    let to = url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(query(&to, "error").as_deref(), Some("login_required"));
    // Not an ID token of this server: invalid_request, redirected.
    let access = mine["access_token"].as_str().unwrap();
    for bad in [access, "e30.e30.e30"] {
        let res = b.get(with_hint(bad, &[])).send().await.unwrap();
        let to = url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
        assert_eq!(
            query(&to, "error").as_deref(),
            Some("invalid_request"),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn an_openid_request_must_name_its_redirect_uri() {
    let app = spawn().await;
    let client = oidc_client(&app).await;
    let url = app
        .authorize_url(&client.id, &pkce(), "openid", "st")
        .replace(
            &format!(
                "&{}",
                serde_urlencoded::to_string([("redirect_uri", REDIRECT)]).unwrap()
            ),
            "",
        );
    assert!(!url.contains("redirect_uri"));
    let res = app.http.get(url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let to = url::Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(query(&to, "error").as_deref(), Some("invalid_request"));
    assert!(
        query(&to, "error_description")
            .unwrap()
            .contains("redirect_uri")
    );
}
