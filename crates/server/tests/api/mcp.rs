//! What MCP clients need from the authorization server: resource
//! indicators, protected-resource metadata (registration is in `dcr`),
//! introspection, CORS, client credentials, refresh grace.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

pub const MCP: &str = "https://mcp.example.com/mcp";

pub async fn register_resource(app: &TestApp, uri: &str, scopes: &[&str]) -> Value {
    let res = app
        .http
        .post(app.url("/api/v1/oauth/resources"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"resource": uri, "name": "Files MCP", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["resource"].clone()
}

pub fn authorize_url(app: &TestApp, client_id: &str, p: &Pkce, extra: &[(&str, &str)]) -> String {
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", "st"),
        ("code_challenge", p.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    q.extend_from_slice(extra);
    format!(
        "{}/authorize?{}",
        app.issuer,
        serde_urlencoded::to_string(q).unwrap()
    )
}

pub async fn code_with(app: &TestApp, client_id: &str, p: &Pkce, extra: &[(&str, &str)]) -> String {
    let b = browser();
    let url = authorize_url(app, client_id, p, extra);
    let redirect = app
        .authorize_via_pages(&b, &url, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    query(&redirect, "code").expect("a code")
}

pub fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn tokens_are_bound_to_the_requested_resource() {
    let app = spawn().await;
    let r = register_resource(
        &app,
        "https://MCP.example.com/mcp/",
        &["files:read", "mcp:connect"],
    )
    .await;
    assert_eq!(r["resource"], MCP, "stored in canonical form");
    let c = app
        .register(false, &["profile", "files:read", "mcp:connect"])
        .await;
    let p = pkce();
    // The client spells the resource differently; it is the same resource.
    let code = code_with(
        &app,
        &c.id,
        &p,
        &[
            ("resource", "https://mcp.example.com/mcp"),
            ("scope", "files:read profile"),
        ],
    )
    .await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
            ("resource", "https://mcp.example.com/mcp/"),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    let at = claims(t["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], MCP);
    assert_eq!(
        t["scope"], "files:read",
        "platform scopes are not for this audience"
    );
    // A token for the MCP server is not accepted by the platform API.
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Refresh keeps the audience and may not switch it.
    let rt = t["refresh_token"].as_str().unwrap();
    let res = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &c.id),
            ("refresh_token", rt),
            ("resource", "https://other.example.com"),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_target"
    );
    let res = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &c.id),
            ("refresh_token", rt),
            ("resource", MCP),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t2: Value = res.json().await.unwrap();
    assert_eq!(claims(t2["access_token"].as_str().unwrap())["aud"], MCP);
}

#[tokio::test]
async fn unknown_or_mismatched_resources_are_invalid_target() {
    let app = spawn().await;
    register_resource(&app, MCP, &["files:read"]).await;
    let c = app.register(false, &["profile", "files:read"]).await;
    let p = pkce();
    // Unknown resource at /authorize: redirected with invalid_target, state and iss.
    let res = browser()
        .get(authorize_url(
            &app,
            &c.id,
            &p,
            &[("resource", "https://unknown.example.com")],
        ))
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query(&loc, "error").as_deref(), Some("invalid_target"));
    assert_eq!(query(&loc, "iss").as_deref(), Some(app.issuer.as_str()));
    // Two resources: one per request.
    let res = browser()
        .get(format!(
            "{}&resource={}&resource={}",
            authorize_url(&app, &c.id, &p, &[]),
            MCP,
            MCP
        ))
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query(&loc, "error").as_deref(), Some("invalid_target"));
    // A code for the platform API redeemed for the MCP server.
    let code = code_with(&app, &c.id, &p, &[("scope", "profile")]).await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
            ("resource", MCP),
        ])
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_target"
    );
    // Naming the platform API explicitly is the same as naming nothing.
    let p = pkce();
    let code = code_with(
        &app,
        &c.id,
        &p,
        &[("scope", "profile"), ("resource", &app.url("/api/v1/"))],
    )
    .await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await;
    let t: Value = res.json().await.unwrap();
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["aud"],
        app.url("/api/v1")
    );
}

#[tokio::test]
async fn the_platform_api_publishes_rfc_9728_metadata_and_points_to_it() {
    let app = spawn().await;
    let prm: Value = app
        .http
        .get(app.url("/.well-known/oauth-protected-resource/api/v1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["resource"], app.url("/api/v1"));
    assert_eq!(prm["authorization_servers"], json!([app.issuer]));
    assert!(
        !prm["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("offline_access"))
    );
    let prm_url = app.url("/.well-known/oauth-protected-resource/api/v1");
    let res = app
        .http
        .get(app.url("/api/v1/users/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(&format!(r#"resource_metadata="{prm_url}""#))
    );
    let c = app.seed_client().await;
    let t = app.tokens(&c, "profile").await;
    let res = app
        .http
        .get(app.url("/api/v1/users/"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let ch = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        ch.contains(r#"error="insufficient_scope""#)
            && ch.contains("scope=")
            && ch.contains("resource_metadata="),
        "{ch}"
    );
}

#[tokio::test]
async fn metadata_advertises_exactly_what_works_and_the_openid_documents_are_complete() {
    let app = spawn().await;
    let m: Value = app
        .http
        .get(app.url("/.well-known/oauth-authorization-server/api/v1/oauth"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        m["registration_endpoint"],
        format!("{}/register", app.issuer)
    );
    assert_eq!(
        m["introspection_endpoint"],
        format!("{}/introspect", app.issuer)
    );
    assert_eq!(m["authorization_response_iss_parameter_supported"], true);
    assert!(
        m["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("offline_access"))
    );
    for (k, v) in m.as_object().unwrap() {
        assert!(!v.is_null() && v != "", "{k} must not be null or empty");
    }
    // The OIDC documents are real OpenID provider metadata: a plain OAuth
    // one there breaks the TypeScript SDK, which validates whatever it
    // finds at that URL against the OIDC schema (typescript-sdk#2733).
    for path in [
        "/.well-known/openid-configuration/api/v1/oauth",
        "/api/v1/oauth/.well-known/openid-configuration",
    ] {
        let doc: Value = app
            .http
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for required in [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "response_types_supported",
            "subject_types_supported",
            "id_token_signing_alg_values_supported",
        ] {
            assert!(doc.get(required).is_some(), "{path} lacks {required}");
        }
        for (k, v) in doc.as_object().unwrap() {
            assert!(!v.is_null() && v != "", "{k} must not be null or empty");
        }
    }
    // Registered resource scopes are advertised.
    register_resource(&app, MCP, &["files:read"]).await;
    let m: Value = app
        .http
        .get(app.url("/api/v1/oauth/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        m["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("files:read"))
    );
}

#[tokio::test]
async fn introspection_reports_active_and_inactive_tokens() {
    let app = spawn().await;
    let rs = app.seed_client().await; // a resource server's credential
    let c = app.seed_client().await;
    let t = app.tokens(&c, "profile email").await;
    let at = t["access_token"].as_str().unwrap();
    let introspect = |token: String| {
        let rs_secret = rs.secret.clone().unwrap();
        let rs_id = rs.id.clone();
        let http = app.http.clone();
        let url = format!("{}/introspect", app.issuer);
        async move {
            http.post(url)
                .basic_auth(rs_id, Some(rs_secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
        }
    };
    let res = introspect(at.to_owned()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["scope"], "email profile");
    assert_eq!(body["client_id"], c.id);
    for k in ["sub", "aud", "exp", "iat", "iss", "token_type"] {
        assert!(body.get(k).is_some(), "{k}");
    }
    let rt: Value = introspect(t["refresh_token"].as_str().unwrap().to_owned())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rt["active"], true);
    // Revoked: inactive, and nothing else said.
    app.http
        .post(format!("{}/revoke", app.issuer))
        .form(&[
            ("token", at),
            ("client_id", &c.id),
            ("client_secret", c.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = introspect(at.to_owned()).await.json().await.unwrap();
    assert_eq!(body, json!({"active": false}));
    let body: Value = introspect("garbage".into()).await.json().await.unwrap();
    assert_eq!(body, json!({"active": false}));
    // Public clients cannot introspect; neither can the unauthenticated.
    let public = app.register(false, &["profile"]).await;
    let res = app
        .http
        .post(format!("{}/introspect", app.issuer))
        .form(&[("token", at), ("client_id", &public.id)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .post(format!("{}/introspect", app.issuer))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn cors_is_open_on_machine_endpoints_and_absent_on_pages() {
    let app = spawn().await;
    for path in [
        "/.well-known/oauth-authorization-server/api/v1/oauth",
        "/.well-known/oauth-protected-resource/api/v1",
        "/api/v1/oauth/jwks.json",
        "/api/v1/oauth/token",
        "/api/v1/oauth/register",
        "/api/v1/oauth/revoke",
        "/api/v1/oauth/introspect",
    ] {
        let res = app
            .http
            .request(reqwest::Method::OPTIONS, app.url(path))
            .header("origin", "http://localhost:6274")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, mcp-protocol-version",
            )
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        assert_eq!(res.headers()["access-control-allow-origin"], "*", "{path}");
        let allowed = res.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .to_lowercase();
        assert!(
            allowed.contains("mcp-protocol-version") && allowed.contains("authorization"),
            "{path}: {allowed}"
        );
        assert!(
            res.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
    }
    let res = app
        .http
        .get(app.url("/api/v1/oauth/jwks.json"))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
    let res = app
        .http
        .get(format!("{}/authorize", app.issuer))
        .header("origin", "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn machine_clients_use_client_credentials_for_a_resource() {
    let app = spawn().await;
    register_resource(&app, MCP, &["files:read", "files:write"]).await;
    let res = app.http.post(app.url("/api/v1/oauth/clients")).bearer_auth(&app.admin_token)
        .json(&json!({"name": "Batch job", "grant_types": ["client_credentials"], "allowed_scopes": ["files:read"], "is_confidential": true}))
        .send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let body: Value = app
        .http
        .get(app.url("/api/v1/oauth/clients"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = body;
    let created: Value = app.http.post(app.url("/api/v1/oauth/clients")).bearer_auth(&app.admin_token)
        .json(&json!({"name": "Batch job 2", "grant_types": ["client_credentials"], "allowed_scopes": ["files:read"], "is_confidential": true}))
        .send().await.unwrap().json().await.unwrap();
    let id = created["client"]["client_id"].as_str().unwrap();
    let secret = created["client"]["client_secret"].as_str().unwrap();
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", MCP),
            ("scope", "files:read files:write"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let t: Value = res.json().await.unwrap();
    assert_eq!(t["scope"], "files:read");
    assert!(t.get("refresh_token").is_none());
    let c = claims(t["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], MCP);
    assert_eq!(c["sub"], id);
    // Secret in the body works too; the seed-style code client may not use this grant.
    let res = app
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("resource", MCP),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let seed = app.seed_client().await;
    let res = app
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", &seed.id),
            ("client_secret", seed.secret.as_deref().unwrap()),
        ])
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
    // And the code grant is refused to the machine client.
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", id),
            ("client_secret", secret),
            ("code", "x"),
        ])
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

#[tokio::test]
async fn a_rotated_refresh_token_may_be_replayed_once_inside_the_grace_window() {
    let mut cfg = config();
    cfg.refresh_grace_seconds = 30;
    let app = spawn_with(cfg).await;
    let c = app.seed_client().await;
    let t = app.tokens(&c, "profile").await;
    let rt0 = t["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&c, rt0).await.status(), StatusCode::OK);
    // The client never saw the answer and retries: allowed once.
    let retry = app.refresh(&c, rt0).await;
    assert_eq!(retry.status(), StatusCode::OK);
    let rt1: Value = retry.json().await.unwrap();
    // A second replay is reuse: the family dies.
    assert_eq!(app.refresh(&c, rt0).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        app.refresh(&c, rt1["refresh_token"].as_str().unwrap())
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    // Another client cannot use the grace window.
    let t = app.tokens(&c, "profile").await;
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&c, rt).await.status(), StatusCode::OK);
    let other = app.seed_client().await;
    assert_eq!(
        app.refresh(&other, rt).await.status(),
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn step_up_asks_for_the_union_and_offline_access_is_understood() {
    let app = spawn().await;
    let c = app
        .register(false, &["profile", "email", "users:read"])
        .await;
    let b = browser();
    let p = pkce();
    let first = authorize_url(&app, &c.id, &p, &[("scope", "profile")]);
    app.authorize_via_pages(&b, &first, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    // Step-up: earlier ∪ new scopes; consent is asked for again, once.
    let step = authorize_url(
        &app,
        &c.id,
        &p,
        &[("scope", "profile users:read offline_access")],
    );
    let res = b.get(&step).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("See the members of your organizations"));
    let res = Form::parse(&page, "/api/v1/oauth/authorize")
        .with("decision", "allow")
        .submit(&b, &app.base)
        .await;
    let loc = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let code = query(&loc, "code").unwrap();
    let t: Value = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["scope"], "offline_access profile users:read");
    assert!(t["refresh_token"].is_string());
    // Remembered, but this is a public client on a loopback redirect, which
    // any local program could pose as (RFC 8252 §8.6): one click again.
    let res = b.get(&step).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains(r#"value="allow""#));
}

#[tokio::test]
async fn consent_for_one_resource_does_not_cover_another() {
    let app = spawn().await;
    register_resource(&app, MCP, &["files:read"]).await;
    register_resource(&app, "https://other.example.com/mcp", &["files:read"]).await;
    // Confidential: a public loopback client is asked every time anyway.
    let c = app.register(true, &["files:read"]).await;
    let b = browser();
    let p = pkce();
    app.authorize_via_pages(
        &b,
        &authorize_url(
            &app,
            &c.id,
            &p,
            &[("resource", MCP), ("scope", "files:read")],
        ),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    // Same resource: remembered.
    let res = b
        .get(authorize_url(
            &app,
            &c.id,
            &p,
            &[("resource", MCP), ("scope", "files:read")],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    // Another resource with the same scope name: asked again, naming it.
    let res = b
        .get(authorize_url(
            &app,
            &c.id,
            &p,
            &[
                ("resource", "https://other.example.com/mcp"),
                ("scope", "files:read"),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("https://other.example.com/mcp")
    );
}

#[tokio::test]
async fn naming_the_platform_api_for_a_resource_bound_grant_is_invalid_target() {
    let app = spawn().await;
    register_resource(&app, MCP, &["files:read"]).await;
    let c = app.register(false, &["files:read"]).await;
    let p = pkce();
    let code = code_with(
        &app,
        &c.id,
        &p,
        &[("resource", MCP), ("scope", "files:read")],
    )
    .await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
            ("resource", &app.url("/api/v1")),
        ])
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_target"
    );
}

#[tokio::test]
async fn deleting_a_resource_ends_its_tokens() {
    let app = spawn().await;
    let r = register_resource(&app, MCP, &["files:read"]).await;
    let c = app.register(false, &["files:read"]).await;
    let rs = app.seed_client().await;
    let p = pkce();
    let code = code_with(
        &app,
        &c.id,
        &p,
        &[("resource", MCP), ("scope", "files:read")],
    )
    .await;
    let t: Value = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &c.id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await
        .json()
        .await
        .unwrap();
    let introspect = || {
        app.http
            .post(format!("{}/introspect", app.issuer))
            .basic_auth(&rs.id, rs.secret.as_deref())
            .form(&[("token", t["access_token"].as_str().unwrap())])
            .send()
    };
    assert_eq!(
        introspect().await.unwrap().json::<Value>().await.unwrap()["active"],
        true
    );
    let res = app
        .http
        .delete(app.url(&format!(
            "/api/v1/oauth/resources/{}",
            r["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        introspect().await.unwrap().json::<Value>().await.unwrap()["active"],
        false
    );
    let res = app.refresh(&c, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
}
