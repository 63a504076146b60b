//! Every path that ends tokens early records a revocation for resource
//! servers that verify tokens themselves (the log the Shared Signals
//! transmitter publishes): the subject whose tokens end, and why.

use gatehouse_core::model::{Revocation, RevokedSubject};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

async fn log(app: &TestApp) -> Vec<Revocation> {
    let far = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    app.gatehouse
        .ports()
        .tokens
        .revocations_after(0, far, 1000)
        .await
        .unwrap()
}

#[tokio::test]
async fn each_early_end_of_tokens_is_recorded_with_its_subject_and_reason() {
    let app = spawn().await;
    let seed = app.seed_client().await;
    let admin_id = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["sub"]
        .as_str()
        .unwrap()
        .to_owned();

    // Refresh-token reuse: the grant.
    let t = app.tokens(&seed, "profile").await;
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&seed, rt).await.status(), StatusCode::OK);
    assert_eq!(
        app.refresh(&seed, rt).await.status(),
        StatusCode::BAD_REQUEST
    );
    let last = log(&app).await.pop().unwrap();
    assert_eq!(last.reason, "reuse_detected");
    assert!(
        matches!(&last.subject, RevokedSubject::Grant { user, client, .. }
            if user.to_string() == admin_id && client.as_str() == seed.id),
        "{last:?}"
    );

    // Disconnect: the user's grants to that app.
    app.tokens(&seed, "profile").await;
    let grants: Value = app
        .http
        .get(app.url("/api/v1/me/grants"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = grants["grants"][0]["id"].as_str().unwrap();
    app.http
        .delete(app.url(&format!("/api/v1/me/grants/{id}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    let last = log(&app).await.pop().unwrap();
    assert_eq!(last.reason, "disconnected");
    assert!(matches!(&last.subject, RevokedSubject::App { user, client }
            if user.to_string() == admin_id && client.as_str() == seed.id));

    // A password change: every token of the user.
    let bob = app
        .create_user("bob@example.com", "bob-password-long-enough")
        .await;
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/users/{}", bob["id"].as_str().unwrap())))
        .bearer_auth(&app.admin_token)
        .json(&serde_json::json!({"password": "a-new-password-for-bob"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let last = log(&app).await.pop().unwrap();
    assert_eq!(last.reason, "password_changed");
    assert!(
        matches!(&last.subject, RevokedSubject::User { user } if user.to_string() == bob["id"])
    );

    // Deleting a client: every token of the client, user-less ones too.
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/oauth/clients/{}", seed.id)))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let last = log(&app).await.pop().unwrap();
    assert_eq!(last.reason, "client_deleted");
    assert!(
        matches!(&last.subject, RevokedSubject::Client { client } if client.as_str() == seed.id)
    );

    // Every entry lives as long as the tokens it concerns could, in order.
    let all = log(&app).await;
    assert_eq!(all.len(), 4);
    assert!(
        all.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at)
    );
    for r in &all {
        assert!(r.expires_at - r.at >= time::Duration::hours(1));
    }
}
