//! The admin client registry.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

#[tokio::test]
async fn clients_can_be_listed_read_changed_rotated_and_deleted_without_leaking_secrets() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let t = &app.admin_token;
    let list: Value = app
        .http
        .get(app.url("/api/v1/oauth/clients"))
        .bearer_auth(t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(c.secret.as_deref().unwrap()),
        "no read returns the secret"
    );
    assert!(list["clients"][0].get("client_secret").is_none());
    let one: Value = app
        .http
        .get(app.url(&format!("/api/v1/oauth/clients/{}", c.id)))
        .bearer_auth(t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["client"]["name"], "MCP File Server");
    assert!(one["client"].get("client_secret").is_none());

    let res = app
        .http
        .patch(app.url(&format!("/api/v1/oauth/clients/{}", c.id)))
        .bearer_auth(t)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Rotation: the old secret stops working.
    let res = app
        .http
        .post(app.url(&format!("/api/v1/oauth/clients/{}/secret", c.id)))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let new_secret = res.json::<Value>().await.unwrap()["client"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = c.secret.clone().unwrap();
    let res = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &c.id),
            ("client_secret", &old),
        ])
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "x"),
            ("client_id", &c.id),
            ("client_secret", &new_secret),
        ])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::BAD_REQUEST,
        "authenticated; the token itself is bad"
    );

    let res = app
        .http
        .delete(app.url(&format!("/api/v1/oauth/clients/{}", c.id)))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .http
        .get(app.url(&format!("/api/v1/oauth/clients/{}", c.id)))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deleting_a_client_revokes_its_tokens() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let tokens = app.tokens(&c, "profile").await;
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/oauth/clients/{}", c.id)))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn only_admins_reach_the_client_registry() {
    let app = spawn().await;
    app.create_user("eve@example.com", "eve-password").await;
    let eve = app.api_login("eve@example.com", "eve-password").await;
    let res = app
        .http
        .get(app.url("/api/v1/oauth/clients"))
        .bearer_auth(&eve)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .http
        .get(app.url("/api/v1/oauth/clients"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()["www-authenticate"].to_str().unwrap(),
        format!(
            r#"Bearer realm="gatehouse", resource_metadata="{}/.well-known/oauth-protected-resource/api/v1""#,
            app.base
        )
    );
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn().await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
