//! Token exchange reaches only the targets someone approved: an
//! administrator, for the exchanging client, or the user, for the app they
//! authorized. Sharing a scope name with an approved resource is not enough.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mcp::{MCP, claims, code_with, register_resource};

pub const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const AT_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";

/// An MCP server's own credential, registered for token exchange, which an
/// admin allowed to exchange its users' tokens for platform-API tokens.
async fn mcp_server_client(app: &TestApp, resource: &str) -> TestClient {
    let res = app.http.post(app.url("/api/v1/oauth/clients")).bearer_auth(&app.admin_token)
        .json(&json!({"name": "Files MCP server", "grant_types": [EXCHANGE], "resource": resource,
                      "exchange_targets": [app.url("/api/v1")],
                      "allowed_scopes": ["profile", "organizations", "users:read"], "is_confidential": true}))
        .send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap()
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["client"]["resource"], resource);
    TestClient {
        id: body["client"]["client_id"].as_str().unwrap().into(),
        secret: body["client"]["client_secret"].as_str().map(Into::into),
    }
}

pub async fn exchange(
    app: &TestApp,
    server: &TestClient,
    subject: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", EXCHANGE),
        ("subject_token", subject),
        ("subject_token_type", AT_TYPE),
    ];
    form.extend_from_slice(extra);
    app.http
        .post(format!("{}/token", app.issuer))
        .basic_auth(&server.id, server.secret.as_deref())
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_mcp_server_exchanges_its_users_token_for_a_platform_token() {
    let app = spawn().await;
    register_resource(
        &app,
        MCP,
        &["mcp:connect", "profile", "organizations", "users:read"],
    )
    .await;
    let server = mcp_server_client(&app, MCP).await;
    let user_client = app
        .register(
            false,
            &["mcp:connect", "profile", "organizations", "users:read"],
        )
        .await;
    let p = pkce();
    let code = code_with(
        &app,
        &user_client.id,
        &p,
        &[
            ("resource", MCP),
            ("scope", "mcp:connect organizations profile"),
        ],
    )
    .await;
    let t: Value = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &user_client.id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await
        .json()
        .await
        .unwrap();
    let subject = t["access_token"].as_str().unwrap().to_owned();

    // The MCP server must not pass the user's token through: it is refused by the API.
    assert_eq!(
        app.http
            .get(app.url("/api/v1/organizations/"))
            .bearer_auth(&subject)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let res = exchange(&app, &server, &subject, &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let x: Value = res.json().await.unwrap();
    assert_eq!(x["issued_token_type"], AT_TYPE);
    assert_eq!(x["token_type"], "Bearer");
    assert!(x["expires_in"].as_i64().unwrap() <= 300);
    assert!(x.get("refresh_token").is_none());
    assert_eq!(
        x["scope"], "organizations profile",
        "never wider than the subject; only what the API accepts"
    );
    let c = claims(x["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], app.url("/api/v1"));
    assert_eq!(c["act"]["sub"], server.id);
    assert_eq!(c["client_id"], server.id);
    assert_eq!(c["sub"], claims(&subject)["sub"]);
    let exchanged = x["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.http
            .get(app.url("/api/v1/organizations/"))
            .bearer_auth(&exchanged)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    // users:read was not granted by the user: asking for it fails.
    let res = exchange(&app, &server, &subject, &[("scope", "users:read")]).await;
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_scope");

    // Revoking the user's grant kills the derived token too.
    app.http
        .post(format!("{}/revoke", app.issuer))
        .form(&[
            ("token", t["refresh_token"].as_str().unwrap()),
            ("client_id", user_client.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.http
            .get(app.url("/api/v1/organizations/"))
            .bearer_auth(&exchanged)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let res = exchange(&app, &server, &subject, &[]).await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn token_exchange_refuses_everything_else() {
    let app = spawn().await;
    register_resource(&app, MCP, &["mcp:connect", "profile"]).await;
    register_resource(&app, "https://other.example.com/mcp", &["mcp:connect"]).await;
    let server = mcp_server_client(&app, MCP).await;
    let user_client = app.register(false, &["mcp:connect", "profile"]).await;
    let p = pkce();
    let code = code_with(
        &app,
        &user_client.id,
        &p,
        &[("resource", MCP), ("scope", "mcp:connect profile")],
    )
    .await;
    let t: Value = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", &user_client.id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await
        .json()
        .await
        .unwrap();
    let subject = t["access_token"].as_str().unwrap().to_owned();
    let platform_token = app.tokens(&app.seed_client().await, "profile").await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let err = |r: reqwest::Response| async move {
        r.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // A token for another audience.
    assert_eq!(
        err(exchange(&app, &server, &platform_token, &[]).await).await,
        "invalid_request"
    );
    // Garbage, wrong types, actor tokens.
    assert_eq!(
        err(exchange(&app, &server, "garbage", &[]).await).await,
        "invalid_request"
    );
    let res = app
        .http
        .post(format!("{}/token", app.issuer))
        .basic_auth(&server.id, server.secret.as_deref())
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", subject.as_str()),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(err(res).await, "invalid_request");
    assert_eq!(
        err(exchange(
            &app,
            &server,
            &subject,
            &[("actor_token", "x"), ("actor_token_type", AT_TYPE)]
        )
        .await)
        .await,
        "invalid_request"
    );
    // Unknown target, or its own resource.
    assert_eq!(
        err(exchange(
            &app,
            &server,
            &subject,
            &[("resource", "https://unknown.example.com")]
        )
        .await)
        .await,
        "invalid_target"
    );
    assert_eq!(
        err(exchange(&app, &server, &subject, &[("resource", MCP)]).await).await,
        "invalid_target"
    );
    // A target neither an administrator nor the user approved.
    assert_eq!(
        err(exchange(
            &app,
            &server,
            &subject,
            &[("resource", "https://other.example.com/mcp")]
        )
        .await)
        .await,
        "invalid_target"
    );
    // A client that is not a resource server, or not registered for the grant.
    let seed = app.seed_client().await;
    assert_eq!(
        err(exchange(&app, &seed, &subject, &[]).await).await,
        "unauthorized_client"
    );
    let public = TestClient {
        id: user_client.id.clone(),
        secret: None,
    };
    let res = app
        .token(&[
            ("grant_type", EXCHANGE),
            ("client_id", &public.id),
            ("subject_token", &subject),
            ("subject_token_type", AT_TYPE),
        ])
        .await;
    assert_eq!(err(res).await, "unauthorized_client");
}

const OTHER: &str = "https://other.example.com/mcp";
const THIRD: &str = "https://third.example.com/mcp";

/// A user's access token for `resource`, from `client`.
async fn subject_for(app: &TestApp, client: &TestClient, resource: &str, scope: &str) -> String {
    let p = pkce();
    let code = code_with(
        app,
        &client.id,
        &p,
        &[("resource", resource), ("scope", scope)],
    )
    .await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("client_id", client.id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", p.verifier.as_str()),
    ];
    if let Some(secret) = &client.secret {
        form.push(("client_secret", secret.as_str()));
    }
    let t: Value = app.token(&form).await.json().await.unwrap();
    t["access_token"].as_str().unwrap().to_owned()
}

async fn error_of(res: reqwest::Response) -> String {
    res.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test]
async fn exchange_targets_are_what_an_admin_listed_or_the_user_approved() {
    let app = spawn().await;
    register_resource(&app, MCP, &["mcp:connect", "files:read"]).await;
    register_resource(&app, OTHER, &["files:read"]).await;
    register_resource(&app, THIRD, &["files:read"]).await;
    // The MCP server's credential; no exchange targets listed by an admin.
    let res = app
        .http
        .post(app.url("/api/v1/oauth/clients"))
        .bearer_auth(&app.admin_token)
        .json(
            &json!({"name": "Files MCP server", "grant_types": [EXCHANGE], "resource": MCP,
                      "allowed_scopes": ["files:read", "profile"], "is_confidential": true}),
        )
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["client"]["exchange_targets"], json!([]));
    let server = TestClient {
        id: body["client"]["client_id"].as_str().unwrap().into(),
        secret: body["client"]["client_secret"].as_str().map(Into::into),
    };
    let app_client = app
        .register(true, &["mcp:connect", "files:read", "profile"])
        .await;
    let subject = subject_for(&app, &app_client, MCP, "mcp:connect files:read").await;

    // OTHER shares the scope name files:read, but the user approved the
    // app only at MCP.
    for target in [OTHER, THIRD] {
        let res = exchange(&app, &server, &subject, &[("resource", target)]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(error_of(res).await, "invalid_target", "{target}");
    }
    // Nor the platform API, which nobody listed or approved.
    let res = exchange(&app, &server, &subject, &[]).await;
    assert_eq!(error_of(res).await, "invalid_target");

    // Once the user approves the app at OTHER, the server may act there,
    // within what was approved.
    subject_for(&app, &app_client, OTHER, "files:read").await;
    let res = exchange(&app, &server, &subject, &[("resource", OTHER)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let x: Value = res.json().await.unwrap();
    assert_eq!(x["issued_token_type"], AT_TYPE);
    assert_eq!(x["scope"], "files:read");
    assert_eq!(claims(x["access_token"].as_str().unwrap())["aud"], OTHER);

    // An administrator can list THIRD for this server instead.
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/oauth/clients/{}", server.id)))
        .bearer_auth(&app.admin_token)
        .json(&json!({"exchange_targets": [THIRD, "https://THIRD.example.com/mcp/"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["client"]["exchange_targets"], json!([THIRD]));
    assert_eq!(
        body["client"]["resource"], MCP,
        "the served resource is kept"
    );
    let res = exchange(&app, &server, &subject, &[("resource", THIRD)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Unregistered targets cannot be listed.
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/oauth/clients/{}", server.id)))
        .bearer_auth(&app.admin_token)
        .json(&json!({"exchange_targets": ["https://unknown.example.com/mcp"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Clearing the list takes THIRD away again.
    app.http
        .patch(app.url(&format!("/api/v1/oauth/clients/{}", server.id)))
        .bearer_auth(&app.admin_token)
        .json(&json!({"exchange_targets": []}))
        .send()
        .await
        .unwrap();
    let res = exchange(&app, &server, &subject, &[("resource", THIRD)]).await;
    assert_eq!(error_of(res).await, "invalid_target");
}
