//! `GATEHOUSE_DEFAULT_RESOURCE` and a client's own `default_resource`: an
//! authorization request that names no resource gets a token its MCP
//! server accepts, exactly as if it had named the default (DESIGN §11).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mcp::{MCP, claims, code_with, register_resource};

async fn spawn_with_default(default: &str) -> TestApp {
    spawn_with(gatehouse_server::config::Config {
        default_resource: Some(default.into()),
        ..config()
    })
    .await
}

/// A client registered the way MCP clients register themselves.
async fn self_registered(app: &TestApp) -> String {
    let res = app
        .http
        .post(format!("{}/register", app.issuer))
        .json(&json!({
            "client_name": "An agent that forgets resource",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn patch_client(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.http
        .patch(app.url(&format!("/api/v1/oauth/clients/{id}")))
        .bearer_auth(&app.admin_token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Code → tokens with no `resource` anywhere; returns the token response.
async fn tokens_naming_no_resource(
    app: &TestApp,
    client_id: &str,
    extra: &[(&str, &str)],
) -> Value {
    let p = pkce();
    let code = code_with(app, client_id, &p, extra).await;
    let res = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &p.verifier),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn self_registered_clients_that_name_no_resource_get_the_default_as_if_named() {
    // Configured in a non-canonical spelling: it is the same resource.
    let app = spawn_with_default("https://MCP.example.com:443/mcp/").await;
    register_resource(&app, MCP, &["files:read", "mcp:connect"]).await;
    let client = self_registered(&app).await;

    // No scope either: the resource's scopes are the documented default.
    let t = tokens_naming_no_resource(&app, &client, &[]).await;
    let at = claims(t["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], MCP);
    assert_eq!(t["scope"], "files:read mcp:connect");

    // Scopes are filtered for the default resource as for a named one.
    let t = tokens_naming_no_resource(&app, &client, &[("scope", "files:read profile")]).await;
    assert_eq!(t["scope"], "files:read", "platform scopes are not for it");
    assert_eq!(claims(t["access_token"].as_str().unwrap())["aud"], MCP);

    // The platform API refuses the token, as it refuses any MCP token.
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Refresh keeps the grant's resource whether or not it is repeated,
    // and cannot switch to the platform API.
    let rt = t["refresh_token"].as_str().unwrap();
    let res = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client),
            ("refresh_token", rt),
            ("resource", &app.url("/api/v1")),
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
            ("client_id", &client),
            ("refresh_token", rt),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t2: Value = res.json().await.unwrap();
    assert_eq!(claims(t2["access_token"].as_str().unwrap())["aud"], MCP);

    // Naming a resource still wins over the default: here the platform API.
    let t3 = tokens_naming_no_resource(
        &app,
        &client,
        &[("resource", &app.url("/api/v1")), ("scope", "profile")],
    )
    .await;
    assert_eq!(
        claims(t3["access_token"].as_str().unwrap())["aud"],
        app.url("/api/v1")
    );
}

#[tokio::test]
async fn admin_clients_keep_the_platform_api_unless_given_their_own_default() {
    let app = spawn_with_default(MCP).await;
    register_resource(&app, MCP, &["files:read"]).await;
    let seed = app.register(false, &["profile", "files:read"]).await;

    // The platform's own apps are not redirected by the server-wide default.
    let t = tokens_naming_no_resource(&app, &seed.id, &[("scope", "profile")]).await;
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["aud"],
        app.url("/api/v1")
    );

    // An admin gives it its own default, stored in canonical form.
    let res = patch_client(
        &app,
        &seed.id,
        json!({"default_resource": "https://mcp.example.com/mcp/"}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.json::<Value>().await.unwrap()["client"]["default_resource"],
        MCP
    );
    let t = tokens_naming_no_resource(&app, &seed.id, &[]).await;
    assert_eq!(claims(t["access_token"].as_str().unwrap())["aud"], MCP);

    // A self-registered client pinned to the platform API ignores the
    // server-wide default.
    let agent = self_registered(&app).await;
    let res = patch_client(
        &app,
        &agent,
        json!({"default_resource": app.url("/api/v1")}),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t = tokens_naming_no_resource(&app, &agent, &[("scope", "profile")]).await;
    assert_eq!(
        claims(t["access_token"].as_str().unwrap())["aud"],
        app.url("/api/v1")
    );

    // Only registered resources (or the platform API) can be a default,
    // and an empty string clears it.
    for bad in [
        "https://unknown.example.com/mcp",
        "http://mcp.example.com/mcp",
        "not a uri",
    ] {
        let res = patch_client(&app, &seed.id, json!({"default_resource": bad})).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let res = patch_client(&app, &seed.id, json!({"default_resource": ""})).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.json::<Value>().await.unwrap()["client"]["default_resource"].is_null());
}

#[tokio::test]
async fn a_default_that_is_no_longer_registered_is_invalid_target_not_a_platform_token() {
    let app = spawn_with_default(MCP).await;
    let resource = register_resource(&app, MCP, &["files:read"]).await;
    let seed = app.register(false, &["files:read"]).await;
    let res = patch_client(&app, &seed.id, json!({"default_resource": MCP})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .http
        .delete(app.url(&format!(
            "/api/v1/oauth/resources/{}",
            resource["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let p = pkce();
    let url = crate::mcp::authorize_url(&app, &seed.id, &p, &[]);
    let res = browser().get(url).send().await.unwrap();
    assert!(res.status().is_redirection(), "{}", res.status());
    let to = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(query(&to, "error").as_deref(), Some("invalid_target"));
    assert!(query(&to, "code").is_none());
}
