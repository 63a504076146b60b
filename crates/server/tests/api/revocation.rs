//! What ends a credential: a password change ends every platform token
//! issued before it, and a refresh-token family keeps a single live chain
//! even with the grace window on.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn status_with(app: &TestApp, token: &str, path: &str) -> StatusCode {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_password_change_ends_every_earlier_platform_token() {
    let app = spawn().await;
    let u = app
        .create_user("pat@example.com", "pats-old-password")
        .await;
    let me = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let stolen = app.api_login("pat@example.com", "pats-old-password").await;
    let other_device = app.api_login("pat@example.com", "pats-old-password").await;
    let res = app
        .http
        .patch(app.url(&me))
        .bearer_auth(&other_device)
        .json(&json!({"password": "pats-new-password", "current_password": "pats-old-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Every token from before the change is refused at once, the one that
    // made the change included, on the API and at userinfo.
    for token in [&stolen, &other_device] {
        let res = app
            .http
            .get(app.url(&me))
            .bearer_auth(token)
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
        assert_eq!(
            status_with(&app, token, "/api/v1/oauth/userinfo").await,
            StatusCode::UNAUTHORIZED
        );
    }
    // Introspection agrees.
    let rs = app.seed_client().await;
    let res: Value = app
        .http
        .post(format!("{}/introspect", app.issuer))
        .basic_auth(&rs.id, rs.secret.as_deref())
        .form(&[("token", stolen.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(res, json!({"active": false}));
    // A token from after the change works, and keeps working.
    let fresh = app.api_login("pat@example.com", "pats-new-password").await;
    assert_eq!(status_with(&app, &fresh, &me).await, StatusCode::OK);
    // An admin resetting the password ends that one too.
    let res = app
        .http
        .patch(app.url(&me))
        .bearer_auth(&app.admin_token)
        .json(&json!({"password": "reset-by-an-admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        status_with(&app, &fresh, &me).await,
        StatusCode::UNAUTHORIZED
    );
    // Changing the name ends nothing.
    let now = app.api_login("pat@example.com", "reset-by-an-admin").await;
    let res = app
        .http
        .patch(app.url(&me))
        .bearer_auth(&now)
        .json(&json!({"name": "Pat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(status_with(&app, &now, &me).await, StatusCode::OK);
}

fn rt(body: &Value) -> String {
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn refreshed(app: &TestApp, c: &TestClient, token: &str) -> Option<String> {
    let res = app.refresh(c, token).await;
    if res.status() == StatusCode::OK {
        Some(rt(&res.json().await.unwrap()))
    } else {
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_grant");
        None
    }
}

#[tokio::test]
async fn only_the_just_rotated_refresh_token_may_be_replayed_in_the_grace_window() {
    let mut cfg = config();
    cfg.refresh_grace_seconds = 60;
    let app = spawn_with(cfg).await;
    let c = app.seed_client().await;
    // Rotated several times within seconds: only the newest predecessor
    // may be replayed. One further back is reuse, and kills the family.
    for back in 2..=5 {
        let mut chain = vec![rt(&app.tokens(&c, "profile").await)];
        for _ in 0..back {
            let next = refreshed(&app, &c, chain.last().unwrap()).await.unwrap();
            chain.push(next);
        }
        let old = &chain[chain.len() - 1 - back];
        assert_eq!(refreshed(&app, &c, old).await, None, "{back} back");
        assert_eq!(
            refreshed(&app, &c, chain.last().unwrap()).await,
            None,
            "family revoked"
        );
    }
}

#[tokio::test]
async fn a_grace_replay_leaves_one_live_chain() {
    let mut cfg = config();
    cfg.refresh_grace_seconds = 60;
    let app = spawn_with(cfg).await;
    let c = app.seed_client().await;
    let t0 = rt(&app.tokens(&c, "profile").await);
    // The response carrying t1 is lost; the client retries with t0.
    let lost = refreshed(&app, &c, &t0).await.unwrap();
    let retry = refreshed(&app, &c, &t0)
        .await
        .expect("one replay is allowed");
    // The retry's chain goes on…
    let next = refreshed(&app, &c, &retry)
        .await
        .expect("the retry's chain is live");
    // …and the lost branch cannot be resumed: whoever presents it (a thief
    // who intercepted it) triggers reuse detection, which ends the family.
    assert_eq!(refreshed(&app, &c, &lost).await, None);
    assert_eq!(refreshed(&app, &c, &next).await, None);
    // Without a retry, the lost token being presented after its successor
    // was used is reuse too.
    let a = rt(&app.tokens(&c, "profile").await);
    let b = refreshed(&app, &c, &a).await.unwrap();
    let _c = refreshed(&app, &c, &b).await.unwrap();
    assert_eq!(refreshed(&app, &c, &a).await, None);
}
