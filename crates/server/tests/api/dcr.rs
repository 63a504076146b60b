//! Dynamic client registration as MCP clients use it (RFC 7591, and RFC
//! 7592 for managing the registration): full null-free answers, RFC
//! defaults, policies, and what a self-registered client can and cannot do.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mcp::{MCP, authorize_url, register_resource};

async fn dcr(app: &TestApp, body: Value) -> reqwest::Response {
    app.http
        .post(format!("{}/register", app.issuer))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn dynamic_registration_answers_with_full_null_free_metadata() {
    let app = spawn().await;
    let res = dcr(
        &app,
        json!({
            "client_name": "Claude",
            "redirect_uris": ["http://127.0.0.1:33418/callback"],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "application_type": "native",
            "logo_uri": null,
            "contacts": ["dev@example.com"],
        }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    for (k, v) in body.as_object().unwrap() {
        assert!(!v.is_null(), "{k} is null");
    }
    assert!(body["client_id"].as_str().unwrap().starts_with("oauth_"));
    assert!(
        body.get("client_secret").is_none(),
        "public clients get no secret"
    );
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(
        body["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(body["application_type"], "native");
    assert_eq!(body["client_name"], "Claude");
    assert_eq!(body["contacts"], json!(["dev@example.com"]));
    assert!(body["client_id_issued_at"].is_number());
    assert!(body["registration_access_token"].is_string());
    // Loopback: any port works at /authorize (RFC 8252 §7.3).
    let id = body["client_id"].as_str().unwrap();
    let p = pkce();
    let url = format!(
        "{}/authorize?response_type=code&client_id={id}&redirect_uri=http%3A%2F%2F127.0.0.1%3A5555%2Fcallback&code_challenge={}&code_challenge_method=S256&scope=profile",
        app.issuer, p.challenge
    );
    assert_eq!(
        browser().get(url).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn dynamic_registration_defaults_follow_rfc_7591() {
    let app = spawn().await;
    let body: Value = dcr(
        &app,
        json!({"redirect_uris": ["https://app.example.com/cb"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["token_endpoint_auth_method"], "client_secret_basic");
    assert!(
        body["client_secret"]
            .as_str()
            .unwrap()
            .starts_with("secret_")
    );
    assert_eq!(body["client_secret_expires_at"], 0);
    assert_eq!(body["grant_types"], json!(["authorization_code"]));
    assert_eq!(body["application_type"], "web");
    // No refresh_token grant: no refresh token.
    let c = TestClient {
        id: body["client_id"].as_str().unwrap().into(),
        secret: body["client_secret"].as_str().map(Into::into),
    };
    let p = pkce();
    let url = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri=https%3A%2F%2Fapp.example.com%2Fcb&code_challenge={}&code_challenge_method=S256&scope=profile",
        app.issuer, c.id, p.challenge
    );
    let redirect = app
        .authorize_via_pages(&browser(), &url, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let code = query(&redirect, "code").unwrap();
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.com/cb"),
            ("code_verifier", &p.verifier),
        ])
        .send()
        .await
        .unwrap();
    let t: Value = res.json().await.unwrap();
    assert!(t["access_token"].is_string());
    assert!(t.get("refresh_token").is_none());
}

#[tokio::test]
async fn dynamic_registration_refuses_bad_metadata() {
    let app = spawn().await;
    let cases = [
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_redirect_uri"),
        (
            json!({"redirect_uris": ["myapp:/cb"], "application_type": "web"}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "scope": "admin"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (body, want) in cases {
        let res = dcr(&app, body.clone()).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(res.json::<Value>().await.unwrap()["error"], want, "{body}");
    }
    let res = app
        .http
        .post(format!("{}/register", app.issuer))
        .header("content-type", "application/json")
        .body("{oops")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
}

#[tokio::test]
async fn registration_policy_token_and_off() {
    let mut cfg = config();
    cfg.registration = gatehouse_core::service::RegistrationPolicy::Token;
    cfg.registration_token = Some("initial-access-token-of-32-characters!!".into());
    let app = spawn_with(cfg).await;
    let body = json!({"redirect_uris": ["https://a.example/cb"]});
    let res = dcr(&app, body.clone()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let res = app
        .http
        .post(format!("{}/register", app.issuer))
        .bearer_auth("initial-access-token-of-32-characters!!")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let res = app
        .http
        .post(format!("{}/register", app.issuer))
        .bearer_auth(&app.admin_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);

    let mut cfg = config();
    cfg.registration = gatehouse_core::service::RegistrationPolicy::Off;
    let app = spawn_with(cfg).await;
    assert_eq!(dcr(&app, body).await.status(), StatusCode::FORBIDDEN);
    let m: Value = app
        .http
        .get(app.url("/api/v1/oauth/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(m.get("registration_endpoint").is_none());
}

#[tokio::test]
async fn registered_clients_manage_themselves_with_rfc_7592() {
    let app = spawn().await;
    let body: Value = dcr(
        &app,
        json!({"redirect_uris": ["https://a.example/cb"], "client_name": "One"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let uri = body["registration_client_uri"].as_str().unwrap().to_owned();
    let rat = body["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = body["client_id"].as_str().unwrap().to_owned();
    assert_eq!(uri, format!("{}/register/{id}", app.issuer));
    let res = app.http.get(&uri).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .get(&uri)
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let read: Value = app
        .http
        .get(&uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["client_name"], "One");
    assert!(read.get("client_secret").is_none());
    let res = app.http.put(&uri).bearer_auth(&rat).json(&json!({"client_id": id, "redirect_uris": ["https://a.example/cb2"], "client_name": "Two"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["redirect_uris"],
        json!(["https://a.example/cb2"])
    );
    let res = app
        .http
        .put(&uri)
        .bearer_auth(&rat)
        .json(&json!({"client_id": "someone-else", "redirect_uris": ["https://a.example/cb"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .http
        .delete(&uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.http
            .get(&uri)
            .bearer_auth(&rat)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_dynamic_client_steps_up_beyond_the_scope_it_registered_with() {
    let app = spawn().await;
    register_resource(&app, MCP, &["files:read", "files:write"]).await;
    let body: Value = dcr(
        &app,
        json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "scope": "files:read"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = body["client_id"].as_str().unwrap().to_owned();
    let b = browser();
    let p = pkce();
    app.authorize_via_pages(
        &b,
        &authorize_url(&app, &id, &p, &[("resource", MCP), ("scope", "files:read")]),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    // The step-up asks for the union: the consent page appears for the new scope.
    let res = b
        .get(authorize_url(
            &app,
            &id,
            &p,
            &[("resource", MCP), ("scope", "files:read files:write")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("files:write"));
    let res = Form::parse(&page, "/api/v1/oauth/authorize")
        .with("decision", "allow")
        .submit(&b, &app.base)
        .await;
    let code = query(
        &url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap(),
        "code",
    )
    .unwrap();
    let t: Value = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["scope"], "files:read files:write");
}

#[tokio::test]
async fn self_registered_clients_get_neither_machine_tokens_nor_introspection() {
    let app = spawn().await;
    let res = dcr(&app, json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"})).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client_metadata"
    );
    // A confidential self-registered client cannot introspect tokens.
    let body: Value = dcr(&app, json!({"redirect_uris": ["https://a.example/cb"]}))
        .await
        .json()
        .await
        .unwrap();
    let c = app.seed_client().await;
    let t = app.tokens(&c, "profile").await;
    let res = app
        .http
        .post(format!("{}/introspect", app.issuer))
        .basic_auth(
            body["client_id"].as_str().unwrap(),
            body["client_secret"].as_str(),
        )
        .form(&[("token", t["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // With an initial access token, a machine client may register.
    let mut cfg = config();
    cfg.registration = gatehouse_core::service::RegistrationPolicy::Token;
    let app = spawn_with(cfg).await;
    let res = app.http.post(format!("{}/register", app.issuer)).bearer_auth(&app.admin_token)
        .json(&json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}
