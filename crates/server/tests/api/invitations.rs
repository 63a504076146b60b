//! Organization membership is by invitation: nobody is made someone's
//! org-mate, and with it visible to them, without agreeing.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

async fn org(app: &TestApp, token: &str, name: &str) -> String {
    let res = app
        .http
        .post(app.url("/api/v1/organizations/"))
        .bearer_auth(token)
        .json(&json!({"name": name}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json::<Value>().await.unwrap()["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn add(app: &TestApp, token: &str, org: &str, user: &Value, role: &str) -> reqwest::Response {
    app.http
        .post(app.url(&format!("/api/v1/organizations/{org}/members")))
        .bearer_auth(token)
        .json(&json!({"user_id": user["id"], "role": role}))
        .send()
        .await
        .unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let res = app
        .http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_invitee_stays_invisible_until_they_accept() {
    let app = spawn().await;
    app.create_user("mallory@example.com", "mallorys-password")
        .await;
    let victim = app
        .create_user("victim@example.com", "victims-password")
        .await;
    let mallory = app
        .api_login("mallory@example.com", "mallorys-password")
        .await;
    let victim_token = app
        .api_login("victim@example.com", "victims-password")
        .await;
    let trap = org(&app, &mallory, "Totally Legit").await;
    let res = add(&app, &mallory, &trap, &victim, "owner").await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["invitation"]["status"], "pending");
    assert!(!body.to_string().contains("victim@example.com"));
    // Mallory learns nothing of the victim: not in the org's users or
    // members, not by id, and the pending invitation names only the id.
    let victim_id = victim["id"].as_str().unwrap();
    let (_, users) = get(
        &app,
        &mallory,
        &format!("/api/v1/users/?organization_id={trap}"),
    )
    .await;
    assert!(!users.to_string().contains("victim@example.com"), "{users}");
    let (status, _) = get(&app, &mallory, &format!("/api/v1/users/{victim_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, users) = get(&app, &mallory, "/api/v1/users/").await;
    assert!(!users.to_string().contains("victim@example.com"));
    let (_, members) = get(
        &app,
        &mallory,
        &format!("/api/v1/organizations/{trap}/members"),
    )
    .await;
    assert_eq!(members["members"].as_array().unwrap().len(), 1);
    let (status, pending) = get(
        &app,
        &mallory,
        &format!("/api/v1/organizations/{trap}/invitations"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(pending["invitations"][0]["user_id"], victim_id);
    assert!(!pending.to_string().contains("victim@example.com"));
    // The victim is not a member of anything, and sees the invitation.
    let (_, orgs) = get(&app, &victim_token, "/api/v1/organizations/").await;
    assert_eq!(orgs["organizations"], json!([]));
    let (_, mine) = get(&app, &victim_token, "/api/v1/invitations").await;
    assert_eq!(
        mine["invitations"][0]["organization"]["name"],
        "Totally Legit"
    );
    assert_eq!(mine["invitations"][0]["role"], "owner");
    // Declining ends it.
    let res = app
        .http
        .post(app.url(&format!("/api/v1/invitations/{trap}/decline")))
        .bearer_auth(&victim_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (_, mine) = get(&app, &victim_token, "/api/v1/invitations").await;
    assert_eq!(mine["invitations"], json!([]));
    let res = app
        .http
        .post(app.url(&format!("/api/v1/invitations/{trap}/accept")))
        .bearer_auth(&victim_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn accepting_makes_a_member_with_the_invited_role() {
    let app = spawn().await;
    app.create_user("olga@example.com", "olgas-password").await;
    let pete = app.create_user("pete@example.com", "petes-password").await;
    let olga = app.api_login("olga@example.com", "olgas-password").await;
    let pete_token = app.api_login("pete@example.com", "petes-password").await;
    let acme = org(&app, &olga, "Acme").await;
    assert_eq!(
        add(&app, &olga, &acme, &pete, "admin").await.status(),
        StatusCode::ACCEPTED
    );
    let res = app
        .http
        .post(app.url(&format!("/api/v1/invitations/{acme}/accept")))
        .bearer_auth(&pete_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["role"], "admin");
    assert_eq!(body["organization"]["id"], acme.as_str());
    let (_, users) = get(
        &app,
        &olga,
        &format!("/api/v1/users/?organization_id={acme}"),
    )
    .await;
    assert!(users.to_string().contains("pete@example.com"));
    // A member's role changes directly; no invitation involved.
    let res = add(&app, &olga, &acme, &pete, "member").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Withdrawing a pending invitation.
    let quinn = app
        .create_user("quinn@example.com", "quinns-password")
        .await;
    assert_eq!(
        add(&app, &olga, &acme, &quinn, "member").await.status(),
        StatusCode::ACCEPTED
    );
    let quinn_id = quinn["id"].as_str().unwrap();
    let res = app
        .http
        .delete(app.url(&format!(
            "/api/v1/organizations/{acme}/invitations/{quinn_id}"
        )))
        .bearer_auth(&olga)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Pete, now a plain member, cannot see or manage invitations.
    let (status, _) = get(
        &app,
        &pete_token,
        &format!("/api/v1/organizations/{acme}/invitations"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn platform_admins_add_members_directly() {
    let app = spawn().await;
    app.create_user("rita@example.com", "ritas-password").await;
    let sam = app.create_user("sam@example.com", "sams-password").await;
    let rita = app.api_login("rita@example.com", "ritas-password").await;
    let acme = org(&app, &rita, "Acme").await;
    let res = add(&app, &app.admin_token, &acme, &sam, "member").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let (_, users) = get(
        &app,
        &rita,
        &format!("/api/v1/users/?organization_id={acme}"),
    )
    .await;
    assert!(users.to_string().contains("sam@example.com"));
}
