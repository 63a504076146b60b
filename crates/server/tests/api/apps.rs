//! Connected apps as JSON (`/api/v1/me/grants`, DESIGN §11): what a user
//! authorized, grouped per app, and Disconnect ending it all at once.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mcp::{MCP, code_with, register_resource};

async fn dynamic_client(app: &TestApp, name: &str) -> TestClient {
    let res = app
        .http
        .post(format!("{}/register", app.issuer))
        .json(&json!({
            "client_name": name,
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    TestClient {
        id: res.json::<Value>().await.unwrap()["client_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        secret: None,
    }
}

/// Code → tokens for `client` with extra authorization parameters.
async fn tokens_with(app: &TestApp, client: &TestClient, extra: &[(&str, &str)]) -> Value {
    let p = pkce();
    let code = code_with(app, &client.id, &p, extra).await;
    let res = app.exchange(client, &code, &p).await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_user_sees_each_app_once_with_everything_it_was_granted() {
    let app = spawn().await;
    register_resource(&app, MCP, &["files:read", "mcp:connect"]).await;
    let agent = dynamic_client(&app, "Claude").await;
    // Two authorizations (a reconnect, another resource): two grants, one app.
    tokens_with(&app, &agent, &[("resource", MCP), ("scope", "files:read")]).await;
    tokens_with(&app, &agent, &[("scope", "profile")]).await;
    let seed = app.seed_client().await;
    app.tokens(&seed, "profile email").await;

    let apps = app.my_apps(&app.admin_token).await;
    let apps = apps.as_array().unwrap();
    assert_eq!(apps.len(), 2, "{apps:#?}");
    let (newest, claude) = (&apps[0], &apps[1]);
    assert_eq!(
        newest["client_id"], seed.id,
        "most recently authorized first"
    );
    assert_eq!(newest["origin"], "admin");
    assert_eq!(newest["resources"], json!([app.url("/api/v1")]));
    assert_eq!(claude["client_name"], "Claude");
    assert_eq!(claude["origin"], "dynamic");
    assert!(claude["metadata_host"].is_null());
    assert_eq!(claude["grants"], 2);
    let mut resources: Vec<String> = serde_json::from_value(claude["resources"].clone()).unwrap();
    resources.sort();
    let mut expected = vec![app.url("/api/v1"), MCP.to_owned()];
    expected.sort();
    assert_eq!(resources, expected);
    assert_eq!(claude["scope"], "files:read profile");
    assert!(
        claude["first_authorized_at"].as_str().unwrap() <= claude["last_used_at"].as_str().unwrap()
    );
    // Other people's apps are not listed.
    app.create_user("bob@example.com", "bob-password-long-enough")
        .await;
    let bob = app
        .api_login("bob@example.com", "bob-password-long-enough")
        .await;
    assert_eq!(app.my_apps(&bob).await, json!([]));
}

#[tokio::test]
async fn disconnect_ends_refresh_and_access_tokens_and_the_consent_at_once() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    let t = app.tokens(&seed, "profile email").await;
    let access = t["access_token"].as_str().unwrap();
    let refresh = t["refresh_token"].as_str().unwrap();
    // A second authorization is silent (the consent is remembered) and
    // makes a second grant of the same app.
    let b = browser();
    let p = pkce();
    let url = app.authorize_url(&seed.id, &p, "profile", "st");
    let res = app
        .authorize_via_pages(&b, &url, ADMIN_EMAIL, ADMIN_PASSWORD)
        .await;
    let res = app.exchange(&seed, &query(&res, "code").unwrap(), &p).await;
    assert_eq!(res.status(), StatusCode::OK);
    let second: Value = res.json().await.unwrap();

    let apps = app.my_apps(&app.admin_token).await;
    let id = apps[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(apps[0]["grants"], 2);
    assert_eq!(
        app.disconnect_app(&app.admin_token, &id).await,
        StatusCode::NO_CONTENT
    );

    for rt in [refresh, second["refresh_token"].as_str().unwrap()] {
        let res = app.refresh(&seed, rt).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
    }
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "the access token died too"
    );
    assert_eq!(app.my_apps(&app.admin_token).await, json!([]));
    // The consent is forgotten: the next authorization shows the page.
    let b = browser();
    let page = b
        .get(app.authorize_url(&seed.id, &pkce(), "profile", "st"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK, "sign-in page");
    let res = Form::parse(&page.text().await.unwrap(), "/api/v1/oauth/login")
        .with("email", ADMIN_EMAIL)
        .with("password", ADMIN_PASSWORD)
        .submit(&b, &app.base)
        .await;
    assert_eq!(res.status(), StatusCode::OK, "asked again, not redirected");
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("wants to access your account")
    );
    // Disconnecting twice is a 404: nothing is left.
    assert_eq!(
        app.disconnect_app(&app.admin_token, &id).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn only_gatehouse_sign_in_may_list_or_disconnect_apps() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    let t = app.tokens(&seed, "profile email").await;
    let third_party = t["access_token"].as_str().unwrap();
    let grant = app.my_apps(&app.admin_token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .http
        .get(app.url("/api/v1/me/grants"))
        .bearer_auth(third_party)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.disconnect_app(third_party, &grant).await,
        StatusCode::FORBIDDEN
    );
    let res = app
        .http
        .get(app.url("/api/v1/me/grants"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The app is still connected.
    assert_eq!(
        app.my_apps(&app.admin_token)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn nobody_disconnects_someone_elses_app() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    app.tokens(&seed, "profile").await;
    let grant = app.my_apps(&app.admin_token).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_user("bob@example.com", "bob-password-long-enough")
        .await;
    let bob = app
        .api_login("bob@example.com", "bob-password-long-enough")
        .await;
    for id in [
        grant.as_str(),
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
    ] {
        assert_eq!(
            app.disconnect_app(&bob, id).await,
            StatusCode::NOT_FOUND,
            "{id}"
        );
    }
    assert_eq!(
        app.my_apps(&app.admin_token)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn admins_see_and_disconnect_a_users_apps() {
    let app = spawn().await;
    let bob = app
        .create_user("bob@example.com", "bob-password-long-enough")
        .await;
    let bob_id = bob["id"].as_str().unwrap();
    let seed = app.seed_client().await;
    let b = browser();
    let p = pkce();
    let url = app.authorize_url(&seed.id, &p, "profile", "st");
    let to = app
        .authorize_via_pages(&b, &url, "bob@example.com", "bob-password-long-enough")
        .await;
    let res = app.exchange(&seed, &query(&to, "code").unwrap(), &p).await;
    assert_eq!(res.status(), StatusCode::OK, "bob connected the app");
    let bob_token = app
        .api_login("bob@example.com", "bob-password-long-enough")
        .await;

    let list = |token: String| {
        let app = &app;
        async move {
            app.http
                .get(app.url(&format!("/api/v1/users/{bob_id}/grants")))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let res = list(bob_token.clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "not for non-admins");
    let res = list(app.admin_token.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let apps: Value = res.json().await.unwrap();
    let grant = apps["grants"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(apps["grants"][0]["client_id"], seed.id);

    let res = app
        .http
        .delete(app.url(&format!("/api/v1/users/{bob_id}/grants/{grant}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.my_apps(&bob_token).await, json!([]));
    let res = app
        .http
        .get(app.url("/api/v1/users/00000000-0000-0000-0000-000000000000/grants"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn last_used_moves_when_the_app_refreshes_once_the_minute_is_written() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    let t = app.tokens(&seed, "profile").await;
    let before = app.my_apps(&app.admin_token).await[0]["last_used_at"].clone();
    assert!(before.is_string(), "authorizing is a use");
    let res = app
        .refresh(&seed, t["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Not written per request: still the old time until the minute's batch.
    assert_eq!(
        app.my_apps(&app.admin_token).await[0]["last_used_at"],
        before
    );
    assert_eq!(app.gatehouse.flush_usage().await.unwrap(), 1);
    let after = app.my_apps(&app.admin_token).await[0]["last_used_at"].clone();
    assert!(
        after.as_str().unwrap() > before.as_str().unwrap(),
        "{before} → {after}"
    );
    // The client's own last-used time moved too (admins filter by it).
    let res = app
        .http
        .get(app.url(&format!("/api/v1/oauth/clients/{}", seed.id)))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["client"]["last_used_at"],
        after
    );
}
