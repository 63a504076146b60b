//! The audit log over HTTP: what happens is recorded, administrators read
//! it newest first with filters and cursor paging, nobody else reads it,
//! and nothing secret is in it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Every event, newest first, once `want` types are all in (the queue to
/// the store is asynchronous).
pub async fn events_once(app: &TestApp, want: &[&str]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app
            .http
            .get(app.url("/api/v1/audit?limit=500"))
            .bearer_auth(&app.admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let events = res.json::<Value>().await.unwrap()["events"]
            .as_array()
            .unwrap()
            .clone();
        let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
        if want.iter().all(|w| types.contains(w)) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "missing some of {want:?} in {types:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get(app: &TestApp, query: &str, token: &str) -> reqwest::Response {
    app.http
        .get(app.url(&format!("/api/v1/audit{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn what_happens_is_recorded_without_secrets() {
    let app = spawn().await;
    // A client's life, with a user's consent, a revocation and a reuse.
    let client = app.seed_client().await;
    let secret = client.secret.clone().unwrap();
    let tokens = app.tokens(&client, "profile").await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let next = app
        .refresh(&client, &rt)
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        app.refresh(&client, &rt).await.status(),
        StatusCode::BAD_REQUEST
    );
    let fresh = app.tokens(&client, "profile").await;
    let res = app
        .http
        .post(format!("{}/revoke", app.issuer))
        .basic_auth(&client.id, Some(&secret))
        .form(&[("token", fresh["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/oauth/clients/{}", client.id)))
        .bearer_auth(&app.admin_token)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A user's life, and a failed sign-in with a password-like "email".
    let user = app
        .create_user("audited@example.com", "a-long-user-password")
        .await;
    let uid = user["id"].as_str().unwrap().to_owned();
    let res = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": "audited@example.com", "password": "wrong-password-typed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/users/{uid}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/oauth/clients/{}", client.id)))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);

    let events = events_once(
        &app,
        &[
            "user.created",
            "sign_in.succeeded",
            "client.created",
            "consent.granted",
            "refresh.reuse_detected",
            "grant.revoked",
            "client.updated",
            "sign_in.failed",
            "user.deleted",
            "client.deleted",
        ],
    )
    .await;
    // Newest first.
    let times: Vec<&str> = events.iter().map(|e| e["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    let of = |kind: &str| {
        events
            .iter()
            .find(|e| e["type"] == kind)
            .unwrap_or_else(|| panic!("{kind}"))
            .clone()
    };
    let failed = of("sign_in.failed");
    assert_eq!(failed["user_id"], uid.as_str());
    assert_eq!(failed["details"]["reason"], "wrong_password");
    assert_eq!(failed["ip"], "127.0.0.1");
    let consent = of("consent.granted");
    assert_eq!(consent["client_id"], client.id.as_str());
    assert_eq!(consent["details"]["scope"], "profile");
    let created = of("client.created");
    assert!(created["user_id"].is_string(), "the acting admin");
    assert_eq!(of("grant.revoked")["details"]["reason"], "revocation");
    let deleted = of("user.deleted");
    assert_eq!(deleted["user_id"], uid.as_str());
    assert!(deleted["details"]["actor"].is_string());
    let all = serde_json::to_string(&events).unwrap();
    for secret in [
        secret.as_str(),
        rt.as_str(),
        next["refresh_token"].as_str().unwrap(),
        tokens["access_token"].as_str().unwrap(),
        "wrong-password-typed",
        "a-long-user-password",
        ADMIN_PASSWORD,
    ] {
        assert!(!all.contains(secret), "a secret reached the audit log");
    }
}

#[tokio::test]
async fn admins_filter_and_page_and_nobody_else_reads() {
    let app = spawn().await;
    for i in 0..7 {
        app.create_user(&format!("u{i}@example.com"), "a-long-user-password")
            .await;
    }
    let client = app.seed_client().await;
    events_once(&app, &["client.created"]).await;

    // Pages of three user.created events walk all eight (seven and the
    // first admin) exactly once, then `next` is null.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let q = format!("?type=user.created&limit=3{before}");
        let page: Value = get(&app, &q, &app.admin_token).await.json().await.unwrap();
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 3);
        seen.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        match page["next"].as_str() {
            Some(next) => before = format!("&before={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 8);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 8, "no event twice");

    let by_client: Value = get(&app, &format!("?client_id={}", client.id), &app.admin_token)
        .await
        .json()
        .await
        .unwrap();
    let events = by_client["events"].as_array().unwrap();
    assert!(!events.is_empty());
    assert!(events.iter().all(|e| e["client_id"] == client.id.as_str()));

    for bad in [
        "?type=everything",
        "?limit=0",
        "?limit=501",
        "?before=xyz",
        "?user_id=42",
    ] {
        let res = get(&app, bad, &app.admin_token).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert!(
            body["error_description"].is_string() || body["message"].is_string(),
            "{body}"
        );
    }
    app.create_user("reader@example.com", "a-long-user-password")
        .await;
    let user_token = app
        .api_login("reader@example.com", "a-long-user-password")
        .await;
    assert_eq!(
        get(&app, "", &user_token).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get(&app, "", "not-a-token").await.status(),
        StatusCode::UNAUTHORIZED
    );
}
