//! The users and organizations API under scopes and membership.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;

/// Accepts the caller's invitation to `org_id`.
pub async fn accept(app: &TestApp, token: &str, org_id: &str) {
    let res = app
        .http
        .post(app.url(&format!("/api/v1/invitations/{org_id}/accept")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
}

#[tokio::test]
async fn users_see_only_their_organizations_and_members() {
    let app = spawn().await;
    let alice = app.create_user("alice@example.com", "alice-password").await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let alice_token = app.api_login("alice@example.com", "alice-password").await;
    let bob_token = app.api_login("bob@example.com", "bob-password-1").await;

    // Alice creates an org and adds Bob.
    let res = app
        .http
        .post(app.url("/api/v1/organizations/"))
        .bearer_auth(&alice_token)
        .json(&json!({"name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let org: Value = res.json().await.unwrap();
    assert_eq!(org["role"], "owner");
    let org_id = org["organization"]["id"].as_str().unwrap().to_owned();
    let res = app
        .http
        .post(app.url(&format!("/api/v1/organizations/{org_id}/members")))
        .bearer_auth(&alice_token)
        .json(&json!({"user_id": bob["id"], "role": "member"}))
        .send()
        .await
        .unwrap();
    // An invitation: Bob is not a member until he accepts.
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    accept(&app, &bob_token, &org_id).await;

    // Bob lists his orgs and the org's users, as the seed's MCP server does.
    let orgs: Value = app
        .http
        .get(app.url("/api/v1/organizations/"))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        orgs["organizations"][0]["organization"]["id"],
        org_id.as_str()
    );
    assert_eq!(orgs["organizations"][0]["role"], "member");
    let users: Value = app
        .http
        .get(app.url(&format!("/api/v1/users/?organization_id={org_id}")))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 2);

    // Bob, a member, cannot add people or delete the org.
    let res = app
        .http
        .post(app.url(&format!("/api/v1/organizations/{org_id}/members")))
        .bearer_auth(&bob_token)
        .json(&json!({"user_id": alice["id"], "role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/organizations/{org_id}")))
        .bearer_auth(&bob_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Carol, outside the org, is refused with a clear error.
    app.create_user("carol@example.com", "carol-password").await;
    let carol = app.api_login("carol@example.com", "carol-password").await;
    let res = app
        .http
        .get(app.url(&format!("/api/v1/users/?organization_id={org_id}")))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("no access to organization")
    );
    let res = app
        .http
        .get(app.url(&format!("/api/v1/organizations/{org_id}")))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // And cannot create users (not an admin).
    let res = app
        .http
        .post(app.url("/api/v1/users/"))
        .bearer_auth(&carol)
        .json(&json!({"email": "x@example.com", "name": "X", "password": "long-enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The last owner cannot leave.
    let alice_id = alice["id"].as_str().unwrap();
    let res = app
        .http
        .delete(app.url(&format!(
            "/api/v1/organizations/{org_id}/members/{alice_id}"
        )))
        .bearer_auth(&alice_token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn oauth_tokens_are_limited_to_their_scopes_with_a_proper_challenge() {
    let app = spawn().await;
    let c = app.seed_client().await;
    let t = app.tokens(&c, "profile email").await;
    let at = t["access_token"].as_str().unwrap();
    let res = app
        .http
        .get(app.url("/api/v1/users/"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let challenge = res.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(challenge.contains(r#"scope="users:read""#), "{challenge}");
    let res = app
        .http
        .get(app.url("/api/v1/organizations/"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("organizations")
    );
    // userinfo reveals only what the scopes allow.
    let t = app.tokens(&c, "profile").await;
    let info: Value = app
        .http
        .get(format!("{}/userinfo", app.issuer))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info.get("email").is_none());
    assert!(info.get("name").is_some());
    // An admin's token from an OAuth client has no admin powers.
    let res = app
        .http
        .get(app.url("/api/v1/oauth/clients"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn users_can_be_managed_by_admins() {
    let app = spawn().await;
    let u = app.create_user("dave@example.com", "dave-password").await;
    let id = u["id"].as_str().unwrap();
    let t = &app.admin_token;
    let res = app
        .http
        .post(app.url("/api/v1/users/"))
        .bearer_auth(t)
        .json(&json!({"email": "DAVE@example.com", "name": "Dup", "password": "long-enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(t)
        .json(&json!({"name": "David"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["user"]["name"], "David");
    let res = app
        .http
        .get(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let dave = app.api_login("dave@example.com", "dave-password").await;
    let res = app
        .http
        .delete(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Dave's token dies with his account.
    let res = app
        .http
        .get(app.url("/api/v1/organizations/"))
        .bearer_auth(&dave)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .http
        .get(app.url(&format!("/api/v1/users/{id}")))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn credentials_change_only_with_the_current_password_and_a_first_party_token() {
    let app = spawn().await;
    let u = app.create_user("frank@example.com", "frank-password").await;
    let id = u["id"].as_str().unwrap();
    let frank = app.api_login("frank@example.com", "frank-password").await;
    let url = app.url(&format!("/api/v1/users/{id}"));
    // Frank has approved an app and has a browser session.
    let app_client = app.seed_client().await;
    let b = browser();
    let p = pkce();
    let redirect = app
        .authorize_via_pages(
            &b,
            &app.authorize_url(&app_client.id, &p, "profile", "s"),
            "frank@example.com",
            "frank-password",
        )
        .await;
    let frank_tokens: Value = app
        .exchange(&app_client, &query(&redirect, "code").unwrap(), &p)
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&frank)
        .json(&json!({"password": "new-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&frank)
        .json(&json!({"password": "new-password-1", "current_password": "wrong-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&frank)
        .json(&json!({"password": "new-password-1", "current_password": "frank-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    app.api_login("frank@example.com", "new-password-1").await;
    // The change ended what the old password had opened.
    let res = app
        .refresh(&app_client, frank_tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = b
        .get(app.authorize_url(&app_client.id, &pkce(), "profile", "s"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the browser session ended: sign-in page again"
    );
    assert!(res.text().await.unwrap().contains("/api/v1/oauth/login"));
    // A third-party app holding users:write cannot take the admin's account over.
    let c = app.register(true, &["users:write", "users:read"]).await;
    let t = app.tokens(&c, "users:write").await;
    let admin_id = app
        .http
        .get(app.url("/api/v1/users/"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == ADMIN_EMAIL)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .http
        .patch(app.url(&format!("/api/v1/users/{admin_id}")))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .json(&json!({"email": "attacker@example.com", "current_password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_org_admin_cannot_demote_an_owner_and_logout_ends_an_api_token() {
    let app = spawn().await;
    let owner = app.create_user("owner@example.com", "owner-password").await;
    app.create_user("orgadmin@example.com", "orgadmin-password")
        .await;
    let admin_user = app
        .http
        .get(app.url("/api/v1/users/"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "orgadmin@example.com")
        .unwrap()
        .clone();
    let owner_token = app.api_login("owner@example.com", "owner-password").await;
    let org: Value = app
        .http
        .post(app.url("/api/v1/organizations/"))
        .bearer_auth(&owner_token)
        .json(&json!({"name": "Org"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org_id = org["organization"]["id"].as_str().unwrap();
    let members = app.url(&format!("/api/v1/organizations/{org_id}/members"));
    app.http
        .post(&members)
        .bearer_auth(&owner_token)
        .json(&json!({"user_id": admin_user["id"], "role": "admin"}))
        .send()
        .await
        .unwrap();
    let orgadmin = app
        .api_login("orgadmin@example.com", "orgadmin-password")
        .await;
    accept(&app, &orgadmin, org_id).await;
    // A second owner exists, so only the rights rule stops the demotion.
    let second = app
        .create_user("owner2@example.com", "owner2-password")
        .await;
    app.http
        .post(&members)
        .bearer_auth(&owner_token)
        .json(&json!({"user_id": second["id"], "role": "owner"}))
        .send()
        .await
        .unwrap();
    let second_token = app.api_login("owner2@example.com", "owner2-password").await;
    accept(&app, &second_token, org_id).await;
    let res = app
        .http
        .post(&members)
        .bearer_auth(&orgadmin)
        .json(&json!({"user_id": owner["id"], "role": "member"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    let res = app
        .http
        .post(app.url("/api/v1/auth/logout"))
        .bearer_auth(&orgadmin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let res = app
        .http
        .get(app.url("/api/v1/organizations/"))
        .bearer_auth(&orgadmin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_methods_are_405_or_404_never_500() {
    let app = spawn().await;
    for (m, p) in [
        ("DELETE", "/api/v1/users/"),
        ("PUT", "/api/v1/oauth/token"),
        ("GET", "/api/v1/oauth/token"),
        ("PATCH", "/api/v1/oauth/authorize"),
    ] {
        let res = app
            .http
            .request(m.parse().unwrap(), app.url(p))
            .send()
            .await
            .unwrap();
        assert!(
            matches!(res.status().as_u16(), 404 | 405),
            "{m} {p}: {}",
            res.status()
        );
    }
}

#[tokio::test]
async fn changing_an_email_unverifies_it_unless_an_admin_vouches() {
    let app = spawn().await;
    let u = app.create_user("gina@example.com", "gina-password").await;
    assert_eq!(u["email_verified"], true);
    let id = u["id"].as_str().unwrap();
    let url = app.url(&format!("/api/v1/users/{id}"));
    let gina = app.api_login("gina@example.com", "gina-password").await;
    // Gina changes her own address: nobody has proven she reads it.
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&gina)
        .json(&json!({"email": "gina@elsewhere.example", "current_password": "gina-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email_verified"], false);
    // She cannot vouch for herself…
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&gina)
        .json(&json!({"email_verified": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // …nor does an admin's change of address keep the old verification…
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&app.admin_token)
        .json(&json!({"email_verified": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["user"]["email_verified"],
        true
    );
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&app.admin_token)
        .json(&json!({"email": "gina@third.example"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["user"]["email_verified"],
        false
    );
    // …unless the admin vouches for the new one in the same change.
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&app.admin_token)
        .json(&json!({"email": "gina@fourth.example", "email_verified": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["user"]["email_verified"],
        true
    );
}

#[tokio::test]
async fn look_alike_emails_are_one_account_or_refused() {
    let app = spawn().await;
    app.create_user("henry@example.com", "henry-password").await;
    // Full-width forms are the address they imitate: a conflict, not a twin.
    let res = app
        .http
        .post(app.url("/api/v1/users/"))
        .bearer_auth(&app.admin_token)
        .json(&json!({"email": "ｈｅｎｒｙ@ｅｘａｍｐｌｅ.ｃｏｍ", "name": "Twin", "password": "twin-password-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CONFLICT);
    // And Henry can sign in typing them.
    app.api_login("ＨＥＮＲＹ@example.com", "henry-password")
        .await;
    for sneaky in [
        "hen\u{200b}ry@example.com",
        "henry\u{200d}@example.com",
        "\u{202e}henry@example.com",
        "henry@exa\u{00ad}mple.com",
        "henry\u{3164}@example.com",
    ] {
        let res = app
            .http
            .post(app.url("/api/v1/users/"))
            .bearer_auth(&app.admin_token)
            .json(&json!({"email": sneaky, "name": "Twin", "password": "twin-password-1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{sneaky:?}");
    }
}

#[tokio::test]
async fn common_passwords_are_refused_wherever_a_password_is_set() {
    let app = spawn().await;
    for common in ["password", "12345678", "Password1", "qwertyuiop"] {
        let res = app
            .http
            .post(app.url("/api/v1/users/"))
            .bearer_auth(&app.admin_token)
            .json(&json!({"email": "ivy@example.com", "name": "Ivy", "password": common}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{common}");
        assert!(res.text().await.unwrap().contains("commonly used"));
    }
    let u = app.create_user("ivy@example.com", "ivy-password-9").await;
    let ivy = app.api_login("ivy@example.com", "ivy-password-9").await;
    let url = app.url(&format!("/api/v1/users/{}", u["id"].as_str().unwrap()));
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&ivy)
        .json(&json!({"password": "iloveyou", "current_password": "ivy-password-9"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = app
        .http
        .patch(&url)
        .bearer_auth(&app.admin_token)
        .json(&json!({"password": "letmein1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // The first admin's configured password obeys the same list.
    let mut cfg = config();
    cfg.admin_email = "root@example.com".into();
    cfg.admin_password = Some("changeme".into());
    assert!(gatehouse_server::Application::build(cfg).await.is_err());
}
