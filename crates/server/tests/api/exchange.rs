//! Token exchange reaches only the targets someone approved: an
//! administrator, for the exchanging client, or the user, for the app they
//! authorized. Sharing a scope name with an approved resource is not enough.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mcp::{AT_TYPE, EXCHANGE, MCP, claims, code_with, exchange, register_resource};

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
