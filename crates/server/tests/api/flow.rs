//! The seed's flow, end to end, through the real pages.

use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, X_FRAME_OPTIONS};
use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_seed_flow_works_from_login_to_revocation() {
    let app = spawn().await;
    let client = app.seed_client().await;
    assert!(client.id.starts_with("oauth_"));
    assert!(client.secret.as_deref().unwrap().starts_with("secret_"));

    // Authorize through sign-in and consent.
    let p = pkce();
    let url = app.authorize_url(&client.id, &p, SEED_SCOPES, "xyz-state");
    let b = browser();
    let redirect = app
        .authorize_via_pages(&b, &url, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    assert_eq!(redirect.as_str().split('?').next().unwrap(), REDIRECT);
    assert_eq!(query(&redirect, "state").as_deref(), Some("xyz-state"));
    assert_eq!(
        query(&redirect, "iss").as_deref(),
        Some(app.issuer.as_str())
    );
    let code = query(&redirect, "code").unwrap();

    // Exchange with client_secret_post, as the seed does.
    let res = app.exchange(&client, &code, &p).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(
        tokens["scope"],
        "email mcp:connect organizations profile users:read"
    );
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 43);

    // userinfo and the platform API.
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
    assert_eq!(info["email"], ADMIN_EMAIL);
    assert_eq!(info["email_verified"], true);
    assert!(info["sub"].is_string());
    assert!(info["organizations"].is_array());
    let users = app
        .http
        .get(app.url("/api/v1/users/"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), StatusCode::OK);
    let orgs = app
        .http
        .get(app.url("/api/v1/organizations/"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(orgs.status(), StatusCode::OK);

    // Refresh rotates.
    let res = app.refresh(&client, refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let rotated: Value = res.json().await.unwrap();
    assert_ne!(rotated["refresh_token"], tokens["refresh_token"]);

    // Revoke the new access token: userinfo refuses it at once.
    let new_access = rotated["access_token"].as_str().unwrap();
    let res = app
        .http
        .post(format!("{}/revoke", app.issuer))
        .form(&[
            ("token", new_access),
            ("client_id", &client.id),
            ("client_secret", client.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(new_access)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn consent_is_remembered_and_prompt_consent_asks_again() {
    let app = spawn().await;
    let client = app.seed_client().await;
    let b = browser();
    let p = pkce();
    let url = app.authorize_url(&client.id, &p, "profile email", "s1");
    app.authorize_via_pages(&b, &url, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;

    // Same browser, same scopes: straight back with a code, no page.
    let res = b.get(&url).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(query(&loc, "code").is_some());

    // More scopes than consented: the consent page again.
    let wider = app.authorize_url(&client.id, &p, "profile email users:read", "s2");
    let res = b.get(&wider).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("decision"));

    // prompt=consent: always the page.
    let res = b.get(format!("{url}&prompt=consent")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn denying_consent_redirects_with_access_denied_and_state() {
    let app = spawn().await;
    let client = app.seed_client().await;
    let b = browser();
    let url = app.authorize_url(&client.id, &pkce(), "profile", "deny-state");
    let page = b.get(&url).send().await.unwrap().text().await.unwrap();
    let res = Form::parse(&page, "/api/v1/oauth/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await;
    let page = res.text().await.unwrap();
    let res = Form::parse(&page, "/api/v1/oauth/authorize")
        .with("decision", "deny")
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query(&loc, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&loc, "state").as_deref(), Some("deny-state"));
    assert_eq!(query(&loc, "iss").as_deref(), Some(app.issuer.as_str()));
    assert!(query(&loc, "code").is_none());
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_the_facts_a_user_needs() {
    let app = spawn().await;
    let client = app.seed_client().await;
    let b = browser();
    let url = app.authorize_url(&client.id, &pkce(), SEED_SCOPES, "s");
    let res = b.get(&url).send().await.unwrap();
    assert_eq!(res.headers()[X_FRAME_OPTIONS], "DENY");
    assert!(
        res.headers()[CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let cookies: Vec<_> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax")),
        "{cookies:?}"
    );
    let page = res.text().await.unwrap();
    assert!(page.contains("MCP File Server"));
    let res = Form::parse(&page, "/api/v1/oauth/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await;
    let page = res.text().await.unwrap();
    assert!(page.contains("MCP File Server"));
    assert!(
        page.contains("See your email address"),
        "scopes in plain words"
    );
    assert!(page.contains("localhost"), "the redirect host");
    assert!(page.contains(r#"value="allow""#) && page.contains(r#"value="deny""#));
}

#[tokio::test]
async fn a_public_client_uses_pkce_and_no_secret() {
    let app = spawn().await;
    let client = app.register(false, &["profile", "email"]).await;
    assert!(client.secret.is_none());
    let tokens = app.tokens(&client, "profile email").await;
    assert!(tokens["refresh_token"].is_string());
    let res = app
        .refresh(&client, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn client_secret_basic_is_accepted() {
    let app = spawn().await;
    let client = app.seed_client().await;
    let p = pkce();
    let code = app.code_for(&client, &p, "profile").await;
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .basic_auth(&client.id, client.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", p.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it() {
    let app = spawn().await;
    let client = app.seed_client().await;
    let tokens = app.tokens(&client, "profile email").await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let secret = client.secret.clone().unwrap();
    let res = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("client_secret", &secret),
            ("refresh_token", rt),
            ("scope", "profile users:read"),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let res = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.id),
            ("client_secret", &secret),
            ("refresh_token", rt),
            ("scope", "profile"),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["scope"], "profile");
}

#[tokio::test]
async fn discovery_is_served_at_both_locations_and_lists_what_works() {
    let app = spawn().await;
    let a: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server/api/v1/oauth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b: Value = app
        .http
        .get(app.url("/api/v1/oauth/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a["issuer"], app.issuer);
    assert_eq!(a["token_endpoint"], format!("{}/token", app.issuer));
    assert_eq!(
        a["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        a["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post", "none"])
    );
    assert_eq!(
        a["grant_types_supported"],
        serde_json::json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange"
        ])
    );
    assert_eq!(a["authorization_response_iss_parameter_supported"], true);
    let jwks: Value = app
        .http
        .get(a["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "EC");
    assert_eq!(key["crv"], "P-256");
    assert_eq!(key["alg"], "ES256");
    assert!(key.get("d").is_none(), "no private part");
}

#[tokio::test]
async fn access_tokens_are_rfc_9068_jwts() {
    use base64::Engine as _;
    let app = spawn().await;
    let client = app.seed_client().await;
    let tokens = app.tokens(&client, "profile").await;
    let at = tokens["access_token"].as_str().unwrap();
    let parts: Vec<&str> = at.split('.').collect();
    let dec = |s: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    let header = dec(parts[0]);
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = dec(parts[1]);
    for c in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "jti",
        "client_id",
        "scope",
    ] {
        assert!(claims.get(c).is_some(), "claim {c}");
    }
    assert_eq!(claims["iss"], app.issuer);
    assert_eq!(claims["aud"], app.url("/api/v1"));
    assert_eq!(claims["client_id"], client.id);
}
